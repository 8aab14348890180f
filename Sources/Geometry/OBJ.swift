#if canImport(Glibc)
import Glibc
#endif

/// Errors reading or writing mesh files; each names the file and the place in it.
public enum MeshFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int, reason: String)
    case invalid(path: String, field: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .malformed(path, line, reason): return "\(path):\(line): \(reason)"
        case let .invalid(path, field, reason): return "\(path): \(field): \(reason)"
        }
    }
}

/// A Wavefront OBJ as written: polygons (not yet triangulated) with separate position and UV
/// indices, and the material in force for each face.
public struct OBJMesh: Sendable {
    public var positions: [Float] = []        // [V, 3]
    public var texcoords: [Float] = []        // [T, 2]
    public var faceStarts: [Int32] = [0]      // [P + 1], polygon p has corners faceStarts[p]..<faceStarts[p+1]
    public var cornerPositions: [Int32] = []  // [corners], 0-based
    public var cornerTexcoords: [Int32] = []  // [corners], 0-based, -1 when the face has no UVs
    public var faceMaterials: [Int32] = []    // [P], index into `materials`, -1 before any usemtl
    public var materials: [String] = []

    public init() {}

    public var vertexCount: Int { positions.count / 3 }
    public var polygonCount: Int { faceStarts.count - 1 }

    /// Reads an OBJ. With `positionsOnly`, stops caring about anything but `v` lines (shape files
    /// that carry only positions, or whole files where only positions matter).
    public static func read(path: String, positionsOnly: Bool = false) throws -> OBJMesh {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MeshFileError.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path)
                                            ? "permission denied or I/O error" : "no such file")
        }
        var mesh = OBJMesh()
        var materialIndex: [String: Int32] = [:]
        var currentMaterial: Int32 = -1
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            let n = bytes.count
            var i = 0
            var lineNumber = 0
            // Parses numbers in place with strtod; the buffer is NUL-free text, and every line
            // is bounded by a newline or the end, which we check before each call.
            var lineBuffer = [CChar](repeating: 0, count: 4096)
            while i < n {
                lineNumber += 1
                var j = i
                while j < n && bytes[j] != UInt8(ascii: "\n") { j += 1 }
                let lineStart = i, lineEnd = j
                i = j + 1
                var s = lineStart
                while s < lineEnd && (bytes[s] == 32 || bytes[s] == 9) { s += 1 }
                if s >= lineEnd || bytes[s] == UInt8(ascii: "#") { continue }
                var len = lineEnd - s
                if len > 0 && bytes[s + len - 1] == 13 { len -= 1 }
                if len + 1 > lineBuffer.count { lineBuffer = [CChar](repeating: 0, count: len + 1) }
                for k in 0..<len { lineBuffer[k] = CChar(bitPattern: bytes[s + k]) }
                lineBuffer[len] = 0
                try lineBuffer.withUnsafeMutableBufferPointer { lb in
                    let base = lb.baseAddress!
                    let c0 = base[0], c1 = len > 1 ? base[1] : 0
                    func numbers(_ start: Int, count: Int) throws -> [Double] {
                        var out: [Double] = []
                        var p = UnsafeMutablePointer<CChar>(base + start)
                        for _ in 0..<count {
                            var end: UnsafeMutablePointer<CChar>? = nil
                            let v = strtod(p, &end)
                            guard let e = end, e != p else {
                                throw MeshFileError.malformed(path: path, line: lineNumber,
                                                              reason: "expected \(count) numbers")
                            }
                            guard v.isFinite else {
                                throw MeshFileError.malformed(path: path, line: lineNumber, reason: "non-finite number")
                            }
                            out.append(v); p = e
                        }
                        return out
                    }
                    if c0 == CChar(118) /* v */ && (c1 == 32 || c1 == 9) {
                        let v = try numbers(2, count: 3)
                        mesh.positions.append(Float(v[0])); mesh.positions.append(Float(v[1]))
                        mesh.positions.append(Float(v[2]))
                    } else if positionsOnly {
                        return
                    } else if c0 == CChar(118) /* v */ && c1 == CChar(116) /* t */ {
                        let v = try numbers(3, count: 2)
                        mesh.texcoords.append(Float(v[0])); mesh.texcoords.append(Float(v[1]))
                    } else if c0 == CChar(102) /* f */ && (c1 == 32 || c1 == 9) {
                        try mesh.parseFace(base, len: len, path: path, line: lineNumber)
                        mesh.faceMaterials.append(currentMaterial)
                    } else if len > 7 && String(cString: base).hasPrefix("usemtl ") {
                        let name = String(cString: base + 7).trimmingCharacters(in: .whitespaces)
                        if let k = materialIndex[name] { currentMaterial = k } else {
                            currentMaterial = Int32(mesh.materials.count)
                            materialIndex[name] = currentMaterial
                            mesh.materials.append(name)
                        }
                    }
                }
            }
        }
        if !positionsOnly { try mesh.validate(path: path) }
        return mesh
    }

    private mutating func parseFace(_ base: UnsafeMutablePointer<CChar>, len: Int, path: String, line: Int) throws {
        var k = 1
        var corners = 0
        func readInt() -> Int? {
            var neg = false
            if k < len && base[k] == CChar(45) /* - */ { neg = true; k += 1 }
            var v = 0, digits = 0
            while k < len, base[k] >= CChar(48) /* 0 */, base[k] <= CChar(57) /* 9 */ {
                v = v * 10 + Int(base[k] - CChar(48) /* 0 */); k += 1; digits += 1
            }
            return digits > 0 ? (neg ? -v : v) : nil
        }
        while k < len {
            while k < len && (base[k] == 32 || base[k] == 9) { k += 1 }
            if k >= len { break }
            guard let vi = readInt() else {
                throw MeshFileError.malformed(path: path, line: line, reason: "bad face corner")
            }
            var ti: Int? = nil
            if k < len && base[k] == CChar(47) /* / */ {
                k += 1
                ti = readInt()
                if k < len && base[k] == CChar(47) /* / */ { k += 1; _ = readInt() }
            }
            // OBJ indices are 1-based; negative ones count back from the current end.
            let nv = positions.count / 3, nt = texcoords.count / 2
            let v0 = vi < 0 ? nv + vi : vi - 1
            cornerPositions.append(Int32(v0))
            if let t = ti { cornerTexcoords.append(Int32(t < 0 ? nt + t : t - 1)) } else { cornerTexcoords.append(-1) }
            corners += 1
        }
        guard corners >= 3 else {
            throw MeshFileError.malformed(path: path, line: line, reason: "face with \(corners) corners")
        }
        faceStarts.append(Int32(cornerPositions.count))
    }

    private func validate(path: String) throws {
        let nv = Int32(vertexCount), nt = Int32(texcoords.count / 2)
        if let bad = cornerPositions.firstIndex(where: { $0 < 0 || $0 >= nv }) {
            throw MeshFileError.invalid(path: path, field: "f", reason: "corner \(bad) refers to vertex \(cornerPositions[bad] + 1) of \(nv)")
        }
        if let bad = cornerTexcoords.firstIndex(where: { $0 >= nt || $0 < -1 }) {
            throw MeshFileError.invalid(path: path, field: "f", reason: "corner \(bad) refers to texcoord \(cornerTexcoords[bad] + 1) of \(nt)")
        }
    }

    /// Fan-triangulates every polygon. Returns position triangles, UV triangles (-1 where the
    /// polygon had none) and, for each triangle, the polygon it came from.
    public func triangulated() -> (triangles: [Int32], uvTriangles: [Int32], polygonOfTriangle: [Int32]) {
        var tris: [Int32] = [], uvTris: [Int32] = [], from: [Int32] = []
        tris.reserveCapacity(polygonCount * 6)
        for p in 0..<polygonCount {
            let a = Int(faceStarts[p]), b = Int(faceStarts[p + 1])
            for c in (a + 1)..<(b - 1) {
                tris += [cornerPositions[a], cornerPositions[c], cornerPositions[c + 1]]
                uvTris += [cornerTexcoords[a], cornerTexcoords[c], cornerTexcoords[c + 1]]
                from.append(Int32(p))
            }
        }
        return (tris, uvTris, from)
    }
}
