/// A decoded Python object from a pickle.
///
/// Containers are values (Swift arrays); shared references in the pickle become shared
/// copies. A reference cycle (an object that contains itself) is cut and reads as `.none` at
/// the back edge.
///
/// Python 2 `str` (opcodes STRING, BINSTRING, SHORT_BINSTRING) stays raw `.bytes`, because
/// numpy stored array data in it; everything that wants text (dict keys, dtype codes, module
/// names) reads `.bytes` as latin-1 through `text`.
public enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer that does not fit in 64 bits: little-endian two's complement, as LONG1/LONG4 store it.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// Pairs in insertion order; keys may be any value.
    case dict([(key: PickleValue, value: PickleValue)])
    /// `set` or `frozenset`, in pickle order.
    case set([PickleValue])
    /// A reference to a module-level name (a class or function) that nothing recognised.
    case global(module: String, name: String)
    /// An object built by REDUCE / NEWOBJ / INST / OBJ that nothing recognised (chumpy `Ch`,
    /// torch tensors, user classes): the callable, its arguments and any BUILD state.
    indirect case object(PickleObject)
    /// A numpy array (from `_reconstruct` + state, `_frombuffer`, or a numpy scalar as a 0-d array).
    case ndarray(NDArray)
    /// A `numpy.dtype` object.
    case dtype(NumpyDType)
    /// A scipy.sparse CSC or CSR matrix.
    case sparse(SparseMatrix)
    /// A persistent id the unpickler was given no `persistentLoad` for.
    indirect case persistent(PickleValue)
}

/// An object built by calling something: `callable(*args, **kwargs)`, then BUILD with `state`,
/// then `append`/`__setitem__` with the listed items.
public struct PickleObject: Sendable {
    public enum Construction: Sendable { case reduce, newobj, inst }
    public var callable: PickleValue
    public var args: [PickleValue]
    public var kwargs: [(key: PickleValue, value: PickleValue)]
    public var construction: Construction
    public var state: PickleValue?
    public var listItems: [PickleValue]
    public var dictItems: [(key: PickleValue, value: PickleValue)]

    public init(callable: PickleValue, args: [PickleValue], kwargs: [(key: PickleValue, value: PickleValue)] = [],
                construction: Construction, state: PickleValue? = nil, listItems: [PickleValue] = [],
                dictItems: [(key: PickleValue, value: PickleValue)] = []) {
        self.callable = callable; self.args = args; self.kwargs = kwargs; self.construction = construction
        self.state = state; self.listItems = listItems; self.dictItems = dictItems
    }

    /// `module.name` of the class or function, when it is a global.
    public var qualifiedName: String? {
        if case let .global(m, n) = callable { return "\(m).\(n)" }
        return nil
    }

    /// Is this a chumpy `Ch` (the plain array wrapper SMPL/FLAME pickles use)?
    public var isChumpy: Bool {
        guard case let .global(m, n) = callable else { return false }
        return m.hasPrefix("chumpy") && n == "Ch"
    }
}

/// A numpy dtype: kind, item size and byte order.
public struct NumpyDType: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Character, Sendable {
        case bool = "b", int = "i", uint = "u", float = "f", complex = "c", object = "O"
        case bytes = "S", unicode = "U", void = "V", datetime = "M", timedelta = "m"
    }
    public var kind: Kind
    public var itemSize: Int
    public var bigEndian: Bool

    public init(kind: Kind, itemSize: Int, bigEndian: Bool = false) {
        self.kind = kind; self.itemSize = itemSize; self.bigEndian = bigEndian
    }

    /// Parses a numpy type string: `<f4`, `>i8`, `|u1`, `=f8`, `f8`, `b1`, `?`, `O`, `O8`, or a
    /// one-letter type code (`d`, `f`, `i`, `B`, ...). `nil` when it is not one.
    public init?(_ text: String) {
        var s = Substring(text)
        var big = false
        if let c = s.first, "<>|=!".contains(c) {
            big = (c == ">" || c == "!")
            s = s.dropFirst()
        }
        guard let letter = s.first else { return nil }
        let digits = s.dropFirst()
        if digits.isEmpty {
            // One-letter codes (numpy's `dtype.char`), as on x86-64 Linux.
            let codes: [Character: (Kind, Int)] = [
                "?": (.bool, 1), "b": (.int, 1), "B": (.uint, 1), "h": (.int, 2), "H": (.uint, 2),
                "i": (.int, 4), "I": (.uint, 4), "l": (.int, 8), "L": (.uint, 8), "q": (.int, 8), "Q": (.uint, 8),
                "e": (.float, 2), "f": (.float, 4), "d": (.float, 8), "F": (.complex, 8), "D": (.complex, 16),
                "O": (.object, 8), "S": (.bytes, 0), "U": (.unicode, 0), "V": (.void, 0),
            ]
            guard let (k, n) = codes[letter] else { return nil }
            self.init(kind: k, itemSize: n, bigEndian: big)
            return
        }
        guard let n = Int(digits), n >= 0, n <= 1 << 20 else { return nil }
        let kind: Kind
        switch letter {
        case "b", "?": kind = .bool
        case "i": kind = .int
        case "u": kind = .uint
        case "f": kind = .float
        case "c": kind = .complex
        case "O": kind = .object
        case "S", "a": kind = .bytes
        case "U": kind = .unicode
        case "V": kind = .void
        case "M": kind = .datetime
        case "m": kind = .timedelta
        default: return nil
        }
        self.init(kind: kind, itemSize: kind == .unicode ? 4 * n : n, bigEndian: big)
    }

    /// numpy's `dtype.str`: byte order, kind, size.
    public var description: String {
        let order = itemSize <= 1 || kind == .object || kind == .bytes || kind == .void ? "|" : (bigEndian ? ">" : "<")
        return "\(order)\(kind.rawValue)\(kind == .unicode ? itemSize / 4 : itemSize)"
    }

    /// Is this a plain number type the typed accessors convert (bool, ints, floats)?
    public var isNumeric: Bool {
        switch kind {
        case .bool: return itemSize == 1
        case .int, .uint: return [1, 2, 4, 8].contains(itemSize)
        case .float: return [2, 4, 8].contains(itemSize)
        default: return false
        }
    }
}

/// A numpy array: dtype, shape, memory order and the raw element bytes as stored.
public struct NDArray: Sendable {
    public var dtype: NumpyDType
    public var shape: [Int]
    public var fortranOrder: Bool
    /// Raw elements in storage order (C or Fortran), `count * dtype.itemSize` bytes. Empty for object arrays.
    public var data: [UInt8]
    /// Elements of an object array (dtype `O`), in storage order.
    public var objects: [PickleValue]

    public init(dtype: NumpyDType, shape: [Int], fortranOrder: Bool = false, data: [UInt8], objects: [PickleValue] = []) {
        self.dtype = dtype; self.shape = shape; self.fortranOrder = fortranOrder
        self.data = data; self.objects = objects
    }

    /// Number of elements (product of the shape; 1 for a 0-d array).
    public var count: Int { shape.reduce(1, *) }

    /// Element `i` (in storage order) as a Double. Caller guarantees a numeric dtype and a valid index.
    @inline(__always) func element(_ i: Int, _ raw: UnsafeRawBufferPointer) -> Double {
        let n = dtype.itemSize, off = i * n
        @inline(__always) func load<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = raw.loadUnaligned(fromByteOffset: off, as: T.self)
            return dtype.bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch (dtype.kind, n) {
        case (.float, 8): return Double(bitPattern: UInt64(load(UInt64.self)))
        case (.float, 4): return Double(Float(bitPattern: load(UInt32.self)))
        case (.float, 2): return Double(Float(float16Bits: load(UInt16.self)))
        case (.int, 1): return Double(Int8(bitPattern: raw[off]))
        case (.int, 2): return Double(Int16(bitPattern: load(UInt16.self)))
        case (.int, 4): return Double(Int32(bitPattern: load(UInt32.self)))
        case (.int, 8): return Double(Int64(bitPattern: load(UInt64.self)))
        case (.uint, 1), (.bool, 1): return Double(raw[off])
        case (.uint, 2): return Double(load(UInt16.self))
        case (.uint, 4): return Double(load(UInt32.self))
        case (.uint, 8): return Double(load(UInt64.self))
        default: return .nan
        }
    }

    /// Element `i` (storage order) as an Int64 (exact for integer kinds; floats are truncated by the caller's check).
    @inline(__always) func integerElement(_ i: Int, _ raw: UnsafeRawBufferPointer) -> (Int64, exact: Bool) {
        let n = dtype.itemSize, off = i * n
        @inline(__always) func load<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = raw.loadUnaligned(fromByteOffset: off, as: T.self)
            return dtype.bigEndian ? T(bigEndian: v) : T(littleEndian: v)
        }
        switch (dtype.kind, n) {
        case (.int, 1): return (Int64(Int8(bitPattern: raw[off])), true)
        case (.int, 2): return (Int64(Int16(bitPattern: load(UInt16.self))), true)
        case (.int, 4): return (Int64(Int32(bitPattern: load(UInt32.self))), true)
        case (.int, 8): return (Int64(bitPattern: load(UInt64.self)), true)
        case (.uint, 1), (.bool, 1): return (Int64(raw[off]), true)
        case (.uint, 2): return (Int64(load(UInt16.self)), true)
        case (.uint, 4): return (Int64(load(UInt32.self)), true)
        case (.uint, 8):
            let v = load(UInt64.self)
            return v <= UInt64(Int64.max) ? (Int64(v), true) : (0, false)
        default:
            let d = element(i, raw)
            guard d.isFinite, d == d.rounded(), abs(d) < 9.2e18 else { return (0, false) }
            return (Int64(d), true)
        }
    }

    /// Storage index of each C-order element (identity for C order).
    func storageIndices() -> [Int]? {
        guard fortranOrder, shape.count > 1 else { return nil }
        let n = count
        var out = [Int](repeating: 0, count: n)
        // Fortran strides: stride[k] = prod(shape[0..<k]).
        var strides = [Int](repeating: 1, count: shape.count)
        for k in 1..<shape.count { strides[k] = strides[k - 1] * shape[k - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        var off = 0
        for c in 0..<n {
            out[c] = off
            // Increment the C-order multi-index (last axis fastest).
            var k = shape.count - 1
            while k >= 0 {
                index[k] += 1; off += strides[k]
                if index[k] < shape[k] { break }
                off -= strides[k] * index[k]; index[k] = 0; k -= 1
            }
        }
        return out
    }

    /// All elements as Doubles in C (row-major) order. `nil` for non-numeric dtypes.
    public func doubles() -> [Double]? {
        if dtype.kind == .object {
            var out: [Double] = []
            out.reserveCapacity(objects.count)
            for o in objects { guard let d = o.doubleValue else { return nil }; out.append(d) }
            return reorder(out)
        }
        guard dtype.isNumeric, data.count >= count * dtype.itemSize else { return nil }
        let n = count
        let perm = storageIndices()
        return data.withUnsafeBytes { raw in
            (0..<n).map { element(perm?[$0] ?? $0, raw) }
        }
    }

    /// All elements as Floats in C order. `nil` for non-numeric dtypes.
    public func floats() -> [Float]? {
        let n = count
        if dtype.kind == .float, dtype.itemSize == 8 || dtype.itemSize == 4, data.count >= n * dtype.itemSize {
            // Fast path for the common float types.
            let perm = storageIndices()
            let size = dtype.itemSize, big = dtype.bigEndian
            return [Float](unsafeUninitializedCapacity: n) { buf, done in
                data.withUnsafeBytes { raw in
                    for c in 0..<n {
                        let off = (perm?[c] ?? c) * size
                        if size == 8 {
                            let b = raw.loadUnaligned(fromByteOffset: off, as: UInt64.self)
                            buf[c] = Float(Double(bitPattern: big ? UInt64(bigEndian: b) : UInt64(littleEndian: b)))
                        } else {
                            let b = raw.loadUnaligned(fromByteOffset: off, as: UInt32.self)
                            buf[c] = Float(bitPattern: big ? UInt32(bigEndian: b) : UInt32(littleEndian: b))
                        }
                    }
                }
                done = n
            }
        }
        return doubles()?.map { Float($0) }
    }

    /// All elements as Int64 in C order; `nil` when the dtype is not numeric or a value is not an integer.
    public func int64s() -> [Int64]? {
        if dtype.kind == .object {
            var out: [Int64] = []
            for o in objects { guard let v = o.intValue else { return nil }; out.append(v) }
            return reorder(out)
        }
        guard dtype.isNumeric, data.count >= count * dtype.itemSize else { return nil }
        let n = count
        let perm = storageIndices()
        var ok = true
        let out: [Int64] = data.withUnsafeBytes { raw in
            (0..<n).map { c in
                let (v, exact) = integerElement(perm?[c] ?? c, raw)
                if !exact { ok = false }
                return v
            }
        }
        return ok ? out : nil
    }

    /// Elements of an object array in C order.
    public func objectElements() -> [PickleValue] { reorder(objects) }

    private func reorder<T>(_ values: [T]) -> [T] {
        guard let perm = storageIndices(), values.count == perm.count else { return values }
        return perm.map { values[$0] }
    }
}

extension Float {
    /// IEEE half → single, done by hand (Float16 is unavailable on some x86 toolchains).
    init(float16Bits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f), frac = UInt32(h & 0x3ff)
        if exp == 0 {
            let v = Float(frac) * 0x1p-24
            self = sign != 0 ? -v : v
        } else if exp == 31 {
            self = Float(bitPattern: sign | 0x7f80_0000 | (frac << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (frac << 13))
        }
    }
}

/// A scipy.sparse matrix in compressed column (CSC) or row (CSR) form.
public struct SparseMatrix: Sendable {
    public enum Format: String, Sendable { case csc, csr }
    public var format: Format
    public var rows: Int
    public var columns: Int
    public var data: [Double]      // [nnz]
    public var indices: [Int]      // [nnz] row (CSC) or column (CSR) of each entry
    public var indptr: [Int]       // [columns + 1] (CSC) or [rows + 1] (CSR)

    public init(format: Format, rows: Int, columns: Int, data: [Double], indices: [Int], indptr: [Int]) {
        self.format = format; self.rows = rows; self.columns = columns
        self.data = data; self.indices = indices; self.indptr = indptr
    }

    /// Checks the structure; returns the reason it is invalid, or nil.
    public func problem() -> String? {
        let major = format == .csc ? columns : rows, minor = format == .csc ? rows : columns
        guard rows >= 0, columns >= 0 else { return "negative shape" }
        guard indptr.count == major + 1 else { return "indptr has \(indptr.count) entries, expected \(major + 1)" }
        guard indptr.first == 0 else { return "indptr does not start at 0" }
        for k in 0..<major where indptr[k + 1] < indptr[k] { return "indptr decreases at \(k)" }
        guard indptr[major] == data.count, data.count == indices.count else {
            return "nnz mismatch: indptr ends at \(indptr[major]), data \(data.count), indices \(indices.count)"
        }
        if let bad = indices.first(where: { $0 < 0 || $0 >= minor }) { return "index \(bad) out of range 0..<\(minor)" }
        return nil
    }

    /// Dense row-major `[rows, columns]` (duplicates summed, as scipy does).
    public func dense() -> [Double] {
        var out = [Double](repeating: 0, count: rows * columns)
        let major = format == .csc ? columns : rows
        for m in 0..<major {
            for k in indptr[m]..<indptr[m + 1] {
                let (r, c) = format == .csc ? (indices[k], m) : (m, indices[k])
                out[r * columns + c] += data[k]
            }
        }
        return out
    }
}

// MARK: - Equality (dict pairs are tuples, so it is spelled out)

extension PickleValue: Equatable {
    public static func == (a: PickleValue, b: PickleValue) -> Bool {
        switch (a, b) {
        case (.none, .none): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.bigInt(x), .bigInt(y)): return x == y
        case let (.float(x), .float(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.bytes(x), .bytes(y)): return x == y
        case let (.list(x), .list(y)), let (.tuple(x), .tuple(y)), let (.set(x), .set(y)): return x == y
        case let (.dict(x), .dict(y)): return pairsEqual(x, y)
        case let (.global(m1, n1), .global(m2, n2)): return m1 == m2 && n1 == n2
        case let (.object(x), .object(y)): return x == y
        case let (.ndarray(x), .ndarray(y)): return x == y
        case let (.dtype(x), .dtype(y)): return x == y
        case let (.sparse(x), .sparse(y)): return x == y
        case let (.persistent(x), .persistent(y)): return x == y
        default: return false
        }
    }
}

func pairsEqual(_ x: [(key: PickleValue, value: PickleValue)], _ y: [(key: PickleValue, value: PickleValue)]) -> Bool {
    x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
}

extension PickleObject: Equatable {
    public static func == (a: PickleObject, b: PickleObject) -> Bool {
        a.callable == b.callable && a.args == b.args && pairsEqual(a.kwargs, b.kwargs)
            && a.construction == b.construction && a.state == b.state && a.listItems == b.listItems
            && pairsEqual(a.dictItems, b.dictItems)
    }
}

extension NDArray: Equatable {}
extension SparseMatrix: Equatable {}
