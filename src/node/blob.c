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
 * The index (issue 10, finding 7): every stored blob's size, its uploader
 * (ab/<64 hex>.owner, 32 bytes, written before the blob appears; absent:
 * unknown, charged to nobody), when it was added (the file's mtime: a
 * re-upload of a present blob touches it) and when a collection pass last
 * found it referenced (memory only: after a restart a blob counts as
 * referenced at start, so collection waits a retention period more, never
 * less). Per-uploader byte counts give the node its quotas. A blob whose
 * bytes were hashed and matched is "verified" for that file (inode, mtime,
 * size); reads of an unverified one hash it first, and a blob found
 * damaged (by a read, a stream, or blob_scrub) is removed, so it is never
 * served and a good upload puts it back.
 *
 * Thread safety: the index is under the store's mutex; every function may
 * be called from any thread; a writer belongs to one thread.
 */
#include "../base/plow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node_internal.h"

#define BLOB_IO_CHUNK (1u << 20)

typedef struct blob_ent {
    uint64_t size, added_ms, last_ref_ms;
    uint8_t owner[32]; /* zeros: unknown */
    bool verified;
    uint64_t v_ino, v_mtime_ns; /* the file that was verified */
} blob_ent;

struct blob_store {
    char *root; /* the directory given */
    char *tmp;  /* root/tmp */
    uint64_t max_size;
    pthread_mutex_t mu; /* idx, usage, and moving files in and out */
    keytab idx;         /* hash -> blob_ent */
    keytab usage;       /* owner -> uint64_t bytes */
    uint64_t total;     /* bytes of every blob */
};

static const uint8_t zero32[32];

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mtime_ns(const struct stat *sb) {
    return (uint64_t)sb->st_mtim.tv_sec * 1000000000u + (uint64_t)sb->st_mtim.tv_nsec;
}

/* mu held. */
static void usage_add(blob_store *b, const uint8_t owner[32], uint64_t size, bool add) {
    if (memcmp(owner, zero32, 32) == 0) return;
    uint64_t *u = keytab_put(&b->usage, owner, NULL);
    *u = add ? *u + size : (*u > size ? *u - size : 0);
    if (!*u) keytab_remove(&b->usage, owner);
}

/* mu held: hash enters the index (or is refreshed). */
static blob_ent *index_put(blob_store *b, const uint8_t hash[32], uint64_t size, const uint8_t owner[32],
                           uint64_t added_ms) {
    bool created = false;
    blob_ent *e = keytab_put(&b->idx, hash, &created);
    if (!created) {
        usage_add(b, e->owner, e->size, false);
        b->total -= e->size < b->total ? e->size : b->total;
    }
    e->size = size;
    e->added_ms = added_ms;
    if (created) e->last_ref_ms = 0;
    memcpy(e->owner, owner ? owner : zero32, 32);
    e->verified = false;
    usage_add(b, e->owner, size, true);
    b->total += size;
    return e;
}

/* mu held: hash leaves the index. */
static void index_drop(blob_store *b, const uint8_t hash[32]) {
    blob_ent *e = keytab_get(&b->idx, hash);
    if (!e) return;
    usage_add(b, e->owner, e->size, false);
    b->total -= e->size < b->total ? e->size : b->total;
    keytab_remove(&b->idx, hash);
}

struct blob_writer {
    blob_store *b;
    char *part;       /* the temporary file */
    int fd;
    plow_sha256 *h;
    uint64_t size;
    bool has_want;
    uint8_t want[32];
    bool failed;      /* a write failed: finish refuses */
    uint8_t owner[32]; /* who is charged (zeros: nobody) */
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

/* root/ab/<64 hex>.owner */
static char *owner_file(const blob_store *b, const uint8_t hash[32]) {
    char *f = blob_file(b, hash);
    size_t n = strlen(f);
    f = plow_realloc(f, n + 7);
    memcpy(f + n, ".owner", 7);
    return f;
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

static bool is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[64] == 0;
}

/* The index from the files: every ab/<64 hex>, its size, mtime and owner. */
static void load_index(blob_store *b) {
    for (int k = 0; k < 256; k++) {
        char sub[3];
        uint8_t kb = (uint8_t)k;
        plow_hex(&kb, 1, sub);
        char *dir = path_join(b->root, sub);
        DIR *d = opendir(dir);
        if (!d) {
            free(dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strlen(e->d_name) != 64 || !is_hex64(e->d_name) || strncmp(e->d_name, sub, 2) != 0) continue;
            uint8_t h[32];
            struct stat sb;
            if (plow_unhex(e->d_name, h, 32) != 0 || fstatat(dirfd(d), e->d_name, &sb, 0) != 0 || !S_ISREG(sb.st_mode))
                continue;
            uint8_t owner[32] = {0};
            char *of = owner_file(b, h);
            int fd = open(of, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                if (read(fd, owner, 32) != 32) memset(owner, 0, 32);
                close(fd);
            }
            free(of);
            index_put(b, h, (uint64_t)sb.st_size, owner, mtime_ns(&sb) / 1000000u);
        }
        closedir(d);
        free(dir);
    }
}

int blob_store_open(blob_store **out, const char *dir, uint64_t max_size, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    blob_store *b = plow_calloc(1, sizeof *b);
    b->root = plow_strdup(dir);
    b->tmp = path_join(b->root, "tmp");
    b->max_size = max_size ? max_size : BLOB_MAX_DEFAULT;
    pthread_mutex_init(&b->mu, NULL);
    keytab_init(&b->idx, sizeof(blob_ent));
    keytab_init(&b->usage, sizeof(uint64_t));
    if (plow_mkdir_p(b->tmp, err) != 0) {
        blob_store_close(b);
        return -1;
    }
    remove_stale(b);
    load_index(b);
    uint64_t now = now_ms();
    for (size_t i = 0; i < b->idx.cap; i++) { /* referenced "at start": see the index comment */
        blob_ent *e = keytab_slot(&b->idx, i, NULL);
        if (e) e->last_ref_ms = now;
    }
    *out = b;
    return 0;
}

void blob_store_close(blob_store *b) {
    if (!b) return;
    keytab_release(&b->idx);
    keytab_release(&b->usage);
    pthread_mutex_destroy(&b->mu);
    free(b->root);
    free(b->tmp);
    free(b);
}

uint64_t blob_usage(blob_store *b, const uint8_t owner[32]) {
    pthread_mutex_lock(&b->mu);
    const uint64_t *u = keytab_get(&b->usage, owner);
    uint64_t v = u ? *u : 0;
    pthread_mutex_unlock(&b->mu);
    return v;
}

void blob_totals(blob_store *b, size_t *count, uint64_t *bytes) {
    pthread_mutex_lock(&b->mu);
    *count = b->idx.n;
    *bytes = b->total;
    pthread_mutex_unlock(&b->mu);
}

/* Removes a blob (its file, its owner file, its index entry). */
static void remove_blob(blob_store *b, const uint8_t hash[32]) {
    char *f = blob_file(b, hash), *of = owner_file(b, hash);
    pthread_mutex_lock(&b->mu);
    unlink(f);
    unlink(of);
    index_drop(b, hash);
    pthread_mutex_unlock(&b->mu);
    free(f);
    free(of);
}

void blob_mark_damaged(blob_store *b, const uint8_t hash[32]) { remove_blob(b, hash); }

/* After bytes hashed right: the file of hash (fd) is verified. */
static void mark_verified(blob_store *b, const uint8_t hash[32], int fd) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return;
    pthread_mutex_lock(&b->mu);
    blob_ent *e = keytab_get(&b->idx, hash);
    if (e) {
        e->verified = true;
        e->v_ino = (uint64_t)sb.st_ino;
        e->v_mtime_ns = mtime_ns(&sb);
    }
    pthread_mutex_unlock(&b->mu);
}

static bool is_verified(blob_store *b, const uint8_t hash[32], const struct stat *sb) {
    pthread_mutex_lock(&b->mu);
    const blob_ent *e = keytab_get(&b->idx, hash);
    bool v = e && e->verified && e->v_ino == (uint64_t)sb->st_ino && e->v_mtime_ns == mtime_ns(sb) &&
             e->size == (uint64_t)sb->st_size;
    pthread_mutex_unlock(&b->mu);
    return v;
}

/* Hashes fd from the start: 0 the bytes are hash's, 1 they are not, -1 a read error. */
static int hash_fd(int fd, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    uint8_t *buf = plow_alloc(BLOB_IO_CHUNK);
    plow_sha256 *h = plow_sha256_new();
    uint64_t off = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, BLOB_IO_CHUNK, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = plow_error(err, "cannot read a blob: %s", strerror(errno));
            break;
        }
        if (r == 0) break;
        plow_sha256_update(h, buf, (size_t)r);
        off += (uint64_t)r;
    }
    uint8_t got[32];
    plow_sha256_final(h, got);
    free(buf);
    if (rc == 0 && memcmp(got, hash, 32) != 0) rc = 1;
    return rc;
}

int blob_open_checked(blob_store *b, const uint8_t hash[32], int *fd_out, uint64_t *size, bool *damaged,
                      char err[PLOW_ERR_LEN]) {
    *fd_out = -1;
    *damaged = false;
    char *p = blob_file(b, hash);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    char hex[65];
    plow_hex(hash, 32, hex);
    if (fd < 0) return plow_error(err, "no blob %s", hex);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return plow_error(err, "cannot stat blob %s: %s", hex, strerror(errno));
    }
    if (!is_verified(b, hash, &sb)) {
        int h = hash_fd(fd, hash, err);
        if (h != 0) {
            close(fd);
            if (h < 0) return -1;
            blob_mark_damaged(b, hash);
            *damaged = true;
            return plow_error(err, "blob %s was damaged on this node's disk and is removed: upload it again", hex);
        }
        mark_verified(b, hash, fd);
    }
    *fd_out = fd;
    *size = (uint64_t)sb.st_size;
    return 0;
}

/* The hashes of every indexed blob, 32 bytes each (*n of them; caller frees). */
static uint8_t *index_hashes(blob_store *b, size_t *n) {
    pthread_mutex_lock(&b->mu);
    *n = 0;
    uint8_t *hs = plow_alloc((b->idx.n ? b->idx.n : 1) * 32);
    for (size_t i = 0; i < b->idx.cap; i++) {
        const uint8_t *k;
        if (keytab_slot(&b->idx, i, &k)) memcpy(hs + 32 * (*n)++, k, 32);
    }
    pthread_mutex_unlock(&b->mu);
    return hs;
}

int blob_scrub(blob_store *b, size_t *checked, size_t *damaged, char err[PLOW_ERR_LEN]) {
    *checked = *damaged = 0;
    size_t n;
    uint8_t *hs = index_hashes(b, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = blob_file(b, hs + 32 * i);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        free(p);
        if (fd < 0) { /* gone since (collected): drop a stale entry */
            if (errno == ENOENT) remove_blob(b, hs + 32 * i);
            continue;
        }
        int h = hash_fd(fd, hs + 32 * i, err);
        if (h == 0) mark_verified(b, hs + 32 * i, fd);
        close(fd);
        if (h < 0) {
            rc = -1;
            break;
        }
        (*checked)++;
        if (h == 1) {
            blob_mark_damaged(b, hs + 32 * i);
            (*damaged)++;
        }
    }
    free(hs);
    return rc;
}

int blob_collect(blob_store *b, bool (*referenced)(const uint8_t hash[32], void *arg), void *arg,
                 uint64_t retention_ms, size_t *removed, uint64_t *bytes) {
    *removed = 0;
    *bytes = 0;
    uint64_t now = now_ms();
    size_t n;
    uint8_t *hs = index_hashes(b, &n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = hs + 32 * i;
        bool ref = referenced(h, arg);
        char *f = blob_file(b, h), *of = owner_file(b, h);
        pthread_mutex_lock(&b->mu);
        blob_ent *e = keytab_get(&b->idx, h);
        if (e && ref) {
            e->last_ref_ms = now;
        } else if (e) {
            uint64_t since = e->added_ms > e->last_ref_ms ? e->added_ms : e->last_ref_ms;
            if (now >= since && now - since >= retention_ms) {
                (*removed)++;
                *bytes += e->size;
                unlink(f);
                unlink(of);
                index_drop(b, h);
            }
        }
        pthread_mutex_unlock(&b->mu);
        free(f);
        free(of);
    }
    free(hs);
    return 0;
}

bool blob_has(blob_store *b, const uint8_t hash[32]) {
    pthread_mutex_lock(&b->mu);
    bool ok = keytab_get(&b->idx, hash) != NULL;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

bool blob_size(blob_store *b, const uint8_t hash[32], uint64_t *size) {
    pthread_mutex_lock(&b->mu);
    const blob_ent *e = keytab_get(&b->idx, hash);
    if (e) *size = e->size;
    pthread_mutex_unlock(&b->mu);
    return e != NULL;
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

void blob_writer_set_owner(blob_writer *w, const uint8_t owner[32]) { memcpy(w->owner, owner, 32); }

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
    blob_store *b = w->b;
    /* moving in and the index change together, under the store's lock (a
     * collection pass cannot remove a blob an upload just found present) */
    /* Present already: same hash. Its file is hashed (outside the lock):
     * good, it stays and its age is refreshed; damaged, the new bytes
     * (their hash was checked) replace it. */
    int pfd = open(dst, O_RDONLY | O_CLOEXEC);
    bool present_ok = false;
    if (pfd >= 0) {
        char e2[PLOW_ERR_LEN];
        present_ok = hash_fd(pfd, got, e2) == 0;
        if (present_ok) mark_verified(b, got, pfd);
        close(pfd);
    }
    pthread_mutex_lock(&b->mu);
    blob_ent *have = keytab_get(&b->idx, got);
    if (present_ok && have && plow_file_exists(dst)) {
        utimensat(AT_FDCWD, dst, NULL, 0);
        have->added_ms = now_ms();
        pthread_mutex_unlock(&b->mu);
        rc = 0;
        goto out;
    }
    if (mkdir(dir, 0755) == 0) {
        if (fsync_dir(b->root, err) != 0) goto unlock;
    } else if (errno != EEXIST) {
        plow_error(err, "cannot create directory '%s': %s", dir, strerror(errno));
        goto unlock;
    }
    if (memcmp(w->owner, zero32, 32) != 0) {
        char *of = owner_file(b, got);
        int orc = plow_write_file(of, w->owner, 32, err);
        free(of);
        if (orc != 0) goto unlock;
    }
    if (rename(w->part, dst) != 0) {
        plow_error(err, "cannot move blob into '%s': %s", dst, strerror(errno));
        goto unlock;
    }
    if (fsync_dir(dir, err) != 0) goto unlock;
    blob_ent *e = index_put(b, got, w->size, w->owner, now_ms());
    struct stat sb;
    if (stat(dst, &sb) == 0) { /* hashed on the way in */
        e->verified = true;
        e->v_ino = (uint64_t)sb.st_ino;
        e->v_mtime_ns = mtime_ns(&sb);
    }
    rc = 0;
unlock:
    pthread_mutex_unlock(&b->mu);
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
    if (check_hash(h, hash, err) != 0) {
        blob_mark_damaged(b, hash);
        goto out;
    }
    mark_verified(b, hash, fd);
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
        if (rc != 0) blob_mark_damaged(b, hash);
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
