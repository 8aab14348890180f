#!/usr/bin/env bash
# The main job on the built-in default: set up, build (release), prepare the default model,
# sample a head into out/head.{obj,ply}, and generate a small corpus with its contact sheet
# (out/quickstart.h5, out/quickstart.preview.png). Re-running completes or keeps that corpus.
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
"$BIN" generate --recipe Recipes/quickstart.yaml --count "${COUNT:-16}" --seed "${SEED:-0}" -o out/quickstart.h5 --resume
"$BIN" corpus verify out/quickstart.h5
