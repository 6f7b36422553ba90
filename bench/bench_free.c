/*
 * bench_free.c — what the bench compares plow's canonical kernels against:
 * the same work with the reduction order left free, and an FMA loop for the
 * machine's peak. ISA-specific functions carry target attributes and are only
 * called after a CPU check.
 */
#include "../src/base/plow.h"

#include <immintrin.h>

#include "bench_free.h"

/* Twelve independent FMA chains (more than latency x throughput = 8) in
 * named registers, so the loop is bound by the FMA ports alone. */
#define FMA12(F, acc, m, c)                                                              \
    acc##0 = F(acc##0, m, c); acc##1 = F(acc##1, m, c); acc##2 = F(acc##2, m, c);         \
    acc##3 = F(acc##3, m, c); acc##4 = F(acc##4, m, c); acc##5 = F(acc##5, m, c);         \
    acc##6 = F(acc##6, m, c); acc##7 = F(acc##7, m, c); acc##8 = F(acc##8, m, c);         \
    acc##9 = F(acc##9, m, c); acc##10 = F(acc##10, m, c); acc##11 = F(acc##11, m, c)

__attribute__((target("avx512f"))) static double fma_avx512(long iters) {
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    for (long it = 0; it < iters; it++) {
        FMA12(_mm512_fmadd_ps, a, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float sink = _mm512_reduce_add_ps(s);
    __asm__ volatile("" : : "x"(sink));
    return (double)iters * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iters) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
    __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    for (long it = 0; it < iters; it++) {
        FMA12(_mm256_fmadd_ps, a, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float t[8];
    _mm256_storeu_ps(t, s);
    __asm__ volatile("" : : "x"(t[0]));
    return (double)iters * 12 * 8 * 2;
}

const char *bench_fma_isa(void) {
    switch (tensor_path_get()) {
    case TENSOR_PATH_AVX512: return "AVX-512 FMA";
    case TENSOR_PATH_AVX2: return "AVX2 FMA";
    default: return "scalar";
    }
}

double bench_fma_loop(long iters) {
    switch (tensor_path_get()) {
    case TENSOR_PATH_AVX512: return fma_avx512(iters);
    case TENSOR_PATH_AVX2: return fma_avx2(iters);
    default: {
        float acc[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        for (long it = 0; it < iters / 16; it++)
            for (int i = 0; i < 8; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
        __asm__ volatile("" : : "r"(acc) : "memory");
        return (double)(iters / 16) * 8 * 2;
    }
    }
}

typedef struct split_job {
    int M, N, K;
    tensor_mat A, B;
    float *C[2];
} split_job;

static void split_task(void *ctx, size_t t) {
    split_job *j = ctx;
    int h = j->K / 2, k0 = t ? h : 0, kc = t ? j->K - h : h;
    tensor_mat A = {j->A.p + (ptrdiff_t)k0 * j->A.cs, j->A.rs, j->A.cs};
    tensor_mat B = {j->B.p + (ptrdiff_t)k0 * j->B.rs, j->B.rs, j->B.cs};
    tensor_gemm_st(j->M, j->N, kc, A, B, j->C[t], j->N, false);
}

void bench_gemm_split_k(int M, int N, int K, tensor_mat A, tensor_mat B, float *C) {
    static float *tmp;
    static size_t tmp_n;
    size_t need = (size_t)M * N;
    if (need > tmp_n) {
        free(tmp);
        tmp = plow_alloc_aligned(need * 4);
        tmp_n = need;
    }
    split_job j = {M, N, K, A, B, {C, tmp}};
    tensor_parallel_for(2, split_task, &j);
    for (size_t i = 0; i < need; i++) C[i] += tmp[i];
}

__attribute__((target("avx512f"))) static float dot512(const float *x, const float *y, size_t n) {
    __m512 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 128 <= n; i += 128)
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16 * r), _mm512_loadu_ps(y + i + 16 * r), acc[r]);
    for (int r = 1; r < 8; r++) acc[0] = _mm512_add_ps(acc[0], acc[r]);
    float s = _mm512_reduce_add_ps(acc[0]);
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

float bench_dot_free(const float *x, const float *y, size_t n) {
    if (tensor_path_get() == TENSOR_PATH_AVX512) return dot512(x, y, n);
    float s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}
