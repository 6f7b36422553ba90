/*
 * train_impl.h — the inside of a train_state, shared by train.c (training,
 * the canonical state) and dpo.c (the DPO step). Not a public interface.
 */
#ifndef PLOW_TRAIN_IMPL_H
#define PLOW_TRAIN_IMPL_H

#include "train.h"

struct train_state {
    model *m;
    lora *l;
    train_hparams hp;
    uint8_t data_hash[PLOW_HASH_LEN]; /* training: the dataset's; DPO: the pair set's */
    uint8_t base_hash[PLOW_HASH_LEN]; /* LoRA: the frozen base; full DPO: the reference */
    uint64_t step;
    /* the trainable block and its table (the model's, or the adapter's) */
    float *w;
    size_t n;
    const model_tensor *tensors;
    int n_tensors;
    float *g, *m1, *m2; /* gradient, first and second moments: same layout */
    float *logp, *dlogp;
    int32_t *bx, *by;
    model_ws *ws; /* hp.batch rows; DPO: 2 * hp.batch rows (chosen, rejected) */
    /* DPO (docs/dpo.md); all zero for a training run */
    bool dpo;
    float beta;
    model *ref;      /* full DPO: a frozen copy of the starting weights (LoRA: the base is the reference) */
    float *ref_logp; /* (2B, T) */
    int32_t *span;   /* (2B, 2) */
    /* RL (rl.h, docs/rl.md); NULL for every other mode. ws, logp, dlogp, bx,
     * by and ref_logp have B * G rows. */
    struct rl_ctx *rl;
};

/* The allocation shared by every mode: rows = sequences per batch. Out of
 * memory (sizes from a spec) is NULL with err set, never an abort. */
train_state *train_state_alloc(model *m, lora *l, const train_hparams *hp, const uint8_t data_hash[PLOW_HASH_LEN],
                               int rows, char err[PLOW_ERR_LEN]);
/* rl.c: the RL fields of the state header, and the RL context's release. */
void rl_header(const train_state *s, plow_buf *b);
void rl_ctx_free(struct rl_ctx *c);

/* Clipping and AdamW with the gradient in s->g, then step + 1 (shared by the
 * training and the DPO step so they stay one code path). */
void train_apply_gradient(train_state *s, float loss, double t0, train_stats *st);

#endif
