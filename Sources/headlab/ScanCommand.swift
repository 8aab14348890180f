import ArgumentParser
import Foundation
import Generation
import Scans

/// `headlab scan`: synthetic 3D scans (fused multi-view depth) with per-vertex ground truth.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Fuse the multi-view rig's depth into 3D scans with per-vertex labels (HDF5, optional PLY).")
    @Option(help: "Recipe file (YAML) with a multi_view rig.") var recipe: String = "Recipes/multi_view.yaml"
    @Option(help: "Number of scans (one per subject).") var count: Int = 1
    @Option(name: .shortAndLong, help: "Output scans file.") var out: String = "out/scans.h5"
    @Option(help: "Random seed: scan s is subject s of the corpus with the same recipe and seed.") var seed: UInt64 = 0
    @Option(help: "TSDF voxel size in millimetres.") var voxelMm: Float = 1
    @Option(help: "Truncation distance in voxels.") var truncation: Float = 4
    @Option(help: "Depth image side in pixels, per rig camera.") var resolution: Int = 1024
    @Option(help: "Depth noise σ in millimetres (0 = none).") var depthNoiseMm: Float = 0
    @Option(help: "Per-camera calibration error σ: rotation in degrees.") var misalignDegrees: Float = 0
    @Option(help: "Per-camera calibration error σ: translation in millimetres.") var misalignMm: Float = 0
    @Option(help: "Depth-sensor sub-samples per pixel side: a pixel reports the median depth of n×n rays (1 = one ray through the centre).") var sensorSamples: Int = 4
    @Flag(help: "Trace the sensor's rays one by one instead of as 16-ray packets (for timing).") var singleRays = false
    @Flag(help: "Complete an interrupted scans file (its finished scans are kept; the result equals an uninterrupted run).") var resume = false
    @Option(help: "Also write each scan as a PLY with label colours into this folder.") var plyDir: String?
    @Flag(help: "Also render and store the rig's RGB images (slow: path-traced per view).") var images = false
    @Option(help: "Threads (0 = one per core). Results do not depend on it.") var threads: Int = 0
    @Option(help: "Model file (overrides the recipe's `model`).") var model: String?

    func run() throws {
        try runReportingErrors {
            guard voxelMm > 0, voxelMm.isFinite else { throw ValidationError("--voxel-mm must be positive") }
            guard resolution >= 8 else { throw ValidationError("--resolution must be at least 8") }
            let r = try Recipe.load(path: recipe)
            guard r.rig == .multiView else {
                throw ValidationError("\(recipe): scans need a multi_view recipe (rig.kind: multi_view), not \(r.rig.rawValue)")
            }
            let modelPath = model ?? (r.model == "default" ? DefaultPaths.defaultModel : r.model)
            let m = try loadModel(modelPath)
            var job = ScanJob(recipe: r, model: m, count: count, output: out, seed: seed)
            job.settings.voxelSize = voxelMm / 1000
            job.settings.truncationVoxels = truncation
            job.settings.resolution = resolution
            job.settings.depthNoise = depthNoiseMm / 1000
            job.settings.misalignmentDegrees = misalignDegrees
            job.settings.misalignmentMetres = misalignMm / 1000
            job.settings.threads = threads
            guard (1...8).contains(sensorSamples) else { throw ValidationError("--sensor-samples must be 1…8") }
            job.settings.sensorSamples = sensorSamples
            job.settings.packets = !singleRays
            job.resume = resume
            job.images = images
            job.plyDirectory = plyDir
            job.headlabVersion = HeadLab.version
            job.progress = { s, total, scan, t, seconds in
                print(String(format: "scan %d/%d: %d vertices, %d faces; scene %.2f s, render %.2f s, fuse %.2f s, mesh %.2f s, labels %.2f s (%.1f s total)",
                             s + 1, total, scan.vertexCount, scan.triangleCount, t.scene, t.render, t.fuse, t.extract, t.groundTruth, seconds))
                fflush(stdout)
            }
            let report = try job.run()
            if report.copied > 0 { print("\(out): kept \(report.copied) finished scans of the interrupted run") }
            print(String(format: "%@: %d scans, %d vertices, %d faces, %.2f s per scan, TSDF grid %.1f MiB",
                         out, report.scans, report.vertices, report.faces, report.seconds / Double(max(1, report.scans)),
                         Double(report.gridBytes) / 1048576))
        }
    }
}
