import XCTest
import Foundation
import TestSupport
import Geometry
@testable import NNCore

/// The small passes around the GEMMs that run on the workers (bias gradients, bias adds, zero fills, AdamW, the finite
/// check): exact against a direct computation, and the same bits for 1, 2 and 3 workers.
final class ParallelTailTests: XCTestCase {
    override func tearDown() { nnThreadCount = ProcessInfo.processInfo.activeProcessorCount }

    /// |got − Σ| ≤ 1e-6 · Σ|terms| per bias entry (Float sums of a few thousand terms), against a Double sum of dy.
    private func assertBiasGradient(_ got: [Float], _ dy: Tensor<Float>, planes n: Int, channels c: Int, planeSize: Int,
                                    rowMajor: Bool, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for o in 0..<c {
            var sum = 0.0, magnitude = 0.0
            for s in 0..<n { for i in 0..<planeSize {
                let v = Double(rowMajor ? dy.data[(s * planeSize + i) * c + o] : dy.data[(s * c + o) * planeSize + i])
                sum += v; magnitude += abs(v)
            } }
            XCTAssertLessThanOrEqual(abs(Double(got[o]) - sum), 1e-6 * magnitude, "\(what) bias gradient [\(o)]", file: file, line: line)
        }
    }

    func testBiasGradientsAreSumsOfTheUpstreamGradientForAnyWorkerCount() {
        var rng = SplitMix64(seed: 11)
        // Linear: 1000 rows → 4 blocks of 256 summed on the workers; 37 outputs (not a multiple of 16).
        let linear = Linear<Float>(8, 37, name: "fc", rng: &rng)
        let x: Tensor<Float> = randomNormalTensor([2, 500, 8], using: &rng)
        let dyLinear: Tensor<Float> = randomNormalTensor([2, 500, 37], using: &rng)
        // Convolutions: planes of 128² per (sample, channel), summed on the workers.
        let conv = Conv2d<Float>(3, 5, kernel: 3, padding: 1, name: "conv", rng: &rng)
        let image: Tensor<Float> = randomNormalTensor([2, 3, 128, 128], using: &rng)
        let dyConv: Tensor<Float> = randomNormalTensor([2, 5, 128, 128], using: &rng)
        let deconv = ConvTranspose2d<Float>(3, 5, kernel: 2, stride: 2, name: "deconv", rng: &rng)
        let small: Tensor<Float> = randomNormalTensor([2, 3, 64, 64], using: &rng)
        var reference: [[Float]] = []
        for workers in [1, 2, 3] {
            nnThreadCount = workers
            var results: [[Float]] = []
            for (layer, input, dy) in [(linear as any Layer<Float>, x, dyLinear), (conv, image, dyConv), (deconv, small, dyConv)] {
                for p in layer.parameters { p.zeroGrad() }
                _ = layer(input)
                var dx = Tensor<Float>(zeros: input.shape)
                layer.backward(dy, inputGrad: &dx)
                results.append(layer.parameters[1].grad.data)
            }
            if workers == 1 {
                assertBiasGradient(results[0], dyLinear, planes: 1, channels: 37, planeSize: 1000, rowMajor: true, "Linear")
                assertBiasGradient(results[1], dyConv, planes: 2, channels: 5, planeSize: 128 * 128, rowMajor: false, "Conv2d")
                assertBiasGradient(results[2], dyConv, planes: 2, channels: 5, planeSize: 128 * 128, rowMajor: false, "ConvTranspose2d")
                reference = results
            } else {
                for (k, name) in ["Linear", "Conv2d", "ConvTranspose2d"].enumerated() {
                    XCTAssertEqual(results[k].map(\.bitPattern), reference[k].map(\.bitPattern), "\(name) bias gradient, \(workers) workers")
                }
            }
        }
    }

    func testTransposedConvolutionAddsItsBiasAfterTheScatter() {
        var rng = SplitMix64(seed: 12)
        let deconv = ConvTranspose2d<Float>(4, 6, kernel: 2, stride: 2, name: "up", rng: &rng)
        let plain = ConvTranspose2d<Float>(4, 6, kernel: 2, stride: 2, bias: false, name: "up", rng: &rng)
        plain.weight.value = deconv.weight.value
        let x: Tensor<Float> = randomNormalTensor([3, 4, 40, 40], using: &rng)
        let bias = deconv.bias!.value.data, plane = 80 * 80
        for workers in [1, 2, 3] {
            nnThreadCount = workers
            let y = deconv(x), z = plain(x)
            // y = (scatter) + bias exactly: the bias is one rounding after the complete scatter, as a separate pass would be.
            let expected = z.data.indices.map { z.data[$0] + bias[($0 / plane) % 6] }
            XCTAssertEqual(y.data.map(\.bitPattern), expected.map(\.bitPattern), "\(workers) workers")
        }
    }

    func testZeroFillClearsExactlyTheRange() {
        let size = 300_067
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        for workers in [1, 2, 3] {
            nnThreadCount = workers
            for (offset, bytes) in [(1, 270_001), (0, 4), (3, 0), (64, 262_147), (0, size)] {
                memset(buffer, 0xAB, size)
                zeroFill(buffer + offset, bytes: bytes)
                let b = buffer.assumingMemoryBound(to: UInt8.self)
                let inside = (offset..<(offset + bytes)).allSatisfy { b[$0] == 0 }
                let outside = (0..<offset).allSatisfy { b[$0] == 0xAB } && ((offset + bytes)..<size).allSatisfy { b[$0] == 0xAB }
                XCTAssertTrue(inside && outside, "zeroFill(+\(offset), \(bytes)) with \(workers) workers")
            }
        }
        var t = Tensor<Float>(shape: [300_001], data: [Float](repeating: 7, count: 300_001))
        t.zero()
        XCTAssertTrue(t.data.allSatisfy { $0 == 0 })
    }

    func testAdamWGivesTheSameBitsForAnyWorkerCount() throws {
        var rng = SplitMix64(seed: 13)
        let start: Tensor<Float> = randomNormalTensor([100_003], using: &rng)   // sliced on the workers, odd tail
        let grads: [Tensor<Float>] = (0..<3).map { _ in randomNormalTensor([100_003], using: &rng) }
        var reference: [Float] = []
        for workers in [1, 2, 3] {
            nnThreadCount = workers
            let p = Parameter<Float>("w", start)
            let optimizer = AdamW(parameters: [p], beta1: 0.9, beta2: 0.95, weightDecay: 0.05)
            for g in grads { p.grad = g; try optimizer.step(learningRate: 1e-2) }
            if workers == 1 {
                reference = p.value.data
                // One element by the formula, in Double: three AdamW steps from start[i].
                let i = 100_001
                var w = Double(start.data[i]), m = 0.0, v = 0.0
                for (t, g) in grads.enumerated() {
                    let gi = Double(g.data[i])
                    w *= 1 - 1e-2 * 0.05
                    m = 0.9 * m + 0.1 * gi; v = 0.95 * v + 0.05 * gi * gi
                    let mHat = m / (1 - pow(0.9, Double(t + 1))), vHat = v / (1 - pow(0.95, Double(t + 1)))
                    w -= 1e-2 * mHat / (vHat.squareRoot() + 1e-8)
                }
                XCTAssertEqual(Double(reference[i]), w, accuracy: 1e-5 * max(1, abs(w)))
            } else {
                XCTAssertEqual(p.value.data.map(\.bitPattern), reference.map(\.bitPattern), "\(workers) workers")
            }
        }
    }

    func testFiniteCheckFindsEveryPosition() {
        for count in [1, 15, 16, 37, 100] {
            XCTAssertNoThrow(try checkFinite([Float](repeating: -3e38, count: count), name: "ok"))
            for i in 0..<count {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var values = [Float](repeating: 1, count: count)
                    values[i] = bad
                    XCTAssertThrowsError(try checkFinite(values, name: "g")) { error in
                        XCTAssertEqual((error as? NonFiniteError)?.index, i, "count \(count), \(bad) at \(i)")
                    }
                }
            }
        }
        XCTAssertNoThrow(try checkFinite([Float](), name: "empty"))
    }
}
