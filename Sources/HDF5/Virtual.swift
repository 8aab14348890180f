import _CHDF5
import Foundation

/// One block of a virtual dataset: rows `firstRow ..< firstRow + rows` of the virtual dataset are
/// the whole dataset `dataset` of the file `file` (whose leading dimension is `rows`).
public struct HDF5VirtualSource: Sendable {
    public var file: String
    public var dataset: String
    public var firstRow: Int
    public var rows: Int
    public init(file: String, dataset: String, firstRow: Int, rows: Int) {
        self.file = file; self.dataset = dataset; self.firstRow = firstRow; self.rows = rows
    }
}

extension HDF5Node {
    /// Creates a virtual dataset (HDF5 ≥ 1.10 VDS) of `shape` stacked along the leading index
    /// from whole source datasets: no data is copied, reads go to the source files.
    /// A relative source file name is resolved by HDF5 against the virtual file's directory.
    public func createVirtualDataset(_ name: String, type: HDF5ElementType, shape: [Int], sources: [HDF5VirtualSource]) throws {
        try withHDF5 { try withNewDatasetSpace(shape) { space, dcpl in
            let dims = shape.map { hsize_t($0) }
            for s in sources {
                guard s.firstRow >= 0, s.rows > 0, s.firstRow + s.rows <= shape[0] else {
                    throw error(name, "virtual source \(s.file):\(s.dataset) rows \(s.firstRow)..<\(s.firstRow + s.rows) outside 0..<\(shape[0])")
                }
                var srcDims = dims
                srcDims[0] = hsize_t(s.rows)
                let srcSpace = H5Screate_simple(Int32(srcDims.count), srcDims, nil)
                defer { H5Sclose(srcSpace) }
                H5Sselect_all(srcSpace)
                var start = [hsize_t](repeating: 0, count: dims.count)
                start[0] = hsize_t(s.firstRow)
                H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nil, srcDims, nil)
                guard H5Pset_virtual(dcpl, space, s.file, s.dataset, srcSpace) >= 0 else {
                    throw error(name, "cannot map virtual source \(s.file):\(s.dataset)")
                }
            }
            H5Sselect_all(space)
            let t = type.fileType()
            defer { H5Tclose(t) }
            let d = H5Dcreate2(id, name, t, space, h5Default, dcpl, h5Default)
            guard d >= 0 else { throw error(name, "cannot create virtual dataset") }
            H5Dclose(d)
        } }
    }

    /// True when `name` is a virtual dataset (its rows live in other files).
    public func isVirtual(_ name: String) throws -> Bool {
        try withHDF5 {
            let d = H5Dopen2(id, name, h5Default)
            guard d >= 0 else { throw error(name, "cannot open dataset") }
            defer { H5Dclose(d) }
            let dcpl = H5Dget_create_plist(d)
            defer { H5Pclose(dcpl) }
            return H5Pget_layout(dcpl) == H5D_VIRTUAL
        }
    }
}
