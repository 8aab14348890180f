#!/usr/bin/env python3
"""Writes the PyTorch reference for BackbonesTests' EfficientNet-Lite0 parity test:
Tests/Fixtures/efficientnet_lite0_parity.safetensors.

Run from anywhere after `bash scripts/fetch-efficientnet.sh`:  python3 Tests/Fixtures/make_efficientnet_fixture.py
Needs torch + numpy. Loads the real weights (Assets/weights/efficientnet-lite0-57934424.pth) with torch.load and
runs a plain-PyTorch EfficientNet-Lite0 with EfficientNet-PyTorch semantics: every conv uses TF "SAME" padding
(Conv2dDynamicSamePadding: pad = max((ceil(i/s)-1)*s + k - i, 0), floor(pad/2) before, rest after), BN eps 1e-3
(eval), ReLU6, MBConv without squeeze-excitation, B0 stage layout. Stores the input `x` [2, 3, 64, 64] and
`stride4`, `stride8`, `stride16`, `stride32`, `head`, `logits`.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import save_safetensors  # noqa: E402
ROOT = os.path.dirname(os.path.dirname(HERE))
PTH = os.path.join(ROOT, "Assets/weights/efficientnet-lite0-57934424.pth")
torch.set_num_threads(1)
torch.manual_seed(0)

STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
FEATURE_BLOCKS = [2, 4, 10, 15]


def conv_bn(sd, x, conv, bn, stride, groups=1, relu6=True):
    w = sd[conv + ".weight"]
    k = w.shape[-1]
    pads = []
    for i in (x.shape[3], x.shape[2]):  # F.pad order: W then H
        total = max((math.ceil(i / stride) - 1) * stride + k - i, 0)
        pads += [total // 2, total - total // 2]
    x = F.conv2d(F.pad(x, pads), w, None, stride, 0, 1, groups)
    x = F.batch_norm(x, sd[bn + ".running_mean"], sd[bn + ".running_var"], sd[bn + ".weight"], sd[bn + ".bias"],
                     False, 0.0, 1e-3)
    return F.relu6(x) if relu6 else x


def forward(sd, x):
    out = {}
    h = conv_bn(sd, x, "_conv_stem", "_bn0", 2)
    i, cin, levels = 0, 32, []
    for repeats, k, s, e, cout in STAGES:
        for r in range(repeats):
            p = f"_blocks.{i}."
            y = h
            if e != 1:
                y = conv_bn(sd, y, p + "_expand_conv", p + "_bn0", 1)
            y = conv_bn(sd, y, p + "_depthwise_conv", p + "_bn1", s if r == 0 else 1, groups=y.shape[1])
            y = conv_bn(sd, y, p + "_project_conv", p + "_bn2", 1, relu6=False)
            if (s if r == 0 else 1) == 1 and cin == cout:
                y = y + h
            h = y
            if i in FEATURE_BLOCKS:
                levels.append(h)
            i += 1
            cin = cout
    out["stride4"], out["stride8"], out["stride16"], out["stride32"] = levels
    out["head"] = conv_bn(sd, h, "_conv_head", "_bn1", 1)
    out["logits"] = F.linear(out["head"].mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])
    return out


def save(name, tensors, metadata):
    save_safetensors(os.path.join(HERE, name), tensors, metadata)


if __name__ == "__main__":
    if not os.path.exists(PTH):
        sys.exit(f"{PTH} missing: run scripts/fetch-efficientnet.sh")
    sd = {k: v.double() for k, v in torch.load(PTH, map_location="cpu", weights_only=False).items()}
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        out = forward(sd, x)
    out["x"] = x
    save("efficientnet_lite0_parity.safetensors", out, {"weights": os.path.basename(PTH),
                                                        "generator": "Tests/Fixtures/make_efficientnet_fixture.py"})
