import _CPNG
import Foundation

public struct PNGError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// An 8-bit image, row-major, `channels` interleaved (1 gray, 3 RGB, 4 RGBA).
public struct Image8: Equatable, Sendable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]  // [height, width, channels]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]? = nil) {
        self.width = width; self.height = height; self.channels = channels
        self.pixels = pixels ?? [UInt8](repeating: 0, count: width * height * channels)
        precondition(self.pixels.count == width * height * channels, "pixel buffer is not [height, width, channels]")
    }

    /// libpng's simplified API (no longjmp). Writes to a temporary name, then renames.
    public func writePNG(path: String) throws {
        var image = png_image()
        image.version = headlab_png_image_version()
        image.width = UInt32(width); image.height = UInt32(height)
        image.format = channels == 4 ? headlab_png_format_rgba() : channels == 3 ? headlab_png_format_rgb() : headlab_png_format_gray()
        let tmp = URL(fileURLWithPath: path).deletingLastPathComponent()
            .appendingPathComponent(".\(URL(fileURLWithPath: path).lastPathComponent).tmp-\(getpid())").path
        let ok = pixels.withUnsafeBytes { png_image_write_to_file(&image, tmp, 0, $0.baseAddress, Int32(width * channels), nil) }
        guard ok != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            try? FileManager.default.removeItem(atPath: tmp)
            throw PNGError(path: path, reason: "cannot write PNG: \(message)")
        }
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch { throw PNGError(path: path, reason: "cannot rename into place: \(error.localizedDescription)") }
    }

    /// Reads any PNG, converted to the requested channel count.
    public static func readPNG(path: String, channels: Int = 3) throws -> Image8 {
        var image = png_image()
        image.version = headlab_png_image_version()
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            throw PNGError(path: path, reason: "not a readable PNG: \(message)")
        }
        image.format = channels == 4 ? headlab_png_format_rgba() : channels == 3 ? headlab_png_format_rgb() : headlab_png_format_gray()
        var out = Image8(width: Int(image.width), height: Int(image.height), channels: channels)
        let ok = out.pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(out.width * channels), nil) }
        guard ok != 0 else {
            let message = withUnsafeBytes(of: image.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            png_image_free(&image)
            throw PNGError(path: path, reason: "truncated or corrupt PNG: \(message)")
        }
        return out
    }
}
