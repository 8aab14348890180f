import Geometry

/// A pinhole camera in OpenCV's convention: camera space has +x right, +y down, +z forward (the
/// viewing direction); pixel (u, v) has its origin at the top-left corner of the image, so the
/// centre of pixel (i, j) is (i + 0.5, j + 0.5).
///
/// `x_cam = R x_world + t`; `u = fx · x'/z' + cx`, `v = fy · y'/z' + cy` with (x', y') the
/// normalised coordinates after optional Brown–Conrady distortion (k1, k2, p1, p2).
public struct Camera: Equatable, Sendable {
    public var width: Int, height: Int
    public var fx: Float, fy: Float, cx: Float, cy: Float
    /// Radial k1, k2 and tangential p1, p2 (OpenCV order); zero means none.
    public var distortion: SIMD4<Float> = .zero
    public var worldToCamera: RigidTransform

    public init(width: Int, height: Int, fx: Float, fy: Float, cx: Float, cy: Float,
                distortion: SIMD4<Float> = .zero, worldToCamera: RigidTransform) {
        self.width = width; self.height = height; self.fx = fx; self.fy = fy; self.cx = cx; self.cy = cy
        self.distortion = distortion; self.worldToCamera = worldToCamera
    }

    /// A camera at `eye` looking at `target`, with world `up` mapping to image up.
    public static func lookAt(eye: SIMD3<Float>, target: SIMD3<Float>, up: SIMD3<Float> = SIMD3(0, 1, 0),
                              width: Int, height: Int, fx: Float, fy: Float? = nil,
                              principal: SIMD2<Float>? = nil) -> Camera {
        let z = normalize(target - eye)
        var x = cross(z, up)
        if length(x) < 1e-6 { x = cross(z, SIMD3(0, 0, 1)) }
        x = normalize(x)          // image right
        let y = cross(z, x)       // image down
        let r = Mat3(rows: x, y, z)
        let c = principal ?? SIMD2(Float(width) / 2, Float(height) / 2)
        return Camera(width: width, height: height, fx: fx, fy: fy ?? fx, cx: c.x, cy: c.y,
                      worldToCamera: RigidTransform(rotation: r, translation: -(r * eye)))
    }

    public var cameraToWorld: RigidTransform { worldToCamera.inverse }
    public var position: SIMD3<Float> { cameraToWorld.translation }

    /// The 3 × 3 intrinsic matrix, row-major.
    public var intrinsicMatrix: [Float] { [fx, 0, cx, 0, fy, cy, 0, 0, 1] }
    /// The 3 × 4 world-to-camera matrix [R | t], row-major.
    public var extrinsicMatrix: [Float] {
        let r = worldToCamera.rotation.rowMajor, t = worldToCamera.translation
        return [r[0], r[1], r[2], t.x, r[3], r[4], r[5], t.y, r[6], r[7], r[8], t.z]
    }

    var hasDistortion: Bool { distortion != .zero }

    func distort(_ p: SIMD2<Float>) -> SIMD2<Float> {
        guard hasDistortion else { return p }
        let k1 = distortion.x, k2 = distortion.y, p1 = distortion.z, p2 = distortion.w
        let r2 = (p * p).sum()
        let radial = 1 + k1 * r2 + k2 * r2 * r2
        return SIMD2(p.x * radial + 2 * p1 * p.x * p.y + p2 * (r2 + 2 * p.x * p.x),
                     p.y * radial + p1 * (r2 + 2 * p.y * p.y) + 2 * p2 * p.x * p.y)
    }

    /// Inverse of `distort` by fixed-point iteration (converges for the moderate distortion a
    /// recipe allows; residual < 1e-6 in normalised units).
    func undistort(_ d: SIMD2<Float>) -> SIMD2<Float> {
        guard hasDistortion else { return d }
        var p = d
        for _ in 0..<20 { p += d - distort(p) }
        return p
    }

    /// Projects a world point: pixel coordinates and depth along the optical axis.
    public func project(_ world: SIMD3<Float>) -> (pixel: SIMD2<Float>, depth: Float) {
        let c = worldToCamera.apply(world)
        let n = distort(SIMD2(c.x / c.z, c.y / c.z))
        return (SIMD2(fx * n.x + cx, fy * n.y + cy), c.z)
    }

    /// The world-space ray through continuous pixel coordinates (u, v): origin and unit direction.
    public func ray(u: Float, v: Float) -> (origin: SIMD3<Float>, direction: SIMD3<Float>) {
        let n = undistort(SIMD2((u - cx) / fx, (v - cy) / fy))
        let c2w = cameraToWorld
        return (c2w.translation, normalize(c2w.rotation * SIMD3(n.x, n.y, 1)))
    }
}
