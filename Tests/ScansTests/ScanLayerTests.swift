import XCTest
import TestSupport
import Geometry
import HeadModels
import Rendering
import Generation
import HDF5
@testable import Scans

/// Scans of a subject with strand layers: hair becomes a labelled shell outside the scalp, a bald
/// subject has none; interrupted scan files resume to the bytes of an uninterrupted run.
final class ScanLayerTests: XCTestCase {
    static let radius: Float = 0.1

    /// The test sphere with a scalp cap (y > 0.03) and face skin elsewhere.
    static let scalpSphere: HeadModel = {
        var m = TestModels.sphere(radius: radius, rings: 32, segments: 64)
        for f in 0..<m.triangleCount {
            var c = SIMD3<Float>.zero
            for k in 0..<3 { c += m.template.vec3(Int(m.triangles[3 * f + k])) / 3 }
            m.faceRegions[f] = c.y > 0.03 ? Region.scalp.rawValue : Region.faceSkin.rawValue
        }
        return m
    }()

    /// Short, dense, thick strands: the hair layer is opaque to the sensor over the cap.
    static var shortHair: Groom {
        var g = Groom()
        g.style = .afro; g.strands = 4000; g.length = 0.04; g.radius = 2e-4; g.seed = 5; g.curl = 0.8; g.frizz = 0.1
        return g
    }

    static func scan(groom: Groom?) throws -> (Scan, HeadScene) {
        let m = scalpSphere
        var settings = ScanSettings()
        settings.resolution = 96; settings.voxelSize = 0.004; settings.sensorSamples = 4
        let scanner = try VirtualScanner(settings: settings)
        let posed = m.pose(.neutral(for: m))
        let labels = HeadLabelTable(model: m)
        let scene = try scanner.scene(model: m, labels: labels, posed: posed, global: .identity, groom: groom)
        return (try scanner.scan(scene, cameras: ScansTests.surroundRig(14, side: 96), seed: 3), scene)
    }

    nonisolated(unsafe) static var hairScanCache: (Scan, HeadScene)?
    static func hairScan() throws -> (Scan, HeadScene) {
        if let c = hairScanCache { return c }
        hairScanCache = try scan(groom: shortHair)
        return hairScanCache!
    }

    /// Hair vertices lie on a shell outside the scalp: their signed head distance is positive and
    /// between a quarter of the hair layer's thickness and its full thickness; skin vertices below
    /// the equator lie on the head mesh (|signed distance| under a voxel).
    func testHairBecomesALabelledShellOutsideTheScalp() throws {
        let (s, scene) = try Self.hairScan()
        let hair = scene.strands[StrandLayer.hair.rawValue - 1]
        XCTAssertGreaterThan(hair.strandCount, 3000)
        // Thickness of the hair layer over the crown: mean height of strand points above the sphere (y > 0.06).
        var heights: [Float] = []
        for p in hair.points where p.y > 0.06 { heights.append(length(SIMD3(p.x, p.y, p.z)) - Self.radius) }
        let thickness = heights.reduce(0, +) / Float(heights.count)
        var shell: [Float] = [], hairBelowCap = 0, skinInHair = 0
        for v in 0..<s.vertexCount {
            let p = s.positions.vec3(v)
            if s.vertexClass[v] == SegmentationClass.hair.rawValue {
                XCTAssertEqual(s.vertexLayer[v], UInt8(StrandLayer.hair.rawValue))
                XCTAssertEqual(s.vertexSkin[v], 0)
                if p.y > 0.06 { shell.append(s.vertexHeadDistance[v]) }
                if p.y < 0 { hairBelowCap += 1 }
            } else if s.vertexClass[v] == SegmentationClass.skin.rawValue {
                XCTAssertEqual(s.vertexLayer[v], 0)
                XCTAssertEqual(s.vertexSkin[v], 1)
                // Below the equator (out of the hair's reach) skin lies on the head mesh.
                if p.y < 0 { XCTAssertLessThan(abs(s.vertexHeadDistance[v]), ScansTests.voxel) }
                if p.y > 0.08 { skinInHair += 1 }
            }
            XCTAssertLessThanOrEqual(s.vertexDistance[v], abs(s.vertexHeadDistance[v]) + 1e-6, "any layer is at most as far as the head")
        }
        let shellHeight = shell.reduce(0, +) / Float(max(1, shell.count))
        print("hair scan: \(s.vertexCount) vertices, \(shell.count) hair vertices over the crown at \(shellHeight * 1000) mm; hair layer \(thickness * 1000) mm thick")
        XCTAssertGreaterThan(shell.count, 200)
        XCTAssertGreaterThan(shell.filter { $0 > 0 }.count, shell.count * 95 / 100, "hair vertices outside the scalp")
        XCTAssertGreaterThan(shellHeight, thickness / 4)
        XCTAssertLessThan(shellHeight, 1.5 * thickness)
        XCTAssertEqual(hairBelowCap, 0, "short hair does not reach below the equator")
        XCTAssertLessThan(skinInHair, shell.count / 20, "the crown is mostly covered by hair (the scalp shows through gaps)")
    }

    /// Without a groom nothing is hair and every vertex lies on the head mesh.
    func testBaldSubjectHasNoHairVertices() throws {
        let (s, scene) = try Self.scan(groom: nil)
        XCTAssertFalse(scene.hasStrands)
        XCTAssertGreaterThan(s.vertexCount, 1000)
        XCTAssertEqual(s.vertexClass.filter { $0 == SegmentationClass.hair.rawValue }.count, 0)
        XCTAssertEqual(s.vertexLayer.filter { $0 != 0 }.count, 0)
        XCTAssertEqual(s.strandCounts, [Int](repeating: 0, count: StrandLayer.allCases.count))
        for v in 0..<s.vertexCount {
            XCTAssertLessThan(abs(s.vertexHeadDistance[v]), ScansTests.voxel)
            XCTAssertEqual(s.vertexDistance[v], abs(s.vertexHeadDistance[v]), accuracy: 1e-7)
        }
    }

    /// Signed head distance against the analytic sphere: points inside are negative, outside
    /// positive, within the tessellation error (0.3 mm for this sphere).
    func testSignedHeadDistanceMatchesTheSphere() throws {
        let (s, _) = try Self.hairScan()
        var worst: Float = 0
        for v in 0..<s.vertexCount {
            let exact = length(s.positions.vec3(v)) - Self.radius
            worst = max(worst, abs(s.vertexHeadDistance[v] - exact))
        }
        XCTAssertLessThan(worst, 6e-4)
    }

    /// A pixel reports the lower median of its sub-samples: one 0.1 mm strand covers less than
    /// half of every ~1.6 mm pixel and vanishes (the head behind it is reported); the same strand
    /// 3 mm thick covers whole pixels and is seen.
    func testThinStrandVanishesFromTheDepthMap() throws {
        let m = Self.scalpSphere
        var settings = ScanSettings()
        settings.resolution = 256; settings.sensorSamples = 4
        let scanner = try VirtualScanner(settings: settings)
        let camera = Camera.lookAt(eye: SIMD3(0, 0.45, 0.05), target: .zero, up: SIMD3(0, 0, -1), width: 256, height: 256, fx: 256 / 2 / 0.55)
        func strandPixels(radius: Float) throws -> Int {
            var g = Groom()
            g.style = .short; g.strands = 1; g.length = 0.05; g.radius = radius; g.seed = 1
            let scene = try scanner.scene(model: m, labels: HeadLabelTable(model: m), posed: m.pose(.neutral(for: m)), global: .identity, groom: g)
            XCTAssertGreaterThanOrEqual(scene.strands[0].strandCount, 1)
            let frame = DepthFrame(width: 256, height: 256)
            scanner.render(scene, camera: camera, into: frame)
            XCTAssertGreaterThan(frame.geometry.filter { $0 == 0 }.count, 5000)
            return frame.geometry.filter { $0 == 1 }.count
        }
        // Thin: at most a mixed pixel at the silhouette, where the strand is the farthest of the nearer half.
        XCTAssertLessThanOrEqual(try strandPixels(radius: 5e-5), 2)
        XCTAssertGreaterThan(try strandPixels(radius: 1.5e-3), 30)
    }

    /// Packets and single rays give the same depth maps (up to Embree's rounding) on hair.
    func testPacketsMatchSingleRays() throws {
        let (_, scene) = try Self.hairScan()
        var settings = ScanSettings()
        settings.resolution = 48
        let camera = ScansTests.surroundRig(3, side: 48)[0]
        let a = DepthFrame(width: 48, height: 48), b = DepthFrame(width: 48, height: 48)
        try VirtualScanner(settings: settings).render(scene, camera: camera, into: a)
        settings.packets = false
        try VirtualScanner(settings: settings).render(scene, camera: camera, into: b)
        var same = 0
        for i in 0..<(48 * 48) where a.geometry[i] == b.geometry[i] && abs(a.depth[i] - b.depth[i]) < 1e-5 { same += 1 }
        XCTAssertGreaterThan(same, 48 * 48 * 99 / 100)
        XCTAssertGreaterThan(a.geometry.filter { $0 == 1 }.count, 100, "the view sees hair")
    }

    // MARK: Resumable files

    static let recipeText = """
    name: scan-resume-test
    image: {width: 64, height: 64, samples_per_pixel: 1}
    rig: {kind: multi_view, cameras: 13, distance: 0.5, focal_mm: 85}
    hair: {styles: {short: 1}, strands: 3000}
    eyebrows: {strand_probability: 0}
    """

    func job(_ out: String, count: Int = 4) throws -> ScanJob {
        var j = ScanJob(recipe: try Recipe.parse(Self.recipeText, file: "scan-resume-test.yaml"), model: Self.scalpSphere,
                        count: count, output: out, seed: 9)
        j.settings.resolution = 40; j.settings.voxelSize = 0.008; j.settings.sensorSamples = 2
        j.headlabVersion = "test"
        return j
    }

    struct Interrupted: Error {}

    /// A run stopped after scan 1 leaves a file whose two finished scans verify; `resume`
    /// completes it to the bytes of an uninterrupted run. Without `resume` the file is refused.
    func testInterruptedRunResumesToTheSameBytes() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let full = dir.appendingPathComponent("full.h5").path, cut = dir.appendingPathComponent("cut.h5").path
        let report = try job(full).run()
        XCTAssertGreaterThan(report.vertices, 0)
        var first = try job(cut)
        first.afterStore = { s in if s == 1 { throw Interrupted() } }
        XCTAssertThrowsError(try first.run())
        XCTAssertEqual(try ScanFile.verify(path: cut), [])
        let f = try HDF5File(path: cut, mode: .readOnly)
        XCTAssertEqual(try f.read("complete", as: UInt8.self).values, [1, 1, 0, 0])
        f.close()
        XCTAssertThrowsError(try job(cut).run()) { XCTAssertTrue("\($0)".contains("--resume"), "\($0)") }
        var again = try job(cut)
        again.resume = true
        let resumed = try again.run()
        XCTAssertEqual(resumed.copied, 2); XCTAssertEqual(resumed.scans, 2)
        XCTAssertEqual(resumed.vertices, report.vertices)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cut)), try Data(contentsOf: URL(fileURLWithPath: full)))
        XCTAssertEqual(try ScanFile.verify(path: cut), [])
        // A different job cannot resume the file.
        var other = try job(cut)
        other.resume = true; other.seed = 10
        XCTAssertThrowsError(try other.run()) { XCTAssertTrue("\($0)".contains("cannot resume"), "\($0)") }
    }

    /// Kills a real `headlab scan` process with SIGKILL mid-run, then checks the file's finished
    /// scans verify and that `--resume` completes it to the bytes of an uninterrupted run.
    func testSigkillAtAnyMomentThenResume() throws {
        let binary = TestPaths.root.appendingPathComponent(".build/debug/headlab").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("no debug headlab binary at \(binary)") }
        let dir = TestPaths.temporaryDirectory(self)
        let modelPath = dir.appendingPathComponent("scalp.h5").path
        try HeadModelFile.write(Self.scalpSphere, to: modelPath)
        let recipePath = dir.appendingPathComponent("r.yaml").path
        try Self.recipeText.write(toFile: recipePath, atomically: true, encoding: .utf8)
        func scan(_ out: String, extra: [String] = []) -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["scan", "--recipe", recipePath, "--model", modelPath, "--count", "6", "--seed", "5", "--out", out,
                           "--resolution", "40", "--voxel-mm", "8", "--sensor-samples", "2"] + extra
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            return p
        }
        let full = dir.appendingPathComponent("full.h5").path
        let t0 = Date()
        let p = scan(full)
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let seconds = Date().timeIntervalSince(t0)
        for (attempt, fraction) in [0.35, 0.75].enumerated() {
            let cut = dir.appendingPathComponent("cut\(attempt).h5").path
            let q = scan(cut)
            try q.run()
            Thread.sleep(forTimeInterval: fraction * seconds)
            kill(q.processIdentifier, SIGKILL)
            q.waitUntilExit()
            guard FileManager.default.fileExists(atPath: cut) else { continue }  // killed before the file existed
            if let problems = try? ScanFile.verify(path: cut) { XCTAssertEqual(problems, [], "finished scans of a killed run verify") }
            let r = scan(cut, extra: ["--resume"])
            try r.run(); r.waitUntilExit()
            XCTAssertEqual(r.terminationStatus, 0)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: cut)), try Data(contentsOf: URL(fileURLWithPath: full)),
                           "resumed after a kill at \(fraction) of the run")
        }
    }

    /// Accessories are fused like everything else in the scene: a beanie and a shirt on the
    /// MakeHuman head give scan vertices with their classes and geometry ids, on their surfaces;
    /// the same head without them gives none.
    func testAccessoriesAreFusedAndLabelled() throws {
        let m = try TestModels.makeHuman()
        let posed = m.pose(.neutral(for: m))
        var centre = SIMD3<Float>.zero
        for v in 0..<m.vertexCount { centre += posed.vertices.vec3(v) / Float(m.vertexCount) }
        let cameras = ScansTests.surroundRig(14, side: 112, distance: 0.6).map { c -> Camera in
            let eye = c.cameraToWorld.translation + centre
            return Camera.lookAt(eye: eye, target: centre, up: abs(normalize(eye - centre).y) > 0.9 ? SIMD3(0, 0, 1) : SIMD3(0, 1, 0),
                                 width: 112, height: 112, fx: 112 / 2 / 0.55)
        }
        var settings = ScanSettings()
        settings.resolution = 112; settings.voxelSize = 0.004; settings.sensorSamples = 2
        var outfit = Accessories()
        var hat = Accessories.Headwear(); hat.style = .beanie
        outfit.headwear = hat
        outfit.clothing = Accessories.Clothing()
        let headwear = SegmentationClass.headwear.rawValue, clothing = SegmentationClass.clothing.rawValue
        let names = HeadScene.geometryNames
        let dressed = try VirtualScanner(settings: settings).scan(model: m, labels: HeadLabelTable(model: m), posed: posed, global: .identity,
                                                                  groom: nil, accessories: outfit, cameras: cameras, seed: 1)
        var counts: [UInt8: Int] = [:], hd: [Float] = [], cd: [Float] = []
        for v in 0..<dressed.vertexCount {
            let c = dressed.vertexClass[v]
            counts[c, default: 0] += 1
            guard c == headwear || c == clothing else { continue }
            let layer = Int(dressed.vertexLayer[v])
            XCTAssertEqual(names[layer], c == headwear ? "headwear" : "clothing", "vertex \(v)")
            XCTAssertEqual(dressed.vertexSkin[v], 0)
            if c == headwear { hd.append(dressed.vertexDistance[v]) } else { cd.append(dressed.vertexDistance[v]) }
            // The shirt reaches below the neck cut, where the open head mesh has no inside.
            if c == headwear { XCTAssertGreaterThan(dressed.vertexHeadDistance[v], -settings.voxelSize, "headwear vertex \(v) inside the head") }
        }
        // The beanie is a closed shell: its vertices lie on it within half a voxel (median) and a
        // voxel (90 %). The shirt is a thin open sheet seen from both sides, which TSDF fusion
        // thickens by up to the truncation band (measured: the offsets halve with the voxel
        // size, 5.5 → 2.8 mm median at 4 → 2 mm voxels), so it only gets a looser bound.
        hd.sort(); cd.sort()
        print("headwear: \(hd.count) vertices, median \(hd[hd.count / 2]) m, p90 \(hd[hd.count * 9 / 10]) m; clothing: \(cd.count), median \(cd[cd.count / 2]) m, p90 \(cd[cd.count * 9 / 10]) m")
        XCTAssertLessThan(hd[hd.count / 2], settings.voxelSize / 2)
        XCTAssertLessThan(hd[hd.count * 9 / 10], settings.voxelSize)
        XCTAssertLessThan(cd[cd.count / 2], 2 * settings.voxelSize)
        XCTAssertLessThan(cd[cd.count * 9 / 10], 4 * settings.voxelSize)
        XCTAssertGreaterThan(counts[headwear, default: 0], 200, "\(counts)")
        XCTAssertGreaterThan(counts[clothing, default: 0], 200, "\(counts)")
        let bare = try VirtualScanner(settings: settings).scan(model: m, labels: HeadLabelTable(model: m), posed: posed, global: .identity,
                                                               groom: nil, accessories: nil, cameras: cameras, seed: 1)
        XCTAssertFalse(bare.vertexClass.contains(headwear) || bare.vertexClass.contains(clothing))
        XCTAssertTrue(bare.vertexLayer.allSatisfy { $0 == 0 })
    }
}
