import _COpenBLAS

/// The elementwise nonlinearities.
public enum ActivationKind: String, Sendable, CaseIterable {
    /// `0.5·x·(1 + erf(x/√2))` (PyTorch `GELU()`); `d = Φ(x) + x·φ(x)`.
    case gelu
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (PyTorch `GELU(approximate="tanh")`).
    case geluTanh
    /// `max(0, x)`; derivative 1 for x > 0, else 0.
    case relu
    /// `min(max(0, x), 6)`; derivative 1 on (0, 6), else 0.
    case relu6
    /// `x·σ(x)`; `d = σ(x)·(1 + x·(1 − σ(x)))`.
    case silu
    /// `σ(x) = 1/(1 + e^(−x))`; `d = σ(1 − σ)`.
    case sigmoid
}

/// An elementwise activation layer, any shape → same shape. Backward: `dx += dy · f′(x)`.
/// Double uses libm (gradient-checked to 1e-6 relative, inputs away from the ReLU kinks); Float runs a
/// 16-lane path (polynomial exp, Abramowitz–Stegun erf as in PyTorch's vectorised CPU kernel; ≤ 2e-7 absolute
/// error for erf/σ/tanh) and matches PyTorch to 1e-5 normwise in the fixtures.
public final class Activation<Scalar: NNScalar>: Layer {
    public let kind: ActivationKind
    private var input = Tensor<Scalar>(zeros: [0])   // cached, any shape

    public init(_ kind: ActivationKind) { self.kind = kind }

    @inline(__always) static func sigmoid(_ x: Scalar) -> Scalar {
        x >= 0 ? 1 / (1 + Scalar.exp(-x)) : { let e = Scalar.exp(x); return e / (1 + e) }()
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        input = x
        let kind = self.kind
        if Scalar.self == Float.self {   // vectorised Float path (see `activation16`)
            // Written into a fresh tensor: `var y = x` then in place copied x first (x is cached above), a whole extra pass.
            var y = Tensor<Scalar>(uninitialized: x.shape)
            y.data.withUnsafeMutableBufferPointer { p in
            x.data.withUnsafeBufferPointer { xp in
                let f = UnsafeMutableRawPointer(p.baseAddress!).assumingMemoryBound(to: Float.self), count = p.count
                let src = UnsafeRawPointer(xp.baseAddress!).assumingMemoryBound(to: Float.self)
                parallelSlices(count) { range in
                    mapActivation16(kind, src + range.lowerBound, into: f + range.lowerBound, count: range.count)
                }
            } }
            return y
        }
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            switch kind {
            case .gelu:
                let r: Scalar = 1 / Scalar(2).squareRoot()
                for i in p.indices { let v = p[i]; p[i] = 0.5 * v * (1 + Scalar.erf(v * r)) }
            case .geluTanh:
                let k: Scalar = (2 / Scalar.pi).squareRoot()
                for i in p.indices {
                    let v = p[i], inner: Scalar = k * (v + 0.044715 * v * v * v)
                    p[i] = 0.5 * v * (1 + Scalar.tanh(inner))
                }
            case .relu:
                for i in p.indices { p[i] = max(p[i], 0) }
            case .relu6:
                for i in p.indices { p[i] = min(max(p[i], 0), 6) }
            case .silu:
                for i in p.indices { p[i] = p[i] * Self.sigmoid(p[i]) }
            case .sigmoid:
                for i in p.indices { p[i] = Self.sigmoid(p[i]) }
            }
        }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        precondition(dy.count == input.count && dx.count == input.count, "Activation(\(kind)).backward: shapes")
        let kind = self.kind
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { gp in
        dx.data.withUnsafeMutableBufferPointer { dp in
            if Scalar.self == Float.self {   // vectorised Float path
                let x = UnsafeRawPointer(xp.baseAddress!).assumingMemoryBound(to: Float.self)
                let g = UnsafeRawPointer(gp.baseAddress!).assumingMemoryBound(to: Float.self)
                let d = UnsafeMutableRawPointer(dp.baseAddress!).assumingMemoryBound(to: Float.self)
                parallelSlices(dp.count) { range in
                    let o = range.lowerBound
                    accumulateDerivative16(kind, d + o, x + o, g + o, count: range.count)
                }
                return
            }
            switch kind {
            case .gelu:
                let r: Scalar = 1 / Scalar(2).squareRoot(), c: Scalar = 1 / (2 * Scalar.pi).squareRoot()
                for i in dp.indices {
                    let x = xp[i]
                    dp[i] += gp[i] * (0.5 * (1 + Scalar.erf(x * r)) + x * c * Scalar.exp(-0.5 * x * x))
                }
            case .geluTanh:
                let k: Scalar = (2 / Scalar.pi).squareRoot()
                for i in dp.indices {
                    let x = xp[i], x2 = x * x
                    let inner: Scalar = k * (x + 0.044715 * x2 * x)
                    let t = Scalar.tanh(inner)
                    let dInner: Scalar = k * (1 + 0.134145 * x2)
                    let d: Scalar = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner
                    dp[i] += gp[i] * d
                }
            case .relu:
                for i in dp.indices where xp[i] > 0 { dp[i] += gp[i] }
            case .relu6:
                for i in dp.indices where xp[i] > 0 && xp[i] < 6 { dp[i] += gp[i] }
            case .silu:
                for i in dp.indices {
                    let s = Self.sigmoid(xp[i])
                    dp[i] += gp[i] * s * (1 + xp[i] * (1 - s))
                }
            case .sigmoid:
                for i in dp.indices { let s = Self.sigmoid(xp[i]); dp[i] += gp[i] * s * (1 - s) }
            }
        } } }
    }
}

/// Softmax over the last dimension: `y_i = e^(x_i − max) / Σ_j e^(x_j − max)`.
/// x [..., K] → y [..., K]. Backward: `dx += y · (dy − Σ_j dy_j·y_j)`. Gradient-checked in Double to 1e-6 relative.
public final class Softmax<Scalar: NNScalar>: Layer {
    private var output = Tensor<Scalar>(zeros: [0])   // cached [..., K]

    public init() {}

    /// In-place row softmax of `rows` rows of `k` values (shared with attention); optionally stores each row's
    /// shift (max) and 1/Σ so that `rowSoftmaxRecompute` can rebuild the same probabilities bit for bit.
    @_specialize(where Scalar == Float)
    static func rowSoftmax(_ p: UnsafeMutablePointer<Scalar>, rows: Int, k: Int,
                           maxima: UnsafeMutablePointer<Scalar>? = nil, inverseSums: UnsafeMutablePointer<Scalar>? = nil) {
        for r in 0..<rows {
            let row = p + r * k
            var m = row[0]
            var s: Scalar = 0
            if Scalar.self == Float.self {
                let f = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
                m = unsafeBitCast(rowMaximum(f, count: k), to: Scalar.self)
                s = unsafeBitCast(expShiftedInPlace(f, count: k, shift: unsafeBitCast(m, to: Float.self)), to: Scalar.self)
            } else {
                for j in 1..<k { m = max(m, row[j]) }
                for j in 0..<k { row[j] = Scalar.exp(row[j] - m); s += row[j] }
            }
            let inv = 1 / s
            scaleInPlace(row, count: k, by: inv)
            maxima?[r] = m
            inverseSums?[r] = inv
        }
    }

    /// Rebuilds the probabilities from the same scores with the stored shifts and 1/Σ (same operations as `rowSoftmax`).
    @_specialize(where Scalar == Float)
    static func rowSoftmaxRecompute(_ p: UnsafeMutablePointer<Scalar>, rows: Int, k: Int,
                                    maxima: UnsafePointer<Scalar>, inverseSums: UnsafePointer<Scalar>) {
        for r in 0..<rows {
            let row = p + r * k, m = maxima[r], inv = inverseSums[r]
            if Scalar.self == Float.self {   // one pass: the same e^(x − m), then the same · 1/Σ, as rowSoftmax
                let f = UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self)
                expShiftedScaledInPlace(f, count: k, shift: unsafeBitCast(m, to: Float.self), scale: unsafeBitCast(inv, to: Float.self))
            } else {
                for j in 0..<k { row[j] = Scalar.exp(row[j] - m) }
                for j in 0..<k { row[j] *= inv }
            }
        }
    }

    /// dx[r, :] += y·(dy − ⟨dy, y⟩) for `rows` rows of `k` values (shared with attention).
    @_specialize(where Scalar == Float)
    static func rowSoftmaxBackward(y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>, dx: UnsafeMutablePointer<Scalar>,
                                   rows: Int, k: Int) {
        for r in 0..<rows {
            let o = r * k
            let dot = dotProduct(dy + o, y + o, count: k)
            if Scalar.self == Float.self {
                let f = { (p: UnsafePointer<Scalar>) in UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
                softmaxGradientFloat(y: f(y + o), dy: f(dy + o), dot: unsafeBitCast(dot, to: Float.self),
                                     into: UnsafeMutableRawPointer(dx + o).assumingMemoryBound(to: Float.self), count: k, accumulate: true)
            } else {
                for j in 0..<k { dx[o + j] += y[o + j] * (dy[o + j] - dot) }
            }
        }
    }

    /// g[r, :] = y·(g − ⟨g, y⟩) in place (attention's dS from dP).
    @_specialize(where Scalar == Float)
    static func rowSoftmaxBackwardInPlace(y: UnsafePointer<Scalar>, gradient g: UnsafeMutablePointer<Scalar>, rows: Int, k: Int) {
        for r in 0..<rows {
            let o = r * k
            let dot = dotProduct(UnsafePointer(g + o), y + o, count: k)
            if Scalar.self == Float.self {
                let gf = UnsafeMutableRawPointer(g + o).assumingMemoryBound(to: Float.self)
                softmaxGradientFloat(y: UnsafeRawPointer(y + o).assumingMemoryBound(to: Float.self), dy: UnsafePointer(gf),
                                     dot: unsafeBitCast(dot, to: Float.self), into: gf, count: k, accumulate: false)
            } else {
                for j in 0..<k { g[o + j] = y[o + j] * (g[o + j] - dot) }
            }
        }
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let k = x.shape.last ?? 1
        var y = x
        y.data.withUnsafeMutableBufferPointer { Self.rowSoftmax($0.baseAddress!, rows: x.count / k, k: k) }
        output = y
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let k = output.shape.last ?? 1
        precondition(dy.count == output.count && dx.count == output.count, "Softmax.backward: shapes")
        output.data.withUnsafeBufferPointer { yp in
        dy.data.withUnsafeBufferPointer { gp in
        dx.data.withUnsafeMutableBufferPointer { dp in
            Self.rowSoftmaxBackward(y: yp.baseAddress!, dy: gp.baseAddress!, dx: dp.baseAddress!, rows: output.count / k, k: k)
        } } }
    }
}

/// e^x; for Float a branch-free Cephes-style polynomial (Cody–Waite reduction, relative error ≤ 3e-7 on [−87, 88],
/// inputs clamped to that range), for Double the libm `exp` (the gradient checker's reference).
@inline(__always)
func fastExp<S: NNScalar>(_ x: S) -> S {
    if S.self == Float.self { return unsafeBitCast(fastExpFloat(unsafeBitCast(x, to: Float.self)), to: S.self) }
    return S.exp(x)
}

@_transparent
func fastExpFloat(_ x: Float) -> Float { fastExp16(SIMD16(repeating: x))[0] }

/// 16 lanes of the same polynomial: k = round(x·log₂e) via the 1.5·2²³ magic number, r = x − k·ln2 in two parts,
/// e^r by a degree-6 polynomial, 2^k assembled in the exponent bits. Every multiply-add is one FMA (Swift does not
/// contract `a * b + c`; unfused, the polynomial cost twice the instructions) and the magic number carries the
/// exponent bias 127, so 2^k is `shifted`'s bits shifted left by 23: 17 vector instructions instead of 29, which
/// matters because softmax's exponentials are ~10 % of attention.
@_transparent
func fastExp16(_ input: SIMD16<Float>) -> SIMD16<Float> {
    let x = simdMinimum(simdMaximum(input, SIMD16(repeating: -87.3)), SIMD16(repeating: 88.7))
    let magic = SIMD16<Float>(repeating: 12_583_039)   // 1.5·2²³ + 127: low mantissa bits of `shifted` = k + 127
    let shifted = fma16(x, SIMD16(repeating: 1.442_695_04), magic)
    let k = shifted - magic
    let r = fma16(k, SIMD16(repeating: 2.121_944_40e-4), fma16(k, SIMD16(repeating: -0.693_359_375), x))
    var p = fma16(SIMD16(repeating: 1.987_569_150_0e-4), r, SIMD16(repeating: 1.398_199_950_7e-3))
    p = fma16(p, r, SIMD16(repeating: 8.333_451_907_3e-3))
    p = fma16(p, r, SIMD16(repeating: 4.166_579_589_4e-2))
    p = fma16(p, r, SIMD16(repeating: 1.666_666_545_9e-1))
    p = fma16(p, r, SIMD16(repeating: 5.000_000_120_1e-1))
    let e = fma16(p * r, r, r) + 1
    let bits = unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &<< 23
    return e * unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// a·b + c in one rounding, as one 16-lane vfmadd (`SIMD16.addingProduct` is a per-lane loop that LLVM often splits
/// into xmm/ymm/scalar pieces; Swift never contracts `a * b + c`). The C shim's clang builtin does it.
@_transparent
func fma16(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> { headlab_fma16(a, b, c) }

/// p[i] = e^(p[i] − shift) for Float (16 lanes at a time), returning Σ p[i].
@inline(__always)
func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var sum = SIMD16<Float>(repeating: 0), j = 0
    let raw = UnsafeMutableRawPointer(p)
    while j + 16 <= count {
        let v = fastExp16(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - shift)
        raw.storeBytes(of: v, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        sum += v
        j += 16
    }
    var tail: Float = horizontalSum(sum)
    while j < count { p[j] = fastExpFloat(p[j] - shift); tail += p[j]; j += 1 }
    return tail
}

/// p[i] = e^(p[i] − shift) · scale for Float, 16 lanes at a time: the same operations as `expShiftedInPlace`
/// followed by `scaleInPlace`, in one pass.
@inline(__always)
func expShiftedScaledInPlace(_ p: UnsafeMutablePointer<Float>, count: Int, shift: Float, scale: Float) {
    var j = 0
    let raw = UnsafeMutableRawPointer(p)
    while j + 16 <= count {
        let v = fastExp16(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - shift)
        raw.storeBytes(of: v * scale, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        j += 16
    }
    while j < count { p[j] = fastExpFloat(p[j] - shift) * scale; j += 1 }
}

/// p[i] ·= factor (Float 16 lanes at a time; the stdlib loop on generic pointers stays scalar).
@inline(__always)
func scaleInPlace<Scalar: NNScalar>(_ p: UnsafeMutablePointer<Scalar>, count: Int, by factor: Scalar) {
    if Scalar.self == Float.self {
        let raw = UnsafeMutableRawPointer(p), f = unsafeBitCast(factor, to: Float.self)
        var j = 0
        while j + 16 <= count {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) * f, toByteOffset: 4 * j, as: SIMD16<Float>.self)
            j += 16
        }
        while j < count { raw.storeBytes(of: raw.load(fromByteOffset: 4 * j, as: Float.self) * f, toByteOffset: 4 * j, as: Float.self); j += 1 }
        return
    }
    for j in 0..<count { p[j] *= factor }
}

/// The softmax backward row update, 16 lanes at a time: out[i] (+)= y[i] · (dy[i] − dot). `out` may be `dy` itself
/// (in place, accumulate false): each lane is read before it is written.
@inline(__always)
func softmaxGradientFloat(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dot: Float, into out: UnsafeMutablePointer<Float>,
                          count: Int, accumulate: Bool) {
    let yr = UnsafeRawPointer(y), gr = UnsafeRawPointer(dy), or = UnsafeMutableRawPointer(out)
    var j = 0
    while j + 16 <= count {
        var v = yr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) * (gr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - dot)
        if accumulate { v += or.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) }
        or.storeBytes(of: v, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        j += 16
    }
    while j < count {
        let v = y[j] * (dy[j] - dot)
        out[j] = accumulate ? out[j] + v : v
        j += 1
    }
}

/// max of p[0..<count] (count ≥ 1), 16 lanes at a time with four running maxima (one chain waited out vmaxps's
/// latency on every vector: attention's rows are ~80 vectors long).
@inline(__always)
func rowMaximum(_ p: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var best = SIMD16<Float>(repeating: p[0]), j = 0
    var best1 = best, best2 = best, best3 = best
    let raw = UnsafeRawPointer(p)
    while j + 64 <= count {
        best = simdMaximum(best, raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self))
        best1 = simdMaximum(best1, raw.loadUnaligned(fromByteOffset: 4 * j + 64, as: SIMD16<Float>.self))
        best2 = simdMaximum(best2, raw.loadUnaligned(fromByteOffset: 4 * j + 128, as: SIMD16<Float>.self))
        best3 = simdMaximum(best3, raw.loadUnaligned(fromByteOffset: 4 * j + 192, as: SIMD16<Float>.self))
        j += 64
    }
    while j + 16 <= count {
        best = simdMaximum(best, raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self))
        j += 16
    }
    var m = horizontalMaximum(simdMaximum(simdMaximum(best, best1), simdMaximum(best2, best3)))
    while j < count { m = max(m, p[j]); j += 1 }
    return m
}

// MARK: Vectorised Float activations (16 lanes; PyTorch's own vectorised CPU kernels use the same erf formula).

/// erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7): sign(x)·(1 − t·P(t)·e^(−x²)), t = 1/(1 + 0.3275911·|x|).
@_transparent
func fastErf16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / fma16(ax, SIMD16(repeating: 0.327_591_1), SIMD16(repeating: 1))
    var p = fma16(t, SIMD16(repeating: 1.061_405_429), SIMD16(repeating: -1.453_152_027))   // FMAs, as in fastExp16
    p = fma16(p, t, SIMD16(repeating: 1.421_413_741))
    p = fma16(p, t, SIMD16(repeating: -0.284_496_736))
    p = fma16(p, t, SIMD16(repeating: 0.254_829_592))
    let y = fma16(-p * t, fastExp16(-ax * ax), SIMD16(repeating: 1))
    return y.replacing(with: -y, where: x .< 0)
}

/// σ(x) = 1/(1 + e^(−x)) (the exp argument is clamped, so no overflow).
@_transparent
func fastSigmoid16(_ x: SIMD16<Float>) -> SIMD16<Float> { 1 / (1 + fastExp16(-x)) }

/// tanh(z) = 2σ(2z) − 1.
@_transparent
func fastTanh16(_ z: SIMD16<Float>) -> SIMD16<Float> { 2 * fastSigmoid16(2 * z) - 1 }

@_transparent
func activation16(_ kind: ActivationKind, _ x: SIMD16<Float>) -> SIMD16<Float> {
    switch kind {
    case .gelu: return 0.5 * x * (1 + fastErf16(x * 0.707_106_781_186_547_5))
    case .geluTanh:
        let inner: SIMD16<Float> = 0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)
        return 0.5 * x * (1 + fastTanh16(inner))
    case .relu: return x.replacing(with: 0, where: x .< 0)
    case .relu6: return x.replacing(with: 0, where: x .< 0).replacing(with: 6, where: x .> 6)
    case .silu: return x * fastSigmoid16(x)
    case .sigmoid: return fastSigmoid16(x)
    }
}

@_transparent
func derivative16(_ kind: ActivationKind, _ x: SIMD16<Float>) -> SIMD16<Float> {
    let zero = SIMD16<Float>(repeating: 0), one = SIMD16<Float>(repeating: 1)
    switch kind {
    case .gelu:
        let cdf: SIMD16<Float> = 0.5 * (1 + fastErf16(x * 0.707_106_781_186_547_5))
        let density: SIMD16<Float> = 0.398_942_280_401_432_7 * fastExp16(-0.5 * x * x)
        return cdf + x * density
    case .geluTanh:
        let k: Float = 0.797_884_560_802_865_4
        let x2: SIMD16<Float> = x * x
        let inner: SIMD16<Float> = k * (x + 0.044_715 * x2 * x)
        let t = fastTanh16(inner)
        let dInner: SIMD16<Float> = k * (1 + 0.134_145 * x2)
        let left: SIMD16<Float> = 0.5 * (1 + t)
        let right: SIMD16<Float> = 0.5 * x * (1 - t * t) * dInner
        return left + right
    case .relu: return zero.replacing(with: one, where: x .> 0)
    case .relu6: return zero.replacing(with: one, where: (x .> 0) .& (x .< 6))
    case .silu:
        let s = fastSigmoid16(x)
        return s * (1 + x * (1 - s))
    case .sigmoid:
        let s = fastSigmoid16(x)
        return s * (1 - s)
    }
}

/// out[i] = f(x[i]) for the activation `kind`, 16 lanes at a time, one loop per kind with the function written in it
/// (`activation16` is transparent, so each loop inlines its own case). Through `mapFloat16`'s closure, GELU stayed an
/// out-of-line call per vector (SIMD16 passed as four xmm halves, vzeroupper per call), twice PyTorch's cost.
/// The tail (count not a multiple of 16) goes through `mapFloat16`.
@inline(__always)
func mapActivation16(_ kind: ActivationKind, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(out), whole = count & ~15
    switch kind {
    case .gelu: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.gelu, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    case .geluTanh: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.geluTanh, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    case .relu: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.relu, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    case .relu6: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.relu6, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    case .silu: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.silu, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    case .sigmoid: for i in stride(from: 0, to: 4 * whole, by: 64) { dst.storeBytes(of: activation16(.sigmoid, src.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)), toByteOffset: i, as: SIMD16<Float>.self) }
    }
    if whole < count { mapFloat16(x + whole, into: out + whole, count: count - whole) { activation16(kind, $0) } }
}

/// d[i] += g[i] · f′(x[i]) for the activation `kind`, one loop per kind with the derivative written in it (see
/// `mapActivation16`); the tail goes through `accumulateFloat16`.
@inline(__always)
func accumulateDerivative16(_ kind: ActivationKind, _ d: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                            _ g: UnsafePointer<Float>, count: Int) {
    let dr = UnsafeMutableRawPointer(d), xr = UnsafeRawPointer(x), gr = UnsafeRawPointer(g), whole = count & ~15
    @_transparent func step(_ i: Int, _ f: SIMD16<Float>) {   // d += g · f at byte offset i
        let sum = dr.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self) + gr.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self) * f
        dr.storeBytes(of: sum, toByteOffset: i, as: SIMD16<Float>.self)
    }
    @_transparent func input(_ i: Int) -> SIMD16<Float> { xr.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self) }
    switch kind {
    case .gelu: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.gelu, input(i))) }
    case .geluTanh: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.geluTanh, input(i))) }
    case .relu: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.relu, input(i))) }
    case .relu6: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.relu6, input(i))) }
    case .silu: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.silu, input(i))) }
    case .sigmoid: for i in stride(from: 0, to: 4 * whole, by: 64) { step(i, derivative16(.sigmoid, input(i))) }
    }
    if whole < count { accumulateFloat16(d + whole, x + whole, g + whole, count: count - whole) { derivative16(kind, $0) } }
}

/// out[i] = f(x[i]) 16 at a time (out may be x); the tail goes through a zero-padded vector.
@inline(__always)
func mapFloat16(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int, _ f: (SIMD16<Float>) -> SIMD16<Float>) {
    let src = UnsafeRawPointer(x), dst = UnsafeMutableRawPointer(out)
    var i = 0
    while i + 16 <= count {
        dst.storeBytes(of: f(src.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    if i < count {
        var v = SIMD16<Float>(repeating: 0)
        for j in i..<count { v[j - i] = x[j] }
        let r = f(v)
        for j in i..<count { out[j] = r[j - i] }
    }
}

/// d[i] += g[i] · f′(x[i]) 16 at a time.
@inline(__always)
func accumulateFloat16(_ d: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, count: Int,
                       _ derivative: (SIMD16<Float>) -> SIMD16<Float>) {
    let dr = UnsafeMutableRawPointer(d), xr = UnsafeRawPointer(x), gr = UnsafeRawPointer(g)
    var i = 0
    while i + 16 <= count {
        let xv = xr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        let gv = gr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        let dv = dr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        dr.storeBytes(of: dv + gv * derivative(xv), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    if i < count {
        var xv = SIMD16<Float>(repeating: 0)
        for j in i..<count { xv[j - i] = x[j] }
        let dv = derivative(xv)
        for j in i..<count { d[j] += g[j] * dv[j - i] }
    }
}

/// Σ a[i]·b[i]; Float accumulates in 16 lanes (then a lane sum), Double sequentially.
@inline(__always)
func dotProduct<Scalar: NNScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, count: Int) -> Scalar {
    if Scalar.self == Float.self {
        let ar = UnsafeRawPointer(a), br = UnsafeRawPointer(b)
        var acc = SIMD16<Float>(repeating: 0), i = 0
        while i + 16 <= count {
            acc += ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * br.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
        var s = horizontalSum(acc)
        while i < count { s += ar.load(fromByteOffset: 4 * i, as: Float.self) * br.load(fromByteOffset: 4 * i, as: Float.self); i += 1 }
        return unsafeBitCast(s, to: Scalar.self)
    }
    var s: Scalar = 0
    for i in 0..<count { s += a[i] * b[i] }
    return s
}

/// Σ a[i]; Float in 16 lanes, Double sequentially.
@inline(__always)
func elementSum<Scalar: NNScalar>(_ a: UnsafePointer<Scalar>, count: Int) -> Scalar {
    if Scalar.self == Float.self {
        let ar = UnsafeRawPointer(a)
        var acc = SIMD16<Float>(repeating: 0), i = 0
        while i + 16 <= count { acc += ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self); i += 16 }
        var s = horizontalSum(acc)
        while i < count { s += ar.load(fromByteOffset: 4 * i, as: Float.self); i += 1 }
        return unsafeBitCast(s, to: Scalar.self)
    }
    var s: Scalar = 0
    for i in 0..<count { s += a[i] }
    return s
}

// MARK: SIMD helpers. The standard library's `pointwiseMax/Min`, `clamped` and `max()` on SIMD16 compile to
// scalar loops with NaN handling; these compile to vector compares and blends (NaN in `a` is kept).

/// Lane-wise max(a, b).
@_transparent
func simdMaximum(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: b .> a) }

/// Lane-wise min(a, b).
@_transparent
func simdMinimum(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: b .< a) }

/// Σ of the 16 lanes by halving (8 + 4 + 2 + 1 vector adds instead of 15 dependent scalar adds).
@_transparent
func horizontalSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// max of the 16 lanes by halving.
@_transparent
func horizontalMaximum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
    let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
    return Swift.max(c[0], c[1])
}
