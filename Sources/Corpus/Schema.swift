import HDF5
import Rendering

/// The corpus file format (HDF5), version 3 (version 2 had no accessory and eyelash coverage channels, version 1 no strand-layer and amodal-geometry channels). One stacked dataset per channel, shape [N, ...], one
/// sample per chunk; row k is sample k (its `index`), whatever shard or thread wrote it.
///
/// Image channels ([N, H, W, ...]; background pixels hold 0, `triangle` -1):
///
/// | dataset | per-sample shape | type | meaning |
/// |---|---|---|---|
/// | rgb | [H, W, 3] | uint8 | sRGB image |
/// | coverage | [H, W] | uint8 | fraction of RGB samples that hit the head × 255 (anti-aliased alpha) |
/// | foreground | [H, W] | uint8 | 1 where the head is at the pixel centre |
/// | skin_visible | [H, W] | uint8 | 1 where visible skin is at the pixel centre |
/// | skin_amodal | [H, W] | uint8 | 1 where skin is at the pixel centre, ignoring hair, brows and accessories |
/// | segmentation | [H, W] | uint8 | FaceSynthetics classes (see `class_names`; 255 ignore; left/right = subject's) |
/// | normals_camera | [H, W, 3] | float16 | unit normals, OpenCV camera frame (+x right, +y down, +z forward) |
/// | normals_model | [H, W, 3] | float16 | unit normals in the head model's frame (before the global head pose) |
/// | uv | [H, W, 2] | float16 | texture coordinates in the model's atlas (bounds in the `uv_bounds` attribute; UDIM atlases such as ICT-FaceKit's span u in [0, 7)) |
/// | depth | [H, W] | float32 | metres along the optical axis |
/// | triangle | [H, W] | int32 | model face index, -1 background |
/// | barycentric | [H, W, 2] | float16 | weights of the face's corners 1 and 2 (corner 0 = 1 − both) |
/// | hair_coverage | [H, W] | uint8 | fraction of RGB samples whose first hit is a scalp-hair strand × 255 |
/// | beard_coverage | [H, W] | uint8 | … a facial-hair strand (beard, moustache, goatee, stubble) × 255 |
/// | eyebrows_coverage | [H, W] | uint8 | … a strand eyebrow × 255 |
/// | eyelashes_coverage | [H, W] | uint8 | … an eyelash × 255 |
/// | normals_amodal | [H, W, 3] | float16 | camera-frame normal of the head mesh ignoring strands (0 where the ray misses the head) |
/// | uv_amodal | [H, W, 2] | float16 | texture coordinates of the head mesh ignoring strands and accessories |
/// | glasses_coverage | [H, W] | uint8 | fraction of RGB samples whose first hit is glasses (frame or lens) × 255 |
/// | headwear_coverage | [H, W] | uint8 | … headwear: caps, beanies, headbands, hats, headphones, earrings × 255 |
/// | facewear_coverage | [H, W] | uint8 | … a surgical or cloth mask (with its ear loops) × 255 |
/// | clothing_coverage | [H, W] | uint8 | … clothing around the neck (collar, shirt) × 255 |
///
/// Where a strand is in front at the pixel centre, `segmentation` holds its class (hair 13,
/// beard 14, right/left brow 5/6, eyelashes: the right/left eye 3/4 of their side), `normals_*` and `depth` describe the strand (normal ⟂ the
/// strand, facing the camera), `triangle` is -1 and `uv`/`barycentric` are 0; `skin_amodal`,
/// `normals_amodal` and `uv_amodal` come from the same ray through the head mesh alone.
/// Accessories work the same way with classes glasses 16, headwear 17 (also headphones and
/// earrings), facewear 18, clothing 15. Lenses, clear or tinted, are labelled glasses (as in
/// FaceSynthetics): `segmentation`, `normals_*` and `depth` describe the lens; the amodal
/// channels see the skin behind it.
///
/// Per-sample values: `landmarks_2d` [68, 2] float32 (pixels, pixel centres at +0.5),
/// `landmarks_visible` [68] uint8, `landmarks_3d` [68, 3] float32 (camera frame, metres),
/// `intrinsics` [3, 3], `distortion` [4] (k1, k2, p1, p2), `extrinsics` [3, 4] (world → camera,
/// [R | t]), `head_to_world` [3, 4] (model frame → world), `identity` [Kid], `expression` [Kexp],
/// `joint_rotations` [5, 3] (axis-angle, FLAME order), `subject`, `view`, `index` (int64) and
/// `complete` (uint8: 1 once every channel of the row is written).
///
/// Root attributes: `format` = "headlab-corpus", `schema_version`, `headlab_version`, `recipe`
/// (YAML text), `seed`, `count` (corpus size), `first_index`/`rows` (this shard), `width`,
/// `height`, `model_name`, `model_source`. Datasets `class_names`, `expression_names`,
/// `joint_names` name the label ids and coefficients.
public enum CorpusSchema {
    public static let format = "headlab-corpus"
    public static let version: Int32 = 3

    public struct Channel: Sendable {
        public var name: String
        public var type: HDF5ElementType
        public var components: Int   // trailing dimension; 1 means [H, W]
    }

    public static let imageChannels: [Channel] = [
        Channel(name: "rgb", type: .uint8, components: 3),
        Channel(name: "coverage", type: .uint8, components: 1),
        Channel(name: "foreground", type: .uint8, components: 1),
        Channel(name: "skin_visible", type: .uint8, components: 1),
        Channel(name: "skin_amodal", type: .uint8, components: 1),
        Channel(name: "segmentation", type: .uint8, components: 1),
        Channel(name: "normals_camera", type: .float16, components: 3),
        Channel(name: "normals_model", type: .float16, components: 3),
        Channel(name: "uv", type: .float16, components: 2),
        Channel(name: "depth", type: .float32, components: 1),
        Channel(name: "triangle", type: .int32, components: 1),
        Channel(name: "barycentric", type: .float16, components: 2),
        Channel(name: "hair_coverage", type: .uint8, components: 1),
        Channel(name: "beard_coverage", type: .uint8, components: 1),
        Channel(name: "eyebrows_coverage", type: .uint8, components: 1),
        Channel(name: "eyelashes_coverage", type: .uint8, components: 1),
        Channel(name: "normals_amodal", type: .float16, components: 3),
        Channel(name: "uv_amodal", type: .float16, components: 2),
        Channel(name: "glasses_coverage", type: .uint8, components: 1),
        Channel(name: "headwear_coverage", type: .uint8, components: 1),
        Channel(name: "facewear_coverage", type: .uint8, components: 1),
        Channel(name: "clothing_coverage", type: .uint8, components: 1),
    ]

    /// Per-sample (non-image) datasets: name, type and per-sample shape given the model sizes.
    public static func sampleValues(identity: Int, expression: Int) -> [(String, HDF5ElementType, [Int])] {
        [("landmarks_2d", .float32, [68, 2]), ("landmarks_visible", .uint8, [68]), ("landmarks_3d", .float32, [68, 3]),
         ("intrinsics", .float32, [3, 3]), ("distortion", .float32, [4]), ("extrinsics", .float32, [3, 4]),
         ("head_to_world", .float32, [3, 4]), ("identity", .float32, [identity]), ("expression", .float32, [expression]),
         ("joint_rotations", .float32, [5, 3]), ("subject", .int64, []), ("view", .int64, []), ("index", .int64, []),
         ("complete", .uint8, [])]
    }

    public static var classNames: [String] {
        (0..<19).map { SegmentationClass(rawValue: UInt8($0))!.name }
    }
}
