/*
 * worker.c — the worker agent: registers, keeps its stake topped up, claims
 * open tasks its policy accepts and its machine can finish before the commit
 * deadline, runs them with src/job, and commits.
 *
 * Restarts: the ledger says which slots this key holds. A slot still CLAIMED
 * is worked on again (the work is deterministic, so a redo commits the same
 * bits; a finished run's commitment is kept in WORK/tasks/ID/output.json so
 * only the commit is retried); a slot whose deadline has passed is left to
 * the rules, which forfeit it.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <unistd.h>

#include "../client/client.h"
#include "../job/kind.h"
#include "../proof/trace.h"
#include "agent.h"

/* The kinds job_run can do, as bits of their ledger numbers. */
static unsigned worker_kinds(void) {
    unsigned bits = 0;
    for (int k = 0; k < TASK_KIND_COUNT; k++) {
        const job_kind_facts *f = job_kind_facts_of((task_kind)k);
        if (f->worker_runs) bits |= 1u << f->ledger_kind;
    }
    return bits;
}

void worker_policy_default(worker_policy *p) {
    memset(p, 0, sizeof *p);
    p->kinds = worker_kinds();
    p->min_price_per_step = 0;
    p->max_stake_at_risk = UINT64_MAX;
    p->stake = 0;
    p->seconds_per_step = 0.5;
    p->safety = 2.0;
}

static int policy_amount(const cJSON *j, const char *key, uint64_t *out, char err[PLOW_ERR_LEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) return 0;
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 || v->valuedouble != floor(v->valuedouble))
            return plow_error(err, "policy: \"%s\" must be a whole number of base units", key);
        *out = (uint64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!*s || strlen(s) > 20) return plow_error(err, "policy: \"%s\" is not an amount", key);
        uint64_t x = 0;
        for (const char *c = s; *c; c++) {
            if (*c < '0' || *c > '9' || !plow_mul_u64(x, 10, &x) || !plow_add_u64(x, (uint64_t)(*c - '0'), &x))
                return plow_error(err, "policy: \"%s\" is not an amount: '%s'", key, s);
        }
        *out = x;
        return 0;
    }
    return plow_error(err, "policy: \"%s\" must be a number or a decimal string", key);
}

int worker_policy_parse(worker_policy *p, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    worker_policy_default(p);
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return plow_error(err, "policy: not a JSON object");
    }
    int rc = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        static const char *known[] = {"kinds", "min_price_per_step", "max_stake_at_risk", "stake",
                                      "seconds_per_step", "safety"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= strcmp(it->string, known[i]) == 0;
        if (!ok) {
            plow_error(err, "policy: unknown key \"%s\"", it->string);
            goto out;
        }
    }
    const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(j, "kinds");
    if (kinds) {
        if (!cJSON_IsArray(kinds)) {
            plow_error(err, "policy: \"kinds\" must be an array of \"train\", \"lora\", \"infer\"");
            goto out;
        }
        p->kinds = 0;
        cJSON_ArrayForEach(it, kinds) {
            int k = 0;
            for (int i = LEDGER_KIND_TRAIN; i < LEDGER_KIND_END; i++)
                if (cJSON_IsString(it) && strcmp(it->valuestring, ledger_kind_name(i)) == 0) k = i;
            if (!k) {
                plow_error(err, "policy: unknown kind in \"kinds\" (train, lora, infer, dpo, round)");
                goto out;
            }
            if (!(worker_kinds() & (1u << k))) {
                plow_error(err, "policy: a worker does not run %s tasks (train, lora, infer, dpo, round)",
                           ledger_kind_name(k));
                goto out;
            }
            p->kinds |= 1u << k;
        }
    }
    if (policy_amount(j, "min_price_per_step", &p->min_price_per_step, err) ||
        policy_amount(j, "max_stake_at_risk", &p->max_stake_at_risk, err) || policy_amount(j, "stake", &p->stake, err))
        goto out;
    const cJSON *sps = cJSON_GetObjectItemCaseSensitive(j, "seconds_per_step");
    if (sps) {
        if (!cJSON_IsNumber(sps) || !(sps->valuedouble > 0 && sps->valuedouble < 3600)) {
            plow_error(err, "policy: \"seconds_per_step\" must be a number in (0, 3600)");
            goto out;
        }
        p->seconds_per_step = sps->valuedouble;
    }
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(j, "safety");
    if (sf) {
        if (!cJSON_IsNumber(sf) || !(sf->valuedouble >= 1 && sf->valuedouble <= 100)) {
            plow_error(err, "policy: \"safety\" must be a number in [1, 100]");
            goto out;
        }
        p->safety = sf->valuedouble;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

void worker_options_default(worker_options *o) {
    memset(o, 0, sizeof *o);
    o->name = "worker";
    o->node = AGENT_DEFAULT_NODE;
    worker_policy_default(&o->policy);
    o->cheat_rate = 1.0;
    o->threads = 1;
    o->poll_s = 0.5;
}

/* ---- the worker's memory ------------------------------------------------------ */

#define SEEN_MAX 256
#define SPEC_CACHE 32

/* What the worker remembers about a task between rounds: whether it is done
 * with it (a refused claim, a forfeited slot), and the last reason it gave
 * for not claiming it (logged again only when the reason changes). */
typedef struct seen_task {
    uint8_t id[32];
    bool done;
    uint8_t why[32];
    int failed_runs;
    bool probed;   /* cost: the probe found it runnable here (not probed again) */
    job_cost cost;
} seen_task;

#define MAX_FAILED_RUNS 3
/* FLOP/s a thread is assumed to do before this machine measured itself (an
 * optimistic first guess, as seconds_per_step is: the first run measures it) */
#define WORKER_DEFAULT_FLOPS 1e11

typedef struct worker {
    agent a;
    const worker_options *o;
    bool registered;
    bool stake_warned;
    double sps[LEDGER_KIND_END][4]; /* measured seconds per step by kind and config size (0: unknown) */
    double flops_per_s;             /* measured arithmetic rate of this machine's runs (0: unknown) */
    job_limits limits;              /* what a task must fit here (agent_limits) */
    seen_task seen[SEEN_MAX];
    int n_seen;
    uint8_t spec_id[SPEC_CACHE][32]; /* parsed specs of recent tasks */
    job_spec spec[SPEC_CACHE];
    int n_spec;
    int committed;
    double last_reveal_look; /* plow_now() of the last look for slots to reveal */
    bool in_reveal;          /* a look is running (the progress callback must not start another) */
    int to_reveal;           /* slots of mine the last look found committed, not revealed, still revealable */
    /* progress of the current job */
    char cur[12];
    double last_progress;
    long last_done;
} worker;

static seen_task *seen_get(worker *w, const uint8_t id[32], bool create) {
    for (int i = 0; i < w->n_seen; i++)
        if (memcmp(w->seen[i].id, id, 32) == 0) return &w->seen[i];
    if (!create) return NULL;
    if (w->n_seen == SEEN_MAX) {
        memmove(&w->seen[0], &w->seen[1], (SEEN_MAX - 1) * sizeof w->seen[0]);
        w->n_seen--;
    }
    seen_task *s = &w->seen[w->n_seen++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, 32);
    return s;
}

static bool done_with(worker *w, const uint8_t id[32]) {
    seen_task *s = seen_get(w, id, false);
    if (s && s->done) return true;
    if (!agent_is_refused(&w->a, id)) return false;
    seen_get(w, id, true)->done = true; /* refused before a restart: not even its spec again */
    return true;
}

/* Sets t aside for good (kept across restarts): a spec that cannot be run. */
static void refuse(worker *w, const uint8_t id[32], const char *why) {
    agent_refuse(&w->a, id, why);
    seen_get(w, id, true)->done = true;
}

static void mark_done(worker *w, const uint8_t id[32]) { seen_get(w, id, true)->done = true; }

/* True when `why` differs from the last reason logged for this task. */
static bool new_reason(worker *w, const uint8_t id[32], const char *why) {
    seen_task *s = seen_get(w, id, true);
    uint8_t h[32];
    plow_sha256_once(why, strlen(why), h);
    if (memcmp(h, s->why, 32) == 0) return false;
    memcpy(s->why, h, 32);
    return true;
}

static int spec_of(worker *w, const ledger_task *t, job_spec *out, char err[PLOW_ERR_LEN]) {
    for (int i = 0; i < w->n_spec; i++)
        if (memcmp(w->spec_id[i], t->id, 32) == 0) {
            *out = w->spec[i];
            return 0;
        }
    int rc = agent_fetch_spec(&w->a, t, out, err);
    if (rc > 0) refuse(w, t->id, err); /* a bad spec is not fetched again at every poll */
    if (rc) return -1;
    int i = w->n_spec < SPEC_CACHE ? w->n_spec++ : (int)(t->id[0] % SPEC_CACHE);
    memcpy(w->spec_id[i], t->id, 32);
    w->spec[i] = *out;
    return 0;
}

static int config_slot(const job_spec *s) {
    if (strcmp(s->config, "tiny") == 0) return 0;
    if (strcmp(s->config, "small") == 0) return 1;
    if (strcmp(s->config, "base") == 0) return 2;
    return 3;
}

static void task_dir(const worker *w, const uint8_t id[32], char *out, size_t n) {
    char hex[65];
    plow_hex(id, 32, hex);
    snprintf(out, n, "%s/tasks/%s", w->a.work, hex);
}

static uint64_t task_steps(const ledger_task *t, const job_spec *s) {
    uint64_t n = job_spec_ledger_steps(s);
    return n > 0 ? n : t->p.steps;
}

/* Whether to cheat on this task: --cheat-rate of the tasks, chosen by the
 * task id so that a restarted cheater makes the same choice. */
static bool cheat_on(const worker *w, const uint8_t id[32]) {
    if (!w->o->cheat) return false;
    if (w->o->cheat_rate >= 1) return true;
    uint8_t h[32];
    plow_sha256_once(id, 32, h);
    double u = (double)(plow_get_u64(h) >> 11) / 9007199254740992.0;
    return u < w->o->cheat_rate;
}

/* The cheat string for this task: a training cheat as given; for a
 * generation only "perturb" exists, at a token (default: the middle). Other
 * cheats have no generation form: that task is done honestly (NULL). */
static const char *cheat_for(const worker *w, const ledger_task *t, const job_spec *spec, char buf[64]) {
    const char *c = w->o->cheat;
    if (!c || !cheat_on(w, t->id)) return NULL;
    if (strcmp(c, "copy") == 0 || strcmp(c, "garbage") == 0 || strcmp(c, "withhold") == 0)
        return NULL; /* protocol cheats: no run, or (withhold) an honest one */
    return job_cheat_for(spec, c, buf);
}

/* ---- outputs kept between restarts ---------------------------------------------- */

static int output_save(const char *dir, const job_output *out, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    json_add_hash(j, "trace_root", out->trace_root);
    json_add_hash(j, "final_state", out->final_state);
    json_add_hash(j, "artifact", out->artifact);
    json_add_hash(j, "manifest", out->manifest);
    json_add_u64(j, "n", out->n);
    json_add_u64(j, "checkpoint_every", out->checkpoint_every);
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    char path[AGENT_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/output.json", dir);
    int rc = plow_write_file(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

static int output_load(const char *dir, job_output *out) {
    char path[AGENT_PATH_MAX + 128], err[PLOW_ERR_LEN];
    snprintf(path, sizeof path, "%s/output.json", dir);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!plow_file_exists(path) || plow_read_file(path, 1 << 16, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    uint64_t ce = 0;
    int rc = j && !json_get_hash(j, "trace_root", out->trace_root, err) &&
                     !json_get_hash(j, "final_state", out->final_state, err) &&
                     !json_get_hash(j, "artifact", out->artifact, err) &&
                     !json_get_hash(j, "manifest", out->manifest, err) && !json_get_u64(j, "n", &out->n, err) &&
                     !json_get_u64(j, "checkpoint_every", &ce, err) && ce <= UINT32_MAX
                 ? 0
                 : -1;
    out->checkpoint_every = (uint32_t)ce;
    cJSON_Delete(j);
    return rc;
}

/* ---- measured speed, kept in WORK/speed.txt ------------------------------------ */

/* One line per kind and config size: "KIND SLOT SECONDS_PER_STEP". A restarted
 * worker judges deadlines by what this machine really did, not the policy's
 * first guess. */
static void speed_save(worker *w) {
    plow_buf b = {0};
    for (int k = 0; k < LEDGER_KIND_END; k++)
        for (int c = 0; c < 4; c++)
            if (w->sps[k][c] > 0) plow_buf_printf(&b, "%d %d %.6f\n", k, c, w->sps[k][c]);
    if (w->flops_per_s > 0) plow_buf_printf(&b, "0 0 %.6g\n", w->flops_per_s); /* kind 0: FLOP/s */
    char path[AGENT_PATH_MAX + 32], err[PLOW_ERR_LEN];
    snprintf(path, sizeof path, "%s/speed.txt", w->a.work);
    if (plow_write_file(path, b.data ? (const char *)b.data : "", b.len, err))
        agent_log(&w->a, "cannot keep the measured speed: %s", err);
    plow_buf_release(&b);
}

static void speed_load(worker *w) {
    char path[AGENT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/speed.txt", w->a.work);
    FILE *f = fopen(path, "r");
    if (!f) return;
    int k, c;
    double v;
    while (fscanf(f, "%d %d %lf", &k, &c, &v) == 3)
        if (k > 0 && k < LEDGER_KIND_END && c >= 0 && c < 4 && v > 0 && v < 3600) w->sps[k][c] = v;
        else if (k == 0 && c == 0 && v >= 1e6 && v < 1e15) w->flops_per_s = v;
    fclose(f);
}

/* ---- commit and reveal (docs/ledger.md, "Commit and reveal") ----------------------- */

/* The salt of this worker's commitment to task `id`: secret (it hashes the
 * secret key), and the same after a restart, so nothing needs keeping. */
static void salt_for(const worker *w, const uint8_t id[32], uint8_t salt[32]) {
    uint8_t buf[16 + LEDGER_SK_LEN + 32];
    memcpy(buf, "plow/salt/v1\0\0\0\0", 16);
    memcpy(buf + 16, w->a.key.sk, LEDGER_SK_LEN);
    memcpy(buf + 16 + LEDGER_SK_LEN, id, 32);
    plow_sha256_once(buf, sizeof buf, salt);
    volatile uint8_t *v = buf;
    for (size_t i = 0; i < sizeof buf; i++) v[i] = 0;
}

/* The protocol cheats the worker itself plays (not `plow train --cheat`):
 * "copy" commits another replica's commitment and reveals its values,
 * "garbage" commits and reveals random values and uploads nothing,
 * "withhold" runs, commits and reveals honestly but uploads none of its
 * outputs and answers no data challenge. */
static bool cheat_is(const worker *w, const ledger_task *t, const char *name) {
    return w->o->cheat && strcmp(w->o->cheat, name) == 0 && cheat_on(w, t->id);
}

/* The withholder's blob "upload": the file's hash, as the run needs to name
 * it in its manifest, and nothing sent to the node. */
static int withhold_put_file(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)ctx;
    return job_file_sha256(path, hash, err);
}

/* The REVEAL of run `out` (in dir) for slot `slot` of t: values, salt and,
 * for a training-like kind, every leaf of DIR/out/trace.bin. */
static int build_reveal(worker *w, const ledger_task *t, const job_output *out, const char *dir, ledger_tx *rv,
                        char err[PLOW_ERR_LEN]) {
    memset(rv, 0, sizeof *rv);
    rv->type = LEDGER_TX_REVEAL;
    memcpy(rv->sender, w->a.key.pk, 32);
    memcpy(rv->u.open.task, t->id, 32);
    memcpy(rv->u.open.trace_root, out->trace_root, 32);
    memcpy(rv->u.open.final_state, out->final_state, 32);
    memcpy(rv->u.open.artifact, out->artifact, 32);
    memcpy(rv->u.open.manifest, out->manifest, 32);
    rv->u.open.n = out->n;
    rv->u.open.checkpoint_every = out->checkpoint_every;
    salt_for(w, t->id, rv->u.open.salt);
    if (t->p.kind == LEDGER_KIND_INFER) return 0;
    if (out->n >= LEDGER_LEAVES_MAX) return plow_error(err, "%" PRIu64 " steps: more leaves than a reveal carries", out->n);
    if (cheat_is(w, t, "garbage")) { /* random leaves, their root committed: nothing behind them */
        for (uint64_t i = 0; i <= out->n; i++) {
            uint8_t pre[40];
            memcpy(pre, out->trace_root, 32);
            plow_put_u64(pre + 32, i);
            plow_sha256_once(pre, sizeof pre, rv->u.open.leaves + i * 32);
        }
        memcpy(rv->u.open.leaves + out->n * 32, out->final_state, 32);
        rv->u.open.count = (uint32_t)(out->n + 1);
        merkle_root(rv->u.open.leaves, out->n + 1, rv->u.open.trace_root);
        return 0;
    }
    char path[AGENT_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/out/trace.bin", dir);
    trace *tr = NULL;
    if (trace_load(path, &tr, err)) return plow_error_prefix(err, "the run's trace");
    int rc = 0;
    if (trace_steps(tr) != out->n) {
        rc = plow_error(err, "the run's trace has %" PRIu64 " steps, the output %" PRIu64, trace_steps(tr), out->n);
    } else {
        for (uint64_t i = 0; i <= out->n; i++) memcpy(rv->u.open.leaves + i * 32, trace_leaf(tr, i), 32);
        rv->u.open.count = (uint32_t)(out->n + 1);
    }
    trace_free(tr);
    return rc;
}

/* A "garbage" run: values that nothing computed (the trace root is made
 * to match the random leaves build_reveal derives from it). */
static void garbage_output(const ledger_task *t, job_output *out) {
    memset(out, 0, sizeof *out);
    uint8_t pre[40];
    memcpy(pre, t->id, 32);
    memcpy(pre + 32, "garbage!", 8);
    plow_sha256_once(pre, sizeof pre, out->trace_root);
    plow_sha256_once(out->trace_root, 32, out->final_state);
    plow_sha256_once(out->final_state, 32, out->artifact);
    plow_sha256_once(out->artifact, 32, out->manifest);
    out->n = t->p.steps;
    out->checkpoint_every = 1;
}

/* Sends the REVEAL of my slot s of t if its reveal window is open. */
static int reveal_slot(worker *w, const ledger_task *t, int s, uint64_t height, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    char dir[AGENT_PATH_MAX + 80], id[12];
    task_dir(w, t->id, dir, sizeof dir);
    agent_short(t->id, id);
    uint64_t from = ledger_reveal_from(t), until = ledger_reveal_until(t), next = height + 1;
    if (next <= until || from == UINT64_MAX) w->to_reveal++;
    if (from == UINT64_MAX || next < from) return 0; /* not every slot has committed yet */
    if (next > until) {
        if (new_reason(w, t->id, "reveal missed"))
            agent_log(a, "task %s: the reveal deadline (block %" PRIu64 ") has passed; the rules forfeit this slot", id,
                      until);
        return 0;
    }
    ledger_tx *rv = plow_calloc(1, sizeof *rv);
    int rc = -1;
    if (cheat_is(w, t, "copy")) {
        /* the copier: another replica's revealed values (if any yet), under my key */
        int other = -1;
        for (int k = 0; k < t->p.replicas; k++)
            if (k != s && t->slots[k].revealed_at) other = k;
        if (other < 0) {
            rc = 0;
            goto out;
        }
        if (agent_reveal_of(a, t, other, rv, err)) goto out;
        rv->nonce = 0;
        memcpy(rv->sender, a->key.pk, 32);
        agent_log(a, "task %s: revealing slot %d's values as mine -- CHEATING: copy", id, other);
    } else {
        job_output out;
        if (cheat_is(w, t, "garbage")) {
            garbage_output(t, &out);
        } else if (output_load(dir, &out)) {
            if (new_reason(w, t->id, "output lost"))
                agent_log(a, "task %s: cannot reveal: the run's output.json is gone from %s", id, dir);
            rc = 0;
            goto out;
        }
        if (build_reveal(w, t, &out, dir, rv, err)) goto out;
    }
    if (agent_send(a, rv, err)) {
        if (agent_refused(err)) {
            agent_log(a, "task %s: reveal refused: %s", id, err);
            mark_done(w, t->id);
            rc = 0;
        }
        goto out;
    }
    agent_log(a, "task %s: revealed slot %d (%u leaves)", id, s, rv->u.open.count);
    w->to_reveal--;
    rc = 0;
out:
    free(rv);
    return rc;
}

/* Every task with a slot of mine in one of `statuses` (comma-separated),
 * however many other tasks exist. */
static int list_mine(worker *w, const char *statuses, ledger_task **ts, size_t *n, char err[PLOW_ERR_LEN]) {
    char q[160], me[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(w->a.key.pk, me);
    snprintf(q, sizeof q, "status=%s&addr=%s", statuses, me);
    return agent_list_tasks(&w->a, q, ts, n, err);
}

/* Every slot of mine that committed and has not revealed: reveal it when
 * its window opens (the rules forfeit a slot that does not). Called each
 * round and, throttled, from the progress of a long run. */
static int reveal_pending(worker *w, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    if (w->in_reveal) return 0;
    w->in_reveal = true;
    w->last_reveal_look = plow_now();
    ledger_task *ts = NULL;
    size_t n = 0;
    uint64_t height;
    int rc = -1;
    if (list_mine(w, "open,claimed,committed,challenged,resolved", &ts, &n, err) || agent_height(a, &height, err)) goto out;
    rc = 0;
    w->to_reveal = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ledger_task *t = &ts[i];
        if (!ledger_sealed(t) || done_with(w, t->id)) continue; /* done: a refused reveal is not retried */
        for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS && rc == 0; s++)
            if (t->slots[s].status == LEDGER_SLOT_COMMITTED && t->slots[s].revealed_at == 0 &&
                memcmp(t->slots[s].worker, a->key.pk, 32) == 0)
                rc = reveal_slot(w, t, s, height, err);
    }
out:
    free(ts);
    w->in_reveal = false;
    return rc;
}

/* ---- one task ------------------------------------------------------------------- */

static void on_progress(void *arg, long done, long total, const char *what) {
    worker *w = arg;
    if (agent_stop_requested()) {
        /* job_run cannot be interrupted from here: leave now; the work
         * directory stays and a restart redoes the task if its deadline allows */
        agent_log(&w->a, "stopping in the middle of task %s (%ld/%ld); a restart resumes it", w->cur, done, total);
        fflush(NULL);
        _exit(0);
    }
    double now = plow_now();
    if (now - w->last_reveal_look > (w->o->poll_s > 0.2 ? w->o->poll_s : 0.2)) {
        /* a long run must not make me miss another task's reveal window */
        char e[PLOW_ERR_LEN];
        if (reveal_pending(w, e)) agent_log(&w->a, "looking for slots to reveal: %s", e);
    }
    bool boundary = total > 0 && (done * 10 / total) != (w->last_done * 10 / total);
    if (done == total || boundary || now - w->last_progress > 5) {
        agent_log(&w->a, "task %s: %s %ld/%ld", w->cur, what ? what : "step", done, total);
        w->last_progress = now;
    }
    w->last_done = done;
}

/* A slot held in a task that cannot be run (its spec or an input absent or
 * malformed, a cost above the network's limits: the poster's fault): an
 * unrunnable claim against the requester (DA_CHALLENGE, want zero). Upheld,
 * the task is voided and my stake unlocked, nothing forfeited; the task is
 * set aside either way. */
static int claim_unrunnable(worker *w, const ledger_task *t, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    char id[12], why[PLOW_ERR_LEN];
    agent_short(t->id, id);
    snprintf(why, sizeof why, "%s", err);
    agent_log(a, "task %s: cannot be run: %s; claiming it unrunnable", id, why);
    if (agent_load_params(a, err)) return -1;
    uint64_t floor;
    if (!plow_mul_u64(a->min_fee, LEDGER_BOND_FLOOR_FEES, &floor)) floor = UINT64_MAX;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_DA_CHALLENGE;
    memcpy(tx.u.da.task, t->id, 32);
    memcpy(tx.u.da.accused, t->requester, 32);
    tx.u.da.bond = t->p.min_bond > floor ? t->p.min_bond : floor;
    uint8_t hash[32];
    if (agent_send_at(a, &tx, hash, NULL, err)) {
        if (!agent_refused(err)) return -1;
        agent_log(a, "task %s: unrunnable claim refused: %s", id, err);
    } else {
        char cid[12];
        agent_short(hash, cid);
        agent_log(a, "task %s: unrunnable claim %s opened; the referee rules it", id, cid);
    }
    refuse(w, t->id, why);
    return 0;
}

/* Works on the slot this worker holds in t (CLAIMED): run (or reuse a
 * finished run), then commit while the deadline allows. */
static int work_slot(worker *w, const ledger_task *t, const ledger_slot *slot, uint64_t height,
                     char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    char dir[AGENT_PATH_MAX + 80], id[12];
    task_dir(w, t->id, dir, sizeof dir);
    agent_short(t->id, id);
    uint64_t deadline = slot->claimed_at + t->p.work_blocks;
    if (height + 1 > deadline) {
        agent_log(a, "task %s: the commit deadline (block %" PRIu64 ") has passed at block %" PRIu64
                     "; the rules forfeit this slot",
                  id, deadline, height);
        mark_done(w, t->id);
        return 0;
    }
    if (plow_mkdir_p(dir, err)) return -1;
    job_output out;
    memset(&out, 0, sizeof out);
    int my = (int)(slot - t->slots);
    uint8_t copied[32];
    bool copying = false;
    if (cheat_is(w, t, "copy")) {
        /* the copier computes nothing: it commits the first commitment it sees */
        int other = -1;
        for (int k = 0; k < t->p.replicas; k++)
            if (k != my && t->slots[k].status == LEDGER_SLOT_COMMITTED) other = k;
        if (other < 0) return 0; /* nothing to copy yet: look again next round */
        memcpy(copied, t->slots[other].commitment, 32);
        copying = true;
        out.n = t->p.steps;
        agent_log(a, "task %s: copying slot %d's commitment -- CHEATING: copy", id, other);
    } else if (cheat_is(w, t, "garbage")) {
        garbage_output(t, &out);
        agent_log(a, "task %s: committing values nothing computed, uploading nothing -- CHEATING: garbage", id);
    } else if (output_load(dir, &out) == 0) {
        agent_log(a, "task %s: the run finished before a restart; committing it", id);
    } else {
        job_spec spec;
        if (spec_of(w, t, &spec, err)) return -1;
        spec.slot = (int)(slot - t->slots); /* a round without a participant trains its slot's shard */
        char cheat_buf[64];
        const char *cheat = cheat_for(w, t, &spec, cheat_buf);
        snprintf(w->cur, sizeof w->cur, "%s", id);
        w->last_progress = plow_now();
        w->last_done = 0;
        /* before anything the spec sized is built: a held slot of a task that
         * cannot be run (an input gone, a bomb) is claimed unrunnable, not run */
        job_cost cost;
        int prc = agent_probe(a, t, &spec, &w->limits, true, &cost, err);
        if (prc < 0) return -1;
        if (prc > 0) return claim_unrunnable(w, t, err);
        agent_log(a, "task %s: working (%s, %" PRIu64 " steps, deadline block %" PRIu64 ")%s%s", id,
                  ledger_kind_name(t->p.kind), task_steps(t, &spec), deadline,
                  cheat ? " -- CHEATING: " : "", cheat ? cheat : "");
        job_blobs b = agent_job_blobs(a);
        if (cheat_is(w, t, "withhold")) {
            b.put_file = withhold_put_file;
            agent_log(a, "task %s: uploading none of the outputs -- CHEATING: withhold", id);
        }
        double t0 = plow_now();
        if (job_run(&spec, &b, dir, cheat, on_progress, w, &out, err)) {
            /* a lost node is waited for before the next try; a run that keeps
             * failing (a spec this machine cannot run) is given up on */
            seen_task *st = seen_get(w, t->id, true);
            st->failed_runs++;
            agent_log(a, "task %s: the run failed (%d of %d tries): %s", id, st->failed_runs, MAX_FAILED_RUNS, err);
            if (st->failed_runs >= MAX_FAILED_RUNS) {
                agent_log(a, "task %s: giving up; the rules forfeit this slot at its deadline", id);
                refuse(w, t->id, err); /* a restart does not run it again */
            }
            return 0;
        }
        double el = plow_now() - t0;
        uint64_t steps = task_steps(t, &spec);
        if (steps > 0 && t->p.kind < LEDGER_KIND_END) {
            w->sps[t->p.kind][config_slot(&spec)] = el / (double)steps;
            if (el > 0.5 && cost.run_flops > 0) w->flops_per_s = cost.run_flops / el;
            speed_save(w);
        }
        if (output_save(dir, &out, err)) return -1;
        char fs[12];
        agent_short(out.final_state, fs);
        agent_log(a, "task %s: run done in %.1fs (final state %s)", id, el, fs);
    }
    if (agent_height(a, &height, err)) return -1;
    if (height + 1 > deadline) {
        agent_log(a, "task %s: finished after the commit deadline (block %" PRIu64 "); the rules forfeit this slot",
                  id, deadline);
        mark_done(w, t->id);
        return 0;
    }
    /* sealed: the commitment only; the values and leaves follow in the REVEAL */
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_COMMIT;
    memcpy(tx.u.commit.task, t->id, 32);
    if (copying) {
        memcpy(tx.u.commit.trace_root, copied, 32);
    } else {
        ledger_tx *rv = plow_calloc(1, sizeof *rv);
        int brc = build_reveal(w, t, &out, dir, rv, err);
        if (brc == 0) agent_commitment(a, rv, (uint32_t)my, tx.u.commit.trace_root);
        free(rv);
        if (brc) return -1;
    }
    tx.u.commit.n = out.n;
    if (agent_send(a, &tx, err)) {
        if (agent_refused(err)) {
            /* the ledger said no (deadline, a wrong n...): the same commit would fail again */
            agent_log(a, "task %s: commit refused: %s", id, err);
            mark_done(w, t->id);
            return 0;
        }
        return plow_error_prefix(err, "commit");
    }
    char art[12];
    agent_short(out.artifact, art);
    agent_log(a, "task %s: committed (sealed; artifact %s, %" PRIu64 " steps)", id, art, out.n);
    w->committed++;
    return reveal_pending(w, err); /* a single slot reveals at once */
}

/* ---- data challenges against my slots ------------------------------------------ */

/* A data challenge demands that a blob my revealed commitment promises (the
 * manifest, or a file it lists) be on the node before the deadline, or my
 * stake is slashed. Answered from the run's files in my work directory: if
 * the node lacks the blob (lost, collected, found damaged) it is uploaded
 * again, and the referee attests it at the next block. Looked at every
 * round while the challenge is open. */
static int answer_data_challenges(worker *w, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    ledger_task *ts = NULL;
    size_t n = 0;
    if (list_mine(w, "challenged", &ts, &n, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ledger_task t;
        ledger_challenge *ch = NULL;
        size_t n_ch = 0;
        if (agent_task(a, ts[i].id, &t, &ch, &n_ch, err)) {
            rc = -1;
            break;
        }
        char id[12], dir[AGENT_PATH_MAX + 80];
        agent_short(t.id, id);
        task_dir(w, t.id, dir, sizeof dir);
        for (size_t k = 0; k < n_ch && rc == 0; k++) {
            const ledger_challenge *c = &ch[k];
            if (c->kind != LEDGER_CHK_DATA || c->status != LEDGER_CH_OPEN || memcmp(c->accused, a->key.pk, 32) != 0)
                continue;
            char cid[12], bh[12], why[PLOW_ERR_LEN];
            agent_short(c->id, cid);
            agent_short(c->state_blob, bh);
            if (cheat_is(w, &t, "withhold")) {
                snprintf(why, sizeof why, "da %s unanswered", cid);
                if (new_reason(w, t.id, why))
                    agent_log(a, "task %s: data challenge %s demands blob %s: not answering -- CHEATING: withhold", id,
                              cid, bh);
                continue;
            }
            bool has = false;
            if (client_blob_has(a->c, c->state_blob, &has, err)) {
                rc = -1;
                break;
            }
            if (has) {
                snprintf(why, sizeof why, "da %s available", cid);
                if (new_reason(w, t.id, why))
                    agent_log(a, "task %s: data challenge %s demands blob %s: it is on the node; the referee attests it",
                              id, cid, bh);
                continue;
            }
            char e2[PLOW_ERR_LEN];
            uint8_t got[32];
            char *path = job_published_file(dir, c->state_blob, e2);
            if (!path || client_blob_put_file(a->c, path, got, e2)) {
                snprintf(why, sizeof why, "da %s: %.200s", cid, e2);
                if (new_reason(w, t.id, why))
                    agent_log(a, "task %s: data challenge %s demands blob %s: cannot answer: %s", id, cid, bh, e2);
            } else {
                agent_log(a, "task %s: data challenge %s: uploaded blob %s again (%s) before its deadline (block %" PRIu64
                             ")",
                          id, cid, bh, path, c->deadline);
            }
            free(path);
        }
        free(ch);
    }
    free(ts);
    return rc;
}

/* ---- defending my replica --------------------------------------------------------- */

/* Whether a step challenge on t already names `worker` (accused or other). */
static bool step_challenged(const ledger_challenge *ch, size_t n, const uint8_t who[32]) {
    for (size_t i = 0; i < n; i++)
        if (ch[i].kind == LEDGER_CHK_STEP &&
            (memcmp(ch[i].accused, who, 32) == 0 || (ch[i].has_other && memcmp(ch[i].other, who, 32) == 0)))
            return true;
    return false;
}

/* Takes replica k of t, which disagrees with mine (slot m), to the referee:
 * the first step where their revealed traces part (job_diverge), k
 * accused, me as `other`. Marked done in DIR/tasks/ID/defended.K. */
static int defend_against(worker *w, const ledger_task *t, int m, int k, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    char dir[AGENT_PATH_MAX + 120], mark[AGENT_PATH_MAX + 160], id[12], acc[16];
    task_dir(w, t->id, dir, sizeof dir);
    snprintf(mark, sizeof mark, "%s/defended.%d", dir, k);
    if (plow_file_exists(mark)) return 0;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/defend%d", k);
    agent_short(t->id, id);
    agent_short_addr(t->slots[k].worker, acc);
    job_spec spec;
    if (spec_of(w, t, &spec, err) || plow_mkdir_p(dir, err) || agent_put_leaves(a, t, k, dir, err) ||
        agent_put_leaves(a, t, m, dir, err) || agent_load_params(a, err))
        return -1;
    agent_log(a, "task %s: replica %d (%s) disagrees with mine and nobody has challenged it; locating the first "
                 "divergent step",
              id, k, acc);
    job_blobs b = agent_job_blobs(a);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    uint64_t step = 0;
    if (job_diverge(&spec, &b, &t->slots[k], &t->slots[m], dir, &step, &tx.u.challenge.ev, &tx.u.challenge.ev_other,
                    tx.u.challenge.state_blob, err))
        return plow_error_prefix(err, "locating the divergence");
    uint64_t floor;
    if (!plow_mul_u64(a->min_fee, LEDGER_BOND_FLOOR_FEES, &floor)) floor = UINT64_MAX;
    tx.type = LEDGER_TX_CHALLENGE;
    memcpy(tx.u.challenge.task, t->id, 32);
    memcpy(tx.u.challenge.accused, t->slots[k].worker, 32);
    memcpy(tx.u.challenge.other, a->key.pk, 32);
    tx.u.challenge.step = step;
    tx.u.challenge.bond = t->p.min_bond > floor ? t->p.min_bond : floor;
    uint8_t hash[32];
    if (agent_send_at(a, &tx, hash, NULL, err)) {
        if (!agent_refused(err)) return -1;
        agent_log(a, "task %s: my challenge against %s refused: %s", id, acc, err);
    } else {
        char cid[12];
        agent_short(hash, cid);
        agent_log(a, "task %s: CHALLENGE %s opened against %s at step %" PRIu64 " (defending my replica)", id, cid, acc,
                  step);
    }
    return plow_write_file(mark, "challenged\n", 11, err);
}

/* A replicated task whose revealed replicas disagree pays nobody unless a
 * challenge settles who is wrong, and no verifier may be watching. So in
 * the second half of the last window_blocks before window_end (verifiers
 * act first) an honest replica takes each disagreeing replica nobody has
 * challenged to the referee itself: the wrong one is slashed and I get the
 * challenger's share. */
static int defend_replicas(worker *w, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    ledger_task *ts = NULL;
    size_t n = 0;
    uint64_t height;
    if (list_mine(w, "committed,challenged,resolved", &ts, &n, err) || agent_height(a, &height, err)) {
        free(ts);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ledger_task *lt = &ts[i];
        if (lt->p.mode != LEDGER_MODE_REPLICATED || lt->p.kind == LEDGER_KIND_LABEL || lt->window_end == 0) continue;
        if (height + 1 > lt->window_end || height + 1 + lt->p.window_blocks / 2 < lt->window_end) continue;
        ledger_task t;
        ledger_challenge *ch = NULL;
        size_t n_ch = 0;
        if (agent_task(a, lt->id, &t, &ch, &n_ch, err)) {
            rc = -1;
            break;
        }
        int m = -1;
        for (int k = 0; k < t.p.replicas && k < LEDGER_MAX_REPLICAS; k++)
            if (memcmp(t.slots[k].worker, a->key.pk, 32) == 0) m = k;
        if (m >= 0 && t.slots[m].status == LEDGER_SLOT_COMMITTED && t.slots[m].revealed_at)
            for (int k = 0; k < t.p.replicas && k < LEDGER_MAX_REPLICAS && rc == 0; k++)
                if (k != m && t.slots[k].status == LEDGER_SLOT_COMMITTED && t.slots[k].revealed_at &&
                    memcmp(t.slots[k].final_state, t.slots[m].final_state, 32) != 0 &&
                    !step_challenged(ch, n_ch, t.slots[k].worker) && !cheat_is(w, &t, "garbage") &&
                    !cheat_is(w, &t, "copy") && !cheat_is(w, &t, "withhold"))
                    if (defend_against(w, &t, m, k, err)) {
                        /* tried again next round while the window lasts; the worker goes on meanwhile */
                        char why[PLOW_ERR_LEN], id[12];
                        snprintf(why, sizeof why, "defend %d: %.200s", k, err);
                        agent_short(t.id, id);
                        if (new_reason(w, t.id, why)) agent_log(a, "task %s: cannot challenge replica %d: %s", id, k, err);
                    }
        free(ch);
    }
    free(ts);
    return rc;
}

/* Why this worker will not claim t, or NULL if it will. */
static const char *judge(worker *w, const ledger_task *t, const ledger_account *acct, uint64_t height, double block_s,
                         char why[PLOW_ERR_LEN]) {
    const worker_policy *p = &w->o->policy;
    agent *a = &w->a;
    if (t->p.kind >= LEDGER_KIND_END || !(p->kinds & (1u << t->p.kind)))
        return snprintf(why, PLOW_ERR_LEN, "kind %s is not in my policy", ledger_kind_name(t->p.kind)), why;
    for (int i = 0; i < t->p.replicas && i < LEDGER_MAX_REPLICAS; i++)
        if (t->slots[i].status != LEDGER_SLOT_EMPTY && memcmp(t->slots[i].worker, a->key.pk, 32) == 0)
            return snprintf(why, PLOW_ERR_LEN, "I already hold a slot"), why;
    if (height + 1 > t->posted_at + t->p.claim_blocks) return snprintf(why, PLOW_ERR_LEN, "claim deadline passed"), why;
    uint64_t free_stake = acct->stake > acct->locked ? acct->stake - acct->locked : 0;
    if (t->p.worker_stake > free_stake)
        return snprintf(why, PLOW_ERR_LEN, "its stake %" PRIu64 " is more than my free stake %" PRIu64,
                        t->p.worker_stake, free_stake),
               why;
    uint64_t risk;
    if (!plow_add_u64(acct->locked, t->p.worker_stake, &risk) || risk > p->max_stake_at_risk)
        return snprintf(why, PLOW_ERR_LEN, "it would put %" PRIu64 " of stake at risk (policy: at most %" PRIu64 ")",
                        acct->locked + t->p.worker_stake, p->max_stake_at_risk),
               why;
    job_spec spec;
    char e[PLOW_ERR_LEN];
    if (spec_of(w, t, &spec, e)) return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
    uint64_t steps = task_steps(t, &spec), price;
    if (!plow_mul_u64(p->min_price_per_step, steps, &price) || t->p.reward < price)
        return snprintf(why, PLOW_ERR_LEN, "reward %" PRIu64 " is under my price (%" PRIu64 " a step x %" PRIu64 ")",
                        t->p.reward, p->min_price_per_step, steps),
               why;
    /* what the work takes, from the spec and its inputs' sizes, before a claim:
     * a spec this machine (or any) cannot run is set aside for good */
    job_cost cost = {0};
    seen_task *st = seen_get(w, t->id, true);
    if (st->probed) {
        cost = st->cost;
    } else if (!cheat_is(w, t, "copy") && !cheat_is(w, t, "garbage")) { /* protocol cheats run nothing */
        int prc = agent_probe(a, t, &spec, &w->limits, true, &cost, e);
        if (prc < 0) return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
        if (prc > 0) {
            snprintf(why, PLOW_ERR_LEN, "cannot be run here: %.*s", PLOW_ERR_LEN - 24, e);
            refuse(w, t->id, why);
            return why;
        }
        st = seen_get(w, t->id, true);
        st->probed = true;
        st->cost = cost;
    }
    /* time: the measured seconds a step of this kind and config, and the
     * arithmetic at this machine's measured rate (batch x seq count there) */
    double sps = w->sps[t->p.kind][config_slot(&spec)];
    if (!(sps > 0)) sps = p->seconds_per_step;
    double fps = w->flops_per_s > 0 ? w->flops_per_s : WORKER_DEFAULT_FLOPS * (w->o->threads > 0 ? w->o->threads : 1);
    double secs = (double)steps * sps;
    if (cost.run_flops / fps > secs) secs = cost.run_flops / fps;
    double need = (secs + 2.0) * p->safety, have = (double)t->p.work_blocks * block_s;
    if (need > have)
        return snprintf(why, PLOW_ERR_LEN, "I need about %.0fs and the deadline gives %.0fs", need, have), why;
    return NULL;
}

/* Registers the worker once, its profile naming its threads, memory and the
 * kinds its policy accepts. */
static int worker_register(worker *w, ledger_account *acct, char err[PLOW_ERR_LEN]) {
    if (w->registered) return 0;
    if (acct->profile == 0) {
        char kinds[64] = "";
        for (int k = LEDGER_KIND_TRAIN; k < LEDGER_KIND_END; k++)
            if (w->o->policy.kinds & (1u << k))
                snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s\"%s\"", kinds[0] ? "," : "",
                         ledger_kind_name(k));
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        long mem_mb = pages > 0 && psz > 0 ? (long)((double)pages * (double)psz / 1048576.0) : 0;
        char caps[LEDGER_CAPS_MAX + 1];
        snprintf(caps, sizeof caps, "{\"threads\":%d,\"memory_mb\":%ld,\"kinds\":[%s]}", w->o->threads, mem_mb, kinds);
        if (agent_ensure_registered(&w->a, caps, acct, err)) return -1;
    }
    w->registered = true;
    return 0;
}

/* The policy's stake is what the worker keeps bonded: topped up from the
 * balance when it falls short (at the start, after a slash). */
static int worker_keep_stake(worker *w, ledger_account *acct, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    if (acct->stake >= w->o->policy.stake) return 0;
    uint64_t need = w->o->policy.stake - acct->stake, cost;
    if (agent_load_params(a, err)) return -1;
    if (plow_add_u64(need, a->min_fee, &cost) && acct->balance >= cost) {
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_STAKE;
        tx.u.stake.amount = need;
        if (agent_send(a, &tx, err)) return plow_error_prefix(err, "stake");
        char m[32], t[32];
        agent_money(need, m);
        agent_money(w->o->policy.stake, t);
        agent_log(a, "staked %s (policy: keep %s staked)", m, t);
        w->stake_warned = false;
        return agent_account(a, a->key.pk, acct, err);
    }
    if (!w->stake_warned) {
        agent_log(a, "stake %" PRIu64 " is under my policy's %" PRIu64 " and my balance (%" PRIu64 ") cannot top it up",
                  acct->stake, w->o->policy.stake, acct->balance);
        w->stake_warned = true;
    }
    return 0;
}

/* My claimed slot of task t, or -1. */
static int my_claimed_slot(const worker *w, const ledger_task *t) {
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].status == LEDGER_SLOT_CLAIMED && memcmp(t->slots[s].worker, w->a.key.pk, 32) == 0) return s;
    return -1;
}

/* Claims a slot of task t and works it. Returns 0 after the work, 1 when the
 * claim was refused or the slot went to someone else (look again), -1 on an
 * error (a claim lost on the way: the ledger says next round whether it landed). */
static int claim_and_work(worker *w, ledger_task *t, uint64_t height, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    char id[12];
    agent_short(t->id, id);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, t->id, 32);
    char e[PLOW_ERR_LEN];
    if (agent_send(a, &tx, e)) {
        if (!agent_refused(e)) {
            memcpy(err, e, PLOW_ERR_LEN);
            return -1;
        }
        agent_log(a, "task %s: claim refused: %s", id, e);
        mark_done(w, t->id);
        return 1;
    }
    ledger_task now;
    if (agent_task(a, t->id, &now, NULL, NULL, err)) return -1;
    int s = my_claimed_slot(w, &now);
    if (s < 0) return 1;
    char st[32];
    agent_money(t->p.worker_stake, st);
    agent_log(a, "task %s: claimed slot %d at block %" PRIu64 " (reward %" PRIu64 ", stake %s locked)", id, s,
              now.slots[s].claimed_at, t->p.reward, st);
    if (agent_height(a, &height, err)) return -1;
    return work_slot(w, &now, &now.slots[s], height, err);
}

/* One look at the ledger: register, stake, resume a held slot, or claim. */
static int worker_round(worker *w, char err[PLOW_ERR_LEN]) {
    agent *a = &w->a;
    ledger_account acct;
    if (agent_account(a, a->key.pk, &acct, err) || worker_register(w, &acct, err) ||
        worker_keep_stake(w, &acct, err) || reveal_pending(w, err) || answer_data_challenges(w, err) ||
        defend_replicas(w, err))
        return -1;
    uint64_t height;
    if (agent_height(a, &height, err)) return -1;
    ledger_task *open = NULL, *claimed = NULL;
    size_t n_open = 0, n_claimed = 0;
    int rc = -1;
    /* every task still claimable, and every task where I hold a slot, however many others exist */
    char q_open[64], q_mine[128], me[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(a->key.pk, me);
    snprintf(q_open, sizeof q_open, "status=open&deadline_from=%" PRIu64, height + 1);
    snprintf(q_mine, sizeof q_mine, "status=open,claimed&addr=%s", me);
    if (agent_list_tasks(a, q_open, &open, &n_open, err) || agent_list_tasks(a, q_mine, &claimed, &n_claimed, err))
        goto out;
    /* a slot already held comes first (a restart, or a claim whose answer was lost) */
    for (size_t i = 0; i < n_claimed; i++) {
        int s = my_claimed_slot(w, &claimed[i]);
        if (s >= 0 && !done_with(w, claimed[i].id)) {
            rc = work_slot(w, &claimed[i], &claimed[i].slots[s], height, err);
            goto out;
        }
    }
    double block_s = -1;
    for (size_t i = 0; i < n_open && !agent_stop_requested(); i++) {
        ledger_task *t = &open[i];
        if (done_with(w, t->id)) continue;
        if (block_s < 0) block_s = agent_block_ms(a) / 1000.0;
        char why[PLOW_ERR_LEN], id[12];
        agent_short(t->id, id);
        if (judge(w, t, &acct, height, block_s, why)) {
            if (new_reason(w, t->id, why)) agent_log(a, "task %s: not claiming: %s", id, why);
            continue;
        }
        int c = claim_and_work(w, t, height, err);
        if (c <= 0) {
            rc = c;
            goto out;
        }
        if (!done_with(w, t->id)) break; /* the claim went through but the slot is not ours: look again next round */
    }
    rc = 0;
out:
    free(open);
    free(claimed);
    return rc;
}

int agent_worker_run(const worker_options *o, char err[PLOW_ERR_LEN]) {
    worker *w = plow_calloc(1, sizeof *w);
    w->o = o;
    if (agent_open_on(&w->a, o->name, o->key, o->node, o->work, &o->chain, err)) {
        free(w);
        return -1;
    }
    agent *a = &w->a;
    speed_load(w);
    agent_limits(&w->limits);
    char risk[32] = "unlimited";
    if (o->policy.max_stake_at_risk != UINT64_MAX) agent_money(o->policy.max_stake_at_risk, risk);
    agent_log(a, "worker %s starting: node %s, work dir %s, min price %" PRIu64 "/step, max stake at risk %s%s%s",
              a->addr, a->node, a->work, o->policy.min_price_per_step, risk, o->cheat ? ", cheat " : "",
              o->cheat ? o->cheat : "");
    while (!agent_stop_requested()) {
        char e[PLOW_ERR_LEN];
        if (worker_round(w, e)) {
            if (agent_stop_requested()) break;
            agent_fail(a, e);
            continue;
        }
        agent_ok(a);
        if (o->once && w->committed > 0 && w->to_reveal == 0) break; /* committed and revealed */
        agent_sleep(o->poll_s);
    }
    agent_log(a, "stopped (%d task%s committed)", w->committed, w->committed == 1 ? "" : "s");
    agent_close(a);
    free(w);
    return 0;
}
