#!/usr/bin/env python3
"""Writes Tests/Fixtures/efficientnet_photos.safetensors: two ImageNet-class photos from scikit-image's data
(CC0/public domain: `chelsea.png` — Chelsea the cat, `coffee.png` — a cup of espresso) resized bicubically (PIL) to
160×160 and normalised with the ImageNet mean/std, as `x` [2, 3, 160, 160], plus the plain-PyTorch reference
`logits` [2, 1000] (make_efficientnet_fixture.py's model). Expected top-1: 285 (Egyptian cat), 967 (espresso).

Needs torch, numpy, PIL and the scikit-image wheel's PNGs:
  pip download --no-deps scikit-image==0.26.0 -d /tmp/skim && (cd /tmp/skim && unzip -o -q *.whl 'skimage/data/*')
  python3 Tests/Fixtures/make_efficientnet_photos.py /tmp/skim/skimage/data
"""
import importlib.util
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("m", os.path.join(HERE, "make_efficientnet_fixture.py"))
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)

data = sys.argv[1]
xs = []
for name in ["chelsea", "coffee"]:
    im = np.asarray(Image.open(os.path.join(data, name + ".png")).convert("RGB").resize((160, 160), Image.BICUBIC))
    im = im.astype(np.float64) / 255
    xs.append(((im - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1))
x = torch.from_numpy(np.stack(xs).astype(np.float32)).double()
sd = {k: v.double() for k, v in torch.load(m.PTH, map_location="cpu", weights_only=False).items()}
with torch.no_grad():
    logits = m.forward(sd, x)["logits"]
print("top-1:", logits.argmax(1).tolist())
m.save("efficientnet_photos.safetensors", {"x": x, "logits": logits},
       {"top1": "285,967", "generator": "Tests/Fixtures/make_efficientnet_photos.py"})
