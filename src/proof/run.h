/*
 * run.h — committed training runs: what a worker publishes, how anyone
 * re-executes part of it, and how a disagreement becomes a one-step verdict.
 *
 * A committed run directory (`plow train --commit`) holds, besides the model
 * or adapter and tokenizer.bin:
 *   task.json          the task: config, data file and hash, hyper-parameters,
 *                      seed, LoRA settings and base model, checkpoint interval
 *   trace.bin          the state hash after every step, 0..n (docs/formats/trace.md)
 *   checkpoints/S.state full canonical states at S = 0, c, 2c, ... and n
 *   commitment.bin     the 141-byte on-chain record (task, root, final, artifact, n, c)
 *
 * Verification re-executes sampled transitions j-1 -> j from the nearest
 * checkpoint at or before j-1, checking every leaf it passes; it always checks
 * the last transition and that the artifact's weights are the final state's.
 * A dispute between two runs of the same task locates the first divergent
 * step from the two traces (each proved against its own root), has a party
 * produce the agreed state j-1 (which must hash to the agreed leaf), and the
 * referee recomputes the single step j-1 -> j: the party whose leaf j differs
 * from the referee's is wrong.
 */
#ifndef PLOW_PROOF_RUN_H
#define PLOW_PROOF_RUN_H

#include "../base/plow.h"
#include "../data/prefs.h"
#include "../train/dpo.h"
#include "../train/rl.h"
#include "../train/train.h"
#include "kind.h"
#include "trace.h"

#define PROOF_PATH_MAX 1024

/* The task definition, as task.json stores it. What the steps are is the
 * kind's (kind.h, one row per kind in src/proof/kinds.c); whether the
 * trainable is a LoRA adapter or the whole model is the task's, within what
 * the kind allows (lora: always; train, round: never; dpo: either). */
typedef struct proof_task {
    task_kind kind;              /* a kind that replays (task_kind_replays) */
    bool lora;                   /* the trainable is an adapter (rank, alpha, targets) on `base` */
    model_config cfg;
    char data[PROOF_PATH_MAX];   /* what the steps draw from: a text, or (DPO) a pairs JSONL file */
    double val_frac;
    uint8_t data_hash[PLOW_HASH_LEN];
    train_hparams hp;
    int rank;
    float alpha;
    unsigned targets;
    char base[PROOF_PATH_MAX];   /* LoRA, DPO, ROUND: the base model directory */
    uint8_t base_hash[PLOW_HASH_LEN];
    uint32_t checkpoint_every;
    /* DPO (docs/dpo.md): data_hash is the pair set's hash (prefs.h); the
     * base model is required: with an adapter the adapter's base (also the
     * reference), else the reference, whose weights are state 0's. val_frac
     * is unused. */
    float beta;
    /* ROUND (docs/rounds.md): participant `shard` of `shards` in round `round`,
     * a full training run on that shard of the text (data_hash is the shard's
     * hash, hp.seed round_inner_hparams'), whose state 0 holds the base
     * model's weights W_t with zero moments. Its artifact is the hash of its
     * contribution (round.h): W_t - W_n encoded as `enc` (round_enc) with
     * `block`, naming round `round`, participant `shard` and outer_hash. */
    uint32_t shards, shard;
    uint64_t round;
    uint32_t enc, block;
    uint8_t outer_hash[PLOW_HASH_LEN]; /* round_state_hash of (W_t, v_t) */
    /* RL (docs/rl.md): the steps draw problems from `problems` (generated
     * from its seed: nothing to fetch; data_hash is rl_data_hash of the set
     * and the tokenizer) and sample rollouts as `rl` says; the base model is
     * required (with an adapter its base, else state 0's weights), and the
     * frozen reference is the base. */
    problem_set problems;
    rl_params rl;
} proof_task;

int proof_task_save(const proof_task *t, const char *dir, char err[PLOW_ERR_LEN]);
int proof_task_load(proof_task *t, const char *dir, char err[PLOW_ERR_LEN]);

/* Checkpoints written in the background: submit copies the state (one pass
 * over it) and returns; a thread writes and fsyncs the file while training
 * goes on. A submit waits for the previous write; finish waits for the last
 * and reports the first error. */
typedef struct proof_ckpt_writer proof_ckpt_writer;
proof_ckpt_writer *proof_ckpt_writer_new(const char *dir);
int proof_ckpt_writer_submit(proof_ckpt_writer *w, const train_state *s, char err[PLOW_ERR_LEN]);
int proof_ckpt_writer_finish(proof_ckpt_writer *w, char err[PLOW_ERR_LEN]); /* also frees w */

/* Writes trace.bin and commitment.bin from the leaves 0..n. */
int proof_write_commitment(const char *dir, const uint8_t task_id[PLOW_HASH_LEN], const uint8_t *leaves,
                           uint64_t n, const uint8_t artifact[PLOW_HASH_LEN], uint32_t every,
                           char err[PLOW_ERR_LEN]);

/* A re-executor for a run: the run's tokenizer, data, base model and a
 * training state with the task's exact header. */
typedef struct proof_replay proof_replay;
int proof_replay_open(proof_replay **out, const char *dir, char err[PLOW_ERR_LEN]);
/* What a task's steps draw from: a text or a pair set, as its kind says. */
typedef struct proof_inputs {
    dataset *text;
    prefs *pairs;
} proof_inputs;
/* Loads t->data with tok as the kind reads it (a text with t->val_frac held
 * out, or a pair set). */
int proof_inputs_load(const proof_task *t, const tokenizer *tok, proof_inputs *in, char err[PLOW_ERR_LEN]);
void proof_inputs_release(proof_inputs *in);
/* What t's steps draw from in `in`: hash is what the task's data_hash must
 * be (the text's, the pair set's, ROUND the shard's); for the kinds that
 * step on a text, *text is the dataset they draw from (the text itself, or
 * a view of it written to *view), else NULL. */
int proof_inputs_steps(const proof_task *t, const proof_inputs *in, const tokenizer *tok, dataset *view,
                       const dataset **text, uint8_t hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
/* A re-executor for a task held in memory (the job layer builds it from a
 * spec): takes ownership of tok, the inputs (in is emptied) and the base model
 * (NULL when the kind has none), and frees them on failure too. Checks that
 * they are the ones the task names: the data hash (ROUND: its shard's), the
 * base hash, the vocabulary, and that the data is longer than a sequence. */
int proof_replay_adopt(proof_replay **out, const proof_task *t, tokenizer *tok, proof_inputs *in, model *base,
                       char err[PLOW_ERR_LEN]);
void proof_replay_free(proof_replay *r);
const proof_task *proof_replay_task(const proof_replay *r);
/* Loads checkpoints/<step>.state of dir (any run of the same task). */
int proof_replay_load_checkpoint(proof_replay *r, const char *dir, uint64_t step, char err[PLOW_ERR_LEN]);
int proof_replay_load_state(proof_replay *r, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);
/* An upper bound on the size of a canonical state of this task (to read a
 * file from a peer without trusting its size). */
size_t proof_replay_state_max(proof_replay *r);
/* One step of the task, as its kind steps: train_step on its data (ROUND:
 * its shard), dpo_step on its pairs. */
void proof_replay_step(proof_replay *r);
/* Puts the state back to state 0 of the task: train_state_reinit, and for
 * ROUND the base weights W_t (train_state_reinit alone would draw weights
 * from init_seed). Every check of leaf 0 goes through this. */
void proof_replay_reinit(proof_replay *r);
void proof_replay_hash(proof_replay *r, uint8_t out[PLOW_HASH_LEN]);
uint64_t proof_replay_at(const proof_replay *r);
/* Hash of the trainable weights as an artifact (model_hash or lora_hash);
 * ROUND: round_contrib_hash of the contribution the state makes (W_t minus
 * its weights, encoded as the task says), or SHA-256("plow.round.invalid")
 * when its weights cannot make one (non-finite). */
void proof_replay_artifact_hash(proof_replay *r, uint8_t out[PLOW_HASH_LEN]);
train_state *proof_replay_state(proof_replay *r);
/* What a trainer driving a replay from state 0 needs (job_train: the
 * worker's run is the verifier's replay, by construction): the step with its
 * statistics (ds: zeros unless the kind steps on pairs), what the steps draw
 * from (the whole text, for validation; the text the steps draw from, ROUND
 * its shard; NULL for a kind on pairs), the pairs (NULL for a text). */
void proof_replay_step_stats(proof_replay *r, train_stats *st, dpo_stats *ds);
const dataset *proof_replay_text(const proof_replay *r);
const dataset *proof_replay_steps_text(const proof_replay *r);
const prefs *proof_replay_pairs(const proof_replay *r);
/* The replay's model (the trainable's, or the base under an adapter), its
 * adapter (NULL: none) and its tokenizer. */
model *proof_replay_model(proof_replay *r);
lora *proof_replay_lora(proof_replay *r);
const tokenizer *proof_replay_tokenizer(const proof_replay *r);
/* Writes the artifact of the state into dir (the model or adapter files;
 * ROUND contribution.bin) with its hash (= proof_replay_artifact_hash) and,
 * when the artifact is a file of its own, its size (else 0). */
int proof_replay_publish(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], size_t *bytes,
                         char err[PLOW_ERR_LEN]);
/* The same hash of a published model directory (model.safetensors) or, for
 * LoRA, adapter directory (adapter_model.safetensors, checked against the
 * replay's base); ROUND: dir/contribution.bin, which must parse as a
 * contribution of this task (round, participant, size, outer hash). */
int proof_artifact_hash(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]);
/* The artifact a published directory holds, as a kind hashes it, without
 * the task (a requester collecting outputs): the model's model_hash, with
 * base the adapter's lora_hash on it, ROUND the SHA-256 of contribution.bin. */
int proof_published_artifact(task_kind kind, const model *base, const char *dir, uint8_t out[PLOW_HASH_LEN],
                             char err[PLOW_ERR_LEN]);
/* The published files proof_artifact_hash reads (files[1] may be NULL). */
void proof_artifact_files(const proof_task *t, const char *files[2]);

typedef enum proof_verify_mode {
    /* the verifier replays from the published checkpoints by itself:
     * about k*(c+1)/2 steps */
    PROOF_VERIFY_REPLAY,
    /* challenge-response: for each sampled j the worker answers with its state
     * j-1 (regenerated from its own checkpoints, at its own cost); the verifier
     * checks it against leaf j-1 and re-executes one step: k steps */
    PROOF_VERIFY_CHALLENGE
} proof_verify_mode;

typedef struct proof_verify_report {
    bool valid;
    uint64_t bad_step;     /* when !valid and the fault is a step: the first wrong leaf */
    char reason[512];
    uint64_t n;            /* the worker's steps */
    uint64_t steps_run;    /* steps the verifier re-executed */
    double seconds;        /* the verifier's time */
    uint64_t worker_steps; /* CHALLENGE: steps the worker ran to answer */
    double worker_seconds; /* CHALLENGE: the worker's time to answer */
    size_t bytes;          /* CHALLENGE: state bytes the worker sent */
    int samples;
    uint64_t sampled[64];
} proof_verify_report;

/* The transitions a verifier re-executes: k steps in 1..n drawn with Philox
 * from challenge, plus always n, sorted and without repeats. k in 0..63;
 * returns how many were written to out. */
int proof_sample_steps(uint64_t n, int k, uint64_t challenge, uint64_t out[64]);

/* Verifies a committed run with k sampled transitions drawn from challenge
 * (a seed the worker could not know when it committed). Returns 0 when the
 * verification ran (see rep->valid), -1 when it could not (missing files). */
int proof_verify_run(const char *dir, int k, uint64_t challenge, proof_verify_mode mode, proof_verify_report *rep,
                     char err[PLOW_ERR_LEN]);

typedef enum proof_party { PROOF_NOBODY, PROOF_PARTY_A, PROOF_PARTY_B, PROOF_BOTH } proof_party;

typedef struct proof_dispute_report {
    bool same;              /* the runs agree: nothing to decide */
    uint64_t step;          /* the first divergent step j */
    proof_party wrong;      /* whose leaf j is wrong */
    char reason[512];
    uint32_t queries;       /* bisection questions per party */
    size_t bytes_exchanged; /* proofs + leaves + the agreed state */
    size_t state_bytes;
    double referee_seconds; /* the referee's one step */
    double step_seconds;
} proof_dispute_report;

int proof_dispute(const char *dir_a, const char *dir_b, proof_dispute_report *rep, char err[PLOW_ERR_LEN]);

#endif
