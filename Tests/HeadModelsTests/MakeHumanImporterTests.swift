import XCTest
import TestSupport
@testable import HeadModels

/// Tests of the MakeHuman importer on the real assets (skipped when Assets/makehuman is absent).
final class MakeHumanImporterTests: XCTestCase {
    /// Loaded once for all tests in this class.
    nonisolated(unsafe) static var cached: (model: HeadModel, identityNames: [String], seconds: Double)?

    func loaded() throws -> (model: HeadModel, identityNames: [String], seconds: Double) {
        let assets = try TestPaths.makeHumanAssets()
        if let c = Self.cached { return c }
        let start = Date()
        let (model, names) = try MakeHumanImporter.loadNamed(assets: assets)
        let c = (model, names, Date().timeIntervalSince(start))
        Self.cached = c
        return c
    }

    func testValidatesWithPlausibleCounts() throws {
        let (m, names, seconds) = try loaded()
        XCTAssertNoThrow(try m.validate())
        print("makehuman: \(m.vertexCount) vertices, \(m.triangleCount) triangles, \(m.texcoords.count / 2) uvs, "
              + "\(m.identityCount) identity, \(m.expressionCount) expression modes, load \(String(format: "%.2f", seconds)) s")
        XCTAssert((4_000...12_000).contains(m.vertexCount), "\(m.vertexCount) vertices")
        XCTAssert((8_000...24_000).contains(m.triangleCount), "\(m.triangleCount) triangles")
        XCTAssert((80...200).contains(m.identityCount), "\(m.identityCount) identity modes")
        XCTAssertEqual(names.count, m.identityCount)
        XCTAssertEqual(Set(names).count, names.count, "identity names are unique")
        XCTAssertEqual(m.expressionCount, 52)
        XCTAssertNil(m.poseCorrectives)
        for name in ["jawOpen", "eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "browInnerUp", "tongueOut", "jawLeft"] {
            XCTAssert(m.expressionNames.contains(name), "expression \(name)")
        }
        XCTAssert(names.contains("nose/nose-width1-decr|incr"))
        XCTAssert(names.contains("macro/gender-female|male"))
        XCTAssertFalse(names.contains { $0.hasPrefix("head/head-trans") || $0.hasPrefix("head/head-angle") }, "rigid head moves are not identity")

        // Metres, +y up, face toward +z: a head is ~0.2–0.35 m tall here (with neck), eyes in front.
        let ys = stride(from: 1, to: m.template.count, by: 3).map { m.template[$0] }
        let height = ys.max()! - ys.min()!
        XCTAssert((0.2...0.45).contains(height), "head+neck height \(height) m")
        XCTAssertLessThan(seconds, 10, "load time")
    }

    func testEveryFaceHasAPlausibleRegion() throws {
        let (m, _, _) = try loaded()
        XCTAssertEqual(m.faceRegions.count, m.triangleCount)
        for r in [Region.faceSkin, .scalp, .neck, .earLeft, .earRight, .nose, .lips, .eyelidLeft, .eyelidRight,
                  .scleraLeft, .scleraRight, .irisLeft, .irisRight, .teeth, .mouthInterior, .eyelashes] {
            XCTAssertFalse(m.faces(in: r).isEmpty, "no faces in \(r)")
        }
        func centre(_ regions: Set<Region>) -> SIMD3<Float> {
            let vs = m.vertices(in: regions)
            return vs.reduce(SIMD3<Float>.zero) { $0 + m.template.vec3($1) } / Float(vs.count)
        }
        func extent(_ regions: Set<Region>, _ axis: Int) -> (Float, Float) {
            let vals = m.vertices(in: regions).map { m.template[3 * $0 + axis] }
            return (vals.min()!, vals.max()!)
        }
        let face = centre([.faceSkin]), nose = centre([.nose]), scalp = centre([.scalp]), neck = centre([.neck])
        let earL = centre([.earLeft]), earR = centre([.earRight])
        let skin = centre([.faceSkin, .scalp, .neck, .earLeft, .earRight, .nose, .lips, .eyelidLeft, .eyelidRight])
        let (_, xMax) = extent([.faceSkin, .scalp, .neck, .nose, .lips], 0)
        // Ears: far out to the sides, on the correct side, behind the face.
        XCTAssertGreaterThan(earL.x, 0.6 * xMax); XCTAssertLessThan(earR.x, -0.6 * xMax)
        XCTAssertLessThan(earL.z, face.z)
        // Nose: the most forward region of the skin; its tip is the most forward skin point.
        let (_, noseZMax) = extent([.nose], 2)
        let (_, skinZMax) = extent([.faceSkin, .scalp, .neck, .earLeft, .earRight, .lips, .eyelidLeft, .eyelidRight], 2)
        XCTAssertGreaterThan(nose.z, face.z); XCTAssertGreaterThan(noseZMax, skinZMax)
        // Scalp high and back, neck low.
        XCTAssertGreaterThan(scalp.y, face.y); XCTAssertLessThan(scalp.z, face.z)
        XCTAssertLessThan(neck.y, face.y); XCTAssertLessThan(neck.y, skin.y)
        // Lips below the nose, eyelids above it, each on its side.
        XCTAssertLessThan(centre([.lips]).y, nose.y)
        XCTAssertGreaterThan(centre([.eyelidLeft]).x, 0); XCTAssertLessThan(centre([.eyelidRight]).x, 0)
        XCTAssertGreaterThan(centre([.eyelidLeft]).y, nose.y)
        // Irises in front of their scleras.
        XCTAssertGreaterThan(centre([.irisLeft]).z, centre([.scleraLeft]).z)
        XCTAssertGreaterThan(centre([.irisLeft]).x, 0); XCTAssertLessThan(centre([.irisRight]).x, 0)
        // Teeth and mouth interior behind the lips.
        XCTAssertLessThan(centre([.teeth]).z, centre([.lips]).z)
        XCTAssertLessThan(centre([.mouthInterior]).z, centre([.lips]).z)
    }

    func testEyesAreSkinnedToTheEyeJoints() throws {
        let (m, _, _) = try loaded()
        let j = HeadModel.jointCount
        for (regions, joint) in [(Set([Region.scleraLeft, .irisLeft]), Joint.leftEye), (Set([Region.scleraRight, .irisRight]), Joint.rightEye)] {
            let vs = m.vertices(in: regions)
            XCTAssertFalse(vs.isEmpty)
            for v in vs { XCTAssertEqual(m.skinningWeights[v * j + joint.rawValue], 1, accuracy: 1e-5, "vertex \(v)") }
        }
        // Lower teeth follow the jaw; the scalp does not.
        let teeth = m.vertices(in: [.teeth])
        XCTAssert(teeth.contains { m.skinningWeights[$0 * j + Joint.jaw.rawValue] > 0.9 })
        for v in m.vertices(in: [.scalp]) { XCTAssertLessThan(m.skinningWeights[v * j + Joint.jaw.rawValue], 0.5) }
    }

    func testJointsArePlausible() throws {
        let (m, _, _) = try loaded()
        let n = m.vertexCount
        func joint(_ jt: Joint, _ shape: [Float]) -> SIMD3<Float> {
            var p = SIMD3<Float>.zero
            for v in 0..<n { let w = m.jointRegressor[jt.rawValue * n + v]; if w != 0 { p += w * shape.vec3(v) } }
            return p
        }
        let root = joint(.root, m.template), neck = joint(.neck, m.template), jaw = joint(.jaw, m.template)
        let le = joint(.leftEye, m.template), re = joint(.rightEye, m.template)
        XCTAssertLessThan(root.y, neck.y); XCTAssertLessThan(neck.y, le.y)
        XCTAssertGreaterThan(le.x, 0.02); XCTAssertLessThan(re.x, -0.02)
        XCTAssertEqual(le.x, -re.x, accuracy: 1e-4); XCTAssertEqual(le.y, re.y, accuracy: 1e-4)
        XCTAssertGreaterThan(le.z, jaw.z)
        XCTAssertEqual(jaw.x, 0, accuracy: 1e-4); XCTAssertEqual(root.x, 0, accuracy: 1e-4)
        // Joint regressor rows sum to 1 (affine), so joints move with rigid translations of the shape.
        for jt in Joint.allCases {
            let s = m.jointRegressor[(jt.rawValue * n)..<(jt.rawValue * n + n)].reduce(0, +)
            XCTAssertEqual(s, 1, accuracy: 1e-3, "\(jt)")
        }
    }

    func testIdentityModesAreNonZeroAndLinear() throws {
        let (m, names, _) = try loaded()
        let n3 = 3 * m.vertexCount
        for k in 0..<m.identityCount {
            let mode = m.identityBasis[(k * n3)..<((k + 1) * n3)]
            let top = mode.reduce(Float(0)) { max($0, abs($1)) }
            XCTAssertGreaterThan(top, 1e-4, "mode \(k) \(names[k]) is zero")
            XCTAssertLessThan(top, 0.2, "mode \(k) \(names[k]) moves \(top) m")
            XCTAssertGreaterThan(m.identityScale[k], 0); XCTAssertLessThanOrEqual(m.identityScale[k], 1)
            // One std-dev moves a vertex by at most a few millimetres.
            XCTAssertLessThan(top * m.identityScale[k], 0.02, "\(names[k])")
        }
        // Linearity: shape(2c) − shape(c) = shape(c) − shape(0) for a mix of modes.
        let coeffs = (0..<m.identityCount).map { Float(($0 % 7) - 3) * 0.1 * m.identityScale[$0] }
        func shape(_ t: Float) -> [Float] {
            var s = m.template
            for k in 0..<m.identityCount where coeffs[k] != 0 {
                let c = t * coeffs[k]
                for i in 0..<n3 { s[i] += c * m.identityBasis[k * n3 + i] }
            }
            return s
        }
        let s0 = shape(0), s1 = shape(1), s2 = shape(2)
        assertClose(zip(s2, s1).map { $0 - $1 }, zip(s1, s0).map { $0 - $1 }, tolerance: 1e-5, "linear")
        // Helper geometry follows identity: some mode moves the eyeballs and the teeth.
        for r in [Region.irisLeft, .teeth] {
            let vs = m.vertices(in: [r])
            let moved = (0..<m.identityCount).contains { k in vs.contains { v in
                abs(m.identityBasis[k * n3 + 3 * v]) + abs(m.identityBasis[k * n3 + 3 * v + 1]) + abs(m.identityBasis[k * n3 + 3 * v + 2]) > 1e-4 } }
            XCTAssert(moved, "\(r) never moves with identity")
        }
    }

    func testExpressionsMoveTheRightParts() throws {
        let (m, _, _) = try loaded()
        let n3 = 3 * m.vertexCount
        func mode(_ name: String) -> ArraySlice<Float> {
            let k = m.expressionNames.firstIndex(of: name)!
            return m.expressionBasis[(k * n3)..<((k + 1) * n3)]
        }
        // jawOpen moves the chin down; eyeBlink_L moves vertices on the subject's left (+x).
        let jaw = mode("jawOpen")
        let lm8 = m.landmarks[8]
        let chin = Int(m.triangles[3 * Int(lm8.triangle)])
        XCTAssertLessThan(jaw[jaw.startIndex + 3 * chin + 1], -0.005)
        let blink = mode("eyeBlink_L")
        var sx: Float = 0, w: Float = 0
        for v in 0..<m.vertexCount {
            let d = abs(blink[blink.startIndex + 3 * v + 1]); sx += d * m.template[3 * v]; w += d
        }
        XCTAssertGreaterThan(sx / w, 0.01)
    }

    func testLandmarks() throws {
        let (m, _, _) = try loaded()
        func point(_ k: Int) -> SIMD3<Float> {
            let l = m.landmarks[k]
            var p = SIMD3<Float>.zero
            for c in 0..<3 { p += l.barycentric[c] * m.template.vec3(Int(m.triangles[3 * Int(l.triangle) + c])) }
            return p
        }
        let pts = (0..<68).map(point)
        let tip = pts[30]
        for k in 0..<68 where k != 30 { XCTAssertLessThan(pts[k].z, tip.z, "landmark \(k) ahead of the nose tip") }
        for k in 36...41 { XCTAssertLessThan(pts[k].x, 0, "right eye landmark \(k)") }
        for k in 42...47 { XCTAssertGreaterThan(pts[k].x, 0, "left eye landmark \(k)") }
        XCTAssertLessThan(pts[0].x, 0); XCTAssertGreaterThan(pts[16].x, 0)
        XCTAssertLessThan(pts[8].y, pts[57].y); XCTAssertLessThan(pts[57].y, pts[33].y)
        XCTAssertLessThan(pts[33].y, pts[30].y); XCTAssertLessThan(pts[30].y, pts[27].y)
        XCTAssertGreaterThan(pts[19].y, pts[37].y); XCTAssertGreaterThan(pts[24].y, pts[44].y)
        for k in [8, 27, 28, 29, 30, 33, 51, 57, 62, 66] { XCTAssertEqual(pts[k].x, 0, accuracy: 1e-4, "midline \(k)") }
        // Landmarks sit on skin faces of the right kind.
        let r = { (k: Int) in Region(rawValue: m.faceRegions[Int(m.landmarks[k].triangle)])! }
        XCTAssert(r(30) == .nose, "nose tip region \(r(30))")
    }

    func testMissingAndTruncatedFilesAreReported() throws {
        let assets = try TestPaths.makeHumanAssets()
        let dir = TestPaths.temporaryDirectory(self).path
        XCTAssertThrowsError(try MakeHumanImporter.load(assets: dir + "/nowhere")) { e in
            XCTAssert("\(e)".contains("nowhere"), "\(e)")
        }
        // A copy of the assets (links, except the files we spoil) with one file removed, then truncated.
        let copy = dir + "/mh"
        let fm = FileManager.default
        try fm.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for entry in try fm.contentsOfDirectory(atPath: assets) {
            if entry == "faceunits" || entry == "weights.default.json" {
                try fm.copyItem(atPath: assets + "/" + entry, toPath: copy + "/" + entry)
            } else {
                try fm.createSymbolicLink(atPath: copy + "/" + entry, withDestinationPath: assets + "/" + entry)
            }
        }
        let unit = copy + "/faceunits/jawOpen.target"
        try FileManager.default.removeItem(atPath: unit)
        XCTAssertThrowsError(try MakeHumanImporter.load(assets: copy)) { e in
            XCTAssert("\(e)".contains("jawOpen.target"), "\(e)")
        }
        try "35 0 -.001 0\n42 0".write(toFile: unit, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MakeHumanImporter.load(assets: copy)) { e in
            XCTAssert("\(e)".contains("jawOpen.target") && "\(e)".contains("line 2"), "\(e)")
        }
        try "35 0 -.001 0\n".write(toFile: unit, atomically: true, encoding: .utf8)
        let weights = copy + "/weights.default.json"
        let text = try String(contentsOfFile: weights, encoding: .utf8)
        try String(text.prefix(text.count / 2)).write(toFile: weights, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MakeHumanImporter.load(assets: copy)) { e in
            XCTAssert("\(e)".contains("weights.default.json"), "\(e)")
        }
    }

    /// Writes the model for inspection when MH_DUMP names a folder (used to render the plots).
    func testDumpForInspection() throws {
        guard let out = ProcessInfo.processInfo.environment["MH_DUMP"] else { throw XCTSkip("set MH_DUMP=<folder> to dump") }
        let (m, names, _) = try loaded()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        func write<T>(_ a: [T], _ name: String) throws {
            try a.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: out + "/" + name)) }
        }
        try write(m.template, "template.f32"); try write(m.triangles, "triangles.i32")
        try write(m.faceRegions, "regions.u8"); try write(m.identityBasis, "identity.f32")
        try write(m.identityScale, "scale.f32"); try write(m.expressionBasis, "expression.f32")
        try write(m.skinningWeights, "weights.f32"); try write(m.jointRegressor, "regressor.f32")
        try write(m.texcoords, "uv.f32"); try write(m.uvTriangles, "uvtri.i32")
        try write(m.landmarks.flatMap { [Float($0.triangle), $0.barycentric.x, $0.barycentric.y, $0.barycentric.z] }, "landmarks.f32")
        try (names.joined(separator: "\n") + "\n").write(toFile: out + "/identity_names.txt", atomically: true, encoding: .utf8)
        try (m.expressionNames.joined(separator: "\n") + "\n").write(toFile: out + "/expression_names.txt", atomically: true, encoding: .utf8)
    }
}
