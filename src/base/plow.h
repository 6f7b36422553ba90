/*
 * plow.h — the base header, included first by every .c file in plow.
 *
 * It holds what every module needs and nothing more: feature macros, the
 * fixed-width integer and bool headers, the error convention, checked size
 * arithmetic, and a few small helpers for files and hex.
 *
 * Error convention (stated here, and followed everywhere):
 *   - functions that can fail take `char err[PLOW_ERR_LEN]` as their last
 *     argument and return 0 on success or -1 on failure;
 *   - on failure they write one human-readable line into err (no trailing
 *     newline, no "plow:" prefix) with `return plow_error(err, "...", ...)`;
 *   - input from a user or a peer never asserts; PLOW_ASSERT is for bugs only
 *     and stays on in release builds.
 */
#ifndef PLOW_H
#define PLOW_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLOW_VERSION "0.1.0"
#define PLOW_ERR_LEN 256

#if defined(__GNUC__) || defined(__clang__)
#define PLOW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PLOW_NORETURN __attribute__((noreturn))
#define PLOW_UNUSED __attribute__((unused))
/* On security checks: ignoring the verdict is a compile error (-Werror). */
#define PLOW_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PLOW_PRINTF(a, b)
#define PLOW_NORETURN
#define PLOW_UNUSED
#define PLOW_MUST_CHECK
#endif

/* Writes a formatted message into err (if err is not NULL) and returns -1. */
int plow_error(char err[PLOW_ERR_LEN], const char *fmt, ...) PLOW_PRINTF(2, 3);

/* Prefixes the message already in err with "'what': " and returns -1. */
int plow_error_prefix(char err[PLOW_ERR_LEN], const char *what);

/* Prints "plow: BUG: <msg> at file:line" and aborts. Used by PLOW_ASSERT. */
PLOW_NORETURN void plow_bug(const char *file, int line, const char *expr);

#define PLOW_ASSERT(e) ((e) ? (void)0 : plow_bug(__FILE__, __LINE__, #e))

/* Checked arithmetic on sizes: return false (and leave *out unspecified)
 * on overflow. Every size that comes from a file or the wire goes through
 * these before an allocation. */
static inline bool plow_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool plow_add_size(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool plow_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool plow_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
/* A whole decimal number, digits only (no sign, no spaces), that fits 64
 * bits; false for anything else, NULL and "" included. */
bool plow_parse_u64(const char *s, uint64_t *out);

/* Allocation. plow_alloc aborts on out-of-memory (a bug-class condition for
 * the sizes plow works with); sizes are checked by the caller first.
 * plow_alloc_aligned returns 64-byte aligned, zeroed memory; free with free(). */
void *plow_alloc(size_t n);
void *plow_calloc(size_t count, size_t size);
void *plow_alloc_aligned(size_t n);
void *plow_realloc(void *p, size_t n);
char *plow_strdup(const char *s);
/* The checked path, for sizes someone else chose (a spec, a file header, a
 * peer): NULL instead of aborting, so the caller turns out-of-memory into an
 * error for that input and carries on. plow_try_alloc_aligned zeroes its
 * block like plow_alloc_aligned. */
void *plow_try_alloc(size_t n);
void *plow_try_calloc(size_t count, size_t size);
void *plow_try_alloc_aligned(size_t n);

/* Files. plow_read_file reads a whole file into a new buffer (caller frees),
 * refusing files larger than max_size. plow_write_file writes atomically:
 * to PATH.tmp, fsync, rename. */
int plow_read_file(const char *path, size_t max_size, uint8_t **data, size_t *size,
                   char err[PLOW_ERR_LEN]);
int plow_write_file(const char *path, const void *data, size_t size, char err[PLOW_ERR_LEN]);
int plow_mkdir_p(const char *path, char err[PLOW_ERR_LEN]);
bool plow_is_dir(const char *path);
bool plow_file_exists(const char *path);

/* Hex: out must hold 2*n+1 bytes. plow_unhex returns -1 on bad input. */
void plow_hex(const uint8_t *in, size_t n, char *out);
int plow_unhex(const char *in, uint8_t *out, size_t n);

/* SHA-256 (OpenSSL libcrypto, which uses the CPU's SHA instructions). */
#define PLOW_HASH_LEN 32

/* A byte count as a size_t, saturated at SIZE_MAX where size_t is 32 bits
 * (WebAssembly): a read limit of 2^40 means "no limit" there, not 0. */
#define PLOW_SIZE_CAP(v) ((uint64_t)(v) < (uint64_t)SIZE_MAX ? (size_t)(v) : SIZE_MAX)
typedef struct plow_sha256 plow_sha256;
plow_sha256 *plow_sha256_new(void);
void plow_sha256_update(plow_sha256 *h, const void *data, size_t n);
void plow_sha256_final(plow_sha256 *h, uint8_t out[PLOW_HASH_LEN]); /* also frees h */
void plow_sha256_once(const void *data, size_t n, uint8_t out[PLOW_HASH_LEN]);

/* Little-endian encoding helpers for the formats plow writes. */
static inline void plow_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void plow_put_u64(uint8_t *p, uint64_t v) {
    plow_put_u32(p, (uint32_t)v);
    plow_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t plow_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t plow_get_u64(const uint8_t *p) {
    return (uint64_t)plow_get_u32(p) | (uint64_t)plow_get_u32(p + 4) << 32;
}

/* A growable byte buffer for building files and messages in memory.
 * Zero-initialise (`plow_buf b = {0};`), append, then plow_buf_release. */
typedef struct plow_buf {
    uint8_t *data;
    size_t len, cap;
} plow_buf;
void plow_buf_append(plow_buf *b, const void *data, size_t n);
void plow_buf_u32(plow_buf *b, uint32_t v);
void plow_buf_u64(plow_buf *b, uint64_t v);
void plow_buf_printf(plow_buf *b, const char *fmt, ...) PLOW_PRINTF(2, 3);
void plow_buf_release(plow_buf *b);

/* Monotonic time in seconds. */
double plow_now(void);

#endif /* PLOW_H */
