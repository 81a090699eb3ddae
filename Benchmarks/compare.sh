#!/usr/bin/env bash
# Runs our benchmarks and, right after, the same work in numpy and PyTorch at the same
# thread count, then prints the ratios. Needs: pip install numpy torch threadpoolctl.
# Usage: Benchmarks/compare.sh [matmul|train-step|generate|all] [THREADS]
# (generate also needs pip install transformers)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
threads=${2:-$(nproc)}
swift build -c release --product gpt >/dev/null
gpt=.build/release/gpt
out=$(mktemp -d)
# OpenBLAS is pinned to an old core type on some machines here; unset for a fair numpy figure.
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Benchmarks/peers.py "$@"; }

if [[ $what == matmul || $what == all ]]; then
  "$gpt" bench matmul --threads "$threads" --json | tee "$out/ours.txt"
  peer matmul --threads "$threads" | tee "$out/peers.txt"
  python3 - "$out/ours.txt" "$out/peers.txt" <<'PY'
import json, sys
ours = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["results"]
peers = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])["results"]
key = lambda r: (r["op"], r["k"], r["n"], r["threads"])
peer = {(r["peer"],) + key(r): r["gflops"] for r in peers}
print(f"\n{'op':16} {'K':>5} {'N':>6} {'thr':>3} {'ours':>7} {'numpy':>7} {'torch':>7} {'/numpy':>7} {'/torch':>7}")
for r in ours:
    n, t = peer.get(("numpy",) + key(r)), peer.get(("torch",) + key(r))
    if n is None: continue
    print(f"{r['op']:16} {r['k']:5} {r['n']:6} {r['threads']:3} {r['gflops']:7.1f} {n:7.1f} {t:7.1f} {r['gflops']/n:7.2f} {r['gflops']/t:7.2f}")
PY
fi

if [[ $what == train-step || $what == all ]]; then
  for seq in 64 256; do
    "$gpt" bench train-step --model gpt2 --batch 4 --seq $seq --threads "$threads" --json 2>/dev/null | tee "$out/ours.txt"
    peer train-step --batch 4 --seq $seq --threads "$threads" | tee "$out/peers.txt"
    python3 - "$out/ours.txt" "$out/peers.txt" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(f"train step B={o['batch']} T={o['seq']} threads={o['threads']}: ours {o['ms_per_step']:.0f} ms, torch {t['ms_per_step']:.0f} ms "
      f"-> {t['ms_per_step']/o['ms_per_step']:.2f}x faster; peak RSS ours {o['peak_rss_mb']:.0f} MB, torch {t['peak_rss_mb']:.0f} MB\n")
PY
  done
fi
if [[ $what == generate || $what == all ]]; then
  for t in 1 "$threads"; do
    # Both sides report the median of 5 decode runs (min–max beside it).
    "$gpt" bench generate --threads "$t" --repeats 5 --json | tee "$out/ours.txt"
    peer generate --threads "$t" --repeats 5 | tee "$out/peers.txt"
    python3 - "$out/ours.txt" "$out/peers.txt" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
span = lambda r: f"{r.get('decode_tokens_per_sec_min', float('nan')):.1f}-{r.get('decode_tokens_per_sec_max', float('nan')):.1f}"
print(f"generate threads={o['threads']}: decode (medians of {o.get('decode_runs', 1)}) ours {o['decode_tokens_per_sec']:.1f} tok/s "
      f"({span(o)}), transformers {t['decode_tokens_per_sec']:.1f} ({span(t)}) -> "
      f"{o['decode_tokens_per_sec']/t['decode_tokens_per_sec']:.2f}x; prefill ours "
      f"{o['prefill_ms']:.0f} ms, transformers {t['prefill_ms']:.0f} ms -> {t['prefill_ms']/o['prefill_ms']:.2f}x\n")
PY
  done
fi
rm -rf "$out"
