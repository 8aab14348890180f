/// A 3x3 single-precision matrix stored as three columns.
///
/// Rotations follow the right-handed convention used by FLAME and OpenCV: `R * v` rotates `v`.
public struct Mat3: Equatable, Sendable {
    public var c0, c1, c2: SIMD3<Float>

    @inlinable public init(columns c0: SIMD3<Float>, _ c1: SIMD3<Float>, _ c2: SIMD3<Float>) {
        self.c0 = c0; self.c1 = c1; self.c2 = c2
    }

    /// Builds the matrix from rows (reads like the math).
    public init(rows r0: SIMD3<Float>, _ r1: SIMD3<Float>, _ r2: SIMD3<Float>) {
        self.init(columns: SIMD3(r0.x, r1.x, r2.x), SIMD3(r0.y, r1.y, r2.y), SIMD3(r0.z, r1.z, r2.z))
    }

    public static let identity = Mat3(columns: SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1))

    public subscript(row: Int, column: Int) -> Float {
        get { [c0, c1, c2][column][row] }
        set {
            switch column {
            case 0: c0[row] = newValue
            case 1: c1[row] = newValue
            default: c2[row] = newValue
            }
        }
    }

    public var transposed: Mat3 { Mat3(rows: c0, c1, c2) }

    @inlinable @inline(__always) public static func * (m: Mat3, v: SIMD3<Float>) -> SIMD3<Float> {
        m.c0 * v.x + m.c1 * v.y + m.c2 * v.z
    }

    @inlinable public static func * (a: Mat3, b: Mat3) -> Mat3 {
        Mat3(columns: a * b.c0, a * b.c1, a * b.c2)
    }

    public static func - (a: Mat3, b: Mat3) -> Mat3 {
        Mat3(columns: a.c0 - b.c0, a.c1 - b.c1, a.c2 - b.c2)
    }

    public var determinant: Float { dot(c0, cross(c1, c2)) }

    /// Row-major entries, the order FLAME's pose correctives flatten `R - I` in.
    public var rowMajor: [Float] {
        [c0.x, c1.x, c2.x, c0.y, c1.y, c2.y, c0.z, c1.z, c2.z]
    }

    /// Rodrigues' formula: `R = I + sin(θ) K + (1 - cos(θ)) K²` with θ = |ω|, K the cross-product
    /// matrix of ω/θ. Exact to float precision; returns identity below θ = 1e-8.
    public static func rotation(axisAngle omega: SIMD3<Float>) -> Mat3 {
        // Compute in Double so tiny angles keep their precision.
        let w = SIMD3<Double>(Double(omega.x), Double(omega.y), Double(omega.z))
        let theta = (w * w).sum().squareRoot()
        if theta < 1e-8 { return .identity }
        let k = w / theta
        let s = sin(theta), c = 1 - cos(theta)
        func e(_ r: Int, _ col: Int) -> Float {
            let kk = [[0, -k.z, k.y], [k.z, 0, -k.x], [-k.y, k.x, 0]]
            var v = (r == col ? 1.0 : 0.0) + s * kk[r][col]
            for i in 0..<3 { v += c * kk[r][i] * kk[i][col] }
            return Float(v)
        }
        return Mat3(rows: SIMD3(e(0, 0), e(0, 1), e(0, 2)), SIMD3(e(1, 0), e(1, 1), e(1, 2)),
                    SIMD3(e(2, 0), e(2, 1), e(2, 2)))
    }

    /// Rotation from yaw (about +y), pitch (about +x) and roll (about +z), in radians:
    /// `R = Ry(yaw) * Rx(pitch) * Rz(roll)`.
    public static func rotation(yaw: Float, pitch: Float, roll: Float) -> Mat3 {
        rotation(axisAngle: SIMD3(0, yaw, 0)) * rotation(axisAngle: SIMD3(pitch, 0, 0))
            * rotation(axisAngle: SIMD3(0, 0, roll))
    }

    /// The inverse of `rotation(axisAngle:)` for a proper rotation (angle in [0, π]).
    public var axisAngle: SIMD3<Float> {
        let cosTheta = max(-1, min(1, (c0.x + c1.y + c2.z - 1) / 2))
        let theta = acos(cosTheta)
        if theta < 1e-6 { return .zero }
        let v = SIMD3<Float>(c1.z - c2.y, c2.x - c0.z, c0.y - c1.x)
        if theta > Float.pi - 1e-3 {
            // Near π the antisymmetric part vanishes: take the axis from the symmetric part.
            let d = SIMD3<Float>(c0.x, c1.y, c2.z)
            var axis = SIMD3<Float>((max(0, (d.x + 1) / 2)).squareRoot(), (max(0, (d.y + 1) / 2)).squareRoot(),
                                    (max(0, (d.z + 1) / 2)).squareRoot())
            if c0.y + c1.x < 0 { axis.y = -axis.y }
            if c0.z + c2.x < 0 { axis.z = -axis.z }
            return normalize(axis) * theta
        }
        return v / (2 * sin(theta)) * theta
    }
}

/// `x -> rotation * x + translation`.
public struct RigidTransform: Equatable, Sendable {
    public var rotation: Mat3
    public var translation: SIMD3<Float>

    public init(rotation: Mat3 = .identity, translation: SIMD3<Float> = .zero) {
        self.rotation = rotation; self.translation = translation
    }

    public static let identity = RigidTransform()

    @inlinable @inline(__always) public func apply(_ p: SIMD3<Float>) -> SIMD3<Float> { rotation * p + translation }
    @inlinable @inline(__always) public func applyToDirection(_ d: SIMD3<Float>) -> SIMD3<Float> { rotation * d }

    public static func * (a: RigidTransform, b: RigidTransform) -> RigidTransform {
        RigidTransform(rotation: a.rotation * b.rotation, translation: a.rotation * b.translation + a.translation)
    }

    public var inverse: RigidTransform {
        let rt = rotation.transposed
        return RigidTransform(rotation: rt, translation: -(rt * translation))
    }
}
