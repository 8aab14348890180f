import Foundation
import Geometry
import HeadModels

/// Accessory layers: each is one triangle-mesh Embree geometry (id `geometryID`, mask bit
/// `mask`), one segmentation class and one coverage channel (`<name>_coverage`). Clear and tinted
/// lenses are a separate geometry (`lensGeometryID`) of the glasses layer, so shadow rays can pass
/// through them.
///
/// Earrings and headphones belong to the headwear layer (class 17): FaceSynthetics' 19 classes
/// have no jewellery or audio class, and both are worn on the head like hats.
public enum AccessoryLayer: Int, CaseIterable, Sendable {
    case glasses = 0, headwear, facewear, clothing
    public var name: String { ["glasses", "headwear", "facewear", "clothing"][rawValue] }
    public var segmentationClass: SegmentationClass { [.glasses, .headwear, .facewear, .clothing][rawValue] }
    /// Geometry ids 8…11 (0 is the head, 1…7 are reserved for strand layers), lenses 12.
    public static let firstGeometryID: UInt32 = 8
    public static let lensGeometryID: UInt32 = 12
    public var geometryID: UInt32 { AccessoryLayer.firstGeometryID + UInt32(rawValue) }
    public var mask: UInt32 { 1 << geometryID }
    public static let lensMask: UInt32 = 1 << lensGeometryID
    /// Every accessory geometry's mask bit (lenses included).
    public static let allMask: UInt32 = AccessoryLayer.allCases.reduce(lensMask) { $0 | $1.mask }
}

public enum GlassesStyle: String, CaseIterable, Sendable { case round, rectangular, aviator }
public enum HeadwearStyle: String, CaseIterable, Sendable { case cap, beanie, headband, hat, headphones }
public enum FacewearStyle: String, CaseIterable, Sendable { case surgical, cloth }
public enum ClothingStyle: String, CaseIterable, Sendable { case crew, turtleneck, collar }
public enum EarringStyle: String, CaseIterable, Sendable { case stud, hoop }

/// What one subject wears. Colours are linear RGB albedos; lengths in metres. `nil` = not worn.
public struct Accessories: Equatable, Sendable {
    public struct Glasses: Equatable, Sendable {
        public var style: GlassesStyle = .rectangular
        public var thickness: Float = 0.003        // frame rim width (the rim is a tube of this diameter)
        public var frameColor = SIMD3<Float>(0.02, 0.02, 0.02)
        public var metal = false                   // metallic frame (specular tinted by frameColor)
        public var lensTint = SIMD3<Float>(0.96, 0.96, 0.96)  // transmission per channel (sunglasses ≈ 0.05–0.2)
        public var lensReflectance: Float = 0.04   // Fresnel F0 (mirrored sunglasses up to ≈ 0.5)
        public var size: Float = 1                 // lens size relative to the head's eye spacing
        public init() {}
    }
    public struct Headwear: Equatable, Sendable {
        public var style: HeadwearStyle = .cap
        public var color = SIMD3<Float>(0.1, 0.1, 0.3)
        public var secondary = SIMD3<Float>(0.02, 0.02, 0.02)   // brim underside, cushions, band
        public var height: Float = 0.025       // how far above the brows the front edge sits
        public var brim: Float = 0.065         // brim length (cap) or width (hat)
        public init() {}
    }
    public struct Facewear: Equatable, Sendable {
        public var style: FacewearStyle = .surgical
        public var color = SIMD3<Float>(0.45, 0.62, 0.75)
        public var earLoops = true
        public init() {}
    }
    public struct Clothing: Equatable, Sendable {
        public var style: ClothingStyle = .crew
        public var color = SIMD3<Float>(0.3, 0.3, 0.3)
        public init() {}
    }
    public struct Earrings: Equatable, Sendable {
        public var style: EarringStyle = .stud
        public var size: Float = 0.002         // stud radius or hoop radius × 0.25
        public var gold = true
        public init() {}
    }
    public var glasses: Glasses? = nil
    public var headwear: Headwear? = nil
    public var facewear: Facewear? = nil
    public var clothing: Clothing? = nil
    public var earrings: Earrings? = nil
    public init() {}
    public var isEmpty: Bool { glasses == nil && headwear == nil && facewear == nil && clothing == nil && earrings == nil }
}

/// How an accessory surface is shaded (`AccessoryShading.swift`).
public struct AccessoryMaterial: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case fabric, plastic, metal, lens }
    public enum Pattern: UInt8, Sendable { case none, knit, pleats, weave }
    public var kind: Kind
    public var albedo: SIMD3<Float>
    public var roughness: Float = 0.5          // GGX α
    public var specular: Float = 0.04          // F0 (metals: the albedo is the F0)
    public var pattern: Pattern = .none
    public var period: Float = 0.004           // pattern period in metres of the surface parameters
    public var transmission = SIMD3<Float>(repeating: 0)   // lenses
}

/// One accessory geometry: triangles with per-vertex normals, surface parameters (metres along
/// the pattern directions) and a material per triangle.
public struct AccessoryMesh: Sendable {
    public var layer: AccessoryLayer
    public var isLens = false
    public var positions: [SIMD3<Float>] = []
    public var params: [SIMD2<Float>] = []
    public var triangles: [SIMD3<UInt32>] = []
    public var triangleMaterial: [UInt16] = []
    public var normals: [SIMD3<Float>] = []
    public init(layer: AccessoryLayer, isLens: Bool = false) { self.layer = layer; self.isLens = isLens }
    public var isEmpty: Bool { triangles.isEmpty }

    /// Quads between consecutive rows of `grid` (rows × columns); `wrap` closes each row.
    mutating func addGrid(_ grid: [[SIMD3<Float>]], material: UInt16, wrap: Bool = false, params p: [[SIMD2<Float>]]? = nil) {
        guard grid.count >= 2, let columns = grid.first?.count, columns >= 2 else { return }
        let base = UInt32(positions.count)
        for (r, row) in grid.enumerated() {
            precondition(row.count == columns)
            var arc: Float = 0
            for (c, q) in row.enumerated() {
                if c > 0 { arc += length(q - row[c - 1]) }
                positions.append(q)
                params.append(p?[r][c] ?? SIMD2(arc, Float(r) * 0.002))
            }
        }
        let cols = UInt32(columns)
        for r in 0..<UInt32(grid.count - 1) {
            for c in 0..<(wrap ? cols : cols - 1) {
                let c1 = (c + 1) % cols
                let a = base + r * cols + c, b = base + r * cols + c1, d = base + (r + 1) * cols + c, e = base + (r + 1) * cols + c1
                triangles.append(SIMD3(a, b, e)); triangles.append(SIMD3(a, e, d))
                triangleMaterial.append(material); triangleMaterial.append(material)
            }
        }
    }

    /// A tube of elliptical cross-section (`radius` along the in-plane normal, `depth` along
    /// `hint`'s direction) along `path`; `closed` joins the ends.
    mutating func addTube(_ path: [SIMD3<Float>], radius: Float, depth: Float? = nil, hint: SIMD3<Float>, sides: Int = 8,
                          closed: Bool = false, material: UInt16) {
        guard path.count >= 2 else { return }
        let n = path.count
        var rings: [[SIMD3<Float>]] = []
        for i in 0..<n {
            let prev = path[closed ? (i + n - 1) % n : max(0, i - 1)], next = path[closed ? (i + 1) % n : min(n - 1, i + 1)]
            var t = next - prev
            t = length(t) > 1e-9 ? normalize(t) : SIMD3(1, 0, 0)
            var b = hint - dot(hint, t) * t
            if length(b) < 1e-6 { b = abs(t.x) < 0.9 ? SIMD3(1, 0, 0) - t.x * t : SIMD3(0, 1, 0) - t.y * t }
            b = normalize(b)
            let nrm = cross(b, t)
            rings.append((0..<sides).map { k in
                let a = 2 * Float.pi * Float(k) / Float(sides)
                return path[i] + radius * cos(a) * nrm + (depth ?? radius) * sin(a) * b
            })
        }
        if closed { rings.append(rings[0]) }
        // Rows are rings: transpose to rows along the path so the grid wraps around the tube.
        addGrid(rings, material: material, wrap: true)
    }

    /// A fan from `centre` to a closed `ring`.
    mutating func addFan(centre: SIMD3<Float>, ring: [SIMD3<Float>], material: UInt16) {
        let base = UInt32(positions.count)
        positions.append(centre); params.append(.zero)
        for q in ring { positions.append(q); params.append(SIMD2(length(q - centre), 0)) }
        let n = UInt32(ring.count)
        for k in 0..<n {
            triangles.append(SIMD3(base, base + 1 + k, base + 1 + (k + 1) % n)); triangleMaterial.append(material)
        }
    }

    /// Area-weighted vertex normals (orientation is fixed per hit toward the ray).
    mutating func computeNormals() {
        var acc = [SIMD3<Float>](repeating: .zero, count: positions.count)
        for t in triangles {
            let a = positions[Int(t.x)], b = positions[Int(t.y)], c = positions[Int(t.z)]
            let n = cross(b - a, c - a)
            acc[Int(t.x)] += n; acc[Int(t.y)] += n; acc[Int(t.z)] += n
        }
        normals = acc.map { length($0) > 1e-20 ? normalize($0) : SIMD3(0, 0, 1) }
    }
}

/// The accessories of one posed head, fitted against it. Built by `AccessoryBuilder`.
public struct AccessoryGeometry: Sendable {
    public var meshes: [AccessoryMesh] = []         // one per layer (index = rawValue), lenses last
    public var materials: [AccessoryMaterial] = []
    /// Headwear's hair compression (nil when no headwear constrains hair).
    public var compression: HairCompression? = nil
    /// The clothing's volume round the neck (hair lying on the shoulders is pushed out of it).
    public var clothing: ClothingVolume? = nil
    public init() {}
    public func mesh(geometry id: UInt32) -> AccessoryMesh { meshes[Int(id - AccessoryLayer.firstGeometryID)] }
}

/// A local frame on the posed head: +x the subject's left, +y up, +z forward (the neck joint's
/// posed rotation applied to the model axes), origin between the ears, 2 cm above them.
struct HeadFrame {
    var origin: SIMD3<Float>, x: SIMD3<Float>, y: SIMD3<Float>, z: SIMD3<Float>
    func world(_ l: SIMD3<Float>) -> SIMD3<Float> { origin + l.x * x + l.y * y + l.z * z }
    func direction(_ l: SIMD3<Float>) -> SIMD3<Float> { l.x * x + l.y * y + l.z * z }
    func local(_ p: SIMD3<Float>) -> SIMD3<Float> { let d = p - origin; return SIMD3(dot(d, x), dot(d, y), dot(d, z)) }
    /// Direction at azimuth φ (0 forward, +π/2 the subject's left) and elevation e above the horizontal.
    static func spherical(_ phi: Float, _ e: Float) -> SIMD3<Float> { SIMD3(cos(e) * sin(phi), sin(e), cos(e) * cos(phi)) }
}

/// Pushes scalp-hair points under headwear: in the headwear frame, a point at radius r in a
/// direction whose limit is L (the headwear's inner radius minus 1 mm) moves to radius L along
/// the same direction. Limits sit on a (φ, e) grid (96 × 64 cells over the sphere, nearest cell);
/// +∞ where nothing constrains the hair. Below a hat's rim the limit grows linearly over 3 cm, so
/// hair leaves the rim hugging the head.
public struct HairCompression: Sendable {
    static let azimuths = 96, elevations = 64
    let frame: HeadFrame
    var limits: [Float]
    init(frame: HeadFrame) {
        self.frame = frame
        limits = [Float](repeating: .infinity, count: HairCompression.azimuths * HairCompression.elevations)
    }
    static func cellCentre(_ i: Int, _ j: Int) -> (phi: Float, e: Float) {
        (-Float.pi + 2 * Float.pi * (Float(i) + 0.5) / Float(azimuths), -Float.pi / 2 + Float.pi * (Float(j) + 0.5) / Float(elevations))
    }
    func cell(_ d: SIMD3<Float>) -> Int {
        let phi = atan2(d.x, d.z), e = asin(max(-1, min(1, d.y)))
        let i = min(HairCompression.azimuths - 1, max(0, Int((phi + Float.pi) / (2 * Float.pi) * Float(HairCompression.azimuths))))
        let j = min(HairCompression.elevations - 1, max(0, Int((e + Float.pi / 2) / Float.pi * Float(HairCompression.elevations))))
        return j * HairCompression.azimuths + i
    }
    /// The radius limit for a world point (∞ if unconstrained).
    public func limit(at p: SIMD3<Float>) -> Float {
        let l = frame.local(p), r = length(l)
        return r > 1e-6 ? limits[cell(l / r)] : .infinity
    }
    public func compress(_ set: StrandSet) -> StrandSet {
        var s = set
        for k in 0..<s.points.count {
            let q = s.points[k], l = frame.local(SIMD3(q.x, q.y, q.z)), r = length(l)
            guard r > 1e-6 else { continue }
            let lim = limits[cell(l / r)]
            if r > lim {
                let w = frame.world(l * (lim / r))
                s.points[k] = SIMD4(w.x, w.y, w.z, q.w)
            }
        }
        return s
    }
}

/// The clothing as a radius field round the neck axis: column i (azimuth 2πi/C from `forward`
/// toward `side`), row r at height `bottom[i] + heights[r]` along `up` from `origin`, radius
/// `radius[r][i]` (world metres). Hair that falls onto the shoulders is pushed radially out of
/// it: a strand point inside (radius below the shirt's, linearly interpolated between rows, at
/// a height within the rows) moves to 2 mm outside, so long hair lies on the shirt.
public struct ClothingVolume: Sendable {
    var origin: SIMD3<Float>, up: SIMD3<Float>, forward: SIMD3<Float>, side: SIMD3<Float>
    var bottom: [Float], heights: [Float]
    var radius: [[Float]]

    /// The shirt's radius at world point `p`'s azimuth and height, or nil above or below it.
    public func radius(at p: SIMD3<Float>) -> Float? {
        let columns = bottom.count
        let d = p - origin, h = dot(d, up)
        var th = atan2(dot(d, side), dot(d, forward))
        if th < 0 { th += 2 * Float.pi }
        let i = Int((th / (2 * Float.pi) * Float(columns)).rounded()) % columns
        let rel = h - bottom[i]
        guard let last = heights.last, let first = heights.first, rel >= first, rel <= last else { return nil }
        var r = 0
        while r + 1 < heights.count - 1 && heights[r + 1] < rel { r += 1 }
        let t = max(0, min(1, (rel - heights[r]) / max(1e-6, heights[r + 1] - heights[r])))
        return radius[r][i] + (radius[r + 1][i] - radius[r][i]) * t
    }

    public func push(_ set: StrandSet) -> StrandSet {
        var s = set
        for k in 0..<s.points.count {
            let q = s.points[k], p = SIMD3(q.x, q.y, q.z)
            guard let r = radius(at: p) else { continue }
            let d = p - origin, h = dot(d, up), radial = d - h * up, rho = length(radial)
            if rho < r + 0.002 && rho > 1e-6 {
                let w = origin + h * up + radial * ((r + 0.002) / rho)
                s.points[k] = SIMD4(w.x, w.y, w.z, q.w)
            }
        }
        return s
    }
}
