/*
 * kernels_avx512.c — the AVX-512F path. Compiled with -mavx512f -mfma; only
 * called after tensor_init checked the CPU. Each function mirrors its scalar
 * twin in kernels_scalar.c operation for operation.
 */
#include "../base/plow.h"

#include <immintrin.h>

#include "tensor_internal.h"

#define Z_MR 12
#define Z_NR 32

static void micro_avx512(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                         ptrdiff_t ldc, bool load) {
    __m512 c0[Z_MR], c1[Z_MR];
#pragma GCC unroll 12
    for (int r = 0; r < Z_MR; r++) {
        c0[r] = load ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        c1[r] = load ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    if (ars == 1) { /* packed panels or column-major A: the MR values of a k are adjacent */
        for (int k = 0; k < K; k++) {
            __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
#pragma GCC unroll 12
            for (int r = 0; r < Z_MR; r++) {
                __m512 av = _mm512_set1_ps(a[r]);
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
                c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
            }
            a += acs;
            pb += Z_NR;
        }
    } else { /* row-major A read in place: one stream per row */
        const float *ar[Z_MR];
        for (int r = 0; r < Z_MR; r++) ar[r] = a + r * ars;
        for (int k = 0; k < K; k++) {
            __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
#pragma GCC unroll 12
            for (int r = 0; r < Z_MR; r++) {
                __m512 av = _mm512_set1_ps(ar[r][k * acs]);
                c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
                c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
            }
            pb += Z_NR;
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < Z_MR; r++) {
        _mm512_storeu_ps(c + r * ldc, c0[r]);
        _mm512_storeu_ps(c + r * ldc + 16, c1[r]);
    }
}

static void micro_row_avx512(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                             float *c, bool load) {
    __m512 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = load && i < 2 * np ? _mm512_loadu_ps(c + 16 * i) : _mm512_setzero_ps();
    if (np == 4) {
        const float *p0 = pb, *p1 = pb + pstride, *p2 = pb + 2 * pstride, *p3 = pb + 3 * pstride;
        for (int k = 0; k < K; k++) {
            __m512 av = _mm512_set1_ps(a[k * acs]);
            acc[0] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p0), acc[0]);
            acc[1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p0 + 16), acc[1]);
            acc[2] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p1), acc[2]);
            acc[3] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p1 + 16), acc[3]);
            acc[4] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p2), acc[4]);
            acc[5] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p2 + 16), acc[5]);
            acc[6] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p3), acc[6]);
            acc[7] = _mm512_fmadd_ps(av, _mm512_loadu_ps(p3 + 16), acc[7]);
            p0 += Z_NR;
            p1 += Z_NR;
            p2 += Z_NR;
            p3 += Z_NR;
        }
    } else {
        for (int k = 0; k < K; k++) {
            __m512 av = _mm512_set1_ps(a[k * acs]);
            for (int p = 0; p < np; p++) {
                const float *b = pb + p * pstride + (size_t)k * Z_NR;
                acc[2 * p] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b), acc[2 * p]);
                acc[2 * p + 1] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16), acc[2 * p + 1]);
            }
        }
    }
    for (int i = 0; i < 2 * np; i++) _mm512_storeu_ps(c + 16 * i, acc[i]);
}

static inline __m256 hi256(__m512 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* Lanes 0..63 live in four registers: a[0] = lanes 0..15, ..., a[3] = 48..63. */
static float tree_sum_512(__m512 a[4]) {
    a[0] = _mm512_add_ps(a[0], a[2]); /* s = 32 */
    a[1] = _mm512_add_ps(a[1], a[3]);
    a[0] = _mm512_add_ps(a[0], a[1]); /* s = 16 */
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a[0]), hi256(a[0]));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)); /* s = 4 */
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));                                      /* s = 2 */
    q = _mm_add_ss(q, _mm_movehdup_ps(q));                                       /* s = 1 */
    return _mm_cvtss_f32(q);
}

static inline __mmask16 tail_mask(size_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

static float sum_avx512(const float *x, size_t n) {
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 4; r++) a[r] = _mm512_add_ps(a[r], _mm512_loadu_ps(x + i + 16 * r));
    for (int r = 0; r < 4 && i + 16 * (size_t)r < n; r++) {
        size_t o = i + 16 * (size_t)r;
        a[r] = _mm512_add_ps(a[r], _mm512_maskz_loadu_ps(tail_mask(n - o), x + o));
    }
    return tree_sum_512(a);
}

static float dot_avx512(const float *x, const float *y, size_t n) {
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 4; r++)
            a[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16 * r), _mm512_loadu_ps(y + i + 16 * r),
                                   a[r]);
    for (int r = 0; r < 4 && i + 16 * (size_t)r < n; r++) {
        size_t o = i + 16 * (size_t)r;
        __mmask16 m = tail_mask(n - o);
        a[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + o), _mm512_maskz_loadu_ps(m, y + o),
                               a[r]);
    }
    return tree_sum_512(a);
}

static float max_avx512(const float *x, size_t n) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 a[4] = {ninf, ninf, ninf, ninf};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 4; r++) a[r] = _mm512_max_ps(_mm512_loadu_ps(x + i + 16 * r), a[r]);
    for (int r = 0; r < 4 && i + 16 * (size_t)r < n; r++) {
        size_t o = i + 16 * (size_t)r;
        a[r] = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tail_mask(n - o), x + o), a[r]);
    }
    a[0] = _mm512_max_ps(a[0], a[2]);
    a[1] = _mm512_max_ps(a[1], a[3]);
    a[0] = _mm512_max_ps(a[0], a[1]);
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a[0]), hi256(a[0]));
    __m128 q = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_max_ps(q, _mm_movehl_ps(q, q));
    q = _mm_max_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

static inline __m512 exp512(__m512 x) {
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(TEXP_LOG2E)),
                                           _mm512_set1_ps(TEXP_ROUND)),
                             _mm512_set1_ps(TEXP_ROUND));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-TEXP_LN2_HI), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-TEXP_LN2_LO), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(TEXP_C7), r, _mm512_set1_ps(TEXP_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TEXP_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TEXP_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TEXP_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TEXP_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    /* Out-of-range lanes computed garbage above; clamp n so the shift is
     * defined, then blend in the edge values the scalar version returns. */
    __m512i e = _mm512_cvttps_epi32(_mm512_max_ps(_mm512_min_ps(n, _mm512_set1_ps(127.0f)),
                                                  _mm512_set1_ps(-126.0f)));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23));
    __m512 y = _mm512_mul_ps(p, scale);
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(TEXP_LO), _CMP_LT_OQ), y,
                             _mm512_setzero_ps());
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(TEXP_HI), _CMP_GT_OQ), y,
                             _mm512_set1_ps(INFINITY));
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x);
    return y;
}

static void exp_shift_avx512(float *y, const float *x, float shift, size_t n) {
    __m512 s = _mm512_set1_ps(shift);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
    }
}

static void sigmoid_avx512(float *y, const float *x, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(zero, _mm512_loadu_ps(x + i)));
        _mm512_storeu_ps(y + i, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(zero, _mm512_maskz_loadu_ps(m, x + i)));
        _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
}

const tensor_kernels tensor_kernels_avx512 = {
    .name = "avx512",
    .MR = Z_MR,
    .NR = Z_NR,
    .micro = micro_avx512,
    .micro_row = micro_row_avx512,
    .sum = sum_avx512,
    .dot = dot_avx512,
    .max = max_avx512,
    .exp_shift = exp_shift_avx512,
    .sigmoid = sigmoid_avx512,
};
