/*
 * labeler.c — the labeler agent (labeler.h): reading a label task and its
 * reveals back from a node, simulated labelers, and the agent loop. Its files
 * are labeler_files.c; the items, labeled text and the naive Bayes classifier
 * it labels with are the label module's (src/label).
 *
 * The agent follows the ledger's phases (docs/ledger.md, "Labeling"): it
 * claims a slot of an open label task it can label, labels the slot's items
 * (ledger_label_slot_items), writes its labels and a random salt to
 * WORK/tasks/ID.json (0600) BEFORE it commits, commits
 * ledger_label_commitment as the slot's trace_root, and reveals once the
 * rules allow (every slot committed, or nobody can commit any more) and
 * before window_end. After finalize it logs its pay or its slash. A restart
 * reads the ledger and its state file and carries on from there.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../label/label.h"
#include "../client/client.h"
#include "../tensor/tensor.h"
#include "agent.h"
#include "labeler.h"

/* ---- simulated labelers ------------------------------------------------------------------------ */

uint32_t labeler_sim_label(labeler_mode mode, double p, uint64_t seed, const char *text, uint32_t truth,
                           uint32_t n_classes) {
    uint8_t h[32];
    plow_sha256_once(text, strlen(text), h);
    uint64_t id = plow_get_u64(h);
    if (mode != LABELER_ACCURACY || truth >= n_classes) return (uint32_t)(label_hash64(seed, 3, id, 0) % n_classes);
    if ((double)(label_hash64(seed, 1, id, 0) >> 11) < p * 9007199254740992.0) return truth;
    uint32_t o = (uint32_t)(label_hash64(seed, 2, id, 0) % (n_classes - 1));
    return o >= truth ? o + 1 : o;
}

/* ---- reading the node ------------------------------------------------------------------------------ */

int labeler_slot_of(const ledger_task *t, const uint8_t pk[LEDGER_PK_LEN]) {
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].status != LEDGER_SLOT_EMPTY && memcmp(t->slots[s].worker, pk, LEDGER_PK_LEN) == 0) return s;
    return -1;
}

/* A blob of at most max bytes, sized (HEAD) before a byte arrives: -1 it is
 * absent or larger (the task does not check out), -2 the node did not answer. */
static int fetch_bounded(client *c, const uint8_t hash[32], uint64_t max, const char *what, uint8_t **buf,
                         size_t *n, char err[PLOW_ERR_LEN]) {
    bool has;
    uint64_t size;
    if (client_blob_size(c, hash, &has, &size, err)) return plow_error_prefix(err, what), -2;
    if (!has) return plow_error(err, "%s is not on the node", what), -1;
    if (size > max) return plow_error(err, "%s is %" PRIu64 " bytes, more than %" PRIu64, what, size, max), -1;
    if (client_blob_get_max(c, hash, max, buf, n, err)) return plow_error_prefix(err, what), -2;
    return 0;
}

int labeler_fetch_task_max(client *c, const ledger_task *t, job_spec *spec, label_items *items, uint64_t max_items,
                           char err[PLOW_ERR_LEN]) {
    char id[17];
    plow_hex(t->id, 8, id);
    if (items) memset(items, 0, sizeof *items);
    if (t->p.kind != LEDGER_KIND_LABEL)
        return plow_error(err, "task %s is a %s task, not a label task", id, ledger_kind_name(t->p.kind));
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = fetch_bounded(c, t->p.spec, JOB_SPEC_MAX, "the task's spec", &buf, &n, err);
    if (rc) return rc;
    rc = job_spec_parse(spec, buf, n, err);
    free(buf);
    if (rc) return plow_error_prefix(err, "the task's spec");
    if (spec->kind != TASK_LABEL) return plow_error(err, "task %s: its spec is not a label spec", id);
    if (spec->n_items != t->p.steps)
        return plow_error(err, "task %s: its spec has %u items, the task %" PRIu64, id, spec->n_items, t->p.steps);
    if (spec->n_classes != t->p.n_classes)
        return plow_error(err, "task %s: its spec has %u classes, the task %u", id, spec->n_classes, t->p.n_classes);
    if (!items) return 0;
    /* no more bytes than n_items lines of the longest text could take (every
     * byte escaped as \u00XX, and the line's {"text":""}) */
    uint64_t most = (uint64_t)spec->n_items * (6ull * LABEL_TEXT_MAX + 16);
    if (max_items > most) max_items = most;
    rc = fetch_bounded(c, spec->items, max_items, "the task's items", &buf, &n, err);
    if (rc) return rc;
    rc = label_items_parse(items, buf, n, "the task's items", err);
    free(buf);
    if (rc) return -1;
    if (items->n != spec->n_items) {
        size_t got = items->n;
        label_items_release(items);
        return plow_error(err, "task %s: its items blob has %zu items, its spec says %u", id, got, spec->n_items);
    }
    return 0;
}

int labeler_fetch_task(client *c, const ledger_task *t, job_spec *spec, label_items *items, char err[PLOW_ERR_LEN]) {
    return labeler_fetch_task_max(c, t, spec, items, LABEL_FILE_MAX, err);
}

void labeler_reveals_release(labeler_reveals *r) {
    for (int s = 0; s < LEDGER_MAX_REPLICAS; s++) free(r->slot[s]);
    free(r->gold);
    memset(r, 0, sizeof *r);
}

static void take_tx(const ledger_task *t, const ledger_tx *tx, labeler_reveals *r) {
    if (tx->type == LEDGER_TX_LABEL_REVEAL && memcmp(tx->u.reveal.task, t->id, 32) == 0) {
        int s = labeler_slot_of(t, tx->sender);
        if (s < 0 || r->slot[s] || tx->u.reveal.count > LEDGER_LABELS_MAX) return;
        ledger_labels *l = plow_calloc(1, sizeof *l);
        memcpy(l->task, t->id, 32);
        l->slot = (uint8_t)s;
        l->count = tx->u.reveal.count;
        memcpy(l->labels, tx->u.reveal.labels, l->count);
        memcpy(r->salt[s], tx->u.reveal.salt, 32);
        r->slot[s] = l;
    } else if (tx->type == LEDGER_TX_GOLD_REVEAL && memcmp(tx->u.gold.task, t->id, 32) == 0 &&
               memcmp(tx->sender, t->requester, 32) == 0 && !r->gold && tx->u.gold.count <= LEDGER_GOLD_MAX) {
        ledger_gold *g = plow_calloc(1, sizeof *g);
        memcpy(g->task, t->id, 32);
        g->count = tx->u.gold.count;
        memcpy(g->items, tx->u.gold.items, g->count * sizeof *g->items);
        memcpy(g->labels, tx->u.gold.labels, g->count);
        r->gold = g;
    }
}

int labeler_fetch_reveals(client *c, const ledger_task *t, labeler_reveals *r, char err[PLOW_ERR_LEN]) {
    memset(r, 0, sizeof *r);
    uint64_t height;
    if (client_height(c, &height, err)) return -1;
    r->scanned_to = height;
    if (t->p.kind != LEDGER_KIND_LABEL || t->window_end == 0) return 0; /* nothing committed: nothing revealed */
    /* no reveal comes before the first commit (the slots' committed_at stay
     * through finalize, when ledger_label_reveal_from no longer applies) */
    uint64_t from = UINT64_MAX, to = t->window_end + t->p.window_blocks;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].committed_at && t->slots[s].committed_at < from) from = t->slots[s].committed_at;
    if (to < t->window_end) to = UINT64_MAX;
    if (from == UINT64_MAX || from <= t->posted_at) from = t->posted_at + 1;
    if (to > height) to = height;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    int rc = -1;
    for (uint64_t h = from; h <= to;) {
        uint64_t lim = to - h + 1 < 100 ? to - h + 1 : 100;
        char path[96];
        snprintf(path, sizeof path, "/v1/blocks?from=%" PRIu64 "&limit=%" PRIu64, h, lim);
        cJSON *j = NULL;
        if (client_get_json(c, path, &j, err)) goto out;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "blocks"), *bj;
        uint64_t last = 0;
        int got = 0;
        cJSON_ArrayForEach(bj, arr) {
            ledger_block b;
            if (json_block_from(bj, &b, err)) {
                cJSON_Delete(j);
                plow_error_prefix(err, "a block from the node");
                goto out;
            }
            last = b.h.height;
            got++;
            for (uint32_t i = 0; i < b.n_txs && b.h.height <= to; i++) {
                if (b.results[i] != LEDGER_TX_OK) continue;
                char e[PLOW_ERR_LEN];
                if (ledger_tx_decode(tx, b.txs[i].data, b.txs[i].len, e) == 0) take_tx(t, tx, r);
            }
            ledger_block_release(&b);
        }
        cJSON_Delete(j);
        if (!got || last < h) {
            plow_error(err, "the node returned no block %" PRIu64 " (its height is %" PRIu64 ")", h, height);
            goto out;
        }
        h = last + 1;
    }
    r->scanned_to = to;
    rc = 0;
out:
    free(tx);
    if (rc) labeler_reveals_release(r);
    return rc;
}

/* ---- the agent ---------------------------------------------------------------------------------------- */

void labeler_options_default(labeler_options *o) {
    memset(o, 0, sizeof *o);
    o->name = "labeler";
    o->node = AGENT_DEFAULT_NODE;
    o->mode = LABELER_MODEL;
    o->smoothing = 1;
    o->seed = 1;
    o->max_stake = UINT64_MAX;
    o->poll_s = 0.5;
}

#define LB_SEEN_MAX 256
#define LB_CACHE 8

typedef struct lb_seen {
    uint8_t id[32];
    bool done;      /* nothing more to do until it settles */
    bool mine;      /* this key holds (or held) a slot: report the settlement */
    bool settled;   /* reported */
    uint8_t why[32];
} lb_seen;

/* A task's spec and, once fetched, its items. The items of all entries hold
 * at most the labeler's item budget (bytes, counted as the blob plus a
 * pointer and an allocation per item); the least recently used go first. */
typedef struct lb_cache {
    uint8_t id[32];
    bool used;      /* the entry holds a task */
    job_spec spec;
    label_items items;
    bool has_items;
    uint64_t bytes; /* what the items hold */
    uint64_t tick;  /* last use */
} lb_cache;

typedef struct labeler {
    agent a;
    const labeler_options *o;
    label_nb *nb;
    label_truth truth;
    bool registered;
    lb_seen seen[LB_SEEN_MAX];
    int n_seen;
    lb_cache cache[LB_CACHE];
    uint64_t tick, cache_bytes, budget;
    job_limits limits; /* this machine's (agent_limits) */
    int settled;
} labeler;

static lb_seen *seen_get(labeler *L, const uint8_t id[32], bool create) {
    for (int i = 0; i < L->n_seen; i++)
        if (memcmp(L->seen[i].id, id, 32) == 0) return &L->seen[i];
    if (!create) return NULL;
    if (L->n_seen == LB_SEEN_MAX) {
        /* forget the oldest settled or foreign task first */
        int k = 0;
        while (k < L->n_seen && L->seen[k].mine && !L->seen[k].settled) k++;
        if (k == L->n_seen) k = 0;
        memmove(&L->seen[k], &L->seen[k + 1], (size_t)(LB_SEEN_MAX - 1 - k) * sizeof L->seen[0]);
        L->n_seen--;
    }
    lb_seen *s = &L->seen[L->n_seen++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, 32);
    return s;
}

/* Logs why (once per task and reason). */
static void note(labeler *L, const uint8_t id[32], const char *fmt, ...) PLOW_PRINTF(3, 4);
static void note(labeler *L, const uint8_t id[32], const char *fmt, ...) {
    char line[PLOW_ERR_LEN * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lb_seen *s = seen_get(L, id, true);
    uint8_t h[32];
    plow_sha256_once(line, strlen(line), h);
    if (memcmp(h, s->why, 32) == 0) return;
    memcpy(s->why, h, 32);
    agent_log(&L->a, "%s", line);
}

static void state_path(const labeler *L, const uint8_t id[32], char *out, size_t n) {
    char hex[65];
    plow_hex(id, 32, hex);
    snprintf(out, n, "%s/tasks/%s.json", L->a.work, hex);
}

static const char *mode_name(const labeler_options *o) {
    switch (o->mode) {
    case LABELER_MODEL: return "model";
    case LABELER_ACCURACY: return "accuracy";
    case LABELER_SPAM: return "spam";
    case LABELER_COPY: return "copy";
    }
    return "?";
}

static void cache_drop(labeler *L, lb_cache *e) {
    label_items_release(&e->items);
    L->cache_bytes -= e->bytes;
    memset(e, 0, sizeof *e);
}

/* Room for `bytes` more item bytes: drops the least recently used items (never keep's). */
static void cache_make_room(labeler *L, uint64_t bytes, const lb_cache *keep) {
    while (L->cache_bytes + bytes > L->budget) {
        lb_cache *old = NULL;
        for (int i = 0; i < LB_CACHE; i++)
            if (L->cache[i].used && L->cache[i].has_items && &L->cache[i] != keep &&
                (!old || L->cache[i].tick < old->tick))
                old = &L->cache[i];
        if (!old) return;
        char id[12];
        agent_short(old->id, id);
        uint64_t freed = old->bytes;
        cache_drop(L, old);
        agent_log(&L->a, "task %s: its items (%" PRIu64 " bytes) dropped from memory, least recently used (%" PRIu64
                         " of the %" PRIu64 "-byte item budget held, %" PRIu64 " more wanted)",
                  id, freed, L->cache_bytes, L->budget, bytes);
    }
}

/* Sets t aside for good (kept across restarts, WORK/refused): its spec or
 * items do not check out, or it cannot be labeled within this machine's
 * limits and the item budget. */
static void refuse(labeler *L, const uint8_t id[32], const char *why) {
    agent_refuse(&L->a, id, why);
    seen_get(L, id, true)->done = true;
}

/* The spec and (need_items) items of t, cached; NULL with err if they cannot
 * be had now, and *bad when they never will (the task is then refused).
 * Before the items are fetched the task is probed (job_probe: the items
 * blob's size from the node, the memory it takes against this machine) and
 * its items' size held against the item budget; the fetch is bounded by it. */
static lb_cache *task_data(labeler *L, const ledger_task *t, bool need_items, bool *bad, char err[PLOW_ERR_LEN]) {
    *bad = false;
    lb_cache *e = NULL;
    for (int i = 0; i < LB_CACHE; i++)
        if (L->cache[i].used && memcmp(L->cache[i].id, t->id, 32) == 0) e = &L->cache[i];
    if (!e) {
        for (int i = 0; i < LB_CACHE && !e; i++)
            if (!L->cache[i].used) e = &L->cache[i];
        for (int i = 0; i < LB_CACHE && !e; i++)
            if (!L->cache[i].has_items) e = &L->cache[i];
        if (!e) {
            e = &L->cache[0];
            for (int i = 1; i < LB_CACHE; i++)
                if (L->cache[i].tick < e->tick) e = &L->cache[i];
        }
        cache_drop(L, e);
        char e2[PLOW_ERR_LEN];
        int rc = labeler_fetch_task_max(L->a.c, t, &e->spec, NULL, 0, e2);
        if (rc) {
            *bad = rc == -1;
            return plow_error(err, "%s", e2), NULL;
        }
        memcpy(e->id, t->id, 32);
        e->used = true;
    }
    e->tick = ++L->tick;
    if (e->has_items || !need_items) return e;
    job_cost cost;
    char e2[PLOW_ERR_LEN];
    int rc = agent_probe(&L->a, t, &e->spec, &L->limits, true, &cost, e2);
    if (rc) {
        *bad = rc > 0;
        return plow_error(err, "%s", e2), NULL;
    }
    if (cost.input_bytes > L->budget) {
        *bad = true;
        return plow_error(err, "its items are %" PRIu64 " bytes, more than my item budget (%" PRIu64 ")",
                          cost.input_bytes, L->budget),
               NULL;
    }
    cache_make_room(L, cost.input_bytes, e);
    job_spec spec;
    rc = labeler_fetch_task_max(L->a.c, t, &spec, &e->items, cost.input_bytes, e2);
    if (rc) {
        *bad = rc == -1;
        return plow_error(err, "%s", e2), NULL;
    }
    e->has_items = true;
    e->bytes = cost.input_bytes + (uint64_t)e->items.n * 64;
    L->cache_bytes += e->bytes;
    cache_make_room(L, 0, e); /* the per-item part */
    return e;
}

/* This labeler's answers to the items of slot s. */
static int label_slot(labeler *L, const ledger_task *t, const lb_cache *d, uint32_t s, labeler_state *st,
                       char err[PLOW_ERR_LEN]) {
    uint32_t *idx = plow_alloc(LEDGER_LABELS_MAX * sizeof *idx);
    uint64_t cnt = ledger_label_slot_items(t->p.steps, t->p.replicas, t->p.redundancy, s, idx, LEDGER_LABELS_MAX);
    if (cnt > LEDGER_LABELS_MAX) {
        free(idx);
        return plow_error(err, "slot %u has %" PRIu64 " items, more than one reveal carries", s, cnt);
    }
    int map[LEDGER_LABEL_CLASSES_MAX];
    if (L->o->mode == LABELER_MODEL && labeler_nb_map_spec(L->nb, &d->spec, map, err)) {
        free(idx);
        return -1;
    }
    uint32_t unknown = 0;
    for (uint64_t j = 0; j < cnt; j++) {
        const char *text = d->items.text[idx[j]];
        uint32_t y;
        if (L->o->mode == LABELER_MODEL) y = label_nb_classify(L->nb, map, d->spec.n_classes, text);
        else {
            uint32_t truth = UINT32_MAX;
            if (L->o->mode == LABELER_ACCURACY) {
                const char *name = label_truth_find(&L->truth, text);
                int k = name ? labeler_class_index(&d->spec, name) : -1;
                if (k >= 0) truth = (uint32_t)k;
                else unknown++;
            }
            y = labeler_sim_label(L->o->mode, L->o->accuracy, L->o->seed, text, truth, d->spec.n_classes);
        }
        st->labels[j] = (uint8_t)y;
    }
    st->count = (uint32_t)cnt;
    free(idx);
    if (unknown) {
        char id[12];
        agent_short(t->id, id);
        agent_log(&L->a, "task %s: %u of my %u items are not in my truth file: answered at random", id, unknown,
                  st->count);
    }
    return 0;
}

/* Sends tx; a refusal by the ledger is logged and ends this task for us (1). */
static int send_or_refused(labeler *L, ledger_tx *tx, const uint8_t id[32], const char *what, uint64_t *height,
                           char err[PLOW_ERR_LEN]) {
    char e[PLOW_ERR_LEN], sid[12];
    agent_short(id, sid);
    if (agent_send_at(&L->a, tx, NULL, height, e)) {
        if (agent_refused(e)) {
            agent_log(&L->a, "task %s: %s refused: %s", sid, what, e);
            return 1;
        }
        return plow_error(err, "%s: %s", what, e);
    }
    return 0;
}

static int do_commit(labeler *L, const ledger_task *t, uint32_t s, uint64_t height, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 128], id[12];
    state_path(L, t->id, path, sizeof path);
    agent_short(t->id, id);
    const ledger_slot *sl = &t->slots[s];
    uint64_t deadline = sl->claimed_at + t->p.work_blocks;
    if (height + 1 > deadline) {
        agent_log(&L->a, "task %s: the commit deadline (block %" PRIu64 ") has passed; the rules forfeit slot %u", id,
                  deadline, s);
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    labeler_state *st = plow_calloc(1, sizeof *st);
    char e[PLOW_ERR_LEN];
    int rc = -1;
    bool have = plow_file_exists(path) && labeler_state_read(path, st, e) == 0 && memcmp(st->task, t->id, 32) == 0 &&
                memcmp(st->labeler, L->a.key.pk, 32) == 0 && st->slot == s;
    if (have) {
        agent_log(&L->a, "task %s: labels kept from before a restart; committing them", id);
    } else {
        memset(st, 0, sizeof *st);
        memcpy(st->task, t->id, 32);
        memcpy(st->labeler, L->a.key.pk, 32);
        st->slot = s;
        if (L->o->mode == LABELER_COPY) {
            int ts = labeler_slot_of(t, L->o->copy_of);
            char who[16];
            agent_short_addr(L->o->copy_of, who);
            if (ts < 0 || t->slots[ts].status != LEDGER_SLOT_COMMITTED) {
                if (height + 3 < deadline) {
                    note(L, t->id, "task %s: waiting for %s's commitment to copy (I must commit by block %" PRIu64 ")",
                         id, who, deadline);
                    rc = 0;
                    goto out;
                }
                agent_log(&L->a, "task %s: %s has not committed and my deadline is near: random labels it is", id,
                          who);
                if (ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s) > LEDGER_LABELS_MAX) {
                    plow_error(err, "slot %u has too many items", s);
                    goto out;
                }
                st->count = (uint32_t)ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s);
                for (uint32_t j = 0; j < st->count; j++)
                    st->labels[j] = (uint8_t)(randombytes_uniform(t->p.n_classes));
                labeler_state_seal(st);
            } else {
                /* all it can see is a hash: the answers stay hidden until the reveal */
                st->count = (uint32_t)ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s);
                memcpy(st->commitment, t->slots[ts].trace_root, 32);
                st->copied = true;
                agent_log(&L->a, "task %s: %s's answers are hidden behind its commitment; committing a copy of "
                                 "that commitment and hoping to reuse its reveal",
                          id, who);
            }
        } else {
            bool bad;
            lb_cache *d = task_data(L, t, true, &bad, err);
            if (!d && bad) {
                agent_log(&L->a, "task %s: cannot label slot %u: %s; the rules forfeit it", id, s, err);
                refuse(L, t->id, err);
                seen_get(L, t->id, true)->mine = true;
                rc = 0;
                goto out;
            }
            if (!d) goto out;
            if (label_slot(L, t, d, s, st, err)) goto out;
            labeler_state_seal(st);
        }
        /* on disk before the commit: a restart must be able to reveal */
        if (labeler_state_write(path, st, err)) goto out;
    }
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    tx->type = LEDGER_TX_COMMIT;
    memcpy(tx->u.commit.task, t->id, 32);
    memcpy(tx->u.commit.trace_root, st->commitment, 32);
    tx->u.commit.n = st->count;
    uint64_t at = 0;
    int r = send_or_refused(L, tx, t->id, "commit", &at, err);
    free(tx);
    if (r < 0) goto out;
    if (r > 0) seen_get(L, t->id, true)->done = true;
    else {
        uint32_t hist[LEDGER_LABEL_CLASSES_MAX] = {0};
        for (uint32_t j = 0; j < st->count; j++) hist[st->labels[j] % LEDGER_LABEL_CLASSES_MAX]++;
        char hs[256] = "";
        if (!st->copied)
            for (uint32_t k = 0; k < t->p.n_classes && strlen(hs) < 200; k++)
                snprintf(hs + strlen(hs), sizeof hs - strlen(hs), "%s%u", k ? "/" : " (per class ", hist[k]);
        agent_log(&L->a, "task %s: committed %u labels for slot %u in block %" PRIu64 "%s%s", id, st->count, s, at, hs,
                  st->copied ? "" : ")");
    }
    rc = 0;
out:
    free(st);
    return rc;
}

static int do_reveal(labeler *L, const ledger_task *t, uint32_t s, uint64_t height, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 128], id[12];
    state_path(L, t->id, path, sizeof path);
    agent_short(t->id, id);
    uint64_t from = ledger_label_reveal_from(t);
    if (height + 1 < from) {
        note(L, t->id, "task %s: committed; waiting for the reveal window (it opens when every slot has committed, "
                       "or at block %" PRIu64 ")",
             id, from);
        return 0;
    }
    if (height + 1 > t->window_end) {
        agent_log(&L->a, "task %s: the reveal window closed at block %" PRIu64 " before I revealed; the rules "
                         "forfeit slot %u",
                  id, t->window_end, s);
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    labeler_state *st = plow_calloc(1, sizeof *st);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    labeler_reveals rv;
    memset(&rv, 0, sizeof rv);
    int rc = -1;
    char e[PLOW_ERR_LEN];
    if (labeler_state_read(path, st, e)) {
        agent_log(&L->a, "task %s: cannot reveal: %s; the rules forfeit slot %u", id, e, s);
        seen_get(L, t->id, true)->done = true;
        rc = 0;
        goto out;
    }
    tx->type = LEDGER_TX_LABEL_REVEAL;
    memcpy(tx->u.reveal.task, t->id, 32);
    tx->u.reveal.count = st->count;
    if (st->copied) {
        int ts = labeler_slot_of(t, L->o->copy_of);
        char who[16];
        agent_short_addr(L->o->copy_of, who);
        if (ts < 0) {
            agent_log(&L->a, "task %s: %s holds no slot: nothing to copy, nothing to open; slot %u forfeits", id, who,
                      s);
            seen_get(L, t->id, true)->done = true;
            rc = 0;
            goto out;
        }
        if (labeler_fetch_reveals(L->a.c, t, &rv, err)) goto out;
        if (!rv.slot[ts]) {
            if (height + 2 < t->window_end) {
                note(L, t->id, "task %s: waiting for %s's reveal to copy it (window ends at block %" PRIu64 ")", id,
                     who, t->window_end);
                rc = 0;
                goto out;
            }
            agent_log(&L->a, "task %s: %s never revealed: nothing to copy, nothing to open; slot %u forfeits", id, who,
                      s);
            seen_get(L, t->id, true)->done = true;
            rc = 0;
            goto out;
        }
        /* its labels and salt, now public: try them as my own opening */
        const ledger_labels *src = rv.slot[ts];
        for (uint32_t j = 0; j < st->count; j++) tx->u.reveal.labels[j] = j < src->count ? src->labels[j] : 0;
        memcpy(tx->u.reveal.salt, rv.salt[ts], 32);
        agent_log(&L->a, "task %s: %s revealed; sending its labels and salt as my reveal", id, who);
    } else {
        memcpy(tx->u.reveal.labels, st->labels, st->count);
        memcpy(tx->u.reveal.salt, st->salt, 32);
    }
    uint64_t at = 0;
    int r = send_or_refused(L, tx, t->id, "reveal", &at, err);
    if (r < 0) goto out;
    if (r > 0) {
        if (st->copied)
            agent_log(&L->a, "task %s: a copied commitment opens for nobody but its author: slot %u gains nothing "
                             "and forfeits its stake",
                      id, s);
        seen_get(L, t->id, true)->done = true;
    } else {
        agent_log(&L->a, "task %s: revealed %u labels in block %" PRIu64 " (window open until block %" PRIu64 ")", id,
                  st->count, at, t->window_end);
    }
    rc = 0;
out:
    labeler_reveals_release(&rv);
    free(st);
    free(tx);
    return rc;
}

/* Logs what the ledger settled for this labeler's slot of a finished task. */
static int report(labeler *L, const ledger_task *t, char err[PLOW_ERR_LEN]) {
    char id[12], m[32], stk[32];
    agent_short(t->id, id);
    int s = labeler_slot_of(t, L->a.key.pk);
    lb_seen *sn = seen_get(L, t->id, true);
    if (t->status == LEDGER_TASK_EXPIRED || s < 0) {
        agent_log(&L->a, "task %s: %s%s", id, ledger_task_status_name(t->status),
                  s < 0 ? " without a slot of mine" : ": nothing was committed; my stake is unlocked");
    } else {
        const ledger_slot *sl = &t->slots[s];
        agent_money(t->p.worker_stake, stk);
        agent_money(t->paid[s], m);
        char extra[160] = "";
        labeler_reveals rv;
        ledger_label_outcome o;
        memset(&o, 0, sizeof o);
        if (labeler_fetch_reveals(L->a.c, t, &rv, err)) return -1;
        char e[PLOW_ERR_LEN];
        if (ledger_label_aggregate(t, (const ledger_labels *const *)rv.slot, rv.gold, &o, e) == 0) {
            if (o.gold_answered[s])
                snprintf(extra, sizeof extra, ": gold %u/%u right", o.gold_correct[s], o.gold_answered[s]);
            if (o.accuracy_ppm[s])
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%sestimated accuracy %.3f",
                         extra[0] ? ", " : ": ", o.accuracy_ppm[s] / 1e6);
        }
        ledger_label_outcome_release(&o);
        labeler_reveals_release(&rv);
        switch (sl->status) {
        case LEDGER_SLOT_PAID:
            agent_log(&L->a, "task %s: finalized: slot %d PAID %s (at most %" PRIu64 ")%s; stake unlocked", id, s, m,
                      t->p.reward, extra);
            break;
        case LEDGER_SLOT_UNPAID:
            agent_log(&L->a, "task %s: finalized: slot %d UNPAID (no better than chance)%s; stake unlocked", id, s,
                      extra);
            break;
        case LEDGER_SLOT_SLASHED:
            agent_log(&L->a, "task %s: finalized: slot %d SLASHED: lost %s of stake (under the %u%% gold threshold)%s",
                      id, s, stk, t->p.min_gold_pct, extra);
            break;
        case LEDGER_SLOT_FORFEITED:
            agent_log(&L->a, "task %s: finalized: slot %d FORFEITED: lost %s of stake (%s)", id, s, stk,
                      (t->revealed >> s) & 1 ? "?" : sl->committed_at ? "committed but never revealed" : "never committed");
            break;
        default:
            agent_log(&L->a, "task %s: finalized: slot %d is %s", id, s, ledger_slot_status_name(sl->status));
        }
    }
    sn->settled = true;
    sn->done = true;
    L->settled++;
    char path[AGENT_PATH_MAX + 128];
    state_path(L, t->id, path, sizeof path);
    labeler_state *st = plow_calloc(1, sizeof *st);
    char e[PLOW_ERR_LEN];
    if (plow_file_exists(path) && labeler_state_read(path, st, e) == 0 && !st->settled) {
        st->settled = true;
        if (labeler_state_write(path, st, e)) agent_log(&L->a, "cannot note the settlement: %s", e);
    }
    free(st);
    return 0;
}

/* Why this labeler will not claim t (NULL: it will). */
static const char *judge(labeler *L, const ledger_task *t, const ledger_account *acct, uint64_t height,
                         char why[PLOW_ERR_LEN]) {
    if (t->p.kind != LEDGER_KIND_LABEL) return snprintf(why, PLOW_ERR_LEN, "not a label task"), why;
    if (height + 1 > t->posted_at + t->p.claim_blocks) return snprintf(why, PLOW_ERR_LEN, "claim deadline passed"), why;
    if (memcmp(t->requester, L->a.key.pk, 32) == 0) return snprintf(why, PLOW_ERR_LEN, "it is my own task"), why;
    if (L->o->mode == LABELER_COPY && labeler_slot_of(t, L->o->copy_of) < 0) {
        char who[16];
        agent_short_addr(L->o->copy_of, who);
        return snprintf(why, PLOW_ERR_LEN, "%s, whom I copy, holds no slot of it", who), why;
    }
    char e[PLOW_ERR_LEN];
    bool bad;
    lb_cache *d = task_data(L, t, L->o->mode != LABELER_COPY, &bad, e);
    if (!d && bad) {
        snprintf(why, PLOW_ERR_LEN, "cannot be labeled here: %.*s", PLOW_ERR_LEN - 32, e);
        refuse(L, t->id, why);
        return why;
    }
    if (!d) return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
    int map[LEDGER_LABEL_CLASSES_MAX];
    if (L->o->mode == LABELER_MODEL && labeler_nb_map_spec(L->nb, &d->spec, map, e))
        return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
    uint64_t free_stake = acct->stake > acct->locked ? acct->stake - acct->locked : 0, need = 0, total;
    if (t->p.worker_stake > free_stake) need = t->p.worker_stake - free_stake;
    if (!plow_add_u64(acct->stake, need, &total) || total > L->o->max_stake)
        return snprintf(why, PLOW_ERR_LEN, "it needs %" PRIu64 " more stake than my limit allows", need), why;
    if (need && acct->balance < need + L->a.min_fee * 2)
        return snprintf(why, PLOW_ERR_LEN, "its stake %" PRIu64 " is more than I can bond (balance %" PRIu64 ")",
                        t->p.worker_stake, acct->balance),
               why;
    return NULL;
}

static int try_claim(labeler *L, const ledger_task *t, ledger_account *acct, uint64_t height, bool *claimed,
                     char err[PLOW_ERR_LEN]) {
    *claimed = false;
    char why[PLOW_ERR_LEN], id[12];
    agent_short(t->id, id);
    if (judge(L, t, acct, height, why)) {
        note(L, t->id, "task %s: not claiming: %s", id, why);
        return 0;
    }
    uint64_t free_stake = acct->stake > acct->locked ? acct->stake - acct->locked : 0;
    if (t->p.worker_stake > free_stake) {
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_STAKE;
        tx.u.stake.amount = t->p.worker_stake - free_stake;
        if (agent_send(&L->a, &tx, err)) return plow_error_prefix(err, "stake");
        char m[32];
        agent_money(tx.u.stake.amount, m);
        agent_log(&L->a, "staked %s for task %s", m, id);
        if (agent_account(&L->a, L->a.key.pk, acct, err)) return -1;
    }
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, t->id, 32);
    int r = send_or_refused(L, &tx, t->id, "claim", NULL, err);
    if (r < 0) return -1;
    if (r > 0) {
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    lb_seen *sn = seen_get(L, t->id, true);
    sn->mine = true;
    *claimed = true;
    return 0;
}

static int labeler_round(labeler *L, char err[PLOW_ERR_LEN]) {
    agent *a = &L->a;
    ledger_account acct;
    if (agent_account(a, a->key.pk, &acct, err)) return -1;
    if (!L->registered) {
        char caps[LEDGER_CAPS_MAX + 1];
        snprintf(caps, sizeof caps, "{\"kinds\":[\"label\"],\"labeler\":\"%s\"}", mode_name(L->o));
        if (agent_ensure_registered(a, caps, &acct, err)) return -1;
        L->registered = true;
    }
    uint64_t height;
    if (agent_height(a, &height, err)) return -1;
    static const int statuses[] = {LEDGER_TASK_OPEN, LEDGER_TASK_CLAIMED, LEDGER_TASK_COMMITTED};
    for (size_t si = 0; si < sizeof statuses / sizeof statuses[0] && !agent_stop_requested(); si++) {
        ledger_task *ts = NULL;
        size_t nt = 0;
        char q[64];
        snprintf(q, sizeof q, "status=%s&kind=label", ledger_task_status_name(statuses[si]));
        if (agent_list_tasks(a, q, &ts, &nt, err)) return -1;
        for (size_t i = 0; i < nt && !agent_stop_requested(); i++) {
            ledger_task *t = &ts[i];
            if (t->p.kind != LEDGER_KIND_LABEL) continue;
            lb_seen *sn = seen_get(L, t->id, false);
            if (sn && sn->done) continue;
            int s = labeler_slot_of(t, a->key.pk);
            if (!sn && s < 0 && agent_is_refused(a, t->id)) {
                seen_get(L, t->id, true)->done = true; /* refused before a restart: not even its spec again */
                continue;
            }
            if (s < 0 && statuses[si] == LEDGER_TASK_OPEN) {
                bool claimed;
                if (try_claim(L, t, &acct, height, &claimed, err)) {
                    free(ts);
                    return -1;
                }
                if (!claimed) continue;
                if (agent_task(a, t->id, t, NULL, NULL, err) || agent_height(a, &height, err)) {
                    free(ts);
                    return -1;
                }
                s = labeler_slot_of(t, a->key.pk);
                if (s < 0) continue;
                char id[12];
                agent_short(t->id, id);
                agent_log(a, "task %s: claimed slot %d of %u (%" PRIu64 " items, r = %u, reward up to %" PRIu64
                             ", stake %" PRIu64 " locked)",
                          id, s, t->p.replicas,
                          ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)s),
                          t->p.redundancy, t->p.reward, t->p.worker_stake);
            }
            if (s < 0) continue;
            seen_get(L, t->id, true)->mine = true;
            int rc = 0;
            if (t->slots[s].status == LEDGER_SLOT_CLAIMED) rc = do_commit(L, t, (uint32_t)s, height, err);
            else if (t->slots[s].status == LEDGER_SLOT_COMMITTED && !((t->revealed >> s) & 1))
                rc = do_reveal(L, t, (uint32_t)s, height, err);
            if (rc) {
                free(ts);
                return -1;
            }
        }
        free(ts);
    }
    /* settlements of the tasks this labeler took part in */
    for (int i = 0; i < L->n_seen && !agent_stop_requested(); i++) {
        lb_seen *sn = &L->seen[i];
        if (!sn->mine || sn->settled) continue;
        ledger_task t;
        if (agent_task(a, sn->id, &t, NULL, NULL, err)) return -1;
        if (t.status == LEDGER_TASK_FINALIZED || t.status == LEDGER_TASK_EXPIRED) {
            if (report(L, &t, err)) return -1;
        }
    }
    return 0;
}

/* Tasks from an earlier run whose settlement was not reported yet. */
static void load_mine(labeler *L) {
    char dir[AGENT_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tasks", L->a.work);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    labeler_state *st = plow_calloc(1, sizeof *st);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        uint8_t id[32];
        if (n != 69 || strcmp(de->d_name + 64, ".json") != 0) continue;
        char hex[65];
        memcpy(hex, de->d_name, 64);
        hex[64] = 0;
        if (plow_unhex(hex, id, 32)) continue;
        char path[AGENT_PATH_MAX + 128], e[PLOW_ERR_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (labeler_state_read(path, st, e) || st->settled) continue;
        seen_get(L, id, true)->mine = true;
    }
    free(st);
    closedir(d);
}

int agent_labeler_run(const labeler_options *o, char err[PLOW_ERR_LEN]) {
    labeler *L = plow_calloc(1, sizeof *L);
    L->o = o;
    L->budget = o->item_budget ? o->item_budget : LABEL_FILE_MAX;
    agent_limits(&L->limits);
    int rc = -1;
    if (o->mode == LABELER_MODEL) {
        if (o->model) {
            if (label_nb_load(&L->nb, o->model, err)) goto fail;
        } else if (o->train) {
            label_labeled d;
            if (label_labeled_load(&d, o->train, err)) goto fail;
            int r = label_nb_train(&L->nb, &d, o->smoothing, err);
            label_labeled_release(&d);
            if (r) goto fail;
        } else {
            plow_error(err, "a model labeler needs --model FILE or --train FILE");
            goto fail;
        }
    }
    if (o->mode == LABELER_ACCURACY && label_truth_load(&L->truth, o->truth, err)) goto fail;
    if (agent_open(&L->a, o->name, o->key, o->node, o->work, err)) goto fail;
    char dir[AGENT_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tasks", L->a.work);
    if (plow_mkdir_p(dir, err)) {
        agent_close(&L->a);
        goto fail;
    }
    agent *a = &L->a;
    char what[160];
    switch (o->mode) {
    case LABELER_MODEL:
        snprintf(what, sizeof what, "naive Bayes model (%u classes, %zu words)", label_nb_n_classes(L->nb),
                 label_nb_vocab(L->nb));
        break;
    case LABELER_ACCURACY:
        snprintf(what, sizeof what, "simulated, right with probability %.2f (truth: %zu texts, seed %" PRIu64 ")",
                 o->accuracy, L->truth.n, o->seed);
        break;
    case LABELER_SPAM: snprintf(what, sizeof what, "simulated spammer (uniform labels, seed %" PRIu64 ")", o->seed); break;
    case LABELER_COPY: {
        char who[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(o->copy_of, who);
        snprintf(what, sizeof what, "copier of %.16s...", who);
        break;
    }
    }
    agent_log(a, "labeler %s starting: node %s, work dir %s, labels with: %s", a->addr, a->node, a->work, what);
    load_mine(L);
    while (!agent_stop_requested()) {
        char e[PLOW_ERR_LEN];
        if (labeler_round(L, e)) {
            if (agent_stop_requested()) break;
            agent_fail(a, e);
            continue;
        }
        agent_ok(a);
        if (o->max_tasks > 0 && L->settled >= o->max_tasks) break;
        agent_sleep(o->poll_s);
    }
    agent_log(a, "stopped (%d task%s settled)", L->settled, L->settled == 1 ? "" : "s");
    agent_close(a);
    rc = 0;
fail:
    for (int i = 0; i < LB_CACHE; i++) label_items_release(&L->cache[i].items);
    label_nb_free(L->nb);
    label_truth_release(&L->truth);
    free(L);
    return rc;
}
