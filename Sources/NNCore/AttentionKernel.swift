import _COpenBLAS

// The Float products inside attention, as a register-tiled SIMD kernel instead of OpenBLAS calls.
//
// Attention's products are thin (one operand is [T, D] with D = head width, 32 or 64) and many (per batch × head ×
// query block). OpenBLAS packs both operands on every call, which at these sizes costs about as much as the
// arithmetic; this kernel reads the operands where they lie (any strides for X, so Xᵀ is free) and keeps a
// 4 × 64 tile of C in 16 AVX-512 registers.

/// C[m, n] = alpha · X·Y (+ C when `accumulate`), Float, with n a multiple of 16:
/// X[i, p] = x[i·xRow + p·xDepth] (any strides), Y[p, j] = y[p·ldy + j], C[i, j] = c[i·ldc + j].
///
/// Each C lane is one sequential fused-multiply-add chain over p = 0..<k, then one multiply by alpha and one add of C,
/// so a value depends only on its row of X and column of Y (not on m, n or the tiling): callers may block rows freely
/// and get bit-identical results (attention's backward recomputes the forward's scores this way).
/// Agrees with OpenBLAS sgemm to float rounding (≈ 1e-6 relative; NNCoreTests compares against the Double path).
@inline(never)   // one compact copy with its tiles inlined (inlined into callers, the SIMD loads stopped being inlined)
func attentionGemm(m: Int, n: Int, k: Int, alpha: Float, x: UnsafePointer<Float>, xRow: Int, xDepth: Int,
                   y: UnsafePointer<Float>, ldy: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    precondition(n % 16 == 0, "attentionGemm: n \(n) must be a multiple of 16")
    if n == 32 {   // head width 32: 8 rows per tile so each loaded Y row feeds 16 FMAs
        var i = 0
        while i + 8 <= m { tile8x2(k, alpha, x + i * xRow, xRow, xDepth, y, ldy, c + i * ldc, ldc, accumulate); i += 8 }
        while i + 4 <= m { tile4x2(k, alpha, x + i * xRow, xRow, xDepth, y, ldy, c + i * ldc, ldc, accumulate); i += 4 }
        while i < m { tile1x2(k, alpha, x + i * xRow, xDepth, y, ldy, c + i * ldc, accumulate); i += 1 }
        return
    }
    // Column strips outside, row tiles inside: a strip of Y (k × 64 values) stays in L1 (or, for P·v's k = T, streams
    // from L2) while every row tile uses it; with rows outside, each tile streamed all of Y from L2 (the score products
    // have n = T, k = D). 6-row tiles: 24 accumulators, 4 loads + 6 broadcasts per 24 FMAs, where 4 × 64 tiles needed
    // 8 per 16 (C prototype at T = 1297: 105–130 against 91–104 GFLOP/s).
    var j = 0
    while j + 64 <= n {
        var i = 0
        while i + 6 <= m { tile6x4(k, alpha, x + i * xRow, xRow, xDepth, y + j, ldy, c + i * ldc + j, ldc, accumulate); i += 6 }
        while i + 4 <= m { tile4x4(k, alpha, x + i * xRow, xRow, xDepth, y + j, ldy, c + i * ldc + j, ldc, accumulate); i += 4 }
        while i < m { tile1x4(k, alpha, x + i * xRow, xDepth, y + j, ldy, c + i * ldc + j, accumulate); i += 1 }
        j += 64
    }
    if j + 32 <= n {
        var i = 0
        while i + 4 <= m { tile4x2(k, alpha, x + i * xRow, xRow, xDepth, y + j, ldy, c + i * ldc + j, ldc, accumulate); i += 4 }
        while i < m { tile1x2(k, alpha, x + i * xRow, xDepth, y + j, ldy, c + i * ldc + j, accumulate); i += 1 }
        j += 32
    }
    while j < n {   // a last 16 columns (T = 1025, 197, 257 pad to 64·s + 16): 8-row tiles, one row at a time only at the end
        var i = 0
        while i + 8 <= m { tile8x1(k, alpha, x + i * xRow, xRow, xDepth, y + j, ldy, c + i * ldc + j, ldc, accumulate); i += 8 }
        while i < m { tile1x1(k, alpha, x + i * xRow, xDepth, y + j, ldy, c + i * ldc + j, accumulate); i += 1 }
        j += 16
    }
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

@inline(__always)
private func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, alpha: Float, accumulate: Bool) {
    let scaled = v * alpha
    UnsafeMutableRawPointer(p).storeBytes(of: accumulate ? scaled + load16(p) : scaled, as: SIMD16<Float>.self)
}

/// 6 rows × 64 columns: 24 accumulators (of 32 registers), 6 broadcasts and 4 loads per step of p.
@inline(__always)
private func tile6x4(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xRow: Int, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c02 = SIMD16<Float>(), c03 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c12 = SIMD16<Float>(), c13 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c22 = SIMD16<Float>(), c23 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c32 = SIMD16<Float>(), c33 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c42 = SIMD16<Float>(), c43 = SIMD16<Float>()
    var c50 = SIMD16<Float>(), c51 = SIMD16<Float>(), c52 = SIMD16<Float>(), c53 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let y0 = load16(yp), y1 = load16(yp + 16), y2 = load16(yp + 32), y3 = load16(yp + 48)
        var a = SIMD16<Float>(repeating: xp[0])
        c00 = c00.addingProduct(a, y0); c01 = c01.addingProduct(a, y1); c02 = c02.addingProduct(a, y2); c03 = c03.addingProduct(a, y3)
        a = SIMD16<Float>(repeating: xp[xRow])
        c10 = c10.addingProduct(a, y0); c11 = c11.addingProduct(a, y1); c12 = c12.addingProduct(a, y2); c13 = c13.addingProduct(a, y3)
        a = SIMD16<Float>(repeating: xp[2 * xRow])
        c20 = c20.addingProduct(a, y0); c21 = c21.addingProduct(a, y1); c22 = c22.addingProduct(a, y2); c23 = c23.addingProduct(a, y3)
        a = SIMD16<Float>(repeating: xp[3 * xRow])
        c30 = c30.addingProduct(a, y0); c31 = c31.addingProduct(a, y1); c32 = c32.addingProduct(a, y2); c33 = c33.addingProduct(a, y3)
        a = SIMD16<Float>(repeating: xp[4 * xRow])
        c40 = c40.addingProduct(a, y0); c41 = c41.addingProduct(a, y1); c42 = c42.addingProduct(a, y2); c43 = c43.addingProduct(a, y3)
        a = SIMD16<Float>(repeating: xp[5 * xRow])
        c50 = c50.addingProduct(a, y0); c51 = c51.addingProduct(a, y1); c52 = c52.addingProduct(a, y2); c53 = c53.addingProduct(a, y3)
        xp += xDepth; yp += ldy
    }
    var r = c
    store16(c00, r, alpha: alpha, accumulate: accumulate); store16(c01, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c02, r + 32, alpha: alpha, accumulate: accumulate); store16(c03, r + 48, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c10, r, alpha: alpha, accumulate: accumulate); store16(c11, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c12, r + 32, alpha: alpha, accumulate: accumulate); store16(c13, r + 48, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c20, r, alpha: alpha, accumulate: accumulate); store16(c21, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c22, r + 32, alpha: alpha, accumulate: accumulate); store16(c23, r + 48, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c30, r, alpha: alpha, accumulate: accumulate); store16(c31, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c32, r + 32, alpha: alpha, accumulate: accumulate); store16(c33, r + 48, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c40, r, alpha: alpha, accumulate: accumulate); store16(c41, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c42, r + 32, alpha: alpha, accumulate: accumulate); store16(c43, r + 48, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c50, r, alpha: alpha, accumulate: accumulate); store16(c51, r + 16, alpha: alpha, accumulate: accumulate)
    store16(c52, r + 32, alpha: alpha, accumulate: accumulate); store16(c53, r + 48, alpha: alpha, accumulate: accumulate)
}

/// 4 rows × 64 columns: 16 accumulators, 4 broadcasts and 4 loads per step of p.
@inline(__always)
private func tile4x4(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xRow: Int, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c02 = SIMD16<Float>(), c03 = SIMD16<Float>()
    var c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c12 = SIMD16<Float>(), c13 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c22 = SIMD16<Float>(), c23 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c32 = SIMD16<Float>(), c33 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let y0 = load16(yp), y1 = load16(yp + 16), y2 = load16(yp + 32), y3 = load16(yp + 48)
        let a0 = SIMD16<Float>(repeating: xp[0]), a1 = SIMD16<Float>(repeating: xp[xRow])
        let a2 = SIMD16<Float>(repeating: xp[2 * xRow]), a3 = SIMD16<Float>(repeating: xp[3 * xRow])
        c00 = c00.addingProduct(a0, y0); c01 = c01.addingProduct(a0, y1); c02 = c02.addingProduct(a0, y2); c03 = c03.addingProduct(a0, y3)
        c10 = c10.addingProduct(a1, y0); c11 = c11.addingProduct(a1, y1); c12 = c12.addingProduct(a1, y2); c13 = c13.addingProduct(a1, y3)
        c20 = c20.addingProduct(a2, y0); c21 = c21.addingProduct(a2, y1); c22 = c22.addingProduct(a2, y2); c23 = c23.addingProduct(a2, y3)
        c30 = c30.addingProduct(a3, y0); c31 = c31.addingProduct(a3, y1); c32 = c32.addingProduct(a3, y2); c33 = c33.addingProduct(a3, y3)
        xp += xDepth; yp += ldy
    }
    store16(c00, c, alpha: alpha, accumulate: accumulate); store16(c01, c + 16, alpha: alpha, accumulate: accumulate)
    store16(c02, c + 32, alpha: alpha, accumulate: accumulate); store16(c03, c + 48, alpha: alpha, accumulate: accumulate)
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc
    store16(c10, r1, alpha: alpha, accumulate: accumulate); store16(c11, r1 + 16, alpha: alpha, accumulate: accumulate)
    store16(c12, r1 + 32, alpha: alpha, accumulate: accumulate); store16(c13, r1 + 48, alpha: alpha, accumulate: accumulate)
    store16(c20, r2, alpha: alpha, accumulate: accumulate); store16(c21, r2 + 16, alpha: alpha, accumulate: accumulate)
    store16(c22, r2 + 32, alpha: alpha, accumulate: accumulate); store16(c23, r2 + 48, alpha: alpha, accumulate: accumulate)
    store16(c30, r3, alpha: alpha, accumulate: accumulate); store16(c31, r3 + 16, alpha: alpha, accumulate: accumulate)
    store16(c32, r3 + 32, alpha: alpha, accumulate: accumulate); store16(c33, r3 + 48, alpha: alpha, accumulate: accumulate)
}

/// 4 rows × 32 columns (head width 32): 8 accumulators.
@inline(__always)
private func tile4x2(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xRow: Int, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let y0 = load16(yp), y1 = load16(yp + 16)
        let a0 = SIMD16<Float>(repeating: xp[0]), a1 = SIMD16<Float>(repeating: xp[xRow])
        let a2 = SIMD16<Float>(repeating: xp[2 * xRow]), a3 = SIMD16<Float>(repeating: xp[3 * xRow])
        c00 = c00.addingProduct(a0, y0); c01 = c01.addingProduct(a0, y1)
        c10 = c10.addingProduct(a1, y0); c11 = c11.addingProduct(a1, y1)
        c20 = c20.addingProduct(a2, y0); c21 = c21.addingProduct(a2, y1)
        c30 = c30.addingProduct(a3, y0); c31 = c31.addingProduct(a3, y1)
        xp += xDepth; yp += ldy
    }
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc
    store16(c00, c, alpha: alpha, accumulate: accumulate); store16(c01, c + 16, alpha: alpha, accumulate: accumulate)
    store16(c10, r1, alpha: alpha, accumulate: accumulate); store16(c11, r1 + 16, alpha: alpha, accumulate: accumulate)
    store16(c20, r2, alpha: alpha, accumulate: accumulate); store16(c21, r2 + 16, alpha: alpha, accumulate: accumulate)
    store16(c30, r3, alpha: alpha, accumulate: accumulate); store16(c31, r3 + 16, alpha: alpha, accumulate: accumulate)
}

/// 8 rows × 32 columns: 16 accumulators, 8 broadcasts and 2 loads per step of p.
@inline(__always)
private func tile8x2(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xRow: Int, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
    var c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var c60 = SIMD16<Float>(), c61 = SIMD16<Float>(), c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let y0 = load16(yp), y1 = load16(yp + 16)
        var a = SIMD16<Float>(repeating: xp[0]); c00 = c00.addingProduct(a, y0); c01 = c01.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[xRow]); c10 = c10.addingProduct(a, y0); c11 = c11.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[2 * xRow]); c20 = c20.addingProduct(a, y0); c21 = c21.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[3 * xRow]); c30 = c30.addingProduct(a, y0); c31 = c31.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[4 * xRow]); c40 = c40.addingProduct(a, y0); c41 = c41.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[5 * xRow]); c50 = c50.addingProduct(a, y0); c51 = c51.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[6 * xRow]); c60 = c60.addingProduct(a, y0); c61 = c61.addingProduct(a, y1)
        a = SIMD16<Float>(repeating: xp[7 * xRow]); c70 = c70.addingProduct(a, y0); c71 = c71.addingProduct(a, y1)
        xp += xDepth; yp += ldy
    }
    var r = c
    store16(c00, r, alpha: alpha, accumulate: accumulate); store16(c01, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c10, r, alpha: alpha, accumulate: accumulate); store16(c11, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c20, r, alpha: alpha, accumulate: accumulate); store16(c21, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c30, r, alpha: alpha, accumulate: accumulate); store16(c31, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c40, r, alpha: alpha, accumulate: accumulate); store16(c41, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c50, r, alpha: alpha, accumulate: accumulate); store16(c51, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c60, r, alpha: alpha, accumulate: accumulate); store16(c61, r + 16, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c70, r, alpha: alpha, accumulate: accumulate); store16(c71, r + 16, alpha: alpha, accumulate: accumulate)
}

/// 1 row × 64 columns (rows left over by the 4-row tiles): four independent chains, where four 1 × 16 tiles were
/// each bound by the FMA latency (a leftover row cost as much as a whole 4-row tile).
@inline(__always)
private func tile1x4(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let a = SIMD16<Float>(repeating: xp[0])
        c0 = c0.addingProduct(a, load16(yp)); c1 = c1.addingProduct(a, load16(yp + 16))
        c2 = c2.addingProduct(a, load16(yp + 32)); c3 = c3.addingProduct(a, load16(yp + 48))
        xp += xDepth; yp += ldy
    }
    store16(c0, c, alpha: alpha, accumulate: accumulate); store16(c1, c + 16, alpha: alpha, accumulate: accumulate)
    store16(c2, c + 32, alpha: alpha, accumulate: accumulate); store16(c3, c + 48, alpha: alpha, accumulate: accumulate)
}

/// 1 row × 32 columns (leftover rows at head width 32).
@inline(__always)
private func tile1x2(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let a = SIMD16<Float>(repeating: xp[0])
        c0 = c0.addingProduct(a, load16(yp)); c1 = c1.addingProduct(a, load16(yp + 16))
        xp += xDepth; yp += ldy
    }
    store16(c0, c, alpha: alpha, accumulate: accumulate); store16(c1, c + 16, alpha: alpha, accumulate: accumulate)
}

/// 8 rows × 16 columns (the last 16 columns of a padded panel): eight accumulators, enough independent chains to keep
/// both FMA ports busy, where the single-row tile waits out the FMA latency on every step (alternating in one process:
/// attention core 1–2 % faster at T = 1025, 4–5 % at T = 197).
@inline(__always)
private func tile8x1(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xRow: Int, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
    var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        let y0 = load16(yp)
        c0 = c0.addingProduct(SIMD16<Float>(repeating: xp[0]), y0); c1 = c1.addingProduct(SIMD16<Float>(repeating: xp[xRow]), y0)
        c2 = c2.addingProduct(SIMD16<Float>(repeating: xp[2 * xRow]), y0); c3 = c3.addingProduct(SIMD16<Float>(repeating: xp[3 * xRow]), y0)
        c4 = c4.addingProduct(SIMD16<Float>(repeating: xp[4 * xRow]), y0); c5 = c5.addingProduct(SIMD16<Float>(repeating: xp[5 * xRow]), y0)
        c6 = c6.addingProduct(SIMD16<Float>(repeating: xp[6 * xRow]), y0); c7 = c7.addingProduct(SIMD16<Float>(repeating: xp[7 * xRow]), y0)
        xp += xDepth; yp += ldy
    }
    var r = c
    store16(c0, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c1, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c2, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c3, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c4, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c5, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c6, r, alpha: alpha, accumulate: accumulate); r += ldc
    store16(c7, r, alpha: alpha, accumulate: accumulate)
}

/// 1 row × 16 columns (edges).
@inline(__always)
private func tile1x1(_ k: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ xDepth: Int,
                     _ y: UnsafePointer<Float>, _ ldy: Int, _ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
    var c00 = SIMD16<Float>()
    var xp = x, yp = y
    for _ in 0..<k {
        c00 = c00.addingProduct(SIMD16<Float>(repeating: xp[0]), load16(yp))
        xp += xDepth; yp += ldy
    }
    store16(c00, c, alpha: alpha, accumulate: accumulate)
}

/// dst[j, d] (+)= src[d, j] for d < rows, j < columns (src row stride `lds`, dst row stride `ldd`): the [T, D] → [D, T]
/// panels of attention and the layout transposes. Whole 16 × 16 blocks go through registers (`headlab_transpose16x16`),
/// the edges one value at a time.
func transposeFloat(_ src: UnsafePointer<Float>, lds: Int, rows: Int, columns: Int,
                    _ dst: UnsafeMutablePointer<Float>, ldd: Int, accumulate: Bool) {
    let fullRows = rows & ~15, fullColumns = columns & ~15
    for d0 in stride(from: 0, to: fullRows, by: 16) {
        for j0 in stride(from: 0, to: fullColumns, by: 16) {
            headlab_transpose16x16(src + d0 * lds + j0, lds, dst + j0 * ldd + d0, ldd, accumulate ? 1 : 0)
        }
    }
    func scalar(_ d: Int, _ j: Int) { if accumulate { dst[j * ldd + d] += src[d * lds + j] } else { dst[j * ldd + d] = src[d * lds + j] } }
    for d in 0..<fullRows { for j in fullColumns..<columns { scalar(d, j) } }
    for d in fullRows..<rows { for j in 0..<columns { scalar(d, j) } }
}
