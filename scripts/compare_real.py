#!/usr/bin/env python3
"""Compare simple image statistics of a HeadLab corpus with the real photographs of the `james`
scan (../shared/data/real/james): an analysis script, not part of the product.

    python3 scripts/compare_real.py out/wild.h5 [more.h5 ...] [--real ../shared/data/real/james]

`james.jpg` is two real photos side by side (left and right three-quarter views). Their skin
region is found through the scan: a vertex is cheek/nose/forehead-band skin when it lies between
the nose base and the brows, within 50 mm of the nose sideways and more than 17 mm from each eye
centre (the landmarks in `james.ljson`, millimetres); the triangles whose three vertices are skin
are rasterised through the scan's UVs into the photos. The background is the backdrop above the head
(top 7 % of rows) and at the sides (outer 5 % of columns in the upper 60 %), away from the scan's
UV footprint.
In a corpus, skin is `segmentation` ∈ {skin, nose} with full `coverage` and no strand coverage,
background is `coverage` = 0.

Statistics (CIELAB, D65, from sRGB):
- skin mean L*, a*, b*; skin L* spread p90 − p10 (how strongly a key light models the face);
- background mean L*;
- whole-image L* histogram (10 bins) and its earth mover's distance to the real photos' (in L*);
- sparkle: the fraction of skin pixels whose L* exceeds the median of their 3×3 neighbourhood by
  more than 8 (isolated bright pixels = specular/pore fireflies), measured on images whose skin
  mean L* < 45 (dark skin) and on all; real photos are downscaled to ~the corpus' face size first.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw


def srgb_to_lab(rgb):
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], -1)


def sparkle(L, mask):
    """Fraction of masked pixels brighter than their 3×3 median by > 8 L*."""
    h, w = L.shape
    pad = np.pad(L, 1, mode="edge")
    stack = np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], 0)
    med = np.median(stack, 0)
    inner = mask.copy()
    # only pixels whose whole neighbourhood is skin (no edges)
    pm = np.pad(mask, 1)
    for dy in range(3):
        for dx in range(3):
            inner &= pm[dy:dy + h, dx:dx + w]
    n = inner.sum()
    return float(((L - med) > 8)[inner].sum() / n) if n else float("nan")


def load_obj(path):
    v, vt, f = [], [], []
    for line in open(path):
        p = line.split()
        if not p:
            continue
        if p[0] == "v":
            v.append([float(x) for x in p[1:4]])
        elif p[0] == "vt":
            vt.append([float(x) for x in p[1:3]])
        elif p[0] == "f":
            f.append([tuple(int(x) - 1 for x in c.split("/")[:2]) for c in p[1:4]])
    return np.array(v), np.array(vt), f


def real_photos(folder):
    img = np.array(Image.open(os.path.join(folder, "james.jpg")).convert("RGB"))
    H, W = img.shape[:2]
    v, vt, faces = load_obj(os.path.join(folder, "james.obj"))
    lj = json.load(open(os.path.join(folder, "james.ljson")))["groups"]["LJSON"]
    pts = np.array(lj["landmarks"]["points"])
    groups = {g["label"]: pts[g["mask"]] for g in lj["labels"]}
    nose_x = groups["nose"][:, 0].mean()
    y_lo = groups["nose"][:, 1].min() + 5
    brows = np.concatenate([groups["leyebrow"], groups["reyebrow"]])
    y_hi = brows[:, 1].max() + 25
    eyes = [groups["leye"].mean(0), groups["reye"].mean(0)]
    skin_v = (v[:, 1] > y_lo) & (v[:, 1] < y_hi) & (np.abs(v[:, 0] - nose_x) < 50)
    for e in eyes:
        skin_v &= np.linalg.norm(v - e, axis=1) > 17
    for b in brows:
        skin_v &= np.linalg.norm(v - b, axis=1) > 9
    skin_img = Image.new("L", (W, H), 0)
    foot_img = Image.new("L", (W, H), 0)
    ds, df = ImageDraw.Draw(skin_img), ImageDraw.Draw(foot_img)
    for tri in faces:
        uv = [(vt[t][0] * W, (1 - vt[t][1]) * H) for (_, t) in tri]
        df.polygon(uv, fill=255)
        if all(skin_v[i] for (i, _) in tri):
            ds.polygon(uv, fill=255)
    skin = np.array(skin_img) > 0
    from PIL import ImageFilter
    # Dilate by ~60 px cheaply: at 1/8 scale with a 15-px max filter.
    small = foot_img.resize((W // 8, H // 8), Image.BOX).filter(ImageFilter.MaxFilter(15))
    foot = np.array(small.resize((W, H), Image.NEAREST)) > 0
    out = []
    half = W // 2
    for k in range(2):
        sl = slice(k * half, (k + 1) * half)
        rgb, s, f = img[:, sl], skin[:, sl], foot[:, sl]
        # The backdrop: above the head and at the sides (the scan's UVs cover only part of each photo).
        bg = np.zeros_like(s)
        bg[: int(0.07 * H)] = True
        bg[: int(0.6 * H), : int(0.05 * half)] = True
        bg[: int(0.6 * H), int(0.95 * half):] = True
        bg &= ~f
        out.append((rgb, s, bg))
    return out


def stats(images):
    """images: list of (rgb uint8 [H,W,3], skin mask, background mask)."""
    Ls, As, Bs, spreads, bgs, sp_all, sp_dark = [], [], [], [], [], [], []
    hist = np.zeros(10)
    for rgb, skin, bg in images:
        lab = srgb_to_lab(rgb)
        h, _ = np.histogram(lab[..., 0], bins=10, range=(0, 100))
        hist += h / h.sum()
        if bg.sum() > 100:
            bgs.append(lab[..., 0][bg].mean())
        if skin.sum() < 200:
            continue
        sl = lab[skin]
        Ls.append(sl[:, 0].mean()); As.append(sl[:, 1].mean()); Bs.append(sl[:, 2].mean())
        spreads.append(np.percentile(sl[:, 0], 90) - np.percentile(sl[:, 0], 10))
        s = sparkle(lab[..., 0], skin)
        sp_all.append(s)
        if sl[:, 0].mean() < 45:
            sp_dark.append(s)
    hist /= max(1, len(images))
    f = lambda x: (float(np.mean(x)), float(np.std(x))) if len(x) else (float("nan"), float("nan"))
    return dict(n=len(images), skin_L=f(Ls), skin_a=f(As), skin_b=f(Bs), skin_L_p90_p10=f(spreads), background_L=f(bgs),
                sparkle_all=f(sp_all), sparkle_dark=f(sp_dark), n_dark=len(sp_dark), hist=hist)


def corpus_images(path):
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        n = f["rgb"].shape[0]
        for k in range(n):
            if not f["complete"][k]:
                continue
            seg, cov = f["segmentation"][k], f["coverage"][k]
            strands = f["hair_coverage"][k].astype(int) + f["beard_coverage"][k] + f["eyebrows_coverage"][k]
            if "eyelashes_coverage" in f:
                strands = strands + f["eyelashes_coverage"][k]
            skin = np.isin(seg, [1, 2]) & (cov == 255) & (strands == 0)
            out.append((f["rgb"][k], skin, cov == 0))
    return out


def emd(h1, h2):
    return float(np.abs(np.cumsum(h1 - h2)).sum() * 10)  # bins are 10 L* wide


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpora", nargs="+")
    ap.add_argument("--real", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "real", "james"))
    args = ap.parse_args()
    real = real_photos(args.real)
    if os.environ.get("COMPARE_DEBUG"):
        for k, (rgb, s, bg) in enumerate(real):
            dbg = rgb.copy(); dbg[s] = dbg[s] // 2 + np.array([0, 120, 0], np.uint8); dbg[bg] = dbg[bg] // 2 + np.array([120, 0, 0], np.uint8)
            Image.fromarray(dbg).resize((400, 533)).save(os.environ["COMPARE_DEBUG"] + f"_{k}.png")
    # Sparkle at comparable scale: the photo's face (~600 px wide) down to ~200 px.
    real_small = []
    for rgb, s, bg in real:
        h, w = s.shape
        size = (w // 3, h // 3)
        real_small.append((np.array(Image.fromarray(rgb).resize(size, Image.BOX)),
                           np.array(Image.fromarray(s.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127,
                           np.array(Image.fromarray(bg.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127))
    r = stats(real_small)
    rows = [("real james (2 photos)", r)]
    for c in args.corpora:
        rows.append((os.path.basename(c), stats(corpus_images(c))))
    keys = ["skin_L", "skin_a", "skin_b", "skin_L_p90_p10", "background_L", "sparkle_all", "sparkle_dark"]
    print(f"{'set':28s} {'n':>4s} " + " ".join(f"{k:>16s}" for k in keys) + f" {'hist_EMD':>9s} {'n_dark':>6s}")
    for name, s in rows:
        cells = " ".join(f"{s[k][0]:7.3f}±{s[k][1]:<7.3f}" if k.startswith("sparkle") else f"{s[k][0]:7.1f}±{s[k][1]:<7.1f}" for k in keys)
        print(f"{name:28s} {s['n']:4d} {cells} {emd(s['hist'], r['hist']):9.1f} {s['n_dark']:6d}")
    print("L* histograms (10 bins of 10 L*):")
    for name, s in rows:
        print(f"  {name:28s} " + " ".join(f"{x:.2f}" for x in s["hist"]))


if __name__ == "__main__":
    sys.exit(main())
