#!/usr/bin/env bash
# scripts/r1-demo.sh [OUT_DIR] — the R1 recipe end to end on a tiny model (docs/posttrain.md,
# The R1 recipe on a tiny model): pretrain on generated arithmetic text, SFT on the answer format,
# GRPO on the arithmetic task, then distil the GRPO model into a smaller student and compare it
# with the same student SFT'd on the original data. Every stage is a frugal command; the numbers
# land in OUT_DIR/summary.txt and the curves in OUT_DIR/*/plot.html.
#
# Sizes come from the environment (defaults: the whole demo in under an hour on 2 cores), e.g.
#   PRE_STEPS=200 SFT_STEPS=20 GRPO_STEPS=4 EVAL_N=20 scripts/r1-demo.sh /tmp/r1-smoke
# for a quick check that every stage runs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/r1-demo}
FRUGAL=${FRUGAL:-build/cli/frugal}
TASK=${TASK:-addsub}                # the task: addsub (2-digit + and -), or arithmetic, countdown, sort
PRE_TEXT=${PRE_TEXT:-12000}         # problems in the pretraining text (addsub has ~14,000 in its train split)
PRE_STEPS=${PRE_STEPS:-3000}        # pretraining steps of the teacher (B 32 x T 64)
STUDENT_PRE_STEPS=${STUDENT_PRE_STEPS:-1500}  # the dense student's pretraining steps
SFT_N=${SFT_N:-400}                 # SFT conversations in the answer format
SFT_STEPS=${SFT_STEPS:-300}
GRPO_STEPS=${GRPO_STEPS:-200}
GRPO_G=${GRPO_G:-16}                # completions per prompt
GRPO_PROMPTS=${GRPO_PROMPTS:-8}     # prompts per step
GRPO_LR=${GRPO_LR:-1e-4}
DISTILL_N=${DISTILL_N:-1500}        # prompts the teacher answers for the student
EVAL_N=${EVAL_N:-400}               # held-out problems per evaluation
MAX_TOKENS=${MAX_TOKENS:-32}
DISTILL_FILTER=${DISTILL_FILTER:-accuracy,format}  # rejection sampling (none: keep every answer)

[ -x "$FRUGAL" ] || { echo "r1-demo: $FRUGAL not found; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$OUT"
log() { echo "[r1-demo $(date +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
log "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)

# 1. Data and tokenizer: the task's training split only; evaluation problems never appear.
"$FRUGAL" task-data --task "$TASK" --n "$PRE_TEXT" --format text --out "$OUT/pretrain.txt"
"$FRUGAL" task-data --task "$TASK" --n "$SFT_N" --seed 1 --format sft --out "$OUT/sft.jsonl"
"$FRUGAL" task-data --task "$TASK" --n "$DISTILL_N" --seed 2 --format prompts --out "$OUT/distill_prompts.jsonl"
"$FRUGAL" tokenizer train --input "$OUT/pretrain.txt" "$OUT/sft.jsonl" --vocab-size 512 --digits individual \
  --out "$OUT/tokenizer" --quiet
# One document per problem (each ends with EOS); 1% held out for the validation loss.
sed G "$OUT/pretrain.txt" > "$OUT/pretrain_docs.txt"
"$FRUGAL" data prepare --tokenizer "$OUT/tokenizer" --input "$OUT/pretrain_docs.txt" --out "$OUT/data" \
  --doc-separator "" --quiet

with_tokenizer() { cp "$OUT"/tokenizer/tokenizer.json "$OUT"/tokenizer/tokenizer_config.json "$1"/; }
accuracy() {  # MODEL LABEL: held-out pass@1 (greedy) with its interval, into the summary
  "$FRUGAL" eval-task "$1" --task "$TASK" --limit "$EVAL_N" --max-tokens "$MAX_TOKENS" > "$1.eval.txt"
  log "$2: $(grep -m1 '^pass@1' "$1.eval.txt"); $(grep -m1 '^rewards' "$1.eval.txt")"
}
# Field KEY of JSON line(s) on stdin (numbers only; no JSON tool is needed on a fresh machine).
jfield() { sed -n "s/.*\"$1\": *\(-\{0,1\}[0-9.eE+-]*\).*/\1/p"; }

# 2. Pretrain the teacher (tiny preset: MoE and MTP) on the text. The smaller student (the same width,
#    dense, no MTP: fewer parameters in all) is pretrained in step 5, for fewer steps.
"$FRUGAL" train --tokens "$OUT/data" --preset tiny --seq-len 64 --batch 32 --steps "$PRE_STEPS" --lr 2e-3 \
  --warmup $((PRE_STEPS / 20)) --out "$OUT/pretrain" --export "$OUT/pretrained" --log-every 100 --eval-every 500
with_tokenizer "$OUT/pretrained"
log "teacher pretraining done ($(( $(date +%s) - start )) s)"

# 3. SFT on the answer format.
"$FRUGAL" sft --init "$OUT/pretrained" --data "$OUT/sft.jsonl" --steps "$SFT_STEPS" --batch 8 --seq-len 128 \
  --lr 1e-3 --schedule constant --out "$OUT/sft" --export "$OUT/sft_model" --log-every 50
accuracy "$OUT/sft_model" "teacher after SFT (before GRPO)"

# 4. GRPO on the task.
"$FRUGAL" grpo --init "$OUT/sft_model" --task "$TASK" --steps "$GRPO_STEPS" --num-generations "$GRPO_G" \
  --prompts "$GRPO_PROMPTS" --max-completion-length "$MAX_TOKENS" --lr "$GRPO_LR" --beta 0.04 \
  --rewards accuracy,format=0.2 --out "$OUT/grpo" --export "$OUT/grpo_model" --log-every 10
"$FRUGAL" plot "$OUT/grpo" --png
accuracy "$OUT/grpo_model" "teacher after GRPO"
M="$OUT/grpo/grpo_metrics.jsonl"
log "GRPO: reward $(head -1 "$M" | jfield reward) -> $(tail -1 "$M" | jfield reward), training accuracy \
$(head -1 "$M" | jfield accuracy) -> $(tail -1 "$M" | jfield accuracy), completion length \
$(head -1 "$M" | jfield completion_length) -> $(tail -1 "$M" | jfield completion_length) tokens"
log "GRPO time: rollout $(jfield rollout_s < "$M" | awk '{s+=$1} END {printf "%.0f", s}') s, update \
$(jfield update_s < "$M" | awk '{s+=$1} END {printf "%.0f", s}') s"

# 5. Distillation into the smaller student, against the same student SFT'd on the original data.
"$FRUGAL" train --tokens "$OUT/data" --preset tiny --dense --mtp-layers 0 --seq-len 64 --batch 32 --steps "$STUDENT_PRE_STEPS" --lr 2e-3 \
  --warmup $((STUDENT_PRE_STEPS / 20)) --out "$OUT/student_pretrain" --export "$OUT/student_pretrained" --log-every 100 --eval-every 500
with_tokenizer "$OUT/student_pretrained"
"$FRUGAL" distill --teacher "$OUT/grpo_model" --student "$OUT/student_pretrained" --data "$OUT/distill_prompts.jsonl" \
  --samples 4 --filter "$DISTILL_FILTER" --max-tokens "$MAX_TOKENS" --steps "$SFT_STEPS" --batch 8 --seq-len 128 --lr 1e-3 --schedule constant \
  --out "$OUT/distill" --export "$OUT/student_distilled" --log-every 50
"$FRUGAL" sft --init "$OUT/student_pretrained" --data "$OUT/sft.jsonl" --steps "$SFT_STEPS" --batch 8 --seq-len 128 \
  --lr 1e-3 --schedule constant --out "$OUT/student_sft" --export "$OUT/student_sft_model" --log-every 50
accuracy "$OUT/student_sft_model" "student SFT'd on the original data"
accuracy "$OUT/student_distilled" "student distilled from the GRPO teacher"

# 6. Batched, prefix-shared rollouts against one sequence at a time (8 samples per problem).
for b in 64 1; do
  "$FRUGAL" eval-task "$OUT/grpo_model" --task "$TASK" --limit 16 --samples 8 --max-tokens "$MAX_TOKENS" \
    --batch "$b" > "$OUT/rollout_batch$b.txt"
  log "rollouts at batch $b: $(grep -m1 '^completions' "$OUT/rollout_batch$b.txt")"
done
log "done in $(( $(date +%s) - start )) s; curves: $OUT/pretrain/plot.html (frugal plot), $OUT/grpo/plot.html"
