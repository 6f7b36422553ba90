/*
 * kinds.c — the job layer's table of task kinds (kind.h, job_internal.h):
 * one row per kind with its ledger number, its spec fields, the `plow train`
 * options it stands for, its work (run, verify, diverge, referee) and the
 * facts agents read. The rest of src/job, and the agents above it, dispatch
 * through these rows; docs/tasks.md "Adding a kind" says what a new row needs.
 */
#include "../base/plow.h"

#include "../train/round.h"
#include "job_internal.h"

/* ---- what the ledger's steps count ------------------------------------------------ */

static uint64_t steps_of(const job_spec *s) { return (uint64_t)s->steps; }
static uint64_t tokens_of(const job_spec *s) { return (uint64_t)s->tokens; }
static uint64_t items_of(const job_spec *s) { return (uint64_t)s->n_items; }

/* ---- the options a spec stands for: each kind's part --------------------------------- */

static void lora_fields(const job_spec *s, job_train_opts *o) {
    o->lora = true;
    o->rank = s->rank;
    o->alpha = s->alpha;
    o->targets = s->targets;
}

static void train_spec_opts(const jctx *x, job_train_opts *o) {
    o->config = x->spec->config;
    o->head = x->spec->head;
}

static void lora_spec_opts(const jctx *x, job_train_opts *o) {
    o->base = x->base;
    lora_fields(x->spec, o);
}

static void dpo_spec_opts(const jctx *x, job_train_opts *o) {
    const job_spec *s = x->spec;
    o->base = x->base;
    o->heldout = s->has_heldout ? x->heldout : NULL;
    o->beta = s->beta;
    if (s->has_lora) lora_fields(s, o);
}

static void round_spec_opts(const jctx *x, job_train_opts *o) {
    const job_spec *s = x->spec;
    o->base = x->base;
    o->shards = s->participants;
    o->shard = x->slot >= 0 ? (uint32_t)x->slot : 0;
    o->round_index = s->round;
    o->enc = s->enc;
    o->block = s->block;
    memcpy(o->outer_hash, s->outer_hash, 32);
}

static void rl_spec_opts(const jctx *x, job_train_opts *o) {
    const job_spec *s = x->spec;
    o->base = x->base;
    o->problems = s->problems;
    o->rl = s->rl;
    if (s->has_lora) lora_fields(s, o);
}

/* ---- each kind's checks of `plow train` options ------------------------------------- */

static int train_opts_check(const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (o->lora) return plow_error(err, "full training has no adapter (a LoRA run is kind lora)");
    if (o->base) return plow_error(err, "--base is only used with --lora or --dpo");
    return 0;
}

static int lora_opts_check(const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (!o->lora) return plow_error(err, "a LoRA run trains an adapter");
    if (!o->base) return plow_error(err, "--lora needs --base DIR (the model to adapt)");
    return 0;
}

static int dpo_opts_check(const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (!o->base) return plow_error(err, "--dpo needs --base DIR (the reference model)");
    if (!(o->beta > 0 && o->beta <= 100)) return plow_error(err, "--beta must be in (0, 100]");
    return 0;
}

static int round_opts_check(const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (!o->base || o->lora) return plow_error(err, "a round participant trains the whole base model");
    if (o->shards < 1 || o->shards > ROUND_MAX_SHARDS || o->shard >= o->shards)
        return plow_error(err, "round: participant %u of %u shards", o->shard, o->shards);
    if (o->enc < 0 || o->enc >= ROUND_ENC_COUNT ||
        (o->enc == ROUND_ENC_INT8 && (o->block < 1 || o->block > ROUND_BLOCK_MAX)))
        return plow_error(err, "round: unknown encoding or int8 block out of 1..%d", ROUND_BLOCK_MAX);
    return 0;
}

static int rl_opts_check(const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    if (!o->base) return plow_error(err, "an RL run needs --base DIR (the policy to improve, and the reference)");
    if (o->problems.split != PROBLEM_TRAIN) return plow_error(err, "an RL run trains on the training split of its problems");
    return problem_set_check(&o->problems, err) || rl_params_check(&o->rl, err) ? -1 : 0;
}

/* ---- each kind's fields of the task the options define ------------------------------- */

static int dpo_opts_task(const job_train_opts *o, proof_task *t, char err[PLOW_ERR_LEN]) {
    (void)err;
    t->beta = (float)o->beta;
    t->val_frac = 0; /* pairs: the held-out set is a file of its own */
    return 0;
}

static int round_opts_task(const job_train_opts *o, proof_task *t, char err[PLOW_ERR_LEN]) {
    (void)err;
    train_hparams *hp = &t->hp;
    hp->min_lr = hp->lr; /* constant after the warm-up, as round_config_default */
    round_inner_hparams(hp, o->round_index, o->shard, hp);
    t->shards = o->shards;
    t->shard = o->shard;
    t->round = o->round_index;
    t->enc = (uint32_t)o->enc;
    t->block = o->enc == ROUND_ENC_INT8 ? o->block : 0;
    memcpy(t->outer_hash, o->outer_hash, PLOW_HASH_LEN);
    return 0;
}

static int rl_opts_task(const job_train_opts *o, proof_task *t, char err[PLOW_ERR_LEN]) {
    (void)err;
    t->problems = o->problems;
    t->rl = o->rl;
    t->val_frac = 0;
    return 0;
}

/* ---- cheats (a test facility) ------------------------------------------------------- */

static const char *cheat_as_given(const job_spec *s, const char *cheat, char buf[64]) {
    (void)s, (void)buf;
    return cheat;
}

/* a generation has one cheat: an output token changed (default: the middle one) */
static const char *infer_cheat(const job_spec *s, const char *cheat, char buf[64]) {
    if (strncmp(cheat, "perturb", 7) != 0) return NULL;
    if (cheat[7] == '@') return cheat;
    snprintf(buf, 64, "perturb@%d", s->tokens / 2 > 0 ? s->tokens / 2 : 1);
    return buf;
}

/* ---- the table ------------------------------------------------------------------- */

#define TRAINING_WORK                                                                                \
    .cost = job_cost_training, .cheat_for = cheat_as_given, .run = job_run_training, .verify = job_verify_training, .diverge = job_diverge_training,         \
    .referee = job_referee_training

static const job_kind kinds[] = {
    [TASK_TRAIN] = {.f = {TASK_TRAIN, LEDGER_KIND_TRAIN, "steps", true, true},
                    .spec_parse = spec_parse_train, .spec_write = spec_write_train, .ledger_steps = steps_of,
                    .data_file = "data.txt", .metrics = &job_metrics_text, .spec_opts = train_spec_opts, .opts_check = train_opts_check,
                    TRAINING_WORK},
    [TASK_LORA] = {.f = {TASK_LORA, LEDGER_KIND_LORA, "steps", true, true},
                   .spec_parse = spec_parse_lora, .spec_write = spec_write_lora, .ledger_steps = steps_of,
                   .data_file = "data.txt", .metrics = &job_metrics_text, .spec_opts = lora_spec_opts, .opts_check = lora_opts_check,
                   TRAINING_WORK},
    [TASK_DPO] = {.f = {TASK_DPO, LEDGER_KIND_DPO, "steps", true, true},
                  .spec_parse = spec_parse_dpo, .spec_write = spec_write_dpo, .ledger_steps = steps_of,
                  .data_file = "pairs.jsonl", .metrics = &job_metrics_pairs, .spec_opts = dpo_spec_opts, .opts_check = dpo_opts_check,
                  .opts_task = dpo_opts_task, .takes_heldout = true, TRAINING_WORK},
    [TASK_ROUND] = {.f = {TASK_ROUND, LEDGER_KIND_ROUND, "steps", true, true},
                    .spec_parse = spec_parse_round, .spec_write = spec_write_round, .ledger_steps = steps_of,
                    .data_file = "data.txt", .metrics = &job_metrics_text, .run_note = " (round participant)", .spec_opts = round_spec_opts, .opts_check = round_opts_check,
                    .opts_task = round_opts_task, .run_check = job_run_check_round, .cost = job_cost_training,
                    .cheat_for = cheat_as_given,
                    .run = job_run_round, .verify = job_verify_round,
                    .diverge = job_diverge_round, .referee = job_referee_round},
    [TASK_INFER] = {.f = {TASK_INFER, LEDGER_KIND_INFER, "tokens", true, true},
                    .spec_parse = spec_parse_infer, .spec_write = spec_write_infer, .ledger_steps = tokens_of,
                    .cost = job_cost_infer, .cheat_for = infer_cheat, .run = job_run_infer, .verify = job_verify_infer, .diverge = job_diverge_infer,
                    .referee = job_referee_infer},
    [TASK_RL] = {.f = {TASK_RL, LEDGER_KIND_RL, "steps", true, true},
                 .spec_parse = spec_parse_rl, .spec_write = spec_write_rl, .ledger_steps = steps_of,
                 .metrics = &job_metrics_rl, .spec_opts = rl_spec_opts, .opts_check = rl_opts_check,
                 .opts_task = rl_opts_task, TRAINING_WORK},
    /* labeling has agents of its own (labeler.c): no work here */
    [TASK_LABEL] = {.f = {TASK_LABEL, LEDGER_KIND_LABEL, "steps", false, false},
                    .spec_parse = spec_parse_label, .spec_write = spec_write_label, .ledger_steps = items_of,
                    .cost = job_cost_label},
};
_Static_assert(sizeof kinds / sizeof kinds[0] == TASK_KIND_COUNT, "a job row for every task kind");

const job_kind *job_kind_of(task_kind kind) {
    PLOW_ASSERT((unsigned)kind < TASK_KIND_COUNT && kinds[kind].f.kind == kind);
    return &kinds[kind];
}

const job_kind_facts *job_kind_facts_of(task_kind kind) { return &job_kind_of(kind)->f; }

int job_kind_from_ledger(int ledger_kind, task_kind *out) {
    for (int k = 0; k < TASK_KIND_COUNT; k++)
        if (kinds[k].f.ledger_kind == ledger_kind) {
            *out = (task_kind)k;
            return 0;
        }
    return -1;
}

const job_kind_facts *job_kind_facts_ledger(int ledger_kind) {
    task_kind k;
    return job_kind_from_ledger(ledger_kind, &k) ? NULL : &kinds[k].f;
}

int job_kind_ledger(task_kind kind) { return job_kind_of(kind)->f.ledger_kind; }

bool job_spec_adapter(const job_spec *s) {
    job_train_opts o;
    jctx x = {.spec = s, .slot = -1};
    if (!job_kind_of(s->kind)->spec_opts) return false;
    job_train_opts_init(&o);
    job_kind_of(s->kind)->spec_opts(&x, &o); /* the one place a spec says "adapter" */
    return o.lora;
}

const char *job_cheat_for(const job_spec *s, const char *cheat, char buf[64]) {
    const job_kind *k = job_kind_of(s->kind);
    return cheat && k->cheat_for ? k->cheat_for(s, cheat, buf) : NULL;
}

uint64_t job_spec_ledger_steps(const job_spec *s) { return job_kind_of(s->kind)->ledger_steps(s); }
