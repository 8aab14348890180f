import _COpenBLAS

/// Row-major single-precision GEMM on OpenBLAS:
/// `C[M, N] = alpha · op(A) · op(B) + beta · C`, with op = transpose when the flag is set.
/// A is [M, K] (or [K, M] transposed), B is [K, N] (or [N, K] transposed).
@inlinable
public func sgemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float = 0, _ c: UnsafeMutablePointer<Float>) {
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(transposeA ? m : k), b, Int32(transposeB ? k : n),
                beta, c, Int32(n))
}

/// The number of threads OpenBLAS uses.
public var blasThreads: Int {
    get { Int(openblas_get_num_threads()) }
    set { openblas_set_num_threads(Int32(newValue)) }
}

/// OpenBLAS's build configuration and the kernel core it picked (e.g. "Haswell", "SkylakeX").
public var blasCoreName: String { String(cString: openblas_get_corename()) }
