import ArgumentParser
import Foundation

@main
struct HeadLab: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "headlab",
        abstract: "Synthetic 3D-head training data, and models trained on it from scratch.",
        version: version,
        subcommands: [ModelCommand.self, Generate.self, CorpusCommand.self, ScanCommand.self, Benchmark.self])
}

/// Turns any error into one line on stderr and a non-zero exit, never a crash or a stack trace.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as CleanExit { throw e } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("headlab: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Where `make setup` puts the built-in default model.
enum DefaultPaths {
    static var root: String {
        ProcessInfo.processInfo.environment["HEADLAB_ROOT"] ?? FileManager.default.currentDirectoryPath
    }
    static var defaultModel: String { root + "/Assets/models/makehuman.h5" }
}
