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
struct PixelCull {
    let lower: SIMD3<Float>, upper: SIMD3<Float>
    let origin: SIMD3<Float>
    let enabled: Bool

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
    }

    /// True when the scene has no geometry at all (every pixel is background).
    let emptyScene: Bool

    /// False only when no sample ray of the pixel whose centre ray has direction `d` can hit the scene.
    @inline(__always) func mayHit(direction d: SIMD3<Float>) -> Bool {
        if emptyScene { return false }
        if !enabled { return true }
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
