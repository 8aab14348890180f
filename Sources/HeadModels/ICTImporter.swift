import Geometry
import Dispatch

/// Imports ICT-FaceKit's `FaceXModel` folder (ICT Face Model Light, MIT).
///
/// - Geometry: `generic_neutral_mesh.obj` (quads, triangulated here), centimetres → metres.
/// - Identity: `identity000.obj` … (100 PCA modes); expression: the 53 ARKit-style shapes. Each
///   shape file holds absolute positions, so a mode is `shape − neutral`. Shape files may hold only
///   `v` lines or the full mesh; only positions are read.
/// - Regions: ICT's documented polygon ranges (face, head and neck, mouth socket, eye sockets, gums
///   and tongue, teeth, eyeballs split into sclera/iris, lacrimal fluid, eye blend, eye occlusion,
///   eyelashes); the face area is split further into nose, lips, eyelids, ears, scalp and neck from
///   the 68 landmarks.
/// - Skeleton (ICT has none): eye joints at the fitted eyeball centres; the jaw hinge fitted to the
///   rigid motion of the lower teeth under `jawOpen`, with per-vertex jaw weights from how much of
///   each vertex's `jawOpen` displacement that hinge explains; a neck joint with a smooth head/neck
///   blend. Joints are affine combinations of nearby vertices, so they follow the shape.
public enum ICTImporter {
    /// Vertex counts and polygon ranges from ICT-FaceKit's README ("Face Model Topology").
    public static let vertexCount = 26_719
    public static let polygonCount = 26_384
    /// iBUG/Multi-PIE 68 landmark vertex indices from ICT-FaceKit's README (0-based).
    public static let landmarkVertices: [Int] = [
        1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443,
        268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147,
        4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695,
        2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517, 5966,
    ]
    /// The 53 expression shapes, in ICT's `vertex_indices.json` order.
    public static let expressionNames: [String] = [
        "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
        "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
        "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
        "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R", "jawForward",
        "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R", "mouthFrown_L",
        "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L",
        "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
        "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L",
        "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
    ]
    static let identityCount = 100

    /// Polygon ranges (inclusive) → base region.
    static let polygonRegions: [(ClosedRange<Int>, Region)] = [
        (0...9229, .faceSkin), (9230...11143, .scalp), (11144...13225, .mouthInterior),
        (13226...13629, .eyelidLeft), (13630...14033, .eyelidRight), (14034...17005, .mouthInterior),
        (17006...21495, .teeth), (21496...22295, .scleraLeft), (22296...23093, .irisLeft),
        (23094...23893, .scleraRight), (23894...24691, .irisRight), (24692...25303, .eyeBlend),
        (25304...26383, .eyelashes),
    ]
    static let lowerTeethVertices = 19247...21450
    static let upperTeethVertices = 17039...19246
    static let eyeballVertices: [Joint: ClosedRange<Int>] = [.leftEye: 21451...23020, .rightEye: 23021...24590]
    static let faceVertices = 0...9408
    static let headNeckVertices = 9409...11247
    static let centimetre: Float = 0.01

    public static func load(folder: String, identityModes: Int = 100) throws -> HeadModel {
        let neutralPath = folder + "/generic_neutral_mesh.obj"
        let obj = try OBJMesh.read(path: neutralPath)
        guard obj.vertexCount == vertexCount else {
            throw HeadModelError.invalid(file: neutralPath, field: "v", reason: "\(obj.vertexCount) vertices, ICT-FaceKit has \(vertexCount)")
        }
        guard obj.polygonCount == polygonCount else {
            throw HeadModelError.invalid(file: neutralPath, field: "f", reason: "\(obj.polygonCount) faces, ICT-FaceKit has \(polygonCount)")
        }
        guard obj.cornerTexcoords.allSatisfy({ $0 >= 0 }) else {
            throw HeadModelError.invalid(file: neutralPath, field: "f", reason: "faces without texture coordinates")
        }
        let neutral = obj.positions.map { $0 * centimetre }
        let (triangles, uvTriangles, polygonOf) = obj.triangulated()

        // Shape files, read in parallel: each mode = (shape - neutral) in metres.
        let identityNames = (0..<min(identityModes, identityCount)).map { String(format: "identity%03d", $0) }
        let files = identityNames + expressionNames
        var modes = [[Float]?](repeating: nil, count: files.count)
        var failures = [Error?](repeating: nil, count: files.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: files.count) { k in
            let path = "\(folder)/\(files[k]).obj"
            do {
                let shape = try OBJMesh.read(path: path, positionsOnly: true)
                guard shape.vertexCount == vertexCount else {
                    throw HeadModelError.invalid(file: path, field: "v", reason: "\(shape.vertexCount) vertices, the neutral mesh has \(vertexCount)")
                }
                var mode = shape.positions
                for i in mode.indices { mode[i] = mode[i] * centimetre - neutral[i] }
                lock.lock(); modes[k] = mode; lock.unlock()
            } catch {
                lock.lock(); failures[k] = error; lock.unlock()
            }
        }
        if let e = failures.compactMap({ $0 }).first { throw e }
        let all = modes.map { $0! }
        let identityBasis = all[0..<identityNames.count].flatMap { $0 }
        let expressionBasis = all[identityNames.count...].flatMap { $0 }
        let jawOpen = all[identityNames.count + expressionNames.firstIndex(of: "jawOpen")!]

        let landmarks = try landmarkPoints(triangles: triangles, file: neutralPath)
        let regions = faceRegions(polygonOf: polygonOf, positions: neutral, triangles: triangles)
        let (regressor, weights) = skeleton(neutral: neutral, jawOpenMode: jawOpen, triangles: triangles)

        let model = HeadModel(
            name: "ict-facekit", source: "ICT-FaceKit FaceXModel (MIT) from \(folder)",
            template: neutral, triangles: triangles, texcoords: obj.texcoords, uvTriangles: uvTriangles,
            identityBasis: identityBasis, identityScale: [Float](repeating: 1, count: identityNames.count),
            expressionBasis: expressionBasis, expressionNames: expressionNames,
            jointRegressor: regressor, skinningWeights: weights, poseCorrectives: nil,
            faceRegions: regions, landmarks: landmarks)
        try model.validate(file: folder)
        return model
    }

    static func landmarkPoints(triangles: [Int32], file: String) throws -> [SurfacePoint] {
        var firstTriangle = [Int: (Int32, Int)]()
        for t in 0..<(triangles.count / 3) {
            for c in 0..<3 where firstTriangle[Int(triangles[3 * t + c])] == nil {
                firstTriangle[Int(triangles[3 * t + c])] = (Int32(t), c)
            }
        }
        return try landmarkVertices.map { v in
            guard let (t, c) = firstTriangle[v] else {
                throw HeadModelError.invalid(file: file, field: "landmarks", reason: "vertex \(v) is on no face")
            }
            var b = SIMD3<Float>.zero
            b[c] = 1
            return SurfacePoint(triangle: t, barycentric: b)
        }
    }

    // MARK: Regions

    /// Point-in-polygon (even–odd) in the frontal (x, y) projection.
    static func inside(_ p: SIMD2<Float>, _ poly: [SIMD2<Float>]) -> Bool {
        var c = false
        var j = poly.count - 1
        for i in 0..<poly.count {
            let a = poly[i], b = poly[j]
            if (a.y > p.y) != (b.y > p.y), p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x { c.toggle() }
            j = i
        }
        return c
    }

    /// Scales a polygon about its centroid (separately in x and y).
    static func grow(_ poly: [SIMD2<Float>], _ s: SIMD2<Float>, shift: SIMD2<Float> = .zero) -> [SIMD2<Float>] {
        let c = poly.reduce(.zero, +) / Float(poly.count)
        return poly.map { c + ($0 - c) * s + shift }
    }

    static func faceRegions(polygonOf: [Int32], positions p: [Float], triangles: [Int32]) -> [UInt8] {
        let lm = landmarkVertices.map { p.vec3($0) }
        func xy(_ v: SIMD3<Float>) -> SIMD2<Float> { SIMD2(v.x, v.y) }
        let cm = centimetre
        // Ears: the most lateral face-area vertex on each side marks the ear; an ellipsoid around it.
        var earCentre: [SIMD3<Float>] = []
        for side: Float in [-1, 1] {
            let v = faceVertices.max { side * p[3 * $0] < side * p[3 * $1] }!
            var c = p.vec3(v)
            c.x = side * max(abs(c.x), abs(lm[0].x))
            earCentre.append(c)
        }
        let lipPolygon = grow((48...59).map { xy(lm[$0]) }, SIMD2(1.08, 1.12))
        let nosePolygon: [SIMD2<Float>] = [
            xy(lm[27]) + SIMD2(-0.9 * cm, 0.2 * cm), xy(lm[27]) + SIMD2(0.9 * cm, 0.2 * cm),
            SIMD2(lm[35].x + 0.9 * cm, lm[29].y), xy(lm[35]) + SIMD2(0.7 * cm, 0.1 * cm),
            xy(lm[33]) + SIMD2(0, -0.25 * cm), xy(lm[31]) + SIMD2(-0.7 * cm, 0.1 * cm),
            SIMD2(lm[31].x - 0.9 * cm, lm[29].y),
        ]
        // Eyelids: the eye contour grown, more upward (the upper lid reaches the crease).
        let eyelidRight = grow((36...41).map { xy(lm[$0]) }, SIMD2(1.45, 2.6), shift: SIMD2(0, 0.25 * cm))
        let eyelidLeft = grow((42...47).map { xy(lm[$0]) }, SIMD2(1.45, 2.6), shift: SIMD2(0, 0.25 * cm))
        let browY = (17...26).map { lm[$0].y }.reduce(0, +) / 10
        let chin = lm[8]
        let frontZ = lm[0].z  // points in front of the jaw corners' depth belong to the face

        var regions = [UInt8](repeating: Region.faceSkin.rawValue, count: polygonOf.count)
        for t in 0..<polygonOf.count {
            let poly = Int(polygonOf[t])
            let base = polygonRegions.first { $0.0.contains(poly) }!.1
            let c = (p.vec3(Int(triangles[3 * t])) + p.vec3(Int(triangles[3 * t + 1])) + p.vec3(Int(triangles[3 * t + 2]))) / 3
            var r = base
            if base == .faceSkin || base == .scalp {
                let q = xy(c)
                let e = earCentre[c.x < 0 ? 0 : 1]
                let dy = (c.y - e.y) / (3.4 * cm), dz = (c.z - e.z) / (2.3 * cm)
                if abs(c.x) > abs(e.x) - 2.2 * cm && dy * dy + dz * dz < 1 {
                    r = c.x < 0 ? .earRight : .earLeft
                } else if base == .scalp {
                    r = c.y < e.y - 3.5 * cm ? .neck : .scalp
                } else if c.z > frontZ && inside(q, lipPolygon) {
                    r = .lips
                } else if c.z > frontZ && inside(q, nosePolygon) {
                    r = .nose
                } else if c.z > frontZ && inside(q, eyelidRight) && c.y < browY {
                    r = .eyelidRight
                } else if c.z > frontZ && inside(q, eyelidLeft) && c.y < browY {
                    r = .eyelidLeft
                } else if c.y > browY + 4.5 * cm || (c.z < e.z - 1.5 * cm && c.y > e.y - 2 * cm) {
                    r = .scalp
                } else if c.y < chin.y - 0.3 * cm && c.z < chin.z - 1.5 * cm || c.y < e.y - 3.5 * cm && c.z < frontZ - 2 * cm {
                    r = .neck
                }
            }
            regions[t] = r.rawValue
        }
        return regions
    }

    // MARK: Skeleton

    static func skeleton(neutral p: [Float], jawOpenMode: [Float], triangles: [Int32]) -> (regressor: [Float], weights: [Float]) {
        let nv = vertexCount, nj = HeadModel.jointCount
        var opened = p
        for i in opened.indices { opened[i] += jawOpenMode[i] }

        // Eyes: centres of the fitted eyeball spheres.
        var joints = [SIMD3<Float>](repeating: .zero, count: nj)
        var jointSupport = [[Int]](repeating: [], count: nj)
        for (joint, range) in eyeballVertices {
            let vs = Array(range)
            joints[joint.rawValue] = RigFitting.sphereCentre(of: vs, positions: p)
            jointSupport[joint.rawValue] = vs
        }
        // Jaw: the hinge of the lower teeth's rigid motion under jawOpen, on the mid-sagittal plane.
        let lower = Array(lowerTeethVertices)
        let motion = RigFitting.rigidFit(vertices: lower, from: p, to: opened)
        joints[Joint.jaw.rawValue] = RigFitting.hingePoint(motion, x0: 0)
        // Neck: halfway between the jaw hinge and the chin in height, at the neck column's centre depth.
        let chin = p.vec3(landmarkVertices[8])
        let neckY = (joints[Joint.jaw.rawValue].y + chin.y) / 2
        let column = Array(headNeckVertices).filter { abs(p[3 * $0 + 1] - neckY) < 0.01 }
        let zs = column.map { p[3 * $0 + 2] }
        let neckZ = zs.isEmpty ? 0 : (zs.min()! + zs.max()!) / 2
        joints[Joint.neck.rawValue] = SIMD3(0, neckY, neckZ)
        // Root: centre of the neck's bottom ring.
        let minY = Array(headNeckVertices).map { p[3 * $0 + 1] }.min()!
        let ring = Array(headNeckVertices).filter { p[3 * $0 + 1] < minY + 0.01 }
        joints[Joint.root.rawValue] = ring.map { p.vec3($0) }.reduce(.zero, +) / Float(ring.count)
        jointSupport[Joint.root.rawValue] = ring

        // Regressor support for jaw and neck: the 200 skin vertices nearest the joint.
        for j in [Joint.jaw, .neck] {
            let target = joints[j.rawValue]
            let candidates = Array(faceVertices) + Array(headNeckVertices)
            jointSupport[j.rawValue] = Array(candidates.sorted { length(p.vec3($0) - target) < length(p.vec3($1) - target) }.prefix(200))
        }
        var regressor = [Float](repeating: 0, count: nj * nv)
        for j in 0..<nj {
            for (v, w) in RigFitting.affineRegressor(target: joints[j], vertices: jointSupport[j], positions: p) {
                regressor[j * nv + v] += w
            }
        }

        // Jaw weights: the share of each vertex's jawOpen displacement that the hinge rotation explains.
        var jaw = [Float](repeating: 0, count: nv)
        let noseBase = p.vec3(landmarkVertices[33])
        for i in 0..<nv {
            let x = p.vec3(i)
            let rigid = motion.apply(x) - x
            let d = jawOpenMode.vec3(i)
            let r2 = dot(rigid, rigid)
            if r2 > 1e-10 { jaw[i] = max(0, min(1, dot(d, rigid) / r2)) }
            // Nothing above the nose's base follows the jaw; tiny shares are noise in the shape data.
            jaw[i] *= RigFitting.smoothstep(noseBase.y + 0.005, noseBase.y - 0.005, x.y)
            if jaw[i] < 0.02 { jaw[i] = 0 }
        }
        var movable = [Bool](repeating: true, count: nv)
        for i in lowerTeethVertices { jaw[i] = 1; movable[i] = false }
        for i in upperTeethVertices { jaw[i] = 0; movable[i] = false }
        for range in eyeballVertices.values { for i in range { jaw[i] = 0; movable[i] = false } }
        for i in 24591...26718 { jaw[i] = 0; movable[i] = false }  // lacrimal, blend, occlusion, lashes
        for i in 0..<nv where p[3 * i + 1] > noseBase.y + 0.005 { jaw[i] = 0; movable[i] = false }
        RigFitting.smooth(&jaw, triangles: triangles, vertexCount: nv, mask: movable, iterations: 4)

        // Head vs neck: a smooth blend across a plane tilted so the chin stays with the head.
        let neck = joints[Joint.neck.rawValue]
        var weights = [Float](repeating: 0, count: nv * nj)
        for i in 0..<nv {
            let x = p.vec3(i)
            let s = (x.y - neck.y) + 0.5 * (x.z - neck.z)
            let head = RigFitting.smoothstep(-0.06, -0.015, s)
            var w = [Float](repeating: 0, count: nj)
            if let eye = eyeballVertices.first(where: { $0.value.contains(i) })?.key {
                w[eye.rawValue] = 1
            } else {
                w[Joint.root.rawValue] = 1 - head
                w[Joint.jaw.rawValue] = head * jaw[i]
                w[Joint.neck.rawValue] = head * (1 - jaw[i])
            }
            for j in 0..<nj { weights[i * nj + j] = w[j] }
        }
        return (regressor, weights)
    }
}
