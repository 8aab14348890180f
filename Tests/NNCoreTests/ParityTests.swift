import XCTest
import TestSupport
import Geometry
@testable import NNCore

/// Normwise relative error max|a − b| / max|b| (0 when both are 0).
func relativeError(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    var diff = 0.0, scale = 0.0
    for i in 0..<a.count {
        diff = max(diff, Double(abs(a.data[i] - b.data[i])))
        scale = max(scale, Double(abs(b.data[i])))
    }
    return scale == 0 ? diff : diff / scale
}

func assertRelativeClose(_ a: Tensor<Float>, _ b: Tensor<Float>, _ tolerance: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): counts \(a.shape) vs \(b.shape)", file: file, line: line)
    guard a.count == b.count else { return }
    let e = relativeError(a, b)
    XCTAssertLessThanOrEqual(e, tolerance, "\(what): normwise relative error \(e)", file: file, line: line)
}

/// Loads a fixture written by Tests/Fixtures/make_nn_fixture.py.
func fixture(_ name: String) throws -> SafeTensors {
    try SafeTensors(contentsOf: TestPaths.fixture(name))
}

/// Copies fixture values into parameters; `key` maps a parameter name to its fixture key.
func load(_ params: [Parameter<Float>], from file: SafeTensors, key: (String) -> String) throws {
    for p in params { p.value = try file.tensor(key(p.name), shape: p.value.shape) }
}

/// Compares accumulated parameter gradients with the fixture's.
func assertGradients(_ params: [Parameter<Float>], _ file: SafeTensors, key: (String) -> String, _ tolerance: Double,
                     _ what: String, line: UInt = #line) throws {
    for p in params {
        assertRelativeClose(p.grad, try file.tensor(key(p.name)), tolerance, "\(what) grad \(p.name)", line: line)
    }
}

/// Composite blocks against PyTorch (CPU, float32) references. Tolerance: normwise relative error
/// (max |swift − torch| / max |torch|) ≤ 1e-5 for outputs and every gradient; observed: 1e-7 … 9e-7.
final class ParityTests: XCTestCase {
    let tolerance = 1e-5

    func testTransformerBlockMatchesPyTorch() throws {
        let f = try fixture("nn_block.safetensors")
        var rng = SplitMix64(seed: 1)
        let block = TransformerBlock<Float>(dim: 32, heads: 8, eps: 1e-6, name: "", rng: &rng)
        XCTAssertEqual(block.parameters.map(\.name).sorted(), f.names.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        try load(block.parameters, from: f) { "param." + $0 }
        let y = block(try f.tensor("x"))
        assertRelativeClose(y, try f.tensor("y"), tolerance, "block output")
        let dx = block.backward(try f.tensor("dy"), inputShape: y.shape)
        assertRelativeClose(dx, try f.tensor("dx"), tolerance, "block dx")
        try assertGradients(block.parameters, f, key: { "grad." + $0 }, tolerance, "block")
    }

    func testAttentionMatchesPyTorch() throws {
        let f = try fixture("nn_attention.safetensors")
        var rng = SplitMix64(seed: 2)
        let attn = MultiHeadSelfAttention<Float>(dim: 16, heads: 8, name: "attn", rng: &rng)
        let key = { (name: String) in String(name.dropFirst("attn.".count)) }
        try load(attn.parameters, from: f) { "param." + key($0) }
        let y = attn(try f.tensor("x"))
        assertRelativeClose(y, try f.tensor("y"), tolerance, "attention output")
        let dx = attn.backward(try f.tensor("dy"), inputShape: y.shape)
        assertRelativeClose(dx, try f.tensor("dx"), tolerance, "attention dx")
        try assertGradients(attn.parameters, f, key: { "grad." + key($0) }, tolerance, "attention")
    }

    func testConvStackMatchesPyTorch() throws {
        let f = try fixture("nn_convstack.safetensors")
        var rng = SplitMix64(seed: 3)
        let conv1 = Conv2d<Float>(3, 8, kernel: 3, padding: 1, name: "conv1", rng: &rng)
        let dw = Conv2d<Float>(8, 8, kernel: 3, padding: 1, groups: 8, name: "dw", rng: &rng)
        let bn = BatchNormInference<Float>(8, name: "bn")
        let relu6 = Activation<Float>(.relu6)
        let deconv = ConvTranspose2d<Float>(8, 4, kernel: 2, stride: 2, name: "deconv", rng: &rng)
        let gelu = Activation<Float>(.gelu)
        let params = conv1.parameters + dw.parameters + bn.parameters + deconv.parameters
        try load(params + bn.buffers, from: f) { "param." + $0 }

        let x = try f.tensor("x", as: Float.self)
        let h1 = conv1(x), h2 = dw(h1), h3 = bn(h2), h4 = relu6(h3), h5 = deconv(h4), y = gelu(h5)
        XCTAssertTrue(h3.data.contains { $0 > 6 } && h3.data.contains { $0 < 0 }, "ReLU6 clips on both sides")
        assertRelativeClose(y, try f.tensor("y"), tolerance, "conv stack output")
        var g = gelu.backward(try f.tensor("dy"), inputShape: h5.shape)
        g = deconv.backward(g, inputShape: h4.shape)
        g = relu6.backward(g, inputShape: h3.shape)
        g = bn.backward(g, inputShape: h2.shape)
        g = dw.backward(g, inputShape: h1.shape)
        g = conv1.backward(g, inputShape: x.shape)
        assertRelativeClose(g, try f.tensor("dx"), tolerance, "conv stack dx")
        try assertGradients(params, f, key: { "grad." + $0 }, tolerance, "conv stack")

        // General transposed conv: k3, s2, p1, output_padding 1, groups 2.
        let gd = ConvTranspose2d<Float>(4, 6, kernel: 3, stride: 2, padding: 1, outputPadding: 1, groups: 2, name: "gd", rng: &rng)
        for p in gd.parameters { p.value = try f.tensor("general_deconv.param." + p.name.dropFirst(3)) }
        let gy = gd(try f.tensor("general_deconv.x"))
        assertRelativeClose(gy, try f.tensor("general_deconv.y"), tolerance, "general deconv output")
        let gdx = gd.backward(try f.tensor("general_deconv.dy"), inputShape: [1, 4, 3, 5])
        assertRelativeClose(gdx, try f.tensor("general_deconv.dx"), tolerance, "general deconv dx")
        for p in gd.parameters {
            assertRelativeClose(p.grad, try f.tensor("general_deconv.grad." + p.name.dropFirst(3)), tolerance, "general deconv \(p.name)")
        }
    }

    func testPoolingResamplingAndLayoutsMatchPyTorch() throws {
        let f = try fixture("nn_ops.safetensors")
        let img: Tensor<Float> = try f.tensor("img")
        assertRelativeClose(MaxPool2d<Float>(kernel: 3, stride: 2, padding: 1)(img), try f.tensor("maxpool"), tolerance, "max pool")
        assertRelativeClose(AvgPool2d<Float>(kernel: 3, stride: 2, padding: 1)(img), try f.tensor("avgpool"), tolerance, "avg pool")
        assertRelativeClose(AvgPool2d<Float>(kernel: 3, stride: 2, padding: 1, countIncludePad: false)(img),
                            try f.tensor("avgpool_nopad"), tolerance, "avg pool (exclude pad)")
        let cases: [(String, ResampleMode, Int, Int)] = [
            ("bilinear_up", .bilinear, 9, 11), ("bilinear_down", .bilinear, 3, 4),
            ("bicubic_up", .bicubic, 9, 11), ("bicubic_down", .bicubic, 3, 4),
            ("bicubic_aa_up", .bicubicAntialias, 9, 11), ("bicubic_aa_down", .bicubicAntialias, 3, 4),
        ]
        for (key, mode, h, w) in cases {
            assertRelativeClose(Resize2d<Float>(height: h, width: w, mode: mode)(img), try f.tensor(key), tolerance, key)
        }
        let tokens: Tensor<Float> = try f.tensor("tokens")
        assertRelativeClose(TokensToImage<Float>(height: 2, width: 3)(tokens), try f.tensor("tokens_to_image"), 0, "tokens → image")
        assertRelativeClose(Unpatchify<Float>(gridHeight: 2, gridWidth: 3, patch: 2, channels: 3)(tokens),
                            try f.tensor("unpatchify"), 0, "unpatchify")
        let pos: Tensor<Float> = try f.tensor("pos")
        assertRelativeClose(PositionEmbeddingResize<Float>(grid: (4, 4), newGrid: (6, 6), mode: .bicubic)(pos),
                            try f.tensor("pos_bicubic"), tolerance, "pos-embed bicubic (DINOv2)")
        assertRelativeClose(PositionEmbeddingResize<Float>(grid: (4, 4), newGrid: (6, 6), mode: .bicubicAntialias)(pos),
                            try f.tensor("pos_bicubic_aa"), tolerance, "pos-embed bicubic antialias (timm)")
    }

    func testActivationsAndSparseMatchPyTorch() throws {
        let f = try fixture("nn_ops.safetensors")
        let x: Tensor<Float> = try f.tensor("act_in"), up: Tensor<Float> = try f.tensor("act_up")
        let kinds: [(String, ActivationKind)] = [("gelu", .gelu), ("gelu_tanh", .geluTanh), ("relu", .relu), ("relu6", .relu6),
                                                 ("silu", .silu), ("sigmoid", .sigmoid)]
        XCTAssertTrue(x.data.contains { $0 > 6 }, "ReLU6 sees inputs above 6")
        for (key, kind) in kinds {
            let layer = Activation<Float>(kind)
            assertRelativeClose(layer(x), try f.tensor("act." + key), tolerance, key)
            assertRelativeClose(layer.backward(up, inputShape: x.shape), try f.tensor("act.\(key).grad"), tolerance, "\(key) backward")
        }
        let softmax = Softmax<Float>()
        assertRelativeClose(softmax(x), try f.tensor("act.softmax"), tolerance, "softmax")
        assertRelativeClose(softmax.backward(up, inputShape: x.shape), try f.tensor("act.softmax.grad"), tolerance, "softmax backward")

        let rows = try f.tensor("sparse.rows", as: Float.self).data.map { Int($0) }
        let cols = try f.tensor("sparse.cols", as: Float.self).data.map { Int($0) }
        let values = try f.tensor("sparse.values", as: Float.self).data
        let a = CSRMatrix<Float>(rows: 4, columns: 5, triplets: (0..<rows.count).map { (rows[$0], cols[$0], values[$0]) })
        let sparse = SparseMatmul(a)
        assertRelativeClose(sparse(try f.tensor("sparse.x")), try f.tensor("sparse.y"), tolerance, "sparse × dense")
        assertRelativeClose(sparse.backward(try f.tensor("sparse.dy"), inputShape: [5, 3]), try f.tensor("sparse.dx"), tolerance,
                            "sparse × dense backward")
    }

    func testLossesMatchPyTorch() throws {
        let f = try fixture("nn_ops.safetensors")
        let p: Tensor<Float> = try f.tensor("pred"), t: Tensor<Float> = try f.tensor("target"), mask: Tensor<Float> = try f.tensor("mask")
        let binary: Tensor<Float> = try f.tensor("binary")
        var weight = mask
        for i in 0..<weight.count { weight.data[i] += 0.2 }
        let labels = try f.tensor("labels", as: Float.self).data.map { Int($0) }
        let classWeights = try f.tensor("class_weights", as: Float.self).data
        let cases: [(String, () -> Float, (inout Tensor<Float>) -> Void)] = [
            ("l1", { l1Loss(p, t) }, { l1LossBackward(p, t, predictionGrad: &$0) }),
            ("masked_l1", { maskedL1Loss(p, t, mask: mask) }, { maskedL1LossBackward(p, t, mask: mask, predictionGrad: &$0) }),
            ("weighted_l1", { weightedL1Loss(p, t, weight: weight) }, { weightedL1LossBackward(p, t, weight: weight, predictionGrad: &$0) }),
            ("cosine", { cosineLoss(p, t) }, { cosineLossBackward(p, t, predictionGrad: &$0) }),
            ("bce", { bceWithLogitsLoss(p, binary) }, { bceWithLogitsLossBackward(p, binary, predictionGrad: &$0) }),
            ("cross_entropy", { crossEntropyLoss(p, targets: labels, classWeights: classWeights, ignoreIndex: 255) },
             { crossEntropyLossBackward(p, targets: labels, classWeights: classWeights, ignoreIndex: 255, predictionGrad: &$0) }),
        ]
        for (key, forward, backward) in cases {
            let want: Tensor<Float> = try f.tensor(key + ".loss")
            XCTAssertEqual(Double(forward()), Double(want.data[0]), accuracy: 1e-5 * max(1, Double(abs(want.data[0]))), key)
            var g = Tensor<Float>(zeros: p.shape)
            backward(&g)
            assertRelativeClose(g, try f.tensor(key + ".grad"), tolerance, "\(key) gradient")
        }
    }
}
