import Foundation
import XCTest
import Geometry
import HeadModels

/// Small analytic head models for tests that must run without any downloaded data.
public enum TestModels {
    /// A UV sphere of radius `radius` centred at `centre` (model frame): latitude/longitude
    /// tessellation with per-corner UVs (u = longitude / 2π, v = latitude / π, seam at the back),
    /// all faces `neck` skin, rig-free (everything skinned to the root), 68 landmarks spread over
    /// the front hemisphere, one identity mode (radial growth) and one expression mode.
    public static func sphere(radius: Float = 0.1, centre: SIMD3<Float> = .zero, rings: Int = 48, segments: Int = 96) -> HeadModel {
        var p: [Float] = [], uv: [Float] = [], tris: [Int32] = [], uvTris: [Int32] = []
        // Vertices: poles separate, rings between; UV grid has one extra column for the seam.
        for r in 0...rings {
            let theta = Float.pi * Float(r) / Float(rings)           // 0 at +y (top)
            for s in 0..<segments {
                let phi = 2 * Float.pi * Float(s) / Float(segments)  // 0 at +z (front)
                let d = SIMD3<Float>(sin(theta) * sin(phi), cos(theta), sin(theta) * cos(phi))
                let q = centre + radius * d
                p += [q.x, q.y, q.z]
            }
            for s in 0...segments { uv += [Float(s) / Float(segments), 1 - Float(r) / Float(rings)] }
        }
        func v(_ r: Int, _ s: Int) -> Int32 { Int32(r * segments + s % segments) }
        func t(_ r: Int, _ s: Int) -> Int32 { Int32(r * (segments + 1) + s) }
        for r in 0..<rings { for s in 0..<segments {
            // Outward winding (counter-clockwise seen from outside).
            if r > 0 { tris += [v(r, s), v(r + 1, s), v(r, s + 1)]; uvTris += [t(r, s), t(r + 1, s), t(r, s + 1)] }
            if r < rings - 1 { tris += [v(r, s + 1), v(r + 1, s), v(r + 1, s + 1)]; uvTris += [t(r, s + 1), t(r + 1, s), t(r + 1, s + 1)] }
        } }
        let nv = p.count / 3, nf = tris.count / 3, j = HeadModel.jointCount
        var radial = [Float](repeating: 0, count: 3 * nv)
        for i in 0..<nv { radial.setVec3(i, 0.01 * normalize(p.vec3(i) - centre)) }
        var weights = [Float](repeating: 0, count: nv * j)
        for i in 0..<nv { weights[i * j] = 1 }
        var regressor = [Float](repeating: 0, count: j * nv)
        for k in 0..<j { regressor[k * nv + k] = 1 }
        let front = (0..<nf).filter { f in p[3 * Int(tris[3 * f]) + 2] > centre.z + 0.5 * radius }
        let landmarks = (0..<68).map { SurfacePoint(triangle: Int32(front[$0 * front.count / 68]), barycentric: SIMD3(1, 1, 1) / 3) }
        return HeadModel(name: "sphere", source: "TestModels.sphere", template: p, triangles: tris, texcoords: uv, uvTriangles: uvTris,
                         identityBasis: radial, identityScale: [1], expressionBasis: radial.map { $0 * 0.5 }, expressionNames: ["grow"],
                         jointRegressor: regressor, skinningWeights: weights, poseCorrectives: nil,
                         faceRegions: [UInt8](repeating: Region.neck.rawValue, count: nf), landmarks: landmarks)
    }
}

extension TestModels {
    nonisolated(unsafe) private static var makeHumanCache: HeadModel?? = nil

    /// The built-in MakeHuman head: the prepared `Assets/models/makehuman.h5` if present, else
    /// imported from the unpacked assets; skips the test (XCTSkip) when neither is available.
    /// Loaded once per test process.
    public static func makeHuman() throws -> HeadModel {
        if let cached = makeHumanCache { if let m = cached { return m }; throw XCTSkip("MakeHuman model not available") }
        let file = TestPaths.root.appendingPathComponent("Assets/models/makehuman.h5").path
        var m: HeadModel? = nil
        if FileManager.default.fileExists(atPath: file) { m = try? HeadModelFile.read(path: file) }
        if m == nil, let assets = try? TestPaths.makeHumanAssets() { m = try? MakeHumanImporter.load(assets: assets) }
        makeHumanCache = .some(m)
        guard let model = m else { throw XCTSkip("MakeHuman model not available") }
        return model
    }
}
