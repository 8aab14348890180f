# Sourced by the other scripts: environment shared by setup, run and test.
# OpenBLAS 0.3.21 picks its Haswell kernels on AVX-512 CPUs; SkylakeX kernels double sgemm there.
# It reads the variable at process start, so it is set here, before anything runs.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}; fi
export HEADLAB_ROOT=${HEADLAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
