/*
 * receipt.c — writing, reading and checking inference receipts.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "receipt.h"

#define RECEIPT_MAX_TOKENS (1 << 20)

void receipt_make(receipt *r, const model *m, const lora *l, const tokenizer *tok, const infer_sampling *sp,
                  const int32_t *prompt, size_t n_prompt, const int32_t *output, size_t n_output) {
    memset(r, 0, sizeof *r);
    model_hash(m, r->model_hash);
    tokenizer_hash(tok, r->tokenizer_hash);
    if (l) {
        r->has_lora = true;
        lora_hash(l, r->lora_hash);
    }
    r->sampling = *sp;
    r->prompt = plow_alloc(sizeof(int32_t) * (n_prompt ? n_prompt : 1));
    r->output = plow_alloc(sizeof(int32_t) * (n_output ? n_output : 1));
    if (n_prompt) memcpy(r->prompt, prompt, sizeof(int32_t) * n_prompt);
    if (n_output) memcpy(r->output, output, sizeof(int32_t) * n_output);
    r->n_prompt = n_prompt;
    r->n_output = n_output;
}

void receipt_release(receipt *r) {
    free(r->prompt);
    free(r->output);
    memset(r, 0, sizeof *r);
}

static void add_hex(cJSON *j, const char *k, const uint8_t h[PLOW_HASH_LEN]) {
    char hex[2 * PLOW_HASH_LEN + 1];
    plow_hex(h, PLOW_HASH_LEN, hex);
    cJSON_AddStringToObject(j, k, hex);
}

static cJSON *int_array(const int32_t *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

char *receipt_json(const receipt *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.receipt.v1");
    add_hex(j, "model_hash", r->model_hash);
    add_hex(j, "tokenizer_hash", r->tokenizer_hash);
    if (r->has_lora) add_hex(j, "lora_hash", r->lora_hash);
    cJSON *s = cJSON_AddObjectToObject(j, "sampling");
    cJSON_AddNumberToObject(s, "temperature", (double)r->sampling.temperature);
    cJSON_AddNumberToObject(s, "top_k", r->sampling.top_k);
    cJSON_AddNumberToObject(s, "top_p", (double)r->sampling.top_p);
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, r->sampling.seed);
    cJSON_AddStringToObject(s, "seed", seed);
    cJSON_AddItemToObject(j, "prompt_tokens", int_array(r->prompt, r->n_prompt));
    cJSON_AddItemToObject(j, "output_tokens", int_array(r->output, r->n_output));
    if (r->has_sig) {
        char addr[LEDGER_ADDR_STR_LEN], sig[2 * LEDGER_SIG_LEN + 1];
        ledger_addr_format(r->worker, addr);
        plow_hex(r->sig, LEDGER_SIG_LEN, sig);
        cJSON_AddStringToObject(j, "worker", addr);
        cJSON_AddStringToObject(j, "signature", sig);
    }
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    return txt;
}

int receipt_save(const receipt *r, const char *path, char err[PLOW_ERR_LEN]) {
    char *txt = receipt_json(r);
    int rc = plow_write_file(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

static int get_hash(const cJSON *j, const char *k, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsString(x) || plow_unhex(x->valuestring, out, PLOW_HASH_LEN))
        return plow_error(err, "receipt: '%s' must be 64 hex digits", k);
    return 0;
}

static int get_tokens(const cJSON *j, const char *k, int32_t **out, size_t *n, char err[PLOW_ERR_LEN]) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsArray(a)) return plow_error(err, "receipt: '%s' must be an array of token ids", k);
    int len = cJSON_GetArraySize(a);
    if (len > RECEIPT_MAX_TOKENS) return plow_error(err, "receipt: '%s' has too many tokens", k);
    *out = plow_alloc(sizeof(int32_t) * (size_t)(len ? len : 1));
    *n = (size_t)len;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 2147483647.0 ||
            x->valuedouble != floor(x->valuedouble))
            return plow_error(err, "receipt: '%s'[%d] is not a token id", k, i);
        (*out)[i++] = (int32_t)x->valuedouble;
    }
    return 0;
}

int receipt_parse(receipt *r, const char *json, size_t n, char err[PLOW_ERR_LEN]) {
    memset(r, 0, sizeof *r);
    cJSON *j = cJSON_ParseWithLength(json, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return plow_error(err, "receipt: not a JSON object");
    }
    int rc = -1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "sampling");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, "plow.receipt.v1") != 0) {
        plow_error(err, "receipt: unknown or missing format (expected plow.receipt.v1)");
        goto out;
    }
    if (get_hash(j, "model_hash", r->model_hash, err) || get_hash(j, "tokenizer_hash", r->tokenizer_hash, err))
        goto out;
    if (cJSON_GetObjectItemCaseSensitive(j, "lora_hash")) {
        r->has_lora = true;
        if (get_hash(j, "lora_hash", r->lora_hash, err)) goto out;
    }
    if (!cJSON_IsObject(s)) {
        plow_error(err, "receipt: 'sampling' must be an object");
        goto out;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "temperature"), *k = cJSON_GetObjectItemCaseSensitive(s, "top_k");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(s, "top_p"), *sd = cJSON_GetObjectItemCaseSensitive(s, "seed");
    if (!cJSON_IsNumber(t) || !cJSON_IsNumber(k) || !cJSON_IsNumber(p) || !cJSON_IsString(sd) ||
        k->valuedouble < 0 || k->valuedouble > (1 << 24)) {
        plow_error(err, "receipt: sampling needs numbers temperature, top_k, top_p and a string seed");
        goto out;
    }
    r->sampling.temperature = (float)t->valuedouble;
    r->sampling.top_k = (int)k->valuedouble;
    r->sampling.top_p = (float)p->valuedouble;
    {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(sd->valuestring, &end, 10);
        if (errno || end == sd->valuestring || *end || sd->valuestring[0] == '-') {
            plow_error(err, "receipt: seed is not a whole number");
            goto out;
        }
        r->sampling.seed = (uint64_t)v;
    }
    if (infer_sampling_check(&r->sampling, err)) goto out;
    if (get_tokens(j, "prompt_tokens", &r->prompt, &r->n_prompt, err) ||
        get_tokens(j, "output_tokens", &r->output, &r->n_output, err))
        goto out;
    if (r->n_prompt == 0) {
        plow_error(err, "receipt: the prompt is empty");
        goto out;
    }
    const cJSON *wk = cJSON_GetObjectItemCaseSensitive(j, "worker"), *sg = cJSON_GetObjectItemCaseSensitive(j, "signature");
    if (wk || sg) {
        if (!cJSON_IsString(wk) || ledger_addr_parse(wk->valuestring, r->worker, err)) {
            if (!cJSON_IsString(wk)) plow_error(err, "receipt: 'worker' must be an address");
            goto out;
        }
        if (!cJSON_IsString(sg) || strlen(sg->valuestring) != 2 * LEDGER_SIG_LEN ||
            plow_unhex(sg->valuestring, r->sig, LEDGER_SIG_LEN)) {
            plow_error(err, "receipt: 'signature' must be %d hex digits", 2 * LEDGER_SIG_LEN);
            goto out;
        }
        r->has_sig = true;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) receipt_release(r);
    return rc;
}

int receipt_load(receipt *r, const char *path, char err[PLOW_ERR_LEN]) {
    uint8_t *buf;
    size_t n;
    memset(r, 0, sizeof *r);
    if (plow_read_file(path, 64 << 20, &buf, &n, err)) return -1;
    int rc = receipt_parse(r, (const char *)buf, n, err);
    free(buf);
    return rc;
}

int receipt_verify(const receipt *r, const model *m, const lora *l, const tokenizer *tok, receipt_check *out,
                   char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    out->bad_position = -1;
    double t0 = plow_now();
    uint8_t h[PLOW_HASH_LEN];
    model_hash(m, h);
    if (memcmp(h, r->model_hash, PLOW_HASH_LEN) != 0) {
        snprintf(out->reason, sizeof out->reason, "the receipt names another model");
        return 0;
    }
    tokenizer_hash(tok, h);
    if (memcmp(h, r->tokenizer_hash, PLOW_HASH_LEN) != 0) {
        snprintf(out->reason, sizeof out->reason, "the receipt names another tokenizer");
        return 0;
    }
    if (r->has_lora != (l != NULL)) {
        snprintf(out->reason, sizeof out->reason, r->has_lora ? "the receipt needs its LoRA adapter" : "the receipt used no adapter");
        return 0;
    }
    if (l) {
        lora_hash(l, h);
        if (memcmp(h, r->lora_hash, PLOW_HASH_LEN) != 0) {
            snprintf(out->reason, sizeof out->reason, "the receipt names another adapter");
            return 0;
        }
    }
    int V = m->cfg.vocab;
    size_t total = r->n_prompt + r->n_output;
    if (r->n_output == 0) {
        out->valid = true;
        snprintf(out->reason, sizeof out->reason, "valid (no output)");
        return 0;
    }
    if (total - 1 > (size_t)m->cfg.ctx) return plow_error(err, "receipt: %zu tokens exceed the model's context %d", total, m->cfg.ctx);
    int32_t *seq = plow_alloc(sizeof(int32_t) * total);
    memcpy(seq, r->prompt, sizeof(int32_t) * r->n_prompt);
    memcpy(seq + r->n_prompt, r->output, sizeof(int32_t) * r->n_output);
    for (size_t i = 0; i < total; i++)
        if (seq[i] < 0 || seq[i] >= V) {
            free(seq);
            if (i >= r->n_prompt) {
                out->bad_position = (long)(i - r->n_prompt);
                snprintf(out->reason, sizeof out->reason, "output token %zu is not in the vocabulary", i - r->n_prompt);
                return 0;
            }
            return plow_error(err, "receipt: prompt token %zu is out of range", i);
        }
    size_t fed = total - 1;
    float *logits = plow_try_alloc(sizeof(float) * fed * (size_t)V); /* fed x V: sized by the receipt */
    if (!logits) {
        free(seq);
        return plow_error(err, "receipt: out of memory for the logits of %zu positions x %d", fed, V);
    }
    infer_session *s = NULL;
    int rc = infer_session_new(&s, m, l, (int)fed, err);
    if (rc == 0) { /* set-up, like the generator's: buffers allocated and touched */
        infer_reserve(s, (int)fed);
        memset(logits, 0, sizeof(float) * fed * (size_t)V);
    }
    double d0 = plow_now();
    if (rc == 0) rc = infer_feed(s, seq, (int)fed, logits, NULL, err);
    if (rc == 0) {
        out->valid = true;
        for (size_t i = 0; i < r->n_output; i++) {
            size_t row = r->n_prompt - 1 + i;
            int32_t want = infer_sample(logits + row * (size_t)V, V, &r->sampling, (uint64_t)(r->n_prompt + i));
            if (want != r->output[i]) {
                out->valid = false;
                out->bad_position = (long)i;
                snprintf(out->reason, sizeof out->reason,
                         "output token %zu is %d but the model, prompt and seed give %d", i, r->output[i], want);
                break;
            }
        }
        if (out->valid) snprintf(out->reason, sizeof out->reason, "valid");
    }
    out->derive_seconds = plow_now() - d0;
    infer_session_free(s);
    free(logits);
    free(seq);
    out->seconds = plow_now() - t0;
    return rc;
}

static void put_tokens(plow_sha256 *h, const int32_t *tokens, size_t n) {
    uint8_t b[4 * 256];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < 256 && i < n; k++, i++) plow_put_u32(b + 4 * k, (uint32_t)tokens[i]);
        plow_sha256_update(h, b, 4 * k);
    }
}

void receipt_digest(const receipt *r, uint8_t out[PLOW_HASH_LEN]) {
    static const char tag[] = "plow/receipt/v1";
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, tag, sizeof tag); /* with its NUL */
    plow_sha256_update(h, r->model_hash, PLOW_HASH_LEN);
    plow_sha256_update(h, r->tokenizer_hash, PLOW_HASH_LEN);
    uint8_t b[8];
    b[0] = r->has_lora;
    plow_sha256_update(h, b, 1);
    if (r->has_lora) plow_sha256_update(h, r->lora_hash, PLOW_HASH_LEN);
    uint32_t bits;
    memcpy(&bits, &r->sampling.temperature, 4);
    plow_put_u32(b, bits);
    plow_sha256_update(h, b, 4);
    plow_put_u32(b, (uint32_t)r->sampling.top_k);
    plow_sha256_update(h, b, 4);
    memcpy(&bits, &r->sampling.top_p, 4);
    plow_put_u32(b, bits);
    plow_sha256_update(h, b, 4);
    plow_put_u64(b, r->sampling.seed);
    plow_sha256_update(h, b, 8);
    plow_put_u64(b, (uint64_t)r->n_prompt);
    plow_sha256_update(h, b, 8);
    put_tokens(h, r->prompt, r->n_prompt);
    plow_put_u64(b, (uint64_t)r->n_output);
    plow_sha256_update(h, b, 8);
    put_tokens(h, r->output, r->n_output);
    plow_sha256_final(h, out);
}

void receipt_sign(receipt *r, const ledger_key *k) {
    uint8_t d[PLOW_HASH_LEN];
    receipt_digest(r, d);
    memcpy(r->worker, k->pk, LEDGER_PK_LEN);
    ledger_sign(k, d, sizeof d, r->sig);
    r->has_sig = true;
}

bool receipt_sig_ok(const receipt *r) {
    if (!r->has_sig) return false;
    uint8_t d[PLOW_HASH_LEN];
    receipt_digest(r, d);
    return ledger_verify_sig(r->worker, d, sizeof d, r->sig);
}

void receipt_tokens_hash(const int32_t *tokens, size_t n, uint8_t out[PLOW_HASH_LEN]) {
    plow_sha256 *h = plow_sha256_new();
    put_tokens(h, tokens, n);
    plow_sha256_final(h, out);
}

int receipt_derive(const model *m, const lora *l, const infer_sampling *sp, const int32_t *prompt, size_t n_prompt,
                   int n_new, int32_t stop, const int32_t *hint, size_t n_hint, int32_t **out, size_t *n_out,
                   size_t *agree, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *n_out = 0;
    *agree = 0;
    int V = m->cfg.vocab, ctx = m->cfg.ctx;
    if (infer_sampling_check(sp, err)) return -1;
    if (n_prompt == 0) return plow_error(err, "the prompt is empty");
    if (n_prompt >= (size_t)ctx) return plow_error(err, "the prompt has %zu tokens; the model's context is %d", n_prompt, ctx);
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V) return plow_error(err, "prompt token %zu is out of range", i);
    if (n_new < 0) n_new = 0;
    if ((size_t)n_new > (size_t)ctx - n_prompt) n_new = (int)((size_t)ctx - n_prompt);
    size_t L = hint ? (n_hint < (size_t)n_new ? n_hint : (size_t)n_new) : 0;
    for (size_t i = 0; i < L; i++)
        if (hint[i] < 0 || hint[i] >= V) L = i; /* an id the model cannot take ends the hint */
    int32_t *res = plow_alloc(sizeof(int32_t) * (size_t)(n_new + 1));
    int32_t *seq = plow_alloc(sizeof(int32_t) * (n_prompt + (size_t)n_new + 1));
    memcpy(seq, prompt, sizeof(int32_t) * n_prompt);
    size_t count = 0;
    bool stopped = false;
    infer_session *s = NULL;
    float *logits = NULL;
    int rc = -1;
    if (L > 0) { /* one prefill over prompt + hint[0..L-2]: the logits of every hint position */
        memcpy(seq + n_prompt, hint, sizeof(int32_t) * (L - 1));
        size_t fed = n_prompt + L - 1;
        logits = plow_try_alloc(sizeof(float) * fed * (size_t)V);
        if (!logits) {
            plow_error(err, "out of memory for the logits of %zu positions x %d", fed, V);
            goto out;
        }
        if (infer_session_new(&s, m, l, (int)fed, err) || infer_feed(s, seq, (int)fed, logits, NULL, err)) goto out;
        for (size_t i = 0; i < L; i++) {
            int32_t t = infer_sample(logits + (n_prompt - 1 + i) * (size_t)V, V, sp, (uint64_t)(n_prompt + i));
            res[count++] = t;
            if (t != hint[i]) break;
            (*agree)++;
            if (t == stop) break;
        }
        stopped = res[count - 1] == stop;
        infer_session_free(s);
        s = NULL;
    }
    if (!stopped && count < (size_t)n_new) { /* decode the rest, as the generator would */
        memcpy(seq + n_prompt, res, sizeof(int32_t) * count);
        if (infer_session_new(&s, m, l, ctx, err)) goto out;
        int got = infer_generate(s, seq, (int)(n_prompt + count), n_new - (int)count, sp, stop, res + count, NULL,
                                 NULL, err);
        if (got < 0) goto out;
        count += (size_t)got;
    }
    *out = res;
    res = NULL;
    *n_out = count;
    rc = 0;
out:
    infer_session_free(s);
    free(logits);
    free(seq);
    free(res);
    return rc;
}
