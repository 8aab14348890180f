import XCTest
import Foundation
import TestSupport
import Geometry
@testable import NNCore

final class CheckpointTests: XCTestCase {
    func sampleTensors() -> [(String, Tensor<Float>)] {
        [("b.weight", Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, 1e-7, -1e30])),
         ("a.bias", Tensor(shape: [3], data: [0.25, 0.5, 0.75])),
         ("scalar", Tensor(shape: [], data: [42]))]
    }

    func testRoundTripWithMetadata() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("m.safetensors").path
        try SafeTensors.write(sampleTensors(), metadata: ["architecture": "test", "config": "{\"a\": [1, 2]}"], to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data section 8-byte aligned")
        let f = try SafeTensors(contentsOf: path)
        XCTAssertEqual(f.names, ["a.bias", "b.weight", "scalar"])
        XCTAssertEqual(f.metadata["config"], "{\"a\": [1, 2]}")
        for (name, t) in sampleTensors() { XCTAssertEqual(try f.tensor(name, as: Float.self), t, name) }
        // Double tensors are stored as F64 and read back exactly, also converted to Float.
        let d = Tensor<Double>(shape: [2], data: [1.0 / 3, -2])
        try SafeTensors.write([("d", d)], to: path)
        XCTAssertEqual(try SafeTensors(contentsOf: path).tensor("d", as: Double.self), d)
        XCTAssertEqual(try SafeTensors(contentsOf: path).entries["d"]?.dtype, "F64")
    }

    /// Our files read by the reference implementation (skipped without python3 + safetensors + numpy).
    func testPythonSafetensorsReadsOurFile() throws {
        guard (try? runPython("python3", "import safetensors, numpy")) != nil else {
            throw XCTSkip("python3 with safetensors and numpy not available")
        }
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("m.safetensors").path
        let p = Parameter<Float>("layer.weight", Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
        let opt = AdamW(parameters: [p])
        p.grad = Tensor(shape: [2, 2], data: [0.1, 0.2, 0.3, 0.4])
        try opt.step(learningRate: 0.1)
        try Checkpoint.save(parameters: [p], optimizer: opt, architecture: "unit", step: 1, config: "{\"k\": 1}", to: path)
        let code = """
        import sys, json
        from safetensors import safe_open
        for path in sys.argv[1:]:
            with safe_open(path, framework="numpy") as f:
                out = {k: [list(f.get_tensor(k).shape), float(f.get_tensor(k).sum())] for k in f.keys()}
                print(json.dumps({"meta": f.metadata(), "tensors": out}, sort_keys=True))
        """
        let lines = try runPython("python3", code, args: [path, Checkpoint.optimizerPath(path)]).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let model = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        let meta = model["meta"] as! [String: String]
        XCTAssertEqual(meta["architecture"], "unit")
        XCTAssertEqual(meta["step"], "1")
        XCTAssertEqual(meta["config"], "{\"k\": 1}")
        let tensors = model["tensors"] as! [String: [Any]]
        XCTAssertEqual(tensors["layer.weight"]?[0] as? [Int], [2, 2])
        XCTAssertEqual((tensors["layer.weight"]?[1] as? Double) ?? 0, Double(p.value.sum()), accuracy: 1e-5)
        let optimizer = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(Set((optimizer["tensors"] as! [String: Any]).keys), ["m.layer.weight", "v.layer.weight"])
        XCTAssertEqual((optimizer["meta"] as! [String: String])["adam_step"], "1")
    }

    func expectError(_ path: String, _ what: String, mentioning: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), what, file: file, line: line) { error in
            XCTAssertTrue(error is CheckpointError, "\(what): \(error)", file: file, line: line)
            for m in mentioning + [path] {
                XCTAssertTrue("\(error)".contains(m), "\(what): '\(error)' should mention \(m)", file: file, line: line)
            }
        }
    }

    func testBadInputThrowsNamedErrors() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let good = try SafeTensors.encode(sampleTensors(), metadata: ["step": "3"])
        func write(_ name: String, _ data: Data) -> String {
            let p = dir.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: p, contents: data)
            return p
        }

        let short = write("short.safetensors", good.prefix(5))
        expectError(short, "shorter than 8 bytes", mentioning: ["truncated"]) { _ = try SafeTensors(contentsOf: short) }

        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        let beyond = write("beyond.safetensors", huge)
        expectError(beyond, "header length beyond file", mentioning: ["header length 65535"]) { _ = try SafeTensors(contentsOf: beyond) }

        let cut = write("cut.safetensors", good.prefix(good.count - 6))
        expectError(cut, "data truncated", mentioning: ["truncated"]) { _ = try SafeTensors(contentsOf: cut) }

        var garbage = good
        garbage[8] = UInt8(ascii: "x")
        let bad = write("garbage.safetensors", garbage)
        expectError(bad, "garbage header", mentioning: ["header"]) { _ = try SafeTensors(contentsOf: bad) }

        let missingFile = dir.appendingPathComponent("nope.safetensors").path
        expectError(missingFile, "no file", mentioning: []) { _ = try SafeTensors(contentsOf: missingFile) }

        let ok = write("ok.safetensors", good)
        let f = try SafeTensors(contentsOf: ok)
        expectError(ok, "missing key", mentioning: ["'c.weight'", "missing"]) { let _: Tensor<Float> = try f.tensor("c.weight") }
        expectError(ok, "shape mismatch", mentioning: ["'b.weight'", "[3, 2]", "[2, 3]"]) {
            let _: Tensor<Float> = try f.tensor("b.weight", shape: [3, 2])
        }

        var nan = sampleTensors()
        nan[1].1.data[2] = .nan
        let nanPath = write("nan.safetensors", try SafeTensors.encode(nan, metadata: ["step": "1"]))
        expectError(nanPath, "NaN in file", mentioning: ["'a.bias'", "NaN"]) {
            let _: Tensor<Float> = try SafeTensors(contentsOf: nanPath).tensor("a.bias")
        }
        let refused = dir.appendingPathComponent("refused.safetensors").path
        expectError(refused, "refuse to write NaN", mentioning: ["'a.bias'"]) { try SafeTensors.write(nan, to: refused) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused))

        // Model-level load: nothing is assigned when any tensor is wrong.
        let w = Parameter<Float>("b.weight", Tensor(zeros: [2, 3])), b = Parameter<Float>("a.bias", Tensor(zeros: [4]))
        expectError(ok, "parameter shape mismatch", mentioning: ["'a.bias'"]) { try Checkpoint.load(into: [w, b], from: ok) }
        XCTAssertEqual(w.value, Tensor(zeros: [2, 3]), "no partial load")
        let opt = AdamW(parameters: [w])
        expectError(Checkpoint.optimizerPath(ok), "optimizer file missing", mentioning: []) {
            try Checkpoint.load(into: [w], optimizer: opt, from: ok)
        }
        XCTAssertThrowsError(try Checkpoint.load(into: [w], expectedArchitecture: "vit", from: ok))

        // Model and optimizer files from different steps (a crash between the two atomic writes).
        let p = Parameter<Float>("w", Tensor(shape: [2], data: [1, 2]))
        let adam = AdamW(parameters: [p])
        let model = dir.appendingPathComponent("model.safetensors").path
        try Checkpoint.save(parameters: [p], optimizer: adam, architecture: "a", step: 4, to: model)
        try SafeTensors.write([("w", p.value)], metadata: ["architecture": "a", "step": "5"], to: model)
        expectError(Checkpoint.optimizerPath(model), "steps differ", mentioning: ["step 4", "step 5"]) {
            try Checkpoint.load(into: [p], optimizer: adam, from: model)
        }
    }
}
