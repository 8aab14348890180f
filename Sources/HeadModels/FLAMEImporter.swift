import Geometry
import Pickle

/// Imports FLAME (2020 `generic_model.pkl`, 2023 `flame2023.pkl`): Python 2 pickles of a dict
/// whose arrays are numpy arrays or chumpy `Ch` objects.
///
/// - Model: `v_template` [V,3], `f` [F,3], `shapedirs` [V,3,K] (first K−`expressionCount`
///   identity, last `expressionCount` expression; 300 + 100 in FLAME), `posedirs` [V,3,36],
///   `weights` [V,5], `J_regressor` (scipy csc) [5,V], `kintree_table` [2,5] with parents
///   [-1,0,1,1,1]. Metres, +y up, the face looks down +z: FLAME's own frame, nothing converted.
///   Identity and expression coefficients are in σ units (identityScale = 1).
///   Pose correctives: FLAME's lbs reshapes posedirs to [V·3, 36] and transposes, so
///   `poseCorrectives[p, v, c] = posedirs[v, c, p]`.
/// - UVs (`texturePath`): `head_template_mesh.obj` (vt and `f v/vt`) or `FLAME_texture.npz`
///   (`vt` [T,2], `ft` [F,3]); required, FLAME's pickle has none.
/// - Regions (`masksPath`): `FLAME_masks.pkl`, a dict of vertex-index arrays. Each vertex takes
///   the first of: eyeball, lips, nose, ear, eyelid (eye region minus eyeballs), scalp, neck, else
///   face skin; a face takes its vertices' majority (ties: the earlier in that order). Left/right
///   come from geometry (subject's left is +x), not from the key names. Eyeball faces are iris
///   within `irisCapCosine` of the eye's forward (+z) axis, sclera elsewhere. Without masks: a
///   geometric fallback (eyeballs from the eye-joint weights, scalp and neck from the eye
///   positions; everything else face skin).
/// - Landmarks (`landmarksPath`): DECA's `landmark_embedding.npy` (`full_lmk_faces_idx` [1,68],
///   `full_lmk_bary_coords` [1,68,3]) gives all 68. FLAME's `flame_static_embedding.pkl`
///   (`lmk_face_idx` [51], `lmk_b_coords` [51,3]) gives iBUG 17–67; the 17 jaw-contour points are
///   then placed deterministically on the rest mesh (see `contourLandmarks`).
public enum FLAMEImporter {
    /// FLAME's expression components (the last 100 of shapedirs' 400).
    public static let flameExpressionCount = 100
    /// cos of the iris cap's half-angle (≈ 29°: an 11.7 mm iris on a 12 mm-radius eyeball).
    public static let irisCapCosine: Float = 0.875

    public static func load(modelPath: String, texturePath: String?, masksPath: String?, landmarksPath: String?,
                            expressionCount: Int = flameExpressionCount) throws -> HeadModel {
        let model = try ModelArrays(path: modelPath, expressionCount: expressionCount)
        let v = model.vertexCount

        // UVs.
        guard let texturePath else {
            throw HeadModelError.missing(file: modelPath, reason: "FLAME's pickle has no UVs: pass head_template_mesh.obj or FLAME_texture.npz as the texture file")
        }
        let (texcoords, uvTriangles) = try loadUVs(texturePath, triangles: model.triangles, vertexCount: v)

        // Regions.
        let masks = try masksPath.map { try loadMasks($0, vertexCount: v) }
        let regions = masks.map { regionsFromMasks($0, model: model) } ?? fallbackRegions(model: model)

        // Landmarks.
        guard let landmarksPath else {
            throw HeadModelError.missing(file: modelPath, reason: "no landmarks: pass DECA's landmark_embedding.npy or FLAME's flame_static_embedding.pkl")
        }
        let landmarks = try loadLandmarks(landmarksPath, model: model, faceMask: masks?["face"])

        var sources = ["model \(modelPath)", "UVs \(texturePath)", "landmarks \(landmarksPath)"]
        sources.append(masksPath.map { "masks \($0)" } ?? "regions from geometry (no masks file)")
        let head = HeadModel(
            name: "flame", source: "FLAME: " + sources.joined(separator: ", "),
            template: model.template, triangles: model.triangles, texcoords: texcoords, uvTriangles: uvTriangles,
            identityBasis: model.identityBasis, identityScale: [Float](repeating: 1, count: model.identityCount),
            expressionBasis: model.expressionBasis,
            expressionNames: (0..<model.expressionCount).map { String(format: "expression_%03d", $0) },
            jointRegressor: model.jointRegressor, skinningWeights: model.weights, poseCorrectives: model.poseCorrectives,
            faceRegions: regions, landmarks: landmarks)
        try head.validate(file: modelPath)
        return head
    }

    // MARK: The model pickle

    /// The arrays of a FLAME model pickle, checked and converted to HeadModel layouts.
    struct ModelArrays {
        let path: String
        var template: [Float] = []
        var triangles: [Int32] = []
        var identityBasis: [Float] = []
        var expressionBasis: [Float] = []
        var identityCount = 0
        var expressionCount = 0
        var poseCorrectives: [Float] = []
        var weights: [Float] = []
        var jointRegressor: [Float] = []
        var vertexCount: Int { template.count / 3 }
        var faceCount: Int { triangles.count / 3 }

        init(path: String, expressionCount: Int) throws {
            self.path = path
            let root = try PickleField.load(path)
            let nj = HeadModel.jointCount
            guard root.value.dictPairs != nil else {
                throw HeadModelError.invalid(file: path, field: "<root>", reason: "expected a dict (a FLAME model pickle), got \(root.value.typeName)")
            }
            func fail(_ field: String, _ reason: String) -> HeadModelError { .invalid(file: path, field: field, reason: reason) }
            // Report every missing key at once, the most FLAME-specific first.
            let required = ["shapedirs", "v_template", "f", "posedirs", "weights", "J_regressor", "kintree_table"]
            let missing = required.filter { root.optionalKey($0) == nil }
            if let first = missing.first {
                let keys = root.keys.prefix(12).joined(separator: ", ")
                let also = missing.count > 1 ? " (also missing: \(missing.dropFirst().joined(separator: ", ")))" : ""
                throw fail(first, "missing\(also): not a FLAME model (keys: \(keys.isEmpty ? "none" : keys))")
            }
            func field(_ key: String) throws -> PickleField {
                guard let f = root.optionalKey(key) else { throw fail(key, "missing: not a FLAME model") }
                return f
            }
            func floats(_ key: String, _ expected: String, rank: Int) throws -> (values: [Float], shape: [Int]) {
                let fl = try field(key)
                let a: (values: [Float], shape: [Int])
                do { a = try fl.floatArray() } catch { throw fail(key, "expected \(expected) float array, got \(fl.value.typeName)") }
                guard a.shape.count == rank else { throw fail(key, "expected \(expected) float array, got shape \(a.shape)") }
                guard a.values.allFinite else { throw fail(key, "contains NaN or infinity") }
                return a
            }

            let vt = try floats("v_template", "[V,3]", rank: 2)
            guard vt.shape[1] == 3, vt.shape[0] > 0 else { throw fail("v_template", "expected [V,3] float array, got shape \(vt.shape)") }
            template = vt.values
            let nv = vt.shape[0]

            let ff = try field("f")
            let fa: (values: [Int64], shape: [Int])
            do { fa = try ff.int64Array() } catch { throw fail("f", "expected [F,3] integer array, got \(ff.value.typeName)") }
            guard fa.shape.count == 2, fa.shape[1] == 3, fa.shape[0] > 0 else { throw fail("f", "expected [F,3] integer array, got shape \(fa.shape)") }
            if let bad = fa.values.first(where: { $0 < 0 || $0 >= Int64(nv) }) { throw fail("f", "vertex index \(bad) out of range 0..<\(nv)") }
            triangles = fa.values.map { Int32($0) }

            let sd = try floats("shapedirs", "[V,3,K]", rank: 3)
            guard sd.shape[0] == nv, sd.shape[1] == 3 else { throw fail("shapedirs", "expected [V,3,K] float array with V = \(nv), got shape \(sd.shape)") }
            let k = sd.shape[2]
            guard expressionCount >= 0, k > expressionCount else {
                throw fail("shapedirs", "\(k) components cannot hold \(expressionCount) expression components after the identity ones")
            }
            identityCount = k - expressionCount
            self.expressionCount = expressionCount
            // [V,3,K] → [K,V,3]
            var basis = [Float](repeating: 0, count: k * nv * 3)
            sd.values.withUnsafeBufferPointer { s in
                basis.withUnsafeMutableBufferPointer { b in
                    for i in 0..<(nv * 3) {
                        for c in 0..<k { b[c * nv * 3 + i] = s[i * k + c] }
                    }
                }
            }
            identityBasis = Array(basis[0..<(identityCount * nv * 3)])
            expressionBasis = Array(basis[(identityCount * nv * 3)...])

            let pd = try floats("posedirs", "[V,3,\(9 * (nj - 1))]", rank: 3)
            guard pd.shape == [nv, 3, 9 * (nj - 1)] else {
                throw fail("posedirs", "expected [V,3,\(9 * (nj - 1))] float array with V = \(nv), got shape \(pd.shape)")
            }
            let np = 9 * (nj - 1)
            var pc = [Float](repeating: 0, count: np * nv * 3)
            for i in 0..<(nv * 3) { for p in 0..<np { pc[p * nv * 3 + i] = pd.values[i * np + p] } }
            poseCorrectives = pc

            let w = try floats("weights", "[V,\(nj)]", rank: 2)
            guard w.shape == [nv, nj] else { throw fail("weights", "expected [V,\(nj)] float array with V = \(nv), got shape \(w.shape)") }
            weights = w.values

            let jr = try field("J_regressor")
            let jd: (values: [Float], shape: [Int])
            do { jd = try jr.floatArray() } catch { throw fail("J_regressor", "expected a [\(nj),V] scipy sparse matrix or array, got \(jr.value.typeName)") }
            guard jd.shape == [nj, nv] else { throw fail("J_regressor", "expected [\(nj),V] with V = \(nv), got shape \(jd.shape)") }
            guard jd.values.allFinite else { throw fail("J_regressor", "contains NaN or infinity") }
            jointRegressor = jd.values

            let kt = try field("kintree_table")
            let ka: (values: [Double], shape: [Int])
            do { ka = try kt.doubleArray() } catch { throw fail("kintree_table", "expected [2,\(nj)] integer array, got \(kt.value.typeName)") }
            guard ka.shape == [2, nj] else { throw fail("kintree_table", "expected [2,\(nj)], got shape \(ka.shape)") }
            // The root's parent is -1, stored as 4294967295 in FLAME's uint32 table (2^64-1 in uint64).
            let parents = ka.values[0..<nj].map { $0 >= 4_294_967_295 || $0 == -1 ? -1 : Int64(exactly: $0) ?? -2 }
            let children = ka.values[nj...].map { Int64(exactly: $0) ?? -2 }
            let expected: [Int64] = Joint.allCases.map { Int64($0.parent?.rawValue ?? -1) }
            guard parents == expected, children == (0..<nj).map(Int64.init) else {
                throw fail("kintree_table", "parents \(parents) are not FLAME's \(expected) (root, neck, jaw, left eye, right eye)")
            }
        }
    }

    // MARK: UVs

    static func loadUVs(_ path: String, triangles: [Int32], vertexCount nv: Int) throws -> (texcoords: [Float], uvTriangles: [Int32]) {
        let f = triangles.count / 3
        func fail(_ field: String, _ reason: String) -> HeadModelError { .invalid(file: path, field: field, reason: reason) }
        if path.lowercased().hasSuffix(".npz") {
            let z = try NPZArchive(path: path)
            let vt = try z.field("vt").floatArray()
            guard vt.shape.count == 2, vt.shape[1] == 2 else { throw fail("vt", "expected [T,2], got shape \(vt.shape)") }
            guard vt.values.allFinite else { throw fail("vt", "contains NaN or infinity") }
            let ft = try z.field("ft").int64Array()
            guard ft.shape == [f, 3] else { throw fail("ft", "expected [F,3] with F = \(f) (the model's faces), got shape \(ft.shape)") }
            let t = vt.shape[0]
            if let bad = ft.values.first(where: { $0 < 0 || $0 >= Int64(t) }) { throw fail("ft", "texcoord index \(bad) out of range 0..<\(t)") }
            return (vt.values, ft.values.map { Int32($0) })
        }
        let obj = try OBJMesh.read(path: path)
        guard obj.vertexCount == nv else { throw fail("v", "\(obj.vertexCount) vertices, the model has \(nv)") }
        guard !obj.texcoords.isEmpty else { throw fail("vt", "no texture coordinates") }
        let (objTris, objUV, _) = obj.triangulated()
        guard !objUV.contains(-1) else { throw fail("f", "faces without texture coordinates (need f v/vt)") }
        if objTris == triangles { return (obj.texcoords, objUV) }
        // Same faces in another order (or rotated corners): match by vertex set.
        var byKey: [SIMD3<Int32>: Int] = [:]
        for t in 0..<(objTris.count / 3) {
            let s = [objTris[3 * t], objTris[3 * t + 1], objTris[3 * t + 2]].sorted()
            byKey[SIMD3(s[0], s[1], s[2])] = t
        }
        var uv = [Int32](repeating: 0, count: 3 * f)
        for t in 0..<f {
            let corners = [triangles[3 * t], triangles[3 * t + 1], triangles[3 * t + 2]]
            let s = corners.sorted()
            guard let o = byKey[SIMD3(s[0], s[1], s[2])] else {
                throw fail("f", "the model's face \(t) (vertices \(corners)) is not in this mesh")
            }
            for c in 0..<3 {
                guard let k = (0..<3).first(where: { objTris[3 * o + $0] == corners[c] }) else {
                    throw fail("f", "face \(o) repeats a vertex")
                }
                uv[3 * t + c] = objUV[3 * o + k]
            }
        }
        return (obj.texcoords, uv)
    }

    // MARK: Regions

    /// `FLAME_masks.pkl`: name → vertex indices (boolean masks of length V also accepted).
    static func loadMasks(_ path: String, vertexCount nv: Int) throws -> [String: [Int]] {
        let root = try PickleField.load(path)
        guard let pairs = root.value.dictPairs else {
            throw HeadModelError.invalid(file: path, field: "<root>", reason: "expected a dict of vertex-index arrays, got \(root.value.typeName)")
        }
        var out: [String: [Int]] = [:]
        for (k, _) in pairs {
            guard let name = k.text, let field = root.optionalKey(name) else { continue }
            if let a = field.value.ndarray, a.dtype.kind == .bool {
                guard a.count == nv, let flags = a.int64s() else {
                    throw HeadModelError.invalid(file: path, field: name, reason: "boolean mask of \(a.count) entries, the model has \(nv) vertices")
                }
                out[name] = flags.indices.filter { flags[$0] != 0 }
                continue
            }
            let idx: [Int64]
            do { idx = try field.int64Array().values } catch {
                throw HeadModelError.invalid(file: path, field: name, reason: "expected a vertex-index array, got \(field.value.typeName)")
            }
            if let bad = idx.first(where: { $0 < 0 || $0 >= Int64(nv) }) {
                throw HeadModelError.invalid(file: path, field: name, reason: "vertex index \(bad) out of range 0..<\(nv)")
            }
            out[name] = idx.map { Int($0) }
        }
        return out
    }

    /// Per-vertex labels in priority order (lower raw value wins).
    enum Label: Int, Comparable {
        case eyeballLeft, eyeballRight, lips, nose, earLeft, earRight, eyelidLeft, eyelidRight, scalp, neck, face
        static func < (a: Label, b: Label) -> Bool { a.rawValue < b.rawValue }

        var region: Region {
            switch self {
            case .eyeballLeft: return .scleraLeft
            case .eyeballRight: return .scleraRight
            case .lips: return .lips
            case .nose: return .nose
            case .earLeft: return .earLeft
            case .earRight: return .earRight
            case .eyelidLeft: return .eyelidLeft
            case .eyelidRight: return .eyelidRight
            case .scalp: return .scalp
            case .neck: return .neck
            case .face: return .faceSkin
            }
        }
    }

    static func regionsFromMasks(_ masks: [String: [Int]], model: ModelArrays) -> [UInt8] {
        let nv = model.vertexCount
        let p = model.template
        var labels = [Label](repeating: .face, count: nv)
        func mark(_ vs: [Int], _ l: Label) { for v in vs where l < labels[v] { labels[v] = l } }
        func meanX(_ vs: [Int]) -> Float { vs.isEmpty ? 0 : vs.map { p[3 * $0] }.reduce(0, +) / Float(vs.count) }
        /// Left/right by geometry (+x is the subject's left); names only break ties.
        func sided(_ leftKey: String, _ rightKey: String, _ left: Label, _ right: Label) {
            let a = masks[leftKey] ?? [], b = masks[rightKey] ?? []
            let swap = !a.isEmpty && !b.isEmpty && meanX(a) < meanX(b)
            mark(a, swap ? right : left)
            mark(b, swap ? left : right)
        }
        if masks["left_eyeball"] != nil || masks["right_eyeball"] != nil {
            sided("left_eyeball", "right_eyeball", .eyeballLeft, .eyeballRight)
        } else {
            for (i, l) in eyeballLabels(model: model) { mark([i], l) }
        }
        mark(masks["lips"] ?? [], .lips)
        mark(masks["nose"] ?? [], .nose)
        sided("left_ear", "right_ear", .earLeft, .earRight)
        if masks["left_eye_region"] != nil || masks["right_eye_region"] != nil {
            sided("left_eye_region", "right_eye_region", .eyelidLeft, .eyelidRight)
        } else if let both = masks["eye_region"] {
            for v in both { mark([v], p[3 * v] >= 0 ? .eyelidLeft : .eyelidRight) }
        }
        mark(masks["scalp"] ?? [], .scalp)
        mark(masks["neck"] ?? [], .neck)
        return faceRegions(labels: labels, model: model)
    }

    /// Eyeball vertices: those skinned mostly to an eye joint, sided by geometry.
    static func eyeballLabels(model: ModelArrays) -> [(Int, Label)] {
        let nj = HeadModel.jointCount
        var out: [(Int, Label)] = []
        for i in 0..<model.vertexCount {
            let w = model.weights[(nj * i)..<(nj * i + nj)]
            let eye = w[nj * i + Joint.leftEye.rawValue] + w[nj * i + Joint.rightEye.rawValue]
            if eye > 0.5 { out.append((i, model.template[3 * i] >= 0 ? .eyeballLeft : .eyeballRight)) }
        }
        return out
    }

    /// Majority vote per face, then the eyeballs split into sclera and iris.
    static func faceRegions(labels: [Label], model: ModelArrays) -> [UInt8] {
        let p = model.template, t = model.triangles
        var out = [UInt8](repeating: Region.faceSkin.rawValue, count: model.faceCount)
        // Eye centres and radii from the eyeball vertices.
        var centre: [Label: SIMD3<Float>] = [:]
        for side in [Label.eyeballLeft, .eyeballRight] {
            let vs = labels.indices.filter { labels[$0] == side }
            if !vs.isEmpty { centre[side] = vs.map { p.vec3($0) }.reduce(.zero, +) / Float(vs.count) }
        }
        for f in 0..<model.faceCount {
            let ls = (0..<3).map { labels[Int(t[3 * f + $0])] }
            let label: Label
            if ls[0] == ls[1] || ls[0] == ls[2] { label = ls[0] } else if ls[1] == ls[2] { label = ls[1] } else { label = ls.min()! }
            var region = label.region
            if label == .eyeballLeft || label == .eyeballRight, let c = centre[label] {
                let m = (0..<3).map { p.vec3(Int(t[3 * f + $0])) }.reduce(.zero, +) / 3
                let d = normalize(m - c)
                if d.z > irisCapCosine { region = label == .eyeballLeft ? .irisLeft : .irisRight }
            }
            out[f] = region.rawValue
        }
        return out
    }

    /// Without masks: eyeballs from the eye-joint weights; scalp above the brows or behind the
    /// ears; neck below the chin's height and behind the face; everything else face skin.
    static func fallbackRegions(model: ModelArrays) -> [UInt8] {
        let nv = model.vertexCount, p = model.template
        var labels = [Label](repeating: .face, count: nv)
        let eyes = eyeballLabels(model: model)
        for (i, l) in eyes { labels[i] = l }
        let eyeVerts = eyes.map { $0.0 }
        guard !eyeVerts.isEmpty else { return faceRegions(labels: labels, model: model) }
        let left = eyes.filter { $0.1 == .eyeballLeft }.map { p.vec3($0.0) }
        let right = eyes.filter { $0.1 == .eyeballRight }.map { p.vec3($0.0) }
        let cl = left.isEmpty ? .zero : left.reduce(.zero, +) / Float(left.count)
        let cr = right.isEmpty ? .zero : right.reduce(.zero, +) / Float(right.count)
        let eye = (cl + cr) / 2
        let d = max(length(cl - cr), 1e-3)   // interocular distance, ~6 cm on an adult
        for i in 0..<nv where labels[i] == .face {
            let x = p.vec3(i)
            if x.y > eye.y + 1.1 * d || (x.z < eye.z - 1.6 * d && x.y > eye.y - 1.0 * d) {
                labels[i] = .scalp
            } else if x.y < eye.y - 1.9 * d || (x.y < eye.y - 1.3 * d && x.z < eye.z - 1.2 * d) {
                labels[i] = .neck
            }
        }
        return faceRegions(labels: labels, model: model)
    }

    // MARK: Landmarks

    static func loadLandmarks(_ path: String, model: ModelArrays, faceMask: [Int]?) throws -> [SurfacePoint] {
        let root: PickleField
        let head = FileHandle(forReadingAtPath: path).flatMap { h -> Data? in defer { try? h.close() }; return try? h.read(upToCount: 6) }
        if let head, [UInt8](head) == [0x93] + Array("NUMPY".utf8) {
            root = PickleField(try NumpyFile.load(path: path).item, file: path)   // np.save of a dict
        } else {
            root = try PickleField.load(path)
        }
        guard root.value.dictPairs != nil else {
            throw HeadModelError.invalid(file: path, field: "<root>", reason: "expected a dict of landmark arrays, got \(root.value.typeName)")
        }
        func points(_ facesKey: String, _ baryKey: String, count: Int) throws -> [SurfacePoint] {
            let fl = try root.key(facesKey), bl = try root.key(baryKey)
            let faces: [Int64], bary: [Float]
            do { faces = try fl.int64Array().values } catch { throw HeadModelError.invalid(file: path, field: facesKey, reason: "expected an integer array, got \(fl.value.typeName)") }
            do { bary = try bl.floatArray().values } catch { throw HeadModelError.invalid(file: path, field: baryKey, reason: "expected a float array, got \(bl.value.typeName)") }
            guard faces.count == count else { throw HeadModelError.invalid(file: path, field: facesKey, reason: "\(faces.count) landmarks, expected \(count)") }
            guard bary.count == 3 * count else { throw HeadModelError.invalid(file: path, field: baryKey, reason: "\(bary.count) values, expected [\(count),3]") }
            return try (0..<count).map { k in
                let f = faces[k]
                guard f >= 0, f < Int64(model.faceCount) else {
                    throw HeadModelError.invalid(file: path, field: facesKey, reason: "landmark \(k) names face \(f) of \(model.faceCount)")
                }
                let b = SIMD3(bary[3 * k], bary[3 * k + 1], bary[3 * k + 2])
                guard b.x.isFinite, b.y.isFinite, b.z.isFinite, abs(b.sum() - 1) < 1e-3 else {
                    throw HeadModelError.invalid(file: path, field: baryKey, reason: "landmark \(k) barycentrics \(b) do not sum to 1")
                }
                return SurfacePoint(triangle: Int32(f), barycentric: b)
            }
        }
        if root.optionalKey("full_lmk_faces_idx") != nil {
            return try points("full_lmk_faces_idx", "full_lmk_bary_coords", count: 68)
        }
        let inner: [SurfacePoint]
        if root.optionalKey("lmk_face_idx") != nil {
            inner = try points("lmk_face_idx", "lmk_b_coords", count: 51)
        } else if root.optionalKey("static_lmk_faces_idx") != nil {
            inner = try points("static_lmk_faces_idx", "static_lmk_bary_coords", count: 51)
        } else {
            throw HeadModelError.invalid(file: path, field: "full_lmk_faces_idx", reason: "missing: expected DECA's full_lmk_faces_idx / full_lmk_bary_coords or FLAME's lmk_face_idx / lmk_b_coords (keys: \(root.keys.joined(separator: ", ")))")
        }
        return try contourLandmarks(inner: inner, model: model, faceMask: faceMask, file: path) + inner
    }

    /// The 17 iBUG jaw-contour points (0–16) for a 51-point embedding, placed on the rest mesh.
    ///
    /// Deterministic and approximate: the contour runs from the height of the outer eye corners
    /// (iBUG 36/45) down to the chin along a quarter-sine in height (point k at
    /// `y = eye − (eye − chin)·sin(πk/16)`); each side point is the most lateral candidate vertex
    /// within a band around that height (subject's right, −x, for 0–7; left for 9–16); point 8 is
    /// the most forward candidate vertex at the chin's height on the midline. Candidates are the
    /// `face` mask's vertices when given, else vertices in front of the outer eye corners' depth
    /// minus half the eye-corner distance. The chin is the lowest candidate near the midline
    /// (with a face mask), else estimated below the lower lip (iBUG 57).
    static func contourLandmarks(inner: [SurfacePoint], model: ModelArrays, faceMask: [Int]?, file: String) throws -> [SurfacePoint] {
        let p = model.template, tris = model.triangles
        func pos(_ s: SurfacePoint) -> SIMD3<Float> {
            let t = Int(s.triangle)
            return s.barycentric.x * p.vec3(Int(tris[3 * t])) + s.barycentric.y * p.vec3(Int(tris[3 * t + 1]))
                + s.barycentric.z * p.vec3(Int(tris[3 * t + 2]))
        }
        func ibug(_ k: Int) -> SIMD3<Float> { pos(inner[k - 17]) }
        let rightCorner = ibug(36), leftCorner = ibug(45), lip = ibug(57)
        let eyeY = (rightCorner.y + leftCorner.y) / 2
        let cx = (ibug(27).x + ibug(30).x + ibug(33).x + ibug(51).x + ibug(57).x) / 5
        let width = max(length(leftCorner - rightCorner), 1e-4)

        // Vertices on faces (the contour must sit on the surface), minus eyeballs.
        var onFace = [Bool](repeating: false, count: model.vertexCount)
        for v in tris { onFace[Int(v)] = true }
        let nj = HeadModel.jointCount
        func isEyeball(_ i: Int) -> Bool { model.weights[nj * i + Joint.leftEye.rawValue] + model.weights[nj * i + Joint.rightEye.rawValue] > 0.5 }
        var candidates: [Int]
        if let mask = faceMask, !mask.isEmpty {
            candidates = mask.filter { onFace[$0] && !isEyeball($0) }
        } else {
            let zMin = min(rightCorner.z, leftCorner.z) - 0.5 * width
            candidates = (0..<model.vertexCount).filter { onFace[$0] && !isEyeball($0) && p[3 * $0 + 2] > zMin }
        }
        candidates = candidates.filter { p[3 * $0 + 1] < eyeY + 0.1 * width }
        guard !candidates.isEmpty else {
            throw HeadModelError.invalid(file: file, field: "landmarks", reason: "no face vertices below the eyes to place the jaw contour on")
        }
        let midline = candidates.filter { abs(p[3 * $0] - cx) < 0.15 * width }
        var chinY = lip.y - 0.35 * (eyeY - lip.y)
        if faceMask != nil, let low = midline.min(by: { p[3 * $0 + 1] < p[3 * $1 + 1] }) { chinY = p[3 * low + 1] }

        // A triangle containing each vertex, for the surface point.
        var firstTriangle = [Int32](repeating: -1, count: model.vertexCount)
        var corner = [Int](repeating: 0, count: model.vertexCount)
        for t in 0..<(tris.count / 3) {
            for c in 0..<3 where firstTriangle[Int(tris[3 * t + c])] < 0 {
                firstTriangle[Int(tris[3 * t + c])] = Int32(t); corner[Int(tris[3 * t + c])] = c
            }
        }
        func point(_ v: Int) -> SurfacePoint {
            var b = SIMD3<Float>.zero
            b[corner[v]] = 1
            return SurfacePoint(triangle: firstTriangle[v], barycentric: b)
        }
        let band = max(0.08 * (eyeY - chinY), 1e-4)
        return (0..<17).map { k -> SurfacePoint in
            let y = eyeY - (eyeY - chinY) * sin(Float.pi * Float(k) / 16)
            if k == 8 {
                let pool = midline.isEmpty ? candidates : midline
                // Most forward vertex near the chin height (ties by index: deterministic).
                let v = pool.min { a, b in
                    let ka = abs(p[3 * a + 1] - y) - 0.5 * p[3 * a + 2], kb = abs(p[3 * b + 1] - y) - 0.5 * p[3 * b + 2]
                    return ka < kb || (ka == kb && a < b)
                }!
                return point(v)
            }
            let side: Float = k < 8 ? -1 : 1
            var inBand = candidates.filter { abs(p[3 * $0 + 1] - y) <= band }
            if inBand.isEmpty {
                // Coarse meshes: the nearest heights.
                let nearest = candidates.map { abs(p[3 * $0 + 1] - y) }.min()!
                inBand = candidates.filter { abs(p[3 * $0 + 1] - y) <= nearest + 1e-6 }
            }
            let v = inBand.max { a, b in
                let xa = side * (p[3 * a] - cx), xb = side * (p[3 * b] - cx)
                return xa < xb || (xa == xb && a > b)
            }!
            return point(v)
        }
    }
}
