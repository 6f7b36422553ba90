#!/bin/sh
# run.sh — the whole suite: the unit tests (build/plow_test), then the shell
# tests in tests/cli/*.sh that drive the real binaries. Ends with the line
# "N passed, N failed" that CI reads; exits 1 if anything failed.
#
#   tests/run.sh                 everything
#   tests/run.sh NAME...         only shell tests whose file name contains NAME
#   PLOW_SKIP_UNIT=1 tests/run.sh   shell tests only
#   PLOW_TEST_JOBS=N             tests run N at a time (default 2)
#   PLOW_BIN=PATH                the plow binary the shell tests drive
#
# Two phases. The compute-bound shell tests (determinism, learning, proof,
# the PyTorch reference) run one at a time: each uses every core, and two
# thread pools on two cores slow each other down several times over. The
# unit binary runs beside them: it keeps about one core busy (56 s wall,
# 63 s of CPU on a quiet 2-core machine), so alone it would leave the other
# idle for a minute. The network tests (a node and agents that mostly wait
# for blocks and deadlines) then run PLOW_TEST_JOBS at a time (default 2);
# each has its own directory and picks its own free ports. Results print as
# tests finish; failures show their log's last lines.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT PLOW_ROOT="$ROOT"
# PLOW_BIN: the plow binary the shell tests drive (make test-sanitize: build/asan/plow)
export PLOW="${PLOW_BIN:-$ROOT/build/plow}" PLOW_CLANG="$ROOT/build/clang/plow" LIB="$ROOT/tests/cli_lib.sh"
JOBS=${PLOW_TEST_JOBS:-2}
RES=${PLOW_RESULTS_DIR:-$(mktemp -d /tmp/plow_results.XXXXXX)}
PLOW_RESULTS_DIR=$RES
export RES PLOW_RESULTS_DIR

# The unit-test binary, as one job: its own summary line gives the counts.
run_unit() {
    out="$RES/unit.out"
    "$ROOT/build/plow_test" >"$out" 2>&1
    grep -E '^(ok|FAIL)' "$out" | grep '^FAIL' >"$RES/unit.fails"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        echo "$line" | cut -d' ' -f1 >"$RES/unit.passed"
        echo "$line" | cut -d' ' -f3 >"$RES/unit.failed"
        echo "unit tests: $line"
        if [ -s "$RES/unit.fails" ]; then
            sed 's/^/    /' "$RES/unit.fails"
            grep -B2 -A8 'check failed' "$out" | head -n 60 | sed 's/^/    /'
        fi
    else
        echo 0 >"$RES/unit.passed"
        echo 1 >"$RES/unit.failed"
        echo "FAIL unit test binary crashed or printed no summary; last lines:"
        tail -n 25 "$out" | sed 's/^/    /'
    fi
}

run_cli() { # path
    t=$1
    name=$(basename "$t" .sh)
    work=$(mktemp -d /tmp/plow_cli.XXXXXX)
    start=$(date +%s)
    if (cd "$work" && TMP="$work" sh "$t") >"$work/log" 2>&1; then
        echo "ok   cli_$name ($(($(date +%s) - start))s)"
        echo ok >"$RES/cli_$name"
        rm -rf "$work"
    else
        {
            echo "FAIL cli_$name ($(($(date +%s) - start))s); last lines of $work/log:"
            tail -n 25 "$work/log" | sed 's/^/    /'
        } >"$RES/cli_$name.msg"
        cat "$RES/cli_$name.msg"
        echo fail >"$RES/cli_$name"
    fi
}

if [ "${1:-}" = "--one" ]; then # internal: run one job (from xargs)
    [ -n "${2:-}" ] || exit 0 # xargs ran us with nothing to do (an empty phase)
    if [ "$2" = unit ]; then run_unit; else run_cli "$2"; fi
    exit 0
fi

# The jobs, longest first (measured on a quiet 2-core machine: arm, evm_net,
# demo and protocol take about 2 minutes each), so the two network slots end
# together instead of one long test running alone at the end; then the rest
# in name order.
jobs=""
if [ -z "${PLOW_SKIP_UNIT:-}" ] && [ $# -eq 0 ]; then jobs="unit"; fi
first="unit determinism learning proof reference_torch arm evm_net demo protocol agents rounds wasm rl explorer flood hostile lateverdict crash bomb dpo labeling labelbomb node"
all=""
for t in "$ROOT"/tests/cli/*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ $# -gt 0 ]; then
        match=0
        for pat in "$@"; do case "$name" in *"$pat"*) match=1 ;; esac; done
        [ $match -eq 1 ] || continue
    fi
    all="$all $name"
done
ordered=""
for f in $first; do
    if [ "$f" = unit ]; then
        [ -n "$jobs" ] && ordered="$ordered unit"
        continue
    fi
    for n in $all; do [ "$n" = "$f" ] && ordered="$ordered $f"; done
done
for n in $all; do
    case " $first " in *" $n "*) ;; *) ordered="$ordered $n" ;; esac
done

suite_start=$(date +%s)
heavy="determinism learning proof reference_torch"
case " $ordered " in
*" unit "*)
    sh "$0" --one unit &
    unit_pid=$!
    ;;
*) unit_pid="" ;;
esac
for phase in 1 2; do
    # the network tests start once the unit binary is done too
    if [ $phase -eq 2 ] && [ -n "$unit_pid" ]; then wait "$unit_pid"; fi
    for j in $ordered; do
        case " $heavy " in *" $j "*) h=1 ;; *) h=2 ;; esac
        [ $h -eq $phase ] && [ "$j" != unit ] || continue
        echo "$ROOT/tests/cli/$j.sh"
    done | xargs -r -P "$([ $phase -eq 1 ] && echo 1 || echo "$JOBS")" -n 1 sh "$0" --one
done

passed=0
failed=0
if [ -f "$RES/unit.passed" ]; then
    passed=$((passed + $(cat "$RES/unit.passed")))
    failed=$((failed + $(cat "$RES/unit.failed")))
fi
for f in "$RES"/cli_*; do
    [ -f "$f" ] || continue
    case "$f" in *.msg) continue ;; esac
    if [ "$(cat "$f")" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
rm -rf "$RES"
echo "tests/run.sh: $(($(date +%s) - suite_start)) s wall"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
