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

const www_file *www_find(const char *path) {
    if (!path || path[0] != '/') return NULL;
    const char *name = path[1] ? path + 1 : "index.html";
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
    if (ends_with(f->name, ".js")) return "text/javascript; charset=utf-8";
    if (ends_with(f->name, ".css")) return "text/css; charset=utf-8";
    if (ends_with(f->name, ".png")) return "image/png";
    if (ends_with(f->name, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

const char *www_etag(const www_file *f) {
    pthread_once(&etags_once, etags_init);
    size_t i = (size_t)(f - plow_www_files);
    return i < WWW_MAX ? etags[i] : "\"0\"";
}
