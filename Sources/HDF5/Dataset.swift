import _CHDF5
import Foundation

/// Stored element types. Files use little-endian IEEE/standard types; float16 is IEEE binary16.
public enum HDF5ElementType: String, Sendable {
    case uint8, int32, int64, float16, float32

    /// A new type id (caller closes it).
    func fileType() -> hid_t {
        switch self {
        case .uint8: return H5Tcopy(headlab_h5t_native_uint8())
        case .int32: return H5Tcopy(headlab_h5t_native_int32())
        case .int64: return H5Tcopy(headlab_h5t_native_int64())
        case .float16: return headlab_h5t_ieee_f16le()
        case .float32: return H5Tcopy(headlab_h5t_ieee_f32le())
        }
    }

    /// Bytes per element.
    public var size: Int { [.uint8: 1, .int32: 4, .int64: 8, .float16: 2, .float32: 4][self]! }
}

/// A chunked dataset of fixed shape [N, ...] written and read one leading-index row at a time.
/// Each row is one chunk (one sample per chunk), optionally gzip-compressed.
public final class HDF5Dataset: @unchecked Sendable {
    public let id: hid_t
    public let name: String
    public let filePath: String
    public let shape: [Int]
    public let elementType: HDF5ElementType
    var rowCount: Int { shape.dropFirst().reduce(1, *) }

    init(id: hid_t, name: String, filePath: String, shape: [Int], elementType: HDF5ElementType) {
        self.id = id; self.name = name; self.filePath = filePath; self.shape = shape; self.elementType = elementType
    }

    deinit { withHDF5 { _ = H5Dclose(id) } }

    func error(_ reason: String) -> HDF5Error { HDF5Error(file: filePath, object: name, reason: reason) }

    private func withRowSpace<R>(_ k: Int, _ body: (hid_t, hid_t) throws -> R) throws -> R {
        guard k >= 0 && k < shape[0] else { throw error("row \(k) outside 0..<\(shape[0])") }
        let fileSpace = H5Dget_space(id)
        defer { H5Sclose(fileSpace) }
        var start = [hsize_t](repeating: 0, count: shape.count)
        start[0] = hsize_t(k)
        var count = shape.map { hsize_t($0) }
        count[0] = 1
        H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil)
        let memSpace = H5Screate_simple(Int32(count.count), count, nil)
        defer { H5Sclose(memSpace) }
        return try body(memSpace, fileSpace)
    }

    /// Writes row `k` from raw bytes already in the stored element type.
    public func writeRow(_ k: Int, bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == rowCount * elementType.size else { throw error("row of \(bytes.count) bytes, expected \(rowCount * elementType.size)") }
        try withHDF5 {
            try withRowSpace(k) { mem, file in
                let t = elementType.fileType()
                defer { H5Tclose(t) }
                guard H5Dwrite(id, t, mem, file, h5Default, bytes.baseAddress) >= 0 else { throw error("write of row \(k) failed\(systemReason(" (disk full?)"))") }
            }
        }
    }

    public func writeRow(_ k: Int, _ values: [UInt8]) throws {
        guard elementType == .uint8 else { throw error("not a uint8 dataset") }
        try values.withUnsafeBytes { try writeRow(k, bytes: $0) }
    }

    public func writeRow(_ k: Int, _ values: [Int32]) throws {
        guard elementType == .int32 else { throw error("not an int32 dataset") }
        try values.withUnsafeBytes { try writeRow(k, bytes: $0) }
    }

    public func writeRow(_ k: Int, _ values: [Int64]) throws {
        guard elementType == .int64 else { throw error("not an int64 dataset") }
        try values.withUnsafeBytes { try writeRow(k, bytes: $0) }
    }

    /// Float rows go to float32 or float16 datasets; float16 is converted here with Swift's
    /// `Float16` (round to nearest even), not by HDF5 (whose conversion is wrong for some inputs).
    public func writeRow(_ k: Int, _ values: [Float]) throws {
        switch elementType {
        case .float32: try values.withUnsafeBytes { try writeRow(k, bytes: $0) }
        case .float16:
            let half = values.map { Float16($0).bitPattern }
            try half.withUnsafeBytes { try writeRow(k, bytes: $0) }
        default: throw error("not a float dataset")
        }
    }

    /// Reads row `k` as Float (from float16 or float32).
    public func readRowFloat(_ k: Int) throws -> [Float] {
        switch elementType {
        case .float32:
            var out = [Float](repeating: 0, count: rowCount)
            try out.withUnsafeMutableBytes { try readRow(k, into: $0) }
            return out
        case .float16:
            var half = [UInt16](repeating: 0, count: rowCount)
            try half.withUnsafeMutableBytes { try readRow(k, into: $0) }
            return half.map { Float(Float16(bitPattern: $0)) }
        default: throw error("not a float dataset")
        }
    }

    public func readRow(_ k: Int, into bytes: UnsafeMutableRawBufferPointer) throws {
        guard bytes.count == rowCount * elementType.size else { throw error("buffer of \(bytes.count) bytes") }
        try withHDF5 {
            try withRowSpace(k) { mem, file in
                let t = elementType.fileType()
                defer { H5Tclose(t) }
                guard H5Dread(id, t, mem, file, h5Default, bytes.baseAddress) >= 0 else { throw error("read of row \(k) failed (truncated or corrupt file?)") }
            }
        }
    }

    public func readRowBytes(_ k: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rowCount * elementType.size)
        try out.withUnsafeMutableBytes { try readRow(k, into: $0) }
        return out
    }
}

extension HDF5Node {
    /// Creates a chunked dataset of shape `shape`, one chunk per leading index, zero-filled.
    /// Uncompressed datasets allocate every chunk up front, so the file's layout does not depend
    /// on the order rows are written in.
    public func createDataset(_ name: String, type: HDF5ElementType, shape: [Int], gzip: Int = 0) throws -> HDF5Dataset {
        try withHDF5 { try withNewDatasetSpace(shape) { space, dcpl in
            var chunk = shape.map { hsize_t(max(1, $0)) }
            chunk[0] = 1
            H5Pset_chunk(dcpl, Int32(chunk.count), chunk)
            if gzip > 0 { H5Pset_deflate(dcpl, UInt32(gzip)) } else { H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) }
            let t = type.fileType()
            defer { H5Tclose(t) }
            let d = H5Dcreate2(id, name, t, space, h5Default, dcpl, h5Default)
            guard d >= 0 else { throw error(name, "cannot create dataset") }
            return HDF5Dataset(id: d, name: join(name), filePath: filePath, shape: shape, elementType: type)
        } }
    }

    public func openDataset(_ name: String) throws -> HDF5Dataset {
        let s = try shape(name)
        return try withHDF5 {
            let d = H5Dopen2(id, name, h5Default)
            guard d >= 0 else { throw error(name, "cannot open dataset") }
            let t = H5Dget_type(d)
            defer { H5Tclose(t) }
            let size = H5Tget_size(t), cls = H5Tget_class(t)
            let type: HDF5ElementType
            switch (cls, size) {
            case (H5T_FLOAT, 2): type = .float16
            case (H5T_FLOAT, 4): type = .float32
            case (H5T_INTEGER, 1): type = .uint8
            case (H5T_INTEGER, 4): type = .int32
            case (H5T_INTEGER, 8): type = .int64
            default: H5Dclose(d); throw error(name, "unsupported element type")
            }
            return HDF5Dataset(id: d, name: join(name), filePath: filePath, shape: s, elementType: type)
        }
    }
}
