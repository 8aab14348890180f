import Foundation
import Geometry
import TestSupport
import XCTest
@testable import Pickle

final class PickleTests: XCTestCase {
    func fixture(_ name: String) -> String { TestPaths.fixture("pickle/" + name) }

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("values_expected.json")))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Two's complement little-endian bytes of a decimal (test helper, via the VM's own parser).
    func bigBytes(_ decimal: String) -> PickleValue { Machine.decimal(decimal)! }

    // MARK: The same object at protocols 0, 2, 4, 5

    func checkValues(_ file: String) throws {
        let root = try PickleField.load(fixture(file))
        let v = root.value
        let exp = try expected()
        XCTAssertEqual(v["none"], PickleValue.none, file)
        XCTAssertEqual(v["true"], .bool(true), file)
        XCTAssertEqual(v["false"], .bool(false), file)
        XCTAssertEqual(v["small"], .int(7), file)
        XCTAssertEqual(v["negative"], .int(-300), file)
        XCTAssertEqual(v["int32"], .int(-2_000_000_000), file)
        XCTAssertEqual(v["int64"], .int(1 << 40 + 3), file)
        XCTAssertEqual(v["big"], bigBytes(exp["big"] as! String), file)
        XCTAssertEqual(v["bigneg"], bigBytes(exp["bigneg"] as! String), file)
        if case let .bigInt(b)? = v["big"] { XCTAssertEqual(b.first, 5, file) } else { XCTFail("big is not a bigInt: \(String(describing: v["big"]))") }
        XCTAssertEqual(v["float"], .float(3.25), file)
        XCTAssertEqual(v["text"], .string(exp["text"] as! String), file)
        XCTAssertEqual(v["bytes"], .bytes((exp["bytes"] as! [Int]).map { UInt8($0) }), file)
        XCTAssertEqual(v["list"], .list([.int(1), .string("two"), .float(3), .list([.int(4)])]), file)
        XCTAssertEqual(v["tuple"], .tuple([.int(1), .int(2)]), file)
        XCTAssertEqual(v["tuple3"], .tuple([.int(1), .int(2), .int(3)]), file)
        XCTAssertEqual(v["empty_tuple"], .tuple([]), file)
        XCTAssertEqual(v["nested"], .dict([(key: .string("a"), value: .dict([(key: .string("b"), value: .list([.int(1), .dict([(key: .string("c"), value: .none)])]))])),
                                          (key: .int(5), value: .string("int key"))]), file)
        XCTAssertEqual(v["set"], .set([.int(42)]), file)
        XCTAssertEqual(v["frozenset"], .set([.int(9)]), file)
        XCTAssertEqual(v["shared1"], .list([.int(1), .int(2), .int(3)]), file)
        XCTAssertEqual(v["shared2"], v["shared1"], file)
        XCTAssertEqual(root.keys.first, "none")   // OrderedDict order kept

        let f32 = try root.key("f32").floatArray()
        XCTAssertEqual(f32.shape, [2, 3], file)
        XCTAssertEqual(f32.values, (exp["f32"] as! [Double]).map { Float($0) }, file)
        XCTAssertEqual(v["f32"]?.ndarray?.dtype, NumpyDType(kind: .float, itemSize: 4), file)
        XCTAssertEqual(try root.key("i64").int64Array().values, [-1, 0, 5, 1 << 40], file)
        XCTAssertThrowsError(try root.key("i64").int32Array(), file)   // 2^40 does not fit
        XCTAssertEqual(try root.key("u8").int32Array().values, [0, 7, 255], file)
        XCTAssertEqual(try root.key("bool").int32Array().values, [1, 0, 1], file)
        XCTAssertEqual(v["bool"]?.ndarray?.dtype.kind, .bool, file)
        let be = try root.key("big_endian").doubleArray()
        XCTAssertEqual(v["big_endian"]?.ndarray?.dtype.bigEndian, true, file)
        XCTAssertEqual(be.values, exp["big_endian"] as! [Double], file)
        let fo = try root.key("fortran").doubleArray()
        XCTAssertEqual(v["fortran"]?.ndarray?.fortranOrder, true, file)
        XCTAssertEqual(fo.shape, [2, 3], file)
        XCTAssertEqual(fo.values, exp["fortran"] as! [Double], file)
        XCTAssertEqual(try root.key("i16").int32Array().values, [-3, 4], file)
        XCTAssertEqual(try root.key("i16").int32Array().shape, [1, 2], file)
        XCTAssertEqual(v["scalar_f8"]?.doubleValue, 2.5, file)
        XCTAssertEqual(v["scalar_i4"]?.intValue, -9, file)
        XCTAssertEqual(try root.key("scalar_f8").doubleArray().shape, [], file)
        let csr = try root.key("csr").sparse()
        XCTAssertEqual(csr.format, .csr, file)
        XCTAssertEqual(csr.dense(), [0, 2, 0, 3, 0, 4], file)
    }

    func testProtocol0() throws { try checkValues("values_p0.pkl") }
    func testProtocol2() throws { try checkValues("values_p2.pkl") }
    func testProtocol4() throws { try checkValues("values_p4.pkl") }
    func testProtocol5() throws { try checkValues("values_p5.pkl") }

    // MARK: Python 2 style (what FLAME's files are)

    func checkPython2(_ file: String) throws {
        let root = try PickleField.load(fixture(file))
        XCTAssertEqual(try root.key("name").string(), "py2")
        if case .bytes? = root.value["name"] {} else { XCTFail("Python 2 str should stay bytes") }
        let a = try root.key("a").doubleArray()
        XCTAssertEqual(a.shape, [3, 4])
        XCTAssertEqual(a.values, (0..<12).map(Double.init))
        let be = try root.key("be").int32Array()
        XCTAssertEqual(root.value["be"]?.ndarray?.dtype.bigEndian, true)
        XCTAssertEqual(be.values, [1, -2, 3, 4])
        // chumpy Ch: NEWOBJ(chumpy.ch.Ch) (or copy_reg._reconstructor at protocol 0) + BUILD(dict with x).
        guard case let .object(ch)? = root.value["ch"] else { return XCTFail("ch is not an object") }
        XCTAssertTrue(ch.isChumpy)
        XCTAssertEqual(ch.qualifiedName, "chumpy.ch.Ch")
        XCTAssertEqual(ch.state?["_dirty_vars"], .set([]))
        let x = try root.key("ch").floatArray()
        XCTAssertEqual(x.shape, [3, 2])
        XCTAssertEqual(x.values, [0, 0.5, 1, 1.5, 2, 2.5])
        XCTAssertEqual(root.value["ch"]?.ndarray?.fortranOrder, true)
        // scipy.sparse.csc.csc_matrix
        let m = try root.key("csc").sparse()
        XCTAssertEqual(m.format, .csc)
        XCTAssertEqual([m.rows, m.columns], [2, 3])
        XCTAssertEqual(m.dense(), [0, 0.5, 0, 0.25, 0, 1])
        XCTAssertEqual(try root.key("csc").doubleArray().shape, [2, 3])
        XCTAssertEqual(try root.key("u4").int64Array().values, [4_294_967_295, 0, 1])
        XCTAssertEqual(try root.key("quote").string(), "it's \"quoted\"\n\\ \u{01}")
    }

    func testPython2Protocol2() throws { try checkPython2("py2_p2.pkl") }
    func testPython2Protocol0() throws { try checkPython2("py2_p0.pkl") }

    // MARK: Streams, persistent ids, raw data after the pickle

    func testStreamWithPersistentIDsAndRawBytes() throws {
        var u = try Unpickler(contentsOf: fixture("stream.bin"))
        var seen: [PickleValue] = []
        u.persistentLoad = { pid in seen.append(pid); return .string("loaded") }
        let magic = try u.load()
        XCTAssertEqual(magic, .bigInt([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]))
        XCTAssertEqual(try u.load(), .int(1001))
        XCTAssertEqual(try u.load(), .dict([(key: .string("weight"), value: .string("loaded"))]))
        XCTAssertEqual(seen, [.tuple([.string("storage"), .string("key0")])])
        XCTAssertEqual(try u.load(), .list([.string("key0")]))
        let n = try u.readBytes(8)
        XCTAssertEqual(Array(n), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(try u.readBytes(3)), [1, 2, 3])
        XCTAssertTrue(u.isAtEnd)
        XCTAssertThrowsError(try u.readBytes(1))

        // Without a callback, ids stay visible.
        var plain = try Unpickler(contentsOf: fixture("stream.bin"))
        _ = try plain.load(); _ = try plain.load()
        XCTAssertEqual(try plain.load()["weight"], .persistent(.tuple([.string("storage"), .string("key0")])))
    }

    // MARK: numpy files

    func testNpyAndNpz() throws {
        let f = try PickleField(NumpyFile.load(path: fixture("fortran.npy")), file: "fortran.npy").floatArray()
        XCTAssertEqual(f.shape, [2, 3])
        XCTAssertEqual(f.values, [0, 1, 2, 3, 4, 5])
        let obj = try NumpyFile.load(path: fixture("object_dict.npy")).item
        XCTAssertEqual(obj["s"], .string("v"))
        XCTAssertEqual(try obj["k"]?.int64Array().values, [1, 2])

        let stored = try NPZArchive(path: fixture("stored.npz"))
        XCTAssertEqual(stored.names, ["a", "b"])
        XCTAssertEqual(try stored.field("a").int32Array().values, [0, 1, 2, 3])
        XCTAssertEqual(try stored.field("b").doubleArray().values, [1, 0, 0, 1])
        XCTAssertThrowsError(try stored.array("nope")) { e in
            XCTAssertEqual(e as? PickleError, .missingKey(file: self.fixture("stored.npz"), path: "", key: "nope"))
        }

        let deflated = try NPZArchive(path: fixture("deflated.npz"))
        XCTAssertEqual(try deflated.field("a").int32Array().values, (0..<1000).map { Int32($0 % 7) })
        let b = try deflated.field("b").doubleArray()
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("deflated_b.json")))
        XCTAssertEqual(b.shape, [50, 3])
        // (JSON parsing may differ in the last bit, so compare at 1e-12.)
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [Double])
        XCTAssertEqual(b.values.count, expected.count)
        for (x, y) in zip(b.values, expected) { XCTAssertEqual(x, y, accuracy: 1e-12) }
    }

    // MARK: Errors

    func testTruncatedPicklesFailWithFileAndOffset() throws {
        let name = fixture("py2_p2.pkl")
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: name)))
        for cut in [1, 2, 10, full.count / 3, full.count / 2, full.count - 1] {
            XCTAssertThrowsError(try Unpickler.load(data: Array(full.prefix(cut)), name: "cut.pkl"), "cut at \(cut)") { e in
                guard let pe = e as? PickleError else { return XCTFail("\(e)") }
                XCTAssertEqual(pe.file, "cut.pkl")
                XCTAssertTrue(pe.description.contains("cut.pkl"))
                if case .truncated = pe {} else { XCTFail("cut at \(cut): \(pe)") }
            }
        }
        // A truncated file on disk names its path.
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("generic_model.pkl").path
        try Data(full.prefix(full.count / 2)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Unpickler.load(contentsOf: path)) { e in
            XCTAssertTrue("\(e)".contains(path), "\(e)")
            XCTAssertTrue("\(e)".contains("truncated"), "\(e)")
        }
    }

    func testForeignFiles() throws {
        XCTAssertThrowsError(try Unpickler.load(data: [], name: "empty")) { e in
            guard case .notAPickle? = e as? PickleError else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try Unpickler.load(contentsOf: fixture("stored.npz"))) { e in
            guard case let .notAPickle(file, reason)? = e as? PickleError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, self.fixture("stored.npz"))
            XCTAssertTrue(reason.contains("zip"))
        }
        XCTAssertThrowsError(try Unpickler.load(data: Array("v 1 2 3\nf 1 2 3\n".utf8), name: "mesh.obj")) { e in
            XCTAssertTrue("\(e)".hasPrefix("mesh.obj: byte 0"), "\(e)")
        }
        XCTAssertThrowsError(try Unpickler.load(data: [0x80, 0x09, 0x4e, 0x2e], name: "future.pkl")) { e in
            guard case .unsupported? = e as? PickleError else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try Unpickler.load(contentsOf: fixture("does_not_exist.pkl"))) { e in
            guard case .unreadable? = e as? PickleError else { return XCTFail("\(e)") }
        }
    }

    func testSpecificErrors() {
        func fails(_ bytes: [UInt8], _ check: (PickleError) -> Bool, line: UInt = #line) {
            XCTAssertThrowsError(try Unpickler.load(data: bytes, name: "t.pkl"), line: line) { e in
                guard let pe = e as? PickleError else { return XCTFail("\(e)", line: line) }
                XCTAssertTrue(check(pe), "\(pe)", line: line)
            }
        }
        // POP on an empty stack.
        fails([0x80, 0x02, 0x30, 0x2e]) { if case .stackUnderflow(_, 2, "POP") = $0 { return true }; return false }
        // STOP with nothing on the stack.
        fails([0x2e]) { if case .stackUnderflow(_, 0, "STOP") = $0 { return true }; return false }
        // Unknown opcode 0xff after PROTO.
        fails([0x80, 0x02, 0xff]) { if case .unknownOpcode(_, 2, 0xff) = $0 { return true }; return false }
        // BINGET of a memo slot never written.
        fails([0x80, 0x02, 0x68, 0x05, 0x2e]) { if case .malformed(_, 2, "BINGET", _) = $0 { return true }; return false }
        // BINSTRING claiming more bytes than there are.
        fails([0x54, 0xff, 0xff, 0x00, 0x00, 0x41]) { if case .truncated(_, 0, "BINSTRING") = $0 { return true }; return false }
        // Negative BINSTRING length.
        fails([0x54, 0xff, 0xff, 0xff, 0xff]) { if case .malformed(_, 0, "BINSTRING", _) = $0 { return true }; return false }
        // Extension codes are not supported.
        fails([0x80, 0x02, 0x82, 0x01, 0x2e]) { if case .unsupported(_, 2, "EXT1", _) = $0 { return true }; return false }
        // A numpy array whose data is shorter than its shape says.
        var bad = Array("\u{80}\u{02}cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\u{00}\u{85}U\u{01}b\u{87}R".unicodeScalars.map { UInt8($0.value) })
        bad += Array("(K\u{01}K\u{04}\u{85}cnumpy\ndtype\nU\u{02}f8K\u{00}K\u{01}\u{87}R(K\u{03}U\u{01}<NNNJ\u{ff}\u{ff}\u{ff}\u{ff}J\u{ff}\u{ff}\u{ff}\u{ff}K\u{00}tb\u{89}U\u{08}12345678tb.".unicodeScalars.map { UInt8($0.value) })
        fails(bad) { if case let .malformed(_, _, "REDUCE", reason) = $0 { return reason.contains("needs 32 bytes, has 8") }; return false }
    }

    func testAccessorErrorsNameFileAndKey() throws {
        let root = try PickleField.load(fixture("py2_p2.pkl"))
        XCTAssertThrowsError(try root.key("shapedirs")) { e in
            XCTAssertEqual(e as? PickleError, .missingKey(file: self.fixture("py2_p2.pkl"), path: "", key: "shapedirs"))
            XCTAssertTrue("\(e)".contains("shapedirs"))
        }
        XCTAssertThrowsError(try root.key("name").floatArray()) { e in
            guard case let .wrongType(_, path, _, got)? = e as? PickleError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, "name")
            XCTAssertEqual(got, "bytes")
        }
        XCTAssertThrowsError(try root.key("ch").key("nope")) { e in
            guard case let .missingKey(_, path, key)? = e as? PickleError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, "ch")
            XCTAssertEqual(key, "nope")
        }
    }

    func testInstAndObjOpcodes() throws {
        // Python 2 old-style instance at protocol 0: INST, then BUILD with a dict.
        let inst = try Unpickler.load(data: Array("(i__main__\nFoo\n(dp0\nS'a'\np1\nI1\nsb.".utf8), name: "inst.pkl")
        guard case let .object(o) = inst else { return XCTFail("\(inst)") }
        XCTAssertEqual(o.qualifiedName, "__main__.Foo")
        XCTAssertEqual(o.construction, .inst)
        XCTAssertEqual(o.args, [])
        XCTAssertEqual(o.state?["a"], .int(1))
        XCTAssertEqual(try PickleField(inst, file: "inst.pkl").key("a").int(), 1)
        // OBJ (protocol 1): class and arguments after a MARK.
        let obj = try Unpickler.load(data: Array("(c__main__\nFoo\nK\u{02}o.".utf8), name: "obj.pkl")
        guard case let .object(o2) = obj else { return XCTFail("\(obj)") }
        XCTAssertEqual(o2.args, [.int(2)])
        XCTAssertEqual(o2.construction, .inst)
        // REDUCE of an unknown callable keeps callable and arguments; DUP and POP_MARK work.
        let r = try Unpickler.load(data: Array("cmod\nfn\n(K".utf8) + [1, 0x4b, 2, 0x31, 0x4b, 3, 0x32, 0x86, 0x52, 0x2e], name: "r.pkl")
        XCTAssertEqual(r, .object(PickleObject(callable: .global(module: "mod", name: "fn"), args: [.int(3), .int(3)], construction: .reduce)))
    }

    func testNestedListsAsArrays() throws {
        let v = PickleValue.list([.list([.int(1), .float(2)]), .tuple([.bool(true), .int(-4)])])
        let a = try v.floatArray()
        XCTAssertEqual(a.shape, [2, 2])
        XCTAssertEqual(a.values, [1, 2, 1, -4])
        XCTAssertThrowsError(try PickleValue.list([.list([.int(1)]), .int(2)]).floatArray())
        XCTAssertEqual(try PickleValue.list([]).floatArray().shape, [0])
    }

    /// Random bytes and randomly damaged pickles must fail cleanly (or decode), never crash.
    func testRandomAndCorruptedInputsNeverCrash() throws {
        var rng = SplitMix64(seed: 7)
        var failures = 0
        for n in 0..<3000 {
            let bytes = (0..<(1 + n % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            do { _ = try Unpickler.load(data: bytes, name: "random") } catch { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 2900)
        for file in ["values_p0.pkl", "values_p2.pkl", "values_p4.pkl", "values_p5.pkl", "py2_p2.pkl", "py2_p0.pkl"] {
            let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(file))))
            for _ in 0..<300 {
                var b = good
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(b.count))
                    b[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                _ = try? Unpickler.load(data: b, name: file)
                _ = try? NumpyFile.parse([0x93] + Array("NUMPY".utf8) + b, name: file)
            }
        }
        for file in ["stored.npz", "deflated.npz"] {
            let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(file))))
            let dir = TestPaths.temporaryDirectory(self)
            for k in 0..<100 {
                var b = good
                let i = Int(rng.next() % UInt64(b.count))
                b[i] = UInt8(truncatingIfNeeded: rng.next())
                let path = dir.appendingPathComponent("\(k).npz").path
                try Data(b).write(to: URL(fileURLWithPath: path))
                if let z = try? NPZArchive(path: path) { for name in z.names { _ = try? z.array(name) } }
            }
        }
    }

    func testDTypeParsing() {
        XCTAssertEqual(NumpyDType("<f4"), NumpyDType(kind: .float, itemSize: 4))
        XCTAssertEqual(NumpyDType(">i8"), NumpyDType(kind: .int, itemSize: 8, bigEndian: true))
        XCTAssertEqual(NumpyDType("|b1"), NumpyDType(kind: .bool, itemSize: 1))
        XCTAssertEqual(NumpyDType("?"), NumpyDType(kind: .bool, itemSize: 1))
        XCTAssertEqual(NumpyDType("d"), NumpyDType(kind: .float, itemSize: 8))
        XCTAssertEqual(NumpyDType("u1")?.description, "|u1")
        XCTAssertEqual(NumpyDType(">f8")?.description, ">f8")
        XCTAssertNil(NumpyDType("zz"))
        XCTAssertNil(NumpyDType(""))
        // Half floats convert exactly.
        XCTAssertEqual(Float(float16Bits: 0x3c00), 1)
        XCTAssertEqual(Float(float16Bits: 0xc000), -2)
        XCTAssertEqual(Float(float16Bits: 0x0001), 0x1p-24)
    }
}
