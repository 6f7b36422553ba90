/*
 * tensor.h — plow's deterministic compute kernels.
 *
 * THE CONTRACT (docs/design.md §2). Every function here returns bits that depend
 * only on its inputs — never on the thread count, the SIMD path, the batch a
 * row sits in, or the compiler. The rules that make it so:
 *
 *   1. Matrix products: every output C[i][j] is ONE fused-multiply-add chain
 *      over k = 0, 1, ..., K-1 in index order, starting from 0 (or from the old
 *      C[i][j] when accumulating). SIMD paths vectorise across j (outputs),
 *      never across k, so they follow the chain exactly. A row computed alone,
 *      in a batch, by prefill or by decode, gets the same bits.
 *   2. Vector reductions (sum, dot, sum of squares, max): PLOW_LANES lanes,
 *      lane l taking the elements i ≡ l (mod PLOW_LANES) in index order (FMA for
 *      products), then a fixed halving tree (lane[l] op= lane[l+s] for
 *      s = PLOW_LANES/2 ... 1). Scalar, AVX2 (several registers) and AVX-512
 *      (several registers) all implement that same order.
 *   3. Threads split independent outputs (rows, tiles, columns), never a sum.
 *      Long sums over many threads use fixed-size chunks (PLOW_CHUNK) whose
 *      partials are added in chunk order.
 *   4. FMA is explicit (fmaf / _mm*_fmadd_ps) wherever used; the build uses
 *      -ffp-contract=off so the compiler never fuses on its own.
 *   5. exp and log are plow's own (tensor_expf, tensor_logf), built from IEEE
 *      basic operations; the SIMD versions perform the same operations.
 *
 * Paths: TENSOR_PATH_SCALAR (plain C, the reference), _AVX2 (AVX2+FMA),
 * _AVX512 (AVX-512F) on x86-64; _NEON on aarch64; _SIMD128 in WebAssembly (docs/platforms.md).
 * tensor_init picks the best the CPU supports, unless the environment
 * variable PLOW_SIMD=scalar|avx2|avx512|neon|simd128 (or the argument) says
 * otherwise. Tests force each path and compare bits. A target without a
 * fused multiply-add instruction (WebAssembly) would take every fmaf of the
 * contract from tensor_fmaf_exact (TFMAF in tensor_internal.h).
 *
 * Threads: a persistent pool (tensor_init(threads)); tensor_parallel_for runs
 * an index range over it. Every array kernel that runs on the calling
 * thread alone carries the suffix _st; the ones without it (tensor_gemm,
 * tensor_gemm_packed, tensor_sumsq_long, tensor_normal_fill and the threaded
 * section below) use the pool and must not be called from inside a parallel
 * task (the pool is not re-entrant). Threaded and _st variants of the same
 * operation give the same bits. Scalar functions (tensor_expf, tensor_philox,
 * ...) need no suffix.
 */
#ifndef PLOW_TENSOR_H
#define PLOW_TENSOR_H

#include "../base/plow.h"

#include <stddef.h>

#define PLOW_LANES 64        /* canonical accumulator lanes of a vector reduction */
#define PLOW_CHUNK 65536     /* elements per partial in long threaded reductions */

typedef enum tensor_path {
    TENSOR_PATH_SCALAR,
    TENSOR_PATH_AVX2,
    TENSOR_PATH_AVX512,
    TENSOR_PATH_NEON,    /* aarch64 builds only */
    TENSOR_PATH_SIMD128, /* WebAssembly builds only */
    TENSOR_PATH_COUNT
} tensor_path;

/* Selects the SIMD path and starts the thread pool. path_name may be NULL
 * (then PLOW_SIMD, then the best supported), or "scalar", "avx2", "avx512",
 * "neon", "simd128", "auto". threads <= 0 means PLOW_THREADS or the number of online CPUs.
 * May be called again to change either (tests do). Fails if the CPU lacks the
 * requested path. */
int tensor_init(const char *path_name, int threads, char err[PLOW_ERR_LEN]);
/* Stops the pool and frees the engine's buffers (the caller's too). */
void tensor_shutdown(void);

/* A per-thread scratch buffer of at least n floats, kept between calls and
 * freed when the thread leaves the pool (or at tensor_shutdown). Slots 0 and 1
 * belong to the GEMM; others are free for kernels that need a work row. */
#define TENSOR_SCRATCH_SLOTS 4
enum { TENSOR_SCRATCH_USER = 2 };
float *tensor_scratch(int slot, size_t n);
/* Frees the calling thread's scratch buffers. A thread that is not one of
 * the pool's (the node's referee, a server thread) calls it when its work is
 * done, or the buffers live as long as the thread. */
void tensor_scratch_release(void);
tensor_path tensor_path_get(void);
const char *tensor_path_name(tensor_path p);
bool tensor_path_supported(tensor_path p);
int tensor_threads(void);

/* Runs fn(ctx, i) for every i in [0, n) on the pool. Tasks must write
 * disjoint outputs. Returns when all are done. Not re-entrant. */
void tensor_parallel_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx);

/* ---- matrix product -------------------------------------------------------
 * C (M x N, row stride ldc) = [C +] A · B where element A(i,k) is at
 * a[i*rsa + k*csa] and B(k,j) at b[k*rsb + j*csb]. Any strides, so transposes
 * are free. Contract rule 1 holds for every element. */
typedef struct tensor_mat {
    const float *p;
    ptrdiff_t rs, cs; /* row stride, column stride (in floats) */
} tensor_mat;

void tensor_gemm(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                 bool accumulate);
/* Single-threaded (for use inside tensor_parallel_for tasks). If causal is
 * true, only outputs with j <= i + causal_offset need be correct: tiles entirely
 * above that diagonal are skipped (their C contents are unspecified). */
void tensor_gemm_st(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                    bool accumulate);
void tensor_gemm_causal_st(int M, int N, int K, tensor_mat A, tensor_mat B, float *C,
                           ptrdiff_t ldc, int causal_offset);

/* A pre-packed right operand, for weights used many times unchanged
 * (generation). Same bits as tensor_gemm with the original B. */
typedef struct tensor_packed tensor_packed;
tensor_packed *tensor_pack_new(int K, int N, tensor_mat B);
void tensor_packed_free(tensor_packed *pb);
void tensor_gemm_packed(int M, const float *A, ptrdiff_t lda, const tensor_packed *pb, float *C,
                        ptrdiff_t ldc);

/* ---- canonical reductions (contract rule 2), single-threaded ---------------- */
float tensor_sum_st(const float *x, size_t n);
float tensor_dot_st(const float *x, const float *y, size_t n);
float tensor_sumsq_st(const float *x, size_t n);
float tensor_max_st(const float *x, size_t n);
/* Sum of squares of a long vector using the pool: fixed PLOW_CHUNK chunks,
 * each reduced canonically, partials added in chunk order. */
float tensor_sumsq_long(const float *x, size_t n);

/* ---- elementwise, single-threaded (bit-identical on every path by construction) */
/* y[i] = tensor_expf(x[i] - shift); returns nothing; in place allowed. */
void tensor_exp_shift_st(float *y, const float *x, float shift, size_t n);
/* y[i] = 1 / (1 + tensor_expf(-x[i])); in place allowed. */
void tensor_sigmoid_st(float *y, const float *x, size_t n);

/* ---- elementwise kernels (single-threaded; callers split rows/chunks) ----
 * Written once and compiled per path (kernels_ew.inc); identical bits on
 * every path. */
typedef struct tensor_adamw_params {
    float lr, beta1, beta2, eps, wd; /* wd: decoupled decay (0 for norm gains) */
    float bc1, bc2;                  /* 1 - beta^t, computed by the caller */
    float gscale;                    /* gradient scale from clipping (1: none) */
} tensor_adamw_params;
void tensor_adamw_st(float *w, const float *g, float *m1, float *m2, size_t n, const tensor_adamw_params *p);
/* y = (x * rs) * w */
void tensor_rms_apply_st(float *y, const float *x, const float *w, float rs, size_t n);
/* One row of RMSNorm's backward: dx += rs * (dy*w - xhat * <dy*w, xhat>/n),
 * prod = dy * xhat (for the gain's gradient); scratch holds 2n floats. */
void tensor_rms_backward_row_st(float *dx, float *prod, const float *x, const float *dy, const float *w, float rs,
                                size_t n, float *scratch);
/* Rotary embedding of `heads` vectors of HD at one position (pairs i, i+HD/2);
 * inverse applies the transpose. */
void tensor_rope_st(float *v, const float *cos, const float *sin, int heads, int HD, bool inverse);
/* h = (gate * sig) * up, sig = sigmoid(gate) precomputed. */
void tensor_swiglu_st(float *h, const float *gate, const float *up, const float *sig, size_t n);
void tensor_swiglu_backward_st(float *dgate, float *dup, const float *gate, const float *up, const float *dh,
                               const float *sig, size_t n);
void tensor_add_st(float *y, const float *a, const float *b, size_t n);
void tensor_scale_st(float *y, const float *x, float s, size_t n);
/* p = g * (onehot(target) - p): softmax probabilities in, logit gradients out. */
void tensor_dlogits_st(float *p, size_t n, float g, int32_t target);
/* Causal softmax of one attention row in place: s[0..len) scaled by scale,
 * then normalised with the canonical max and sum; s[len..total) zeroed. */
void tensor_softmax_row_st(float *s, int len, int total, float scale);

/* ---- threaded elementwise and row kernels (the pool; rows.c) ----------------
 * Each runs its _st kernel over PLOW_CHUNK elements or a few rows per task:
 * same bits as one call of the _st kernel over everything. In place allowed.
 * Training (src/model) and generation (src/infer) share them. */
/* y = a + b. */
void tensor_add(float *y, const float *a, const float *b, size_t n);
/* y = x * s. */
void tensor_scale(float *y, const float *x, float s, size_t n);
/* h = silu(gate) * up (sigmoid into a per-thread scratch slot). */
void tensor_swiglu(float *h, const float *gate, const float *up, size_t n);
/* y = rmsnorm(x) * w over N rows of C; 1/rms per row into rstd if not NULL. */
void tensor_rmsnorm(float *y, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* RoPE on N rows of `heads` vectors of HD; row r is at position pos0 + r % T
 * (cos, sin: tables of HD/2 per position). inverse applies the transpose
 * (the backward pass). */
void tensor_rope(float *x, const float *cos, const float *sin, int N, int T, int heads, int HD, int pos0,
                 bool inverse);

/* fma(a, b, c) rounded once, from IEEE double operations only: the float
 * product is exact in double (24 + 24 bits <= 53), the sum is rounded to odd
 * (an error-free two-sum decides the sticky bit), and that double rounds to
 * the correctly rounded float (53 >= 24 + 2 bits). Bit-identical to a hardware
 * FMA for every input, including subnormals, infinities and signed zeros; NaN
 * results are NaN (tests/test_tensor.c checks it against fmaf, double-rounding
 * cases included). For targets without an FMA instruction (WebAssembly). */
float tensor_fmaf_exact(float a, float b, float c);

/* plow's own exp and log (contract rule 5). tensor_expf: relative error
 * < 2 ulp on [-87, 88]; 0 below -87.3; +inf above 88.7; NaN stays NaN. */
float tensor_expf(float x);
float tensor_logf(float x);
/* Double-precision own functions for tables computed once (RoPE, schedules). */
double tensor_exp_d(double x);
double tensor_log_d(double x);
double tensor_sin_d(double x);
double tensor_cos_d(double x);

/* ---- counter-based random numbers -------------------------------------------
 * Philox4x32-10 keyed by seed, counter (purpose, step, index). Any value can be
 * recomputed alone. */
typedef struct tensor_rng_key {
    uint64_t seed;
    uint32_t purpose;
    uint32_t step;
} tensor_rng_key;
void tensor_philox(tensor_rng_key key, uint64_t index, uint32_t out[4]);
/* Uniform in [0, 1) with 24 random bits. */
float tensor_uniform(tensor_rng_key key, uint64_t index);
/* Fills x[0..n) with N(0, std^2) draws (Box-Muller with own log/cos). */
void tensor_normal_fill(float *x, size_t n, float std, tensor_rng_key key);

#endif /* PLOW_TENSOR_H */
