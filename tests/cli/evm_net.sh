# Agents settling on plow's contracts (docs/evm.md): anvil started and
# stopped by its pid (1-second blocks, so deadlines pass), `plow deploy`,
# a plow node that serves the blobs only, and a requester and an honest
# worker running with --chain evm, each signing its own transactions with
# its own EVM key. The task is posted, claimed, committed, revealed and
# finalized on the chain; the requester verifies the artifact from the
# blobs; balances are exact in the token and money is conserved.
# Then a cheating worker takes a task, a verifier (with --chain evm)
# re-executes it and challenges, `plow referee --chain evm` rules with the
# deployment's referee key: the cheat is slashed (the verifier's share and
# the burn exact), the task is posted again and the honest worker is paid.
set -e
. "$LIB"
NM="$ROOT/node_modules/@foundry-rs"
ANVIL="$NM/anvil-linux-amd64/bin/anvil"
CAST="$NM/cast-linux-amd64/bin/cast"
[ -x "$ANVIL" ] && [ -x "$CAST" ] || fail "anvil/cast missing: run scripts/install-deps.sh evm"
[ -s "$ROOT/build/contracts/Plow.bin" ] || fail "no compiled contracts: run make contracts"

small_network 100000 req w1 w2 ver
"$ANVIL" --port 0 --block-time 1 --config-out anvil.json >anvil.log 2>&1 &
PIDS="$PIDS $!"
wait_log anvil.log "Listening on"
RPC="http://$(sed -n 's/.*Listening on \([0-9.:]*\).*/\1/p' anvil.log | head -n 1)"
# anvil's dev accounts (from its --config-out): 0 deploys, 1 requests, 2 works
for i in 0 1 2 3 4 5; do
    /usr/bin/python3 -c "import json,sys; print(json.load(open('anvil.json'))['private_keys'][int(sys.argv[1])])" $i >k$i.hex
    chmod 600 k$i.hex
done
K1=$(cat k1.hex)
K2=$(cat k2.hex)
A1=$("$CAST" wallet address --private-key "$K1")
A2=$("$CAST" wallet address --private-key "$K2")
K3=$(cat k3.hex)
K4=$(cat k4.hex)
A3=$("$CAST" wallet address --private-key "$K3")
A4=$("$CAST" wallet address --private-key "$K4")
A5=$("$CAST" wallet address --private-key "$(cat k5.hex)")
$PLOW deploy --rpc "$RPC" --keystore k0.hex --contracts "$ROOT/build/contracts" --out net.json \
    --mint "$A1=1000000" --mint "$A2=50000" --mint "$A3=5000" --mint "$A4=5000" --referee "$A5" --verdict-blocks 30 \
    >deploy.out 2>&1 || { cat deploy.out; fail "deploy"; }
j() { /usr/bin/python3 -c "import json,sys; print(json.load(open('net.json'))[sys.argv[1]])" "$1"; }
TOKEN=$(j token)
PLOWC=$(j plow)
c_send() { "$CAST" send --rpc-url "$RPC" --private-key "$@" >/dev/null; }
c_send $K1 "$TOKEN" 'approve(address,uint256)' "$PLOWC" 1000000
c_send $K1 "$PLOWC" 'deposit(uint64)' 100000
c_send $K2 "$TOKEN" 'approve(address,uint256)' "$PLOWC" 50000
c_send $K2 "$PLOWC" 'deposit(uint64)' 50000
for k in $K3 $K4; do
    c_send $k "$TOKEN" 'approve(address,uint256)' "$PLOWC" 5000
    c_send $k "$PLOWC" 'deposit(uint64)' 5000
done
acct() { "$CAST" call --rpc-url "$RPC" "$PLOWC" 'accounts(address)(uint64,uint64,uint64,uint64)' "$1" | sed 's/ \[[^]]*\]//' | tr '\n' ' ' | sed 's/ *$//'; }
tok() { "$CAST" call --rpc-url "$RPC" "$TOKEN" 'balanceOf(address)(uint256)' "$1" | sed 's/ \[[^]]*\]//'; }
[ "$(acct $A1)" = "100000 0 0 0" ] || fail "requester's deposit: $(acct $A1)"

cat > t.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 200, "work_blocks": 300, "window_blocks": 4,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 20, "batch": 4, "seq": 64, "checkpoint_every": 10}}
EOT
cat > policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.05, "safety": 1}
EOT
EVM="--chain evm --deployment net.json --rpc $RPC"
$PLOW worker --key w1.key --work wk --name w1 --policy policy.json --threads 1 --poll 0.2 $EVM --keystore k2.hex \
    >w1.log 2>&1 &
W1=$!
PIDS="$PIDS $W1"
wait_log w1.log "registered as agent"
timeout 300 $PLOW requester --key req.key --work rq --task t.task.json --threads 1 --poll 0.2 $EVM --keystore k1.hex \
    >rq.log 2>&1 || { tail -n 30 rq.log; tail -n 30 w1.log; fail "the requester did not finish cleanly"; }
grep -q "finalized" rq.log || fail "no finalize in the requester's log"
# exact: the worker staked 3000 of its 50000 and earned the reward; the requester paid it
[ "$(acct $A2)" = "47300 3000 0 0" ] || fail "worker's account: $(acct $A2)"
[ "$(acct $A1)" = "99700 0 0 0" ] || fail "requester's account: $(acct $A1)"
# conserved: Plow holds exactly the four deposits (nothing burned, no escrow left)
[ "$(tok "$PLOWC")" = "160000" ] || fail "Plow holds $(tok "$PLOWC")"
[ "$("$CAST" call --rpc-url "$RPC" "$PLOWC" 'burned()(uint64)')" = "0" ] || fail "burned"
# the worker withdraws its pay in the token
c_send $K2 "$PLOWC" 'withdraw(uint64)' 47300
[ "$(tok $A2)" = "47300" ] || fail "worker's token balance $(tok $A2)"
# the node's ledger saw none of it: no task was posted there
[ "$(q /v1/tasks 'len(j["tasks"])')" = "0" ] || fail "a task reached the node's ledger"
# ---- the node indexes the chain (plow node --chain): restarted on its port with the contracts, it
# serves the same API from the chain's events (the blob collection's pinning of live EVM tasks is
# tested in evm_anvil_chain_index: a pass here would need a retention shorter than a worker's
# upload-to-reveal time)
kill -TERM $NODE
wait $NODE || fail "the node did not stop cleanly"
restart_node n node.log --block-ms 200 --chain "$RPC" --deployment net.json --confirmations 0 \
    --chain-poll-ms 100
PIDS="$PIDS $NODE"
i=0
until [ "$(q /v1/tasks 'len(j["tasks"])')" = "1" ]; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "the chain node did not index the task"; sleep 0.1
done
T1=$(q /v1/tasks 'j["tasks"][0]["id"]')
[ "$(q /v1/task/$T1 'j["status"]')" = "finalized" ] || fail "the indexed task: $(curl -s $URL/v1/task/$T1)"
[ "$(q /v1/task/$T1 'j["slots"][0]["status"]')" = "paid" ] || fail "the indexed slot: $(curl -s $URL/v1/task/$T1)"
[ "$(q /v1/account/$A2 'j["balance"], j["stake"]')" = "0 3000" ] || fail "indexed account: $(curl -s $URL/v1/account/$A2)"
[ "$(q /v1/status 'j["settlement"], j["evm"]["tasks"]')" = "evm 1" ] || fail "status: $(curl -s $URL/v1/status)"
[ "$(q '/v1/tasks?status=finalized&kind=train' 'len(j["tasks"])')" = "1" ] || fail "filtered listing"
[ "$(q '/v1/tasks?status=open' 'len(j["tasks"])')" = "0" ] || fail "filtered listing (open)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/account/0x12")
[ "$code" = 400 ] || fail "a malformed EVM address: $code"
# ---- a cheater, a verifier and the referee on the chain ----
# the honest worker steps aside until the cheater holds the task (then it takes the repost)
kill $W1
wait $W1 2>/dev/null || true
cat > cheat_policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "1000", "stake": "1000",
 "seconds_per_step": 0.05, "safety": 1}
EOT
$PLOW referee --chain evm --deployment net.json --rpc "$RPC" --keystore k5.hex --key ver.key --work ref \
    --poll 0.2 >ref.log 2>&1 &
PIDS="$PIDS $!"
$PLOW verifier --key ver.key --work vw --name ver --samples 63 --poll 0.2 $EVM --keystore k4.hex >ver.log 2>&1 &
PIDS="$PIDS $!"
$PLOW worker --key w2.key --work wc --name cheater --policy cheat_policy.json --threads 1 --poll 0.2 \
    --cheat perturb@7 --once $EVM --keystore k3.hex >cheat.log 2>&1 &
CH=$!
PIDS="$PIDS $CH"
wait_log cheat.log "registered as agent"
w1_0=$(acct $A2)
$PLOW requester --key req.key --work rq2 --task t.task.json --threads 1 --poll 0.2 $EVM --keystore k1.hex \
    >rq2.log 2>&1 &
RQ2=$!
PIDS="$PIDS $RQ2"
wait_log cheat.log "claimed slot"
$PLOW worker --key w1.key --work wk --name w1 --policy policy.json --threads 1 --poll 0.2 $EVM --keystore k2.hex \
    >>w1.log 2>&1 &
PIDS="$PIDS $!"
wait_log ref.log "upheld"
wait_log ver.log "verdict on challenge"
grep -q "the accused was wrong and is slashed" ver.log || fail "the verifier's verdict: $(grep verdict ver.log)"
# the cheater lost one stake (1000): half to the verifier, half burned
[ "$(acct $A3)" = "4000 0 0 0" ] || fail "cheater's account: $(acct $A3)"
[ "$(acct $A4)" = "5500 0 0 0" ] || fail "verifier's account: $(acct $A4)"
[ "$("$CAST" call --rpc-url "$RPC" "$PLOWC" 'burned()(uint64)' | sed 's/ \[[^]]*\]//')" = "500" ] || fail "burned"
# the requester posts the task again; the honest worker takes it and is paid
wait $RQ2 || { tail -n 30 rq2.log; fail "the second requester did not finish cleanly"; }
[ "$(acct $A2)" = "$(echo "$w1_0" | awk '{print $1 + 300, $2, $3, $4}')" ] || fail "honest worker: $w1_0 -> $(acct $A2)"
[ "$(acct $A1)" = "99400 0 0 0" ] || fail "requester after two tasks: $(acct $A1)"
# conserved: 150000 + 10000 deposited, 47300 withdrawn, 500 burned (held by Plow, counted by burned)
[ "$(tok "$PLOWC")" = "112700" ] || fail "Plow holds $(tok "$PLOWC")"
# the index equals the chain: every task's status as the contract's word says
for t in $(q /v1/tasks '" ".join(x["id"] for x in j["tasks"])'); do
    w=$("$CAST" call --rpc-url "$RPC" "$PLOWC" 'tasks(bytes32)(uint256)' "0x$t" | sed 's/ \[[^]]*\]//')
    st=$(/usr/bin/python3 -c "print(['','open','claimed','committed','challenged','resolved','finalized','expired'][$w & 255])")
    [ "$(q /v1/task/$t 'j["status"]')" = "$st" ] || fail "task $t: indexed $(q /v1/task/$t 'j["status"]'), chain $st"
done
[ "$(q /v1/tasks 'len(j["tasks"])')" = "3" ] || fail "three tasks on the chain: $(q /v1/tasks 'len(j["tasks"])')"
[ "$(q /v1/status 'j["burned"]')" = "500" ] || fail "indexed burned: $(q /v1/status 'j["burned"]')"
# a referee whose key is not the deployment's is refused at once
expect_fail 1 timeout 30 $PLOW referee --chain evm --deployment net.json --rpc "$RPC" --keystore k4.hex --key ver.key --work x
grep -q "not the deployment's referee" err.txt || fail "a wrong referee key: $(cat err.txt)"
expect_fail 2 $PLOW referee --deployment net.json --rpc "$RPC" --keystore k5.hex --key ver.key --work x
# usage: --chain evm needs its three options; they need --chain evm
expect_fail 2 $PLOW worker --key w1.key --work x --chain evm --rpc "$RPC"
expect_fail 2 $PLOW requester --key req.key --work x --task t.task.json --keystore k1.hex
expect_fail 2 $PLOW verifier --key req.key --work x --chain solana --rpc "$RPC" --deployment net.json --keystore k1.hex
echo ok
