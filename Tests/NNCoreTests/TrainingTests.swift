import XCTest
import Foundation
import TestSupport
import Geometry
@testable import NNCore

/// The fixture's toy classifier: conv3x3(3→8) → ReLU → conv3x3(8→16, stride 2) → GELU → global average pool → linear(16→5).
final class ToyNet {
    let conv1: Conv2d<Float>, relu = Activation<Float>(.relu), conv2: Conv2d<Float>, gelu = Activation<Float>(.gelu)
    let pool = GlobalAvgPool2d<Float>(), fc: Linear<Float>
    private var shapes: [[Int]] = []

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        conv1 = Conv2d(3, 8, kernel: 3, padding: 1, name: "conv1", rng: &rng)
        conv2 = Conv2d(8, 16, kernel: 3, stride: 2, padding: 1, name: "conv2", rng: &rng)
        fc = Linear(16, 5, name: "fc", rng: &rng)
    }

    var parameters: [Parameter<Float>] { conv1.parameters + conv2.parameters + fc.parameters }

    func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        let h1 = conv1(x), h2 = relu(h1), h3 = conv2(h2), h4 = gelu(h3), h5 = pool(h4)
        shapes = [x.shape, h1.shape, h2.shape, h3.shape, h4.shape, h5.shape]
        return fc(h5)
    }

    func backward(_ dLogits: Tensor<Float>) {
        var g = fc.backward(dLogits, inputShape: shapes[5])
        g = pool.backward(g, inputShape: shapes[4])
        g = gelu.backward(g, inputShape: shapes[3])
        g = conv2.backward(g, inputShape: shapes[2])
        g = relu.backward(g, inputShape: shapes[1])
        _ = conv1.backward(g, inputShape: shapes[0])
    }
}

struct TrainConfig: Codable {
    var lr: Double, warmup: Int, total: Int, beta1: Float, beta2: Float, eps: Float, weight_decay: Float, clip: Double, steps: Int
}

/// One batch, replayed: forward, weighted CE, backward, clip, AdamW with warm-up + cosine.
final class ToyTrainer {
    let net: ToyNet, optimizer: AdamW<Float>, schedule: WarmupCosineSchedule, config: TrainConfig
    let x: Tensor<Float>, labels: [Int], classWeights: [Float]
    var step = 0

    init(net: ToyNet, config: TrainConfig, x: Tensor<Float>, labels: [Int], classWeights: [Float], totalSteps: Int? = nil) {
        self.net = net; self.config = config; self.x = x; self.labels = labels; self.classWeights = classWeights
        optimizer = AdamW(parameters: net.parameters, beta1: config.beta1, beta2: config.beta2, eps: config.eps,
                          weightDecay: config.weight_decay)
        schedule = WarmupCosineSchedule(baseLearningRate: config.lr, warmupSteps: config.warmup, totalSteps: totalSteps ?? config.total)
    }

    /// Runs one step; returns (loss, gradient norm before clipping).
    func runStep() throws -> (Float, Double) {
        try checkFinite(x, name: "x", context: "training input")
        optimizer.zeroGrad()
        let logits = net(x)
        let loss = crossEntropyLoss(logits, targets: labels, classWeights: classWeights)
        var dLogits = Tensor<Float>(zeros: logits.shape)
        crossEntropyLossBackward(logits, targets: labels, classWeights: classWeights, predictionGrad: &dLogits)
        net.backward(dLogits)
        let norm = try clipGradientNorm(net.parameters, maxNorm: config.clip)
        try optimizer.step(learningRate: Float(schedule.learningRate(step: step)))
        step += 1
        return (loss, norm)
    }
}

final class TrainingTests: XCTestCase {
    func makeTrainer(totalSteps: Int? = nil, seed: UInt64 = 7) throws -> (ToyTrainer, SafeTensors) {
        let f = try fixture("nn_train.safetensors")
        let config = try JSONDecoder().decode(TrainConfig.self, from: Data(f.metadata["config"]!.utf8))
        let net = ToyNet(seed: seed)
        try load(net.parameters, from: f) { "init." + $0 }
        let trainer = ToyTrainer(net: net, config: config, x: try f.tensor("x"),
                                 labels: try f.tensor("labels", as: Float.self).data.map { Int($0) },
                                 classWeights: try f.tensor("class_weights", as: Float.self).data, totalSteps: totalSteps)
        return (trainer, f)
    }

    /// The first 10 AdamW steps (warm-up 3, cosine to 10, clip 1.0, wd 0.05, betas 0.9/0.95) from PyTorch's initial
    /// weights: losses within 1e-5 relative, gradient norms within 1e-4, final weights within 1e-4 normwise.
    func testFirstTenStepsMatchPyTorch() throws {
        let (trainer, f) = try makeTrainer()
        let wantLosses: Tensor<Float> = try f.tensor("losses"), wantNorms: Tensor<Float> = try f.tensor("grad_norms")
        for s in 0..<10 {
            let (loss, norm) = try trainer.runStep()
            XCTAssertEqual(Double(loss), Double(wantLosses.data[s]), accuracy: 1e-5 * Double(wantLosses.data[s]), "loss at step \(s)")
            XCTAssertEqual(norm, Double(wantNorms.data[s]), accuracy: 1e-4 * Double(wantNorms.data[s]), "grad norm at step \(s)")
        }
        for p in trainer.net.parameters {
            assertRelativeClose(p.value, try f.tensor("final." + p.name), 1e-4, "weights after 10 steps: \(p.name)")
        }
    }

    /// The same net overfits its one batch: the loss falls by more than 10× within 60 steps.
    func testOverfitsOneBatch() throws {
        let (trainer, _) = try makeTrainer(totalSteps: 60)
        var losses: [Float] = []
        for _ in 0..<60 { losses.append(try trainer.runStep().0) }
        XCTAssertLessThan(losses.last!, losses.first! / 10, "losses \(losses.first!) → \(losses.last!)")
    }

    /// Save at step 5 (model + optimizer), load into a differently initialised net and a fresh optimizer,
    /// continue to 10: losses and weights are bit-identical to the uninterrupted run.
    func testResumeReproducesUninterruptedRunExactly() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let path = dir.appendingPathComponent("toy.safetensors").path
        let (straight, _) = try makeTrainer()
        var straightLosses: [Float] = []
        for _ in 0..<10 { straightLosses.append(try straight.runStep().0) }

        let (first, _) = try makeTrainer()
        var resumedLosses: [Float] = []
        for _ in 0..<5 { resumedLosses.append(try first.runStep().0) }
        try Checkpoint.save(parameters: first.net.parameters, optimizer: first.optimizer, architecture: "toynet",
                            step: first.step, config: "{\"lr\": 0.01}", to: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: Checkpoint.optimizerPath(path)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(),
                       ["toy.optimizer.safetensors", "toy.safetensors"], "no temporary files left behind")

        let (second, _) = try makeTrainer(seed: 99)
        for p in second.net.parameters { p.value.zero() }
        let info = try Checkpoint.load(into: second.net.parameters, optimizer: second.optimizer,
                                       expectedArchitecture: "toynet", from: path)
        XCTAssertEqual(info.step, 5)
        XCTAssertEqual(info.config, "{\"lr\": 0.01}")
        XCTAssertEqual(second.optimizer.stepCount, 5)
        second.step = info.step
        for _ in 5..<10 { resumedLosses.append(try second.runStep().0) }
        XCTAssertEqual(resumedLosses, straightLosses)
        for (a, b) in zip(second.net.parameters, straight.net.parameters) { XCTAssertEqual(a.value, b.value, a.name) }
    }

    func testOptimizerRejectsNonFiniteGradientNamingIt() throws {
        let (trainer, _) = try makeTrainer()
        let before = trainer.net.parameters.map(\.value)
        trainer.optimizer.zeroGrad()
        trainer.net.conv2.weight.grad.data[3] = .nan
        XCTAssertThrowsError(try trainer.optimizer.step(learningRate: 0.01)) { error in
            XCTAssertEqual((error as? NonFiniteError)?.name, "conv2.weight", "\(error)")
            XCTAssertTrue("\(error)".contains("conv2.weight"))
        }
        XCTAssertEqual(trainer.net.parameters.map(\.value), before, "nothing updated")
        XCTAssertEqual(trainer.optimizer.stepCount, 0)
        XCTAssertThrowsError(try clipGradientNorm(trainer.net.parameters, maxNorm: 1))
        var x = Tensor<Float>(zeros: [2, 2])
        x.data[1] = -.infinity
        XCTAssertThrowsError(try checkFinite(x, name: "images")) { XCTAssertTrue("\($0)".contains("'images'")) }
        XCTAssertNoThrow(try checkFinite(Tensor<Float>(shape: [2], data: [1e38, -1e38]), name: "big"))
    }

    func testWeightDecayExclusion() throws {
        let w = Parameter<Float>("w", Tensor(shape: [2, 1], data: [1, 1])), b = Parameter<Float>("b", Tensor(shape: [1], data: [1]))
        let opt = AdamW(parameters: [w, b], weightDecay: 0.5, excludeFromWeightDecay: { $0.value.rank <= 1 })
        try opt.step(learningRate: 0.1)   // zero gradients: only decay moves weights
        XCTAssertEqual(w.value.data, [0.95, 0.95])
        XCTAssertEqual(b.value.data, [1])
    }

    func testScheduleAndClipping() throws {
        let s = WarmupCosineSchedule(baseLearningRate: 1, warmupSteps: 4, totalSteps: 14, minLearningRate: 0.1)
        XCTAssertEqual(s.learningRate(step: 0), 0.25)
        XCTAssertEqual(s.learningRate(step: 3), 1)
        XCTAssertEqual(s.learningRate(step: 4), 1)
        XCTAssertEqual(s.learningRate(step: 9), 0.55, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(step: 14), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.learningRate(step: 100), 0.1, accuracy: 1e-12)
        let p = Parameter<Float>("p", Tensor(zeros: [2])), q = Parameter<Float>("q", Tensor(zeros: [1]))
        p.grad = Tensor(shape: [2], data: [3, 0]); q.grad = Tensor(shape: [1], data: [4])
        XCTAssertEqual(try clipGradientNorm([p, q], maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(p.grad.data[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(q.grad.data[0], 0.8, accuracy: 1e-6)
        XCTAssertEqual(try clipGradientNorm([p, q], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(q.grad.data[0], 0.8, accuracy: 1e-6, "no scaling below the limit")
    }

    func testInitialisersAreSeededAndBounded() {
        var a = SplitMix64(seed: 5), b = SplitMix64(seed: 5)
        let t1: Tensor<Float> = truncatedNormalTensor([4000], std: 1, a: -2, b: 2, using: &a)
        let t2: Tensor<Float> = truncatedNormalTensor([4000], std: 1, a: -2, b: 2, using: &b)
        XCTAssertEqual(t1, t2)
        XCTAssertTrue(t1.data.allSatisfy { $0 >= -2 && $0 <= 2 })
        let mean = t1.sum() / 4000
        XCTAssertEqual(mean, 0, accuracy: 0.06)
        let k: Tensor<Float> = kaimingUniformTensor([8, 4, 3, 3], using: &a)   // bound √2·√(3/36)
        XCTAssertTrue(k.data.allSatisfy { abs($0) <= Float((6.0 / 36).squareRoot()) })
        XCTAssertGreaterThan(k.data.map(abs).max()!, Float((6.0 / 36).squareRoot()) * 0.9)
        let xa: Tensor<Float> = xavierUniformTensor([10, 6], using: &a)        // bound √(6/16)
        XCTAssertTrue(xa.data.allSatisfy { abs($0) <= Float((6.0 / 16).squareRoot()) })
        let vit: Tensor<Float> = truncatedNormalTensor([1000], std: 0.02, using: &a)
        let sd = (vit.data.map { Double($0 * $0) }.reduce(0, +) / 1000).squareRoot()
        XCTAssertEqual(sd, 0.02, accuracy: 0.003)
    }

    /// The fast initialisers draw exactly what the standard library's `Double.random(in:using:)` draws (same values,
    /// same generator consumption), so seeded models are unchanged by the speed-up.
    func testInitialiserDrawsMatchStandardLibraryBitForBit() {
        for bound in [1.0, 0.5, 1 / 384.0.squareRoot(), 0.0625, 3e-3] {
            var fast = SplitMix64(seed: 11), reference = SplitMix64(seed: 11)
            for _ in 0..<20_000 {
                let x = uniformClosedDraw(lower: -bound, upper: bound, delta: bound - -bound, using: &fast)
                XCTAssertEqual(x.bitPattern, Double.random(in: -bound...bound, using: &reference).bitPattern)
            }
            XCTAssertEqual(fast.next(), reference.next(), "same generator consumption")
        }
        var fast = SplitMix64(seed: 12), reference = SplitMix64(seed: 12)
        for _ in 0..<20_000 {
            XCTAssertEqual(unitIntervalDraw(using: &fast).bitPattern, Double.random(in: 0..<1, using: &reference).bitPattern)
        }
        // A generator that forces Lemire's rejection branch (low product word below the threshold) and the upper bound.
        struct Fixed: RandomNumberGenerator { var values: [UInt64]; var i = 0
            mutating func next() -> UInt64 { defer { i += 1 }; return values[i % values.count] } }
        for values in [[0, 0, 1 << 40, 5], [UInt64.max, UInt64.max - 1, 0x8000_0000_0000_0000], [1, 2, 3, UInt64.max >> 11]] {
            var f = Fixed(values: values), r = Fixed(values: values)
            for _ in 0..<8 {
                XCTAssertEqual(uniformClosedDraw(lower: -0.25, upper: 0.25, delta: 0.5, using: &f).bitPattern,
                               Double.random(in: -0.25...0.25, using: &r).bitPattern)
                XCTAssertEqual(f.i, r.i)
            }
        }
        var a = SplitMix64(seed: 13), b = SplitMix64(seed: 13)
        let t: Tensor<Float> = uniformTensor([7, 9], bound: 0.3, using: &a)
        XCTAssertEqual(t.data, (0..<63).map { _ in Float(Double.random(in: -0.3...0.3, using: &b)) })
        let d: Tensor<Double> = randomNormalTensor([50], using: &a)
        var u = [Double]()
        for _ in 0..<50 {
            let u1 = max(Double.random(in: 0..<1, using: &b), 1e-300), u2 = Double.random(in: 0..<1, using: &b)
            u.append((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
        }
        XCTAssertEqual(d.data, u)
    }
}
