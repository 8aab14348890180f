import Foundation
import Generation
import Geometry
import HDF5
import HeadModels
import Rendering

/// `headlab scan`: synthetic 3D scans of the subjects of a `multi_view` recipe, with per-vertex
/// ground truth, in one HDF5 file (written under a temporary name and renamed when complete).
///
/// Scan s is subject s of the recipe (its corpus rows are s·views ..< (s+1)·views): the same
/// identity, expression, pose and rig cameras as `headlab generate` with the same recipe and seed.
///
/// Schema (`format` = "headlab-scans", `schema_version` 1). S scans, V_s / F_s vertices / faces of
/// scan s, ΣV / ΣF their sums, K views, Vm / Fm the model's vertices / faces:
///
/// | dataset | shape | type | meaning |
/// |---|---|---|---|
/// | vertex_offsets, face_offsets | [S+1] | int64 | scan s owns rows offsets[s] ..< offsets[s+1] |
/// | vertices, normals | [ΣV, 3] | float32 | world frame (metres); unit outward normals |
/// | vertex_class | [ΣV] | uint8 | SegmentationClass of the nearest model surface (`class_names`) |
/// | vertex_skin | [ΣV] | uint8 | 1 when that class is skin (as the corpus' `skin_visible`) |
/// | vertex_distance | [ΣV] | float32 | distance to the nearest model surface (metres) |
/// | vertex_face | [ΣV] | int32 | model face of that surface (−1: none within reach) |
/// | faces | [ΣF, 3] | int32 | vertex indices local to the scan, counter-clockwise from outside |
/// | subject | [S] | int64 | subject index in the recipe's corpus |
/// | identity, expression | [S, Kid], [S, Kexp] | float32 | model coefficients |
/// | joint_rotations, head_to_world | [S, 5, 3], [S, 3, 4] | float32 | axis-angle per joint; global [R t] |
/// | intrinsics, extrinsics | [S, K, 3, 3], [S, K, 3, 4] | float32 | rig cameras at the scan resolution (world→camera) |
/// | model_vertices | [S, Vm, 3] | float32 | the posed model (world frame) |
/// | model_faces, model_face_class | [Fm, 3], [Fm] | int32, uint8 | model triangles and their classes |
/// | rgb (with `--images`) | [S, K, H, W, 3] | uint8 | the rig's renders (as the corpus) |
/// | class_names | [19] | string | |
///
/// Root attributes: `format`, `schema_version`, `headlab_version`, `recipe` (YAML text), `seed`,
/// `count`, `views`, `resolution`, `voxel_size`, `truncation`, `depth_noise`,
/// `misalignment_degrees`, `misalignment_metres`, `model_name`, `model_source`.
public struct ScanJob {
    public static let format = "headlab-scans"
    public static let schemaVersion: Int64 = 1

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
    public var headlabVersion = "0.1.0"
    /// Called after each scan with (scan index, total, the scan, its timings, seconds elapsed).
    public var progress: ((Int, Int, Scan, ScanTimings, Double) -> Void)?

    public init(recipe: Recipe, model: HeadModel, count: Int, output: String, seed: UInt64) {
        self.recipe = recipe; self.model = model; self.count = count; self.output = output; self.seed = seed
    }

    public struct Report { public var scans: Int; public var vertices: Int; public var faces: Int; public var seconds: Double; public var gridBytes: Int }

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
        var report = Report(scans: 0, vertices: 0, faces: 0, seconds: 0, gridBytes: 0)
        try HDF5File.writeAtomically(path: output) { file in
            try file.setAttribute("format", ScanJob.format)
            try file.setAttribute("schema_version", ScanJob.schemaVersion)
            try file.setAttribute("headlab_version", headlabVersion)
            try file.setAttribute("recipe", r.text)
            try file.setAttribute("seed", Int64(bitPattern: seed))
            try file.setAttribute("count", Int64(count))
            try file.setAttribute("views", Int64(views))
            try file.setAttribute("resolution", Int64(settings.resolution))
            try file.setAttribute("voxel_size", settings.voxelSize)
            try file.setAttribute("truncation", scanner.volume.truncation)
            try file.setAttribute("depth_noise", settings.depthNoise)
            try file.setAttribute("misalignment_degrees", settings.misalignmentDegrees)
            try file.setAttribute("misalignment_metres", settings.misalignmentMetres)
            try file.setAttribute("model_name", model.name)
            try file.setAttribute("model_source", model.source)
            try file.writeStrings("class_names", SegmentationClass.allCases.filter { $0 != .ignore }.map(\.name))
            try file.write("model_faces", model.triangles, shape: [model.triangleCount, 3])
            try file.write("model_face_class", labels.faceClass, shape: [model.triangleCount])

            let vertices = try file.createAppendableDataset("vertices", type: .float32, rowShape: [3], gzip: 1)
            let normals = try file.createAppendableDataset("normals", type: .float32, rowShape: [3], gzip: 1)
            let vClass = try file.createAppendableDataset("vertex_class", type: .uint8, rowShape: [], gzip: 1)
            let vSkin = try file.createAppendableDataset("vertex_skin", type: .uint8, rowShape: [], gzip: 1)
            let vDist = try file.createAppendableDataset("vertex_distance", type: .float32, rowShape: [], gzip: 1)
            let vFace = try file.createAppendableDataset("vertex_face", type: .int32, rowShape: [], gzip: 1)
            let faces = try file.createAppendableDataset("faces", type: .int32, rowShape: [3], gzip: 1)
            let subject = try file.createDataset("subject", type: .int64, shape: [count])
            let identity = try file.createDataset("identity", type: .float32, shape: [count, model.identityCount])
            let expression = try file.createDataset("expression", type: .float32, shape: [count, model.expressionCount])
            let joints = try file.createDataset("joint_rotations", type: .float32, shape: [count, HeadModel.jointCount, 3])
            let global = try file.createDataset("head_to_world", type: .float32, shape: [count, 3, 4])
            let intrinsics = try file.createDataset("intrinsics", type: .float32, shape: [count, views, 3, 3])
            let extrinsics = try file.createDataset("extrinsics", type: .float32, shape: [count, views, 3, 4])
            let posedVertices = try file.createDataset("model_vertices", type: .float32, shape: [count, model.vertexCount, 3], gzip: 1)
            let res = settings.resolution
            let rgb = images ? try file.createDataset("rgb", type: .uint8, shape: [count, views, res, res, 3], gzip: 1) : nil
            var vertexOffsets: [Int64] = [0], faceOffsets: [Int64] = [0]
            let film = images ? Film(width: res, height: res) : nil
            let root = SplitMix64(seed: seed)
            for s in 0..<count {
                let spec = generator.spec(s * views)
                let params = spec.parameters
                let posed = model.pose(params)
                let scan = try scanner.scan(model: model, labels: labels, vertices: posed.vertices, cameras: cameras,
                                            seed: scanSeed(root, s))
                try vertices.append(scan.positions); try normals.append(scan.normals)
                try vClass.append(scan.vertexClass); try vSkin.append(scan.vertexSkin)
                try vDist.append(scan.vertexDistance); try vFace.append(scan.vertexFace)
                try faces.append(scan.triangles)
                vertexOffsets.append(vertexOffsets.last! + Int64(scan.vertexCount))
                faceOffsets.append(faceOffsets.last! + Int64(scan.triangleCount))
                try subject.writeRow(s, [Int64(spec.subject)])
                try identity.writeRow(s, params.identity)
                try expression.writeRow(s, params.expression)
                try joints.writeRow(s, params.flamePose)
                let g = params.global, m = g.rotation.rowMajor, t = g.translation
                try global.writeRow(s, [m[0], m[1], m[2], t.x, m[3], m[4], m[5], t.y, m[6], m[7], m[8], t.z])
                try intrinsics.writeRow(s, cameras.flatMap(\.intrinsicMatrix))
                try extrinsics.writeRow(s, cameras.flatMap(\.extrinsicMatrix))
                try posedVertices.writeRow(s, posed.vertices)
                if let rgb, let film {
                    var all: [UInt8] = []
                    all.reserveCapacity(views * res * res * 3)
                    for v in 0..<views {
                        _ = try generator.render(generator.spec(s * views + v), into: film, threads: settings.threads)
                        all += film.rgb
                    }
                    try rgb.writeRow(s, all)
                }
                if let dir = plyDirectory {
                    let path = (dir as NSString).appendingPathComponent(String(format: "scan_%05d.ply", s))
                    // Geometry's writeAtomically replaces an existing file with FileManager.replaceItemAt,
                    // which fails on Linux ("file doesn't exist"): remove it first.
                    if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                    try scan.labelledMesh.writePLY(path: path,
                                                   comment: "headlab scan \(s) of \(r.name), seed \(seed); colours = segmentation classes")
                }
                report.scans += 1; report.vertices += scan.vertexCount; report.faces += scan.triangleCount
                progress?(s, count, scan, scanner.timings, Date().timeIntervalSince(start))
            }
            try file.write("vertex_offsets", vertexOffsets, shape: [count + 1])
            try file.write("face_offsets", faceOffsets, shape: [count + 1])
        }
        report.seconds = Date().timeIntervalSince(start)
        report.gridBytes = scanner.volume.bytes
        return report
    }
}
