#!/usr/bin/env bash
# Data-parallel scaling on one machine: tokens/s of 1 process × 1 thread, 1 process × 2 threads and
# 2 MPI ranks × 1 thread, every step on the same global batch (2 micro-batches: grad_accumulation 2
# in one process, 1 per rank); the ranks split the optimizer step in shared memory (the default on
# one machine) and, for comparison, all-reduce the gradients through MPI (GPT_MPI_SHARED_MEMORY=0);
# for GPT-2 124M (B=4, T=64) and nanoGPT's shakespeare-char CPU configuration; then the all-reduce of GPT-2 124M's gradient alone. Run it under the build lock.
# Usage: Benchmarks/mpi_scaling.sh PATH/TO/gpt-built-with-MPI [gpt2 steps] [shakespeare steps]
set -euo pipefail
gpt=$(realpath "$1"); gpt2_steps=${2:-8}; char_steps=${3:-60}
shared=$(realpath "${SHARED:-$(dirname "$0")/../../shared}")
text=$shared/data/tinyshakespeare.txt; ranks=$shared/data/gpt2.tiktoken
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mpirun_2=(mpirun --allow-run-as-root --oversubscribe -np 2)
summary() {  # median over the steps after the first two: tokens/s, the gradient exchange not hidden by backward
  python3 - "$1" "$2" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")][2:]
tps = statistics.median(r["tokens_per_sec"] for r in rows)
wait = [r["allreduce_wait_ms"] for r in rows if "allreduce_wait_ms" in r]
print(f"{sys.argv[2]:<28} {tps:9.1f} tok/s" + (f"   exchange after backward: median {statistics.median(wait):.1f} ms/step" if wait else ""))
PY
}
measure() {  # label, steps, then gpt train arguments
  local label=$1 steps=$2; shift 2
  "$gpt" train "$@" --steps "$steps" --set grad_accumulation=2 --threads 1 --out "$work/a" --overwrite > "$work/a.log" 2>&1 || { cat "$work/a.log"; exit 1; }
  summary "$work/a" "$label 1 proc × 1 thread"
  "$gpt" train "$@" --steps "$steps" --set grad_accumulation=2 --threads 2 --out "$work/b" --overwrite > "$work/b.log" 2>&1 || { cat "$work/b.log"; exit 1; }
  summary "$work/b" "$label 1 proc × 2 threads"
  "${mpirun_2[@]}" "$gpt" train "$@" --steps "$steps" --set grad_accumulation=1 --threads 1 --out "$work/c" --overwrite > "$work/c.log" 2>&1 || { cat "$work/c.log"; exit 1; }
  summary "$work/c" "$label 2 ranks × 1 thread"
  "${mpirun_2[@]}" -x GPT_MPI_SHARED_MEMORY=0 "$gpt" train "$@" --steps "$steps" --set grad_accumulation=1 --threads 1 --out "$work/d" --overwrite > "$work/d.log" 2>&1 || { cat "$work/d.log"; exit 1; }
  summary "$work/d" "$label 2 ranks (all-reduce)"
}
date -u
measure "gpt2-124m B=4 T=64:" "$gpt2_steps" --preset gpt2-124m --data "$text" --tokenizer "$ranks" --set n_positions=64 --set batch_size=4 --eval-every 0
measure "shakespeare-char-cpu:" "$char_steps" --preset shakespeare-char-cpu --data "$text" --eval-every 0
"${mpirun_2[@]}" "$gpt" bench allreduce --repeats 5
"${mpirun_2[@]}" "$gpt" bench allreduce --repeats 5 --floats 809344
