# Sourced by the other scripts: environment shared by setup, run and test.
# OpenBLAS 0.3.21 picks its Haswell kernels on AVX-512 CPUs; SkylakeX kernels double sgemm there.
# It reads the variable at process start, so it is set here, before anything runs.
# Some environments preset OPENBLAS_CORETYPE=Haswell: override it (HEADLAB_OPENBLAS_CORETYPE wins).
if [ -n "${HEADLAB_OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=$HEADLAB_OPENBLAS_CORETYPE
elif grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=SkylakeX; fi
export HEADLAB_ROOT=${HEADLAB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
