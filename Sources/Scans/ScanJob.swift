import Foundation
import Generation
import Geometry
import HDF5
import HeadModels
import Rendering

/// `headlab scan`: synthetic 3D scans of the subjects of a `multi_view` recipe, with per-vertex
/// ground truth, in one HDF5 file.
///
/// Scan s is subject s of the recipe (its corpus rows are s·views ..< (s+1)·views): the same
/// identity, expression, pose, groom (hair, beard, brows) and rig cameras as `headlab generate`
/// with the same recipe and seed.
///
/// Resumable: the file's layout (attributes, preallocated per-scan datasets, empty ragged
/// datasets) is written under a temporary name and renamed into place; then each scan is one
/// HDF5 session (open, append its rows, write its per-scan rows and offsets, flush, set
/// `complete[s]`, close). A run killed at any moment leaves no file or a file whose complete
/// scans are intact (`ScanFile.verify`). `--resume` rebuilds the file under a temporary name with
/// the same session sequence, copying the complete scans byte for byte from the old file, renames
/// it and continues: the result is byte-identical to an uninterrupted run.
///
/// Schema (`format` = "headlab-scans", `schema_version` 2). S scans, V_s / F_s vertices / faces of
/// scan s, ΣV / ΣF their sums, K views, Vm / Fm the model's vertices / faces, L strand layers:
///
/// | dataset | shape | type | meaning |
/// |---|---|---|---|
/// | complete | [S] | uint8 | 1 once scan s is fully stored (read only these) |
/// | vertex_offsets, face_offsets | [S+1] | int64 | scan s owns rows offsets[s] ..< offsets[s+1] |
/// | vertices, normals | [ΣV, 3] | float32 | world frame (metres); unit outward normals |
/// | vertex_class | [ΣV] | uint8 | SegmentationClass of the nearest surface of any layer (`class_names`) |
/// | vertex_skin | [ΣV] | uint8 | 1 when that class is skin (as the corpus' `skin_visible`) |
/// | vertex_distance | [ΣV] | float32 | distance to that surface (metres, ≥ 0; strands as capsules) |
/// | vertex_layer | [ΣV] | uint8 | geometry of that surface: index into `layer_names` (0 head, 1 hair, 2 beard, 3 eyebrows, …, 8–12 accessories) |
/// | vertex_face | [ΣV] | int32 | nearest model face on the head mesh |
/// | vertex_head_distance | [ΣV] | float32 | signed distance to the head mesh (metres; negative inside the head) |
/// | faces | [ΣF, 3] | int32 | vertex indices local to the scan, counter-clockwise from outside |
/// | subject | [S] | int64 | subject index in the recipe's corpus |
/// | strand_counts | [S, L] | int64 | strands grown per strand layer (geometry ids 1, 2, … in order) |
/// | identity, expression | [S, Kid], [S, Kexp] | float32 | model coefficients |
/// | joint_rotations, head_to_world | [S, 5, 3], [S, 3, 4] | float32 | axis-angle per joint; global [R t] |
/// | intrinsics, extrinsics | [S, K, 3, 3], [S, K, 3, 4] | float32 | rig cameras at the scan resolution (world→camera) |
/// | model_vertices | [S, Vm, 3] | float32 | the posed model (world frame) |
/// | model_faces, model_face_class | [Fm, 3], [Fm] | int32, uint8 | model triangles and their classes (painted brows) |
/// | rgb (with `--images`) | [S, K, H, W, 3] | uint8 | the rig's renders (as the corpus) |
/// | foreground, skin_visible, skin_amodal, segmentation (with `--images`) | [S, K, H, W] | uint8 | their masks and part labels (as the corpus) |
/// | class_names | [19] | string | |
/// | layer_names | [13] | string | name of each geometry id: "head", strand layers (1 hair, 2 beard, 3 eyebrows, …), accessories (8 glasses, 9 headwear, 10 facewear, 11 clothing, 12 glasses_lenses); "" = unused |
///
/// Root attributes: `format`, `schema_version`, `headlab_version`, `recipe` (YAML text), `seed`,
/// `count`, `views`, `resolution`, `voxel_size`, `truncation`, `depth_noise`,
/// `misalignment_degrees`, `misalignment_metres`, `sensor_samples`, `model_name`, `model_source`,
/// `job` (everything the content depends on; `--resume` requires it to match).
public struct ScanJob {
    public static let format = "headlab-scans"
    public static let schemaVersion: Int64 = 2

    public var recipe: Recipe
    public var model: HeadModel
    public var count: Int
    public var output: String
    public var seed: UInt64
    public var settings = ScanSettings()
    /// Also render and store the rig's RGB images (slow at 1K: full path tracing per view).
    public var images = false
    /// Write each scan as `scan_NNNNN.ply` with label colours into this folder.
    public var plyDirectory: String?
    /// Complete an interrupted file instead of refusing to touch an existing one.
    public var resume = false
    public var headlabVersion = "0.1.0"
    /// Called after each scan with (scan index, total, the scan, its timings, seconds elapsed).
    public var progress: ((Int, Int, Scan, ScanTimings, Double) -> Void)?
    /// Called after each scan is stored (tests interrupt a run here).
    public var afterStore: ((Int) throws -> Void)?

    public init(recipe: Recipe, model: HeadModel, count: Int, output: String, seed: UInt64) {
        self.recipe = recipe; self.model = model; self.count = count; self.output = output; self.seed = seed
    }

    public struct Report { public var scans: Int; public var copied: Int; public var vertices: Int; public var faces: Int; public var seconds: Double; public var gridBytes: Int }

    /// Checks the inputs, naming what is wrong, before any work.
    public func validate() throws {
        guard recipe.rig == .multiView else {
            throw ScanError(reason: "recipe \(recipe.name): scans need a multi_view recipe (rig.kind: multi_view), not \(recipe.rig.rawValue)")
        }
        guard count > 0 else { throw ScanError(reason: "--count must be positive") }
        let dir = URL(fileURLWithPath: output).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ScanError(reason: "\(output): output folder \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else { throw ScanError(reason: "\(output): output folder \(dir) is not writable") }
        if !resume && FileManager.default.fileExists(atPath: output) {
            throw ScanError(reason: "\(output): exists already (use --resume to complete it, or remove it)")
        }
        if let ply = plyDirectory {
            do { try FileManager.default.createDirectory(atPath: ply, withIntermediateDirectories: true) } catch {
                throw ScanError(reason: "\(ply): cannot create the PLY folder (\(error.localizedDescription))")
            }
        }
    }

    func scanSeed(_ root: SplitMix64, _ s: Int) -> UInt64 {
        var g = root.derive(0x5CA0_0000_0000 | UInt64(s))
        return g.next()
    }

    /// Everything the file's content depends on (`--resume` continues only a file with the same key).
    func jobKey(_ r: Recipe) -> String {
        let st = settings
        return "seed=\(seed);count=\(count);views=\(r.cameras);resolution=\(st.resolution);voxel=\(st.voxelSize);truncation=\(st.truncationVoxels);"
            + "noise=\(st.depthNoise);misalign=\(st.misalignmentDegrees),\(st.misalignmentMetres);samples=\(st.sensorSamples);packets=\(st.packets);"
            + "images=\(images);model=\(model.name)|\(model.source)|\(model.vertexCount)|\(model.triangleCount);headlab=\(headlabVersion);recipe=\(r.text)"
    }

    static let raggedVertexDatasets = ["vertices", "normals", "vertex_class", "vertex_skin", "vertex_distance", "vertex_layer",
                                       "vertex_face", "vertex_head_distance"]

    /// The file's layout, without any scan.
    func create(_ file: HDF5File, recipe r: Recipe, labels: HeadLabelTable, cameras: Int, truncation: Float) throws {
        try file.setAttribute("format", ScanJob.format)
        try file.setAttribute("schema_version", ScanJob.schemaVersion)
        try file.setAttribute("headlab_version", headlabVersion)
        try file.setAttribute("recipe", r.text)
        try file.setAttribute("seed", Int64(bitPattern: seed))
        try file.setAttribute("count", Int64(count))
        try file.setAttribute("views", Int64(cameras))
        try file.setAttribute("resolution", Int64(settings.resolution))
        try file.setAttribute("voxel_size", settings.voxelSize)
        try file.setAttribute("truncation", truncation)
        try file.setAttribute("depth_noise", settings.depthNoise)
        try file.setAttribute("misalignment_degrees", settings.misalignmentDegrees)
        try file.setAttribute("misalignment_metres", settings.misalignmentMetres)
        try file.setAttribute("sensor_samples", Int64(settings.sensorSamples))
        try file.setAttribute("model_name", model.name)
        try file.setAttribute("model_source", model.source)
        try file.setAttribute("job", jobKey(r))
        try file.writeStrings("class_names", SegmentationClass.allCases.filter { $0 != .ignore }.map(\.name))
        try file.writeStrings("layer_names", HeadScene.geometryNames)
        try file.write("model_faces", model.triangles, shape: [model.triangleCount, 3])
        try file.write("model_face_class", labels.faceClass, shape: [model.triangleCount])
        for (name, type, row) in [("vertices", HDF5ElementType.float32, [3]), ("normals", .float32, [3]), ("vertex_class", .uint8, []),
                                  ("vertex_skin", .uint8, []), ("vertex_distance", .float32, []), ("vertex_layer", .uint8, []),
                                  ("vertex_face", .int32, []), ("vertex_head_distance", .float32, []), ("faces", .int32, [3])] {
            _ = try file.createAppendableDataset(name, type: type, rowShape: row, gzip: 1)
        }
        let res = settings.resolution
        _ = try file.createDataset("complete", type: .uint8, shape: [count])
        let vo = try file.createDataset("vertex_offsets", type: .int64, shape: [count + 1])
        let fo = try file.createDataset("face_offsets", type: .int64, shape: [count + 1])
        try vo.writeRow(0, [Int64(0)]); try fo.writeRow(0, [Int64(0)])
        _ = try file.createDataset("subject", type: .int64, shape: [count])
        _ = try file.createDataset("strand_counts", type: .int64, shape: [count, StrandLayer.allCases.count])
        _ = try file.createDataset("identity", type: .float32, shape: [count, model.identityCount])
        _ = try file.createDataset("expression", type: .float32, shape: [count, model.expressionCount])
        _ = try file.createDataset("joint_rotations", type: .float32, shape: [count, HeadModel.jointCount, 3])
        _ = try file.createDataset("head_to_world", type: .float32, shape: [count, 3, 4])
        _ = try file.createDataset("intrinsics", type: .float32, shape: [count, cameras, 3, 3])
        _ = try file.createDataset("extrinsics", type: .float32, shape: [count, cameras, 3, 4])
        _ = try file.createDataset("model_vertices", type: .float32, shape: [count, model.vertexCount, 3], gzip: 1)
        if images {
            for (name, components) in ScanJob.imageDatasets {
                _ = try file.createDataset(name, type: .uint8, shape: [count, cameras, res, res] + (components > 1 ? [components] : []), gzip: 1)
            }
        }
    }

    /// With `--images`: the rig's renders and their masks, [S, K, H, W(, C)] uint8, as the corpus'
    /// channels of the same names.
    static let imageDatasets: [(name: String, components: Int)] = [("rgb", 3), ("foreground", 1), ("skin_visible", 1),
                                                                   ("skin_amodal", 1), ("segmentation", 1)]

    static let perScanDatasets = ["subject", "strand_counts", "identity", "expression", "joint_rotations", "head_to_world",
                                  "intrinsics", "extrinsics", "model_vertices"]

    /// One scan's rows, as stored: ragged datasets' bytes and per-scan rows' bytes.
    struct StoredScan {
        var ragged: [String: [UInt8]] = [:]   // dataset → bytes of its rows
        var vertices = 0, faces = 0
        var rows: [String: [UInt8]] = [:]     // per-scan dataset → bytes of row s
    }

    /// One HDF5 session storing scan `s` (rows appended at the end of the ragged datasets).
    static func store(_ stored: StoredScan, scan s: Int, path: String) throws {
        let file = try HDF5File(path: path, mode: .readWrite)
        defer { file.close() }
        let vo = try file.openDataset("vertex_offsets"), fo = try file.openDataset("face_offsets")
        var v0: Int64 = 0, f0: Int64 = 0
        try withUnsafeMutableBytes(of: &v0) { try vo.readRow(s, into: $0) }
        try withUnsafeMutableBytes(of: &f0) { try fo.readRow(s, into: $0) }
        for name in raggedVertexDatasets + ["faces"] {
            let d = try file.openAppendableDataset(name)
            let expected = name == "faces" ? Int(f0) : Int(v0)
            guard d.rows == expected else {
                throw ScanError(reason: "\(path): \(name) has \(d.rows) rows before scan \(s), expected \(expected)")
            }
            try stored.ragged[name]!.withUnsafeBytes { try d.append(bytes: $0) }
        }
        for (name, bytes) in stored.rows.sorted(by: { $0.key < $1.key }) {
            try bytes.withUnsafeBytes { try file.openDataset(name).writeRow(s, bytes: $0) }
        }
        try vo.writeRow(s + 1, [v0 + Int64(stored.vertices)]); try fo.writeRow(s + 1, [f0 + Int64(stored.faces)])
        try file.flush()
        try file.openDataset("complete").writeRow(s, [UInt8(1)])
    }

    /// Scan `s` of an existing file, byte for byte.
    static func load(_ file: HDF5File, scan s: Int, images: Bool) throws -> StoredScan {
        var out = StoredScan()
        let vo = try file.read("vertex_offsets", as: Int64.self).values, fo = try file.read("face_offsets", as: Int64.self).values
        let vr = Int(vo[s])..<Int(vo[s + 1]), fr = Int(fo[s])..<Int(fo[s + 1])
        for name in raggedVertexDatasets { out.ragged[name] = try file.openDataset(name).readRows(vr) }
        out.ragged["faces"] = try file.openDataset("faces").readRows(fr)
        out.vertices = vr.count; out.faces = fr.count
        for name in perScanDatasets + (images ? imageDatasets.map(\.name) : []) { out.rows[name] = try file.openDataset(name).readRowBytes(s) }
        return out
    }

    static func bytes<T>(_ a: [T]) -> [UInt8] { a.withUnsafeBytes { Array($0) } }

    @discardableResult
    public func run() throws -> Report {
        try validate()
        var r = recipe
        r.width = settings.resolution; r.height = settings.resolution
        let generator = try Generator(recipe: r, model: model, seed: seed)
        let scanner = try VirtualScanner(settings: settings)
        let labels = generator.labels
        let views = r.cameras
        let cameras = (0..<views).map { generator.rigCamera($0) }
        let start = Date()
        var report = Report(scans: 0, copied: 0, vertices: 0, faces: 0, seconds: 0, gridBytes: 0)

        // The finished scans of an interrupted file (a prefix: scans are stored in order).
        var old: HDF5File? = nil, finished = 0
        if resume && FileManager.default.fileExists(atPath: output) {
            do {
                let f = try HDF5File(path: output, mode: .readOnly)
                guard (try? f.stringAttribute("format")) == ScanJob.format else { throw ScanError(reason: "not a headlab-scans file") }
                guard (try? f.stringAttribute("job")) == jobKey(r) else {
                    throw ScanError(reason: "made with a different recipe, seed, count, settings, model or HeadLab version")
                }
                let complete = try f.read("complete", as: UInt8.self).values
                finished = complete.prefix { $0 == 1 }.count
                old = f
            } catch {
                throw ScanError(reason: "\(output): cannot resume: \(error)")
            }
        }
        // Layout (and copies of the finished scans) under a temporary name, then renamed into place.
        let url = URL(fileURLWithPath: output)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        do {
            let file = try HDF5File(path: tmp, mode: .truncate)
            try create(file, recipe: r, labels: labels, cameras: views, truncation: scanner.volume.truncation)
            file.close()
            if let old {
                for s in 0..<finished {
                    let stored = try ScanJob.load(old, scan: s, images: images)
                    try ScanJob.store(stored, scan: s, path: tmp)
                    report.copied += 1; report.vertices += stored.vertices; report.faces += stored.faces
                }
                old.close()
            }
            if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
            try FileManager.default.moveItem(atPath: tmp, toPath: output)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }

        let res = settings.resolution
        let film = images ? Film(width: res, height: res) : nil
        let root = SplitMix64(seed: seed)
        for s in finished..<count {
            let spec = generator.spec(s * views)
            let params = spec.parameters
            let posed = model.pose(params)
            let scan = try scanner.scan(model: model, labels: labels, posed: posed, global: params.global, groom: spec.groom,
                                        accessories: spec.accessories, cameras: cameras, seed: scanSeed(root, s))
            var stored = StoredScan()
            stored.ragged = ["vertices": ScanJob.bytes(scan.positions), "normals": ScanJob.bytes(scan.normals),
                             "vertex_class": scan.vertexClass, "vertex_skin": scan.vertexSkin,
                             "vertex_distance": ScanJob.bytes(scan.vertexDistance), "vertex_layer": scan.vertexLayer,
                             "vertex_face": ScanJob.bytes(scan.vertexFace), "vertex_head_distance": ScanJob.bytes(scan.vertexHeadDistance),
                             "faces": ScanJob.bytes(scan.triangles)]
            stored.vertices = scan.vertexCount; stored.faces = scan.triangleCount
            let g = params.global, m = g.rotation.rowMajor, t = g.translation
            stored.rows = ["subject": ScanJob.bytes([Int64(spec.subject)]),
                           "strand_counts": ScanJob.bytes(scan.strandCounts.map { Int64($0) }),
                           "identity": ScanJob.bytes(params.identity), "expression": ScanJob.bytes(params.expression),
                           "joint_rotations": ScanJob.bytes(params.flamePose),
                           "head_to_world": ScanJob.bytes([m[0], m[1], m[2], t.x, m[3], m[4], m[5], t.y, m[6], m[7], m[8], t.z]),
                           "intrinsics": ScanJob.bytes(cameras.flatMap(\.intrinsicMatrix)),
                           "extrinsics": ScanJob.bytes(cameras.flatMap(\.extrinsicMatrix)),
                           "model_vertices": ScanJob.bytes(posed.vertices)]
            if let film {
                var rgb: [UInt8] = [], foreground: [UInt8] = [], skinVisible: [UInt8] = [], skinAmodal: [UInt8] = [], segmentation: [UInt8] = []
                rgb.reserveCapacity(views * res * res * 3)
                for v in 0..<views {
                    _ = try generator.render(generator.spec(s * views + v), into: film, threads: settings.threads)
                    rgb += film.rgb; foreground += film.foreground; skinVisible += film.skinVisible
                    skinAmodal += film.skinAmodal; segmentation += film.segmentation
                }
                stored.rows["rgb"] = rgb; stored.rows["foreground"] = foreground; stored.rows["skin_visible"] = skinVisible
                stored.rows["skin_amodal"] = skinAmodal; stored.rows["segmentation"] = segmentation
            }
            if let dir = plyDirectory {
                // Before the scan is marked complete: a complete scan always has its PLY.
                let path = (dir as NSString).appendingPathComponent(String(format: "scan_%05d.ply", s))
                // Geometry's writeAtomically replaces an existing file with FileManager.replaceItemAt,
                // which fails on Linux ("file doesn't exist"): remove it first.
                if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                try scan.labelledMesh.writePLY(path: path,
                                               comment: "headlab scan \(s) of \(r.name), seed \(seed); colours = segmentation classes")
            }
            try ScanJob.store(stored, scan: s, path: output)
            report.scans += 1; report.vertices += scan.vertexCount; report.faces += scan.triangleCount
            progress?(s, count, scan, scanner.timings, Date().timeIntervalSince(start))
            try afterStore?(s)
        }
        report.seconds = Date().timeIntervalSince(start)
        report.gridBytes = scanner.volume.bytes
        return report
    }
}

/// Reading and checking a scans file.
public enum ScanFile {
    /// Problems with the complete scans of a scans file (empty: every complete scan is intact):
    /// offsets in order and inside the ragged datasets, faces indexing their scan's vertices,
    /// finite positions and distances, known classes and layers.
    public static func verify(path: String) throws -> [String] {
        let f = try HDF5File(path: path, mode: .readOnly)
        defer { f.close() }
        guard (try? f.stringAttribute("format")) == ScanJob.format else { return ["\(path): not a headlab-scans file"] }
        var problems: [String] = []
        let complete = try f.read("complete", as: UInt8.self).values
        let vo = try f.read("vertex_offsets", as: Int64.self).values, fo = try f.read("face_offsets", as: Int64.self).values
        let vertexRows = try f.shape("vertices")[0], faceRows = try f.shape("faces")[0]
        for s in complete.indices where complete[s] == 1 {
            guard vo[s] <= vo[s + 1], fo[s] <= fo[s + 1], Int(vo[s + 1]) <= vertexRows, Int(fo[s + 1]) <= faceRows else {
                problems.append("scan \(s): offsets out of order or beyond the data"); continue
            }
            let vr = Int(vo[s])..<Int(vo[s + 1]), fr = Int(fo[s])..<Int(fo[s + 1])
            func floats(_ n: String, _ r: Range<Int>) throws -> [Float] {
                try f.openDataset(n).readRows(r).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            }
            let faces = try f.openDataset("faces").readRows(fr).withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
            if faces.contains(where: { $0 < 0 || Int($0) >= vr.count }) { problems.append("scan \(s): face index outside its vertices") }
            if try !floats("vertices", vr).allSatisfy(\.isFinite) { problems.append("scan \(s): non-finite vertex") }
            if try !floats("vertex_distance", vr).allSatisfy({ $0.isFinite && $0 >= 0 }) { problems.append("scan \(s): bad vertex_distance") }
            if try !floats("vertex_head_distance", vr).allSatisfy(\.isFinite) { problems.append("scan \(s): bad vertex_head_distance") }
            let cls = try f.openDataset("vertex_class").readRows(vr)
            if cls.contains(where: { SegmentationClass(rawValue: $0) == nil }) { problems.append("scan \(s): unknown vertex_class") }
        }
        return problems
    }
}
