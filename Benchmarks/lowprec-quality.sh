#!/usr/bin/env bash
# Quality of the low-precision weight formats against fp32 on a trained checkpoint:
# perplexity on held-out text (`gpt eval --dtype`), and the share of 100-token greedy
# continuations of 20 held-out prompts identical to fp32's (`gpt sample --dtype`).
# Usage: Benchmarks/lowprec-quality.sh CHECKPOINT HELDOUT [GPT] [THREADS] [PROMPT_TEXT]
#   HELDOUT: text (or a `gpt prepare` directory, its validation split) the model was not trained on;
#   PROMPT_TEXT: where the prompts come from (default HELDOUT, which must then be text).
#   For a run trained on a text FILE with --data, the last 10 % of FILE's bytes is its validation
#   split: `tail -c $(( $(wc -c < FILE) / 10 )) FILE`.
set -euo pipefail
checkpoint=$1; heldout=$2; gpt=${3:-.build/release/gpt}; threads=${4:-2}; prompts=${5:-$2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
formats=(fp32 bf16 f16 q8_0)

# 20 prompts: held-out lines of 20+ characters, evenly spaced through the file, cut to 40 characters.
python3 - "$prompts" > "$out/prompts.txt" <<'PY'
import sys
lines = [l.rstrip("\n")[:40] for l in open(sys.argv[1], encoding="utf-8") if len(l.strip()) >= 20]
step = max(1, len(lines) // 20)
for l in lines[::step][:20]: print(l)
PY

for f in "${formats[@]}"; do
  "$gpt" eval --checkpoint "$checkpoint" --data "$heldout" --dtype "$f" --threads "$threads" --json 2>/dev/null | tail -1 > "$out/eval-$f.json"
  : > "$out/greedy-$f.txt"
  while IFS= read -r prompt; do
    "$gpt" sample --checkpoint "$checkpoint" --prompt "$prompt" --max-new-tokens 100 --temperature 0 --dtype "$f" \
      --threads "$threads" --json 2>/dev/null | tail -1 >> "$out/greedy-$f.txt"
  done < "$out/prompts.txt"
done

python3 - "$out" "${formats[@]}" <<'PY'
import json, sys
out, formats = sys.argv[1], sys.argv[2:]
ppl = {f: json.load(open(f"{out}/eval-{f}.json")) for f in formats}
ids = {f: [json.loads(l)["samples"][0]["ids"] for l in open(f"{out}/greedy-{f}.txt")] for f in formats}
base = ppl["fp32"]["perplexity"]
print(f"held-out tokens: {ppl['fp32']['tokens']}, prompts: {len(ids['fp32'])}")
print(f"| dtype | loss | perplexity | vs fp32 | identical 100-token greedy continuations | tokens agreeing before the first difference |")
print(f"|---|---:|---:|---:|---:|---:|")
for f in formats:
    same = sum(a == b for a, b in zip(ids[f], ids["fp32"]))
    prefix = []
    for a, b in zip(ids[f], ids["fp32"]):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]: n += 1
        prefix.append(n)
    p = ppl[f]["perplexity"]
    print(f"| {f} | {ppl[f]['loss']:.5f} | {p:.4f} | {100 * (p / base - 1):+.3f} % | {same} / {len(ids[f])} | "
          f"mean {sum(prefix) / len(prefix):.1f} |")
PY
