/*
 * test_proof.c — Merkle trees, proofs, traces, states.txt, divergence
 * search and commitments.
 *
 * The references are written here, independently of src/proof: node hashes
 * through plow_sha256 (not merkle.c's own hasher), roots and paths by the
 * recursive definition of RFC 6962 §2.1 (split at the largest power of two)
 * rather than the bottom-up levels merkle.c builds, and fixed vectors
 * computed with Python's hashlib. Then every adversary the brief lists is
 * played against the verifier, the decoders and the bisection.
 */
#include "../src/base/plow.h"

#include <inttypes.h>

#include "../src/merkle/merkle.h"
#include "../src/proof/trace.h"
#include "test.h"

/* xorshift64*: a fixed, seeded stream. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rng_next(s) >> 56);
}

/* ---- references --------------------------------------------------------- */

static void ref_leaf(const uint8_t x[32], uint8_t out[32]) {
    uint8_t pre = 0x00;
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, &pre, 1);
    plow_sha256_update(h, x, 32);
    plow_sha256_final(h, out);
}

static void ref_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
    uint8_t pre[65];
    pre[0] = 0x01;
    memcpy(pre + 1, l, 32);
    memcpy(pre + 33, r, 32);
    plow_sha256_once(pre, sizeof pre, out);
}

static size_t split_point(size_t n) { /* largest power of two < n, n >= 2 */
    size_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
}

/* RFC 6962 MTH over leaves[0..n). */
static void ref_root(const uint8_t *leaves, size_t n, uint8_t out[32]) {
    if (n == 1) {
        ref_leaf(leaves, out);
        return;
    }
    size_t k = split_point(n);
    uint8_t l[32], r[32];
    ref_root(leaves, k, l);
    ref_root(leaves + k * 32, n - k, r);
    ref_node(l, r, out);
}

/* RFC 6962 PATH(m, D[0..n)): siblings from the leaf up. */
static void ref_path(const uint8_t *leaves, size_t n, size_t m, uint8_t path[][32], uint32_t *depth) {
    if (n == 1) return;
    size_t k = split_point(n);
    if (m < k) {
        ref_path(leaves, k, m, path, depth);
        ref_root(leaves + k * 32, n - k, path[(*depth)++]);
    } else {
        ref_path(leaves + k * 32, n - k, m - k, path, depth);
        ref_root(leaves, k, path[(*depth)++]);
    }
}

static uint8_t *random_leaves(size_t n, uint64_t *s) {
    uint8_t *l = plow_alloc(n * 32);
    fill_random(l, n * 32, s);
    return l;
}

static bool hex_is(const uint8_t h[32], const char *hex) {
    char buf[65];
    plow_hex(h, 32, buf);
    return strcmp(buf, hex) == 0;
}

/* ---- Merkle ------------------------------------------------------------- */

static void test_merkle_known_answers(void) {
    uint8_t L[5][32];
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 32; i++) L[k][i] = (uint8_t)(32 * k + i);
    uint8_t ha[32], hb[32], hc[32], hd[32], he[32], ab[32], cd[32], abcd[32], want[32], got[32];
    ref_leaf(L[0], ha), ref_leaf(L[1], hb), ref_leaf(L[2], hc), ref_leaf(L[3], hd), ref_leaf(L[4], he);

    /* Vectors from Python: sha256(b'\0' + a), and so on. */
    merkle_root(L[0], 1, got);
    CHECK(memcmp(got, ha, 32) == 0);
    CHECK(hex_is(got, "699cacdb4c39d8e0bb1223352765a7f7acdc51dec6694f7b54c3d0a47f0cc409"));
    merkle_leaf_hash(L[0], got);
    CHECK(memcmp(got, ha, 32) == 0);

    ref_node(ha, hb, ab);
    merkle_root(L[0], 2, got);
    CHECK(memcmp(got, ab, 32) == 0);
    merkle_node_hash(ha, hb, got);
    CHECK(memcmp(got, ab, 32) == 0);

    /* Three leaves: c is promoted, not duplicated: H1(H1(a', b'), c'). */
    ref_node(ab, hc, want);
    merkle_root(L[0], 3, got);
    CHECK(memcmp(got, want, 32) == 0);
    CHECK(hex_is(got, "5637f26ba780a8da762393735ccdd7206d5e198a33dec95e4dec4b6c98a9d6c8"));

    /* Five leaves: e rises two levels unchanged. */
    ref_node(hc, hd, cd);
    ref_node(ab, cd, abcd);
    ref_node(abcd, he, want);
    merkle_root(L[0], 5, got);
    CHECK(memcmp(got, want, 32) == 0);
    CHECK(hex_is(got, "25d2bbc66be3945e2c9a37ff2b42e98b1013de930c0ac7a1bc75eb75a223ec0e"));

    /* The proof of e in 5 is the single sibling abcd; of c, [d', ab]. */
    merkle_proof p;
    char err[PLOW_ERR_LEN] = "";
    CHECKF(merkle_prove(L[0], 5, 4, &p, err) == 0, "%s", err);
    CHECK(p.depth == 1 && memcmp(p.path[0], abcd, 32) == 0);
    CHECKF(merkle_prove(L[0], 5, 2, &p, err) == 0, "%s", err);
    CHECK(p.depth == 3 && memcmp(p.path[0], hd, 32) == 0 && memcmp(p.path[1], ab, 32) == 0 &&
          memcmp(p.path[2], he, 32) == 0);

    /* Path lengths, including the extremes of 64-bit n. */
    CHECK(merkle_path_len(0, 1) == 0);
    CHECK(merkle_path_len(2, 3) == 1 && merkle_path_len(0, 3) == 2);
    CHECK(merkle_path_len(4, 5) == 1 && merkle_path_len(3, 5) == 3);
    CHECK(merkle_path_len(0, UINT64_MAX) == 64);
    CHECK(merkle_path_len(UINT64_MAX - 1, UINT64_MAX) == 63);
    CHECK(merkle_path_len(0, (uint64_t)1 << 63) == 63);
    CHECK(merkle_path_len(((uint64_t)1 << 63), ((uint64_t)1 << 63) + 1) == 1);
}

static void test_merkle_roots_vs_reference(void) {
    uint64_t s = 1;
    uint8_t *leaves = random_leaves(100, &s);
    for (size_t n = 1; n <= 100; n++) {
        uint8_t want[32], got[32], tree_root[32];
        ref_root(leaves, n, want);
        merkle_root(leaves, n, got);
        CHECKF(memcmp(got, want, 32) == 0, "n = %zu", n);
        merkle_tree *t = merkle_tree_new(leaves, n);
        merkle_tree_root(t, tree_root);
        CHECKF(memcmp(tree_root, want, 32) == 0 && merkle_tree_size(t) == n, "tree, n = %zu", n);
        merkle_tree_free(t);
    }
    merkle_tree_free(NULL);
    free(leaves);
}

static void test_merkle_every_proof(void) {
    uint64_t s = 2;
    uint8_t *leaves = random_leaves(71, &s);
    char err[PLOW_ERR_LEN] = "";
    for (size_t n = 1; n <= 70; n++) {
        uint8_t root[32], other_root[32];
        merkle_root(leaves, n, root);
        merkle_root(leaves, n + 1, other_root);
        merkle_tree *t = merkle_tree_new(leaves, n);
        for (size_t i = 0; i < n; i++) {
            merkle_proof p, q, r;
            CHECKF(merkle_prove(leaves, n, i, &p, err) == 0, "%s", err);
            CHECKF(merkle_tree_prove(t, i, &q, err) == 0, "%s", err);
            CHECKF(memcmp(&p, &q, sizeof p) == 0, "tree proof differs, n %zu i %zu", n, i);
            uint8_t want[MERKLE_MAX_DEPTH][32];
            uint32_t depth = 0;
            ref_path(leaves, n, i, want, &depth);
            CHECKF(p.depth == depth && depth == merkle_path_len(i, n), "depth, n %zu i %zu", n, i);
            CHECKF(memcmp(p.path, want, (size_t)depth * 32) == 0, "path, n %zu i %zu", n, i);
            CHECKF(merkle_verify(root, n, i, leaves + i * 32, &p), "verify, n %zu i %zu", n, i);

            plow_buf b = {0};
            merkle_proof_encode(&p, &b);
            CHECK(b.len == MERKLE_PROOF_HEADER_LEN + 32 * (size_t)p.depth);
            CHECKF(merkle_proof_decode(&r, b.data, b.len, err) == 0, "%s", err);
            CHECK(memcmp(&r, &p, sizeof r) == 0);
            plow_buf_release(&b);

            /* The proof says nothing about any other index or tree size. */
            if (n <= 32)
                for (size_t j = 0; j < n; j++)
                    if (j != i) {
                        CHECKF(!merkle_verify(root, n, j, leaves + i * 32, &p), "index %zu as %zu", i, j);
                        merkle_proof w = p;
                        w.index = j;
                        CHECKF(!merkle_verify(root, n, j, leaves + i * 32, &w), "rewritten index %zu", j);
                        CHECKF(!merkle_verify(root, n, j, leaves + j * 32, &w), "rewritten, leaf %zu", j);
                    }
            CHECK(!merkle_verify(other_root, n + 1, i, leaves + i * 32, &p));
            merkle_proof w = p;
            w.n = n + 1;
            CHECK(!merkle_verify(other_root, n + 1, i, leaves + i * 32, &w));
            CHECK(!merkle_verify(root, n, n, leaves + i * 32, &p));
        }
        CHECK(merkle_tree_prove(t, n, &(merkle_proof){0}, err) == -1 && err[0]);
        merkle_tree_free(t);
    }
    merkle_proof p;
    err[0] = 0;
    CHECK(merkle_prove(leaves, 5, 5, &p, err) == -1 && strstr(err, "out of range"));
    err[0] = 0;
    CHECK(merkle_prove(leaves, 0, 0, &p, err) == -1 && err[0]);
    free(leaves);
}

/* Every way to tamper with a valid (root, n, index, leaf, proof) fails. */
static void test_merkle_adversary(void) {
    static const size_t cases[][2] = {{1, 0}, {2, 1}, {3, 2}, {7, 6}, {33, 17}, {64, 0}, {100, 99}, {100, 37}};
    uint64_t s = 3;
    uint8_t *leaves = random_leaves(101, &s);
    char err[PLOW_ERR_LEN];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c][0], i = cases[c][1];
        uint8_t root[32], leaf[32];
        merkle_root(leaves, n, root);
        memcpy(leaf, leaves + i * 32, 32);
        merkle_proof p;
        CHECKF(merkle_prove(leaves, n, i, &p, err) == 0, "%s", err);
        CHECK(merkle_verify(root, n, i, leaf, &p));
        for (uint32_t k = 0; k < p.depth; k++)
            for (int bit = 0; bit < 256; bit++) {
                merkle_proof w = p;
                w.path[k][bit / 8] ^= (uint8_t)(1 << bit % 8);
                CHECKF(!merkle_verify(root, n, i, leaf, &w), "path[%u] bit %d, n %zu", k, bit, n);
            }
        for (int bit = 0; bit < 256; bit++) {
            uint8_t x[32];
            memcpy(x, leaf, 32);
            x[bit / 8] ^= (uint8_t)(1 << bit % 8);
            CHECK(!merkle_verify(root, n, i, x, &p));
            memcpy(x, root, 32);
            x[bit / 8] ^= (uint8_t)(1 << bit % 8);
            CHECK(!merkle_verify(x, n, i, leaf, &p));
        }
        for (uint32_t k = 0; k < p.depth; k++)
            for (uint32_t l = k + 1; l < p.depth; l++) {
                merkle_proof w = p;
                memcpy(w.path[k], p.path[l], 32);
                memcpy(w.path[l], p.path[k], 32);
                CHECKF(!merkle_verify(root, n, i, leaf, &w), "swap %u %u, n %zu", k, l, n);
            }
        /* Paths one sibling short or long (the last dropped, a copy added). */
        merkle_proof w = p;
        if (w.depth > 0) {
            w.depth--;
            CHECK(!merkle_verify(root, n, i, leaf, &w));
        }
        w = p;
        memcpy(w.path[w.depth], root, 32);
        w.depth++;
        CHECK(!merkle_verify(root, n, i, leaf, &w));
        w = p;
        w.depth = 1000;
        CHECK(!merkle_verify(root, n, i, leaf, &w));
        /* index >= n, even with the fields agreeing. */
        w = p;
        w.index = n;
        CHECK(!merkle_verify(root, n, n, leaf, &w));
        w.index = UINT64_MAX;
        CHECK(!merkle_verify(root, n, UINT64_MAX, leaf, &w));
        CHECK(!merkle_verify(root, 0, 0, leaf, &p));
    }
    free(leaves);
}

/* An inner node cannot be passed off as a leaf, nor a leaf as an inner node:
 * the 0x00 / 0x01 prefixes make the two preimage sets disjoint. */
static void test_merkle_domain_separation(void) {
    uint64_t s = 4;
    uint8_t *leaves = random_leaves(4, &s);
    uint8_t h[4][32], left[32], right[32], root[32], plain[32];
    for (int k = 0; k < 4; k++) ref_leaf(leaves + 32 * k, h[k]);
    ref_node(h[0], h[1], left);
    ref_node(h[2], h[3], right);
    merkle_root(leaves, 4, root);

    /* Claim: the inner node `left` is leaf 0 of a 2-leaf tree with sibling
     * `right`. Without the leaf prefix (leaf node = the leaf itself), the
     * path would hash to exactly this root: */
    ref_node(left, right, plain);
    CHECK(memcmp(plain, root, 32) == 0);
    /* With it, the verifier hashes 0x00 || left first, and refuses. */
    merkle_proof p = {.index = 0, .n = 2, .depth = 1};
    memcpy(p.path[0], right, 32);
    CHECK(!merkle_verify(root, 2, 0, left, &p));
    p.index = 1;
    memcpy(p.path[0], left, 32);
    CHECK(!merkle_verify(root, 2, 1, right, &p));
    /* Nor is a 1-leaf tree whose leaf is the root's preimage half. */
    merkle_proof z = {.index = 0, .n = 1, .depth = 0};
    CHECK(!merkle_verify(root, 1, 0, left, &z));
    /* The converse: a leaf node is not an inner node. Leaf 0's node hash
     * h[0] presented as a leaf at the leaf level of the 4-tree fails. */
    merkle_proof q;
    char err[PLOW_ERR_LEN];
    CHECKF(merkle_prove(leaves, 4, 0, &q, err) == 0, "%s", err);
    CHECK(merkle_verify(root, 4, 0, leaves, &q));
    CHECK(!merkle_verify(root, 4, 0, h[0], &q));
    /* The two preimages differ in length and first byte. */
    uint8_t a[32], b[32];
    merkle_leaf_hash(left, a);
    merkle_node_hash(h[0], h[1], b);
    CHECK(memcmp(a, b, 32) != 0 && memcmp(b, left, 32) == 0);
    free(leaves);
}

static void test_merkle_proof_encoding(void) {
    uint64_t s = 5;
    uint8_t *leaves = random_leaves(45, &s);
    char err[PLOW_ERR_LEN];
    uint8_t root[32];
    merkle_root(leaves, 45, root);
    merkle_proof p, q;
    CHECKF(merkle_prove(leaves, 45, 44, &p, err) == 0, "%s", err); /* depth 3: promoted twice */
    CHECK(p.depth == 3);
    CHECKF(merkle_prove(leaves, 45, 13, &p, err) == 0, "%s", err);
    CHECK(p.depth == 6);
    plow_buf b = {0};
    merkle_proof_encode(&p, &b);
    /* Layout: version, n, index, depth, siblings. */
    CHECK(b.len == 18 + 6 * 32);
    CHECK(b.data[0] == 1 && plow_get_u64(b.data + 1) == 45 && plow_get_u64(b.data + 9) == 13 && b.data[17] == 6);
    CHECK(memcmp(b.data + 18, p.path, 6 * 32) == 0);

    for (size_t len = 0; len < b.len; len++) {
        err[0] = 0;
        CHECKF(merkle_proof_decode(&q, b.data, len, err) == -1 && err[0], "truncated to %zu", len);
    }
    uint8_t *big = plow_alloc(b.len + 32);
    memcpy(big, b.data, b.len);
    memset(big + b.len, 0, 32);
    CHECK(merkle_proof_decode(&q, big, b.len + 1, err) == -1 && strstr(err, "trailing"));
    CHECK(merkle_proof_decode(&q, big, b.len + 32, err) == -1);
    /* An overlong path that claims its own length is still refused. */
    big[17] = 7;
    CHECK(merkle_proof_decode(&q, big, b.len + 32, err) == -1 && strstr(err, "needs 6"));
    /* So is a short one that does. */
    big[17] = 5;
    CHECK(merkle_proof_decode(&q, big, b.len - 32, err) == -1 && strstr(err, "path of 5 siblings"));
    free(big);

    /* Every single-bit change: refused by the decoder or by the verifier. */
    for (size_t byte = 0; byte < b.len; byte++)
        for (int bit = 0; bit < 8; bit++) {
            b.data[byte] ^= (uint8_t)(1 << bit);
            bool ok = merkle_proof_decode(&q, b.data, b.len, err) == 0 &&
                      merkle_verify(root, 45, 13, leaves + 13 * 32, &q);
            CHECKF(!ok, "byte %zu bit %d accepted", byte, bit);
            b.data[byte] ^= (uint8_t)(1 << bit);
        }
    CHECK(merkle_proof_decode(&q, b.data, b.len, err) == 0 && merkle_verify(root, 45, 13, leaves + 13 * 32, &q));

    /* Header rules one by one. */
    uint8_t h[18 + 64 * 32];
    memcpy(h, b.data, b.len);
    h[0] = 2;
    CHECK(merkle_proof_decode(&q, h, b.len, err) == -1 && strstr(err, "version"));
    h[0] = 1;
    plow_put_u64(h + 1, 0);
    CHECK(merkle_proof_decode(&q, h, b.len, err) == -1 && strstr(err, "at least one leaf"));
    plow_put_u64(h + 1, 13);
    CHECK(merkle_proof_decode(&q, h, b.len, err) == -1 && strstr(err, "out of range"));
    /* The widest tree: n = 2^64 - 1, 64 siblings. */
    memset(h, 0xab, sizeof h);
    h[0] = 1;
    plow_put_u64(h + 1, UINT64_MAX);
    plow_put_u64(h + 9, 0);
    h[17] = 64;
    CHECKF(merkle_proof_decode(&q, h, sizeof h, err) == 0, "%s", err);
    CHECK(q.depth == 64 && q.n == UINT64_MAX && !merkle_verify(root, UINT64_MAX, 0, leaves, &q));
    plow_buf_release(&b);
    merkle_proof_encode(&q, &b);
    CHECK(b.len == sizeof h && memcmp(b.data, h, sizeof h) == 0);
    plow_buf_release(&b);
    free(leaves);
}

static void test_merkle_large(void) {
    uint64_t s = 6;
    size_t n = 40009;
    uint8_t *leaves = random_leaves(n, &s);
    uint8_t want[32], got[32];
    ref_root(leaves, n, want);
    merkle_root(leaves, n, got);
    CHECK(memcmp(got, want, 32) == 0);
    merkle_tree *t = merkle_tree_new(leaves, n);
    merkle_tree_root(t, got);
    CHECK(memcmp(got, want, 32) == 0);
    char err[PLOW_ERR_LEN];
    for (int k = 0; k < 300; k++) {
        size_t i = k == 0 ? n - 1 : (size_t)(rng_next(&s) % n);
        merkle_proof p, q;
        CHECKF(merkle_tree_prove(t, i, &p, err) == 0, "%s", err);
        CHECKF(merkle_verify(want, n, i, leaves + i * 32, &p), "leaf %zu", i);
        if (k < 3) {
            CHECKF(merkle_prove(leaves, n, i, &q, err) == 0, "%s", err);
            CHECK(memcmp(&p, &q, sizeof p) == 0);
        }
    }
    merkle_tree_free(t);
    free(leaves);
}

/* ---- traces ------------------------------------------------------------- */

static void random_task(uint8_t task[32], uint64_t *s) { fill_random(task, 32, s); }

static trace *make_trace(const uint8_t task[32], const uint8_t *leaves, uint64_t n) {
    trace *t = NULL;
    char err[PLOW_ERR_LEN];
    int rc = trace_new(task, leaves, n, &t, err);
    CHECKF(rc == 0 && t, "%s", err);
    return t;
}

static void test_trace_roundtrip(void) {
    uint64_t s = 7, n = 37;
    uint8_t task[32];
    random_task(task, &s);
    uint8_t *leaves = random_leaves(n + 1, &s);
    trace *t = make_trace(task, leaves, n), *u = NULL;
    char err[PLOW_ERR_LEN];
    plow_buf b = {0};
    trace_serialize(t, &b);
    CHECK(b.len == 52 + 32 * (n + 1));
    CHECK(memcmp(b.data, "PLOWTRCE", 8) == 0 && plow_get_u32(b.data + 8) == 1);
    CHECK(memcmp(b.data + 12, task, 32) == 0 && plow_get_u64(b.data + 44) == n);
    CHECK(memcmp(b.data + 52, leaves, 32 * (n + 1)) == 0);

    CHECKF(trace_parse(b.data, b.len, &u, err) == 0, "%s", err);
    if (!u) goto out;
    CHECK(trace_steps(u) == n && memcmp(trace_task(u), task, 32) == 0);
    for (uint64_t i = 0; i <= n; i++) CHECK(memcmp(trace_leaf(u, i), leaves + 32 * i, 32) == 0);
    uint8_t want[32], got[32];
    merkle_root(leaves, n + 1, want);
    trace_root(u, got);
    CHECK(memcmp(got, want, 32) == 0);
    plow_buf c = {0};
    trace_serialize(u, &c);
    CHECK(c.len == b.len && memcmp(c.data, b.data, b.len) == 0);
    plow_buf_release(&c);
    for (uint64_t i = 0; i <= n; i++) {
        merkle_proof p;
        CHECKF(trace_prove(u, i, &p, err) == 0, "%s", err);
        CHECK(merkle_verify(want, n + 1, i, leaves + 32 * i, &p));
    }
    merkle_proof p;
    CHECK(trace_prove(u, n + 1, &p, err) == -1 && err[0]);
    trace_free(u);
    u = NULL;

    char path[512];
    snprintf(path, sizeof path, "%s/run.trace", test_tmpdir());
    CHECKF(trace_save(t, path, err) == 0, "%s", err);
    CHECKF(trace_load(path, &u, err) == 0, "%s", err);
    if (u) {
        trace_root(u, got);
        CHECK(memcmp(got, want, 32) == 0 && trace_steps(u) == n);
    }
    snprintf(path, sizeof path, "%s/missing.trace", test_tmpdir());
    trace *none = (trace *)1;
    CHECK(trace_load(path, &none, err) == -1 && none == NULL && err[0]);

    /* n = 0 has no step to check. */
    none = (trace *)1;
    CHECK(trace_new(task, leaves, 0, &none, err) == -1 && none == NULL && strstr(err, "no steps"));
    CHECK(trace_new(task, leaves, TRACE_MAX_STEPS + 1, &none, err) == -1);
out:
    trace_free(t);
    trace_free(u);
    trace_free(NULL);
    plow_buf_release(&b);
    free(leaves);
}

static void expect_parse_fail(const uint8_t *d, size_t len, const char *needle, int line) {
    char err[PLOW_ERR_LEN] = "";
    trace *t = (trace *)1;
    int rc = trace_parse(d, len, &t, err);
    if (rc != -1 || t != NULL || !strstr(err, needle)) {
        test_fail(__FILE__, line, "trace_parse: rc %d, err '%s', wanted '%s'", rc, err, needle);
        if (rc == 0) trace_free(t);
    }
}

static void test_trace_bad_files(void) {
    uint64_t s = 8, n = 5;
    uint8_t task[32];
    random_task(task, &s);
    uint8_t *leaves = random_leaves(n + 1, &s);
    trace *t = make_trace(task, leaves, n);
    plow_buf b = {0};
    trace_serialize(t, &b);
    trace_free(t);
    for (size_t len = 0; len < b.len; len++) expect_parse_fail(b.data, len, "", __LINE__);
    expect_parse_fail(b.data, 51, "header", __LINE__);
    expect_parse_fail(b.data, b.len - 1, "truncated", __LINE__);

    uint8_t *d = plow_alloc(b.len + 1);
    memcpy(d, b.data, b.len);
    d[b.len] = 0;
    expect_parse_fail(d, b.len + 1, "trailing", __LINE__);
    d[0] = 'X';
    expect_parse_fail(d, b.len, "magic", __LINE__);
    d[0] = 'P';
    plow_put_u32(d + 8, 2);
    expect_parse_fail(d, b.len, "version 2", __LINE__);
    plow_put_u32(d + 8, 0);
    expect_parse_fail(d, b.len, "version 0", __LINE__);
    plow_put_u32(d + 8, 1);
    /* n larger than the file: rejected by comparing lengths, never allocated. */
    plow_put_u64(d + 44, n + 1);
    expect_parse_fail(d, b.len, "truncated", __LINE__);
    plow_put_u64(d + 44, n - 1);
    expect_parse_fail(d, b.len, "trailing", __LINE__);
    plow_put_u64(d + 44, TRACE_MAX_STEPS);
    expect_parse_fail(d, b.len, "truncated", __LINE__);
    plow_put_u64(d + 44, (uint64_t)1 << 62);
    expect_parse_fail(d, b.len, "limit", __LINE__);
    plow_put_u64(d + 44, UINT64_MAX);
    expect_parse_fail(d, b.len, "limit", __LINE__);
    plow_put_u64(d + 44, 0);
    expect_parse_fail(d, b.len, "no steps", __LINE__);
    plow_put_u64(d + 44, n);
    char err[PLOW_ERR_LEN];
    CHECKF(trace_parse(d, b.len, &t, err) == 0, "%s", err);
    trace_free(t);
    free(d);
    plow_buf_release(&b);
    free(leaves);
}

/* ---- states.txt --------------------------------------------------------- */

static char *states_text(const uint8_t *leaves, uint64_t n) {
    plow_buf b = {0};
    char hex[65];
    for (uint64_t i = 0; i <= n; i++) {
        plow_hex(leaves + 32 * i, 32, hex);
        plow_buf_printf(&b, "%" PRIu64 " %s\n", i, hex);
    }
    plow_buf_append(&b, "", 1);
    return (char *)b.data;
}

static void expect_states_fail(const char *text, const char *needle, int line) {
    char err[PLOW_ERR_LEN] = "";
    uint8_t task[32] = {0};
    trace *t = (trace *)1;
    int rc = trace_from_states(task, text, strlen(text), &t, err);
    if (rc != -1 || t != NULL || !strstr(err, needle)) {
        test_fail(__FILE__, line, "states: rc %d, err '%s', wanted '%s'", rc, err, needle);
        if (rc == 0) trace_free(t);
    }
}

static void test_trace_states(void) {
    uint64_t s = 9, n = 12;
    uint8_t task[32];
    random_task(task, &s);
    uint8_t *leaves = random_leaves(n + 1, &s);
    char *text = states_text(leaves, n);
    char err[PLOW_ERR_LEN];
    trace *t = NULL, *u = make_trace(task, leaves, n);
    CHECKF(trace_from_states(task, text, strlen(text), &t, err) == 0, "%s", err);
    if (t) {
        plow_buf a = {0}, b = {0};
        trace_serialize(t, &a);
        trace_serialize(u, &b);
        CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        plow_buf_release(&a);
        plow_buf_release(&b);
        trace_free(t);
        t = NULL;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/states.txt", test_tmpdir());
    CHECKF(plow_write_file(path, text, strlen(text), err) == 0, "%s", err);
    CHECKF(trace_load_states(task, path, &t, err) == 0, "%s", err);
    CHECK(t && trace_steps(t) == n);
    trace_free(t);

    char hex[65], h2[65], line[256];
    plow_hex(leaves, 32, hex);
    plow_hex(leaves + 32, 32, h2);
    size_t len = strlen(text), L = 67 + 67; /* lines 0 to 9 are 67 bytes */
    plow_buf b = {0};
#define WITH(...)                               \
    do {                                        \
        b.len = 0;                              \
        plow_buf_printf(&b, __VA_ARGS__);       \
        plow_buf_append(&b, "", 1);             \
    } while (0)
    /* Missing step 2: line 3 says 3. */
    WITH("%.*s%s", (int)L, text, text + L + 67);
    expect_states_fail((char *)b.data, "line 3: step 3, expected 2", __LINE__);
    /* Out of order: 0, 2, 1, ... */
    WITH("%.67s%.67s%.67s%s", text, text + 134, text + 67, text + 201);
    expect_states_fail((char *)b.data, "line 2: step 2, expected 1", __LINE__);
    /* Duplicate step. */
    WITH("%.67s%s", text, text);
    expect_states_fail((char *)b.data, "line 2: step 0, expected 1", __LINE__);
    /* Starts at 1. */
    expect_states_fail(text + 67, "line 1: step 1, expected 0", __LINE__);
    /* Bad hex, upper case, short and long hashes, extra fields, spacing. */
    snprintf(line, sizeof line, "0 %.63sg\n1 %s\n", hex, h2);
    expect_states_fail(line, "'g'", __LINE__);
    snprintf(line, sizeof line, "0 %s\n1 %.63sA\n", hex, h2);
    expect_states_fail(line, "line 2: 'A'", __LINE__);
    snprintf(line, sizeof line, "0 %.63s\n1 %s\n", hex, h2);
    expect_states_fail(line, "63 characters", __LINE__);
    snprintf(line, sizeof line, "0 %s0\n1 %s\n", hex, h2);
    expect_states_fail(line, "65 characters", __LINE__);
    snprintf(line, sizeof line, "0 %s\n1 %s 0.25\n", hex, h2);
    expect_states_fail(line, "extra field", __LINE__);
    snprintf(line, sizeof line, "0 %s\n1  %s\n", hex, h2);
    expect_states_fail(line, "line 2", __LINE__);
    snprintf(line, sizeof line, "0\t%s\n1 %s\n", hex, h2);
    expect_states_fail(line, "STEP HASH", __LINE__);
    snprintf(line, sizeof line, " 0 %s\n1 %s\n", hex, h2);
    expect_states_fail(line, "STEP HASH", __LINE__);
    snprintf(line, sizeof line, "0 %s\r\n1 %s\r\n", hex, h2);
    expect_states_fail(line, "65 characters", __LINE__);
    snprintf(line, sizeof line, "0 %s\n01 %s\n", hex, h2);
    expect_states_fail(line, "leading zero", __LINE__);
    snprintf(line, sizeof line, "0 %s\n+1 %s\n", hex, h2);
    expect_states_fail(line, "STEP HASH", __LINE__);
    snprintf(line, sizeof line, "0 %s\n99999999999999999999999 %s\n", hex, h2);
    expect_states_fail(line, "too large", __LINE__);
    snprintf(line, sizeof line, "0 %s\n18446744073709551617 %s\n", hex, h2);
    expect_states_fail(line, "too large", __LINE__);
    snprintf(line, sizeof line, "0 %s\n\n1 %s\n", hex, h2);
    expect_states_fail(line, "line 2: expected", __LINE__);
    snprintf(line, sizeof line, "0 %s\n1 %s", hex, h2);
    expect_states_fail(line, "no newline", __LINE__);
    snprintf(line, sizeof line, "0 %s\n", hex);
    expect_states_fail(line, "1 line,", __LINE__);
    expect_states_fail("", "0 lines", __LINE__);
    expect_states_fail("\n\n", "line 1: expected", __LINE__);
    /* Truncated anywhere: refused (a cut inside a line loses its newline or
     * its hash length; a cut at a line end loses at most whole steps and is
     * only caught by comparing n with the commitment). */
    uint64_t lines = 0;
    for (size_t k = 1; k < len; k++) {
        lines += text[k - 1] == '\n';
        trace *v = NULL;
        int rc = trace_from_states(task, text, k, &v, err);
        bool ok = text[k - 1] == '\n' && lines >= 2;
        CHECKF(ok ? rc == 0 : rc == -1, "cut at %zu", k);
        if (v) CHECK(trace_steps(v) == lines - 1);
        trace_free(v);
    }
#undef WITH
    snprintf(path, sizeof path, "%s/no_states.txt", test_tmpdir());
    t = (trace *)1;
    CHECK(trace_load_states(task, path, &t, err) == -1 && t == NULL && err[0]);
    plow_buf_release(&b);
    trace_free(u);
    free(text);
    free(leaves);
}

/* ---- divergence --------------------------------------------------------- */

static void test_trace_first_divergence(void) {
    uint64_t s = 10, n = 50;
    uint8_t task[32];
    random_task(task, &s);
    uint8_t *a = random_leaves(n + 1, &s), *b = plow_alloc(32 * (n + 1));
    char err[PLOW_ERR_LEN];
    bool div;
    uint64_t j;
    trace *ta = make_trace(task, a, n), *tb = make_trace(task, a, n);
    CHECKF(trace_first_divergence(ta, tb, &div, &j, err) == 0, "%s", err);
    CHECK(!div && j == 0);
    trace_free(tb);

    for (int trial = 0; trial < 200; trial++) {
        memcpy(b, a, 32 * (n + 1));
        uint64_t first = rng_next(&s) % (n + 1);
        int extra = trial < 100 ? 0 : 1 + (int)(rng_next(&s) % 5);
        uint64_t bit = rng_next(&s) % 256;
        b[first * 32 + bit / 8] ^= (uint8_t)(1 << bit % 8);
        for (int k = 0; k < extra; k++) { /* more changes, none before `first` */
            uint64_t at = first + rng_next(&s) % (n + 1 - first);
            b[at * 32 + rng_next(&s) % 32] ^= (uint8_t)(1 + rng_next(&s) % 255);
        }
        tb = make_trace(task, b, n);
        CHECKF(trace_first_divergence(ta, tb, &div, &j, err) == 0, "%s", err);
        CHECKF(div && j == first, "trial %d: got %" PRIu64 ", want %" PRIu64, trial, j, first);
        CHECKF(trace_first_divergence(tb, ta, &div, &j, err) == 0 && div && j == first, "trial %d swapped", trial);
        trace_free(tb);
    }
    uint8_t other[32];
    memcpy(other, task, 32);
    other[31] ^= 1;
    tb = make_trace(other, a, n);
    CHECK(trace_first_divergence(ta, tb, &div, &j, err) == -1 && strstr(err, "different tasks"));
    trace_free(tb);
    tb = make_trace(task, a, n - 1);
    CHECK(trace_first_divergence(ta, tb, &div, &j, err) == -1 && strstr(err, "steps"));
    trace_free(tb);
    trace_free(ta);
    free(a);
    free(b);
}

/* A scripted party for the bisection: answers from `t`, except that it
 * misbehaves on its `lie_at`-th question (0-based) in the way `how` says,
 * and from then on if `keep_lying`. */
typedef enum { HONEST, FLIP_LEAF, OTHER_INDEX, REFUSE, FOREIGN } lie_kind;
typedef struct liar {
    const trace *t;
    const trace *foreign; /* FOREIGN: answers from this trace instead */
    lie_kind how;
    int lie_at, asked;
    uint64_t last_step;
} liar;

static int liar_answer(void *ctx, uint64_t step, uint8_t leaf[32], merkle_proof *proof) {
    liar *l = ctx;
    bool lie = l->how != HONEST && l->asked++ >= l->lie_at;
    l->last_step = step;
    const trace *src = lie && l->how == FOREIGN ? l->foreign : l->t;
    if (lie && l->how == REFUSE) return -1;
    uint64_t at = lie && l->how == OTHER_INDEX ? (step == 0 ? 1 : step - 1) : step;
    if (trace_prove(src, at, proof, NULL)) return -1;
    memcpy(leaf, trace_leaf(src, at), 32);
    if (lie && l->how == FLIP_LEAF) leaf[7] ^= 0x10;
    return 0;
}

static void party_of(liar *l, trace_party *p) {
    trace_root(l->t, p->root);
    p->answer = liar_answer;
    p->ctx = l;
}

static uint32_t ceil_log2(uint64_t n) {
    uint32_t k = 0;
    while (((uint64_t)1 << k) < n) k++;
    return k;
}

static void check_diverges(const trace_bisection *r, const trace *a, const trace *b, uint64_t j) {
    uint64_t n = trace_steps(a);
    uint8_t ra[32], rb[32];
    trace_root(a, ra);
    trace_root(b, rb);
    CHECKF(r->verdict == TRACE_DIVERGES && r->step == j, "n %" PRIu64 ": %s at %" PRIu64 ", want %" PRIu64, n,
           trace_verdict_name(r->verdict), r->step, j);
    CHECKF(r->queries <= 2 + ceil_log2(n), "n %" PRIu64 ": %u queries", n, r->queries);
    if (r->verdict != TRACE_DIVERGES) return;
    CHECK(memcmp(r->leaf_a, trace_leaf(a, j), 32) == 0 && memcmp(r->leaf_b, trace_leaf(b, j), 32) == 0);
    CHECK(merkle_verify(ra, n + 1, j, r->leaf_a, &r->proof_a) && merkle_verify(rb, n + 1, j, r->leaf_b, &r->proof_b));
    if (j > 0) {
        CHECK(memcmp(r->agreed, trace_leaf(a, j - 1), 32) == 0);
        CHECK(merkle_verify(ra, n + 1, j - 1, r->agreed, &r->agreed_proof_a));
        CHECK(merkle_verify(rb, n + 1, j - 1, r->agreed, &r->agreed_proof_b));
    }
}

static void test_trace_bisect(void) {
    uint64_t s = 11;
    uint8_t task[32];
    random_task(task, &s);
    char err[PLOW_ERR_LEN];
    trace_bisection r;
    uint8_t *a = random_leaves(65, &s), *b = plow_alloc(65 * 32);

    /* Two runs that part at step j and stay apart: found exactly, for every
     * j of every n up to 40, with the local (honest) party helper. */
    for (uint64_t n = 1; n <= 40; n++) {
        trace *ta = make_trace(task, a, n);
        trace_party pa, pb;
        trace_party_local(ta, &pa);
        trace_party_local(ta, &pb);
        CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
        CHECK(r.verdict == TRACE_SAME && r.queries == 0);
        for (uint64_t j = 0; j <= n; j++) {
            memcpy(b, a, 65 * 32);
            for (uint64_t i = j; i <= n; i++) b[32 * i] ^= 0x5a;
            trace *tb = make_trace(task, b, n);
            trace_party_local(tb, &pb);
            CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
            check_diverges(&r, ta, tb, j);
            CHECKF(trace_bisect(n, &pb, &pa, &r, err) == 0, "%s", err);
            check_diverges(&r, tb, ta, j);
            trace_free(tb);
        }
        trace_free(ta);
    }

    /* Against the linear search on a long run. */
    uint64_t n = 64;
    trace *ta = make_trace(task, a, n);
    for (int trial = 0; trial < 30; trial++) {
        uint64_t j = rng_next(&s) % (n + 1);
        memcpy(b, a, 65 * 32);
        for (uint64_t i = j; i <= n; i++) fill_random(b + 32 * i, 32, &s);
        trace *tb = make_trace(task, b, n);
        bool div;
        uint64_t first;
        CHECK(trace_first_divergence(ta, tb, &div, &first, err) == 0 && div && first == j);
        trace_party pa, pb;
        trace_party_local(ta, &pa);
        trace_party_local(tb, &pb);
        CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
        check_diverges(&r, ta, tb, first);
        trace_free(tb);
    }

    /* A detour that rejoins: the ends agree, nothing to locate. */
    memcpy(b, a, 65 * 32);
    b[32 * 30] ^= 1;
    trace *tb = make_trace(task, b, n);
    {
        trace_party pa, pb;
        trace_party_local(ta, &pa);
        trace_party_local(tb, &pb);
        CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
        CHECK(r.verdict == TRACE_ENDS_AGREE && r.queries == 2);
    }
    trace_free(tb);

    /* Liars: B diverges from step 40 but cheats on its k-th answer. Each
     * kind of lie, at each point of the search, names B; the same lies by A
     * name A; both lying names both. */
    memcpy(b, a, 65 * 32);
    for (uint64_t i = 40; i <= n; i++) b[32 * i + 3] ^= 0x77;
    tb = make_trace(task, b, n);
    trace *tc = make_trace(task, b, n); /* FOREIGN answers come from a */
    static const lie_kind kinds[] = {FLIP_LEAF, OTHER_INDEX, REFUSE, FOREIGN};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int at = 0; at < 8; at++) {
            liar honest = {.t = ta, .how = HONEST};
            liar cheat = {.t = tb, .foreign = ta, .how = kinds[k], .lie_at = at};
            trace_party pa, pb;
            party_of(&honest, &pa);
            party_of(&cheat, &pb);
            CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
            /* Every lie is caught on the question it answers: a proof
             * from another trace does not hash to this party's root. */
            if (cheat.asked <= at) {
                check_diverges(&r, ta, tb, 40);
                continue;
            }
            CHECKF(r.verdict == TRACE_FAULT_B && r.step == cheat.last_step && r.queries == (uint32_t)at + 1,
                   "kind %zu at %d: %s at %" PRIu64, k, at, trace_verdict_name(r.verdict), r.step);
            CHECK(r.agreed_proof_a.depth == 0 && r.proof_b.depth == 0); /* nothing half-proved kept */

            liar cheat_a = {.t = ta, .foreign = tc, .how = kinds[k], .lie_at = at};
            liar honest_b = {.t = tb, .how = HONEST};
            party_of(&cheat_a, &pa);
            party_of(&honest_b, &pb);
            CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
            CHECK(r.verdict == TRACE_FAULT_A && r.queries == (uint32_t)at + 1);

            liar c1 = {.t = ta, .how = kinds[k], .lie_at = at, .foreign = tc};
            liar c2 = {.t = tb, .how = kinds[k], .lie_at = at, .foreign = ta};
            party_of(&c1, &pa);
            party_of(&c2, &pb);
            CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
            CHECKF(r.verdict == TRACE_FAULT_BOTH, "both: %s", trace_verdict_name(r.verdict));
        }
    /* A party that commits to one trace and answers from another is caught
     * on its first answer, where the leaves still agree: the path, not only
     * the leaf, must hash to its root. */
    {
        liar honest = {.t = ta, .how = HONEST}, cheat = {.t = tb, .foreign = ta, .how = FOREIGN};
        trace_party pa, pb;
        party_of(&honest, &pa);
        party_of(&cheat, &pb);
        CHECKF(trace_bisect(n, &pa, &pb, &r, err) == 0, "%s", err);
        CHECK(r.verdict == TRACE_FAULT_B && r.step == 0 && r.queries == 1);
    }
    CHECK(trace_bisect(0, NULL, NULL, &r, err) == -1 && strstr(err, "no steps"));
    CHECK(strcmp(trace_verdict_name(TRACE_FAULT_BOTH), "fault both") == 0);
    CHECK(strcmp(trace_verdict_name(TRACE_VERDICT_COUNT), "?") == 0);
    trace_free(tb);
    trace_free(tc);
    trace_free(ta);
    free(a);
    free(b);
}

/* ---- commitment --------------------------------------------------------- */

static void test_trace_commitment(void) {
    uint64_t s = 12, n = 20;
    uint8_t task[32], art[32];
    random_task(task, &s);
    fill_random(art, 32, &s);
    uint8_t *leaves = random_leaves(n + 1, &s);
    trace *t = make_trace(task, leaves, n);
    char err[PLOW_ERR_LEN];
    trace_commitment c, d;
    trace_commit(t, art, 5, &c);
    uint8_t rec[TRACE_COMMITMENT_LEN + 1], root[32];
    trace_root(t, root);
    CHECK(sizeof rec - 1 == 141);
    CHECKF(trace_commitment_encode(&c, rec, err) == 0, "%s", err);
    CHECK(rec[0] == 1 && memcmp(rec + 1, task, 32) == 0 && memcmp(rec + 33, root, 32) == 0);
    CHECK(memcmp(rec + 65, leaves + 32 * n, 32) == 0 && memcmp(rec + 97, art, 32) == 0);
    CHECK(plow_get_u64(rec + 129) == n && plow_get_u32(rec + 137) == 5);
    CHECKF(trace_commitment_decode(&d, rec, TRACE_COMMITMENT_LEN, err) == 0, "%s", err);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    CHECKF(trace_commitment_check(&d, t, err) == 0, "%s", err);

    for (size_t len = 0; len < TRACE_COMMITMENT_LEN; len++)
        CHECKF(trace_commitment_decode(&d, rec, len, err) == -1, "length %zu", len);
    rec[TRACE_COMMITMENT_LEN] = 0;
    CHECK(trace_commitment_decode(&d, rec, TRACE_COMMITMENT_LEN + 1, err) == -1 && strstr(err, "142 bytes"));
    rec[0] = 2;
    CHECK(trace_commitment_decode(&d, rec, TRACE_COMMITMENT_LEN, err) == -1 && strstr(err, "version"));
    rec[0] = 1;
    static const struct { uint64_t n; uint32_t c; bool ok; } ranges[] = {
        {0, 1, false}, {1, 0, false}, {20, 21, false}, {20, 20, true}, {1, 1, true},
        {TRACE_MAX_STEPS, 1, true}, {TRACE_MAX_STEPS + 1, 1, false}, {UINT64_MAX, 7, false},
    };
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        trace_commitment e = c;
        e.n = ranges[k].n;
        e.checkpoint_every = ranges[k].c;
        uint8_t r2[TRACE_COMMITMENT_LEN];
        memcpy(r2, rec, sizeof r2);
        plow_put_u64(r2 + 129, ranges[k].n);
        plow_put_u32(r2 + 137, ranges[k].c);
        CHECKF((trace_commitment_encode(&e, r2, err) == 0) == ranges[k].ok, "encode case %zu", k);
        CHECKF((trace_commitment_decode(&d, r2, sizeof r2, err) == 0) == ranges[k].ok, "decode case %zu", k);
    }

    /* The check names each mismatch. */
    trace_commitment e = c;
    e.root[0] ^= 1;
    CHECK(trace_commitment_check(&e, t, err) == -1 && strstr(err, "root"));
    e = c;
    e.final_state[31] ^= 1;
    CHECK(trace_commitment_check(&e, t, err) == -1 && strstr(err, "final"));
    e = c;
    e.task[0] ^= 1;
    CHECK(trace_commitment_check(&e, t, err) == -1 && strstr(err, "task"));
    e = c;
    e.n = n + 1;
    CHECK(trace_commitment_check(&e, t, err) == -1 && strstr(err, "steps"));
    trace_free(t);
    free(leaves);
}

const test_case proof_tests[] = {
    {"merkle_known_answers", test_merkle_known_answers},
    {"merkle_roots_vs_reference", test_merkle_roots_vs_reference},
    {"merkle_every_proof", test_merkle_every_proof},
    {"merkle_adversary", test_merkle_adversary},
    {"merkle_domain_separation", test_merkle_domain_separation},
    {"merkle_proof_encoding", test_merkle_proof_encoding},
    {"merkle_large", test_merkle_large},
    {"trace_roundtrip", test_trace_roundtrip},
    {"trace_bad_files", test_trace_bad_files},
    {"trace_states", test_trace_states},
    {"trace_first_divergence", test_trace_first_divergence},
    {"trace_bisect", test_trace_bisect},
    {"trace_commitment", test_trace_commitment},
    {NULL, NULL},
};
