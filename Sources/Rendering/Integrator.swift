import _CEmbree
import Dispatch
import Geometry
import HeadModels

/// Renders a `HeadScene` into a `Film`: labels from the primary hit through each pixel centre,
/// RGB by Monte Carlo over `samplesPerPixel` jittered camera rays.
///
/// Shading per camera sample: one cosine-weighted environment sample with an occlusion ray
/// (ambient light and its shadowing), each light sampled on its sphere with a shadow ray, a
/// wrapped (per-channel) diffuse lobe standing in for subsurface scattering, and a GGX specular
/// lobe (Schlick Fresnel, F0 = 0.028 for skin) whose strength is the subject's oiliness.
/// Sharp environment blobs (suns, lamps; `Environment.sharpBlobThreshold`) are sampled like lights
/// (a direction ∝ their lobe, a shadow ray), so random directions see only the smooth rest: no
/// fireflies. Pore-scale normal noise is filtered to the pixel footprint and what the filter
/// removes widens the specular lobe (α² += the removed slope variance), so sub-pixel pores cannot
/// alias into sparkle either.
/// A pixel's samples are traced as 16-wide Embree packets, and so are their occlusion rays
/// (`ShadowBatches`); strand samples beyond `strandShadingBudget` per pixel reuse the mean of
/// the shaded ones. Every random number comes from a stream keyed by (seed, pixel), so the image is the same for
/// any number of threads.
public struct Integrator: Sendable {
    public var appearance: Appearance
    public var lighting: Lighting
    public var background: Background
    public var effects: CameraEffects
    public var settings: RenderSettings

    public init(appearance: Appearance, lighting: Lighting, background: Background, effects: CameraEffects, settings: RenderSettings) {
        self.appearance = appearance; self.lighting = lighting; self.background = background
        self.effects = effects; self.settings = settings
    }

    /// Renders every channel. `seed` keys all randomness of this image.
    public func render(_ scene: HeadScene, camera: Camera, seed: UInt64, into film: Film) {
        precondition(film.width == camera.width && film.height == camera.height, "film and camera sizes differ")
        let rowsPerBlock = 4
        let blocks = (film.height + rowsPerBlock - 1) / rowsPerBlock
        let cull = PixelCull(scene: scene, camera: camera, enabled: settings.pixelCulling)
        film.withChannels { channels in
            parallelFor(blocks, threads: settings.threads) { block in
                enableFlushToZero()
                let scratch = PixelScratch(lights: lighting.lights.count + sharpBlobs.count)
                for row in (block * rowsPerBlock)..<min(film.height, (block + 1) * rowsPerBlock) {
                    renderRow(row, scene: scene, camera: camera, seed: seed, film: channels, scratch: scratch, cull: cull)
                }
            }
        }
        finishImage(film, seed: seed)
    }

    /// Environment blobs sampled like lights (their shadow batches follow the lights').
    var sharpBlobs: [Environment.Blob] { lighting.environment.blobs.filter { $0.sharpness >= Environment.sharpBlobThreshold } }

    /// Strand hits shaded per pixel: once this many samples of a pixel have been shaded on
    /// strands, its further strand samples take their mean (0 = shade every sample). Strand
    /// samples cost an environment and a shadow ray per light through the hair volume; the
    /// pixel's coverage and its hair/skin mix still come from every sample.
    public static let strandShadingBudget = 4

    /// Per-worker buffers: the camera packet, the deferred occlusion rays, per-sample radiance.
    final class PixelScratch {
        let camera = RayPacket()
        let shadows: ShadowBatches
        let out = UnsafeMutablePointer<SIMD3<Float>>.allocate(capacity: RayPacket.width)
        let direction = UnsafeMutablePointer<SIMD3<Float>>.allocate(capacity: RayPacket.width)
        let kind = UnsafeMutablePointer<SampleKind>.allocate(capacity: RayPacket.width)
        /// [2][16] jittered stratum coordinates of a camera packet (x then y), 64-byte aligned.
        let stratum = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 64).bindMemory(to: Float.self, capacity: 32)
        init(lights: Int) { shadows = ShadowBatches(lights: lights); stratum.initialize(repeating: 0, count: 32) }
        deinit { out.deallocate(); direction.deallocate(); kind.deallocate(); UnsafeMutableRawPointer(stratum).deallocate() }

        /// Sets camera rays `first ..< first + count` of pixel (x, y) of a pinhole camera as the
        /// packet's lanes and `direction`: sample s sits in stratum (s mod n, s div n mod n) of the
        /// n × n grid, jittered by two draws of `jitter` (x then y, lane by lane, as the scalar
        /// path draws them); directions `normalize(R (u, v, 1))`, 16 lanes at once.
        func pinholeRays(x: Int, y: Int, first: Int, count: Int, strata: Int, camera: Camera, origin o: SIMD3<Float>, rotation r: Mat3,
                         jitter: inout SplitMix64) {
            typealias Lanes = SIMD16<Float>
            // Scalars go through memory: inserting into a SIMD16 at a variable lane compiles to a
            // compare-and-blend over all 16 lanes.
            let n = Float(strata)
            for lane in 0..<count {
                let s = first + lane
                stratum[lane] = Float(s % strata) + jitter.uniform()
                stratum[16 + lane] = Float(s / strata % strata) + jitter.uniform()
            }
            let sx = UnsafeRawPointer(stratum).load(as: Lanes.self), sy = UnsafeRawPointer(stratum + 16).load(as: Lanes.self)
            let u = (sx * (1 / n) + (Float(x) - camera.cx)) * (1 / camera.fx)
            let v = (sy * (1 / n) + (Float(y) - camera.cy)) * (1 / camera.fy)
            let dx = r.c0.x * u + r.c1.x * v + r.c2.x, dy = r.c0.y * u + r.c1.y * v + r.c2.y, dz = r.c0.z * u + r.c1.z * v + r.c2.z
            let inverse = 1 / headlab_sqrt16(dx * dx + dy * dy + dz * dz)
            let ex = dx * inverse, ey = dy * inverse, ez = dz * inverse
            self.camera.storeRays(origin: o, x: ex, y: ey, z: ez)
            for lane in 0..<count { direction[lane] = SIMD3(ex[lane], ey[lane], ez[lane]) }
        }
    }

    enum SampleKind: UInt8 { case background, surface, surfaceReused, accessory, strand, strandReused }

    /// The order in which a pixel's head samples are shaded when `RenderSettings.shadingSamples`
    /// caps them: lane s sits in stratum (s mod 4, s div 4) of a 16-sample pixel, and every prefix
    /// of this order is spread over the pixel (the first 4 a 2 × 2 lattice, the first 8 a checkerboard),
    /// so the shaded samples' mean estimates the whole pixel, not its top rows.
    static let shadingOrder: [Int] = [0, 10, 2, 8, 5, 15, 7, 13, 1, 11, 3, 9, 4, 14, 6, 12]

    func renderRow(_ y: Int, scene: HeadScene, camera: Camera, seed: UInt64, film: FilmChannels, scratch: PixelScratch, cull: PixelCull) {
        film.clearLabels(row: y)
        let w2c = camera.worldToCamera.rotation
        let c2w = camera.cameraToWorld
        let spp = max(1, settings.samplesPerPixel)
        let strata = Int(Float(spp).squareRoot().rounded(.up))
        let pixelSeed = SplitMix64(seed: seed)
        let packet = scratch.camera, out = scratch.out, directions = scratch.direction, kinds = scratch.kind
        let budget = Integrator.strandShadingBudget
        let surfaceBudget = settings.shadingSamples >= spp ? 0 : max(0, settings.shadingSamples)
        let width = film.width
        let pixelAngle = 1 / max(camera.fx, 1e-6)   // radians per pixel (footprint = distance · this)
        let blobs = sharpBlobs
        for x in 0..<width {
            let i = y * width + x
            // Labels: the ray through the pixel centre.
            let (o, d) = camera.ray(u: Float(x) + 0.5, v: Float(y) + 0.5)
            // Pixels no sample ray of which can reach the scene skip Embree (`PixelCull`).
            let traced = cull.mayHit(x: x, y: y, direction: d)
            let first: HeadScene.Hit? = !traced ? nil : scene.hasStrands || scene.hasAccessories ? scene.trace(origin: o, direction: d)
                : scene.intersect(origin: o, direction: d).map { .head($0) }
            var amodal: HeadScene.SurfaceHit? = nil
            // What every front surface writes: foreground, its class, normals and depth.
            @inline(__always) func front(_ cls: UInt8, normal n: SIMD3<Float>, position p: SIMD3<Float>) {
                film.foreground[i] = 1
                film.segmentation[i] = cls
                let nc = w2c * n, nm = scene.modelRotation * n
                for k in 0..<3 { film.normalsCamera[3 * i + k] = nc[k]; film.normalsModel[3 * i + k] = nm[k] }
                film.depth[i] = camera.worldToCamera.apply(p).z
            }
            switch first {
            case .head(let hit)?:
                let cls = SegmentationClass(rawValue: scene.labels.faceClass[hit.face]) ?? .ignore
                front(cls.rawValue, normal: hit.normal, position: hit.position)
                film.skinVisible[i] = cls.isSkin ? 1 : 0
                film.uv[2 * i] = hit.uv.x; film.uv[2 * i + 1] = hit.uv.y
                film.triangle[i] = Int32(hit.face)
                film.barycentric[2 * i] = hit.barycentric.y; film.barycentric[2 * i + 1] = hit.barycentric.z
                amodal = hit
            case .strand(let s)?:
                // A strand in front: its class, normal and depth; no face (triangle -1, UV 0).
                front(s.segmentationClass, normal: s.normal, position: s.position)
                // Amodal: the same ray through the head mesh only (strand layers masked out).
                amodal = scene.intersect(origin: o, direction: d)
            case .accessory(let a)?:
                // An accessory in front (a lens too: labelled glasses); amodal sees through it.
                front(a.segmentationClass, normal: a.normal, position: a.position)
                amodal = scene.intersect(origin: o, direction: d)
            case nil:
                break
            }
            if let a = amodal {
                film.skinAmodal[i] = scene.labels.faceIsSkin[a.face] ? 1 : 0
                let nc = w2c * a.normal
                for k in 0..<3 { film.normalsAmodal[3 * i + k] = nc[k] }
                film.uvAmodal[2 * i] = a.uv.x; film.uvAmodal[2 * i + 1] = a.uv.y
            }
            // RGB: stratified jittered samples.
            var rng = pixelSeed.derive(UInt64(i))
            var sum = SIMD3<Float>.zero
            var hits = 0
            var layerHits = SIMD4<Int32>.zero   // samples whose first hit is hair, beard, eyebrows, eyelashes
            var strandShaded = 0, strandSum = SIMD3<Float>.zero
            var surfaceShaded = 0, surfaceSum = SIMD3<Float>.zero
            var accessoryHits = SIMD4<Int32>.zero   // … glasses, headwear, facewear, clothing (AccessoryLayer)
            // Albedo noise varies on a scale of millimetres: one material per pixel and surface
            // kind serves all its samples (irises are recomputed: the pupil edge is sharp).
            var cached: (kind: UInt8, material: Material)? = nil
            var pixelBackground: SIMD3<Float>? = nil
            // Camera rays go to Embree as 16-wide packets (coherent: one pixel's samples), and so
            // do their occlusion rays (`ShadowBatches`): each packet is traced, its samples queue
            // their environment and light rays, the batches are traced, then the samples summed.
            var jitter = rng.derive(0x717)
            var s0 = 0
            if !traced && background.kind != .environment {
                // Every sample is the pixel's background, which does not depend on the direction.
                let c = backgroundRadiance(u: (Float(x) + 0.5) / Float(width), v: (Float(y) + 0.5) / Float(film.height), direction: d)
                for _ in 0..<spp { sum += c }   // summed like traced samples: the same bits
                s0 = spp
            }
            while s0 < spp {
                let count = min(RayPacket.width, spp - s0)
                let origin = c2w.translation
                if camera.hasDistortion {
                    for lane in 0..<count {
                        let s = s0 + lane
                        let sx = (Float(s % strata) + jitter.uniform()) / Float(strata)
                        let sy = (Float(s / strata % strata) + jitter.uniform()) / Float(strata)
                        // `camera.ray` with the camera-to-world transform hoisted out of the loop.
                        let n = camera.undistort(SIMD2((Float(x) + sx - camera.cx) / camera.fx, (Float(y) + sy - camera.cy) / camera.fy))
                        let rd = normalize(c2w.rotation * SIMD3(n.x, n.y, 1))
                        directions[lane] = rd
                        packet.set(lane, origin: origin, direction: rd)
                    }
                } else {
                    // A pinhole camera: the packet's directions 16 at a time (the same jitter draws).
                    scratch.pinholeRays(x: x, y: y, first: s0, count: count, strata: strata, camera: camera, origin: origin,
                                        rotation: c2w.rotation, jitter: &jitter)
                }
                if traced { scene.intersect(packet: packet, count: count) } else { packet.prepare(count: count) }
                scratch.shadows.reset()
                // Head samples to shade: all of them, or `shadingSamples` spread over the pixel.
                var shade = UInt32.max
                if surfaceBudget > 0 && traced {
                    var head: UInt32 = 0
                    for lane in 0..<count where packet.hit(lane) && packet.geometry(lane) == 0 { head |= 1 << UInt32(lane) }
                    let room = surfaceBudget - surfaceShaded
                    if head.nonzeroBitCount > room {
                        shade = 0
                        var n = 0
                        for lane in Integrator.shadingOrder where n < room && lane < count && head & (1 << UInt32(lane)) != 0 {
                            shade |= 1 << UInt32(lane); n += 1
                        }
                    }
                }
                for lane in 0..<count {
                    let rd = directions[lane]
                    out[lane] = .zero
                    if packet.hit(lane) && packet.geometry(lane) >= AccessoryLayer.firstGeometryID {
                        // Accessories shade at once (their few occlusion rays are not batched);
                        // clamped like head surfaces.
                        let (bu, bv) = packet.uv(lane)
                        let ah = scene.resolveAccessory(geometry: packet.geometry(lane), primitive: packet.primitive(lane), u: bu, v: bv,
                                                        distance: packet.distance(lane), geometricNormal: packet.geometricNormal(lane),
                                                        origin: origin, direction: rd)
                        let px = (Float(x) + 0.5) / Float(width), py = (Float(y) + 0.5) / Float(film.height)
                        out[lane] = shadeAccessory(ah, direction: rd, scene: scene, rng: &rng,
                                                   miss: { backgroundRadiance(u: px, v: py, direction: $0) })
                        kinds[lane] = .accessory
                        hits += 1
                        accessoryHits[ah.layer.rawValue] += 1
                    } else if packet.hit(lane) && packet.geometry(lane) != 0 {
                        let geometry = packet.geometry(lane)
                        hits += 1
                        layerHits[Int(geometry) - 1] += 1
                        if budget > 0 && strandShaded >= budget { kinds[lane] = .strandReused; continue }
                        let (bu, _) = packet.uv(lane)
                        let sh = scene.resolveStrand(geometry: geometry, primitive: packet.primitive(lane), u: bu, distance: packet.distance(lane),
                                                     origin: origin, direction: rd)
                        kinds[lane] = .strand
                        strandShaded += 1
                        out[lane] = queueStrand(sh, direction: rd, lane: lane, blobs: blobs, shadows: scratch.shadows, rng: &rng)
                    } else if packet.hit(lane) && shade & (1 << UInt32(lane)) == 0 {
                        kinds[lane] = .surfaceReused
                        hits += 1
                    } else if packet.hit(lane) {
                        let (bu, bv) = packet.uv(lane)
                        let hit = scene.resolve(primitive: packet.primitive(lane), u: bu, v: bv, distance: packet.distance(lane),
                                                geometricNormal: packet.geometricNormal(lane), origin: origin, direction: rd)
                        let kind = scene.labels.faceKind[hit.face]
                        let m: Material
                        if let c = cached, c.kind == kind, kind != SurfaceKind.iris.rawValue { m = c.material } else {
                            m = material(hit, scene: scene); cached = (kind, m)
                        }
                        kinds[lane] = .surface
                        hits += 1
                        out[lane] = queueSurface(hit, material: m, direction: rd, lane: lane, scene: scene, footprint: hit.distance * pixelAngle,
                                                 blobs: blobs, shadows: scratch.shadows, rng: &rng)
                    } else {
                        kinds[lane] = .background
                        if background.kind != .environment {
                            // The background is smooth at pixel scale: evaluate it once per pixel.
                            if pixelBackground == nil {
                                pixelBackground = backgroundRadiance(u: (Float(x) + 0.5) / Float(width), v: (Float(y) + 0.5) / Float(film.height), direction: rd)
                            }
                            out[lane] = pixelBackground!
                        } else {
                            out[lane] = lighting.environment.radiance(rd)
                        }
                    }
                }
                scratch.shadows.resolve(scene: scene, lighting: lighting, into: out)
                for lane in 0..<count {
                    switch kinds[lane] {
                    case .background: sum += out[lane]
                    // Clamp single-sample outliers (specular glints off pore-scale normals): a
                    // small bias that keeps 16-spp images free of fireflies.
                    case .accessory: sum += pointwiseMin(out[lane], SIMD3(repeating: 3))
                    case .surface:
                        let c = pointwiseMin(out[lane], SIMD3(repeating: 3))
                        sum += c; surfaceSum += c; surfaceShaded += 1
                    case .surfaceReused: break
                    case .strand:
                        let c = pointwiseMin(out[lane], SIMD3(repeating: 3))
                        sum += c; strandSum += c
                    case .strandReused: break
                    }
                }
                for lane in 0..<count where kinds[lane] == .strandReused { sum += strandSum / Float(strandShaded) }
                for lane in 0..<count where kinds[lane] == .surfaceReused { sum += surfaceSum / Float(surfaceShaded) }
                s0 += count
            }
            let c = sum / Float(spp)
            film.radiance[3 * i] = c.x; film.radiance[3 * i + 1] = c.y; film.radiance[3 * i + 2] = c.z
            film.coverage[i] = UInt8((Float(hits) / Float(spp) * 255).rounded())
            if layerHits != .zero {
                film.hairCoverage[i] = UInt8((Float(layerHits[0]) / Float(spp) * 255).rounded())
                film.beardCoverage[i] = UInt8((Float(layerHits[1]) / Float(spp) * 255).rounded())
                film.eyebrowsCoverage[i] = UInt8((Float(layerHits[2]) / Float(spp) * 255).rounded())
                film.eyelashesCoverage[i] = UInt8((Float(layerHits[3]) / Float(spp) * 255).rounded())
            }
            if accessoryHits != .zero {
                for l in 0..<AccessoryLayer.allCases.count {
                    film.accessoryCoverage[l * film.width * film.height + i] = UInt8((Float(accessoryHits[l]) / Float(spp) * 255).rounded())
                }
            }
        }
    }

    // MARK: Materials

    struct Material {
        var albedo: SIMD3<Float>
        var specular: Float        // weight of the GGX lobe
        var alpha: Float           // GGX roughness α
        var wrap: SIMD3<Float>     // diffuse wrap per channel (subsurface stand-in)
    }

    func material(_ hit: HeadScene.SurfaceHit, scene: HeadScene) -> Material {
        let a = appearance
        if let albedo = a.albedoOverride { return Material(albedo: albedo, specular: 0, alpha: 1, wrap: .zero) }
        let kind = SurfaceKind(rawValue: scene.labels.faceKind[hit.face]) ?? .skin
        let noise = ValueNoise(seed: a.noiseSeed)
        let p = SIMD3(hit.uv.x, hit.uv.y, 0.37)
        switch kind {
        case .skin, .lip, .brow:
            let blotch = (noise.fbm(p * 9, octaves: 3) - 0.5) * a.blotchiness
            var extraM = blotch * 0.25, extraH = blotch * 0.02
            if a.freckles > 0 {
                let f = noise(p * 120 + SIMD3(0, 0, 11))
                if f > 1 - 0.12 * a.freckles { extraM += 0.25 * a.freckles }
            }
            if kind == .lip { extraH += 0.05 + 0.08 * a.redness; extraM -= 0.03 }
            var albedo = a.skinAlbedo(extraMelanin: extraM, extraHemoglobin: extraH)
            if kind == .brow {
                let k: Float = scene.labels.strandBrows ? 0.3 : 0.65
                albedo = albedo * (1 - k) + a.browColor * k
            }
            return Material(albedo: albedo, specular: kind == .lip ? 0.5 + 0.5 * a.oiliness : a.oiliness,
                            alpha: kind == .lip ? 0.25 : a.roughness, wrap: SIMD3(0.35, 0.18, 0.12))
        case .sclera:
            return Material(albedo: SIMD3(0.78, 0.74, 0.70), specular: 1, alpha: 0.05, wrap: SIMD3(0.1, 0.1, 0.1))
        case .iris:
            var albedo = a.irisColor * (0.7 + 0.6 * noise(p * 400))
            let e = scene.eyeCentres, axes = scene.eyeAxes
            let side = length(hit.position - e[0]) < length(hit.position - e[1]) ? 0 : 1
            let cosAngle = dot(normalize(hit.position - e[side]), axes[side])
            if cosAngle > cos(a.pupilAngle) { albedo = SIMD3(0.01, 0.01, 0.01) }
            return Material(albedo: albedo, specular: 1, alpha: 0.04, wrap: .zero)
        case .teeth:
            return Material(albedo: SIMD3(0.80, 0.76, 0.64), specular: 0.4, alpha: 0.2, wrap: SIMD3(0.2, 0.2, 0.2))
        case .mouth:
            return Material(albedo: SIMD3(0.32, 0.07, 0.07), specular: 0.3, alpha: 0.3, wrap: SIMD3(0.3, 0.1, 0.1))
        case .eyelash:
            return Material(albedo: a.browColor * 0.5, specular: 0.2, alpha: 0.3, wrap: .zero)
        }
    }

    /// Pore noise: value noise of period `poreSize` (metres), normal tilt `poreTilt · strength`.
    static let poreSize: Float = 1 / 1800, poreTilt: Float = 0.03

    /// Starts shading a head-mesh sample: returns the unshadowed part of its radiance (a mirror
    /// surface's environment reflection) and queues its occlusion rays with the radiance each
    /// carries: one per sharp blob here, and — through `shadows.surfaces`, 16 samples at once when
    /// the batches are resolved — a cosine-weighted environment direction (weight: the albedo),
    /// a point on each light's sphere (wrapped per-channel diffuse + GGX) and a rough lobe's
    /// environment reflection. Random numbers are drawn in a fixed order per sample (the
    /// environment's and lights' from a stream of the sample's own, seeded here).
    @inline(__always)
    func queueSurface(_ hit: HeadScene.SurfaceHit, material m0: Material, direction: SIMD3<Float>, lane: Int, scene: HeadScene,
                      footprint: Float = 0, blobs: [Environment.Blob] = [], shadows: ShadowBatches, rng: inout SplitMix64) -> SIMD3<Float> {
        var n = hit.normal
        var m = m0
        let kind = SurfaceKind(rawValue: scene.labels.faceKind[hit.face]) ?? .skin
        if appearance.poreStrength > 0 && appearance.albedoOverride == nil && (kind == .skin || kind == .lip) {
            // Pore-scale normal noise: a 3-vector value noise in [-0.5, 0.5]³ of period `poreSize`.
            // Box-filtering noise of period λ over a footprint w keeps ≈ 1/√(1 + (w/λ)²) of its
            // amplitude; the removed slope variance (value noise: ≈ 1/20 per axis) goes into α².
            let amplitude = Integrator.poreTilt * appearance.poreStrength
            let ratio = footprint / Integrator.poreSize
            let keep = 1 / (1 + ratio * ratio).squareRoot()
            if keep > 0.05 {
                let g = ValueNoise(seed: appearance.noiseSeed &+ 1).vector(hit.position * (1 / Integrator.poreSize)) - 0.5
                n = normalize(n + amplitude * keep * g)
            }
            m.alpha = (m.alpha * m.alpha + 2 * amplitude * amplitude / 20 * (1 - keep * keep)).squareRoot()
        }
        let v = -direction
        let origin = scene.shadowOrigin(hit) + hit.geometricNormal * 1e-5
        var out = SIMD3<Float>.zero

        // Environment (one cosine-weighted direction, shadowed) and lights (a point on each
        // light's sphere, wrapped diffuse + GGX): 16 samples at once (`SurfaceLanes`) when the
        // packet's batches are resolved.
        shadows.surfaces.set(lane, position: hit.position, normal: n, geometricNormal: hit.geometricNormal, view: v, origin: origin,
                             albedo: m.albedo, wrap: m.wrap, specular: m.specular, alpha: m.alpha, seed: rng.next())
        let ndv = dot(v, n)
        // Environment reflection for glossy surfaces (cornea, oily skin), unshadowed.
        if m.specular > 0 {
            let refl = 2 * ndv * n - v
            // Mirror-like surfaces (cornea, sclera) reflect the whole environment, sharp blobs
            // included (the catch light); rough ones see the smooth part, clamped
            // (`SurfaceLanes.addReflections`, 16 samples at once), their sharp-blob highlights
            // come from the sampled blobs below.
            if m.alpha < 0.1 {
                out += m.specular * fresnel(max(0, ndv)) * lighting.environment.radiance(refl)
            } else {
                shadows.surfaces.setReflection(lane, direction: refl, weight: m.specular * fresnel(max(0, ndv)))
            }
        }
        // Per-sample constants of the light loops: wrapped diffuse = albedo/π · max(0, (n·l + w)/(1 + w)).
        let diffuse = m.albedo * (1 / Float.pi), wrapScale = 1 / (1 + m.wrap)
        let lobe = GGX(normal: n, view: v, alpha: m.alpha)
        @inline(__always) func wrapped(_ ndl: Float) -> SIMD3<Float> {
            let w = (SIMD3(repeating: ndl) + m.wrap) * wrapScale
            return w.replacing(with: 0, where: w .< 0)
        }
        // Sharp blobs: a direction from the blob's lobe, a shadow ray, wrapped diffuse + GGX.
        let lightCount = lighting.lights.count
        for k in blobs.indices {
            let blob = blobs[k]
            let l = Environment.sampleBlob(blob, rng.uniform(), rng.uniform())
            let ndl = dot(n, l)
            if ndl <= -0.4 { continue }
            let e = Environment.blobPower(blob)
            var c = diffuse * wrapped(ndl) * e
            if ndl > 0 && m.specular > 0 && m.alpha >= 0.1 { c += m.specular * lobe(l, ndl: ndl) * ndl * e }
            if let w = Integrator.rouletteWeight(c, &rng) { shadows.add(1 + lightCount + k, lane: lane, origin: origin, direction: l, near: 0, far: .infinity, weight: w) }
        }
        return out
    }

    /// Russian roulette for shadow rays that carry little light: a ray whose unshadowed radiance
    /// `c` has luminance Y below `rouletteThreshold` is traced with probability Y / threshold and
    /// its weight divided by that, so the estimate stays unbiased and the noise a culled ray adds is
    /// at most the threshold. Returns nil for rays not traced.
    @inline(__always) static func rouletteWeight(_ c: SIMD3<Float>, _ rng: inout SplitMix64) -> SIMD3<Float>? {
        let y = 0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z
        if y >= rouletteThreshold { return c }
        if !(y > 0) { return c == .zero ? nil : c }
        let q = y / rouletteThreshold
        return rng.uniform() < q ? c / q : nil
    }

    /// Linear radiance; skin under the key light is about 0.2–0.6.
    static let rouletteThreshold: Float = 0.02

    /// The GGX microfacet BRDF `D G F / (4 (n·l)(n·v))` of one shading point, with the terms that
    /// do not depend on the light computed once. Smith's separable G with
    /// G₁(c) = 2c / (c + √(α² + (1 − α²) c²)) cancels the 4 (n·l)(n·v):
    /// f = α² F / (π [(n·h)² (α² − 1) + 1]² (n·v + s_v)(n·l + s_l)), one division per light.
    struct GGX {
        let n: SIMD3<Float>, v: SIMD3<Float>, a2: Float, viewTerm: Float

        @inline(__always) init(normal n: SIMD3<Float>, view v: SIMD3<Float>, alpha: Float) {
            self.n = n; self.v = v; a2 = alpha * alpha
            let ndv = max(1e-4, dot(n, v))
            viewTerm = ndv + (a2 + (1 - a2) * ndv * ndv).squareRoot()
        }

        /// f(l); `ndl` = n·l.
        @inline(__always) func callAsFunction(_ l: SIMD3<Float>, ndl: Float) -> Float {
            let h = normalize(v + l)
            let ndh = max(0, dot(n, h)), c = max(1e-4, ndl)
            let dDen = ndh * ndh * (a2 - 1) + 1
            let lightTerm = c + (a2 + (1 - a2) * c * c).squareRoot()
            return a2 * Integrator.schlick(max(0, dot(v, h))) / (Float.pi * dDen * dDen * viewTerm * lightTerm)
        }
    }

    /// Kajiya–Kay fibre response for light from `l` seen from `v`: a diffuse lobe ∝ sin(T, L) and
    /// two specular cones about tangents shifted toward the root (white, sharp) and the tip
    /// (coloured, broad), standing in for Marschner's R and TRT lobes.
    /// `specular` scales both cones: 1 for scalp hair; short facial strands (brows, lashes, beards)
    /// lie along the skin, where T ⟂ H for a frontal light and every strand would glint at once.
    @inline(__always) func kajiyaKay(tangent t: SIMD3<Float>, normal n: SIMD3<Float>, v: SIMD3<Float>, l: SIMD3<Float>, albedo: SIMD3<Float>,
                                     specular: Float = 1) -> SIMD3<Float> {
        let tl = dot(t, l)
        let sinTL = max(0, 1 - tl * tl).squareRoot()
        let h = normalize(v + l)
        let t1 = normalize(t - 0.08 * n), t2 = normalize(t + 0.12 * n)
        let d1 = dot(t1, h), d2 = dot(t2, h)
        let s1 = pow(max(0, 1 - d1 * d1).squareRoot(), 90), s2 = pow(max(0, 1 - d2 * d2).squareRoot(), 22)
        return albedo / Float.pi * sinTL + specular * (SIMD3(repeating: 0.045 * s1 * 92 / (2 * Float.pi)) * sinTL
            + albedo * (0.07 * s2 * 24 / (2 * Float.pi)) * sinTL)
    }

    /// Starts shading a strand sample like `queueSurface`: one uniform environment direction
    /// and every light, each with a shadow ray that other strands attenuate
    /// (`HeadScene.transmittance`); returns the unshadowed environment specular.
    @inline(__always)
    func queueStrand(_ h: HeadScene.StrandHit, direction: SIMD3<Float>, lane: Int, blobs: [Environment.Blob] = [], shadows: ShadowBatches,
                     rng: inout SplitMix64) -> SIMD3<Float> {
        let albedo = appearance.albedoOverride ?? h.color
        let specular: Float = h.layer == .hair ? 1 : 0.3
        let v = -direction, origin = h.position + h.normal * 5e-5
        var out = SIMD3<Float>.zero
        let z = 2 * rng.uniform() - 1, (ca, sa) = cosSinTwoPi(rng.uniform()), s = max(0, 1 - z * z).squareRoot()
        let w = SIMD3(s * ca, s * sa, z)
        let tl = dot(h.tangent, w)
        // Uniform-sphere estimator of the diffuse lobe: radiance × (albedo sin / π) × 4π / π.
        shadows.add(0, lane: lane, origin: origin, direction: w, near: 1e-4, far: .infinity,
                    weight: 4 * albedo / Float.pi * max(0, 1 - tl * tl).squareRoot())
        // Environment specular: the mirror direction about the fibre (the centre of Kajiya–Kay's
        // cone), unshadowed and clamped like skin's rough reflection, white R and coloured TRT.
        let mirror = v - 2 * dot(v, h.tangent) * h.tangent
        let envSpec = pointwiseMin(lighting.environment.smoothRadiance(normalize(mirror)), SIMD3(repeating: 1.5))
        out += envSpec * (SIMD3(repeating: 0.05) + 0.12 * albedo) * specular
        let lightCount = lighting.lights.count
        for (k, blob) in blobs.enumerated() {
            let l = Environment.sampleBlob(blob, rng.uniform(), rng.uniform())
            shadows.add(1 + lightCount + k, lane: lane, origin: origin, direction: l, near: 1e-4, far: .infinity,
                        weight: Environment.blobPower(blob) * kajiyaKay(tangent: h.tangent, normal: h.normal, v: v, l: l, albedo: albedo, specular: specular))
        }
        for (j, light) in lighting.lights.enumerated() {
            var p = light.position
            if light.radius > 0 {
                let z = 2 * rng.uniform() - 1, (ca, sa) = cosSinTwoPi(rng.uniform()), s = max(0, 1 - z * z).squareRoot()
                p += light.radius * SIMD3(s * ca, s * sa, z)
            }
            let toLight = p - h.position
            let dist = length(toLight), l = toLight / dist
            shadows.add(1 + j, lane: lane, origin: origin, direction: l, near: 1e-4, far: dist,
                        weight: light.color / max(dist * dist, 1e-4) * kajiyaKay(tangent: h.tangent, normal: h.normal, v: v, l: l, albedo: albedo, specular: specular))
        }
        return out
    }

    @inline(__always) func fresnel(_ cosTheta: Float) -> Float { Integrator.schlick(cosTheta) }

    /// Schlick's Fresnel with F0 = 0.028 (skin).
    @inline(__always) static func schlick(_ cosTheta: Float) -> Float {
        let f0: Float = 0.028
        let k = 1 - cosTheta
        return f0 + (1 - f0) * k * k * k * k * k
    }

    /// GGX microfacet BRDF `D G F / (4 (n·l)(n·v))` with Smith's separable G (see `GGX`).
    @inline(__always) func ggx(n: SIMD3<Float>, v: SIMD3<Float>, l: SIMD3<Float>, alpha: Float) -> Float {
        GGX(normal: n, view: v, alpha: alpha)(l, ndl: dot(n, l))
    }

    /// An orthonormal basis (t, b) completing the unit vector n, without branches on n or square
    /// roots (Duff et al. 2017, "Building an orthonormal basis, revisited").
    @inline(__always) func basis(_ n: SIMD3<Float>) -> (SIMD3<Float>, SIMD3<Float>) {
        let sign: Float = n.z >= 0 ? 1 : -1
        let a = -1 / (sign + n.z), b = n.x * n.y * a
        return (SIMD3(1 + sign * n.x * n.x * a, sign * b, -sign * n.x), SIMD3(b, sign + n.y * n.y * a, -n.y))
    }

    func backgroundRadiance(u: Float, v: Float, direction: SIMD3<Float>) -> SIMD3<Float> {
        let bg = background
        switch bg.kind {
        case .environment:
            return lighting.environment.radiance(direction)
        case .gradient:
            return bg.colorA + (bg.colorB - bg.colorA) * v
        case .noise:
            let n = ValueNoise(seed: bg.seed).fbm(SIMD3(u * bg.scale, v * bg.scale, 0.5), octaves: 4)
            return bg.colorA + (bg.colorB - bg.colorA) * n
        case .clutter:
            // Overlapping soft rectangles of random colours: shelves, posters, windows.
            let noise = ValueNoise(seed: bg.seed)
            let cell = SIMD3<Float>((u * bg.scale).rounded(.down), (v * bg.scale * 0.7).rounded(.down), 3)
            let h = noise.hash(Int32(cell.x), Int32(cell.y), 5)
            let tint = SIMD3(noise.hash(Int32(cell.x), Int32(cell.y), 7), noise.hash(Int32(cell.x), Int32(cell.y), 9), h)
            let base = bg.colorA + (bg.colorB - bg.colorA) * noise.fbm(SIMD3(u * 3, v * 3, 1), octaves: 3)
            return base * 0.6 + tint * 0.5 * (h > 0.5 ? 1 : 0.4)
        case .dark:
            // Vertical gradient with a vignette: brightest behind the head, falling off by 60 % at the corners.
            let r2 = (u - 0.5) * (u - 0.5) + (v - 0.45) * (v - 0.45)
            return (bg.colorA + (bg.colorB - bg.colorA) * v) * max(0.4, 1 - 1.2 * r2)
        }
    }

    // MARK: Camera effects

    /// Exposure and white balance, optional blur, a filmic tone curve, sRGB encoding, sensor noise
    /// and block quantisation, into `film.rgb`.
    func finishImage(_ film: Film, seed: UInt64) {
        let n = film.width * film.height
        var lin = film.radiance
        if effects.blurRadius > 0 { boxBlur(&lin, width: film.width, height: film.height, radius: effects.blurRadius) }
        let noiseStream = SplitMix64(seed: seed ^ 0x5EED_0F_7015E)
        let srgb = SRGBTable.shared
        let gain = effects.whiteBalance * effects.exposure, sigma = effects.noiseSigma, width = film.width
        // Raw views (one access each for the whole loop): per-store array writes through the
        // film's property cost a uniqueness check each.
        lin.withUnsafeBufferPointer { linear in
            film.withChannels { channels in
                let rgb = channels.rgb
                parallelFor(film.height, threads: settings.threads) { y in
                    var rng = noiseStream.derive(UInt64(y))
                    let n = 3 * width, first = 3 * y * width
                    // [3W] the row's encoded values, then [2][16] the noise draws of 16 values.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: n + 32 + 16) { buffer in
                        let row = buffer.baseAddress!
                        let draws = UnsafeMutableRawPointer(row + n).alignedUp(toMultipleOf: 64).bindMemory(to: Float.self, capacity: 32)
                        draws.initialize(repeating: 0.5, count: 32)
                        for j in 0..<n {
                            var c = linear[first + j] * gain[j % 3]
                            c = c / (1 + c * 0.25) * 1.25           // soft shoulder, identity near 0
                            row[j] = srgb.encode255(c)
                        }
                        // Sensor noise, 16 values at a time (`SplitMix64.fastNormal`'s draws and formula).
                        if sigma > 0 {
                            var j = 0
                            while j < n {
                                let m = min(16, n - j)
                                for l in 0..<m { draws[l] = (Float(rng.next() >> 40) + 0.5) * 0x1p-24; draws[16 + l] = rng.uniform() }
                                let u1 = UnsafeRawPointer(draws).load(as: SIMD16<Float>.self)
                                let u2 = UnsafeRawPointer(draws + 16).load(as: SIMD16<Float>.self)
                                let z = headlab_sqrt16(-2 * Float.ln2 * fastLog2(u1.replacing(with: 1, where: u1 .<= 0))) * fastCosTwoPi(u2)
                                for l in 0..<m { row[j + l] += z[l] * sigma }
                                j += m
                            }
                        }
                        for j in 0..<n { rgb[first + j] = UInt8(max(0, min(255, row[j].rounded()))) }
                    }
                }
            }
        }
        if effects.compressionQuality > 0 { quantiseBlocks(film, quality: effects.compressionQuality) }
        _ = n
    }

    func boxBlur(_ img: inout [Float], width: Int, height: Int, radius: Int) {
        var tmp = img
        for pass in 0..<2 {
            let src = pass == 0 ? img : tmp
            var dst = src
            for y in 0..<height { for x in 0..<width {
                var acc = SIMD3<Float>.zero; var count: Float = 0
                for d in -radius...radius {
                    let xx = pass == 0 ? min(width - 1, max(0, x + d)) : x, yy = pass == 1 ? min(height - 1, max(0, y + d)) : y
                    let j = yy * width + xx
                    acc += SIMD3(src[3 * j], src[3 * j + 1], src[3 * j + 2]); count += 1
                }
                let i = y * width + x
                dst[3 * i] = acc.x / count; dst[3 * i + 1] = acc.y / count; dst[3 * i + 2] = acc.z / count
            } }
            if pass == 0 { tmp = dst } else { img = dst }
        }
    }

    /// A cheap stand-in for JPEG artefacts: 8×8 block means pulled toward a quantised level.
    func quantiseBlocks(_ film: Film, quality: Int) {
        let step = Float(max(1, 100 - quality)) / 4
        for by in stride(from: 0, to: film.height, by: 8) { for bx in stride(from: 0, to: film.width, by: 8) {
            for k in 0..<3 {
                var sum: Float = 0, count: Float = 0
                for y in by..<min(by + 8, film.height) { for x in bx..<min(bx + 8, film.width) { sum += Float(film.rgb[3 * (y * film.width + x) + k]); count += 1 } }
                let mean = sum / count
                let q = (mean / step).rounded() * step
                for y in by..<min(by + 8, film.height) { for x in bx..<min(bx + 8, film.width) {
                    let i = 3 * (y * film.width + x) + k
                    let v = Float(film.rgb[i])
                    film.rgb[i] = UInt8(max(0, min(255, (q + ((v - mean) / step).rounded() * step).rounded())))
                } }
            }
        } }
    }
}

@inline(__always) public func encodeSRGB(_ c: Float) -> Float {
    c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1 / 2.4) - 0.055
}

/// `255 · encodeSRGB(clamp(c, 0, 1))` by linear interpolation in a 4096-interval table: the
/// interpolation error is below 0.005 of an 8-bit level (|f''| h² / 8 at the curve's sharpest
/// bend), where `pow` per channel cost 2 % of a 512² render.
public final class SRGBTable: Sendable {
    public static let shared = SRGBTable()
    static let intervals = 4096
    let values: [Float]   // [intervals + 1]

    init() { values = (0...SRGBTable.intervals).map { encodeSRGB(Float($0) / Float(SRGBTable.intervals)) * 255 } }

    @inline(__always) public func encode255(_ c: Float) -> Float {
        let t = min(1, max(0, c)) * Float(SRGBTable.intervals)
        let i = min(Int(t), SRGBTable.intervals - 1)
        let f = t - Float(i)
        return values.withUnsafeBufferPointer { v in v[i] + f * (v[i + 1] - v[i]) }
    }
}

extension HeadScene {
    /// Projects the model's 68 landmarks; a landmark is visible when it is in frame and the first
    /// surface along the camera ray is within 1 mm of it.
    public func landmarks(camera: Camera) -> LandmarkSet {
        let pts = model.landmarkPositions(vertices: vertices)
        var pixels: [SIMD2<Float>] = [], visible: [Bool] = [], cam: [SIMD3<Float>] = []
        let eye = camera.position
        for p in pts {
            let (px, depth) = camera.project(p)
            pixels.append(px); cam.append(camera.worldToCamera.apply(p))
            var vis = depth > 0 && px.x >= 0 && px.y >= 0 && px.x < Float(camera.width) && px.y < Float(camera.height)
            if vis {
                let d = p - eye, dist = length(d)
                if let hit = intersect(origin: eye, direction: d / dist) { vis = hit.distance > dist - 1e-3 } else { vis = true }
            }
            visible.append(vis)
        }
        return LandmarkSet(pixels: pixels, visible: visible, cameraSpace: cam)
    }
}
