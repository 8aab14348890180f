import Geometry

/// Seeded sampling of plausible heads: identity, expression and joint poses.
///
/// Expressions are sparse and correlated: a sample picks one archetype (neutral, smile, open
/// mouth, blink, surprise, ...), activates its named blendshapes with random strengths, and may
/// make it one-sided. Models whose expression modes are unnamed PCA components (FLAME) get sparse
/// Gaussian coefficients instead.
public struct HeadSampler: Sendable {
    /// Multiplies the identity std-devs (1 = the model's own distribution).
    public var identitySpread: Float = 1
    /// Identity coefficients are clamped to ±this many std-devs.
    public var identityClamp: Float = 3
    /// Probability that a sample has no expression at all.
    public var neutralProbability: Float = 0.2
    /// Probability that an archetype is applied to one side only.
    public var asymmetryProbability: Float = 0.25
    /// Neck rotation ranges in radians (yaw, pitch, roll), uniform in ±range.
    public var neckRange = SIMD3<Float>(0.5, 0.3, 0.15)
    /// Gaze ranges in radians (yaw, pitch), uniform in ±range; eyes move together.
    public var gazeRange = SIMD2<Float>(0.4, 0.25)
    /// Largest jaw opening by rotation (radians) for models without a jawOpen blendshape.
    public var maxJawOpen: Float = 0.35

    public init() {}

    /// Named archetypes: blendshape name → (min, max) weight.
    static let archetypes: [[String: ClosedRange<Float>]] = [
        ["mouthSmile_L": 0.4...1, "mouthSmile_R": 0.4...1, "cheekSquint_L": 0...0.6, "cheekSquint_R": 0...0.6, "eyeSquint_L": 0...0.4, "eyeSquint_R": 0...0.4],
        ["jawOpen": 0.3...1, "mouthLowerDown_L": 0...0.5, "mouthLowerDown_R": 0...0.5, "mouthUpperUp_L": 0...0.3, "mouthUpperUp_R": 0...0.3],
        ["jawOpen": 0.2...0.7, "mouthSmile_L": 0.5...1, "mouthSmile_R": 0.5...1, "cheekSquint_L": 0.2...0.7, "cheekSquint_R": 0.2...0.7],
        ["eyeBlink_L": 0.6...1, "eyeBlink_R": 0.6...1],
        ["browInnerUp_L": 0.4...1, "browInnerUp_R": 0.4...1, "browOuterUp_L": 0.3...1, "browOuterUp_R": 0.3...1, "eyeWide_L": 0.3...1, "eyeWide_R": 0.3...1, "jawOpen": 0...0.6],
        ["browDown_L": 0.4...1, "browDown_R": 0.4...1, "mouthFrown_L": 0.3...1, "mouthFrown_R": 0.3...1, "noseSneer_L": 0...0.6, "noseSneer_R": 0...0.6],
        ["mouthPucker": 0.4...1, "mouthFunnel": 0...0.6],
        ["mouthPress_L": 0.3...1, "mouthPress_R": 0.3...1, "mouthRollLower": 0...0.5, "mouthRollUpper": 0...0.5],
        ["cheekPuff_L": 0.4...1, "cheekPuff_R": 0.4...1, "mouthClose": 0...0.3],
        ["mouthStretch_L": 0.3...1, "mouthStretch_R": 0.3...1, "jawOpen": 0...0.4, "mouthDimple_L": 0...0.5, "mouthDimple_R": 0...0.5],
        ["jawLeft": 0.2...0.8, "mouthLeft": 0.2...0.8],
        ["jawRight": 0.2...0.8, "mouthRight": 0.2...0.8],
        ["eyeSquint_L": 0.3...0.9, "eyeSquint_R": 0.3...0.9, "browDown_L": 0...0.5, "browDown_R": 0...0.5, "noseSneer_L": 0.2...0.8, "noseSneer_R": 0.2...0.8, "mouthUpperUp_L": 0...0.6, "mouthUpperUp_R": 0...0.6],
    ]

    /// Samples parameters for `model` from the stream `rng`. Root joint and global transform stay
    /// identity: head placement is the camera rig's business.
    public func sample(_ model: HeadModel, rng: inout SplitMix64) -> HeadParameters {
        var p = HeadParameters.neutral(for: model)
        for k in 0..<model.identityCount {
            let z = max(-identityClamp, min(identityClamp, rng.normal() * identitySpread))
            p.identity[k] = z * model.identityScale[k]
        }

        let names = Dictionary(model.expressionNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        func known(_ key: String) -> Bool {
            names[key] != nil || ((key.hasSuffix("_L") || key.hasSuffix("_R")) && names[String(key.dropLast(2))] != nil)
        }
        let namedModes = Self.archetypes.contains { $0.keys.contains(where: known) }
        var jawFromBlendshape = false
        if namedModes {
            if !rng.bernoulli(neutralProbability) {
                let usable = Self.archetypes.filter { $0.keys.contains(where: known) }
                let archetype = usable[Int(rng.next() % UInt64(usable.count))]
                let oneSide: Character? = rng.bernoulli(asymmetryProbability) ? (rng.bernoulli(0.5) ? "L" : "R") : nil
                for key in archetype.keys.sorted() {
                    let range = archetype[key]!
                    var w = rng.uniform(range.lowerBound, range.upperBound)
                    if let side = oneSide, key.hasSuffix("_L") || key.hasSuffix("_R"), key.last != side { w *= 0.15 }
                    // ICT splits some ARKit shapes into _L/_R; ARKit itself (MakeHuman's face units) has one.
                    let unsided = key.hasSuffix("_L") || key.hasSuffix("_R") ? String(key.dropLast(2)) : key
                    if let k = names[key] { p.expression[k] = w } else if let k = names[unsided], p.expression[k] == 0 { p.expression[k] = w }
                    if key == "jawOpen" && w > 0 { jawFromBlendshape = true }
                }
                // A little of everything else, so no two smiles are alike.
                for k in 0..<model.expressionCount where p.expression[k] == 0 && rng.bernoulli(0.1) {
                    p.expression[k] = rng.uniform(0, 0.2)
                }
            }
        } else if model.expressionCount > 0 && !rng.bernoulli(neutralProbability) {
            // PCA expressions: a few active low-order components, decaying with order.
            for k in 0..<min(model.expressionCount, 20) where rng.bernoulli(0.5) {
                p.expression[k] = rng.normal() * 1.2 / (1 + Float(k) * 0.15)
            }
        }

        let neck = SIMD3<Float>(rng.uniform(-1, 1) * neckRange.y, rng.uniform(-1, 1) * neckRange.x, rng.uniform(-1, 1) * neckRange.z)
        p.jointRotations[Joint.neck.rawValue] = Mat3.rotation(yaw: neck.y, pitch: neck.x, roll: neck.z).axisAngle
        // Jaw: rotation opens the mouth for models without a jawOpen shape; otherwise only a small play.
        let jawOpen = namedModes ? (jawFromBlendshape ? 0 : rng.uniform(0, 0.04))
                                 : (rng.bernoulli(0.4) ? rng.uniform(0, maxJawOpen) : rng.uniform(0, 0.03))
        p.jointRotations[Joint.jaw.rawValue] = SIMD3(jawOpen, rng.uniform(-0.02, 0.02), 0)
        let gaze = Mat3.rotation(yaw: rng.uniform(-1, 1) * gazeRange.x, pitch: rng.uniform(-1, 1) * gazeRange.y, roll: 0).axisAngle
        let vergence = rng.uniform(0, 0.03)
        p.jointRotations[Joint.leftEye.rawValue] = gaze + SIMD3(0, -vergence, 0)
        p.jointRotations[Joint.rightEye.rawValue] = gaze + SIMD3(0, vergence, 0)
        return p
    }

    /// Sample `k` of a seeded sequence: depends only on (seed, k).
    public func sample(_ model: HeadModel, seed: UInt64, index: UInt64 = 0) -> HeadParameters {
        var rng = SplitMix64(seed: seed).derive(index)
        return sample(model, rng: &rng)
    }
}
