#!/usr/bin/env bash
# Does pre-training on a larger public-domain corpus lift fine-tuning? (issue 18, part 5)
#   1. `gpt prepare` with GPT-2's BPE over pd-english.txt, gutenberg-selections.txt and the training
#      texts of both labeled sets (labels dropped), then `gpt train` of a GPT on it, evaluating and
#      keeping a checkpoint every CURVE_EVERY steps and after the first (--keep-checkpoints);
#   2. `gpt finetune classify` (2 epochs, lr 3e-4, batch 32, λ = 0.5) on rt-polarity in full and its
#      first 3,000 and 1,000 training examples, per seed, for
#        (a) --init random      the same architecture, tokenizer and budget
#        (b) --init pretrained  from the final checkpoint;
#   3. the gain curve: (b) on all of rt-polarity from each kept checkpoint, per seed, against the
#      pre-training tokens it had seen; written as gain.tsv and gain.svg in WORK_DIR.
# The corpus holds the plays Tiny Shakespeare is cut from: never evaluate a model trained here on them.
# Usage: Benchmarks/pretrain_finetune.sh [WORK_DIR] [SEEDS...]   (default: runs/pretrain-bench, seeds 1 2 3)
# Environment: STEPS (pre-training steps), CURVE_EVERY (steps between kept checkpoints), CURVE_SEEDS
# (the seeds fine-tuned from each curve checkpoint; default the first, as 8 points × 3 seeds would
# cost about 1.5 h more), THREADS, MODEL (--set
# flags of the architecture), GPT (a built binary). Step 1 is skipped once WORK_DIR/pretrain is complete,
# and every fine-tuning run whose result file exists is skipped, so an interrupted script continues.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/pretrain-bench}; shift || true
seeds=${*:-1 2 3}
steps=${STEPS:-3000}
every=${CURVE_EVERY:-375}
model=${MODEL:-"--set n_layer=6 --set n_embd=256 --set n_head=4 --set n_positions=128 --set dropout=0.1 --set batch_size=32"}
first_seed=${seeds%% *}
curve_seeds=${CURVE_SEEDS:-$first_seed}
threads=${THREADS:-$(nproc)}
data=../shared/data
# GPT-2's ranks from the shared data: nothing is downloaded.
export GPT2_TOKENIZER_FILE=${GPT2_TOKENIZER_FILE:-$data/gpt2.tiktoken}
if [ -z "${GPT:-}" ]; then swift build -c release --product gpt >/dev/null; fi
gpt=${GPT:-.build/release/gpt}
mkdir -p "$work"
unlabeled="$data/pd-english.txt $data/gutenberg-selections.txt $data/rt-polarity-train.jsonl $data/sentiment-sentences-train.jsonl"

if [ ! -e "$work/pretrain-data" ]; then
  $gpt prepare $unlabeled --tokenizer gpt2 --out "$work/pretrain-data" --val-fraction 0.01
fi
resume=""
[ -e "$work/pretrain/checkpoint" ] && resume="--resume"
# A finished run is a no-op under --resume.
# shellcheck disable=SC2086
$gpt train --data "$work/pretrain-data" --out "$work/pretrain" $resume --threads "$threads" --seed 1 --steps "$steps" --eval-every "$every" \
  --keep-checkpoints $model --set warmup_steps=200 --set lr_decay_steps="$steps" --set learning_rate=6e-4 \
  --set min_learning_rate=6e-5
for n in 1000 3000; do head -n $n "$data/rt-polarity-train.jsonl" > "$work/rt-polarity-$n-train.jsonl"; done

# finetune NAME CHECKPOINT TRAIN_FILE SEED FLAGS...: test accuracy and macro-F1, cached in WORK_DIR/results/NAME.json.
mkdir -p "$work/results"
finetune() {
  local name=$1 checkpoint=$2 train=$3 seed=$4; shift 4
  local result="$work/results/$name.json"
  if [ ! -s "$result" ]; then
    $gpt finetune classify --checkpoint "$checkpoint" --train "$train" --test "$data/rt-polarity-test.jsonl" \
      --out "$work/clf/$name" --overwrite --threads "$threads" --epochs 2 --learning-rate 3e-4 --seed "$seed" --aux-lm-weight 0.5 "$@" --json \
      2>/dev/null | tail -1 > "$result.tmp"
    mv "$result.tmp" "$result"
  fi
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%-34s %9.4f %9.4f" % (sys.argv[2], r["test_accuracy"], r["test_macro_f1"]))' \
    "$result" "$name"
}

printf "%-34s %9s %9s\n" run accuracy macro_f1
for set in rt-polarity rt-polarity-3000 rt-polarity-1000; do
  train="$data/rt-polarity-train.jsonl"; [ "$set" = rt-polarity ] || train="$work/$set-train.jsonl"
  for seed in $seeds; do
    finetune "$set-a-$seed" "$work/pretrain" "$train" "$seed" --init random
    finetune "$set-b-$seed" "$work/pretrain" "$train" "$seed" --init pretrained
  done
done
for checkpoint in "$work"/pretrain/checkpoint-*; do
  step=${checkpoint##*-}
  # Evaluations save after steps 0, every, 2·every, … (checkpoint-1, checkpoint-<every + 1>, …). The
  # final checkpoint is the table's (b); a save by Ctrl-C between curve points is not a point.
  [ "$step" = "$steps" ] && continue
  [ $(((step - 1) % every)) = 0 ] || continue
  for seed in $curve_seeds; do finetune "curve-$step-b-$seed" "$checkpoint" "$data/rt-polarity-train.jsonl" "$seed" --init pretrained; done
done

python3 Benchmarks/gain_curve.py "$work" "$steps" $seeds
