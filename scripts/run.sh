#!/usr/bin/env bash
# The main job on the built-in default: set up, build (release), prepare the default model,
# and sample a head into out/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEADLAB_ROOT"
bash scripts/setup.sh
swift build -c release --product headlab
BIN=$(swift build -c release --show-bin-path)/headlab
if [ ! -f Assets/models/makehuman.h5 ]; then
    "$BIN" model import makehuman Assets/makehuman -o Assets/models/makehuman.h5
fi
"$BIN" model info Assets/models/makehuman.h5
"$BIN" model sample --model Assets/models/makehuman.h5 --seed "${SEED:-0}" -o out/head
