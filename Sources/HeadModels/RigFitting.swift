import Geometry

/// Tools for giving a skeleton to a model that ships without one (ICT-FaceKit, MakeHuman cut-outs).
public enum RigFitting {
    /// Minimum-norm affine weights `w` over `vertices` with `Σ w_i x_i = target` and `Σ w_i = 1`:
    /// `w = Aᵀ (A Aᵀ)⁻¹ b` with `A = [xᵀ; 1ᵀ]` (4 × n). The joint then follows the shape of those
    /// vertices under identity and expression, as FLAME's learned J_regressor does.
    public static func affineRegressor(target: SIMD3<Float>, vertices: [Int], positions: [Float]) -> [(Int, Float)] {
        precondition(vertices.count >= 4)
        // Centre for conditioning.
        var mean = SIMD3<Double>.zero
        for i in vertices { mean += SIMD3<Double>(positions.vec3(i)) }
        mean /= Double(vertices.count)
        var m = [[Double]](repeating: [Double](repeating: 0, count: 4), count: 4)
        for i in vertices {
            let x = SIMD3<Double>(positions.vec3(i)) - mean
            let a = [x.x, x.y, x.z, 1]
            for r in 0..<4 { for c in 0..<4 { m[r][c] += a[r] * a[c] } }
        }
        let t = SIMD3<Double>(target) - mean
        let y = solve4(m, [t.x, t.y, t.z, 1])
        return vertices.map { i in
            let x = SIMD3<Double>(positions.vec3(i)) - mean
            return (i, Float(x.x * y[0] + x.y * y[1] + x.z * y[2] + y[3]))
        }
    }

    /// Gaussian elimination with partial pivoting for a 4 × 4 system.
    static func solve4(_ a: [[Double]], _ b: [Double]) -> [Double] {
        var m = a, r = b
        for col in 0..<4 {
            let p = (col..<4).max { abs(m[$0][col]) < abs(m[$1][col]) }!
            m.swapAt(col, p); r.swapAt(col, p)
            for row in (col + 1)..<4 where m[col][col] != 0 {
                let f = m[row][col] / m[col][col]
                for c in col..<4 { m[row][c] -= f * m[col][c] }
                r[row] -= f * r[col]
            }
        }
        var x = [Double](repeating: 0, count: 4)
        for row in stride(from: 3, through: 0, by: -1) {
            var s = r[row]
            for c in (row + 1)..<4 { s -= m[row][c] * x[c] }
            x[row] = m[row][row] != 0 ? s / m[row][row] : 0
        }
        return x
    }

    /// Least-squares sphere through points: returns the centre (algebraic fit
    /// `|x|² = 2 c·x + k`, solved with the normal equations).
    public static func sphereCentre(of vertices: [Int], positions: [Float]) -> SIMD3<Float> {
        var mean = SIMD3<Double>.zero
        for i in vertices { mean += SIMD3<Double>(positions.vec3(i)) }
        mean /= Double(vertices.count)
        var m = [[Double]](repeating: [Double](repeating: 0, count: 4), count: 4)
        var rhs = [Double](repeating: 0, count: 4)
        for i in vertices {
            let x = SIMD3<Double>(positions.vec3(i)) - mean
            let a = [2 * x.x, 2 * x.y, 2 * x.z, 1]
            let b = dot(x, x)
            for r in 0..<4 { rhs[r] += a[r] * b; for c in 0..<4 { m[r][c] += a[r] * a[c] } }
        }
        let s = solve4(m, rhs)
        return SIMD3<Float>(SIMD3<Double>(s[0], s[1], s[2]) + mean)
    }

    /// The rigid motion that best maps `from` onto `to` for the given vertices: a least-squares
    /// affine fit, then its rotation part by polar iteration `R ← (R + R⁻ᵀ) / 2`.
    public static func rigidFit(vertices: [Int], from a: [Float], to b: [Float]) -> RigidTransform {
        var ca = SIMD3<Double>.zero, cb = SIMD3<Double>.zero
        for i in vertices { ca += SIMD3<Double>(a.vec3(i)); cb += SIMD3<Double>(b.vec3(i)) }
        ca /= Double(vertices.count); cb /= Double(vertices.count)
        // Cross-covariance H = Σ (b - cb)(a - ca)ᵀ; the rotation is the polar factor of H.
        var h = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in vertices {
            let x = SIMD3<Double>(a.vec3(i)) - ca, y = SIMD3<Double>(b.vec3(i)) - cb
            for r in 0..<3 { for c in 0..<3 { h[r][c] += y[r] * x[c] } }
        }
        var r = h
        for _ in 0..<100 {
            let inv = inverse3(r)
            var next = r
            for i in 0..<3 { for j in 0..<3 { next[i][j] = 0.5 * (r[i][j] + inv[j][i]) } }
            r = next
        }
        let rot = Mat3(rows: SIMD3(Float(r[0][0]), Float(r[0][1]), Float(r[0][2])),
                       SIMD3(Float(r[1][0]), Float(r[1][1]), Float(r[1][2])),
                       SIMD3(Float(r[2][0]), Float(r[2][1]), Float(r[2][2])))
        return RigidTransform(rotation: rot, translation: SIMD3<Float>(cb) - rot * SIMD3<Float>(ca))
    }

    static func inverse3(_ m: [[Double]]) -> [[Double]] {
        let a = m[0][0], b = m[0][1], c = m[0][2], d = m[1][0], e = m[1][1], f = m[1][2], g = m[2][0], h = m[2][1], i = m[2][2]
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        guard abs(det) > 1e-300 else { return [[1, 0, 0], [0, 1, 0], [0, 0, 1]] }
        return [[(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
                [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
                [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det]]
    }

    /// A point on the rotation axis of a rigid motion, with the constraint `p.x = x0`
    /// (for a jaw hinge: the mid-sagittal plane). Solves `(I - R) p = t` in least squares over (y, z).
    public static func hingePoint(_ motion: RigidTransform, x0: Float = 0) -> SIMD3<Float> {
        let m = Mat3.identity - motion.rotation
        let rhs = motion.translation - m.c0 * x0
        // Normal equations for the two unknown columns c1, c2.
        let a11 = dot(m.c1, m.c1), a12 = dot(m.c1, m.c2), a22 = dot(m.c2, m.c2)
        let b1 = dot(m.c1, rhs), b2 = dot(m.c2, rhs)
        let det = a11 * a22 - a12 * a12
        guard abs(det) > 1e-12 else { return SIMD3(x0, 0, 0) }
        return SIMD3(x0, (b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det)
    }

    /// `smoothstep(e0, e1, x)`: 0 below e0, 1 above e1, C¹ in between.
    public static func smoothstep(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
        let t = max(0, min(1, (x - e0) / (e1 - e0)))
        return t * t * (3 - 2 * t)
    }

    /// Averages a per-vertex field over mesh neighbours `iterations` times, only changing `mask`ed vertices.
    public static func smooth(_ field: inout [Float], triangles: [Int32], vertexCount: Int, mask: [Bool], iterations: Int) {
        var neighbours = [[Int32]](repeating: [], count: vertexCount)
        for f in 0..<(triangles.count / 3) {
            for c in 0..<3 {
                let a = Int(triangles[3 * f + c]), b = triangles[3 * f + (c + 1) % 3]
                neighbours[a].append(b); neighbours[Int(b)].append(Int32(a))
            }
        }
        for _ in 0..<iterations {
            var next = field
            for v in 0..<vertexCount where mask[v] && !neighbours[v].isEmpty {
                var s: Float = 0
                for n in neighbours[v] { s += field[Int(n)] }
                next[v] = 0.5 * field[v] + 0.5 * s / Float(neighbours[v].count)
            }
            field = next
        }
    }
}

