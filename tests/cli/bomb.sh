# Hostile requesters and challengers (issue 17) against a real node and real
# agents, each case asserting that blocks keep coming, every agent keeps
# running, the honest parties lose nothing and the hostile ones gain nothing
# (exact holdings, fees put back):
#   1. the bomb: a train task with config base, batch 4096 (terabytes of
#      activations), claimed and committed by a colluding key (plow worker
#      --cheat garbage) and challenged at step 1 by a hostile challenger
#      (plow verifier --challenge-at 1). The honest worker refuses to claim it
#      and the honest verifier to check it (both probed it: job_probe); the
#      referee rules it UNRUNNABLE without building anything: the task is
#      voided, the colluder's stake unlocked (not slashed, not paid), the
#      challenger's bond back, the escrow back to the poster. The node keeps
#      producing blocks, and after a restart it neither crashes nor rules again.
#   2. an inference task on a base whose 300-byte header promises gigabytes
#      of weights: the same, ruled unrunnable from the header alone.
#   4. a train task whose data blob was never uploaded: the honest worker
#      refuses it before any claim (its inputs are sized first) and keeps
#      the refusal.
#   6. a train task of 1,000 tiny steps whose batch x seq (32 x 128) makes
#      it about 2e13 FLOP, in a work window of 60 s: at 0.01 s a step (the
#      worker's policy, its measured step time) it would look like 10 s;
#      counted from its FLOP at the worker's rate it cannot finish: refused
#      before any claim (a claim would have forfeited the stake to nobody's
#      gain but the poster's).
#   5. a 1 MiB spec blob (plow_loadgen dispute --in): the honest verifier
#      refuses the committed slot from the blob's size, before downloading
#      it, once (a spec was fetched again at every poll); the referee rules.
#   3. the honest worker, verifier and requester then serve an ordinary task:
#      claimed, run, checked, paid.
#   7. a cheating worker publishes as its model a header promising terabytes:
#      the requester's final check (4 GB cap) refuses it as a verdict, exit 1.
set -e
. "$LIB"

LG=${LGBIN:-"$ROOT/build/plow_loadgen"}
$LG addrs --senders 3 --balance 100000 > fund.txt # plow_loadgen dispute's requester, worker, challenger
FUND_FILE=fund.txt small_network 60000 req w1 cl hv v1

cat > policy.json <<EOT
{"kinds": ["train", "infer"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOT
# Agents run under a 4 GB address-space cap, as in the attack (issue 17):
# a bomb that got past the probes would fail their allocation, not pass
# unnoticed on a large machine. Not under AddressSanitizer (its shadow
# memory reserves terabytes of address space).
CAP=4000000
case "${ASAN_OPTIONS:-}" in *log_path*) CAP=unlimited ;; esac
start_agent() { # start_agent NAME CMD...: its output in NAME.log, its pid in APID
    _n=$1; shift
    (ulimit -v $CAP; exec "$@") >> $_n.log 2>&1 &
    APID=$!
    PIDS="$PIDS $APID"
}
worker() { _n=$1; shift; start_agent $_n $PLOW worker --key $_n.key --work wk_$_n --name $_n --policy policy.json --threads 1 --poll 0.1 "$@"; }
verifier() { _n=$1; shift; start_agent $_n $PLOW verifier --key $_n.key --work vk_$_n --name $_n --threads 1 --poll 0.1 "$@"; }
# what an account holds, fees put back (one fee a transaction)
held() { q /v1/account/$(cat $1.addr) "int(j['balance']) + int(j['stake']) + int(j['unbonding']) + int(j['nonce'])"; }
height() { q /v1/status "j['height']"; }
alive() { for p in "$@"; do kill -0 $p 2>/dev/null || fail "process $p exited"; done; }
# blocks_after H: waits for a block above height H (the node is producing)
blocks_after() {
    _i=0
    until [ "$(height)" -gt "$1" ]; do
        kill -0 $NODE 2>/dev/null || { tail -n 20 node.log; fail "the node exited"; }
        _i=$((_i + 1)); [ $_i -lt 600 ] || fail "no block after height $1"
        sleep 0.1
    done
}
post() { $PLOW task post "$1" --key req.key 2>>post.log | tail -n 1; }
# wait_task ID STATUS: until the task has that status
wait_task() {
    _i=0
    until [ "$(q /v1/task/$1 "j['status']")" = "$2" ]; do
        alive $NODE
        _i=$((_i + 1)); [ $_i -lt 1800 ] || { tail -n 20 node.log; fail "task $1 never $2 (it is $(q /v1/task/$1 "j['status']"))"; }
        sleep 0.1
    done
}
ruling_of() { q /v1/task/$1 "[c['status'] for c in j['challenges']]"; }

worker w1; W1=$APID
verifier v1; V1=$APID
wait_log w1.log "staked"
req_0=$(held req); w1_0=$(held w1); cl_0=$(held cl); hv_0=$(held hv); v1_0=$(held v1)

# 1. the bomb
cat > bomb.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 200, "work_blocks": 300, "window_blocks": 20,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "base", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 10, "batch": 4096}}
EOT
B=$(post bomb.task.json)
[ ${#B} -eq 64 ] || { cat post.log; fail "the bomb was not posted: '$B'"; }
bs=$(echo $B | cut -c1-8)
wait_log w1.log "task $bs: not claiming: cannot be run here: .*memory"
worker cl --cheat garbage; CL=$APID
verifier hv --challenge-at 1; HV=$APID
wait_log cl.log "task $bs: committed"
wait_log hv.log "task $bs: CHALLENGE .* at step 1"
wait_task $B expired
wait_log node.log "cannot be run within the network's limits"
[ "$(ruling_of $B)" = "['upheld']" ] || fail "the bomb's challenge: $(ruling_of $B)"
[ "$(q /v1/task/$B "j['slots'][0]['status']")" = void ] || fail "the colluder's slot: $(q /v1/task/$B "j['slots'][0]['status']")"
wait_log v1.log "task $bs slot 0: not checked: the task cannot be run here"
h=$(height); blocks_after $h
alive $W1 $V1 $CL $HV
[ "$(held req)" -eq "$req_0" ] || fail "the poster: $req_0 -> $(held req) (expected its escrow back, nothing more)"
[ "$(held cl)" -eq "$cl_0" ] || fail "the colluder: $cl_0 -> $(held cl) (expected neither pay nor slash)"
[ "$(held hv)" -eq "$hv_0" ] || fail "the challenger: $hv_0 -> $(held hv) (expected its bond back)"
[ "$(held w1)" -eq "$w1_0" ] || fail "the honest worker: $w1_0 -> $(held w1)"
grep -q "verdict on challenge .*task $bs.*the task cannot be run: voided" hv.log || fail "the challenger did not hear the ruling"
# a restart does not walk back into a crash, nor rule again
resolved=$(q /v1/task/$B "j['challenges'][0]['resolved_at']")
kill -TERM $NODE; wait $NODE || true
restart_node n node.log --block-ms 200 --quiet
h=$(height); blocks_after $((h + 3))
[ "$(grep -c "cannot be run within the network's limits" node.log)" -eq 1 ] || fail "the bomb was ruled again after the restart"
[ "$(q /v1/task/$B "j['challenges'][0]['resolved_at']")" = "$resolved" ] || fail "the bomb's challenge changed after the restart"
echo "1. the bomb (config base, batch 4096) was ruled unrunnable at step 1 without building it; task expired, slot void; poster $req_0 -> $(held req), colluder $cl_0 -> $(held cl), challenger $hv_0 -> $(held hv); the node survived a restart"

# 2. an inference base whose header promises 3 GiB of weights in 300 bytes
mkdir -p lying
/usr/bin/python3 - <<'EOT'
import json, struct
meta = {"format": "pt", "plow.kind": "model", "plow.n_layer": "48", "plow.d_model": "1024", "plow.n_head": "16",
        "plow.n_kv_head": "16", "plow.d_ff": "4096", "plow.ctx": "8192", "plow.vocab": "300", "plow.tied": "1",
        "plow.norm_eps": "1e-5", "plow.rope_theta": "10000"}
hdr = json.dumps({"__metadata__": meta, "model.norm.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
open("lying/model.safetensors", "wb").write(struct.pack("<Q", len(hdr)) + hdr + bytes(16))
open("lying/config.json", "w").write("{}")
EOT
cp tok.bin lying/tokenizer.bin
cat > lie.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 200, "work_blocks": 300, "window_blocks": 20,
 "spec": {"format": "plow.spec.v1", "kind": "infer", "tokenizer": "@tok.bin", "base": "@lying",
          "infer": {"prompt": "ROMEO:", "tokens": 16}}}
EOT
L=$(post lie.task.json)
[ ${#L} -eq 64 ] || { cat post.log; fail "the lying inference task was not posted: '$L'"; }
ls=$(echo $L | cut -c1-8)
wait_log w1.log "task $ls: not claiming: cannot be run here: .*its config needs"
wait_log cl.log "task $ls: committed"
wait_log hv.log "task $ls: CHALLENGE .* at step 1"
wait_task $L expired
[ "$(ruling_of $L)" = "['upheld']" ] || fail "the lying task's challenge: $(ruling_of $L)"
alive $W1 $V1 $CL $HV
[ "$(held req)" -eq "$req_0" ] || fail "the poster: $req_0 -> $(held req)"
[ "$(held cl)" -eq "$cl_0" ] || fail "the colluder: $cl_0 -> $(held cl)"
[ "$(held hv)" -eq "$hv_0" ] || fail "the challenger: $hv_0 -> $(held hv)"
echo "2. an inference base promising 3 GiB in $(wc -c < lying/model.safetensors) bytes was ruled unrunnable from its header; task expired"
kill -TERM $CL $HV
wait $CL || fail "the colluder did not exit 0"
wait $HV || fail "the hostile challenger did not exit 0"

# 4. a task whose data blob was never uploaded: the honest worker sizes its
#    inputs before it claims (job_probe), refuses it once and for good
NONE=$(printf 'bytes nobody uploaded' | sha256sum | cut -c1-64)
cat > nodata.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 200, "work_blocks": 300, "window_blocks": 20,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "$NONE", "tokenizer": "@tok.bin",
          "steps": 4, "batch": 2, "seq": 32}}
EOT
N=$(post nodata.task.json)
[ ${#N} -eq 64 ] || { cat post.log; fail "the task without data was not posted: '$N'"; }
ns=$(echo $N | cut -c1-8)
wait_log w1.log "task $ns: not claiming: cannot be run here: the task's data (blob .*) is not available"
[ -f wk_w1/refused/$N ] || fail "the worker did not keep its refusal of the task without data"
[ "$(q /v1/task/$N "j['slots'][0]['status']")" = empty ] || fail "the task without data was claimed"
echo "4. a task whose data blob does not exist was refused before any claim ($(grep -o "task $ns: not claiming: .*" w1.log | cut -c1-90))"

# 6. work that cannot finish in its window: batch x seq counted
cat > slow.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 50, "work_blocks": 300, "window_blocks": 20,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 1000, "batch": 32, "seq": 128}}
EOT
S=$(post slow.task.json)
[ ${#S} -eq 64 ] || { cat post.log; fail "the slow task was not posted: '$S'"; }
ss=$(echo $S | cut -c1-8)
wait_log w1.log "task $ss: not claiming: I need about [0-9]*s and the deadline gives 60s"
need=$(sed -n "s/.*task $ss: not claiming: I need about \([0-9]*\)s.*/\1/p" w1.log | head -n 1)
# by step time alone: 1,000 x 0.01 s + 2 s = 12 s, well inside the window
[ "$need" -gt 60 ] || fail "the worker's estimate of the slow task is ${need}s: batch x seq not counted"
[ "$(q /v1/task/$S "j['slots'][0]['status']")" = empty ] || fail "the slow task was claimed"
[ "$(held w1)" -eq "$w1_0" ] || fail "the honest worker: $w1_0 -> $(held w1)"
echo "6. 1,000 steps of batch 32 x seq 128 in a 60 s window: refused before any claim ($(grep -o "task $ss: not claiming: .*" w1.log | head -n 1))"

# 5. a spec blob of 1 MiB (a spec may be 64 KiB): posted, claimed, committed
#    and challenged at step 1 by plow_loadgen dispute. The honest verifier
#    sizes the spec (HEAD) before it downloads it, refuses the slot once and
#    keeps the refusal (it was fetched again at every poll); the referee
#    rules it unrunnable; the node and the agents keep running
/usr/bin/python3 -c "
import sys
s = '{\"format\": \"plow.spec.v1\", \"kind\": \"train\"' + ' ' * (1 << 20) + '}'
open('huge.spec', 'w').write(s)"
CH=$($LG dispute --url "$URL" --in huge.spec)
SP=$(sha256sum huge.spec | cut -c1-64)
HT=$(q "/v1/tasks?limit=50" "[t['id'] for t in j['tasks'] if t['spec'] == '$SP'][0]")
hs=$(echo $HT | cut -c1-8)
wait_log v1.log "task $hs: not checked: the task's spec is 1048619 bytes, more than a spec may be (65536)"
_i=0
until [ "$(q /v1/challenge/$CH "j['status']")" != open ]; do
    _i=$((_i + 1)); [ $_i -lt 600 ] || fail "the huge spec's challenge was never ruled"
    sleep 0.1
done
h=$(height); blocks_after $((h + 5))
[ "$(grep -c "task $hs: not checked" v1.log)" -eq 1 ] || fail "the verifier judged the huge spec again: $(grep -c "task $hs" v1.log) times"
[ -f vk_v1/refused/$HT ] || fail "the verifier did not keep its refusal of the huge spec"
alive $NODE $W1 $V1
echo "5. a 1 MiB spec: the verifier refused it once from its size ($(grep -o "task $hs: not checked: .*" v1.log | cut -c1-100)); challenge $(q /v1/challenge/$CH "j['status']")"

# 3. the honest agents serve an ordinary task: claimed, run, checked, paid
cat > ok.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 12, "batch": 2, "seq": 32, "checkpoint_every": 4}}
EOT
$PLOW requester --key req.key --work rq_ok --task ok.task.json --threads 1 > rq_ok.log 2>&1 &
RQ=$!
PIDS="$PIDS $RQ"
wait $RQ || { tail -n 20 rq_ok.log; fail "the requester of the ordinary task failed"; }
wait_log v1.log "slot 0 (.*): valid"
[ $(($(held w1) - w1_0)) -eq 300 ] || fail "the honest worker: $w1_0 -> $(held w1), expected +300"
alive $NODE $W1 $V1
echo "3. afterwards the honest worker was paid for an ordinary task ($w1_0 -> $(held w1)), the verifier found it valid"
kill -TERM $W1 $V1
wait $W1 || fail "w1 did not exit 0"
wait $V1 || fail "v1 did not exit 0"

# 7. the requester's final check (it downloads and loads what it paid for):
#    with no verifier online a cheating worker (--cheat bomb) does the work
#    honestly but publishes as its model a 500-byte safetensors header
#    promising 64 layers of d 16384 and vocab 2^20 (terabytes), its tensor far
#    past the end of the file. Nobody challenges, so the worker is paid (the
#    optimistic bargain: unchecked work pays); the requester, under a 4 GB
#    address-space cap, refuses that artifact in one clear verdict without
#    allocating what the header promises, writes ok: false and exits 1, its
#    documented failure status. The node keeps producing blocks and the money
#    moves by exactly the reward, no more.
worker cl --cheat bomb; CL=$APID
wait_log cl.log "staked"
req_1=$(held req); cl_1=$(held cl)
sed 's/"window_blocks": 10/"window_blocks": 4/' ok.task.json > bombart.task.json
( ulimit -v $CAP; exec $PLOW requester --key req.key --work rq_bomb --task bombart.task.json --threads 1 \
    --poll 0.1 ) > rq_bomb.log 2>&1 &
RQ=$!
PIDS="$PIDS $RQ"
rrc=0; wait $RQ || rrc=$?
[ $rrc -eq 1 ] || { tail -n 20 rq_bomb.log; fail "the requester of the bomb artifact exited $rrc (expected 1)"; }
grep -q "step 'bombart': FAILED: the published artifact is refused: " rq_bomb.log ||
    { tail -n 20 rq_bomb.log; fail "the requester did not refuse the bomb artifact"; }
[ "$(grep -c "step 'bombart': FAILED" rq_bomb.log)" -eq 1 ] || fail "the requester judged the bomb more than once"
grep -q "could not check" rq_bomb.log && fail "the requester retried the bomb as if the network had failed"
[ "$(/usr/bin/python3 -c "import json; print(json.load(open('rq_bomb/result.json'))['ok'])")" = False ] ||
    fail "the requester's result.json does not say the bomb failed"
h=$(height); blocks_after $((h + 2))
alive $NODE $CL
[ $((req_1 - $(held req))) -eq 300 ] || fail "the requester: $req_1 -> $(held req), expected exactly the reward (300) gone"
[ $(($(held cl) - cl_1)) -eq 300 ] || fail "the cheat: $cl_1 -> $(held cl), expected exactly the reward (300)"
echo "7. a published model whose header promises terabytes: the requester (4 GB cap) refused it ($(grep -o "FAILED: .*" rq_bomb.log | cut -c1-110)), exit 1; requester $req_1 -> $(held req), cheat $cl_1 -> $(held cl)"
kill -TERM $CL
wait $CL || fail "the cheat did not exit 0"
