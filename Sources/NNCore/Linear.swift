/// Fully connected layer over the last dimension (PyTorch `nn.Linear` layout):
/// `y[..., o] = Σ_i x[..., i] · W[o, i] + b[o]`.
///
/// Input [..., inFeatures] → output [..., outFeatures]. One GEMM over all leading rows.
/// Backward: `dW += dyᵀ·x`, `db += Σ_rows dy`, `dx += dy·W`.
/// Gradient-checked in Double to 1e-6 relative; matches PyTorch in Float to ~1e-6 relative.
public final class Linear<Scalar: NNScalar>: Layer {
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter<Scalar>    // [out, in]
    public let bias: Parameter<Scalar>?     // [out]
    private var input = Tensor<Scalar>(zeros: [0])  // cached [..., in]

    /// Weights initialised as PyTorch does (Kaiming-uniform with a = √5, i.e. U(±1/√in); bias U(±1/√in)).
    public init<G: RandomNumberGenerator>(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                                          name: String = "linear", rng: inout G) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Double(inFeatures).squareRoot()
        weight = Parameter(name + ".weight", uniformTensor([outFeatures, inFeatures], bound: bound, using: &rng))
        self.bias = bias ? Parameter(name + ".bias", uniformTensor([outFeatures], bound: bound, using: &rng)) : nil
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.shape.last == inFeatures, "Linear(\(weight.name)): input \(x.shape) last dim must be \(inFeatures)")
        input = x
        let rows = x.count / inFeatures, inputs = inFeatures, outputs = outFeatures
        // [..., out]: filled with the bias (GEMM beta 1) or overwritten by the GEMM (beta 0).
        var y = Tensor<Scalar>(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
        let biasValues = bias?.value.data ?? []
        y.data.withUnsafeMutableBufferPointer { yp in
        x.data.withUnsafeBufferPointer { xp in
        weight.value.data.withUnsafeBufferPointer { wp in
        biasValues.withUnsafeBufferPointer { bp in
            let y = yp.baseAddress!, x = xp.baseAddress!, w = wp.baseAddress!
            // Each worker's piece fills its own bias rows just before its GEMM (one thread filling all of y first was
            // ~5 % of a ViT Linear).
            forEachGemmPiece(m: rows, n: outputs, k: inputs) { i0, pieceRows, j0, columns in
                if let b = bp.baseAddress {
                    for r in i0..<(i0 + pieceRows) { (y + r * outputs + j0).update(from: b + j0, count: columns) }
                }
                Scalar.gemm(transposeA: false, transposeB: true, m: pieceRows, n: columns, k: inputs, alpha: 1,
                            x + i0 * inputs, lda: inputs, w + j0 * inputs, ldb: inputs,
                            beta: bp.isEmpty ? 0 : 1, y + i0 * outputs + j0, ldc: outputs)
            }
        } } } }
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let rows = input.count / inFeatures
        precondition(dy.count == rows * outFeatures && dx.count == input.count, "Linear(\(weight.name)).backward: shapes")
        dy.data.withUnsafeBufferPointer { dyp in
            input.data.withUnsafeBufferPointer { xp in
                weight.grad.data.withUnsafeMutableBufferPointer { dwp in
                    // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
                    Scalar.gemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: rows, alpha: 1,
                                dyp.baseAddress!, lda: outFeatures, xp.baseAddress!, ldb: inFeatures,
                                beta: 1, dwp.baseAddress!, ldc: inFeatures)
                }
            }
            if let b = bias {
                b.grad.data.withUnsafeMutableBufferPointer { dbp in
                    addRowSums(dyp.baseAddress!, rows: rows, count: outFeatures, into: dbp.baseAddress!)
                }
            }
            weight.value.data.withUnsafeBufferPointer { wp in
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    // dx[rows, in] += dy[rows, out] · W[out, in]
                    Scalar.gemm(transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures, alpha: 1,
                                dyp.baseAddress!, lda: outFeatures, wp.baseAddress!, ldb: inFeatures,
                                beta: 1, dxp.baseAddress!, ldc: inFeatures)
                }
            }
        }
    }
}

/// Rows per block of `addRowSums` (fixed, so the bits do not depend on the worker count).
let rowSumBlock = 256

/// sum[o] += Σ_r rows[r·count + o] (the bias gradient): blocks of `rowSumBlock` rows summed on the workers (`addRows`
/// each), then the block sums added in block order. The same bits for any worker count; a single block is `addRows`.
func addRowSums<Scalar: NNScalar>(_ rows: UnsafePointer<Scalar>, rows n: Int, count: Int, into sum: UnsafeMutablePointer<Scalar>) {
    let blocks = (n + rowSumBlock - 1) / rowSumBlock
    if blocks <= 1 { addRows(rows, rows: n, count: count, into: sum); return }
    var partial = [Scalar](repeating: 0, count: blocks * count)   // [blocks, count]
    partial.withUnsafeMutableBufferPointer { pp in
        let base = pp.baseAddress!
        parallelChunks(blocks, parallel: n * count >= 1 << 15, chunksPerThread: 4) { _, range in
            for b in range {
                let r0 = b * rowSumBlock
                addRows(rows + r0 * count, rows: min(n, r0 + rowSumBlock) - r0, count: count, into: base + b * count)
            }
        }
        addRows(UnsafePointer(base), rows: blocks, count: count, into: sum)
    }
}

/// sum[o] += Σ_r rows[r·count + o], row after row (the bias gradient). Float 16 lanes at a time with the same order of
/// additions per o as the scalar loop (which stays scalar: `sum` might alias `rows`).
@inline(__always)
func addRows<Scalar: NNScalar>(_ rows: UnsafePointer<Scalar>, rows n: Int, count: Int, into sum: UnsafeMutablePointer<Scalar>) {
    var start = 0
    if Scalar.self == Float.self {
        let src = UnsafeRawPointer(rows), dst = UnsafeMutableRawPointer(sum)
        start = count & ~15
        for r in 0..<n {
            var o = 0
            while o < start {
                let v = dst.loadUnaligned(fromByteOffset: 4 * o, as: SIMD16<Float>.self)
                    + src.loadUnaligned(fromByteOffset: 4 * (r * count + o), as: SIMD16<Float>.self)
                dst.storeBytes(of: v, toByteOffset: 4 * o, as: SIMD16<Float>.self)
                o += 16
            }
        }
    }
    for r in 0..<n { for o in start..<count { sum[o] += rows[r * count + o] } }
}
