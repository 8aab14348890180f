import XCTest
import TestSupport
import Geometry
import HeadModels
import Rendering
import Generation
import HDF5
@testable import Scans

/// Scans of analytic shapes seen from all around: geometry, topology, labels, determinism, files.
final class ScansTests: XCTestCase {
    static let radius: Float = 0.1
    static let voxel: Float = 0.004

    /// A sphere whose +x half is `nose` and −x half `neck`: two classes split at the plane x = 0.
    static let twoClassSphere: HeadModel = {
        var m = TestModels.sphere(radius: radius, rings: 48, segments: 96)
        for f in 0..<m.triangleCount {
            let x = (0..<3).map { m.template[3 * Int(m.triangles[3 * f + $0])] }.reduce(0, +)
            m.faceRegions[f] = x > 0 ? Region.nose.rawValue : Region.neck.rawValue
        }
        return m
    }()

    /// `n` cameras on a Fibonacci sphere around the origin, looking at it.
    static func surroundRig(_ n: Int, side: Int, distance: Float = 0.45) -> [Camera] {
        (0..<n).map { i in
            let y = 1 - 2 * (Float(i) + 0.5) / Float(n), r = (1 - y * y).squareRoot()
            let phi = Float(i) * 2.399963
            let eye = distance * SIMD3(r * cos(phi), y, r * sin(phi))
            let up: SIMD3<Float> = abs(y) > 0.9 ? SIMD3(0, 0, 1) : SIMD3(0, 1, 0)
            return Camera.lookAt(eye: eye, target: .zero, up: up, width: side, height: side, fx: Float(side) / 2 / 0.55)
        }
    }

    /// Analytic shapes need no sub-pixel coverage: 2 × 2 sensor samples keep the tests fast.
    static func settings(resolution: Int = 160, voxel: Float = voxel, sensorSamples: Int = 2) -> ScanSettings {
        var s = ScanSettings()
        s.resolution = resolution; s.voxelSize = voxel; s.sensorSamples = sensorSamples
        return s
    }

    /// One shared scan of the two-class sphere (the expensive part, done once).
    static let sphereScan: Scan = {
        let m = twoClassSphere
        let scanner = try! VirtualScanner(settings: settings())
        let posed = m.pose(HeadParameters.neutral(for: m))
        return try! scanner.scan(model: m, labels: HeadLabelTable(model: m), vertices: posed.vertices,
                                 cameras: surroundRig(20, side: 160), seed: 1)
    }()

    func testMarchingCubesTableIsConsistent() {
        let t = MarchingCubes.triangles
        XCTAssertEqual(t.count, 256)
        XCTAssertTrue(t[0].isEmpty); XCTAssertTrue(t[255].isEmpty)
        XCTAssertEqual(t[1].count, 3)
        // Every case with inside and outside corners makes at least one whole triangle.
        for c in 0..<256 where c != 0 && c != 255 {
            XCTAssertEqual(t[c].count % 3, 0)
            XCTAssertGreaterThan(t[c].count, 0, "case \(c)")
        }
    }

    /// Marching cubes on a random field (every ambiguous case many times): every interior edge is
    /// shared by exactly two triangles with opposite directions, border edges by one.
    func testMarchingCubesOnRandomFieldIsManifold() {
        let volume = TSDFVolume(voxelSize: 0.01)
        var rng = SplitMix64(seed: 11)
        for z in 0..<2 { for y in 0..<2 { for x in 0..<2 {
            let b = volume.allocate(SIMD3(Int32(x), Int32(y), Int32(z)))
            for v in 0..<TSDFVolume.blockVoxels {
                volume.sdf[Int(b) * TSDFVolume.blockVoxels + v] = rng.uniform(-1, 1)
                volume.weight[Int(b) * TSDFVolume.blockVoxels + v] = 1
            }
        } } }
        let (positions, triangles) = volume.extractMesh()
        XCTAssertGreaterThan(triangles.count / 3, 5000)
        var uses: [Int64: Int] = [:], directed = Set<Int64>(), repeated = 0
        for f in 0..<(triangles.count / 3) {
            for k in 0..<3 {
                let a = Int64(triangles[3 * f + k]), b = Int64(triangles[3 * f + (k + 1) % 3])
                uses[min(a, b) << 32 | max(a, b), default: 0] += 1
                if !directed.insert(a << 32 | b).inserted { repeated += 1 }
            }
        }
        // Border edges lie on the faces of the sampled cube [0, 15]³ (in voxels).
        func onBorder(_ i: Int64) -> Bool {
            let p = positions.vec3(Int(i)) / 0.01
            return [p.x, p.y, p.z].contains { abs($0) < 1e-3 || abs($0 - 15) < 1e-3 }
        }
        var bad = 0
        for (e, n) in uses where n != 2 && !(n == 1 && onBorder(e >> 32) && onBorder(e & 0xffff_ffff)) { bad += 1 }
        XCTAssertEqual(bad, 0, "\(bad) of \(uses.count) edges not shared by exactly two triangles")
        XCTAssertEqual(repeated, 0, "inconsistent winding")
    }

    func testSphereChamferBelowVoxelSize() throws {
        let s = Self.sphereScan
        XCTAssertGreaterThan(s.vertexCount, 1000)
        // Scan → sphere.
        var toSphere: Float = 0
        for v in 0..<s.vertexCount { toSphere += abs(length(s.positions.vec3(v)) - Self.radius) }
        toSphere /= Float(s.vertexCount)
        // Sphere → scan (nearest vertex, an upper bound of the distance to the scan surface).
        let index = NearestVertexIndex(vertices: s.positions, cell: 2 * Self.voxel)
        var rng = SplitMix64(seed: 5), toScan: Float = 0
        let samples = 2000
        for _ in 0..<samples {
            let d = normalize(SIMD3(rng.normal(), rng.normal(), rng.normal()))
            toScan += index.nearest(to: Self.radius * d)!.1
        }
        toScan /= Float(samples)
        let chamfer = (toSphere + toScan) / 2
        print("sphere scan: \(s.vertexCount) vertices, chamfer \(chamfer * 1000) mm (scan→sphere \(toSphere * 1000), sphere→scan \(toScan * 1000))")
        XCTAssertLessThan(chamfer, Self.voxel)
        XCTAssertLessThan(toSphere, Self.voxel / 4)
    }

    /// A rotated box (a sphere mesh pushed onto a cube, so edges are chamfered by one ring of
    /// triangles): flat faces and sharp edges, which marching cubes rounds off by under a voxel.
    func testRotatedBoxChamferBelowVoxelSize() throws {
        let half: Float = 0.07
        let rotation = Mat3.rotation(yaw: 0.5, pitch: 0.35, roll: 0.2)
        var m = TestModels.sphere(radius: 0.1, rings: 48, segments: 96)
        for i in 0..<m.vertexCount {
            let p = m.template.vec3(i)
            m.template.setVec3(i, rotation * (p / max(abs(p.x), abs(p.y), abs(p.z)) * half))
        }
        let scan = try VirtualScanner(settings: Self.settings(resolution: 128)).scan(model: m, labels: HeadLabelTable(model: m), vertices: m.template,
                                                                      cameras: Self.surroundRig(14, side: 128), seed: 2)
        let inverse = rotation.transposed
        func boxDistance(_ p: SIMD3<Float>) -> Float {
            let a = inverse * p
            let q = SIMD3(abs(a.x), abs(a.y), abs(a.z)) - SIMD3(repeating: half)
            return length(pointwiseMax(q, .zero)) + min(max(q.x, q.y, q.z), 0)
        }
        var toBox: Float = 0
        for v in 0..<scan.vertexCount { toBox += abs(boxDistance(scan.positions.vec3(v))) }
        toBox /= Float(scan.vertexCount)
        let index = NearestVertexIndex(vertices: scan.positions, cell: 2 * Self.voxel)
        var rng = SplitMix64(seed: 6), toScan: Float = 0
        let samples = 2000
        for k in 0..<samples {
            var p = SIMD3(rng.uniform(-half, half), rng.uniform(-half, half), rng.uniform(-half, half))
            p[k % 3] = k % 2 == 0 ? half : -half
            toScan += index.nearest(to: rotation * p)!.1
        }
        toScan /= Float(samples)
        let chamfer = (toBox + toScan) / 2
        print("box scan: \(scan.vertexCount) vertices, chamfer \(chamfer * 1000) mm (scan→box \(toBox * 1000), box→scan \(toScan * 1000))")
        XCTAssertLessThan(chamfer, Self.voxel)
        XCTAssertLessThan(toBox, Self.voxel / 4)
    }

    func testSphereSeenFromAllAroundIsWatertight() {
        let s = Self.sphereScan
        var edges: [Int64: Int] = [:]
        var directed = Set<Int64>()
        var orientedTwice = 0
        for f in 0..<s.triangleCount {
            for k in 0..<3 {
                let a = Int64(s.triangles[3 * f + k]), b = Int64(s.triangles[3 * f + (k + 1) % 3])
                edges[min(a, b) << 32 | max(a, b), default: 0] += 1
                if !directed.insert(a << 32 | b).inserted { orientedTwice += 1 }
            }
        }
        let bad = edges.values.filter { $0 != 2 }.count
        XCTAssertEqual(bad, 0, "\(bad) of \(edges.count) edges not shared by exactly two faces")
        XCTAssertEqual(orientedTwice, 0, "inconsistent winding")
        // Euler characteristic of a sphere.
        XCTAssertEqual(s.vertexCount - edges.count + s.triangleCount, 2)
        // Normals point outwards.
        var outward = 0
        for v in 0..<s.vertexCount where dot(s.normals.vec3(v), s.positions.vec3(v)) > 0 { outward += 1 }
        XCTAssertEqual(outward, s.vertexCount)
    }

    func testLabelsSplitAtTheSamePlaneAsTheModel() {
        let s = Self.sphereScan
        var checked = 0, wrong = 0
        for v in 0..<s.vertexCount {
            let x = s.positions[3 * v]
            XCTAssertGreaterThanOrEqual(s.vertexFace[v], 0)
            XCTAssertLessThan(s.vertexDistance[v], Self.voxel)
            XCTAssertEqual(s.vertexSkin[v], 1)  // nose and neck are both skin
            guard abs(x) > 0.01 * Self.radius else { continue }
            checked += 1
            let expected = x > 0 ? SegmentationClass.nose : .neck
            if s.vertexClass[v] != expected.rawValue { wrong += 1 }
        }
        XCTAssertGreaterThan(checked, s.vertexCount * 9 / 10)
        XCTAssertEqual(wrong, 0)
    }

    func testSameSeedGivesIdenticalScans() throws {
        var settings = Self.settings(resolution: 96, voxel: 0.006)
        settings.depthNoise = 0.0005; settings.misalignmentDegrees = 0.1; settings.misalignmentMetres = 0.0005
        let m = TestModels.sphere(radius: 0.1, rings: 24, segments: 48)
        let labels = HeadLabelTable(model: m), cams = Self.surroundRig(12, side: 96)
        func run(_ seed: UInt64, threads: Int) throws -> Scan {
            var s = settings; s.threads = threads
            return try VirtualScanner(settings: s).scan(model: m, labels: labels, vertices: m.template, cameras: cams, seed: seed)
        }
        let a = try run(7, threads: 0), b = try run(7, threads: 1), c = try run(8, threads: 0)
        XCTAssertEqual(a.positions, b.positions); XCTAssertEqual(a.triangles, b.triangles)
        XCTAssertEqual(a.vertexClass, b.vertexClass); XCTAssertEqual(a.vertexDistance, b.vertexDistance)
        XCTAssertEqual(a.vertexFace, b.vertexFace); XCTAssertEqual(a.normals, b.normals)
        XCTAssertNotEqual(a.positions, c.positions)
    }

    static let recipeText = """
    name: scan-test
    image: {width: 64, height: 64, samples_per_pixel: 1}
    rig: {kind: multi_view, cameras: 13, distance: 0.5, focal_mm: 85}
    """

    func job(_ out: String, recipe: String = ScansTests.recipeText, count: Int = 2) throws -> ScanJob {
        let model = TestModels.sphere(radius: 0.09, centre: SIMD3(0, 0.02, 0), rings: 24, segments: 48)
        var j = ScanJob(recipe: try Recipe.parse(recipe, file: "scan-test.yaml"), model: model, count: count, output: out, seed: 3)
        j.settings = Self.settings(resolution: 64, voxel: 0.006)
        j.headlabVersion = "test"
        return j
    }

    func testScanFileIsReadableWithH5py() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let out = dir.appendingPathComponent("scans.h5").path
        var j = try job(out)
        j.plyDirectory = dir.appendingPathComponent("ply").path
        j.images = true
        let report = try j.run()
        XCTAssertEqual(report.scans, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ply/scan_00001.ply").path))
        let f = try HDF5File(path: out, mode: .readOnly)
        XCTAssertEqual(try f.stringAttribute("format"), "headlab-scans")
        let offsets = try f.read("vertex_offsets", as: Int64.self).values
        XCTAssertEqual(offsets.count, 3)
        XCTAssertEqual(Int(offsets[2]), report.vertices)
        XCTAssertEqual(try f.shape("model_vertices"), [2, j.model.vertexCount, 3])
        XCTAssertEqual(try f.shape("rgb"), [2, 13, 64, 64, 3])
        f.close()
        guard let python = findPythonWithH5py() else { throw XCTSkip("python3 with h5py not found") }
        let code = """
        import sys, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        assert f.attrs["format"] == "headlab-scans", f.attrs["format"]
        vo, fo = f["vertex_offsets"][:], f["face_offsets"][:]
        S = len(vo) - 1
        for s in range(S):
            v = f["vertices"][vo[s]:vo[s+1]]; tri = f["faces"][fo[s]:fo[s+1]]
            assert tri.min() >= 0 and tri.max() < len(v)
            cls = f["vertex_class"][vo[s]:vo[s+1]]
            assert f["vertex_skin"][vo[s]:vo[s+1]].shape == cls.shape
            assert np.all(f["vertex_distance"][vo[s]:vo[s+1]] < 0.006)
            hd = f["vertex_head_distance"][vo[s]:vo[s+1]]
            assert np.all(np.abs(hd) < 0.006) and np.all(np.abs(hd) >= f["vertex_distance"][vo[s]:vo[s+1]] - 1e-7)
            assert np.all(f["vertex_layer"][vo[s]:vo[s+1]] == 0)
            assert f["vertex_face"][vo[s]:vo[s+1]].min() >= 0
        assert list(f["complete"][:]) == [1] * S
        layers = [n.decode() if isinstance(n, bytes) else n for n in f["layer_names"][:]]
        assert layers[:4] == ["head", "hair", "beard", "eyebrows"], layers
        assert layers[8:] == ["glasses", "headwear", "facewear", "clothing", "glasses_lenses"], layers
        strand_layers = [n for n in layers[1:8] if n]
        assert f["strand_counts"].shape == (S, len(strand_layers)), f["strand_counts"].shape
        assert set(np.unique(f["vertex_layer"][:])) <= {i for i, n in enumerate(layers) if n}
        fg, sv, sa, seg = f["foreground"][:], f["skin_visible"][:], f["skin_amodal"][:], f["segmentation"][:]
        assert fg.shape == sv.shape == sa.shape == seg.shape == f["rgb"].shape[:4], (fg.shape, f["rgb"].shape)
        assert fg.sum() > 0 and np.all(sv <= fg) and np.all(sv <= sa) and np.all(seg[fg == 0] == 0) and np.all(seg[fg == 1] > 0)
        names = [n.decode() if isinstance(n, bytes) else n for n in f["class_names"][:]]
        print(S, len(f["vertices"]), f["intrinsics"].shape, f["extrinsics"].shape, names[int(cls[0])], float(np.ravel(f.attrs["voxel_size"])[0]))
        """
        let printed = try runPython(python, code, args: [out])
        XCTAssertTrue(printed.hasPrefix("2 \(report.vertices) (2, 13, 3, 3) (2, 13, 3, 4) neck 0.006"), printed)
    }

    func testSameSeedGivesIdenticalScanFiles() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let a = dir.appendingPathComponent("a.h5").path, b = dir.appendingPathComponent("b.h5").path
        var ja = try job(a, count: 1), jb = try job(b, count: 1)
        ja.settings.depthNoise = 0.0005; jb.settings.depthNoise = 0.0005; jb.settings.threads = 1
        try ja.run(); try jb.run()
        let fa = try HDF5File(path: a, mode: .readOnly), fb = try HDF5File(path: b, mode: .readOnly)
        for name in ["vertices", "normals", "vertex_distance", "model_vertices", "extrinsics"] {
            XCTAssertEqual(try fa.read(name, as: Float.self).values, try fb.read(name, as: Float.self).values, name)
        }
        for name in ["faces", "vertex_face"] {
            XCTAssertEqual(try fa.read(name, as: Int32.self).values, try fb.read(name, as: Int32.self).values, name)
        }
        XCTAssertEqual(try fa.read("vertex_class", as: UInt8.self).values, try fb.read("vertex_class", as: UInt8.self).values)
    }

    func testBadInputGivesClearErrors() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let wild = """
        name: wild
        image: {width: 32, height: 32, samples_per_pixel: 1}
        rig: {kind: in_the_wild}
        """
        XCTAssertThrowsError(try job(dir.appendingPathComponent("a.h5").path, recipe: wild).run()) { e in
            XCTAssertTrue("\(e)".contains("multi_view"), "\(e)")
        }
        XCTAssertThrowsError(try job("/nonexistent-headlab-dir/a.h5").run()) { e in
            XCTAssertTrue("\(e)".contains("does not exist"), "\(e)")
        }
        XCTAssertThrowsError(try job(dir.appendingPathComponent("b.h5").path, count: 0).run()) { e in
            XCTAssertTrue("\(e)".contains("--count"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("a.h5").path))
        XCTAssertThrowsError(try Recipe.load(path: dir.appendingPathComponent("missing.yaml").path))
    }
}
