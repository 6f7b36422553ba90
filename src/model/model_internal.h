/*
 * model_internal.h — kernels of model.c that the inference path (src/infer)
 * reuses so that generation computes exactly what training computes.
 */
#ifndef PLOW_MODEL_INTERNAL_H
#define PLOW_MODEL_INTERNAL_H

#include "model.h"

/* RoPE on N rows of `heads` vectors of HD; row r is at position pos0 + r % T.
 * inverse applies the transpose (the backward pass). */
void model_rope(float *x, const float *cos, const float *sin, int N, int T, int heads, int HD, int pos0,
                bool inverse);
/* Causal softmax of one attention row in place: s[0..len) scaled by scale,
 * normalised; s[len..total) zeroed. */
void model_softmax_row(float *s, int len, int total, float scale);
/* h = silu(gate) * up, elementwise. */
void model_swiglu(float *h, const float *gate, const float *up, size_t n);
/* y = rmsnorm(x) * w row by row; rstd saved if not NULL. */
void model_rmsnorm(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* y = a + b elementwise. */
void model_add(float *y, const float *a, const float *b, size_t n);
/* x = src * s elementwise. */
void model_scale(float *x, const float *src, size_t n, float s);

#endif
