/*
 * serve.c — plow serve's life cycle: load, listen, serve, stop.
 */
#include "../base/plow.h"

#include <time.h>
#include <unistd.h>

#include "../client/listen.h"
#include "../model/modelio.h"
#include "serve_internal.h"

void serve_opts_default(serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8080";
    o->max_batch = 16;
    o->max_queue = 64;
    o->max_tokens = 1024;
    o->conns_per_ip = 32;
    o->conns = 256;
    o->cheat_at = -1;
}

static void model_id(const char *path, char *out, size_t n) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    const char *b = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/' && i + 1 < len) b = path + i + 1;
    size_t bl = (size_t)(path + len - b);
    if (bl > 16 && strcmp(path + len - 12, ".safetensors") == 0) bl -= 12;
    snprintf(out, n, "%.*s", (int)(bl < 100 ? bl : 100), b);
}

int serve_open(server **out, const serve_opts *o, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    server *s = plow_calloc(1, sizeof *s);
    s->o = *o;
    int rc = -1;
    if (o->max_batch < 1 || o->max_batch > 256) {
        plow_error(err, "--max-batch must be in 1..256");
        goto out;
    }
    if (o->max_queue < o->max_batch) s->o.max_queue = o->max_batch;
    if (ledger_crypto_init(err) || ledger_key_load(&s->key, o->key, err)) goto out;
    if (pay_open(s, err)) goto out;
    if (modelio_load_model(&s->e.m, o->model, err)) goto out;
    if (o->lora && modelio_load_lora(&s->e.l, s->e.m, o->lora, err)) goto out;
    if (o->tokenizer ? tokenizer_load(&s->e.tok, o->tokenizer, err) : modelio_load_tokenizer(&s->e.tok, o->model, err))
        goto out;
    if (tokenizer_vocab_size(s->e.tok) != s->e.m->cfg.vocab) {
        plow_error(err, "the tokenizer has %d tokens but the model %d", tokenizer_vocab_size(s->e.tok),
                   s->e.m->cfg.vocab);
        goto out;
    }
    s->ctx = s->e.m->cfg.ctx;
    if (s->o.max_tokens > s->ctx) s->o.max_tokens = s->ctx;
    model_hash(s->e.m, s->model_hash);
    tokenizer_hash(s->e.tok, s->tokenizer_hash);
    if (s->e.l) lora_hash(s->e.l, s->lora_hash);
    char hx[2 * PLOW_HASH_LEN + 1];
    plow_hex(s->model_hash, PLOW_HASH_LEN, hx);
    snprintf(s->fingerprint, sizeof s->fingerprint, "plow-%.16s", hx);
    if (o->name) snprintf(s->id, sizeof s->id, "%s", o->name);
    else model_id(o->model, s->id, sizeof s->id);
    s->created = (uint64_t)time(NULL);
    s->e.max_batch = s->o.max_batch;
    s->e.max_queue = s->o.max_queue;
    s->e.cheat_at = s->o.cheat_at;
    if (engine_start(&s->e, err)) goto out;
    rc = 0;
out:
    if (rc) serve_close(s);
    else *out = s;
    return rc;
}

static int write_url(server *s, char err[PLOW_ERR_LEN]) {
    char url[300];
    listen_url(s->o.listen, s->port, url, sizeof url);
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(s->key.pk, addr);
    printf("plow serve: '%s' on %s/v1, worker %s, %llu per token\n", s->id, url, addr, (unsigned long long)s->o.price);
    fflush(stdout);
    if (!s->o.url_file) return 0;
    char line[310];
    snprintf(line, sizeof line, "%s\n", url);
    return plow_write_file(s->o.url_file, line, strlen(line), err);
}

int serve_run(server *s, volatile int *stop, char err[PLOW_ERR_LEN]) {
    if (serve_http_start(s, err)) return -1;
    if (serve_market_open(s, err)) return -1;
    if (write_url(s, err)) return -1;
    while (!*stop) {
        serve_market_poll(s);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void serve_close(server *s) {
    if (!s) return;
    engine_stop(&s->e); /* running requests fail and their threads return */
    serve_http_stop(s);
    serve_market_close(s);
    engine_free(&s->e);
    pay_close(s);
    tokenizer_free(s->e.tok);
    lora_free(s->e.l);
    model_free(s->e.m);
    ledger_key_wipe(&s->key);
    free(s);
}
