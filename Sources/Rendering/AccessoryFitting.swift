import Foundation
import Geometry
import HeadModels

/// Builds accessory meshes on a posed head (its head mesh must already be committed): every
/// surface that touches the head is placed from Embree rays against the posed mesh, at an
/// offset, so accessories follow pose, identity and expression and stay outside the head:
///
/// - headwear: a shell over the scalp, shrink-wrapped from rays toward the headwear centre
///   (between the ears, 2 cm up) and pushed out radially by 3–6 mm; caps get a brim, hats a taller
///   crown and a full brim, headbands are a band, headphones two cups (their inner face clear of
///   every head point in their footprint by 3 mm) and a band over the crown;
/// - glasses: rims in a plane in front of the eyes, moved forward until every rim, lens and
///   bridge point is ≥ 2.5 mm + the rim radius in front of the face; temples pushed out to
///   clear the side of the head by 1.5 mm along the head's x axis, resting above the ears;
/// - facewear: a height field on a cylinder around the head's vertical axis (nose bridge to under
///   the chin), offset 2.5 mm and tented over concavities (a cone envelope: the mask falls at
///   most 0.6 m per m vertically and 0.7 horizontally), so it spans nose, lips and chin;
/// - clothing: rings around the neck axis (root joint frame) offset 4 mm from the lower neck,
///   flared below into shoulders;
/// - earrings: a stud beside or a hoop below each earlobe, pushed clear of the head.
///
/// Ray-placed vertices are outside the mesh by construction; the only penetration left is
/// between vertices over convex bends (sub-millimetre at these resolutions; tested ≤ 1.5 mm).
struct AccessoryBuilder {
    let scene: HeadScene
    let spec: Accessories
    let frame: HeadFrame
    let model: HeadModel
    let landmarks: [SIMD3<Float>]          // local
    let earCentre: [SIMD3<Float>?]         // local, [left, right]
    let earTop: [SIMD3<Float>?]            // local, highest ear vertex
    let earLobe: [(point: SIMD3<Float>, normal: SIMD3<Float>)?]  // local lowest ear vertex and its normal
    let earBackZ: [Float?]
    let neckFrame: (origin: SIMD3<Float>, up: SIMD3<Float>, forward: SIMD3<Float>)
    var geometry = AccessoryGeometry()

    init(scene: HeadScene, posed: PosedHead, spec: Accessories) {
        self.scene = scene; self.spec = spec
        let model = scene.model
        self.model = model
        let neckRotation = posed.jointTransforms[Joint.neck.rawValue].rotation
        var x = normalize(neckRotation * SIMD3(1, 0, 0)), y = normalize(neckRotation * SIMD3(0, 1, 0))
        let z = normalize(cross(x, y)); x = normalize(cross(y, z)); y = cross(z, x)
        let lm = model.landmarkPositions(vertices: posed.vertices)
        func centroid(_ r: Region) -> SIMD3<Float>? {
            let vs = model.vertices(in: [r])
            return vs.isEmpty ? nil : vs.map { posed.vertices.vec3($0) }.reduce(.zero, +) / Float(vs.count)
        }
        let earL = centroid(.earLeft) ?? lm[16], earR = centroid(.earRight) ?? lm[0]
        let origin = (earL + earR) / 2 + 0.02 * y
        let f = HeadFrame(origin: origin, x: x, y: y, z: z)
        frame = f
        landmarks = lm.map { f.local($0) }
        var centres: [SIMD3<Float>?] = [], tops: [SIMD3<Float>?] = [], lobes: [(SIMD3<Float>, SIMD3<Float>)?] = [], backs: [Float?] = []
        for r in [Region.earLeft, .earRight] {
            let vs = model.vertices(in: [r])
            if vs.isEmpty { centres.append(nil); tops.append(nil); lobes.append(nil); backs.append(nil); continue }
            let ps = vs.map { f.local(posed.vertices.vec3($0)) }
            centres.append(ps.reduce(.zero, +) / Float(ps.count))
            tops.append(ps.max { $0.y < $1.y })
            let k = ps.indices.min { ps[$0].y < ps[$1].y }!
            let n = posed.normals.vec3(vs[k])
            lobes.append((ps[k], SIMD3(dot(n, x), dot(n, y), dot(n, z))))
            backs.append(ps.map(\.z).min())
        }
        earCentre = centres; earTop = tops; earLobe = lobes; earBackZ = backs
        let rootT = posed.jointTransforms[Joint.root.rawValue]
        let neckVs = model.vertices(in: [.neck])
        let up = normalize(rootT.rotation * SIMD3(0, 1, 0)), forward = normalize(rootT.rotation * SIMD3(0, 0, 1))
        let base = posed.joints[Joint.root.rawValue]
        var o = base
        if !neckVs.isEmpty {
            let ps = neckVs.map { posed.vertices.vec3($0) }
            let hs = ps.map { dot($0 - base, up) }
            let lo = hs.min()!, hi = hs.max()!
            let low = ps.indices.filter { hs[$0] < lo + 0.25 * (hi - lo) }
            let c = low.map { ps[$0] }.reduce(.zero, +) / Float(max(1, low.count))
            o = c - dot(c - base, up) * up + lo * up    // on the axis, at the lower end of the neck mesh
        }
        neckFrame = (o, up, forward)
    }

    // MARK: Rays against the head

    /// Distance from `centre` to the outermost head surface along direction `d` (world), or nil.
    func surfaceRadius(centre: SIMD3<Float>, direction d: SIMD3<Float>, far: Float = 0.4) -> Float? {
        guard let h = scene.headHit(origin: centre + far * d, direction: -d, far: far) else { return nil }
        return far - h.distance
    }
    /// Local coordinate along local axis `axis` (unit, local) of the outermost surface on the line
    /// through local point `p` parallel to `axis` (nil if the line misses the head).
    func outermost(_ p: SIMD3<Float>, along axis: SIMD3<Float>) -> Float? {
        let start = p - dot(p, axis) * axis + 0.4 * axis
        guard let h = scene.headHit(origin: frame.world(start), direction: frame.direction(-axis), far: 0.8) else { return nil }
        return 0.4 - h.distance
    }
    /// Moves `p` along `axis` until it is at least `clearance` beyond the outermost surface.
    func pushOut(_ p: SIMD3<Float>, along axis: SIMD3<Float>, clearance: Float) -> SIMD3<Float> {
        guard let s = outermost(p, along: axis) else { return p }
        let c = dot(p, axis)
        return c < s + clearance ? p + (s + clearance - c) * axis : p
    }

    /// Lifts `q` (local) so that the head surface straight below it is at least `clearance` away.
    func clearBelow(_ q: SIMD3<Float>, _ clearance: Float) -> SIMD3<Float> {
        guard let h = scene.headHit(origin: frame.world(q), direction: frame.direction(SIMD3(0, -1, 0)), far: clearance) else { return q }
        return q + SIMD3(0, clearance - h.distance, 0)
    }

    mutating func material(_ m: AccessoryMaterial) -> UInt16 {
        geometry.materials.append(m); return UInt16(geometry.materials.count - 1)
    }

    mutating func build() -> AccessoryGeometry {
        geometry.meshes = AccessoryLayer.allCases.map { AccessoryMesh(layer: $0) } + [AccessoryMesh(layer: .glasses, isLens: true)]
        // Facewear first: glasses rest in front of a mask.
        if let f = spec.facewear { buildFacewear(f) }
        if let g = spec.glasses { buildGlasses(g) }
        if let h = spec.headwear { buildHeadwear(h) }
        if let c = spec.clothing { buildClothing(c) }
        if let e = spec.earrings { buildEarrings(e) }
        for k in geometry.meshes.indices {
            geometry.meshes[k].positions = geometry.meshes[k].positions.map { frame.world($0) }
            geometry.meshes[k].computeNormals()
        }
        return geometry
    }

    // MARK: Glasses

    mutating func buildGlasses(_ g: Accessories.Glasses) {
        let eyes = scene.eyeCentres.map { frame.local($0) }   // [left, right]
        let ipd = max(0.04, abs(eyes[0].x - eyes[1].x))
        let a = min(0.03, max(0.018, 0.36 * ipd * g.size))
        let b: Float = g.style == .round ? a * 0.92 : g.style == .rectangular ? a * 0.7 : a * 0.82
        let rimRadius = g.thickness / 2, depth = max(0.0012, min(rimRadius, 0.002))
        let cy = (eyes[0].y + eyes[1].y) / 2 + 0.002, cx = (eyes[0].x + eyes[1].x) / 2
        let lensCentre: [SIMD2<Float>] = [SIMD2(cx + ipd / 2, cy), SIMD2(cx - ipd / 2, cy)]
        let steps = 48
        func outline(side s: Float) -> [SIMD2<Float>] {
            (0..<steps).map { k in
                let t = 2 * Float.pi * Float(k) / Float(steps), ct = cos(t), st = sin(t)
                var p: SIMD2<Float>
                switch g.style {
                case .round: p = SIMD2(a * ct, b * st)
                case .rectangular:
                    let e: Float = 2 / 5
                    p = SIMD2(a * (ct < 0 ? -1 : 1) * pow(abs(ct), e), b * (st < 0 ? -1 : 1) * pow(abs(st), e))
                case .aviator:
                    p = SIMD2(a * ct, st >= 0 ? b * 0.8 * st : b * 1.2 * st)
                    p.x -= s * 0.22 * a * max(0, -st)          // the teardrop falls toward the nose
                }
                return p
            }
        }
        let outlines = [outline(side: 1), outline(side: -1)]
        // The frame plane: 22 mm in front of the eye centres, further if any point of the front
        // (rims, lens interiors, bridge) would come closer than 2.5 mm + rim radius to the face.
        var z0 = max(eyes[0].z, eyes[1].z) + 0.022
        let clearance = 0.0025 + depth
        var probes: [SIMD2<Float>] = []
        for side in 0..<2 {
            for p in outlines[side] {
                probes.append(lensCentre[side] + p)
                probes.append(lensCentre[side] + 0.5 * p)
                probes.append(lensCentre[side] + p * (1 + (rimRadius + 0.0005) / max((p * p).sum().squareRoot(), 1e-4)))
            }
        }
        for k in 0...8 { probes.append(SIMD2(cx + (Float(k) / 8 - 0.5) * (ipd - 2 * a + 0.01), cy + 0.3 * b)) }
        for p in probes {
            if let s = outermost(SIMD3(p.x, p.y, 0), along: SIMD3(0, 0, 1)) { z0 = max(z0, s + clearance + 0.0015) }
        }
        // In front of a mask too (its vertices within 4 mm of a probe, across the image plane).
        for v in geometry.meshes[AccessoryLayer.facewear.rawValue].positions {
            for p in probes where abs(v.x - p.x) < 0.004 && abs(v.y - p.y) < 0.004 { z0 = max(z0, v.z + clearance + 0.0015); break }
        }
        func bulge(_ p: SIMD2<Float>, _ side: Int) -> Float {
            let q = (p - lensCentre[side]) / SIMD2(a, b)
            return 0.0015 * max(0, 1 - (q * q).sum())
        }
        let frameM = material(AccessoryMaterial(kind: g.metal ? .metal : .plastic, albedo: g.frameColor,
                                                roughness: g.metal ? 0.15 : 0.12, specular: 0.05))
        let lensM = material(AccessoryMaterial(kind: .lens, albedo: .zero, roughness: 0.03, specular: g.lensReflectance,
                                               transmission: g.lensTint))
        var hinges: [SIMD3<Float>] = []
        for side in 0..<2 {
            let s: Float = side == 0 ? 1 : -1
            let pts = outlines[side].map { p -> SIMD3<Float> in let q = lensCentre[side] + p; return SIMD3(q.x, q.y, z0) }
            geometry.meshes[AccessoryLayer.glasses.rawValue].addTube(pts, radius: rimRadius, depth: depth, hint: SIMD3(0, 0, 1), closed: true, material: frameM)
            // Lens: a fan, bulging 1.5 mm forward at the centre.
            let c = lensCentre[side]
            let ring = outlines[side].map { p -> SIMD3<Float> in let q = c + p * 0.98; return SIMD3(q.x, q.y, z0 + bulge(q, side)) }
            geometry.meshes[geometry.meshes.count - 1].addFan(centre: SIMD3(c.x, c.y, z0 + 0.0015), ring: ring, material: lensM)
            // End piece: from the lateral rim (upper third) back to the hinge.
            let lateral = pts.max { s * $0.x + 0.5 * $0.y < s * $1.x + 0.5 * $1.y }!
            var hinge = lateral + SIMD3(s * 0.004, 0, -0.008)
            hinge = pushOut(hinge, along: SIMD3(s, 0, 0), clearance: rimRadius + 0.0015)
            geometry.meshes[AccessoryLayer.glasses.rawValue].addTube([lateral, (lateral + hinge) / 2 + SIMD3(s * 0.001, 0, 0), hinge],
                                                                    radius: rimRadius * 0.9, hint: SIMD3(0, 1, 0), material: frameM)
            hinges.append(hinge)
            // Temple: back above the ear, then down behind it; hugging the head at 1.5 mm.
            let top = earTop[side] ?? SIMD3(s * 0.075, -0.02, -0.01)
            let back = earBackZ[side] ?? (top.z - 0.02)
            let earY = top.y + 0.004 + rimRadius
            var path: [SIMD3<Float>] = []
            let n = 20
            for k in 0...n {
                let t = Float(k) / Float(n)
                var p: SIMD3<Float>
                if t < 0.8 {
                    let u = t / 0.8
                    p = SIMD3(hinge.x, hinge.y + (earY - hinge.y) * u, hinge.z + (back - 0.004 - hinge.z) * u)
                } else {
                    let u = (t - 0.8) / 0.2
                    p = SIMD3(hinge.x, earY - 0.018 * u * u, back - 0.004 - 0.004 * u)
                }
                // Hug: halfway back, the temple closes in on the head; then clear it by 1.5 mm.
                if let sx = outermost(p, along: SIMD3(s, 0, 0)) {
                    let hug = sx + rimRadius + 0.0015
                    let w = min(1, t / 0.5)
                    p.x = s * max(s * p.x * (1 - w) + hug * w, hug)
                }
                path.append(p)
            }
            path[0] = hinge
            geometry.meshes[AccessoryLayer.glasses.rawValue].addTube(path, radius: rimRadius * 0.8, hint: SIMD3(0, 1, 0), material: frameM)
        }
        // Bridge: an arc between the upper medial rims.
        let inner = [0, 1].map { side -> SIMD3<Float> in
            let s: Float = side == 0 ? 1 : -1
            let pts = outlines[side].map { p -> SIMD3<Float> in let q = lensCentre[side] + p; return SIMD3(q.x, q.y, z0) }
            return pts.max { -s * $0.x + 0.6 * $0.y < -s * $1.x + 0.6 * $1.y }!
        }
        let bridge = (0...8).map { k -> SIMD3<Float> in
            let t = Float(k) / 8
            return inner[1] + (inner[0] - inner[1]) * t + SIMD3(0, 0.003 * sin(Float.pi * t), 0.001 * sin(Float.pi * t))
        }
        geometry.meshes[AccessoryLayer.glasses.rawValue].addTube(bridge, radius: rimRadius * 0.8, hint: SIMD3(0, 0, 1), material: frameM)
    }

    // MARK: Headwear

    /// Rim elevation at azimuth φ from elevations at the front, the sides and the back.
    func rimElevation(_ phi: Float, front: Float, side: Float, back: Float) -> Float {
        let c = cos(phi)
        return c >= 0 ? side + (front - side) * c : side + (back - side) * (-c)
    }

    mutating func buildHeadwear(_ h: Accessories.Headwear) {
        if h.style == .headphones { buildHeadphones(h); return }
        let browMid = (landmarks[19] + landmarks[24]) / 2
        let front = browMid + SIMD3(0, h.height, 0)
        let eFront = atan2(front.y, max(0.02, front.z))
        let tops = earTop.compactMap { $0 }
        let topY = tops.isEmpty ? landmarks[0].y : tops.map(\.y).max()!
        let sideX = tops.isEmpty ? abs(landmarks[0].x) : tops.map { abs($0.x) }.reduce(0, +) / Float(tops.count)
        let (sideGap, eBack, gap, bandHeight): (Float, Float, Float, Float)
        switch h.style {
        case .cap: (sideGap, eBack, gap, bandHeight) = (0.012, -0.1, 0.0035, .infinity)
        case .beanie: (sideGap, eBack, gap, bandHeight) = (0.006, -0.3, 0.005, .infinity)
        case .hat: (sideGap, eBack, gap, bandHeight) = (0.012, -0.05, 0.006, .infinity)
        case .headband, .headphones: (sideGap, eBack, gap, bandHeight) = (0.02, 0.05, 0.003, 0.035)
        }
        let eSide = atan2(topY + sideGap, sideX)
        let columns = HairCompression.azimuths
        let centre = frame.world(.zero)
        func radius(_ phi: Float, _ e: Float) -> Float? { surfaceRadius(centre: centre, direction: frame.direction(HeadFrame.spherical(phi, e))) }
        // Compression limits on the (φ, e) grid.
        var compression = HairCompression(frame: frame)
        for j in 0..<HairCompression.elevations {
            for i in 0..<columns {
                let (phi, e) = HairCompression.cellCentre(i, j)
                let halfCell = Float.pi / Float(HairCompression.elevations) / 2, halfWidth = Float.pi / Float(columns)
                // The rim over the cell's azimuth range (lowest), the cell's elevation range.
                let rims = [phi - halfWidth, phi, phi + halfWidth].map { rimElevation($0, front: eFront, side: eSide, back: eBack) }
                let rim = rims.min()!, top = rims.max()! + (bandHeight.isFinite ? bandHeight / 0.09 : 10)
                let eLo = e - halfCell, eHi = e + halfCell
                guard eHi > rim - 0.5, eLo < top + 0.5 else { continue }
                let rs = [eLo, e, eHi].compactMap { radius(phi, $0) }
                guard let r = rs.min() else { continue }
                let inside = r + gap - 0.0015
                let outside = max(0, rim - eHi, eLo - top)   // angular distance outside the covered band
                compression.limits[j * columns + i] = inside + outside * 0.1
            }
        }
        geometry.compression = compression
        let main = material(AccessoryMaterial(kind: .fabric, albedo: h.color, roughness: 0.6, specular: 0.03,
                                              pattern: h.style == .beanie ? .knit : .weave, period: h.style == .beanie ? 0.006 : 0.0015))
        let second = material(AccessoryMaterial(kind: .fabric, albedo: h.secondary, roughness: 0.6, specular: 0.03, pattern: .weave, period: 0.0015))
        // The shell: rows from the rim up to the crown (or the top of a band).
        let rows = 16
        let crownTop = (radius(0, Float.pi / 2) ?? 0.1) + 0.022
        var grid: [[SIMD3<Float>]] = [], params: [[SIMD2<Float>]] = []
        let phis = (0..<columns).map { -Float.pi + 2 * Float.pi * Float($0) / Float(columns) }
        var lastR = [Float](repeating: 0.09, count: columns)
        for r in 0...rows {
            var row: [SIMD3<Float>] = [], prow: [SIMD2<Float>] = []
            for (i, phi) in phis.enumerated() {
                let rim = rimElevation(phi, front: eFront, side: eSide, back: eBack)
                let top = bandHeight.isFinite ? rim + bandHeight / 0.09 : Float.pi / 2 - 0.02
                let t = Float(r) / Float(rows)
                let e = rim + (top - rim) * t
                let rad = radius(phi, e) ?? lastR[i]
                lastR[i] = rad
                var extra = gap
                if h.style == .beanie { extra += (t < 0.25 ? 0.002 : 0) + 0.008 * t * t }      // cuff, slack crown
                if h.style == .hat { extra += 0.012 * t + 0.03 * t * t }                          // roomier crown
                var q = HeadFrame.spherical(phi, e) * (rad + extra)
                if h.style == .hat { q.y = min(q.y, crownTop) }                                  // flat top, above the scalp
                row.append(q)
                prow.append(SIMD2(phi * 0.09, e * 0.09))
            }
            grid.append(row); params.append(prow)
        }
        geometry.meshes[AccessoryLayer.headwear.rawValue].addGrid(grid, material: main, wrap: true, params: params)
        if !bandHeight.isFinite {
            // Close the crown.
            let topRing = grid.last!
            let apex = topRing.reduce(.zero, +) / Float(topRing.count) + SIMD3(0, 0.002, 0)
            geometry.meshes[AccessoryLayer.headwear.rawValue].addFan(centre: apex, ring: topRing, material: main)
        }
        // Brims.
        let rim = grid[0]
        if h.style == .cap || h.style == .hat {
            var brim: [[SIMD3<Float>]] = []
            let brimRows = 6
            for r in 0...brimRows {
                let t = Float(r) / Float(brimRows)
                var row: [SIMD3<Float>] = []
                for (i, phi) in phis.enumerated() {
                    let p = rim[i]
                    let outward = normalize(SIMD3(sin(phi), 0, cos(phi)))
                    var q: SIMD3<Float>
                    if h.style == .cap {
                        let span: Float = 1.35
                        let profile = abs(phi) < span ? pow(cos(phi / span * Float.pi / 2), 0.6) : 0
                        let l = h.brim * profile * t
                        q = p + outward * l + SIMD3(0, -0.22 * l - 0.012 * pow(sin(phi), 2) * t * profile, 0)
                    } else {
                        let l = h.brim * t
                        q = p + outward * l + SIMD3(0, -0.15 * l * (0.5 + 0.5 * abs(cos(phi))), 0)
                    }
                    // Keep the brim above everything below it (ears, forehead) by 3 mm.
                    q = clearBelow(q, 0.003)
                    row.append(q)
                }
                brim.append(row)
            }
            geometry.meshes[AccessoryLayer.headwear.rawValue].addGrid(brim, material: h.style == .cap ? main : main, wrap: true)
            if h.style == .hat {
                // A ribbon band at the base of the crown.
                let band = (0..<columns).map { rim[$0] * 1.01 + SIMD3(0, 0.004, 0) }
                let band2 = (0..<columns).map { grid[3][$0] * 1.01 }
                geometry.meshes[AccessoryLayer.headwear.rawValue].addGrid([band, band2], material: second, wrap: true)
            }
        }
    }

    mutating func buildHeadphones(_ h: Accessories.Headwear) {
        let shell = material(AccessoryMaterial(kind: .plastic, albedo: h.color, roughness: 0.25, specular: 0.05))
        let cushion = material(AccessoryMaterial(kind: .fabric, albedo: h.secondary, roughness: 0.5, specular: 0.04, pattern: .none))
        var cupTops: [SIMD3<Float>] = []
        let radiusCup: Float = 0.042, depth: Float = 0.03
        for side in 0..<2 {
            let s: Float = side == 0 ? 1 : -1
            let c = earCentre[side] ?? SIMD3(s * 0.075, -0.025, -0.005)
            // Inner face: 3 mm outside every head point in the cup's footprint.
            var xin = s * c.x
            for k in 0..<48 {
                let a = 2 * Float.pi * Float(k % 16) / 16, rr = radiusCup * [0.3, 0.7, 1.05][k / 16]
                if let sx = outermost(SIMD3(c.x, c.y + rr * sin(a), c.z + rr * cos(a)), along: SIMD3(s, 0, 0)) { xin = max(xin, sx) }
            }
            if let sx = outermost(SIMD3(c.x, c.y, c.z), along: SIMD3(s, 0, 0)) { xin = max(xin, sx) }
            xin += 0.003
            let profile: [(Float, Float, UInt16)] = [(0.0, 0, cushion), (0.85, 0, cushion), (1.0, 0.006, cushion), (1.0, 0.012, shell),
                                                     (0.95, depth * 0.9, shell), (0.7, depth, shell), (0.0, depth + 0.002, shell)]
            var rings: [[SIMD3<Float>]] = []
            for (rf, dx, _) in profile {
                rings.append((0..<32).map { k in
                    let a = 2 * Float.pi * Float(k) / 32
                    return SIMD3(s * (xin + dx), c.y + radiusCup * rf * 1.12 * sin(a), c.z + radiusCup * rf * 0.9 * cos(a))
                })
            }
            for k in 0..<(rings.count - 1) {
                geometry.meshes[AccessoryLayer.headwear.rawValue].addGrid([rings[k], rings[k + 1]], material: profile[k + 1].2, wrap: true)
            }
            cupTops.append(SIMD3(s * (xin + depth * 0.5), c.y + radiusCup * 1.05, c.z))
        }
        // Band: an arc over the crown between the cups, 5 mm above the scalp (hair compressed under it).
        let centre = frame.world(.zero)
        let zBand = (cupTops[0].z + cupTops[1].z) / 2
        var path: [SIMD3<Float>] = []
        let n = 32
        let halfX = (cupTops[0].x - cupTops[1].x) / 2
        let peak = (0..<9).compactMap { k -> Float? in
            let x = (Float(k) / 8 - 0.5) * 0.06
            return outermost(SIMD3(x, 0, zBand), along: SIMD3(0, 1, 0))
        }.max() ?? 0.1
        for k in 0...n {
            let psi = -Float.pi / 2 + Float.pi * Float(k) / Float(n)
            let ymid = (cupTops[0].y + cupTops[1].y) / 2
            var p = SIMD3(halfX * sin(psi), ymid + (peak + 0.008 - ymid) * cos(psi), zBand)
            // Radially clear of the head by 6 mm.
            let d = normalize(p), r = surfaceRadius(centre: centre, direction: frame.direction(d)) ?? 0
            if length(p) < r + 0.006 { p = d * (r + 0.006) }
            path.append(p)
        }
        path[0] = cupTops[1]; path[n] = cupTops[0]
        geometry.meshes[AccessoryLayer.headwear.rawValue].addTube(path, radius: 0.0035, depth: 0.012, hint: SIMD3(0, 0, 1), sides: 10, material: shell)
        // Hair under the band.
        var compression = HairCompression(frame: frame)
        for j in 0..<HairCompression.elevations {
            for i in 0..<HairCompression.azimuths {
                let (phi, e) = HairCompression.cellCentre(i, j)
                let d = HeadFrame.spherical(phi, e)
                guard e > 0.2, let r = surfaceRadius(centre: centre, direction: frame.direction(d)) else { continue }
                if abs(d.z * r - zBand) < 0.016 { compression.limits[j * HairCompression.azimuths + i] = r + 0.004 }
            }
        }
        geometry.compression = compression
    }

    // MARK: Facewear

    mutating func buildFacewear(_ f: Accessories.Facewear) {
        let l = landmarks
        func phiOf(_ p: SIMD3<Float>) -> Float { atan2(p.x, p.z) }
        let side = max(abs(phiOf(l[2])), abs(phiOf(l[14])))
        var earPhi: Float = 1.45
        for c in earCentre.compactMap({ $0 }) { earPhi = min(earPhi, abs(phiOf(c)) - 0.25) }
        let phiMax = max(0.6, min(side + 0.2, earPhi))
        let top0 = (l[28].y + l[29].y) / 2 + 0.003, topS = (l[1].y + l[15].y) / 2
        let bot0 = l[8].y - 0.012, botS = (l[4].y + l[12].y) / 2 - 0.005
        let cols = 41, rows = 31
        var r = [[Float]](repeating: [Float](repeating: 0, count: cols), count: rows)
        var ys = r, base = r
        let phis = (0..<cols).map { -phiMax + 2 * phiMax * Float($0) / Float(cols - 1) }
        let gap: Float = 0.0025
        for (i, phi) in phis.enumerated() {
            let u = abs(phi) / phiMax
            let yt = top0 + (topS - top0) * pow(u, 1.3), yb = bot0 + (botS - bot0) * pow(u, 1.6)
            var last: Float = 0.05
            for j in 0..<rows {
                let y = yt + (yb - yt) * Float(j) / Float(rows - 1)   // row 0 at the top
                ys[j][i] = y
                let h = SIMD3(sin(phi), 0, cos(phi))
                let start = SIMD3(0, y, 0) + 0.4 * h
                var rad = last
                if let hit = scene.headHit(origin: frame.world(start), direction: frame.direction(-h), far: 0.4) { rad = 0.4 - hit.distance }
                last = rad
                base[j][i] = rad + gap
                r[j][i] = rad + gap
            }
        }
        // Cone envelope: the mask is taut over concavities (sweeps both ways along rows and columns).
        let dy = abs(top0 - bot0) / Float(rows - 1), ds = 2 * phiMax / Float(cols - 1) * 0.09
        for _ in 0..<2 {
            for i in 0..<cols {
                for j in 1..<rows { r[j][i] = max(r[j][i], r[j - 1][i] - 0.6 * dy) }
                for j in stride(from: rows - 2, through: 0, by: -1) { r[j][i] = max(r[j][i], r[j + 1][i] - 0.6 * dy) }
            }
            for j in 0..<rows {
                for i in 1..<cols { r[j][i] = max(r[j][i], r[j][i - 1] - 0.7 * ds) }
                for i in stride(from: cols - 2, through: 0, by: -1) { r[j][i] = max(r[j][i], r[j][i + 1] - 0.7 * ds) }
            }
        }
        // Smooth once, then never closer than the offset surface.
        var smooth = r
        for j in 0..<rows { for i in 0..<cols {
            var s: Float = 0, n: Float = 0
            for dj in -1...1 { for di in -1...1 {
                let jj = j + dj, ii = i + di
                if jj >= 0 && jj < rows && ii >= 0 && ii < cols { s += r[jj][ii]; n += 1 }
            } }
            smooth[j][i] = max(s / n, base[j][i])
        } }
        let m = material(AccessoryMaterial(kind: .fabric, albedo: f.color, roughness: 0.7, specular: 0.02,
                                           pattern: f.style == .surgical ? .pleats : .weave, period: f.style == .surgical ? 0.014 : 0.0015))
        var grid: [[SIMD3<Float>]] = [], params: [[SIMD2<Float>]] = []
        for j in 0..<rows {
            grid.append((0..<cols).map { i in SIMD3(sin(phis[i]) * smooth[j][i], ys[j][i], cos(phis[i]) * smooth[j][i]) })
            params.append((0..<cols).map { i in SIMD2(phis[i] * 0.09, (ys[0][i] - ys[j][i]) * (f.style == .surgical && j < rows / 2 ? 1 : 1)) })
        }
        geometry.meshes[AccessoryLayer.facewear.rawValue].addGrid(grid, material: m, params: params)
        guard f.earLoops else { return }
        let loopM = material(AccessoryMaterial(kind: .fabric, albedo: f.style == .surgical ? SIMD3(0.8, 0.8, 0.8) : f.color, roughness: 0.7, specular: 0.02))
        for side in 0..<2 {
            let s: Float = side == 0 ? 1 : -1
            guard let top = earTop[side], let back = earBackZ[side], let lobe = earLobe[side]?.point else { continue }
            let edge = s > 0 ? cols - 1 : 0
            let a = grid[1][edge], b = grid[rows - 2][edge]
            let keys: [SIMD3<Float>] = [a, SIMD3(top.x, top.y + 0.003, top.z + 0.004), SIMD3(top.x, top.y + 0.001, back - 0.003),
                                        SIMD3(lobe.x, lobe.y + 0.004, back - 0.002), b]
            var path: [SIMD3<Float>] = []
            for k in 0..<(keys.count - 1) {
                for t in 0..<6 { path.append(keys[k] + (keys[k + 1] - keys[k]) * (Float(t) / 6)) }
            }
            path.append(b)
            path = path.map { pushOut($0, along: SIMD3(s, 0, 0), clearance: 0.0025) }
            geometry.meshes[AccessoryLayer.facewear.rawValue].addTube(path, radius: 0.001, hint: SIMD3(0, 1, 0), sides: 6, material: loopM)
        }
    }

    // MARK: Clothing

    mutating func buildClothing(_ c: Accessories.Clothing) {
        let (o, up, fwd) = neckFrame
        let side = normalize(cross(up, fwd)), forward = cross(side, up)
        let columns = 64
        let collarHeight: Float = c.style == .crew ? 0.018 : c.style == .collar ? 0.03 : 0.05
        let gap: Float = c.style == .turtleneck ? 0.003 : 0.004
        var heights: [Float] = []
        for k in 0...10 { heights.append(-0.16 + 0.155 * pow(Float(k) / 10, 0.6)) }       // shirt and shoulders below the neck mesh
        for k in 1...10 { heights.append(-0.005 + (collarHeight + 0.005) * Float(k) / 10) }
        var lastRadius = [Float](repeating: 0.06, count: columns)
        var grid: [[SIMD3<Float>]] = []
        // The neck's radial envelope: per angular column (±1 column) and height band (±8 mm; rows
        // below the mesh use its lowest 12 mm), the largest radius of any posed vertex there (the
        // jaw too, when it comes down), and the outermost ray hit at the row's height.
        var samples: [(column: Int, height: Float, radius: Float)] = []
        for v in 0..<(scene.vertices.count / 3) {
            let d = scene.vertices.vec3(v) - o, hv = dot(d, up)
            guard hv > -0.01, hv < collarHeight + 0.1 else { continue }
            let radial = d - hv * up
            var th = atan2(dot(radial, side), dot(radial, forward))
            if th < 0 { th += 2 * Float.pi }
            samples.append((Int(th / (2 * Float.pi) * Float(columns)) % columns, hv, length(radial)))
        }
        // Where the neck mesh ends in each column (the cut can slant): rows start there.
        var bottom = [Float](repeating: .infinity, count: columns)
        for s in samples { for dc in -1...1 { let c = (s.column + dc + columns) % columns; bottom[c] = min(bottom[c], s.height) } }
        for i in 0..<columns where !bottom[i].isFinite { bottom[i] = 0 }
        var radii = [[Float]](repeating: lastRadius, count: heights.count)
        for (r, rowHeight) in heights.enumerated().reversed() {
            var envelope = [Float](repeating: 0, count: columns)
            for s in samples {
                for dc in -1...1 {
                    let c = (s.column + dc + columns) % columns, hgt = bottom[c] + rowHeight
                    let band: ClosedRange<Float> = rowHeight < 0.004 ? bottom[c]...(bottom[c] + 0.012) : (hgt - 0.008)...(hgt + 0.008)
                    if band.contains(s.height) { envelope[c] = max(envelope[c], s.radius) }
                }
            }
            for i in 0..<columns {
                let th = 2 * Float.pi * Float(i) / Float(columns)
                let h = cos(th) * forward + sin(th) * side
                let hgt = bottom[i] + rowHeight
                let axis = o + hgt * up
                var rad: Float = envelope[i]
                if rowHeight > -0.004, let hit = scene.headHit(origin: axis + 0.35 * h, direction: -h, far: 0.35) { rad = max(rad, 0.35 - hit.distance) }
                if rad > 0 { lastRadius[i] = rad }
                radii[r][i] = lastRadius[i] + gap
            }
        }
        var volume = ClothingVolume(origin: o, up: up, forward: forward, side: side, bottom: bottom, heights: heights, radius: [])
        for (r, rowHeight) in heights.enumerated() {
            let below = max(0, -rowHeight - 0.004)
            volume.radius.append((0..<columns).map { i in
                let th = 2 * Float.pi * Float(i) / Float(columns), s = sin(th) * sin(th)
                return radii[r][i] + s * 0.19 * (1 - exp(-below / 0.035)) + 0.2 * below
            })
            grid.append((0..<columns).map { i in
                let hgt = bottom[i] + rowHeight
                let th = 2 * Float.pi * Float(i) / Float(columns)
                let h = cos(th) * forward + sin(th) * side
                // Shoulders: to the sides the shirt spreads out ~19 cm within a few cm below the
                // neck (sloping down), front and back it falls nearly straight (chest, back).
                let s = sin(th) * sin(th)
                let flare = s * 0.19 * (1 - exp(-below / 0.035)) + 0.2 * below
                return frame.local(o + hgt * up + h * (radii[r][i] + flare))
            })
        }
        geometry.clothing = volume
        let m = material(AccessoryMaterial(kind: .fabric, albedo: c.color, roughness: 0.7, specular: 0.03,
                                           pattern: c.style == .turtleneck ? .knit : .weave, period: c.style == .turtleneck ? 0.004 : 0.0012))
        geometry.meshes[AccessoryLayer.clothing.rawValue].addGrid(grid, material: m, wrap: true)
        if c.style == .collar {
            // A turned-down collar: from the band's top edge down and outward, open at the front.
            let topRow = grid.last!
            var flap: [[SIMD3<Float>]] = []
            for k in 0...4 {
                let t = Float(k) / 4
                flap.append((0..<columns).map { i in
                    let th = 2 * Float.pi * Float(i) / Float(columns)
                    let h = frame.local(frame.origin + cos(th) * forward + sin(th) * side) - frame.local(frame.origin)
                    let open = min(1, abs(sin(th / 2)) / 0.3)    // 0 at the front
                    let u = frame.local(frame.origin + up) - frame.local(frame.origin)
                    return topRow[i] + h * (0.003 + 0.012 * t) * open - u * 0.03 * t * open
                })
            }
            geometry.meshes[AccessoryLayer.clothing.rawValue].addGrid(flap, material: m, wrap: true)
        }
    }

    // MARK: Earrings

    mutating func buildEarrings(_ e: Accessories.Earrings) {
        let m = material(AccessoryMaterial(kind: .metal, albedo: e.gold ? SIMD3(1.0, 0.78, 0.34) : SIMD3(0.92, 0.92, 0.9), roughness: 0.12, specular: 1))
        for side in 0..<2 {
            guard let lobe = earLobe[side] else { continue }
            let s: Float = side == 0 ? 1 : -1
            if e.style == .stud {
                let n = normalize(lobe.normal + SIMD3(s, 0, 0))
                let r = e.size
                var rings: [[SIMD3<Float>]] = []
                for a in 1..<8 {
                    let th = Float.pi * Float(a) / 8
                    rings.append((0..<12).map { k in
                        let ph = 2 * Float.pi * Float(k) / 12
                        return SIMD3(sin(th) * cos(ph), cos(th), sin(th) * sin(ph)) * r
                    })
                }
                var centre = lobe.point + n * (r + 0.001) + SIMD3(0, 0.002, 0)
                // Clear of the head by 0.5 mm (the lobe may curl round the stud).
                centre = pushOut(centre, along: SIMD3(s, 0, 0), clearance: r + 0.0005)
                let mesh = rings.map { $0.map { $0 + centre } }
                geometry.meshes[AccessoryLayer.headwear.rawValue].addGrid(mesh, material: m, wrap: true)
                geometry.meshes[AccessoryLayer.headwear.rawValue].addFan(centre: centre + SIMD3(0, r, 0), ring: mesh[0], material: m)
                geometry.meshes[AccessoryLayer.headwear.rawValue].addFan(centre: centre - SIMD3(0, r, 0), ring: mesh.last!, material: m)
            } else {
                let R = 4 * e.size, minor: Float = 0.0009
                let centre = lobe.point + SIMD3(s * 0.002, -R - 0.002, 0.001)
                var path = (0..<32).map { k -> SIMD3<Float> in
                    let a = 2 * Float.pi * Float(k) / 32
                    return centre + SIMD3(0, R * cos(a), R * sin(a))
                }
                // Shift the whole hoop outward until every point clears the head by 1 mm.
                var shift: Float = 0
                for p in path { if let sx = outermost(p, along: SIMD3(s, 0, 0)) { shift = max(shift, sx + minor + 0.001 - s * p.x) } }
                path = path.map { $0 + SIMD3(s * shift, 0, 0) }
                geometry.meshes[AccessoryLayer.headwear.rawValue].addTube(path, radius: minor, hint: SIMD3(1, 0, 0), sides: 6, closed: true, material: m)
            }
        }
    }
}
