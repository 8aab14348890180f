import XCTest
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
    }

    func testValuesAndDefaults() throws {
        let r = try Recipe.parse("image: {width: 64, height: 48}\nrig: {focal_mm: [30, 40], yaw: 10}\nappearance: {melanin: 0.3}\n", file: "r.yaml")
        XCTAssertEqual(r.width, 64); XCTAssertEqual(r.height, 48)
        XCTAssertEqual(r.focalMM, UniformRange(30, 40)); XCTAssertEqual(r.yaw, 10)
        XCTAssertEqual(r.melanin, UniformRange(0.3, 0.3))
        XCTAssertEqual(r.samplesPerPixel, Recipe().samplesPerPixel)
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
        check("rig: {focal_mm: [50, 20]}\n", ["rig.focal_mm", "min > max"])
        check("rig: {kind: orbit}\n", ["rig.kind", "orbit"])
        check("lighting: {environments: {studio: 0}}\n", ["lighting.environments", "zero"])
        check("output: {gzip: {rgbx: 1}}\n", ["output.gzip.rgbx", "unknown key"])
        check("image: [1, 2\n", ["bad.yaml", "not valid YAML"])
        check("- a\n- b\n", ["expected a mapping"])
        check("hair:\n  styles: {mohawk: 1}\n", ["bad.yaml:2", "hair.styles.mohawk", "unknown key"], line: 2)
        check("beard: {probability: 2}\n", ["beard.probability", "outside"])
        check("eyebrows:\n  strand_probability: 0.5\n  count: 3\n", ["bad.yaml:3", "eyebrows.count", "unknown key"], line: 3)
        check("eyelashes:\n  length: [0.01, 0.2]\n", ["bad.yaml:2", "eyelashes.length", "outside"], line: 2)
        check("lighting: {key_fill_ratio: [5, 2]}\n", ["lighting.key_fill_ratio", "min > max"])
        check("background: {kinds: {black: 1}}\n", ["background.kinds.black", "unknown key"])
        XCTAssertThrowsError(try Recipe.load(path: "/nonexistent/r.yaml")) { e in XCTAssertTrue("\(e)".contains("/nonexistent/r.yaml")) }
    }
}
