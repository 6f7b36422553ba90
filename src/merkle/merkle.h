/*
 * merkle.h — binary Merkle trees over 32-byte leaves, and inclusion proofs.
 *
 * Below both users: the proof layer commits to a training run by the Merkle
 * root of its state hashes (docs/formats/trace.md), and the ledger checks
 * a challenger's inclusion proofs against that committed root. Depends on
 * plow.h only.
 * The tree over leaves l_0 .. l_{n-1}:
 *
 *     leaf node  = SHA-256(0x00 || l_i)                 (33-byte preimage)
 *     inner node = SHA-256(0x01 || left || right)       (65-byte preimage)
 *
 * Levels are built bottom-up: level 0 holds the n leaf nodes; each next
 * level pairs nodes (0,1), (2,3), ...; when a level has an odd count its
 * last node is promoted to the next level unchanged (no hash, no
 * duplication). The root is the single node of the top level. This is the
 * tree of RFC 6962 §2.1 (split at the largest power of two below n) with
 * 32-byte leaf entries, so a node at level L, position j, is the root of the
 * leaves [j·2^L, min((j+1)·2^L, n)).
 *
 * Invariants:
 *   - a tree has n >= 1 leaves; merkle_root asserts it, functions that take
 *     n from a peer return an error instead;
 *   - the sibling path of leaf i has a length fixed by (i, n) alone
 *     (merkle_path_len), at most MERKLE_MAX_DEPTH; siblings are listed from
 *     the leaf level up;
 *   - merkle_verify trusts nothing in the proof: the caller states the n and
 *     the index it expects (from its own commitment, never from the proof),
 *     and the proof must carry exactly those and a path of exactly the
 *     right length.
 *
 * Ownership:
 *   - leaves are passed as one flat array of n·32 bytes (`const uint8_t *`:
 *     C17 does not convert `uint8_t (*)[32]` to `const uint8_t (*)[32]`);
 *   - merkle_tree_new borrows its leaves: they must stay valid and unchanged
 *     until merkle_tree_free (which accepts NULL);
 *   - merkle_proof is a plain value (about 2 KiB), no heap.
 *
 * Usage:
 *     uint8_t root[32];
 *     merkle_root(leaves, n, root);                  // leaves: n*32 bytes
 *     merkle_proof p;
 *     if (merkle_prove(leaves, n, i, &p, err) != 0) ...
 *     plow_buf b = {0};
 *     merkle_proof_encode(&p, &b);                   // send b.data, b.len
 *     ...
 *     merkle_proof q;
 *     if (merkle_proof_decode(&q, bytes, len, err) != 0) ...
 *     if (!merkle_verify(root, n, i, leaf, &q)) ...  // n, i: what you expect
 *
 * For many proofs over one tree, merkle_tree_new once and merkle_tree_prove
 * (O(log n) hashes each) instead of merkle_prove (O(n) each).
 */
#ifndef PLOW_MERKLE_H
#define PLOW_MERKLE_H

#include "../base/plow.h"

#define MERKLE_HASH_LEN 32
#define MERKLE_MAX_DEPTH 64 /* n <= 2^64 - 1 leaves */

/* Domain prefixes: the first byte of every hashed preimage. */
#define MERKLE_LEAF_PREFIX 0x00
#define MERKLE_NODE_PREFIX 0x01

/* Encoded proof: u8 version, u64 n, u64 index, u8 depth, depth x 32 bytes. */
#define MERKLE_PROOF_VERSION 1
#define MERKLE_PROOF_HEADER_LEN 18
#define MERKLE_PROOF_MAX_LEN (MERKLE_PROOF_HEADER_LEN + MERKLE_MAX_DEPTH * MERKLE_HASH_LEN)

typedef struct merkle_proof {
    uint64_t index; /* the leaf proved, < n */
    uint64_t n;     /* leaves in the tree */
    uint32_t depth; /* siblings in path; merkle_path_len(index, n) when valid */
    uint8_t path[MERKLE_MAX_DEPTH][MERKLE_HASH_LEN]; /* (depth, 32), leaf level first */
} merkle_proof;

/* The two node hashes, exposed for tests and for tools that check a proof
 * by hand. */
void merkle_leaf_hash(const uint8_t leaf[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);
void merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN]);

/* The number of siblings on the path of leaf `index` in a tree of n leaves:
 * one per level with more than one node, less the levels where the node is
 * the promoted odd one out. Asserts index < n. */
uint32_t merkle_path_len(uint64_t index, uint64_t n);

/* Root of n >= 1 leaves (n*32 bytes). 2n-1 hashes, O(log n) memory. */
void merkle_root(const uint8_t *leaves, size_t n, uint8_t root[MERKLE_HASH_LEN]);

/* The inclusion proof of leaf `index`: O(n) hashes, no allocation. Fails if
 * n == 0 or index >= n. */
int merkle_prove(const uint8_t *leaves, size_t n, size_t index, merkle_proof *out,
                 char err[PLOW_ERR_LEN]);

/* True iff p proves that `leaf` is leaf `index` of the n-leaf tree with this
 * root: p->n == n, p->index == index < n, p->depth == merkle_path_len(index,
 * n), and hashing up the path gives root (compared in constant time). Any
 * other proof, however malformed, gives false. */
bool merkle_verify(const uint8_t root[MERKLE_HASH_LEN], uint64_t n, uint64_t index,
                   const uint8_t leaf[MERKLE_HASH_LEN], const merkle_proof *p) PLOW_MUST_CHECK;

/* Appends the canonical encoding (MERKLE_PROOF_HEADER_LEN + 32*depth bytes).
 * Asserts p->depth <= MERKLE_MAX_DEPTH; any other inconsistency is encoded
 * as is and refused by merkle_proof_decode. */
void merkle_proof_encode(const merkle_proof *p, plow_buf *out);

/* Decodes exactly `len` bytes. Refuses a bad version, n == 0, index >= n, a
 * depth other than merkle_path_len(index, n), and any length other than
 * MERKLE_PROOF_HEADER_LEN + 32*depth: an accepted encoding is the only one
 * of its proof. */
int merkle_proof_decode(merkle_proof *p, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]);

/* A tree kept in memory for repeated proofs. It stores the levels from 16
 * leaves per node upwards (about n/8 nodes, 4 bytes per leaf) and rehashes
 * the few nodes below from the leaves. Build: 2n-1 hashes. Aborts on
 * out-of-memory; asserts n >= 1. */
typedef struct merkle_tree merkle_tree;
merkle_tree *merkle_tree_new(const uint8_t *leaves, size_t n);
uint64_t merkle_tree_size(const merkle_tree *t); /* n */
void merkle_tree_root(const merkle_tree *t, uint8_t root[MERKLE_HASH_LEN]);
/* Same proof as merkle_prove, in O(log n) hashes (at most ~60). */
int merkle_tree_prove(const merkle_tree *t, uint64_t index, merkle_proof *out,
                      char err[PLOW_ERR_LEN]);
void merkle_tree_free(merkle_tree *t);

#endif /* PLOW_MERKLE_H */
