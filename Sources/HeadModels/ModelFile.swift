import Geometry
import HDF5

/// The prepared-model file: one HDF5 file per model, written once by an importer and loaded by
/// everything else in milliseconds. Datasets are row-major (numpy order):
///
/// | dataset | shape | type |
/// |---|---|---|
/// | template | [V, 3] | float32, metres |
/// | triangles, uv_triangles | [F, 3] | int32 |
/// | texcoords | [T, 2] | float32 |
/// | identity_basis / expression_basis | [K, V, 3] | float32 |
/// | identity_scale | [Kid] | float32 |
/// | expression_names, joint_names, region_names | [n] | UTF-8 strings |
/// | joint_parents | [J] | int32 (-1 for the root) |
/// | joint_regressor | [J, V] | float32 |
/// | skinning_weights | [V, J] | float32 |
/// | pose_correctives (optional) | [9(J-1), V, 3] | float32 |
/// | face_regions | [F] | uint8, index into region_names |
/// | landmark_triangles, landmark_barycentrics | [68], [68, 3] | int32, float32 |
///
/// Root attributes: `format = "headlab-head-model"`, `version`, `name`, `source`, `units = "metres"`.
public enum HeadModelFile {
    public static let format = "headlab-head-model"
    public static let version: Int32 = 1

    public static func write(_ model: HeadModel, to path: String) throws {
        try model.validate(file: path)
        let v = model.vertexCount, f = model.triangleCount, j = HeadModel.jointCount
        try HDF5File.writeAtomically(path: path) { h in
            try h.setAttribute("format", format)
            try h.setAttribute("version", version)
            try h.setAttribute("name", model.name)
            try h.setAttribute("source", model.source)
            try h.setAttribute("units", "metres")
            try h.write("template", model.template, shape: [v, 3])
            try h.write("triangles", model.triangles, shape: [f, 3])
            try h.write("texcoords", model.texcoords, shape: [model.texcoords.count / 2, 2])
            try h.write("uv_triangles", model.uvTriangles, shape: [f, 3])
            try h.write("identity_basis", model.identityBasis, shape: [model.identityCount, v, 3])
            try h.write("identity_scale", model.identityScale, shape: [model.identityCount])
            try h.write("expression_basis", model.expressionBasis, shape: [model.expressionCount, v, 3])
            try h.writeStrings("expression_names", model.expressionNames)
            try h.writeStrings("joint_names", Joint.allCases.map(\.name))
            try h.write("joint_parents", Joint.allCases.map { Int32($0.parent?.rawValue ?? -1) }, shape: [j])
            try h.write("joint_regressor", model.jointRegressor, shape: [j, v])
            try h.write("skinning_weights", model.skinningWeights, shape: [v, j])
            if let p = model.poseCorrectives { try h.write("pose_correctives", p, shape: [9 * (j - 1), v, 3]) }
            try h.writeStrings("region_names", Region.allCases.map(\.name))
            try h.write("face_regions", model.faceRegions, shape: [f])
            try h.write("landmark_triangles", model.landmarks.map(\.triangle), shape: [model.landmarks.count])
            try h.write("landmark_barycentrics", model.landmarks.flatMap { [$0.barycentric.x, $0.barycentric.y, $0.barycentric.z] },
                        shape: [model.landmarks.count, 3])
        }
    }

    public static func read(path: String) throws -> HeadModel {
        let h = try HDF5File(path: path, mode: .readOnly)
        defer { h.close() }
        guard h.hasAttribute("format"), (try? h.stringAttribute("format")) == format else {
            throw HeadModelError.invalid(file: path, field: "@format", reason: "not a HeadLab head-model file (run `headlab model import`)")
        }
        let fileVersion = try h.attribute("version", as: Int32.self).first ?? 0
        guard fileVersion == version else {
            throw HeadModelError.invalid(file: path, field: "@version", reason: "version \(fileVersion), this HeadLab reads \(version): re-import the model")
        }
        let j = HeadModel.jointCount
        let jointNames = try h.readStrings("joint_names")
        guard jointNames == Joint.allCases.map(\.name) else {
            throw HeadModelError.invalid(file: path, field: "joint_names", reason: "\(jointNames), expected \(Joint.allCases.map(\.name))")
        }
        // Region ids in the file are indices into its own region_names: map them by name.
        let regionNames = try h.readStrings("region_names")
        let regionMap: [UInt8] = try regionNames.map { n in
            guard let r = Region(name: n) else { throw HeadModelError.invalid(file: path, field: "region_names", reason: "unknown region '\(n)'") }
            return r.rawValue
        }
        let (template, ts) = try h.read("template", as: Float.self, expectShape: [-1, 3])
        let v = ts[0]
        let (tris, fs) = try h.read("triangles", as: Int32.self, expectShape: [-1, 3])
        let f = fs[0]
        let (idb, ids) = try h.read("identity_basis", as: Float.self, expectShape: [-1, v, 3])
        let (exb, exs) = try h.read("expression_basis", as: Float.self, expectShape: [-1, v, 3])
        let rawRegions = try h.read("face_regions", as: UInt8.self, expectShape: [f]).values
        let regions: [UInt8] = try rawRegions.map { r in
            guard Int(r) < regionMap.count else { throw HeadModelError.invalid(file: path, field: "face_regions", reason: "region index \(r) out of range") }
            return regionMap[Int(r)]
        }
        let lt = try h.read("landmark_triangles", as: Int32.self, expectShape: [-1]).values
        let lb = try h.read("landmark_barycentrics", as: Float.self, expectShape: [lt.count, 3]).values
        let model = HeadModel(
            name: try h.stringAttribute("name"), source: try h.stringAttribute("source"),
            template: template, triangles: tris,
            texcoords: try h.read("texcoords", as: Float.self, expectShape: [-1, 2]).values,
            uvTriangles: try h.read("uv_triangles", as: Int32.self, expectShape: [f, 3]).values,
            identityBasis: idb, identityScale: try h.read("identity_scale", as: Float.self, expectShape: [ids[0]]).values,
            expressionBasis: exb, expressionNames: try h.readStrings("expression_names"),
            jointRegressor: try h.read("joint_regressor", as: Float.self, expectShape: [j, v]).values,
            skinningWeights: try h.read("skinning_weights", as: Float.self, expectShape: [v, j]).values,
            poseCorrectives: h.exists("pose_correctives")
                ? try h.read("pose_correctives", as: Float.self, expectShape: [9 * (j - 1), v, 3]).values : nil,
            faceRegions: regions,
            landmarks: (0..<lt.count).map { SurfacePoint(triangle: lt[$0], barycentric: SIMD3(lb[3 * $0], lb[3 * $0 + 1], lb[3 * $0 + 2])) })
        guard model.expressionNames.count == exs[0] else {
            throw HeadModelError.invalid(file: path, field: "expression_names", reason: "\(model.expressionNames.count) names for \(exs[0]) modes")
        }
        try model.validate(file: path)
        return model
    }
}
