# Crowdsourced labeling on a real node with real agents (issue 6), on Debian's
# fortunes (each file a category, so each fortune has a true label):
#   A. six labeler agents take the six slots of a label task in a known order
#      -- a naive Bayes model, a spammer, a mediocre (0.6) and an accurate (0.9)
#      simulated labeler, one under the gold threshold (0.2), and a copier of
#      the model labeler -- commit, reveal, and after the requester's gold and
#      finalize: the accurate ones are paid (more for the more accurate), the
#      spammer and the bad one slashed, the copier (whose copied commitment
#      opens for nobody but its author) forfeits; all read from the ledger.
#      The aggregated dataset, rebuilt from the reveals in the blocks, hashes
#      to the task's result and beats the majority vote of the same answers
#      against the true labels; it then trains a model (plow train --data).
#   B. a person through plow label claim/items/answer/reveal with an answers
#      file: a reveal before the window and a reveal that does not open the
#      commitment are refused by the ledger; the honest reveal is paid.
#   Malformed items, gold, classes and answers files give clear errors.
set -e
. "$LIB"

# ---- usage and input errors before any node -----------------------------------------
$PLOW label --help > h.txt && grep -q "usage: plow label" h.txt || fail "plow label --help"
$PLOW labeler --help > h.txt && grep -q "usage: plow labeler" h.txt || fail "plow labeler --help"
$PLOW wallet new --key k.key -q > /dev/null
expect_fail 2 $PLOW label
expect_fail 2 $PLOW label bogus
expect_fail 2 $PLOW labeler --key k.key --work w
expect_fail 2 $PLOW labeler --key k.key --work w --spam --accuracy 0.5
expect_fail 2 $PLOW labeler --key k.key --work w --accuracy 0.5
grep -q "needs --truth" err.txt || fail "--accuracy without --truth: $(cat err.txt)"
expect_fail 2 $PLOW labeler --key k.key --work w --spam --smoothing 0.5
expect_fail 2 $PLOW labeler --key k.key --work w --accuracy 1.5 --truth t.jsonl
expect_fail 2 $PLOW labeler --key k.key --work w --copy-of plow1234
expect_fail 2 $PLOW label post --items i.jsonl
expect_fail 2 $PLOW label answer 0123456789abcdef < /dev/null
grep -q "give --answers FILE" err.txt || fail "answer without a terminal: $(cat err.txt)"

# ---- the data: Debian's fortunes ------------------------------------------------------
$PLOW label fortunes --out f --items 600 --gold-pct 10 > fortunes.txt || fail "plow label fortunes"
cat fortunes.txt
CLASSES=$(cat f/classes.txt)
[ "$CLASSES" = "computers,food,law,politics,science,sports" ] || fail "classes: $CLASSES"
[ "$(wc -l < f/items.jsonl)" = 600 ] && [ "$(wc -l < f/gold.jsonl)" = 60 ] || fail "items or gold count"
grep -q '"label"' f/items.jsonl && fail "the items carry labels"
$PLOW labeler train --data f/train.jsonl --out laplace.json --eval f/truth.jsonl > nb1.txt || fail "labeler train"
$PLOW labeler train --data f/train.jsonl --out model.json --eval f/truth.jsonl --smoothing 0.1 > nb.txt ||
    fail "labeler train --smoothing 0.1"
cat nb1.txt nb.txt
NB_ACC=$(sed -n 's/^accuracy on .*: \([0-9.]*\) .*/\1/p' nb.txt)
/usr/bin/python3 -c "import sys; sys.exit(0 if $NB_ACC > 0.45 else 1)" || fail "the naive Bayes model is too weak: $NB_ACC"

# malformed inputs: refused with the file, the line and the reason; nothing sent
POST="$PLOW label post --key k.key --node http://127.0.0.1:1 --classes $CLASSES --labelers 3 --redundancy 2 --reward 10 --worker-stake 5 --min-gold-pct 40"
bad_items() { # bad_items CONTENT PATTERN
    printf "$1" > bad.jsonl
    expect_fail 1 $POST --items bad.jsonl --secret s_bad.json
    grep -q "$2" err.txt || fail "items '$1': $(cat err.txt)"
    [ ! -e s_bad.json ] || fail "a secret was written for a refused post"
}
bad_items '{"text": "a"}\n{"text": "b", "label": "food"}\n' "bad.jsonl line 2: unknown key 'label'"
bad_items '{"text": "a"}\nnot json\n' "bad.jsonl line 2 is not JSON"
bad_items '{"text": "a"}\n\n{"text": "b"}\n' "bad.jsonl line 2 is empty"
bad_items '{"text": ""}\n' "bad.jsonl line 1: the text must have 1..65536 bytes"
bad_items '{"text": 5}\n' 'bad.jsonl line 1: needs "text": a string'
bad_items '{"text": "a"} {"text": "b"}\n' "bad.jsonl line 1 is not one JSON object"
bad_items '' "bad.jsonl has no items"
head -n 30 f/items.jsonl > i30.jsonl
bad_gold() { # bad_gold CONTENT PATTERN
    printf "$1" > badgold.jsonl
    expect_fail 1 $POST --items i30.jsonl --gold badgold.jsonl --secret s_bad.json
    grep -q "$2" err.txt || fail "gold '$1': $(cat err.txt)"
}
bad_gold '{"item": 30, "label": "food"}\n' 'badgold.jsonl line 1: "item" must be an item index in 0..29'
bad_gold '{"item": 1.5, "label": "food"}\n' 'badgold.jsonl line 1: "item" must be an item index'
bad_gold '{"item": 3, "label": "cooking"}\n' 'badgold.jsonl line 1: "label" must be one of the task'
bad_gold '{"item": 3, "label": "food"}\n{"item": 3, "label": "law"}\n' "badgold.jsonl: item 3 is given twice"
bad_gold '{"item": 3, "label": "food", "why": "x"}\n' "badgold.jsonl line 1: unknown key 'why'"
expect_fail 2 $PLOW label post --key k.key --items i30.jsonl --classes food --labelers 3 --redundancy 2 --reward 10 --worker-stake 5 --min-gold-pct 40 --secret s_bad.json
grep -q "needs 2..64 classes" err.txt || fail "one class: $(cat err.txt)"
expect_fail 2 $PLOW label post --key k.key --items i30.jsonl --classes food,law,food --labelers 3 --redundancy 2 --reward 10 --worker-stake 5 --min-gold-pct 40 --secret s_bad.json
grep -q "'food' appears twice" err.txt || fail "a class twice: $(cat err.txt)"
expect_fail 2 $PLOW label post --key k.key --items i30.jsonl --classes "food,hot dogs" --labelers 3 --redundancy 2 --reward 10 --worker-stake 5 --min-gold-pct 40 --secret s_bad.json
expect_fail 2 $POST --items i30.jsonl --redundancy 4 --secret s_bad.json
expect_fail 2 $POST --items i30.jsonl --min-gold-pct 101 --secret s_bad.json
# a label spec as 'plow task post' reads it (job_spec_parse): refused before any upload
bad_spec() { # bad_spec SPEC_FIELDS PATTERN
    cat > bad.task.json <<EOF
{"format": "plow.taskfile.v1", "mode": "replicated", "replicas": 2, "reward": "10", "worker_stake": "5",
 "min_bond": "0", "claim_blocks": 100, "work_blocks": 100, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "label", $1}}
EOF
    expect_fail 1 $PLOW task post bad.task.json --key k.key --node http://127.0.0.1:1
    grep -q "$2" err.txt || fail "spec '$1': $(cat err.txt)"
}
Z=0000000000000000000000000000000000000000000000000000000000000000
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": [\"a\", \"b\", \"a\"]" "spec: class 'a' appears twice in 'classes'"
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": [\"a\"]" "spec: 'classes' has 1 names (2..64 allowed)"
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": [\"a\", \"b c\"]" "spec: classes\[1\] must be a name"
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": \"a,b\"" "spec: 'classes' must be an array"
bad_spec "\"items\": \"$Z\", \"n_items\": 0, \"classes\": [\"a\", \"b\"]" "spec: 'n_items' = 0 is out of range"
bad_spec "\"items\": \"$Z\", \"n_items\": 2.5, \"classes\": [\"a\", \"b\"]" "spec: 'n_items' must be a whole number"
bad_spec "\"n_items\": 3, \"classes\": [\"a\", \"b\"]" "spec: 'items' is required"
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": [\"a\", \"b\"], \"gold\": []" "spec: 'gold' is not a field"
bad_spec "\"items\": \"$Z\", \"n_items\": 3, \"classes\": [\"a\", \"b\"]" "uploading the spec: cannot reach the node"
echo '{}' > s_exists.json
expect_fail 1 $POST --items i30.jsonl --secret s_exists.json
grep -q "exists already: refusing to overwrite" err.txt || fail "an existing secret: $(cat err.txt)"
[ "$(cat s_exists.json)" = '{}' ] || fail "the existing secret was changed"

# ---- the network ------------------------------------------------------------------------
for k in req model spam mid acc low copy alice l7 l8; do $PLOW wallet new --key $k.key -q > $k.addr; done
FUND=""
for k in model spam mid acc low copy alice l7 l8; do FUND="$FUND --fund $(cat $k.addr)=10000"; done
$PLOW node init --data n --out-genesis g.json --fund "$(cat req.addr)=1000000" $FUND > /dev/null
trap stop_all EXIT
start_node n node.log --genesis g.json --block-ms 100 --quiet
export PLOW_NODE=$URL
acct() { q /v1/account/$(cat $1.addr) "j['$2']"; }
labeler() { # labeler NAME ARGS...: starts it; its log NAME.log
    name=$1
    shift
    $PLOW labeler --key $name.key --work wk_$name --name $name --poll 0.1 "$@" >> $name.log 2>&1 &
    LPID=$!
    PIDS="$PIDS $LPID"
}

# ---- A. six labeler agents -----------------------------------------------------------------
$PLOW label post --key req.key --items f/items.jsonl --classes $CLASSES --gold f/gold.jsonl --labelers 6 \
    --redundancy 3 --reward 1000 --worker-stake 500 --min-gold-pct 40 --claim-blocks 600 --work-blocks 600 \
    --window-blocks 20 --secret sA.json > a.id 2> post.err || { cat post.err; fail "label post"; }
cat post.err
A=$(cat a.id)
[ "$(stat -c %a sA.json)" = 600 ] || fail "the secret is not 0600"
grep -q '"label"' sA.json && fail "the secret has class names: it should have indices only"
[ "$(q /v1/task/$A "' '.join(str(x) for x in (j['kind'], j['steps'], j['replicas'], j['escrow'], j['label']['gold']))")" = "label 600 6 6000 hidden" ] ||
    fail "task A: $(q /v1/task/$A "j")"
SPEC=$(q /v1/task/$A "j['spec']")
curl -sf $URL/v1/blob/$SPEC > spec.json
grep -q '"kind":"label"' spec.json && grep -q '"n_items":600' spec.json || fail "spec: $(cat spec.json)"
ITEMS=$(/usr/bin/python3 -c "import json; print(json.load(open('spec.json'))['items'])")
curl -sf $URL/v1/blob/$ITEMS | cmp -s - f/items.jsonl || fail "the items blob is not the items file"
$PLOW label show $A > show.txt && grep -q "^classes  *computers, food, law, politics, science, sports$" show.txt ||
    fail "label show: $(cat show.txt)"

# the slots are taken in this order: each labeler starts once the one before claimed
labeler model --train f/train.jsonl --smoothing 0.1
wait_log model.log "claimed slot 0"
labeler spam --spam --seed 11
wait_log spam.log "claimed slot 1"
labeler mid --accuracy 0.6 --truth f/truth.jsonl --seed 12
wait_log mid.log "claimed slot 2"
labeler acc --accuracy 0.9 --truth f/truth.jsonl --seed 13
wait_log acc.log "claimed slot 3"
labeler low --accuracy 0.2 --truth f/truth.jsonl --seed 14
wait_log low.log "claimed slot 4"
labeler copy --copy-of "$(cat model.addr)"
COPY_PID=$LPID
wait_log copy.log "claimed slot 5"
for k in model spam mid acc low; do wait_log $k.log "revealed 300 labels"; done
wait_log copy.log "reveal refused"
grep -q "label_reveal: the labels and salt do not open the slot's commitment" copy.log ||
    fail "the copier's reveal: $(grep refused copy.log)"
[ "$(q /v1/task/$A "j['label']['revealed']")" = 31 ] || fail "revealed mask: $(q /v1/task/$A "j['label']")"

# a gold reveal from the wrong secret, and from the right one once the window closed
$PLOW label gold $A --key req.key --secret sA.json --wait 2> gold.err || { cat gold.err; fail "gold reveal"; }
$PLOW label finalize $A --key req.key --wait 2> fin.err || { cat fin.err; fail "finalize"; }
cat fin.err
[ "$(q /v1/task/$A "j['status']")" = finalized ] || fail "task A is not finalized"
ST=$(q /v1/task/$A "' '.join(s['status'] for s in j['slots'])")
echo "slots: $ST"
[ "$ST" = "paid slashed paid paid slashed forfeited" ] || fail "task A's slots: $ST"
PAID=$(q /v1/task/$A "' '.join(j['label']['paid'])")
echo "paid: $PAID"
set -- $PAID
[ "$2" = 0 ] && [ "$5" = 0 ] && [ "$6" = 0 ] || fail "a bad labeler was paid: $PAID"
[ "$4" -ge "$3" ] && [ "$3" -gt 0 ] && [ "$1" -gt 0 ] || fail "pay does not follow accuracy: $PAID"
# stakes from the ledger: the slashed and the forfeited lost theirs; the others' are unlocked
for k in spam low copy; do
    [ "$(acct $k stake)" = 0 ] && [ "$(acct $k locked)" = 0 ] || fail "$k kept its stake: $(acct $k stake)"
done
for k in model mid acc; do
    [ "$(acct $k stake)" = 500 ] && [ "$(acct $k locked)" = 0 ] || fail "$k's stake: $(acct $k stake) $(acct $k locked)"
done
[ "$(acct acc balance)" -ge "$(acct mid balance)" ] && [ "$(acct mid balance)" -gt "$(acct spam balance)" ] ||
    fail "balances: acc $(acct acc balance), mid $(acct mid balance), spam $(acct spam balance)"
wait_log spam.log "SLASHED: lost 500 of stake"
wait_log low.log "SLASHED: lost 500 of stake"
wait_log copy.log "FORFEITED: lost 500 of stake (committed but never revealed)"
wait_log acc.log "finalized: slot 3 PAID"
grep "finalized" model.log spam.log mid.log acc.log low.log copy.log | sed 's/^[^ ]* /  /'

# the dataset: rebuilt from the blocks, checked against the task's result
$PLOW label result $A --out data.jsonl --text-out data.txt --truth f/truth.jsonl --upload --key req.key > result.txt ||
    fail "label result: $(cat result.txt)"
cat result.txt
RES=$(q /v1/task/$A "j['label']['result']")
grep -q "^result $RES matches task" result.txt || fail "the result does not match"
# Dawid-Skene's estimates rank the labelers as their true accuracies do (0.9 > 0.6)
EST3=$(sed -n 's/^  slot 3 .*estimated accuracy \([0-9.]*\).*/\1/p' result.txt)
EST2=$(sed -n 's/^  slot 2 .*estimated accuracy \([0-9.]*\).*/\1/p' result.txt)
/usr/bin/python3 -c "import sys; sys.exit(0 if $EST3 > $EST2 else 1)" || fail "estimated accuracies: slot 3 $EST3, slot 2 $EST2"
DS=$(sed -n 's/^  the task.s result.* \([0-9.]*\)$/\1/p' result.txt)
MV=$(sed -n 's/^  majority vote of the same answers *\([0-9.]*\)$/\1/p' result.txt)
echo "accuracy on the non-gold items: aggregated $DS, majority vote $MV"
/usr/bin/python3 -c "import sys; sys.exit(0 if $DS > $MV + 0.05 else 1)" || fail "the aggregation ($DS) does not beat the majority vote ($MV)"
[ "$(wc -l < data.jsonl)" = "$(wc -l < data.txt)" ] || fail "data.jsonl and data.txt differ in length"
head -n 1 data.txt | grep -Eq "^(computers|food|law|politics|science|sports): " || fail "data.txt: $(head -n 1 data.txt)"
UP=$(sed -n 's/^uploaded data.txt -> \([0-9a-f]*\) .*/\1/p' result.txt)
[ "$UP" = "$(sha256sum data.txt | cut -d' ' -f1)" ] && curl -sf $URL/v1/blob/$UP | cmp -s - data.txt ||
    fail "the uploaded dataset"
# the dataset trains a model
$PLOW train --data data.txt --out run --config tiny --steps 3 --batch 2 --seq 32 --vocab 300 --threads 1 > train.txt 2>&1 ||
    { tail -n 5 train.txt; fail "plow train on the aggregated dataset"; }
[ -n "$(state_of train.txt)" ] || fail "plow train printed no final state"

# the agents stop cleanly
kill -TERM $PIDS
for p in $PIDS; do wait $p || fail "a labeler did not exit 0 on SIGTERM"; done
PIDS=""

# ---- B. a person --------------------------------------------------------------------------
head -n 24 f/items.jsonl > b_items.jsonl
head -n 24 f/truth.jsonl > b_truth.jsonl
/usr/bin/python3 -c "
import json
t = [json.loads(l)['label'] for l in open('b_truth.jsonl')]
open('b_gold.jsonl', 'w').write(''.join(json.dumps({'item': i, 'label': t[i]}) + '\n' for i in (2, 5, 11, 17)))"
$PLOW label post --key req.key --items b_items.jsonl --classes $CLASSES --gold b_gold.jsonl --labelers 3 \
    --redundancy 3 --reward 500 --worker-stake 200 --min-gold-pct 50 --claim-blocks 600 --work-blocks 600 \
    --window-blocks 20 --secret sB.json > b.id 2> post.err || { cat post.err; fail "label post B"; }
B=$(cat b.id)
BS=$(echo $B | cut -c1-12)
export HOME="$TMP/home"
mkdir -p "$HOME"
expect_fail 1 $PLOW label items $BS --key alice.key
grep -q "you hold no slot of task" err.txt || fail "items without a slot: $(cat err.txt)"
$PLOW label claim $BS --key alice.key --name alice 2> claim.err || { cat claim.err; fail "label claim"; }
grep -q "registered as person 'alice'" claim.err && grep -q "claimed slot 0" claim.err || fail "claim: $(cat claim.err)"
[ "$(acct alice profile)" = person ] || fail "alice is not a person"
$PLOW label items $BS --key alice.key > mine.jsonl
[ "$(wc -l < mine.jsonl)" = 24 ] || fail "alice's items: $(wc -l < mine.jsonl)"
# her answers: the true labels of her items, in order
/usr/bin/python3 -c "
import json
t = {json.loads(l)['text']: json.loads(l)['label'] for l in open('b_truth.jsonl')}
open('ans.txt', 'w').write(''.join(t[json.loads(l)['text']] + '\n' for l in open('mine.jsonl')))"
head -n 23 ans.txt > short.txt
expect_fail 1 $PLOW label answer $BS --key alice.key --answers short.txt
grep -q "short.txt has 23 answers, your slot has 24 items" err.txt || fail "short answers: $(cat err.txt)"
sed '5s/.*/sprots/' ans.txt > typo.txt
expect_fail 1 $PLOW label answer $BS --key alice.key --answers typo.txt
grep -q "typo.txt line 5: 'sprots' is not a class" err.txt || fail "a typo: $(cat err.txt)"
sed '3s/.*//' ans.txt > blank.txt
expect_fail 1 $PLOW label answer $BS --key alice.key --answers blank.txt
grep -q "blank.txt line 3 is empty" err.txt || fail "a blank line: $(cat err.txt)"
[ "$(q /v1/task/$B "j['slots'][0]['status']")" = claimed ] || fail "a refused answer file committed something"
$PLOW label answer $BS --key alice.key --answers ans.txt 2> ans.err || { cat ans.err; fail "label answer"; }
STATE="$HOME/.plow/labels/$B.json"
[ "$(stat -c %a "$STATE")" = 600 ] || fail "the state file is not 0600"
[ "$(q /v1/task/$B "j['slots'][0]['status']")" = committed ] || fail "alice did not commit"
# a reveal before the window (slots 1 and 2 can still commit): refused by the ledger
expect_fail 1 $PLOW label reveal $BS --key alice.key
grep -q "label_reveal: slots can still commit until" err.txt || fail "an early reveal: $(cat err.txt)"
# an AI labeler takes slot 1, commits, is killed before the window opens and started again
labeler l7 --accuracy 0.9 --truth f/truth.jsonl --seed 17 --max-tasks 1
L7=$LPID
wait_log l7.log "committed 24 labels for slot 1"
kill -9 $L7
wait $L7 2>/dev/null || true
[ "$(q /v1/task/$B "j['label']['revealed']")" = 0 ] || fail "something was revealed before the window"
labeler l7 --accuracy 0.9 --truth f/truth.jsonl --seed 17 --max-tasks 1
L7=$LPID
wait_log l7.log "starting" 2
# the last slot: once it commits, the window opens; the restarted l7 reveals from its state file
labeler l8 --accuracy 0.8 --truth f/truth.jsonl --seed 18 --max-tasks 1
L8=$LPID
wait_log l8.log "committed 24 labels for slot 2"
# a reveal that does not open the commitment: refused; then the honest one
/usr/bin/python3 -c "
import json, os
s = json.load(open('$STATE'))
s['labels'][0] = (s['labels'][0] + 1) % 6
fd = os.open('tampered.json', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(s).encode())"
expect_fail 1 $PLOW label reveal $BS --key alice.key --state tampered.json
grep -q "label_reveal: the labels and salt do not open the slot's commitment" err.txt || fail "a wrong reveal: $(cat err.txt)"
chmod 644 tampered.json
expect_fail 1 $PLOW label reveal $BS --key alice.key --state tampered.json
grep -q "chmod 600" err.txt || fail "a state readable by others: $(cat err.txt)"
$PLOW label reveal $BS --key alice.key 2> rev.err || { cat rev.err; fail "alice's reveal"; }
grep -q "revealed 24 labels for slot 0" rev.err || fail "reveal: $(cat rev.err)"
wait_log l7.log "revealed 24 labels"
wait_log l8.log "revealed 24 labels"
expect_fail 1 $PLOW label gold $BS --key req.key --secret sA.json
grep -q "is not the secret of task" err.txt || fail "another task's secret: $(cat err.txt)"
$PLOW label gold $BS --key req.key --secret sB.json --wait 2> /dev/null || fail "gold B"
$PLOW label finalize $BS --key req.key --wait 2> /dev/null || fail "finalize B"
[ "$(q /v1/task/$B "' '.join(s['status'] for s in j['slots'])")" = "paid paid paid" ] ||
    fail "task B's slots: $(q /v1/task/$B "' '.join(s['status'] for s in j['slots'])")"
PB=$(q /v1/task/$B "j['label']['paid'][0]")
[ "$PB" -gt 0 ] || fail "alice was not paid"
$PLOW label result $BS --out b.jsonl --truth b_truth.jsonl > bres.txt || fail "result B: $(cat bres.txt)"
grep -q "matches task" bres.txt || fail "result B: $(cat bres.txt)"
wait $L7 || fail "the labeler with --max-tasks 1 did not exit 0"
wait $L8 || fail "the labeler with --max-tasks 1 did not exit 0"
grep -q "finalized: slot 1 PAID" l7.log || fail "l7's settlement: $(tail -n 3 l7.log)"
echo "B. person: early reveal refused, wrong reveal refused, honest reveal paid $PB; a labeler killed after its commit revealed after its restart"
echo "A. slots: $ST; paid $PAID; aggregated $DS vs majority $MV (naive Bayes alone $NB_ACC)"
