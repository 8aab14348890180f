import XCTest
import TestSupport
@testable import Imaging

final class PNGTests: XCTestCase {
    func testRoundTripRGBAndGray() throws {
        let dir = TestPaths.temporaryDirectory(self)
        var img = Image8(width: 7, height: 5, channels: 3)
        for i in img.pixels.indices { img.pixels[i] = UInt8((i * 37) % 256) }
        let path = dir.appendingPathComponent("a.png").path
        try img.writePNG(path: path)
        XCTAssertEqual(try Image8.readPNG(path: path, channels: 3), img)
        var gray = Image8(width: 3, height: 2, channels: 1)
        gray.pixels = [0, 50, 100, 150, 200, 255]
        try gray.writePNG(path: path)
        XCTAssertEqual(try Image8.readPNG(path: path, channels: 1), gray)
    }

    func testTruncatedPNGIsAnError() throws {
        let dir = TestPaths.temporaryDirectory(self)
        var img = Image8(width: 64, height: 64, channels: 3)
        for i in img.pixels.indices { img.pixels[i] = UInt8.random(in: 0...255) }
        let path = dir.appendingPathComponent("t.png").path
        try img.writePNG(path: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Image8.readPNG(path: path)) { e in XCTAssertTrue("\(e)".contains(path)) }
        XCTAssertThrowsError(try img.writePNG(path: "/nonexistent-dir/x.png")) { e in XCTAssertTrue("\(e)".contains("/nonexistent-dir/x.png")) }
    }
}
