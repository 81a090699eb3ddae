# Prints the PyTorch numbers that LabelSmoothedCrossEntropyTests holds inline:
# F.cross_entropy(logits, targets, label_smoothing=eps, ignore_index=pad) (reduction 'mean')
# and its gradient with respect to the logits, in float32.
# Logits are a formula both sides evaluate in double and round to float32:
#   x[i] = 4·sin(0.7·i + 0.3) + 0.5·cos(1.3·i), i the flat index into [N, V].
# Run: python3 Tests/scripts/label_smoothed_cross_entropy_reference.py  (made with torch 2.13.0+cpu)
import math

import torch
import torch.nn.functional as F

CASES = [  # (name, N, V, eps, ignore_index, targets)
    ("n6v7", 6, 7, 0.1, 0, [3, 0, 6, 1, 0, 2]),
    ("n5v33", 5, 33, 0.2, 1, [32, 1, 0, 17, 5]),
    ("n3v20", 3, 20, 0.0, -100, [4, -100, 19]),
]

for name, n, v, eps, pad, targets in CASES:
    x = torch.tensor([4 * math.sin(0.7 * i + 0.3) + 0.5 * math.cos(1.3 * i) for i in range(n * v)],
                     dtype=torch.float32).reshape(n, v).requires_grad_()
    loss = F.cross_entropy(x, torch.tensor(targets), label_smoothing=eps, ignore_index=pad)
    loss.backward()
    grad = ", ".join(f"{g:.9g}" for g in x.grad.flatten().tolist())
    print(f'("{name}", {n}, {v}, {eps}, {pad}, {targets}, {loss.item():.9g}, [{grad}]),')
