#!/bin/sh
# demo_kinds.sh — what `make demo-kinds` runs: the other kinds of work on ONE
# local plow network (issue 6). It builds nothing: `make demo-kinds` has
# built build/plow already. A node, two honest workers (policy: DPO and round
# tasks), a verifier and three labeler agents run as separate processes;
# one after the other:
#   1. DPO: preference pairs from Tiny Shakespeare (`plow prefs generate`), a
#      tiny base trained locally, a DPO-LoRA task done by a worker, verified,
#      finalized; held-out preference accuracy before/after (`plow prefs eval`).
#   2. labeling: Debian fortunes (`plow label fortunes`) posted as a label task;
#      a naive Bayes labeler, an accurate simulated one and a spammer commit,
#      reveal; gold, finalize; pay/slash per labeler and the aggregated
#      dataset's accuracy (`plow label result`).
#   3. two collaborative rounds (`plow round run`), the two workers as the
#      participants; validation loss per round and contribution sizes.
# Ends with every account's balance and stake change read from the ledger.
# The command lines are those of tests/cli/dpo.sh, labeling.sh and rounds.sh.
#
#   scripts/demo_kinds.sh [DIR]     (default DIR: runs/demo-kinds)
#
# A previous run in DIR is removed first; the new one's data stays there.
# Exits 0 only if each of the three parts succeeded.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLOW="$ROOT/build/plow"
DIR=${1:-$ROOT/runs/demo-kinds}
[ -x "$PLOW" ] || { echo "demo_kinds.sh: $PLOW is missing: run 'make' first" >&2; exit 1; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR" || exit 1
DIR=$(pwd)
export PLOW_ROOT="$ROOT"
START=$(date +%s)

say() { printf '[%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { say "FAILED: $*"; exit 1; }

# ---- the network -------------------------------------------------------------------------
NODE=""
PIDS=""
cleanup() {
    for p in $PIDS $NODE; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in $PIDS $NODE; do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

KEYS="req w1 w2 v nb acc spam"
for k in $KEYS; do "$PLOW" wallet new --key $k.key -q > $k.addr || die "wallet new"; done
FUND="--fund $(cat req.addr)=1000000"
for k in w1 w2 v nb acc spam; do FUND="$FUND --fund $(cat $k.addr)=5000"; done
"$PLOW" node init --data n --out-genesis g.json $FUND > /dev/null || die "plow node init"
# the node picks a free port and writes its URL to n/node.url
"$PLOW" node --data n --genesis g.json --listen 127.0.0.1:0 --block-ms 100 --quiet > node.log 2>&1 &
NODE=$!
i=0
until [ -s n/node.url ] && curl -sf "$(cat n/node.url)/v1/status" > /dev/null; do
    i=$((i + 1))
    kill -0 $NODE 2>/dev/null || { cat node.log; die "the node exited at start"; }
    [ $i -lt 600 ] || { cat node.log; die "the node did not answer within a minute"; }
    sleep 0.1
done
URL=$(cat n/node.url)
export PLOW_NODE=$URL
say "node on $URL (data in $DIR/n), 7 funded accounts"

# q PATH EXPR: a Python expression over the node's JSON answer j
q() { $PY -c "import json,sys,urllib.request; j=json.load(urllib.request.urlopen('$URL'+sys.argv[1])); print($2)" "$1"; }
acct() { q /v1/account/$(cat $1.addr) "j['$2']"; }
wait_log() { # wait_log FILE PATTERN [N]: up to 120 s
    i=0
    until [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "${3:-1}" ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "== $1"; tail -n 20 "$1"; die "timed out waiting for '$2' in $1"; }
        sleep 0.2
    done
}
for k in $KEYS; do
    echo "$(acct $k balance) $(acct $k stake)" > $k.before
done

cat > policy.json <<EOF
{"kinds": ["dpo", "round"], "min_price_per_step": "0", "max_stake_at_risk": "1000", "stake": "1000",
 "seconds_per_step": 0.3, "safety": 1}
EOF
for w in w1 w2; do
    "$PLOW" worker --key $w.key --work wk_$w --name $w --policy policy.json --threads 1 --poll 0.1 > $w.log 2>&1 &
    PIDS="$PIDS $!"
done
"$PLOW" verifier --key v.key --work wk_v --name v --samples 3 --poll 0.2 > v.log 2>&1 &
PIDS="$PIDS $!"
for w in w1 w2; do wait_log $w.log "registered as agent"; done
say "two honest workers (DPO and round tasks) and a verifier registered"

OK1=no OK2=no OK3=no

# ---- 1. DPO ------------------------------------------------------------------------------
part1() {
    say "1. DPO: preference pairs, a tiny base trained locally"
    mkdir -p dpo && cd dpo || return 1
    head -c 200000 "$ROOT/data/tinyshakespeare.txt" > d.txt
    head -c 60000 d.txt > t.txt
    "$PLOW" tokenizer train --data t.txt --vocab 384 --out tok.bin > /dev/null 2>&1 || { say "tokenizer train failed"; return 1; }
    "$PLOW" prefs generate --text d.txt --seed 1 --train 500 --val 100 --how shuffled --out pairs > gen.txt ||
        { cat gen.txt; return 1; }
    say "   $(head -n 1 gen.txt)"
    "$PLOW" train --data d.txt --tokenizer tok.bin --config tiny --steps 60 --batch 4 --seq 48 --lr 1e-2 --out base \
        --threads 2 > base.log 2>&1 || { tail -n 5 base.log; return 1; }
    say "   base: tiny, 60 steps ($(tail -n 1 base.log | cut -c1-24)...)"
    cat > dpo.task.json <<EOF
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "500", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 300, "work_blocks": 1200, "window_blocks": 20,
 "spec": {"format": "plow.spec.v1", "kind": "dpo", "data": "@pairs/train.jsonl", "heldout": "@pairs/val.jsonl",
          "tokenizer": "@tok.bin", "base": "@base", "beta": 0.5, "steps": 30, "batch": 4, "seq": 40, "lr": 0.01,
          "checkpoint_every": 10, "lora": {"rank": 8, "alpha": 16, "targets": "all"}}}
EOF
    say "   posting a DPO-LoRA task (30 steps, optimistic); the requester waits for it to finalize"
    "$PLOW" requester --key ../req.key --work rq --task dpo.task.json --threads 1 --poll 0.2 > rq.log 2>&1
    rrc=$?
    [ $rrc -le 1 ] || { tail -n 20 rq.log; say "the requester could not run ($rrc)"; return 1; }
    T=$($PY -c "import json; print(json.load(open('rq/requester.json'))['steps'][0]['tasks'][-1])")
    st=$(q /v1/task/$T "j['status']")
    slot=$(q /v1/task/$T "j['slots'][0]['status']")
    W=$(q /v1/task/$T "j['slots'][0]['worker']")
    who=?
    for w in w1 w2; do [ "$W" = "$(cat ../$w.addr)" ] && who=$w; done
    nv=$(grep -c 'valid (dpo' ../v.log || true)
    say "   task $(echo $T | cut -c1-12): $st, done by $who, slot $slot, verifier checks: $nv valid"
    [ "$st" = finalized ] && [ "$slot" = paid ] || { tail -n 20 rq.log; say "the DPO task was not finalized and paid"; return 1; }
    curl -sf -o manifest.json $URL/v1/blob/$(q /v1/task/$T "j['slots'][0]['manifest']") || return 1
    mkdir -p adapter
    for f in adapter_model.safetensors adapter_config.json; do
        curl -sf -o adapter/$f $URL/v1/blob/$($PY -c "import json; print(json.load(open('manifest.json'))['files']['$f'])") ||
            return 1
    done
    "$PLOW" prefs eval --base base --pairs pairs/val.jsonl --seq 40 --beta 0.5 > base_eval.txt || return 1
    "$PLOW" prefs eval --base base --lora adapter --pairs pairs/val.jsonl --seq 40 --beta 0.5 > dpo_eval.txt || return 1
    acc() { sed -n 's/.*policy_accuracy=\([0-9.]*\).*/\1/p' "$1"; }
    DPO_BEFORE=$(acc base_eval.txt)
    DPO_AFTER=$(acc dpo_eval.txt)
    say "   held-out preference accuracy (100 pairs): base $DPO_BEFORE -> after DPO on the network $DPO_AFTER"
    cd "$DIR"
}

# ---- 2. labeling -------------------------------------------------------------------------
part2() {
    say "2. labeling: 600 Debian fortunes, 6 classes, 10% gold"
    mkdir -p label && cd label || return 1
    "$PLOW" label fortunes --out f --items 600 --gold-pct 10 > fortunes.txt || { cat fortunes.txt; return 1; }
    CLASSES=$(cat f/classes.txt)
    say "   classes: $CLASSES"
    "$PLOW" label post --key ../req.key --items f/items.jsonl --classes $CLASSES --gold f/gold.jsonl --labelers 3 \
        --redundancy 3 --reward 1000 --worker-stake 500 --min-gold-pct 40 --claim-blocks 600 --work-blocks 600 \
        --window-blocks 20 --secret sA.json > a.id 2> post.err || { cat post.err; return 1; }
    A=$(cat a.id)
    say "   task $(echo $A | cut -c1-12) posted: 3 labelers, each item labeled 3 times, escrow $(q /v1/task/$A "j['escrow']")"
    "$PLOW" labeler --key ../nb.key --work wk_nb --name nb --poll 0.1 --train f/train.jsonl --smoothing 0.1 > nb.log 2>&1 &
    PIDS="$PIDS $!"
    "$PLOW" labeler --key ../acc.key --work wk_acc --name acc --poll 0.1 --accuracy 0.9 --truth f/truth.jsonl --seed 13 \
        > acc.log 2>&1 &
    PIDS="$PIDS $!"
    "$PLOW" labeler --key ../spam.key --work wk_spam --name spam --poll 0.1 --spam --seed 11 > spam.log 2>&1 &
    PIDS="$PIDS $!"
    say "   labelers: nb (naive Bayes), acc (simulated, 90% accurate), spam (random labels)"
    for k in nb acc spam; do wait_log $k.log "committed"; done
    say "   all three committed"
    for k in nb acc spam; do wait_log $k.log "revealed"; done
    say "   all three revealed; the requester reveals the gold and finalizes"
    "$PLOW" label gold $A --key ../req.key --secret sA.json --wait 2> gold.err || { cat gold.err; return 1; }
    "$PLOW" label finalize $A --key ../req.key --wait 2> fin.err || { cat fin.err; return 1; }
    [ "$(q /v1/task/$A "j['status']")" = finalized ] || { say "the label task is not finalized"; return 1; }
    n=$(q /v1/task/$A "len(j['slots'])")
    s=0
    while [ $s -lt $n ]; do
        W=$(q /v1/task/$A "j['slots'][$s]['worker']")
        st=$(q /v1/task/$A "j['slots'][$s]['status']")
        paid=$(q /v1/task/$A "j['label']['paid'][$s]")
        for k in nb acc spam; do
            if [ "$W" = "$(cat ../$k.addr)" ]; then
                eval "LST_$k=$st"
                say "   slot $s $k: $st, paid $paid, stake now $(acct ../$k stake 2>/dev/null || q /v1/account/$W "j['stake']")"
            fi
        done
        s=$((s + 1))
    done
    "$PLOW" label result $A --out data.jsonl --text-out data.txt --truth f/truth.jsonl > result.txt ||
        { cat result.txt; return 1; }
    sed 's/^/         /' result.txt
    DS=$(sed -n 's/^  the task.s result.* \([0-9.]*\)$/\1/p' result.txt)
    MV=$(sed -n 's/^  majority vote of the same answers *\([0-9.]*\)$/\1/p' result.txt)
    say "   aggregated dataset accuracy on the non-gold items: $DS (majority vote of the same answers: $MV)"
    grep -q "matches task" result.txt || { say "the rebuilt dataset does not match the task's result"; return 1; }
    [ "${LST_acc:-}" = paid ] && [ "${LST_spam:-}" = slashed ] ||
        { say "expected acc paid and spam slashed: acc ${LST_acc:-?}, spam ${LST_spam:-?}"; return 1; }
    cd "$DIR"
}

# ---- 3. collaborative rounds ---------------------------------------------------------------
part3() {
    say "3. collaborative rounds: 2 participants (the two workers), 2 rounds of 6 inner steps (float32, then int8)"
    mkdir -p rounds && cd rounds || return 1
    head -c 100000 "$ROOT/data/tinyshakespeare.txt" > d.txt
    "$PLOW" tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null 2>&1 || return 1
    "$PLOW" train --data d.txt --tokenizer tok.bin --config tiny --steps 1 --batch 1 --seq 16 --out base --threads 1 \
        > base.log 2>&1 || { tail -n 5 base.log; return 1; }
    ROUND="$PLOW round run --key ../req.key --base base --data d.txt --tokenizer tok.bin --participants 2 \
        --inner-steps 6 --batch 4 --seq 32 --lr 3e-3 --claim-blocks 60 --work-blocks 300 --window-blocks 5 \
        --reward 100 --stake 1000 --bond 10 --eval-batches 4 --threads 1 --poll 0.2 --out co"
    # round 0 in float32; the coordinator then resumes for round 1 with int8 contributions
    $ROUND --rounds 1 > co1.log 2>&1 || { tail -n 20 co1.log; say "plow round run (round 0) failed"; return 1; }
    sed 's/^/         /' co1.log
    $ROUND --rounds 2 --int8 > co2.log 2>&1 || { tail -n 20 co2.log; say "plow round run (round 1) failed"; return 1; }
    sed 's/^/         /' co2.log
    [ -f co/rounds.csv ] || return 1
    say "   round  contributed  bytes a contribution (as float32)  validation loss before -> after"
    awk -F, 'NR > 1 { printf "   %5s  %5s of %-4s  %10d (%d)%17s -> %s\n", $1, $3, $2, $4 / $3, $5 / $3, $6, $7 }' co/rounds.csv
    before=$(awk -F, 'NR == 2 { print $6 }' co/rounds.csv)
    after=$(awk -F, 'END { print $7 }' co/rounds.csv)
    say "   validation loss: $before at the start, $after after 2 rounds"
    for r in 000 001; do
        for t in $(cat co/round_$r/tasks.txt); do
            [ "$(q /v1/task/$t "j['slots'][0]['status']")" = paid ] || { say "round $r: task $t not paid"; return 1; }
        done
    done
    [ "$(awk -F, 'NR > 1 { n++ } END { print n }' co/rounds.csv)" = 2 ] || { say "not two rounds"; return 1; }
    cd "$DIR"
}

part1 && OK1=yes
cd "$DIR"
part2 && OK2=yes
cd "$DIR"
part3 && OK3=yes
cd "$DIR"

# ---- the ledger ------------------------------------------------------------------------------
say "accounts (from the ledger, $URL/v1/account; net = change of balance + stake):"
printf '   %-5s %-9s %9s %8s %6s %7s %6s %8s\n' key role balance change stake change locked net
for k in $KEYS; do
    case $k in req) r=requester ;; w1|w2) r=worker ;; v) r=verifier ;; *) r=labeler ;; esac
    set -- $(cat $k.before)
    b=$(acct $k balance); s=$(acct $k stake); l=$(acct $k locked)
    printf '   %-5s %-9s %9s %+8d %6s %+7d %6s %+8d\n' $k $r $b $((b - $1)) $s $((s - $2)) $l $((b + s - $1 - $2))
done
say "summary: 1. DPO $OK1 (held-out preference accuracy ${DPO_BEFORE:-?} -> ${DPO_AFTER:-?}); 2. labeling $OK2 (aggregated accuracy ${DS:-?}); 3. rounds $OK3 (val loss ${before:-?} -> ${after:-?})"
say "logs and data in $DIR"
[ $OK1 = yes ] && [ $OK2 = yes ] && [ $OK3 = yes ]
