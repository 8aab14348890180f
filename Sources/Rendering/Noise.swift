import Geometry

/// Deterministic value noise for procedural textures (no state; keyed by a seed).
@usableFromInline
struct ValueNoise {
    let seed: UInt64

    @inline(__always)
    func hash(_ x: Int32, _ y: Int32, _ z: Int32) -> Float {
        var h = seed ^ (UInt64(UInt32(bitPattern: x)) &* 0x9E37_79B9_7F4A_7C15)
        h ^= UInt64(UInt32(bitPattern: y)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(UInt32(bitPattern: z)) &* 0x1656_67B1_9E37_79F9
        h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Float(h & 0xFFFFFF) / Float(0xFFFFFF)
    }

    /// Trilinear value noise in [0, 1].
    @inline(__always)
    func callAsFunction(_ p: SIMD3<Float>) -> Float {
        let f = p.rounded(.down)
        let t = p - f
        let s = t * t * (3 - 2 * t)
        let x = Int32(f.x), y = Int32(f.y), z = Int32(f.z)
        @inline(__always) func lerp(_ a: Float, _ b: Float, _ t: Float) -> Float { a + (b - a) * t }
        let c00 = lerp(hash(x, y, z), hash(x + 1, y, z), s.x), c10 = lerp(hash(x, y + 1, z), hash(x + 1, y + 1, z), s.x)
        let c01 = lerp(hash(x, y, z + 1), hash(x + 1, y, z + 1), s.x), c11 = lerp(hash(x, y + 1, z + 1), hash(x + 1, y + 1, z + 1), s.x)
        return lerp(lerp(c00, c10, s.y), lerp(c01, c11, s.y), s.z)
    }

    /// Fractal sum of `octaves` octaves, normalised to [0, 1].
    func fbm(_ p: SIMD3<Float>, octaves: Int) -> Float {
        var sum: Float = 0, amp: Float = 0.5, norm: Float = 0, q = p
        for _ in 0..<octaves { sum += amp * self(q); norm += amp; amp *= 0.5; q *= 2.03 }
        return sum / norm
    }

    /// Three independent lattice values in [0, 1] from one 64-bit hash (21 bits each).
    @inline(__always)
    func hash3(_ x: Int32, _ y: Int32, _ z: Int32) -> SIMD3<Float> {
        var h = seed ^ (UInt64(UInt32(bitPattern: x)) &* 0x9E37_79B9_7F4A_7C15)
        h ^= UInt64(UInt32(bitPattern: y)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(UInt32(bitPattern: z)) &* 0x1656_67B1_9E37_79F9
        h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 32)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        let m: UInt64 = 0x1F_FFFF
        return SIMD3(Float(h & m), Float((h >> 21) & m), Float((h >> 42) & m)) * (1 / Float(m))
    }

    /// Trilinear 3-vector value noise in [0, 1]³: three independent noises for the price of one
    /// lattice walk (pore-scale normal perturbation).
    @inline(__always)
    func vector(_ p: SIMD3<Float>) -> SIMD3<Float> {
        let f = p.rounded(.down)
        let t = p - f
        let s = t * t * (3 - 2 * t)
        let x = Int32(f.x), y = Int32(f.y), z = Int32(f.z)
        @inline(__always) func lerp(_ a: SIMD3<Float>, _ b: SIMD3<Float>, _ t: Float) -> SIMD3<Float> { a + (b - a) * t }
        let c00 = lerp(hash3(x, y, z), hash3(x + 1, y, z), s.x), c10 = lerp(hash3(x, y + 1, z), hash3(x + 1, y + 1, z), s.x)
        let c01 = lerp(hash3(x, y, z + 1), hash3(x + 1, y, z + 1), s.x), c11 = lerp(hash3(x, y + 1, z + 1), hash3(x + 1, y + 1, z + 1), s.x)
        return lerp(lerp(c00, c10, s.y), lerp(c01, c11, s.y), s.z)
    }
}
