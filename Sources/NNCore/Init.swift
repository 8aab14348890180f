import Foundation

// Seeded initialisers. They take any `RandomNumberGenerator` (HeadLab passes `SplitMix64`), so a model's
// initial weights depend only on the seed. Fan-in/fan-out follow PyTorch: for a weight [out, in, k...],
// fanIn = in · Π k, fanOut = out · Π k.

/// U(−bound, bound) of the given shape: the values of `Double.random(in: -bound...bound, using: &rng)` drawn in
/// element order, bit for bit (see `uniformClosedDraw`), without the generic standard-library path (≈ 0.5 µs a value
/// when `G` is not specialised, which made ViT construction take seconds).
public func uniformTensor<Scalar: NNScalar, G: RandomNumberGenerator>(_ shape: [Int], bound: Double,
                                                                     using rng: inout G) -> Tensor<Scalar> {
    let count = shape.reduce(1, *), delta = bound - -bound
    var values = [Double](repeating: 0, count: count)   // [count] drawn in Double, converted once
    for i in 0..<count { values[i] = uniformClosedDraw(lower: -bound, upper: bound, delta: delta, using: &rng) }
    return Tensor(shape: shape, data: convertedScalars(values))
}

/// One draw of `Double.random(in: lower...upper, using:)` as the Swift standard library computes it (checked bit for
/// bit by NNCoreTests): r = next(upperBound: 2⁵³ + 1) by Lemire's multiply-shift with rejection; r = 2⁵³ gives
/// `upper`, otherwise `delta · (r · 2⁻⁵³) + lower` with delta = upper − lower. Only `rng.next()` is called through
/// the generator, so an unspecialised `G` costs one witness call per 64 bits.
@inline(__always)
func uniformClosedDraw<G: RandomNumberGenerator>(lower: Double, upper: Double, delta: Double, using rng: inout G) -> Double {
    let range: UInt64 = (1 << 53) + 1
    var product = rng.next().multipliedFullWidth(by: range)
    if product.low < range {
        let threshold = (0 &- range) % range
        while product.low < threshold { product = rng.next().multipliedFullWidth(by: range) }
    }
    if product.high == 1 << 53 { return upper }
    return delta * (Double(product.high) * (Double.ulpOfOne / 2)) + lower
}

/// One draw of `Double.random(in: 0..<1, using:)` as the standard library computes it: (next() & (2⁵³ − 1)) · 2⁻⁵³.
@inline(__always)
func unitIntervalDraw<G: RandomNumberGenerator>(using rng: inout G) -> Double {
    Double(rng.next() & ((1 << 53) - 1)) * (Double.ulpOfOne / 2)
}

/// Doubles → Scalar array; Float by a concrete loop (a generic `Scalar(x)` per element is a slow witness call).
func convertedScalars<Scalar: NNScalar>(_ values: [Double]) -> [Scalar] {
    if Scalar.self == Double.self { return unsafeBitCast(values, to: [Scalar].self) }
    if Scalar.self == Float.self {
        let floats = [Float](unsafeUninitializedCapacity: values.count) { buffer, initialized in
            for i in 0..<values.count { buffer[i] = Float(values[i]) }
            initialized = values.count
        }
        return unsafeBitCast(floats, to: [Scalar].self)
    }
    return values.map { Scalar($0) }
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
    let count = shape.reduce(1, *)
    var values = [Double](repeating: 0, count: count)   // [count] drawn in Double, converted once
    for i in 0..<count {
        var v: Double
        var tries = 0
        repeat {
            v = mean + std * standardNormal(using: &rng)
            tries += 1
        } while (v < a || v > b) && tries < 1000
        values[i] = min(max(v, a), b)
    }
    return Tensor(shape: shape, data: convertedScalars(values))
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
