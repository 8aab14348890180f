import Foundation
import NNCore

/// Zero-pads x [N, C, H, W] by (top, bottom, left, right).
func zeroPad(_ x: Tensor<Float>, _ top: Int, _ bottom: Int, _ left: Int, _ right: Int) -> Tensor<Float> {
    if top == 0 && bottom == 0 && left == 0 && right == 0 { return x }
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    let ho = h + top + bottom, wo = w + left + right
    var y = Tensor<Float>(zeros: [n, c, ho, wo])
    x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeMutableBufferPointer { yp in
        let source = xp.baseAddress!, destination = yp.baseAddress!
        for p in 0..<(n * c) { for r in 0..<h {   // row copies (memcpy); the padding stays zero
            (destination + (p * ho + r + top) * wo + left).update(from: source + (p * h + r) * w, count: w)
        } }
    } }
    return y
}

/// A bias-free convolution with TensorFlow "SAME" padding (EfficientNet-PyTorch `Conv2dDynamicSamePadding` /
/// `Conv2dStaticSamePadding`): per axis pad = max((⌈i/s⌉ − 1)·s + k − i, 0), ⌊pad/2⌋ before, the rest after
/// (so stride-2 convs on even sizes pad only bottom/right), followed by inference BatchNorm and optional ReLU6.
///
/// For speed the forward pass runs a fused copy: BN folded into the conv (W′ = W·scale[o], b′ = shift[o], the same
/// affine map up to Float rounding), stride-1 padding done by the conv itself ((k − 1)/2 each side, which is what
/// SAME gives for odd k), and ReLU6 applied in place. The fused copy is built on first use after `invalidate()`
/// (called by `EfficientNetLite0.load`).
final class SameConvBN {
    let conv: Conv2d<Float>, bn: BatchNormInference<Float>, relu6: Bool
    let k: Int, s: Int
    private var fused: Conv2d<Float>?

    init(_ cin: Int, _ cout: Int, kernel: Int, stride: Int, groups: Int = 1, conv name: String, bn bnName: String,
         relu6: Bool, rng: inout SplitMix64) {
        conv = Conv2d(cin, cout, kernel: kernel, stride: stride, padding: 0, groups: groups, bias: false, name: name, rng: &rng)
        bn = BatchNormInference(cout, eps: 1e-3, name: bnName)
        self.relu6 = relu6; k = kernel; s = stride
    }

    var parameters: [Parameter<Float>] { conv.parameters + bn.parameters + bn.buffers }

    /// Drops the fused copy (after the weights changed).
    func invalidate() { fused = nil }

    private func fusedConv() -> Conv2d<Float> {
        if let f = fused { return f }
        var rng = SplitMix64(seed: 0)
        let padding = s == 1 ? (k - 1) / 2 : 0
        let f = Conv2d<Float>(conv.inChannels, conv.outChannels, kernel: k, stride: s, padding: padding, groups: conv.groups,
                              bias: true, name: conv.weight.name + ".fused", rng: &rng)
        let (scale, shift) = bn.folded()
        let perOutput = conv.weight.value.count / conv.outChannels
        for o in 0..<conv.outChannels {
            for i in 0..<perOutput { f.weight.value.data[o * perOutput + i] = conv.weight.value.data[o * perOutput + i] * scale[o] }
            f.bias!.value.data[o] = shift[o]
        }
        fused = f
        return f
    }

    func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        let f = fusedConv()
        var y: Tensor<Float>
        if s == 1 && k % 2 == 1 {
            y = f(x)
        } else {
            func pad(_ i: Int) -> (Int, Int) {
                let total = max(((i + s - 1) / s - 1) * s + k - i, 0)
                return (total / 2, total - total / 2)
            }
            let (t, b) = pad(x.shape[2]), (l, r) = pad(x.shape[3])
            y = f(zeroPad(x, t, b, l, r))
        }
        if relu6 {
            y.data.withUnsafeMutableBufferPointer { p in
                for i in p.indices { let v = p[i]; p[i] = v < 0 ? 0 : (v > 6 ? 6 : v) }
            }
        }
        return y
    }
}

/// EfficientNet-Lite MBConv: [1×1 expand + BN + ReLU6] → k×k depthwise + BN + ReLU6 → 1×1 project + BN,
/// plus the input when stride 1 and in = out (no squeeze-excitation in Lite).
final class MBConv {
    let expand: SameConvBN?, depthwise: SameConvBN, project: SameConvBN, skip: Bool

    init(index i: Int, cin: Int, cout: Int, kernel: Int, stride: Int, expandRatio: Int, rng: inout SplitMix64) {
        let p = "_blocks.\(i)."
        let mid = cin * expandRatio
        expand = expandRatio == 1 ? nil
            : SameConvBN(cin, mid, kernel: 1, stride: 1, conv: p + "_expand_conv", bn: p + "_bn0", relu6: true, rng: &rng)
        depthwise = SameConvBN(mid, mid, kernel: kernel, stride: stride, groups: mid, conv: p + "_depthwise_conv",
                               bn: p + "_bn1", relu6: true, rng: &rng)
        project = SameConvBN(mid, cout, kernel: 1, stride: 1, conv: p + "_project_conv", bn: p + "_bn2", relu6: false, rng: &rng)
        skip = stride == 1 && cin == cout
    }

    var parameters: [Parameter<Float>] { (expand?.parameters ?? []) + depthwise.parameters + project.parameters }

    func invalidate() { expand?.invalidate(); depthwise.invalidate(); project.invalidate() }

    func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        var y = project(depthwise(expand.map { $0(x) } ?? x))
        if skip { y.add(x) }
        return y
    }
}

/// Multi-scale features of EfficientNet-Lite0, NCHW.
public struct EfficientNetFeatures {
    /// Stride 4: [B, 24, H/4, W/4] (end of stage 2).
    public var stride4: Tensor<Float>
    /// Stride 8: [B, 40, H/8, W/8] (end of stage 3).
    public var stride8: Tensor<Float>
    /// Stride 16: [B, 112, H/16, W/16] (end of stage 5).
    public var stride16: Tensor<Float>
    /// Stride 32: [B, 320, H/32, W/32] (end of stage 7).
    public var stride32: Tensor<Float>
    /// Stride 32 after the 1×1 head conv + BN + ReLU6: [B, 1280, H/32, W/32].
    public var head: Tensor<Float>
    /// All four pyramid levels (strides 4, 8, 16, 32).
    public var pyramid: [Tensor<Float>] { [stride4, stride8, stride16, stride32] }
}

/// Frozen EfficientNet-Lite0 (forward only, batched, BN in inference mode) with EfficientNet-PyTorch key names
/// (`_conv_stem`, `_bn0`, `_blocks.{i}._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2`, `_conv_head`,
/// `_bn1`, `_fc`). Stem 3×3 s2 → 32 + BN + ReLU6; 16 MBConv blocks (B0 layout, ReLU6, no SE); head 1×1 → 1280.
/// All convs use TF "SAME" padding as EfficientNet-PyTorch does for these TF-converted weights. BN eps 1e-3.
/// Input: [B, 3, H, W] RGB in [0, 1] normalised with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
/// (top-1 checked on real photos in BackbonesTests).
public final class EfficientNetLite0 {
    let stem: SameConvBN
    let blocks: [MBConv]
    let head: SameConvBN
    let fc: Linear<Float>
    /// Indices of the blocks whose outputs are the stride-4/8/16/32 features.
    static let featureBlocks = [2, 4, 10, 15]

    public init() {
        var rng = SplitMix64(seed: 1)
        stem = SameConvBN(3, 32, kernel: 3, stride: 2, conv: "_conv_stem", bn: "_bn0", relu6: true, rng: &rng)
        // (repeats, kernel, stride, expand, out) — EfficientNet-B0 / Lite0 stages.
        let stages = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                      (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
        var blocks: [MBConv] = [], cin = 32
        for (repeats, k, s, e, cout) in stages {
            for r in 0..<repeats {
                blocks.append(MBConv(index: blocks.count, cin: cin, cout: cout, kernel: k, stride: r == 0 ? s : 1,
                                     expandRatio: e, rng: &rng))
                cin = cout
            }
        }
        self.blocks = blocks
        head = SameConvBN(320, 1280, kernel: 1, stride: 1, conv: "_conv_head", bn: "_bn1", relu6: true, rng: &rng)
        fc = Linear(1280, 1000, name: "_fc", rng: &rng)
    }

    /// Loads the weights from a legacy torch.save file (e.g. `efficientnet-lite0-57934424.pth`) or safetensors.
    public convenience init(path: String) throws {
        self.init()
        if path.hasSuffix(".safetensors") { try load(from: SafeTensors(contentsOf: path)) }
        else { try load(from: TorchLegacyFile(contentsOf: path)) }
    }

    public var parameters: [Parameter<Float>] {
        stem.parameters + blocks.flatMap { $0.parameters } + head.parameters + fc.parameters
    }

    /// Copies every weight from `source`; throws naming the first missing, mis-shaped or non-finite tensor.
    public func load(from source: TensorSource) throws {
        for p in parameters { try loadParameter(p, from: source) }
        stem.invalidate(); head.invalidate()
        for b in blocks { b.invalidate() }
    }

    /// Multi-scale features for x [B, 3, H, W].
    public func features(_ x: Tensor<Float>) throws -> EfficientNetFeatures {
        guard x.rank == 4, x.shape[1] == 3, x.shape[2] >= 32, x.shape[3] >= 32 else {
            throw BackboneError.badInput("EfficientNetLite0: input \(x.shape), want [B, 3, H ≥ 32, W ≥ 32]")
        }
        var h = stem(x)
        var levels: [Tensor<Float>] = []
        for (i, b) in blocks.enumerated() {
            h = b(h)
            if Self.featureBlocks.contains(i) { levels.append(h) }
        }
        let top = head(h)
        try checkFinite(top, name: "head features", context: "EfficientNetLite0 forward")
        return EfficientNetFeatures(stride4: levels[0], stride8: levels[1], stride16: levels[2], stride32: levels[3], head: top)
    }

    /// ImageNet logits [B, 1000] from the head features (global average pool → `_fc`).
    public func logits(_ f: EfficientNetFeatures) -> Tensor<Float> {
        let b = f.head.shape[0], c = f.head.shape[1], hw = f.head.shape[2] * f.head.shape[3]
        var pooled = Tensor<Float>(zeros: [b, c])
        for i in 0..<(b * c) {
            var s: Float = 0
            for j in 0..<hw { s += f.head.data[i * hw + j] }
            pooled.data[i] = s / Float(hw)
        }
        return fc(pooled)
    }
}
