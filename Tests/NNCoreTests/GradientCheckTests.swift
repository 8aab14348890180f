import XCTest
import TestSupport
import Geometry
@testable import NNCore

/// Finite-difference checks (Double, central differences, h = 1e-5) of every op's backward, on tiny shapes,
/// inputs AND parameters, with a random upstream gradient. Tolerance: relative error ≤ 1e-6 with the
/// floor of `checkGradients` (|a − n| / max(|a|, |n|, 1e-2)).
final class GradientCheckTests: XCTestCase {
    let tolerance = 1e-6

    /// Randomises the layer's parameters (so γ = 1, β = 0 style defaults don't hide bugs), runs the check.
    func assertLayerGradients<L: Layer>(_ layer: L, inputShape: [Int], seed: UInt64 = 1, inputScale: Double = 1,
                                        _ what: String, file: StaticString = #filePath, line: UInt = #line) where L.Scalar == Double {
        var rng = SplitMix64(seed: seed)
        for p in layer.parameters { p.value = randomNormalTensor(p.value.shape, scale: 0.5, using: &rng) }
        let x: Tensor<Double> = randomNormalTensor(inputShape, scale: inputScale, using: &rng)
        let y = layer(x)
        let upstream: Tensor<Double> = randomNormalTensor(y.shape, using: &rng)
        let results = checkLayerGradients(layer, input: x, upstream: upstream)
        XCTAssertEqual(results.count, 1 + layer.parameters.count, file: file, line: line)
        for r in results {
            XCTAssertLessThan(r.maxRelativeError, tolerance, "\(what): \(r)", file: file, line: line)
        }
    }

    func testLinear() {
        var rng = SplitMix64(seed: 10)
        assertLayerGradients(Linear<Double>(4, 3, rng: &rng), inputShape: [2, 3, 4], "linear")
        assertLayerGradients(Linear<Double>(5, 2, bias: false, rng: &rng), inputShape: [3, 5], "linear no bias")
    }

    func testConv2d() {
        var rng = SplitMix64(seed: 11)
        assertLayerGradients(Conv2d<Double>(3, 4, kernel: 3, padding: 1, rng: &rng), inputShape: [2, 3, 5, 5], "conv 3x3")
        assertLayerGradients(Conv2d<Double>(2, 3, kernel: 3, stride: 2, padding: 2, dilation: 2, rng: &rng),
                             inputShape: [1, 2, 7, 6], "conv strided dilated")
        assertLayerGradients(Conv2d<Double>(4, 6, kernel: (2, 3), stride: (1, 2), padding: (1, 0), groups: 2, rng: &rng),
                             inputShape: [2, 4, 5, 6], "conv grouped non-square")
        assertLayerGradients(Conv2d<Double>(3, 6, kernel: 3, padding: 1, groups: 3, bias: false, rng: &rng),
                             inputShape: [2, 3, 4, 4], "depthwise conv, multiplier 2")
        assertLayerGradients(Conv2d<Double>(2, 2, kernel: (1, 2), stride: (2, 3), padding: (2, 3), rng: &rng),
                             inputShape: [1, 2, 3, 4], "conv padding beyond the kernel, stride 3")
    }

    /// The direct depthwise path (groups = Cin = Cout) for the EfficientNet shapes (3×3/5×5, stride 1/2) and odd ones
    /// (asymmetric kernel, dilation, padding beyond the kernel): finite differences, and equality with im2col + GEMM.
    func testDirectDepthwiseConv() {
        var rng = SplitMix64(seed: 21)
        let cases: [(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), bias: Bool, input: [Int])] = [
            ((3, 3), (1, 1), (1, 1), (1, 1), true, [2, 3, 5, 6]),
            ((3, 3), (2, 2), (0, 0), (1, 1), false, [1, 2, 7, 8]),
            ((5, 5), (1, 1), (2, 2), (1, 1), false, [1, 2, 6, 5]),
            ((5, 5), (2, 2), (1, 2), (1, 1), true, [2, 2, 9, 8]),
            ((2, 3), (1, 2), (3, 0), (2, 1), true, [1, 3, 4, 7]),
        ]
        for (index, c) in cases.enumerated() {
            let channels = c.input[1]
            let conv = Conv2d<Double>(channels, channels, kernel: c.kernel, stride: c.stride, padding: c.padding,
                                      dilation: c.dilation, groups: channels, bias: c.bias, rng: &rng)
            XCTAssertTrue(conv.isDepthwise)
            assertLayerGradients(conv, inputShape: c.input, seed: UInt64(30 + index), "direct depthwise \(c)")
            // Same outputs and gradients as the GEMM path (up to summation order).
            let x: Tensor<Double> = randomNormalTensor(c.input, using: &rng)
            var results: [[Double]] = []
            for direct in [true, false] {
                conv.directDepthwise = direct
                for p in conv.parameters { p.zeroGrad() }
                let y = conv(x)
                let dy = Tensor<Double>(shape: y.shape, data: (0..<y.count).map { Double($0 % 7) - 3 })
                let dx = conv.backward(dy, inputShape: x.shape)
                results.append(y.data + dx.data + conv.parameters.flatMap { $0.grad.data })
            }
            conv.directDepthwise = true
            XCTAssertEqual(results[0].count, results[1].count)
            for (a, b) in zip(results[0], results[1]) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b)), "case \(index)") }
        }
    }

    /// The Float forward of the direct depthwise path (16- and 4-lane register accumulation plus scalar tails: output
    /// widths 23 and 12) against im2col + GEMM in Float.
    func testDirectDepthwiseConvFloatLanes() {
        var rng = SplitMix64(seed: 22)
        for (kernel, stride, width) in [(3, 1, 23), (5, 2, 24), (5, 1, 7)] {
            let conv = Conv2d<Float>(4, 4, kernel: kernel, stride: stride, padding: kernel / 2, groups: 4, rng: &rng)
            let x: Tensor<Float> = randomNormalTensor([2, 4, 9, width], using: &rng)
            let direct = conv(x)
            conv.directDepthwise = false
            let reference = conv(x)
            assertRelativeClose(direct, reference, 1e-6, "depthwise k\(kernel) s\(stride) width \(width)")
        }
    }

    func testConvTranspose2d() {
        var rng = SplitMix64(seed: 12)
        assertLayerGradients(ConvTranspose2d<Double>(3, 2, kernel: 2, stride: 2, rng: &rng), inputShape: [2, 3, 3, 4], "deconv k2 s2")
        assertLayerGradients(ConvTranspose2d<Double>(4, 6, kernel: 3, stride: 2, padding: 1, outputPadding: 1, dilation: 1,
                                                     groups: 2, rng: &rng), inputShape: [1, 4, 3, 3], "deconv general grouped")
        assertLayerGradients(ConvTranspose2d<Double>(2, 3, kernel: (3, 2), stride: (1, 3), padding: (2, 0), dilation: (2, 1),
                                                     bias: false, rng: &rng), inputShape: [1, 2, 4, 3], "deconv dilated")
    }

    func testPooling() {
        assertLayerGradients(MaxPool2d<Double>(kernel: 3, stride: 2, padding: 1), inputShape: [2, 2, 5, 6], "max pool")
        assertLayerGradients(MaxPool2d<Double>(kernel: 2), inputShape: [1, 3, 4, 4], "max pool 2x2")
        assertLayerGradients(AvgPool2d<Double>(kernel: 3, stride: 2, padding: 1), inputShape: [2, 2, 5, 6], "avg pool")
        assertLayerGradients(AvgPool2d<Double>(kernel: 3, stride: 2, padding: 1, countIncludePad: false),
                             inputShape: [1, 2, 5, 5], "avg pool exclude pad")
        assertLayerGradients(GlobalAvgPool2d<Double>(), inputShape: [2, 3, 3, 4], "global avg pool")
    }

    func testResample() {
        for mode in [ResampleMode.bilinear, .bicubic, .bicubicAntialias] {
            assertLayerGradients(Resize2d<Double>(height: 7, width: 5, mode: mode), inputShape: [1, 2, 3, 4], "resize up \(mode)")
            assertLayerGradients(Resize2d<Double>(height: 3, width: 4, mode: mode), inputShape: [2, 1, 7, 6], "resize down \(mode)")
            assertLayerGradients(PositionEmbeddingResize<Double>(grid: (3, 3), newGrid: (5, 4), prefixTokens: 1, mode: mode),
                                 inputShape: [1, 10, 3], "pos-embed \(mode)")
        }
    }

    func testLayouts() {
        assertLayerGradients(TokensToImage<Double>(height: 2, width: 3), inputShape: [2, 6, 4], "tokens → image")
        assertLayerGradients(ImageToTokens<Double>(), inputShape: [2, 4, 2, 3], "image → tokens")
        assertLayerGradients(Unpatchify<Double>(gridHeight: 2, gridWidth: 3, patch: 2, channels: 3),
                             inputShape: [1, 6, 12], "unpatchify")
        var rng = SplitMix64(seed: 30)
        let x: Tensor<Double> = randomNormalTensor([2, 6, 4], using: &rng)
        XCTAssertEqual(ImageToTokens<Double>()(TokensToImage<Double>(height: 2, width: 3)(x)), x, "round trip")
    }

    func testNorms() {
        assertLayerGradients(LayerNorm<Double>(6, eps: 1e-6), inputShape: [2, 3, 6], "layer norm")
        let bn = BatchNormInference<Double>(3)
        var rng = SplitMix64(seed: 13)
        bn.runningMean.value = randomNormalTensor([3], using: &rng)
        bn.runningVar.value = Tensor(shape: [3], data: [0.5, 1.7, 2.3])
        assertLayerGradients(bn, inputShape: [2, 3, 2, 3], "batch norm (inference)")
    }

    func testActivationsAndSoftmax() {
        for kind in ActivationKind.allCases {
            // Scale 4 so ReLU6 sees inputs above 6 too.
            assertLayerGradients(Activation<Double>(kind), inputShape: [3, 7], inputScale: kind == .relu6 ? 4 : 1.5, "\(kind)")
        }
        assertLayerGradients(Softmax<Double>(), inputShape: [2, 3, 5], "softmax")
    }

    func testAttentionAndBlock() {
        var rng = SplitMix64(seed: 14)
        assertLayerGradients(MultiHeadSelfAttention<Double>(dim: 8, heads: 2, rng: &rng), inputShape: [2, 3, 8], "attention")
        assertLayerGradients(TransformerBlock<Double>(dim: 16, heads: 8, rng: &rng), inputShape: [1, 3, 16], "pre-LN block, 8 heads")
    }

    /// Attention blocked by query rows (2 rows per block on 5 tokens: blocks of 2, 2, 1): finite differences, and the
    /// same outputs and gradients as one block.
    func testAttentionInQueryBlocks() {
        var rng = SplitMix64(seed: 15)
        let attention = MultiHeadSelfAttention<Double>(dim: 8, heads: 2, rng: &rng)
        attention.queryBlockRows = 2
        assertLayerGradients(attention, inputShape: [2, 5, 8], seed: 16, "attention, 3 query blocks")
        let x: Tensor<Double> = randomNormalTensor([2, 5, 8], using: &rng)
        let dy: Tensor<Double> = randomNormalTensor([2, 5, 8], using: &rng)
        var results: [[Double]] = []
        for rows in [2, 5] {
            attention.queryBlockRows = rows
            for p in attention.parameters { p.zeroGrad() }
            let y = attention(x)
            let dx = attention.backward(dy, inputShape: x.shape)
            results.append(y.data + dx.data + attention.parameters.flatMap { $0.grad.data })
        }
        for (a, b) in zip(results[0], results[1]) { XCTAssertEqual(a, b, accuracy: 1e-12 * max(1, abs(b))) }
    }

    /// The Float SIMD attention path (head width a multiple of 16) against the Double GEMM path, which the finite
    /// differences above check: same weights, inputs and upstream gradient; outputs, input gradients and parameter
    /// gradients agree normwise to 1e-5. Shapes cover head widths 16/32/64 (the 6×64, 4×64, 8×32, 4×32, 8×16 and 1×16 tiles),
    /// T not a multiple of 16 (padded panels), several query blocks with a short last one, a padded row stride
    /// (T = 256), and 1 vs 2 workers.
    func testFloatAttentionKernelMatchesDoublePath() {
        let saved = nnThreadCount
        defer { nnThreadCount = saved }
        // (128, 2, 1, 150, nil): head width 64 with one 150-row block, so dk/dv are deep products (k = 150); rows 5 and
        // T = 21 or 37 leave rows to the 4-row and single-row tiles.
        for (dim, heads, batch, tokens, rows) in [(64, 4, 2, 37, 8), (64, 2, 2, 37, nil), (128, 2, 1, 21, 5), (64, 2, 1, 256, 64), (128, 2, 1, 150, nil)] as [(Int, Int, Int, Int, Int?)] {
            var rng = SplitMix64(seed: 17)
            let float = MultiHeadSelfAttention<Float>(dim: dim, heads: heads, rng: &rng)
            let double = MultiHeadSelfAttention<Double>(dim: dim, heads: heads, rng: &rng)
            for (f, d) in zip(float.parameters, double.parameters) { d.value = f.value.converted() }
            float.queryBlockRows = rows; double.queryBlockRows = rows
            let x: Tensor<Float> = randomNormalTensor([batch, tokens, dim], using: &rng)
            let dy: Tensor<Float> = randomNormalTensor([batch, tokens, dim], using: &rng)
            let what = "dim \(dim), \(heads) heads, T \(tokens), rows \(rows.map(String.init) ?? "auto")"
            var runs: [[Tensor<Float>]] = []
            for workers in [1, 2] {
                nnThreadCount = workers
                for p in float.parameters { p.zeroGrad() }
                let y = float(x), dx = float.backward(dy, inputShape: x.shape)
                runs.append([y, dx] + float.parameters.map { $0.grad })
            }
            // Not bit for bit: the qkv and proj Linears' GEMMs are split over the workers (rounding like separate products).
            for (a, b) in zip(runs[0], runs[1]) { assertRelativeClose(a, b, 1e-6, "\(what): 1 vs 2 workers") }
            let y = double(x.converted()), dx = double.backward(dy.converted(), inputShape: x.shape)
            let reference = [y, dx] + double.parameters.map { $0.grad }
            for (i, (a, b)) in zip(runs[0], reference).enumerated() {
                assertRelativeClose(a, b.converted(), 1e-5, "\(what): tensor \(i) vs Double")
            }
        }
    }

    func testSparseMatmul() {
        let a = CSRMatrix<Double>(rows: 4, columns: 5, triplets: [(0, 0, 1), (0, 3, -2), (1, 1, 0.5), (2, 4, 3),
                                                                  (2, 0, 1), (3, 2, -1), (3, 3, 2), (3, 3, 0.25)])
        XCTAssertEqual(a.values.count, 7, "duplicates summed")
        assertLayerGradients(SparseMatmul(a), inputShape: [5, 3], "sparse × dense")
    }

    // MARK: Losses (gradient w.r.t. the prediction; targets/masks/weights are constants)

    func assertLossGradient(_ what: String, shape: [Int], seed: UInt64 = 2, loss: @escaping (Tensor<Double>) -> Double,
                            backward: @escaping (Tensor<Double>, inout Tensor<Double>) -> Void,
                            file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix64(seed: seed)
        let p = Parameter<Double>("prediction", randomNormalTensor(shape, using: &rng))
        let r = checkGradients(variables: [p], loss: { loss(p.value) }, backward: { p.zeroGrad(); backward(p.value, &p.grad) })
        XCTAssertLessThan(r[0].maxRelativeError, tolerance, "\(what): \(r[0])", file: file, line: line)
        XCTAssertGreaterThan(p.grad.data.map(abs).max() ?? 0, 0, "\(what): gradient is all zero", file: file, line: line)
    }

    func testLosses() {
        var rng = SplitMix64(seed: 15)
        let shape = [2, 3, 2, 3]
        let target: Tensor<Double> = randomNormalTensor(shape, using: &rng)
        var mask = Tensor<Double>(zeros: [2, 1, 2, 3])
        for i in 0..<mask.count { mask.data[i] = rng.bernoulli(0.6) ? 1 : 0 }
        mask.data[0] = 1
        var weight = mask
        for i in 0..<weight.count { weight.data[i] += 0.2 }
        let fullWeight: Tensor<Double> = Tensor(shape: shape, data: (0..<36).map { _ in Double(rng.uniform()) })

        assertLossGradient("l1", shape: shape, loss: { l1Loss($0, target) },
                           backward: { l1LossBackward($0, target, predictionGrad: &$1) })
        assertLossGradient("masked l1", shape: shape, loss: { maskedL1Loss($0, target, mask: mask) },
                           backward: { maskedL1LossBackward($0, target, mask: mask, predictionGrad: &$1) })
        assertLossGradient("weighted l1 (broadcast)", shape: shape, loss: { weightedL1Loss($0, target, weight: weight) },
                           backward: { weightedL1LossBackward($0, target, weight: weight, predictionGrad: &$1) })
        assertLossGradient("weighted l1 (full)", shape: shape, loss: { weightedL1Loss($0, target, weight: fullWeight) },
                           backward: { weightedL1LossBackward($0, target, weight: fullWeight, predictionGrad: &$1) })
        assertLossGradient("cosine", shape: shape, loss: { cosineLoss($0, target) },
                           backward: { cosineLossBackward($0, target, predictionGrad: &$1) })
        assertLossGradient("cosine masked", shape: shape, loss: { cosineLoss($0, target, mask: mask) },
                           backward: { cosineLossBackward($0, target, mask: mask, predictionGrad: &$1) })
        let binary = Tensor<Double>(shape: shape, data: (0..<36).map { _ in rng.bernoulli(0.5) ? 1 : 0 })
        assertLossGradient("bce with logits", shape: shape, loss: { bceWithLogitsLoss($0, binary) },
                           backward: { bceWithLogitsLossBackward($0, binary, predictionGrad: &$1) })
        assertLossGradient("bce weighted", shape: shape, loss: { bceWithLogitsLoss($0, binary, weight: weight) },
                           backward: { bceWithLogitsLossBackward($0, binary, weight: weight, predictionGrad: &$1) })
        let labels = [0, 2, 1, -100, 3, 3, 1, 0, 2, -100, 1, 2]   // [2, 2, 3] with two ignored
        let classWeights: [Double] = [0.7, 0.3, 1.2, 0.5]
        assertLossGradient("cross entropy", shape: [2, 4, 2, 3], loss: { crossEntropyLoss($0, targets: labels, classWeights: classWeights) },
                           backward: { crossEntropyLossBackward($0, targets: labels, classWeights: classWeights, predictionGrad: &$1) })
        assertLossGradient("cross entropy [N, K]", shape: [5, 2],
                           loss: { crossEntropyLoss($0, targets: [0, 1, 1, 255, 0], classWeights: [0.3, 0.7], ignoreIndex: 255) },
                           backward: { crossEntropyLossBackward($0, targets: [0, 1, 1, 255, 0], classWeights: [0.3, 0.7],
                                                                ignoreIndex: 255, predictionGrad: &$1) })
    }

    func testLossGradScaleAndAccumulation() {
        var rng = SplitMix64(seed: 16)
        let p: Tensor<Double> = randomNormalTensor([4, 3], using: &rng), t: Tensor<Double> = randomNormalTensor([4, 3], using: &rng)
        var once = Tensor<Double>(zeros: [4, 3]), twice = Tensor<Double>(zeros: [4, 3])
        cosineLossBackward(p, t, lossGrad: 2, predictionGrad: &once)
        cosineLossBackward(p, t, predictionGrad: &twice)
        cosineLossBackward(p, t, predictionGrad: &twice)
        for i in 0..<12 { XCTAssertEqual(once.data[i], twice.data[i], accuracy: 1e-12) }
        XCTAssertEqual(crossEntropyLoss(p, targets: [-100, -100, -100, -100]), 0, "all ignored → 0")
        XCTAssertEqual(maskedL1Loss(p, t, mask: Tensor(zeros: [4, 3])), 0, "empty mask → 0")
    }
}

/// A deliberately wrong layer: GELU whose backward drops the x·φ(x) term.
private final class WrongGELU: Layer {
    typealias Scalar = Double
    private let gelu = Activation<Double>(.gelu)
    private var input = Tensor<Double>(zeros: [0])
    func callAsFunction(_ x: Tensor<Double>) -> Tensor<Double> { input = x; return gelu(x) }
    func backward(_ dy: Tensor<Double>, inputGrad dx: inout Tensor<Double>) {
        for i in 0..<dx.count { dx.data[i] += dy.data[i] * 0.5 * (1 + erf(input.data[i] / 2.squareRoot())) }
    }
}

final class GradientCheckerSelfTests: XCTestCase {
    func testCheckerCatchesAWrongBackward() {
        var rng = SplitMix64(seed: 21)
        let x: Tensor<Double> = randomNormalTensor([3, 4], using: &rng), up: Tensor<Double> = randomNormalTensor([3, 4], using: &rng)
        let r = checkLayerGradients(WrongGELU(), input: x, upstream: up)
        XCTAssertGreaterThan(r[0].maxRelativeError, 1e-2, "\(r[0])")
    }
}

final class FastExpTests: XCTestCase {
    func testFastExpMatchesLibmToTwoUlp() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let want = Foundation.exp(x), got = fastExpFloat(x)
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7, "max relative error \(worst)")
        XCTAssertEqual(fastExpFloat(0), 1)
        // The Float activations against libm Double over [−10, 10].
        for kind in ActivationKind.allCases {
            let xs = stride(from: -10.0, through: 10.0, by: 0.013).map { $0 }
            let reference = Activation<Double>(kind), fast = Activation<Float>(kind)
            let x = Tensor<Double>(shape: [xs.count], data: xs)
            let want = reference(x), got = fast(x.converted(to: Float.self))
            let dWant = reference.backward(Tensor(shape: [xs.count], repeating: 1), inputShape: [xs.count])
            let dGot = fast.backward(Tensor(shape: [xs.count], repeating: 1), inputShape: [xs.count])
            for i in xs.indices where abs(xs[i]) > 1e-3 && abs(xs[i] - 6) > 1e-3 {
                XCTAssertEqual(Double(got.data[i]), want.data[i], accuracy: 1e-6 * max(1, abs(want.data[i])), "\(kind)(\(xs[i]))")
                XCTAssertEqual(Double(dGot.data[i]), dWant.data[i], accuracy: 2e-6, "\(kind)′(\(xs[i]))")
            }
        }
        XCTAssertLessThan(fastExpFloat(-1000), 1e-37)
    }

    /// fastExp16 (FMA polynomial, bias folded into the magic number) lane by lane: each of 16 different inputs against
    /// libm and against the same value computed alone in lane 0, so a lane mix-up or a wrong exponent shift fails.
    func testFastExp16LanesMatchLibm() {
        var worst = 0.0
        var x: Float = -87.2
        while x < 88 {
            let v = SIMD16<Float>((0..<16).map { x + Float($0) * 0.37 })
            let e = fastExp16(v)
            for l in 0..<16 where v[l] < 88 {   // [−87.2, 88): the clamps at −87.3 and 88.7 (→ ∞) are the existing test's
                let want = Foundation.exp(Double(v[l]))
                worst = max(worst, abs(Double(e[l]) - want) / want)
                XCTAssertEqual(e[l], fastExpFloat(v[l]), "lane \(l) of \(v[l])")
            }
            x += 5.93
        }
        XCTAssertLessThan(worst, 3e-7, "max relative error \(worst)")
    }
}

final class VectorLoopTests: XCTestCase {
    /// AdamW's 16-lane loop against the documented update written out in scalar Float (same operations, so same bits),
    /// on a size with a scalar tail (37 = 2·16 + 5), over three steps with decay.
    func testAdamWVectorLoopMatchesScalarFormula() throws {
        var rng = SplitMix64(seed: 5)
        let w0: Tensor<Float> = randomNormalTensor([37], using: &rng)
        let p = Parameter("w", w0)
        let opt = AdamW(parameters: [p], beta1: 0.9, beta2: 0.95, weightDecay: 0.05)
        var w = w0.data, m = [Float](repeating: 0, count: 37), v = m
        for step in 1...3 {
            let g: Tensor<Float> = randomNormalTensor([37], using: &rng)
            p.grad = g
            try opt.step(learningRate: 4e-4)
            let lr: Float = 4e-4, b1: Float = 0.9, b2: Float = 0.95, decay = 1 - lr * Float(0.05)
            let bias1 = 1 - Float.pow(b1, Float(step)), bias2Sqrt = (1 - Float.pow(b2, Float(step))).squareRoot()
            for i in 0..<37 {
                w[i] *= decay
                m[i] += (1 - b1) * (g.data[i] - m[i])
                v[i] = v[i] * b2 + (1 - b2) * g.data[i] * g.data[i]
                w[i] -= lr / bias1 * (m[i] / (v[i].squareRoot() / bias2Sqrt + 1e-8))
            }
            XCTAssertEqual(p.value.data, w, "step \(step)")
        }
    }

    /// The bias gradient (Linear.backward's addRows) against the row-by-row scalar sum, bit for bit, with a tail.
    func testAddRowsMatchesScalarSum() {
        var rng = SplitMix64(seed: 6)
        let rows: Tensor<Float> = randomNormalTensor([7, 35], using: &rng)
        var got = [Float](repeating: 0.25, count: 35), want = got
        rows.data.withUnsafeBufferPointer { addRows($0.baseAddress!, rows: 7, count: 35, into: &got) }
        for r in 0..<7 { for o in 0..<35 { want[o] += rows.data[r * 35 + o] } }
        XCTAssertEqual(got, want)
    }
}

final class ThreadingTests: XCTestCase {
    /// Batch-parallel layers give the same outputs and input gradients on 1 or 3 workers, and weight
    /// gradients equal up to the order of partial sums (1e-5 relative).
    func testWorkerCountDoesNotChangeResults() {
        let saved = nnThreadCount
        defer { nnThreadCount = saved }
        var outputs: [[Tensor<Float>]] = []
        for workers in [1, 3] {
            nnThreadCount = workers
            var rng = SplitMix64(seed: 40)
            let conv = Conv2d<Float>(3, 4, kernel: 3, stride: 2, padding: 1, rng: &rng)
            let deconv = ConvTranspose2d<Float>(4, 2, kernel: 2, stride: 2, rng: &rng)
            let attn = MultiHeadSelfAttention<Float>(dim: 8, heads: 2, rng: &rng)
            let x: Tensor<Float> = randomNormalTensor([5, 3, 6, 6], using: &rng)
            let tokens: Tensor<Float> = randomNormalTensor([3, 4, 8], using: &rng)
            let y = deconv(conv(x)), z = attn(tokens)
            let dh = deconv.backward(y, inputShape: [5, 4, 3, 3])
            let dx = conv.backward(dh, inputShape: x.shape)
            let dt = attn.backward(z, inputShape: tokens.shape)
            outputs.append([y, z, dx, dt, conv.weight.grad, deconv.weight.grad, attn.qkv.weight.grad])
        }
        for (i, what) in ["conv→deconv", "attention", "conv dx", "attention dx"].enumerated() {
            XCTAssertEqual(outputs[0][i], outputs[1][i], what)
        }
        for i in 4..<7 { assertRelativeClose(outputs[0][i], outputs[1][i], 1e-5, "weight grad \(i)") }
    }

    /// The row-parallel LayerNorm (per-worker dγ/dβ partial sums), the sliced activations, the depthwise convolution
    /// (planes / channels on workers) and the tiled transposes on shapes large enough to take their threaded paths:
    /// same outputs and input gradients on 1 or 2 workers, parameter gradients up to summation order.
    func testThreadedElementwisePathsMatchSerial() {
        let saved = nnThreadCount
        defer { nnThreadCount = saved }
        var outputs: [[Tensor<Float>]] = []
        for workers in [1, 2] {
            nnThreadCount = workers
            var rng = SplitMix64(seed: 41)
            let norm = LayerNorm<Float>(256, name: "ln")
            norm.weight.value = randomNormalTensor([256], using: &rng)
            let gelu = Activation<Float>(.gelu)
            let depthwise = Conv2d<Float>(8, 8, kernel: 5, stride: 2, padding: 2, groups: 8, rng: &rng)
            let toImage = TokensToImage<Float>(height: 16, width: 20)
            let tokens: Tensor<Float> = randomNormalTensor([2, 320, 256], using: &rng)   // 163,840 values
            let image: Tensor<Float> = randomNormalTensor([2, 8, 33, 30], using: &rng)
            let y = gelu(norm(tokens)), d = depthwise(image), t = toImage(tokens)
            let dy: Tensor<Float> = randomNormalTensor(y.shape, using: &rng)
            let dd: Tensor<Float> = randomNormalTensor(d.shape, using: &rng)
            let dn = norm.backward(gelu.backward(dy, inputShape: y.shape), inputShape: tokens.shape)
            let di = depthwise.backward(dd, inputShape: image.shape)
            let dt = toImage.backward(t, inputShape: tokens.shape)
            XCTAssertEqual(dt, tokens, "tokens → image → back (the adjoint of a permutation is its inverse)")
            outputs.append([y, d, t, dn, di, dt, norm.weight.grad, norm.bias.grad, depthwise.weight.grad])
        }
        for (i, what) in ["norm→gelu", "depthwise", "tokens→image", "norm dx", "depthwise dx", "transpose dx"].enumerated() {
            XCTAssertEqual(outputs[0][i], outputs[1][i], what)
        }
        for i in 6..<9 { assertRelativeClose(outputs[0][i], outputs[1][i], 1e-5, "parameter grad \(i)") }
    }
}

final class CompositionTests: XCTestCase {
    /// A miniature Pixel3DMM head end to end, gradient-checked in Double (inputs and all ~1,900 parameters):
    /// tokens [1, 2·2, 12] → linear 12→8 → pre-LN block (8 heads) → tokens→image → 3× (deconv k2 s2 + GELU)
    /// → image→tokens → per-token linear 2→(2·2·3) → unpatchify → [1, 3, 32, 32], loss Σ y ⊙ upstream.
    func testTinyPixel3DMMHeadGradients() {
        var rng = SplitMix64(seed: 50)
        let head = Sequential<Double>([
            Linear(12, 8, name: "proj", rng: &rng),
            TransformerBlock(dim: 8, heads: 8, name: "block0", rng: &rng),
            TokensToImage(height: 2, width: 2),
            ConvTranspose2d(8, 4, kernel: 2, stride: 2, name: "up0", rng: &rng), Activation(.gelu),
            ConvTranspose2d(4, 2, kernel: 2, stride: 2, name: "up1", rng: &rng), Activation(.gelu),
            ConvTranspose2d(2, 2, kernel: 2, stride: 2, name: "up2", rng: &rng), Activation(.gelu),
            ImageToTokens(),
            Linear(2, 12, name: "pixel", rng: &rng),
            Unpatchify(gridHeight: 16, gridWidth: 16, patch: 2, channels: 3),
        ])
        XCTAssertEqual(Set(head.parameters.map(\.name)).count, head.parameters.count, "unique names")
        let x: Tensor<Double> = randomNormalTensor([1, 4, 12], using: &rng)
        let y = head(x)
        XCTAssertEqual(y.shape, [1, 3, 32, 32])
        let upstream: Tensor<Double> = randomNormalTensor(y.shape, using: &rng)
        for r in checkLayerGradients(head, input: x, upstream: upstream) {
            XCTAssertLessThan(r.maxRelativeError, 1e-6, "\(r)")
        }
    }
}
