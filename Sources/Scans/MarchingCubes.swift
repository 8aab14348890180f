import Geometry

/// Marching-cubes triangulation tables, derived once from a face rule instead of typed in.
///
/// Corner `i` of a cube sits at (i & 1, i >> 1 & 1, i >> 2 & 1); edge `4·axis + k` joins the k-th
/// corner with that axis bit clear to its neighbour along `axis`. A corner is *inside* when its
/// signed distance is negative. On every cube face the iso-line cuts off each run of inside
/// corners (walking the face counter-clockwise seen from outside the cube); in the ambiguous face
/// case (two diagonal inside corners) both are cut off separately. Neighbouring cubes see the same
/// corner values on their shared face, so they make the same segments: with vertices welded per
/// grid edge, the surface is closed wherever every cube around it is observed (no cracks, every
/// edge shared by exactly two triangles). Each cube's segments chain into loops, fanned into
/// triangles wound counter-clockwise seen from outside (normals point towards positive distance).
public enum MarchingCubes {
    /// Corner pairs of the 12 edges.
    public static let edgeCorners: [(Int, Int)] = {
        var e: [(Int, Int)] = []
        for axis in 0..<3 {
            for c in 0..<8 where c & (1 << axis) == 0 { e.append((c, c | (1 << axis))) }
        }
        return e
    }()

    /// For each of the 256 cases, triangles as triples of edge indices.
    public static let triangles: [[UInt8]] = {
        var table = [[UInt8]](repeating: [], count: 256)
        func faces(_ e: Int) -> Set<Int> {
            let (a, b) = edgeCorners[e]
            return Set((0..<3).filter { (a >> $0 & 1) == (b >> $0 & 1) }.map { 2 * $0 + (a >> $0 & 1) })
        }
        func shareFace(_ e: Int, _ f: Int) -> Bool { !faces(e).isDisjoint(with: faces(f)) }
        func edge(_ a: Int, _ b: Int) -> Int {
            edgeCorners.firstIndex { ($0.0 == a && $0.1 == b) || ($0.0 == b && $0.1 == a) }!
        }
        // Faces: corners in counter-clockwise order seen from outside.
        var faces: [[Int]] = []
        for a in 0..<3 {
            let u = (a + 1) % 3, v = (a + 2) % 3
            for s in 0..<2 {
                var ring = [(0, 0), (1, 0), (1, 1), (0, 1)].map { (i, j) in (s << a) | (i << u) | (j << v) }
                if s == 0 { ring.reverse() }
                faces.append(ring)
            }
        }
        for cubeCase in 0..<256 {
            func inside(_ c: Int) -> Bool { cubeCase & (1 << c) != 0 }
            var next = [Int](repeating: -1, count: 12)
            for ring in faces {
                for k in 0..<4 where !inside(ring[k]) && inside(ring[(k + 1) % 4]) {
                    // An inside run starts at ring[k+1]; find where it ends.
                    var j = (k + 1) % 4
                    while inside(ring[(j + 1) % 4]) { j = (j + 1) % 4 }
                    let from = edge(ring[k], ring[(k + 1) % 4]), to = edge(ring[j], ring[(j + 1) % 4])
                    precondition(next[from] == -1, "marching cubes: edge used twice")
                    next[from] = to
                }
            }
            var used = [Bool](repeating: false, count: 12)
            var tris: [UInt8] = []
            for start in 0..<12 where next[start] >= 0 && !used[start] {
                var loop: [Int] = []
                var e = start
                while !used[e] { used[e] = true; loop.append(e); e = next[e] }
                precondition(e == start && loop.count >= 3, "marching cubes: open loop")
                // Fan from a corner whose diagonals do not join two edges of one cube face: such a
                // diagonal would coincide with the neighbour's segment on that face (an edge of
                // four triangles).
                let n = loop.count
                let apex = (0..<n).first { a in
                    (2..<(n - 1)).allSatisfy { k in !shareFace(loop[a], loop[(a + k) % n]) }
                } ?? 0
                for i in 1..<(n - 1) {
                    tris += [UInt8(loop[apex]), UInt8(loop[(apex + i) % n]), UInt8(loop[(apex + i + 1) % n])]
                }
            }
            table[cubeCase] = tris
        }
        // Orient: with only corner 0 inside, the triangle's normal must point away from corner 0.
        let t = table[1]
        func mid(_ e: UInt8) -> SIMD3<Float> {
            let (a, b) = edgeCorners[Int(e)]
            return (corner(a) + corner(b)) / 2
        }
        let n = cross(mid(t[1]) - mid(t[0]), mid(t[2]) - mid(t[0]))
        if dot(n, mid(t[0]) - corner(0)) < 0 {
            for c in 0..<256 {
                var tri = table[c]
                for f in 0..<(tri.count / 3) { tri.swapAt(3 * f + 1, 3 * f + 2) }
                table[c] = tri
            }
        }
        return table
    }()

    @inline(__always) static func corner(_ i: Int) -> SIMD3<Float> {
        SIMD3(Float(i & 1), Float(i >> 1 & 1), Float(i >> 2 & 1))
    }
    @inline(__always) static func cornerOffset(_ i: Int) -> SIMD3<Int32> {
        SIMD3(Int32(i & 1), Int32(i >> 1 & 1), Int32(i >> 2 & 1))
    }
}
