import Geometry

/// What a face of the head model is. Skin regions come first; the rest is not skin.
///
/// "Left" and "right" are always the subject's own sides.
public enum Region: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case faceSkin = 0, scalp = 1, neck = 2, earLeft = 3, earRight = 4, nose = 5, lips = 6
    case eyelidLeft = 7, eyelidRight = 8
    case scleraLeft = 9, scleraRight = 10, irisLeft = 11, irisRight = 12
    case teeth = 13, mouthInterior = 14, eyelashes = 15, eyeBlend = 16

    public var isSkin: Bool { rawValue <= Region.eyelidRight.rawValue }

    public var name: String {
        switch self {
        case .faceSkin: return "face_skin"
        case .scalp: return "scalp"
        case .neck: return "neck"
        case .earLeft: return "ear_left"
        case .earRight: return "ear_right"
        case .nose: return "nose"
        case .lips: return "lips"
        case .eyelidLeft: return "eyelid_left"
        case .eyelidRight: return "eyelid_right"
        case .scleraLeft: return "sclera_left"
        case .scleraRight: return "sclera_right"
        case .irisLeft: return "iris_left"
        case .irisRight: return "iris_right"
        case .teeth: return "teeth"
        case .mouthInterior: return "mouth_interior"
        case .eyelashes: return "eyelashes"
        case .eyeBlend: return "eye_blend"
        }
    }

    public var description: String { name }

    public init?(name: String) {
        guard let r = Region.allCases.first(where: { $0.name == name }) else { return nil }
        self = r
    }
}

/// The joints every HeadLab model has, in FLAME's order and with FLAME's meaning:
/// `root` is the global joint at the base of the neck, `neck` rotates the head on the neck,
/// `jaw` opens the mouth, and the eyes turn the eyeballs.
public enum Joint: Int, CaseIterable, Sendable {
    case root = 0, neck = 1, jaw = 2, leftEye = 3, rightEye = 4

    public var name: String { ["root", "neck", "jaw", "left_eye", "right_eye"][rawValue] }

    /// Parent in the kinematic tree (FLAME's `kintree_table`): root ← neck ← {jaw, eyes}.
    public var parent: Joint? { [nil, .root, .neck, .neck, .neck][rawValue] }
}

/// A landmark as a point on the surface: a triangle and barycentric weights.
public struct SurfacePoint: Equatable, Sendable {
    public var triangle: Int32
    public var barycentric: SIMD3<Float>
    public init(triangle: Int32, barycentric: SIMD3<Float>) { self.triangle = triangle; self.barycentric = barycentric }
}

/// A morphable head with FLAME's structure, in metres, +y up, +z out of the face (the subject
/// looks down +z), subject's left at +x.
///
/// Posed vertices (see `pose(_:)`) follow FLAME:
/// `v_shaped = T + S β + E ψ`, `J = R_J v_shaped`, `v_posed = v_shaped + P (vec(R_j) - vec(I))_{j≥1}`,
/// then linear blend skinning with `weights` over the kinematic tree of `Joint`.
public struct HeadModel: Sendable {
    public var name: String
    /// Where the model came from (importer, source files), kept in the prepared file.
    public var source: String

    public var template: [Float]               // [V, 3] metres
    public var triangles: [Int32]              // [F, 3]
    public var texcoords: [Float]              // [T, 2] in [0, 1]², v up (OBJ convention)
    public var uvTriangles: [Int32]            // [F, 3] per-corner indices into texcoords

    public var identityBasis: [Float]          // [Kid, V, 3] metres per unit coefficient
    public var identityScale: [Float]          // [Kid] std-dev of each coefficient for sampling (1 for PCA in σ units)
    public var expressionBasis: [Float]        // [Kexp, V, 3]
    public var expressionNames: [String]       // [Kexp]

    public var jointRegressor: [Float]         // [J, V]: J_rest = R_J · v_shaped
    public var skinningWeights: [Float]        // [V, J], rows sum to 1
    public var poseCorrectives: [Float]?       // [9 (J-1), V, 3], FLAME posedirs (optional)

    public var faceRegions: [UInt8]            // [F] Region raw values
    public var landmarks: [SurfacePoint]       // [68] iBUG order

    public init(name: String, source: String, template: [Float], triangles: [Int32], texcoords: [Float],
                uvTriangles: [Int32], identityBasis: [Float], identityScale: [Float], expressionBasis: [Float],
                expressionNames: [String], jointRegressor: [Float], skinningWeights: [Float],
                poseCorrectives: [Float]?, faceRegions: [UInt8], landmarks: [SurfacePoint]) {
        self.name = name; self.source = source; self.template = template; self.triangles = triangles
        self.texcoords = texcoords; self.uvTriangles = uvTriangles; self.identityBasis = identityBasis
        self.identityScale = identityScale; self.expressionBasis = expressionBasis
        self.expressionNames = expressionNames; self.jointRegressor = jointRegressor
        self.skinningWeights = skinningWeights; self.poseCorrectives = poseCorrectives
        self.faceRegions = faceRegions; self.landmarks = landmarks
    }

    public static let jointCount = Joint.allCases.count

    public var vertexCount: Int { template.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }
    public var identityCount: Int { identityScale.count }
    public var expressionCount: Int { expressionNames.count }

    /// Checks every invariant the posing code relies on; errors name the field.
    public func validate(file: String = "<model>") throws {
        let v = vertexCount, f = triangleCount, j = HeadModel.jointCount
        func fail(_ field: String, _ reason: String) -> HeadModelError { .invalid(file: file, field: field, reason: reason) }
        guard v > 0, template.count == 3 * v else { throw fail("template", "empty or not [V, 3]") }
        guard template.allFinite else { throw fail("template", "contains NaN or infinity") }
        guard f > 0, triangles.count == 3 * f else { throw fail("triangles", "empty or not [F, 3]") }
        guard triangles.allSatisfy({ $0 >= 0 && Int($0) < v }) else { throw fail("triangles", "index out of range 0..<\(v)") }
        let t = texcoords.count / 2
        guard uvTriangles.count == triangles.count else { throw fail("uv_triangles", "must be [F, 3] like triangles") }
        guard uvTriangles.allSatisfy({ $0 >= 0 && Int($0) < t }) else { throw fail("uv_triangles", "index out of range 0..<\(t)") }
        guard texcoords.allFinite else { throw fail("texcoords", "contains NaN or infinity") }
        guard identityBasis.count == identityCount * 3 * v else { throw fail("identity_basis", "must be [\(identityCount), \(v), 3]") }
        guard identityBasis.allFinite else { throw fail("identity_basis", "contains NaN or infinity") }
        guard expressionBasis.count == expressionCount * 3 * v else { throw fail("expression_basis", "must be [\(expressionCount), \(v), 3]") }
        guard expressionBasis.allFinite else { throw fail("expression_basis", "contains NaN or infinity") }
        guard jointRegressor.count == j * v, jointRegressor.allFinite else { throw fail("joint_regressor", "must be finite [\(j), \(v)]") }
        guard skinningWeights.count == v * j, skinningWeights.allFinite else { throw fail("skinning_weights", "must be finite [\(v), \(j)]") }
        for i in 0..<v {
            let s = skinningWeights[(j * i)..<(j * i + j)].reduce(0, +)
            guard abs(s - 1) < 1e-3 else { throw fail("skinning_weights", "row \(i) sums to \(s), not 1") }
        }
        if let p = poseCorrectives {
            guard p.count == 9 * (j - 1) * 3 * v, p.allFinite else { throw fail("pose_correctives", "must be finite [\(9 * (j - 1)), \(v), 3]") }
        }
        guard faceRegions.count == f else { throw fail("face_regions", "must have one entry per face") }
        if let bad = faceRegions.first(where: { Region(rawValue: $0) == nil }) { throw fail("face_regions", "unknown region id \(bad)") }
        guard landmarks.count == 68 else { throw fail("landmarks", "need 68 (iBUG), have \(landmarks.count)") }
        for (k, l) in landmarks.enumerated() {
            guard l.triangle >= 0, Int(l.triangle) < f else { throw fail("landmarks", "landmark \(k) names face \(l.triangle) of \(f)") }
            guard l.barycentric.x.isFinite, abs(l.barycentric.sum() - 1) < 1e-3 else { throw fail("landmarks", "landmark \(k) barycentrics do not sum to 1") }
        }
    }

    /// Faces of one region.
    public func faces(in region: Region) -> [Int] {
        faceRegions.indices.filter { faceRegions[$0] == region.rawValue }
    }

    /// Vertices touched by faces of the given regions.
    public func vertices(in regions: Set<Region>) -> [Int] {
        var mark = [Bool](repeating: false, count: vertexCount)
        for f in 0..<triangleCount where regions.contains(Region(rawValue: faceRegions[f])!) {
            for c in 0..<3 { mark[Int(triangles[3 * f + c])] = true }
        }
        return mark.indices.filter { mark[$0] }
    }

    /// The mesh at rest (template), with UVs.
    public var restMesh: TriangleMesh {
        TriangleMesh(positions: template, triangles: triangles, texcoords: texcoords, uvTriangles: uvTriangles)
    }
}

public enum HeadModelError: Error, CustomStringConvertible, Equatable {
    case invalid(file: String, field: String, reason: String)
    case missing(file: String, reason: String)

    public var description: String {
        switch self {
        case let .invalid(file, field, reason): return "\(file): \(field): \(reason)"
        case let .missing(file, reason): return "\(file): \(reason)"
        }
    }
}
