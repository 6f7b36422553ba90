/*
 * kind.h — the kinds of work plow knows, as one enum every layer shares.
 *
 * A kind is data: a row in a table of operations, never a set of flags
 * tested here and there. Two tables hold the rows, one per layer, both
 * indexed by this enum and both closed by a static_assert on TASK_KIND_COUNT:
 *
 *   proof layer (src/proof/kinds.c)  what a committed run of the kind is:
 *       its task.json fields, the inputs its steps draw from, how state 0
 *       is built, the step, the artifact (from a state and from files);
 *   job layer (src/job/kinds.c)      what a ledger task of the kind is: its
 *       spec fields, the ledger kind it maps to, the training options it
 *       stands for, run / verify / diverge / referee, and the facts agents
 *       read (which kinds a worker runs, a verifier checks).
 *
 * The proof layer cannot call up into the job layer (`plow verify DIR`
 * replays a run directory with no ledger, spec or node in sight), hence two
 * rows per kind rather than one; each row is in one file, and nothing
 * outside the two tables tests a kind. docs/tasks.md, "Adding a kind", lists
 * what a row holds.
 *
 * Names are the same strings everywhere: task.json "kind", spec "kind", the
 * ledger's ledger_kind_name, the API's "kind".
 */
#ifndef PLOW_PROOF_KIND_H
#define PLOW_PROOF_KIND_H

#include "../base/plow.h"

typedef enum task_kind {
    TASK_TRAIN, /* full training from init_seed on a text */
    TASK_LORA,  /* a LoRA adapter on a frozen base model, on a text */
    TASK_DPO,   /* preference alignment on pairs, against the base as reference */
    TASK_ROUND, /* a collaborative round participant: from W_t, on its shard */
    TASK_INFER, /* generation with a receipt (no trace of states) */
    TASK_LABEL, /* crowdsourced labeling (no trace of states) */
    TASK_RL,    /* reinforcement learning on checkable problems (GRPO-style), from a base */
    TASK_KIND_COUNT
} task_kind;

/* "train", "lora", "dpo", "round", "infer", "label", "rl"; "?" outside the enum. */
const char *task_kind_name(int kind);
/* The kind named `name`; -1 if none is. */
int task_kind_parse(const char *name, task_kind *out);
/* In messages: "full training", "LoRA", "DPO", "round", "inference", "labeling". */
const char *task_kind_label(int kind);
/* Kinds whose runs commit a trace of training states that the proof layer
 * replays (proof_replay): train, lora, dpo, round. */
bool task_kind_replays(int kind);
/* Kinds whose state 0 starts from a base model (LoRA's base, DPO's
 * reference, a round's W_t). */
bool task_kind_needs_base(int kind);

#endif
