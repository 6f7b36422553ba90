#!/bin/sh
# Distributed rollouts (issue 13; docs/rl.md): the same RL run with its
# rollouts sampled inside the step, and made by two rollout workers as signed
# receipts that the trainer checks (one teacher-forced prefill each) before
# it steps on them. Prints rollout generation tokens/s, the trainer's step
# tokens/s, the share of the trainer's step time spent checking rollouts, and
# that both runs end in the same state. Usage: bench/rl_rollouts.sh
# [BUILD_DIR] (default build); about a minute on one core; part of `make bench`.
set -e
B=${1:-build}
P=$(cd "$B" && pwd)/plow
D=$(mktemp -d /tmp/plow_rl_rollouts.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$D"
STEPS=${RL_STEPS:-10} BATCH=8 GROUP=8 SEQ=24
for k in a b; do $P wallet new --key $k.key -q > /dev/null; done
$P rl problems --answers --kinds all --n 5000 --out sft.txt
$P train --data sft.txt --config tiny --vocab 300 --steps 100 --batch 16 --seq 32 --out sft --threads 1 \
    --no-hashes > sft.log 2>&1
RL="$P train --rl --base sft --kinds add,cmp --digits 1 --steps $STEPS --batch $BATCH --group $GROUP --max-new 6 \
    --seq $SEQ --lr 5e-5 --wd 0 --threads 1"
t0=$(date +%s.%N)
$RL --out insitu > insitu.log 2>&1
t1=$(date +%s.%N)
$RL --out dist --rollout-keys a.key,b.key > dist.log 2>&1
s1=$(tail -n 1 insitu.log) s2=$(tail -n 1 dist.log)
[ "$s1" = "$s2" ] || { echo "rl_rollouts: the distributed run ended in another state" >&2; exit 1; }
gen=$(sed -n 's/.*rollout workers: \([0-9]*\) completion tokens in \([0-9.]*\) s (\([0-9]*\) tokens\/s).*/\1 \2 \3/p' dist.log)
chk=$(sed -n 's/.*checking them took \([0-9.]*\)% of the trainer.s step time (\([0-9.]*\) s of \([0-9.]*\) s).*/\1 \2 \3/p' dist.log)
rows=$((BATCH * GROUP))
/usr/bin/python3 - "$STEPS" "$rows" "$SEQ" "$t0" "$t1" $gen $chk <<'PY'
import sys
steps, rows, seq = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t0, t1 = float(sys.argv[4]), float(sys.argv[5])
gtok, gsec, _, share, csec, ssec = (float(x) for x in sys.argv[6:12])
tok = steps * rows * seq
print(f"rl rollouts: {steps} steps of {rows} rollouts (batch x group), rows of {seq} tokens, 1 thread")
print(f"  in-step run:              {t1 - t0:7.2f} s wall (sampling included)")
print(f"  rollout generation:       {gtok / gsec:7.0f} completion tokens/s ({gtok:.0f} tokens, {gsec:.2f} s)")
print(f"  trainer step (checked):   {tok / ssec:7.0f} row tokens/s ({ssec:.2f} s: checks, update)")
print(f"  checking rollouts:        {share:7.1f} % of the trainer's step time ({csec:.2f} s); target <= 10 %")
print("  states: the distributed run's final state is the in-step run's")
PY
