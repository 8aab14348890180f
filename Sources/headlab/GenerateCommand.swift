import ArgumentParser
import Corpus
import Foundation
import Generation
import HeadModels

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a labelled corpus (HDF5) and its contact sheet from a recipe.")
    @Option(help: "Recipe file (YAML).") var recipe: String = "Recipes/quickstart.yaml"
    @Option(help: "Number of samples in the whole corpus.") var count: Int = 16
    @Option(name: .shortAndLong, help: "Output corpus file.") var out: String = "out/corpus.h5"
    @Option(help: "Random seed: sample k depends only on (recipe, seed, k).") var seed: UInt64 = 0
    @Option(help: "Render shard i of n (i/n): a contiguous block of sample indices.") var shard: String = "0/1"
    @Option(help: "Rendering threads (0 = one per core). Results do not depend on it.") var threads: Int = 0
    @Flag(help: "Complete an interrupted file instead of refusing to overwrite it.") var resume = false
    @Option(help: "Model file (overrides the recipe's `model`).") var model: String?
    @Flag(help: "Skip the contact sheet.") var noPreview = false

    func run() throws {
        // Past a file size limit (ulimit -f) writes then fail with EFBIG and are reported like a
        // full disk, instead of SIGXFSZ killing the process mid-sample.
        signal(SIGXFSZ, SIG_IGN)
        try runReportingErrors {
            let r = try Recipe.load(path: recipe)
            let parts = shard.split(separator: "/").compactMap { Int($0) }
            guard parts.count == 2 else { throw ValidationError("--shard must look like i/n, e.g. 0/4") }
            let modelPath = model ?? (r.model == "default" ? DefaultPaths.defaultModel : r.model)
            let m = try loadModel(modelPath)
            var job = CorpusJob(recipe: r, model: m, count: count, output: out, seed: seed)
            job.shard = (parts[0], parts[1])
            job.threads = threads
            job.resume = resume
            job.headlabVersion = HeadLab.version
            let bar = ProgressBar()
            job.progress = { done, total, seconds in bar.update(done: done, total: total, seconds: seconds) }
            let report = try job.run()
            bar.finish()
            let rate = Double(report.rendered) / max(report.seconds, 1e-9)
            print(String(format: "%@: %d rendered, %d already done, %.2f images/s, writing %.1f%% of wall time",
                         out, report.rendered, report.skipped, rate, 100 * report.writeSeconds / max(report.seconds, 1e-9)))
            if !noPreview { print("preview: \(try ContactSheet.write(corpus: out))") }
        }
    }
}

/// A one-line progress bar on stderr: count, rate and time left.
final class ProgressBar {
    let interactive = isatty(2) != 0
    var lastPrint = Date.distantPast

    func update(done: Int, total: Int, seconds: Double) {
        let now = Date()
        guard done == total || now.timeIntervalSince(lastPrint) > (interactive ? 0.2 : 5) else { return }
        lastPrint = now
        let width = 30, filled = total > 0 ? width * done / total : width
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "[%@%@] %d/%d  %.2f img/s  ETA %d:%02d", String(repeating: "#", count: filled),
                          String(repeating: " ", count: width - filled), done, total, rate, Int(eta) / 60, Int(eta) % 60)
        FileHandle.standardError.write(Data(((interactive ? "\r" : "") + line + (interactive ? "" : "\n")).utf8))
    }

    func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }
}
