#!/bin/sh
# wallet.sh — plow wallet against a real node: key files (mode 0600, never
# overwritten, refused when readable by others), balances, transfers with
# their fee, stake and unstake, profiles; and what must be refused before
# anything is sent (a mistyped address, bad amounts, bad usage), what the
# ledger refuses (insufficient balance, unstaking what is not staked) and
# the message when no node is running.
set -eu
. "$LIB"

export HOME="$TMP/home"
mkdir -p "$HOME"
unset PLOW_KEY PLOW_NODE || true

# ---- keys (no node needed) ----------------------------------------------------
$PLOW wallet new >a.addr 2>new.err
A=$(cat a.addr)
echo "$A" | grep -Eq '^plow[0-9a-f]{72}$' || fail "wallet new printed '$A'"
[ "$(stat -c %a "$HOME/.plow/key.json")" = 600 ] || fail "the default key is not mode 600"
[ "$(stat -c %a "$HOME/.plow")" = 700 ] || fail "~/.plow is not mode 700"
[ "$($PLOW wallet show)" = "$A" ] || fail "wallet show disagrees with wallet new"
cp "$HOME/.plow/key.json" key.copy
expect_fail 1 $PLOW wallet new
grep -q "refusing to overwrite" err.txt || fail "overwrite: $(cat err.txt)"
cmp -s key.copy "$HOME/.plow/key.json" || fail "wallet new changed an existing key"

$PLOW wallet new --key b.json >b.addr 2>/dev/null
B=$(cat b.addr)
[ "$(stat -c %a b.json)" = 600 ] || fail "b.json is not mode 600"
[ "$(PLOW_KEY=b.json $PLOW wallet show)" = "$B" ] || fail "PLOW_KEY is not used"
[ "$B" != "$A" ] || fail "two new keys are the same"
chmod 644 b.json
expect_fail 1 $PLOW wallet show --key b.json
grep -q "chmod 600" err.txt || fail "a readable key: $(cat err.txt)"
chmod 600 b.json
expect_fail 1 $PLOW wallet show --key missing.json
grep -q "plow wallet new --key missing.json" err.txt || fail "missing key: $(cat err.txt)"

# ---- no node ------------------------------------------------------------------
expect_fail 1 $PLOW wallet balance "$A" --node http://127.0.0.1:1
grep -q "cannot reach the node at http://127.0.0.1:1: is 'plow node' running? (connection refused)" err.txt ||
    fail "node down: $(cat err.txt)"
expect_fail 1 env PLOW_NODE=http://127.0.0.1:1 $PLOW wallet transfer "$B" 5
grep -q "cannot reach the node at http://127.0.0.1:1" err.txt || fail "PLOW_NODE is not used: $(cat err.txt)"

# ---- a node funding A ---------------------------------------------------------
$PLOW node init --data n1 --out-genesis genesis.json --fund "$A=1000000" >/dev/null 2>&1
trap stop_all EXIT
start_node n1 node.log --genesis genesis.json --block-ms 50 --quiet
PLOW_NODE=$URL
export PLOW_NODE

# field NAME: the number after NAME in bal.txt
field() { sed -n "s/^$1 *\([0-9]*\).*/\1/p" bal.txt; }

$PLOW wallet balance >bal.txt
[ "$(sed -n 's/^address *//p' bal.txt)" = "$A" ] || fail "balance shows another address"
[ "$(field balance)" = 1000000 ] && [ "$(field nonce)" = 0 ] && [ "$(field stake)" = 0 ] || fail "$(cat bal.txt)"

$PLOW wallet transfer "$B" 1000 >tx.txt
grep -Eq '^tx [0-9a-f]{64} included in block [0-9]+$' tx.txt || fail "transfer printed: $(cat tx.txt)"
$PLOW wallet balance "$B" >bal.txt
[ "$(field balance)" = 1000 ] || fail "B after the transfer: $(cat bal.txt)"
$PLOW wallet balance >bal.txt
[ "$(field balance)" = 998999 ] && [ "$(field nonce)" = 1 ] || fail "A after the transfer (fee 1): $(cat bal.txt)"
$PLOW wallet transfer "$B" 10 --fee 5 >/dev/null
$PLOW wallet balance >bal.txt
[ "$(field balance)" = 998984 ] || fail "A after a transfer with --fee 5: $(cat bal.txt)"

# the block it landed in holds it
H=$(sed -n 's/.* included in block //p' tx.txt)
TXH=$(sed -n 's/^tx \([0-9a-f]*\) .*/\1/p' tx.txt)
$PLOW block show "$H" >block.txt
grep -q "$TXH  transfer" block.txt || fail "block $H does not list the transfer: $(cat block.txt)"

# stake, unstake
$PLOW wallet stake 5000 >/dev/null
$PLOW wallet unstake 200 >/dev/null
$PLOW wallet balance >bal.txt
[ "$(field stake)" = 4800 ] && [ "$(field unbonding)" = 200 ] && [ "$(field balance)" = 993982 ] ||
    fail "after stake 5000, unstake 200: $(cat bal.txt)"
grep -q "^unbonding *200 (free at block [0-9]*)" bal.txt || fail "no unbonding height: $(cat bal.txt)"

# a profile
$PLOW wallet register --kind agent --name "bot one" --caps '{"gpu":false}' >/dev/null
$PLOW wallet balance >bal.txt
grep -q '^profile *agent "bot one" caps {"gpu":false}' bal.txt || fail "profile: $(cat bal.txt)"
$PLOW wallet balance --json >bal.json
grep -q '"profile":[[:space:]]*"agent"' bal.json && grep -q '"balance":[[:space:]]*"993981"' bal.json ||
    fail "balance --json: $(cat bal.json)"
expect_fail 2 $PLOW wallet register --kind robot --name x
expect_fail 2 $PLOW wallet register --kind person
expect_fail 2 $PLOW wallet register --kind person --name x --caps '{not json'
expect_fail 2 $PLOW wallet register --kind person --name "$(printf '%065d' 0)"

# the ledger refuses: B cannot pay, has no stake; its fee is still paid
expect_fail 1 $PLOW wallet transfer "$A" 5000 --key b.json
grep -q "less than the amount 5000" err.txt && grep -q "failed in block" err.txt || fail "insufficient: $(cat err.txt)"
expect_fail 1 $PLOW wallet transfer "$A" 18446744073709551615 --key b.json
grep -q "less than" err.txt || fail "2^64-1: $(cat err.txt)"
expect_fail 1 $PLOW wallet unstake 5 --key b.json
grep -q "exceeds the stake" err.txt || fail "unstake without stake: $(cat err.txt)"

# refused before anything is sent: the account's nonce does not move
$PLOW wallet balance >bal.txt
N0=$(field nonce)
BAD=$(echo "$B" | awk '{ c = substr($0, 10, 1); d = (c == "0") ? "1" : "0"; print substr($0, 1, 9) d substr($0, 11) }')
[ "$BAD" != "$B" ] || fail "the typo is not a typo"
expect_fail 2 $PLOW wallet transfer "$BAD" 5
grep -q "checksum" err.txt || fail "mistyped address: $(cat err.txt)"
expect_fail 2 $PLOW wallet transfer "${B}0" 5
expect_fail 2 $PLOW wallet transfer "nope" 5
expect_fail 2 $PLOW wallet balance "$BAD"
for amount in 1.5 -3 18446744073709551616 "" abc 0x10 +5 "5 " " 5" 1e3; do
    expect_fail 2 $PLOW wallet transfer "$B" "$amount"
    grep -q "amount" err.txt || fail "amount '$amount': $(cat err.txt)"
done
expect_fail 2 $PLOW wallet stake -1
expect_fail 2 $PLOW wallet transfer "$B" 5 --fee 1.5
expect_fail 2 $PLOW wallet transfer "$B" 5 --timeout soon
expect_fail 2 $PLOW wallet transfer "$B"
expect_fail 2 $PLOW wallet transfer "$B" 5 6
expect_fail 2 $PLOW wallet transfer "$B" 5 --bogus
expect_fail 2 $PLOW wallet show --fee 3
expect_fail 2 $PLOW wallet frobnicate
expect_fail 2 $PLOW wallet
$PLOW wallet balance >bal.txt
[ "$(field nonce)" = "$N0" ] || fail "a refused command sent a transaction (nonce $N0 -> $(field nonce))"

# help
$PLOW wallet --help | grep -q "usage: plow wallet" || fail "wallet --help"
$PLOW wallet transfer --help | grep -q "transfer TO AMOUNT" || fail "wallet transfer --help"

# the node goes away
kill $NODE
wait $NODE 2>/dev/null || true
expect_fail 1 $PLOW wallet balance
grep -q "cannot reach the node at $PLOW_NODE: is 'plow node' running? (connection refused)" err.txt ||
    fail "stopped node: $(cat err.txt)"
echo "wallet ok"
