import HeadModels

/// Per-pixel part classes, FaceSynthetics' 19 classes in their order (plus 255 = ignore).
/// Left and right are the subject's own sides. FaceSynthetics has no eyelash class: strand
/// eyelashes take the eye class of their side (as face-parsing sets such as Helen and LaPa draw
/// the eye region out to the lash line); the `eyelashes_coverage` channel separates them.
public enum SegmentationClass: UInt8, CaseIterable, Sendable {
    case background = 0, skin = 1, nose = 2, rightEye = 3, leftEye = 4, rightBrow = 5, leftBrow = 6
    case rightEar = 7, leftEar = 8, mouthInterior = 9, upperLip = 10, lowerLip = 11, neck = 12
    case hair = 13, beard = 14, clothing = 15, glasses = 16, headwear = 17, facewear = 18
    case ignore = 255

    public var name: String {
        switch self {
        case .background: return "background"
        case .skin: return "skin"
        case .nose: return "nose"
        case .rightEye: return "right_eye"
        case .leftEye: return "left_eye"
        case .rightBrow: return "right_brow"
        case .leftBrow: return "left_brow"
        case .rightEar: return "right_ear"
        case .leftEar: return "left_ear"
        case .mouthInterior: return "mouth_interior"
        case .upperLip: return "top_lip"
        case .lowerLip: return "bottom_lip"
        case .neck: return "neck"
        case .hair: return "hair"
        case .beard: return "beard"
        case .clothing: return "clothing"
        case .glasses: return "glasses"
        case .headwear: return "headwear"
        case .facewear: return "facewear"
        case .ignore: return "ignore"
        }
    }

    /// Preview colours (sRGB), one per class.
    public var color: SIMD3<UInt8> {
        let table: [SIMD3<UInt8>] = [
            SIMD3(0, 0, 0), SIMD3(230, 180, 150), SIMD3(255, 80, 60), SIMD3(40, 90, 255), SIMD3(0, 200, 255),
            SIMD3(120, 60, 20), SIMD3(190, 110, 40), SIMD3(0, 150, 60), SIMD3(90, 230, 90), SIMD3(110, 0, 40),
            SIMD3(255, 0, 150), SIMD3(200, 0, 255), SIMD3(200, 160, 255), SIMD3(90, 50, 10), SIMD3(60, 30, 30),
            SIMD3(80, 80, 160), SIMD3(255, 255, 0), SIMD3(0, 120, 120), SIMD3(150, 150, 150),
        ]
        return self == .ignore ? SIMD3(255, 255, 255) : table[Int(rawValue)]
    }

    /// Classes whose pixels show skin (the visible-skin mask is their union).
    public var isSkin: Bool { [.skin, .nose, .rightEar, .leftEar, .upperLip, .lowerLip, .neck].contains(self) }
}

/// The material a face is shaded with.
public enum SurfaceKind: UInt8, Sendable {
    case skin = 0, lip, brow, sclera, iris, teeth, mouth, eyelash
}
