import XCTest
import TestSupport
import Geometry
@testable import NNCore

final class BLASTests: XCTestCase {
    func testSgemmMatchesNaiveProductForAllTransposes() {
        var rng = SplitMix64(seed: 3)
        let m = 5, n = 7, k = 4
        let a = (0..<(m * k)).map { _ in rng.normal() }, b = (0..<(k * n)).map { _ in rng.normal() }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            // Stored layouts: A is [M,K] or, transposed, [K,M]; likewise B.
            func A(_ i: Int, _ p: Int) -> Float { ta ? a[p * m + i] : a[i * k + p] }
            func B(_ p: Int, _ j: Int) -> Float { tb ? b[j * k + p] : b[p * n + j] }
            var c = [Float](repeating: 1, count: m * n)
            sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 2, a, b, beta: 0.5, &c)
            for i in 0..<m { for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += A(i, p) * B(p, j) }
                XCTAssertEqual(c[i * n + j], 2 * s + 0.5, accuracy: 1e-4)
            } }
        }
        XCTAssertFalse(blasCoreName.isEmpty)
    }
}
