import Dispatch
import Foundation
import Geometry
import HeadModels

/// Scalp hair styles. `receding` thins out the front and crown; `bald` keeps at most a short
/// horseshoe round the back and sides.
public enum HairStyle: String, CaseIterable, Sendable {
    case none, buzz, short, medium, long, ponytail, curly, afro, receding, bald
}

/// Facial-hair styles grown from density maps on the lower face (regions placed by landmarks).
public enum BeardStyle: String, CaseIterable, Sendable {
    case none, stubble, moustache, goatee, full
}

/// Strand layers: each is one Embree curve geometry (id = rawValue) and one coverage channel.
public enum StrandLayer: Int, CaseIterable, Sendable {
    case hair = 1, beard = 2, eyebrows = 3, eyelashes = 4
    public var name: String { ["", "hair", "beard", "eyebrows", "eyelashes"][rawValue] }
    /// Embree geometry mask bit of the layer (the head is bit 0).
    public var mask: UInt32 { 1 << UInt32(rawValue) }
}

/// Everything about one subject's hair, brows and beard. Lengths in metres.
public struct Groom: Equatable, Sendable {
    public var style: HairStyle = .none
    public var strands: Int = 0              // scalp strands
    public var length: Float = 0.1           // scalp hair length
    public var curl: Float = 0               // 0 straight … 1 tight coils
    public var wave: Float = 0               // 0 … 1 planar waves
    public var clump: Float = 0.3            // 0 … 1 how much children converge to their guide
    public var gravity: Float = 0.5          // 0 … 1
    public var parting: Float = 0            // parting position across the head, −1 … 1 (0 = centre)
    public var frizz: Float = 0.1            // 0 … 1 random stray displacement
    public var radius: Float = 4e-5          // strand radius at the root
    public var eumelanin: Float = 1.5        // concentration (0 white-blond … 8 black)
    public var pheomelanin: Float = 0.2      // concentration (red)
    public var grey: Float = 0               // fraction of white strands
    public var beard: BeardStyle = .none
    public var beardStrands: Int = 0
    public var beardLength: Float = 0.008
    public var eyebrows: Bool = false        // strand brows replace the painted ones
    public var browStrands: Int = 0          // per brow
    public var eyelashes: Bool = false       // strand lashes along the lid margins (the models' lash cards are not drawn)
    public var lashStrands: Int = 0          // per upper lid; lower lids get 40 %
    public var lashLength: Float = 0.009     // longest upper lash; lower lashes are half as long
    public var lashCurl: Float = 0.5         // 0 straight … 1 strongly curled away from the eye
    public var seed: UInt64 = 0
    public init() {}

    public var isEmpty: Bool {
        (style == .none || strands == 0) && (beard == .none || beardStrands == 0) && !(eyebrows && browStrands > 0) && !(eyelashes && lashStrands > 0)
    }

    /// Fibre colour from melanin concentrations (absorption coefficients of eumelanin and
    /// pheomelanin per unit concentration, as in d'Eon et al. 2011 / Chiang et al. 2016), turned
    /// into a diffuse albedo with a fixed path-length factor.
    public static func albedo(eumelanin: Float, pheomelanin: Float) -> SIMD3<Float> {
        let sigma = eumelanin * SIMD3<Float>(0.419, 0.697, 1.37) + pheomelanin * SIMD3<Float>(0.187, 0.4, 1.05)
        return SIMD3(exp(-2.5 * sigma.x), exp(-2.5 * sigma.y), exp(-2.5 * sigma.z)) * 0.9
    }
}

/// The strands of one layer, as Embree linear-curve buffers plus per-strand shading data.
public struct StrandSet: Sendable {
    public var layer: StrandLayer
    public var points: [SIMD4<Float>] = []       // x, y, z, radius (world)
    public var segments: [UInt32] = []          // first control point of each segment
    public var segmentStrand: [UInt32] = []     // strand of each segment
    public var segmentV: [Float] = []           // position along the strand (0 root … 1 tip) at the segment start
    public var roots: [SIMD3<Float>] = []       // root positions on the surface (world)
    public var rootFaces: [Int32] = []          // model face of each root
    public var strandColor: [SIMD3<Float>] = [] // diffuse albedo per strand
    public var strandClass: [UInt8] = []        // SegmentationClass per strand
    public init(layer: StrandLayer) { self.layer = layer }
    public var strandCount: Int { roots.count }

    /// Control points of strand `s` (for tests and exporters).
    public func strandPoints(_ s: Int) -> [SIMD3<Float>] {
        var out: [SIMD3<Float>] = []
        for (k, st) in segmentStrand.enumerated() where Int(st) == s {
            let a = points[Int(segments[k])], b = points[Int(segments[k]) + 1]
            if out.isEmpty { out.append(SIMD3(a.x, a.y, a.z)) }
            out.append(SIMD3(b.x, b.y, b.z))
        }
        return out
    }

    mutating func append(strand pts: [SIMD3<Float>], root: SIMD3<Float>, face: Int, rootRadius: Float, color: SIMD3<Float>, cls: SegmentationClass) {
        guard pts.count >= 2 else { return }
        let s = UInt32(roots.count), first = points.count, n = pts.count
        for (k, p) in pts.enumerated() {
            let v = Float(k) / Float(n - 1)
            points.append(SIMD4(p.x, p.y, p.z, rootRadius * (1 - 0.7 * v * v)))
        }
        for k in 0..<(n - 1) {
            segments.append(UInt32(first + k)); segmentStrand.append(s); segmentV.append(Float(k) / Float(n - 1))
        }
        roots.append(root); rootFaces.append(Int32(face)); strandColor.append(color); strandClass.append(cls.rawValue)
    }
}

/// Grows a `Groom` on a posed head: roots sampled uniformly by area on the layer's faces (kept as
/// face + barycentric, so they follow the pose), guide strands steered by a per-style field,
/// children copied from the nearest guide with clumping, curl, waves and frizz, and every
/// segment collided against an offset of the head surface with Embree rays (so no strand point
/// is ever inside the head).
struct StrandGrower {
    let scene: HeadScene
    let groom: Groom
    let model: HeadModel
    let rotation: Mat3          // model frame → world (head orientation, from landmarks)
    let templateLandmarks: [SIMD3<Float>]
    let offset: Float = 4e-4    // strands keep this far from the skin

    init(scene: HeadScene, groom: Groom) {
        self.scene = scene; self.groom = groom; model = scene.model
        templateLandmarks = model.landmarkPositions(vertices: model.template)
        let posedLandmarks = model.landmarkPositions(vertices: scene.vertices)
        func frame(_ l: [SIMD3<Float>]) -> Mat3 {
            let x = normalize(l[45] - l[36])
            let upRaw = (l[36] + l[45]) / 2 - l[8]
            let y = normalize(upRaw - dot(upRaw, x) * x)
            return Mat3(columns: x, y, cross(x, y))
        }
        let t = frame(templateLandmarks), w = frame(posedLandmarks)
        let r = w * t.transposed
        rotation = r.isFinite ? r : scene.modelRotation.transposed
    }

    // MARK: Roots

    struct Root { var face: Int; var bary: SIMD3<Float> }

    /// `count` roots on `faces`, uniform by posed area times `weight(face)`.
    func sampleRoots(faces: [Int], weight: (Int) -> Float, count: Int, rng: inout SplitMix64) -> [Root] {
        guard count > 0, !faces.isEmpty else { return [] }
        var cdf: [Double] = []; cdf.reserveCapacity(faces.count)
        var total = 0.0
        for f in faces {
            let a = posedPosition(f, SIMD3(1, 0, 0)), b = posedPosition(f, SIMD3(0, 1, 0)), c = posedPosition(f, SIMD3(0, 0, 1))
            total += Double(length(cross(b - a, c - a)) / 2 * max(0, weight(f)))
            cdf.append(total)
        }
        guard total > 0 else { return [] }
        var out: [Root] = []; out.reserveCapacity(count)
        for _ in 0..<count {
            let u = rng.uniformDouble() * total
            var lo = 0, hi = cdf.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] <= u { lo = mid + 1 } else { hi = mid } }
            let r1 = rng.uniform().squareRoot(), r2 = rng.uniform()
            out.append(Root(face: faces[lo], bary: SIMD3(1 - r1, r1 * (1 - r2), r1 * r2)))
        }
        return out
    }

    @inline(__always) func corner(_ f: Int, _ c: Int) -> Int { Int(model.triangles[3 * f + c]) }
    func posedPosition(_ f: Int, _ b: SIMD3<Float>) -> SIMD3<Float> {
        b.x * scene.vertices.vec3(corner(f, 0)) + b.y * scene.vertices.vec3(corner(f, 1)) + b.z * scene.vertices.vec3(corner(f, 2))
    }
    func templatePosition(_ f: Int, _ b: SIMD3<Float>) -> SIMD3<Float> {
        b.x * model.template.vec3(corner(f, 0)) + b.y * model.template.vec3(corner(f, 1)) + b.z * model.template.vec3(corner(f, 2))
    }
    func posedNormal(_ f: Int, _ b: SIMD3<Float>) -> SIMD3<Float> {
        let a = scene.vertices.vec3(corner(f, 0)), p1 = scene.vertices.vec3(corner(f, 1)), p2 = scene.vertices.vec3(corner(f, 2))
        let ng = normalize(cross(p1 - a, p2 - a))
        let n = b.x * scene.normals.vec3(corner(f, 0)) + b.y * scene.normals.vec3(corner(f, 1)) + b.z * scene.normals.vec3(corner(f, 2))
        let ln = length(n)
        if !(ln > 1e-6) { return ng }
        let u = n / ln
        return dot(u, ng) > 0 ? u : ng
    }
    func templateCentroid(_ f: Int) -> SIMD3<Float> { templatePosition(f, SIMD3(repeating: 1.0 / 3)) }

    // MARK: Collision

    /// Moves `b` so that the segment a → b stays at least `offset` outside the head (`a` is outside).
    func collide(_ a: SIMD3<Float>, _ b0: SIMD3<Float>) -> SIMD3<Float> {
        var b = b0
        for _ in 0..<4 {
            let d = b - a, len = length(d)
            if len < 1e-7 { return a }
            let dir = d / len
            guard let h = scene.headHit(origin: a, direction: dir, far: len + offset) else { return b }
            var n = normalize(h.normal)
            if dot(n, dir) > 0 { n = -n }
            let hp = a + h.distance * dir
            let rel = b - hp
            b = hp + n * offset + (rel - n * dot(rel, n))
        }
        let d = b - a, len = length(d)
        if len > 1e-7, scene.headHit(origin: a, direction: d / len, far: len + offset) == nil { return b }
        return a
    }

    // MARK: Growth

    struct Shape {
        var length: Float, segments: Int
        var lift: Float, gravity: Float
        var curlRadius: Float, curlPeriod: Float
        var waveAmplitude: Float, wavePeriod: Float
        var frizz: Float, clump: Float
        var volume: Float = 0   // children stand off the head by up to this much (layered hair volume)
    }

    /// A centreline from `root` (world, on the surface) with world normal `n`, initial combing
    /// direction `comb` (world), steered by gravity and an optional attractor (ponytails).
    func growCentreline(root: SIMD3<Float>, normal n: SIMD3<Float>, comb: SIMD3<Float>, shape s: Shape,
                        attractor: SIMD3<Float>? = nil) -> [SIMD3<Float>] {
        var t = comb - n * dot(comb, n)
        if length(t) < 1e-5 { t = rotation * SIMD3(0, -1, 0); t -= n * dot(t, n) }
        t = length(t) > 1e-6 ? normalize(t) : SIMD3(0, -1, 0)
        var dir = normalize(t * (1 - s.lift) + n * s.lift)
        let step = s.length / Float(s.segments)
        var p = root + n * offset
        var pts = [p]
        let down = SIMD3<Float>(0, -1, 0)
        var tied = false
        for k in 0..<s.segments {
            if let a = attractor, !tied {
                let toA = a - p
                if length(toA) < 0.012 { tied = true; dir = normalize(dir * 0.3 + down) } else { dir = normalize(dir * 0.4 + normalize(toA)) }
            } else {
                // Gravity bends the strand more the further it is from the (stiffer) root.
                let g = s.gravity * min(1, step / 0.01) * (0.3 + 0.7 * Float(k) / Float(s.segments))
                dir = normalize(dir + down * g)
            }
            let q = collide(p, p + dir * step)
            let moved = q - p
            if length(moved) > step * 0.2 { dir = normalize(moved) }
            pts.append(q); p = q
        }
        return pts
    }

    /// A child strand: the guide centreline translated to the child root, pulled toward the guide
    /// (clumping), then curl (helix), waves and frizz, collided segment by segment.
    func child(guide: [SIMD3<Float>], guideRoot: SIMD3<Float>, root: SIMD3<Float>, normal n: SIMD3<Float>, shape s: Shape,
               lengthScale: Float, phase: Float, rng: inout SplitMix64) -> [SIMD3<Float>] {
        let shift = root - guideRoot
        let lift = s.volume > 0 ? s.volume * rng.uniform() : 0
        var out = [root + n * offset]
        var p = out[0]
        let count = guide.count - 1
        var arc: Float = 0
        for k in 1...count {
            let v = Float(k) / Float(count)
            var c = guide[0] + (guide[k] - guide[0]) * lengthScale + shift * (1 - s.clump * v)
            let seg = guide[k] - guide[k - 1]
            arc += length(seg) * lengthScale
            let tangent = length(seg) > 1e-7 ? normalize(seg) : n
            var a = cross(tangent, n)
            if length(a) < 1e-4 { a = cross(tangent, SIMD3(1, 0, 0)) }
            a = normalize(a)
            let b = cross(tangent, a)
            let ramp = min(1, arc / 0.01)
            if lift > 0 { c += n * lift * min(1, arc / 0.03) }
            if s.curlRadius > 0 {
                let phi = phase + 2 * Float.pi * arc / s.curlPeriod
                c += s.curlRadius * ramp * (cos(phi) * a + sin(phi) * b)
            }
            if s.waveAmplitude > 0 { c += s.waveAmplitude * ramp * sin(phase + 2 * Float.pi * arc / s.wavePeriod) * a }
            if s.frizz > 0 {
                c += s.frizz * 0.002 * v * SIMD3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1))
            }
            let q = collide(p, c)
            out.append(q); p = q
        }
        return out
    }

    func shape(for style: HairStyle, _ g: Groom) -> Shape {
        let L = g.length
        var s = Shape(length: L, segments: max(3, min(24, Int((L / 0.012).rounded(.up)) + 2)), lift: 0.3, gravity: g.gravity,
                      curlRadius: 0, curlPeriod: 0.02, waveAmplitude: 0, wavePeriod: 0.05, frizz: g.frizz, clump: g.clump)
        switch style {
        case .buzz: s.lift = 0.25; s.gravity = 0; s.segments = 3
        case .short, .receding: s.lift = 0.12; s.gravity = min(g.gravity, 0.25)
        case .bald: s.lift = 0.3; s.gravity = 0.1
        case .medium, .long, .none: s.lift = 0.15; s.volume = 0.008
        case .ponytail: s.lift = 0.1; s.segments = max(s.segments, 16); s.clump = max(0.6, g.clump)
        case .curly: s.lift = 0.4; s.gravity = g.gravity * 0.5; s.volume = 0.01
        case .afro: s.lift = 0.85; s.gravity = 0.03; s.segments = max(s.segments, 10)
        }
        if style == .curly || style == .afro || g.curl > 0 {
            let c = max(g.curl, style == .afro ? 0.8 : style == .curly ? 0.5 : 0)
            s.curlRadius = 0.0015 + 0.006 * (1 - c) * c * 2
            s.curlPeriod = 0.006 + 0.03 * (1 - c)
            s.segments = min(48, max(s.segments, Int(L / (s.curlPeriod / 6))))
        }
        if g.wave > 0 { s.waveAmplitude = 0.004 * g.wave; s.wavePeriod = 0.04 }
        return s
    }

    // MARK: Layers

    func strandColor(_ rng: inout SplitMix64, eumelanin: Float, pheomelanin: Float, grey: Float) -> SIMD3<Float> {
        if rng.uniform() < grey { return SIMD3(0.75, 0.74, 0.72) * rng.uniform(0.85, 1.05) }
        let e = eumelanin * exp(0.18 * rng.normal()), p = pheomelanin * exp(0.15 * rng.normal())
        return Groom.albedo(eumelanin: e, pheomelanin: p)
    }

    func scalpHair() -> StrandSet {
        var set = StrandSet(layer: .hair)
        let g = groom
        guard g.style != .none, g.strands > 0 else { return set }
        let scalpFaces = (0..<model.triangleCount).filter { model.faceRegions[$0] == Region.scalp.rawValue && scene.isRendered($0) }
        guard !scalpFaces.isEmpty else { return set }
        // The scalp's extent in the model frame (for hairlines, partings and ponytails).
        var lo = SIMD3<Float>(repeating: .infinity), hi = SIMD3<Float>(repeating: -.infinity)
        for f in scalpFaces { let c = templateCentroid(f); lo = pointwiseMin(lo, c); hi = pointwiseMax(hi, c) }
        let size = hi - lo, mid = (lo + hi) / 2
        let style = g.style
        func weight(_ f: Int) -> Float {
            let c = templateCentroid(f)
            let fy = (c.y - lo.y) / max(size.y, 1e-6), fz = (c.z - lo.z) / max(size.z, 1e-6)
            switch style {
            case .receding:
                // Temples and front recede; crown thins.
                let temple = abs(c.x - mid.x) / max(size.x / 2, 1e-6)
                if fz > 0.8 - 0.3 * min(1, temple) { return 0 }
                return fz > 0.5 && fy > 0.85 ? 0.3 : 1
            case .bald:
                return fy < 0.45 && fz < 0.75 ? 1 : 0
            default:
                return 1
            }
        }
        var rng = SplitMix64(seed: g.seed).derive(1)
        let roots = sampleRoots(faces: scalpFaces, weight: weight, count: g.strands, rng: &rng)
        guard !roots.isEmpty else { return set }
        let shapeS = shape(for: style, g)
        // Guides: one per ~40 strands, at least 24.
        let guideCount = min(roots.count, max(24, roots.count / 40))
        var guideRng = SplitMix64(seed: g.seed).derive(2)
        let guideRoots = sampleRoots(faces: scalpFaces, weight: weight, count: guideCount, rng: &guideRng)
        let parting = mid.x + g.parting * size.x * 0.3
        let ponytail = lo.y + 0.45 * size.y
        let attractorModel = SIMD3<Float>(mid.x, ponytail, lo.z - 0.01)
        // Posed attractor: model point mapped with the landmark frame about the posed scalp.
        let posedTemplateCentre = model.landmarkPositions(vertices: model.template)[27]
        let posedCentre = model.landmarkPositions(vertices: scene.vertices)[27]
        let attractorWorld = posedCentre + rotation * (attractorModel - posedTemplateCentre)
        func comb(_ c: SIMD3<Float>) -> SIMD3<Float> {
            let side: Float = c.x >= parting ? 1 : -1
            let fz = (c.z - lo.z) / max(size.z, 1e-6)
            var d: SIMD3<Float>
            switch style {
            case .buzz, .short, .receding, .bald: d = SIMD3(0.35 * side, 0.1, -1)
            case .afro, .curly: d = SIMD3(0.4 * side, -0.2, -0.4)
            case .ponytail: d = normalize(attractorModel - c)
            case .medium, .long, .none: d = SIMD3(0.9 * side, -0.5, fz > 0.8 ? -0.6 : -0.2)
            }
            return rotation * normalize(d)
        }
        let guides: [[SIMD3<Float>]] = guideRoots.map { r in
            growCentreline(root: posedPosition(r.face, r.bary), normal: posedNormal(r.face, r.bary), comb: comb(templatePosition(r.face, r.bary)),
                           shape: shapeS, attractor: style == .ponytail ? attractorWorld : nil)
        }
        let guideTemplate = guideRoots.map { templatePosition($0.face, $0.bary) }
        let guidePhase: [Float] = (0..<guideCount).map { i in var r = SplitMix64(seed: g.seed).derive(0x6000 + UInt64(i)); return r.uniform(0, 2 * Float.pi) }
        // Children in parallel; each from its own stream, so the result does not depend on threads.
        var strands = [[SIMD3<Float>]](repeating: [], count: roots.count)
        var colors = [SIMD3<Float>](repeating: .zero, count: roots.count)
        let chunk = 512
        strands.withUnsafeMutableBufferPointer { sp in
            colors.withUnsafeMutableBufferPointer { cp in
                parallelFor((roots.count + chunk - 1) / chunk, threads: 0) { block in
                    enableFlushToZero()
                    for i in (block * chunk)..<min(roots.count, (block + 1) * chunk) {
                        var r = SplitMix64(seed: g.seed).derive(0x10_0000 + UInt64(i))
                        let root = roots[i], ct = templatePosition(root.face, root.bary)
                        var best = 0, bestD = Float.infinity
                        for (j, gt) in guideTemplate.enumerated() {
                            let d = gt - ct, dd = (d * d).sum()
                            if dd < bestD { bestD = dd; best = j }
                        }
                        let guide = guides[best]
                        let gr = posedPosition(guideRoots[best].face, guideRoots[best].bary)
                        sp[i] = child(guide: guide, guideRoot: gr, root: posedPosition(root.face, root.bary), normal: posedNormal(root.face, root.bary),
                                      shape: shapeS, lengthScale: r.uniform(0.8, 1.0), phase: guidePhase[best] + r.uniform(-0.5, 0.5), rng: &r)
                        cp[i] = strandColor(&r, eumelanin: g.eumelanin, pheomelanin: g.pheomelanin, grey: g.grey)
                    }
                }
            }
        }
        for i in 0..<roots.count {
            set.append(strand: strands[i], root: posedPosition(roots[i].face, roots[i].bary), face: roots[i].face,
                       rootRadius: g.radius, color: colors[i], cls: .hair)
        }
        return set
    }

    /// Lower-face density map for a beard style, from the template landmarks (1 inside, 0 outside).
    func beardWeight(_ f: Int, style: BeardStyle) -> Float {
        let region = Region(rawValue: model.faceRegions[f]) ?? .faceSkin
        guard region == .faceSkin || region == .neck else { return 0 }
        let l = templateLandmarks, c = templateCentroid(f)
        let mx = (l[48].x + l[54].x) / 2, halfMouth = max(abs(l[54].x - l[48].x) / 2, 1e-4)
        let noseBase = l[33].y, upperLip = l[51].y, lowerLip = l[57].y, chin = l[8].y
        let faceHalf = max(abs(l[16].x - l[0].x) / 2, 1e-4)
        guard c.z > min(l[0].z, l[16].z) - 0.005 else { return 0 }
        let dx = abs(c.x - mx)
        let moustache = c.y > upperLip && c.y < noseBase - 0.002 && dx < halfMouth * 1.3
        let goatee = c.y < lowerLip - 0.002 && c.y > chin - 0.012 && dx < halfMouth * 1.15
        // Cheek line: from the nose base at the centre to the upper jaw (landmarks 1/15) at the sides.
        let s = min(1, dx / faceHalf)
        let cheekY = min(noseBase, noseBase + (max(l[2].y, l[14].y) - noseBase) * s)
        let full = c.y < cheekY && c.y > chin - 0.03 - 0.01 * (1 - s) && dx < faceHalf * 0.98
        switch style {
        case .none: return 0
        case .moustache: return moustache ? 1 : 0
        case .goatee: return moustache || goatee ? 1 : 0
        case .stubble, .full: return full || moustache ? 1 : 0
        }
    }

    func facialHair() -> StrandSet {
        var set = StrandSet(layer: .beard)
        let g = groom
        guard g.beard != .none, g.beardStrands > 0 else { return set }
        let faces = (0..<model.triangleCount).filter { scene.isRendered($0) && beardWeight($0, style: g.beard) > 0 }
        var rng = SplitMix64(seed: g.seed).derive(3)
        let roots = sampleRoots(faces: faces, weight: { _ in 1 }, count: g.beardStrands, rng: &rng)
        let length = g.beard == .stubble ? min(g.beardLength, 0.002) : g.beardLength
        let s = Shape(length: length, segments: length < 0.004 ? 2 : min(10, 2 + Int(length / 0.004)), lift: 0.35, gravity: 0.15,
                      curlRadius: g.curl > 0.3 ? 0.001 : 0, curlPeriod: 0.006, waveAmplitude: 0, wavePeriod: 0.02,
                      frizz: 0.3, clump: 0)
        let mx = (templateLandmarks[48].x + templateLandmarks[54].x) / 2
        for (i, root) in roots.enumerated() {
            var r = SplitMix64(seed: g.seed).derive(0x20_0000 + UInt64(i))
            let c = templatePosition(root.face, root.bary)
            let side: Float = c.x >= mx ? 1 : -1
            let comb = rotation * normalize(SIMD3(0.35 * side + r.uniform(-0.2, 0.2), -1, 0.1))
            let p = posedPosition(root.face, root.bary), n = posedNormal(root.face, root.bary)
            let centre = growCentreline(root: p, normal: n, comb: comb, shape: s)
            let pts = child(guide: centre, guideRoot: p, root: p, normal: n, shape: s, lengthScale: r.uniform(0.6, 1), phase: r.uniform(0, 6.28), rng: &r)
            set.append(strand: pts, root: p, face: root.face, rootRadius: g.radius * 1.5,
                       color: strandColor(&r, eumelanin: g.eumelanin, pheomelanin: g.pheomelanin, grey: g.grey), cls: .beard)
        }
        return set
    }

    func eyebrows() -> StrandSet {
        var set = StrandSet(layer: .eyebrows)
        let g = groom
        guard g.eyebrows, g.browStrands > 0 else { return set }
        let l = templateLandmarks
        let eyeWidth = length(l[39] - l[36])
        let half = 0.2 * eyeWidth
        // Nearest point on a brow polyline: distance in the image plane and position along it (0 medial … 1 lateral).
        func brow(_ p: SIMD3<Float>, right: Bool) -> (Float, Float) {
            let range = right ? 17...21 : 22...26
            var best = Float.infinity, along: Float = 0
            for k in range.lowerBound..<range.upperBound {
                let a = SIMD2(l[k].x, l[k].y), b = SIMD2(l[k + 1].x, l[k + 1].y), q = SIMD2(p.x, p.y)
                let t = max(0, min(1, ((q - a) * (b - a)).sum() / max(((b - a) * (b - a)).sum(), 1e-12)))
                let d = q - (a + t * (b - a)), dist = (d * d).sum().squareRoot()
                if dist < best {
                    best = dist
                    let pos = (Float(k - range.lowerBound) + t) / 4
                    along = right ? 1 - pos : pos
                }
            }
            return (best, along)
        }
        for right in [true, false] {
            let faces = (0..<model.triangleCount).filter { f in
                guard scene.isRendered(f) else { return false }
                let region = Region(rawValue: model.faceRegions[f]) ?? .faceSkin
                guard region == .faceSkin || region == .scalp || region == (right ? .eyelidRight : .eyelidLeft) else { return false }
                let c = templateCentroid(f)
                guard c.z > l[0].z, (c.x < (l[21].x + l[22].x) / 2) == right else { return false }
                return brow(c, right: right).0 < half * 1.4
            }
            var rng = SplitMix64(seed: g.seed).derive(right ? 4 : 5)
            let roots = sampleRoots(faces: faces, weight: { f in
                let (d, along) = brow(templateCentroid(f), right: right)
                return max(0, 1 - d / (half * 1.4)) * (1 - 0.5 * along)
            }, count: g.browStrands, rng: &rng)
            let s = Shape(length: 0.007, segments: 3, lift: 0.12, gravity: 0, curlRadius: 0, curlPeriod: 0.01,
                          waveAmplitude: 0, wavePeriod: 0.01, frizz: 0.15, clump: 0)
            let side: Float = right ? -1 : 1
            for (i, root) in roots.enumerated() {
                var r = SplitMix64(seed: g.seed).derive((right ? 0x30_0000 : 0x40_0000) + UInt64(i))
                let c = templatePosition(root.face, root.bary)
                let along = brow(c, right: right).1
                let up: Float = along < 0.3 ? 1.2 : 0.15 - 0.4 * along
                let comb = rotation * normalize(SIMD3(side, up + r.uniform(-0.25, 0.25), 0))
                let p = posedPosition(root.face, root.bary), n = posedNormal(root.face, root.bary)
                let centre = growCentreline(root: p, normal: n, comb: comb, shape: s)
                let pts = child(guide: centre, guideRoot: p, root: p, normal: n, shape: s, lengthScale: r.uniform(0.5, 1), phase: 0, rng: &r)
                set.append(strand: pts, root: p, face: root.face, rootRadius: g.radius * 1.6,
                           color: strandColor(&r, eumelanin: g.eumelanin * 1.1, pheomelanin: g.pheomelanin, grey: g.grey * 0.5),
                           cls: right ? .rightBrow : .leftBrow)
            }
        }
        return set
    }

    // MARK: Eyelashes

    /// The eyeball of one side: the least-squares sphere through the posed sclera vertices
    /// (algebraic fit |p|² = 2 c·p + k, r² = k + |c|²); nil when the model has no sclera there (then
    /// that eye gets no lashes either).
    func eyeball(right: Bool) -> (centre: SIMD3<Float>, radius: Float)? {
        let vs = model.vertices(in: right ? [.scleraRight] : [.scleraLeft])
        guard vs.count >= 8 else { return nil }
        // Centred on the centroid for conditioning; normal equations of [2x 2y 2z 1] · [c k] = |p|².
        let mean = vs.reduce(SIMD3<Double>.zero) { $0 + SIMD3<Double>(scene.vertices.vec3($1)) } / Double(vs.count)
        var a = [Double](repeating: 0, count: 16), rhs = [Double](repeating: 0, count: 4)
        for v in vs {
            let p = SIMD3<Double>(scene.vertices.vec3(v)) - mean
            let row = [2 * p.x, 2 * p.y, 2 * p.z, 1], y = (p * p).sum()
            for i in 0..<4 { rhs[i] += row[i] * y; for j in 0..<4 { a[4 * i + j] += row[i] * row[j] } }
        }
        // Gaussian elimination with partial pivoting (4×4).
        for col in 0..<4 {
            let pivot = (col..<4).max { abs(a[4 * $0 + col]) < abs(a[4 * $1 + col]) }!
            guard abs(a[4 * pivot + col]) > 1e-18 else { return nil }
            if pivot != col { for j in 0..<4 { a.swapAt(4 * col + j, 4 * pivot + j) }; rhs.swapAt(col, pivot) }
            for r in (col + 1)..<4 {
                let f = a[4 * r + col] / a[4 * col + col]
                for j in col..<4 { a[4 * r + j] -= f * a[4 * col + j] }
                rhs[r] -= f * rhs[col]
            }
        }
        var x = [Double](repeating: 0, count: 4)
        for r in stride(from: 3, through: 0, by: -1) {
            var t = rhs[r]
            for j in (r + 1)..<4 { t -= a[4 * r + j] * x[j] }
            x[r] = t / a[4 * r + r]
        }
        let c = SIMD3(x[0], x[1], x[2])
        let r2 = x[3] + (c * c).sum()
        guard r2 > 0 else { return nil }
        return (SIMD3<Float>(c + mean), Float(r2.squareRoot()))
    }

    /// The lid margins of one eye from the posed iBUG landmarks (36–41 the subject's right eye,
    /// 42–47 the left), each ordered from the inner corner (0) to the outer one (1).
    func lidMargins(right: Bool) -> (upper: [SIMD3<Float>], lower: [SIMD3<Float>]) {
        let l = model.landmarkPositions(vertices: scene.vertices)
        // Right eye: 39 inner, 38, 37 upper, 36 outer, 41, 40 lower. Left: 42 inner, 43, 44, 45 outer, 47, 46.
        return right ? ([l[39], l[38], l[37], l[36]], [l[39], l[40], l[41], l[36]])
                     : ([l[42], l[43], l[44], l[45]], [l[42], l[47], l[46], l[45]])
    }

    /// Eyelashes: strands rooted along the posed upper and lower lid margins (so they follow
    /// blinks and expressions), leaving the eyeball radially and curling up (upper) or down
    /// (lower), longest at two thirds of the way to the outer corner. A root is the margin point
    /// moved out of the eyeball sphere and onto the lid's outer surface (rays against the head
    /// mesh), then every segment is collided like the other strands, so no lash enters the
    /// eyeball or the lids. Labelled as the eye of its side (see `SegmentationClass`).
    func eyelashes() -> StrandSet {
        var set = StrandSet(layer: .eyelashes)
        let g = groom
        guard g.eyelashes, g.lashStrands > 0 else { return set }
        let up = normalize(rotation * SIMD3(0, 1, 0)), forward = normalize(rotation * SIMD3(0, 0, 1))
        let landmarkFaces = model.landmarks.map { Int($0.triangle) }
        for right in [true, false] {
            guard let (centre, radius) = eyeball(right: right) else { continue }
            let margins = lidMargins(right: right)
            let outward = normalize(rotation * SIMD3(right ? -1 : 1, 0, 0))   // toward the outer corner
            for lower in [false, true] {
                let poly = lower ? margins.lower : margins.upper
                var cumulative: [Float] = [0]
                for k in 1..<poly.count { cumulative.append(cumulative[k - 1] + length(poly[k] - poly[k - 1])) }
                let total = cumulative.last!
                guard total > 1e-4 else { continue }
                let count = lower ? Int((Float(g.lashStrands) * 0.4).rounded()) : g.lashStrands
                let vertical = lower ? -up : up
                var rng = SplitMix64(seed: g.seed).derive((right ? 0x50_0000 : 0x60_0000) + (lower ? 0x8_0000 : 0))
                for i in 0..<count {
                    // Stratified along the margin, skipping the innermost 8 % (the caruncle).
                    let s = 0.08 + 0.92 * (Float(i) + rng.uniform()) / Float(count)
                    let arc = s * total
                    var k = 0
                    while k < poly.count - 2 && cumulative[k + 1] < arc { k += 1 }
                    let t = (arc - cumulative[k]) / max(cumulative[k + 1] - cumulative[k], 1e-9)
                    var p = poly[k] + (poly[k + 1] - poly[k]) * t
                    // Out of the eyeball (the chord between landmarks may cut into it) …
                    var radial = p - centre
                    if length(radial) < 1e-6 { radial = vertical }
                    let r = normalize(radial)
                    if length(p - centre) < radius + offset { p = centre + r * (radius + offset) }
                    // … and onto the lid's outer surface if the lid lies within 3 mm over the point (the landmarks
                    // can sit behind the lid's front edge).
                    if let h = scene.headHit(origin: p, direction: r, far: 0.003) { p += r * (h.distance + offset) }
                    // Length: short at the corners, longest two thirds out.
                    let profile = 0.45 + 0.55 * sin(Float.pi * min(1, max(0, (s - 0.05) / 0.95)) * 0.85 + 0.15)
                    let lengthScale = (lower ? 0.5 : 1) * profile * rng.uniform(0.75, 1.05)
                    let strandLength = g.lashLength * lengthScale
                    let segments = 5, step = strandLength / Float(segments)
                    // Out of the eye and forward (lashes stand off the lid), a little up/down, fanning out at the outer corner.
                    var dir = normalize(r * 0.3 + forward * 1.0 + vertical * 0.15 + outward * (0.35 * s * s) + (rng.uniform(-0.12, 0.12)) * outward)
                    var pts = [p]
                    var q = p
                    for seg in 1...segments {
                        // Curl: the direction turns toward the vertical (up for upper lashes), more toward the tip.
                        dir = normalize(dir + (vertical * 0.7 + forward * 0.3) * (g.lashCurl * 0.35 * Float(seg) / Float(segments)))
                        // Kept outside the eyeball sphere, then collided with the mesh (lids, eyeball, skin).
                        var target = q + dir * step
                        if length(target - centre) < radius + offset { target = centre + normalize(target - centre) * (radius + offset) }
                        let n = collide(q, target)
                        pts.append(n); q = n
                    }
                    let nearest = lower ? (right ? [39, 40, 41, 36] : [42, 47, 46, 45])[min(3, k + (t > 0.5 ? 1 : 0))]
                                        : (right ? [39, 38, 37, 36] : [42, 43, 44, 45])[min(3, k + (t > 0.5 ? 1 : 0))]
                    set.append(strand: pts, root: pts[0], face: landmarkFaces[nearest], rootRadius: g.radius * 0.8,
                               color: strandColor(&rng, eumelanin: g.eumelanin * 1.4 + 1.5, pheomelanin: g.pheomelanin * 0.5, grey: g.grey * 0.15),
                               cls: right ? .rightEye : .leftEye)
                }
            }
        }
        return set
    }
}

extension Mat3 {
    var isFinite: Bool { rowMajor.allSatisfy { $0.isFinite } }
}
