# The ledger node through the real binary and curl: status and genesis,
# transfers (plow wallet and raw signed transactions), admission refusals,
# idempotent resubmission, blobs (upload, download, wrong hash, over the
# limit), 404/405/413/400 with error JSON, server-sent events, a restart that
# keeps everything, refused configurations, a follower that reaches the same
# state roots, and followers that stop loudly (exit 3) on a doctored
# sequencer: a re-signed block with a false state root, and a forged header.
set -e
. "$LIB"
LG=${LGBIN:-"$ROOT/build/plow_loadgen"}
[ -x "$LG" ] || make -s -C "$ROOT" build/plow_loadgen >/dev/null
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# node_up DIR ARGS...: start_node with the log DIR.log (new) and 100 ms blocks;
# PID its pid, kept in PIDS
node_up() {
    d=$1
    shift
    : >"$d.log"
    start_node "$d" "$d.log" --block-ms 100 "$@"
    PID=$NODE
    PIDS="$PIDS $PID"
}
# field JSON KEY: a string field of a one-line JSON object
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
# expect_http CODE METHOD PATH [curl args]: the status must be CODE and the body an error JSON
expect_http() {
    code=$1 m=$2 p=$3
    shift 3
    if [ "$m" = HEAD ]; then
        got=$(curl -s -I -o body.txt -w '%{http_code}' "$@" "$URL$p")
    else
        got=$(curl -s -o body.txt -w '%{http_code}' -X "$m" "$@" "$URL$p")
    fi
    [ "$got" = "$code" ] || fail "$m $p: status $got, expected $code: $(head -c 300 body.txt)"
    [ "$m" != HEAD ] || return 0
    case $code in 2*) ;; *) grep -q '^{"error":"' body.txt || fail "$m $p: no error JSON: $(head -c 300 body.txt)" ;; esac
}
wait_included() { # HASH
    i=0
    while :; do
        s=$(curl -s "$URL/v1/tx/$1")
        case "$s" in *'"status":"pending"'*) ;; *) break ;; esac
        i=$((i + 1))
        [ $i -lt 100 ] || fail "tx $1 still pending"
        sleep 0.1
    done
    printf '%s' "$s"
}
wait_exit() { # PID SECONDS: waits for the process; sets RC (its exit code, or "timeout")
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
        i=$((i + 1))
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        RC=timeout
        return 0
    fi
    set +e
    wait "$1"
    RC=$?
    set -e
}

$PLOW wallet new --key a.key >/dev/null
$PLOW wallet new --key b.key >/dev/null
A=$($PLOW wallet show --key a.key)
B=$($PLOW wallet show --key b.key)
$LG addrs --senders 3 --balance 1000000 >fund.txt # the dispute's requester, worker, challenger
$PLOW node init --data seq --out-genesis g.json --fund "$A=1000000" --fund-file fund.txt >init.txt
grep -q "^genesis g.json" init.txt || fail "node init: $(cat init.txt)"
expect_fail 1 $PLOW node init --data seq --out-genesis g.json
grep -q "never overwritten" err.txt || fail "a second init over g.json: $(cat err.txt)"
cp g.json g.json.orig
printf '# two good lines, then a bad one\n%s=5\n\n%s=7:1\nnot-an-address=9\n' "$A" "$B" >badfund.txt
expect_fail 1 $PLOW node init --data seq2 --out-genesis g2.json --fund-file badfund.txt
grep -q "badfund.txt line 5" err.txt || fail "a bad --fund-file line: $(cat err.txt)"
[ ! -e g2.json ] || fail "a refused init wrote g2.json"
expect_fail 2 $PLOW node init --data seq2 --out-genesis g2.json --slash-pct 101
expect_fail 2 $PLOW node init --out-genesis g2.json
expect_fail 2 $PLOW node init --data seq2 --out-genesis g2.json --min-fee
expect_fail 1 $PLOW node init --data seq2 --out-genesis g2.json --fund "$A=18446744073709551615" --operator-fund 1
grep -q "would be refused" err.txt || fail "a supply above 2^64-1: $(cat err.txt)"
cmp -s g.json g.json.orig || fail "the refused inits changed g.json"
expect_fail 2 $PLOW node --data seq --block-ms fast
expect_fail 1 $PLOW node --data fresh
grep -q "needs --genesis" err.txt || fail "a new node without genesis: $(cat err.txt)"

node_up seq --genesis g.json --max-blob 1000000
SEQ=$URL
SEQ_PID=$PID

# status and genesis
st=$(curl -sf "$URL/v1/status")
[ "$(field "$st" chain)" = plow-local ] || fail "status: $st"
case "$st" in *'"follower":false'*) ;; *) fail "status follower: $st" ;; esac
curl -sf "$URL/v1/genesis" >got_genesis.json
cmp -s got_genesis.json g.json || fail "GET /v1/genesis is not the genesis file byte for byte"

# transfers with the wallet, then raw signed transactions
$PLOW wallet transfer "$B" 250 --key a.key --node "$URL" >t1.txt
$PLOW wallet transfer "$B" 250 --key a.key --node "$URL" >t2.txt
$PLOW wallet balance "$B" --node "$URL" | grep -q "^balance *500$" || fail "plow wallet balance"
bal=$(curl -sf "$URL/v1/account/$B")
[ "$(field "$bal" balance)" = 500 ] || fail "B's balance after two transfers: $bal"

TX=$($LG tx --url "$URL" --key a.key --to "$B" --amount 7)
# the same transaction twice in one batch: both answers are its hash, pending
r1=$(curl -s -w ' %{http_code}' -d "{\"txs\":[\"$TX\",\"$TX\"]}" "$URL/v1/txs")
case "$r1" in '{"results":[{"hash":"'*'","status":"pending"},{"hash":"'*'","status":"pending"}]} 200') ;; *) fail "duplicate in a batch: $r1" ;; esac
H=$(printf '%s' "$r1" | sed -n 's/^{"results":\[{"hash":"\([0-9a-f]*\)".*/\1/p')
[ "$(printf '%s' "$r1" | grep -o "$H" | wc -l)" -eq 2 ] || fail "duplicate in a batch: two hashes: $r1"
# and once more alone: pending (same hash) or, if its block came first, a used nonce
r2=$(curl -s -w ' %{http_code}' -d "{\"tx\":\"$TX\"}" "$URL/v1/tx")
case "$r2" in *"\"hash\":\"$H\",\"status\":\"pending\"} 202" | *nonce*' 400') ;; *) fail "resubmitting: $r2" ;; esac
s=$(wait_included "$H")
case "$s" in *'"status":"included"'*'"height":"'*) ;; *) fail "tx status: $s" ;; esac
# the same tx once more: its nonce is used
expect_http 400 POST /v1/tx -d "{\"tx\":\"$TX\"}"
grep -qi nonce body.txt || fail "replay: $(cat body.txt)"
# signed for another chain; a nonce from the future; a sender that cannot pay the fee
X=$($LG tx --key a.key --to "$B" --amount 1 --nonce 3 --chain-id "$(printf '%064d' 0)")
expect_http 400 POST /v1/tx -d "{\"tx\":\"$X\"}"
grep -q signature body.txt || fail "wrong chain: $(cat body.txt)"
X=$($LG tx --url "$URL" --key a.key --to "$B" --amount 1 --nonce 1000)
expect_http 400 POST /v1/tx -d "{\"tx\":\"$X\"}"
$PLOW wallet new --key c.key >/dev/null
X=$($LG tx --url "$URL" --key c.key --to "$B" --amount 1)
expect_http 400 POST /v1/tx -d "{\"tx\":\"$X\"}"
# an overspend is admitted (the fee is payable) and fails in its block, fee paid
X=$($LG tx --url "$URL" --key a.key --to "$B" --amount 999999999)
r=$(curl -s -d "{\"tx\":\"$X\"}" "$URL/v1/tx")
s=$(wait_included "$(field "$r" hash)")
case "$s" in *'"status":"failed"'*'"error":"'*) ;; *) fail "overspend: $s" ;; esac
# a batch: one good, one garbage, one replay
G=$($LG tx --url "$URL" --key a.key --to "$B" --amount 3)
r=$(curl -s -d "{\"txs\":[\"$G\",\"zz\",\"$TX\"]}" "$URL/v1/txs")
case "$r" in '{"results":[{"hash":"'*'","status":"pending"},{"error":"'*'","code":400},{"error":"'*'","code":400}]}') ;; *) fail "batch: $r" ;; esac

# errors: routes, methods, sizes, malformed input
expect_http 404 GET /v1/nothing
expect_http 404 GET /v1/account/
expect_http 405 DELETE /v1/status
expect_http 405 GET /v1/tx
expect_http 405 POST /v1/blocks -d x
head -c 80000 /dev/zero | tr '\0' a >big.txt # over the largest transaction's hex (2 x 36864) and its JSON
expect_http 413 POST /v1/tx --data-binary @big.txt
expect_http 400 POST /v1/tx -d '{"tx": '
expect_http 400 POST /v1/tx -d '[1,2]'
expect_http 400 POST /v1/tx -d '{"tx": "0g"}'
expect_http 400 POST /v1/tx -d '{"tx": "00ff"}'
expect_http 400 POST /v1/tx -d '{"tx": 12}'
expect_http 400 POST /v1/txs -d '{"txs": "no"}'
expect_http 400 GET /v1/account/plow1234
expect_http 400 GET /v1/tx/zzzz
expect_http 404 GET "/v1/tx/$(printf '%064d' 0)"
expect_http 404 GET /v1/block/999999
expect_http 400 GET /v1/block/-1
expect_http 400 GET "/v1/blocks?limit=0"
expect_http 400 GET "/v1/tasks?status=bogus"
expect_http 404 GET "/v1/task/$(printf '%064d' 0)"
expect_http 404 GET "/v1/challenge/$(printf '%064d' 0)"
expect_http 200 GET "/v1/blocks?from=1&limit=3"
[ "$(grep -o '"height":"' body.txt | wc -l)" -eq 3 ] || fail "blocks?limit=3: $(head -c 300 body.txt)"
expect_http 200 GET "/v1/tasks?status=open"
expect_http 200 GET "/v1/account/$B"

# blobs: uploads signed by a known account (docs/api.md, "Blob uploads"; the
# rest of the blob rules in tests/cli/blobs.sh)
# signed FILE [blobsig args]: S1 S2 S3, the signature headers for FILE by a.key
signed() {
    f=$1
    shift
    $LG blobsig --url "$URL" --key a.key --in "$f" "$@" >sig.txt
    S1=$(sed -n 1p sig.txt) S2=$(sed -n 2p sig.txt) S3=$(sed -n 3p sig.txt)
}
head -c 300000 /dev/urandom >blob.bin
BH=$(sha256sum blob.bin | cut -c1-64)
expect_http 404 HEAD "/v1/blob/$BH"
expect_http 401 PUT "/v1/blob/$BH" --data-binary @blob.bin
grep -q "uploads are signed" body.txt || fail "unsigned upload: $(cat body.txt)"
signed blob.bin
expect_http 201 PUT "/v1/blob/$BH" -H "$S1" -H "$S2" -H "$S3" --data-binary @blob.bin
grep -q "\"size\":\"300000\"" body.txt || fail "blob put: $(cat body.txt)"
expect_http 200 HEAD "/v1/blob/$BH"
# HEAD gives the size (agents size inputs before they fetch them: issue 17)
curl -sfI "$URL/v1/blob/$BH" | tr -d '\r' | grep -qi '^content-length: 300000$' || fail "HEAD: no Content-Length 300000: $(curl -sI "$URL/v1/blob/$BH")"
curl -sf "$URL/v1/blob/$BH" -o got.bin
cmp -s got.bin blob.bin || fail "downloaded blob differs"
head -c 1000 /dev/urandom >other.bin
signed other.bin --hash "$BH"
expect_http 400 PUT "/v1/blob/$BH" -H "$S1" -H "$S2" -H "$S3" --data-binary @other.bin
grep -q "does not hash to" body.txt || fail "wrong bytes: $(cat body.txt)"
OH=$(sha256sum other.bin | cut -c1-64)
expect_http 404 GET "/v1/blob/$OH"
expect_http 400 PUT /v1/blob/xyz --data-binary @other.bin
head -c 1500000 /dev/urandom >huge.bin
HH=$(sha256sum huge.bin | cut -c1-64)
signed huge.bin
expect_http 413 PUT "/v1/blob/$HH" -H "$S1" -H "$S2" -H "$S3" --data-binary @huge.bin
expect_http 411 PUT "/v1/blob/$HH" -H "$S1" -H "$S2" -H "$S3" -H "Transfer-Encoding: chunked" --data-binary @huge.bin
expect_http 404 HEAD "/v1/blob/$HH"

# events: from the start, the block events with their heights as ids
curl -sN --max-time 2 -H "Last-Event-ID: 0" "$URL/v1/events" >events.txt || true
grep -q '^event: block$' events.txt || fail "no block events: $(head -c 300 events.txt)"
grep -q '^id: 1$' events.txt || fail "no event id 1: $(head -c 300 events.txt)"
grep -q '^event: tx$' events.txt || fail "no tx events"

# the referee: a challenge on a task whose spec blob is not in the store is
# ruled at once, "cannot be run within the network's limits" (issue 17: a
# task nobody can run is the poster's; never a crash, never waiting forever),
# with or without its state blob, logged once, and the money still adds up
for with in "" "--with-state 1"; do
    CH=$($LG dispute --url "$URL" $with)
    CH16=$(printf '%s' "$CH" | cut -c1-16)
    i=0
    while curl -sf "$URL/v1/challenge/$CH" | grep -q '"status":"open"'; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "no ruling on challenge $CH ($with): $(tail -3 seq.log)"
        sleep 0.1
    done
    grep -q "referee: challenge $CH16.*cannot be run within the network's limits.*spec" seq.log ||
        fail "the referee did not give the missing spec as its reason ($with): $(tail -3 seq.log)"
    sleep 0.5 # five more blocks: not ruled again
    [ "$(grep -c "referee: challenge $CH16" seq.log)" -eq 1 ] || fail "the referee logged the same challenge twice"
    st=$(curl -sf "$URL/v1/status")
    [ "$(field "$st" holdings)" -eq $(($(field "$st" supply) - $(field "$st" burned))) ] ||
        fail "holdings != supply - burned: $st"
done

# a follower reaches the same state roots; it refuses transactions
mkdir -p fol
node_up fol --follow "$SEQ"
FOL=$URL
FOL_PID=$PID
expect_http 403 POST /v1/tx -d "{\"tx\":\"$G\"}"
grep -q "follows" body.txt || fail "follower tx: $(cat body.txt)"
target=$(field "$(curl -sf "$SEQ/v1/status")" height)
i=0
while [ "$(field "$(curl -sf "$FOL/v1/status")" height)" -lt "$target" ]; do
    i=$((i + 1))
    [ $i -lt 200 ] || fail "the follower did not reach height $target: $(tail -3 fol.log)"
    sleep 0.1
done
a=$(field "$(curl -sf "$SEQ/v1/block/$target")" state_root)
b=$(field "$(curl -sf "$FOL/v1/block/$target")" state_root)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "state root at $target: sequencer $a, follower $b"
case "$(curl -sf "$FOL/v1/status")" in *'"follower":true'*) ;; *) fail "follower status" ;; esac
kill -TERM $FOL_PID
wait_exit $FOL_PID 10
[ "$RC" = 0 ] || fail "the follower did not stop cleanly ($RC)"

# restart: height and balances survive; another genesis or key is refused
h1=$(field "$(curl -sf "$URL/v1/status")" height)
URL=$SEQ
h1=$(field "$(curl -sf "$URL/v1/status")" height)
bal1=$(field "$(curl -sf "$URL/v1/account/$B")" balance)
kill -TERM $SEQ_PID
wait_exit $SEQ_PID 10
[ "$RC" = 0 ] || fail "the sequencer did not stop cleanly on SIGTERM ($RC)"
grep -q "stopped cleanly" seq.log || fail "no clean stop in the log"
$PLOW node init --data other --out-genesis g2.json >/dev/null
expect_fail 1 $PLOW node --data seq --genesis g2.json --listen 127.0.0.1:0
grep -q "another chain" err.txt || fail "other genesis: $(cat err.txt)"
expect_fail 1 $PLOW node --data seq2 --genesis g.json --operator-key a.key --listen 127.0.0.1:0
grep -q "not this chain's operator" err.txt || fail "wrong operator key: $(cat err.txt)"
node_up seq
SEQ=$URL
SEQ_PID=$PID
h2=$(field "$(curl -sf "$URL/v1/status")" height)
[ "$h2" -ge "$h1" ] || fail "height after restart: $h2 < $h1"
[ "$(field "$(curl -sf "$URL/v1/account/$B")" balance)" = "$bal1" ] || fail "balance changed across a restart"
curl -sf "$URL/v1/blob/$BH" -o got2.bin && cmp -s got2.bin blob.bin || fail "blob lost across a restart"

# a doctored sequencer: block 3 re-signed with a false state root. A tiny
# static server plays the sequencer (its /v1/blocks ignores the query).
curl -sf "$SEQ/v1/blocks?from=1&limit=5" >blocks.json
mkdir -p fake/v1 forged/v1 garbled/v1
cp g.json fake/v1/genesis
cp g.json forged/v1/genesis
cp g.json garbled/v1/genesis
printf '{"blocks":[{"height":"1","header":"00ff","sig":"zz","txs":[]}]}' >garbled/v1/blocks
$LG doctor --in blocks.json --key seq/operator.key --height 3 --out fake/v1/blocks
$LG doctor --in blocks.json --height 3 --out forged/v1/blocks
for kind in fake forged garbled; do
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory $kind >$kind.srv 2>&1 &
    SRV=$!
    PIDS="$PIDS $SRV"
    i=0
    until grep -q "port [0-9]*" $kind.srv 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "the fake sequencer did not start: $(cat $kind.srv)"
        sleep 0.1
    done
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' $kind.srv | head -n 1)
    mkdir -p f_$kind
    $PLOW node --data f_$kind --listen 127.0.0.1:0 --follow "http://127.0.0.1:$PORT" >f_$kind.log 2>&1 &
    F=$!
    PIDS="$PIDS $F"
    wait_exit $F 30
    [ "$RC" = 3 ] || fail "a follower of a doctored sequencer ($kind) exited '$RC', expected 3: $(tail -3 f_$kind.log)"
    kill $SRV
done
grep -q "state root mismatch at height 3: sequencer [0-9a-f]\{64\}, recomputed [0-9a-f]\{64\}" f_fake.log ||
    fail "no state-root message: $(tail -3 f_fake.log)"
grep -q "block 3 is not signed by the chain's operator" f_forged.log || fail "forged header: $(tail -3 f_forged.log)"
grep -q "the sequencer sent a malformed block 1" f_garbled.log || fail "garbled block: $(tail -3 f_garbled.log)"
# the honest prefix was kept: blocks 1 and 2
[ "$(sqlite3 f_fake/ledger.db 'select max(height) from blocks')" = 2 ] || fail "the follower kept a bad block"

kill -TERM $SEQ_PID
wait_exit $SEQ_PID 10
[ "$RC" = 0 ] || fail "the sequencer did not stop cleanly ($RC)"
echo "node: ok"
