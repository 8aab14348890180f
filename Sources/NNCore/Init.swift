import Foundation

// Seeded initialisers. They take any `RandomNumberGenerator` (HeadLab passes `SplitMix64`), so a model's
// initial weights depend only on the seed. Fan-in/fan-out follow PyTorch: for a weight [out, in, k...],
// fanIn = in · Π k, fanOut = out · Π k.

/// U(−bound, bound) of the given shape.
public func uniformTensor<Scalar: NNScalar, G: RandomNumberGenerator>(_ shape: [Int], bound: Double,
                                                                     using rng: inout G) -> Tensor<Scalar> {
    var t = Tensor<Scalar>(zeros: shape)
    for i in 0..<t.count { t.data[i] = Scalar(Double.random(in: -bound...bound, using: &rng)) }
    return t
}

/// (fanIn, fanOut) of a weight shaped [out, in, k...] (PyTorch convention).
public func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    precondition(shape.count >= 2, "fans: weight shape \(shape) needs at least 2 dims")
    let receptive = shape.dropFirst(2).reduce(1, *)
    return (shape[1] * receptive, shape[0] * receptive)
}

/// Normal(mean, std) truncated to the absolute interval [a, b] by rejection (timm `trunc_normal_`,
/// whose defaults are std = 1, a = −2, b = 2; ViTs use std = 0.02 with the same absolute bounds).
public func truncatedNormalTensor<Scalar: NNScalar, G: RandomNumberGenerator>(
    _ shape: [Int], mean: Double = 0, std: Double = 0.02, a: Double = -2, b: Double = 2, using rng: inout G) -> Tensor<Scalar> {
    precondition(a < b && std > 0, "truncatedNormal: need a < b and std > 0")
    var t = Tensor<Scalar>(zeros: shape)
    for i in 0..<t.count {
        var v: Double
        var tries = 0
        repeat {
            v = mean + std * standardNormal(using: &rng)
            tries += 1
        } while (v < a || v > b) && tries < 1000
        t.data[i] = Scalar(min(max(v, a), b))
    }
    return t
}

/// Kaiming (He) uniform: U(±gain·√(3/fanIn)) with gain = √(2/(1+a²)) (leaky-ReLU slope a; a = 0 for ReLU).
/// PyTorch's default Linear/Conv init is this with a = √5, i.e. U(±1/√fanIn).
public func kaimingUniformTensor<Scalar: NNScalar, G: RandomNumberGenerator>(_ shape: [Int], a: Double = 0,
                                                                            using rng: inout G) -> Tensor<Scalar> {
    let gain = (2 / (1 + a * a)).squareRoot()
    return uniformTensor(shape, bound: gain * (3 / Double(fans(shape).fanIn)).squareRoot(), using: &rng)
}

/// Xavier (Glorot) uniform: U(±gain·√(6/(fanIn+fanOut))).
public func xavierUniformTensor<Scalar: NNScalar, G: RandomNumberGenerator>(_ shape: [Int], gain: Double = 1,
                                                                           using rng: inout G) -> Tensor<Scalar> {
    let f = fans(shape)
    return uniformTensor(shape, bound: gain * (6 / Double(f.fanIn + f.fanOut)).squareRoot(), using: &rng)
}
