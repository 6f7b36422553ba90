# Agents that find and talk to each other (issue 14, docs/market.md): plow
# serve publishes its signed card (served at the well-known path, named by its
# ledger profile) and the node's directory lists it by model and price with a
# reputation the node computes; forged, foreign, oversize, missing and
# self-praising cards are refused or ignored; messages through the node's
# mailbox are signed, optionally sealed, and replayed, forged, oversize,
# expired, unknown-recipient and unauthenticated ones are refused; an rfq to
# the serve worker gets an offer by mail.
set -e
. "$LIB"
small_network 60000 buyer worker other forger big liar
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 4 --batch 2 --seq 32 --out m > /dev/null 2>&1
N="--node $URL"
W=$(cat worker.addr)
start_serve s --model m --key worker.key --price 3 $N --publish --agent-name honest
S=$SURL

# the card: served at the well-known path, signed by the worker, named by its profile
curl -sf "$S/.well-known/agent-registration.json" > card.json || fail "no card at the well-known path"
$PLOW card check card.json --addr "$W" > out.txt || fail "the served card does not check"
grep -q "^card of honest (serve), key $W$" out.txt || fail "card check: $(cat out.txt)"
$PLOW card check --addr "$W" $N > out.txt || fail "the profile's card (fetched from its URL): $(cat out.txt)"
cj() { python3 -c "import json,sys; j=json.load(open('$1')); print($2)"; }
MH=$(cj card.json "j['plow']['services'][0]['model']")
[ "$(cj card.json "j['type']")" = "https://eips.ethereum.org/EIPS/eip-8004#registration-v1" ] || fail "card type"
[ "$(cj card.json "j['plow']['services'][0]['price']")" = 3 ] || fail "card price"
H=$(sha256sum card.json | cut -d' ' -f1)
[ "$(q "/v1/account/$W" "json.loads(j['caps'])['card']")" = "$H" ] || fail "the profile does not name the served card"

# the directory: by model and price, reputation from the ledger
dir() { curl -s -o dir.json -w '%{http_code}' "$URL/v1/directory?$1"; }
dq() { python3 -c "import json; j=json.load(open('dir.json')); print($1)"; }
[ "$(dir "model=$MH&max_price=3&sort=reputation")" = 200 ] || fail "directory: $(cat dir.json)"
[ "$(dq "[a['address'] for a in j['agents']]")" = "['$W']" ] || fail "directory: $(cat dir.json)"
[ "$(dq "j['agents'][0]['price']")" = 3 ] || fail "directory price"
[ "$(dq "j['agents'][0]['reputation']")" = "{'tasks_done': '0', 'slashes': '0', 'receipts_checked': '0'}" ] ||
    fail "directory reputation: $(cat dir.json)"
[ "$(dq "j['agents'][0]['card']['name']")" = honest ] || fail "directory card"
dir "model=$MH&max_price=2" > /dev/null
[ "$(dq "len(j['agents'])")" = 0 ] || fail "max_price=2 listed a price of 3"
dir "model=$(printf '0%.0s' $(seq 64))" > /dev/null
[ "$(dq "len(j['agents'])")" = 0 ] || fail "another model listed"
for bad in "model=xyz" "max_price=-1" "sort=stars" "limit=0" "limit=501"; do
    [ "$(dir "$bad")" = 400 ] || fail "directory?$bad: not 400: $(cat dir.json)"
done

# adversaries. A forged card: the worker's card with its name changed (the
# signature no longer covers it), published by another key
python3 -c "import json; j=json.load(open('card.json')); j['name']='evil'; json.dump(j, open('forged.json','w'))"
expect_fail 1 $PLOW card check forged.json
grep -q "signature is not its key" err.txt || fail "forged card: $(cat err.txt)"
$PLOW card publish forged.json --key forger.key $N --no-check > /dev/null || fail "publish forged"
# a card signed by its own key that names the worker's key... seen as foreign in the liar's profile
$PLOW card sign card.json --key other.key --out other.json
$PLOW card publish other.json --key liar.key $N --no-check > /dev/null || fail "publish foreign"
# an oversize card, correctly signed
python3 -c "import json; j=json.load(open('card.json')); j['description']='x'*20000; json.dump(j, open('bigu.json','w'))"
$PLOW card sign bigu.json --key big.key --out big.json
expect_fail 1 $PLOW card check big.json
grep -q "bytes (at most 16384)" err.txt || fail "oversize card: $(cat err.txt)"
$PLOW card publish big.json --key big.key $N --no-check > /dev/null || fail "publish big"
# a card claiming a reputation (and a lower price): listed, with the ledger's reputation
python3 -c "
import json; j=json.load(open('card.json')); j['name']='boaster'
j['reputation']={'tasks_done':'1000','slashes':'0','receipts_checked':'1000'}
j['plow']['services'][0]['price']='2'; json.dump(j, open('boastu.json','w'))"
$PLOW card sign boastu.json --key other.key --out boast.json
$PLOW card publish boast.json --key other.key $N > /dev/null || fail "publish boast"
dir "model=$MH&ignored=1" > /dev/null
[ "$(dq "sorted(a['card']['name'] for a in j['agents'])")" = "['boaster', 'honest']" ] || fail "listed: $(cat dir.json)"
ig() { dq "[i['reason'] for i in j['ignored'] if i['address'] == '$(cat "$1.addr")'][0]"; }
ig forger | grep -q "signature is not its key" || fail "forged card not ignored: $(cat dir.json)"
ig liar | grep -q "names another key" || fail "foreign card not ignored: $(cat dir.json)"
ig big | grep -q "bytes (at most 16384)" || fail "oversize card not ignored: $(cat dir.json)"
[ "$(dq "[a['reputation']['tasks_done'] for a in j['agents'] if a['card']['name'] == 'boaster'][0]")" = 0 ] ||
    fail "the boaster's claimed reputation was believed: $(cat dir.json)"
# sort=price puts the boaster (2) first; reputation ties, so the price decides there too
dir "model=$MH&sort=price" > /dev/null
[ "$(dq "j['agents'][0]['card']['name']")" = boaster ] || fail "sort=price: $(cat dir.json)"
# a profile whose card URL serves another card than the one it names: the hash says so
$PLOW card publish boast.json --key other.key $N --url "$S/.well-known/agent-registration.json" > /dev/null
expect_fail 1 $PLOW card check --addr "$(cat other.addr)" $N
grep -q "does not hash to the profile's card" err.txt || fail "hash mismatch: $(cat err.txt)"
# a profile naming a card the node does not hold: ignored
$PLOW wallet register --kind agent --name ghost --caps "{\"card\":\"$(printf 'ab%.0s' $(seq 32))\",\"card_url\":\"\"}" \
    --key liar.key $N > /dev/null
dir "model=$MH&ignored=1" > /dev/null
ig liar | grep -q "not on this node" || fail "a missing card: $(cat dir.json)"

# mail: buyer -> worker, plain and sealed
B=$(cat buyer.addr)
$PLOW mail send --key buyer.key --to "$W" --type hello --body "plain text" $N > /dev/null || fail "mail send"
$PLOW mail send --key buyer.key --to "$(cat other.addr)" --type hello --body "secret" --seal $N > /dev/null ||
    fail "mail send --seal"
$PLOW mail recv --key other.key $N > recv.txt || fail "mail recv"
python3 -c "
import json; m=[json.loads(l) for l in open('recv.txt')]
assert len(m) == 1 and m[0]['body'] == 'secret' and m[0]['sealed'] and m[0]['from'] == '$B', m" ||
    fail "sealed mail: $(cat recv.txt)"
# fetched mail is acknowledged by the next read (after=ID) and gone
id=$(python3 -c "import json; print(json.loads(open('recv.txt').readline())['id'])")
$PLOW mail recv --key other.key --after "$id" $N > recv2.txt
[ ! -s recv2.txt ] || fail "acknowledged mail came again: $(cat recv2.txt)"

# hostile envelopes, posted by hand: a signed one (plow mail send --out), then broken
post() { curl -s -o post.json -w '%{http_code}' "$URL/v1/mail" -H 'Content-Type: application/json' --data-binary "@$1"; }
ms() { $PLOW mail send --key buyer.key --to "$W" --type hello $N "$@"; }
ms --body "once" --out e1.json
[ "$(post e1.json)" = 202 ] || fail "a valid envelope: $(cat post.json)"
[ "$(post e1.json)" = 409 ] && grep -q "replayed" post.json || fail "a replay: $(cat post.json)"
ms --body "honest words" --out e2.json
python3 -c "import json; j=json.load(open('e2.json')); j['body']='evil words'; json.dump(j, open('f1.json','w'))"
[ "$(post f1.json)" = 401 ] && grep -q "signature" post.json || fail "a forged body: $(cat post.json)"
python3 -c "import json; j=json.load(open('e2.json')); j['from']='$(cat other.addr)'; json.dump(j, open('f2.json','w'))"
[ "$(post f2.json)" = 401 ] || fail "a forged sender: $(cat post.json)"
[ "$(post e2.json)" = 202 ] || fail "the unforged envelope after its forgeries: $(cat post.json)"
python3 -c "import json; j=json.load(open('e2.json')); j['body']='x'*9000; json.dump(j, open('big1.json','w'))"
[ "$(post big1.json)" = 413 ] || fail "a 9000-byte body: $(cat post.json)"
python3 -c "print('{\"pad\":\"' + 'x'*40000 + '\"}')" > big2.json
[ "$(post big2.json)" = 413 ] || fail "a 40 KB envelope: $(cat post.json)"
expect_fail 1 ms --body "$(python3 -c "print('y'*9000)")"
grep -q "at most 8192" err.txt || fail "plow mail sent an oversize body: $(cat err.txt)"
ms --body "late" --expires-ms 1000 --out old.json
[ "$(post old.json)" = 400 ] && grep -q "expired" post.json || fail "an expired message: $(cat post.json)"
ms --body "far" --expires-ms $(( $(date +%s) * 1000 + 7200000 )) --out far.json
[ "$(post far.json)" = 400 ] && grep -q "ahead" post.json || fail "an expiry two hours ahead: $(cat post.json)"
$PLOW wallet new --key nobody.key -q > nobody.addr
$PLOW mail send --key buyer.key --to "$(cat nobody.addr)" --type hello --body x $N --out unk.json
[ "$(post unk.json)" = 404 ] && grep -q "unknown recipient" post.json || fail "an unknown recipient: $(cat post.json)"
$PLOW mail send --key nobody.key --to "$W" --type hello --body x $N --out poor.json
[ "$(post poor.json)" = 403 ] || fail "a sender holding nothing: $(cat post.json)"
printf '{"from": 1}' > junk.json
[ "$(post junk.json)" = 400 ] || fail "junk: $(cat post.json)"
printf 'not json' > junk.json
[ "$(post junk.json)" = 400 ] || fail "not JSON: $(cat post.json)"
# reading a mailbox needs its owner's signature
st=$(curl -s -o get.json -w '%{http_code}' "$URL/v1/mail/$W")
[ "$st" = 401 ] || fail "an unsigned mailbox read: $st $(cat get.json)"
st=$(curl -s -o get.json -w '%{http_code}' "$URL/v1/mail/$W?time=$(date +%s)000&sig=$(printf '00%.0s' $(seq 64))")
[ "$st" = 401 ] || fail "a badly signed mailbox read: $st $(cat get.json)"
# the sender's queue is bounded: 64 waiting at most (big reads no mail; the
# serve worker drains its box between requests)
i=0
while [ $i -lt 70 ]; do
    $PLOW mail send --key buyer.key --to "$(cat big.addr)" --type hello --body "n$i" $N > /dev/null 2>err.txt || break
    i=$((i + 1))
done
grep -q "messages waiting (at most 64)" err.txt || fail "no per-sender limit after $i sends: $(cat err.txt)"
[ $i = 64 ] || fail "the limit came after $i messages, not 64"
# big reads them (64, in order) and acknowledges: the buyer may send again
$PLOW mail recv --key big.key $N > big.txt
[ "$(python3 -c "import json; print([json.loads(l)['body'] for l in open('big.txt')] == ['n%d' % i for i in range(64)])")" = True ] ||
    fail "big's mail: $(head -c 300 big.txt)"
$PLOW mail recv --key big.key $N --after "$(tail -n 1 big.txt | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")" > big2.txt
[ ! -s big2.txt ] || fail "acknowledged mail stayed"

# the rfq exchange with the serve worker (it reads its mailbox between requests)
$PLOW mail send --key buyer.key --to "$(cat other.addr)" --type hello --body "clear" $N > /dev/null
$PLOW mail send --key buyer.key --to "$W" --type rfq --body "{\"model\":\"$MH\",\"max_price\":\"5\"}" --seal $N > /dev/null ||
    fail "rfq"
_i=0
: > offers.txt
until grep -q '"type":"offer"' offers.txt; do
    $PLOW mail recv --key buyer.key $N >> offers.txt
    _i=$((_i + 1))
    [ $_i -lt 300 ] || { cat s/log; fail "no offer came: $(cat offers.txt)"; }
    sleep 0.2
done
python3 -c "
import json
o=[json.loads(l) for l in open('offers.txt') if '\"offer\"' in l][0]
b=json.loads(o['body'])
assert o['sealed'] and o['from'] == '$W' and b['price'] == '3' and b['worker'] == '$W' and b['endpoint'] == '$S/v1', o" ||
    fail "the offer: $(cat offers.txt)"
$PLOW mail send --key buyer.key --to "$W" --type rfq --body "{\"model\":\"$MH\",\"max_price\":\"2\"}" $N > /dev/null
_i=0
until grep -q '"type":"decline"' offers.txt; do
    $PLOW mail recv --key buyer.key $N >> offers.txt
    _i=$((_i + 1))
    [ $_i -lt 300 ] || fail "no decline came: $(cat offers.txt)"
    sleep 0.2
done
grep '"decline"' offers.txt | grep -q "price is above" || fail "decline: $(cat offers.txt)"
echo "market ok"
