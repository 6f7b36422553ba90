/*
 * cmd_round.c — `plow round`: collaborative training rounds on the network
 * (docs/rounds.md, docs/tasks.md "round").
 *
 *   plow round run        the coordinator: for each round t, post the round's
 *                         task(s) from the shared weights W_t, let workers do
 *                         the inner runs, finalize (a missing participant
 *                         never stalls a round: it is simply absent once it
 *                         can no longer commit), fetch the contributions of
 *                         the PAID slots, make the outer step, and post round
 *                         t+1 from W_{t+1}.
 *   plow round aggregate  anyone: recompute one round's outer step from the
 *                         ledger and the blobs and print its commitment, to
 *                         check the one the coordinator published (the next
 *                         round's spec names it).
 *
 * The coordinator keeps everything in OUT/round_NNN/ (W_t as a model
 * directory, the outer state outer.bin and its hash, the ids of the tasks it
 * posted), so a coordinator killed at any point and started again with the
 * same options carries on with the tasks already posted. OUT/rounds.csv has
 * one line per round: contributions, bytes sent, validation loss, state hash.
 *
 * By default each round is P single-slot tasks, task p for participant
 * (shard) p, so any worker can do any of them with nothing but the spec;
 * --one-task posts one task of P slots instead (slot s = participant s),
 * which needs workers that tell the job layer their slot (job_spec.slot).
 */
#include "../base/plow.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "../data/dataset.h"
#include "../data/tokenizer.h"
#include "../job/job.h"
#include "../model/modelio.h"
#include "../tensor/tensor.h"
#include "../train/round.h"
#include "cli.h"
#include "cli_net.h"

#define ROUND_MAX_TASKS ROUND_MAX_PARTICIPANTS

static const char round_help[] =
    "usage: plow round run --key FILE --base DIR --data FILE --participants P --rounds R\n"
    "                      --inner-steps H --out DIR [options]\n"
    "       plow round aggregate --task ID [--task ID ...] --out DIR [--node URL]\n"
    "\n"
    "Collaborative training rounds (DiLoCo-style, docs/rounds.md) on a plow network.\n"
    "\n"
    "run: the coordinator. Round t starts from the shared weights W_t (round 0:\n"
    "--base). Participant p trains shard p of P of --data for H steps from W_t\n"
    "(an ordinary verifiable training run) and publishes its pseudo-gradient\n"
    "W_t - W_p (the slot's artifact is the contribution's hash). When the round's\n"
    "tasks settle -- a participant that never claims or never commits is simply\n"
    "absent once its deadline passes -- the contributions of the PAID slots are\n"
    "aggregated (mean, trimmed mean or median) and the outer optimiser (Nesterov\n"
    "momentum) makes W_{t+1}; round t+1 is posted from it. Writes DIR/round_NNN/\n"
    "(W_t as a model directory, outer.bin, state.txt, tasks.txt) and\n"
    "DIR/rounds.csv; restarted with the same options it resumes.\n"
    "  --key FILE            the requester's key (pays the rewards)\n"
    "  --node URL            (default $PLOW_NODE or " CLI_DEFAULT_NODE ")\n"
    "  --base DIR            the starting model W_0 (model.safetensors, config.json)\n"
    "  --data FILE           the training text (cut into P shards)\n"
    "  --tokenizer FILE      (default: the base's tokenizer.bin)\n"
    "  --participants P      shards and contributions per round, 1..1024\n"
    "                        (with --one-task 1..8: the task's slots)\n"
    "  --rounds R            rounds to run\n"
    "  --inner-steps H       inner AdamW steps per participant and round\n"
    "  --batch B --seq T     inner batch (default 8) and sequence (default 64)\n"
    "  --lr X --warmup W     inner learning rate (default 3e-3, constant after the\n"
    "                        warm-up) and warm-up steps (default 1)\n"
    "  --seed S              inner batch seed base (default 1)\n"
    "  --val-frac F          held-out share of the text (default 0.1)\n"
    "  --checkpoint-every C  (default H: states 0 and H)\n"
    "  --int8 [--block N]    send int8 blocks (default block 64) instead of float32\n"
    "  --rule mean|trimmed|median [--trim K]   aggregation (default mean, trim 1)\n"
    "  --outer-lr X --momentum X   outer optimiser (default 0.7, 0.9)\n"
    "  --reward N --stake N --bond N   per slot (default 100, 1000, 10)\n"
    "  --claim-blocks N --work-blocks N --window-blocks N   (default 60, 600, 10)\n"
    "  --one-task            one task of P slots per round (needs workers that give\n"
    "                        the job layer their slot) instead of P one-slot tasks\n"
    "  --eval-batches N      validation batches per round (default 8)\n"
    "  --poll S              seconds between looks at the ledger (default 0.5)\n"
    "  --threads T           (default: all CPUs)\n"
    "\n"
    "aggregate: recomputes the outer step of one round from its task(s) (every\n"
    "task of the round, in any order), the outer state blob the specs name and\n"
    "the contributions of the PAID slots; writes DIR/outer.bin and W_{t+1} as a\n"
    "model directory and prints 'state <round_state_hash>'.\n";

/* ---- small helpers ------------------------------------------------------------ */

static char *pathf(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static void say(const char *fmt, ...) PLOW_PRINTF(1, 2);
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("round: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void short_hex(const uint8_t h[32], char out[17]) {
    char hex[65];
    plow_hex(h, 32, hex);
    memcpy(out, hex, 16);
    out[16] = 0;
}

/* ---- one round's contributions -------------------------------------------------- */

typedef struct round_report_net {
    int tasks, present;
    uint32_t ids[ROUND_MAX_PARTICIPANTS];
    size_t bytes_sent, bytes_f32;
    int refused;
} round_report_net;

/* The participant a slot of a round task stands for. */
static int slot_participant(const job_spec *spec, int slot) {
    return spec->participant >= 0 ? spec->participant : slot;
}

static int fetch_spec(client *c, const ledger_task *t, job_spec *spec, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    if (client_blob_get(c, t->p.spec, &buf, &n, err)) return plow_error_prefix(err, "the task's spec");
    int rc = job_spec_parse(spec, buf, n, err);
    free(buf);
    if (rc) return -1;
    if (spec->kind != TASK_ROUND || t->p.kind != LEDGER_KIND_ROUND) return plow_error(err, "not a round task");
    return 0;
}

static bool same_round(const job_spec *a, const job_spec *b) {
    return a->round == b->round && memcmp(a->outer_hash, b->outer_hash, 32) == 0 && a->agg == b->agg &&
           a->trim == b->trim && a->outer_lr == b->outer_lr && a->momentum == b->momentum &&
           a->participants == b->participants;
}

/* Aggregates the contributions of the PAID slots of the round's tasks into s
 * (round_apply with the specs' rule). Each contribution is the blob the
 * slot's artifact names; one that does not parse as this round's
 * contribution of that participant from this state is left out (the same
 * for everyone who recomputes it). A blob that cannot be fetched is an
 * error: try again. */
static int apply_round(client *c, const ledger_task *ts, int n_tasks, round_state *s, const job_spec *spec0,
                       round_report_net *rep, char err[PLOW_ERR_LEN]) {
    memset(rep, 0, sizeof *rep);
    rep->tasks = n_tasks;
    size_t n;
    round_state_weights(s, &n);
    uint8_t base[32];
    round_state_hash(s, base);
    if (memcmp(base, spec0->outer_hash, 32) != 0 || round_state_round(s) != spec0->round)
        return plow_error(err, "the outer state is not the one the round's spec names");
    round_contrib *cs = plow_calloc(ROUND_MAX_PARTICIPANTS, sizeof *cs);
    const round_contrib **ptr = plow_calloc(ROUND_MAX_PARTICIPANTS, sizeof *ptr);
    int k = 0, rc = -1;
    for (int i = 0; i < n_tasks; i++) {
        job_spec spec;
        if (fetch_spec(c, &ts[i], &spec, err)) goto out;
        if (!same_round(&spec, spec0)) {
            plow_error(err, "task %d's spec is for another round, state or rule", i);
            goto out;
        }
        for (int sl = 0; sl < ts[i].p.replicas && sl < LEDGER_MAX_REPLICAS; sl++) {
            const ledger_slot *slot = &ts[i].slots[sl];
            if (slot->status != LEDGER_SLOT_PAID) continue;
            int p = slot_participant(&spec, sl);
            uint8_t *buf = NULL;
            size_t len = 0;
            char why[PLOW_ERR_LEN], ah[17];
            short_hex(slot->artifact, ah);
            if (client_blob_get(c, slot->artifact, &buf, &len, err)) {
                char what[80];
                snprintf(what, sizeof what, "the contribution of participant %d (blob %s)", p, ah);
                plow_error_prefix(err, what);
                goto out;
            }
            if (k == ROUND_MAX_PARTICIPANTS) {
                free(buf);
                plow_error(err, "more than %d contributions", ROUND_MAX_PARTICIPANTS);
                goto out;
            }
            round_contrib *x = &cs[k];
            int prc = round_contrib_parse(x, buf, len, n, why);
            free(buf);
            if (prc == 0 && (x->round != spec0->round || x->participant != (uint32_t)p ||
                             memcmp(x->base, base, 32) != 0)) {
                snprintf(why, sizeof why, "it names round %" PRIu64 ", participant %u or another base", x->round,
                         x->participant);
                prc = -1;
            }
            for (int q = 0; prc == 0 && q < k; q++)
                if (cs[q].participant == x->participant) {
                    snprintf(why, sizeof why, "participant %d contributed twice", p);
                    prc = -1;
                }
            if (prc) {
                say("contribution of participant %d (blob %s) left out: %s", p, ah, why);
                round_contrib_release(x);
                rep->refused++;
                continue;
            }
            rep->ids[k] = x->participant;
            rep->bytes_sent += len;
            rep->bytes_f32 += round_contrib_size(n, ROUND_ENC_F32, 0);
            ptr[k] = x;
            k++;
        }
    }
    round_rule rule = {(round_agg)spec0->agg, spec0->trim, (float)spec0->outer_lr, (float)spec0->momentum};
    if (round_apply(s, ptr, k, &rule, err)) goto out;
    rep->present = k;
    rc = 0;
out:
    for (int i = 0; i < ROUND_MAX_PARTICIPANTS; i++) round_contrib_release(&cs[i]);
    free(cs);
    free(ptr);
    return rc;
}

/* ---- plow round run ------------------------------------------------------------------ */

typedef struct run_opts {
    const char *key, *node, *base, *data, *tokenizer, *out, *rule;
    long participants, rounds, inner_steps, batch, seq, warmup, every, block, trim, eval_batches, threads;
    long claim_blocks, work_blocks, window_blocks;
    double lr, val_frac, outer_lr, momentum, poll;
    uint64_t seed, reward, stake, bond, fee;
    bool int8, one_task;
} run_opts;

/* The coordinator's world: the node, the key, and the inputs every round shares. */
typedef struct coord {
    const run_opts *o;
    client *c;
    ledger_key key;
    tokenizer *tok;
    dataset *data;
    model *m; /* scratch of the shared config */
    uint8_t data_blob[32], tok_blob[32];
    round_agg agg;
} coord;

/* Writes round t's directory: W_t as a model (and its tokenizer), the outer
 * state, its hash. */
static int save_round(coord *k, const char *dir, const round_state *s, char err[PLOW_ERR_LEN]) {
    size_t n;
    const float *w = round_state_weights(s, &n);
    memcpy(k->m->params, w, n * sizeof(float));
    plow_buf b = {0};
    round_state_serialize(s, &b);
    char *op = pathf(dir, "outer.bin"), *tp = pathf(dir, "tokenizer.bin"), *sp = pathf(dir, "state.txt");
    uint8_t h[32];
    char hex[66];
    round_state_hash(s, h);
    plow_hex(h, 32, hex);
    hex[64] = '\n';
    hex[65] = 0;
    int rc = plow_mkdir_p(dir, err);
    if (rc == 0) rc = modelio_save_model(k->m, dir, err);
    if (rc == 0) rc = tokenizer_save(k->tok, tp, err);
    if (rc == 0) rc = plow_write_file(sp, hex, 65, err);
    if (rc == 0) rc = plow_write_file(op, b.data, b.len, err); /* last: its presence marks the round ready */
    plow_buf_release(&b);
    free(op);
    free(tp);
    free(sp);
    return rc;
}

static int load_round(coord *k, const char *dir, round_state **s, char err[PLOW_ERR_LEN]) {
    char *op = pathf(dir, "outer.bin");
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = plow_read_file(op, 16 + 2 * k->m->n_params * sizeof(float) + 64, &buf, &n, err);
    if (rc == 0) rc = round_state_parse(s, buf, n, k->m->n_params, err);
    free(buf);
    free(op);
    return rc;
}

/* The ids of the tasks already posted for a round (tasks.txt: one hex id a line). */
static int load_tasks(const char *dir, uint8_t (*ids)[32], int *n) {
    *n = 0;
    char *p = pathf(dir, "tasks.txt");
    FILE *f = fopen(p, "r");
    free(p);
    if (!f) return 0;
    char line[128];
    while (*n < ROUND_MAX_TASKS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) == 64 && plow_unhex(line, ids[*n], 32) == 0) (*n)++;
    }
    fclose(f);
    return 0;
}

static int append_task(const char *dir, const uint8_t id[32], char err[PLOW_ERR_LEN]) {
    char *p = pathf(dir, "tasks.txt");
    FILE *f = fopen(p, "a");
    int rc = 0;
    if (!f) {
        rc = plow_error(err, "cannot write '%s'", p);
    } else {
        char hex[65];
        plow_hex(id, 32, hex);
        fprintf(f, "%s\n", hex);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = plow_error(err, "cannot write '%s'", p);
        fclose(f);
    }
    free(p);
    return rc;
}

/* Uploads W_t and the outer state; fills the round's spec (participant -1). */
static int round_spec(coord *k, const char *dir, const round_state *s, job_spec *spec, char err[PLOW_ERR_LEN]) {
    const run_opts *o = k->o;
    memset(spec, 0, sizeof *spec);
    spec->kind = TASK_ROUND;
    memcpy(spec->data, k->data_blob, 32);
    memcpy(spec->tokenizer, k->tok_blob, 32);
    spec->has_base = true;
    char *mp = pathf(dir, "model.safetensors"), *cp = pathf(dir, "config.json"), *op = pathf(dir, "outer.bin");
    int rc = client_blob_put_file(k->c, mp, spec->base_model, err);
    if (rc == 0) rc = client_blob_put_file(k->c, cp, spec->base_config, err);
    if (rc == 0) rc = client_blob_put_file(k->c, op, spec->outer_state, err);
    free(mp);
    free(cp);
    free(op);
    if (rc) return plow_error_prefix(err, "uploading the round's inputs");
    round_state_hash(s, spec->outer_hash);
    spec->val_frac = o->val_frac;
    spec->participants = (uint32_t)o->participants;
    spec->participant = -1;
    spec->slot = -1;
    spec->round = round_state_round(s);
    spec->steps = (int)o->inner_steps;
    spec->batch = (int)o->batch;
    spec->seq = (int)o->seq;
    spec->lr = o->lr;
    spec->warmup = (int)o->warmup;
    spec->seed = o->seed;
    spec->init_seed = o->seed;
    spec->checkpoint_every = (uint32_t)(o->every > 0 ? o->every : o->inner_steps);
    spec->enc = o->int8 ? ROUND_ENC_INT8 : ROUND_ENC_F32;
    spec->block = o->int8 ? (uint32_t)o->block : 0;
    spec->agg = (int)k->agg;
    spec->trim = (int)o->trim;
    spec->outer_lr = o->outer_lr;
    spec->momentum = o->momentum;
    return 0;
}

static int post_round(coord *k, const char *dir, const job_spec *spec0, uint8_t (*ids)[32], int *n_ids,
                      char err[PLOW_ERR_LEN]) {
    const run_opts *o = k->o;
    int want = o->one_task ? 1 : (int)o->participants;
    for (int i = *n_ids; i < want; i++) {
        job_spec spec = *spec0;
        if (!o->one_task) spec.participant = i;
        plow_buf b = {0};
        job_spec_write(&spec, &b);
        job_spec back; /* what workers will read: it must parse */
        if (job_spec_parse(&back, b.data, b.len, err)) {
            plow_buf_release(&b);
            return plow_error_prefix(err, "the round's spec");
        }
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_POST_TASK;
        tx.fee = o->fee;
        ledger_task_params *p = &tx.u.post;
        int prc = client_blob_put(k->c, b.data, b.len, p->spec, err);
        plow_buf_release(&b);
        if (prc) return plow_error_prefix(err, "uploading the spec");
        p->kind = LEDGER_KIND_ROUND;
        p->mode = LEDGER_MODE_OPTIMISTIC;
        p->replicas = (uint8_t)(o->one_task ? o->participants : 1);
        p->reward = o->reward;
        p->worker_stake = o->stake;
        p->min_bond = o->bond;
        p->steps = (uint64_t)o->inner_steps;
        p->claim_blocks = (uint32_t)o->claim_blocks;
        p->work_blocks = (uint32_t)o->work_blocks;
        p->window_blocks = (uint32_t)o->window_blocks;
        uint64_t height;
        if (client_send_at(k->c, &k->key, &tx, CLI_DEFAULT_TIMEOUT, ids[i], &height, err))
            return plow_error_prefix(err, "posting the round's task");
        if (append_task(dir, ids[i], err)) return -1;
        *n_ids = i + 1;
        char sh[17];
        short_hex(ids[i], sh);
        if (o->one_task)
            say("round %" PRIu64 ": posted task %s (%ld slots) in block %" PRIu64, spec0->round, sh, o->participants,
                height);
        else
            say("round %" PRIu64 ": posted task %s for participant %d in block %" PRIu64, spec0->round, sh, i, height);
    }
    return 0;
}

/* Whether no slot of t can still commit (and none did): the task is over
 * for this round, whatever the ledger will later say. */
static bool task_dead(const ledger_task *t, uint64_t height) {
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++) {
        const ledger_slot *sl = &t->slots[s];
        if (sl->status == LEDGER_SLOT_COMMITTED || sl->status == LEDGER_SLOT_SLASHED) return false;
        if (sl->status == LEDGER_SLOT_EMPTY && height <= t->posted_at + t->p.claim_blocks) return false;
        if (sl->status == LEDGER_SLOT_CLAIMED && height <= sl->claimed_at + t->p.work_blocks) return false;
    }
    return true;
}

/* The finalize rules of a round task (docs/ledger.md FR1-FR4), as far as the
 * coordinator can tell; the ledger has the last word. */
static bool task_finalizable(const ledger_task *t, uint64_t height) {
    bool committed = false;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++) {
        const ledger_slot *sl = &t->slots[s];
        committed |= sl->status == LEDGER_SLOT_COMMITTED || sl->status == LEDGER_SLOT_SLASHED;
        if (sl->status == LEDGER_SLOT_EMPTY && height <= t->posted_at + t->p.claim_blocks) return false;
        if (sl->status == LEDGER_SLOT_CLAIMED && height <= sl->claimed_at + t->p.work_blocks) return false;
    }
    return committed && t->window_end != 0 && height > t->window_end;
}

static bool task_over(const ledger_task *t) {
    return t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED;
}

static bool task_expirable(const ledger_task *t, uint64_t height) {
    return !task_over(t) && height > t->posted_at + t->p.claim_blocks + t->p.work_blocks;
}

/* One look at a task: finalize or expire it when the rules allow. */
static int tend(coord *k, ledger_task *t, uint64_t height, bool *refused_once, char err[PLOW_ERR_LEN]) {
    if (client_task(k->c, t->id, t, err)) return -1;
    if (task_over(t)) return 0;
    bool fin = task_finalizable(t, height), exp = !fin && task_dead(t, height) && task_expirable(t, height);
    if (!fin && !exp) return 0;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = fin ? LEDGER_TX_FINALIZE : LEDGER_TX_EXPIRE;
    tx.fee = k->o->fee;
    memcpy(tx.u.ref.task, t->id, 32);
    char sh[17], e2[PLOW_ERR_LEN];
    short_hex(t->id, sh);
    if (client_send(k->c, &k->key, &tx, CLI_DEFAULT_TIMEOUT, e2)) {
        if (!*refused_once) say("%s of task %s not yet: %s", fin ? "finalize" : "expire", sh, e2);
        *refused_once = true;
        return 0;
    }
    if (client_task(k->c, t->id, t, err)) return -1;
    int paid = 0;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++) paid += t->slots[s].status == LEDGER_SLOT_PAID;
    say("task %s %s (%d slot%s paid)", sh, fin ? "finalized" : "expired", paid, paid == 1 ? "" : "s");
    return 0;
}

/* Waits until no task of the round can change its contributions any more
 * (each has committed slots only, or is over, or dead), then finalizes the
 * round's tasks. A participant's stake stays locked until then, so a worker
 * that holds one slot at a time takes one participant's share per round. */
static int settle(coord *k, ledger_task *ts, int n, char err[PLOW_ERR_LEN]) {
    bool refused[ROUND_MAX_TASKS] = {false};
    for (;;) {
        uint64_t height;
        if (client_height(k->c, &height, err)) return -1;
        int waiting = 0, open = 0;
        for (int i = 0; i < n; i++) {
            if (task_over(&ts[i])) continue;
            if (client_task(k->c, ts[i].id, &ts[i], err)) return -1;
            if (task_over(&ts[i]) || task_dead(&ts[i], height)) continue;
            open++;
            if (!task_finalizable(&ts[i], height)) waiting++;
        }
        if (waiting == 0) {
            for (int i = 0; i < n; i++)
                if (!task_over(&ts[i]) && task_finalizable(&ts[i], height) && tend(k, &ts[i], height, &refused[i], err))
                    return -1;
            open = 0;
            for (int i = 0; i < n; i++) open += !task_over(&ts[i]) && !task_dead(&ts[i], height);
            if (open == 0) return 0;
        }
        nap(k->o->poll);
    }
}

static int run_round(coord *k, round_state **sp, FILE *csv, char err[PLOW_ERR_LEN]) {
    const run_opts *o = k->o;
    round_state *s = *sp;
    uint64_t t = round_state_round(s);
    char name[32];
    snprintf(name, sizeof name, "round_%03" PRIu64, t);
    char *dir = pathf(o->out, name);
    uint8_t (*ids)[32] = plow_calloc(ROUND_MAX_TASKS, 32);
    ledger_task *ts = plow_calloc(ROUND_MAX_TASKS, sizeof *ts);
    int n_ids = 0, rc = -1;
    job_spec spec0;
    round_report_net rep;
    float before, after;
    size_t n;
    train_hparams hp;
    train_hparams_default(&hp, false, 1, k->m->cfg.ctx);
    hp.batch = (int)o->batch;
    hp.seq = (int)o->seq;
    hp.seed = o->seed;
    const float *w = round_state_weights(s, &n);
    if (round_eval(k->m, w, n, k->data, &hp, (int)o->eval_batches, &before, err)) goto out;
    if (round_spec(k, dir, s, &spec0, err) || load_tasks(dir, ids, &n_ids) || post_round(k, dir, &spec0, ids, &n_ids, err))
        goto out;
    for (int i = 0; i < n_ids; i++)
        if (client_task(k->c, ids[i], &ts[i], err)) goto out;
    if (settle(k, ts, n_ids, err)) goto out;
    /* the new state: from a copy, so a failure leaves round t as it was */
    plow_buf b = {0};
    round_state_serialize(s, &b);
    round_state *next = NULL;
    int prc = round_state_parse(&next, b.data, b.len, n, err);
    plow_buf_release(&b);
    if (prc) goto out;
    if (apply_round(k->c, ts, n_ids, next, &spec0, &rep, err)) {
        round_state_free(next);
        goto out;
    }
    w = round_state_weights(next, &n);
    if (round_eval(k->m, w, n, k->data, &hp, (int)o->eval_batches, &after, err)) {
        round_state_free(next);
        goto out;
    }
    snprintf(name, sizeof name, "round_%03" PRIu64, t + 1);
    char *ndir = pathf(o->out, name);
    int src = save_round(k, ndir, next, err);
    free(ndir);
    if (src) {
        round_state_free(next);
        goto out;
    }
    uint8_t h[32];
    char hex[65], ids_txt[256] = "";
    round_state_hash(next, h);
    plow_hex(h, 32, hex);
    for (int i = 0; i < rep.present && strlen(ids_txt) < sizeof ids_txt - 8; i++)
        snprintf(ids_txt + strlen(ids_txt), sizeof ids_txt - strlen(ids_txt), "%s%u", i ? " " : "", rep.ids[i]);
    say("round %" PRIu64 ": %d of %ld participants contributed (%s), %zu bytes sent (%s; float32 would be %zu), "
        "validation loss %.4f -> %.4f, state %s",
        t, rep.present, o->participants, rep.present ? ids_txt : "none", rep.bytes_sent, o->int8 ? "int8" : "f32",
        rep.bytes_f32, (double)before, (double)after, hex);
    fprintf(csv, "%" PRIu64 ",%d,%d,%zu,%zu,%.6f,%.6f,%s\n", t, n_ids, rep.present, rep.bytes_sent, rep.bytes_f32,
            (double)before, (double)after, hex);
    fflush(csv);
    round_state_free(s);
    *sp = next;
    rc = 0;
out:
    free(dir);
    free(ids);
    free(ts);
    return rc;
}

/* Expires the tasks of every round that never settled on the ledger (their
 * escrow comes back), waiting for the blocks the rules ask. */
static int expire_leftovers(coord *k, uint64_t rounds, char err[PLOW_ERR_LEN]) {
    for (uint64_t t = 0; t < rounds; t++) {
        char name[32];
        snprintf(name, sizeof name, "round_%03" PRIu64, t);
        char *dir = pathf(k->o->out, name);
        uint8_t (*ids)[32] = plow_calloc(ROUND_MAX_TASKS, 32);
        int n = 0, rc = 0;
        load_tasks(dir, ids, &n);
        free(dir);
        for (int i = 0; i < n && rc == 0; i++) {
            ledger_task task;
            bool refused = false;
            for (;;) {
                uint64_t height;
                if ((rc = client_height(k->c, &height, err)) != 0) break;
                memcpy(task.id, ids[i], 32);
                if ((rc = tend(k, &task, height, &refused, err)) != 0 || task_over(&task)) break;
                if (!task_dead(&task, height) && !task_finalizable(&task, height)) break; /* not ours to wait for */
                nap(k->o->poll);
            }
        }
        free(ids);
        if (rc) return -1;
    }
    return 0;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out, char err[PLOW_ERR_LEN]) {
    return s ? cli_int(opt, s, lo, hi, out, err) : 0;
}
static int parse_double(const char *opt, const char *s, double lo, double hi, double *out, char err[PLOW_ERR_LEN]) {
    return s ? cli_float(opt, s, lo, hi, out, err) : 0;
}
static int parse_amount(const char *opt, const char *s, uint64_t *out, char err[PLOW_ERR_LEN]) {
    return s ? cli_amount(opt, s, out, err) : 0;
}

/* The options of plow round run into o: 0, or the exit status of a usage error. */
static int round_run_parse(int argc, char **argv, run_opts *o) {
    const char *s_p = NULL, *s_r = NULL, *s_h = NULL, *s_b = NULL, *s_t = NULL, *s_lr = NULL, *s_w = NULL,
               *s_seed = NULL, *s_vf = NULL, *s_ce = NULL, *s_blk = NULL, *s_trim = NULL, *s_olr = NULL,
               *s_mom = NULL, *s_rew = NULL, *s_stk = NULL, *s_bond = NULL, *s_cb = NULL, *s_wb = NULL,
               *s_winb = NULL, *s_eb = NULL, *s_poll = NULL, *s_thr = NULL, *s_fee = NULL, *pos[1];
    const cli_opt opts[] = {{"--key", &o->key, NULL},           {"--node", &o->node, NULL},
                            {"--base", &o->base, NULL},         {"--data", &o->data, NULL},
                            {"--tokenizer", &o->tokenizer, NULL}, {"--out", &o->out, NULL},
                            {"--participants", &s_p, NULL},    {"--rounds", &s_r, NULL},
                            {"--inner-steps", &s_h, NULL},     {"--batch", &s_b, NULL},
                            {"--seq", &s_t, NULL},             {"--lr", &s_lr, NULL},
                            {"--warmup", &s_w, NULL},          {"--seed", &s_seed, NULL},
                            {"--val-frac", &s_vf, NULL},       {"--checkpoint-every", &s_ce, NULL},
                            {"--int8", NULL, &o->int8},         {"--block", &s_blk, NULL},
                            {"--rule", &o->rule, NULL},         {"--trim", &s_trim, NULL},
                            {"--outer-lr", &s_olr, NULL},      {"--momentum", &s_mom, NULL},
                            {"--reward", &s_rew, NULL},        {"--stake", &s_stk, NULL},
                            {"--bond", &s_bond, NULL},         {"--claim-blocks", &s_cb, NULL},
                            {"--work-blocks", &s_wb, NULL},    {"--window-blocks", &s_winb, NULL},
                            {"--one-task", NULL, &o->one_task}, {"--eval-batches", &s_eb, NULL},
                            {"--poll", &s_poll, NULL},         {"--threads", &s_thr, NULL},
                            {"--fee", &s_fee, NULL},           {NULL, NULL, NULL}};
    int n_pos, prc = cli_parse_opts("round run", argc, argv, 1, opts, pos, 0, &n_pos);
    if (prc) return prc;
    char err[PLOW_ERR_LEN];
    if (parse_long("--participants", s_p, 1, ROUND_MAX_PARTICIPANTS, &o->participants, err) ||
        parse_long("--rounds", s_r, 1, 1000000, &o->rounds, err) ||
        parse_long("--inner-steps", s_h, 1, 10000000, &o->inner_steps, err) ||
        parse_long("--batch", s_b, 1, 4096, &o->batch, err) || parse_long("--seq", s_t, 1, 65536, &o->seq, err) ||
        parse_double("--lr", s_lr, 1e-9, 10, &o->lr, err) || parse_long("--warmup", s_w, 0, 10000000, &o->warmup, err) ||
        (s_seed && cli_u64("--seed", s_seed, &o->seed, err)) ||
        parse_double("--val-frac", s_vf, 0.001, 0.5, &o->val_frac, err) ||
        parse_long("--checkpoint-every", s_ce, 1, 10000000, &o->every, err) ||
        parse_long("--block", s_blk, 1, ROUND_BLOCK_MAX, &o->block, err) ||
        parse_long("--trim", s_trim, 0, ROUND_MAX_PARTICIPANTS / 2, &o->trim, err) ||
        parse_double("--outer-lr", s_olr, 1e-6, 10, &o->outer_lr, err) ||
        parse_double("--momentum", s_mom, 0, 0.999999, &o->momentum, err) ||
        parse_amount("--reward", s_rew, &o->reward, err) || parse_amount("--stake", s_stk, &o->stake, err) ||
        parse_amount("--bond", s_bond, &o->bond, err) || parse_amount("--fee", s_fee, &o->fee, err) ||
        parse_long("--claim-blocks", s_cb, 1, 1000000, &o->claim_blocks, err) ||
        parse_long("--work-blocks", s_wb, 1, 1000000, &o->work_blocks, err) ||
        parse_long("--window-blocks", s_winb, 1, 1000000, &o->window_blocks, err) ||
        parse_long("--eval-batches", s_eb, 1, 100000, &o->eval_batches, err) ||
        parse_double("--poll", s_poll, 0.01, 60, &o->poll, err) || parse_long("--threads", s_thr, 1, 256, &o->threads, err))
        return cli_usage_error("round run", "%s", err);
    if (!o->base || !o->data || !o->out || !s_p || !s_r || !s_h)
        return cli_usage_error("round run", "--base, --data, --participants, --rounds, --inner-steps and --out are required");
    if (o->one_task && o->participants > LEDGER_MAX_REPLICAS)
        return cli_usage_error("round run", "--one-task: a task has at most %d slots", LEDGER_MAX_REPLICAS);
    if (o->every > o->inner_steps) return cli_usage_error("round run", "--checkpoint-every is more than --inner-steps");
    if (o->reward == 0) return cli_usage_error("round run", "--reward must be positive");
    return 0;
}

/* The coordinator's node client, base, tokenizer and data (every shard must
 * hold a batch window), with the data and tokenizer uploaded. */
static int coord_open(coord *k, char err[PLOW_ERR_LEN]) {
    if (!(k->c = client_new(cli_node_url(k->o->node)))) return plow_error(err, "cannot start the HTTP client");
    client_set_key(k->c, &k->key); /* it signs the uploads */
    if (modelio_load_model(&k->m, k->o->base, err) ||
        (k->o->tokenizer ? tokenizer_load(&k->tok, k->o->tokenizer, err)
                         : modelio_load_tokenizer(&k->tok, k->o->base, err)) ||
        dataset_load_text(&k->data, k->o->data, k->tok, k->o->val_frac, err))
        return -1;
    if (tokenizer_vocab_size(k->tok) != k->m->cfg.vocab || k->o->seq > k->m->cfg.ctx)
        return plow_error(err, "the tokenizer (%d tokens) or --seq (%ld) does not fit the base (%d tokens, context %d)",
                          tokenizer_vocab_size(k->tok), k->o->seq, k->m->cfg.vocab, k->m->cfg.ctx);
    for (long p = 0; p < k->o->participants; p++) { /* every shard must hold a batch window */
        dataset sh;
        char e[PLOW_ERR_LEN];
        if (round_shard(k->data, (uint32_t)k->o->participants, (uint32_t)p, (int)k->o->seq, &sh, e))
            return plow_error(err, "%s (fewer --participants, or more --data)", e);
    }
    char *tp = k->o->tokenizer ? plow_strdup(k->o->tokenizer) : pathf(k->o->base, "tokenizer.bin");
    int urc = client_blob_put_file(k->c, k->o->data, k->data_blob, err);
    if (urc == 0) urc = client_blob_put_file(k->c, tp, k->tok_blob, err);
    free(tp);
    if (urc) return plow_error_prefix(err, "uploading the data and tokenizer"), -1;
    return 0;
}

/* The latest round directory under --out, or round 0 = the base. */
static int coord_resume(coord *k, round_state **sp, char err[PLOW_ERR_LEN]) {
    if (plow_mkdir_p(k->o->out, err)) return -1;
    uint64_t t = 0;
    for (;; t++) {
        char name[32];
        snprintf(name, sizeof name, "round_%03" PRIu64 "/outer.bin", t + 1);
        char *p = pathf(k->o->out, name);
        bool has = plow_file_exists(p);
        free(p);
        if (!has) break;
    }
    char name[32];
    snprintf(name, sizeof name, "round_%03" PRIu64, t);
    char *dir = pathf(k->o->out, name), *op = pathf(dir, "outer.bin");
    int rc = 0;
    if (plow_file_exists(op)) {
        rc = load_round(k, dir, sp, err);
        if (rc == 0 && round_state_round(*sp) != t)
            rc = plow_error(err, "'%s' holds round %" PRIu64, op, round_state_round(*sp));
        if (rc == 0) say("resuming at round %" PRIu64 " from %s", t, dir);
    } else {
        rc = round_state_new(sp, k->m->params, k->m->n_params, err);
        if (rc == 0) rc = save_round(k, dir, *sp, err);
    }
    free(op);
    free(dir);
    return rc;
}

static int round_run_cmd(int argc, char **argv) {
    run_opts o = {.participants = 0, .batch = 8, .seq = 64, .warmup = 1, .block = ROUND_BLOCK_DEFAULT, .trim = 1,
                  .eval_batches = 8, .claim_blocks = 60, .work_blocks = 600, .window_blocks = 10, .lr = 3e-3,
                  .val_frac = 0.1, .outer_lr = 0.7, .momentum = 0.9, .poll = 0.5, .seed = 1, .reward = 100,
                  .stake = 1000, .bond = 10, .fee = CLI_DEFAULT_FEE, .rule = "mean"};
    int prc = round_run_parse(argc, argv, &o);
    if (prc) return prc;
    char err[PLOW_ERR_LEN];
    coord k;
    memset(&k, 0, sizeof k);
    k.o = &o;
    if (round_agg_parse(o.rule, &k.agg, err)) return cli_usage_error("round run", "--rule: %s", err);
    if (cli_init_engine(NULL, o.threads, err)) return cli_fail("%s", err);

    int rc = 1;
    bool have_key = false;
    round_state *s = NULL;
    FILE *csv = NULL;
    char e2[PLOW_ERR_LEN];
    if (cli_load_key(o.key, &k.key, err)) {
        cli_fail("%s", err);
        goto out;
    }
    have_key = true;
    if (coord_open(&k, err) || coord_resume(&k, &s, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char *cp = pathf(o.out, "rounds.csv");
    bool fresh = !plow_file_exists(cp);
    csv = fopen(cp, "a");
    free(cp);
    if (!csv) {
        cli_fail("cannot write %s/rounds.csv", o.out);
        goto out;
    }
    if (fresh) fprintf(csv, "round,tasks,contributions,bytes_sent,bytes_f32,val_loss_before,val_loss_after,state\n");
    say("%ld participants, %ld rounds of %ld inner steps, %s, rule %s; %zu parameters (%zu bytes a contribution as "
        "float32, %zu as int8/%ld)",
        o.participants, o.rounds, o.inner_steps, o.int8 ? "int8" : "f32", o.rule, k.m->n_params,
        round_contrib_size(k.m->n_params, ROUND_ENC_F32, 0),
        round_contrib_size(k.m->n_params, ROUND_ENC_INT8, (uint32_t)o.block), o.block);
    while (round_state_round(s) < (uint64_t)o.rounds) {
        if (run_round(&k, &s, csv, err)) {
            cli_fail("round %" PRIu64 ": %s", round_state_round(s), err);
            goto out;
        }
    }
    if (expire_leftovers(&k, (uint64_t)o.rounds, e2)) say("leftover tasks not expired: %s", e2);
    uint8_t h[32];
    char hex[65];
    round_state_hash(s, h);
    plow_hex(h, 32, hex);
    say("done: %" PRIu64 " rounds; the shared weights are in %s/round_%03" PRIu64, round_state_round(s), o.out,
        round_state_round(s));
    printf("state %s\n", hex);
    rc = 0;
out:
    if (csv) fclose(csv);
    if (have_key) ledger_key_wipe(&k.key);
    round_state_free(s);
    model_free(k.m);
    dataset_free(k.data);
    tokenizer_free(k.tok);
    client_free(k.c);
    return rc;
}

/* ---- plow round aggregate ------------------------------------------------------------ */

static int round_aggregate_cmd(int argc, char **argv) {
    const char *node_url = NULL, *out = NULL;
    const char *tasks[ROUND_MAX_TASKS];
    int n_tasks = 0;
    char err[PLOW_ERR_LEN];
    for (int i = 1; i < argc; i++) { /* --task repeats, so the options are read here */
        const char *a = argv[i];
        bool is_task = strcmp(a, "--task") == 0, is_node = strcmp(a, "--node") == 0, is_out = strcmp(a, "--out") == 0;
        if (!is_task && !is_node && !is_out) return cli_usage_error("round aggregate", "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("round aggregate", "%s needs a value", a);
        const char *v = argv[++i];
        if (is_node) node_url = v;
        else if (is_out) out = v;
        else if (n_tasks == ROUND_MAX_TASKS) return cli_usage_error("round aggregate", "too many --task");
        else tasks[n_tasks++] = v;
    }
    if (n_tasks == 0 || !out) return cli_usage_error("round aggregate", "--task ID (one or more) and --out DIR are required");
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    client *c = client_new(cli_node_url(node_url));
    if (!c) return cli_fail("cannot start the HTTP client");
    int rc = 1;
    ledger_task *ts = plow_calloc((size_t)n_tasks, sizeof *ts);
    round_state *s = NULL;
    model *m = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    job_spec spec0;
    round_report_net rep;
    char *mp = pathf(out, "model.safetensors"), *cp = pathf(out, "config.json"), *op = pathf(out, "outer.bin");
    for (int i = 0; i < n_tasks; i++) {
        uint8_t id[32];
        if (strlen(tasks[i]) != 64 || plow_unhex(tasks[i], id, 32)) {
            cli_usage_error("round aggregate", "--task expects a task id (64 hex digits), got '%s'", tasks[i]);
            rc = 2;
            goto out;
        }
        if (client_task(c, id, &ts[i], err)) {
            cli_fail("task %s: %s", tasks[i], err);
            goto out;
        }
        if (ts[i].status != LEDGER_TASK_FINALIZED && ts[i].status != LEDGER_TASK_EXPIRED)
            say("task %.16s is %s: only its slots paid so far count", tasks[i], ledger_task_status_name(ts[i].status));
    }
    /* the round's start: W_t (the base model of the spec) and the outer state blob */
    if (fetch_spec(c, &ts[0], &spec0, err) || plow_mkdir_p(out, err) ||
        client_blob_get_file(c, spec0.base_model, mp, err) || client_blob_get_file(c, spec0.base_config, cp, err) ||
        modelio_load_model(&m, out, err) || client_blob_get(c, spec0.outer_state, &buf, &n, err) ||
        round_state_parse(&s, buf, n, m->n_params, err)) {
        cli_fail("%s", err);
        goto out;
    }
    uint8_t h[32];
    size_t nw;
    const float *w = round_state_weights(s, &nw);
    round_state_hash(s, h);
    if (memcmp(h, spec0.outer_hash, 32) != 0 || round_state_round(s) != spec0.round ||
        memcmp(w, m->params, nw * sizeof(float)) != 0) {
        cli_fail("the outer state blob is not the round's: its hash, round or weights differ from the spec's");
        goto out;
    }
    if (apply_round(c, ts, n_tasks, s, &spec0, &rep, err)) {
        cli_fail("%s", err);
        goto out;
    }
    plow_buf b = {0};
    round_state_serialize(s, &b);
    w = round_state_weights(s, &nw);
    memcpy(m->params, w, nw * sizeof(float));
    int wrc = plow_write_file(op, b.data, b.len, err);
    plow_buf_release(&b);
    if (wrc || modelio_save_model(m, out, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char hex[65];
    round_state_hash(s, h);
    plow_hex(h, 32, hex);
    say("round %" PRIu64 ": %d contribution%s aggregated (%s, %zu bytes) -> round %" PRIu64 " written to %s",
        spec0.round, rep.present, rep.present == 1 ? "" : "s", round_agg_name((round_agg)spec0.agg), rep.bytes_sent,
        round_state_round(s), out);
    printf("state %s\n", hex);
    rc = 0;
out:
    free(buf);
    free(mp);
    free(cp);
    free(op);
    free(ts);
    round_state_free(s);
    model_free(m);
    client_free(c);
    return rc;
}

int cmd_round(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(round_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cli_wants_help(argc, argv)) {
        fputs(round_help, stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) return round_run_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "aggregate") == 0) return round_aggregate_cmd(argc - 1, argv + 1);
    return cli_usage_error("round", "unknown subcommand '%s' (run or aggregate)", argv[1]);
}
