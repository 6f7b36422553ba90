# One client must not stop the node (issue 10, finding 6; docs/threats.md N6).
# A real node; `plow_loadgen hostile` holds 1,000 connections of each kind,
# each kind from its own loopback address (127.0.0.2..5): idle sockets,
# slowloris (a header that never ends, one byte a second), event-stream
# subscribers, and POST /v1/txs bodies that announce 16 MiB, send 15 MiB and
# stop. Meanwhile, from 127.0.0.1, an honest client's requests (status and
# signed transfers, and `plow wallet transfer` waiting for inclusion) all
# succeed, blocks keep coming, and the node's memory stays bounded. Then:
# every idle, slowloris and partial-body connection was closed by the node,
# at most 128 at once from one address were held, at most 16 event streams
# from one address were served. Last, an event stream ends after
# --sse-max-s.
set -e
. "$LIB"
LG=${LGBIN:-"$ROOT/build/plow_loadgen"}
[ -x "$LG" ] || make -s -C "$ROOT" build/plow_loadgen >/dev/null
trap stop_all EXIT
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
height() { field "$(curl -sf --max-time 10 "$URL/v1/status")" height; }
# kv KIND KEY: a number from the hostile client's line for KIND
kv() { awk -v k="kind=$1" -v f="$2" '$1 == "hostile" && $2 == k { for (i = 3; i <= NF; i++) { split($i, a, "="); if (a[1] == f) print a[2] } }' hostile.txt; }

N=1000
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((4 * N + 200)) ] || fail "ulimit -n is $(ulimit -n): need $((4 * N + 200))"

$PLOW wallet new --key h.key >/dev/null
H=$($PLOW wallet show --key h.key)
$PLOW wallet new --key to.key >/dev/null
TO=$($PLOW wallet show --key to.key)
$LG addrs --senders 2 >fund.txt # sender 0: the hostile tool's honest client
$PLOW node init --data n --out-genesis g.json --fund "$H=1000" --fund-file fund.txt >/dev/null
start_node n n.log --genesis g.json --block-ms 200
PIDS="$PIDS $NODE"
NP=$NODE

$LG hostile --url "$URL" --idle $N --slowloris $N --sse $N --bodies $N --seconds 20 --count 200 \
    --ready ready >hostile.txt 2>hostile.err &
HP=$!
PIDS="$PIDS $HP"
i=0
until [ -s ready ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || fail "the hostile client did not start: $(cat hostile.err)"
    sleep 0.1
done
h0=$(height)
[ -n "$h0" ] || fail "GET /v1/status failed under the hostile connections"
# the honest client of the CLI, while they hold: a transfer waits for its block
$PLOW wallet transfer "$TO" 5 --key h.key --node "$URL" >t.txt 2>&1 || fail "honest transfer: $(cat t.txt)"
[ "$(field "$(curl -sf --max-time 10 "$URL/v1/account/$TO")" balance)" = 5 ] || fail "the honest transfer was not included"
rss_max=0
while kill -0 $HP 2>/dev/null; do
    r=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$NP/status)
    [ -z "$r" ] || [ "$r" -le "$rss_max" ] || rss_max=$r
    curl -sf --max-time 10 "$URL/v1/status" >/dev/null || fail "GET /v1/status failed while the hostile connections held"
    sleep 0.5
done
h1=$(height)
wait $HP || fail "the hostile tool's honest client failed: $(grep -v '^hostile' hostile.txt; tail -5 hostile.err)"
cat hostile.txt
grep -q '| 0 failed |' hostile.txt || fail "honest requests failed: $(tail -5 hostile.err)"
echo "node RSS at most $rss_max kB; blocks $h0 -> $h1"
[ "$rss_max" -gt 0 ] && [ "$rss_max" -lt 300000 ] || fail "the node grew to $rss_max kB under the hostile connections"
[ $((h1 - h0)) -ge 10 ] || fail "blocks stalled under the hostile connections: $h0 -> $h1"
for k in idle slowloris sse bodies; do
    [ "$(kv $k tried)" = $N ] && [ "$(kv $k connected)" = $N ] || fail "$k: not every connection was made: $(grep "kind=$k " hostile.txt)"
    held=$(($(kv $k connected) - $(kv $k closed_at_once)))
    [ "$held" -le 128 ] || fail "$k: $held connections from one address were held (the limit is 128)"
done
for k in idle slowloris bodies; do
    [ "$(kv $k open)" = 0 ] || fail "$k: $(kv $k open) connections were still open after 20 s"
done
[ "$(kv sse status200)" -ge 1 ] && [ "$(kv sse status200)" -le 16 ] || fail "sse: $(kv sse status200) streams served from one address"
[ "$(kv sse open)" -le 16 ] || fail "sse: $(kv sse open) streams open"
[ "$(kv bodies status503)" -ge 1 ] || fail "bodies: none refused for the in-flight budget"
grep -q "closed [0-9]* connections whose request did not arrive within 10 s" n.log || fail "no deadline line in the log"
[ "$(grep -c 'Server reached connection limit' n.log)" -lt 50 ] || fail "libmicrohttpd's refusals flood the log"

# an event stream ends after --sse-max-s (the client resumes with Last-Event-ID)
kill -TERM $NP
wait $NP || fail "the node did not stop cleanly"
start_node n n.log --block-ms 200 --sse-max-s 2
PIDS="$PIDS $NODE"
set +e
curl -sN --max-time 30 "$URL/v1/events" >ev.txt
rc=$?
set -e
[ $rc = 0 ] || fail "the event stream did not end by itself (curl exit $rc)"
grep -q '^event: block$' ev.txt || fail "no events before the stream ended: $(head -c 200 ev.txt)"
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly"
echo "hostile: ok"
