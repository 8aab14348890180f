import Foundation
import Geometry
import Rendering

/// A truncated signed distance field on a sparse grid: 8³-voxel blocks in a hash map, allocated
/// only where a depth image saw a surface (within the truncation band along each pixel's ray).
///
/// Voxel `g` (integer grid coordinates) sits at `g · voxelSize` in world space. Values are in
/// units of the truncation distance, in [−1, 1]: positive in front of the surface (free space),
/// negative behind it. `reset()` keeps every buffer's capacity, so fusing many scans in a row
/// allocates nothing new once the largest scan has been seen: memory is bounded by the grid.
public final class TSDFVolume: @unchecked Sendable {
    public static let blockSide = 8
    public static let blockVoxels = 512
    public let voxelSize: Float
    public let truncation: Float
    public private(set) var blockCount = 0
    var blockMap: [Int64: Int32] = [:]
    var blockCoords: [SIMD3<Int32>] = []
    var capacity = 0
    var sdf: UnsafeMutablePointer<Float>
    var weight: UnsafeMutablePointer<Float>

    public init(voxelSize: Float, truncationVoxels: Float = 4) {
        precondition(voxelSize > 0 && truncationVoxels >= 1)
        self.voxelSize = voxelSize
        truncation = voxelSize * truncationVoxels
        capacity = 1024
        sdf = .allocate(capacity: capacity * TSDFVolume.blockVoxels)
        weight = .allocate(capacity: capacity * TSDFVolume.blockVoxels)
    }

    deinit { sdf.deallocate(); weight.deallocate() }

    /// Forgets every block but keeps the memory for the next scan.
    public func reset() {
        blockMap.removeAll(keepingCapacity: true)
        blockCoords.removeAll(keepingCapacity: true)
        blockCount = 0
    }

    /// Bytes held by the grid (voxel arrays and the block table).
    public var bytes: Int { capacity * TSDFVolume.blockVoxels * 8 + blockMap.capacity * 24 + blockCoords.capacity * 12 }

    @inline(__always) static func key(_ b: SIMD3<Int32>) -> Int64 {
        let o: Int64 = 1 << 20, m: Int64 = (1 << 21) - 1
        return ((Int64(b.x) + o) & m) << 42 | ((Int64(b.y) + o) & m) << 21 | ((Int64(b.z) + o) & m)
    }

    @inline(__always) func block(_ b: SIMD3<Int32>) -> Int32? { blockMap[TSDFVolume.key(b)] }

    @discardableResult
    func allocate(_ b: SIMD3<Int32>) -> Int32 {
        let k = TSDFVolume.key(b)
        if let i = blockMap[k] { return i }
        if blockCount == capacity {
            let newCapacity = capacity * 2, n = TSDFVolume.blockVoxels
            let s = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * n)
            let w = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * n)
            s.update(from: sdf, count: capacity * n); w.update(from: weight, count: capacity * n)
            sdf.deallocate(); weight.deallocate()
            sdf = s; weight = w; capacity = newCapacity
        }
        let i = Int32(blockCount)
        blockCount += 1
        blockMap[k] = i
        blockCoords.append(b)
        let base = Int(i) * TSDFVolume.blockVoxels
        (sdf + base).update(repeating: 1, count: TSDFVolume.blockVoxels)
        (weight + base).update(repeating: 0, count: TSDFVolume.blockVoxels)
        return i
    }

    @inline(__always) func blockOf(_ p: SIMD3<Float>) -> SIMD3<Int32> {
        let g = (p / voxelSize).rounded(.toNearestOrAwayFromZero)
        let s = Float(TSDFVolume.blockSide)
        return SIMD3(Int32((g.x / s).rounded(.down)), Int32((g.y / s).rounded(.down)), Int32((g.z / s).rounded(.down)))
    }

    /// Allocates the blocks within the truncation band around every valid depth pixel.
    /// `depth` is along the optical axis (0 = nothing seen).
    public func allocate(depth: [Float], camera: Camera) {
        let c2w = camera.cameraToWorld
        let band = truncation + voxelSize
        let steps = max(2, Int((2 * band / (2 * voxelSize)).rounded(.up)))
        var last = [Int64](repeating: .min, count: steps + 1)
        for y in 0..<camera.height {
            for x in 0..<camera.width {
                let d = depth[y * camera.width + x]
                guard d > 0 else { continue }
                let n = normalisedRay(camera, x: x, y: y)
                for s in 0...steps {
                    let z = d - band + 2 * band * Float(s) / Float(steps)
                    guard z > 0 else { continue }
                    let p = c2w.apply(SIMD3(n.x * z, n.y * z, z))
                    let b = blockOf(p)
                    let k = TSDFVolume.key(b)
                    if last[s] == k { continue }
                    last[s] = k
                    allocate(b)
                }
            }
        }
    }

    /// Undistorted normalised image coordinates (x/z, y/z) of a pixel centre.
    @inline(__always) func normalisedRay(_ camera: Camera, x: Int, y: Int) -> SIMD2<Float> {
        let u = Float(x) + 0.5, v = Float(y) + 0.5
        if camera.distortion == .zero { return SIMD2((u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy) }
        let r = camera.ray(u: u, v: v)
        let c = camera.worldToCamera.rotation * r.direction
        return SIMD2(c.x / c.z, c.y / c.z)
    }

    /// Fuses one depth image (weights from the rendered normals: |cos| of the viewing angle, so
    /// grazing views count less). Runs over the allocated blocks on `threads` workers; every voxel
    /// is updated by one worker, so the result does not depend on the thread count.
    public func integrate(depth: [Float], normals: [Float], camera: Camera, threads: Int = 0) {
        let w2c = camera.worldToCamera
        let width = camera.width, height = camera.height
        let trunc = truncation, vs = voxelSize
        let distorted = camera.distortion != .zero
        let sdf = self.sdf, weight = self.weight
        let coords = blockCoords
        let chunk = 64
        depth.withUnsafeBufferPointer { dp in
            normals.withUnsafeBufferPointer { np in
                parallelFor((coords.count + chunk - 1) / chunk, threads: threads) { c in
                    for bi in (c * chunk)..<min(coords.count, (c + 1) * chunk) {
                        let origin = coords[bi] &* Int32(TSDFVolume.blockSide)
                        let base = bi * TSDFVolume.blockVoxels
                        for lz in 0..<8 { for ly in 0..<8 { for lx in 0..<8 {
                            let g = origin &+ SIMD3(Int32(lx), Int32(ly), Int32(lz))
                            let p = SIMD3<Float>(Float(g.x), Float(g.y), Float(g.z)) * vs
                            let q = w2c.apply(p)
                            guard q.z > 1e-4 else { continue }
                            let px: SIMD2<Float>
                            if distorted { px = camera.project(p).pixel } else {
                                px = SIMD2(camera.fx * q.x / q.z + camera.cx, camera.fy * q.y / q.z + camera.cy)
                            }
                            guard px.x >= 0, px.y >= 0, px.x < Float(width), px.y < Float(height) else { continue }
                            let i = Int(px.y) * width + Int(px.x)
                            let d = dp[i]
                            guard d > 0 else { continue }
                            let s = d - q.z
                            guard s > -trunc else { continue }
                            let t = min(1, s / trunc)
                            let n = SIMD3(np[3 * i], np[3 * i + 1], np[3 * i + 2])
                            let w = max(0.05, abs(dot(n, q)) / length(q))
                            let v = base + (lz * 8 + ly) * 8 + lx
                            let w0 = weight[v]
                            sdf[v] = (sdf[v] * w0 + t * w) / (w0 + w)
                            weight[v] = w0 + w
                        } } }
                    }
                }
            }
        }
    }

    /// Marching cubes over every cube whose 8 corners were observed, vertices welded per grid edge.
    /// Returns positions [V, 3] and triangles [F, 3]; blocks are visited in allocation order, so
    /// the output is deterministic.
    public func extractMesh() -> (positions: [Float], triangles: [Int32]) {
        var positions: [Float] = [], triangles: [Int32] = []
        var vertexOfEdge: [Int64: Int32] = [:]
        vertexOfEdge.reserveCapacity(blockCount * 64)
        let side = TSDFVolume.blockSide, n1 = side + 1
        var localS = [Float](repeating: 0, count: n1 * n1 * n1)
        var localW = [Float](repeating: 0, count: n1 * n1 * n1)
        let table = MarchingCubes.triangles
        let edges = MarchingCubes.edgeCorners
        let offsets = (0..<8).map { MarchingCubes.cornerOffset($0) }
        for bi in 0..<blockCount {
            let b = blockCoords[bi]
            // Gather this block plus the +1 layer from its neighbours (unobserved: weight 0).
            var neighbours = [Int32?](repeating: nil, count: 8)
            for k in 0..<8 { neighbours[k] = k == 0 ? Int32(bi) : block(b &+ offsets[k]) }
            for z in 0..<n1 { for y in 0..<n1 { for x in 0..<n1 {
                let k = (x == side ? 1 : 0) | (y == side ? 2 : 0) | (z == side ? 4 : 0)
                let li = (z * n1 + y) * n1 + x
                if let nb = neighbours[k] {
                    let v = Int(nb) * TSDFVolume.blockVoxels + ((z % side) * side + (y % side)) * side + (x % side)
                    localS[li] = sdf[v]; localW[li] = weight[v]
                } else { localS[li] = 1; localW[li] = 0 }
            } } }
            let origin = b &* Int32(side)
            for z in 0..<side { for y in 0..<side { for x in 0..<side {
                var cubeCase = 0
                var values = SIMD8<Float>(repeating: 0)
                var observed = true
                for c in 0..<8 {
                    let li = ((z + (c >> 2 & 1)) * n1 + (y + (c >> 1 & 1))) * n1 + (x + (c & 1))
                    if localW[li] <= 0 { observed = false; break }
                    values[c] = localS[li]
                    if values[c] < 0 { cubeCase |= 1 << c }
                }
                guard observed, cubeCase != 0, cubeCase != 255 else { continue }
                let g = origin &+ SIMD3(Int32(x), Int32(y), Int32(z))
                let tris = table[cubeCase]
                var vertexOfLocalEdge = SIMD16<Int32>(repeating: -1)
                for e in tris {
                    let ei = Int(e)
                    if vertexOfLocalEdge[ei] >= 0 { continue }
                    let (a, bb) = edges[ei]
                    let ga = g &+ offsets[a]
                    let axis = ei / 4
                    let key = TSDFVolume.edgeKey(ga, axis: axis)
                    if let vtx = vertexOfEdge[key] { vertexOfLocalEdge[ei] = vtx; continue }
                    let va = values[a], vb = values[bb]
                    let t = max(0, min(1, va / (va - vb)))
                    let pa = SIMD3<Float>(Float(ga.x), Float(ga.y), Float(ga.z))
                    var p = pa
                    p[axis] += t
                    p *= voxelSize
                    let vtx = Int32(positions.count / 3)
                    positions += [p.x, p.y, p.z]
                    vertexOfEdge[key] = vtx
                    vertexOfLocalEdge[ei] = vtx
                }
                for e in tris { triangles.append(vertexOfLocalEdge[Int(e)]) }
            } } }
        }
        return (positions, triangles)
    }

    @inline(__always) static func edgeKey(_ g: SIMD3<Int32>, axis: Int) -> Int64 {
        let o: Int64 = 1 << 19, m: Int64 = (1 << 20) - 1
        return (((Int64(g.x) + o) & m) << 42 | ((Int64(g.y) + o) & m) << 22 | ((Int64(g.z) + o) & m) << 2) | Int64(axis)
    }
}
