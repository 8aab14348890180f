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

    // Calibrated so m = 0.05 gives fair skin ≈ (0.79, 0.59, 0.52), m = 0.3 medium ≈ (0.53, 0.35,
    // 0.27) and m = 0.8 dark ≈ (0.24, 0.12, 0.07) at h = 0.05 (measured skin albedos are in these ranges).
    static let melaninAbsorption = SIMD3<Float>(1.6, 2.1, 2.7)
    static let hemoglobinAbsorption = SIMD3<Float>(0.5, 4.5, 4.5)
    static let baseTint = SIMD3<Float>(0.88, 0.82, 0.75)

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

    @inline(__always)
    public func radiance(_ d: SIMD3<Float>) -> SIMD3<Float> {
        let y = d.y
        var c = y >= 0 ? horizon + (top - horizon) * y : horizon + (bottom - horizon) * (-y)
        for b in blobs {
            let k = dot(d, b.direction)
            if k > 0 { c += b.color * pow(k, b.sharpness) }
        }
        return c
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
    public enum Kind: String, Sendable, CaseIterable { case environment, gradient, noise, clutter }
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
    public init(samplesPerPixel: Int = 16, threads: Int = 0) { self.samplesPerPixel = samplesPerPixel; self.threads = threads }
}
