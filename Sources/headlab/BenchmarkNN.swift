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
        @Flag(help: "Also time the layers the items are made of (ViT-S/14 at 512: Linears, GELU, LayerNorm, attention; the head's attention and MLP with backward), to show where a ratio comes from.")
        var components = false

        @Option(help: "Rounds per item: HeadLab and PyTorch measured alternately this many times; medians are reported.") var rounds: Int = 3
        @Option(help: "Reference: torch (PyTorch CPU via scripts/bench_torch.py, if installed) or none.") var reference: String = "torch"

        func run() throws {
            try runReportingErrors {
                nnThreadCount = threads
                keepFreedMemoryForReuse()
                let backboneNames = backbones == "none" ? [] : backbones.split(separator: ",").map(String.init)
                let sizeList = try intList(sizes, "--sizes"), batchList = try intList(backboneBatches, "--backbone-batches")
                for name in backboneNames where !["vit_s16", "vit_s14", "effnet_lite0"].contains(name) {
                    throw ValidationError("--backbones: unknown backbone '\(name)' (vit_s16, vit_s14, effnet_lite0)")
                }
                guard rounds > 0 else { throw ValidationError("--rounds: must be positive") }
                guard ["torch", "none"].contains(reference) else { throw ValidationError("--reference: '\(reference)' is not torch or none") }
                // PyTorch runs in one warm server process; each round measures HeadLab, then PyTorch on the same item, so
                // both see the same machine load even when other jobs come and go, and the medians damp the swings.
                let torch = reference == "torch" ? TorchServer(arguments: [threads, tokens, dim, blocks].map(String.init)) : nil
                // The GEMM libraries decide most ratios and rank differently per CPU (MKL is tuned for Intel; OpenBLAS's
                // SkylakeX kernels beat it on AMD Zen), so every report names the CPU and both libraries.
                print("CPU: \(cpuModelName() ?? "unknown"), threads \(threads), \(rounds) round(s) per item (medians; host steal = share of CPU time the hypervisor took during the item)")
                print("HeadLab GEMM: \(blasConfiguration)" + (blasConfiguration.contains(blasCoreName) ? "" : " (kernels: \(blasCoreName))"))
                if let torch { print("PyTorch: \(torch.description)") }
                else if reference == "torch" { print("PyTorch: not available (pip install torch for the reference); HeadLab only") }
                /// Lets the side that just ran go idle before the other starts: after a parallel region PyTorch's libgomp
                /// workers spin for ~5–8 ms (measured: process CPU time during a sleep right after a 2-thread matmul) and
                /// ours poll for up to `WorkerPool.spinNanoseconds`; without a gap each side's first milliseconds share
                /// the cores with the other's spinning threads.
                func settle() { if torch != nil { Thread.sleep(forTimeInterval: 0.03) } }
                /// Runs `rounds` alternating measurements and prints medians (and the per-round ratios' median and range).
                func report(_ label: String, _ unit: String, format: String, higherIsBetter: Bool = true,
                            request: String, _ measure: () throws -> Double) throws {
                    var ours: [Double] = [], theirs: [Double] = [], ratios: [Double] = []
                    let cpu0 = hostCPUTicks()
                    for _ in 0..<rounds {
                        settle()
                        let h = try measure()
                        ours.append(h)
                        settle()
                        if let t = torch?.measure(request) {
                            theirs.append(t); ratios.append(higherIsBetter ? h / t : t / h)
                        }
                    }
                    var line = "\(label): HeadLab " + String(format: format, median(ours)) + " \(unit)"
                    if !theirs.isEmpty {
                        let r = higherIsBetter ? median(ours) / median(theirs) : median(theirs) / median(ours)
                        line += "   PyTorch " + String(format: format, median(theirs)) + " \(unit)" + String(format: "   HeadLab/PyTorch speed %.2f×", r)
                        // The median of per-round ratios pairs each HeadLab round with the PyTorch round run right after it,
                        // so it is less sensitive than the ratio of medians to host load that drifts between rounds.
                        if ratios.count > 1 { line += String(format: " (per-round median %.2f×, range %.2f–%.2f)", median(ratios), ratios.min()!, ratios.max()!) }
                    }
                    if let a = cpu0, let b = hostCPUTicks(), b.total > a.total {
                        line += String(format: "   [host steal %.0f %%]", 100 * (b.steal - a.steal) / (b.total - a.total))
                    }
                    print(line)
                }
                var rng = SplitMix64(seed: 1)
                // GEMM.
                let n = gemm
                if n > 0 {
                    // Operands allocated as the layers allocate activations (Tensor: huge-page advice for big buffers).
                    var a = Tensor<Float>(uninitialized: [n, n]), b = Tensor<Float>(uninitialized: [n, n])
                    for i in 0..<(n * n) { a.data[i] = rng.normal(); b.data[i] = rng.normal() }
                    var c = Tensor<Float>(zeros: [n, n])
                    sgemm(m: n, n: n, k: n, a.data, b.data, &c.data)
                    try report("sgemm \(n)³", "GFLOP/s", format: "%.0f", request: "gemm \(n)") {
                        let reps = 5, t0 = Date()
                        for _ in 0..<reps { sgemm(m: n, n: n, k: n, a.data, b.data, &c.data) }
                        return 2 * Double(n * n * n * reps) / Date().timeIntervalSince(t0) / 1e9
                    }
                }
                // The head step.
                let side = Int(Double(tokens).squareRoot())
                if batch > 0 {
                    let step = try headStep(side: side, rng: &rng)
                    try report("head step (batch \(batch), \(tokens) tokens, \(blocks) blocks at \(dim), 3 deconvs → \(side * 16)² px)", "s",
                               format: "%.2f", higherIsBetter: false, request: "head \(batch)") { min(try step(), try step()) }
                }
                if components { try componentItems(rng: &rng, report: report) }
                // Backbones, forward only.
                for name in backboneNames {
                    let forward = try backbone(name)
                    for size in sizeList { for b in batchList {
                        let x: Tensor<Float> = randomNormalTensor([b, 3, size, size], using: &rng)
                        try forward(x)  // warm-up
                        try report("\(name) \(size)² batch \(b)", "images/s", format: "%.2f", request: "backbone \(name) \(size) \(b)") {
                            try imagesPerSecond(batch: b) { try forward(x) }
                        }
                    } }
                }
            }
        }

        /// The layers of the items, each the best of 5 calls after a warm-up (scripts/bench_torch.py's "component" requests
        /// build the same layers): ViT-S/14 at 512² (T = 1297 tokens, width 384, 6 heads of 64) forward, and the head's
        /// width-256 layers (batch 2 × 1024 tokens, 8 heads of 32) forward + backward with a random upstream gradient.
        func componentItems(rng: inout SplitMix64,
                            report: (String, String, String, Bool, String, () throws -> Double) throws -> Void) throws {
            func bestMilliseconds(_ body: () -> Void) -> Double {
                body()
                var best = Double.infinity
                for _ in 0..<5 { let t = Date(); body(); best = min(best, Date().timeIntervalSince(t)) }
                return best * 1000
            }
            func item(_ label: String, _ request: String, _ body: @escaping () -> Void) throws {
                try report("  " + label, "ms", "%.2f", false, "component " + request) { bestMilliseconds(body) }
            }
            let t = 1297, c = 384
            let x: Tensor<Float> = randomNormalTensor([1, t, c], using: &rng)
            let hidden: Tensor<Float> = randomNormalTensor([1, t, 4 * c], using: &rng)
            for (inputs, outputs) in [(c, 3 * c), (c, c), (c, 4 * c), (4 * c, c)] {
                let linear = Linear<Float>(inputs, outputs, rng: &rng)
                let input = inputs == c ? x : hidden
                try item("linear \(t)×\(inputs)→\(outputs) forward", "linear \(t) \(inputs) \(outputs)") { _ = linear(input) }
            }
            let gelu = Activation<Float>(.gelu), norm = LayerNorm<Float>(c, eps: 1e-6)
            try item("GELU \(t)×\(4 * c) forward", "gelu \(t * 4 * c)") { _ = gelu(hidden) }
            try item("LayerNorm \(t)×\(c) forward", "layernorm \(t) \(c)") { _ = norm(x) }
            let attention = MultiHeadSelfAttention<Float>(dim: c, heads: 6, rng: &rng)
            try item("attention \(t) tokens, 6×64 heads (qkv, softmax(qkᵀ)v, proj) forward", "attention 1 \(t) \(c) 6") { _ = attention(x) }
            let (b, tokens, width) = (2, 1024, 256)
            let h: Tensor<Float> = randomNormalTensor([b, tokens, width], using: &rng)
            let dy: Tensor<Float> = randomNormalTensor([b, tokens, width], using: &rng)
            let headAttention = MultiHeadSelfAttention<Float>(dim: width, heads: 8, rng: &rng)
            try item("attention \(b)×\(tokens) tokens, 8×32 heads, forward + backward", "attention_train \(b) \(tokens) \(width) 8") {
                _ = headAttention(h)
                _ = headAttention.backward(dy, inputShape: h.shape)
            }
            let mlp = MLP<Float>(dim: width, hidden: 4 * width, rng: &rng)
            try item("MLP \(b)×\(tokens)×\(width)→\(4 * width)→\(width), forward + backward", "mlp_train \(b) \(tokens) \(width)") {
                _ = mlp(h)
                _ = mlp.backward(dy, inputShape: h.shape)
            }
        }

        /// The first "model name" of /proc/cpuinfo with its vendor id, or nil off Linux.
        func cpuModelName() -> String? {
            // Read through FileHandle: /proc files report size 0, which String(contentsOfFile:) may take at its word.
            guard let handle = FileHandle(forReadingAtPath: "/proc/cpuinfo") else { return nil }
            defer { try? handle.close() }
            let lines = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            func field(_ key: String) -> String? {
                guard let line = lines.first(where: { $0.hasPrefix(key) }), let colon = line.firstIndex(of: ":") else { return nil }
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let model = field("model name") else { return nil }
            return field("vendor_id").map { "\(model) (\($0))" } ?? model
        }

        /// Cumulative CPU ticks of the machine and the part the hypervisor stole (/proc/stat), or nil off Linux. A high
        /// steal share means the VM's vCPUs waited for the host: ratios measured then are noisy, whatever the medians.
        func hostCPUTicks() -> (total: Double, steal: Double)? {
            guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                  let first = text.split(separator: "\n").first, first.hasPrefix("cpu ") else { return nil }
            let fields = first.split(separator: " ").dropFirst().compactMap { Double($0) }
            guard fields.count >= 8 else { return nil }
            return (fields.prefix(8).reduce(0, +), fields[7])
        }

        func median(_ values: [Double]) -> Double {
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
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

        /// Calls until at least 2 and 1.5 s (scripts/bench_torch.py's protocol; the warm-up call is made once, before the rounds).
        func imagesPerSecond(batch: Int, _ body: () throws -> Void) throws -> Double {
            var reps = 0
            let t0 = Date()
            while reps < 2 || Date().timeIntervalSince(t0) < 1.5 { try body(); reps += 1 }
            return Double(batch * reps) / Date().timeIntervalSince(t0)
        }

        /// The head: linear 384→dim, pre-LN blocks (8 heads), 3× (deconv k2 s2 + GELU) 128/64/32, per-token linear → 2·2·3;
        /// L1 loss and AdamW. Returns a timed step, after one warm-up step.
        func headStep(side: Int, rng: inout SplitMix64) throws -> () throws -> Double {
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
            return step
        }
    }
}

/// scripts/bench_torch.py as a warm server: one request line in, one number line out.
final class TorchServer {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var pending = Data()
    /// What the server said of itself after "ready": PyTorch's version, the BLAS it was built with, its CPU capability.
    private(set) var description = ""

    /// Starts the server; nil when python3 or torch is missing (it never prints "ready").
    init?(arguments: [String]) {
        let script = URL(fileURLWithPath: DefaultPaths.root).appendingPathComponent("scripts/bench_torch.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        signal(SIGPIPE, SIG_IGN)  // a server that died answers nil, not a killed benchmark
        process.standardInput = input; process.standardOutput = output; process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil, let ready = readLine(), ready == "ready" || ready.hasPrefix("ready ") else { return nil }
        description = String(ready.dropFirst("ready".count)).trimmingCharacters(in: .whitespaces)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// The answer to `request` (see scripts/bench_torch.py), or nil if PyTorch failed on it.
    func measure(_ request: String) -> Double? {
        guard process.isRunning else { return nil }
        guard (try? input.fileHandleForWriting.write(contentsOf: Data((request + "\n").utf8))) != nil,
              let line = readLine(), let value = Double(line) else { return nil }
        return value
    }

    private func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending = Data(pending[(newline + 1)...])
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            pending.append(chunk)
        }
    }
}
