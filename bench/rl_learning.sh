#!/bin/sh
# RL learning, measured honestly (issue 13; docs/rl.md): a tiny model trained
# on worked examples (the supervised stage), then either an RL run or a
# LoRA-SFT run on the same base for the same number of steps; greedy
# exact-match accuracy on held-out problems before and after, per difficulty.
# Usage: bench/rl_learning.sh [BUILD_DIR] (default build). Takes ~15 min on
# one core; not part of `make bench`: `make bench-rl`.
set -e
B=${1:-build}
P=$(cd "$B" && pwd)/plow
D=$(mktemp -d /tmp/plow_rl_learning.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$D"
SFT_STEPS=${SFT_STEPS:-1200} RL_STEPS=${RL_STEPS:-150}
EVAL="--kinds add --digits 1-2 --n 400 --threads 1"
$P rl problems --answers --kinds add --digits 1-2 --n 20000 --out sft.txt
t0=$(date +%s)
$P train --data sft.txt --config tiny --vocab 300 --steps "$SFT_STEPS" --batch 16 --seq 32 --out sft --threads 1 \
    --no-hashes > sft.log 2>&1
t1=$(date +%s)
echo "supervised stage ($SFT_STEPS steps, $((t1 - t0)) s): $($P rl eval --model sft $EVAL)"
$P train --rl --base sft --kinds add --digits 1-2 --steps "$RL_STEPS" --batch 8 --group 8 --max-new 6 \
    --lr "${RL_LR:-5e-5}" --wd 0 --out rl --threads 1 --no-hashes > rl.log 2>&1
t2=$(date +%s)
echo "then RL (full, $RL_STEPS steps, batch 8 x group 8, $((t2 - t1)) s): $($P rl eval --model rl $EVAL)"
$P train --lora --base sft --data sft.txt --steps "$RL_STEPS" --batch 16 --seq 32 --out lsft --threads 1 \
    --no-hashes > lsft.log 2>&1
t3=$(date +%s)
echo "or more supervision (LoRA, $RL_STEPS steps, $((t3 - t2)) s): $($P rl eval --model sft --lora lsft $EVAL)"
