// swift-tools-version:6.0
import PackageDescription

// Release builds target this machine's CPU (AVX-512 here); without it SIMD code becomes scalar libm calls.
// They also drop the run-time exclusivity checks (swift_beginAccess on every class-property write in
// the renderer's inner loops); debug builds, which run the tests, keep them.
let nativeSwift: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]
let nativeC: [CSetting] = [.unsafeFlags(["-march=native"], .when(configuration: .release))]

let package = Package(
    name: "HeadLab",
    products: [
        .executable(name: "headlab", targets: ["headlab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Thin shims over the system libraries (apt: libembree-dev libhdf5-dev libpng-dev libopenblas-dev).
        .systemLibrary(name: "_CEmbree", path: "Sources/_CEmbree"),
        .systemLibrary(name: "_CHDF5", path: "Sources/_CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "_CPNG", path: "Sources/_CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "_COpenBLAS", path: "Sources/_COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Stages, in the order data flows.
        .target(name: "Geometry", swiftSettings: nativeSwift),
        .target(name: "HDF5", dependencies: ["_CHDF5"], swiftSettings: nativeSwift),
        .target(name: "Pickle", swiftSettings: nativeSwift),
        .target(name: "HeadModels", dependencies: ["Geometry", "HDF5", "Pickle"], swiftSettings: nativeSwift),
        .target(name: "Imaging", dependencies: ["_CPNG"], swiftSettings: nativeSwift),
        .target(name: "Rendering", dependencies: ["_CEmbree", "Geometry", "HeadModels"], swiftSettings: nativeSwift),
        .target(name: "Corpus", dependencies: ["HDF5", "Imaging", "Rendering", "HeadModels"], swiftSettings: nativeSwift),
        .target(name: "Generation", dependencies: ["Corpus", "HDF5", "Rendering", "HeadModels", "Geometry",
                                                   .product(name: "Yams", package: "Yams")], swiftSettings: nativeSwift),
        .target(name: "NNCore", dependencies: ["_COpenBLAS"], swiftSettings: nativeSwift),
        .target(name: "Scans", dependencies: ["Rendering", "Generation", "Corpus", "HDF5", "HeadModels", "Geometry"],
                swiftSettings: nativeSwift),
        .target(name: "Backbones", dependencies: ["NNCore", "Pickle"], swiftSettings: nativeSwift),
        .executableTarget(name: "headlab", dependencies: [
            "HeadModels", "Geometry", "HDF5", "Rendering", "Corpus", "Generation", "NNCore", "Scans", "Backbones",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: nativeSwift),

        // Tests: one target per module plus shared support.
        .target(name: "TestSupport", dependencies: ["Geometry", "HeadModels"], path: "Tests/TestSupport"),
        .testTarget(name: "GeometryTests", dependencies: ["Geometry", "TestSupport"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(name: "PickleTests", dependencies: ["Pickle", "TestSupport"]),
        .testTarget(name: "HeadModelsTests", dependencies: ["HeadModels", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"]),
        .testTarget(name: "RenderingTests", dependencies: ["Rendering", "TestSupport"]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "TestSupport"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "TestSupport"]),
        .testTarget(name: "NNCoreTests", dependencies: ["NNCore", "TestSupport"]),
        .testTarget(name: "ScansTests", dependencies: ["Scans", "TestSupport"]),
        .testTarget(name: "BackbonesTests", dependencies: ["Backbones", "TestSupport"]),
    ],
    // One decision for the whole package: Swift 5 language mode. The C-facing stages hand raw
    // pointers and C handles across worker threads, which Swift 6 mode rejects.
    swiftLanguageModes: [.v5]
)
