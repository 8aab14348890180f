import Foundation

/// The pickle virtual machine: reads pickles of protocols 0–5 from bytes in memory.
///
/// One `Unpickler` walks a buffer that may hold several pickles in a row followed by raw data
/// (torch's legacy `torch.save` format): `load()` reads one pickle and leaves `offset` just past
/// its STOP; `readBytes(_:)` then reads raw bytes. Nothing is executed: globals are recorded by
/// name, and known ones (numpy arrays and dtypes, scipy sparse matrices, sets, `_codecs.encode`,
/// `copy_reg._reconstructor`, `OrderedDict`) are decoded into typed values after the pickle is read.
public struct Unpickler {
    public let data: [UInt8]
    /// Names the source in errors (usually the file path).
    public let name: String
    /// Where the next `load()` or `readBytes` starts.
    public var offset: Int = 0
    /// Called for PERSID / BINPERSID with the persistent id; its result replaces the id.
    /// Without it, ids become `.persistent(pid)`.
    public var persistentLoad: ((PickleValue) throws -> PickleValue)?

    public init(data: [UInt8], name: String = "<memory>") {
        self.data = data; self.name = name
    }

    /// Reads a whole file into memory.
    public init(contentsOf path: String) throws {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw PickleError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path)
                                         ? "permission denied or I/O error" : "no such file")
        }
        self.init(data: [UInt8](d), name: path)
    }

    public var isAtEnd: Bool { offset >= data.count }

    /// Raw bytes after a pickle (torch legacy storages).
    public mutating func readBytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= data.count - offset else {
            throw PickleError.truncated(file: name, offset: offset, opcode: "raw data (\(count) bytes)")
        }
        defer { offset += count }
        return data[offset..<(offset + count)]
    }

    /// Reads one pickle starting at `offset`, leaving `offset` after its STOP opcode.
    public mutating func load() throws -> PickleValue {
        if offset == 0 { try checkNotForeign() }
        var vm = Machine(data: data, name: name, pos: offset, persistentLoad: persistentLoad)
        let root = try vm.run()
        offset = vm.pos
        var resolver = Resolver(file: name)
        return try resolver.resolve(root)
    }

    /// Recognises files that are clearly something else, to give a better error than "unknown opcode".
    private func checkNotForeign() throws {
        guard !data.isEmpty else { throw PickleError.notAPickle(file: name, reason: "empty file") }
        let head = Array(data.prefix(8))
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        if starts([0x50, 0x4b, 0x03, 0x04]) || starts([0x50, 0x4b, 0x05, 0x06]) {
            throw PickleError.notAPickle(file: name, reason: "a zip archive (.npz, or a zip-format torch.save file)")
        }
        if starts([0x89, 0x48, 0x44, 0x46]) { throw PickleError.notAPickle(file: name, reason: "an HDF5 file") }
        if starts([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) {
            throw PickleError.notAPickle(file: name, reason: "a numpy .npy file (read it with NumpyFile)")
        }
        if starts([0x1f, 0x8b]) { throw PickleError.notAPickle(file: name, reason: "gzip-compressed data") }
        if head[0] == 0x80, head.count >= 2, head[1] > 5 {
            throw PickleError.unsupported(file: name, offset: 1, opcode: "PROTO", reason: "protocol \(head[1]) (this reader knows 0–5)")
        }
    }

    /// Reads the single pickle in a file.
    public static func load(contentsOf path: String, persistentLoad: ((PickleValue) throws -> PickleValue)? = nil) throws -> PickleValue {
        var u = try Unpickler(contentsOf: path)
        u.persistentLoad = persistentLoad
        return try u.load()
    }

    /// Reads the single pickle in a buffer.
    public static func load(data: [UInt8], name: String = "<memory>") throws -> PickleValue {
        var u = Unpickler(data: data, name: name)
        return try u.load()
    }
}

/// A mutable object on the VM stack or in the memo; turned into `PickleValue`s after STOP.
final class Node {
    enum Kind { case leaf, list, tuple, dict, set, frozenset, object }
    var kind: Kind
    var leaf: PickleValue = .none
    var items: [Node] = []            // list / tuple / set elements; an object's appended items
    var pairs: [(Node, Node)] = []    // dict items; an object's set items
    var callable: Node? = nil
    var args: Node? = nil
    var kwargs: Node? = nil
    var construction: PickleObject.Construction = .reduce
    var state: Node? = nil
    let offset: Int
    let opcode: String

    init(_ kind: Kind, offset: Int, opcode: String) { self.kind = kind; self.offset = offset; self.opcode = opcode }
    init(leaf: PickleValue, offset: Int, opcode: String) {
        kind = .leaf; self.leaf = leaf; self.offset = offset; self.opcode = opcode
    }
}

struct Machine {
    let data: [UInt8]
    let name: String
    var pos: Int
    let persistentLoad: ((PickleValue) throws -> PickleValue)?
    var stack: [Node] = []
    var marks: [Int] = []
    var memo: [Int: Node] = [:]
    var opStart = 0
    var opName = ""

    init(data: [UInt8], name: String, pos: Int, persistentLoad: ((PickleValue) throws -> PickleValue)?) {
        self.data = data; self.name = name; self.pos = pos; self.persistentLoad = persistentLoad
    }

    // MARK: Errors

    func truncated() -> PickleError { .truncated(file: name, offset: opStart, opcode: opName) }
    func underflow() -> PickleError { .stackUnderflow(file: name, offset: opStart, opcode: opName) }
    func malformed(_ reason: String) -> PickleError { .malformed(file: name, offset: opStart, opcode: opName, reason: reason) }

    // MARK: Reading

    mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw truncated() }
        defer { pos += 1 }
        return data[pos]
    }

    mutating func bytes(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= data.count - pos else { throw truncated() }
        defer { pos += n }
        return data[pos..<(pos + n)]
    }

    mutating func uint(_ n: Int) throws -> UInt64 {
        let b = try bytes(n)
        var v: UInt64 = 0
        for (k, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
        return v
    }

    /// A length field that must fit in the remaining data.
    mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count - pos) else { throw truncated() }
        return Int(v)
    }

    /// A text line up to (not including) '\n'.
    mutating func line() throws -> ArraySlice<UInt8> {
        var j = pos
        while j < data.count && data[j] != 0x0a { j += 1 }
        guard j < data.count else { throw truncated() }
        defer { pos = j + 1 }
        return data[pos..<j]
    }

    mutating func asciiLine() throws -> String {
        var l = try line()
        if l.last == 0x0d { l = l.dropLast() }
        return String(decoding: l, as: UTF8.self)
    }

    // MARK: Stack

    mutating func push(_ n: Node) { stack.append(n) }
    mutating func pushLeaf(_ v: PickleValue) { stack.append(Node(leaf: v, offset: opStart, opcode: opName)) }

    mutating func pop() throws -> Node {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw underflow() }
        stack.removeLast()
        return top
    }

    mutating func top() throws -> Node {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw underflow() }
        return top
    }

    /// Items pushed since the last MARK, removing them and the mark.
    mutating func popMark() throws -> [Node] {
        guard let m = marks.popLast() else { throw malformed("no MARK on the stack") }
        guard m <= stack.count else { throw underflow() }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    mutating func memoGet(_ i: Int) throws -> Node {
        guard let n = memo[i] else { throw malformed("memo entry \(i) was never stored") }
        return n
    }

    mutating func memoPut(_ i: Int) throws {
        guard let t = stack.last else { throw underflow() }
        memo[i] = t
    }

    func text(_ n: Node) -> String? {
        if n.kind != .leaf { return nil }
        switch n.leaf {
        case let .string(s): return s
        case let .bytes(b): return String(b.map { Character(Unicode.Scalar($0)) })
        default: return nil
        }
    }

    // MARK: The loop

    static let opNames: [UInt8: String] = [
        0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
        0x4a: "BININT", 0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID",
        0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
        0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
        0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6a: "LONG_BINGET",
        0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
        0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
        0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
        0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 0x42: "BINBYTES",
        0x43: "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8",
        0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL",
        0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]

    mutating func run() throws -> Node {
        while true {
            opStart = pos
            guard pos < data.count else {
                opName = "STOP"
                throw PickleError.truncated(file: name, offset: pos, opcode: "end of data before STOP")
            }
            let op = data[pos]
            pos += 1
            guard let opn = Machine.opNames[op] else {
                throw PickleError.unknownOpcode(file: name, offset: opStart, byte: op)
            }
            opName = opn
            switch op {
            case 0x80: // PROTO
                let v = try byte()
                guard v <= 5 else {
                    throw PickleError.unsupported(file: name, offset: opStart, opcode: opName, reason: "protocol \(v) (this reader knows 0–5)")
                }
            case 0x95: // FRAME: the data is all in memory, so frames only need their length checked.
                _ = try length(8)
            case 0x2e: // STOP
                let v = try pop()
                return v
            case 0x28: marks.append(stack.count)                            // MARK
            case 0x30: // POP (an empty stack top after a mark pops the mark, as CPython does)
                if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop() }
            case 0x31: _ = try popMark()                                     // POP_MARK
            case 0x32: push(try top())                                        // DUP

            // Numbers
            case 0x4e: pushLeaf(.none)
            case 0x88: pushLeaf(.bool(true))
            case 0x89: pushLeaf(.bool(false))
            case 0x4a: pushLeaf(.int(Int64(Int32(bitPattern: UInt32(try uint(4))))))   // BININT
            case 0x4b: pushLeaf(.int(Int64(try byte())))                                 // BININT1
            case 0x4d: pushLeaf(.int(Int64(try uint(2))))                                // BININT2
            case 0x8a: pushLeaf(Machine.long(Array(try bytes(try length(1)))))           // LONG1
            case 0x8b: // LONG4 (signed length)
                let n = Int32(bitPattern: UInt32(try uint(4)))
                guard n >= 0 else { throw malformed("negative length \(n)") }
                pushLeaf(Machine.long(Array(try bytes(Int(n)))))
            case 0x49: // INT (text; "00"/"01" are Python 2 booleans)
                let s = try asciiLine()
                if s == "00" { pushLeaf(.bool(false)) } else if s == "01" { pushLeaf(.bool(true)) } else {
                    guard let v = Machine.decimal(s) else { throw malformed("bad integer '\(s.prefix(40))'") }
                    pushLeaf(v)
                }
            case 0x4c: // LONG (text, trailing L)
                var s = try asciiLine()
                if s.hasSuffix("L") { s.removeLast() }
                guard let v = Machine.decimal(s) else { throw malformed("bad integer '\(s.prefix(40))'") }
                pushLeaf(v)
            case 0x46: // FLOAT (text)
                let s = try asciiLine().trimmingCharacters(in: .whitespaces)
                guard let d = Double(s) else { throw malformed("bad float '\(s.prefix(40))'") }
                pushLeaf(.float(d))
            case 0x47: // BINFLOAT (big-endian)
                let b = try bytes(8)
                var v: UInt64 = 0
                for x in b { v = v << 8 | UInt64(x) }
                pushLeaf(.float(Double(bitPattern: v)))

            // Strings and bytes
            case 0x53: // STRING: a quoted Python 2 str literal
                let l = try line()
                guard let b = Machine.unquote(Array(l)) else { throw malformed("bad string literal") }
                pushLeaf(.bytes(b))
            case 0x54: // BINSTRING (signed 4-byte length)
                let n = Int32(bitPattern: UInt32(try uint(4)))
                guard n >= 0 else { throw malformed("negative length \(n)") }
                pushLeaf(.bytes(Array(try bytes(Int(n)))))
            case 0x55: pushLeaf(.bytes(Array(try bytes(try length(1)))))         // SHORT_BINSTRING
            case 0x43: pushLeaf(.bytes(Array(try bytes(try length(1)))))         // SHORT_BINBYTES
            case 0x42: pushLeaf(.bytes(Array(try bytes(try length(4)))))         // BINBYTES
            case 0x8e, 0x96: pushLeaf(.bytes(Array(try bytes(try length(8)))))   // BINBYTES8, BYTEARRAY8
            case 0x56: // UNICODE (raw-unicode-escape text)
                let l = try line()
                pushLeaf(.string(Machine.rawUnicodeEscape(l)))
            case 0x58: pushLeaf(.string(String(decoding: try bytes(try length(4)), as: UTF8.self)))  // BINUNICODE
            case 0x8c: pushLeaf(.string(String(decoding: try bytes(try length(1)), as: UTF8.self)))  // SHORT_BINUNICODE
            case 0x8d: pushLeaf(.string(String(decoding: try bytes(try length(8)), as: UTF8.self)))  // BINUNICODE8

            // Containers
            case 0x29: push(Node(.tuple, offset: opStart, opcode: opName))                        // EMPTY_TUPLE
            case 0x85, 0x86, 0x87: // TUPLE1-3
                let n = Int(op - 0x84)
                guard stack.count - (marks.last ?? 0) >= n else { throw underflow() }
                let t = Node(.tuple, offset: opStart, opcode: opName)
                t.items = Array(stack.suffix(n))
                stack.removeLast(n)
                push(t)
            case 0x74: // TUPLE
                let t = Node(.tuple, offset: opStart, opcode: opName)
                t.items = try popMark()
                push(t)
            case 0x5d: push(Node(.list, offset: opStart, opcode: opName))                         // EMPTY_LIST
            case 0x6c: // LIST
                let l = Node(.list, offset: opStart, opcode: opName)
                l.items = try popMark()
                push(l)
            case 0x61: // APPEND
                let v = try pop()
                try append(to: try top(), [v])
            case 0x65: // APPENDS
                let items = try popMark()
                try append(to: try top(), items)
            case 0x7d: push(Node(.dict, offset: opStart, opcode: opName))                         // EMPTY_DICT
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("odd number of items for a dict") }
                let d = Node(.dict, offset: opStart, opcode: opName)
                d.pairs = stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
                push(d)
            case 0x73: // SETITEM
                let v = try pop(), k = try pop()
                try setItems(in: try top(), [(k, v)])
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("odd number of items for SETITEMS") }
                try setItems(in: try top(), stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) })
            case 0x8f: push(Node(.set, offset: opStart, opcode: opName))                          // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popMark()
                let s = try top()
                guard s.kind == .set else { throw malformed("ADDITEMS on a non-set") }
                s.items += items
            case 0x91: // FROZENSET
                let s = Node(.frozenset, offset: opStart, opcode: opName)
                s.items = try popMark()
                push(s)

            // Memo
            case 0x70: // PUT (text)
                guard let i = Int(try asciiLine()), i >= 0 else { throw malformed("bad memo index") }
                try memoPut(i)
            case 0x71: try memoPut(Int(try byte()))                     // BINPUT
            case 0x72: try memoPut(Int(try uint(4)))                    // LONG_BINPUT
            case 0x94: try memoPut(memo.count)                          // MEMOIZE
            case 0x67: // GET (text)
                guard let i = Int(try asciiLine()), i >= 0 else { throw malformed("bad memo index") }
                push(try memoGet(i))
            case 0x68: push(try memoGet(Int(try byte())))               // BINGET
            case 0x6a: push(try memoGet(Int(try uint(4))))              // LONG_BINGET

            // Globals and objects
            case 0x63: // GLOBAL
                let module = try asciiLine(), nm = try asciiLine()
                pushLeaf(.global(module: module, name: nm))
            case 0x93: // STACK_GLOBAL
                let nm = try pop(), module = try pop()
                guard let m = text(module), let n = text(nm) else { throw malformed("module and name must be strings") }
                pushLeaf(.global(module: m, name: n))
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                push(object(callable, args: args, kwargs: nil, .reduce))
            case 0x81: // NEWOBJ
                let args = try pop(), cls = try pop()
                push(object(cls, args: args, kwargs: nil, .newobj))
            case 0x92: // NEWOBJ_EX
                let kwargs = try pop(), args = try pop(), cls = try pop()
                push(object(cls, args: args, kwargs: kwargs, .newobj))
            case 0x69: // INST
                let module = try asciiLine(), nm = try asciiLine()
                let argsNode = Node(.tuple, offset: opStart, opcode: opName)
                argsNode.items = try popMark()
                push(object(Node(leaf: .global(module: module, name: nm), offset: opStart, opcode: opName),
                            args: argsNode, kwargs: nil, .inst))
            case 0x6f: // OBJ
                var items = try popMark()
                guard !items.isEmpty else { throw underflow() }
                let cls = items.removeFirst()
                let argsNode = Node(.tuple, offset: opStart, opcode: opName)
                argsNode.items = items
                push(object(cls, args: argsNode, kwargs: nil, .inst))
            case 0x62: // BUILD
                let state = try pop()
                let target = try top()
                guard target.kind == .object else {
                    throw malformed("BUILD on a \(target.kind) (only objects take state)")
                }
                if let old = target.state, old.kind == .dict, state.kind == .dict {
                    old.pairs += state.pairs          // repeated BUILD updates __dict__
                } else {
                    target.state = state
                }
            case 0x50: // PERSID
                let pid = PickleValue.string(try asciiLine())
                pushLeaf(try persistent(pid))
            case 0x51: // BINPERSID
                let pidNode = try pop()
                var resolver = Resolver(file: name)
                let pid = try resolver.resolve(pidNode)
                pushLeaf(try persistent(pid))
            case 0x82, 0x83, 0x84:
                throw PickleError.unsupported(file: name, offset: opStart, opcode: opName, reason: "copyreg extension codes")
            case 0x97, 0x98:
                throw PickleError.unsupported(file: name, offset: opStart, opcode: opName, reason: "out-of-band buffers (pickle protocol 5 buffer_callback)")
            default:
                throw PickleError.unknownOpcode(file: name, offset: opStart, byte: op)
            }
        }
    }

    func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard let load = persistentLoad else { return .persistent(pid) }
        return try load(pid)
    }

    func object(_ callable: Node, args: Node, kwargs: Node?, _ c: PickleObject.Construction) -> Node {
        let o = Node(.object, offset: opStart, opcode: opName)
        o.callable = callable; o.args = args; o.kwargs = kwargs; o.construction = c
        return o
    }

    func append(to target: Node, _ items: [Node]) throws {
        switch target.kind {
        case .list, .object: target.items += items
        default: throw malformed("append to a \(target.kind)")
        }
    }

    func setItems(in target: Node, _ pairs: [(Node, Node)]) throws {
        switch target.kind {
        case .dict, .object: target.pairs += pairs
        default: throw malformed("item assignment on a \(target.kind)")
        }
    }

    // MARK: Literals

    /// LONG1/LONG4 payload: little-endian two's complement.
    static func long(_ bytes: [UInt8]) -> PickleValue {
        // Canonical form: drop high bytes that only repeat the sign.
        var b = bytes
        while b.count > 1, let last = b.last, (last == 0 && b[b.count - 2] & 0x80 == 0) || (last == 0xff && b[b.count - 2] & 0x80 != 0) {
            b.removeLast()
        }
        if b.isEmpty { return .int(0) }
        if b.count <= 8 {
            var v: UInt64 = 0
            for (k, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
            if b.count < 8 && b.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(b.count)) }   // sign-extend
            return .int(Int64(bitPattern: v))
        }
        // Still fits when the extra high bytes are pure sign extension.
        let sign: UInt8 = b.last! & 0x80 != 0 ? 0xff : 0
        if b[8...].allSatisfy({ $0 == sign }) && (b[7] & 0x80 != 0) == (sign != 0) {
            return long(Array(b[0..<8]))
        }
        return .bigInt(b)
    }

    /// A decimal integer; big ones become two's complement bytes.
    static func decimal(_ text: String) -> PickleValue? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let v = Int64(s) { return .int(v) }
        var digits = Substring(s)
        var negative = false
        if digits.first == "-" { negative = true; digits = digits.dropFirst() } else if digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        // Magnitude in little-endian bytes by repeated multiply-add.
        var mag: [UInt8] = [0]
        for ch in digits.utf8 {
            var carry = UInt32(ch - 48)
            for i in mag.indices {
                let v = UInt32(mag[i]) * 10 + carry
                mag[i] = UInt8(v & 0xff); carry = v >> 8
            }
            while carry > 0 { mag.append(UInt8(carry & 0xff)); carry >>= 8 }
        }
        mag.append(0)   // room for the sign bit
        if negative {
            var carry: UInt16 = 1
            for i in mag.indices {
                let v = UInt16(~mag[i]) + carry
                mag[i] = UInt8(v & 0xff); carry = v >> 8
            }
        }
        return long(mag)
    }

    /// A Python 2 str literal as `repr` writes it: '...' or "..." with backslash escapes.
    static func unquote(_ raw: [UInt8]) -> [UInt8]? {
        var l = raw
        while let last = l.last, last == 0x0d || last == 0x20 { l.removeLast() }
        guard l.count >= 2, let q = l.first, q == 0x27 || q == 0x22, l.last == q else { return nil }
        let body = l[1..<(l.count - 1)]
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = body.startIndex
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        while i < body.endIndex {
            let c = body[i]
            i += 1
            guard c == 0x5c else { out.append(c); continue }
            guard i < body.endIndex else { return nil }
            let e = body[i]
            i += 1
            switch e {
            case 0x6e: out.append(0x0a)    // \n
            case 0x74: out.append(0x09)    // \t
            case 0x72: out.append(0x0d)    // \r
            case 0x61: out.append(0x07)    // \a
            case 0x62: out.append(0x08)    // \b
            case 0x66: out.append(0x0c)    // \f
            case 0x76: out.append(0x0b)    // \v
            case 0x5c, 0x27, 0x22: out.append(e)   // \\ \' \"
            case 0x0a: break               // line continuation
            case 0x78:                     // \xhh
                guard i + 1 < body.endIndex, let h = hex(body[i]), let lo = hex(body[i + 1]) else { return nil }
                out.append(h << 4 | lo); i += 2
            case 48...55:                  // octal, up to 3 digits
                var v = UInt32(e - 48), n = 1
                while n < 3, i < body.endIndex, (48...55).contains(body[i]) { v = v * 8 + UInt32(body[i] - 48); i += 1; n += 1 }
                out.append(UInt8(v & 0xff))
            default: out.append(0x5c); out.append(e)   // unknown escapes stay literal, as in Python
            }
        }
        return out
    }

    /// raw-unicode-escape: bytes are latin-1 code points, except \uXXXX and \UXXXXXXXX.
    static func rawUnicodeEscape(_ b: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var i = b.startIndex
        func hexValue(_ from: Int, _ n: Int) -> UInt32? {
            guard from + n <= b.endIndex else { return nil }
            var v: UInt32 = 0
            for k in from..<(from + n) {
                let c = b[k]
                let d: UInt32
                switch c {
                case 48...57: d = UInt32(c - 48)
                case 97...102: d = UInt32(c - 87)
                case 65...70: d = UInt32(c - 55)
                default: return nil
                }
                v = v * 16 + d
            }
            return v
        }
        while i < b.endIndex {
            let c = b[i]
            if c == 0x5c, i + 1 < b.endIndex, b[i + 1] == 0x75 || b[i + 1] == 0x55 {
                let n = b[i + 1] == 0x75 ? 4 : 8
                if let v = hexValue(i + 2, n), let s = Unicode.Scalar(v) {
                    scalars.append(s); i += 2 + n; continue
                }
            }
            scalars.append(Unicode.Scalar(c)); i += 1
        }
        return String(scalars)
    }
}
