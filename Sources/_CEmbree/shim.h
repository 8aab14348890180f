#pragma once
// Embree 3.13 (Debian ships no pkg-config file): include path is the system one.
#include <embree3/rtcore.h>
#include <xmmintrin.h>
#include <pmmintrin.h>

/// RTC_INVALID_GEOMETRY_ID is a macro Swift cannot import.
static inline unsigned int headlab_rtc_invalid_geometry_id(void) { return RTC_INVALID_GEOMETRY_ID; }

/// Embree asks every rendering thread to flush denormals to zero (FTZ) and treat them as zero (DAZ).
static inline void headlab_enable_ftz_daz(void) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}

/// The renderer's 16-lane square root: Swift's SIMD16<Float>.squareRoot() compiles to 16 scalar
/// square roots with a libm fallback each; this is one `vsqrtps` (llvm.sqrt.v16f32) once inlined.
typedef float headlab_float16 __attribute__((ext_vector_type(16)));
static inline headlab_float16 headlab_sqrt16(headlab_float16 x) { return __builtin_elementwise_sqrt(x); }
