/*
 * kind.h — a task kind as the job layer and the agents see it: the row of
 * src/job/kinds.c (the proof layer's row is src/proof/kinds.c; the enum is
 * src/proof/kind.h). This header gives what callers above the job layer
 * read: the ledger's number for a kind, and the facts agents act on.
 *
 * The ledger numbers its kinds on the wire (ledger_task_kind, LEDGER_KIND_*);
 * job_kind_from_ledger and job_kind_ledger are the only mapping between the
 * two enums, and both read the table.
 */
#ifndef PLOW_JOB_KIND_H
#define PLOW_JOB_KIND_H

#include "../base/plow.h"

#include "../proof/kind.h"

typedef struct job_kind_facts {
    task_kind kind;
    int ledger_kind;        /* ledger_task_kind: the wire number */
    const char *steps_unit; /* what the task's `steps` counts: "steps" or "tokens" */
    bool worker_runs;       /* the worker agent takes its slots (job_run) */
    bool verifier_checks;   /* the verifier agent checks its slots (job_verify) */
} job_kind_facts;

/* The facts of a kind (asserts kind is in the enum). */
const job_kind_facts *job_kind_facts_of(task_kind kind);
/* The facts of the kind a ledger kind number stands for; NULL if none does. */
const job_kind_facts *job_kind_facts_ledger(int ledger_kind);
/* The task kind a ledger kind number stands for; -1 if none does. */
int job_kind_from_ledger(int ledger_kind, task_kind *out);
/* The ledger's number for a kind. */
int job_kind_ledger(task_kind kind);

#endif
