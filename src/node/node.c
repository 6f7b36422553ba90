/*
 * node.c — the node process: opening a data directory (genesis, operator key,
 * state checked against the last block), admission with group commit, the
 * sequencer that makes a block every interval, and the run/stop lifecycle.
 * The follower lives in follow.c, the referee in referee.c, HTTP in http.c.
 *
 * Crash safety rests on two facts: a transaction is acknowledged only after
 * store_mempool_add returned (SQLite, synchronous=FULL), and a block with its
 * state records and the removal of its mempool entries is one SQLite
 * transaction. Killed at any moment, the node restarts at the last whole
 * block with every acknowledged transaction either in a block or still in
 * the mempool. Nothing is kept only in memory except what can be rebuilt
 * from the database (pending tables, tip).
 */
#include "../base/plow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../client/listen.h"
#include "node_internal.h"
#include "www.h"

#define GENESIS_MAX ((size_t)16 << 20)

/* ---- logging and small helpers --------------------------------------------------- */

static void vlog_line(FILE *f, const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    flockfile(f);
    fprintf(f, "%02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, line);
    fflush(f);
    funlockfile(f);
}

void node_log(node *n, const char *fmt, ...) {
    if (n->o.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vlog_line(stdout, fmt, ap);
    va_end(ap);
}

void node_log_err(node *n, const char *fmt, ...) {
    (void)n;
    va_list ap;
    va_start(ap, fmt);
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "plow node: %s\n", line);
    fflush(stderr);
}

static void wake(node *n) {
    if (n->wake_pipe[1] >= 0) {
        ssize_t w = write(n->wake_pipe[1], "x", 1);
        (void)w;
    }
}

void node_fail(node *n, const char *fmt, ...) {
    pthread_mutex_lock(&n->fatal_mu);
    if (!atomic_load(&n->has_fatal)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(n->fatal, sizeof n->fatal, fmt, ap);
        va_end(ap);
        atomic_store(&n->has_fatal, true);
    }
    pthread_mutex_unlock(&n->fatal_mu);
    wake(n);
}

uint64_t node_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void node_tip_get(node *n, node_tip *out) {
    pthread_mutex_lock(&n->ev_mu);
    *out = n->tip;
    pthread_mutex_unlock(&n->ev_mu);
}

void node_tip_set(node *n, const node_tip *t) {
    pthread_mutex_lock(&n->ev_mu);
    n->tip = *t;
    pthread_cond_broadcast(&n->ev_cond);
    pthread_mutex_unlock(&n->ev_mu);
}

void node_results_hash(const int8_t *results, uint32_t count, uint8_t out[32]) {
    plow_sha256 *h = plow_sha256_new();
    for (uint32_t i = 0; i < count; i++) {
        uint8_t b = (uint8_t)results[i];
        plow_sha256_update(h, &b, 1);
    }
    plow_sha256_final(h, out);
}

void node_tx_root(const uint8_t *hashes, uint32_t count, uint8_t out[32]) {
    if (count == 0) memset(out, 0, 32);
    else merkle_root(hashes, count, out);
}

int node_store_block(node *n, uint64_t height, ledger_block *out, char err[PLOW_ERR_LEN]) {
    int rc = store_get_block(n->st, height, out, err);
    return rc;
}

int node_store_tx_status(node *n, const uint8_t hash[32], store_tx_status *out, char err[PLOW_ERR_LEN]) {
    int rc = store_tx_status_get(n->st, hash, out, err);
    return rc;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = plow_alloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* ---- pending tables ----------------------------------------------------------------- */

uint64_t node_next_nonce(node *n, const uint8_t pk[32], uint64_t account_nonce) {
    const pending_sender *ps = keytab_get(&n->senders, pk);
    return ps ? ps->next : account_nonce;
}

size_t node_mempool_size(node *n) {
    pthread_mutex_lock(&n->adm_mu);
    size_t c = n->pending.n;
    pthread_mutex_unlock(&n->adm_mu);
    return c;
}

uint64_t node_tx_outlay(const ledger_tx *tx) {
    uint64_t v = 0;
    switch (tx->type) {
    case LEDGER_TX_TRANSFER: v = tx->u.transfer.amount; break;
    case LEDGER_TX_STAKE: v = tx->u.stake.amount; break;
    case LEDGER_TX_POST_TASK:
        if (!plow_mul_u64(tx->u.post.reward, tx->u.post.replicas, &v)) v = UINT64_MAX;
        break;
    case LEDGER_TX_CHALLENGE: v = tx->u.challenge.bond; break;
    case LEDGER_TX_DA_CHALLENGE: v = tx->u.da.bond; break;
    case LEDGER_TX_CHANNEL_OPEN: v = tx->u.chan_open.deposit; break;
    case LEDGER_TX_RECEIPT_FRAUD: v = tx->u.fraud.bond; break;
    default: break;
    }
    return v;
}

/* The fee plus the outlay, capped at what is left of the balance. */
static uint64_t reservation(const ledger_tx *tx, uint64_t left) {
    if (left <= tx->fee) return tx->fee;
    uint64_t out = node_tx_outlay(tx);
    return tx->fee + (out < left - tx->fee ? out : left - tx->fee);
}

int node_spend(const ledger_tx *tx, uint64_t avail, uint64_t reserved, uint32_t pending, uint64_t *spend,
               char err[PLOW_ERR_LEN]) {
    if (pending >= NODE_SENDER_PENDING_MAX) {
        plow_error(err, "the sender has %u pending transactions, the most one sender may have: wait until a block includes some",
                   pending);
        return 429;
    }
    if (!tx) return 0;
    uint64_t left = avail > reserved ? avail - reserved : 0;
    if (left < tx->fee) {
        plow_error(err, "balance %" PRIu64 " cannot pay the fee %" PRIu64 ": the sender's %u pending transactions already spend %" PRIu64,
                   avail, tx->fee, pending, reserved);
        return 400;
    }
    *spend = reservation(tx, left);
    return 0;
}

/* The sender's balance after maturing (ledger rule M1), state_lock held. */
static uint64_t spendable(node *n, const uint8_t pk[32]) {
    ledger_account a;
    if (!ledger_get_account(n->s, pk, &a)) return 0;
    uint64_t v = a.balance;
    if (a.unbonding && a.unbond_at <= ledger_state_height(n->s) && !plow_add_u64(v, a.unbonding, &v)) v = UINT64_MAX;
    return v;
}

/* adm_mu held. */
static void pending_add(node *n, const uint8_t hash[32], const uint8_t sender[32], uint64_t nonce, uint64_t ticket,
                        uint64_t spend) {
    pending_tx *p = keytab_put(&n->pending, hash, NULL);
    memcpy(p->sender, sender, 32);
    p->ticket = ticket;
    p->spend = spend;
    pending_sender *s = keytab_put(&n->senders, sender, NULL);
    s->count++;
    s->next = nonce + 1;
    if (!plow_add_u64(s->spend, spend, &s->spend)) s->spend = UINT64_MAX;
}

/* adm_mu held. A transaction left the mempool (in a block, or dropped). */
static void pending_remove(node *n, const uint8_t hash[32]) {
    pending_tx *p = keytab_get(&n->pending, hash);
    if (!p) return;
    uint8_t sender[32];
    memcpy(sender, p->sender, 32);
    uint64_t spend = p->spend;
    keytab_remove(&n->pending, hash);
    pending_sender *s = keytab_get(&n->senders, sender);
    if (!s) return;
    s->spend = s->spend > spend ? s->spend - spend : 0;
    if (--s->count == 0) keytab_remove(&n->senders, sender);
}

/* ---- admission ----------------------------------------------------------------------- */

/* Decode and signature: no lock, so signature checks run on every core. */
static int admit_decode(node *n, const uint8_t *bytes, size_t len, ledger_tx *tx, uint8_t hash[32], int *status,
                        char err[PLOW_ERR_LEN]) {
    *status = 400;
    if (n->follow) {
        *status = 403;
        return plow_error(err, "this node follows %s: submit transactions there", n->follow);
    }
    if (len > LEDGER_TX_MAX)
        return plow_error(err, "transaction of %zu bytes is larger than the limit (%d)", len, LEDGER_TX_MAX);
    if (ledger_tx_decode(tx, bytes, len, err) != 0) return plow_error_prefix(err, "transaction");
    ledger_tx_hash(tx, hash);
    if (!ledger_tx_verify(tx, n->genesis.chain_id))
        return plow_error(err, "bad signature: not signed by its sender for this chain");
    return 0;
}

/* state_lock (read) and adm_mu held: nonce, fee, balance; reserve and queue.
 * *ticket: the group-commit ticket to wait for. */
static int admit_reserve(node *n, const ledger_tx *tx, const uint8_t hash[32], const uint8_t *bytes, size_t len,
                         uint64_t *ticket, int *status, char err[PLOW_ERR_LEN]) {
    const pending_tx *p = keytab_get(&n->pending, hash);
    if (p) { /* the same transaction again: idempotent */
        *ticket = p->ticket;
        return 0;
    }
    if (n->gc_failed || atomic_load(&n->gc_stop)) {
        *status = 503;
        return plow_error(err, "the node is stopping: retry later");
    }
    if (n->pending.n >= NODE_MEMPOOL_MAX) {
        *status = 503;
        return plow_error(err, "the mempool is full (%zu pending): retry later", n->pending.n);
    }
    /* the sender's pending count first: every transaction past the bound
     * gets 429, whatever its nonce */
    const pending_sender *ps = keytab_get(&n->senders, tx->sender);
    uint64_t spend = 0;
    int refused = node_spend(NULL, 0, 0, ps ? ps->count : 0, &spend, err);
    if (refused) {
        *status = refused;
        return -1;
    }
    ledger_account acc;
    uint64_t acc_nonce = ledger_get_account(n->s, tx->sender, &acc) ? acc.nonce : 0;
    uint64_t expected = node_next_nonce(n, tx->sender, acc_nonce);
    if (ledger_check_tx(n->s, tx, expected, false, err) != 0) {
        *status = 400;
        return -1;
    }
    refused = node_spend(tx, spendable(n, tx->sender), ps ? ps->spend : 0, ps ? ps->count : 0, &spend, err);
    if (refused) {
        *status = refused;
        return -1;
    }
    *ticket = ++n->gc_issued;
    pending_add(n, hash, tx->sender, tx->nonce, *ticket, spend);
    gc_item *it = plow_calloc(1, sizeof *it);
    plow_buf_append(&it->tx, bytes, len);
    *n->gc_tail = it;
    n->gc_tail = &it->next;
    n->gc_queued++;
    pthread_cond_signal(&n->gc_work);
    return 0;
}

/* adm_mu held: waits until the ticket is durable. */
static int admit_wait(node *n, uint64_t ticket, int *status, char err[PLOW_ERR_LEN]) {
    while (n->gc_done < ticket && !n->gc_failed) pthread_cond_wait(&n->gc_cond, &n->adm_mu);
    if (n->gc_done < ticket) {
        *status = 500;
        return plow_error(err, "the node could not store the transaction: it is stopping, retry later");
    }
    return 0;
}

int node_admit(node *n, const uint8_t *bytes, size_t len, uint8_t hash[32], int *status, char err[PLOW_ERR_LEN]) {
    ledger_tx *tx = plow_alloc(sizeof *tx);
    int rc = -1;
    if (admit_decode(n, bytes, len, tx, hash, status, err) != 0) goto out;
    uint64_t ticket = 0;
    pthread_rwlock_rdlock(&n->state_lock);
    pthread_mutex_lock(&n->adm_mu);
    int r = admit_reserve(n, tx, hash, bytes, len, &ticket, status, err);
    pthread_rwlock_unlock(&n->state_lock);
    if (r == 0) r = admit_wait(n, ticket, status, err);
    pthread_mutex_unlock(&n->adm_mu);
    rc = r;
out:
    free(tx);
    return rc;
}

int node_admit_many(node *n, const plow_buf *txs, size_t count, uint8_t (*hashes)[32], bool *ok, int *codes,
                    char (*errs)[PLOW_ERR_LEN], int *status, char err[PLOW_ERR_LEN]) {
    if (n->follow) {
        *status = 403;
        return plow_error(err, "this node follows %s: submit transactions there", n->follow);
    }
    ledger_tx *tx = plow_alloc(sizeof *tx);
    uint64_t max_ticket = 0;
    for (size_t i = 0; i < count; i++) {
        int st = 400;
        ok[i] = false;
        memset(hashes[i], 0, 32);
        codes[i] = 400;
        if (admit_decode(n, txs[i].data, txs[i].len, tx, hashes[i], &st, errs[i]) != 0) continue;
        uint64_t ticket = 0;
        pthread_rwlock_rdlock(&n->state_lock);
        pthread_mutex_lock(&n->adm_mu);
        if (admit_reserve(n, tx, hashes[i], txs[i].data, txs[i].len, &ticket, &st, errs[i]) == 0) {
            ok[i] = true;
            codes[i] = 202;
            if (ticket > max_ticket) max_ticket = ticket;
        } else {
            codes[i] = st;
        }
        pthread_mutex_unlock(&n->adm_mu);
        pthread_rwlock_unlock(&n->state_lock);
    }
    free(tx);
    pthread_mutex_lock(&n->adm_mu);
    int rc = admit_wait(n, max_ticket, status, err);
    pthread_mutex_unlock(&n->adm_mu);
    return rc;
}

int node_admit_own(node *n, ledger_tx *tx, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    if (!n->has_key) return plow_error(err, "this node has no operator key");
    memcpy(tx->sender, n->key.pk, 32);
    int status = 0;
    uint64_t ticket = 0;
    plow_buf enc = {0};
    pthread_rwlock_rdlock(&n->state_lock);
    pthread_mutex_lock(&n->adm_mu);
    ledger_account acc;
    uint64_t acc_nonce = ledger_get_account(n->s, tx->sender, &acc) ? acc.nonce : 0;
    tx->nonce = node_next_nonce(n, tx->sender, acc_nonce);
    ledger_tx_sign(tx, &n->key, n->genesis.chain_id);
    ledger_tx_encode(tx, &enc);
    ledger_tx_hash(tx, hash);
    int r = admit_reserve(n, tx, hash, enc.data, enc.len, &ticket, &status, err);
    pthread_rwlock_unlock(&n->state_lock);
    if (r == 0) r = admit_wait(n, ticket, &status, err);
    pthread_mutex_unlock(&n->adm_mu);
    plow_buf_release(&enc);
    return r;
}

/* ---- the group-commit thread ------------------------------------------------------- */

static void *gc_main(void *arg) {
    node *n = arg;
    char err[PLOW_ERR_LEN];
    pthread_mutex_lock(&n->adm_mu);
    for (;;) {
        while (!n->gc_head && !atomic_load(&n->gc_stop)) pthread_cond_wait(&n->gc_work, &n->adm_mu);
        if (!n->gc_head) break;
        gc_item *list = n->gc_head;
        size_t count = n->gc_queued;
        uint64_t upto = n->gc_issued;
        n->gc_head = NULL;
        n->gc_tail = &n->gc_head;
        n->gc_queued = 0;
        pthread_mutex_unlock(&n->adm_mu);

        plow_buf *bufs = plow_alloc(count * sizeof *bufs);
        size_t i = 0;
        for (gc_item *it = list; it; it = it->next) bufs[i++] = it->tx;
        int rc = store_mempool_add(n->st, bufs, count, err);
        free(bufs);
        while (list) {
            gc_item *next = list->next;
            plow_buf_release(&list->tx);
            free(list);
            list = next;
        }

        pthread_mutex_lock(&n->adm_mu);
        if (rc != 0) {
            n->gc_failed = true;
            node_log_err(n, "cannot write the mempool: %s", err);
            node_fail(n, "cannot write the mempool: %s; restart the node (acknowledged transactions are safe)", err);
        } else {
            n->gc_done = upto;
        }
        pthread_cond_broadcast(&n->gc_cond);
    }
    pthread_mutex_unlock(&n->adm_mu);
    return NULL;
}

/* ---- the sequencer -------------------------------------------------------------------- */

typedef struct taken {
    size_t count, cap, max;
    uint64_t last_seq;
    plow_buf *txs;
} taken;

static bool take_cb(uint64_t seq, const uint8_t *tx, size_t len, void *arg) {
    taken *t = arg;
    if (t->count >= t->max) return false;
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->txs = plow_realloc(t->txs, t->cap * sizeof *t->txs);
    }
    plow_buf b = {0};
    plow_buf_append(&b, tx, len);
    t->txs[t->count++] = b;
    t->last_seq = seq;
    return true;
}

static void block_free_parts(ledger_block *b) {
    for (uint32_t i = 0; i < b->n_txs; i++) {
        plow_buf_release(&b->txs[i]);
        free(b->errors[i]);
    }
    free(b->txs);
    free(b->results);
    free(b->errors);
    memset(b, 0, sizeof *b);
}

/* A block being made: the block, the hashes of its transactions, the hash of
 * every transaction taken from the mempool (included, failed or dropped) and
 * the dropped ones with their reasons. */
typedef struct {
    ledger_block b;
    uint8_t *hashes; /* included, 32 bytes each */
    uint8_t *gone;   /* every taken tx's hash */
    size_t n_gone;
    store_dropped *dropped;
    size_t n_dropped;
} block_draft;

static void draft_init(block_draft *d, size_t count) {
    memset(d, 0, sizeof *d);
    d->b.txs = plow_calloc(count, sizeof *d->b.txs);
    d->b.results = plow_calloc(count, sizeof *d->b.results);
    d->b.errors = plow_calloc(count, sizeof *d->b.errors);
    d->hashes = plow_calloc(count, 32);
    d->gone = plow_calloc(count, 32);
}

static void draft_free(block_draft *d) {
    block_free_parts(&d->b);
    free(d->hashes);
    free(d->gone);
    free(d->dropped);
}

/* Applies the taken transactions in order under the state lock: a valid one
 * joins the block (its bytes move from tk to the block), an invalid one is
 * dropped with its reason. */
static void draft_apply(node *n, block_draft *d, taken *tk) {
    ledger_tx *tx = plow_alloc(sizeof *tx);
    char why[PLOW_ERR_LEN];
    for (size_t i = 0; i < tk->count; i++) {
        if (ledger_tx_decode(tx, tk->txs[i].data, tk->txs[i].len, why) != 0) {
            /* cannot happen for an admitted tx; drop it from the mempool */
            node_log_err(n, "mempool entry %zu does not decode (%s): removed", i, why);
            continue;
        }
        uint8_t h[32];
        ledger_tx_hash(tx, h);
        memcpy(d->gone + 32 * d->n_gone++, h, 32);
        ledger_tx_result r = ledger_apply_tx(n->s, tx, true, why);
        if (r == LEDGER_TX_INVALID) {
            d->dropped = plow_realloc(d->dropped, (d->n_dropped + 1) * sizeof *d->dropped);
            memcpy(d->dropped[d->n_dropped].hash, h, 32);
            snprintf(d->dropped[d->n_dropped].reason, sizeof d->dropped[d->n_dropped].reason, "%s", why);
            d->n_dropped++;
            continue;
        }
        uint32_t k = d->b.n_txs++;
        d->b.txs[k] = tk->txs[i];
        tk->txs[i] = (plow_buf){0};
        d->b.results[k] = (int8_t)r;
        d->b.errors[k] = r == LEDGER_TX_FAILED ? plow_strdup(why) : NULL;
        memcpy(d->hashes + 32 * k, h, 32);
    }
    free(tx);
}

/* Closes the block: state root, transaction and result roots, hash, signature. */
static void draft_seal(node *n, block_draft *d) {
    ledger_block *b = &d->b;
    ledger_end_block(n->s, b->h.state_root);
    node_tx_root(d->hashes, b->n_txs, b->h.tx_root);
    node_results_hash(b->results, b->n_txs, b->h.results);
    b->h.n_txs = b->n_txs;
    ledger_block_hash(&b->h, b->hash);
    ledger_sign(&n->key, b->hash, 32, b->sig);
}

/* After the commit, still under the lock: the task index, the pending set and
 * the tip move to the new block. */
static void draft_publish(node *n, const block_draft *d) {
    taskidx_update(&n->tasks, n->s);
    chainidx_note(n, d->b.h.height);
    ledger_clear_dirty(n->s);
    pthread_mutex_lock(&n->adm_mu);
    for (size_t i = 0; i < d->n_gone; i++) pending_remove(n, d->gone + 32 * i);
    pthread_mutex_unlock(&n->adm_mu);
    node_tip nt = {.height = d->b.h.height, .time_ms = d->b.h.time_ms};
    memcpy(nt.hash, d->b.hash, 32);
    memcpy(nt.state_root, d->b.h.state_root, 32);
    node_tip_set(n, &nt);
}

/* Makes, signs and commits one block from the head of the mempool. */
static int produce_block(node *n, char err[PLOW_ERR_LEN]) {
    double t0 = plow_now();
    taken tk = {.max = n->o.max_block_txs};
    int rc = store_mempool_each(n->st, take_cb, &tk, err);
    if (rc != 0) {
        for (size_t i = 0; i < tk.count; i++) plow_buf_release(&tk.txs[i]);
        free(tk.txs);
        return plow_error_prefix(err, "mempool");
    }
    block_draft d;
    draft_init(&d, tk.count);
    double t_commit = 0;

    pthread_rwlock_wrlock(&n->state_lock);
    node_tip tip;
    node_tip_get(n, &tip);
    uint64_t now = node_now_ms();
    d.b.h.version = 1;
    d.b.h.height = tip.height + 1;
    d.b.h.time_ms = now > tip.time_ms ? now : tip.time_ms;
    memcpy(d.b.h.prev, tip.hash, 32);
    rc = ledger_begin_block(n->s, d.b.h.height, d.b.h.time_ms, err);
    if (rc != 0) {
        plow_error_prefix(err, "begin block");
        goto unlock;
    }
    draft_apply(n, &d, &tk);
    draft_seal(n, &d);
    double t1 = plow_now();
    rc = store_commit_block(n->st, &d.b, n->s, d.dropped, d.n_dropped, tk.count ? tk.last_seq : 0, err);
    t_commit = plow_now() - t1;
    if (rc != 0) {
        plow_error(err, "cannot commit block %llu: %.180s", (unsigned long long)d.b.h.height, err);
        goto unlock;
    }
    draft_publish(n, &d);
unlock:
    pthread_rwlock_unlock(&n->state_lock);
    if (rc == 0 && (d.b.n_txs || d.n_dropped)) {
        char extra[48] = "";
        if (d.n_dropped) snprintf(extra, sizeof extra, " (%zu dropped)", d.n_dropped);
        node_log(n, "block %llu: %u txs%s, commit %.1f ms, total %.1f ms", (unsigned long long)d.b.h.height,
                 d.b.n_txs, extra, t_commit * 1e3, (plow_now() - t0) * 1e3);
    }
    for (size_t i = 0; i < d.n_dropped && rc == 0; i++) {
        char hx[65];
        plow_hex(d.dropped[i].hash, 32, hx);
        node_log(n, "dropped %s: %s", hx, d.dropped[i].reason);
    }
    for (size_t i = 0; i < tk.count; i++) plow_buf_release(&tk.txs[i]);
    free(tk.txs);
    draft_free(&d);
    return rc;
}

static void *sequencer_main(void *arg) {
    node *n = arg;
    char err[PLOW_ERR_LEN];
    double next = plow_now();
    while (!atomic_load(&n->stopping)) {
        next += n->o.block_ms / 1000.0;
        double now = plow_now();
        if (next < now - n->o.block_ms / 1000.0) next = now; /* fell behind: no burst */
        pthread_mutex_lock(&n->ev_mu);
        while (!atomic_load(&n->stopping) && (now = plow_now()) < next) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double d = next - now;
            long ns = ts.tv_nsec + (long)((d - (double)(long)d) * 1e9);
            ts.tv_sec += (time_t)d + ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&n->ev_cond, &n->ev_mu, &ts);
        }
        pthread_mutex_unlock(&n->ev_mu);
        if (atomic_load(&n->stopping)) break;
        if (produce_block(n, err) != 0) {
            node_log_err(n, "%s", err);
            node_fail(n, "%s; the node stopped: restart it (it recovers from its database)", err);
            break;
        }
    }
    return NULL;
}

/* ---- opening ------------------------------------------------------------------------ */

static bool rebuild_cb(uint64_t seq, const uint8_t *bytes, size_t len, void *arg) {
    (void)seq;
    node *n = arg;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    char err[PLOW_ERR_LEN];
    if (ledger_tx_decode(tx, bytes, len, err) == 0) {
        uint8_t h[32];
        ledger_tx_hash(tx, h);
        if (!keytab_get(&n->pending, h)) {
            /* reserved as at admission, but never refused: it was acknowledged */
            const pending_sender *ps = keytab_get(&n->senders, tx->sender);
            uint64_t reserved = ps ? ps->spend : 0, avail = spendable(n, tx->sender);
            pending_add(n, h, tx->sender, tx->nonce, 0, reservation(tx, avail > reserved ? avail - reserved : 0));
        }
        if (tx->type == LEDGER_TX_VERDICT && n->has_key && memcmp(tx->sender, n->key.pk, 32) == 0)
            node_referee_note_verdict(n, tx, h);
    }
    free(tx);
    return true;
}

/* Where the genesis comes from: the data directory's copy (written on the
 * first start; its hash is the chain id the database was opened with), the
 * --genesis file, or the sequencer (a follower's first start). */
static int load_genesis(node *n, char err[PLOW_ERR_LEN]) {
    char *gpath = path_join(n->data_dir, "genesis.json");
    uint8_t *have = NULL, *given = NULL;
    size_t have_n = 0, given_n = 0;
    int rc = -1;
    if (plow_file_exists(gpath) && plow_read_file(gpath, GENESIS_MAX, &have, &have_n, err) != 0) goto out;
    if (n->o.genesis && plow_read_file(n->o.genesis, GENESIS_MAX, &given, &given_n, err) != 0) goto out;
    if (have && given && (have_n != given_n || memcmp(have, given, have_n) != 0)) {
        plow_error(err, "%s already holds another chain: --genesis %s is not its genesis (use another --data directory, or drop --genesis)",
                   n->data_dir, n->o.genesis);
        goto out;
    }
    if (have) {
        plow_buf_append(&n->genesis_bytes, have, have_n);
    } else if (given) {
        plow_buf_append(&n->genesis_bytes, given, given_n);
    } else if (n->follow) {
        if (node_follow_fetch_genesis(n->follow, &n->genesis_bytes, err) != 0) goto out;
    } else {
        char db[PLOW_ERR_LEN];
        snprintf(db, sizeof db, "%s/ledger.db", n->data_dir);
        if (plow_file_exists(db))
            plow_error(err, "%s is missing: start once with --genesis FILE (this chain's genesis)", gpath);
        else
            plow_error(err, "a new node needs --genesis FILE (make one with 'plow node init')");
        goto out;
    }
    if (ledger_genesis_parse(&n->genesis, n->genesis_bytes.data, n->genesis_bytes.len, err) != 0) {
        plow_error_prefix(err, have ? gpath : n->o.genesis ? n->o.genesis : "the sequencer's genesis");
        goto out;
    }
    if (!have && plow_write_file(gpath, n->genesis_bytes.data, n->genesis_bytes.len, err) != 0) goto out;
    rc = 0;
out:
    free(have);
    free(given);
    free(gpath);
    return rc;
}

static int load_state(node *n, char err[PLOW_ERR_LEN]) {
    n->s = ledger_state_new(&n->genesis);
    if (!n->s) return plow_error(err, "cannot build the genesis state");
    if (store_load_state(n->st, n->s, err) != 0) return plow_error_prefix(err, "loading the ledger state");
    uint64_t h;
    if (store_height(n->st, &h, err) != 0) return -1;
    node_tip t = {0};
    if (h == 0) {
        memcpy(t.hash, n->genesis.chain_id, 32);
        t.time_ms = n->genesis.time_ms;
        ledger_state_root(n->s, t.state_root);
    } else {
        ledger_block b = {0};
        if (store_get_block(n->st, h, &b, err) != 0)
            return plow_error(err, "block %llu is missing from the database: database damaged", (unsigned long long)h);
        uint8_t root[32];
        ledger_state_root(n->s, root);
        bool same = memcmp(root, b.h.state_root, 32) == 0 && ledger_state_height(n->s) == h;
        t.height = h;
        t.time_ms = b.h.time_ms;
        memcpy(t.hash, b.hash, 32);
        memcpy(t.state_root, b.h.state_root, 32);
        ledger_block_release(&b);
        if (!same)
            return plow_error(err, "ledger state does not match block %llu: database damaged (restore %s/ledger.db from a backup, or resync as a follower)",
                              (unsigned long long)h, n->data_dir);
    }
    n->tip = t;
    ledger_clear_dirty(n->s);
    return 0;
}

int node_open(node **out, const node_options *o, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (!o->data_dir || !*o->data_dir) return plow_error(err, "--data DIR is required");
    if (ledger_crypto_init(err) != 0) return -1;
    if (o->wasm && www_wasm_load(o->wasm, o->wasm_required, err) < 0) return -1;
    node *n = plow_calloc(1, sizeof *n);
    n->o = *o;
    n->data_dir = plow_strdup(o->data_dir);
    n->listen = plow_strdup(o->listen && *o->listen ? o->listen : "127.0.0.1:7545");
    n->follow = o->follow && *o->follow ? plow_strdup(o->follow) : NULL;
    if (n->follow) {
        size_t l = strlen(n->follow);
        while (l > 0 && n->follow[l - 1] == '/') n->follow[--l] = 0; /* "URL/" and "URL" alike */
    }
    if (!n->o.block_ms) n->o.block_ms = 500;
    if (!n->o.max_block_txs) n->o.max_block_txs = 20000;
    if (!n->o.max_blob) n->o.max_blob = BLOB_MAX_DEFAULT;
    if (!n->o.max_conns_per_ip) n->o.max_conns_per_ip = NODE_CONN_PER_IP_DEFAULT;
    if (!n->o.sse_max_s) n->o.sse_max_s = NODE_SSE_MAX_S_DEFAULT;
    if (!n->o.blob_per_unit) n->o.blob_per_unit = NODE_BLOB_PER_UNIT_DEFAULT;
    if (!n->o.disk_reserve) n->o.disk_reserve = NODE_DISK_RESERVE_DEFAULT;
    if (!n->o.blob_retention_s) n->o.blob_retention_s = NODE_BLOB_RETENTION_S_DEFAULT;
    if (!n->o.blob_gc_s) n->o.blob_gc_s = NODE_BLOB_GC_S_DEFAULT;
    pthread_mutex_init(&n->up_mu, NULL);
    keytab_init(&n->up_owner, sizeof(uint64_t));
    if (n->follow) n->o.referee = false;
    n->wake_pipe[0] = n->wake_pipe[1] = -1;
    node_rwlock_init(&n->state_lock);
    taskidx_init(&n->tasks);
    pthread_mutex_init(&n->adm_mu, NULL);
    pthread_mutex_init(&n->ev_mu, NULL);
    pthread_mutex_init(&n->fatal_mu, NULL);
    pthread_cond_init(&n->gc_cond, NULL);
    pthread_cond_init(&n->gc_work, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&n->ev_cond, &ca); /* CLOCK_REALTIME: timedwait takes wall-clock deadlines */
    pthread_condattr_destroy(&ca);
    keytab_init(&n->pending, sizeof(pending_tx));
    keytab_init(&n->senders, sizeof(pending_sender));
    keytab_init(&n->ruled, sizeof(ruled_challenge));
    n->mail = mailbox_new();
    n->gc_tail = &n->gc_head;

    char *db = NULL, *blobs = NULL;
    if (plow_mkdir_p(n->data_dir, err) != 0) goto fail;
    if (load_genesis(n, err) != 0) goto fail;
    if (!n->follow) {
        n->operator_key_path = o->operator_key && *o->operator_key ? plow_strdup(o->operator_key)
                                                                   : path_join(n->data_dir, "operator.key");
        if (ledger_key_load(&n->key, n->operator_key_path, err) != 0) {
            plow_error_prefix(err, n->operator_key_path);
            goto fail;
        }
        n->has_key = true;
        if (memcmp(n->key.pk, n->genesis.operator_pk, 32) != 0) {
            char a[LEDGER_ADDR_STR_LEN], b[LEDGER_ADDR_STR_LEN];
            ledger_addr_format(n->key.pk, a);
            ledger_addr_format(n->genesis.operator_pk, b);
            plow_error(err, "operator key %s (%s) is not this chain's operator (%s): a sequencer needs the genesis operator's key",
                       n->operator_key_path, a, b);
            goto fail;
        }
    }
    db = path_join(n->data_dir, "ledger.db");
    if (store_open(&n->st, db, n->genesis.chain_id, err) != 0) goto fail;
    plow_buf stored = {0};
    if (store_meta_get(n->st, "genesis", &stored, err) != 0) {
        if (store_meta_put(n->st, "genesis", n->genesis_bytes.data, n->genesis_bytes.len, err) != 0) goto fail;
    } else {
        bool same = stored.len == n->genesis_bytes.len && memcmp(stored.data, n->genesis_bytes.data, stored.len) == 0;
        plow_buf_release(&stored);
        if (!same) {
            plow_error(err, "the genesis stored in %s differs from %s/genesis.json: database damaged", db, n->data_dir);
            goto fail;
        }
    }
    blobs = path_join(n->data_dir, "blobs");
    if (blob_store_open(&n->blobs, blobs, n->o.max_blob, err) != 0) goto fail;
    if (load_state(n, err) != 0) goto fail;
    taskidx_load(&n->tasks, n->s);
    if (o->chain_rpc && *o->chain_rpc) {
        if (!o->chain_deployment || !*o->chain_deployment) {
            plow_error(err, "--chain needs --deployment FILE (plow deploy writes it)");
            goto fail;
        }
        if (!n->o.chain_poll_ms) n->o.chain_poll_ms = 500;
        if (evmwatch_open(&n->evm, n->data_dir, o->chain_rpc, o->chain_deployment, o->chain_confirmations, err))
            goto fail;
    }
    {
        char ierr[PLOW_ERR_LEN];
        if (chainidx_open(n, ierr) != 0) { /* derived data: the node runs without it */
            fprintf(stderr, "plow node: %s: the explorer's history and timelines are unavailable\n", ierr);
            chainidx_close(n);
        }
    }
    if (store_mempool_each(n->st, rebuild_cb, n, err) != 0) {
        plow_error_prefix(err, "reading the mempool");
        goto fail;
    }
    free(db);
    free(blobs);
    *out = n;
    return 0;
fail:
    free(db);
    free(blobs);
    node_close(n);
    return -1;
}

/* ---- running --------------------------------------------------------------------------- */

void node_stop(node *n) {
    if (!n) return;
    n->stop_flag = 1;
    if (n->wake_pipe[1] >= 0) {
        ssize_t w = write(n->wake_pipe[1], "s", 1);
        (void)w;
    }
}

static int write_url_file(node *n, char err[PLOW_ERR_LEN]) {
    char url[300];
    listen_url(n->listen, (unsigned)n->port, url, sizeof url - 1);
    strcat(url, "\n");
    char *p = path_join(n->data_dir, "node.url");
    int rc = plow_write_file(p, url, strlen(url), err);
    free(p);
    return rc;
}

int node_run(node *n, char err[PLOW_ERR_LEN]) {
    if (pipe2(n->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return plow_error(err, "pipe: %s", strerror(errno));
    if (n->stop_flag) return 0;
    pthread_t gc_t, block_t, ref_t, up_t, chain_t;
    bool gc_on = false, block_on = false, ref_on = false, up_on = false, chain_on = false;
    int rc = -1;
    if (pthread_create(&gc_t, NULL, gc_main, n) != 0) {
        plow_error(err, "cannot start a thread");
        goto stop;
    }
    gc_on = true;
    if (node_http_start(n, err) != 0) goto stop;
    if (write_url_file(n, err) != 0) goto stop;
    if (pthread_create(&block_t, NULL, n->follow ? node_follow_main : sequencer_main, n) != 0) {
        plow_error(err, "cannot start a thread");
        goto stop;
    }
    block_on = true;
    if (!n->follow && n->o.referee) {
        if (pthread_create(&ref_t, NULL, node_referee_main, n) != 0) {
            plow_error(err, "cannot start a thread");
            goto stop;
        }
        ref_on = true;
    }
    if (pthread_create(&up_t, NULL, node_upkeep_main, n) != 0) {
        plow_error(err, "cannot start a thread");
        goto stop;
    }
    up_on = true;
    if (n->evm) {
        if (pthread_create(&chain_t, NULL, node_evmwatch_main, n) != 0) {
            plow_error(err, "cannot start a thread");
            goto stop;
        }
        chain_on = true;
    }
    if (chainidx_start(n, err) != 0) goto stop;
    {
        node_tip t;
        node_tip_get(n, &t);
        char h[65];
        plow_hex(t.state_root, 32, h);
        node_log(n, "%s of chain '%s' at height %llu (state %.16s…), %zu pending; listening on port %u",
                 n->follow ? "follower" : "sequencer", n->genesis.chain, (unsigned long long)t.height, h,
                 node_mempool_size(n), (unsigned)n->port);
        if (n->follow) node_log(n, "following %s", n->follow);
        if (n->evm) {
            evmwatch_status cs;
            evmwatch_get_status(n->evm, &cs);
            node_log(n, "indexing plow's contracts on EVM chain %" PRIu64 " from block %" PRIu64 " (%zu tasks indexed, %u confirmations)",
                     cs.evm_chain_id, cs.indexed + 1, cs.tasks, cs.confirmations);
        }
    }
    rc = 0;
    while (!n->stop_flag && !atomic_load(&n->has_fatal)) {
        struct pollfd pf = {.fd = n->wake_pipe[0], .events = POLLIN};
        poll(&pf, 1, 1000);
        char buf[64];
        while (read(n->wake_pipe[0], buf, sizeof buf) > 0) {
        }
    }
stop:
    atomic_store(&n->stopping, true);
    pthread_mutex_lock(&n->ev_mu);
    pthread_cond_broadcast(&n->ev_cond);
    pthread_mutex_unlock(&n->ev_mu);
    if (block_on) pthread_join(block_t, NULL);
    if (ref_on) pthread_join(ref_t, NULL);
    if (up_on) pthread_join(up_t, NULL);
    if (chain_on) pthread_join(chain_t, NULL);
    chainidx_join(n);
    node_http_stop(n);
    if (gc_on) {
        pthread_mutex_lock(&n->adm_mu);
        atomic_store(&n->gc_stop, true);
        pthread_cond_broadcast(&n->gc_work);
        pthread_mutex_unlock(&n->adm_mu);
        pthread_join(gc_t, NULL);
    }
    if (atomic_load(&n->has_fatal)) {
        snprintf(err, PLOW_ERR_LEN, "%s", n->fatal);
        rc = -1;
    }
    if (rc == 0) node_log(n, "stopped cleanly");
    return rc;
}

bool node_diverged(const node *n) { return n && n->diverged; }

void node_close(node *n) {
    if (!n) return;
    while (n->gc_head) {
        gc_item *next = n->gc_head->next;
        plow_buf_release(&n->gc_head->tx);
        free(n->gc_head);
        n->gc_head = next;
    }
    if (n->s) ledger_state_free(n->s);
    if (n->st) store_close(n->st);
    if (n->blobs) blob_store_close(n->blobs);
    ledger_genesis_release(&n->genesis);
    plow_buf_release(&n->genesis_bytes);
    ledger_key_wipe(&n->key);
    keytab_release(&n->pending);
    keytab_release(&n->senders);
    keytab_release(&n->ruled);
    keytab_release(&n->up_owner);
    pthread_mutex_destroy(&n->up_mu);
    taskidx_release(&n->tasks);
    mailbox_free(n->mail);
    evmwatch_close(n->evm);
    chainidx_close(n);
    for (int i = 0; i < 2; i++)
        if (n->wake_pipe[i] >= 0) close(n->wake_pipe[i]);
    pthread_rwlock_destroy(&n->state_lock);
    pthread_mutex_destroy(&n->adm_mu);
    pthread_mutex_destroy(&n->ev_mu);
    pthread_mutex_destroy(&n->fatal_mu);
    pthread_cond_destroy(&n->gc_cond);
    pthread_cond_destroy(&n->gc_work);
    pthread_cond_destroy(&n->ev_cond);
    free(n->data_dir);
    free(n->listen);
    free(n->follow);
    free(n->operator_key_path);
    free(n);
}
