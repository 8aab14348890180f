import XCTest
import Foundation
import TestSupport
import Geometry
@testable import NNCore

/// Timings at Pixel3DMM-head sizes. Skipped unless NNCORE_BENCH=1 (run with `swift test -c release`).
final class BenchmarkTests: XCTestCase {
    func time(_ what: String, repeats: Int = 3, _ body: () -> Void) {
        body()
        let start = Date()
        for _ in 0..<repeats { body() }
        print(String(format: "BENCH %@: %.1f ms", what, Date().timeIntervalSince(start) / Double(repeats) * 1000))
    }

    func testBenchmarkHeadLayers() throws {
        guard ProcessInfo.processInfo.environment["NNCORE_BENCH"] == "1" else { throw XCTSkip("set NNCORE_BENCH=1") }
        var rng = SplitMix64(seed: 1)
        let batch = Int(ProcessInfo.processInfo.environment["NNCORE_BENCH_BATCH"] ?? "2")!
        let conv0 = Conv2d<Float>(64, 64, kernel: 3, padding: 1, rng: &rng)
        let img0: Tensor<Float> = randomNormalTensor([batch, 64, 64, 64], using: &rng)
        let block = TransformerBlock<Float>(dim: 256, heads: 8, rng: &rng)
        let tokens: Tensor<Float> = randomNormalTensor([batch, 1024, 256], using: &rng)
        var y = block(tokens)
        time("block fwd [\(batch),1024,256]") { y = block(tokens) }
        let attn = MultiHeadSelfAttention<Float>(dim: 256, heads: 8, rng: &rng)
        let saved = nnThreadCount
        for round in 0..<2 { for threads in [1, saved] {
            nnThreadCount = threads
            time("attention fwd+bwd, \(threads) workers (round \(round))") { let o = attn(tokens); _ = attn.backward(o, inputShape: tokens.shape) }
            time("conv3x3 fwd+bwd, \(threads) workers (round \(round))") { let o = conv0(img0); _ = conv0.backward(o, inputShape: img0.shape) }
        } }
        nnThreadCount = saved
        let lin = Linear<Float>(256, 1024, rng: &rng)
        time("linear 256->1024 fwd") { _ = lin(tokens) }
        let sm = Softmax<Float>()
        let scores: Tensor<Float> = randomNormalTensor([16, 1024, 1024], using: &rng)
        time("softmax 16x1024x1024") { _ = sm(scores) }
        time("block bwd") { _ = block.backward(y, inputShape: tokens.shape) }
        let ln = LayerNorm<Float>(256)
        time("layernorm fwd") { _ = ln(tokens) }
        time("layernorm fwd+bwd") { let o = ln(tokens); _ = ln.backward(o, inputShape: tokens.shape) }
        let gelu = Activation<Float>(.gelu)
        time("gelu fwd") { _ = gelu(tokens) }
        var acc = Tensor<Float>(zeros: tokens.shape)
        time("tensor add") { acc.add(tokens) }
        time("gelu fwd+bwd") { let o = gelu(tokens); _ = gelu.backward(o, inputShape: tokens.shape) }
        let deconv = ConvTranspose2d<Float>(256, 128, kernel: 2, stride: 2, rng: &rng)
        let grid: Tensor<Float> = randomNormalTensor([batch, 256, 32, 32], using: &rng)
        var up = deconv(grid)
        time("deconv k2s2 256->128 32->64 fwd") { up = deconv(grid) }
        time("deconv bwd") { _ = deconv.backward(up, inputShape: grid.shape) }
        let conv = Conv2d<Float>(64, 64, kernel: 3, padding: 1, rng: &rng)
        let img: Tensor<Float> = randomNormalTensor([batch, 64, 64, 64], using: &rng)
        var co = conv(img)
        time("conv3x3 64->64 @64 fwd") { co = conv(img) }
        time("conv3x3 bwd") { _ = conv.backward(co, inputShape: img.shape) }
        let dw = Conv2d<Float>(64, 64, kernel: 3, padding: 1, groups: 64, rng: &rng)
        time("depthwise 3x3 64 @64 fwd+bwd") { let o = dw(img); _ = dw.backward(o, inputShape: img.shape) }
        let resize = Resize2d<Float>(height: 128, width: 128)
        time("bilinear 64->128 fwd+bwd") { let o = resize(img); _ = resize.backward(o, inputShape: img.shape) }
    }
}
