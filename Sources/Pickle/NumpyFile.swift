import Foundation

/// numpy's `.npy` files: a small text header, then raw elements, or a pickle for object arrays
/// (`np.save` of a dict gives a 0-d object array holding it; `value.item` unwraps it).
public enum NumpyFile {
    /// Reads a `.npy` file.
    public static func load(path: String) throws -> PickleValue {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw PickleError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path)
                                         ? "permission denied or I/O error" : "no such file")
        }
        return try parse([UInt8](d), name: path)
    }

    /// Parses `.npy` bytes; `name` labels errors.
    public static func parse(_ b: [UInt8], name: String) throws -> PickleValue {
        func bad(_ reason: String) -> PickleError { .notAPickle(file: name, reason: reason) }
        guard b.count >= 10, b[0] == 0x93, Array(b[1..<6]) == Array("NUMPY".utf8) else {
            throw bad("not a numpy .npy file (no \\x93NUMPY magic)")
        }
        let major = b[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; headerStart = 10
        case 2, 3:
            guard b.count >= 12 else { throw PickleError.truncated(file: name, offset: 8, opcode: "npy header length") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; headerStart = 12
        default: throw PickleError.unsupported(file: name, offset: 6, opcode: "npy version", reason: "version \(major)")
        }
        guard headerLength <= b.count - headerStart else { throw PickleError.truncated(file: name, offset: headerStart, opcode: "npy header") }
        let header = String(decoding: b[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let dataStart = headerStart + headerLength

        guard let descr = headerString(header, key: "descr") else {
            if header.contains("'descr': [") {
                throw PickleError.unsupported(file: name, offset: headerStart, opcode: "npy header", reason: "structured dtype")
            }
            throw bad("npy header has no 'descr': \(header.prefix(80))")
        }
        guard let dt = NumpyDType(descr) else {
            throw PickleError.unsupported(file: name, offset: headerStart, opcode: "npy header", reason: "dtype '\(descr)'")
        }
        let fortran = header.range(of: "'fortran_order': True") != nil
        guard let shape = headerShape(header) else { throw bad("npy header has no valid 'shape': \(header.prefix(80))") }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= 1 << 40 else { throw bad("npy shape \(shape) too large") }
            count = p
        }

        if dt.kind == .object {
            // np.save pickles the whole array after the header.
            var u = Unpickler(data: b, name: name)
            u.offset = dataStart
            return try u.load()
        }
        let need = count * dt.itemSize
        guard need <= b.count - dataStart else {
            throw PickleError.truncated(file: name, offset: dataStart, opcode: "npy data (\(need) bytes for \(shape) \(dt))")
        }
        return .ndarray(NDArray(dtype: dt, shape: shape, fortranOrder: fortran, data: Array(b[dataStart..<(dataStart + need)])))
    }

    static func headerString(_ h: String, key: String) -> String? {
        guard let r = h.range(of: "'\(key)':") else { return nil }
        let rest = h[r.upperBound...].drop(while: { $0 == " " })
        guard let q = rest.first, q == "'" || q == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: q) else { return nil }
        return String(body[..<end])
    }

    static func headerShape(_ h: String) -> [Int]? {
        guard let r = h.range(of: "'shape':") else { return nil }
        let rest = h[r.upperBound...].drop(while: { $0 == " " })
        guard rest.first == "(", let end = rest.firstIndex(of: ")") else { return nil }
        let inner = rest[rest.index(after: rest.startIndex)..<end]
        var out: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { return nil }
            out.append(v)
        }
        return out
    }
}

extension PickleValue {
    /// numpy's `a[()]` / `a.item()` for a one-element object array (what `np.save` of a dict gives); otherwise self.
    public var item: PickleValue {
        if case let .ndarray(a) = self, a.dtype.kind == .object, a.objects.count == 1 { return a.objects[0] }
        return self
    }
}

/// A numpy `.npz` (a zip of `.npy` members, stored or deflated, zip64 aware). Members are read
/// on demand, so large archives are not loaded whole.
public struct NPZArchive {
    public let path: String
    struct Entry { var method: UInt16; var compressedSize: UInt64; var size: UInt64; var localOffset: UInt64; var crc: UInt32 }
    let entries: [String: Entry]
    /// Member names without the `.npy` suffix, in archive order.
    public let names: [String]

    public init(path: String) throws {
        self.path = path
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw PickleError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path)
                                         ? "permission denied or I/O error" : "no such file")
        }
        defer { try? fh.close() }
        func bad(_ r: String) -> PickleError { .notAPickle(file: path, reason: "not a valid zip/npz: \(r)") }
        let size = try fh.seekToEnd()
        guard size >= 22 else { throw bad("too short") }
        let tailLength = min(size, 65_557)
        try fh.seek(toOffset: size - tailLength)
        let tail = [UInt8](try fh.read(upToCount: Int(tailLength)) ?? Data())
        func u16(_ b: [UInt8], _ o: Int) -> UInt64 { o + 2 <= b.count ? UInt64(b[o]) | UInt64(b[o + 1]) << 8 : 0 }
        func u32(_ b: [UInt8], _ o: Int) -> UInt64 { u16(b, o) | u16(b, o + 2) << 16 }
        func u64(_ b: [UInt8], _ o: Int) -> UInt64 { u32(b, o) | u32(b, o + 4) << 32 }
        guard tail.count >= 22, let eocd = stride(from: tail.count - 22, through: 0, by: -1).first(where: { u32(tail, $0) == 0x0605_4b50 }) else {
            throw bad("no end-of-central-directory record")
        }
        var cdCount = u16(tail, eocd + 10), cdSize = u32(tail, eocd + 12), cdOffset = u32(tail, eocd + 16)
        // zip64: locator just before the EOCD points at the zip64 EOCD record.
        if eocd >= 20, u32(tail, eocd - 20) == 0x0706_4b50 {
            let recOffset = u64(tail, eocd - 20 + 8)
            guard recOffset + 56 <= size else { throw bad("zip64 record out of range") }
            try fh.seek(toOffset: recOffset)
            let rec = [UInt8](try fh.read(upToCount: 56) ?? Data())
            guard u32(rec, 0) == 0x0606_4b50 else { throw bad("bad zip64 end record") }
            cdCount = u64(rec, 32); cdSize = u64(rec, 40); cdOffset = u64(rec, 48)
        }
        guard cdOffset + cdSize <= size, cdSize < 1 << 31 else { throw bad("central directory out of range") }
        try fh.seek(toOffset: cdOffset)
        let cd = [UInt8](try fh.read(upToCount: Int(cdSize)) ?? Data())
        var p = 0
        var entries: [String: Entry] = [:]
        var names: [String] = []
        for _ in 0..<cdCount {
            guard p + 46 <= cd.count, u32(cd, p) == 0x0201_4b50 else { throw bad("bad central directory entry") }
            let method = UInt16(u16(cd, p + 10))
            let crc = UInt32(u32(cd, p + 16))
            var csize = u32(cd, p + 20), usize = u32(cd, p + 24)
            let nameLen = Int(u16(cd, p + 28)), extraLen = Int(u16(cd, p + 30)), commentLen = Int(u16(cd, p + 32))
            var local = u32(cd, p + 42)
            guard p + 46 + nameLen + extraLen + commentLen <= cd.count else { throw bad("central directory entry overruns") }
            let name = String(decoding: cd[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // zip64 extra field: the 0xFFFFFFFF fields, in order, as 8-byte values.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = u16(cd, e), len = Int(u16(cd, e + 2))
                if id == 1 {
                    var q = e + 4
                    if usize == 0xffff_ffff, q + 8 <= e + 4 + len { usize = u64(cd, q); q += 8 }
                    if csize == 0xffff_ffff, q + 8 <= e + 4 + len { csize = u64(cd, q); q += 8 }
                    if local == 0xffff_ffff, q + 8 <= e + 4 + len { local = u64(cd, q); q += 8 }
                }
                e += 4 + len
            }
            p += 46 + nameLen + extraLen + commentLen
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            entries[key] = Entry(method: method, compressedSize: csize, size: usize, localOffset: local, crc: crc)
            names.append(key)
        }
        self.entries = entries
        self.names = names
    }

    /// Raw bytes of a member (by name, with or without `.npy`).
    public func memberBytes(_ name: String) throws -> [UInt8] {
        let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
        let label = "\(path)[\(key).npy]"
        guard let e = entries[key] else { throw PickleError.missingKey(file: path, path: "", key: key) }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw PickleError.unreadable(file: path, reason: "cannot reopen") }
        defer { try? fh.close() }
        let size = try fh.seekToEnd()
        guard e.localOffset + 30 <= size else { throw PickleError.truncated(file: label, offset: Int(e.localOffset), opcode: "zip local header") }
        try fh.seek(toOffset: e.localOffset)
        let lh = [UInt8](try fh.read(upToCount: 30) ?? Data())
        guard lh.count == 30, lh[0] == 0x50, lh[1] == 0x4b, lh[2] == 3, lh[3] == 4 else {
            throw PickleError.notAPickle(file: label, reason: "bad zip local header")
        }
        let skip = UInt64(lh[26]) | UInt64(lh[27]) << 8, extra = UInt64(lh[28]) | UInt64(lh[29]) << 8
        let start = e.localOffset + 30 + skip + extra
        guard start <= size, e.compressedSize <= size - start, e.size < 1 << 40 else {
            throw PickleError.truncated(file: label, offset: Int(start), opcode: "zip member data")
        }
        try fh.seek(toOffset: start)
        let raw = [UInt8](try fh.read(upToCount: Int(e.compressedSize)) ?? Data())
        guard raw.count == Int(e.compressedSize) else { throw PickleError.truncated(file: label, offset: Int(start), opcode: "zip member data") }
        let out: [UInt8]
        switch e.method {
        case 0: out = raw
        case 8: out = try Inflate.decompress(raw, expectedSize: Int(e.size), name: label)
        default: throw PickleError.unsupported(file: label, offset: Int(start), opcode: "zip", reason: "compression method \(e.method)")
        }
        guard out.count == Int(e.size) else { throw PickleError.malformed(file: label, offset: Int(start), opcode: "zip", reason: "size \(out.count), expected \(e.size)") }
        guard CRC32.checksum(out) == e.crc else { throw PickleError.malformed(file: label, offset: Int(start), opcode: "zip", reason: "CRC mismatch") }
        return out
    }

    /// A member decoded as a `.npy`.
    public func array(_ name: String) throws -> PickleValue {
        let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
        return try NumpyFile.parse(try memberBytes(key), name: "\(path)[\(key).npy]")
    }

    /// A member as a field (for typed accessors whose errors name the archive and member).
    public func field(_ name: String) throws -> PickleField {
        PickleField(try array(name), file: path, path: name)
    }
}

enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ b: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for x in b { c = table[Int((c ^ UInt32(x)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }
}

/// A raw DEFLATE (RFC 1951) decoder, in the manner of zlib's `puff`: small and strict.
enum Inflate {
    struct Huffman {
        var count = [Int](repeating: 0, count: 16)
        var symbol: [Int]

        /// Canonical code from lengths; false when over-subscribed.
        init?(lengths: ArraySlice<Int>) {
            symbol = [Int](repeating: 0, count: lengths.count)
            for l in lengths { count[l] += 1 }
            var left = 1
            for len in 1..<16 {
                left <<= 1
                left -= count[len]
                if left < 0 { return nil }
            }
            var offs = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offs[len + 1] = offs[len] + count[len] }
            for (s, l) in lengths.enumerated() where l != 0 {
                symbol[offs[l]] = s; offs[l] += 1
            }
        }
    }

    struct State {
        let input: [UInt8]
        var pos = 0
        var bitBuffer: UInt32 = 0
        var bitCount = 0
        var out: [UInt8] = []
        let name: String
        var limit = Int.max

        /// Output may not exceed what the zip directory promised (guards against decompression bombs).
        func checkLimit(_ extra: Int) throws {
            if out.count + extra > limit { throw corrupt("more data than the zip entry says") }
        }

        func corrupt(_ r: String) -> PickleError { .malformed(file: name, offset: pos, opcode: "deflate", reason: r) }

        mutating func bits(_ need: Int) throws -> Int {
            var v = bitBuffer
            while bitCount < need {
                guard pos < input.count else { throw PickleError.truncated(file: name, offset: pos, opcode: "deflate stream") }
                v |= UInt32(input[pos]) << UInt32(bitCount)
                pos += 1; bitCount += 8
            }
            bitBuffer = v >> UInt32(need)
            bitCount -= need
            return Int(v & ((1 << UInt32(need)) - 1))
        }

        mutating func decode(_ h: Huffman) throws -> Int {
            var code = 0, first = 0, index = 0
            for len in 1..<16 {
                code |= try bits(1)
                let c = h.count[len]
                if code - c < first { return h.symbol[index + (code - first)] }
                index += c; first += c; first <<= 1; code <<= 1
            }
            throw corrupt("bad Huffman code")
        }

        static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
                               3073, 4097, 6145, 8193, 12289, 16385, 24577]
        static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

        mutating func codes(_ lit: Huffman, _ dist: Huffman) throws {
            while true {
                let sym = try decode(lit)
                if sym < 256 { try checkLimit(1); out.append(UInt8(sym)); continue }
                if sym == 256 { return }
                let li = sym - 257
                guard li < 29 else { throw corrupt("bad length symbol") }
                let len = State.lengthBase[li] + (try bits(State.lengthExtra[li]))
                let ds = try decode(dist)
                guard ds < 30 else { throw corrupt("bad distance symbol") }
                let d = State.distBase[ds] + (try bits(State.distExtra[ds]))
                guard d <= out.count else { throw corrupt("distance too far back") }
                try checkLimit(len)
                let from = out.count - d
                for k in 0..<len { out.append(out[from + k]) }
            }
        }

        mutating func stored() throws {
            bitBuffer = 0; bitCount = 0
            guard pos + 4 <= input.count else { throw PickleError.truncated(file: name, offset: pos, opcode: "deflate stored block") }
            let len = Int(input[pos]) | Int(input[pos + 1]) << 8
            let nlen = Int(input[pos + 2]) | Int(input[pos + 3]) << 8
            guard len == (~nlen & 0xffff) else { throw corrupt("stored block length check") }
            pos += 4
            guard pos + len <= input.count else { throw PickleError.truncated(file: name, offset: pos, opcode: "deflate stored block") }
            try checkLimit(len)
            out += input[pos..<(pos + len)]
            pos += len
        }

        static let fixed: (Huffman, Huffman) = {
            var l = [Int](repeating: 8, count: 288)
            for i in 144..<256 { l[i] = 9 }
            for i in 256..<280 { l[i] = 7 }
            return (Huffman(lengths: l[...])!, Huffman(lengths: [Int](repeating: 5, count: 30)[...])!)
        }()

        mutating func dynamic() throws {
            let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
            guard nlen <= 286, ndist <= 30 else { throw corrupt("bad dynamic block counts") }
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var lengths = [Int](repeating: 0, count: 320)
            for i in 0..<ncode { lengths[order[i]] = try bits(3) }
            guard let lencode = Huffman(lengths: lengths[0..<19]) else { throw corrupt("bad code-length code") }
            var i = 0
            while i < nlen + ndist {
                var sym = try decode(lencode)
                if sym < 16 { lengths[i] = sym; i += 1; continue }
                var len = 0
                if sym == 16 {
                    guard i > 0 else { throw corrupt("repeat with no previous length") }
                    len = lengths[i - 1]
                    sym = 3 + (try bits(2))
                } else if sym == 17 {
                    sym = 3 + (try bits(3))
                } else {
                    sym = 11 + (try bits(7))
                }
                guard i + sym <= nlen + ndist else { throw corrupt("too many lengths") }
                for _ in 0..<sym { lengths[i] = len; i += 1 }
            }
            guard lengths[256] != 0 else { throw corrupt("no end-of-block code") }
            guard let lit = Huffman(lengths: lengths[0..<nlen]),
                  let dist = Huffman(lengths: lengths[nlen..<(nlen + ndist)]) else { throw corrupt("bad literal/distance code") }
            try codes(lit, dist)
        }
    }

    static func decompress(_ input: [UInt8], expectedSize: Int, name: String) throws -> [UInt8] {
        var s = State(input: input, name: name)
        s.limit = max(expectedSize, 0)
        s.out.reserveCapacity(min(max(expectedSize, 0), 1 << 30))
        var last = 0
        repeat {
            last = try s.bits(1)
            switch try s.bits(2) {
            case 0: try s.stored()
            case 1: try s.codes(State.fixed.0, State.fixed.1)
            case 2: try s.dynamic()
            default: throw s.corrupt("invalid block type")
            }
        } while last == 0
        return s.out
    }
}
