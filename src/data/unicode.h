/*
 * unicode.h — the character classes of GPT-2's pre-tokenizer and a strict
 * UTF-8 decoder, for tokenizer_chunk_end (docs/formats/tokenizer.md).
 *
 * GPT-2 cuts text with 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 * ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+, which sees each code point only through
 * its class: a letter (\p{L}), a number (\p{N}), White_Space (\s), or other.
 * unicode_class gives that class for every code point, from a run table
 * generated from Python's unicodedata (scripts/gen-unicode-table.py writes
 * src/data/unicode_table.c; the Unicode version is unicode_table_version).
 *
 * Usage:
 *     uint32_t cp;
 *     size_t len = unicode_utf8_decode(s, n, &cp);  // 0: s[0] is ill-formed
 *     int cls = len ? unicode_class(cp) : UNICODE_OTHER;
 */
#ifndef PLOW_UNICODE_H
#define PLOW_UNICODE_H

#include "../base/plow.h"

enum {
    UNICODE_OTHER = 0,  /* punctuation, symbols, marks, controls, unassigned... */
    UNICODE_LETTER = 1, /* general category L*: Lu, Ll, Lt, Lm, Lo */
    UNICODE_NUMBER = 2, /* general category N*: Nd, Nl, No */
    UNICODE_SPACE = 3,  /* the White_Space property (Zs, Zl, Zp, U+0009..U+000D, U+0085) */
    UNICODE_CLASS_COUNT
};

/* The class of code point cp; OTHER above U+10FFFF. Pure, thread-safe. */
int unicode_class(uint32_t cp);

/* Decodes the well-formed UTF-8 sequence that starts s[0..n) (n >= 1), by
 * Unicode's Table 3-7: returns its length (1..4) and sets *cp, or returns 0
 * when s[0] starts none: a continuation byte, C0, C1 or F5..FF, an overlong
 * form, a surrogate (U+D800..U+DFFF), a value above U+10FFFF, or a sequence
 * cut short by the end of the input or by a byte that is not a continuation. */
size_t unicode_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* The generated table (unicode_table.c): entry k is (first code point << 2) |
 * class, a run lasting to the next entry's first code point; entry 0 starts
 * at U+0000. */
extern const char unicode_table_version[];
extern const size_t unicode_table_runs;
extern const uint32_t unicode_table[];

#endif /* PLOW_UNICODE_H */
