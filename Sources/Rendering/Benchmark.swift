import _CEmbree
import Dispatch
import Foundation
import Geometry

/// Reference measurements for `headlab benchmark`: bare Embree primary-ray throughput on the very
/// scene the pipeline renders, single rays and 16-wide packets.
public enum EmbreeReference {
    /// Packet width for the reference (Embree reports native 16-wide support on AVX-512).
    public static let packetWidth = 16

    /// Casts one primary ray per pixel of `camera`, `repeats` times, on `threads` workers.
    /// Returns rays per second and how many rays of the last repeat hit.
    public static func primaryRays(_ scene: HeadScene, camera: Camera, threads: Int, packets: Bool, repeats: Int = 4) -> (raysPerSecond: Double, hits: Int) {
        let hitLock = NSLock()
        var hits = 0
        let w = camera.width, h = camera.height
        // Precompute ray directions so only Embree is timed.
        var dirs = [SIMD3<Float>](repeating: .zero, count: w * h)
        for y in 0..<h { for x in 0..<w { dirs[y * w + x] = camera.ray(u: Float(x) + 0.5, v: Float(y) + 0.5).direction } }
        let origin = camera.position
        let start = Date()
        for _ in 0..<repeats {
            hits = 0
            parallelFor(h, threads: threads) { y in
                enableFlushToZero()
                var rowHits = 0
                defer { hitLock.lock(); hits += rowHits; hitLock.unlock() }
                var context = RTCIntersectContext()
                rtcInitIntersectContext(&context)
                if packets {
                    // RTCRayHit8 is over-aligned and does not import: aligned raw memory laid out
                    // as Embree's struct of arrays (12 ray fields then 8 hit fields of N lanes).
                    let n = EmbreeReference.packetWidth
                    // The valid mask must be aligned to the packet size too: it follows the rays.
                    let bytes = 20 * 4 * n
                    let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes + 4 * n, alignment: 64)
                    defer { raw.deallocate() }
                    let f = raw.bindMemory(to: Float.self, capacity: bytes / 4)
                    let u = raw.bindMemory(to: UInt32.self, capacity: bytes / 4)
                    let valid = (raw + bytes).bindMemory(to: Int32.self, capacity: n)
                    for x0 in stride(from: 0, to: w, by: n) {
                        for lane in 0..<n {
                            let x = min(w - 1, x0 + lane), d = dirs[y * w + x]
                            valid[lane] = x0 + lane < w ? -1 : 0
                            f[0 * n + lane] = origin.x; f[1 * n + lane] = origin.y; f[2 * n + lane] = origin.z
                            f[3 * n + lane] = 0
                            f[4 * n + lane] = d.x; f[5 * n + lane] = d.y; f[6 * n + lane] = d.z
                            f[7 * n + lane] = 0; f[8 * n + lane] = .infinity
                            u[9 * n + lane] = .max; u[10 * n + lane] = 0; u[11 * n + lane] = 0
                            u[18 * n + lane] = invalidGeometryID; u[19 * n + lane] = invalidGeometryID
                        }
                        if n == 8 { rtcIntersect8(valid, scene.scene, &context, OpaquePointer(raw)) }
                        else { rtcIntersect16(valid, scene.scene, &context, OpaquePointer(raw)) }
                        for lane in 0..<n where valid[lane] != 0 && u[18 * n + lane] != invalidGeometryID { rowHits += 1 }
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
                        if rh.hit.geomID != invalidGeometryID { rowHits += 1 }
                    }
                }
            }
        }
        return (Double(w * h * repeats) / Date().timeIntervalSince(start), hits)
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
