# The determinism contract (docs/design.md, "The determinism contract")
# through the real binary: the state hash after every one of 20 steps of tiny
# and 3 steps of small (states.txt, compared line for line with the first
# run's) is the same with 1, 2 and 4 threads, on every SIMD path this CPU
# has, and from a gcc -O2 and a clang -O3 build (make test builds both;
# scalar on small runs from the gcc build only).
set -e
. "$LIB"
[ -x "$PLOW_CLANG" ] || fail "no clang build at $PLOW_CLANG (make BUILD=build/clang CC=clang)"
head -c 200000 "$ROOT/data/tinyshakespeare.txt" > d.txt
$PLOW tokenizer train --data d.txt --vocab 512 --out tok.bin > /dev/null
paths="scalar"
grep -q ' avx2 ' /proc/cpuinfo && grep -q ' fma ' /proc/cpuinfo && paths="$paths avx2"
grep -q ' avx512f ' /proc/cpuinfo && paths="$paths avx512"
echo "paths: $paths"

check() { # name config steps batch seq
    ref=""
    for bin in "$PLOW" "$PLOW_CLANG"; do
        for simd in $paths; do
            for t in 1 2 4; do
                # the scalar reference is ~20x slower: one thread count (4) is enough there
                [ "$simd" = scalar ] && [ $t -ne 4 ] && continue
                # scalar on small (the slowest run) with gcc only: clang's scalar path is
                # compared on tiny; clang's SIMD paths on small meet gcc's scalar state
                [ "$simd" = scalar ] && [ "$1" = small ] && [ "$bin" = "$PLOW_CLANG" ] && continue
                $bin train --data d.txt --tokenizer tok.bin --config $2 --steps $3 --batch $4 --seq $5 \
                    --seed 5 --out "r_$1" --threads $t --simd $simd --eval-batches 1 > out.txt 2> err.txt ||
                    { cat err.txt; fail "train failed"; }
                s=$(state_of out.txt)
                [ -n "$s" ] || fail "no state line"
                echo "$1 $(basename $(dirname $(dirname $bin)))/$(basename $bin) $simd t=$t $s"
                # every per-step hash agrees too, not only the last: the first
                # run's states.txt (one line per step and the initial state) is the reference
                if [ -z "$ref" ]; then
                    ref=$s
                    cp "r_$1/states.txt" "ref_$1.txt"
                    [ "$(wc -l < "ref_$1.txt")" -eq $(($3 + 1)) ] || fail "states.txt has the wrong length"
                fi
                [ "$s" = "$ref" ] || fail "$1: state differs ($bin, $simd, $t threads)"
                cmp -s "r_$1/states.txt" "ref_$1.txt" ||
                    fail "$1: states.txt differs ($bin, $simd, $t threads): $(diff "ref_$1.txt" "r_$1/states.txt" | head -n 4)"
            done
        done
    done
}
check tiny tiny 20 2 64
check small small 3 1 64
