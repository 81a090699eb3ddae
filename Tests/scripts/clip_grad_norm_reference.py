#!/usr/bin/env python3
"""Expected values for GradientClippingTests.testClippingMatchesTorchClipGradNorm.

Three AdamW steps on the parameter layout of a tiny GPT (vocab 3, context 2, width 4, one
layer, one head: 272 parameters in ParameterLayout's order), each from a gradient given by a
formula and first clipped with torch.nn.utils.clip_grad_norm_(params, 1.0). The gradient norms
are about 2.6 (clipped), 0.26 (not clipped) and 52 (clipped), so both branches are taken and a
missing or wrong clip changes Adam's second and third steps.

Prints the Swift literals pasted into the test: the three norms clip_grad_norm_ returned and
the 272 weights after the third step. The test needs no torch; rerun this only to change the case.
Usage: python3 Tests/scripts/clip_grad_norm_reference.py   (torch 2.x, CPU)
"""
import math
import torch

V, T, C = 3, 2, 4
layout = [("wte.weight", [V, C]), ("wpe.weight", [T, C]),
          ("h.0.ln_1.weight", [C]), ("h.0.ln_1.bias", [C]),
          ("h.0.attn.c_attn.weight", [C, 3 * C]), ("h.0.attn.c_attn.bias", [3 * C]),
          ("h.0.attn.c_proj.weight", [C, C]), ("h.0.attn.c_proj.bias", [C]),
          ("h.0.ln_2.weight", [C]), ("h.0.ln_2.bias", [C]),
          ("h.0.mlp.c_fc.weight", [C, 4 * C]), ("h.0.mlp.c_fc.bias", [4 * C]),
          ("h.0.mlp.c_proj.weight", [4 * C, C]), ("h.0.mlp.c_proj.bias", [C]),
          ("ln_f.weight", [C]), ("ln_f.bias", [C])]
count = sum(math.prod(s) for _, s in layout)
assert count == 272

# The same formulas as the Swift test, in double (glibc's sin/cos, as Swift's), rounded to float32.
initial = [0.5 * math.sin(0.7 * i + 0.3) for i in range(count)]
scales = [1.0, 0.1, 20.0]
def gradient(step):
    return [scales[step] * 0.05 * math.cos(1.3 * i + 0.5 * step) * (1 + i % 7) for i in range(count)]

def run(clip):
    params, offset = [], 0
    for _, shape in layout:
        n = math.prod(shape)
        params.append(torch.tensor(initial[offset:offset + n], dtype=torch.float32).reshape(shape).requires_grad_())
        offset += n
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    norms = []
    for step in range(3):
        g, offset = gradient(step), 0
        for p in params:
            p.grad = torch.tensor(g[offset:offset + p.numel()], dtype=torch.float32).reshape(p.shape)
            offset += p.numel()
        if clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
        opt.step()
    return norms, torch.cat([p.detach().flatten() for p in params]).tolist()

norms, weights = run(clip=True)
_, unclipped = run(clip=False)
print("// clip_grad_norm_ returned:", ", ".join(f"{n:.9g}" for n in norms))
print("// without clipping the weights would differ by up to",
      f"{max(abs(a - b) for a, b in zip(weights, unclipped)):.3g}")
print("static let norms: [Double] = [" + ", ".join(f"{n:.9g}" for n in norms) + "]")
print("static let weights: [Float] = [")
for i in range(0, count, 8):
    print("    " + ", ".join(f"{w:.9g}" for w in weights[i:i + 8]) + ",")
print("]")
