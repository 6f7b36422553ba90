#!/bin/sh
# explorer_bench.sh — the explorer's overview on a node with 10,000 blocks and
# 5,000 tasks (issue 12: "under 1 s"): a fresh sequencer at 10 ms blocks, the
# tasks posted through POST /v1/txs (plow_explorer_fill signs them), then,
# once the chain is 10,000 blocks long and the explorer's index has it, the
# API requests the overview makes (curl, each alone) and whole page loads in
# headless Chromium (bench/explorer_load.mjs). Rows for docs/BENCHMARKS.md.
# Not a test; takes about two minutes.
#
#   bench/explorer_bench.sh [BUILD_DIR] [BLOCKS] [TASKS]
set -eu
B=${1:-build}
BLOCKS=${2:-10000}
TASKS=${3:-5000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/plow_explorer_bench.XXXXXX)
NP=
trap 'if [ -n "$NP" ]; then kill $NP 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
"$B/plow_loadgen" addrs --senders 50 >"$dir/fund.txt"
"$B/plow" node init --data "$dir/n" --out-genesis "$dir/g.json" --fund-file "$dir/fund.txt" >/dev/null
"$B/plow" node --data "$dir/n" --genesis "$dir/g.json" --listen 127.0.0.1:0 --block-ms 10 --quiet >"$dir/node.log" 2>&1 &
NP=$!
i=0
until [ -s "$dir/n/node.url" ]; do
    i=$((i + 1))
    [ $i -lt 100 ] || { cat "$dir/node.log"; exit 1; }
    sleep 0.1
done
URL=$(cat "$dir/n/node.url")
field() { curl -s "$URL$1" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"; }
"$B/plow_explorer_fill" --chain-id "$(field /v1/status chain_id)" --senders 50 --tasks "$TASKS" >"$dir/txs.txt"
while read -r body; do
    printf '%s' "$body" | curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @- "$URL/v1/txs"
done <"$dir/txs.txt"
until [ "$(field /v1/stats indexed_height)" -ge "$BLOCKS" ] 2>/dev/null; do sleep 1; done
echo "| explorer | chain: $(field /v1/stats height) blocks, $(field /v1/stats tasks) tasks, index at $(field /v1/stats indexed_height) |"
H=$(field /v1/status height)
for p in /v1/stats /v1/status "/v1/blocks?from=$((H - 9))&limit=10" "/v1/tasks?limit=10" "/v1/tasks?limit=25&status=open" \
    "/v1/history/$(head -n 1 "$dir/fund.txt" | cut -d= -f1)?limit=100"; do
    best=999999
    for k in 1 2 3 4 5; do
        t=$(curl -s -o /dev/null -w '%{time_total}' "$URL$p")
        ms=$(echo "$t" | awk '{printf "%d", $1 * 1000000}')
        [ "$ms" -lt "$best" ] && best=$ms
    done
    echo "| explorer | GET $p (best of 5) | $(echo "$best" | awk '{printf "%.2f", $1 / 1000}') ms |"
done
node "$ROOT/bench/explorer_load.mjs" "$URL" 7
