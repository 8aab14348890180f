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
    /// Depth-sensor sub-samples per pixel side (n): each pixel integrates an n × n grid of rays
    /// over its footprint and reports the lower median of their depths (see `VirtualScanner.render`).
    /// 1 = a single ray through the pixel centre (a perfect sensor: strands are hit at random).
    public var sensorSamples = 4
    /// Trace a pixel's sub-samples as one 16-ray Embree packet (`rtcIntersect16`) instead of
    /// ray by ray; the depth maps agree up to Embree's rounding.
    public var packets = true
    /// Worker threads (0 = one per core); results do not depend on it.
    public var threads = 0

    public init() {}
}

/// Depth, normals and surface ids of one view as the rig's depth sensor reports them.
public final class DepthFrame: @unchecked Sendable {
    public let width: Int, height: Int
    public var depth: [Float]       // [H, W] metres along the optical axis, 0 = nothing (coverage < ½)
    public var normals: [Float]     // [H, W, 3] unit geometric normals, camera frame, facing the camera
    public var geometry: [Int32]    // [H, W] HeadScene geometry id of the reported sample, −1 = nothing
    public var element: [Int32]     // [H, W] its model face (head), strand (strand layers) or primitive, −1 = nothing

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        depth = [Float](repeating: 0, count: width * height)
        normals = [Float](repeating: 0, count: 3 * width * height)
        geometry = [Int32](repeating: -1, count: width * height)
        element = [Int32](repeating: -1, count: width * height)
    }
}

/// A fused scan with per-vertex ground truth.
public struct Scan: Sendable {
    public var positions: [Float]        // [V, 3] world, metres
    public var normals: [Float]          // [V, 3] unit, area-weighted, outward
    public var triangles: [Int32]        // [F, 3] counter-clockwise seen from outside
    public var vertexClass: [UInt8]      // [V] SegmentationClass of the nearest surface of any layer
    public var vertexSkin: [UInt8]       // [V] 1 when that class is skin (as the corpus' skin_visible)
    public var vertexDistance: [Float]   // [V] distance to that surface (metres, ≥ 0)
    public var vertexLayer: [UInt8]      // [V] HeadScene geometry id of that surface (0 head, 1 hair, 2 beard, 3 eyebrows, …)
    public var vertexFace: [Int32]       // [V] nearest model face on the head mesh
    public var vertexHeadDistance: [Float]  // [V] signed distance to the head mesh (metres; negative inside)
    /// Strands grown per strand layer (`StrandLayer` order), for the record.
    public var strandCounts: [Int] = []
    public var vertexCount: Int { positions.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }

    public init(positions: [Float], normals: [Float], triangles: [Int32]) {
        self.positions = positions; self.normals = normals; self.triangles = triangles
        vertexClass = []; vertexSkin = []; vertexDistance = []; vertexLayer = []; vertexFace = []; vertexHeadDistance = []
    }

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
    /// Growing strands and building the BVH (`scene`), depth sensing, TSDF fusion, marching cubes, labels.
    public var scene = 0.0, render = 0.0, fuse = 0.0, extract = 0.0, groundTruth = 0.0
}

/// Renders depth from every camera of a rig through the subject's `HeadScene` (head mesh, strand
/// layers and any further geometry in it), fuses it into a sparse TSDF, extracts a mesh by
/// marching cubes and labels each vertex from the nearest surface of any layer.
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
        guard (1...8).contains(settings.sensorSamples) else { throw ScanError(reason: "sensor samples \(settings.sensorSamples) per pixel side: must be 1…8") }
        self.settings = settings
        volume = TSDFVolume(voxelSize: settings.voxelSize, truncationVoxels: settings.truncationVoxels)
        device = try EmbreeDevice()
    }

    /// The subject as one Embree scene: the posed head, with `groom` its strand layers and with
    /// `accessories` the fitted accessory meshes.
    public func scene(model: HeadModel, labels: HeadLabelTable, posed: PosedHead, global: RigidTransform, groom: Groom?,
                      accessories: Accessories? = nil) throws -> HeadScene {
        try HeadScene(device: device, model: model, labels: labels, posed: posed, global: global,
                      groom: groom.map { $0.isEmpty ? nil : $0 } ?? nil,
                      accessories: accessories.map { $0.isEmpty ? nil : $0 } ?? nil)
    }

    /// The depth sensor. Each pixel integrates an n × n grid of rays (n = `sensorSamples`) over
    /// its footprint, against every geometry of the scene, and reports the lower median of their
    /// depths (the ⌈n²/2⌉-th smallest; rays that miss count as infinitely far) with the normal and
    /// surface of that ray. A stereo or structured-light sensor matches a window, so its depth is
    /// where the window becomes at least half opaque: surfaces covering less than half a pixel
    /// (single strands, stray hairs, thin frames) vanish, dense hair becomes a shell at its
    /// half-opacity depth, and silhouettes fall where coverage crosses ½. Strand normals are
    /// Embree's ribbon normals (facing the ray), so strands fuse with full weight.
    public func render(_ scene: HeadScene, camera: Camera, into frame: DepthFrame) {
        precondition(frame.width == camera.width && frame.height == camera.height, "frame and camera sizes differ")
        let w2c = camera.worldToCamera
        let n = settings.sensorSamples, m = n * n, median = (m - 1) / 2
        let usePackets = settings.packets && n > 1
        frame.depth.withUnsafeMutableBufferPointer { dp in
            frame.normals.withUnsafeMutableBufferPointer { np in
                frame.geometry.withUnsafeMutableBufferPointer { gp in
                    frame.element.withUnsafeMutableBufferPointer { ep in
                        parallelFor(camera.height, threads: settings.threads) { y in
                            enableFlushToZero()
                            let packet = usePackets ? ScenePacket() : nil
                            var z = [Float](repeating: 0, count: m), geom = [UInt32](repeating: 0, count: m)
                            var prim = [UInt32](repeating: 0, count: m), ng = [SIMD3<Float>](repeating: .zero, count: m)
                            var dirs = [SIMD3<Float>](repeating: .zero, count: m), order = [Int](repeating: 0, count: m)
                            var origin = SIMD3<Float>.zero
                            for x in 0..<camera.width {
                                for s in 0..<m {
                                    let (o, d) = camera.ray(u: Float(x) + (Float(s % n) + 0.5) / Float(n),
                                                            v: Float(y) + (Float(s / n) + 0.5) / Float(n))
                                    origin = o; dirs[s] = d; z[s] = .infinity
                                }
                                if let packet {
                                    var first = 0
                                    while first < m {
                                        let count = min(ScenePacket.width, m - first)
                                        for l in 0..<count { packet.set(l, origin: origin, direction: dirs[first + l]) }
                                        packet.trace(scene, count: count)
                                        for l in 0..<count where packet.hit(l) {
                                            let s = first + l
                                            z[s] = w2c.apply(origin + packet.distance(l) * dirs[s]).z
                                            geom[s] = packet.geometry(l); prim[s] = packet.primitive(l); ng[s] = packet.geometricNormal(l)
                                        }
                                        first += count
                                    }
                                } else {
                                    for s in 0..<m {
                                        guard let h = scene.nearestHit(origin: origin, direction: dirs[s]) else { continue }
                                        z[s] = w2c.apply(origin + h.distance * dirs[s]).z
                                        geom[s] = h.geometry; prim[s] = h.primitive; ng[s] = h.normal
                                    }
                                }
                                // Insertion sort of the sample order by depth (ties by sample index).
                                for s in 0..<m {
                                    var k = s
                                    while k > 0 && z[order[k - 1]] > z[s] { order[k] = order[k - 1]; k -= 1 }
                                    order[k] = s
                                }
                                let i = y * camera.width + x
                                let s = order[median]
                                guard z[s].isFinite else {
                                    dp[i] = 0; gp[i] = -1; ep[i] = -1; np[3 * i] = 0; np[3 * i + 1] = 0; np[3 * i + 2] = 0
                                    continue
                                }
                                var nw = ng[s]
                                nw = length(nw) > 0 && nw.x.isFinite && nw.y.isFinite && nw.z.isFinite ? normalize(nw) : -dirs[s]
                                if dot(nw, dirs[s]) > 0 { nw = -nw }
                                let nc = w2c.rotation * nw
                                dp[i] = z[s]
                                gp[i] = Int32(bitPattern: geom[s]); ep[i] = scene.element(geometry: geom[s], primitive: prim[s])
                                np[3 * i] = nc.x; np[3 * i + 1] = nc.y; np[3 * i + 2] = nc.z
                            }
                        }
                    }
                }
            }
        }
    }

    /// Scans a posed model without strands (tests and analytic shapes): `vertices` replace the
    /// neutral pose's, normals are recomputed from them.
    public func scan(model: HeadModel, labels: HeadLabelTable, vertices: [Float], cameras: [Camera], seed: UInt64) throws -> Scan {
        var posed = model.pose(HeadParameters.neutral(for: model))
        posed.vertices = vertices
        posed.normals = TriangleMesh.vertexNormals(positions: vertices, triangles: model.triangles)
        return try scan(model: model, labels: labels, posed: posed, global: .identity, groom: nil, cameras: cameras, seed: seed)
    }

    /// Scans a subject: the posed head with `groom`'s strand layers and `accessories`.
    public func scan(model: HeadModel, labels: HeadLabelTable, posed: PosedHead, global: RigidTransform, groom: Groom?,
                     accessories: Accessories? = nil, cameras: [Camera], seed: UInt64) throws -> Scan {
        let t0 = Date()
        let subject = try scene(model: model, labels: labels, posed: posed, global: global, groom: groom, accessories: accessories)
        let sceneSeconds = Date().timeIntervalSince(t0)
        let result = try scan(subject, cameras: cameras, seed: seed)
        timings.scene = sceneSeconds
        return result
    }

    /// Scans everything in `scene` seen by `cameras` (world frame; their sizes are replaced by the
    /// scanner's resolution, keeping the field of view). `seed` keys depth noise and misalignment.
    public func scan(_ scene: HeadScene, cameras: [Camera], seed: UInt64) throws -> Scan {
        guard !cameras.isEmpty else { throw ScanError(reason: "no cameras") }
        var t0 = Date()
        timings = ScanTimings()
        let res = settings.resolution
        if frame == nil || frame!.width != res { frame = DepthFrame(width: res, height: res) }
        let frame = self.frame!
        volume.reset()
        let root = SplitMix64(seed: seed)
        for (view, original) in cameras.enumerated() {
            let camera = VirtualScanner.resized(original, to: res)
            let r0 = Date()
            render(scene, camera: camera, into: frame)
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
        var result = Scan(positions: positions, normals: normals, triangles: triangles)
        result.strandCounts = scene.strands.map(\.strandCount)
        try labelVertices(&result, scene: scene)
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

    /// Ground truth per scan vertex, by exact closest-point queries (Embree point queries):
    /// - the nearest surface of any geometry in the scene (head faces, strands as capsules of
    ///   their radius via `StrandPointIndex`, accessories) gives `vertexClass`, `vertexLayer`, `vertexDistance` (≥ 0)
    ///   and `vertexSkin`;
    /// - the nearest point of the head mesh alone gives `vertexFace` and `vertexHeadDistance`,
    ///   signed by the side of the interpolated outward vertex normal there (negative inside).
    /// Ties between equidistant primitives go to the lowest (geometry, primitive).
    func labelVertices(_ scan: inout Scan, scene: HeadScene) throws {
        let n = scan.vertexCount
        var face = [Int32](repeating: -1, count: n), cls = [UInt8](repeating: SegmentationClass.ignore.rawValue, count: n)
        var skin = [UInt8](repeating: 0, count: n), dist = [Float](repeating: .infinity, count: n)
        var layer = [UInt8](repeating: 255, count: n), headDist = [Float](repeating: .infinity, count: n)
        let labels = scene.labels, model = scene.model
        var tris = [Int32](repeating: 0, count: 3 * labels.rendered.count)
        for (k, f) in labels.rendered.enumerated() { for c in 0..<3 { tris[3 * k + c] = model.triangles[3 * Int(f) + c] } }
        let head = try TriangleScene(device: device, meshes: [(scene.vertices, tris)])
        let strands = scene.hasStrands ? try StrandPointIndex(scene) : nil
        let positions = scan.positions, vertexNormals = scene.normals
        let isSkin = (0...255).map { (SegmentationClass(rawValue: UInt8($0)) ?? .ignore).isSkin }
        let far: Float = 10  // metres: every surface of a scan is nearer
        face.withUnsafeMutableBufferPointer { fp in
        cls.withUnsafeMutableBufferPointer { cp in
        skin.withUnsafeMutableBufferPointer { sp in
        dist.withUnsafeMutableBufferPointer { dp in
        layer.withUnsafeMutableBufferPointer { lp in
        headDist.withUnsafeMutableBufferPointer { hp in
            let chunk = 2048
            parallelFor((n + chunk - 1) / chunk, threads: settings.threads) { c in
                enableFlushToZero()
                for v in (c * chunk)..<min(n, (c + 1) * chunk) {
                    let p = positions.vec3(v)
                    guard let h = head.closestSurface(to: p, radius: far) else { continue }
                    let f = Int(labels.rendered[Int(h.primitive)])
                    let b = h.barycentric
                    let outward = b.x * vertexNormals.vec3(Int(model.triangles[3 * f])) + b.y * vertexNormals.vec3(Int(model.triangles[3 * f + 1]))
                        + b.z * vertexNormals.vec3(Int(model.triangles[3 * f + 2]))
                    fp[v] = Int32(f)
                    hp[v] = dot(p - h.point, outward) < 0 ? -h.distance : h.distance
                    // Any layer: the head is one of them, so the nearest is at most as far.
                    let any = scene.closestSurface(to: p, radius: h.distance, strands: strands) ?? h
                    let k = scene.segmentationClass(geometry: any.geometry, primitive: any.primitive)
                    cp[v] = k; sp[v] = isSkin[Int(k)] ? 1 : 0
                    dp[v] = any.distance; lp[v] = UInt8(truncatingIfNeeded: any.geometry)
                }
            }
        } } } } } }
        scan.vertexFace = face; scan.vertexClass = cls; scan.vertexSkin = skin; scan.vertexDistance = dist
        scan.vertexLayer = layer; scan.vertexHeadDistance = headDist
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
