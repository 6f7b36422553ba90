/*
 * store.c — the node's durable storage: one SQLite database (DIR/ledger.db)
 * holding blocks with their transactions and results, the mempool, dropped
 * transactions, the ledger's state records and a little meta.
 *
 * Durability: WAL journal, synchronous=FULL, so a COMMIT that returned is on
 * disk. A block with its transactions, state records, dropped records and
 * the removal of its mempool entries is ONE SQLite transaction; a batch of
 * mempool entries is one transaction too (the node acknowledges them after
 * it returns: group commit). A failure anywhere rolls the whole transaction
 * back.
 *
 * Threads: every store_* function may be called from any thread at any time.
 *   - one write connection, guarded by `wmu`: store_meta_put,
 *     store_mempool_add and store_commit_block hold it for their whole
 *     transaction, so writes are serialised in this process;
 *   - a pool of STORE_READERS read-only connections (query_only) for every
 *     read: a reader takes a free connection (waiting when all are busy) and,
 *     WAL mode oblige, runs alongside the writer. Reads that look at several
 *     rows (a block and its errors, a transaction's status) run in one read
 *     transaction, so they see one snapshot;
 *   - a maintenance thread, woken after each block: it merges the recent
 *     transactions into the hash index (below), and copies the WAL back into
 *     the database with its own connection (a PASSIVE checkpoint: it never
 *     blocks the writer or the readers), so the sequencer's commit pays for
 *     neither. The writer keeps a large auto-checkpoint as a safety net.
 * Each connection prepares its statements once, at open, and reuses them;
 * every use ends with sqlite3_reset so no statement holds a snapshot open
 * after the call. Rows go in through multi-row INSERTs (STORE_BATCH rows a
 * statement) to save SQLite's per-statement cost: a block of 5,000 transfers
 * writes ~10,000 state records.
 *
 * Schema (version STORE_SCHEMA_VERSION in PRAGMA user_version):
 *   meta(k TEXT PRIMARY KEY, v)               'chain_id', and what the node puts
 *   blocks(height INTEGER PRIMARY KEY, hash UNIQUE, header, sig, results, txs)
 *       header: ledger_block_encode's 152 bytes; results: one signed byte per
 *       transaction (ledger_tx_result); txs: each transaction as a u32
 *       little-endian length and its encoding, in block order. Results come
 *       before txs so reading them never walks the transactions' pages.
 *   txs(hash PRIMARY KEY, pos, result) WITHOUT ROWID
 *       where a transaction is: pos = height * 2^24 + index. Complete up to
 *       meta 'tx_index_height' (u64 LE); see "the transaction index".
 *   tx_errors(pos INTEGER PRIMARY KEY, error) the message of each failed transaction
 *   mempool(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash, raw), index on hash
 *       AUTOINCREMENT: a sequence number is never reused, even once deleted
 *   dropped(hash PRIMARY KEY, reason, height) WITHOUT ROWID, index on height
 *       kept store_dropped_keep blocks (default STORE_DROPPED_KEEP): each
 *       block's commit deletes the rows older than that
 *   state(k PRIMARY KEY, v) WITHOUT ROWID     the ledger's records
 *
 * The transaction index. Hashes are random, so inserting a block's 5,000
 * hashes into a B-tree of N of them dirties min(5,000, N/85) pages: at a
 * million transactions every block rewrote ~20 MB of index, and the commit
 * time grew with the chain. So a block's commit does not touch the index:
 * its transactions are in the block row, and their hashes go to an
 * in-memory table (`recent`, rebuilt from the block rows at open). The
 * maintenance thread merges `recent` into `txs` once it holds
 * max(64k, N/8) entries (at most 256k): sorted, in chunks of STORE_CHUNK
 * rows, each its own transaction, the last one moving 'tx_index_height'.
 * A merge writes each index page about once for N/8 new entries instead of
 * once per entry. Lookups read `txs`, then `recent`; merged entries stay in
 * `recent` until the next merge starts, so a reader whose snapshot predates
 * a merge still finds them.
 *
 * Non-goals: pruning, migrations between schema versions (a database of
 * another version is refused), several processes writing one database.
 */
#include "../base/plow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "node_internal.h" /* keytab */

#define STORE_READERS 4
#define STORE_BUSY_MS 10000
#define STORE_BATCH 64          /* rows per multi-row INSERT */
#define STORE_POS_SHIFT 24      /* pos = height << 24 | index */
#define STORE_AUTOCHECKPOINT 16384 /* pages (64 MiB): the writer checkpoints only if the thread falls behind */
#define STORE_MERGE_MIN 65536   /* recent entries before a merge into the index... */
#define STORE_MERGE_MAX 262144  /* ...at least N/8 of the index's N, at most this */
#define STORE_CHUNK 8192        /* index rows per merge transaction */

/* ---- statements ----------------------------------------------------------- */

/* Statements of the write connection. The _N forms insert STORE_BATCH rows. */
enum {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_META_PUT,
    W_MEMPOOL_ADD,
    W_MEMPOOL_ADD_N,
    W_MEMPOOL_DEL,
    W_MAX_HEIGHT,
    W_BLOCK_ADD,
    W_TX_ADD,
    W_TX_ADD_N,
    W_TX_ERROR,
    W_STATE_PUT,
    W_STATE_PUT_N,
    W_DROPPED_PUT,
    W_DROPPED_PRUNE,
    W_COUNT
};

/* An INSERT: the head, then one tuple (repeated for the _N forms). */
typedef struct insert_sql {
    const char *head, *tuple;
} insert_sql;

static const char *const w_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_META_PUT] = "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    [W_MEMPOOL_DEL] = "DELETE FROM mempool WHERE seq <= ?1",
    [W_MAX_HEIGHT] = "SELECT coalesce(max(height), 0) FROM blocks",
    [W_BLOCK_ADD] = "INSERT INTO blocks(height, hash, header, sig, results, txs) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [W_TX_ERROR] = "INSERT INTO tx_errors(pos, error) VALUES(?1, ?2)",
    [W_DROPPED_PUT] = "INSERT OR REPLACE INTO dropped(hash, reason, height) VALUES(?1, ?2, ?3)",
    [W_DROPPED_PRUNE] = "DELETE FROM dropped WHERE height <= ?1",
};
/* The inserts that come in two forms, by the enum of their one-row form. */
static const struct {
    int one, many;
    insert_sql sql;
} w_inserts[] = {
    {W_MEMPOOL_ADD, W_MEMPOOL_ADD_N, {"INSERT INTO mempool(hash, raw) VALUES", "(?,?)"}},
    {W_TX_ADD, W_TX_ADD_N, {"INSERT OR REPLACE INTO txs(hash, pos, result) VALUES", "(?,?,?)"}},
    {W_STATE_PUT, W_STATE_PUT_N, {"INSERT OR REPLACE INTO state(k, v) VALUES", "(?,?)"}},
};

/* Statements of each read connection. */
enum {
    R_BEGIN,
    R_COMMIT,
    R_META_GET,
    R_MEMPOOL_EACH,
    R_HEIGHT,
    R_BLOCK_GET,
    R_BLOCK_ERRORS,
    R_TX_GET,
    R_TX_ERROR,
    R_MEMPOOL_HAS,
    R_DROPPED_GET,
    R_STATE_ALL,
    R_BLOCKS_FROM,
    R_COUNT
};
static const char *const r_sql[R_COUNT] = {
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [R_MEMPOOL_EACH] = "SELECT seq, raw FROM mempool ORDER BY seq",
    [R_HEIGHT] = "SELECT coalesce(max(height), 0) FROM blocks",
    [R_BLOCK_GET] = "SELECT hash, header, sig, results, txs FROM blocks WHERE height = ?1",
    [R_BLOCK_ERRORS] = "SELECT pos, error FROM tx_errors WHERE pos >= ?1 AND pos < ?2 ORDER BY pos",
    [R_TX_GET] = "SELECT pos, result FROM txs WHERE hash = ?1",
    [R_TX_ERROR] = "SELECT error FROM tx_errors WHERE pos = ?1",
    [R_MEMPOOL_HAS] = "SELECT 1 FROM mempool WHERE hash = ?1 LIMIT 1",
    [R_DROPPED_GET] = "SELECT reason FROM dropped WHERE hash = ?1",
    [R_STATE_ALL] = "SELECT k, v FROM state",
    [R_BLOCKS_FROM] = "SELECT height, results, txs FROM blocks WHERE height > ?1 ORDER BY height",
};

static const char *const schema_sql =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE blocks(height INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header BLOB NOT NULL,"
    " sig BLOB NOT NULL, results BLOB NOT NULL, txs BLOB NOT NULL);"
    "CREATE TABLE txs(hash BLOB PRIMARY KEY, pos INTEGER NOT NULL, result INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE tx_errors(pos INTEGER PRIMARY KEY, error TEXT NOT NULL);"
    "CREATE TABLE mempool(seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL, raw BLOB NOT NULL);"
    "CREATE INDEX mempool_hash ON mempool(hash);"
    "CREATE TABLE dropped(hash BLOB PRIMARY KEY, reason TEXT NOT NULL, height INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE state(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;";

typedef struct txent {
    uint8_t hash[32];
    uint64_t pos;
    int8_t result;
} txent;

typedef struct recent_val {
    uint64_t pos;
    int64_t result;
} recent_val;

typedef struct reader {
    sqlite3 *db;
    sqlite3_stmt *st[R_COUNT];
    bool busy;
} reader;

struct store {
    char *path;
    pthread_mutex_t wmu; /* the write connection, its statements and scratch */
    sqlite3 *wdb;
    sqlite3_stmt *wst[W_COUNT];
    EVP_MD *md;          /* SHA-256, fetched once */
    EVP_MD_CTX *mdctx;
    plow_buf arena;      /* scratch for a block's rows */
    uint64_t dropped_keep; /* blocks a dropped record is kept (wmu) */
    pthread_mutex_t rmu; /* the readers' busy flags */
    pthread_cond_t rcv;
    reader rd[STORE_READERS];
    /* recent transactions, not yet (or just) merged into the index: under tmu */
    pthread_mutex_t tmu;
    keytab recent_tab; /* hash -> recent_val */
    txent *recent;     /* in commit order */
    size_t n_recent, cap_recent;
    size_t merged;     /* recent[0..merged) are in the index too */
    uint64_t drops;    /* how many times merged entries were dropped (store_tx_status_get) */
    uint64_t index_count; /* rows in txs (as of the last merge) */
    pthread_mutex_t mmu;  /* one merge at a time */
    /* the maintenance thread */
    sqlite3 *cdb;
    pthread_t cthread;
    bool cthread_on;
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    bool cwant, cstop;
};

/* ---- helpers ---------------------------------------------------------------- */

static int db_error(char err[PLOW_ERR_LEN], sqlite3 *db, const char *what) {
    return plow_error(err, "ledger database: %s: %s", what, sqlite3_errmsg(db));
}

static void stmt_done(sqlite3_stmt *s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
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

static int query_int(sqlite3 *db, const char *sql, int64_t *out, char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return db_error(err, db, sql);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(err, db, sql);
    return 0;
}

/* SQLite's blob of a column, never NULL (a zero-length blob reads as NULL). */
static const uint8_t *col_blob(sqlite3_stmt *s, int i, size_t *n) {
    const void *p = sqlite3_column_blob(s, i);
    *n = (size_t)sqlite3_column_bytes(s, i);
    return p ? p : (const uint8_t *)"";
}

static const void *nonnull(const void *p) { return p ? p : ""; }

static void settings_once(void) {
    /* Must precede SQLite's initialisation; refused harmlessly after it.
     * Memory statistics take a global mutex on every allocation. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

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
 * look before SQLite touches it, so a wrong --data never damages a file. */
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

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char err[PLOW_ERR_LEN]) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_error(err, db, sql);
    return 0;
}

static int prepare_writer(store *st, char err[PLOW_ERR_LEN]) {
    for (int i = 0; i < W_COUNT; i++)
        if (w_sql[i] && prepare(st->wdb, w_sql[i], &st->wst[i], err) != 0) return -1;
    for (size_t i = 0; i < sizeof w_inserts / sizeof w_inserts[0]; i++) {
        const insert_sql *q = &w_inserts[i].sql;
        for (int form = 0; form < 2; form++) {
            plow_buf b = {0};
            plow_buf_printf(&b, "%s", q->head);
            for (int r = 0; r < (form ? STORE_BATCH : 1); r++) plow_buf_printf(&b, "%s%s", r ? "," : "", q->tuple);
            plow_buf_append(&b, "", 1);
            int rc = prepare(st->wdb, (const char *)b.data, &st->wst[form ? w_inserts[i].many : w_inserts[i].one], err);
            plow_buf_release(&b);
            if (rc != 0) return -1;
        }
    }
    return 0;
}

/* Runs an insert over n rows: STORE_BATCH rows a statement, then the rest
 * one by one. bind(s, p, j, arg) binds row j from parameter p on. */
typedef void (*bind_fn)(sqlite3_stmt *s, int p, size_t j, void *arg);
static int insert_rows(store *st, int one, int many, int per_row, size_t n, bind_fn bind, void *arg,
                       const char *what, char err[PLOW_ERR_LEN]) {
    size_t j = 0;
    for (; j + STORE_BATCH <= n; j += STORE_BATCH) {
        sqlite3_stmt *s = st->wst[many];
        for (int r = 0; r < STORE_BATCH; r++) bind(s, 1 + r * per_row, j + (size_t)r, arg);
        if (step_done(st->wdb, s, what, err) != 0) return -1;
    }
    for (; j < n; j++) {
        bind(st->wst[one], 1, j, arg);
        if (step_done(st->wdb, st->wst[one], what, err) != 0) return -1;
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
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (query_int(db, "PRAGMA user_version", &version, err) != 0) goto out;
    if (query_int(db, "SELECT count(*) FROM sqlite_master", &tables, err) != 0) goto out;
    if (version == 0 && tables == 0) {
        if (exec_sql(db, schema_sql, err) != 0) goto out;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
        if (exec_sql(db, sql, err) != 0) goto out;
        if (sqlite3_prepare_v2(db, "INSERT INTO meta(k, v) VALUES('chain_id', ?1)", -1, &s, NULL) != SQLITE_OK) {
            db_error(err, db, "writing the chain id");
            goto out;
        }
        sqlite3_bind_blob(s, 1, chain_id, 32, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
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
        if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'chain_id'", -1, &s, NULL) != SQLITE_OK) {
            db_error(err, db, "reading the chain id");
            goto out;
        }
        size_t n = 0;
        const uint8_t *v = sqlite3_step(s) == SQLITE_ROW ? col_blob(s, 0, &n) : NULL;
        if (!v || n != 32) {
            plow_error(err, "ledger database '%s' has no chain id: it is damaged", st->path);
            goto out;
        }
        if (memcmp(v, chain_id, 32) != 0) {
            /* 16 hex digits name a chain well enough and keep a long path readable */
            char have[17], want[17];
            plow_hex(v, 8, have);
            plow_hex(chain_id, 8, want);
            plow_error(err, "'%s' belongs to chain %s..., not %s...: use another --data directory", st->path, have,
                       want);
            goto out;
        }
    }
    /* added after schema version 1 shipped: an old database gets it here */
    if (exec_sql(db, "CREATE INDEX IF NOT EXISTS dropped_height ON dropped(height)", err) != 0) goto out;
    rc = 0;
out:
    sqlite3_finalize(s);
    if (rc == 0 && exec_sql(db, "COMMIT", err) != 0) rc = -1;
    if (rc != 0) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int w_begin(store *st, char err[PLOW_ERR_LEN]);
static int w_commit(store *st, char err[PLOW_ERR_LEN]);
static void w_rollback(store *st);
static int tx_hash_of(store *st, const uint8_t *raw, size_t len, uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* ---- recent transactions ------------------------------------------------------ */

/* All under tmu. */
static void recent_push(store *st, const uint8_t hash[32], uint64_t pos, int8_t result) {
    if (st->n_recent == st->cap_recent) {
        st->cap_recent = st->cap_recent ? 2 * st->cap_recent : 4096;
        st->recent = plow_realloc(st->recent, st->cap_recent * sizeof *st->recent);
    }
    txent *e = &st->recent[st->n_recent++];
    memcpy(e->hash, hash, 32);
    e->pos = pos;
    e->result = result;
    bool created;
    recent_val *v = keytab_put(&st->recent_tab, hash, &created);
    v->pos = pos;
    v->result = result;
}

/* Forgets one entry (unless a later transaction of the same hash replaced it). */
static void recent_forget(store *st, const txent *e) {
    const recent_val *v = keytab_get(&st->recent_tab, e->hash);
    if (v && v->pos == e->pos) keytab_remove(&st->recent_tab, e->hash);
}

/* Drops recent[n..): the entries of a commit that failed. */
static void recent_truncate(store *st, size_t n) {
    for (size_t i = n; i < st->n_recent; i++) recent_forget(st, &st->recent[i]);
    st->n_recent = n;
    if (st->merged > n) st->merged = n;
}

/* Drops recent[0..m): entries merged into the index one merge ago. */
static void recent_drop_front(store *st, size_t m) {
    if (m > 0) st->drops++;
    for (size_t i = 0; i < m; i++) recent_forget(st, &st->recent[i]);
    memmove(st->recent, st->recent + m, (st->n_recent - m) * sizeof *st->recent);
    st->n_recent -= m;
    st->merged -= m < st->merged ? m : st->merged;
}

/* Finds hash in recent; *drops: st->drops at that moment. */
static bool recent_find(store *st, const uint8_t hash[32], recent_val *out, uint64_t *drops) {
    pthread_mutex_lock(&st->tmu);
    const recent_val *v = keytab_get(&st->recent_tab, hash);
    if (v) *out = *v;
    *drops = st->drops;
    pthread_mutex_unlock(&st->tmu);
    return v != NULL;
}

static uint64_t recent_drops(store *st) {
    pthread_mutex_lock(&st->tmu);
    uint64_t d = st->drops;
    pthread_mutex_unlock(&st->tmu);
    return d;
}

static int cmp_txent(const void *a, const void *b) { return memcmp(a, b, 32); }

static void bind_txent(sqlite3_stmt *s, int p, size_t j, void *arg) {
    const txent *e = (const txent *)arg + j;
    sqlite3_bind_blob(s, p, e->hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, p + 1, (sqlite3_int64)e->pos);
    sqlite3_bind_int(s, p + 2, e->result);
}

static bool stop_requested(store *st) {
    pthread_mutex_lock(&st->cmu);
    bool stop = st->cstop;
    pthread_mutex_unlock(&st->cmu);
    return stop;
}

/* Merges the recent transactions into the index once there are at least
 * min_entries of them not merged yet (see the header comment). 0 when done
 * or not due (or stopped: the rest is merged after the next open). */
static int merge_recent(store *st, size_t min_entries, char err[PLOW_ERR_LEN]) {
    pthread_mutex_lock(&st->mmu);
    pthread_mutex_lock(&st->tmu);
    size_t n = st->n_recent - st->merged;
    if (n == 0 || n < min_entries) {
        pthread_mutex_unlock(&st->tmu);
        pthread_mutex_unlock(&st->mmu);
        return 0;
    }
    recent_drop_front(st, st->merged);
    txent *batch = plow_alloc(n * sizeof *batch);
    memcpy(batch, st->recent, n * sizeof *batch);
    pthread_mutex_unlock(&st->tmu);

    uint64_t height = batch[n - 1].pos >> STORE_POS_SHIFT; /* whole blocks, in order */
    qsort(batch, n, sizeof *batch, cmp_txent);
    uint8_t meta[2][8];
    plow_put_u64(meta[0], height);
    plow_put_u64(meta[1], st->index_count + n);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += STORE_CHUNK) {
        if (stop_requested(st)) {
            rc = 1;
            break;
        }
        size_t m = n - off < STORE_CHUNK ? n - off : STORE_CHUNK;
        pthread_mutex_lock(&st->wmu);
        if (w_begin(st, err) != 0) {
            rc = -1;
        } else if (insert_rows(st, W_TX_ADD, W_TX_ADD_N, 3, m, bind_txent, batch + off, "indexing transactions",
                               err) != 0) {
            rc = -1;
        } else if (off + m == n) {
            static const char *const keys[2] = {"tx_index_height", "tx_index_count"};
            for (int k = 0; k < 2 && rc == 0; k++) {
                sqlite3_stmt *q = st->wst[W_META_PUT];
                sqlite3_bind_text(q, 1, keys[k], -1, SQLITE_STATIC);
                sqlite3_bind_blob(q, 2, meta[k], 8, SQLITE_STATIC);
                rc = step_done(st->wdb, q, "writing the index height", err);
            }
        }
        if (rc == 0) rc = w_commit(st, err);
        else w_rollback(st);
        pthread_mutex_unlock(&st->wmu);
    }
    free(batch);
    if (rc == 0) {
        pthread_mutex_lock(&st->tmu);
        st->merged = n; /* entries pushed meanwhile come after these */
        st->index_count += n;
        pthread_mutex_unlock(&st->tmu);
    }
    pthread_mutex_unlock(&st->mmu);
    return rc < 0 ? -1 : 0;
}

/* Test hook (not in node.h): merges whatever is recent, now. */
int store_test_merge(store *st, char err[PLOW_ERR_LEN]);
int store_test_merge(store *st, char err[PLOW_ERR_LEN]) { return merge_recent(st, 1, err); }

static size_t merge_due(const store *st) {
    uint64_t n = st->index_count / 8;
    return n < STORE_MERGE_MIN ? STORE_MERGE_MIN : n > STORE_MERGE_MAX ? STORE_MERGE_MAX : (size_t)n;
}

/* Rebuilds the recent entries from the blocks past the index (at open). */
static int recover_recent(store *st, char err[PLOW_ERR_LEN]) {
    uint64_t height = 0, count = 0;
    plow_buf v = {0};
    char e2[PLOW_ERR_LEN];
    if (store_meta_get(st, "tx_index_height", &v, e2) == 0 && v.len == 8) height = plow_get_u64(v.data);
    if (store_meta_get(st, "tx_index_count", &v, e2) == 0 && v.len == 8) count = plow_get_u64(v.data);
    plow_buf_release(&v);
    st->index_count = count;
    if (height > INT64_MAX) return plow_error(err, "ledger database: bad tx_index_height");
    reader *rd = &st->rd[0]; /* single-threaded here */
    sqlite3_stmt *q = rd->st[R_BLOCKS_FROM];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)height);
    int r, rc = 0;
    while (rc == 0 && (r = sqlite3_step(q)) == SQLITE_ROW) {
        uint64_t h = (uint64_t)sqlite3_column_int64(q, 0);
        size_t nres, ntx, off = 0;
        const uint8_t *res = col_blob(q, 1, &nres), *txs = col_blob(q, 2, &ntx);
        for (size_t i = 0; i < nres && rc == 0; i++) {
            uint8_t hash[32];
            size_t len = ntx - off >= 4 ? plow_get_u32(txs + off) : SIZE_MAX;
            if (len > ntx - off - 4 || tx_hash_of(st, txs + off + 4, len, hash, err) != 0) {
                rc = plow_error(err, "stored block %llu is damaged: its transactions", (unsigned long long)h);
                break;
            }
            off += 4 + len;
            recent_push(st, hash, h << STORE_POS_SHIFT | i, (int8_t)res[i]);
        }
        if (rc == 0 && off != ntx)
            rc = plow_error(err, "stored block %llu is damaged: its transactions", (unsigned long long)h);
    }
    if (rc == 0 && r != SQLITE_DONE) rc = db_error(err, rd->db, "reading the blocks");
    stmt_done(q);
    return rc;
}

/* ---- the maintenance thread ------------------------------------------------------ */

static void *maintenance(void *arg) {
    store *st = arg;
    pthread_mutex_lock(&st->cmu);
    for (;;) {
        while (!st->cwant && !st->cstop) pthread_cond_wait(&st->ccv, &st->cmu);
        if (st->cstop) break;
        st->cwant = false;
        pthread_mutex_unlock(&st->cmu);
        /* A failed merge is retried after the next block; lookups stay
         * right either way. */
        char err[PLOW_ERR_LEN];
        pthread_mutex_lock(&st->tmu);
        size_t due = merge_due(st);
        pthread_mutex_unlock(&st->tmu);
        merge_recent(st, due, err);
        /* PASSIVE: copies what it can without waiting for anyone; a busy
         * result only means another checkpoint is running. */
        sqlite3_wal_checkpoint_v2(st->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&st->cmu);
    }
    pthread_mutex_unlock(&st->cmu);
    return NULL;
}

static void maintain_soon(store *st) {
    pthread_mutex_lock(&st->cmu);
    st->cwant = true;
    pthread_cond_signal(&st->ccv);
    pthread_mutex_unlock(&st->cmu);
}

/* ---- open / close ------------------------------------------------------------ */

int store_open(store **out, const char *path, const uint8_t chain_id[32], char err[PLOW_ERR_LEN]) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    *out = NULL;
    if (!sqlite3_threadsafe()) return plow_error(err, "this SQLite library was built without thread support");
    pthread_once(&once, settings_once);
    if (check_magic(path, err) != 0) return -1;
    store *st = plow_calloc(1, sizeof *st);
    st->dropped_keep = STORE_DROPPED_KEEP;
    st->path = plow_strdup(path);
    st->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    st->mdctx = EVP_MD_CTX_new();
    pthread_mutex_init(&st->wmu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_cond_init(&st->rcv, NULL);
    pthread_mutex_init(&st->cmu, NULL);
    pthread_mutex_init(&st->tmu, NULL);
    pthread_mutex_init(&st->mmu, NULL);
    keytab_init(&st->recent_tab, sizeof(recent_val));
    pthread_cond_init(&st->ccv, NULL);
    char e2[PLOW_ERR_LEN];
    if (!st->md || !st->mdctx) {
        plow_error(err, "OpenSSL has no SHA-256");
        goto fail;
    }
    if (conn_open(&st->wdb, path, true, err) != 0) goto fail;
    /* The first statement reads the header: a damaged file fails here. */
    int64_t unused;
    if (query_int(st->wdb, "PRAGMA journal_mode = WAL", &unused, err) != 0) {
        plow_error(err, "cannot use ledger database '%s': %s", path, sqlite3_errmsg(st->wdb));
        goto fail;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;"
             "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d",
             STORE_AUTOCHECKPOINT, 64 << 20);
    if (exec_sql(st->wdb, sql, err) != 0) goto fail;
    sqlite3_stmt *s = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(st->wdb, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(s, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(s);
    if (!wal) {
        plow_error(err, "cannot use ledger database '%s': it cannot use a write-ahead log", path);
        goto fail;
    }
    if (init_schema(st, chain_id, err) != 0) goto fail;
    if (prepare_writer(st, err) != 0) goto fail;
    for (int i = 0; i < STORE_READERS; i++) {
        reader *rd = &st->rd[i];
        if (conn_open(&rd->db, path, false, err) != 0) goto fail;
        if (exec_sql(rd->db, "PRAGMA query_only = ON; PRAGMA cache_size = -16384", err) != 0) goto fail;
        for (int j = 0; j < R_COUNT; j++)
            if (prepare(rd->db, r_sql[j], &rd->st[j], err) != 0) goto fail;
    }
    if (recover_recent(st, err) != 0) goto fail;
    if (conn_open(&st->cdb, path, false, err) != 0) goto fail;
    if (exec_sql(st->cdb, "PRAGMA synchronous = FULL", err) != 0) goto fail;
    if (pthread_create(&st->cthread, NULL, maintenance, st) != 0) {
        plow_error(err, "cannot start the ledger database's maintenance thread");
        goto fail;
    }
    st->cthread_on = true;
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
    if (st->cthread_on) {
        pthread_mutex_lock(&st->cmu);
        st->cstop = true;
        pthread_cond_signal(&st->ccv);
        pthread_mutex_unlock(&st->cmu);
        pthread_join(st->cthread, NULL);
    }
    sqlite3_close(st->cdb);
    for (int i = 0; i < STORE_READERS; i++) {
        for (int j = 0; j < R_COUNT; j++) sqlite3_finalize(st->rd[i].st[j]);
        sqlite3_close(st->rd[i].db);
    }
    for (int j = 0; j < W_COUNT; j++) sqlite3_finalize(st->wst[j]);
    sqlite3_close(st->wdb); /* the last connection: checkpoints and removes the WAL */
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->rmu);
    pthread_cond_destroy(&st->rcv);
    pthread_mutex_destroy(&st->cmu);
    pthread_mutex_destroy(&st->tmu);
    pthread_mutex_destroy(&st->mmu);
    keytab_release(&st->recent_tab);
    free(st->recent);
    pthread_cond_destroy(&st->ccv);
    plow_buf_release(&st->arena);
    EVP_MD_CTX_free(st->mdctx);
    EVP_MD_free(st->md);
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
    if (n > INT_MAX) return plow_error(err, "meta value '%s' too large", key);
    if (strcmp(key, "chain_id") == 0) return plow_error(err, "the chain id of a ledger database cannot change");
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = st->wst[W_META_PUT];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, nonnull(val), (int)n, SQLITE_STATIC);
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
        size_t n;
        const uint8_t *v = col_blob(s, 0, &n);
        out->len = 0;
        plow_buf_append(out, v, n);
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

/* A transaction's hash, from its encoding: by ledger.h the signed encoding
 * is the unsigned one followed by the signature, and the hash is SHA-256 of
 * the unsigned one. The store keeps what the node admitted (decoded and
 * checked) or built; it does not decode again (decoding clears a ~10 KB
 * struct: more than the hash and the insert together). Under wmu. */
static int tx_hash_of(store *st, const uint8_t *raw, size_t len, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    if (len > LEDGER_TX_MAX || len <= LEDGER_SIG_LEN)
        return plow_error(err, "a transaction of %zu bytes cannot be stored", len);
    unsigned int n = 0;
    /* One context, one fetched digest: plow_sha256_once allocates both per
     * call, which costs several times the hash of a 100-byte message. */
    if (EVP_DigestInit_ex2(st->mdctx, st->md, NULL) != 1 || EVP_DigestUpdate(st->mdctx, raw, len - LEDGER_SIG_LEN) != 1 ||
        EVP_DigestFinal_ex(st->mdctx, hash, &n) != 1 || n != 32)
        return plow_error(err, "SHA-256 failed");
    return 0;
}

static int w_begin(store *st, char err[PLOW_ERR_LEN]) {
    return step_done(st->wdb, st->wst[W_BEGIN], "beginning a write", err);
}

static void w_rollback(store *st) {
    if (sqlite3_get_autocommit(st->wdb)) return; /* SQLite already rolled back */
    sqlite3_step(st->wst[W_ROLLBACK]);
    stmt_done(st->wst[W_ROLLBACK]);
}

static int w_commit(store *st, char err[PLOW_ERR_LEN]) {
    if (step_done(st->wdb, st->wst[W_COMMIT], "committing", err) == 0) return 0;
    w_rollback(st);
    return -1;
}

typedef struct mp_rows {
    const plow_buf *txs;
    const uint8_t *hashes;
} mp_rows;

static void bind_mempool(sqlite3_stmt *s, int p, size_t j, void *arg) {
    const mp_rows *m = arg;
    sqlite3_bind_blob(s, p, m->hashes + 32 * j, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, p + 1, nonnull(m->txs[j].data), (int)m->txs[j].len, SQLITE_STATIC);
}

int store_mempool_add(store *st, const plow_buf *txs, size_t n, char err[PLOW_ERR_LEN]) {
    if (n == 0) return 0;
    size_t hbytes;
    if (!plow_mul_size(n, 32, &hbytes)) return plow_error(err, "too many transactions");
    pthread_mutex_lock(&st->wmu);
    int rc = -1;
    st->arena.len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        if (tx_hash_of(st, txs[i].data, txs[i].len, h, err) != 0) goto out;
        plow_buf_append(&st->arena, h, 32);
    }
    if (w_begin(st, err) != 0) goto out;
    mp_rows m = {txs, st->arena.data};
    if (insert_rows(st, W_MEMPOOL_ADD, W_MEMPOOL_ADD_N, 2, n, bind_mempool, &m, "adding to the mempool", err) != 0) {
        w_rollback(st);
        goto out;
    }
    rc = w_commit(st, err);
out:
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

/* The state records of a block, copied into the arena: (koff, klen, voff, vlen). */
typedef struct state_rows {
    plow_buf *arena;
    size_t (*rec)[4];
    size_t n, cap;
    bool too_big;
} state_rows;

static void collect_dirty(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    state_rows *r = arg;
    if (klen == 0 || klen > INT_MAX || vlen > INT_MAX) {
        r->too_big = true;
        return;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->rec = plow_realloc(r->rec, r->cap * sizeof *r->rec);
    }
    size_t *e = r->rec[r->n++];
    e[0] = r->arena->len;
    e[1] = klen;
    plow_buf_append(r->arena, key, klen);
    e[2] = r->arena->len;
    e[3] = vlen;
    plow_buf_append(r->arena, val, vlen);
}

static void bind_state(sqlite3_stmt *s, int p, size_t j, void *arg) {
    const state_rows *r = arg;
    const size_t *e = r->rec[j];
    sqlite3_bind_blob(s, p, r->arena->data + e[0], (int)e[1], SQLITE_STATIC);
    sqlite3_bind_blob(s, p + 1, nonnull(r->arena->data + e[2]), (int)e[3], SQLITE_STATIC);
}

int store_commit_block(store *st, const ledger_block *b, ledger_state *s, const store_dropped *dropped, size_t n_dropped,
                       uint64_t mempool_upto, char err[PLOW_ERR_LEN]) {
    unsigned long long height = (unsigned long long)b->h.height;
    if (b->n_txs != b->h.n_txs)
        return plow_error(err, "block %llu: its header counts %u transactions, %u given", height, b->h.n_txs,
                          b->n_txs);
    if (b->n_txs >= 1u << STORE_POS_SHIFT) return plow_error(err, "block %llu: too many transactions", height);
    if (b->n_txs && (!b->txs || !b->results)) return plow_error(err, "block %llu: transactions or results missing", height);
    if (b->h.height == 0 || b->h.height >= (uint64_t)1 << (63 - STORE_POS_SHIFT) || mempool_upto > INT64_MAX)
        return plow_error(err, "block %llu: height out of range", height);
    uint8_t hash[32];
    ledger_block_hash(&b->h, hash);
    if (memcmp(hash, b->hash, 32) != 0) return plow_error(err, "block %llu: its hash does not match its header", height);
    uint8_t header[LEDGER_BLOCK_HEADER_LEN];
    ledger_block_encode(&b->h, header);

    pthread_mutex_lock(&st->wmu);
    int rc = -1;
    state_rows sr = {.arena = &st->arena};
    plow_buf txblob = {0};
    uint8_t *hashes = plow_alloc(b->n_txs ? 32 * (size_t)b->n_txs : 1);
    /* Everything that can fail without the database first: hashes, the
     * transactions' blob, the state records. */
    st->arena.len = 0;
    for (uint32_t i = 0; i < b->n_txs; i++) {
        if (tx_hash_of(st, b->txs[i].data, b->txs[i].len, hashes + 32 * (size_t)i, err) != 0) {
            plow_error_prefix(err, "block");
            goto out;
        }
        plow_buf_u32(&txblob, (uint32_t)b->txs[i].len);
        plow_buf_append(&txblob, b->txs[i].data, b->txs[i].len);
    }
    if (txblob.len > INT_MAX) {
        plow_error(err, "block %llu: %zu bytes of transactions is more than the database takes", height, txblob.len);
        goto out;
    }
    if (s) ledger_each_dirty(s, collect_dirty, &sr);
    if (sr.too_big) {
        plow_error(err, "block %llu: a state record is too large to store", height);
        goto out;
    }

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
        plow_error(err, "block %llu does not follow the last stored block %llu", height, (unsigned long long)top);
        goto fail;
    }

    q = st->wst[W_BLOCK_ADD];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)b->h.height);
    sqlite3_bind_blob(q, 2, b->hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, header, sizeof header, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, b->sig, LEDGER_SIG_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(q, 5, nonnull(b->results), (int)b->n_txs, SQLITE_STATIC);
    sqlite3_bind_blob(q, 6, nonnull(txblob.data), (int)txblob.len, SQLITE_STATIC);
    if (step_done(st->wdb, q, "storing the block", err) != 0) goto fail;

    q = st->wst[W_TX_ERROR];
    for (uint32_t i = 0; b->errors && i < b->n_txs; i++) {
        if (!b->errors[i]) continue;
        sqlite3_bind_int64(q, 1, (sqlite3_int64)(b->h.height << STORE_POS_SHIFT | i));
        sqlite3_bind_text(q, 2, b->errors[i], (int)strnlen(b->errors[i], PLOW_ERR_LEN), SQLITE_STATIC);
        if (step_done(st->wdb, q, "storing a transaction's error", err) != 0) goto fail;
    }

    if (insert_rows(st, W_STATE_PUT, W_STATE_PUT_N, 2, sr.n, bind_state, &sr, "writing a state record", err) != 0)
        goto fail;

    q = st->wst[W_DROPPED_PUT];
    for (size_t i = 0; i < n_dropped; i++) {
        sqlite3_bind_blob(q, 1, dropped[i].hash, 32, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, dropped[i].reason, (int)strnlen(dropped[i].reason, PLOW_ERR_LEN), SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)b->h.height);
        if (step_done(st->wdb, q, "storing a dropped transaction", err) != 0) goto fail;
    }
    if (b->h.height > st->dropped_keep) {
        q = st->wst[W_DROPPED_PRUNE];
        sqlite3_bind_int64(q, 1, (sqlite3_int64)(b->h.height - st->dropped_keep));
        if (step_done(st->wdb, q, "pruning dropped transactions", err) != 0) goto fail;
    }

    q = st->wst[W_MEMPOOL_DEL];
    sqlite3_bind_int64(q, 1, (sqlite3_int64)mempool_upto);
    if (step_done(st->wdb, q, "removing mempool entries", err) != 0) goto fail;

    /* The hashes become findable exactly when the block does: tmu is held
     * across COMMIT, so a reader whose snapshot shows the block finds them. */
    pthread_mutex_lock(&st->tmu);
    size_t n0 = st->n_recent;
    for (uint32_t i = 0; i < b->n_txs; i++)
        recent_push(st, hashes + 32 * (size_t)i, b->h.height << STORE_POS_SHIFT | i, b->results[i]);
    rc = w_commit(st, err);
    if (rc != 0) recent_truncate(st, n0);
    pthread_mutex_unlock(&st->tmu);
    goto out;
fail:
    w_rollback(st);
out:
    pthread_mutex_unlock(&st->wmu);
    if (rc == 0) maintain_soon(st);
    free(sr.rec);
    free(hashes);
    plow_buf_release(&txblob);
    return rc;
}

/* ---- reads ------------------------------------------------------------------- */

int store_mempool_each(store *st, bool (*fn)(uint64_t seq, const uint8_t *tx, size_t len, void *arg), void *arg,
                       char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *s = rd->st[R_MEMPOOL_EACH];
    int r, rc = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        size_t len;
        const uint8_t *raw = col_blob(s, 1, &len);
        if (!fn((uint64_t)sqlite3_column_int64(s, 0), raw, len, arg)) break;
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

/* Splits the stored transactions blob into n transactions. */
static int split_txs(ledger_block *out, const uint8_t *p, size_t len) {
    size_t off = 0;
    for (uint32_t i = 0; i < out->n_txs; i++) {
        if (len - off < 4) return -1;
        size_t n = plow_get_u32(p + off);
        off += 4;
        if (n > len - off) return -1;
        plow_buf_append(&out->txs[i], p + off, n);
        off += n;
    }
    return off == len ? 0 : -1;
}

static int get_block(reader *rd, uint64_t height, ledger_block *out, char err[PLOW_ERR_LEN]) {
    unsigned long long hh = (unsigned long long)height;
    if (height == 0 || height >= (uint64_t)1 << (63 - STORE_POS_SHIFT))
        return plow_error(err, "no block at height %llu", hh);
    sqlite3_stmt *s = rd->st[R_BLOCK_GET];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)height);
    int r = sqlite3_step(s), rc = -1;
    size_t nh, nhdr, nsig, nres, ntx;
    if (r == SQLITE_DONE) {
        plow_error(err, "no block at height %llu", hh);
    } else if (r != SQLITE_ROW) {
        db_error(err, rd->db, "reading a block");
    } else {
        const uint8_t *h = col_blob(s, 0, &nh), *hdr = col_blob(s, 1, &nhdr), *sig = col_blob(s, 2, &nsig);
        const uint8_t *res = col_blob(s, 3, &nres), *txs = col_blob(s, 4, &ntx);
        if (nh != 32 || nsig != LEDGER_SIG_LEN || ledger_block_decode(&out->h, hdr, nhdr, err) != 0) {
            plow_error(err, "stored block %llu is damaged", hh);
        } else if (out->h.height != height || nres != out->h.n_txs) {
            plow_error(err, "stored block %llu is damaged: its header does not match", hh);
        } else {
            memcpy(out->hash, h, 32);
            memcpy(out->sig, sig, LEDGER_SIG_LEN);
            uint32_t n = out->h.n_txs;
            out->n_txs = n;
            out->txs = plow_calloc(n ? n : 1, sizeof *out->txs);
            out->results = plow_calloc(n ? n : 1, sizeof *out->results);
            out->errors = plow_calloc(n ? n : 1, sizeof *out->errors);
            memcpy(out->results, res, n);
            if (split_txs(out, txs, ntx) != 0) plow_error(err, "stored block %llu is damaged: its transactions", hh);
            else rc = 0;
        }
    }
    stmt_done(s);
    if (rc != 0) return -1;

    s = rd->st[R_BLOCK_ERRORS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)(height << STORE_POS_SHIFT));
    sqlite3_bind_int64(s, 2, (sqlite3_int64)((height + 1) << STORE_POS_SHIFT));
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        uint64_t idx = (uint64_t)sqlite3_column_int64(s, 0) & ((1u << STORE_POS_SHIFT) - 1);
        const unsigned char *e = sqlite3_column_text(s, 1);
        if (idx < out->n_txs && e && !out->errors[idx]) out->errors[idx] = plow_strdup((const char *)e);
    }
    if (r != SQLITE_DONE) rc = db_error(err, rd->db, "reading a block's errors");
    stmt_done(s);
    return rc;
}

int store_get_block(store *st, uint64_t height, ledger_block *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    reader *rd = reader_get(st);
    int rc = -1;
    if (reader_begin(rd, err) == 0) {
        rc = get_block(rd, height, out, err);
        reader_end(rd);
    }
    reader_put(st, rd);
    if (rc != 0) ledger_block_release(out);
    return rc;
}

int store_load_state(store *st, ledger_state *s, char err[PLOW_ERR_LEN]) {
    reader *rd = reader_get(st);
    sqlite3_stmt *q = rd->st[R_STATE_ALL];
    int r, rc = 0;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        size_t klen, vlen;
        const uint8_t *k = col_blob(q, 0, &klen), *v = col_blob(q, 1, &vlen);
        if (ledger_load_record(s, k, klen, v, vlen, err) != 0) {
            rc = plow_error_prefix(err, "stored state record");
            break;
        }
    }
    if (rc == 0 && r != SQLITE_DONE) rc = db_error(err, rd->db, "reading the state");
    stmt_done(q);
    reader_put(st, rd);
    return rc;
}

/* Runs a one-row lookup by hash; 1 found, 0 not, -1 error. */
static int lookup(sqlite3_stmt *s, const uint8_t hash[32]) {
    sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

int store_tx_status_get(store *st, const uint8_t hash[32], store_tx_status *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    reader *rd = reader_get(st);
    int rc = -1, f;
    recent_val rv;
    sqlite3_stmt *s;
    /* In this order: included (the index, then the recent blocks), pending,
     * dropped. A transaction dropped once and sent again may be pending or
     * included later: the newest fact wins. The snapshot is taken first, so
     * a block it shows has its hashes in `recent` already (tmu was held
     * across that block's COMMIT). An entry leaves `recent` one merge after
     * the merge that indexed it: if entries left between our snapshot and
     * our look at `recent` (two merges, a stalled reader), one we need may
     * be in neither, so we look again. */
    for (;;) {
        uint64_t drops0 = recent_drops(st), drops1;
        if (reader_begin(rd, err) != 0) goto done;
        s = rd->st[R_TX_GET];
        f = lookup(s, hash);
        if (f == 1) {
            rv.pos = (uint64_t)sqlite3_column_int64(s, 0);
            rv.result = sqlite3_column_int(s, 1);
        }
        stmt_done(s);
        if (f != 0) break;
        if (recent_find(st, hash, &rv, &drops1)) {
            f = 1;
            break;
        }
        if (drops1 == drops0) break;
        reader_end(rd);
    }
    if (f == 1) {
        out->where = 'b';
        out->height = rv.pos >> STORE_POS_SHIFT;
        out->index = (uint32_t)(rv.pos & ((1u << STORE_POS_SHIFT) - 1));
        out->result = (int)rv.result;
        /* The message, read in a fresh snapshot: the block may have been
         * committed after ours was taken. */
        reader_end(rd);
        if (rv.result != LEDGER_TX_OK) {
            s = rd->st[R_TX_ERROR];
            sqlite3_bind_int64(s, 1, (sqlite3_int64)rv.pos);
            int r = sqlite3_step(s);
            if (r == SQLITE_ROW) {
                const unsigned char *e = sqlite3_column_text(s, 0);
                snprintf(out->error, sizeof out->error, "%s", e ? (const char *)e : "");
            }
            stmt_done(s);
            if (r != SQLITE_ROW && r != SQLITE_DONE) {
                db_error(err, rd->db, "reading a transaction's status");
                goto done;
            }
        }
        rc = 0;
        goto done;
    }
    if (f == 0) {
        s = rd->st[R_MEMPOOL_HAS];
        f = lookup(s, hash);
        if (f == 1) out->where = 'p';
        stmt_done(s);
    }
    if (f == 0) {
        s = rd->st[R_DROPPED_GET];
        f = lookup(s, hash);
        if (f == 1) {
            const unsigned char *e = sqlite3_column_text(s, 0);
            out->where = 'd';
            snprintf(out->error, sizeof out->error, "%s", e ? (const char *)e : "");
        }
        stmt_done(s);
    }
    if (f < 0) db_error(err, rd->db, "reading a transaction's status");
    else rc = 0;
    reader_end(rd);
done:
    reader_put(st, rd);
    return rc;
}

void store_set_dropped_keep(store *st, uint64_t blocks) {
    pthread_mutex_lock(&st->wmu);
    st->dropped_keep = blocks ? blocks : 1;
    pthread_mutex_unlock(&st->wmu);
}
