import Foundation
import HDF5

/// Merges shard files of one corpus (same recipe, seed, count) into a single file, rows in index
/// order. Every shard must be complete; the result is written under a temporary name and renamed.
///
/// With `virtual` the output holds the same attributes and name datasets but every per-sample
/// dataset is an HDF5 virtual dataset (VDS) mapping its rows to the shard files: nothing is
/// copied, and the shards must stay where they are (a shard in the output's directory or below is
/// referred to by a relative name, so the directory can be moved as a whole).
public enum CorpusMerge {
    public static func merge(shards: [String], output: String, virtual: Bool = false) throws {
        guard !shards.isEmpty else { throw CorpusError(file: output, reason: "no shards given") }
        let readers = try shards.map { try CorpusReader(path: $0) }.sorted { $0.header.firstIndex < $1.header.firstIndex }
        defer { readers.forEach { $0.close() } }
        var expected = 0
        let first = readers[0].header
        for r in readers {
            var h = r.header
            h.firstIndex = first.firstIndex; h.rows = first.rows
            guard h == first else { throw CorpusError(file: r.path, reason: "not a shard of the same corpus as \(readers[0].path)") }
            guard r.header.firstIndex == expected else {
                throw CorpusError(file: r.path, reason: "starts at sample \(r.header.firstIndex), expected \(expected) (missing or overlapping shard)")
            }
            guard r.completeRows.allSatisfy({ $0 }) else { throw CorpusError(file: r.path, reason: "incomplete shard: finish it with --resume first") }
            expected += r.header.rows
        }
        guard expected == first.count else { throw CorpusError(file: output, reason: "shards cover \(expected) of \(first.count) samples") }
        var header = first
        header.firstIndex = 0; header.rows = first.count
        if virtual { return try writeVirtual(readers: readers, header: header, output: output) }
        let tmp = URL(fileURLWithPath: output).deletingLastPathComponent().appendingPathComponent(".\(URL(fileURLWithPath: output).lastPathComponent).tmp-\(getpid())").path
        do {
            let writer = try CorpusWriter(path: tmp, header: header, resume: false)
            let names = CorpusSchema.imageChannels.map(\.name) + CorpusSchema.sampleValues(identity: header.identityCount, expression: header.expressionCount).map(\.0)
            for name in names {
                let dst = writer.datasets[name]!
                for r in readers {
                    let src = try r.dataset(name)
                    for row in 0..<r.header.rows {
                        let bytes = try src.readRowBytes(row)
                        try bytes.withUnsafeBytes { try dst.writeRow(r.header.firstIndex + row, bytes: $0) }
                    }
                }
            }
            writer.close()
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: tmp, toPath: output)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }

    /// The VDS variant of `merge`: one virtual dataset per channel, a block of rows per shard.
    static func writeVirtual(readers: [CorpusReader], header: CorpusHeader, output: String) throws {
        let outputDirectory = URL(fileURLWithPath: output).deletingLastPathComponent().standardizedFileURL.path
        func sourceName(_ shard: String) -> String {
            let full = URL(fileURLWithPath: shard).standardizedFileURL.path
            let prefix = outputDirectory.hasSuffix("/") ? outputDirectory : outputDirectory + "/"
            return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
        }
        let n = header.rows, h = header.height, w = header.width
        var datasets: [(String, HDF5ElementType, [Int])] = CorpusSchema.imageChannels.map {
            ($0.name, $0.type, $0.components == 1 ? [h, w] : [h, w, $0.components])
        }
        datasets += CorpusSchema.sampleValues(identity: header.identityCount, expression: header.expressionCount)
        try HDF5File.writeAtomically(path: output) { file in
            try CorpusWriter.writeHeader(header, to: file)
            try file.setAttribute("virtual_sources", readers.map { sourceName($0.path) }.joined(separator: "\n"))
            for (name, type, shape) in datasets {
                let sources = readers.map {
                    HDF5VirtualSource(file: sourceName($0.path), dataset: name, firstRow: $0.header.firstIndex, rows: $0.header.rows)
                }
                try file.createVirtualDataset(name, type: type, shape: [n] + shape, sources: sources)
            }
        }
    }
}
