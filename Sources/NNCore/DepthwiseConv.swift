/// Direct depthwise convolution (groups = Cin = Cout), the path `Conv2d` takes instead of one tiny
/// im2col + GEMM per channel: `y[n, c, oy, ox] = Σ_{i,j} W[c, i, j] · x[n, c, oy·s − p + i·d, ox·s − p + j·d]`.
///
/// Each input row is zero-padded and split into its s column phases once ("phase rows"): padded column
/// u = ox·s + j·d lives in phase (j·d) mod s at index ox + ⌊j·d / s⌋, so every tap of every stride and
/// dilation reads a contiguous run; the Float forward accumulates all taps of 16 (then 4) outputs in a register.
/// Backward uses the same layout: dx accumulates into phase rows that are folded back; dW is a dot product
/// of dy rows with phase rows. Forward parallelises over (sample, channel) planes, backward over channels
/// (so dW needs no per-worker partial sums). Same sums as the GEMM path up to summation order: gradient-checked
/// in Double to 1e-6 against finite differences, and compared with the GEMM path in NNCoreTests.
struct DepthwiseGeometry {
    var height: Int, width: Int, kernelH: Int, kernelW: Int
    var strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int
    var outHeight: Int, outWidth: Int
    /// Length of one phase row: covers index ox + ⌊j·d / s⌋ for every ox and tap j.
    var phaseLength: Int { outWidth + ((kernelW - 1) * dilationW) / strideW }
    /// Scratch values per plane: H rows × s phases × phaseLength.
    var scratch: Int { height * strideW * phaseLength }

    /// The phase-r indices m (half-open) whose column x = m·s + r − p lies inside the row.
    @inline(__always)
    func validRange(_ r: Int) -> (Int, Int) {
        let s = strideW, l = phaseLength
        let lo = min(max(0, (padW - r + s - 1) / s), l)                 // smallest m with x ≥ 0
        let last = width - 1 + padW - r                                   // need m·s ≤ last
        let hi = last < 0 ? lo : max(min(l, last / s + 1), lo)            // one past the largest m with x < W
        return (lo, hi)
    }

    /// Fills `phases` with the plane's rows, padded and split: phases[(y·s + r)·L + m] = x[y, m·s + r − p] (0 outside).
    @inline(__always)
    func split<Scalar: NNScalar>(_ plane: UnsafePointer<Scalar>, into phases: UnsafeMutablePointer<Scalar>) {
        let s = strideW, l = phaseLength
        for r in 0..<s {
            let (lo, hi) = validRange(r)
            let shift = r &- padW
            for y in 0..<height {
                let row = plane + (y &* width &+ shift), dst = phases + (y &* s &+ r) &* l
                for m in 0..<lo { dst[m] = 0 }
                if s == 1 {
                    for m in lo..<hi { dst[m] = row[m] }
                } else {
                    for m in lo..<hi { dst[m] = row[m &* s] }
                }
                for m in hi..<l { dst[m] = 0 }
            }
        }
    }

    /// The adjoint of `split`: plane[y, x] += phases[...] for the in-image positions.
    @inline(__always)
    func fold<Scalar: NNScalar>(_ phases: UnsafePointer<Scalar>, into plane: UnsafeMutablePointer<Scalar>) {
        let s = strideW, l = phaseLength
        for r in 0..<s {
            let (lo, hi) = validRange(r)
            let shift = r &- padW
            for y in 0..<height {
                let row = plane + (y &* width &+ shift), src = phases + (y &* s &+ r) &* l
                if s == 1 {
                    for m in lo..<hi { row[m] += src[m] }
                } else {
                    for m in lo..<hi { row[m &* s] += src[m] }
                }
            }
        }
    }

    /// (phase row offset, index offset) of tap (i, j) for output row oy, or nil when the input row is padding.
    @inline(__always)
    func tap(_ oy: Int, _ i: Int, _ j: Int) -> Int? {
        let y = oy * strideH - padH + i * dilationH
        if y < 0 || y >= height { return nil }
        let u = j * dilationW
        return (y * strideW + u % strideW) * phaseLength + u / strideW
    }
}

/// y[planes] = depthwise(x) (+ bias), x [N, C, H, W], weight [C, 1, kh, kw]; y is overwritten.
@_specialize(where Scalar == Float)
func depthwiseForward<Scalar: NNScalar>(_ g: DepthwiseGeometry, samples n: Int, channels: Int, _ x: UnsafePointer<Scalar>,
                                        _ weight: UnsafePointer<Scalar>, _ bias: UnsafePointer<Scalar>?,
                                        _ y: UnsafeMutablePointer<Scalar>) {
    let kh = g.kernelH, kw = g.kernelW, ow = g.outWidth, hw = g.height * g.width, ohw = g.outHeight * ow
    parallelChunks(n * channels) { _, planes in
        let phases = UnsafeMutablePointer<Scalar>.allocate(capacity: g.scratch)
        defer { phases.deallocate() }
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: kh * kw)       // valid taps of one output row
        let tapWeights = UnsafeMutablePointer<Float>.allocate(capacity: kh * kw)
        defer { offsets.deallocate(); tapWeights.deallocate() }
        for plane in planes {
            let c = plane % channels
            g.split(x + plane * hw, into: phases)
            let w = weight + c * kh * kw, b: Scalar = bias?[c] ?? 0
            if Scalar.self == Float.self {
                // 16 outputs at a time accumulate every tap in a register (same order as below: bias, then taps in (i, j)
                // order), instead of one load/store pass over the output row per tap.
                let source = UnsafeRawPointer(phases), bias = unsafeBitCast(b, to: Float.self)
                let weights = UnsafeRawPointer(w).assumingMemoryBound(to: Float.self)
                for oy in 0..<g.outHeight {
                    var taps = 0
                    for i in 0..<kh { for j in 0..<kw {
                        guard let offset = g.tap(oy, i, j) else { continue }
                        offsets[taps] = offset; tapWeights[taps] = weights[i * kw + j]; taps += 1
                    } }
                    let out = UnsafeMutableRawPointer(y + plane * ohw + oy * ow)
                    var ox = 0
                    while ox + 16 <= ow {
                        var acc = SIMD16<Float>(repeating: bias)   // (the weights broadcast per tap)
                        for t in 0..<taps {
                            acc += tapWeights[t] * source.loadUnaligned(fromByteOffset: 4 * (offsets[t] + ox), as: SIMD16<Float>.self)
                        }
                        out.storeBytes(of: acc, toByteOffset: 4 * ox, as: SIMD16<Float>.self)
                        ox += 16
                    }
                    while ox + 4 <= ow {   // narrow rows (7, 14 at 224 px) and tails
                        var acc = SIMD4<Float>(repeating: bias)
                        for t in 0..<taps {
                            acc += tapWeights[t] * source.loadUnaligned(fromByteOffset: 4 * (offsets[t] + ox), as: SIMD4<Float>.self)
                        }
                        out.storeBytes(of: acc, toByteOffset: 4 * ox, as: SIMD4<Float>.self)
                        ox += 4
                    }
                    while ox < ow {
                        var acc = bias
                        for t in 0..<taps { acc += tapWeights[t] * source.load(fromByteOffset: 4 * (offsets[t] + ox), as: Float.self) }
                        out.storeBytes(of: acc, toByteOffset: 4 * ox, as: Float.self)
                        ox += 1
                    }
                }
                continue
            }
            for oy in 0..<g.outHeight {
                let out = y + plane * ohw + oy * ow
                for ox in 0..<ow { out[ox] = b }
                for i in 0..<kh { for j in 0..<kw {
                    guard let offset = g.tap(oy, i, j) else { continue }
                    let wij = w[i * kw + j], src = UnsafePointer(phases + offset)
                    for ox in 0..<ow { out[ox] += wij * src[ox] }
                } }
            }
        }
    }
}

/// dx += ∂L/∂x, dW += ∂L/∂W, dB += Σ dy for the depthwise convolution (accumulating, like every backward).
@_specialize(where Scalar == Float)
func depthwiseBackward<Scalar: NNScalar>(_ g: DepthwiseGeometry, samples n: Int, channels: Int, _ x: UnsafePointer<Scalar>,
                                         _ weight: UnsafePointer<Scalar>, _ dy: UnsafePointer<Scalar>,
                                         _ dx: UnsafeMutablePointer<Scalar>, _ dWeight: UnsafeMutablePointer<Scalar>,
                                         _ dBias: UnsafeMutablePointer<Scalar>?) {
    let kh = g.kernelH, kw = g.kernelW, ow = g.outWidth, hw = g.height * g.width, ohw = g.outHeight * ow
    parallelChunks(channels) { _, channelRange in   // a channel's dW and dB belong to one worker
        let phases = UnsafeMutablePointer<Scalar>.allocate(capacity: g.scratch)
        let dPhases = UnsafeMutablePointer<Scalar>.allocate(capacity: g.scratch)
        defer { phases.deallocate(); dPhases.deallocate() }
        for c in channelRange {
            let w = weight + c * kh * kw, dw = dWeight + c * kh * kw
            for s in 0..<n {
                let plane = s * channels + c
                g.split(x + plane * hw, into: phases)
                dPhases.initialize(repeating: 0, count: g.scratch)
                for oy in 0..<g.outHeight {
                    let grad = dy + plane * ohw + oy * ow
                    if let db = dBias {
                        var acc: Scalar = 0
                        for ox in 0..<ow { acc += grad[ox] }
                        db[c] += acc
                    }
                    for i in 0..<kh { for j in 0..<kw {
                        guard let offset = g.tap(oy, i, j) else { continue }
                        let wij = w[i * kw + j], src = UnsafePointer(phases + offset), dst = dPhases + offset
                        var acc: Scalar = 0
                        for ox in 0..<ow { acc += grad[ox] * src[ox]; dst[ox] += wij * grad[ox] }
                        dw[i * kw + j] += acc
                    } }
                }
                g.fold(UnsafePointer(dPhases), into: dx + plane * hw)
            }
        }
    }
}
