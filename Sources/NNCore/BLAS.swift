import _COpenBLAS

/// Row-major single-precision GEMM on OpenBLAS, as the layers run it (`Float.gemm`: split over `nnThreadCount`
/// workers): `C[M, N] = alpha · op(A) · op(B) + beta · C`, with op = transpose when the flag is set.
/// A is [M, K] (or [K, M] transposed), B is [K, N] (or [N, K] transposed).
public func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
    Float.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a, lda: transposeA ? m : k,
               b, ldb: transposeB ? k : n, beta: beta, c, ldc: n)
}

/// How many pieces `forEachGemmPiece` cuts an [M, N] × K product into (outside a worker region).
func gemmPieceCount(m: Int, n: Int, k: Int) -> Int { min(nnThreadCount, max(m, n) / 16, (m * n * k) >> 20) }

/// Runs one GEMM as pieces on the workers: `body(i0, rows, j0, columns)` computes C[i0..<i0+rows, j0..<j0+columns]
/// with one single-threaded OpenBLAS call.
///
/// NNCore keeps OpenBLAS at one thread and splits products itself: with OpenBLAS's own threads, its helper polled for
/// ~0.1 s after every call and took a core from the layers' own loops in between (GELU after a GEMM ran 1.5–2.0 ms
/// instead of 0.9). The larger of M and N is cut at multiples of 16 into pieces of at least 2²⁰ multiply-adds (smaller
/// ones do not pay for the dispatch); products inside a worker region (already one per worker) run as one call. The
/// pieces are a function of the shape and `nnThreadCount`, so results are reproducible; OpenBLAS rounds a piece like
/// the separate product it is, so across worker counts values differ in the last bits (≈ 1e-7 relative).
func forEachGemmPiece(m: Int, n: Int, k: Int, _ body: (_ i0: Int, _ rows: Int, _ j0: Int, _ columns: Int) -> Void) {
    if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
    let splitRows = m >= n, length = splitRows ? m : n, pieces = gemmPieceCount(m: m, n: n, k: k)
    if pieces <= 1 || WorkerPool.shared.isBusy { body(0, m, 0, n); return }
    WorkerPool.shared.run(chunks: pieces, threads: nnThreadCount) { w in
        let lo = (length * w / pieces) & ~15, hi = w == pieces - 1 ? length : (length * (w + 1) / pieces) & ~15
        if splitRows { body(lo, hi - lo, 0, n) } else { body(0, m, lo, hi - lo) }
    }
}

/// The kernel core OpenBLAS picked (e.g. "Haswell", "SkylakeX").
public var blasCoreName: String { String(cString: openblas_get_corename()) }

/// OpenBLAS's version and build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64".
public var blasConfiguration: String { String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces) }
