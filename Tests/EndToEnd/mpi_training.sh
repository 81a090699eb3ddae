#!/usr/bin/env bash
# Data-parallel training on 2 MPI ranks, end to end, with a gpt built with `--traits MPI`:
#   1. equivalence: 2 ranks × grad_accumulation 1 against one process × grad_accumulation 2,
#      20 steps: losses within 1e-6 relative and weights within 1e-6 (and whether bit-identical),
#      with the optimizer step split in shared memory (the default on one machine) and with the
#      gradients all-reduced through MPI (GPT_MPI_SHARED_MEMORY=0, and when /dev/shm is too small);
#   2. resume: 10 steps, then --resume to 20, equals the uninterrupted 2-rank run bit for bit;
#      resuming on 1 rank with other micro-batches per step is refused with the reason;
#   3. a rank killed with SIGKILL ends the job within seconds, naming the rank; the last
#      checkpoint stays whole and --resume continues it;
#   4. `gpt finetune lm` on 2 ranks against one process × grad_accumulation 2, as in 1.
# Usage: Tests/EndToEnd/mpi_training.sh PATH/TO/gpt
set -euo pipefail
gpt=$(realpath "$1")
mpirun_2=(mpirun --allow-run-as-root --oversubscribe -np 2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# A small model on the built-in demo corpus; lr_decay_steps fixed so that runs of other lengths share a schedule.
common=(--set n_layer=2 --set n_embd=64 --set n_head=4 --set n_positions=32 --set batch_size=4 --set eval_batches=4
        --set warmup_steps=5 --set lr_decay_steps=20 --set accumulation_order=ordered --eval-every 10 --threads 1)
fail() { echo "FAIL: $*" >&2; exit 1; }

# equivalent RUN_A RUN_B STEPS: the runs' losses within 1e-6 relative and weights within 1e-6; says whether bit-identical.
equivalent() {
python3 - "$1" "$2" "$3" <<'PY'
import json, struct, sys
def losses(run):
    rows = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
    return [r["train_loss"] for r in rows], [r["val_loss"] for r in rows if "val_loss" in r], rows
def weights(run, name):
    data = open(f"{run}/checkpoint/{name}", "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for key, t in header.items():
        if key == "__metadata__": continue
        a, b = t["data_offsets"]
        raw = data[8 + n + a: 8 + n + b]
        out[key] = struct.unpack(f"<{len(raw) // 4}f", raw)
    return out
a, b = sys.argv[1], sys.argv[2]
(ta, va, _), (tb, vb, rows) = losses(a), losses(b)
assert len(ta) == len(tb) == int(sys.argv[3]), (len(ta), len(tb))
assert all(r.get("world_size") == 2 for r in rows), "metrics.jsonl records world_size 2"
assert json.load(open(f"{b}/config.json"))["world_size"] == 2, "config.json records world_size 2"
rel = max(abs(x - y) / abs(x) for x, y in zip(ta + va, tb + vb))
wa, wb = weights(a, "model.safetensors"), weights(b, "model.safetensors")
assert wa.keys() == wb.keys()
wdiff = max(max(abs(x - y) for x, y in zip(wa[k], wb[k])) for k in wa)
ma, mb = weights(a, "optimizer.safetensors"), weights(b, "optimizer.safetensors")
assert ma.keys() == mb.keys()
mdiff = max(max(abs(x - y) for x, y in zip(ma[k], mb[k])) for k in ma)
print(f"losses: max relative difference {rel:.3g} over {len(ta)} steps; weights: max absolute difference {wdiff:.3g}; "
      f"AdamW moments: {mdiff:.3g}")
assert rel <= 1e-6, "losses within 1e-6 relative"
assert wdiff <= 1e-6, "weights within 1e-6"
assert mdiff <= 1e-6, "the checkpoint's AdamW moments within 1e-6 (gathered from every rank)"
same = ta == tb and va == vb and all(open(f"{a}/checkpoint/{f}", "rb").read() == open(f"{b}/checkpoint/{f}", "rb").read()
                                     for f in ["model.safetensors", "optimizer.safetensors"])
print("bit-identical losses, weights and moments" if same else "NOT bit-identical (within tolerance)")
PY
}

echo "== equivalence: 2 ranks × B=4 against 1 process × grad_accumulation 2"
"$gpt" train "${common[@]}" --set grad_accumulation=2 --steps 20 --out one > one.log 2>&1 || { cat one.log; fail "one process"; }
"${mpirun_2[@]}" "$gpt" train "${common[@]}" --set grad_accumulation=1 --steps 20 --out two > two.log 2>&1 || { cat two.log; fail "2 ranks"; }
equivalent one two 20
grep -q "gradients: shared-memory shards" two.log || { cat two.log; fail "2 ranks on one machine split the optimizer step in shared memory"; }
echo "== equivalence with the gradients all-reduced through MPI (GPT_MPI_SHARED_MEMORY=0), as across machines"
"${mpirun_2[@]}" -x GPT_MPI_SHARED_MEMORY=0 "$gpt" train "${common[@]}" --set grad_accumulation=1 --steps 20 --out two-allreduce \
  > two-allreduce.log 2>&1 || { cat two-allreduce.log; fail "2 ranks, all-reduce"; }
grep -q "gradients: all-reduce" two-allreduce.log || { cat two-allreduce.log; fail "GPT_MPI_SHARED_MEMORY=0 all-reduces"; }
equivalent one two-allreduce 20
echo "== a /dev/shm too small for the shared optimizer step (as in many containers): the all-reduce instead"
if unshare -m true 2>/dev/null; then
  unshare -m sh -c 'mount -t tmpfs -o size=32m tmpfs /dev/shm && exec "$@"' sh \
    "${mpirun_2[@]}" "$gpt" train "${common[@]}" --set grad_accumulation=1 --steps 20 --out two-small-shm > two-small-shm.log 2>&1 \
    || { cat two-small-shm.log; fail "2 ranks with a small /dev/shm"; }
  grep -q "/dev/shm has less than the .* MiB free that sharing the optimizer step needs" two-small-shm.log \
    || { cat two-small-shm.log; fail "the fallback is announced"; }
  grep -q "gradients: all-reduce" two-small-shm.log || { cat two-small-shm.log; fail "a small /dev/shm falls back to the all-reduce"; }
  equivalent one two-small-shm 20
else
  echo "skipped: unshare -m is not permitted here (it needs root), so /dev/shm cannot be made small"
fi

echo "== resume: 10 steps on 2 ranks, then --resume to 20"
"${mpirun_2[@]}" "$gpt" train "${common[@]}" --steps 10 --out resumed > resumed.log 2>&1 || { cat resumed.log; fail "first half"; }
"${mpirun_2[@]}" "$gpt" train "${common[@]}" --steps 20 --resume --out resumed > resumed2.log 2>&1 || { cat resumed2.log; fail "resume"; }
grep -q "resuming after step 10 of 20" resumed2.log || { cat resumed2.log; fail "resume message"; }
cmp two/checkpoint/model.safetensors resumed/checkpoint/model.safetensors || fail "resumed weights differ from the uninterrupted run"
cmp two/checkpoint/optimizer.safetensors resumed/checkpoint/optimizer.safetensors || fail "resumed moments differ"
echo "resumed run equals the uninterrupted one bit for bit"
cp -r two other-n
if "$gpt" train "${common[@]}" --steps 30 --resume --out other-n > other-n.log 2>&1; then fail "1 rank × 1 resumed a 2 × 1 checkpoint"; fi
grep -q "cannot resume: the checkpoint's steps were 2 ranks × grad_accumulation 1" other-n.log || { cat other-n.log; fail "refusal reason"; }
echo "refused: $(grep -o "cannot resume.*" other-n.log | head -1)"
"$gpt" train "${common[@]}" --set grad_accumulation=2 --steps 22 --resume --out other-n > other-n2.log 2>&1 \
  || { cat other-n2.log; fail "1 rank × grad_accumulation 2 continues a 2 × 1 checkpoint"; }

echo "== a killed rank"
"${mpirun_2[@]}" "$gpt" train "${common[@]}" --steps 100000 --set lr_decay_steps=100000 --checkpoint-every 5 --out killed \
  > killed.log 2>&1 &
launcher=$!
for _ in $(seq 600); do [ -e killed/checkpoint/model.safetensors ] && break; sleep 0.1; done
[ -e killed/checkpoint/model.safetensors ] || { cat killed.log; fail "no checkpoint before the kill"; }
victim=""
for pid in $(pgrep -P "$launcher" -d ' ' || true) $(pgrep -f -- "$gpt train" || true); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$pid; break; fi
done
[ -n "$victim" ] || fail "rank 1's process not found"
kill -9 "$victim"
killed_at=$(date +%s.%N)
status=0
timeout 60 tail --pid="$launcher" -f /dev/null || fail "the job still runs 60 s after rank 1 was killed"
wait "$launcher" || status=$?
ended=$(python3 -c "import time; print(f'{time.time() - $killed_at:.1f}')")
[ "$status" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
grep -qi "rank 1" killed.log || { cat killed.log; fail "the message does not name rank 1"; }
echo "job ended ${ended} s after rank 1 was killed (mpirun status $status): $(grep -i "rank 1" killed.log | head -1)"
step=$(basename "$(readlink killed/checkpoint)" | tr -dc 0-9)
"${mpirun_2[@]}" "$gpt" train "${common[@]}" --steps $((step + 5)) --set lr_decay_steps=100000 --resume --out killed > killed2.log 2>&1 \
  || { cat killed2.log; fail "resume after the kill"; }
grep -q "resuming after step $step" killed2.log || { cat killed2.log; fail "resume message after the kill"; }
echo "resumed after step $step and finished"
echo "== finetune lm: 2 ranks against 1 process × grad_accumulation 2"
# Text in the checkpoint's own characters (a character-level tokenizer refuses others).
python3 - one/checkpoint/gpt-tokenizer.json > text.txt <<'PY'
import json, random, sys
chars = [c for c in json.load(open(sys.argv[1]))["characters"] if c != "\n"]
rng = random.Random(7)
for _ in range(400): print("".join(rng.choice(chars) for _ in range(60)))
PY
tune=(--checkpoint one --data text.txt --steps 10 --eval-every 5 --threads 1 --set batch_size=4 --set eval_batches=4
      --set warmup_steps=2 --set accumulation_order=ordered)
"$gpt" finetune lm "${tune[@]}" --set grad_accumulation=2 --out tune-one > tune-one.log 2>&1 || { cat tune-one.log; fail "finetune lm, one process"; }
"${mpirun_2[@]}" "$gpt" finetune lm "${tune[@]}" --set grad_accumulation=1 --out tune-two > tune-two.log 2>&1 \
  || { cat tune-two.log; fail "finetune lm, 2 ranks"; }
equivalent tune-one tune-two 10

echo "mpi_training: all passed in ${SECONDS} s"
