/*
 * prefs.c — preference pairs: a strict JSONL parser (its own small JSON
 * reader: the format has one shape, and lengths must survive \u0000), the
 * pair encoding, the batch sampler and the corpus generator.
 */
#include "prefs.h"

#include "../tensor/tensor.h"

/* ---- UTF-8 and JSON strings -------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07u, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static void put_utf8(plow_buf *b, uint32_t cp) {
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) u[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
        u[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
        u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
    plow_buf_append(b, u, n);
}

static int hex4(const uint8_t *s, size_t n, size_t at, uint32_t *out) {
    if (at + 4 > n) return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        uint8_t c = s[at + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* A JSON string starting at s[*pos] == '"': decoded bytes appended to out,
 * *pos moved past the closing quote. On error *why says what. */
static int json_string(const uint8_t *s, size_t n, size_t *pos, plow_buf *out, const char **why) {
    size_t i = *pos + 1;
    for (;;) {
        if (i >= n) return *why = "unterminated string", -1;
        uint8_t c = s[i];
        if (c == '"') break;
        if (c < 0x20) return *why = "raw control character in a string", -1;
        if (c == '\\') {
            if (i + 1 >= n) return *why = "unterminated escape", -1;
            uint8_t e = s[i + 1];
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *k = e ? strchr(from, e) : NULL;
            if (k) {
                plow_buf_append(out, &to[k - from], 1);
                i += 2;
                continue;
            }
            if (e != 'u') return *why = "bad escape", -1;
            uint32_t cp;
            if (hex4(s, n, i + 2, &cp)) return *why = "bad \\u escape", -1;
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return *why = "lone low surrogate", -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (i + 1 >= n || s[i] != '\\' || s[i + 1] != 'u' || hex4(s, n, i + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return *why = "high surrogate without its low half", -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            put_utf8(out, cp);
            continue;
        }
        size_t len = utf8_seq(s + i, n - i);
        if (!len) return *why = "invalid UTF-8", -1;
        plow_buf_append(out, s + i, len);
        i += len;
    }
    *pos = i + 1;
    return 0;
}

void prefs_json_string(plow_buf *b, const uint8_t *s, size_t n) {
    plow_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        if (!esc && c >= 0x20) {
            run++;
            continue;
        }
        plow_buf_append(b, s + i - run, run);
        run = 0;
        if (esc) plow_buf_append(b, esc, strlen(esc));
        else plow_buf_printf(b, "\\u%04x", c);
    }
    plow_buf_append(b, s + n - run, run);
    plow_buf_append(b, "\"", 1);
}

/* ---- the parser ------------------------------------------------------------ */

static const char *const FIELD[3] = {"prompt", "chosen", "rejected"};

static size_t skip_ws(const uint8_t *s, size_t n, size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    return i;
}

/* One line s[0..n) into the three fields. */
static int parse_line(const uint8_t *s, size_t n, plow_buf f[3], size_t line, char err[PLOW_ERR_LEN]) {
    const char *why = NULL;
    bool seen[3] = {false, false, false};
    size_t i = skip_ws(s, n, 0);
    if (i == n) return plow_error(err, "prefs: line %zu: empty line", line);
    if (s[i] != '{') return plow_error(err, "prefs: line %zu: not a JSON object", line);
    i = skip_ws(s, n, i + 1);
    if (i < n && s[i] == '}') return plow_error(err, "prefs: line %zu: missing member 'prompt'", line);
    for (;;) {
        if (i >= n || s[i] != '"') return plow_error(err, "prefs: line %zu: expected a member name", line);
        plow_buf key = {0};
        if (json_string(s, n, &i, &key, &why)) {
            plow_buf_release(&key);
            return plow_error(err, "prefs: line %zu: %s", line, why);
        }
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (key.len == strlen(FIELD[j]) && memcmp(key.data, FIELD[j], key.len) == 0) k = j;
        plow_buf_release(&key);
        if (k < 0) return plow_error(err, "prefs: line %zu: unknown member (only prompt, chosen, rejected)", line);
        if (seen[k]) return plow_error(err, "prefs: line %zu: duplicate member '%s'", line, FIELD[k]);
        seen[k] = true;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':') return plow_error(err, "prefs: line %zu: expected ':' after '%s'", line, FIELD[k]);
        i = skip_ws(s, n, i + 1);
        if (i >= n || s[i] != '"') return plow_error(err, "prefs: line %zu: '%s' must be a string", line, FIELD[k]);
        if (json_string(s, n, &i, &f[k], &why))
            return plow_error(err, "prefs: line %zu: '%s': %s", line, FIELD[k], why);
        i = skip_ws(s, n, i);
        if (i < n && s[i] == ',') {
            i = skip_ws(s, n, i + 1);
            continue;
        }
        if (i < n && s[i] == '}') break;
        return plow_error(err, "prefs: line %zu: expected ',' or '}'", line);
    }
    if (skip_ws(s, n, i + 1) != n) return plow_error(err, "prefs: line %zu: characters after the object", line);
    for (int j = 0; j < 3; j++)
        if (!seen[j]) return plow_error(err, "prefs: line %zu: missing member '%s'", line, FIELD[j]);
    return 0;
}

typedef struct tok_vec {
    int32_t *p;
    size_t n, cap;
} tok_vec;

static size_t tok_push(tok_vec *v, const int32_t *ids, size_t n) {
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 4096;
        while (cap < v->n + n) cap *= 2;
        v->p = plow_realloc(v->p, cap * sizeof(int32_t));
        v->cap = cap;
    }
    size_t at = v->n;
    if (n) memcpy(v->p + at, ids, n * sizeof(int32_t));
    v->n += n;
    return at;
}

int prefs_parse(prefs **out, const uint8_t *data, size_t n, const tokenizer *tok, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (n > PREFS_MAX_BYTES) return plow_error(err, "prefs: larger than %zu bytes", PREFS_MAX_BYTES);
    prefs *p = plow_calloc(1, sizeof *p);
    tok_vec tv = {0};
    size_t cap = 0, line = 0;
    plow_buf f[3] = {{0}, {0}, {0}};
    int rc = -1;
    for (size_t at = 0; at < n;) {
        const uint8_t *nl = memchr(data + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - data) : n;
        line++;
        for (int j = 0; j < 3; j++) f[j].len = 0;
        if (parse_line(data + at, end - at, f, line, err)) goto out;
        if (f[1].len == f[2].len && (f[1].len == 0 || memcmp(f[1].data, f[2].data, f[1].len) == 0)) {
            plow_error(err, "prefs: line %zu: chosen and rejected are the same text", line);
            goto out;
        }
        if (p->n == PREFS_MAX_PAIRS) {
            plow_error(err, "prefs: more than %zu pairs", PREFS_MAX_PAIRS);
            goto out;
        }
        if (p->n == cap) {
            cap = cap ? cap * 2 : 256;
            p->pairs = plow_realloc(p->pairs, cap * sizeof *p->pairs);
        }
        prefs_pair *pp = &p->pairs[p->n];
        size_t *offs[3] = {&pp->prompt, &pp->chosen, &pp->rejected};
        uint32_t *lens[3] = {&pp->n_prompt, &pp->n_chosen, &pp->n_rejected};
        for (int j = 0; j < 3; j++) {
            int32_t *ids;
            size_t nids;
            char e2[PLOW_ERR_LEN];
            if (tokenizer_encode(tok, f[j].len ? f[j].data : (const uint8_t *)"", f[j].len, &ids, &nids, e2)) {
                plow_error(err, "prefs: line %zu: '%s': %s", line, FIELD[j], e2);
                goto out;
            }
            if (nids == 0) {
                free(ids);
                plow_error(err, "prefs: line %zu: '%s' is empty", line, FIELD[j]);
                goto out;
            }
            *offs[j] = tok_push(&tv, ids, nids);
            *lens[j] = (uint32_t)nids;
            free(ids);
        }
        p->n++;
        at = nl ? end + 1 : n;
    }
    if (p->n == 0) {
        plow_error(err, "prefs: no pairs");
        goto out;
    }
    uint8_t fh[PLOW_HASH_LEN], th[PLOW_HASH_LEN];
    plow_sha256_once(data, n, fh);
    tokenizer_hash(tok, th);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.prefs.v1";
    plow_sha256_update(h, tag, sizeof tag);
    plow_sha256_update(h, fh, sizeof fh);
    plow_sha256_update(h, th, sizeof th);
    plow_sha256_final(h, p->hash);
    p->tokens = tv.p;
    p->n_tokens = tv.n;
    tv.p = NULL;
    *out = p;
    p = NULL;
    rc = 0;
out:
    for (int j = 0; j < 3; j++) plow_buf_release(&f[j]);
    free(tv.p);
    prefs_free(p);
    return rc;
}

int prefs_load(prefs **out, const char *path, const tokenizer *tok, char err[PLOW_ERR_LEN]) {
    uint8_t *buf;
    size_t n;
    *out = NULL;
    if (plow_read_file(path, PREFS_MAX_BYTES, &buf, &n, err)) return -1;
    int rc = prefs_parse(out, buf, n, tok, err);
    free(buf);
    return rc;
}

void prefs_free(prefs *p) {
    if (!p) return;
    free(p->pairs);
    free(p->tokens);
    free(p);
}

/* ---- encoding and batches ---------------------------------------------------- */

static void encode_row(const int32_t *prompt, size_t keep_p, const int32_t *resp, size_t keep_r, int T, int32_t *x,
                       int32_t *y, int32_t *span) {
    size_t len = keep_p + keep_r; /* <= T + 1 */
    for (int t = 0; t < T; t++) {
        size_t a = (size_t)t, b = (size_t)t + 1;
        x[t] = a < len ? (a < keep_p ? prompt[a] : resp[a - keep_p]) : 0;
        y[t] = b < len ? (b < keep_p ? prompt[b] : resp[b - keep_p]) : 0;
    }
    span[0] = (int32_t)keep_p - 1;
    span[1] = (int32_t)len - 1;
}

void prefs_encode(const prefs *p, size_t i, int T, int32_t *x, int32_t *y, int32_t span[4]) {
    PLOW_ASSERT(i < p->n && T >= 1);
    const prefs_pair *pp = &p->pairs[i];
    size_t L = (size_t)T + 1, P = pp->n_prompt;
    size_t R = pp->n_chosen > pp->n_rejected ? pp->n_chosen : pp->n_rejected;
    size_t half = L / 2, rest = L > R ? L - R : 0;
    size_t keep_p = half > rest ? half : rest;
    if (keep_p > P) keep_p = P;
    const int32_t *prompt = p->tokens + pp->prompt + (P - keep_p);
    size_t kc = pp->n_chosen < L - keep_p ? pp->n_chosen : L - keep_p;
    size_t kr = pp->n_rejected < L - keep_p ? pp->n_rejected : L - keep_p;
    encode_row(prompt, keep_p, p->tokens + pp->chosen, kc, T, x, y, span);
    encode_row(prompt, keep_p, p->tokens + pp->rejected, kr, T, x + T, y + T, span + 2);
}

void prefs_batch(const prefs *p, uint64_t seed, uint32_t purpose, uint32_t step, int B, int T, int32_t *x,
                 int32_t *y, int32_t *span) {
    uint8_t kb[16 + PLOW_HASH_LEN + 8], kh[PLOW_HASH_LEN];
    memcpy(kb, "plow.pairs.v1\0\0\0", 16);
    memcpy(kb + 16, p->hash, PLOW_HASH_LEN);
    plow_put_u64(kb + 16 + PLOW_HASH_LEN, seed);
    plow_sha256_once(kb, sizeof kb, kh);
    tensor_rng_key key = {plow_get_u64(kh), purpose, step};
    for (int b = 0; b < B; b++) {
        uint32_t r[4];
        tensor_philox(key, (uint64_t)b, r);
        size_t i = (size_t)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)p->n);
        size_t o = (size_t)2 * b * T;
        prefs_encode(p, i, T, x + o, y + o, span + 4 * b);
    }
}

/* ---- the corpus generator ------------------------------------------------------ */

enum { GEN_PURPOSE_ORDER = 64, GEN_PURPOSE_SHUFFLE = 66, GEN_PURPOSE_OTHER = 68 };
#define GEN_OTHER_DISTANCE 1000 /* lines */

typedef struct gen_line {
    size_t start, len; /* without the '\n' and a trailing '\r' */
} gen_line;

typedef struct gen_word {
    size_t start, len;
} gen_word;

static size_t line_words(const uint8_t *t, const gen_line *l, gen_word *w, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < l->len;) {
        while (i < l->len && (t[l->start + i] == ' ' || t[l->start + i] == '\t')) i++;
        size_t s = i;
        while (i < l->len && t[l->start + i] != ' ' && t[l->start + i] != '\t') i++;
        if (i > s) {
            if (n < max) w[n] = (gen_word){l->start + s, i - s};
            n++;
        }
    }
    return n;
}

static bool words_equal(const uint8_t *t, gen_word a, gen_word b) {
    return a.len == b.len && memcmp(t + a.start, t + b.start, a.len) == 0;
}

static void put_words(plow_buf *b, const uint8_t *t, const gen_word *w, const size_t *order, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) plow_buf_append(b, " ", 1);
        gen_word x = w[order ? order[i] : i];
        plow_buf_append(b, t + x.start, x.len);
    }
    plow_buf_append(b, "\n", 1);
}

static uint64_t draw(uint64_t seed, uint32_t purpose, uint32_t step, uint64_t index, uint64_t range) {
    uint32_t r[4];
    tensor_philox((tensor_rng_key){seed, purpose, step}, index, r);
    return ((((uint64_t)r[0] << 32) | r[1]) % range);
}

#define GEN_MAX_WORDS 256

/* One pair from candidate c (line index of the prompt) of region set `cand`. */
static int gen_pair(const uint8_t *t, const gen_line *lines, const size_t *cand, size_t n_cand, size_t c,
                    uint64_t seed, uint32_t region, uint32_t j, prefs_corruption how, plow_buf *out) {
    gen_word w[GEN_MAX_WORDS], w2[GEN_MAX_WORDS];
    size_t order[GEN_MAX_WORDS];
    size_t nw = line_words(t, &lines[c + 1], w, GEN_MAX_WORDS);
    plow_buf prompt = {0}, chosen = {0}, rejected = {0};
    plow_buf_append(&prompt, t + lines[c].start, lines[c].len);
    plow_buf_append(&prompt, "\n", 1);
    put_words(&chosen, t, w, NULL, nw);
    bool shuffle = how == PREFS_SHUFFLED || (how == PREFS_MIXED && j % 2 == 0);
    int rc = 0;
    if (shuffle) {
        for (size_t i = 0; i < nw; i++) order[i] = i;
        for (size_t i = nw - 1; i > 0; i--) { /* Fisher-Yates */
            size_t k = (size_t)draw(seed, GEN_PURPOSE_SHUFFLE + region, j, i, i + 1);
            size_t tmp = order[i];
            order[i] = order[k];
            order[k] = tmp;
        }
        bool same = true;
        for (size_t i = 0; i < nw && same; i++) same = words_equal(t, w[order[i]], w[i]);
        if (same) { /* rotate by one: differs since the words are not all equal */
            size_t first = order[0];
            memmove(order, order + 1, (nw - 1) * sizeof order[0]);
            order[nw - 1] = first;
        }
        put_words(&rejected, t, w, order, nw);
    } else {
        rc = -1;
        for (uint64_t a = 0; a < 256 && rc; a++) {
            size_t o = cand[draw(seed, GEN_PURPOSE_OTHER + region, j, a, n_cand)];
            size_t dist = o > c ? o - c : c - o;
            if (dist < GEN_OTHER_DISTANCE) continue;
            size_t n2 = line_words(t, &lines[o + 1], w2, GEN_MAX_WORDS);
            rejected.len = 0;
            put_words(&rejected, t, w2, NULL, n2);
            if (rejected.len != chosen.len || memcmp(rejected.data, chosen.data, chosen.len) != 0) rc = 0;
        }
    }
    if (rc == 0) {
        plow_buf_append(out, "{\"prompt\":", 10);
        prefs_json_string(out, prompt.data, prompt.len);
        plow_buf_append(out, ",\"chosen\":", 10);
        prefs_json_string(out, chosen.data, chosen.len);
        plow_buf_append(out, ",\"rejected\":", 12);
        prefs_json_string(out, rejected.data, rejected.len);
        plow_buf_append(out, "}\n", 2);
    }
    plow_buf_release(&prompt);
    plow_buf_release(&chosen);
    plow_buf_release(&rejected);
    return rc;
}

int prefs_generate(const uint8_t *text, size_t n, uint64_t seed, prefs_corruption how, double val_frac,
                   size_t n_train, size_t n_val, plow_buf *train, plow_buf *val, char err[PLOW_ERR_LEN]) {
    if (!(val_frac > 0 && val_frac < 1)) return plow_error(err, "prefs: val_frac must be in (0, 1)");
    if (how != PREFS_SHUFFLED && how != PREFS_OTHER && how != PREFS_MIXED)
        return plow_error(err, "prefs: unknown corruption");
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(text + i, n - i);
        if (!len || text[i] == 0) return plow_error(err, "prefs: the text is not UTF-8 without NUL bytes (byte %zu)", i);
        i += len;
    }
    size_t n_lines = 0, cap = 0;
    gen_line *lines = NULL;
    for (size_t at = 0; at < n;) {
        const uint8_t *nl = memchr(text + at, '\n', n - at);
        size_t end = nl ? (size_t)(nl - text) : n;
        if (n_lines == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = plow_realloc(lines, cap * sizeof *lines);
        }
        size_t len = end - at;
        if (len && text[end - 1] == '\r') len--;
        lines[n_lines++] = (gen_line){at, len};
        at = nl ? end + 1 : n;
    }
    size_t cut = n - (size_t)((double)n * val_frac);
    size_t *cand[2] = {plow_alloc((n_lines + 1) * sizeof(size_t)), plow_alloc((n_lines + 1) * sizeof(size_t))};
    size_t n_cand[2] = {0, 0};
    gen_word w[GEN_MAX_WORDS];
    for (size_t i = 0; i + 1 < n_lines; i++) {
        if (line_words(text, &lines[i], w, GEN_MAX_WORDS) == 0) continue;
        size_t nw = line_words(text, &lines[i + 1], w, GEN_MAX_WORDS);
        if (nw < 4 || nw > GEN_MAX_WORDS) continue;
        bool all_same = true;
        for (size_t k = 1; k < nw && all_same; k++) all_same = words_equal(text, w[k], w[0]);
        if (all_same) continue;
        if (lines[i + 1].start + lines[i + 1].len <= cut) cand[0][n_cand[0]++] = i;
        else if (lines[i].start >= cut) cand[1][n_cand[1]++] = i;
    }
    size_t want[2] = {n_train, n_val};
    plow_buf *outs[2] = {train, val};
    int rc = 0;
    for (uint32_t r = 0; r < 2 && rc == 0; r++) {
        if (want[r] > n_cand[r]) {
            rc = plow_error(err, "prefs: %zu %s pairs asked, the text has %zu candidates", want[r],
                            r ? "held-out" : "train", n_cand[r]);
            break;
        }
        /* a seeded permutation of the candidates (partial Fisher-Yates) */
        size_t *perm = plow_alloc((n_cand[r] + 1) * sizeof(size_t));
        memcpy(perm, cand[r], n_cand[r] * sizeof(size_t));
        for (size_t j = 0; j < want[r]; j++) {
            size_t k = j + (size_t)draw(seed, GEN_PURPOSE_ORDER + r, 0, j, n_cand[r] - j);
            size_t tmp = perm[j];
            perm[j] = perm[k];
            perm[k] = tmp;
            if (gen_pair(text, lines, cand[r], n_cand[r], perm[j], seed, r, (uint32_t)j, how, outs[r])) {
                rc = plow_error(err, "prefs: no line at least %d lines away from line %zu for an 'other' pair",
                                GEN_OTHER_DISTANCE, perm[j] + 2);
                break;
            }
        }
        free(perm);
    }
    free(cand[0]);
    free(cand[1]);
    free(lines);
    return rc;
}
