# plow serve (issue 14): the OpenAI-compatible API through the official
# `openai` npm client (tests/js/openai.mjs: completions, chat, streaming,
# seeds, concurrent requests == one at a time, typed errors), every receipt
# checked by `plow verify-receipt`; served tokens equal `plow generate`'s; a
# tampered receipt and a dishonest server are caught; malformed and hostile
# requests get OpenAI-shaped errors and the server lives on.
set -e
. "$LIB"
[ -d "$ROOT/node_modules/openai" ] || fail "node_modules/openai is missing: run sh scripts/install-deps.sh"
head -c 60000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null 2>&1
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 12 --batch 2 --seq 32 --out m > /dev/null 2>&1
$PLOW wallet new --key w.key -q > w.addr
$PLOW wallet new --key other.key -q > other.addr

trap stop_all EXIT
start_serve s --model m --key w.key
U=$SURL
mkdir -p r

# the official client, unchanged
node "$ROOT/tests/js/openai.mjs" "$U" m r || fail "the openai client test failed"
curl -s "$U/plow/stats" > stats.json
rows=$(python3 -c "import json; print(json.load(open('stats.json'))['max_rows'])")
[ "$rows" -ge 2 ] || fail "concurrent requests were never batched: $(cat stats.json)"
echo "batched up to $rows requests in one forward"

# every receipt is the worker's and follows from the model
for f in r/*.json; do
    $PLOW verify-receipt "$f" --model m --worker "$(cat w.addr)" > v.txt || fail "$f rejected: $(cat v.txt)"
done
echo "receipts: $(ls r | wc -l) verified"

# the served tokens are plow generate's (same model, prompt, parameters, seed)
curl -s "$U/v1/completions" -d '{"model":"m","prompt":"ROMEO:","max_tokens":30,"seed":11,"temperature":0.8,"top_k":20,"top_p":0.9}' > c.json
python3 -c "import json; json.dump(json.load(open('c.json'))['receipt'], open('c_r.json','w'))"
$PLOW generate --model m --prompt "ROMEO:" --tokens 30 --seed 11 --temperature 0.8 --top-k 20 --top-p 0.9 --receipt g.json > /dev/null 2>&1
python3 - <<'EOF' || fail "served tokens differ from plow generate's"
import json
a, b = json.load(open("c_r.json")), json.load(open("g.json"))
assert a["prompt_tokens"] == b["prompt_tokens"] and a["output_tokens"] == b["output_tokens"], (a, b)
EOF

# a tampered receipt: one token changed, or the seed, or signed by another worker
python3 - <<'EOF'
import json
r = json.load(open("c_r.json"))
t = dict(r, output_tokens=list(r["output_tokens"]))
t["output_tokens"][5] = (t["output_tokens"][5] + 1) % 299
json.dump(t, open("tok.json", "w"))
json.dump(dict(r, sampling=dict(r["sampling"], seed="12")), open("seed.json", "w"))
json.dump(dict(r, signature="00" * 64), open("sig.json", "w"))
u = dict(r); del u["worker"]; del u["signature"]
json.dump(u, open("unsigned.json", "w"))
EOF
for t in tok seed sig; do
    set +e
    $PLOW verify-receipt $t.json --model m > v.txt
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "tampered receipt ($t) exited $rc: $(cat v.txt)"
    grep -q "signature" v.txt || fail "tampered receipt ($t): $(cat v.txt)"
done
set +e
$PLOW verify-receipt unsigned.json --model m --worker "$(cat w.addr)" > v.txt; rc=$?
set -e
[ $rc -eq 1 ] || fail "an unsigned receipt passed --worker ($rc): $(cat v.txt)"
set +e
$PLOW verify-receipt c_r.json --model m --worker "$(cat other.addr)" > v.txt; rc=$?
set -e
[ $rc -eq 1 ] || fail "a receipt passed as another worker's ($rc)"

# a dishonest server signs a wrong token 4: its own signature convicts it at position 4
start_serve cheat --model m --key w.key --cheat-at 4
CU=$SURL
curl -s "$CU/v1/completions" -d '{"model":"m","prompt":"ROMEO:","max_tokens":12,"seed":11}' |
    python3 -c "import json,sys; json.dump(json.load(sys.stdin)['receipt'], open('bad.json','w'))"
set +e
$PLOW verify-receipt bad.json --model m --worker "$(cat w.addr)" > v.txt; rc=$?
set -e
[ $rc -eq 1 ] || fail "the dishonest server's receipt exited $rc: $(cat v.txt)"
grep -q "first bad position: 4" v.txt || fail "the dishonest server: $(cat v.txt)"
grep -q "signed by $(cat w.addr)" v.txt || fail "the fraud is not pinned on the worker: $(cat v.txt)"
echo "dishonest server: caught at position 4"

# malformed and hostile requests: OpenAI's error shape, the right status
# expect STATUS CURL-ARGS...: the answer has STATUS and {"error": {message, type, param, code}}
expect() {
    want=$1
    shift
    got=$(curl -s -o e.json -w '%{http_code}' "$@")
    [ "$got" = "$want" ] || fail "'$*': status $got, expected $want: $(cat e.json)"
    python3 -c "
import json; e = json.load(open('e.json'))['error']
assert isinstance(e['message'], str) and isinstance(e['type'], str) and 'param' in e and 'code' in e, e" ||
        fail "'$*': not OpenAI's error shape: $(cat e.json)"
}
C="$U/v1/completions"
expect 400 "$C" -d 'not json'
expect 400 "$C" -d ''
expect 400 "$C" -d '[1,2]'
expect 400 "$C" -d '{"prompt":"x"}'
expect 400 "$C" -d '{"model":7,"prompt":"x"}'
expect 404 "$C" -d '{"model":"gpt-4","prompt":"x"}'
expect 400 "$C" -d '{"model":"m"}'
expect 400 "$C" -d '{"model":"m","prompt":["a","b"]}'
expect 400 "$C" -d '{"model":"m","prompt":[1,2,99999]}'
expect 400 "$C" -d '{"model":"m","prompt":"x","temperature":"hot"}'
expect 400 "$C" -d '{"model":"m","prompt":"x","top_p":0}'
expect 400 "$C" -d '{"model":"m","prompt":"x","top_k":-1}'
expect 400 "$C" -d '{"model":"m","prompt":"x","seed":-5}'
expect 400 "$C" -d '{"model":"m","prompt":"x","seed":1.5}'
expect 400 "$C" -d '{"model":"m","prompt":"x","max_tokens":1e9}'
expect 400 "$C" -d '{"model":"m","prompt":"x","stop":["a","b","c","d","e"]}'
expect 400 "$C" -d '{"model":"m","prompt":"x","stop":""}'
expect 400 "$C" -d '{"model":"m","prompt":"x","stream":"yes"}'
expect 400 "$C" -d '{"model":"m","prompt":"x","logprobs":3}'
expect 400 "$C" -d '{"model":"m","prompt":"x","presence_penalty":1}'
expect 400 "$C" -d '{"model":"m","prompt":"x","tools":[]}'
python3 -c "print('{\"model\":\"m\",\"prompt\":\"' + 'ab ' * 200 + '\"}')" > long.json
expect 400 "$C" --data-binary @long.json
expect 400 "$U/v1/chat/completions" -d '{"model":"m","messages":[]}'
expect 400 "$U/v1/chat/completions" -d '{"model":"m","messages":"hi"}'
expect 400 "$U/v1/chat/completions" -d '{"model":"m","messages":[{"role":"user","content":7}]}'
expect 400 "$U/v1/chat/completions" -d '{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}'
head -c 2000000 /dev/zero | tr '\0' 'a' > big.txt
expect 413 "$C" --data-binary @big.txt
expect 405 -X GET "$C"
expect 405 -X DELETE "$U/v1/models"
expect 404 "$U/v1/nothing"
# a body that lies about its length, and one cut off mid-way
python3 - "$U" <<'EOF'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
for req in [b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n{",
            b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":"]:
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(req)
    s.close()
EOF
# still serving, and still the same answer
curl -s "$U/v1/completions" -d '{"model":"m","prompt":"ROMEO:","max_tokens":30,"seed":11,"temperature":0.8,"top_k":20,"top_p":0.9}' > c2.json
python3 -c "
import json; a, b = json.load(open('c.json')), json.load(open('c2.json'))
assert a['choices'][0]['text'] == b['choices'][0]['text'] and a['receipt']['output_tokens'] == b['receipt']['output_tokens']" ||
    fail "the server answers differently after the hostile requests"

# a client that leaves mid-stream stops its generation (the slot is freed)
curl -s -N --max-time 0.3 "$U/v1/completions" -d '{"model":"m","prompt":"x","max_tokens":128,"stream":true}' > /dev/null 2>&1 || true
_i=0
until [ "$(curl -s "$U/plow/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admitted"])')" = 0 ]; do
    _i=$((_i + 1))
    [ $_i -lt 300 ] || fail "an abandoned stream is still admitted"
    sleep 0.1
done

# usage errors of the command itself
expect_fail 2 $PLOW serve --model m
expect_fail 2 $PLOW serve --model m --key w.key --max-batch 0
expect_fail 1 $PLOW serve --model nowhere --key w.key --listen 127.0.0.1:0
$PLOW serve --help | grep -q "/v1/chat/completions" || fail "serve --help"

# SIGTERM: a clean stop
for p in $PIDS; do kill -TERM "$p"; done
for p in $PIDS; do wait "$p" || fail "plow serve did not stop cleanly on SIGTERM"; done
PIDS=""
echo "serve: ok"
