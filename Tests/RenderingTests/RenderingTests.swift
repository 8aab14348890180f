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

final class SRGBTableTests: XCTestCase {
    func testTableMatchesTheSRGBCurveWithinAHundredthOfALevel() {
        var worst: Float = 0
        for k in 0...100_000 {
            let c = Float(k) / 100_000
            worst = max(worst, abs(SRGBTable.shared.encode255(c) - encodeSRGB(c) * 255))
        }
        XCTAssertLessThan(worst, 0.01)
        // Clamped outside [0, 1]; NaN reads as black rather than trapping.
        XCTAssertEqual(SRGBTable.shared.encode255(-3), 0)
        XCTAssertEqual(SRGBTable.shared.encode255(7), 255, accuracy: 1e-3)
        XCTAssertEqual(SRGBTable.shared.encode255(.nan), 0)
    }
}
