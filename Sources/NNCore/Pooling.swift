/// 2D max pooling (PyTorch `nn.MaxPool2d`, padding counts as −∞, dilation 1), NCHW:
/// `y[n, c, oy, ox] = max_{i,j} x[n, c, oy·s − p + i, ox·s − p + j]`.
///
/// x [N, C, H, W] → y [N, C, Ho, Wo], Ho = ⌊(H + 2p − k)/s⌋ + 1. Backward routes dy to the (first) arg-max,
/// recomputed from the cached input. Gradient-checked in Double to 1e-6 relative (ties are measure-zero).
public final class MaxPool2d<Scalar: NNScalar>: Layer {
    public let kernel: Int, stride: Int, padding: Int
    private var input = Tensor<Scalar>(zeros: [0])   // cached [N, C, H, W]
    private var argmax: [Int32] = []                 // [N, C, Ho, Wo] flat index into the plane

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0) {
        precondition(padding * 2 <= kernel, "MaxPool2d: padding must be at most half the kernel")
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4, "MaxPool2d: input \(x.shape), want [N, C, H, W]")
        input = x
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
        var y = Tensor<Scalar>(zeros: [x.shape[0], x.shape[1], ho, wo])   // [N, C, Ho, Wo]
        argmax = [Int32](repeating: 0, count: y.count)
        x.data.withUnsafeBufferPointer { xp in
        y.data.withUnsafeMutableBufferPointer { yp in
            for pl in 0..<planes {
                let src = xp.baseAddress! + pl * h * w
                for oy in 0..<ho { for ox in 0..<wo {
                    var best = -Scalar.infinity, at = -1
                    for i in 0..<kernel {
                        let yy = oy * stride - padding + i
                        if yy < 0 || yy >= h { continue }
                        for j in 0..<kernel {
                            let xx = ox * stride - padding + j
                            if xx < 0 || xx >= w { continue }
                            let v = src[yy * w + xx]
                            if v > best || at < 0 { best = v; at = yy * w + xx }
                        }
                    }
                    let o = (pl * ho + oy) * wo + ox
                    yp[o] = best; argmax[o] = Int32(at)
                } }
            }
        } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        precondition(dy.count == argmax.count && dx.count == input.count, "MaxPool2d.backward: shapes")
        let hw = input.shape[2] * input.shape[3], outPlane = dy.shape[2] * dy.shape[3]
        for o in 0..<dy.count { dx.data[(o / outPlane) * hw + Int(argmax[o])] += dy.data[o] }
    }
}

/// 2D average pooling (PyTorch `nn.AvgPool2d`, zero padding, `count_include_pad=True` by default), NCHW:
/// `y = (1/k²) Σ_{window} x` (or divided by the number of in-bounds taps when `countIncludePad` is false).
/// x [N, C, H, W] → y [N, C, Ho, Wo]. Backward spreads dy/divisor over the window. Gradient-checked to 1e-6.
public final class AvgPool2d<Scalar: NNScalar>: Layer {
    public let kernel: Int, stride: Int, padding: Int, countIncludePad: Bool
    private var inputShape: [Int] = []

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) {
        self.kernel = kernel; self.stride = stride ?? kernel; self.padding = padding; self.countIncludePad = countIncludePad
    }

    private func window(_ o: Int, _ size: Int) -> (Int, Int) {
        (max(o * stride - padding, 0), min(o * stride - padding + kernel, size))
    }

    private func divisor(_ oy: Int, _ ox: Int, _ h: Int, _ w: Int) -> Scalar {
        if countIncludePad {
            // PyTorch clips the window to the padded extent.
            let y0 = oy * stride - padding, x0 = ox * stride - padding
            let y1 = min(y0 + kernel, h + padding), x1 = min(x0 + kernel, w + padding)
            return Scalar((y1 - y0) * (x1 - x0))
        }
        let (ya, yb) = window(oy, h), (xa, xb) = window(ox, w)
        return Scalar((yb - ya) * (xb - xa))
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4, "AvgPool2d: input \(x.shape), want [N, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
        let ho = (h + 2 * padding - kernel) / stride + 1, wo = (w + 2 * padding - kernel) / stride + 1
        var y = Tensor<Scalar>(zeros: [x.shape[0], x.shape[1], ho, wo])   // [N, C, Ho, Wo]
        for pl in 0..<planes { for oy in 0..<ho { for ox in 0..<wo {
            let (ya, yb) = window(oy, h), (xa, xb) = window(ox, w)
            var s: Scalar = 0
            for yy in ya..<yb { for xx in xa..<xb { s += x.data[(pl * h + yy) * w + xx] } }
            y.data[(pl * ho + oy) * wo + ox] = s / divisor(oy, ox, h, w)
        } } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3], ho = dy.shape[2], wo = dy.shape[3]
        precondition(dx.count == planes * h * w && dy.count == planes * ho * wo, "AvgPool2d.backward: shapes")
        for pl in 0..<planes { for oy in 0..<ho { for ox in 0..<wo {
            let (ya, yb) = window(oy, h), (xa, xb) = window(ox, w)
            let g = dy.data[(pl * ho + oy) * wo + ox] / divisor(oy, ox, h, w)
            for yy in ya..<yb { for xx in xa..<xb { dx.data[(pl * h + yy) * w + xx] += g } }
        } } }
    }
}

/// Global average pooling: `y[n, c] = mean_{h,w} x[n, c, h, w]`. x [N, C, H, W] → y [N, C].
/// Backward: `dx[n, c, h, w] += dy[n, c] / (H·W)`. Gradient-checked to 1e-6.
public final class GlobalAvgPool2d<Scalar: NNScalar>: Layer {
    private var inputShape: [Int] = []

    public init() {}

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4, "GlobalAvgPool2d: input \(x.shape), want [N, C, H, W]")
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3]
        var y = Tensor<Scalar>(zeros: [x.shape[0], x.shape[1]])   // [N, C]
        for pl in 0..<planes {
            var s: Scalar = 0
            for i in 0..<hw { s += x.data[pl * hw + i] }
            y.data[pl] = s / Scalar(hw)
        }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let planes = inputShape[0] * inputShape[1], hw = inputShape[2] * inputShape[3]
        precondition(dy.count == planes && dx.count == planes * hw, "GlobalAvgPool2d.backward: shapes")
        for pl in 0..<planes {
            let g = dy.data[pl] / Scalar(hw)
            for i in 0..<hw { dx.data[pl * hw + i] += g }
        }
    }
}
