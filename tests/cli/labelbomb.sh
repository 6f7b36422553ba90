# Hostile label requesters (issue 17, findings 4 and 6) against a real node
# and two real labeler agents. Before this, labelers claimed first and
# fetched items after (a missing or garbage items blob cost them their
# stake, retried as "waiting for the node"), and kept four tasks' items in
# memory whatever their size (three 1 GiB item sets killed them). Now a
# labeler probes a task before it claims it: the spec (at most 64 KiB), the
# items blob's size from the node (HEAD) against its item budget and its
# machine, then a bounded fetch and a parse; a task that does not check out
# is refused for good (WORK/refused, kept across restarts) and logged once.
#   A. items the node does not have      -> refused, nothing claimed
#   B. garbage items (binary bytes)       -> refused, nothing claimed
#   C. 2 item lines for a spec of 3       -> refused, nothing claimed
#   D. items larger than l1's budget (--item-budget 4096): l1 refuses, l2
#      (the default 256 MiB budget) claims it
#   E. afterwards an honest task: both labelers claim, label, reveal and are
#      paid exactly what the ledger says; a restarted l1 refuses nothing
#      again (no spec or items fetched for A-D) and takes another task.
# Every hostile task leaves both labelers' holdings untouched (fees put back).
set -e
. "$LIB"

small_network 20000 req l1 l2
held() { q /v1/account/$(cat $1.addr) "int(j['balance']) + int(j['stake']) + int(j['unbonding']) + int(j['nonce'])"; }
alive() { for p in "$@"; do kill -0 $p 2>/dev/null || fail "process $p exited"; done; }
slots() { q /v1/task/$1 "' '.join(s['status'] for s in j['slots'])"; }
labeler() { # labeler NAME ARGS...: its log NAME.log, its pid LPID
    _n=$1; shift
    $PLOW labeler --key $_n.key --work wk_$_n --name $_n --poll 0.1 --accuracy 1 --truth truth.jsonl "$@" >> $_n.log 2>&1 &
    LPID=$!
    PIDS="$PIDS $LPID"
}
/usr/bin/python3 - <<'EOT'
import json, os
texts = ["the %s number %d of the task, plain words" % (c, i) for i in range(12) for c in ("apple", "stone")]
cls = lambda t: "a" if "apple" in t else "b"
open("truth.jsonl", "w").write("".join(json.dumps({"text": t, "label": cls(t)}) + "\n" for t in texts))
open("ok.jsonl", "w").write("".join(json.dumps({"text": t}) + "\n" for t in texts[:6]))
open("ok2.jsonl", "w").write("".join(json.dumps({"text": t}) + "\n" for t in texts[6:12]))
open("ok3.jsonl", "w").write("".join(json.dumps({"text": t}) + "\n" for t in texts[18:24]))
open("two.jsonl", "w").write("".join(json.dumps({"text": t}) + "\n" for t in texts[12:14]))
open("garbage.bin", "wb").write(bytes(range(256)) * 8)
big = ["%s %s" % (t, "apple " * 400) for t in texts[14:18]]
open("big.jsonl", "w").write("".join(json.dumps({"text": t}) + "\n" for t in big))
open("big_truth.jsonl", "w").write("".join(json.dumps({"text": t, "label": "a"}) + "\n" for t in big))
EOT
cat big_truth.jsonl >> truth.jsonl
NONE=$(printf 'these bytes were never uploaded' | sha256sum | cut -c1-64)
hostile() { # hostile NAME ITEMS N_ITEMS: posts a label task with 'plow task post' (no client-side check of the items)
    cat > $1.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "replicated", "replicas": 2, "reward": "100", "worker_stake": "1000",
 "min_bond": "0", "claim_blocks": ${CLAIM_BLOCKS:-400}, "work_blocks": ${CLAIM_BLOCKS:-400}, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "label", "items": "$2", "n_items": $3, "classes": ["a", "b"]}}
EOT
    $PLOW task post $1.task.json --key req.key 2>>post.log | tail -n 1
}
A=$(hostile missing $NONE 3)
B=$(hostile garbage @garbage.bin 3)
C=$(hostile short @two.jsonl 3)
D=$(hostile big @big.jsonl 4)
for t in "$A" "$B" "$C" "$D"; do [ ${#t} -eq 64 ] || { cat post.log; fail "a hostile task was not posted: '$t'"; }; done
as=$(echo $A | cut -c1-8) bs=$(echo $B | cut -c1-8) cs=$(echo $C | cut -c1-8) ds=$(echo $D | cut -c1-8)
l1_0=$(held l1); l2_0=$(held l2)

labeler l1 --item-budget 4096; L1=$LPID
labeler l2; L2=$LPID
wait_log l1.log "task $as: not claiming: cannot be labeled here: the task's items (blob .*) is not available"
wait_log l1.log "task $bs: not claiming: cannot be labeled here: the task.s items contains a NUL byte"
wait_log l1.log "task $cs: not claiming: cannot be labeled here: task .*: its items blob has 2 items, its spec says 3"
wait_log l1.log "task $ds: not claiming: cannot be labeled here: its items are [0-9]* bytes, more than my item budget (4096)"
for t in $as $bs $cs; do wait_log l2.log "task $t: not claiming: cannot be labeled here"; done
wait_log l2.log "task $ds: claimed slot"
for t in $A $B $C; do
    [ "$(slots $t)" = "empty empty" ] || fail "task $t was claimed: $(slots $t)"
    [ -f wk_l1/refused/$t ] && [ -f wk_l2/refused/$t ] || fail "task $t's refusal was not kept"
done
[ -f wk_l1/refused/$D ] || fail "l1's refusal of the big task was not kept"
[ ! -f wk_l2/refused/$D ] || fail "l2 refused the big task it can label"
alive $NODE $L1 $L2
[ "$(held l1)" -eq "$l1_0" ] || fail "l1's holdings: $l1_0 -> $(held l1)"
echo "A-D. missing, garbage and short items refused by both labelers before any claim; the 8 KB items refused by l1 (budget 4096), claimed by l2"

# X. a label task nobody can take (its items missing), with short windows:
# `plow label finalize --wait` expires it once its work phase is over (it
# said "expire it (plow task)", a command that does not exist); the escrow
# goes back to the poster
req_x=$(held req)
X=$(CLAIM_BLOCKS=10 hostile nobody $NONE 3)
[ ${#X} -eq 64 ] || { cat post.log; fail "task X was not posted: '$X'"; }
$PLOW label finalize $X --key req.key --wait > fin.txt 2>&1 || { cat fin.txt; fail "label finalize of task X"; }
grep -q "task $(echo $X | cut -c1-16) expired in block [0-9]* (nobody committed to it)" fin.txt ||
    fail "label finalize X: $(cat fin.txt)"
[ "$(q /v1/task/$X "j['status']")" = expired ] || fail "task X is $(q /v1/task/$X "j['status']")"
[ "$(held req)" -eq "$req_x" ] || fail "the poster: $req_x -> $(held req) (expected its escrow back)"
echo "X. a label task nobody committed to: $(grep expired fin.txt)"

# E. an honest task: both claim, label, reveal, are paid
POST="$PLOW label post --key req.key --classes a,b --labelers 2 --redundancy 2 --reward 100 --worker-stake 1000 --min-gold-pct 0 --claim-blocks 400 --work-blocks 400 --window-blocks 6"
$POST --items ok.jsonl --secret sE.json > e.id 2>>post.log || { cat post.log; fail "label post E"; }
E=$(cat e.id)
es=$(echo $E | cut -c1-8)
wait_log l1.log "task $es: revealed 6 labels"
wait_log l2.log "task $es: revealed 6 labels"
$PLOW label finalize $E --key req.key --wait 2>>post.log || { tail -n 5 post.log; fail "finalize E"; }
[ "$(slots $E)" = "paid paid" ] || fail "task E's slots: $(slots $E)"
P1=$(q /v1/task/$E "j['label']['paid'][0]") P2=$(q /v1/task/$E "j['label']['paid'][1]")
[ "$P1" -gt 0 ] && [ "$P2" -gt 0 ] || fail "the honest labelers were paid $P1 and $P2"
s1=$(q /v1/task/$E "j['slots'][0]['worker']")
[ "$s1" = "$(cat l1.addr)" ] && pay1=$P1 || pay1=$P2
[ "$(held l1)" -eq $((l1_0 + pay1)) ] || fail "l1: $l1_0 -> $(held l1), expected +$pay1"
echo "E. the honest task was labeled and paid ($P1, $P2); l1 $l1_0 -> $(held l1)"

# a restart: the refusals are kept, nothing of A-D is fetched again; l1,
# with an item budget that holds one task's items but not two (each about
# 700 bytes counted), labels two tasks at once: the least recently used
# items are dropped from memory (and fetched again when needed), the budget
# is never exceeded, both tasks are labeled
kill -TERM $L1; wait $L1 || fail "l1 did not exit 0"
labeler l1 --item-budget 1000; L1=$LPID
wait_log l1.log "starting" 2
$POST --items ok2.jsonl --secret sF.json > f.id 2>>post.log || { cat post.log; fail "label post F"; }
$POST --items ok3.jsonl --secret sG.json > g.id 2>>post.log || { cat post.log; fail "label post G"; }
fs=$(cut -c1-8 f.id) gs=$(cut -c1-8 g.id)
wait_log l1.log "task $fs: committed 6 labels"
wait_log l1.log "task $gs: committed 6 labels"
wait_log l1.log "task \($fs\|$gs\): its items ([0-9]* bytes) dropped from memory, least recently used"
over=$(sed -n 's/.*dropped from memory, least recently used (\([0-9]*\) of the \([0-9]*\)-byte item budget held, \([0-9]*\) more wanted)/\1 \2 \3/p' l1.log |
    awk '$1 + $3 > $2 { print }')
[ -z "$over" ] || fail "l1 held more than its item budget: $over"
for t in $as $bs $cs $ds; do
    [ "$(grep -c "task $t: not claiming" l1.log)" -eq 1 ] || fail "task $t was judged again: $(grep "task $t" l1.log)"
done
alive $NODE $L1 $L2
echo "F. restarted, l1 judged none of A-D again and labeled two tasks within a 1000-byte item budget (items dropped from memory $(grep -c "dropped from memory" l1.log) times, least recently used first)"
kill -TERM $L1 $L2
wait $L1 || fail "l1 did not exit 0"
wait $L2 || fail "l2 did not exit 0"
