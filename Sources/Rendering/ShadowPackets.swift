import _CEmbree
import Geometry

/// The occlusion rays of one camera packet, deferred so they reach Embree as 16-wide packets:
/// each sample adds at most one environment ray, one ray per light and one per sharp environment
/// blob, with the radiance it carries if unblocked (`weight`); `resolve` traces every batch and adds `transmittance ×
/// weight` to its sample. Batch 0 holds the environment rays (incoherent: cosine-distributed),
/// batch 1 + j the rays toward light j (coherent: one pixel's samples toward one small light),
/// then one batch per sharp blob. Environment rays see only the smooth part of the environment
/// (`smoothRadiance`): the blobs are sampled separately.
///
/// Environment rays carry their weight without the environment radiance, which is looked up only
/// for rays that get through (`weightsEnvironment`).
final class ShadowBatches {
    static let width = RayPacket.width
    let batches: Int
    /// Ray fields, [batch][lane]: origin, direction, near, far, the sample's lane, its weight.
    let origin: UnsafeMutablePointer<SIMD3<Float>>
    let direction: UnsafeMutablePointer<SIMD3<Float>>
    let near: UnsafeMutablePointer<Float>
    let far: UnsafeMutablePointer<Float>
    let sample: UnsafeMutablePointer<Int32>
    let weight: UnsafeMutablePointer<SIMD3<Float>>
    let count: UnsafeMutablePointer<Int>
    let packet = RayPacket()
    /// Head samples whose light rays are still to be queued (`SurfaceLanes.queueLights`).
    let surfaces = SurfaceLanes()

    /// `lights` lights (sharp blobs included): one environment batch plus one per light.
    init(lights: Int) {
        batches = 1 + lights
        let n = batches * ShadowBatches.width
        origin = .allocate(capacity: n); direction = .allocate(capacity: n)
        near = .allocate(capacity: n); far = .allocate(capacity: n)
        sample = .allocate(capacity: n); weight = .allocate(capacity: n)
        count = .allocate(capacity: batches)
        reset()
    }

    deinit {
        origin.deallocate(); direction.deallocate(); near.deallocate(); far.deallocate()
        sample.deallocate(); weight.deallocate(); count.deallocate()
    }

    @inline(__always) func reset() { count.initialize(repeating: 0, count: batches); surfaces.mask = 0; surfaces.reflecting = 0 }

    /// Queues a ray of batch `b` for sample `lane`.
    @inline(__always) func add(_ b: Int, lane: Int, origin o: SIMD3<Float>, direction d: SIMD3<Float>, near n: Float, far f: Float, weight w: SIMD3<Float>) {
        let k = b * ShadowBatches.width + count[b]
        origin[k] = o; direction[k] = d; near[k] = n; far[k] = f; sample[k] = Int32(lane); weight[k] = w
        count[b] += 1
    }

    /// Queues the head samples' environment and light rays (`surfaces`), then traces every batch and adds each
    /// ray's transmitted weight to `out[sample]`; environment rays are multiplied by the
    /// environment's `smoothRadiance(direction)` first. Transmittance is
    /// `HeadScene.transmittance`'s: 1 when nothing blocks, `strandTransmittance` when only strands
    /// do, 0 when the head or an opaque accessory does (lenses are ignored).
    func resolve(scene: HeadScene, lighting: Lighting, into out: UnsafeMutablePointer<SIMD3<Float>>) {
        surfaces.queueEnvironment(into: self)
        surfaces.queueLights(lighting.lights, into: self)
        surfaces.addReflections(lighting.environment, into: out)
        // Lenses and eyelashes never block (`HeadScene.shadowMask`); the head and opaque accessories do.
        let opaque = HeadScene.opaqueMask
        for b in 0..<batches where count[b] > 0 {
            let base = b * ShadowBatches.width, n = count[b]
            for lane in 0..<n {
                let k = base + lane
                packet.setShadow(lane, origin: origin[k], direction: direction[k], near: near[k], far: far[k], mask: HeadScene.shadowMask)
            }
            scene.occluded(packet: packet, count: n, coherent: b > 0, in: scene.shadowScene)
            var blocked: UInt32 = 0
            for lane in 0..<n where packet.occluded(lane) { blocked |= 1 << UInt32(lane) }
            // Blocked rays in a scene with strands: a second query, against the head mesh and
            // opaque accessories, tells strands (partial transmittance) from those (none). Blocked lanes are
            // compacted into the packet's first lanes, in order.
            var throughStrands: UInt32 = 0
            if blocked != 0 && scene.hasShadowingStrands {
                var m = 0
                for lane in 0..<n where blocked & (1 << UInt32(lane)) != 0 {
                    let k = base + lane
                    packet.setShadow(m, origin: origin[k], direction: direction[k], near: near[k], far: far[k], mask: opaque)
                    m += 1
                }
                scene.occluded(packet: packet, count: m, coherent: b > 0, in: scene.opaqueScene)
                m = 0
                for lane in 0..<n where blocked & (1 << UInt32(lane)) != 0 {
                    if !packet.occluded(m) { throughStrands |= 1 << UInt32(lane) }
                    m += 1
                }
            }
            // Environment rays carry the smooth environment's radiance (16 at once).
            if b == 0 { surfaces.environmentRadiance(lighting.environment, direction + base, count: n) }
            for lane in 0..<n {
                let bit: UInt32 = 1 << UInt32(lane), k = base + lane
                let tr: Float
                if blocked & bit == 0 { tr = 1 } else if throughStrands & bit != 0 { tr = scene.strandTransmittance } else { continue }
                let w = b == 0 ? weight[k] * surfaces.read3(.er, lane) : weight[k]
                out[Int(sample[k])] += tr * w
            }
        }
    }
}

extension RayPacket {
    /// Sets lane `lane` as an occlusion ray (RTCRay16 layout: the first 12 fields).
    @inline(__always) func setShadow(_ lane: Int, origin o: SIMD3<Float>, direction d: SIMD3<Float>, near: Float, far: Float, mask: UInt32) {
        f[lane] = o.x; f[16 + lane] = o.y; f[32 + lane] = o.z; f[48 + lane] = near
        f[64 + lane] = d.x; f[80 + lane] = d.y; f[96 + lane] = d.z; f[112 + lane] = 0; f[128 + lane] = far
        u[144 + lane] = mask; u[160 + lane] = 0; u[176 + lane] = 0
    }

    /// After `rtcOccluded16`: Embree sets tfar to −∞ on blocked lanes.
    @inline(__always) func occluded(_ lane: Int) -> Bool { f[128 + lane] < 0 }
}

extension HeadScene {
    /// Occlusion of the first `count` lanes of `packet` (`rtcOccluded16`).
    @inline(__always)
    func occluded(packet: RayPacket, count: Int, coherent: Bool, in target: RTCScene) {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        if coherent { context.flags = RTC_INTERSECT_CONTEXT_FLAG_COHERENT }
        for lane in 0..<RayPacket.width { packet.valid[lane] = lane < count ? -1 : 0 }
        rtcOccluded16(packet.valid, target, &context, OpaquePointer(packet.raw))
    }
}
