#!/usr/bin/env bash
# nanoGPT's shakespeare-char CPU configuration, trained by swift-gpt and then, where PyTorch
# is installed, by the same model and loop in PyTorch (Benchmarks/peers.py), same threads and seeds.
# Each final model is scored twice: on the run's own 20 evaluation batches (nanoGPT's CPU eval_iters),
# and on every non-overlapping window of the validation split (111 K characters, no sampling noise).
# Usage: Benchmarks/shakespeare.sh [THREADS] [SEEDS...]   (default: all cores, seeds 1 2 3 1337)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}; shift || true
seeds=${*:-1 2 3 1337}
data=../shared/data/tinyshakespeare.txt
swift build -c release --product gpt >/dev/null
results=$(mktemp)
trap 'rm -f "$results"' EXIT
torch=false; python3 -c "import torch" 2>/dev/null && torch=true
for seed in $seeds; do
  out=$(mktemp -d)
  start=$(date +%s.%N)
  .build/release/gpt train --preset shakespeare-char-cpu --data "$data" --seed "$seed" --threads "$threads" --out "$out" >/dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  whole=null
  if $torch; then
    whole=$(python3 Benchmarks/peers.py shakespeare-eval --data "$data" --checkpoint "$out/checkpoint" --threads "$threads" | tail -1 |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["full_val_loss"])')
  fi
  python3 - "$out/metrics.jsonl" "$seed" "$wall" "$whole" >> "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms = statistics.median(768 / r["tokens_per_sec"] * 1000 for r in rows if "tokens_per_sec" in r and r["tokens_per_sec"] > 0)
last = rows[-1]
print(json.dumps({"who": "swift-gpt", "seed": int(sys.argv[2]), "ms_per_step": round(ms, 2), "wall_s": round(float(sys.argv[3]), 1),
                  "train_loss": last["eval_train_loss"], "val_loss": last["val_loss"], "full_val_loss": json.loads(sys.argv[4])}))
PY
  rm -rf "$out"
  if $torch; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Benchmarks/peers.py shakespeare --data "$data" --threads "$threads" \
      --seed "$seed" 2>/dev/null | tail -1 | python3 -c 'import json,sys; r=json.load(sys.stdin); r["who"]="PyTorch"; r["seed"]=int(sys.argv[1]); print(json.dumps(r))' "$seed" >> "$results"
  fi
  tail -n $($torch && echo 2 || echo 1) "$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for who in ["swift-gpt", "PyTorch"]:
    mine = [r for r in rows if r["who"] == who]
    if not mine: continue
    line = f"{who:9}  ms/step {statistics.median(r['ms_per_step'] for r in mine):6.1f}  val (20 batches) " \
           + " ".join(f"{r['val_loss']:.4f}" for r in mine) + f" → mean {statistics.mean(r['val_loss'] for r in mine):.4f}"
    if all(r.get("full_val_loss") is not None for r in mine):
        line += "  whole val split " + " ".join(f"{r['full_val_loss']:.4f}" for r in mine) \
                + f" → mean {statistics.mean(r['full_val_loss'] for r in mine):.4f}"
    print(line)
PY
