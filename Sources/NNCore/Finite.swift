/// A NaN or ±Inf found where finite numbers are required. Names the tensor (and where it came from).
public struct NonFiniteError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var index: Int
    public var value: Double
    public var context: String

    public var description: String {
        "non-finite value \(value) at flat index \(index) of tensor '\(name)'" + (context.isEmpty ? "" : " (\(context))")
    }
}

/// Throws `NonFiniteError` naming `name` if any element is NaN or ±Inf. Use on inputs and, in the
/// optimizer, on gradients before they touch the weights.
@_specialize(where S == Float)
public func checkFinite<S: NNScalar>(_ values: [S], name: String, context: String = "") throws {
    try values.withUnsafeBufferPointer { p in
        // Fast path: a sum of a finite array times zero is zero; any NaN/Inf poisons it. Float in 16 lanes (one
        // dependent add per 16 values instead of per value: this check reads every gradient before each AdamW step).
        var probe: S = 0, start = 0
        if S.self == Float.self, let base = p.baseAddress {
            let raw = UnsafeRawPointer(base)
            var lanes = SIMD16<Float>(repeating: 0)
            while start + 16 <= p.count { lanes += raw.loadUnaligned(fromByteOffset: 4 * start, as: SIMD16<Float>.self) * 0; start += 16 }
            probe = unsafeBitCast(horizontalSum(lanes), to: S.self)
        }
        for i in start..<p.count { probe += p[i] * 0 }
        if probe == 0 { return }
        for (i, v) in p.enumerated() where !v.isFinite {
            throw NonFiniteError(name: name, index: i, value: Double(v), context: context)
        }
    }
}

@_specialize(where S == Float)
public func checkFinite<S: NNScalar>(_ tensor: Tensor<S>, name: String, context: String = "") throws {
    try checkFinite(tensor.data, name: name, context: context)
}
