/// Turns the VM's mutable nodes into `PickleValue`s, decoding what it recognises:
/// numpy arrays, dtypes and scalars, scipy sparse matrices, sets, bytes built by
/// `_codecs.encode` / `bytearray`, `copy_reg._reconstructor` objects and `OrderedDict`.
struct Resolver {
    let file: String
    var done: [ObjectIdentifier: PickleValue] = [:]
    var inProgress: Set<ObjectIdentifier> = []
    var depth = 0
    static let maxDepth = 1000

    init(file: String) { self.file = file }

    func error(_ n: Node, _ reason: String) -> PickleError {
        .malformed(file: file, offset: n.offset, opcode: n.opcode, reason: reason)
    }

    mutating func resolve(_ n: Node) throws -> PickleValue {
        if n.kind == .leaf { return n.leaf }
        let id = ObjectIdentifier(n)
        if let v = done[id] { return v }
        if inProgress.contains(id) { return .none }   // a reference cycle: cut it
        guard depth < Resolver.maxDepth else { throw error(n, "nesting deeper than \(Resolver.maxDepth)") }
        inProgress.insert(id); depth += 1
        defer { inProgress.remove(id); depth -= 1 }
        let v: PickleValue
        switch n.kind {
        case .leaf: v = n.leaf
        case .list: v = .list(try n.items.map { try resolve($0) })
        case .tuple: v = .tuple(try n.items.map { try resolve($0) })
        case .set, .frozenset: v = .set(try n.items.map { try resolve($0) })
        case .dict: v = .dict(try n.pairs.map { (key: try resolve($0.0), value: try resolve($0.1)) })
        case .object: v = try resolveObject(n)
        }
        done[id] = v
        return v
    }

    mutating func resolveObject(_ n: Node) throws -> PickleValue {
        guard let callableNode = n.callable else { throw error(n, "object without a class") }
        let callable = try resolve(callableNode)
        var args: [PickleValue] = []
        if let a = n.args {
            switch try resolve(a) {
            case let .tuple(t), let .list(t): args = t
            case .none: args = []
            default: throw error(n, "arguments are not a tuple")
            }
        }
        var kwargs: [(key: PickleValue, value: PickleValue)] = []
        if let k = n.kwargs {
            guard case let .dict(d) = try resolve(k) else { throw error(n, "keyword arguments are not a dict") }
            kwargs = d
        }
        let state = try n.state.map { try resolve($0) }
        let listItems = try n.items.map { try resolve($0) }
        let dictItems = try n.pairs.map { (key: try resolve($0.0), value: try resolve($0.1)) }
        var obj = PickleObject(callable: callable, args: args, kwargs: kwargs, construction: n.construction,
                               state: state, listItems: listItems, dictItems: dictItems)

        guard case let .global(module, name) = callable else { return .object(obj) }
        let isNumpyMultiarray = module == "numpy.core.multiarray" || module == "numpy._core.multiarray"
        let isBuiltins = module == "__builtin__" || module == "builtins"

        switch (module, name) {
        case _ where isNumpyMultiarray && name == "_reconstruct" && n.construction == .reduce:
            return .ndarray(try ndarray(fromState: state, n))
        case ("numpy", "dtype"):
            return .dtype(try dtype(args: args, state: state, n))
        case _ where isNumpyMultiarray && name == "scalar":
            return .ndarray(try scalar(args: args, n))
        case ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"):
            return .ndarray(try frombuffer(args: args, n))
        case ("_codecs", "encode"):
            return .bytes(try encode(args, n))
        case _ where isBuiltins && (name == "set" || name == "frozenset"):
            guard let first = args.first else { return .set([]) }
            switch first {
            case let .list(items), let .tuple(items), let .set(items): return .set(items)
            default: throw error(n, "\(name)() of a \(first.typeName)")
            }
        case _ where isBuiltins && (name == "bytearray" || name == "bytes"):
            guard let first = args.first else { return .bytes([]) }
            switch first {
            case let .bytes(b): return .bytes(b)
            case .string: return .bytes(try encode(args, n))
            case let .list(items):
                let b = items.compactMap { $0.intValue.flatMap { UInt8(exactly: $0) } }
                guard b.count == items.count else { throw error(n, "\(name)() of a list that is not bytes") }
                return .bytes(b)
            default: throw error(n, "\(name)() of a \(first.typeName)")
            }
        case ("collections", "OrderedDict"):
            var pairs: [(key: PickleValue, value: PickleValue)] = []
            if let first = args.first, case let .list(items) = first {
                for item in items {
                    guard case let .tuple(kv) = item, kv.count == 2 else { throw error(n, "OrderedDict items are not pairs") }
                    pairs.append((key: kv[0], value: kv[1]))
                }
            }
            return .dict(pairs + dictItems)
        case ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"):
            // copy_reg._reconstructor(cls, base, base_state): an instance of cls, then BUILD.
            guard let cls = args.first else { throw error(n, "_reconstructor without a class") }
            obj = PickleObject(callable: cls, args: [], construction: .newobj, state: state,
                               listItems: listItems, dictItems: dictItems)
            return try recogniseClass(obj, n)
        default:
            if n.construction == .newobj || n.construction == .inst { return try recogniseClass(obj, n) }
            return .object(obj)
        }
    }

    /// Instances of known classes.
    func recogniseClass(_ obj: PickleObject, _ n: Node) throws -> PickleValue {
        guard case let .global(module, name) = obj.callable else { return .object(obj) }
        let sparseModules: Set<String> = ["scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr",
                                          "scipy.sparse.compressed", "scipy.sparse._compressed", "scipy.sparse"]
        if sparseModules.contains(module), ["csc_matrix", "csr_matrix", "csc_array", "csr_array"].contains(name) {
            return .sparse(try sparse(name.hasPrefix("csc") ? .csc : .csr, state: obj.state, n))
        }
        return .object(obj)
    }

    // MARK: numpy

    func text(_ v: PickleValue?) -> String? { v?.text }

    func dtype(args: [PickleValue], state: PickleValue?, _ n: Node) throws -> NumpyDType {
        guard let code = args.first?.text else { throw error(n, "numpy.dtype without a type string") }
        guard var dt = NumpyDType(code) else {
            throw PickleError.unsupported(file: file, offset: n.offset, opcode: n.opcode, reason: "numpy dtype '\(code)'")
        }
        if case let .tuple(s)? = state, s.count >= 2 {
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
            if let order = s[1].text {
                switch order {
                case ">": dt.bigEndian = true
                case "<", "|", "=": dt.bigEndian = false
                default: throw error(n, "numpy dtype byte order '\(order)'")
                }
            }
            if s.count >= 5, s[2] != .none || s[3] != .none || s[4] != .none {
                throw PickleError.unsupported(file: file, offset: n.offset, opcode: n.opcode,
                                              reason: "structured or sub-array numpy dtype '\(code)'")
            }
            if s.count >= 6, let elsize = s[5].intValue, elsize > 0, dt.itemSize == 0 { dt.itemSize = Int(elsize) }
        }
        return dt
    }

    func shape(_ v: PickleValue, _ n: Node) throws -> [Int] {
        let items: [PickleValue]
        switch v {
        case let .tuple(t), let .list(t): items = t
        case let .int(i): items = [.int(i)]
        default: throw error(n, "array shape is a \(v.typeName)")
        }
        var out: [Int] = []
        var total = 1
        for it in items {
            guard let d = it.intValue, d >= 0, d < Int64(Int32.max) else { throw error(n, "bad array dimension \(it)") }
            out.append(Int(d))
            let (p, overflow) = total.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p <= 1 << 40 else { throw error(n, "array too large") }
            total = p
        }
        return out
    }

    /// `ndarray.__setstate__` state: (version, shape, dtype, is_fortran, rawdata) or without version.
    func ndarray(fromState state: PickleValue?, _ n: Node) throws -> NDArray {
        guard case var .tuple(s)? = state else { throw error(n, "numpy array without a state tuple") }
        if s.count == 5 { s.removeFirst() }
        guard s.count == 4 else { throw error(n, "numpy array state has \(s.count) items, expected 4 or 5") }
        let shp = try shape(s[0], n)
        guard case let .dtype(dt) = s[1] else { throw error(n, "numpy array dtype is a \(s[1].typeName)") }
        let fortran = s[2].boolValue ?? false
        let count = shp.reduce(1, *)
        if dt.kind == .object {
            guard case let .list(objs) = s[3], objs.count == count else {
                throw error(n, "object array of \(count) elements has data \(s[3].typeName)")
            }
            return NDArray(dtype: dt, shape: shp, fortranOrder: fortran, data: [], objects: objs)
        }
        let raw: [UInt8]
        switch s[3] {
        case let .bytes(b): raw = b
        case let .string(str): raw = try latin1(str, n)   // a Python 2 str unpickled as text
        case let .list(items) where dt.isNumeric: raw = try pack(items, dt, n)
        default: throw error(n, "numpy array data is a \(s[3].typeName)")
        }
        guard raw.count == count * dt.itemSize else {
            throw error(n, "numpy array \(shp) of \(dt) needs \(count * dt.itemSize) bytes, has \(raw.count)")
        }
        return NDArray(dtype: dt, shape: shp, fortranOrder: fortran, data: raw)
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)`: a 0-d array.
    func scalar(args: [PickleValue], _ n: Node) throws -> NDArray {
        guard args.count >= 1, case let .dtype(dt) = args[0] else { throw error(n, "numpy scalar without a dtype") }
        if dt.kind == .object {
            return NDArray(dtype: dt, shape: [], data: [], objects: [args.count > 1 ? args[1] : .none])
        }
        guard args.count >= 2 else { throw error(n, "numpy scalar without data") }
        let raw: [UInt8]
        switch args[1] {
        case let .bytes(b): raw = b
        case let .string(str): raw = try latin1(str, n)
        default: throw error(n, "numpy scalar data is a \(args[1].typeName)")
        }
        guard raw.count == dt.itemSize else { throw error(n, "numpy scalar of \(dt) has \(raw.count) bytes") }
        return NDArray(dtype: dt, shape: [], data: raw)
    }

    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)` (pickle protocol 5).
    func frombuffer(args: [PickleValue], _ n: Node) throws -> NDArray {
        guard args.count >= 3, case let .bytes(raw) = args[0], case let .dtype(dt) = args[1] else {
            throw error(n, "_frombuffer needs (bytes, dtype, shape, order)")
        }
        let shp = try shape(args[2], n)
        let fortran = args.count > 3 && args[3].text == "F"
        guard dt.itemSize > 0, raw.count == shp.reduce(1, *) * dt.itemSize else {
            throw error(n, "numpy array \(shp) of \(dt) needs \(shp.reduce(1, *) * dt.itemSize) bytes, has \(raw.count)")
        }
        return NDArray(dtype: dt, shape: shp, fortranOrder: fortran, data: raw)
    }

    func latin1(_ s: String, _ n: Node) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value < 256 else { throw error(n, "text is not latin-1 (code point \(u.value))") }
            out.append(UInt8(u.value))
        }
        return out
    }

    /// `_codecs.encode(text, encoding)`: how Python 3 pickles bytes at protocols 0–2.
    func encode(_ args: [PickleValue], _ n: Node) throws -> [UInt8] {
        guard let first = args.first else { throw error(n, "encode() without arguments") }
        if case let .bytes(b) = first { return b }
        guard case let .string(s) = first else { throw error(n, "encode() of a \(first.typeName)") }
        let enc = (args.count > 1 ? args[1].text : nil)?.lowercased().replacingOccurrences(of: "-", with: "") ?? "utf8"
        switch enc {
        case "latin1", "latin", "iso88591", "l1": return try latin1(s, n)
        case "utf8", "ascii": return Array(s.utf8)
        default: throw PickleError.unsupported(file: file, offset: n.offset, opcode: n.opcode, reason: "text encoding '\(enc)'")
        }
    }

    /// Packs Python numbers into raw little-endian elements (arrays pickled element by element).
    func pack(_ items: [PickleValue], _ dt: NumpyDType, _ n: Node) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(items.count * dt.itemSize)
        func put<T: FixedWidthInteger>(_ v: T) {
            let x = dt.bigEndian ? v.bigEndian : v.littleEndian
            withUnsafeBytes(of: x) { out += $0 }
        }
        for it in items {
            switch (dt.kind, dt.itemSize) {
            case (.float, 8): guard let d = it.doubleValue else { throw error(n, "non-number in array") }; put(d.bitPattern)
            case (.float, 4): guard let d = it.doubleValue else { throw error(n, "non-number in array") }; put(Float(d).bitPattern)
            default:
                guard let v = it.intValue else { throw error(n, "non-integer in integer array") }
                switch dt.itemSize {
                case 1: out.append(UInt8(truncatingIfNeeded: v))
                case 2: put(UInt16(truncatingIfNeeded: v))
                case 4: put(UInt32(truncatingIfNeeded: v))
                default: put(UInt64(bitPattern: v))
                }
            }
        }
        return out
    }

    // MARK: scipy.sparse

    func sparse(_ format: SparseMatrix.Format, state: PickleValue?, _ n: Node) throws -> SparseMatrix {
        guard let st = state, case .dict = st else { throw error(n, "scipy sparse matrix without a state dict") }
        func field(_ k: String) throws -> PickleValue {
            guard let v = st[k] else { throw error(n, "scipy sparse matrix state has no '\(k)'") }
            return v
        }
        guard let shapeValue = st["_shape"] ?? st["shape"] else { throw error(n, "scipy sparse matrix state has no '_shape'") }
        let shp = try shape(shapeValue, n)
        guard shp.count == 2 else { throw error(n, "scipy sparse matrix shape \(shp) is not 2-D") }
        guard case let .ndarray(d) = try field("data"), let data = d.doubles() else { throw error(n, "scipy sparse 'data' is not a numeric array") }
        guard case let .ndarray(ix) = try field("indices"), let indices = ix.int64s() else { throw error(n, "scipy sparse 'indices' is not an integer array") }
        guard case let .ndarray(ip) = try field("indptr"), let indptr = ip.int64s() else { throw error(n, "scipy sparse 'indptr' is not an integer array") }
        let m = SparseMatrix(format: format, rows: shp[0], columns: shp[1], data: data,
                             indices: indices.map { Int(clamping: $0) }, indptr: indptr.map { Int(clamping: $0) })
        if let p = m.problem() { throw error(n, "scipy sparse \(format.rawValue) matrix: \(p)") }
        return m
    }
}
