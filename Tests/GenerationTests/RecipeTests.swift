import XCTest
import Rendering
import TestSupport
@testable import Generation

final class RecipeTests: XCTestCase {
    func testShippedRecipesParse() throws {
        for name in ["quickstart", "in_the_wild", "multi_view"] {
            let r = try Recipe.load(path: TestPaths.root.appendingPathComponent("Recipes/\(name).yaml").path)
            XCTAssertEqual(r.name, name)
        }
        let mv = try Recipe.load(path: TestPaths.root.appendingPathComponent("Recipes/multi_view.yaml").path)
        XCTAssertEqual(mv.rig, .multiView)
        XCTAssertEqual(mv.cameras, 13)
        XCTAssertEqual(mv.rigFocalMM, 85)
        let wild = try Recipe.load(path: TestPaths.root.appendingPathComponent("Recipes/in_the_wild.yaml").path)
        XCTAssertGreaterThan(wild.hairStyles["short"] ?? 0, 0)
        XCTAssertGreaterThan(wild.beardProbability, 0)
        XCTAssertEqual(wild.strandBrowProbability, 1)
        XCTAssertEqual(Recipe().hairStyles, ["none": 1], "hair is off unless a recipe asks for it")
        XCTAssertGreaterThan(wild.glassesProbability, 0); XCTAssertGreaterThan(wild.headwearProbability, 0)
        XCTAssertGreaterThan(wild.clothingProbability, 0); XCTAssertGreaterThan(wild.facewearProbability, 0)
        let quick = try Recipe.load(path: TestPaths.root.appendingPathComponent("Recipes/quickstart.yaml").path)
        XCTAssertEqual([quick.glassesProbability, quick.headwearProbability, quick.facewearProbability, quick.clothingProbability, quick.earringProbability],
                       [0, 0, 0, 0, 0], "the quickstart stays fast: no accessories")
        let r = try Recipe.parse("accessories:\n  glasses: {probability: 0.3, styles: {round: 1}, sunglasses_probability: 0.5, thickness_mm: [2, 3], colors: {gold: 1}}\n  headwear: {probability: 0.2, styles: {beanie: 1}}\n  fabric_saturation: [0.1, 0.2]\n", file: "a.yaml")
        XCTAssertEqual(r.glassesProbability, 0.3); XCTAssertEqual(r.glassesStyles, ["round": 1]); XCTAssertEqual(r.glassesThicknessMM, UniformRange(2, 3))
        XCTAssertEqual(r.frameColors, ["gold": 1]); XCTAssertEqual(r.headwearStyles, ["beanie": 1]); XCTAssertEqual(r.fabricSaturation, UniformRange(0.1, 0.2))
    }

    func testValuesAndDefaults() throws {
        let r = try Recipe.parse("image: {width: 64, height: 48}\nrig: {focal_mm: [30, 40], yaw: 10}\nappearance: {melanin: 0.3}\n", file: "r.yaml")
        XCTAssertEqual(r.width, 64); XCTAssertEqual(r.height, 48)
        XCTAssertEqual(r.focalMM, UniformRange(30, 40)); XCTAssertEqual(r.yaw, 10)
        XCTAssertEqual(r.melanin, UniformRange(0.3, 0.3))
        XCTAssertEqual(r.samplesPerPixel, Recipe().samplesPerPixel)
        XCTAssertEqual(r.renderSettings().shadingSamples, 0)
        let capped = try Recipe.parse("image: {samples_per_pixel: 16, shading_samples: 8}\n", file: "r.yaml")
        XCTAssertEqual(capped.renderSettings(threads: 2), { var s = RenderSettings(samplesPerPixel: 16, threads: 2); s.shadingSamples = 8; return s }())
    }

    func testErrorsNameFileLineAndKey() {
        func check(_ yaml: String, _ fragments: [String], line: Int? = nil, file: StaticString = #filePath, l: UInt = #line) {
            XCTAssertThrowsError(try Recipe.parse(yaml, file: "bad.yaml"), file: file, line: l) { e in
                let text = "\(e)"
                for f in fragments { XCTAssertTrue(text.contains(f), "'\(text)' lacks '\(f)'", file: file, line: l) }
                if let line { XCTAssertEqual((e as? RecipeError)?.line, line, text, file: file, line: l) }
            }
        }
        check("name: x\nrig:\n  kind: in_the_wild\n  yawn: 3\n", ["bad.yaml:4", "rig.yawn", "unknown key"], line: 4)
        check("image:\n  width: -5\n", ["bad.yaml:2", "image.width", "outside"], line: 2)
        check("image:\n  width: lots\n", ["image.width", "whole number"])
        check("image:\n  shading_samples: -2\n", ["bad.yaml:2", "image.shading_samples", "outside"], line: 2)
        check("rig: {focal_mm: [50, 20]}\n", ["rig.focal_mm", "min > max"])
        check("rig: {kind: orbit}\n", ["rig.kind", "orbit"])
        check("lighting: {environments: {studio: 0}}\n", ["lighting.environments", "zero"])
        check("output: {gzip: {rgbx: 1}}\n", ["output.gzip.rgbx", "unknown key"])
        check("image: [1, 2\n", ["bad.yaml", "not valid YAML"])
        check("- a\n- b\n", ["expected a mapping"])
        check("hair:\n  styles: {mohawk: 1}\n", ["bad.yaml:2", "hair.styles.mohawk", "unknown key"], line: 2)
        check("beard: {probability: 2}\n", ["beard.probability", "outside"])
        check("eyebrows:\n  strand_probability: 0.5\n  count: 3\n", ["bad.yaml:3", "eyebrows.count", "unknown key"], line: 3)
        check("accessories:\n  glasses:\n    probability: 0.2\n    shape: round\n", ["bad.yaml:4", "accessories.glasses.shape", "unknown key"], line: 4)
        check("accessories:\n  headwear: {styles: {fez: 1}}\n", ["bad.yaml:2", "accessories.headwear.styles.fez", "unknown key"], line: 2)
        check("accessories:\n  facewear:\n    probability: 1.5\n", ["bad.yaml:3", "accessories.facewear.probability", "outside"], line: 3)
        check("accessories:\n  glasses: {thickness_mm: [6, 2]}\n", ["accessories.glasses.thickness_mm", "min > max"])
        check("accessories:\n  scarf: {probability: 1}\n", ["bad.yaml:2", "accessories.scarf", "unknown key"], line: 2)
        check("accessories:\n  fabric_brightness: bright\n", ["accessories.fabric_brightness", "expected"])
        check("eyelashes:\n  length: [0.01, 0.2]\n", ["bad.yaml:2", "eyelashes.length", "outside"], line: 2)
        check("lighting: {key_fill_ratio: [5, 2]}\n", ["lighting.key_fill_ratio", "min > max"])
        check("background: {kinds: {black: 1}}\n", ["background.kinds.black", "unknown key"])
        XCTAssertThrowsError(try Recipe.load(path: "/nonexistent/r.yaml")) { e in XCTAssertTrue("\(e)".contains("/nonexistent/r.yaml")) }
    }
}
