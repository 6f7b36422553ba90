/*
 * train.h — one training step as a pure function, and the state it acts on.
 *
 *     state' = train_step(state, batch(dataset hash, seed, step))
 *
 * A state holds the trainable weights (the whole model, or a LoRA adapter
 * whose base model is frozen and only referenced by hash), the AdamW moments,
 * the step counter and the hyper-parameters the step depends on. It
 * serialises canonically (docs/formats/state.md) and hashes to 32 bytes; two
 * honest machines that start from the same state and data produce the same
 * hash after every step, whatever their thread count or SIMD path.
 *
 * Ownership: a train_state borrows the model (and adapter) given to
 * train_state_new; they must outlive it. For LoRA runs the base weights are
 * read, never written.
 *
 *     train_state *s;
 *     train_state_new(&s, m, NULL, &hp, data->hash, err);
 *     for (int i = 0; i < hp.steps; i++) train_step(s, data, &stats);
 *     train_state_hash(s, h);
 *
 * DPO runs use the same state with the DPO step (dpo.h).
 */
#ifndef PLOW_TRAIN_H
#define PLOW_TRAIN_H

#include "../base/plow.h"
#include "../data/dataset.h"
#include "../model/model.h"

typedef struct train_hparams {
    int batch;       /* B */
    int seq;         /* T */
    int steps;       /* total steps of the schedule */
    int warmup;      /* linear warm-up steps */
    float lr;        /* peak learning rate */
    float min_lr;    /* floor of the cosine decay */
    float wd;        /* decoupled weight decay (matrices only) */
    float beta1, beta2, eps;
    float clip;      /* global gradient-norm clip (<= 0: off) */
    uint64_t seed;   /* batch sampling seed */
    uint64_t init_seed; /* the initial weights (model_init_weights / lora_init_weights) */
} train_hparams;

/* Sensible defaults for a config (lr 1e-3 full / 2e-3 LoRA, warmup 5%, ...). */
void train_hparams_default(train_hparams *hp, bool lora, int steps, int ctx);
int train_hparams_check(const train_hparams *hp, const model_config *c, char err[PLOW_ERR_LEN]);

typedef struct train_state train_state;

typedef struct train_stats {
    float loss;   /* mean cross-entropy of the step's batch */
    float gnorm;  /* gradient norm before clipping */
    float lr;     /* learning rate used */
    double seconds;
} train_stats;

int train_state_new(train_state **out, model *m, lora *l, const train_hparams *hp,
                    const uint8_t data_hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
void train_state_free(train_state *s);

uint64_t train_state_step(const train_state *s);
const train_hparams *train_state_hparams(const train_state *s);

/* One step on the batch drawn for the current step counter. */
void train_step(train_state *s, const dataset *d, train_stats *st);
/* The same, on a given batch (B*T tokens and targets). */
void train_step_batch(train_state *s, const int32_t *x, const int32_t *y, train_stats *st);

/* Mean loss over `batches` fixed batches of tokens (validation). */
float train_eval(train_state *s, const int32_t *tokens, size_t n, int batches);

/* The learning rate at a step of the schedule. */
float train_lr_at(const train_hparams *hp, uint64_t step);

/* SHA-256 of the canonical serialisation: header and, per tensor, the hash of
 * its weights, first moment and second moment (inner hashes in parallel). */
void train_state_hash(const train_state *s, uint8_t out[PLOW_HASH_LEN]);
/* The gradient block of the last step (or dpo_gradient, rl_gradient), in the
 * trainable layout (the adapter's for LoRA). */
const float *train_state_grad(const train_state *s);

/* The task id: SHA-256 of the state header with the step counter zeroed —
 * model, adapter, hyper-parameters, seed, data and base, i.e. everything that
 * defines the run but not how far it got. */
void train_state_task_id(const train_state *s, uint8_t out[PLOW_HASH_LEN]);

/* Puts the state back to step 0 of its task: trainable weights from
 * init_seed, zero moments. (A referee uses it to settle a dispute over the
 * initial state; a verifier to check leaf 0.) */
void train_state_reinit(train_state *s);

/* The trainable block (the model's parameters, or the adapter's) — for the
 * proof layer's checks and for tests that play a cheating worker. */
float *train_state_weights(train_state *s, size_t *n);
/* Sets the step counter without training (a cheater "skipping" steps). */
void train_state_set_step(train_state *s, uint64_t step);

/* Canonical bytes of the whole state (docs/formats/state.md) and back. Parsing
 * checks that the file belongs to this model/adapter layout and, for LoRA,
 * this base model. */
void train_state_serialize(const train_state *s, plow_buf *out);
int train_state_restore(train_state *s, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);

#endif
