#!/bin/sh
# Runs the safetensors reader under libFuzzer (with AddressSanitizer) for SECONDS seconds
# (default 60), starting from a seed corpus of valid files. Usage, from the package root:
#   Fuzz/fuzz-safetensors.sh [SECONDS]
# Crashing inputs are written to .build/fuzz/crash-*; rerun one with
#   .build/fuzz/fuzz-safetensors .build/fuzz/crash-<hash>
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.build/fuzz"
mkdir -p "$out/corpus"
rm -f "$out/fuzz-safetensors"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name SafeTensorsFuzz \
    "$root"/Sources/GPTIO/*.swift "$root/Fuzz/SafeTensorsFuzz.swift" -o "$out/fuzz-safetensors" \
    2>&1 | grep -v "Cannot export local symbol" || true   # gold's noise about ASan's own symbols
test -x "$out/fuzz-safetensors"
# Seeds: a valid file with F32, I64, F16 tensors and metadata, and an empty one.
printf '\002\000\000\000\000\000\000\000{}' > "$out/corpus/empty"
header='{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"h":{"dtype":"F16","shape":[2,1],"data_offsets":[16,20]}}'
length=$(printf '%s' "$header" | wc -c)
{ printf "$(printf '\\%03o' $((length % 256)) $((length / 256)))\000\000\000\000\000\000"
  printf '%s' "$header"; head -c 20 /dev/urandom; } > "$out/corpus/valid"
cd "$out"
./fuzz-safetensors -max_total_time="$seconds" -max_len=4096 corpus 2>&1 | tail -5
