/*
 * test_store.c — the node's SQLite store and its blob store.
 *
 * Store: open/reopen, refusal of a database of another schema version,
 * another chain, or a file that is not SQLite (left untouched); mempool order
 * and removal; a block commit that fails midway leaves nothing behind; the
 * status of a transaction; the state's round trip through the database;
 * readers running while blocks commit. Blobs: round trips, a wrong claimed
 * hash, the size limit, aborted and concurrent uploads, crash leftovers.
 */
#include "../src/base/plow.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/node/node.h"
#include "test.h"

/* store.c's test hook: merges the recent transactions into the index now. */
int store_test_merge(store *st, char err[PLOW_ERR_LEN]);

/* ---- fixtures ---------------------------------------------------------------- */

static char *tpath(const char *name) {
    static int counter;
    char *p = plow_alloc(512);
    snprintf(p, 512, "%s/store_%d_%s", test_tmpdir(), counter++, name);
    return p;
}

static void chain_of(int n, uint8_t id[32]) {
    memset(id, 0, 32);
    id[0] = (uint8_t)n;
    id[31] = 0xc5;
}

static void key_of(int n, ledger_key *k) {
    uint8_t seed[32] = {0};
    plow_put_u32(seed, (uint32_t)n + 1);
    ledger_key_from_seed(k, seed);
}

/* A signed transfer from key `from` (nonce) to key `to`, encoded. */
static void transfer(int from, uint64_t nonce, int to, uint64_t amount, plow_buf *out, uint8_t hash[32]) {
    ledger_key kf, kt;
    key_of(from, &kf);
    key_of(to, &kt);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    tx.nonce = nonce;
    tx.fee = 1;
    memcpy(tx.u.transfer.to, kt.pk, 32);
    tx.u.transfer.amount = amount;
    uint8_t chain[32];
    chain_of(1, chain);
    ledger_tx_sign(&tx, &kf, chain);
    out->len = 0;
    ledger_tx_encode(&tx, out);
    if (hash) ledger_tx_hash(&tx, hash);
}

/* A block at `height` over encoded txs (results all OK unless given). */
static void make_block(ledger_block *b, uint64_t height, plow_buf *txs, uint32_t n, int8_t *results, char **errors) {
    memset(b, 0, sizeof *b);
    b->h.version = 1;
    b->h.height = height;
    b->h.time_ms = 1000 + height;
    b->h.prev[0] = (uint8_t)height;
    b->h.state_root[5] = (uint8_t)(height * 3);
    b->h.n_txs = n;
    ledger_block_hash(&b->h, b->hash);
    memset(b->sig, 0xab, sizeof b->sig);
    b->sig[0] = (uint8_t)height;
    b->n_txs = n;
    b->txs = txs;
    b->results = results;
    b->errors = errors;
}

static int64_t sql_count(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return n;
}

static int sql_exec(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open(db, &h) == SQLITE_OK) rc = sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(h);
    return rc;
}

typedef struct seen {
    int n, stop_after;
    uint64_t seq[64];
    size_t len[64];
    uint8_t first[64];
} seen;

static bool collect(uint64_t seq, const uint8_t *tx, size_t len, void *arg) {
    seen *s = arg;
    if (s->n < 64) {
        s->seq[s->n] = seq;
        s->len[s->n] = len;
        s->first[s->n] = len ? tx[len - 1] : 0;
    }
    s->n++;
    return s->stop_after == 0 || s->n < s->stop_after;
}

/* ---- store: open -------------------------------------------------------------- */

static void test_store_open(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    store *st = NULL;
    CHECKF(store_open(&st, p, chain, err) == 0, "%s", err);
    if (!st) goto out;
    uint64_t h = 99;
    CHECK(store_height(st, &h, err) == 0 && h == 0);
    CHECK(store_meta_put(st, "genesis", "hello", 5, err) == 0);
    CHECK(store_meta_put(st, "empty", "", 0, err) == 0);
    plow_buf b = {0};
    CHECK(store_meta_get(st, "nothing", &b, err) == -1 && strstr(err, "nothing"));
    store_close(st);
    st = NULL;
    CHECKF(store_open(&st, p, chain, err) == 0, "%s", err);
    if (!st) goto out;
    CHECK(store_meta_get(st, "genesis", &b, err) == 0 && b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    CHECK(store_meta_put(st, "genesis", "bye", 3, err) == 0);
    CHECK(store_meta_get(st, "genesis", &b, err) == 0 && b.len == 3 && memcmp(b.data, "bye", 3) == 0);
    CHECK(store_meta_get(st, "empty", &b, err) == 0 && b.len == 0);
    CHECK(store_meta_get(st, "chain_id", &b, err) == 0 && b.len == 32 && memcmp(b.data, chain, 32) == 0);
    CHECK(store_meta_put(st, "chain_id", "x", 1, err) == -1);
    plow_buf_release(&b);
    store_close(st);
    CHECK(sql_count(p, "PRAGMA user_version") == STORE_SCHEMA_VERSION);
    CHECK(sql_count(p, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
    /* a directory that does not exist */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/ledger.db", test_tmpdir());
    st = NULL;
    CHECK(store_open(&st, bad, chain, err) == -1 && st == NULL && strstr(err, "ledger.db"));
out:
    free(p);
}

static void test_store_refuses(void) {
    char err[PLOW_ERR_LEN];
    uint8_t chain[32], other[32];
    chain_of(1, chain);
    chain_of(2, other);
    store *st = NULL;

    /* another schema version */
    char *p = tpath("ledger.db");
    CHECK(store_open(&st, p, chain, err) == 0);
    store_close(st);
    CHECK(sql_exec(p, "PRAGMA user_version = 7") == 0);
    st = NULL;
    CHECK(store_open(&st, p, chain, err) == -1 && st == NULL);
    CHECKF(strstr(err, "has schema version 7, this plow expects 1") && strstr(err, p), "%s", err);
    free(p);

    /* another chain */
    p = tpath("ledger.db");
    CHECK(store_open(&st, p, chain, err) == 0);
    store_close(st);
    st = NULL;
    CHECK(store_open(&st, p, other, err) == -1 && st == NULL);
    CHECKF(strstr(err, "belongs to chain 0100") && strstr(err, "not 0200") && strstr(err, "use another --data"),
           "%s", err);
    CHECKF(store_open(&st, p, chain, err) == 0, "%s", err); /* still fine for its own chain */
    store_close(st);
    free(p);

    /* a file that is not SQLite: refused, untouched, no journal files */
    p = tpath("ledger.db");
    const char text[] = "this is not a database, it is a shopping list: eggs, flour, milk\n";
    CHECK(plow_write_file(p, text, sizeof text - 1, err) == 0);
    st = NULL;
    CHECK(store_open(&st, p, chain, err) == -1 && st == NULL);
    CHECKF(strstr(err, "not a plow ledger database"), "%s", err);
    uint8_t *back = NULL;
    size_t n = 0;
    CHECK(plow_read_file(p, 1 << 20, &back, &n, err) == 0 && n == sizeof text - 1 && memcmp(back, text, n) == 0);
    free(back);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", p);
    CHECK(!plow_file_exists(side));
    /* a file that starts like SQLite but is garbage after the magic */
    uint8_t junk[4096];
    memset(junk, 0x5a, sizeof junk);
    memcpy(junk, "SQLite format 3", 16);
    CHECK(plow_write_file(p, junk, sizeof junk, err) == 0);
    CHECK(store_open(&st, p, chain, err) == -1 && st == NULL);
    CHECK(plow_read_file(p, 1 << 20, &back, &n, err) == 0 && n == sizeof junk && memcmp(back, junk, n) == 0);
    free(back);
    free(p);

    /* an SQLite database of something else */
    p = tpath("ledger.db");
    CHECK(sql_exec(p, "CREATE TABLE recipes(name TEXT)") == 0);
    CHECK(store_open(&st, p, chain, err) == -1 && st == NULL);
    CHECKF(strstr(err, "not a plow ledger"), "%s", err);
    CHECK(sql_count(p, "SELECT count(*) FROM sqlite_master") == 1);
    free(p);

    /* a directory */
    p = tpath("dir.db");
    CHECK(plow_mkdir_p(p, err) == 0);
    CHECK(store_open(&st, p, chain, err) == -1 && st == NULL);
    free(p);
}

/* ---- store: mempool, blocks, status ----------------------------------------- */

static void test_store_mempool(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    store *st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    plow_buf txs[5] = {{0}};
    uint8_t hash[5][32];
    for (int i = 0; i < 5; i++) transfer(1, (uint64_t)i, 2, 10 + (uint64_t)i, &txs[i], hash[i]);
    CHECK(store_mempool_add(st, txs, 3, err) == 0);
    CHECK(store_mempool_add(st, txs + 3, 2, err) == 0);
    CHECK(store_mempool_add(st, txs, 0, err) == 0);
    seen s = {0};
    CHECK(store_mempool_each(st, collect, &s, err) == 0 && s.n == 5);
    for (int i = 0; i < 5 && s.n == 5; i++) {
        CHECK(s.len[i] == txs[i].len && s.first[i] == txs[i].data[txs[i].len - 1]);
        if (i) CHECK(s.seq[i] > s.seq[i - 1]);
    }
    seen stop = {.stop_after = 2};
    CHECK(store_mempool_each(st, collect, &stop, err) == 0 && stop.n == 2);
    store_tx_status ts;
    CHECK(store_tx_status_get(st, hash[4], &ts, err) == 0 && ts.where == 'p');

    /* an entry that cannot be a transaction (shorter than a signature)
     * refuses the whole batch */
    plow_buf bad[2] = {{0}};
    transfer(3, 0, 2, 1, &bad[0], NULL);
    plow_buf_append(&bad[1], "\x01\x02\x03", 3);
    CHECK(store_mempool_add(st, bad, 2, err) == -1);
    seen s2 = {0};
    CHECK(store_mempool_each(st, collect, &s2, err) == 0 && s2.n == 5);

    /* a block removes entries up to seq 3 (empty block: the node drops
     * nothing here, it just consumed them) */
    ledger_block b;
    make_block(&b, 1, NULL, 0, NULL, NULL);
    CHECKF(store_commit_block(st, &b, NULL, NULL, 0, s.seq[2], err) == 0, "%s", err);
    seen s3 = {0};
    CHECK(store_mempool_each(st, collect, &s3, err) == 0 && s3.n == 2);
    CHECK(s3.seq[0] == s.seq[3] && s3.seq[1] == s.seq[4]);
    /* all gone, then a new entry: its seq is larger than every earlier one */
    make_block(&b, 2, NULL, 0, NULL, NULL);
    CHECK(store_commit_block(st, &b, NULL, NULL, 0, s.seq[4], err) == 0);
    CHECK(store_mempool_add(st, txs, 1, err) == 0);
    seen s4 = {0};
    CHECK(store_mempool_each(st, collect, &s4, err) == 0 && s4.n == 1 && s4.seq[0] > s.seq[4]);
    store_close(st);
    /* durable: reopen and find it */
    st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    seen s5 = {0};
    if (st) CHECK(store_mempool_each(st, collect, &s5, err) == 0 && s5.n == 1 && s5.seq[0] == s4.seq[0]);
    store_close(st);
    for (int i = 0; i < 5; i++) plow_buf_release(&txs[i]);
    plow_buf_release(&bad[0]);
    plow_buf_release(&bad[1]);
out:
    free(p);
}

static void test_store_blocks(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    store *st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    plow_buf txs[6] = {{0}};
    uint8_t hash[6][32];
    for (int i = 0; i < 6; i++) transfer(4, (uint64_t)i, 5, 100, &txs[i], hash[i]);
    CHECK(store_mempool_add(st, txs, 6, err) == 0);
    seen s = {0};
    CHECK(store_mempool_each(st, collect, &s, err) == 0 && s.n == 6);

    /* block 1: tx 0 ok, tx 1 failed (with its reason); tx 2 dropped */
    int8_t res[2] = {LEDGER_TX_OK, LEDGER_TX_FAILED};
    char *errs[2] = {NULL, "balance 3 is less than 100"};
    ledger_block b;
    make_block(&b, 1, txs, 2, res, errs);
    store_dropped d;
    memset(&d, 0, sizeof d);
    memcpy(d.hash, hash[2], 32);
    snprintf(d.reason, sizeof d.reason, "nonce 2 already used");
    CHECKF(store_commit_block(st, &b, NULL, &d, 1, s.seq[2], err) == 0, "%s", err);

    uint64_t h = 0;
    CHECK(store_height(st, &h, err) == 0 && h == 1);
    store_tx_status ts;
    CHECK(store_tx_status_get(st, hash[0], &ts, err) == 0 && ts.where == 'b' && ts.height == 1 && ts.index == 0 &&
          ts.result == LEDGER_TX_OK && ts.error[0] == 0);
    CHECK(store_tx_status_get(st, hash[1], &ts, err) == 0 && ts.where == 'b' && ts.height == 1 && ts.index == 1 &&
          ts.result == LEDGER_TX_FAILED && strcmp(ts.error, errs[1]) == 0);
    CHECK(store_tx_status_get(st, hash[2], &ts, err) == 0 && ts.where == 'd' && strcmp(ts.error, d.reason) == 0);
    CHECK(store_tx_status_get(st, hash[3], &ts, err) == 0 && ts.where == 'p');
    uint8_t nobody[32] = {7};
    CHECK(store_tx_status_get(st, nobody, &ts, err) == 0 && ts.where == 0);

    ledger_block g;
    CHECKF(store_get_block(st, 1, &g, err) == 0, "%s", err);
    CHECK(g.h.height == 1 && g.h.time_ms == b.h.time_ms && g.h.n_txs == 2 && g.n_txs == 2);
    CHECK(memcmp(g.hash, b.hash, 32) == 0 && memcmp(g.sig, b.sig, LEDGER_SIG_LEN) == 0);
    CHECK(memcmp(g.h.state_root, b.h.state_root, 32) == 0 && memcmp(g.h.prev, b.h.prev, 32) == 0);
    for (uint32_t i = 0; i < g.n_txs && g.n_txs == 2; i++) {
        CHECK(g.txs[i].len == txs[i].len && memcmp(g.txs[i].data, txs[i].data, txs[i].len) == 0);
        CHECK(g.results[i] == res[i]);
    }
    if (g.n_txs == 2) CHECK(g.errors[0] == NULL && g.errors[1] && strcmp(g.errors[1], errs[1]) == 0);
    ledger_block_release(&g);
    ledger_block_release(&g); /* released twice: harmless */
    CHECK(store_get_block(st, 2, &g, err) == -1 && strstr(err, "no block at height 2"));
    CHECK(store_get_block(st, 0, &g, err) == -1);
    CHECK(store_get_block(st, UINT64_MAX, &g, err) == -1);

    /* refused before any write: a gap, a repeated height, a wrong hash, a count mismatch */
    make_block(&b, 3, txs + 3, 1, res, NULL);
    CHECK(store_commit_block(st, &b, NULL, NULL, 0, 0, err) == -1 && strstr(err, "does not follow"));
    make_block(&b, 1, txs + 3, 1, res, NULL);
    CHECK(store_commit_block(st, &b, NULL, NULL, 0, 0, err) == -1);
    make_block(&b, 2, txs + 3, 1, res, NULL);
    b.hash[0] ^= 1;
    CHECK(store_commit_block(st, &b, NULL, NULL, 0, 0, err) == -1 && strstr(err, "hash"));
    make_block(&b, 2, txs + 3, 1, res, NULL);
    b.n_txs = 2;
    CHECK(store_commit_block(st, &b, NULL, NULL, 0, 0, err) == -1);

    /* a dropped transaction sent again and included: included wins */
    make_block(&b, 2, txs + 2, 2, res, NULL);
    CHECKF(store_commit_block(st, &b, NULL, NULL, 0, s.seq[3], err) == 0, "%s", err);
    CHECK(store_tx_status_get(st, hash[2], &ts, err) == 0 && ts.where == 'b' && ts.height == 2 && ts.index == 0);
    CHECK(store_tx_status_get(st, hash[3], &ts, err) == 0 && ts.where == 'b' && ts.index == 1 && ts.error[0] == 0);
    store_close(st);

    /* damaged rows are errors, not crashes */
    static const char *const damage[] = {
        "UPDATE blocks SET txs = x'0500000001' WHERE height = 1",     /* a length past the end */
        "UPDATE blocks SET txs = txs || x'00' WHERE height = 1",      /* trailing bytes */
        "UPDATE blocks SET txs = x'' WHERE height = 1",               /* missing transactions */
        "UPDATE blocks SET header = x'0100' WHERE height = 1",        /* a short header */
        "UPDATE blocks SET results = x'00' WHERE height = 1",         /* results of the wrong count */
        "UPDATE blocks SET sig = x'00' WHERE height = 1",             /* a short signature */
        "UPDATE blocks SET height = 7 WHERE height = 1",              /* the header says another height */
    };
    char *copy = tpath("copy.db");
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        uint8_t *raw = NULL;
        size_t n = 0;
        CHECK(plow_read_file(p, 1 << 26, &raw, &n, err) == 0 && plow_write_file(copy, raw, n, err) == 0);
        free(raw);
        CHECKF(sql_exec(copy, damage[i]) == 0, "%s", damage[i]);
        st = NULL;
        /* a block past the transaction index is read at open */
        if (store_open(&st, copy, chain, err) != 0) {
            CHECKF(strstr(err, "damaged"), "%s: %s", damage[i], err);
            continue;
        }
        uint64_t at = strstr(damage[i], "height = 7 ") ? 7 : 1;
        CHECKF(store_get_block(st, at, &g, err) == -1 && strstr(err, "damaged"), "%s: %s", damage[i], err);
        CHECK(g.txs == NULL && g.n_txs == 0);
        CHECK(store_get_block(st, 2, &g, err) == 0);
        ledger_block_release(&g);
        store_close(st);
    }
    free(copy);
    for (int i = 0; i < 6; i++) plow_buf_release(&txs[i]);
out:
    free(p);
}

/* Dropped records do not pile up: each block's commit deletes those older
 * than the keep (store_set_dropped_keep; STORE_DROPPED_KEEP by default). */
static void test_store_dropped_prune(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    store *st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    store_set_dropped_keep(st, 3);
    uint8_t hash[8][32];
    for (uint64_t h = 1; h <= 8; h++) {
        store_dropped d;
        memset(&d, 0, sizeof d);
        memset(d.hash, (int)h, 32);
        memcpy(hash[h - 1], d.hash, 32);
        snprintf(d.reason, sizeof d.reason, "dropped in block %llu", (unsigned long long)h);
        ledger_block b;
        make_block(&b, h, NULL, 0, NULL, NULL);
        CHECKF(store_commit_block(st, &b, NULL, &d, 1, 0, err) == 0, "%s", err);
        /* after block h, the records of blocks h-2..h remain, nothing older */
        for (uint64_t k = 1; k <= h; k++) {
            store_tx_status ts;
            CHECK(store_tx_status_get(st, hash[k - 1], &ts, err) == 0);
            if (k + 3 > h) CHECKF(ts.where == 'd' && strstr(ts.error, "dropped in block"), "block %llu: record of %llu",
                                  (unsigned long long)h, (unsigned long long)k);
            else CHECKF(ts.where == 0, "block %llu: the record of block %llu was kept", (unsigned long long)h,
                        (unsigned long long)k);
        }
    }
    store_close(st);
    CHECK(sql_count(p, "SELECT count(*) FROM dropped") == 3);
    /* an existing database gets the height index at open */
    CHECK(sql_count(p, "SELECT count(*) FROM sqlite_master WHERE name = 'dropped_height'") == 1);
    CHECK(sql_exec(p, "DROP INDEX dropped_height") == 0);
    st = NULL;
    CHECKF(store_open(&st, p, chain, err) == 0, "%s", err);
    store_close(st);
    CHECK(sql_count(p, "SELECT count(*) FROM sqlite_master WHERE name = 'dropped_height'") == 1);
out:
    free(p);
}

/* ---- store: the transaction index ---------------------------------------------- */

typedef struct chain_fixture {
    plow_buf txs[30];
    uint8_t hash[30][32];
    int8_t res[30];
    char *errs[30];
} chain_fixture;

/* Blocks 1..n, three transactions each (the middle one failed). */
static int commit_blocks(store *st, chain_fixture *f, uint64_t from, uint64_t to, char err[PLOW_ERR_LEN]) {
    for (uint64_t h = from; h <= to; h++) {
        size_t k = 3 * (h - 1);
        ledger_block b;
        make_block(&b, h, f->txs + k, 3, f->res + k, f->errs + k);
        if (store_commit_block(st, &b, NULL, NULL, 0, 0, err) != 0) return -1;
    }
    return 0;
}

/* Every transaction of blocks 1..n has its place, result and message. */
static int check_found(store *st, chain_fixture *f, uint64_t n) {
    char err[PLOW_ERR_LEN];
    int bad = 0;
    for (size_t k = 0; k < 3 * n; k++) {
        store_tx_status ts;
        if (store_tx_status_get(st, f->hash[k], &ts, err) != 0 || ts.where != 'b' || ts.height != k / 3 + 1 ||
            ts.index != k % 3 || ts.result != f->res[k] || strcmp(ts.error, f->errs[k] ? f->errs[k] : "") != 0)
            bad++;
    }
    for (size_t k = 3 * n; k < 30; k++) {
        store_tx_status ts;
        if (store_tx_status_get(st, f->hash[k], &ts, err) != 0 || ts.where != 0) bad++;
    }
    return bad;
}

static void test_store_tx_index(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    chain_fixture *f = plow_calloc(1, sizeof *f);
    char msg[30][32];
    for (int k = 0; k < 30; k++) {
        transfer(20, (uint64_t)k, 21, 1, &f->txs[k], f->hash[k]);
        f->res[k] = k % 3 == 1 ? LEDGER_TX_FAILED : LEDGER_TX_OK;
        snprintf(msg[k], sizeof msg[k], "failure %d", k);
        f->errs[k] = k % 3 == 1 ? msg[k] : NULL;
    }
    store *st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    /* in the recent table only */
    CHECKF(commit_blocks(st, f, 1, 4, err) == 0, "%s", err);
    CHECK(check_found(st, f, 4) == 0);
    /* merged into the index */
    CHECKF(store_test_merge(st, err) == 0, "%s", err);
    CHECK(sql_count(p, "SELECT count(*) FROM txs") == 12);
    CHECK(check_found(st, f, 4) == 0);
    plow_buf v = {0};
    CHECK(store_meta_get(st, "tx_index_height", &v, err) == 0 && v.len == 8 && plow_get_u64(v.data) == 4);
    /* more blocks; a second merge drops the first batch from memory */
    CHECK(commit_blocks(st, f, 5, 6, err) == 0);
    CHECK(check_found(st, f, 6) == 0);
    CHECK(store_test_merge(st, err) == 0);
    CHECK(store_test_merge(st, err) == 0); /* nothing new: nothing done */
    CHECK(sql_count(p, "SELECT count(*) FROM txs") == 18);
    CHECK(check_found(st, f, 6) == 0);
    CHECK(commit_blocks(st, f, 7, 8, err) == 0);
    CHECK(check_found(st, f, 8) == 0);
    store_close(st);
    /* blocks 7 and 8 come back from their rows at open */
    st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    CHECK(check_found(st, f, 8) == 0);
    CHECK(store_test_merge(st, err) == 0);
    CHECK(sql_count(p, "SELECT count(*) FROM txs") == 24);
    CHECK(store_meta_get(st, "tx_index_height", &v, err) == 0 && v.len == 8 && plow_get_u64(v.data) == 8);
    store_close(st);
    /* an index lost entirely is rebuilt from the blocks */
    CHECK(sql_exec(p, "DELETE FROM txs; DELETE FROM meta WHERE k LIKE 'tx_index%'") == 0);
    st = NULL;
    CHECK(store_open(&st, p, chain, err) == 0);
    if (!st) goto out;
    CHECK(check_found(st, f, 8) == 0);
    CHECK(commit_blocks(st, f, 9, 10, err) == 0);
    CHECK(check_found(st, f, 10) == 0);
    store_close(st);
    plow_buf_release(&v);
out:
    for (int k = 0; k < 30; k++) plow_buf_release(&f->txs[k]);
    free(f);
    free(p);
}

/* ---- store: state --------------------------------------------------------------- */

#define N_ACCTS 8

/* A genesis with N_ACCTS funded keys (key_of(0..N-1)), operator key_of(100). */
static int make_genesis(ledger_genesis *g, int n_accounts, char err[PLOW_ERR_LEN]) {
    plow_buf j = {0};
    ledger_key op;
    key_of(100, &op);
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(op.pk, addr);
    plow_buf_printf(&j,
                    "{\"chain\": \"store-test\", \"time_ms\": \"1000\", \"operator\": \"%s\", \"params\": "
                    "{\"unbond_blocks\": \"5\", \"verdict_blocks\": \"5\", \"min_fee\": \"1\", "
                    "\"slash_challenger_pct\": 50, \"bond_accused_pct\": 50}, \"accounts\": [",
                    addr);
    for (int i = 0; i < n_accounts; i++) {
        ledger_key k;
        key_of(i, &k);
        ledger_addr_format(k.pk, addr);
        plow_buf_printf(&j, "%s{\"address\": \"%s\", \"balance\": \"1000000\", \"stake\": \"10\"}", i ? ", " : "",
                        addr);
    }
    plow_buf_printf(&j, "]}");
    int rc = ledger_genesis_parse(g, j.data, j.len, err);
    plow_buf_release(&j);
    return rc;
}

/* Applies transfers (key i -> key i + n_accounts, new accounts) as one block
 * and fills b (txs owned by the caller's array). */
static int apply_block(ledger_state *s, uint64_t height, int n_txs, int n_accounts, uint64_t nonce, plow_buf *txs,
                       int8_t *res, ledger_block *b, double *apply_s, char err[PLOW_ERR_LEN]) {
    const ledger_genesis *g = ledger_state_genesis(s);
    ledger_tx *tx = plow_calloc(n_txs ? (size_t)n_txs : 1, sizeof *tx);
    for (int i = 0; i < n_txs; i++) {
        ledger_key kf, kt;
        key_of(i % n_accounts, &kf);
        key_of(n_accounts + i, &kt);
        tx[i].type = LEDGER_TX_TRANSFER;
        tx[i].nonce = nonce + (uint64_t)(i / n_accounts);
        tx[i].fee = 1;
        memcpy(tx[i].u.transfer.to, kt.pk, 32);
        tx[i].u.transfer.amount = 5;
        ledger_tx_sign(&tx[i], &kf, g->chain_id);
        txs[i].len = 0;
        ledger_tx_encode(&tx[i], &txs[i]);
    }
    double t0 = plow_now();
    int rc = ledger_begin_block(s, height, 1000 + height * 500, err);
    for (int i = 0; i < n_txs && rc == 0; i++) {
        res[i] = (int8_t)ledger_apply_tx(s, &tx[i], true, err);
        if (res[i] != LEDGER_TX_OK) rc = -1;
    }
    free(tx);
    if (rc != 0) return -1;
    memset(b, 0, sizeof *b);
    b->h.version = 1;
    b->h.height = height;
    b->h.time_ms = 1000 + height * 500;
    b->h.n_txs = (uint32_t)n_txs;
    ledger_end_block(s, b->h.state_root);
    if (apply_s) *apply_s = plow_now() - t0;
    ledger_block_hash(&b->h, b->hash);
    b->n_txs = (uint32_t)n_txs;
    b->txs = txs;
    b->results = res;
    return 0;
}

static void test_store_state(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    ledger_genesis g;
    memset(&g, 0, sizeof g);
    CHECKF(make_genesis(&g, N_ACCTS, err) == 0, "%s", err);
    ledger_state *s = ledger_state_new(&g), *s2 = NULL;
    store *st = NULL;
    CHECK(store_open(&st, p, g.chain_id, err) == 0);
    if (!st || !s) goto out;
    /* the genesis records go in with block 1 (they are dirty from the start) */
    plow_buf txs[2 * N_ACCTS] = {{0}};
    int8_t res[2 * N_ACCTS];
    ledger_block b;
    CHECKF(apply_block(s, 1, N_ACCTS, N_ACCTS, 0, txs, res, &b, NULL, err) == 0, "%s", err);
    CHECKF(store_commit_block(st, &b, s, NULL, 0, 0, err) == 0, "%s", err);
    ledger_clear_dirty(s);
    CHECKF(apply_block(s, 2, 2 * N_ACCTS, N_ACCTS, 1, txs, res, &b, NULL, err) == 0, "%s", err);
    CHECKF(store_commit_block(st, &b, s, NULL, 0, 0, err) == 0, "%s", err);
    ledger_clear_dirty(s);
    uint8_t want[32], got[32];
    ledger_state_root(s, want);
    CHECK(memcmp(want, b.h.state_root, 32) == 0);

    s2 = ledger_state_new(&g);
    CHECKF(store_load_state(st, s2, err) == 0, "%s", err);
    ledger_state_root(s2, got);
    CHECK(memcmp(want, got, 32) == 0);
    CHECK(ledger_state_holdings(s2) == ledger_state_holdings(s));
    ledger_account a1, a2;
    ledger_key k;
    key_of(N_ACCTS + 12, &k); /* paid once, in block 2 */
    CHECK(ledger_get_account(s, k.pk, &a1) && ledger_get_account(s2, k.pk, &a2) && a1.balance == a2.balance &&
          a1.balance == 5);

    /* a commit that fails midway: a trigger refuses the dropped record,
     * written after the block, its transactions and the state records.
     * Nothing of it may be visible afterwards. */
    int64_t rows = sql_count(p, "SELECT count(*) FROM state");
    CHECK(rows > 0);
    plow_buf mp[3] = {{0}};
    uint8_t mh[3][32];
    for (int i = 0; i < 3; i++) transfer(50, (uint64_t)i, 51, 1, &mp[i], mh[i]);
    CHECK(store_mempool_add(st, mp, 3, err) == 0);
    seen sq = {0};
    CHECK(store_mempool_each(st, collect, &sq, err) == 0 && sq.n == 3);
    plow_buf b3[2] = {{0}};
    int8_t r3[2] = {0, 0};
    CHECKF(apply_block(s, 3, 2, 1, 3, b3, r3, &b, NULL, err) == 0, "%s", err); /* nonces 3 and 4 of key 0 */
    uint8_t h3[2][32];
    for (int i = 0; i < 2; i++) plow_sha256_once(b3[i].data, b3[i].len - LEDGER_SIG_LEN, h3[i]);
    store_dropped d;
    memset(&d, 0, sizeof d);
    memcpy(d.hash, mh[1], 32);
    snprintf(d.reason, sizeof d.reason, "boom");
    CHECK(sql_exec(p, "CREATE TRIGGER boom BEFORE INSERT ON dropped WHEN NEW.reason = 'boom' "
                      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END") == 0);
    CHECK(store_commit_block(st, &b, s, &d, 1, sq.seq[2], err) == -1);
    CHECKF(strstr(err, "injected failure"), "%s", err);
    uint64_t h = 0;
    CHECK(store_height(st, &h, err) == 0 && h == 2);
    ledger_block g3;
    CHECK(store_get_block(st, 3, &g3, err) == -1);
    CHECK(sql_count(p, "SELECT count(*) FROM state") == rows);
    CHECK(sql_count(p, "SELECT count(*) FROM dropped") == 0);
    seen sq2 = {0};
    CHECK(store_mempool_each(st, collect, &sq2, err) == 0 && sq2.n == 3);
    store_tx_status ts;
    CHECK(store_tx_status_get(st, mh[1], &ts, err) == 0 && ts.where == 'p');
    CHECK(store_tx_status_get(st, h3[0], &ts, err) == 0 && ts.where == 0); /* not in a block */
    /* the stored state is still block 2's */
    ledger_state *s3 = ledger_state_new(&g);
    CHECK(store_load_state(st, s3, err) == 0);
    ledger_state_root(s3, got);
    CHECK(memcmp(want, got, 32) == 0);
    ledger_state_free(s3);
    /* the same block goes in once the obstacle is gone */
    CHECK(sql_exec(p, "DROP TRIGGER boom") == 0);
    CHECKF(store_commit_block(st, &b, s, &d, 1, sq.seq[2], err) == 0, "%s", err);
    ledger_clear_dirty(s);
    CHECK(store_tx_status_get(st, h3[1], &ts, err) == 0 && ts.where == 'b' && ts.height == 3 && ts.index == 1);
    CHECK(store_tx_status_get(st, mh[1], &ts, err) == 0 && ts.where == 'd' && strcmp(ts.error, "boom") == 0);
    s3 = ledger_state_new(&g);
    CHECK(store_load_state(st, s3, err) == 0);
    ledger_state_root(s3, got);
    ledger_state_root(s, want);
    CHECK(memcmp(want, got, 32) == 0);
    ledger_state_free(s3);
    plow_buf_release(&b3[0]);
    plow_buf_release(&b3[1]);

    /* a damaged state record is an error, not a crash */
    store_close(st);
    st = NULL;
    CHECK(sql_exec(p, "INSERT INTO state(k, v) VALUES(x'61ff', x'00')") == 0);
    CHECK(store_open(&st, p, g.chain_id, err) == 0);
    s3 = ledger_state_new(&g);
    CHECK(store_load_state(st, s3, err) == -1 && strstr(err, "state record"));
    ledger_state_free(s3);
    for (int i = 0; i < 2 * N_ACCTS; i++) plow_buf_release(&txs[i]);
    for (int i = 0; i < 3; i++) plow_buf_release(&mp[i]);
out:
    store_close(st);
    ledger_state_free(s);
    ledger_state_free(s2);
    ledger_genesis_release(&g);
    free(p);
}

/* Information only: one block of 5,000 transfers to new accounts (10,000+
 * dirty records) through the state and into the database. */
static void test_store_commit_time(void) {
    enum { SENDERS = 5000, TXS = 5000 };
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    ledger_genesis g;
    memset(&g, 0, sizeof g);
    CHECKF(make_genesis(&g, SENDERS, err) == 0, "%s", err);
    ledger_state *s = ledger_state_new(&g);
    store *st = NULL;
    CHECK(store_open(&st, p, g.chain_id, err) == 0);
    plow_buf *txs = plow_calloc(TXS, sizeof *txs);
    int8_t *res = plow_calloc(TXS, 1);
    ledger_block b;
    if (!st || !s) goto out;
    CHECKF(apply_block(s, 1, 0, 1, 0, txs, res, &b, NULL, err) == 0, "%s", err);
    CHECK(store_commit_block(st, &b, s, NULL, 0, 0, err) == 0); /* the genesis records */
    ledger_clear_dirty(s);
    for (uint64_t height = 2; height <= 3; height++) {
        double dt_apply = 0;
        CHECKF(apply_block(s, height, TXS, SENDERS, height - 2, txs, res, &b, &dt_apply, err) == 0, "%s", err);
        double t1 = plow_now();
        CHECKF(store_commit_block(st, &b, s, NULL, 0, 0, err) == 0, "%s", err);
        double t2 = plow_now();
        ledger_clear_dirty(s);
        printf("    block %llu: %d transfers: state %.1f ms, commit %.1f ms (%lld state rows)\n",
               (unsigned long long)height, TXS, dt_apply * 1e3, (t2 - t1) * 1e3,
               (long long)sql_count(p, "SELECT count(*) FROM state"));
    }
out:
    for (int i = 0; i < TXS; i++) plow_buf_release(&txs[i]);
    free(txs);
    free(res);
    store_close(st);
    ledger_state_free(s);
    ledger_genesis_release(&g);
    free(p);
}

/* ---- store: threads ------------------------------------------------------------ */

typedef struct race {
    store *st;
    int stop;   /* atomic */
    int errors; /* atomic */
    char first[PLOW_ERR_LEN + 128]; /* what the first error was (the thread that counted it writes it) */
    uint8_t hashes[64][32]; /* txs of the committed blocks */
    plow_buf adds[8];
} race;

/* Counts an error; the first one keeps its message. */
static void race_error(race *r, const char *fmt, ...) PLOW_PRINTF(2, 3);
static void race_error(race *r, const char *fmt, ...) {
    if (__atomic_add_fetch(&r->errors, 1, __ATOMIC_ACQ_REL) != 1) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof r->first, fmt, ap);
    va_end(ap);
}

static void *race_reader(void *arg) {
    race *r = arg;
    char err[PLOW_ERR_LEN] = "";
    uint64_t last = 0;
    long i = 0;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        uint64_t h = 0;
        if (store_height(r->st, &h, err) != 0) race_error(r, "store_height: %s", err);
        else if (h < last) race_error(r, "the height went back from %llu to %llu", (unsigned long long)last,
                                      (unsigned long long)h);
        last = h;
        if (h > 0) {
            ledger_block b = {0};
            if (store_get_block(r->st, h, &b, err) != 0)
                race_error(r, "block %llu: %s", (unsigned long long)h, err);
            else if (b.h.height != h || b.n_txs != 2)
                race_error(r, "block %llu read as height %llu with %u txs", (unsigned long long)h,
                           (unsigned long long)b.h.height, b.n_txs);
            ledger_block_release(&b);
        }
        store_tx_status ts;
        uint64_t k = (uint64_t)i % 64;
        if (store_tx_status_get(r->st, r->hashes[k], &ts, err) != 0)
            race_error(r, "tx %llu: %s", (unsigned long long)k, err);
        else if (ts.where == 'b' && ts.height != k / 2 + 1)
            race_error(r, "tx %llu found in block %llu, not %llu", (unsigned long long)k,
                       (unsigned long long)ts.height, (unsigned long long)(k / 2 + 1));
        /* a transaction of a block already seen must be found in it, while
         * merges into the index come and go */
        if (h > 0) {
            uint64_t j = (uint64_t)i % (2 * h);
            if (store_tx_status_get(r->st, r->hashes[j], &ts, err) != 0)
                race_error(r, "tx %llu: %s", (unsigned long long)j, err);
            else if (ts.where != 'b' || ts.height != j / 2 + 1 || ts.index != j % 2)
                race_error(r, "tx %llu of block %llu (height %llu seen) is '%c' at %llu/%u", (unsigned long long)j,
                           (unsigned long long)(j / 2 + 1), (unsigned long long)h, ts.where ? ts.where : '?',
                           (unsigned long long)ts.height, ts.index);
        }
        seen s = {.stop_after = 3};
        if (store_mempool_each(r->st, collect, &s, err) != 0) race_error(r, "mempool: %s", err);
        i++;
    }
    return NULL;
}

static void *race_adder(void *arg) {
    race *r = arg;
    char err[PLOW_ERR_LEN] = "";
    for (int i = 0; i < 40; i++) {
        if (store_mempool_add(r->st, r->adds, 8, err) != 0) race_error(r, "mempool add %d: %s", i, err);
        if (i % 4 == 0 && store_test_merge(r->st, err) != 0) race_error(r, "merge %d: %s", i, err);
    }
    return NULL;
}

static void test_store_threads(void) {
    char err[PLOW_ERR_LEN];
    char *p = tpath("ledger.db");
    uint8_t chain[32];
    chain_of(1, chain);
    race *r = plow_calloc(1, sizeof *r);
    CHECK(store_open(&r->st, p, chain, err) == 0);
    if (!r->st) goto out;
    plow_buf txs[64] = {{0}};
    for (int i = 0; i < 64; i++) transfer(7, (uint64_t)i, 8, 1, &txs[i], r->hashes[i]);
    for (int i = 0; i < 8; i++) transfer(9, (uint64_t)i, 8, 1, &r->adds[i], NULL);
    pthread_t th[3];
    pthread_create(&th[0], NULL, race_reader, r);
    pthread_create(&th[1], NULL, race_reader, r);
    pthread_create(&th[2], NULL, race_adder, r);
    int8_t res[2] = {0, 0};
    for (uint64_t h = 1; h <= 32; h++) {
        ledger_block b;
        make_block(&b, h, txs + 2 * (h - 1), 2, res, NULL);
        if (store_commit_block(r->st, &b, NULL, NULL, 0, h * 4, err) != 0)
            race_error(r, "commit block %llu: %s", (unsigned long long)h, err);
    }
    pthread_join(th[2], NULL);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    CHECKF(r->errors == 0, "%d errors, the first: %s", r->errors, r->first);
    uint64_t h = 0;
    CHECK(store_height(r->st, &h, err) == 0 && h == 32);
    seen s = {0};
    CHECK(store_mempool_each(r->st, collect, &s, err) == 0 && s.n > 0 && s.n <= 320);
    store_close(r->st);
    for (int i = 0; i < 64; i++) plow_buf_release(&txs[i]);
    for (int i = 0; i < 8; i++) plow_buf_release(&r->adds[i]);
out:
    free(r);
    free(p);
}

/* ---- blobs ------------------------------------------------------------------------ */

static int count_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *blob_tmpdir(const char *root) {
    size_t n = strlen(root) + 5;
    char *t = plow_alloc(n);
    snprintf(t, n, "%s/tmp", root);
    return t;
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static void test_blob_roundtrip(void) {
    char err[PLOW_ERR_LEN];
    char *dir = tpath("data");
    char bdir[600];
    snprintf(bdir, sizeof bdir, "%s/blobs", dir);
    blob_store *bs = NULL;
    CHECKF(blob_store_open(&bs, bdir, 0, err) == 0, "%s", err);
    if (!bs) goto out;
    size_t n = 3 * (1u << 20) + 17; /* more than one I/O chunk */
    uint8_t *data = plow_alloc(n);
    fill(data, n, 1);
    uint8_t h[32], want[32];
    plow_sha256_once(data, n, want);
    CHECK(!blob_has(bs, want) && blob_path(bs, want) == NULL);
    CHECKF(blob_put(bs, data, n, h, err) == 0, "%s", err);
    CHECK(memcmp(h, want, 32) == 0 && blob_has(bs, want));
    char *path = blob_path(bs, want);
    char hex[65];
    plow_hex(want, 32, hex);
    char expect[700];
    snprintf(expect, sizeof expect, "%s/%.2s/%s", bdir, hex, hex);
    CHECK(path && strcmp(path, expect) == 0);
    free(path);
    uint8_t *back = NULL;
    size_t m = 0;
    CHECK(blob_get(bs, want, &back, &m, err) == 0 && m == n && memcmp(back, data, n) == 0);
    free(back);

    /* out to a file and back in through put_file */
    char out[600];
    snprintf(out, sizeof out, "%s/copy.bin", dir);
    CHECKF(blob_get_file(bs, want, out, err) == 0, "%s", err);
    CHECK(plow_read_file(out, n + 1, &back, &m, err) == 0 && m == n && memcmp(back, data, n) == 0);
    free(back);
    CHECK(count_dir(dir) == 2); /* blobs/ and copy.bin: no temporary left */
    uint8_t h2[32];
    CHECK(blob_put_file(bs, out, h2, err) == 0 && memcmp(h2, want, 32) == 0);

    /* streamed in pieces against a claimed hash */
    uint8_t small[1000];
    fill(small, sizeof small, 2);
    plow_sha256_once(small, sizeof small, want);
    blob_writer *w = NULL;
    CHECK(blob_write_begin(bs, want, &w, err) == 0);
    for (size_t off = 0; w && off < sizeof small; off += 100) CHECK(blob_write(w, small + off, 100, err) == 0);
    CHECK(blob_write(w, small, 0, err) == 0);
    CHECKF(blob_write_finish(w, err) == 0, "%s", err);
    CHECK(blob_get(bs, want, &back, &m, err) == 0 && m == sizeof small && memcmp(back, small, m) == 0);
    free(back);

    /* the empty blob */
    CHECK(blob_put(bs, "", 0, h, err) == 0);
    CHECK(blob_get(bs, h, &back, &m, err) == 0 && m == 0);
    free(back);
    CHECK(blob_put_file(bs, "/nonexistent/file", h, err) == -1 && strstr(err, "/nonexistent/file"));
    char *tmp = blob_tmpdir(bdir);
    CHECK(count_dir(tmp) == 0);
    free(tmp);
    free(data);
    blob_store_close(bs);
out:
    free(dir);
}

static void test_blob_refuses(void) {
    char err[PLOW_ERR_LEN];
    char *dir = tpath("data");
    char bdir[600];
    snprintf(bdir, sizeof bdir, "%s/blobs", dir);
    char *tmp = blob_tmpdir(bdir);
    blob_store *bs = NULL;
    CHECK(blob_store_open(&bs, bdir, 1000, err) == 0);
    if (!bs) goto out;
    uint8_t data[1001], claimed[32], real[32];
    fill(data, sizeof data, 3);
    plow_sha256_once(data, 500, real);
    memset(claimed, 0x11, 32);

    /* wrong claimed hash: refused, nothing stored under either hash */
    blob_writer *w = NULL;
    CHECK(blob_write_begin(bs, claimed, &w, err) == 0);
    CHECK(blob_write(w, data, 500, err) == 0);
    CHECK(blob_write_finish(w, err) == -1);
    char hex[65];
    plow_hex(real, 32, hex);
    CHECKF(strstr(err, "blob does not hash to 1111") && strstr(err, hex), "%s", err);
    CHECK(!blob_has(bs, claimed) && !blob_has(bs, real));
    CHECK(count_dir(tmp) == 0);

    /* the size limit: in one piece, and streamed */
    uint8_t h[32];
    CHECK(blob_put(bs, data, 1001, h, err) == -1 && strstr(err, "limit of 1000 bytes"));
    plow_sha256_once(data, 1001, h);
    CHECK(blob_write_begin(bs, h, &w, err) == 0);
    CHECK(blob_write(w, data, 600, err) == 0);
    CHECK(blob_write(w, data + 600, 401, err) == -1 && strstr(err, "limit of 1000 bytes"));
    CHECK(blob_write(w, data + 600, 1, err) == -1);
    CHECK(blob_write_finish(w, err) == -1);
    CHECK(!blob_has(bs, h) && count_dir(tmp) == 0);
    CHECK(blob_put(bs, data, 1000, h, err) == 0); /* exactly the limit */
    char big[600];
    snprintf(big, sizeof big, "%s/big.bin", dir);
    CHECK(plow_write_file(big, data, 1001, err) == 0);
    CHECK(blob_put_file(bs, big, h, err) == -1 && strstr(err, "limit"));
    CHECK(count_dir(tmp) == 0);

    /* a truncated upload, aborted: nothing left */
    plow_sha256_once(data, 800, h);
    CHECK(blob_write_begin(bs, h, &w, err) == 0);
    CHECK(blob_write(w, data, 300, err) == 0);
    CHECK(count_dir(tmp) == 1);
    blob_write_abort(w);
    blob_write_abort(NULL);
    CHECK(!blob_has(bs, h) && count_dir(tmp) == 0);
    /* a truncated upload, finished: the hash does not match */
    CHECK(blob_write_begin(bs, h, &w, err) == 0);
    CHECK(blob_write(w, data, 799, err) == 0);
    CHECK(blob_write_finish(w, err) == -1 && strstr(err, "does not hash"));
    CHECK(!blob_has(bs, h) && count_dir(tmp) == 0);

    /* missing blobs: clear errors, no output file */
    uint8_t *back = NULL;
    size_t m = 0;
    plow_hex(h, 32, hex);
    CHECK(blob_get(bs, h, &back, &m, err) == -1 && back == NULL && strstr(err, "no blob") && strstr(err, hex));
    char out[600];
    snprintf(out, sizeof out, "%s/out.bin", dir);
    CHECK(blob_get_file(bs, h, out, err) == -1 && strstr(err, "no blob") && !plow_file_exists(out));

    /* a blob damaged on disk is reported, never served */
    CHECK(blob_put(bs, data, 200, h, err) == 0);
    char *path = blob_path(bs, h);
    CHECK(path && plow_write_file(path, data, 199, err) == 0);
    free(path);
    CHECK(blob_get(bs, h, &back, &m, err) == -1 && back == NULL && strstr(err, "damaged"));
    /* and removed once found: a good upload puts it back */
    CHECK(!blob_has(bs, h) && blob_get_file(bs, h, out, err) == -1 && strstr(err, "no blob") && !plow_file_exists(out));
    CHECK(blob_put(bs, data, 200, h, err) == 0);
    path = blob_path(bs, h);
    CHECK(path && plow_write_file(path, data, 199, err) == 0);
    free(path);
    CHECK(blob_get_file(bs, h, out, err) == -1 && strstr(err, "damaged") && !plow_file_exists(out) && !blob_has(bs, h));
    CHECK(count_dir(dir) == 2); /* blobs/, big.bin */
    blob_store_close(bs);
out:
    free(tmp);
    free(dir);
}

typedef struct upload {
    blob_store *bs;
    const uint8_t *data;
    size_t n;
    uint8_t want[32];
    int ok;
} upload;

static void *upload_thread(void *arg) {
    upload *u = arg;
    char err[PLOW_ERR_LEN];
    for (int i = 0; i < 20; i++) {
        blob_writer *w = NULL;
        if (blob_write_begin(u->bs, u->want, &w, err) != 0) continue;
        int bad = 0;
        for (size_t off = 0; off < u->n; off += 4096) {
            size_t c = u->n - off < 4096 ? u->n - off : 4096;
            bad |= blob_write(w, u->data + off, c, err);
        }
        if (!bad && blob_write_finish(w, err) == 0) u->ok++;
        else if (bad) blob_write_abort(w);
    }
    return NULL;
}

static void test_blob_concurrent(void) {
    char err[PLOW_ERR_LEN];
    char *dir = tpath("data");
    char bdir[600];
    snprintf(bdir, sizeof bdir, "%s/blobs", dir);
    char *tmp = blob_tmpdir(bdir);
    blob_store *bs = NULL;
    CHECK(blob_store_open(&bs, bdir, 0, err) == 0);
    if (!bs) goto out;
    size_t n = 100000;
    uint8_t *data = plow_alloc(n);
    fill(data, n, 4);
    upload u[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        u[i] = (upload){bs, data, n, {0}, 0};
        plow_sha256_once(data, n, u[i].want);
        pthread_create(&th[i], NULL, upload_thread, &u[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK(u[0].ok == 20 && u[1].ok == 20 && u[2].ok == 20);
    uint8_t *back = NULL;
    size_t m = 0;
    CHECK(blob_get(bs, u[0].want, &back, &m, err) == 0 && m == n && memcmp(back, data, n) == 0);
    free(back);
    /* and the same blob twice through put */
    uint8_t h[32];
    CHECK(blob_put(bs, data, n, h, err) == 0 && memcmp(h, u[0].want, 32) == 0);
    CHECK(blob_put(bs, data, n, h, err) == 0);
    char shard[700], hex[65];
    plow_hex(h, 32, hex);
    snprintf(shard, sizeof shard, "%s/%.2s", bdir, hex);
    CHECK(count_dir(shard) == 1 && count_dir(tmp) == 0);
    free(data);
    blob_store_close(bs);
out:
    free(tmp);
    free(dir);
}

static void test_blob_stale(void) {
    char err[PLOW_ERR_LEN];
    char *dir = tpath("data");
    char bdir[600];
    snprintf(bdir, sizeof bdir, "%s/blobs", dir);
    char *tmp = blob_tmpdir(bdir);
    blob_store *bs = NULL;
    CHECK(blob_store_open(&bs, bdir, 0, err) == 0);
    blob_store_close(bs);
    /* a crash mid-upload leaves .part files */
    char f[700];
    snprintf(f, sizeof f, "%s/abc123.part", tmp);
    CHECK(plow_write_file(f, "half a blob", 11, err) == 0);
    snprintf(f, sizeof f, "%s/def456.part", tmp);
    CHECK(plow_write_file(f, "", 0, err) == 0);
    snprintf(f, sizeof f, "%s/notes.txt", tmp);
    CHECK(plow_write_file(f, "kept", 4, err) == 0);
    CHECK(count_dir(tmp) == 3);
    bs = NULL;
    CHECK(blob_store_open(&bs, bdir, 0, err) == 0);
    CHECK(count_dir(tmp) == 1 && plow_file_exists(f));
    blob_store_close(bs);
    /* a data directory that is a file */
    snprintf(f, sizeof f, "%s/afile", dir);
    CHECK(plow_write_file(f, "x", 1, err) == 0);
    bs = NULL;
    CHECK(blob_store_open(&bs, f, 0, err) == -1 && bs == NULL);
    free(tmp);
    free(dir);
}

/* The blob index (issue 10, finding 7): uploads charged to their owner,
 * collection of the unreferenced, damage found and removed, repair by a good
 * upload, and the index rebuilt from the files at open. */
static bool ref_none(const uint8_t hash[32], void *arg) {
    (void)hash;
    (void)arg;
    return false;
}
static bool ref_all(const uint8_t hash[32], void *arg) {
    (void)hash;
    (void)arg;
    return true;
}

static void flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
}

static void test_blob_index(void) {
    char err[PLOW_ERR_LEN];
    char *dir = tpath("bidx");
    blob_store *bs = NULL;
    CHECKF(blob_store_open(&bs, dir, 0, err) == 0, "%s", err);
    if (!bs) goto out;
    uint8_t owner[32], other[32];
    memset(owner, 0x11, 32);
    memset(other, 0x22, 32);
    uint8_t a[5000], b[3000], ha[32], hb[32];
    fill(a, sizeof a, 3);
    fill(b, sizeof b, 4);
    plow_sha256_once(a, sizeof a, ha);
    plow_sha256_once(b, sizeof b, hb);
    blob_writer *w;
    CHECK(blob_write_begin(bs, ha, &w, err) == 0);
    blob_writer_set_owner(w, owner);
    CHECK(blob_write(w, a, sizeof a, err) == 0 && blob_write_finish(w, err) == 0);
    CHECK(blob_write_begin(bs, hb, &w, err) == 0);
    blob_writer_set_owner(w, owner);
    CHECK(blob_write(w, b, sizeof b, err) == 0 && blob_write_finish(w, err) == 0);
    CHECK(blob_usage(bs, owner) == sizeof a + sizeof b && blob_usage(bs, other) == 0);
    /* the same bytes again, by another: nobody charged twice */
    CHECK(blob_write_begin(bs, ha, &w, err) == 0);
    blob_writer_set_owner(w, other);
    CHECK(blob_write(w, a, sizeof a, err) == 0 && blob_write_finish(w, err) == 0);
    CHECK(blob_usage(bs, owner) == sizeof a + sizeof b && blob_usage(bs, other) == 0);
    size_t count;
    uint64_t bytes;
    blob_totals(bs, &count, &bytes);
    CHECK(count == 2 && bytes == sizeof a + sizeof b);

    /* collection: referenced stays; retention not passed stays; else it goes */
    size_t removed;
    CHECK(blob_collect(bs, ref_all, NULL, 0, &removed, &bytes) == 0 && removed == 0);
    CHECK(blob_collect(bs, ref_none, NULL, 3600 * 1000, &removed, &bytes) == 0 && removed == 0);
    CHECK(blob_has(bs, ha) && blob_has(bs, hb));

    /* damage found when served: removed, charged no more */
    char *pa = blob_path(bs, ha);
    CHECK(pa != NULL);
    if (pa) flip_byte(pa, 100);
    int fd;
    uint64_t size;
    bool damaged;
    CHECK(blob_open_checked(bs, ha, &fd, &size, &damaged, err) == -1 && damaged && strstr(err, "damaged"));
    CHECK(!blob_has(bs, ha) && blob_usage(bs, owner) == sizeof b);
    free(pa);
    /* a good upload repairs it */
    uint8_t h[32];
    CHECK(blob_put(bs, a, sizeof a, h, err) == 0 && memcmp(h, ha, 32) == 0);
    CHECK(blob_open_checked(bs, ha, &fd, &size, &damaged, err) == 0 && size == sizeof a);
    if (fd >= 0) close(fd);
    /* damage not yet found (same size): a re-upload still replaces it */
    char *pb = blob_path(bs, hb);
    if (pb) flip_byte(pb, 7);
    CHECK(blob_put(bs, b, sizeof b, h, err) == 0);
    uint8_t *back = NULL;
    size_t m = 0;
    CHECKF(blob_get(bs, hb, &back, &m, err) == 0 && m == sizeof b && memcmp(back, b, m) == 0, "%s", err);
    free(back);
    /* the scrub finds what nobody read */
    if (pb) flip_byte(pb, 9);
    size_t checked, bad;
    CHECK(blob_scrub(bs, &checked, &bad, err) == 0 && checked == 2 && bad == 1 && !blob_has(bs, hb));
    free(pb);
    blob_store_close(bs);

    /* reopened: the index is rebuilt from the files, the owner kept */
    bs = NULL;
    CHECKF(blob_store_open(&bs, dir, 0, err) == 0, "%s", err);
    if (!bs) goto out;
    CHECK(blob_has(bs, ha) && !blob_has(bs, hb));
    CHECK(blob_usage(bs, owner) == 0); /* a was re-put by nobody after its repair */
    CHECK(blob_write_begin(bs, hb, &w, err) == 0);
    blob_writer_set_owner(w, other);
    CHECK(blob_write(w, b, sizeof b, err) == 0 && blob_write_finish(w, err) == 0);
    blob_store_close(bs);
    bs = NULL;
    CHECKF(blob_store_open(&bs, dir, 0, err) == 0, "%s", err);
    if (!bs) goto out;
    CHECK(blob_usage(bs, other) == sizeof b);
    /* at open every blob counts as referenced now: retention 0 removes, the next pass */
    CHECK(blob_collect(bs, ref_none, NULL, 0, &removed, &bytes) == 0 && removed == 2 && bytes == sizeof a + sizeof b);
    CHECK(!blob_has(bs, ha) && !blob_has(bs, hb) && blob_usage(bs, other) == 0);
    blob_store_close(bs);
out:
    free(dir);
}

const test_case store_tests[] = {
    {"store_open", test_store_open},
    {"store_refuses", test_store_refuses},
    {"store_mempool", test_store_mempool},
    {"store_blocks", test_store_blocks},
    {"store_dropped_prune", test_store_dropped_prune},
    {"store_tx_index", test_store_tx_index},
    {"store_state", test_store_state},
    {"store_commit_time", test_store_commit_time},
    {"store_threads", test_store_threads},
    {"blob_roundtrip", test_blob_roundtrip},
    {"blob_refuses", test_blob_refuses},
    {"blob_concurrent", test_blob_concurrent},
    {"blob_stale", test_blob_stale},
    {"blob_index", test_blob_index},
    {NULL, NULL},
};
