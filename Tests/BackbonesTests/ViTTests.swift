import Foundation
import XCTest
import NNCore
@testable import Backbones
import TestSupport

/// Same generator as Tests/Fixtures/make_vit_fixture.py (bit-exact): FNV-1a of the name seeds a murmur3 finaliser.
func hashedUniform(_ name: String, _ count: Int) -> [Float] {
    var seed: UInt32 = 0x811C_9DC5
    for b in name.utf8 { seed = (seed ^ UInt32(b)) &* 0x0100_0193 }
    return (0..<count).map { i in
        var h = UInt32(truncatingIfNeeded: UInt64(i) &* 0x9E37_79B1) &+ seed
        h ^= h >> 16; h = h &* 0x85EB_CA6B; h ^= h >> 13; h = h &* 0xC2B2_AE35; h ^= h >> 16
        return Float(h >> 8) / Float(1 << 24) * 2 - 1
    }
}

func hashed(_ name: String, _ shape: [Int]) -> Tensor<Float> {
    let count = shape.reduce(1, *)
    let u = hashedUniform(name, count)
    let v: [Float]
    if name.hasSuffix("norm1.weight") || name.hasSuffix("norm2.weight") || name == "norm.weight" {
        v = u.map { $0 * Float(0.2) + 1 }
    } else if name.hasSuffix(".gamma") {
        v = u.map { $0 * Float(0.25) + Float(0.5) }
    } else if name.hasSuffix(".bias") {
        v = u.map { $0 * Float(0.05) }
    } else if name == "cls_token" || name == "pos_embed" {
        v = u.map { $0 * Float(0.5) }
    } else if name.hasPrefix("input") {
        v = u.map { $0 * 2 }
    } else {
        let s = Float((3.0 / Double(count / shape[0])).squareRoot())
        v = u.map { $0 * s }
    }
    return Tensor(shape: shape, data: v)
}

func relError(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
    precondition(a.count == b.count, "relError: \(a.shape) vs \(b.shape)")
    var diff = 0.0, scale = 0.0
    for i in 0..<a.count {
        diff = max(diff, Double(abs(a.data[i] - b.data[i])))
        scale = max(scale, Double(abs(b.data[i])))
    }
    return scale == 0 ? diff : diff / scale
}

final class ViTTests: XCTestCase {
    /// Writes the hashed weights for `config` as a timm-named safetensors file; returns its path.
    func writeWeights(_ config: ViTConfig, _ dir: URL, mutate: (inout [(String, Tensor<Float>)]) -> Void = { _ in }) throws -> String {
        let shell = ViT(config: config)
        var tensors = shell.parameters.map { ($0.name, hashed($0.name, $0.name == "cls_token" ? [1, 1, config.dim] : $0.value.shape)) }
        mutate(&tensors)
        let path = dir.appendingPathComponent("vit-\(UUID().uuidString).safetensors").path
        try SafeTensors.write(tensors, to: path)
        return path
    }

    func testMatchesPyTorch() throws {
        let f = try SafeTensors(contentsOf: TestPaths.fixture("vit_parity.safetensors"))
        let depth = Int(f.metadata["depth"] ?? "") ?? 2
        let dir = TestPaths.temporaryDirectory(self)
        let cases: [(String, ViTConfig, [Int])] = [
            ("dino32x48", .dinoSmall16(depth: depth), [2, 3, 32, 48]),
            ("dino224", .dinoSmall16(depth: depth), [1, 3, 224, 224]),
            ("dinov2_42x56", .dinov2Small14(depth: depth), [2, 3, 42, 56]),
        ]
        for (name, config, shape) in cases {
            let model = try ViT(config: config, safetensors: try writeWeights(config, dir))
            let out = try model(hashed("input." + name, shape))
            let tokens: Tensor<Float> = try f.tensor(name + ".tokens")
            let cls: Tensor<Float> = try f.tensor(name + ".cls")
            XCTAssertEqual(out.patchTokens.shape, tokens.shape, name)
            let e1 = relError(out.patchTokens, tokens), e2 = relError(out.classToken, cls.reshaped(out.classToken.shape))
            print("ViT parity \(name): tokens \(e1), cls \(e2)")
            XCTAssertLessThanOrEqual(e1, 1e-4, name)
            XCTAssertLessThanOrEqual(e2, 1e-4, name)
        }
    }

    func testLoadErrorsNameTheTensor() throws {
        let dir = TestPaths.temporaryDirectory(self)
        let config = ViTConfig.dinov2Small14(depth: 1)
        let missing = try writeWeights(config, dir) { $0.removeAll { $0.0 == "blocks.0.ls2.gamma" } }
        XCTAssertThrowsError(try ViT(config: config, safetensors: missing)) {
            XCTAssertTrue("\($0)".contains("blocks.0.ls2.gamma") && "\($0)".contains("missing"), "\($0)")
        }
        let wrong = try writeWeights(config, dir) { t in
            if let i = t.firstIndex(where: { $0.0 == "blocks.0.attn.qkv.weight" }) { t[i].1 = Tensor(zeros: [10, 384]) }
        }
        XCTAssertThrowsError(try ViT(config: config, safetensors: wrong)) {
            XCTAssertTrue("\($0)".contains("blocks.0.attn.qkv.weight") && "\($0)".contains("[10, 384]"), "\($0)")
        }
        struct NaNSource: TensorSource {
            var sourceName: String { "nan-source" }
            func floatTensor(_ name: String) throws -> Tensor<Float>? {
                var t = hashed(name, name == "cls_token" ? [1, 1, 384] : name == "pos_embed" ? [1, 1 + 37 * 37, 384]
                               : name.hasPrefix("patch_embed.proj.w") ? [384, 3, 14, 14] : name.contains("qkv.w") ? [1152, 384]
                               : name.contains("qkv.b") ? [1152] : name.contains("proj.w") ? [384, 384]
                               : name.contains("fc1.w") ? [1536, 384] : name.contains("fc1.b") ? [1536]
                               : name.contains("fc2.w") ? [384, 1536] : [384])
                if name == "norm.bias" { t.data[7] = .nan }
                return t
            }
        }
        XCTAssertThrowsError(try ViT(config: config).load(from: NaNSource())) {
            XCTAssertTrue("\($0)".contains("norm.bias") && "\($0)".contains("NaN"), "\($0)")
        }
        XCTAssertThrowsError(try ViT(config: config)(Tensor(zeros: [1, 3, 8, 8])))
    }
}
