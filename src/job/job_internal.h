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

/* One row: a kind as the job layer sees it. */
typedef struct job_kind {
    job_kind_facts f;
    /* the spec: the kind's fields after "format" and "kind" (spec.c) */
    int (*spec_parse)(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);
    void (*spec_write)(const job_spec *s, cJSON *j);
    /* what the ledger's params.steps is for this spec */
    uint64_t (*ledger_steps)(const job_spec *s);
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
void spec_write_train(const job_spec *s, cJSON *j);
void spec_write_lora(const job_spec *s, cJSON *j);
void spec_write_dpo(const job_spec *s, cJSON *j);
void spec_write_round(const job_spec *s, cJSON *j);
void spec_write_infer(const job_spec *s, cJSON *j);
void spec_write_label(const job_spec *s, cJSON *j);

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
