import Foundation
import NNCore
import Pickle

/// A legacy (non-zip, PyTorch < 1.6 style) `torch.save` file of a state dict, read without Python:
/// pickle 1 the magic number 0x1950a86a20f9469cfc6c, pickle 2 the protocol version (1001), pickle 3 sys_info,
/// pickle 4 the state dict, whose tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`
/// with storages as persistent ids `('storage', <torch.XStorage>, key, location, numel, view_metadata)`,
/// pickle 5 the list of storage keys, then for each key in that order an 8-byte little-endian element count
/// followed by the raw little-endian elements. Float32 tensors are kept (any strides); others (e.g. the int64
/// `num_batches_tracked`) are listed in `skipped`.
public struct TorchLegacyFile: TensorSource {
    public let file: String
    public let tensors: [String: Tensor<Float>]
    /// Names of non-float tensors that were not converted.
    public let skipped: [String]
    public var sourceName: String { file }

    public func floatTensor(_ name: String) throws -> Tensor<Float>? { tensors[name] }

    public init(contentsOf path: String) throws {
        file = path
        func fail(_ s: String) -> BackboneError { .badInput("\(path): not a legacy torch.save state dict (\(s))") }
        var u = try Unpickler(contentsOf: path)
        guard case .bigInt(let magicBytes) = try u.load(),
              magicBytes.prefix(9) == [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50] else {
            throw fail("magic number")
        }
        guard case .int(1001) = try u.load() else { throw fail("protocol version") }
        let sysInfo = try u.load()
        if let le = sysInfo["little_endian"]?.boolValue, !le { throw fail("big-endian file") }
        let root = try u.load()
        guard case .list(let keyList) = try u.load() else { throw fail("storage key list") }
        // Raw storages.
        var storages: [String: (elementSize: Int, bytes: ArraySlice<UInt8>)] = [:]
        var storageTypes: [String: String] = [:]
        // Element sizes come from the persistent ids in the state dict.
        var entries: [(String, PickleObject)] = []
        guard let pairs = root.dictPairs else { throw fail("top-level object is \(root.typeName), not a dict") }
        for (k, v) in pairs {
            guard let name = k.text, case .object(let o) = v else { throw fail("entry \(k) is not a tensor") }
            guard o.qualifiedName == "torch._utils._rebuild_tensor_v2" || o.qualifiedName == "torch._utils._rebuild_tensor",
                  o.args.count >= 4, case .persistent(let pid) = o.args[0], case .tuple(let t) = pid, t.count >= 5,
                  case .global(_, let stype) = t[1], let key = t[2].text else {
                throw fail("entry '\(name)' is not a rebuilt tensor")
            }
            storageTypes[key] = stype
            entries.append((name, o))
        }
        for kv in keyList {
            guard let key = kv.text else { throw fail("storage key") }
            let size: Int
            switch storageTypes[key] ?? "" {
            case "FloatStorage": size = 4
            case "DoubleStorage", "LongStorage": size = 8
            case "IntStorage": size = 4
            case "HalfStorage", "ShortStorage", "BFloat16Storage": size = 2
            case "ByteStorage", "CharStorage", "BoolStorage": size = 1
            default: throw fail("storage \(key) of unknown type \(storageTypes[key] ?? "?")")
            }
            let countBytes = try u.readBytes(8)
            var n: UInt64 = 0
            for (i, b) in countBytes.enumerated() { n |= UInt64(b) << (8 * UInt64(i)) }
            guard n < UInt64(Int32.max) else { throw fail("storage \(key) count \(n)") }
            do { storages[key] = (size, try u.readBytes(Int(n) * size)) } catch { throw fail("storage \(key) truncated") }
        }
        var out: [String: Tensor<Float>] = [:], skipped: [String] = []
        for (name, o) in entries {
            guard case .persistent(.tuple(let t)) = o.args[0], case .global(_, let stype) = t[1], let key = t[2].text,
                  let st = storages[key] else { throw fail("entry '\(name)' storage missing") }
            guard stype == "FloatStorage" else { skipped.append(name); continue }
            func ints(_ v: PickleValue) -> [Int]? {
                guard case .tuple(let xs) = v else { return nil }
                let r = xs.compactMap { $0.intValue.map(Int.init) }
                return r.count == xs.count ? r : nil
            }
            guard let offset = o.args[1].intValue.map(Int.init), let shape = ints(o.args[2]), let strides = ints(o.args[3]),
                  shape.count == strides.count else { throw fail("entry '\(name)' size/stride") }
            let count = shape.reduce(1, *), elements = st.bytes.count / 4
            var maxIndex = offset
            for (s, d) in zip(shape, strides) where s > 0 { maxIndex += (s - 1) * d }
            guard count == 0 || (offset >= 0 && maxIndex < elements && strides.allSatisfy { $0 >= 0 }) else {
                throw fail("entry '\(name)' exceeds its storage")
            }
            var data = [Float](repeating: 0, count: count)
            st.bytes.withUnsafeBytes { raw in
                var idx = [Int](repeating: 0, count: shape.count)
                for i in 0..<count {
                    var e = offset
                    for d in 0..<shape.count { e += idx[d] * strides[d] }
                    data[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * e, as: UInt32.self)))
                    var d = shape.count - 1
                    while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
                }
            }
            out[name] = Tensor(shape: shape, data: data)
        }
        tensors = out
        self.skipped = skipped
    }
}
