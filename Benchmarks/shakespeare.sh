#!/usr/bin/env bash
# nanoGPT's shakespeare-char CPU configuration, trained by swift-gpt and then, where PyTorch
# is installed, by the same model and loop in PyTorch (Benchmarks/peers.py), same threads.
# Usage: Benchmarks/shakespeare.sh [THREADS] [SEEDS...]   (default: all cores, seeds 1 2 3)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}; shift || true
seeds=${*:-1 2 3}
data=../shared/data/tinyshakespeare.txt
swift build -c release --product gpt >/dev/null
for seed in $seeds; do
  out=$(mktemp -d)
  start=$(date +%s.%N)
  .build/release/gpt train --preset shakespeare-char-cpu --data "$data" --seed "$seed" --threads "$threads" --out "$out" >/dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  python3 - "$out/metrics.jsonl" "$seed" "$wall" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms = statistics.median(768 / r["tokens_per_sec"] * 1000 for r in rows if "tokens_per_sec" in r and r["tokens_per_sec"] > 0)
last = rows[-1]
print(f"swift-gpt seed={sys.argv[2]}: {ms:.1f} ms/step (median), {float(sys.argv[3]):.0f} s wall with evaluations, "
      f"train {last['eval_train_loss']:.4f}, val {last['val_loss']:.4f}")
PY
  rm -rf "$out"
done
if python3 -c "import torch" 2>/dev/null; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Benchmarks/peers.py shakespeare --data "$data" --threads "$threads" | head -1
fi
