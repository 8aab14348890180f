import XCTest
import TestSupport
import Geometry
import HDF5
@testable import HeadModels

final class PosingTests: XCTestCase {
    func testToyModelIsValid() throws { try makeToyModel().validate() }

    func testRestPoseReproducesTemplate() {
        let m = makeToyModel()
        let posed = m.pose(.neutral(for: m))
        assertClose(posed.vertices, m.template, tolerance: 1e-7, "rest pose")
    }

    func testShapeBasesAreLinear() {
        let m = makeToyModel()
        var rng = SplitMix64(seed: 5)
        var a = HeadParameters.neutral(for: m), b = a, ab = a
        for k in 0..<m.identityCount { a.identity[k] = rng.normal(); b.identity[k] = rng.normal(); ab.identity[k] = a.identity[k] + 2 * b.identity[k] }
        for k in 0..<m.expressionCount { a.expression[k] = rng.normal(); b.expression[k] = rng.normal(); ab.expression[k] = a.expression[k] + 2 * b.expression[k] }
        let t = m.template, pa = m.pose(a).vertices, pb = m.pose(b).vertices, pab = m.pose(ab).vertices
        var lhs = [Float](), rhs = [Float]()
        for i in 0..<t.count {
            lhs.append(pab[i] - t[i])
            let da: Float = pa[i] - t[i], db: Float = pb[i] - t[i]
            rhs.append(da + 2 * db)
        }
        assertClose(lhs, rhs, tolerance: 1e-6, "linearity")
    }

    func testGlobalTransformIsRigidAndJointsFollow() {
        let m = makeToyModel(correctives: false)
        var p = HeadParameters.neutral(for: m)
        p.global = RigidTransform(rotation: .rotation(axisAngle: SIMD3(0.3, -0.2, 0.1)), translation: SIMD3(1, 2, 3))
        let posed = m.pose(p)
        for i in 0..<m.vertexCount {
            XCTAssertEqual(length(posed.vertices.vec3(i) - p.global.apply(m.template.vec3(i))), 0, accuracy: 1e-5)
        }
        let rest = m.restJoints(shaped: m.template)
        for j in 0..<HeadModel.jointCount { XCTAssertEqual(length(posed.joints[j] - p.global.apply(rest[j])), 0, accuracy: 1e-5) }
    }

    func testEyeRotationIsRigidAboutTheEyeJoint() {
        let m = makeToyModel(correctives: false)
        var p = HeadParameters.neutral(for: m)
        p.jointRotations[Joint.leftEye.rawValue] = SIMD3(0.2, 0.4, 0)
        let posed = m.pose(p)
        let centre = m.restJoints(shaped: m.template)[Joint.leftEye.rawValue]
        for i in 6..<10 {
            XCTAssertEqual(length(posed.vertices.vec3(i) - centre), length(m.template.vec3(i) - centre), accuracy: 1e-6)
        }
        // Skull vertices fully skinned to the neck do not move; the pose correctives only see the eye.
        XCTAssertNotEqual(posed.vertices.vec3(6), m.template.vec3(6))
    }

    func testSamplingIsDeterministicAndSeedDependent() {
        let m = makeToyModel()
        let s = HeadSampler()
        XCTAssertEqual(s.sample(m, seed: 1, index: 4), s.sample(m, seed: 1, index: 4))
        XCTAssertNotEqual(s.sample(m, seed: 1, index: 4), s.sample(m, seed: 1, index: 5))
        XCTAssertNotEqual(s.sample(m, seed: 2, index: 4), s.sample(m, seed: 1, index: 4))
        for k in 0..<50 {
            let p = s.sample(m, seed: 9, index: UInt64(k))
            XCTAssertTrue(p.identity.allSatisfy { $0.isFinite })
            for (i, c) in p.identity.enumerated() { XCTAssertLessThanOrEqual(abs(c), 3 * m.identityScale[i] + 1e-6) }
            XCTAssertLessThanOrEqual(length(p.jointRotations[Joint.neck.rawValue]), 0.7)
            XCTAssertEqual(p.jointRotations[Joint.root.rawValue], .zero)
        }
    }

    func testModelFileRoundTripAndErrors() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("toy.h5").path
        let m = makeToyModel()
        try HeadModelFile.write(m, to: path)
        let back = try HeadModelFile.read(path: path)
        XCTAssertEqual(back.template, m.template)
        XCTAssertEqual(back.triangles, m.triangles)
        XCTAssertEqual(back.identityBasis, m.identityBasis)
        XCTAssertEqual(back.expressionNames, m.expressionNames)
        XCTAssertEqual(back.poseCorrectives, m.poseCorrectives)
        XCTAssertEqual(back.faceRegions, m.faceRegions)
        XCTAssertEqual(back.landmarks, m.landmarks)
        XCTAssertEqual(back.skinningWeights, m.skinningWeights)

        // NaN in a basis: refused on write, naming the field, and nothing is left behind.
        var bad = m
        bad.identityBasis[7] = .nan
        let badPath = dir.appendingPathComponent("bad.h5").path
        XCTAssertThrowsError(try HeadModelFile.write(bad, to: badPath)) { e in XCTAssertTrue("\(e)".contains("identity_basis"), "\(e)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: badPath))
        // Unknown region id.
        bad = m; bad.faceRegions[0] = 200
        XCTAssertThrowsError(try bad.validate(file: "x")) { e in XCTAssertTrue("\(e)".contains("face_regions"), "\(e)") }
        // A foreign HDF5 file.
        let foreign = dir.appendingPathComponent("foreign.h5").path
        try HDF5File.writeAtomically(path: foreign) { try $0.write("x", [Float(1)], shape: [1]) }
        XCTAssertThrowsError(try HeadModelFile.read(path: foreign)) { e in XCTAssertTrue("\(e)".contains("@format"), "\(e)") }
        // A truncated model file.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: badPath))
        XCTAssertThrowsError(try HeadModelFile.read(path: badPath))
    }

    func testSampledMeshReadsBackAsAValidMesh() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let m = makeToyModel()
        let posed = m.pose(HeadSampler().sample(m, seed: 3))
        let obj = dir.appendingPathComponent("s.obj").path
        try m.mesh(posed).writeOBJ(path: obj)
        let back = try OBJMesh.read(path: obj)
        XCTAssertEqual(back.vertexCount, m.vertexCount)
        assertClose(back.positions, posed.vertices, tolerance: 1e-5, "OBJ positions")
        XCTAssertEqual(back.triangulated().triangles, m.triangles)
        XCTAssertEqual(back.texcoords.count, m.texcoords.count)
    }
}
