import XCTest
import TestSupport
import HeadModels
import Corpus
@testable import Generation

/// A full disk, simulated without root: `ulimit -f` (RLIMIT_FSIZE) in the child running
/// `headlab generate`, so growing the file fails with EFBIG (headlab ignores SIGXFSZ).
final class FullDiskTests: XCTestCase {
    func testFileSizeLimitIsAOneLineErrorAndFinishedSamplesResume() throws {
        let fixture = try CommandLineFixture(self)
        let binary = fixture.binary, dir = fixture.directory, modelPath = fixture.modelPath
        let recipePath = dir.appendingPathComponent("r.yaml").path
        try "image: {width: 64, height: 64, samples_per_pixel: 1}\ncamera_effects: {noise: [2, 4]}\noutput: {gzip: {rgb: 1, depth: 1}}\n"
            .write(toFile: recipePath, atomically: true, encoding: .utf8)
        func generate(_ out: String, limitKiB: Int? = nil, resume: Bool = false) throws -> (status: Int32, stderr: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            let args = ["generate", "--recipe", recipePath, "--model", modelPath, "--count", "12", "--seed", "5", "-o", out, "--no-preview"]
                + (resume ? ["--resume"] : [])
            // bash's `ulimit -f` counts 1024-byte blocks.
            p.arguments = ["-c", (limitKiB.map { "ulimit -f \($0); " } ?? "") + "exec \"$0\" \"$@\"", binary] + args
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice; p.standardError = err
            try p.run()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: e, as: UTF8.self))
        }
        let full = dir.appendingPathComponent("full.h5").path, cut = dir.appendingPathComponent("cut.h5").path
        XCTAssertEqual(try generate(full).status, 0)
        let size = (try FileManager.default.attributesOfItem(atPath: full)[.size] as! NSNumber).intValue

        // A limit about half-way: the empty file, the room one sample asks for, and 6 samples.
        let header = try CorpusReader(path: full).header
        let empty = dir.appendingPathComponent("empty.h5").path
        try CorpusWriter(path: empty, header: header, resume: false).close()
        let emptySize = (try FileManager.default.attributesOfItem(atPath: empty)[.size] as! NSNumber).intValue
        let perSample = (size - emptySize) / 12
        let limited = try generate(cut, limitKiB: (emptySize + CorpusWriter.sampleBytes(header) + 6 * perSample) / 1024)
        XCTAssertEqual(limited.status, 1, "exits with an error, not a signal")
        let errorLines = limited.stderr.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).filter { $0.hasPrefix("headlab: error:") }
        XCTAssertEqual(errorLines.count, 1, limited.stderr)
        let line = String(errorLines.first ?? "")
        XCTAssertTrue(line.contains(cut) && line.contains("File too large") && line.contains("--resume"), line)

        // The finished samples are intact, and --resume completes the file to the uninterrupted bytes.
        let reader = try CorpusReader(path: cut)
        let finished = reader.completeRows.filter { $0 }.count
        XCTAssertEqual(reader.verify(), [])
        reader.close()
        XCTAssertGreaterThan(finished, 0); XCTAssertLessThan(finished, 12)
        XCTAssertTrue(line.contains("the \(finished) finished samples are kept"), line)
        XCTAssertEqual(try generate(cut, resume: true).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cut)), try Data(contentsOf: URL(fileURLWithPath: full)))
    }
}
