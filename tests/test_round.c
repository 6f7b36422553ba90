/*
 * test_round.c — collaborative training rounds (src/train/round.h): integer
 * round-half-even, int8 block quantisation, the wire formats and their
 * malformed inputs, deterministic aggregation, recomputation of a round from
 * its published contributions, the robust rules against a poisoning
 * participant, rounds with absent and late participants, and rounds that
 * lower the validation loss.
 */
#include "../src/base/plow.h"

#include <fenv.h>
#include <float.h>
#include <math.h>

#include "../src/data/dataset.h"
#include "../src/tensor/tensor.h"
#include "../src/train/round.h"
#include "../src/train/train.h"
#include "fixture.h"
#include "test.h"

/* A tokenizer and dataset from the first 100 KB of the corpus, shared. */
static tokenizer *g_tok;
static dataset *g_data;

static void setup(void) {
    char err[PLOW_ERR_LEN];
    CHECKF(tensor_init(NULL, 2, err) == 0, "%s", err);
    if (!g_tok) fixture_corpus(100000, 512, 100000, 0.1, &g_tok, &g_data, NULL, NULL);
}

static model *tiny_model(uint64_t seed) { return fixture_named_model("tiny", g_tok, seed); }

/* Small and quick inner runs: batch 4 of 32 tokens. */
static void small_config(round_config *cfg, uint32_t shards, int H) {
    round_config_default(cfg, shards, H, 32);
    cfg->inner.batch = 4;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 11;
}

/* uniform in [-1, 1) */
static float urand(uint64_t *s) { return (float)((double)(lcg(s) & 0xffffff) / 8388608.0 - 1.0); }

static double dist(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        double d = (double)a[j] - (double)b[j];
        s += d * d;
    }
    return sqrt(s);
}

/* ---- round half to even --------------------------------------------------- */

static void test_round_half_even(void) {
    static const struct {
        float x;
        int32_t want;
    } cases[] = {
        {0.0f, 0},        {-0.0f, 0},       {0.5f, 0},          {-0.5f, 0},          {1.5f, 2},
        {-1.5f, -2},      {2.5f, 2},        {-2.5f, -2},        {3.5f, 4},           {126.5f, 126},
        {127.5f, 128},    {-126.5f, -126},  {0.49999997f, 0},   {0.50000006f, 1},    {1.4999999f, 1},
        {2.5000002f, 3},  {-2.4999998f, -2}, {1.0f, 1},         {-127.0f, -127},     {0.75f, 1},
        {0.25f, 0},       {8388607.5f, 8388608}, {8388609.0f, 8388609}, {1e9f, 1000000000},
        {1e-45f, 0},      {-1e-40f, 0},     {FLT_MIN, 0},       {2147483520.0f, 2147483520},
        {2147483648.0f, INT32_MAX}, {-2147483648.0f, INT32_MIN}, {3e38f, INT32_MAX}, {-3e38f, INT32_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECKF(round_half_even(cases[i].x) == cases[i].want, "round_half_even(%.9g) = %d, want %d",
               (double)cases[i].x, round_half_even(cases[i].x), cases[i].want);
    CHECK(round_half_even(INFINITY) == INT32_MAX && round_half_even(-INFINITY) == INT32_MIN);
    CHECK(round_half_even(NAN) == 0);
    /* against the FPU's nearbyint in the default mode, on random values and
     * on exact halves; then the same results in every other rounding mode */
    enum { N = 20000 };
    static float xs[N];
    static int32_t ref[N];
    uint64_t seed = 5;
    for (int i = 0; i < N; i++) {
        if (i % 4 == 0) xs[i] = (float)((int)(lcg(&seed) % 600) - 300) + 0.5f; /* ties */
        else if (i % 4 == 1) xs[i] = urand(&seed) * 300.0f;
        else if (i % 4 == 2) xs[i] = bitsf((uint32_t)(lcg(&seed) & 0xcfffffffu)); /* exponents up to 2^31 */
        else xs[i] = urand(&seed) * 3.0f;
        ref[i] = round_half_even(xs[i]);
        if (fabsf(xs[i]) < 2e9f) {
            float r = nearbyintf(xs[i]);
            CHECKF((float)ref[i] == r, "round_half_even(%.9g) = %d, nearbyintf = %.1f", (double)xs[i], ref[i],
                   (double)r);
        }
    }
    static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        CHECK(fesetround(modes[m]) == 0);
        int bad = 0;
        for (int i = 0; i < N; i++) bad += round_half_even(xs[i]) != ref[i];
        CHECK(fesetround(FE_TONEAREST) == 0);
        CHECKF(bad == 0, "%d results change with the rounding mode", bad);
    }
}

/* ---- quantisation ------------------------------------------------------------ */

static void test_quantize_exact_cases(void) {
    setup();
    /* amax = 127 makes the scale exactly 1: q is round-half-even of x itself */
    static const struct {
        float x;
        int8_t q;
    } c[] = {{127.0f, 127},  {0.5f, 0},    {1.5f, 2},       {2.5f, 2},        {-0.5f, 0},   {-1.5f, -2},
             {-2.5f, -2},    {126.5f, 126}, {-126.5f, -126}, {-127.0f, -127}, {-0.0f, 0},   {0.0f, 0},
             {3.4999998f, 3}, {3.5000002f, 4}, {100.25f, 100}, {-100.75f, -101}};
    enum { K = sizeof c / sizeof c[0] };
    float x[K], back[K], scale;
    int8_t q[K];
    for (int i = 0; i < K; i++) x[i] = c[i].x;
    round_quantize(x, K, 64, q, &scale);
    CHECK(scale == 1.0f);
    for (int i = 0; i < K; i++) CHECKF(q[i] == c[i].q, "q(%.9g) = %d, want %d", (double)c[i].x, q[i], c[i].q);
    round_dequantize(q, &scale, K, 64, back);
    for (int i = 0; i < K; i++) CHECK(fbits(back[i]) == fbits((float)c[i].q)); /* -0 comes back as +0 */

    /* zero blocks (+0 and -0): scale +0, every q 0, every value +0 */
    float z[70];
    for (int i = 0; i < 70; i++) z[i] = i & 1 ? -0.0f : 0.0f;
    int8_t qz[70];
    float sz[2], bz[70];
    memset(qz, 0x55, sizeof qz);
    round_quantize(z, 70, 64, qz, sz);
    round_dequantize(qz, sz, 70, 64, bz);
    CHECK(fbits(sz[0]) == 0 && fbits(sz[1]) == 0);
    for (int i = 0; i < 70; i++) CHECK(qz[i] == 0 && fbits(bz[i]) == 0);

    /* the largest values a contribution may carry: +-127, no overflow */
    float big[3] = {ROUND_VALUE_MAX, -ROUND_VALUE_MAX, 1.0f}, bb[3], sb;
    int8_t qb[3];
    round_quantize(big, 3, 64, qb, &sb);
    round_dequantize(qb, &sb, 3, 64, bb);
    CHECK(qb[0] == 127 && qb[1] == -127 && qb[2] == 0);
    CHECK(isfinite(bb[0]) && isfinite(bb[1]) && fabsf(bb[0] - ROUND_VALUE_MAX) <= ROUND_VALUE_MAX * 1e-6f);

    /* subnormal blocks: a scale that underflows gives zeros, never a division by 0 */
    float sub[2] = {1e-44f, -1e-45f}, ss;
    int8_t qs[2];
    round_quantize(sub, 2, 64, qs, &ss);
    CHECK(ss == 0.0f && qs[0] == 0 && qs[1] == 0);
    float sub2[2] = {1e-39f, -3e-40f};
    round_quantize(sub2, 2, 64, qs, &ss);
    CHECK(ss > 0.0f && qs[0] >= 120 && qs[1] <= -30 && qs[1] >= -127);
}

static void test_quantize_error_bound_and_threads(void) {
    setup();
    char err[PLOW_ERR_LEN];
    enum { N = 200003 }; /* a partial last block */
    float *x = plow_alloc(N * sizeof(float)), *b1 = plow_alloc(N * sizeof(float)), *b2 = plow_alloc(N * sizeof(float));
    int8_t *q1 = plow_alloc(N), *q2 = plow_alloc(N);
    uint64_t seed = 11;
    for (int i = 0; i < N; i++) x[i] = urand(&seed) * (float)(1 + (i / 64) % 1000) * 1e-4f;
    for (uint32_t block = 1; block <= 256; block *= 4) {
        size_t nb = N / block + (N % block != 0);
        float *s1 = plow_alloc(nb * sizeof(float)), *s2 = plow_alloc(nb * sizeof(float));
        CHECK(tensor_init(NULL, 1, err) == 0);
        round_quantize(x, N, block, q1, s1);
        round_dequantize(q1, s1, N, block, b1);
        CHECK(tensor_init(NULL, 2, err) == 0);
        round_quantize(x, N, block, q2, s2);
        round_dequantize(q2, s2, N, block, b2);
        CHECKF(memcmp(q1, q2, N) == 0 && memcmp(s1, s2, nb * 4) == 0 && memcmp(b1, b2, (size_t)N * 4) == 0,
               "block %u: quantisation differs between 1 and 2 threads", block);
        int bad = 0, no_max = 0;
        for (size_t b = 0; b < nb; b++) {
            size_t s = b * block, e = s + block < N ? s + block : N;
            float amax = 0;
            bool hit = false;
            for (size_t j = s; j < e; j++) amax = fmaxf(amax, fabsf(x[j]));
            for (size_t j = s; j < e; j++) {
                /* the error is at most half a step (plus the division's rounding) */
                if (fabsf(x[j] - b1[j]) > s1[b] * 0.5f * (1 + 1e-5f) + 1e-30f) bad++;
                if (fabsf(x[j]) == amax && abs(q1[j]) == 127) hit = true;
                if (q1[j] == INT8_MIN) bad++;
            }
            if (amax > 0 && !hit) no_max++;
        }
        CHECKF(bad == 0, "block %u: %d values outside the error bound", block, bad);
        CHECKF(no_max == 0, "block %u: %d blocks whose largest value is not +-127", block, no_max);
        free(s1);
        free(s2);
    }
    free(x);
    free(b1);
    free(b2);
    free(q1);
    free(q2);
}

/* ---- wire formats ------------------------------------------------------------- */

static void test_contrib_roundtrip_and_malformed(void) {
    setup();
    char err[PLOW_ERR_LEN];
    enum { N = 300 };
    float d[N];
    uint64_t seed = 3;
    for (int i = 0; i < N; i++) d[i] = urand(&seed) * 0.01f;
    d[7] = -0.0f;
    uint8_t base[PLOW_HASH_LEN];
    memset(base, 0xab, sizeof base);
    for (int e = 0; e < ROUND_ENC_COUNT; e++) {
        round_contrib c, p;
        CHECK(round_contrib_make(&c, 9, 42, base, d, N, (round_enc)e, 64, err) == 0);
        plow_buf w = {0};
        round_contrib_serialize(&c, &w);
        CHECK(w.len == round_contrib_size(N, (round_enc)e, 64));
        CHECKF(round_contrib_parse(&p, w.data, w.len, N, err) == 0, "%s", err);
        uint8_t h1[PLOW_HASH_LEN], h2[PLOW_HASH_LEN], h3[PLOW_HASH_LEN];
        round_contrib_hash(&c, h1);
        round_contrib_hash(&p, h2);
        plow_sha256_once(w.data, w.len, h3);
        CHECK(memcmp(h1, h2, 32) == 0 && memcmp(h1, h3, 32) == 0);
        CHECK(p.round == 9 && p.participant == 42 && p.enc == (round_enc)e && memcmp(p.base, base, 32) == 0);
        for (int i = 0; i < N; i++) CHECK(fbits(round_contrib_value(&c, (size_t)i)) == fbits(round_contrib_value(&p, (size_t)i)));
        if (e == ROUND_ENC_F32) CHECK(fbits(round_contrib_value(&p, 7)) == fbits(-0.0f));
        round_contrib_release(&p);
        /* every truncation and an extra byte */
        int ok = 0;
        for (size_t len = 0; len < w.len; len++) ok += round_contrib_parse(&p, w.data, len, N, err) == 0;
        CHECKF(ok == 0, "%d truncated contributions accepted", ok);
        plow_buf_append(&w, "", 1);
        CHECK(round_contrib_parse(&p, w.data, w.len, N, err) == -1 && strstr(err, "bytes"));
        w.len--;
        CHECK(round_contrib_parse(&p, w.data, w.len, N + 1, err) == -1 && strstr(err, "values"));
        /* random single-byte corruption: an error or a valid value, never a crash */
        for (int t = 0; t < 300; t++) {
            size_t at = lcg(&seed) % w.len;
            uint8_t old = w.data[at];
            w.data[at] ^= (uint8_t)(1 + lcg(&seed) % 255);
            if (round_contrib_parse(&p, w.data, w.len, 0, err) == 0) round_contrib_release(&p);
            w.data[at] = old;
        }
        plow_buf_release(&w);
        round_contrib_release(&c);
    }
    /* targeted defects */
    round_contrib c, p;
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, ROUND_ENC_INT8, 64, err) == 0);
    plow_buf w = {0};
    round_contrib_serialize(&c, &w);
    const size_t H = ROUND_CONTRIB_HEADER;
    struct {
        size_t at;
        uint32_t v;
        const char *msg;
    } bad32[] = {
        {0, 0x574f4c51u, "magic"},   {8, 2, "version"},      {24, 2, "encoding"},  {28, 0, "block"},
        {28, ROUND_BLOCK_MAX + 1, "block"}, {28, 32, "bytes"}, {32, 0, "size"},
        {H, 0x7fc00000u, "scale"},   {H, 0x7f800000u, "scale"}, {H, 0xbf800000u, "scale"},
        {H, 0x80000000u, "scale"},   {H, 0x7f000000u, "scale"},
    };
    for (size_t i = 0; i < sizeof bad32 / sizeof bad32[0]; i++) {
        uint8_t save[4];
        memcpy(save, w.data + bad32[i].at, 4);
        plow_put_u32(w.data + bad32[i].at, bad32[i].v);
        CHECKF(round_contrib_parse(&p, w.data, w.len, N, err) == -1 && strstr(err, bad32[i].msg),
               "defect %zu not refused as '%s': %s", i, bad32[i].msg, err);
        memcpy(w.data + bad32[i].at, save, 4);
    }
    /* a size of 2^40 values with a short body: refused before any allocation */
    plow_put_u64(w.data + 32, (uint64_t)1 << 40);
    CHECK(round_contrib_parse(&p, w.data, w.len, 0, err) == -1 && strstr(err, "size"));
    plow_put_u64(w.data + 32, (uint64_t)1 << 33);
    CHECK(round_contrib_parse(&p, w.data, w.len, 0, err) == -1 && strstr(err, "bytes"));
    plow_put_u64(w.data + 32, N);
    size_t nb = N / 64 + 1;
    w.data[H + 4 * nb + 5] = 0x80; /* q = -128 */
    CHECK(round_contrib_parse(&p, w.data, w.len, N, err) == -1 && strstr(err, "-128"));
    plow_buf_release(&w);
    round_contrib_release(&c);
    /* f32: non-finite and out-of-range values, a block that should be 0 */
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, ROUND_ENC_F32, 0, err) == 0);
    round_contrib_serialize(&c, &w);
    static const uint32_t vals[] = {0x7fc00000u, 0xff800000u, 0x7f000000u};
    for (size_t i = 0; i < 3; i++) {
        plow_put_u32(w.data + H + 40, vals[i]);
        CHECK(round_contrib_parse(&p, w.data, w.len, N, err) == -1 && strstr(err, "value 10"));
    }
    plow_put_u32(w.data + H + 40, fbits(d[10]));
    plow_put_u32(w.data + 28, 64);
    CHECK(round_contrib_parse(&p, w.data, w.len, N, err) == -1 && strstr(err, "block"));
    plow_buf_release(&w);
    round_contrib_release(&c);
    /* making one */
    d[3] = NAN;
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, ROUND_ENC_INT8, 64, err) == -1 && strstr(err, "value 3"));
    d[3] = 2e30f;
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, ROUND_ENC_F32, 0, err) == -1 && strstr(err, "value 3"));
    d[3] = 0;
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, ROUND_ENC_INT8, 0, err) == -1 && strstr(err, "block"));
    CHECK(round_contrib_make(&c, 1, 1, base, d, 0, ROUND_ENC_F32, 0, err) == -1);
    CHECK(round_contrib_make(&c, 1, 1, base, d, N, (round_enc)7, 64, err) == -1);
    round_contrib_release(&c);
}

static void test_state_roundtrip_and_malformed(void) {
    setup();
    char err[PLOW_ERR_LEN];
    enum { N = 1000 };
    float w[N], a[N];
    uint64_t seed = 9;
    for (int i = 0; i < N; i++) {
        w[i] = urand(&seed);
        a[i] = urand(&seed) * 1e-3f;
    }
    round_state *s, *p;
    CHECK(round_state_new(&s, w, N, err) == 0);
    uint8_t h0[32], h1[32], h2[32];
    round_state_hash(s, h0);
    round_outer_step(s, NULL, 0.7f, 0.9f); /* an empty round: only the counter moves */
    round_state_hash(s, h1);
    CHECK(round_state_round(s) == 1 && memcmp(h0, h1, 32) != 0 && memcmp(round_state_weights(s, NULL), w, sizeof w) == 0);
    round_outer_step(s, a, 0.7f, 0.9f);
    size_t n;
    const float *v = round_state_momentum(s, &n);
    CHECK(n == N && v[5] == a[5]); /* v = 0.9*0 + a */
    /* W = w - 0.7*(a + 0.9*a), each operation rounded once */
    float want = w[5] - 0.7f * (a[5] + 0.9f * a[5]);
    CHECK(fbits(round_state_weights(s, NULL)[5]) == fbits(want));
    plow_buf b = {0};
    round_state_serialize(s, &b);
    CHECKF(round_state_parse(&p, b.data, b.len, N, err) == 0, "%s", err);
    round_state_hash(s, h1);
    round_state_hash(p, h2);
    CHECK(memcmp(h1, h2, 32) == 0 && round_state_round(p) == 2);
    round_state_free(p);
    int ok = 0;
    for (size_t len = 0; len < b.len; len += 37) ok += round_state_parse(&p, b.data, len, N, err) == 0;
    CHECK(ok == 0);
    CHECK(round_state_parse(&p, b.data, b.len, N + 1, err) == -1 && strstr(err, "values"));
    b.data[0] ^= 1;
    CHECK(round_state_parse(&p, b.data, b.len, N, err) == -1 && strstr(err, "magic"));
    b.data[0] ^= 1;
    plow_put_u32(b.data + 8, 3);
    CHECK(round_state_parse(&p, b.data, b.len, N, err) == -1 && strstr(err, "version"));
    plow_put_u32(b.data + 8, 1);
    plow_put_u64(b.data + 20, (uint64_t)1 << 62);
    CHECK(round_state_parse(&p, b.data, b.len, 0, err) == -1 && strstr(err, "size"));
    plow_put_u64(b.data + 20, N);
    plow_put_u32(b.data + 28 + 4 * (N + 3), 0x7f800000u);
    CHECK(round_state_parse(&p, b.data, b.len, N, err) == -1 && strstr(err, "momentum 3"));
    CHECK(p == NULL);
    plow_buf_release(&b);
    w[2] = INFINITY;
    CHECK(round_state_new(&p, w, N, err) == -1 && p == NULL);
    round_state_free(s);
}

/* ---- aggregation --------------------------------------------------------------- */

static void test_aggregate_deterministic(void) {
    setup();
    char err[PLOW_ERR_LEN];
    enum { N = 70001, K = 7 };
    uint8_t base[32] = {0};
    round_contrib c[K];
    float *d = plow_alloc(N * sizeof(float));
    uint64_t seed = 21;
    for (int i = 0; i < K; i++) {
        for (int j = 0; j < N; j++) d[j] = urand(&seed) * 1e-2f + (j % 3 == 0 ? 1e-2f : 0.0f);
        d[0] = i & 1 ? -0.0f : 0.0f;
        CHECK(round_contrib_make(&c[i], 0, (uint32_t)(100 - 7 * i), base, d, N,
                                 i % 3 == 0 ? ROUND_ENC_INT8 : ROUND_ENC_F32, i == 3 ? 256 : 64, err) == 0);
    }
    const round_contrib *order[3][K];
    for (int i = 0; i < K; i++) {
        order[0][i] = &c[i];
        order[1][i] = &c[K - 1 - i];
        order[2][i] = &c[(i * 3) % K];
    }
    float *ref = plow_alloc(N * sizeof(float)), *out = plow_alloc(N * sizeof(float));
    for (int agg = 0; agg < ROUND_AGG_COUNT; agg++) {
        CHECK(tensor_init(NULL, 1, err) == 0);
        CHECK(round_aggregate(order[0], K, (round_agg)agg, 2, ref, N, err) == 0);
        for (int t = 1; t <= 2; t++) {
            CHECK(tensor_init(NULL, t, err) == 0);
            for (int o = 0; o < 3; o++) {
                CHECK(round_aggregate(order[o], K, (round_agg)agg, 2, out, N, err) == 0);
                CHECKF(memcmp(ref, out, N * sizeof(float)) == 0, "%s: %d threads, order %d differ",
                       round_agg_name((round_agg)agg), t, o);
            }
        }
        CHECK(fbits(ref[0]) == 0); /* three -0 and four +0: +0 under every rule */
    }
    /* the definitions, on coordinate 1 */
    float v[K];
    for (int i = 0; i < K; i++) v[i] = round_contrib_value(&c[K - 1 - i], 1); /* participant id order */
    double s = 0;
    for (int i = 0; i < K; i++) s += (double)v[i];
    CHECK(round_aggregate(order[2], K, ROUND_AGG_MEAN, 0, out, N, err) == 0 && out[1] == (float)(s / K));
    for (int i = 1; i < K; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            float t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    CHECK(round_aggregate(order[1], K, ROUND_AGG_MEDIAN, 0, out, N, err) == 0 && out[1] == v[3]);
    CHECK(round_aggregate(order[1], K, ROUND_AGG_TRIMMED, 2, out, N, err) == 0 &&
          out[1] == (float)(((double)v[2] + v[3] + v[4]) / 3));
    /* even counts: the median averages the middle two; trimming too much falls back to it */
    CHECK(round_aggregate(order[0], 2, ROUND_AGG_MEDIAN, 0, ref, N, err) == 0);
    CHECK(round_aggregate(order[0], 2, ROUND_AGG_TRIMMED, 5, out, N, err) == 0 &&
          memcmp(ref, out, N * sizeof(float)) == 0);
    CHECK(ref[1] == (float)(((double)round_contrib_value(&c[0], 1) + round_contrib_value(&c[1], 1)) / 2));
    /* refusals: duplicate ids, size mismatch, negative trim, too many */
    c[1].participant = c[4].participant;
    CHECK(round_aggregate(order[0], K, ROUND_AGG_MEAN, 0, out, N, err) == -1 && strstr(err, "two contributions"));
    c[1].participant = 93;
    CHECK(round_aggregate(order[0], K, ROUND_AGG_MEAN, 0, out, N - 1, err) == -1 && strstr(err, "values"));
    CHECK(round_aggregate(order[0], K, ROUND_AGG_TRIMMED, -1, out, N, err) == -1);
    CHECK(round_aggregate(order[0], ROUND_MAX_PARTICIPANTS + 1, ROUND_AGG_MEAN, 0, out, N, err) == -1);
    CHECK(round_aggregate(order[0], 0, ROUND_AGG_MEAN, 0, out, N, err) == 0 && out[5] == 0.0f);
    for (int i = 0; i < K; i++) round_contrib_release(&c[i]);
    free(d);
    free(ref);
    free(out);
}

/* ---- rounds with real inner runs -------------------------------------------------- */

/* The contributions of participants ids[0..k) for the state's current round,
 * as a participant would make them (inner run, then make), into c[]. */
static void make_contribs(const round_state *s, model *scratch, const round_config *cfg, const uint32_t *ids, int k,
                          round_contrib *c, float *delta) {
    char err[PLOW_ERR_LEN];
    uint8_t base[32];
    round_state_hash(s, base);
    size_t n;
    const float *w = round_state_weights(s, &n);
    for (int i = 0; i < k; i++) {
        train_hparams hp;
        round_inner_hparams(&cfg->inner, round_state_round(s), ids[i], &hp);
        dataset shard;
        round_inner_result res;
        CHECKF(round_shard(g_data, cfg->shards, ids[i] % cfg->shards, hp.seq, &shard, err) == 0, "%s", err);
        CHECKF(round_inner_run(scratch, w, n, &shard, &hp, delta, &res, err) == 0, "%s", err);
        CHECK(isfinite(res.first_loss) && res.last_loss < res.first_loss + 0.5f);
        CHECKF(round_contrib_make(&c[i], round_state_round(s), ids[i], base, delta, n, cfg->enc, cfg->block, err) == 0,
               "%s", err);
    }
}

static void test_shards(void) {
    setup();
    char err[PLOW_ERR_LEN];
    /* contiguous, disjoint, covering, sizes differing by at most one */
    static const size_t ns[] = {0, 1, 7, 1000, 1001, 99999};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
        for (uint32_t P = 1; P <= 9; P++) {
            size_t prev = 0, lo = SIZE_MAX, hi = 0;
            for (uint32_t i = 0; i < P; i++) {
                size_t b, e;
                round_shard_range(ns[t], P, i, &b, &e);
                CHECK(b == prev && e >= b);
                prev = e;
                lo = e - b < lo ? e - b : lo;
                hi = e - b > hi ? e - b : hi;
            }
            CHECK(prev == ns[t] && hi - lo <= 1);
        }
    size_t b, e;
    round_shard_range((size_t)1 << 40, 65536, 65535, &b, &e);
    CHECK(e == (size_t)1 << 40 && b == e - ((size_t)1 << 24));
    dataset s0, s1;
    CHECK(round_shard(g_data, 4, 0, 32, &s0, err) == 0 && round_shard(g_data, 4, 1, 32, &s1, err) == 0);
    CHECK(s0.train == g_data->train && s1.train == s0.train + s0.n_train);
    CHECK(memcmp(s0.hash, s1.hash, 32) != 0 && memcmp(s0.hash, g_data->hash, 32) != 0);
    CHECK(round_shard(g_data, 4, 4, 32, &s0, err) == -1);
    CHECK(round_shard(g_data, 0, 0, 32, &s0, err) == -1);
    CHECK(round_shard(g_data, (uint32_t)g_data->n_train / 10, 0, 32, &s0, err) == -1 && strstr(err, "tokens"));
    train_hparams a, c, c2;
    train_hparams_default(&a, false, 10, 32);
    round_inner_hparams(&a, 0, 7, &c);
    CHECK(c.seed != a.seed && c.steps == a.steps);
    round_inner_hparams(&a, 0, 8, &c2);
    CHECK(c2.seed != c.seed);
    round_inner_hparams(&a, 1, 7, &a);
    CHECK(a.seed != c.seed && a.seed != c2.seed);
}

static void test_round_recomputable(void) {
    setup();
    char err[PLOW_ERR_LEN];
    model *m0 = tiny_model(31), *scratch = tiny_model(0);
    round_config cfg;
    small_config(&cfg, 3, 3);
    cfg.enc = ROUND_ENC_INT8;
    round_state *s, *verifier;
    CHECK(round_state_new(&s, m0->params, m0->n_params, err) == 0);
    size_t n = m0->n_params;
    /* the participants publish their contributions; the aggregator applies them */
    static const uint32_t ids[3] = {5, 1, 3};
    round_contrib c[3];
    float *delta = plow_alloc_aligned(n * sizeof(float));
    make_contribs(s, scratch, &cfg, ids, 3, c, delta);
    plow_buf blobs[3] = {{0}}, sblob = {0};
    for (int i = 0; i < 3; i++) round_contrib_serialize(&c[i], &blobs[i]);
    round_state_serialize(s, &sblob);
    const round_contrib *pc[3] = {&c[0], &c[1], &c[2]};
    CHECKF(round_apply(s, pc, 3, &cfg.rule, err) == 0, "%s", err);
    uint8_t h_agg[32], h_ver[32];
    round_state_hash(s, h_agg);
    /* a verifier: the previous state and the contributions from their blobs, in
     * another order, with one thread: the same commitment */
    CHECK(tensor_init(NULL, 1, err) == 0);
    CHECK(round_state_parse(&verifier, sblob.data, sblob.len, n, err) == 0);
    round_contrib p[3];
    for (int i = 0; i < 3; i++) CHECK(round_contrib_parse(&p[i], blobs[2 - i].data, blobs[2 - i].len, n, err) == 0);
    const round_contrib *pp[3] = {&p[0], &p[1], &p[2]};
    CHECK(round_apply(verifier, pp, 3, &cfg.rule, err) == 0);
    round_state_hash(verifier, h_ver);
    CHECK(memcmp(h_agg, h_ver, 32) == 0);
    CHECK(tensor_init(NULL, 2, err) == 0);
    /* round_run does the same round itself (same shards, seeds, wire): same commitment */
    round_state *again;
    CHECK(round_state_parse(&again, sblob.data, sblob.len, n, err) == 0);
    round_report rep;
    CHECKF(round_run(again, scratch, g_data, &cfg, ids, NULL, 3, &rep, err) == 0, "%s", err);
    CHECK(memcmp(rep.hash, h_agg, 32) == 0 && rep.present == 3 && rep.missing == 0 && rep.round == 0);
    char hex[65];
    plow_hex(h_agg, 32, hex);
    printf("    commitment after round 0 (%s, %s): %s\n", tensor_path_name(tensor_path_get()),
#ifdef __clang__
           "clang",
#else
           "gcc",
#endif
           hex);
    CHECK(rep.bytes_sent == 3 * round_contrib_size(n, ROUND_ENC_INT8, 64) && rep.bytes_sent * 3 < rep.bytes_f32);
    CHECK(rep.quant_rel > 0 && rep.quant_rel < 0.02 && rep.quant_max > 0);
    /* a tampered contribution (one int8 value) gives another commitment */
    round_state_free(verifier);
    CHECK(round_state_parse(&verifier, sblob.data, sblob.len, n, err) == 0);
    p[1].q[1000] = (int8_t)(p[1].q[1000] == 127 ? 126 : p[1].q[1000] + 1);
    CHECK(round_apply(verifier, pp, 3, &cfg.rule, err) == 0);
    round_state_hash(verifier, h_ver);
    CHECK(memcmp(h_agg, h_ver, 32) != 0);
    /* stale contributions: for the previous round, or from another base */
    uint8_t before[32], after[32];
    round_state_hash(s, before);
    CHECK(round_apply(s, pc, 3, &cfg.rule, err) == -1 && strstr(err, "round 0, this is round 1"));
    c[0].round = 1;
    CHECK(round_apply(s, pc, 3, &cfg.rule, err) == -1 && strstr(err, "another state"));
    round_rule bad = cfg.rule;
    bad.momentum = 1.0f;
    CHECK(round_apply(s, NULL, 0, &bad, err) == -1);
    round_state_hash(s, after);
    CHECK(memcmp(before, after, 32) == 0 && round_state_round(s) == 1);
    for (int i = 0; i < 3; i++) {
        round_contrib_release(&c[i]);
        round_contrib_release(&p[i]);
        plow_buf_release(&blobs[i]);
    }
    plow_buf_release(&sblob);
    free(delta);
    round_state_free(s);
    round_state_free(verifier);
    round_state_free(again);
    model_free(m0);
    model_free(scratch);
}

static void test_robust_against_poisoning(void) {
    setup();
    char err[PLOW_ERR_LEN];
    model *m0 = tiny_model(41), *scratch = tiny_model(0);
    round_config cfg;
    small_config(&cfg, 5, 4);
    size_t n = m0->n_params;
    round_state *s;
    CHECK(round_state_new(&s, m0->params, n, err) == 0);
    static const uint32_t ids[5] = {0, 1, 2, 3, 4};
    round_contrib c[5];
    float *delta = plow_alloc_aligned(n * sizeof(float));
    make_contribs(s, scratch, &cfg, ids, 5, c, delta);
    plow_buf sblob = {0};
    round_state_serialize(s, &sblob);
    /* per rule, the round with five honest participants: its step and loss */
    const round_contrib *honest[5] = {&c[0], &c[1], &c[2], &c[3], &c[4]};
    float *w_ref[ROUND_AGG_COUNT];
    double step[ROUND_AGG_COUNT];
    float loss0, loss_ref[ROUND_AGG_COUNT];
    CHECK(round_eval(scratch, m0->params, n, g_data, &cfg.inner, 3, &loss0, err) == 0);
    round_rule rules[ROUND_AGG_COUNT];
    round_state *t;
    for (int agg = 0; agg < ROUND_AGG_COUNT; agg++) {
        rules[agg] = cfg.rule;
        rules[agg].agg = (round_agg)agg;
        rules[agg].trim = 1;
        CHECK(round_state_parse(&t, sblob.data, sblob.len, n, err) == 0);
        CHECK(round_apply(t, honest, 5, &rules[agg], err) == 0);
        w_ref[agg] = plow_alloc(n * sizeof(float));
        memcpy(w_ref[agg], round_state_weights(t, NULL), n * sizeof(float));
        round_state_free(t);
        step[agg] = dist(w_ref[agg], m0->params, n);
        CHECK(round_eval(scratch, w_ref[agg], n, g_data, &cfg.inner, 3, &loss_ref[agg], err) == 0);
        CHECKF(step[agg] > 0 && loss_ref[agg] < loss0, "%s: the honest round moved %g, loss %.3f -> %.3f",
               round_agg_name((round_agg)agg), step[agg], (double)loss0, (double)loss_ref[agg]);
    }
    /* participant 4 poisons instead: its honest pseudo-gradient sign-flipped
     * and scaled by 10, or scaled by 1e4. Distances are in units of the
     * honest round's step under the same rule. */
    static const float poison[2] = {-10.0f, 1e4f};
    for (int pz = 0; pz < 2; pz++) {
        float *d = plow_alloc(n * sizeof(float));
        round_contrib_decode(&c[4], d);
        for (size_t j = 0; j < n; j++) d[j] *= poison[pz];
        round_contrib bad;
        uint8_t base[32];
        round_state_hash(s, base);
        CHECK(round_contrib_make(&bad, 0, 4, base, d, n, ROUND_ENC_F32, 0, err) == 0);
        free(d);
        const round_contrib *all[5] = {&bad, &c[3], &c[0], &c[2], &c[1]};
        double dd[ROUND_AGG_COUNT];
        float loss[ROUND_AGG_COUNT];
        for (int agg = 0; agg < ROUND_AGG_COUNT; agg++) {
            CHECK(round_state_parse(&t, sblob.data, sblob.len, n, err) == 0);
            CHECKF(round_apply(t, all, 5, &rules[agg], err) == 0, "%s", err);
            dd[agg] = dist(round_state_weights(t, NULL), w_ref[agg], n) / step[agg];
            CHECK(round_eval(scratch, round_state_weights(t, NULL), n, g_data, &cfg.inner, 3, &loss[agg], err) == 0);
            round_state_free(t);
        }
        printf("    poison x%g: moved from the honest round by (its steps) mean %.3f, trimmed %.3f, median %.3f; "
               "val loss %.3f at start, honest %.3f/%.3f/%.3f, poisoned %.3f/%.3f/%.3f\n",
               (double)poison[pz], dd[0], dd[1], dd[2], (double)loss0, (double)loss_ref[0], (double)loss_ref[1],
               (double)loss_ref[2], (double)loss[0], (double)loss[1], (double)loss[2]);
        /* the mean follows the poisoner without bound; the robust rules stay
         * within about one honest step (the spread of honest pseudo-gradients
         * bounds a coordinate-wise trimmed mean or median) */
        CHECKF(dd[ROUND_AGG_MEAN] > (pz == 0 ? 2.0 : 1000.0), "the mean moved only %.3f steps away",
               dd[ROUND_AGG_MEAN]);
        for (int agg = ROUND_AGG_TRIMMED; agg <= ROUND_AGG_MEDIAN; agg++) {
            CHECKF(dd[agg] < 1.5 && dd[agg] < dd[ROUND_AGG_MEAN] / 4, "%s moved %.3f steps away",
                   round_agg_name((round_agg)agg), dd[agg]);
            /* and keeps most of the honest round's progress */
            CHECKF(loss0 - loss[agg] > 0.6f * (loss0 - loss_ref[agg]), "%s: loss %.3f (honest %.3f, start %.3f)",
                   round_agg_name((round_agg)agg), (double)loss[agg], (double)loss_ref[agg], (double)loss0);
        }
        CHECKF(loss[ROUND_AGG_MEAN] > loss[ROUND_AGG_TRIMMED] + 0.1f && loss[ROUND_AGG_MEAN] > loss[ROUND_AGG_MEDIAN] + 0.1f,
               "the poisoned mean reached loss %.3f", (double)loss[ROUND_AGG_MEAN]);
        round_contrib_release(&bad);
    }
    for (int agg = 0; agg < ROUND_AGG_COUNT; agg++) free(w_ref[agg]);
    for (int i = 0; i < 5; i++) round_contrib_release(&c[i]);
    plow_buf_release(&sblob);
    free(delta);
    round_state_free(s);
    model_free(m0);
    model_free(scratch);
}

static void test_rounds_join_leave_and_learn(void) {
    setup();
    char err[PLOW_ERR_LEN];
    model *m0 = tiny_model(51), *scratch = tiny_model(0);
    round_config cfg;
    small_config(&cfg, 3, 5);
    size_t n = m0->n_params;
    round_state *s;
    CHECK(round_state_new(&s, m0->params, n, err) == 0);
    float loss0, loss;
    CHECK(round_eval(scratch, m0->params, n, g_data, &cfg.inner, 3, &loss0, err) == 0);
    /* round 0: 1 and 2 take part; 3 is listed but misses the deadline */
    uint32_t ids[4] = {1, 2, 3, 0};
    bool present[4] = {true, true, false, true};
    round_report rep;
    CHECKF(round_run(s, scratch, g_data, &cfg, ids, present, 3, &rep, err) == 0, "%s", err);
    CHECK(rep.present == 2 && rep.missing == 1 && round_state_round(s) == 1);
    CHECK(rep.bytes_sent == 2 * round_contrib_size(n, ROUND_ENC_F32, 0) && rep.bytes_sent == rep.bytes_f32);
    /* round 1: nobody is there: a no-op on W and v, the round still ends */
    plow_buf b1 = {0}, b2 = {0};
    round_state_serialize(s, &b1);
    bool none[3] = {false, false, false};
    CHECK(round_run(s, scratch, g_data, &cfg, ids, none, 3, &rep, err) == 0);
    round_state_serialize(s, &b2);
    CHECK(rep.present == 0 && rep.missing == 3 && round_state_round(s) == 2);
    CHECK(b1.len == b2.len && memcmp(b1.data + 28, b2.data + 28, b1.len - 28) == 0);
    plow_buf_release(&b1);
    plow_buf_release(&b2);
    /* a contribution made for round 2 that arrives after round 2 closed is refused */
    round_contrib late;
    float *delta = plow_calloc(n, sizeof(float));
    uint8_t base[32];
    round_state_hash(s, base);
    CHECK(round_contrib_make(&late, 2, 0, base, delta, n, ROUND_ENC_F32, 0, err) == 0);
    /* rounds 2, 3: participants 0 (new), 1, 2, 3 (back); int8 in round 3 */
    CHECK(round_run(s, scratch, g_data, &cfg, (uint32_t[]){0, 1, 2, 3}, NULL, 4, &rep, err) == 0);
    CHECK(rep.present == 4 && rep.inner_loss > 0);
    const round_contrib *pl = &late;
    CHECK(round_apply(s, &pl, 1, &cfg.rule, err) == -1 && strstr(err, "round 2, this is round 3"));
    float prev;
    CHECK(round_eval(scratch, round_state_weights(s, NULL), n, g_data, &cfg.inner, 3, &prev, err) == 0);
    cfg.enc = ROUND_ENC_INT8;
    CHECK(round_run(s, scratch, g_data, &cfg, (uint32_t[]){3, 2, 1, 0}, NULL, 4, &rep, err) == 0);
    CHECK(rep.bytes_sent < rep.bytes_f32 / 3);
    CHECK(round_eval(scratch, round_state_weights(s, NULL), n, g_data, &cfg.inner, 3, &loss, err) == 0);
    printf("    validation loss: %.3f at start, %.3f after round 2, %.3f after round 3 (int8)\n", (double)loss0,
           (double)prev, (double)loss);
    CHECKF(prev < loss0 - 0.3f && loss < prev, "validation loss %.3f -> %.3f -> %.3f did not fall", (double)loss0,
           (double)prev, (double)loss);
    /* a duplicate participant on the list is refused; the state does not move */
    CHECK(round_run(s, scratch, g_data, &cfg, (uint32_t[]){1, 2, 1}, NULL, 3, &rep, err) == -1 &&
          strstr(err, "twice") && round_state_round(s) == 4);
    round_contrib_release(&late);
    free(delta);
    round_state_free(s);
    model_free(m0);
    model_free(scratch);
}

const test_case round_tests[] = {
    {"round_half_even_integer_rounding", test_round_half_even},
    {"round_quantize_exact_cases", test_quantize_exact_cases},
    {"round_quantize_error_bound_and_threads", test_quantize_error_bound_and_threads},
    {"round_contrib_roundtrip_and_malformed", test_contrib_roundtrip_and_malformed},
    {"round_state_roundtrip_and_malformed", test_state_roundtrip_and_malformed},
    {"round_aggregate_deterministic", test_aggregate_deterministic},
    {"round_shards", test_shards},
    {"round_recomputable_from_contributions", test_round_recomputable},
    {"round_robust_against_poisoning", test_robust_against_poisoning},
    {"round_join_leave_and_learn", test_rounds_join_leave_and_learn},
    {NULL, NULL},
};
