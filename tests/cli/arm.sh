# The determinism contract on aarch64 (issue 15, docs/platforms.md): the
# cross-built plow (`make arm`, build/arm64) runs under qemu-user on its NEON
# path and must give the bits of the x86 build computed here, in this test:
#   - the kernel unit tests (tensor_*: GEMM, reductions, exp, elementwise
#     against the scalar path, bit for bit) and the round unit tests (quantize,
#     aggregation, a round recomputed from its contributions) under qemu;
#   - tiny, 20 steps: states.txt (the hash of every state) identical to x86's;
#   - a LoRA run on that model: identical states.txt;
#   - a committed run made on ARM passes `plow verify` on x86 (and the reverse);
#   - an inference receipt made on x86 verifies on ARM and the reverse, and a
#     changed token is caught on ARM too.
# qemu is 10-50x slower than the machine: the runs are small and use one
# thread (qemu's emulated spin-waits make extra threads slower, not faster).
set -e
. "$LIB"
ARM="$ROOT/build/arm64/plow"
QEMU=$(command -v qemu-aarch64 || true)
if [ -z "$QEMU" ]; then
    echo "SKIP: qemu-aarch64 is not installed (scripts/install-deps.sh arm installs it)"
    exit 0
fi
[ -x "$ARM" ] && [ -x "$ROOT/build/arm64/plow_test" ] || fail "no ARM build at $ARM (make arm)"
# The multi-arch arm64 C library under / (libc6:arm64, which the arm64 -dev
# libraries pull in). Not /usr/aarch64-linux-gnu: with Debian 12's
# libc6-arm64-cross under qemu 7.2, pthread_create never returns.
arm() { "$QEMU" -L / "$ARM" "$@"; }
arm --help > h.txt 2>&1 || { cat h.txt; fail "the ARM binary does not run under qemu"; }

# kernel-level bit equality on the NEON path, and the round arithmetic
PLOW_ROOT="$ROOT" "$QEMU" -L / "$ROOT/build/arm64/plow_test" tensor_ round_half round_quantize round_aggregate \
    round_recomputable > unit.txt 2>&1 || { cat unit.txt; fail "unit tests under qemu"; }
grep -q "^ok   tensor_gemm_matches_definition" unit.txt && grep -q "^ok   tensor_elementwise_all_paths" unit.txt &&
    grep -q "^ok   round_recomputable" unit.txt && grep -q " 0 failed$" unit.txt || { cat unit.txt; fail "unit tests"; }
echo "unit tests under qemu: $(tail -n 1 unit.txt)"

head -c 100000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null
T="--data d.txt --tokenizer tok.bin --config tiny --steps 20 --batch 2 --seq 32 --seed 5 --eval-batches 1 --commit --checkpoint-every 5"
$PLOW train $T --out x86 > x86.log 2>&1 || { cat x86.log; fail "x86 train"; }
arm train $T --out arm --threads 1 > arm.log 2>&1 || { cat arm.log; fail "ARM train"; }
grep -q "neon x 1 threads" arm.log || fail "the ARM run did not use the NEON path: $(head -n 3 arm.log)"
[ "$(wc -l < x86/states.txt)" -eq 21 ] || fail "x86 states.txt has the wrong length"
cmp -s x86/states.txt arm/states.txt || fail "tiny: ARM states differ from x86: $(diff x86/states.txt arm/states.txt | head -n 4)"
echo "tiny 20 steps: ARM (neon) = x86 ($(tail -n 1 x86/states.txt | cut -c1-16)...)"

# the ARM worker's committed run verifies on x86, and x86's on ARM
$PLOW verify arm --samples 3 --challenge 7 > v.txt || fail "x86 rejects the ARM run: $(cat v.txt)"
PLOW_THREADS=1 arm verify x86 --samples 2 --challenge 3 > v.txt 2>&1 || fail "ARM rejects the x86 run: $(cat v.txt)"
# and a cheat committed on ARM is caught on x86 (a verifier that accepts anything would pass the lines above)
arm train ${T%--steps*} --steps 8 --batch 2 --seq 32 --seed 5 --eval-batches 1 --commit --checkpoint-every 4 \
    --out arm_bad --threads 1 --cheat perturb@6 > /dev/null 2>&1
set +e
$PLOW verify arm_bad --samples 63 --challenge 1 > v.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "INVALID at step 6" v.txt || fail "x86 did not catch the ARM cheat (rc $rc): $(cat v.txt)"
echo "committed runs: ARM's verified on x86, x86's on ARM, ARM's cheat caught at step 6"

# LoRA on the x86 model
L="--data d.txt --lora --base x86 --steps 4 --batch 2 --seq 32 --seed 3 --eval-batches 1"
$PLOW train $L --out lx86 > lx86.log 2>&1 || { cat lx86.log; fail "x86 LoRA"; }
arm train $L --out larm --threads 1 > larm.log 2>&1 || { cat larm.log; fail "ARM LoRA"; }
cmp -s lx86/states.txt larm/states.txt || fail "LoRA: ARM states differ: $(diff lx86/states.txt larm/states.txt | head -n 4)"
echo "LoRA 4 steps: ARM = x86"

# inference receipts, both ways
$PLOW generate --model x86 --prompt "First Citizen:" --tokens 24 --seed 5 --receipt rx.json > /dev/null 2>&1
arm generate --model x86 --prompt "First Citizen:" --tokens 24 --seed 5 --receipt ra.json --threads 1 > /dev/null 2>&1
cmp -s rx.json ra.json || fail "the ARM receipt differs from x86's"
PLOW_THREADS=1 arm verify-receipt rx.json --model x86 > v.txt 2>&1 || fail "ARM rejects the x86 receipt: $(cat v.txt)"
$PLOW verify-receipt ra.json --model x86 > v.txt || fail "x86 rejects the ARM receipt: $(cat v.txt)"
/usr/bin/python3 - <<'PY'
import json
r = json.load(open("rx.json"))
r["output_tokens"] = list(r["output_tokens"]); r["output_tokens"][9] = (r["output_tokens"][9] + 1) % 300
json.dump(r, open("bad.json", "w"))
PY
set +e
PLOW_THREADS=1 arm verify-receipt bad.json --model x86 > v.txt 2>&1; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first bad position: 9" v.txt || fail "ARM accepted a changed token (rc $rc): $(cat v.txt)"
echo "receipts: x86's verifies on ARM, ARM's on x86 (byte-identical), a changed token caught on ARM"
