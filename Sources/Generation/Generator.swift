import Foundation
import Geometry
import HeadModels
import Rendering

/// Everything random about one sample, drawn from its own stream: sample k depends only on
/// (recipe, seed, k), never on threads or shards.
public struct SampleSpec: Sendable {
    public var index: Int
    public var subject: Int
    public var view: Int
    public var parameters: HeadParameters
    public var camera: Camera
    public var appearance: Appearance
    public var groom: Groom
    public var accessories: Accessories
    public var lighting: Lighting
    public var background: Background
    public var effects: CameraEffects
    public var renderSeed: UInt64
}

/// Draws sample specs from a recipe and renders them.
public final class Generator: @unchecked Sendable {
    public let recipe: Recipe
    public let model: HeadModel
    public let labels: HeadLabelTable
    public let seed: UInt64
    let device: EmbreeDevice
    /// The rest-pose head centre (between the ears, at eye height), placed at the world origin.
    let headCentre: SIMD3<Float>
    let headHeight: Float

    public init(recipe: Recipe, model: HeadModel, seed: UInt64) throws {
        self.recipe = recipe; self.model = model; self.seed = seed
        labels = HeadLabelTable(model: model)
        // HEADLAB_EMBREE_CONFIG passes an Embree device configuration through (e.g. "verbose=2"
        // prints which BVH builders run and their statistics).
        device = try EmbreeDevice(config: ProcessInfo.processInfo.environment["HEADLAB_EMBREE_CONFIG"] ?? "")
        let lm = model.landmarkPositions(vertices: model.template)
        let eyes = (lm[36] + lm[45]) / 2
        let ears = (lm[0] + lm[16]) / 2
        headCentre = SIMD3(0, (eyes.y + lm[8].y) / 2 + 0.25 * (eyes.y - lm[8].y), (eyes.z + ears.z) / 2 - 0.02)
        headHeight = 1.9 * (eyes.y - lm[8].y) + 0.08
    }

    var views: Int { recipe.rig == .multiView ? recipe.cameras : 1 }

    /// The spec of sample `k`.
    public func spec(_ k: Int) -> SampleSpec {
        let subject = k / views, view = k % views
        let root = SplitMix64(seed: seed)
        var subjectRng = root.derive(UInt64(subject))
        var sampleRng = root.derive(0x5A3B_0000_0000 | UInt64(k))

        var headRng = subjectRng.derive(1)
        var sampler = HeadSampler()
        sampler.identitySpread = recipe.identitySpread
        sampler.neutralProbability = recipe.neutralProbability
        sampler.asymmetryProbability = recipe.asymmetryProbability
        sampler.neckRange = recipe.neck * (Float.pi / 180)
        sampler.gazeRange = recipe.gaze * (Float.pi / 180)
        var params = sampler.sample(model, rng: &headRng)

        var appRng = subjectRng.derive(2)
        let appearance = sampleAppearance(&appRng)
        // Hair belongs to the subject (same in every view); its own stream leaves the others untouched.
        var hairRng = subjectRng.derive(8)
        let groom = sampleGroom(&hairRng, appearance: appearance)
        // Accessories belong to the subject too, from their own stream.
        var accessoryRng = subjectRng.derive(9)
        let accessories = sampleAccessories(&accessoryRng)
        // Multi-view: one subject, one lighting, many cameras. In the wild: all per sample.
        var sceneRng = recipe.rig == .multiView ? subjectRng.derive(3) : sampleRng.derive(3)
        let lighting = sampleLighting(&sceneRng)
        var bgRng = sceneRng.derive(4)
        let background = sampleBackground(&bgRng)
        var fxRng = sampleRng.derive(5)
        let effects = sampleEffects(&fxRng)
        _ = subjectRng.next()

        var camRng = sampleRng.derive(6)
        var renderRng = sampleRng.derive(7)
        let renderSeed = renderRng.next()
        let camera: Camera
        if recipe.rig == .multiView {
            params.global = RigidTransform(rotation: .identity, translation: -headCentre)
            camera = rigCamera(view)
        } else {
            let deg = Float.pi / 180
            let r = Mat3.rotation(yaw: camRng.uniform(-1, 1) * recipe.yaw * deg, pitch: camRng.uniform(-1, 1) * recipe.pitch * deg,
                                  roll: camRng.uniform(-1, 1) * recipe.roll * deg)
            params.global = RigidTransform(rotation: r, translation: -(r * headCentre))
            camera = wildCamera(&camRng)
        }
        return SampleSpec(index: k, subject: subject, view: view, parameters: params, camera: camera, appearance: appearance,
                          groom: groom, accessories: accessories, lighting: lighting, background: background, effects: effects, renderSeed: renderSeed)
    }

    func wildCamera(_ rng: inout SplitMix64) -> Camera {
        let w = recipe.width, h = recipe.height
        let focalMM = exp(rng.uniform(log(recipe.focalMM.lo), log(recipe.focalMM.hi)))
        let f = focalMM / 36 * Float(max(w, h))
        var fill = rng.uniform(recipe.fill.lo, recipe.fill.hi)
        var jitter = recipe.framingJitter
        if rng.bernoulli(recipe.cropProbability) { fill *= rng.uniform(1.5, 2.5); jitter *= 3 }
        let distance = f * headHeight / (fill * Float(h))
        let shift = SIMD2(rng.uniform(-1, 1), rng.uniform(-1, 1)) * jitter * SIMD2(Float(w), Float(h))
        var cam = Camera.lookAt(eye: SIMD3(0, 0, distance), target: .zero, width: w, height: h, fx: f,
                                principal: SIMD2(Float(w) / 2 + shift.x, Float(h) / 2 + shift.y))
        if recipe.distortion > 0 {
            cam.distortion = SIMD4(rng.uniform(-1, 1) * recipe.distortion, 0, 0, 0)
        }
        return cam
    }

    /// The capture rig: 13 cameras by default (7 at eye level from −90° to 90°, 4 above, 2 below),
    /// otherwise a Fibonacci spread over the frontal hemisphere.
    public func rigCamera(_ view: Int) -> Camera {
        let deg = Float.pi / 180
        let (az, el): (Float, Float)
        if recipe.cameras == 13 {
            let layout: [(Float, Float)] = [(-90, 0), (-60, 0), (-30, 0), (0, 0), (30, 0), (60, 0), (90, 0),
                                             (-55, 30), (-18, 32), (18, 32), (55, 30), (-25, -25), (25, -25)]
            (az, el) = layout[view]
        } else {
            let n = Float(recipe.cameras), i = Float(view) + 0.5
            el = asin(0.8 * (1 - 2 * i / n)) / deg * 0.6
            az = (Float(view) * 137.508).truncatingRemainder(dividingBy: 180) - 90
        }
        let d = recipe.rigDistance
        let eye = SIMD3(d * cos(el * deg) * sin(az * deg), d * sin(el * deg), d * cos(el * deg) * cos(az * deg))
        let f = recipe.rigFocalMM / 36 * Float(max(recipe.width, recipe.height))
        return Camera.lookAt(eye: eye, target: .zero, width: recipe.width, height: recipe.height, fx: f)
    }

    func sampleAppearance(_ rng: inout SplitMix64) -> Appearance {
        var a = Appearance()
        a.melanin = rng.uniform(recipe.melanin.lo, recipe.melanin.hi)
        a.melanin = recipe.melanin.lo + (recipe.melanin.hi - recipe.melanin.lo) * pow(rng.uniform(), 1.3)
        a.hemoglobin = rng.uniform(recipe.hemoglobin.lo, recipe.hemoglobin.hi)
        a.oiliness = rng.uniform(recipe.oiliness.lo, recipe.oiliness.hi)
        a.roughness = rng.uniform(0.3, 0.55)
        a.blotchiness = rng.uniform(0.1, 0.6)
        a.freckles = rng.bernoulli(recipe.freckleProbability) && a.melanin < 0.35 ? rng.uniform(0.2, 1) : 0
        a.redness = rng.uniform(0.1, 0.7)
        a.poreStrength = rng.uniform(0.1, 0.5)
        let irisPalette: [SIMD3<Float>] = [SIMD3(0.20, 0.10, 0.04), SIMD3(0.10, 0.05, 0.02), SIMD3(0.15, 0.25, 0.35),
                                           SIMD3(0.20, 0.25, 0.12), SIMD3(0.28, 0.18, 0.08), SIMD3(0.25, 0.30, 0.38)]
        a.irisColor = irisPalette[Int(rng.next() % UInt64(irisPalette.count))] * rng.uniform(0.7, 1.3)
        let hair = rng.uniform(0, 1)
        a.browColor = SIMD3(0.02, 0.015, 0.01) + hair * SIMD3(0.25, 0.15, 0.07) * (1 - a.melanin)
        a.pupilAngle = rng.uniform(0.08, 0.16)
        a.noiseSeed = rng.next()
        return a
    }

    func sampleGroom(_ rng: inout SplitMix64, appearance: Appearance) -> Groom {
        var g = Groom()
        g.seed = rng.next()
        let style = HairStyle(rawValue: Generator.pick(recipe.hairStyles, &rng)) ?? .none
        g.style = style
        let density = rng.uniform(recipe.hairDensity.lo, recipe.hairDensity.hi)
        let factor: Float
        switch style {
        case .none: factor = 0
        case .buzz: factor = 1.2; g.length = rng.uniform(0.003, 0.008)
        case .short: factor = 1; g.length = rng.uniform(0.02, 0.06)
        case .medium: factor = 1; g.length = rng.uniform(0.08, 0.16)
        case .long: factor = 1; g.length = rng.uniform(0.2, 0.4)
        case .ponytail: factor = 1; g.length = rng.uniform(0.2, 0.35)
        case .curly: factor = 0.9; g.length = rng.uniform(0.06, 0.18)
        case .afro: factor = 1; g.length = rng.uniform(0.04, 0.1)
        case .receding: factor = 0.7; g.length = rng.uniform(0.01, 0.05)
        case .bald: factor = rng.bernoulli(0.5) ? 0.4 : 0; g.length = rng.uniform(0.003, 0.012)
        }
        g.strands = Int(Float(recipe.hairStrands) * density * factor)
        g.curl = style == .curly ? rng.uniform(0.3, 0.7) : style == .afro ? rng.uniform(0.7, 1) : 0
        g.wave = style == .medium || style == .long ? (rng.bernoulli(0.4) ? rng.uniform(0.2, 1) : 0) : 0
        g.clump = rng.uniform(0.1, 0.6)
        g.gravity = rng.uniform(0.4, 0.8)
        g.parting = rng.bernoulli(0.5) ? rng.uniform(-1, 1) : 0
        g.frizz = rng.uniform(0.02, style == .afro ? 0.6 : 0.25)
        // Thicker than real fibres (≈ 40 µm): tens of thousands of strands stand in for ~100,000.
        g.radius = rng.uniform(6e-5, 9e-5)
        // Colour: eumelanin log-uniform, darker for darker skin; occasional red; greys.
        var eu = exp(rng.uniform(log(recipe.eumelanin.lo), log(recipe.eumelanin.hi)))
        if appearance.melanin > 0.4 { eu = max(eu, min(recipe.eumelanin.hi, 3)) }
        var pheo = rng.uniform(recipe.pheomelanin.lo, recipe.pheomelanin.hi)
        if rng.bernoulli(recipe.redProbability) { eu = rng.uniform(0.2, 0.8); pheo = rng.uniform(1, 2.5) }
        g.eumelanin = eu; g.pheomelanin = pheo
        g.grey = rng.bernoulli(recipe.greyProbability) ? rng.uniform(0.2, 1) : 0
        if rng.bernoulli(recipe.beardProbability) {
            g.beard = BeardStyle(rawValue: Generator.pick(recipe.beardStyles, &rng)) ?? .none
            g.beardStrands = Int(Float(recipe.beardStrands) * rng.uniform(0.6, 1.3) * (g.beard == .moustache ? 0.3 : g.beard == .goatee ? 0.5 : 1))
            g.beardLength = g.beard == .stubble ? rng.uniform(0.001, 0.002) : rng.uniform(0.005, 0.03)
        }
        if rng.bernoulli(recipe.strandBrowProbability) {
            g.eyebrows = true
            g.browStrands = Int(Float(recipe.browStrands) * rng.uniform(0.6, 1.3))
        }
        // Eyelashes from their own stream (adding them leaves every other draw unchanged).
        var lashRng = rng.derive(0x1A5)
        if lashRng.bernoulli(recipe.eyelashProbability) && recipe.lashStrands > 0 {
            g.eyelashes = true
            g.lashStrands = max(1, Int(Float(recipe.lashStrands) * lashRng.uniform(0.7, 1.2)))
            g.lashLength = lashRng.uniform(recipe.lashLength.lo, recipe.lashLength.hi)
            g.lashCurl = lashRng.uniform(0.2, 0.9)
        }
        return g
    }

    /// A fabric colour: a random hue at the recipe's brightness and saturation (linear albedo).
    func fabricColor(_ rng: inout SplitMix64) -> SIMD3<Float> {
        let value = rng.uniform(recipe.fabricBrightness.lo, recipe.fabricBrightness.hi)
        let saturation = rng.uniform(recipe.fabricSaturation.lo, recipe.fabricSaturation.hi)
        let hue = rng.uniform() * 6
        // HSV → RGB: f(n) = 1 − S · clamp(min(k, 4 − k), 0, 1), k = (n + 6·hue) mod 6.
        func channel(_ n: Float) -> Float { let k = (n + hue).truncatingRemainder(dividingBy: 6); return max(0, min(1, min(k, 4 - k))) }
        let rgb = SIMD3<Float>(1, 1, 1) - saturation * SIMD3(channel(5), channel(3), channel(1))
        return value * value * rgb   // value in display terms → roughly linear albedo
    }

    /// Draws what the subject wears (each kind independently, by the recipe's probabilities).
    func sampleAccessories(_ rng: inout SplitMix64) -> Accessories {
        var a = Accessories()
        if rng.bernoulli(recipe.glassesProbability) {
            var g = Accessories.Glasses()
            g.style = GlassesStyle(rawValue: Generator.pick(recipe.glassesStyles, &rng)) ?? .rectangular
            g.thickness = rng.uniform(recipe.glassesThicknessMM.lo, recipe.glassesThicknessMM.hi) / 1000
            if g.style == .aviator { g.thickness = min(g.thickness, 0.0022) }
            switch Generator.pick(recipe.frameColors, &rng) {
            case "black": g.frameColor = SIMD3(repeating: rng.uniform(0.01, 0.04))
            case "tortoise": g.frameColor = SIMD3(0.16, 0.07, 0.025) * rng.uniform(0.6, 1.3)
            case "gold": g.frameColor = SIMD3(1.0, 0.78, 0.34); g.metal = true; g.thickness = min(g.thickness, 0.002)
            case "silver": g.frameColor = SIMD3(0.9, 0.9, 0.88); g.metal = true; g.thickness = min(g.thickness, 0.002)
            default: g.frameColor = fabricColor(&rng)
            }
            if rng.bernoulli(recipe.sunglassesProbability) {
                let base = SIMD3<Float>(rng.uniform(0.6, 1), rng.uniform(0.6, 1), rng.uniform(0.5, 1))
                g.lensTint = base * rng.uniform(0.04, 0.2)
                g.lensReflectance = rng.bernoulli(0.25) ? rng.uniform(0.2, 0.5) : 0.05
            } else {
                g.lensTint = SIMD3(0.95, 0.96, 0.95); g.lensReflectance = 0.04
            }
            g.size = rng.uniform(0.92, 1.12)
            a.glasses = g
        }
        if rng.bernoulli(recipe.headwearProbability) {
            var h = Accessories.Headwear()
            h.style = HeadwearStyle(rawValue: Generator.pick(recipe.headwearStyles, &rng)) ?? .cap
            h.color = fabricColor(&rng)
            h.secondary = rng.bernoulli(0.5) ? SIMD3(repeating: rng.uniform(0.01, 0.05)) : fabricColor(&rng)
            switch h.style {
            case .cap: h.height = rng.uniform(0.025, 0.04); h.brim = rng.uniform(0.055, 0.075)
            case .beanie: h.height = rng.uniform(0.008, 0.025)
            case .hat: h.height = rng.uniform(0.03, 0.045); h.brim = rng.uniform(0.035, 0.07)
            case .headband: h.height = rng.uniform(0.035, 0.055)
            case .headphones: h.secondary = SIMD3(repeating: rng.uniform(0.01, 0.04))
            }
            a.headwear = h
        }
        if rng.bernoulli(recipe.facewearProbability) {
            var f = Accessories.Facewear()
            f.style = FacewearStyle(rawValue: Generator.pick(recipe.facewearStyles, &rng)) ?? .surgical
            let surgical: [SIMD3<Float>] = [SIMD3(0.45, 0.62, 0.75), SIMD3(0.75, 0.78, 0.8), SIMD3(0.5, 0.7, 0.62), SIMD3(0.05, 0.05, 0.06)]
            f.color = f.style == .surgical ? surgical[Int(rng.next() % UInt64(surgical.count))] * rng.uniform(0.9, 1.05) : fabricColor(&rng)
            f.earLoops = rng.bernoulli(recipe.earLoopProbability)
            a.facewear = f
        }
        if rng.bernoulli(recipe.clothingProbability) {
            var c = Accessories.Clothing()
            c.style = ClothingStyle(rawValue: Generator.pick(recipe.clothingStyles, &rng)) ?? .crew
            c.color = fabricColor(&rng)
            a.clothing = c
        }
        if rng.bernoulli(recipe.earringProbability) {
            var e = Accessories.Earrings()
            e.style = EarringStyle(rawValue: Generator.pick(recipe.earringStyles, &rng)) ?? .stud
            e.size = e.style == .stud ? rng.uniform(0.0012, 0.0025) : rng.uniform(0.0016, 0.003)
            e.gold = rng.bernoulli(0.5)
            a.earrings = e
        }
        return a
    }

    static func pick(_ weights: [String: Float], _ rng: inout SplitMix64) -> String {
        let keys = weights.keys.sorted()
        let total = keys.reduce(Float(0)) { $0 + weights[$1]! }
        var u = rng.uniform() * total
        for k in keys { u -= weights[k]!; if u < 0 { return k } }
        return keys.last!
    }

    func randomDirection(_ rng: inout SplitMix64, minElevation: Float, maxElevation: Float, frontal: Bool) -> SIMD3<Float> {
        let el = rng.uniform(minElevation, maxElevation)
        let az = frontal ? rng.uniform(-Float.pi * 0.6, Float.pi * 0.6) : rng.uniform(-Float.pi, Float.pi)
        return SIMD3(cos(el) * sin(az), sin(el), cos(el) * cos(az))
    }

    func sampleLighting(_ rng: inout SplitMix64) -> Lighting {
        var l = Lighting()
        var e = Environment()
        switch Generator.pick(recipe.environments, &rng) {
        case "studio":
            let g = rng.uniform(0.25, 0.7)
            e.top = SIMD3(repeating: g * 1.1); e.horizon = SIMD3(repeating: g * 0.8); e.bottom = SIMD3(repeating: g * 0.35)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                e.blobs.append(.init(direction: randomDirection(&rng, minElevation: -0.1, maxElevation: 1.0, frontal: true),
                                     color: SIMD3(repeating: rng.uniform(0.6, 2.5)) * SIMD3(1, rng.uniform(0.95, 1.02), rng.uniform(0.9, 1.05)),
                                     sharpness: rng.uniform(6, 30)))
            }
        case "outdoor":
            let k = rng.uniform(0.5, 1.4)
            e.top = SIMD3(0.30, 0.50, 0.95) * k; e.horizon = SIMD3(0.85, 0.88, 0.92) * k; e.bottom = SIMD3(0.28, 0.24, 0.18) * k
            e.blobs.append(.init(direction: randomDirection(&rng, minElevation: 0.15, maxElevation: 1.2, frontal: false),
                                 color: SIMD3(9, 8, 6.5) * rng.uniform(0.2, 2.5), sharpness: rng.uniform(150, 900)))
        default:
            let k = rng.uniform(0.1, 0.35)
            e.top = SIMD3(repeating: k) * SIMD3(1, 0.95, 0.85); e.horizon = SIMD3(repeating: k * 0.8); e.bottom = SIMD3(repeating: k * 0.4)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let hue = SIMD3(rng.uniform(0.4, 1.2), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.2))
                e.blobs.append(.init(direction: randomDirection(&rng, minElevation: -0.2, maxElevation: 1.0, frontal: false),
                                     color: hue * rng.uniform(0.8, 3), sharpness: rng.uniform(15, 80)))
            }
        }
        // Key light (the real photos' look: one strong source to the side and above, the rest of
        // the environment as fill). The environment's irradiance on a surface facing the camera,
        // E_env, is split: the environment keeps E_env / (1 + ratio) as fill and the key gives
        // E_env · ratio / (1 + ratio) at the head centre, so overall exposure stays as before.
        var keyRng = rng.derive(0x4B45)
        if keyRng.bernoulli(recipe.keyProbability) {
            let ratio = keyRng.uniform(recipe.keyFillRatio.lo, recipe.keyFillRatio.hi)
            let eEnv = e.irradiance(normal: SIMD3(0, 0, 1))
            let fill = 1 / (1 + ratio)
            e.top *= fill; e.horizon *= fill; e.bottom *= fill
            for i in e.blobs.indices { e.blobs[i].color *= fill }
            let side: Float = keyRng.bernoulli(0.5) ? 1 : -1
            let az = side * keyRng.uniform(20, 70) * Float.pi / 180, el = keyRng.uniform(5, 45) * Float.pi / 180
            let d = SIMD3(cos(el) * sin(az), sin(el), cos(el) * cos(az))
            let dist = keyRng.uniform(1, 2.5)
            // Tungsten (warm) to daylight (neutral) key, normalised to unit mean.
            let warm = keyRng.uniform(0, 1)
            var tint = SIMD3<Float>(1 + 0.25 * warm, 1, 1 - 0.3 * warm)
            tint /= (tint.x + tint.y + tint.z) / 3
            let eKey = (eEnv.x + eEnv.y + eEnv.z) / 3 * ratio * fill
            l.lights.append(Light(position: d * dist, color: tint * eKey * dist * dist, radius: keyRng.uniform(0.05, 0.3)))
        }
        l.environment = e
        let count = Int(rng.uniform(recipe.lightCount.lo, recipe.lightCount.hi + 0.999))
        for _ in 0..<count {
            let d = randomDirection(&rng, minElevation: -0.3, maxElevation: 1.1, frontal: true)
            let dist = rng.uniform(0.8, 2.5)
            let warm = rng.uniform(-1, 1)
            let color = SIMD3(1 + 0.15 * warm, 1, 1 - 0.2 * warm) * rng.uniform(recipe.lightIntensity.lo, recipe.lightIntensity.hi) * dist * dist
            l.lights.append(Light(position: d * dist, color: color, radius: rng.uniform(0.02, 0.3)))
        }
        return l
    }

    func sampleBackground(_ rng: inout SplitMix64) -> Background {
        var b = Background()
        b.kind = Background.Kind(rawValue: Generator.pick(recipe.backgrounds, &rng)) ?? .gradient
        b.colorA = SIMD3(rng.uniform(0, 0.6), rng.uniform(0, 0.6), rng.uniform(0, 0.6))
        b.colorB = SIMD3(rng.uniform(0, 0.9), rng.uniform(0, 0.9), rng.uniform(0, 0.9))
        b.scale = rng.uniform(2, 12)
        b.seed = rng.next()
        if b.kind == .dark {
            // A dim backdrop (linear 0.001–0.03, L* ≈ 1–19) with a desaturated tint (navy, grey, brown).
            var dark = rng.derive(0xDA4C)
            let tint = SIMD3<Float>(repeating: 1) * 0.6 + SIMD3(dark.uniform(0, 1), dark.uniform(0, 1), dark.uniform(0, 1)) * 0.4
            let level = exp(dark.uniform(log(0.001), log(0.03)))
            b.colorA = tint * level * dark.uniform(0.6, 1.2)
            b.colorB = tint * level * dark.uniform(0.6, 1.6)
        }
        return b
    }

    func sampleEffects(_ rng: inout SplitMix64) -> CameraEffects {
        var e = CameraEffects()
        e.exposure = exp(rng.uniform(log(recipe.exposure.lo), log(recipe.exposure.hi)))
        let wb = recipe.whiteBalance
        e.whiteBalance = SIMD3(1 + rng.uniform(-wb, wb), 1, 1 + rng.uniform(-wb, wb))
        e.noiseSigma = rng.uniform(recipe.sensorNoise.lo, recipe.sensorNoise.hi)
        e.blurRadius = rng.bernoulli(recipe.blurProbability) ? 1 + Int(rng.next() % 2) : 0
        e.compressionQuality = rng.bernoulli(recipe.compressionProbability) ? Int(rng.uniform(40, 90)) : 0
        return e
    }

    /// Renders sample `spec` into `film` (reused across samples) and returns its landmarks.
    public func render(_ spec: SampleSpec, into film: Film, threads: Int = 0) throws -> LandmarkSet {
        let scene = try scene(for: spec)
        let integrator = Integrator(appearance: spec.appearance, lighting: spec.lighting, background: spec.background,
                                    effects: spec.effects, settings: recipe.renderSettings(threads: threads))
        integrator.render(scene, camera: spec.camera, seed: spec.renderSeed, into: film)
        return scene.landmarks(camera: spec.camera)
    }

    /// The posed head (with strands) of `spec`. The views of one multi-view subject share it, so
    /// the last scene is kept and reused while pose and groom are unchanged: growing a groom and
    /// building its BVH is a large part of a hair sample's time. The key holds every input of
    /// `HeadScene` that varies by sample (a scene input added later must join it).
    func scene(for spec: SampleSpec) throws -> HeadScene {
        let key = SceneKey(parameters: spec.parameters, groom: spec.groom, accessories: spec.accessories)
        sceneLock.lock()
        if let last = lastScene, last.key == key { sceneLock.unlock(); return last.scene }
        sceneLock.unlock()
        let posed = model.pose(spec.parameters)
        let scene = try HeadScene(device: device, model: model, labels: labels, posed: posed, global: spec.parameters.global,
                                  groom: spec.groom.isEmpty ? nil : spec.groom, accessories: spec.accessories.isEmpty ? nil : spec.accessories)
        sceneLock.lock(); lastScene = (key, scene); scenesBuilt += 1; sceneLock.unlock()
        return scene
    }

    struct SceneKey: Equatable {
        var parameters: HeadParameters
        var groom: Groom
        var accessories: Accessories
    }
    private var lastScene: (key: SceneKey, scene: HeadScene)?
    private let sceneLock = NSLock()
    /// Scenes built so far (tests check the views of a subject share one).
    private(set) var scenesBuilt = 0
}
