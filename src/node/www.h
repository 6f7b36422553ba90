/*
 * www.h — the explorer's static files, embedded in the binary at build time
 * (scripts/embed-www.sh writes BUILD/gen/www.c from www/ and, when
 * node_modules has it, uPlot's two files). `plow node` serves them at /NAME
 * (docs/explorer.md); a name is matched exactly, never looked up on disk.
 */
#ifndef PLOW_WWW_H
#define PLOW_WWW_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/plow.h"

typedef struct www_file {
    const char *name;           /* base name, e.g. "app.js" */
    const unsigned char *data;  /* its bytes (NUL after them, not counted) */
    size_t size;
} www_file;

extern const www_file plow_www_files[];  /* plow_www_count entries, then a zero one */
extern const unsigned plow_www_count;

/* The file served at request path `path` ("/" is index.html), or NULL. */
const www_file *www_find(const char *path);
/* Its Content-Type (by extension). */
const char *www_ctype(const www_file *f);
/* Reads plow.wasm from path, served at /plow.wasm from then on (call it
 * before the server starts). 0: loaded; 1: absent and not required (the
 * explorer then says the engine is not built); -1 (err): unreadable, not a
 * module, larger than WWW_WASM_MAX. */
#define WWW_WASM_MAX (64u << 20)
int www_wasm_load(const char *path, bool required, char err[PLOW_ERR_LEN]);
/* Its entity tag, a quoted prefix of the SHA-256 of its bytes (computed once). */
const char *www_etag(const www_file *f);

/* The headers every explorer file carries. */
#define WWW_CSP                                                                                                      \
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "            \
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define WWW_CACHE "no-cache" /* revalidate with the ETag: the files change with the binary */

#endif /* PLOW_WWW_H */
