#pragma once
#include <cblas.h>
// mallopt: NNCore keeps freed activations in the heap (keepFreedMemoryForReuse).
#include <malloc.h>

// fma16: a·b + c on 16 floats as one vfmadd (Swift's SIMD16.addingProduct is a per-lane loop that LLVM often splits into
// xmm/ymm/scalar pieces, and Swift never contracts a * b + c). Imported as SIMD16<Float>; inlined into Swift callers.
typedef float headlab_float16 __attribute__((ext_vector_type(16)));
static inline __attribute__((always_inline)) headlab_float16 headlab_fma16(headlab_float16 a, headlab_float16 b, headlab_float16 c) {
    return __builtin_elementwise_fma(a, b, c);
}

// pause: the spin-wait hint for NNCore's worker pool (PAUSE on x86; lets the sibling hyperthread run, saves power).
static inline __attribute__((always_inline)) void headlab_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// transpose16x16: dst[j·dstStride + i] = (or +=) src[i·srcStride + j] for a 16 × 16 block, in registers: sixteen
// 16-float rows, four rounds of two-source shuffles (each round swaps h × h sub-blocks between rows i and i + h, h = 8,
// 4, 2, 1), sixteen rows out. Clang's generic vector shuffles (vpermt2ps on AVX-512); NNCore's layout transposes were
// scalar gathers.
#define HEADLAB_IDX(...) __VA_ARGS__
#define HEADLAB_TRANSPOSE_ROUND(h, lo, hi) \
    for (int i = 0; i < 16; i++) if ((i & (h)) == 0) { \
        headlab_float16 a = r[i], b = r[i + (h)]; \
        r[i] = __builtin_shufflevector(a, b, lo); r[i + (h)] = __builtin_shufflevector(a, b, hi); }
static inline __attribute__((always_inline)) void headlab_transpose16x16(const float *src, long srcStride, float *dst,
                                                                         long dstStride, int accumulate) {
    headlab_float16 r[16];
    for (int i = 0; i < 16; i++) __builtin_memcpy(&r[i], src + i * srcStride, sizeof(headlab_float16));
    HEADLAB_TRANSPOSE_ROUND(8, HEADLAB_IDX(0,1,2,3,4,5,6,7,16,17,18,19,20,21,22,23), HEADLAB_IDX(8,9,10,11,12,13,14,15,24,25,26,27,28,29,30,31))
    HEADLAB_TRANSPOSE_ROUND(4, HEADLAB_IDX(0,1,2,3,16,17,18,19,8,9,10,11,24,25,26,27), HEADLAB_IDX(4,5,6,7,20,21,22,23,12,13,14,15,28,29,30,31))
    HEADLAB_TRANSPOSE_ROUND(2, HEADLAB_IDX(0,1,16,17,4,5,20,21,8,9,24,25,12,13,28,29), HEADLAB_IDX(2,3,18,19,6,7,22,23,10,11,26,27,14,15,30,31))
    HEADLAB_TRANSPOSE_ROUND(1, HEADLAB_IDX(0,16,2,18,4,20,6,22,8,24,10,26,12,28,14,30), HEADLAB_IDX(1,17,3,19,5,21,7,23,9,25,11,27,13,29,15,31))
    for (int i = 0; i < 16; i++) {
        float *p = dst + i * dstStride;
        if (accumulate) { headlab_float16 old; __builtin_memcpy(&old, p, sizeof old); r[i] += old; }
        __builtin_memcpy(p, &r[i], sizeof(headlab_float16));
    }
}
