/*
 * dpo.c — the DPO step, its gradient and the preference metrics.
 *
 * Determinism: the forward and backward passes are the model's; the per-row
 * sums of response log-probabilities are canonical reductions (tensor_sum_st on
 * the contiguous span); the per-pair arithmetic is scalar IEEE operations in
 * a fixed order with plow's own exp and log. So the gradient, and the state
 * after clipping and AdamW (train.c), is the same bits everywhere.
 */
#include "dpo.h"

#include "../tensor/tensor.h"
#include "train_impl.h"

/* Sums of the response tokens' log-probabilities, one per row. */
static void row_sums(const float *logp, const int32_t *span, int rows, int T, float *out) {
    for (int r = 0; r < rows; r++) {
        int a = span[2 * r], e = span[2 * r + 1];
        PLOW_ASSERT(a >= 0 && e > a && e <= T);
        out[r] = tensor_sum_st(logp + (size_t)r * T + a, (size_t)(e - a));
    }
}

/* sigmoid(-z) and -log sigmoid(z) = log(1 + exp(-z)), stable for any z. */
static void pair_terms(float z, float *sig_neg, float *loss) {
    if (z >= 0.0f) {
        float e = tensor_expf(-z); /* in (0, 1] */
        *sig_neg = e / (1.0f + e);
        *loss = e < 1e-3f ? e * (1.0f - 0.5f * e) : tensor_logf(1.0f + e);
    } else {
        float e = tensor_expf(z);
        *sig_neg = 1.0f / (1.0f + e);
        *loss = -z + (e < 1e-3f ? e * (1.0f - 0.5f * e) : tensor_logf(1.0f + e));
    }
}

/* The reference's and the policy's forward passes on the batch (the policy's
 * last, so its activations stay for the backward pass); row sums into
 * pi[2B] and ref[2B]. */
static void forward_both(train_state *s, const dpo_batch *b, float *pi, float *ref) {
    int rows = 2 * b->pairs;
    const model *rm = s->ref ? s->ref : s->m;
    model_forward(rm, NULL, s->ws, b->x, b->y, s->ref_logp);
    row_sums(s->ref_logp, b->span, rows, b->T, ref);
    model_forward(s->m, s->l, s->ws, b->x, b->y, s->logp);
    row_sums(s->logp, b->span, rows, b->T, pi);
}

float dpo_gradient(train_state *s, const dpo_batch *b, dpo_stats *ds) {
    PLOW_ASSERT(s->dpo && b->pairs == s->hp.batch && b->T == s->hp.seq);
    int B = b->pairs, T = b->T, rows = 2 * B;
    float *pi = plow_alloc(sizeof(float) * (size_t)rows * 2), *ref = pi + rows;
    float *loss_i = plow_alloc(sizeof(float) * (size_t)B * 5);
    float *z_i = loss_i + B, *ok_i = z_i + B, *rc_i = ok_i + B, *rr_i = rc_i + B;
    forward_both(s, b, pi, ref);
    memset(s->dlogp, 0, sizeof(float) * (size_t)rows * T);
    float beta = s->beta, fb = (float)B;
    for (int p = 0; p < B; p++) {
        float dc = pi[2 * p] - ref[2 * p], dr = pi[2 * p + 1] - ref[2 * p + 1];
        float z = beta * (dc - dr), sn;
        pair_terms(z, &sn, &loss_i[p]);
        z_i[p] = z;
        ok_i[p] = z > 0.0f ? 1.0f : 0.0f;
        rc_i[p] = beta * dc;
        rr_i[p] = beta * dr;
        float coef = beta * sn / fb;
        for (int k = 0; k < 2; k++) {
            int r = 2 * p + k;
            float d = k == 0 ? -coef : coef;
            for (int t = b->span[2 * r]; t < b->span[2 * r + 1]; t++) s->dlogp[(size_t)r * T + t] = d;
        }
    }
    float loss = tensor_sum_st(loss_i, (size_t)B) / fb;
    if (ds) {
        ds->loss = loss;
        ds->margin = tensor_sum_st(z_i, (size_t)B) / fb;
        ds->accuracy = tensor_sum_st(ok_i, (size_t)B) / fb;
        ds->chosen_reward = tensor_sum_st(rc_i, (size_t)B) / fb;
        ds->rejected_reward = tensor_sum_st(rr_i, (size_t)B) / fb;
    }
    model_backward(s->m, s->l, s->ws, s->dlogp, s->l ? NULL : s->g, s->l ? s->g : NULL);
    free(pi);
    free(loss_i);
    return loss;
}

void dpo_step_batch(train_state *s, const dpo_batch *b, train_stats *st, dpo_stats *ds) {
    double t0 = plow_now();
    float loss = dpo_gradient(s, b, ds);
    train_apply_gradient(s, loss, t0, st);
}

void dpo_step(train_state *s, const prefs *p, train_stats *st, dpo_stats *ds) {
    PLOW_ASSERT(s->dpo && memcmp(p->hash, s->data_hash, PLOW_HASH_LEN) == 0);
    prefs_batch(p, s->hp.seed, PREFS_PURPOSE_TRAIN, (uint32_t)s->step, s->hp.batch, s->hp.seq, s->bx, s->by,
                s->span);
    dpo_batch b = {s->hp.batch, s->hp.seq, s->bx, s->by, s->span};
    dpo_step_batch(s, &b, st, ds);
}

void dpo_eval(train_state *s, const prefs *p, size_t max_pairs, dpo_eval_stats *out) {
    PLOW_ASSERT(s->dpo);
    memset(out, 0, sizeof *out);
    size_t n = max_pairs && max_pairs < p->n ? max_pairs : p->n;
    int B = s->hp.batch, T = s->hp.seq, rows = 2 * B;
    float *pi = plow_alloc(sizeof(float) * (size_t)rows * 2), *ref = pi + rows;
    for (size_t at = 0; at < n; at += (size_t)B) {
        /* a short last batch repeats its last pair; the copies are not counted */
        for (int k = 0; k < B; k++) {
            size_t i = at + (size_t)k < n ? at + (size_t)k : n - 1;
            size_t o = (size_t)2 * k * T;
            prefs_encode(p, i, T, s->bx + o, s->by + o, s->span + 4 * k);
        }
        dpo_batch b = {B, T, s->bx, s->by, s->span};
        forward_both(s, &b, pi, ref);
        for (int k = 0; k < B && at + (size_t)k < n; k++) {
            float dc = pi[2 * k] - ref[2 * k], dr = pi[2 * k + 1] - ref[2 * k + 1];
            float z = s->beta * (dc - dr), sn, l;
            pair_terms(z, &sn, &l);
            out->loss += l;
            out->margin += z;
            out->accuracy += z > 0.0f;
            out->policy_margin += (double)pi[2 * k] - (double)pi[2 * k + 1];
            out->policy_accuracy += pi[2 * k] > pi[2 * k + 1];
        }
    }
    out->pairs = n;
    if (n) {
        out->loss /= (double)n;
        out->margin /= (double)n;
        out->accuracy /= (double)n;
        out->policy_margin /= (double)n;
        out->policy_accuracy /= (double)n;
    }
    free(pi);
}
