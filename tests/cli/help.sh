# Every command answers --help; bad usage exits 2 with a hint; nothing crashes.
set -e
. "$LIB"
$PLOW --help | grep -q "commands:" || fail "plow --help"
$PLOW --version | grep -q "^plow " || fail "plow --version"
for c in tokenizer train generate export info dump; do
    $PLOW $c --help >h.txt || fail "plow $c --help exited non-zero"
    grep -q "usage: plow $c" h.txt || fail "plow $c --help has no usage line"
done
expect_fail 2 $PLOW frobnicate
expect_fail 2 $PLOW
expect_fail 2 $PLOW train --steps 5
expect_fail 2 $PLOW train --data x --out y --steps -3
expect_fail 2 $PLOW train --data x --out y --steps 12abc
expect_fail 2 $PLOW train --data x --out y --bogus
expect_fail 2 $PLOW train --data x --out y --lora
expect_fail 2 $PLOW generate --model m
expect_fail 2 $PLOW generate --model m --prompt hi --temperature -1
expect_fail 2 $PLOW tokenizer train --data x
expect_fail 2 $PLOW tokenizer train --data x --out y --vocab 100
expect_fail 2 $PLOW export gguf onlyone
grep -q "Try 'plow export --help'" err.txt || fail "no hint"
