/// Multi-head self-attention as in timm's `Attention` (fused qkv, no masking, no dropout):
/// `[q, k, v] = x·Wqkvᵀ + bqkv` split as [B, T, 3, heads, D]; per head `P = softmax(q·kᵀ / √D)`, `o = P·v`;
/// heads concatenated to [B, T, C]; `y = o·Wprojᵀ + bproj`.
///
/// x [B, T, C] → y [B, T, C], C = heads·D. Caches qkv [B, T, 3C], P [B, heads, T, T] and o [B, T, C].
/// Per (batch, head) two GEMMs forward and four backward; (batch, head) pairs run on `nnThreadCount` workers. Gradient-checked in Double to 1e-6 relative;
/// matches PyTorch (fixture) to 1e-4 relative in Float.
public final class MultiHeadSelfAttention<Scalar: NNScalar>: Layer {
    public let dim: Int, heads: Int
    public let qkv: Linear<Scalar>    // C → 3C
    public let proj: Linear<Scalar>   // C → C
    private var qkvOut = Tensor<Scalar>(zeros: [0])   // [B, T, 3C]
    private var probs = Tensor<Scalar>(zeros: [0])    // [B, heads, T, T]

    public init<G: RandomNumberGenerator>(dim: Int, heads: Int, name: String = "attn", rng: inout G) {
        precondition(dim % heads == 0, "MultiHeadSelfAttention(\(name)): dim \(dim) not divisible by \(heads) heads")
        self.dim = dim; self.heads = heads
        qkv = Linear(dim, 3 * dim, name: name + ".qkv", rng: &rng)
        proj = Linear(dim, dim, name: name + ".proj", rng: &rng)
    }

    public var parameters: [Parameter<Scalar>] { qkv.parameters + proj.parameters }

    @_specialize(where Scalar == Float)
    public func callAsFunction(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        precondition(x.rank == 3 && x.shape[2] == dim, "MultiHeadSelfAttention: input \(x.shape), want [B, T, \(dim)]")
        let b = x.shape[0], t = x.shape[1], c = dim, d = dim / heads
        let scale = 1 / Scalar(d).squareRoot()
        qkvOut = qkv(x)
        probs = Tensor(zeros: [b, heads, t, t])
        var o = Tensor<Scalar>(zeros: [b, t, c])   // [B, T, C] concatenated heads
        qkvOut.data.withUnsafeBufferPointer { qp in
        probs.data.withUnsafeMutableBufferPointer { pp in
        o.data.withUnsafeMutableBufferPointer { op in
            let qBase = qp.baseAddress!, pBase = pp.baseAddress!, oBase = op.baseAddress!
            parallelChunks(b * heads) { _, pairs in   // (batch, head) pairs write disjoint P blocks and o columns
                for pair in pairs {
                    let bi = pair / heads, h = pair % heads
                    let q = qBase + bi * t * 3 * c + h * d, k = q + c, v = q + 2 * c
                    let p = pBase + pair * t * t
                    // S[T, T] = scale · q[T, D] · kᵀ[D, T]
                    Scalar.gemm(transposeA: false, transposeB: true, m: t, n: t, k: d, alpha: scale,
                                q, lda: 3 * c, k, ldb: 3 * c, beta: 0, p, ldc: t)
                    Softmax<Scalar>.rowSoftmax(p, rows: t, k: t)
                    // o[T, D] = P[T, T] · v[T, D]
                    Scalar.gemm(transposeA: false, transposeB: false, m: t, n: d, k: t, alpha: 1,
                                UnsafePointer(p), lda: t, v, ldb: 3 * c, beta: 0, oBase + bi * t * c + h * d, ldc: c)
                }
            }
        } } }
        return proj(o)
    }

    @_specialize(where Scalar == Float)
    public func backward(_ dy: Tensor<Scalar>, inputGrad dx: inout Tensor<Scalar>) {
        let b = qkvOut.shape[0], t = qkvOut.shape[1], c = dim, d = dim / heads
        let scale = 1 / Scalar(d).squareRoot()
        let dO = proj.backward(dy, inputShape: [b, t, c])   // [B, T, C]
        var dQKV = Tensor<Scalar>(zeros: [b, t, 3 * c])     // [B, T, 3C]
        qkvOut.data.withUnsafeBufferPointer { qp in
        probs.data.withUnsafeBufferPointer { pp in
        dO.data.withUnsafeBufferPointer { gp in
        dQKV.data.withUnsafeMutableBufferPointer { dqp in
            let qBase = qp.baseAddress!, pBase = pp.baseAddress!, gBase = gp.baseAddress!, dqBase = dqp.baseAddress!
            parallelChunks(b * heads) { _, pairs in   // (batch, head) pairs write disjoint dq/dk/dv columns
                var dP = [Scalar](repeating: 0, count: t * t)   // [T, T] per worker
                var dS = [Scalar](repeating: 0, count: t * t)   // [T, T] per worker
                dP.withUnsafeMutableBufferPointer { dpp in
                dS.withUnsafeMutableBufferPointer { dsp in
                    for pair in pairs {
                        let bi = pair / heads, h = pair % heads
                        let off = bi * t * 3 * c + h * d
                        let q = qBase + off, k = q + c, v = q + 2 * c
                        let dq = dqBase + off, dk = dq + c, dv = dq + 2 * c
                        let p = pBase + pair * t * t
                        let g = gBase + bi * t * c + h * d
                        // dP[T, T] = dO[T, D] · vᵀ
                        Scalar.gemm(transposeA: false, transposeB: true, m: t, n: t, k: d, alpha: 1,
                                    g, lda: c, v, ldb: 3 * c, beta: 0, dpp.baseAddress!, ldc: t)
                        // dv[T, D] += Pᵀ · dO
                        Scalar.gemm(transposeA: true, transposeB: false, m: t, n: d, k: t, alpha: 1,
                                    p, lda: t, g, ldb: c, beta: 1, dv, ldc: 3 * c)
                        for i in 0..<(t * t) { dsp[i] = 0 }
                        Softmax<Scalar>.rowSoftmaxBackward(y: p, dy: UnsafePointer(dpp.baseAddress!), dx: dsp.baseAddress!, rows: t, k: t)
                        // dq[T, D] += scale · dS · k ; dk[T, D] += scale · dSᵀ · q
                        Scalar.gemm(transposeA: false, transposeB: false, m: t, n: d, k: t, alpha: scale,
                                    UnsafePointer(dsp.baseAddress!), lda: t, k, ldb: 3 * c, beta: 1, dq, ldc: 3 * c)
                        Scalar.gemm(transposeA: true, transposeB: false, m: t, n: d, k: t, alpha: scale,
                                    UnsafePointer(dsp.baseAddress!), lda: t, q, ldb: 3 * c, beta: 1, dk, ldc: 3 * c)
                    }
                } }
            }
        } } } }
        qkv.backward(dQKV, inputGrad: &dx)
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
