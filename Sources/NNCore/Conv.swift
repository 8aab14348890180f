import Foundation

/// Geometry of a 2D sliding window, shared by im2col/col2im, convolution and transposed convolution.
/// The "image" is [channels, height, width]; the "columns" are [channels·kh·kw, outHeight·outWidth].
@usableFromInline
struct WindowGeometry {
    var channels: Int, height: Int, width: Int
    var kernelH: Int, kernelW: Int
    var strideH: Int, strideW: Int
    var padH: Int, padW: Int
    var dilationH: Int, dilationW: Int
    var outHeight: Int, outWidth: Int
    var rows: Int { channels * kernelH * kernelW }
    var columns: Int { outHeight * outWidth }

    /// The output columns ox (half-open, clamped to 0..<outWidth) whose input column ox·s − p + j·d is inside the image.
    @inline(__always) func validColumns(_ j: Int) -> (Int, Int) {
        let offset = j * dilationW - padW                  // x = ox·s + offset
        let lo = offset >= 0 ? 0 : (-offset + strideW - 1) / strideW
        let last = width - 1 - offset                       // need ox·s ≤ last
        let hi = last < 0 ? 0 : min(last / strideW + 1, outWidth)
        return (min(lo, hi), hi)
    }
}

/// col[(c·kh + i)·kw + j, oy·outW + ox] = image[c, oy·s − p + i·d, ox·s − p + j·d] (0 outside).
@usableFromInline
@_specialize(where Scalar == Float)
func im2col<Scalar: NNScalar>(_ g: WindowGeometry, _ image: UnsafePointer<Scalar>, _ col: UnsafeMutablePointer<Scalar>) {
    let cols = g.columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for i in 0..<g.kernelH { for j in 0..<g.kernelW {
            let row = col + ((c * g.kernelH + i) * g.kernelW + j) * cols
            for oy in 0..<g.outHeight {
                let y = oy * g.strideH - g.padH + i * g.dilationH
                let out = row + oy * g.outWidth
                if y < 0 || y >= g.height {
                    for ox in 0..<g.outWidth { out[ox] = 0 }
                    continue
                }
                // Valid ox: 0 ≤ ox·s − p + j·d < W; zero outside, strided copy inside (no per-element bounds test).
                let (lo, hi) = g.validColumns(j)
                let src = plane + y * g.width - g.padW + j * g.dilationW
                for ox in 0..<lo { out[ox] = 0 }
                if g.strideW == 1 {
                    for ox in lo..<hi { out[ox] = src[ox] }
                } else {
                    for ox in lo..<hi { out[ox] = src[ox * g.strideW] }
                }
                for ox in hi..<g.outWidth { out[ox] = 0 }
            }
        } }
    }
}

/// The adjoint of `im2col`: image[c, y, x] += col[...] for every window position that reads it.
@usableFromInline
@_specialize(where Scalar == Float)
func col2imAccumulate<Scalar: NNScalar>(_ g: WindowGeometry, _ col: UnsafePointer<Scalar>, _ image: UnsafeMutablePointer<Scalar>) {
    let cols = g.columns
    for c in 0..<g.channels {
        let plane = image + c * g.height * g.width
        for i in 0..<g.kernelH { for j in 0..<g.kernelW {
            let row = col + ((c * g.kernelH + i) * g.kernelW + j) * cols
            for oy in 0..<g.outHeight {
                let y = oy * g.strideH - g.padH + i * g.dilationH
                if y < 0 || y >= g.height { continue }
                let (lo, hi) = g.validColumns(j)
                let dst = plane + y * g.width - g.padW + j * g.dilationW
                let src = row + oy * g.outWidth
                if g.strideW == 1 {
                    for ox in lo..<hi { dst[ox] += src[ox] }
                } else {
                    for ox in lo..<hi { dst[ox * g.strideW] += src[ox] }
                }
            }
        } }
    }
}

/// 2D convolution (PyTorch `nn.Conv2d`, cross-correlation), NCHW, with stride, zero padding, dilation
/// and groups (groups = inChannels gives depthwise):
/// `y[n, o, oy, ox] = b[o] + Σ_{c∈group(o), i, j} W[o, c, i, j] · x[n, c, oy·s − p + i·d, ox·s − p + j·d]`.
///
/// x [N, Cin, H, W] → y [N, Cout, Ho, Wo], Ho = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1. Weight [Cout, Cin/groups, kh, kw].
/// Implemented as im2col + one GEMM per (sample, group), samples spread over `nnThreadCount` workers
/// (weight-gradient partial sums per worker, added in worker order). Gradient-checked in Double to 1e-6 relative.
public final class Conv2d<Scalar: NNScalar>: Layer {
    public let inChannels: Int, outChannels: Int, kernel: (Int, Int), stride: (Int, Int)
    public let padding: (Int, Int), dilation: (Int, Int), groups: Int
    public let weight: Parameter<Scalar>   // [Cout, Cin/groups, kh, kw]
    public let bias: Parameter<Scalar>?    // [Cout]
    private var input = Tensor<Scalar>(zeros: [0])   // cached [N, Cin, H, W]

    public init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                                          padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1,
                                          bias: Bool = true, name: String = "conv", rng: inout G) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d(\(name)): channels not divisible by groups")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel; self.stride = stride
        self.padding = padding; self.dilation = dilation; self.groups = groups
        let shape = [outChannels, inChannels / groups, kernel.0, kernel.1]
        let bound = 1 / Double(fans(shape).fanIn).squareRoot()   // PyTorch default
        weight = Parameter(name + ".weight", uniformTensor(shape, bound: bound, using: &rng))
        self.bias = bias ? Parameter(name + ".bias", uniformTensor([outChannels], bound: bound, using: &rng)) : nil
    }

    /// Square-kernel convenience.
    public convenience init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                                                      padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                                                      name: String = "conv", rng: inout G) {
        self.init(inChannels, outChannels, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                  dilation: (dilation, dilation), groups: groups, bias: bias, name: name, rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    /// Whether depthwise convolutions (groups = Cin = Cout) take the direct path (`DepthwiseConv.swift`);
    /// false forces im2col + GEMM per channel (kept for comparison in the tests).
    public var directDepthwise = true

    var isDepthwise: Bool { directDepthwise && groups == inChannels && outChannels == inChannels && groups > 1 }
    var isPointwise: Bool {
        kernel == (1, 1) && stride == (1, 1) && padding == (0, 0)
    }

    func depthwiseGeometry(_ g: WindowGeometry) -> DepthwiseGeometry {
        DepthwiseGeometry(height: g.height, width: g.width, kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH,
                          strideW: g.strideW, padH: g.padH, padW: g.padW, dilationH: g.dilationH, dilationW: g.dilationW,
                          outHeight: g.outHeight, outWidth: g.outWidth)
    }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        ((height + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1,
         (width + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1)
    }

    private func geometry(_ h: Int, _ w: Int) -> WindowGeometry {
        let (ho, wo) = outputSize(height: h, width: w)
        precondition(ho > 0 && wo > 0, "Conv2d(\(weight.name)): input \(h)x\(w) too small for the kernel")
        return WindowGeometry(channels: inChannels / groups, height: h, width: w, kernelH: kernel.0, kernelW: kernel.1,
                              strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
                              dilationH: dilation.0, dilationW: dilation.1, outHeight: ho, outWidth: wo)
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "Conv2d(\(weight.name)): input \(x.shape), want [N, \(inChannels), H, W]")
        input = x
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let g = geometry(h, w)
        let cinG = inChannels / groups, coutG = outChannels / groups, k = g.rows, hw = g.columns
        var y = Tensor<Scalar>(uninitialized: [n, outChannels, g.outHeight, g.outWidth])   // [N, Cout, Ho, Wo]
        if isDepthwise {
            x.data.withUnsafeBufferPointer { xp in
            weight.value.data.withUnsafeBufferPointer { wp in
            y.data.withUnsafeMutableBufferPointer { yp in
                func run(_ bias: UnsafePointer<Scalar>?) {
                    depthwiseForward(depthwiseGeometry(g), samples: n, channels: inChannels, xp.baseAddress!, wp.baseAddress!,
                                     bias, yp.baseAddress!)
                }
                if let b = bias { b.value.data.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            } } }
            return y
        }
        x.data.withUnsafeBufferPointer { xp in
            weight.value.data.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    let xBase = xp.baseAddress!, wBase = wp.baseAddress!, yBase = yp.baseAddress!
                    // With a bias, y starts as the bias and the GEMMs accumulate (beta 1): one pass over y fewer.
                    let beta: Scalar = bias == nil ? 0 : 1
                    if let b = bias {
                        b.value.data.withUnsafeBufferPointer { bp in
                            for s in 0..<n { for o in 0..<outChannels {
                                (yBase + (s * outChannels + o) * hw).initialize(repeating: bp[o], count: hw)
                            } }
                        }
                    }
                    if isPointwise {   // 1×1, stride 1, no padding: the input planes are the columns (threaded GEMMs)
                        for s in 0..<n { for gr in 0..<groups {
                            Scalar.gemm(transposeA: false, transposeB: false, m: coutG, n: hw, k: k, alpha: 1,
                                        wBase + gr * coutG * k, lda: k, xBase + (s * inChannels + gr * cinG) * hw, ldb: hw,
                                        beta: beta, yBase + (s * outChannels + gr * coutG) * hw, ldc: hw)
                        } }
                    } else { parallelChunks(n) { _, samples in   // samples write disjoint outputs
                        let columns = UnsafeMutablePointer<Scalar>.allocate(capacity: k * hw)   // [Cin/g·kh·kw, Ho·Wo] per worker
                        defer { columns.deallocate() }
                        for s in samples { for gr in 0..<groups {
                            im2col(g, xBase + (s * inChannels + gr * cinG) * h * w, columns)
                            Scalar.gemm(transposeA: false, transposeB: false, m: coutG, n: hw, k: k, alpha: 1,
                                        wBase + gr * coutG * k, lda: k, columns, ldb: hw,
                                        beta: beta, yBase + (s * outChannels + gr * coutG) * hw, ldc: hw)
                        } }
                    } }
                }
            }
        }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let n = input.shape[0], h = input.shape[2], w = input.shape[3]
        let g = geometry(h, w)
        let cinG = inChannels / groups, coutG = outChannels / groups, k = g.rows, hw = g.columns
        precondition(dy.shape == [n, outChannels, g.outHeight, g.outWidth] && dx.count == input.count,
                     "Conv2d(\(weight.name)).backward: dy \(dy.shape)")
        if isDepthwise {
            input.data.withUnsafeBufferPointer { xp in
            dy.data.withUnsafeBufferPointer { dyp in
            weight.value.data.withUnsafeBufferPointer { wp in
            weight.grad.data.withUnsafeMutableBufferPointer { dwp in
            dx.data.withUnsafeMutableBufferPointer { dxp in
                func run(_ dBias: UnsafeMutablePointer<Scalar>?) {
                    depthwiseBackward(depthwiseGeometry(g), samples: n, channels: inChannels, xp.baseAddress!, wp.baseAddress!,
                                      dyp.baseAddress!, dxp.baseAddress!, dwp.baseAddress!, dBias)
                }
                if let b = bias { b.grad.data.withUnsafeMutableBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            } } } } }
            return
        }
        let pointwise = isPointwise
        let workers = pointwise ? 1 : workerCount(n), weightCount = weight.value.count
        var partial = [Scalar](repeating: 0, count: workers * weightCount)   // [workers, Cout, Cin/g·kh·kw] dW partial sums
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        weight.value.data.withUnsafeBufferPointer { wp in
        partial.withUnsafeMutableBufferPointer { pp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
            let xBase = xp.baseAddress!, dyBase = dyp.baseAddress!, wBase = wp.baseAddress!
            let partialBase = pp.baseAddress!, dxBase = dxp.baseAddress!
            if pointwise {   // 1×1, stride 1, no padding: columns are the input planes, dcol is dx itself (threaded GEMMs)
                for s in 0..<n { for gr in 0..<groups {
                    let dyg = dyBase + (s * outChannels + gr * coutG) * hw, off = (s * inChannels + gr * cinG) * hw
                    Scalar.gemm(transposeA: false, transposeB: true, m: coutG, n: k, k: hw, alpha: 1,
                                dyg, lda: hw, xBase + off, ldb: hw, beta: 1, partialBase + gr * coutG * k, ldc: k)
                    Scalar.gemm(transposeA: true, transposeB: false, m: k, n: hw, k: coutG, alpha: 1,
                                wBase + gr * coutG * k, lda: k, dyg, ldb: hw, beta: 1, dxBase + off, ldc: hw)
                } }
                return
            }
            parallelChunks(n) { worker, samples in   // samples write disjoint dx; dW goes to the worker's partial
                let columns = UnsafeMutablePointer<Scalar>.allocate(capacity: k * hw)   // [Cin/g·kh·kw, Ho·Wo]
                let dcol = UnsafeMutablePointer<Scalar>.allocate(capacity: k * hw)      // [Cin/g·kh·kw, Ho·Wo]
                defer { columns.deallocate(); dcol.deallocate() }
                let dw = partialBase + worker * weightCount
                for s in samples { for gr in 0..<groups {
                    let dyg = dyBase + (s * outChannels + gr * coutG) * hw
                    im2col(g, xBase + (s * inChannels + gr * cinG) * h * w, columns)
                    // dW_g[coutG, k] += dy_g[coutG, hw] · colᵀ[hw, k]
                    Scalar.gemm(transposeA: false, transposeB: true, m: coutG, n: k, k: hw, alpha: 1,
                                dyg, lda: hw, columns, ldb: hw, beta: 1, dw + gr * coutG * k, ldc: k)
                    // dcol[k, hw] = W_gᵀ[k, coutG] · dy_g[coutG, hw]
                    Scalar.gemm(transposeA: true, transposeB: false, m: k, n: hw, k: coutG, alpha: 1,
                                wBase + gr * coutG * k, lda: k, dyg, ldb: hw, beta: 0, dcol, ldc: hw)
                    col2imAccumulate(g, UnsafePointer(dcol), dxBase + (s * inChannels + gr * cinG) * h * w)
                } }
            }
        } } } } }
        addPartials(partial, workers: workers, into: &weight.grad)
        if let b = bias { addChannelSums(dy, samples: n, channels: outChannels, planeSize: hw, into: &b.grad) }
    }
}

/// Transposed 2D convolution (PyTorch `nn.ConvTranspose2d`): the adjoint of `Conv2d` w.r.t. its input, plus bias.
/// `y[n, o, y·s − p + i·d, x·s − p + j·d] += W[c, o, i, j] · x[n, c, y, x]` over c in o's group.
///
/// x [N, Cin, H, W] → y [N, Cout, Ho, Wo], Ho = (H−1)s − 2p + d(k−1) + outputPadding + 1.
/// Weight [Cin, Cout/groups, kh, kw] (PyTorch layout). k = 2, s = 2 is Pixel3DMM's 2× upsampler.
/// GEMM + col2im forward; im2col + GEMM backward. Gradient-checked in Double to 1e-6 relative.
public final class ConvTranspose2d<Scalar: NNScalar>: Layer {
    public let inChannels: Int, outChannels: Int, kernel: (Int, Int), stride: (Int, Int)
    public let padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int), groups: Int
    public let weight: Parameter<Scalar>   // [Cin, Cout/groups, kh, kw]
    public let bias: Parameter<Scalar>?    // [Cout]
    private var input = Tensor<Scalar>(zeros: [0])   // cached [N, Cin, H, W]

    public init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                                          padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                                          dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                                          name: String = "deconv", rng: inout G) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "ConvTranspose2d(\(name)): channels not divisible by groups")
        precondition(outputPadding.0 < max(stride.0, dilation.0) && outputPadding.1 < max(stride.1, dilation.1),
                     "ConvTranspose2d(\(name)): output padding must be smaller than stride or dilation")
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel; self.stride = stride
        self.padding = padding; self.outputPadding = outputPadding; self.dilation = dilation; self.groups = groups
        let shape = [inChannels, outChannels / groups, kernel.0, kernel.1]
        // PyTorch computes fan-in from dim 1 of this weight: (Cout/groups)·kh·kw.
        let bound = 1 / Double(fans(shape).fanIn).squareRoot()
        weight = Parameter(name + ".weight", uniformTensor(shape, bound: bound, using: &rng))
        self.bias = bias ? Parameter(name + ".bias", uniformTensor([outChannels], bound: bound, using: &rng)) : nil
    }

    public convenience init<G: RandomNumberGenerator>(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
                                                      padding: Int = 0, outputPadding: Int = 0, dilation: Int = 1,
                                                      groups: Int = 1, bias: Bool = true, name: String = "deconv", rng: inout G) {
        self.init(inChannels, outChannels, kernel: (kernel, kernel), stride: (stride, stride), padding: (padding, padding),
                  outputPadding: (outputPadding, outputPadding), dilation: (dilation, dilation), groups: groups,
                  bias: bias, name: name, rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        ((height - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kernel.0 - 1) + outputPadding.0 + 1,
         (width - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kernel.1 - 1) + outputPadding.1 + 1)
    }

    /// The image is the *output* [Cout/g, Ho, Wo]; the columns are indexed by input positions H·W.
    private func geometry(_ h: Int, _ w: Int) -> WindowGeometry {
        let (ho, wo) = outputSize(height: h, width: w)
        precondition(ho > 0 && wo > 0, "ConvTranspose2d(\(weight.name)): output would be empty")
        return WindowGeometry(channels: outChannels / groups, height: ho, width: wo, kernelH: kernel.0, kernelW: kernel.1,
                              strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
                              dilationH: dilation.0, dilationW: dilation.1, outHeight: h, outWidth: w)
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "ConvTranspose2d(\(weight.name)): input \(x.shape), want [N, \(inChannels), H, W]")
        input = x
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let g = geometry(h, w)
        let cinG = inChannels / groups, coutG = outChannels / groups, k = g.rows, hw = h * w, ohw = g.height * g.width
        var y = Tensor<Scalar>(zeros: [n, outChannels, g.height, g.width])   // [N, Cout, Ho, Wo]
        x.data.withUnsafeBufferPointer { xp in
            weight.value.data.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    let xBase = xp.baseAddress!, wBase = wp.baseAddress!, yBase = yp.baseAddress!
                    let biasValues = bias?.value.data   // [Cout]
                    parallelChunks(n) { _, samples in   // samples write disjoint outputs
                        var columns = [Scalar](repeating: 0, count: k * hw)   // [Cout/g·kh·kw, H·W] per worker
                        columns.withUnsafeMutableBufferPointer { cp in
                            for s in samples {
                                for gr in 0..<groups {
                                    // col[k, hw] = W_gᵀ[k, cinG] · x_g[cinG, hw]
                                    Scalar.gemm(transposeA: true, transposeB: false, m: k, n: hw, k: cinG, alpha: 1,
                                                wBase + gr * cinG * k, lda: k, xBase + (s * inChannels + gr * cinG) * hw, ldb: hw,
                                                beta: 0, cp.baseAddress!, ldc: hw)
                                    col2imAccumulate(g, UnsafePointer(cp.baseAddress!), yBase + (s * outChannels + gr * coutG) * ohw)
                                }
                                // The bias after the sample's last scatter, on the same worker (the order of a separate pass).
                                if let biasValues {
                                    for o in 0..<outChannels {
                                        let bo = biasValues[o], plane = yBase + (s * outChannels + o) * ohw
                                        for i in 0..<ohw { plane[i] += bo }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let n = input.shape[0], h = input.shape[2], w = input.shape[3]
        let g = geometry(h, w)
        let cinG = inChannels / groups, coutG = outChannels / groups, k = g.rows, hw = h * w, ohw = g.height * g.width
        precondition(dy.shape == [n, outChannels, g.height, g.width] && dx.count == input.count,
                     "ConvTranspose2d(\(weight.name)).backward: dy \(dy.shape)")
        let workers = workerCount(n), weightCount = weight.value.count
        var partial = [Scalar](repeating: 0, count: workers * weightCount)   // [workers, Cin, Cout/g·kh·kw] dW partial sums
        input.data.withUnsafeBufferPointer { xp in
        dy.data.withUnsafeBufferPointer { dyp in
        weight.value.data.withUnsafeBufferPointer { wp in
        partial.withUnsafeMutableBufferPointer { pp in
        dx.data.withUnsafeMutableBufferPointer { dxp in
            let xBase = xp.baseAddress!, dyBase = dyp.baseAddress!, wBase = wp.baseAddress!
            let partialBase = pp.baseAddress!, dxBase = dxp.baseAddress!
            parallelChunks(n) { worker, samples in   // samples write disjoint dx; dW goes to the worker's partial
                var columns = [Scalar](repeating: 0, count: k * hw)   // dcol [Cout/g·kh·kw, H·W]
                let dw = partialBase + worker * weightCount
                columns.withUnsafeMutableBufferPointer { cp in
                    for s in samples { for gr in 0..<groups {
                        im2col(g, dyBase + (s * outChannels + gr * coutG) * ohw, cp.baseAddress!)
                        let xg = xBase + (s * inChannels + gr * cinG) * hw
                        // dx_g[cinG, hw] += W_g[cinG, k] · dcol[k, hw]
                        Scalar.gemm(transposeA: false, transposeB: false, m: cinG, n: hw, k: k, alpha: 1,
                                    wBase + gr * cinG * k, lda: k, cp.baseAddress!, ldb: hw,
                                    beta: 1, dxBase + (s * inChannels + gr * cinG) * hw, ldc: hw)
                        // dW_g[cinG, k] += x_g[cinG, hw] · dcolᵀ[hw, k]
                        Scalar.gemm(transposeA: false, transposeB: true, m: cinG, n: k, k: hw, alpha: 1,
                                    xg, lda: hw, cp.baseAddress!, ldb: hw, beta: 1, dw + gr * cinG * k, ldc: k)
                    } }
                }
            }
        } } } } }
        addPartials(partial, workers: workers, into: &weight.grad)
        if let b = bias { addChannelSums(dy, samples: n, channels: outChannels, planeSize: ohw, into: &b.grad) }
    }
}

/// grad[o] += Σ_s Σ_i dy[s, o, i] for dy [N, C, planeSize] (a convolution's bias gradient): each (s, o) plane summed
/// on the workers (`elementSum`: 16 lanes for Float), then the plane sums added in sample order — the same bits for any
/// worker count.
@_specialize(where Scalar == Float)
func addChannelSums<Scalar: NNScalar>(_ dy: Tensor<Scalar>, samples n: Int, channels: Int, planeSize: Int,
                                      into grad: inout Tensor<Scalar>) {
    if n * channels * planeSize == 0 { return }
    var sums = [Scalar](repeating: 0, count: n * channels)   // [N, C]
    dy.data.withUnsafeBufferPointer { dyp in
        sums.withUnsafeMutableBufferPointer { sp in
            let base = dyp.baseAddress!, out = sp.baseAddress!
            parallelChunks(n * channels, parallel: n * channels * planeSize >= 1 << 16) { _, planes in
                for p in planes { out[p] = elementSum(base + p * planeSize, count: planeSize) }
            }
        }
    }
    for s in 0..<n { for o in 0..<channels { grad.data[o] += sums[s * channels + o] } }
}

/// grad += Σ_w partial[w] in worker order (deterministic for a given worker count).
@_specialize(where Scalar == Float)
func addPartials<Scalar: NNScalar>(_ partial: [Scalar], workers: Int, into grad: inout Tensor<Scalar>) {
    let count = grad.count
    grad.data.withUnsafeMutableBufferPointer { g in
        partial.withUnsafeBufferPointer { p in
            for w in 0..<workers { for i in 0..<count { g[i] += p[w * count + i] } }
        }
    }
}
