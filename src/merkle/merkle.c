/*
 * merkle.c — Merkle roots, inclusion proofs and their encoding.
 *
 * Every function here hashes through a short-lived `hasher` that fetches
 * SHA-256 from OpenSSL once and reuses one context: the trees hash millions
 * of 33- and 65-byte messages, and OpenSSL's per-message setup (what
 * plow_sha256_once pays) costs about four times the hash itself. The bytes
 * hashed are the same; the tests check every node against plow_sha256.
 *
 * Non-goals: consistency proofs between trees of different sizes (a trace is
 * committed once, whole), multi-leaf proofs, and threads.
 */
#include "../base/plow.h"

#include "merkle.h"

#include <openssl/evp.h>

/* Stored levels of a merkle_tree start here: nodes over 2^4 = 16 leaves. */
#define TREE_BASE_LEVEL 4

typedef struct hasher {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
} hasher;

static void hasher_init(hasher *h) {
    h->md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    h->ctx = EVP_MD_CTX_new();
    PLOW_ASSERT(h->md && h->ctx);
}

static void hasher_release(hasher *h) {
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
}

/* out = SHA-256(prefix || a || b), b may be NULL. */
static void hash3(hasher *h, uint8_t prefix, const uint8_t a[32], const uint8_t *b, uint8_t out[32]) {
    unsigned int len = 0;
    PLOW_ASSERT(EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1);
    PLOW_ASSERT(EVP_DigestUpdate(h->ctx, &prefix, 1) == 1);
    PLOW_ASSERT(EVP_DigestUpdate(h->ctx, a, 32) == 1);
    if (b) PLOW_ASSERT(EVP_DigestUpdate(h->ctx, b, 32) == 1);
    PLOW_ASSERT(EVP_DigestFinal_ex(h->ctx, out, &len) == 1 && len == 32);
}

static void leaf_hash(hasher *h, const uint8_t leaf[32], uint8_t out[32]) {
    hash3(h, MERKLE_LEAF_PREFIX, leaf, NULL, out);
}

static void node_hash(hasher *h, const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
    hash3(h, MERKLE_NODE_PREFIX, l, r, out);
}

void merkle_leaf_hash(const uint8_t leaf[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]) {
    hasher h;
    hasher_init(&h);
    leaf_hash(&h, leaf, out);
    hasher_release(&h);
}

void merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN]) {
    hasher h;
    hasher_init(&h);
    node_hash(&h, left, right, out);
    hasher_release(&h);
}

/* Number of levels above the leaves: the first L with one node, i.e. the
 * bit length of n-1. Level L has ((n-1) >> L) + 1 nodes. */
static uint32_t tree_height(uint64_t n) {
    uint32_t L = 0;
    while (L < 64 && ((n - 1) >> L) != 0) L++;
    return L;
}

/* Whether the node at level L on the path of `index` has a sibling in a
 * tree of n leaves. Its sibling starts at leaf ((index >> L) ^ 1) << L: a
 * bit flip of index, so it cannot overflow. A left sibling always exists; a
 * right one exists iff it starts before n (else the node is promoted). */
static bool has_sibling(uint64_t index, uint64_t n, uint32_t L) {
    return (((index >> L) ^ 1) << L) < n;
}

uint32_t merkle_path_len(uint64_t index, uint64_t n) {
    PLOW_ASSERT(index < n);
    uint32_t len = 0;
    for (uint32_t L = 0, H = tree_height(n); L < H; L++) len += has_sibling(index, n, L);
    return len;
}

/* Streaming root: the perfect subtrees seen so far, one per set bit of
 * count (stack[L] holds the subtree of 2^L leaves when bit L is set). A push
 * merges equal sizes like a binary carry; the root folds the stack from the
 * smallest subtree up, which is the promotion rule read top-down. */
typedef struct acc {
    uint64_t count;
    uint8_t stack[64][32];
} acc;

static void acc_push(hasher *h, acc *a, const uint8_t leaf[32]) {
    uint8_t x[32];
    leaf_hash(h, leaf, x);
    uint32_t L = 0;
    while ((a->count >> L) & 1) {
        node_hash(h, a->stack[L], x, x);
        L++;
    }
    memcpy(a->stack[L], x, 32);
    a->count++;
}

static void acc_root(hasher *h, const acc *a, uint8_t root[32]) {
    PLOW_ASSERT(a->count > 0);
    uint32_t L = 0;
    while (!((a->count >> L) & 1)) L++;
    uint8_t r[32];
    memcpy(r, a->stack[L], 32);
    for (L++; L < 64; L++)
        if ((a->count >> L) & 1) node_hash(h, a->stack[L], r, r);
    memcpy(root, r, 32);
}

/* Root of leaves [lo, lo+len), len >= 1: the node that covers them. */
static void range_root(hasher *h, const uint8_t *leaves, uint64_t lo, uint64_t len, uint8_t out[32]) {
    acc a;
    a.count = 0;
    for (uint64_t i = 0; i < len; i++) acc_push(h, &a, leaves + (lo + i) * 32);
    acc_root(h, &a, out);
}

/* The node at level L, position s, from the leaves: it covers
 * [s·2^L, min((s+1)·2^L, n)); s·2^L < n is the caller's to ensure. */
static void node_from_leaves(hasher *h, const uint8_t *leaves, uint64_t n, uint32_t L, uint64_t s,
                             uint8_t out[32]) {
    uint64_t lo = s << L, span = (uint64_t)1 << L;
    range_root(h, leaves, lo, n - lo < span ? n - lo : span, out);
}

void merkle_root(const uint8_t *leaves, size_t n, uint8_t root[MERKLE_HASH_LEN]) {
    PLOW_ASSERT(n >= 1);
    hasher h;
    hasher_init(&h);
    range_root(&h, leaves, 0, n, root);
    hasher_release(&h);
}

static int check_index(uint64_t n, uint64_t index, char err[PLOW_ERR_LEN]) {
    if (n == 0) return plow_error(err, "merkle: a tree needs at least one leaf");
    if (index >= n)
        return plow_error(err, "merkle: leaf %llu is out of range for a tree of %llu leaves",
                          (unsigned long long)index, (unsigned long long)n);
    return 0;
}

int merkle_prove(const uint8_t *leaves, size_t n, size_t index, merkle_proof *out,
                 char err[PLOW_ERR_LEN]) {
    if (check_index(n, index, err)) return -1;
    hasher h;
    hasher_init(&h);
    memset(out, 0, sizeof *out);
    out->index = index;
    out->n = n;
    for (uint32_t L = 0, H = tree_height(n); L < H; L++)
        if (has_sibling(index, n, L)) node_from_leaves(&h, leaves, n, L, (index >> L) ^ 1, out->path[out->depth++]);
    hasher_release(&h);
    return 0;
}

/* Constant-time equality of two hashes: the time does not tell how many
 * leading bytes of a forged root were right. */
static bool hash_equal(const uint8_t a[32], const uint8_t b[32]) {
    uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

bool merkle_verify(const uint8_t root[MERKLE_HASH_LEN], uint64_t n, uint64_t index,
                   const uint8_t leaf[MERKLE_HASH_LEN], const merkle_proof *p) {
    if (n == 0 || index >= n || p->n != n || p->index != index) return false;
    if (p->depth > MERKLE_MAX_DEPTH || p->depth != merkle_path_len(index, n)) return false;
    hasher h;
    hasher_init(&h);
    uint8_t r[32];
    leaf_hash(&h, leaf, r);
    uint32_t k = 0;
    for (uint32_t L = 0, H = tree_height(n); L < H; L++) {
        if (!has_sibling(index, n, L)) continue; /* promoted */
        if ((index >> L) & 1)
            node_hash(&h, p->path[k], r, r);
        else
            node_hash(&h, r, p->path[k], r);
        k++;
    }
    hasher_release(&h);
    return k == p->depth && hash_equal(r, root);
}

void merkle_proof_encode(const merkle_proof *p, plow_buf *out) {
    PLOW_ASSERT(p->depth <= MERKLE_MAX_DEPTH);
    uint8_t head[MERKLE_PROOF_HEADER_LEN];
    head[0] = MERKLE_PROOF_VERSION;
    plow_put_u64(head + 1, p->n);
    plow_put_u64(head + 9, p->index);
    head[17] = (uint8_t)p->depth;
    plow_buf_append(out, head, sizeof head);
    plow_buf_append(out, p->path, (size_t)p->depth * MERKLE_HASH_LEN);
}

int merkle_proof_decode(merkle_proof *p, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]) {
    if (len < MERKLE_PROOF_HEADER_LEN)
        return plow_error(err, "merkle proof: %zu bytes, shorter than its %d-byte header", len,
                          MERKLE_PROOF_HEADER_LEN);
    if (buf[0] != MERKLE_PROOF_VERSION)
        return plow_error(err, "merkle proof: version %u, this build reads version %d", buf[0],
                          MERKLE_PROOF_VERSION);
    uint64_t n = plow_get_u64(buf + 1), index = plow_get_u64(buf + 9);
    uint32_t depth = buf[17];
    if (check_index(n, index, err)) return -1;
    uint32_t want = merkle_path_len(index, n);
    if (depth != want)
        return plow_error(err, "merkle proof: path of %u siblings, leaf %llu of %llu needs %u", depth,
                          (unsigned long long)index, (unsigned long long)n, want);
    size_t total = MERKLE_PROOF_HEADER_LEN + (size_t)depth * MERKLE_HASH_LEN;
    if (len != total)
        return plow_error(err, "merkle proof: %zu bytes, expected %zu (%s)", len, total,
                          len < total ? "truncated" : "trailing bytes");
    memset(p, 0, sizeof *p);
    p->n = n;
    p->index = index;
    p->depth = depth;
    memcpy(p->path, buf + MERKLE_PROOF_HEADER_LEN, (size_t)depth * MERKLE_HASH_LEN);
    return 0;
}

/* ---- merkle_tree -------------------------------------------------------- */

struct merkle_tree {
    const uint8_t *leaves; /* (n, 32), borrowed */
    uint64_t n;
    uint32_t height;                    /* tree_height(n) */
    size_t level_at[MERKLE_MAX_DEPTH + 1]; /* first node of level L >= TREE_BASE_LEVEL in nodes */
    uint8_t (*nodes)[32];               /* levels TREE_BASE_LEVEL..height, one after another */
    uint8_t root[32];
};

static uint64_t level_count(uint64_t n, uint32_t L) { return ((n - 1) >> L) + 1; }

merkle_tree *merkle_tree_new(const uint8_t *leaves, size_t n) {
    PLOW_ASSERT(n >= 1);
    merkle_tree *t = plow_calloc(1, sizeof *t);
    t->leaves = leaves;
    t->n = n;
    t->height = tree_height(n);
    hasher h;
    hasher_init(&h);
    if (t->height < TREE_BASE_LEVEL) {
        /* At most 16 leaves: every sibling is rehashed from the leaves. */
        range_root(&h, leaves, 0, n, t->root);
        hasher_release(&h);
        return t;
    }
    size_t total = 0;
    for (uint32_t L = TREE_BASE_LEVEL; L <= t->height; L++) {
        t->level_at[L] = total;
        PLOW_ASSERT(plow_add_size(total, (size_t)level_count(n, L), &total));
    }
    size_t bytes;
    PLOW_ASSERT(plow_mul_size(total, 32, &bytes));
    t->nodes = plow_alloc(bytes);
    uint8_t (*base)[32] = t->nodes + t->level_at[TREE_BASE_LEVEL];
    for (uint64_t s = 0; s < level_count(n, TREE_BASE_LEVEL); s++)
        node_from_leaves(&h, leaves, n, TREE_BASE_LEVEL, s, base[s]);
    for (uint32_t L = TREE_BASE_LEVEL; L < t->height; L++) {
        uint8_t (*below)[32] = t->nodes + t->level_at[L], (*above)[32] = t->nodes + t->level_at[L + 1];
        uint64_t m = level_count(n, L);
        for (uint64_t s = 0; 2 * s < m; s++) {
            if (2 * s + 1 < m)
                node_hash(&h, below[2 * s], below[2 * s + 1], above[s]);
            else
                memcpy(above[s], below[2 * s], 32);
        }
    }
    memcpy(t->root, t->nodes[t->level_at[t->height]], 32);
    hasher_release(&h);
    return t;
}

uint64_t merkle_tree_size(const merkle_tree *t) { return t->n; }

void merkle_tree_root(const merkle_tree *t, uint8_t root[MERKLE_HASH_LEN]) { memcpy(root, t->root, 32); }

int merkle_tree_prove(const merkle_tree *t, uint64_t index, merkle_proof *out, char err[PLOW_ERR_LEN]) {
    if (check_index(t->n, index, err)) return -1;
    hasher h;
    hasher_init(&h);
    memset(out, 0, sizeof *out);
    out->index = index;
    out->n = t->n;
    for (uint32_t L = 0; L < t->height; L++) {
        if (!has_sibling(index, t->n, L)) continue;
        uint64_t s = (index >> L) ^ 1;
        if (L < TREE_BASE_LEVEL)
            node_from_leaves(&h, t->leaves, t->n, L, s, out->path[out->depth]);
        else
            memcpy(out->path[out->depth], t->nodes[t->level_at[L] + s], 32);
        out->depth++;
    }
    hasher_release(&h);
    return 0;
}

void merkle_tree_free(merkle_tree *t) {
    if (!t) return;
    free(t->nodes);
    free(t);
}
