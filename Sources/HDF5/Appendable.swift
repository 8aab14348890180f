import _CHDF5
import Foundation

/// A chunked dataset of shape [N, ...] that grows along its leading axis: `append` adds rows at
/// the end (ragged data stored as concatenated arrays plus offsets, written without holding all
/// of it in memory).
public final class HDF5AppendableDataset: @unchecked Sendable {
    public let id: hid_t
    public let name: String
    public let filePath: String
    public let rowShape: [Int]
    public let elementType: HDF5ElementType
    public internal(set) var rows = 0
    var rowValues: Int { rowShape.reduce(1, *) }

    init(id: hid_t, name: String, filePath: String, rowShape: [Int], elementType: HDF5ElementType) {
        self.id = id; self.name = name; self.filePath = filePath; self.rowShape = rowShape; self.elementType = elementType
    }

    deinit { withHDF5 { _ = H5Dclose(id) } }

    func error(_ reason: String) -> HDF5Error { HDF5Error(file: filePath, object: name, reason: reason) }

    /// Appends `bytes.count / (row size)` rows given in the stored element type.
    public func append(bytes: UnsafeRawBufferPointer) throws {
        let rowBytes = rowValues * elementType.size
        guard rowBytes > 0, bytes.count % rowBytes == 0 else { throw error("append of \(bytes.count) bytes: not whole rows of \(rowBytes)") }
        let n = bytes.count / rowBytes
        guard n > 0 else { return }
        try withHDF5 {
            var dims = [hsize_t(rows + n)] + rowShape.map { hsize_t($0) }
            guard H5Dset_extent(id, &dims) >= 0 else { throw error("cannot extend to \(rows + n) rows") }
            let fileSpace = H5Dget_space(id)
            defer { H5Sclose(fileSpace) }
            let start = [hsize_t(rows)] + rowShape.map { _ in hsize_t(0) }
            let count = [hsize_t(n)] + rowShape.map { hsize_t($0) }
            H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil)
            let memSpace = H5Screate_simple(Int32(count.count), count, nil)
            defer { H5Sclose(memSpace) }
            let t = elementType.fileType()
            defer { H5Tclose(t) }
            guard H5Dwrite(id, t, memSpace, fileSpace, h5Default, bytes.baseAddress) >= 0 else { throw error("append failed\(systemReason(" (disk full?)"))") }
        }
        rows += n
    }

    public func append(_ values: [UInt8]) throws {
        guard elementType == .uint8 else { throw error("not a uint8 dataset") }
        try values.withUnsafeBytes { try append(bytes: $0) }
    }
    public func append(_ values: [Int32]) throws {
        guard elementType == .int32 else { throw error("not an int32 dataset") }
        try values.withUnsafeBytes { try append(bytes: $0) }
    }
    public func append(_ values: [Int64]) throws {
        guard elementType == .int64 else { throw error("not an int64 dataset") }
        try values.withUnsafeBytes { try append(bytes: $0) }
    }
    public func append(_ values: [Float]) throws {
        guard elementType == .float32 else { throw error("not a float32 dataset") }
        try values.withUnsafeBytes { try append(bytes: $0) }
    }
}

extension HDF5Node {
    /// Creates an empty dataset of shape [0, rowShape...] that `append` grows, in chunks of
    /// `chunkRows` rows, optionally gzip-compressed.
    public func createAppendableDataset(_ name: String, type: HDF5ElementType, rowShape: [Int], chunkRows: Int = 65536,
                                        gzip: Int = 0) throws -> HDF5AppendableDataset {
        try withHDF5 {
            let dims = [hsize_t(0)] + rowShape.map { hsize_t($0) }
            let maxDims = [hsize_t.max] + rowShape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dims.count), dims, maxDims)
            defer { H5Sclose(space) }
            let dcpl = H5Pcreate(headlab_h5p_dataset_create())
            defer { H5Pclose(dcpl) }
            let chunk = [hsize_t(max(1, chunkRows))] + rowShape.map { hsize_t(max(1, $0)) }
            H5Pset_chunk(dcpl, Int32(chunk.count), chunk)
            if gzip > 0 { H5Pset_deflate(dcpl, UInt32(gzip)) }
            H5Pset_obj_track_times(dcpl, false)
            let t = type.fileType()
            defer { H5Tclose(t) }
            let d = H5Dcreate2(id, name, t, space, h5Default, dcpl, h5Default)
            guard d >= 0 else { throw error(name, "cannot create dataset") }
            return HDF5AppendableDataset(id: d, name: join(name), filePath: filePath, rowShape: rowShape, elementType: type)
        }
    }
}

extension HDF5Node {
    /// Reopens a dataset made by `createAppendableDataset`; `append` continues after its last row.
    public func openAppendableDataset(_ name: String) throws -> HDF5AppendableDataset {
        let d = try openDataset(name)
        return try withHDF5 {
            let id = H5Dopen2(self.id, name, h5Default)
            guard id >= 0 else { throw error(name, "cannot open dataset") }
            let a = HDF5AppendableDataset(id: id, name: join(name), filePath: filePath, rowShape: Array(d.shape.dropFirst()), elementType: d.elementType)
            a.rows = d.shape[0]
            return a
        }
    }
}

extension HDF5Dataset {
    /// Raw bytes (stored element type) of rows `range` along the leading axis.
    public func readRows(_ range: Range<Int>) throws -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= shape[0] else { throw error("rows \(range) outside 0..<\(shape[0])") }
        var out = [UInt8](repeating: 0, count: range.count * rowCount * elementType.size)
        guard !range.isEmpty else { return out }
        try withHDF5 {
            let fileSpace = H5Dget_space(id)
            defer { H5Sclose(fileSpace) }
            var start = [hsize_t](repeating: 0, count: shape.count), count = shape.map { hsize_t($0) }
            start[0] = hsize_t(range.lowerBound); count[0] = hsize_t(range.count)
            H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, count, nil)
            let memSpace = H5Screate_simple(Int32(count.count), count, nil)
            defer { H5Sclose(memSpace) }
            let t = elementType.fileType()
            defer { H5Tclose(t) }
            try out.withUnsafeMutableBytes { b in
                guard H5Dread(id, t, memSpace, fileSpace, h5Default, b.baseAddress) >= 0 else { throw error("read of rows \(range) failed (truncated or corrupt file?)") }
            }
        }
        return out
    }
}
