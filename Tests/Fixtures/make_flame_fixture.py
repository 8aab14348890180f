#!/usr/bin/env python3
"""Writes the small pickle / numpy / FLAME fixtures the Swift tests read.

    python3 Tests/Fixtures/make_flame_fixture.py        (numpy + scipy; deterministic)

Outputs (all small, committed):
  pickle/   generic pickles of one Python object at protocols 0, 2, 4, 5; a Python-2-style
            pickle (str as BINSTRING, numpy raw data as str, chumpy Ch, scipy.sparse.csc under its
            old module path, copy_reg); .npy / .npz files; expected values as JSON.
  flame/    a tiny head with EXACTLY the structure of FLAME 2020's generic_model.pkl (Python 2,
            protocol 2, chumpy Ch arrays, csc J_regressor, uint32 faces and kintree_table),
            head_template_mesh.obj, FLAME_texture.npz (vt, ft), FLAME_masks.pkl,
            landmark_embedding.npy (DECA layout), flame_static_embedding.pkl (51 landmarks),
            and reference posed vertices from a numpy port of FLAME's lbs (reference_poses.json).

No real FLAME data is used or needed: shapes and bases are random.
"""
import copyreg
import io
import json
import os
import pickle
import struct
import sys
import types
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
PICKLE_DIR = os.path.join(HERE, "pickle")
FLAME_DIR = os.path.join(HERE, "flame")
rng = np.random.default_rng(20240607)


# ---------------------------------------------------------------------------------------------
# Stand-ins for classes of libraries we do not have (or whose old module paths we need).

def fake_module(name):
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    return mod


# chumpy: `chumpy.ch.Ch`. Real chumpy pickles `__dict__` minus `_parents` and `_cache`
# (Ch.__getstate__), through the default protocol-2 reduce: NEWOBJ(Ch) + BUILD(dict).
fake_module("chumpy")
chumpy_ch = fake_module("chumpy.ch")


class Ch(object):
    def __init__(self, x):
        self.__dict__.update({
            "_dirty_vars": set(), "_itr": None, "_make_dense": False, "_make_sparse": False,
            "_depends_on_deps": {}, "x": x,
        })

    def __getstate__(self):
        return dict(self.__dict__)


Ch.__module__ = "chumpy.ch"
Ch.__qualname__ = "Ch"
chumpy_ch.Ch = Ch


# scipy.sparse.csc.csc_matrix as old scipy pickled it: NEWOBJ + BUILD with the instance dict.
class OldCsc(object):
    def __init__(self, m):
        m = sp.csc_matrix(m)
        self.__dict__.update({
            "_shape": tuple(int(s) for s in m.shape), "maxprint": 50, "format": "csc",
            "indices": m.indices.astype(np.int32), "indptr": m.indptr.astype(np.int32),
            "data": m.data.astype(np.float64),
        })

    def __getstate__(self):
        return dict(self.__dict__)


def _reconstruct_standin(*args):
    raise RuntimeError("stand-in")


# Globals written by name (the pickler below writes GLOBAL for these without importing).
GLOBAL_NAMES = {
    id(OldCsc): ("scipy.sparse.csc", "csc_matrix"),
    id(_reconstruct_standin): ("numpy.core.multiarray", "_reconstruct"),
}

# torch tensors pickled with plain pickle (what DECA's landmark_embedding.npy holds for the
# dynamic contour): torch._utils._rebuild_tensor_v2(torch.storage._load_from_bytes(b), ...).
torch_mod = fake_module("torch")
torch_utils = fake_module("torch._utils")
torch_storage = fake_module("torch.storage")


def _rebuild_tensor_v2(*a):
    raise RuntimeError("stand-in")


def _load_from_bytes(b):
    raise RuntimeError("stand-in")


_rebuild_tensor_v2.__module__ = "torch._utils"
_load_from_bytes.__module__ = "torch.storage"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
torch_storage._load_from_bytes = _load_from_bytes


class FakeStorage(object):
    def __init__(self, b):
        self.b = b

    def __reduce__(self):
        return (_load_from_bytes, (self.b,))


class FakeTensor(object):
    def __init__(self, a):
        self.a = a

    def __reduce__(self):
        return (_rebuild_tensor_v2, (FakeStorage(b"PK-not-really-torch"), 0, self.a.shape,
                                     tuple(s // self.a.itemsize for s in self.a.strides), False, OrderedDict()))


# ---------------------------------------------------------------------------------------------
# A pickler that writes what Python 2 wrote: every str (and bytes, including numpy raw data)
# as STRING / SHORT_BINSTRING / BINSTRING, numpy arrays through numpy.core.multiarray._reconstruct.

def py2_repr(data):
    """Python 2 repr() of a str, as protocol-0 STRING writes it."""
    out = ["'"]
    for c in data:
        ch = chr(c)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 32 <= c < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
    out.append("'")
    return "".join(out).encode("ascii")


class Py2Pickler(pickle._Pickler):
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if self.proto < 1:
            self.write(pickle.STRING + py2_repr(data) + b"\n")
        elif len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2str
    dispatch[bytes] = save_py2str
    dispatch[types.FunctionType] = lambda self, obj: self.save_global(obj)

    def save_global(self, obj, name=None):
        key = GLOBAL_NAMES.get(id(obj))
        if key is None:
            return super().save_global(obj, name)
        module, nm = key
        self.write(pickle.GLOBAL + ("%s\n%s\n" % (module, nm)).encode("ascii"))
        self.memoize(obj)

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            fortran = bool(obj.flags.f_contiguous and not obj.flags.c_contiguous)
            raw = obj.tobytes(order="F" if fortran else "C")
            return (_reconstruct_standin, (np.ndarray, (0,), b"b"),
                    (1, tuple(int(s) for s in obj.shape), obj.dtype, fortran, raw))
        return NotImplemented


def py2_dumps(obj, protocol=2):
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------
# Generic pickle fixtures.

def generic_pickles():
    shared = [1, 2, 3]
    obj = OrderedDict()
    obj["none"] = None
    obj["true"] = True
    obj["false"] = False
    obj["small"] = 7
    obj["negative"] = -300
    obj["int32"] = -2_000_000_000
    obj["int64"] = 2 ** 40 + 3
    obj["big"] = 2 ** 100 + 5
    obj["bigneg"] = -(2 ** 70)
    obj["float"] = 3.25
    obj["text"] = "héllo wörld ✓"
    obj["bytes"] = bytes(range(0, 256, 15))
    obj["list"] = [1, "two", 3.0, [4]]
    obj["tuple"] = (1, 2)
    obj["tuple3"] = (1, 2, 3)
    obj["empty_tuple"] = ()
    obj["nested"] = {"a": {"b": [1, {"c": None}]}, 5: "int key"}
    obj["set"] = {42}
    obj["frozenset"] = frozenset([9])
    obj["shared1"] = shared
    obj["shared2"] = shared
    obj["f32"] = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    obj["i64"] = np.array([-1, 0, 5, 2 ** 40], dtype=np.int64)
    obj["u8"] = np.array([0, 7, 255], dtype=np.uint8)
    obj["bool"] = np.array([True, False, True])
    obj["big_endian"] = np.array([1.5, -2.0, 1e-3], dtype=">f8")
    obj["fortran"] = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    obj["i16"] = np.array([[-3, 4]], dtype=np.int16)
    obj["scalar_f8"] = np.float64(2.5)
    obj["scalar_i4"] = np.int32(-9)
    obj["csr"] = sp.csr_matrix(np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 4.0]]))   # modern scipy.sparse._csr
    expected = {
        "big": str(2 ** 100 + 5), "bigneg": str(-(2 ** 70)),
        "text": obj["text"], "bytes": list(obj["bytes"]),
        "f32": obj["f32"].ravel().tolist(), "fortran": obj["fortran"].ravel(order="C").tolist(),
        "big_endian": obj["big_endian"].tolist(),
    }
    for proto in (0, 2, 4, 5):
        write(os.path.join(PICKLE_DIR, "values_p%d.pkl" % proto), pickle.dumps(obj, protocol=proto))
    with open(os.path.join(PICKLE_DIR, "values_expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)

    # Python 2 style: str keys and raw data as BINSTRING, a chumpy Ch (its x Fortran-ordered and
    # big-endian), a csc matrix under scipy.sparse.csc, at protocols 2 and 0 (0 goes through
    # copy_reg._reconstructor and STRING literals).
    m = np.array([[0.0, 0.5, 0.0], [0.25, 0.0, 1.0]])
    py2 = {
        "name": "py2",
        "a": np.arange(12, dtype=np.float64).reshape(3, 4),
        "be": np.array([[1, -2], [3, 4]], dtype=">i4"),
        "ch": Ch(np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2) * 0.5)),
        "csc": OldCsc(m),
        "u4": np.array([4294967295, 0, 1], dtype=np.uint32),
        "quote": "it's \"quoted\"\n\\ \x01",
    }
    write(os.path.join(PICKLE_DIR, "py2_p2.pkl"), py2_dumps(py2, 2))
    write(os.path.join(PICKLE_DIR, "py2_p0.pkl"), py2_dumps(py2, 0))

    # numpy files.
    np.save(os.path.join(PICKLE_DIR, "fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    np.save(os.path.join(PICKLE_DIR, "object_dict.npy"), {"k": np.array([1, 2], dtype=np.int64), "s": "v"}, allow_pickle=True)
    np.savez(os.path.join(PICKLE_DIR, "stored.npz"), a=np.arange(4, dtype=np.int32), b=np.eye(2))
    np.savez_compressed(os.path.join(PICKLE_DIR, "deflated.npz"),
                        a=np.arange(1000, dtype=np.int32) % 7, b=rng.standard_normal((50, 3)))
    b = np.load(os.path.join(PICKLE_DIR, "deflated.npz"))["b"]
    with open(os.path.join(PICKLE_DIR, "deflated_b.json"), "w") as f:
        json.dump(b.ravel().tolist(), f)

    # Several pickles in a row, then raw bytes (the shape of torch's legacy format), with a
    # persistent id.
    class PidPickler(pickle.Pickler):
        def persistent_id(self, o):
            return ("storage", "key0") if isinstance(o, FakeStorage) else None

    buf = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, buf, protocol=2)
    pickle.dump(1001, buf, protocol=2)
    PidPickler(buf, protocol=2).dump({"weight": FakeStorage(b"")})
    pickle.dump(["key0"], buf, protocol=2)
    buf.write(struct.pack("<q", 3) + b"\x01\x02\x03")
    write(os.path.join(PICKLE_DIR, "stream.bin"), buf.getvalue())


# ---------------------------------------------------------------------------------------------
# The tiny FLAME.

def icosahedron():
    t = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                  [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return v, f


def build_head():
    # Head: a UV sphere (poles + 6 rings x 8 segments), stretched like a head; -y pole is the neck.
    rings, segs = 6, 8
    verts = [[0.0, 0.11, 0.0]]
    for r in range(1, rings + 1):
        theta = np.pi * r / (rings + 1)
        for s in range(segs):
            phi = 2 * np.pi * s / segs
            verts.append([0.075 * np.sin(theta) * np.sin(phi), 0.11 * np.cos(theta), 0.09 * np.sin(theta) * np.cos(phi)])
    verts.append([0.0, -0.11, 0.0])
    verts = np.array(verts)
    faces = []
    south = len(verts) - 1
    for s in range(segs):
        faces.append([0, 1 + s, 1 + (s + 1) % segs])
    for r in range(rings - 1):
        a, b = 1 + r * segs, 1 + (r + 1) * segs
        for s in range(segs):
            s1 = (s + 1) % segs
            faces.append([a + s, b + s, b + s1])
            faces.append([a + s, b + s1, a + s1])
    last = 1 + (rings - 1) * segs
    for s in range(segs):
        faces.append([last + s, south, last + (s + 1) % segs])
    # A jaw: the lower front pushed forward a little.
    front_low = (verts[:, 1] < -0.02) & (verts[:, 2] > 0.02)
    verts[front_low, 2] += 0.01
    faces = np.array(faces)
    nhead = len(verts)

    # Eyeballs (icosahedra), left eye at +x (the subject's left; the face looks down +z).
    iv, if_ = icosahedron()
    all_v, all_f = [verts], [faces]
    eye_centres = {"left": np.array([0.032, 0.03, 0.075]), "right": np.array([-0.032, 0.03, 0.075])}
    eye_ranges = {}
    for side in ("left", "right"):
        start = sum(len(v) for v in all_v)
        all_v.append(iv * 0.012 + eye_centres[side])
        all_f.append(if_ + start)
        eye_ranges[side] = np.arange(start, start + len(iv))
    v = np.concatenate(all_v)
    f = np.concatenate(all_f)
    return v, f, nhead, eye_ranges, front_low


def batch_rodrigues(rot_vecs):
    """FLAME_PyTorch / smplx lbs.batch_rodrigues, in numpy."""
    angle = np.linalg.norm(rot_vecs + 1e-8, axis=1, keepdims=True)
    rot_dir = rot_vecs / angle
    cos = np.cos(angle)[:, None]
    sin = np.sin(angle)[:, None]
    rx, ry, rz = rot_dir[:, 0:1], rot_dir[:, 1:2], rot_dir[:, 2:3]
    zeros = np.zeros_like(rx)
    K = np.concatenate([zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], axis=1).reshape(-1, 3, 3)
    ident = np.eye(3)[None]
    return ident + sin * K + (1 - cos) * (K @ K)


def lbs(betas, pose, v_template, shapedirs, posedirs, J_regressor, parents, lbs_weights):
    """FLAME_PyTorch / smplx lbs.lbs for one sample, in float64 numpy.

    shapedirs [V,3,K]; posedirs [36, V*3] (FLAME reshapes its [V,3,36] posedirs to [-1,36] and
    transposes); J_regressor dense [J,V]; pose [J*3] axis-angle.
    """
    v_shaped = v_template + np.einsum("l,mkl->mk", betas, shapedirs)              # blend_shapes
    J = J_regressor @ v_shaped                                                      # vertices2joints
    rot_mats = batch_rodrigues(pose.reshape(-1, 3))                                 # [J,3,3]
    pose_feature = (rot_mats[1:] - np.eye(3)).reshape(-1)                           # [36]
    v_posed = v_shaped + (pose_feature @ posedirs).reshape(-1, 3)
    # batch_rigid_transform
    rel_joints = J.copy()
    rel_joints[1:] -= J[parents[1:]]
    transforms_mat = np.zeros((len(J), 4, 4))
    transforms_mat[:, :3, :3] = rot_mats
    transforms_mat[:, :3, 3] = rel_joints
    transforms_mat[:, 3, 3] = 1
    chain = [transforms_mat[0]]
    for i in range(1, len(parents)):
        chain.append(chain[parents[i]] @ transforms_mat[i])
    transforms = np.stack(chain)
    posed_joints = transforms[:, :3, 3].copy()
    rel = transforms.copy()
    rel[:, :3, 3] -= np.einsum("jab,jb->ja", transforms[:, :3, :3], J)
    T = np.einsum("vj,jab->vab", lbs_weights, rel)
    verts = np.einsum("vab,vb->va", T[:, :3, :3], v_posed) + T[:, :3, 3]
    return verts, posed_joints


def ibug_layout():
    """68 iBUG points (x, y) in metres on a frontal face layout; subject's right (-x) first."""
    pts = []
    for k in range(17):                                   # jaw contour 0-16
        a = np.pi * k / 16
        pts.append((-0.062 * np.cos(a), 0.03 - 0.11 * np.sin(a)))
    for k in range(5):                                    # brows 17-21, 22-26
        pts.append((-0.052 + 0.009 * k, 0.05 + 0.004 * np.sin(np.pi * k / 4)))
    for k in range(5):
        pts.append((0.016 + 0.009 * k, 0.05 + 0.004 * np.sin(np.pi * (4 - k) / 4)))
    for k in range(4):                                    # nose bridge 27-30
        pts.append((0.0, 0.03 - 0.012 * k))
    for k in range(5):                                    # nose base 31-35
        pts.append((-0.014 + 0.007 * k, -0.014 - 0.003 * np.sin(np.pi * k / 4)))
    for cx in (-0.034, 0.034):                            # eyes 36-41, 42-47
        for k in range(6):
            a = np.pi * k / 3
            pts.append((cx - 0.012 * np.cos(a), 0.03 + 0.005 * np.sin(a)))
    for k in range(12):                                   # outer lips 48-59
        a = 2 * np.pi * k / 12
        pts.append((-0.026 * np.cos(a), -0.045 + 0.013 * np.sin(a)))
    for k in range(8):                                    # inner lips 60-67
        a = 2 * np.pi * k / 8
        pts.append((-0.016 * np.cos(a), -0.045 + 0.004 * np.sin(a)))
    return np.array(pts)


def nhead_faces(F, nhead):
    return int(np.sum(F.max(axis=1) < nhead))


def embed_landmarks(V, F, xy):
    """Front-most hit of a ray from (x, y, +1) along -z on triangles F: (face, barycentrics)."""
    faces, bary = [], []
    for x, y in xy:
        best = None
        o, d = np.array([x, y, 1.0]), np.array([0.0, 0.0, -1.0])
        for fi, (a, b, c) in enumerate(F):
            e1, e2 = V[b] - V[a], V[c] - V[a]
            p = np.cross(d, e2)
            det = e1 @ p
            if abs(det) < 1e-12:
                continue
            t_ = o - V[a]
            u = (t_ @ p) / det
            q = np.cross(t_, e1)
            v = (d @ q) / det
            dist = (e2 @ q) / det
            if u < -1e-9 or v < -1e-9 or u + v > 1 + 1e-9 or dist <= 0:
                continue
            if best is None or dist < best[0]:
                best = (dist, fi, np.array([1 - u - v, u, v]))
        assert best is not None, (x, y)
        faces.append(best[1])
        bary.append(np.clip(best[2], 0, 1) / np.clip(best[2], 0, 1).sum())
    return np.array(faces), np.array(bary)


def flame_fixture():
    V_t, F_t, nhead, eyes, jaw_mask = build_head()
    V, F = len(V_t), len(F_t)
    n_id, n_exp = 6, 4
    K = n_id + n_exp

    # Skinning: neck base to root/neck, head to neck, jaw to jaw, eyeballs to the eye joints.
    W = np.zeros((V, 5))
    y = V_t[:, 1]
    for i in range(nhead):
        if y[i] < -0.07:
            W[i, 0], W[i, 1] = 0.6, 0.4
        elif jaw_mask[i]:
            W[i, 1], W[i, 2] = 0.3, 0.7
        else:
            W[i, 1] = 1.0
        W[i] += rng.uniform(0, 0.1, 5) * (W[i] > 0)
    W[eyes["left"], 3] = 1.0
    W[eyes["right"], 4] = 1.0
    W /= W.sum(axis=1, keepdims=True)

    # Joint regressor (csc, [5, V]): rows average groups of vertices.
    Jreg = np.zeros((5, V))
    bottom = np.where(y < -0.08)[0]
    Jreg[0, bottom] = 1.0 / len(bottom)
    neck_ring = np.where((y < -0.05) & (y > -0.09))[0]
    Jreg[1, neck_ring] = 1.0 / len(neck_ring)
    jaw_group = np.where(jaw_mask)[0]
    Jreg[2, jaw_group] = 0.5 / len(jaw_group)
    Jreg[2, neck_ring] += 0.5 / len(neck_ring)
    Jreg[3, eyes["left"]] = 1.0 / len(eyes["left"])
    Jreg[4, eyes["right"]] = 1.0 / len(eyes["right"])

    shapedirs = rng.standard_normal((V, 3, K)) * 0.002
    shapedirs[eyes["left"]] = shapedirs[eyes["left"]].mean(axis=0)    # eyeballs move rigidly
    shapedirs[eyes["right"]] = shapedirs[eyes["right"]].mean(axis=0)
    posedirs = np.asfortranarray(rng.standard_normal((V, 3, 36)) * 0.001)
    kintree = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32)
    f_u32 = F_t.astype(np.uint32)
    J = Jreg @ V_t

    model = {
        "f": f_u32,
        "v_template": Ch(V_t.copy()),
        "shapedirs": Ch(shapedirs),
        "posedirs": Ch(posedirs),
        "J_regressor": OldCsc(Jreg),
        "kintree_table": kintree,
        "weights": Ch(W),
        "J": Ch(J),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    write(os.path.join(FLAME_DIR, "generic_model.pkl"), py2_dumps(model, 2))

    # Texture-space OBJ: spherical UVs, duplicated across the seam (per-corner indices).
    uv_list, uv_index, ft = [], {}, []
    centre = np.array([0.0, 0.0, 0.0])
    for tri in F_t:
        us = []
        for vi in tri:
            d = V_t[vi] - centre
            us.append([np.arctan2(d[0], d[2]) / (2 * np.pi) + 0.5, 0.5 + d[1] / 0.25])
        us = np.array(us)
        if us[:, 0].max() - us[:, 0].min() > 0.5:      # crosses the seam
            us[us[:, 0] < 0.5, 0] += 1.0
        row = []
        for u in us:
            key = (round(float(u[0]), 6), round(float(u[1]), 6))
            if key not in uv_index:
                uv_index[key] = len(uv_list)
                uv_list.append(key)
            row.append(uv_index[key])
        ft.append(row)
    vt = np.array(uv_list)
    vt[:, 0] /= vt[:, 0].max()
    ft = np.array(ft)
    with open(os.path.join(FLAME_DIR, "head_template_mesh.obj"), "w") as fobj:
        fobj.write("# tiny FLAME-like head template (fixture)\n")
        for p in V_t:
            fobj.write("v %.6f %.6f %.6f\n" % tuple(p))
        for t in vt:
            fobj.write("vt %.6f %.6f\n" % tuple(t))
        for tri, tt in zip(F_t, ft):
            fobj.write("f %d/%d %d/%d %d/%d\n" % (tri[0] + 1, tt[0] + 1, tri[1] + 1, tt[1] + 1, tri[2] + 1, tt[2] + 1))
    np.savez_compressed(os.path.join(FLAME_DIR, "FLAME_texture.npz"), vt=vt, ft=ft.astype(np.int64),
                        mean=np.zeros((4, 4, 3)), tex_dir=np.zeros((4, 4, 3, 2)))

    # Masks: vertex index arrays, the keys of FLAME_masks.pkl (written by Python 3, protocol 2).
    x, z = V_t[:, 0], V_t[:, 2]
    head = np.arange(nhead)
    hx, hy, hz = x[:nhead], y[:nhead], z[:nhead]
    masks = {
        "left_eyeball": eyes["left"], "right_eyeball": eyes["right"],
        "left_eye_region": head[(hx > 0.005) & (hy > 0.0) & (hy < 0.07) & (hz > 0.04)],
        "right_eye_region": head[(hx < -0.005) & (hy > 0.0) & (hy < 0.07) & (hz > 0.04)],
        "nose": head[(np.abs(hx) < 0.03) & (hy > -0.03) & (hy < 0.02) & (hz > 0.07)],
        "lips": head[(np.abs(hx) < 0.04) & (hy < -0.03) & (hy > -0.08) & (hz > 0.05)],
        "left_ear": head[(hx > 0.06) & (np.abs(hy) < 0.05)],
        "right_ear": head[(hx < -0.06) & (np.abs(hy) < 0.05)],
        "scalp": head[(hy > 0.05) | ((hz < -0.02) & (hy > -0.05))],
        "neck": head[hy < -0.08],
        "forehead": head[(hy > 0.05) & (hz > 0.03)],
        "face": head[(hz > 0.03) & (hy > -0.09) & (hy < 0.08)],
        "boundary": head[(hy < -0.09)],
    }
    masks["eye_region"] = np.concatenate([masks["left_eye_region"], masks["right_eye_region"], eyes["left"], eyes["right"]])
    masks = {k: np.asarray(v, dtype=np.int64) for k, v in masks.items()}
    write(os.path.join(FLAME_DIR, "FLAME_masks.pkl"), pickle.dumps(masks, protocol=2))

    # Landmarks: the 68 iBUG points of a simple frontal face layout, projected along -z onto the
    # head (not the eyeballs), as faces + barycentrics. (DECA's landmark_embedding.npy is a pickled
    # dict holding numpy arrays and, for the dynamic contour, torch tensors.)
    lmk_faces, bary = embed_landmarks(V_t, F_t[:nhead_faces(F_t, nhead)], ibug_layout())
    emb = {
        "static_lmk_faces_idx": lmk_faces[17:].astype(np.int64),
        "static_lmk_bary_coords": bary[17:],
        "dynamic_lmk_faces_idx": FakeTensor(np.zeros((79, 17), dtype=np.int64)),
        "dynamic_lmk_bary_coords": FakeTensor(np.zeros((79, 17, 3))),
        "full_lmk_faces_idx": lmk_faces[None].astype(np.int64),
        "full_lmk_bary_coords": bary[None],
    }
    np.save(os.path.join(FLAME_DIR, "landmark_embedding.npy"), emb, allow_pickle=True)
    static = {"lmk_face_idx": lmk_faces[17:].astype(np.uint32), "lmk_b_coords": bary[17:]}
    write(os.path.join(FLAME_DIR, "flame_static_embedding.pkl"), py2_dumps(static, 2))

    # Reference poses from the numpy lbs (FLAME's posedirs: reshape [-1, 36] then transpose).
    parents = np.array([-1, 0, 1, 1, 1])
    posedirs_flat = np.reshape(posedirs, [-1, 36]).T
    cases = []
    for k in range(3):
        betas_id = rng.standard_normal(n_id)
        betas_exp = rng.standard_normal(n_exp)
        pose = rng.uniform(-0.4, 0.4, 15)
        transl = rng.uniform(-0.05, 0.05, 3)
        if k == 0:
            pose[:] = 0                     # shape only
        verts, joints = lbs(np.concatenate([betas_id, betas_exp]), pose, V_t, shapedirs, posedirs_flat,
                            Jreg, parents, W)
        cases.append({
            "identity": betas_id.tolist(), "expression": betas_exp.tolist(), "pose": pose.tolist(),
            "transl": transl.tolist(), "vertices": (verts + transl).ravel().tolist(),
            "joints": (joints + transl).ravel().tolist(),
            "landmarks": np.einsum("lk,lkc->lc", bary, (verts + transl)[F_t[lmk_faces]]).ravel().tolist(),
        })
    with open(os.path.join(FLAME_DIR, "reference_poses.json"), "w") as f:
        json.dump({"identity_count": n_id, "expression_count": n_exp, "vertex_count": V, "face_count": F,
                   "cases": cases}, f)


if __name__ == "__main__":
    os.makedirs(PICKLE_DIR, exist_ok=True)
    os.makedirs(FLAME_DIR, exist_ok=True)
    generic_pickles()
    flame_fixture()
    total = 0
    for d in (PICKLE_DIR, FLAME_DIR):
        for name in sorted(os.listdir(d)):
            total += os.path.getsize(os.path.join(d, name))
    print("fixtures written: %d bytes" % total)
