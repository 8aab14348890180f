import Foundation
import XCTest
import TestSupport
import Geometry
import HeadModels
@testable import Rendering

/// Accessories on the MakeHuman head: fitted outside the head, labelled, amodal skin behind them,
/// hair under headwear, determinism.
final class AccessoryTests: XCTestCase {
    /// A posed head: neutral shape, the head turned and tilted (the neck joint), jaw slightly open.
    func posed(_ m: HeadModel) -> (PosedHead, RigidTransform) {
        var p = HeadParameters.neutral(for: m)
        p.jointRotations[Joint.neck.rawValue] = SIMD3(0.15, 0.35, -0.08)
        p.jointRotations[Joint.jaw.rawValue] = SIMD3(0.08, 0, 0)
        return (m.pose(p), p.global)
    }

    func scene(_ m: HeadModel, _ a: Accessories, groom: Groom? = nil) throws -> HeadScene {
        let (p, g) = posed(m)
        return try HeadScene(device: try EmbreeDevice(), model: m, labels: HeadLabelTable(model: m), posed: p, global: g, groom: groom, accessories: a)
    }

    /// Every kind and style, in five outfits.
    func outfits() -> [Accessories] {
        var out: [Accessories] = []
        for k in 0..<5 {
            var a = Accessories()
            var g = Accessories.Glasses(); g.style = GlassesStyle.allCases[k % 3]; g.thickness = [0.002, 0.004, 0.0015, 0.005, 0.003][k]
            a.glasses = g
            var h = Accessories.Headwear(); h.style = HeadwearStyle.allCases[k]; h.height = 0.03
            a.headwear = h
            var f = Accessories.Facewear(); f.style = FacewearStyle.allCases[k % 2]; f.earLoops = k != 4
            if k != 2 { a.facewear = f }
            var c = Accessories.Clothing(); c.style = ClothingStyle.allCases[k % 3]
            a.clothing = c
            var e = Accessories.Earrings(); e.style = EarringStyle.allCases[k % 2]
            if k != 4 { a.earrings = e }
            out.append(a)
        }
        return out
    }

    /// Closest point on triangle abc to p (Ericson, Real-Time Collision Detection 5.1.5), with barycentrics.
    func closest(_ p: SIMD3<Float>, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>) -> (SIMD3<Float>, SIMD3<Float>) {
        let ab = b - a, ac = c - a, ap = p - a
        let d1 = dot(ab, ap), d2 = dot(ac, ap)
        if d1 <= 0 && d2 <= 0 { return (a, SIMD3(1, 0, 0)) }
        let bp = p - b, d3 = dot(ab, bp), d4 = dot(ac, bp)
        if d3 >= 0 && d4 <= d3 { return (b, SIMD3(0, 1, 0)) }
        let vc = d1 * d4 - d3 * d2
        if vc <= 0 && d1 >= 0 && d3 <= 0 { let v = d1 / (d1 - d3); return (a + v * ab, SIMD3(1 - v, v, 0)) }
        let cp = p - c, d5 = dot(ab, cp), d6 = dot(ac, cp)
        if d6 >= 0 && d5 <= d6 { return (c, SIMD3(0, 0, 1)) }
        let vb = d5 * d2 - d1 * d6
        if vb <= 0 && d2 >= 0 && d6 <= 0 { let w = d2 / (d2 - d6); return (a + w * ac, SIMD3(1 - w, 0, w)) }
        let va = d3 * d6 - d5 * d4
        if va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0 {
            let w = (d4 - d3) / ((d4 - d3) + (d5 - d6)); return (b + w * (c - b), SIMD3(0, 1 - w, w))
        }
        let denom = 1 / (va + vb + vc), v = vb * denom, w = vc * denom
        return (a + ab * v + ac * w, SIMD3(1 - v - w, v, w))
    }

    /// The rendered head triangles sorted by their lowest x, for distance queries.
    struct Triangles {
        var corners: [(SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)] = []
        var normals: [(SIMD3<Float>, SIMD3<Float>, SIMD3<Float>)] = []
        var onBoundary: [(Bool, Bool, Bool)] = []
        var lo: [SIMD3<Float>] = [], hi: [SIMD3<Float>] = []
        init(_ s: HeadScene, boundary: Set<Int>) {
            let m = s.model
            var items: [(Int, Float)] = []
            for f32 in s.labels.rendered {
                let f = Int(f32)
                let x = (0..<3).map { s.vertices.vec3(Int(m.triangles[3 * f + $0])).x }.min()!
                items.append((f, x))
            }
            for (f, _) in items.sorted(by: { $0.1 < $1.1 }) {
                let i = (0..<3).map { Int(m.triangles[3 * f + $0]) }
                let a = s.vertices.vec3(i[0]), b = s.vertices.vec3(i[1]), c = s.vertices.vec3(i[2])
                corners.append((a, b, c)); normals.append((s.normals.vec3(i[0]), s.normals.vec3(i[1]), s.normals.vec3(i[2])))
                onBoundary.append((boundary.contains(i[0]), boundary.contains(i[1]), boundary.contains(i[2])))
                lo.append(pointwiseMin(a, pointwiseMin(b, c))); hi.append(pointwiseMax(a, pointwiseMax(b, c)))
            }
        }
    }

    /// Signed distance of `p` to the rendered head mesh (sign from the interpolated vertex normal
    /// at the closest point; only triangles within 2 cm are searched). Where the closest point is
    /// on the mesh's open boundary (the cut at the bottom of the neck) inside and outside are
    /// undefined: those points count as outside.
    func signedDistance(_ p: SIMD3<Float>, _ t: Triangles) -> Float {
        var best = Float.infinity, sign: Float = 1
        // Triangles are sorted by their lowest x: stop once it is 2 cm beyond p.
        for k in 0..<t.corners.count {
            if t.lo[k].x > p.x + 0.02 { break }
            if t.hi[k].x < p.x - 0.02 || any(p .< t.lo[k] - 0.02) || any(p .> t.hi[k] + 0.02) { continue }
            let (a, b, c) = t.corners[k]
            let (q, w) = closest(p, a, b, c)
            let d = length(p - q)
            if d < best {
                best = d
                let (na, nb, nc) = t.normals[k]
                sign = dot(p - q, w.x * na + w.y * nb + w.z * nc) >= 0 ? 1 : -1
                let (ba, bb, bc) = t.onBoundary[k]
                if (w.x < 1e-6 && (bb || bc)) || (w.y < 1e-6 && (ba || bc)) || (w.z < 1e-6 && (ba || bb)) { sign = 1 }
            }
        }
        return best.isFinite ? sign * best : 1
    }

    func testAccessoriesDoNotIntersectTheHead() throws {
        let m = try HairTests.realModel()
        // Vertices on edges used by one rendered face: the open boundary.
        var edgeUse: [SIMD2<Int32>: Int] = [:]
        for f32 in HeadLabelTable(model: m).rendered {
            let f = Int(f32)
            for k in 0..<3 {
                let a = m.triangles[3 * f + k], b = m.triangles[3 * f + (k + 1) % 3]
                edgeUse[SIMD2(min(a, b), max(a, b)), default: 0] += 1
            }
        }
        let boundary = Set(edgeUse.filter { $0.value == 1 }.keys.flatMap { [Int($0.x), Int($0.y)] })
        for (k, outfit) in outfits().enumerated() {
            let s = try scene(m, outfit)
            let triangles = Triangles(s, boundary: boundary)
            for mesh in s.accessories.meshes where !mesh.isEmpty {
                let stride = max(1, mesh.positions.count / 150)
                var worst = Float.infinity
                for v in Swift.stride(from: 0, to: mesh.positions.count, by: stride) { worst = min(worst, signedDistance(mesh.positions[v], triangles)) }
                // 1.5 mm: vertices are ray-placed outside; the tolerance covers the sampled tube rings.
                XCTAssertGreaterThan(worst, -0.0015, "outfit \(k): \(mesh.layer.name)\(mesh.isLens ? " lens" : "") penetrates the head by \(-worst * 1000) mm")
            }
            // Every kind that was asked for produced geometry.
            XCTAssertFalse(s.accessories.meshes[AccessoryLayer.glasses.rawValue].isEmpty)
            XCTAssertFalse(s.accessories.meshes[AccessoryLayer.headwear.rawValue].isEmpty)
            XCTAssertEqual(s.accessories.meshes[AccessoryLayer.facewear.rawValue].isEmpty, outfit.facewear == nil)
            XCTAssertFalse(s.accessories.meshes[AccessoryLayer.clothing.rawValue].isEmpty)
            XCTAssertFalse(s.accessories.meshes.last!.isEmpty, "lenses")
        }
    }

    func render(_ s: HeadScene, size: Int = 96, threads: Int = 0) -> (Film, Camera) {
        // Facing the turned head, 0.5 m away, looking at a point between the eyes and the chin.
        let forward = normalize(s.eyeAxes[0] + s.eyeAxes[1])
        let target = (s.eyeCentres[0] + s.eyeCentres[1]) / 2 - SIMD3(0, 0.035, 0)
        let camera = Camera.lookAt(eye: target + 0.5 * forward, target: target, width: size, height: size, fx: Float(size) * 1.9)
        let film = renderForTest(s, camera: camera, threads: threads)
        return (film, camera)
    }

    func testAccessoryPixelsCarryTheirClassesAndAmodalSkinSeesThroughThem() throws {
        let m = try HairTests.realModel()
        var a = Accessories()
        a.glasses = Accessories.Glasses(); a.facewear = Accessories.Facewear(); a.clothing = Accessories.Clothing()
        var h = Accessories.Headwear(); h.style = .beanie; a.headwear = h
        let s = try scene(m, a)
        let (film, camera) = render(s)
        let n = film.width * film.height
        var count = [Int](repeating: 0, count: 256), amodalSkinBehind = [Int](repeating: 0, count: 256)
        var covered = [Int](repeating: 0, count: 256)
        let planes = AccessoryLayer.allCases.map { film.coverage($0) }
        for i in 0..<n {
            XCTAssertLessThanOrEqual(film.skinVisible[i], film.skinAmodal[i])
            let c = Int(film.segmentation[i])
            count[c] += 1
            guard let layer = AccessoryLayer.allCases.first(where: { Int($0.segmentationClass.rawValue) == c }) else { continue }
            XCTAssertEqual(film.triangle[i], -1); XCTAssertGreaterThan(film.depth[i], 0); XCTAssertEqual(film.foreground[i], 1)
            let nc = SIMD3(film.normalsCamera[3 * i], film.normalsCamera[3 * i + 1], film.normalsCamera[3 * i + 2])
            XCTAssertEqual(length(nc), 1, accuracy: 1e-3)
            if film.skinAmodal[i] == 1 { amodalSkinBehind[c] += 1 }
            if planes[layer.rawValue][i] > 0 { covered[c] += 1 }
        }
        for layer in AccessoryLayer.allCases {
            let c = Int(layer.segmentationClass.rawValue)
            XCTAssertGreaterThan(count[c], 30, "\(layer.name) pixels")
            // Pixel-centre labels and jittered coverage agree almost everywhere.
            XCTAssertGreaterThan(Float(covered[c]), 0.9 * Float(count[c]), "\(layer.name) coverage where labelled")
        }
        // Behind the mask and the glasses is skin (face, nose, lips, eyelids): the amodal channel sees it.
        XCTAssertGreaterThan(Float(amodalSkinBehind[Int(SegmentationClass.facewear.rawValue)]), 0.9 * Float(count[Int(SegmentationClass.facewear.rawValue)]))
        XCTAssertGreaterThan(amodalSkinBehind[Int(SegmentationClass.glasses.rawValue)], 10)
        // The mask hides the mouth and the nose tip; lenses are labelled glasses (the eye centres project onto glasses).
        XCTAssertEqual(count[Int(SegmentationClass.upperLip.rawValue)] + count[Int(SegmentationClass.lowerLip.rawValue)], 0)
        for e in s.eyeCentres {
            let (px, _) = camera.project(e + 0.012 * s.eyeAxes[s.eyeCentres.firstIndex(of: e)!])
            let i = Int(px.y) * film.width + Int(px.x)
            XCTAssertEqual(film.segmentation[i], SegmentationClass.glasses.rawValue, "lens in front of the eye")
            XCTAssertEqual(film.skinAmodal[i], 0, "the eye behind the lens is not skin")
            XCTAssertGreaterThan(film.normalsAmodal[3 * i + 2] * film.normalsAmodal[3 * i + 2], 0.01, "amodal normal of the eye")
        }
        // Without accessories no accessory class or coverage.
        let (bare, _) = render(try scene(m, Accessories()), size: 48)
        XCTAssertFalse(bare.accessoryCoverage.contains { $0 != 0 })
        XCTAssertFalse(bare.segmentation.contains { $0 >= 15 && $0 <= 18 })
    }

    func testHeadwearCompressesHair() throws {
        let m = try HairTests.realModel()
        var g = Groom(); g.style = .medium; g.strands = 3000; g.length = 0.12; g.seed = 4; g.frizz = 0.2; g.gravity = 0.6
        for style in [HeadwearStyle.beanie, .cap, .headband] {
            var a = Accessories(); var h = Accessories.Headwear(); h.style = style; a.headwear = h
            let s = try scene(m, a, groom: g)
            let c = try XCTUnwrap(s.accessories.compression)
            let centre = c.frame.origin
            var outside = 0, limited = 0
            for q in s.strands[0].points {
                let p = SIMD3(q.x, q.y, q.z)
                let lim = c.limit(at: p)
                if lim.isFinite { limited += 1 }
                XCTAssertLessThanOrEqual(length(p - centre), lim + 1e-5)
                // A hair point outside the headwear: the segment from the head centre to it crosses the headwear.
                let d = p - centre, len = length(d)
                if s.occluded(origin: centre, direction: d / len, near: 0, far: len, mask: AccessoryLayer.headwear.mask) { outside += 1 }
            }
            XCTAssertGreaterThan(limited, 1000, "\(style): hair under the headwear")
            XCTAssertEqual(outside, 0, "\(style): hair points outside the headwear")
            // The same groom without headwear pokes through where the headwear would be.
            let bare = try scene(m, Accessories(), groom: g)
            XCTAssertGreaterThan(bare.strands[0].points.filter { q in let p = SIMD3(q.x, q.y, q.z); return length(p - centre) > c.limit(at: p) + 1e-4 }.count, 100)
        }
    }

    func testLongHairLiesOnTheClothing() throws {
        let m = try HairTests.realModel()
        var g = Groom(); g.style = .long; g.strands = 2000; g.length = 0.3; g.seed = 5; g.gravity = 0.7
        var a = Accessories(); a.clothing = Accessories.Clothing()
        let s = try scene(m, a, groom: g)
        let volume = try XCTUnwrap(s.accessories.clothing)
        func inside(_ q: SIMD4<Float>) -> Bool {
            let p = SIMD3(q.x, q.y, q.z)
            guard let r = volume.radius(at: p) else { return false }
            let d = p - volume.origin, h = dot(d, volume.up)
            return length(d - h * volume.up) < r + 0.0019
        }
        XCTAssertEqual(s.strands[0].points.filter(inside).count, 0, "hair inside the shirt")
        // Without the push, long hair falls through the shoulders.
        let bare = try scene(m, Accessories(), groom: g)
        XCTAssertGreaterThan(bare.strands[0].points.filter(inside).count, 100)
    }

    func testAccessoriesAreDeterministicAndThreadIndependent() throws {
        let m = try HairTests.realModel()
        let outfit = outfits()[0]
        let a = try scene(m, outfit), b = try scene(m, outfit)
        for (x, y) in zip(a.accessories.meshes, b.accessories.meshes) { XCTAssertEqual(x.positions, y.positions); XCTAssertEqual(x.triangles, y.triangles) }
        let one = render(a, size: 40, threads: 1).0, two = render(b, size: 40, threads: 2).0
        XCTAssertEqual(one.rgb, two.rgb)
        XCTAssertEqual(one.segmentation, two.segmentation)
        XCTAssertEqual(one.accessoryCoverage, two.accessoryCoverage)
        XCTAssertEqual(one.skinAmodal, two.skinAmodal)
    }
}
