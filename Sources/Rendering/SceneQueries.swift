import _CEmbree
import Geometry
import HeadModels

/// Geometry-generic queries on a `HeadScene` (head mesh, strand layers and any further triangle
/// geometry attached to it), for consumers that are not the path tracer: the virtual scanner's
/// depth sensor and its per-vertex ground truth.
///
/// Geometry ids: 0 is the head mesh (primitive p is model face `labels.rendered[p]`), ids that
/// are a non-empty `StrandLayer` are flat linear curves (primitive = segment), every other id is
/// a triangle mesh (float3 vertices with a 12-byte stride, uint3 indices), e.g. accessories.
extension HeadScene {
    /// SegmentationClass (raw value) of primitive `primitive` of geometry `geometry`.
    public func segmentationClass(geometry: UInt32, primitive: UInt32) -> UInt8 {
        if geometry == 0 { return labels.faceClass[Int(labels.rendered[Int(primitive)])] }
        if let layer = curveLayer(geometry) {
            let set = strands[layer.rawValue - 1]
            return set.strandClass[Int(set.segmentStrand[Int(primitive)])]
        }
        return otherGeometryClass(geometry: geometry, primitive: primitive)
    }

    /// Triangle geometries beyond the head mesh: accessories report their layer's class (lenses
    /// are glasses); anything else is `ignore`.
    func otherGeometryClass(geometry: UInt32, primitive: UInt32) -> UInt8 {
        guard geometry >= AccessoryLayer.firstGeometryID, geometry <= AccessoryLayer.lensGeometryID else { return SegmentationClass.ignore.rawValue }
        return accessories.mesh(geometry: geometry).layer.segmentationClass.rawValue
    }

    /// Name of every geometry id a scene can hold, indexed by id ("" = unused): "head", the
    /// strand layers, the accessory layers and "glasses_lenses".
    public static var geometryNames: [String] {
        var names = [String](repeating: "", count: Int(AccessoryLayer.lensGeometryID) + 1)
        names[0] = "head"
        for layer in StrandLayer.allCases { names[layer.rawValue] = layer.name }
        for layer in AccessoryLayer.allCases { names[Int(layer.geometryID)] = layer.name }
        names[Int(AccessoryLayer.lensGeometryID)] = "glasses_lenses"
        return names
    }

    /// What a primitive belongs to: the model face (head), the strand (strand layers), else the primitive.
    public func element(geometry: UInt32, primitive: UInt32) -> Int32 {
        if geometry == 0 { return labels.rendered[Int(primitive)] }
        if let layer = curveLayer(geometry) { return Int32(strands[layer.rawValue - 1].segmentStrand[Int(primitive)]) }
        return Int32(bitPattern: primitive)
    }

    /// The strand layer drawn as geometry `geometry`, when it is a non-empty strand layer.
    @inline(__always) func curveLayer(_ geometry: UInt32) -> StrandLayer? {
        guard let layer = StrandLayer(rawValue: Int(geometry)), layer.rawValue - 1 < strands.count,
              strands[layer.rawValue - 1].strandCount > 0 else { return nil }
        return layer
    }

    /// Nearest surface of any geometry to `point` within `radius`: triangles by an Embree point
    /// query on this scene, strands by one on `strands` (Embree's point queries skip curves).
    public func closestSurface(to point: SIMD3<Float>, radius: Float, strands: StrandPointIndex?) -> ClosestSurface? {
        var best = closestSurfaceQuery(scene: scene, point: point, radius: radius, curveGeometries: 0)
        if let strands, let s = closestSurfaceQuery(scene: strands.scene, point: point, radius: best?.distance ?? radius, curveGeometries: ~0),
           best == nil || (s.distance, s.geometry, s.primitive) < (best!.distance, best!.geometry, best!.primitive) {
            best = s
        }
        return best
    }
}

/// The strand layers of a `HeadScene` as Embree user geometries (one per layer, same geometry
/// id; primitive = segment) whose bounds are the segments' capsules: a scene for point queries.
public final class StrandPointIndex: @unchecked Sendable {
    let scene: RTCScene
    var buffers: [UnsafeMutablePointer<CurveBuffers>] = []

    public init(_ head: HeadScene) throws {
        guard let s = rtcNewScene(head.device.handle) else { throw RenderError(reason: "Embree: cannot create scene") }
        scene = s
        for set in head.strands where set.strandCount > 0 {
            let points = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: set.points.count)
            points.initialize(from: set.points, count: set.points.count)
            let segments = UnsafeMutablePointer<UInt32>.allocate(capacity: set.segments.count)
            segments.initialize(from: set.segments, count: set.segments.count)
            let b = UnsafeMutablePointer<CurveBuffers>.allocate(capacity: 1)
            b.initialize(to: CurveBuffers(points: points, segments: segments))
            buffers.append(b)
            let g = rtcNewGeometry(head.device.handle, RTC_GEOMETRY_TYPE_USER)
            rtcSetGeometryUserPrimitiveCount(g, UInt32(set.segments.count))
            rtcSetGeometryUserData(g, UnsafeMutableRawPointer(b))
            rtcSetGeometryBoundsFunction(g, segmentBounds, nil)
            rtcCommitGeometry(g)
            rtcAttachGeometryByID(scene, g, UInt32(set.layer.rawValue))
            rtcReleaseGeometry(g)
        }
        rtcCommitScene(scene)
    }

    deinit {
        rtcReleaseScene(scene)
        for b in buffers { b.pointee.points.deallocate(); b.pointee.segments.deallocate(); b.deallocate() }
    }
}

struct CurveBuffers {
    var points: UnsafeMutablePointer<SIMD4<Float>>   // x, y, z, radius
    var segments: UnsafeMutablePointer<UInt32>       // first point of each segment
}

/// Bounds of one segment's capsule (both end spheres).
private let segmentBounds: RTCBoundsFunction = { args in
    guard let a = args?.pointee, let b = a.geometryUserPtr?.assumingMemoryBound(to: CurveBuffers.self) else { return }
    let first = Int(b.pointee.segments[Int(a.primID)])
    let p = b.pointee.points[first], q = b.pointee.points[first + 1]
    let r = max(p.w, q.w)
    a.bounds_o.pointee.lower_x = min(p.x, q.x) - r; a.bounds_o.pointee.lower_y = min(p.y, q.y) - r; a.bounds_o.pointee.lower_z = min(p.z, q.z) - r
    a.bounds_o.pointee.upper_x = max(p.x, q.x) + r; a.bounds_o.pointee.upper_y = max(p.y, q.y) + r; a.bounds_o.pointee.upper_z = max(p.z, q.z) + r
}

extension TriangleScene {
    /// Nearest triangle to `point` within `radius` (Embree point query).
    public func closestSurface(to point: SIMD3<Float>, radius: Float) -> ClosestSurface? {
        closestSurfaceQuery(scene: scene, point: point, radius: radius, curveGeometries: 0)
    }
}

/// The nearest point of a scene's surfaces to a query point.
public struct ClosestSurface: Sendable {
    public var geometry: UInt32
    public var primitive: UInt32
    public var distance: Float            // to the surface (curves: to the fibre's surface, axis distance − radius, ≥ 0)
    public var point: SIMD3<Float>        // nearest point (curves: on the axis)
    /// Triangles: barycentric weights of corners 0, 1, 2; curves: (1 − t, t, 0) along the segment.
    public var barycentric: SIMD3<Float>
}

struct PointQueryState {
    var scene: RTCScene
    var curves: UInt64
    var point: SIMD3<Float>
    var best: ClosestSurface?
}

/// Closest point on triangle abc to p (Ericson, Real-Time Collision Detection 5.1.5): barycentrics.
@inline(__always)
func closestPointOnTriangle(_ p: SIMD3<Float>, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>) -> SIMD3<Float> {
    let ab = b - a, ac = c - a, ap = p - a
    let d1 = dot(ab, ap), d2 = dot(ac, ap)
    if d1 <= 0 && d2 <= 0 { return SIMD3(1, 0, 0) }
    let bp = p - b, d3 = dot(ab, bp), d4 = dot(ac, bp)
    if d3 >= 0 && d4 <= d3 { return SIMD3(0, 1, 0) }
    let vc = d1 * d4 - d3 * d2
    if vc <= 0 && d1 >= 0 && d3 <= 0 { let v = d1 / (d1 - d3); return SIMD3(1 - v, v, 0) }
    let cp = p - c, d5 = dot(ab, cp), d6 = dot(ac, cp)
    if d6 >= 0 && d5 <= d6 { return SIMD3(0, 0, 1) }
    let vb = d5 * d2 - d1 * d6
    if vb <= 0 && d2 >= 0 && d6 <= 0 { let w = d2 / (d2 - d6); return SIMD3(1 - w, 0, w) }
    let va = d3 * d6 - d5 * d4
    if va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6)); return SIMD3(0, 1 - w, w)
    }
    let denom = 1 / (va + vb + vc)
    let v = vb * denom, w = vc * denom
    return SIMD3(1 - v - w, v, w)
}

/// Point-query callback: exact distance to one triangle or curve segment, shrinking the radius.
private let pointQueryCallback: RTCPointQueryFunction = { args in
    guard let args else { return false }
    let a = args.pointee
    let state = a.userPtr!.assumingMemoryBound(to: PointQueryState.self)
    let geomID = a.geomID, primID = Int(a.primID)
    guard let geometry = rtcGetGeometry(state.pointee.scene, geomID) else { return false }
    let p = state.pointee.point
    var distance: Float, point: SIMD3<Float>, bary: SIMD3<Float>
    if geomID < 64 && state.pointee.curves & (1 << UInt64(geomID)) != 0 {
        guard let b = rtcGetGeometryUserData(geometry)?.assumingMemoryBound(to: CurveBuffers.self) else { return false }
        let vb = b.pointee.points, first = Int(b.pointee.segments[primID])
        let s0 = vb[first], s1 = vb[first + 1]
        let x0 = SIMD3(s0.x, s0.y, s0.z), x1 = SIMD3(s1.x, s1.y, s1.z), e = x1 - x0
        let t = max(0, min(1, dot(p - x0, e) / max(dot(e, e), 1e-20)))
        point = x0 + t * e
        distance = max(0, length(p - point) - (s0.w + t * (s1.w - s0.w)))
        bary = SIMD3(1 - t, t, 0)
    } else {
        guard let vb = rtcGetGeometryBufferData(geometry, RTC_BUFFER_TYPE_VERTEX, 0)?.assumingMemoryBound(to: Float.self),
              let ib = rtcGetGeometryBufferData(geometry, RTC_BUFFER_TYPE_INDEX, 0)?.assumingMemoryBound(to: UInt32.self) else { return false }
        let i0 = 3 * Int(ib[3 * primID]), i1 = 3 * Int(ib[3 * primID + 1]), i2 = 3 * Int(ib[3 * primID + 2])
        let v0 = SIMD3(vb[i0], vb[i0 + 1], vb[i0 + 2]), v1 = SIMD3(vb[i1], vb[i1 + 1], vb[i1 + 2]), v2 = SIMD3(vb[i2], vb[i2 + 1], vb[i2 + 2])
        bary = closestPointOnTriangle(p, v0, v1, v2)
        point = bary.x * v0 + bary.y * v1 + bary.z * v2
        distance = length(p - point)
    }
    guard distance <= a.query.pointee.radius else { return false }
    // Ties go to the lowest (geometry, primitive): the answer does not depend on traversal order.
    if let b = state.pointee.best, (b.distance, b.geometry, b.primitive) <= (distance, geomID, UInt32(primID)) { return false }
    state.pointee.best = ClosestSurface(geometry: geomID, primitive: UInt32(primID), distance: distance, point: point, barycentric: bary)
    a.query.pointee.radius = distance
    return true
}

func closestSurfaceQuery(scene: RTCScene, point p: SIMD3<Float>, radius: Float, curveGeometries: UInt64) -> ClosestSurface? {
    var query = RTCPointQuery()
    query.x = p.x; query.y = p.y; query.z = p.z; query.time = 0; query.radius = radius
    var context = RTCPointQueryContext()
    rtcInitPointQueryContext(&context)
    var state = PointQueryState(scene: scene, curves: curveGeometries, point: p, best: nil)
    _ = withUnsafeMutablePointer(to: &state) { rtcPointQuery(scene, &query, &context, pointQueryCallback, UnsafeMutableRawPointer($0)) }
    return state.best
}

/// A 16-ray packet traced against every geometry of a `HeadScene` (`rtcIntersect16`, coherent:
/// meant for rays sharing an origin, such as one pixel's sub-samples).
public final class ScenePacket {
    let packet = RayPacket()
    public static let width = RayPacket.width
    public init() {}

    @inline(__always) public func set(_ lane: Int, origin: SIMD3<Float>, direction: SIMD3<Float>) {
        packet.set(lane, origin: origin, direction: direction)
    }
    /// Traces lanes 0..<count.
    public func trace(_ scene: HeadScene, count: Int) { scene.intersect(packet: packet, count: count) }
    @inline(__always) public func hit(_ lane: Int) -> Bool { packet.hit(lane) }
    @inline(__always) public func distance(_ lane: Int) -> Float { packet.distance(lane) }
    @inline(__always) public func geometry(_ lane: Int) -> UInt32 { packet.geometry(lane) }
    @inline(__always) public func primitive(_ lane: Int) -> UInt32 { packet.primitive(lane) }
    /// Unnormalised geometric normal (Embree's Ng).
    @inline(__always) public func geometricNormal(_ lane: Int) -> SIMD3<Float> { packet.geometricNormal(lane) }
}

extension HeadScene {
    /// Nearest hit of any geometry along one ray: (geometry, primitive, distance, unnormalised Ng).
    public func nearestHit(origin: SIMD3<Float>, direction: SIMD3<Float>) -> (geometry: UInt32, primitive: UInt32, distance: Float, normal: SIMD3<Float>)? {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var rh = RTCRayHit()
        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
        rh.ray.dir_x = direction.x; rh.ray.dir_y = direction.y; rh.ray.dir_z = direction.z
        rh.ray.tnear = 0; rh.ray.tfar = .infinity; rh.ray.mask = HeadScene.allMask
        rh.hit.geomID = invalidGeometryID
        rtcIntersect1(scene, &context, &rh)
        guard rh.hit.geomID != invalidGeometryID else { return nil }
        return (rh.hit.geomID, rh.hit.primID, rh.ray.tfar, SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z))
    }
}
