# The agents against a real node (issue 5): a worker killed (SIGKILL) in the
# middle of a task and started again redoes it and commits the same bits as an
# uninterrupted replica; one restarted after its commit deadline leaves the
# slot to the rules, which forfeit it (and the requester reposts the task);
# two workers racing for a single-slot task: one wins, the other logs the
# node's refusal; a node stopped and started again in the middle of a run:
# the agents wait, reconnect, and the task completes. Decisions are checked
# on the ledger (through the API), not in the agents' prose.
set -e
. "$LIB"

# usage and input errors, before any node exists
for c in worker verifier requester demo; do
    $PLOW $c --help > h.txt || fail "plow $c --help exited non-zero"
    grep -q "usage: plow $c" h.txt || fail "plow $c --help has no usage line"
done
$PLOW wallet new --key k.key -q > /dev/null
expect_fail 2 timeout 30 $PLOW worker
expect_fail 2 timeout 30 $PLOW worker --key k.key
expect_fail 2 timeout 30 $PLOW worker --key k.key --work w --cheat-rate 0.5
expect_fail 2 timeout 30 $PLOW worker --key k.key --work w --cheat perturb --cheat-rate 2
expect_fail 2 timeout 30 $PLOW worker --key k.key --work w --threads 0
expect_fail 2 timeout 30 $PLOW worker --key k.key --work w --bogus
expect_fail 2 timeout 30 $PLOW verifier --key k.key --work w --samples 0
expect_fail 2 timeout 30 $PLOW verifier --key k.key --work w --bond -5
expect_fail 2 timeout 30 $PLOW requester --key k.key --work w
expect_fail 2 timeout 30 $PLOW requester --key k.key --work w --task a --workflow b
expect_fail 2 $PLOW demo --steps abc
expect_fail 2 $PLOW demo --config huge
expect_fail 2 $PLOW demo --tokens 500
expect_fail 2 $PLOW demo --workers 8
expect_fail 1 timeout 30 $PLOW worker --key missing.key --work w
echo '{"kinds": ["bake"]}' > badpolicy.json
expect_fail 1 timeout 30 $PLOW worker --key k.key --work w --policy badpolicy.json
grep -q "unknown kind" err.txt || fail "a bad policy: $(cat err.txt)"
echo '{"format": "plow.workflow.v1", "steps": [{"name": "a", "task": "a.json", "inputs": {"base": "a"}}]}' > badwf.json
expect_fail 1 timeout 30 $PLOW requester --key k.key --work w --workflow badwf.json
grep -q "must name an earlier step" err.txt || fail "a bad workflow: $(cat err.txt)"
echo '{"format": "plow.workflow.v1", "steps": [{"name": "a", "task": "missing.task.json"}]}' > wf2.json
expect_fail 1 timeout 30 $PLOW requester --key k.key --work w --workflow wf2.json
grep -q "missing.task.json" err.txt || fail "a workflow naming a missing TASKFILE: $(cat err.txt)"
chmod 644 k.key
expect_fail 1 timeout 30 $PLOW worker --key k.key --work w
grep -q "chmod 600" err.txt || fail "a key readable by others: $(cat err.txt)"

small_network 100000 req w1 w2 w3

# the full id of the last task a requester posted (its work dir's state)
task_of() { /usr/bin/python3 -c "import json; print(json.load(open('$1/requester.json'))['steps'][0]['tasks'][-1])"; }
# mk_task FILE MODE REPLICAS STEPS WORK_BLOCKS CLAIM_BLOCKS
mk_task() {
    cat > "$1" <<EOF
{"format": "plow.taskfile.v1", "mode": "$2", "replicas": $3, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": $6, "work_blocks": $5, "window_blocks": 5,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": $4, "batch": 4, "seq": 64, "checkpoint_every": 20}}
EOF
}
cat > policy.json <<EOF
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOF
worker() { # worker NAME: starts it (log NAME.log, appended); its pid in WPID
    $PLOW worker --key $1.key --work wk_$1 --name $1 --policy policy.json --threads 1 --poll 0.1 >> $1.log 2>&1 &
    WPID=$!
    PIDS="$PIDS $WPID"
}

# 1. SIGKILL in the middle of a task; the restarted worker redoes it and commits the same bits
worker w1; W1=$WPID
worker w2; W2=$WPID
wait_log w1.log "registered as agent"
wait_log w2.log "registered as agent"
mk_task a.task.json replicated 2 100 300 50
$PLOW requester --key req.key --work rq_a --task a.task.json --threads 1 > rq_a.log 2>&1 &
RA=$!
PIDS="$PIDS $RA"
wait_log w1.log "train [0-9]*/100"
kill -9 $W1
wait $W1 2>/dev/null || true
A=$(task_of rq_a)
[ "$(q /v1/task/$A "[s['status'] for s in j['slots'] if s['worker']=='$(cat w1.addr)'][0]")" = claimed ] ||
    fail "the killed worker's slot is not claimed"
worker w1; W1=$WPID
wait_log w1.log "working (train" 2
wait $RA || { tail -n 20 rq_a.log; fail "the requester of task A failed"; }
[ "$(q /v1/task/$A "j['status']")" = finalized ] || fail "task A not finalized"
[ "$(q /v1/task/$A "' '.join(s['status'] for s in j['slots'])")" = "paid paid" ] || fail "task A: both replicas should be paid"
[ "$(q /v1/task/$A "len(set(s['final_state'] for s in j['slots']))")" = 1 ] ||
    fail "the redone run does not commit the same final state as the uninterrupted replica"
echo "1. killed mid-task, restarted: redone, committed the same state as the other replica, both paid"

# 2. a race for a single slot: one claim wins, the other is refused by the node
won=0
for try in 1 2 3; do
    mk_task c$try.task.json optimistic 1 20 300 50
    $PLOW requester --key req.key --work rq_c$try --task c$try.task.json --threads 1 > rq_c$try.log 2>&1 &
    RC=$!
    PIDS="$PIDS $RC"
    wait $RC || { tail -n 20 rq_c$try.log; fail "the requester of race task $try failed"; }
    C=$(task_of rq_c$try)
    holder=$(q /v1/task/$C "j['slots'][0]['worker']")
    [ "$(q /v1/task/$C "j['slots'][0]['status']")" = paid ] || fail "race task: the winner was not paid"
    if [ "$holder" = "$(cat w1.addr)" ]; then loser=w2; else loser=w1; fi
    short=$(echo $C | cut -c1-8)
    if grep -q "task $short: claim refused: claim: task $(echo $C | cut -c1-16) has no free slot" $loser.log; then
        won=1
        echo "2. race (try $try): $( [ $loser = w1 ] && echo w2 || echo w1) won, $loser logged: $(grep "task $short: claim refused" $loser.log | sed 's/^[^ ]* //')"
        break
    fi
    echo "race try $try: the loser saw the task taken before claiming; again"
done
[ $won = 1 ] || fail "no refused claim in 3 races"

# 3. the node stopped (SIGTERM) and started again in the middle of a run
mk_task d.task.json replicated 2 100 300 50
$PLOW requester --key req.key --work rq_d --task d.task.json --threads 1 > rq_d.log 2>&1 &
RD=$!
PIDS="$PIDS $RD"
wait_log rq_d.log "posted task"
D=$(task_of rq_d)
wait_log w1.log "task $(echo $D | cut -c1-8): train [0-9]*/100"
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly on SIGTERM"
# down until the requester has noticed; then again where the agents look for it
wait_log rq_d.log "waiting for the node"
restart_node n node.log --genesis g.json --block-ms 200 --quiet
wait $RD || { tail -n 30 rq_d.log; fail "the requester did not finish after the node restart"; }
grep -q "waiting for the node" rq_d.log || fail "the requester never noticed the node was down"
grep -q "node reachable again" rq_d.log || fail "the requester did not log its reconnection"
[ "$(q /v1/task/$D "j['status']")" = finalized ] || fail "task D not finalized after the node restart"
[ "$(q /v1/task/$D "' '.join(s['status'] for s in j['slots'])")" = "paid paid" ] || fail "task D: both replicas should be paid"
echo "3. node restarted mid-run: the agents reconnected and the task was finalized, both replicas paid"

# SIGTERM: a clean stop
kill -TERM $W1 $W2
wait $W1 || fail "worker 1 did not exit 0 on SIGTERM"
wait $W2 || fail "worker 2 did not exit 0 on SIGTERM"
grep -q "w1: stopped" w1.log || fail "worker 1 did not log its stop"

# 4. killed, and started again after its commit deadline: the slot is left to the
# rules, which forfeit it when the requester expires the task (later: claim_blocks
# is long, work_blocks short), and the requester posts the task again
worker w3; W3=$WPID
mk_task b.task.json optimistic 1 100 25 60
$PLOW requester --key req.key --work rq_b --task b.task.json --threads 1 > rq_b.log 2>&1 &
RB=$!
PIDS="$PIDS $RB"
wait_log w3.log "train [0-9]*/100"
kill -9 $W3
wait $W3 2>/dev/null || true
B=$(task_of rq_b)
# what the worker holds (balance + stake), fees put back (a fee a transaction: the
# restarted worker tops its stake up again, may claim the reposted task)
# (one request for both: the restarted worker may send a transaction in between)
held() { q /v1/account/$(cat w3.addr) "int(j['balance']) + int(j['stake']) + int(j['unbonding']) + int(j['nonce'])"; }
held0=$(held)
deadline=$(q /v1/task/$B "int(j['slots'][0]['claimed_at']) + int(j['work_blocks'])")
i=0
until [ "$(q /v1/status "j['height']")" -gt "$deadline" ]; do
    i=$((i + 1)); [ $i -lt 300 ] || fail "the chain did not pass block $deadline"; sleep 0.2
done
[ "$(q /v1/task/$B "j['slots'][0]['status']")" = claimed ] || fail "task B's slot should still be claimed (not expired yet)"
worker w3; W3=$WPID
wait_log w3.log "task $(echo $B | cut -c1-8): the commit deadline (block $deadline) has passed"
wait_log rq_b.log "task $(echo $B | cut -c1-8) expired"
[ "$(q /v1/task/$B "j['slots'][0]['status']")" = forfeited ] || fail "the late worker's slot is not forfeited"
[ "$(q /v1/task/$B "j['status']")" = expired ] || fail "task B not expired"
held1=$(held)
[ $((held0 - held1)) -eq 1000 ] || fail "the forfeited stake: holdings less fees $held0 -> $held1, expected -1000"
! grep -q "task $(echo $B | cut -c1-8): committed" w3.log || fail "the late worker committed anyway"
wait_log rq_b.log "posted task .* (try 2)"
echo "4. restarted after the deadline: no commit, slot forfeited (holdings $held0 -> $held1), the task posted again"
kill -TERM $W3 $RB
wait $W3 || fail "worker 3 did not exit 0 on SIGTERM"
set +e
wait $RB
rc=$?
set -e
[ $rc -eq 1 ] || fail "a requester stopped before the end should exit 1, not $rc"
grep -q "a restart with the same work dir continues the run" rq_b.log || fail "the stopped requester did not say how to go on"
