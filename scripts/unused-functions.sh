#!/bin/sh
# unused-functions.sh — lists the public functions of src/ that nothing calls.
#
#   make && sh scripts/unused-functions.sh [BUILD]      (BUILD defaults to build)
#
# A function defined in one object (nm: T) counts as used when another object
# of the library, the CLI, the tests or the benchmarks references it (nm: U),
# or when its own source file names it more than once (a call or address
# taken in the file that defines it). Each line printed is "name  file" with
# a second tag: "unused" (nothing names it), "tests-only" (only tests/ or
# bench/ call it). Exits 0; the list is for a reader to judge.
set -eu
B=${1:-build}
[ -d "$B/src" ] || { echo "unused-functions.sh: no objects under $B/src (run make)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find "$B/src" -name '*.o' | sort >"$tmp/src_objs"
find "$B/tests" "$B/bench" -name '*.o' 2>/dev/null | sort >"$tmp/test_objs" || true
# defined: name object
while read -r o; do nm --defined-only "$o" | awk -v o="$o" '$2 == "T" { print $3, o }'; done <"$tmp/src_objs" |
    sort >"$tmp/defined"
# referenced from the product (src) and from tests/bench
xargs nm --undefined-only <"$tmp/src_objs" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u >"$tmp/used_src"
if [ -s "$tmp/test_objs" ]; then
    xargs nm --undefined-only <"$tmp/test_objs" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u >"$tmp/used_test"
else
    : >"$tmp/used_test"
fi
while read -r name obj; do
    grep -qx "$name" "$tmp/used_src" && continue
    src=$(echo "$obj" | sed "s|^$B/||; s|\.o$|.c|")
    if [ -f "$src" ] && [ "$(grep -cw "$name" "$src")" -gt 1 ]; then continue; fi
    if grep -qx "$name" "$tmp/used_test"; then tag=tests-only; else tag=unused; fi
    case "$name" in main) continue ;; esac
    printf '%-40s %-28s %s\n' "$name" "$src" "$tag"
done <"$tmp/defined"
