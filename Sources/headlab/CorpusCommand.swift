import ArgumentParser
import Corpus
import Foundation
import HDF5

struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus", abstract: "Inspect, check, preview and merge corpus files.",
        subcommands: [Info.self, Verify.self, Preview.self, Merge.self])

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Summarise a corpus file.")
        @Argument var path: String
        func run() throws {
            try runReportingErrors {
                let r = try CorpusReader(path: path)
                defer { r.close() }
                let h = r.header
                let done = r.completeRows.filter { $0 }.count
                print("""
                corpus:     \(path)
                samples:    \(done)/\(h.rows) complete (indices \(h.firstIndex)..<\(h.firstIndex + h.rows) of \(h.count))
                image:      \(h.width) x \(h.height)
                seed:       \(h.seed)
                model:      \(h.modelName) (\(h.identityCount) identity, \(h.expressionCount) expression modes)
                headlab:    \(h.headlabVersion)
                gzip:       \(h.gzip.isEmpty ? "none" : h.gzip.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", "))
                channels:   \(CorpusSchema.imageChannels.map(\.name).joined(separator: ", "))
                """)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every finished sample's channels and label invariants.")
        @Argument var path: String
        func run() throws {
            try runReportingErrors {
                let r = try CorpusReader(path: path)
                defer { r.close() }
                let problems = r.verify()
                let done = r.completeRows.filter { $0 }.count
                if problems.isEmpty {
                    print("\(path): OK, \(done) of \(r.header.rows) samples complete and valid")
                } else {
                    for p in problems { print("\(path): \(p)") }
                    throw ExitCode.failure
                }
            }
        }
    }

    struct Preview: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the contact sheet (<corpus>.preview.png).")
        @Argument var path: String
        @Option(help: "Samples (rows) in the sheet.") var rows: Int = 8
        func run() throws {
            try runReportingErrors { print(try ContactSheet.write(corpus: path, maxRows: rows)) }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge complete shards of one corpus into one file (a copy, or with --virtual an HDF5 virtual dataset file referring to the shards).")
        @Argument(help: "Shard files (any order).") var shards: [String]
        @Option(name: .shortAndLong, help: "Output file.") var out: String
        @Flag(help: "Write HDF5 virtual datasets that refer to the shard files instead of copying their rows (the shards must stay in place).")
        var virtual = false
        func run() throws {
            try runReportingErrors {
                try CorpusMerge.merge(shards: shards, output: out, virtual: virtual)
                print("\(out): merged \(shards.count) shards\(virtual ? " (virtual datasets referring to the shards)" : "")")
            }
        }
    }
}
