import Foundation
import Geometry
import HeadModels
import Rendering

/// How the virtual scanner captures and fuses.
public struct ScanSettings: Equatable, Sendable {
    /// Side of the square depth images rendered from each rig camera (pixels).
    public var resolution = 1024
    /// TSDF voxel size (metres).
    public var voxelSize: Float = 0.001
    /// Truncation distance in voxels.
    public var truncationVoxels: Float = 4
    /// Gaussian depth noise σ (metres) added to every rendered depth; 0 = none.
    public var depthNoise: Float = 0
    /// Per-camera calibration error used when fusing: random rotation σ (degrees) and
    /// translation σ (metres); 0 = perfectly calibrated.
    public var misalignmentDegrees: Float = 0
    public var misalignmentMetres: Float = 0
    /// Worker threads (0 = one per core); results do not depend on it.
    public var threads = 0

    public init() {}
}

/// Depth, normals and face ids of one view: the label pass of the renderer (primary ray through
/// each pixel centre), without shading.
public final class DepthFrame: @unchecked Sendable {
    public let width: Int, height: Int
    public var depth: [Float]       // [H, W] metres along the optical axis, 0 = background
    public var normals: [Float]     // [H, W, 3] unit geometric normals, camera frame, facing the camera
    public var face: [Int32]        // [H, W] model face, −1 = background

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        depth = [Float](repeating: 0, count: width * height)
        normals = [Float](repeating: 0, count: 3 * width * height)
        face = [Int32](repeating: -1, count: width * height)
    }
}

/// A fused scan with per-vertex ground truth.
public struct Scan: Sendable {
    public var positions: [Float]        // [V, 3] world, metres
    public var normals: [Float]          // [V, 3] unit, area-weighted, outward
    public var triangles: [Int32]        // [F, 3] counter-clockwise seen from outside
    public var vertexFace: [Int32]       // [V] nearest model face (−1 if none found)
    public var vertexClass: [UInt8]      // [V] SegmentationClass of that face
    public var vertexSkin: [UInt8]       // [V] 1 when that class is skin (as the corpus' skin_visible)
    public var vertexDistance: [Float]   // [V] distance to the nearest model surface (metres)
    public var vertexCount: Int { positions.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }

    /// The mesh with label colours (`SegmentationClass.color`), for PLY export.
    public var labelledMesh: TriangleMesh {
        var colours = [UInt8](repeating: 0, count: positions.count)
        for v in 0..<vertexCount {
            let c = (SegmentationClass(rawValue: vertexClass[v]) ?? .ignore).color
            colours[3 * v] = c.x; colours[3 * v + 1] = c.y; colours[3 * v + 2] = c.z
        }
        return TriangleMesh(positions: positions, triangles: triangles, vertexColors: colours)
    }
}

public struct ScanTimings: Sendable {
    public var render = 0.0, fuse = 0.0, extract = 0.0, groundTruth = 0.0
}

/// Renders depth from every camera of a rig, fuses it into a sparse TSDF, extracts a mesh by
/// marching cubes and labels each vertex from the nearest surface of the posed model.
/// One scanner reuses its grid and image buffers for every scan.
public final class VirtualScanner: @unchecked Sendable {
    public let settings: ScanSettings
    public let volume: TSDFVolume
    public private(set) var timings = ScanTimings()
    let device: EmbreeDevice
    var frame: DepthFrame?

    public init(settings: ScanSettings) throws {
        guard settings.resolution >= 8 else { throw ScanError(reason: "resolution \(settings.resolution) is too small (at least 8)") }
        guard settings.voxelSize > 0, settings.voxelSize.isFinite else { throw ScanError(reason: "voxel size must be positive") }
        self.settings = settings
        volume = TSDFVolume(voxelSize: settings.voxelSize, truncationVoxels: settings.truncationVoxels)
        device = try EmbreeDevice()
    }

    /// The Embree scene of a posed model's rendered faces (geometry 0; primitive p is face `labels.rendered[p]`).
    public func scene(vertices: [Float], model: HeadModel, labels: HeadLabelTable) throws -> TriangleScene {
        var tris = [Int32](repeating: 0, count: 3 * labels.rendered.count)
        for (k, f) in labels.rendered.enumerated() { for c in 0..<3 { tris[3 * k + c] = model.triangles[3 * Int(f) + c] } }
        return try TriangleScene(device: device, meshes: [(vertices, tris)])
    }

    /// Label pass: depth, camera-frame normals and face ids of every pixel centre.
    public func render(_ scene: TriangleScene, labels: HeadLabelTable, camera: Camera, into frame: DepthFrame) {
        precondition(frame.width == camera.width && frame.height == camera.height, "frame and camera sizes differ")
        let w2c = camera.worldToCamera
        frame.depth.withUnsafeMutableBufferPointer { dp in
            frame.normals.withUnsafeMutableBufferPointer { np in
                frame.face.withUnsafeMutableBufferPointer { fp in
                    parallelFor(camera.height, threads: settings.threads) { y in
                        enableFlushToZero()
                        for x in 0..<camera.width {
                            let i = y * camera.width + x
                            let (o, d) = camera.ray(u: Float(x) + 0.5, v: Float(y) + 0.5)
                            guard let hit = scene.intersect(origin: o, direction: d) else {
                                dp[i] = 0; fp[i] = -1; np[3 * i] = 0; np[3 * i + 1] = 0; np[3 * i + 2] = 0
                                continue
                            }
                            var n = normalize(hit.geometricNormal)
                            if dot(n, d) > 0 { n = -n }
                            let nc = w2c.rotation * n
                            dp[i] = w2c.apply(o + hit.distance * d).z
                            fp[i] = labels.rendered[Int(hit.primitive)]
                            np[3 * i] = nc.x; np[3 * i + 1] = nc.y; np[3 * i + 2] = nc.z
                        }
                    }
                }
            }
        }
    }

    /// Scans a posed model seen by `cameras` (world frame; their sizes are replaced by the
    /// scanner's resolution, keeping the field of view). `seed` keys depth noise and misalignment.
    public func scan(model: HeadModel, labels: HeadLabelTable, vertices: [Float], cameras: [Camera], seed: UInt64) throws -> Scan {
        guard !cameras.isEmpty else { throw ScanError(reason: "no cameras") }
        var t0 = Date()
        timings = ScanTimings()
        let scene = try self.scene(vertices: vertices, model: model, labels: labels)
        let res = settings.resolution
        if frame == nil || frame!.width != res { frame = DepthFrame(width: res, height: res) }
        let frame = self.frame!
        volume.reset()
        let root = SplitMix64(seed: seed)
        for (view, original) in cameras.enumerated() {
            let camera = VirtualScanner.resized(original, to: res)
            let r0 = Date()
            render(scene, labels: labels, camera: camera, into: frame)
            let rng = root.derive(UInt64(view))
            if settings.depthNoise > 0 {
                let base = rng.derive(1), sigma = settings.depthNoise
                frame.depth.withUnsafeMutableBufferPointer { dp in
                    parallelFor(res, threads: settings.threads) { y in
                        var g = base.derive(UInt64(y))
                        for x in 0..<res where dp[y * res + x] > 0 { dp[y * res + x] += sigma * g.normal() }
                    }
                }
            }
            var fusionCamera = camera
            if settings.misalignmentDegrees > 0 || settings.misalignmentMetres > 0 {
                var m = rng.derive(2)
                let axis = SIMD3(m.normal(), m.normal(), m.normal()) * (settings.misalignmentDegrees * .pi / 180)
                let shift = SIMD3(m.normal(), m.normal(), m.normal()) * settings.misalignmentMetres
                fusionCamera.worldToCamera = RigidTransform(rotation: Mat3.rotation(axisAngle: axis), translation: shift) * camera.worldToCamera
            }
            let r1 = Date()
            timings.render += r1.timeIntervalSince(r0)
            volume.allocate(depth: frame.depth, camera: fusionCamera)
            volume.integrate(depth: frame.depth, normals: frame.normals, camera: fusionCamera, threads: settings.threads)
            timings.fuse += Date().timeIntervalSince(r1)
        }
        t0 = Date()
        let (positions, triangles) = volume.extractMesh()
        let normals = TriangleMesh.vertexNormals(positions: positions, triangles: triangles)
        timings.extract = Date().timeIntervalSince(t0)
        t0 = Date()
        var result = Scan(positions: positions, normals: normals, triangles: triangles, vertexFace: [], vertexClass: [],
                          vertexSkin: [], vertexDistance: [])
        labelVertices(&result, scene: scene, model: model, labels: labels, vertices: vertices)
        timings.groundTruth = Date().timeIntervalSince(t0)
        return result
    }

    /// A camera with the same field of view at `side` × `side` pixels (square sensors only).
    public static func resized(_ c: Camera, to side: Int) -> Camera {
        var r = c
        let s = Float(side) / Float(max(c.width, c.height))
        r.width = side; r.height = side
        r.fx *= s; r.fy *= s; r.cx *= s; r.cy *= s
        return r
    }

    /// Ground truth per scan vertex: the nearest model surface along ±normal (the nearer of the
    /// two Embree hits), or, when neither ray hits within reach or a vertex is nearer than that
    /// hit, the face around the nearest model vertex (bucketed search).
    func labelVertices(_ scan: inout Scan, scene: TriangleScene, model: HeadModel, labels: HeadLabelTable, vertices: [Float]) {
        let n = scan.vertexCount
        var face = [Int32](repeating: -1, count: n), cls = [UInt8](repeating: SegmentationClass.ignore.rawValue, count: n)
        var skin = [UInt8](repeating: 0, count: n), dist = [Float](repeating: .infinity, count: n)
        let nearest = NearestVertexIndex(vertices: vertices, cell: max(0.005, 4 * settings.voxelSize))
        // A face at each model vertex (rendered faces only), for the fallback.
        var faceAtVertex = [Int32](repeating: -1, count: vertices.count / 3)
        for f in labels.rendered { for c in 0..<3 { faceAtVertex[Int(model.triangles[3 * Int(f) + c])] = f } }
        let reach = 20 * settings.voxelSize, voxel = settings.voxelSize
        let positions = scan.positions, normals = scan.normals
        face.withUnsafeMutableBufferPointer { fp in
            dist.withUnsafeMutableBufferPointer { dp in
                let chunk = 4096
                parallelFor((n + chunk - 1) / chunk, threads: settings.threads) { c in
                    enableFlushToZero()
                    for v in (c * chunk)..<min(n, (c + 1) * chunk) {
                        let p = positions.vec3(v), nv = normals.vec3(v)
                        var best: (Float, Int32) = (.infinity, -1)
                        if length(nv) > 0.5 {
                            for d in [nv, -nv] {
                                if let h = scene.intersect(origin: p, direction: d, near: 0, far: reach), h.distance < best.0 {
                                    best = (h.distance, labels.rendered[Int(h.primitive)])
                                }
                            }
                        }
                        if best.0 > 2 * voxel, let (i, d) = nearest.nearest(to: p), d < best.0, faceAtVertex[i] >= 0 {
                            best = (d, faceAtVertex[i])
                        }
                        fp[v] = best.1; dp[v] = best.0
                    }
                }
            }
        }
        for v in 0..<n where face[v] >= 0 {
            let c = labels.faceClass[Int(face[v])]
            cls[v] = c
            skin[v] = (SegmentationClass(rawValue: c) ?? .ignore).isSkin ? 1 : 0
        }
        scan.vertexFace = face; scan.vertexClass = cls; scan.vertexSkin = skin; scan.vertexDistance = dist
    }
}

/// Nearest-vertex queries on a uniform hash grid (exact within the searched shells).
struct NearestVertexIndex {
    let cell: Float
    var cells: [SIMD3<Int32>: [Int32]] = [:]
    let vertices: [Float]

    init(vertices: [Float], cell: Float) {
        self.cell = cell; self.vertices = vertices
        for i in 0..<(vertices.count / 3) { cells[key(vertices.vec3(i)), default: []].append(Int32(i)) }
    }

    func key(_ p: SIMD3<Float>) -> SIMD3<Int32> {
        let q = (p / cell).rounded(.down)
        return SIMD3(Int32(q.x), Int32(q.y), Int32(q.z))
    }

    /// Searches shells of cells outwards until the best distance is proven (at most 4 shells).
    func nearest(to p: SIMD3<Float>) -> (Int, Float)? {
        let k = key(p)
        var best: (Int, Float)? = nil
        for r in 0...4 {
            for dz in -r...r { for dy in -r...r { for dx in -r...r where max(abs(dx), abs(dy), abs(dz)) == r {
                guard let list = cells[k &+ SIMD3(Int32(dx), Int32(dy), Int32(dz))] else { continue }
                for i in list {
                    let d = length(vertices.vec3(Int(i)) - p)
                    if best == nil || d < best!.1 { best = (Int(i), d) }
                }
            } } }
            if let b = best, b.1 <= Float(r) * cell { return b }
        }
        return best
    }
}

public struct ScanError: Error, CustomStringConvertible, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
