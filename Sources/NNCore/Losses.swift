import Foundation

// Losses: each a forward returning the scalar loss and a backward that ACCUMULATES
// `lossGrad · ∂loss/∂prediction` into `predictionGrad` (targets, masks and weights are constants).
// All reduce by a mean, as PyTorch's default `reduction="mean"` does; sums are accumulated in Double.
// Each is gradient-checked in Double to 1e-6 relative and matches PyTorch in the fixtures.
//
// Masks and weights either have the prediction's shape or broadcast along dim 1: a prediction
// [N, C, ...] takes a mask [N, 1, ...] (one value per pixel for all C channels).

/// How a mask/weight tensor lines up with the prediction.
struct Broadcast {
    let channels: Int, inner: Int, full: Bool
    init(prediction: [Int], other: [Int], what: String) {
        let count = prediction.reduce(1, *), otherCount = other.reduce(1, *)
        if otherCount == count { channels = 1; inner = 1; full = true; return }
        precondition(prediction.count >= 2 && other.count == prediction.count && other[1] == 1
                     && other[0] == prediction[0] && Array(other.dropFirst(2)) == Array(prediction.dropFirst(2)),
                     "\(what) shape \(other) must equal the prediction's \(prediction) or broadcast along dim 1")
        channels = prediction[1]; inner = prediction.dropFirst(2).reduce(1, *); full = false
    }
    /// Index into the mask for prediction element i.
    @inline(__always) func callAsFunction(_ i: Int) -> Int {
        full ? i : (i / (channels * inner)) * inner + i % inner
    }
}

/// Mean absolute error: `L = mean |p − t|`. Backward: `dp += g · sign(p − t) / n`.
@_specialize(where S == Float)
public func l1Loss<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>) -> S {
    precondition(prediction.count == target.count, "l1Loss: prediction \(prediction.shape) vs target \(target.shape)")
    var s = 0.0
    for i in 0..<prediction.count { s += Double(abs(prediction.data[i] - target.data[i])) }
    return S(s / Double(max(prediction.count, 1)))
}

@_specialize(where S == Float)
public func l1LossBackward<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, lossGrad: S = 1,
                                        predictionGrad: inout Tensor<S>) {
    let g = lossGrad / S(max(prediction.count, 1))
    for i in 0..<prediction.count {
        let d = prediction.data[i] - target.data[i]
        predictionGrad.data[i] += d > 0 ? g : (d < 0 ? -g : 0)
    }
}

/// Masked L1: `L = Σ m·|p − t| / Σ m` over elements (a broadcast [N, 1, ...] mask counts once per channel);
/// 0 when the mask is empty. Pixel3DMM's normal loss. Backward: `dp += g · m · sign(p − t) / Σ m`.
@_specialize(where S == Float)
public func maskedL1Loss<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, mask: Tensor<S>) -> S {
    precondition(prediction.count == target.count, "maskedL1Loss: prediction \(prediction.shape) vs target \(target.shape)")
    let b = Broadcast(prediction: prediction.shape, other: mask.shape, what: "maskedL1Loss: mask")
    var s = 0.0, total = 0.0
    for i in 0..<prediction.count {
        let m = Double(mask.data[b(i)])
        s += m * Double(abs(prediction.data[i] - target.data[i])); total += m
    }
    return total > 0 ? S(s / total) : 0
}

@_specialize(where S == Float)
public func maskedL1LossBackward<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, mask: Tensor<S>, lossGrad: S = 1,
                                              predictionGrad: inout Tensor<S>) {
    let b = Broadcast(prediction: prediction.shape, other: mask.shape, what: "maskedL1Loss: mask")
    var total = 0.0
    for i in 0..<prediction.count { total += Double(mask.data[b(i)]) }
    guard total > 0 else { return }
    let g = lossGrad / S(total)
    for i in 0..<prediction.count {
        let d = prediction.data[i] - target.data[i], m = mask.data[b(i)]
        predictionGrad.data[i] += d > 0 ? g * m : (d < 0 ? -g * m : 0)
    }
}

/// Weighted L1: `L = mean_elements w·|p − t|` (e.g. Pixel3DMM's UV loss with w = uv_mask + 0.2).
/// Backward: `dp += g · w · sign(p − t) / n`.
@_specialize(where S == Float)
public func weightedL1Loss<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, weight: Tensor<S>) -> S {
    precondition(prediction.count == target.count, "weightedL1Loss: prediction \(prediction.shape) vs target \(target.shape)")
    let b = Broadcast(prediction: prediction.shape, other: weight.shape, what: "weightedL1Loss: weight")
    var s = 0.0
    for i in 0..<prediction.count { s += Double(weight.data[b(i)]) * Double(abs(prediction.data[i] - target.data[i])) }
    return S(s / Double(max(prediction.count, 1)))
}

@_specialize(where S == Float)
public func weightedL1LossBackward<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, weight: Tensor<S>, lossGrad: S = 1,
                                                predictionGrad: inout Tensor<S>) {
    let b = Broadcast(prediction: prediction.shape, other: weight.shape, what: "weightedL1Loss: weight")
    let g = lossGrad / S(max(prediction.count, 1))
    for i in 0..<prediction.count {
        let d = prediction.data[i] - target.data[i], w = weight.data[b(i)]
        predictionGrad.data[i] += d > 0 ? g * w : (d < 0 ? -g * w : 0)
    }
}

/// Cosine (angular) loss between vector fields along dim 1 ([N, C, ...] or [N, C]):
/// `L = Σ_pos m·(1 − cos) / Σ_pos m`, `cos = ⟨p, t⟩ / (max(|p|, eps)·max(|t|, eps))` (m = 1 without a mask [N, 1, ...]).
/// Backward w.r.t. p (for |p| > eps): `∂cos/∂p = t/(|p||t|) − cos · p/|p|²`.
@_specialize(where S == Float)
public func cosineLoss<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, mask: Tensor<S>? = nil, eps: S = 1e-8) -> S {
    cosineLossImpl(prediction, target, mask: mask, eps: eps, lossGrad: 0, predictionGrad: nil)
}

@_specialize(where S == Float)
public func cosineLossBackward<S: NNScalar>(_ prediction: Tensor<S>, _ target: Tensor<S>, mask: Tensor<S>? = nil, eps: S = 1e-8,
                                            lossGrad: S = 1, predictionGrad: inout Tensor<S>) {
    _ = cosineLossImpl(prediction, target, mask: mask, eps: eps, lossGrad: lossGrad, predictionGrad: &predictionGrad)
}

@_specialize(where S == Float)
private func cosineLossImpl<S: NNScalar>(_ p: Tensor<S>, _ t: Tensor<S>, mask: Tensor<S>?, eps: S, lossGrad: S,
                                         predictionGrad: UnsafeMutablePointer<Tensor<S>>?) -> S {
    precondition(p.shape == t.shape && p.rank >= 2, "cosineLoss: prediction \(p.shape) vs target \(t.shape)")
    let n = p.shape[0], c = p.shape[1], inner = p.count / (n * c)
    if let m = mask { precondition(m.count == n * inner, "cosineLoss: mask \(m.shape) must have one value per vector") }
    var total = 0.0, s = 0.0
    for b in 0..<n { for k in 0..<inner { total += Double(mask?.data[b * inner + k] ?? 1) } }
    guard total > 0 else { return 0 }
    for b in 0..<n { for k in 0..<inner {
        let w = mask?.data[b * inner + k] ?? 1
        if w == 0 { continue }
        var dot: S = 0, pp: S = 0, tt: S = 0
        for ch in 0..<c {
            let i = (b * c + ch) * inner + k
            dot += p.data[i] * t.data[i]; pp += p.data[i] * p.data[i]; tt += t.data[i] * t.data[i]
        }
        let np = max(pp.squareRoot(), eps), nt = max(tt.squareRoot(), eps)
        let cosine = dot / (np * nt)
        s += Double(w) * Double(1 - cosine)
        if let g = predictionGrad {
            let scale = -lossGrad * w / S(total)
            let pTerm: S = pp.squareRoot() > eps ? cosine / (np * np) : 0
            for ch in 0..<c {
                let i = (b * c + ch) * inner + k
                g.pointee.data[i] += scale * (t.data[i] / (np * nt) - pTerm * p.data[i])
            }
        }
    } }
    return S(s / total)
}

/// Binary cross-entropy on logits z with targets y ∈ [0, 1] (PyTorch `binary_cross_entropy_with_logits`):
/// `L = mean w·(max(z, 0) − z·y + log(1 + e^(−|z|)))`. Backward: `dz += g · w · (σ(z) − y) / n`.
@_specialize(where S == Float)
public func bceWithLogitsLoss<S: NNScalar>(_ logits: Tensor<S>, _ target: Tensor<S>, weight: Tensor<S>? = nil) -> S {
    precondition(logits.count == target.count, "bceWithLogitsLoss: logits \(logits.shape) vs target \(target.shape)")
    let b = weight.map { Broadcast(prediction: logits.shape, other: $0.shape, what: "bceWithLogitsLoss: weight") }
    var s = 0.0
    for i in 0..<logits.count {
        let z = Double(logits.data[i]), y = Double(target.data[i])
        let l = max(z, 0) - z * y + Foundation.log(1 + Foundation.exp(-abs(z)))
        s += (b.map { Double(weight!.data[$0(i)]) } ?? 1) * l
    }
    return S(s / Double(max(logits.count, 1)))
}

@_specialize(where S == Float)
public func bceWithLogitsLossBackward<S: NNScalar>(_ logits: Tensor<S>, _ target: Tensor<S>, weight: Tensor<S>? = nil,
                                                   lossGrad: S = 1, predictionGrad: inout Tensor<S>) {
    let b = weight.map { Broadcast(prediction: logits.shape, other: $0.shape, what: "bceWithLogitsLoss: weight") }
    let g = lossGrad / S(max(logits.count, 1))
    for i in 0..<logits.count {
        let z = logits.data[i]
        let sigma = z >= 0 ? 1 / (1 + S.exp(-z)) : S.exp(z) / (1 + S.exp(z))
        let w = b.map { weight!.data[$0(i)] } ?? 1
        predictionGrad.data[i] += g * w * (sigma - target.data[i])
    }
}

/// Weighted softmax cross-entropy over classes on dim 1 (PyTorch `cross_entropy(weight=, ignore_index=)`):
/// logits [N, K, ...], targets [N, ...] as Int class indices; `L = Σ_i w[y_i]·(−log softmax(z_i)[y_i]) / Σ_i w[y_i]`
/// over positions whose target ≠ ignoreIndex (0 if none). Backward: `dz_i += g · w[y_i]·(softmax(z_i) − onehot(y_i)) / Σ w`.
@_specialize(where S == Float)
public func crossEntropyLoss<S: NNScalar>(_ logits: Tensor<S>, targets: [Int], classWeights: [S]? = nil,
                                          ignoreIndex: Int = -100) -> S {
    crossEntropyImpl(logits, targets: targets, classWeights: classWeights, ignoreIndex: ignoreIndex, lossGrad: 0, grad: nil)
}

@_specialize(where S == Float)
public func crossEntropyLossBackward<S: NNScalar>(_ logits: Tensor<S>, targets: [Int], classWeights: [S]? = nil,
                                                  ignoreIndex: Int = -100, lossGrad: S = 1, predictionGrad: inout Tensor<S>) {
    _ = crossEntropyImpl(logits, targets: targets, classWeights: classWeights, ignoreIndex: ignoreIndex,
                         lossGrad: lossGrad, grad: &predictionGrad)
}

@_specialize(where S == Float)
private func crossEntropyImpl<S: NNScalar>(_ z: Tensor<S>, targets: [Int], classWeights: [S]?, ignoreIndex: Int,
                                           lossGrad: S, grad: UnsafeMutablePointer<Tensor<S>>?) -> S {
    precondition(z.rank >= 2, "crossEntropyLoss: logits \(z.shape) need a class dim 1")
    let n = z.shape[0], k = z.shape[1], inner = z.count / (n * k)
    precondition(targets.count == n * inner, "crossEntropyLoss: \(targets.count) targets for logits \(z.shape)")
    if let w = classWeights { precondition(w.count == k, "crossEntropyLoss: \(w.count) class weights for \(k) classes") }
    var total = 0.0
    for y in targets where y != ignoreIndex {
        precondition(y >= 0 && y < k, "crossEntropyLoss: target \(y) outside 0..<\(k) (ignore index \(ignoreIndex))")
        total += Double(classWeights?[y] ?? 1)
    }
    guard total > 0 else { return 0 }
    var s = 0.0
    var probs = [Double](repeating: 0, count: k)
    for b in 0..<n { for pos in 0..<inner {
        let y = targets[b * inner + pos]
        if y == ignoreIndex { continue }
        var m = -Double.infinity
        for c in 0..<k { m = max(m, Double(z.data[(b * k + c) * inner + pos])) }
        var sum = 0.0
        for c in 0..<k { probs[c] = Foundation.exp(Double(z.data[(b * k + c) * inner + pos]) - m); sum += probs[c] }
        let w = Double(classWeights?[y] ?? 1)
        s += w * (Foundation.log(sum) + m - Double(z.data[(b * k + y) * inner + pos]))
        if let g = grad {
            let scale = Double(lossGrad) * w / total
            for c in 0..<k {
                let d = probs[c] / sum - (c == y ? 1 : 0)
                g.pointee.data[(b * k + c) * inner + pos] += S(scale * d)
            }
        }
    } }
    return S(s / total)
}
