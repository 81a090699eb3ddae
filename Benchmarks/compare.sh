#!/usr/bin/env bash
# Runs our benchmarks and, right after, the same work in numpy and PyTorch at the same
# thread count, each peer in its own process, then prints the ratios. Needs: pip install numpy torch threadpoolctl.
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

# PyTorch's BLAS is MKL, which on an AMD CPU takes a generic code path unless told otherwise.
# Each configuration runs in its own process; the table shows the default one and the fastest.
#   default   as installed
#   avx512    MKL_ENABLE_INSTRUCTIONS=AVX512 (asks MKL for AVX-512; it may decline on AMD)
#   intel     MKL's CPU-vendor check answered "Intel" by a preloaded one-function library, so it
#             dispatches its AVX-512 kernels (built below with cc; skipped if there is no compiler)
torch_env() {
  local config=$1; shift
  local unset=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  case $config in
    default) env "${unset[@]}" "$@" ;;
    avx512) env "${unset[@]}" MKL_ENABLE_INSTRUCTIONS=AVX512 "$@" ;;
    intel) env "${unset[@]}" LD_PRELOAD="$out/mkl_intel_cpu.so" MKL_ENABLE_INSTRUCTIONS=AVX512 "$@" ;;
  esac
}
torch_configs="default avx512"
if printf 'int mkl_serv_intel_cpu_true(void) { return 1; }\n' | cc -shared -fPIC -x c - -o "$out/mkl_intel_cpu.so" 2>/dev/null; then
  torch_configs="$torch_configs intel"
fi
torch_peer() { local config=$1; shift; torch_env "$config" python3 Benchmarks/peers.py "$@"; }

if [[ $what == matmul || $what == all ]]; then
  "$gpt" bench matmul --threads "$threads" --json | tee "$out/ours.txt"
  peer matmul --peer numpy --threads "$threads" | tee "$out/numpy.txt"
  for config in $torch_configs; do
    torch_peer "$config" matmul --peer torch --threads "$threads" 2>/dev/null | tee "$out/torch-$config.txt"
  done
  python3 - "$out" $torch_configs <<'PY'
import json, sys
out, configs = sys.argv[1], sys.argv[2:]
last = lambda name: json.loads(open(f"{out}/{name}.txt").read().strip().splitlines()[-1])["results"]
key = lambda r: (r["op"], r["k"], r["n"], r["threads"])
numpy = {key(r): r["gflops"] for r in last("numpy")}
torch = {c: {key(r): r["gflops"] for r in last(f"torch-{c}")} for c in configs}
print(f"\n{'op':16} {'K':>5} {'N':>6} {'thr':>3} {'ours':>7} {'numpy':>7} {'torch':>7} {'best torch':>16} {'/numpy':>7} {'/torch':>7} {'/best':>7}")
for r in last("ours"):
    k = key(r)
    if k not in numpy: continue
    best = max(configs, key=lambda c: torch[c][k])
    d, b = torch["default"][k], torch[best][k]
    print(f"{r['op']:16} {r['k']:5} {r['n']:6} {r['threads']:3} {r['gflops']:7.1f} {numpy[k]:7.1f} {d:7.1f} {b:7.1f} {best:>8} "
          f"{r['gflops']/numpy[k]:7.2f} {r['gflops']/d:7.2f} {r['gflops']/b:7.2f}")
PY
fi

if [[ $what == train-step || $what == all ]]; then
  for seq in 64 256; do
    "$gpt" bench train-step --model gpt2 --batch 4 --seq $seq --threads "$threads" --json 2>/dev/null | tee "$out/ours.txt"
    for config in $torch_configs; do
      torch_peer "$config" train-step --batch 4 --seq $seq --threads "$threads" 2>/dev/null | tee "$out/peers.txt"
      python3 - "$out/ours.txt" "$out/peers.txt" "$config" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
print(f"train step B={o['batch']} T={o['seq']} threads={o['threads']}: ours {o['ms_per_step']:.0f} ms (MFU {o['mfu'] * 100:.0f} %), torch ({sys.argv[3]}) "
      f"{t['ms_per_step']:.0f} ms -> {t['ms_per_step']/o['ms_per_step']:.2f}x faster; peak RSS ours {o['peak_rss_mb']:.0f} MB, "
      f"torch {t['peak_rss_mb']:.0f} MB\n")
PY
    done
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
