#!/bin/sh
# proof_costs.sh — the proof layer's costs (issue 3), as rows of the bench
# table: commitment overhead, sampled verification, receipt checking, and a
# dispute's referee. Run by `make bench` after build/plow_bench.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLOW="$ROOT/build/plow"
W=$(mktemp -d /tmp/plow_bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
row() { printf '| %-46s | %18s | %-44s |\n' "$1" "$2" "$3"; }
secs() { awk -F, 'NR > 1 && $1 > 0 { s += $6 } END { printf "%.3f", s }' "$1/train_log.csv"; }

cp "$ROOT/data/tinyshakespeare.txt" d.txt
$PLOW tokenizer train --data d.txt --vocab 4096 --out tok.bin > /dev/null 2>&1
# a committed 200-step run of small (B=4, T=128 to keep the bench short)
S="--data d.txt --tokenizer tok.bin --config small --steps 200 --batch 4 --seq 128 --eval-batches 1"
t1=$(date +%s.%N)
$PLOW train $S --commit --checkpoint-every 16 --out run > /dev/null 2>&1
t2=$(date +%s.%N)
commit=$(calc "$t2 - $t1")
row "on-chain commitment" "$(stat -c %s run/commitment.bin) bytes" "task, root, final state, artifact, n, c"

# sampled verification, k = 8
v0=$(date +%s.%N)
$PLOW verify run --samples 8 --challenge 1 > v.txt
v1=$(date +%s.%N)
vt=$(calc "$v1 - $v0")
ran=$(sed -n 's/^re-executed \([0-9]*\) of.*/\1/p' v.txt)
row "sampled verification (k=8, c=16, n=200)" "$(printf '%.1f%%' "$(calc "100 * $vt / $commit")")" \
    "$(printf '%.1fs vs the worker'"'"'s %.1fs; %s steps re-run' "$vt" "$commit" "$ran")"
$PLOW verify run --samples 8 --challenge 1 --challenge-response > vc.txt
vs=$(sed -n 's/^re-executed [0-9]* of [0-9]* steps .* in \([0-9.]*\)s$/\1/p' vc.txt)
ws=$(sed -n 's/.*running \([0-9]*\) steps in \([0-9.]*\)s$/\1 steps, \2s/p' vc.txt)
row "  challenge-response (worker sends state j-1)" "$(printf '%.1f%%' "$(calc "100 * $vs / $commit")")" \
    "$(printf 'verifier %.1fs; the worker answers: %s' "$vs" "$ws")"

# dispute: a cheater perturbs one weight at step 101
$PLOW train $S --commit --checkpoint-every 16 --cheat perturb@101 --out cheat > /dev/null 2>&1
$PLOW dispute run cheat > dsp.txt || true
ref=$(sed -n 's/^referee: one step in \([0-9.]*\)s.*/\1/p' dsp.txt)
bytes=$(sed -n 's/.*exchanged \([0-9]*\) bytes.*/\1/p' dsp.txt)
state=$(sed -n 's/.*agreed state \([0-9]*\) bytes.*/\1/p' dsp.txt)
q=$(sed -n 's/.*(\([0-9]*\) questions per party).*/\1/p' dsp.txt)
row "dispute: referee time (one step)" "${ref}s" "$(printf 'vs %.1fs for the whole run (%s)' "$commit" "$(sed -n 's/^verdict: //p' dsp.txt)")"
row "dispute: bytes exchanged" "$bytes" "$(printf '%s questions per party; agreed state %s bytes' "$q" "$state")"

# receipts: 256 generated tokens of small
$PLOW generate --model run --prompt "ROMEO:" --tokens 254 --temperature 0.8 --seed 3 --receipt r.json > /dev/null 2> g.txt
gen=$(sed -n 's/.* tokens in \([0-9.]*\)s.*/\1/p' g.txt)
$PLOW verify-receipt r.json --model run > vr.txt
chk=$(sed -n 's/.*re-derivation \([0-9.]*\)s)$/\1/p' vr.txt)
all=$(sed -n 's/.* in \([0-9.]*\)s: prefill.*/\1/p' vr.txt)
row "receipt check (254 tokens, one prefill)" "$(printf '%.1f%%' "$(calc "100 * $chk / $gen")")" \
    "$(printf '%.3fs vs %.3fs to generate (%.3fs with hash checks)' "$chk" "$gen" "$all")"
