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

# ---- a node and its agents ---------------------------------------------------
# PIDS: the processes a test started, NODE its node; stop_all (the EXIT trap
# of a test) kills them.
PIDS=""
NODE=""
stop_all() { for p in $PIDS $NODE; do kill -9 "$p" 2>/dev/null || true; done; }
# start_node DIR LOG [ARGS...]: starts `plow node --data DIR` on a port it
# picks itself (--listen 127.0.0.1:0) with ARGS, its output appended to LOG,
# and waits until the URL it wrote to DIR/node.url answers. Sets NODE (its
# pid) and URL.
start_node() { node_at 127.0.0.1:0 "$@"; }

# small_network BYTES REQ KEY...: what the agent tests start from. The first
# BYTES of the corpus as d.txt with a 300-token tok.bin, a wallet REQ.key
# funded 1,000,000 and a wallet KEY.key funded 50,000 for each KEY (addresses
# in NAME.addr), and a node on that genesis in directory n (200 ms blocks,
# log node.log) whose URL is exported as PLOW_NODE; stop_all stops it at exit.
# FUND_FILE, if set: more accounts for the genesis (plow node init --fund-file).
# INIT_ARGS, if set: more options of plow node init (e.g. --verdict-blocks N).
# NODE_ARGS, if set: the node's options instead of --block-ms 200 --quiet.
small_network() {
    head -c "$1" "$ROOT/data/tinyshakespeare.txt" > d.txt
    $PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null 2>&1
    req=$2
    shift 2
    $PLOW wallet new --key $req.key -q > $req.addr
    set -- "--fund" "$(cat $req.addr)=1000000" $(for k in "$@"; do
        $PLOW wallet new --key $k.key -q > $k.addr
        printf '%s %s=50000 ' --fund "$(cat $k.addr)"
    done)
    $PLOW node init --data n --out-genesis g.json "$@" ${FUND_FILE:+--fund-file "$FUND_FILE"} ${INIT_ARGS:-} > /dev/null
    trap stop_all EXIT
    start_node n node.log --genesis g.json ${NODE_ARGS:---block-ms 200 --quiet}
    export PLOW_NODE=$URL
}
# restart_node DIR LOG [ARGS...]: the same on the port of URL (a node started
# again where its agents look for it)
restart_node() { node_at "127.0.0.1:${URL##*:}" "$@"; }
node_at() {
    _d=$2 _log=$3
    _listen=$1
    shift 3
    rm -f "$_d/node.url"
    $PLOW node --data "$_d" --listen "$_listen" "$@" >>"$_log" 2>&1 &
    NODE=$!
    _i=0
    until [ -s "$_d/node.url" ] && curl -sf "$(cat "$_d/node.url")/v1/status" >/dev/null 2>&1; do
        kill -0 $NODE 2>/dev/null || { tail -n 20 "$_log"; fail "the node ($_d) exited at start"; }
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { tail -n 20 "$_log"; fail "the node ($_d) did not answer within a minute"; }
        sleep 0.1
    done
    URL=$(cat "$_d/node.url")
}
# q PATH EXPR: a Python expression over the JSON answer j of the node at URL
q() { /usr/bin/python3 -c "import json,sys,urllib.request; j=json.load(urllib.request.urlopen('$URL'+sys.argv[1])); print($2)" "$1"; }
# wait_log FILE PATTERN [N]: waits until FILE has at least N (default 1) lines
# matching PATTERN (a guard of three minutes, then it fails showing FILE)
wait_log() {
    _i=0
    # a file not there yet counts 0 matches (grep -c prints nothing for it)
    until _c=$(grep -c -- "$2" "$1" 2>/dev/null); [ "${_c:-0}" -ge "${3:-1}" ]; do
        _i=$((_i + 1))
        [ $_i -lt 1800 ] || { echo "== $1"; tail -n 30 "$1"; fail "timed out waiting for '$2' in $1"; }
        sleep 0.1
    done
}

# ---- plow serve ---------------------------------------------------------------
# start_serve DIR ARGS...: `plow serve --listen 127.0.0.1:0 --url-file DIR/url
# ARGS` (one compute thread, log DIR/log), added to PIDS; waits until its
# /v1/models answers and sets SURL.
start_serve() {
    _d=$1
    shift
    mkdir -p "$_d"
    rm -f "$_d/url"
    PLOW_THREADS=1 $PLOW serve --listen 127.0.0.1:0 --url-file "$_d/url" "$@" > "$_d/log" 2>&1 &
    _p=$!
    PIDS="$PIDS $_p"
    _i=0
    until [ -s "$_d/url" ] && curl -sf "$(cat "$_d/url")/v1/models" > /dev/null 2>&1; do
        kill -0 $_p 2>/dev/null || { cat "$_d/log"; fail "plow serve ($_d) exited at start"; }
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { cat "$_d/log"; fail "plow serve ($_d) did not answer within a minute"; }
        sleep 0.1
    done
    SURL=$(cat "$_d/url")
}
