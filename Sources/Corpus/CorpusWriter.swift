import Foundation
import Geometry
import HDF5
import HeadModels
import Rendering

public struct CorpusError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

/// Identity of a corpus: what must match for `--resume` to continue a file.
public struct CorpusHeader: Equatable, Sendable {
    public var recipe: String
    public var seed: UInt64
    public var count: Int          // the whole corpus
    public var firstIndex: Int     // this file's first sample
    public var rows: Int           // samples in this file
    public var width: Int, height: Int
    public var modelName: String, modelSource: String
    public var identityCount: Int, expressionCount: Int
    public var expressionNames: [String]
    public var gzip: [String: Int]
    public var headlabVersion: String
    /// The model's texture-atlas bounds (u0, v0, u1, v1): UDIM atlases (ICT-FaceKit) span u ≥ 1.
    public var uvBounds: [Float] = [0, 0, 1, 1]

    public init(recipe: String, seed: UInt64, count: Int, firstIndex: Int, rows: Int, width: Int, height: Int,
                modelName: String, modelSource: String, identityCount: Int, expressionCount: Int,
                expressionNames: [String], gzip: [String: Int], headlabVersion: String) {
        self.recipe = recipe; self.seed = seed; self.count = count; self.firstIndex = firstIndex; self.rows = rows
        self.width = width; self.height = height; self.modelName = modelName; self.modelSource = modelSource
        self.identityCount = identityCount; self.expressionCount = expressionCount; self.expressionNames = expressionNames
        self.gzip = gzip; self.headlabVersion = headlabVersion
    }
}

/// One rendered sample, ready to store.
public struct CorpusSample {
    public var index: Int, subject: Int, view: Int
    public var film: Film
    public var landmarks: LandmarkSet
    public var camera: Camera
    public var parameters: HeadParameters
    public init(index: Int, subject: Int, view: Int, film: Film, landmarks: LandmarkSet, camera: Camera, parameters: HeadParameters) {
        self.index = index; self.subject = subject; self.view = view; self.film = film
        self.landmarks = landmarks; self.camera = camera; self.parameters = parameters
    }
}

/// Writes a corpus file in place. Rows are preallocated; a row's `complete` flag is set and the
/// file flushed only after all its channels are written, so an interrupted run leaves a file whose
/// finished rows are intact and which `--resume` completes.
public final class CorpusWriter {
    public let path: String
    public let header: CorpusHeader
    let file: HDF5File
    var datasets: [String: HDF5Dataset] = [:]
    public private(set) var completeRows: [Bool]

    /// Creates a new file, or with `resume` reopens an existing one whose header matches.
    /// A new file is laid out (attributes, preallocated datasets) under a temporary name and
    /// renamed into place, so a run killed at any moment leaves either no file or a valid one.
    public init(path: String, header: CorpusHeader, resume: Bool) throws {
        self.path = path; self.header = header
        if resume && FileManager.default.fileExists(atPath: path) {
            let existing: CorpusReader
            do { existing = try CorpusReader(path: path) } catch {
                throw CorpusError(file: path, reason: "cannot resume: \(error)")
            }
            guard existing.header == header else {
                existing.close()
                throw CorpusError(file: path, reason: "cannot resume: the file was made from a different recipe, seed, count, shard, model or HeadLab version")
            }
            completeRows = existing.completeRows
            existing.close()
        } else {
            try CorpusWriter.create(path: path, header: header)
            completeRows = [Bool](repeating: false, count: header.rows)
        }
        file = try HDF5File(path: path, mode: .readWrite)
        for c in CorpusSchema.imageChannels { datasets[c.name] = try file.openDataset(c.name) }
        for (name, _, _) in CorpusSchema.sampleValues(identity: header.identityCount, expression: header.expressionCount) {
            datasets[name] = try file.openDataset(name)
        }
        sampleBytes = CorpusWriter.sampleBytes(header)
    }

    /// The most a sample can add to the file (`DiskSpace.ensureRoom` checks it before each
    /// sample): the gzip channels' rows stored raw (zlib's worst case adds 0.1% + 12 bytes), a
    /// chunk-index node each, and slack for other metadata. Uncompressed rows are allocated when
    /// the file is created.
    public let sampleBytes: Int
    public static func sampleBytes(_ header: CorpusHeader) -> Int {
        CorpusSchema.imageChannels.filter { (header.gzip[$0.name] ?? 0) > 0 }
            .map { header.width * header.height * $0.components * $0.type.size * 1001 / 1000 + 12 + 4096 }
            .reduce(16384, +)
    }

    static func create(path: String, header: CorpusHeader) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw CorpusError(file: path, reason: "cannot create the corpus file: directory \(dir) is missing or not writable")
        }
        let n = header.rows, h = header.height, w = header.width
        try HDF5File.writeAtomically(path: path) { file in
            try writeHeader(header, to: file)
            for c in CorpusSchema.imageChannels {
                let shape = c.components == 1 ? [n, h, w] : [n, h, w, c.components]
                _ = try file.createDataset(c.name, type: c.type, shape: shape, gzip: header.gzip[c.name] ?? 0)
            }
            for (name, type, shape) in CorpusSchema.sampleValues(identity: header.identityCount, expression: header.expressionCount) {
                _ = try file.createDataset(name, type: type, shape: [n] + shape)
            }
        }
        // HDF5 leaves the preallocated rows as a sparse hole: claim the disk space now, so a
        // full disk is an error here and not half-way through a sample.
        do { try DiskSpace.allocateWhole(path) } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// The root attributes and the small name datasets (`class_names`, `expression_names`, `joint_names`).
    static func writeHeader(_ header: CorpusHeader, to file: HDF5File) throws {
        try file.setAttribute("format", CorpusSchema.format)
        try file.setAttribute("schema_version", CorpusSchema.version)
        try file.setAttribute("headlab_version", header.headlabVersion)
        try file.setAttribute("recipe", header.recipe)
        try file.setAttribute("seed", [header.seed].map { Int64(bitPattern: $0) })
        try file.setAttribute("count", Int64(header.count))
        try file.setAttribute("first_index", Int64(header.firstIndex))
        try file.setAttribute("rows", Int64(header.rows))
        try file.setAttribute("width", Int32(header.width))
        try file.setAttribute("height", Int32(header.height))
        try file.setAttribute("model_name", header.modelName)
        try file.setAttribute("model_source", header.modelSource)
        try file.setAttribute("uv_bounds", header.uvBounds)
        try file.setAttribute("gzip", header.gzip.keys.sorted().map { "\($0)=\(header.gzip[$0]!)" }.joined(separator: ","))
        try file.writeStrings("class_names", CorpusSchema.classNames)
        try file.writeStrings("expression_names", header.expressionNames)
        try file.writeStrings("joint_names", Joint.allCases.map(\.name))
    }

    /// Stores sample `s` (its `index` must be in this file's range) and marks it complete.
    public func write(_ s: CorpusSample) throws {
        let row = s.index - header.firstIndex
        guard row >= 0 && row < header.rows else { throw CorpusError(file: path, reason: "sample \(s.index) is not in this file's range") }
        let f = s.film
        guard f.width == header.width && f.height == header.height else { throw CorpusError(file: path, reason: "film size differs from the corpus") }
        func d(_ n: String) -> HDF5Dataset { datasets[n]! }
        // A write that fails half-way leaves HDF5's file unreadable: check for room first.
        try DiskSpace.ensureRoom(sampleBytes, toGrow: path)
        try d("complete").writeRow(row, [UInt8(0)])
        try d("rgb").writeRow(row, f.rgb)
        try d("coverage").writeRow(row, f.coverage)
        try d("foreground").writeRow(row, f.foreground)
        try d("skin_visible").writeRow(row, f.skinVisible)
        try d("skin_amodal").writeRow(row, f.skinAmodal)
        try d("segmentation").writeRow(row, f.segmentation)
        try d("normals_camera").writeRow(row, f.normalsCamera)
        try d("normals_model").writeRow(row, f.normalsModel)
        try d("uv").writeRow(row, f.uv)
        try d("depth").writeRow(row, f.depth)
        try d("triangle").writeRow(row, f.triangle)
        try d("barycentric").writeRow(row, f.barycentric)
        try d("hair_coverage").writeRow(row, f.hairCoverage)
        try d("beard_coverage").writeRow(row, f.beardCoverage)
        try d("eyebrows_coverage").writeRow(row, f.eyebrowsCoverage)
        try d("eyelashes_coverage").writeRow(row, f.eyelashesCoverage)
        try d("normals_amodal").writeRow(row, f.normalsAmodal)
        try d("uv_amodal").writeRow(row, f.uvAmodal)
        for layer in AccessoryLayer.allCases { try d("\(layer.name)_coverage").writeRow(row, f.coverage(layer)) }
        try d("landmarks_2d").writeRow(row, s.landmarks.pixels.flatMap { [$0.x, $0.y] })
        try d("landmarks_visible").writeRow(row, s.landmarks.visible.map { $0 ? UInt8(1) : 0 })
        try d("landmarks_3d").writeRow(row, s.landmarks.cameraSpace.flatMap { [$0.x, $0.y, $0.z] })
        try d("intrinsics").writeRow(row, s.camera.intrinsicMatrix)
        try d("distortion").writeRow(row, [s.camera.distortion.x, s.camera.distortion.y, s.camera.distortion.z, s.camera.distortion.w])
        try d("extrinsics").writeRow(row, s.camera.extrinsicMatrix)
        let g = s.parameters.global, r = g.rotation.rowMajor
        try d("head_to_world").writeRow(row, [r[0], r[1], r[2], g.translation.x, r[3], r[4], r[5], g.translation.y, r[6], r[7], r[8], g.translation.z])
        try d("identity").writeRow(row, padded(s.parameters.identity, header.identityCount))
        try d("expression").writeRow(row, padded(s.parameters.expression, header.expressionCount))
        try d("joint_rotations").writeRow(row, s.parameters.flamePose)
        try d("subject").writeRow(row, [Int64(s.subject)])
        try d("view").writeRow(row, [Int64(s.view)])
        try d("index").writeRow(row, [Int64(s.index)])
        try file.flush()
        try d("complete").writeRow(row, [UInt8(1)])
        try file.flush()
        completeRows[row] = true
    }

    func padded(_ a: [Float], _ n: Int) -> [Float] { Array((a + [Float](repeating: 0, count: max(0, n - a.count))).prefix(n)) }

    public func close() { datasets = [:]; file.close() }

    /// Closes the file, reporting a failure to write what HDF5 still held (disk full).
    public func finish() throws { datasets = [:]; try file.closeChecked() }

    /// A dataset by name (tests simulate interrupted writes with it).
    public func datasets_forTesting(_ name: String) -> HDF5Dataset { datasets[name]! }
}
