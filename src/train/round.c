/*
 * round.c — DiLoCo-style collaborative rounds: shards, the inner run, int8
 * block compression, deterministic aggregation (mean, trimmed mean, median),
 * the Nesterov outer step, the state commitment, and a one-process driver.
 *
 * Non-goals: networking, deadlines in blocks and pay (the ledger's round task
 * family does those, docs/rounds.md); persistent inner optimiser state (each
 * inner run starts with zero moments, so a participant who joins late needs
 * nothing but W_t, and the inner run is an ordinary task from a known state).
 *
 * Why double in the sums: a poisoning participant may send values near
 * FLT_MAX; a float sum would overflow to inf and make the mean of finite
 * inputs non-finite. A double sum of at most ROUND_MAX_PARTICIPANTS floats
 * cannot overflow, and the final quotient is within the inputs' range.
 */
#include "../base/plow.h"

#include <math.h>
#include <stdlib.h>

#include "../tensor/tensor.h"
#include "round.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "round.c writes float32 arrays as little-endian bytes with memcpy"
#endif

#define CONTRIB_MAGIC "PLOWRNDC"
#define STATE_MAGIC "PLOWRNDS"
#define FORMAT_VERSION 1u
#define STATE_HEADER (8 + 4 + 8 + 8)
#define CHUNK 16384 /* values per parallel task (a multiple of every block is not needed) */

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

static bool finite_bits(uint32_t u) { return (u & 0x7f800000u) != 0x7f800000u; }

/* |x| <= ROUND_VALUE_MAX (false for NaN and infinities) */
static bool in_range(float x) { return fabsf(x) <= ROUND_VALUE_MAX; }

static size_t n_chunks(size_t n) { return n / CHUNK + (n % CHUNK != 0); }

/* ---- shards ------------------------------------------------------------------ */

void round_shard_range(size_t n_tokens, uint32_t shards, uint32_t i, size_t *begin, size_t *end) {
    PLOW_ASSERT(shards > 0 && i < shards);
    /* floor(i*n/P) without overflow: i*(n/P) + floor(i*(n%P)/P), and i*(n%P) < P^2 <= 2^32 */
    uint64_t n = n_tokens, q = n / shards, r = n % shards;
    *begin = (size_t)((uint64_t)i * q + (uint64_t)i * r / shards);
    *end = (size_t)((uint64_t)(i + 1) * q + (uint64_t)(i + 1) * r / shards);
}

int round_shard(const dataset *d, uint32_t shards, uint32_t i, int seq, dataset *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    if (shards == 0 || shards > ROUND_MAX_SHARDS)
        return plow_error(err, "shard count %u out of range 1..%d", shards, ROUND_MAX_SHARDS);
    if (i >= shards) return plow_error(err, "shard %u does not exist (%u shards)", i, shards);
    if (seq < 1) return plow_error(err, "sequence length %d must be positive", seq);
    size_t b, e;
    round_shard_range(d->n_train, shards, i, &b, &e);
    if (e - b <= (size_t)seq)
        return plow_error(err, "shard %u of %u has %zu tokens, a batch window needs %d", i, shards, e - b,
                          seq + 1);
    uint8_t hdr[8];
    plow_put_u32(hdr, shards);
    plow_put_u32(hdr + 4, i);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.round.shard.v1";
    plow_sha256_update(h, tag, sizeof tag - 1);
    plow_sha256_update(h, d->hash, PLOW_HASH_LEN);
    plow_sha256_update(h, hdr, sizeof hdr);
    plow_sha256_final(h, out->hash);
    out->train = d->train + b;
    out->n_train = e - b;
    out->val = d->val;
    out->n_val = d->n_val;
    return 0;
}

/* ---- inner run ---------------------------------------------------------------- */

void round_inner_hparams(const train_hparams *base, uint64_t round, uint32_t participant, train_hparams *out) {
    uint8_t msg[20], h[PLOW_HASH_LEN];
    plow_put_u64(msg, base->seed);
    plow_put_u64(msg + 8, round);
    plow_put_u32(msg + 16, participant);
    plow_sha256 *s = plow_sha256_new();
    static const char tag[] = "plow.round.seed.v1";
    plow_sha256_update(s, tag, sizeof tag - 1);
    plow_sha256_update(s, msg, sizeof msg);
    plow_sha256_final(s, h);
    if (out != base) *out = *base;
    out->seed = plow_get_u64(h);
}

int round_inner_run(model *m, const float *w, size_t n, const dataset *shard, const train_hparams *hp,
                    float *delta, round_inner_result *res, char err[PLOW_ERR_LEN]) {
    if (n != m->n_params)
        return plow_error(err, "shared weights have %zu values, the model has %zu parameters", n, m->n_params);
    if (shard->n_train <= (size_t)(hp->seq > 0 ? hp->seq : 0))
        return plow_error(err, "shard has %zu tokens, a batch window needs %d", shard->n_train, hp->seq + 1);
    train_state *s;
    if (train_state_new(&s, m, NULL, hp, shard->hash, err)) return -1;
    /* a new state is at step 0 with zero moments (train_state_new); only the
     * weights change: W_t instead of whatever the scratch model held */
    size_t wn;
    float *W = train_state_weights(s, &wn);
    PLOW_ASSERT(wn == n);
    memcpy(W, w, n * sizeof(float));
    if (res) {
        memset(res, 0, sizeof *res);
        train_state_hash(s, res->state0);
    }
    for (int i = 0; i < hp->steps; i++) {
        train_stats st;
        train_step(s, shard, &st);
        if (res && i == 0) res->first_loss = st.loss;
        if (res) res->last_loss = st.loss;
    }
    for (size_t j = 0; j < n; j++) delta[j] = w[j] - W[j];
    if (res) train_state_hash(s, res->final);
    train_state_free(s);
    return 0;
}

/* ---- quantisation ---------------------------------------------------------- */

int32_t round_half_even(float x) {
    uint32_t u = fbits(x);
    bool neg = u >> 31;
    uint32_t e = (u >> 23) & 0xffu;
    uint32_t frac = u & 0x7fffffu;
    if (e == 0xffu) {
        if (frac) return 0; /* NaN */
        return neg ? INT32_MIN : INT32_MAX;
    }
    if (e == 0) return 0; /* zero or subnormal: |x| < 2^-126 */
    uint64_t m = frac | 0x800000u; /* |x| = m * 2^(e - 150) */
    uint64_t mag;
    if (e >= 150) {
        if (e - 150 >= 8) mag = (uint64_t)1 << 32; /* >= 2^31 * 2: saturates below */
        else mag = m << (e - 150);
    } else {
        uint32_t sh = 150 - e; /* 1 .. 149 */
        if (sh > 24) {
            mag = 0; /* m < 2^24, so |x| < 2^24 / 2^25 = 1/2 */
        } else {
            uint64_t q = m >> sh, rem = m & (((uint64_t)1 << sh) - 1), half = (uint64_t)1 << (sh - 1);
            if (rem > half || (rem == half && (q & 1))) q++;
            mag = q;
        }
    }
    if (neg) return mag >= (uint64_t)1 << 31 ? INT32_MIN : -(int32_t)mag;
    return mag > (uint64_t)INT32_MAX ? INT32_MAX : (int32_t)mag;
}

static void quantize_block(const float *x, size_t len, int8_t *q, float *scale) {
    float amax = 0.0f;
    for (size_t j = 0; j < len; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    float s = amax / 127.0f;
    *scale = s;
    if (!(s > 0.0f)) { /* a zero block, or one so small that the scale underflows */
        memset(q, 0, len);
        return;
    }
    for (size_t j = 0; j < len; j++) {
        int32_t r = round_half_even(x[j] / s);
        if (r > 127) r = 127;
        if (r < -127) r = -127;
        q[j] = (int8_t)r;
    }
}

typedef struct quant_job {
    const float *x;
    size_t n;
    uint32_t block;
    size_t blocks_per_task;
    int8_t *q;
    float *scales;
    const int8_t *cq;
    const float *cscales;
    float *out;
} quant_job;

static void quant_task(void *ctx, size_t t) {
    const quant_job *j = ctx;
    size_t nb = j->n / j->block + (j->n % j->block != 0);
    size_t b0 = t * j->blocks_per_task, b1 = b0 + j->blocks_per_task < nb ? b0 + j->blocks_per_task : nb;
    for (size_t b = b0; b < b1; b++) {
        size_t s = b * j->block, len = s + j->block <= j->n ? j->block : j->n - s;
        quantize_block(j->x + s, len, j->q + s, j->scales + b);
    }
}

static void dequant_task(void *ctx, size_t t) {
    const quant_job *j = ctx;
    size_t nb = j->n / j->block + (j->n % j->block != 0);
    size_t b0 = t * j->blocks_per_task, b1 = b0 + j->blocks_per_task < nb ? b0 + j->blocks_per_task : nb;
    for (size_t b = b0; b < b1; b++) {
        size_t s = b * j->block, len = s + j->block <= j->n ? j->block : j->n - s;
        float sc = j->cscales[b];
        for (size_t i = 0; i < len; i++) j->out[s + i] = (float)j->cq[s + i] * sc;
    }
}

static size_t blocks_per_task(uint32_t block) { return block >= CHUNK ? 1 : CHUNK / block; }

static size_t task_count(size_t n, uint32_t block) {
    size_t nb = n / block + (n % block != 0), per = blocks_per_task(block);
    return nb / per + (nb % per != 0);
}

void round_quantize(const float *x, size_t n, uint32_t block, int8_t *q, float *scales) {
    PLOW_ASSERT(block >= 1 && block <= ROUND_BLOCK_MAX);
    quant_job j = {.x = x, .n = n, .block = block, .blocks_per_task = blocks_per_task(block), .q = q, .scales = scales};
    tensor_parallel_for(task_count(n, block), quant_task, &j);
}

void round_dequantize(const int8_t *q, const float *scales, size_t n, uint32_t block, float *out) {
    PLOW_ASSERT(block >= 1 && block <= ROUND_BLOCK_MAX);
    quant_job j = {.n = n, .block = block, .blocks_per_task = blocks_per_task(block), .cq = q, .cscales = scales,
                   .out = out};
    tensor_parallel_for(task_count(n, block), dequant_task, &j);
}

/* ---- contributions ----------------------------------------------------------- */

static const char *const enc_names[ROUND_ENC_COUNT] = {"f32", "int8"};
_Static_assert(sizeof enc_names / sizeof enc_names[0] == ROUND_ENC_COUNT, "one name per encoding");

const char *round_enc_name(round_enc e) { return (unsigned)e < ROUND_ENC_COUNT ? enc_names[e] : "?"; }

static size_t n_blocks(size_t n, uint32_t block) { return n / block + (n % block != 0); }

size_t round_contrib_size(size_t n, round_enc enc, uint32_t block) {
    if (enc == ROUND_ENC_F32) return ROUND_CONTRIB_HEADER + 4 * n;
    return ROUND_CONTRIB_HEADER + 4 * n_blocks(n, block) + n;
}

int round_contrib_make(round_contrib *c, uint64_t round, uint32_t participant, const uint8_t base[PLOW_HASH_LEN],
                       const float *delta, size_t n, round_enc enc, uint32_t block, char err[PLOW_ERR_LEN]) {
    memset(c, 0, sizeof *c);
    if (n == 0 || n > ROUND_MAX_VALUES) return plow_error(err, "contribution size %zu out of range", n);
    if ((unsigned)enc >= ROUND_ENC_COUNT) return plow_error(err, "unknown contribution encoding %d", (int)enc);
    if (enc == ROUND_ENC_INT8 && (block < 1 || block > ROUND_BLOCK_MAX))
        return plow_error(err, "int8 block %u out of range 1..%d", block, ROUND_BLOCK_MAX);
    for (size_t j = 0; j < n; j++)
        if (!in_range(delta[j]))
            return plow_error(err, "pseudo-gradient value %zu is not finite or beyond %g", j,
                              (double)ROUND_VALUE_MAX);
    c->round = round;
    c->participant = participant;
    c->enc = enc;
    c->n = n;
    memcpy(c->base, base, PLOW_HASH_LEN);
    if (enc == ROUND_ENC_F32) {
        c->f = plow_alloc(n * sizeof(float));
        memcpy(c->f, delta, n * sizeof(float));
    } else {
        c->block = block;
        c->q = plow_alloc(n);
        c->scales = plow_alloc(n_blocks(n, block) * sizeof(float));
        round_quantize(delta, n, block, c->q, c->scales);
    }
    return 0;
}

void round_contrib_release(round_contrib *c) {
    if (!c) return;
    free(c->f);
    free(c->q);
    free(c->scales);
    memset(c, 0, sizeof *c);
}

float round_contrib_value(const round_contrib *c, size_t j) {
    if (c->enc == ROUND_ENC_F32) return c->f[j];
    return (float)c->q[j] * c->scales[j / c->block];
}

void round_contrib_decode(const round_contrib *c, float *out) {
    if (c->enc == ROUND_ENC_F32) memcpy(out, c->f, c->n * sizeof(float));
    else round_dequantize(c->q, c->scales, c->n, c->block, out);
}

static void contrib_header(const round_contrib *c, uint8_t h[ROUND_CONTRIB_HEADER]) {
    memcpy(h, CONTRIB_MAGIC, 8);
    plow_put_u32(h + 8, FORMAT_VERSION);
    plow_put_u64(h + 12, c->round);
    plow_put_u32(h + 20, c->participant);
    plow_put_u32(h + 24, (uint32_t)c->enc);
    plow_put_u32(h + 28, c->enc == ROUND_ENC_F32 ? 0u : c->block);
    plow_put_u64(h + 32, (uint64_t)c->n);
    memcpy(h + 40, c->base, PLOW_HASH_LEN);
}

void round_contrib_serialize(const round_contrib *c, plow_buf *out) {
    uint8_t h[ROUND_CONTRIB_HEADER];
    contrib_header(c, h);
    plow_buf_append(out, h, sizeof h);
    if (c->enc == ROUND_ENC_F32) {
        plow_buf_append(out, c->f, c->n * sizeof(float));
    } else {
        plow_buf_append(out, c->scales, n_blocks(c->n, c->block) * sizeof(float));
        plow_buf_append(out, c->q, c->n);
    }
}

void round_contrib_hash(const round_contrib *c, uint8_t out[PLOW_HASH_LEN]) {
    uint8_t h[ROUND_CONTRIB_HEADER];
    contrib_header(c, h);
    plow_sha256 *s = plow_sha256_new();
    plow_sha256_update(s, h, sizeof h);
    if (c->enc == ROUND_ENC_F32) {
        plow_sha256_update(s, c->f, c->n * sizeof(float));
    } else {
        plow_sha256_update(s, c->scales, n_blocks(c->n, c->block) * sizeof(float));
        plow_sha256_update(s, c->q, c->n);
    }
    plow_sha256_final(s, out);
}

int round_contrib_parse(round_contrib *c, const uint8_t *buf, size_t len, size_t expect_n, char err[PLOW_ERR_LEN]) {
    memset(c, 0, sizeof *c);
    if (len < ROUND_CONTRIB_HEADER)
        return plow_error(err, "contribution truncated (%zu bytes, the header alone is %d)", len,
                          ROUND_CONTRIB_HEADER);
    if (memcmp(buf, CONTRIB_MAGIC, 8) != 0) return plow_error(err, "not a round contribution (bad magic)");
    uint32_t version = plow_get_u32(buf + 8);
    if (version != FORMAT_VERSION) return plow_error(err, "unsupported contribution version %u", version);
    uint32_t enc = plow_get_u32(buf + 24), block = plow_get_u32(buf + 28);
    uint64_t n = plow_get_u64(buf + 32);
    if (enc >= ROUND_ENC_COUNT) return plow_error(err, "unknown contribution encoding %u", enc);
    if (enc == ROUND_ENC_F32 && block != 0) return plow_error(err, "f32 contribution with block %u (must be 0)", block);
    if (enc == ROUND_ENC_INT8 && (block < 1 || block > ROUND_BLOCK_MAX))
        return plow_error(err, "int8 block %u out of range 1..%d", block, ROUND_BLOCK_MAX);
    if (n == 0 || n > ROUND_MAX_VALUES) return plow_error(err, "contribution size %llu out of range",
                                                          (unsigned long long)n);
    if (expect_n && n != expect_n)
        return plow_error(err, "contribution has %llu values, the model has %zu", (unsigned long long)n, expect_n);
    /* n <= 2^34, so these products cannot overflow 64 bits; checked anyway */
    size_t want = 0, nb = enc == ROUND_ENC_INT8 ? n_blocks((size_t)n, block) : 0, tmp;
    if (enc == ROUND_ENC_F32) {
        if (!plow_mul_size((size_t)n, 4, &tmp) || !plow_add_size(tmp, ROUND_CONTRIB_HEADER, &want))
            return plow_error(err, "contribution size overflows");
    } else {
        size_t sb;
        if (!plow_mul_size(nb, 4, &sb) || !plow_add_size(sb, (size_t)n, &tmp) ||
            !plow_add_size(tmp, ROUND_CONTRIB_HEADER, &want))
            return plow_error(err, "contribution size overflows");
    }
    if (len != want) return plow_error(err, "contribution has %zu bytes, expected %zu", len, want);
    const uint8_t *p = buf + ROUND_CONTRIB_HEADER;
    if (enc == ROUND_ENC_F32) {
        for (size_t j = 0; j < n; j++)
            if (!in_range(bitsf(plow_get_u32(p + 4 * j))))
                return plow_error(err, "contribution value %zu is not finite or beyond %g", j,
                                  (double)ROUND_VALUE_MAX);
    } else {
        for (size_t b = 0; b < nb; b++) {
            uint32_t u = plow_get_u32(p + 4 * b);
            if ((u >> 31) || !(bitsf(u) <= ROUND_VALUE_MAX / 127.0f))
                return plow_error(err, "scale of block %zu is negative, -0, NaN or beyond %g", b,
                                  (double)(ROUND_VALUE_MAX / 127.0f));
        }
        const int8_t *q = (const int8_t *)(p + 4 * nb);
        for (size_t j = 0; j < n; j++)
            if (q[j] == INT8_MIN) return plow_error(err, "int8 value %zu is -128 (the range is -127..127)", j);
    }
    c->round = plow_get_u64(buf + 12);
    c->participant = plow_get_u32(buf + 20);
    c->enc = (round_enc)enc;
    c->n = (size_t)n;
    memcpy(c->base, buf + 40, PLOW_HASH_LEN);
    if (enc == ROUND_ENC_F32) {
        c->f = plow_alloc((size_t)n * sizeof(float));
        memcpy(c->f, p, (size_t)n * sizeof(float));
    } else {
        c->block = block;
        c->scales = plow_alloc(nb * sizeof(float));
        memcpy(c->scales, p, nb * sizeof(float));
        c->q = plow_alloc((size_t)n);
        memcpy(c->q, p + 4 * nb, (size_t)n);
    }
    return 0;
}

/* ---- aggregation ------------------------------------------------------------- */

static const char *const agg_names[ROUND_AGG_COUNT] = {"mean", "trimmed", "median"};
_Static_assert(sizeof agg_names / sizeof agg_names[0] == ROUND_AGG_COUNT, "one name per aggregation");

const char *round_agg_name(round_agg a) { return (unsigned)a < ROUND_AGG_COUNT ? agg_names[a] : "?"; }

int round_agg_parse(const char *s, round_agg *out, char err[PLOW_ERR_LEN]) {
    for (int i = 0; i < ROUND_AGG_COUNT; i++)
        if (strcmp(s, agg_names[i]) == 0) {
            *out = (round_agg)i;
            return 0;
        }
    return plow_error(err, "unknown aggregation '%s' (use mean, trimmed or median)", s);
}

/* A key whose unsigned order is the total order of the float values, -0 < +0:
 * the sorted sequence of keys is unique, so any correct sort gives the same
 * bits. (All values are finite here.) */
static uint32_t order_key(float f) {
    uint32_t u = fbits(f);
    return u >> 31 ? ~u : u | 0x80000000u;
}

static float key_value(uint32_t k) { return bitsf(k >> 31 ? k & 0x7fffffffu : ~k); }

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void sort_keys(uint32_t *k, int n) {
    if (n > 32) {
        qsort(k, (size_t)n, sizeof *k, cmp_u32);
        return;
    }
    for (int i = 1; i < n; i++) {
        uint32_t v = k[i];
        int j = i - 1;
        while (j >= 0 && k[j] > v) {
            k[j + 1] = k[j];
            j--;
        }
        k[j + 1] = v;
    }
}

typedef struct agg_job {
    const round_contrib *const *cs; /* sorted by participant id */
    int k;
    round_agg agg;
    int trim;
    size_t n;
    float *out;
} agg_job;

static void agg_task(void *ctx, size_t t) {
    const agg_job *a = ctx;
    size_t j0 = t * CHUNK, j1 = j0 + CHUNK < a->n ? j0 + CHUNK : a->n;
    int k = a->k;
    if (a->agg == ROUND_AGG_MEAN) {
        for (size_t j = j0; j < j1; j++) {
            double s = 0.0;
            for (int i = 0; i < k; i++) s += (double)round_contrib_value(a->cs[i], j);
            a->out[j] = (float)(s / (double)k);
        }
        return;
    }
    uint32_t keys[ROUND_MAX_PARTICIPANTS];
    int trim = a->agg == ROUND_AGG_MEDIAN ? (k - 1) / 2 : a->trim;
    if (2 * trim >= k) trim = (k - 1) / 2;
    for (size_t j = j0; j < j1; j++) {
        for (int i = 0; i < k; i++) keys[i] = order_key(round_contrib_value(a->cs[i], j));
        sort_keys(keys, k);
        if (a->agg == ROUND_AGG_MEDIAN) {
            a->out[j] = k & 1 ? key_value(keys[k / 2])
                              : (float)(((double)key_value(keys[k / 2 - 1]) + (double)key_value(keys[k / 2])) / 2.0);
            continue;
        }
        double s = 0.0;
        for (int i = trim; i < k - trim; i++) s += (double)key_value(keys[i]);
        a->out[j] = (float)(s / (double)(k - 2 * trim));
    }
}

int round_aggregate(const round_contrib *const *cs, int k, round_agg agg, int trim, float *out, size_t n,
                    char err[PLOW_ERR_LEN]) {
    if (k < 0 || k > ROUND_MAX_PARTICIPANTS)
        return plow_error(err, "%d contributions (at most %d in a round)", k, ROUND_MAX_PARTICIPANTS);
    if ((unsigned)agg >= ROUND_AGG_COUNT) return plow_error(err, "unknown aggregation %d", (int)agg);
    if (trim < 0) return plow_error(err, "trim %d must not be negative", trim);
    for (int i = 0; i < k; i++) {
        if (!cs[i]) return plow_error(err, "contribution %d is missing", i);
        if (cs[i]->n != n)
            return plow_error(err, "participant %u sent %zu values, the model has %zu", cs[i]->participant,
                              cs[i]->n, n);
        if ((unsigned)cs[i]->enc >= ROUND_ENC_COUNT) return plow_error(err, "unknown encoding");
    }
    if (k == 0) {
        memset(out, 0, n * sizeof(float));
        return 0;
    }
    /* the canonical order: participant id (insertion sort: k is small) */
    const round_contrib **s = plow_alloc((size_t)k * sizeof *s);
    for (int i = 0; i < k; i++) {
        const round_contrib *v = cs[i];
        int j = i - 1;
        while (j >= 0 && s[j]->participant > v->participant) {
            s[j + 1] = s[j];
            j--;
        }
        s[j + 1] = v;
    }
    for (int i = 1; i < k; i++)
        if (s[i]->participant == s[i - 1]->participant) {
            uint32_t id = s[i]->participant;
            free(s);
            return plow_error(err, "two contributions from participant %u", id);
        }
    agg_job a = {s, k, agg, trim, n, out};
    tensor_parallel_for(n_chunks(n), agg_task, &a);
    free(s);
    return 0;
}

/* ---- outer state ----------------------------------------------------------------- */

struct round_state {
    uint64_t round;
    size_t n;
    float *w; /* W_t */
    float *v; /* outer momentum */
};

void round_rule_default(round_rule *r) {
    r->agg = ROUND_AGG_MEAN;
    r->trim = 1;
    r->lr = 0.7f;
    r->momentum = 0.9f;
}

int round_rule_check(const round_rule *r, char err[PLOW_ERR_LEN]) {
    if ((unsigned)r->agg >= ROUND_AGG_COUNT) return plow_error(err, "unknown aggregation %d", (int)r->agg);
    if (r->trim < 0 || r->trim > ROUND_MAX_PARTICIPANTS / 2)
        return plow_error(err, "trim %d out of range 0..%d", r->trim, ROUND_MAX_PARTICIPANTS / 2);
    if (!(r->lr > 0.0f && r->lr <= 10.0f)) return plow_error(err, "outer learning rate %g out of range (0, 10]",
                                                             (double)r->lr);
    if (!(r->momentum >= 0.0f && r->momentum < 1.0f))
        return plow_error(err, "outer momentum %g out of range [0, 1)", (double)r->momentum);
    return 0;
}

static round_state *state_alloc(size_t n) {
    round_state *s = plow_calloc(1, sizeof *s);
    s->n = n;
    s->w = plow_alloc_aligned(n * sizeof(float));
    s->v = plow_alloc_aligned(n * sizeof(float));
    return s;
}

int round_state_new(round_state **out, const float *w, size_t n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (n == 0 || n > ROUND_MAX_VALUES) return plow_error(err, "weight count %zu out of range", n);
    for (size_t j = 0; j < n; j++)
        if (!finite_bits(fbits(w[j]))) return plow_error(err, "weight %zu is not finite", j);
    round_state *s = state_alloc(n);
    memcpy(s->w, w, n * sizeof(float));
    *out = s;
    return 0;
}

void round_state_free(round_state *s) {
    if (!s) return;
    free(s->w);
    free(s->v);
    free(s);
}

uint64_t round_state_round(const round_state *s) { return s->round; }

const float *round_state_weights(const round_state *s, size_t *n) {
    if (n) *n = s->n;
    return s->w;
}

const float *round_state_momentum(const round_state *s, size_t *n) {
    if (n) *n = s->n;
    return s->v;
}

typedef struct hash2_job {
    const round_state *s;
    uint8_t out[2][PLOW_HASH_LEN];
} hash2_job;

static void hash2_task(void *ctx, size_t i) {
    hash2_job *j = ctx;
    plow_sha256_once(i == 0 ? j->s->w : j->s->v, j->s->n * sizeof(float), j->out[i]);
}

void round_state_hash(const round_state *s, uint8_t out[PLOW_HASH_LEN]) {
    hash2_job j = {.s = s};
    tensor_parallel_for(2, hash2_task, &j);
    uint8_t hdr[16];
    plow_put_u64(hdr, s->round);
    plow_put_u64(hdr + 8, (uint64_t)s->n);
    plow_sha256 *h = plow_sha256_new();
    static const char tag[] = "plow.round.state.v1";
    plow_sha256_update(h, tag, sizeof tag - 1);
    plow_sha256_update(h, hdr, sizeof hdr);
    plow_sha256_update(h, j.out, sizeof j.out);
    plow_sha256_final(h, out);
}

void round_state_serialize(const round_state *s, plow_buf *out) {
    plow_buf_append(out, STATE_MAGIC, 8);
    plow_buf_u32(out, FORMAT_VERSION);
    plow_buf_u64(out, s->round);
    plow_buf_u64(out, (uint64_t)s->n);
    plow_buf_append(out, s->w, s->n * sizeof(float));
    plow_buf_append(out, s->v, s->n * sizeof(float));
}

int round_state_parse(round_state **out, const uint8_t *buf, size_t len, size_t expect_n, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (len < STATE_HEADER)
        return plow_error(err, "round state truncated (%zu bytes, the header alone is %d)", len, STATE_HEADER);
    if (memcmp(buf, STATE_MAGIC, 8) != 0) return plow_error(err, "not a round state (bad magic)");
    uint32_t version = plow_get_u32(buf + 8);
    if (version != FORMAT_VERSION) return plow_error(err, "unsupported round state version %u", version);
    uint64_t round = plow_get_u64(buf + 12), n = plow_get_u64(buf + 20);
    if (n == 0 || n > ROUND_MAX_VALUES) return plow_error(err, "round state size %llu out of range",
                                                          (unsigned long long)n);
    if (expect_n && n != expect_n)
        return plow_error(err, "round state has %llu values, the model has %zu", (unsigned long long)n, expect_n);
    size_t body, want;
    if (!plow_mul_size((size_t)n, 8, &body) || !plow_add_size(body, STATE_HEADER, &want))
        return plow_error(err, "round state size overflows");
    if (len != want) return plow_error(err, "round state has %zu bytes, expected %zu", len, want);
    const uint8_t *p = buf + STATE_HEADER;
    for (size_t j = 0; j < 2 * (size_t)n; j++)
        if (!finite_bits(plow_get_u32(p + 4 * j)))
            return plow_error(err, "round state %s %zu is not finite", j < n ? "weight" : "momentum",
                              j < n ? j : j - (size_t)n);
    round_state *s = state_alloc((size_t)n);
    s->round = round;
    memcpy(s->w, p, (size_t)n * sizeof(float));
    memcpy(s->v, p + (size_t)n * sizeof(float), (size_t)n * sizeof(float));
    *out = s;
    return 0;
}

typedef struct outer_job {
    const float *w, *v, *a; /* in */
    float *w_out, *v_out;   /* out (may equal w, v) */
    float lr, mu;
    size_t n;
} outer_job;

static void outer_task(void *ctx, size_t t) {
    const outer_job *o = ctx;
    size_t j0 = t * CHUNK, j1 = j0 + CHUNK < o->n ? j0 + CHUNK : o->n;
    for (size_t j = j0; j < j1; j++) {
        float v = o->mu * o->v[j]; /* each operation rounded once: -ffp-contract=off */
        v = v + o->a[j];
        float g = o->mu * v;
        g = o->a[j] + g;
        g = o->lr * g;
        o->v_out[j] = v;
        o->w_out[j] = o->w[j] - g;
    }
}

void round_outer_step(round_state *s, const float *a, float lr, float momentum) {
    if (a) {
        outer_job o = {s->w, s->v, a, s->w, s->v, lr, momentum, s->n};
        tensor_parallel_for(n_chunks(s->n), outer_task, &o);
    }
    s->round++;
}

int round_apply(round_state *s, const round_contrib *const *cs, int k, const round_rule *rule,
                char err[PLOW_ERR_LEN]) {
    if (round_rule_check(rule, err)) return -1;
    if (k < 0 || k > ROUND_MAX_PARTICIPANTS)
        return plow_error(err, "%d contributions (at most %d in a round)", k, ROUND_MAX_PARTICIPANTS);
    if (k == 0) {
        round_outer_step(s, NULL, rule->lr, rule->momentum);
        return 0;
    }
    uint8_t base[PLOW_HASH_LEN];
    round_state_hash(s, base);
    for (int i = 0; i < k; i++) {
        if (!cs[i]) return plow_error(err, "contribution %d is missing", i);
        if (cs[i]->round != s->round)
            return plow_error(err, "participant %u sent a contribution for round %llu, this is round %llu",
                              cs[i]->participant, (unsigned long long)cs[i]->round, (unsigned long long)s->round);
        if (memcmp(cs[i]->base, base, PLOW_HASH_LEN) != 0)
            return plow_error(err, "participant %u started from another state than this round's",
                              cs[i]->participant);
    }
    float *a = plow_alloc_aligned(s->n * sizeof(float));
    if (round_aggregate(cs, k, rule->agg, rule->trim, a, s->n, err)) {
        free(a);
        return -1;
    }
    /* An aggregate of finite values is finite, but the step itself can still
     * overflow for absurd inputs: compute into new buffers and refuse to
     * commit to a non-finite state (the state stays as it was). */
    float *w = plow_alloc_aligned(s->n * sizeof(float)), *v = plow_alloc_aligned(s->n * sizeof(float));
    outer_job o = {s->w, s->v, a, w, v, rule->lr, rule->momentum, s->n};
    tensor_parallel_for(n_chunks(s->n), outer_task, &o);
    free(a);
    for (size_t j = 0; j < s->n; j++)
        if (!finite_bits(fbits(w[j])) || !finite_bits(fbits(v[j]))) {
            free(w);
            free(v);
            return plow_error(err, "the outer step overflows at coordinate %zu (contributions too large)", j);
        }
    free(s->w);
    free(s->v);
    s->w = w;
    s->v = v;
    s->round++;
    return 0;
}

/* ---- the one-process driver ------------------------------------------------------ */

void round_config_default(round_config *c, uint32_t shards, int H, int seq) {
    memset(c, 0, sizeof *c);
    c->shards = shards;
    train_hparams_default(&c->inner, false, H, seq);
    c->inner.batch = 8;
    c->inner.warmup = H >= 10 ? 2 : 1;
    c->inner.lr = 3e-3f;
    c->inner.min_lr = 3e-3f;
    round_rule_default(&c->rule);
    c->enc = ROUND_ENC_F32;
    c->block = ROUND_BLOCK_DEFAULT;
}

int round_run(round_state *s, model *m, const dataset *d, const round_config *cfg, const uint32_t *ids,
              const bool *present, int k, round_report *rep, char err[PLOW_ERR_LEN]) {
    if (k < 0 || k > ROUND_MAX_PARTICIPANTS)
        return plow_error(err, "%d participants (at most %d in a round)", k, ROUND_MAX_PARTICIPANTS);
    if (cfg->shards == 0 || cfg->shards > ROUND_MAX_SHARDS)
        return plow_error(err, "shard count %u out of range 1..%d", cfg->shards, ROUND_MAX_SHARDS);
    if (round_rule_check(&cfg->rule, err)) return -1;
    if ((unsigned)cfg->enc >= ROUND_ENC_COUNT) return plow_error(err, "unknown encoding %d", (int)cfg->enc);
    if (cfg->enc == ROUND_ENC_INT8 && (cfg->block < 1 || cfg->block > ROUND_BLOCK_MAX))
        return plow_error(err, "int8 block %u out of range 1..%d", cfg->block, ROUND_BLOCK_MAX);
    if (train_hparams_check(&cfg->inner, &m->cfg, err)) return -1;
    if (m->n_params != s->n)
        return plow_error(err, "the model has %zu parameters, the round state %zu", m->n_params, s->n);
    for (int i = 1; i < k; i++)
        for (int j = 0; j < i; j++)
            if (ids[i] == ids[j]) return plow_error(err, "participant %u is on the list twice", ids[i]);
    round_report r;
    memset(&r, 0, sizeof r);
    r.round = s->round;
    uint8_t base[PLOW_HASH_LEN];
    round_state_hash(s, base);
    size_t n = s->n;
    float *delta = plow_alloc_aligned(n * sizeof(float));
    float *back = cfg->enc == ROUND_ENC_INT8 ? plow_alloc_aligned(n * sizeof(float)) : NULL;
    round_contrib *cs = plow_calloc(k > 0 ? (size_t)k : 1, sizeof *cs);
    const round_contrib **ptr = plow_calloc(k > 0 ? (size_t)k : 1, sizeof *ptr);
    double err2 = 0.0, norm2 = 0.0, loss = 0.0;
    int rc = -1;
    for (int i = 0; i < k; i++) {
        if (present && !present[i]) {
            r.missing++;
            continue;
        }
        dataset shard;
        round_inner_result res;
        round_contrib tmp;
        train_hparams hp;
        round_inner_hparams(&cfg->inner, s->round, ids[i], &hp);
        if (round_shard(d, cfg->shards, ids[i] % cfg->shards, hp.seq, &shard, err) ||
            round_inner_run(m, s->w, n, &shard, &hp, delta, &res, err) ||
            round_contrib_make(&tmp, s->round, ids[i], base, delta, n, cfg->enc, cfg->block, err)) {
            char who[32];
            snprintf(who, sizeof who, "participant %u", ids[i]);
            plow_error_prefix(err, who);
            goto out;
        }
        plow_buf wire = {0};
        round_contrib_serialize(&tmp, &wire);
        round_contrib_release(&tmp);
        r.bytes_sent += wire.len;
        r.bytes_f32 += round_contrib_size(n, ROUND_ENC_F32, 0);
        int prc = round_contrib_parse(&cs[r.present], wire.data, wire.len, n, err);
        plow_buf_release(&wire);
        if (prc) goto out;
        if (back) {
            round_contrib_decode(&cs[r.present], back);
            for (size_t j = 0; j < n; j++) {
                double e = (double)delta[j] - (double)back[j];
                err2 += e * e;
                norm2 += (double)delta[j] * (double)delta[j];
                if (fabs(e) > r.quant_max) r.quant_max = fabs(e);
            }
        }
        loss += (double)res.last_loss;
        ptr[r.present] = &cs[r.present];
        r.present++;
    }
    if (round_apply(s, ptr, r.present, &cfg->rule, err)) goto out;
    r.quant_rel = norm2 > 0 ? sqrt(err2 / norm2) : 0.0;
    r.inner_loss = r.present ? (float)(loss / r.present) : 0.0f;
    round_state_hash(s, r.hash);
    if (rep) *rep = r;
    rc = 0;
out:
    for (int i = 0; i < k; i++) round_contrib_release(&cs[i]);
    free(cs);
    free(ptr);
    free(delta);
    free(back);
    return rc;
}

int round_eval(model *m, const float *w, size_t n, const dataset *d, const train_hparams *hp, int batches,
               float *loss, char err[PLOW_ERR_LEN]) {
    if (n != m->n_params)
        return plow_error(err, "weights have %zu values, the model has %zu parameters", n, m->n_params);
    if (batches < 1) return plow_error(err, "need at least one validation batch");
    if (d->n_val <= (size_t)(hp->seq > 0 ? hp->seq : 0))
        return plow_error(err, "validation split has %zu tokens, a window needs %d", d->n_val, hp->seq + 1);
    train_state *s;
    if (train_state_new(&s, m, NULL, hp, d->hash, err)) return -1;
    size_t wn;
    float *W = train_state_weights(s, &wn);
    memcpy(W, w, n * sizeof(float));
    *loss = train_eval(s, d->val, d->n_val, batches);
    train_state_free(s);
    return 0;
}
