/// Mesh Laplacians as CSR matrices (for `SparseMatmul`: Laplacian smoothing/regularisation losses, spectral
/// features, graph convolutions on head meshes and scans).
///
/// Sign convention: L = D − W, symmetric positive semi-definite, so `(L f)_i = Σ_j w_ij (f_i − f_j)`;
/// every row sums to 0 (L·1 = 0). Weights:
/// - `.uniform`: w_ij = 1 for every mesh edge (each undirected edge once, however many triangles share it);
///   the diagonal is the vertex degree (graph Laplacian of the edge graph).
/// - `.cotangent`: w_ij = ½ (cot α_ij + cot β_ij), α, β the angles opposite edge ij in its one or two triangles
///   (Pinkall–Polthier / Meyer et al. 2003, without the mass). It is exact on linear functions: for f linear,
///   (L f)_i = 0 at every interior vertex of a flat mesh (tested). Obtuse triangles give negative weights, as usual.
///   Degenerate triangles (|e₁ × e₂| ≤ 1e-14·|e₁|·|e₂|) contribute nothing.
/// Entries are computed in Double and converted to `Scalar`.
public enum LaplacianWeights: String, Sendable, CaseIterable {
    case uniform, cotangent
}

/// Errors building mesh operators; they name the array and the offending entry.
public enum MeshOperatorError: Error, CustomStringConvertible, Equatable {
    case badPositions(count: Int)
    case badTriangles(count: Int)
    case indexOutOfRange(triangle: Int, corner: Int, index: Int, vertexCount: Int)
    case repeatedVertex(triangle: Int)
    case nonFinitePosition(vertex: Int)

    public var description: String {
        switch self {
        case let .badPositions(count): return "mesh Laplacian: positions has \(count) values, not a multiple of 3"
        case let .badTriangles(count): return "mesh Laplacian: triangles has \(count) indices, not a multiple of 3"
        case let .indexOutOfRange(t, c, i, v):
            return "mesh Laplacian: triangles[\(t)][\(c)] = \(i) is outside 0..<\(v) (vertex count)"
        case let .repeatedVertex(t): return "mesh Laplacian: triangles[\(t)] repeats a vertex"
        case let .nonFinitePosition(v): return "mesh Laplacian: positions[\(v)] is not finite"
        }
    }
}

/// A triangle mesh's positions and faces, validated once.
struct TriangleMeshView {
    let positions: [Double]   // [V·3]
    let triangles: [Int]      // [F·3]
    var vertexCount: Int { positions.count / 3 }
    var triangleCount: Int { triangles.count / 3 }

    init(positions: [Double], triangles: [Int]) throws {
        guard positions.count % 3 == 0 else { throw MeshOperatorError.badPositions(count: positions.count) }
        guard triangles.count % 3 == 0 else { throw MeshOperatorError.badTriangles(count: triangles.count) }
        let v = positions.count / 3
        if let bad = positions.firstIndex(where: { !$0.isFinite }) { throw MeshOperatorError.nonFinitePosition(vertex: bad / 3) }
        for t in 0..<(triangles.count / 3) {
            for c in 0..<3 where triangles[3 * t + c] < 0 || triangles[3 * t + c] >= v {
                throw MeshOperatorError.indexOutOfRange(triangle: t, corner: c, index: triangles[3 * t + c], vertexCount: v)
            }
            let a = triangles[3 * t], b = triangles[3 * t + 1], c = triangles[3 * t + 2]
            if a == b || b == c || a == c { throw MeshOperatorError.repeatedVertex(triangle: t) }
        }
        self.positions = positions; self.triangles = triangles
    }

    func point(_ i: Int) -> (Double, Double, Double) { (positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]) }
}

/// The mesh Laplacian L = D − W ([V, V], symmetric, rows sum to 0) of a triangle mesh.
/// - Parameters:
///   - positions: vertex positions, flat [V·3] (x, y, z per vertex).
///   - triangles: vertex indices, flat [F·3].
/// - Throws: `MeshOperatorError` naming the bad array entry.
public func meshLaplacian<Scalar: NNScalar>(positions: [Double], triangles: [Int], weights: LaplacianWeights,
                                            as: Scalar.Type = Scalar.self) throws -> CSRMatrix<Scalar> {
    let mesh = try TriangleMeshView(positions: positions, triangles: triangles)
    var edgeWeights: [Int: Double] = [:]   // key a·V + b with a < b
    let v = mesh.vertexCount
    for t in 0..<mesh.triangleCount {
        let corners = [triangles[3 * t], triangles[3 * t + 1], triangles[3 * t + 2]]
        for k in 0..<3 {
            let a = corners[(k + 1) % 3], b = corners[(k + 2) % 3]
            let key = min(a, b) * v + max(a, b)
            switch weights {
            case .uniform:
                edgeWeights[key] = 1
            case .cotangent:
                // Angle at corner k, opposite edge (a, b): cot = (u·w) / |u × w|, u = p_a − p_c, w = p_b − p_c.
                let pc = mesh.point(corners[k]), pa = mesh.point(a), pb = mesh.point(b)
                let u = (pa.0 - pc.0, pa.1 - pc.1, pa.2 - pc.2), w = (pb.0 - pc.0, pb.1 - pc.1, pb.2 - pc.2)
                let dot = u.0 * w.0 + u.1 * w.1 + u.2 * w.2
                let cross = (u.1 * w.2 - u.2 * w.1, u.2 * w.0 - u.0 * w.2, u.0 * w.1 - u.1 * w.0)
                let area2 = (cross.0 * cross.0 + cross.1 * cross.1 + cross.2 * cross.2).squareRoot()
                let scale = (u.0 * u.0 + u.1 * u.1 + u.2 * u.2).squareRoot() * (w.0 * w.0 + w.1 * w.1 + w.2 * w.2).squareRoot()
                if area2 <= 1e-14 * scale { continue }   // degenerate: no contribution
                edgeWeights[key, default: 0] += 0.5 * dot / area2
            }
        }
    }
    var triplets: [(Int, Int, Scalar)] = []
    triplets.reserveCapacity(4 * edgeWeights.count)
    var diagonal = [Double](repeating: 0, count: v)
    for (key, w) in edgeWeights {
        let a = key / v, b = key % v
        triplets.append((a, b, Scalar(-w)))
        triplets.append((b, a, Scalar(-w)))
        diagonal[a] += w; diagonal[b] += w
    }
    for i in 0..<v { triplets.append((i, i, Scalar(diagonal[i]))) }   // every diagonal entry stored (0 for isolated vertices)
    return CSRMatrix(rows: v, columns: v, triplets: triplets)
}

/// The lumped (barycentric) mass matrix diagonal: m_i = Σ_{triangles ∋ i} area/3 ([V]; Σ m = total area).
/// With it, M⁻¹L is the usual discrete Laplace–Beltrami operator for `.cotangent` weights.
public func lumpedMass<Scalar: NNScalar>(positions: [Double], triangles: [Int], as: Scalar.Type = Scalar.self) throws -> [Scalar] {
    let mesh = try TriangleMeshView(positions: positions, triangles: triangles)
    var mass = [Double](repeating: 0, count: mesh.vertexCount)
    for t in 0..<mesh.triangleCount {
        let i = triangles[3 * t], j = triangles[3 * t + 1], k = triangles[3 * t + 2]
        let a = mesh.point(i), b = mesh.point(j), c = mesh.point(k)
        let u = (b.0 - a.0, b.1 - a.1, b.2 - a.2), w = (c.0 - a.0, c.1 - a.1, c.2 - a.2)
        let cross = (u.1 * w.2 - u.2 * w.1, u.2 * w.0 - u.0 * w.2, u.0 * w.1 - u.1 * w.0)
        let area = 0.5 * (cross.0 * cross.0 + cross.1 * cross.1 + cross.2 * cross.2).squareRoot()
        mass[i] += area / 3; mass[j] += area / 3; mass[k] += area / 3
    }
    return mass.map { Scalar($0) }
}
