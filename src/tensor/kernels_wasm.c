/*
 * kernels_wasm.c — the WebAssembly SIMD128 path ("simd128"). Built only for
 * wasm32 targets (-msimd128; a wasm engine without SIMD refuses the module,
 * so there is no run-time check). Each function mirrors its scalar twin in
 * kernels_scalar.c operation for operation.
 *
 * SIMD128 has no fused multiply-add (relaxed-SIMD's f32x4.relaxed_madd may be
 * fused or not, at the engine's choice, so it cannot carry the contract).
 * Wherever the scalar path calls fmaf, this path computes the correctly
 * rounded fused result exactly, two lanes at a time in f64x2, by the method
 * of tensor_fmaf_exact (dmath.c): the product of two floats is exact in
 * double, a two-sum gives the double sum and its error, rounding to odd
 * (the double's last bit set towards the exact value when the sum was
 * inexact) keeps the information a second rounding would lose, and the one
 * conversion to float then rounds correctly. A plain double a*b+c would round
 * twice and differ in rare cases (tests/test_tensor.c has such inputs).
 *
 * max is a compare and a select (a > b ? a : b, MAXPS: f32x4.max propagates
 * NaN and orders -0 below +0); the 64 canonical lanes live in sixteen 4-lane
 * vectors and the halving tree adds the pairs the scalar tree adds.
 */
#include "../base/plow.h"

#include <wasm_simd128.h>

#include "tensor_internal.h"

#define W_MR 4
#define W_NR 8

/* ---- the exact fused multiply-add, two lanes in double ------------------- */

/* a*b + c for f64x2 operands holding floats, rounded to odd in double (then
 * one conversion to float rounds correctly). Non-finite sums are left as
 * they are, as tensor_fmaf_exact leaves them. */
static inline v128_t fma_odd2(v128_t a, v128_t b, v128_t c) {
    v128_t p = wasm_f64x2_mul(a, b); /* exact: 24 + 24 significant bits */
    v128_t s = wasm_f64x2_add(p, c);
    v128_t bb = wasm_f64x2_sub(s, p);
    v128_t e = wasm_f64x2_add(wasm_f64x2_sub(p, wasm_f64x2_sub(s, bb)), wasm_f64x2_sub(c, bb));
    /* where e != 0, s finite and s's last bit even: one step towards the
     * exact value, +1 if e and s have the same sign, -1 if not */
    v128_t fix = wasm_v128_and(wasm_f64x2_ne(e, wasm_f64x2_splat(0.0)),
                               wasm_f64x2_lt(wasm_f64x2_abs(s), wasm_f64x2_splat(INFINITY)));
    fix = wasm_v128_and(fix, wasm_i64x2_eq(wasm_v128_and(s, wasm_i64x2_splat(1)), wasm_i64x2_splat(0)));
    v128_t step = wasm_v128_or(wasm_i64x2_shr(wasm_v128_xor(s, e), 63), wasm_i64x2_splat(1));
    return wasm_i64x2_add(s, wasm_v128_and(step, fix));
}

/* Rounds two doubles to float and back: an accumulator's value after a step. */
static inline v128_t round_f32(v128_t s) { return wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(s)); }

static inline v128_t lo2(v128_t x) { return wasm_f64x2_promote_low_f32x4(x); }
static inline v128_t hi2(v128_t x) { return wasm_f64x2_promote_low_f32x4(wasm_i64x2_shuffle(x, x, 1, 0)); }
static inline v128_t join2(v128_t lo, v128_t hi) {
    return wasm_i64x2_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 2);
}

/* fmaf(a, b, c) on four float lanes, exactly. */
static inline v128_t fma4(v128_t a, v128_t b, v128_t c) {
    return join2(fma_odd2(lo2(a), lo2(b), lo2(c)), fma_odd2(hi2(a), hi2(b), hi2(c)));
}

/* ---- GEMM ------------------------------------------------------------------ */

/* The accumulators are kept in double, always holding float values (rounded
 * after every step), so a step costs one exact fma and one rounding. */
static void micro_wasm(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                       ptrdiff_t ldc, bool load) {
    v128_t acc[W_MR][W_NR / 2];
    for (int r = 0; r < W_MR; r++)
        for (int j = 0; j < W_NR / 4; j++) {
            v128_t v = load ? wasm_v128_load(c + r * ldc + 4 * j) : wasm_f32x4_splat(0.0f);
            acc[r][2 * j] = lo2(v);
            acc[r][2 * j + 1] = hi2(v);
        }
    for (int k = 0; k < K; k++) {
        v128_t b[W_NR / 2];
        for (int j = 0; j < W_NR / 4; j++) {
            v128_t v = wasm_v128_load(pb + 4 * j);
            b[2 * j] = lo2(v);
            b[2 * j + 1] = hi2(v);
        }
        for (int r = 0; r < W_MR; r++) {
            v128_t av = wasm_f64x2_splat((double)a[r * ars + k * acs]);
            for (int j = 0; j < W_NR / 2; j++) acc[r][j] = round_f32(fma_odd2(av, b[j], acc[r][j]));
        }
        pb += W_NR;
    }
    for (int r = 0; r < W_MR; r++)
        for (int j = 0; j < W_NR / 4; j++) wasm_v128_store(c + r * ldc + 4 * j, join2(acc[r][2 * j], acc[r][2 * j + 1]));
}

static void micro_row_wasm(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                           float *c, bool load) {
    v128_t acc[4][W_NR / 2];
    for (int p = 0; p < np; p++)
        for (int j = 0; j < W_NR / 4; j++) {
            v128_t v = load ? wasm_v128_load(c + p * W_NR + 4 * j) : wasm_f32x4_splat(0.0f);
            acc[p][2 * j] = lo2(v);
            acc[p][2 * j + 1] = hi2(v);
        }
    for (int k = 0; k < K; k++) {
        v128_t av = wasm_f64x2_splat((double)a[k * acs]);
        for (int p = 0; p < np; p++) {
            const float *b = pb + p * pstride + (size_t)k * W_NR;
            for (int j = 0; j < W_NR / 4; j++) {
                v128_t v = wasm_v128_load(b + 4 * j);
                acc[p][2 * j] = round_f32(fma_odd2(av, lo2(v), acc[p][2 * j]));
                acc[p][2 * j + 1] = round_f32(fma_odd2(av, hi2(v), acc[p][2 * j + 1]));
            }
        }
    }
    for (int p = 0; p < np; p++)
        for (int j = 0; j < W_NR / 4; j++) wasm_v128_store(c + p * W_NR + 4 * j, join2(acc[p][2 * j], acc[p][2 * j + 1]));
}

/* ---- reductions (contract rule 2: 64 lanes, a halving tree) ---------------- */

/* Lanes 0..63 live in sixteen vectors: a[r] = lanes 4r..4r+3. */
static float tree_sum_wasm(v128_t a[16]) {
    for (int r = 0; r < 8; r++) a[r] = wasm_f32x4_add(a[r], a[r + 8]); /* s = 32 */
    for (int r = 0; r < 4; r++) a[r] = wasm_f32x4_add(a[r], a[r + 4]); /* s = 16 */
    for (int r = 0; r < 2; r++) a[r] = wasm_f32x4_add(a[r], a[r + 2]); /* s = 8 */
    a[0] = wasm_f32x4_add(a[0], a[1]);                                 /* s = 4 */
    float l0 = wasm_f32x4_extract_lane(a[0], 0) + wasm_f32x4_extract_lane(a[0], 2); /* s = 2 */
    float l1 = wasm_f32x4_extract_lane(a[0], 1) + wasm_f32x4_extract_lane(a[0], 3);
    return l0 + l1; /* s = 1 */
}

/* Loads min(left, 4) floats, the rest of the vector filled with fill. */
static inline v128_t load_partial(const float *x, size_t left, float fill) {
    if (left >= 4) return wasm_v128_load(x);
    float t[4];
    for (size_t i = 0; i < 4; i++) t[i] = i < left ? x[i] : fill;
    return wasm_v128_load(t);
}

static float sum_wasm(const float *x, size_t n) {
    v128_t a[16];
    for (int r = 0; r < 16; r++) a[r] = wasm_f32x4_splat(0.0f);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = wasm_f32x4_add(a[r], wasm_v128_load(x + i + 4 * r));
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = wasm_f32x4_add(a[r], load_partial(x + o, n - o, 0.0f));
    }
    return tree_sum_wasm(a);
}

static float dot_wasm(const float *x, const float *y, size_t n) {
    v128_t a[16];
    for (int r = 0; r < 16; r++) a[r] = wasm_f32x4_splat(0.0f);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = fma4(wasm_v128_load(x + i + 4 * r), wasm_v128_load(y + i + 4 * r), a[r]);
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = fma4(load_partial(x + o, n - o, 0.0f), load_partial(y + o, n - o, 0.0f), a[r]);
    }
    return tree_sum_wasm(a);
}

/* MAXPS(a, b) = a > b ? a : b, lane by lane (not f32x4.max: see the header). */
static inline v128_t maxps4(v128_t a, v128_t b) { return wasm_v128_bitselect(a, b, wasm_f32x4_gt(a, b)); }
static inline float maxps1(float a, float b) { return a > b ? a : b; }

static float max_wasm(const float *x, size_t n) {
    v128_t a[16];
    for (int r = 0; r < 16; r++) a[r] = wasm_f32x4_splat(-INFINITY);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int r = 0; r < 16; r++) a[r] = maxps4(wasm_v128_load(x + i + 4 * r), a[r]);
    for (int r = 0; r < 16 && i + 4 * (size_t)r < n; r++) {
        size_t o = i + 4 * (size_t)r;
        a[r] = maxps4(load_partial(x + o, n - o, -INFINITY), a[r]);
    }
    for (int r = 0; r < 8; r++) a[r] = maxps4(a[r], a[r + 8]);
    for (int r = 0; r < 4; r++) a[r] = maxps4(a[r], a[r + 4]);
    for (int r = 0; r < 2; r++) a[r] = maxps4(a[r], a[r + 2]);
    a[0] = maxps4(a[0], a[1]);
    float l0 = maxps1(wasm_f32x4_extract_lane(a[0], 0), wasm_f32x4_extract_lane(a[0], 2));
    float l1 = maxps1(wasm_f32x4_extract_lane(a[0], 1), wasm_f32x4_extract_lane(a[0], 3));
    return maxps1(l0, l1);
}

/* ---- exp, sigmoid ------------------------------------------------------------ */

static inline v128_t exp_wasm4(v128_t x) {
    /* n = (x * log2e + round) - round: a separate multiply and add, as in
     * the scalar version (no fusion there, none here) */
    v128_t n = wasm_f32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(TEXP_LOG2E)),
                                             wasm_f32x4_splat(TEXP_ROUND)),
                              wasm_f32x4_splat(TEXP_ROUND));
    v128_t r = fma4(n, wasm_f32x4_splat(-TEXP_LN2_HI), x);
    r = fma4(n, wasm_f32x4_splat(-TEXP_LN2_LO), r);
    v128_t p = fma4(wasm_f32x4_splat(TEXP_C7), r, wasm_f32x4_splat(TEXP_C6));
    p = fma4(p, r, wasm_f32x4_splat(TEXP_C5));
    p = fma4(p, r, wasm_f32x4_splat(TEXP_C4));
    p = fma4(p, r, wasm_f32x4_splat(TEXP_C3));
    p = fma4(p, r, wasm_f32x4_splat(TEXP_C2));
    p = fma4(p, r, wasm_f32x4_splat(1.0f));
    p = fma4(p, r, wasm_f32x4_splat(1.0f));
    /* out-of-range lanes computed garbage above: clamp n so the shift is
     * defined, then select the edge values the scalar version returns */
    v128_t e = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_pmax(wasm_f32x4_pmin(n, wasm_f32x4_splat(127.0f)),
                                                          wasm_f32x4_splat(-126.0f)));
    v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(e, wasm_i32x4_splat(127)), 23);
    v128_t y = wasm_f32x4_mul(p, scale);
    y = wasm_v128_bitselect(wasm_f32x4_splat(0.0f), y, wasm_f32x4_lt(x, wasm_f32x4_splat(TEXP_LO)));
    y = wasm_v128_bitselect(wasm_f32x4_splat(INFINITY), y, wasm_f32x4_gt(x, wasm_f32x4_splat(TEXP_HI)));
    return wasm_v128_bitselect(y, x, wasm_f32x4_eq(x, x)); /* NaN stays NaN */
}

static void exp_shift_wasm(float *y, const float *x, float shift, size_t n) {
    v128_t s = wasm_f32x4_splat(shift);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, exp_wasm4(wasm_f32x4_sub(wasm_v128_load(x + i), s)));
    if (i < n) {
        float t[4];
        wasm_v128_store(t, exp_wasm4(wasm_f32x4_sub(load_partial(x + i, n - i, 0.0f), s)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

static void sigmoid_wasm(float *y, const float *x, size_t n) {
    const v128_t one = wasm_f32x4_splat(1.0f);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v128_t e = exp_wasm4(wasm_f32x4_neg(wasm_v128_load(x + i)));
        wasm_v128_store(y + i, wasm_f32x4_div(one, wasm_f32x4_add(one, e)));
    }
    if (i < n) {
        float t[4];
        v128_t e = exp_wasm4(wasm_f32x4_neg(load_partial(x + i, n - i, 0.0f)));
        wasm_v128_store(t, wasm_f32x4_div(one, wasm_f32x4_add(one, e)));
        for (size_t j = 0; i + j < n; j++) y[i + j] = t[j];
    }
}

const tensor_kernels tensor_kernels_simd128 = {
    .name = "simd128",
    .MR = W_MR,
    .NR = W_NR,
    .micro = micro_wasm,
    .micro_row = micro_row_wasm,
    .sum = sum_wasm,
    .dot = dot_wasm,
    .max = max_wasm,
    .exp_shift = exp_shift_wasm,
    .sigmoid = sigmoid_wasm,
};
