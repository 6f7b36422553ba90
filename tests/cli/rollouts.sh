# Distributed rollouts (issue 13): an RL run whose rollouts are made by two
# rollout workers as signed receipts (worker 1 honest, worker 2 cheating on
# its first rollout of every step) and checked by the trainer before it steps
# on them. The run's states are the in-step sampled run's, bit for bit (so
# `plow verify` replays it unchanged); each cheat (a fabricated completion, a
# misreported reward, a cherry-picked prompt) is refused with the cheater
# named; and a refused fabricated receipt, posted to a real node as
# receipt_fraud, slashes the cheater's stake by the referee's one prefill.
set -e
. "$LIB"

for k in ra rb tr; do $PLOW wallet new --key $k.key -q > $k.addr; done
# usage errors
expect_fail 2 $PLOW train --data x.txt --out x --rollout-keys ra.key
grep -q "goes with --rl" err.txt || fail "--rollout-keys without --rl: $(cat err.txt)"
expect_fail 2 $PLOW train --rl --base b --out x --rollout-cheat 1:fabricated
grep -q "goes with --rollout-keys" err.txt || fail "--rollout-cheat alone: $(cat err.txt)"
expect_fail 2 $PLOW train --rl --base b --out x --rollout-keys ra.key --rollout-cheat 3:fabricated
expect_fail 2 $PLOW train --rl --base b --out x --rollout-keys ra.key --rollout-cheat 1:lazy
grep -q "unknown rollout cheat" err.txt || fail "an unknown cheat: $(cat err.txt)"
expect_fail 2 $PLOW train --rl --base b --out x --rollout-keys nokey.key
$PLOW train --help | grep -q -- "--rollout-keys" || fail "plow train --help has no --rollout-keys"

$PLOW rl problems --answers --n 3000 --kinds all --out p.txt
$PLOW train --data p.txt --config tiny --vocab 300 --steps 20 --batch 8 --seq 32 --out base --threads 2 > /dev/null 2>&1
RL="$PLOW train --rl --base base --kinds add,cmp --digits 1 --steps 4 --batch 2 --group 4 --max-new 6 --seq 24 --commit \
    --checkpoint-every 2 --threads 2"
$RL --out insitu > insitu.log 2>&1 || { cat insitu.log; fail "the in-step RL run failed"; }

# 1. two rollout workers, the second fabricating a completion every step
$RL --out dist --rollout-keys ra.key,rb.key --rollout-cheat 2:fabricated > dist.log 2>&1 ||
    { cat dist.log; fail "the distributed RL run failed"; }
cmp -s insitu/states.txt dist/states.txt || fail "distributed rollouts changed the states"
[ "$(state_of insitu.log)" = "$(state_of dist.log)" ] || fail "distributed rollouts changed the final state"
nref=$(grep -c "refused: rollout worker $(cat rb.addr): fabricated completion" dist.log || true)
[ "$nref" -ge 1 ] || { cat dist.log; fail "the fabricated rollouts were not refused naming the cheater"; }
grep "refused" dist.log | grep -q "$(cat ra.addr)" && fail "an honest rollout was refused"
grep -q "distributed rollouts: .* accepted, $nref refused" dist.log || fail "the summary: $(grep distributed dist.log)"
$PLOW verify dist --samples 4 > v.log 2>&1 || { cat v.log; fail "plow verify failed on the distributed run"; }
tail -n 1 v.log | grep -q '^valid' || fail "the distributed run does not verify: $(cat v.log)"
echo "1. distributed rollouts: states identical to the in-step run, $nref fabricated rollouts refused, verified"

# 2. a misreported reward and a cherry-picked prompt: refused, the run unchanged
for c in reward:"misreported reward" prompt:"wrong prompt"; do
    kind=${c%%:*} name=${c#*:}
    $RL --out d_$kind --rollout-keys ra.key,rb.key --rollout-cheat 2:$kind > d_$kind.log 2>&1 ||
        { cat d_$kind.log; fail "the RL run with a $kind cheat failed"; }
    grep -q "refused: rollout worker $(cat rb.addr): $name" d_$kind.log || { cat d_$kind.log; fail "$kind not refused"; }
    cmp -s insitu/states.txt d_$kind/states.txt || fail "a $kind cheat changed the states"
done
echo "2. a misreported reward and a cherry-picked prompt refused, the states unchanged"

# 3. the refused fabricated receipt is a fraud proof on a real node: the cheater is slashed
R=$(ls dist/fraud/step-*-rollout-*.json | head -n 1)
S=$(echo "$R" | sed -n 's/.*step-\([0-9]*\)-rollout-.*/\1/p')
[ -d dist/fraud/policy-$S ] || fail "no policy of step $S beside the fraud proof"
$PLOW node init --data n --out-genesis g.json --fund "$(cat tr.addr)=100000" --fund "$(cat rb.addr)=5000" > /dev/null
trap stop_all EXIT
start_node n node.log --genesis g.json --block-ms 100 --quiet
N="--node $URL"
$PLOW wallet stake 2000 --key rb.key $N > /dev/null || fail "stake"
$PLOW fraud "$R" --model dist/fraud/policy-$S --bond 100 --key tr.key $N > f.txt || fail "plow fraud: $(cat f.txt)"
CL=$(sed -n 's/^claim \([0-9a-f]\{64\}\)$/\1/p' f.txt)
_i=0
until [ "$(q "/v1/challenge/$CL" "j['status']")" = upheld ]; do
    _i=$((_i + 1))
    [ $_i -lt 1200 ] || { tail -n 20 node.log; fail "claim $CL never upheld: $(q "/v1/challenge/$CL" "j")"; }
    sleep 0.1
done
$PLOW wallet balance "$(cat rb.addr)" $N | grep -q "^stake *0$" || fail "the cheating rollout worker kept its stake"
echo "3. the fabricated rollout's receipt posted as receipt_fraud: upheld, the cheater's stake slashed"
