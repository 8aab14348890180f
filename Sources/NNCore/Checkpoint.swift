import Foundation

/// What can go wrong reading or writing a checkpoint; every case names the file and, where there is one, the tensor.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case io(file: String, detail: String)
    case truncated(file: String, detail: String)
    case badHeader(file: String, detail: String)
    case missingTensor(name: String, file: String)
    case shapeMismatch(name: String, file: String, expected: [Int], found: [Int])
    case unsupportedDType(name: String, file: String, dtype: String)
    case nonFinite(name: String, file: String, index: Int)

    public var description: String {
        switch self {
        case let .io(file, detail): return "\(file): \(detail)"
        case let .truncated(file, detail): return "\(file): truncated safetensors file (\(detail))"
        case let .badHeader(file, detail): return "\(file): bad safetensors header (\(detail))"
        case let .missingTensor(name, file): return "\(file): tensor '\(name)' is missing"
        case let .shapeMismatch(name, file, expected, found):
            return "\(file): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .unsupportedDType(name, file, dtype): return "\(file): tensor '\(name)' has unsupported dtype \(dtype)"
        case let .nonFinite(name, file, index): return "\(file): tensor '\(name)' has a NaN/Inf at flat index \(index)"
        }
    }
}

/// A safetensors file (https://huggingface.co/docs/safetensors): 8-byte little-endian header length n, an n-byte
/// JSON header `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`
/// (padded with spaces to a multiple of 8), then the raw little-endian tensor bytes, offsets relative to the data start.
/// Reads F32 and F64 (converted to the requested scalar type); writes F32 for Float and F64 for Double.
/// Every offset, length and shape is validated: bad input throws `CheckpointError`, never traps.
public struct SafeTensors {
    public struct Entry: Equatable {
        public var dtype: String
        public var shape: [Int]
        public var range: Range<Int>   // byte range within the data section
    }

    public let file: String
    public let metadata: [String: String]
    public let entries: [String: Entry]
    private let bytes: Data
    private let dataStart: Int

    public var names: [String] { entries.keys.sorted() }

    public init(contentsOf path: String) throws {
        file = path
        guard let d = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.io(file: path, detail: "cannot read file")
        }
        bytes = d
        guard d.count >= 8 else { throw CheckpointError.truncated(file: path, detail: "\(d.count) bytes, need at least 8") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(d[d.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= UInt64(d.count - 8) else {
            throw CheckpointError.truncated(file: path, detail: "header length \(n) beyond file size \(d.count)")
        }
        dataStart = 8 + Int(n)
        let headerData = d.subdata(in: d.startIndex + 8 ..< d.startIndex + dataStart)
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw CheckpointError.badHeader(file: path, detail: "header is not a JSON object")
        }
        var meta: [String: String] = [:]
        var entries: [String: Entry] = [:]
        let dataCount = d.count - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw CheckpointError.badHeader(file: path, detail: "__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw CheckpointError.badHeader(file: path, detail: "metadata '\(k)' is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shapeAny = e["shape"] as? [Any], let offAny = e["data_offsets"] as? [Any], offAny.count == 2 else {
                throw CheckpointError.badHeader(file: path, detail: "entry '\(name)' lacks dtype/shape/data_offsets")
            }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let offsets = offAny.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 }), offsets.count == 2 else {
                throw CheckpointError.badHeader(file: path, detail: "entry '\(name)' has a malformed shape or offsets")
            }
            guard let size = Self.elementSize(dtype) else {
                throw CheckpointError.unsupportedDType(name: name, file: path, dtype: dtype)
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, s in
                let (p, o) = acc.0.multipliedReportingOverflow(by: s); return (p, acc.1 || o)
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw CheckpointError.badHeader(file: path, detail: "tensor '\(name)' has offsets \(offsets)")
            }
            guard offsets[1] <= dataCount else {
                throw CheckpointError.truncated(file: path, detail: "tensor '\(name)' ends at byte \(offsets[1]) of a \(dataCount)-byte data section")
            }
            guard !overflow, count.multipliedReportingOverflow(by: size).partialValue == offsets[1] - offsets[0] else {
                throw CheckpointError.badHeader(file: path, detail: "tensor '\(name)' of shape \(shape) does not fill offsets \(offsets)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        metadata = meta
        self.entries = entries
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype { case "F32": return 4; case "F64": return 8; default: return nil }
    }

    /// The named tensor converted to `S`; throws if missing, of the wrong shape (when `shape` is given) or non-finite.
    @_specialize(where S == Float)
    public func tensor<S: NNScalar>(_ name: String, shape: [Int]? = nil, as type: S.Type = S.self) throws -> Tensor<S> {
        guard let e = entries[name] else { throw CheckpointError.missingTensor(name: name, file: file) }
        if let s = shape, s != e.shape { throw CheckpointError.shapeMismatch(name: name, file: file, expected: s, found: e.shape) }
        let count = e.shape.reduce(1, *)
        var out = Tensor<S>(zeros: e.shape)
        let base = bytes.startIndex + dataStart + e.range.lowerBound
        bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let start = base - bytes.startIndex
            for i in 0..<count {
                if e.dtype == "F32" {
                    let bits = raw.loadUnaligned(fromByteOffset: start + 4 * i, as: UInt32.self)
                    out.data[i] = S(Float(bitPattern: UInt32(littleEndian: bits)))
                } else {
                    let bits = raw.loadUnaligned(fromByteOffset: start + 8 * i, as: UInt64.self)
                    out.data[i] = S(Double(bitPattern: UInt64(littleEndian: bits)))
                }
            }
        }
        if let bad = out.data.firstIndex(where: { !$0.isFinite }) {
            throw CheckpointError.nonFinite(name: name, file: file, index: bad)
        }
        return out
    }

    /// Serialises tensors (sorted by name) and string metadata to safetensors bytes.
    public static func encode<S: NNScalar>(_ tensors: [(String, Tensor<S>)], metadata: [String: String] = [:]) throws -> Data {
        let dtype = S.self == Double.self ? "F64" : "F32"
        let size = S.self == Double.self ? 8 : 4
        precondition(S.self == Double.self || S.self == Float.self, "SafeTensors: only Float and Double are supported")
        let sorted = tensors.sorted { $0.0 < $1.0 }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, t) in sorted {
            guard header[name] == nil, name != "__metadata__" else {
                throw CheckpointError.badHeader(file: "<encode>", detail: "duplicate or reserved tensor name '\(name)'")
            }
            header[name] = ["dtype": dtype, "shape": t.shape, "data_offsets": [offset, offset + t.count * size]] as [String: Any]
            offset += t.count * size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in sorted {
            if S.self == Float.self {
                for v in t.data { var b = (v as! Float).bitPattern.littleEndian; withUnsafeBytes(of: &b) { out.append(contentsOf: $0) } }
            } else {
                for v in t.data { var b = (v as! Double).bitPattern.littleEndian; withUnsafeBytes(of: &b) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// Writes atomically: to a temporary name in the same folder, then `rename` over `path`.
    /// Refuses (throws `nonFinite`) to write a tensor containing NaN/Inf.
    public static func write<S: NNScalar>(_ tensors: [(String, Tensor<S>)], metadata: [String: String] = [:], to path: String) throws {
        for (name, t) in tensors {
            if let bad = t.data.firstIndex(where: { !$0.isFinite }) { throw CheckpointError.nonFinite(name: name, file: path, index: bad) }
        }
        let data = try encode(tensors, metadata: metadata)
        try writeAtomically(data, to: path)
    }
}

/// Writes `data` to a temporary file beside `path`, then renames it over `path` (atomic on POSIX).
func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
    do {
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw CheckpointError.io(file: path, detail: "cannot create temporary file \(tmp.path)")
        }
        let handle = try FileHandle(forWritingTo: tmp)
        defer { try? handle.close() }
        try handle.write(contentsOf: data)
        try handle.synchronize()   // on disk before the rename makes it visible
    } catch let error as CheckpointError {
        try? FileManager.default.removeItem(at: tmp)
        throw error
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw CheckpointError.io(file: path, detail: "cannot write temporary file: \(error)")
    }
    if rename(tmp.path, path) != 0 {
        let code = errno
        try? FileManager.default.removeItem(at: tmp)
        throw CheckpointError.io(file: path, detail: "rename failed: \(String(cString: strerror(code)))")
    }
}

/// What a model checkpoint says about itself.
public struct CheckpointInfo: Equatable {
    public var architecture: String
    public var step: Int
    public var config: String          // JSON text
    public var metadata: [String: String]
}

/// Model checkpoints: parameters (and buffers) in `path`, AdamW state (m, v, step) in `optimizerPath(path)`,
/// each written atomically. Metadata: `architecture`, `step`, `config` (JSON text), `format` = "headlab-nn-1".
public enum Checkpoint {
    /// "model.safetensors" → "model.optimizer.safetensors".
    public static func optimizerPath(_ path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".optimizer.safetensors"
    }

    public static func save<S: NNScalar>(parameters: [Parameter<S>], optimizer: AdamW<S>? = nil, architecture: String,
                                         step: Int, config: String = "{}", to path: String) throws {
        let meta = ["architecture": architecture, "step": String(step), "config": config, "format": "headlab-nn-1"]
        if let opt = optimizer {
            var optMeta = meta
            optMeta["optimizer"] = "AdamW"
            optMeta["adam_step"] = String(opt.stepCount)
            optMeta["hyperparameters"] = "{\"beta1\": \(opt.beta1), \"beta2\": \(opt.beta2), \"eps\": \(opt.eps), \"weight_decay\": \(opt.weightDecay)}"
            try SafeTensors.write(opt.stateTensors(), metadata: optMeta, to: optimizerPath(path))
        }
        try SafeTensors.write(parameters.map { ($0.name, $0.value) }, metadata: meta, to: path)
    }

    /// Loads every parameter (all validated before any is assigned) and, if given, the optimizer state.
    /// Throws if the architecture differs from `expectedArchitecture` (when given).
    @discardableResult
    public static func load<S: NNScalar>(into parameters: [Parameter<S>], optimizer: AdamW<S>? = nil,
                                         expectedArchitecture: String? = nil, from path: String) throws -> CheckpointInfo {
        let file = try SafeTensors(contentsOf: path)
        let arch = file.metadata["architecture"] ?? ""
        if let want = expectedArchitecture, want != arch {
            throw CheckpointError.badHeader(file: path, detail: "architecture '\(arch)', expected '\(want)'")
        }
        guard let step = Int(file.metadata["step"] ?? "") else {
            throw CheckpointError.badHeader(file: path, detail: "metadata 'step' missing or not an integer")
        }
        let loaded = try parameters.map { try file.tensor($0.name, shape: $0.value.shape, as: S.self) }
        if let opt = optimizer {
            let optPath = optimizerPath(path)
            let optFile = try SafeTensors(contentsOf: optPath)
            guard let adamStep = Int(optFile.metadata["adam_step"] ?? "") else {
                throw CheckpointError.badHeader(file: optPath, detail: "metadata 'adam_step' missing or not an integer")
            }
            // The two files are written one after the other; a crash in between leaves them from different steps.
            guard optFile.metadata["step"] == String(step) else {
                throw CheckpointError.badHeader(file: optPath, detail: "optimizer state is from step \(optFile.metadata["step"] ?? "?"), "
                                                + "the model in \(path) from step \(step)")
            }
            var tensors: [String: Tensor<S>] = [:]
            for p in parameters {
                for key in ["m." + p.name, "v." + p.name] { tensors[key] = try optFile.tensor(key, shape: p.value.shape, as: S.self) }
            }
            try opt.restoreState(step: adamStep, tensors: tensors, file: optPath)
        }
        for (p, t) in zip(parameters, loaded) { p.value = t }
        return CheckpointInfo(architecture: arch, step: step, config: file.metadata["config"] ?? "{}", metadata: file.metadata)
    }
}
