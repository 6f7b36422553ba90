/*
 * kernels_neon.c — the AArch64 NEON path. Built only for aarch64 targets
 * (where Advanced SIMD is part of the base architecture, so no CPU check is
 * needed). Each function mirrors its scalar twin in kernels_scalar.c operation
 * for operation:
 *   - vfmaq_f32 / vfmaq_n_f32 (FMLA) are true fused multiply-adds, the same
 *     single rounding as fmaf and x86's VFMADD; they are used exactly where
 *     the scalar path calls fmaf and nowhere else (vmlaq_f32 is never used);
 *   - NEON's FMAX is NOT x86's MAXPS (it returns NaN for a NaN operand and
 *     orders -0 below +0), so maxima are a compare and a select:
 *     a > b ? a : b, the definition of rule 2;
 *   - the 64 canonical lanes live in sixteen 4-lane registers and the
 *     halving tree adds the same pairs as the scalar tree.
 */
#include "../base/plow.h"

#include <arm_neon.h>

#include "tensor_internal.h"

#define N_MR 8
#define N_NR 12

static void micro_neon(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                       ptrdiff_t ldc, bool load) {
    float32x4_t c0[N_MR], c1[N_MR], c2[N_MR];
#pragma GCC unroll 8
    for (int r = 0; r < N_MR; r++) {
        c0[r] = load ? vld1q_f32(c + r * ldc) : vdupq_n_f32(0.0f);
        c1[r] = load ? vld1q_f32(c + r * ldc + 4) : vdupq_n_f32(0.0f);
        c2[r] = load ? vld1q_f32(c + r * ldc + 8) : vdupq_n_f32(0.0f);
    }
    for (int k = 0; k < K; k++) {
        float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4), b2 = vld1q_f32(pb + 8);
#pragma GCC unroll 8
        for (int r = 0; r < N_MR; r++) {
            float av = a[r * ars + k * acs];
            c0[r] = vfmaq_n_f32(c0[r], b0, av);
            c1[r] = vfmaq_n_f32(c1[r], b1, av);
            c2[r] = vfmaq_n_f32(c2[r], b2, av);
        }
        pb += N_NR;
    }
#pragma GCC unroll 8
    for (int r = 0; r < N_MR; r++) {
        vst1q_f32(c + r * ldc, c0[r]);
        vst1q_f32(c + r * ldc + 4, c1[r]);
        vst1q_f32(c + r * ldc + 8, c2[r]);
    }
}

static void micro_row_neon(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                           float *c, bool load) {
    float32x4_t acc[12];
    for (int i = 0; i < 12; i++) acc[i] = load && i < 3 * np ? vld1q_f32(c + 4 * i) : vdupq_n_f32(0.0f);
    for (int k = 0; k < K; k++) {
        float av = a[k * acs];
        for (int p = 0; p < np; p++) {
            const float *b = pb + p * pstride + (size_t)k * N_NR;
            acc[3 * p] = vfmaq_n_f32(acc[3 * p], vld1q_f32(b), av);
            acc[3 * p + 1] = vfmaq_n_f32(acc[3 * p + 1], vld1q_f32(b + 4), av);
            acc[3 * p + 2] = vfmaq_n_f32(acc[3 * p + 2], vld1q_f32(b + 8), av);
        }
    }
    for (int i = 0; i < 3 * np; i++) vst1q_f32(c + 4 * i, acc[i]);
}

/* Lanes 0..63 live in sixteen registers: a[r] = lanes 4r..4r+3. */
static float tree_sum_neon(float32x4_t a[16]) {
    for (int r = 0; r < 8; r++) a[r] = vaddq_f32(a[r], a[r + 8]); /* s = 32 */
    for (int r = 0; r < 4; r++) a[r] = vaddq_f32(a[r], a[r + 4]); /* s = 16 */
    for (int r = 0; r < 2; r++) a[r] = vaddq_f32(a[r], a[r + 2]); /* s = 8 */
    a[0] = vaddq_f32(a[0], a[1]);                                 /* s = 4 */
    float32x2_t h = vadd_f32(vget_low_f32(a[0]), vget_high_f32(a[0])); /* s = 2 */
    return vget_lane_f32(h, 0) + vget_lane_f32(h, 1);                 /* s = 1 */
}

/* Loads min(left, 4) floats, the rest of the register filled with fill. */
static inline float32x4_t load_partial(const float *x, size_t left, float fill) {
    if (left >= 4) return vld1q_f32(x);
    float t[4];
    for (size_t i = 0; i < 4; i++) t[i] = i < left ? x[i] : fill;
    return vld1q_f32(t);
}

static float sum_neon(const float *x, size_t n) {
    float32x4_t a[16];
    for (int r = 0; r < 16; r++) a[r] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = vaddq_f32(a[r], vld1q_f32(x + i + 4 * r));
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = vaddq_f32(a[r], load_partial(x + o, n - o, 0.0f));
    }
    return tree_sum_neon(a);
}

static float dot_neon(const float *x, const float *y, size_t n) {
    float32x4_t a[16];
    for (int r = 0; r < 16; r++) a[r] = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = vfmaq_f32(a[r], vld1q_f32(x + i + 4 * r), vld1q_f32(y + i + 4 * r));
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = vfmaq_f32(a[r], load_partial(x + o, n - o, 0.0f), load_partial(y + o, n - o, 0.0f));
    }
    return tree_sum_neon(a);
}

/* MAXPS(a, b) = a > b ? a : b, lane by lane (not FMAX: see the header). */
static inline float32x4_t maxps4(float32x4_t a, float32x4_t b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
static inline float maxps1(float a, float b) { return a > b ? a : b; }

static float max_neon(const float *x, size_t n) {
    float32x4_t a[16];
    for (int r = 0; r < 16; r++) a[r] = vdupq_n_f32(-INFINITY);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = maxps4(vld1q_f32(x + i + 4 * r), a[r]);
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = maxps4(load_partial(x + o, n - o, -INFINITY), a[r]);
    }
    for (int r = 0; r < 8; r++) a[r] = maxps4(a[r], a[r + 8]);
    for (int r = 0; r < 4; r++) a[r] = maxps4(a[r], a[r + 4]);
    for (int r = 0; r < 2; r++) a[r] = maxps4(a[r], a[r + 2]);
    a[0] = maxps4(a[0], a[1]);
    float l0 = maxps1(vgetq_lane_f32(a[0], 0), vgetq_lane_f32(a[0], 2));
    float l1 = maxps1(vgetq_lane_f32(a[0], 1), vgetq_lane_f32(a[0], 3));
    return maxps1(l0, l1);
}

static inline float32x4_t exp_neon4(float32x4_t x) {
    /* n = (x * log2e + round) - round: a separate multiply and add, as in
     * the scalar version (no fusion here). */
    float32x4_t n = vsubq_f32(vaddq_f32(vmulq_f32(x, vdupq_n_f32(TEXP_LOG2E)), vdupq_n_f32(TEXP_ROUND)),
                              vdupq_n_f32(TEXP_ROUND));
    float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(-TEXP_LN2_HI));
    r = vfmaq_f32(r, n, vdupq_n_f32(-TEXP_LN2_LO));
    float32x4_t p = vfmaq_f32(vdupq_n_f32(TEXP_C6), vdupq_n_f32(TEXP_C7), r);
    p = vfmaq_f32(vdupq_n_f32(TEXP_C5), p, r);
    p = vfmaq_f32(vdupq_n_f32(TEXP_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(TEXP_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(TEXP_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    /* Out-of-range lanes computed garbage above; clamp n so the shift is
     * defined, then select the edge values the scalar version returns. */
    int32x4_t e = vcvtq_s32_f32(vmaxq_f32(vminq_f32(n, vdupq_n_f32(127.0f)), vdupq_n_f32(-126.0f)));
    float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23));
    float32x4_t y = vmulq_f32(p, scale);
    y = vbslq_f32(vcltq_f32(x, vdupq_n_f32(TEXP_LO)), vdupq_n_f32(0.0f), y);
    y = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(TEXP_HI)), vdupq_n_f32(INFINITY), y);
    y = vbslq_f32(vceqq_f32(x, x), y, x); /* NaN stays NaN */
    return y;
}

static void exp_shift_neon(float *y, const float *x, float shift, size_t n) {
    float32x4_t s = vdupq_n_f32(shift);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, exp_neon4(vsubq_f32(vld1q_f32(x + i), s)));
    if (i < n) {
        float t[4];
        vst1q_f32(t, exp_neon4(vsubq_f32(load_partial(x + i, n - i, 0.0f), s)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

static void sigmoid_neon(float *y, const float *x, size_t n) {
    const float32x4_t one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_neon4(vsubq_f32(zero, vld1q_f32(x + i)));
        vst1q_f32(y + i, vdivq_f32(one, vaddq_f32(one, e)));
    }
    if (i < n) {
        float t[4];
        float32x4_t e = exp_neon4(vsubq_f32(zero, load_partial(x + i, n - i, 0.0f)));
        vst1q_f32(t, vdivq_f32(one, vaddq_f32(one, e)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

const tensor_kernels tensor_kernels_neon = {
    .name = "neon",
    .MR = N_MR,
    .NR = N_NR,
    .micro = micro_neon,
    .micro_row = micro_row_neon,
    .sum = sum_neon,
    .dot = dot_neon,
    .max = max_neon,
    .exp_shift = exp_shift_neon,
    .sigmoid = sigmoid_neon,
};
