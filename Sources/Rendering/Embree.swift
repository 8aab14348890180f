import _CEmbree
import Geometry

public struct RenderError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// An Embree device. Embree handles are thread-safe for queries once committed.
public final class EmbreeDevice: @unchecked Sendable {
    public let handle: RTCDevice

    public init(config: String = "") throws {
        guard let d = rtcNewDevice(config.isEmpty ? nil : config) else {
            throw RenderError(reason: "Embree: cannot create device (error \(rtcGetDeviceError(nil).rawValue))")
        }
        handle = d
    }

    deinit { rtcReleaseDevice(handle) }
}

/// Embree's invalid geometry id (the C macro does not import).
public let invalidGeometryID = headlab_rtc_invalid_geometry_id()

/// Flush denormals to zero on the calling thread, as Embree recommends for every rendering thread.
public func enableFlushToZero() { headlab_enable_ftz_daz() }

/// A committed Embree scene of triangle meshes.
public final class TriangleScene: @unchecked Sendable {
    public let device: EmbreeDevice
    public let scene: RTCScene

    /// `meshes[g]` becomes geometry id `g`.
    public init(device: EmbreeDevice, meshes: [(positions: [Float], triangles: [Int32])]) throws {
        self.device = device
        guard let s = rtcNewScene(device.handle) else { throw RenderError(reason: "Embree: cannot create scene") }
        scene = s
        for (id, mesh) in meshes.enumerated() {
            let geometry = rtcNewGeometry(device.handle, RTC_GEOMETRY_TYPE_TRIANGLE)
            let nv = mesh.positions.count / 3, nt = mesh.triangles.count / 3
            // Embree reads 16 bytes past the last vertex: allocate one spare float3.
            guard let vb = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT3, 12, nv + 1),
                  let ib = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3, 12, nt) else {
                throw RenderError(reason: "Embree: cannot allocate buffers")
            }
            mesh.positions.withUnsafeBytes { vb.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            mesh.triangles.withUnsafeBytes { ib.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            rtcCommitGeometry(geometry)
            rtcAttachGeometryByID(scene, geometry, UInt32(id))
            rtcReleaseGeometry(geometry)
        }
        rtcCommitScene(scene)
    }

    deinit { rtcReleaseScene(scene) }

    public struct Hit: Equatable, Sendable {
        public var distance: Float
        public var geometry: UInt32
        public var primitive: UInt32
        public var u: Float, v: Float
        public var geometricNormal: SIMD3<Float>
    }

    /// Closest hit along `origin + t·direction`, t in (near, far), or nil.
    public func intersect(origin: SIMD3<Float>, direction: SIMD3<Float>, near: Float = 0, far: Float = .infinity) -> Hit? {
        var context = RTCIntersectContext()
        rtcInitIntersectContext(&context)
        var rh = RTCRayHit()
        rh.ray.org_x = origin.x; rh.ray.org_y = origin.y; rh.ray.org_z = origin.z
        rh.ray.dir_x = direction.x; rh.ray.dir_y = direction.y; rh.ray.dir_z = direction.z
        rh.ray.tnear = near; rh.ray.tfar = far; rh.ray.mask = UInt32.max; rh.ray.flags = 0; rh.ray.time = 0
        rh.hit.geomID = invalidGeometryID; rh.hit.instID = (invalidGeometryID)
        rtcIntersect1(scene, &context, &rh)
        guard rh.hit.geomID != invalidGeometryID else { return nil }
        return Hit(distance: rh.ray.tfar, geometry: rh.hit.geomID, primitive: rh.hit.primID, u: rh.hit.u, v: rh.hit.v,
                   geometricNormal: SIMD3(rh.hit.Ng_x, rh.hit.Ng_y, rh.hit.Ng_z))
    }
}
