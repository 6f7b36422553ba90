/*
 * node.h — the embedded ledger node: storage, blobs, the sequencer, the HTTP
 * API and the follower.
 *
 *   store   SQLite (WAL, synchronous=FULL): blocks, transactions and their
 *           results, the mempool, the state records, meta. Schema version in
 *           PRAGMA user_version. A block, its transactions, the state records
 *           it changed and the removal of its mempool entries commit in ONE
 *           SQLite transaction, so a node killed at any moment restarts at
 *           the last whole block with its mempool intact.
 *   blob    a content-addressed store on disk: DIR/blobs/ab/<64 hex>; a blob
 *           is written to a temporary file while its SHA-256 is computed,
 *           fsynced, and renamed into place only if the hash is the one it
 *           claimed.
 *   node    the process: admission (decode, signature, nonce, fee) into the
 *           mempool with group commit (an acknowledged transaction is on
 *           disk), a block every interval, the referee (verdicts for open
 *           challenges through src/job), the follower (--follow URL).
 *   http    libmicrohttpd: the JSON API of docs/api.md, blobs streamed, SSE
 *           (records written with the codec of src/client/client.h).
 *
 * The other side of the API, the HTTP client the CLI and agents use, is its
 * own module below this one (src/client/client.h): an agent never includes
 * the server to talk to it.
 */
#ifndef PLOW_NODE_H
#define PLOW_NODE_H

#include "../base/plow.h"

#include "../ledger/ledger.h"

/* ---- store ------------------------------------------------------------------ */

#define STORE_SCHEMA_VERSION 1

typedef struct store store;

/* Opens (creating) DIR/ledger.db. A database of another schema version, or
 * of another chain (meta 'chain_id'), is refused with a clear error. */
int store_open(store **out, const char *path, const uint8_t chain_id[32], char err[PLOW_ERR_LEN]);
void store_close(store *st);

/* Meta key/value (genesis bytes, operator, ...). */
int store_meta_put(store *st, const char *key, const void *val, size_t n, char err[PLOW_ERR_LEN]);
int store_meta_get(store *st, const char *key, plow_buf *out, char err[PLOW_ERR_LEN]); /* -1 if absent */

/* Mempool: appended durably (one fsync per batch: group commit). Each entry
 * gets a sequence number; entries come back in that order. */
int store_mempool_add(store *st, const plow_buf *txs, size_t n, char err[PLOW_ERR_LEN]);
/* Visits every pending entry in order; fn returns false to stop. */
int store_mempool_each(store *st, bool (*fn)(uint64_t seq, const uint8_t *tx, size_t len, void *arg), void *arg,
                       char err[PLOW_ERR_LEN]);

/* Commits a block atomically: the header and signature, its transactions
 * with results, the dirty state records of s (ledger_each_dirty), a record
 * per dropped transaction (hash + reason, so a client learns why), the
 * deletion of the dropped records older than the keep, and the deletion of
 * the mempool entries up to and including seq `mempool_upto`. */
typedef struct store_dropped {
    uint8_t hash[32];
    char reason[PLOW_ERR_LEN];
} store_dropped;
int store_commit_block(store *st, const ledger_block *b, ledger_state *s, const store_dropped *dropped, size_t n_dropped,
                       uint64_t mempool_upto, char err[PLOW_ERR_LEN]);
/* A dropped record is kept this many blocks (then GET /v1/tx answers 404):
 * the table stays bounded however many transactions are dropped. */
#define STORE_DROPPED_KEEP 1000
void store_set_dropped_keep(store *st, uint64_t blocks); /* tests; 0 means 1 */

/* The last committed height (0 if none). */
int store_height(store *st, uint64_t *height, char err[PLOW_ERR_LEN]);
int store_get_block(store *st, uint64_t height, ledger_block *out, char err[PLOW_ERR_LEN]); /* -1 if absent */
/* Loads every state record into s (a fresh state from the same genesis). */
int store_load_state(store *st, ledger_state *s, char err[PLOW_ERR_LEN]);

/* Where a transaction is: 'p' pending (in the mempool), 'b' in a block
 * (height, index, result, error), 'd' dropped (reason), 0 unknown. */
typedef struct store_tx_status {
    char where;
    uint64_t height;
    uint32_t index;
    int result;
    char error[PLOW_ERR_LEN];
} store_tx_status;
int store_tx_status_get(store *st, const uint8_t hash[32], store_tx_status *out, char err[PLOW_ERR_LEN]);

/* ---- blobs ------------------------------------------------------------------ */

#define BLOB_MAX_DEFAULT ((uint64_t)1 << 30) /* 1 GiB */

typedef struct blob_store blob_store;
int blob_store_open(blob_store **out, const char *dir, uint64_t max_size, char err[PLOW_ERR_LEN]);
void blob_store_close(blob_store *b);
bool blob_has(blob_store *b, const uint8_t hash[32]);
/* blob_has, and its size in bytes (from the index: the file is not read). */
bool blob_size(blob_store *b, const uint8_t hash[32], uint64_t *size);
/* The file path of a stored blob (for streaming); NULL if absent. Caller frees. */
char *blob_path(blob_store *b, const uint8_t hash[32]);
/* Writing a blob in pieces: begin, write..., finish checks the hash and size
 * limit and moves it into place (already present: fine, same bytes);
 * abort removes the temporary file. */
typedef struct blob_writer blob_writer;
int blob_write_begin(blob_store *b, const uint8_t want[32], blob_writer **out, char err[PLOW_ERR_LEN]);
int blob_write(blob_writer *w, const void *data, size_t n, char err[PLOW_ERR_LEN]);
int blob_write_finish(blob_writer *w, char err[PLOW_ERR_LEN]); /* frees w */
void blob_write_abort(blob_writer *w);                          /* frees w */
/* Whole blobs. put computes the hash; put_file copies a file in. */
int blob_put(blob_store *b, const void *data, size_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]);
int blob_put_file(blob_store *b, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]);
int blob_get(blob_store *b, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]);
/* Copies a blob out to a file (atomically). */
int blob_get_file(blob_store *b, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]);
/* Who a new blob is charged to (default nobody: the node's own). */
void blob_writer_set_owner(blob_writer *w, const uint8_t owner[32]);
/* Bytes of the blobs charged to owner; all blobs and their bytes. */
uint64_t blob_usage(blob_store *b, const uint8_t owner[32]);
void blob_totals(blob_store *b, size_t *count, uint64_t *bytes);
/* Opens a blob to serve it: its bytes are hashed first unless this very file
 * was verified before. A damaged blob is removed (*damaged, -1). */
int blob_open_checked(blob_store *b, const uint8_t hash[32], int *fd, uint64_t *size, bool *damaged,
                      char err[PLOW_ERR_LEN]);
/* Removes a blob found damaged (a good upload puts it back). */
void blob_mark_damaged(blob_store *b, const uint8_t hash[32]);
/* Re-hashes every blob; the damaged ones are removed. */
int blob_scrub(blob_store *b, size_t *checked, size_t *damaged, char err[PLOW_ERR_LEN]);
/* A collection pass: a blob referenced(hash) is marked referenced now; any
 * other whose upload and last reference are both retention_ms old or more
 * is removed. */
int blob_collect(blob_store *b, bool (*referenced)(const uint8_t hash[32], void *arg), void *arg,
                 uint64_t retention_ms, size_t *removed, uint64_t *bytes);

/* ---- the node --------------------------------------------------------------- */

typedef struct node_options {
    const char *data_dir;     /* ledger.db, blobs/, operator.key */
    const char *listen;       /* "127.0.0.1:7545" */
    const char *genesis;      /* genesis file (first start); later read from the db */
    const char *follow;       /* follower mode: the sequencer's URL */
    const char *operator_key; /* sequencer: its key file (default DATA/operator.key) */
    uint32_t block_ms;        /* block interval (default 500) */
    uint32_t max_block_txs;   /* default 20000 */
    uint64_t max_blob;        /* default BLOB_MAX_DEFAULT */
    uint32_t max_conns_per_ip; /* default NODE_CONN_PER_IP_DEFAULT (node_internal.h) */
    uint32_t sse_max_s;       /* an event stream's lifetime, default 600 s */
    uint64_t blob_per_unit;   /* upload quota: bytes per unit of balance + stake (default 65536) */
    uint64_t disk_reserve;    /* uploads refused when less would stay free (default 1 GiB) */
    uint64_t blob_retention_s; /* an unreferenced blob is kept this long (default 7 days) */
    uint32_t blob_gc_s;       /* scrub + collection pass interval (default 3600) */
    bool referee;             /* run the referee (default on for a sequencer) */
    const char *chain_rpc;    /* --chain URL: index plow's contracts there and serve them (chain_index.c) */
    const char *chain_deployment; /* --deployment FILE (plow deploy's) */
    uint32_t chain_confirmations; /* blocks below the head an indexed block stays (default 0) */
    uint32_t chain_poll_ms;   /* default 500 */
    const char *wasm;         /* plow.wasm, served at /plow.wasm for the explorer's in-browser checks */
    bool wasm_required;       /* --wasm given: a file that cannot be served is an error (else it is skipped) */
    bool quiet;
} node_options;

typedef struct node node;
/* Opens storage, loads or creates the chain, checks the state root. */
int node_open(node **out, const node_options *o, char err[PLOW_ERR_LEN]);
/* Serves until node_stop (from a signal handler: async-signal-safe). Returns
 * 0 on a clean stop, -1 with err on a fatal error (a follower's state-root
 * mismatch is one). */
int node_run(node *n, char err[PLOW_ERR_LEN]);
void node_stop(node *n);
/* True after node_run returned -1 because a follower found a block of the
 * sequencer wrong (signature, results, tx root, state root, chain): the
 * sequencer, not this node, is at fault (plow node exits 3). */
bool node_diverged(const node *n);
void node_close(node *n);

#endif /* PLOW_NODE_H */
