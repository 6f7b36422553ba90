#!/bin/sh
# tasks.sh — plow task post|list|show and plow block show against a real
# node: a TASKFILE's "@" files are uploaded (checked with curl against their
# sha256), the spec uploaded is the canonical one and names them, a run
# directory becomes {"model", "config"}, "@@" escapes a literal "@"; the
# reward is escrowed; a bad TASKFILE or spec posts nothing.
set -eu
. "$LIB"

export HOME="$TMP/home"
mkdir -p "$HOME"
unset PLOW_KEY PLOW_NODE || true

$PLOW wallet new --key req.json >req.addr 2>/dev/null
R=$(cat req.addr)
export PLOW_KEY=req.json

expect_fail 1 $PLOW task list --node http://127.0.0.1:1
grep -q "cannot reach the node at http://127.0.0.1:1: is 'plow node' running? (connection refused)" err.txt ||
    fail "node down: $(cat err.txt)"

$PLOW node init --data n1 --out-genesis genesis.json --fund "$R=1000000" >/dev/null 2>&1
trap stop_all EXIT
start_node n1 node.log --genesis genesis.json --block-ms 50 --quiet
PLOW_NODE=$URL
export PLOW_NODE

sha() { sha256sum "$1" | cut -d' ' -f1; }
# blob HASH: the node's copy of a blob
blob() { curl -sf "$PLOW_NODE/v1/blob/$1"; }

# ---- a training task ------------------------------------------------------------
mkdir -p job
seq 1 800 >job/data.txt
printf 'not really a tokenizer' >job/tok.bin
cat >job/train.json <<'EOF'
{"format": "plow.taskfile.v1", "mode": "replicated", "replicas": 2,
 "reward": "1000", "worker_stake": "500", "min_bond": "100",
 "claim_blocks": 100, "work_blocks": 2000, "window_blocks": 40,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@data.txt",
          "tokenizer": "@tok.bin", "steps": 20, "batch": 4, "seq": 32, "checkpoint_every": 5}}
EOF
$PLOW task post job/train.json >id.txt 2>post.err || { cat post.err; fail "task post"; }
ID=$(cat id.txt)
echo "$ID" | grep -Eq '^[0-9a-f]{64}$' || fail "task post printed '$ID'"
grep -q "uploaded job/data.txt -> $(sha job/data.txt)" post.err || fail "upload report: $(cat post.err)"
H=$(sed -n 's/^task posted in block \([0-9]*\).*/\1/p' post.err)
[ -n "$H" ] || fail "no block in: $(cat post.err)"

# the files are on the node, byte for byte, and the spec names them
blob "$(sha job/data.txt)" | cmp -s - job/data.txt || fail "the node's data blob differs"
blob "$(sha job/tok.bin)" | cmp -s - job/tok.bin || fail "the node's tokenizer blob differs"
$PLOW task show "$ID" --json >show.json
SPEC=$(tr -d ' \t\n' <show.json | sed -n 's/.*"spec":"\([0-9a-f]*\)".*/\1/p')
blob "$SPEC" >spec.json || fail "the spec $SPEC is not on the node"
[ "$(sha spec.json)" = "$SPEC" ] || fail "the spec blob does not hash to its name"
grep -q "\"data\":\"$(sha job/data.txt)\"" spec.json && grep -q "\"tokenizer\":\"$(sha job/tok.bin)\"" spec.json ||
    fail "spec: $(cat spec.json)"
grep -q '@' spec.json && fail "an @ path reached the spec: $(cat spec.json)"

# list, show, escrow
$PLOW task list >list.txt
SHORT=$(echo "$ID" | cut -c1-12)
grep -Eq "^$SHORT +train +replicated +open +1000 +0/2$" list.txt || fail "task list: $(cat list.txt)"
$PLOW task list --status open | grep -q "^$SHORT" || fail "task list --status open"
$PLOW task list --status finalized >fin.txt 2>fin.err
[ ! -s fin.txt ] && grep -q "no tasks" fin.err || fail "--status finalized: $(cat fin.txt)"
$PLOW task list --json | grep -q "\"id\":[[:space:]]*\"$ID\"" || fail "task list --json"
$PLOW task show "$SHORT" >show.txt
grep -q "^task  *$ID$" show.txt && grep -q "^steps  *20$" show.txt && grep -q "^status  *open$" show.txt &&
    grep -q "^reward  *1000 per worker (escrow 2000)$" show.txt && grep -q "^slot 1  *empty$" show.txt &&
    grep -q "^claim until  *block $((H + 100))" show.txt || fail "task show: $(cat show.txt)"
$PLOW wallet balance >bal.txt
# 1000000 - 2000 escrow - 1 fee
grep -q "^balance  *997999$" bal.txt || fail "escrow: $(cat bal.txt)"

# the block it landed in
$PLOW block show "$H" >block.txt
grep -q "^height  *$H$" block.txt && grep -q "$ID  post_task  *$R  ok" block.txt || fail "block $H: $(cat block.txt)"
$PLOW block show latest >/dev/null
$PLOW block show --json "$H" | grep -q '"header"' || fail "block show --json"
expect_fail 1 $PLOW block show 99999999
expect_fail 2 $PLOW block show twelve
expect_fail 2 $PLOW block show 1 2

# ---- an inference task on a run directory, optimistic, with "@@" ----------------
mkdir -p job/run
printf 'weights' >job/run/model.safetensors
printf '{"config":"tiny"}' >job/run/config.json
cat >job/infer.json <<'EOF'
{"format": "plow.taskfile.v1", "mode": "optimistic", "reward": "50", "worker_stake": "10", "min_bond": "5",
 "spec": {"format": "plow.spec.v1", "kind": "infer", "tokenizer": "@tok.bin", "base": "@run",
          "infer": {"prompt": "@@home", "tokens": 16}}}
EOF
ID2=$($PLOW task post job/infer.json 2>post.err) || { cat post.err; fail "infer post"; }
$PLOW task show "$ID2" >show.txt
grep -q "^mode  *optimistic, 1 worker$" show.txt && grep -q "^tokens  *16$" show.txt && grep -q "^kind  *infer$" show.txt ||
    fail "infer task: $(cat show.txt)"
SPEC=$($PLOW task show "$ID2" --json | tr -d ' \t\n' | sed -n 's/.*"spec":"\([0-9a-f]*\)".*/\1/p')
blob "$SPEC" >spec2.json
grep -q "\"base\":{\"model\":\"$(sha job/run/model.safetensors)\",\"config\":\"$(sha job/run/config.json)\"}" spec2.json ||
    fail "run directory: $(cat spec2.json)"
grep -q '"prompt":"@home"' spec2.json || fail "@@ escape: $(cat spec2.json)"

# ---- refused TASKFILEs post nothing ---------------------------------------------
$PLOW task list --json | grep -c '"id"' >count0.txt
bad() { # NAME JSON EXPECTED-TEXT
    printf '%s' "$2" >"job/$1.json"
    expect_fail 1 $PLOW task post "job/$1.json"
    grep -q "$3" err.txt || fail "$1: expected '$3' in: $(cat err.txt)"
}
T='"format":"plow.taskfile.v1","mode":"replicated","reward":"1","worker_stake":"1","min_bond":"1"'
S='"format":"plow.spec.v1","kind":"train","config":"tiny","data":"@data.txt","tokenizer":"@tok.bin"'
bad nofile "{$T,\"spec\":{$S,\"steps\":5,\"data\":\"@nope.txt\"}}" "no file"
bad nosteps "{$T,\"spec\":{$S}}" "steps"
bad badkind "{$T,\"spec\":{\"format\":\"plow.spec.v1\",\"kind\":\"dance\"}}" "kind"
bad typo "{$T,\"rewards\":\"5\",\"spec\":{$S,\"steps\":5}}" "unknown key 'rewards'"
bad format "{\"format\":\"v0\",\"spec\":{}}" "format"
bad mode "{$(echo "$T" | sed 's/replicated/sharded/'),\"spec\":{$S,\"steps\":5}}" "mode"
bad numreward "{$(echo "$T" | sed 's/"reward":"1"/"reward":1/'),\"spec\":{$S,\"steps\":5}}" "reward"
bad overflow "{$(echo "$T" | sed 's/"reward":"1"/"reward":"18446744073709551616"/'),\"spec\":{$S,\"steps\":5}}" "reward"
bad replicas "{$T,\"replicas\":1,\"spec\":{$S,\"steps\":5}}" "replicas"
bad optreplicas "{$(echo "$T" | sed 's/replicated/optimistic/'),\"replicas\":2,\"spec\":{$S,\"steps\":5}}" "replicas"
bad dir "{$T,\"spec\":{$S,\"steps\":5,\"data\":\"@run\"}}" "directory"
bad rundir "{$T,\"spec\":{\"format\":\"plow.spec.v1\",\"kind\":\"lora\",\"data\":\"@data.txt\",\"tokenizer\":\"@tok.bin\",\"base\":\"@.\",\"steps\":5}}" "model.safetensors"
bad nospec "{$T}" "spec"
bad notjson "{$T," "JSON"
bad poor "{$(echo "$T" | sed 's/"reward":"1"/"reward":"999999999"/'),\"spec\":{$S,\"steps\":5}}" "escrow\|balance\|less than"
expect_fail 1 $PLOW task post job/missing.json
expect_fail 2 $PLOW task post
expect_fail 2 $PLOW task post job/train.json --fee x
expect_fail 2 $PLOW task list --status bogus
expect_fail 2 $PLOW task list --limit 0
expect_fail 1 $PLOW task show zzzz
expect_fail 1 $PLOW task show 00000000
expect_fail 2 $PLOW task show
expect_fail 2 $PLOW task frobnicate
$PLOW task list --json | grep -c '"id"' >count1.txt
cmp -s count0.txt count1.txt || fail "a refused TASKFILE posted a task"
$PLOW task --help | grep -q "plow task post TASKFILE" || fail "task --help"
$PLOW block --help | grep -q "plow block show" || fail "block --help"
echo "tasks ok"
