import XCTest
import TestSupport
@testable import Geometry

final class RotationTests: XCTestCase {
    func testRodriguesMatchesSeriesAndIsOrthonormal() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<50 {
            let w = SIMD3<Float>(rng.normal(), rng.normal(), rng.normal()) * 0.8
            let r = Mat3.rotation(axisAngle: w)
            let rtr = r.transposed * r
            for i in 0..<3 { for j in 0..<3 { XCTAssertEqual(rtr[i, j], i == j ? 1 : 0, accuracy: 1e-5) } }
            XCTAssertEqual(r.determinant, 1, accuracy: 1e-5)
            // The axis is fixed by the rotation.
            let axis = r * w
            XCTAssertEqual(length(axis - w), 0, accuracy: 1e-5)
            // Round trip through axisAngle.
            XCTAssertEqual(length(r.axisAngle - w), 0, accuracy: 1e-4)
        }
    }

    func testQuarterTurnAboutX() {
        // +y goes to +z under a positive rotation about +x (right-handed).
        let r = Mat3.rotation(axisAngle: SIMD3(Float.pi / 2, 0, 0))
        XCTAssertEqual(length(r * SIMD3(0, 1, 0) - SIMD3(0, 0, 1)), 0, accuracy: 1e-6)
    }

    func testDerivedStreamsAreIndependentOfConsumption() {
        var a = SplitMix64(seed: 42)
        let d1 = a.derive(7)
        _ = a.next()
        let b = SplitMix64(seed: 42)
        var x = d1, y = b.derive(7)
        XCTAssertEqual(x.next(), y.next())
        var z = b.derive(8)
        XCTAssertNotEqual(b.derive(7).state, z.state)
        _ = z.next()
    }
}

final class MeshFileTests: XCTestCase {
    func testOBJQuadsTriangulateAndKeepUVs() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("quad.obj").path
        try "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl skin\nf 1/1 2/2 3/3 4/4\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let obj = try OBJMesh.read(path: path)
        XCTAssertEqual(obj.vertexCount, 4)
        XCTAssertEqual(obj.materials, ["skin"])
        let (tris, uvs, from) = obj.triangulated()
        XCTAssertEqual(tris, [0, 1, 2, 0, 2, 3])
        XCTAssertEqual(uvs, [0, 1, 2, 0, 2, 3])
        XCTAssertEqual(from, [0, 0])
    }

    func testOBJErrorsNameFileAndLine() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("bad.obj").path
        try "v 0 0 0\nv 1 nan 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try OBJMesh.read(path: path)) { e in
            XCTAssertEqual(e as? MeshFileError, .malformed(path: path, line: 2, reason: "non-finite number"))
        }
        try "v 0 0 0\nv 1 0 0\nf 1 2 5\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try OBJMesh.read(path: path)) { e in XCTAssertTrue("\(e)".contains("vertex 5")) }
        XCTAssertThrowsError(try OBJMesh.read(path: dir.appendingPathComponent("missing.obj").path)) { e in
            XCTAssertTrue("\(e)".contains("no such file"))
        }
    }

    func testWrittenOBJAndPLYReadBack() throws {
        let dir = TestPaths.temporaryDirectory(self)
        // A tetrahedron with a UV seam at vertex 0.
        let mesh = TriangleMesh(positions: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
                                triangles: [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3],
                                texcoords: [0, 0, 1, 0, 0, 1, 0.5, 0.5, 0.9, 0.9],
                                uvTriangles: [0, 2, 1, 4, 1, 3, 0, 3, 2, 1, 2, 3])
        let obj = dir.appendingPathComponent("t.obj").path
        try mesh.writeOBJ(path: obj)
        try mesh.writeOBJ(path: obj)  // overwriting an existing file replaces it atomically
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["t.obj"])
        let back = try OBJMesh.read(path: obj)
        XCTAssertEqual(back.positions, mesh.positions)
        XCTAssertEqual(back.triangulated().triangles, mesh.triangles)
        XCTAssertEqual(back.triangulated().uvTriangles, mesh.uvTriangles)
        let ply = dir.appendingPathComponent("t.ply").path
        try mesh.writePLY(path: ply)
        let data = try Data(contentsOf: URL(fileURLWithPath: ply))
        let header = String(decoding: data.prefix(400), as: UTF8.self)
        XCTAssertTrue(header.contains("element vertex 5"), header)  // vertex 0 split at the seam
        XCTAssertTrue(header.contains("element face 4"))
        let headerEnd = header.range(of: "end_header\n")!.upperBound.utf16Offset(in: header)
        XCTAssertEqual(data.count - headerEnd, 5 * 32 + 4 * 13)
    }

    func testVertexNormalsPointOutOfAClosedMesh() {
        let mesh = TriangleMesh(positions: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
                                triangles: [0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3])
        let n = mesh.vertexNormals()
        let centre = SIMD3<Float>(0.25, 0.25, 0.25)
        for v in 0..<4 {
            XCTAssertEqual(length(n.vec3(v)), 1, accuracy: 1e-5)
            XCTAssertGreaterThan(dot(n.vec3(v), mesh.positions.vec3(v) - centre), 0)
        }
    }
}
