/*
 * node_internal.h — what the node's files share (node.c, follow.c, referee.c,
 * http.c, keytab.c). Not a public interface: only src/node includes it.
 *
 * Threads of a running node and the locks they take (always in this order,
 * never the other way round):
 *
 *   state_lock (rwlock)  the ledger state, the tip, the pending tables. The
 *                        writer (sequencer or follower thread) holds it for
 *                        writing from ledger_begin_block until the block is
 *                        committed and the pending tables are fixed, so a
 *                        reader never sees a state the database does not have.
 *                        It prefers writers: readers queue behind a waiting
 *                        writer, so no read load can hold a block back (and
 *                        no thread may take it for reading twice).
 *   tasks.lock (rwlock)  the task index (taskidx.c), taken by the writer with
 *                        state_lock held, by listings with nothing else held.
 *   adm_mu               the pending tables and the group-commit queue.
 *   ev_mu                the tip copy, events, wake-ups (leaf lock).
 *
 * The store needs no lock of ours: it serialises its writes and reads
 * through a pool of read connections (WAL), so reads run beside a commit.
 *
 *   HTTP threads   decode + signature (no lock), then state_lock(read) +
 *                  adm_mu to check the nonce and reserve it, then wait on
 *                  gc_cond until the group-commit thread wrote the batch.
 *   gc thread      takes the queued txs, store_mempool_add,
 *                  marks them durable, broadcasts gc_cond.
 *   block thread   sequencer: read the mempool -> apply (state_lock write)
 *                  -> commit -> pending fix (adm_mu) -> events.
 *                  follower: fetch -> same, with its own checks.
 *   referee thread waits for blocks, rules on open challenges, submits
 *                  verdicts through the admission path.
 */
#ifndef PLOW_NODE_INTERNAL_H
#define PLOW_NODE_INTERNAL_H

#include "../base/plow.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "../client/client.h"
#include "node.h"

/* ---- a hash table keyed by 32-byte ids (keytab.c) ---------------------------
 * Open addressing, linear probing, backward-shift deletion; slots hold the key
 * and a fixed-size value. The hash is SipHash (libsodium crypto_shorthash)
 * with a random key, so hostile keys (public keys can be ground) cannot
 * build long probe chains. Not thread-safe. */
typedef struct keytab {
    uint8_t *slots; /* cap slots of ssize bytes: key, used flag, value (8-aligned) */
    size_t vsize, cap, n, ssize;
    uint8_t seed[16];
} keytab;
void keytab_init(keytab *t, size_t vsize);
void keytab_release(keytab *t);
/* The value of key, or NULL. The pointer is valid until the next insert/remove. */
void *keytab_get(const keytab *t, const uint8_t key[32]);
/* The value of key, inserted (zeroed) if absent; *created says which. */
void *keytab_put(keytab *t, const uint8_t key[32], bool *created);
bool keytab_remove(keytab *t, const uint8_t key[32]);
/* Iteration: for i in 0..t->cap, the value in slot i (and its key), or NULL
 * for an empty slot. Not while inserting or removing. */
void *keytab_slot(const keytab *t, size_t i, const uint8_t **key);

/* ---- the task index (taskidx.c) ------------------------------------------------
 * A copy of every task for GET /v1/tasks behind its own writer-preferring
 * lock: the writer updates the tasks a block changed, listings never touch
 * state_lock. See taskidx.c. */
typedef struct taskidx_ent {
    uint64_t posted_at;
    uint8_t id[32];
    uint8_t status, kind;
    uint64_t reward, deadline;
    ledger_task *t; /* owned */
} taskidx_ent;

typedef struct taskidx {
    pthread_rwlock_t lock;
    taskidx_ent *e; /* oldest first */
    size_t n, cap;
    keytab pos; /* id -> size_t index into e */
} taskidx;

#define TASKQ_LIMIT_MAX 1000
#define TASKQ_CURSOR_LEN 96
#define TASKIDX_SCAN_MAX 50000 /* entries one listing looks at, at most */

/* A listing's filters (docs/api.md, GET /v1/tasks). */
typedef struct taskq {
    uint32_t statuses; /* bit s: status s wanted; 0: any */
    int kind;          /* 0: any */
    uint64_t min_reward, max_reward;
    bool has_deadline;
    uint64_t deadline_from; /* taskidx_deadline(t) >= this (and not 0) */
    bool has_addr;
    uint8_t addr[32]; /* its requester or a worker of one of its slots */
    bool has_cursor;
    uint64_t cur_posted;
    uint8_t cur_id[32];
    uint32_t limit;
} taskq;

/* A rwlock that prefers writers (a reader must never take it twice). */
void node_rwlock_init(pthread_rwlock_t *l);
void taskidx_init(taskidx *x);
void taskidx_release(taskidx *x);
void taskidx_load(taskidx *x, const ledger_state *s);   /* every task of s */
void taskidx_update(taskidx *x, const ledger_state *s); /* the dirty ones (before ledger_clear_dirty) */
void taskidx_put_many(taskidx *x, const ledger_task *ts, size_t count);
void taskidx_replace(taskidx *x, const ledger_task *ts, size_t count); /* all of them anew */
uint64_t taskidx_deadline(const ledger_task *t);
/* Query arguments -> q (-1 with err on anything malformed). */
int taskq_parse(taskq *q, const char *(*arg)(void *ctx, const char *key), void *ctx, char err[PLOW_ERR_LEN]);
void taskq_cursor_format(uint64_t posted_at, const uint8_t id[32], char out[TASKQ_CURSOR_LEN]);
int taskq_cursor_parse(const char *s, uint64_t *posted_at, uint8_t id[32]);
/* One page: *out (caller frees) gets up to q->limit matching tasks after the
 * cursor, newest first, looking at no more than scan_max entries; *more and
 * next (the cursor to pass back) when the listing may go on. */
size_t taskidx_page(taskidx *x, const taskq *q, size_t scan_max, ledger_task **out, bool *more,
                    char next[TASKQ_CURSOR_LEN]);

/* ---- the EVM chain's index (evmwatch.c; plow node --chain URL --deployment FILE) ----
 * plow's contract events in DIR/chain.db, confirmations, resume and reorg
 * rollback; the API's reads when n->evm (see evmwatch.c). */
typedef struct evmwatch evmwatch;
typedef struct evmwatch_status {
    uint64_t evm_chain_id, indexed, time_s, burned, held, reorgs; /* held: the tokens Plow holds */
    uint32_t confirmations;
    uint8_t hash[32], plow[20];
    size_t tasks, challenges;
} evmwatch_status;
int evmwatch_open(evmwatch **out, const char *dir, const char *rpc_url, const char *deployment,
                     uint32_t confirmations, char err[PLOW_ERR_LEN]);
void evmwatch_close(evmwatch *ci);
/* Indexes one range (or rolls a reorg back): *more if there is more to do now. */
int evmwatch_step(evmwatch *ci, bool *more, char err[PLOW_ERR_LEN]);
taskidx *evmwatch_tasks(evmwatch *ci);
void evmwatch_get_status(evmwatch *ci, evmwatch_status *s);
/* The task with its challenges (*ch: caller frees); false if the index has no such task. */
bool evmwatch_task(evmwatch *ci, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch);
bool evmwatch_challenge(evmwatch *ci, const uint8_t id[32], ledger_challenge *c);
/* The task word (Plow.tasks(id)) the index holds for it. */
bool evmwatch_word(evmwatch *ci, const uint8_t id[32], uint8_t w[32]);
/* Plow.accounts and profiles of an EVM account (pk: 20 bytes + 12 zeros) at the indexed block. */
int evmwatch_account(evmwatch *ci, const uint8_t pk[32], ledger_account *a, char err[PLOW_ERR_LEN]);
/* Every task; the challenges of the live ones (the blob GC's references). */
void evmwatch_each(evmwatch *ci, bool (*task_fn)(const ledger_task *t, void *arg),
                      bool (*ch_fn)(const ledger_challenge *c, void *arg), void *arg);
void *node_evmwatch_main(void *arg);
/* ---- the explorer's index (chainidx.c) ------------------------------------------
 * DATA/explorer.db: account histories, task events, agents, per-block
 * counts, written by its own thread from the stored blocks plus the accounts
 * each block changed (queued by the block writer, chainidx_note). */
typedef struct chainidx chainidx;
struct cJSON;
int chainidx_open(node *n, char err[PLOW_ERR_LEN]);  /* n->cidx (kept, even on failure: queries say 503) */
int chainidx_start(node *n, char err[PLOW_ERR_LEN]); /* its thread (stops with n->stopping) */
void chainidx_join(node *n);
void chainidx_close(node *n);
void chainidx_note(node *n, uint64_t height); /* writer, state_lock held, before ledger_clear_dirty */
uint64_t chainidx_height(node *n);            /* indexed so far */
uint64_t chainidx_block_by_hash(node *n, const uint8_t h[32]); /* its height, 0 if not indexed */
/* The queries of GET /v1/history, /v1/timeline, /v1/agents, /v1/stats: 0 with
 * *out (or o filled), else -1 with the HTTP status and err. */
int chainidx_history(node *n, const uint8_t pk[32], uint64_t before, uint32_t limit, struct cJSON **out, int *status,
                     char err[PLOW_ERR_LEN]);
int chainidx_timeline(node *n, const uint8_t task[32], struct cJSON **out, int *status, char err[PLOW_ERR_LEN]);
int chainidx_agents(node *n, uint64_t cur_since, const uint8_t *cur_addr, uint32_t limit, struct cJSON **out,
                    int *status, char err[PLOW_ERR_LEN]);
int chainidx_stats(node *n, struct cJSON *o, int *status, char err[PLOW_ERR_LEN]);
/* explorer_api.c: GET /v1/slotlog (a slot's published training log) and
 * GET /v1/labeling (a label task's aggregation, re-run from the records). */
int explorer_slotlog(node *n, const uint8_t id[32], uint32_t slot, struct cJSON **out, int *status,
                     char err[PLOW_ERR_LEN]);
int explorer_labeling(node *n, const uint8_t id[32], char **out_json, int *status, char err[PLOW_ERR_LEN]);
/* A train_log.csv (a header of names, lines of numbers or empty fields) into
 * o's "columns" and "rows"; false with err on anything else or too much. */
bool explorer_parse_log(const uint8_t *d, size_t n, struct cJSON *o, char err[PLOW_ERR_LEN]);

/* ---- the market (market.c): the directory of agent cards and the mailbox ---------- */
typedef struct mailbox mailbox;
mailbox *mailbox_new(void);
void mailbox_free(mailbox *b);
/* GET /v1/directory, POST /v1/mail, GET /v1/mail/ADDR: 0 with *out, else -1
 * with the HTTP status and err (docs/api.md). */
int node_directory(node *n, const char *(*arg)(void *ctx, const char *key), void *ctx, struct cJSON **out,
                   int *status, char err[PLOW_ERR_LEN]);
int node_mail_post(node *n, const uint8_t *body, size_t len, struct cJSON **out, int *status, char err[PLOW_ERR_LEN]);
int node_mail_get(node *n, const char *addr, const char *(*arg)(void *ctx, const char *key), void *ctx,
                  struct cJSON **out, int *status, char err[PLOW_ERR_LEN]);

/* ---- the node ------------------------------------------------------------------ */

/* A pending transaction (value of node.pending, keyed by tx hash). */
typedef struct pending_tx {
    uint8_t sender[32];
    uint64_t ticket; /* group-commit ticket: durable once gc_done >= ticket */
    uint64_t spend;  /* what it may take from its sender's balance (node_spend) */
} pending_tx;

/* A sender with pending transactions (value of node.senders). */
typedef struct pending_sender {
    uint32_t count; /* its pending transactions */
    uint64_t next;  /* the nonce its next transaction must carry */
    uint64_t spend; /* the sum of their spend: reserved out of its balance */
} pending_sender;

/* Admission counts what a sender's pending transactions may take from its
 * balance (docs/ledger.md, "Admission"): a new one is refused unless the
 * balance (after maturing) less that reservation still pays its fee; it then
 * reserves its fee plus its outlay (transfer or stake amount, escrow, bond),
 * the outlay capped at what is left. So every admitted fee is paid when its
 * block runs, whatever the bodies do, and a sender cannot queue transactions
 * that would be dropped for free. */
#define NODE_SENDER_PENDING_MAX 1000 /* pending transactions of one sender (then 429) */

/* What a transaction takes from its sender's balance beyond the fee if its
 * body succeeds (saturating). */
uint64_t node_tx_outlay(const ledger_tx *tx);
/* The reservation check: avail is the sender's balance after maturing,
 * reserved what its pending transactions already reserve, pending how many
 * there are. 0 with *spend (what tx reserves) if tx may be admitted; else the
 * HTTP status of the refusal (429 too many pending, 400 cannot pay) with err.
 * tx NULL: only the pending count is checked. */
int node_spend(const ledger_tx *tx, uint64_t avail, uint64_t reserved, uint32_t pending, uint64_t *spend,
               char err[PLOW_ERR_LEN]);

/* One transaction waiting for the group commit. */
typedef struct gc_item {
    struct gc_item *next;
    plow_buf tx; /* encoded */
} gc_item;

/* The chain's head as committed. */
typedef struct node_tip {
    uint64_t height, time_ms;
    uint8_t hash[32];       /* the last block's hash (height 0: the chain id) */
    uint8_t state_root[32];
} node_tip;

/* Referee bookkeeping per challenge (value of node.ruled). */
typedef struct ruled_challenge {
    uint8_t verdict_tx[32]; /* zeros until a verdict was submitted */
    uint8_t last_err[32];   /* hash of the last error logged (log each error once) */
    uint32_t tries;         /* verdicts that could not be computed or admitted */
    uint32_t computed;      /* times the referee's job ran for it (logged: "computation N") */
    uint64_t retry_at;      /* not tried again before this height */
    bool gave_up;           /* set aside: past its deadline, or failed REFEREE_TRIES times */
} ruled_challenge;

#define NODE_MEMPOOL_MAX 500000    /* pending transactions before 503 */
#define NODE_TX_BODY_MAX (2 * LEDGER_TX_MAX + 1024) /* POST /v1/tx: the hex of the largest transaction */
#define NODE_BATCH_BODY_MAX (16u << 20)
#define NODE_BATCH_MAX 10000
#define NODE_BLOCKS_TX_BUDGET 20000 /* /v1/blocks stops adding blocks past this many txs */

/* HTTP limits (http.c; docs/node.md, "HTTP"): what one client can hold. */
#define NODE_CONN_MAX 2048            /* connections at once (fewer if the fd limit is low) */
#define NODE_CONN_PER_IP_DEFAULT 128  /* connections from one address (--max-conns-per-ip) */
#define NODE_CONN_IDLE_S 30           /* libmicrohttpd's inactivity timeout (a reply nobody reads) */
#define NODE_HEADER_MS 10000          /* a request's headers complete within this of the connection's
                                         start or the previous request's end (idle sockets, slowloris) */
#define NODE_BODY_STALL_MS 10000      /* a body that makes no progress this long is cut */
#define NODE_BODY_MIN_RATE 65536      /* bytes/s a body averages at least, after NODE_HEADER_MS */
#define NODE_BODY_INFLIGHT_MAX ((size_t)64 << 20) /* buffered request bodies, all connections (then 503) */
#define NODE_SSE_MAX 256              /* event streams at once */
#define NODE_SSE_PER_IP 16            /* event streams from one address */
#define NODE_SSE_MAX_S_DEFAULT 600    /* an event stream ends after this (--sse-max-s); clients resume
                                         with Last-Event-ID */

struct node {
    node_options o;
    char *data_dir, *listen, *follow, *operator_key_path;
    ledger_genesis genesis;
    plow_buf genesis_bytes;
    bool has_key;
    ledger_key key; /* the operator's (sequencer only) */

    store *st;
    blob_store *blobs;
    ledger_state *s;
    taskidx tasks; /* its own lock (taskidx.c) */
    evmwatch *evm; /* --chain: the EVM chain's index, which the API serves (evmwatch.c) */
    chainidx *cidx; /* the explorer's index (chainidx.c), or NULL */
    mailbox *mail;  /* market.c: its own lock */

    pthread_rwlock_t state_lock;
    pthread_mutex_t adm_mu, ev_mu;
    pthread_cond_t gc_cond;   /* with adm_mu: a batch is durable */
    pthread_cond_t gc_work;   /* with adm_mu: the queue is not empty, or stop */
    pthread_cond_t ev_cond;   /* with ev_mu: new block, stop */

    /* adm_mu */
    keytab pending;  /* hash -> pending_tx */
    keytab senders;  /* pk -> pending_sender */
    gc_item *gc_head, **gc_tail;
    size_t gc_queued;
    uint64_t gc_issued, gc_done;
    bool gc_failed;

    /* ev_mu */
    node_tip tip;
    uint64_t blocks_made;

    /* referee (its thread only) */
    keytab ruled;

    /* lifecycle */
    atomic_bool stopping;
    atomic_bool gc_stop;
    volatile sig_atomic_t stop_flag;
    int wake_pipe[2];
    char fatal[PLOW_ERR_LEN];
    atomic_bool has_fatal;
    bool diverged;
    pthread_mutex_t fatal_mu;
    struct MHD_Daemon *httpd;
    uint16_t port;
    struct http_guard *guard;    /* http.c: live connections, their deadlines */
    /* uploads in flight (upkeep.c), under up_mu */
    pthread_mutex_t up_mu;
    keytab up_owner; /* owner -> uint64_t bytes announced */
    uint64_t up_total;
    atomic_size_t body_inflight; /* bytes reserved by buffered request bodies */
};

/* Logging: one line to stdout (info, unless quiet) or stderr (errors). */
void node_log(node *n, const char *fmt, ...) PLOW_PRINTF(2, 3);
void node_log_err(node *n, const char *fmt, ...) PLOW_PRINTF(2, 3);
/* Records a fatal error (first one wins) and asks node_run to stop. */
void node_fail(node *n, const char *fmt, ...) PLOW_PRINTF(2, 3);

uint64_t node_now_ms(void);
void node_tip_get(node *n, node_tip *out);
void node_tip_set(node *n, const node_tip *t); /* and wakes event streams */

/* Admission of one encoded transaction (HTTP, referee). Returns 0 with its
 * hash once it is durably pending (a duplicate of a pending tx: 0 too);
 * -1 with err and *status (400 refused, 403 follower, 429 the sender has
 * NODE_SENDER_PENDING_MAX pending, 503 full or stopping, 500 storage)
 * otherwise. */
int node_admit(node *n, const uint8_t *tx, size_t len, uint8_t hash[32], int *status, char err[PLOW_ERR_LEN]);
/* Many at once: one group commit for all accepted ones. hashes[i], ok[i],
 * codes[i] (the status a refused one would get alone), errs[i] per transaction; returns -1 only when nothing could be tried
 * (status and err say why). */
int node_admit_many(node *n, const plow_buf *txs, size_t count, uint8_t (*hashes)[32], bool *ok, int *codes,
                    char (*errs)[PLOW_ERR_LEN], int *status, char err[PLOW_ERR_LEN]);
/* Signs tx with the operator key at the next free nonce and admits it. */
int node_admit_own(node *n, ledger_tx *tx, uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* The nonce the next transaction of pk must carry (state_lock held). */
uint64_t node_next_nonce(node *n, const uint8_t pk[32], uint64_t account_nonce);
size_t node_mempool_size(node *n);

/* Store reads (the store is thread-safe; these name the node's store). */
int node_store_block(node *n, uint64_t height, ledger_block *out, char err[PLOW_ERR_LEN]);
int node_store_tx_status(node *n, const uint8_t hash[32], store_tx_status *out, char err[PLOW_ERR_LEN]);

/* Header hash, results hash and tx root of a block's contents. */
void node_results_hash(const int8_t *results, uint32_t n, uint8_t out[32]);
void node_tx_root(const uint8_t *hashes, uint32_t n, uint8_t out[32]);

/* Threads. */
void *node_follow_main(void *arg);
int node_follow_fetch_genesis(const char *url, plow_buf *out, char err[PLOW_ERR_LEN]);
void *node_referee_main(void *arg);
void node_referee_note_verdict(node *n, const ledger_tx *tx, const uint8_t hash[32]);

/* Blob uploads and upkeep (upkeep.c). node_blob_admit: 0 if the signed
 * upload of hash may go ahead (owner, *size reserved until
 * node_blob_release), else the HTTP status of the refusal (411 no size, 401
 * unsigned or badly signed, 403 an account holding nothing, 402 over its
 * quota, 507 the disk reserve) with err. */
int node_blob_admit(node *n, const uint8_t hash[32], const char *content_length, const char *signer,
                    const char *time_s, const char *sig_hex, uint8_t owner[32], uint64_t *size, char err[PLOW_ERR_LEN]);
void node_blob_release(node *n, const uint8_t owner[32], uint64_t size);
void *node_upkeep_main(void *arg);
#define NODE_BLOB_PER_UNIT_DEFAULT 65536
#define NODE_DISK_RESERVE_DEFAULT ((uint64_t)1 << 30)
#define NODE_BLOB_RETENTION_S_DEFAULT (7u * 86400u)
#define NODE_BLOB_GC_S_DEFAULT 3600

/* HTTP (http.c). */
int node_http_start(node *n, char err[PLOW_ERR_LEN]);
void node_http_stop(node *n);

/* ---- the router, callable without sockets (http.c; tests/fuzz/fuzz_api.c) ---- */

typedef struct http_reply {
    unsigned status;
    const char *ctype;
    plow_buf body;      /* the body, when fd < 0 and !sse */
    int fd;             /* a file to stream (GET /v1/blob), or -1 */
    uint64_t fd_size;
    uint8_t fd_hash[32]; /* what its bytes must hash to (checked while streaming) */
    bool sse;           /* an event stream from height sse_from */
    uint64_t sse_from;
    const char *allow;  /* 405: the Allow header */
    /* an explorer file (www.h): its bytes (static, never freed), ETag and the
     * page headers (Content-Security-Policy, Cache-Control) */
    bool www;
    const unsigned char *cdata;
    size_t clen;
    const char *etag;
} http_reply;

typedef struct http_request http_request;
/* arg(ctx, key): a query argument or NULL. last_event_id, content_length: the
 * headers or NULL. Never fails: errors become the reply. */
http_request *http_request_begin(node *n, const char *method, const char *path,
                                 const char *(*arg)(void *ctx, const char *key), void *arg_ctx,
                                 const char *last_event_id, const char *content_length);
/* The same with every header through hdr(ctx, name) (NULL if absent). */
http_request *http_request_begin_h(node *n, const char *method, const char *path,
                                   const char *(*arg)(void *ctx, const char *key), void *arg_ctx,
                                   const char *(*hdr)(void *ctx, const char *name), void *hdr_ctx);
/* A piece of the body (any number of calls, any sizes). */
void http_request_body(http_request *r, const uint8_t *data, size_t len);
/* Ends the request and hands over the reply (release with http_reply_release). */
void http_request_end(http_request *r, http_reply *out);
void http_request_free(http_request *r);
void http_reply_release(http_reply *r);

#endif /* PLOW_NODE_INTERNAL_H */
