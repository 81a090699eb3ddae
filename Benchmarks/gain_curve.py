#!/usr/bin/env python3
"""The tables and the gain curve of Benchmarks/pretrain_finetune.sh.

Usage: gain_curve.py WORK_DIR FINAL_STEP SEED...

Reads WORK_DIR/results/*.json (one `gpt finetune classify --json` line each) and the pre-training
run's config, prints the mean test accuracy of (a) and (b) per data set, and writes:
- WORK_DIR/gain.tsv: pre-training step, tokens seen, (b) per seed, mean (b), gain (b) − (a) on all of rt-polarity;
- WORK_DIR/gain.svg: the gain against tokens seen, with the +3-point target drawn.
"""
import json, os, statistics, sys

work, final_step, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def accuracy(name):
    path = os.path.join(work, "results", name + ".json")
    if not os.path.exists(path):
        return None
    return 100 * json.load(open(path))["test_accuracy"]


config = json.load(open(os.path.join(work, "pretrain", "config.json")))
tokens_per_step = config["batch_size"] * config["n_positions"] * config.get("grad_accumulation", 1)

print(f"\n{'data':18} {'(a) random init':>28} {'(b) pre-trained':>28} {'(b) − (a)':>10}")
for data in ["rt-polarity", "rt-polarity-3000", "rt-polarity-1000"]:
    a = [accuracy(f"{data}-a-{s}") for s in seeds]
    b = [accuracy(f"{data}-b-{s}") for s in seeds]
    if None in a or None in b:
        continue
    cell = lambda xs: " / ".join(f"{x:.1f}" for x in xs) + f" → {statistics.mean(xs):.1f}"
    print(f"{data:18} {cell(a):>28} {cell(b):>28} {statistics.mean(b) - statistics.mean(a):>+10.1f}")

# Each point: (b) over the seeds fine-tuned from that checkpoint, minus (a) over the same seeds. The curve
# uses the seeds every point has (the curve's seeds), so that its points differ only in pre-training;
# the final checkpoint's mean over all seeds is drawn beside it.
steps = sorted({int(n.split("-")[1]) for n in os.listdir(os.path.join(work, "results"))
                if n.startswith("curve-") and n.endswith(".json")})  # not a running one's .json.tmp
curve_name = lambda step, s: f"rt-polarity-b-{s}" if step == final_step else f"curve-{step}-b-{s}"
has = lambda step, s: accuracy(curve_name(step, s)) is not None and accuracy(f"rt-polarity-a-{s}") is not None
curve_seeds = [s for s in seeds if all(has(step, s) for step in steps + [final_step])]


def point(step, chosen):
    b = [accuracy(curve_name(step, s)) for s in chosen]
    gain = statistics.mean(b) - statistics.mean(accuracy(f"rt-polarity-a-{s}") for s in chosen)
    return (step, step * tokens_per_step, chosen, b, gain)


points = [point(step, curve_seeds) for step in steps + [final_step]] if curve_seeds else []
all_seeds = [s for s in seeds if has(final_step, s)]
final_all = point(final_step, all_seeds) if all_seeds else None

with open(os.path.join(work, "gain.tsv"), "w") as f:
    f.write("step\ttokens\tseeds\tb_accuracies\tmean_b\tgain\n")
    for step, tokens, done, b, gain in points:
        f.write(f"{step}\t{tokens}\t{','.join(done)}\t" + ",".join(f"{x:.2f}" for x in b)
                + f"\t{statistics.mean(b):.2f}\t{gain:+.2f}\n")
print("\nGain of (b) over (a) on all of rt-polarity, by pre-training tokens seen (same seeds on both sides):")
for step, tokens, done, b, gain in points + ([final_all] if final_all and final_all[2] != curve_seeds else []):
    print(f"  step {step:6}  {tokens / 1e6:7.2f} M tokens  seeds {','.join(done):8}  (b) {statistics.mean(b):.2f} %  gain {gain:+.2f}")

# The curve: x = tokens seen (millions, linear from 0), y = gain in points, target +3 dashed.
W, H, L, R, T, B = 640, 360, 64, 24, 40, 52
xmax = max(p[1] for p in points) / 1e6 if points else 1
ys = [p[-1] for p in points] + [0, 3] + ([final_all[-1]] if final_all else [])
ymin, ymax = min(ys) - 1, max(ys) + 1
X = lambda v: L + (W - L - R) * v / xmax
Y = lambda v: T + (H - T - B) * (ymax - v) / (ymax - ymin)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">Fine-tuning gain on rt-polarity, (b) − (a): '
       f'{"seed" if len(curve_seeds) == 1 else "seeds"} {", ".join(curve_seeds)}</text>',
       f'<line x1="{L}" y1="{Y(0)}" x2="{W - R}" y2="{Y(0)}" stroke="#888"/>',
       f'<line x1="{L}" y1="{Y(3)}" x2="{W - R}" y2="{Y(3)}" stroke="#c33" stroke-dasharray="6 4"/>',
       f'<text x="{W - R}" y="{Y(3) - 5}" text-anchor="end" fill="#c33">target +3</text>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
       f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
       f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">pre-training tokens seen (millions)</text>',
       f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 {(T + H - B) / 2})">'
       'gain (accuracy points)</text>']
for i in range(6):
    v = xmax * i / 5
    svg.append(f'<text x="{X(v)}" y="{H - B + 16}" text-anchor="middle">{v:.1f}</text>')
for v in range(int(ymin), int(ymax) + 1):
    svg.append(f'<text x="{L - 6}" y="{Y(v) + 4}" text-anchor="end">{v:+d}</text>')
if points:
    svg.append('<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="'
               + " ".join(f"{X(t / 1e6):.1f},{Y(g):.1f}" for _, t, _, _, g in points) + '"/>')
    for _, t, _, _, g in points:
        svg.append(f'<circle cx="{X(t / 1e6):.1f}" cy="{Y(g):.1f}" r="4" fill="#1f6feb"/>')
if final_all and len(all_seeds) > len(curve_seeds):
    x, y = X(final_all[1] / 1e6), Y(final_all[-1])
    svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="none" stroke="#333" stroke-width="2"/>')
    svg.append(f'<text x="{x - 8:.1f}" y="{y + 18:.1f}" text-anchor="end">mean of seeds {", ".join(all_seeds)}</text>')
svg.append("</svg>")
open(os.path.join(work, "gain.svg"), "w").write("\n".join(svg) + "\n")
print(f"wrote {os.path.join(work, 'gain.tsv')} and gain.svg")
