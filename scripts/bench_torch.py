"""PyTorch CPU reference for `headlab benchmark nn` (same shapes, same thread count).

Prints one JSON line: {"gemm_gflops": ..., "head_step_s": ...}. Used only for benchmarking.
"""
import json, sys, time
import torch
import torch.nn as nn

threads, n, batch, tokens, dim, blocks = (int(a) for a in sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)

a, b = torch.randn(n, n), torch.randn(n, n)
a @ b
t0 = time.time(); reps = 5
for _ in range(reps): a @ b
gemm = 2 * n ** 3 * reps / (time.time() - t0) / 1e9

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
head = Head()
opt = torch.optim.AdamW(head.parameters(), lr=4e-4, betas=(0.9, 0.95), weight_decay=0.05)
x = torch.randn(batch, tokens, 384)
target = torch.randn(batch, tokens * 64, 12)
def step():
    opt.zero_grad()
    loss = (head(x) - target).abs().mean()
    loss.backward(); opt.step()
step()
t0 = time.time(); step(); dt = time.time() - t0
print(json.dumps({"gemm_gflops": gemm, "head_step_s": dt}))
