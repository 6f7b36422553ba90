/*
 * dpo.h — direct preference optimisation as a deterministic training mode.
 *
 *     state' = dpo_step(state, pairs(pairs hash, seed, step))
 *
 * A DPO state is a train_state (train.h) whose step is the DPO step: the
 * policy is the model being trained (the whole model, or a LoRA adapter on a
 * frozen base); the reference is the frozen start — for LoRA the base without
 * the adapter, for a full run a copy of the weights the state was created
 * from, committed by its hash in the state header. Per step, B pairs are
 * drawn (prefs_batch) and encoded into 2B rows (chosen, rejected); the
 * reference log-probabilities are recomputed in the step (a forward pass of
 * the frozen reference), so they are part of the pure function and a
 * verifier replays one step from the state alone. With pi_x and ref_x the
 * sums of the response tokens' log-probabilities under policy and reference,
 *
 *     z    = beta * ((pi_c - ref_c) - (pi_r - ref_r))
 *     loss = mean over pairs of -log sigmoid(z)
 *     dloss/dlogp(t) = -beta * sigmoid(-z) / B   on chosen response positions,
 *                      +beta * sigmoid(-z) / B   on rejected response positions,
 *
 * which model_backward turns into (softmax - onehot) logit gradients. Then
 * clipping, AdamW and the schedule exactly as training (train.h). Sums are the
 * canonical reductions and exp/log plow's own, so the state hash is the same
 * on every thread count and SIMD path.
 *
 * The state header (docs/formats/state.md, docs/dpo.md) has kind 2 (full) or
 * 3 (LoRA), the pair set's hash where training has the dataset hash, and,
 * after the base hash, a DPO version and beta — so the state hash and the
 * task id commit to the mode, beta and the pairs. Serialise, hash, restore,
 * reinit and save are train.h's functions; train_step, train_step_batch and
 * train_eval must not be called on a DPO state (they assert).
 *
 *     train_state *s;
 *     train_state_new_dpo(&s, m, lora_or_NULL, &hp, 0.1f, pairs->hash, err);
 *     for (int i = 0; i < hp.steps; i++) dpo_step(s, pairs, &st, NULL);
 *     dpo_eval(s, heldout, 0, &ev);
 */
#ifndef PLOW_DPO_H
#define PLOW_DPO_H

#include "../data/prefs.h"
#include "train.h"

/* A DPO state. hp.batch is the number of PAIRS per step (2 * batch rows);
 * hp.seq >= 2 the row length. m (and l) are borrowed as in train_state_new.
 * Full runs (l == NULL) copy m's weights as the frozen reference, so m must
 * hold the starting weights at this call. beta in (0, 100]. */
int train_state_new_dpo(train_state **out, model *m, lora *l, const train_hparams *hp, float beta,
                        const uint8_t pairs_hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);

/* A batch of pairs: rows 2b (chosen) and 2b + 1 (rejected) of x and y
 * (2 * pairs rows of T tokens); span (2 * pairs x 2) gives each row's
 * response targets [span[2r], span[2r+1]), non-empty, within [0, T). */
typedef struct dpo_batch {
    int pairs, T;
    const int32_t *x, *y, *span;
} dpo_batch;

typedef struct dpo_stats {
    float loss;            /* mean -log sigmoid(z) */
    float margin;          /* mean z */
    float accuracy;        /* fraction of pairs with z > 0 */
    float chosen_reward;   /* mean beta * (pi_c - ref_c) */
    float rejected_reward; /* mean beta * (pi_r - ref_r) */
} dpo_stats;

/* One step on the pairs drawn for the current step counter from p (whose hash
 * must be the state's pairs hash: asserted). st and ds may be NULL; st->loss
 * is the DPO loss. */
void dpo_step(train_state *s, const prefs *p, train_stats *st, dpo_stats *ds);
/* The same on a given batch (b->pairs == hp.batch, b->T == hp.seq). */
void dpo_step_batch(train_state *s, const dpo_batch *b, train_stats *st, dpo_stats *ds);
/* Loss and gradient only (into train_state_grad), weights untouched: for
 * tests against finite differences. Returns the loss. */
float dpo_gradient(train_state *s, const dpo_batch *b, dpo_stats *ds);

/* Preference metrics over pairs 0..n-1 of p (n = p->n, or max_pairs if
 * smaller and nonzero), in batches of hp.batch, any pair set (held-out). */
typedef struct dpo_eval_stats {
    size_t pairs;
    double loss;            /* mean -log sigmoid(z) */
    double accuracy;        /* fraction with z > 0: the implicit reward prefers chosen */
    double margin;          /* mean z */
    double policy_accuracy; /* fraction with pi_c > pi_r: the policy itself prefers chosen */
    double policy_margin;   /* mean pi_c - pi_r (nats) */
} dpo_eval_stats;
void dpo_eval(train_state *s, const prefs *p, size_t max_pairs, dpo_eval_stats *out);

#endif
