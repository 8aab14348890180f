/// SplitMix64: a small, fast, seedable generator with full 64-bit state.
///
/// Everything random in HeadLab takes one of these, so a sample depends only on its seed.
/// `derive(_:)` gives independent streams (for sample k, or for a sub-task of a sample) without
/// consuming from the parent, so shards and thread counts cannot change results.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent stream keyed by `key`; the parent's state is untouched.
    public func derive(_ key: UInt64) -> SplitMix64 {
        var g = SplitMix64(seed: state ^ (key &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        return SplitMix64(seed: g.next())
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * uniform() }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Float {
        let u1 = max(uniformDouble(), 1e-300), u2 = uniformDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    public mutating func bernoulli(_ p: Float) -> Bool { uniform() < p }
}
