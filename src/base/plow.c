/*
 * plow.c — the base helpers declared in plow.h: errors, allocation, files,
 * hex, SHA-256 and byte buffers. Nothing here knows about models or ledgers.
 */
#include "plow.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int plow_error(char err[PLOW_ERR_LEN], const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, PLOW_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int plow_error_prefix(char err[PLOW_ERR_LEN], const char *what) {
    if (!err) return -1;
    char inner[PLOW_ERR_LEN];
    snprintf(inner, sizeof inner, "%s", err);
    return plow_error(err, "'%s': %s", what, inner);
}

void plow_bug(const char *file, int line, const char *expr) {
    fprintf(stderr, "plow: BUG: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

static void *oom(size_t n) {
    fprintf(stderr, "plow: out of memory allocating %zu bytes\n", n);
    abort();
}

void *plow_alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *plow_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : oom(count * size);
}

void *plow_alloc_aligned(size_t n) {
    size_t r;
    if (!plow_add_size(n, 63, &r)) oom(n);
    r &= ~(size_t)63;
    void *p = aligned_alloc(64, r ? r : 64);
    if (!p) oom(n);
    memset(p, 0, r ? r : 64);
    return p;
}

void *plow_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

void *plow_try_alloc(size_t n) { return malloc(n ? n : 1); }

void *plow_try_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }

void *plow_try_alloc_aligned(size_t n) {
    size_t r;
    if (!plow_add_size(n, 63, &r)) return NULL;
    r &= ~(size_t)63;
    void *p = aligned_alloc(64, r ? r : 64);
    if (p) memset(p, 0, r ? r : 64);
    return p;
}

char *plow_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = plow_alloc(n);
    memcpy(p, s, n);
    return p;
}

int plow_read_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                   char err[PLOW_ERR_LEN]) {
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return plow_error(err, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return plow_error(err, "cannot stat '%s': %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return plow_error(err, "'%s' is a directory, expected a file", path);
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        return plow_error(err, "'%s' is too large (%lld bytes, limit %zu)", path,
                          (long long)st.st_size, max_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = plow_alloc(n + 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return plow_error(err, "cannot read '%s': %s", path, r ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0; /* convenient for text; not counted in size */
    *data = buf;
    *size = n;
    return 0;
}

int plow_write_file(const char *path, const void *data, size_t size, char err[PLOW_ERR_LEN]) {
    size_t plen = strlen(path);
    char *tmp = plow_alloc(plen + 5);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        plow_error(err, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    const uint8_t *p = data;
    size_t left = size;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            plow_error(err, "cannot write '%s': %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        plow_error(err, "cannot flush '%s': %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        plow_error(err, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

int plow_mkdir_p(const char *path, char err[PLOW_ERR_LEN]) {
    char *p = plow_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return plow_error(err, "cannot create directory '%s': %s", path, strerror(e));
        }
        *s = '/';
    }
    int ok = mkdir(p, 0755) == 0 || errno == EEXIST;
    int e = errno;
    free(p);
    if (!ok) return plow_error(err, "cannot create directory '%s': %s", path, strerror(e));
    if (!plow_is_dir(path)) return plow_error(err, "'%s' exists and is not a directory", path);
    return 0;
}

bool plow_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool plow_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void plow_hex(const uint8_t *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int plow_unhex(const char *in, uint8_t *out, size_t n) {
    if (strlen(in) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

struct plow_sha256 {
    EVP_MD_CTX *ctx;
};

plow_sha256 *plow_sha256_new(void) {
    plow_sha256 *h = plow_alloc(sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    PLOW_ASSERT(h->ctx && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1);
    return h;
}

void plow_sha256_update(plow_sha256 *h, const void *data, size_t n) {
    PLOW_ASSERT(EVP_DigestUpdate(h->ctx, data, n) == 1);
}

void plow_sha256_final(plow_sha256 *h, uint8_t out[PLOW_HASH_LEN]) {
    unsigned int len = 0;
    PLOW_ASSERT(EVP_DigestFinal_ex(h->ctx, out, &len) == 1 && len == PLOW_HASH_LEN);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void plow_sha256_once(const void *data, size_t n, uint8_t out[PLOW_HASH_LEN]) {
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, data, n);
    plow_sha256_final(h, out);
}

void plow_buf_append(plow_buf *b, const void *data, size_t n) {
    size_t need;
    PLOW_ASSERT(plow_add_size(b->len, n, &need));
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need) {
            PLOW_ASSERT(plow_mul_size(cap, 2, &cap));
        }
        b->data = plow_realloc(b->data, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, data, n);
    b->len = need;
}

void plow_buf_u32(plow_buf *b, uint32_t v) {
    uint8_t p[4];
    plow_put_u32(p, v);
    plow_buf_append(b, p, 4);
}

void plow_buf_u64(plow_buf *b, uint64_t v) {
    uint8_t p[8];
    plow_put_u64(p, v);
    plow_buf_append(b, p, 8);
}

void plow_buf_printf(plow_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    PLOW_ASSERT(n >= 0);
    char *tmp = plow_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    plow_buf_append(b, tmp, (size_t)n);
    free(tmp);
}

void plow_buf_release(plow_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

double plow_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool plow_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || strlen(s) > 20) return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        if (!plow_mul_u64(v, 10, &v) || !plow_add_u64(v, (uint64_t)(*p - '0'), &v)) return false;
    }
    *out = v;
    return true;
}
