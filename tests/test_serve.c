/*
 * test_serve.c — what plow serve stands on: continuous batching computes
 * every request's logits with the same bits as the request alone
 * (infer_feed_rows against infer_feed, on every SIMD path, 1 and 2 threads,
 * with grouped-query attention and a LoRA adapter, rows joining and leaving
 * the batch), and signed receipts (any bound field changed breaks the
 * signature; malformed signature fields are refused).
 */
#include "test.h"

#include "../src/infer/infer.h"
#include "../src/proof/receipt.h"
#include "../src/tensor/tensor.h"
#include "fixture.h"

enum { N_REQ = 5, N_STEPS = 9 };

/* Request i: prompt length 1 + 3i from the model's vocabulary, decode tokens
 * chosen from (i, step). */
static int32_t tok_of(int i, int k, int V) { return (int32_t)((i * 131 + k * 17 + 3) % V); }

static void run_rows(const model *m, const lora *l, const char *path, int threads) {
    char err[PLOW_ERR_LEN];
    CHECKF(tensor_init(path, threads, err) == 0, "%s", err);
    int V = m->cfg.vocab;
    float *alone = plow_alloc(sizeof(float) * N_REQ * N_STEPS * V), *batch = plow_alloc(sizeof(float) * N_REQ * V);
    int32_t prompt[32];
    /* each request alone: prefill, then decode one token at a time */
    for (int i = 0; i < N_REQ; i++) {
        infer_session *s;
        CHECK(infer_session_new(&s, m, l, 48, err) == 0);
        int np = 1 + 3 * i;
        for (int k = 0; k < np; k++) prompt[k] = tok_of(i, 100 + k, V);
        CHECK(infer_feed(s, prompt, np, NULL, alone + (size_t)(i * N_STEPS) * V, err) == 0);
        for (int t = 1; t < N_STEPS; t++) {
            int32_t x = tok_of(i, t, V);
            CHECK(infer_feed(s, &x, 1, NULL, alone + (size_t)(i * N_STEPS + t) * V, err) == 0);
        }
        infer_session_free(s);
    }
    /* all together: request i joins at step i/2 (prefill), so the batch grows
     * from 1 to N_REQ rows and shrinks as the early ones finish */
    infer_session *base, *sess[N_REQ] = {0};
    CHECK(infer_session_new(&base, m, l, m->cfg.ctx, err) == 0);
    int done[N_REQ] = {0};
    for (int step = 0; step < N_STEPS + N_REQ; step++) {
        infer_session *rows[N_REQ];
        int32_t toks[N_REQ];
        int who[N_REQ], n = 0;
        for (int i = 0; i < N_REQ; i++)
            if (sess[i] && done[i] < N_STEPS) {
                rows[n] = sess[i];
                toks[n] = tok_of(i, done[i], V);
                who[n++] = i;
            }
        if (n) {
            CHECKF(infer_feed_rows(base, rows, toks, n, batch, err) == 0, "%s", err);
            for (int r = 0; r < n; r++) {
                int i = who[r];
                CHECKF(memcmp(batch + (size_t)r * V, alone + (size_t)(i * N_STEPS + done[i]) * V, sizeof(float) * V) == 0,
                       "%s/%d threads: request %d step %d in a batch of %d differs from alone", path, threads, i,
                       done[i], n);
                done[i]++;
            }
        }
        for (int i = 0; i < N_REQ; i++)
            if (!sess[i] && step == i / 2) {
                CHECK(infer_session_new_shared(&sess[i], base, 48, err) == 0);
                int np = 1 + 3 * i;
                for (int k = 0; k < np; k++) prompt[k] = tok_of(i, 100 + k, V);
                CHECK(infer_feed(sess[i], prompt, np, NULL, batch, err) == 0);
                CHECK(memcmp(batch, alone + (size_t)(i * N_STEPS) * V, sizeof(float) * V) == 0);
                done[i] = 1;
            }
    }
    for (int i = 0; i < N_REQ; i++) CHECK(done[i] == N_STEPS);
    /* refused: a session twice, a session with other weights, nothing */
    infer_session *own;
    CHECK(infer_session_new(&own, m, l, 48, err) == 0);
    infer_session *two[2] = {sess[0], sess[0]}, *foreign[1] = {own};
    int32_t t2[2] = {1, 2};
    CHECK(infer_feed_rows(base, two, t2, 2, batch, err) == -1 && strstr(err, "twice"));
    CHECK(infer_feed_rows(base, foreign, t2, 1, batch, err) == -1 && strstr(err, "share"));
    CHECK(infer_feed_rows(base, two, t2, 0, batch, err) == -1);
    int32_t bad = V;
    CHECK(infer_feed_rows(base, two, &bad, 1, batch, err) == -1 && strstr(err, "out of range"));
    infer_session_free(own);
    for (int i = 0; i < N_REQ; i++) infer_session_free(sess[i]);
    infer_session_free(base);
    free(alone);
    free(batch);
}

static void test_rows_equal_alone(void) {
    char err[PLOW_ERR_LEN];
    model_config c = fixture_config("gqa", 2, 64, 4, 2, 96, 64, 300, false);
    model *m = fixture_model(&c, 21);
    lora *l;
    CHECK(lora_new(&l, &m->cfg, 2, 4.0f, LORA_Q | LORA_V | LORA_DOWN, err) == 0);
    lora_init_weights(l, 6);
    for (size_t i = 0; i < l->n_params; i++) l->params[i] += 0.01f * (float)(i % 5);
    static const char *const paths[] = {"scalar", "avx2", "avx512", "neon"};
    int widest = 0;
    for (int p = 0; p < 4; p++)
        if (tensor_path_supported((tensor_path)p)) widest = p;
    for (int p = 0; p < 4; p++) {
        if (!tensor_path_supported((tensor_path)p)) continue;
        run_rows(m, NULL, paths[p], 1);
        if (p == widest) { /* two threads, and the adapter */
            run_rows(m, NULL, paths[p], 2);
            run_rows(m, l, paths[p], 2);
        }
    }
    CHECK(tensor_init("auto", 0, err) == 0);
    lora_free(l);
    model_free(m);
}

static void test_signed_receipts(void) {
    char err[PLOW_ERR_LEN];
    CHECK(ledger_crypto_init(err) == 0);
    model_config c = fixture_config("gqa", 1, 32, 2, 1, 48, 32, 300, true);
    model *m = fixture_model(&c, 3);
    tokenizer *tok;
    dataset *data;
    fixture_corpus(20000, 300, 20000, 0.1, &tok, &data, NULL, NULL);
    int32_t prompt[3] = {5, 6, 7}, out[4] = {8, 9, 10, 11};
    infer_sampling sp = {0.7f, 10, 0.9f, 77};
    ledger_key k, other;
    ledger_key_generate(&k);
    ledger_key_generate(&other);
    receipt r;
    receipt_make(&r, m, NULL, tok, &sp, prompt, 3, out, 4);
    CHECK(!receipt_sig_ok(&r)); /* unsigned */
    receipt_sign(&r, &k);
    CHECK(receipt_sig_ok(&r) && memcmp(r.worker, k.pk, 32) == 0);
    /* every bound field breaks the signature */
    r.output[2]++;
    CHECK(!receipt_sig_ok(&r));
    r.output[2]--;
    r.prompt[0]++;
    CHECK(!receipt_sig_ok(&r));
    r.prompt[0]--;
    r.sampling.seed++;
    CHECK(!receipt_sig_ok(&r));
    r.sampling.seed--;
    r.sampling.temperature = 0.71f;
    CHECK(!receipt_sig_ok(&r));
    r.sampling.temperature = 0.7f;
    r.sampling.top_k = 11;
    CHECK(!receipt_sig_ok(&r));
    r.sampling.top_k = 10;
    r.model_hash[31] ^= 1;
    CHECK(!receipt_sig_ok(&r));
    r.model_hash[31] ^= 1;
    r.n_output = 3; /* a shortened output */
    CHECK(!receipt_sig_ok(&r));
    r.n_output = 4;
    memcpy(r.worker, other.pk, 32); /* claimed by another key */
    CHECK(!receipt_sig_ok(&r));
    memcpy(r.worker, k.pk, 32);
    CHECK(receipt_sig_ok(&r));
    /* through JSON and back, the signature still holds */
    char *j = receipt_json(&r);
    receipt r2;
    CHECKF(receipt_parse(&r2, j, strlen(j), err) == 0, "%s", err);
    CHECK(r2.has_sig && receipt_sig_ok(&r2));
    receipt_release(&r2);
    /* malformed signature fields are refused */
    char *w = strstr(j, "\"worker\":\"plow");
    CHECK(w != NULL);
    if (w) {
        char *bad = plow_strdup(j);
        bad[w - j + 15] = bad[w - j + 15] == 'a' ? 'b' : 'a'; /* a wrong checksum */
        CHECK(receipt_parse(&r2, bad, strlen(bad), err) == -1);
        free(bad);
        bad = plow_strdup(j);
        char *sg = strstr(bad, "\"signature\":\"");
        sg[13] = 'x';
        CHECK(receipt_parse(&r2, bad, strlen(bad), err) == -1 && strstr(err, "signature"));
        free(bad);
        bad = plow_strdup(j);
        *strstr(bad, ",\"signature\"") = '}'; /* a worker without a signature */
        CHECK(receipt_parse(&r2, bad, strlen(bad), err) == -1);
        free(bad);
    }
    free(j);
    receipt_release(&r);
    tokenizer_free(tok);
    dataset_free(data);
    model_free(m);
}

/* Vouchers as text (X-PAYMENT): round trip, and every malformed form refused. */
static void test_voucher_text(void) {
    char err[PLOW_ERR_LEN], v[LEDGER_VOUCHER_STR_LEN];
    CHECK(ledger_crypto_init(err) == 0);
    ledger_key k;
    ledger_key_generate(&k);
    uint8_t ch[32], chain[32], sig[64], ch2[32], sig2[64];
    memset(ch, 0xab, 32);
    memset(chain, 0x5c, 32);
    ledger_voucher_sign(&k, chain, ch, UINT64_MAX, sig);
    ledger_voucher_format(ch, UINT64_MAX, sig, v);
    CHECK(strlen(v) == LEDGER_VOUCHER_STR_LEN - 1);
    uint64_t amount;
    CHECKF(ledger_voucher_parse(v, ch2, &amount, sig2, err) == 0, "%s", err);
    CHECK(amount == UINT64_MAX && memcmp(ch, ch2, 32) == 0 && memcmp(sig, sig2, 64) == 0);
    CHECK(ledger_voucher_ok(k.pk, chain, ch2, amount, sig2));
    CHECK(!ledger_voucher_ok(k.pk, chain, ch2, amount - 1, sig2));
    ledger_voucher_format(ch, 7, sig, v);
    char bad[LEDGER_VOUCHER_STR_LEN + 8];
    static const char *const prefixes[] = {"", "plowv2.", "PLOWV1.", "plowv1"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(bad, sizeof bad, "%s%s", prefixes[i], v + 7);
        CHECK(ledger_voucher_parse(bad, ch2, &amount, sig2, err) == -1);
    }
    CHECK(ledger_voucher_parse(NULL, ch2, &amount, sig2, err) == -1);
    const size_t cut[] = {0, 7, 40, 71, 72, 73, 74, 100, strlen(v) - 1};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) { /* every prefix of it */
        snprintf(bad, sizeof bad, "%.*s", (int)cut[i], v);
        CHECK(ledger_voucher_parse(bad, ch2, &amount, sig2, err) == -1);
    }
    snprintf(bad, sizeof bad, "%sX", v); /* trailing */
    CHECK(ledger_voucher_parse(bad, ch2, &amount, sig2, err) == -1);
    snprintf(bad, sizeof bad, "%s", v);
    bad[10] = 'g'; /* not hex */
    CHECK(ledger_voucher_parse(bad, ch2, &amount, sig2, err) == -1);
    snprintf(bad, sizeof bad, "%s", v);
    bad[72] = '-'; /* amount "-" */
    CHECK(ledger_voucher_parse(bad, ch2, &amount, sig2, err) == -1);
    char over[300]; /* an amount over 2^64-1, and one with a sign or spaces */
    static const char *const amounts[] = {"18446744073709551616", "+7", " 7", "7 ", "", "0x7", "99999999999999999999"};
    char chx[65], sgx[129];
    plow_hex(ch, 32, chx);
    plow_hex(sig, 64, sgx);
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        snprintf(over, sizeof over, "plowv1.%s.%s.%s", chx, amounts[i], sgx);
        CHECKF(ledger_voucher_parse(over, ch2, &amount, sig2, err) == -1, "amount '%s' accepted", amounts[i]);
    }
    ledger_key_wipe(&k);
}

const test_case serve_tests[] = {
    {"serve_voucher_text", test_voucher_text},
    {"serve_rows_equal_alone", test_rows_equal_alone},
    {"serve_signed_receipts", test_signed_receipts},
    {NULL, NULL},
};
