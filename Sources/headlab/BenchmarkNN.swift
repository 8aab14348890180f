import ArgumentParser
import Backbones
import Foundation
import Geometry
import NNCore

extension Benchmark {
    struct NN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nn",
            abstract: "GEMM GFLOP/s, a Pixel3DMM-sized head training step and backbone images/s, next to PyTorch CPU (if installed) in the same run.")
        @Option(help: "GEMM size (n × n × n); 0 skips it.") var gemm: Int = 1024
        @Option(help: "Batch of the head step; 0 skips it.") var batch: Int = 2
        @Option(help: "Tokens (a square grid; 1024 = 32 × 32 as at 512 px with patch 16).") var tokens: Int = 1024
        @Option(help: "Transformer width of the head.") var dim: Int = 256
        @Option(help: "Transformer blocks of the head.") var blocks: Int = 6
        @Option(help: "Backbones (comma list of vit_s16, vit_s14, effnet_lite0, or none).") var backbones: String = "vit_s16,vit_s14,effnet_lite0"
        @Option(help: "Backbone input sizes (comma list).") var sizes: String = "224,512"
        @Option(name: .customLong("backbone-batches"), help: "Backbone batch sizes (comma list).") var backboneBatches: String = "1"
        @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            try runReportingErrors {
                blasThreads = threads
                nnThreadCount = threads
                keepFreedMemoryForReuse()
                let backboneNames = backbones == "none" ? [] : backbones.split(separator: ",").map(String.init)
                let sizeList = try intList(sizes, "--sizes"), batchList = try intList(backboneBatches, "--backbone-batches")
                for name in backboneNames where !["vit_s16", "vit_s14", "effnet_lite0"].contains(name) {
                    throw ValidationError("--backbones: unknown backbone '\(name)' (vit_s16, vit_s14, effnet_lite0)")
                }
                print("OpenBLAS core: \(blasCoreName), threads \(threads)")
                // Each HeadLab measurement is followed at once by PyTorch's on the same model (a subprocess per item), so
                // both see the same machine load even when other jobs come and go.
                var torchAvailable = true
                func torch(gemm: Int = 0, batch: Int = 0, backbone: String = "none", size: Int = 224, images: Int = 1) -> [String: Any]? {
                    guard torchAvailable else { return nil }
                    let r = torchReference([threads, gemm, batch, tokens, dim, blocks].map(String.init) + [backbone, String(size), String(images)])
                    if r == nil { torchAvailable = false; print("PyTorch: not available (pip install torch for the reference); HeadLab only") }
                    return r
                }
                func ratio(_ swift: Double, _ reference: Double?, _ unit: String, higherIsBetter: Bool = true) -> String {
                    guard let t = reference else { return "" }
                    return String(format: "   PyTorch %.2f %@   HeadLab/PyTorch speed %.2f×", t, unit, higherIsBetter ? swift / t : t / swift)
                }
                var rng = SplitMix64(seed: 1)
                // GEMM.
                let n = gemm
                if n > 0 {
                    let a = (0..<(n * n)).map { _ in rng.normal() }, b = (0..<(n * n)).map { _ in rng.normal() }
                    var c = [Float](repeating: 0, count: n * n)
                    sgemm(m: n, n: n, k: n, a, b, &c)
                    let reps = 5, t0 = Date()
                    for _ in 0..<reps { sgemm(m: n, n: n, k: n, a, b, &c) }
                    let gflops = 2 * Double(n * n * n * reps) / Date().timeIntervalSince(t0) / 1e9
                    print(String(format: "sgemm %d³: HeadLab %.0f GFLOP/s", n, gflops)
                          + ratio(gflops, torch(gemm: n)?["gemm_gflops"] as? Double, "GFLOP/s"))
                }
                // The head step.
                let side = Int(Double(tokens).squareRoot())
                if batch > 0 {
                    let seconds = try headStep(side: side, rng: &rng)
                    print(String(format: "head step (batch %d, %d tokens, %d blocks at %d, 3 deconvs → %d² px): HeadLab %.2f s",
                                 batch, tokens, blocks, dim, side * 16, seconds)
                          + ratio(seconds, torch(batch: batch)?["head_step_s"] as? Double, "s", higherIsBetter: false))
                }
                // Backbones, forward only.
                for name in backboneNames {
                    let forward = try backbone(name)
                    for size in sizeList { for b in batchList {
                        let x: Tensor<Float> = randomNormalTensor([b, 3, size, size], using: &rng)
                        let rate = try imagesPerSecond(batch: b) { try forward(x) }
                        let reference = (torch(backbone: name, size: size, images: b)?["backbones"] as? [String: Double])?["\(name)@\(size)x\(b)"]
                        print(String(format: "%@ %d² batch %d: HeadLab %.2f images/s", name, size, b, rate)
                              + ratio(rate, reference, "images/s"))
                    } }
                }
            }
        }

        /// Runs scripts/bench_torch.py with `arguments` and returns its JSON, or nil when python3/torch is missing.
        func torchReference(_ arguments: [String]) -> [String: Any]? {
            let script = URL(fileURLWithPath: DefaultPaths.root).appendingPathComponent("scripts/bench_torch.py").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", script] + arguments
            let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return nil }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        }

        func intList(_ s: String, _ option: String) throws -> [Int] {
            try s.split(separator: ",").map {
                guard let v = Int($0), v > 0 else { throw ValidationError("\(option): '\($0)' is not a positive integer") }
                return v
            }
        }

        /// A frozen backbone's forward pass (random weights: the speed does not depend on the values).
        func backbone(_ name: String) throws -> (Tensor<Float>) throws -> Void {
            switch name {
            case "vit_s16": let m = ViT(config: .dinoSmall16()); return { _ = try m($0) }
            case "vit_s14": let m = ViT(config: .dinov2Small14()); return { _ = try m($0) }
            default: let m = EfficientNetLite0(); return { _ = try m.features($0) }
            }
        }

        /// One warm-up call, then calls until at least 2 and 1.5 s (the protocol of scripts/bench_torch.py).
        func imagesPerSecond(batch: Int, _ body: () throws -> Void) throws -> Double {
            try body()
            var reps = 0
            let t0 = Date()
            while reps < 2 || Date().timeIntervalSince(t0) < 1.5 { try body(); reps += 1 }
            return Double(batch * reps) / Date().timeIntervalSince(t0)
        }

        /// The head: linear 384→dim, pre-LN blocks (8 heads), 3× (deconv k2 s2 + GELU) 128/64/32, per-token linear → 2·2·3;
        /// L1 loss and AdamW. Returns the faster of two steps after a warm-up step.
        func headStep(side: Int, rng: inout SplitMix64) throws -> Double {
            var layers: [any Layer<Float>] = [Linear(384, dim, name: "proj", rng: &rng)]
            for i in 0..<blocks { layers.append(TransformerBlock(dim: dim, heads: 8, name: "blocks.\(i)", rng: &rng)) }
            layers += [TokensToImage(height: side, width: side),
                       ConvTranspose2d(dim, 128, kernel: 2, stride: 2, name: "up0", rng: &rng), Activation(.gelu),
                       ConvTranspose2d(128, 64, kernel: 2, stride: 2, name: "up1", rng: &rng), Activation(.gelu),
                       ConvTranspose2d(64, 32, kernel: 2, stride: 2, name: "up2", rng: &rng), Activation(.gelu),
                       ImageToTokens(), Linear(32, 12, name: "pixel", rng: &rng)]
            let head = Sequential<Float>(layers)
            let optimizer = AdamW(parameters: head.parameters, beta1: 0.9, beta2: 0.95, weightDecay: 0.05)
            let x: Tensor<Float> = randomNormalTensor([batch, tokens, 384], using: &rng)
            func step() throws -> Double {
                let t = Date()
                optimizer.zeroGrad()
                let y = head(x)
                let target = Tensor<Float>(zeros: y.shape)
                var g = Tensor<Float>(zeros: y.shape)
                _ = l1Loss(y, target)
                l1LossBackward(y, target, predictionGrad: &g)
                var dx = Tensor<Float>(zeros: x.shape)
                head.backward(g, inputGrad: &dx)
                try optimizer.step(learningRate: 4e-4)
                return Date().timeIntervalSince(t)
            }
            _ = try step()
            return min(try step(), try step())
        }
    }
}
