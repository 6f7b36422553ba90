/*
 * trainer.c — job_train: a training run as `plow train` and a worker make it,
 * in three parts.
 *
 *   setup    the task the options define (job_train_task), handed with its
 *            tokenizer, inputs and base to the proof layer's replay: the
 *            worker's state 0 and steps ARE the verifier's, by construction;
 *   loop     steps, per-step hashes (states.txt, the trace's leaves),
 *            checkpoints, the log and its evaluations;
 *   publish  the artifact (the proof row writes it), the commitment, the
 *            final state and run.json.
 *
 * What differs by kind lives in the rows: the proof row's state, step and
 * artifact (src/proof/kinds.c), the job row's metrics (what is evaluated and
 * logged, below). The cheats of tests and demos are one call, job_cheat
 * (cheat.c), at five points.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>

#include "../data/tokenizer.h"
#include "../model/modelio.h"
#include "../tensor/tensor.h"
#include "job_internal.h"
#include "rollout.h"

struct trainer {
    const job_train_opts *o;
    const job_hooks *h;
    const job_kind *k;
    proof_task task;
    proof_replay *r;
    train_state *s;
    prefs *heldout;
    job_cheat_plan cheat;
    FILE *states, *log;
    uint8_t *leaves;
    proof_ckpt_writer *ckw;
    double tokens, secs;
    float val;
    dpo_eval_stats ev, ev0; /* pairs: after the last evaluation, before the first step */
    double acc, acc0;       /* rl: held-out accuracy after the last evaluation, before the first step */
    long ro_accepted, ro_refused;   /* rl, distributed rollouts: claims so far */
    double ro_check, ro_step;       /* seconds checking claims, of the trainer's steps */
    job_train_result *res;
};

static void note(const trainer *t, const char *fmt, ...) PLOW_PRINTF(2, 3);
static void note(const trainer *t, const char *fmt, ...) {
    if (!t->h || !t->h->note) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->h->note(t->h->arg, line);
}

static void progress(const job_hooks *h, const char *phase, long done, long total, const char *extra) {
    if (h && h->progress) h->progress(h->arg, phase, done, total, extra);
}

static char *path2(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static FILE *open_in(const char *dir, const char *file, char err[PLOW_ERR_LEN]) {
    char *p = path2(dir, file);
    FILE *f = fopen(p, "w");
    if (!f) plow_error(err, "cannot create '%s'", p);
    free(p);
    return f;
}

static const char *adapter_note(const trainer *t) { return t->task.lora ? " + LoRA" : ""; }

/* ---- metrics of runs on a text: the validation loss ---------------------------------- */

static void text_describe(trainer *t, size_t trainable) {
    const train_hparams *hp = &t->task.hp;
    const dataset *on = proof_replay_steps_text(t->r), *whole = proof_replay_text(t->r);
    note(t, "%s%s%s, %zu trainable parameters, %zu train / %zu val tokens, %d x %d tokens per step, %s x %d threads",
         t->task.cfg.name, adapter_note(t), t->k->run_note ? t->k->run_note : "", trainable, on->n_train, whole->n_val, hp->batch, hp->seq,
         tensor_path_name(tensor_path_get()), tensor_threads());
}

static void text_evaluate(trainer *t) {
    const dataset *d = proof_replay_text(t->r);
    t->val = train_eval(t->s, d->val, d->n_val, (int)t->o->eval_batches);
}

static void text_before(trainer *t) {
    if (t->o->eval_every <= 0) return;
    text_evaluate(t); /* the loss before any training, as step 0 */
    fprintf(t->log, "0,,,,%.6f,\n", (double)t->val);
    note(t, "validation loss before training %.4f", (double)t->val);
}

static void text_log_step(trainer *t, const train_stats *st, const dpo_stats *ds, bool eval, char *extra, size_t cap) {
    (void)ds;
    double tps = t->tokens / t->secs;
    if (!eval) snprintf(extra, cap, "loss %.4f lr %.2e %.0f tok/s", (double)st->loss, (double)st->lr, tps);
    else snprintf(extra, cap, "loss %.4f val %.4f lr %.2e %.0f tok/s", (double)st->loss, (double)t->val, (double)st->lr, tps);
}

static void text_finish(trainer *t) {
    note(t, "validation loss %.4f, %.0f tokens/s, wrote %s", (double)t->val, t->res->tokens_per_second, t->o->out);
}

/* ---- metrics of runs on pairs: the preferences (held-out, else training) ------------ */

/* The held-out pairs, else the first 64 pairs of the training set. */
static void pairs_eval(trainer *t, dpo_eval_stats *out) {
    const prefs *train = proof_replay_pairs(t->r);
    dpo_eval(t->s, t->heldout ? t->heldout : train, t->heldout ? 0 : 64, out);
}

static const char *pairs_which(const trainer *t) { return t->heldout ? "held-out" : "training"; }

static void pairs_describe(trainer *t, size_t trainable) {
    const train_hparams *hp = &t->task.hp;
    note(t, "%s%s DPO (beta %g), %zu trainable parameters, %zu pairs%s, %d pairs x %d tokens per step, %s x %d threads",
         t->task.cfg.name, adapter_note(t), (double)t->task.beta, trainable, proof_replay_pairs(t->r)->n,
         t->heldout ? " (+ held-out)" : "", hp->batch, hp->seq, tensor_path_name(tensor_path_get()), tensor_threads());
}

static void pairs_evaluate(trainer *t) {
    pairs_eval(t, &t->ev);
    t->val = (float)t->ev.loss;
}

static void pairs_before(trainer *t) { /* the base's preferences (the reward metrics are 0 at step 0) */
    pairs_eval(t, &t->ev0);
    const dpo_eval_stats *e = &t->ev0;
    if (t->o->eval_every > 0)
        fprintf(t->log, "0,,,,%.6f,,,,,,%.6f,%.6f,%.6f,%.6f\n", e->loss, e->accuracy, e->margin, e->policy_accuracy,
                e->policy_margin);
    note(t, "%s pairs before training: policy accuracy %.4f, policy margin %.4f, DPO loss %.4f", pairs_which(t),
         e->policy_accuracy, e->policy_margin, e->loss);
}

static void pairs_log_step(trainer *t, const train_stats *st, const dpo_stats *ds, bool eval, char *extra, size_t cap) {
    const dpo_eval_stats *e = &t->ev;
    fprintf(t->log, ",%.6f,%.6f,%.6f,%.6f,", (double)ds->margin, (double)ds->accuracy, (double)ds->chosen_reward,
            (double)ds->rejected_reward);
    if (eval) fprintf(t->log, "%.6f,%.6f,%.6f,%.6f", e->accuracy, e->margin, e->policy_accuracy, e->policy_margin);
    else fprintf(t->log, ",,,");
    snprintf(extra, cap, "loss %.4f margin %.3f acc %.2f", (double)st->loss, (double)ds->margin, (double)ds->accuracy);
}

static void pairs_run_json(const trainer *t, cJSON *j) {
    cJSON_AddNumberToObject(j, "beta", (double)t->task.beta);
    for (int k = 0; k < 2; k++) {
        const dpo_eval_stats *e = k ? &t->ev : &t->ev0;
        cJSON *x = cJSON_AddObjectToObject(j, k ? "eval_after" : "eval_before");
        cJSON_AddNumberToObject(x, "pairs", (double)e->pairs);
        cJSON_AddNumberToObject(x, "loss", e->loss);
        cJSON_AddNumberToObject(x, "accuracy", e->accuracy);
        cJSON_AddNumberToObject(x, "margin", e->margin);
        cJSON_AddNumberToObject(x, "policy_accuracy", e->policy_accuracy);
        cJSON_AddNumberToObject(x, "policy_margin", e->policy_margin);
    }
}

static void pairs_finish(trainer *t) {
    const dpo_eval_stats *e = &t->ev;
    t->res->dpo_before = t->ev0;
    t->res->dpo_after = t->ev;
    note(t, "%s pairs after training: policy accuracy %.4f, policy margin %.4f, reward accuracy %.4f, margin %.4f, "
            "DPO loss %.4f; wrote %s",
         pairs_which(t), e->policy_accuracy, e->policy_margin, e->accuracy, e->margin, e->loss, t->o->out);
}

const job_metrics job_metrics_text = {
    .csv_header = "step,loss,grad_norm,lr,val_loss,seconds\n",
    .rows_per_example = 1,
    .describe = text_describe,
    .before = text_before,
    .evaluate = text_evaluate,
    .log_step = text_log_step,
    .finish = text_finish,
};

const job_metrics job_metrics_pairs = {
    .csv_header = "step,loss,grad_norm,lr,val_loss,seconds,margin,accuracy,chosen_reward,rejected_reward,"
                  "val_accuracy,val_margin,val_policy_accuracy,val_policy_margin\n",
    .rows_per_example = 2,
    .describe = pairs_describe,
    .before = pairs_before,
    .evaluate = pairs_evaluate,
    .log_step = pairs_log_step,
    .run_json = pairs_run_json,
    .finish = pairs_finish,
};

/* ---- metrics of RL runs: rewards, and held-out accuracy ----------------------------- */

static void rl_describe(trainer *t, size_t trainable) {
    const proof_task *k = &t->task;
    note(t, "%s%s RL (group %u, %u new tokens, temperature %g, kl %g), %zu trainable parameters, %d problems of "
            "%u..%u digits per step, %s x %d threads",
         k->cfg.name, adapter_note(t), k->rl.group, k->rl.max_new, (double)k->rl.temperature, (double)k->rl.kl,
         trainable, k->hp.batch, k->problems.min_digits, k->problems.max_digits, tensor_path_name(tensor_path_get()),
         tensor_threads());
}

/* Greedy accuracy on the held-out half of the task's problems; the value
 * logged is the error rate (lower is better, as a loss). */
static void rl_evaluate(trainer *t) {
    problem_set ps = t->task.problems;
    char err[PLOW_ERR_LEN];
    ps.split = PROBLEM_HELDOUT;
    size_t n = (size_t)(t->o->eval_batches > 0 ? t->o->eval_batches : 1) * 8;
    if (rl_eval(proof_replay_model(t->r), proof_replay_lora(t->r), proof_replay_tokenizer(t->r), &ps, n,
                (int)t->task.rl.max_new, &t->acc, NULL, err)) {
        note(t, "held-out evaluation failed: %s", err);
        t->acc = 0;
    }
    t->val = (float)(1.0 - t->acc);
}

static void rl_before(trainer *t) {
    rl_evaluate(t);
    t->acc0 = t->acc;
    if (t->o->eval_every > 0) fprintf(t->log, "0,,,,%.6f,,,,,\n", (double)t->val);
    note(t, "held-out accuracy before training %.4f", t->acc0);
}

static void rl_log_step(trainer *t, const train_stats *st, const dpo_stats *ds, bool eval, char *extra, size_t cap) {
    (void)ds;
    int n = 0;
    const rl_rollout *ro = train_state_rl_rollouts(t->s, &n);
    double reward = 0, right = 0, formed = 0, len = 0;
    for (int i = 0; i < n; i++) {
        reward += ro[i].reward;
        right += ro[i].grade == PROBLEM_RIGHT;
        formed += ro[i].grade != PROBLEM_WRONG_FORMAT;
        len += ro[i].n;
    }
    if (n > 0) reward /= n, right /= n, formed /= n, len /= n;
    fprintf(t->log, ",%.6f,%.6f,%.6f,%.3f", reward, right, formed, len);
    if (eval) snprintf(extra, cap, "loss %.4f reward %.3f acc %.3f held-out %.3f", (double)st->loss, reward, right, t->acc);
    else snprintf(extra, cap, "loss %.4f reward %.3f acc %.3f", (double)st->loss, reward, right);
}

/* A step on rollouts made by rollout workers (rollout.h): the same state as
 * the in-step sampled one; each refused claim is noted with its worker. */
static int distributed_step(trainer *t, train_stats *st, char err[PLOW_ERR_LEN]) {
    rollout_report rep;
    if (rollout_step(t->s, t->o->rollouts, &rep, st, NULL, err)) return -1;
    for (int k = 0; k < rep.refused; k++)
        note(t, "step %" PRIu64 ": rollout %d refused: %s", train_state_step(t->s), rep.refusals[k].index,
             rep.refusals[k].why);
    t->ro_accepted += rep.accepted;
    t->ro_refused += rep.refused;
    t->ro_check += rep.check_seconds;
    t->ro_step += rep.step_seconds;
    rollout_report_release(&rep);
    return 0;
}

static void rl_run_json(const trainer *t, cJSON *j) {
    cJSON_AddNumberToObject(j, "heldout_accuracy_before", t->acc0);
    cJSON_AddNumberToObject(j, "heldout_accuracy_after", t->acc);
    if (t->o->rollouts) {
        cJSON_AddNumberToObject(j, "rollouts_accepted", (double)t->ro_accepted);
        cJSON_AddNumberToObject(j, "rollouts_refused", (double)t->ro_refused);
        cJSON_AddNumberToObject(j, "rollout_check_share", t->ro_step > 0 ? t->ro_check / t->ro_step : 0);
    }
}

static void rl_finish(trainer *t) {
    if (t->o->rollouts)
        note(t, "distributed rollouts: %ld accepted, %ld refused; checking them took %.1f%% of the trainer's step time "
                "(%.3f s of %.3f s)",
             t->ro_accepted, t->ro_refused, t->ro_step > 0 ? 100.0 * t->ro_check / t->ro_step : 0.0, t->ro_check,
             t->ro_step);
    note(t, "held-out accuracy %.4f -> %.4f; wrote %s", t->acc0, t->acc, t->o->out);
}

const job_metrics job_metrics_rl = {
    .csv_header = "step,loss,grad_norm,lr,heldout_error,seconds,reward,accuracy,format,tokens\n",
    .rows_per_example = 1,
    .describe = rl_describe,
    .before = rl_before,
    .evaluate = rl_evaluate,
    .log_step = rl_log_step,
    .run_json = rl_run_json,
    .finish = rl_finish,
};

/* ---- setup ----------------------------------------------------------------------- */

typedef struct tok_ctx {
    const job_hooks *h;
} tok_ctx;

static void tok_progress(void *ctx, int done, int total) {
    const tok_ctx *t = ctx;
    progress(t->h, "tokenizer", done, total, "");
}

/* Loads, reuses or trains the run's tokenizer. */
static int get_tokenizer(const job_train_opts *o, const job_hooks *h, tokenizer **tok, char err[PLOW_ERR_LEN]) {
    char e2[PLOW_ERR_LEN];
    if (o->tokenizer) return tokenizer_load(tok, o->tokenizer, err);
    if (o->base) { /* a kind on a base model: the base's */
        if (modelio_load_tokenizer(tok, o->base, e2)) return plow_error(err, "%s (pass --tokenizer FILE)", e2);
        return 0;
    }
    uint8_t *buf;
    size_t n;
    if (plow_read_file(o->data, TOKENIZER_MAX_TRAIN_BYTES, &buf, &n, err)) return -1;
    tok_ctx tc = {h};
    progress(h, "tokenizer", 0, o->vocab - 257, NULL);
    int rc = tokenizer_train(tok, buf, n, (int)o->vocab, tok_progress, &tc, e2);
    free(buf);
    if (rc) return plow_error(err, "cannot train a tokenizer on '%s': %s", o->data, e2);
    return 0;
}

/* The tokenizer, the inputs, the base, the task; then the replay that owns
 * them, at state 0 of the task. */
static int setup(trainer *t, char err[PLOW_ERR_LEN]) {
    const job_train_opts *o = t->o;
    tokenizer *tok = NULL;
    model *base = NULL;
    proof_inputs in = {0};
    char e2[PLOW_ERR_LEN];
    int rc = -1;
    if (plow_mkdir_p(o->out, err) || get_tokenizer(o, t->h, &tok, err)) goto out;
    {
        char *tp = path2(o->out, "tokenizer.bin");
        int trc = tokenizer_save(tok, tp, err);
        free(tp);
        if (trc) goto out;
    }
    {
        proof_task kt = {.kind = o->kind, .val_frac = o->val_frac};
        if (o->data) snprintf(kt.data, sizeof kt.data, "%s", o->data);
        if (proof_inputs_load(&kt, tok, &in, err)) goto out;
    }
    if (o->heldout && prefs_load(&t->heldout, o->heldout, tok, err)) goto out;
    if (o->base && modelio_load_model(&base, o->base, e2)) {
        plow_error(err, "cannot load the base model: %s", e2);
        goto out;
    }
    if (job_train_task(o, tok, &in, base, &t->task, err)) goto out;
    if (in.text && in.text->n_val <= (size_t)t->task.hp.seq) {
        plow_error(err, "'%s' is too short: %zu validation tokens, need more than %d (lower --seq)", o->data,
                   in.text->n_val, t->task.hp.seq);
        goto out;
    }
    rc = proof_replay_adopt(&t->r, &t->task, tok, &in, base, err); /* owns them now, even on failure */
    tok = NULL, base = NULL;
    if (rc) goto out;
    rc = -1;
    proof_replay_reinit(t->r);
    t->s = proof_replay_state(t->r);
    job_cheat(&t->cheat, JOB_CHEAT_AT_START, t->r, 0, NULL, NULL);
    rc = 0;
out:
    proof_inputs_release(&in);
    model_free(base);
    tokenizer_free(tok);
    return rc;
}

/* ---- the loop -------------------------------------------------------------------- */

static void record_state(trainer *t, long step) {
    if (t->o->no_hashes) return;
    uint8_t hash[PLOW_HASH_LEN];
    char hex[65];
    train_state_hash(t->s, hash);
    plow_hex(hash, PLOW_HASH_LEN, hex);
    fprintf(t->states, "%ld %s\n", step, hex);
    if (t->leaves) memcpy(t->leaves + (size_t)step * PLOW_HASH_LEN, hash, PLOW_HASH_LEN);
}

static int checkpoint(trainer *t, long step, char err[PLOW_ERR_LEN]) {
    job_cheat(&t->cheat, JOB_CHEAT_AT_CHECKPOINT, t->r, step, NULL, NULL);
    int rc = proof_ckpt_writer_submit(t->ckw, t->s, err);
    job_cheat(&t->cheat, JOB_CHEAT_AT_RESTORE, t->r, step, NULL, NULL);
    return rc;
}

static int loop(trainer *t, char err[PLOW_ERR_LEN]) {
    const job_train_opts *o = t->o;
    const job_metrics *mt = t->k->metrics;
    const train_hparams *hp = &t->task.hp;
    size_t trainable;
    train_state_weights(t->s, &trainable);
    mt->describe(t, trainable);
    if (!(t->states = open_in(o->out, "states.txt", err)) || !(t->log = open_in(o->out, "train_log.csv", err)))
        return -1;
    fputs(mt->csv_header, t->log);
    if (o->commit) t->leaves = plow_alloc((size_t)(o->steps + 1) * PLOW_HASH_LEN);
    record_state(t, 0);
    if (o->commit) {
        t->ckw = proof_ckpt_writer_new(o->out);
        if (checkpoint(t, 0, err)) return -1;
    }
    mt->before(t);
    progress(t->h, "train", 0, o->steps, NULL);
    double rows = (double)hp->batch * mt->rows_per_example;
    t->val = NAN;
    for (long i = 1; i <= o->steps; i++) {
        train_stats st;
        dpo_stats ds;
        memset(&ds, 0, sizeof ds);
        if (job_cheat(&t->cheat, JOB_CHEAT_AT_STEP, t->r, i, &st, &ds)) {
        } else if (o->rollouts) {
            if (distributed_step(t, &st, err)) return -1;
        } else {
            proof_replay_step_stats(t->r, &st, &ds);
        }
        job_cheat(&t->cheat, JOB_CHEAT_AT_STEP_DONE, t->r, i, &st, &ds);
        t->tokens += rows * hp->seq;
        t->secs += st.seconds;
        record_state(t, i);
        if (o->commit && (i % o->every == 0 || i == o->steps) && checkpoint(t, i, err)) return -1;
        bool eval = (o->eval_every > 0 && i % o->eval_every == 0) || i == o->steps;
        if (eval) mt->evaluate(t);
        fprintf(t->log, "%ld,%.6f,%.6f,%.6g,", i, (double)st.loss, (double)st.gnorm, (double)st.lr);
        if (eval) fprintf(t->log, "%.6f", (double)t->val);
        fprintf(t->log, ",%.4f", st.seconds);
        char extra[160];
        mt->log_step(t, &st, &ds, eval, extra, sizeof extra);
        fprintf(t->log, "\n");
        progress(t->h, "train", i, o->steps, extra);
    }
    fflush(t->states);
    fflush(t->log);
    return 0;
}

/* ---- publish --------------------------------------------------------------------- */

static int write_run_json(trainer *t, const char *state_hex, char err[PLOW_ERR_LEN]) {
    const job_train_opts *o = t->o;
    const train_hparams *hp = &t->task.hp;
    char hex[65], seed[32];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", task_kind_name(t->task.kind));
    cJSON_AddBoolToObject(j, "adapter", t->task.lora);
    cJSON_AddStringToObject(j, "config", t->task.cfg.name);
    cJSON_AddStringToObject(j, "data", o->data ? o->data : "");
    plow_hex(t->task.data_hash, PLOW_HASH_LEN, hex);
    cJSON_AddStringToObject(j, "data_hash", hex);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "batch", hp->batch);
    cJSON_AddNumberToObject(j, "seq", hp->seq);
    cJSON_AddNumberToObject(j, "final_val_loss", (double)t->res->val_loss);
    cJSON_AddNumberToObject(j, "tokens_per_second", t->res->tokens_per_second);
    cJSON_AddStringToObject(j, "state", state_hex);
    if (t->res->contribution_bytes) cJSON_AddNumberToObject(j, "contribution_bytes", (double)t->res->contribution_bytes);
    if (t->k->metrics->run_json) t->k->metrics->run_json(t, j);
    char *js = cJSON_Print(j);
    cJSON_Delete(j);
    char *p = path2(o->out, "run.json");
    int rc = plow_write_file(p, js, strlen(js), err);
    free(p);
    free(js);
    return rc;
}

static int publish(trainer *t, char err[PLOW_ERR_LEN]) {
    const job_train_opts *o = t->o;
    job_train_result *res = t->res;
    size_t bytes = 0;
    job_cheat(&t->cheat, JOB_CHEAT_AT_PUBLISH, t->r, o->steps, NULL, NULL);
    int rc = proof_replay_publish(t->r, o->out, res->artifact, &bytes, err);
    job_cheat(&t->cheat, JOB_CHEAT_AT_RESTORE, t->r, o->steps, NULL, NULL);
    if (rc) return -1;
    res->contribution_bytes = bytes; /* 0 unless the artifact is a file of its own (a contribution) */
    if (t->ckw) {
        int frc = proof_ckpt_writer_finish(t->ckw, err);
        t->ckw = NULL;
        if (frc) return -1;
    }
    train_state_task_id(t->s, res->task_id);
    if (o->commit) {
        t->task.checkpoint_every = (uint32_t)o->every;
        if (proof_task_save(&t->task, o->out, err) ||
            proof_write_commitment(o->out, res->task_id, t->leaves, (uint64_t)o->steps, res->artifact,
                                   (uint32_t)o->every, err))
            return -1;
        merkle_root(t->leaves, (size_t)o->steps + 1, res->trace_root);
    }
    plow_buf sb = {0};
    train_state_serialize(t->s, &sb);
    char *sp = path2(o->out, "state.bin");
    rc = plow_write_file(sp, sb.data, sb.len, err);
    free(sp);
    plow_buf_release(&sb);
    if (rc) return -1;
    char hex[65];
    train_state_hash(t->s, res->state);
    plow_hex(res->state, PLOW_HASH_LEN, hex);
    res->n = (uint64_t)o->steps;
    res->val_loss = t->val;
    res->tokens_per_second = t->tokens / t->secs;
    if (write_run_json(t, hex, err)) return -1;
    if (job_cheat_files(&t->cheat, o->out, o->steps, err)) return -1;
    t->k->metrics->finish(t);
    return 0;
}

int job_train(const job_train_opts *o, const job_hooks *h, job_train_result *res, char err[PLOW_ERR_LEN]) {
    memset(res, 0, sizeof *res);
    trainer t = {.o = o, .h = h, .res = res};
    if ((unsigned)o->kind >= TASK_KIND_COUNT || !task_kind_replays(o->kind))
        return plow_error(err, "a %s task is not a training run", task_kind_name(o->kind));
    t.k = job_kind_of(o->kind);
    if (job_cheat_plan_init(&t.cheat, o, err)) return -1;
    int rc = setup(&t, err) || loop(&t, err) || publish(&t, err) ? -1 : 0;
    proof_ckpt_writer_finish(t.ckw, NULL);
    free(t.leaves);
    if (t.states) fclose(t.states);
    if (t.log) fclose(t.log);
    job_cheat_plan_release(&t.cheat);
    proof_replay_free(t.r);
    prefs_free(t.heldout);
    return rc;
}
