import XCTest
import TestSupport
import Geometry
@testable import HeadModels

/// Imports ICT-FaceKit from ../shared/data once for all tests (about 10 s in a debug build).
enum ICTFixture {
    static let result: Result<HeadModel, Error> = Result {
        try ICTImporter.load(folder: try TestPaths.ictFaceKit())
    }
    static func model() throws -> HeadModel { try result.get() }
}

final class ICTImporterTests: XCTestCase {
    func testCountsLandmarksAndRegions() throws {
        let m = try ICTFixture.model()
        XCTAssertEqual(m.vertexCount, 26_719)
        XCTAssertEqual(m.identityCount, 100)
        XCTAssertEqual(m.expressionCount, 53)
        XCTAssertEqual(m.triangleCount, 52_220)
        // Landmarks sit exactly on the documented vertices.
        for (k, v) in ICTImporter.landmarkVertices.enumerated() {
            XCTAssertEqual(length(m.position(of: m.landmarks[k], vertices: m.template) - m.template.vec3(v)), 0, accuracy: 1e-7)
        }
        // iBUG 0 is the subject's right jaw (x < 0); 36–41 the right eye, 42–47 the left.
        let lm = m.landmarkPositions(vertices: m.template)
        XCTAssertLessThan(lm[0].x, 0); XCTAssertGreaterThan(lm[16].x, 0)
        XCTAssertTrue((36...41).allSatisfy { lm[$0].x < 0 } && (42...47).allSatisfy { lm[$0].x > 0 })
        XCTAssertEqual(lm.indices.max { lm[$0].z < lm[$1].z }, 30, "nose tip is the most forward landmark")

        // Every face has a known region, and every region but the neck's own subdivisions exists.
        XCTAssertEqual(m.faceRegions.count, m.triangleCount)
        for r in Region.allCases { XCTAssertFalse(m.faces(in: r).isEmpty, "no faces in \(r)") }
        func centroid(_ r: Region) -> SIMD3<Float> {
            let vs = m.vertices(in: [r])
            return vs.map { m.template.vec3($0) }.reduce(.zero, +) / Float(vs.count)
        }
        XCTAssertGreaterThan(centroid(.earLeft).x, 0.06); XCTAssertLessThan(centroid(.earRight).x, -0.06)
        XCTAssertGreaterThan(centroid(.nose).z, centroid(.faceSkin).z)
        XCTAssertGreaterThan(centroid(.scalp).y, centroid(.nose).y)
        XCTAssertLessThan(centroid(.neck).y, centroid(.lips).y)
        XCTAssertGreaterThan(centroid(.irisLeft).x, 0); XCTAssertLessThan(centroid(.irisRight).x, 0)
        XCTAssertGreaterThan(centroid(.irisLeft).z, centroid(.scleraLeft).z, "the iris faces forward")
    }

    func testRestPoseAndLinearBases() throws {
        let m = try ICTFixture.model()
        assertClose(m.pose(.neutral(for: m)).vertices, m.template, tolerance: 1e-6, "rest pose")
        var p = HeadParameters.neutral(for: m)
        p.expression[ICTImporter.expressionNames.firstIndex(of: "jawOpen")!] = 1
        p.identity[0] = 1
        // Shape files are absolute: neutral + mode reproduces identity000.obj exactly (in metres).
        let jawOpenFile = try OBJMesh.read(path: try TestPaths.ictFaceKit() + "/jawOpen.obj", positionsOnly: true)
        var q = HeadParameters.neutral(for: m)
        q.expression[ICTImporter.expressionNames.firstIndex(of: "jawOpen")!] = 1
        assertClose(m.pose(q).vertices, jawOpenFile.positions.map { $0 * 0.01 }, tolerance: 1e-6, "jawOpen")
        let both = m.pose(p).vertices
        let id = m.shaped(identity: [1], expression: []), ex = m.pose(q).vertices
        assertClose(both, (0..<both.count).map { id[$0] + ex[$0] - m.template[$0] }, tolerance: 1e-6, "linearity")
    }

    func testEyesStayInTheirSockets() throws {
        let m = try ICTFixture.model()
        let joints = m.restJoints(shaped: m.template)
        var p = HeadParameters.neutral(for: m)
        p.jointRotations[Joint.leftEye.rawValue] = SIMD3(0.2, 0.35, 0)
        p.jointRotations[Joint.rightEye.rawValue] = SIMD3(-0.15, -0.3, 0)
        let posed = m.pose(p).vertices
        for (joint, range) in ICTImporter.eyeballVertices {
            let c = joints[joint.rawValue]
            // The eye joint is inside the eyeball, behind the iris, in its socket.
            let iris = m.vertices(in: [joint == .leftEye ? .irisLeft : .irisRight]).map { m.template.vec3($0) }
            let irisCentre = iris.reduce(.zero, +) / Float(iris.count)
            XCTAssertLessThan(c.z, irisCentre.z)
            let dxy = SIMD2<Float>(c.x - irisCentre.x, c.y - irisCentre.y)
            XCTAssertLessThan((dxy * dxy).sum().squareRoot(), 0.004)
            var maxMove: Float = 0
            for i in range {
                // Rigid about the joint: radius preserved.
                XCTAssertEqual(length(posed.vec3(i) - c), length(m.template.vec3(i) - c), accuracy: 2e-6)
                maxMove = max(maxMove, length(posed.vec3(i) - m.template.vec3(i)))
            }
            XCTAssertGreaterThan(maxMove, 0.003, "the eye turned")
        }
        // Nothing outside the eyeballs moves.
        let eyes = Set(ICTImporter.eyeballVertices.values.flatMap { Array($0) })
        for i in stride(from: 0, to: m.vertexCount, by: 7) where !eyes.contains(i) {
            XCTAssertEqual(length(posed.vec3(i) - m.template.vec3(i)), 0, accuracy: 1e-7)
        }
    }

    func testJawRotatesAboutAPlausibleHinge() throws {
        let m = try ICTFixture.model()
        let j = m.restJoints(shaped: m.template)
        let lm = m.landmarkPositions(vertices: m.template)
        let jaw = j[Joint.jaw.rawValue]
        // Mid-sagittal, between the ears in depth, below the eyes, above the chin, behind the mouth.
        XCTAssertEqual(jaw.x, 0, accuracy: 0.002)
        XCTAssertLessThan(jaw.y, lm[36].y); XCTAssertGreaterThan(jaw.y, lm[8].y)
        XCTAssertLessThan(jaw.z, lm[48].z - 0.03)
        var p = HeadParameters.neutral(for: m)
        p.jointRotations[Joint.jaw.rawValue] = SIMD3(0.25, 0, 0)
        let posed = m.pose(p).vertices
        let chin = m.position(of: m.landmarks[8], vertices: posed) - lm[8]
        XCTAssertLessThan(chin.y, -0.01, "the chin drops")
        XCTAssertLessThan(chin.z, 0, "and swings back")
        for v in [ICTImporter.landmarkVertices[27], ICTImporter.landmarkVertices[19]] + Array(ICTImporter.upperTeethVertices.prefix(50)) {
            XCTAssertEqual(length(posed.vec3(v) - m.template.vec3(v)), 0, accuracy: 1e-6, "upper face moves")
        }
        // Lower teeth move rigidly about the jaw joint.
        for v in ICTImporter.lowerTeethVertices.prefix(100) {
            XCTAssertEqual(length(posed.vec3(v) - jaw), length(m.template.vec3(v) - jaw), accuracy: 2e-6)
        }
    }

    func testNeckTurnsTheHeadAndKeepsTheBase() throws {
        let m = try ICTFixture.model()
        var p = HeadParameters.neutral(for: m)
        p.jointRotations[Joint.neck.rawValue] = SIMD3(0, 0.5, 0)
        let posed = m.pose(p).vertices
        let nose = m.position(of: m.landmarks[30], vertices: posed)
        XCTAssertGreaterThan(nose.x, 0.03, "a positive yaw turns the face toward the subject's left")
        let minY = m.template.enumerated().filter { $0.offset % 3 == 1 }.map(\.element).min()!
        for i in 0..<m.vertexCount where m.template[3 * i + 1] < minY + 0.005 {
            XCTAssertEqual(length(posed.vec3(i) - m.template.vec3(i)), 0, accuracy: 1e-5, "neck base moved")
        }
    }

    func testSampledHeadsArePlausible() throws {
        let m = try ICTFixture.model()
        let s = HeadSampler()
        for k in 0..<5 {
            let posed = m.pose(s.sample(m, seed: 7, index: UInt64(k)))
            XCTAssertTrue(posed.vertices.allFinite)
            let lm = m.landmarkPositions(vertices: posed.vertices)
            let eyeDistance = length(lm[36] - lm[45])
            XCTAssertGreaterThan(eyeDistance, 0.07); XCTAssertLessThan(eyeDistance, 0.12)
        }
    }

    func testBadShapeFilesAreNamedErrors() throws {
        let src = try TestPaths.ictFaceKit()
        let dir = TestPaths.temporaryDirectory(self)
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: src) {
            try fm.createSymbolicLink(atPath: dir.appendingPathComponent(name).path, withDestinationPath: src + "/" + name)
        }
        // A shape file with one vertex missing.
        let target = dir.appendingPathComponent("identity007.obj").path
        try fm.removeItem(atPath: target)
        let lines = try String(contentsOfFile: src + "/identity007.obj", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var dropped = false
        let kept = lines.filter { l in if !dropped && l.hasPrefix("v ") { dropped = true; return false }; return true }
        try kept.joined(separator: "\n").write(toFile: target, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ICTImporter.load(folder: dir.path, identityModes: 10)) { e in
            XCTAssertTrue("\(e)".contains("identity007.obj") && "\(e)".contains("26718 vertices"), "\(e)")
        }
        // A missing expression file.
        try fm.removeItem(atPath: target)
        try fm.createSymbolicLink(atPath: target, withDestinationPath: src + "/identity007.obj")
        try fm.removeItem(atPath: dir.appendingPathComponent("mouthPucker.obj").path)
        XCTAssertThrowsError(try ICTImporter.load(folder: dir.path, identityModes: 10)) { e in
            XCTAssertTrue("\(e)".contains("mouthPucker.obj") && "\(e)".contains("no such file"), "\(e)")
        }
    }
}
