import Geometry
@testable import HeadModels

/// A tiny closed head-like model (an octahedron "skull" with a "jaw" vertex and two eye
/// tetrahedra), small enough for exact checks and fast in debug builds.
func makeToyModel(correctives: Bool = true) -> HeadModel {
    var rng = SplitMix64(seed: 11)
    // Skull: octahedron of radius 0.1 around (0, 0.05, 0); jaw: bottom vertex; eyes: tetrahedra.
    var p: [Float] = [0.1, 0.05, 0, -0.1, 0.05, 0, 0, 0.15, 0, 0, -0.05, 0, 0, 0.05, 0.1, 0, 0.05, -0.1]
    var tris: [Int32] = [0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4, 2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5]
    for side: Float in [1, -1] {
        let c = SIMD3<Float>(side * 0.035, 0.08, 0.085)
        let base = Int32(p.count / 3)
        for d in [SIMD3<Float>(0.01, 0, 0), SIMD3(-0.005, 0.009, 0), SIMD3(-0.005, -0.009, 0), SIMD3(0, 0, 0.01)] {
            let q = c + d
            p += [q.x, q.y, q.z]
        }
        tris += [base, base + 2, base + 1, base, base + 1, base + 3, base + 1, base + 2, base + 3, base + 2, base, base + 3]
    }
    let v = p.count / 3, f = tris.count / 3, j = HeadModel.jointCount
    let kid = 3, kex = 2
    let idb = (0..<(kid * v * 3)).map { _ in rng.normal() * 0.005 }
    let exb = (0..<(kex * v * 3)).map { _ in rng.normal() * 0.003 }
    // Joints: root at bottom, neck slightly above, jaw at centre, eyes at their tetrahedra.
    var reg = [Float](repeating: 0, count: j * v)
    reg[0 * v + 3] = 1                                  // root = bottom vertex
    reg[1 * v + 0] = 0.5; reg[1 * v + 1] = 0.5          // neck = midpoint of the side vertices
    reg[2 * v + 4] = 0.5; reg[2 * v + 5] = 0.5          // jaw = midpoint front/back
    for k in 0..<4 { reg[3 * v + 6 + k] = 0.25; reg[4 * v + 10 + k] = 0.25 }
    var w = [Float](repeating: 0, count: v * j)
    let assign: [[Float]] = [[0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0.3, 0.2, 0.5, 0, 0], [0, 0.6, 0.4, 0, 0], [0, 1, 0, 0, 0]]
    for i in 0..<6 { for k in 0..<j { w[i * j + k] = assign[i][k] } }
    for i in 6..<10 { w[i * j + 3] = 1 }
    for i in 10..<14 { w[i * j + 4] = 1 }
    let pc: [Float]? = correctives ? (0..<(9 * (j - 1) * v * 3)).map { _ in rng.normal() * 0.001 } : nil
    return HeadModel(
        name: "toy", source: "test", template: p, triangles: tris,
        texcoords: (0..<v).flatMap { [Float($0) / Float(v), 0.5] }, uvTriangles: tris,
        identityBasis: idb, identityScale: [1, 0.5, 0.25], expressionBasis: exb, expressionNames: ["jawOpen", "eyeBlink_L"],
        jointRegressor: reg, skinningWeights: w, poseCorrectives: pc,
        faceRegions: (0..<f).map { $0 < 8 ? Region.faceSkin.rawValue : Region.scleraLeft.rawValue },
        landmarks: (0..<68).map { SurfacePoint(triangle: Int32($0 % 8), barycentric: SIMD3(0.2, 0.3, 0.5)) })
}
