/*
 * proof_internal.h — the proof layer's per-kind table (kind.h) and the
 * replay it operates on. Private to src/proof.
 */
#ifndef PLOW_PROOF_INTERNAL_H
#define PLOW_PROOF_INTERNAL_H

#include <cjson/cJSON.h>

#include "../data/dataset.h"
#include "../train/dpo.h"
#include "kind.h"
#include "run.h"

struct proof_replay {
    proof_task task;
    tokenizer *tok;
    dataset *data;        /* a text (kinds with PROOF_DATA_TEXT) */
    prefs *pairs;         /* preference pairs (PROOF_DATA_PAIRS) */
    const dataset *on;    /* what the text steps draw from: data, or a view (shard) */
    dataset shard;        /* ROUND: the participant's shard, a view of data */
    model *m;
    lora *l;
    float *w0;            /* ROUND: W_t, the weights of state 0 */
    train_state *s;
    uint8_t rl_hash[PLOW_HASH_LEN]; /* RL: rl_data_hash of the task's problems */
};

/* What the trainable is. */
typedef enum proof_adapter {
    PROOF_ADAPTER_NEVER,    /* the whole model */
    PROOF_ADAPTER_ALWAYS,   /* a LoRA adapter on the base */
    PROOF_ADAPTER_OPTIONAL  /* either: task.json has a "lora" object or not */
} proof_adapter;

/* What the steps draw from (task.json "data"). */
typedef enum proof_data {
    PROOF_DATA_TEXT,
    PROOF_DATA_PAIRS,
    PROOF_DATA_PROBLEMS /* generated from the task (RL): no file */
} proof_data;

/* One row: a kind as the proof layer sees it. Rows of kinds that do not
 * replay (infer, label) hold only the name. */
typedef struct proof_kind_ops {
    const char *name;      /* task.json "kind" */
    const char *label;     /* in messages: "LoRA", "DPO" */
    bool replays;
    proof_adapter adapter;
    bool needs_base;       /* a base model: LoRA's base, DPO's reference, ROUND's W_t */
    proof_data data;
    /* the kind's own task.json object, written after the common fields and
     * read back (NULL: none) */
    void (*task_write)(const proof_task *t, cJSON *j);
    int (*task_read)(proof_task *t, const cJSON *j, char err[PLOW_ERR_LEN]);
    /* replay: sets r->on (text kinds) and returns the hash of what the steps
     * draw from, to be checked against the task's data_hash */
    int (*inputs)(proof_replay *r, const uint8_t **hash, char err[PLOW_ERR_LEN]);
    /* the training state (r->m, r->l and r->on/pairs are ready) */
    int (*state_new)(proof_replay *r, char err[PLOW_ERR_LEN]);
    /* one step; st and ds may be NULL */
    void (*step)(proof_replay *r, train_stats *st, dpo_stats *ds);
    /* after train_state_reinit: what else makes state 0 (NULL: nothing) */
    void (*reinit)(proof_replay *r);
    /* the artifact of the replay's state, and of a published directory */
    void (*artifact_hash)(proof_replay *r, uint8_t out[PLOW_HASH_LEN]);
    int (*artifact_file_hash)(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
    /* writes the artifact of the replay's state into dir, with its hash and,
     * when it is a file of its own, its size */
    int (*publish)(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], size_t *bytes, char err[PLOW_ERR_LEN]);
    /* the same of a published directory without the task (base: an adapter's) */
    int (*published_hash)(const model *base, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
    /* the files that make the artifact (NULL: the trainable's model or adapter files) */
    const char *artifact_files[2];
} proof_kind_ops;

/* The row of a kind (asserts kind is in the enum). */
const proof_kind_ops *proof_kind_ops_of(task_kind kind);
/* Whether what the kind's steps draw from is there, and its name in messages. */
bool proof_inputs_present(const proof_kind_ops *k, const dataset *text, const prefs *pairs);
const char *proof_inputs_name(const proof_kind_ops *k);

/* task.json readers shared by the rows (they name the key they refuse) */
int proof_jnum(const cJSON *o, const char *key, double lo, double hi, double *out, char err[PLOW_ERR_LEN]);
int proof_jint(const cJSON *o, const char *key, long lo, long hi, int *out, char err[PLOW_ERR_LEN]);
int proof_jstr(const cJSON *o, const char *key, char *out, size_t cap, char err[PLOW_ERR_LEN]);
int proof_jhash(const cJSON *o, const char *key, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
int proof_ju64(const char *txt, uint64_t *out); /* a decimal string; -1 if it is not one */
void proof_jadd_hex(cJSON *j, const char *key, const uint8_t h[PLOW_HASH_LEN]);
char *proof_path2(const char *dir, const char *file);

#endif
