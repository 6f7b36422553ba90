/*
 * test_tensor.c — the kernels against their definitions, bit for bit, on
 * every SIMD path the CPU has and at several thread counts.
 */
#include "../src/base/plow.h"

#include <math.h>

#include "../src/tensor/tensor.h"
#include "test.h"

static void fill(float *x, size_t n, uint32_t seed) {
    tensor_rng_key k = {seed, 99, 0};
    for (size_t i = 0; i < n; i++) x[i] = tensor_uniform(k, i) * 2.0f - 1.0f;
}

static bool same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* The definition of contract rule 1. */
static void gemm_def(int M, int N, int K, tensor_mat A, tensor_mat B, float *C, ptrdiff_t ldc,
                     bool acc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = acc ? C[i * ldc + j] : 0.0f;
            for (int k = 0; k < K; k++) s = fmaf(A.p[i * A.rs + k * A.cs], B.p[k * B.rs + j * B.cs], s);
            C[i * ldc + j] = s;
        }
}

static void init_path(tensor_path p, int threads) {
    char err[PLOW_ERR_LEN];
    int rc = tensor_init(tensor_path_name(p), threads, err);
    CHECKF(rc == 0, "tensor_init: %s", err);
}

static void restore(void) { init_path(TENSOR_PATH_SCALAR, 1); tensor_init("auto", 2, NULL); }

static void test_gemm_matches_definition(void) {
    static const int shapes[][3] = {{1, 1, 1}, {37, 53, 300}, {13, 130, 7}, {64, 64, 64}, {5, 300, 520}, {100, 17, 0}};
    for (int p = 0; p < TENSOR_PATH_COUNT; p++) {
        if (!tensor_path_supported((tensor_path)p)) continue;
        for (int threads = 1; threads <= 4; threads *= 2) {
            init_path((tensor_path)p, threads);
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                float *a = plow_alloc(sizeof(float) * (size_t)(M * K + 1));
                float *b = plow_alloc(sizeof(float) * (size_t)(K * N + 1));
                float *c1 = plow_alloc(sizeof(float) * (size_t)(M * N));
                float *c2 = plow_alloc(sizeof(float) * (size_t)(M * N));
                fill(a, (size_t)(M * K), 1);
                fill(b, (size_t)(K * N), 2);
                for (int tr = 0; tr < 4; tr++) {
                    /* all four transpose combinations */
                    tensor_mat A = tr & 1 ? (tensor_mat){a, 1, M} : (tensor_mat){a, K, 1};
                    tensor_mat B = tr & 2 ? (tensor_mat){b, 1, K} : (tensor_mat){b, N, 1};
                    for (int acc = 0; acc < 2; acc++) {
                        /* C starts as the same values when accumulating, as other
                         * values when not: a GEMM that writes nothing fails */
                        fill(c1, (size_t)(M * N), 3);
                        if (acc)
                            memcpy(c2, c1, sizeof(float) * (size_t)(M * N));
                        else
                            fill(c2, (size_t)(M * N), 4);
                        gemm_def(M, N, K, A, B, c1, N, acc);
                        tensor_gemm(M, N, K, A, B, c2, N, acc);
                        CHECKF(same_bits(c1, c2, (size_t)(M * N)), "gemm %s t%d %dx%dx%d tr%d acc%d",
                               tensor_path_name((tensor_path)p), threads, M, N, K, tr, acc);
                        if (acc) continue;
                        fill(c2, (size_t)(M * N), 4);
                        tensor_gemm_st(M, N, K, A, B, c2, N, false);
                        CHECKF(same_bits(c1, c2, (size_t)(M * N)), "gemm_st %s %dx%dx%d",
                               tensor_path_name((tensor_path)p), M, N, K);
                    }
                }
                /* pre-packed B */
                tensor_mat B = {b, 1, K};
                tensor_packed *pb = tensor_pack_new(K, N, B);
                gemm_def(M, N, K, (tensor_mat){a, K, 1}, B, c1, N, false);
                fill(c2, (size_t)(M * N), 4);
                tensor_gemm_packed(M, a, K, pb, c2, N);
                CHECKF(same_bits(c1, c2, (size_t)(M * N)), "packed %s", tensor_path_name((tensor_path)p));
                tensor_packed_free(pb);
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
        }
    }
    restore();
}

static void test_gemm_row_alone_equals_batch(void) {
    int M = 40, N = 70, K = 90;
    float *a = plow_alloc(sizeof(float) * M * K), *b = plow_alloc(sizeof(float) * K * N);
    float *c = plow_alloc(sizeof(float) * M * N), row[70];
    fill(a, (size_t)M * K, 5);
    fill(b, (size_t)K * N, 6);
    tensor_gemm(M, N, K, (tensor_mat){a, K, 1}, (tensor_mat){b, 1, K}, c, N, false);
    for (int i = 0; i < M; i += 7) {
        tensor_gemm(1, N, K, (tensor_mat){a + i * K, K, 1}, (tensor_mat){b, 1, K}, row, N, false);
        CHECKF(same_bits(row, c + i * N, (size_t)N), "row %d alone differs", i);
    }
    /* causal: the lower triangle equals the full product */
    float *cc = plow_alloc(sizeof(float) * M * N);
    tensor_gemm_causal_st(M, N, K, (tensor_mat){a, K, 1}, (tensor_mat){b, 1, K}, cc, N, 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j <= i && j < N; j++) CHECKF(cc[i * N + j] == c[i * N + j], "causal %d %d", i, j);
    free(a);
    free(b);
    free(c);
    free(cc);
}

static void test_reductions_all_paths(void) {
    static const size_t sizes[] = {0, 1, 7, 15, 16, 17, 63, 64, 65, 100, 384, 1000, 4099};
    float *x = plow_alloc(sizeof(float) * 4099), *y = plow_alloc(sizeof(float) * 4099);
    fill(x, 4099, 11);
    fill(y, 4099, 12);
    x[77] = -3.5f; /* a distinct max/min somewhere */
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        init_path(TENSOR_PATH_SCALAR, 1);
        float rs = tensor_sum_st(x, n), rd = tensor_dot_st(x, y, n), rm = tensor_max_st(x, n);
        /* the scalar path against an independent reading of the definition */
        float lane[PLOW_LANES] = {0};
        for (size_t i = 0; i < n; i++) lane[i % PLOW_LANES] += x[i];
        for (int w = PLOW_LANES / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];
        CHECKF(lane[0] == rs, "scalar sum n=%zu", n);
        double exact = 0;
        for (size_t i = 0; i < n; i++) exact += (double)x[i] * y[i];
        CHECKF(fabs(exact - rd) <= 1e-5 * (1 + fabs(exact)), "dot n=%zu %g vs %g", n, rd, exact);
        float m = -INFINITY;
        for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
        CHECKF(m == rm, "max n=%zu", n);
        for (int p = 1; p < TENSOR_PATH_COUNT; p++) {
            if (!tensor_path_supported((tensor_path)p)) continue;
            init_path((tensor_path)p, 1);
            float ps = tensor_sum_st(x, n), pd = tensor_dot_st(x, y, n), pm = tensor_max_st(x, n);
            CHECKF(memcmp(&ps, &rs, 4) == 0, "sum %s n=%zu", tensor_path_name((tensor_path)p), n);
            CHECKF(memcmp(&pd, &rd, 4) == 0, "dot %s n=%zu", tensor_path_name((tensor_path)p), n);
            CHECKF(memcmp(&pm, &rm, 4) == 0, "max %s n=%zu", tensor_path_name((tensor_path)p), n);
        }
    }
    /* long sums: identical across thread counts */
    size_t n = 3 * PLOW_CHUNK + 1234;
    float *z = plow_alloc(sizeof(float) * n);
    fill(z, n, 13);
    init_path(TENSOR_PATH_SCALAR, 1);
    float ref = tensor_sumsq_long(z, n);
    for (int p = 0; p < TENSOR_PATH_COUNT; p++)
        for (int t = 1; t <= 4; t++) {
            if (!tensor_path_supported((tensor_path)p)) continue;
            init_path((tensor_path)p, t);
            float v = tensor_sumsq_long(z, n);
            CHECKF(memcmp(&v, &ref, 4) == 0, "sumsq_long %s t=%d", tensor_path_name((tensor_path)p), t);
        }
    free(x);
    free(y);
    free(z);
    restore();
}

static void test_exp_paths_and_accuracy(void) {
    size_t n = 200003;
    float *x = plow_alloc(sizeof(float) * n), *y = plow_alloc(sizeof(float) * n), *r = plow_alloc(sizeof(float) * n);
    fill(x, n, 21);
    for (size_t i = 0; i < n; i++) x[i] *= 100.0f; /* [-100, 100): covers both cut-offs */
    float edge[] = {0.0f, -0.0f, 1.0f, -1.0f, 88.0f, 88.0001f, -87.0f, -87.0001f, INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f};
    memcpy(x, edge, sizeof edge);
    for (size_t i = 0; i < n; i++) r[i] = tensor_expf(x[i]);
    for (int p = 0; p < TENSOR_PATH_COUNT; p++) {
        if (!tensor_path_supported((tensor_path)p)) continue;
        init_path((tensor_path)p, 1);
        tensor_exp_shift_st(y, x, 0.0f, n);
        CHECKF(same_bits(y, r, n), "exp path %s differs from the reference", tensor_path_name((tensor_path)p));
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] > -87.0f && x[i] < 88.0f)) continue;
        double t = exp((double)x[i]);
        double rel = fabs(r[i] - t) / t;
        if (t > 1e-37 && rel > worst) worst = rel;
    }
    CHECKF(worst < 3e-7, "exp worst relative error %g", worst);
    CHECK(r[0] == 1.0f && r[5] == INFINITY && r[8] == INFINITY && r[7] == 0.0f && r[9] == 0.0f && isnan(r[10]) && r[11] == 1.0f);
    free(x);
    free(y);
    free(r);
    restore();
}

static void test_double_math_accuracy(void) {
    double worst_e = 0, worst_l = 0, worst_t = 0;
    for (int i = 0; i < 20000; i++) {
        double x = -700.0 + 1400.0 * i / 20000.0;
        double e = tensor_exp_d(x), t = exp(x);
        if (fabs(e - t) / t > worst_e) worst_e = fabs(e - t) / t;
        double lx = exp(x / 10.0);
        double l = tensor_log_d(lx), lt = log(lx);
        if (fabs(l - lt) > worst_l * (fabs(lt) > 1 ? fabs(lt) : 1)) worst_l = fabs(l - lt) / (fabs(lt) > 1 ? fabs(lt) : 1);
        double a = x * 2.0; /* [-1400, 1400] rad */
        double ds = fabs(tensor_sin_d(a) - sin(a)), dc = fabs(tensor_cos_d(a) - cos(a));
        if (ds > worst_t) worst_t = ds;
        if (dc > worst_t) worst_t = dc;
    }
    CHECKF(worst_e < 1e-14, "exp_d error %g", worst_e);
    CHECKF(worst_l < 1e-14, "log_d error %g", worst_l);
    CHECKF(worst_t < 1e-13, "sin/cos error %g", worst_t);
    CHECK(tensor_log_d(1.0) == 0.0);
    CHECK(isnan(tensor_log_d(-1.0)));
    CHECK(tensor_log_d(0.0) == -INFINITY);
    CHECK(fabsf(tensor_logf(2.0f) - 0.69314718f) < 1e-7f);
}

static void test_philox_known_answer(void) {
    /* Known-answer vector of Philox4x32-10 (counter 0, key 0) from its authors. */
    uint32_t out[4];
    tensor_philox((tensor_rng_key){0, 0, 0}, 0, out);
    CHECKF(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u,
           "philox KAT got %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
    /* the purpose and step words of the counter change the stream */
    uint32_t o2[4], o3[4];
    tensor_philox((tensor_rng_key){0, 1, 0}, 0, o2);
    tensor_philox((tensor_rng_key){0, 0, 1}, 0, o3);
    CHECK(memcmp(out, o2, 16) != 0 && memcmp(out, o3, 16) != 0 && memcmp(o2, o3, 16) != 0);
    size_t n = 100000;
    float *z = plow_alloc(sizeof(float) * n);
    tensor_normal_fill(z, n, 2.0f, (tensor_rng_key){42, 1, 0});
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += z[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) v += (z[i] - m) * (z[i] - m);
    v /= (double)n;
    CHECKF(fabs(m) < 0.03 && fabs(sqrt(v) - 2.0) < 0.03, "normal mean %g std %g", m, sqrt(v));
    free(z);
}

/* Every elementwise kernel returns the scalar build's bits on every path. */
enum { EW_N = 1037, EW_KERNELS = 9 };

static void run_ew(int k, float *in[6], float *o[4]) {
    static float cs[64], sn[64], scratch[2 * EW_N];
    for (int i = 0; i < 64; i++) {
        cs[i] = (float)tensor_cos_d(0.1 * i);
        sn[i] = (float)tensor_sin_d(0.1 * i);
    }
    tensor_adamw_params ap = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.0975f, 0.7f};
    for (int i = 0; i < 4; i++) memcpy(o[i], in[i], sizeof(float) * EW_N);
    switch (k) {
    case 0: tensor_adamw_st(o[0], in[4], o[1], o[2], EW_N, &ap); break;
    case 1: tensor_rms_apply_st(o[0], in[4], in[5], 0.37f, EW_N); break;
    case 2: tensor_rms_backward_row_st(o[0], o[1], in[4], in[5], in[2], 1.3f, EW_N, scratch); break;
    case 3: tensor_rope_st(o[0], cs, sn, 8, 128, false); tensor_rope_st(o[1], cs, sn, 8, 128, true); break;
    case 4: tensor_swiglu_st(o[0], in[4], in[5], in[3], EW_N); break;
    case 5: tensor_swiglu_backward_st(o[0], o[1], in[4], in[5], in[3], in[2], EW_N); break;
    case 6: tensor_add_st(o[0], in[4], in[5], EW_N); tensor_scale_st(o[1], in[4], 0.3f, EW_N); break;
    case 7: tensor_dlogits_st(o[0], EW_N, 0.25f, 17); break;
    default: tensor_sigmoid_st(o[0], in[4], EW_N); break;
    }
}

static void test_elementwise_all_paths(void) {
    float *in[6], *ref[4], *out[4];
    for (int i = 0; i < 6; i++) {
        in[i] = plow_alloc(sizeof(float) * EW_N);
        fill(in[i], EW_N, 40 + (uint32_t)i);
    }
    for (int i = 0; i < 4; i++) {
        ref[i] = plow_alloc(sizeof(float) * EW_N);
        out[i] = plow_alloc(sizeof(float) * EW_N);
    }
    for (int k = 0; k < EW_KERNELS; k++) {
        init_path(TENSOR_PATH_SCALAR, 1);
        run_ew(k, in, ref);
        bool changed = false;
        for (int i = 0; i < 4; i++) changed |= !same_bits(ref[i], in[i], EW_N);
        CHECKF(changed, "elementwise kernel %d changed nothing", k);
        for (int p = 1; p < TENSOR_PATH_COUNT; p++) {
            if (!tensor_path_supported((tensor_path)p)) continue;
            init_path((tensor_path)p, 1);
            run_ew(k, in, out);
            for (int i = 0; i < 4; i++)
                CHECKF(same_bits(out[i], ref[i], EW_N), "elementwise kernel %d output %d differs on %s", k, i,
                       tensor_path_name((tensor_path)p));
        }
    }
    for (int i = 0; i < 6; i++) free(in[i]);
    for (int i = 0; i < 4; i++) {
        free(ref[i]);
        free(out[i]);
    }
    restore();
}

/* tensor_fmaf_exact (for targets without an FMA instruction) against the
 * hardware fmaf: random triples over a wide exponent range, and inputs where
 * rounding the exact double sum to float rounds twice wrongly. */
static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static void test_fmaf_exact_matches_fma(void) {
    /* exact = 1 + 2^-24 + 2^-60: the double sum rounds to the midpoint
     * 1 + 2^-24, which then ties to even (1.0); the fused result is 1 + 2^-23 */
    float a = -(1.0f + 0x1p-18f) * 0x1p-24f, b = 1.0f - 0x1p-18f, c = 1.0f + 0x1p-23f;
    float naive = (float)((double)a * (double)b + (double)c);
    CHECK(fmaf(a, b, c) == 1.0f + 0x1p-23f && naive == 1.0f); /* the case does double-round */
    float cases[][3] = {{a, b, c}, {-a, b, -c}, {a * 0x1p-100f, b, c * 0x1p-100f}, {a * 0x1p60f, b, c * 0x1p60f},
                        {0x1p-149f, 0.5f, 0.0f}, {-0.0f, 1.0f, 0.0f}, {-0.0f, 1.0f, -0.0f}, {1e30f, 1e30f, -1e30f},
                        {INFINITY, 0.0f, 1.0f}, {INFINITY, 1.0f, -INFINITY}, {3.0f, 0x1p127f, -0x1.fffffep127f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float want = fmaf(cases[i][0], cases[i][1], cases[i][2]);
        float got = tensor_fmaf_exact(cases[i][0], cases[i][1], cases[i][2]);
        CHECKF(memcmp(&got, &want, 4) == 0 || (isnan(got) && isnan(want)), "case %zu: %a vs %a", i, got, want);
    }
    int bad = 0, double_rounded = 0;
    for (uint64_t i = 0; i < 400000; i++) {
        uint32_t r[4];
        tensor_philox((tensor_rng_key){77, 5, 0}, i, r);
        /* mantissas at random, exponents near each other so the sum cancels or carries */
        uint32_t e = 40 + (r[3] & 127);
        float x = bits_f((r[0] & 0x807fffffu) | (e << 23));
        float y = bits_f((r[1] & 0x807fffffu) | ((127u + ((r[3] >> 8) & 15) - 7) << 23));
        float z = bits_f((r[2] & 0x807fffffu) | ((e + ((r[3] >> 12) & 15) - 7 + ((r[3] >> 16) & 7) - 3) << 23));
        if (i & 1) z = -z;
        if ((i & 7) == 3) z = bits_f(r[2] & 0x807fffffu); /* subnormal or zero addend */
        float want = fmaf(x, y, z), got = tensor_fmaf_exact(x, y, z);
        bad += memcmp(&got, &want, 4) != 0;
        double_rounded += (float)((double)x * (double)y + (double)z) != want;
    }
    CHECKF(bad == 0, "%d of 400000 random fmas differ", bad);
    (void)double_rounded; /* random inputs rarely double-round; the crafted cases above do */
}

/* The fused steps of every path on inputs where a double-precision a*b+c
 * rounds twice and differs from the fused result (a path without an FMA
 * instruction, WebAssembly's simd128, must still give the fused bits): a dot
 * whose lane 0 is c then fma(a, b, c), a GEMM whose every chain is the same
 * two steps, and the single-row (decode) GEMM on packed weights. */
static void test_fused_steps_round_once(void) {
    float a0 = -(1.0f + 0x1p-18f) * 0x1p-24f, b0 = 1.0f - 0x1p-18f, c0 = 1.0f + 0x1p-23f;
    const float cases[][3] = {{a0, b0, c0}, {-a0, b0, -c0}, {a0 * 0x1p-100f, b0, c0 * 0x1p-100f},
                              {a0 * 0x1p60f, b0, c0 * 0x1p60f}, {a0, -b0, -c0}};
    for (int p = 0; p < TENSOR_PATH_COUNT; p++) {
        if (!tensor_path_supported((tensor_path)p)) continue;
        init_path((tensor_path)p, 1);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            float a = cases[ci][0], b = cases[ci][1], c = cases[ci][2], want = fmaf(a, b, c);
            CHECK(want != (float)((double)a * (double)b + (double)c)); /* the case double-rounds */
            float x[65] = {0}, y[65] = {0};
            x[0] = c, y[0] = 1.0f, x[64] = a, y[64] = b;
            float d = tensor_dot_st(x, y, 65);
            CHECKF(d == want, "%s dot case %zu: %a, want %a", tensor_path_name((tensor_path)p), ci, d, want);
            enum { M = 9, N = 37 };
            float A[M * 2], B[2 * N], C[M * N];
            for (int i = 0; i < M; i++) A[2 * i] = c, A[2 * i + 1] = a;
            for (int j = 0; j < N; j++) B[j] = 1.0f, B[N + j] = b;
            tensor_gemm(M, N, 2, (tensor_mat){A, 2, 1}, (tensor_mat){B, N, 1}, C, N, false);
            int bad = 0;
            for (int i = 0; i < M * N; i++) bad += C[i] != want;
            tensor_packed *pk = tensor_pack_new(2, N, (tensor_mat){B, N, 1});
            tensor_gemm_packed(1, A, 2, pk, C, N);
            tensor_packed_free(pk);
            for (int j = 0; j < N; j++) bad += C[j] != want;
            CHECKF(bad == 0, "%s gemm case %zu: %d of %d outputs not the fused result",
                   tensor_path_name((tensor_path)p), ci, bad, M * N + N);
        }
    }
    restore();
}

static void test_init_rejects_bad_path(void) {
    char err[PLOW_ERR_LEN] = "";
    CHECK(tensor_init("sse9", 1, err) == -1 && strstr(err, "sse9"));
    CHECK(tensor_init(NULL, 100000, err) == -1);
    restore();
}

const test_case tensor_tests[] = {
    {"tensor_gemm_matches_definition", test_gemm_matches_definition},
    {"tensor_gemm_row_alone_equals_batch", test_gemm_row_alone_equals_batch},
    {"tensor_reductions_all_paths", test_reductions_all_paths},
    {"tensor_exp_paths_and_accuracy", test_exp_paths_and_accuracy},
    {"tensor_double_math_accuracy", test_double_math_accuracy},
    {"tensor_philox_known_answer", test_philox_known_answer},
    {"tensor_elementwise_all_paths", test_elementwise_all_paths},
    {"tensor_fmaf_exact_matches_fma", test_fmaf_exact_matches_fma},
    {"tensor_fused_steps_round_once", test_fused_steps_round_once},
    {"tensor_init_rejects_bad_path", test_init_rejects_bad_path},
    {NULL, NULL},
};
