/*
 * keys.c — ed25519 keys (libsodium), key files and checksummed addresses.
 *
 * A key file holds the 32-byte seed, never the expanded secret key: the key
 * is rebuilt with crypto_sign_seed_keypair and checked against the address
 * written beside it, so a corrupted or hand-edited file is refused instead of
 * silently becoming another account. Every buffer that held the seed (or its
 * hex) is wiped with sodium_memzero on every path out.
 *
 * Non-goals: encrypted key files, key derivation, hardware keys.
 */
#include "../base/plow.h"

#include "ledger.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FORMAT "plow.key.v1"
#define KEY_FILE_MAX 4096 /* a key file is about 190 bytes */
#define ADDR_PREFIX "plow"
#define ADDR_PREFIX_LEN 4
#define ADDR_CHECK_LEN 4 /* bytes of checksum (8 hex digits) */

_Static_assert(LEDGER_ADDR_STR_LEN == ADDR_PREFIX_LEN + 2 * LEDGER_PK_LEN + 2 * ADDR_CHECK_LEN + 1,
               "address length");
_Static_assert(LEDGER_PK_LEN == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(LEDGER_SK_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(LEDGER_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(32 == crypto_sign_SEEDBYTES, "seed size");

/* ---- libsodium start-up ---------------------------------------------------- */

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_status = -1;

static void crypto_init_once(void) {
    crypto_status = sodium_init() < 0 ? -1 : 0;
}

/* Calls sodium_init exactly once per process, whichever thread gets here
 * first; every later call returns the first call's result. */
int ledger_crypto_init(char err[PLOW_ERR_LEN]) {
    pthread_once(&crypto_once, crypto_init_once);
    if (crypto_status != 0) return plow_error(err, "cannot initialise libsodium");
    return 0;
}

/* The void functions below cannot report an error: libsodium failing to start
 * (no entropy source at all) is treated like out-of-memory. */
static void crypto_require(void) {
    char err[PLOW_ERR_LEN];
    if (ledger_crypto_init(err) != 0) {
        fprintf(stderr, "plow: %s\n", err);
        abort();
    }
}

/* ---- keys ------------------------------------------------------------------- */

/* A fresh key from the operating system's random source. */
void ledger_key_generate(ledger_key *k) {
    crypto_require();
    crypto_sign_keypair(k->pk, k->sk);
}

/* The key of a 32-byte seed (deterministic: tests and key files). */
void ledger_key_from_seed(ledger_key *k, const uint8_t seed[32]) {
    crypto_require();
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
}

/* Wipes both halves; the key is unusable afterwards. */
void ledger_key_wipe(ledger_key *k) {
    sodium_memzero(k, sizeof *k);
}

/* Writes all n bytes or fails with errno set. */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Best effort: makes the new directory entry durable. A failure here does
 * not lose the key file's contents, which are already fsynced. */
static void fsync_parent(const char *path) {
    char *copy = plow_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Creates `path` with O_EXCL and mode 0600 (never follows or replaces an
 * existing file or link), writes the JSON, fsyncs. On a write failure the
 * half-written file is removed. The text buffer holding the seed is wiped. */
int ledger_key_save(const ledger_key *k, const char *path, char err[PLOW_ERR_LEN]) {
    if (ledger_crypto_init(err) != 0) return -1;
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(k->pk, addr);
    char text[256], seed_hex[65];
    plow_hex(k->sk, 32, seed_hex);
    int len = snprintf(text, sizeof text, "{\"format\": \"%s\", \"address\": \"%s\", \"seed\": \"%s\"}\n",
                       KEY_FORMAT, addr, seed_hex);
    sodium_memzero(seed_hex, sizeof seed_hex);
    PLOW_ASSERT(len > 0 && (size_t)len < sizeof text);

    int rc = -1;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            plow_error(err, "'%s' exists: refusing to overwrite a key", path);
        else
            plow_error(err, "cannot create '%s': %s", path, strerror(errno));
        goto out;
    }
    if (write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
        plow_error(err, "cannot write '%s': %s", path, strerror(errno));
        close(fd);
        unlink(path);
        goto out;
    }
    if (close(fd) != 0) {
        plow_error(err, "cannot write '%s': %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    fsync_parent(path);
    rc = 0;
out:
    sodium_memzero(text, sizeof text);
    return rc;
}

/* Reads at most KEY_FILE_MAX bytes of an open file into buf (NUL-terminated). */
static int read_small(int fd, const char *path, char *buf, size_t cap, size_t *got,
                      char err[PLOW_ERR_LEN]) {
    size_t n = 0;
    for (;;) {
        if (n == cap - 1) return plow_error(err, "'%s' is too large for a key file", path);
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return plow_error(err, "cannot read '%s': %s", path, strerror(errno));
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *got = n;
    return 0;
}

/* The string member `name` of obj, which must be present exactly once. */
static cJSON *key_field(const cJSON *obj, const char *name) {
    cJSON *found = NULL;
    for (cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, name) == 0) {
            if (found) return NULL;
            found = c;
        }
    return found && cJSON_IsString(found) ? found : NULL;
}

/* Wipes every string value in a parsed key file before it is freed. */
static void wipe_json(cJSON *j) {
    for (cJSON *c = j ? j->child : NULL; c; c = c->next)
        if (cJSON_IsString(c) && c->valuestring) sodium_memzero(c->valuestring, strlen(c->valuestring));
}

/* Loads a key file written by ledger_key_save. The permission check is made
 * on the open descriptor (fstat), so the file checked is the file read. */
int ledger_key_load(ledger_key *k, const char *path, char err[PLOW_ERR_LEN]) {
    memset(k, 0, sizeof *k);
    if (ledger_crypto_init(err) != 0) return -1;
    char text[KEY_FILE_MAX];
    uint8_t seed[32];
    cJSON *j = NULL;
    int rc = -1;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return plow_error(err, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        plow_error(err, "cannot stat '%s': %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        plow_error(err, "'%s' is not a regular file", path);
        close(fd);
        goto out;
    }
    if (st.st_mode & 077) {
        plow_error(err, "'%s' is readable by others: chmod 600 %s", path, path);
        close(fd);
        goto out;
    }
    int r = read_small(fd, path, text, sizeof text, &n, err);
    close(fd);
    if (r != 0) goto out;

    /* cJSON stops at a NUL: one inside the file would hide what follows. */
    if (strlen(text) != n) {
        plow_error(err, "'%s' is not a key file (it contains a NUL byte)", path);
        goto out;
    }
    /* Nothing in a key file needs an escape; refusing them keeps "\u0000"
     * from silently cutting a string short. */
    if (strchr(text, '\\')) {
        plow_error(err, "'%s' is not a key file (it contains a backslash escape)", path);
        goto out;
    }
    j = cJSON_ParseWithOpts(text, NULL, true);
    if (!j || !cJSON_IsObject(j)) {
        plow_error(err, "'%s' is not a key file (not a JSON object)", path);
        goto out;
    }
    int fields = 0;
    for (cJSON *c = j->child; c; c = c->next) fields++;
    cJSON *format = key_field(j, "format"), *address = key_field(j, "address"), *seed_s = key_field(j, "seed");
    if (!format || !address || !seed_s || fields != 3) {
        plow_error(err, "'%s' is not a key file (expected exactly the string fields format, address, seed)", path);
        goto out;
    }
    if (strcmp(format->valuestring, KEY_FORMAT) != 0) {
        plow_error(err, "'%s': unknown key format (expected \"%s\")", path, KEY_FORMAT);
        goto out;
    }
    uint8_t want[LEDGER_PK_LEN];
    if (ledger_addr_parse(address->valuestring, want, err) != 0) {
        plow_error_prefix(err, path);
        goto out;
    }
    if (plow_unhex(seed_s->valuestring, seed, sizeof seed) != 0) {
        plow_error(err, "'%s': the seed must be 64 hex digits", path);
        goto out;
    }
    ledger_key_from_seed(k, seed);
    if (sodium_memcmp(k->pk, want, LEDGER_PK_LEN) != 0) {
        ledger_key_wipe(k);
        plow_error(err, "'%s': the seed does not give the stated address %s", path, address->valuestring);
        goto out;
    }
    rc = 0;
out:
    wipe_json(j);
    cJSON_Delete(j);
    sodium_memzero(text, sizeof text);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

/* ---- addresses ---------------------------------------------------------------- */

static void addr_checksum(const uint8_t pk[LEDGER_PK_LEN], uint8_t out[ADDR_CHECK_LEN]) {
    static const char domain[] = "plow/address"; /* hashed with its NUL */
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, domain, sizeof domain);
    plow_sha256_update(h, pk, LEDGER_PK_LEN);
    uint8_t d[32];
    plow_sha256_final(h, d);
    memcpy(out, d, ADDR_CHECK_LEN);
}

/* "plow" + 64 lowercase hex digits of pk + 8 of the checksum. */
void ledger_addr_format(const uint8_t pk[LEDGER_PK_LEN], char out[LEDGER_ADDR_STR_LEN]) {
    uint8_t check[ADDR_CHECK_LEN];
    addr_checksum(pk, check);
    memcpy(out, ADDR_PREFIX, ADDR_PREFIX_LEN);
    plow_hex(pk, LEDGER_PK_LEN, out + ADDR_PREFIX_LEN);
    plow_hex(check, ADDR_CHECK_LEN, out + ADDR_PREFIX_LEN + 2 * LEDGER_PK_LEN);
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Checks, in order: length, prefix, each digit, the checksum; the error
 * names the first thing wrong. Digits may be upper or lower case. */
int ledger_addr_parse(const char *s, uint8_t pk[LEDGER_PK_LEN], char err[PLOW_ERR_LEN]) {
    const size_t want = LEDGER_ADDR_STR_LEN - 1;
    size_t len = strnlen(s, want + 1);
    if (len != want)
        return plow_error(err, "bad address: %s%zu characters, expected %zu (\"plow\" and 72 hex digits)",
                          len > want ? "more than " : "", len > want ? want : len, want);
    if (memcmp(s, ADDR_PREFIX, ADDR_PREFIX_LEN) != 0)
        return plow_error(err, "bad address: must start with \"plow\"");
    uint8_t raw[LEDGER_PK_LEN + ADDR_CHECK_LEN];
    for (size_t i = 0; i < sizeof raw; i++) {
        const char *p = s + ADDR_PREFIX_LEN + 2 * i;
        int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
        if (hi < 0 || lo < 0) {
            size_t at = (size_t)(p - s) + (hi < 0 ? 0 : 1);
            unsigned char c = (unsigned char)s[at];
            if (c >= 0x20 && c < 0x7f)
                return plow_error(err, "bad address: '%c' at position %zu is not a hex digit", c, at + 1);
            return plow_error(err, "bad address: byte 0x%02x at position %zu is not a hex digit", c, at + 1);
        }
        raw[i] = (uint8_t)(hi << 4 | lo);
    }
    uint8_t check[ADDR_CHECK_LEN];
    addr_checksum(raw, check);
    if (memcmp(check, raw + LEDGER_PK_LEN, ADDR_CHECK_LEN) != 0)
        return plow_error(err, "bad address: checksum mismatch: mistyped address?");
    memcpy(pk, raw, LEDGER_PK_LEN);
    return 0;
}

/* ---- signatures ------------------------------------------------------------------- */

void ledger_sign(const ledger_key *k, const uint8_t *msg, size_t n, uint8_t sig[LEDGER_SIG_LEN]) {
    crypto_require();
    crypto_sign_detached(sig, NULL, msg, n, k->sk);
}

/* libsodium refuses non-canonical signatures (S >= L) and small-order keys,
 * so one message has one valid signature per key in practice. */
bool ledger_verify_sig(const uint8_t pk[LEDGER_PK_LEN], const uint8_t *msg, size_t n,
                       const uint8_t sig[LEDGER_SIG_LEN]) {
    crypto_require();
    return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}
