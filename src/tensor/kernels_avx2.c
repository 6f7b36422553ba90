/*
 * kernels_avx2.c — the AVX2+FMA path. Compiled with -mavx2 -mfma; only called
 * after tensor_init checked the CPU. Each function mirrors its scalar twin in
 * kernels_scalar.c operation for operation.
 */
#include "../base/plow.h"

#include <immintrin.h>

#include "tensor_internal.h"

#define Y_MR 6
#define Y_NR 16

static void micro_avx2(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                       ptrdiff_t ldc, bool load) {
    __m256 c0[Y_MR], c1[Y_MR];
#pragma GCC unroll 6
    for (int r = 0; r < Y_MR; r++) {
        c0[r] = load ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        c1[r] = load ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < Y_MR; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * ars + k * acs);
            c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
        }
        pb += Y_NR;
    }
#pragma GCC unroll 6
    for (int r = 0; r < Y_MR; r++) {
        _mm256_storeu_ps(c + r * ldc, c0[r]);
        _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
    }
}

static void micro_row_avx2(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                           float *c, bool load) {
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = load && i < 2 * np ? _mm256_loadu_ps(c + 8 * i) : _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 av = _mm256_broadcast_ss(a + k * acs);
        for (int p = 0; p < np; p++) {
            const float *b = pb + p * pstride + (size_t)k * Y_NR;
            acc[2 * p] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), acc[2 * p]);
            acc[2 * p + 1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), acc[2 * p + 1]);
        }
    }
    for (int i = 0; i < 2 * np; i++) _mm256_storeu_ps(c + 8 * i, acc[i]);
}

/* Lanes 0..63 live in eight registers: a[0] = lanes 0..7, ..., a[7] = 56..63. */
static float tree_sum_256(__m256 a[8]) {
    for (int r = 0; r < 4; r++) a[r] = _mm256_add_ps(a[r], a[r + 4]); /* s = 32 */
    for (int r = 0; r < 2; r++) a[r] = _mm256_add_ps(a[r], a[r + 2]); /* s = 16 */
    a[0] = _mm256_add_ps(a[0], a[1]);                                 /* s = 8 */
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* Loads min(left, 8) floats, the rest of the register filled with fill. */
static inline __m256 load_partial(const float *x, size_t left, float fill) {
    if (left >= 8) return _mm256_loadu_ps(x);
    float t[8];
    for (size_t i = 0; i < 8; i++) t[i] = i < left ? x[i] : fill;
    return _mm256_loadu_ps(t);
}

static float sum_avx2(const float *x, size_t n) {
    __m256 a[8];
    for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 8; r++) a[r] = _mm256_add_ps(a[r], _mm256_loadu_ps(x + i + 8 * r));
    for (int r = 0; r < 8 && i + 8 * (size_t)r < n; r++) {
        size_t o = i + 8 * (size_t)r;
        a[r] = _mm256_add_ps(a[r], load_partial(x + o, n - o, 0.0f));
    }
    return tree_sum_256(a);
}

static float dot_avx2(const float *x, const float *y, size_t n) {
    __m256 a[8];
    for (int r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 8; r++)
            a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * r), _mm256_loadu_ps(y + i + 8 * r),
                                   a[r]);
    for (int r = 0; r < 8 && i + 8 * (size_t)r < n; r++) {
        size_t o = i + 8 * (size_t)r;
        a[r] = _mm256_fmadd_ps(load_partial(x + o, n - o, 0.0f), load_partial(y + o, n - o, 0.0f),
                               a[r]);
    }
    return tree_sum_256(a);
}

static float max_avx2(const float *x, size_t n) {
    __m256 a[8];
    for (int r = 0; r < 8; r++) a[r] = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 8; r++) a[r] = _mm256_max_ps(_mm256_loadu_ps(x + i + 8 * r), a[r]);
    for (int r = 0; r < 8 && i + 8 * (size_t)r < n; r++) {
        size_t o = i + 8 * (size_t)r;
        a[r] = _mm256_max_ps(load_partial(x + o, n - o, -INFINITY), a[r]);
    }
    for (int r = 0; r < 4; r++) a[r] = _mm256_max_ps(a[r], a[r + 4]);
    for (int r = 0; r < 2; r++) a[r] = _mm256_max_ps(a[r], a[r + 2]);
    a[0] = _mm256_max_ps(a[0], a[1]);
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(a[0]), _mm256_extractf128_ps(a[0], 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

static inline __m256 exp256(__m256 x) {
    __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(TEXP_LOG2E)),
                                           _mm256_set1_ps(TEXP_ROUND)),
                             _mm256_set1_ps(TEXP_ROUND));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-TEXP_LN2_HI), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-TEXP_LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(TEXP_C7), r, _mm256_set1_ps(TEXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TEXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TEXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TEXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TEXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_cvttps_epi32(_mm256_max_ps(_mm256_min_ps(n, _mm256_set1_ps(127.0f)),
                                                  _mm256_set1_ps(-126.0f)));
    __m256 scale =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(p, scale);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(TEXP_LO), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(TEXP_HI), _CMP_GT_OQ));
    y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    return y;
}

static void exp_shift_avx2(float *y, const float *x, float shift, size_t n) {
    __m256 s = _mm256_set1_ps(shift);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
    if (i < n) {
        float t[8];
        _mm256_storeu_ps(t, exp256(_mm256_sub_ps(load_partial(x + i, n - i, 0.0f), s)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

static void sigmoid_avx2(float *y, const float *x, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(zero, _mm256_loadu_ps(x + i)));
        _mm256_storeu_ps(y + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    if (i < n) {
        float t[8];
        __m256 e = exp256(_mm256_sub_ps(zero, load_partial(x + i, n - i, 0.0f)));
        _mm256_storeu_ps(t, _mm256_div_ps(one, _mm256_add_ps(one, e)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

const tensor_kernels tensor_kernels_avx2 = {
    .name = "avx2",
    .MR = Y_MR,
    .NR = Y_NR,
    .micro = micro_avx2,
    .micro_row = micro_row_avx2,
    .sum = sum_avx2,
    .dot = dot_avx2,
    .max = max_avx2,
    .exp_shift = exp_shift_avx2,
    .sigmoid = sigmoid_avx2,
};
