#!/bin/sh
# node_bench.sh — the node over HTTP: a fresh sequencer on a temporary data
# directory, build/plow_loadgen with keep-alive connections (pre-signed
# transfers from 256 senders), one table row per load shape, the honest
# client's latency alone and under 4,000 hostile connections, the block
# interval under 16 readers of a 20,000-task listing, then the block commit
# times the node logged under the transfer loads.
#
#   bench/node_bench.sh [BUILD_DIR]     (make bench runs it)
set -eu
B=${1:-build}
dir=$(mktemp -d /tmp/plow_node_bench.XXXXXX)
trap 'kill $NP 2>/dev/null || true; rm -rf "$dir"' EXIT
NP=
"$B/plow_loadgen" addrs --senders 256 >"$dir/fund.txt"
"$B/plow" node init --data "$dir/n" --out-genesis "$dir/g.json" --fund-file "$dir/fund.txt" >/dev/null
"$B/plow" node --data "$dir/n" --genesis "$dir/g.json" --listen 127.0.0.1:0 >"$dir/node.log" 2>&1 &
NP=$!
i=0
until [ -s "$dir/n/node.url" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$dir/node.log"; exit 1; }
    sleep 0.1
done
URL=$(cat "$dir/n/node.url")
"$B/plow_loadgen" run --url "$URL" --senders 256 --txs 60 --conns 64 --quiet
"$B/plow_loadgen" run --url "$URL" --senders 256 --txs 60 --conns 16 --quiet
"$B/plow_loadgen" run --url "$URL" --senders 256 --txs 100 --conns 8 --batch 100 --quiet
lines=$(wc -l <"$dir/node.log") # the commit row is over the loads above
# the honest client (status and signed transfers from 127.0.0.1) alone, then
# while 1,000 hostile connections of each kind hold (tests/cli/hostile.sh)
"$B/plow_loadgen" hostile --url "$URL" --seconds 5 --count 200 | sed 's/under 0 hostile connections.*|\( [0-9]* requests\)/with no hostile connections |\1/'
"$B/plow_loadgen" hostile --url "$URL" --idle 1000 --slowloris 1000 --sse 1000 --bodies 1000 --seconds 15 --count 400 | grep '^| node'
# 16 readers of the task listing on 20,000 tasks (tests/cli/flood.sh part B):
# the sequencer's block interval (500 ms here) while they poll back to back
"$B/plow_loadgen" junk --url "$URL" --count 20000 --batch 900 >/dev/null
"$B/plow_loadgen" readers --url "$URL" --conns 16 --seconds 10 |
    sed 's/^requests=\([0-9]*\) req_per_s=\([0-9]*\) failed=\([0-9]*\) blocks=\([0-9]*\) max_gap_ms=\([0-9]*\)$/| node | 16 readers of GET \/v1\/tasks?status=open\&limit=1 on 20,000 tasks | \2 req\/s, \3 failed; \4 blocks in 10 s (500 ms interval), longest gap between two \5 ms |/'
kill -TERM $NP
wait $NP
# "HH:MM:SS.mmm block H: N txs, commit X ms, total Y ms"
head -n "$lines" "$dir/node.log" | awk '/ block [0-9]+: [0-9]+ txs/ { n++; c = $(NF - 4) + 0; s += c; if (c > m) m = c; t += $4 }
     END { if (n) printf "| node | block commit under that load: %d blocks, %.0f txs per block, commit mean %.1f ms, worst %.1f ms |\n", n, t / n, s / n, m }'
