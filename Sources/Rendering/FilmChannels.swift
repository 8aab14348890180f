/// Raw views of a film's channels for the render workers. Writing through `Film`'s array
/// properties costs a uniqueness check and a dynamic exclusivity check per store (a tenth of the
/// render time in profiles); the integrator takes these views once per image instead. Workers
/// write disjoint pixels.
struct FilmChannels: @unchecked Sendable {
    var rgb, coverage, foreground, skinVisible, skinAmodal, segmentation: UnsafeMutablePointer<UInt8>
    var hairCoverage, beardCoverage, eyebrowsCoverage, eyelashesCoverage: UnsafeMutablePointer<UInt8>
    var accessoryCoverage: UnsafeMutablePointer<UInt8>   // [AccessoryLayer, H, W]
    var radiance, normalsCamera, normalsModel, uv, depth, barycentric, normalsAmodal, uvAmodal: UnsafeMutablePointer<Float>
    var triangle: UnsafeMutablePointer<Int32>
    var width: Int, height: Int

    /// Resets every label channel of row `y` to its background value.
    func clearLabels(row y: Int) {
        let a = y * width, n = width
        for p in [coverage, foreground, skinVisible, skinAmodal, segmentation, hairCoverage, beardCoverage, eyebrowsCoverage, eyelashesCoverage] {
            (p + a).update(repeating: 0, count: n)
        }
        for (p, k) in [(normalsCamera, 3), (normalsModel, 3), (normalsAmodal, 3), (uv, 2), (uvAmodal, 2), (barycentric, 2), (depth, 1)] {
            (p + k * a).update(repeating: 0, count: k * n)
        }
        (triangle + a).update(repeating: -1, count: n)
        for l in 0..<AccessoryLayer.allCases.count { (accessoryCoverage + l * width * height + a).update(repeating: 0, count: n) }
    }
}

extension Film {
    /// Calls `body` with raw views of every channel (one exclusive access to the film for the
    /// whole call; the views must not escape it).
    func withChannels<R>(_ body: (FilmChannels) throws -> R) rethrows -> R {
        try rgb.withUnsafeMutableBufferPointer { rgb in
        try coverage.withUnsafeMutableBufferPointer { coverage in
        try foreground.withUnsafeMutableBufferPointer { foreground in
        try skinVisible.withUnsafeMutableBufferPointer { skinVisible in
        try skinAmodal.withUnsafeMutableBufferPointer { skinAmodal in
        try segmentation.withUnsafeMutableBufferPointer { segmentation in
        try hairCoverage.withUnsafeMutableBufferPointer { hairCoverage in
        try beardCoverage.withUnsafeMutableBufferPointer { beardCoverage in
        try eyebrowsCoverage.withUnsafeMutableBufferPointer { eyebrowsCoverage in
        try accessoryCoverage.withUnsafeMutableBufferPointer { accessoryCoverage in
        try eyelashesCoverage.withUnsafeMutableBufferPointer { eyelashesCoverage in
        try radiance.withUnsafeMutableBufferPointer { radiance in
        try normalsCamera.withUnsafeMutableBufferPointer { normalsCamera in
        try normalsModel.withUnsafeMutableBufferPointer { normalsModel in
        try uv.withUnsafeMutableBufferPointer { uv in
        try depth.withUnsafeMutableBufferPointer { depth in
        try barycentric.withUnsafeMutableBufferPointer { barycentric in
        try normalsAmodal.withUnsafeMutableBufferPointer { normalsAmodal in
        try uvAmodal.withUnsafeMutableBufferPointer { uvAmodal in
        try triangle.withUnsafeMutableBufferPointer { triangle in
            try body(FilmChannels(
                rgb: rgb.baseAddress!, coverage: coverage.baseAddress!, foreground: foreground.baseAddress!,
                skinVisible: skinVisible.baseAddress!, skinAmodal: skinAmodal.baseAddress!, segmentation: segmentation.baseAddress!,
                hairCoverage: hairCoverage.baseAddress!, beardCoverage: beardCoverage.baseAddress!, eyebrowsCoverage: eyebrowsCoverage.baseAddress!,
                eyelashesCoverage: eyelashesCoverage.baseAddress!, accessoryCoverage: accessoryCoverage.baseAddress!,
                radiance: radiance.baseAddress!, normalsCamera: normalsCamera.baseAddress!, normalsModel: normalsModel.baseAddress!,
                uv: uv.baseAddress!, depth: depth.baseAddress!, barycentric: barycentric.baseAddress!,
                normalsAmodal: normalsAmodal.baseAddress!, uvAmodal: uvAmodal.baseAddress!, triangle: triangle.baseAddress!,
                width: width, height: height))
        } } } } } } } } } } } } } } } } } } } }
    }
}
