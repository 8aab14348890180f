/// Multi-head self-attention as in timm's `Attention` (fused qkv, no masking, no dropout):
/// `[q, k, v] = x·Wqkvᵀ + bqkv` split as [B, T, 3, heads, D]; per head `P = softmax(q·kᵀ / √D)`, `o = P·v`;
/// heads concatenated to [B, T, C]; `y = o·Wprojᵀ + bproj`.
///
/// x [B, T, C] → y [B, T, C], C = heads·D. Blocked by query rows so the probabilities never exist as a whole
/// ([R, T] per block, R ≈ 64K/T rows, which stays in L2): forward runs S = q·kᵀ, softmax and P·v block by block and
/// caches only qkv [B, T, 3C] and per row the softmax max and 1/Σ; backward recomputes the same S block with the same
/// GEMM (so P is bit-identical to the forward's), then dP = dO·vᵀ, dv += Pᵀ·dO, dS = P ⊙ (dP − ⟨dP, P⟩),
/// dq += dS·k/√D, dk += dSᵀ·q/√D. Forward work units are (batch, head, block) triples, backward units (batch, head)
/// pairs, on `nnThreadCount` workers. Gradient-checked in Double to 1e-6 relative; matches PyTorch (fixture) to 1e-4
/// relative in Float.
public final class MultiHeadSelfAttention<Scalar: NNScalar>: Layer {
    public let dim: Int, heads: Int
    public let qkv: Linear<Scalar>    // C → 3C
    public let proj: Linear<Scalar>   // C → C
    private var qkvOut = Tensor<Scalar>(zeros: [0])   // [B, T, 3C]
    private var rowMax: [Scalar] = []                 // [B, heads, T] softmax shift
    private var rowInverseSum: [Scalar] = []          // [B, heads, T] softmax 1/Σ

    public init<G: RandomNumberGenerator>(dim: Int, heads: Int, name: String = "attn", rng: inout G) {
        precondition(dim % heads == 0, "MultiHeadSelfAttention(\(name)): dim \(dim) not divisible by \(heads) heads")
        self.dim = dim; self.heads = heads
        qkv = Linear(dim, 3 * dim, name: name + ".qkv", rng: &rng)
        proj = Linear(dim, dim, name: name + ".proj", rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { qkv.parameters + proj.parameters }

    /// Query rows per block; nil picks R so that the [R, T] score block stays ≤ 64K values. (Results do not depend on
    /// it beyond rounding; the tests set small values to exercise several blocks on tiny shapes.)
    public var queryBlockRows: Int? = nil

    func blockRows(_ t: Int) -> Int { min(t, max(1, queryBlockRows ?? Self.defaultBlockRows(t, values: 65_536))) }

    /// About `values`/T query rows, a multiple of 24 so that the kernel's 6-row (64-column strips) and 8-row (head
    /// width 32) tiles leave no rows to the slow single-row tiles: 56-row blocks at T = 1025 left 2 per block, and the
    /// ViT-S/16 forward core at 512² ran 9 % faster with 48 (alternating in one process).
    static func defaultBlockRows(_ t: Int, values: Int) -> Int { max(24, values / max(t, 1) / 24 * 24) }

    /// Float with head width a multiple of 16 runs `attentionForwardFloat`/`attentionBackwardFloat` (SIMD kernel,
    /// no per-call packing); Double and other widths run the GEMM path (the gradient checker's reference).
    func usesFloatKernel(headWidth d: Int) -> Bool { Scalar.self == Float.self && d % 16 == 0 }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 3 && x.shape[2] == dim, "MultiHeadSelfAttention: input \(x.shape), want [B, T, \(dim)]")
        let b = x.shape[0], t = x.shape[1], c = dim, d = dim / heads, heads = self.heads
        let scale = 1 / Scalar(d).squareRoot()
        let rows = blockRows(t), blocks = (t + rows - 1) / rows
        qkvOut = qkv(x)
        rowMax = [Scalar](repeating: 0, count: b * heads * t)
        rowInverseSum = rowMax
        var o = Tensor<Scalar>(uninitialized: [b, t, c])   // [B, T, C] concatenated heads
        qkvOut.data.withUnsafeBufferPointer { qp in
        rowMax.withUnsafeMutableBufferPointer { mp in
        rowInverseSum.withUnsafeMutableBufferPointer { ip in
        o.data.withUnsafeMutableBufferPointer { op in
            let qBase = qp.baseAddress!, oBase = op.baseAddress!, mBase = mp.baseAddress!, iBase = ip.baseAddress!
            if usesFloatKernel(headWidth: d) {
                func f(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
                func f(_ p: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
                attentionForwardFloat(qkv: f(qBase), output: f(oBase), maxima: f(mBase), inverseSums: f(iBase),
                                      batch: b, tokens: t, dim: c, heads: heads, blockRows: rows)
                return
            }
            parallelChunks(b * heads * blocks) { _, units in   // units write disjoint o rows/columns and row statistics
                let scores = UnsafeMutablePointer<Scalar>.allocate(capacity: rows * t)   // S/P block [R, T]
                defer { scores.deallocate() }
                for unit in units {
                    let pair = unit / blocks, r0 = (unit % blocks) * rows, r = min(rows, t - r0)
                    let bi = pair / heads, h = pair % heads
                    let q = qBase + bi * t * 3 * c + h * d, k = q + c, v = q + 2 * c
                    // S[R, T] = scale · q[r0..<r0+R, D] · kᵀ[D, T]
                    Scalar.gemm(transposeA: false, transposeB: true, m: r, n: t, k: d, alpha: scale,
                                q + r0 * 3 * c, lda: 3 * c, k, ldb: 3 * c, beta: 0, scores, ldc: t)
                    Softmax<Scalar>.rowSoftmax(scores, rows: r, k: t, maxima: mBase + pair * t + r0,
                                               inverseSums: iBase + pair * t + r0)
                    // o[R, D] = P[R, T] · v[T, D]
                    Scalar.gemm(transposeA: false, transposeB: false, m: r, n: d, k: t, alpha: 1,
                                UnsafePointer(scores), lda: t, v, ldb: 3 * c, beta: 0, oBase + (bi * t + r0) * c + h * d, ldc: c)
                }
            }
        } } } }
        return proj(o)
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let b = qkvOut.shape[0], t = qkvOut.shape[1], c = dim, d = dim / heads, heads = self.heads
        let scale = 1 / Scalar(d).squareRoot()
        let rows = blockRows(t), blocks = (t + rows - 1) / rows
        let dO = proj.backward(dy, inputShape: [b, t, c])   // [B, T, C]
        var dQKV = Tensor<Scalar>(zeros: [b, t, 3 * c])     // [B, T, 3C]
        qkvOut.data.withUnsafeBufferPointer { qp in
        rowMax.withUnsafeBufferPointer { mp in
        rowInverseSum.withUnsafeBufferPointer { ip in
        dO.data.withUnsafeBufferPointer { gp in
        dQKV.data.withUnsafeMutableBufferPointer { dqp in
            let qBase = qp.baseAddress!, gBase = gp.baseAddress!, dqBase = dqp.baseAddress!
            let mBase = mp.baseAddress!, iBase = ip.baseAddress!
            if usesFloatKernel(headWidth: d) {
                func f(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
                attentionBackwardFloat(qkv: f(qBase), outputGrad: f(gBase), maxima: f(mBase), inverseSums: f(iBase),
                                       qkvGrad: UnsafeMutableRawPointer(dqBase).assumingMemoryBound(to: Float.self),
                                       batch: b, tokens: t, dim: c, heads: heads, blockRows: queryBlockRows ?? Self.defaultBlockRows(t, values: 131_072))
                return
            }
            parallelChunks(b * heads) { _, pairs in   // (batch, head) pairs write disjoint dq/dk/dv columns
                let p = UnsafeMutablePointer<Scalar>.allocate(capacity: rows * t)    // P block [R, T]
                let dP = UnsafeMutablePointer<Scalar>.allocate(capacity: rows * t)   // dP, then dS, block [R, T]
                defer { p.deallocate(); dP.deallocate() }
                for pair in pairs {
                    let bi = pair / heads, h = pair % heads
                    let off = bi * t * 3 * c + h * d
                    let q = qBase + off, k = q + c, v = q + 2 * c
                    let dq = dqBase + off, dk = dq + c, dv = dq + 2 * c
                    for block in 0..<blocks {
                        let r0 = block * rows, r = min(rows, t - r0)
                        let g = gBase + (bi * t + r0) * c + h * d   // dO rows [R, D]
                        // Recompute P exactly as the forward did.
                        Scalar.gemm(transposeA: false, transposeB: true, m: r, n: t, k: d, alpha: scale,
                                    q + r0 * 3 * c, lda: 3 * c, k, ldb: 3 * c, beta: 0, p, ldc: t)
                        Softmax<Scalar>.rowSoftmaxRecompute(p, rows: r, k: t, maxima: mBase + pair * t + r0,
                                                            inverseSums: iBase + pair * t + r0)
                        // dP[R, T] = dO[R, D] · vᵀ
                        Scalar.gemm(transposeA: false, transposeB: true, m: r, n: t, k: d, alpha: 1,
                                    g, lda: c, v, ldb: 3 * c, beta: 0, dP, ldc: t)
                        // dv[T, D] += Pᵀ · dO
                        Scalar.gemm(transposeA: true, transposeB: false, m: t, n: d, k: r, alpha: 1,
                                    UnsafePointer(p), lda: t, g, ldb: c, beta: 1, dv, ldc: 3 * c)
                        // dS = P ⊙ (dP − ⟨dP, P⟩), in place in dP
                        Softmax<Scalar>.rowSoftmaxBackwardInPlace(y: UnsafePointer(p), gradient: dP, rows: r, k: t)
                        // dq[R, D] += scale · dS · k ; dk[T, D] += scale · dSᵀ · q
                        Scalar.gemm(transposeA: false, transposeB: false, m: r, n: d, k: t, alpha: scale,
                                    UnsafePointer(dP), lda: t, k, ldb: 3 * c, beta: 1, dq + r0 * 3 * c, ldc: 3 * c)
                        Scalar.gemm(transposeA: true, transposeB: false, m: t, n: d, k: r, alpha: scale,
                                    UnsafePointer(dP), lda: t, q + r0 * 3 * c, ldb: 3 * c, beta: 1, dk, ldc: 3 * c)
                    }
                }
            }
        } } } } }
        qkv.backward(dQKV, inputGrad: &dx)
    }
}

/// Row stride of the [·, Tp] panels and blocks: Tp plus 16 when Tp is a multiple of 256 floats (1 KB), so that
/// successive rows do not map to the same L1 sets (a 4 KB stride made every kernel step miss L1).
func attentionRowStride(_ padded: Int) -> Int { padded % 256 == 0 ? padded + 16 : padded }

/// The Float attention core (head width D a multiple of 16): the same blocked algorithm as the GEMM path, with
/// `attentionGemm` for the products and Kᵀ kept as a zero-padded [D, Tp] panel (Tp = T rounded up to 16) per
/// (batch, head), so scores come out in 16-lane rows. Work units are (batch, head, query block) triples.
/// qkv [B, T, 3C] → output [B, T, C] (overwritten), maxima/inverseSums [B, heads, T].
func attentionForwardFloat(qkv: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, maxima: UnsafeMutablePointer<Float>,
                           inverseSums: UnsafeMutablePointer<Float>, batch b: Int, tokens t: Int, dim c: Int, heads: Int,
                           blockRows rows: Int) {
    let d = c / heads, scale = 1 / Float(d).squareRoot(), padded = (t + 15) & ~15, blocks = (t + rows - 1) / rows
    let ld = attentionRowStride(padded)
    parallelChunks(b * heads * blocks) { _, units in   // units write disjoint output rows/columns and row statistics
        let keysT = UnsafeMutablePointer<Float>.allocate(capacity: d * ld)      // Kᵀ [D, Tp] (row stride ld), zero padding columns
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * ld)  // S/P block [R, Tp] (row stride ld)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: t * d)       // v [T, D] contiguous (streamed by P·v)
        defer { keysT.deallocate(); scores.deallocate(); values.deallocate() }
        keysT.initialize(repeating: 0, count: d * ld)
        var loadedPair = -1
        for unit in units {
            let pair = unit / blocks, r0 = (unit % blocks) * rows, r = min(rows, t - r0)
            let bi = pair / heads, h = pair % heads
            let q = qkv + bi * t * 3 * c + h * d, k = q + c, v = q + 2 * c
            if pair != loadedPair {
                transposeFloat(k, lds: 3 * c, rows: t, columns: d, keysT, ldd: ld, accumulate: false)
                for j in 0..<t { (values + j * d).update(from: v + j * 3 * c, count: d) }
                loadedPair = pair
            }
            attentionProbabilities(q + r0 * 3 * c, qRow: 3 * c, keysT: keysT, rows: r, depth: d, tokens: t, padded: padded, ld: ld,
                                   scale: scale, into: scores, maxima: maxima + pair * t + r0, inverseSums: inverseSums + pair * t + r0,
                                   recompute: false)
            // o[R, D] = (E[R, T] · v[T, D]) / Σ: the 1/Σ goes on the D outputs per row instead of the T exponentials
            let o = output + (bi * t + r0) * c + h * d
            attentionGemm(m: r, n: d, k: t, alpha: 1, x: scores, xRow: ld, xDepth: 1, y: values, ldy: d, c: o, ldc: c, accumulate: false)
            for i in 0..<r { scaleInPlace(o + i * c, count: d, by: inverseSums[pair * t + r0 + i]) }
        }
    }
}

/// One query block's scores S = scale · q[R, D] · Kᵀ[D, Tp] (row stride ld) turned, over the first `tokens` columns,
/// into the forward's unnormalised exponentials E = e^(S − max) (storing each row's max and 1/Σ; the caller divides
/// E·v by Σ, which saves a pass over E) or, with `recompute`, into the backward's probabilities P = E · 1/Σ from the
/// stored rows (the same E bit for bit).
func attentionProbabilities(_ q: UnsafePointer<Float>, qRow: Int, keysT: UnsafePointer<Float>, rows r: Int, depth d: Int, tokens t: Int,
                            padded: Int, ld: Int, scale: Float, into p: UnsafeMutablePointer<Float>,
                            maxima: UnsafeMutablePointer<Float>, inverseSums: UnsafeMutablePointer<Float>, recompute: Bool) {
    attentionGemm(m: r, n: padded, k: d, alpha: scale, x: q, xRow: qRow, xDepth: 1, y: keysT, ldy: ld, c: p, ldc: ld, accumulate: false)
    for i in 0..<r {
        if recompute {
            Softmax<Float>.rowSoftmaxRecompute(p + i * ld, rows: 1, k: t, maxima: maxima + i, inverseSums: inverseSums + i)
        } else {
            let row = p + i * ld, m = rowMaximum(row, count: t)
            maxima[i] = m
            inverseSums[i] = 1 / expShiftedInPlace(row, count: t, shift: m)
        }
    }
}

/// Backward of `attentionForwardFloat`, per (batch, head) pair: P is recomputed block by block with the same kernel
/// (bit-identical to the forward's), dP = dO·vᵀ, dv += Pᵀ·dO, dS = P ⊙ (dP − ⟨dP, P⟩), dq += dS·k/√D,
/// dk += dSᵀ·q/√D. dk and dv are [T, D] products with the block's P or dS read transposed (no [D, T] panels to
/// transpose back: those scalar scatters were 7 % of the backward), accumulated in contiguous per-pair buffers (into
/// dqkv's 3C-strided rows directly, the kernel's loads and stores of C ran 15 % slower) and added to dqkv per pair.
/// outputGrad dO [B, T, C]; qkvGrad [B, T, 3C] accumulated.
func attentionBackwardFloat(qkv: UnsafePointer<Float>, outputGrad: UnsafePointer<Float>, maxima: UnsafePointer<Float>,
                            inverseSums: UnsafePointer<Float>, qkvGrad: UnsafeMutablePointer<Float>,
                            batch b: Int, tokens t: Int, dim c: Int, heads: Int, blockRows: Int) {
    let d = c / heads, scale = 1 / Float(d).squareRoot(), padded = (t + 15) & ~15
    let rows = min(t, blockRows), blocks = (t + rows - 1) / rows, ld = attentionRowStride(padded)
    // Four chunks per thread: a worker that starts late takes fewer pairs (the head step waited 15 % of its time on the
    // worker's half); the forward keeps one chunk per thread, since each chunk re-transposes the keys of its first pair.
    parallelChunks(b * heads, chunksPerThread: 4) { _, pairs in   // pairs write disjoint dq/dk/dv columns
        let panels = UnsafeMutablePointer<Float>.allocate(capacity: 2 * d * ld)   // Kᵀ, Vᵀ [D, Tp] each (row stride ld)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * ld)          // P block [R, Tp] (row stride ld)
        let dP = UnsafeMutablePointer<Float>.allocate(capacity: rows * ld)         // dP, then dS, block [R, Tp] (row stride ld)
        let keys = UnsafeMutablePointer<Float>.allocate(capacity: t * d)           // k [T, D] contiguous (streamed by dS·k)
        let grads = UnsafeMutablePointer<Float>.allocate(capacity: 2 * t * d)      // dk, dv [T, D] each, contiguous
        defer { panels.deallocate(); p.deallocate(); dP.deallocate(); keys.deallocate(); grads.deallocate() }
        let keysGrad = grads, valuesGrad = grads + t * d
        panels.initialize(repeating: 0, count: 2 * d * ld)
        let keysT = panels, valuesT = panels + d * ld
        for pair in pairs {
            let bi = pair / heads, h = pair % heads
            let off = bi * t * 3 * c + h * d
            let q = qkv + off, k = q + c, v = q + 2 * c
            let dq = qkvGrad + off, dk = dq + c, dv = dq + 2 * c
            transposeFloat(k, lds: 3 * c, rows: t, columns: d, keysT, ldd: ld, accumulate: false)
            transposeFloat(v, lds: 3 * c, rows: t, columns: d, valuesT, ldd: ld, accumulate: false)
            for j in 0..<t { (keys + j * d).update(from: k + j * 3 * c, count: d) }
            grads.update(repeating: 0, count: 2 * t * d)
            for block in 0..<blocks {
                let r0 = block * rows, r = min(rows, t - r0)
                let g = outputGrad + (bi * t + r0) * c + h * d   // dO rows [R, D]
                // Recompute P exactly as the forward did.
                attentionProbabilities(q + r0 * 3 * c, qRow: 3 * c, keysT: keysT, rows: r, depth: d, tokens: t, padded: padded, ld: ld,
                                       scale: scale, into: p, maxima: UnsafeMutablePointer(mutating: maxima + pair * t + r0),
                                       inverseSums: UnsafeMutablePointer(mutating: inverseSums + pair * t + r0), recompute: true)
                // dP[R, Tp] = dO[R, D] · vᵀ ; dv[T, D] += Pᵀ · dO
                attentionGemm(m: r, n: padded, k: d, alpha: 1, x: g, xRow: c, xDepth: 1,
                              y: valuesT, ldy: ld, c: dP, ldc: ld, accumulate: false)
                attentionGemm(m: t, n: d, k: r, alpha: 1, x: p, xRow: 1, xDepth: ld,
                              y: g, ldy: c, c: valuesGrad, ldc: d, accumulate: true)
                // dS = P ⊙ (dP − ⟨dP, P⟩), in place in dP (padding columns stay 0)
                for i in 0..<r {
                    Softmax<Float>.rowSoftmaxBackwardInPlace(y: UnsafePointer(p + i * ld), gradient: dP + i * ld, rows: 1, k: t)
                }
                // dq[R, D] += scale · dS · k ; dk[T, D] += scale · dSᵀ · q
                attentionGemm(m: r, n: d, k: t, alpha: scale, x: dP, xRow: ld, xDepth: 1,
                              y: keys, ldy: d, c: dq + r0 * 3 * c, ldc: 3 * c, accumulate: true)
                attentionGemm(m: t, n: d, k: r, alpha: scale, x: dP, xRow: 1, xDepth: ld,
                              y: q + r0 * 3 * c, ldy: 3 * c, c: keysGrad, ldc: d, accumulate: true)
            }
            for j in 0..<t {   // dk, dv rows into dqkv, 16 lanes at a time (D is a multiple of 16)
                for (src, dst) in [(keysGrad + j * d, dk + j * 3 * c), (valuesGrad + j * d, dv + j * 3 * c)] {
                    for i in stride(from: 0, to: d, by: 16) {
                        let sum = UnsafeRawPointer(dst + i).loadUnaligned(as: SIMD16<Float>.self)
                            + UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(dst + i).storeBytes(of: sum, as: SIMD16<Float>.self)
                    }
                }
            }
        }
    }
}

/// timm's `Mlp`: `fc2(GELU(fc1(x)))`, hidden = ratio·C. x [..., C] → [..., C].
public final class MLP<Scalar: NNScalar>: Layer {
    public let fc1: Linear<Scalar>, act: Activation<Scalar>, fc2: Linear<Scalar>
    private var hiddenShape: [Int] = []

    public init<G: RandomNumberGenerator>(dim: Int, hidden: Int, activation: ActivationKind = .gelu, name: String = "mlp",
                                          rng: inout G) {
        fc1 = Linear(dim, hidden, name: name + ".fc1", rng: &rng)
        act = Activation(activation)
        fc2 = Linear(hidden, dim, name: name + ".fc2", rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { fc1.parameters + fc2.parameters }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let h = fc1(x)
        hiddenShape = h.shape
        return fc2(act(h))
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let da = fc2.backward(dy, inputShape: hiddenShape)    // [..., hidden]
        let dh = act.backward(da, inputShape: hiddenShape)    // [..., hidden]
        fc1.backward(dh, inputGrad: &dx)
    }
}

/// Pre-LayerNorm transformer block (timm `Block`, no layer scale / drop-path):
/// `x₁ = x + Attn(LN₁(x))`, `y = x₁ + MLP(LN₂(x₁))`. x [B, T, C] → y [B, T, C].
/// Parameter names follow timm (`norm1`, `attn.qkv`, `attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`) under `name.`.
/// Matches PyTorch (fixture) to 1e-4 relative in Float; gradient-checked in Double to 1e-6.
public final class TransformerBlock<Scalar: NNScalar>: Layer {
    public let norm1: LayerNorm<Scalar>, attn: MultiHeadSelfAttention<Scalar>
    public let norm2: LayerNorm<Scalar>, mlp: MLP<Scalar>
    private var shape: [Int] = []

    public init<G: RandomNumberGenerator>(dim: Int, heads: Int, mlpRatio: Int = 4, eps: Scalar = 1e-6,
                                          name: String = "block", rng: inout G) {
        let prefix = name.isEmpty ? "" : name + "."
        norm1 = LayerNorm(dim, eps: eps, name: prefix + "norm1")
        attn = MultiHeadSelfAttention(dim: dim, heads: heads, name: prefix + "attn", rng: &rng)
        norm2 = LayerNorm(dim, eps: eps, name: prefix + "norm2")
        mlp = MLP(dim: dim, hidden: dim * mlpRatio, name: prefix + "mlp", rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { norm1.parameters + attn.parameters + norm2.parameters + mlp.parameters }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        shape = x.shape
        var x1 = attn(norm1(x))
        x1.add(x)
        var y = mlp(norm2(x1))
        y.add(x1)
        return y
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        var dx1 = dy                                             // [B, T, C] residual path
        let dn2 = mlp.backward(dy, inputShape: shape)            // [B, T, C]
        norm2.backward(dn2, inputGrad: &dx1)
        dx.add(dx1)                                              // residual into x
        let dn1 = attn.backward(dx1, inputShape: shape)          // [B, T, C]
        norm1.backward(dn1, inputGrad: &dx)
    }
}
