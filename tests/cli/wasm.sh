# The determinism contract in WebAssembly (issue 15, docs/platforms.md): the
# engine built for wasm32-wasi with SIMD128 (`make wasm`, build/wasm) runs
# under Node's WASI and must give the bits of the native build computed here,
# in this test:
#   - the kernel unit tests (GEMM, reductions, exp, elementwise: simd128 and
#     scalar against their definitions and each other, the fused steps on
#     inputs where a double-precision a*b+c rounds twice) and the SHA-256 and
#     JSON replacements, in wasm;
#   - a tokenizer trained in wasm is byte-identical to the native one;
#   - tiny, 20 steps: states.txt (every state hash) identical to native;
#   - a committed run made in wasm passes `plow verify` natively, and a
#     native one passes it in wasm (re-executed steps give the native leaves);
#   - an inference receipt made natively verifies in wasm, the wasm receipt is
#     byte-identical and verifies natively, a changed token is caught in wasm.
set -e
. "$LIB"
NODE_JS=$(command -v node || true)
if [ -z "$NODE_JS" ] || [ ! -e /usr/lib/wasm32-wasi/libc.a ]; then
    echo "SKIP: node or wasi-libc is not installed (scripts/install-deps.sh wasm installs them)"
    exit 0
fi
WASM="$ROOT/build/wasm/plow.wasm"
[ -f "$WASM" ] && [ -f "$ROOT/build/wasm/plow_test.wasm" ] || fail "no wasm build at $WASM (make wasm)"
# plow.wasm as a command, the test directory pre-opened (paths must be relative)
W() { "$NODE_JS" --no-warnings "$ROOT/wasm/plow-wasi.mjs" "$WASM" "$@"; }
W --help > h.txt 2>&1 || { cat h.txt; fail "plow.wasm does not run under node"; }

mkdir -p tmp
PLOW_KEEP_TMP=1 "$NODE_JS" --no-warnings "$ROOT/wasm/plow-wasi.mjs" "$ROOT/build/wasm/plow_test.wasm" tensor_ wasm_ \
    > unit.txt 2>&1 || { cat unit.txt; fail "unit tests in wasm"; }
grep -q "^ok   tensor_gemm_matches_definition" unit.txt && grep -q "^ok   tensor_fused_steps_round_once" unit.txt &&
    grep -q "^ok   wasm_sha256_vectors" unit.txt && grep -q " 0 failed$" unit.txt || { cat unit.txt; fail "unit tests"; }
echo "unit tests in wasm: $(tail -n 1 unit.txt)"

head -c 100000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null
W tokenizer train --data d.txt --vocab 300 --out wtok.bin > /dev/null 2>&1 || fail "wasm tokenizer"
cmp -s tok.bin wtok.bin || fail "the wasm tokenizer differs from the native one"

T="--data d.txt --tokenizer tok.bin --config tiny --steps 20 --batch 2 --seq 32 --seed 5 --eval-batches 1 --commit --checkpoint-every 5"
$PLOW train $T --out nat > nat.log 2>&1 || { cat nat.log; fail "native train"; }
W train $T --out wsm > wsm.log 2>&1 || { cat wsm.log; fail "wasm train"; }
grep -q "simd128 x 1 threads" wsm.log || fail "the wasm run did not use the simd128 path: $(head -n 3 wsm.log)"
[ "$(wc -l < nat/states.txt)" -eq 21 ] || fail "native states.txt has the wrong length"
cmp -s nat/states.txt wsm/states.txt || fail "tiny: wasm states differ from native: $(diff nat/states.txt wsm/states.txt | head -n 4)"
cmp -s nat/model.safetensors wsm/model.safetensors || fail "tiny: the wasm model file differs"
echo "tiny 20 steps: wasm (simd128) = native ($(tail -n 1 nat/states.txt | cut -c1-16)...)"

# the wasm worker's committed run verifies natively, the native one in wasm
$PLOW verify wsm --samples 3 --challenge 7 > v.txt || fail "native rejects the wasm run: $(cat v.txt)"
W verify nat --samples 2 --challenge 3 > v.txt 2>&1 || fail "wasm rejects the native run: $(cat v.txt)"
grep -qx "valid" v.txt || fail "wasm verify printed no verdict: $(cat v.txt)"
# and a cheat committed natively is caught in wasm at its step
$PLOW train ${T%--steps*} --steps 8 --batch 2 --seq 32 --seed 5 --eval-batches 1 --commit --checkpoint-every 4 \
    --out bad --cheat perturb@6 > /dev/null 2>&1
set +e
W verify bad --samples 63 --challenge 1 > v.txt 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "INVALID at step 6" v.txt || fail "wasm did not catch the cheat (rc $rc): $(cat v.txt)"
echo "committed runs: wasm's verified natively, native's in wasm, a cheat caught in wasm at step 6"

# inference receipts, both ways
$PLOW generate --model nat --prompt "First Citizen:" --tokens 24 --seed 5 --receipt rn.json > /dev/null 2>&1
W generate --model nat --prompt "First Citizen:" --tokens 24 --seed 5 --receipt rw.json > /dev/null 2>&1 ||
    fail "wasm generate"
cmp -s rn.json rw.json || fail "the wasm receipt differs from the native one"
W verify-receipt rn.json --model nat > v.txt 2>&1 || fail "wasm rejects the native receipt: $(cat v.txt)"
$PLOW verify-receipt rw.json --model nat > v.txt || fail "native rejects the wasm receipt: $(cat v.txt)"
/usr/bin/python3 -c '
import json, sys
r = json.load(open("rn.json")); r["output_tokens"][9] = (r["output_tokens"][9] + 1) % 300
json.dump(r, open("bad.json", "w"))'
set +e
W verify-receipt bad.json --model nat > v.txt 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first bad position: 9" v.txt || fail "wasm accepted a changed token (rc $rc): $(cat v.txt)"
echo "receipts: native's verifies in wasm, wasm's natively (byte-identical), a changed token caught in wasm"

# a receipt signed by a worker (plow serve, Ed25519): its signature verifies in
# wasm (src/wasm/ed25519.c), and a receipt whose signed fields were changed is refused
$PLOW wallet new --key w.key -q > w.addr
PLOW_THREADS=1 $PLOW serve --model nat --key w.key --listen 127.0.0.1:0 --url-file url > serve.log 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
i=0
until [ -s url ] && curl -sf "$(cat url)/v1/models" > /dev/null 2>&1; do
    kill -0 $SERVE 2>/dev/null || { cat serve.log; fail "plow serve exited at start"; }
    i=$((i + 1))
    [ $i -lt 600 ] || { cat serve.log; fail "plow serve did not answer within a minute"; }
    sleep 0.1
done
curl -s "$(cat url)/v1/completions" -d '{"model":"nat","prompt":"ROMEO:","max_tokens":12,"seed":11}' > c.json
kill $SERVE
/usr/bin/python3 -c '
import json
r = json.load(open("c.json"))["receipt"]; json.dump(r, open("signed.json", "w"))
r["sampling"]["seed"] = str(int(r["sampling"]["seed"]) + 1); json.dump(r, open("resigned.json", "w"))'
W verify-receipt signed.json --model nat --worker "$(cat w.addr)" > v.txt 2>&1 ||
    fail "wasm rejects the signed receipt: $(cat v.txt)"
grep -q "signed by $(cat w.addr)" v.txt || fail "wasm did not report the signer: $(cat v.txt)"
set +e
W verify-receipt resigned.json --model nat > v.txt 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "signature" v.txt || fail "wasm accepted a receipt with a changed seed (rc $rc): $(cat v.txt)"
echo "signed receipt: the worker's signature verified in wasm, a changed seed refused"

# the JavaScript API (wasm/plow.mjs, its own in-memory WASI) in Node and in
# headless Chromium: tiny 20 steps, a receipt made and checked, one step of
# the native run replayed, all against the native bits above
"$NODE_JS" "$ROOT/tests/js/wasm_api.mjs" "$ROOT" . > api.txt 2>&1 || { cat api.txt; fail "the JavaScript API"; }
grep -q "^chromium: replay" api.txt || { cat api.txt; fail "the Chromium checks did not run"; }
cat api.txt
