import Geometry
@testable import Rendering
import XCTest

/// The 16-lane light loop against the scalar formulas it replaced.
final class SurfaceLanesTests: XCTestCase {
    /// Wrapped diffuse + GGX for one sample and one point light (what `queueSurface` computed per lane).
    func scalarRadiance(p: SIMD3<Float>, n: SIMD3<Float>, v: SIMD3<Float>, albedo: SIMD3<Float>, wrap: SIMD3<Float>, specular: Float,
                        alpha: Float, light: Light) -> (SIMD3<Float>, SIMD3<Float>, Float)? {
        let toLight = light.position - p, dist = length(toLight), l = toLight / dist
        let ndl = dot(n, l)
        if ndl <= -0.4 { return nil }
        let e = light.color * min(1 / (dist * dist), 1e4)
        var w = (SIMD3(repeating: ndl) + wrap) / (1 + wrap)
        w = w.replacing(with: 0, where: w .< 0)
        var c = albedo / Float.pi * w * e
        if ndl > 0 && specular > 0 { c += specular * Integrator.GGX(normal: n, view: v, alpha: alpha)(l, ndl: ndl) * ndl * e }
        return (c, l, dist)
    }

    func testLanesMatchTheScalarShadingAndSphereSamplesLieOnTheLight() {
        var rng = SplitMix64(seed: 21)
        func unit() -> SIMD3<Float> { normalize(SIMD3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)) + SIMD3(0, 0, 0.01)) }
        let lights = [Light(position: SIMD3(0.6, 0.4, 1), color: SIMD3(3, 2.5, 2), radius: 0),
                      Light(position: SIMD3(-1, 0.2, 0.3), color: SIMD3(1, 1.2, 1.5), radius: 0)]
        let shadows = ShadowBatches(lights: lights.count)
        var inputs: [Int: (p: SIMD3<Float>, n: SIMD3<Float>, v: SIMD3<Float>, albedo: SIMD3<Float>, wrap: SIMD3<Float>, specular: Float, alpha: Float, o: SIMD3<Float>)] = [:]
        for lane in [0, 1, 2, 3, 5, 8, 9, 12, 13, 15] {     // some lanes empty, as in a packet with background samples
            let p = SIMD3(rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1))
            let n = unit()
            let v = normalize(n + 0.8 * unit())
            let albedo = SIMD3(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9))
            let wrap = SIMD3(rng.uniform(0, 0.4), rng.uniform(0, 0.3), rng.uniform(0, 0.2))
            let specular: Float = lane % 3 == 0 ? 0 : rng.uniform(0.1, 1), alpha = rng.uniform(0.05, 0.6)
            let o = p + n * 1e-5
            inputs[lane] = (p, n, v, albedo, wrap, specular, alpha, o)
            shadows.surfaces.set(lane, position: p, normal: n, geometricNormal: n, view: v, origin: o, albedo: albedo, wrap: wrap, specular: specular, alpha: alpha, seed: 7)
        }
        shadows.surfaces.queueLights(lights, into: shadows)
        XCTAssertEqual(shadows.surfaces.mask, 0, "the lanes are cleared")
        var compared = 0
        for (j, light) in lights.enumerated() {
            let b = 1 + j, base = b * ShadowBatches.width
            var queued: [Int: Int] = [:]
            for k in 0..<shadows.count[b] { queued[Int(shadows.sample[base + k])] = base + k }
            for (lane, s) in inputs {
                let expected = scalarRadiance(p: s.p, n: s.n, v: s.v, albedo: s.albedo, wrap: s.wrap, specular: s.specular, alpha: s.alpha, light: light)
                guard let (c, l, dist) = expected, 0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z >= Integrator.rouletteThreshold else {
                    if expected == nil { XCTAssertNil(queued[lane], "lane \(lane) faces away from light \(j)") }
                    continue
                }
                guard let k = queued[lane] else { XCTFail("lane \(lane), light \(j) not queued"); continue }
                for ch in 0..<3 { XCTAssertEqual(shadows.weight[k][ch], c[ch], accuracy: 1e-5 * max(1, c[ch]), "lane \(lane), light \(j)") }
                XCTAssertLessThan(length(shadows.direction[k] - l), 1e-5)
                XCTAssertEqual(shadows.far[k], dist, accuracy: 1e-5)
                XCTAssertEqual(shadows.origin[k], s.o)
                compared += 1
            }
            XCTAssertEqual(Set(queued.keys).subtracting(inputs.keys), [], "only set lanes are queued")
        }
        XCTAssertGreaterThan(compared, 8)

        // A spherical light: every sampled point lies on its sphere and the points spread over it.
        let sphere = Light(position: SIMD3(0, 0.5, 1), color: SIMD3(repeating: 5), radius: 0.2)
        var centroid = SIMD3<Float>.zero, points = 0
        for round in 0..<50 {
            shadows.reset()
            for lane in 0..<16 {
                shadows.surfaces.set(lane, position: .zero, normal: SIMD3(0, 0.5, 1) / length(SIMD3<Float>(0, 0.5, 1)), geometricNormal: SIMD3(0, 0, 1), view: SIMD3(0, 0, 1),
                                     origin: .zero, albedo: SIMD3(repeating: 0.5), wrap: .zero, specular: 0, alpha: 0.3, seed: UInt64(round * 16 + lane))
            }
            shadows.surfaces.queueLights([sphere], into: shadows)
            for k in 0..<shadows.count[1] {
                let q = shadows.origin[ShadowBatches.width + k] + shadows.direction[ShadowBatches.width + k] * shadows.far[ShadowBatches.width + k]
                XCTAssertEqual(length(q - sphere.position), sphere.radius, accuracy: 1e-5)
                centroid += q; points += 1
            }
        }
        XCTAssertGreaterThan(points, 700)
        XCTAssertLessThan(length(centroid / Float(points) - sphere.position), 0.02, "uniform on the sphere: the mean is its centre")
    }

    /// Environment rays: unit, above the surface, cosine-distributed about the shading normal
    /// (E[cos θ] = 2/3, E[cos² θ] = 1/2), weighted by the albedo.
    func testEnvironmentRaysAreCosineDistributedAboveTheSurface() {
        let shadows = ShadowBatches(lights: 0)
        let n = normalize(SIMD3<Float>(0.3, -0.5, 0.8))
        var sum = 0.0, squares = 0.0, count = 0
        for round in 0..<2000 {
            shadows.reset()
            for lane in 0..<16 {
                shadows.surfaces.set(lane, position: .zero, normal: n, geometricNormal: n, view: n, origin: .zero,
                                     albedo: SIMD3(0.5, 0.4, 0.3), wrap: .zero, specular: 0, alpha: 0.3, seed: UInt64(round * 16 + lane))
            }
            shadows.surfaces.queueEnvironment(into: shadows)
            for k in 0..<shadows.count[0] {
                let d = shadows.direction[k]
                XCTAssertEqual(length(d), 1, accuracy: 1e-5)
                XCTAssertEqual(shadows.weight[k], SIMD3(0.5, 0.4, 0.3))
                let c = Double(dot(d, n))
                XCTAssertGreaterThan(c, 0)
                sum += c; squares += c * c; count += 1
            }
        }
        XCTAssertGreaterThan(count, 31_000)
        XCTAssertEqual(sum / Double(count), 2.0 / 3, accuracy: 0.005)
        XCTAssertEqual(squares / Double(count), 0.5, accuracy: 0.005)
    }
}
