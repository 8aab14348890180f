import Foundation
import Geometry
import Pickle
import TestSupport
import XCTest
@testable import HeadModels

/// The tiny FLAME written by Tests/Fixtures/make_flame_fixture.py: FLAME's exact file structure
/// (Python 2 protocol-2 pickle, chumpy arrays, csc regressor) with 74 vertices, 6 identity and
/// 4 expression components, and reference poses from a numpy port of FLAME's lbs.
final class FLAMEImporterTests: XCTestCase {
    func fixture(_ name: String) -> String { TestPaths.fixture("flame/" + name) }

    func load(texture: String? = "head_template_mesh.obj", masks: String? = "FLAME_masks.pkl",
              landmarks: String? = "landmark_embedding.npy", model: String? = nil) throws -> HeadModel {
        try FLAMEImporter.load(modelPath: model ?? fixture("generic_model.pkl"), texturePath: texture.map(fixture),
                               masksPath: masks.map(fixture), landmarksPath: landmarks.map(fixture), expressionCount: 4)
    }

    struct Reference {
        var identity: [Float], expression: [Float], pose: [Float], transl: [Float]
        var vertices: [Float], joints: [Float], landmarks: [Float]
    }

    func references() throws -> [Reference] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("reference_poses.json")))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        func floats(_ c: [String: Any], _ k: String) throws -> [Float] { try XCTUnwrap(c[k] as? [Double]).map { Float($0) } }
        return try cases.map {
            Reference(identity: try floats($0, "identity"), expression: try floats($0, "expression"), pose: try floats($0, "pose"),
                      transl: try floats($0, "transl"), vertices: try floats($0, "vertices"), joints: try floats($0, "joints"),
                      landmarks: try floats($0, "landmarks"))
        }
    }

    func testImportsFLAMEStructure() throws {
        let m = try load()
        XCTAssertEqual(m.name, "flame")
        XCTAssertEqual(m.vertexCount, 74)
        XCTAssertEqual(m.triangleCount, 136)
        XCTAssertEqual(m.identityCount, 6)
        XCTAssertEqual(m.identityScale, [Float](repeating: 1, count: 6))
        XCTAssertEqual(m.expressionNames, ["expression_000", "expression_001", "expression_002", "expression_003"])
        XCTAssertEqual(m.poseCorrectives?.count, 36 * 74 * 3)
        XCTAssertEqual(m.landmarks.count, 68)
        try m.validate()
        // The regressor rows are the fixture's averages: the left eye joint is the left eyeball's centre (+x).
        let joints = m.restJoints(shaped: m.template)
        XCTAssertEqual(joints[Joint.leftEye.rawValue].x, 0.032, accuracy: 1e-6)
        XCTAssertEqual(joints[Joint.rightEye.rawValue].x, -0.032, accuracy: 1e-6)
    }

    func testPosingMatchesNumpyFLAME() throws {
        let m = try load()
        let refs = try references()
        XCTAssertEqual(refs.count, 3)
        for (k, r) in refs.enumerated() {
            let rotations = (0..<5).map { SIMD3(r.pose[3 * $0], r.pose[3 * $0 + 1], r.pose[3 * $0 + 2]) }
            let params = HeadParameters(identity: r.identity, expression: r.expression, jointRotations: rotations,
                                        global: RigidTransform(translation: SIMD3(r.transl[0], r.transl[1], r.transl[2])))
            let posed = m.pose(params)
            assertClose(posed.vertices, r.vertices, tolerance: 1e-5, "case \(k) vertices")
            assertClose(posed.joints.flatMap { [$0.x, $0.y, $0.z] }, r.joints, tolerance: 1e-5, "case \(k) joints")
            assertClose(m.landmarkPositions(vertices: posed.vertices).flatMap { [$0.x, $0.y, $0.z] }, r.landmarks,
                        tolerance: 1e-5, "case \(k) landmarks")
        }
    }

    func testTextureNPZMatchesOBJ() throws {
        let a = try load(texture: "head_template_mesh.obj"), b = try load(texture: "FLAME_texture.npz")
        XCTAssertEqual(a.uvTriangles, b.uvTriangles)
        assertClose(a.texcoords, b.texcoords, tolerance: 1e-5, "vt")
        XCTAssertTrue(a.texcoords.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    func testRegionsFromMasks() throws {
        let m = try load()
        let counts = Dictionary(grouping: m.faceRegions, by: { $0 }).mapValues(\.count)
        for r in [Region.faceSkin, .scalp, .neck, .earLeft, .earRight, .nose, .lips, .eyelidLeft, .eyelidRight,
                  .scleraLeft, .scleraRight, .irisLeft, .irisRight] {
            XCTAssertGreaterThan(counts[r.rawValue] ?? 0, 0, "no faces in \(r)")
        }
        XCTAssertEqual(m.faces(in: .scleraLeft).count + m.faces(in: .irisLeft).count, 20)
        // Sides by geometry: the subject's left is +x; irises face forward (+z).
        func centroid(_ f: Int) -> SIMD3<Float> {
            (0..<3).map { m.template.vec3(Int(m.triangles[3 * f + $0])) }.reduce(.zero, +) / 3
        }
        for f in m.faces(in: .earLeft) + m.faces(in: .irisLeft) + m.faces(in: .scleraLeft) { XCTAssertGreaterThan(centroid(f).x, 0) }
        for f in m.faces(in: .earRight) + m.faces(in: .irisRight) + m.faces(in: .scleraRight) { XCTAssertLessThan(centroid(f).x, 0) }
        let eye = SIMD3<Float>(0.032, 0.03, 0.075)
        for f in m.faces(in: .irisLeft) { XCTAssertGreaterThan(normalize(centroid(f) - eye).z, FLAMEImporter.irisCapCosine) }
        for f in m.faces(in: .scleraLeft) { XCTAssertLessThanOrEqual(normalize(centroid(f) - eye).z, FLAMEImporter.irisCapCosine) }
    }

    func testGeometricFallbackWithoutMasks() throws {
        let m = try load(masks: nil)
        try m.validate()
        XCTAssertEqual(m.faces(in: .scleraLeft).count + m.faces(in: .irisLeft).count, 20)
        XCTAssertEqual(m.faces(in: .scleraRight).count + m.faces(in: .irisRight).count, 20)
        XCTAssertGreaterThan(m.faces(in: .irisLeft).count, 0)
        XCTAssertGreaterThan(m.faces(in: .scalp).count, 0)
        XCTAssertGreaterThan(m.faces(in: .neck).count, 0)
        XCTAssertGreaterThan(m.faces(in: .faceSkin).count, 0)
    }

    func testStaticEmbeddingGets17ContourPoints() throws {
        let full = try load()
        for masks in ["FLAME_masks.pkl", nil] {
            let m = try load(masks: masks, landmarks: "flame_static_embedding.pkl")
            XCTAssertEqual(m.landmarks.count, 68)
            XCTAssertEqual(Array(m.landmarks[17...]), Array(full.landmarks[17...]))
            try m.validate()
            XCTAssertEqual(m.landmarks, try load(masks: masks, landmarks: "flame_static_embedding.pkl").landmarks, "deterministic")
            let pts = m.landmarkPositions(vertices: m.template)
            for k in 0..<8 { XCTAssertLessThan(pts[k].x, pts[16 - k].x, "contour \(k) is on the subject's right (-x)") }
            XCTAssertLessThan(pts[8].y, pts[57].y, "chin below the lower lip")
            XCTAssertLessThan(pts[8].y, pts[0].y)
            XCTAssertLessThan(pts[8].y, pts[16].y)
            let truth = full.landmarkPositions(vertices: full.template)
            // Within about one vertex spacing (~3.5 cm on this 8-segment head) of the fixture's own contour.
            for k in 0..<17 { XCTAssertLessThan(length(pts[k] - truth[k]), 0.045, "contour point \(k)") }
        }
    }

    // MARK: Errors

    func testTruncatedModelNamesTheFile() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture("generic_model.pkl")))
        let path = TestPaths.temporaryDirectory(self).appendingPathComponent("generic_model.pkl").path
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try load(model: path)) { e in
            guard case let .truncated(file, _, _)? = e as? PickleError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, path)
        }
    }

    func testForeignPickleNamesShapedirs() throws {
        // {'a': 1} at protocol 2.
        let path = TestPaths.temporaryDirectory(self).appendingPathComponent("other.pkl").path
        try Data([0x80, 0x02, 0x7d, 0x71, 0x00, 0x55, 0x01, 0x61, 0x4b, 0x01, 0x73, 0x2e]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try load(model: path)) { e in
            guard case let .invalid(file, field, reason)? = e as? HeadModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(field, "shapedirs")
            XCTAssertTrue(reason.contains("not a FLAME model"), reason)
            XCTAssertTrue("\(e)".hasPrefix("\(path): shapedirs: missing"), "\(e)")
        }
        // The masks file is a pickle too, but not a model.
        XCTAssertThrowsError(try load(model: fixture("FLAME_masks.pkl"))) { e in
            XCTAssertEqual((e as? HeadModelError).map { if case let .invalid(_, f, _) = $0 { return f }; return "" }, "shapedirs")
        }
    }

    /// Rewrites bytes of the fixture model after the given key's name, returning the new file's path.
    func patchedModel(after key: String, find: [UInt8], replace: [UInt8]) throws -> String {
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("generic_model.pkl"))))
        let k = Array(key.utf8)
        let keyAt = try XCTUnwrap((0...(b.count - k.count)).first { Array(b[$0..<($0 + k.count)]) == k })
        let at = try XCTUnwrap((keyAt...(b.count - find.count)).first { Array(b[$0..<($0 + find.count)]) == find })
        b.replaceSubrange(at..<(at + find.count), with: replace)
        let path = TestPaths.temporaryDirectory(self).appendingPathComponent("generic_model.pkl").path
        try Data(b).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testNaNInTemplateNamesTheField() throws {
        // v_template[0] = (0, 0.11, 0): make the 0.11 a NaN.
        let path = try patchedModel(after: "v_template", find: withUnsafeBytes(of: (0.11).bitPattern.littleEndian, Array.init),
                                    replace: withUnsafeBytes(of: Double.nan.bitPattern.littleEndian, Array.init))
        XCTAssertThrowsError(try load(model: path)) { e in
            XCTAssertEqual(e as? HeadModelError, .invalid(file: path, field: "v_template", reason: "contains NaN or infinity"))
        }
    }

    func testWrongKinematicTreeIsRejected() throws {
        // kintree_table row 0 [-1, 0, 1, 1, 1] → [-1, 0, 0, 1, 1].
        let row: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        var bad = row
        bad[8] = 0
        let path = try patchedModel(after: "kintree_table", find: row, replace: bad)
        XCTAssertThrowsError(try load(model: path)) { e in
            guard case let .invalid(_, field, _)? = e as? HeadModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "kintree_table")
        }
    }

    func testMissingInputsAreExplained() throws {
        XCTAssertThrowsError(try load(texture: nil)) { e in XCTAssertTrue("\(e)".contains("head_template_mesh.obj"), "\(e)") }
        XCTAssertThrowsError(try load(landmarks: nil)) { e in XCTAssertTrue("\(e)".contains("landmark_embedding.npy"), "\(e)") }
        // A texture mesh with other vertices.
        XCTAssertThrowsError(try load(texture: "../pickle/fortran.npy")) { e in XCTAssertTrue("\(e)".contains("fortran.npy"), "\(e)") }
        // Landmarks from a file without landmark keys.
        XCTAssertThrowsError(try load(landmarks: "FLAME_masks.pkl")) { e in
            guard case let .invalid(_, field, _)? = e as? HeadModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "full_lmk_faces_idx")
        }
        // shapedirs too small for the expression count.
        XCTAssertThrowsError(try FLAMEImporter.load(modelPath: fixture("generic_model.pkl"), texturePath: fixture("head_template_mesh.obj"),
                                                    masksPath: nil, landmarksPath: fixture("landmark_embedding.npy"))) { e in
            guard case let .invalid(_, field, _)? = e as? HeadModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "shapedirs")
        }
    }
}
