# The proof layer against cheating workers (issue 3), through the real binary:
# sampled verification, replicated disputes with a one-step referee, and
# inference receipts. Honest runs are never flagged, on any thread count or
# SIMD path; every cheat is caught with the right step or position named; the
# detection rate of sampled verification matches 1-(1-f)^k.
set -e
. "$LIB"
head -c 100000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 300 --out tok.bin > /dev/null
T="--data d.txt --tokenizer tok.bin --config tiny --steps 24 --batch 2 --seq 32 --commit --checkpoint-every 4"
$PLOW train $T --out honest > /dev/null 2>&1
$PLOW train $T --out honest2 --threads 1 > /dev/null 2>&1
[ "$(tail -n1 honest/states.txt)" = "$(tail -n1 honest2/states.txt)" ] || fail "honest reruns differ"
[ "$(stat -c %s honest/commitment.bin)" -le 300 ] || fail "the on-chain commitment is larger than 300 bytes"

# honest work is never flagged: many challenges, every path, several thread
# counts. 12 trials of 4 samples draw 48 of the 24 steps (every step is drawn
# on some path); the scalar path is ~20x slower and takes 2 trials.
paths="scalar"
grep -q ' avx2 ' /proc/cpuinfo && paths="$paths avx2"
grep -q ' avx512f ' /proc/cpuinfo && paths="$paths avx512"
total=0
for simd in $paths; do
    for t in 1 2; do
        n=12
        [ "$simd" = scalar ] && n=2
        out=$(PLOW_SIMD=$simd PLOW_THREADS=$t $PLOW verify honest --samples 4 --trials $n)
        echo "$simd t=$t: $out"
        case "$out" in *"detected 0 "*) ;; *) fail "false alarm on an honest run ($simd, $t threads): $out" ;; esac
        total=$((total + n))
    done
done
echo "honest verifications: $total, false alarms: 0"
$PLOW verify honest --samples 8 --challenge 7 > v.txt || fail "honest run rejected: $(cat v.txt)"
$PLOW dispute honest honest2 | grep -q "agree" || fail "two honest runs disagree"

# every cheat is caught: by sampled verification (63 samples), and by a
# dispute against an honest run, which names the exact step
for cheat in perturb@13 skip@13 seed@13 data@13 lowprec@13; do
    name=${cheat%@*}
    $PLOW train $T --out c_$name --cheat $cheat > /dev/null 2>&1
    set +e
    $PLOW verify c_$name --samples 63 --challenge 1 > v.txt
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "$cheat: verify exited $rc: $(cat v.txt)"
    step=$(sed -n 's/^INVALID at step \([0-9]*\):.*/\1/p' v.txt)
    [ -n "$step" ] && [ "$step" -ge 13 ] || fail "$cheat: verify named step '$step': $(cat v.txt)"
    set +e
    $PLOW dispute honest c_$name > dsp.txt
    rc=$?
    set -e
    [ $rc -eq 1 ] || fail "$cheat: dispute exited $rc"
    grep -q "first divergent step 13 " dsp.txt || fail "$cheat: $(cat dsp.txt)"
    grep -q "verdict: B wrong" dsp.txt || fail "$cheat: $(cat dsp.txt)"
    # and the order of the parties does not matter
    set +e
    $PLOW dispute c_$name honest > dsp2.txt
    set -e
    grep -q "verdict: A wrong" dsp2.txt || fail "$cheat (reversed): $(cat dsp2.txt)"
    echo "$cheat: verify named step $step; dispute named step 13"
done
# perturbing one weight is caught at exactly its step when a sample lands there
$PLOW verify c_perturb --samples 63 --challenge 1 | grep -q "INVALID at step 13:" || fail "perturb: not step 13"

# a run that does not start from the task's initial weights
$PLOW train $T --out c_init --cheat init > /dev/null 2>&1
set +e
$PLOW verify c_init --samples 2 --challenge 1 > v.txt; rc=$?
$PLOW dispute honest c_init > dsp.txt; rc2=$?
set -e
[ $rc -eq 1 ] && grep -q "INVALID at step 0: the run does not start from the task's initial state" v.txt || fail "init: $(cat v.txt)"
[ $rc2 -eq 1 ] && grep -q "first divergent step 0 " dsp.txt && grep -q "verdict: B wrong" dsp.txt || fail "init dispute: $(cat dsp.txt)"

# the published model is not the final state
$PLOW train $T --out c_swap --cheat swap > /dev/null 2>&1
set +e
$PLOW verify c_swap --samples 2 --challenge 1 > v.txt
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "artifact is not the weights of the final state" v.txt || fail "swap: $(cat v.txt)"

# checkpoints that do not hash to their leaves (from step 12 on)
$PLOW train $T --out c_badckpt --cheat badckpt@12 > /dev/null 2>&1
set +e
$PLOW verify c_badckpt --samples 2 --challenge 1 > v.txt
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "checkpoint [0-9]* does not hash to the committed leaf" v.txt || fail "badckpt: $(cat v.txt)"

# a trace that does not match the committed root (a forged leaf), in verify and dispute
cp -r honest forged
printf '\001' | dd of=forged/trace.bin bs=1 seek=$((52 + 32 * 10)) conv=notrunc 2> /dev/null
set +e
$PLOW verify forged --samples 2 --challenge 1 > v.txt
rc=$?
$PLOW dispute honest forged > dsp.txt
rc2=$?
set -e
[ $rc -eq 1 ] && grep -q "trace does not match the commitment" v.txt || fail "forged trace: $(cat v.txt)"
[ $rc2 -eq 1 ] && grep -q "verdict: B wrong" dsp.txt || fail "forged trace dispute: $(cat dsp.txt)"
# missing files are errors (exit 2), not verdicts
rm -rf broken && mkdir broken
set +e
$PLOW verify broken > /dev/null 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "verify of an empty directory exited $rc"

# detection rate of sampled verification: skip a random quarter of the steps,
# checkpoint every step (each sample re-executes exactly its own transition)
$PLOW train --data d.txt --tokenizer tok.bin --config tiny --steps 24 --batch 2 --seq 32 --commit \
    --checkpoint-every 1 --cheat skip --cheat-rate 0.25 --seed 3 --out c_rate > /dev/null 2>&1
bad=$(awk -F, 'NR > 1 && $2 == "0.000000"' c_rate/train_log.csv | wc -l)
[ "$bad" -ge 3 ] || fail "the cheater skipped only $bad steps"
out=$($PLOW verify c_rate --samples 4 --trials 200)
echo "skipped $bad of 24 steps; $out"
rate=$(echo "$out" | sed -n 's/.* rate \([0-9.]*\) .*/\1/p')
awk -v b="$bad" -v r="$rate" 'BEGIN {
    f = b / 24; p = 1 - (1 - f) ^ 4; sd = sqrt(p * (1 - p) / 200);
    printf "f = %.3f, expected 1-(1-f)^4 = %.3f +- %.3f, measured %.3f\n", f, p, sd, r;
    exit !(r > p - 4 * sd && r < p + 4 * sd) }' || fail "detection rate off the formula"

# LoRA runs: the state is the adapter and its moments plus the base's hash
L="--data d.txt --lora --base honest --steps 10 --batch 2 --seq 32 --commit --checkpoint-every 3"
$PLOW train $L --out lora_ok > /dev/null 2>&1
$PLOW verify lora_ok --samples 4 --challenge 2 > v.txt || fail "honest LoRA run rejected: $(cat v.txt)"
$PLOW train $L --out lora_bad --cheat perturb@6 > /dev/null 2>&1
set +e
$PLOW dispute lora_ok lora_bad > dsp.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first divergent step 6 " dsp.txt && grep -q "verdict: B wrong" dsp.txt || fail "LoRA dispute: $(cat dsp.txt)"
state=$(sed -n 's/.*agreed state \([0-9]*\) bytes.*/\1/p' dsp.txt)
[ "$state" -lt 1000000 ] || fail "a LoRA state should be small, got $state bytes"

# inference receipts
$PLOW generate --model honest --prompt "First Citizen:" --tokens 48 --seed 5 --receipt r.json > /dev/null 2>&1
$PLOW verify-receipt r.json --model honest | grep -q "valid" || fail "honest receipt rejected"
/usr/bin/python3 - <<'PY'
import json
r = json.load(open("r.json"))
a = dict(r); a["output_tokens"] = list(r["output_tokens"]); a["output_tokens"][9] = (a["output_tokens"][9] + 1) % 300
json.dump(a, open("tok9.json", "w"))
b = dict(r); b["sampling"] = dict(r["sampling"]); b["sampling"]["seed"] = "6"
json.dump(b, open("seed.json", "w"))
PY
set +e
$PLOW verify-receipt tok9.json --model honest > v.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first bad position: 9" v.txt || fail "changed token: $(cat v.txt)"
set +e
$PLOW verify-receipt seed.json --model honest > v.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first bad position" v.txt || fail "other seed: $(cat v.txt)"
set +e
$PLOW verify-receipt r.json --model c_perturb > v.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "another model" v.txt || fail "other model: $(cat v.txt)"
echo '{"format":"plow.receipt.v1"' > junk.json
set +e
$PLOW verify-receipt junk.json --model honest > /dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || fail "malformed receipt exited $rc"
