import Foundation
import XCTest
import HeadModels

/// Paths the tests need, found from this file's location so tests run from any directory.
public enum TestPaths {
    /// The repository root.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Committed fixtures (small files written by the scripts in the same folder).
    public static func fixture(_ name: String) -> String {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(name).path
    }

    /// `../shared/data` beside the checkout: present on developer machines and in CI, absent for users.
    public static let sharedData: URL = root.deletingLastPathComponent().appendingPathComponent("shared/data")

    /// The ICT-FaceKit folder, or an `XCTSkip` saying why the test cannot run.
    public static func ictFaceKit() throws -> String {
        let p = sharedData.appendingPathComponent("ict-facekit/FaceXModel").path
        guard FileManager.default.fileExists(atPath: p + "/generic_neutral_mesh.obj") else {
            throw XCTSkip("ICT-FaceKit not found at \(p) (../shared/data is not beside this checkout)")
        }
        return p
    }

    /// The extracted MakeHuman assets that `make setup` puts in Assets/makehuman.
    public static func makeHumanAssets() throws -> String {
        let p = root.appendingPathComponent("Assets/makehuman").path
        guard FileManager.default.fileExists(atPath: p) else {
            throw XCTSkip("MakeHuman assets not found at \(p): run `make setup`")
        }
        return p
    }

    /// A fresh temporary directory, removed when the test ends.
    public static func temporaryDirectory(_ test: XCTestCase) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headlab-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// Asserts two float arrays agree to `tolerance` (absolute), reporting the worst element.
public func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ message: String = "",
                        file: StaticString = #filePath, line: UInt = #line) {
    guard a.count == b.count else {
        XCTFail("\(message): counts differ \(a.count) vs \(b.count)", file: file, line: line); return
    }
    var worst: Float = 0, at = 0
    for i in a.indices {
        let d = abs(a[i] - b[i])
        if !(d <= worst) { worst = d; at = i }
    }
    if !(worst <= tolerance) {
        XCTFail("\(message): max |a-b| = \(worst) at \(at) (\(a[at]) vs \(b[at])) > \(tolerance)", file: file, line: line)
    }
}

/// What the tests that run the `headlab` executable share: the debug binary (skips when it is not
/// built), a fresh temporary directory and a small sphere model file in it.
public struct CommandLineFixture {
    public let binary: String
    public let directory: URL
    public let modelPath: String

    public init(_ test: XCTestCase) throws {
        binary = TestPaths.root.appendingPathComponent(".build/debug/headlab").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no debug headlab binary at \(binary)") }
        directory = TestPaths.temporaryDirectory(test)
        modelPath = directory.appendingPathComponent("sphere.h5").path
        try HeadModelFile.write(TestModels.sphere(radius: 0.09, rings: 24, segments: 48), to: modelPath)
    }
}
