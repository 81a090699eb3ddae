#!/usr/bin/env python3
"""PyTorch's time for the training step that `gpt bench translate-step` measures:
nn.Transformer 6+6 layers, d_model 256, 4 heads, ff 1024, dropout 0.1, vocab 8000, shared
embeddings scaled by sqrt(d) plus sinusoids, tied output, cross-entropy, AdamW; batches of
128 x 32 and 64 x 64 pairs with lengths spread over 3/4..1 of the maximum, padded, with
source, target and causal masks. Median of 4 steps after one warm-up, on torch's threads
(set to 2 here, as the machine has). Run under the shared lock:
  flock /tmp/swift-build.lock python3 Benchmarks/seq2seq_step_torch.py
"""
import math, time
import torch, torch.nn as nn

torch.manual_seed(1)
torch.set_num_threads(2)
V, D, H, F, L = 8000, 256, 4, 1024, 6


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(V, D)
        self.transformer = nn.Transformer(D, H, L, L, F, dropout=0.1, activation="relu", batch_first=True)
        pe = torch.zeros(256, D)
        pos = torch.arange(256.0).unsqueeze(1)
        div = torch.pow(10000.0, torch.arange(0, D, 2) / D)
        pe[:, 0::2] = torch.sin(pos / div); pe[:, 1::2] = torch.cos(pos / div)
        self.register_buffer("pe", pe)

    def forward(self, src, tgt, sp, tp):
        x = self.shared(src) * math.sqrt(D) + self.pe[: src.shape[1]]
        y = self.shared(tgt) * math.sqrt(D) + self.pe[: tgt.shape[1]]
        t = tgt.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        h = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=sp, tgt_key_padding_mask=tp, memory_key_padding_mask=sp)
        return h @ self.shared.weight.T


model = Model().train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, weight_decay=0)
for rows, length in [(128, 32), (64, 64)]:
    g = torch.Generator().manual_seed(2)
    sl = length * 3 // 4 + torch.randint(0, length // 4 + 1, (rows,), generator=g)
    tl = length * 3 // 4 + torch.randint(0, length // 4, (rows,), generator=g) + 1
    S, T = int(sl.max()), int(tl.max())
    src = torch.randint(3, V, (rows, S), generator=g); tgt = torch.randint(3, V, (rows, T), generator=g)
    y = torch.randint(3, V, (rows, T), generator=g)
    sp = torch.arange(S)[None] >= sl[:, None]; tp = torch.arange(T)[None] >= tl[:, None]
    src[sp] = 0; tgt[tp] = 0; y[tp] = -1
    times, fwd = [], []
    for step in range(5):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(src, tgt, sp, tp).reshape(-1, V), y.reshape(-1), ignore_index=-1)
        t1 = time.perf_counter()
        loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        t2 = time.perf_counter()
        if step >= 1: times.append((t2 - t0) * 1e3); fwd.append((t1 - t0) * 1e3)
    ms, fms = sorted(times)[len(times) // 2], sorted(fwd)[len(fwd) // 2]
    print(f"torch {torch.__version__} nn.Transformer 6+6 x d256, 2 threads: batch {rows} x (S {S}, T {T}) = "
          f"{int(sl.sum())} source + {int(tl.sum())} target tokens: median step {ms:.0f} ms (forward {fms:.0f} ms), "
          f"{int(tl.sum()) / (ms / 1000):.0f} target tokens/s")
