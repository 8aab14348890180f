import ArgumentParser
import Foundation
import Geometry
import NNCore

extension Benchmark {
    struct NN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nn",
            abstract: "GEMM GFLOP/s and a Pixel3DMM-sized head training step, next to PyTorch CPU (if installed) in the same run.")
        @Option(help: "GEMM size (n × n × n).") var gemm: Int = 1024
        @Option(help: "Batch of the head step.") var batch: Int = 2
        @Option(help: "Tokens (a square grid; 1024 = 32 × 32 as at 512 px with patch 16).") var tokens: Int = 1024
        @Option(help: "Transformer width of the head.") var dim: Int = 256
        @Option(help: "Transformer blocks of the head.") var blocks: Int = 6
        @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            try runReportingErrors {
                blasThreads = threads
                print("OpenBLAS core: \(blasCoreName), threads \(threads)")
                // GEMM.
                var rng = SplitMix64(seed: 1)
                let n = gemm
                let a = (0..<(n * n)).map { _ in rng.normal() }, b = (0..<(n * n)).map { _ in rng.normal() }
                var c = [Float](repeating: 0, count: n * n)
                sgemm(m: n, n: n, k: n, a, b, &c)
                let reps = 5, t0 = Date()
                for _ in 0..<reps { sgemm(m: n, n: n, k: n, a, b, &c) }
                let gflops = 2 * Double(n * n * n * reps) / Date().timeIntervalSince(t0) / 1e9

                // The head: linear 384→dim, pre-LN blocks (8 heads), 3× (deconv k2 s2 + GELU) 128/64/32, per-token linear → 2·2·3.
                let side = Int(Double(tokens).squareRoot())
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
                let seconds = try step()
                print(String(format: "HeadLab: sgemm %d³ %.0f GFLOP/s; head step (batch %d, %d tokens, %d blocks at %d, 3 deconvs → %d² px) %.2f s",
                             n, gflops, batch, tokens, blocks, dim, side * 16, seconds))
                // PyTorch on the same shapes, if installed (a reference only; HeadLab never runs Python).
                let script = URL(fileURLWithPath: DefaultPaths.root).appendingPathComponent("scripts/bench_torch.py").path
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["python3", script] + [threads, n, batch, tokens, dim, blocks].map(String.init)
                let out = Pipe(); p.standardOutput = out; p.standardError = FileHandle.nullDevice
                guard (try? p.run()) != nil else { print("PyTorch: not run (python3 missing)"); return }
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                guard p.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Double],
                      let tg = json["gemm_gflops"], let ts = json["head_step_s"] else {
                    print("PyTorch: not available (pip install torch for the reference)"); return
                }
                print(String(format: "PyTorch: torch.mm %.0f GFLOP/s; head step %.2f s  →  HeadLab/PyTorch speed: GEMM %.2f×, head step %.2f×",
                             tg, ts, gflops / tg, ts / seconds))
            }
        }
    }
}
