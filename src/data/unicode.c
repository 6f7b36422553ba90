/*
 * unicode.c — class lookup in the generated run table and strict UTF-8
 * decoding (unicode.h).
 */
#include "../base/plow.h"

#include "unicode.h"

int unicode_class(uint32_t cp) {
    if (cp > 0x10FFFF) return UNICODE_OTHER;
    /* the last run starting at or before cp: lo is always such a run */
    size_t lo = 0, hi = unicode_table_runs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_table[mid] >> 2 <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (int)(unicode_table[lo] & 3u);
}

static bool cont(uint8_t b) { return (b & 0xC0) == 0x80; }

size_t unicode_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    PLOW_ASSERT(n >= 1);
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xC2) return 0; /* a continuation byte, or C0/C1 (always overlong) */
    if (b < 0xE0) {
        if (n < 2 || !cont(s[1])) return 0;
        *cp = (uint32_t)(b & 0x1F) << 6 | (s[1] & 0x3Fu);
        return 2;
    }
    if (b < 0xF0) {
        /* E0 needs A0..BF next (no overlongs), ED 80..9F (no surrogates) */
        uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        if (n < 3 || s[1] < lo || s[1] > hi || !cont(s[2])) return 0;
        *cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3Fu);
        return 3;
    }
    if (b < 0xF5) {
        /* F0 needs 90..BF next (no overlongs), F4 80..8F (nothing above U+10FFFF) */
        uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        if (n < 4 || s[1] < lo || s[1] > hi || !cont(s[2]) || !cont(s[3])) return 0;
        *cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3Fu);
        return 4;
    }
    return 0;
}
