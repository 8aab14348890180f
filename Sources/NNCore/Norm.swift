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
        let c = features, rows = x.count / c
        mean = [Scalar](repeating: 0, count: rows)
        rstd = [Scalar](repeating: 0, count: rows)
        var y = Tensor<Scalar>(zeros: x.shape)   // [..., C]
        x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeMutableBufferPointer { yp in
        weight.value.data.withUnsafeBufferPointer { gp in
        bias.value.data.withUnsafeBufferPointer { bp in
            for r in 0..<rows {
                let row = r * c
                var m: Scalar = 0
                for i in 0..<c { m += xp[row + i] }
                m /= Scalar(c)
                var v: Scalar = 0
                for i in 0..<c { let d = xp[row + i] - m; v += d * d }
                v /= Scalar(c)
                let s = 1 / (v + eps).squareRoot()
                mean[r] = m; rstd[r] = s
                for i in 0..<c { yp[row + i] = (xp[row + i] - m) * s * gp[i] + bp[i] }
            }
        } } } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let c = features, rows = input.count / c
        precondition(dy.count == input.count && dx.count == input.count, "LayerNorm(\(weight.name)).backward: shapes")
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
        weight.value.data.withUnsafeBufferPointer { gp in
        weight.grad.data.withUnsafeMutableBufferPointer { dgp in
        bias.grad.data.withUnsafeMutableBufferPointer { dbp in
            for r in 0..<rows {
                let row = r * c, m = mean[r], s = rstd[r]
                var meanG: Scalar = 0, meanGN: Scalar = 0
                for i in 0..<c {
                    let nh = (xp[row + i] - m) * s, g = dyp[row + i] * gp[i]
                    meanG += g; meanGN += g * nh
                    dgp[i] += dyp[row + i] * nh
                    dbp[i] += dyp[row + i]
                }
                meanG /= Scalar(c); meanGN /= Scalar(c)
                for i in 0..<c {
                    let nh = (xp[row + i] - m) * s, g = dyp[row + i] * gp[i]
                    dxp[row + i] += s * (g - meanG - nh * meanGN)
                }
            }
        } } } } } }
    }
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
