#!/usr/bin/env bash
# What pre-training buys a chat model, measured with the gpt command line:
#   1. a GPT-2-BPE GPT of the classifier benchmark's size (6 layers, 256 wide, 4 heads,
#      context 128) pre-trained by `gpt train` on pd-english.txt + gutenberg-selections.txt
#      (5.65 M GPT-2 tokens; STEPS steps of 16×128 tokens, default 700);
#   2. `gpt finetune chat` on chatterbot-conversations.jsonl (ChatML; every tenth conversation,
#      by hash, held out) per seed:
#        (a) --init random      same architecture, tokenizer and budget
#        (b) --init pretrained
#      and (c) the pre-trained model with no chat fine-tuning (--steps 0: evaluation only).
#   The figure is the assistant-token loss on the held-out conversations.
# Usage: Benchmarks/chat.sh [WORK_DIR] [SEEDS...]   (default: runs/chat-bench, seeds 1 2 3)
# Step 1 is skipped when WORK_DIR/pretrain/checkpoint exists. GPT=path uses that binary, unbuilt.
# FT_STEPS (default 240) and FT_LR (5e-4) set the fine-tuning budget.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/chat-bench}; shift || true
seeds=${*:-1 2 3}
data=../shared/data
export GPT2_TOKENIZER_FILE=${GPT2_TOKENIZER_FILE:-$data/gpt2.tiktoken}
if [ -z "${GPT:-}" ]; then swift build -c release --product gpt >/dev/null; fi
gpt=${GPT:-.build/release/gpt}
steps=${STEPS:-700}; ft_steps=${FT_STEPS:-240}; ft_lr=${FT_LR:-5e-4}
mkdir -p "$work"

if [ ! -e "$work/pretrain/checkpoint" ]; then
  $gpt prepare "$data/pd-english.txt" "$data/gutenberg-selections.txt" --tokenizer gpt2 --out "$work/pretrain-data" --val-fraction 0.02
  $gpt train --data "$work/pretrain-data" --out "$work/pretrain" --seed 1 --steps "$steps" --eval-every $((steps / 2)) \
    --set n_layer=6 --set n_embd=256 --set n_head=4 --set n_positions=128 --set dropout=0.1 \
    --set batch_size=16 --set warmup_steps=$((steps / 10)) --set lr_decay_steps="$steps" --set eval_batches=10
fi

chats="$data/chatterbot-conversations.jsonl"
printf "%-28s %5s %10s %10s\n" variant seed test_loss perplexity
report() {  # report NAME SEED JSON_LINE
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%-28s %5s %10.4f %10.2f" % (sys.argv[2], sys.argv[3], r["test_loss"], r["test_perplexity"]))' "$3" "$1" "$2"
}
line=$($gpt finetune chat --checkpoint "$work/pretrain" --train "$chats" --out "$work/chat-c" --steps 0 --samples 5 --json \
         | tee "$work/chat-c.log" | tail -1)
report "(c) pre-trained, no chat FT" - "$line"
for seed in $seeds; do
  for variant in "a:random" "b:pretrained"; do
    name=${variant%%:*}; init=${variant#*:}
    line=$($gpt finetune chat --checkpoint "$work/pretrain" --train "$chats" --out "$work/chat-$name-$seed" --overwrite \
             --init "$init" --steps "$ft_steps" --eval-every "$ft_steps" --learning-rate "$ft_lr" --batch-size 16 \
             --seed "$seed" --samples 5 --json 2>/dev/null | tee "$work/chat-$name-$seed.log" | tail -1)
    report "($name) $init" "$seed" "$line"
  done
done
echo "sample replies of (b), seed 1 (the first 5 held-out conversations): see $work/chat-b-1.log"
