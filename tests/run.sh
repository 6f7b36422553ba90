#!/bin/sh
# run.sh — the whole suite: the unit tests (build/plow_test), then the shell
# tests in tests/cli/*.sh that drive the real binaries. Ends with the line
# "N passed, N failed" that CI reads; exits 1 if anything failed.
#
#   tests/run.sh                 everything
#   tests/run.sh NAME...         only shell tests whose file name contains NAME
#   PLOW_SKIP_UNIT=1 tests/run.sh   shell tests only
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT PLOW_ROOT="$ROOT"
export PLOW="$ROOT/build/plow" PLOW_CLANG="$ROOT/build/clang/plow" LIB="$ROOT/tests/cli_lib.sh"
passed=0
failed=0

if [ -z "${PLOW_SKIP_UNIT:-}" ] && [ $# -eq 0 ]; then
    out=$(mktemp)
    "$ROOT/build/plow_test" 2>&1 | tee "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
        failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    else
        echo "FAIL unit test binary crashed or printed no summary"
        failed=$((failed + 1))
    fi
    rm -f "$out"
fi

for t in "$ROOT"/tests/cli/*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ $# -gt 0 ]; then
        match=0
        for pat in "$@"; do case "$name" in *"$pat"*) match=1 ;; esac; done
        [ $match -eq 1 ] || continue
    fi
    work=$(mktemp -d /tmp/plow_cli.XXXXXX)
    start=$(date +%s)
    if (cd "$work" && TMP="$work" sh "$t") >"$work/log" 2>&1; then
        echo "ok   cli_$name ($(($(date +%s) - start))s)"
        passed=$((passed + 1))
        rm -rf "$work"
    else
        echo "FAIL cli_$name ($(($(date +%s) - start))s); last lines of $work/log:"
        tail -n 25 "$work/log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
