import Foundation

/// AdamW with decoupled weight decay and bias correction, step for step as PyTorch's `torch.optim.AdamW`
/// (single-tensor path), for every parameter p with gradient g at step t (1-based):
///
///     p ← p · (1 − lr·λ)
///     m ← m + (1 − β₁)·(g − m)          v ← β₂·v + (1 − β₂)·g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// `step(learningRate:)` first checks every gradient for NaN/Inf and throws `NonFiniteError` naming the
/// parameter (nothing is updated then). Moments are per parameter, in the parameters' order; `state`
/// exposes them for checkpoints. Matches PyTorch's losses over 10 steps to ~1e-5 relative (fixture).
public final class AdamW<Scalar: NNScalar> {
    public let parameters: [Parameter<Scalar>]
    public var beta1: Scalar, beta2: Scalar, eps: Scalar, weightDecay: Scalar
    /// Steps taken so far (t of the last update).
    public private(set) var stepCount: Int = 0
    public private(set) var m: [[Scalar]]   // first moments, one array per parameter (its shape)
    public private(set) var v: [[Scalar]]   // second moments, one array per parameter (its shape)

    /// Per parameter: false for those exempt from weight decay.
    public let decays: [Bool]

    /// `excludeFromWeightDecay` picks parameters that get no decay (timm's usual choice: biases, norms,
    /// position embeddings, e.g. `{ $0.value.rank <= 1 }`); by default every parameter decays, as plain PyTorch AdamW.
    public init(parameters: [Parameter<Scalar>], beta1: Scalar = 0.9, beta2: Scalar = 0.999, eps: Scalar = 1e-8,
                weightDecay: Scalar = 0.01, excludeFromWeightDecay: (Parameter<Scalar>) -> Bool = { _ in false }) {
        let names = parameters.map(\.name)
        precondition(Set(names).count == names.count, "AdamW: parameter names must be unique: \(names)")
        self.parameters = parameters
        decays = parameters.map { !excludeFromWeightDecay($0) }
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        m = parameters.map { [Scalar](repeating: 0, count: $0.value.count) }
        v = m
    }

    /// Zeroes every parameter's gradient.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// One update with the given learning rate. Throws (without updating) if a gradient is non-finite.
    @_specialize(where Scalar == Float)
    public func step(learningRate lr: Scalar) throws {
        for p in parameters { try checkFinite(p.grad, name: p.name, context: "gradient at AdamW step \(stepCount + 1)") }
        stepCount += 1
        let t = Scalar(stepCount)
        let bias1 = 1 - Scalar.pow(beta1, t), bias2Sqrt = (1 - Scalar.pow(beta2, t)).squareRoot()
        let stepSize = lr / bias1
        let b1 = beta1, b2 = beta2, e = eps
        for (k, p) in parameters.enumerated() {
            let decay: Scalar = decays[k] ? 1 - lr * weightDecay : 1
            p.value.data.withUnsafeMutableBufferPointer { w in
            p.grad.data.withUnsafeBufferPointer { g in
            m[k].withUnsafeMutableBufferPointer { mp in
            v[k].withUnsafeMutableBufferPointer { vp in
                let wBase = w.baseAddress!, gBase = g.baseAddress!, mBase = mp.baseAddress!, vBase = vp.baseAddress!
                // Elementwise, so slicing over the workers gives the same bits (memory-bound: 4 streams per element).
                let update = { (range: Range<Int>) in
                    var start = range.lowerBound
                    if Scalar.self == Float.self {   // 16 lanes (the scalar loop stays scalar: the four arrays might alias)
                        let o = 4 * range.lowerBound
                        start += self.adamWFloat16(w: UnsafeMutableRawPointer(wBase) + o, g: UnsafeRawPointer(gBase) + o,
                                                   m: UnsafeMutableRawPointer(mBase) + o, v: UnsafeMutableRawPointer(vBase) + o,
                                                   count: range.count, decay: unsafeBitCast(decay, to: Float.self),
                                                   beta1: unsafeBitCast(b1, to: Float.self), beta2: unsafeBitCast(b2, to: Float.self),
                                                   bias2Sqrt: unsafeBitCast(bias2Sqrt, to: Float.self), eps: unsafeBitCast(e, to: Float.self),
                                                   stepSize: unsafeBitCast(stepSize, to: Float.self))
                    }
                    for i in start..<range.upperBound {
                        wBase[i] *= decay
                        mBase[i] += (1 - b1) * (gBase[i] - mBase[i])
                        vBase[i] = vBase[i] * b2 + (1 - b2) * gBase[i] * gBase[i]
                        let denom = vBase[i].squareRoot() / bias2Sqrt + e
                        wBase[i] -= stepSize * (mBase[i] / denom)
                    }
                }
                parallelSlices(w.count, update)
            } } } }
        }
    }

    /// The AdamW update of `step` on whole 16-lane groups, with the scalar loop's operations in the same order (same
    /// bits: no fused multiply-adds, IEEE √ and ÷). Returns the number of elements done.
    @inline(__always)
    private func adamWFloat16(w: UnsafeMutableRawPointer, g: UnsafeRawPointer, m: UnsafeMutableRawPointer, v: UnsafeMutableRawPointer,
                              count: Int, decay: Float, beta1 b1: Float, beta2 b2: Float, bias2Sqrt: Float, eps e: Float,
                              stepSize: Float) -> Int {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 16 <= count {
            let o = 4 * i
            let gv = g.loadUnaligned(fromByteOffset: o, as: V.self)
            let wv = w.loadUnaligned(fromByteOffset: o, as: V.self) * decay
            var mv = m.loadUnaligned(fromByteOffset: o, as: V.self)
            mv += (1 - b1) * (gv - mv)
            let vv = v.loadUnaligned(fromByteOffset: o, as: V.self) * b2 + V(repeating: 1 - b2) * gv * gv
            let denom = vv.squareRoot() / bias2Sqrt + e
            w.storeBytes(of: wv - stepSize * (mv / denom), toByteOffset: o, as: V.self)
            m.storeBytes(of: mv, toByteOffset: o, as: V.self)
            v.storeBytes(of: vv, toByteOffset: o, as: V.self)
            i += 16
        }
        return i
    }

    /// The optimizer state as named tensors (`m.<param>`, `v.<param>`) for a checkpoint.
    public func stateTensors() -> [(String, Tensor<Scalar>)] {
        var out: [(String, Tensor<Scalar>)] = []
        for (k, p) in parameters.enumerated() {
            out.append(("m." + p.name, Tensor(shape: p.value.shape, data: m[k])))
            out.append(("v." + p.name, Tensor(shape: p.value.shape, data: v[k])))
        }
        return out
    }

    /// Restores moments and step count (shapes must match the parameters).
    public func restoreState(step: Int, tensors: [String: Tensor<Scalar>], file: String = "") throws {
        var newM = m, newV = v
        for (k, p) in parameters.enumerated() {
            for (prefix, isFirst) in [("m.", true), ("v.", false)] {
                let key = prefix + p.name
                guard let t = tensors[key] else { throw CheckpointError.missingTensor(name: key, file: file) }
                guard t.shape == p.value.shape else {
                    throw CheckpointError.shapeMismatch(name: key, file: file, expected: p.value.shape, found: t.shape)
                }
                try checkFinite(t, name: key, context: file)
                if isFirst { newM[k] = t.data } else { newV[k] = t.data }
            }
        }
        m = newM; v = newV; stepCount = step
    }
}

/// Linear warm-up then cosine decay, evaluated for the 0-based index of the step about to be taken:
/// `lr(s) = base·(s + 1)/warmup` for s < warmup, else
/// `min + (base − min)·½·(1 + cos(π·min(1, (s − warmup)/(total − warmup))))`.
public struct WarmupCosineSchedule: Sendable, Codable, Equatable {
    public var baseLearningRate: Double, warmupSteps: Int, totalSteps: Int, minLearningRate: Double

    public init(baseLearningRate: Double, warmupSteps: Int, totalSteps: Int, minLearningRate: Double = 0) {
        self.baseLearningRate = baseLearningRate; self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps; self.minLearningRate = minLearningRate
    }

    public func learningRate(step s: Int) -> Double {
        if s < warmupSteps { return baseLearningRate * Double(s + 1) / Double(warmupSteps) }
        let progress = min(1, Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
        return minLearningRate + (baseLearningRate - minLearningRate) * 0.5 * (1 + Foundation.cos(Double.pi * progress))
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch `clip_grad_norm_`:
/// coefficient `maxNorm / (norm + 1e-6)` clamped to 1). Returns the norm before clipping.
/// Throws `NonFiniteError` naming the first non-finite gradient.
@discardableResult
@_specialize(where S == Float)
public func clipGradientNorm<S: NNScalar>(_ parameters: [Parameter<S>], maxNorm: Double) throws -> Double {
    var sumSquares = 0.0
    for p in parameters {
        try checkFinite(p.grad, name: p.name, context: "gradient before clipping")
        for g in p.grad.data { sumSquares += Double(g) * Double(g) }
    }
    let norm = sumSquares.squareRoot()
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        let c = S(coefficient)
        for p in parameters { p.grad.data.withUnsafeMutableBufferPointer { for i in $0.indices { $0[i] *= c } } }
    }
    return norm
}
