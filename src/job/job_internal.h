/*
 * job_internal.h — the job layer's table of task kinds (kind.h) and the
 * per-kind functions its rows point to. Private to src/job.
 */
#ifndef PLOW_JOB_INTERNAL_H
#define PLOW_JOB_INTERNAL_H

#include <cjson/cJSON.h>

#include "job.h"
#include "kind.h"
#include "work.h"
#include "../proof/run.h"
#include "../train/dpo.h"

#define JOB_DIR_MAX 900 /* longest work directory accepted */

/* A job's work directory and the spec's inputs in it (job.c). */
typedef struct jctx {
    const job_spec *spec;
    const job_blobs *b;
    char dir[JOB_DIR_MAX + 1];
    char data[JOB_DIR_MAX + 32], tok[JOB_DIR_MAX + 32], base[JOB_DIR_MAX + 32], adapter[JOB_DIR_MAX + 32];
    char heldout[JOB_DIR_MAX + 32];
    int slot; /* ROUND: the participant (shard) the work is for; -1 unknown */
} jctx;

/* job.c: a context for the spec in workdir, and one blob fetched to path
 * (unless already there) and checked */
int job_ctx_init(jctx *x, const job_spec *spec, const job_blobs *b, const char *workdir, char err[PLOW_ERR_LEN]);
int job_fetch(const job_blobs *b, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]);

/* ---- cost (cost.c) ---- */

/* What a kind's cost row reads besides the spec: its inputs' sizes and
 * what job_probe learnt from the small ones. */
typedef struct job_inputs {
    uint64_t data_bytes;    /* data and held-out set */
    uint64_t base_bytes, adapter_bytes, items_bytes;
    int vocab;              /* the tokenizer's */
    bool has_cfg;
    model_config cfg;       /* the base model's (from its header) */
} job_inputs;
int job_cost_training(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]);
int job_cost_infer(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]);
int job_cost_label(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]);

/* ---- training runs (trainer.c, cheat.c) ---- */

/* A training run in progress (trainer.c); the metrics rows see it. */
typedef struct trainer trainer;

/* What a run evaluates and logs: one row per kind of input (a text's
 * validation loss, a pair set's preferences), named by the kind's job row. */
typedef struct job_metrics {
    const char *csv_header;  /* train_log.csv's first line: "step,loss,grad_norm,lr,val_loss,seconds" and more */
    int rows_per_example;    /* sequences a batch element stands for (pairs: 2) */
    void (*describe)(trainer *t, size_t trainable); /* the note before training */
    void (*before)(trainer *t);                      /* the evaluation before step 1 (log row 0) */
    void (*evaluate)(trainer *t);                    /* at an evaluation step: the value in val_loss */
    /* after the common columns of a step: the row's own, and the progress line */
    void (*log_step)(trainer *t, const train_stats *st, const dpo_stats *ds, bool eval, char *extra, size_t cap);
    void (*run_json)(const trainer *t, cJSON *j); /* run.json's extra fields (NULL: none) */
    void (*finish)(trainer *t);                   /* the note after publishing */
} job_metrics;
extern const job_metrics job_metrics_text, job_metrics_pairs, job_metrics_rl;

/* The cheats of tests and demos (cheat.c): what a dishonest worker does at
 * each point of a run. */
typedef struct job_cheat_plan {
    job_cheat_kind kind;
    long step;   /* from (or at) this step */
    double rate; /* skip: each step with this probability */
    uint64_t seed;
    long steps;
    float keep;  /* the weight a checkpoint or publication lie changed */
    int32_t *bx, *by, *span; /* the batches of the cheats that draw their own */
} job_cheat_plan;

typedef enum job_cheat_point {
    JOB_CHEAT_AT_START,      /* state 0 is built */
    JOB_CHEAT_AT_STEP,       /* before step `step`: true if the cheat took the step instead */
    JOB_CHEAT_AT_STEP_DONE,  /* after it */
    JOB_CHEAT_AT_CHECKPOINT, /* a checkpoint is about to be written */
    JOB_CHEAT_AT_PUBLISH,    /* the artifact is about to be written */
    JOB_CHEAT_AT_RESTORE     /* after either: the true state again */
} job_cheat_point;

int job_cheat_plan_init(job_cheat_plan *c, const job_train_opts *o, char err[PLOW_ERR_LEN]);
void job_cheat_plan_release(job_cheat_plan *c);
/* st and ds may be NULL except at the step points. */
bool job_cheat(job_cheat_plan *c, job_cheat_point at, proof_replay *r, long step, train_stats *st, dpo_stats *ds);
/* The cheats on the written outputs of a run of `steps` steps in outdir (config, truncate). */
int job_cheat_files(const job_cheat_plan *c, const char *outdir, long steps, char err[PLOW_ERR_LEN]);

/* One row: a kind as the job layer sees it. */
typedef struct job_kind {
    job_kind_facts f;
    /* the spec: the kind's fields after "format" and "kind" (spec.c) */
    int (*spec_parse)(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
    void (*spec_write)(const job_spec *s, cJSON *j);
    /* what the ledger's params.steps is for this spec */
    uint64_t (*ledger_steps)(const job_spec *s);
    /* what running the spec takes (cost.c): memory, arithmetic */
    int (*cost)(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]);
    /* the file in/ the spec's `data` blob is fetched to (NULL: none) */
    const char *data_file;
    /* training kinds: the kind's part of the `plow train` options a spec
     * stands for (kinds.c) */
    void (*spec_opts)(const jctx *x, job_train_opts *o);
    /* training kinds: the kind's checks of `plow train` options, and its
     * fields of the task they define (kinds.c) */
    int (*opts_check)(const job_train_opts *o, char err[PLOW_ERR_LEN]);
    int (*opts_task)(const job_train_opts *o, proof_task *t, char err[PLOW_ERR_LEN]);
    bool takes_heldout; /* evaluates on held-out pairs (--heldout) */
    const job_metrics *metrics; /* training kinds: what a run evaluates and logs */
    const char *run_note;       /* after the config in the run's first note (NULL: nothing) */
    /* the work (job.c); NULL: nothing to run here (label tasks have agents of their own) */
    int (*run_check)(const job_spec *s, char err[PLOW_ERR_LEN]); /* can job_run start at all (NULL: yes) */
    /* a `plow train --cheat` string in the form this kind's run takes (NULL: none; job_cheat_for) */
    const char *(*cheat_for)(const job_spec *s, const char *cheat, char buf[64]);
    int (*run)(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
               job_output *out, char err[PLOW_ERR_LEN]);
    int (*verify)(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out, char err[PLOW_ERR_LEN]);
    int (*diverge)(const jctx *x, const ledger_slot *a, const ledger_slot *b, uint64_t *step, ledger_evidence *ev_a,
                   ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]);
    int (*referee)(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]);
} job_kind;

/* The row of a kind (asserts kind is in the enum). */
const job_kind *job_kind_of(task_kind kind);

/* spec.c */
int spec_parse_train(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_lora(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_dpo(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_round(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_infer(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_label(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
int spec_parse_rl(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
void spec_write_train(const job_spec *s, cJSON *j);
void spec_write_lora(const job_spec *s, cJSON *j);
void spec_write_dpo(const job_spec *s, cJSON *j);
void spec_write_round(const job_spec *s, cJSON *j);
void spec_write_infer(const job_spec *s, cJSON *j);
void spec_write_label(const job_spec *s, cJSON *j);
void spec_write_rl(const job_spec *s, cJSON *j);

/* job.c: the work of the kinds that commit a trace of training states */
int job_run_training(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                     job_output *out, char err[PLOW_ERR_LEN]);
int job_verify_training(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                        char err[PLOW_ERR_LEN]);
int job_diverge_training(const jctx *x, const ledger_slot *a, const ledger_slot *b, uint64_t *step,
                         ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]);
int job_referee_training(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok,
                         char err[PLOW_ERR_LEN]);
/* ... of a round participant (the slot is the participant) */
int job_run_round(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                  job_output *out, char err[PLOW_ERR_LEN]);
int job_run_check_round(const job_spec *s, char err[PLOW_ERR_LEN]);
int job_verify_round(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                     char err[PLOW_ERR_LEN]);
int job_diverge_round(const jctx *x, const ledger_slot *a, const ledger_slot *b, uint64_t *step,
                      ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]);
int job_referee_round(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]);
/* ... of inference (a receipt, one prefill) */
int job_run_infer(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                  job_output *out, char err[PLOW_ERR_LEN]);
int job_verify_infer(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                     char err[PLOW_ERR_LEN]);
int job_diverge_infer(const jctx *x, const ledger_slot *a, const ledger_slot *b, uint64_t *step,
                      ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]);
int job_referee_infer(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]);

#endif
