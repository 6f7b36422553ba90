# Protocol adversaries (issue 10, "paid for nothing") against a real node and
# real agents, each asserting on the ledger (through the API) that the
# attacker gains nothing and the honest worker is paid:
#   1. the copier: a replica that computes nothing and commits the other
#      replica's commitment as soon as it is in a block (plow worker --cheat
#      copy), then reveals the other's values under its own key. The sealed
#      commitment opens for nobody but its author: the reveal is refused, the
#      copier forfeits its stake, the honest replica is paid.
#   2. the griefer: a replica that commits and reveals random values (plow
#      worker --cheat garbage), uploads nothing (no manifest, no checkpoint).
#      The verifier locates the first divergent step from the two REVEALED
#      leaf lists alone (leaf 0 differs: step 1, state 0 rebuilt from the
#      spec) and challenges both replicas there; the referee's one step
#      slashes the griefer, the honest replica is paid.
#   3. the withholder: works, commits and reveals honestly but uploads none
#      of its outputs (plow worker --cheat withhold) and answers no data
#      challenge. The verifier cannot fetch the revealed slot's manifest and
#      demands it (DA_CHALLENGE); the referee sees nothing by the deadline;
#      at finalize the challenge lapses upheld: the withholder loses its
#      stake, the verifier gets its bond back and half the stake; the
#      requester reposts the task and the honest worker is paid for it.
#   4. the honest worker whose data the node lost (its manifest damaged on
#      the node's disk): the verifier demands it, the worker uploads it again
#      from its work directory, the referee attests it: the challenger loses
#      its bond (half to the worker), the work is checked and paid.
#   5. the griefer with no verifier running: the honest replica challenges
#      the disagreeing replica itself (late in the window, after verifiers
#      had their turn): the griefer is slashed, the honest replica is paid
#      and earns the challenger's share.
#   6. broken promises (issue 17, finding 7): honest work whose published
#      config.json is garbage (plow worker --cheat config) and honest work
#      whose final checkpoint is cut in half (--cheat truncate). Only sampled
#      pieces were opened before, so both were found valid and paid. The
#      verifier opens every output the commitment promises and demands the
#      broken one with a data challenge; the referee sees it present but not
#      what was promised and never attests it; at the deadline each cheat is
#      slashed, the verifier gets its bond back and half the stake, and the
#      reposted tasks pay the honest worker. At the same time the withholder
#      of case 3 on a LoRA task (data availability is not train's alone):
#      its manifest demanded, never uploaded, the withholder slashed.
set -e
. "$LIB"

small_network 100000 req w1 cp gr wh v bc tc

task_of() { /usr/bin/python3 -c "import json; print(json.load(open('$1/requester.json'))['steps'][0]['tasks'][-1])"; }
# mk_task FILE MODE REPLICAS STEPS [WINDOW_BLOCKS [SEED]]
mk_task() {
    cat > "$1" <<EOT
{"format": "plow.taskfile.v1", "mode": "$2", "replicas": $3, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": ${5:-10},
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": $4, "batch": 4, "seq": 64, "checkpoint_every": 10, "seed": "${6:-1}"}}
EOT
}
cat > policy.json <<EOT
{"kinds": ["train", "lora"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
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

# money: what every party holds (fees put back) and what was burned
burned() { q /v1/status "int(j['burned'])"; }
# flip FILE: one byte changed in the middle (the file's time moves on)
flip() { python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'r+b').write(b)" "$1"; }
verifier() {
    $PLOW verifier --key v.key --work wk_v --name v --samples 2 --poll 0.1 >> v.log 2>&1 &
    V=$!
    PIDS="$PIDS $V"
}
# request NAME: a requester posts NAME.task.json (log rq_NAME.log); its pid in RQ, the task in T, T's short id in short
request() {
    $PLOW requester --key req.key --work rq_$1 --task $1.task.json --threads 1 > rq_$1.log 2>&1 &
    RQ=$!
    PIDS="$PIDS $RQ"
    wait_log rq_$1.log "posted task"
    T=$(task_of rq_$1)
    short=$(echo $T | cut -c1-8)
}

# 1. the copier
worker w1; W1=$WPID
worker cp --cheat copy; CP=$WPID
wait_log w1.log "registered as agent"
wait_log cp.log "registered as agent"
wait_log w1.log "staked"
wait_log cp.log "staked"
w1_0=$(held w1); cp_0=$(held cp)
mk_task a.task.json replicated 2 30
request a; RA=$RQ; A=$T
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

# 2. the griefer, against an honest replica and a verifier. The window is
# sized from the verifier's work: a task's inputs fetched, state 0 built
# and uploaded, one challenge sent (well under a second quiet; 25 blocks
# = 5 s for a loaded machine).
worker w1; W1=$WPID
worker gr --cheat garbage; GR=$WPID
$PLOW verifier --key v.key --work wk_v --name v --samples 2 --poll 0.1 > v.log 2>&1 &
V=$!
PIDS="$PIDS $V"
wait_log gr.log "staked"
wait_log w1.log "worker .* starting" 2
wait_log v.log "verifier .* starting"
w1_0=$(held w1); gr_0=$(held gr); v_0=$(held v)
mk_task b.task.json replicated 2 30 25
request b; RB=$RQ; B=$T
wait_log gr.log "task $short: committing values nothing computed"
wait_log v.log "task $short: first divergent step 1 "
wait_log v.log "verdict on challenge .* (task $short, step 1): upheld"
wait $RB || { tail -n 20 rq_b.log; fail "the requester of task B failed"; }
[ "$(q /v1/task/$B "j['status']")" = finalized ] || fail "task B not finalized"
[ "$(slot_of $B w1)" = paid ] || fail "the honest replica was not paid: $(slot_of $B w1)"
[ "$(slot_of $B gr)" = slashed ] || fail "the griefer was not slashed: $(slot_of $B gr)"
w1_1=$(held w1); gr_1=$(held gr); v_1=$(held v)
[ $((w1_1 - w1_0)) -eq 300 ] || fail "the honest replica: holdings less fees $w1_0 -> $w1_1, expected +300"
[ $((gr_0 - gr_1)) -eq 1000 ] || fail "the griefer: holdings less fees $gr_0 -> $gr_1, expected -1000 (its stake)"
[ $((v_1 - v_0)) -eq 500 ] || fail "the verifier: holdings less fees $v_0 -> $v_1, expected +500 (half the stake)"
grep -q "accepted: task $short" rq_b.log || fail "the requester did not accept the honest result"
echo "2. the griefer committed random values and uploaded nothing; the verifier challenged step 1 from the revealed leaves; griefer slashed $gr_0 -> $gr_1, honest paid $w1_0 -> $w1_1, verifier $v_0 -> $v_1"
kill -TERM $W1 $GR $V
wait $W1 || fail "w1 did not exit 0"
wait $GR || fail "the griefer did not exit 0"
wait $V || fail "the verifier did not exit 0"

# 3. the withholder (seed 3: no other run uploaded these bytes)
worker wh --cheat withhold; WH=$WPID
verifier
wait_log wh.log "staked"
wait_log v.log "verifier .* starting" 2
req_0=$(held req); w1_0=$(held w1); wh_0=$(held wh); v_0=$(held v); b_0=$(burned)
mk_task c.task.json optimistic 1 20 25 3
request c; RC=$RQ; C=$T
wait_log wh.log "task $short: uploading none of the outputs -- CHEATING: withhold"
wait_log wh.log "task $short: revealed slot 0"
wait_log v.log "task $short slot 0: DATA CHALLENGE .* its manifest"
wait_log wh.log "task $short: data challenge .* not answering -- CHEATING: withhold"
kill -TERM $WH
wait $WH || fail "the withholder did not exit 0"
worker w1; W1=$WPID # the repost's worker
wait_log v.log "verdict on data challenge .* (task $short): upheld"
wait_log rq_c.log "task $short ended finalized without a paid slot; posting it again"
wait $RC || { tail -n 20 rq_c.log; fail "the requester of task C failed"; }
C2=$(task_of rq_c)
[ "$C2" != "$C" ] || fail "task C was not posted again"
[ "$(slot_of $C wh)" = slashed ] || fail "the withholder was not slashed: $(slot_of $C wh)"
[ "$(q /v1/task/$C "[c['status'] for c in j['challenges'] if c['kind']=='data'][0]")" = upheld ] ||
    fail "the data challenge on task C is not upheld"
[ "$(slot_of $C2 w1)" = paid ] || fail "the honest worker was not paid for the repost: $(slot_of $C2 w1)"
req_1=$(held req); w1_1=$(held w1); wh_1=$(held wh); v_1=$(held v); b_1=$(burned)
[ $((wh_0 - wh_1)) -eq 1000 ] || fail "the withholder: holdings less fees $wh_0 -> $wh_1, expected -1000 (its stake)"
[ $((v_1 - v_0)) -eq 500 ] || fail "the verifier: holdings less fees $v_0 -> $v_1, expected +500 (bond back, half the stake)"
[ $((w1_1 - w1_0)) -eq 300 ] || fail "the honest worker: holdings less fees $w1_0 -> $w1_1, expected +300"
[ $((req_0 - req_1)) -eq 300 ] || fail "the requester: holdings less fees $req_0 -> $req_1, expected -300 (one reward)"
[ $((b_1 - b_0)) -eq 500 ] || fail "burned $b_0 -> $b_1, expected +500 (the stake less the challenger's half)"
[ $((req_1 + w1_1 + wh_1 + v_1 + b_1)) -eq $((req_0 + w1_0 + wh_0 + v_0 + b_0)) ] || fail "money is not conserved"
echo "3. the withholder revealed and uploaded nothing; the verifier's data challenge lapsed unanswered: withholder slashed $wh_0 -> $wh_1, verifier $v_0 -> $v_1, burned +$((b_1 - b_0)); the repost paid the honest worker $w1_0 -> $w1_1"

# 4. the honest worker whose manifest the node lost (seed 4)
kill -TERM $V
wait $V || fail "the verifier did not exit 0"
req_0=$(held req); w1_0=$(held w1); v_0=$(held v); b_0=$(burned)
mk_task d.task.json optimistic 1 20 25 4
request d; RD=$RQ; D=$T
wait_log w1.log "task $short: revealed slot 0"
M=$(q /v1/task/$D "j['slots'][0]['manifest']")
flip "n/blobs/$(echo $M | cut -c1-2)/$M"
verifier
wait_log v.log "task $short slot 0: DATA CHALLENGE .* its manifest"
grep -q "was damaged on this node's disk" node.log || fail "the node did not find the damaged manifest"
wait_log w1.log "task $short: data challenge .*: uploaded blob .* again"
wait_log v.log "verdict on data challenge .* (task $short): rejected"
wait_log v.log "task $short slot 0 .*: valid"
wait $RD || { tail -n 20 rq_d.log; fail "the requester of task D failed"; }
[ "$(slot_of $D w1)" = paid ] || fail "the honest worker was not paid: $(slot_of $D w1)"
req_1=$(held req); w1_1=$(held w1); v_1=$(held v); b_1=$(burned)
[ $((w1_1 - w1_0)) -eq 305 ] || fail "the honest worker: holdings less fees $w1_0 -> $w1_1, expected +305 (reward, half the bond)"
[ $((v_0 - v_1)) -eq 10 ] || fail "the challenger: holdings less fees $v_0 -> $v_1, expected -10 (its bond)"
[ $((req_0 - req_1)) -eq 300 ] || fail "the requester: holdings less fees $req_0 -> $req_1, expected -300"
[ $((b_1 - b_0)) -eq 5 ] || fail "burned $b_0 -> $b_1, expected +5 (the bond less the accused's half)"
echo "4. the node lost the honest worker's manifest; the verifier's data challenge was answered by a new upload: challenger $v_0 -> $v_1, worker $w1_0 -> $w1_1 (paid), burned +$((b_1 - b_0))"
kill -TERM $V
wait $V || fail "the verifier did not exit 0"

# 5. the griefer of case 2 again, and no verifier watching: in the last half
# window the honest replica locates the divergence itself and challenges it
worker gr --cheat garbage; GR=$WPID
wait_log gr.log "worker .* starting" 2
req_0=$(held req); w1_0=$(held w1); gr_0=$(held gr); b_0=$(burned)
mk_task e.task.json replicated 2 20 25 5
request e; RE=$RQ; E=$T
wait_log gr.log "task $short: committing values nothing computed"
wait_log w1.log "task $short: CHALLENGE .* (defending my replica)"
wait $RE || { tail -n 20 rq_e.log; fail "the requester of task E failed"; }
[ "$(slot_of $E w1)" = paid ] || fail "the honest replica was not paid: $(slot_of $E w1)"
[ "$(slot_of $E gr)" = slashed ] || fail "the griefer was not slashed: $(slot_of $E gr)"
req_1=$(held req); w1_1=$(held w1); gr_1=$(held gr); b_1=$(burned)
[ $((w1_1 - w1_0)) -eq 800 ] || fail "the honest replica: holdings less fees $w1_0 -> $w1_1, expected +800 (reward, half the griefer's stake)"
[ $((gr_0 - gr_1)) -eq 1000 ] || fail "the griefer: holdings less fees $gr_0 -> $gr_1, expected -1000"
[ $((req_0 - req_1)) -eq 300 ] || fail "the requester: holdings less fees $req_0 -> $req_1, expected -300"
[ $((b_1 - b_0)) -eq 500 ] || fail "burned $b_0 -> $b_1, expected +500"
[ $((req_1 + w1_1 + gr_1 + b_1)) -eq $((req_0 + w1_0 + gr_0 + b_0)) ] || fail "money is not conserved"
echo "5. no verifier: the honest replica challenged the griefer itself; griefer $gr_0 -> $gr_1, honest $w1_0 -> $w1_1 (paid and the challenger's share), burned +$((b_1 - b_0))"
kill -TERM $W1 $GR
wait $W1 || fail "w1 did not exit 0"
wait $GR || fail "the griefer did not exit 0"

# 6. broken promises: the two cheats each take one task (the second starts
# once the first has its slot), and the withholder a LoRA task; the three
# data challenges run at once
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 2 --batch 2 --seq 32 --out base --threads 1 \
    > base.log 2>&1 || { cat base.log; fail "the LoRA base did not train"; }
verifier
worker bc --cheat config; BC=$WPID
wait_log bc.log "staked"
req_0=$(held req); w1_0=$(held w1); bc_0=$(held bc); tc_0=$(held tc); wh_0=$(held wh); v_0=$(held v); b_0=$(burned)
mk_task f.task.json optimistic 1 20 25 6
request f; RF=$RQ; F=$T; fs=$short
wait_log bc.log "task $fs: claimed slot"
worker tc --cheat truncate; TC=$WPID
mk_task g.task.json optimistic 1 20 25 7
request g; RG=$RQ; G=$T; gs=$short
wait_log tc.log "task $gs: claimed slot"
worker wh --cheat withhold; WH=$WPID
cat > h.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": 25,
 "spec": {"format": "plow.spec.v1", "kind": "lora", "base": "@base", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 20, "batch": 4, "seq": 32, "checkpoint_every": 10, "seed": "8",
          "lora": {"rank": 4, "alpha": 8, "targets": "all"}}}
EOT
request h; RH=$RQ; H=$T; hs=$short
wait_log wh.log "task $hs: claimed slot"
wait_log bc.log "task $fs: revealed slot 0"
wait_log tc.log "task $gs: revealed slot 0"
wait_log wh.log "task $hs: revealed slot 0"
kill -TERM $BC $TC $WH
wait $BC || fail "the config cheat did not exit 0"
wait $TC || fail "the truncate cheat did not exit 0"
wait $WH || fail "the withholder did not exit 0"
worker w1; W1=$WPID # the reposts' worker
wait_log v.log "task $fs slot 0 .*: BROKEN PROMISE: its config.json"
wait_log v.log "task $fs slot 0: DATA CHALLENGE .* its config.json (not what the commitment promises)"
wait_log v.log "task $gs slot 0 .*: BROKEN PROMISE: its checkpoints/00000020.state"
wait_log v.log "task $gs slot 0: DATA CHALLENGE .* its checkpoints/00000020.state (not what"
wait_log node.log "data challenge .*: the blob is not what the accused's commitment promises" 2
wait_log v.log "verdict on data challenge .* (task $fs): upheld"
wait_log v.log "verdict on data challenge .* (task $gs): upheld"
wait_log v.log "task $hs slot 0: DATA CHALLENGE .* its manifest cannot be fetched"
wait_log v.log "verdict on data challenge .* (task $hs): upheld"
wait $RF || { tail -n 20 rq_f.log; fail "the requester of task F failed"; }
wait $RG || { tail -n 20 rq_g.log; fail "the requester of task G failed"; }
wait $RH || { tail -n 20 rq_h.log; fail "the requester of task H failed"; }
F2=$(task_of rq_f); G2=$(task_of rq_g); H2=$(task_of rq_h)
[ "$F2" != "$F" ] && [ "$G2" != "$G" ] && [ "$H2" != "$H" ] || fail "tasks F, G and H were not posted again"
[ "$(slot_of $F bc)" = slashed ] || fail "the config cheat was not slashed: $(slot_of $F bc)"
[ "$(slot_of $G tc)" = slashed ] || fail "the truncate cheat was not slashed: $(slot_of $G tc)"
[ "$(slot_of $H wh)" = slashed ] || fail "the LoRA withholder was not slashed: $(slot_of $H wh)"
[ "$(q /v1/task/$H2 "j['kind']")" = lora ] || fail "the repost of H is not a LoRA task"
[ "$(slot_of $F2 w1)" = paid ] && [ "$(slot_of $G2 w1)" = paid ] && [ "$(slot_of $H2 w1)" = paid ] ||
    fail "the honest worker was not paid for the reposts"
# each broken promise was looked at once: set aside, not opened again at every block
[ "$(grep -c "data challenge .*: the blob is not what the accused's commitment promises" node.log)" -eq 2 ] ||
    fail "the referee opened the broken promises $(grep -c "the blob is not what the accused" node.log) times, not once each"
for t in $F $G $H; do # the referee attested none: each lapsed unanswered
    [ "$(q /v1/task/$t "[c['status'] for c in j['challenges'] if c['kind']=='data']")" = "['upheld']" ] ||
        fail "task $t's data challenges: $(q /v1/task/$t "[c['status'] for c in j['challenges']]")"
done
req_1=$(held req); w1_1=$(held w1); bc_1=$(held bc); tc_1=$(held tc); wh_1=$(held wh); v_1=$(held v); b_1=$(burned)
[ $((bc_0 - bc_1)) -eq 1000 ] || fail "the config cheat: holdings less fees $bc_0 -> $bc_1, expected -1000 (its stake)"
[ $((tc_0 - tc_1)) -eq 1000 ] || fail "the truncate cheat: holdings less fees $tc_0 -> $tc_1, expected -1000 (its stake)"
[ $((wh_0 - wh_1)) -eq 1000 ] || fail "the LoRA withholder: holdings less fees $wh_0 -> $wh_1, expected -1000 (its stake)"
[ $((v_1 - v_0)) -eq 1500 ] || fail "the verifier: holdings less fees $v_0 -> $v_1, expected +1500 (bonds back, half of each stake)"
[ $((w1_1 - w1_0)) -eq 900 ] || fail "the honest worker: holdings less fees $w1_0 -> $w1_1, expected +900"
[ $((req_0 - req_1)) -eq 900 ] || fail "the requester: holdings less fees $req_0 -> $req_1, expected -900 (three rewards)"
[ $((b_1 - b_0)) -eq 1500 ] || fail "burned $b_0 -> $b_1, expected +1500"
[ $((req_1 + w1_1 + bc_1 + tc_1 + wh_1 + v_1 + b_1)) -eq $((req_0 + w1_0 + bc_0 + tc_0 + wh_0 + v_0 + b_0)) ] ||
    fail "money is not conserved"
echo "6. a garbage config.json and a cut final checkpoint (honest work otherwise): the verifier demanded each, the referee attested neither; config cheat $bc_0 -> $bc_1, truncate cheat $tc_0 -> $tc_1; a LoRA withholder $wh_0 -> $wh_1; verifier $v_0 -> $v_1, the reposts paid the honest worker $w1_0 -> $w1_1"
kill -TERM $W1 $V
wait $W1 || fail "w1 did not exit 0"
wait $V || fail "the verifier did not exit 0"
