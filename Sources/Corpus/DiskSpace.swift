import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks that a file can grow before HDF5 writes into it.
///
/// HDF5 cannot undo a half-written flush: when the disk fills (or a file size limit is hit) in
/// the middle of one, its superblock already records the new end of file and the chunk index
/// points past the data that made it to disk, so the file no longer opens. Instead the corpus
/// writer claims the disk blocks of the preallocated (uncompressed) rows when it creates the file,
/// and asks the file system for the room a sample's compressed rows can need *before* writing
/// it (`posix_fallocate`, then truncates back): if that fails the sample is not started, the file
/// stays as the last finished sample left it, and `--resume` continues it once there is space.
/// (A disk that fills between the check and the write — another process writing — is not covered.)
enum DiskSpace {
    /// Ensures `bytes` more bytes can be appended to `path` now. Throws a `CorpusError` with the
    /// system's reason (ENOSPC, EFBIG from RLIMIT_FSIZE, EDQUOT).
    static func ensureRoom(_ bytes: Int, toGrow path: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw CorpusError(file: path, reason: "cannot open for writing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CorpusError(file: path, reason: String(cString: strerror(errno))) }
        let size = off_t(st.st_size)
        // posix_fallocate returns the error number (glibc emulates it where the file system lacks it).
        let code = posix_fallocate(fd, size, off_t(bytes))
        // Give the room back: HDF5 allocates it itself, at the same end of file.
        _ = ftruncate(fd, size)
        if code != 0 {
            throw CorpusError(file: path, reason: "the file cannot grow: \(String(cString: strerror(code))) (a sample needs up to \(bytes / 1024) KiB)")
        }
    }

    /// Allocates disk blocks for every byte of `path` (its holes included), size unchanged.
    static func allocateWhole(_ path: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw CorpusError(file: path, reason: "cannot open for writing: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CorpusError(file: path, reason: String(cString: strerror(errno))) }
        let code = posix_fallocate(fd, 0, st.st_size)
        if code != 0 {
            throw CorpusError(file: path, reason: "cannot create the corpus file: \(String(cString: strerror(code))) (its uncompressed channels need \(Int(st.st_size) >> 20) MiB)")
        }
    }
}
