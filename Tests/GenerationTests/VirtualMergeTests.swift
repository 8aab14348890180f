import XCTest
import TestSupport
import Corpus
import HDF5
@testable import Generation

/// `corpus merge --virtual`: an HDF5 virtual-dataset file over the shards reads (from Swift and
/// from h5py, in another working directory) exactly like the copied merge.
final class VirtualMergeTests: XCTestCase {
    func testVirtualMergeReadsLikeTheCopiedMerge() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let recipe = try Recipe.parse(CorpusGenerationTests.recipeText, file: "test.yaml")
        var shards: [String] = []
        for i in [2, 0, 1] {
            let p = dir.appendingPathComponent("shards/s\(i).h5").path
            var j = CorpusJob(recipe: recipe, model: CorpusGenerationTests.model, count: 5, output: p, seed: 3)
            j.headlabVersion = "test"; j.shard = (i, 3)
            try j.run()
            shards.append(p)
        }
        let copied = dir.appendingPathComponent("copied.h5").path, virtual = dir.appendingPathComponent("virtual.h5").path
        try CorpusMerge.merge(shards: shards, output: copied)
        try CorpusMerge.merge(shards: shards, output: virtual, virtual: true)
        // Nothing copied: the virtual file is much smaller than the copy.
        let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as! NSNumber).intValue }
        XCTAssertLessThan(try size(virtual) * 4, try size(copied))

        let a = try CorpusReader(path: copied), b = try CorpusReader(path: virtual)
        defer { a.close(); b.close() }
        XCTAssertEqual(a.header, b.header)
        XCTAssertEqual(b.completeRows, [Bool](repeating: true, count: 5))
        XCTAssertTrue(try b.file.isVirtual("rgb"))
        XCTAssertFalse(try a.file.isVirtual("rgb"))
        for name in CorpusSchema.imageChannels.map(\.name) + ["landmarks_2d", "intrinsics", "identity", "index", "complete"] {
            let da = try a.dataset(name), db = try b.dataset(name)
            XCTAssertEqual(da.shape, db.shape, name)
            for row in 0..<5 { XCTAssertEqual(try da.readRowBytes(row), try db.readRowBytes(row), "\(name) row \(row)") }
        }
        XCTAssertEqual(b.verify(), [])

        guard let python = findPythonWithH5py() else { throw XCTSkip("python3 with h5py not available") }
        let script = """
        import sys, numpy as np, h5py
        c, v = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
        assert v['rgb'].is_virtual and not c['rgb'].is_virtual
        assert v.attrs['rows'] == 5 and v.attrs['first_index'] == 0
        for k in c.keys():
            a, b = c[k][()], v[k][()]
            assert a.dtype == b.dtype and a.shape == b.shape, k
            assert (a == b).all() if a.dtype.kind != 'f' else np.array_equal(a, b, equal_nan=True), k
        assert sorted(s.file_name for s in v['rgb'].virtual_sources()) == ['shards/s0.h5', 'shards/s1.h5', 'shards/s2.h5']
        print('ok')
        """
        let out = try runPython(python, script, args: [copied, virtual])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }
}
