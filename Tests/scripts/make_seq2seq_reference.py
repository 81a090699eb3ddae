#!/usr/bin/env python3
"""Make encoder-decoder Transformer reference tensors with PyTorch's nn.Transformer.

The Seq2Seq parity test (Tests/GPTCoreTests/Seq2SeqParityTests.swift) loads what this writes
and checks our model against an independent one: same weights, same padded batch, then
logits, loss, every gradient, the weights after one AdamW step, and ten training losses.

The model: torch_seq2seq.Seq2Seq beside this script (nn.Transformer between embedding tables
scaled by sqrt(d_model) plus sinusoids, output tied to the target table), with dropout 0. With
--share, one table `shared.weight` is the source embedding, the target embedding and the output
projection (the paper's three-way tying, joint vocabulary); otherwise `src_embed.weight` and
`tgt_embed.weight`.

Masks: source padding (src_key_padding_mask, also memory_key_padding_mask for
cross-attention), and causal plus target padding in the decoder's self-attention. Every
sequence has at least one token, so no query row is fully masked (PyTorch gives NaN there).

Writes OUT_DIR/model.safetensors (nn.Transformer's own state_dict names, e.g.
`encoder.layers.0.self_attn.in_proj_weight` [3d, d] stored [out, in] as torch does, plus the
embedding names above), OUT_DIR/config.json (Seq2SeqConfig's keys), and
OUT_DIR/reference.safetensors + reference.json:
  source [B, S] int64 (padded with pad id 0), source_lengths [B], target_input [B, T]
  (BOS then the target shifted right), targets [B, T] (-1 at padding), target_lengths [B],
  logits [B, T, V], loss [1] (mean cross-entropy over non-padding targets), grad.NAME,
  after_step.NAME (torch.optim.AdamW, decay on tensors of 2+ dims), losses [10].

Before the reference step the model is trained --warm-steps AdamW steps on a reversal task
of other random batches, so attention is peaked and no gradient is near zero by accident.

Usage: python3 Tests/scripts/make_seq2seq_reference.py OUT_DIR [--d 24 --heads 3 ...]
The committed fixtures (Tests/fixtures/seq2seq/*) were made by:
  python3 Tests/scripts/make_seq2seq_reference.py Tests/fixtures/seq2seq/post-ln-shared \
      --vocab 37 --d 24 --heads 3 --ff 40 --enc 2 --dec 1 --share --seed 17
  python3 Tests/scripts/make_seq2seq_reference.py Tests/fixtures/seq2seq/pre-ln-separate \
      --vocab 29 --d 18 --heads 3 --ff 26 --enc 1 --dec 2 --norm-first --seed 23
  python3 Tests/scripts/make_seq2seq_reference.py Tests/fixtures/seq2seq/post-ln-no-final-norm \
      --vocab 31 --d 20 --heads 4 --ff 30 --enc 2 --dec 2 --share --no-final-norm --seed 29
"""
import argparse, json, os
import torch
import torch.nn as nn
from safetensors.torch import save_file
from torch_seq2seq import Seq2Seq, ours_name

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--seed", type=int, default=17)
p.add_argument("--vocab", type=int, default=37)
p.add_argument("--d", type=int, default=24)
p.add_argument("--heads", type=int, default=3)
p.add_argument("--ff", type=int, default=40)
p.add_argument("--enc", type=int, default=2)
p.add_argument("--dec", type=int, default=1)
p.add_argument("--positions", type=int, default=16)
p.add_argument("--norm-first", action="store_true")
p.add_argument("--share", action="store_true")
p.add_argument("--no-final-norm", action="store_true", help="drop encoder.norm and decoder.norm (Marian's layout)")
p.add_argument("--source-lengths", default="7,5,3")
p.add_argument("--target-lengths", default="4,6,2")
p.add_argument("--warm-steps", type=int, default=300)
a = p.parse_args()

PAD, BOS, EOS = 0, 1, 2
torch.manual_seed(a.seed)


model = Seq2Seq(a.vocab, a.d, a.heads, a.ff, a.enc, a.dec, a.positions, dropout=0.0, norm_first=a.norm_first,
                final_norm=not a.no_final_norm, share=a.share).float()
with torch.no_grad():
    for n, t in model.named_parameters():
        if "embed" in n or "shared" in n:
            t.normal_(0, a.d ** -0.5)
        elif n.endswith("bias") or "norm" in n:
            # Non-trivial LayerNorm gains and biases, so a bug in their use shows.
            t.add_(0.1 * torch.randn_like(t))
model.train()  # dropout is 0, so train mode is deterministic


def batch(gen, src_lengths, tgt_lengths):
    """Right-padded random sequences; the target is the reversed source's first tokens."""
    b = len(src_lengths)
    S, T = max(src_lengths), max(tgt_lengths)
    src = torch.full((b, S), PAD, dtype=torch.int64)
    tin = torch.full((b, T), PAD, dtype=torch.int64)
    tout = torch.full((b, T), -1, dtype=torch.int64)
    for r in range(b):
        s = torch.randint(3, a.vocab, (src_lengths[r],), generator=gen)
        src[r, : src_lengths[r]] = s
        y = list(reversed(s.tolist()))[: tgt_lengths[r] - 1] + [EOS]
        y = (y + [EOS] * tgt_lengths[r])[: tgt_lengths[r]]
        tout[r, : tgt_lengths[r]] = torch.tensor(y)
        tin[r, : tgt_lengths[r]] = torch.tensor([BOS] + y[:-1])
    src_pad = torch.arange(S)[None, :] >= torch.tensor(src_lengths)[:, None]
    tgt_pad = torch.arange(T)[None, :] >= torch.tensor(tgt_lengths)[:, None]
    return src, tin, tout, src_pad, tgt_pad


def loss_of(logits, targets):
    return nn.functional.cross_entropy(logits.reshape(-1, a.vocab), targets.reshape(-1), ignore_index=-1)


src_lengths = [int(x) for x in a.source_lengths.split(",")]
tgt_lengths = [int(x) for x in a.target_lengths.split(",")]
assert max(src_lengths) <= a.positions and max(tgt_lengths) <= a.positions and min(src_lengths + tgt_lengths) >= 1

if a.warm_steps:
    gw = torch.Generator().manual_seed(a.seed + 2)
    warm = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(a.warm_steps):
        ls = torch.randint(2, a.positions // 2, (4,), generator=gw).tolist()
        src, tin, tout, sp, tp = batch(gw, ls, ls)
        l = loss_of(model(src, tin, sp, tp), tout)
        warm.zero_grad(set_to_none=True); l.backward(); warm.step()
    model.zero_grad(set_to_none=True)

params = dict(model.named_parameters())



os.makedirs(a.out, exist_ok=True)
save_file({ours_name(n): t.detach().clone().contiguous() for n, t in params.items()},
          os.path.join(a.out, "model.safetensors"))
config = {"model_type": "transformer", "vocab_size": a.vocab, "d_model": a.d, "n_head": a.heads,
          "dim_feedforward": a.ff, "num_encoder_layers": a.enc, "num_decoder_layers": a.dec,
          "dropout": 0.0, "max_position_embeddings": a.positions, "norm_first": a.norm_first,
          "share_embeddings": a.share, "final_norm": not a.no_final_norm, "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
          "layer_norm_eps": 1e-5}
with open(os.path.join(a.out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)

g = torch.Generator().manual_seed(a.seed + 1)
src, tin, tout, src_pad, tgt_pad = batch(g, src_lengths, tgt_lengths)
logits = model(src, tin, src_pad, tgt_pad)
loss = loss_of(logits, tout)
loss.backward()

ref = {"source": src, "source_lengths": torch.tensor(src_lengths, dtype=torch.int64),
       "target_input": tin, "targets": tout, "target_lengths": torch.tensor(tgt_lengths, dtype=torch.int64),
       "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
for n, t in params.items():
    ref["grad." + ours_name(n)] = t.grad.detach().clone().contiguous()

hp = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.98, "eps": 1e-8, "weight_decay": 0.1}
decay = [t for t in params.values() if t.dim() >= 2]
no_decay = [t for t in params.values() if t.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                         {"params": no_decay, "weight_decay": 0.0}],
                        lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
opt.step()
for n, t in params.items():
    ref["after_step." + ours_name(n)] = t.detach().clone().contiguous()
losses = [loss.item()]
for _ in range(9):
    opt.zero_grad(set_to_none=True)
    l = loss_of(model(src, tin, src_pad, tgt_pad), tout)
    l.backward(); opt.step(); losses.append(l.item())
ref["losses"] = torch.tensor(losses, dtype=torch.float32)
save_file(ref, os.path.join(a.out, "reference.safetensors"))
meta = {"config": config, "batch": len(src_lengths), "source_length": src.shape[1], "target_length": tin.shape[1],
        "seed": a.seed, "warm_steps": a.warm_steps, "adamw": hp,
        "adamw_decay": "weight_decay on every parameter with 2 or more dimensions; none on biases and LayerNorm",
        "losses_note": "losses[0] is the loss before any step; losses[i] the loss on the same batch after i AdamW steps",
        "names": "nn.Transformer state_dict names (Linear weights [out, in]) plus shared.weight or src_embed.weight/tgt_embed.weight",
        "torch": torch.__version__}
with open(os.path.join(a.out, "reference.json"), "w") as f:
    json.dump(meta, f, indent=2)
print(a.out, "loss", losses[0], "->", losses[-1])
