/*
 * serve_bench.c — plow serve's costs (docs/BENCHMARKS.md, "Serving"):
 *   - serving overhead per request: a whole HTTP round trip (libcurl,
 *     keep-alive) to an in-process plow serve for one token, minus the same
 *     prefill + one sample called directly; what is left is HTTP, JSON in and
 *     out, tokenizing, the scheduler hand-off and the signed receipt;
 *   - its parts: signing a receipt (digest, ed25519, JSON), checking a voucher
 *     signature (the ledger lookup of a paid request is one more HTTP GET to
 *     the node, not counted here);
 *   - continuous batching: decode tokens/s with 1, 4 and 16 requests in one
 *     forward (infer_feed_rows), the same bits as alone (tests/test_serve.c);
 *   - receipt check (one prefill) against generating the same tokens.
 * Model: the "small" shape with a tokenizer of 512 trained on the corpus
 * (--tiny: the tiny shape, quicker).
 *
 * Usage: plow_serve_bench [--tiny] [--threads N] [--requests N]
 */
#include "../src/base/plow.h"

#include <curl/curl.h>
#include <unistd.h>

#include "../src/data/tokenizer.h"
#include "../src/ledger/ledger.h"
#include "../src/model/modelio.h"
#include "../src/proof/receipt.h"
#include "../src/serve/serve_internal.h"
#include "../src/tensor/tensor.h"

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
    plow_buf *b = ud;
    plow_buf_append(b, p, sz * n);
    return sz * n;
}

static void row(const char *what, const char *value, const char *note) {
    printf("| %-52s | %16s | %-52s |\n", what, value, note);
}

int main(int argc, char **argv) {
    const char *shape = "small";
    int threads = 0, requests = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tiny") == 0) shape = "tiny";
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) requests = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: plow_serve_bench [--tiny] [--threads N] [--requests N]\n");
            return 2;
        }
    }
    char err[PLOW_ERR_LEN], val[64], note[160];
    if (tensor_init(NULL, threads, err) || ledger_crypto_init(err)) {
        fprintf(stderr, "serve_bench: %s\n", err);
        return 1;
    }
    const char *root = getenv("PLOW_ROOT");
    char path[4096], dir[] = "/tmp/plow_serve_bench.XXXXXX";
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", root ? root : ".");
    uint8_t *text;
    size_t n;
    if (plow_read_file(path, 1 << 24, &text, &n, err) || !mkdtemp(dir)) {
        fprintf(stderr, "serve_bench: %s (set PLOW_ROOT to the repository)\n", err);
        return 1;
    }
    tokenizer *tok;
    model_config cfg;
    model *m;
    if (tokenizer_train(&tok, text, 200000, 512, NULL, NULL, err) ||
        model_config_named(shape, tokenizer_vocab_size(tok), &cfg, err) || model_new(&m, &cfg, err)) {
        fprintf(stderr, "serve_bench: %s\n", err);
        return 1;
    }
    model_init_weights(m, 3);
    char mdir[600], kpath[600], tpath[700];
    snprintf(mdir, sizeof mdir, "%s/m", dir);
    snprintf(kpath, sizeof kpath, "%s/w.key", dir);
    snprintf(tpath, sizeof tpath, "%s/tokenizer.bin", mdir);
    ledger_key key;
    ledger_key_generate(&key);
    if (modelio_save_model(m, mdir, err) || tokenizer_save(tok, tpath, err) || ledger_key_save(&key, kpath, err)) {
        fprintf(stderr, "serve_bench: %s\n", err);
        return 1;
    }
    printf("plow serve bench — %s shape (d %d, %d layers, vocab %d, ctx %d), %d threads, %s path\n\n", shape,
           cfg.d_model, cfg.n_layer, cfg.vocab, cfg.ctx, tensor_threads(), tensor_path_name(tensor_path_get()));
    printf("| %-52s | %16s | %-52s |\n|%s|%s|%s|\n", "what", "value", "note",
           "------------------------------------------------------", "------------------",
           "------------------------------------------------------");

    /* 1. overhead per request: HTTP round trip for 1 token vs the compute alone */
    serve_opts o;
    serve_opts_default(&o);
    o.model = mdir;
    o.key = kpath;
    o.listen = "127.0.0.1:0";
    o.quiet = true;
    server *s;
    if (serve_open(&s, &o, err) || serve_http_start(s, err)) {
        fprintf(stderr, "serve_bench: %s\n", err);
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/completions", s->port);
    const char *body = "{\"model\":\"m\",\"prompt\":\"ROMEO:\\nWhat light\",\"max_tokens\":1,\"seed\":1}";
    CURL *c = curl_easy_init();
    plow_buf resp = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    double best_http = 1e30, sum_http = 0;
    for (int i = 0; i < requests + 5; i++) {
        resp.len = 0;
        double t0 = plow_now();
        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "serve_bench: request failed\n");
            return 1;
        }
        double dt = plow_now() - t0;
        if (i >= 5) { /* warm */
            sum_http += dt;
            if (dt < best_http) best_http = dt;
        }
    }
    int32_t *ids;
    size_t nids;
    tokenizer_encode(tok, (const uint8_t *)"ROMEO:\nWhat light", 17, &ids, &nids, err);
    infer_session *base, *sess;
    infer_session_new(&base, m, NULL, cfg.ctx, err);
    float *logits = plow_alloc(sizeof(float) * (size_t)cfg.vocab * 16);
    infer_sampling sp = {1.0f, 0, 1.0f, 1};
    double best_cmp = 1e30, sum_cmp = 0;
    for (int i = 0; i < requests + 5; i++) {
        double t0 = plow_now();
        infer_session_new_shared(&sess, base, (int)nids, err);
        infer_feed(sess, ids, (int)nids, NULL, logits, err);
        (void)infer_sample(logits, cfg.vocab, &sp, nids);
        infer_session_free(sess);
        double dt = plow_now() - t0;
        if (i >= 5) {
            sum_cmp += dt;
            if (dt < best_cmp) best_cmp = dt;
        }
    }
    snprintf(val, sizeof val, "%.3f ms", (sum_http - sum_cmp) / requests * 1e3);
    snprintf(note, sizeof note, "mean of %d; round trip %.3f ms, compute %.3f ms", requests,
             sum_http / requests * 1e3, sum_cmp / requests * 1e3);
    row("serving overhead per request (HTTP, JSON, receipt)", val, note);
    snprintf(val, sizeof val, "%.3f ms", (best_http - best_cmp) * 1e3);
    snprintf(note, sizeof note, "best round trip %.3f ms - best compute %.3f ms", best_http * 1e3, best_cmp * 1e3);
    row("serving overhead per request, best", val, note);
    curl_easy_cleanup(c);
    plow_buf_release(&resp);

    /* 2. its parts */
    int32_t out[64];
    for (int i = 0; i < 64; i++) out[i] = (int32_t)(i * 7 % cfg.vocab);
    serve_job fake;
    memset(&fake, 0, sizeof fake);
    fake.prompt = ids;
    fake.n_prompt = (int)nids;
    fake.out = out;
    fake.n_out = 64;
    fake.sp = sp;
    double t0 = plow_now();
    int reps = 2000;
    for (int i = 0; i < reps; i++) free(serve_receipt_json(s, &fake));
    snprintf(val, sizeof val, "%.3f ms", (plow_now() - t0) / reps * 1e3);
    row("signed receipt (digest, ed25519, JSON), 64 tokens", val, "per answer; model and tokenizer hashed once at start");
    uint8_t ch[32] = {1}, chain[32] = {2}, sig[64];
    ledger_voucher_sign(&key, chain, ch, 1234, sig);
    t0 = plow_now();
    bool ok = true;
    for (int i = 0; i < reps; i++) ok &= ledger_voucher_ok(key.pk, chain, ch, 1234, sig);
    snprintf(val, sizeof val, "%.3f ms", (plow_now() - t0) / reps * 1e3);
    row("voucher signature check", val, ok ? "ed25519 verify; + one GET /v1/channel on the node" : "FAILED");

    /* 3. continuous batching: decode tokens/s at 1, 4, 16 rows */
    static const int widths[] = {1, 4, 16};
    for (size_t w = 0; w < 3; w++) {
        int B = widths[w], steps = 32;
        infer_session *rows[16];
        int32_t toks[16];
        for (int b = 0; b < B; b++) {
            infer_session_new_shared(&rows[b], base, (int)nids + steps + 1, err);
            infer_feed(rows[b], ids, (int)nids, NULL, logits, err);
            toks[b] = (int32_t)(b + 1);
        }
        t0 = plow_now();
        for (int k = 0; k < steps; k++) infer_feed_rows(base, rows, toks, B, logits, err);
        double dt = plow_now() - t0;
        for (int b = 0; b < B; b++) infer_session_free(rows[b]);
        char what[96];
        snprintf(what, sizeof what, "batched decode, %d request%s per forward", B, B > 1 ? "s" : "");
        snprintf(val, sizeof val, "%.0f tok/s", B * steps / dt);
        snprintf(note, sizeof note, "%d steps; each row the same bits as alone", steps);
        row(what, val, note);
    }

    /* 4. receipt check vs generation, 120 tokens */
    int gen = cfg.ctx - (int)nids - 1 < 120 ? cfg.ctx - (int)nids - 1 : 120;
    int32_t *g = plow_alloc(sizeof(int32_t) * (size_t)gen);
    infer_session *gs;
    infer_session_new(&gs, m, NULL, cfg.ctx, err);
    t0 = plow_now();
    int got = infer_generate(gs, ids, (int)nids, gen, &sp, -1, g, NULL, NULL, err);
    double tg = plow_now() - t0;
    receipt r;
    receipt_make(&r, m, NULL, tok, &sp, ids, nids, g, (size_t)got);
    receipt_check ck;
    receipt_verify(&r, m, NULL, tok, &ck, err);
    snprintf(val, sizeof val, "%.1f%%", 100 * ck.derive_seconds / tg);
    snprintf(note, sizeof note, "%d tokens: prefill %.3f s vs generating %.3f s (%s)", got, ck.derive_seconds, tg,
             ck.valid ? "valid" : "INVALID");
    row("receipt check / generation", val, note);
    receipt_release(&r);
    infer_session_free(gs);
    free(g);

    serve_http_stop(s);
    serve_close(s);
    infer_session_free(base);
    free(logits);
    free(ids);
    tokenizer_free(tok);
    model_free(m);
    free(text);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "serve_bench: could not remove %s\n", dir);
    return 0;
}
