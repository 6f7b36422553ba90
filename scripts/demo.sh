#!/bin/sh
# demo.sh — the main job until the network demo exists: train the `small`
# model on Tiny Shakespeare for a few minutes, sample from it, export it.
#
#   scripts/demo.sh [OUT_DIR]         (default: runs/demo)
#   DEMO_STEPS=600 scripts/demo.sh    train longer
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLOW="$ROOT/build/plow"
OUT=${1:-$ROOT/runs/demo}
STEPS=${DEMO_STEPS:-300}

echo "== plow demo: training 'small' on Tiny Shakespeare ($STEPS steps of 8 x 128 tokens) into $OUT"
state=$("$PLOW" train --data "$ROOT/data/tinyshakespeare.txt" --config small --steps "$STEPS" --batch 8 \
    --seq 128 --lr 2e-3 --seed 1 --eval-every 100 --out "$OUT")
echo "$state"
echo
echo "== sampling (seeded: the same text on every machine)"
for prompt in "ROMEO:" "First Citizen:" "KING RICHARD III:"; do
    "$PLOW" generate --model "$OUT" --prompt "$prompt" --tokens 120 --seed 7 --temperature 0.8 --top-k 40
    echo "----"
done
echo
echo "== exporting to GGUF"
"$PLOW" export gguf "$OUT" "$OUT/model.gguf"
"$PLOW" info "$OUT/model.safetensors"
echo
echo "Outputs in $OUT: model.safetensors, config.json, tokenizer.bin, states.txt (a state hash per step),"
echo "train_log.csv, state.bin, run.json, model.gguf. Final $state"
