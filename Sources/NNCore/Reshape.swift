/// Layout changes between token sequences and images (pure permutations; backward is the inverse permutation,
/// accumulated). Needed to go from a ViT/transformer token grid to convolutions and back.

/// Token grid to image: x [B, H·W, C] (row-major grid) → y [B, C, H, W]. Gradient-checked in Double to 1e-6.
public final class TokensToImage<Scalar: NNScalar>: Layer {
    public let height: Int, width: Int
    private var channels = 0, batch = 0

    public init(height: Int, width: Int) { self.height = height; self.width = width }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 3 && x.shape[1] == height * width, "TokensToImage: input \(x.shape), want [B, \(height * width), C]")
        batch = x.shape[0]; channels = x.shape[2]
        let hw = height * width, c = channels
        var y = Tensor<Scalar>(uninitialized: [batch, c, height, width])   // [B, C, H, W]
        transposeBatch(x.data, &y.data, batch: batch, rows: hw, columns: c, accumulate: false)
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let hw = height * width, c = channels
        precondition(dy.count == batch * c * hw && dx.count == dy.count, "TokensToImage.backward: shapes")
        transposeBatch(dy.data, &dx.data, batch: batch, rows: c, columns: hw, accumulate: true)
    }
}

/// Image to token grid: x [B, C, H, W] → y [B, H·W, C]. Gradient-checked in Double to 1e-6.
public final class ImageToTokens<Scalar: NNScalar>: Layer {
    private var shape: [Int] = []

    public init() {}

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 4, "ImageToTokens: input \(x.shape), want [B, C, H, W]")
        shape = x.shape
        let b = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
        var y = Tensor<Scalar>(uninitialized: [b, hw, c])   // [B, H·W, C]
        transposeBatch(x.data, &y.data, batch: b, rows: c, columns: hw, accumulate: false)
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let b = shape[0], c = shape[1], hw = shape[2] * shape[3]
        precondition(dy.count == b * hw * c && dx.count == dy.count, "ImageToTokens.backward: shapes")
        transposeBatch(dy.data, &dx.data, batch: b, rows: hw, columns: c, accumulate: true)
    }
}

/// Unpatchify as MAE/timm do it: per-token values [B, h·w, p·p·C] (each token's vector ordered (py, px, c))
/// → image [B, C, h·p, w·p]: `y[b, c, y·p + py, x·p + px] = t[b, y·w + x, (py·p + px)·C + c]`.
/// Pixel3DMM's last per-token linear predicts these p×p×C values. Gradient-checked in Double to 1e-6.
public final class Unpatchify<Scalar: NNScalar>: Layer {
    public let gridHeight: Int, gridWidth: Int, patch: Int, channels: Int
    private var batch = 0

    public init(gridHeight: Int, gridWidth: Int, patch: Int, channels: Int) {
        self.gridHeight = gridHeight; self.gridWidth = gridWidth; self.patch = patch; self.channels = channels
    }

    @inline(__always) private func indices(_ b: Int, _ gy: Int, _ gx: Int, _ py: Int, _ px: Int, _ ch: Int) -> (Int, Int) {
        let p = patch, c = channels, outH = gridHeight * p, outW = gridWidth * p
        let token = ((b * gridHeight * gridWidth) + gy * gridWidth + gx) * p * p * c + (py * p + px) * c + ch
        let pixel = ((b * c + ch) * outH + gy * p + py) * outW + gx * p + px
        return (token, pixel)
    }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let p = patch, c = channels
        precondition(x.rank == 3 && x.shape[1] == gridHeight * gridWidth && x.shape[2] == p * p * c,
                     "Unpatchify: input \(x.shape), want [B, \(gridHeight * gridWidth), \(p * p * c)]")
        batch = x.shape[0]
        var y = Tensor<Scalar>(zeros: [batch, c, gridHeight * p, gridWidth * p])   // [B, C, h·p, w·p]
        for b in 0..<batch { for gy in 0..<gridHeight { for gx in 0..<gridWidth { for py in 0..<p { for px in 0..<p { for ch in 0..<c {
            let (t, o) = indices(b, gy, gx, py, px, ch)
            y.data[o] = x.data[t]
        } } } } } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let p = patch, c = channels
        precondition(dy.count == batch * c * gridHeight * p * gridWidth * p && dx.count == dy.count, "Unpatchify.backward: shapes")
        for b in 0..<batch { for gy in 0..<gridHeight { for gx in 0..<gridWidth { for py in 0..<p { for px in 0..<p { for ch in 0..<c {
            let (t, o) = indices(b, gy, gx, py, px, ch)
            dx.data[t] += dy.data[o]
        } } } } } }
    }
}

/// dst[n, j, i] = (or +=) src[n, i, j] for `batch` matrices [rows, columns], in 32 × 32 tiles (cache-friendly on
/// both sides); Float moves whole 16 × 16 blocks in registers (`transposeFloat`). Work units are (matrix, 32-row band,
/// column block) triples on `nnThreadCount` workers (one [2, 32, 512²] image is only two matrices but 16.8 M values).
@_specialize(where Scalar == Float)
func transposeBatch<Scalar: NNScalar>(_ source: [Scalar], _ destination: inout [Scalar], batch: Int, rows: Int, columns: Int,
                                      accumulate: Bool) {
    let tile = 32, size = rows * columns, bands = (rows + tile - 1) / tile
    source.withUnsafeBufferPointer { sp in
    destination.withUnsafeMutableBufferPointer { dp in
        let src = sp.baseAddress!, dst = dp.baseAddress!
        // A unit writes dst[n, j, i] for its own rows i (band) and columns j (block): units never overlap.
        let columnBlocks = max(1, min(columns / tile, 8 * nnThreadCount))
        parallelChunks(batch * bands * columnBlocks, parallel: size * batch >= 1 << 15) { _, range in
            for unit in range {
                let n = unit / (bands * columnBlocks), i0 = (unit / columnBlocks % bands) * tile, block = unit % columnBlocks
                let jStart = columns * block / columnBlocks / tile * tile
                let jEnd = block == columnBlocks - 1 ? columns : columns * (block + 1) / columnBlocks / tile * tile
                let s = src + n * size, d = dst + n * size, i1 = min(i0 + tile, rows)
                if Scalar.self == Float.self {
                    func f(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
                    func f(_ p: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
                    transposeFloat(f(s + i0 * columns + jStart), lds: columns, rows: i1 - i0, columns: jEnd - jStart,
                                   f(d + jStart * rows + i0), ldd: rows, accumulate: accumulate)
                    continue
                }
                for j0 in stride(from: jStart, to: jEnd, by: tile) {
                    let j1 = min(j0 + tile, jEnd)
                    for j in j0..<j1 {
                        let out = d + j * rows
                        if accumulate { for i in i0..<i1 { out[i] += s[i * columns + j] } }
                        else { for i in i0..<i1 { out[i] = s[i * columns + j] } }
                    }
                }
            }
        }
    } }
}
