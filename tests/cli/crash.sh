# The crash test: a sequencer under a steady stream of signed transfers
# (build/plow_loadgen, which records every ACKNOWLEDGED transaction) is killed
# with SIGKILL at random moments, at least 10 times, some of them while it is
# still starting, and restarted each time. Afterwards every acknowledged
# transaction is in a block (each sender's nonces are one fixed sequence, so
# none may be dropped), the accounts hold supply - burned, and a fresh
# follower replaying from genesis reaches the same state root.
set -e
. "$LIB"
LG=${LGBIN:-"$ROOT/build/plow_loadgen"}
[ -x "$LG" ] || make -s -C "$ROOT" build/plow_loadgen >/dev/null
trap stop_all EXIT
field() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
up() { curl -sf --max-time 2 "$1/v1/status" >/dev/null 2>&1; }

SENDERS=64
$LG addrs --senders $SENDERS >fund.txt
$PLOW node init --data seq --out-genesis g.json --fund-file fund.txt >/dev/null
start_node seq seq.log --genesis g.json --block-ms 100
PIDS="$PIDS $NODE"
PORT=${URL##*:} # each restart listens there again: the load generator keeps its URL

$LG run --url "$URL" --senders $SENDERS --txs 600 --conns 16 --rate 1500 --ack ack.txt --quiet >lg.txt 2>lg.err &
LGP=$!
PIDS="$PIDS $LGP"

# random delays from awk (seeded by the clock and pid): 0.2..2.2 s; every
# third kill lands 0..0.15 s after the restart, during recovery
delays=$(awk -v s="$(date +%s)$$" 'BEGIN { srand(s); for (i = 0; i < 12; i++) printf "%.2f %.2f\n", 0.2 + 2 * rand(), 0.15 * rand() }')
kills=0
while read -r d early; do
    kills=$((kills + 1))
    if [ $((kills % 3)) -eq 0 ]; then sleep "$early"; else sleep "$d"; fi
    kill -9 $NODE 2>/dev/null || true
    wait $NODE 2>/dev/null || true
    echo "--- SIGKILL $kills" >>seq.log
    $PLOW node --data seq --listen "127.0.0.1:$PORT" --block-ms 100 >>seq.log 2>&1 &
    NODE=$!
    PIDS="$PIDS $NODE"
done <<EOF
$delays
EOF
[ "$(grep -c '^--- SIGKILL' seq.log)" -ge 10 ] || fail "fewer than 10 kills"
i=0
until up "$URL"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the node did not come back: $(tail -5 seq.log)"
    sleep 0.1
done
sleep 1
kill -TERM $LGP
wait $LGP || fail "the load generator failed: $(tail -5 lg.err)"
cat lg.txt
grep -q "database damaged" seq.log && fail "the node found its database damaged after a kill"
acked=$(wc -l <ack.txt)
[ "$acked" -ge 1000 ] || fail "only $acked transactions acknowledged: $(tail -5 lg.err)"

# every acknowledged transaction is in a block; the money adds up
$LG check --url "$URL" --ack ack.txt --timeout 60 >check.txt || fail "check: $(cat check.txt)"
cat check.txt

# a fresh follower replays everything from genesis to the same state root
$PLOW node --data fol --listen 127.0.0.1:0 --follow "$URL" --quiet >fol.log 2>&1 &
FOL=$!
PIDS="$PIDS $FOL"
target=$(field "$(curl -sf "$URL/v1/status")" height)
i=0
until [ -s fol/node.url ] && [ "$(field "$(curl -sf "$(cat fol/node.url)/v1/status")" height)" -ge "$target" ] 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || fail "the follower did not reach height $target: $(tail -3 fol.log)"
    kill -0 $FOL || fail "the follower stopped: $(tail -3 fol.log)"
    sleep 0.1
done
a=$(field "$(curl -sf "$URL/v1/block/$target")" state_root)
b=$(field "$(curl -sf "$(cat fol/node.url)/v1/block/$target")" state_root)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "state root at $target: sequencer $a, follower $b"
echo "crash: $acked acknowledged, all included after $(grep -c '^--- SIGKILL' seq.log) SIGKILLs; follower agrees at height $target"
kill -TERM $FOL $NODE
wait $NODE || fail "the node did not stop cleanly"
