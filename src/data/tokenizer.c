/*
 * tokenizer.c — byte-level BPE: pre-tokenization, training, encoding,
 * decoding and the PLOWBPE file format (docs/formats/tokenizer.md).
 *
 * Training keeps, for every adjacent pair of symbols, its count over the
 * corpus and a list of the unique chunks ("words") that may contain it. A
 * merge rewrites only the words on the merged pair's list and adjusts the
 * counts of the pairs around each occurrence, so each step costs what it
 * touches, not the corpus size. A max-heap ordered by (count, then the
 * smallest pair) picks the next merge; no result depends on the order of a
 * hash table. The flip side: a step rewrites whole words, so a corpus that is
 * one giant chunk (a megabyte of letters, no spaces) trains in seconds, not
 * milliseconds.
 *
 * Encoding runs BPE per chunk with a min-heap of (merge rank, position), so
 * a pathological chunk (a megabyte of letters) costs O(L log L), not O(L^2);
 * repeated chunks are served from a per-call cache.
 *
 * Pre-tokenization is GPT-2's pattern over Unicode classes (unicode.h);
 * bytes that are not well-formed UTF-8 are kept as they are, each a class
 * OTHER unit of its own, so decode(encode(s)) == s for any bytes.
 *
 * Non-goals: special tokens other than <|endoftext|>, configurable split
 * rules, normalization.
 */
#include "../base/plow.h"

#include "tokenizer.h"
#include "unicode.h"

struct tokenizer {
    int V;               /* vocab size */
    int nmerges;         /* V - 257 */
    uint32_t *merges;    /* (nmerges, 2): left, right of id 256+k */
    uint32_t *tok_off;   /* (V-1): where the bytes of ids 0..V-2 start in tok_bytes */
    uint32_t *tok_len;   /* (V-1) */
    uint8_t *tok_bytes;  /* bytes of ids 0..V-2, concatenated */
    uint64_t *rank_keys; /* pair -> merge index, open addressing, (rank_mask+1) slots */
    int32_t *rank_vals;  /* -1 marks an empty slot */
    size_t rank_mask;
};

/* ---------------------------------------------------------------- helpers */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Hashes only place keys in tables; every lookup compares the full key, so
 * the values (and the host's endianness) never reach a result. */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = mix64(0x9e3779b97f4a7c15ULL ^ n);
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w);
    }
    uint64_t w = 0;
    if (n) memcpy(&w, p, n);
    return mix64(h ^ w);
}

static uint64_t pair_key(uint32_t left, uint32_t right) {
    return (uint64_t)left << 32 | right;
}

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p *= 2;
    return p;
}

/* ------------------------------------------------------ pre-tokenization */

/* The text is read as units: a well-formed UTF-8 sequence is one unit with
 * its code point's class; a byte that starts none is a unit of its own, of
 * class OTHER (as U+FFFD, which llama.cpp puts in its place, is). */
typedef struct {
    size_t len; /* bytes, 1..4 */
    int cls;    /* UNICODE_* */
} unit;

/* ASCII classes without the table: the common case. */
static const uint8_t ascii_class[128] = {
    ['\t'] = UNICODE_SPACE, ['\n'] = UNICODE_SPACE, ['\v'] = UNICODE_SPACE,
    ['\f'] = UNICODE_SPACE, ['\r'] = UNICODE_SPACE, [' '] = UNICODE_SPACE,
    ['0'] = UNICODE_NUMBER, ['1'] = UNICODE_NUMBER, ['2'] = UNICODE_NUMBER,
    ['3'] = UNICODE_NUMBER, ['4'] = UNICODE_NUMBER, ['5'] = UNICODE_NUMBER,
    ['6'] = UNICODE_NUMBER, ['7'] = UNICODE_NUMBER, ['8'] = UNICODE_NUMBER,
    ['9'] = UNICODE_NUMBER,
#define L2(a, b) [a] = UNICODE_LETTER, [b] = UNICODE_LETTER
    L2('a', 'A'), L2('b', 'B'), L2('c', 'C'), L2('d', 'D'), L2('e', 'E'), L2('f', 'F'),
    L2('g', 'G'), L2('h', 'H'), L2('i', 'I'), L2('j', 'J'), L2('k', 'K'), L2('l', 'L'),
    L2('m', 'M'), L2('n', 'N'), L2('o', 'O'), L2('p', 'P'), L2('q', 'Q'), L2('r', 'R'),
    L2('s', 'S'), L2('t', 'T'), L2('u', 'U'), L2('v', 'V'), L2('w', 'W'), L2('x', 'X'),
    L2('y', 'Y'), L2('z', 'Z'),
#undef L2
};

static unit unit_at(const uint8_t *s, size_t n, size_t i) {
    if (s[i] < 0x80) return (unit){1, ascii_class[s[i]]};
    uint32_t cp;
    size_t len = unicode_utf8_decode(s + i, n - i, &cp);
    return len ? (unit){len, unicode_class(cp)} : (unit){1, UNICODE_OTHER};
}

/* Length of the contraction starting at s[i] == '\'', or 0. */
static size_t contraction_len(const uint8_t *s, size_t n, size_t i) {
    if (i + 1 >= n) return 0;
    uint8_t a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= n) return 0;
    uint8_t b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

size_t tokenizer_chunk_end(const uint8_t *s, size_t n, size_t start) {
    PLOW_ASSERT(start < n);
    if (s[start] == '\'') {
        size_t k = contraction_len(s, n, start);
        if (k) return start + k;
    }
    /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": one U+0020 joins the run. */
    size_t j = start;
    unit u = unit_at(s, n, j);
    if (s[j] == ' ' && j + 1 < n) {
        unit v = unit_at(s, n, j + 1);
        if (v.cls != UNICODE_SPACE) {
            j++;
            u = v;
        }
    }
    if (u.cls != UNICODE_SPACE) {
        int c = u.cls;
        for (j += u.len; j < n; j += u.len) {
            u = unit_at(s, n, j);
            if (u.cls != c) break;
        }
        return j;
    }
    /* A whitespace run; when a non-space follows a run of two or more, its
     * last code point is left to start the next chunk ("\s+(?!\S)|\s+"). */
    size_t r = start, last = start, count = 0;
    while (r < n && (u = unit_at(s, n, r)).cls == UNICODE_SPACE) {
        last = r;
        r += u.len;
        count++;
    }
    if (r == n || count == 1) return r;
    return last;
}

/* ------------------------------------------------------ building, format */

static int32_t rank_get(const tokenizer *t, uint32_t left, uint32_t right) {
    uint64_t key = pair_key(left, right);
    for (size_t i = mix64(key) & t->rank_mask;; i = (i + 1) & t->rank_mask) {
        int32_t v = t->rank_vals[i];
        if (v < 0) return -1;
        if (t->rank_keys[i] == key) return v;
    }
}

/* Inserts pair -> k unless the pair is there already; returns the existing
 * merge index, or -1 if it was inserted. */
static int32_t rank_put(tokenizer *t, uint32_t left, uint32_t right, int32_t k) {
    uint64_t key = pair_key(left, right);
    size_t i = mix64(key) & t->rank_mask;
    for (; t->rank_vals[i] >= 0; i = (i + 1) & t->rank_mask)
        if (t->rank_keys[i] == key) return t->rank_vals[i];
    t->rank_keys[i] = key;
    t->rank_vals[i] = k;
    return -1;
}

/* The one constructor: validates a merge list (taking ownership of it) and
 * builds the lookup tables. Used by training and by the parser alike. */
static int tokenizer_build(tokenizer **out, int V, uint32_t *merges, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    PLOW_ASSERT(V >= TOKENIZER_MIN_VOCAB && V <= TOKENIZER_MAX_VOCAB);
    tokenizer *t = plow_calloc(1, sizeof *t);
    t->V = V;
    t->nmerges = V - 257;
    t->merges = merges;
    size_t slots = pow2_at_least(2 * (size_t)t->nmerges);
    t->rank_mask = slots - 1;
    t->rank_keys = plow_alloc(slots * sizeof *t->rank_keys);
    t->rank_vals = plow_alloc(slots * sizeof *t->rank_vals);
    memset(t->rank_vals, 0xff, slots * sizeof *t->rank_vals);
    t->tok_off = plow_alloc((size_t)(V - 1) * sizeof *t->tok_off);
    t->tok_len = plow_alloc((size_t)(V - 1) * sizeof *t->tok_len);

    uint64_t total = 256;
    for (int id = 0; id < 256; id++) t->tok_len[id] = 1;
    for (int k = 0; k < t->nmerges; k++) {
        uint32_t id = 256 + (uint32_t)k, l = merges[2 * k], r = merges[2 * k + 1];
        if (l >= id || r >= id) {
            plow_error(err, "merge %d (id %u) refers to id %u, which is not defined before it", k,
                       id, l >= id ? l : r);
            goto fail;
        }
        int32_t dup = rank_put(t, l, r, k);
        if (dup >= 0) {
            plow_error(err, "merge %d (id %u) repeats the pair (%u, %u) of merge %d", k, id, l, r,
                       dup);
            goto fail;
        }
        uint64_t len = (uint64_t)t->tok_len[l] + t->tok_len[r];
        total += len;
        if (total > TOKENIZER_MAX_TOTAL_TOKEN_BYTES) {
            plow_error(err, "tokens up to id %u hold more than %zu bytes in all", id,
                       TOKENIZER_MAX_TOTAL_TOKEN_BYTES);
            goto fail;
        }
        t->tok_len[id] = (uint32_t)len;
    }

    t->tok_bytes = plow_alloc((size_t)total);
    for (int id = 0; id < 256; id++) {
        t->tok_off[id] = (uint32_t)id;
        t->tok_bytes[id] = (uint8_t)id;
    }
    uint32_t off = 256;
    for (int k = 0; k < t->nmerges; k++) {
        uint32_t id = 256 + (uint32_t)k, l = merges[2 * k], r = merges[2 * k + 1];
        t->tok_off[id] = off;
        memcpy(t->tok_bytes + off, t->tok_bytes + t->tok_off[l], t->tok_len[l]);
        memcpy(t->tok_bytes + off + t->tok_len[l], t->tok_bytes + t->tok_off[r], t->tok_len[r]);
        off += t->tok_len[id];
    }
    *out = t;
    return 0;
fail:
    tokenizer_free(t);
    return -1;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->merges);
    free(t->tok_off);
    free(t->tok_len);
    free(t->tok_bytes);
    free(t->rank_keys);
    free(t->rank_vals);
    free(t);
}

int tokenizer_vocab_size(const tokenizer *t) { return t->V; }

int tokenizer_eot(const tokenizer *t) { return t->V - 1; }

int tokenizer_token_bytes(const tokenizer *t, int id, const uint8_t **bytes, size_t *len) {
    if (id < 0 || id >= t->V) return -1;
    if (id == t->V - 1) {
        *bytes = (const uint8_t *)TOKENIZER_EOT_TEXT;
        *len = strlen(TOKENIZER_EOT_TEXT);
    } else {
        *bytes = t->tok_bytes + t->tok_off[id];
        *len = t->tok_len[id];
    }
    return 0;
}

int tokenizer_merge_pair(const tokenizer *t, int id, int *left, int *right) {
    if (id < 256 || id > t->V - 2) return -1;
    *left = (int)t->merges[2 * (id - 256)];
    *right = (int)t->merges[2 * (id - 256) + 1];
    return 0;
}

void tokenizer_serialize(const tokenizer *t, plow_buf *out) {
    size_t start = out->len;
    static const char magic[TOKENIZER_MAGIC_LEN] = TOKENIZER_MAGIC;
    plow_buf_append(out, magic, TOKENIZER_MAGIC_LEN);
    plow_buf_u32(out, TOKENIZER_VERSION);
    plow_buf_u32(out, (uint32_t)t->V);
    plow_buf_u32(out, (uint32_t)t->nmerges);
    for (int k = 0; k < 2 * t->nmerges; k++) plow_buf_u32(out, t->merges[k]);
    uint8_t sum[PLOW_HASH_LEN];
    plow_sha256_once(out->data + start, out->len - start, sum);
    plow_buf_append(out, sum, sizeof sum);
}

void tokenizer_hash(const tokenizer *t, uint8_t out[PLOW_HASH_LEN]) {
    plow_buf b = {0};
    tokenizer_serialize(t, &b);
    plow_sha256_once(b.data, b.len, out);
    plow_buf_release(&b);
}

int tokenizer_parse(tokenizer **out, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    const size_t min_len = TOKENIZER_HEADER_LEN + PLOW_HASH_LEN;
    if (n < min_len)
        return plow_error(err, "tokenizer file truncated: %zu bytes, header and checksum need %zu",
                          n, min_len);
    static const char magic[TOKENIZER_MAGIC_LEN] = TOKENIZER_MAGIC;
    if (memcmp(buf, magic, TOKENIZER_MAGIC_LEN) != 0)
        return plow_error(err, "not a plow tokenizer file (bad magic)");
    uint32_t version = plow_get_u32(buf + 8), V = plow_get_u32(buf + 12),
             nmerges = plow_get_u32(buf + 16);
    if (version != TOKENIZER_VERSION)
        return plow_error(err, "unsupported tokenizer file version %u (this build reads %u)",
                          version, TOKENIZER_VERSION);
    if (V < TOKENIZER_MIN_VOCAB || V > TOKENIZER_MAX_VOCAB)
        return plow_error(err, "tokenizer vocab size %u out of range [%d, %d]", V,
                          TOKENIZER_MIN_VOCAB, TOKENIZER_MAX_VOCAB);
    if (nmerges != V - 257)
        return plow_error(err, "tokenizer merge count %u does not match vocab size %u (expected %u)",
                          nmerges, V, V - 257);
    size_t want = min_len + (size_t)nmerges * 8; /* nmerges < 2^16: no overflow */
    if (n < want)
        return plow_error(err, "tokenizer file truncated: %zu bytes, %u merges need %zu", n,
                          nmerges, want);
    if (n > want)
        return plow_error(err, "tokenizer file has %zu trailing bytes after %zu", n - want, want);
    uint8_t sum[PLOW_HASH_LEN];
    plow_sha256_once(buf, want - PLOW_HASH_LEN, sum);
    if (memcmp(sum, buf + want - PLOW_HASH_LEN, PLOW_HASH_LEN) != 0)
        return plow_error(err, "tokenizer file checksum mismatch (corrupted)");
    uint32_t *merges = plow_alloc((size_t)nmerges * 2 * sizeof *merges);
    for (size_t k = 0; k < 2 * (size_t)nmerges; k++)
        merges[k] = plow_get_u32(buf + TOKENIZER_HEADER_LEN + 4 * k);
    return tokenizer_build(out, (int)V, merges, err);
}

int tokenizer_save(const tokenizer *t, const char *path, char err[PLOW_ERR_LEN]) {
    plow_buf b = {0};
    tokenizer_serialize(t, &b);
    int rc = plow_write_file(path, b.data, b.len, err);
    plow_buf_release(&b);
    return rc;
}

int tokenizer_load(tokenizer **out, const char *path, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    const size_t max_len =
        TOKENIZER_HEADER_LEN + PLOW_HASH_LEN + (size_t)(TOKENIZER_MAX_VOCAB - 257) * 8;
    uint8_t *data;
    size_t n;
    if (plow_read_file(path, max_len, &data, &n, err) != 0) return -1;
    char why[PLOW_ERR_LEN];
    int rc = tokenizer_parse(out, data, n, why);
    if (rc != 0) plow_error(err, "'%s': %s", path, why);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- training */

typedef struct {
    int32_t *v;
    size_t len, cap;
} i32vec;

static void i32vec_push(i32vec *a, int32_t x) {
    if (a->len == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4;
        a->v = plow_realloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->len++] = x;
}

static void i32vec_release(i32vec *a) {
    free(a->v);
    *a = (i32vec){0};
}

typedef struct {
    uint32_t off, len; /* its current symbols: syms[off .. off+len) */
    int64_t count;     /* occurrences of this chunk in the corpus */
    int32_t stamp;     /* last merge step that rewrote it, to skip repeats on a list */
} tword;

typedef struct {
    int32_t left, right;
    int64_t count;    /* occurrences over the corpus, weighted by word counts */
    int32_t heap_pos; /* -1 when not in the heap (count == 0) */
    bool queued;      /* on trainer.zeroed */
    i32vec words;     /* words that may hold the pair: a superset, may repeat */
} tpair;

typedef struct {
    tword *words;
    size_t nwords;
    int32_t *syms;
    tpair *pairs;
    size_t npairs, cap_pairs;
    uint64_t *pkeys; /* pair -> index in pairs, open addressing */
    int32_t *pvals;  /* -1 marks an empty slot */
    size_t pmask;
    int32_t *heap; /* max-heap of pair indices by pair_better; capacity cap_pairs */
    size_t nheap;
    i32vec zeroed; /* pairs that reached count 0 during this step */
} trainer;

static bool pair_better(const tpair *p, const tpair *q) {
    if (p->count != q->count) return p->count > q->count;
    if (p->left != q->left) return p->left < q->left;
    return p->right < q->right;
}

static void heap_place(trainer *tr, size_t pos, int32_t idx) {
    tr->heap[pos] = idx;
    tr->pairs[idx].heap_pos = (int32_t)pos;
}

static void heap_up(trainer *tr, size_t pos) {
    int32_t idx = tr->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!pair_better(&tr->pairs[idx], &tr->pairs[tr->heap[parent]])) break;
        heap_place(tr, pos, tr->heap[parent]);
        pos = parent;
    }
    heap_place(tr, pos, idx);
}

static void heap_down(trainer *tr, size_t pos) {
    int32_t idx = tr->heap[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= tr->nheap) break;
        if (c + 1 < tr->nheap && pair_better(&tr->pairs[tr->heap[c + 1]], &tr->pairs[tr->heap[c]]))
            c++;
        if (!pair_better(&tr->pairs[tr->heap[c]], &tr->pairs[idx])) break;
        heap_place(tr, pos, tr->heap[c]);
        pos = c;
    }
    heap_place(tr, pos, idx);
}

static void heap_remove(trainer *tr, int32_t idx) {
    size_t pos = (size_t)tr->pairs[idx].heap_pos;
    tr->pairs[idx].heap_pos = -1;
    tr->nheap--;
    if (pos == tr->nheap) return;
    int32_t last = tr->heap[tr->nheap];
    heap_place(tr, pos, last);
    heap_up(tr, pos);
    heap_down(tr, (size_t)tr->pairs[last].heap_pos);
}

static int32_t pair_index(trainer *tr, int32_t left, int32_t right) {
    uint64_t key = pair_key((uint32_t)left, (uint32_t)right);
    size_t i = mix64(key) & tr->pmask;
    for (; tr->pvals[i] >= 0; i = (i + 1) & tr->pmask)
        if (tr->pkeys[i] == key) return tr->pvals[i];
    if (tr->npairs == tr->cap_pairs) {
        tr->cap_pairs *= 2;
        tr->pairs = plow_realloc(tr->pairs, tr->cap_pairs * sizeof *tr->pairs);
        tr->heap = plow_realloc(tr->heap, tr->cap_pairs * sizeof *tr->heap);
    }
    int32_t idx = (int32_t)tr->npairs++;
    tr->pairs[idx] = (tpair){.left = left, .right = right, .heap_pos = -1};
    tr->pkeys[i] = key;
    tr->pvals[i] = idx;
    if (2 * tr->npairs > tr->pmask + 1) { /* keep the load under 1/2 */
        size_t slots = 2 * (tr->pmask + 1);
        uint64_t *keys = plow_alloc(slots * sizeof *keys);
        int32_t *vals = plow_alloc(slots * sizeof *vals);
        memset(vals, 0xff, slots * sizeof *vals);
        for (size_t p = 0; p < tr->npairs; p++) {
            uint64_t k = pair_key((uint32_t)tr->pairs[p].left, (uint32_t)tr->pairs[p].right);
            size_t j = mix64(k) & (slots - 1);
            while (vals[j] >= 0) j = (j + 1) & (slots - 1);
            keys[j] = k;
            vals[j] = (int32_t)p;
        }
        free(tr->pkeys);
        free(tr->pvals);
        tr->pkeys = keys;
        tr->pvals = vals;
        tr->pmask = slots - 1;
    }
    return idx;
}

/* Adds delta to the count of (left, right) and restores the heap at once: a
 * batch of changed keys cannot be repaired one sift at a time afterwards.
 * A word that gains the pair goes on its list (once per step: the list's
 * last entry is checked). A pair that reaches 0 is queued for release_zeroed. */
static void pair_add(trainer *tr, int32_t left, int32_t right, int64_t delta, int32_t w) {
    int32_t idx = pair_index(tr, left, right);
    tpair *p = &tr->pairs[idx];
    p->count += delta;
    PLOW_ASSERT(p->count >= 0);
    if (p->count == 0) {
        if (p->heap_pos >= 0) heap_remove(tr, idx);
        if (!p->queued) {
            p->queued = true;
            i32vec_push(&tr->zeroed, idx);
        }
    } else if (p->heap_pos < 0) {
        tr->heap[tr->nheap++] = idx;
        heap_up(tr, tr->nheap - 1);
    } else if (delta > 0) {
        heap_up(tr, (size_t)p->heap_pos);
    } else {
        heap_down(tr, (size_t)p->heap_pos);
    }
    if (delta > 0 && (p->words.len == 0 || p->words.v[p->words.len - 1] != w))
        i32vec_push(&p->words, w);
}

/* A pair still at count 0 after a step occurs in no word: its list can go. */
static void release_zeroed(trainer *tr) {
    for (size_t q = 0; q < tr->zeroed.len; q++) {
        tpair *p = &tr->pairs[tr->zeroed.v[q]];
        p->queued = false;
        if (p->count == 0) i32vec_release(&p->words);
    }
    tr->zeroed.len = 0;
}

/* Replaces every (a, b) in word w, left to right without overlap, by z, and
 * moves the counts of the neighbouring pairs: x a b y -> x z y takes one from
 * (x,a), (a,b), (b,y) and adds one to (x,z), (z,y), each times the word's
 * count. When two matches touch (a b a b), the second one's "x" is the z just
 * written, which undoes the (z,a) the first one added: the net is right. */
static void merge_word(trainer *tr, int32_t w, int32_t a, int32_t b, int32_t z) {
    tword *wd = &tr->words[w];
    int32_t *s = tr->syms + wd->off;
    int64_t c = wd->count;
    size_t len = wd->len, j = 0;
    for (size_t i = 0; i < len;) {
        if (i + 1 < len && s[i] == a && s[i + 1] == b) {
            if (j > 0) {
                pair_add(tr, s[j - 1], a, -c, w);
                pair_add(tr, s[j - 1], z, c, w);
            }
            if (i + 2 < len) {
                pair_add(tr, b, s[i + 2], -c, w);
                pair_add(tr, z, s[i + 2], c, w);
            }
            pair_add(tr, a, b, -c, w);
            s[j++] = z;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    wd->len = (uint32_t)j;
}

/* Cuts data into chunks and keeps each distinct chunk of two or more bytes
 * once, with its count, in order of first appearance. */
static void count_words(trainer *tr, const uint8_t *data, size_t n) {
    size_t cap = 1024, nw = 0, slots = 2048, nsyms = 0;
    tword *words = plow_alloc(cap * sizeof *words);
    uint64_t *hashes = plow_alloc(cap * sizeof *hashes);
    uint32_t *starts = plow_alloc(cap * sizeof *starts); /* offset in data of the first copy */
    int32_t *slot = plow_alloc(slots * sizeof *slot);
    memset(slot, 0xff, slots * sizeof *slot);
    for (size_t i = 0, e; i < n; i = e) {
        e = tokenizer_chunk_end(data, n, i);
        size_t len = e - i;
        if (len < 2) continue; /* a single byte has no pairs */
        uint64_t h = hash_bytes(data + i, len);
        size_t k = h & (slots - 1);
        for (; slot[k] >= 0; k = (k + 1) & (slots - 1)) {
            tword *wd = &words[slot[k]];
            if (hashes[slot[k]] == h && wd->len == len &&
                memcmp(data + starts[slot[k]], data + i, len) == 0)
                break;
        }
        if (slot[k] >= 0) {
            words[slot[k]].count++;
            continue;
        }
        if (nw == cap) {
            cap *= 2;
            words = plow_realloc(words, cap * sizeof *words);
            hashes = plow_realloc(hashes, cap * sizeof *hashes);
            starts = plow_realloc(starts, cap * sizeof *starts);
        }
        words[nw] = (tword){.off = (uint32_t)nsyms, .len = (uint32_t)len, .count = 1};
        hashes[nw] = h;
        starts[nw] = (uint32_t)i;
        slot[k] = (int32_t)nw++;
        nsyms += len;
        if (2 * nw > slots) {
            slots *= 2;
            slot = plow_realloc(slot, slots * sizeof *slot);
            memset(slot, 0xff, slots * sizeof *slot);
            for (size_t q = 0; q < nw; q++) {
                size_t m = hashes[q] & (slots - 1);
                while (slot[m] >= 0) m = (m + 1) & (slots - 1);
                slot[m] = (int32_t)q;
            }
        }
    }
    tr->syms = plow_alloc(nsyms * sizeof *tr->syms);
    for (size_t w = 0; w < nw; w++)
        for (uint32_t q = 0; q < words[w].len; q++)
            tr->syms[words[w].off + q] = data[starts[w] + q];
    tr->words = words;
    tr->nwords = nw;
    free(hashes);
    free(starts);
    free(slot);
}

static void trainer_release(trainer *tr) {
    for (size_t p = 0; p < tr->npairs; p++) i32vec_release(&tr->pairs[p].words);
    free(tr->pairs);
    free(tr->pkeys);
    free(tr->pvals);
    free(tr->heap);
    i32vec_release(&tr->zeroed);
    free(tr->words);
    free(tr->syms);
}

int tokenizer_train(tokenizer **out, const uint8_t *data, size_t n, int vocab_size,
                    tokenizer_progress_fn progress, void *ctx, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (vocab_size < TOKENIZER_MIN_VOCAB || vocab_size > TOKENIZER_MAX_VOCAB)
        return plow_error(err, "vocab size %d out of range [%d, %d]", vocab_size,
                          TOKENIZER_MIN_VOCAB, TOKENIZER_MAX_VOCAB);
    if (n > TOKENIZER_MAX_TRAIN_BYTES)
        return plow_error(err, "training data of %zu bytes exceeds the %zu-byte limit", n,
                          TOKENIZER_MAX_TRAIN_BYTES);
    int nmerges = vocab_size - 257;
    uint32_t *merges = plow_alloc((size_t)nmerges * 2 * sizeof *merges);
    trainer tr = {0};
    tr.cap_pairs = 1024;
    tr.pairs = plow_alloc(tr.cap_pairs * sizeof *tr.pairs);
    tr.heap = plow_alloc(tr.cap_pairs * sizeof *tr.heap);
    tr.pmask = 4096 - 1;
    tr.pkeys = plow_alloc((tr.pmask + 1) * sizeof *tr.pkeys);
    tr.pvals = plow_alloc((tr.pmask + 1) * sizeof *tr.pvals);
    memset(tr.pvals, 0xff, (tr.pmask + 1) * sizeof *tr.pvals);

    count_words(&tr, data, n);
    for (size_t w = 0; w < tr.nwords; w++) {
        const int32_t *s = tr.syms + tr.words[w].off;
        for (uint32_t i = 0; i + 1 < tr.words[w].len; i++)
            pair_add(&tr, s[i], s[i + 1], tr.words[w].count, (int32_t)w);
    }
    int rc = -1;
    for (int m = 0; m < nmerges; m++) {
        if (tr.nheap == 0) {
            plow_error(err, "training data too small: it allows only %d merges, vocab size %d needs %d",
                       m, vocab_size, nmerges);
            goto out;
        }
        int32_t best = tr.heap[0];
        int32_t a = tr.pairs[best].left, b = tr.pairs[best].right, z = 256 + m;
        merges[2 * m] = (uint32_t)a;
        merges[2 * m + 1] = (uint32_t)b;
        /* Detached: merge_word never adds to (a, b), and new pairs may move tr.pairs. */
        i32vec list = tr.pairs[best].words;
        tr.pairs[best].words = (i32vec){0};
        for (size_t q = 0; q < list.len; q++) {
            int32_t w = list.v[q];
            if (tr.words[w].stamp == m + 1) continue;
            tr.words[w].stamp = m + 1;
            merge_word(&tr, w, a, b, z);
        }
        i32vec_release(&list);
        PLOW_ASSERT(tr.pairs[best].count == 0);
        release_zeroed(&tr);
        if (progress) progress(ctx, m + 1, nmerges);
    }
    rc = tokenizer_build(out, vocab_size, merges, err);
    merges = NULL;
out:
    free(merges);
    trainer_release(&tr);
    return rc;
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int32_t rank;
    int32_t pos;
} bpe_ent;

/* Cached chunk: the bytes at s[key_off..+key_len) were encoded to
 * ids[ids_off..+nids) of the output, where a repeat can copy them from. */
typedef struct {
    uint64_t hash;
    size_t key_off, ids_off;
    uint32_t key_len, nids; /* key_len == 0: empty slot */
} cache_ent;

#define CACHE_MAX_CHUNK 256 /* longer chunks are rare; hashing them buys little */

typedef struct {
    int32_t *sym, *next, *prev; /* (cap): the chunk as a linked list; sym -1 = merged away */
    size_t cap;
    bpe_ent *heap; /* (3*cap): each merge pushes at most two entries */
    size_t nheap;
    cache_ent *cache;
    size_t cache_mask, cache_used, cache_max;
} encoder;

static bool ent_before(bpe_ent x, bpe_ent y) {
    return x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos;
}

static void ent_push(encoder *e, int32_t rank, int32_t pos) {
    size_t i = e->nheap++;
    bpe_ent x = {rank, pos};
    while (i > 0 && ent_before(x, e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = x;
}

static bpe_ent ent_pop(encoder *e) {
    bpe_ent top = e->heap[0], x = e->heap[--e->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= e->nheap) break;
        if (c + 1 < e->nheap && ent_before(e->heap[c + 1], e->heap[c])) c++;
        if (!ent_before(e->heap[c], x)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    e->heap[i] = x;
    return top;
}

/* BPE on one chunk of L >= 2 bytes (L <= INT32_MAX): always merge the pair of
 * lowest rank, leftmost first. This equals training's rewrite, which applied
 * each merge to all its occurrences left to right, because a merge's id is
 * larger than both of its parts, so a pair created by merge k always ranks
 * after k. Writes the ids to out and returns how many. */
static size_t bpe_chunk(const tokenizer *t, encoder *e, const uint8_t *s, size_t L, int32_t *out) {
    if (L > e->cap) {
        e->cap = L;
        e->sym = plow_realloc(e->sym, L * sizeof *e->sym);
        e->next = plow_realloc(e->next, L * sizeof *e->next);
        e->prev = plow_realloc(e->prev, L * sizeof *e->prev);
        e->heap = plow_realloc(e->heap, 3 * L * sizeof *e->heap);
    }
    int32_t *sym = e->sym, *next = e->next, *prev = e->prev;
    for (size_t i = 0; i < L; i++) {
        sym[i] = s[i];
        next[i] = (int32_t)i + 1;
        prev[i] = (int32_t)i - 1;
    }
    next[L - 1] = -1;
    e->nheap = 0;
    for (size_t i = 0; i + 1 < L; i++) {
        int32_t r = rank_get(t, s[i], s[i + 1]);
        if (r >= 0) ent_push(e, r, (int32_t)i);
    }
    while (e->nheap) {
        bpe_ent x = ent_pop(e);
        int32_t i = x.pos, j = next[i];
        if (sym[i] < 0 || j < 0) continue;
        if ((uint32_t)sym[i] != t->merges[2 * x.rank] ||
            (uint32_t)sym[j] != t->merges[2 * x.rank + 1])
            continue; /* stale: a neighbour changed since this entry was pushed */
        sym[i] = 256 + x.rank;
        sym[j] = -1;
        next[i] = next[j];
        if (next[i] >= 0) prev[next[i]] = i;
        int32_t r;
        if (prev[i] >= 0 && (r = rank_get(t, (uint32_t)sym[prev[i]], (uint32_t)sym[i])) >= 0)
            ent_push(e, r, prev[i]);
        if (next[i] >= 0 && (r = rank_get(t, (uint32_t)sym[i], (uint32_t)sym[next[i]])) >= 0)
            ent_push(e, r, i);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[k++] = sym[i];
    return k;
}

static cache_ent *cache_find(encoder *e, const uint8_t *s, size_t off, size_t len, uint64_t h) {
    for (size_t i = h & e->cache_mask;; i = (i + 1) & e->cache_mask) {
        cache_ent *c = &e->cache[i];
        if (c->key_len == 0) return c;
        if (c->hash == h && c->key_len == len && memcmp(s + c->key_off, s + off, len) == 0)
            return c;
    }
}

int tokenizer_encode(const tokenizer *t, const uint8_t *s, size_t n, int32_t **ids, size_t *nids,
                     char err[PLOW_ERR_LEN]) {
    *ids = NULL;
    *nids = 0;
    size_t bytes;
    if (!plow_mul_size(n, sizeof(int32_t), &bytes))
        return plow_error(err, "input of %zu bytes is too large to encode", n);
    int32_t *v = plow_alloc(bytes); /* a token is at least one byte */
    encoder e = {0};
    e.cache_max = n / 8 + 16 < 65536 ? n / 8 + 16 : 65536;
    e.cache_mask = pow2_at_least(2 * e.cache_max) - 1;
    e.cache = plow_calloc(e.cache_mask + 1, sizeof *e.cache);
    int rc = -1;
    size_t k = 0;
    for (size_t i = 0, end; i < n; i = end) {
        end = tokenizer_chunk_end(s, n, i);
        size_t len = end - i;
        if (len == 1) {
            v[k++] = s[i];
            continue;
        }
        if (len > INT32_MAX) {
            plow_error(err, "chunk of %zu bytes at offset %zu exceeds the %d-byte limit", len, i,
                       INT32_MAX);
            goto out;
        }
        cache_ent *c = NULL;
        uint64_t h = 0;
        if (len <= CACHE_MAX_CHUNK) {
            h = hash_bytes(s + i, len);
            c = cache_find(&e, s, i, len, h);
            if (c->key_len) {
                memcpy(v + k, v + c->ids_off, c->nids * sizeof *v);
                k += c->nids;
                continue;
            }
        }
        size_t got = bpe_chunk(t, &e, s + i, len, v + k);
        if (c && e.cache_used < e.cache_max) {
            *c = (cache_ent){.hash = h, .key_off = i, .ids_off = k, .key_len = (uint32_t)len,
                             .nids = (uint32_t)got};
            e.cache_used++;
        }
        k += got;
    }
    *ids = plow_realloc(v, k * sizeof *v);
    *nids = k;
    v = NULL;
    rc = 0;
out:
    free(v);
    free(e.sym);
    free(e.next);
    free(e.prev);
    free(e.heap);
    free(e.cache);
    return rc;
}

/* ---------------------------------------------------------------- decoding */

int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, uint8_t **out, size_t *nout,
                     char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *nout = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->V)
            return plow_error(err, "token id %d at position %zu is out of range [0, %d)", ids[i],
                              i, t->V);
        if (ids[i] != t->V - 1 && !plow_add_size(total, t->tok_len[ids[i]], &total))
            return plow_error(err, "decoded text would exceed the address space");
    }
    uint8_t *buf = plow_alloc(total);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == t->V - 1) continue;
        memcpy(buf + k, t->tok_bytes + t->tok_off[ids[i]], t->tok_len[ids[i]]);
        k += t->tok_len[ids[i]];
    }
    *out = buf;
    *nout = total;
    return 0;
}
