# Every command `plow --help` lists, and every subcommand each one's --help
# names, answers --help (exit 0, a usage line); an unknown option to any of
# them exits 2 naming the option, with a hint; bad usage exits 2; nothing
# crashes.
set -e
. "$LIB"
$PLOW --help >top.txt || fail "plow --help exited non-zero"
$PLOW --version | grep -q "^plow " || fail "plow --version"
# the commands: the first word of each entry of the "commands:" section
commands=$(awk '/^commands:$/ { f = 1; next } f && /^  [a-z]/ { print $1 } f && /^$/ { exit }' top.txt)
[ "$(echo "$commands" | wc -w)" -ge 21 ] || fail "plow --help lists only: $commands"
# subcommands C: the SUB words of `plow C --help`: its usage lines ("plow C SUB")
# and the first word of the entries of its sections other than options and examples
subcommands() {
    $PLOW "$1" --help | awk -v c="$1" '
        $1 == "usage:" && $2 == "plow" && $3 == c && $4 ~ /^[a-z][a-z-]*$/ { print $4 }
        /^       plow / && $2 == c && $3 ~ /^[a-z][a-z-]*$/ { print $3 }
        /^[a-z][^:]*:$/ { sec = $0; next }
        /^[^ ]/ { sec = "" }
        sec != "" && sec !~ /^(options|example|examples|exit status|environment)/ && /^  [a-z][a-z-]* / { print $1 }
    ' | sort -u
}
# unknown CMD...: an unknown option is refused with exit 2, named, with a hint
unknown() {
    expect_fail 2 $PLOW "$@" --no-such-option
    grep -q -- "--no-such-option" err.txt || fail "plow $*: the error does not name the option: $(cat err.txt)"
    grep -q "Try 'plow $1" err.txt || fail "plow $*: no hint: $(cat err.txt)"
}
n=0
for c in $commands; do
    $PLOW $c --help >h.txt || fail "plow $c --help exited non-zero"
    grep -q "^usage: plow $c" h.txt || fail "plow $c --help has no usage line"
    unknown $c
    for s in $(subcommands $c); do
        $PLOW $c $s --help >h.txt || fail "plow $c $s --help exited non-zero"
        grep -q "^usage: plow $c" h.txt || fail "plow $c $s --help has no usage line"
        unknown $c $s
        n=$((n + 1))
    done
done
# the subcommands of wallet, task, block, label, node, tokenizer, export, prefs, round, labeler
[ $n -ge 29 ] || fail "only $n subcommands found in the help texts"
echo "$(echo "$commands" | wc -w) commands and $n subcommands answer --help and refuse an unknown option"

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
