/*
 * prefs.h — preference pairs for DPO: the JSONL format, its strict parser,
 * the deterministic encoding of a pair into two training rows, the batch
 * sampler, and a generator that makes pairs from a plain-text corpus.
 *
 * Format: one JSON object per line, exactly three string members
 *     {"prompt": "...", "chosen": "...", "rejected": "..."}
 * (any order, no other members, no duplicates; strings may hold any Unicode
 * text, \u escapes included; the bytes must be UTF-8). Lines end with '\n'
 * (a '\r' before it is JSON whitespace); the last '\n' is optional; an empty
 * line is an error. Each field is tokenised alone with the run's tokenizer;
 * the prompt and both responses must give at least one token and chosen must
 * differ from rejected. Any error names the line.
 *
 * Hash: SHA-256("plow.prefs.v1\0" || SHA-256(file bytes) || tokenizer hash),
 * so a pair set commits to its bytes and to how they were tokenised.
 *
 * Encoding (prefs_encode): a pair becomes two rows of T positions — prompt
 * tokens followed by response tokens, inputs x and next-token targets y —
 * and a span [s, e) of the positions whose target is a response token. With
 * L = T + 1 tokens in a window, P prompt tokens and R = the longer response:
 *     keep_p = min(P, max(L / 2, L - R))   the LAST keep_p prompt tokens
 *     keep_r = min(R_x, L - keep_p)        the FIRST keep_r response tokens
 * so both rows share one prompt, a long prompt keeps its end and at least
 * half the window goes to it only when needed, and at least one response
 * token always fits. Positions past the end hold token 0 with target 0 and
 * lie outside the span (causal attention: they never affect the span).
 *
 * Ownership: prefs_parse/prefs_load return a new set freed by prefs_free
 * (accepts NULL).
 */
#ifndef PLOW_PREFS_H
#define PLOW_PREFS_H

#include "../base/plow.h"
#include "tokenizer.h"

#define PREFS_MAX_BYTES ((size_t)1 << 28) /* a JSONL file */
#define PREFS_MAX_PAIRS ((size_t)1 << 22)

typedef struct prefs_pair {
    size_t prompt, chosen, rejected; /* offsets into prefs.tokens */
    uint32_t n_prompt, n_chosen, n_rejected;
} prefs_pair;

typedef struct prefs {
    uint8_t hash[PLOW_HASH_LEN];
    size_t n; /* pairs */
    prefs_pair *pairs;
    int32_t *tokens;
    size_t n_tokens;
} prefs;

/* Parses and tokenises JSONL bytes. Errors name the (1-based) line. */
int prefs_parse(prefs **out, const uint8_t *data, size_t n, const tokenizer *tok, char err[PLOW_ERR_LEN]);
/* Reads a file (at most PREFS_MAX_BYTES) and parses it. */
int prefs_load(prefs **out, const char *path, const tokenizer *tok, char err[PLOW_ERR_LEN]);
void prefs_free(prefs *p);

/* Pair i as two rows of T (T >= 1): chosen into x[0..T), y[0..T), span[0..2);
 * rejected into x[T..2T), y[T..2T), span[2..4). See the header comment. */
void prefs_encode(const prefs *p, size_t i, int T, int32_t *x, int32_t *y, int32_t span[4]);

enum { PREFS_PURPOSE_TRAIN = 18 };

/* B pairs for a step: pair b is drawn from Philox keyed by (hash-derived
 * seed, purpose, step), counter b, and encoded into rows 2b (chosen) and
 * 2b + 1 (rejected) of x, y (2B x T) and span (2B x 2). */
void prefs_batch(const prefs *p, uint64_t seed, uint32_t purpose, uint32_t step, int B, int T, int32_t *x,
                 int32_t *y, int32_t *span);

/* ---- a preference set made from a corpus -----------------------------------
 * Candidates are consecutive non-empty lines (a, b) of the text where b has
 * at least 4 words, not all equal. prompt = a + "\n"; chosen = b's words
 * joined by single spaces + "\n"; rejected depends on `how`:
 *   PREFS_SHUFFLED  the same words in a seeded random order (never b's order);
 *   PREFS_OTHER     line b of another candidate at least 1000 lines away
 *                   (in practice another scene or play), normalised alike;
 *   PREFS_MIXED     even pairs shuffled, odd pairs other.
 * Candidates starting in the first (1 - val_frac) of the bytes feed the train
 * set, those wholly after the cut the held-out set; each set takes its
 * candidates in a seeded random order, without repeats. Output is JSONL in
 * the format above. Deterministic: the same (text, seed, how, counts) gives
 * the same bytes. */
typedef enum prefs_corruption { PREFS_SHUFFLED, PREFS_OTHER, PREFS_MIXED } prefs_corruption;

int prefs_generate(const uint8_t *text, size_t n, uint64_t seed, prefs_corruption how, double val_frac,
                   size_t n_train, size_t n_val, plow_buf *train, plow_buf *val, char err[PLOW_ERR_LEN]);

/* Appends a JSON string literal for s[0..n) (escaping '"', '\\' and control
 * bytes) — the writer's half of the format. */
void prefs_json_string(plow_buf *b, const uint8_t *s, size_t n);

#endif
