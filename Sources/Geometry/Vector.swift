@_exported import Foundation

public typealias Vec3 = SIMD3<Float>

@inlinable @inline(__always) public func dot(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Float { (a * b).sum() }
@inlinable @inline(__always) public func dot(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double { (a * b).sum() }

@inlinable @inline(__always) public func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

@inlinable @inline(__always) public func length(_ a: SIMD3<Float>) -> Float { dot(a, a).squareRoot() }

/// `a / |a|`, or zero for a zero vector (degenerate triangles must not produce NaNs).
@inlinable @inline(__always) public func normalize(_ a: SIMD3<Float>) -> SIMD3<Float> {
    let l = length(a)
    return l > 0 ? a / l : .zero
}

extension Array where Element == Float {
    /// Reads element `i` of a flat `[n, 3]` array.
    @inlinable @inline(__always) public func vec3(_ i: Int) -> SIMD3<Float> {
        SIMD3(self[3 * i], self[3 * i + 1], self[3 * i + 2])
    }

    @inlinable public mutating func setVec3(_ i: Int, _ v: SIMD3<Float>) {
        self[3 * i] = v.x; self[3 * i + 1] = v.y; self[3 * i + 2] = v.z
    }

    /// True when every entry is finite (no NaN or infinity).
    public var allFinite: Bool { allSatisfy { $0.isFinite } }
}
