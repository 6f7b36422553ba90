# Protocol adversaries (issue 10, "paid for nothing") against a real node and
# real agents, each asserting on the ledger (through the API) that the
# attacker gains nothing and the honest worker is paid:
#   1. the copier: a replica that computes nothing and commits the other
#      replica's commitment as soon as it is in a block (plow worker --cheat
#      copy), then reveals the other's values under its own key. The sealed
#      commitment opens for nobody but its author: the reveal is refused, the
#      copier forfeits its stake, the honest replica is paid.
set -e
. "$LIB"

head -c 100000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null 2>&1
for k in req w1 cp; do $PLOW wallet new --key $k.key -q > $k.addr; done
$PLOW node init --data n --out-genesis g.json --fund "$(cat req.addr)=1000000" --fund "$(cat w1.addr)=50000" \
    --fund "$(cat cp.addr)=50000" > /dev/null
trap stop_all EXIT
start_node n node.log --genesis g.json --block-ms 200 --quiet
export PLOW_NODE=$URL

task_of() { /usr/bin/python3 -c "import json; print(json.load(open('$1/requester.json'))['steps'][0]['tasks'][-1])"; }
# mk_task FILE MODE REPLICAS STEPS
mk_task() {
    cat > "$1" <<EOT
{"format": "plow.taskfile.v1", "mode": "$2", "replicas": $3, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": $4, "batch": 4, "seq": 64, "checkpoint_every": 10}}
EOT
}
cat > policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOT
worker() { # worker NAME [ARGS...]: starts it (log NAME.log); its pid in WPID
    _n=$1; shift
    $PLOW worker --key $_n.key --work wk_$_n --name $_n --policy policy.json --threads 1 --poll 0.1 "$@" >> $_n.log 2>&1 &
    WPID=$!
    PIDS="$PIDS $WPID"
}
# what an account holds, fees put back (one fee a transaction)
held() { q /v1/account/$(cat $1.addr) "int(j['balance']) + int(j['stake']) + int(j['unbonding']) + int(j['nonce'])"; }
slot_of() { q /v1/task/$1 "[s['status'] for s in j['slots'] if s['worker']=='$(cat $2.addr)'][0]"; }

# 1. the copier
worker w1; W1=$WPID
worker cp --cheat copy; CP=$WPID
wait_log w1.log "registered as agent"
wait_log cp.log "registered as agent"
wait_log w1.log "staked"
wait_log cp.log "staked"
w1_0=$(held w1); cp_0=$(held cp)
mk_task a.task.json replicated 2 30
$PLOW requester --key req.key --work rq_a --task a.task.json --threads 1 > rq_a.log 2>&1 &
RA=$!
PIDS="$PIDS $RA"
wait_log rq_a.log "posted task"
A=$(task_of rq_a)
short=$(echo $A | cut -c1-8)
wait_log cp.log "task $short: copying slot"
wait_log cp.log "task $short: reveal refused: .*do not open"
wait $RA || { tail -n 20 rq_a.log; fail "the requester of task A failed"; }
[ "$(q /v1/task/$A "j['status']")" = finalized ] || fail "task A not finalized"
[ "$(slot_of $A w1)" = paid ] || fail "the honest replica was not paid: $(slot_of $A w1)"
[ "$(slot_of $A cp)" = forfeited ] || fail "the copier was not forfeited: $(slot_of $A cp)"
# the copier committed the honest commitment bit for bit, and nothing it revealed counted
[ "$(q /v1/task/$A "len(set(s['commitment'] for s in j['slots']))")" = 1 ] ||
    fail "the copier did not commit the honest commitment"
[ "$(q /v1/task/$A "[s['revealed_at'] for s in j['slots'] if s['worker']=='$(cat cp.addr)'][0]")" = 0 ] ||
    fail "the copier's slot counts as revealed"
w1_1=$(held w1); cp_1=$(held cp)
[ $((w1_1 - w1_0)) -eq 300 ] || fail "the honest replica: holdings less fees $w1_0 -> $w1_1, expected +300"
[ $((cp_0 - cp_1)) -eq 1000 ] || fail "the copier: holdings less fees $cp_0 -> $cp_1, expected -1000 (its stake)"
grep -q "accepted: task $short" rq_a.log || fail "the requester did not accept the honest result"
echo "1. the copier committed the honest commitment, its reveal was refused ($(grep -o 'reveal refused: .*' cp.log | head -1 | cut -c1-80)); forfeited $cp_0 -> $cp_1, the honest replica paid $w1_0 -> $w1_1"
kill -TERM $W1 $CP
wait $W1 || fail "w1 did not exit 0"
wait $CP || fail "the copier did not exit 0"
