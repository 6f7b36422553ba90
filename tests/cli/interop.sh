# What the GGUF export claims holds for plow's side: the pre-split's Unicode
# class table (src/data/unicode_table.c) is the one scripts/gen-unicode-table.py
# writes from this Python's unicodedata (the split itself is compared with an
# independent reference in the unit test tokenizer_pretokenize_reference).
set -e
. "$LIB"
PY=/usr/bin/python3
want=$(sed -n 's/^const char unicode_table_version\[\] = "\(.*\)";$/\1/p' "$ROOT/src/data/unicode_table.c")
have=$($PY -c 'import unicodedata; print(unicodedata.unidata_version)')
[ -n "$want" ] || fail "no unicode_table_version in src/data/unicode_table.c"
if [ "$want" = "$have" ]; then
    $PY "$ROOT/scripts/gen-unicode-table.py" > table.c
    cmp -s table.c "$ROOT/src/data/unicode_table.c" ||
        fail "src/data/unicode_table.c differs from what scripts/gen-unicode-table.py writes: $(diff table.c "$ROOT/src/data/unicode_table.c" | head -n 4)"
else
    echo "note: this Python has Unicode $have, the table $want: the table's freshness is not checked"
fi
