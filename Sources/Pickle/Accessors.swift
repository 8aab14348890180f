// Typed access to decoded pickles.

extension PickleValue {
    /// A short name of the Python type, for error messages.
    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .set: return "set"
        case let .global(m, n): return "global \(m).\(n)"
        case let .object(o): return "\(o.qualifiedName ?? "object") object"
        case let .ndarray(a): return "ndarray \(a.dtype) \(a.shape)"
        case .dtype: return "numpy.dtype"
        case let .sparse(s): return "scipy.sparse \(s.format.rawValue) [\(s.rows), \(s.columns)]"
        case .persistent: return "persistent id"
        }
    }

    /// Text of a `str`, or of a Python 2 `str` / bytes read as latin-1.
    public var text: String? {
        switch self {
        case let .string(s): return s
        case let .bytes(b): return String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) }))
        default: return nil
        }
    }

    /// An integer: int, bool, or a one-element integer/bool numpy array.
    public var intValue: Int64? {
        switch self {
        case let .int(v): return v
        case let .bool(b): return b ? 1 : 0
        case let .ndarray(a) where a.count == 1 && a.dtype.kind != .float: return a.int64s()?.first
        default: return nil
        }
    }

    /// A number: int, float, bool, or a one-element numeric numpy array.
    public var doubleValue: Double? {
        switch self {
        case let .int(v): return Double(v)
        case let .float(d): return d
        case let .bool(b): return b ? 1 : 0
        case let .ndarray(a) where a.count == 1: return a.doubles()?.first
        default: return nil
        }
    }

    public var boolValue: Bool? {
        switch self {
        case let .bool(b): return b
        case let .int(v): return v != 0
        case let .ndarray(a) where a.count == 1: return a.doubles()?.first.map { $0 != 0 }
        default: return nil
        }
    }

    /// The dict's pairs (also for objects whose state is a dict is *not* implied: use `state`).
    public var dictPairs: [(key: PickleValue, value: PickleValue)]? {
        if case let .dict(d) = self { return d }
        return nil
    }

    /// Looks a string key up in a dict (matching `str` keys and Python 2 `str`/bytes keys read as latin-1).
    public subscript(key: String) -> PickleValue? {
        guard case let .dict(pairs) = self else { return nil }
        return pairs.first(where: { $0.key.text == key })?.value
    }

    /// String keys of a dict, in order.
    public var keys: [String] {
        dictPairs?.compactMap { $0.key.text } ?? []
    }

    /// The numpy array behind this value: an ndarray itself, or a chumpy `Ch` (its state's `x`).
    public var ndarray: NDArray? {
        switch self {
        case let .ndarray(a): return a
        case let .object(o) where o.isChumpy:
            // chumpy pickles `__dict__` minus caches: {'x': ndarray, '_dirty_vars': set, ...}.
            return o.state?["x"]?.ndarray
        default: return nil
        }
    }
}

/// A value plus where it came from, so typed accessors can throw errors naming the file and key.
public struct PickleField: Sendable {
    public let value: PickleValue
    public let file: String
    /// Dotted key path from the root ("" for the root).
    public let path: String

    public init(_ value: PickleValue, file: String, path: String = "") {
        self.value = value; self.file = file; self.path = path
    }

    /// Reads the single pickle in a file.
    public static func load(_ path: String) throws -> PickleField {
        PickleField(try Unpickler.load(contentsOf: path), file: path)
    }

    func wrong(_ expected: String) -> PickleError {
        .wrongType(file: file, path: path, expected: expected, got: value.typeName)
    }

    func child(_ v: PickleValue, _ key: String) -> PickleField {
        PickleField(v, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// The value under a string key of a dict (or of an object's state dict, such as a chumpy
    /// or `Struct`-like object); throws naming the key when absent.
    public func key(_ k: String) throws -> PickleField {
        guard let v = optionalKey(k) else {
            if value.dictPairs == nil, !isObjectWithDictState { throw wrong("dict with key '\(k)'") }
            throw PickleError.missingKey(file: file, path: path, key: k)
        }
        return v
    }

    public func optionalKey(_ k: String) -> PickleField? {
        if let v = value[k] { return child(v, k) }
        if case let .object(o) = value, let v = o.state?[k] ?? o.dictItems.first(where: { $0.key.text == k })?.value {
            return child(v, k)
        }
        return nil
    }

    private var isObjectWithDictState: Bool {
        if case let .object(o) = value, o.state?.dictPairs != nil || !o.dictItems.isEmpty { return true }
        return false
    }

    public var keys: [String] { value.keys }

    public func string() throws -> String {
        guard let s = value.text else { throw wrong("string") }
        return s
    }

    public func int() throws -> Int64 {
        guard let v = value.intValue else { throw wrong("integer") }
        return v
    }

    public func double() throws -> Double {
        guard let v = value.doubleValue else { throw wrong("number") }
        return v
    }

    public func list() throws -> [PickleField] {
        switch value {
        case let .list(items), let .tuple(items):
            return items.enumerated().map { child($1, "\($0)") }
        default: throw wrong("list")
        }
    }

    public func sparse() throws -> SparseMatrix {
        guard case let .sparse(s) = value else { throw wrong("scipy sparse matrix") }
        return s
    }

    /// Any numeric array as Doubles in C order with its shape: numpy arrays of any numeric dtype,
    /// byte order and memory order, chumpy objects, (nested) lists and tuples of numbers,
    /// scalars (shape []), and sparse matrices (densified).
    public func doubleArray() throws -> (values: [Double], shape: [Int]) {
        if let a = value.ndarray {
            guard let v = a.doubles() else { throw wrong("numeric array") }
            return (v, a.shape)
        }
        switch value {
        case let .sparse(s): return (s.dense(), [s.rows, s.columns])
        case .list, .tuple:
            var shape: [Int] = []
            var out: [Double] = []
            guard nested(value, depth: 0, shape: &shape, out: &out) else { throw wrong("rectangular nested list of numbers") }
            return (out, shape)
        default:
            guard let d = value.doubleValue else { throw wrong("numeric array") }
            return ([d], [])
        }
    }

    private func nested(_ v: PickleValue, depth: Int, shape: inout [Int], out: inout [Double]) -> Bool {
        switch v {
        case let .list(items), let .tuple(items):
            guard depth < 64 else { return false }
            if depth == shape.count { shape.append(items.count) } else if shape[depth] != items.count { return false }
            for it in items where !nested(it, depth: depth + 1, shape: &shape, out: &out) { return false }
            return true
        default:
            guard depth == shape.count, let d = v.doubleValue else { return false }
            out.append(d)
            return true
        }
    }

    /// `doubleArray()` converted to Float.
    public func floatArray() throws -> (values: [Float], shape: [Int]) {
        if let a = value.ndarray {
            guard let v = a.floats() else { throw wrong("numeric array") }
            return (v, a.shape)
        }
        let (d, s) = try doubleArray()
        return (d.map { Float($0) }, s)
    }

    /// Integer array (any integer or bool dtype, or floats holding whole numbers) as Int64.
    public func int64Array() throws -> (values: [Int64], shape: [Int]) {
        if let a = value.ndarray {
            guard let v = a.int64s() else { throw wrong("integer array") }
            return (v, a.shape)
        }
        let (d, s) = try doubleArray()
        var out: [Int64] = []
        out.reserveCapacity(d.count)
        for x in d {
            guard x.isFinite, x == x.rounded(), abs(x) < 9.2e18 else { throw wrong("integer array") }
            out.append(Int64(x))
        }
        return (out, s)
    }

    /// Integer array as Int32; values outside Int32 are an error.
    public func int32Array() throws -> (values: [Int32], shape: [Int]) {
        let (v, s) = try int64Array()
        var out: [Int32] = []
        out.reserveCapacity(v.count)
        for x in v {
            guard let y = Int32(exactly: x) else {
                throw PickleError.wrongType(file: file, path: path, expected: "int32 values", got: "\(x)")
            }
            out.append(y)
        }
        return (out, s)
    }
}

extension PickleValue {
    /// `PickleField(self, file:).floatArray()` for values without a file.
    public func floatArray(file: String = "<pickle>", path: String = "") throws -> (values: [Float], shape: [Int]) {
        try PickleField(self, file: file, path: path).floatArray()
    }

    public func doubleArray(file: String = "<pickle>", path: String = "") throws -> (values: [Double], shape: [Int]) {
        try PickleField(self, file: file, path: path).doubleArray()
    }

    public func int32Array(file: String = "<pickle>", path: String = "") throws -> (values: [Int32], shape: [Int]) {
        try PickleField(self, file: file, path: path).int32Array()
    }

    public func int64Array(file: String = "<pickle>", path: String = "") throws -> (values: [Int64], shape: [Int]) {
        try PickleField(self, file: file, path: path).int64Array()
    }
}
