import Geometry

/// The G-buffer: the one sink for RGB and every label channel of an image.
///
/// Labels come from the primary hit through each pixel's centre (ids are never blended); RGB is
/// the average of `samplesPerPixel` jittered samples; `coverage` is the fraction of those samples
/// that hit the head. Background pixels hold zeros in every geometric channel, -1 in `triangle`.
/// Buffers are reused across samples: allocate once per worker.
public final class Film: @unchecked Sendable {
    public let width: Int, height: Int
    public var rgb: [UInt8]              // [H, W, 3] sRGB
    public var radiance: [Float]         // [H, W, 3] linear, before camera effects
    public var coverage: [UInt8]         // [H, W] 0…255
    public var foreground: [UInt8]       // [H, W] 0/1, head geometry at the pixel centre
    public var skinVisible: [UInt8]      // [H, W] 0/1, visible skin at the pixel centre
    public var skinAmodal: [UInt8]       // [H, W] 0/1, skin at the pixel centre ignoring hair/brows/accessories
    public var segmentation: [UInt8]     // [H, W] SegmentationClass
    public var normalsCamera: [Float]    // [H, W, 3] unit, OpenCV camera frame, facing the camera
    public var normalsModel: [Float]     // [H, W, 3] unit, head-model frame
    public var uv: [Float]               // [H, W, 2] model texture atlas, [0, 1]²
    public var depth: [Float]            // [H, W] metres along the optical axis
    public var triangle: [Int32]         // [H, W] model face index, -1 for background
    public var barycentric: [Float]      // [H, W, 2] weights of the face's corners 1 and 2
    public var hairCoverage: [UInt8]     // [H, W] 0…255, fraction of RGB samples whose first hit is scalp hair
    public var beardCoverage: [UInt8]    // [H, W] 0…255, … facial hair (beard, moustache, stubble)
    public var eyebrowsCoverage: [UInt8] // [H, W] 0…255, … strand eyebrows
    public var eyelashesCoverage: [UInt8] // [H, W] 0…255, … eyelashes
    public var normalsAmodal: [Float]    // [H, W, 3] camera-frame head-mesh normal ignoring strands (0 off the head)
    public var uvAmodal: [Float]         // [H, W, 2] head-mesh UV ignoring strands
    /// [L, H, W] 0…255 per `AccessoryLayer` (glasses, headwear, facewear, clothing): fraction of RGB
    /// samples whose first hit is that layer (lenses count as glasses).
    public var accessoryCoverage: [UInt8]
    /// One accessory layer's coverage plane.
    public func coverage(_ layer: AccessoryLayer) -> [UInt8] {
        let n = width * height
        return Array(accessoryCoverage[(layer.rawValue * n)..<((layer.rawValue + 1) * n)])
    }

    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        let n = width * height
        rgb = [UInt8](repeating: 0, count: 3 * n); radiance = [Float](repeating: 0, count: 3 * n)
        coverage = [UInt8](repeating: 0, count: n); foreground = [UInt8](repeating: 0, count: n)
        skinVisible = [UInt8](repeating: 0, count: n); skinAmodal = [UInt8](repeating: 0, count: n)
        segmentation = [UInt8](repeating: 0, count: n)
        normalsCamera = [Float](repeating: 0, count: 3 * n); normalsModel = [Float](repeating: 0, count: 3 * n)
        uv = [Float](repeating: 0, count: 2 * n); depth = [Float](repeating: 0, count: n)
        triangle = [Int32](repeating: -1, count: n); barycentric = [Float](repeating: 0, count: 2 * n)
        hairCoverage = [UInt8](repeating: 0, count: n); beardCoverage = [UInt8](repeating: 0, count: n)
        eyebrowsCoverage = [UInt8](repeating: 0, count: n); eyelashesCoverage = [UInt8](repeating: 0, count: n)
        normalsAmodal = [Float](repeating: 0, count: 3 * n); uvAmodal = [Float](repeating: 0, count: 2 * n)
        accessoryCoverage = [UInt8](repeating: 0, count: AccessoryLayer.allCases.count * n)
    }
}

/// 68 landmarks of one image.
public struct LandmarkSet: Sendable, Equatable {
    public var pixels: [SIMD2<Float>]      // [68] image coordinates (pixel centres at +0.5)
    public var visible: [Bool]             // [68] in frame and not occluded
    public var cameraSpace: [SIMD3<Float>] // [68] metres, OpenCV camera frame
}
