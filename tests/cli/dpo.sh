# DPO alignment (docs/dpo.md, issue 6), locally and on a real network.
# Locally: `plow prefs generate` makes shuffled-continuation pairs from the
# corpus; a full-DPO run committed with `plow train --dpo --commit` verifies,
# a cheating run is caught by `plow verify` and `plow dispute` names its step.
# On the network: a worker whose policy takes DPO tasks, a verifier and a
# requester posting a DPO-LoRA task (TASKFILE): the task is committed,
# verified, finalized and the worker paid (read from the ledger), and the
# adapter it delivered prefers the true continuations of held-out pairs more
# often than the base did (`plow prefs eval`, both numbers printed).
set -e
. "$LIB"

# usage and input errors
$PLOW prefs --help > h.txt && grep -q "usage: plow prefs generate" h.txt || fail "plow prefs --help"
expect_fail 2 $PLOW prefs
expect_fail 2 $PLOW prefs bogus
expect_fail 2 $PLOW prefs generate --text x
expect_fail 2 $PLOW prefs generate --text x --out o --how sideways
expect_fail 2 $PLOW prefs eval --pairs p.jsonl
expect_fail 1 $PLOW prefs generate --text missing.txt --out o
expect_fail 2 $PLOW train --dpo p.jsonl --out o
grep -q "needs --base" err.txt || fail "--dpo without --base: $(cat err.txt)"
expect_fail 2 $PLOW train --dpo p.jsonl --data d.txt --base b --out o
expect_fail 2 $PLOW train --dpo p.jsonl --base b --out o --beta 0

head -c 200000 "$ROOT/data/tinyshakespeare.txt" > d.txt
head -c 60000 d.txt > t.txt
$PLOW tokenizer train --data t.txt --vocab 384 --out tok.bin > /dev/null 2>&1
$PLOW prefs generate --text d.txt --seed 1 --train 500 --val 100 --how shuffled --out pairs > gen.txt
grep -q "500 training pairs" gen.txt || fail "prefs generate: $(cat gen.txt)"
[ "$(wc -l < pairs/train.jsonl)" = 500 ] && [ "$(wc -l < pairs/val.jsonl)" = 100 ] || fail "pair counts"
$PLOW prefs generate --text d.txt --seed 1 --train 500 --val 100 --how shuffled --out pairs2 > /dev/null
cmp -s pairs/train.jsonl pairs2/train.jsonl || fail "prefs generate is not deterministic"
printf '{"prompt": "a\\n", "chosen": "b c\\n"}\n' > bad.jsonl
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 60 --batch 4 --seq 48 --lr 1e-2 --out base \
    --threads 2 > /dev/null 2>&1
expect_fail 1 $PLOW train --dpo bad.jsonl --base base --out o
grep -q "line 1" err.txt || fail "a malformed pairs file: $(cat err.txt)"

# 1. a committed full-DPO run verifies; a cheater is caught at its step
DPO="$PLOW train --dpo pairs/train.jsonl --heldout pairs/val.jsonl --beta 0.5 --base base --steps 12 --batch 4 \
     --seq 40 --lr 1e-3 --commit --checkpoint-every 4 --threads 2"
$DPO --out honest > honest.log 2>&1 || { cat honest.log; fail "DPO run failed"; }
grep -q "held-out pairs after training" honest.log || fail "no DPO metrics: $(cat honest.log)"
head -n 1 honest/train_log.csv | grep -q "margin,accuracy,chosen_reward,rejected_reward" || fail "no DPO columns in the log"
grep -q '"kind":	"dpo"' honest/task.json || fail "task.json is not a DPO task"
t0=$(date +%s%N)
$PLOW verify honest --samples 4 > v.log 2>&1 || { cat v.log; fail "plow verify failed"; }
verify_ms=$((($(date +%s%N) - t0) / 1000000))
tail -n 1 v.log | grep -q '^valid' || fail "the honest DPO run does not verify: $(cat v.log)"
$DPO --out cheat --cheat perturb@6 > /dev/null 2>&1
set +e
# a fixed challenge: a random one samples with replacement and missed step 6
# in one run of 12 draws (7 distinct steps)
$PLOW verify cheat --samples 12 --challenge 1 > vc.log 2>&1
set -e
grep -q "INVALID at step 6" vc.log || fail "plow verify did not catch the cheat at step 6: $(cat vc.log)"
$PLOW dispute honest cheat > d.log 2>&1 || true
grep -q "first divergent step 6" d.log && grep -q "B wrong" d.log || fail "plow dispute: $(cat d.log)"
echo "1. DPO run committed and verified; a cheat at step 6: $(tail -n 1 vc.log); dispute: $(grep verdict d.log)"

# 2. on the network: a DPO-LoRA task done by a worker, verified, finalized, paid
for k in req w v; do $PLOW wallet new --key $k.key -q > $k.addr; done
$PLOW node init --data n --out-genesis g.json --fund "$(cat req.addr)=1000000" --fund "$(cat w.addr)=5000" \
    --fund "$(cat v.addr)=5000" > /dev/null
trap stop_all EXIT
# The challenge window is sized from the verifier's work as this machine does
# it (a slow or sanitized build stretches it), never a fixed wall-clock guess:
# the network verifier re-executes 3 sampled steps of a 30-step run from
# checkpoints every 10 (at most 30 steps), about twice what the local
# `plow verify` above re-executed (4 samples, checkpoints every 4: at most 16),
# plus finding the commit and fetching its blobs. Ten times the local cost,
# in 100 ms blocks, and never under 20 blocks.
window=$((verify_ms / 10))
[ $window -ge 20 ] || window=20
start_node n node.log --genesis g.json --block-ms 100 --quiet
export PLOW_NODE=$URL
blob() { curl -sf -o "$2" $URL/v1/blob/$1 || fail "blob $1"; }
cat > policy.json <<EOF
{"kinds": ["dpo"], "min_price_per_step": "0", "max_stake_at_risk": "1000", "stake": "1000",
 "seconds_per_step": 0.2, "safety": 1}
EOF
$PLOW worker --key w.key --work wk --name w --policy policy.json --threads 2 --poll 0.1 > w.log 2>&1 &
PIDS="$PIDS $!"
$PLOW verifier --key v.key --work vk --name v --samples 3 --poll 0.2 > v.log 2>&1 &
PIDS="$PIDS $!"
cat > dpo.task.json <<EOF
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "500", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 300, "work_blocks": 1200, "window_blocks": $window,
 "spec": {"format": "plow.spec.v1", "kind": "dpo", "data": "@pairs/train.jsonl", "heldout": "@pairs/val.jsonl",
          "tokenizer": "@tok.bin", "base": "@base", "beta": 0.5, "steps": 30, "batch": 4, "seq": 40, "lr": 0.01,
          "checkpoint_every": 10, "lora": {"rank": 8, "alpha": 16, "targets": "all"}}}
EOF
i=0
until grep -q "registered as agent" w.log; do i=$((i + 1)); [ $i -lt 300 ] || fail "worker did not register"; sleep 0.2; done
b0=$(q /v1/account/$(cat w.addr) "j['balance']")
# the requester posts, waits, finalizes (its exit status says whether it could check the artifact itself)
set +e
$PLOW requester --key req.key --work rq --task dpo.task.json --threads 1 --poll 0.2 > rq.log 2>&1
rrc=$?
set -e
[ $rrc -le 1 ] || { tail -n 20 rq.log; fail "the requester could not run ($rrc)"; }
T=$(/usr/bin/python3 -c "import json; print(json.load(open('rq/requester.json'))['steps'][0]['tasks'][-1])")
[ "$(q /v1/task/$T "j['kind']")" = dpo ] || fail "the task is not a DPO task"
[ "$(q /v1/task/$T "j['status']")" = finalized ] || { tail -n 20 rq.log; fail "DPO task not finalized"; }
[ "$(q /v1/task/$T "j['slots'][0]['status']")" = paid ] || fail "the DPO worker was not paid"
[ "$(q /v1/task/$T "j['slots'][0]['worker']")" = "$(cat w.addr)" ] || fail "another worker holds the slot"
b1=$(q /v1/account/$(cat w.addr) "j['balance']")
# the reward, less the fees of its claim and commit
[ $((b1 - b0)) -gt 490 ] && [ $((b1 - b0)) -le 500 ] || fail "the worker's balance rose by $((b1 - b0)), not the reward"
grep -q "valid (dpo" v.log || { tail -n 20 v.log; fail "the verifier did not verify the DPO slot"; }
echo "2. DPO task $(echo $T | cut -c1-8) (window $window blocks, local verify ${verify_ms} ms): committed, verified ($(grep -c 'valid (dpo' v.log) check), finalized, worker paid $((b1 - b0))"

# the delivered adapter: the committed artifact, and better preferences than the base on held-out pairs
blob $(q /v1/task/$T "j['slots'][0]['manifest']") manifest.json
mkdir -p adapter
for f in adapter_model.safetensors adapter_config.json; do
    blob $(/usr/bin/python3 -c "import json; print(json.load(open('manifest.json'))['files']['$f'])") adapter/$f
done
$PLOW prefs eval --base base --pairs pairs/val.jsonl --seq 40 --beta 0.5 > base_eval.txt
$PLOW prefs eval --base base --lora adapter --pairs pairs/val.jsonl --seq 40 --beta 0.5 > dpo_eval.txt
acc() { sed -n 's/.*policy_accuracy=\([0-9.]*\).*/\1/p' "$1"; }
echo "held-out preference accuracy: base $(acc base_eval.txt), after DPO on the network $(acc dpo_eval.txt)"
echo "  base: $(cat base_eval.txt)"
echo "  dpo:  $(cat dpo_eval.txt)"
/usr/bin/python3 -c "import sys; sys.exit(0 if $(acc dpo_eval.txt) > $(acc base_eval.txt) else 1)" ||
    fail "the DPO adapter does not prefer the true continuations more often than the base"
