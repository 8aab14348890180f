import Foundation

/// Interpolation kernels, each with PyTorch `F.interpolate(..., align_corners=False)` semantics.
public enum ResampleMode: String, Sendable {
    /// `mode="bilinear"`: src = (o + ½)·in/out − ½ clamped at 0; two taps, the upper clamped to in − 1.
    case bilinear
    /// `mode="bicubic"`: Keys cubic with A = −0.75, four taps, indices clamped to the border (DINOv2).
    case bicubic
    /// `mode="bicubic", antialias=True`: Keys cubic with a = −0.5, support widened by in/out when
    /// downsampling, taps cut at the border and renormalised (timm `resample_abs_pos_embed`).
    case bicubicAntialias
}

/// Per-output-index taps of a 1D resampling: out[o] = Σ_t weight[o, t] · in[index[o, t]].
/// (Unused taps have weight 0.) Separable 2D resampling applies one along H, one along W.
struct ResampleTaps<Scalar: NNScalar> {
    var outSize: Int, tapCount: Int
    var index: [Int]       // [out, taps]
    var weight: [Scalar]   // [out, taps]

    init(inSize: Int, outSize: Int, mode: ResampleMode) {
        precondition(inSize > 0 && outSize > 0, "resample: sizes must be positive (\(inSize) → \(outSize))")
        self.outSize = outSize
        let scale = Double(inSize) / Double(outSize)
        func cubic1(_ x: Double, _ a: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func cubic2(_ x: Double, _ a: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        switch mode {
        case .bilinear:
            tapCount = 2
            index = [Int](repeating: 0, count: outSize * 2); weight = [Scalar](repeating: 0, count: outSize * 2)
            for o in 0..<outSize {
                let src = max((Double(o) + 0.5) * scale - 0.5, 0)
                let i0 = min(Int(src), inSize - 1), l1 = src - Double(i0)
                index[2 * o] = i0; index[2 * o + 1] = min(i0 + 1, inSize - 1)
                weight[2 * o] = Scalar(1 - l1); weight[2 * o + 1] = Scalar(l1)
            }
        case .bicubic:
            tapCount = 4
            index = [Int](repeating: 0, count: outSize * 4); weight = [Scalar](repeating: 0, count: outSize * 4)
            let a = -0.75
            for o in 0..<outSize {
                let src = (Double(o) + 0.5) * scale - 0.5
                let i0 = Int(floor(src)), t = src - floor(src)
                let w = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)]
                for k in 0..<4 {
                    index[4 * o + k] = min(max(i0 - 1 + k, 0), inSize - 1)
                    weight[4 * o + k] = Scalar(w[k])
                }
            }
        case .bicubicAntialias:
            let a = -0.5
            let support = scale >= 1 ? 2 * scale : 2.0
            let invScale = scale >= 1 ? 1 / scale : 1.0
            tapCount = Int(ceil(support)) * 2 + 1
            index = [Int](repeating: 0, count: outSize * tapCount); weight = [Scalar](repeating: 0, count: outSize * tapCount)
            for o in 0..<outSize {
                let center = scale * (Double(o) + 0.5)
                let lo = max(Int(center - support + 0.5), 0)   // Int() truncates toward zero, as C++ static_cast
                let size = min(Int(center + support + 0.5), inSize) - lo
                var w = [Double](repeating: 0, count: max(size, 0)), total = 0.0
                for j in 0..<max(size, 0) {
                    let x = abs((Double(j + lo) - center + 0.5) * invScale)
                    w[j] = x < 1 ? cubic1(x, a) : (x < 2 ? cubic2(x, a) : 0)
                    total += w[j]
                }
                precondition(size <= tapCount, "resample: tap overflow")
                for j in 0..<max(size, 0) {
                    index[o * tapCount + j] = j + lo
                    weight[o * tapCount + j] = Scalar(total != 0 ? w[j] / total : w[j])
                }
                for j in max(size, 0)..<tapCount { index[o * tapCount + j] = min(lo, inSize - 1) }
            }
        }
    }
}

/// Separable 2D resampling of a channels-last grid x [B, H, W, C] → y [B, Ho, Wo, C] (forward and adjoint).
struct SeparableResampler<Scalar: NNScalar> {
    let batch: Int, height: Int, width: Int, channels: Int
    let rows: ResampleTaps<Scalar>, cols: ResampleTaps<Scalar>

    init(batch: Int, height: Int, width: Int, channels: Int, outHeight: Int, outWidth: Int, mode: ResampleMode) {
        self.batch = batch; self.height = height; self.width = width; self.channels = channels
        rows = ResampleTaps(inSize: height, outSize: outHeight, mode: mode)
        cols = ResampleTaps(inSize: width, outSize: outWidth, mode: mode)
    }

    @_specialize(where Scalar == Float)
    func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>) {
        let ho = rows.outSize, wo = cols.outSize, c = channels, rowLen = width * c
        var tmp = [Scalar](repeating: 0, count: ho * rowLen)   // [Ho, W, C] for one batch item
        tmp.withUnsafeMutableBufferPointer { tp in
            for b in 0..<batch {
                let xb = x + b * height * rowLen, yb = y + b * ho * wo * c
                for i in 0..<tp.count { tp[i] = 0 }
                for oh in 0..<ho { for t in 0..<rows.tapCount {
                    let w = rows.weight[oh * rows.tapCount + t]
                    if w == 0 { continue }
                    let src = xb + rows.index[oh * rows.tapCount + t] * rowLen, dst = tp.baseAddress! + oh * rowLen
                    for i in 0..<rowLen { dst[i] += w * src[i] }
                } }
                for oh in 0..<ho { for ow in 0..<wo {
                    let dst = yb + (oh * wo + ow) * c
                    for i in 0..<c { dst[i] = 0 }
                    for t in 0..<cols.tapCount {
                        let w = cols.weight[ow * cols.tapCount + t]
                        if w == 0 { continue }
                        let src = tp.baseAddress! + oh * rowLen + cols.index[ow * cols.tapCount + t] * c
                        for i in 0..<c { dst[i] += w * src[i] }
                    }
                } }
            }
        }
    }

    /// dx += Aᵀ dy.
    @_specialize(where Scalar == Float)
    func backward(_ dy: UnsafePointer<Scalar>, _ dx: UnsafeMutablePointer<Scalar>) {
        let ho = rows.outSize, wo = cols.outSize, c = channels, rowLen = width * c
        var tmp = [Scalar](repeating: 0, count: ho * rowLen)   // d tmp [Ho, W, C]
        tmp.withUnsafeMutableBufferPointer { tp in
            for b in 0..<batch {
                let dyb = dy + b * ho * wo * c, dxb = dx + b * height * rowLen
                for i in 0..<tp.count { tp[i] = 0 }
                for oh in 0..<ho { for ow in 0..<wo {
                    let src = dyb + (oh * wo + ow) * c
                    for t in 0..<cols.tapCount {
                        let w = cols.weight[ow * cols.tapCount + t]
                        if w == 0 { continue }
                        let dst = tp.baseAddress! + oh * rowLen + cols.index[ow * cols.tapCount + t] * c
                        for i in 0..<c { dst[i] += w * src[i] }
                    }
                } }
                for oh in 0..<ho { for t in 0..<rows.tapCount {
                    let w = rows.weight[oh * rows.tapCount + t]
                    if w == 0 { continue }
                    let dst = dxb + rows.index[oh * rows.tapCount + t] * rowLen, src = tp.baseAddress! + oh * rowLen
                    for i in 0..<rowLen { dst[i] += w * src[i] }
                } }
            }
        }
    }
}

/// Image resize (PyTorch `F.interpolate(x, size=(Ho, Wo), mode=..., align_corners=False)`), up or down, NCHW:
/// x [N, C, H, W] → y [N, C, Ho, Wo]. Linear in x; backward applies the transpose (dx += Aᵀ·dy).
/// Matches PyTorch to ~1e-6 relative; gradient-checked in Double to 1e-6.
public final class Resize2d<Scalar: NNScalar>: Layer {
    public let outHeight: Int, outWidth: Int, mode: ResampleMode
    private var inputShape: [Int] = []

    public init(height: Int, width: Int, mode: ResampleMode = .bilinear) {
        outHeight = height; outWidth = width; self.mode = mode
    }

    private func resampler(_ s: [Int]) -> SeparableResampler<Scalar> {
        SeparableResampler(batch: s[0] * s[1], height: s[2], width: s[3], channels: 1,
                           outHeight: outHeight, outWidth: outWidth, mode: mode)
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4, "Resize2d: input \(x.shape), want [N, C, H, W]")
        inputShape = x.shape
        var y = Tensor<Scalar>(zeros: [x.shape[0], x.shape[1], outHeight, outWidth])   // [N, C, Ho, Wo]
        let r = resampler(x.shape)
        x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { r.forward(xp.baseAddress!, $0.baseAddress!) } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        precondition(dy.shape == [inputShape[0], inputShape[1], outHeight, outWidth] && dx.shape == inputShape,
                     "Resize2d.backward: shapes")
        let r = resampler(inputShape)
        dy.data.withUnsafeBufferPointer { gp in dx.data.withUnsafeMutableBufferPointer { r.backward(gp.baseAddress!, $0.baseAddress!) } }
    }
}

/// Position-embedding interpolation as timm/DINOv2 do it: the [1, prefix + H·W, C] table's grid part is
/// viewed as an H×W image with C channels, resized bicubically to Ho×Wo, and the prefix (class/register)
/// tokens are passed through unchanged: → [1, prefix + Ho·Wo, C].
/// Use `.bicubic` for DINOv2 (`antialias=False`) and `.bicubicAntialias` for timm's `resample_abs_pos_embed`.
/// Matches PyTorch to ~1e-6 relative; backward (the transpose) is gradient-checked in Double to 1e-6.
public final class PositionEmbeddingResize<Scalar: NNScalar>: Layer {
    public let grid: (Int, Int), newGrid: (Int, Int), prefixTokens: Int, mode: ResampleMode
    private var channels = 0

    public init(grid: (Int, Int), newGrid: (Int, Int), prefixTokens: Int = 1, mode: ResampleMode = .bicubic) {
        self.grid = grid; self.newGrid = newGrid; self.prefixTokens = prefixTokens; self.mode = mode
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 3 && x.shape[0] == 1 && x.shape[1] == prefixTokens + grid.0 * grid.1,
                     "PositionEmbeddingResize: input \(x.shape), want [1, \(prefixTokens + grid.0 * grid.1), C]")
        let c = x.shape[2]
        channels = c
        var y = Tensor<Scalar>(zeros: [1, prefixTokens + newGrid.0 * newGrid.1, c])   // [1, prefix + Ho·Wo, C]
        for i in 0..<(prefixTokens * c) { y.data[i] = x.data[i] }
        let r = SeparableResampler<Scalar>(batch: 1, height: grid.0, width: grid.1, channels: c,
                                           outHeight: newGrid.0, outWidth: newGrid.1, mode: mode)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { r.forward(xp.baseAddress! + prefixTokens * c, $0.baseAddress! + prefixTokens * c) }
        }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let c = channels
        precondition(dy.count == (prefixTokens + newGrid.0 * newGrid.1) * c && dx.count == (prefixTokens + grid.0 * grid.1) * c,
                     "PositionEmbeddingResize.backward: shapes")
        for i in 0..<(prefixTokens * c) { dx.data[i] += dy.data[i] }
        let r = SeparableResampler<Scalar>(batch: 1, height: grid.0, width: grid.1, channels: c,
                                           outHeight: newGrid.0, outWidth: newGrid.1, mode: mode)
        dy.data.withUnsafeBufferPointer { gp in
            dx.data.withUnsafeMutableBufferPointer { r.backward(gp.baseAddress! + prefixTokens * c, $0.baseAddress! + prefixTokens * c) }
        }
    }
}
