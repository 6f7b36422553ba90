/*
 * taskidx.c — the node's index of tasks for GET /v1/tasks: its own copy of
 * every task, ordered newest first, behind its own lock, so listing never
 * takes the state lock the sequencer writes under.
 *
 * Why: the listing used to copy every task under state_lock (a reader-
 * preferring rwlock) and sort them; with 20,000 tasks, 16 clients polling
 * kept a reader inside at all times and the sequencer waited 20 s for its
 * write lock. Now:
 *   - the writer (sequencer or follower), once a block is committed, copies
 *     the tasks that block changed (ledger_each_dirty: a handful) into the
 *     index under the index's write lock: O(tasks changed), not O(tasks);
 *   - a listing takes the index's read lock, walks from its cursor, copies
 *     at most `limit` matching tasks and stops after TASKIDX_SCAN_MAX entries
 *     whatever matched (then it returns a cursor to go on from): a request
 *     costs a bounded amount of work;
 *   - both locks prefer writers, so a stream of readers cannot hold off the
 *     writer: it waits for the readers already inside, never for new ones.
 *
 * Order: (posted_at, id) descending — newest first; tasks are never deleted
 * and their key never changes, so a cursor (the key of the last entry seen)
 * stays valid forever and pages never skip or repeat a task.
 */
#include "../base/plow.h"

#include <pthread.h>

#include "node_internal.h"

void taskidx_init(taskidx *x) {
    memset(x, 0, sizeof *x);
    node_rwlock_init(&x->lock);
    keytab_init(&x->pos, sizeof(size_t));
}

void taskidx_release(taskidx *x) {
    for (size_t i = 0; i < x->n; i++) free(x->e[i].t);
    free(x->e);
    keytab_release(&x->pos);
    pthread_rwlock_destroy(&x->lock);
    memset(x, 0, sizeof *x);
}

void node_rwlock_init(pthread_rwlock_t *l) {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* glibc: a waiting writer blocks new readers (readers must not take it twice) */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(l, &a);
    pthread_rwlockattr_destroy(&a);
}

/* The height the task waits for next (ledger_task_deadline). */
uint64_t taskidx_deadline(const ledger_task *t) { return ledger_task_deadline(t); }

/* -1 if a comes before b in the listing (newer, or same block and larger id). */
static int key_cmp(uint64_t pa, const uint8_t *ia, uint64_t pb, const uint8_t *ib) {
    if (pa != pb) return pa > pb ? -1 : 1;
    return -memcmp(ia, ib, 32);
}

/* The array is kept oldest first (a block's new tasks are appended), the
 * reverse of the listing order: a listing walks it from the end. */
static int ent_cmp(const void *a, const void *b) {
    const taskidx_ent *x = a, *y = b;
    return -key_cmp(x->posted_at, x->id, y->posted_at, y->id);
}

static void ent_fill(taskidx_ent *e, const ledger_task *t) {
    e->posted_at = t->posted_at;
    memcpy(e->id, t->id, 32);
    e->status = t->status;
    e->kind = t->p.kind;
    e->reward = t->p.reward;
    e->deadline = taskidx_deadline(t);
    *e->t = *t;
}

static void put_locked(taskidx *x, const ledger_task *ts, size_t count);

void taskidx_put_many(taskidx *x, const ledger_task *ts, size_t count) {
    if (!count) return;
    pthread_rwlock_wrlock(&x->lock);
    put_locked(x, ts, count);
    pthread_rwlock_unlock(&x->lock);
}

/* Every entry dropped, then ts: a chain index after a reorg (chain_index.c),
 * where tasks can disappear. A cursor stays a key: a listing goes on from it. */
void taskidx_replace(taskidx *x, const ledger_task *ts, size_t count) {
    pthread_rwlock_wrlock(&x->lock);
    for (size_t i = 0; i < x->n; i++) free(x->e[i].t);
    x->n = 0;
    keytab_release(&x->pos);
    keytab_init(&x->pos, sizeof(size_t));
    put_locked(x, ts, count);
    pthread_rwlock_unlock(&x->lock);
}

static void put_locked(taskidx *x, const ledger_task *ts, size_t count) {
    bool sorted = true;
    for (size_t i = 0; i < count; i++) {
        size_t *p = keytab_get(&x->pos, ts[i].id);
        if (p) {
            ent_fill(&x->e[*p], &ts[i]);
            continue;
        }
        if (x->n == x->cap) {
            x->cap = x->cap ? x->cap * 2 : 1024;
            x->e = plow_realloc(x->e, x->cap * sizeof *x->e);
        }
        taskidx_ent *e = &x->e[x->n];
        e->t = plow_alloc(sizeof *e->t);
        ent_fill(e, &ts[i]);
        if (x->n && ent_cmp(&x->e[x->n - 1], e) > 0) sorted = false;
        *(size_t *)keytab_put(&x->pos, e->id, NULL) = x->n;
        x->n++;
    }
    if (!sorted) { /* a block's new tasks, or the load at start: sort, renumber */
        qsort(x->e, x->n, sizeof *x->e, ent_cmp);
        for (size_t i = 0; i < x->n; i++) *(size_t *)keytab_put(&x->pos, x->e[i].id, NULL) = i;
    }
}

typedef struct dirty_ids {
    uint8_t *ids;
    size_t n, cap;
} dirty_ids;

static void dirty_cb(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, void *arg) {
    (void)val;
    (void)vlen;
    dirty_ids *d = arg;
    if (klen != 33 || key[0] != 't') return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->ids = plow_realloc(d->ids, d->cap * 32);
    }
    memcpy(d->ids + 32 * d->n++, key + 1, 32);
}

void taskidx_update(taskidx *x, const ledger_state *s) {
    dirty_ids d = {0};
    ledger_each_dirty(s, dirty_cb, &d);
    ledger_task *ts = d.n ? plow_alloc(d.n * sizeof *ts) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < d.n; i++)
        if (ledger_get_task(s, d.ids + 32 * i, &ts[k])) k++;
    taskidx_put_many(x, ts, k);
    free(ts);
    free(d.ids);
}

typedef struct load_ctx {
    ledger_task *t;
    size_t n, cap;
} load_ctx;

static bool load_cb(const ledger_task *t, void *arg) {
    load_ctx *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->t = plow_realloc(l->t, l->cap * sizeof *l->t);
    }
    l->t[l->n++] = *t;
    return true;
}

void taskidx_load(taskidx *x, const ledger_state *s) {
    load_ctx l = {0};
    ledger_each_task(s, load_cb, &l);
    taskidx_put_many(x, l.t, l.n);
    free(l.t);
}

/* ---- queries ------------------------------------------------------------------------- */


void taskq_cursor_format(uint64_t posted_at, const uint8_t id[32], char out[TASKQ_CURSOR_LEN]) {
    char hx[65];
    plow_hex(id, 32, hx);
    snprintf(out, TASKQ_CURSOR_LEN, "%llu-%s", (unsigned long long)posted_at, hx);
}

int taskq_cursor_parse(const char *s, uint64_t *posted_at, uint8_t id[32]) {
    const char *dash = s ? strchr(s, '-') : NULL;
    if (!dash || dash == s || dash - s > 20 || strlen(dash + 1) != 64) return -1;
    char num[21];
    memcpy(num, s, (size_t)(dash - s));
    num[dash - s] = 0;
    if (!plow_parse_u64(num, posted_at)) return -1;
    for (const char *p = dash + 1; *p; p++) /* lowercase only: one spelling per cursor */
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return -1;
    return plow_unhex(dash + 1, id, 32) == 0 ? 0 : -1;
}

static int status_of(const char *name, size_t len) {
    for (int s = 1; s < LEDGER_TASK_STATUS_END; s++) {
        const char *nm = ledger_task_status_name(s);
        if (strlen(nm) == len && memcmp(nm, name, len) == 0) return s;
    }
    return 0;
}

int taskq_parse(taskq *q, const char *(*arg)(void *ctx, const char *key), void *ctx, char err[PLOW_ERR_LEN]) {
    memset(q, 0, sizeof *q);
    q->limit = 100;
    q->max_reward = UINT64_MAX;
    const char *a = arg(ctx, "status");
    if (a) {
        const char *p = a;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            int s = status_of(p, len);
            if (!s) {
                char names[256] = "";
                for (int k = 1; k < LEDGER_TASK_STATUS_END; k++) {
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%s%s", k > 1 ? ", " : "", ledger_task_status_name(k));
                }
                return plow_error(err, "status=%.40s: expected one of %s (several: comma-separated)", a, names);
            }
            q->statuses |= 1u << s;
            if (!c) break;
            p = c + 1;
        }
    }
    a = arg(ctx, "kind");
    if (a) {
        for (int k = 1; k < LEDGER_KIND_END && !q->kind; k++)
            if (strcmp(a, ledger_kind_name(k)) == 0) q->kind = k;
        if (!q->kind) return plow_error(err, "kind=%.40s: not a task kind", a);
    }
    a = arg(ctx, "limit");
    uint64_t v;
    if (a) {
        if (!plow_parse_u64(a, &v) || v < 1 || v > TASKQ_LIMIT_MAX)
            return plow_error(err, "limit=%.40s: expected 1..%d", a, TASKQ_LIMIT_MAX);
        q->limit = (uint32_t)v;
    }
    if ((a = arg(ctx, "min_reward")) && !plow_parse_u64(a, &q->min_reward))
        return plow_error(err, "min_reward=%.40s: expected a number", a);
    if ((a = arg(ctx, "max_reward")) && !plow_parse_u64(a, &q->max_reward))
        return plow_error(err, "max_reward=%.40s: expected a number", a);
    if ((a = arg(ctx, "deadline_from"))) {
        if (!plow_parse_u64(a, &q->deadline_from)) return plow_error(err, "deadline_from=%.40s: expected a height", a);
        q->has_deadline = true;
    }
    if ((a = arg(ctx, "addr"))) {
        char e[PLOW_ERR_LEN];
        if (ledger_addr_parse(a, q->addr, e) != 0) return plow_error(err, "addr=%.80s: %s", a, e);
        q->has_addr = true;
    }
    if ((a = arg(ctx, "cursor"))) {
        if (taskq_cursor_parse(a, &q->cur_posted, q->cur_id) != 0)
            return plow_error(err, "cursor=%.80s: not a cursor (pass back the \"next\" of the previous page)", a);
        q->has_cursor = true;
    }
    return 0;
}

static bool concerns(const ledger_task *t, const uint8_t addr[32]) {
    if (memcmp(t->requester, addr, 32) == 0) return true;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].status != LEDGER_SLOT_EMPTY && memcmp(t->slots[s].worker, addr, 32) == 0) return true;
    return false;
}

static bool matches(const taskq *q, const taskidx_ent *e) {
    if (q->statuses && !(q->statuses & (1u << e->status))) return false;
    if (q->kind && e->kind != q->kind) return false;
    if (e->reward < q->min_reward || e->reward > q->max_reward) return false;
    if (q->has_deadline && (e->deadline == 0 || e->deadline < q->deadline_from)) return false;
    if (q->has_addr && !concerns(e->t, q->addr)) return false;
    return true;
}

size_t taskidx_page(taskidx *x, const taskq *q, size_t scan_max, ledger_task **out, bool *more,
                    char next[TASKQ_CURSOR_LEN]) {
    *out = plow_alloc((q->limit ? q->limit : 1) * sizeof **out);
    *more = false;
    next[0] = 0;
    size_t got = 0;
    pthread_rwlock_rdlock(&x->lock);
    size_t i = x->n; /* entries [0, i) are still to list, from i-1 down */
    if (q->has_cursor) { /* those after the cursor in the listing: before it in the array */
        size_t lo = 0, hi = x->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (key_cmp(x->e[mid].posted_at, x->e[mid].id, q->cur_posted, q->cur_id) > 0) lo = mid + 1;
            else hi = mid;
        }
        i = lo;
    }
    size_t scanned = 0;
    for (; i > 0; i--) {
        if (got == q->limit || scanned == scan_max) {
            *more = true;
            break;
        }
        scanned++;
        if (matches(q, &x->e[i - 1])) (*out)[got++] = *x->e[i - 1].t;
    }
    if (*more) taskq_cursor_format(x->e[i].posted_at, x->e[i].id, next);
    pthread_rwlock_unlock(&x->lock);
    return got;
}
