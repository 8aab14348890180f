/// A failure reading a pickle (or a numpy file), naming the file and either the byte offset and
/// opcode where decoding stopped, or the key path of the value that was not what was asked for.
public enum PickleError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    /// The file is something else (a zip, HDF5, text, random bytes...).
    case notAPickle(file: String, reason: String)
    case truncated(file: String, offset: Int, opcode: String)
    case unknownOpcode(file: String, offset: Int, byte: UInt8)
    case stackUnderflow(file: String, offset: Int, opcode: String)
    case malformed(file: String, offset: Int, opcode: String, reason: String)
    case unsupported(file: String, offset: Int, opcode: String, reason: String)
    case missingKey(file: String, path: String, key: String)
    case wrongType(file: String, path: String, expected: String, got: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read: \(reason)"
        case let .notAPickle(file, reason): return "\(file): not a pickle: \(reason)"
        case let .truncated(file, offset, opcode): return "\(file): byte \(offset): \(opcode): file ends early (truncated)"
        case let .unknownOpcode(file, offset, byte):
            return "\(file): byte \(offset): unknown opcode 0x\(String(byte, radix: 16)) (corrupt or not a pickle)"
        case let .stackUnderflow(file, offset, opcode): return "\(file): byte \(offset): \(opcode): stack underflow (corrupt pickle)"
        case let .malformed(file, offset, opcode, reason): return "\(file): byte \(offset): \(opcode): \(reason)"
        case let .unsupported(file, offset, opcode, reason): return "\(file): byte \(offset): \(opcode): unsupported: \(reason)"
        case let .missingKey(file, path, key): return "\(file): \(path.isEmpty ? "" : "\(path): ")missing key '\(key)'"
        case let .wrongType(file, path, expected, got): return "\(file): \(path.isEmpty ? "<root>" : path): expected \(expected), got \(got)"
        }
    }

    /// The file the error is about.
    public var file: String {
        switch self {
        case let .unreadable(f, _), let .notAPickle(f, _), let .truncated(f, _, _), let .unknownOpcode(f, _, _),
             let .stackUnderflow(f, _, _), let .malformed(f, _, _, _), let .unsupported(f, _, _, _),
             let .missingKey(f, _, _), let .wrongType(f, _, _, _):
            return f
        }
    }
}
