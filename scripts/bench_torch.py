"""PyTorch CPU reference for `headlab benchmark nn` (same shapes, same thread count, same timing protocol).

Usage: bench_torch.py THREADS TOKENS DIM BLOCKS
A server: prints "ready" and a description (PyTorch's version, the BLAS it was built with, its CPU capability),
then answers one request per stdin line with one number per stdout line, so HeadLab can alternate its own
measurements with PyTorch's on a warm process (models are built once and cached):
  gemm N                    -> GFLOP/s of an N×N×N sgemm (5 products after one warm-up)
  head BATCH                -> seconds of the faster of two head training steps (one warm-up step on first use)
  backbone NAME SIZE BATCH  -> images/s of a forward pass (one warm-up call, then ≥ 2 calls and ≥ 1.5 s)
  component KIND ARGS...    -> milliseconds, best of 5 calls after a warm-up, of one layer (`--components`):
                               linear T IN OUT | gelu N | layernorm T C | attention B T C HEADS (forward, inference
                               mode) | attention_train B T C HEADS | mlp_train B T C (forward + backward)
Errors answer "error: ...". The backbones are plain-PyTorch ports of the HeadLab ones (timm's ViT with fused
scaled-dot-product attention, EfficientNet-Lite0 with static TF "SAME" padding and eval BatchNorm), random
weights, `torch.inference_mode()`. Used only for benchmarking; HeadLab never runs Python.
"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads, tokens, dim, blocks = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)

def gemm_gflops(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t0 = time.time(); reps = 5
    for _ in range(reps): a @ b
    return 2 * n ** 3 * reps / (time.time() - t0) / 1e9

side = int(tokens ** 0.5)
class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(384, dim)
        layer = lambda: nn.TransformerEncoderLayer(dim, 8, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.Sequential(*[layer() for _ in range(blocks)])
        self.up = nn.Sequential(nn.ConvTranspose2d(dim, 128, 2, 2), nn.GELU(), nn.ConvTranspose2d(128, 64, 2, 2), nn.GELU(),
                                nn.ConvTranspose2d(64, 32, 2, 2), nn.GELU())
        self.pixel = nn.Linear(32, 2 * 2 * 3)
    def forward(self, x):
        x = self.blocks(self.proj(x))
        x = x.transpose(1, 2).reshape(x.shape[0], dim, side, side)
        x = self.up(x)
        x = self.pixel(x.flatten(2).transpose(1, 2))
        return x

heads = {}
def head_step_seconds(batch):
    if batch not in heads:
        head = Head()
        opt = torch.optim.AdamW(head.parameters(), lr=4e-4, betas=(0.9, 0.95), weight_decay=0.05)
        x, target = torch.randn(batch, tokens, 384), torch.randn(batch, tokens * 64, 12)
        def step():
            opt.zero_grad()
            loss = (head(x) - target).abs().mean()
            loss.backward(); opt.step()
        step()
        heads[batch] = step
    times = []
    for _ in range(2):
        t0 = time.time(); heads[batch](); times.append(time.time() - t0)
    return min(times)

# --- Backbones (forward only) ---------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)   # timm's fused_attn path
        return self.proj(x.transpose(1, 2).reshape(b, t, c))

class Block(nn.Module):
    def __init__(self, d, heads, layer_scale):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d, eps=1e-6), Attention(d, heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.ls1 = nn.Parameter(torch.ones(d)) if layer_scale else None
        self.ls2 = nn.Parameter(torch.ones(d)) if layer_scale else None
    def forward(self, x):
        a = self.attn(self.norm1(x))
        x = x + (a * self.ls1 if self.ls1 is not None else a)
        m = self.mlp(self.norm2(x))
        return x + (m * self.ls2 if self.ls2 is not None else m)

class ViT(nn.Module):
    def __init__(self, patch, grid, layer_scale, d=384, depth=12, heads=6):
        super().__init__()
        self.patch, self.grid = patch, grid
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid * grid, d) * 0.02)
        self.blocks = nn.Sequential(*[Block(d, heads, layer_scale) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.pos_cache = {}
    def positions(self, gh, gw):   # resized once per grid and cached, as HeadLab does
        if (gh, gw) == (self.grid, self.grid): return self.pos_embed
        if (gh, gw) not in self.pos_cache:
            d = self.pos_embed.shape[-1]
            table = self.pos_embed[:, 1:].reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=(gh, gw), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, -1, d)
            self.pos_cache[(gh, gw)] = torch.cat([self.pos_embed[:, :1], table], 1)
        return self.pos_cache[(gh, gw)]
    def forward(self, x):
        p = self.patch_embed(x)
        b, c, gh, gw = p.shape
        h = torch.cat([self.cls_token.expand(b, -1, -1), p.flatten(2).transpose(1, 2)], 1) + self.positions(gh, gw)
        return self.norm(self.blocks(h))[:, 1:]

class SameConvBN(nn.Module):
    def __init__(self, cin, cout, k, s, groups=1, relu6=True):
        super().__init__()
        self.k, self.s, self.relu6 = k, s, relu6
        self.conv = nn.Conv2d(cin, cout, k, s, 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
    def forward(self, x):
        pads = []
        for i in (x.shape[3], x.shape[2]):
            total = max((math.ceil(i / self.s) - 1) * self.s + self.k - i, 0)
            pads += [total // 2, total - total // 2]
        x = self.bn(self.conv(F.pad(x, pads) if any(pads) else x))
        return F.relu6(x) if self.relu6 else x

class MBConv(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        self.expand = SameConvBN(cin, mid, 1, 1) if e != 1 else None
        self.dw = SameConvBN(mid, mid, k, s, groups=mid)
        self.project = SameConvBN(mid, cout, 1, 1, relu6=False)
        self.skip = s == 1 and cin == cout
    def forward(self, x):
        y = self.project(self.dw(self.expand(x) if self.expand is not None else x))
        return y + x if self.skip else y

class EfficientNetLite0(nn.Module):
    STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
              (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
    def __init__(self):
        super().__init__()
        self.stem = SameConvBN(3, 32, 3, 2)
        blocks, cin = [], 32
        for repeats, k, s, e, cout in self.STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, k, s if r == 0 else 1, e)); cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = SameConvBN(320, 1280, 1, 1)
    def forward(self, x):   # the multi-scale features (strides 4-32) and the 1280-channel head, as HeadLab returns
        h, levels = self.stem(x), []
        for i, b in enumerate(self.blocks):
            h = b(h)
            if i in (2, 4, 10, 15): levels.append(h)
        return levels, self.head(h)

def images_per_second(model, size, b):
    x = torch.randn(b, 3, size, size)
    with torch.inference_mode():
        model(x)
        reps, t0 = 0, time.time()
        while reps < 2 or time.time() - t0 < 1.5:
            model(x); reps += 1
        return b * reps / (time.time() - t0)

components = {}
def component_milliseconds(kind, args):
    key = (kind, *args)
    if key not in components:
        g = torch.Generator().manual_seed(0)
        if kind == "linear":
            t, i, o = args; layer, x = nn.Linear(i, o), torch.randn(1, t, i, generator=g)
            components[key] = (lambda: layer(x), True)
        elif kind == "gelu":
            x, f = torch.randn(args[0], generator=g), nn.GELU()
            components[key] = (lambda: f(x), True)
        elif kind == "layernorm":
            t, c = args; layer, x = nn.LayerNorm(c, eps=1e-6), torch.randn(1, t, c, generator=g)
            components[key] = (lambda: layer(x), True)
        elif kind in ("attention", "attention_train", "mlp_train"):
            b, t, c = args[:3]
            layer = Attention(c, args[3]) if kind != "mlp_train" else nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))
            x, dy = torch.randn(b, t, c, generator=g), torch.randn(b, t, c, generator=g)
            if kind == "attention":
                components[key] = (lambda: layer(x), True)
            else:
                x.requires_grad_(True)
                components[key] = (lambda: layer(x).backward(dy), False)
        else:
            raise ValueError(f"unknown component {kind}")
    body, inference = components[key]
    with torch.inference_mode(inference):
        body(); best = math.inf
        for _ in range(5):
            t0 = time.perf_counter(); body(); best = min(best, time.perf_counter() - t0)
    return best * 1000

factories = {"vit_s16": lambda: ViT(16, 14, False), "vit_s14": lambda: ViT(14, 37, True),
             "effnet_lite0": EfficientNetLite0}
models = {}
def answer(words):
    if words[0] == "gemm": return gemm_gflops(int(words[1]))
    if words[0] == "head": return head_step_seconds(int(words[1]))
    if words[0] == "component": return component_milliseconds(words[1], [int(w) for w in words[2:]])
    if words[0] == "backbone":
        name, size, b = words[1], int(words[2]), int(words[3])
        if name not in factories: raise ValueError(f"unknown backbone {name}")
        if name not in models: models[name] = factories[name]().eval()
        return images_per_second(models[name], size, b)
    raise ValueError(f"unknown request {' '.join(words)}")

def describe():
    config = torch.__config__.show()
    blas = next((w.split("=", 1)[1].rstrip(",") for w in config.split() if w.startswith("BLAS_INFO=")), "unknown")
    capability = next((l.split(":", 1)[1].strip() for l in config.splitlines() if "CPU capability" in l), "unknown")
    return f"PyTorch {torch.__version__}, GEMM: {blas}, CPU capability {capability}, {torch.get_num_threads()} threads"

print("ready", describe(), flush=True)
for line in sys.stdin:
    words = line.split()
    if not words: continue
    try: print(repr(float(answer(words))), flush=True)
    except Exception as e: print(f"error: {e}".replace("\n", " "), flush=True)
