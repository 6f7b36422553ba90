/*
 * trace.h — a training run's trace (its state hashes), the commitment a
 * worker posts for it, and finding where two runs part ways.
 *
 * A run of n steps has n+1 leaves: leaf i is the 32-byte state hash after
 * step i (docs/formats/state.md), leaf 0 the initial state. The trace file
 * (docs/formats/trace.md) is, little-endian:
 *
 *     "PLOWTRCE" | u32 version = 1 | task id (32) | u64 n | (n+1) x 32 leaves
 *
 * and nothing after. Its root is the Merkle root (merkle.h) of the n+1
 * leaves, so a tree has n+1 leaves and leaf i is tree index i.
 *
 * Invariants of a trace:
 *   - 1 <= n <= TRACE_MAX_STEPS; it is immutable once built, so every
 *     accessor is const and safe to call from several threads;
 *   - its Merkle tree is built with it (2n+1 hashes), so root and proofs
 *     cost nothing more.
 *
 * Ownership: trace_new copies the leaves; every pointer an accessor returns
 * lives until trace_free, which accepts NULL.
 *
 * Finding a divergence:
 *   - trace_first_divergence: both traces in hand (the leaves are
 *     published), O(n) comparisons, the smallest differing step;
 *   - trace_bisect: each party holds only the other's root and answers
 *     "your leaf i, with its proof" through a callback; O(log n) questions
 *     find a step j whose leaf j-1 both proved equal and whose leaf j they
 *     proved different, or name the party whose answer did not verify.
 *     trace_party_local makes a party of a trace in hand.
 *
 * Usage:
 *     trace *t;
 *     if (trace_load_states(task, "run/states.txt", &t, err) != 0) ...
 *     if (trace_save(t, "run/trace.bin", err) != 0) ...
 *     trace_commitment c;
 *     trace_commit(t, artifact_hash, 100, &c);
 *     uint8_t rec[TRACE_COMMITMENT_LEN];
 *     if (trace_commitment_encode(&c, rec, err) != 0) ...
 *     trace_free(t);
 */
#ifndef PLOW_TRACE_H
#define PLOW_TRACE_H

#include "../base/plow.h"

#include "../merkle/merkle.h"

#define TRACE_MAGIC "PLOWTRCE" /* 8 bytes, no NUL */
#define TRACE_VERSION 1
#define TRACE_HEADER_LEN 52 /* magic 8 + version 4 + task 32 + n 8 */
#define TRACE_MAX_STEPS ((uint64_t)1 << 30) /* a 32 GiB trace */
/* Largest file trace_load reads: the header and TRACE_MAX_STEPS+1 leaves. */
#define TRACE_MAX_FILE (TRACE_HEADER_LEN + (TRACE_MAX_STEPS + 1) * MERKLE_HASH_LEN)

typedef struct trace trace;

/* A trace of n steps from its n+1 leaves ((n+1)*32 bytes, copied). Fails if
 * n is 0 or above TRACE_MAX_STEPS. */
int trace_new(const uint8_t task[32], const uint8_t *leaves, uint64_t n, trace **out,
              char err[PLOW_ERR_LEN]);

/* A trace from the text of a states.txt, as `plow train` writes it: lines
 * "i <64 lowercase hex>\n" for i = 0, 1, ..., n (n >= 1), each ending in
 * "\n", with nothing else. Errors name the line. */
int trace_from_states(const uint8_t task[32], const char *text, size_t len, trace **out,
                      char err[PLOW_ERR_LEN]);
int trace_load_states(const uint8_t task[32], const char *path, trace **out, char err[PLOW_ERR_LEN]);

/* Parses exactly `size` bytes of trace file. Checks the magic, the version,
 * and that n is in range and matches the remaining bytes exactly, before
 * allocating anything. */
int trace_parse(const uint8_t *data, size_t size, trace **out, char err[PLOW_ERR_LEN]);
int trace_load(const char *path, trace **out, char err[PLOW_ERR_LEN]);

/* Appends the canonical file bytes (TRACE_HEADER_LEN + 32*(n+1)). */
void trace_serialize(const trace *t, plow_buf *out);
int trace_save(const trace *t, const char *path, char err[PLOW_ERR_LEN]);

void trace_free(trace *t);

const uint8_t *trace_task(const trace *t);                /* 32 bytes */
uint64_t trace_steps(const trace *t);                     /* n */
const uint8_t *trace_leaf(const trace *t, uint64_t step); /* 32 bytes; asserts step <= n */
void trace_root(const trace *t, uint8_t root[MERKLE_HASH_LEN]);
/* The proof of leaf `step` (tree index step of n+1). */
int trace_prove(const trace *t, uint64_t step, merkle_proof *out, char err[PLOW_ERR_LEN]);

/* Sets *diverges and, if true, *step to the smallest j with differing leaf
 * j (j = 0: the initial states differ). Fails if the traces are for
 * different tasks or lengths. */
int trace_first_divergence(const trace *a, const trace *b, bool *diverges, uint64_t *step,
                           char err[PLOW_ERR_LEN]);

/* ---- bisection ---------------------------------------------------------- */

/* A party's answer to "what is your leaf `step`?": fill leaf and proof and
 * return 0, or return nonzero to refuse. Nothing it returns is trusted. */
typedef int (*trace_answer_fn)(void *ctx, uint64_t step, uint8_t leaf[MERKLE_HASH_LEN],
                               merkle_proof *proof);

typedef struct trace_party {
    uint8_t root[MERKLE_HASH_LEN]; /* the trace root this party committed to */
    trace_answer_fn answer;
    void *ctx;
} trace_party;

/* A party that answers honestly from t (which must outlive it). */
void trace_party_local(const trace *t, trace_party *out);

typedef enum trace_verdict {
    TRACE_SAME,       /* equal roots: the same leaves, nothing asked */
    TRACE_DIVERGES,   /* step j located, every leaf below proved */
    TRACE_ENDS_AGREE, /* roots differ but leaves 0 and n agree: no step can be
                         located in O(log n); compare the published leaves */
    TRACE_FAULT_A,    /* a's answer at `step` was missing or did not verify */
    TRACE_FAULT_B,
    TRACE_FAULT_BOTH,
    TRACE_VERDICT_COUNT
} trace_verdict;

const char *trace_verdict_name(trace_verdict v);

typedef struct trace_bisection {
    trace_verdict verdict;
    uint64_t step;    /* DIVERGES: j; FAULT_*: the step whose answer failed */
    uint32_t queries; /* steps asked of each party */
    /* DIVERGES with j > 0: leaf j-1, equal on both sides, and both proofs. */
    uint8_t agreed[MERKLE_HASH_LEN];
    merkle_proof agreed_proof_a, agreed_proof_b;
    /* DIVERGES: leaf j as each party proved it. */
    uint8_t leaf_a[MERKLE_HASH_LEN], leaf_b[MERKLE_HASH_LEN];
    merkle_proof proof_a, proof_b;
} trace_bisection;

/* Interactive narrowing between two parties that committed to roots over
 * n+1 leaves. Asks both for leaf 0 (differing: j = 0), then leaf n (equal:
 * TRACE_ENDS_AGREE), then bisects keeping "leaf lo proved equal, leaf hi
 * proved different", so at most 2 + ceil(log2 n) questions each. Every
 * answer is checked against its party's root before it is used; the first
 * that fails ends the search with TRACE_FAULT_*. When one party is honest and
 * the other's answers verify, the referee re-executes step j-1 -> j from the
 * agreed state: the honest side's leaf j is the right one. Fails only on
 * n == 0 or n > TRACE_MAX_STEPS. */
int trace_bisect(uint64_t n, const trace_party *a, const trace_party *b, trace_bisection *out,
                 char err[PLOW_ERR_LEN]);

/* ---- commitment --------------------------------------------------------- */

/* What a worker posts on chain for a run: 141 bytes encoded,
 *     u8 version = 1 | task 32 | root 32 | final 32 | artifact 32 | u64 n | u32 c
 * with 1 <= n <= TRACE_MAX_STEPS and 1 <= c <= n. */
#define TRACE_COMMITMENT_VERSION 1
#define TRACE_COMMITMENT_LEN 141

typedef struct trace_commitment {
    uint8_t task[32];        /* what the run is for */
    uint8_t root[32];        /* Merkle root of the n+1 state hashes */
    uint8_t final_state[32]; /* leaf n: the state after the last step */
    uint8_t artifact[32];    /* hash of the published model or adapter */
    uint64_t n;              /* steps */
    uint32_t checkpoint_every; /* c: full states published at steps 0, c, 2c, ... */
} trace_commitment;

/* Fills c from a trace (task, root, final state, n) and the two arguments. */
void trace_commit(const trace *t, const uint8_t artifact[32], uint32_t checkpoint_every,
                  trace_commitment *c);
/* Both refuse an n or c out of range; decode also a length other than
 * TRACE_COMMITMENT_LEN and a version other than 1. */
int trace_commitment_encode(const trace_commitment *c, uint8_t out[TRACE_COMMITMENT_LEN],
                            char err[PLOW_ERR_LEN]);
int trace_commitment_decode(trace_commitment *c, const uint8_t *buf, size_t len,
                            char err[PLOW_ERR_LEN]);
/* Checks that t is the trace c commits to: same task, n, root and final
 * state. The first mismatch is the error. */
int trace_commitment_check(const trace_commitment *c, const trace *t, char err[PLOW_ERR_LEN]);

#endif /* PLOW_TRACE_H */
