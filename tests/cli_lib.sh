# lib.sh — helpers sourced by the shell tests (not a test itself).
fail() { echo "FAIL: $*"; exit 1; }
# expect_fail CODE CMD...: CMD must exit with CODE (not crash) and print "plow"
expect_fail() {
    want=$1; shift
    set +e
    "$@" >out.txt 2>err.txt
    rc=$?
    set -e
    [ "$rc" -eq "$want" ] || { cat err.txt; fail "'$*' exited $rc, expected $want"; }
    grep -q "plow" err.txt || fail "'$*' printed no plow error: $(cat err.txt)"
}
state_of() { tail -n 1 "$1" | sed -n 's/^state \([0-9a-f]\{64\}\)$/\1/p'; }
