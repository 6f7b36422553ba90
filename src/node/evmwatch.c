/*
 * evmwatch.c — `plow node --chain URL --deployment FILE`: the node indexes
 * plow's contracts on an EVM chain (docs/evm.md, "The node on a chain") and
 * serves them through the same API shape as the embedded ledger's
 * (/v1/status, /v1/tasks with its filters and cursors, /v1/task/ID,
 * /v1/account/ADDR, /v1/challenge/ID; http.c asks here when n->evm).
 *
 * What is stored (DIR/chain.db, SQLite, WAL, synchronous=FULL):
 *   logs(block, idx, tx, topics, data)  every event of the Plow contract;
 *   words(task, block, word)            a task's word (Plow.tasks(id)) as
 *                                       read at the end of each indexed range
 *                                       in which an event named the task;
 *   blocks(number, hash)                the hash of each block with events
 *                                       and of each range's last block;
 *   meta                                the contract, chain id, next block.
 * Every range is one SQLite transaction: a node killed at any moment restarts
 * at the last whole range and resumes from there (meta 'next').
 *
 * Confirmations: a range ends `confirmations` blocks below the chain's head.
 * A reorg: before each range the hash of the last indexed block is compared
 * with the chain's; if it differs (or the chain is shorter), the stored
 * blocks are walked back to the newest one the chain still has, every row
 * above it is deleted and the in-memory index is rebuilt from what remains;
 * indexing resumes from there. Each range's logs are checked against the
 * block hashes read after them (a reorg in flight: the range is retried).
 *
 * Words are read by eth_call pinned to the range's last block, so an index
 * at block B holds exactly the contract's state at B (every change of a task
 * word emits an event naming the task: evm_index_log_task).
 *
 * Locks: ci->lock (writer-preferring rwlock) over the in-memory index; the
 * indexer thread is the only writer; HTTP threads read. rpc is the
 * indexer's, rpc_read (with read_mu) the HTTP threads' account reads.
 */
#include "../base/plow.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <time.h>

#include "../evm/evindex.h"
#include "node_internal.h"

#define CHAIN_RANGE_MAX 2000   /* blocks one eth_getLogs asks for */
#define CHAIN_KEEP_BLOCKS 4096 /* block hashes kept below the indexed head (a deeper reorg re-indexes all) */

struct evmwatch {
    char *path;
    evm_deployment d;
    uint32_t conf;
    sqlite3 *db;
    eth_rpc *rpc;
    pthread_mutex_t read_mu;
    eth_rpc *rpc_read;
    pthread_rwlock_t lock;
    /* under lock */
    evm_index ix;
    uint8_t (*words)[32]; /* one per ix.tasks[i] */
    size_t words_cap;
    uint64_t next; /* the first block not indexed */
    uint8_t head_hash[32];
    uint64_t head_time_s, burned, held, reorgs; /* burned, held: Plow.burned, the tokens Plow holds */
    taskidx tasks; /* its own lock */
};

/* ---- SQLite ---- */

static int db_err(evmwatch *ci, const char *what, char err[PLOW_ERR_LEN]) {
    return plow_error(err, "%s: %s: %s", ci->path, what, sqlite3_errmsg(ci->db));
}

static int exec(evmwatch *ci, const char *sql, char err[PLOW_ERR_LEN]) {
    char *msg = NULL;
    if (sqlite3_exec(ci->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        plow_error(err, "%s: %s", ci->path, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int meta_put(evmwatch *ci, const char *k, const void *v, size_t n, char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ci->db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK)
        return db_err(ci, "meta", err);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(ci, "meta", err);
    sqlite3_finalize(st);
    return rc;
}

/* 1 found (n bytes exactly), 0 absent, -1 error or another size. */
static int meta_get(evmwatch *ci, const char *k, void *v, size_t n, char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ci->db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return db_err(ci, "meta", err);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 0) != n)
            rc = plow_error(err, "%s: meta '%s' is damaged", ci->path, k);
        else {
            memcpy(v, sqlite3_column_blob(st, 0), n);
            rc = 1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int meta_put_u64(evmwatch *ci, const char *k, uint64_t v, char err[PLOW_ERR_LEN]) {
    uint8_t b[8];
    plow_put_u64(b, v);
    return meta_put(ci, k, b, 8, err);
}

static int meta_get_u64(evmwatch *ci, const char *k, uint64_t *v, char err[PLOW_ERR_LEN]) {
    uint8_t b[8];
    int rc = meta_get(ci, k, b, 8, err);
    if (rc == 1) *v = plow_get_u64(b);
    return rc;
}

/* ---- the in-memory index ---- */

static size_t task_pos(evmwatch *ci, const evm_ix_task *t) { return (size_t)(t - ci->ix.tasks); }

static void words_fit(evmwatch *ci) {
    if (ci->words_cap >= ci->ix.n) return;
    size_t cap = ci->ix.cap > ci->ix.n ? ci->ix.cap : ci->ix.n;
    ci->words = plow_realloc(ci->words, cap * sizeof *ci->words);
    memset(ci->words + ci->words_cap, 0, (cap - ci->words_cap) * sizeof *ci->words);
    ci->words_cap = cap;
}

static int record_of(evmwatch *ci, size_t i, ledger_task *t, char err[PLOW_ERR_LEN]) {
    evm_task_state st;
    evm_task_word_decode(ci->words[i], &st);
    return evm_ix_task_record(&ci->ix.tasks[i], &st, NULL, NULL, t, err);
}

/* Every task into the listing index again (after a load or a rollback). lock held. */
static int relist(evmwatch *ci, char err[PLOW_ERR_LEN]) {
    ledger_task *ts = ci->ix.n ? plow_alloc(ci->ix.n * sizeof *ts) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < ci->ix.n; i++)
        if (record_of(ci, i, &ts[k], err) == 0) k++;
        else {
            free(ts);
            return -1;
        }
    taskidx_replace(&ci->tasks, ts, k);
    free(ts);
    return 0;
}

/* The whole index from the database (at start, and after a rollback). lock held (write). */
static int load(evmwatch *ci, char err[PLOW_ERR_LEN]) {
    evm_index_clear(&ci->ix);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(ci->db, "SELECT block, idx, tx, topics, data FROM logs ORDER BY block, idx", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(ci, "logs", err);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        eth_log l;
        memset(&l, 0, sizeof l);
        memcpy(l.address, ci->d.plow, ETH_ADDR_LEN);
        l.block = (uint64_t)sqlite3_column_int64(st, 0);
        l.log_index = (uint64_t)sqlite3_column_int64(st, 1);
        int tn = sqlite3_column_bytes(st, 3);
        if (sqlite3_column_bytes(st, 2) != 32 || tn % 32 || tn > 128) {
            plow_error(err, "%s: a damaged log row (block %" PRIu64 ")", ci->path, l.block);
            goto out;
        }
        memcpy(l.tx_hash, sqlite3_column_blob(st, 2), 32);
        if (tn) memcpy(l.topics, sqlite3_column_blob(st, 3), (size_t)tn);
        l.ntopics = tn / 32;
        l.data = (uint8_t *)sqlite3_column_blob(st, 4);
        l.data_len = (size_t)sqlite3_column_bytes(st, 4);
        if (evm_index_apply(&ci->ix, &l, err)) {
            plow_error_prefix(err, ci->path);
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        db_err(ci, "logs", err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    words_fit(ci);
    if (ci->words_cap) memset(ci->words, 0, ci->words_cap * sizeof *ci->words); /* words is NULL before the first word */
    if (sqlite3_prepare_v2(ci->db, "SELECT task, word FROM words ORDER BY block", -1, &st, NULL) != SQLITE_OK) {
        db_err(ci, "words", err);
        goto out;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) { /* the newest of each task wins */
        if (sqlite3_column_bytes(st, 0) != 32 || sqlite3_column_bytes(st, 1) != 32) {
            plow_error(err, "%s: a damaged word row", ci->path);
            goto out;
        }
        evm_ix_task *t = evm_index_task(&ci->ix, sqlite3_column_blob(st, 0));
        if (t) memcpy(ci->words[task_pos(ci, t)], sqlite3_column_blob(st, 1), 32);
    }
    if (s != SQLITE_DONE) {
        db_err(ci, "words", err);
        goto out;
    }
    uint64_t v;
    if (meta_get_u64(ci, "next", &ci->next, err) < 0) goto out;
    if (meta_get_u64(ci, "burned", &v, err) < 0) goto out;
    ci->burned = v;
    if (meta_get_u64(ci, "head_time", &ci->head_time_s, err) < 0) goto out;
    if (meta_get_u64(ci, "held", &ci->held, err) < 0) goto out;
    if (meta_get(ci, "head_hash", ci->head_hash, 32, err) < 0) goto out;
    rc = relist(ci, err);
out:
    sqlite3_finalize(st);
    return rc;
}

int evmwatch_open(evmwatch **out, const char *dir, const char *rpc_url, const char *deployment,
                     uint32_t confirmations, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    evmwatch *ci = plow_calloc(1, sizeof *ci);
    pthread_mutex_init(&ci->read_mu, NULL);
    node_rwlock_init(&ci->lock);
    taskidx_init(&ci->tasks);
    ci->conf = confirmations;
    uint8_t *buf = NULL;
    size_t n = 0;
    ci->path = plow_strdup(dir);
    {
        size_t l = strlen(dir);
        ci->path = plow_realloc(ci->path, l + 16);
        snprintf(ci->path, l + 16, "%s/chain.db", dir);
    }
    if (plow_read_file(deployment, 1 << 20, &buf, &n, err) ||
        evm_deployment_parse((const char *)buf, n, &ci->d, err)) {
        plow_error_prefix(err, deployment);
        goto fail;
    }
    evm_index_init(&ci->ix, ci->d.plow);
    ci->rpc = eth_rpc_new(rpc_url);
    ci->rpc_read = eth_rpc_new(rpc_url);
    if (!ci->rpc || !ci->rpc_read) {
        plow_error(err, "cannot make an HTTP client for '%s'", rpc_url);
        goto fail;
    }
    uint64_t id;
    if (eth_chain_id(ci->rpc, &id, err)) {
        plow_error_prefix(err, rpc_url);
        goto fail;
    }
    if (id != ci->d.chain_id) {
        plow_error(err, "%s is chain %" PRIu64 ", the deployment %s is on chain %" PRIu64, rpc_url, id, deployment,
                   ci->d.chain_id);
        goto fail;
    }
    if (sqlite3_open_v2(ci->path, &ci->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        plow_error(err, "%s: cannot open: %s", ci->path, ci->db ? sqlite3_errmsg(ci->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(ci->db, 5000);
    if (exec(ci, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                 "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
                 "CREATE TABLE IF NOT EXISTS blocks(number INTEGER PRIMARY KEY, hash BLOB NOT NULL);"
                 "CREATE TABLE IF NOT EXISTS logs(block INTEGER NOT NULL, idx INTEGER NOT NULL, tx BLOB NOT NULL,"
                 " topics BLOB NOT NULL, data BLOB NOT NULL, PRIMARY KEY(block, idx));"
                 "CREATE TABLE IF NOT EXISTS words(task BLOB NOT NULL, block INTEGER NOT NULL, word BLOB NOT NULL,"
                 " PRIMARY KEY(task, block));",
             err))
        goto fail;
    uint8_t plow[ETH_ADDR_LEN];
    uint64_t cid;
    int have = meta_get(ci, "plow", plow, sizeof plow, err);
    if (have < 0 || meta_get_u64(ci, "chain_id", &cid, err) < 0) goto fail;
    if (have == 1 && (memcmp(plow, ci->d.plow, ETH_ADDR_LEN) != 0 || cid != ci->d.chain_id)) {
        plow_error(err, "%s indexes another deployment (contract or chain): give it its own --data directory", ci->path);
        goto fail;
    }
    if (have == 0) {
        if (exec(ci, "BEGIN", err) || meta_put(ci, "plow", ci->d.plow, ETH_ADDR_LEN, err) ||
            meta_put_u64(ci, "chain_id", ci->d.chain_id, err) || meta_put_u64(ci, "next", ci->d.block, err) ||
            exec(ci, "COMMIT", err))
            goto fail;
    }
    if (load(ci, err)) goto fail;
    free(buf);
    *out = ci;
    return 0;
fail:
    free(buf);
    evmwatch_close(ci);
    return -1;
}

void evmwatch_close(evmwatch *ci) {
    if (!ci) return;
    if (ci->db) sqlite3_close(ci->db);
    eth_rpc_free(ci->rpc);
    eth_rpc_free(ci->rpc_read);
    evm_index_release(&ci->ix);
    free(ci->words);
    taskidx_release(&ci->tasks);
    pthread_rwlock_destroy(&ci->lock);
    pthread_mutex_destroy(&ci->read_mu);
    free(ci->path);
    free(ci);
}

/* ---- indexing ---- */

/* The newest stored block the chain still has (its hash unchanged), or the
 * deployment's block - 1 when none is. */
static int fork_point(evmwatch *ci, uint64_t head, uint64_t *fork, char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ci->db, "SELECT number, hash FROM blocks ORDER BY number DESC", -1, &st, NULL) != SQLITE_OK)
        return db_err(ci, "blocks", err);
    *fork = ci->d.block ? ci->d.block - 1 : 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t b = (uint64_t)sqlite3_column_int64(st, 0);
        if (b > head || sqlite3_column_bytes(st, 1) != 32) continue;
        uint8_t h[32];
        if (eth_block_hash(ci->rpc, b, h, err)) {
            rc = -1;
            break;
        }
        if (memcmp(h, sqlite3_column_blob(st, 1), 32) == 0) {
            *fork = b;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int rollback_to(evmwatch *ci, uint64_t fork, char err[PLOW_ERR_LEN]) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; DELETE FROM logs WHERE block > %" PRIu64 "; DELETE FROM words WHERE block > %" PRIu64
             "; DELETE FROM blocks WHERE number > %" PRIu64 ";",
             fork, fork, fork);
    if (exec(ci, sql, err)) return -1;
    uint64_t burned = 0, held = 0, t = 0;
    uint8_t h[32] = {0};
    if (fork >= ci->d.block) { /* the state at the fork: its burned total, holdings, hash and time */
        eth_rpc_pin_block(ci->rpc, fork);
        int rc = evm_get_burned(ci->rpc, &ci->d, &burned, err) ||
                 evm_token_balance(ci->rpc, &ci->d, ci->d.plow, &held, err) || eth_block_info(ci->rpc, fork, h, &t, err);
        eth_rpc_pin_block(ci->rpc, 0);
        if (rc) {
            exec(ci, "ROLLBACK", err);
            return -1;
        }
    }
    if (meta_put_u64(ci, "next", fork + 1, err) || meta_put_u64(ci, "burned", burned, err) ||
        meta_put_u64(ci, "held", held, err) ||
        meta_put_u64(ci, "head_time", t, err) || meta_put(ci, "head_hash", h, 32, err) || exec(ci, "COMMIT", err)) {
        char e2[PLOW_ERR_LEN];
        exec(ci, "ROLLBACK", e2);
        return -1;
    }
    pthread_rwlock_wrlock(&ci->lock);
    int rc = load(ci, err);
    ci->reorgs++;
    pthread_rwlock_unlock(&ci->lock);
    return rc;
}

typedef struct touched {
    uint8_t (*id)[32];
    size_t n, cap;
} touched;

static void touch(touched *t, const uint8_t id[32]) {
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->id[i], id, 32) == 0) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->id = plow_realloc(t->id, t->cap * sizeof *t->id);
    }
    memcpy(t->id[t->n++], id, 32);
}

static int put_block(evmwatch *ci, uint64_t b, const uint8_t h[32], char err[PLOW_ERR_LEN]) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ci->db, "INSERT OR REPLACE INTO blocks(number, hash) VALUES(?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(ci, "blocks", err);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)b);
    sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(ci, "blocks", err);
    sqlite3_finalize(st);
    return rc;
}

/* Stores the range [from, to] (logs, their blocks' hashes, the touched
 * words) and moves 'next' past it, in one transaction. */
static int store_range(evmwatch *ci, const eth_log *logs, size_t n, uint64_t to, const uint8_t to_hash[32],
                       uint64_t to_time, const touched *tt, const uint8_t (*words)[32], uint64_t burned,
                       uint64_t held, char err[PLOW_ERR_LEN]) {
    if (exec(ci, "BEGIN", err)) return -1;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(ci->db, "INSERT OR REPLACE INTO logs(block, idx, tx, topics, data) VALUES(?,?,?,?,?)", -1,
                           &st, NULL) != SQLITE_OK) {
        db_err(ci, "logs", err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const eth_log *l = &logs[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)l->block);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)l->log_index);
        sqlite3_bind_blob(st, 3, l->tx_hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, l->topics, 32 * l->ntopics, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, l->data_len ? (const void *)l->data : "", (int)l->data_len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            db_err(ci, "logs", err);
            goto out;
        }
        if (put_block(ci, l->block, l->block_hash, err)) goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(ci->db, "INSERT OR REPLACE INTO words(task, block, word) VALUES(?,?,?)", -1, &st, NULL) !=
        SQLITE_OK) {
        db_err(ci, "words", err);
        goto out;
    }
    for (size_t i = 0; i < tt->n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, tt->id[i], 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
        sqlite3_bind_blob(st, 3, words[i], 32, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            db_err(ci, "words", err);
            goto out;
        }
    }
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM blocks WHERE number + %d < %" PRIu64, CHAIN_KEEP_BLOCKS, to);
    if (put_block(ci, to, to_hash, err) || exec(ci, sql, err) || meta_put_u64(ci, "next", to + 1, err) ||
        meta_put_u64(ci, "burned", burned, err) || meta_put_u64(ci, "held", held, err) ||
        meta_put_u64(ci, "head_time", to_time, err) || meta_put(ci, "head_hash", to_hash, 32, err))
        goto out;
    rc = exec(ci, "COMMIT", err);
out:
    sqlite3_finalize(st);
    if (rc) {
        char e2[PLOW_ERR_LEN];
        exec(ci, "ROLLBACK", e2);
    }
    return rc;
}

int evmwatch_step(evmwatch *ci, bool *more, char err[PLOW_ERR_LEN]) {
    *more = false;
    uint64_t head;
    if (eth_block_number(ci->rpc, &head, err)) return -1;
    uint64_t next;
    uint8_t last[32];
    pthread_rwlock_rdlock(&ci->lock);
    next = ci->next;
    memcpy(last, ci->head_hash, 32);
    pthread_rwlock_unlock(&ci->lock);
    if (next > ci->d.block) { /* a reorg below what we indexed? */
        uint8_t h[32];
        bool same = next - 1 <= head;
        if (same) {
            if (eth_block_hash(ci->rpc, next - 1, h, err)) return -1;
            same = memcmp(h, last, 32) == 0;
        }
        if (!same) {
            uint64_t fork = 0;
            if (fork_point(ci, head, &fork, err) || rollback_to(ci, fork, err)) return -1;
            *more = true;
            return 0;
        }
    }
    if (head < ci->conf || head - ci->conf < next) return 0;
    uint64_t target = head - ci->conf;
    uint64_t to = target - next + 1 > CHAIN_RANGE_MAX ? next + CHAIN_RANGE_MAX - 1 : target;
    eth_log *logs = NULL;
    size_t n = 0;
    touched tt = {0};
    uint8_t (*words)[32] = NULL;
    int rc = -1;
    if (eth_get_logs(ci->rpc, ci->d.plow, next, to, &logs, &n, err)) return -1;
    /* the hashes after the logs: a log of a block since replaced means a reorg in flight */
    uint8_t to_hash[32];
    uint64_t to_time = 0, burned = 0, held = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && logs[i].block == logs[i - 1].block) continue;
        uint8_t h[32];
        if (eth_block_hash(ci->rpc, logs[i].block, h, err)) goto out;
        if (memcmp(h, logs[i].block_hash, 32) != 0) {
            rc = 0; /* retried at the next step */
            *more = true;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t id[32];
        if (evm_index_log_task(&ci->ix, &logs[i], id) == 0) touch(&tt, id);
    }
    words = tt.n ? plow_calloc(tt.n, sizeof *words) : NULL;
    eth_rpc_pin_block(ci->rpc, to);
    int r2 = 0;
    for (size_t i = 0; i < tt.n && !r2; i++) r2 = evm_get_task_word(ci->rpc, &ci->d, tt.id[i], words[i], err);
    if (!r2) r2 = evm_get_burned(ci->rpc, &ci->d, &burned, err) || evm_token_balance(ci->rpc, &ci->d, ci->d.plow, &held, err);
    eth_rpc_pin_block(ci->rpc, 0);
    if (r2 || eth_block_info(ci->rpc, to, to_hash, &to_time, err)) goto out;
    /* the index first (a malformed event stops here, nothing stored), then the database */
    pthread_rwlock_wrlock(&ci->lock);
    for (size_t i = 0; i < n && rc != -2; i++)
        if (evm_index_apply(&ci->ix, &logs[i], err)) rc = -2;
    if (rc == -2) {
        char e2[PLOW_ERR_LEN];
        if (load(ci, e2)) fprintf(stderr, "chain index: %s\n", e2);
        pthread_rwlock_unlock(&ci->lock);
        rc = -1;
        goto out;
    }
    if (store_range(ci, logs, n, to, to_hash, to_time, &tt, (const uint8_t (*)[32])words, burned, held, err)) {
        char e2[PLOW_ERR_LEN];
        if (load(ci, e2)) fprintf(stderr, "chain index: %s\n", e2);
        pthread_rwlock_unlock(&ci->lock);
        goto out;
    }
    words_fit(ci);
    ledger_task *ts = tt.n ? plow_alloc(tt.n * sizeof *ts) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < tt.n; i++) {
        evm_ix_task *t = evm_index_task(&ci->ix, tt.id[i]);
        if (!t) continue; /* an event of a task posted before the deployment's block: none */
        memcpy(ci->words[task_pos(ci, t)], words[i], 32);
        if (record_of(ci, task_pos(ci, t), &ts[k], err) == 0) k++;
    }
    ci->next = to + 1;
    memcpy(ci->head_hash, to_hash, 32);
    ci->head_time_s = to_time;
    ci->burned = burned;
    ci->held = held;
    pthread_rwlock_unlock(&ci->lock);
    taskidx_put_many(&ci->tasks, ts, k);
    free(ts);
    *more = to < target;
    rc = 0;
out:
    eth_logs_free(logs, n);
    free(tt.id);
    free(words);
    return rc;
}

/* ---- reads ---- */

taskidx *evmwatch_tasks(evmwatch *ci) { return &ci->tasks; }

void evmwatch_get_status(evmwatch *ci, evmwatch_status *s) {
    memset(s, 0, sizeof *s);
    pthread_rwlock_rdlock(&ci->lock);
    s->evm_chain_id = ci->d.chain_id;
    memcpy(s->plow, ci->d.plow, ETH_ADDR_LEN);
    s->indexed = ci->next ? ci->next - 1 : 0;
    memcpy(s->hash, ci->head_hash, 32);
    s->time_s = ci->head_time_s;
    s->burned = ci->burned;
    s->held = ci->held;
    s->reorgs = ci->reorgs;
    s->tasks = ci->ix.n;
    s->challenges = ci->ix.n_ch;
    s->confirmations = ci->conf;
    pthread_rwlock_unlock(&ci->lock);
}

bool evmwatch_task(evmwatch *ci, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch) {
    char err[PLOW_ERR_LEN];
    *ch = NULL;
    *n_ch = 0;
    pthread_rwlock_rdlock(&ci->lock);
    evm_ix_task *it = evm_index_task(&ci->ix, id);
    bool ok = it && record_of(ci, task_pos(ci, it), t, err) == 0;
    if (ok) {
        size_t k = 0;
        for (size_t i = 0; i < ci->ix.n_ch; i++) k += memcmp(ci->ix.chs[i].d.task, id, 32) == 0;
        if (k) *ch = plow_calloc(k, sizeof **ch);
        for (size_t i = 0; i < ci->ix.n_ch; i++)
            if (memcmp(ci->ix.chs[i].d.task, id, 32) == 0) evm_ix_challenge_record(&ci->ix.chs[i], NULL, NULL, &(*ch)[(*n_ch)++]);
    }
    pthread_rwlock_unlock(&ci->lock);
    return ok;
}

bool evmwatch_word(evmwatch *ci, const uint8_t id[32], uint8_t w[32]) {
    pthread_rwlock_rdlock(&ci->lock);
    evm_ix_task *it = evm_index_task(&ci->ix, id);
    if (it) memcpy(w, ci->words[task_pos(ci, it)], 32);
    pthread_rwlock_unlock(&ci->lock);
    return it != NULL;
}

bool evmwatch_challenge(evmwatch *ci, const uint8_t id[32], ledger_challenge *c) {
    pthread_rwlock_rdlock(&ci->lock);
    evm_ix_challenge *x = evm_index_challenge(&ci->ix, id);
    if (x) evm_ix_challenge_record(x, NULL, NULL, c);
    pthread_rwlock_unlock(&ci->lock);
    return x != NULL;
}

int evmwatch_account(evmwatch *ci, const uint8_t pk[32], ledger_account *a, char err[PLOW_ERR_LEN]) {
    for (int i = ETH_ADDR_LEN; i < 32; i++)
        if (pk[i]) return plow_error(err, "not an EVM account (its last 12 bytes are not zero): this node indexes a chain");
    pthread_rwlock_rdlock(&ci->lock);
    uint64_t at = ci->next ? ci->next - 1 : 0;
    pthread_rwlock_unlock(&ci->lock);
    pthread_mutex_lock(&ci->read_mu);
    eth_rpc_pin_block(ci->rpc_read, at >= ci->d.block ? at : 0);
    int rc = evm_ledger_account(ci->rpc_read, &ci->d, pk, pk, a, err);
    eth_rpc_pin_block(ci->rpc_read, 0);
    pthread_mutex_unlock(&ci->read_mu);
    return rc;
}

void evmwatch_each(evmwatch *ci, bool (*task_fn)(const ledger_task *t, void *arg),
                      bool (*ch_fn)(const ledger_challenge *c, void *arg), void *arg) {
    char err[PLOW_ERR_LEN];
    pthread_rwlock_rdlock(&ci->lock);
    bool go = true;
    for (size_t i = 0; i < ci->ix.n && go; i++) {
        ledger_task t;
        if (record_of(ci, i, &t, err) == 0 && !task_fn(&t, arg)) break;
        /* a live task's leaf blobs (the reveals name them) are pinned as a challenge's blob is */
        evm_task_state st;
        evm_task_word_decode(ci->words[i], &st);
        if (st.status == EVM_T_FINALIZED || st.status == EVM_T_EXPIRED) continue;
        static const uint8_t zero[32];
        for (int k = 0; k < ci->ix.tasks[i].p.replicas && go; k++) {
            const evm_ix_slot *sl = &ci->ix.tasks[i].slots[k];
            if (!sl->revealed || memcmp(sl->leaves_hash, zero, 32) == 0) continue;
            ledger_challenge c;
            memset(&c, 0, sizeof c);
            memcpy(c.task, ci->ix.tasks[i].id, 32);
            memcpy(c.state_blob, sl->leaves_hash, 32);
            go = ch_fn(&c, arg);
        }
    }
    for (size_t i = 0; i < ci->ix.n_ch && go; i++) {
        evm_ix_task *t = evm_index_task(&ci->ix, ci->ix.chs[i].d.task);
        if (!t) continue;
        evm_task_state st;
        evm_task_word_decode(ci->words[task_pos(ci, t)], &st);
        if (st.status == EVM_T_FINALIZED || st.status == EVM_T_EXPIRED) continue;
        ledger_challenge c;
        evm_ix_challenge_record(&ci->ix.chs[i], NULL, NULL, &c);
        if (!ch_fn(&c, arg)) break;
    }
    pthread_rwlock_unlock(&ci->lock);
}

/* ---- the thread ---- */

void *node_evmwatch_main(void *arg) {
    node *n = arg;
    char err[PLOW_ERR_LEN], last[PLOW_ERR_LEN] = "";
    uint64_t reorgs = 0;
    pthread_mutex_lock(&n->ev_mu);
    while (!atomic_load(&n->stopping)) {
        pthread_mutex_unlock(&n->ev_mu);
        bool more = false;
        if (evmwatch_step(n->evm, &more, err) != 0) {
            if (strcmp(err, last) != 0) node_log_err(n, "chain index: %s (retrying)", err);
            snprintf(last, sizeof last, "%s", err);
        } else {
            last[0] = 0;
        }
        evmwatch_status s;
        evmwatch_get_status(n->evm, &s);
        if (s.reorgs != reorgs) {
            node_log(n, "chain index: a reorg: rolled back to block %" PRIu64, s.indexed);
            reorgs = s.reorgs;
        }
        pthread_mutex_lock(&n->ev_mu);
        if (more) continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)n->o.chain_poll_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!atomic_load(&n->stopping))
            if (pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&n->ev_mu);
    return NULL;
}
