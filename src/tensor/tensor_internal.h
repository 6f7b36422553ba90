/*
 * tensor_internal.h — what the SIMD-path files of src/tensor share with the
 * dispatcher. Not for use outside src/tensor.
 *
 * Each path provides one tensor_kernels table. The GEMM micro-kernel computes
 * a full MR x NR tile from packed panels:
 *   pa: K groups of MR floats (A(i0+r, k) at pa[k*MR + r])
 *   pb: K groups of NR floats (B(k, j0+c) at pb[k*NR + c])
 *   c[r*ldc + c] = chain over k of fma(pa, pb, .) starting at c (load) or 0.
 */
#ifndef PLOW_TENSOR_INTERNAL_H
#define PLOW_TENSOR_INTERNAL_H

#include "tensor.h"

#include <math.h>

/* The contract's fused multiply-add in plain C: the C library's fmaf (one
 * instruction on x86-64 with FMA and on aarch64) or, where the target has no
 * FMA instruction (WebAssembly), plow's exact emulation. */
#if defined(__wasm__)
#define TFMAF tensor_fmaf_exact
#else
#define TFMAF fmaf
#endif

typedef struct tensor_kernels {
    const char *name;
    int MR, NR;
    void (*micro)(int K, const float *a, ptrdiff_t ars, ptrdiff_t acs, const float *pb, float *c,
                  ptrdiff_t ldc, bool load);
    /* One row of A against np (1..4) packed panels of B spaced pstride
     * floats apart: c[p*NR + j] for p < np. The same chains as micro, with
     * enough independent accumulators for a single row (decode). */
    void (*micro_row)(int K, const float *a, ptrdiff_t acs, const float *pb, ptrdiff_t pstride, int np,
                      float *c, bool load);
    float (*sum)(const float *x, size_t n);
    float (*dot)(const float *x, const float *y, size_t n);
    float (*max)(const float *x, size_t n);
    void (*exp_shift)(float *y, const float *x, float shift, size_t n);
    void (*sigmoid)(float *y, const float *x, size_t n);
} tensor_kernels;

typedef struct tensor_ew_kernels {
    void (*adamw)(float *w, const float *g, float *m1, float *m2, size_t n, const tensor_adamw_params *p);
    void (*rms_apply)(float *y, const float *x, const float *w, float rs, size_t n);
    void (*rms_backward_row)(float *dx, float *prod, const float *x, const float *dy, const float *w, float rs,
                             size_t n, float *scratch);
    void (*rope)(float *v, const float *cos, const float *sin, int heads, int HD, bool inverse);
    void (*swiglu)(float *h, const float *gate, const float *up, const float *sig, size_t n);
    void (*swiglu_backward)(float *dgate, float *dup, const float *gate, const float *up, const float *dh,
                            const float *sig, size_t n);
    void (*add)(float *y, const float *a, const float *b, size_t n);
    void (*scale)(float *y, const float *x, float s, size_t n);
    void (*dlogits)(float *p, size_t n, float g, int32_t target);
} tensor_ew_kernels;

extern const tensor_ew_kernels tensor_ew_scalar;
extern const tensor_ew_kernels tensor_ew_avx2;
extern const tensor_ew_kernels tensor_ew_avx512;
extern const tensor_ew_kernels tensor_ew_neon;
extern const tensor_ew_kernels tensor_ew_simd128;
extern const tensor_ew_kernels *tensor_ew;

extern const tensor_kernels tensor_kernels_scalar;
extern const tensor_kernels tensor_kernels_avx2;
extern const tensor_kernels tensor_kernels_avx512;
extern const tensor_kernels tensor_kernels_neon;
extern const tensor_kernels tensor_kernels_simd128;
extern const tensor_kernels *tensor_k;

/* Largest MR and NR over all paths (sizes of edge-tile scratch). */
#define TENSOR_MAX_MR 16
#define TENSOR_MAX_NR 32

/* The exp algorithm's constants, shared by the scalar and SIMD versions so
 * they perform the same operations on the same numbers. */
#define TEXP_HI 88.0f
#define TEXP_LO (-87.0f)
#define TEXP_LOG2E 1.44269502f
#define TEXP_ROUND 12582912.0f /* 1.5 * 2^23: adding and subtracting rounds to an integer */
#define TEXP_LN2_HI 0.693359375f
#define TEXP_LN2_LO (-2.12194440e-4f)
#define TEXP_C7 (1.0f / 5040.0f)
#define TEXP_C6 (1.0f / 720.0f)
#define TEXP_C5 (1.0f / 120.0f)
#define TEXP_C4 (1.0f / 24.0f)
#define TEXP_C3 (1.0f / 6.0f)
#define TEXP_C2 0.5f

/* The scalar exp: the reference every SIMD exp must match bit for bit. */
static inline float tensor_expf_ref(float x) {
    if (x != x) return x;
    if (x > TEXP_HI) return INFINITY;
    if (x < TEXP_LO) return 0.0f;
    float n = (x * TEXP_LOG2E + TEXP_ROUND) - TEXP_ROUND;
    float r = TFMAF(n, -TEXP_LN2_HI, x);
    r = TFMAF(n, -TEXP_LN2_LO, r);
    float p = TFMAF(TEXP_C7, r, TEXP_C6);
    p = TFMAF(p, r, TEXP_C5);
    p = TFMAF(p, r, TEXP_C4);
    p = TFMAF(p, r, TEXP_C3);
    p = TFMAF(p, r, TEXP_C2);
    p = TFMAF(p, r, 1.0f);
    p = TFMAF(p, r, 1.0f);
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

#endif
