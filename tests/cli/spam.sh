# Spam costs what it admits (issue 10, finding 8; docs/threats.md N8): a real
# node, senders that try to queue more than they can pay for.
#   - an account holding 1 unit gets exactly one transaction admitted out of
#     200, and it is included (fee paid); the rest are refused with the
#     reservation's reason, code 400, and never stored (no dropped rows);
#   - two accounts ping-ponging transfers with 47 units between them: every
#     admitted transaction is included and paid its fee, so what they
#     admitted is exactly what they lost;
#   - a rich sender is held to 1,000 pending transactions (429 per extra
#     transaction, in a batch and alone), also after a restart rebuilt the
#     reservations from the mempool;
#   - an honest transfer is included while the flood is pending.
set -e
. "$LIB"
LG=${LGBIN:-"$ROOT/build/plow_loadgen"}
[ -x "$LG" ] || make -s -C "$ROOT" build/plow_loadgen >/dev/null
trap stop_all EXIT
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
# count PATTERN FILE: occurrences of PATTERN in FILE
count() { grep -o -- "$1" "$2" | wc -l | tr -d ' '; }
bal() { field "$(curl -sf "$URL/v1/account/$1")" balance; }
pending() { field "$(curl -sf "$URL/v1/status")" mempool; }

for k in one two three honest sink; do $PLOW wallet new --key $k.key >/dev/null; done
ONE=$($PLOW wallet show --key one.key)
TWO=$($PLOW wallet show --key two.key)
THREE=$($PLOW wallet show --key three.key)
HON=$($PLOW wallet show --key honest.key)
SINK=$($PLOW wallet show --key sink.key)
$LG addrs --senders 1 >fund.txt # sender 0: rich
RICH=$(cut -d= -f1 fund.txt)
$PLOW node init --data n --out-genesis g.json --fund "$ONE=1" --fund "$TWO=47" --fund "$HON=1000" \
    --fund-file fund.txt >/dev/null
grep -q '"min_fee":[[:space:]]*"1"' g.json || fail "this test assumes min_fee 1: $(grep min_fee g.json)"

# Phase 1, blocks far apart (the first one 30 s after start): what is admitted.
start_node n n.log --genesis g.json --block-ms 30000
PIDS="$PIDS $NODE"
$LG tx --url "$URL" --key one.key --to "$SINK" --amount 1 --count 200 >one.json
curl -s -d @one.json "$URL/v1/txs" >r1.json
[ "$(count '"status":"pending"' r1.json)" = 1 ] || fail "1 unit: $(count '"status":"pending"' r1.json) admitted, expected 1"
# the next nonce is refused for its fee; every later one for its nonce gap
[ "$(count 'already spend 1"' r1.json)" = 1 ] || fail "1 unit: the refusals: $(head -c 400 r1.json)"
[ "$(count '"code":400' r1.json)" = 199 ] || fail "1 unit: codes: $(head -c 400 r1.json)"
X=$($LG tx --url "$URL" --key one.key --to "$SINK" --amount 1)
code=$(curl -s -o r.json -w '%{http_code}' -d "{\"tx\":\"$X\"}" "$URL/v1/tx")
[ "$code" = 400 ] && grep -q "already spend" r.json || fail "1 unit, alone: $code $(cat r.json)"

$LG tx --url "$URL" --sender 0 --to "$SINK" --amount 1 --count 1100 >rich.json
curl -s -d @rich.json "$URL/v1/txs" >r2.json
[ "$(count '"status":"pending"' r2.json)" = 1000 ] || fail "rich: $(count '"status":"pending"' r2.json) admitted, expected 1000"
[ "$(count '"code":429' r2.json)" = 100 ] || fail "rich: $(count '"code":429' r2.json) refused with 429, expected 100"
grep -q "1000 pending transactions, the most one sender may have" r2.json || fail "rich: the message: $(head -c 300 r2.json)"
X=$($LG tx --url "$URL" --sender 0 --to "$SINK" --amount 1)
code=$(curl -s -o r.json -w '%{http_code}' -d "{\"tx\":\"$X\"}" "$URL/v1/tx")
[ "$code" = 429 ] || fail "rich, alone: $code $(cat r.json)"
[ "$(pending)" = 1001 ] || fail "mempool: $(pending), expected 1001"

# A restart rebuilds the reservations from the mempool: still refused.
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly"
start_node n n.log --block-ms 30000
PIDS="$PIDS $NODE"
[ "$(pending)" = 1001 ] || fail "mempool after the restart: $(pending)"
code=$(curl -s -o r.json -w '%{http_code}' -d "{\"tx\":\"$X\"}" "$URL/v1/tx")
[ "$code" = 429 ] || fail "rich after the restart: $code $(cat r.json)"
X=$($LG tx --url "$URL" --key one.key --to "$SINK" --amount 1)
code=$(curl -s -o r.json -w '%{http_code}' -d "{\"tx\":\"$X\"}" "$URL/v1/tx")
[ "$code" = 400 ] && grep -q "already spend 1" r.json || fail "1 unit after the restart: $code $(cat r.json)"
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly"

# Phase 2, blocks every 100 ms: the flood is included and paid; an honest
# transfer goes through meanwhile.
start_node n n.log --block-ms 100
PIDS="$PIDS $NODE"
$PLOW wallet transfer "$SINK" 10 --key honest.key --node "$URL" >h.txt || fail "honest transfer: $(cat h.txt)"
[ "$(bal "$HON")" = 989 ] || fail "honest: balance $(bal "$HON"), expected 989"
# the ping-pong: rounds of 100 from each side (next nonces from the node)
admitted=0
for round in 1 2 3 4 5 6; do
    $LG tx --url "$URL" --key two.key --to "$THREE" --amount 1 --count 100 >b2.json
    $LG tx --url "$URL" --key three.key --to "$TWO" --amount 1 --count 100 >b3.json
    for b in b2 b3; do
        curl -s -d @$b.json "$URL/v1/txs" >r_$b.json
        admitted=$((admitted + $(count '"status":"pending"' r_$b.json)))
    done
    i=0
    while [ "$(pending)" != 0 ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || fail "the mempool did not empty: $(pending) left"
        sleep 0.1
    done
done
[ "$admitted" -ge 1 ] && [ "$admitted" -le 47 ] || fail "ping-pong: $admitted admitted with 47 units of fees"
left=$(($(bal "$TWO") + $(bal "$THREE")))
[ "$left" = $((47 - admitted)) ] || fail "ping-pong: $admitted admitted, $left of 47 left: something was admitted for free"

# Everything admitted was included (fee paid); nothing was dropped.
[ "$(bal "$ONE")" = 0 ] || fail "1 unit: balance $(bal "$ONE")"
[ "$(field "$(curl -sf "$URL/v1/account/$RICH")" nonce)" = 1000 ] || fail "rich: nonce after its 1000"
[ "$(sqlite3 n/ledger.db 'select count(*) from dropped')" = 0 ] || fail "dropped rows: $(sqlite3 n/ledger.db 'select reason from dropped limit 3')"
st=$(curl -sf "$URL/v1/status")
[ "$(field "$st" holdings)" -eq $(($(field "$st" supply) - $(field "$st" burned))) ] || fail "holdings: $st"
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly"
echo "spam: ok ($admitted ping-pong transactions admitted and paid)"
