/*
 * test_tokenizer.c — unit tests for src/data/tokenizer: the split rules,
 * training against a naive reference trainer, encoding against a naive
 * reference encoder, round trips on hostile bytes, and the file format's
 * validation of every kind of damage.
 */
#include "../src/base/plow.h"

#include <limits.h>

#include "../src/data/tokenizer.h"
#include "test.h"

/* ------------------------------------------------------------- helpers */

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* The first `max` bytes of the corpus (all of it if max is 0). */
static uint8_t *corpus(size_t max, size_t *n) {
    uint8_t *d;
    char err[PLOW_ERR_LEN];
    if (plow_read_file(test_corpus_path(), 64u << 20, &d, n, err) != 0) {
        test_fail(__FILE__, __LINE__, "%s", err);
        return NULL;
    }
    if (max && *n > max) *n = max;
    return d;
}

static tokenizer *train(const uint8_t *d, size_t n, int V) {
    tokenizer *t = NULL;
    char err[PLOW_ERR_LEN] = "";
    if (tokenizer_train(&t, d, n, V, NULL, NULL, err) != 0)
        test_fail(__FILE__, __LINE__, "train V=%d: %s", V, err);
    return t;
}

/* encode, check the ids, decode, compare; returns the token count. */
static size_t roundtrip(const tokenizer *t, const uint8_t *s, size_t n) {
    char err[PLOW_ERR_LEN] = "";
    int32_t *ids = NULL;
    uint8_t *back = NULL;
    size_t nids = 0, nback = 0;
    CHECKF(tokenizer_encode(t, s, n, &ids, &nids, err) == 0, "encode: %s", err);
    CHECK(ids != NULL && nids <= n);
    for (size_t i = 0; i < nids; i++)
        CHECKF(ids[i] >= 0 && ids[i] < tokenizer_eot(t), "id %d out of text range", ids[i]);
    CHECKF(tokenizer_decode(t, ids, nids, &back, &nback, err) == 0, "decode: %s", err);
    CHECK(back != NULL);
    CHECKF(nback == n && (n == 0 || memcmp(back, s, n) == 0), "round trip differs (n=%zu)", n);
    free(ids);
    free(back);
    return nids;
}

static bool same_hash(const tokenizer *a, const tokenizer *b) {
    uint8_t ha[PLOW_HASH_LEN], hb[PLOW_HASH_LEN];
    tokenizer_hash(a, ha);
    tokenizer_hash(b, hb);
    return memcmp(ha, hb, PLOW_HASH_LEN) == 0;
}

/* --------------------------------------------------- reference algorithms */

/* Chunks of s as a list of (start, len), by the rules of the format doc. */
typedef struct {
    size_t *start, *len, n;
} chunks;

static chunks split(const uint8_t *s, size_t n) {
    chunks c = {plow_alloc((n + 1) * sizeof(size_t)), plow_alloc((n + 1) * sizeof(size_t)), 0};
    for (size_t i = 0, e; i < n; i = e) {
        e = tokenizer_chunk_end(s, n, i);
        PLOW_ASSERT(e > i && e <= n);
        c.start[c.n] = i;
        c.len[c.n++] = e - i;
    }
    return c;
}

static void chunks_free(chunks *c) {
    free(c->start);
    free(c->len);
}

/* Replaces each (a, b) by z left to right, without overlap; returns new length. */
static size_t apply_merge(int32_t *s, size_t len, int32_t a, int32_t b, int32_t z) {
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
            s[j++] = z;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    return j;
}

/* The textbook trainer: recount every pair of every chunk occurrence at each
 * step, take the largest count, ties to the smallest (left, right). Writes
 * the merges (2 per id) and returns how many it found (fewer if pairs ran out). */
static int reference_train(const uint8_t *d, size_t n, int V, int32_t *merges) {
    chunks c = split(d, n);
    int32_t *sym = plow_alloc((n + 1) * sizeof *sym);
    size_t *len = plow_alloc((c.n + 1) * sizeof *len);
    for (size_t i = 0; i < n; i++) sym[i] = d[i];
    for (size_t k = 0; k < c.n; k++) len[k] = c.len[k];
    int64_t *count = plow_alloc((size_t)V * (size_t)V * sizeof *count);
    int m = 0;
    for (; m < V - 257; m++) {
        memset(count, 0, (size_t)V * (size_t)V * sizeof *count);
        for (size_t k = 0; k < c.n; k++) {
            const int32_t *s = sym + c.start[k];
            for (size_t i = 0; i + 1 < len[k]; i++) count[(size_t)s[i] * (size_t)V + (size_t)s[i + 1]]++;
        }
        size_t best = 0;
        for (size_t p = 1; p < (size_t)V * (size_t)V; p++)
            if (count[p] > count[best]) best = p;
        if (count[best] == 0) break;
        int32_t a = (int32_t)(best / (size_t)V), b = (int32_t)(best % (size_t)V);
        merges[2 * m] = a;
        merges[2 * m + 1] = b;
        for (size_t k = 0; k < c.n; k++) len[k] = apply_merge(sym + c.start[k], len[k], a, b, 256 + m);
    }
    free(count);
    free(len);
    free(sym);
    chunks_free(&c);
    return m;
}

/* Encoding by definition: every merge in order over every chunk. */
static size_t reference_encode(const tokenizer *t, const uint8_t *s, size_t n, int32_t *out) {
    chunks c = split(s, n);
    size_t k = 0;
    for (size_t q = 0; q < c.n; q++) {
        int32_t *w = out + k;
        size_t len = c.len[q];
        for (size_t i = 0; i < len; i++) w[i] = s[c.start[q] + i];
        for (int id = 256; id < tokenizer_eot(t) && len > 1; id++) {
            int a, b;
            PLOW_ASSERT(tokenizer_merge_pair(t, id, &a, &b) == 0);
            len = apply_merge(w, len, a, b, id);
        }
        k += len;
    }
    chunks_free(&c);
    return k;
}

/* ------------------------------------------------------------------ tests */

static void test_chunks(void) {
    static const struct {
        const char *in;
        size_t n;             /* 0: strlen(in) */
        const char *want[8]; /* expected chunks, NULL-terminated */
    } cases[] = {
        {"Hello world", 0, {"Hello", " world"}},
        {"don't", 0, {"don", "'t"}},
        {"we'll've'd'm's're", 0, {"we", "'ll", "'ve", "'d", "'m", "'s", "'re"}},
        {"'RE'x''s", 0, {"'", "RE", "'", "x", "''", "s"}},
        {"a  b", 0, {"a", " ", " b"}},
        {"a\n\nb", 0, {"a", "\n", "\n", "b"}},
        {"x   ", 0, {"x", "   "}},
        {" \t x", 0, {" \t", " x"}},
        {"123abc 45 67", 0, {"123", "abc", " 45", " 67"}},
        {"hi!!! ?\n", 0, {"hi", "!!!", " ?", "\n"}},
        {"\xc3\xa9t\xc3\xa9 caf\xc3\xa9\xff", 0, {"\xc3\xa9t\xc3\xa9", " caf\xc3\xa9", "\xff"}},
        /* the example: an em dash is punctuation, so "—'" is one chunk */
        {"O\xe2\x80\x94'tis so", 0, {"O", "\xe2\x80\x94'", "tis", " so"}},
        {"a\xc2\xa0\xc2\xa0" "b", 0, {"a", "\xc2\xa0", "\xc2\xa0", "b"}},   /* NBSP is a space */
        {"x \xc2\xa0y", 0, {"x", " ", "\xc2\xa0", "y"}},
        {"\xe4\xb8\xad\xe6\x96\x87 12\xc2\xb2", 0, {"\xe4\xb8\xad\xe6\x96\x87", " 12\xc2\xb2"}},
        {"\xe2\x80x\xed\xa0\x80y", 0, {"\xe2\x80", "x", "\xed\xa0\x80", "y"}}, /* ill-formed */
        {"a\0\0b", 4, {"a", "\0\0", "b"}},
        {" '", 0, {" '"}},
        {"'", 0, {"'"}},
        {" ", 0, {" "}},
        {"\r\n\r\nEnd.", 0, {"\r\n\r", "\n", "End", "."}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const uint8_t *s = (const uint8_t *)cases[c].in;
        size_t n = cases[c].n ? cases[c].n : strlen(cases[c].in), i = 0, k = 0;
        for (; i < n && cases[c].want[k]; k++) {
            const char *w = cases[c].want[k];
            size_t wl = w[0] ? strlen(w) : 2; /* the only chunk starting with NUL is "\0\0" */
            size_t e = tokenizer_chunk_end(s, n, i);
            CHECKF(e - i == wl && memcmp(s + i, w, wl) == 0, "case %zu chunk %zu: got %zu bytes", c,
                   k, e - i);
            i = e;
        }
        CHECKF(i == n && !cases[c].want[k], "case %zu: chunk count differs", c);
    }
}

/* Bytes of a hex string into out (capacity cap); returns the count, or -1. */
static long unhex(const char *h, size_t hl, uint8_t *out, size_t cap) {
    if (hl % 2 || hl / 2 > cap) return -1;
    for (size_t i = 0; i < hl / 2; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(hl / 2);
}

/* tokenizer_chunk_end against tests/pretokenize_ref.py: GPT-2's pattern run
 * by Python's regex engine over unicodedata classes, on accents, dashes, CJK,
 * emoji, NBSP and other spaces, contractions, digits of several scripts,
 * whitespace runs, ill-formed UTF-8 and random code points. */
static void test_pretokenize_reference(void) {
    const char *root = getenv("PLOW_ROOT");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/pretokenize_ref.py' cases", root ? root : ".");
    FILE *f = popen(cmd, "r");
    CHECKF(f != NULL, "cannot run %s", cmd);
    if (!f) return;
    static char line[1 << 14];
    uint8_t text[4096];
    int ncases = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        long n = colon ? unhex(line, (size_t)(colon - line), text, sizeof text) : -1;
        CHECKF(n > 0, "malformed reference line %d", ncases + 1);
        if (n <= 0) break;
        ncases++;
        size_t i = 0, k = 0;
        for (char *p = colon + 1; *p && *p != '\n'; k++) {
            char *end;
            unsigned long want = strtoul(p, &end, 10);
            p = *end == ',' ? end + 1 : end;
            size_t got = i < (size_t)n ? tokenizer_chunk_end(text, (size_t)n, i) - i : 0;
            if (got != want) {
                if (bad++ < 5)
                    test_fail(__FILE__, __LINE__,
                              "case %d (%.*s): chunk %zu at byte %zu is %zu bytes, the reference's %lu",
                              ncases, (int)(colon - line), line, k, i, got, want);
                i = (size_t)n;
                break;
            }
            i += want;
        }
        CHECKF(bad || i == (size_t)n, "case %d: the reference's chunks cover %zu of %ld bytes", ncases, i, n);
    }
    int st = pclose(f);
    CHECKF(st == 0, "%s exited with status %d", cmd, st);
    CHECKF(ncases > 700, "only %d reference cases", ncases);
}

/* The example through a whole tokenizer: with the 4096-token
 * tokenizer of all of tinyshakespeare (plow train's default), "O—'tis so"
 * encodes as llama.cpp encodes it from the exported GGUF. The byte-class
 * split plow had before gave [79, 226, 128, 148, 666, 269, 365]: "'t" "is". */
static void test_llama_cpp_example(void) {
    size_t n;
    uint8_t *d = corpus(0, &n);
    if (!d) return;
    tokenizer *t = train(d, n, 4096);
    free(d);
    if (!t) return;
    static const char text[] = "O\xe2\x80\x94'tis so";
    static const int32_t want[] = {79, 226, 128, 148, 39, 740, 365};
    int32_t *ids = NULL;
    size_t nids = 0;
    char err[PLOW_ERR_LEN] = "";
    CHECKF(tokenizer_encode(t, (const uint8_t *)text, sizeof text - 1, &ids, &nids, err) == 0, "%s", err);
    CHECKF(nids == sizeof want / sizeof want[0] && memcmp(ids, want, sizeof want) == 0,
           "got %zu ids: %d %d %d %d %d %d %d", nids, nids > 0 ? ids[0] : -1, nids > 1 ? ids[1] : -1,
           nids > 2 ? ids[2] : -1, nids > 3 ? ids[3] : -1, nids > 4 ? ids[4] : -1, nids > 5 ? ids[5] : -1,
           nids > 6 ? ids[6] : -1);
    free(ids);
    tokenizer_free(t);
}

static void test_train_matches_reference(void) {
    /* Shakespeare plus runs that stress overlapping merges (aaaa, abab). */
    size_t n;
    uint8_t *d = corpus(20000, &n);
    if (!d) return;
    static const char extra[] = "aaaaaaa abababab aaa ab ba baba  \n\n\t 's 'll 1212121 \xff\xff\xff !!!! ";
    plow_buf b = {0};
    plow_buf_append(&b, d, n);
    for (int r = 0; r < 40; r++) plow_buf_append(&b, extra, sizeof extra - 1);
    const int V = 512;
    int32_t *ref = plow_alloc(2 * (size_t)V * sizeof *ref);
    int m = reference_train(b.data, b.len, V, ref);
    CHECKF(m == V - 257, "reference found only %d merges", m);
    tokenizer *t = train(b.data, b.len, V);
    if (t) {
        int mismatches = 0;
        for (int k = 0; k < m; k++) {
            int l = -1, r = -1;
            CHECK(tokenizer_merge_pair(t, 256 + k, &l, &r) == 0);
            if (l != ref[2 * k] || r != ref[2 * k + 1]) {
                if (mismatches++ < 5)
                    test_fail(__FILE__, __LINE__, "merge %d: got (%d,%d), reference (%d,%d)", k, l,
                              r, ref[2 * k], ref[2 * k + 1]);
            }
        }
        CHECK(mismatches == 0);
        /* The learned tokens include the overlapping runs. */
        const uint8_t *tb;
        size_t tl;
        bool found_aaaa = false;
        for (int id = 256; id < V - 1; id++) {
            CHECK(tokenizer_token_bytes(t, id, &tb, &tl) == 0);
            if (tl == 4 && memcmp(tb, "aaaa", 4) == 0) found_aaaa = true;
        }
        CHECK(found_aaaa);
    }
    tokenizer_free(t);
    free(ref);
    plow_buf_release(&b);
    free(d);
}

static void test_encode_matches_reference(void) {
    size_t n;
    uint8_t *d = corpus(50000, &n);
    if (!d) return;
    tokenizer *t = train(d, n, 400);
    if (!t) {
        free(d);
        return;
    }
    uint64_t rng = 0x5eed1234abcdULL;
    static const char alpha[] = "ae tsTh'\n\0\xc3\xa9!1";
    uint8_t *s = plow_alloc(4096);
    int32_t *want = plow_alloc(4096 * sizeof *want);
    for (int iter = 0; iter < 120; iter++) {
        size_t len = rng_next(&rng) % 1500, off = rng_next(&rng) % (n - len);
        for (size_t i = 0; i < len; i++) {
            switch (iter % 3) {
            case 0: s[i] = d[off + i]; break; /* real text */
            case 1: s[i] = (uint8_t)alpha[rng_next(&rng) % (sizeof alpha - 1)]; break;
            default: s[i] = (uint8_t)rng_next(&rng); break;
            }
        }
        size_t nwant = reference_encode(t, s, len, want);
        int32_t *ids = NULL;
        size_t nids = 0;
        char err[PLOW_ERR_LEN] = "";
        CHECKF(tokenizer_encode(t, s, len, &ids, &nids, err) == 0, "%s", err);
        CHECKF(nids == nwant && (nids == 0 || memcmp(ids, want, nids * sizeof *ids) == 0),
               "iter %d: encoding differs from the reference (%zu vs %zu ids)", iter, nids, nwant);
        free(ids);
    }
    free(want);
    free(s);
    tokenizer_free(t);
    free(d);
}

static void test_roundtrip(void) {
    size_t n;
    uint8_t *d = corpus(100000, &n);
    if (!d) return;
    tokenizer *t = train(d, n, 1024);
    free(d);
    if (!t) return;
    CHECK(roundtrip(t, (const uint8_t *)"", 0) == 0);
    for (int b = 0; b < 256; b++) { /* every single byte is its own id */
        uint8_t c = (uint8_t)b;
        int32_t *ids = NULL;
        size_t nids = 0;
        char err[PLOW_ERR_LEN];
        CHECK(tokenizer_encode(t, &c, 1, &ids, &nids, err) == 0);
        CHECKF(nids == 1 && ids[0] == b, "byte %d", b);
        free(ids);
        CHECK(roundtrip(t, &c, 1) == 1);
    }
    uint64_t rng = 42;
    uint8_t *s = plow_alloc(8192);
    static const char alpha[] = " e'\n\0\x80\xc3\xff\t1a";
    for (int iter = 0; iter < 300; iter++) {
        size_t len = rng_next(&rng) % 8192;
        for (size_t i = 0; i < len; i++)
            s[i] = iter % 2 ? (uint8_t)rng_next(&rng)
                            : (uint8_t)alpha[rng_next(&rng) % (sizeof alpha - 1)];
        roundtrip(t, s, len);
    }
    free(s);
    /* One giant chunk: 300 KB of letters exercises the heap-driven BPE. */
    size_t big = 300000;
    uint8_t *g = plow_alloc(big);
    for (size_t i = 0; i < big; i++) g[i] = (uint8_t)"the"[i % 3];
    size_t nt = roundtrip(t, g, big);
    CHECKF(nt < big / 2, "300 KB of 'thethe...' gave %zu tokens", nt);
    free(g);
    tokenizer_free(t);
}

static void test_deterministic(void) {
    size_t n;
    uint8_t *d = corpus(200000, &n);
    if (!d) return;
    tokenizer *a = train(d, n, 1024), *b = train(d, n, 1024), *c = train(d, n, 700);
    if (a && b && c) {
        CHECK(same_hash(a, b));
        CHECK(!same_hash(a, c));
        /* Greedy training: a smaller vocab learns a prefix of the larger one's merges. */
        for (int id = 256; id < 699; id++) {
            int la, ra, lc, rc;
            CHECK(tokenizer_merge_pair(a, id, &la, &ra) == 0);
            CHECK(tokenizer_merge_pair(c, id, &lc, &rc) == 0);
            CHECKF(la == lc && ra == rc, "merge id %d differs between V=1024 and V=700", id);
        }
    }
    tokenizer_free(a);
    tokenizer_free(b);
    tokenizer_free(c);
    free(d);
}

static void test_compression(void) {
    size_t n;
    uint8_t *d = corpus(200000, &n);
    if (!d) return;
    CHECK(n == 200000);
    tokenizer *t = train(d, n, 1024);
    if (t) {
        size_t nt = roundtrip(t, d, n);
        double tpb = (double)nt / (double)n;
        /* Measured 0.389 tokens/byte (V=1024, first 200 KB); raw bytes would be 1. */
        CHECKF(tpb < 0.40, "%.4f tokens/byte", tpb);
    }
    tokenizer_free(t);
    free(d);
}

static int progress_calls, progress_last, progress_total, progress_bad;

static void on_progress(void *ctx, int done, int total) {
    if (ctx != &progress_calls || done != progress_last + 1) progress_bad++;
    progress_calls++;
    progress_last = done;
    progress_total = total;
}

static void test_progress_and_small_vocab(void) {
    tokenizer *t = NULL;
    char err[PLOW_ERR_LEN] = "";
    const uint8_t *text = (const uint8_t *)"the cat sat on the mat, the end";
    CHECK(tokenizer_train(&t, text, strlen((const char *)text), 270, on_progress, &progress_calls,
                          err) == 0);
    CHECK(progress_calls == 13 && progress_last == 13 && progress_total == 13 && !progress_bad);
    tokenizer_free(t);

    /* "aaaa": (a,a) then (aa,aa), then nothing is left to merge. */
    const uint8_t *aaaa = (const uint8_t *)"aaaa";
    CHECK(tokenizer_train(&t, aaaa, 4, 259, NULL, NULL, err) == 0);
    int l, r;
    const uint8_t *tb;
    size_t tl;
    CHECK(tokenizer_merge_pair(t, 256, &l, &r) == 0 && l == 'a' && r == 'a');
    CHECK(tokenizer_merge_pair(t, 257, &l, &r) == 0 && l == 256 && r == 256);
    CHECK(tokenizer_token_bytes(t, 257, &tb, &tl) == 0 && tl == 4 && memcmp(tb, "aaaa", 4) == 0);
    tokenizer_free(t);
    t = NULL;
    CHECK(tokenizer_train(&t, aaaa, 4, 260, NULL, NULL, err) != 0 && !t);
    CHECKF(strstr(err, "too small") != NULL, "%s", err);
    CHECK(tokenizer_train(&t, aaaa, 0, 258, NULL, NULL, err) != 0 && !t);

    static const int bad[] = {INT_MIN, -1, 0, 256, 257, 65537, INT_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(tokenizer_train(&t, text, 10, bad[i], NULL, NULL, err) != 0 && !t);
        CHECKF(strstr(err, "vocab size") != NULL, "V=%d: '%s'", bad[i], err);
    }
}

static void test_decode_and_accessors(void) {
    const uint8_t *text = (const uint8_t *)"hi hi hi ho ho";
    tokenizer *t = train(text, strlen((const char *)text), 260);
    if (!t) return;
    int V = tokenizer_vocab_size(t), eot = tokenizer_eot(t);
    CHECK(V == 260 && eot == 259);
    char err[PLOW_ERR_LEN];
    uint8_t *out = NULL;
    size_t nout = 99;
    const int32_t bad[][2] = {{-1, 'a'}, {'a', 260}, {INT32_MAX, 0}, {INT32_MIN, 0}};
    for (size_t i = 0; i < 4; i++) {
        err[0] = 0;
        CHECK(tokenizer_decode(t, bad[i], 2, &out, &nout, err) != 0 && !out && nout == 0);
        CHECKF(strstr(err, "out of range") && strstr(err, i == 1 ? "position 1" : "position 0"),
               "'%s'", err);
    }
    const int32_t with_eot[] = {'h', eot, 'i', eot};
    CHECK(tokenizer_decode(t, with_eot, 4, &out, &nout, err) == 0);
    CHECK(nout == 2 && memcmp(out, "hi", 2) == 0);
    free(out);
    CHECK(tokenizer_decode(t, with_eot, 0, &out, &nout, err) == 0 && out && nout == 0);
    free(out);

    const uint8_t *tb;
    size_t tl;
    CHECK(tokenizer_token_bytes(t, eot, &tb, &tl) == 0 && tl == 13 && !memcmp(tb, "<|endoftext|>", 13));
    CHECK(tokenizer_token_bytes(t, 'x', &tb, &tl) == 0 && tl == 1 && tb[0] == 'x');
    CHECK(tokenizer_token_bytes(t, -1, &tb, &tl) != 0 && tokenizer_token_bytes(t, V, &tb, &tl) != 0);
    int l, r;
    CHECK(tokenizer_merge_pair(t, 255, &l, &r) != 0 && tokenizer_merge_pair(t, eot, &l, &r) != 0);
    /* " h" x4 first; then " hi" and " ho" tie at 2 and the smaller pair wins. */
    CHECK(tokenizer_merge_pair(t, 256, &l, &r) == 0 && l == ' ' && r == 'h');
    CHECK(tokenizer_merge_pair(t, 257, &l, &r) == 0 && l == 256 && r == 'i');
    CHECK(tokenizer_merge_pair(t, 258, &l, &r) == 0 && l == 256 && r == 'o');
    tokenizer_free(t);
}

static void test_save_load(void) {
    size_t n;
    uint8_t *d = corpus(60000, &n);
    if (!d) return;
    tokenizer *t = train(d, n, 600), *u = NULL;
    char path[512], err[PLOW_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/tok.bin", test_tmpdir());
    if (t) {
        CHECKF(tokenizer_save(t, path, err) == 0, "%s", err);
        CHECKF(tokenizer_load(&u, path, err) == 0, "%s", err);
    }
    if (t && u) {
        CHECK(same_hash(t, u));
        uint8_t *file;
        size_t nfile;
        plow_buf b = {0};
        tokenizer_serialize(t, &b);
        CHECK(plow_read_file(path, 1 << 20, &file, &nfile, err) == 0);
        CHECK(nfile == b.len && nfile == 20 + 8 * (600 - 257) + 32 && !memcmp(file, b.data, nfile));
        uint8_t h[PLOW_HASH_LEN], hf[PLOW_HASH_LEN];
        tokenizer_hash(t, h);
        plow_sha256_once(file, nfile, hf);
        CHECK(memcmp(h, hf, PLOW_HASH_LEN) == 0);
        free(file);
        plow_buf_release(&b);
        int32_t *ia, *ib;
        size_t na, nb;
        CHECK(tokenizer_encode(t, d, n, &ia, &na, err) == 0);
        CHECK(tokenizer_encode(u, d, n, &ib, &nb, err) == 0);
        CHECK(na == nb && memcmp(ia, ib, na * sizeof *ia) == 0);
        free(ia);
        free(ib);
    }
    tokenizer_free(u);
    u = NULL;
    snprintf(path, sizeof path, "%s/missing.bin", test_tmpdir());
    CHECK(tokenizer_load(&u, path, err) != 0 && !u && strstr(err, "missing.bin"));
    tokenizer_free(t);
    free(d);
}

/* Rewrites the trailing checksum so a test reaches the check behind it. */
static void reseal(plow_buf *b) {
    plow_sha256_once(b->data, b->len - PLOW_HASH_LEN, b->data + b->len - PLOW_HASH_LEN);
}

static void expect_parse_error(const plow_buf *b, const char *needle, int line) {
    tokenizer *t = NULL;
    char err[PLOW_ERR_LEN] = "";
    int rc = tokenizer_parse(&t, b->data, b->len, err);
    if (rc == 0 || t || !strstr(err, needle))
        test_fail(__FILE__, line, "expected an error with '%s', got rc=%d '%s'", needle, rc, err);
    tokenizer_free(t);
}

static void test_malformed(void) {
    const uint8_t *text = (const uint8_t *)"the cat sat on the mat, the end";
    tokenizer *t = train(text, strlen((const char *)text), 270);
    if (!t) return;
    plow_buf good = {0}, b = {0};
    tokenizer_serialize(t, &good);
    PLOW_ASSERT(good.len == 20 + 13 * 8 + 32);
    char err[PLOW_ERR_LEN];
    tokenizer *u = NULL;
    CHECK(tokenizer_parse(&u, good.data, good.len, err) == 0 && u && same_hash(t, u));
    tokenizer_free(u);

    /* Every truncation, every single flipped byte. */
    for (size_t len = 0; len < good.len; len++) {
        u = NULL;
        err[0] = 0;
        CHECKF(tokenizer_parse(&u, good.data, len, err) != 0 && !u && strstr(err, "truncated"),
               "length %zu: '%s'", len, err);
    }
    for (size_t i = 0; i < good.len; i++) {
        b.len = 0;
        plow_buf_append(&b, good.data, good.len);
        b.data[i] ^= 0x20;
        u = NULL;
        err[0] = 0;
        CHECKF(tokenizer_parse(&u, b.data, b.len, err) != 0 && !u && err[0], "flip at %zu", i);
    }
    b.len = 0;
    plow_buf_append(&b, good.data, good.len);
    b.data[b.len - 1] ^= 1;
    expect_parse_error(&b, "checksum", __LINE__);

#define RESET() (b.len = 0, plow_buf_append(&b, good.data, good.len))
    RESET();
    b.data[0] = 'X';
    reseal(&b);
    expect_parse_error(&b, "magic", __LINE__);
    RESET();
    plow_put_u32(b.data + 8, 2);
    reseal(&b);
    expect_parse_error(&b, "version", __LINE__);
    RESET();
    plow_put_u32(b.data + 12, 271); /* vocab no longer matches the merge count */
    reseal(&b);
    expect_parse_error(&b, "merge count", __LINE__);
    RESET();
    plow_put_u32(b.data + 16, 12);
    reseal(&b);
    expect_parse_error(&b, "merge count", __LINE__);
    RESET();
    plow_put_u32(b.data + 12, 65537);
    reseal(&b);
    expect_parse_error(&b, "out of range", __LINE__);
    RESET();
    plow_put_u32(b.data + 12, 0xffffffffu);
    reseal(&b);
    expect_parse_error(&b, "out of range", __LINE__);
    RESET();
    plow_put_u32(b.data + 20 + 8 * 3, 256 + 3); /* merge 3 uses its own id */
    reseal(&b);
    expect_parse_error(&b, "not defined before", __LINE__);
    RESET();
    plow_put_u32(b.data + 20 + 8 * 5 + 4, 268); /* merge 5 uses a later id */
    reseal(&b);
    expect_parse_error(&b, "not defined before", __LINE__);
    RESET();
    plow_put_u32(b.data + 20 + 8 * 7 + 4, 269); /* merge 7 uses the EOT id */
    reseal(&b);
    expect_parse_error(&b, "not defined before", __LINE__);
    RESET();
    memcpy(b.data + 20 + 8 * 6, b.data + 20 + 8 * 2, 8); /* merge 6 repeats merge 2 */
    reseal(&b);
    expect_parse_error(&b, "repeats", __LINE__);
    RESET();
    plow_buf_append(&b, "x", 1);
    expect_parse_error(&b, "trailing", __LINE__);
    RESET();
    reseal(&b); /* still intact after resealing: the edits above were what failed */
    u = NULL;
    CHECK(tokenizer_parse(&u, b.data, b.len, err) == 0 && u);
    tokenizer_free(u);
#undef RESET

    /* A hostile file whose tokens double in length at every merge. */
    b.len = 0;
    plow_buf_append(&b, "PLOWBPE", 8);
    plow_buf_u32(&b, 1);
    plow_buf_u32(&b, 400);
    plow_buf_u32(&b, 400 - 257);
    for (uint32_t k = 0; k < 400 - 257; k++) {
        plow_buf_u32(&b, k ? 255 + k : 'a');
        plow_buf_u32(&b, k ? 255 + k : 'a');
    }
    plow_buf_append(&b, good.data, PLOW_HASH_LEN);
    reseal(&b);
    expect_parse_error(&b, "bytes in all", __LINE__);

    plow_buf_release(&b);
    plow_buf_release(&good);
    tokenizer_free(t);
}

const test_case tokenizer_tests[] = {
    {"tokenizer_chunks", test_chunks},
    {"tokenizer_pretokenize_reference", test_pretokenize_reference},
    {"tokenizer_llama_cpp_example", test_llama_cpp_example},
    {"tokenizer_train_matches_reference", test_train_matches_reference},
    {"tokenizer_encode_matches_reference", test_encode_matches_reference},
    {"tokenizer_roundtrip", test_roundtrip},
    {"tokenizer_deterministic", test_deterministic},
    {"tokenizer_compression", test_compression},
    {"tokenizer_progress_and_small_vocab", test_progress_and_small_vocab},
    {"tokenizer_decode_and_accessors", test_decode_and_accessors},
    {"tokenizer_save_load", test_save_load},
    {"tokenizer_malformed", test_malformed},
    {NULL, NULL},
};
