import Foundation
import XCTest
import NNCore
@testable import Backbones
import TestSupport

final class EfficientNetTests: XCTestCase {
    static let weights = TestPaths.root.appendingPathComponent("Assets/weights/efficientnet-lite0-57934424.pth").path

    func weightsPath() throws -> String {
        guard FileManager.default.fileExists(atPath: Self.weights) else {
            throw XCTSkip("EfficientNet-Lite0 weights not found at \(Self.weights): run scripts/fetch-efficientnet.sh")
        }
        return Self.weights
    }

    func testLegacyTorchReader() throws {
        let f = try TorchLegacyFile(contentsOf: try weightsPath())
        XCTAssertEqual(f.tensors.count + f.skipped.count, 296)
        XCTAssertEqual(f.skipped.count, 49)   // the int64 num_batches_tracked of every BN
        XCTAssertEqual(f.tensors["_conv_stem.weight"]?.shape, [32, 3, 3, 3])
        XCTAssertEqual(f.tensors["_fc.weight"]?.shape, [1000, 1280])
        XCTAssertNil(try f.floatTensor("_bn0.num_batches_tracked"))
    }

    func testMatchesPyTorch() throws {
        let model = try EfficientNetLite0(path: try weightsPath())
        let ref = try SafeTensors(contentsOf: TestPaths.fixture("efficientnet_lite0_parity.safetensors"))
        let feats = try model.features(try ref.tensor("x"))
        let got: [(String, Tensor<Float>)] = [("stride4", feats.stride4), ("stride8", feats.stride8), ("stride16", feats.stride16),
                                              ("stride32", feats.stride32), ("head", feats.head), ("logits", model.logits(feats))]
        for (name, t) in got {
            let want: Tensor<Float> = try ref.tensor(name)
            XCTAssertEqual(t.shape, want.shape, name)
            let e = relError(t, want)
            print("EfficientNet-Lite0 parity \(name) \(t.shape): \(e)")
            XCTAssertLessThanOrEqual(e, 1e-3, name)
        }
    }

    func testMissingWeightIsNamed() throws {
        struct Partial: TensorSource {
            let inner: TorchLegacyFile
            var sourceName: String { "partial" }
            func floatTensor(_ name: String) throws -> Tensor<Float>? {
                name == "_blocks.7._bn1.running_var" ? nil : try inner.floatTensor(name)
            }
        }
        let src = Partial(inner: try TorchLegacyFile(contentsOf: try weightsPath()))
        XCTAssertThrowsError(try EfficientNetLite0().load(from: src)) {
            XCTAssertTrue("\($0)".contains("_blocks.7._bn1.running_var"), "\($0)")
        }
    }

    /// Real photos (scikit-image's chelsea and coffee): ImageNet top-1 must be Egyptian cat (285) and espresso (967).
    func testTop1OnPhotos() throws {
        let model = try EfficientNetLite0(path: try weightsPath())
        let ref = try SafeTensors(contentsOf: TestPaths.fixture("efficientnet_photos.safetensors"))
        let logits = model.logits(try model.features(try ref.tensor("x")))
        let want: Tensor<Float> = try ref.tensor("logits")
        let e = relError(logits, want)
        print("EfficientNet-Lite0 photo logits parity: \(e)")
        XCTAssertLessThanOrEqual(e, 1e-3)
        for (b, cls) in [285, 967].enumerated() {
            let row = Array(logits.data[(b * 1000)..<((b + 1) * 1000)])
            XCTAssertEqual(row.indices.max(by: { row[$0] < row[$1] }), cls, "photo \(b)")
        }
    }
}
