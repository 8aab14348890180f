import Foundation
import HeadModels
import Geometry
@testable import Rendering
import XCTest

/// The inlined replacements of libm in the shading loops, against libm in Double on dense grids.
final class FastMathTests: XCTestCase {
    func testCosineOfATurnIsWithinFourTenMillionthsOfLibm() {
        var worst = 0.0
        for i in 0...200_000 {
            let u = Float(i) / 200_000
            worst = max(worst, abs(Double(fastCosTwoPi(u)) - cos(2 * Double.pi * Double(u))))
        }
        XCTAssertLessThan(worst, 4e-7)
        // The 16-lane form gives each lane the scalar's value.
        let lanes = SIMD16<Float>((0..<16).map { Float($0) / 15 })
        let vector = fastCosTwoPi(lanes)
        for i in 0..<16 { XCTAssertEqual(vector[i], fastCosTwoPi(lanes[i])) }
        let (c, s) = cosSinTwoPi(0.375)
        XCTAssertEqual(c, -Float(0.5).squareRoot(), accuracy: 4e-7); XCTAssertEqual(s, Float(0.5).squareRoot(), accuracy: 1e-6)
    }

    func testLog2MatchesLibm() {
        var worst = 0.0
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200_000 {
            let x = Float(exp2(Double(rng.uniform(-120, 120))))
            let exact = log2(Double(x))
            // Absolute error of the mantissa part plus the rounding of the sum to Float.
            worst = max(worst, abs(Double(fastLog2(x)) - exact) - Double(Float(exact).ulp))
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(fastLog2(1), 0); XCTAssertEqual(fastLog2(8), 3); XCTAssertEqual(fastLog2(0.75), Float(log2(0.75)), accuracy: 3e-7)
    }

    func testFastNormalIsStandardNormal() {
        var rng = SplitMix64(seed: 5)
        let n = 1_000_000
        var sum = 0.0, squares = 0.0, tail = 0
        for _ in 0..<n {
            let z = Double(rng.fastNormal())
            XCTAssert(z.isFinite)
            sum += z; squares += z * z
            if abs(z) > 2 { tail += 1 }
        }
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.005)
        XCTAssertEqual(squares / Double(n), 1, accuracy: 0.005)
        XCTAssertEqual(Double(tail) / Double(n), 0.0455, accuracy: 0.001)   // P(|z| > 2)
    }

    func testVectorLog2Exp2AndPowMatchLibm() {
        var rng = SplitMix64(seed: 6)
        var worstLog = 0.0, worstExp = 0.0
        for _ in 0..<20_000 {
            let x = SIMD16<Float>((0..<16).map { _ in Float(exp2(Double(rng.uniform(-120, 120)))) })
            let y = SIMD16<Float>((0..<16).map { _ in rng.uniform(-125, 127) })
            let l = fastLog2(x), e = fastExp2(y)
            for i in 0..<16 {
                let exact = log2(Double(x[i]))
                worstLog = max(worstLog, abs(Double(l[i]) - exact) - Double(Float(exact).ulp))
                worstExp = max(worstExp, abs(Double(e[i]) / exp2(Double(y[i])) - 1))
            }
        }
        XCTAssertLessThan(worstLog, 3e-7)
        XCTAssertLessThan(worstExp, 1e-6)
        let edges = fastExp2(SIMD16<Float>(-200, -126, -125.5, 0, 1, 2.5, 127, 300, 0, 0, 0, 0, 0, 0, 0, 0))
        XCTAssertEqual(edges[0], 0); XCTAssertEqual(edges[1], 0); XCTAssertEqual(edges[3], 1); XCTAssertEqual(edges[4], 2)
        XCTAssertEqual(edges[5], Float(exp2(2.5)), accuracy: 1e-6 * 5.66)
        XCTAssert(edges[7].isFinite && edges[7] > 1e38)
        // Powers as the environment's blob lobes use them: cos^s for s in [1, 100].
        for _ in 0..<20_000 {
            let x = SIMD16<Float>((0..<16).map { _ in rng.uniform(-0.2, 1) })
            let y = SIMD16<Float>((0..<16).map { _ in rng.uniform(1, 100) })
            let p = fastPow(x, y)
            for i in 0..<16 {
                guard x[i] > 0 else { XCTAssertEqual(p[i], 0); continue }
                let exact = pow(Double(x[i]), Double(y[i]))
                guard exact > 1e-30 else { continue }
                XCTAssertEqual(Double(p[i]) / exact, 1, accuracy: abs(Double(y[i]) * log2(Double(x[i]))) * 3e-7 + 1e-6)
            }
        }
    }

    /// The 16-direction smooth environment against the scalar one.
    func testVectorSmoothRadianceMatchesScalar() {
        var e = Environment()
        e.top = SIMD3(0.3, 0.5, 0.9); e.horizon = SIMD3(0.8, 0.8, 0.85); e.bottom = SIMD3(0.2, 0.15, 0.1)
        e.blobs = [.init(direction: SIMD3(0.3, 0.8, 0.5), color: SIMD3(2, 1.8, 1.5), sharpness: 12),
                   .init(direction: SIMD3(-0.7, 0.1, 0.7), color: SIMD3(0.5, 0.7, 1), sharpness: 35),
                   .init(direction: SIMD3(0, 1, 0.2), color: SIMD3(repeating: 50), sharpness: 400)]   // sharp: not in the smooth part
        var rng = SplitMix64(seed: 8)
        for _ in 0..<500 {
            let d = (0..<16).map { _ in normalize(SIMD3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)) + SIMD3(0, 0, 1e-3)) }
            let (r, g, b) = e.smoothRadiance(SIMD16(d.map(\.x)), SIMD16(d.map(\.y)), SIMD16(d.map(\.z)))
            for i in 0..<16 {
                let c = e.smoothRadiance(d[i])
                XCTAssertEqual(r[i], c.x, accuracy: 2e-5 * max(1, c.x)); XCTAssertEqual(g[i], c.y, accuracy: 2e-5 * max(1, c.y))
                XCTAssertEqual(b[i], c.z, accuracy: 2e-5 * max(1, c.z))
            }
        }
    }

    /// Sensor noise as rendered (16 values at a time): zero-mean with the recipe's σ in 8-bit levels.
    func testRenderedSensorNoiseHasTheRequestedSigma() throws {
        let m = PixelCullTests.model
        let scene = try HeadScene(device: EmbreeDevice(), model: m, labels: HeadLabelTable(model: m), posed: m.pose(.neutral(for: m)), global: .identity)
        let camera = Camera.lookAt(eye: SIMD3(0, 0, 0.6), target: .zero, width: 50, height: 40, fx: 60)   // 3·50 values a row: not a multiple of 16
        var background = Background(); background.colorA = SIMD3(repeating: 0.2); background.colorB = SIMD3(repeating: 0.3)
        func render(sigma: Float) -> Film {
            var effects = CameraEffects(); effects.noiseSigma = sigma
            let film = Film(width: camera.width, height: camera.height)
            Integrator(appearance: Appearance(), lighting: Lighting(), background: background, effects: effects, settings: RenderSettings(samplesPerPixel: 1, threads: 2))
                .render(scene, camera: camera, seed: 4, into: film)
            return film
        }
        let clean = render(sigma: 0), noisy = render(sigma: 3)
        var sum = 0.0, squares = 0.0, count = 0
        for i in clean.rgb.indices where clean.rgb[i] > 20 && clean.rgb[i] < 235 {
            let d = Double(noisy.rgb[i]) - Double(clean.rgb[i])
            sum += d; squares += d * d; count += 1
        }
        XCTAssertGreaterThan(count, 5000)
        XCTAssertEqual(sum / Double(count), 0, accuracy: 0.1)
        // Rounding both images adds at most 2 · 1/12 level² of variance: √(9 + 1/6) ≈ 3.03.
        XCTAssertEqual((squares / Double(count)).squareRoot(), 3, accuracy: 0.15)
    }
}
