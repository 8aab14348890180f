import _CEmbree
import Dispatch
import Foundation
import Geometry

/// Reference measurements for `headlab benchmark`: bare Embree primary-ray throughput on the very
/// scene the pipeline renders, single rays and 16-wide packets.
public enum EmbreeReference {
    /// Casts one primary ray per pixel of `camera`, `repeats` times, on `threads` workers.
    /// Returns rays per second.
    public static func primaryRays(_ scene: HeadScene, camera: Camera, threads: Int, packets: Bool, repeats: Int = 4) -> Double {
        let w = camera.width, h = camera.height
        // Precompute ray directions so only Embree is timed.
        var dirs = [SIMD3<Float>](repeating: .zero, count: w * h)
        for y in 0..<h { for x in 0..<w { dirs[y * w + x] = camera.ray(u: Float(x) + 0.5, v: Float(y) + 0.5).direction } }
        let origin = camera.position
        let start = Date()
        for _ in 0..<repeats {
            parallelFor(h, threads: threads) { y in
                enableFlushToZero()
                var context = RTCIntersectContext()
                rtcInitIntersectContext(&context)
                if packets {
                    // RTCRayHit16 is over-aligned and does not import: 64-byte aligned raw memory,
                    // laid out as Embree's struct of arrays (12 ray fields then 8 hit fields of 16 lanes).
                    let bytes = 20 * 64
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                    defer { raw.deallocate() }
                    let f = raw.bindMemory(to: Float.self, capacity: bytes / 4)
                    let u = raw.bindMemory(to: UInt32.self, capacity: bytes / 4)
                    var valid = [Int32](repeating: -1, count: 16)
                    for x0 in stride(from: 0, to: w, by: 16) {
                        for lane in 0..<16 {
                            let x = min(w - 1, x0 + lane), d = dirs[y * w + x]
                            valid[lane] = x0 + lane < w ? -1 : 0
                            f[0 * 16 + lane] = origin.x; f[1 * 16 + lane] = origin.y; f[2 * 16 + lane] = origin.z
                            f[3 * 16 + lane] = 0
                            f[4 * 16 + lane] = d.x; f[5 * 16 + lane] = d.y; f[6 * 16 + lane] = d.z
                            f[7 * 16 + lane] = 0; f[8 * 16 + lane] = .infinity
                            u[9 * 16 + lane] = .max; u[10 * 16 + lane] = 0; u[11 * 16 + lane] = 0
                            u[18 * 16 + lane] = invalidGeometryID
                        }
                        valid.withUnsafeBufferPointer { v in rtcIntersect16(v.baseAddress, scene.scene, &context, OpaquePointer(raw)) }
                    }
                } else {
                    for x in 0..<w {
                        let d = dirs[y * w + x]
                        var rh = RTCRayHit()
                        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
                        rh.ray.dir_x = d.x; rh.ray.dir_y = d.y; rh.ray.dir_z = d.z
                        rh.ray.tnear = 0; rh.ray.tfar = .infinity; rh.ray.mask = .max
                        rh.hit.geomID = invalidGeometryID
                        rtcIntersect1(scene.scene, &context, &rh)
                    }
                }
            }
        }
        return Double(w * h * repeats) / Date().timeIntervalSince(start)
    }
}

/// Counts rays the integrator casts (for rays/s next to the bare-Embree reference).
public extension Integrator {
    /// Rays per rendered image: one label ray and, per sample, a camera ray and (on a hit) one
    /// environment ray and one shadow ray per light. `hitFraction` is the share of samples that hit.
    func raysPerImage(width: Int, height: Int, hitFraction: Double) -> Double {
        let spp = Double(max(1, settings.samplesPerPixel))
        return Double(width * height) * (1 + spp * (1 + hitFraction * (1 + Double(lighting.lights.count))))
    }
}
