import Foundation
import Imaging
import Rendering

/// Contact sheets: one row per sample with RGB, segmentation colours, camera normals, UV and the
/// visible-skin overlay, each panel downscaled (nearest) to `panel` pixels.
public enum ContactSheet {
    public static let panels = ["rgb", "segmentation", "normals", "uv", "skin"]

    public static func render(reader: CorpusReader, maxRows: Int = 8, panel: Int = 160) throws -> Image8 {
        let h = reader.header.height, w = reader.header.width
        let rows = (0..<reader.header.rows).filter { reader.completeRows[$0] }.prefix(maxRows)
        let scale = Float(max(h, w)) / Float(panel)
        let ph = max(1, Int(Float(h) / scale)), pw = max(1, Int(Float(w) / scale))
        var sheet = Image8(width: pw * panels.count, height: max(1, ph * rows.count), channels: 3)
        let rgb = try reader.dataset("rgb"), seg = try reader.dataset("segmentation"), nrm = try reader.dataset("normals_camera")
        let uv = try reader.dataset("uv"), skin = try reader.dataset("skin_visible"), fg = try reader.dataset("foreground")
        for (r, row) in rows.enumerated() {
            let c = try rgb.readRowBytes(row), s = try seg.readRowBytes(row), n = try nrm.readRowFloat(row)
            let t = try uv.readRowFloat(row), k = try skin.readRowBytes(row), f = try fg.readRowBytes(row)
            for y in 0..<ph { for x in 0..<pw {
                let sx = min(w - 1, Int(Float(x) * scale)), sy = min(h - 1, Int(Float(y) * scale)), i = sy * w + sx
                let base = SIMD3<Int>(Int(c[3 * i]), Int(c[3 * i + 1]), Int(c[3 * i + 2]))
                let cls = SegmentationClass(rawValue: s[i]) ?? .ignore
                let segColor = SIMD3<Int>(Int(cls.color.x), Int(cls.color.y), Int(cls.color.z))
                let normal = f[i] == 1 ? SIMD3<Int>(Int((n[3 * i] * 0.5 + 0.5) * 255), Int((-n[3 * i + 1] * 0.5 + 0.5) * 255), Int((-n[3 * i + 2] * 0.5 + 0.5) * 255)) : .zero
                let uvColor = f[i] == 1 ? SIMD3<Int>(Int(t[2 * i] * 255), Int(t[2 * i + 1] * 255), 64) : .zero
                let overlay = k[i] == 1 ? (base &* 2 &+ SIMD3(0, 255, 0)) / 3 : base / 2
                for (p, col) in [base, segColor, normal, uvColor, overlay].enumerated() {
                    let o = 3 * ((r * ph + y) * sheet.width + p * pw + x)
                    sheet.pixels[o] = UInt8(clamping: col.x); sheet.pixels[o + 1] = UInt8(clamping: col.y); sheet.pixels[o + 2] = UInt8(clamping: col.z)
                }
            } }
        }
        return sheet
    }

    /// Writes `<corpus>.preview.png` next to the corpus and returns its path.
    @discardableResult
    public static func write(corpus path: String, maxRows: Int = 8) throws -> String {
        let reader = try CorpusReader(path: path)
        defer { reader.close() }
        let out = (path.hasSuffix(".h5") ? String(path.dropLast(3)) : path) + ".preview.png"
        try render(reader: reader, maxRows: maxRows).writePNG(path: out)
        return out
    }
}
