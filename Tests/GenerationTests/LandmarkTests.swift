import XCTest
import TestSupport
import Geometry
import HeadModels
import Rendering
@testable import Generation

/// Landmarks must land on the parts they name in the rendered segmentation (the built-in model).
final class LandmarkPartTests: XCTestCase {
    func testVisibleLandmarksProjectOntoTheirParts() throws {
        let model = try MakeHumanImporter.load(assets: try TestPaths.makeHumanAssets())
        var recipe = try Recipe.parse("image: {width: 192, height: 192, samples_per_pixel: 1}\nrig: {yaw: 25, pitch: 10, roll: 5, fill: [0.7, 0.8], framing_jitter: 0.02}\n", file: "t")
        recipe.cropProbability = 0
        let g = try Generator(recipe: recipe, model: model, seed: 21)
        let film = Film(width: 192, height: 192)
        var checked = 0, matched = 0
        var failures: [String] = []
        for k in 0..<4 {
            let spec = g.spec(k)
            let lm = try g.render(spec, into: film)
            func classes(near p: SIMD2<Float>, radius: Int = 2) -> Set<SegmentationClass> {
                var out = Set<SegmentationClass>()
                for dy in -radius...radius { for dx in -radius...radius {
                    let x = Int(p.x) + dx, y = Int(p.y) + dy
                    if x >= 0, y >= 0, x < film.width, y < film.height { out.insert(SegmentationClass(rawValue: film.segmentation[y * film.width + x])!) }
                } }
                return out
            }
            for i in 0..<68 where lm.visible[i] {
                let expected: Set<SegmentationClass>
                switch i {
                case 0...16: expected = [.skin, .neck, .background, .leftEar, .rightEar]   // the jaw contour
                case 17...21: expected = [.rightBrow]
                case 22...26: expected = [.leftBrow]
                case 27...35: expected = [.nose]
                case 36...41: expected = [.rightEye]
                case 42...47: expected = [.leftEye]
                default: expected = [.upperLip, .lowerLip, .mouthInterior]
                }
                checked += 1
                if !classes(near: lm.pixels[i]).isDisjoint(with: expected) { matched += 1 } else { failures.append("sample \(k) landmark \(i)") }
            }
        }
        XCTAssertGreaterThan(checked, 150)
        // Allow a few misses where a landmark sits on a part's boundary.
        XCTAssertGreaterThan(Double(matched) / Double(checked), 0.95, "\(failures)")
    }
}
