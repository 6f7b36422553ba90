/*
 * www.c — looking up the explorer's embedded files (www.h).
 */
#include "../base/plow.h"

#include <pthread.h>

#include "www.h"

#define WWW_MAX 64

static char etags[WWW_MAX][20];
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void etags_init(void) {
    for (unsigned i = 0; i < plow_www_count && i < WWW_MAX; i++) {
        uint8_t h[32];
        char hx[65];
        plow_sha256_once(plow_www_files[i].data, plow_www_files[i].size, h);
        plow_hex(h, 32, hx);
        snprintf(etags[i], sizeof etags[i], "\"%.16s\"", hx);
    }
}

/* plow.wasm (`make wasm`), read from disk once before the server starts
 * (www_wasm_load) and served like the embedded files: the explorer's
 * "verify in your browser" runs it (www/verify.js) */
static www_file wasm_file;
static uint8_t *wasm_bytes;
static char wasm_etag[20];

int www_wasm_load(const char *path, bool required, char err[PLOW_ERR_LEN]) {
    if (wasm_bytes) return 0;
    if (!required && !plow_file_exists(path)) return 1;
    size_t n = 0;
    if (plow_read_file(path, WWW_WASM_MAX, &wasm_bytes, &n, err) != 0)
        return plow_error_prefix(err, "the WebAssembly engine (--wasm)"), -1;
    if (n < 8 || memcmp(wasm_bytes, "\0asm", 4) != 0) {
        free(wasm_bytes);
        wasm_bytes = NULL;
        return plow_error(err, "%.200s is not a WebAssembly module", path);
    }
    uint8_t h[32];
    char hx[65];
    plow_sha256_once(wasm_bytes, n, h);
    plow_hex(h, 32, hx);
    snprintf(wasm_etag, sizeof wasm_etag, "\"%.16s\"", hx);
    wasm_file = (www_file){.name = "plow.wasm", .data = wasm_bytes, .size = n};
    return 0;
}

const www_file *www_find(const char *path) {
    if (!path || path[0] != '/') return NULL;
    const char *name = path[1] ? path + 1 : "index.html";
    if (wasm_bytes && strcmp(name, wasm_file.name) == 0) return &wasm_file;
    for (unsigned i = 0; i < plow_www_count && i < WWW_MAX; i++)
        if (strcmp(plow_www_files[i].name, name) == 0) return &plow_www_files[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

const char *www_ctype(const www_file *f) {
    if (ends_with(f->name, ".html")) return "text/html; charset=utf-8";
    if (ends_with(f->name, ".js") || ends_with(f->name, ".mjs")) return "text/javascript; charset=utf-8";
    if (ends_with(f->name, ".wasm")) return "application/wasm";
    if (ends_with(f->name, ".css")) return "text/css; charset=utf-8";
    if (ends_with(f->name, ".png")) return "image/png";
    if (ends_with(f->name, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

const char *www_etag(const www_file *f) {
    if (f == &wasm_file) return wasm_etag;
    pthread_once(&etags_once, etags_init);
    size_t i = (size_t)(f - plow_www_files);
    return i < WWW_MAX ? etags[i] : "\"0\"";
}
