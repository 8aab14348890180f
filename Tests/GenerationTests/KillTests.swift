import XCTest
import TestSupport
import HeadModels
import Corpus
@testable import Generation

/// Kills a real `headlab generate` process mid-run with SIGKILL, then checks the file verifies
/// and that `--resume` completes it to the bytes of an uninterrupted run.
final class KillAndResumeTests: XCTestCase {
    func testSigkillAtAnyMomentThenResume() throws {
        let fixture = try CommandLineFixture(self)
        let binary = fixture.binary, dir = fixture.directory, modelPath = fixture.modelPath
        let recipePath = dir.appendingPathComponent("r.yaml").path
        try "image: {width: 64, height: 64, samples_per_pixel: 2}\noutput: {gzip: {rgb: 1, depth: 2}}\n"
            .write(toFile: recipePath, atomically: true, encoding: .utf8)
        func generate(_ out: String, extra: [String] = []) -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["generate", "--recipe", recipePath, "--model", modelPath, "--count", "12", "--seed", "5", "-o", out, "--no-preview"] + extra
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            return p
        }
        let full = dir.appendingPathComponent("full.h5").path
        let p = generate(full)
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)

        for (attempt, delay) in [0.25, 0.7].enumerated() {
            let cut = dir.appendingPathComponent("cut\(attempt).h5").path
            let q = generate(cut)
            try q.run()
            Thread.sleep(forTimeInterval: delay)
            kill(q.processIdentifier, SIGKILL)
            q.waitUntilExit()
            guard FileManager.default.fileExists(atPath: cut) else { continue }  // killed before the file existed
            if let reader = try? CorpusReader(path: cut) {
                XCTAssertEqual(reader.verify(), [], "finished rows of a killed run verify")
                reader.close()
            }
            let r = generate(cut, extra: ["--resume"])
            try r.run(); r.waitUntilExit()
            XCTAssertEqual(r.terminationStatus, 0)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cut)), try Data(contentsOf: URL(fileURLWithPath: full)),
                           "resumed after a kill at \(delay) s")
        }
    }
}
