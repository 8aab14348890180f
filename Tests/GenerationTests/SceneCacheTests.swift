import XCTest
import TestSupport
import HeadModels
import Corpus
import Rendering
@testable import Generation

/// The views of a multi-view subject share one scene (pose, groom, BVH), and reusing it changes
/// no byte: a shard that starts in the middle of a subject builds the scene afresh and must give
/// the rows of an unsharded run.
final class SceneCacheTests: XCTestCase {
    func testViewsOfASubjectShareTheSceneAndShardsStillMatch() throws {
        var m = CorpusGenerationTests.model
        for f in 0..<m.triangleCount {
            var c = SIMD3<Float>.zero
            for k in 0..<3 { c += m.template.vec3(Int(m.triangles[3 * f + k])) / 3 }
            if c.y > 0.05 { m.faceRegions[f] = Region.scalp.rawValue }
        }
        let recipe = try Recipe.parse("""
        image: {width: 32, height: 32, samples_per_pixel: 2}
        rig: {kind: multi_view, cameras: 3}
        hair: {styles: {medium: 1}, strands: 800}
        """, file: "mv.yaml")
        let g = try Generator(recipe: recipe, model: m, seed: 2)
        let film = Film(width: 32, height: 32)
        for k in 0..<6 { _ = try g.render(g.spec(k), into: film, threads: 1) }
        XCTAssertEqual(g.scenesBuilt, 2, "two subjects of three views")

        let dir = TestPaths.temporaryDirectory(self)
        let whole = dir.appendingPathComponent("whole.h5").path
        var j = CorpusJob(recipe: recipe, model: m, count: 6, output: whole, seed: 2)
        j.headlabVersion = "test"
        try j.run()
        let shard = dir.appendingPathComponent("shard.h5").path   // rows 1...2: starts at view 1
        var js = CorpusJob(recipe: recipe, model: m, count: 6, output: shard, seed: 2)
        js.headlabVersion = "test"; js.shard = (1, 4)
        try js.run()
        let a = try CorpusReader(path: whole), b = try CorpusReader(path: shard)
        defer { a.close(); b.close() }
        XCTAssertEqual(b.header.firstIndex, 1)
        var hair = 0
        for name in ["rgb", "segmentation", "depth", "hair_coverage"] {
            for row in 0..<b.header.rows {
                let bytes = try b.dataset(name).readRowBytes(row)
                XCTAssertEqual(try a.dataset(name).readRowBytes(row + 1), bytes, "\(name) sample \(row + 1)")
                if name == "segmentation" { hair += bytes.filter { $0 == SegmentationClass.hair.rawValue }.count }
            }
        }
        XCTAssertGreaterThan(hair, 0, "the subjects have hair")
    }
}
