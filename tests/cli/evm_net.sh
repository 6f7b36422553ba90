# plow demo --chain evm (docs/evm.md): the demo's workflow settled on plow's
# contracts on an anvil the demo starts and stops by its pid: `plow deploy`'s
# code, every agent (worker, cheater, verifier, requester) a separate process
# signing its own transactions with its own EVM key, `plow referee --chain
# evm` ruling, and the node as the chain's indexer (`plow node --chain`)
# from which the demo prints its table. The outcome is then asserted FROM THE
# CHAIN with cast (an independent client), against the node's index and the
# exact amounts: the cheater's replica slashed (half to the verifier, half
# burned), the honest workers paid their rewards, the requester charged them,
# tokens conserved; every task's status in the index is the contract's word;
# a worker withdraws its pay in the token. Then: a referee with another key
# is refused, usage errors, Ctrl-C stops every process and anvil.
set -e
. "$LIB"
NM="$ROOT/node_modules/@foundry-rs"
CAST="$NM/cast-linux-amd64/bin/cast"
[ -x "$NM/anvil-linux-amd64/bin/anvil" ] && [ -x "$CAST" ] || fail "anvil/cast missing: run scripts/install-deps.sh evm"
[ -s "$ROOT/build/contracts/Plow.bin" ] || fail "no compiled contracts: run make contracts"

expect_fail 2 $PLOW demo --chain solana --dir x
# the demo's directory: a name no other test's processes carry (their command lines are searched at the end)
D=evmdemo$$
PLOW_ROOT="$ROOT" $PLOW demo --chain evm --dir $D --steps 30 --data "$ROOT/data/tinyshakespeare.txt" --keep-running \
    >demo.txt 2>&1 &
DEMO=$!
PIDS="$PIDS $DEMO"
trap stop_all EXIT
i=0 # the workflow's windows and deadlines are blocks of 250 ms: a couple of minutes; wait for its end
until grep -q "Still running at\|OUTCOME: WRONG\|^plow: demo:" demo.txt; do
    kill -0 $DEMO 2>/dev/null || break
    i=$((i + 1))
    [ $i -lt 9000 ] || { tail -n 30 demo.txt; fail "the demo did not finish in 15 minutes"; }
    sleep 0.1
done
grep -q "OUTCOME: RIGHT" demo.txt || {
    tail -n 60 demo.txt
    for f in $D/logs/*.log; do echo "== $f"; tail -n 15 "$f"; done
    fail "the EVM demo's outcome"
}
grep -q "verdict on .*: UPHELD" demo.txt || fail "no upheld verdict in the demo's account"
APID=$(sed -n 's/.*anvil at .* (pid \([0-9]*\),.*/\1/p' demo.txt)
RPC="http://$(sed -n 's/.*Listening on \([0-9.:]*\).*/\1/p' $D/anvil/anvil.log | head -n 1)"
URL=$(cat $D/node/node.url)
j() { /usr/bin/python3 -c "import json,sys; print(json.load(open('$D/deployment.json'))[sys.argv[1]])" "$1"; }
PLOWC=$(j plow)
TOKEN=$(j token)
addr() { "$CAST" wallet address --private-key "$(cat $D/keys/$1.evm.hex)"; }
acct() { "$CAST" call --rpc-url "$RPC" "$PLOWC" 'accounts(address)(uint64,uint64,uint64,uint64)' "$1" | sed 's/ \[[^]]*\]//' | tr '\n' ' ' | sed 's/ *$//'; }
tok() { "$CAST" call --rpc-url "$RPC" "$TOKEN" 'balanceOf(address)(uint256)' "$1" | sed 's/ \[[^]]*\]//'; }
# exact, from the contract: genesis amounts (requester 1,000,000; workers and verifier 20,000; the
# cheater 100 + a 5,000 stake) -> base reward 2,000 x 2 paid, LoRA 1,000 and sample 500 to whoever did them
[ "$(acct "$(addr cheater)")" = "100 0 0 0" ] || fail "cheater: $(acct "$(addr cheater)")"
[ "$(acct "$(addr verifier)")" = "22500 0 0 0" ] || fail "verifier: $(acct "$(addr verifier)")"
[ "$(acct "$(addr requester)")" = "994500 0 0 0" ] || fail "requester: $(acct "$(addr requester)")"
[ "$("$CAST" call --rpc-url "$RPC" "$PLOWC" 'burned()(uint64)' | sed 's/ \[[^]]*\]//')" = "2500" ] || fail "burned"
h1=$(acct "$(addr honest-1)")
h2=$(acct "$(addr honest-2)")
# each honest worker: balance + stake = 20,000 + its rewards; together they earned 5,500
tot=$(echo "$h1 $h2" | awk '{print $1 + $2 + $5 + $6}')
[ "$tot" = "45500" ] || fail "honest workers: $h1 / $h2"
# conserved: the tokens Plow holds = every account + what was burned (no escrow or bond left)
sum=0
for n in operator requester honest-1 honest-2 cheater verifier; do
    sum=$((sum + $(acct "$(addr $n)" | awk '{print $1 + $2 + $4}')))
    # the node's index reads the same account
    [ "$(acct "$(addr $n)" | awk '{print $1, $2}')" = "$(q "/v1/account/$(addr $n)" 'j["balance"], j["stake"]')" ] ||
        fail "$n: chain $(acct "$(addr $n)"), index $(curl -s "$URL/v1/account/$(addr $n)")"
done
[ "$(tok "$PLOWC")" = "$((sum + 2500))" ] || fail "Plow holds $(tok "$PLOWC"), accounts + burned $((sum + 2500))"
# the index equals the chain: every task's status is the contract's word
[ "$(q /v1/tasks 'len(j["tasks"])')" = "3" ] || fail "three tasks indexed: $(q /v1/tasks 'len(j["tasks"])')"
for t in $(q /v1/tasks '" ".join(x["id"] for x in j["tasks"])'); do
    w=$("$CAST" call --rpc-url "$RPC" "$PLOWC" 'tasks(bytes32)(uint256)' "0x$t" | sed 's/ \[[^]]*\]//')
    st=$(/usr/bin/python3 -c "print(['','open','claimed','committed','challenged','resolved','finalized','expired'][$w & 255])")
    [ "$st" = finalized ] || fail "task $t is $st on the chain"
    [ "$(q /v1/task/$t 'j["status"]')" = "$st" ] || fail "task $t: indexed $(q /v1/task/$t 'j["status"]'), chain $st"
done
[ "$(q '/v1/tasks?kind=train&status=finalized' 'len(j["tasks"])')" = "1" ] || fail "a filtered listing"
[ "$(q /v1/status 'j["settlement"], j["burned"], j["holdings"]')" = "evm 2500 $sum" ] ||
    fail "the index's status: $(curl -s "$URL/v1/status")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/account/0x12")
[ "$code" = 400 ] || fail "a malformed EVM address: $code"
# a worker withdraws its pay in the token
B1=$(echo "$h1" | awk '{print $1}')
"$CAST" send --rpc-url "$RPC" --private-key "$(cat $D/keys/honest-1.evm.hex)" "$PLOWC" 'withdraw(uint64)' "$B1" >/dev/null
[ "$(tok "$(addr honest-1)")" = "$B1" ] || fail "honest-1's token balance $(tok "$(addr honest-1)")"
# a referee whose key is not the deployment's is refused at once; usage errors
expect_fail 1 timeout 30 $PLOW referee --chain evm --deployment $D/deployment.json --rpc "$RPC" \
    --keystore $D/keys/verifier.evm.hex --key $D/keys/verifier.key --work x
grep -q "not the deployment's referee" err.txt || fail "a wrong referee key: $(cat err.txt)"
expect_fail 2 $PLOW referee --deployment $D/deployment.json --rpc "$RPC" --keystore $D/keys/verifier.evm.hex --key $D/keys/verifier.key --work x
expect_fail 2 $PLOW worker --key $D/keys/verifier.key --work x --chain evm --rpc "$RPC"
expect_fail 2 $PLOW requester --key $D/keys/requester.key --work x --task t.json --keystore $D/keys/requester.evm.hex
expect_fail 2 $PLOW verifier --key $D/keys/verifier.key --work x --chain solana --rpc "$RPC" --deployment $D/deployment.json \
    --keystore $D/keys/verifier.evm.hex
# Ctrl-C: the demo stops every process it started, anvil included (by its pid)
kill -INT $DEMO
wait $DEMO || true
grep -q "stopping anvil (pid $APID)" demo.txt || fail "the demo did not say it stopped anvil"
! kill -0 "$APID" 2>/dev/null || fail "anvil (pid $APID) still runs after the demo"
left=$(ps -eo pid,args | grep -F -e "--work $D/work/" -e "--data $D/node" | grep -v grep || true)
[ -z "$left" ] || fail "processes left running after the demo: $left"
echo ok
