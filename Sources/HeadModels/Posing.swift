import Geometry

/// Everything that poses a head: shape coefficients, joint rotations and a global rigid transform.
public struct HeadParameters: Equatable, Sendable {
    public var identity: [Float]                 // [Kid]
    public var expression: [Float]               // [Kexp]
    public var jointRotations: [SIMD3<Float>]    // [J] axis-angle (radians) in `Joint` order, parent frame
    public var global: RigidTransform            // applied after skinning

    public init(identity: [Float], expression: [Float], jointRotations: [SIMD3<Float>] = Array(repeating: .zero, count: HeadModel.jointCount),
                global: RigidTransform = .identity) {
        self.identity = identity; self.expression = expression
        self.jointRotations = jointRotations; self.global = global
    }

    /// The rest pose: all coefficients and rotations zero.
    public static func neutral(for model: HeadModel) -> HeadParameters {
        HeadParameters(identity: [Float](repeating: 0, count: model.identityCount),
                       expression: [Float](repeating: 0, count: model.expressionCount))
    }

    /// FLAME's 15-vector pose layout: [global(3), neck(3), jaw(3), left eye(3), right eye(3)].
    public var flamePose: [Float] { jointRotations.flatMap { [$0.x, $0.y, $0.z] } }
}

/// A posed head: vertices and normals in metres, plus where the joints went.
public struct PosedHead: Sendable {
    public var vertices: [Float]                 // [V, 3]
    public var normals: [Float]                  // [V, 3] unit, area-weighted
    public var joints: [SIMD3<Float>]            // [J] posed joint positions
    public var jointTransforms: [RigidTransform] // [J] rest → posed (the LBS matrices A_j, global included)
}

extension HeadModel {
    /// `T + S β + E ψ` (FLAME's blend_shapes). Missing trailing coefficients count as zero.
    public func shaped(identity: [Float], expression: [Float]) -> [Float] {
        var v = template
        let n = template.count
        v.withUnsafeMutableBufferPointer { out in
            func add(_ basis: [Float], _ coeffs: [Float]) {
                basis.withUnsafeBufferPointer { b in
                    for (k, c) in coeffs.enumerated() where c != 0 {
                        let base = k * n
                        for i in 0..<n { out[i] += c * b[base + i] }
                    }
                }
            }
            add(identityBasis, Array(identity.prefix(identityCount)))
            add(expressionBasis, Array(expression.prefix(expressionCount)))
        }
        return v
    }

    /// Rest joint positions `J = R_J · v_shaped` ([J]).
    public func restJoints(shaped v: [Float]) -> [SIMD3<Float>] {
        let nv = vertexCount
        return (0..<HeadModel.jointCount).map { j in
            var acc = SIMD3<Double>.zero
            for i in 0..<nv {
                let w = jointRegressor[j * nv + i]
                if w != 0 { acc += Double(w) * SIMD3<Double>(Double(v[3 * i]), Double(v[3 * i + 1]), Double(v[3 * i + 2])) }
            }
            return SIMD3<Float>(Float(acc.x), Float(acc.y), Float(acc.z))
        }
    }

    /// FLAME's linear blend skinning, then the global transform. Matches FLAME_PyTorch's `lbs`
    /// to float precision (tested against a numpy reference at 1e-5).
    public func pose(_ p: HeadParameters) -> PosedHead {
        let nv = vertexCount, nj = HeadModel.jointCount
        var v = shaped(identity: p.identity, expression: p.expression)
        let rest = restJoints(shaped: v)
        var rotations = [Mat3](repeating: .identity, count: nj)
        for j in 0..<min(nj, p.jointRotations.count) { rotations[j] = Mat3.rotation(axisAngle: p.jointRotations[j]) }

        // Pose correctives: v += P · vec(R_j - I), j = 1..<J, row-major.
        if let correctives = poseCorrectives {
            var feature: [Float] = []
            for j in 1..<nj { feature += (rotations[j] - .identity).rowMajor }
            let n = 3 * nv
            correctives.withUnsafeBufferPointer { b in
                v.withUnsafeMutableBufferPointer { out in
                    for (k, c) in feature.enumerated() where c != 0 {
                        for i in 0..<n { out[i] += c * b[k * n + i] }
                    }
                }
            }
        }

        // World transforms along the kinematic tree, then A_j = G_j · [I | -J_j].
        var world = [RigidTransform](repeating: .identity, count: nj)
        for joint in Joint.allCases {
            let j = joint.rawValue
            if let parent = joint.parent {
                let local = RigidTransform(rotation: rotations[j], translation: rest[j] - rest[parent.rawValue])
                world[j] = world[parent.rawValue] * local
            } else {
                world[j] = RigidTransform(rotation: rotations[j], translation: rest[j])
            }
        }
        let skinning = world.enumerated().map { j, g in
            p.global * RigidTransform(rotation: g.rotation, translation: g.translation - g.rotation * rest[j])
        }

        var out = [Float](repeating: 0, count: 3 * nv)
        for i in 0..<nv {
            let x = v.vec3(i)
            var acc = SIMD3<Float>.zero
            for j in 0..<nj {
                let w = skinningWeights[i * nj + j]
                if w != 0 { acc += w * skinning[j].apply(x) }
            }
            out.setVec3(i, acc)
        }
        return PosedHead(vertices: out,
                         normals: TriangleMesh.vertexNormals(positions: out, triangles: triangles),
                         joints: world.map { p.global.apply($0.translation) },
                         jointTransforms: skinning)
    }

    /// A surface point's position on a posed mesh.
    public func position(of point: SurfacePoint, vertices: [Float]) -> SIMD3<Float> {
        let t = Int(point.triangle)
        return point.barycentric.x * vertices.vec3(Int(triangles[3 * t]))
            + point.barycentric.y * vertices.vec3(Int(triangles[3 * t + 1]))
            + point.barycentric.z * vertices.vec3(Int(triangles[3 * t + 2]))
    }

    /// The 68 landmarks on a posed mesh.
    public func landmarkPositions(vertices: [Float]) -> [SIMD3<Float>] {
        landmarks.map { position(of: $0, vertices: vertices) }
    }

    /// The posed mesh with the model's UVs.
    public func mesh(_ posed: PosedHead) -> TriangleMesh {
        TriangleMesh(positions: posed.vertices, triangles: triangles, texcoords: texcoords, uvTriangles: uvTriangles)
    }
}
