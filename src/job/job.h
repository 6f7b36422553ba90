/*
 * job.h — the real work behind a ledger task: a task spec (what to compute,
 * every input named by its blob hash), running it with the engine, publishing
 * its outputs, checking someone else's outputs, and the referee's one step.
 *
 * This is the only place where the ledger (hashes, money) meets the engine
 * and the proof layer (src/proof). The agents (worker, verifier) and the
 * node's referee all go through it, so all three compute the same bits from
 * the same spec.
 *
 * Files (docs/tasks.md):
 *   spec      JSON, format "plow.spec.v1": kind (train|lora|infer|label|dpo|
 *             round), model config, data/tokenizer/base blobs,
 *             hyper-parameters, checkpoint interval; infer: prompt and
 *             sampling parameters; dpo: beta, LoRA or full, held-out pairs;
 *             round: participants, round index, outer state, encoding, rule.
 *   manifest  JSON, format "plow.outputs.v1": every output file of a run
 *             (trace.bin, checkpoints/NNNNNNNN.state, model or adapter files,
 *             task.json, tokenizer.bin; infer: receipt.json) -> blob hash.
 *
 * Work directories: every function takes a directory it may fill with
 * fetched inputs and outputs; nothing else on disk is touched.
 */
#ifndef PLOW_JOB_H
#define PLOW_JOB_H

#include "../base/plow.h"

#include "../label/label.h"
#include "../ledger/ledger.h"
#include "../proof/kind.h"
#include "../train/rl.h"
#include "work.h"

#define JOB_LABEL_CLASSES_MAX LEDGER_LABEL_CLASSES_MAX /* a label task's classes at most */
#define JOB_LABEL_NAME_MAX LABEL_NAME_MAX             /* bytes of a class name: [A-Za-z0-9_.-] */

typedef struct job_spec {
    task_kind kind;        /* kind.h; the ledger's number for it: job_kind_ledger */
    char config[16];       /* model config name (train) */
    job_head head;         /* train: the LM head ("tied": absent = the config's) */
    uint8_t data[32];      /* training text (train, lora) */
    uint8_t tokenizer[32]; /* tokenizer.bin */
    bool has_base;         /* lora, infer: the base model */
    uint8_t base_model[32], base_config[32];       /* model.safetensors, config.json */
    bool has_adapter;      /* infer: an adapter on the base */
    uint8_t adapter_model[32], adapter_config[32]; /* adapter_model.safetensors, adapter_config.json */
    /* training */
    int steps, batch, seq, warmup; /* warmup -1: the default */
    double lr, val_frac;           /* lr 0: the default */
    uint64_t seed, init_seed;
    uint32_t checkpoint_every;
    int rank;
    double alpha;
    char targets[64];
    /* inference */
    char prompt[1024];
    int tokens, top_k;
    double temperature, top_p;
    uint64_t sample_seed;
    /* labeling (kind label; docs/labeling.md): the items and the label set */
    uint8_t items[32];   /* blob: JSONL, one {"text": ...} per line */
    uint32_t n_items;    /* lines of the items blob (= the task's steps) */
    uint32_t n_classes;  /* 2..JOB_LABEL_CLASSES_MAX */
    char classes[JOB_LABEL_CLASSES_MAX][JOB_LABEL_NAME_MAX + 1]; /* names; label id = index */
    /* DPO (kind dpo; docs/dpo.md): data is the pairs JSONL, base the
     * reference (required); steps, batch (pairs), seq, lr, warmup, seed,
     * init_seed and checkpoint_every as training */
    double beta;
    bool has_lora;            /* dpo: train a LoRA adapter (rank, alpha, targets), else the whole model */
    bool has_heldout;
    uint8_t heldout[32];      /* dpo: held-out pairs (evaluation only) */
    /* ROUND (kind round; docs/rounds.md, docs/tasks.md): base is W_t, data
     * the text cut into `participants` shards; steps = H inner steps */
    uint32_t participants;    /* P shards */
    int32_t participant;      /* the shard this task trains, or -1: the slot's index */
    uint64_t round;           /* t */
    uint8_t outer_state[32];  /* blob: round_state_serialize of (W_t, v_t) */
    uint8_t outer_hash[32];   /* its round_state_hash (contributions name it) */
    int enc;                  /* round_enc */
    uint32_t block;           /* int8: values per scale (0 for f32) */
    int agg, trim;            /* round_agg and its trim: how the round is aggregated */
    double outer_lr, momentum;
    /* ROUND without a participant: the slot (0..replicas-1) the caller works
     * on, checks or referees; -1 when unknown. Not part of the JSON: the
     * caller sets it (job_spec_parse leaves -1). */
    int slot;
    /* RL (kind rl; docs/rl.md): base the policy to improve (required; with
     * `lora` an adapter on it), problems generated from `problems` (always
     * the training split: nobody trains on the held-out half), rollouts as
     * `rl` says; steps, batch (problems per step), seq, lr, warmup, seed,
     * init_seed and checkpoint_every as training */
    problem_set problems;
    rl_params rl;
} job_spec;

#define JOB_SPEC_MAX (64 << 10) /* largest spec accepted, bytes */

/* Parses a spec; refuses unknown kinds, missing blobs, out-of-range values,
 * unknown keys and keys of another kind. Fields a kind does not use are
 * left zero; absent optional fields take their defaults (docs/tasks.md). */
int job_spec_parse(job_spec *s, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);
/* Canonical JSON (parse(write(s)) == s). */
void job_spec_write(const job_spec *s, plow_buf *out);
/* Whether the spec's trainable is a LoRA adapter (on its base): always for
 * lora, the spec's choice for dpo, never for the other kinds. */
bool job_spec_adapter(const job_spec *s);
/* The ledger's params.steps for the spec: its steps, or (infer) its tokens. */
uint64_t job_spec_ledger_steps(const job_spec *s);

/* Output manifests: relative path -> blob hash. A path is 1..JOB_PATH_MAX
 * bytes of [A-Za-z0-9._/-], relative, with no empty, "." or ".." component,
 * so a file fetched to DIR/path never lands outside DIR. */
#define JOB_PATH_MAX 200
#define JOB_MANIFEST_MAX (4 << 20)  /* bytes */
#define JOB_MANIFEST_FILES 100000
typedef struct job_manifest_file {
    char path[JOB_PATH_MAX + 1];
    uint8_t hash[32];
} job_manifest_file;
typedef struct job_manifest {
    size_t n;
    job_manifest_file *files; /* sorted by path after parse */
} job_manifest;
bool job_path_ok(const char *path);
/* Refuses malformed JSON, unknown keys, unsafe paths, bad hashes, duplicate
 * paths and a path that is also another's directory. */
int job_manifest_parse(job_manifest *m, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);
/* Canonical JSON, paths sorted. */
void job_manifest_write(const job_manifest *m, plow_buf *out);
void job_manifest_add(job_manifest *m, const char *path, const uint8_t hash[32]); /* asserts job_path_ok */
const uint8_t *job_manifest_find(const job_manifest *m, const char *path);        /* NULL if absent */
void job_manifest_release(job_manifest *m);

/* Blob access: agents pass an HTTP client, the node its own blob store. */
typedef struct job_blobs {
    void *ctx;
    int (*get_file)(void *ctx, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]);
    int (*put_file)(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]);
    /* optional (NULL: sizes are learnt by fetching): 0 and the blob's size
     * when it exists, 1 when it does not, -1 when that cannot be told now */
    int (*size)(void *ctx, const uint8_t hash[32], uint64_t *n, char err[PLOW_ERR_LEN]);
} job_blobs;

/* ---- what a spec costs (cost.c) ---------------------------------------------------
 * Every party computes the same estimate from the spec and its inputs
 * before it builds anything the spec sized: the node's referee refuses to
 * rule a step above the network's limits (the ruling "unrunnable": the
 * poster's fault), workers and verifiers compare it with their own machine
 * before they claim or check. Estimates are upper bounds (docs/tasks.md,
 * "What a task costs"); seconds are the caller's business (FLOP / its
 * measured FLOP/s). */
typedef struct job_cost {
    uint64_t mem_bytes;     /* peak memory of the whole run (a worker) */
    uint64_t step_bytes;    /* peak memory of one re-executed step (the referee, a verifier) */
    uint64_t input_bytes;   /* every input blob together */
    double step_flops;      /* arithmetic of one step (INFER: the whole generation) */
    double run_flops;       /* of the whole run */
    uint64_t params;        /* the weights trained (INFER: the model's) */
} job_cost;

/* The network's limits (docs/ledger.md, rules table "Limits"): above any of
 * them a task is unrunnable, whoever holds a machine big enough. */
#define JOB_LIMIT_MEM_BYTES ((uint64_t)8 << 30)    /* 8 GiB */
#define JOB_LIMIT_INPUT_BYTES ((uint64_t)4 << 30)  /* 4 GiB of inputs */
#define JOB_LIMIT_STEP_FLOPS 4e12                  /* one step: minutes on one core at worst */
#define JOB_LIMIT_RUN_FLOPS 4e15                   /* the whole run */
typedef struct job_limits {
    uint64_t mem_bytes, input_bytes;
    double step_flops, run_flops;
} job_limits;
void job_limits_network(job_limits *l);
/* Compares a cost with limits: 0 within, else -1 naming the first excess.
 * whole_run: the worker's question (mem_bytes, run_flops), else the
 * referee's and a verifier's (step_bytes, step_flops only). */
int job_cost_check(const job_cost *c, const job_limits *l, bool whole_run, char err[PLOW_ERR_LEN]);

/* Looks at a spec's inputs before anything is claimed or built: asks each
 * blob's size (b->size when set) and refuses inputs above l->input_bytes
 * together before fetching any; fetches the small ones the estimate reads
 * (tokenizer, the base model's and adapter's files: workdir/in/) and
 * computes the cost; data and held-out sets are sized, not fetched.
 * Returns 0 with *out filled (and within l); 1 when the spec cannot be run
 * within l or at all (an input absent or malformed, a cost above l: err
 * says which: the poster's fault); -1 when it could not be told now (the
 * node unreachable). */
int job_probe(const job_spec *spec, const job_blobs *b, const char *workdir, const job_limits *l, bool whole_run,
              job_cost *out, char err[PLOW_ERR_LEN]);

typedef void (*job_progress_fn)(void *arg, long done, long total, const char *what);

/* What a worker commits for its slot. */
typedef struct job_output {
    uint8_t trace_root[32], final_state[32], artifact[32], manifest[32];
    uint64_t n;
    uint32_t checkpoint_every;
} job_output;

/* Runs the task in workdir and uploads every output and the manifest.
 * TRAIN, LORA, DPO and ROUND run job_train (ROUND: the participant is the
 * spec's, else spec->slot, and a round spec with neither is refused: the
 * caller holding slot s of a task of P slots sets spec->slot = s).
 * cheat: NULL for honest work, else a `plow train --cheat` string
 * ("perturb@17", "skip", ...) for demos and tests; INFER: "perturb@K"
 * changes output token K. The engine must be initialised (tensor_init).
 * progress (may be NULL) is called with what = "fetch", "tokenizer",
 * "train", "generate", "upload". */
int job_run(const job_spec *spec, const job_blobs *b, const char *workdir, const char *cheat,
            job_progress_fn progress, void *parg, job_output *out, char err[PLOW_ERR_LEN]);

/* The cheat string job_run takes for this spec from a `plow train --cheat`
 * one: training kinds take it as given; INFER only "perturb" (default: the
 * middle token, written to buf); NULL when the kind has no such cheat (the
 * task is done honestly). */
const char *job_cheat_for(const job_spec *s, const char *cheat, char buf[64]);

/* Fetches every file of an outputs manifest into dir (dir/<path>); the
 * manifest itself to dir/manifest.json. */
int job_fetch_outputs(const job_blobs *b, const uint8_t manifest[32], const char *dir, char err[PLOW_ERR_LEN]);

/* A verifier's check of one committed slot (ROUND: of the spec's participant,
 * else spec->slot's; when neither is known, of the participant whose state 0
 * is the slot's leaf 0): fetches the manifest's files,
 * re-executes `samples` transitions drawn from `seed` (replay from the
 * nearest good checkpoint, or from state 0), checks the artifact. When the
 * work is wrong, fills the evidence for a challenge: the first wrong step j
 * it found (n+1 when only the artifact is wrong), leaves j-1 and j with
 * their Merkle proofs against slot->trace_root, and uploads state j-1 as a
 * blob (state_blob).
 *
 * Verdicts (returns 0):
 *   valid                 everything checked out;
 *   !valid, step >= 1     provable: challenge step `step` with ev and state_blob;
 *   !valid, step == 0     the outputs are defective in a way no challenge can
 *                         prove (a published trace that is not the committed
 *                         one, checkpoints that do not hash to their leaves, a
 *                         model file that is not the artifact): do not challenge.
 * Returns -1 when the check could not run (a blob could not be fetched, bad
 * arguments): try again later. */
typedef struct job_check {
    bool valid;
    char reason[512];
    uint64_t step;
    ledger_evidence ev;
    uint8_t state_blob[32];
    uint64_t steps_run;
    double seconds;
    /* a file the commitment promises that is not what it promises (a
     * checkpoint that is not its leaf's state, an artifact's files that are
     * not the committed artifact, a manifest that lacks one of them): no
     * step proves it, a data challenge for bad_blob does (job_promised) */
    bool has_bad;
    uint8_t bad_blob[32];
    char bad_file[JOB_PATH_MAX + 1];
} job_check;
/* Where job_verify, job_diverge and job_referee look for a slot's revealed
 * leaves (the REVEAL's n+1 x 32 bytes, raw) in their work directory before
 * they fetch its trace.bin: WORKDIR/leaves_<trace root hex>.bin. Leaves whose
 * Merkle root or last leaf is not the slot's are ignored. Caller frees. */
char *job_leaves_path(const char *workdir, const uint8_t trace_root[32]);
/* The SHA-256 of a file's bytes (the name of the blob it uploads as). */
int job_file_sha256(const char *path, uint8_t out[32], char err[PLOW_ERR_LEN]);
/* Where a run finished in workdir (job_run) keeps what it published as blob
 * `hash`: its manifest (WORKDIR/manifest.json) or a file the manifest lists
 * (WORKDIR/out/PATH), checked to hash to it; NULL (err) if neither. Caller
 * frees. A worker answers a data challenge by uploading it again. */
char *job_published_file(const char *workdir, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int job_verify(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir, int samples,
               uint64_t seed, job_check *out, char err[PLOW_ERR_LEN]);
/* Whether blob `want` of a revealed slot holds what the commitment promises
 * of it (docs/ledger.md, "Data availability"): the manifest lists a
 * checkpoint at 0, C, 2C, ... and n and the artifact's files; a checkpoint
 * is the state its leaf hashes (the leaves from job_leaves_path in workdir,
 * else the slot's trace.bin); the artifact's files, together, are the
 * committed artifact; any other file promises only its bytes (so do the
 * files of kinds that do not replay). Builds what the spec sizes: probe it
 * first. 0 with *kept (false: why); -1 on fetch or job errors. */
/* Opens the files a revealed slot promises (as job_promised judges them)
 * without re-executing a step: the replicated mode's check of replicas
 * that agree. out->valid, else reason and (has_bad) the blob a data
 * challenge demands. 0; -1 on fetch or job errors. */
int job_check_outputs(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir,
                      job_check *out, char err[PLOW_ERR_LEN]);
int job_promised(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir,
                 const uint8_t want[32], bool *kept, char why[PLOW_ERR_LEN], char err[PLOW_ERR_LEN]);

/* Replicated mode (not ROUND: its slots train different shards): two
 * committed slots that disagree. Finds the first step
 * j where their published traces differ, fills evidence against both, and
 * uploads the agreed state j-1 (replayed from state 0 or a checkpoint that
 * hashes to its leaf). j >= 1: when leaf 0 differs the dispute is over step
 * 1 (the referee rebuilds state 0), so ev_a.leaf_prev and ev_b.leaf_prev may
 * differ there; n+1 when only the artifacts differ. *step = 0 (returns 0):
 * the slots agree. INFER: step 1 when the final states differ; state_blob is
 * slot a's receipt, so accuse a. Returns -1 if a slot's trace is missing or
 * not its commitment (the error names the slot: verify it alone). */
int job_diverge(const job_spec *spec, const job_blobs *b, const ledger_slot *a, const ledger_slot *bslot,
                const char *workdir, uint64_t *step, ledger_evidence *ev_a, ledger_evidence *ev_b,
                uint8_t state_blob[32], char err[PLOW_ERR_LEN]);

/* The referee (ROUND: for the spec's participant, else spec->slot's, else
 * the one the evidence names: whose state 0 is c->leaf_prev at j = 1, whose
 * state the blob is at j > 1): loads the challenge's state_blob, checks it hashes to
 * c->leaf_prev (*prev_ok), runs the single step j-1 -> j and returns its
 * leaf in computed (j = n+1: the artifact hash of the state; INFER: the
 * SHA-256 of the tokens re-derived by one teacher-forced prefill).
 * j = 1: state 0 is the task's own, rebuilt from the spec (*prev_ok true,
 * the blob unused). INFER: *prev_ok iff the blob hashes to c->leaf_prev;
 * computed is the honest output for the spec, the blob's tokens serving
 * only as the prefill's hint. A blob that is missing, too large, garbage,
 * of another task or step gives *prev_ok false and computed zeros; -1 only
 * for a step outside 1..n+1 (INFER: other than 1) or unavailable inputs.
 * Before building anything the spec sized it probes the spec against the
 * network's limits (job_probe): 1 when the task cannot be run within them
 * or an input is absent (err says why): the ruling "unrunnable". */
int job_referee(const job_spec *spec, const job_blobs *b, const ledger_challenge *c, const char *workdir,
                uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]);

#endif /* PLOW_JOB_H */
