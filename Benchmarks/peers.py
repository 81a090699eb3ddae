#!/usr/bin/env python3
"""The same work as `gpt bench matmul` / `gpt bench train-step`, done by numpy and
PyTorch, so compare.sh can print ratios from one run on one machine.

  peers.py matmul --peer numpy|torch --threads 2   numpy (OpenBLAS) or torch GEMM GFLOP/s
  peers.py train-step --batch 4 --seq 64       GPT-2 124M step in PyTorch eager fp32
  peers.py generate --threads 2                 transformers generate (KV cache) and prefill
  peers.py shakespeare --data FILE --threads 2   shakespeare-char-cpu trained by PyTorch (same model and loop)

Prints one JSON object on the last line. Not part of CI: needs numpy/torch.
"""
import argparse, json, math, os, resource, statistics, sys, time

SHAPES = [(768, 2304), (768, 3072), (3072, 768), (768, 768), (768, 50304)]


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_matmul(args):
    """numpy's or PyTorch's GEMM, one peer a process (compare.sh runs each alone, so two thread
    pools never share the cores), each product written into a preallocated `out=` buffer as ours
    is, so allocation and first-touch page faults stay out of the timing."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    results = []
    rng = np.random.default_rng(0)
    m = args.m
    if args.peer == "torch":
        import torch
        torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        for k, n in SHAPES:
            x = rng.standard_normal((m, k), dtype=np.float32); w = rng.standard_normal((k, n), dtype=np.float32)
            dout = rng.standard_normal((m, n), dtype=np.float32)
            if args.peer == "numpy":
                y, dx, dw = np.empty((m, n), np.float32), np.empty((m, k), np.float32), np.empty((k, n), np.float32)
                ops = {"forward": lambda: np.matmul(x, w, out=y),
                       "backward_input": lambda: np.matmul(dout, w.T, out=dx),
                       "backward_weight": lambda: np.matmul(x.T, dout, out=dw)}
            else:
                tx, tw, td = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dout)
                ty, tdx, tdw = torch.empty(m, n), torch.empty(m, k), torch.empty(k, n)
                ops = {"forward": lambda: torch.matmul(tx, tw, out=ty),
                       "backward_input": lambda: torch.matmul(td, tw.T, out=tdx),
                       "backward_weight": lambda: torch.matmul(tx.T, td, out=tdw)}
            for op, fn in ops.items():
                flops = 2.0 * m * k * n
                results.append({"peer": args.peer, "op": op, "m": m, "k": k, "n": n, "threads": args.threads,
                                "gflops": round(flops / median_seconds(fn, args.repeats) / 1e9, 2)})
    for r in results:
        print(f"{r['peer']:6} {r['op']:16} M={r['m']} K={r['k']} N={r['n']} threads={r['threads']}: {r['gflops']:.1f} GFLOP/s")
    print(json.dumps({"results": results}))


def gpt_model(V, NP, C, L, H, bias):
    """GPT-2 in PyTorch as nanoGPT writes it (tied LM head, tanh GELU, GPT-2 initialisation);
    forward(idx, targets) returns the mean cross-entropy."""
    import torch
    import torch.nn as nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C, bias=bias), nn.LayerNorm(C, bias=bias)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C, bias=bias), nn.Linear(C, C, bias=bias)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C, bias=bias), nn.Linear(4 * C, C, bias=bias)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(b, t, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(NP, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C, bias=bias)
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                    torch.nn.init.normal_(p, 0.0, std)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.h:
                x = block(x)
            return F.cross_entropy((self.ln_f(x) @ self.wte.weight.T).view(-1, V), targets.view(-1))

    return GPT()


class Xoshiro256StarStar:
    """`gpt train`'s window generator (Sources/GPTKernels/Xoshiro256StarStar.swift): xoshiro256**
    seeded through SplitMix64, bounded draws by Lemire's multiply-and-reject."""
    MASK = (1 << 64) - 1

    def __init__(self, seed):
        state, self.s = seed & self.MASK, []
        for _ in range(4):
            state = (state + 0x9E3779B97F4A7C15) & self.MASK
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & Xoshiro256StarStar.MASK

    def next(self):
        s, M = self.s, self.MASK
        result = (self._rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def below(self, n):
        product = self.next() * n
        if product & self.MASK < n:
            threshold = ((1 << 64) - n) % n
            while product & self.MASK < threshold:
                product = self.next() * n
        return product >> 64


def load_our_gpt(model, directory, layers):
    """Copies a gpt checkpoint's weights (GPT-2 names, Conv1D [in, out] layout) into gpt_model's modules."""
    import torch
    from safetensors.torch import load_file
    w = load_file(os.path.join(directory, "model.safetensors"))
    names = {"wte.weight": "transformer.wte.weight", "wpe.weight": "transformer.wpe.weight",
             "ln_f.weight": "transformer.ln_f.weight"}
    for i in range(layers):
        for ours, theirs in [("ln_1.weight", "ln_1.weight"), ("ln_2.weight", "ln_2.weight"),
                             ("c_attn.weight", "attn.c_attn.weight"), ("attn_proj.weight", "attn.c_proj.weight"),
                             ("c_fc.weight", "mlp.c_fc.weight"), ("mlp_proj.weight", "mlp.c_proj.weight")]:
            names[f"h.{i}.{ours}"] = f"transformer.h.{i}.{theirs}"
    with torch.no_grad():
        for name, p in model.named_parameters():
            t = w[names[name]]
            p.copy_(t.T if p.dim() == 2 and name.startswith("h.") else t)


def bench_train_step(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    V, NP, C, L, H = 50257, 1024, 768, 12, 12

    model = gpt_model(V, NP, C, L, H, bias=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), fused=True)
    x = torch.randint(0, V, (args.batch, args.seq)); y = torch.randint(0, V, (args.batch, args.seq))
    times = []
    for step in range(args.steps + 3):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= 3:
            times.append((time.perf_counter() - t) * 1000)
    ms = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} GPT-2 124M B={args.batch} T={args.seq} threads={args.threads}: "
          f"median {ms:.1f} ms/step, peak RSS {rss:.0f} MB")
    print(json.dumps({"peer": "torch", "batch": args.batch, "seq": args.seq, "threads": args.threads,
                      "ms_per_step": round(ms, 2), "tokens_per_sec": round(args.batch * args.seq / ms * 1000, 1),
                      "peak_rss_mb": round(rss, 1)}))


def bench_generate(args):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config()).float().eval()
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens))
    long = torch.randint(0, 50257, (1, args.prefill_tokens))

    def generate(n):
        with torch.no_grad():
            model.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                           pad_token_id=50256)

    # Decoding rate from the difference of a long and a one-token run (the prefill cancels out),
    # measured --repeats times after a warm-up; the median rate is reported with min and max, as
    # `gpt bench generate` reports ours.
    generate(args.new_tokens)
    rates = []
    for _ in range(args.repeats):
        t = time.perf_counter(); generate(args.new_tokens); t_long = time.perf_counter() - t
        t = time.perf_counter(); generate(1); t_one = time.perf_counter() - t
        rates.append((args.new_tokens - 1) / (t_long - t_one))
    decode = statistics.median(rates)

    def prefill():
        with torch.no_grad():
            model(input_ids=long, logits_to_keep=1)
    t_prefill = median_seconds(prefill, 3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"transformers GPT-2 124M threads={args.threads}: decode {decode:.1f} tokens/s (median of {args.repeats}, "
          f"{min(rates):.1f}–{max(rates):.1f}; {1000 / decode:.1f} ms/token), "
          f"prefill {args.prefill_tokens} tokens {t_prefill * 1000:.0f} ms, peak RSS {rss:.0f} MB")
    print(json.dumps({"peer": "transformers", "threads": args.threads, "prefill_tokens": args.prefill_tokens,
                      "prefill_ms": round(t_prefill * 1000, 1), "decode_tokens_per_sec": round(decode, 2),
                      "decode_runs": args.repeats, "decode_tokens_per_sec_min": round(min(rates), 2),
                      "decode_tokens_per_sec_max": round(max(rates), 2),
                      "ms_per_token": round(1000 / decode, 3), "peak_rss_mb": round(rss, 1)}))


def bench_shakespeare(args):
    """nanoGPT's shakespeare-char CPU configuration, trained the way `gpt train --preset
    shakespeare-char-cpu` trains it: 4 layers, 4 heads, 128 channels, context 64, no biases,
    batch 12, AdamW (0.9, 0.99, wd 0.1 on 2-D tensors), warmup 100 then cosine to 1e-4 at
    2,000 steps, clip 1.0, random windows of a 90/10 split, val loss on 20 batches."""
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text)); V = len(chars); index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = len(data) * 9 // 10
    train, val = data[:split], data[split:]
    C, L, H, T, B, steps = 128, 4, 4, 64, 12, args.steps

    # Windows: torch's generator by default; with --our-windows, the offsets `gpt train` draws
    # (xoshiro256** seeded by --seed, evaluation windows by seed ^ 0xE7A1, the same 20 at each evaluation).
    train_windows = Xoshiro256StarStar(args.seed) if args.our_windows else None

    def batch(source, windows=None):
        if windows is None:
            starts = torch.randint(len(source) - T, (B,)).tolist()
        else:
            starts = [windows.below(len(source) - T) for _ in range(B)]
        return torch.stack([source[i:i + T] for i in starts]), torch.stack([source[i + 1:i + T + 1] for i in starts])

    def mean_loss(source):
        windows = Xoshiro256StarStar(args.seed ^ 0xE7A1) if args.our_windows else None
        return sum(model(*batch(source, windows)).item() for _ in range(20)) / 20

    def rate(step):
        if step < 100: return 1e-3 * (step + 1) / 100
        progress = (step - 100) / (steps - 100)
        return 1e-4 + 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * (1e-3 - 1e-4)

    model = gpt_model(V, T, C, L, H, bias=False)
    if args.init_from:
        load_our_gpt(model, args.init_from, L)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), fused=True)
    times = []
    start = time.perf_counter()
    for step in range(steps):
        t = time.perf_counter()
        for group in opt.param_groups: group["lr"] = rate(step)
        x, y = batch(train, train_windows)
        loss = model(x, y)
        if args.log_every and step % args.log_every == 0:
            print(f"step {step} loss {loss.item():.6f}", file=sys.stderr)
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        val_loss, train_loss = mean_loss(val), mean_loss(train)
        full_val = full_split_loss(model, val, T)
    ms = statistics.median(times)
    print(f"torch {torch.__version__} shakespeare-char-cpu threads={args.threads} seed={args.seed}: {ms:.1f} ms/step (median), "
          f"{wall:.0f} s for {steps} steps, train {train_loss:.4f}, val {val_loss:.4f}, whole val split {full_val:.4f}")
    print(json.dumps({"peer": "torch", "threads": args.threads, "ms_per_step": round(ms, 2), "wall_s": round(wall, 1),
                      "train_loss": round(train_loss, 4), "val_loss": round(val_loss, 4),
                      "full_val_loss": round(full_val, 5)}))


def full_split_loss(model, tokens, T):
    """Mean loss over every non-overlapping window of T tokens of a split: the whole split, no sampling noise."""
    import torch
    n = (len(tokens) - 1) // T
    x = tokens[:n * T].view(n, T); y = tokens[1:n * T + 1].view(n, T)
    with torch.no_grad():
        total = sum(model(x[i:i + 64], y[i:i + 64]).item() * len(x[i:i + 64]) for i in range(0, n, 64))
    return total / n


def eval_shakespeare(args):
    """The whole-validation-split loss of a `gpt train --preset shakespeare-char-cpu` checkpoint."""
    import torch
    torch.set_num_threads(args.threads)
    text = open(args.data, encoding="utf-8").read()
    chars = sorted(set(text)); index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    config = json.load(open(os.path.join(args.checkpoint, "config.json")))
    model = gpt_model(len(chars), config["n_positions"], config["n_embd"], config["n_layer"], config["n_head"], bias=False)
    load_our_gpt(model, args.checkpoint, config["n_layer"])
    model.eval()
    loss = full_split_loss(model, data[len(data) * 9 // 10:], config["n_positions"])
    print(f"{args.checkpoint}: whole val split {loss:.5f}")
    print(json.dumps({"checkpoint": args.checkpoint, "full_val_loss": round(loss, 5)}))


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
a = sub.add_parser("matmul"); a.add_argument("--m", type=int, default=256); a.add_argument("--threads", type=int, default=2)
a.add_argument("--repeats", type=int, default=7)
a.add_argument("--peer", choices=["numpy", "torch"], default="numpy")
b = sub.add_parser("train-step"); b.add_argument("--batch", type=int, default=4); b.add_argument("--seq", type=int, default=64)
b.add_argument("--threads", type=int, default=2); b.add_argument("--steps", type=int, default=8)
g = sub.add_parser("generate"); g.add_argument("--threads", type=int, default=2)
g.add_argument("--prompt-tokens", type=int, default=16); g.add_argument("--new-tokens", type=int, default=256)
g.add_argument("--prefill-tokens", type=int, default=1024)
g.add_argument("--repeats", type=int, default=5, help="decode measurements (median reported)")
k = sub.add_parser("shakespeare"); k.add_argument("--data", required=True); k.add_argument("--threads", type=int, default=2)
k.add_argument("--steps", type=int, default=2000); k.add_argument("--seed", type=int, default=1337)
k.add_argument("--init-from", help="start from this gpt checkpoint directory's model.safetensors instead of torch's initialisation")
k.add_argument("--our-windows", action="store_true", help="train and evaluate on the windows gpt train draws for --seed")
e = sub.add_parser("shakespeare-eval"); e.add_argument("--data", required=True); e.add_argument("--checkpoint", required=True)
e.add_argument("--threads", type=int, default=2)
k.add_argument("--log-every", type=int, default=0, help="print the training loss every N steps to standard error")
args = p.parse_args()


def describe_torch():
    """What PyTorch computes with, on standard error: its build configuration (BLAS, ISA) and
    oneDNN's state, so a ratio against it says which PyTorch it is (issue 19: MKL on AMD may
    avoid AVX-512; ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS change that)."""
    try:
        import torch
    except ImportError:
        return
    print(f"torch {torch.__version__}: mkldnn available={torch.backends.mkldnn.is_available()}, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')}, "
          f"MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS', '-')}", file=sys.stderr)
    print(torch.__config__.show(), file=sys.stderr)


if args.cmd == "shakespeare" or args.cmd == "train-step" or args.cmd == "generate" or (args.cmd == "matmul" and args.peer == "torch"):
    describe_torch()
{"matmul": bench_matmul, "train-step": bench_train_step, "generate": bench_generate,
 "shakespeare": bench_shakespeare, "shakespeare-eval": eval_shakespeare}[args.cmd](args)
