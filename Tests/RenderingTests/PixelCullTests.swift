import XCTest
import TestSupport
import Geometry
import HeadModels
@testable import Rendering

/// `PixelCull` skips Embree for pixels that cannot see the scene: the image must be the same bits
/// as tracing every pixel, and the cull must actually skip pixels.
final class PixelCullTests: XCTestCase {
    static let model = TestModels.sphere(radius: 0.1)

    func scene() throws -> HeadScene {
        let m = Self.model
        return try HeadScene(device: EmbreeDevice(), model: m, labels: HeadLabelTable(model: m), posed: m.pose(.neutral(for: m)), global: .identity)
    }

    func render(_ scene: HeadScene, camera: Camera, background: Background.Kind, culling: Bool) -> Film {
        var l = Lighting()
        l.environment.blobs = [Environment.Blob(direction: SIMD3(0.3, 0.8, 0.5), color: SIMD3(4, 3, 2), sharpness: 200),
                               Environment.Blob(direction: SIMD3(-0.5, 0.2, 0.8), color: SIMD3(0.5, 0.6, 0.9), sharpness: 4)]
        l.lights = [Light(position: SIMD3(0.5, 0.5, 1), color: SIMD3(repeating: 2), radius: 0.05)]
        var bg = Background(); bg.kind = background
        var settings = RenderSettings(samplesPerPixel: 5, threads: 2)
        settings.pixelCulling = culling
        let film = Film(width: camera.width, height: camera.height)
        Integrator(appearance: Appearance(), lighting: l, background: bg, effects: CameraEffects(), settings: settings)
            .render(scene, camera: camera, seed: 9, into: film)
        return film
    }

    func assertSameImage(_ a: Film, _ b: Film, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.radiance, b.radiance, "radiance", file: file, line: line)
        XCTAssertEqual(a.rgb, b.rgb, "rgb", file: file, line: line)
        XCTAssertEqual(a.coverage, b.coverage, "coverage", file: file, line: line)
        XCTAssertEqual(a.segmentation, b.segmentation, "segmentation", file: file, line: line)
        XCTAssertEqual(a.depth, b.depth, "depth", file: file, line: line)
        XCTAssertEqual(a.normalsCamera, b.normalsCamera, "normals", file: file, line: line)
        XCTAssertEqual(a.skinAmodal, b.skinAmodal, "skin_amodal", file: file, line: line)
    }

    /// Fraction of pixels the cull skips, and whether every pixel with coverage was kept.
    func culled(_ scene: HeadScene, _ camera: Camera, coverage: [UInt8]) -> (fraction: Double, keepsAllCoverage: Bool) {
        let cull = PixelCull(scene: scene, camera: camera)
        var skipped = 0, keeps = true
        for y in 0..<camera.height { for x in 0..<camera.width {
            let (_, d) = camera.ray(u: Float(x) + 0.5, v: Float(y) + 0.5)
            if !cull.mayHit(x: x, y: y, direction: d) {
                skipped += 1
                if coverage[y * camera.width + x] != 0 { keeps = false }
            }
        } }
        return (Double(skipped) / Double(camera.width * camera.height), keeps)
    }

    func testCulledImagesAreTheSameBitsForEveryBackgroundAndCullMostOfTheBackground() throws {
        let s = try scene()
        // The sphere fills about a tenth of the frame: most pixels are background.
        let camera = Camera.lookAt(eye: SIMD3(0.1, 0.05, 1.2), target: SIMD3(0.02, 0, 0), width: 64, height: 48, fx: 90)
        for kind in Background.Kind.allCases {
            let traced = render(s, camera: camera, background: kind, culling: false)
            let fast = render(s, camera: camera, background: kind, culling: true)
            assertSameImage(traced, fast)
            if kind == .gradient {
                let c = culled(s, camera, coverage: traced.coverage)
                XCTAssertGreaterThan(c.fraction, 0.5, "the cull should skip most background pixels")
                XCTAssertTrue(c.keepsAllCoverage, "a pixel some sample of which hits the sphere was culled")
            }
        }
    }

    func testStrongDistortionAndGrazingPixelsStayExact() throws {
        let s = try scene()
        // Barrel distortion and a tight frame: the sphere's silhouette crosses many pixels, where
        // only some of a pixel's samples hit.
        var camera = Camera.lookAt(eye: SIMD3(0, 0, 0.45), target: .zero, width: 40, height: 40, fx: 30)
        camera.distortion = SIMD4(-0.2, 0.03, 0.002, -0.001)
        let traced = render(s, camera: camera, background: .environment, culling: false)
        let fast = render(s, camera: camera, background: .environment, culling: true)
        assertSameImage(traced, fast)
        let c = culled(s, camera, coverage: traced.coverage)
        XCTAssertTrue(c.keepsAllCoverage)
        XCTAssertGreaterThan(c.fraction, 0.05)
    }

    /// The screen-tile test of a pinhole camera: exact with long, thin strands reaching over the
    /// frame (their projected radius matters), and it culls background inside the scene box.
    func testScreenTilesStayExactWithHairAndCullInsideTheBox() throws {
        var groom = Groom()
        groom.style = .long; groom.strands = 600; groom.length = 0.25; groom.seed = 11; groom.frizz = 0.6; groom.gravity = 0.6
        let m = HairTests.model
        let s = try HeadScene(device: EmbreeDevice(), model: m, labels: HeadLabelTable(model: m), posed: m.pose(.neutral(for: m)), global: .identity, groom: groom)
        let camera = Camera.lookAt(eye: SIMD3(0.25, 0.1, 0.5), target: SIMD3(0, -0.05, 0), width: 64, height: 64, fx: 70)
        let cull = PixelCull(scene: s, camera: camera)
        XCTAssertFalse(cull.tiles.isEmpty, "a pinhole camera in front of everything uses screen tiles")
        let traced = render(s, camera: camera, background: .gradient, culling: false)
        let fast = render(s, camera: camera, background: .gradient, culling: true)
        assertSameImage(traced, fast)
        XCTAssertEqual(traced.hairCoverage, fast.hairCoverage)
        let c = culled(s, camera, coverage: traced.coverage)
        XCTAssertTrue(c.keepsAllCoverage)
        // The bare sphere seen close up: its box covers the frame, the tiles do not.
        let sphere = try scene()
        let close = Camera.lookAt(eye: SIMD3(0, 0, 0.3), target: .zero, width: 48, height: 48, fx: 60)
        let bare = render(sphere, camera: close, background: .noise, culling: false)
        assertSameImage(bare, render(sphere, camera: close, background: .noise, culling: true))
        var boxOnly = PixelCull(scene: sphere, camera: close)
        let withTiles = culled(sphere, close, coverage: bare.coverage)
        XCTAssertTrue(withTiles.keepsAllCoverage)
        boxOnly.dropTiles()
        var boxCulled = 0
        for y in 0..<48 { for x in 0..<48 where !boxOnly.mayHit(x: x, y: y, direction: close.ray(u: Float(x) + 0.5, v: Float(y) + 0.5).direction) { boxCulled += 1 } }
        XCTAssertGreaterThan(withTiles.fraction, Double(boxCulled) / (48 * 48) + 0.05, "tiles cull the box's corners")
    }

    func testACameraInsideTheSceneBoundsCullsNothing() throws {
        let s = try scene()
        let camera = Camera.lookAt(eye: SIMD3(0, 0, 0.09), target: SIMD3(0, 0, 1), width: 16, height: 16, fx: 10)
        XCTAssertEqual(culled(s, camera, coverage: [UInt8](repeating: 0, count: 256)).fraction, 0)
    }
}

/// The shading-sample cap and the shadow-ray roulette change noise, never the expected image.
final class ShadingBudgetTests: XCTestCase {
    func render(shadingSamples: Int, spp: Int = 16, seed: UInt64 = 3) throws -> Film {
        let m = PixelCullTests.model
        let scene = try HeadScene(device: EmbreeDevice(), model: m, labels: HeadLabelTable(model: m), posed: m.pose(.neutral(for: m)), global: .identity)
        let camera = Camera.lookAt(eye: SIMD3(0.05, 0.03, 0.6), target: .zero, width: 48, height: 48, fx: 77)
        var l = Lighting()
        l.environment.blobs = [Environment.Blob(direction: SIMD3(-0.5, 0.2, 0.8), color: SIMD3(0.5, 0.6, 0.9), sharpness: 4)]
        l.lights = [Light(position: SIMD3(0.5, 0.5, 1), color: SIMD3(repeating: 2), radius: 0.05),
                    Light(position: SIMD3(-0.8, 0.1, 0.5), color: SIMD3(repeating: 0.05), radius: 0.1)]   // a dim fill: roulette
        var settings = RenderSettings(samplesPerPixel: spp, threads: 2)
        settings.shadingSamples = shadingSamples
        let film = Film(width: camera.width, height: camera.height)
        Integrator(appearance: Appearance(), lighting: l, background: Background(), effects: CameraEffects(), settings: settings)
            .render(scene, camera: camera, seed: seed, into: film)
        return film
    }

    func testCappedShadingKeepsLabelsAndCoverageAndTheMeanRadiance() throws {
        let full = try render(shadingSamples: 0), capped = try render(shadingSamples: 4)
        XCTAssertEqual(full.coverage, capped.coverage)
        XCTAssertEqual(full.segmentation, capped.segmentation)
        XCTAssertEqual(full.depth, capped.depth)
        XCTAssertNotEqual(full.radiance, capped.radiance, "the cap must shade fewer samples")
        // A cap at or above the samples per pixel shades everything: the same bits.
        XCTAssertEqual(try render(shadingSamples: 16).radiance, full.radiance)
        // The mean over the sphere agrees within 1 % (25k shaded samples against 6k).
        var a = 0.0, b = 0.0
        for i in 0..<(48 * 48) where full.coverage[i] == 255 {
            a += Double(full.radiance[3 * i + 1]); b += Double(capped.radiance[3 * i + 1])
        }
        XCTAssertGreaterThan(a, 0)
        XCTAssertEqual(b / a, 1, accuracy: 0.01)
    }

    func testShadowRayRouletteIsUnbiased() {
        var rng = SplitMix64(seed: 11)
        for c in [SIMD3<Float>(0.001, 0.002, 0.0005), SIMD3<Float>(0.01, 0.004, 0.02), SIMD3<Float>(0.5, 0.1, 0.2)] {
            var sum = SIMD3<Double>.zero, traced = 0
            let n = 200_000
            for _ in 0..<n {
                if let w = Integrator.rouletteWeight(c, &rng) {
                    sum += SIMD3<Double>(Double(w.x), Double(w.y), Double(w.z)); traced += 1
                }
            }
            let mean = sum / Double(n)
            for k in 0..<3 { XCTAssertEqual(mean[k] / Double(c[k]), 1, accuracy: 0.02, "channel \(k) of \(c)") }
            let y = 0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z
            if y < Integrator.rouletteThreshold { XCTAssertLessThan(traced, n, "dim rays must be culled") } else { XCTAssertEqual(traced, n) }
        }
        XCTAssertNil(Integrator.rouletteWeight(.zero, &rng))
    }
}
