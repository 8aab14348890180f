#!/usr/bin/env python3
"""Finds the 68 iBUG landmarks on the MakeHuman hm08 base mesh (developer tool, not run by the product).

Reads Assets/makehuman (run scripts/fetch-makehuman.sh first), works on MakeHuman's default person
(base mesh + default macro shape, as MakeHumanImporter does), prints the vertex table that is
committed as `MakeHumanImporter.landmarkVertices`, and writes a front-view plot with numbered
points to check it by eye:

    python3 scripts/makehuman/find_landmarks.py [--assets Assets/makehuman] [--plot out/mh_landmarks.png]

Needs numpy. The rules (iBUG order; point 0 is the subject's right jaw, x < 0):
  eyes 36-47       the UV seam between the face and the eye socket: corners = extreme x,
                   upper/lower lid points at 1/3 and 2/3 of the arc length
  inner lips 60-67 the UV seam between the face and the mouth cavity: corners, 1/4, 1/2, 3/4
  outer lips 48-59 the 7th edge ring round the mouth opening (the vermilion border): corners,
                   cupid's bow peaks (50, 52), midline (51, 57), the rest at even arc length
  nose 27-30       midline: nasion (deepest point near eye height), two points between, tip
                   (most forward vertex where nose-trans-up moves the skin > 80%)
  nose 31-35       subnasale (33, deepest midline point between lip and tip) and the lowest nose
                   vertices at 0.3 and 0.75 of the alar half width
  brows 17-26      MakeHuman has no brow geometry: front-most skin at fixed fractions of the eye
                   width beside and above the eye corners
  jaw 0-16         the frontal outline (max radius by angle round a point between eyes and nose tip)
                   of front-facing skin in front of the ears, outside the neck, equally spaced
"""
import argparse, json, os, struct, sys, zlib
from collections import defaultdict
import numpy as np

BODY = 13380


def read_obj(path):
    v, vt, f, ft = [], [], [], []
    for line in open(path):
        if line.startswith('v '):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith('vt '):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith('f '):
            c = [x.split('/') for x in line.split()[1:]]
            f.append([int(x[0]) - 1 for x in c]); ft.append([int(x[1]) - 1 for x in c])
    return np.array(v), np.array(vt), np.array(f), np.array(ft)


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument('--assets', default=os.path.join(root, 'Assets/makehuman'))
    ap.add_argument('--plot', default=os.path.join(root, 'out/mh_landmarks.png'))
    a = ap.parse_args()
    A = a.assets

    V, VT, F, FT = read_obj(A + '/base.obj')
    assert F.shape[1] == 4, 'hm08 is all quads'
    G = json.load(open(A + '/basemesh_vertex_groups.json'))
    idx = lambda n: np.concatenate([np.arange(s, e + 1) for s, e in G[n]])

    def target(name):
        out = np.zeros_like(V)
        for line in open(f'{A}/targets/{name}.target'):
            p = line.split()
            if len(p) == 4 and not line.startswith('#'):
                out[int(p[0])] = [float(x) for x in p[1:]]
        return out

    P = V.copy()  # default person, decimetres
    for r in ['african', 'asian', 'caucasian']:
        for g in ['male', 'female']:
            P += target(f'macrodetails/{r}-{g}-young') / 6

    # The kept skin (same cut as the importer).
    root_joint = P[idx('joint-neck')].mean(0)
    n = np.array([0, 1, 0.35]); n /= np.linalg.norm(n)
    isbody = (F < BODY).all(1)
    keep = isbody & (((P[F] - (root_joint - [0, 0.1, 0])) @ n) > 0).all(1)

    # UV islands; the head island has the most kept quads, cavities are kept whole.
    par = np.arange(len(VT))
    def find(x):
        while par[x] != x:
            par[x] = par[par[x]]; x = par[x]
        return x
    for q in np.where(isbody)[0]:
        r0 = find(FT[q][0])
        for t in FT[q][1:]:
            r = find(t)
            if r != r0: par[r] = r0
    isl = np.array([find(FT[q][0]) if isbody[q] else -1 for q in range(len(F))])
    ids, counts_kept = np.unique(isl[keep], return_counts=True)
    head = ids[np.argmax(counts_kept)]
    eyes_c = [P[idx('joint-l-eye')].mean(0), P[idx('joint-r-eye')].mean(0)]
    cav_eye, cav_mouth = {}, None
    for i in ids:
        if i == head or (isl[isbody] == i).sum() != (isl[keep] == i).sum():
            continue
        c = P[F[isl == i]].reshape(-1, 3).mean(0)
        d = [np.linalg.norm(c - e) for e in eyes_c]
        if min(d) < 0.3: cav_eye[int(np.argmin(d))] = i   # 0 = left (+x)
        else: cav_mouth = i

    def quad_edges(mask):
        s = set()
        for q in np.where(mask)[0]:
            for k in range(4): s.add(tuple(sorted((F[q][k], F[q][(k + 1) % 4]))))
        return s

    def seam_cycle(other):
        e = quad_edges(isl == head) & quad_edges(isl == other)
        nb = defaultdict(list)
        for u, w in e: nb[u].append(w); nb[w].append(u)
        start = min(nb); cyc = [start]; prev, cur = None, start
        while True:
            nxt = [w for w in nb[cur] if w != prev][0]
            if nxt == start: break
            cyc.append(nxt); prev, cur = cur, nxt
        return cyc

    def split(cyc):  # upper and lower arcs, both from min x to max x
        i0, i1 = int(np.argmin(P[cyc, 0])), int(np.argmax(P[cyc, 0]))
        c = cyc[i0:] + cyc[:i0]; j = c.index(cyc[i1])
        u, l = c[:j + 1], [c[0]] + c[j:][::-1]
        return (u, l) if P[u, 1].mean() > P[l, 1].mean() else (l, u)

    def along(path, fr, dims=3):
        pts = P[path][:, :dims]
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]); s /= s[-1]
        return path[int(np.argmin(np.abs(s - fr)))]

    L = [None] * 68
    for side, base in [(1, 36), (0, 42)]:  # right eye (x<0) is 36-41
        up, lo = split(seam_cycle(cav_eye[side]))
        L[base], L[base + 1], L[base + 2], L[base + 3] = up[0], along(up, 1 / 3), along(up, 2 / 3), up[-1]
        L[base + 4], L[base + 5] = along(lo, 2 / 3), along(lo, 1 / 3)
    mouth_cyc = seam_cycle(cav_mouth)
    up, lo = split(mouth_cyc)
    L[60], L[61], L[62], L[63], L[64] = up[0], along(up, .25), along(up, .5), along(up, .75), up[-1]
    L[65], L[66], L[67] = along(lo, .75), along(lo, .5), along(lo, .25)

    adj = defaultdict(set)
    for q in np.where(keep & (isl == head))[0]:
        for k in range(4):
            adj[F[q][k]].add(F[q][(k + 1) % 4]); adj[F[q][(k + 1) % 4]].add(F[q][k])
    ring = {v: 0 for v in mouth_cyc}; front = list(mouth_cyc)
    for k in range(1, 8):
        nxt = []
        for v in front:
            for w in adj[v]:
                if w not in ring: ring[w] = k; nxt.append(w)
        front = nxt
    r7 = [v for v, k in ring.items() if k == 7]
    c = P[mouth_cyc].mean(0)
    r7 = [r7[i] for i in np.argsort(np.arctan2(P[r7, 1] - c[1], P[r7, 0] - c[0]))]
    up, lo = split(r7)
    at_x = lambda path, x: path[int(np.argmin(np.abs(P[path, 0] - x)))]
    L[48], L[54], L[51] = up[0], up[-1], at_x(up, 0.0)
    ju = up.index(L[51])
    L[50] = up[:ju + 1][int(np.argmax(P[up[:ju + 1], 1]))]
    L[52] = up[ju:][int(np.argmax(P[up[ju:], 1]))]
    L[49], L[53] = along(up[:up.index(L[50]) + 1], .5), along(up[up.index(L[52]):], .5)
    for k, fr in zip(range(55, 60), [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]): L[k] = along(lo[::-1], fr)
    L[57] = at_x(lo, 0.0)

    nose_t = np.linalg.norm(target('nose/nose-trans-up'), axis=1); nose_t /= nose_t.max()
    ids_all = np.arange(len(P))
    mid = ids_all[(np.abs(P[:, 0]) < 1e-4) & (ids_all < BODY) & (P[:, 2] > 1.2)]
    eye_y = P[[L[36], L[39], L[42], L[45]], 1].mean()
    tip = [v for v in mid if nose_t[v] > 0.8]; L[30] = tip[int(np.argmax(P[tip, 2]))]
    cand = [v for v in mid if eye_y - 0.1 <= P[v, 1] <= eye_y + 0.3]; L[27] = cand[int(np.argmin(P[cand, 2]))]
    for k, fr in [(28, 1 / 3), (29, 2 / 3)]:
        y = P[L[27], 1] + (P[L[30], 1] - P[L[27], 1]) * fr
        cand = [v for v in mid if abs(P[v, 1] - y) <= 0.04]; L[k] = cand[int(np.argmin(np.abs(P[cand, 1] - y)))]
    cand = [v for v in mid if P[L[51], 1] < P[v, 1] < P[L[30], 1] and P[v, 2] > P[L[51], 2] - 0.1]
    L[33] = cand[int(np.argmin(P[cand, 2]))]
    head_v = np.unique(F[keep & (isl == head)])
    nose_pool = head_v[nose_t[head_v] > 0.8]
    yb = P[L[33], 1]
    band = [v for v in nose_pool if yb - 0.02 < P[v, 1] < yb + 0.2 and P[v, 2] > 1.25]
    half = np.max(np.abs(P[band, 0]))
    def lowest_at(x):
        c = [v for v in nose_pool if abs(P[v, 0] - x) < 0.03 and P[v, 2] > 1.3 and yb - 0.005 <= P[v, 1] < P[L[30], 1]]
        return c[int(np.argmin(P[c, 1]))]
    L[31], L[32], L[34], L[35] = lowest_at(-.75 * half), lowest_at(-.3 * half), lowest_at(.3 * half), lowest_at(.75 * half)

    def front_at(x, y, r=0.04):
        d = np.hypot(P[head_v, 0] - x, P[head_v, 1] - y); near = head_v[d < r]
        front = near[P[near, 2] > P[near, 2].max() - 0.1]
        return front[int(np.argmin(np.hypot(P[front, 0] - x, P[front, 1] - y)))]
    for side, ids_ in [(-1, [17, 18, 19, 20, 21]), (1, [26, 25, 24, 23, 22])]:
        outer, inner = (L[36], L[39]) if side < 0 else (L[45], L[42])
        xo, xi = P[outer, 0], P[inner, 0]; w = abs(xo - xi); ye = P[[outer, inner], 1].mean()
        xs = [xo + side * .25 * w, xo - side * .10 * w, xo - side * .45 * w, xo - side * .80 * w, xi + side * .05 * w]
        for k, x, h in zip(ids_, xs, [.55, .80, .90, .85, .68]): L[k] = front_at(x, ye + h * w)

    # Jaw outline: front-facing skin in front of the ears, not ears, not neck.
    W = json.load(open(A + '/weights.default.json'))['weights']
    rig = json.load(open(A + '/rig.default.json'))
    def under_head(b):
        while b:
            if b == 'head': return True
            b = rig[b]['parent']
        return False
    wh = np.zeros(len(P))
    for b, lst in W.items():
        if under_head(b):
            for v, w in lst: wh[v] += w
    ear = np.zeros(len(P), bool)
    for s in 'lr':
        e = np.linalg.norm(target(f'ears/{s}-ear-trans-up'), axis=1); ear |= e > 0.9 * e.max()
    face_q = keep & (isl == head) & ~ear[F].all(1) & (wh[F].mean(1) >= 0.7)
    tris = np.concatenate([F[keep][:, [0, 1, 2]], F[keep][:, [0, 2, 3]]])
    vn = np.zeros_like(P); fn = np.cross(P[tris[:, 1]] - P[tris[:, 0]], P[tris[:, 2]] - P[tris[:, 0]])
    for k in range(3): np.add.at(vn, tris[:, k], fn)
    vn /= np.linalg.norm(vn, axis=1, keepdims=True) + 1e-12
    ear_z = P[ear & (ids_all < BODY)].mean(0)[2]
    pool = np.unique(F[face_q]); pool = pool[(P[pool, 2] > ear_z + 0.1) & (vn[pool, 2] > 0.1) & (vn[pool, 1] > -0.6)]
    C = np.array([0, (eye_y + P[L[30], 1]) / 2])
    d2 = P[pool, :2] - C; phi = np.degrees(np.arctan2(d2[:, 0], -d2[:, 1])); rad = np.hypot(d2[:, 0], d2[:, 1])
    outline = []
    for ang in np.arange(-90, 90.01, 2.0):
        b = np.abs(phi - ang) < 4.0
        if b.any(): outline.append(pool[b][int(np.argmax(rad[b]))])
    outline = sorted(dict.fromkeys(outline), key=lambda v: np.arctan2(P[v, 0] - C[0], -(P[v, 1] - C[1])))
    for k in range(17): L[k] = along(outline, k / 16, dims=2)

    L = [int(v) for v in L]
    print('    public static let landmarkVertices: [Int] = [')
    for a_, b_ in [(0, 17), (17, 27), (27, 36), (36, 48), (48, 60), (60, 68)]:
        print('        ' + ', '.join(str(v) for v in L[a_:b_]) + ',')
    print('    ]')
    if a.plot:
        plot(P, F[keep & (F < BODY).all(1)], P[L], a.plot)
        print('plot:', a.plot, file=sys.stderr)


def plot(P, quads, pts, path, size=900):
    """Flat-shaded orthographic front view (z-buffer) with numbered points; no plotting library."""
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    c = P[tris].mean(1); tris = tris[(c[:, 1] > 6.1) & (c[:, 2] > 0.5)]
    used = np.unique(tris)
    x0, x1, y0, y1 = P[used, 0].min(), P[used, 0].max(), P[used, 1].min(), P[used, 1].max()
    s = size / max(x1 - x0, y1 - y0); W_, H_ = int((x1 - x0) * s) + 1, int((y1 - y0) * s) + 1
    img = np.full((H_, W_, 3), 255, np.uint8); zb = np.full((H_, W_), -1e9)
    px, py = (P[:, 0] - x0) * s, (y1 - P[:, 1]) * s
    for a, b, c_ in tris:
        xs, ys, zs = px[[a, b, c_]], py[[a, b, c_]], P[[a, b, c_], 2]
        mnx, mxx = max(int(xs.min()), 0), min(int(np.ceil(xs.max())), W_ - 1)
        mny, mxy = max(int(ys.min()), 0), min(int(np.ceil(ys.max())), H_ - 1)
        den = (ys[1] - ys[2]) * (xs[0] - xs[2]) + (xs[2] - xs[1]) * (ys[0] - ys[2])
        if mnx > mxx or mny > mxy or abs(den) < 1e-12: continue
        gx, gy = np.meshgrid(np.arange(mnx, mxx + 1) + .5, np.arange(mny, mxy + 1) + .5)
        l0 = ((ys[1] - ys[2]) * (gx - xs[2]) + (xs[2] - xs[1]) * (gy - ys[2])) / den
        l1 = ((ys[2] - ys[0]) * (gx - xs[2]) + (xs[0] - xs[2]) * (gy - ys[2])) / den
        m = (l0 >= 0) & (l1 >= 0) & (1 - l0 - l1 >= 0)
        z = l0 * zs[0] + l1 * zs[1] + (1 - l0 - l1) * zs[2]
        sub = zb[mny:mxy + 1, mnx:mxx + 1]; upd = m & (z > sub); sub[upd] = z[upd]
        nrm = np.cross(P[b] - P[a], P[c_] - P[a]); shade = 0.35 + 0.65 * abs(nrm[2]) / (np.linalg.norm(nrm) + 1e-12)
        img[mny:mxy + 1, mnx:mxx + 1][upd] = (np.array([230, 200, 180]) * shade).astype(np.uint8)
    font = {'0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
            '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001001001001',
            '8': '111101111101111', '9': '111101111001111'}
    for k, p in enumerate(pts):
        u, v = int((p[0] - x0) * s), int((y1 - p[1]) * s)
        if not (2 <= u < W_ - 2 and 2 <= v < H_ - 2): continue
        img[v - 2:v + 3, u - 2:u + 3] = (255, 0, 0)
        for i, ch in enumerate(str(k)):
            for r in range(5):
                for cc in range(3):
                    yy, xx = v - 3 + r, u + 4 + i * 4 + cc
                    if font[ch][r * 3 + cc] == '1' and 0 <= yy < H_ and 0 <= xx < W_: img[yy, xx] = (0, 0, 160)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(H_))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W_, H_, 8, 2, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


if __name__ == '__main__':
    main()
