import ArgumentParser
import Corpus
import Foundation
import Generation
import HeadModels
import Rendering

struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure rendering and corpus writing, next to bare Embree on the same scene (release builds only mean anything).",
        subcommands: [Render.self, NN.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Images/s at 256² and 512² (16 spp, all labels), rays/s vs bare Embree, HDF5 share, BVH build, peak memory.")
        @Option(help: "Model file (default: the built-in MakeHuman model).") var model: String?
        @Option(parsing: .upToNextOption, help: "Image sizes, e.g. --sizes 256 512.") var sizes: [Int] = [256, 512]
        @Option(help: "Samples per pixel.") var spp: Int = 16
        @Option(help: "Images per size.") var images: Int = 6
        @Option(help: "Threads (0 = one per core).") var threads: Int = 0
        @Option(help: "Scalp strands of the hair-heavy scene.") var hairStrands: Int = 60000
        @Flag(help: "Only the hairless line per size (no hair, accessory or corpus lines).") var hairlessOnly = false
        @Option(help: "Also measure image noise on this many images per size: RMS difference (sRGB levels, skin) from a 256-spp render.") var noise = 0

        func run() throws {
            try runReportingErrors {
                let m = try loadModel(model ?? DefaultPaths.defaultModel)
                print("model \(m.name): \(m.vertexCount) vertices, \(m.triangleCount) triangles; threads \(threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads)")
                for size in sizes {
                    var recipe = try Recipe.parse("image: {width: \(size), height: \(size), samples_per_pixel: \(spp)}\n", file: "benchmark")
                    recipe.cropProbability = 0
                    let g = try Generator(recipe: recipe, model: m, seed: 1)
                    let film = Film(width: size, height: size)
                    _ = try g.render(g.spec(images), into: film, threads: threads)  // warm-up (another subject: no cached scene)
                    var seconds = 0.0, rays = 0.0, cpu = 0.0, hits = 0.0, lights = 0
                    for k in 0..<images {
                        let spec = g.spec(k)
                        let t0 = Date(), c0 = cpuSeconds()
                        _ = try g.render(spec, into: film, threads: threads)
                        seconds += Date().timeIntervalSince(t0); cpu += cpuSeconds() - c0
                        let hit = Double(film.coverage.reduce(0) { $0 + Int($1) }) / (255 * Double(size * size))
                        hits += hit; lights += spec.lighting.lights.count
                        rays += Integrator(appearance: spec.appearance, lighting: spec.lighting, background: spec.background,
                                           effects: spec.effects, settings: RenderSettings(samplesPerPixel: spp))
                            .raysPerImage(width: size, height: size, hitFraction: hit)
                    }
                    // Bare Embree on sample 0's scene and camera.
                    let spec = g.spec(0)
                    let t0 = Date()
                    let scene = try HeadScene(device: EmbreeDevice(), model: m, labels: g.labels, posed: m.pose(spec.parameters), global: spec.parameters.global)
                    let build = Date().timeIntervalSince(t0)
                    let single = EmbreeReference.primaryRays(scene, camera: spec.camera, threads: threads, packets: false)
                    let packet = EmbreeReference.primaryRays(scene, camera: spec.camera, threads: threads, packets: true)
                    let pipeline = rays / seconds
                    print(String(format: "%4d²  %5.2f images/s (%.2f CPU s/image: %.2f images/s on %d idle cores)  pipeline %5.1f Mrays/s | bare Embree primary: %5.1f Mrays/s single, %5.1f Mrays/s 16-wide (pipeline/packets %.2f) | scene build (pose+BVH) %.1f ms",
                                 size, Double(images) / seconds, cpu / Double(images), Double(workers) * Double(images) / cpu, workers,
                                 pipeline / 1e6, single.raysPerSecond / 1e6, packet.raysPerSecond / 1e6, pipeline / packet.raysPerSecond, build * 1000))
                    print(String(format: "      (scenes: %.1f%% of samples hit the head, %.1f lights on average)", 100 * hits / Double(images), Double(lights) / Double(images)))
                    if noise > 0 { try noiseLine(m, size: size) }
                    if hairlessOnly { continue }
                    try hairLine(m, size: size)
                    try accessoryLine(m, size: size)
                }
                if hairlessOnly { return }
                // Corpus writing share and memory: a small corpus at the first size.
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("headlab-bench-\(getpid())")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                let size = sizes.first ?? 256
                var recipe = try Recipe.parse("image: {width: \(size), height: \(size), samples_per_pixel: \(spp)}\noutput: {gzip: {rgb: 1, segmentation: 1, skin_visible: 1, skin_amodal: 1, foreground: 1, coverage: 1}}\n", file: "benchmark")
                recipe.cropProbability = 0
                for count in [images, 2 * images] {
                    var job = CorpusJob(recipe: recipe, model: m, count: count, output: dir.appendingPathComponent("c\(count).h5").path, seed: 1)
                    job.threads = threads
                    let report = try job.run()
                    print(String(format: "corpus of %d at %d²: %.2f images/s, HDF5 writing %.1f%% of wall time, peak memory %.0f MiB",
                                 count, size, Double(report.rendered) / report.seconds, 100 * report.writeSeconds / report.seconds, peakMemoryMiB()))
                }
            }
        }
    }
}

extension Benchmark.Render {
    /// The same measurement on a hair-heavy scene: `hairStrands` scalp strands (medium length),
    /// a full beard and strand brows on every subject.
    func hairLine(_ m: HeadModel, size: Int) throws {
        var recipe = try Recipe.parse("image: {width: \(size), height: \(size), samples_per_pixel: \(spp)}\n", file: "benchmark")
        recipe.cropProbability = 0
        recipe.hairStyles = ["medium": 1]; recipe.hairStrands = hairStrands; recipe.hairDensity = UniformRange(1, 1)
        recipe.beardProbability = 1; recipe.beardStyles = ["full": 1]; recipe.strandBrowProbability = 1
        let g = try Generator(recipe: recipe, model: m, seed: 1)
        let film = Film(width: size, height: size)
        _ = try g.render(g.spec(images), into: film, threads: threads)  // warm-up (another subject: no cached scene)
        var seconds = 0.0, cpu = 0.0
        for k in 0..<images {
            let spec = g.spec(k)
            let t0 = Date(), c0 = cpuSeconds()
            _ = try g.render(spec, into: film, threads: threads)
            seconds += Date().timeIntervalSince(t0); cpu += cpuSeconds() - c0
        }
        let spec = g.spec(0)
        let t0 = Date()
        let scene = try HeadScene(device: EmbreeDevice(), model: m, labels: g.labels, posed: m.pose(spec.parameters), global: spec.parameters.global,
                                  groom: spec.groom)
        let build = Date().timeIntervalSince(t0)
        let strands = scene.strands.map(\.strandCount).reduce(0, +), segments = scene.strands.map(\.segments.count).reduce(0, +)
        print(String(format: "%4d²  %5.2f images/s (%.2f CPU s/image: %.2f images/s on %d idle cores) with hair: %d strands (%d scalp), %d segments | scene build %.1f ms (growing %.1f ms, BVH with strands %.1f ms)",
                     size, Double(images) / seconds, cpu / Double(images), Double(workers) * Double(images) / cpu, workers, strands, scene.strands[0].strandCount, segments, build * 1000,
                     scene.growSeconds * 1000, scene.strandBVHSeconds * 1000))
    }
}

extension Benchmark.Render {
    /// Image noise of the benchmark's renders (a guard for speed work: a faster renderer must not
    /// be a noisier one): on the hairless benchmark heads with camera effects off (no sensor
    /// noise, blur or compression), the RMS difference of 8-bit sRGB values from a 256-spp render
    /// of the same head, over pixels whose centre is visible skin and that are fully covered.
    func noiseLine(_ m: HeadModel, size: Int) throws {
        func generator(spp: Int) throws -> Generator {
            var recipe = try Recipe.parse("image: {width: \(size), height: \(size), samples_per_pixel: \(spp)}\n", file: "benchmark")
            recipe.cropProbability = 0
            return try Generator(recipe: recipe, model: m, seed: 1)
        }
        let reference = try generator(spp: 256), g = try generator(spp: spp)
        let film = Film(width: size, height: size), truth = Film(width: size, height: size)
        var squares = 0.0, pixels = 0
        for k in 0..<noise {
            var spec = reference.spec(k)
            spec.effects.noiseSigma = 0; spec.effects.blurRadius = 0; spec.effects.compressionQuality = 0
            _ = try reference.render(spec, into: truth, threads: threads)
            _ = try g.render(spec, into: film, threads: threads)
            for p in 0..<(size * size) where truth.skinVisible[p] == 1 && truth.coverage[p] == 255 {
                pixels += 1
                for c in 0..<3 { let d = Double(film.rgb[3 * p + c]) - Double(truth.rgb[3 * p + c]); squares += d * d }
            }
        }
        print(String(format: "%4d²  noise: %.2f sRGB levels RMS on skin against 256 spp (%d images, camera effects off)",
                     size, (squares / Double(max(1, 3 * pixels))).squareRoot(), noise))
    }
}


extension Benchmark.Render {
    /// Render workers (the `--threads` option, 0 = one per core).
    var workers: Int { threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount }
}

/// User + system CPU seconds of this process so far. On a machine shared with other jobs the
/// wall-clock rate depends on their load; CPU seconds per image (and the rate on idle cores
/// they imply, `workers / (CPU s per image)`, assuming the tiles scale) hardly do.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

/// VmHWM from /proc/self/status.
func peakMemoryMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    let kb = Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0") ?? 0
    return kb / 1024
}
