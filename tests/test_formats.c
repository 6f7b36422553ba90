/*
 * test_formats.c — safetensors and GGUF: round trips, byte-exact
 * determinism, one crafted file per validation rule, truncation at every
 * length, and seeded byte-flip fuzzing (must never crash).
 */
#include "../src/base/plow.h"

#include <inttypes.h>

#include "../src/model/gguf.h"
#include "../src/model/safetensors.h"
#include "test.h"

/* xorshift64*: a fixed, seeded stream for the fuzz loops. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + 7 * i);
}

/* ---- safetensors ------------------------------------------------------- */

/* A small writer used by several tests: F32 [2,3], I8 [4], a BF16 scalar,
 * a zero-size U8 [0,5], and two metadata entries that need escaping. */
static float st_a[6] = {1, -2, 3.5f, 0, 1e-30f, -0.0f};
static int8_t st_b[4] = {-128, -1, 0, 127};
static uint16_t st_c = 0x3f80;

static st_writer *st_sample(void) {
    st_writer *w = st_writer_new();
    int64_t sa[2] = {2, 3}, sb[1] = {4}, sz[2] = {0, 5};
    st_writer_meta(w, "format", "pt");
    st_writer_meta(w, "note \"q\"\\", "tab\there \xc3\xa9\n");
    st_writer_add(w, "layer.0.w", ST_F32, 2, sa, st_a);
    st_writer_add(w, "b", ST_I8, 1, sb, st_b);
    st_writer_add(w, "scalar", ST_BF16, 0, NULL, &st_c);
    st_writer_add(w, "empty", ST_U8, 2, sz, NULL);
    return w;
}

static void check_st_sample(const st_file *f) {
    CHECK(st_count(f) == 4);
    if (st_count(f) != 4) return;
    const char *names[4] = {"layer.0.w", "b", "scalar", "empty"};
    /* Offset order equals insertion order; "empty" (0 bytes) ends the data. */
    for (size_t i = 0; i < 4; i++) CHECKF(strcmp(st_get(f, i)->name, names[i]) == 0, "tensor %zu", i);
    const st_tensor *a = st_find(f, "layer.0.w");
    CHECK(a && a->dtype == ST_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3);
    CHECK(a && a->numel == 6 && a->nbytes == 24 && memcmp(a->data, st_a, 24) == 0);
    const st_tensor *b = st_find(f, "b");
    CHECK(b && b->dtype == ST_I8 && b->ndim == 1 && b->shape[0] == 4 && memcmp(b->data, st_b, 4) == 0);
    const st_tensor *c = st_find(f, "scalar");
    CHECK(c && c->dtype == ST_BF16 && c->ndim == 0 && c->numel == 1 && c->nbytes == 2);
    CHECK(c && memcmp(c->data, &st_c, 2) == 0);
    const st_tensor *e = st_find(f, "empty");
    CHECK(e && e->dtype == ST_U8 && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 5 && e->nbytes == 0);
    CHECK(st_find(f, "missing") == NULL);
    CHECK(st_meta_count(f) == 2);
    CHECK(st_meta_get(f, "format") && strcmp(st_meta_get(f, "format"), "pt") == 0);
    const char *v = st_meta_get(f, "note \"q\"\\");
    CHECK(v && strcmp(v, "tab\there \xc3\xa9\n") == 0);
    CHECK(st_meta_get(f, "nope") == NULL);
    CHECK(strcmp(st_meta_key(f, 0), "format") == 0 && strcmp(st_meta_value(f, 0), "pt") == 0);
}

static void test_st_roundtrip(void) {
    char err[PLOW_ERR_LEN] = "";
    st_writer *w = st_sample();
    plow_buf b = {0};
    CHECKF(st_writer_serialize(w, &b, err) == 0, "%s", err);
    uint64_t hlen = plow_get_u64(b.data);
    CHECK(hlen % 8 == 0 && b.len == 8 + hlen + 24 + 4 + 2);
    CHECK(b.data[8] == '{' && b.data[8 + hlen - 1] != 0);
    st_file *f = NULL;
    CHECKF(st_parse(b.data, b.len, &f, err) == 0, "%s", err);
    if (f) check_st_sample(f);
    st_free(f);

    char path[512];
    snprintf(path, sizeof path, "%s/sample.safetensors", test_tmpdir());
    CHECKF(st_writer_save(w, path, err) == 0, "%s", err);
    f = NULL;
    CHECKF(st_load(path, &f, err) == 0, "%s", err);
    if (f) check_st_sample(f);
    st_free(f);
    CHECK(st_load("/nonexistent/x.safetensors", &f, err) == -1 && f == NULL && err[0]);

    /* An empty file set: "{}" padded to 8 bytes, no data. */
    st_writer *e = st_writer_new();
    plow_buf eb = {0};
    CHECK(st_writer_serialize(e, &eb, err) == 0 && eb.len == 16 && memcmp(eb.data + 8, "{}      ", 8) == 0);
    CHECKF(st_parse(eb.data, eb.len, &f, err) == 0 && st_count(f) == 0 && st_meta_count(f) == 0, "%s", err);
    st_free(f);
    plow_buf_release(&eb);
    st_writer_free(e);

    plow_buf_release(&b);
    st_writer_free(w);
    st_free(NULL);
    st_writer_free(NULL);
}

static void test_st_deterministic(void) {
    char err[PLOW_ERR_LEN];
    st_writer *w1 = st_sample(), *w2 = st_sample();
    plow_buf b1 = {0}, b2 = {0}, b3 = {0};
    CHECK(st_writer_serialize(w1, &b1, err) == 0);
    CHECK(st_writer_serialize(w2, &b2, err) == 0);
    CHECK(st_writer_serialize(w1, &b3, err) == 0);
    CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    CHECK(b1.len == b3.len && memcmp(b1.data, b3.data, b1.len) == 0);

    /* Known answer: the exact header bytes. */
    st_writer *w = st_writer_new();
    float x[2] = {1, 2};
    int64_t s[1] = {2};
    st_writer_meta(w, "format", "pt");
    st_writer_add(w, "x", ST_F32, 1, s, x);
    plow_buf b = {0};
    CHECK(st_writer_serialize(w, &b, err) == 0);
    const char *want =
        "{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t wl = strlen(want), padded = (wl + 7) / 8 * 8;
    CHECK(plow_get_u64(b.data) == padded && b.len == 8 + padded + 8);
    CHECK(memcmp(b.data + 8, want, wl) == 0);
    for (size_t i = wl; i < padded; i++) CHECK(b.data[8 + i] == ' ');
    CHECK(memcmp(b.data + 8 + padded, x, 8) == 0);
    plow_buf_release(&b);
    st_writer_free(w);

    plow_buf_release(&b1);
    plow_buf_release(&b2);
    plow_buf_release(&b3);
    st_writer_free(w1);
    st_writer_free(w2);
}

static void expect_writer_fail(st_writer *w, const char *want) {
    char err[PLOW_ERR_LEN] = "";
    plow_buf b = {0};
    CHECKF(st_writer_serialize(w, &b, err) == -1, "writer accepted (want '%s')", want);
    CHECKF(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    plow_buf_release(&b);
    st_writer_free(w);
}

static void test_st_writer_errors(void) {
    float x[4] = {0};
    int64_t s1[1] = {1}, sneg[2] = {2, -1}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    int64_t sbig[3] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    st_writer *w;

    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 1, s1, x);
    st_writer_add(w, "a", ST_F32, 1, s1, x);
    expect_writer_fail(w, "added twice");
    w = st_writer_new();
    st_writer_add(w, "", ST_F32, 1, s1, x);
    expect_writer_fail(w, "empty name");
    w = st_writer_new();
    st_writer_add(w, "__metadata__", ST_F32, 1, s1, x);
    expect_writer_fail(w, "reserved");
    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 2, sneg, x);
    expect_writer_fail(w, "negative");
    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 9, s9, x);
    expect_writer_fail(w, "dims");
    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 3, sbig, x);
    expect_writer_fail(w, "overflows");
    w = st_writer_new();
    st_writer_add(w, "bad\xff", ST_F32, 1, s1, x);
    expect_writer_fail(w, "UTF-8");
    w = st_writer_new();
    st_writer_add(w, "a", ST_F32, 1, s1, NULL);
    expect_writer_fail(w, "NULL");
    w = st_writer_new();
    st_writer_meta(w, "k", "1");
    st_writer_meta(w, "k", "2");
    expect_writer_fail(w, "metadata key 'k' was added twice");
}

/* Builds a raw safetensors file from header text and data_len pattern bytes. */
static uint8_t *st_raw(const char *json, size_t data_len, size_t *size) {
    size_t n = strlen(json);
    *size = 8 + n + data_len;
    uint8_t *b = plow_alloc(*size);
    plow_put_u64(b, n);
    memcpy(b + 8, json, n);
    fill_pattern(b + 8 + n, data_len, 1);
    return b;
}

static void expect_st_fail(const uint8_t *data, size_t size, const char *want, const char *what) {
    char err[PLOW_ERR_LEN] = "";
    st_file *f = (st_file *)1;
    int rc = st_parse(data, size, &f, err);
    CHECKF(rc == -1 && f == NULL, "%s: parser accepted it", what);
    CHECKF(rc == 0 || err[0], "%s: empty error message", what);
    if (want) CHECKF(rc == 0 || strstr(err, want), "%s: error '%s' lacks '%s'", what, err, want);
    if (rc == 0) st_free(f);
}

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const struct {
    const char *json;
    size_t data;
    const char *want;
} st_bad[] = {
    {"{\"a\":", 0, "not valid JSON"},
    {"", 0, "not valid JSON"},
    {"[1,2]", 0, "not a JSON object"},
    {"\"str\"", 0, "not a JSON object"},
    {"{} x", 0, "unexpected bytes"},
    {"{\"\xff\":1}", 0, "UTF-8"},
    {"{\"a\":5}", 0, "not a JSON object"},
    {"{" T("a", "F8", "[1]", 0, 1) "}", 1, "unknown dtype 'F8'"},
    {"{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is not a string"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype"},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing data_offsets"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field 'x'"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "appears twice"},
    {"{" T("a", "F32", "7", 0, 4) "}", 4, "shape is not an array"},
    {"{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "9 dims"},
    {"{" T("a", "F32", "[-1]", 0, 4) "}", 4, "shape[0] is negative"},
    {"{" T("a", "F32", "[1.5]", 0, 4) "}", 4, "not an integer"},
    {"{" T("a", "F32", "[1.0]", 0, 4) "}", 4, "non-integer number '1.0'"},
    {"{" T("a", "F32", "[1e0]", 0, 4) "}", 4, "non-integer number '1e0'"},
    {"{" T("a", "F32", "[\"1\"]", 0, 4) "}", 4, "not a number"},
    {"{" T("a", "F32", "[1e300]", 0, 4) "}", 4, "too large"},
    {"{" T("a", "F32", "[18446744073709551616]", 0, 4) "}", 4, "too large"},
    {"{" T("a", "F32", "[4294967296,4294967296,4294967296]", 0, 4) "}", 4, "overflows"},
    {"{" T("a", "U8", "[4294967296,4294967296]", 0, 4) "}", 4, "overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 4, "two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "two integers"},
    {"{" T("a", "F32", "[1]", -4, 0) "}", 4, "negative"},
    {"{" T("a", "F32", "[0]", 4, 0) "}", 4, "is after end"},
    {"{" T("a", "F32", "[1]", 0, 8) "}", 4, "past the end"},
    {"{" T("a", "F32", "[1]", 0, 8) "}", 8, "need 4"},
    {"{" T("a", "F32", "[2]", 0, 4) "}", 4, "need 8"},
    {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, "overlap"},
    {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[0]", 4, 4) "," T("c", "F32", "[0]", 8, 8) "}", 8, "overlap"},
    {"{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 12, 20) "}", 20, "hole of 4 bytes"},
    {"{" T("a", "F32", "[2]", 4, 12) "}", 12, "hole"},
    {"{" T("a", "F32", "[2]", 0, 8) "}", 12, "4 unused bytes"},
    {"{}", 3, "3 unused bytes"},
    {"{" T("a", "F32", "[2]", 0, 8) "," T("a", "F32", "[2]", 8, 16) "}", 16, "tensor 'a' twice"},
    {"{" T("", "F32", "[2]", 0, 8) "}", 8, "empty name"},
    {"{" T("a\\u0000b", "F32", "[2]", 0, 8) "}", 8, "\\u0000"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "value for 'k' is not a string"},
    {"{\"__metadata__\":{\"k\":null}}", 0, "not a string"},
    {"{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is not a JSON object"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ twice"},
    {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "key 'k' twice"},
};

static void test_st_malformed(void) {
    for (size_t i = 0; i < sizeof st_bad / sizeof st_bad[0]; i++) {
        size_t size;
        uint8_t *b = st_raw(st_bad[i].json, st_bad[i].data, &size);
        char what[64];
        snprintf(what, sizeof what, "st_bad[%zu]", i);
        if (st_bad[i].want) expect_st_fail(b, size, st_bad[i].want, what);
        free(b);
    }
    /* Sanity: the crafted-file helpers do make valid files. */
    char err[PLOW_ERR_LEN] = "";
    const char *good[] = {
        "{}",
        "{" T("a", "F32", "[]", 0, 4) "}",
        "{" T("b", "F32", "[2]", 8, 16) "," T("a", "F32", "[2]", 0, 8) "}   \n",
        "{\"__metadata__\":{\"k\":\"v\"}," T("z", "BOOL", "[0,3]", 0, 0) "," T("a", "I16", "[2]", 0, 4) "}",
    };
    const size_t good_data[] = {0, 4, 16, 4};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t size;
        uint8_t *b = st_raw(good[i], good_data[i], &size);
        st_file *f = NULL;
        CHECKF(st_parse(b, size, &f, err) == 0, "good[%zu]: %s", i, err);
        st_free(f);
        free(b);
    }

    /* Length prefix problems, crafted by hand. */
    uint8_t raw[32] = {0};
    expect_st_fail(raw, 0, "too short", "empty file");
    expect_st_fail(raw, 7, "too short", "7-byte file");
    plow_put_u64(raw, 100);
    memcpy(raw + 8, "{}", 2);
    expect_st_fail(raw, 32, "larger than the 24 bytes", "header length past EOF");
    plow_put_u64(raw, UINT64_MAX);
    expect_st_fail(raw, 32, "exceeds the limit", "header length 2^64-1");
    plow_put_u64(raw, (uint64_t)ST_MAX_HEADER + 1);
    expect_st_fail(raw, 32, "exceeds the limit", "header length 100MiB+1");
    plow_put_u64(raw, 0);
    expect_st_fail(raw, 8, "not valid JSON", "empty header");
    plow_put_u64(raw, 3);
    memcpy(raw + 8, "{}\0", 3);
    expect_st_fail(raw, 11, "unexpected bytes", "NUL after header");
}

static void test_st_truncated(void) {
    char err[PLOW_ERR_LEN];
    st_writer *w = st_sample();
    plow_buf b = {0};
    CHECK(st_writer_serialize(w, &b, err) == 0);
    /* Every strict prefix must fail: the tensors must cover the data exactly. */
    for (size_t n = 0; n < b.len; n++) {
        char what[64];
        snprintf(what, sizeof what, "prefix of %zu bytes", n);
        expect_st_fail(b.data, n, NULL, what);
    }
    plow_buf_append(&b, "", 1);
    expect_st_fail(b.data, b.len, "unused bytes", "one byte appended");
    plow_buf_release(&b);
    st_writer_free(w);
}

/* Reads every byte a parsed file claims to hold, so ASan sees bad pointers. */
static unsigned touch_st(const st_file *f) {
    unsigned sum = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_get(f, i);
        sum += (unsigned)strlen(t->name);
        for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k];
        if (st_find(f, t->name) != t) sum++;
    }
    for (size_t i = 0; i < st_meta_count(f); i++)
        sum += (unsigned)strlen(st_meta_key(f, i)) + (unsigned)strlen(st_meta_value(f, i));
    return sum;
}

static void test_st_fuzz(void) {
    char err[PLOW_ERR_LEN];
    st_writer *w = st_sample();
    plow_buf b = {0};
    CHECK(st_writer_serialize(w, &b, err) == 0);
    uint8_t *m = plow_alloc(b.len);
    uint64_t seed = 0x5eed5afe7e4505ULL;
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(m, b.data, b.len);
        int flips = 1 + (int)(rng_next(&seed) % 4);
        for (int k = 0; k < flips; k++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r % b.len);
            /* Mostly in the header, where the structure is. */
            if (r & 0x100000) at = (size_t)(r >> 32) % (b.len < 200 ? b.len : 200);
            m[at] = (r & 0x200000) ? (uint8_t)(r >> 24) : (uint8_t)(m[at] ^ (1u << ((r >> 40) & 7)));
        }
        size_t len = (rng_next(&seed) % 8 == 0) ? (size_t)(rng_next(&seed) % b.len) : b.len;
        st_file *f = NULL;
        err[0] = 0;
        if (st_parse(m, len, &f, err) == 0) {
            accepted++;
            (void)touch_st(f);
            st_free(f);
        } else {
            CHECKF(err[0] && f == NULL, "iteration %d: failure without a message", it);
        }
    }
    CHECK(accepted > 0); /* flips inside tensor data keep the file valid */
    free(m);
    plow_buf_release(&b);
    st_writer_free(w);
}

/* ---- GGUF ------------------------------------------------------------------ */

static float g_w[15], g_v[8], g_x4[12];
static uint16_t g_h[8];

static const char tok_bin[] = {'a', 0, (char)0xff, 'b'};

static gguf_writer *gguf_sample(void) {
    for (int i = 0; i < 15; i++) g_w[i] = (float)i * 0.5f - 3;
    for (int i = 0; i < 8; i++) g_v[i] = (float)(i * i);
    for (int i = 0; i < 12; i++) g_x4[i] = -(float)i;
    for (int i = 0; i < 8; i++) g_h[i] = (uint16_t)(0x3c00 + i);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_kv_str(w, "general.architecture", "llama");
    gguf_writer_kv_u32(w, "llama.block_count", 6);
    gguf_writer_kv_i32(w, "test.neg", -123456);
    gguf_writer_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_writer_kv_bool(w, "test.yes", true);
    gguf_writer_kv_bool(w, "test.no", false);
    gguf_writer_kv_u64(w, "llama.context_length", UINT64_C(0x123456789abcdef0));
    gguf_writer_kv_strn(w, "test.bytes", tok_bin, sizeof tok_bin);
    const char *toks[4] = {"<s>", "", tok_bin, "hello"};
    const size_t lens[4] = {3, 0, sizeof tok_bin, 5};
    gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 4);
    const char *merges[2] = {"a b", "ab c"};
    gguf_writer_kv_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2);
    int32_t ty[3] = {1, -2, INT32_MAX};
    gguf_writer_kv_arr_i32(w, "tokenizer.ggml.token_type", ty, 3);
    float sc[2] = {-1.5f, 3.25f};
    gguf_writer_kv_arr_f32(w, "tokenizer.ggml.scores", sc, 2);
    gguf_writer_kv_arr_i32(w, "test.empty", NULL, 0);
    int64_t s2[2] = {3, 5}, s1[1] = {8}, s4[4] = {2, 1, 3, 2}, sh[2] = {4, 2};
    gguf_writer_tensor_f32(w, "token_embd.weight", 2, s2, g_w);
    gguf_writer_tensor_f32(w, "output_norm.weight", 1, s1, g_v);
    gguf_writer_tensor_f32(w, "four.d", 4, s4, g_x4);
    gguf_writer_tensor(w, "half", GGUF_TENSOR_F16, 2, sh, g_h);
    return w;
}

static void check_gguf_sample(const gguf_file *f) {
    char err[PLOW_ERR_LEN] = "";
    CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32);
    CHECK(gguf_kv_count(f) == 14); /* 13 added + general.alignment */
    if (gguf_kv_count(f) != 14) return;
    CHECK(strcmp(gguf_kv_key(f, 0), "general.architecture") == 0);
    CHECK(gguf_kv_type(f, 0) == GGUF_VALUE_STRING);
    CHECK(strcmp(gguf_kv_key(f, 13), "general.alignment") == 0 && gguf_kv_type(f, 13) == GGUF_VALUE_UINT32);
    CHECK(gguf_kv_find(f, "llama.block_count") == 1 && gguf_kv_find(f, "nope") == -1);

    const char *s;
    size_t len;
    CHECK(gguf_get_str(f, "general.architecture", &s, &len, err) == 0 && len == 5 && memcmp(s, "llama", 5) == 0);
    CHECK(gguf_get_str(f, "test.bytes", &s, &len, err) == 0 && len == 4 && memcmp(s, tok_bin, 4) == 0);
    uint32_t u32 = 0;
    CHECK(gguf_get_u32(f, "llama.block_count", &u32, err) == 0 && u32 == 6);
    CHECK(gguf_get_u32(f, "general.alignment", &u32, err) == 0 && u32 == 32);
    int32_t i32 = 0;
    CHECK(gguf_get_i32(f, "test.neg", &i32, err) == 0 && i32 == -123456);
    float f32 = 0;
    CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &f32, err) == 0 && f32 == 1e-5f);
    bool bv = false;
    CHECK(gguf_get_bool(f, "test.yes", &bv, err) == 0 && bv);
    CHECK(gguf_get_bool(f, "test.no", &bv, err) == 0 && !bv);
    uint64_t u64 = 0;
    CHECK(gguf_get_u64(f, "llama.context_length", &u64, err) == 0 && u64 == UINT64_C(0x123456789abcdef0));

    gguf_value_type et;
    size_t n = 0;
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n, err) == 0 && et == GGUF_VALUE_STRING && n == 4);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 0, &s, &len, err) == 0 && len == 3 && memcmp(s, "<s>", 3) == 0);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 1, &s, &len, err) == 0 && len == 0);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 2, &s, &len, err) == 0 && len == 4 && memcmp(s, tok_bin, 4) == 0);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 3, &s, &len, err) == 0 && len == 5 && memcmp(s, "hello", 5) == 0);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.merges", 1, &s, &len, err) == 0 && len == 4 && memcmp(s, "ab c", 4) == 0);
    int32_t ty[3] = {0};
    CHECK(gguf_get_arr_i32(f, "tokenizer.ggml.token_type", ty, 3, err) == 0);
    CHECK(ty[0] == 1 && ty[1] == -2 && ty[2] == INT32_MAX);
    float sc[2] = {0};
    CHECK(gguf_get_arr_f32(f, "tokenizer.ggml.scores", sc, 2, err) == 0 && sc[0] == -1.5f && sc[1] == 3.25f);
    CHECK(gguf_get_arr_info(f, "test.empty", &et, &n, err) == 0 && et == GGUF_VALUE_INT32 && n == 0);

    /* Typed getters refuse the wrong type, a missing key, a bad index. */
    CHECK(gguf_get_u32(f, "test.neg", &u32, err) == -1 && strstr(err, "has type INT32, expected UINT32"));
    CHECK(gguf_get_str(f, "llama.block_count", &s, &len, err) == -1 && strstr(err, "expected STRING"));
    CHECK(gguf_get_f32(f, "missing.key", &f32, err) == -1 && strstr(err, "not found"));
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 4, &s, &len, err) == -1 && strstr(err, "index 4"));
    CHECK(gguf_get_arr_i32(f, "tokenizer.ggml.scores", ty, 2, err) == -1 && strstr(err, "array of FLOAT32"));
    CHECK(gguf_get_arr_i32(f, "tokenizer.ggml.token_type", ty, 2, err) == -1 && strstr(err, "3 elements"));
    CHECK(gguf_get_arr_info(f, "test.yes", &et, &n, err) == -1 && strstr(err, "expected ARRAY"));

    CHECK(gguf_tensor_count(f) == 4);
    if (gguf_tensor_count(f) != 4) return;
    const gguf_tensor *t = gguf_tensor_get(f, 0);
    CHECK(strcmp(t->name, "token_embd.weight") == 0 && t->type == GGUF_TENSOR_F32 && t->n_dims == 2);
    CHECK(t->ne[0] == 5 && t->ne[1] == 3 && t->ne[2] == 1 && t->ne[3] == 1); /* GGML order */
    CHECK(t->numel == 15 && t->nbytes == 60 && t->offset == 0 && memcmp(t->data, g_w, 60) == 0);
    t = gguf_tensor_find(f, "output_norm.weight");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 8 && t->offset == 64 && memcmp(t->data, g_v, 32) == 0);
    t = gguf_tensor_find(f, "four.d");
    CHECK(t && t->n_dims == 4 && t->ne[0] == 2 && t->ne[1] == 3 && t->ne[2] == 1 && t->ne[3] == 2);
    CHECK(t && t->offset == 96 && memcmp(t->data, g_x4, 48) == 0);
    t = gguf_tensor_find(f, "half");
    CHECK(t && t->type == GGUF_TENSOR_F16 && t->ne[0] == 2 && t->ne[1] == 4 && t->nbytes == 16);
    CHECK(t && t->offset == 160 && memcmp(t->data, g_h, 16) == 0);
    CHECK(gguf_tensor_find(f, "nope") == NULL);
    for (size_t i = 0; i < gguf_tensor_count(f); i++) CHECK(gguf_tensor_get(f, i)->offset % 32 == 0);
}

static void test_gguf_roundtrip(void) {
    char err[PLOW_ERR_LEN] = "";
    gguf_writer *w = gguf_sample();
    plow_buf b = {0};
    CHECKF(gguf_writer_serialize(w, &b, err) == 0, "%s", err);
    CHECK(b.len % 32 == 0);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(b.data, b.len, &f, err) == 0, "%s", err);
    if (f) check_gguf_sample(f);
    gguf_free(f);

    char path[512];
    snprintf(path, sizeof path, "%s/sample.gguf", test_tmpdir());
    CHECKF(gguf_writer_save(w, path, err) == 0, "%s", err);
    f = NULL;
    CHECKF(gguf_load(path, &f, err) == 0, "%s", err);
    if (f) check_gguf_sample(f);
    gguf_free(f);
    CHECK(gguf_load("/nonexistent/x.gguf", &f, err) == -1 && f == NULL && err[0]);

    /* Version 2 has the same layout and is accepted. */
    b.data[4] = 2;
    CHECKF(gguf_parse(b.data, b.len, &f, err) == 0 && gguf_version(f) == 2, "%s", err);
    gguf_free(f);

    /* A writer with nothing added still makes a valid file. */
    gguf_writer *e = gguf_writer_new();
    plow_buf eb = {0};
    CHECK(gguf_writer_serialize(e, &eb, err) == 0);
    CHECKF(gguf_parse(eb.data, eb.len, &f, err) == 0 && gguf_tensor_count(f) == 0 && gguf_kv_count(f) == 1, "%s", err);
    gguf_free(f);
    plow_buf_release(&eb);
    gguf_writer_free(e);

    plow_buf_release(&b);
    gguf_writer_free(w);
    gguf_free(NULL);
    gguf_writer_free(NULL);
}

static void test_gguf_layout(void) {
    /* Check the bytes themselves, so a mistake shared by writer and reader
     * (say, dims in the wrong order) cannot hide. */
    char err[PLOW_ERR_LEN];
    gguf_writer *w = gguf_writer_new();
    gguf_writer_kv_u32(w, "a.b", 7);
    float d[6] = {1, 2, 3, 4, 5, 6};
    int64_t s[2] = {2, 3}; /* 2 rows of 3 */
    gguf_writer_tensor_f32(w, "t", 2, s, d);
    plow_buf b = {0};
    CHECK(gguf_writer_serialize(w, &b, err) == 0);
    const uint8_t *p = b.data;
    CHECK(memcmp(p, "GGUF", 4) == 0 && plow_get_u32(p + 4) == 3);
    CHECK(plow_get_u64(p + 8) == 1 && plow_get_u64(p + 16) == 2);
    p += 24;
    CHECK(plow_get_u64(p) == 3 && memcmp(p + 8, "a.b", 3) == 0);
    CHECK(plow_get_u32(p + 11) == GGUF_VALUE_UINT32 && plow_get_u32(p + 15) == 7);
    p += 19;
    CHECK(plow_get_u64(p) == 17 && memcmp(p + 8, "general.alignment", 17) == 0);
    CHECK(plow_get_u32(p + 25) == GGUF_VALUE_UINT32 && plow_get_u32(p + 29) == 32);
    p += 33;
    CHECK(plow_get_u64(p) == 1 && p[8] == 't');
    CHECK(plow_get_u32(p + 9) == 2);                                   /* n_dims */
    CHECK(plow_get_u64(p + 13) == 3 && plow_get_u64(p + 21) == 2);     /* ne = {cols, rows} */
    CHECK(plow_get_u32(p + 29) == GGUF_TENSOR_F32 && plow_get_u64(p + 33) == 0);
    size_t end_info = (size_t)(p + 41 - b.data), data_start = (end_info + 31) / 32 * 32;
    for (size_t i = end_info; i < data_start; i++) CHECK(b.data[i] == 0);
    CHECK(b.len == data_start + 32 && memcmp(b.data + data_start, d, 24) == 0);
    for (size_t i = data_start + 24; i < b.len; i++) CHECK(b.data[i] == 0);

    /* Deterministic: the same calls give the same bytes. */
    gguf_writer *w1 = gguf_sample(), *w2 = gguf_sample();
    plow_buf b1 = {0}, b2 = {0}, b3 = {0};
    CHECK(gguf_writer_serialize(w1, &b1, err) == 0 && gguf_writer_serialize(w2, &b2, err) == 0);
    CHECK(gguf_writer_serialize(w1, &b3, err) == 0);
    CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    CHECK(b1.len == b3.len && memcmp(b1.data, b3.data, b1.len) == 0);
    plow_buf_release(&b1);
    plow_buf_release(&b2);
    plow_buf_release(&b3);
    gguf_writer_free(w1);
    gguf_writer_free(w2);
    plow_buf_release(&b);
    gguf_writer_free(w);
}

static void expect_gwriter_fail(gguf_writer *w, const char *want) {
    char err[PLOW_ERR_LEN] = "";
    plow_buf b = {0};
    CHECKF(gguf_writer_serialize(w, &b, err) == -1, "writer accepted (want '%s')", want);
    CHECKF(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    plow_buf_release(&b);
    gguf_writer_free(w);
}

static void test_gguf_writer_errors(void) {
    float x[4] = {0};
    int64_t s1[1] = {1}, s0[2] = {2, 0}, s5[5] = {1, 1, 1, 1, 1};
    gguf_writer *w;
    w = gguf_writer_new();
    gguf_writer_kv_u32(w, "k", 1);
    gguf_writer_kv_i32(w, "k", 1);
    expect_gwriter_fail(w, "key 'k' was added twice");
    w = gguf_writer_new();
    gguf_writer_kv_u32(w, "", 1);
    expect_gwriter_fail(w, "empty key");
    w = gguf_writer_new();
    gguf_writer_kv_u32(w, "general.alignment", 64);
    expect_gwriter_fail(w, "reserved");
    w = gguf_writer_new();
    gguf_writer_tensor_f32(w, "a", 1, s1, x);
    gguf_writer_tensor_f32(w, "a", 1, s1, x);
    expect_gwriter_fail(w, "tensor 'a' was added twice");
    w = gguf_writer_new();
    gguf_writer_tensor_f32(w, "0123456789012345678901234567890123456789012345678901234567890123", 1, s1, x);
    expect_gwriter_fail(w, "longer than 63");
    w = gguf_writer_new();
    gguf_writer_tensor_f32(w, "a", 2, s0, x);
    expect_gwriter_fail(w, "shape[1] = 0");
    w = gguf_writer_new();
    gguf_writer_tensor_f32(w, "a", 5, s5, x);
    expect_gwriter_fail(w, "5 dims");
    w = gguf_writer_new();
    gguf_writer_tensor_f32(w, "a", 0, s1, x);
    expect_gwriter_fail(w, "0 dims");
}

/* Hand-made GGUF pieces for crafted files. */
static void g_str(plow_buf *b, const char *s) {
    plow_buf_u64(b, strlen(s));
    plow_buf_append(b, s, strlen(s));
}

static void g_head(plow_buf *b, uint32_t version, uint64_t n_t, uint64_t n_kv) {
    plow_buf_append(b, "GGUF", 4);
    plow_buf_u32(b, version);
    plow_buf_u64(b, n_t);
    plow_buf_u64(b, n_kv);
}

static void g_kv_u32(plow_buf *b, const char *key, uint32_t type, uint32_t v) {
    g_str(b, key);
    plow_buf_u32(b, type);
    plow_buf_u32(b, v);
}

static void g_tinfo(plow_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                    uint64_t offset) {
    g_str(b, name);
    plow_buf_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) plow_buf_u64(b, ne[i]);
    plow_buf_u32(b, type);
    plow_buf_u64(b, offset);
}

static void g_pad_data(plow_buf *b, size_t data_len) {
    while (b->len % 32) plow_buf_append(b, "", 1);
    for (size_t i = 0; i < data_len; i++) {
        uint8_t v = (uint8_t)i;
        plow_buf_append(b, &v, 1);
    }
}

static void expect_gguf_fail(plow_buf *b, const char *want, const char *what) {
    char err[PLOW_ERR_LEN] = "";
    gguf_file *f = (gguf_file *)1;
    int rc = gguf_parse(b->data, b->len, &f, err);
    CHECKF(rc == -1 && f == NULL, "%s: parser accepted it", what);
    CHECKF(rc == 0 || err[0], "%s: empty error message", what);
    if (want) CHECKF(rc == 0 || strstr(err, want), "%s: error '%s' lacks '%s'", what, err, want);
    if (rc == 0) gguf_free(f);
    plow_buf_release(b);
}

/* One f32 tensor file with a given tensor info, for the tensor rules. */
static void g_one_tensor(plow_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                         uint32_t type, uint64_t offset, size_t data_len) {
    g_head(b, 3, 1, 0);
    g_tinfo(b, name, n_dims, ne, type, offset);
    g_pad_data(b, data_len);
}

static void test_gguf_malformed(void) {
    char err[PLOW_ERR_LEN] = "";
    plow_buf b = {0};
    uint64_t ne4[1] = {4}, ne2x2[2] = {2, 2}, ne0[1] = {0}, nebig[2] = {UINT64_C(1) << 40, UINT64_C(1) << 40};
    uint64_t ne31[1] = {31}, neneg[1] = {UINT64_C(1) << 63};

    /* Sanity: the builder makes a valid file. */
    g_one_tensor(&b, "w", 1, ne4, GGUF_TENSOR_F32, 0, 16);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(b.data, b.len, &f, err) == 0 && gguf_tensor_count(f) == 1, "%s", err);
    gguf_free(f);
    plow_buf_release(&b);

    /* Header. */
    plow_buf_append(&b, "GGU", 3);
    expect_gguf_fail(&b, "bad magic", "3-byte file");
    g_head(&b, 3, 0, 0);
    b.data[3] = 'X';
    expect_gguf_fail(&b, "bad magic", "magic GGUX");
    g_head(&b, 1, 0, 0);
    expect_gguf_fail(&b, "version 1", "version 1");
    g_head(&b, 4, 0, 0);
    expect_gguf_fail(&b, "unsupported GGUF version 4", "version 4");
    g_head(&b, 0x03000000, 0, 0);
    expect_gguf_fail(&b, "big-endian", "big-endian version");
    g_head(&b, 3, 0, 0);
    b.len = 15;
    expect_gguf_fail(&b, "while reading the tensor count", "truncated header");
    g_head(&b, 3, 0, UINT64_C(1) << 62);
    expect_gguf_fail(&b, "KV count", "huge KV count");
    g_head(&b, 3, UINT64_MAX, 0);
    expect_gguf_fail(&b, "tensor count", "huge tensor count");
    g_head(&b, 3, 2, 0);
    g_tinfo(&b, "w", 1, ne4, GGUF_TENSOR_F32, 0);
    expect_gguf_fail(&b, "tensor count 2 cannot fit", "tensor count larger than the file holds");

    /* KVs. */
    g_head(&b, 3, 0, 1);
    plow_buf_u64(&b, UINT64_C(1) << 63);
    plow_buf_append(&b, "key-and-more", 12);
    expect_gguf_fail(&b, "length 9223372036854775808", "key length 2^63");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_STRING);
    plow_buf_u64(&b, UINT64_C(1) << 63);
    plow_buf_append(&b, "value", 5);
    expect_gguf_fail(&b, "length 9223372036854775808", "string value length 2^63");
    g_head(&b, 3, 0, 1);
    g_kv_u32(&b, "k", 13, 0);
    expect_gguf_fail(&b, "unknown value type 13", "value type 13");
    g_head(&b, 3, 0, 1);
    g_kv_u32(&b, "", GGUF_VALUE_UINT32, 0);
    plow_buf_append(&b, "pad", 3);
    expect_gguf_fail(&b, "key 0 is empty", "empty key");
    g_head(&b, 3, 0, 1);
    plow_buf_u64(&b, 3);
    plow_buf_append(&b, "a\0b", 3);
    plow_buf_u32(&b, GGUF_VALUE_UINT32);
    plow_buf_u32(&b, 0);
    expect_gguf_fail(&b, "NUL", "NUL in key");
    g_head(&b, 3, 0, 2);
    g_kv_u32(&b, "k", GGUF_VALUE_UINT32, 1);
    g_kv_u32(&b, "k", GGUF_VALUE_UINT32, 2);
    expect_gguf_fail(&b, "key 'k' appears twice", "duplicate key");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_BOOL);
    plow_buf_append(&b, "\x02pad", 4);
    expect_gguf_fail(&b, "neither 0 nor 1", "bool 2");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_UINT64);
    plow_buf_append(&b, "1234567", 7);
    expect_gguf_fail(&b, "while reading a value", "truncated u64 value");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_ARRAY);
    plow_buf_u32(&b, 77);
    plow_buf_u64(&b, 1);
    expect_gguf_fail(&b, "array of unknown value type 77", "array of type 77");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_ARRAY);
    plow_buf_u32(&b, GGUF_VALUE_INT32);
    plow_buf_u64(&b, UINT64_C(1) << 62);
    plow_buf_append(&b, "12345678", 8);
    expect_gguf_fail(&b, "cannot fit", "array count 2^62");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_ARRAY);
    plow_buf_u32(&b, GGUF_VALUE_STRING);
    plow_buf_u64(&b, 2);
    g_str(&b, "ok");
    plow_buf_u64(&b, 1000);
    plow_buf_append(&b, "short", 5);
    expect_gguf_fail(&b, "length 1000", "array string past EOF");
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_ARRAY);
    for (int d = 0; d < GGUF_MAX_NESTING; d++) {
        plow_buf_u32(&b, GGUF_VALUE_ARRAY);
        plow_buf_u64(&b, 1);
    }
    plow_buf_u32(&b, GGUF_VALUE_UINT8);
    plow_buf_u64(&b, 1);
    plow_buf_append(&b, "x", 1);
    expect_gguf_fail(&b, "nested deeper", "arrays nested 5 deep");
    /* ...while 4 deep is fine. */
    g_head(&b, 3, 0, 1);
    g_str(&b, "k");
    plow_buf_u32(&b, GGUF_VALUE_ARRAY);
    for (int d = 0; d < GGUF_MAX_NESTING - 1; d++) {
        plow_buf_u32(&b, GGUF_VALUE_ARRAY);
        plow_buf_u64(&b, 1);
    }
    plow_buf_u32(&b, GGUF_VALUE_UINT8);
    plow_buf_u64(&b, 1);
    plow_buf_append(&b, "x", 1);
    CHECKF(gguf_parse(b.data, b.len, &f, err) == 0, "nested 4 deep: %s", err);
    gguf_free(f);
    plow_buf_release(&b);

    /* Alignment. */
    g_head(&b, 3, 0, 1);
    g_kv_u32(&b, "general.alignment", GGUF_VALUE_INT32, 32);
    expect_gguf_fail(&b, "expected UINT32", "alignment of type INT32");
    g_head(&b, 3, 0, 1);
    g_kv_u32(&b, "general.alignment", GGUF_VALUE_UINT32, 24);
    expect_gguf_fail(&b, "not a power of two", "alignment 24");
    g_head(&b, 3, 0, 1);
    g_kv_u32(&b, "general.alignment", GGUF_VALUE_UINT32, 0);
    expect_gguf_fail(&b, "not a power of two", "alignment 0");
    /* A custom alignment is honoured: offset 64 is fine at 64, 32 is not. */
    g_head(&b, 3, 1, 1);
    g_kv_u32(&b, "general.alignment", GGUF_VALUE_UINT32, 64);
    g_tinfo(&b, "w", 1, ne4, GGUF_TENSOR_F32, 32);
    g_pad_data(&b, 64);
    expect_gguf_fail(&b, "offset 32 is not a multiple of the alignment 64", "offset 32 at alignment 64");

    /* Tensor infos. */
    g_one_tensor(&b, "w", 0, ne4, GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "0 dims", "0 dims");
    {
        uint64_t ne5[5] = {1, 1, 1, 1, 1};
        g_one_tensor(&b, "w", 5, ne5, GGUF_TENSOR_F32, 0, 16);
        expect_gguf_fail(&b, "5 dims", "5 dims");
    }
    g_one_tensor(&b, "w", 1, ne0, GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "ne[0] = 0 is out of range", "zero dim");
    g_one_tensor(&b, "w", 1, neneg, GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "out of range", "dim 2^63");
    g_one_tensor(&b, "w", 2, nebig, GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "overflows", "2^40 x 2^40 f32");
    g_one_tensor(&b, "w", 1, ne4, 4, 0, 16);
    expect_gguf_fail(&b, "unknown ggml type 4", "removed type 4");
    g_one_tensor(&b, "w", 1, ne4, 99, 0, 16);
    expect_gguf_fail(&b, "unknown ggml type 99", "type 99");
    g_one_tensor(&b, "w", 1, ne31, GGUF_TENSOR_Q4_0, 0, 32);
    expect_gguf_fail(&b, "block size 32", "Q4_0 with 31 columns");
    g_one_tensor(&b, "w", 1, ne4, GGUF_TENSOR_F32, 16, 48);
    expect_gguf_fail(&b, "offset 16 is not a multiple", "misaligned offset");
    g_one_tensor(&b, "w", 1, ne4, GGUF_TENSOR_F32, 0, 15);
    expect_gguf_fail(&b, "runs past the end", "data one byte short");
    g_one_tensor(&b, "w", 1, ne4, GGUF_TENSOR_F32, UINT64_MAX - 31, 16);
    expect_gguf_fail(&b, "runs past the end", "offset near 2^64");
    g_one_tensor(&b, "w", 1, ne4, GGUF_TENSOR_F32, 32, 32);
    expect_gguf_fail(&b, "runs past the end", "data past EOF");
    g_one_tensor(&b, "0123456789012345678901234567890123456789012345678901234567890123", 1, ne4,
                 GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "64 bytes long", "64-byte name");
    g_one_tensor(&b, "", 1, ne4, GGUF_TENSOR_F32, 0, 16);
    expect_gguf_fail(&b, "tensor name 0 is empty", "empty name");
    g_head(&b, 3, 1, 0);
    g_tinfo(&b, "w", 1, ne4, GGUF_TENSOR_F32, 0);
    expect_gguf_fail(&b, "past the end of the", "no data section at all");
    g_head(&b, 3, 2, 0);
    g_tinfo(&b, "a", 2, ne2x2, GGUF_TENSOR_F32, 0);
    g_tinfo(&b, "b", 1, ne4, GGUF_TENSOR_F32, 0);
    g_pad_data(&b, 32);
    expect_gguf_fail(&b, "overlap", "two tensors at offset 0");
    {
        uint64_t ne16[1] = {16};
        g_head(&b, 3, 2, 0);
        g_tinfo(&b, "a", 1, ne16, GGUF_TENSOR_F32, 0); /* 64 bytes: [0, 64) */
        g_tinfo(&b, "b", 1, ne4, GGUF_TENSOR_F32, 32);
        g_pad_data(&b, 64);
        expect_gguf_fail(&b, "'a' and 'b' overlap", "b inside a");
    }
    g_head(&b, 3, 2, 0);
    g_tinfo(&b, "a", 1, ne4, GGUF_TENSOR_F32, 0);
    g_tinfo(&b, "a", 1, ne4, GGUF_TENSOR_F32, 32);
    g_pad_data(&b, 48);
    expect_gguf_fail(&b, "tensor 'a' appears twice", "duplicate tensor name");
}

static void test_gguf_truncated(void) {
    char err[PLOW_ERR_LEN];
    /* Every tensor here is a multiple of 32 bytes, so the file has no
     * trailing padding and every strict prefix must fail. */
    gguf_writer *w = gguf_writer_new();
    gguf_writer_kv_str(w, "general.architecture", "llama");
    const char *toks[2] = {"a", "bc"};
    gguf_writer_kv_arr_str(w, "tok", toks, NULL, 2);
    float d[16] = {0};
    int64_t s[2] = {2, 4}, s1[1] = {16};
    gguf_writer_tensor_f32(w, "x", 2, s, d);
    gguf_writer_tensor_f32(w, "y", 1, s1, d);
    plow_buf b = {0};
    CHECK(gguf_writer_serialize(w, &b, err) == 0);
    gguf_file *f = NULL;
    CHECKF(gguf_parse(b.data, b.len, &f, err) == 0, "%s", err);
    gguf_free(f);
    for (size_t n = 0; n < b.len; n++) {
        f = (gguf_file *)1;
        err[0] = 0;
        int rc = gguf_parse(b.data, n, &f, err);
        CHECKF(rc == -1 && f == NULL && err[0], "prefix of %zu bytes accepted", n);
        if (rc == 0) gguf_free(f);
    }
    plow_buf_release(&b);
    gguf_writer_free(w);
}

static unsigned touch_gguf(const gguf_file *f) {
    char err[PLOW_ERR_LEN];
    unsigned sum = 0;
    for (size_t i = 0; i < gguf_kv_count(f); i++) {
        const char *key = gguf_kv_key(f, i);
        sum += (unsigned)strlen(key);
        if (gguf_kv_find(f, key) != (int64_t)i) sum++;
        const char *s;
        size_t len, n;
        uint32_t u;
        gguf_value_type et;
        if (gguf_get_str(f, key, &s, &len, err) == 0)
            for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
        if (gguf_get_u32(f, key, &u, err) == 0) sum += u;
        if (gguf_get_arr_info(f, key, &et, &n, err) == 0 && et == GGUF_VALUE_STRING) {
            for (size_t j = 0; j < n; j++)
                if (gguf_get_arr_str(f, key, j, &s, &len, err) == 0)
                    for (size_t k = 0; k < len; k++) sum += (unsigned char)s[k];
        }
        if (gguf_get_arr_info(f, key, &et, &n, err) == 0 && et == GGUF_VALUE_INT32 && n < 1024) {
            int32_t v[1024];
            if (gguf_get_arr_i32(f, key, v, n, err) == 0)
                for (size_t j = 0; j < n; j++) sum += (unsigned)v[j];
        }
    }
    for (size_t i = 0; i < gguf_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_tensor_get(f, i);
        for (size_t k = 0; k < t->nbytes; k++) sum += t->data[k];
        if (gguf_tensor_find(f, t->name) != t) sum++;
    }
    return sum;
}

static void test_gguf_fuzz(void) {
    char err[PLOW_ERR_LEN];
    gguf_writer *w = gguf_sample();
    plow_buf b = {0};
    CHECK(gguf_writer_serialize(w, &b, err) == 0);
    uint8_t *m = plow_alloc(b.len);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(m, b.data, b.len);
        int flips = 1 + (int)(rng_next(&seed) % 4);
        for (int k = 0; k < flips; k++) {
            uint64_t r = rng_next(&seed);
            size_t at = (size_t)(r % b.len);
            /* Favour the length and count fields' high bytes too. */
            m[at] = (r & 0x100000) ? (uint8_t)(r >> 24) : (uint8_t)(m[at] ^ (1u << ((r >> 40) & 7)));
        }
        size_t len = (rng_next(&seed) % 8 == 0) ? (size_t)(rng_next(&seed) % b.len) : b.len;
        gguf_file *f = NULL;
        err[0] = 0;
        if (gguf_parse(m, len, &f, err) == 0) {
            accepted++;
            (void)touch_gguf(f);
            gguf_free(f);
        } else {
            CHECKF(err[0] && f == NULL, "iteration %d: failure without a message", it);
        }
    }
    CHECK(accepted > 0);
    free(m);
    plow_buf_release(&b);
    gguf_writer_free(w);
}

const test_case formats_tests[] = {
    {"st_roundtrip", test_st_roundtrip},
    {"st_deterministic", test_st_deterministic},
    {"st_writer_errors", test_st_writer_errors},
    {"st_malformed", test_st_malformed},
    {"st_truncated", test_st_truncated},
    {"st_fuzz", test_st_fuzz},
    {"gguf_roundtrip", test_gguf_roundtrip},
    {"gguf_layout", test_gguf_layout},
    {"gguf_writer_errors", test_gguf_writer_errors},
    {"gguf_malformed", test_gguf_malformed},
    {"gguf_truncated", test_gguf_truncated},
    {"gguf_fuzz", test_gguf_fuzz},
    {NULL, NULL},
};
