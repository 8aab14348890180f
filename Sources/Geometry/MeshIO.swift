/// A triangle mesh with per-corner UVs (separate UV indices, as in OBJ and FLAME).
public struct TriangleMesh: Sendable {
    public var positions: [Float]      // [V, 3]
    public var triangles: [Int32]      // [F, 3]
    public var texcoords: [Float]      // [T, 2]
    public var uvTriangles: [Int32]    // [F, 3], empty when the mesh has no UVs
    public var vertexColors: [UInt8]?  // [V, 3], optional (label colours on scans)

    public init(positions: [Float], triangles: [Int32], texcoords: [Float] = [], uvTriangles: [Int32] = [],
                vertexColors: [UInt8]? = nil) {
        self.positions = positions; self.triangles = triangles
        self.texcoords = texcoords; self.uvTriangles = uvTriangles; self.vertexColors = vertexColors
    }

    public var vertexCount: Int { positions.count / 3 }
    public var triangleCount: Int { triangles.count / 3 }

    /// Area-weighted vertex normals: `n_v = normalize(Σ_f (p1 - p0) × (p2 - p0))` over faces at v.
    public func vertexNormals() -> [Float] {
        TriangleMesh.vertexNormals(positions: positions, triangles: triangles)
    }

    public static func vertexNormals(positions: [Float], triangles: [Int32]) -> [Float] {
        var acc = [SIMD3<Float>](repeating: .zero, count: positions.count / 3)
        for f in 0..<(triangles.count / 3) {
            let i0 = Int(triangles[3 * f]), i1 = Int(triangles[3 * f + 1]), i2 = Int(triangles[3 * f + 2])
            let p0 = positions.vec3(i0)
            let n = cross(positions.vec3(i1) - p0, positions.vec3(i2) - p0)
            acc[i0] += n; acc[i1] += n; acc[i2] += n
        }
        var out = [Float](repeating: 0, count: positions.count)
        for (i, n) in acc.enumerated() { out.setVec3(i, normalize(n)) }
        return out
    }

    /// Splits vertices where UV seams cut them, giving one (position, uv) pair per output vertex:
    /// what formats with per-vertex UVs (PLY, glTF) need.
    public func splitAtUVSeams() -> (positions: [Float], uvs: [Float], normals: [Float], triangles: [Int32], source: [Int32]) {
        let normals = vertexNormals()
        guard !uvTriangles.isEmpty else {
            return (positions, [Float](repeating: 0, count: vertexCount * 2), normals, triangles,
                    (0..<Int32(vertexCount)).map { $0 })
        }
        var key: [Int64: Int32] = [:]
        var p: [Float] = [], uv: [Float] = [], n: [Float] = [], src: [Int32] = []
        var tris = [Int32](repeating: 0, count: triangles.count)
        for c in 0..<triangles.count {
            let v = Int64(triangles[c]), t = Int64(uvTriangles[c])
            let k = v << 32 | (t & 0xffff_ffff)
            if let idx = key[k] { tris[c] = idx; continue }
            let idx = Int32(src.count)
            key[k] = idx; tris[c] = idx; src.append(Int32(v))
            p += [positions[3 * Int(v)], positions[3 * Int(v) + 1], positions[3 * Int(v) + 2]]
            n += [normals[3 * Int(v)], normals[3 * Int(v) + 1], normals[3 * Int(v) + 2]]
            if t >= 0 { uv += [texcoords[2 * Int(t)], texcoords[2 * Int(t) + 1]] } else { uv += [0, 0] }
        }
        return (p, uv, n, tris, src)
    }

    /// Wavefront OBJ with `v`, `vt`, `vn` and `f v/vt/vn` lines, written atomically.
    public func writeOBJ(path: String, comment: String = "") throws {
        let normals = vertexNormals()
        var s = ""
        s.reserveCapacity(vertexCount * 120)
        if !comment.isEmpty { for line in comment.split(separator: "\n") { s += "# \(line)\n" } }
        func f(_ x: Float) -> String { String(format: "%.6g", x) }
        for i in 0..<vertexCount {
            s += "v \(f(positions[3 * i])) \(f(positions[3 * i + 1])) \(f(positions[3 * i + 2]))\n"
        }
        for i in 0..<(texcoords.count / 2) { s += "vt \(f(texcoords[2 * i])) \(f(texcoords[2 * i + 1]))\n" }
        for i in 0..<vertexCount {
            s += "vn \(f(normals[3 * i])) \(f(normals[3 * i + 1])) \(f(normals[3 * i + 2]))\n"
        }
        let hasUV = !uvTriangles.isEmpty
        for t in 0..<triangleCount {
            s += "f"
            for c in 0..<3 {
                let v = triangles[3 * t + c] + 1
                if hasUV && uvTriangles[3 * t + c] >= 0 { s += " \(v)/\(uvTriangles[3 * t + c] + 1)/\(v)" } else { s += " \(v)//\(v)" }
            }
            s += "\n"
        }
        try writeAtomically(Data(s.utf8), to: path)
    }

    /// Binary little-endian PLY: vertices split at UV seams, with normals (nx, ny, nz), UVs (s, t)
    /// and optional colours (red, green, blue), which MeshLab and Blender both read.
    public func writePLY(path: String, comment: String = "") throws {
        let split = splitAtUVSeams()
        let nv = split.source.count, nf = split.triangles.count / 3
        var header = "ply\nformat binary_little_endian 1.0\n"
        for line in comment.split(separator: "\n") { header += "comment \(line)\n" }
        header += "element vertex \(nv)\nproperty float x\nproperty float y\nproperty float z\n"
        header += "property float nx\nproperty float ny\nproperty float nz\nproperty float s\nproperty float t\n"
        if vertexColors != nil { header += "property uchar red\nproperty uchar green\nproperty uchar blue\n" }
        header += "element face \(nf)\nproperty list uchar int vertex_indices\nend_header\n"
        var data = Data(header.utf8)
        data.reserveCapacity(data.count + nv * 35 + nf * 13)
        func put<T>(_ v: T) { withUnsafeBytes(of: v) { data.append(contentsOf: $0) } }
        for i in 0..<nv {
            for k in 0..<3 { put(split.positions[3 * i + k].bitPattern.littleEndian) }
            for k in 0..<3 { put(split.normals[3 * i + k].bitPattern.littleEndian) }
            put(split.uvs[2 * i].bitPattern.littleEndian); put(split.uvs[2 * i + 1].bitPattern.littleEndian)
            if let colors = vertexColors {
                let s = Int(split.source[i])
                data.append(contentsOf: [colors[3 * s], colors[3 * s + 1], colors[3 * s + 2]])
            }
        }
        for f in 0..<nf {
            data.append(3)
            for k in 0..<3 { put(split.triangles[3 * f + k].littleEndian) }
        }
        try writeAtomically(data, to: path)
    }
}

/// Writes to a temporary name in the same directory, then renames: a reader never sees half a file,
/// and a failure leaves nothing behind.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try data.write(to: tmp)
        // rename(2) replaces an existing file atomically (Foundation's replaceItemAt fails on Linux).
        guard rename(tmp.path, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw MeshFileError.unreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
    }
}
