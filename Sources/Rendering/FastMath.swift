import Geometry

/// Float polynomials for what libm has no vector or cheap form of: the cosine and powers of the
/// 16-lane shading loops (`SurfaceLanes`) and the sensor-noise Gaussian. Accuracy is stated per function and tested
/// against libm in `FastMathTests`; none of them is used for geometry.

/// cos 2πu for u in [0, 1], in each lane: folded to x = 2πa, a ∈ [0, ¼], then the Taylor series of
/// cos to x¹² (truncation ≤ x¹⁴/14! < 1e-8 at x = π/2). Absolute error < 4e-7 (Float rounding).
/// (Concrete SIMD16 and `@_transparent`: generic SIMD comparisons compile to scalar loops.)
@_transparent
func fastCosTwoPi(_ u: SIMD16<Float>) -> SIMD16<Float> {
    var a = u - 0.5                                   // cos 2πu = −cos 2π(u − ½), even in its argument
    a = a.replacing(with: -a, where: a .< 0)
    let fold = a .> 0.25                              // cos(π − x) = −cos x
    a = a.replacing(with: 0.5 - a, where: fold)
    let sign = SIMD16<Float>(repeating: -1).replacing(with: 1, where: fold)
    let x = a * (2 * Float.pi), x2 = x * x
    var p = SIMD16<Float>(repeating: 1 / 479_001_600) // 1/12!
    p = p * x2 - 1 / 3_628_800
    p = p * x2 + 1 / 40320
    p = p * x2 - 1 / 720
    p = p * x2 + 1 / 24
    p = p * x2 - 0.5
    p = p * x2 + 1
    return sign * p
}

@_transparent
func fastCosTwoPi(_ u: Float) -> Float { fastCosTwoPi(SIMD16(repeating: u))[0] }

/// log₂ x for finite x > 0: the exponent from the bits, log₂ of the mantissa m ∈ [√½, √2) from
/// the series 2/ln 2 · artanh t, t = (m − 1)/(m + 1), |t| ≤ 0.172, to t⁹ (truncation < 1e-9).
/// Absolute error < 3e-7 (Float rounding).
@inline(__always) func fastLog2(_ x: Float) -> Float {
    let bits = x.bitPattern
    var e = Int32(bitPattern: (bits >> 23) & 0xFF) - 127
    var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F80_0000)   // [1, 2)
    if m > 1.414_213_5 { m *= 0.5; e += 1 }
    let t = (m - 1) / (m + 1), t2 = t * t
    var p: Float = 1 / 9
    p = p * t2 + 1 / 7
    p = p * t2 + 1 / 5
    p = p * t2 + 1 / 3
    p = p * t2 + 1
    return Float(e) + (2 / Float.ln2) * t * p
}

/// log₂ x in 16 lanes, x finite and > 0 (`fastLog2`'s method, the exponent field turned into a
/// Float by the 2²³ magic number). Absolute error < 3e-7.
@_transparent
func fastLog2(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: SIMD16<Float>.self)   // [1, 2)
    var e = unsafeBitCast(((bits &>> 23) & 0xFF) | 0x4B00_0000, to: SIMD16<Float>.self) - (8_388_608 + 127)
    let big = m .> 1.414_213_5
    m = m.replacing(with: m * 0.5, where: big)
    e = e.replacing(with: e + 1, where: big)
    let t = (m - 1) / (m + 1), t2 = t * t
    var p = SIMD16<Float>(repeating: 1 / 9)
    p = p * t2 + 1 / 7
    p = p * t2 + 1 / 5
    p = p * t2 + 1 / 3
    p = p * t2 + 1
    return e + (2 / Float.ln2) * t * p
}

/// 2^y in 16 lanes: 2^⌊y⌋ assembled in the exponent bits (⌊y⌋ by the 1.5·2²³ magic number) times
/// 2^f, f ∈ [0, 1), by the Taylor series of e^(f ln 2) to the 7th power (truncation < 2e-8).
/// Relative error < 1e-6 (Float rounding of f); 0 for y ≤ −126, y clamped below 128.
@_transparent
func fastExp2(_ input: SIMD16<Float>) -> SIMD16<Float> {
    let y = input.replacing(with: 127.99, where: input .> 127.99).replacing(with: -126, where: input .< -126)
    let magic = SIMD16<Float>(repeating: 12_582_912)
    var n = (y + magic) - magic                       // nearest integer
    n = n.replacing(with: n - 1, where: n .> y)       // ⌊y⌋
    let f = (y - n) * Float.ln2
    var p = SIMD16<Float>(repeating: 1 / 5040)
    p = p * f + 1 / 720
    p = p * f + 1 / 120
    p = p * f + 1 / 24
    p = p * f + 1 / 6
    p = p * f + 0.5
    p = p * f + 1
    p = p * f + 1
    // n + 1.5·2²³ holds n in its low mantissa bits, offset by 2²²; the exponent field is n + 127.
    let field = (unsafeBitCast(n + magic, to: SIMD16<UInt32>.self) & 0x007F_FFFF) &- 0x40_0000 &+ 127
    let scale = unsafeBitCast(field &<< 23, to: SIMD16<Float>.self)
    return (p * scale).replacing(with: 0, where: input .<= -126)
}

/// xʸ in 16 lanes for x ≥ 0 (0 where x ≤ 0): 2^(y log₂ x). Relative error < |y log₂ x| · 3e-7 + 1e-6
/// (e.g. 2e-6 for an environment blob's lobe at a tenth of its peak).
@_transparent
func fastPow(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> {
    let positive = x .> 0
    let safe = x.replacing(with: 1, where: .!positive)
    return fastExp2(y * fastLog2(safe)).replacing(with: 0, where: .!positive)
}

extension SplitMix64 {
    /// A standard normal draw by Box–Muller in Float, √(−2 ln u₁) cos 2πu₂ with u₁ ∈ (0, 1), through
    /// the functions above (sensor noise: libm's double log and cos were 2 % of a render).
    @inline(__always) mutating func fastNormal() -> Float {
        let u1 = (Float(next() >> 40) + 0.5) * 0x1p-24, u2 = uniform()
        return (-2 * Float.ln2 * fastLog2(u1)).squareRoot() * fastCosTwoPi(u2)
    }
}

extension Float {
    static let ln2: Float = 0.693_147_18
}
