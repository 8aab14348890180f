/// Layer normalisation over the last dimension (PyTorch `nn.LayerNorm(C)`, biased variance):
/// `y = (x − μ) / √(σ² + eps) · γ + β`, μ and σ² per row of C values.
///
/// x [..., C] → y [..., C]. Backward (with n̂ = (x − μ)·rstd, g = dy·γ):
/// `dx += rstd · (g − mean(g) − n̂ · mean(g·n̂))`, `dγ += Σ dy·n̂`, `dβ += Σ dy`.
/// Gradient-checked in Double to 1e-6 relative.
public final class LayerNorm<Scalar: NNScalar>: Layer {
    public let features: Int, eps: Scalar
    public let weight: Parameter<Scalar>   // γ [C]
    public let bias: Parameter<Scalar>     // β [C]
    private var input = Tensor<Scalar>(zeros: [0])   // cached [..., C]
    private var mean: [Scalar] = []                  // [rows]
    private var rstd: [Scalar] = []                  // [rows]

    /// γ = 1, β = 0. timm ViTs use eps = 1e-6; PyTorch's default is 1e-5.
    public init(_ features: Int, eps: Scalar = 1e-5, name: String = "norm") {
        self.features = features
        self.eps = eps
        weight = Parameter(name + ".weight", Tensor(shape: [features], repeating: 1))
        bias = Parameter(name + ".bias", Tensor(zeros: [features]))
    }

    public var parameters: [Parameter<Scalar>] { [weight, bias] }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.shape.last == features, "LayerNorm(\(weight.name)): input \(x.shape) last dim must be \(features)")
        input = x
        let c = features, rows = x.count / c, eps = self.eps
        mean = [Scalar](repeating: 0, count: rows)
        rstd = [Scalar](repeating: 0, count: rows)
        var y = Tensor<Scalar>(uninitialized: x.shape)   // [..., C]
        x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeMutableBufferPointer { yp in
        weight.value.data.withUnsafeBufferPointer { gp in
        bias.value.data.withUnsafeBufferPointer { bp in
        mean.withUnsafeMutableBufferPointer { meanp in
        rstd.withUnsafeMutableBufferPointer { rstdp in
            let xBase = xp.baseAddress!, yBase = yp.baseAddress!, g = gp.baseAddress!, b = bp.baseAddress!
            let meanBase = meanp.baseAddress!, rstdBase = rstdp.baseAddress!
            parallelChunks(rows, parallel: rows * c >= 1 << 15) { _, range in   // rows are independent
                for r in range {
                    let row = xBase + r * c, out = yBase + r * c
                    let m = elementSum(row, count: c) / Scalar(c)
                    let v = squaredDeviationSum(row, count: c, mean: m) / Scalar(c)
                    let s = 1 / (v + eps).squareRoot()
                    meanBase[r] = m; rstdBase[r] = s
                    for i in 0..<c { out[i] = (row[i] - m) * s * g[i] + b[i] }
                }
            }
        } } } } } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let c = features, rows = input.count / c
        precondition(dy.count == input.count && dx.count == input.count, "LayerNorm(\(weight.name)).backward: shapes")
        let workers = rows * c >= 1 << 15 ? workerCount(rows) : 1
        // Per-worker dγ, dβ partial sums [workers, 2, C], added in worker order (deterministic for a thread count).
        var partial = [Scalar](repeating: 0, count: workers * 2 * c)
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
        weight.value.data.withUnsafeBufferPointer { gp in
        partial.withUnsafeMutableBufferPointer { pp in
        mean.withUnsafeBufferPointer { meanp in
        rstd.withUnsafeBufferPointer { rstdp in
            let xBase = xp.baseAddress!, dyBase = dyp.baseAddress!, dxBase = dxp.baseAddress!, gamma = gp.baseAddress!
            let partialBase = pp.baseAddress!, meanBase = meanp.baseAddress!, rstdBase = rstdp.baseAddress!
            parallelChunks(rows, parallel: rows * c >= 1 << 15) { worker, range in
                let dg = partialBase + worker * 2 * c, db = dg + c
                let normalised = UnsafeMutablePointer<Scalar>.allocate(capacity: 2 * c)   // n̂ and g = dy·γ of one row
                defer { normalised.deallocate() }
                let gradient = normalised + c
                for r in range {
                    let x = xBase + r * c, d = dyBase + r * c, out = dxBase + r * c
                    let m = meanBase[r], s = rstdBase[r]
                    for i in 0..<c {
                        let nh = (x[i] - m) * s
                        normalised[i] = nh
                        gradient[i] = d[i] * gamma[i]
                        dg[i] += d[i] * nh
                        db[i] += d[i]
                    }
                    let meanG = elementSum(UnsafePointer(gradient), count: c) / Scalar(c)
                    let meanGN = dotProduct(UnsafePointer(gradient), UnsafePointer(normalised), count: c) / Scalar(c)
                    for i in 0..<c { out[i] += s * (gradient[i] - meanG - normalised[i] * meanGN) }
                }
            }
        } } } } } } }
        weight.grad.data.withUnsafeMutableBufferPointer { dgp in
        bias.grad.data.withUnsafeMutableBufferPointer { dbp in
            for w in 0..<workers { for i in 0..<c {
                dgp[i] += partial[w * 2 * c + i]
                dbp[i] += partial[w * 2 * c + c + i]
            } }
        } }
    }
}

/// Σ (p[i] − mean)²; Float in 16 lanes, Double sequentially.
@inline(__always)
func squaredDeviationSum<Scalar: NNScalar>(_ p: UnsafePointer<Scalar>, count: Int, mean: Scalar) -> Scalar {
    if Scalar.self == Float.self {
        let raw = UnsafeRawPointer(p), m = unsafeBitCast(mean, to: Float.self)
        var acc = SIMD16<Float>(repeating: 0), i = 0
        while i + 16 <= count {
            let d = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - m
            acc += d * d
            i += 16
        }
        var s = horizontalSum(acc)
        while i < count { let d = raw.load(fromByteOffset: 4 * i, as: Float.self) - m; s += d * d; i += 1 }
        return unsafeBitCast(s, to: Scalar.self)
    }
    var s: Scalar = 0
    for i in 0..<count { let d = p[i] - mean; s += d * d }
    return s
}

/// Batch normalisation in inference mode (PyTorch `nn.BatchNorm2d` in `eval()`), folded per channel:
/// `y = x · scale[c] + shift[c]`, scale = γ / √(runningVar + eps), shift = β − runningMean · scale.
///
/// x [N, C, ...] → y same shape. Running statistics are buffers (checkpointed, not trained).
/// Backward: `dx += dy · scale`, `dγ += Σ dy · (x − runningMean)/√(runningVar + eps)`, `dβ += Σ dy`.
/// Gradient-checked in Double to 1e-6 relative.
public final class BatchNormInference<Scalar: NNScalar>: Layer {
    public let channels: Int, eps: Scalar
    public let weight: Parameter<Scalar>        // γ [C]
    public let bias: Parameter<Scalar>          // β [C]
    public let runningMean: Parameter<Scalar>   // [C] buffer (its grad is unused)
    public let runningVar: Parameter<Scalar>    // [C] buffer (its grad is unused)
    private var input = Tensor<Scalar>(zeros: [0])   // cached [N, C, ...]

    public init(_ channels: Int, eps: Scalar = 1e-5, name: String = "bn") {
        self.channels = channels
        self.eps = eps
        weight = Parameter(name + ".weight", Tensor(shape: [channels], repeating: 1))
        bias = Parameter(name + ".bias", Tensor(zeros: [channels]))
        runningMean = Parameter(name + ".running_mean", Tensor(zeros: [channels]))
        runningVar = Parameter(name + ".running_var", Tensor(shape: [channels], repeating: 1))
    }

    public var parameters: [Parameter<Scalar>] { [weight, bias] }
    /// Non-trainable state that a checkpoint must carry.
    public var buffers: [Parameter<Scalar>] { [runningMean, runningVar] }

    /// The folded per-channel (scale, shift).
    public func folded() -> (scale: [Scalar], shift: [Scalar]) {
        var scale = [Scalar](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            scale[c] = weight.value.data[c] / (runningVar.value.data[c] + eps).squareRoot()
            shift[c] = bias.value.data[c] - runningMean.value.data[c] * scale[c]
        }
        return (scale, shift)
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank >= 2 && x.shape[1] == channels, "BatchNorm(\(weight.name)): input \(x.shape), want [N, \(channels), ...]")
        input = x
        let (scale, shift) = folded()
        let n = x.shape[0], inner = x.count / (n * channels)
        var y = Tensor<Scalar>(zeros: x.shape)   // [N, C, ...]
        x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeMutableBufferPointer { yp in
            for s in 0..<n { for c in 0..<channels {
                let base = (s * channels + c) * inner, a = scale[c], b = shift[c]
                for i in 0..<inner { yp[base + i] = xp[base + i] * a + b }
            } }
        } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        precondition(dy.count == input.count && dx.count == input.count, "BatchNorm(\(weight.name)).backward: shapes")
        let n = input.shape[0], inner = input.count / (n * channels)
        let (scale, _) = folded()
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
            for c in 0..<channels {
                let a = scale[c], m = runningMean.value.data[c]
                let invStd = 1 / (runningVar.value.data[c] + eps).squareRoot()
                var dGamma: Scalar = 0, dBeta: Scalar = 0
                for s in 0..<n {
                    let base = (s * channels + c) * inner
                    for i in 0..<inner {
                        let g = dyp[base + i]
                        dxp[base + i] += g * a
                        dGamma += g * (xp[base + i] - m) * invStd
                        dBeta += g
                    }
                }
                weight.grad.data[c] += dGamma
                bias.grad.data[c] += dBeta
            }
        } } }
    }
}
