import _CEmbree
import Geometry

/// The head-mesh samples of one camera packet in struct-of-arrays form, so that their light loop
/// runs on 16 lanes at once (as scalar code, one sample at a time, it was a third of a render).
/// `Integrator.queueSurface` fills one lane per shaded sample with what the loops read; before
/// the packet's occlusion rays are traced, `queueEnvironment` draws each lane's cosine-weighted
/// environment ray and `queueLights` evaluates every light for every lane —
/// a point on the light's sphere, wrapped per-channel diffuse + GGX — and queues the shadow rays
/// (after Russian roulette, per lane) into the light's batch, exactly as the scalar loop did.
/// Each lane draws from its own random stream, seeded from the pixel's stream when it is set.
final class SurfaceLanes {
    typealias Lanes = SIMD16<Float>
    static let width = 16

    /// Lanes holding a sample (bit `lane`).
    var mask: UInt32 = 0
    /// Lanes whose environment reflection (rough lobes) is still to be added.
    var reflecting: UInt32 = 0
    /// [field][16] inputs (`Field`), then [output][16] the last light's results.
    let buffer: UnsafeMutablePointer<Float>
    /// [16] per-lane random streams.
    let rng = UnsafeMutablePointer<SplitMix64>.allocate(capacity: SurfaceLanes.width)

    enum Field: Int, CaseIterable {
        case px, py, pz          // shading position (world)
        case nx, ny, nz          // shading normal, pore noise included
        case vx, vy, vz          // unit vector toward the camera
        case ox, oy, oz          // shadow-ray origin
        case gx, gy, gz          // geometric normal
        case ar, ag, ab          // albedo
        case wr, wg, wb          // diffuse wrap per channel
        case sr, sg, sb          // 1 / (1 + wrap)
        case specular            // GGX weight
        case a2                  // α²
        case viewTerm            // n·v + √(α² + (1 − α²)(n·v)²) (`Integrator.GGX`)
        // The environment ray: direction.
        case dx, dy, dz
        // Per light: the random numbers of the point on it; its direction, distance, and
        // radiance if unblocked.
        case u1, u2, lx, ly, lz, far, cr, cg, cb
        // Rough environment reflection: mirror direction, weight specular · Fresnel.
        case rx, ry, rz, rw
        // Environment rays of a batch: direction, then `Environment.smoothRadiance`.
        case ex, ey, ez, er, eg, eb
    }

    init() {
        let bytes = Field.allCases.count * SurfaceLanes.width * MemoryLayout<Float>.stride
        buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: bytes / 4)
        buffer.initialize(repeating: 0, count: bytes / 4)
    }

    deinit { UnsafeMutableRawPointer(buffer).deallocate(); rng.deallocate() }

    @inline(__always) func write(_ f: Field, _ lane: Int, _ value: Float) { buffer[f.rawValue * SurfaceLanes.width + lane] = value }
    @inline(__always) func read(_ f: Field, _ lane: Int) -> Float { buffer[f.rawValue * SurfaceLanes.width + lane] }
    @inline(__always) func load(_ f: Field) -> Lanes {
        UnsafeRawPointer(buffer + f.rawValue * SurfaceLanes.width).load(as: Lanes.self)
    }
    @inline(__always) func store(_ f: Field, _ v: Lanes) {
        UnsafeMutableRawPointer(buffer + f.rawValue * SurfaceLanes.width).storeBytes(of: v, as: Lanes.self)
    }
    @inline(__always) func write3(_ x: Field, _ lane: Int, _ v: SIMD3<Float>) {
        buffer[x.rawValue * SurfaceLanes.width + lane] = v.x
        buffer[(x.rawValue + 1) * SurfaceLanes.width + lane] = v.y
        buffer[(x.rawValue + 2) * SurfaceLanes.width + lane] = v.z
    }
    @inline(__always) func read3(_ x: Field, _ lane: Int) -> SIMD3<Float> {
        SIMD3(read(x, lane), buffer[(x.rawValue + 1) * SurfaceLanes.width + lane], buffer[(x.rawValue + 2) * SurfaceLanes.width + lane])
    }

    /// One `vsqrtps` (`headlab_sqrt16`).
    @inline(__always) func sqrt16(_ x: Lanes) -> Lanes { headlab_sqrt16(x) }

    /// Sets lane `lane` for the light loop. `specular` 0 turns GGX off for the sample.
    @inline(__always)
    func set(_ lane: Int, position p: SIMD3<Float>, normal n: SIMD3<Float>, geometricNormal g: SIMD3<Float>, view v: SIMD3<Float>,
             origin o: SIMD3<Float>, albedo: SIMD3<Float>, wrap: SIMD3<Float>, specular: Float, alpha: Float, seed: UInt64) {
        write3(.px, lane, p); write3(.nx, lane, n); write3(.gx, lane, g); write3(.vx, lane, v); write3(.ox, lane, o)
        write3(.ar, lane, albedo); write3(.wr, lane, wrap); write3(.sr, lane, 1 / (1 + wrap))
        let lobe = Integrator.GGX(normal: n, view: v, alpha: alpha)
        write(.specular, lane, specular); write(.a2, lane, lobe.a2); write(.viewTerm, lane, lobe.viewTerm)
        rng[lane] = SplitMix64(seed: seed)
        mask |= 1 << UInt32(lane)
    }

    /// Lane `lane` reflects the environment's smooth part about `direction` (unit) with weight
    /// `weight` (specular · Fresnel), clamped as a rough lobe sees it (`addReflections`).
    @inline(__always) func setReflection(_ lane: Int, direction: SIMD3<Float>, weight: Float) {
        write3(.rx, lane, direction); write(.rw, lane, weight)
        reflecting |= 1 << UInt32(lane)
    }

    /// Adds each reflecting lane's `weight · 0.35 · min(L_smooth(r), 1.5)` to `out[lane]`: a rough
    /// lobe sees a blurred environment, so sharp sources (sun, softboxes) are clamped that would
    /// otherwise turn pore-scale normal noise into fireflies. Clears the lanes.
    func addReflections(_ environment: Environment, into out: UnsafeMutablePointer<SIMD3<Float>>) {
        defer { reflecting = 0 }
        guard reflecting != 0 else { return }
        var (r, g, b) = environment.smoothRadiance(load(.rx), load(.ry), load(.rz))
        let w = load(.rw) * 0.35
        r = r.replacing(with: 1.5, where: r .> 1.5) * w
        g = g.replacing(with: 1.5, where: g .> 1.5) * w
        b = b.replacing(with: 1.5, where: b .> 1.5) * w
        var bits = reflecting
        while bits != 0 {
            let lane = bits.trailingZeroBitCount
            bits &= bits - 1
            out[lane] += SIMD3(r[lane], g[lane], b[lane])
        }
    }

    /// `environment.smoothRadiance` of the first `count` of `directions`, into the `er`, `eg`, `eb` lanes.
    func environmentRadiance(_ environment: Environment, _ directions: UnsafePointer<SIMD3<Float>>, count: Int) {
        for lane in 0..<count { write3(.ex, lane, directions[lane]) }
        let (r, g, b) = environment.smoothRadiance(load(.ex), load(.ey), load(.ez))
        store(.er, r); store(.eg, g); store(.eb, b)
    }

    /// Two uniforms per lane from the lane's stream (u₁ then u₂), returned as u₁, cos 2πu₂ and
    /// sin 2πu₂ (one polynomial cosine; the sine's sign from the half turn).
    @inline(__always) func drawAngles() -> (Lanes, Lanes, Lanes) {
        var bits = mask
        while bits != 0 {
            let lane = bits.trailingZeroBitCount
            bits &= bits - 1
            write(.u1, lane, rng[lane].uniform()); write(.u2, lane, rng[lane].uniform())
        }
        let u1 = load(.u1), u2 = load(.u2)
        let c = fastCosTwoPi(u2)
        let s = sqrt16((1 - c * c).replacing(with: 0, where: c * c .> 1))
        return (u1, c, s.replacing(with: -s, where: u2 .>= 0.5))
    }

    /// Queues every lane's environment ray into batch 0 of `shadows`: a cosine-weighted direction
    /// about the shading normal (pdf cos/π cancels the Lambert cos/π, so the weight is the albedo),
    /// `t·r cos φ + b·r sin φ + n·√(1 − u₁)` with r = √u₁, φ = 2πu₂ and (t, b, n) Duff et al.'s
    /// branchless frame, dropped when it points below the geometric surface. Call before
    /// `queueLights` (each lane's draws come in that order).
    func queueEnvironment(into shadows: ShadowBatches) {
        guard mask != 0 else { return }
        let (u1, c, s) = drawAngles()
        let nx = load(.nx), ny = load(.ny), nz = load(.nz)
        let sign = Lanes(repeating: 1).replacing(with: -1, where: nz .< 0)
        let a = -1 / (sign + nz), b = nx * ny * a
        let tx = 1 + sign * nx * nx * a, ty = sign * b, tz = -sign * nx
        let bx = b, by = sign + ny * ny * a, bz = -ny
        let r = sqrt16(u1), h = sqrt16(1 - u1)
        let dx = tx * (r * c) + bx * (r * s) + nx * h
        let dy = ty * (r * c) + by * (r * s) + ny * h
        let dz = tz * (r * c) + bz * (r * s) + nz * h
        let above = dx * load(.gx) + dy * load(.gy) + dz * load(.gz)
        store(.dx, dx); store(.dy, dy); store(.dz, dz)
        var bits = mask
        while bits != 0 {
            let lane = bits.trailingZeroBitCount
            bits &= bits - 1
            if above[lane] > 0 {
                shadows.add(0, lane: lane, origin: read3(.ox, lane), direction: read3(.dx, lane), near: 0, far: .infinity, weight: read3(.ar, lane))
            }
        }
    }

    /// Queues the shadow ray of every lane toward every light into batch 1 + j of `shadows`,
    /// weighted by the radiance it carries if unblocked (`Integrator.queueSurface`'s formulas:
    /// wrapped diffuse `albedo/π · max(0, (n·l + w)/(1 + w))` for n·l > −0.4, plus
    /// `specular · f_GGX · n·l` for n·l > 0, times the light's irradiance `color / d²`, d² ≥ 1e-4).
    /// Clears the lanes.
    func queueLights(_ lights: [Light], into shadows: ShadowBatches) {
        defer { mask = 0 }
        guard mask != 0, !lights.isEmpty else { return }
        @_transparent func positive(_ v: Lanes) -> Lanes { v.replacing(with: 0, where: v .< 0) }
        let px = load(.px), py = load(.py), pz = load(.pz)
        let nx = load(.nx), ny = load(.ny), nz = load(.nz)
        let vx = load(.vx), vy = load(.vy), vz = load(.vz)
        let dr = load(.ar) * (1 / Float.pi), dg = load(.ag) * (1 / Float.pi), db = load(.ab) * (1 / Float.pi)   // albedo / π
        let wr = load(.wr), wg = load(.wg), wb = load(.wb)
        let sr = load(.sr), sg = load(.sg), sb = load(.sb)
        let specular = load(.specular), a2 = load(.a2), viewTerm = load(.viewTerm)
        for j in lights.indices {
            let light = lights[j]
            var qx = Lanes(repeating: light.position.x), qy = Lanes(repeating: light.position.y), qz = Lanes(repeating: light.position.z)
            if light.radius > 0 {
                // A uniform point on the light's sphere: z uniform in [−1, 1], azimuth 2πu₂.
                let (u1, c, s) = drawAngles()
                let z = 2 * u1 - 1
                let r = light.radius * sqrt16(positive(1 - z * z))
                qx += r * c; qy += r * s; qz += light.radius * z
            }
            let tx = qx - px, ty = qy - py, tz = qz - pz
            let dist = sqrt16(tx * tx + ty * ty + tz * tz), inverse = 1 / dist
            let lx = tx * inverse, ly = ty * inverse, lz = tz * inverse
            let ndl = nx * lx + ny * ly + nz * lz
            var falloff = inverse * inverse
            falloff = falloff.replacing(with: 1e4, where: falloff .> 1e4)
            let er = light.color.x * falloff, eg = light.color.y * falloff, eb = light.color.z * falloff
            var cr = dr * positive((ndl + wr) * sr) * er
            var cg = dg * positive((ndl + wg) * sg) * eg
            var cb = db * positive((ndl + wb) * sb) * eb
            // GGX (`Integrator.GGX.callAsFunction`), masked where n·l ≤ 0 or the sample has no lobe.
            let hx = vx + lx, hy = vy + ly, hz = vz + lz
            let hInverse = 1 / sqrt16(hx * hx + hy * hy + hz * hz)
            let ndh = positive((nx * hx + ny * hy + nz * hz) * hInverse)
            let vdh = positive((vx * hx + vy * hy + vz * hz) * hInverse)
            var cosL = ndl
            cosL = cosL.replacing(with: 1e-4, where: cosL .< 1e-4)
            let dDen = ndh * ndh * (a2 - 1) + 1
            let lightTerm = cosL + sqrt16(a2 + (1 - a2) * cosL * cosL)
            let k = 1 - vdh, k2 = k * k
            let fresnel = 0.028 + (1 - 0.028) * k2 * k2 * k
            var spec = specular * (a2 * fresnel / (Float.pi * dDen * dDen * viewTerm * lightTerm)) * ndl
            spec = spec.replacing(with: 0, where: (ndl .<= 0) .| (specular .<= 0))
            cr += spec * er; cg += spec * eg; cb += spec * eb
            store(.lx, lx); store(.ly, ly); store(.lz, lz); store(.far, dist)
            store(.cr, cr); store(.cg, cg); store(.cb, cb)
            var bits = mask
            while bits != 0 {
                let lane = bits.trailingZeroBitCount
                bits &= bits - 1
                if !(ndl[lane] > -0.4) { continue }
                if let w = Integrator.rouletteWeight(read3(.cr, lane), &rng[lane]) {
                    shadows.add(1 + j, lane: lane, origin: read3(.ox, lane), direction: read3(.lx, lane), near: 0, far: read(.far, lane), weight: w)
                }
            }
        }
    }
}

extension Environment {
    /// `smoothRadiance` of 16 unit directions (x, y, z), per channel: the vertical gradient plus
    /// the broad blobs' `color · max(0, d·b)^sharpness` (`fastPow`).
    @inline(__always)
    func smoothRadiance(_ x: SIMD16<Float>, _ y: SIMD16<Float>, _ z: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
        let down = y .< 0
        let height = y.replacing(with: -y, where: down)
        @inline(__always) func gradient(_ h: Float, _ t: Float, _ b: Float) -> SIMD16<Float> {
            h + (SIMD16(repeating: t).replacing(with: b, where: down) - h) * height
        }
        var r = gradient(horizon.x, top.x, bottom.x), g = gradient(horizon.y, top.y, bottom.y), b = gradient(horizon.z, top.z, bottom.z)
        for blob in blobs where blob.sharpness < Environment.sharpBlobThreshold {
            let k = x * blob.direction.x + y * blob.direction.y + z * blob.direction.z
            let lobe = fastPow(k, SIMD16(repeating: blob.sharpness))
            r += blob.color.x * lobe; g += blob.color.y * lobe; b += blob.color.z * lobe
        }
        return (r, g, b)
    }
}
