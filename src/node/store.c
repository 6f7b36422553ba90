/*
 * store.c — the node's durable storage: one SQLite database (DIR/ledger.db)
 * holding blocks, included transactions with their results, the mempool,
 * dropped transactions, the ledger's state records and a little meta.
 *
 * Durability: WAL journal, synchronous=FULL, so a COMMIT that returned is on
 * disk. A block with its transactions, state records, dropped records and
 * the removal of its mempool entries is ONE SQLite transaction; a batch of
 * mempool entries is one transaction too (the node acknowledges them after
 * it returns: group commit).
 *
 * Threads: every store_* function may be called from any thread at any time.
 *   - one write connection, guarded by `wmu`: store_meta_put,
 *     store_mempool_add and store_commit_block take it for their whole
 *     transaction, so writes are serialised in this process;
 *   - a small pool of read-only connections (query_only) for every read:
 *     a reader takes a free connection (waiting on a condition variable when
 *     all are busy), and in WAL mode it runs alongside the writer. Reads that
 *     look at several tables (a block and its transactions, a transaction's
 *     status) run inside one read transaction, so they see one snapshot.
 * Each connection prepares its statements once, at open, and reuses them;
 * every use ends with sqlite3_reset so no statement keeps a read snapshot
 * open longer than the call.
 *
 * Schema (version STORE_SCHEMA_VERSION in PRAGMA user_version):
 *   meta(k TEXT PRIMARY KEY, v BLOB)                 'chain_id' and what the node puts
 *   blocks(height INTEGER PRIMARY KEY, hash UNIQUE, header, sig)
 *   txs(hash PRIMARY KEY, height, idx, raw, result, error), index (height, idx)
 *   mempool(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash, raw), index (hash)
 *   dropped(hash PRIMARY KEY, reason, height)
 *   state(k PRIMARY KEY, v) WITHOUT ROWID            the ledger's records
 *
 * Non-goals: pruning, migrations between schema versions (a database of
 * another version is refused), several processes writing one database.
 */
#include "../base/plow.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"

#define STORE_READERS 4
#define STORE_BUSY_MS 10000

/* ---- statements ----------------------------------------------------------- */

/* Statements of the write connection. */
enum {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_META_PUT,
    W_MEMPOOL_ADD,
    W_MEMPOOL_DEL,
    W_MAX_HEIGHT,
    W_BLOCK_ADD,
    W_TX_ADD,
    W_STATE_PUT,
    W_DROPPED_PUT,
    W_COUNT
};
static const char *const w_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_META_PUT] = "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
    [W_MEMPOOL_ADD] = "INSERT INTO mempool(hash, raw) VALUES(?1, ?2)",
    [W_MEMPOOL_DEL] = "DELETE FROM mempool WHERE seq <= ?1",
    [W_MAX_HEIGHT] = "SELECT coalesce(max(height), 0) FROM blocks",
    [W_BLOCK_ADD] = "INSERT INTO blocks(height, hash, header, sig) VALUES(?1, ?2, ?3, ?4)",
    [W_TX_ADD] = "INSERT INTO txs(hash, height, idx, raw, result, error) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [W_STATE_PUT] = "INSERT INTO state(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
    [W_DROPPED_PUT] = ("INSERT INTO dropped(hash, reason, height) VALUES(?1, ?2, ?3) "
                       "ON CONFLICT(hash) DO UPDATE SET reason = excluded.reason, height = excluded.height"),
};

/* Statements of each read connection. */
enum {
    R_BEGIN,
    R_COMMIT,
    R_META_GET,
    R_MEMPOOL_EACH,
    R_HEIGHT,
    R_BLOCK_GET,
    R_BLOCK_TXS,
    R_TX_GET,
    R_MEMPOOL_HAS,
    R_DROPPED_GET,
    R_STATE_ALL,
    R_COUNT
};
static const char *const r_sql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [R_MEMPOOL_EACH] = "SELECT seq, raw FROM mempool ORDER BY seq",
    [R_HEIGHT] = "SELECT coalesce(max(height), 0) FROM blocks",
    [R_BLOCK_GET] = "SELECT hash, header, sig FROM blocks WHERE height = ?1",
    [R_BLOCK_TXS] = "SELECT idx, raw, result, error FROM txs WHERE height = ?1 ORDER BY idx",
    [R_TX_GET] = "SELECT height, idx, result, error FROM txs WHERE hash = ?1",
    [R_MEMPOOL_HAS] = "SELECT 1 FROM mempool WHERE hash = ?1 LIMIT 1",
    [R_DROPPED_GET] = "SELECT reason FROM dropped WHERE hash = ?1",
    [R_STATE_ALL] = "SELECT k, v FROM state ORDER BY k",
};

static const char *const schema_sql =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE blocks(height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL,"
    " sig BLOB NOT NULL);"
    "CREATE TABLE txs(hash BLOB PRIMARY KEY, height INTEGER NOT NULL REFERENCES blocks(height),"
    " idx INTEGER NOT NULL, raw BLOB NOT NULL, result INTEGER NOT NULL, error TEXT);"
    "CREATE UNIQUE INDEX txs_pos ON txs(height, idx);"
    "CREATE TABLE mempool(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL, raw BLOB NOT NULL);"
    "CREATE INDEX mempool_hash ON mempool(hash);"
    "CREATE TABLE dropped(hash BLOB PRIMARY KEY, reason TEXT NOT NULL, height INTEGER NOT NULL);"
    "CREATE TABLE state(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;";

typedef struct reader {
    sqlite3 *db;
    sqlite3_stmt *st[R_COUNT];
    bool busy;
} reader;

struct store {
    char *path;
    pthread_mutex_t wmu; /* the write connection and its statements */
    sqlite3 *wdb;
    sqlite3_stmt *wst[W_COUNT];
    ledger_tx *tx;       /* scratch for decoding (under wmu) */
    pthread_mutex_t rmu; /* the readers' busy flags */
    pthread_cond_t rcv;
    reader rd[STORE_READERS];
};

/* ---- helpers ---------------------------------------------------------------- */

/* An error naming the database and SQLite's message. */
static int db_error(char err[PLOW_ERR_LEN], sqlite3 *db, const char *what) {
    return plow_error(err, "ledger database: %s: %s", what, sqlite3_errmsg(db));
}

static void stmt_done(sqlite3_stmt *s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a cached statement that returns no rows. */
static int step_done(sqlite3 *db, sqlite3_stmt *s, const char *what, char err[PLOW_ERR_LEN]) {
    int rc = sqlite3_step(s);
    int r = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) r = db_error(err, db, what);
    stmt_done(s);
    return r;
}

static int exec_sql(sqlite3 *db, const char *sql, char err[PLOW_ERR_LEN]) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        plow_error(err, "ledger database: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out, char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_error(err, db, sql);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE) *out = 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(err, db, sql);
    return 0;
}

static void hex16(const uint8_t *h, char out[17]) { plow_hex(h, 8, out); }

/* Connection settings shared by the writer and the readers. */
static int conn_open(sqlite3 **out, const char *path, bool create, char err[PLOW_ERR_LEN]) {
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        plow_error(err, "cannot open ledger database '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    sqlite3_extended_result_codes(db, 1);
    *out = db;
    return 0;
}

/* A file that exists and is not empty must start with SQLite's magic: we
 * check before SQLite touches it, so a wrong --data never damages a file. */
static int check_magic(const char *path, char err[PLOW_ERR_LEN]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return plow_error(err, "cannot open ledger database '%s': %s", path, strerror(errno));
    }
    struct stat sb;
    char magic[16] = {0};
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = plow_error(err, "cannot stat '%s': %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        rc = plow_error(err, "'%s' is not a file (a ledger database was expected)", path);
    } else if (sb.st_size > 0) {
        ssize_t r = read(fd, magic, sizeof magic);
        if (r != (ssize_t)sizeof magic || memcmp(magic, "SQLite format 3", 16) != 0)
            rc = plow_error(err, "'%s' is not a plow ledger database (not SQLite): use another --data directory",
                            path);
    }
    close(fd);
    return rc;
}

static int prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **st, int n, char err[PLOW_ERR_LEN]) {
    for (int i = 0; i < n; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL) != SQLITE_OK)
            return db_error(err, db, sql[i]);
    }
    return 0;
}

/* Creates the schema in an empty database, or checks the version and chain
 * of an existing one. Runs under BEGIN IMMEDIATE so two processes opening a
 * new database at once cannot both create it. */
static int init_schema(store *st, const uint8_t chain_id[32], char err[PLOW_ERR_LEN]) {
    sqlite3 *db = st->wdb;
    if (exec_sql(db, "BEGIN IMMEDIATE", err) != 0) return -1;
    int64_t version = 0, tables = 0;
    int rc = -1;
    if (pragma_int(db, "PRAGMA user_version", &version, err) != 0) goto out;
    if (pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err) != 0) goto out;
    if (version == 0 && tables == 0) {
        if (exec_sql(db, schema_sql, err) != 0) goto out;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
        if (exec_sql(db, sql, err) != 0) goto out;
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, "INSERT INTO meta(k, v) VALUES('chain_id', ?1)", -1, &s, NULL) != SQLITE_OK) {
            db_error(err, db, "meta");
            goto out;
        }
        sqlite3_bind_blob(s, 1, chain_id, 32, SQLITE_STATIC);
        int r = sqlite3_step(s);
        sqlite3_finalize(s);
        if (r != SQLITE_DONE) {
            db_error(err, db, "writing the chain id");
            goto out;
        }
    } else if (version == 0) {
        plow_error(err, "'%s' is an SQLite database but not a plow ledger: use another --data directory", st->path);
        goto out;
    } else if (version != STORE_SCHEMA_VERSION) {
        plow_error(err, "ledger database '%s' has schema version %lld, this plow expects %d", st->path,
                   (long long)version, STORE_SCHEMA_VERSION);
        goto out;
    } else {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'chain_id'", -1, &s, NULL) != SQLITE_OK) {
            db_error(err, db, "reading the chain id");
            goto out;
        }
        int r = sqlite3_step(s);
        const void *v = r == SQLITE_ROW ? sqlite3_column_blob(s, 0) : NULL;
        int n = r == SQLITE_ROW ? sqlite3_column_bytes(s, 0) : 0;
        if (r != SQLITE_ROW || n != 32) {
            sqlite3_finalize(s);
            plow_error(err, "ledger database '%s' has no chain id: it is damaged", st->path);
            goto out;
        }
        if (memcmp(v, chain_id, 32) != 0) {
            char have[17], want[17];
            hex16(v, have);
            hex16(chain_id, want);
            sqlite3_finalize(s);
            plow_error(err, "'%s' belongs to chain %s..., not %s...: use another --data directory", st->path, have,
                       want);
            goto out;
        }
        sqlite3_finalize(s);
    }
    rc = 0;
out:
    if (rc == 0) {
        if (exec_sql(db, "COMMIT", err) != 0) rc = -1;
    }
    if (rc != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- open / close ------------------------------------------------------------ */

int store_open(store **out, const char *path, const uint8_t chain_id[32], char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (check_magic(path, err) != 0) return -1;
    store *st = plow_calloc(1, sizeof *st);
    st->path = plow_strdup(path);
    st->tx = plow_alloc(sizeof *st->tx);
    pthread_mutex_init(&st->wmu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_cond_init(&st->rcv, NULL);
    char e2[PLOW_ERR_LEN];
    if (conn_open(&st->wdb, path, true, err) != 0) goto fail;
    /* journal_mode reads the header: a damaged file fails here, untouched. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->wdb, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK) {
        plow_error(err, "cannot use ledger database '%s': %s", path, sqlite3_errmsg(st->wdb));
        goto fail;
    }
    int r = sqlite3_step(s);
    const char *mode = r == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (!wal) plow_error(err, "cannot use ledger database '%s': %s", path,
                         r == SQLITE_ROW ? "it cannot use a write-ahead log" : sqlite3_errmsg(st->wdb));
    sqlite3_finalize(s);
    if (!wal) goto fail;
    if (exec_sql(st->wdb,
                 "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"
                 "PRAGMA temp_store = MEMORY",
                 err) != 0)
        goto fail;
    if (init_schema(st, chain_id, err) != 0) goto fail;
    if (prepare_all(st->wdb, w_sql, st->wst, W_COUNT, err) != 0) goto fail;
    for (int i = 0; i < STORE_READERS; i++) {
        reader *rd = &st->rd[i];
        if (conn_open(&rd->db, path, false, err) != 0) goto fail;
        if (exec_sql(rd->db, "PRAGMA query_only = ON; PRAGMA cache_size = -16384", err) != 0) goto fail;
        if (prepare_all(rd->db, r_sql, rd->st, R_COUNT, err) != 0) goto fail;
    }
    *out = st;
    return 0;
fail:
    memcpy(e2, err, PLOW_ERR_LEN);
    store_close(st);
    memcpy(err, e2, PLOW_ERR_LEN);
    return -1;
}

void store_close(store *st) {
    if (!st) return;
    for (int i = 0; i < STORE_READERS; i++) {
        for (int j = 0; j < R_COUNT; j++) sqlite3_finalize(st->rd[i].st[j]);
        sqlite3_close(st->rd[i].db);
    }
    for (int j = 0; j < W_COUNT; j++) sqlite3_finalize(st->wst[j]);
    sqlite3_close(st->wdb);
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->rmu);
    pthread_cond_destroy(&st->rcv);
    free(st->tx);
    free(st->path);
    free(st);
}

/* ---- readers ----------------------------------------------------------------- */

static reader *reader_get(store *st) {
    pthread_mutex_lock(&st->rmu);
    for (;;) {
        for (int i = 0; i < STORE_READERS; i++) {
            if (!st->rd[i].busy) {
                st->rd[i].busy = true;
                pthread_mutex_unlock(&st->rmu);
                return &st->rd[i];
            }
        }
        pthread_cond_wait(&st->rcv, &st->rmu);
    }
}

static void reader_put(store *st, reader *rd) {
    pthread_mutex_lock(&st->rmu);
    rd->busy = false;
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
}

/* A read transaction: every statement until reader_end sees one snapshot. */
static int reader_begin(reader *rd, char err[PLOW_ERR_LEN]) {
    return step_done(rd->db, rd->st[R_BEGIN], "starting a read", err);
}

static void reader_end(reader *rd) {
    sqlite3_step(rd->st[R_COMMIT]);
    stmt_done(rd->st[R_COMMIT]);
}

/* ---- meta -------------------------------------------------------------------- */

int store_meta_put(store *st, const char *key, const void *val, size_t n, char err[PLOW_ERR_LEN]) {
    if (n > INT32_MAX) return plow_error(err, "meta value '%s' too large", key);
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = st->wst[W_META_PUT];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, n ? val : "", (int)n, SQLITE_STATIC);
    int rc = step_done(st->wdb, s, "writing meta", err);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

int store_meta_get(store *st, const char *key, plow_buf *out, char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *s = rd->st[R_META_GET];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s), rc = 0;
    if (r == SQLITE_ROW) {
        out->len = 0;
        plow_buf_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    } else if (r == SQLITE_DONE) {
        rc = plow_error(err, "no '%s' in the ledger database", key);
    } else {
        rc = db_error(err, rd->db, "reading meta");
    }
    stmt_done(s);
    reader_put(st, rd);
    return rc;
}

/* ---- writes ------------------------------------------------------------------ */

/* Decodes one encoded transaction (already admitted, so this is a bug check)
 * and computes its hash. Under wmu (uses the scratch tx). */
static int tx_hash_of(store *st, const uint8_t *raw, size_t len, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    if (ledger_tx_decode(st->tx, raw, len, err) != 0) return plow_error_prefix(err, "stored transaction");
    ledger_tx_hash(st->tx, hash);
    return 0;
}

static int w_begin(store *st, char err[PLOW_ERR_LEN]) {
    return step_done(st->wdb, st->wst[W_BEGIN], "beginning a write", err);
}

static void w_rollback(store *st) {
    sqlite3_step(st->wst[W_ROLLBACK]);
    stmt_done(st->wst[W_ROLLBACK]);
}

static int w_commit(store *st, char err[PLOW_ERR_LEN]) {
    if (step_done(st->wdb, st->wst[W_COMMIT], "committing", err) != 0) {
        if (!sqlite3_get_autocommit(st->wdb)) w_rollback(st);
        return -1;
    }
    return 0;
}

int store_mempool_add(store *st, const plow_buf *txs, size_t n, char err[PLOW_ERR_LEN]) {
    if (n == 0) return 0;
    pthread_mutex_lock(&st->wmu);
    int rc = -1;
    if (w_begin(st, err) != 0) goto out;
    sqlite3_stmt *s = st->wst[W_MEMPOOL_ADD];
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        if (txs[i].len > LEDGER_TX_MAX) {
            plow_error(err, "transaction of %zu bytes is larger than %d", txs[i].len, LEDGER_TX_MAX);
            goto fail;
        }
        if (tx_hash_of(st, txs[i].data, txs[i].len, h, err) != 0) goto fail;
        sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, txs[i].data, (int)txs[i].len, SQLITE_STATIC);
        if (step_done(st->wdb, s, "adding to the mempool", err) != 0) goto fail;
    }
    rc = w_commit(st, err);
    goto out;
fail:
    w_rollback(st);
out:
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

typedef struct dirty_ctx {
    store *st;
    int rc;
    char *err;
    size_t n;
} dirty_ctx;

static void put_dirty(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    dirty_ctx *c = arg;
    if (c->rc != 0) return;
    if (klen == 0 || klen > INT32_MAX || vlen > INT32_MAX) {
        c->rc = plow_error(c->err, "state record of %zu+%zu bytes cannot be stored", klen, vlen);
        return;
    }
    sqlite3_stmt *s = c->st->wst[W_STATE_PUT];
    sqlite3_bind_blob(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, vlen ? (const void *)val : "", (int)vlen, SQLITE_STATIC);
    c->rc = step_done(c->st->wdb, s, "writing a state record", c->err);
    c->n++;
}

int store_commit_block(store *st, const store_block *b, ledger_state *s, const store_dropped *dropped, size_t n_dropped,
                       uint64_t mempool_upto, char err[PLOW_ERR_LEN]) {
    if (b->n_txs != b->h.n_txs)
        return plow_error(err, "block %llu: header counts %u transactions, %u given", (unsigned long long)b->h.height,
                          b->h.n_txs, b->n_txs);
    uint8_t hash[32];
    ledger_block_hash(&b->h, hash);
    if (memcmp(hash, b->hash, 32) != 0)
        return plow_error(err, "block %llu: its hash does not match its header", (unsigned long long)b->h.height);
    if (b->h.height > INT64_MAX || mempool_upto > INT64_MAX)
        return plow_error(err, "block %llu: height out of range", (unsigned long long)b->h.height);
    uint8_t header[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(&b->h, header);

    pthread_mutex_lock(&st->wmu);
    int rc = -1;
    if (w_begin(st, err) != 0) goto out;

    sqlite3_stmt *q = st->wst[W_MAX_HEIGHT];
    if (sqlite3_step(q) != SQLITE_ROW) {
        db_error(err, st->wdb, "reading the height");
        stmt_done(q);
        goto fail;
    }
    uint64_t top = (uint64_t)sqlite3_column_int64(q, 0);
    stmt_done(q);
    if (b->h.height != top + 1) {
        plow_error(err, "block %llu does not follow the last stored block %llu", (unsigned long long)b->h.height,
                   (unsigned long long)top);
        goto fail;
    }

    q = st->wst[W_BLOCK_ADD];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)b->h.height);
    sqlite3_bind_blob(q, 2, b->hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, header, sizeof header, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, b->sig, LEDGER_SIG_LEN, SQLITE_STATIC);
    if (step_done(st->wdb, q, "storing the block", err) != 0) goto fail;

    q = st->wst[W_TX_ADD];
    for (uint32_t i = 0; i < b->n_txs; i++) {
        uint8_t h[32];
        if (b->txs[i].len > LEDGER_TX_MAX) {
            plow_error(err, "block transaction %u: %zu bytes", i, b->txs[i].len);
            goto fail;
        }
        if (tx_hash_of(st, b->txs[i].data, b->txs[i].len, h, err) != 0) goto fail;
        sqlite3_bind_blob(q, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)b->h.height);
        sqlite3_bind_int64(q, 3, i);
        sqlite3_bind_blob(q, 4, b->txs[i].data, (int)b->txs[i].len, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, b->results[i]);
        if (b->errors && b->errors[i]) sqlite3_bind_text(q, 6, b->errors[i], -1, SQLITE_STATIC);
        else sqlite3_bind_null(q, 6);
        if (step_done(st->wdb, q, "storing a transaction", err) != 0) goto fail;
    }

    if (s) {
        dirty_ctx c = {st, 0, err, 0};
        ledger_each_dirty(s, put_dirty, &c);
        if (c.rc != 0) goto fail;
    }

    q = st->wst[W_DROPPED_PUT];
    for (size_t i = 0; i < n_dropped; i++) {
        sqlite3_bind_blob(q, 1, dropped[i].hash, 32, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, dropped[i].reason, (int)strnlen(dropped[i].reason, PLOW_ERR_LEN), SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)b->h.height);
        if (step_done(st->wdb, q, "storing a dropped transaction", err) != 0) goto fail;
    }

    q = st->wst[W_MEMPOOL_DEL];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)mempool_upto);
    if (step_done(st->wdb, q, "removing mempool entries", err) != 0) goto fail;

    rc = w_commit(st, err);
    goto out;
fail:
    w_rollback(st);
out:
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

/* ---- reads ------------------------------------------------------------------- */

int store_mempool_each(store *st, bool (*fn)(uint64_t seq, const uint8_t *tx, size_t len, void *arg), void *arg,
                       char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *s = rd->st[R_MEMPOOL_EACH];
    int r, rc = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
        const uint8_t *raw = sqlite3_column_blob(s, 1);
        size_t len = (size_t)sqlite3_column_bytes(s, 1);
        if (!fn(seq, raw ? raw : (const uint8_t *)"", len, arg)) break;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = db_error(err, rd->db, "reading the mempool");
    stmt_done(s);
    reader_put(st, rd);
    return rc;
}

int store_height(store *st, uint64_t *height, char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *s = rd->st[R_HEIGHT];
    int rc = 0;
    if (sqlite3_step(s) == SQLITE_ROW) *height = (uint64_t)sqlite3_column_int64(s, 0);
    else rc = db_error(err, rd->db, "reading the height");
    stmt_done(s);
    reader_put(st, rd);
    return rc;
}

void store_block_release(store_block *b) {
    if (!b) return;
    for (uint32_t i = 0; b->txs && i < b->n_txs; i++) plow_buf_release(&b->txs[i]);
    for (uint32_t i = 0; b->errors && i < b->n_txs; i++) free(b->errors[i]);
    free(b->txs);
    free(b->results);
    free(b->errors);
    memset(b, 0, sizeof *b);
}

static int get_block(reader *rd, uint64_t height, store_block *out, char err[PLOW_ERR_LEN]) {
    if (height > INT64_MAX) return plow_error(err, "no block at height %llu", (unsigned long long)height);
    sqlite3_stmt *s = rd->st[R_BLOCK_GET];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    int r = sqlite3_step(s), rc = -1;
    if (r == SQLITE_DONE) {
        plow_error(err, "no block at height %llu", (unsigned long long)height);
    } else if (r != SQLITE_ROW) {
        db_error(err, rd->db, "reading a block");
    } else if (sqlite3_column_bytes(s, 0) != 32 || sqlite3_column_bytes(s, 2) != LEDGER_SIG_LEN) {
        plow_error(err, "stored block %llu is damaged", (unsigned long long)height);
    } else if (ledger_block_decode(&out->h, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), err) != 0) {
        plow_error_prefix(err, "stored block header");
    } else {
        memcpy(out->hash, sqlite3_column_blob(s, 0), 32);
        memcpy(out->sig, sqlite3_column_blob(s, 2), LEDGER_SIG_LEN);
        rc = 0;
    }
    stmt_done(s);
    if (rc != 0) return -1;

    uint32_t n = out->h.n_txs;
    out->txs = plow_calloc(n ? n : 1, sizeof *out->txs);
    out->results = plow_calloc(n ? n : 1, sizeof *out->results);
    out->errors = plow_calloc(n ? n : 1, sizeof *out->errors);
    out->n_txs = n;
    s = rd->st[R_BLOCK_TXS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    uint32_t got = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t idx = sqlite3_column_int64(s, 0);
        if (idx != (int64_t)got || got >= n) {
            got = UINT32_MAX;
            break;
        }
        const void *raw = sqlite3_column_blob(s, 1);
        plow_buf_append(&out->txs[got], raw ? raw : "", (size_t)sqlite3_column_bytes(s, 1));
        out->results[got] = (int8_t)sqlite3_column_int(s, 2);
        const unsigned char *e = sqlite3_column_text(s, 3);
        if (e) out->errors[got] = plow_strdup((const char *)e);
        got++;
    }
    rc = -1;
    if (r != SQLITE_ROW && r != SQLITE_DONE) db_error(err, rd->db, "reading a block's transactions");
    else if (got != n) plow_error(err, "stored block %llu is damaged: its transactions do not match its header",
                                  (unsigned long long)height);
    else rc = 0;
    stmt_done(s);
    return rc;
}

int store_get_block(store *st, uint64_t height, store_block *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    reader *rd = reader_get(st);
    int rc = -1;
    if (reader_begin(rd, err) == 0) {
        rc = get_block(rd, height, out, err);
        reader_end(rd);
    }
    reader_put(st, rd);
    if (rc != 0) store_block_release(out);
    return rc;
}

int store_load_state(store *st, ledger_state *s, char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *q = rd->st[R_STATE_ALL];
    int r, rc = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        const uint8_t *k = sqlite3_column_blob(q, 0);
        size_t klen = (size_t)sqlite3_column_bytes(q, 0);
        const uint8_t *v = sqlite3_column_blob(q, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(q, 1);
        if (ledger_load_record(s, k ? k : (const uint8_t *)"", klen, v ? v : (const uint8_t *)"", vlen, err) != 0) {
            rc = plow_error_prefix(err, "stored state record");
            break;
        }
    }
    if (rc == 0 && r != SQLITE_DONE) rc = db_error(err, rd->db, "reading the state");
    stmt_done(q);
    reader_put(st, rd);
    return rc;
}

int store_tx_status_get(store *st, const uint8_t hash[32], store_tx_status *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    reader *rd = reader_get(st);
    int rc = -1;
    if (reader_begin(rd, err) != 0) goto done;
    /* In this order: a transaction dropped once and sent again may be
     * pending or included later; the newest fact wins. */
    sqlite3_stmt *s = rd->st[R_TX_GET];
    sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        out->where = 'b';
        out->height = (uint64_t)sqlite3_column_int64(s, 0);
        out->index = (uint32_t)sqlite3_column_int64(s, 1);
        out->result = sqlite3_column_int(s, 2);
        const unsigned char *e = sqlite3_column_text(s, 3);
        if (e) snprintf(out->error, sizeof out->error, "%s", (const char *)e);
    }
    stmt_done(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE) goto fail;
    if (!out->where) {
        s = rd->st[R_MEMPOOL_HAS];
        sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) out->where = 'p';
        stmt_done(s);
        if (r != SQLITE_ROW && r != SQLITE_DONE) goto fail;
    }
    if (!out->where) {
        s = rd->st[R_DROPPED_GET];
        sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            out->where = 'd';
            const unsigned char *e = sqlite3_column_text(s, 0);
            snprintf(out->error, sizeof out->error, "%s", e ? (const char *)e : "");
        }
        stmt_done(s);
        if (r != SQLITE_ROW && r != SQLITE_DONE) goto fail;
    }
    rc = 0;
    goto end;
fail:
    db_error(err, rd->db, "reading a transaction's status");
end:
    reader_end(rd);
done:
    reader_put(st, rd);
    return rc;
}
