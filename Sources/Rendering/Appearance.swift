import Dispatch
import Foundation
import Geometry

/// Skin and eye appearance of one subject.
///
/// Skin albedo follows a two-chromophore model: `albedo_c = a0 · exp(−(m · σm_c + h · σh_c))` with
/// melanin fraction m, hemoglobin fraction h and per-channel absorption σm ∝ λ^−3.33 (melanin) and
/// σh from oxy-hemoglobin's absorption in red/green/blue.
public struct Appearance: Equatable, Sendable {
    public var melanin: Float = 0.15          // 0.02 (very fair) … 0.9 (very dark)
    public var hemoglobin: Float = 0.05       // 0.01 … 0.12
    public var oiliness: Float = 0.3          // specular weight 0 … 1
    public var roughness: Float = 0.45        // GGX α of the skin's specular lobe
    public var blotchiness: Float = 0.3       // low-frequency albedo variation
    public var freckles: Float = 0            // density of melanin spots 0 … 1
    public var redness: Float = 0.3           // extra hemoglobin on cheeks, nose and lips
    public var poreStrength: Float = 0.3      // pore-scale normal noise
    public var irisColor = SIMD3<Float>(0.25, 0.15, 0.07)
    public var browColor = SIMD3<Float>(0.08, 0.05, 0.03)
    public var pupilAngle: Float = 0.12       // radians of the eyeball cap that is pupil
    public var noiseSeed: UInt64 = 0
    /// Replaces every material by this diffuse albedo with no specular (white-furnace tests, debugging).
    public var albedoOverride: SIMD3<Float>? = nil

    public init() {}

    // Calibrated so m = 0.05 gives fair skin ≈ (0.82, 0.59, 0.47), m = 0.3 medium ≈ (0.61, 0.37,
    // 0.24) and m = 0.8 dark ≈ (0.31, 0.14, 0.06) at h = 0.05. Melanin's absorption rises steeply
    // toward blue (∝ λ^−3.33 over 650/550/450 nm gives 1 : 1.74 : 3.4; the camera's broad RGB
    // bands flatten it to ≈ 1 : 1.46 : 2.15) and the bloodless base is yellowish: together they
    // give the warm (high b*) skin of real photos (the james photos: skin b* ≈ 25).
    static let melaninAbsorption = SIMD3<Float>(1.3, 1.9, 2.8)
    static let hemoglobinAbsorption = SIMD3<Float>(0.5, 4.5, 4.5)
    static let baseTint = SIMD3<Float>(0.90, 0.80, 0.68)

    public func skinAlbedo(extraMelanin: Float = 0, extraHemoglobin: Float = 0) -> SIMD3<Float> {
        let m = max(0, melanin + extraMelanin), h = max(0, hemoglobin + extraHemoglobin)
        let e = -(m * Appearance.melaninAbsorption + h * Appearance.hemoglobinAbsorption)
        return Appearance.baseTint * SIMD3(exp(e.x), exp(e.y), exp(e.z))
    }
}

/// A point or spherical area light; `radius > 0` gives soft shadows.
public struct Light: Equatable, Sendable {
    public var position: SIMD3<Float>
    public var color: SIMD3<Float>        // linear RGB irradiance at 1 m (W/m² units are arbitrary)
    public var radius: Float
    public init(position: SIMD3<Float>, color: SIMD3<Float>, radius: Float) {
        self.position = position; self.color = color; self.radius = radius
    }
}

/// A procedural environment: a vertical gradient plus soft coloured blobs (softboxes, sun,
/// windows, lamps). Radiance is linear RGB.
public struct Environment: Equatable, Sendable {
    public struct Blob: Equatable, Sendable {
        public var direction: SIMD3<Float>
        public var color: SIMD3<Float>
        public var sharpness: Float       // exponent of max(0, cos)
        public init(direction: SIMD3<Float>, color: SIMD3<Float>, sharpness: Float) {
            self.direction = normalize(direction); self.color = color; self.sharpness = sharpness
        }
    }
    public var top = SIMD3<Float>(0.6, 0.6, 0.6)
    public var horizon = SIMD3<Float>(0.5, 0.5, 0.5)
    public var bottom = SIMD3<Float>(0.2, 0.2, 0.2)
    public var blobs: [Blob] = []
    public init() {}

    /// A uniform environment of the given radiance (for furnace tests).
    public static func constant(_ c: SIMD3<Float>) -> Environment {
        var e = Environment(); e.top = c; e.horizon = c; e.bottom = c; return e
    }

    /// Blobs at least this sharp (suns, small lamps: half maximum within ≈ 11° of the centre) are
    /// sampled like lights, never hit by chance: a cosine-weighted sample that hits a sun carries
    /// hundreds of times the mean radiance, which showed as sparkle (fireflies) on skin, worst on
    /// dark skin. Broader blobs (softboxes, windows) stay with the cosine-weighted sample: each
    /// explicit blob costs a shadow ray per camera sample.
    public static let sharpBlobThreshold: Float = 40

    /// Radiance from direction `d` (everything: backgrounds, mirror views).
    @inline(__always)
    public func radiance(_ d: SIMD3<Float>) -> SIMD3<Float> {
        var c = smoothRadiance(d)
        for b in blobs where b.sharpness >= Environment.sharpBlobThreshold {
            let k = dot(d, b.direction)
            if k > 0 { c += b.color * pow(k, b.sharpness) }
        }
        return c
    }

    /// The gradient and the broad blobs only: what random directions sample; the sharp blobs
    /// (`sharpBlobs`) are added by sampling them explicitly.
    @inline(__always)
    public func smoothRadiance(_ d: SIMD3<Float>) -> SIMD3<Float> {
        let y = d.y
        var c = y >= 0 ? horizon + (top - horizon) * y : horizon + (bottom - horizon) * (-y)
        for b in blobs where b.sharpness < Environment.sharpBlobThreshold {
            let k = dot(d, b.direction)
            if k > 0 { c += b.color * pow(k, b.sharpness) }
        }
        return c
    }

    public var sharpBlobs: [Blob] { blobs.filter { $0.sharpness >= Environment.sharpBlobThreshold } }

    /// Irradiance (per channel) of a blob on a surface facing it: ∫ c·cos^s θ dω = 2π c / (s + 1).
    @inline(__always) public static func blobPower(_ b: Blob) -> SIMD3<Float> { b.color * (2 * Float.pi / (b.sharpness + 1)) }

    /// A direction distributed ∝ cos^s about the blob's direction (pdf = (s+1)/(2π) cos^s θ), so
    /// that `blobPower · f(l) · cos` is an unbiased estimate of the blob's reflected light.
    @inline(__always) public static func sampleBlob(_ b: Blob, _ u1: Float, _ u2: Float) -> SIMD3<Float> {
        let cosT = pow(max(u1, 1e-12), 1 / (b.sharpness + 1)), sinT = max(0, 1 - cosT * cosT).squareRoot()
        let d = b.direction
        let a = abs(d.x) > 0.9 ? SIMD3<Float>(0, 1, 0) : SIMD3<Float>(1, 0, 0)
        let t = normalize(cross(a, d)), bt = cross(d, t)
        let (c, sn) = cosSinTwoPi(u2)
        return normalize(t * (sinT * c) + bt * (sinT * sn) + d * cosT)
    }

    /// Irradiance on a surface with normal `n` from the whole environment (all blobs), by a fixed
    /// 256-direction Fibonacci quadrature of the hemisphere: E = ∫ L(ω) (n·ω) dω.
    public func irradiance(normal n: SIMD3<Float>) -> SIMD3<Float> {
        let count = 256
        let a = abs(n.x) > 0.9 ? SIMD3<Float>(0, 1, 0) : SIMD3<Float>(1, 0, 0)
        let t = normalize(cross(a, n)), b = cross(n, t)
        var sum = SIMD3<Float>.zero
        for i in 0..<count {
            // Cosine-weighted Fibonacci points: E = π · mean L.
            let u1 = (Float(i) + 0.5) / Float(count), phi = Float(i) * 2.399963
            let r = u1.squareRoot()
            let d = t * (r * cos(phi)) + b * (r * sin(phi)) + n * (1 - u1).squareRoot()
            sum += radiance(d)
        }
        return sum * (Float.pi / Float(count))
    }
}

/// Everything lighting a sample: environment and lights.
public struct Lighting: Equatable, Sendable {
    public var environment = Environment()
    public var lights: [Light] = []
    public init() {}
}

/// The image behind the head.
public struct Background: Equatable, Sendable {
    /// `dark`: a dim studio backdrop (the real photos' look): a near-black vertical gradient from
    /// `colorA` (top) to `colorB` with a vignette, lit only by spill.
    public enum Kind: String, Sendable, CaseIterable { case environment, gradient, noise, clutter, dark }
    public var kind: Kind = .gradient
    public var colorA = SIMD3<Float>(0.2, 0.2, 0.25)
    public var colorB = SIMD3<Float>(0.5, 0.5, 0.5)
    public var scale: Float = 4
    public var seed: UInt64 = 0
    public init() {}
}

/// Camera and sensor effects applied to the linear image.
public struct CameraEffects: Equatable, Sendable {
    public var exposure: Float = 1                 // multiplies radiance
    public var whiteBalance = SIMD3<Float>(1, 1, 1)
    public var noiseSigma: Float = 0               // Gaussian noise in 8-bit units
    public var blurRadius: Int = 0                 // box blur half-width in pixels
    public var compressionQuality: Int = 0         // 0 = none; 1…100 = JPEG-like block quantisation
    public init() {}
}

/// Render settings.
public struct RenderSettings: Equatable, Sendable {
    public var samplesPerPixel: Int = 16
    /// Worker threads for the image's row blocks (0 = one per core). Results do not depend on it.
    public var threads: Int = 0
    /// Skips Embree for pixels no camera ray of which can reach the scene (`PixelCull`); the image
    /// is the same bits either way (tested), so this exists only to check that.
    public var pixelCulling = true
    /// Head-mesh samples per pixel that are shaded (0 = every sample). Coverage, labels and the
    /// anti-aliased silhouette still use every sample; when more samples of a pixel hit the head,
    /// `shadingSamples` of them, spread evenly over the pixel (`Integrator.shadingOrder`), are
    /// shaded and the others take their mean, as multisample anti-aliasing does. Lighting noise
    /// then falls with √shadingSamples instead of √samplesPerPixel.
    public var shadingSamples = 0
    public init(samplesPerPixel: Int = 16, threads: Int = 0) { self.samplesPerPixel = samplesPerPixel; self.threads = threads }
}

/// (cos 2πu, sin 2πu) for u in [0, 1) with one `cos` and a square root (the sign of sin from the
/// half turn): sampling code needs both, and libm's sinf + cosf cost 3 % of a render.
@inline(__always) func cosSinTwoPi(_ u: Float) -> (Float, Float) {
    let c = cos(2 * Float.pi * u)
    let s = max(0, 1 - c * c).squareRoot()
    return (c, u < 0.5 ? s : -s)
}
