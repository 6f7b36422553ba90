#!/usr/bin/python3
"""An independent reference for plow's pre-tokenizer (tokenizer_chunk_end):
GPT-2's pattern

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

run by Python's own regex engine. Debian's Python has no `regex` module (no
\\p{...}), so each code point is first replaced by one ASCII stand-in for its
class, from unicodedata: a letter by 'x' (ASCII letters stay themselves, the
contractions need them), a number by '0', White_Space by '\\v', anything else
by '#' (ASCII punctuation stays itself, the apostrophe too). The pattern then
runs over the stand-ins with ASCII classes, and each match maps back to the
bytes of the code points it covers. White_Space is Zs, Zl, Zp and
U+0009..U+000D, U+0085 (PropList.txt); Python's str.isspace() is not used:
it also takes U+001C..U+001F.

Bytes that are not well-formed UTF-8 are decoded with 'surrogateescape': each
becomes a lone surrogate (category Cs, so OTHER) and maps back to its byte.

    pretokenize_ref.py cases     one line per test case on stdout:
                                 HEX:LEN,LEN,...  (the text and its pieces)
    pretokenize_ref.py split F   the pieces of file F, one HEX per line
"""
import random
import re
import sys
import unicodedata

PATTERN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+",
                     re.ASCII)


def stand_in(ch):
    cp = ord(ch)
    cat = unicodedata.category(ch)
    if cat in ("Zs", "Zl", "Zp") or 0x09 <= cp <= 0x0D or cp == 0x85:
        return ch if ch in " \t\n\r\f\v" else "\v"
    if cat[0] == "L":
        return ch if cp < 0x80 else "x"
    if cat[0] == "N":
        return ch if cp < 0x80 else "0"
    if cp < 0x80 and cat[0] in "PS":  # ASCII punctuation and symbols: themselves
        return ch
    return "#"


def pieces(data):
    text = data.decode("utf-8", "surrogateescape")
    mapped = "".join(stand_in(c) for c in text)
    assert len(mapped) == len(text)
    out, pos = [], 0
    for m in PATTERN.finditer(mapped):
        assert m.start() == pos, "the pattern skipped text at code point %d" % pos
        piece = text[m.start():m.end()].encode("utf-8", "surrogateescape")
        out.append(piece)
        pos = m.end()
    assert pos == len(text)
    assert b"".join(out) == data
    return out


FIXED = [
    "O\u2014'tis so",                      # the issue's example: "—'" is one chunk
    "caf\u00e9 na\u00efve \u00c5ngstr\u00f6m",
    "e\u0301t\u00e9",                      # a combining mark (Mn) is OTHER
    "don't we'll've'd'm's're 'RE 'S",    # contractions, case-sensitive
    "\u2019s l\u2019homme",                # a typographic apostrophe is no contraction
    "a\u2013b \u2014 c\u2014d",
    "\u4e2d\u6587\u5b57 \u65e5\u672c\u8a9e\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \u0939\u093f\u0928\u094d\u0926\u0940",  # Hangul; Devanagari with marks
    "\U0001F600\U0001F44D\U0001F3FD x \U0001F468\u200d\U0001F469",
    "a\u00a0b \u00a0c\u00a0\u00a0d",       # NBSP is White_Space
    "x\u3000\u3000y\u2028z\u0085w\u202f!",
    "123 4567 \u0663\u0664 \u00b2\u00bd \u216b",  # Nd, Arabic-Indic, No, Nl
    "a  b   c\t\td \t e\n\n\nf \n",
    "   ",
    " ",
    "\r\n\r\nEnd.",
    "x\x1c\x1d\x1e\x1fy",                 # not White_Space (Python's isspace says yes)
    "\x00\x01 \x7f",
    "\u00aa\u00ba\u00b5\u02b0",           # letters that look like symbols (Lo, Ll, Lm)
    "\ufb01ne \u2163 \u00bc",
]

INVALID = [
    b"\xff", b"\xfe\xff", b"\x80", b"\xbf\x80", b"\xc3", b"\xc3x", b"\xe2\x80", b"\xe2\x80x",
    b"\xed\xa0\x80", b"\xc0\xaf", b"\xc1\x81", b"\xe0\x80\xa0", b"\xf0\x80\x80\xa0",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf0\x9f\x98", b"a\xff b", b" \xff", b"'\xffs",
    b"\xc3\xa9\xff\xc3\xa9", b"1\x802", b" \xe2\x80\x94\xff",
    # overlong forms of a letter, a space and a digit: ill-formed, so OTHER,
    # never the letter, space or digit they spell
    b"a\xc1\x81b", b"x\xe0\x80\xa0\xe0\x80\xa0y", b"1\xf0\x80\x80\xb12", b"x \xc0\xa0y",
]

ALPHABET = ["a", "Z", "s", "t", "re", "ll", "'", " ", "  ", "\t", "\n", "\r\n", "\u00e9", "\u00df",
            "\u2014", "\u2013", "\u2019", "\u00a0", "\u3000", "\u2028", "\u0085", "\u4e2d", "\u6587",
            "\U0001F600", "\U0001F3FD", "\u200d", "1", "\u0663", "\u00b2", "\u216b", "!", ".", "\x00",
            "\x1f", "\u0301", "\ud55c", "\u0939\u093f"]
ALPHABET_BYTES = [a.encode("utf-8") for a in ALPHABET] + [b"\xff", b"\x80", b"\xe2\x80", b"\xc3"]

TABLE_VERSION = "14.0.0"  # src/data/unicode_table.c


def cases():
    out = [c.encode("utf-8") for c in FIXED] + INVALID
    rng = random.Random(20261207)
    for _ in range(400):
        out.append(b"".join(rng.choice(ALPHABET_BYTES) for _ in range(rng.randrange(1, 40))))
    # Any code point (assigned or not, all planes) when this Python's Unicode
    # is the table's; a newer Python could class new characters differently.
    if unicodedata.unidata_version == TABLE_VERSION:
        for _ in range(300):
            cps = []
            for _ in range(rng.randrange(1, 12)):
                cp = rng.randrange(0x110000) if rng.random() < 0.5 else rng.randrange(0x3000)
                if 0xD800 <= cp <= 0xDFFF:
                    cp = 0x20
                cps.append(chr(cp))
                if rng.random() < 0.3:
                    cps.append(rng.choice(" '"))
            out.append("".join(cps).encode("utf-8"))
    else:
        print("pretokenize_ref: Python's Unicode is %s, the table's %s: random code points skipped"
              % (unicodedata.unidata_version, TABLE_VERSION), file=sys.stderr)
    return out


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "cases":
        for data in cases():
            print("%s:%s" % (data.hex(), ",".join(str(len(p)) for p in pieces(data))))
    elif len(sys.argv) == 3 and sys.argv[1] == "split":
        with open(sys.argv[2], "rb") as f:
            for p in pieces(f.read()):
                print(p.hex())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
