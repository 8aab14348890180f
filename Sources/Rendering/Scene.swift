import _CEmbree
import Dispatch
import Geometry
import HeadModels

/// What the renderer needs of a head beyond its geometry: per-face class and material, which
/// faces are drawn at all, and the eye axes for pupils. Built once per model (`HeadLabelTable`)
/// and then per posed sample (`HeadScene`).
public struct HeadLabelTable: Sendable {
    public var faceClass: [UInt8]        // [F] SegmentationClass raw values
    public var faceKind: [UInt8]         // [F] SurfaceKind
    public var faceIsSkin: [Bool]        // [F] skin geometry (also under painted brows: amodal)
    public var rendered: [Int32]         // [F'] faces given to Embree (eye-blend helpers are not)
    /// Strand brows grow over the brow faces: labelled skin, shaded with only a faint tint.
    public var strandBrows = false

    /// Derives labels from the model's regions; splits lips into upper/lower at the mouth line and
    /// paints brows onto the skin along the iBUG brow landmarks (17–21 right, 22–26 left).
    /// The same table with the painted brows turned back into skin (strand brows replace them).
    public func withoutPaintedBrows() -> HeadLabelTable {
        var t = self
        t.strandBrows = true
        for f in 0..<t.faceKind.count where t.faceKind[f] == SurfaceKind.brow.rawValue {
            t.faceClass[f] = SegmentationClass.skin.rawValue
        }
        return t
    }

    public init(model m: HeadModel) {
        let f = m.triangleCount
        let lm = m.landmarkPositions(vertices: m.template)
        faceClass = [UInt8](repeating: SegmentationClass.skin.rawValue, count: f)
        faceKind = [UInt8](repeating: SurfaceKind.skin.rawValue, count: f)
        faceIsSkin = [Bool](repeating: true, count: f)
        rendered = []
        // The mouth line: interpolate between the inner-lip midpoints across the mouth width.
        let mouthY = (lm[62].y + lm[66].y) / 2, mouthCornerY = (lm[60].y + lm[64].y) / 2
        let halfWidth = max(abs(lm[54].x - lm[48].x) / 2, 1e-4)
        func browDistance(_ p: SIMD3<Float>, _ range: ClosedRange<Int>) -> Float {
            var best = Float.infinity
            for k in range.lowerBound..<range.upperBound {
                let a = SIMD2(lm[k].x, lm[k].y), b = SIMD2(lm[k + 1].x, lm[k + 1].y), q = SIMD2(p.x, p.y)
                let t = max(0, min(1, ((q - a) * (b - a)).sum() / max(((b - a) * (b - a)).sum(), 1e-12)))
                let d = q - (a + t * (b - a))
                best = min(best, (d * d).sum().squareRoot())
            }
            return best
        }
        let eyeWidth = length(lm[39] - lm[36])
        let browHalfThickness = 0.16 * eyeWidth
        for t in 0..<f {
            let c = (m.template.vec3(Int(m.triangles[3 * t])) + m.template.vec3(Int(m.triangles[3 * t + 1]))
                     + m.template.vec3(Int(m.triangles[3 * t + 2]))) / 3
            let region = Region(rawValue: m.faceRegions[t]) ?? .faceSkin
            var cls = SegmentationClass.skin, kind = SurfaceKind.skin
            switch region {
            case .faceSkin, .eyelidLeft, .eyelidRight, .scalp:
                cls = .skin
                let browRange: ClosedRange<Int>? = c.z > lm[0].z ? (c.x < 0 ? 17...21 : 22...26) : nil
                if let r = browRange, browDistance(c, r) < browHalfThickness, c.y > lm[r.lowerBound].y - 2 * browHalfThickness {
                    cls = c.x < 0 ? .rightBrow : .leftBrow; kind = .brow
                }
            case .neck: cls = .neck
            case .earLeft: cls = .leftEar
            case .earRight: cls = .rightEar
            case .nose: cls = .nose
            case .lips:
                let s = min(1, abs(c.x - (lm[48].x + lm[54].x) / 2) / halfWidth)
                let lineY = mouthY + (mouthCornerY - mouthY) * s * s
                cls = c.y >= lineY ? .upperLip : .lowerLip; kind = .lip
            case .scleraLeft: cls = .leftEye; kind = .sclera
            case .scleraRight: cls = .rightEye; kind = .sclera
            case .irisLeft: cls = .leftEye; kind = .iris
            case .irisRight: cls = .rightEye; kind = .iris
            case .teeth: cls = .mouthInterior; kind = .teeth
            case .mouthInterior: cls = .mouthInterior; kind = .mouth
            // Eyelash cards and eye-blend helpers are transparency-textured in their source
            // engines; drawn solid they look like thick eyeliner, so they are not rendered
            // (strand eyelashes replace the cards).
            case .eyelashes, .eyeBlend: continue
            }
            faceClass[t] = cls.rawValue
            faceKind[t] = kind.rawValue
            faceIsSkin[t] = region.isSkin
            rendered.append(Int32(t))
        }
    }
}

/// A posed head as an Embree scene, with everything shading and labelling need per hit.
public final class HeadScene: @unchecked Sendable {
    public let model: HeadModel
    public let labels: HeadLabelTable
    public let vertices: [Float]         // [V, 3] world
    public let normals: [Float]          // [V, 3] world, unit
    public let modelRotation: Mat3       // world → model frame rotation (inverse of the global rotation)
    public let eyeCentres: [SIMD3<Float>]  // [2] world: left, right
    public let eyeAxes: [SIMD3<Float>]     // [2] world unit gaze directions
    /// Strand layers (hair, beard, eyebrows, eyelashes), indexed by `StrandLayer.rawValue - 1`; empty sets
    /// when the groom has none. Geometry id of layer L is L.rawValue, its mask bit `L.mask`.
    public private(set) var strands: [StrandSet] = StrandLayer.allCases.map { StrandSet(layer: $0) }
    public private(set) var hasStrands = false
    /// Ray mask of shadow rays: everything but eyelashes (a lash's shadow is far below a pixel,
    /// and skipping them keeps lash-only heads at one shadow ray per light sample) and lenses
    /// (their tint is ignored for shadows).
    public static let shadowMask: UInt32 = ~StrandLayer.eyelashes.mask & ~AccessoryLayer.lensMask
    /// What blocks light completely: the head mesh and opaque accessories.
    public static let opaqueMask: UInt32 = HeadScene.headMask | (AccessoryLayer.allMask & ~AccessoryLayer.lensMask)
    /// True when a layer that casts shadows (hair, beard, brows) is present.
    public private(set) var hasShadowingStrands = false
    /// Mean albedo of the strands: how much light a strand lets through in shadow rays.
    public private(set) var strandTransmittance: Float = 0.3
    /// Glasses, headwear, facewear, clothing (geometry ids 8…12, `AccessoryLayer`), fitted to this head.
    public internal(set) var accessories = AccessoryGeometry()
    public internal(set) var hasAccessories = false
    /// Seconds spent growing strands and rebuilding the BVH with them (benchmarks).
    public private(set) var growSeconds = 0.0, strandBVHSeconds = 0.0
    let renderedFace: [Bool]
    let device: EmbreeDevice
    let scene: RTCScene
    /// The geometries that block light completely (head mesh, opaque accessories; no strands, no
    /// lenses) as a scene of their own: occlusion rays of heads without shadowing strands, and the
    /// second query of those with them, skip the curve BVH that eyelashes would otherwise put in
    /// every shadow ray's way (Embree checks ray masks only at primitives). Same geometry ids.
    let opaqueScene: RTCScene
    /// The scene occlusion rays start with: `opaqueScene`, or `scene` (masked) when strands cast shadows.
    var shadowScene: RTCScene { hasShadowingStrands ? scene : opaqueScene }
    /// Embree geometry mask of the head mesh; strand layers use `StrandLayer.mask`.
    public static let headMask: UInt32 = 1

    /// `groom` adds strand layers (geometry ids 1…4) grown on this posed head; strand eyebrows
    /// replace the painted ones in the labels. `accessories` are fitted first (headwear
    /// compresses the hair).
    public init(device: EmbreeDevice, model: HeadModel, labels: HeadLabelTable, posed: PosedHead, global: RigidTransform,
                groom: Groom? = nil, accessories: Accessories? = nil) throws {
        self.model = model; self.device = device
        self.labels = groom.map { $0.eyebrows && $0.browStrands > 0 } == true ? labels.withoutPaintedBrows() : labels
        var rf = [Bool](repeating: false, count: model.triangleCount)
        for f in labels.rendered { rf[Int(f)] = true }
        renderedFace = rf
        vertices = posed.vertices; normals = posed.normals
        modelRotation = global.rotation.transposed
        var centres: [SIMD3<Float>] = [], axes: [SIMD3<Float>] = []
        for (joint, iris) in [(Joint.leftEye, Region.irisLeft), (.rightEye, .irisRight)] {
            let c = posed.joints[joint.rawValue]
            let vs = model.vertices(in: [iris])
            let irisCentre = vs.isEmpty ? c + global.rotation * SIMD3(0, 0, 0.01)
                : vs.map { posed.vertices.vec3($0) }.reduce(.zero, +) / Float(vs.count)
            centres.append(c); axes.append(normalize(irisCentre - c))
        }
        eyeCentres = centres; eyeAxes = axes

        guard let s = rtcNewScene(device.handle), let o = rtcNewScene(device.handle) else { throw RenderError(reason: "Embree: cannot create scene") }
        scene = s; opaqueScene = o
        rtcSetSceneBuildQuality(scene, RTC_BUILD_QUALITY_HIGH)
        rtcSetSceneBuildQuality(opaqueScene, RTC_BUILD_QUALITY_HIGH)
        let geometry = rtcNewGeometry(device.handle, RTC_GEOMETRY_TYPE_TRIANGLE)
        let nv = vertices.count / 3, nt = labels.rendered.count
        guard let vb = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT3, 12, nv + 1)?
                .bindMemory(to: Float.self, capacity: 3 * nv + 3),
              let ib = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3, 12, nt)?
                .bindMemory(to: UInt32.self, capacity: 3 * nt) else {
            throw RenderError(reason: "Embree: cannot allocate buffers")
        }
        for i in 0..<(3 * nv) { vb[i] = vertices[i] }
        for (k, f) in labels.rendered.enumerated() {
            for c in 0..<3 { ib[3 * k + c] = UInt32(model.triangles[3 * Int(f) + c]) }
        }
        rtcSetGeometryMask(geometry, HeadScene.headMask)
        rtcCommitGeometry(geometry)
        rtcAttachGeometryByID(scene, geometry, 0)
        rtcAttachGeometryByID(opaqueScene, geometry, 0)
        rtcReleaseGeometry(geometry)
        rtcCommitScene(scene)
        rtcCommitScene(opaqueScene)
        if let a = accessories, !a.isEmpty { try addAccessories(a, posed: posed) }
        if let g = groom, !g.isEmpty { try addStrands(g) }
    }

    deinit { rtcReleaseScene(scene); rtcReleaseScene(opaqueScene) }

    public func isRendered(_ face: Int) -> Bool { renderedFace[face] }

    /// Grows the groom against the committed head, then adds one flat-linear-curve geometry per
    /// non-empty layer and recommits.
    func addStrands(_ groom: Groom) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let grower = StrandGrower(scene: self, groom: groom)
        let sets = [grower.scalpHair(), grower.facialHair(), grower.eyebrows(), grower.eyelashes()].map(compressUnderHeadwear)
        let t1 = DispatchTime.now().uptimeNanoseconds
        growSeconds = Double(t1 - t0) / 1e9
        var albedoSum = SIMD3<Float>.zero, albedoCount = 0
        for set in sets where set.strandCount > 0 {
            let geometry = rtcNewGeometry(device.handle, RTC_GEOMETRY_TYPE_FLAT_LINEAR_CURVE)
            let np = set.points.count, ns = set.segments.count
            guard let vb = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT4, 16, np + 1),
                  let ib = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT, 4, ns) else {
                throw RenderError(reason: "Embree: cannot allocate curve buffers")
            }
            set.points.withUnsafeBytes { vb.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            set.segments.withUnsafeBytes { ib.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            rtcSetGeometryMask(geometry, set.layer.mask)
            rtcCommitGeometry(geometry)
            rtcAttachGeometryByID(scene, geometry, UInt32(set.layer.rawValue))
            rtcReleaseGeometry(geometry)
            strands[set.layer.rawValue - 1] = set
            hasStrands = true
            if set.layer != .eyelashes { hasShadowingStrands = true }
            if set.layer == .hair { for c in set.strandColor { albedoSum += c; albedoCount += 1 } }
        }
        if albedoCount > 0 { strandTransmittance = 0.15 + 0.5 * (albedoSum / Float(albedoCount)).sum() / 3 }
        // Hundreds of thousands of curve segments: a medium-quality BVH builds several times faster.
        // A few thousand (lashes, brows, stubble) keep the high-quality BVH: it traces faster.
        let segmentCount = sets.reduce(0) { $0 + $1.segments.count }
        if hasStrands {
            if segmentCount > 20_000 { rtcSetSceneBuildQuality(scene, RTC_BUILD_QUALITY_MEDIUM) }
            rtcCommitScene(scene)
        }
        strandBVHSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
    }

    /// Every layer's mask bit.
    public static let allMask: UInt32 = UInt32.max

    /// Nearest head-mesh hit (strands ignored): distance and geometric normal, unnormalised.
    @inline(__always)
    func headHit(origin: SIMD3<Float>, direction: SIMD3<Float>, far: Float) -> (distance: Float, normal: SIMD3<Float>)? {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var rh = RTCRayHit()
        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
        rh.ray.dir_x = direction.x; rh.ray.dir_y = direction.y; rh.ray.dir_z = direction.z
        rh.ray.tnear = 0; rh.ray.tfar = far; rh.ray.mask = HeadScene.headMask
        rh.hit.geomID = invalidGeometryID
        rtcIntersect1(scene, &context, &rh)
        guard rh.hit.geomID != invalidGeometryID else { return nil }
        return (rh.ray.tfar, SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z))
    }

    /// A strand hit: layer, strand, shading frame.
    public struct StrandHit {
        public var layer: StrandLayer
        public var strand: Int
        public var distance: Float
        public var position: SIMD3<Float>
        public var tangent: SIMD3<Float>      // unit, root → tip
        public var normal: SIMD3<Float>       // unit, perpendicular to the tangent, facing the ray
        public var v: Float                   // 0 root … 1 tip
        public var segmentationClass: UInt8
        public var color: SIMD3<Float>
    }

    public enum Hit {
        case head(SurfaceHit)
        case strand(StrandHit)
        case accessory(AccessoryHit)
        public var distance: Float {
            switch self {
            case .head(let h): return h.distance
            case .strand(let s): return s.distance
            case .accessory(let a): return a.distance
            }
        }
    }

    @inline(__always)
    func resolveStrand(geometry: UInt32, primitive: UInt32, u: Float, distance: Float, origin: SIMD3<Float>, direction: SIMD3<Float>) -> StrandHit {
        let layer = StrandLayer(rawValue: Int(geometry))!
        let set = strands[layer.rawValue - 1]
        let seg = Int(primitive), first = Int(set.segments[seg])
        let a = set.points[first], b = set.points[first + 1]
        var t = SIMD3(b.x - a.x, b.y - a.y, b.z - a.z)
        t = length(t) > 1e-9 ? normalize(t) : -direction
        var n = -direction - t * dot(-direction, t)
        n = length(n) > 1e-6 ? normalize(n) : -direction
        let strand = Int(set.segmentStrand[seg])
        let next = seg + 1 < set.segmentStrand.count && set.segmentStrand[seg + 1] == set.segmentStrand[seg] ? set.segmentV[seg + 1] : 1
        let v = set.segmentV[seg] + u * (next - set.segmentV[seg])
        return StrandHit(layer: layer, strand: strand, distance: distance, position: origin + distance * direction, tangent: t, normal: n,
                         v: v, segmentationClass: set.strandClass[strand], color: set.strandColor[strand])
    }

    /// Nearest hit of anything in `mask` (head and/or strand layers).
    @inline(__always)
    func trace(origin: SIMD3<Float>, direction: SIMD3<Float>, mask: UInt32 = HeadScene.allMask) -> Hit? {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var rh = RTCRayHit()
        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
        rh.ray.dir_x = direction.x; rh.ray.dir_y = direction.y; rh.ray.dir_z = direction.z
        rh.ray.tnear = 0; rh.ray.tfar = .infinity; rh.ray.mask = mask
        rh.hit.geomID = invalidGeometryID
        rtcIntersect1(scene, &context, &rh)
        guard rh.hit.geomID != invalidGeometryID else { return nil }
        if rh.hit.geomID >= AccessoryLayer.firstGeometryID {
            return .accessory(resolveAccessory(geometry: rh.hit.geomID, primitive: rh.hit.primID, u: rh.hit.u, v: rh.hit.v, distance: rh.ray.tfar,
                                               geometricNormal: SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z), origin: origin, direction: direction))
        }
        if rh.hit.geomID == 0 {
            return .head(resolve(primitive: rh.hit.primID, u: rh.hit.u, v: rh.hit.v, distance: rh.ray.tfar,
                                 geometricNormal: SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z), origin: origin, direction: direction))
        }
        return .strand(resolveStrand(geometry: rh.hit.geomID, primitive: rh.hit.primID, u: rh.hit.u, distance: rh.ray.tfar,
                                     origin: origin, direction: direction))
    }

    /// Light reaching along a shadow ray: 0 behind the head or an opaque accessory,
    /// `strandTransmittance` through strands (an approximation of multiple scattering in the hair
    /// volume), 1 otherwise. Lenses do not cast shadows (their tint is ignored for shadow rays).
    @inline(__always)
    func transmittance(origin: SIMD3<Float>, direction: SIMD3<Float>, near: Float, far: Float) -> Float {
        if !occluded(origin: origin, direction: direction, near: near, far: far, mask: HeadScene.shadowMask, in: shadowScene) { return 1 }
        if !hasShadowingStrands { return 0 }
        return occluded(origin: origin, direction: direction, near: near, far: far, mask: HeadScene.opaqueMask, in: opaqueScene) ? 0 : strandTransmittance
    }

    /// A head-mesh surface hit, resolved to the model's face and interpolated attributes.
    public struct SurfaceHit {
        public var distance: Float
        public var face: Int                   // model face index
        public var barycentric: SIMD3<Float>   // weights of the face's corners 0, 1, 2
        public var position: SIMD3<Float>
        public var normal: SIMD3<Float>        // interpolated shading normal, world, unit, facing the ray
        public var geometricNormal: SIMD3<Float>
        public var uv: SIMD2<Float>
    }

    @inline(__always)
    func intersect(origin: SIMD3<Float>, direction: SIMD3<Float>, near: Float = 0, far: Float = .infinity) -> SurfaceHit? {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var rh = RTCRayHit()
        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
        rh.ray.dir_x = direction.x; rh.ray.dir_y = direction.y; rh.ray.dir_z = direction.z
        rh.ray.tnear = near; rh.ray.tfar = far; rh.ray.mask = HeadScene.headMask  // the head mesh only
        rh.hit.geomID = invalidGeometryID
        rtcIntersect1(scene, &context, &rh)
        guard rh.hit.geomID != invalidGeometryID else { return nil }
        return resolve(primitive: rh.hit.primID, u: rh.hit.u, v: rh.hit.v, distance: rh.ray.tfar,
                       geometricNormal: SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z), origin: origin, direction: direction)
    }

    /// Turns Embree's hit record into the model face and interpolated attributes.
    @inline(__always)
    func resolve(primitive: UInt32, u: Float, v: Float, distance: Float, geometricNormal: SIMD3<Float>,
                 origin: SIMD3<Float>, direction: SIMD3<Float>) -> SurfaceHit {
        let face = Int(labels.rendered[Int(primitive)])
        let b = SIMD3<Float>(1 - u - v, u, v)
        let i0 = Int(model.triangles[3 * face]), i1 = Int(model.triangles[3 * face + 1]), i2 = Int(model.triangles[3 * face + 2])
        var ng = normalize(geometricNormal)
        var n = normalize(b.x * normals.vec3(i0) + b.y * normals.vec3(i1) + b.z * normals.vec3(i2))
        if dot(ng, direction) > 0 { ng = -ng }
        if dot(n, ng) < 0 { n = normalize(n - 2 * dot(n, ng) * ng) }  // flip into the visible hemisphere
        if length(n) == 0 { n = ng }
        let t0 = Int(model.uvTriangles[3 * face]), t1 = Int(model.uvTriangles[3 * face + 1]), t2 = Int(model.uvTriangles[3 * face + 2])
        let uv = b.x * SIMD2(model.texcoords[2 * t0], model.texcoords[2 * t0 + 1])
            + b.y * SIMD2(model.texcoords[2 * t1], model.texcoords[2 * t1 + 1])
            + b.z * SIMD2(model.texcoords[2 * t2], model.texcoords[2 * t2 + 1])
        return SurfaceHit(distance: distance, face: face, barycentric: b, position: origin + distance * direction,
                          normal: n, geometricNormal: ng, uv: uv)
    }

    /// The origin for shadow rays from a hit: the point lifted onto the smooth surface that the
    /// vertex normals describe (Hanika 2021, "Hacking the shadow terminator"):
    /// p' = p + Σ_i b_i · max(0, (v_i − p)·n_i) n_i. From the flat facet itself, rays toward a
    /// light at grazing angles hit the neighbouring facets of a coarse mesh, which drew the
    /// triangles as hard shadow patches under a key light.
    @inline(__always)
    func shadowOrigin(_ hit: SurfaceHit) -> SIMD3<Float> {
        var p = hit.position
        for c in 0..<3 {
            let i = Int(model.triangles[3 * hit.face + c])
            let n = normals.vec3(i)
            let lift = dot(vertices.vec3(i) - hit.position, n)
            if lift > 0 { p += hit.barycentric[c] * lift * n }
        }
        // Only ever lifts toward the side being shaded (vertex normals face out; a back-face hit keeps p).
        return dot(p - hit.position, hit.geometricNormal) >= 0 ? p : hit.position
    }

    /// Intersects up to 16 rays sharing an origin as one Embree packet (`rtcIntersect16`).
    @inline(__always)
    func intersect(packet: RayPacket, count: Int) {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        context.flags = RTC_INTERSECT_CONTEXT_FLAG_COHERENT
        packet.prepare(count: count)
        rtcIntersect16(packet.valid, scene, &context, OpaquePointer(packet.raw))
    }

    /// True when anything blocks the segment origin + t·direction, t in (near, far).
    @inline(__always)
    func occluded(origin: SIMD3<Float>, direction: SIMD3<Float>, near: Float, far: Float, mask: UInt32 = UInt32.max, in target: RTCScene? = nil) -> Bool {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var ray = RTCRay()
        ray.org_x = origin.x; ray.org_y = origin.y; ray.org_z = origin.z
        ray.dir_x = direction.x; ray.dir_y = direction.y; ray.dir_z = direction.z
        ray.tnear = near; ray.tfar = far; ray.mask = mask
        rtcOccluded1(target ?? scene, &context, &ray)
        return ray.tfar < 0
    }
}

/// A 16-wide ray packet in Embree's struct-of-arrays layout (RTCRayHit16 does not import: it is
/// over-aligned). Ray fields then hit fields, 16 lanes each, then the valid mask; 64-byte aligned.
final class RayPacket {
    static let width = 16
    let raw: UnsafeMutableRawPointer
    let f: UnsafeMutablePointer<Float>
    let u: UnsafeMutablePointer<UInt32>
    let valid: UnsafeMutablePointer<Int32>

    init() {
        raw = UnsafeMutableRawPointer.allocate(byteCount: 21 * 64, alignment: 64)
        f = raw.bindMemory(to: Float.self, capacity: 20 * 16)
        u = raw.bindMemory(to: UInt32.self, capacity: 20 * 16)
        valid = (raw + 20 * 64).bindMemory(to: Int32.self, capacity: 16)
    }
    deinit { raw.deallocate() }

    @inline(__always) func set(_ lane: Int, origin o: SIMD3<Float>, direction d: SIMD3<Float>) {
        f[lane] = o.x; f[16 + lane] = o.y; f[32 + lane] = o.z; f[48 + lane] = 0
        f[64 + lane] = d.x; f[80 + lane] = d.y; f[96 + lane] = d.z; f[112 + lane] = 0; f[128 + lane] = .infinity
        u[144 + lane] = .max; u[160 + lane] = 0; u[176 + lane] = 0
    }

    /// Sets all 16 lanes as camera rays from `origin` with unit directions (x, y, z), as `set` does lane by lane.
    @inline(__always) func storeRays(origin o: SIMD3<Float>, x: SIMD16<Float>, y: SIMD16<Float>, z: SIMD16<Float>) {
        @inline(__always) func row(_ k: Int, _ v: SIMD16<Float>) { UnsafeMutableRawPointer(f + 16 * k).storeBytes(of: v, as: SIMD16<Float>.self) }
        row(0, SIMD16(repeating: o.x)); row(1, SIMD16(repeating: o.y)); row(2, SIMD16(repeating: o.z)); row(3, .zero)
        row(4, x); row(5, y); row(6, z); row(7, .zero); row(8, SIMD16(repeating: .infinity))
        UnsafeMutableRawPointer(u + 144).storeBytes(of: SIMD16<UInt32>(repeating: .max), as: SIMD16<UInt32>.self)
        UnsafeMutableRawPointer(u + 160).storeBytes(of: SIMD16<UInt32>.zero, as: SIMD16<UInt32>.self)
        UnsafeMutableRawPointer(u + 176).storeBytes(of: SIMD16<UInt32>.zero, as: SIMD16<UInt32>.self)
    }

    func prepare(count: Int) {
        for lane in 0..<16 {
            valid[lane] = lane < count ? -1 : 0
            u[288 + lane] = invalidGeometryID; u[304 + lane] = invalidGeometryID
        }
    }

    @inline(__always) func hit(_ lane: Int) -> Bool { u[288 + lane] != invalidGeometryID }
    @inline(__always) func distance(_ lane: Int) -> Float { f[128 + lane] }
    @inline(__always) func geometricNormal(_ lane: Int) -> SIMD3<Float> { SIMD3(f[192 + lane], f[208 + lane], f[224 + lane]) }
    @inline(__always) func uv(_ lane: Int) -> (Float, Float) { (f[240 + lane], f[256 + lane]) }
    @inline(__always) func primitive(_ lane: Int) -> UInt32 { u[272 + lane] }
    @inline(__always) func geometry(_ lane: Int) -> UInt32 { u[288 + lane] }
}
