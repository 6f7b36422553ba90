/*
 * work.h — training and generation as library calls: everything `plow train`
 * and `plow generate` do, callable by the job layer (a worker running a
 * task, a verifier rebuilding one) as well as by the CLI, which is a thin
 * wrapper around them.
 *
 * The options → hyper-parameters → task logic lives in one place
 * (job_train_task), so a task spec and the equivalent `plow train` command
 * line give the same task.json and the same state hashes.
 *
 * Nothing here prints: lines of information and progress go through
 * job_hooks (every member may be NULL, and so may the hooks pointer).
 *
 * Usage:
 *     job_train_opts o;
 *     job_train_opts_init(&o);
 *     o.data = "d.txt"; o.out = "run"; o.config = "tiny"; o.tokenizer = "tok.bin";
 *     o.steps = 40; o.commit = true;
 *     if (job_train_opts_check(&o, err) || job_train(&o, NULL, &res, err)) ...
 */
#ifndef PLOW_JOB_WORK_H
#define PLOW_JOB_WORK_H

#include "../base/plow.h"

#include "../infer/infer.h"
#include "../proof/run.h"
#include "../train/dpo.h"

typedef struct job_hooks {
    void *arg;
    /* one line of information, without a trailing newline */
    void (*note)(void *arg, const char *line);
    /* a phase ("tokenizer", "train") at done of total; done 0 starts the phase */
    void (*progress)(void *arg, const char *phase, long done, long total, const char *extra);
    /* generation: sampling is about to start, then each sampled token */
    void (*start)(void *arg);
    void (*token)(void *arg, int32_t tok);
} job_hooks;

/* ---- training ------------------------------------------------------------------ */

typedef enum job_cheat_kind {
    JOB_CHEAT_NONE = 0,
    JOB_CHEAT_PERTURB, /* one weight nudged after step STEP */
    JOB_CHEAT_SKIP,    /* step STEP not computed (state copied forward); with a rate: random steps */
    JOB_CHEAT_SEED,    /* from STEP, batches drawn with another seed */
    JOB_CHEAT_DATA,    /* from STEP, batches from the validation split */
    JOB_CHEAT_LOWPREC, /* from STEP, weights rounded to bfloat16 */
    JOB_CHEAT_SWAP,    /* the published model is not the final state */
    JOB_CHEAT_BADCKPT, /* checkpoints from STEP on do not hash to their leaves */
    JOB_CHEAT_INIT,    /* the run starts from other initial weights */
    JOB_CHEAT_CONFIG,  /* honest work, a garbage config.json (adapter_config.json) published */
    JOB_CHEAT_TRUNC,   /* honest work, the final checkpoint's file truncated */
    JOB_CHEAT_BOMB,    /* honest work, the published model replaced by a header promising a huge one */
    JOB_CHEAT_COUNT
} job_cheat_kind;

/* Parses "KIND[@STEP]" (STEP in 1..steps; default steps/2, at least 1). */
int job_cheat_parse(const char *s, long steps, job_cheat_kind *kind, long *step, char err[PLOW_ERR_LEN]);

/* A model's LM head, where a task may choose it (full training). */
typedef enum job_head {
    JOB_HEAD_CONFIG = 0, /* what the named config says (tiny tied, small and base not) */
    JOB_HEAD_TIED,       /* the embedding matrix, transposed */
    JOB_HEAD_UNTIED,     /* a matrix of its own */
} job_head;

typedef struct job_train_opts {
    task_kind kind;        /* TASK_TRAIN (the default), TASK_LORA, TASK_DPO or TASK_ROUND */
    const char *data;      /* what the steps draw from: a text (the last val_frac held
                            * out) or, DPO, the pairs JSONL (prefs.h) */
    const char *out;       /* run directory (created) */
    const char *config;    /* model config name (full training) */
    job_head head;         /* full training: the LM head (default: the config's) */
    const char *tokenizer; /* NULL: the base's, else one trained on data with `vocab` tokens */
    bool lora;             /* the trainable is a LoRA adapter: always for TASK_LORA, DPO's choice */
    const char *base;      /* the base model directory (LoRA, DPO, ROUND) */
    const char *targets;   /* LoRA targets, "q,k,v,o" */
    long rank;
    double alpha;
    long steps, vocab, batch;
    long seq;              /* with seq_set; else the model's context */
    long warmup;           /* with warmup_set; else steps/20 */
    double lr, min_lr, wd; /* with *_set; else the defaults (lr sets min_lr to lr/10) */
    bool seq_set, warmup_set, lr_set, min_lr_set, wd_set;
    double clip, val_frac;
    uint64_t seed, init_seed;
    long eval_every, eval_batches;
    bool no_hashes;
    bool commit;           /* task.json, trace.bin, checkpoints/, commitment.bin */
    long every;            /* checkpoint interval with commit */
    const char *cheat;     /* NULL, or a cheat KIND[@STEP] (tests and demos) */
    long cheat_step;       /* set by job_train_opts_check */
    double cheat_rate;     /* skip: each step with this probability instead */
    /* DPO (docs/dpo.md): a preference run on pairs instead of text. base is
     * required: with lora the adapter's base (and the reference), without it
     * the reference, whose weights are also state 0's. */
    const char *heldout;   /* held-out pairs for the evaluations, or NULL */
    double beta;           /* (0, 100]; default 0.1 */
    /* RL (docs/rl.md): no data file; the problems (the training split) and
     * the rollouts' parameters. base is required (with lora, the adapter's). */
    problem_set problems;
    rl_params rl;
    /* distributed rollouts (rollout.h): NULL, or where each step's rollouts
     * come from; every claim is checked, and the state is the same bits */
    const struct rollout_source *rollouts;
    /* ROUND (docs/rounds.md): participant `shard`'s inner run: a full training
     * run on shard `shard` of `shards` of the data, from the base model's
     * weights W_t with zero moments, the batch seed of round_inner_hparams
     * (seed, round_index, shard) and a constant learning rate after the
     * warm-up (min_lr = lr). Writes contribution.bin: W_t - W_n encoded as
     * enc (round_enc) / block, naming round_index, shard and outer_hash (the
     * round_state_hash of (W_t, v_t)); its SHA-256 is the artifact. */
    uint32_t shards, shard;
    uint64_t round_index;
    int enc;
    uint32_t block;
    uint8_t outer_hash[PLOW_HASH_LEN];
} job_train_opts;

/* `plow train`'s defaults: config small, 200 steps, seed 1 (init_seed 1),
 * vocab 4096, batch 16, rank 8, alpha 16, targets q,k,v,o, clip 1, val_frac
 * 0.1, 8 evaluation batches, checkpoints every 16 steps, beta 0.1. */
void job_train_opts_init(job_train_opts *o);
/* Checks what depends on several options (the kind's own checks: its base,
 * adapter, beta, shards; commit and hashes, the cheat) and resolves
 * cheat_step. */
int job_train_opts_check(job_train_opts *o, char err[PLOW_ERR_LEN]);

/* The task the options define, for this tokenizer, the inputs its steps
 * draw from (proof_inputs_load of the options' data) and base (LoRA, DPO,
 * ROUND): model config, hyper-parameters, the kind's settings, absolute data
 * and base paths and their hashes, checkpoint interval. data_hash is the hash
 * of what the steps draw from: the dataset's, the pair set's (DPO) or the
 * shard's (ROUND, round_shard). The one place where options become
 * hyper-parameters: the trainer and a verifier rebuilding the task from a
 * spec both call it. */
int job_train_task(const job_train_opts *o, const tokenizer *tok, const proof_inputs *in, const model *base,
                   proof_task *t, char err[PLOW_ERR_LEN]);

typedef struct job_train_result {
    uint64_t n;                     /* steps */
    uint8_t state[PLOW_HASH_LEN];   /* the final state's hash (leaf n) */
    uint8_t artifact[PLOW_HASH_LEN];/* model_hash / lora_hash of the published files */
    uint8_t task_id[PLOW_HASH_LEN];
    uint8_t trace_root[PLOW_HASH_LEN]; /* with commit: Merkle root of leaves 0..n */
    float val_loss;                 /* DPO: the evaluation set's DPO loss */
    double tokens_per_second;
    /* DPO: the evaluation set's metrics (held-out pairs, else the first
     * pairs of the training set) before the first step and after the last */
    dpo_eval_stats dpo_before, dpo_after;
    /* ROUND: the contribution's wire size */
    size_t contribution_bytes;
} job_train_result;

/* Trains as `plow train` does, writing the run directory (see cmd_train.c;
 * DPO runs log the step's preference metrics too, ROUND runs also write
 * contribution.bin). The engine must be initialised (tensor_init). */
int job_train(const job_train_opts *o, const job_hooks *h, job_train_result *res, char err[PLOW_ERR_LEN]);

/* ---- generation ------------------------------------------------------------------ */

typedef struct job_gen_opts {
    const char *model;     /* a model directory or its model.safetensors */
    const char *lora;      /* an adapter directory, or NULL */
    const char *tokenizer; /* NULL: tokenizer.bin beside the model */
    const char *prompt;    /* at least one token */
    long tokens;           /* at most this many (fewer if the context is full) */
    infer_sampling sampling;
    const char *receipt;   /* write a receipt here, or NULL */
    const char *cheat;     /* NULL, or "perturb@K": output token K (1-based) changed after sampling */
} job_gen_opts;

typedef struct job_gen_result {
    int32_t *tokens;       /* the output, owned: job_gen_result_release */
    size_t n;
    size_t n_prompt;
    uint8_t model_hash[PLOW_HASH_LEN];
    uint8_t tokens_hash[PLOW_HASH_LEN]; /* receipt_tokens_hash of the output */
    double seconds;        /* sampling alone */
} job_gen_result;

int job_generate(const job_gen_opts *o, const job_hooks *h, job_gen_result *res, char err[PLOW_ERR_LEN]);
void job_gen_result_release(job_gen_result *r);

#endif /* PLOW_JOB_WORK_H */
