import Foundation
import Corpus
import HDF5
import HeadModels
import Rendering

/// `headlab generate`: renders samples of a recipe into a corpus file, in index order, resumable.
public struct CorpusJob {
    public var recipe: Recipe
    public var model: HeadModel
    public var count: Int
    public var output: String
    public var seed: UInt64
    public var shard: (index: Int, of: Int) = (0, 1)
    public var threads: Int = 0
    public var resume = false
    public var headlabVersion = "0.1.0"
    /// Called after each stored sample with (done, total, seconds elapsed).
    public var progress: ((Int, Int, Double) -> Void)?

    public init(recipe: Recipe, model: HeadModel, count: Int, output: String, seed: UInt64) {
        self.recipe = recipe; self.model = model; self.count = count; self.output = output; self.seed = seed
    }

    /// The contiguous block of sample indices shard i of n owns.
    public static func range(count: Int, shard: Int, of n: Int) -> Range<Int> {
        (count * shard / n)..<(count * (shard + 1) / n)
    }

    static func uvBounds(_ m: HeadModel) -> [Float] {
        var lo = SIMD2<Float>(repeating: .infinity), hi = SIMD2<Float>(repeating: -.infinity)
        for i in 0..<(m.texcoords.count / 2) {
            let t = SIMD2(m.texcoords[2 * i], m.texcoords[2 * i + 1])
            lo = pointwiseMin(lo, t); hi = pointwiseMax(hi, t)
        }
        return [min(0, lo.x), min(0, lo.y), max(1, hi.x.rounded(.up)), max(1, hi.y.rounded(.up))]
    }

    public struct Report { public var rendered: Int; public var skipped: Int; public var seconds: Double; public var writeSeconds: Double }

    @discardableResult
    public func run() throws -> Report {
        guard count > 0 else { throw CorpusError(file: output, reason: "--count must be positive") }
        guard shard.of > 0, shard.index >= 0, shard.index < shard.of else { throw CorpusError(file: output, reason: "bad --shard \(shard.index)/\(shard.of)") }
        let range = CorpusJob.range(count: count, shard: shard.index, of: shard.of)
        var header = CorpusHeader(recipe: recipe.text, seed: seed, count: count, firstIndex: range.lowerBound, rows: range.count,
                                  width: recipe.width, height: recipe.height, modelName: model.name, modelSource: model.source,
                                  identityCount: model.identityCount, expressionCount: model.expressionCount,
                                  expressionNames: model.expressionNames, gzip: recipe.gzip, headlabVersion: headlabVersion)
        header.uvBounds = CorpusJob.uvBounds(model)
        if !resume && FileManager.default.fileExists(atPath: output) {
            throw CorpusError(file: output, reason: "exists already (use --resume to complete it, or remove it)")
        }
        let writer = try CorpusWriter(path: output, header: header, resume: resume)
        defer { writer.close() }
        let generator = try Generator(recipe: recipe, model: model, seed: seed)
        let film = Film(width: recipe.width, height: recipe.height)
        let start = Date()
        var rendered = 0, skipped = 0, writeSeconds = 0.0
        for k in range {
            if writer.completeRows[k - range.lowerBound] { skipped += 1; continue }
            let spec = generator.spec(k)
            let landmarks = try generator.render(spec, into: film, threads: threads)
            let w0 = Date()
            do {
                try writer.write(CorpusSample(index: k, subject: spec.subject, view: spec.view, film: film, landmarks: landmarks,
                                              camera: spec.camera, parameters: spec.parameters))
            } catch {
                throw CorpusJob.writeFailure(error, sample: k, output: output, finished: writer.completeRows.filter { $0 }.count)
            }
            writeSeconds += Date().timeIntervalSince(w0)
            rendered += 1
            progress?(rendered + skipped, range.count, Date().timeIntervalSince(start))
        }
        do { try writer.finish() } catch {
            throw CorpusJob.writeFailure(error, sample: nil, output: output, finished: writer.completeRows.filter { $0 }.count)
        }
        return Report(rendered: rendered, skipped: skipped, seconds: Date().timeIntervalSince(start), writeSeconds: writeSeconds)
    }

    /// One line for a failed write (disk full, file size limit, I/O error): the file, the
    /// system's reason, and that the finished samples are kept for `--resume`.
    static func writeFailure(_ error: Error, sample: Int?, output: String, finished: Int) -> CorpusError {
        let reason: String
        if let e = error as? HDF5Error {
            reason = (e.object.isEmpty ? "" : "\(e.object): ") + e.reason
        } else if let e = error as? CorpusError { reason = e.reason } else { reason = "\(error)" }
        let what = sample.map { "cannot store sample \($0)" } ?? "cannot finish writing"
        return CorpusError(file: output, reason: "\(what): \(reason); the \(finished) finished samples are kept (free space, then rerun with --resume)")
    }
}
