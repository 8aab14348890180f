import XCTest
import TestSupport
import Geometry
import HeadModels
import Corpus
import Rendering
@testable import Generation

/// End-to-end corpus tests on an analytic sphere head (fast, needs no downloaded data).
final class CorpusGenerationTests: XCTestCase {
    static let recipeText = """
    name: test
    image: {width: 40, height: 32, samples_per_pixel: 2}
    rig: {kind: in_the_wild, fill: [0.5, 0.7]}
    output: {gzip: {rgb: 1, segmentation: 1}}
    """
    static let model = TestModels.sphere(radius: 0.09, centre: SIMD3(0, 0.02, 0), rings: 16, segments: 32)

    func job(_ out: String, count: Int = 5, seed: UInt64 = 3) throws -> CorpusJob {
        var j = CorpusJob(recipe: try Recipe.parse(Self.recipeText, file: "test.yaml"), model: Self.model, count: count, output: out, seed: seed)
        j.headlabVersion = "test"
        return j
    }

    func testSpecsDependOnlyOnSeedAndIndex() throws {
        let r = try Recipe.parse(Self.recipeText, file: "t")
        let a = try Generator(recipe: r, model: Self.model, seed: 9), b = try Generator(recipe: r, model: Self.model, seed: 9)
        let forward = (0..<6).map { a.spec($0) }, backward = (0..<6).reversed().map { b.spec($0) }.reversed()
        for (x, y) in zip(forward, backward) {
            XCTAssertEqual(x.parameters, y.parameters); XCTAssertEqual(x.camera, y.camera)
            XCTAssertEqual(x.renderSeed, y.renderSeed); XCTAssertEqual(x.lighting, y.lighting)
        }
        XCTAssertNotEqual(a.spec(0).camera, a.spec(1).camera)
        let c = try Generator(recipe: r, model: Self.model, seed: 10)
        XCTAssertNotEqual(c.spec(0).parameters.global, a.spec(0).parameters.global)
    }

    func testThreadsAndShardsGiveTheSameCorpus() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let p1 = dir.appendingPathComponent("one.h5").path, p2 = dir.appendingPathComponent("two.h5").path
        var j1 = try job(p1); j1.threads = 1
        try j1.run()
        var j2 = try job(p2); j2.threads = 2
        try j2.run()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p1)), try Data(contentsOf: URL(fileURLWithPath: p2)), "bit-identical across thread counts")

        var shards: [String] = []
        for i in [1, 0, 2] {  // order of running shards does not matter
            let p = dir.appendingPathComponent("shard\(i).h5").path
            var j = try job(p); j.shard = (i, 3)
            try j.run()
            shards.append(p)
        }
        let merged = dir.appendingPathComponent("merged.h5").path
        try CorpusMerge.merge(shards: shards, output: merged)
        let a = try CorpusReader(path: p1), b = try CorpusReader(path: merged)
        defer { a.close(); b.close() }
        XCTAssertEqual(a.header, b.header)
        for name in CorpusSchema.imageChannels.map(\.name) + ["landmarks_2d", "intrinsics", "extrinsics", "identity", "expression", "index", "complete"] {
            let da = try a.dataset(name), db = try b.dataset(name)
            for row in 0..<5 { XCTAssertEqual(try da.readRowBytes(row), try db.readRowBytes(row), "\(name) row \(row)") }
        }
        // Shards of different corpora do not merge.
        let other = dir.appendingPathComponent("other.h5").path
        var jo = try job(other, seed: 4); jo.shard = (0, 3)
        try jo.run()
        XCTAssertThrowsError(try CorpusMerge.merge(shards: [other] + shards.dropFirst(), output: dir.appendingPathComponent("bad.h5").path))
        XCTAssertThrowsError(try CorpusMerge.merge(shards: Array(shards.prefix(2)), output: dir.appendingPathComponent("bad.h5").path)) { e in
            XCTAssertTrue("\(e)".contains("missing") || "\(e)".contains("cover"), "\(e)")
        }
    }

    func testInterruptedFileVerifiesAndResumesToTheSameBytes() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let full = dir.appendingPathComponent("full.h5").path, cut = dir.appendingPathComponent("cut.h5").path
        try job(full).run()
        // An interrupted run: rows 0 and 1 finished, row 2 written but not flagged complete.
        do {
            let j = try job(cut)
            let header = try CorpusReader(path: full).header
            let writer = try CorpusWriter(path: cut, header: header, resume: false)
            let g = try Generator(recipe: j.recipe, model: Self.model, seed: j.seed)
            let film = Film(width: 40, height: 32)
            for k in 0..<3 {
                let s = g.spec(k)
                let lm = try g.render(s, into: film)
                try writer.write(CorpusSample(index: k, subject: s.subject, view: s.view, film: film, landmarks: lm, camera: s.camera, parameters: s.parameters))
            }
            try writer.datasets_forTesting("complete").writeRow(2, [UInt8(0)])
            writer.close()
        }
        let partial = try CorpusReader(path: cut)
        XCTAssertEqual(partial.completeRows, [true, true, false, false, false])
        XCTAssertEqual(partial.verify(), [])
        partial.close()
        XCTAssertThrowsError(try job(cut).run()) { e in XCTAssertTrue("\(e)".contains("--resume"), "\(e)") }
        var resume = try job(cut); resume.resume = true
        let report = try resume.run()
        XCTAssertEqual(report.skipped, 2); XCTAssertEqual(report.rendered, 3)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cut)), try Data(contentsOf: URL(fileURLWithPath: full)))
        // Resuming with another seed is refused.
        var wrong = try job(cut, seed: 99); wrong.resume = true
        XCTAssertThrowsError(try wrong.run()) { e in XCTAssertTrue("\(e)".contains("cannot resume"), "\(e)") }
    }

    func testHairCorpusVerifiesAndIsDeterministic() throws {
        // The sphere with a scalp cap: hair on every subject; labels stay consistent.
        var m = Self.model
        for f in 0..<m.triangleCount {
            var c = SIMD3<Float>.zero
            for k in 0..<3 { c += m.template.vec3(Int(m.triangles[3 * f + k])) / 3 }
            if c.y > 0.05 { m.faceRegions[f] = Region.scalp.rawValue }
        }
        let text = Self.recipeText + "\nhair: {styles: {medium: 1, afro: 1}, strands: 3000}\n"
        let dir = TestPaths.temporaryDirectory(self)
        var paths: [String] = []
        for threads in [1, 2] {
            let p = dir.appendingPathComponent("hair\(threads).h5").path
            var j = CorpusJob(recipe: try Recipe.parse(text, file: "hair.yaml"), model: m, count: 3, output: p, seed: 5)
            j.headlabVersion = "test"; j.threads = threads
            try j.run()
            paths.append(p)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: paths[0])), try Data(contentsOf: URL(fileURLWithPath: paths[1])))
        let r = try CorpusReader(path: paths[0])
        defer { r.close() }
        XCTAssertEqual(r.verify(), [])
        var hair = 0
        for row in 0..<3 { hair += try r.dataset("segmentation").readRowBytes(row).filter { $0 == SegmentationClass.hair.rawValue }.count }
        XCTAssertGreaterThan(hair, 0)
    }

    func testUnwritableOutputIsAClearError() throws {
        XCTAssertThrowsError(try job("/proc/headlab-cannot-write/c.h5").run()) { e in
            XCTAssertTrue("\(e)".contains("/proc/headlab-cannot-write/c.h5"), "\(e)")
        }
    }

    func testH5pyReadsTheCorpusAndTheExampleDataset() throws {
        guard let python = findPythonWithH5py() else { throw XCTSkip("python3 with h5py not available") }
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("c.h5").path
        try job(path, count: 3).run()
        let script = """
        import sys, numpy as np, h5py
        sys.path.insert(0, sys.argv[2])
        from headlab_dataset import HeadLabCorpus
        f = h5py.File(sys.argv[1], 'r')
        assert f.attrs['format'] == 'headlab-corpus' and f.attrs['schema_version'] == 3
        assert 'image: {width: 40' in f.attrs['recipe']
        n, h, w = 3, 32, 40
        expect = {'rgb': ((n, h, w, 3), 'uint8'), 'segmentation': ((n, h, w), 'uint8'), 'normals_camera': ((n, h, w, 3), 'float16'),
                  'normals_model': ((n, h, w, 3), 'float16'), 'uv': ((n, h, w, 2), 'float16'), 'depth': ((n, h, w), 'float32'),
                  'triangle': ((n, h, w), 'int32'), 'landmarks_2d': ((n, 68, 2), 'float32'), 'intrinsics': ((n, 3, 3), 'float32'),
                  'extrinsics': ((n, 3, 4), 'float32'), 'identity': ((n, 1), 'float32'), 'joint_rotations': ((n, 5, 3), 'float32'),
                  'hair_coverage': ((n, h, w), 'uint8'), 'beard_coverage': ((n, h, w), 'uint8'), 'eyebrows_coverage': ((n, h, w), 'uint8'), 'eyelashes_coverage': ((n, h, w), 'uint8'),
                  'normals_amodal': ((n, h, w, 3), 'float16'), 'uv_amodal': ((n, h, w, 2), 'float16'),
                  'glasses_coverage': ((n, h, w), 'uint8'), 'headwear_coverage': ((n, h, w), 'uint8'),
                  'facewear_coverage': ((n, h, w), 'uint8'), 'clothing_coverage': ((n, h, w), 'uint8')}
        for k, (shape, dtype) in expect.items():
            assert f[k].shape == shape and f[k].dtype == dtype, (k, f[k].shape, f[k].dtype)
        assert list(f['class_names'].asstr()[:])[:3] == ['background', 'skin', 'nose']
        fg = f['foreground'][:] == 1
        assert fg.any() and (~fg).any()
        nrm = f['normals_camera'][:].astype(np.float32)
        lens = np.linalg.norm(nrm[fg], axis=-1)
        assert np.abs(lens - 1).max() < 2e-3, np.abs(lens - 1).max()
        assert (nrm[fg][:, 2] < 0.05).all()           # facing the camera (camera looks down +z)
        assert (f['depth'][:][fg] > 0).all() and (f['depth'][:][~fg] == 0).all()
        assert set(np.unique(f['segmentation'][:])) <= {0, 12}
        assert ((f['skin_visible'][:] == 1) <= fg).all()
        assert ((f['skin_visible'][:] == 1) <= (f['skin_amodal'][:] == 1)).all()
        assert (f['hair_coverage'][:] == 0).all()     # this recipe has no hair
        for k in ('glasses', 'headwear', 'facewear', 'clothing'):
            assert (f[k + '_coverage'][:] == 0).all()  # … and no accessories
        # The camera projects landmarks where the file says: K [R|t] x = landmarks_2d.
        K, E, X = f['intrinsics'][0], f['extrinsics'][0], f['landmarks_3d'][0]
        uv = (K @ X.T).T; uv = uv[:, :2] / uv[:, 2:]
        assert np.abs(uv - f['landmarks_2d'][0]).max() < 1e-2
        assert (f['complete'][:] == 1).all()
        ds = HeadLabCorpus(sys.argv[1], channels=('rgb', 'normals_model'))
        s = ds[2]
        assert len(ds) == 3 and s['rgb'].shape == (h, w, 3) and s['normals_model'].dtype == np.float32 and s['index'] == 2
        print('ok')
        """
        let out = try runPython(python, script, args: [path, TestPaths.root.appendingPathComponent("scripts").path])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    /// Accessories on the MakeHuman head: byte-identical for 1 and 2 threads, `verify` passes,
    /// and h5py sees the coverage channels agree with the segmentation and the amodal skin.
    func testAccessoryCorpusIsDeterministicAndItsChannelsAreConsistent() throws {
        let model = try TestModels.makeHuman()
        let text = """
        name: accessories
        image: {width: 64, height: 64, samples_per_pixel: 4}
        rig: {kind: in_the_wild, yaw: 25, pitch: 10, roll: 5, fill: [0.6, 0.7], focal_mm: [50, 60]}
        accessories:
          glasses: {probability: 1, sunglasses_probability: 0.5}
          headwear: {probability: 1}
          facewear: {probability: 1}
          clothing: {probability: 1}
          earrings: {probability: 0.5}
        """
        let dir = TestPaths.temporaryDirectory(self)
        var paths: [String] = []
        for threads in [1, 2] {
            let p = dir.appendingPathComponent("acc\(threads).h5").path
            var j = CorpusJob(recipe: try Recipe.parse(text, file: "acc.yaml"), model: model, count: 3, output: p, seed: 2)
            j.headlabVersion = "test"; j.threads = threads
            try j.run()
            paths.append(p)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: paths[0])), try Data(contentsOf: URL(fileURLWithPath: paths[1])))
        let r = try CorpusReader(path: paths[0])
        XCTAssertEqual(r.verify(), [])
        r.close()
        guard let python = findPythonWithH5py() else { throw XCTSkip("python3 with h5py not available") }
        let script = """
        import sys, numpy as np, h5py
        f = h5py.File(sys.argv[1], 'r')
        assert f.attrs['schema_version'] == 3
        seg, tri = f['segmentation'][:], f['triangle'][:]
        vis, amo, total = f['skin_visible'][:] == 1, f['skin_amodal'][:] == 1, f['coverage'][:].astype(int)
        assert (vis <= amo).all()
        layers = {'clothing': 15, 'glasses': 16, 'headwear': 17, 'facewear': 18}
        covsum = np.zeros(total.shape, int)
        for name, cls in layers.items():
            cov = f[name + '_coverage'][:]
            assert cov.shape == seg.shape and cov.dtype == np.uint8, name
            covsum += cov
            labelled = seg == cls
            assert labelled.sum() > 20, (name, labelled.sum())
            assert (tri[labelled] == -1).all(), name
            # Pixel-centre label and jittered coverage agree almost everywhere; per sample, coverage implies the class.
            assert (cov[labelled] > 0).mean() > 0.8, (name, (cov[labelled] > 0).mean())
            for k in range(seg.shape[0]):
                if (cov[k] > 128).sum() > 3: assert labelled[k].any(), (name, k)
        # Layer coverages are shares of the same samples: they never add up to more than the total.
        assert (covsum <= total + 4).all()
        # The mask covers skin: the amodal channel sees it (normals too).
        mask = seg == 18
        assert amo[mask].mean() > 0.9, amo[mask].mean()
        na = f['normals_amodal'][:].astype(np.float32)[mask & amo]
        assert np.abs(np.linalg.norm(na, axis=-1) - 1).max() < 2e-3
        print('ok')
        """
        let out = try runPython(python, script, args: [paths[0]])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    func testContactSheetHasAPanelPerChannel() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("c.h5").path
        try job(path, count: 2).run()
        let reader = try CorpusReader(path: path)
        let sheet = try ContactSheet.render(reader: reader, panel: 40)
        reader.close()
        XCTAssertEqual(sheet.width, 40 * ContactSheet.panels.count)
        XCTAssertEqual(sheet.height, 2 * 32)
        let png = try ContactSheet.write(corpus: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: png))
    }
}
