import _CEmbree
import Geometry
import HeadModels

extension HeadScene {
    /// An accessory hit: layer, material and shading frame.
    public struct AccessoryHit {
        public var layer: AccessoryLayer
        public var isLens: Bool
        public var material: Int
        public var distance: Float
        public var position: SIMD3<Float>
        public var normal: SIMD3<Float>           // interpolated, unit, facing the ray
        public var geometricNormal: SIMD3<Float>  // unit, facing the ray
        public var params: SIMD2<Float>           // surface parameters (metres) for fabric patterns
        public var segmentationClass: UInt8 { layer.segmentationClass.rawValue }
    }

    /// Fits `spec` to this posed head (head mesh committed), attaches one triangle geometry per
    /// non-empty accessory layer (ids 8…11, lenses 12) and recommits.
    func addAccessories(_ spec: Accessories, posed: PosedHead) throws {
        var builder = AccessoryBuilder(scene: self, posed: posed, spec: spec)
        accessories = builder.build()
        for (k, mesh) in accessories.meshes.enumerated() where !mesh.isEmpty {
            let id = AccessoryLayer.firstGeometryID + UInt32(k)
            let geometry = rtcNewGeometry(device.handle, RTC_GEOMETRY_TYPE_TRIANGLE)
            let nv = mesh.positions.count, nt = mesh.triangles.count
            guard let vb = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_VERTEX, 0, RTC_FORMAT_FLOAT3, 12, nv + 1)?
                    .bindMemory(to: Float.self, capacity: 3 * nv + 3),
                  let ib = rtcSetNewGeometryBuffer(geometry, RTC_BUFFER_TYPE_INDEX, 0, RTC_FORMAT_UINT3, 12, nt)?
                    .bindMemory(to: UInt32.self, capacity: 3 * nt) else {
                throw RenderError(reason: "Embree: cannot allocate accessory buffers")
            }
            for (i, p) in mesh.positions.enumerated() { vb[3 * i] = p.x; vb[3 * i + 1] = p.y; vb[3 * i + 2] = p.z }
            for (i, t) in mesh.triangles.enumerated() { ib[3 * i] = t.x; ib[3 * i + 1] = t.y; ib[3 * i + 2] = t.z }
            rtcSetGeometryMask(geometry, 1 << id)
            rtcCommitGeometry(geometry)
            rtcAttachGeometryByID(scene, geometry, id)
            if !mesh.isLens { rtcAttachGeometryByID(opaqueScene, geometry, id) }
            rtcReleaseGeometry(geometry)
            hasAccessories = true
        }
        if hasAccessories { rtcCommitScene(scene); rtcCommitScene(opaqueScene) }
    }

    /// Scalp hair pushed under the headwear and out of the clothing (other layers unchanged).
    func compressUnderHeadwear(_ set: StrandSet) -> StrandSet {
        guard set.layer == .hair else { return set }
        var s = set
        if let c = accessories.compression { s = c.compress(s) }
        if let v = accessories.clothing { s = v.push(s) }
        return s
    }

    @inline(__always)
    func resolveAccessory(geometry: UInt32, primitive: UInt32, u: Float, v: Float, distance: Float, geometricNormal: SIMD3<Float>,
                          origin: SIMD3<Float>, direction: SIMD3<Float>) -> AccessoryHit {
        let mesh = accessories.mesh(geometry: geometry)
        let t = mesh.triangles[Int(primitive)]
        let b = SIMD3<Float>(1 - u - v, u, v)
        var ng = normalize(geometricNormal)
        if !(length(ng) > 0) { ng = -direction }
        if dot(ng, direction) > 0 { ng = -ng }
        var n = b.x * mesh.normals[Int(t.x)] + b.y * mesh.normals[Int(t.y)] + b.z * mesh.normals[Int(t.z)]
        n = length(n) > 1e-8 ? normalize(n) : ng
        if dot(n, ng) < 0 { n = -n }
        if dot(n, ng) < 0.05 { n = ng }
        let params = b.x * mesh.params[Int(t.x)] + b.y * mesh.params[Int(t.y)] + b.z * mesh.params[Int(t.z)]
        return AccessoryHit(layer: mesh.layer, isLens: mesh.isLens, material: Int(mesh.triangleMaterial[Int(primitive)]), distance: distance,
                            position: origin + distance * direction, normal: n, geometricNormal: ng, params: params)
    }
}
