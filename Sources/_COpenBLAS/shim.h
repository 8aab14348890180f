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
