# A buyer agent buys completions (issue 14, docs/market.md "The buyer"): two
# serve workers publish cards, one cheats (--cheat-at 3) at a lower price so
# the buyer, sorting the directory, tries it first. The buyer asks by mail
# (rfq -> offer), opens a channel, pays with vouchers, checks every receipt,
# catches the cheater's wrong token, posts the fraud claim (the referee
# slashes the cheater's stake to the buyer), closes that channel and finishes
# its prompts with the honest worker, whose latest voucher is exactly the
# tokens it served.
set -e
. "$LIB"
small_network 60000 buyer honest cheat
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 4 --batch 2 --seq 32 --out m > /dev/null 2>&1
N="--node $URL"
H=$(cat honest.addr)
C=$(cat cheat.addr)
B=$(cat buyer.addr)
$PLOW wallet stake 2000 --key cheat.key $N > /dev/null
start_serve h --model m --key honest.key --price 3 $N --publish --agent-name honest --vouchers hv.txt
start_serve c --model m --key cheat.key --price 2 $N --publish --agent-name cheater --vouchers cv.txt --cheat-at 3
printf 'ROMEO:\nJULIET:\nFirst Citizen:\nKING RICHARD:\n' > prompts.txt
bal() { $PLOW wallet balance "$1" $N | sed -n 's/^balance *//p'; }
b0=$(bal "$B")
PLOW_THREADS=1 $PLOW buyer --key buyer.key --work bw --model m --prompts prompts.txt --max-price 5 --deposit 5000 \
    --max-tokens 8 --bond 100 $N > buyer.log 2>&1 || { cat buyer.log; fail "the buyer did not finish"; }
grep -q "asking cheater" buyer.log || fail "the buyer did not try the cheaper worker first: $(cat buyer.log)"
grep -q "FRAUD: output token 3" buyer.log || fail "the buyer did not catch token 3: $(cat buyer.log)"
CL=$(sed -n 's/.*fraud claim \([0-9a-f]\{64\}\) posted.*/\1/p' buyer.log)
[ -n "$CL" ] || fail "no claim posted: $(cat buyer.log)"
grep -q "done: 4 completions bought" buyer.log || fail "not done: $(cat buyer.log)"
sq() { python3 -c "import json; j=json.load(open('bw/summary.json')); print($1)"; }
[ "$(sq "[w['name'] for w in j['workers']]")" = "['cheater', 'honest']" ] || fail "summary: $(cat bw/summary.json)"
[ "$(sq "j['workers'][0]['fraud']")" = "$CL" ] || fail "summary fraud: $(cat bw/summary.json)"
[ "$(sq "(j['workers'][0]['requests'], j['workers'][1]['requests'], j['done'])")" = "('1', '4', '4')" ] ||
    fail "requests: $(cat bw/summary.json)"
# every completion came from the honest worker, its receipt checked
python3 -c "
import json; r=[json.loads(l) for l in open('bw/results.jsonl')]
assert [x['i'] for x in r] == [0, 1, 2, 3] and all(x['worker'] == '$H' and x['checked'] for x in r), r" ||
    fail "results: $(cat bw/results.jsonl)"
for i in 0 1 2 3; do
    $PLOW verify-receipt bw/receipt-$i.json --model m --worker "$H" > /dev/null || fail "receipt $i does not verify"
done
# the claim is upheld: the cheater's stake goes to the buyer (half, the rest burned)
_i=0
until [ "$(q "/v1/challenge/$CL" "j['status']")" = upheld ]; do
    _i=$((_i + 1))
    [ $_i -lt 1200 ] || fail "the claim was not upheld: $(q "/v1/challenge/$CL" "j")"
    sleep 0.1
done
$PLOW wallet balance "$C" $N | grep -q "^stake *0$" || fail "the cheater kept its stake"
# money: the honest worker's latest voucher is exactly the price of the tokens it served;
# the cheater holds one request's voucher, less than the 1000 of its stake the buyer won
[ "$(tail -n 1 hv.txt | cut -d. -f3)" = "$(sq "j['workers'][1]['served']")" ] || fail "honest voucher $(tail -n 1 hv.txt) != served"
[ "$(sq "j['workers'][1]['served']")" = "$(sq "j['workers'][1]['vouchered']")" ] || fail "vouchered more than served"
cv=$(tail -n 1 cv.txt | cut -d. -f3)
[ "$cv" = "$(sq "j['workers'][0]['vouchered']")" ] && [ "$cv" -lt 1000 ] || fail "cheater's voucher $cv"
$PLOW channel redeem "$(tail -n 1 hv.txt)" --key honest.key $N > /dev/null || fail "the honest worker's redeem"
$PLOW channel redeem "$(tail -n 1 cv.txt)" --key cheat.key $N > /dev/null || fail "the cheater's redeem"
# the buyer's balance: two deposits out, the fees (two opens, a close, the claim), the bond
# back, half the cheater's 2000 stake in
[ "$(bal "$B")" = $((b0 - 10000 - 4 + 1000)) ] || fail "the buyer's balance $(bal "$B"), expected $((b0 - 10000 - 4 + 1000))"
# the directory now ranks the honest worker first, the cheater with its slash
MH=$(python3 -c "import json; print(json.load(open('h/card.json'))['plow']['services'][0]['model'])" 2>/dev/null ||
    curl -s "$(cat h/url)/.well-known/agent-registration.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['plow']['services'][0]['model'])")
curl -s "$URL/v1/directory?model=$MH" > dir.json
python3 -c "
import json; a=json.load(open('dir.json'))['agents']
assert [x['address'] for x in a] == ['$H', '$C'] and a[1]['reputation']['slashes'] == '1', a" ||
    fail "directory after the fraud: $(cat dir.json)"
echo "market_buy: ok"
