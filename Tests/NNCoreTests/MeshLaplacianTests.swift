import XCTest
import TestSupport
import Geometry
@testable import NNCore

/// Mesh Laplacians (uniform and cotangent) and the lumped mass: invariants that a wrong builder breaks.
final class MeshLaplacianTests: XCTestCase {
    /// An n×n vertex grid on [0, 1]² (z = 0), interior vertices jittered by up to 0.3 of the spacing (so the
    /// triangles are irregular), each quad split along a diagonal alternating by parity.
    func flatGrid(_ n: Int, seed: UInt64) -> (positions: [Double], triangles: [Int]) {
        var rng = SplitMix64(seed: seed)
        var positions: [Double] = []
        let h = 1 / Double(n - 1)
        for r in 0..<n { for c in 0..<n {
            let interior = r > 0 && r < n - 1 && c > 0 && c < n - 1
            let jx = interior ? Double.random(in: -0.3...0.3, using: &rng) * h : 0
            let jy = interior ? Double.random(in: -0.3...0.3, using: &rng) * h : 0
            positions += [Double(c) * h + jx, Double(r) * h + jy, 0]
        } }
        var triangles: [Int] = []
        for r in 0..<(n - 1) { for c in 0..<(n - 1) {
            let a = r * n + c, b = a + 1, d = a + n, e = d + 1
            triangles += (r + c) % 2 == 0 ? [a, b, e, a, e, d] : [a, b, d, b, e, d]
        } }
        return (positions, triangles)
    }

    func dense(_ m: CSRMatrix<Double>) -> [[Double]] {
        var d = [[Double]](repeating: [Double](repeating: 0, count: m.columns), count: m.rows)
        for r in 0..<m.rows { for k in m.rowStarts[r]..<m.rowStarts[r + 1] { d[r][m.columnIndices[k]] += m.values[k] } }
        return d
    }

    func apply(_ m: CSRMatrix<Double>, _ f: [Double]) -> [Double] {
        (0..<m.rows).map { r in (m.rowStarts[r]..<m.rowStarts[r + 1]).reduce(0) { $0 + m.values[$1] * f[m.columnIndices[$1]] } }
    }

    func testConstantsAreInTheKernelAndTheMatrixIsSymmetric() throws {
        // A bumpy, non-flat surface: the grid lifted by z = sin·cos.
        var (positions, triangles) = flatGrid(6, seed: 3)
        for i in 0..<(positions.count / 3) { positions[3 * i + 2] = 0.2 * sin(3 * positions[3 * i]) * cos(2 * positions[3 * i + 1]) }
        for weights in LaplacianWeights.allCases {
            let l: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: triangles, weights: weights)
            XCTAssertEqual(l.rows, 36)
            for (i, v) in apply(l, [Double](repeating: 2.5, count: 36)).enumerated() {
                XCTAssertEqual(v, 0, accuracy: 1e-12, "\(weights): (L·const)[\(i)]")
            }
            let d = dense(l)
            for i in 0..<36 { for j in 0..<36 { XCTAssertEqual(d[i][j], d[j][i], accuracy: 1e-15, "\(weights) symmetric at \(i),\(j)") } }
            // Positive semi-definite: fᵀLf is the Dirichlet energy of the piecewise-linear f (cotangent) or Σ_edges (f_i − f_j)².
            var rng = SplitMix64(seed: 9)
            let f = (0..<36).map { _ in standardNormal(using: &rng) }
            let quadratic = zip(f, apply(l, f)).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertGreaterThan(quadratic, 0, "\(weights): fᵀLf")
        }
    }

    func testUniformIsTheEdgeGraphLaplacian() throws {
        let (positions, triangles) = flatGrid(4, seed: 1)
        let l: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: triangles, weights: .uniform)
        var edges = Set<[Int]>()
        for t in 0..<(triangles.count / 3) { for k in 0..<3 {
            let a = triangles[3 * t + k], b = triangles[3 * t + (k + 1) % 3]
            edges.insert([min(a, b), max(a, b)])
        } }
        let d = dense(l)
        for i in 0..<16 {
            XCTAssertEqual(d[i][i], Double(edges.filter { $0.contains(i) }.count), "degree of \(i)")
            for j in 0..<16 where j != i { XCTAssertEqual(d[i][j], edges.contains([min(i, j), max(i, j)]) ? -1 : 0) }
        }
        XCTAssertEqual(l.values.count, 16 + 2 * edges.count, "stored entries: diagonal + both directions of each edge")
    }

    func testCotangentLaplacianIsExactOnLinearFunctionsAtInteriorVertices() throws {
        let n = 7
        let (positions, triangles) = flatGrid(n, seed: 5)
        let l: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: triangles, weights: .cotangent)
        let f: [Double] = (0..<(n * n)).map { (i: Int) -> Double in
            let x: Double = positions[3 * i], y: Double = positions[3 * i + 1]
            return 0.7 * x - 1.3 * y + 0.25
        }
        let lf = apply(l, f)
        var boundaryNonZero = 0
        for r in 0..<n { for c in 0..<n {
            let i = r * n + c
            if r > 0 && r < n - 1 && c > 0 && c < n - 1 {
                XCTAssertEqual(lf[i], 0, accuracy: 1e-12, "(L f)[\(i)] at an interior vertex")
            } else if abs(lf[i]) > 1e-6 { boundaryNonZero += 1 }
        } }
        XCTAssertGreaterThan(boundaryNonZero, 0, "boundary vertices are not harmonic (the check can fail)")
        // The uniform Laplacian is not exact on this irregular grid: the test distinguishes the two.
        let u: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: triangles, weights: .uniform)
        XCTAssertGreaterThan(apply(u, f)[n + 1].magnitude, 1e-4)
    }

    func testCotangentWeightsOfTwoRightTriangles() throws {
        // Unit square split along (0, 2): the diagonal is opposite two right angles (cot 0), the sides opposite 45° (cot 1).
        let positions: [Double] = [0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0]
        let l: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: [0, 1, 2, 0, 2, 3], weights: .cotangent)
        let d = dense(l)
        XCTAssertEqual(d[0][2], 0, accuracy: 1e-15)
        XCTAssertEqual(d[0][1], -0.5, accuracy: 1e-15)
        XCTAssertEqual(d[1][2], -0.5, accuracy: 1e-15)
        XCTAssertEqual(d[0][0], 1, accuracy: 1e-15)
        let mass: [Double] = try lumpedMass(positions: positions, triangles: [0, 1, 2, 0, 2, 3])
        for (m, e) in zip(mass, [1.0 / 3, 1.0 / 6, 1.0 / 3, 1.0 / 6]) { XCTAssertEqual(m, e, accuracy: 1e-15) }
    }

    func testMassSumsToTheArea() throws {
        var (positions, triangles) = flatGrid(5, seed: 2)
        for i in 0..<(positions.count / 3) { positions[3 * i] *= 3 }   // a 3 × 1 rectangle
        let mass: [Double] = try lumpedMass(positions: positions, triangles: triangles)
        XCTAssertEqual(mass.reduce(0, +), 3, accuracy: 1e-12)
        XCTAssertTrue(mass.allSatisfy { $0 > 0 })
    }

    func testLaplacianDrivesTheSparseProductAndItsGradients() throws {
        let (positions, triangles) = flatGrid(3, seed: 4)
        let l: CSRMatrix<Double> = try meshLaplacian(positions: positions, triangles: triangles, weights: .cotangent)
        let layer = SparseMatmul(l)
        var rng = SplitMix64(seed: 8)
        let x: Tensor<Double> = randomNormalTensor([9, 2], using: &rng)
        let upstream: Tensor<Double> = randomNormalTensor([9, 2], using: &rng)
        for r in checkLayerGradients(layer, input: x, upstream: upstream) { XCTAssertLessThan(r.maxRelativeError, 1e-6, "\(r)") }
        let y = layer(x)
        let expected = apply(l, (0..<9).map { x.data[2 * $0] })
        for i in 0..<9 { XCTAssertEqual(y.data[2 * i], expected[i], accuracy: 1e-12) }
    }

    func testBadMeshesThrowNamingTheEntry() {
        let positions: [Double] = [0, 0, 0, 1, 0, 0, 0, 1, 0]
        XCTAssertThrowsError(try meshLaplacian(positions: positions, triangles: [0, 1, 3], weights: .uniform, as: Float.self)) {
            XCTAssertEqual("\($0)", "mesh Laplacian: triangles[0][2] = 3 is outside 0..<3 (vertex count)")
        }
        XCTAssertThrowsError(try meshLaplacian(positions: positions, triangles: [0, 1], weights: .uniform, as: Float.self)) {
            XCTAssertEqual($0 as? MeshOperatorError, .badTriangles(count: 2))
        }
        XCTAssertThrowsError(try meshLaplacian(positions: [0, 0, .nan, 1, 0, 0, 0, 1, 0], triangles: [0, 1, 2], weights: .cotangent,
                                               as: Float.self)) {
            XCTAssertEqual($0 as? MeshOperatorError, .nonFinitePosition(vertex: 0))
        }
        XCTAssertThrowsError(try lumpedMass(positions: positions, triangles: [0, 0, 2], as: Float.self)) {
            XCTAssertEqual($0 as? MeshOperatorError, .repeatedVertex(triangle: 0))
        }
    }
}
