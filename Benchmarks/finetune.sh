#!/usr/bin/env bash
# What pre-training buys a classifier (GPT-1's claim), measured with the gpt command line:
#   1. a 4,096-token BPE and a 6-layer, 256-wide GPT pre-trained by `gpt train` (4,000 steps of
#      16×128 tokens) on unlabeled text: Gutenberg selections plus the training texts of both
#      labeled sets with their labels dropped;
#   2. `gpt finetune classify` (2 epochs, lr 3e-4, batch 32) per data set and seed, for
#        (a) --init random      same architecture, tokenizer and budget, λ = 0.5
#        (b) --init pretrained  λ = 0.5
#        (c) --init pretrained  λ = 0
#        (d) --init random      λ = 0 (what λ·L_LM alone gives the baseline)
#      on sentiment-sentences, rt-polarity, and rt-polarity's first 1,000 and 3,000 training examples.
# Usage: Benchmarks/finetune.sh [WORK_DIR] [SEEDS...]   (default: runs/finetune-bench, seeds 1 2 3)
# Step 1 is skipped when WORK_DIR/pretrain/checkpoint exists. GPT=path uses that binary, unbuilt.
# VARIANTS="a b c d" and SETS="sentiment-sentences rt-polarity rt-polarity-1000 rt-polarity-3000"
# (the defaults) choose a part of the table.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/finetune-bench}; shift || true
seeds=${*:-1 2 3}
data=../shared/data
if [ -z "${GPT:-}" ]; then swift build -c release --product gpt >/dev/null; fi
gpt=${GPT:-.build/release/gpt}
mkdir -p "$work"
unlabeled="$data/gutenberg-selections.txt $data/rt-polarity-train.jsonl $data/sentiment-sentences-train.jsonl"

if [ ! -e "$work/pretrain/checkpoint" ]; then
  $gpt tokenizer train $unlabeled --vocab-size 4096 --out "$work/tok4k.json"
  $gpt prepare $unlabeled --tokenizer "$work/tok4k.json" --out "$work/pretrain-data" --val-fraction 0.02
  $gpt train --data "$work/pretrain-data" --out "$work/pretrain" --seed 1 --steps 4000 --eval-every 500 \
    --set n_layer=6 --set n_embd=256 --set n_head=4 --set n_positions=128 --set dropout=0.1 \
    --set batch_size=16 --set warmup_steps=200 --set lr_decay_steps=4000
fi
for n in 1000 3000; do head -n $n "$data/rt-polarity-train.jsonl" > "$work/rt-polarity-$n-train.jsonl"; done

printf "%-22s %-40s %5s %9s %9s\n" data variant seed accuracy macro_f1
run() {  # run SET TRAIN_FILE TEST_FILE
  case " ${SETS:-sentiment-sentences rt-polarity rt-polarity-1000 rt-polarity-3000} " in *" $1 "*) ;; *) return 0 ;; esac
  for seed in $seeds; do
    for variant in "a:--init random --aux-lm-weight 0.5" "b:--init pretrained --aux-lm-weight 0.5" "c:--init pretrained --aux-lm-weight 0" \
                   "d:--init random --aux-lm-weight 0"; do
      name=${variant%%:*}; flags=${variant#*:}
      case " ${VARIANTS:-a b c d} " in *" $name "*) ;; *) continue ;; esac
      line=$($gpt finetune classify --checkpoint "$work/pretrain" --train "$2" --test "$3" --out "$work/clf-$1-$name-$seed" \
               --epochs 2 --learning-rate 3e-4 --seed "$seed" $flags --json 2>/dev/null | tail -1)
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%-22s %-40s %5s %9.4f %9.4f" % (sys.argv[2], sys.argv[3], sys.argv[4], r["test_accuracy"], r["test_macro_f1"]))' \
        "$line" "$1" "($name) $flags" "$seed"
    done
  done
}
run sentiment-sentences "$data/sentiment-sentences-train.jsonl" "$data/sentiment-sentences-test.jsonl"
run rt-polarity "$data/rt-polarity-train.jsonl" "$data/rt-polarity-test.jsonl"
for n in 1000 3000; do run rt-polarity-$n "$work/rt-polarity-$n-train.jsonl" "$data/rt-polarity-test.jsonl"; done
