# The determinism contract on aarch64 (issue 15, docs/platforms.md): the
# cross-built plow (`make arm`, build/arm64) runs under qemu-user on its NEON
# path and must give the bits of the x86 build computed here, in this test:
#   - the kernel unit tests (tensor_*: GEMM, reductions, exp, elementwise
#     against the scalar path, bit for bit) and the round unit tests (quantize,
#     aggregation) under qemu (round_recomputable_from_contributions, 90 s
#     under qemu, is left out: its kernels are the ones tested here);
#   - tiny, 20 steps as a task of a real node on x86 worked by the ARM build
#     as a network participant (`plow worker` under qemu): its states.txt
#     (the hash of every state) and committed final state are x86's, an x86
#     verifier re-executes sampled steps of its commitment and finds it valid,
#     the task is finalized and the ARM worker paid;
#   - a LoRA run on that model: identical states.txt;
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
    > unit.txt 2>&1 || { cat unit.txt; fail "unit tests under qemu"; }
grep -q "^ok   tensor_gemm_matches_definition" unit.txt && grep -q "^ok   tensor_elementwise_all_paths" unit.txt &&
    grep -q "^ok   round_aggregate_deterministic" unit.txt && grep -q " 0 failed$" unit.txt || { cat unit.txt; fail "unit tests"; }
echo "unit tests under qemu: $(tail -n 1 unit.txt)"

# a node on x86 (d.txt, tok.bin and funded keys: cli_lib.sh), used below
small_network 100000 req a v
# tiny, 20 steps: the x86 reference run (the hash of every state)
T="--data d.txt --tokenizer tok.bin --config tiny --steps 20 --batch 2 --seq 32 --seed 5 --eval-batches 1 --commit --checkpoint-every 5"
$PLOW train $T --out x86 > x86.log 2>&1 || { cat x86.log; fail "x86 train"; }
[ "$(wc -l < x86/states.txt)" -eq 21 ] || fail "x86 states.txt has the wrong length"

# The same 20 steps as a task of a real node on x86 (the spec stands for the command line
# above, docs/tasks.md), worked by the ARM build under qemu as a network participant
# (an agent: claim, commit, reveal, publish over HTTP) and checked by an x86 verifier
# re-executing sampled steps. Its states are x86's: the worker's states.txt and the
# committed final state.
cat > policy.json <<EOT
{"kinds": ["train"], "min_price_per_step": "0", "max_stake_at_risk": "3000", "stake": "3000",
 "seconds_per_step": 0.01, "safety": 1}
EOT
cat > t.task.json <<EOT
{"format": "plow.taskfile.v1", "mode": "optimistic", "replicas": 1, "reward": "300", "worker_stake": "1000",
 "min_bond": "10", "claim_blocks": 1500, "work_blocks": 6000, "window_blocks": 10,
 "spec": {"format": "plow.spec.v1", "kind": "train", "config": "tiny", "data": "@d.txt", "tokenizer": "@tok.bin",
          "steps": 20, "batch": 2, "seq": 32, "seed": "5", "init_seed": "5", "val_frac": 0.1, "checkpoint_every": 5}}
EOT
# qemu itself in the background (not the arm function's subshell): $! is the process stop_all kills
PLOW_SIMD=neon "$QEMU" -L / "$ARM" worker --key a.key --work wk_a --name arm --policy policy.json --threads 1 --poll 0.5 > a.log 2>&1 &
PIDS="$PIDS $!"
$PLOW verifier --key v.key --work wk_v --name v --samples 3 --poll 0.1 > v.log 2>&1 &
PIDS="$PIDS $!"
$PLOW requester --key req.key --work rq --task t.task.json --threads 1 > rq.log 2>&1 &
RQ=$!
PIDS="$PIDS $RQ"
wait $RQ || { tail -n 20 rq.log a.log v.log; fail "the requester failed"; }
TT=$(/usr/bin/python3 -c "import json; print(json.load(open('rq/requester.json'))['steps'][0]['tasks'][-1])")
[ "$(q /v1/task/$TT "j['status'], j['slots'][0]['worker'], j['slots'][0]['status'], len(j['challenges'])")" = \
  "finalized $(cat a.addr) paid 0" ] ||
    fail "the ARM worker's task: $(q /v1/task/$TT "j['status'], j['slots'], j['challenges']")"
grep -q "task $(echo $TT | cut -c1-8) slot 0 ($(cat a.addr | cut -c1-12)[^)]*): valid (" v.log ||
    { tail -n 20 v.log; fail "the x86 verifier did not re-execute the ARM worker's steps"; }
[ "$(q /v1/task/$TT "j['slots'][0]['final_state']")" = "$(tail -n 1 x86/states.txt | cut -d' ' -f2)" ] ||
    fail "the ARM worker's committed final state is not x86's"
ast=$(find wk_a -name states.txt | head -n 1)
[ -n "$ast" ] && cmp -s "$ast" x86/states.txt || fail "tiny: the ARM worker's states differ from x86: $(diff "$ast" x86/states.txt | head -n 4)"
echo "tiny 20 steps as a network task: the ARM worker (neon, qemu) committed x86's states ($(tail -n 1 x86/states.txt | cut -d' ' -f2 | cut -c1-16)...), verified on x86, paid"
stop_all
PIDS=""

# LoRA on the x86 model
L="--data d.txt --lora --base x86 --steps 4 --batch 2 --seq 32 --seed 3 --eval-batches 1"
$PLOW train $L --out lx86 > lx86.log 2>&1 || { cat lx86.log; fail "x86 LoRA"; }
arm train $L --out larm --threads 1 > larm.log 2>&1 || { cat larm.log; fail "ARM LoRA"; }
grep -q "neon x 1 threads" larm.log || fail "the ARM LoRA run did not use the NEON path: $(head -n 3 larm.log)"
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
