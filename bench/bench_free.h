/* bench_free.h — free-order variants and the peak loop, for comparison only. */
#ifndef PLOW_BENCH_FREE_H
#define PLOW_BENCH_FREE_H

#include "../src/tensor/tensor.h"

/* Runs iters iterations of independent FMAs; returns the FLOPs done. */
double bench_fma_loop(long iters);
const char *bench_fma_isa(void);
/* C = A B with K split between two threads and the halves added: the order a
 * library free to reorder would use for tall-skinny products. */
void bench_gemm_split_k(int M, int N, int K, tensor_mat A, tensor_mat B, float *C);
/* A dot product with as many accumulators as the ISA likes. */
float bench_dot_free(const float *x, const float *y, size_t n);

#endif
