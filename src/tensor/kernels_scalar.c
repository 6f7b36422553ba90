/*
 * kernels_scalar.c — the plain-C reference path. Every SIMD path must return
 * exactly these bits; the tests compare them. Written for clarity, not speed.
 */
#include "../base/plow.h"

#include "tensor_internal.h"

#define S_MR 4
#define S_NR 16

static void micro_scalar(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                         ptrdiff_t ldc, bool load) {
    float acc[S_MR][S_NR];
    for (int r = 0; r < S_MR; r++)
        for (int j = 0; j < S_NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *b = pb + (size_t)k * S_NR;
        for (int r = 0; r < S_MR; r++) {
            float av = a[r * ars + k * acs];
            for (int j = 0; j < S_NR; j++) acc[r][j] = TFMAF(av, b[j], acc[r][j]);
        }
    }
    for (int r = 0; r < S_MR; r++)
        for (int j = 0; j < S_NR; j++) c[r * ldc + j] = acc[r][j];
}

static void micro_row_scalar(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                             float *c, bool load) {
    for (int p = 0; p < np; p++) {
        float acc[S_NR];
        for (int j = 0; j < S_NR; j++) acc[j] = load ? c[p * S_NR + j] : 0.0f;
        const float *b = pb + p * pstride;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < S_NR; j++) acc[j] = TFMAF(a[k * acs], b[(size_t)k * S_NR + j], acc[j]);
        for (int j = 0; j < S_NR; j++) c[p * S_NR + j] = acc[j];
    }
}

/* The canonical reduction tree over PLOW_LANES lanes (contract rule 2). */
static float tree_sum(float *lane) {
    for (int s = PLOW_LANES / 2; s >= 1; s /= 2)
        for (int l = 0; l < s; l++) lane[l] = lane[l] + lane[l + s];
    return lane[0];
}

static float sum_scalar(const float *x, size_t n) {
    float lane[PLOW_LANES] = {0};
    for (size_t i = 0; i < n; i++) lane[i % PLOW_LANES] = lane[i % PLOW_LANES] + x[i];
    return tree_sum(lane);
}

static float dot_scalar(const float *x, const float *y, size_t n) {
    float lane[PLOW_LANES] = {0};
    for (size_t i = 0; i < n; i++) lane[i % PLOW_LANES] = TFMAF(x[i], y[i], lane[i % PLOW_LANES]);
    return tree_sum(lane);
}

/* max(a, b) as the x86 MAXPS instruction defines it: a > b ? a : b. */
static inline float maxps(float a, float b) { return a > b ? a : b; }

static float max_scalar(const float *x, size_t n) {
    float lane[PLOW_LANES];
    for (int l = 0; l < PLOW_LANES; l++) lane[l] = -INFINITY;
    for (size_t i = 0; i < n; i++) lane[i % PLOW_LANES] = maxps(x[i], lane[i % PLOW_LANES]);
    for (int s = PLOW_LANES / 2; s >= 1; s /= 2)
        for (int l = 0; l < s; l++) lane[l] = maxps(lane[l], lane[l + s]);
    return lane[0];
}

static void exp_shift_scalar(float *y, const float *x, float shift, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = tensor_expf_ref(x[i] - shift);
}

/* sigmoid(x) = 1 / (1 + exp(-x)) with plow's exp. */
static void sigmoid_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + tensor_expf_ref(-x[i]));
}

const tensor_kernels tensor_kernels_scalar = {
    .name = "scalar",
    .MR = S_MR,
    .NR = S_NR,
    .micro = micro_scalar,
    .micro_row = micro_row_scalar,
    .sum = sum_scalar,
    .dot = dot_scalar,
    .max = max_scalar,
    .exp_shift = exp_shift_scalar,
    .sigmoid = sigmoid_scalar,
};
