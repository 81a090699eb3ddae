#!/usr/bin/env bash
# Steps/s of the shakespeare-char CPU configuration, ours against the same model and loop in
# PyTorch (Benchmarks/peers.py shakespeare), alternating the two ROUNDS times in one run and
# printing each side's median ms/step and the ratio. With --busy, a second process spins on
# core 1 for the whole run (a busy neighbour on a shared machine); it is stopped at exit.
# Usage: Benchmarks/shakespeare_speed.sh [--busy] [THREADS] [ROUNDS] [STEPS]   (default: all cores, 3, 300)
set -euo pipefail
cd "$(dirname "$0")/.."
busy=0
if [[ ${1:-} == --busy ]]; then busy=1; shift; fi
threads=${1:-$(nproc)}; rounds=${2:-3}; steps=${3:-300}
data=../shared/data/tinyshakespeare.txt
gpt=${GPT:-.build/release/gpt}
[[ -x $gpt ]] || swift build -c release --product gpt >/dev/null
work=$(mktemp -d)
spinner=
cleanup() { [[ -n $spinner ]] && kill "$spinner" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if (( busy )); then
  taskset -c 1 sh -c 'while :; do :; done' & spinner=$!
fi
has_torch=0; python3 -c "import torch" 2>/dev/null && has_torch=1
for round in $(seq "$rounds"); do
  rm -rf "$work/run"
  "$gpt" train --preset shakespeare-char-cpu --data "$data" --seed 1 --threads "$threads" --steps "$steps" \
    --eval-every "$steps" --out "$work/run" >/dev/null 2>&1
  python3 - "$work/run/metrics.jsonl" >>"$work/ours.txt" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(statistics.median(768 / r["tokens_per_sec"] * 1000 for r in rows[2:] if r.get("tokens_per_sec", 0) > 0))
PY
  echo "round $round: ours $(tail -1 "$work/ours.txt") ms/step" >&2
  if (( has_torch )); then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Benchmarks/peers.py shakespeare --data "$data" \
      --threads "$threads" --steps "$steps" --seed 1 2>/dev/null | tail -1 \
      | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["ms_per_step"])' >>"$work/torch.txt"
    echo "round $round: torch $(tail -1 "$work/torch.txt") ms/step" >&2
  fi
done
python3 - "$work" "$threads" "$rounds" "$steps" "$busy" "$has_torch" <<'PY'
import json, statistics, sys
work, threads, rounds, steps, busy, has_torch = sys.argv[1], *map(int, sys.argv[2:])
ours = [float(l) for l in open(f"{work}/ours.txt")]
result = {"threads": threads, "rounds": rounds, "steps": steps, "busy_neighbour": bool(busy),
          "ours_ms_per_step": round(statistics.median(ours), 2), "ours_runs": ours}
line = f"shakespeare-char-cpu threads={threads}{' busy neighbour' if busy else ''}: ours {statistics.median(ours):.1f} ms/step"
if has_torch:
    torch = [float(l) for l in open(f"{work}/torch.txt")]
    result.update(torch_ms_per_step=round(statistics.median(torch), 2), torch_runs=torch,
                  ratio=round(statistics.median(torch) / statistics.median(ours), 2))
    line += f", torch {statistics.median(torch):.1f} ms/step -> {result['ratio']:.2f}x torch's steps/s"
print(line)
print(json.dumps(result))
PY
