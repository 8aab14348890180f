import XCTest
import TestSupport
@testable import HDF5

final class HDF5Tests: XCTestCase {
    func testRoundTripDatasetsStringsAndAttributes() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("a.h5").path
        let values: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }
        try HDF5File.writeAtomically(path: path) { f in
            try f.write("x", values, shape: [2, 3, 4], gzip: 1)
            try f.write("ids", [Int32(-1), 7, 9], shape: [3])
            try f.writeStrings("names", ["jawOpen", "éyes", ""])
            try f.setAttribute("version", Int32(3))
            try f.setAttribute("recipe", "seed: 1\nname: ü")
            let g = try f.createGroup("group")
            try g.write("y", [UInt8](repeating: 255, count: 5), shape: [5])
        }
        let f = try HDF5File(path: path, mode: .readOnly)
        XCTAssertEqual(try f.read("x", as: Float.self).values, values)
        XCTAssertEqual(try f.shape("x"), [2, 3, 4])
        XCTAssertEqual(try f.read("x", as: Double.self).values.map { Float($0) }, values)
        XCTAssertEqual(try f.read("ids", as: Int32.self).values, [-1, 7, 9])
        XCTAssertEqual(try f.readStrings("names"), ["jawOpen", "éyes", ""])
        XCTAssertEqual(try f.attribute("version", as: Int32.self), [3])
        XCTAssertEqual(try f.stringAttribute("recipe"), "seed: 1\nname: ü")
        XCTAssertEqual(try f.openGroup("group").read("y", as: UInt8.self).values, [255, 255, 255, 255, 255])
        XCTAssertEqual(f.childNames(), ["group", "ids", "names", "x"])
        XCTAssertThrowsError(try f.read("x", as: Float.self, expectShape: [2, 3])) { e in
            XCTAssertTrue("\(e)".contains("/x"), "\(e)")
        }
        XCTAssertThrowsError(try f.read("nope", as: Float.self)) { e in XCTAssertTrue("\(e)".contains("missing dataset")) }
        XCTAssertFalse(f.exists("a/b/c"))
    }

    func testTruncatedAndForeignFilesAreErrorsNotCrashes() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("t.h5").path
        try HDF5File.writeAtomically(path: path) { try $0.write("x", [Float](repeating: 1, count: 10_000), shape: [10_000]) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try { let f = try HDF5File(path: path, mode: .readOnly); _ = try f.read("x", as: Float.self) }())
        let text = dir.appendingPathComponent("text.h5").path
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HDF5File(path: text, mode: .readOnly)) { e in XCTAssertTrue("\(e)".contains("not an HDF5 file")) }
    }

    func testFailedAtomicWriteLeavesNothing() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("never.h5").path
        struct Boom: Error {}
        XCTAssertThrowsError(try HDF5File.writeAtomically(path: path) { f in
            try f.write("x", [Float(1)], shape: [1]); throw Boom()
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testH5pyReadsWhatWeWrite() throws {
        guard let python = findPythonWithH5py() else { throw XCTSkip("python3 with h5py not available") }
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("py.h5").path
        try HDF5File.writeAtomically(path: path) { f in
            try f.write("x", [Float(1.5), -2, 3.25, 4], shape: [2, 2], chunks: [1, 2], gzip: 1)
            try f.writeStrings("names", ["a", "bc"])
            try f.setAttribute("format", "test")
        }
        let out = try runPython(python, """
        import h5py, sys
        f = h5py.File(sys.argv[1], 'r')
        assert f['x'].dtype == 'float32' and f['x'].shape == (2, 2), f['x']
        assert f['x'][:].tolist() == [[1.5, -2.0], [3.25, 4.0]]
        assert [s for s in f['names'].asstr()[:]] == ['a', 'bc']
        assert f.attrs['format'] == 'test'
        print('ok')
        """, args: [path])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }
}
