#!/usr/bin/env python3
"""The PyTorch peer of an encoder-decoder training run: torch.nn.Transformer trained on exactly the
batches, in the same order, from the same initial weights, with the same learning rate at every
step and the same hyper-parameters as a `gpt train --pairs` run.

  gpt train --preset translate-small --pairs P.jsonl --tokenizer T.json [--set ...] --export-batches EXPORT
  python3 Benchmarks/seq2seq_train_torch.py EXPORT --out OUT [--threads 2] [--minutes 25] [--save-at 500,1000]

EXPORT (written by --export-batches; see Sources/GPTTraining/Seq2SeqPeerExport.swift) holds the
initial model (config.json + model.safetensors in nn.Transformer's names), training.json and
batches.bin. The model is our Seq2SeqTransformer's definition in PyTorch, Tests/scripts/torch_seq2seq.py
(the one the parity fixtures come from); label-smoothed cross-entropy over the
non-padding targets; clip_grad_norm_; torch.optim.AdamW (decay only on tensors of 2+ dimensions).

Trains until the steps run out or --minutes of step time have passed, and writes OUT/metrics.jsonl
(step, loss, lr, ms), OUT/step-K/ for each --save-at step reached and OUT/final/ (a model directory
`gpt eval --pairs` and `gpt translate` load: EXPORT's config.json and tokenizer beside the weights),
and prints steps/s (median step time) at the end.
"""
import argparse, json, os, shutil, struct, sys, time
import numpy as np
import torch, torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "scripts"))
from torch_seq2seq import Seq2Seq, ours_name, torch_name  # the model the parity fixtures come from

ap = argparse.ArgumentParser()
ap.add_argument("export")
ap.add_argument("--out", required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--minutes", type=float, default=None, help="budget of step time; stop after it")
ap.add_argument("--steps", type=int, default=None, help="stop after this many steps")
ap.add_argument("--save-at", default="", help="comma-separated steps at which to save a model directory")
ap.add_argument("--seed", type=int, default=1337)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

cfg = json.load(open(os.path.join(a.export, "config.json")))
hp = json.load(open(os.path.join(a.export, "training.json")))
V = cfg["vocab_size"]
assert cfg.get("share_embeddings", True), "this peer ties one shared table, as translate-small does"


model = Seq2Seq.from_config(cfg, dropout=hp["dropout"])
state = {torch_name(k): v for k, v in load_file(os.path.join(a.export, "model.safetensors")).items()}
missing, unexpected = model.load_state_dict(state, strict=False)
assert not missing and not unexpected, (missing, unexpected)
model.train()

decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
smoothing = hp["label_smoothing"]


def batches(path):
    """Yields (lr, [micro-batches]) per step from batches.bin."""
    with open(path, "rb") as f:
        magic = f.read(8)
        assert magic == b"GPTS2SB1", f"{path}: not a batches file"
        version, steps, micro = struct.unpack("<iii", f.read(12))
        assert version == 1, f"{path}: version {version}"
        for _ in range(steps):
            step, lr = [], None
            for _ in range(micro):
                lr, = struct.unpack("<f", f.read(4))
                b, s, t = struct.unpack("<iii", f.read(12))

                def ints(n, shape):
                    return torch.from_numpy(np.frombuffer(f.read(4 * n), dtype="<i4").astype(np.int64).reshape(shape))
                src = ints(b * s, (b, s)); sl = ints(b, (b,))
                tin = ints(b * t, (b, t)); tout = ints(b * t, (b, t)); tl = ints(b, (b,))
                step.append((src, sl, tin, tout, tl))
            yield lr, step


def save(directory):
    os.makedirs(directory, exist_ok=True)
    save_file({ours_name(n): p.detach().clone().contiguous() for n, p in model.named_parameters()},
              os.path.join(directory, "model.safetensors"))
    for name in os.listdir(a.export):
        if name not in ("model.safetensors", "batches.bin", "training.json"):
            shutil.copy(os.path.join(a.export, name), directory)


os.makedirs(a.out, exist_ok=True)
save_at = {int(x) for x in a.save_at.split(",") if x}
log = open(os.path.join(a.out, "metrics.jsonl"), "w")
times, spent, done = [], 0.0, 0
for lr, micro in batches(os.path.join(a.export, "batches.bin")):
    if (a.steps is not None and done >= a.steps) or (a.minutes is not None and spent >= 60 * a.minutes):
        break
    start = time.perf_counter()
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for src, sl, tin, tout, tl in micro:
        targets = max(int((tout >= 0).sum()), 1) * len(micro)  # each micro-batch's mean, averaged
        sp = torch.arange(src.shape[1])[None] >= sl[:, None]
        tp = torch.arange(tin.shape[1])[None] >= tl[:, None]
        logits = model(src, tin, sp, tp)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), tout.reshape(-1), ignore_index=-1,
                                           label_smoothing=smoothing, reduction="sum") / targets
        loss.backward()
        total += loss.item()
    if hp["grad_clip"] > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp["grad_clip"])
    opt.step()
    ms = 1000 * (time.perf_counter() - start)
    spent += ms / 1000
    times.append(ms)
    done += 1
    log.write(json.dumps({"step": done, "loss": total, "lr": lr, "ms": round(ms, 2)}) + "\n")
    if done % 50 == 0:
        log.flush()
        print(f"step {done} loss {total:.4f} lr {lr:.3g} {ms:.0f} ms (median {sorted(times)[len(times) // 2]:.0f})", flush=True)
    if done in save_at:
        save(os.path.join(a.out, f"step-{done}"))
save(os.path.join(a.out, "final"))
median = sorted(times)[len(times) // 2]
summary = {"steps": done, "step_seconds": spent, "median_step_ms": median, "steps_per_second": done / spent,
           "threads": a.threads, "torch": torch.__version__}
json.dump(summary, open(os.path.join(a.out, "summary.json"), "w"), indent=2)
print(json.dumps(summary))
