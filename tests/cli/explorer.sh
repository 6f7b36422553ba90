# The explorer (issue 12; docs/explorer.md) served by a real node:
#   - static files embedded in the binary at /: types, ETag/304,
#     Cache-Control, a strict Content-Security-Policy, nosniff; anything but
#     an exact file name outside /v1/ is a 404 (traversal, %00, a long path),
#     other methods 405;
#   - the explorer's endpoints on a small chain: an account's history (every
#     change a row, paging by cursor), agents, stats; malformed input 400;
#   - a short workload with a caught cheater (a replicated training task: an
#     honest worker, a cheater, a verifier) and a small label task, then the
#     page in Chromium (tests/browser/explorer.mjs): counts, the dispute, the
#     pay, the loss curves, the labeling accuracies, no errors, 375 px.
#     Screenshots in runs/explorer/ when run from the repository;
#   - "verify in your browser" (tests/browser/verify.mjs, when `make wasm` was run):
#     plow.wasm served as application/wasm; the disputed step replayed in
#     Chromium (MISMATCH for the cheater's leaf, MATCH for the honest one, the
#     referee's leaf), an inference task's receipts re-derived (honest MATCH,
#     a changed token MISMATCH), a download limit refused; a node without
#     plow.wasm makes the button say so;
#   - a restart keeps the index (same timeline and history) and catches up.
set -e
. "$LIB"
small_network 100000 req w1 ch v l1 l2 i1 i2

# hdr FILE NAME: the value of header NAME in a curl -D dump
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | head -n 1; }
# get PATH [curl args]: CODE, headers in h.txt, body in b.txt
get() {
    p=$1
    shift
    rm -f b.txt
    CODE=$(curl -s --path-as-is -D h.txt -o b.txt -w '%{http_code}' "$@" "$URL$p")
}

# ---- static files -----------------------------------------------------------
for f in / /index.html /app.js /style.css; do
    get "$f"
    [ "$CODE" = 200 ] || fail "GET $f: $CODE"
    case $f in
    / | /index.html) want='text/html; charset=utf-8' src=index.html ;;
    /app.js) want='text/javascript; charset=utf-8' src=app.js ;;
    /style.css) want='text/css; charset=utf-8' src=style.css ;;
    esac
    [ "$(hdr h.txt Content-Type)" = "$want" ] || fail "GET $f: Content-Type '$(hdr h.txt Content-Type)', expected '$want'"
    cmp -s b.txt "$ROOT/www/$src" || fail "GET $f: not the bytes of www/$src"
    csp=$(hdr h.txt Content-Security-Policy)
    case $csp in *"default-src 'none'"*"script-src 'self' 'wasm-unsafe-eval';"*"style-src 'self';"*"connect-src 'self';"*) ;;
    *) fail "GET $f: Content-Security-Policy '$csp'" ;; esac
    # 'wasm-unsafe-eval' lets the page compile WebAssembly (plow.wasm) and nothing else: no eval
    case ${csp#*\'wasm-unsafe-eval\'} in *unsafe* | *"*"* | *http:* | *https:*) fail "GET $f: the CSP allows too much: $csp" ;; esac
    [ "$(hdr h.txt X-Content-Type-Options)" = nosniff ] || fail "GET $f: no nosniff"
    [ "$(hdr h.txt Cache-Control)" = no-cache ] || fail "GET $f: Cache-Control '$(hdr h.txt Cache-Control)'"
    tag=$(hdr h.txt ETag)
    case $tag in '"'????????????????'"') ;; *) fail "GET $f: ETag '$tag'" ;; esac
    get "$f" -H "If-None-Match: $tag"
    [ "$CODE" = 304 ] && [ ! -s b.txt ] || fail "GET $f with its ETag: $CODE, $(wc -c <b.txt) bytes"
    get "$f" -H 'If-None-Match: "0000000000000000"'
    [ "$CODE" = 200 ] || fail "GET $f with another ETag: $CODE"
done
# the page loads no inline script or style and nothing from elsewhere
if grep -Eqi '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=|https?://' "$ROOT/www/index.html"; then
    fail "www/index.html has inline script/style or an outside URL"
fi
# uPlot: served when the build found it in node_modules, else the page says plots are unavailable
if [ -f "$ROOT/node_modules/uplot/dist/uPlot.iife.min.js" ]; then
    get /uPlot.iife.min.js
    [ "$CODE" = 200 ] && cmp -s b.txt "$ROOT/node_modules/uplot/dist/uPlot.iife.min.js" || fail "uPlot not served: $CODE"
    get /uPlot.min.css
    [ "$(hdr h.txt Content-Type)" = 'text/css; charset=utf-8' ] || fail "uPlot.min.css: $(hdr h.txt Content-Type)"
fi
# the engine for "verify in your browser": plow.mjs embedded, plow.wasm (make wasm) read from
# BUILD/wasm next to the binary, served as application/wasm (WebAssembly.compileStreaming insists)
get /plow.mjs
[ "$CODE" = 200 ] && cmp -s b.txt "$ROOT/wasm/plow.mjs" && [ "$(hdr h.txt Content-Type)" = 'text/javascript; charset=utf-8' ] ||
    fail "/plow.mjs: $CODE $(hdr h.txt Content-Type)"
WASM_BUILT=
if [ -f "$(dirname "$PLOW")/wasm/plow.wasm" ]; then
    WASM_BUILT=1
    get /plow.wasm
    [ "$CODE" = 200 ] && cmp -s b.txt "$(dirname "$PLOW")/wasm/plow.wasm" && [ "$(hdr h.txt Content-Type)" = application/wasm ] ||
        fail "/plow.wasm: $CODE $(hdr h.txt Content-Type)"
    tag=$(hdr h.txt ETag)
    get /plow.wasm -H "If-None-Match: $tag"
    [ "$CODE" = 304 ] || fail "/plow.wasm with its ETag: $CODE"
fi
# HEAD: the headers, no body
CODE=$(curl -s -I -o h.txt -w '%{http_code}' "$URL/app.js")
[ "$CODE" = 200 ] && [ "$(hdr h.txt Content-Length)" = "$(wc -c <"$ROOT/www/app.js" | tr -d ' ')" ] ||
    fail "HEAD /app.js: $CODE, length $(hdr h.txt Content-Length)"
# the API's replies carry nosniff too
get /v1/status
[ "$(hdr h.txt X-Content-Type-Options)" = nosniff ] || fail "/v1/status: no nosniff"

# ---- malformed and hostile paths: 404 with an error JSON, never a file -----------
long=/$(head -c 3000 /dev/zero | tr '\0' a)
for p in /../ /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /app.js/ /app.js%00 /%00 /%00app.js /index.html%00.png \
    //app.js /./app.js /APP.JS /app.js.map /www/app.js /node.url /v1 /v1/ /v1/../app.js /x "$long"; do
    get "$p"
    [ "$CODE" = 404 ] || fail "GET $p: $CODE, expected 404: $(head -c 200 b.txt)"
    grep -q '^{"error":"' b.txt || fail "GET $p: no error JSON: $(head -c 200 b.txt)"
done
for m in POST PUT DELETE; do
    CODE=$(curl -s -o b.txt -w '%{http_code}' -X $m "$URL/app.js")
    [ "$CODE" = 405 ] || fail "$m /app.js: $CODE, expected 405"
done
echo "static files: ok"

# ---- the explorer's endpoints on a small chain ----------------------------------
# jq-like: py EXPR on the JSON in b.txt (j)
py() { /usr/bin/python3 -c "import json,sys; j=json.load(open('b.txt')); $1"; }
$PLOW wallet new --key b.key -q >b.addr
A=$(cat req.addr) B=$(cat b.addr)
$PLOW wallet transfer "$B" 250 --key req.key --node "$URL" >/dev/null
$PLOW wallet stake 1000 --key req.key --node "$URL" >/dev/null
$PLOW wallet register --kind agent --name explorer-bot --caps '{"kinds":["train"]}' --key req.key --node "$URL" >/dev/null
# wait until the index holds the chain's tip (it follows each block)
i=0
while :; do
    get /v1/stats
    py "import sys; sys.exit(0 if j['indexed_height'] == j['height'] and j['registered'] == '1' else 1)" && break
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the index never reached the tip: $(cat b.txt)"
    sleep 0.1
done
# the history's last row is the account as /v1/account has it; every change is a row
get "/v1/account/$A"
cp b.txt acct.json
get "/v1/history/$A"
[ "$CODE" = 200 ] || fail "/v1/history: $CODE $(cat b.txt)"
py "
a = json.load(open('acct.json')); h = j['history']
assert h[0]['balance'] == a['balance'] and h[0]['stake'] == a['stake'] == '1000', (h[0], a)
assert h[-1]['height'] == '0' and h[-1]['balance'] == '1000000', h[-1]       # the genesis
types = [t['type'] for e in h for t in e['txs']]
assert sorted(types) == ['register', 'stake', 'transfer'], types
tr = [t for e in h for t in e['txs'] if t['type'] == 'transfer'][0]
assert tr['to'] == '$B' and tr['amount'] == '250' and tr['role'] == 'sent', tr
" || fail "the history of $A: $(cat b.txt)"
get "/v1/history/$B"
py "
h = j['history']
assert len(h) == 1 and h[0]['balance'] == '250' and h[0]['txs'][0]['role'] == 'received', h
" || fail "the history of the recipient: $(cat b.txt)"
# paging: one row at a time gives the same rows
get "/v1/history/$A"
py "print(' '.join(e['height'] for e in j['history']))" >all.txt
cur="" seen=""
while :; do
    get "/v1/history/$A?limit=1${cur:+&cursor=$cur}"
    seen="$seen $(py "print(j['history'][0]['height'] if j['history'] else '')")"
    cur=$(py "print(j.get('next', ''))")
    [ -n "$cur" ] || break
done
[ "$(echo $seen)" = "$(cat all.txt)" ] || fail "paged history '$seen' != '$(cat all.txt)'"
get /v1/agents
py "
a = j['agents']; assert len(a) == 1 and a[0]['address'] == '$A' and a[0]['name'] == 'explorer-bot' and a[0]['profile'] == 'agent', a
" || fail "/v1/agents: $(cat b.txt)"
get /v1/stats
py "assert j['staked'] == '1000' and j['txs_last_min'] == '3' and j['tasks'] == '0', j" ||
    fail "/v1/stats: $(cat b.txt)"

# malformed input: 400 naming it; unknown records: 404
Z=0000000000000000000000000000000000000000000000000000000000000000
for p in "/v1/history/nope" "/v1/history/$A?limit=0" "/v1/history/$A?limit=501" "/v1/history/$A?cursor=x" \
    "/v1/history/$A?cursor=-1" "/v1/history/$A%00" "/v1/timeline/xyz" "/v1/timeline/${Z}00" "/v1/agents?limit=abc" \
    "/v1/agents?cursor=1" "/v1/agents?cursor=1.zz" "/v1/agents?cursor=.$Z" "/v1/slotlog/$Z?slot=9" \
    "/v1/slotlog/$Z?slot=-1" "/v1/slotlog/q" "/v1/labeling/q" "/v1/labeling/%00" "/v1/search/zz" "/v1/block/${Z}0"; do
    get "$p"
    [ "$CODE" = 400 ] || fail "GET $p: $CODE, expected 400: $(head -c 200 b.txt)"
    grep -q '^{"error":"' b.txt || fail "GET $p: no error JSON"
done
for p in "/v1/timeline/$Z" "/v1/slotlog/$Z" "/v1/labeling/$Z"; do
    get "$p"
    [ "$CODE" = 404 ] || fail "GET $p: $CODE, expected 404: $(head -c 200 b.txt)"
done
echo "endpoints: ok"

# ---- the workload: a cheater caught, an honest worker paid, a label task ----------------------
[ -x /usr/bin/chromium ] || fail "chromium missing: run scripts/install-deps.sh browser"
[ -d "$ROOT/node_modules/puppeteer-core" ] || fail "puppeteer-core missing: run scripts/install-deps.sh browser"
[ -f "$ROOT/node_modules/uplot/dist/uPlot.iife.min.js" ] || fail "uPlot missing: run scripts/install-deps.sh browser, then make"
cat >policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOT
cat >t.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "replicated", "replicas": 2, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 20, "batch": 4, "seq": 64, "checkpoint_every": 5}}
EOT
for w in w1 ch; do
    $PLOW worker --key $w.key --work wk_$w --name $w --policy policy.json --threads 1 --poll 0.1 \
        $([ $w = ch ] && echo --cheat perturb) >>$w.log 2>&1 &
    PIDS="$PIDS $!"
done
$PLOW verifier --key v.key --work wk_v --name v --samples 2 --poll 0.1 >>v.log 2>&1 &
PIDS="$PIDS $!"
wait_log w1.log "registered as agent"
wait_log ch.log "registered as agent"
$PLOW requester --key req.key --work rq --task t.task.json --threads 1 >rq.log 2>&1 &
RQ=$!
PIDS="$PIDS $RQ"
# an inference task on a small model, two replicas: i1 honest, i2 changes an output token
# (its receipt does not re-derive; the verifier catches it). Its own workers, so the
# training task's pages and the accounts above are as they were.
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 2 --batch 2 --seq 32 --seed 3 --eval-batches 1 \
    --out m --threads 1 >m.log 2>&1 || { cat m.log; fail "train the inference model"; }
sed 's/"train"/"infer"/' policy.json >ipolicy.json
for w in i1 i2; do
    $PLOW worker --key $w.key --work wk_$w --name $w --policy ipolicy.json --threads 1 --poll 0.1 \
        $([ $w = i2 ] && echo --cheat perturb) >>$w.log 2>&1 &
    PIDS="$PIDS $!"
done
cat >i.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "replicated", "replicas": 2, "reward": "100", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 100, "work_blocks": 300, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "infer", "tokenizer": "@tok.bin", "base": "@m",
          "infer": {"prompt": "ROMEO:", "tokens": 16}}}
EOT
wait_log i1.log "registered as agent"
wait_log i2.log "registered as agent"
IT=$($PLOW task post i.task.json --key req.key 2>ipost.err | tail -n 1)
[ ${#IT} -eq 64 ] || { cat ipost.err; fail "the inference task was not posted: '$IT'"; }
# the label task meanwhile: 60 fortunes, two simulated labelers, gold
$PLOW label fortunes --out f --items 60 --gold-pct 10 >/dev/null || fail "plow label fortunes"
$PLOW label post --key req.key --items f/items.jsonl --classes "$(cat f/classes.txt)" --gold f/gold.jsonl \
    --labelers 2 --redundancy 2 --reward 100 --worker-stake 50 --min-gold-pct 20 --claim-blocks 40 --work-blocks 20 \
    --window-blocks 10 --secret s.json >lab.id 2>post.err || { cat post.err; fail "label post"; }
LT=$(cat lab.id)
$PLOW labeler --key l1.key --work wk_l1 --name l1 --poll 0.1 --accuracy 0.9 --truth f/truth.jsonl --seed 1 >>l1.log 2>&1 &
PIDS="$PIDS $!"
wait_log l1.log "claimed slot 0"
$PLOW labeler --key l2.key --work wk_l2 --name l2 --poll 0.1 --accuracy 0.6 --truth f/truth.jsonl --seed 2 >>l2.log 2>&1 &
PIDS="$PIDS $!"
for l in l1 l2; do wait_log $l.log "revealed [0-9]* labels"; done
$PLOW label gold "$LT" --key req.key --secret s.json --wait 2>gold.err || { cat gold.err; fail "gold reveal"; }
$PLOW label finalize "$LT" --key req.key --wait 2>fin.err || { cat fin.err; fail "label finalize"; }
wait $RQ || { tail -n 20 rq.log; fail "the requester failed"; }
TT=$(/usr/bin/python3 -c "import json; print(json.load(open('rq/requester.json'))['steps'][0]['tasks'][-1])")
[ "$(q /v1/task/$TT "j['status'] + ' ' + str(len(j['challenges']))")" = "finalized 1" ] ||
    fail "the training task: $(q /v1/task/$TT "j['status'], [s['status'] for s in j['slots']], len(j['challenges'])")"
i=0
# resolved: the cheater's slot slashed by the referee; finalized: nothing to dispute (nobody
# finalizes the task: the requester's agent did not post it)
until [ "$(q /v1/task/$IT "j['status'] in ('resolved', 'finalized') and all(c['status'] != 'open' for c in j['challenges'])")" = True ]; do
    i=$((i + 1))
    [ $i -lt 1200 ] || fail "the inference task: $(q /v1/task/$IT "j['status'], [s['status'] for s in j['slots']]")"
    sleep 0.1
done
# the index has seen the last block before the page reads it
H=$(q /v1/status "j['height']")
i=0
until [ "$(q /v1/stats "int(j['indexed_height']) >= $H")" = True ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the index is behind"
    sleep 0.1
done
[ -z "${EXPLORER_HOLD:-}" ] || { echo "$URL $TT $LT" >"$EXPLORER_HOLD"; sleep 900; }
OUT=$ROOT/runs/explorer
mkdir -p "$OUT"
node "$ROOT/tests/browser/explorer.mjs" "$URL" "$OUT" "$TT" "$LT" "$(cat w1.addr)" "$(cat ch.addr)" >browser.txt 2>&1 ||
    { cat browser.txt; fail "the browser checks"; }
cat browser.txt
# "verify in your browser" (www/verify.js): the disputed step replayed and the receipts re-derived in
# Chromium by plow.wasm, against the committed leaves
if [ -n "$WASM_BUILT" ]; then
    node "$ROOT/tests/browser/verify.mjs" "$URL" "$TT" "$IT" "$(cat w1.addr)" "$(cat ch.addr)" "$(cat i1.addr)" \
        "$(cat i2.addr)" >verify.txt 2>&1 || { cat verify.txt; fail "verify in the browser"; }
    cat verify.txt
else
    echo "SKIP verify in the browser: no wasm build next to $PLOW (make wasm)"
fi

# ---- a restart keeps the index: the same history and timeline, then it goes on -------------
curl -s "$URL/v1/history/$(cat w1.addr)" | /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['history']))" >h1.json
curl -s "$URL/v1/timeline/$TT" | /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['events']))" >t1.json
kill $NODE
wait $NODE 2>/dev/null || true
rm -f n/node.url
# restarted from a copy of the binary with no wasm/ next to it: a node without `make wasm`'s output
mkdir -p nowasm && cp "$PLOW" nowasm/plow
P0=$PLOW PLOW=$PWD/nowasm/plow
start_node n node.log --block-ms 200 --quiet
PLOW=$P0
i=0
until [ "$(q /v1/stats "int(j['indexed_height']) >= int(j['height'])")" = True ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the index did not catch up after a restart"
    sleep 0.1
done
curl -s "$URL/v1/timeline/$TT" | /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['events']))" >t2.json
cmp -s t1.json t2.json || fail "the timeline changed across a restart"
curl -s "$URL/v1/history/$(cat w1.addr)" | /usr/bin/python3 -c "
import json, sys
h1 = json.load(open('h1.json')); h2 = json.load(sys.stdin)['history']
# the same rows, and at most one more: the known point the node records at start (same balance)
extra = [e for e in h2 if e not in h1]
assert all(e in h2 for e in h1), 'rows lost'
assert len(extra) <= 1 and all(not e['txs'] and e['balance'] == h1[0]['balance'] for e in extra), extra
" || fail "the history changed across a restart"
echo "restart: ok"
get /plow.wasm
[ "$CODE" = 404 ] || fail "a node without plow.wasm: GET /plow.wasm $CODE"
if [ -n "$WASM_BUILT" ]; then
    node "$ROOT/tests/browser/verify.mjs" --absent "$URL" "$TT" >verify.txt 2>&1 || { cat verify.txt; fail "verify without plow.wasm"; }
    cat verify.txt
fi
