#!/usr/bin/env python3
"""Writes the PyTorch reference for BackbonesTests' ViT parity test: Tests/Fixtures/vit_parity.safetensors.

Run from anywhere:  python3 Tests/Fixtures/make_vit_fixture.py      (needs torch + numpy; CPU)

A real-width ViT-S (dim 384, 6 heads, MLP 4) at depth 2 is 3.5 M weights (14 MB), too big to commit, so the
weights and inputs are not stored: every tensor is a deterministic function of its timm key name
(`hashed(name, shape)` below; BackbonesTests/ViTTests.swift has the same function in Swift, bit-exact), and
only the reference outputs are stored. The reference is a plain PyTorch ViT in timm layout (cls token,
learned pos_embed, pre-LN blocks, optional layer scale, final LayerNorm, eps 1e-6, exact GELU).

Cases (key prefix, B = 2 except `dino224`):
  dino32x48    DINO ViT-S/16 layout (no layer scale, 14×14 table), 32×48 input → 2×3 grid;
               table resized as timm's resample_abs_pos_embed (bicubic, antialias=True, size=grid)
  dino224      same model at 224×224 (B = 1): table used as is
  dinov2_42x56 DINOv2 ViT-S/14 layout (layer scale, 37×37 table), 42×56 input → 3×4 grid; table resized as
               DINOv2's interpolate_pos_encoding (bicubic, scale_factor=(g + 0.1)/M, no antialias)
Each case stores `<case>.tokens` [B, N, 384] and `<case>.cls` [B, 384]. Metadata gives the depth.
"""
import json
import math
import os
import sys
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import save_safetensors  # noqa: E402
torch.set_num_threads(1)
DIM, HEADS, DEPTH = 384, 6, 2
M32 = 0xFFFFFFFF


def fnv1a(name):
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def uniform(name, count):
    """u[i] in [-1, 1): murmur3 finaliser of (i·0x9E3779B1 + fnv1a(name)) mod 2³², top 24 bits."""
    i = np.arange(count, dtype=np.uint64)
    h = (i * 0x9E3779B1 + fnv1a(name)) & M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return ((h >> 8).astype(np.float32) / np.float32(1 << 24)) * np.float32(2) - np.float32(1)


def hashed(name, shape):
    """The weight/input for a key: scale and offset chosen by the key's suffix (mirrored in Swift)."""
    count = int(np.prod(shape))
    u = uniform(name, count)
    if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
        v = u * np.float32(0.2) + np.float32(1)
    elif name.endswith(".gamma"):
        v = u * np.float32(0.25) + np.float32(0.5)
    elif name.endswith(".bias"):
        v = u * np.float32(0.05)
    elif name in ("cls_token", "pos_embed"):
        v = u * np.float32(0.5)
    elif name.startswith("input"):
        v = u * np.float32(2)
    else:  # conv / linear weights: U(±1/√fan_in)·√3
        fan_in = count // shape[0]
        v = u * np.float32(math.sqrt(3.0 / fan_in))
    return torch.from_numpy(v.reshape(shape).copy())


def weights(patch, grid, layer_scale):
    w = {"cls_token": (1, 1, DIM), "pos_embed": (1, 1 + grid * grid, DIM),
         "patch_embed.proj.weight": (DIM, 3, patch, patch), "patch_embed.proj.bias": (DIM,),
         "norm.weight": (DIM,), "norm.bias": (DIM,)}
    for i in range(DEPTH):
        p = f"blocks.{i}."
        w.update({p + "norm1.weight": (DIM,), p + "norm1.bias": (DIM,),
                  p + "attn.qkv.weight": (3 * DIM, DIM), p + "attn.qkv.bias": (3 * DIM,),
                  p + "attn.proj.weight": (DIM, DIM), p + "attn.proj.bias": (DIM,),
                  p + "norm2.weight": (DIM,), p + "norm2.bias": (DIM,),
                  p + "mlp.fc1.weight": (4 * DIM, DIM), p + "mlp.fc1.bias": (4 * DIM,),
                  p + "mlp.fc2.weight": (DIM, 4 * DIM), p + "mlp.fc2.bias": (DIM,)})
        if layer_scale:
            w[p + "ls1.gamma"] = (DIM,)
            w[p + "ls2.gamma"] = (DIM,)
    return {k: hashed(k, s).double() for k, s in w.items()}


def resize_timm(pos, grid, gh, gw):
    if (gh, gw) == (grid, grid):
        return pos
    g = pos[:, 1:].reshape(1, grid, grid, DIM).permute(0, 3, 1, 2)
    g = F.interpolate(g.float(), size=(gh, gw), mode="bicubic", antialias=True, align_corners=False).double()
    return torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, gh * gw, DIM)], dim=1)


def resize_dinov2(pos, grid, gh, gw):
    # facebookresearch/dinov2 DinoVisionTransformer.interpolate_pos_encoding (interpolate_offset = 0.1)
    if (gh, gw) == (grid, grid):
        return pos
    sx, sy = float(gh + 0.1) / grid, float(gw + 0.1) / grid
    g = pos[:, 1:].reshape(1, grid, grid, DIM).permute(0, 3, 1, 2)
    g = F.interpolate(g.float(), scale_factor=(sx, sy), mode="bicubic", antialias=False).double()
    assert g.shape[-2:] == (gh, gw)
    return torch.cat([pos[:, :1], g.permute(0, 2, 3, 1).reshape(1, gh * gw, DIM)], dim=1)


def vit(w, x, patch, grid, resize, layer_scale):
    b = x.shape[0]
    p = F.conv2d(x, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch)
    gh, gw = p.shape[-2:]
    h = torch.cat([w["cls_token"].expand(b, 1, DIM), p.flatten(2).transpose(1, 2)], dim=1)
    h = h + resize(w["pos_embed"], grid, gh, gw)
    t, d = h.shape[1], DIM // HEADS
    for i in range(DEPTH):
        q = lambda n: w[f"blocks.{i}.{n}"]
        y = F.layer_norm(h, (DIM,), q("norm1.weight"), q("norm1.bias"), eps=1e-6)
        qkv = F.linear(y, q("attn.qkv.weight"), q("attn.qkv.bias")).reshape(b, t, 3, HEADS, d).permute(2, 0, 3, 1, 4)
        a = torch.softmax(qkv[0] @ qkv[1].transpose(-2, -1) / math.sqrt(d), dim=-1) @ qkv[2]
        y = F.linear(a.transpose(1, 2).reshape(b, t, DIM), q("attn.proj.weight"), q("attn.proj.bias"))
        h = h + (y * q("ls1.gamma") if layer_scale else y)
        y = F.layer_norm(h, (DIM,), q("norm2.weight"), q("norm2.bias"), eps=1e-6)
        y = F.linear(F.gelu(F.linear(y, q("mlp.fc1.weight"), q("mlp.fc1.bias"))), q("mlp.fc2.weight"), q("mlp.fc2.bias"))
        h = h + (y * q("ls2.gamma") if layer_scale else y)
    h = F.layer_norm(h, (DIM,), w["norm.weight"], w["norm.bias"], eps=1e-6)
    return h[:, 1:], h[:, 0]


def save(name, tensors, metadata):
    save_safetensors(os.path.join(HERE, name), tensors, metadata)


out = {}
cases = [("dino32x48", 16, 14, resize_timm, False, (2, 3, 32, 48)),
         ("dino224", 16, 14, resize_timm, False, (1, 3, 224, 224)),
         ("dinov2_42x56", 14, 37, resize_dinov2, True, (2, 3, 42, 56))]
for name, patch, grid, resize, ls, shape in cases:
    w = weights(patch, grid, ls)
    x = hashed("input." + name, shape).double()
    with torch.no_grad():
        tokens, cls = vit(w, x, patch, grid, resize, ls)
    out[name + ".tokens"] = tokens
    out[name + ".cls"] = cls
save("vit_parity.safetensors", out, {"depth": DEPTH, "dim": DIM, "heads": HEADS,
                                      "generator": "Tests/Fixtures/make_vit_fixture.py"})
