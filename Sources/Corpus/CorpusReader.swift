import Foundation
import HDF5
import Rendering

/// Reads a corpus file's header and rows (for `corpus info`, `verify`, `merge`, `--resume`, previews).
public final class CorpusReader {
    public let path: String
    public let file: HDF5File
    public let header: CorpusHeader
    public let completeRows: [Bool]

    public init(path: String) throws {
        self.path = path
        let file = try HDF5File(path: path, mode: .readOnly)
        self.file = file
        guard file.hasAttribute("format"), (try? file.stringAttribute("format")) == CorpusSchema.format else {
            throw CorpusError(file: path, reason: "not a HeadLab corpus (no format attribute)")
        }
        let version = try file.attribute("schema_version", as: Int32.self).first ?? 0
        guard version == CorpusSchema.version else {
            throw CorpusError(file: path, reason: "schema version \(version); this HeadLab reads \(CorpusSchema.version)")
        }
        func int(_ n: String) throws -> Int { Int(try file.attribute(n, as: Int64.self).first ?? 0) }
        let gz = try file.stringAttribute("gzip").split(separator: ",").reduce(into: [String: Int]()) { d, kv in
            let p = kv.split(separator: "="); if p.count == 2 { d[String(p[0])] = Int(p[1]) ?? 0 }
        }
        let identity = try file.shape("identity"), expression = try file.shape("expression")
        let header = CorpusHeader(
            recipe: try file.stringAttribute("recipe"),
            seed: UInt64(bitPattern: try file.attribute("seed", as: Int64.self).first ?? 0),
            count: try int("count"), firstIndex: try int("first_index"), rows: try int("rows"),
            width: Int(try file.attribute("width", as: Int32.self).first ?? 0),
            height: Int(try file.attribute("height", as: Int32.self).first ?? 0),
            modelName: try file.stringAttribute("model_name"), modelSource: try file.stringAttribute("model_source"),
            identityCount: identity.count > 1 ? identity[1] : 0, expressionCount: expression.count > 1 ? expression[1] : 0,
            expressionNames: try file.readStrings("expression_names"), gzip: gz,
            headlabVersion: try file.stringAttribute("headlab_version"))
        var h = header
        if file.hasAttribute("uv_bounds") { h.uvBounds = try file.attribute("uv_bounds", as: Float.self) }
        self.header = h
        let complete = try file.read("complete", as: UInt8.self, expectShape: [header.rows]).values
        completeRows = complete.map { $0 == 1 }
    }

    public func close() { file.close() }

    /// Segmentation classes a strand or an accessory mesh can carry (no model face): brows, hair,
    /// beard, eyes (eyelashes), clothing, glasses, headwear, facewear.
    static let strandClasses: Set<UInt8> = Set([SegmentationClass.rightBrow, .leftBrow, .hair, .beard, .rightEye, .leftEye,
                                                .clothing, .glasses, .headwear, .facewear].map(\.rawValue))

    public func dataset(_ name: String) throws -> HDF5Dataset { try file.openDataset(name) }

    /// Checks every complete row: datasets present with the right shapes, values finite, unit
    /// normals, UV in [0, 1], labels consistent (skin ⊆ foreground, depth > 0 exactly on the
    /// foreground, segmentation ids known). Returns problems as text (empty = valid).
    public func verify(maxProblems: Int = 20) -> [String] {
        var problems: [String] = []
        func report(_ s: String) { if problems.count < maxProblems { problems.append(s) } }
        let h = header.height, w = header.width, n = h * w
        let ub = header.uvBounds.count == 4 ? header.uvBounds : [0, 0, 1, 1]
        do {
            for c in CorpusSchema.imageChannels {
                let shape = try file.shape(c.name)
                let expected = c.components == 1 ? [header.rows, h, w] : [header.rows, h, w, c.components]
                if shape != expected { report("\(c.name): shape \(shape), expected \(expected)") }
            }
            let fg = try dataset("foreground"), skin = try dataset("skin_visible"), amodal = try dataset("skin_amodal")
            let seg = try dataset("segmentation"), depth = try dataset("depth"), normals = try dataset("normals_camera")
            let uv = try dataset("uv"), tri = try dataset("triangle"), lm = try dataset("landmarks_2d")
            for row in 0..<header.rows where completeRows[row] {
                let f = try fg.readRowBytes(row), s = try skin.readRowBytes(row), a = try amodal.readRowBytes(row)
                let sg = try seg.readRowBytes(row), d = try depth.readRowFloat(row), nm = try normals.readRowFloat(row)
                let u = try uv.readRowFloat(row)
                var t = [Int32](repeating: 0, count: n)
                try t.withUnsafeMutableBytes { try tri.readRow(row, into: $0) }
                let k = header.firstIndex + row
                for i in 0..<n {
                    if s[i] == 1 && f[i] == 0 { report("sample \(k): skin outside the foreground at pixel \(i)"); break }
                    if s[i] == 1 && a[i] == 0 { report("sample \(k): visible skin not in the amodal skin at pixel \(i)"); break }
                    if (f[i] == 1) != (d[i] > 0) { report("sample \(k): depth and foreground disagree at pixel \(i)"); break }
                    // A face id needs the foreground; a foreground pixel without one must be a strand.
                    if t[i] >= 0 && f[i] == 0 { report("sample \(k): triangle id outside the foreground at pixel \(i)"); break }
                    if f[i] == 1 && t[i] < 0 && !CorpusReader.strandClasses.contains(sg[i]) {
                        report("sample \(k): foreground pixel \(i) has neither a face nor a strand or accessory class"); break
                    }
                    if f[i] == 0 && sg[i] != 0 { report("sample \(k): labelled background pixel \(i)"); break }
                    if sg[i] > 18 && sg[i] != 255 { report("sample \(k): unknown class \(sg[i]) at pixel \(i)"); break }
                    if f[i] == 1 {
                        let len = (nm[3 * i] * nm[3 * i] + nm[3 * i + 1] * nm[3 * i + 1] + nm[3 * i + 2] * nm[3 * i + 2]).squareRoot()
                        if !(abs(len - 1) < 0.01) { report("sample \(k): normal of length \(len) at pixel \(i)"); break }
                        if !(u[2 * i] >= ub[0] - 2e-3 && u[2 * i] <= ub[2] + 2e-3 && u[2 * i + 1] >= ub[1] - 2e-3 && u[2 * i + 1] <= ub[3] + 2e-3) {
                            report("sample \(k): UV \(u[2 * i]), \(u[2 * i + 1]) outside the atlas \(ub) at pixel \(i)"); break
                        }
                    }
                }
                if try lm.readRowFloat(row).contains(where: { !$0.isFinite }) { report("sample \(k): non-finite landmarks") }
            }
        } catch {
            report("\(error)")
        }
        return problems
    }
}
