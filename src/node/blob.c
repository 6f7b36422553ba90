/*
 * blob.c — the content-addressed blob store: task specs, datasets,
 * checkpoints, receipts, models, addressed by the SHA-256 of their bytes.
 *
 * Layout, under the directory given to blob_store_open (the node passes
 * DATA/blobs):
 *   ab/<64 hex>      a stored blob ("ab" = its first hash byte, in hex)
 *   tmp/<rand>.part  an upload in progress
 *
 * A blob is written to a fresh temporary file while its hash is computed,
 * fsynced, and renamed into place only when the hash is the one claimed, so
 * a file under its hash always holds exactly those bytes, even after a crash
 * (a crash leaves at most a .part file, removed at the next open). Two
 * uploads of the same blob write two temporary files; whichever finishes
 * second finds the blob present and drops its own. Readers re-hash what they
 * copy out, so a blob damaged on disk is reported, never served.
 *
 * Thread safety: the store holds no mutable state after open; every
 * function may be called from any thread; a writer belongs to one thread.
 * Non-goals: garbage collection, quotas beyond the per-blob size limit.
 */
#include "../base/plow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"

#define BLOB_IO_CHUNK (1u << 20)

struct blob_store {
    char *root; /* the directory given */
    char *tmp;  /* root/tmp */
    uint64_t max_size;
};

struct blob_writer {
    blob_store *b;
    char *part;       /* the temporary file */
    int fd;
    plow_sha256 *h;
    uint64_t size;
    bool has_want;
    uint8_t want[32];
    bool failed;      /* a write failed: finish refuses */
};

/* ---- paths ------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), n;
    PLOW_ASSERT(plow_add_size(la, lb, &n) && plow_add_size(n, 2, &n));
    char *p = plow_alloc(n);
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* root/ab */
static char *shard_dir(const blob_store *b, const uint8_t hash[32]) {
    char sub[3];
    plow_hex(hash, 1, sub);
    return path_join(b->root, sub);
}

/* root/ab/<64 hex> */
static char *blob_file(const blob_store *b, const uint8_t hash[32]) {
    char hex[65];
    plow_hex(hash, 32, hex);
    char *dir = shard_dir(b, hash);
    char *p = path_join(dir, hex);
    free(dir);
    return p;
}

/* fsync of a directory, so a rename or a new entry in it is durable. */
static int fsync_dir(const char *dir, char err[PLOW_ERR_LEN]) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return plow_error(err, "cannot open directory '%s': %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL) rc = plow_error(err, "cannot flush directory '%s': %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- open / close ------------------------------------------------------------ */

/* Removes the temporary files a crash left behind. */
static void remove_stale(const blob_store *b) {
    DIR *d = opendir(b->tmp);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".part") != 0) continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int blob_store_open(blob_store **out, const char *dir, uint64_t max_size, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    blob_store *b = plow_calloc(1, sizeof *b);
    b->root = plow_strdup(dir);
    b->tmp = path_join(b->root, "tmp");
    b->max_size = max_size ? max_size : BLOB_MAX_DEFAULT;
    if (plow_mkdir_p(b->tmp, err) != 0) {
        blob_store_close(b);
        return -1;
    }
    remove_stale(b);
    *out = b;
    return 0;
}

void blob_store_close(blob_store *b) {
    if (!b) return;
    free(b->root);
    free(b->tmp);
    free(b);
}

bool blob_has(blob_store *b, const uint8_t hash[32]) {
    char *p = blob_file(b, hash);
    bool ok = plow_file_exists(p);
    free(p);
    return ok;
}

char *blob_path(blob_store *b, const uint8_t hash[32]) {
    char *p = blob_file(b, hash);
    if (plow_file_exists(p)) return p;
    free(p);
    return NULL;
}

/* ---- writing ------------------------------------------------------------------ */

static int writer_begin(blob_store *b, const uint8_t *want, blob_writer **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    blob_writer *w = plow_calloc(1, sizeof *w);
    w->b = b;
    w->part = path_join(b->tmp, "XXXXXX.part");
    w->fd = mkostemps(w->part, 5, O_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w->part);
        free(w);
        return plow_error(err, "cannot create a temporary blob file in '%s': %s", b->tmp, strerror(e));
    }
    fchmod(w->fd, 0644); /* blobs are public content */
    if (want) {
        w->has_want = true;
        memcpy(w->want, want, 32);
    }
    w->h = plow_sha256_new();
    *out = w;
    return 0;
}

static void writer_free(blob_writer *w, bool unlink_part) {
    if (w->fd >= 0) close(w->fd);
    if (unlink_part) unlink(w->part);
    if (w->h) {
        uint8_t scratch[32];
        plow_sha256_final(w->h, scratch); /* frees it */
    }
    free(w->part);
    free(w);
}

int blob_write_begin(blob_store *b, const uint8_t want[32], blob_writer **out, char err[PLOW_ERR_LEN]) {
    return writer_begin(b, want, out, err);
}

int blob_write(blob_writer *w, const void *data, size_t n, char err[PLOW_ERR_LEN]) {
    if (w->failed) return plow_error(err, "blob upload already failed");
    uint64_t size;
    if (!plow_add_u64(w->size, n, &size) || size > w->b->max_size) {
        w->failed = true;
        return plow_error(err, "blob larger than the node's limit of %llu bytes", (unsigned long long)w->b->max_size);
    }
    if (n == 0) return 0;
    if (write_all(w->fd, data, n) != 0) {
        w->failed = true;
        return plow_error(err, "cannot write '%s': %s", w->part, strerror(errno));
    }
    plow_sha256_update(w->h, data, n);
    w->size = size;
    return 0;
}

/* Checks the hash, moves the file into place; fills got with the hash. */
static int writer_finish(blob_writer *w, uint8_t got[32], char err[PLOW_ERR_LEN]) {
    int rc = -1;
    char *dir = NULL, *dst = NULL;
    plow_sha256_final(w->h, got);
    w->h = NULL;
    if (w->failed) {
        plow_error(err, "blob upload failed");
        goto out;
    }
    if (w->has_want && memcmp(got, w->want, 32) != 0) {
        char hw[65], hg[65];
        plow_hex(w->want, 32, hw);
        plow_hex(got, 32, hg);
        plow_error(err, "blob does not hash to %s: got %s", hw, hg);
        goto out;
    }
    if (fsync(w->fd) != 0) {
        plow_error(err, "cannot flush '%s': %s", w->part, strerror(errno));
        goto out;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        plow_error(err, "cannot write '%s': %s", w->part, strerror(errno));
        goto out;
    }
    dir = shard_dir(w->b, got);
    dst = blob_file(w->b, got);
    if (plow_file_exists(dst)) { /* same hash, same bytes: keep the one there */
        rc = 0;
        goto out;
    }
    if (mkdir(dir, 0755) == 0) {
        if (fsync_dir(w->b->root, err) != 0) goto out;
    } else if (errno != EEXIST) {
        plow_error(err, "cannot create directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    if (rename(w->part, dst) != 0) {
        plow_error(err, "cannot move blob into '%s': %s", dst, strerror(errno));
        goto out;
    }
    if (fsync_dir(dir, err) != 0) goto out;
    rc = 0;
out:
    writer_free(w, true); /* after a rename the .part name is gone: unlink is a no-op */
    free(dir);
    free(dst);
    return rc;
}

int blob_write_finish(blob_writer *w, char err[PLOW_ERR_LEN]) {
    uint8_t got[32];
    return writer_finish(w, got, err);
}

void blob_write_abort(blob_writer *w) {
    if (w) writer_free(w, true);
}

int blob_put(blob_store *b, const void *data, size_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    if (n > b->max_size)
        return plow_error(err, "blob larger than the node's limit of %llu bytes", (unsigned long long)b->max_size);
    blob_writer *w;
    if (writer_begin(b, NULL, &w, err) != 0) return -1;
    if (blob_write(w, data, n, err) != 0) {
        blob_write_abort(w);
        return -1;
    }
    return writer_finish(w, hash, err);
}

int blob_put_file(blob_store *b, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return plow_error(err, "cannot open '%s': %s", path, strerror(errno));
    blob_writer *w;
    if (writer_begin(b, NULL, &w, err) != 0) {
        close(fd);
        return -1;
    }
    uint8_t *buf = plow_alloc(BLOB_IO_CHUNK);
    int rc = -1;
    for (;;) {
        ssize_t r = read(fd, buf, BLOB_IO_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            plow_error(err, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0) {
            rc = 0;
            break;
        }
        if (blob_write(w, buf, (size_t)r, err) != 0) break;
    }
    free(buf);
    close(fd);
    if (rc != 0) {
        blob_write_abort(w);
        return -1;
    }
    return writer_finish(w, hash, err);
}

/* ---- reading ------------------------------------------------------------------ */

static int open_blob(blob_store *b, const uint8_t hash[32], int *fd, char **path, char err[PLOW_ERR_LEN]) {
    *path = blob_file(b, hash);
    *fd = open(*path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0) return 0;
    int e = errno;
    char hex[65];
    plow_hex(hash, 32, hex);
    free(*path);
    *path = NULL;
    if (e == ENOENT) return plow_error(err, "no blob %s in this store", hex);
    return plow_error(err, "cannot open blob %s: %s", hex, strerror(e));
}

static int check_hash(plow_sha256 *h, const uint8_t want[32], char err[PLOW_ERR_LEN]) {
    uint8_t got[32];
    plow_sha256_final(h, got);
    if (memcmp(got, want, 32) == 0) return 0;
    char hw[65], hg[65];
    plow_hex(want, 32, hw);
    plow_hex(got, 32, hg);
    return plow_error(err, "stored blob %s is damaged: it hashes to %s", hw, hg);
}

int blob_get(blob_store *b, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]) {
    *data = NULL;
    *n = 0;
    int fd;
    char *path;
    if (open_blob(b, hash, &fd, &path, err) != 0) return -1;
    int rc = -1;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fd, &sb) != 0) {
        plow_error(err, "cannot stat '%s': %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        plow_error(err, "blob '%s' is too large to load", path);
        goto out;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    buf = plow_alloc(size ? size : 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            plow_error(err, "cannot read '%s': %s", path, r < 0 ? strerror(errno) : "it shrank while read");
            goto out;
        }
        got += (size_t)r;
    }
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, buf, size);
    if (check_hash(h, hash, err) != 0) goto out;
    *data = buf;
    *n = size;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    free(path);
    close(fd);
    return rc;
}

int blob_get_file(blob_store *b, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    int in;
    char *src;
    if (open_blob(b, hash, &in, &src, err) != 0) return -1;
    size_t plen = strlen(path);
    char *tmp = plow_alloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.XXXXXX.tmp", path);
    int rc = -1, out = mkostemps(tmp, 4, O_CLOEXEC);
    uint8_t *buf = NULL;
    if (out < 0) {
        plow_error(err, "cannot create '%s': %s", tmp, strerror(errno));
        goto done;
    }
    fchmod(out, 0644);
    buf = plow_alloc(BLOB_IO_CHUNK);
    plow_sha256 *h = plow_sha256_new();
    for (;;) {
        ssize_t r = read(in, buf, BLOB_IO_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            plow_error(err, "cannot read '%s': %s", src, strerror(errno));
            break;
        }
        if (r == 0) {
            rc = 0;
            break;
        }
        plow_sha256_update(h, buf, (size_t)r);
        if (write_all(out, buf, (size_t)r) != 0) {
            plow_error(err, "cannot write '%s': %s", tmp, strerror(errno));
            break;
        }
    }
    if (rc == 0) {
        rc = check_hash(h, hash, err);
    } else {
        uint8_t scratch[32];
        plow_sha256_final(h, scratch);
    }
    if (rc == 0 && fsync(out) != 0) rc = plow_error(err, "cannot flush '%s': %s", tmp, strerror(errno));
    if (close(out) != 0 && rc == 0) rc = plow_error(err, "cannot write '%s': %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = plow_error(err, "cannot write '%s': %s", path, strerror(errno));
    if (rc != 0) unlink(tmp);
done:
    free(buf);
    free(tmp);
    free(src);
    close(in);
    return rc;
}
