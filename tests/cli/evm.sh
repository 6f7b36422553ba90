# plow on an EVM chain, through the real binaries: an anvil started (and
# stopped) by its pid on a port it picks, `plow deploy` with a keystore v3
# file (cast's) and with a hex key, read back with cast: the addresses hold
# code, Plow names the token and judge, the judge the referee, minted
# balances exact; bad usage and unreachable chains are refused cleanly.
set -e
. "$LIB"
NM="$ROOT/node_modules/@foundry-rs"
ANVIL="$NM/anvil-linux-amd64/bin/anvil"
CAST="$NM/cast-linux-amd64/bin/cast"
[ -x "$ANVIL" ] && [ -x "$CAST" ] || fail "anvil/cast missing: run scripts/install-deps.sh evm"
CONTRACTS="$ROOT/build/contracts"
[ -s "$CONTRACTS/Plow.bin" ] || fail "no compiled contracts: run make contracts"
trap stop_all EXIT
"$ANVIL" --port 0 >anvil.log 2>&1 &
PIDS="$PIDS $!"
wait_log anvil.log "Listening on"
RPC="http://$(sed -n 's/.*Listening on \([0-9.:]*\).*/\1/p' anvil.log | head -n 1)"
# anvil's first dev account (its published test key) pays for the keystore's gas
K0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
printf '%s\n' "$K0" >k0.hex
chmod 600 k0.hex
export PLOW_KEY_PASSWORD=correct-horse
"$CAST" wallet new . deployer --unsafe-password "$PLOW_KEY_PASSWORD" >new.txt
[ -s deployer ] || fail "cast wrote no keystore: $(cat new.txt)"
DEP=$(sed -n 's/^Address: *\(0x[0-9a-fA-F]*\).*/\1/p' new.txt)
[ -n "$DEP" ] || fail "no address in cast's output: $(cat new.txt)"
"$CAST" send --rpc-url "$RPC" --private-key "$K0" --value 10ether "$DEP" >/dev/null
W1=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
W2=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
REF=0x90F79bf6EB2c4f870365E785982E1f101E93b906

$PLOW deploy --rpc "$RPC" --keystore deployer --contracts "$CONTRACTS" --out net.json --referee $REF \
    --mint "$W1=5000" --mint "$W2=7" --verdict-blocks 9 >deploy.out 2>deploy.err ||
    { cat deploy.err; fail "plow deploy failed"; }
j() { /usr/bin/python3 -c "import json,sys; print(json.load(open('net.json'))[sys.argv[1]])" "$1"; }
[ "$(j format)" = "plow-evm-deployment/1" ] || fail "deployment format: $(cat net.json)"
[ "$(j chain_id)" = "31337" ] || fail "chain id $(j chain_id)"
[ "$(j verdict_blocks)" = "9" ] || fail "verdict_blocks $(j verdict_blocks)"
lc() { echo "$1" | tr 'A-F' 'a-f'; }
for c in token judge plow merkle_check; do
    code=$("$CAST" code --rpc-url "$RPC" "$(j $c)")
    [ ${#code} -gt 100 ] || fail "$c at $(j $c) holds no code"
done
[ "$(lc "$("$CAST" call --rpc-url "$RPC" "$(j plow)" 'token()(address)')")" = "$(lc "$(j token)")" ] || fail "Plow.token"
[ "$(lc "$("$CAST" call --rpc-url "$RPC" "$(j plow)" 'judge()(address)')")" = "$(lc "$(j judge)")" ] || fail "Plow.judge"
[ "$(lc "$("$CAST" call --rpc-url "$RPC" "$(j judge)" 'referee()(address)')")" = "$(lc $REF)" ] || fail "judge.referee"
[ "$(lc "$("$CAST" call --rpc-url "$RPC" "$(j judge)" 'plow()(address)')")" = "$(lc "$(j plow)")" ] || fail "judge not attached"
[ "$("$CAST" call --rpc-url "$RPC" "$(j plow)" 'verdictBlocks()(uint64)')" = "9" ] || fail "Plow.verdictBlocks"
[ "$("$CAST" call --rpc-url "$RPC" "$(j token)" 'balanceOf(address)(uint256)' $W1)" = "5000" ] || fail "mint W1"
[ "$("$CAST" call --rpc-url "$RPC" "$(j token)" 'balanceOf(address)(uint256)' $W2)" = "7" ] || fail "mint W2"
# the deployment block is Plow's own: its code is absent one block before
B=$(j block)
[ "$("$CAST" code --rpc-url "$RPC" --block $((B - 1)) "$(j plow)")" = "0x" ] || fail "Plow existed before block $B"
TOKEN=$(j token)

# a second network settling in the first one's token, deployed by a hex key; the referee defaults to the deployer
$PLOW deploy --rpc "$RPC" --keystore k0.hex --contracts "$CONTRACTS" --token "$TOKEN" --out net2.json >/dev/null 2>&1 ||
    fail "deploy with --token"
t2=$(/usr/bin/python3 -c "import json; print(json.load(open('net2.json'))['token'])")
[ "$(lc "$t2")" = "$(lc "$TOKEN")" ] || fail "--token: $t2"
ref2=$(/usr/bin/python3 -c "import json; print(json.load(open('net2.json'))['referee'])")
[ "$(lc "$ref2")" = "$(lc 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266)" ] || fail "default referee $ref2"

# refusals: usage (2), and failures that name their cause (1), no file written
expect_fail 2 $PLOW deploy --keystore deployer
expect_fail 2 $PLOW deploy --rpc "$RPC"
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --token "$TOKEN" --mint "$W1=1"
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --mint "$W1"
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --mint "0x12=5"
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --token 0x1234
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --slash-pct 101
expect_fail 2 $PLOW deploy --rpc "$RPC" --keystore deployer --verdict-blocks 0
(
    export PLOW_KEY_PASSWORD=wrong
    expect_fail 1 $PLOW deploy --rpc "$RPC" --keystore deployer --contracts "$CONTRACTS" --out bad.json
)
grep -qi "mac\|password" err.txt || fail "a wrong password: $(cat err.txt)"
expect_fail 1 $PLOW deploy --rpc "$RPC" --keystore deployer --contracts ./nowhere --out bad.json
grep -q "nowhere" err.txt || fail "a missing contracts dir: $(cat err.txt)"
expect_fail 1 $PLOW deploy --rpc http://127.0.0.1:1 --keystore deployer --contracts "$CONTRACTS" --out bad.json
[ ! -e bad.json ] || fail "a failed deploy wrote its file"
echo "ok"
