import _CHDF5
import Foundation

/// An HDF5 failure, naming the file and the object (dataset, group or attribute) involved.
public struct HDF5Error: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var object: String
    public var reason: String
    public init(file: String, object: String, reason: String) {
        self.file = file; self.object = object; self.reason = reason
    }
    public var description: String { "\(file): \(object.isEmpty ? "" : "\(object): ")\(reason)" }
}

/// Element types HeadLab stores, with their native HDF5 memory types.
public protocol HDF5Scalar: Sendable {
    static var nativeType: hid_t { get }
    static var zero: Self { get }
}
extension Float: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_float() } }
extension Double: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_double() } }
extension Int8: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_int8() } }
extension UInt8: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_uint8() } }
extension Int16: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_int16() } }
extension UInt16: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_uint16() } }
extension Int32: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_int32() } }
extension UInt32: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_uint32() } }
extension Int64: HDF5Scalar { public static var nativeType: hid_t { headlab_h5t_native_int64() } }

/// The HDF5 library is built without thread safety: every call goes through this lock.
let hdf5Lock = NSRecursiveLock()
private let hdf5Initialised: Bool = {
    H5open()
    headlab_h5_silence_errors()
    return true
}()

@inline(__always) func withHDF5<T>(_ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock(); defer { hdf5Lock.unlock() }
    _ = hdf5Initialised
    return try body()
}

let h5Default = hid_t(headlab_h5p_default())

/// Runs `body` with a simple dataspace of `shape` and a dataset-creation property list that
/// records no timestamps (identical inputs give identical files); closes both afterwards.
/// Call inside `withHDF5`.
func withNewDatasetSpace<T>(_ shape: [Int], _ body: (_ space: hid_t, _ creation: hid_t) throws -> T) rethrows -> T {
    let dims = shape.map { hsize_t($0) }
    let space = H5Screate_simple(Int32(dims.count), dims, nil)
    defer { H5Sclose(space) }
    let dcpl = H5Pcreate(headlab_h5p_dataset_create())
    defer { H5Pclose(dcpl) }
    H5Pset_obj_track_times(dcpl, false)
    return try body(space, dcpl)
}

/// Why the last HDF5 call failed, when it was a system call: ": No space left on device",
/// ": File too large" (from HDF5's error stack), else `fallback`. Call right after the failure.
func systemReason(_ fallback: String = "") -> String {
    var buffer = [CChar](repeating: 0, count: 257)
    headlab_h5_system_error(&buffer)
    let message = String(cString: buffer)
    return message.isEmpty ? fallback : ": " + message
}

/// A group or a file: something that holds datasets, groups and attributes.
public class HDF5Node: @unchecked Sendable {
    public let id: hid_t
    public let filePath: String
    public let path: String

    init(id: hid_t, filePath: String, path: String) {
        self.id = id; self.filePath = filePath; self.path = path
    }

    func error(_ object: String, _ reason: String) -> HDF5Error {
        let full = object.isEmpty ? path : (path == "/" ? "/" + object : path + "/" + object)
        return HDF5Error(file: filePath, object: full, reason: reason)
    }

    // MARK: Links

    public func exists(_ name: String) -> Bool {
        withHDF5 {
            // Check each component so that a missing intermediate group is not an error.
            var prefix = ""
            for part in name.split(separator: "/") {
                prefix += prefix.isEmpty ? String(part) : "/" + part
                if H5Lexists(id, prefix, h5Default) <= 0 { return false }
            }
            return true
        }
    }

    public func createGroup(_ name: String) throws -> HDF5Group {
        try withHDF5 {
            let g = H5Gcreate2(id, name, h5Default, h5Default, h5Default)
            guard g >= 0 else { throw error(name, "cannot create group") }
            return HDF5Group(id: g, filePath: filePath, path: join(name))
        }
    }

    public func openGroup(_ name: String) throws -> HDF5Group {
        try withHDF5 {
            guard exists(name) else { throw error(name, "missing group") }
            let g = H5Gopen2(id, name, h5Default)
            guard g >= 0 else { throw error(name, "not a group") }
            return HDF5Group(id: g, filePath: filePath, path: join(name))
        }
    }

    func join(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// Names of the direct children (datasets and groups), in creation-independent (name) order.
    public func childNames() -> [String] {
        withHDF5 {
            var names: [String] = []
            var info = H5G_info_t()
            guard H5Gget_info(id, &info) >= 0 else { return [] }
            for i in 0..<info.nlinks {
                let n = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, h5Default)
                guard n > 0 else { continue }
                var buf = [CChar](repeating: 0, count: Int(n) + 1)
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, Int(n) + 1, h5Default)
                names.append(String(cString: buf))
            }
            return names
        }
    }

    // MARK: Whole datasets

    /// Writes `values` as a new dataset of the given shape (row-major, C order, as numpy).
    /// `chunks` and `gzip` (level 1–9) are optional; gzip needs chunks.
    public func write<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int], chunks: [Int]? = nil,
                                     gzip: Int? = nil) throws {
        guard shape.reduce(1, *) == values.count else {
            throw error(name, "shape \(shape) does not hold \(values.count) values")
        }
        try withHDF5 { try withNewDatasetSpace(shape) { space, dcpl in
            if let c = chunks ?? (gzip != nil ? shape.map { max(1, $0) } : nil) {
                H5Pset_chunk(dcpl, Int32(c.count), c.map { hsize_t(max(1, $0)) })
                if let level = gzip { H5Pset_deflate(dcpl, UInt32(level)) }
            }
            let d = H5Dcreate2(id, name, T.nativeType, space, h5Default, dcpl, h5Default)
            guard d >= 0 else { throw error(name, "cannot create dataset (does it exist already?)") }
            defer { H5Dclose(d) }
            let status = values.withUnsafeBytes { H5Dwrite(d, T.nativeType, hid_t(headlab_h5s_all()), hid_t(headlab_h5s_all()), h5Default, $0.baseAddress) }
            guard status >= 0 else { throw error(name, "write failed\(systemReason(" (disk full?)"))") }
        } }
    }

    /// Shape of a dataset.
    public func shape(_ name: String) throws -> [Int] {
        try withHDF5 {
            guard exists(name) else { throw error(name, "missing dataset") }
            let d = H5Dopen2(id, name, h5Default)
            guard d >= 0 else { throw error(name, "not a dataset") }
            defer { H5Dclose(d) }
            let space = H5Dget_space(d)
            defer { H5Sclose(space) }
            let rank = Int(H5Sget_simple_extent_ndims(space))
            var dims = [hsize_t](repeating: 0, count: max(rank, 1))
            H5Sget_simple_extent_dims(space, &dims, nil)
            return rank == 0 ? [] : dims.map { Int($0) }
        }
    }

    /// Reads a whole dataset, converting to `T` (HDF5 converts numeric types on read).
    /// `expectShape` entries of -1 match any size; a mismatch is an error naming the dataset.
    public func read<T: HDF5Scalar>(_ name: String, as: T.Type = T.self, expectShape: [Int]? = nil) throws -> (values: [T], shape: [Int]) {
        let shape = try self.shape(name)
        if let e = expectShape {
            guard e.count == shape.count, zip(e, shape).allSatisfy({ $0 == -1 || $0 == $1 }) else {
                throw error(name, "shape \(shape), expected \(e.map { $0 == -1 ? "*" : String($0) })")
            }
        }
        return try withHDF5 {
            let d = H5Dopen2(id, name, h5Default)
            defer { H5Dclose(d) }
            var out = [T](repeating: T.zero, count: shape.reduce(1, *))
            let status = out.withUnsafeMutableBytes { H5Dread(d, T.nativeType, hid_t(headlab_h5s_all()), hid_t(headlab_h5s_all()), h5Default, $0.baseAddress) }
            guard status >= 0 else { throw error(name, "read failed (truncated or corrupt file?)") }
            return (out, shape)
        }
    }

    /// Writes a 1-D dataset of variable-length UTF-8 strings (h5py reads them as `str` via `.asstr()`).
    public func writeStrings(_ name: String, _ strings: [String]) throws {
        try withHDF5 {
            let type = H5Tcopy(headlab_h5t_c_s1())
            defer { H5Tclose(type) }
            H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))  // H5T_VARIABLE
            H5Tset_cset(type, H5T_CSET_UTF8)
            var dims = [hsize_t(strings.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let dcpl = H5Pcreate(headlab_h5p_dataset_create())
            defer { H5Pclose(dcpl) }
            H5Pset_obj_track_times(dcpl, false)
            let d = H5Dcreate2(id, name, type, space, h5Default, dcpl, h5Default)
            guard d >= 0 else { throw error(name, "cannot create dataset") }
            defer { H5Dclose(d) }
            let cStrings = strings.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            var ptrs: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
            guard H5Dwrite(d, type, hid_t(headlab_h5s_all()), hid_t(headlab_h5s_all()), h5Default, &ptrs) >= 0 else {
                throw error(name, "write failed")
            }
        }
    }

    public func readStrings(_ name: String) throws -> [String] {
        let n = try shape(name).reduce(1, *)
        return try withHDF5 {
            let d = H5Dopen2(id, name, h5Default)
            defer { H5Dclose(d) }
            let type = H5Tcopy(headlab_h5t_c_s1())
            defer { H5Tclose(type) }
            H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))
            H5Tset_cset(type, H5T_CSET_UTF8)
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
            guard H5Dread(d, type, hid_t(headlab_h5s_all()), hid_t(headlab_h5s_all()), h5Default, &ptrs) >= 0 else {
                throw error(name, "not a string dataset")
            }
            defer { ptrs.forEach { free($0) } }
            return ptrs.map { $0.map { String(cString: $0) } ?? "" }
        }
    }

    // MARK: Attributes

    public func setAttribute(_ name: String, _ value: String) throws {
        try withHDF5 {
            if H5Aexists(id, name) > 0 { H5Adelete(id, name) }
            let type = H5Tcopy(headlab_h5t_c_s1())
            defer { H5Tclose(type) }
            H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))
            H5Tset_cset(type, H5T_CSET_UTF8)
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let a = H5Acreate2(id, name, type, space, h5Default, h5Default)
            guard a >= 0 else { throw error("@" + name, "cannot create attribute") }
            defer { H5Aclose(a) }
            let c = strdup(value)
            defer { free(c) }
            var p: UnsafePointer<CChar>? = UnsafePointer(c)
            guard H5Awrite(a, type, &p) >= 0 else { throw error("@" + name, "write failed") }
        }
    }

    public func setAttribute<T: HDF5Scalar>(_ name: String, _ values: [T]) throws {
        try withHDF5 {
            if H5Aexists(id, name) > 0 { H5Adelete(id, name) }
            var dims = [hsize_t(values.count)]
            let space = H5Screate_simple(1, &dims, nil)
            defer { H5Sclose(space) }
            let a = H5Acreate2(id, name, T.nativeType, space, h5Default, h5Default)
            guard a >= 0 else { throw error("@" + name, "cannot create attribute") }
            defer { H5Aclose(a) }
            guard values.withUnsafeBytes({ H5Awrite(a, T.nativeType, $0.baseAddress) }) >= 0 else {
                throw error("@" + name, "write failed")
            }
        }
    }

    public func setAttribute<T: HDF5Scalar>(_ name: String, _ value: T) throws { try setAttribute(name, [value]) }

    public func hasAttribute(_ name: String) -> Bool { withHDF5 { H5Aexists(id, name) > 0 } }

    public func stringAttribute(_ name: String) throws -> String {
        try withHDF5 {
            guard H5Aexists(id, name) > 0 else { throw error("@" + name, "missing attribute") }
            let a = H5Aopen(id, name, h5Default)
            defer { H5Aclose(a) }
            let fileType = H5Aget_type(a)
            defer { H5Tclose(fileType) }
            guard H5Tget_class(fileType) == H5T_STRING else { throw error("@" + name, "not a string") }
            if H5Tis_variable_str(fileType) > 0 {
                let type = H5Tcopy(headlab_h5t_c_s1())
                defer { H5Tclose(type) }
                H5Tset_size(type, Int(bitPattern: UInt(bitPattern: -1)))
                H5Tset_cset(type, H5Tget_cset(fileType))
                var p: UnsafeMutablePointer<CChar>? = nil
                guard H5Aread(a, type, &p) >= 0, let s = p else { throw error("@" + name, "read failed") }
                defer { free(s) }
                return String(cString: s)
            }
            let size = H5Tget_size(fileType)
            var buf = [CChar](repeating: 0, count: size + 1)
            guard H5Aread(a, fileType, &buf) >= 0 else { throw error("@" + name, "read failed") }
            return String(cString: buf)
        }
    }

    public func attribute<T: HDF5Scalar>(_ name: String, as: T.Type = T.self) throws -> [T] {
        try withHDF5 {
            guard H5Aexists(id, name) > 0 else { throw error("@" + name, "missing attribute") }
            let a = H5Aopen(id, name, h5Default)
            defer { H5Aclose(a) }
            let space = H5Aget_space(a)
            defer { H5Sclose(space) }
            let n = Int(H5Sget_simple_extent_npoints(space))
            var out = [T](repeating: T.zero, count: n)
            guard out.withUnsafeMutableBytes({ H5Aread(a, T.nativeType, $0.baseAddress) }) >= 0 else {
                throw error("@" + name, "not numeric")
            }
            return out
        }
    }
}

public final class HDF5Group: HDF5Node, @unchecked Sendable {
    deinit { withHDF5 { _ = H5Gclose(id) } }
}

/// An open HDF5 file. Closing happens on deinit or explicitly with `close()`.
public final class HDF5File: HDF5Node, @unchecked Sendable {
    private var isOpen = true

    public enum Mode: Sendable { case readOnly, readWrite, truncate }

    public init(path: String, mode: Mode) throws {
        let fid: hid_t = withHDF5 {
            switch mode {
            case .readOnly, .readWrite:
                guard FileManager.default.fileExists(atPath: path) else { return -2 }
                let fapl = HDF5File.deterministicAccess()
                defer { H5Pclose(fapl) }
                return H5Fopen(path, mode == .readOnly ? headlab_h5f_acc_rdonly() : headlab_h5f_acc_rdwr(), fapl)
            case .truncate:
                let fapl = HDF5File.deterministicAccess()
                defer { H5Pclose(fapl) }
                return H5Fcreate(path, headlab_h5f_acc_trunc(), h5Default, fapl)
            }
        }
        if fid == -2 { throw HDF5Error(file: path, object: "", reason: "no such file") }
        guard fid >= 0 else {
            throw HDF5Error(file: path, object: "", reason: mode == .truncate ? "cannot create file" : "not an HDF5 file, or truncated")
        }
        super.init(id: fid, filePath: path, path: "/")
    }

    /// File access without HDF5's metadata and small-data aggregators: every allocation goes to
    /// the end of the file, so closing and reopening a file (an interrupted and resumed run)
    /// lays it out exactly as one uninterrupted session does.
    static func deterministicAccess() -> hid_t {
        let fapl = H5Pcreate(headlab_h5p_file_access())
        H5Pset_meta_block_size(fapl, 0)
        H5Pset_small_data_block_size(fapl, 0)
        return fapl
    }

    /// Writes every cached chunk and the metadata to disk; fails (disk full, file size limit)
    /// with the system's reason.
    public func flush() throws {
        try withHDF5 {
            guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else {
                throw HDF5Error(file: filePath, object: "", reason: "cannot write to the file\(systemReason(" (disk full?)"))")
            }
        }
    }

    public func close() {
        withHDF5 {
            if isOpen { H5Fclose(id); isOpen = false }
        }
    }

    /// `close`, reporting a failure to write what was still cached.
    public func closeChecked() throws {
        try withHDF5 {
            guard isOpen else { return }
            isOpen = false
            guard H5Fclose(id) >= 0 else {
                throw HDF5Error(file: filePath, object: "", reason: "cannot write to the file\(systemReason(" (disk full?)"))")
            }
        }
    }

    deinit { close() }

    /// Creates the file under a temporary name, lets `body` fill it, then renames it into place:
    /// a failure or a kill leaves no half-written file at `path`.
    public static func writeAtomically(path: String, _ body: (HDF5File) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        do {
            let file = try HDF5File(path: tmp, mode: .truncate)
            do { try body(file) } catch { file.close(); throw error }
            try file.closeChecked()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }
}
