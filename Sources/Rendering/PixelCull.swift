import _CEmbree
import Geometry

/// Finds the pixels whose every camera ray misses the scene, so they can skip Embree: no label
/// ray and no camera packet. Their samples are background, exactly as if they had been traced.
///
/// The test is conservative. Every sample ray of a pixel deviates from the ray through the pixel
/// centre by an angle θ ≤ (π/2)·L·h, where h = ½·√(1/fx² + 1/fy²) is the pixel's half-diagonal in
/// normalised coordinates and L ≥ 1 bounds how much `Camera.undistort` stretches distances
/// (estimated on a grid, times 1.25). A sample ray that meets the scene box at distance t ≤ t_max
/// therefore passes within t_max·θ of the centre ray, so the centre ray meets the box grown by
/// m = 1.5·t_max·θ. Pixels whose centre ray misses the grown box are background.
/// A camera inside the grown box culls nothing.
///
/// For a pinhole camera (no distortion) with all geometry in front of it, a finer test follows:
/// every primitive's projection lies inside the screen box of its projected vertices (triangles;
/// strands: the control points of each segment, grown by their projected radius), and a sample
/// ray of pixel (x, y) passes through [x, x + 1] × [y, y + 1]; so a pixel whose square meets no
/// such box (grown by `tileMargin` pixels for rounding) is background. The boxes are marked in
/// `tile` × `tile` pixel tiles.
struct PixelCull {
    let lower: SIMD3<Float>, upper: SIMD3<Float>
    let origin: SIMD3<Float>
    let enabled: Bool
    /// [tilesY, tilesX] tiles some primitive's screen box meets (empty: no tile test).
    private(set) var tiles: [Bool] = []
    private(set) var tilesX = 0
    static let tile = 8, tileMargin: Float = 0.05

    init(scene: HeadScene, camera: Camera, enabled on: Bool = true) {
        var b = RTCBounds()
        rtcGetSceneBounds(scene.scene, &b)
        let lo = SIMD3(b.lower_x, b.lower_y, b.lower_z), hi = SIMD3(b.upper_x, b.upper_y, b.upper_z)
        origin = camera.position
        guard lo.x.isFinite, hi.x.isFinite, lo.x <= hi.x else {
            // An empty scene: every ray misses.
            lower = .zero; upper = .zero; enabled = false
            emptyScene = on
            return
        }
        emptyScene = false
        var tMax: Float = 0
        for corner in 0..<8 {
            let p = SIMD3(corner & 1 == 0 ? lo.x : hi.x, corner & 2 == 0 ? lo.y : hi.y, corner & 4 == 0 ? lo.z : hi.z)
            tMax = max(tMax, length(p - origin))
        }
        let halfDiagonal = 0.5 * (1 / (camera.fx * camera.fx) + 1 / (camera.fy * camera.fy)).squareRoot()
        let theta = Float.pi / 2 * PixelCull.undistortStretch(camera) * halfDiagonal
        let m = 1.5 * tMax * theta
        lower = lo - m; upper = hi + m
        let inside = all(origin .>= lower) && all(origin .<= upper)
        enabled = on && !inside
        if enabled && !camera.hasDistortion { markTiles(scene: scene, camera: camera) }
    }

    /// Marks the tiles met by the screen box of every primitive (`tiles`); leaves `tiles` empty
    /// (no tile test) when some vertex is not in front of the camera.
    mutating func markTiles(scene: HeadScene, camera: Camera) {
        let size = PixelCull.tile
        let nx = (camera.width + size - 1) / size, ny = (camera.height + size - 1) / size
        var marked = [Bool](repeating: false, count: nx * ny)
        let r = camera.worldToCamera.rotation, t = camera.worldToCamera.translation
        let fx = camera.fx, fy = camera.fy, cx = camera.cx, cy = camera.cy
        let xLimit = Float(camera.width), yLimit = Float(camera.height)
        // Pixel coordinates of a world point, and whether it is safely in front.
        @inline(__always) func project(_ p: SIMD3<Float>) -> SIMD3<Float> {
            let c = r * p + t
            return SIMD3(fx * c.x / c.z + cx, fy * c.y / c.z + cy, c.z)
        }
        // Marks the tiles of pixels whose square meets [lo, hi] grown by `grow` pixels.
        @inline(__always) func mark(_ lo: SIMD2<Float>, _ hi: SIMD2<Float>, grow: Float) {
            let g = grow + PixelCull.tileMargin
            let x0 = lo.x - g - 1, x1 = hi.x + g, y0 = lo.y - g - 1, y1 = hi.y + g   // pixel x meets [a, b] iff a − 1 ≤ x ≤ b
            if x1 < 0 || y1 < 0 || x0 >= xLimit || y0 >= yLimit { return }
            let tx0 = Int(max(0, x0).rounded(.up)) / size, tx1 = min(nx - 1, Int(min(xLimit - 1, x1).rounded(.down)) / size)
            let ty0 = Int(max(0, y0).rounded(.up)) / size, ty1 = min(ny - 1, Int(min(yLimit - 1, y1).rounded(.down)) / size)
            if tx0 > tx1 || ty0 > ty1 { return }
            for ty in ty0...ty1 { for tx in tx0...tx1 { marked[ty * nx + tx] = true } }
        }
        let near: Float = 1e-3
        // Triangle meshes: the head and the accessories.
        @inline(__always) func markTriangle(_ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>) {
            mark(SIMD2(min(a.x, b.x, c.x), min(a.y, b.y, c.y)), SIMD2(max(a.x, b.x, c.x), max(a.y, b.y, c.y)), grow: 0)
        }
        let v = scene.vertices
        let head = (0..<(v.count / 3)).map { project(SIMD3(v[3 * $0], v[3 * $0 + 1], v[3 * $0 + 2])) }
        if head.contains(where: { !($0.z > near) }) { return }
        let triangles = scene.model.triangles
        for f in 0..<(triangles.count / 3) {
            markTriangle(head[Int(triangles[3 * f])], head[Int(triangles[3 * f + 1])], head[Int(triangles[3 * f + 2])])
        }
        for mesh in scene.accessories.meshes where !mesh.triangles.isEmpty {
            let pixels = mesh.positions.map(project)
            if pixels.contains(where: { !($0.z > near) }) { return }
            for t in mesh.triangles { markTriangle(pixels[Int(t.x)], pixels[Int(t.y)], pixels[Int(t.z)]) }
        }
        // Strands: each segment lies in the hull of its (up to 4) control points, fattened by their radius.
        for set in scene.strands where !set.segments.isEmpty {
            var pixels = [SIMD3<Float>](), radius = [Float]()
            pixels.reserveCapacity(set.points.count); radius.reserveCapacity(set.points.count)
            for q in set.points {
                // A ball of radius ρ at camera-space c projects within f·ρ·|c| / (c_z (c_z − ρ)) of c's pixel.
                let c = r * SIMD3(q.x, q.y, q.z) + t
                if !(c.z > near + q.w) { return }
                pixels.append(SIMD3(fx * c.x / c.z + cx, fy * c.y / c.z + cy, c.z))
                radius.append(max(fx, fy) * q.w * length(c) / (c.z * (c.z - q.w)))
            }
            for first in set.segments {
                let i0 = Int(first), i1 = min(pixels.count, i0 + 4)
                var lo = SIMD2<Float>(repeating: .infinity), hi = SIMD2<Float>(repeating: -.infinity), grow: Float = 0
                for i in i0..<i1 {
                    lo = pointwiseMin(lo, SIMD2(pixels[i].x, pixels[i].y)); hi = pointwiseMax(hi, SIMD2(pixels[i].x, pixels[i].y))
                    grow = max(grow, radius[i])
                }
                mark(lo, hi, grow: grow)
            }
        }
        tiles = marked; tilesX = nx
    }

    /// Falls back to the box test alone (tests compare the two).
    mutating func dropTiles() { tiles = []; tilesX = 0 }

    /// True when the scene has no geometry at all (every pixel is background).
    let emptyScene: Bool

    /// False only when no sample ray of pixel (x, y), whose centre ray has direction `d`, can hit the scene.
    @inline(__always) func mayHit(x: Int, y: Int, direction d: SIMD3<Float>) -> Bool {
        if emptyScene { return false }
        if !enabled { return true }
        if !tiles.isEmpty && !tiles[(y / PixelCull.tile) * tilesX + x / PixelCull.tile] { return false }
        let inverse = 1 / d
        let t1 = (lower - origin) * inverse, t2 = (upper - origin) * inverse
        let near = max(max(min(t1.x, t2.x), min(t1.y, t2.y)), max(min(t1.z, t2.z), 0))
        let far = min(min(max(t1.x, t2.x), max(t1.y, t2.y)), max(t1.z, t2.z))
        return !(far < near)   // NaN (0 · ∞ on a slab plane) counts as a hit
    }

    /// An upper bound (≥ 1) on |undistort(a) − undistort(b)| / |a − b| over the image, from
    /// finite differences on a 17 × 17 grid over the image (and a tenth beyond each edge), times 1.25.
    static func undistortStretch(_ camera: Camera) -> Float {
        guard camera.hasDistortion else { return 1 }
        var stretch: Float = 1
        let step: Float = 1e-3
        for j in 0...16 { for i in 0...16 {
            let u = (Float(i) / 16 * 1.2 - 0.1) * Float(camera.width), v = (Float(j) / 16 * 1.2 - 0.1) * Float(camera.height)
            let p = SIMD2((u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy)
            let q = camera.undistort(p)
            for delta in [SIMD2<Float>(step, 0), SIMD2<Float>(0, step)] {
                let r = length2(camera.undistort(p + delta) - q) / step
                stretch = r.isFinite ? max(stretch, r) : .infinity
            }
        } }
        return 1.25 * stretch
    }

    private static func length2(_ v: SIMD2<Float>) -> Float { (v * v).sum().squareRoot() }
}
