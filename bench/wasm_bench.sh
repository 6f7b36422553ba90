#!/bin/sh
# bench/wasm_bench.sh [BUILD] — issue 15's rows of docs/BENCHMARKS.md: tokens
# per second of training tiny and of generating with it, on the native scalar
# path (1 thread), the native best path (auto, 1 and 2 threads), WebAssembly
# simd128 and scalar under Node (node:wasi) and simd128 in headless Chromium
# (wasm/plow.mjs), and NEON under qemu-user (EMULATED: qemu's speed, not an
# ARM machine's). Needs `make`, `make wasm`; Chromium and `make arm` + qemu
# are used when present. Every run does the same work with the same bits.
# Each row is the best of WASM_BENCH_RUNS runs (default 2; qemu and Chromium: 1).
set -e
[ -n "${WASM_BENCH_TRACE:-}" ] && set -x
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
P="$ROOT/$B/plow"
W=$(mktemp -d /tmp/plow_wasm_bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
head -c 200000 "$ROOT/data/tinyshakespeare.txt" > d.txt
"$P" tokenizer train --data d.txt --vocab 512 --out tok.bin > /dev/null 2>&1
T="train --data d.txt --tokenizer tok.bin --config tiny --steps 6 --batch 4 --seq 64 --seed 5 --eval-batches 1"
G="generate --model model --prompt First --tokens 64 --seed 5"
node_wasm() { node --no-warnings "$ROOT/wasm/plow-wasi.mjs" "$ROOT/build/wasm/plow.wasm" "$@"; }
tps_train() { sed -n 's/.*, \([0-9.]*\) tokens\/s, wrote.*/\1/p' "$1" | tail -n 1; }
tps_gen() { sed -n 's/.*(\([0-9.]*\) tokens\/s.*/\1/p' "$1" | tail -n 1; }
row() { # NAME TRAIN_LOG GEN_LOG
    printf '| %s | %s | %s |\n' "$1" "$(tps_train "$2")" "$(tps_gen "$3")"
}
# best of N runs (the machine is shared: the best run is the least disturbed);
# the numbers are what plow prints on stderr
N=${WASM_BENCH_RUNS:-2}
best() { # LOG_OUT CMD... : runs CMD N times (stdout and stderr to a log), keeps the fastest log
    _out=$1; shift; _best=""
    for _i in $(seq "$N"); do
        rm -rf r; "$@" > /dev/null 2> run.log || { cat run.log; exit 1; }
        _v=$( (tps_train run.log; tps_gen run.log) | head -n 1)
        if [ -z "$_best" ] || awk "BEGIN{exit !($_v > $_best)}"; then _best=$_v; cp run.log "$_out"; fi
    done
}
"$P" $T --out model --threads 1 > /dev/null 2>&1 # the model every generation row uses
echo "| path (tiny, B=4, T=64, 6 steps; generation 64 tokens) | train tokens/s | generate tokens/s |"
echo "|---|---:|---:|"
best t.log "$P" $T --out r --simd scalar --threads 1; best g.log "$P" $G --simd scalar --threads 1
row "native scalar, 1 thread" t.log g.log
best t.log "$P" $T --out r --threads 1; best g.log "$P" $G --threads 1
row "native best ($(sed -n 's/.*tokens per step, \([a-z0-9]*\) x.*/\1/p' t.log)), 1 thread" t.log g.log
best t.log "$P" $T --out r --threads 2; best g.log "$P" $G --threads 2
row "native best, 2 threads" t.log g.log
if [ -f "$ROOT/build/wasm/plow.wasm" ]; then
    best t.log node_wasm $T --out r; best g.log node_wasm $G
    row "wasm simd128, Node $(node --version)" t.log g.log
    best t.log node_wasm $T --out r --simd scalar; best g.log node_wasm $G --simd scalar
    row "wasm scalar, Node $(node --version)" t.log g.log
    if [ -x /usr/bin/chromium ]; then
        node "$ROOT/bench/wasm_bench.mjs" "$ROOT" . $T --out r -- $G > c.log 2>&1 || cat c.log
        grep '^train' c.log > t.log || true; grep '^generate' c.log > g.log || true
        row "wasm simd128, $(sed -n 's/^browser //p' c.log)" t.log g.log
    fi
fi
if [ -x "$ROOT/build/arm64/plow" ] && command -v qemu-aarch64 > /dev/null; then
    A="qemu-aarch64 -L / $ROOT/build/arm64/plow"
    N=1
    best t.log $A $T --out r --threads 1; best g.log $A $G --threads 1
    row "NEON under qemu-user, 1 thread (EMULATED)" t.log g.log
fi
