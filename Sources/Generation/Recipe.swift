import Foundation
import Yams
import Rendering

/// A recipe error names the file, the line and the key path.
public struct RecipeError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var key: String
    public var reason: String
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : key + ": ")\(reason)" }
}

/// A uniform range `[lo, hi]`; a single number in YAML means `lo == hi`.
public struct UniformRange: Equatable, Sendable {
    public var lo: Float, hi: Float
    public init(_ lo: Float, _ hi: Float) { self.lo = lo; self.hi = hi }
}

/// Everything a corpus is made from. Every field has a default (the quickstart's), so a recipe
/// only states what it changes. Angles in degrees, lengths in metres.
public struct Recipe: Equatable, Sendable {
    public var name = "quickstart"
    /// "default" (the built-in MakeHuman model) or a path to a prepared model file.
    public var model = "default"
    public var width = 256, height = 256
    public var samplesPerPixel = 8
    /// Head samples shaded per pixel, 0 = all (`RenderSettings.shadingSamples`).
    public var shadingSamples = 0

    public enum RigKind: String, Sendable { case inTheWild = "in_the_wild", multiView = "multi_view" }
    public var rig = RigKind.inTheWild
    // In the wild.
    public var yaw: Float = 90, pitch: Float = 40, roll: Float = 20
    public var focalMM = UniformRange(24, 135)          // full-frame equivalent
    public var fill = UniformRange(0.45, 0.8)           // head height / image height
    public var framingJitter: Float = 0.08              // of the image size
    public var cropProbability: Float = 0.08
    public var distortion: Float = 0                    // max |k1|
    // Multi-view.
    public var cameras = 13
    public var rigDistance: Float = 1.0
    public var rigFocalMM: Float = 50

    // Head.
    public var identitySpread: Float = 1
    public var neutralProbability: Float = 0.2
    public var asymmetryProbability: Float = 0.25
    public var neck = SIMD3<Float>(28, 17, 8)           // yaw, pitch, roll ranges of the neck joint
    public var gaze = SIMD2<Float>(23, 14)

    // Appearance.
    public var melanin = UniformRange(0.02, 0.85)
    public var hemoglobin = UniformRange(0.02, 0.1)
    public var oiliness = UniformRange(0.1, 0.6)
    public var freckleProbability: Float = 0.2

    // Lighting and background.
    public var environments: [String: Float] = ["studio": 1, "outdoor": 1, "indoor": 1]
    public var lightCount = UniformRange(0, 3)
    public var lightIntensity = UniformRange(0.5, 3)
    /// Probability of a key light and its irradiance relative to the remaining fill (see `Generator.sampleLighting`).
    public var keyProbability: Float = 0.6
    public var keyFillRatio = UniformRange(1.5, 6)
    public var backgrounds: [String: Float] = ["environment": 1, "gradient": 1, "noise": 1, "clutter": 1, "dark": 1]

    // Camera effects.
    public var exposure = UniformRange(0.7, 1.4)
    public var whiteBalance: Float = 0.1
    public var sensorNoise = UniformRange(0, 4)
    public var blurProbability: Float = 0.15
    public var compressionProbability: Float = 0.15

    // Hair, beards and brows (strands). Off unless a recipe asks for them.
    public var hairStyles: [String: Float] = ["none": 1]
    public var hairStrands = 30000                      // scalp strands at density 1
    public var hairDensity = UniformRange(0.7, 1.2)     // multiplies hairStrands
    public var eumelanin = UniformRange(0.15, 8)        // log-uniform
    public var pheomelanin = UniformRange(0, 1.2)
    public var redProbability: Float = 0.05
    public var greyProbability: Float = 0.1
    public var beardProbability: Float = 0
    public var beardStyles: [String: Float] = ["stubble": 1, "moustache": 0.5, "goatee": 0.5, "full": 1]
    public var beardStrands = 12000
    public var strandBrowProbability: Float = 0
    public var browStrands = 700                        // per brow
    // Eyelashes (strands): on by default, every face has them and the models' lash cards are not drawn.
    public var eyelashProbability: Float = 1
    public var lashStrands = 90                         // per upper lid (lower lids: 40 %)
    public var lashLength = UniformRange(0.007, 0.011)  // longest upper lash, metres

    // Accessories (fitted meshes). Off unless a recipe asks for them. Probabilities per subject.
    public var glassesProbability: Float = 0
    public var glassesStyles: [String: Float] = ["round": 1, "rectangular": 2, "aviator": 1]
    public var sunglassesProbability: Float = 0.25
    public var glassesThicknessMM = UniformRange(1.5, 5)
    public var frameColors: [String: Float] = ["black": 3, "tortoise": 1, "gold": 1, "silver": 1, "colour": 1]
    public var headwearProbability: Float = 0
    public var headwearStyles: [String: Float] = ["cap": 2, "beanie": 1.5, "headband": 0.5, "hat": 1, "headphones": 0.6]
    public var facewearProbability: Float = 0
    public var facewearStyles: [String: Float] = ["surgical": 2, "cloth": 1]
    public var earLoopProbability: Float = 0.85
    public var clothingProbability: Float = 0
    public var clothingStyles: [String: Float] = ["crew": 2, "turtleneck": 0.5, "collar": 1]
    public var earringProbability: Float = 0
    public var earringStyles: [String: Float] = ["stud": 1, "hoop": 1]
    public var fabricBrightness = UniformRange(0.03, 0.75)  // albedo of the brightest channel
    public var fabricSaturation = UniformRange(0, 0.8)

    /// gzip level per channel (0 = none). Unlisted channels are stored uncompressed.
    public var gzip: [String: Int] = [:]

    /// The recipe's own text, stored in the corpus.
    public var text = ""

    public init() {}

    public static func load(path: String) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecipeError(file: path, line: nil, key: "", reason: "cannot read the recipe (no such file?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RecipeError(file: path, line: nil, key: "", reason: "not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> Recipe {
        var r = Recipe()
        r.text = text
        let root: Node
        do {
            guard let n = try Yams.compose(yaml: text) else { return r }
            root = n
        } catch let e as YamlError {
            throw RecipeError(file: file, line: nil, key: "", reason: "not valid YAML: \(e)")
        }
        let reader = RecipeReader(file: file)
        let top = try reader.mapping(root, path: "", allowed: ["name", "model", "image", "rig", "head", "appearance", "hair", "beard", "eyebrows", "eyelashes", "accessories", "lighting", "background", "camera_effects", "output"])
        if let n = top["name"] { r.name = try reader.string(n, "name") }
        if let n = top["model"] { r.model = try reader.string(n, "model") }
        if let n = top["image"] {
            let m = try reader.mapping(n, path: "image", allowed: ["width", "height", "samples_per_pixel", "shading_samples"])
            if let v = m["width"] { r.width = try reader.int(v, "image.width", 16...8192) }
            if let v = m["height"] { r.height = try reader.int(v, "image.height", 16...8192) }
            if let v = m["samples_per_pixel"] { r.samplesPerPixel = try reader.int(v, "image.samples_per_pixel", 1...4096) }
            if let v = m["shading_samples"] { r.shadingSamples = try reader.int(v, "image.shading_samples", 0...4096) }
        }
        if let n = top["rig"] {
            let m = try reader.mapping(n, path: "rig", allowed: ["kind", "yaw", "pitch", "roll", "focal_mm", "fill", "framing_jitter",
                                                                 "crop_probability", "distortion", "cameras", "distance"])
            if let v = m["kind"] {
                let s = try reader.string(v, "rig.kind")
                guard let k = RigKind(rawValue: s) else { throw reader.error(v, "rig.kind", "'\(s)' is not one of in_the_wild, multi_view") }
                r.rig = k
            }
            if let v = m["yaw"] { r.yaw = try reader.float(v, "rig.yaw", 0...180) }
            if let v = m["pitch"] { r.pitch = try reader.float(v, "rig.pitch", 0...90) }
            if let v = m["roll"] { r.roll = try reader.float(v, "rig.roll", 0...180) }
            if let v = m["focal_mm"] {
                if r.rig == .multiView, case .scalar = v { r.rigFocalMM = try reader.float(v, "rig.focal_mm", 5...1000) }
                else { r.focalMM = try reader.range(v, "rig.focal_mm", 5...1000) }
            }
            if let v = m["fill"] { r.fill = try reader.range(v, "rig.fill", 0.05...3) }
            if let v = m["framing_jitter"] { r.framingJitter = try reader.float(v, "rig.framing_jitter", 0...0.5) }
            if let v = m["crop_probability"] { r.cropProbability = try reader.float(v, "rig.crop_probability", 0...1) }
            if let v = m["distortion"] { r.distortion = try reader.float(v, "rig.distortion", 0...0.5) }
            if let v = m["cameras"] { r.cameras = try reader.int(v, "rig.cameras", 1...256) }
            if let v = m["distance"] { r.rigDistance = try reader.float(v, "rig.distance", 0.2...20) }
        }
        if let n = top["head"] {
            let m = try reader.mapping(n, path: "head", allowed: ["identity_spread", "neutral_probability", "asymmetry_probability", "neck", "gaze"])
            if let v = m["identity_spread"] { r.identitySpread = try reader.float(v, "head.identity_spread", 0...3) }
            if let v = m["neutral_probability"] { r.neutralProbability = try reader.float(v, "head.neutral_probability", 0...1) }
            if let v = m["asymmetry_probability"] { r.asymmetryProbability = try reader.float(v, "head.asymmetry_probability", 0...1) }
            if let v = m["neck"] {
                let a = try reader.floats(v, "head.neck", count: 3, 0...90)
                r.neck = SIMD3(a[0], a[1], a[2])
            }
            if let v = m["gaze"] {
                let a = try reader.floats(v, "head.gaze", count: 2, 0...60)
                r.gaze = SIMD2(a[0], a[1])
            }
        }
        if let n = top["appearance"] {
            let m = try reader.mapping(n, path: "appearance", allowed: ["melanin", "hemoglobin", "oiliness", "freckle_probability"])
            if let v = m["melanin"] { r.melanin = try reader.range(v, "appearance.melanin", 0...1) }
            if let v = m["hemoglobin"] { r.hemoglobin = try reader.range(v, "appearance.hemoglobin", 0...0.5) }
            if let v = m["oiliness"] { r.oiliness = try reader.range(v, "appearance.oiliness", 0...1) }
            if let v = m["freckle_probability"] { r.freckleProbability = try reader.float(v, "appearance.freckle_probability", 0...1) }
        }
        if let n = top["hair"] {
            let m = try reader.mapping(n, path: "hair", allowed: ["styles", "strands", "density", "eumelanin", "pheomelanin",
                                                                  "red_probability", "grey_probability"])
            if let v = m["styles"] { r.hairStyles = try reader.weights(v, "hair.styles", allowed: Set(HairStyle.allCases.map(\.rawValue))) }
            if let v = m["strands"] { r.hairStrands = try reader.int(v, "hair.strands", 0...1_000_000) }
            if let v = m["density"] { r.hairDensity = try reader.range(v, "hair.density", 0...4) }
            if let v = m["eumelanin"] { r.eumelanin = try reader.range(v, "hair.eumelanin", 0.01...20) }
            if let v = m["pheomelanin"] { r.pheomelanin = try reader.range(v, "hair.pheomelanin", 0...10) }
            if let v = m["red_probability"] { r.redProbability = try reader.float(v, "hair.red_probability", 0...1) }
            if let v = m["grey_probability"] { r.greyProbability = try reader.float(v, "hair.grey_probability", 0...1) }
        }
        if let n = top["beard"] {
            let m = try reader.mapping(n, path: "beard", allowed: ["probability", "styles", "strands"])
            if let v = m["probability"] { r.beardProbability = try reader.float(v, "beard.probability", 0...1) }
            if let v = m["styles"] {
                r.beardStyles = try reader.weights(v, "beard.styles", allowed: Set(BeardStyle.allCases.filter { $0 != .none }.map(\.rawValue)))
            }
            if let v = m["strands"] { r.beardStrands = try reader.int(v, "beard.strands", 0...200_000) }
        }
        if let n = top["eyebrows"] {
            let m = try reader.mapping(n, path: "eyebrows", allowed: ["strand_probability", "strands"])
            if let v = m["strand_probability"] { r.strandBrowProbability = try reader.float(v, "eyebrows.strand_probability", 0...1) }
            if let v = m["strands"] { r.browStrands = try reader.int(v, "eyebrows.strands", 0...20_000) }
        }
        if let n = top["accessories"] { try parseAccessories(n, reader: reader, into: &r) }
        if let n = top["eyelashes"] {
            let m = try reader.mapping(n, path: "eyelashes", allowed: ["probability", "strands", "length"])
            if let v = m["probability"] { r.eyelashProbability = try reader.float(v, "eyelashes.probability", 0...1) }
            if let v = m["strands"] { r.lashStrands = try reader.int(v, "eyelashes.strands", 0...2_000) }
            if let v = m["length"] { r.lashLength = try reader.range(v, "eyelashes.length", 0.001...0.03) }
        }
        if let n = top["lighting"] {
            let m = try reader.mapping(n, path: "lighting", allowed: ["environments", "lights", "intensity", "key_probability", "key_fill_ratio"])
            if let v = m["key_probability"] { r.keyProbability = try reader.float(v, "lighting.key_probability", 0...1) }
            if let v = m["key_fill_ratio"] { r.keyFillRatio = try reader.range(v, "lighting.key_fill_ratio", 0...100) }
            if let v = m["environments"] { r.environments = try reader.weights(v, "lighting.environments", allowed: ["studio", "outdoor", "indoor"]) }
            if let v = m["lights"] { r.lightCount = try reader.range(v, "lighting.lights", 0...8) }
            if let v = m["intensity"] { r.lightIntensity = try reader.range(v, "lighting.intensity", 0...100) }
        }
        if let n = top["background"] {
            let m = try reader.mapping(n, path: "background", allowed: ["kinds"])
            if let v = m["kinds"] { r.backgrounds = try reader.weights(v, "background.kinds", allowed: Set(Background.Kind.allCases.map(\.rawValue))) }
        }
        if let n = top["camera_effects"] {
            let m = try reader.mapping(n, path: "camera_effects", allowed: ["exposure", "white_balance", "noise", "blur_probability", "compression_probability"])
            if let v = m["exposure"] { r.exposure = try reader.range(v, "camera_effects.exposure", 0.01...100) }
            if let v = m["white_balance"] { r.whiteBalance = try reader.float(v, "camera_effects.white_balance", 0...0.5) }
            if let v = m["noise"] { r.sensorNoise = try reader.range(v, "camera_effects.noise", 0...50) }
            if let v = m["blur_probability"] { r.blurProbability = try reader.float(v, "camera_effects.blur_probability", 0...1) }
            if let v = m["compression_probability"] { r.compressionProbability = try reader.float(v, "camera_effects.compression_probability", 0...1) }
        }
        if let n = top["output"] {
            let m = try reader.mapping(n, path: "output", allowed: ["gzip"])
            if let v = m["gzip"] {
                let g = try reader.mapping(v, path: "output.gzip", allowed: Set(channelNames))
                for (k, node) in g { r.gzip[k] = try reader.int(node, "output.gzip.\(k)", 0...9) }
            }
        }
        return r
    }

    /// `accessories:` — one mapping per kind (`glasses`, `headwear`, `facewear`, `clothing`,
    /// `earrings`, each with `probability` and `styles` weights; glasses also `sunglasses_probability`,
    /// `thickness_mm`, `colors`; facewear `ear_loop_probability`) and the fabric colour ranges
    /// `fabric_brightness`, `fabric_saturation`.
    static func parseAccessories(_ node: Node, reader: RecipeReader, into r: inout Recipe) throws {
        let m = try reader.mapping(node, path: "accessories", allowed: ["glasses", "headwear", "facewear", "clothing", "earrings",
                                                                        "fabric_brightness", "fabric_saturation"])
        func kind(_ key: String, styles: [String], extra: Set<String> = [], _ body: ([String: Node]) throws -> Void) throws {
            guard let n = m[key] else { return }
            let k = try reader.mapping(n, path: "accessories.\(key)", allowed: Set(["probability", "styles"]).union(extra))
            try body(k)
        }
        try kind("glasses", styles: GlassesStyle.allCases.map(\.rawValue), extra: ["sunglasses_probability", "thickness_mm", "colors"]) { k in
            if let v = k["probability"] { r.glassesProbability = try reader.float(v, "accessories.glasses.probability", 0...1) }
            if let v = k["styles"] { r.glassesStyles = try reader.weights(v, "accessories.glasses.styles", allowed: Set(GlassesStyle.allCases.map(\.rawValue))) }
            if let v = k["sunglasses_probability"] { r.sunglassesProbability = try reader.float(v, "accessories.glasses.sunglasses_probability", 0...1) }
            if let v = k["thickness_mm"] { r.glassesThicknessMM = try reader.range(v, "accessories.glasses.thickness_mm", 0.5...10) }
            if let v = k["colors"] { r.frameColors = try reader.weights(v, "accessories.glasses.colors", allowed: ["black", "tortoise", "gold", "silver", "colour"]) }
        }
        try kind("headwear", styles: HeadwearStyle.allCases.map(\.rawValue)) { k in
            if let v = k["probability"] { r.headwearProbability = try reader.float(v, "accessories.headwear.probability", 0...1) }
            if let v = k["styles"] { r.headwearStyles = try reader.weights(v, "accessories.headwear.styles", allowed: Set(HeadwearStyle.allCases.map(\.rawValue))) }
        }
        try kind("facewear", styles: FacewearStyle.allCases.map(\.rawValue), extra: ["ear_loop_probability"]) { k in
            if let v = k["probability"] { r.facewearProbability = try reader.float(v, "accessories.facewear.probability", 0...1) }
            if let v = k["styles"] { r.facewearStyles = try reader.weights(v, "accessories.facewear.styles", allowed: Set(FacewearStyle.allCases.map(\.rawValue))) }
            if let v = k["ear_loop_probability"] { r.earLoopProbability = try reader.float(v, "accessories.facewear.ear_loop_probability", 0...1) }
        }
        try kind("clothing", styles: ClothingStyle.allCases.map(\.rawValue)) { k in
            if let v = k["probability"] { r.clothingProbability = try reader.float(v, "accessories.clothing.probability", 0...1) }
            if let v = k["styles"] { r.clothingStyles = try reader.weights(v, "accessories.clothing.styles", allowed: Set(ClothingStyle.allCases.map(\.rawValue))) }
        }
        try kind("earrings", styles: EarringStyle.allCases.map(\.rawValue)) { k in
            if let v = k["probability"] { r.earringProbability = try reader.float(v, "accessories.earrings.probability", 0...1) }
            if let v = k["styles"] { r.earringStyles = try reader.weights(v, "accessories.earrings.styles", allowed: Set(EarringStyle.allCases.map(\.rawValue))) }
        }
        if let v = m["fabric_brightness"] { r.fabricBrightness = try reader.range(v, "accessories.fabric_brightness", 0...1) }
        if let v = m["fabric_saturation"] { r.fabricSaturation = try reader.range(v, "accessories.fabric_saturation", 0...1) }
    }

    /// Channel names a recipe may name under `output.gzip`.
    public static let channelNames = ["rgb", "coverage", "foreground", "skin_visible", "skin_amodal", "segmentation",
                                      "normals_camera", "normals_model", "uv", "depth", "triangle", "barycentric",
                                      "hair_coverage", "beard_coverage", "eyebrows_coverage", "eyelashes_coverage", "normals_amodal", "uv_amodal",
                                      "glasses_coverage", "headwear_coverage", "facewear_coverage", "clothing_coverage"]
}

/// Typed access to YAML nodes with errors that name file, line and key.
struct RecipeReader {
    let file: String

    func error(_ node: Node, _ key: String, _ reason: String) -> RecipeError {
        RecipeError(file: file, line: node.mark?.line, key: key, reason: reason)
    }

    func mapping(_ node: Node, path: String, allowed: Set<String>) throws -> [String: Node] {
        guard case let .mapping(m) = node else { throw error(node, path, "expected a mapping of keys") }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else { throw error(k, path, "keys must be strings") }
            let full = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                throw error(k, full, "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard out[key] == nil else { throw error(k, full, "duplicate key") }
            out[key] = v
        }
        return out
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard case let .scalar(s) = node else { throw error(node, key, "expected a string") }
        return s.string
    }

    func float(_ node: Node, _ key: String, _ valid: ClosedRange<Float>) throws -> Float {
        guard case .scalar = node, let d = node.float ?? node.int.map(Double.init), d.isFinite else {
            throw error(node, key, "expected a number")
        }
        let f = Float(d)
        guard valid.contains(f) else { throw error(node, key, "\(f) is outside \(valid.lowerBound)…\(valid.upperBound)") }
        return f
    }

    func int(_ node: Node, _ key: String, _ valid: ClosedRange<Int>) throws -> Int {
        guard case .scalar = node, let i = node.int else { throw error(node, key, "expected a whole number") }
        guard valid.contains(i) else { throw error(node, key, "\(i) is outside \(valid.lowerBound)…\(valid.upperBound)") }
        return i
    }

    func floats(_ node: Node, _ key: String, count: Int, _ valid: ClosedRange<Float>) throws -> [Float] {
        guard case let .sequence(seq) = node, seq.count == count else { throw error(node, key, "expected a list of \(count) numbers") }
        return try seq.map { try float($0, key, valid) }
    }

    func range(_ node: Node, _ key: String, _ valid: ClosedRange<Float>) throws -> UniformRange {
        if case .scalar = node { let v = try float(node, key, valid); return UniformRange(v, v) }
        let a = try floats(node, key, count: 2, valid)
        guard a[0] <= a[1] else { throw error(node, key, "[min, max] with min > max") }
        return UniformRange(a[0], a[1])
    }

    func weights(_ node: Node, _ key: String, allowed: Set<String>) throws -> [String: Float] {
        let m = try mapping(node, path: key, allowed: allowed)
        var out: [String: Float] = [:]
        for (k, v) in m { out[k] = try float(v, "\(key).\(k)", 0...1_000_000) }
        guard out.values.contains(where: { $0 > 0 }) else { throw error(node, key, "all weights are zero") }
        return out
    }
}

extension Recipe {
    /// The integrator settings the recipe asks for.
    public func renderSettings(threads: Int = 0) -> RenderSettings {
        var settings = RenderSettings(samplesPerPixel: samplesPerPixel, threads: threads)
        settings.shadingSamples = shadingSamples
        return settings
    }
}
