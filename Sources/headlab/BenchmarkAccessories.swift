import Foundation
import Generation
import HeadModels
import Rendering

extension Benchmark.Render {
    /// Accessories' cost: the hairless scene with and without glasses, headwear, facewear,
    /// clothing and earrings on every subject (same heads, cameras and lights), rendered
    /// interleaved so machine load affects both alike; prints both rates, their ratio and the
    /// fitting + BVH time.
    func accessoryLine(_ m: HeadModel, size: Int) throws {
        var plain = try Recipe.parse("image: {width: \(size), height: \(size), samples_per_pixel: \(spp)}\n", file: "benchmark")
        plain.cropProbability = 0
        var dressed = plain
        dressed.glassesProbability = 1; dressed.headwearProbability = 1; dressed.facewearProbability = 1
        dressed.clothingProbability = 1; dressed.earringProbability = 1
        let a = try Generator(recipe: plain, model: m, seed: 1), b = try Generator(recipe: dressed, model: m, seed: 1)
        let film = Film(width: size, height: size)
        _ = try b.render(b.spec(0), into: film, threads: threads)
        var plainSeconds = 0.0, dressedSeconds = 0.0, plainCover = 0.0, dressedCover = 0.0
        func cover() -> Double { Double(film.coverage.reduce(0) { $0 + Int($1) }) / (255 * Double(size * size)) }
        for k in 0..<images {
            var t0 = Date()
            _ = try a.render(a.spec(k), into: film, threads: threads)
            plainSeconds += Date().timeIntervalSince(t0); plainCover += cover()
            t0 = Date()
            _ = try b.render(b.spec(k), into: film, threads: threads)
            dressedSeconds += Date().timeIntervalSince(t0); dressedCover += cover()
        }
        let spec = b.spec(0)
        let t0 = Date()
        let scene = try HeadScene(device: EmbreeDevice(), model: m, labels: b.labels, posed: m.pose(spec.parameters), global: spec.parameters.global,
                                  accessories: spec.accessories)
        let build = Date().timeIntervalSince(t0)
        let triangles = scene.accessories.meshes.map(\.triangles.count).reduce(0, +)
        // Clothing turns much of the background into shaded foreground: report both fractions.
        print(String(format: "%4d²  %5.2f images/s with accessories (all kinds, %d triangles) vs %5.2f without (ratio %.2f; foreground %.0f%% vs %.0f%% of pixels) | scene build with fitting %.1f ms",
                     size, Double(images) / dressedSeconds, triangles, Double(images) / plainSeconds, plainSeconds / dressedSeconds,
                     100 * dressedCover / Double(images), 100 * plainCover / Double(images), build * 1000))
    }
}
