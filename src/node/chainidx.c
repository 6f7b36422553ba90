/*
 * chainidx.c — the explorer's index of the chain (docs/explorer.md): an
 * account's history, a task's events, the registered agents and the figures
 * of the overview, in its own SQLite file (DATA/explorer.db) so the queries
 * behind GET /v1/history, /v1/timeline, /v1/agents and /v1/stats are index
 * lookups, never scans of blocks or of the state.
 *
 * Who writes what, and which locks:
 *   - the block writer (sequencer or follower), right after it committed a
 *     block and still under state_lock, copies the accounts that block
 *     changed (balance, stake, locked, profile: a handful) into a queue
 *     (chainidx_note): O(accounts changed), a memcpy each, no SQL;
 *   - the index's own thread waits for new blocks like an event stream does,
 *     reads each block from the store, decodes its transactions and writes
 *     the rows (one SQLite transaction for up to 256 blocks), pairing each
 *     block with its queued accounts; it takes state_lock (read) only to map
 *     a verdict to its challenge's task when the challenge was not indexed,
 *     and once at start to total the stakes;
 *   - each API request opens its own read-only connection (WAL: readers
 *     never wait for the writer).
 * The index is derived data: it lags the chain by the blocks not yet
 * written (the replies say how far it is), and after a crash or a start on
 * an existing chain it catches up from the stored blocks — those blocks
 * have their transactions and events but no balances (null in the history:
 * only the writer saw the state after each block).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "node_internal.h"

#define CIDX_BATCH 256   /* blocks per SQLite transaction when catching up */
#define CIDX_VERSION 2 /* PRAGMA user_version of the layout below */

typedef struct cidx_acct {
    uint8_t pk[32];
    uint64_t balance, stake, locked;
    uint8_t profile;
    char name[LEDGER_NAME_MAX + 1];
    char caps[LEDGER_CAPS_MAX + 1];
} cidx_acct;

typedef struct cidx_snap {
    struct cidx_snap *next;
    uint64_t height;
    size_t n;
    cidx_acct *a;
} cidx_snap;

struct chainidx {
    char *path;
    sqlite3 *db; /* the index thread's */
    pthread_mutex_t mu;
    cidx_snap *head, **tail; /* mu */
    size_t queued;           /* mu */
    _Atomic uint64_t done;   /* the height indexed so far */
    pthread_t th;
    bool th_on;
    keytab stakes;           /* the index thread's: pk -> {stake, locked} last seen */
    uint64_t start_h;        /* the state's height when the totals were taken */
    uint64_t staked, locked; /* the index thread's running totals */
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blk(height INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, n_txs INTEGER NOT NULL,"
    " n_posts INTEGER NOT NULL, hash BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS blk_hash ON blk(hash);"
    "CREATE INDEX IF NOT EXISTS blk_time ON blk(time_ms);"
    /* an account acted or changed at a height; balances null when not known */
    "CREATE TABLE IF NOT EXISTS acct_blk(addr BLOB NOT NULL, height INTEGER NOT NULL, balance INTEGER,"
    " stake INTEGER, locked INTEGER, PRIMARY KEY(addr, height)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS acct_tx(addr BLOB NOT NULL, height INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " role TEXT NOT NULL, PRIMARY KEY(addr, height, idx, role)) WITHOUT ROWID;"
    /* every indexed transaction, for the history's details */
    "CREATE TABLE IF NOT EXISTS tx(height INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " type TEXT NOT NULL, sender BLOB NOT NULL, ok INTEGER NOT NULL, task BLOB, detail TEXT,"
    " PRIMARY KEY(height, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS task_ev(task BLOB NOT NULL, height INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " PRIMARY KEY(task, height, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS chal(id BLOB PRIMARY KEY, task BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS agent(addr BLOB PRIMARY KEY, since INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " name TEXT NOT NULL, caps TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS agent_since ON agent(since, addr);";

static int db_err(char err[PLOW_ERR_LEN], sqlite3 *db, const char *what) {
    return plow_error(err, "explorer index: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

static int exec(sqlite3 *db, const char *sql, char err[PLOW_ERR_LEN]) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        plow_error(err, "explorer index: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static uint64_t meta_get(sqlite3 *db, const char *k) {
    sqlite3_stmt *s = NULL;
    uint64_t v = 0;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) v = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

int chainidx_open(node *n, char err[PLOW_ERR_LEN]) {
    chainidx *x = plow_calloc(1, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    x->tail = &x->head;
    keytab_init(&x->stakes, 2 * sizeof(uint64_t));
    size_t l = strlen(n->data_dir) + 16;
    x->path = plow_alloc(l);
    snprintf(x->path, l, "%s/explorer.db", n->data_dir);
    n->cidx = x;
    if (sqlite3_open_v2(x->path, &x->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return db_err(err, x->db, x->path);
    sqlite3_busy_timeout(x->db, 5000);
    if (exec(x->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) != 0) return -1;
    {
        /* another layout (an older plow): rebuilt from the blocks */
        sqlite3_stmt *v = NULL;
        int64_t ver = -1;
        if (sqlite3_prepare_v2(x->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
            ver = sqlite3_column_int64(v, 0);
        sqlite3_finalize(v);
        if (ver != CIDX_VERSION &&
            exec(x->db,
                 "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS blk; DROP TABLE IF EXISTS acct_blk;"
                 " DROP TABLE IF EXISTS acct_tx; DROP TABLE IF EXISTS tx; DROP TABLE IF EXISTS task_ev;"
                 " DROP TABLE IF EXISTS chal; DROP TABLE IF EXISTS agent; PRAGMA user_version = 2;",
                 err) != 0)
            return -1;
    }
    if (exec(x->db, SCHEMA, err) != 0) return -1;
    uint8_t chain[32] = {0};
    sqlite3_stmt *s = NULL;
    /* an index of another chain (a data directory reused) is thrown away */
    if (sqlite3_prepare_v2(x->db, "SELECT v FROM meta WHERE k = 'chain'", -1, &s, NULL) != SQLITE_OK)
        return db_err(err, x->db, "reading");
    uint64_t have = 0;
    if (sqlite3_step(s) == SQLITE_ROW) have = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    memcpy(chain, n->genesis.chain_id, 8);
    uint64_t want = 0;
    for (int i = 0; i < 8; i++) want |= (uint64_t)chain[i] << (8 * i);
    want &= 0x7fffffffffffffffull;
    uint64_t tip = 0;
    if (store_height(n->st, &tip, err) != 0) return -1;
    if (have != want || meta_get(x->db, "height") > tip) {
        if (exec(x->db,
                 "BEGIN; DELETE FROM meta; DELETE FROM blk; DELETE FROM acct_blk; DELETE FROM acct_tx; DELETE FROM tx;"
                 " DELETE FROM task_ev; DELETE FROM chal; DELETE FROM agent; COMMIT;",
                 err) != 0)
            return -1;
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO meta(k, v) VALUES('chain', %llu)", (unsigned long long)want);
        if (exec(x->db, sql, err) != 0) return -1;
    }
    atomic_store(&x->done, meta_get(x->db, "height"));
    return 0;
}

void chainidx_close(node *n) {
    chainidx *x = n->cidx;
    if (!x) return;
    while (x->head) {
        cidx_snap *s = x->head;
        x->head = s->next;
        free(s->a);
        free(s);
    }
    if (x->db) sqlite3_close(x->db);
    keytab_release(&x->stakes);
    pthread_mutex_destroy(&x->mu);
    free(x->path);
    free(x);
    n->cidx = NULL;
}

/* ---- the writer's side: the accounts a block changed -------------------------------- */

typedef struct dirty_pks {
    uint8_t *pk;
    size_t n, cap;
} dirty_pks;

static void dirty_acct(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    (void)val;
    (void)vlen;
    dirty_pks *d = arg;
    if (klen != 33 || key[0] != 'a') return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->pk = plow_realloc(d->pk, d->cap * 32);
    }
    memcpy(d->pk + 32 * d->n++, key + 1, 32);
}

static void fill_acct(cidx_acct *c, const ledger_account *a) {
    memcpy(c->pk, a->pk, 32);
    c->balance = a->balance;
    c->stake = a->stake;
    c->locked = a->locked;
    c->profile = a->profile;
    snprintf(c->name, sizeof c->name, "%s", a->name);
    snprintf(c->caps, sizeof c->caps, "%s", a->caps);
}

void chainidx_note(node *n, uint64_t height) {
    chainidx *x = n->cidx;
    if (!x) return;
    dirty_pks d = {0};
    ledger_each_dirty(n->s, dirty_acct, &d);
    cidx_snap *s = plow_calloc(1, sizeof *s);
    s->height = height;
    s->a = plow_alloc((d.n ? d.n : 1) * sizeof *s->a);
    for (size_t i = 0; i < d.n; i++) {
        ledger_account a;
        if (ledger_get_account(n->s, d.pk + 32 * i, &a)) fill_acct(&s->a[s->n++], &a);
    }
    free(d.pk);
    pthread_mutex_lock(&x->mu);
    if (x->queued > 100000) { /* the index thread is far behind: it catches up from blocks */
        pthread_mutex_unlock(&x->mu);
        free(s->a);
        free(s);
        return;
    }
    *x->tail = s;
    x->tail = &s->next;
    x->queued++;
    pthread_mutex_unlock(&x->mu);
}

/* The queued accounts of height h (older ones are dropped), or NULL. */
static cidx_snap *snap_take(chainidx *x, uint64_t h) {
    cidx_snap *got = NULL;
    pthread_mutex_lock(&x->mu);
    while (x->head && x->head->height <= h) {
        cidx_snap *s = x->head;
        x->head = s->next;
        if (!x->head) x->tail = &x->head;
        x->queued--;
        if (s->height == h) {
            got = s;
            break;
        }
        free(s->a);
        free(s);
    }
    pthread_mutex_unlock(&x->mu);
    return got;
}

/* ---- the index thread ---------------------------------------------------------------- */

typedef struct ins {
    sqlite3_stmt *blk, *acct_blk, *acct_blk_touch, *acct_tx, *tx, *task_ev, *chal, *chal_get, *agent, *meta;
} ins;

static void ins_free(ins *q) {
    sqlite3_stmt **p = (sqlite3_stmt **)q;
    for (size_t i = 0; i < sizeof *q / sizeof *p; i++) sqlite3_finalize(p[i]);
}

static int ins_prepare(sqlite3 *db, ins *q, char err[PLOW_ERR_LEN]) {
    memset(q, 0, sizeof *q);
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } t[] = {
        {&q->blk, "INSERT OR REPLACE INTO blk(height, time_ms, n_txs, n_posts, hash) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&q->acct_blk, "INSERT OR REPLACE INTO acct_blk(addr, height, balance, stake, locked) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&q->acct_blk_touch, "INSERT OR IGNORE INTO acct_blk(addr, height) VALUES(?1, ?2)"},
        {&q->acct_tx, "INSERT OR IGNORE INTO acct_tx(addr, height, idx, role) VALUES(?1, ?2, ?3, ?4)"},
        {&q->tx, "INSERT OR REPLACE INTO tx(height, idx, hash, type, sender, ok, task, detail)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&q->task_ev, "INSERT OR IGNORE INTO task_ev(task, height, idx) VALUES(?1, ?2, ?3)"},
        {&q->chal, "INSERT OR REPLACE INTO chal(id, task) VALUES(?1, ?2)"},
        {&q->chal_get, "SELECT task FROM chal WHERE id = ?1"},
        {&q->agent, "INSERT INTO agent(addr, since, kind, name, caps) VALUES(?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT(addr) DO UPDATE SET kind = excluded.kind, name = excluded.name, caps = excluded.caps"},
        {&q->meta, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (sqlite3_prepare_v2(db, t[i].sql, -1, t[i].s, NULL) != SQLITE_OK) {
            db_err(err, db, "prepare");
            ins_free(q);
            return -1;
        }
    return 0;
}

static int run(sqlite3 *db, sqlite3_stmt *s, char err[PLOW_ERR_LEN]) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_err(err, db, "write");
    return 0;
}

static void bind_blob(sqlite3_stmt *s, int i, const uint8_t *p) { sqlite3_bind_blob(s, i, p, 32, SQLITE_TRANSIENT); }

static void meta_put(sqlite3 *db, ins *q, const char *k, uint64_t v, char err[PLOW_ERR_LEN]) {
    sqlite3_bind_text(q->meta, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->meta, 2, (sqlite3_int64)v);
    run(db, q->meta, err);
}

/* The task a verdict's challenge concerns (the index, else the state). */
static bool verdict_task(node *n, sqlite3 *db, ins *q, const uint8_t chal[32], uint8_t task[32]) {
    bind_blob(q->chal_get, 1, chal);
    bool found = false;
    if (sqlite3_step(q->chal_get) == SQLITE_ROW && sqlite3_column_bytes(q->chal_get, 0) == 32) {
        memcpy(task, sqlite3_column_blob(q->chal_get, 0), 32);
        found = true;
    }
    sqlite3_reset(q->chal_get);
    sqlite3_clear_bindings(q->chal_get);
    (void)db;
    if (found) return true;
    ledger_challenge c;
    pthread_rwlock_rdlock(&n->state_lock);
    found = ledger_get_challenge(n->s, chal, &c);
    pthread_rwlock_unlock(&n->state_lock);
    if (found) memcpy(task, c.task, 32);
    return found;
}

static void touch(sqlite3 *db, ins *q, const uint8_t *pk, uint64_t h, uint32_t idx, const char *role,
                  char err[PLOW_ERR_LEN]) {
    bind_blob(q->acct_tx, 1, pk);
    sqlite3_bind_int64(q->acct_tx, 2, (sqlite3_int64)h);
    sqlite3_bind_int64(q->acct_tx, 3, idx);
    sqlite3_bind_text(q->acct_tx, 4, role, -1, SQLITE_STATIC);
    run(db, q->acct_tx, err);
    bind_blob(q->acct_blk_touch, 1, pk);
    sqlite3_bind_int64(q->acct_blk_touch, 2, (sqlite3_int64)h);
    run(db, q->acct_blk_touch, err);
}

static char *u64s(char b[24], uint64_t v) {
    snprintf(b, 24, "%llu", (unsigned long long)v);
    return b;
}

/* One transaction: its row, its task's event, the accounts it names. */
static int index_tx(node *n, sqlite3 *db, ins *q, const ledger_block *b, uint32_t i, ledger_tx *tx, uint32_t *posts,
                    char err[PLOW_ERR_LEN]) {
    uint64_t h = b->h.height;
    char derr[PLOW_ERR_LEN];
    if (ledger_tx_decode(tx, b->txs[i].data, b->txs[i].len, derr) != 0) return 0; /* never in a block */
    uint8_t hash[32], task[32];
    ledger_tx_hash(tx, hash);
    bool ok = b->results[i] == LEDGER_TX_OK, has_task = false;
    cJSON *d = cJSON_CreateObject();
    char nb[24];
    const uint8_t *other = NULL;
    const char *other_role = NULL;
    switch (tx->type) {
    case LEDGER_TX_TRANSFER:
        json_add_addr(d, "to", tx->u.transfer.to);
        cJSON_AddStringToObject(d, "amount", u64s(nb, tx->u.transfer.amount));
        other = tx->u.transfer.to;
        other_role = "received";
        break;
    case LEDGER_TX_STAKE:
    case LEDGER_TX_UNSTAKE: cJSON_AddStringToObject(d, "amount", u64s(nb, tx->u.stake.amount)); break;
    case LEDGER_TX_REGISTER:
        cJSON_AddStringToObject(d, "profile", tx->u.reg.kind == LEDGER_AGENT ? "agent" : "person");
        cJSON_AddStringToObject(d, "name", tx->u.reg.name);
        break;
    case LEDGER_TX_POST_TASK:
        memcpy(task, hash, 32);
        has_task = true;
        cJSON_AddStringToObject(d, "kind", ledger_kind_name(tx->u.post.kind));
        cJSON_AddStringToObject(d, "reward", u64s(nb, tx->u.post.reward));
        cJSON_AddNumberToObject(d, "replicas", tx->u.post.replicas);
        if (ok) (*posts)++;
        break;
    case LEDGER_TX_CLAIM:
    case LEDGER_TX_FINALIZE:
    case LEDGER_TX_EXPIRE:
        memcpy(task, tx->u.ref.task, 32);
        has_task = true;
        break;
    case LEDGER_TX_COMMIT:
        memcpy(task, tx->u.commit.task, 32);
        has_task = true;
        break;
    case LEDGER_TX_REVEAL:
        memcpy(task, tx->u.open.task, 32);
        has_task = true;
        json_add_hash(d, "final_state", tx->u.open.final_state);
        json_add_hash(d, "artifact", tx->u.open.artifact);
        json_add_hash(d, "manifest", tx->u.open.manifest);
        break;
    case LEDGER_TX_CHALLENGE:
        memcpy(task, tx->u.challenge.task, 32);
        has_task = true;
        json_add_hash(d, "challenge", hash);
        json_add_addr(d, "accused", tx->u.challenge.accused);
        cJSON_AddStringToObject(d, "step", u64s(nb, tx->u.challenge.step));
        cJSON_AddStringToObject(d, "bond", u64s(nb, tx->u.challenge.bond));
        other = tx->u.challenge.accused;
        other_role = "accused";
        break;
    case LEDGER_TX_DA_CHALLENGE:
        memcpy(task, tx->u.da.task, 32);
        has_task = true;
        json_add_hash(d, "challenge", hash);
        json_add_addr(d, "accused", tx->u.da.accused);
        json_add_hash(d, "want", tx->u.da.want);
        cJSON_AddStringToObject(d, "bond", u64s(nb, tx->u.da.bond));
        other = tx->u.da.accused;
        other_role = "accused";
        break;
    case LEDGER_TX_VERDICT:
        json_add_hash(d, "challenge", tx->u.verdict.challenge);
        json_add_hash(d, "computed", tx->u.verdict.computed);
        cJSON_AddNumberToObject(d, "prev_ok", tx->u.verdict.prev_ok);
        has_task = verdict_task(n, db, q, tx->u.verdict.challenge, task);
        break;
    case LEDGER_TX_LABEL_REVEAL:
        memcpy(task, tx->u.reveal.task, 32);
        has_task = true;
        cJSON_AddNumberToObject(d, "count", tx->u.reveal.count);
        break;
    case LEDGER_TX_GOLD_REVEAL:
        memcpy(task, tx->u.gold.task, 32);
        has_task = true;
        cJSON_AddNumberToObject(d, "count", tx->u.gold.count);
        break;
    default: break;
    }
    if (!ok && b->errors && b->errors[i]) cJSON_AddStringToObject(d, "error", b->errors[i]);
    char *detail = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    sqlite3_bind_int64(q->tx, 1, (sqlite3_int64)h);
    sqlite3_bind_int64(q->tx, 2, i);
    bind_blob(q->tx, 3, hash);
    sqlite3_bind_text(q->tx, 4, ledger_tx_type_name(tx->type), -1, SQLITE_STATIC);
    bind_blob(q->tx, 5, tx->sender);
    sqlite3_bind_int(q->tx, 6, ok);
    if (has_task) bind_blob(q->tx, 7, task);
    sqlite3_bind_text(q->tx, 8, detail, -1, SQLITE_TRANSIENT);
    free(detail);
    if (run(db, q->tx, err) != 0) return -1;
    if (has_task) {
        bind_blob(q->task_ev, 1, task);
        sqlite3_bind_int64(q->task_ev, 2, (sqlite3_int64)h);
        sqlite3_bind_int64(q->task_ev, 3, i);
        if (run(db, q->task_ev, err) != 0) return -1;
    }
    if (ok && (tx->type == LEDGER_TX_CHALLENGE || tx->type == LEDGER_TX_DA_CHALLENGE)) {
        bind_blob(q->chal, 1, hash);
        bind_blob(q->chal, 2, task);
        if (run(db, q->chal, err) != 0) return -1;
    }
    touch(db, q, tx->sender, h, i, "sent", err);
    if (other && memcmp(other, tx->sender, 32) != 0) touch(db, q, other, h, i, other_role, err);
    return 0;
}

static void stake_seen(chainidx *x, const uint8_t pk[32], uint64_t stake, uint64_t locked) {
    bool created;
    uint64_t *v = keytab_put(&x->stakes, pk, &created);
    x->staked += stake - v[0];
    x->locked += locked - v[1];
    v[0] = stake;
    v[1] = locked;
}

static int index_block(node *n, chainidx *x, ins *q, uint64_t h, ledger_tx *tx, bool *live, char err[PLOW_ERR_LEN]) {
    ledger_block b = {0};
    if (node_store_block(n, h, &b, err) != 0) return -1;
    uint32_t posts = 0;
    int rc = 0;
    for (uint32_t i = 0; i < b.n_txs && rc == 0; i++) rc = index_tx(n, x->db, q, &b, i, tx, &posts, err);
    if (rc == 0) {
        sqlite3_bind_int64(q->blk, 1, (sqlite3_int64)h);
        sqlite3_bind_int64(q->blk, 2, (sqlite3_int64)b.h.time_ms);
        sqlite3_bind_int64(q->blk, 3, b.n_txs);
        sqlite3_bind_int64(q->blk, 4, posts);
        bind_blob(q->blk, 5, b.hash);
        rc = run(x->db, q->blk, err);
    }
    cidx_snap *s = rc == 0 ? snap_take(x, h) : NULL;
    *live = s != NULL && h > x->start_h;
    for (size_t i = 0; s && i < s->n && rc == 0; i++) {
        const cidx_acct *a = &s->a[i];
        bind_blob(q->acct_blk, 1, a->pk);
        sqlite3_bind_int64(q->acct_blk, 2, (sqlite3_int64)h);
        sqlite3_bind_int64(q->acct_blk, 3, (sqlite3_int64)a->balance);
        sqlite3_bind_int64(q->acct_blk, 4, (sqlite3_int64)a->stake);
        sqlite3_bind_int64(q->acct_blk, 5, (sqlite3_int64)a->locked);
        rc = run(x->db, q->acct_blk, err);
        if (h > x->start_h) stake_seen(x, a->pk, a->stake, a->locked); /* older: in the start totals */
        if (a->profile && rc == 0) {
            bind_blob(q->agent, 1, a->pk);
            sqlite3_bind_int64(q->agent, 2, (sqlite3_int64)h);
            sqlite3_bind_int(q->agent, 3, a->profile);
            sqlite3_bind_text(q->agent, 4, a->name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(q->agent, 5, a->caps, -1, SQLITE_TRANSIENT);
            rc = run(x->db, q->agent, err);
        }
    }
    if (s) {
        free(s->a);
        free(s);
    }
    ledger_block_release(&b);
    return rc;
}

typedef struct acct_walk {
    chainidx *x;
    ins *q;
    uint64_t height;
    int rc;
    char *err;
} acct_walk;

/* At start: every account's stake (the running totals), the registered ones
 * into the directory, and every balance at the state's height (a known point
 * the later blocks' rows carry on from, however far the index was behind). */
static bool start_acct(const ledger_account *a, void *arg) {
    acct_walk *w = arg;
    stake_seen(w->x, a->pk, a->stake, a->locked);
    sqlite3 *db = w->x->db;
    if (a->profile && w->rc == 0) {
        bind_blob(w->q->agent, 1, a->pk);
        sqlite3_bind_int64(w->q->agent, 2, (sqlite3_int64)w->height);
        sqlite3_bind_int(w->q->agent, 3, a->profile);
        sqlite3_bind_text(w->q->agent, 4, a->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(w->q->agent, 5, a->caps, -1, SQLITE_TRANSIENT);
        w->rc = run(db, w->q->agent, w->err);
    }
    if (w->rc == 0) { /* a known point: what the block at this height left it with */
        bind_blob(w->q->acct_blk, 1, a->pk);
        sqlite3_bind_int64(w->q->acct_blk, 2, (sqlite3_int64)w->height);
        sqlite3_bind_int64(w->q->acct_blk, 3, (sqlite3_int64)a->balance);
        sqlite3_bind_int64(w->q->acct_blk, 4, (sqlite3_int64)a->stake);
        sqlite3_bind_int64(w->q->acct_blk, 5, (sqlite3_int64)a->locked);
        w->rc = run(db, w->q->acct_blk, w->err);
    }
    return true;
}

static void *cidx_main(void *arg) {
    node *n = arg;
    chainidx *x = n->cidx;
    char err[PLOW_ERR_LEN] = "";
    ins q;
    sqlite3_stmt *carry = NULL;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    /* an account a live block names but did not change (the accused of a
     * challenge) keeps the balance of its row before */
    if (sqlite3_prepare_v2(x->db,
                           "UPDATE acct_blk AS a SET (balance, stake, locked) = (SELECT p.balance, p.stake, p.locked"
                           " FROM acct_blk p WHERE p.addr = a.addr AND p.height < a.height ORDER BY p.height DESC LIMIT 1)"
                           " WHERE a.height = ?1 AND a.balance IS NULL",
                           -1, &carry, NULL) != SQLITE_OK) {
        db_err(err, x->db, "prepare");
        node_log_err(n, "%s: the explorer's history and timelines are unavailable", err);
        free(tx);
        return NULL;
    }
    if (ins_prepare(x->db, &q, err) != 0) {
        node_log_err(n, "%s: the explorer's history and timelines are unavailable", err);
        free(tx);
        return NULL;
    }
    {
        /* the totals from the state as it is now; the blocks the index has not
         * seen yet change no total twice: they come without accounts */
        pthread_rwlock_rdlock(&n->state_lock);
        node_tip t;
        node_tip_get(n, &t);
        acct_walk w = {x, &q, t.height, 0, err};
        x->start_h = t.height;
        exec(x->db, "BEGIN", err);
        ledger_each_account(n->s, start_acct, &w);
        pthread_rwlock_unlock(&n->state_lock);
        exec(x->db, "COMMIT", err);
        if (w.rc) node_log_err(n, "%s", err);
    }
    while (!atomic_load(&n->stopping)) {
        node_tip t;
        pthread_mutex_lock(&n->ev_mu);
        while (n->tip.height <= atomic_load(&x->done) && !atomic_load(&n->stopping)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts);
        }
        t = n->tip;
        pthread_mutex_unlock(&n->ev_mu);
        if (atomic_load(&n->stopping)) break;
        uint64_t from = atomic_load(&x->done) + 1, to = t.height;
        if (to - from + 1 > CIDX_BATCH) to = from + CIDX_BATCH - 1;
        int rc = exec(x->db, "BEGIN", err);
        uint64_t h = from;
        for (; h <= to && rc == 0; h++) {
            bool live = false;
            rc = index_block(n, x, &q, h, tx, &live, err);
            if (rc == 0 && live) {
                sqlite3_bind_int64(carry, 1, (sqlite3_int64)h);
                rc = run(x->db, carry, err);
            }
        }
        if (rc == 0) {
            meta_put(x->db, &q, "height", to, err);
            meta_put(x->db, &q, "staked", x->staked, err);
            meta_put(x->db, &q, "locked", x->locked, err);
            rc = exec(x->db, "COMMIT", err);
        }
        if (rc != 0) {
            char e2[PLOW_ERR_LEN];
            exec(x->db, "ROLLBACK", e2);
            node_log_err(n, "%s (block %llu): the explorer's index stops here", err, (unsigned long long)h - 1);
            break;
        }
        atomic_store(&x->done, to);
    }
    ins_free(&q);
    sqlite3_finalize(carry);
    free(tx);
    return NULL;
}

int chainidx_start(node *n, char err[PLOW_ERR_LEN]) {
    chainidx *x = n->cidx;
    if (!x || !x->db) return 0;
    if (pthread_create(&x->th, NULL, cidx_main, n) != 0) return plow_error(err, "cannot start a thread");
    x->th_on = true;
    return 0;
}

void chainidx_join(node *n) {
    chainidx *x = n->cidx;
    if (x && x->th_on) pthread_join(x->th, NULL);
    if (x) x->th_on = false;
}

/* ---- queries (each with its own read-only connection) ------------------------------- */

static sqlite3 *reader(node *n, int *status, char err[PLOW_ERR_LEN]) {
    chainidx *x = n->cidx;
    sqlite3 *db = NULL;
    if (!x || !x->db) {
        *status = 503;
        plow_error(err, "this node has no explorer index (see its log)");
        return NULL;
    }
    if (sqlite3_open_v2(x->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "open");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 2000);
    return db;
}

uint64_t chainidx_height(node *n) { return n->cidx ? atomic_load(&n->cidx->done) : 0; }

static void add_blob_hash(cJSON *o, const char *k, sqlite3_stmt *s, int col) {
    if (sqlite3_column_type(s, col) == SQLITE_BLOB && sqlite3_column_bytes(s, col) == 32)
        json_add_hash(o, k, sqlite3_column_blob(s, col));
}

static void add_blob_addr(cJSON *o, const char *k, sqlite3_stmt *s, int col) {
    if (sqlite3_column_type(s, col) == SQLITE_BLOB && sqlite3_column_bytes(s, col) == 32)
        json_add_addr(o, k, sqlite3_column_blob(s, col));
}

static void add_num_or_null(cJSON *o, const char *k, sqlite3_stmt *s, int col) {
    if (sqlite3_column_type(s, col) == SQLITE_NULL) cJSON_AddNullToObject(o, k);
    else json_add_u64(o, k, (uint64_t)sqlite3_column_int64(s, col));
}

/* A transaction row (tx columns from col on: height, idx, hash, type, sender, ok, task, detail, time). */
static cJSON *tx_row(sqlite3_stmt *s, int col) {
    cJSON *e = cJSON_CreateObject();
    json_add_u64(e, "height", (uint64_t)sqlite3_column_int64(s, col));
    cJSON_AddNumberToObject(e, "index", (double)sqlite3_column_int64(s, col + 1));
    add_blob_hash(e, "hash", s, col + 2);
    cJSON_AddStringToObject(e, "type", (const char *)sqlite3_column_text(s, col + 3));
    add_blob_addr(e, "sender", s, col + 4);
    cJSON_AddStringToObject(e, "result", sqlite3_column_int(s, col + 5) ? "ok" : "failed");
    add_blob_hash(e, "task", s, col + 6);
    const char *d = (const char *)sqlite3_column_text(s, col + 7);
    cJSON *dj = d ? cJSON_Parse(d) : NULL;
    if (dj) {
        cJSON *c = dj->child;
        while (c) { /* the details beside the common fields */
            cJSON *next = c->next;
            cJSON_AddItemToObject(e, c->string, cJSON_DetachItemViaPointer(dj, c));
            c = next;
        }
        cJSON_Delete(dj);
    }
    if (sqlite3_column_type(s, col + 8) != SQLITE_NULL) json_add_u64(e, "time_ms", (uint64_t)sqlite3_column_int64(s, col + 8));
    return e;
}

int chainidx_history(node *n, const uint8_t pk[32], uint64_t before, uint32_t limit, cJSON **out, int *status,
                     char err[PLOW_ERR_LEN]) {
    *out = NULL;
    sqlite3 *db = reader(n, status, err);
    if (!db) return -1;
    sqlite3_stmt *s = NULL, *t = NULL;
    int rc = -1;
    cJSON *o = cJSON_CreateObject();
    json_add_addr(o, "address", pk);
    json_add_u64(o, "indexed_height", chainidx_height(n));
    cJSON *arr = cJSON_AddArrayToObject(o, "history");
    if (sqlite3_prepare_v2(db,
                           "SELECT a.height, a.balance, a.stake, a.locked, b.time_ms FROM acct_blk a"
                           " LEFT JOIN blk b ON b.height = a.height"
                           " WHERE a.addr = ?1 AND a.height < ?2 ORDER BY a.height DESC LIMIT ?3",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT t.height, t.idx, t.hash, t.type, t.sender, t.ok, t.task, t.detail, NULL, a.role"
                           " FROM acct_tx a JOIN tx t ON t.height = a.height AND t.idx = a.idx"
                           " WHERE a.addr = ?1 AND a.height = ?2 ORDER BY a.idx LIMIT 200",
                           -1, &t, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    sqlite3_bind_blob(s, 1, pk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, before > INT64_MAX ? INT64_MAX : (sqlite3_int64)before);
    sqlite3_bind_int64(s, 3, limit + 1);
    uint32_t got = 0;
    uint64_t last = 0;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == limit) {
            char c[24];
            cJSON_AddStringToObject(o, "next", u64s(c, last));
            break;
        }
        uint64_t h = (uint64_t)sqlite3_column_int64(s, 0);
        cJSON *e = cJSON_CreateObject();
        json_add_u64(e, "height", h);
        add_num_or_null(e, "time_ms", s, 4);
        add_num_or_null(e, "balance", s, 1);
        add_num_or_null(e, "stake", s, 2);
        add_num_or_null(e, "locked", s, 3);
        cJSON *txs = cJSON_AddArrayToObject(e, "txs");
        sqlite3_bind_blob(t, 1, pk, 32, SQLITE_STATIC);
        sqlite3_bind_int64(t, 2, (sqlite3_int64)h);
        while (sqlite3_step(t) == SQLITE_ROW) {
            cJSON *x = tx_row(t, 0);
            cJSON_AddStringToObject(x, "role", (const char *)sqlite3_column_text(t, 9));
            cJSON_AddItemToArray(txs, x);
        }
        sqlite3_reset(t);
        cJSON_AddItemToArray(arr, e);
        got++;
        last = h;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(t);
    sqlite3_close(db);
    if (rc == 0) *out = o;
    else cJSON_Delete(o);
    return rc;
}

int chainidx_timeline(node *n, const uint8_t task[32], cJSON **out, int *status, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    sqlite3 *db = reader(n, status, err);
    if (!db) return -1;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    cJSON *o = cJSON_CreateObject();
    json_add_hash(o, "task", task);
    json_add_u64(o, "indexed_height", chainidx_height(n));
    cJSON *arr = cJSON_AddArrayToObject(o, "events");
    /* a task has a bounded number of transactions (slots, challenges): 2000 is far beyond */
    if (sqlite3_prepare_v2(db,
                           "SELECT t.height, t.idx, t.hash, t.type, t.sender, t.ok, t.task, t.detail, b.time_ms"
                           " FROM task_ev e JOIN tx t ON t.height = e.height AND t.idx = e.idx"
                           " LEFT JOIN blk b ON b.height = e.height"
                           " WHERE e.task = ?1 ORDER BY e.height, e.idx LIMIT 2000",
                           -1, &s, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    sqlite3_bind_blob(s, 1, task, 32, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) cJSON_AddItemToArray(arr, tx_row(s, 0));
    if (r != SQLITE_DONE) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (rc == 0) *out = o;
    else cJSON_Delete(o);
    return rc;
}

int chainidx_agents(node *n, uint64_t cur_since, const uint8_t *cur_addr, uint32_t limit, cJSON **out, int *status,
                    char err[PLOW_ERR_LEN]) {
    *out = NULL;
    sqlite3 *db = reader(n, status, err);
    if (!db) return -1;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "agents");
    /* newest registration first: (since, addr) descending, the cursor the last one seen */
    if (sqlite3_prepare_v2(db,
                           cur_addr ? "SELECT addr, since, kind, name, caps FROM agent WHERE (since, addr) < (?1, ?2)"
                                      " ORDER BY since DESC, addr DESC LIMIT ?3"
                                    : "SELECT addr, since, kind, name, caps FROM agent"
                                      " ORDER BY since DESC, addr DESC LIMIT ?3",
                           -1, &s, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    if (cur_addr) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)cur_since);
        sqlite3_bind_blob(s, 2, cur_addr, 32, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 3, limit + 1);
    uint32_t got = 0;
    int r;
    uint64_t last_since = 0;
    uint8_t last_addr[32] = {0};
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (got == limit) {
            char c[24 + 65], hx[65];
            plow_hex(last_addr, 32, hx);
            snprintf(c, sizeof c, "%llu.%s", (unsigned long long)last_since, hx);
            cJSON_AddStringToObject(o, "next", c);
            break;
        }
        cJSON *e = cJSON_CreateObject();
        add_blob_addr(e, "address", s, 0);
        last_since = (uint64_t)sqlite3_column_int64(s, 1);
        if (sqlite3_column_bytes(s, 0) == 32) memcpy(last_addr, sqlite3_column_blob(s, 0), 32);
        json_add_u64(e, "since", last_since);
        cJSON_AddStringToObject(e, "profile", sqlite3_column_int(s, 2) == LEDGER_AGENT ? "agent" : "person");
        cJSON_AddStringToObject(e, "name", (const char *)sqlite3_column_text(s, 3));
        cJSON_AddStringToObject(e, "caps", (const char *)sqlite3_column_text(s, 4));
        cJSON_AddItemToArray(arr, e);
        got++;
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (rc == 0) *out = o;
    else cJSON_Delete(o);
    return rc;
}

/* The figures of the last minute of blocks (by block time, before the index's
 * last block), the stakes, the agents. */
int chainidx_stats(node *n, cJSON *o, int *status, char err[PLOW_ERR_LEN]) {
    sqlite3 *db = reader(n, status, err);
    if (!db) return -1;
    sqlite3_stmt *s = NULL;
    int rc = -1;
    json_add_u64(o, "indexed_height", chainidx_height(n));
    json_add_u64(o, "staked", meta_get(db, "staked"));
    json_add_u64(o, "locked", meta_get(db, "locked"));
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(sum(n_txs), 0), coalesce(sum(n_posts), 0), min(time_ms),"
                           " max(time_ms) FROM blk WHERE time_ms > (SELECT max(time_ms) FROM blk) - 60000",
                           -1, &s, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    if (sqlite3_step(s) == SQLITE_ROW) {
        int64_t blocks = sqlite3_column_int64(s, 0);
        int64_t span = sqlite3_column_int64(s, 4) - sqlite3_column_int64(s, 3);
        json_add_u64(o, "blocks_last_min", (uint64_t)blocks);
        json_add_u64(o, "txs_last_min", (uint64_t)sqlite3_column_int64(s, 1));
        json_add_u64(o, "tasks_last_min", (uint64_t)sqlite3_column_int64(s, 2));
        json_add_u64(o, "block_interval_ms", blocks > 1 ? (uint64_t)(span / (blocks - 1)) : 0);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM agent", -1, &s, NULL) != SQLITE_OK) {
        *status = 500;
        db_err(err, db, "query");
        goto out;
    }
    if (sqlite3_step(s) == SQLITE_ROW) json_add_u64(o, "registered", (uint64_t)sqlite3_column_int64(s, 0));
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

/* The height of the block whose hash is h (0: not indexed). */
uint64_t chainidx_block_by_hash(node *n, const uint8_t h[32]) {
    int status;
    char err[PLOW_ERR_LEN];
    sqlite3 *db = reader(n, &status, err);
    if (!db) return 0;
    sqlite3_stmt *s = NULL;
    uint64_t height = 0;
    if (sqlite3_prepare_v2(db, "SELECT height FROM blk WHERE hash = ?1", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) height = (uint64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return height;
}
