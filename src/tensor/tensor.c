/*
 * tensor.c — path selection, the thread pool, the GEMM driver (packing and
 * cache blocking around each path's micro-kernel), and the reduction wrappers.
 *
 * The driver only decides which outputs a micro-kernel call computes and in
 * which K-blocks; a K-block continues each output's FMA chain from the value
 * the previous block stored, so blocking never changes a bit.
 */
#include "../base/plow.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "tensor_internal.h"

const tensor_kernels *tensor_k = &tensor_kernels_scalar;
const tensor_ew_kernels *tensor_ew = &tensor_ew_scalar;
static tensor_path cur_path = TENSOR_PATH_SCALAR;

/* Each target builds its own paths; the others are absent (NULL). */
static const tensor_kernels *const path_kernels[TENSOR_PATH_COUNT] = {
    [TENSOR_PATH_SCALAR] = &tensor_kernels_scalar,
#if defined(__x86_64__)
    [TENSOR_PATH_AVX2] = &tensor_kernels_avx2,
    [TENSOR_PATH_AVX512] = &tensor_kernels_avx512,
#endif
#if defined(__aarch64__)
    [TENSOR_PATH_NEON] = &tensor_kernels_neon,
#endif
#if defined(__wasm__)
    [TENSOR_PATH_SIMD128] = &tensor_kernels_simd128,
#endif
};
static const tensor_ew_kernels *const path_ew[TENSOR_PATH_COUNT] = {
    [TENSOR_PATH_SCALAR] = &tensor_ew_scalar,
#if defined(__x86_64__)
    [TENSOR_PATH_AVX2] = &tensor_ew_avx2,
    [TENSOR_PATH_AVX512] = &tensor_ew_avx512,
#endif
#if defined(__aarch64__)
    [TENSOR_PATH_NEON] = &tensor_ew_neon,
#endif
#if defined(__wasm__)
    [TENSOR_PATH_SIMD128] = &tensor_ew_simd128,
#endif
};
static const char *const path_names[TENSOR_PATH_COUNT] = {"scalar", "avx2", "avx512", "neon", "simd128"};
_Static_assert(sizeof path_names / sizeof path_names[0] == TENSOR_PATH_COUNT, "path names");

/* ---- thread pool ----------------------------------------------------------- */

static struct {
    int n;                 /* threads including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic uint64_t gen;  /* bumped for every job */
    _Atomic int busy;      /* workers still inside the current job */
    _Atomic size_t next;   /* next index to claim */
    size_t count;
    void (*fn)(void *, size_t);
    void *ctx;
    bool stop;
    bool running;
} pool = {.n = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void pool_drain(void) {
    size_t i;
    while ((i = atomic_fetch_add(&pool.next, 1)) < pool.count) pool.fn(pool.ctx, i);
}

static void *pool_worker(void *arg) {
    (void)arg;
    uint64_t seen = 0;
    for (;;) {
        /* Spin briefly (jobs come in quick bursts during a step), then sleep. */
        int spins = 0;
        while (atomic_load(&pool.gen) == seen && spins < 20000) {
            spins++;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.gen) == seen && !pool.stop) pthread_cond_wait(&pool.wake, &pool.mu);
        if (pool.stop) {
            pthread_mutex_unlock(&pool.mu);
            tensor_scratch_release();
            return NULL;
        }
        seen = atomic_load(&pool.gen);
        pthread_mutex_unlock(&pool.mu);
        pool_drain();
        if (atomic_fetch_sub(&pool.busy, 1) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
}

static void pool_stop(void) {
    if (!pool.running) return;
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.n - 1; i++) pthread_join(pool.th[i], NULL);
    free(pool.th);
    pool.th = NULL;
    pool.running = false;
    pool.stop = false;
    pool.n = 1;
}

static int pool_start(int n, char err[PLOW_ERR_LEN]) {
    pool_stop();
    pool.n = n;
    if (n <= 1) return 0;
    pool.th = plow_calloc((size_t)n - 1, sizeof *pool.th);
    atomic_store(&pool.gen, 0);
    for (int i = 0; i < n - 1; i++) {
        if (pthread_create(&pool.th[i], NULL, pool_worker, NULL) != 0) {
            pool.n = i + 1;
            pool.running = true;
            pool_stop();
            return plow_error(err, "cannot start %d threads", n);
        }
    }
    pool.running = true;
    return 0;
}

void tensor_parallel_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx) {
    if (pool.n <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.count = n;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.busy, pool.n - 1);
    atomic_fetch_add(&pool.gen, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    pool_drain();
    /* Wait for the workers: spin a little, then sleep. */
    for (int spins = 0; atomic_load(&pool.busy) > 0 && spins < 200000; spins++) {
        cpu_relax();
    }
    if (atomic_load(&pool.busy) > 0) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.busy) > 0) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
}

int tensor_threads(void) { return pool.n; }

/* ---- path selection -------------------------------------------------------- */

bool tensor_path_supported(tensor_path p) {
    switch (p) {
    case TENSOR_PATH_SCALAR: return true;
#if defined(__x86_64__)
    case TENSOR_PATH_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TENSOR_PATH_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case TENSOR_PATH_NEON: return true; /* Advanced SIMD is part of the base AArch64 architecture */
#endif
#if defined(__wasm__)
    case TENSOR_PATH_SIMD128: return true; /* the module is built with SIMD128: an engine without it refuses it */
#endif
    default: return false;
    }
}

const char *tensor_path_name(tensor_path p) {
    return (unsigned)p < TENSOR_PATH_COUNT ? path_names[p] : "?";
}

tensor_path tensor_path_get(void) { return cur_path; }

int tensor_init(const char *path_name, int threads, char err[PLOW_ERR_LEN]) {
    if (!path_name || !*path_name) path_name = getenv("PLOW_SIMD");
    tensor_path p = TENSOR_PATH_COUNT;
    if (!path_name || !*path_name || strcmp(path_name, "auto") == 0) {
        for (int i = TENSOR_PATH_COUNT - 1; i >= 0; i--)
            if (path_kernels[i] && tensor_path_supported((tensor_path)i)) {
                p = (tensor_path)i;
                break;
            }
    } else {
        for (int i = 0; i < TENSOR_PATH_COUNT; i++)
            if (strcmp(path_name, path_names[i]) == 0) p = (tensor_path)i;
        if (p == TENSOR_PATH_COUNT)
            return plow_error(err, "unknown SIMD path '%s' (use scalar, avx2, avx512, neon, simd128 or auto)",
                              path_name);
        if (!tensor_path_supported(p) || !path_kernels[p])
            return plow_error(err, "this CPU (or this build) does not support the %s path", path_name);
    }
    if (threads <= 0) {
        const char *t = getenv("PLOW_THREADS");
        threads = t && *t ? atoi(t) : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (threads <= 0) threads = 1;
    }
    if (threads > 256) return plow_error(err, "too many threads (%d, limit 256)", threads);
#if defined(__wasm__)
    threads = 1; /* wasm32-wasi has no threads: the pool is the caller (thread counts never change bits) */
#endif
    cur_path = p;
    tensor_k = path_kernels[p];
    tensor_ew = path_ew[p];
    if (threads != pool.n || (threads > 1 && !pool.running)) return pool_start(threads, err);
    return 0;
}

static float *g_pb;
static size_t g_pb_n;

void tensor_shutdown(void) {
    pool_stop();
    tensor_scratch_release();
    free(g_pb);
    g_pb = NULL;
    g_pb_n = 0;
}

/* ---- GEMM driver ----------------------------------------------------------- */

#define GEMM_KC 384


/* Packs rows [i0, i0+mr) x k in [k0, k0+kc) of A into MR-row panels, zero
 * padding rows past M. */
static void pack_a(float *dst, tensor_mat A, int M, int i0, int rows, int k0, int kc, int MR) {
    for (int ip = 0; ip < rows; ip += MR) {
        float *d = dst + (size_t)(ip / MR) * kc * MR;
        int live = M - (i0 + ip) < MR ? M - (i0 + ip) : MR;
        if (A.rs == 1 && live == MR) {
            for (int k = 0; k < kc; k++)
                memcpy(d + (size_t)k * MR, A.p + (i0 + ip) + (ptrdiff_t)(k0 + k) * A.cs, sizeof(float) * MR);
            continue;
        }
        for (int r = 0; r < MR; r++) {
            if (r >= live) {
                for (int k = 0; k < kc; k++) d[(size_t)k * MR + r] = 0.0f;
                continue;
            }
            const float *src = A.p + (ptrdiff_t)(i0 + ip + r) * A.rs + (ptrdiff_t)k0 * A.cs;
            if (A.cs == 1)
                for (int k = 0; k < kc; k++) d[(size_t)k * MR + r] = src[k];
            else
                for (int k = 0; k < kc; k++) d[(size_t)k * MR + r] = src[(ptrdiff_t)k * A.cs];
        }
    }
}

/* Packs columns [j0, j0+cols) x k in [k0, k0+kc) of B into NR-column panels. */
static void pack_b(float *dst, tensor_mat B, int N, int j0, int cols, int k0, int kc, int NR) {
    for (int jp = 0; jp < cols; jp += NR) {
        float *d = dst + (size_t)(jp / NR) * kc * NR;
        int live = N - (j0 + jp) < NR ? N - (j0 + jp) : NR;
        if (B.cs == 1 && live == NR) {
            for (int k = 0; k < kc; k++)
                memcpy(d + (size_t)k * NR, B.p + (ptrdiff_t)(k0 + k) * B.rs + (j0 + jp), sizeof(float) * NR);
            continue;
        }
        for (int c = 0; c < NR; c++) {
            if (c >= live) {
                for (int k = 0; k < kc; k++) d[(size_t)k * NR + c] = 0.0f;
                continue;
            }
            const float *src = B.p + (ptrdiff_t)(j0 + jp + c) * B.cs + (ptrdiff_t)k0 * B.rs;
            if (B.rs == 1)
                for (int k = 0; k < kc; k++) d[(size_t)k * NR + c] = src[k];
            else
                for (int k = 0; k < kc; k++) d[(size_t)k * NR + c] = src[(ptrdiff_t)k * B.rs];
        }
    }
}

/* Per-thread scratch buffers, grown on demand and kept; released when a pool
 * thread exits and, for the caller's thread, by tensor_shutdown. */
static _Thread_local float *tl_slot[TENSOR_SCRATCH_SLOTS];
static _Thread_local size_t tl_slot_n[TENSOR_SCRATCH_SLOTS];

float *tensor_scratch(int slot, size_t n) {
    PLOW_ASSERT(slot >= 0 && slot < TENSOR_SCRATCH_SLOTS);
    if (n > tl_slot_n[slot]) {
        free(tl_slot[slot]);
        tl_slot[slot] = plow_alloc_aligned(n * sizeof(float));
        tl_slot_n[slot] = n;
    }
    return tl_slot[slot];
}

void tensor_scratch_release(void) {
    for (int i = 0; i < TENSOR_SCRATCH_SLOTS; i++) {
        free(tl_slot[i]);
        tl_slot[i] = NULL;
        tl_slot_n[i] = 0;
    }
}

enum { SLOT_PA, SLOT_PB };

/* Runs the micro-kernel on one MR x NR tile at (i, j), through a scratch tile
 * when it hangs over the edge of C. */
static void tile_a(const tensor_kernels *kk, int kc, const float *a, ptrdiff_t ars, ptrdiff_t acs,
                   const float *pb, float *C, ptrdiff_t ldc, int M, int N, int i, int j, bool load) {
    int MR = kk->MR, NR = kk->NR;
    if (i + MR <= M && j + NR <= N) {
        kk->micro(kc, a, ars, acs, pb, C + (ptrdiff_t)i * ldc + j, ldc, load);
        return;
    }
    float t[TENSOR_MAX_MR * TENSOR_MAX_NR];
    int mr = M - i < MR ? M - i : MR, nr = N - j < NR ? N - j : NR;
    if (load)
        for (int r = 0; r < mr; r++)
            for (int c = 0; c < nr; c++) t[r * NR + c] = C[(ptrdiff_t)(i + r) * ldc + j + c];
    kk->micro(kc, a, ars, acs, pb, t, NR, load);
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) C[(ptrdiff_t)(i + r) * ldc + j + c] = t[r * NR + c];
}

/* The same with A packed in MR-row panels. */
static void tile(const tensor_kernels *kk, int kc, const float *pa, const float *pb, float *C,
                 ptrdiff_t ldc, int M, int N, int i, int j, bool load) {
    tile_a(kk, kc, pa, 1, kk->MR, pb, C, ldc, M, N, i, j, load);
}

/* Computes the block rows [i0,i1) x cols [j0,j1) of C, all of K, on this
 * thread. causal >= INT32_MIN+1 skips tiles whose first column exceeds
 * their last row + causal. */
static void gemm_block(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                       bool accumulate, int i0, int i1, int j0, int j1, bool causal, int coff) {
    const tensor_kernels *kk = tensor_k;
    int MR = kk->MR, NR = kk->NR;
    if (K == 0) {
        if (!accumulate)
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) C[(ptrdiff_t)i * ldc + j] = 0.0f;
        return;
    }
    int rows = (i1 - i0 + MR - 1) / MR * MR, cols = (j1 - j0 + NR - 1) / NR * NR;
    float *pa = tensor_scratch(SLOT_PA, (size_t)rows * GEMM_KC);
    float *pb = tensor_scratch(SLOT_PB, (size_t)cols * GEMM_KC);
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        bool load = accumulate || k0 > 0;
        pack_b(pb, B, N, j0, cols, k0, kc, NR);
        pack_a(pa, A, M, i0, rows, k0, kc, MR);
        for (int jp = 0; jp < cols; jp += NR) {
            for (int ip = 0; ip < rows; ip += MR) {
                int i = i0 + ip, j = j0 + jp;
                if (causal && j > i + MR - 1 + coff) continue;
                tile(kk, kc, pa + (size_t)ip * kc, pb + (size_t)jp * kc, C, ldc, M, N, i, j, load);
            }
        }
    }
}

void tensor_gemm_st(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                    bool accumulate) {
    if (M <= 0 || N <= 0) return;
    int NC = tensor_k->NR * 16;
    for (int j0 = 0; j0 < N; j0 += NC)
        gemm_block(M, N, K, A, B, C, ldc, accumulate, 0, M, j0, j0 + NC < N ? j0 + NC : N, false, 0);
}

void tensor_gemm_causal_st(int M, int N, int K, tensor_mat A, tensor_mat B, float *C,
                           ptrdiff_t ldc, int causal_offset) {
    if (M <= 0 || N <= 0) return;
    int NC = tensor_k->NR * 16;
    for (int j0 = 0; j0 < N; j0 += NC)
        gemm_block(M, N, K, A, B, C, ldc, false, 0, M, j0, j0 + NC < N ? j0 + NC : N, true,
                   causal_offset);
}

/* The threaded product follows the classic blocked scheme: for each block
 * of up to GEMM_NC columns and each GEMM_KC slice of K, the threads first
 * pack that slice of B together (into one shared buffer), then split the
 * rows: each packs its own MC x KC block of A and sweeps all packed columns.
 * Packing B once per slice instead of once per tile keeps the copy cost a
 * small fraction of the arithmetic. */
#define GEMM_NC 4096

typedef struct gemm_job {
    int M, N, K;
    tensor_mat A, B;
    float *C;
    ptrdiff_t ldc;
    bool accumulate;
    /* the current slice */
    int j0, nc, k0, kc;
    float *pb;
    /* compute tiles: tm row blocks of MC rows x tn column groups of gp panels */
    int MC, tn, gp;
} gemm_job;

static void gemm_pack_task(void *ctx, size_t p) {
    const gemm_job *g = ctx;
    int NR = tensor_k->NR;
    pack_b(g->pb + p * (size_t)g->kc * NR, g->B, g->N, g->j0 + (int)p * NR, NR, g->k0, g->kc, NR);
}

static void gemm_compute_task(void *ctx, size_t t) {
    const gemm_job *g = ctx;
    const tensor_kernels *kk = tensor_k;
    int MR = kk->MR, NR = kk->NR;
    int ti = (int)(t / (size_t)g->tn), tj = (int)(t % (size_t)g->tn);
    int i0 = ti * g->MC, i1 = i0 + g->MC < g->M ? i0 + g->MC : g->M;
    int npan = (g->nc + NR - 1) / NR;
    int p0 = tj * g->gp, p1 = p0 + g->gp < npan ? p0 + g->gp : npan;
    bool load = g->accumulate || g->k0 > 0;
    /* Row-major A is read in place (the micro-kernel broadcasts from MR row
     * streams); a column-major A, whose k-steps are a whole row apart, is
     * packed once per block (cheap copies of MR adjacent floats) and reused
     * for every panel. A last partial block is packed with zero padding. */
    bool in_place = g->A.cs == 1;
    int full_end = in_place ? i0 + (i1 - i0) / MR * MR : i0;
    const float *pa = NULL;
    if (full_end < i1) {
        int rows = (i1 - full_end + MR - 1) / MR * MR;
        float *buf = tensor_scratch(SLOT_PA, (size_t)rows * GEMM_KC);
        pack_a(buf, g->A, g->M, full_end, rows, g->k0, g->kc, MR);
        pa = buf;
    }
    for (int p = p0; p < p1; p++) {
        const float *pb = g->pb + (size_t)p * g->kc * NR;
        int j = g->j0 + p * NR;
        for (int i = i0; i < full_end; i += MR)
            tile_a(kk, g->kc, g->A.p + (ptrdiff_t)i * g->A.rs + (ptrdiff_t)g->k0 * g->A.cs, g->A.rs, g->A.cs, pb,
                   g->C, g->ldc, g->M, g->N, i, j, load);
        if (pa)
            for (int i = full_end; i < i1; i += MR)
                tile(kk, g->kc, pa + (size_t)(i - full_end) * g->kc, pb, g->C, g->ldc, g->M, g->N, i, j, load);
    }
}

void tensor_gemm(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                 bool accumulate) {
    if (M <= 0 || N <= 0) return;
    int MR = tensor_k->MR, NR = tensor_k->NR, threads = tensor_threads();
    if (K == 0) {
        gemm_block(M, N, K, A, B, C, ldc, accumulate, 0, M, 0, N, false, 0);
        return;
    }
    gemm_job g = {.M = M, .N = N, .K = K, .A = A, .B = B, .C = C, .ldc = ldc, .accumulate = accumulate};
    g.MC = MR * 8;
    int tm = (M + g.MC - 1) / g.MC;
    while (tm < 2 * threads && g.MC > MR) {
        g.MC = (g.MC / 2 + MR - 1) / MR * MR;
        tm = (M + g.MC - 1) / g.MC;
    }
    size_t need = (size_t)GEMM_KC * ((size_t)(N < GEMM_NC ? N : GEMM_NC) + (size_t)NR);
    if (need > g_pb_n) {
        free(g_pb);
        g_pb = plow_alloc_aligned(need * sizeof(float));
        g_pb_n = need;
    }
    g.pb = g_pb;
    for (g.j0 = 0; g.j0 < N; g.j0 += GEMM_NC) {
        g.nc = N - g.j0 < GEMM_NC ? N - g.j0 : GEMM_NC;
        int npan = (g.nc + NR - 1) / NR;
        /* split columns too when there are too few row blocks for the threads */
        g.tn = tm >= 2 * threads ? 1 : (2 * threads + tm - 1) / tm;
        if (g.tn > npan) g.tn = npan;
        g.gp = (npan + g.tn - 1) / g.tn;
        g.tn = (npan + g.gp - 1) / g.gp;
        for (g.k0 = 0; g.k0 < K; g.k0 += GEMM_KC) {
            g.kc = K - g.k0 < GEMM_KC ? K - g.k0 : GEMM_KC;
            tensor_parallel_for((size_t)npan, gemm_pack_task, &g);
            tensor_parallel_for((size_t)tm * (size_t)g.tn, gemm_compute_task, &g);
        }
    }
}

struct tensor_packed {
    int K, N, NR;
    tensor_path path;
    float *panels; /* ceil(N/NR) panels of K x NR */
};

tensor_packed *tensor_pack_new(int K, int N, tensor_mat B) {
    tensor_packed *pb = plow_alloc(sizeof *pb);
    pb->K = K;
    pb->N = N;
    pb->NR = tensor_k->NR;
    pb->path = cur_path;
    int cols = (N + pb->NR - 1) / pb->NR * pb->NR;
    pb->panels = plow_alloc_aligned((size_t)cols * (size_t)(K ? K : 1) * sizeof(float));
    pack_b(pb->panels, B, N, 0, cols, 0, K, pb->NR);
    return pb;
}

void tensor_packed_free(tensor_packed *pb) {
    if (!pb) return;
    free(pb->panels);
    free(pb);
}

typedef struct packed_job {
    int M;
    const float *A;
    ptrdiff_t lda;
    const tensor_packed *pb;
    float *C;
    ptrdiff_t ldc;
    int panels_per_task;
} packed_job;

/* Rows of A against a run of whole packed panels with the single-row kernel,
 * going through a scratch row where the last panel hangs over N. */
static void rows_vs_panels(const tensor_kernels *kk, int M, const float *A, ptrdiff_t lda, const float *panels,
                           int K, int k0, int kc, int p0, int p1, float *C, ptrdiff_t ldc, int N, bool load) {
    int NR = kk->NR;
    float tmp[4 * TENSOR_MAX_NR];
    for (int i = 0; i < M; i++) {
        const float *a = A + (ptrdiff_t)i * lda + k0;
        for (int p = p0; p < p1; p += 4) {
            int np = p1 - p < 4 ? p1 - p : 4;
            const float *pb = panels + (size_t)p * K * NR + (size_t)k0 * NR;
            float *c = C + (ptrdiff_t)i * ldc + (ptrdiff_t)p * NR;
            int width = np * NR, live = N - p * NR;
            if (live >= width) {
                kk->micro_row(kc, a, 1, pb, (ptrdiff_t)K * NR, np, c, load);
            } else {
                if (load) memcpy(tmp, c, sizeof(float) * (size_t)live);
                kk->micro_row(kc, a, 1, pb, (ptrdiff_t)K * NR, np, tmp, load);
                memcpy(c, tmp, sizeof(float) * (size_t)live);
            }
        }
    }
}

static void packed_task(void *ctx, size_t t) {
    const packed_job *g = ctx;
    const tensor_kernels *kk = tensor_k;
    int MR = kk->MR, NR = kk->NR, K = g->pb->K, N = g->pb->N;
    int p0 = (int)t * g->panels_per_task;
    int npan = (N + NR - 1) / NR;
    int p1 = p0 + g->panels_per_task < npan ? p0 + g->panels_per_task : npan;
    if (K == 0) {
        for (int i = 0; i < g->M; i++)
            for (int j = p0 * NR; j < p1 * NR && j < N; j++) g->C[(ptrdiff_t)i * g->ldc + j] = 0.0f;
        return;
    }
    int rows = (g->M + MR - 1) / MR * MR;
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        if (g->M < MR) { /* decode: one row at a time, several panels per call */
            rows_vs_panels(kk, g->M, g->A, g->lda, g->pb->panels, K, k0, kc, p0, p1, g->C, g->ldc, N, k0 > 0);
            continue;
        }
        /* full MR-row blocks read A (row-major) in place; a last partial
         * block is packed with zero padding */
        int full = g->M / MR * MR;
        float *pa = NULL;
        if (full < g->M) {
            pa = tensor_scratch(SLOT_PA, (size_t)MR * GEMM_KC);
            tensor_mat A = {g->A, g->lda, 1};
            pack_a(pa, A, g->M, full, MR, k0, kc, MR);
        }
        (void)rows;
        for (int p = p0; p < p1; p++) {
            const float *panel = g->pb->panels + (size_t)p * K * NR + (size_t)k0 * NR;
            for (int ip = 0; ip < full; ip += MR)
                tile_a(kk, kc, g->A + (ptrdiff_t)ip * g->lda + k0, g->lda, 1, panel, g->C, g->ldc, g->M, N, ip,
                       p * NR, k0 > 0);
            if (pa) tile(kk, kc, pa, panel, g->C, g->ldc, g->M, N, full, p * NR, k0 > 0);
        }
    }
}

void tensor_gemm_packed(int M, const float *A, ptrdiff_t lda, const tensor_packed *pb, float *C,
                        ptrdiff_t ldc) {
    PLOW_ASSERT(pb->path == cur_path); /* packed for another path: a caller bug */
    if (M <= 0 || pb->N <= 0) return;
    int npan = (pb->N + pb->NR - 1) / pb->NR;
    int per = (npan + tensor_threads() * 4 - 1) / (tensor_threads() * 4);
    if (per < 1) per = 1;
    packed_job g = {M, A, lda, pb, C, ldc, per};
    tensor_parallel_for((size_t)((npan + per - 1) / per), packed_task, &g);
}

/* ---- reductions and elementwise -------------------------------------------- */

float tensor_sum_st(const float *x, size_t n) { return tensor_k->sum(x, n); }
float tensor_dot_st(const float *x, const float *y, size_t n) { return tensor_k->dot(x, y, n); }
float tensor_sumsq_st(const float *x, size_t n) { return tensor_k->dot(x, x, n); }
float tensor_max_st(const float *x, size_t n) { return tensor_k->max(x, n); }

void tensor_exp_shift_st(float *y, const float *x, float shift, size_t n) {
    tensor_k->exp_shift(y, x, shift, n);
}

void tensor_sigmoid_st(float *y, const float *x, size_t n) { tensor_k->sigmoid(y, x, n); }

typedef struct sumsq_job {
    const float *x;
    size_t n;
    float *partial;
} sumsq_job;

static void sumsq_task(void *ctx, size_t c) {
    sumsq_job *j = ctx;
    size_t o = c * PLOW_CHUNK, len = j->n - o < PLOW_CHUNK ? j->n - o : PLOW_CHUNK;
    j->partial[c] = tensor_k->dot(j->x + o, j->x + o, len);
}

float tensor_sumsq_long(const float *x, size_t n) {
    size_t chunks = (n + PLOW_CHUNK - 1) / PLOW_CHUNK;
    if (chunks == 0) return 0.0f;
    float stackbuf[64];
    float *partial = chunks <= 64 ? stackbuf : plow_alloc(chunks * sizeof(float));
    sumsq_job j = {x, n, partial};
    tensor_parallel_for(chunks, sumsq_task, &j);
    float s = 0.0f;
    for (size_t c = 0; c < chunks; c++) s = s + partial[c];
    if (partial != stackbuf) free(partial);
    return s;
}

void tensor_adamw_st(float *w, const float *g, float *m1, float *m2, size_t n, const tensor_adamw_params *p) {
    tensor_ew->adamw(w, g, m1, m2, n, p);
}
void tensor_rms_apply_st(float *y, const float *x, const float *w, float rs, size_t n) {
    tensor_ew->rms_apply(y, x, w, rs, n);
}
void tensor_rms_backward_row_st(float *dx, float *prod, const float *x, const float *dy, const float *w, float rs,
                                size_t n, float *scratch) {
    tensor_ew->rms_backward_row(dx, prod, x, dy, w, rs, n, scratch);
}
void tensor_rope_st(float *v, const float *cos, const float *sin, int heads, int HD, bool inverse) {
    tensor_ew->rope(v, cos, sin, heads, HD, inverse);
}
void tensor_swiglu_st(float *h, const float *gate, const float *up, const float *sig, size_t n) {
    tensor_ew->swiglu(h, gate, up, sig, n);
}
void tensor_swiglu_backward_st(float *dgate, float *dup, const float *gate, const float *up, const float *dh,
                               const float *sig, size_t n) {
    tensor_ew->swiglu_backward(dgate, dup, gate, up, dh, sig, n);
}
void tensor_add_st(float *y, const float *a, const float *b, size_t n) { tensor_ew->add(y, a, b, n); }
void tensor_scale_st(float *y, const float *x, float s, size_t n) { tensor_ew->scale(y, x, s, n); }
void tensor_dlogits_st(float *p, size_t n, float g, int32_t target) { tensor_ew->dlogits(p, n, g, target); }
