#!/usr/bin/env python3
"""PyTorch's time for the training step that `gpt bench translate-step` measures:
nn.Transformer 6+6 layers, d_model 256, 4 heads, ff 1024, dropout 0.1, vocab 8000, shared
embeddings scaled by sqrt(d) plus sinusoids, tied output, cross-entropy, AdamW; batches of
128 x 32 and 64 x 64 pairs with lengths spread over 3/4..1 of the maximum, padded, with
source, target and causal masks. Median of 4 steps after one warm-up, on torch's threads
(set to 2 here, as the machine has). Run under the shared lock:
  flock /tmp/swift-build.lock python3 Benchmarks/seq2seq_step_torch.py
"""
import os, sys, time
import torch, torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "scripts"))
from torch_seq2seq import Seq2Seq  # our encoder-decoder in PyTorch (embedding dropout included)

torch.manual_seed(1)
torch.set_num_threads(2)
V, D, H, F, L = 8000, 256, 4, 1024, 6


# Tables, then the transformer, as before the shared module: the same initial weights.
model = Seq2Seq(V, D, H, F, L, L, 256, dropout=0.1).train()
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
