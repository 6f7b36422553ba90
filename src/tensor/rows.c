/*
 * rows.c — the threaded element-wise and row kernels: each splits its rows
 * (ROWS_PER_TASK at a time) or its elements (PLOW_CHUNK at a time) over the
 * pool and runs the single-threaded kernel on each part. Every output is
 * written by exactly one task with the same operations as the _st kernel,
 * so the bits do not depend on the split (contract rule 3). Training
 * (src/model) and generation (src/infer) both call these, which is what
 * makes a position's logits in generation equal those of training.
 */
#include "../base/plow.h"

#include <math.h>

#include "tensor.h"

#define ROWS_PER_TASK 16

typedef struct rms_job {
    const float *x, *w;
    float *y, *rstd;
    int N, C;
    float eps;
} rms_job;

static void rms_task(void *ctx, size_t t) {
    const rms_job *j = ctx;
    int r0 = (int)t * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < j->N ? r0 + ROWS_PER_TASK : j->N;
    for (int r = r0; r < r1; r++) {
        const float *x = j->x + (size_t)r * j->C;
        float *y = j->y + (size_t)r * j->C;
        float ss = tensor_sumsq_st(x, (size_t)j->C);
        float rs = 1.0f / sqrtf(ss / (float)j->C + j->eps);
        if (j->rstd) j->rstd[r] = rs;
        tensor_rms_apply_st(y, x, j->w, rs, (size_t)j->C);
    }
}

void tensor_rmsnorm(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    rms_job j = {x, w, y, rstd, N, C, eps};
    tensor_parallel_for((size_t)(N + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rms_task, &j);
}

typedef struct rope_job {
    float *x;
    const float *cos, *sin;
    int N, T, heads, HD, pos0;
    bool inverse;
} rope_job;

static void rope_task(void *ctx, size_t t) {
    const rope_job *j = ctx;
    int H2 = j->HD / 2;
    int r0 = (int)t * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < j->N ? r0 + ROWS_PER_TASK : j->N;
    for (int r = r0; r < r1; r++) {
        int pos = j->pos0 + r % j->T;
        tensor_rope_st(j->x + (size_t)r * j->heads * j->HD, j->cos + (size_t)pos * H2,
                       j->sin + (size_t)pos * H2, j->heads, j->HD, j->inverse);
    }
}

void tensor_rope(float *x, const float *cos, const float *sin, int N, int T, int heads, int HD, int pos0,
                 bool inverse) {
    rope_job j = {x, cos, sin, N, T, heads, HD, pos0, inverse};
    tensor_parallel_for((size_t)(N + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rope_task, &j);
}

typedef struct scale_job {
    float *x;
    const float *src;
    size_t n;
    float s;
} scale_job;

static void scale_task(void *ctx, size_t t) {
    const scale_job *j = ctx;
    size_t o = t * PLOW_CHUNK, e = o + PLOW_CHUNK < j->n ? o + PLOW_CHUNK : j->n;
    tensor_scale_st(j->x + o, j->src + o, j->s, e - o);
}

void tensor_scale(float *y, const float *x, float s, size_t n) {
    scale_job j = {y, x, n, s};
    tensor_parallel_for((n + PLOW_CHUNK - 1) / PLOW_CHUNK, scale_task, &j);
}

typedef struct swiglu_job {
    const float *gate, *up;
    float *h;
    size_t n;
} swiglu_job;

static void swiglu_fwd_task(void *ctx, size_t t) {
    const swiglu_job *j = ctx;
    size_t o = t * PLOW_CHUNK, e = o + PLOW_CHUNK < j->n ? o + PLOW_CHUNK : j->n;
    float *sg = tensor_scratch(TENSOR_SCRATCH_USER, PLOW_CHUNK);
    tensor_sigmoid_st(sg, j->gate + o, e - o);
    tensor_swiglu_st(j->h + o, j->gate + o, j->up + o, sg, e - o);
}

void tensor_swiglu(float *h, const float *gate, const float *up, size_t n) {
    swiglu_job j = {gate, up, h, n};
    tensor_parallel_for((n + PLOW_CHUNK - 1) / PLOW_CHUNK, swiglu_fwd_task, &j);
}

typedef struct add_job {
    float *y;
    const float *a, *b;
    size_t n;
} add_job;

static void add_task(void *ctx, size_t t) {
    const add_job *j = ctx;
    size_t o = t * PLOW_CHUNK, e = o + PLOW_CHUNK < j->n ? o + PLOW_CHUNK : j->n;
    tensor_add_st(j->y + o, j->a + o, j->b + o, e - o);
}

void tensor_add(float *y, const float *a, const float *b, size_t n) {
    add_job j = {y, a, b, n};
    tensor_parallel_for((n + PLOW_CHUNK - 1) / PLOW_CHUNK, add_task, &j);
}

void tensor_softmax_row_st(float *s, int len, int total, float scale) {
    tensor_scale_st(s, s, scale, (size_t)len);
    float mx = tensor_max_st(s, (size_t)len);
    tensor_exp_shift_st(s, s, mx, (size_t)len);
    float inv = 1.0f / tensor_sum_st(s, (size_t)len);
    tensor_scale_st(s, s, inv, (size_t)len);
    for (int u = len; u < total; u++) s[u] = 0.0f;
}
