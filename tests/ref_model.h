/*
 * ref_model.h — the decoder written again in double precision, the plain
 * way (one position and one head at a time, libm's exp/log/sqrt), as the
 * tests' independent reference: the engine's float kernels must agree with
 * it within rounding, and its central differences check the engine's
 * gradients (tests/test_model.c, test_dpo.c).
 *
 * Usage:
 *     ref_model r;
 *     ref_model_init(&r, m, l);          (l may be NULL: no adapter)
 *     double loss = ref_loss(&r, x, y, B, T, NULL);
 *     r.w[i] += h;                       (perturb a weight in double)
 *     ref_model_release(&r);
 */
#ifndef PLOW_TEST_REF_MODEL_H
#define PLOW_TEST_REF_MODEL_H

#include "../src/base/plow.h"

#include "../src/model/model.h"

typedef struct ref_model {
    const model *m;
    double *w;      /* (m->n_params) the model's block as doubles, m's layout */
    const lora *l;  /* NULL: no adapter */
    double *lw;     /* (l->n_params) the adapter's block as doubles */
} ref_model;

/* Copies the weights of m (and l) into doubles. */
void ref_model_init(ref_model *r, const model *m, const lora *l);
void ref_model_release(ref_model *r);

/* The logits (T, V) of one sequence of T <= ctx tokens. */
void ref_logits(const ref_model *r, const int32_t *tok, int T, double *logits);
/* Mean cross-entropy over B sequences of T tokens; logits_out (B*T, V) if not NULL. */
double ref_loss(const ref_model *r, const int32_t *tok, const int32_t *tgt, int B, int T, double *logits_out);
/* logp[t] = log p(tgt[t] | tok[..t]) for one sequence. */
void ref_logp(const ref_model *r, const int32_t *tok, const int32_t *tgt, int T, double *logp);

#endif
