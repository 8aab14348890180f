import XCTest
import TestSupport
import Geometry
@testable import Rendering

final class EmbreeTests: XCTestCase {
    func testRayHitsTriangleWithAnalyticDistanceAndBarycentrics() throws {
        enableFlushToZero()
        let device = try EmbreeDevice()
        // Triangle in the plane z = -2.
        let scene = try TriangleScene(device: device, meshes: [(positions: [-1, -1, -2, 1, -1, -2, 0, 1, -2], triangles: [0, 1, 2])])
        let hit = try XCTUnwrap(scene.intersect(origin: .zero, direction: SIMD3(0, 0, -1)))
        XCTAssertEqual(hit.distance, 2, accuracy: 1e-6)
        XCTAssertEqual(hit.geometry, 0)
        // (0, 0) = 0.25 v0 + 0.25 v1 + 0.5 v2: Embree's u, v weight v1 and v2.
        XCTAssertEqual(hit.u, 0.25, accuracy: 1e-6)
        XCTAssertEqual(hit.v, 0.5, accuracy: 1e-6)
        XCTAssertEqual(normalize(hit.geometricNormal).z, 1, accuracy: 1e-6)
        XCTAssertNil(scene.intersect(origin: .zero, direction: SIMD3(0, 0, 1)))
        XCTAssertNil(scene.intersect(origin: .zero, direction: SIMD3(0, 0, -1), far: 1.5))
    }
}
