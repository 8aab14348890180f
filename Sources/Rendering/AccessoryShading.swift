import Geometry

extension Integrator {
    /// Shades one sample at once instead of through the camera packet's deferred batches (for
    /// the rare rays that continue behind a lens): `queue` returns the unshadowed radiance and
    /// queues its occlusion rays as lane 0 of a private batch set, which is resolved here.
    func shadeNow(scene: HeadScene, _ queue: (ShadowBatches) -> SIMD3<Float>) -> SIMD3<Float> {
        let shadows = ShadowBatches(lights: lighting.lights.count + sharpBlobs.count)
        var out = queue(shadows)
        withUnsafeMutablePointer(to: &out) { shadows.resolve(scene: scene, lighting: lighting, into: $0) }
        return out
    }

    /// Outgoing radiance from an accessory hit.
    ///
    /// - Opaque (fabric, plastic, metal): one cosine-weighted environment sample with an occlusion
    ///   ray, every light with a shadow ray, Lambert diffuse (none for metals) and a GGX lobe with
    ///   Schlick Fresnel (F0 = `specular`, or the albedo for metals), plus an unshadowed environment
    ///   reflection weighted by Fresnel. Fabric patterns modulate the albedo: knit ribs
    ///   `0.7 + 0.3 |sin(π s / period)|`, surgical pleats (bands along t), a fine weave.
    /// - Lenses (thin, no refraction): `F · L_env(reflect) + (1 − F) · tint · L(behind)`, with
    ///   Schlick `F = F0 + (1 − F0)(1 − cos θ)^5`; the ray continues through the lens (up to 3
    ///   lenses deep) and whatever it hits behind is shaded as usual; lights add GGX glints.
    /// `miss` gives the radiance of a ray that leaves the scene (background or environment).
    func shadeAccessory(_ h: HeadScene.AccessoryHit, direction: SIMD3<Float>, scene: HeadScene, rng: inout SplitMix64,
                        miss: (SIMD3<Float>) -> SIMD3<Float>, depth: Int = 0) -> SIMD3<Float> {
        let m = scene.accessories.materials[h.material]
        let v = -direction, n = h.normal
        let cosV = max(0, dot(v, n))
        func schlick(_ f0: SIMD3<Float>, _ c: Float) -> SIMD3<Float> { let k = 1 - c; return f0 + (SIMD3(repeating: 1) - f0) * (k * k * k * k * k) }
        if m.kind == .lens {
            let f = schlick(SIMD3(repeating: m.specular), cosV)
            let refl = normalize(2 * dot(v, n) * n - v)
            var out = f * pointwiseMin(lighting.environment.radiance(refl), SIMD3(repeating: 4))
            var behind = SIMD3<Float>.zero
            let origin = h.position + direction * 2e-5
            if depth < 3, let next = scene.trace(origin: origin, direction: direction) {
                switch next {
                case .head(let hit):
                    behind = shadeNow(scene: scene) { queueSurface(hit, material: material(hit, scene: scene), direction: direction, lane: 0,
                                                                   scene: scene, blobs: sharpBlobs, shadows: $0, rng: &rng) }
                case .strand(let s):
                    behind = shadeNow(scene: scene) { queueStrand(s, direction: direction, lane: 0, blobs: sharpBlobs, shadows: $0, rng: &rng) }
                case .accessory(let a):
                    behind = shadeAccessory(a, direction: direction, scene: scene, rng: &rng, miss: miss, depth: depth + 1)
                }
            } else {
                behind = miss(direction)
            }
            out += (SIMD3(repeating: 1) - f) * m.transmission * pointwiseMin(behind, SIMD3(repeating: 3))
            for light in lighting.lights {
                let toLight = light.position - h.position, dist = length(toLight), l = toLight / dist
                let vh = max(0, dot(v, normalize(v + l)))
                if dot(n, l) > 0 {
                    let dg = ggx(n: n, v: v, l: l, alpha: max(0.02, m.roughness)) / fresnel(vh)
                    out += dg * schlick(SIMD3(repeating: m.specular), vh) * dot(n, l) * light.color / max(dist * dist, 1e-4)
                }
            }
            return out
        }
        var albedo = m.albedo
        switch m.pattern {
        case .none: break
        case .knit: albedo *= 0.7 + 0.3 * abs(sin(Float.pi * h.params.x / m.period))
        case .pleats:
            let t = h.params.y / m.period
            albedo *= 0.82 + 0.18 * (t - t.rounded(.down))
        case .weave: albedo *= 0.96 + 0.04 * abs(sin(Float.pi * h.params.x / m.period) * sin(Float.pi * h.params.y / m.period))
        }
        let metal = m.kind == .metal
        let f0 = metal ? albedo : SIMD3(repeating: m.specular)
        let diffuse = metal ? SIMD3<Float>.zero : albedo
        let origin = h.position + h.geometricNormal * 5e-5
        var out = SIMD3<Float>.zero
        let (t, b) = basis(n)
        let u1 = rng.uniform(), u2 = rng.uniform()
        let r = u1.squareRoot(), phi = 2 * Float.pi * u2
        let envDir = normalize(t * (r * cos(phi)) + b * (r * sin(phi)) + n * (1 - u1).squareRoot())
        if dot(envDir, h.geometricNormal) > 0 {
            let tr = scene.transmittance(origin: origin, direction: envDir, near: 0, far: .infinity)
            if tr > 0 { out += tr * diffuse * lighting.environment.radiance(envDir) }
        }
        let refl = normalize(2 * dot(v, n) * n - v)
        var le = lighting.environment.radiance(refl)
        if m.roughness >= 0.1 { le = pointwiseMin(le, SIMD3(repeating: 1.5)) * (metal ? 0.6 : 0.35) }
        out += schlick(f0, cosV) * le
        for light in lighting.lights {
            var p = light.position
            if light.radius > 0 {
                let z = 2 * rng.uniform() - 1, a = 2 * Float.pi * rng.uniform(), s = (1 - z * z).squareRoot()
                p += light.radius * SIMD3(s * cos(a), s * sin(a), z)
            }
            let toLight = p - h.position, dist = length(toLight), l = toLight / dist
            let ndl = dot(n, l)
            if ndl <= 0 { continue }
            let tr = scene.transmittance(origin: origin, direction: l, near: 0, far: dist)
            if tr == 0 { continue }
            let e = tr * light.color / max(dist * dist, 1e-4)
            // `ggx` carries skin's Fresnel: divide it out, apply this material's.
            let vh = max(0, dot(v, normalize(v + l)))
            let dg = ggx(n: n, v: v, l: l, alpha: max(0.05, m.roughness)) / fresnel(vh)
            out += (diffuse / Float.pi + dg * schlick(f0, vh)) * ndl * e
        }
        return out
    }
}
