/*
 * infer.h — generation with a KV cache, and deterministic sampling.
 *
 * infer_feed runs the model on n new tokens at the current position (n > 1
 * is a prefill, n == 1 a decode step) and appends their keys and values to
 * the cache. The logits of a position are the same bits however the tokens
 * were fed — all at once, one by one, or in any split — and the same bits the
 * training forward computes for that position (tensor.h's contract).
 *
 * Sampling is a pure function of (logits, parameters, seed, position):
 * temperature, then top-k, then top-p (nucleus) over candidates sorted by
 * probability (ties by token id), then one uniform draw from Philox keyed by
 * (seed, INFER_PURPOSE_SAMPLE, 0) at counter = position. Greedy when
 * temperature is 0. A verifier that re-derives the logits re-derives every
 * token.
 */
#ifndef PLOW_INFER_H
#define PLOW_INFER_H

#include "../base/plow.h"
#include "../model/model.h"

typedef struct infer_session infer_session;

/* The session borrows m and l (which must outlive it). max_ctx <= m->cfg.ctx. */
int infer_session_new(infer_session **out, const model *m, const lora *l, int max_ctx,
                      char err[PLOW_ERR_LEN]);
/* A session with its own cache and work buffers that uses base's packed
 * weights (the same model and adapter): many concurrent generations share
 * one copy. base must outlive it and not be refreshed while it lives. */
int infer_session_new_shared(infer_session **out, const infer_session *base, int max_ctx, char err[PLOW_ERR_LEN]);
void infer_session_free(infer_session *s);
/* Allocates the work buffers for feeding up to n tokens at once now rather
 * than on the first such feed. */
void infer_reserve(infer_session *s, int n);
/* Re-reads the model's weights (the session packs them once; call this after
 * they changed, e.g. between training steps) and forgets the cache. */
void infer_session_refresh(infer_session *s);
/* Forgets the cache (position back to 0). */
void infer_reset(infer_session *s);

/* Feeds n tokens. logits_all (n x V) receives every position's logits if not
 * NULL; logits_last (V) the last one's if not NULL. Fails if the context
 * would overflow or a token is out of range. */
int infer_feed(infer_session *s, const int32_t *tok, int n, float *logits_all, float *logits_last,
               char err[PLOW_ERR_LEN]);

/* One decode step of n sessions at once (continuous batching): session s[i]
 * is fed tok[i] at its own position. The rows of every matrix product are the
 * sessions; attention runs per session over its own cache. logits (n x V)
 * receives each one's next-token logits — the same bits as
 * infer_feed(s[i], &tok[i], 1, NULL, logits_i, ...) alone (row
 * independence). The sessions share b's weights (b itself may be one of
 * them only if it appears once); b's work buffers are used, so
 * s[i]'s context may not exceed b's. */
int infer_feed_rows(infer_session *b, infer_session *const *s, const int32_t *tok, int n, float *logits,
                    char err[PLOW_ERR_LEN]);

enum { INFER_PURPOSE_SAMPLE = 32 };

typedef struct infer_sampling {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off */
    uint64_t seed;
} infer_sampling;

int infer_sampling_check(const infer_sampling *sp, char err[PLOW_ERR_LEN]);
/* Picks the token for `position` from logits (V). Deterministic. */
int32_t infer_sample(const float *logits, int V, const infer_sampling *sp, uint64_t position);

/* Generates up to n_new tokens after a prompt; stops early at stop_token
 * (>= 0). on_token (may be NULL) is called per token; returns the count. */
int infer_generate(infer_session *s, const int32_t *prompt, int n_prompt, int n_new, const infer_sampling *sp,
                   int32_t stop_token, int32_t *out, void (*on_token)(void *ctx, int32_t tok), void *ctx,
                   char err[PLOW_ERR_LEN]);

#endif
