# A verdict the referee computes too late is computed once, never again
# (issue 17, finding 3's last sentence; docs/threats.md R4). A real node
# whose referee has 1 block to rule (--verdict-blocks 1: a step challenge
# voids 3 blocks after it opens, 300 ms at 100 ms blocks), a perturbing
# worker on a `small` task (one step replay takes the referee well over
# 300 ms) and a verifier that challenges it. The referee computes the verdict
# once; the ledger refuses it (its deadline has passed); the referee then
# sets the challenge aside (it lapses: a lapsed step challenge voids the
# accused's slot, so the cheat is not paid) and does not compute it again in
# the blocks after, however many pass. Before the fix a refused verdict was
# ruled again on every pass (REFEREE_TRIES times here, forever before the
# retry cap).
set -e
. "$LIB"

INIT_ARGS="--verdict-blocks 1" NODE_ARGS="--block-ms 100" small_network 100000 req pc v
cat > policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOT
cat > t.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 600, "work_blocks": 3000, "window_blocks": 3000,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "small", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 4, "batch": 4, "seq": 64, "checkpoint_every": 2, "seed": "5"}}
EOT
$PLOW worker --key pc.key --work wk_pc --name pc --policy policy.json --threads 1 --poll 0.1 --cheat perturb@4 \
    > pc.log 2>&1 &
PC=$!
PIDS="$PIDS $PC"
wait_log pc.log "staked"
T=$($PLOW task post t.json --key req.key 2>post.log | tail -n 1)
[ ${#T} -eq 64 ] || { cat post.log; fail "the task was not posted: '$T'"; }
ts=$(echo $T | cut -c1-8)
wait_log pc.log "task $ts: revealed slot 0"
$PLOW verifier --key v.key --work wk_v --name v --samples 1 --threads 1 --poll 0.1 > v.log 2>&1 &
V=$!
PIDS="$PIDS $V"
wait_log v.log "task $ts: CHALLENGE .* opened against"
C=$(q /v1/task/$T "[c['id'] for c in j['challenges'] if c['challenger']=='$(cat v.addr)'][0]")
cs=$(echo $C | cut -c1-16)
wait_log node.log "referee: ruling challenge $cs"
void=$(sed -n "s/.*referee: ruling challenge $cs… (computation 1, block \([0-9]*\), void at \([0-9]*\)).*/\2/p" node.log)
[ -n "$void" ] || { grep referee node.log; fail "no void height in the referee's log"; }
# until the referee set it aside or computed it again (a slow or sanitized
# build may still be computing at the void height), then 30 blocks in which
# a re-ruling would have happened (retries after 1, 2, 4 blocks)
_i=0
until grep -q "referee: challenge $cs…: .*(not ruled: it lapses)\|referee: ruling challenge $cs… (computation 2" node.log; do
    kill -0 $NODE || fail "the node exited"
    _i=$((_i + 1)); [ $_i -lt 1800 ] || { grep referee node.log; fail "the referee neither set the challenge aside nor ruled it again"; }
    sleep 0.1
done
h=$(q /v1/status "int(j['height'])")
until [ "$(q /v1/status "int(j['height'])")" -ge $((h + 30)) ]; do kill -0 $NODE || fail "the node exited"; sleep 0.2; done
n=$(grep -c "referee: ruling challenge $cs" node.log)
[ "$n" -eq 1 ] || { grep "referee" node.log; fail "the referee computed the late verdict $n times, not once"; }
grep -q "referee: challenge $cs…: .*(not ruled: it lapses)" node.log || fail "the referee did not set the challenge aside"
grep -q "referee: the verdict on challenge $cs… did not apply (verdict: verdict deadline passed" node.log ||
    fail "the late verdict was not refused by the ledger for its deadline"
[ "$(q /v1/challenge/$C "j['status']")" != upheld ] || fail "a verdict past the void height was applied"
kill -0 $NODE || fail "the node exited"
echo "the referee computed the verdict on challenge $cs once (void at block $void); the ledger refused it; set aside, not computed again in 30 blocks"
kill -TERM $PC $V
wait $PC || fail "the worker did not exit 0"
wait $V || fail "the verifier did not exit 0"
