#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures for NNCoreTests (ParityTests, TrainingTests).

Run from anywhere:  python3 Tests/Fixtures/make_nn_fixture.py
Needs torch (CPU) and numpy; the Swift tests only read the committed outputs (no Python needed).

Files (safetensors, F32, little-endian; written by the tiny writer below, so the `safetensors`
package is not needed):
  nn_block.safetensors      pre-LN transformer block (dim 32, 8 heads, MLP ratio 4, GELU, LN eps 1e-6):
                            x, dy, y, dx, param.<name>, grad.<name> (timm parameter names)
  nn_attention.safetensors  timm-style multi-head self-attention alone (dim 16, 8 heads)
  nn_convstack.safetensors  conv3x3 -> depthwise conv3x3 -> BatchNorm2d(eval) -> ReLU6
                            -> ConvTranspose2d(k=2, s=2) -> GELU, plus a general ConvTranspose2d
  nn_ops.safetensors        pooling, bilinear/bicubic resize, position-embedding resize, losses
  nn_train.safetensors      toy conv net, initial weights, batch, 10 AdamW steps' losses and final weights
"""
import json
import math
import os
import sys
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import warnings

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import save_safetensors  # noqa: E402
torch.set_num_threads(1)
torch.manual_seed(0)


def save(name, tensors, metadata):
    save_safetensors(os.path.join(HERE, name), tensors, metadata)


class Attention(nn.Module):
    """timm.models.vision_transformer.Attention without dropout / qk-norm."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """timm Block (pre-LN), no layer scale, no drop-path."""

    def __init__(self, dim, heads, ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * ratio)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def randomize(module, scale=0.3):
    """Non-trivial values for every parameter (LayerNorm γ/β included)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.add_(1.0)


def module_case(module, x, extra=None):
    """Forward + backward with a random upstream gradient; returns the tensors to store."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    out = {"x": x, "dy": dy, "y": y, "dx": x.grad}
    for name, p in module.named_parameters():
        out["param." + name] = p
        out["grad." + name] = p.grad
    for name, b in module.named_buffers():
        if b.dtype.is_floating_point:
            out["param." + name] = b
    out.update(extra or {})
    return out


# 1. Transformer block.
torch.manual_seed(1)   # each section seeded on its own, so editing one leaves the others
block = Block(32, 8)
randomize(block)
save("nn_block.safetensors", module_case(block, torch.randn(2, 5, 32)),
     {"dim": 32, "heads": 8, "mlp_ratio": 4, "eps": 1e-6, "torch": torch.__version__})

# 2. Attention alone.
torch.manual_seed(2)   # each section seeded on its own, so editing one leaves the others
attn = Attention(16, 8)
randomize(attn, 0.5)
save("nn_attention.safetensors", module_case(attn, torch.randn(2, 6, 16)),
     {"dim": 16, "heads": 8, "torch": torch.__version__})

# 3. Conv stack (eval-mode BN folded at run time by NNCore).
torch.manual_seed(3)   # each section seeded on its own, so editing one leaves the others
class ConvStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)

    def forward(self, x):
        x = F.relu6(self.bn(self.dw(self.conv1(x))))
        return F.gelu(self.deconv(x))


stack = ConvStack()
with torch.no_grad():
    stack.bn.weight.copy_(1 + 0.3 * torch.randn(8))
    stack.bn.bias.copy_(0.3 * torch.randn(8))
    stack.bn.running_mean.copy_(0.2 * torch.randn(8))
    stack.bn.running_var.copy_(0.5 + torch.rand(8))
    stack.conv1.weight.mul_(3)
    stack.dw.weight.mul_(4)   # push some activations past 6 so ReLU6 clips on both sides
stack.eval()
conv_case = module_case(stack, torch.randn(2, 3, 6, 6))

# A general transposed conv (k3, s2, p1, output_padding 1, dilation 1, groups 2) alone.
gdeconv = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
g = module_case(gdeconv, torch.randn(1, 4, 3, 5))
for k, v in g.items():
    conv_case["general_deconv." + k] = v
save("nn_convstack.safetensors", conv_case, {"bn_eps": 1e-5, "torch": torch.__version__})

# 4. Single ops with PyTorch semantics that are easy to get subtly wrong.
torch.manual_seed(4)   # each section seeded on its own, so editing one leaves the others
ops = {}
img = torch.randn(1, 2, 5, 6)
ops["img"] = img
ops["maxpool"] = F.max_pool2d(img, 3, stride=2, padding=1)
ops["avgpool"] = F.avg_pool2d(img, 3, stride=2, padding=1)
ops["avgpool_nopad"] = F.avg_pool2d(img, 3, stride=2, padding=1, count_include_pad=False)
ops["bilinear_up"] = F.interpolate(img, size=(9, 11), mode="bilinear", align_corners=False)
ops["bilinear_down"] = F.interpolate(img, size=(3, 4), mode="bilinear", align_corners=False)
ops["bicubic_up"] = F.interpolate(img, size=(9, 11), mode="bicubic", align_corners=False)
ops["bicubic_down"] = F.interpolate(img, size=(3, 4), mode="bicubic", align_corners=False)
ops["bicubic_aa_up"] = F.interpolate(img, size=(9, 11), mode="bicubic", align_corners=False, antialias=True)
ops["bicubic_aa_down"] = F.interpolate(img, size=(3, 4), mode="bicubic", align_corners=False, antialias=True)
# Position embedding [1, 1 + 4*4, 8] -> 6x6 grid, as timm resample_abs_pos_embed (antialias) and DINOv2 (no antialias).
pos = torch.randn(1, 1 + 16, 8)
ops["pos"] = pos
grid = pos[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
for tag, aa in (("pos_bicubic", False), ("pos_bicubic_aa", True)):
    r = F.interpolate(grid, size=(6, 6), mode="bicubic", align_corners=False, antialias=aa)
    ops[tag] = torch.cat([pos[:, :1], r.permute(0, 2, 3, 1).reshape(1, 36, 8)], dim=1)
# Token/image layouts: [B, h*w, C] -> [B, C, h, w], and MAE-style unpatchify of [B, h*w, p*p*C].
tok = torch.randn(2, 6, 12)
ops["tokens"] = tok
ops["tokens_to_image"] = tok.transpose(1, 2).reshape(2, 12, 2, 3)
ops["unpatchify"] = torch.einsum("nhwpqc->nchpwq", tok.reshape(2, 2, 3, 2, 2, 3)).reshape(2, 3, 4, 6)
# Activations (forward and backward with an upstream gradient) and softmax.
act_in = (torch.randn(3, 20) * 4).requires_grad_(True)
act_up = torch.randn(3, 20)
ops["act_in"] = act_in
ops["act_up"] = act_up
for tag, fn in (("gelu", F.gelu), ("gelu_tanh", lambda v: F.gelu(v, approximate="tanh")), ("relu", F.relu),
                ("relu6", F.relu6), ("silu", F.silu), ("sigmoid", torch.sigmoid), ("softmax", lambda v: v.softmax(-1))):
    act_in.grad = None
    out = fn(act_in)
    out.backward(act_up)
    ops["act." + tag] = out
    ops["act." + tag + ".grad"] = act_in.grad.clone()
# Sparse (CSR) times dense, as a mesh operator would be applied.
dense = torch.randn(5, 3, requires_grad=True)
rows, cols = [0, 0, 1, 2, 2, 3, 3], [0, 3, 1, 4, 0, 2, 3]
vals = torch.randn(7)
sparse = torch.sparse_coo_tensor(torch.tensor([rows, cols]), vals, (4, 5), check_invariants=True).to_sparse_csr()
sp_out = sparse @ dense
sp_up = torch.randn(4, 3)
sp_out.backward(sp_up)
ops.update({"sparse.rows": torch.tensor(rows).float(), "sparse.cols": torch.tensor(cols).float(), "sparse.values": vals,
            "sparse.x": dense, "sparse.y": sp_out, "sparse.dy": sp_up, "sparse.dx": dense.grad})
# Losses and their gradients.
pred = torch.randn(2, 3, 4, 4, requires_grad=True)
target = torch.randn(2, 3, 4, 4)
mask = (torch.rand(2, 1, 4, 4) > 0.4).float()
ops.update({"pred": pred, "target": target, "mask": mask})
def loss_case(tag, fn):
    if pred.grad is not None:
        pred.grad = None
    loss = fn(pred)
    loss.backward()
    ops[tag + ".loss"] = loss.reshape(1)
    ops[tag + ".grad"] = pred.grad.clone()
loss_case("l1", lambda p: F.l1_loss(p, target))
loss_case("masked_l1", lambda p: ((p - target).abs() * mask).sum() / (mask.sum() * 3))
loss_case("weighted_l1", lambda p: ((p - target).abs() * (mask + 0.2)).mean())
loss_case("cosine", lambda p: (1 - F.cosine_similarity(p, target, dim=1, eps=1e-8)).mean())
binary = (torch.rand(2, 3, 4, 4) > 0.5).float()
ops["binary"] = binary
loss_case("bce", lambda p: F.binary_cross_entropy_with_logits(p, binary))
labels = torch.randint(0, 3, (2, 4, 4))
labels[0, 0, :2] = 255
ops["labels"] = labels.float()
class_weights = torch.tensor([0.7, 0.3, 1.1])
ops["class_weights"] = class_weights
loss_case("cross_entropy", lambda p: F.cross_entropy(p, labels, weight=class_weights, ignore_index=255))
save("nn_ops.safetensors", ops, {"torch": torch.__version__})

# 5. Toy training run: the same init weights, batch and schedule are replayed in Swift.
torch.manual_seed(5)   # each section seeded on its own, so editing one leaves the others
class ToyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.gelu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


net = ToyNet()
train = {"init." + k: v.detach().clone() for k, v in net.named_parameters()}
xb = torch.randn(4, 3, 8, 8)
yb = torch.tensor([0, 3, 1, 4])
cw = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.8])
cfg = {"lr": 1e-2, "warmup": 3, "total": 10, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
       "weight_decay": 0.05, "clip": 1.0, "steps": 10}
opt = torch.optim.AdamW(net.parameters(), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                        weight_decay=cfg["weight_decay"], foreach=False)


def lr_at(s):
    if s < cfg["warmup"]:
        return cfg["lr"] * (s + 1) / cfg["warmup"]
    progress = min(1.0, (s - cfg["warmup"]) / max(1, cfg["total"] - cfg["warmup"]))
    return cfg["lr"] * 0.5 * (1 + math.cos(math.pi * progress))


losses, norms = [], []
for s in range(cfg["steps"]):
    for group in opt.param_groups:
        group["lr"] = lr_at(s)
    opt.zero_grad()
    loss = F.cross_entropy(net(xb), yb, weight=cw)
    loss.backward()
    norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])))
    opt.step()
    losses.append(loss.item())
train.update({"x": xb, "labels": yb.float(), "class_weights": cw,
              "losses": torch.tensor(losses), "grad_norms": torch.tensor(norms)})
train.update({"final." + k: v.detach().clone() for k, v in net.named_parameters()})
save("nn_train.safetensors", train, {"config": json.dumps(cfg), "torch": torch.__version__})
print("losses", ["%.6f" % l for l in losses])
