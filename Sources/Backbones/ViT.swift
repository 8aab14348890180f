import Foundation
import NNCore

/// Errors loading a backbone's weights; every case names the tensor (and the file).
public enum BackboneError: Error, CustomStringConvertible, Equatable {
    case missingTensor(name: String, file: String)
    case shapeMismatch(name: String, file: String, expected: [Int], found: [Int])
    case nonFinite(name: String, file: String, index: Int)
    case badInput(String)

    public var description: String {
        switch self {
        case let .missingTensor(name, file): return "\(file): tensor '\(name)' is missing"
        case let .shapeMismatch(name, file, expected, found):
            return "\(file): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .nonFinite(name, file, index): return "\(file): tensor '\(name)' has a NaN/Inf at flat index \(index)"
        case let .badInput(detail): return detail
        }
    }
}

/// A source of named Float tensors (safetensors file, legacy torch.save file, …).
public protocol TensorSource {
    var sourceName: String { get }
    /// The named tensor, or nil when absent. Shape/finiteness are checked by `loadParameter`.
    func floatTensor(_ name: String) throws -> Tensor<Float>?
}

extension SafeTensors: TensorSource {
    public var sourceName: String { file }
    public func floatTensor(_ name: String) throws -> Tensor<Float>? {
        guard entries[name] != nil else { return nil }
        do { return try tensor(name, as: Float.self) } catch CheckpointError.nonFinite(let n, let f, let i) {
            throw BackboneError.nonFinite(name: n, file: f, index: i)
        }
    }
}

/// Copies the tensor named `key` (default `p.name`) from `source` into `p`, checking presence, shape and finiteness.
/// Shapes that differ only by leading singleton dimensions with the same element count (e.g. [1, 1, C] vs [C]) are accepted.
func loadParameter(_ p: Parameter<Float>, from source: TensorSource, key: String? = nil) throws {
    let name = key ?? p.name
    guard var t = try source.floatTensor(name) else { throw BackboneError.missingTensor(name: name, file: source.sourceName) }
    let expected = p.value.shape
    if t.shape != expected {
        let strip = { (s: [Int]) in Array(s.drop(while: { $0 == 1 })) }
        guard strip(t.shape) == strip(expected), t.count == p.value.count else {
            throw BackboneError.shapeMismatch(name: name, file: source.sourceName, expected: expected, found: t.shape)
        }
        t = t.reshaped(expected)
    }
    if let bad = t.data.firstIndex(where: { !$0.isFinite }) {
        throw BackboneError.nonFinite(name: name, file: source.sourceName, index: bad)
    }
    p.value = t
}

/// How the learned position table is resized for an input whose patch grid differs from the table's.
public enum PositionInterpolation: Sendable {
    /// timm `resample_abs_pos_embed`: bicubic, antialias, to the exact new grid size.
    case timm
    /// DINOv2 `interpolate_pos_encoding`: bicubic (A = −0.75, no antialias) with
    /// `scale_factor = (grid + 0.1) / M`, the kernel using that scale (not in/out) for source coordinates.
    case dinov2
}

/// Configuration of a plain ViT backbone (timm `VisionTransformer` layout: cls token, learned absolute
/// position embedding, pre-LN blocks, optional layer scale, final LayerNorm).
public struct ViTConfig: Sendable, Equatable {
    public var patchSize: Int
    public var dim: Int
    public var depth: Int
    public var heads: Int
    public var mlpRatio: Int
    /// The position table's grid side (table has 1 + grid² entries).
    public var posGrid: Int
    public var layerScale: Bool
    public var interpolation: PositionInterpolation
    public var eps: Float = 1e-6

    public init(patchSize: Int, dim: Int, depth: Int, heads: Int, mlpRatio: Int = 4, posGrid: Int,
                layerScale: Bool, interpolation: PositionInterpolation) {
        self.patchSize = patchSize; self.dim = dim; self.depth = depth; self.heads = heads; self.mlpRatio = mlpRatio
        self.posGrid = posGrid; self.layerScale = layerScale; self.interpolation = interpolation
    }

    /// DINO ViT-S/16 (`vit_small_patch16_224.dino`): patch 16, dim 384, depth 12, 6 heads, 14×14 table.
    public static func dinoSmall16(depth: Int = 12) -> ViTConfig {
        ViTConfig(patchSize: 16, dim: 384, depth: depth, heads: 6, posGrid: 14, layerScale: false, interpolation: .timm)
    }

    /// DINOv2 ViT-S/14 (`vit_small_patch14_dinov2`): patch 14, dim 384, depth 12, 6 heads, layer scale, 37×37 table (518 px).
    public static func dinov2Small14(depth: Int = 12) -> ViTConfig {
        ViTConfig(patchSize: 14, dim: 384, depth: depth, heads: 6, posGrid: 37, layerScale: true, interpolation: .dinov2)
    }
}

/// The output of a ViT backbone.
public struct ViTOutput {
    /// Normalised patch tokens [B, gh·gw, dim], row-major over the patch grid.
    public var patchTokens: Tensor<Float>
    /// Normalised class token [B, dim].
    public var classToken: Tensor<Float>
    /// The patch grid (rows, columns).
    public var grid: (Int, Int)
}

/// One pre-LN block with optional layer scale: `x += γ₁·Attn(LN₁ x)`, `x += γ₂·MLP(LN₂ x)` (forward only).
final class ViTBlock {
    let norm1: LayerNorm<Float>, attn: MultiHeadSelfAttention<Float>
    let norm2: LayerNorm<Float>, mlp: MLP<Float>
    let ls1: Parameter<Float>?, ls2: Parameter<Float>?

    init<G: RandomNumberGenerator>(_ c: ViTConfig, index: Int, rng: inout G) {
        let p = "blocks.\(index)."
        norm1 = LayerNorm(c.dim, eps: c.eps, name: p + "norm1")
        attn = MultiHeadSelfAttention(dim: c.dim, heads: c.heads, name: p + "attn", rng: &rng)
        norm2 = LayerNorm(c.dim, eps: c.eps, name: p + "norm2")
        mlp = MLP(dim: c.dim, hidden: c.dim * c.mlpRatio, name: p + "mlp", rng: &rng)
        ls1 = c.layerScale ? Parameter(p + "ls1.gamma", Tensor(shape: [c.dim], repeating: 1)) : nil
        ls2 = c.layerScale ? Parameter(p + "ls2.gamma", Tensor(shape: [c.dim], repeating: 1)) : nil
    }

    var parameters: [Parameter<Float>] {
        norm1.parameters + attn.parameters + (ls1.map { [$0] } ?? []) + norm2.parameters + mlp.parameters + (ls2.map { [$0] } ?? [])
    }

    /// The residual sums land in the branch outputs, which nothing else holds: `var h = x; h += …` copied x (the
    /// caller and LayerNorm's cache still reference it) twice per block. x + γ·a is computed as before, same bits.
    func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        var h = attn(norm1(x))           // [B, T, C], then x + γ₁·attn
        Self.addScaled(&h, residual: x, ls1)
        var y = mlp(norm2(h))            // [B, T, C], then h + γ₂·mlp
        Self.addScaled(&y, residual: h, ls2)
        return y
    }

    /// y ← x + γ·y (γ per channel; y + x without layer scale).
    static func addScaled(_ y: inout Tensor<Float>, residual x: Tensor<Float>, _ gamma: Parameter<Float>?) {
        guard let gamma else { y.add(x); return }
        let c = gamma.value.count
        y.data.withUnsafeMutableBufferPointer { yp in
        x.data.withUnsafeBufferPointer { xp in
        gamma.value.data.withUnsafeBufferPointer { gp in
            for r in 0..<(yp.count / c) {
                let yr = yp.baseAddress! + r * c, xr = xp.baseAddress! + r * c
                var i = 0
                while i + 16 <= c {   // 16 lanes: the scalar loop stayed scalar (yp might alias xp)
                    let g = UnsafeRawPointer(gp.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
                    let v = UnsafeRawPointer(xr + i).loadUnaligned(as: SIMD16<Float>.self) + g * UnsafeRawPointer(yr + i).loadUnaligned(as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(yr + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    i += 16
                }
                while i < c { yr[i] = xr[i] + gp[i] * yr[i]; i += 1 }
            }
        } } }
    }
}

/// A frozen ViT backbone (DINO / DINOv2), forward only, batched: images [B, 3, H, W] (already normalised)
/// → patch tokens [B, ⌊H/p⌋·⌊W/p⌋, dim] and class token [B, dim].
/// Weights use timm's safetensors names: `cls_token`, `pos_embed`, `patch_embed.proj.{weight,bias}`,
/// `blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias}`, `blocks.{i}.ls{1,2}.gamma`, `norm.{weight,bias}`.
public final class ViT {
    public let config: ViTConfig
    let patchEmbed: Conv2d<Float>
    let clsToken: Parameter<Float>   // [1, 1, dim]
    let posEmbed: Parameter<Float>   // [1, 1 + grid², dim]
    let blocks: [ViTBlock]
    let norm: LayerNorm<Float>
    private var posCache: [String: Tensor<Float>] = [:]
    private let lock = NSLock()

    /// An uninitialised model (deterministic placeholder weights); use `load(from:)` or `init(config:safetensors:)`.
    public init(config: ViTConfig) {
        self.config = config
        var rng = SplitMix64(seed: 0)
        patchEmbed = Conv2d(3, config.dim, kernel: config.patchSize, stride: config.patchSize, name: "patch_embed.proj", rng: &rng)
        clsToken = Parameter("cls_token", Tensor(zeros: [1, 1, config.dim]))
        posEmbed = Parameter("pos_embed", Tensor(zeros: [1, 1 + config.posGrid * config.posGrid, config.dim]))
        blocks = (0..<config.depth).map { ViTBlock(config, index: $0, rng: &rng) }
        norm = LayerNorm(config.dim, eps: config.eps, name: "norm")
    }

    /// Loads a model from a safetensors file with timm key names.
    public convenience init(config: ViTConfig, safetensors path: String) throws {
        self.init(config: config)
        try load(from: SafeTensors(contentsOf: path))
    }

    /// Every weight, in a fixed order, named by its checkpoint key.
    public var parameters: [Parameter<Float>] {
        [clsToken, posEmbed] + patchEmbed.parameters + blocks.flatMap { $0.parameters } + norm.parameters
    }

    /// Copies every weight from `source`; throws naming the first missing, mis-shaped or non-finite tensor.
    public func load(from source: TensorSource) throws {
        for p in parameters { try loadParameter(p, from: source) }
        lock.lock(); posCache = [:]; lock.unlock()
    }

    /// The position table for a gh×gw grid: [1, 1 + gh·gw, dim].
    func positions(_ gh: Int, _ gw: Int) -> Tensor<Float> {
        let m = config.posGrid
        if gh == m && gw == m { return posEmbed.value }
        let key = "\(gh)x\(gw)"
        lock.lock(); defer { lock.unlock() }
        if let t = posCache[key] { return t }
        let t: Tensor<Float>
        switch config.interpolation {
        case .timm:
            t = PositionEmbeddingResize<Float>(grid: (m, m), newGrid: (gh, gw), prefixTokens: 1, mode: .bicubicAntialias)(posEmbed.value)
        case .dinov2:
            t = dinov2Resize(posEmbed.value, grid: m, gh: gh, gw: gw, dim: config.dim)
        }
        posCache[key] = t
        return t
    }

    /// Forward pass. x [B, 3, H, W] → tokens; H, W ≥ patch size (remainders are dropped as the strided conv does).
    public func callAsFunction(_ x: Tensor<Float>) throws -> ViTOutput {
        guard x.rank == 4, x.shape[1] == 3, x.shape[2] >= config.patchSize, x.shape[3] >= config.patchSize else {
            throw BackboneError.badInput("ViT: input \(x.shape), want [B, 3, H ≥ \(config.patchSize), W ≥ \(config.patchSize)]")
        }
        let b = x.shape[0], c = config.dim
        let p = patchEmbed(x)                          // [B, C, gh, gw]
        let gh = p.shape[2], gw = p.shape[3], n = gh * gw, t = n + 1
        let pos = positions(gh, gw)                    // [1, 1 + n, C]
        var h = Tensor<Float>(zeros: [b, t, c])        // [B, 1 + n, C]
        let cls = clsToken.value.data
        for bi in 0..<b {
            let base = bi * t * c
            for i in 0..<c { h.data[base + i] = cls[i] + pos.data[i] }
            for k in 0..<n { for i in 0..<c {
                h.data[base + (1 + k) * c + i] = p.data[(bi * c + i) * n + k] + pos.data[(1 + k) * c + i]
            } }
        }
        for block in blocks { h = block(h) }
        h = norm(h)
        var tokens = Tensor<Float>(zeros: [b, n, c]), clsOut = Tensor<Float>(zeros: [b, c])
        for bi in 0..<b {
            for i in 0..<c { clsOut.data[bi * c + i] = h.data[bi * t * c + i] }
            for j in 0..<(n * c) { tokens.data[bi * n * c + j] = h.data[bi * t * c + c + j] }
        }
        try checkFinite(tokens, name: "patch tokens", context: "ViT forward")
        return ViTOutput(patchTokens: tokens, classToken: clsOut, grid: (gh, gw))
    }
}

/// DINOv2's position-table interpolation: PyTorch `F.interpolate(mode="bicubic", align_corners=False,
/// scale_factor=((gh + 0.1)/M, (gw + 0.1)/M))`, whose output size is ⌊M·s⌋ = g and whose source coordinate
/// uses 1/s: src = (o + ½)/s − ½, four taps floor(src) − 1 … + 2 clamped to the border, Keys A = −0.75.
func dinov2Resize(_ table: Tensor<Float>, grid m: Int, gh: Int, gw: Int, dim c: Int) -> Tensor<Float> {
    func taps(_ out: Int) -> [(Int, [Double])] {
        let s = (Double(out) + 0.1) / Double(m)
        let a = -0.75
        func c1(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func c2(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return (0..<out).map { o in
            let src = (Double(o) + 0.5) / s - 0.5
            let f = floor(src), t = src - f
            return (Int(f), [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)])
        }
    }
    let rows = taps(gh), cols = taps(gw)
    var y = Tensor<Float>(zeros: [1, 1 + gh * gw, c])
    for i in 0..<c { y.data[i] = table.data[i] }
    let src = Array(table.data[c...])   // [m, m, C]
    var tmp = [Double](repeating: 0, count: m * gw * c)   // columns resampled: [m, gw, C]
    for r in 0..<m { for (o, (f, w)) in cols.enumerated() {
        for k in 0..<4 {
            let j = min(max(f - 1 + k, 0), m - 1), wk = w[k]
            for i in 0..<c { tmp[(r * gw + o) * c + i] += wk * Double(src[(r * m + j) * c + i]) }
        }
    } }
    for (o, (f, w)) in rows.enumerated() { for q in 0..<gw {
        var acc = [Double](repeating: 0, count: c)
        for k in 0..<4 {
            let r = min(max(f - 1 + k, 0), m - 1), wk = w[k]
            for i in 0..<c { acc[i] += wk * tmp[(r * gw + q) * c + i] }
        }
        for i in 0..<c { y.data[c + (o * gw + q) * c + i] = Float(acc[i]) }
    } }
    return y
}

/// A tiny deterministic generator for placeholder weights.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
