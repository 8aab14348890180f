import Foundation
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
}
