/*
 * agent.h — long-running programs that hold a key and act on a plow network
 * by themselves: the worker (claims tasks it can afford and finish in time,
 * runs them, commits), the verifier (re-executes committed work and
 * challenges fraud) and the requester (posts tasks, chains them into
 * workflows, finalizes them, checks what it paid for).
 *
 * Every agent is one process talking to a node over HTTP (src/node's client)
 * and takes every decision from two sources only: what the ledger says now,
 * and its own work directory. So an agent killed at any moment and started
 * again carries on where the ledger says it is (a claimed slot is worked on
 * again, a posted task is waited for, not posted twice), and a node that goes
 * away is waited for with a growing back-off.
 *
 * Logs: one line per event on stdout, "HH:MM:SS.mmm NAME: what happened".
 * Stopping: SIGINT/SIGTERM end the agent at the next safe point (a worker in
 * the middle of a task leaves its work directory for the restart).
 *
 * Usage (what cmd_worker does):
 *     worker_options o;
 *     worker_options_default(&o);
 *     o.key = "w.key"; o.work = "w/"; o.node = "http://127.0.0.1:7545";
 *     agent_signals_install();
 *     if (agent_worker_run(&o, err)) ...
 */
#ifndef PLOW_AGENT_H
#define PLOW_AGENT_H

#include "../base/plow.h"

#include "../job/job.h"
#include "../ledger/ledger.h"

#define AGENT_PATH_MAX 1024
#define AGENT_DEFAULT_NODE "http://127.0.0.1:7545"

/* ---- the common part ---------------------------------------------------------- */

struct client;
struct agent_backend;

typedef struct agent {
    char name[LEDGER_NAME_MAX + 1];
    char work[AGENT_PATH_MAX];
    char node[AGENT_PATH_MAX];
    ledger_key key;
    char addr[LEDGER_ADDR_STR_LEN];
    struct client *c;  /* the plow node: blobs, and the ledger for the node backend */
    const struct agent_backend *be; /* where the agent settles (backend.h) */
    void *be_ctx;      /* the backend's own state */
    bool connected;    /* the last call reached the node */
    double backoff;    /* seconds to wait after the next failure */
    uint64_t min_fee;  /* from the node's genesis */
    bool have_params;
    ledger_params params;
} agent;

/* Loads the key (refusing a key file others can read), creates the work
 * directory, and makes a client for node_url; settles through the node
 * (agent_backend_node, backend.h). Contacts nobody yet. */
int agent_open(agent *a, const char *name, const char *key_path, const char *node_url, const char *work_dir,
               char err[PLOW_ERR_LEN]);
void agent_close(agent *a); /* wipes the key */
/* Where an agent settles: rpc NULL, the node of agent_open; else plow's
 * contracts on the EVM chain at rpc (agent_use_evm). */
typedef struct agent_chain {
    const char *rpc, *deployment, *keystore;
} agent_chain;
/* agent_open, then agent_use_evm when c->rpc is set. */
int agent_open_on(agent *a, const char *name, const char *key_path, const char *node_url, const char *work_dir,
                  const agent_chain *c, char err[PLOW_ERR_LEN]);
/* Settles on plow's contracts instead (agent_backend_evm, backend.h): the
 * deployment file (plow deploy), the chain's JSON-RPC URL and the agent's
 * EVM key (keystore v3, password in $PLOW_KEY_PASSWORD, or 0x + 64 hex).
 * The node of agent_open still serves the blobs. */
int agent_use_evm(agent *a, const char *rpc_url, const char *deployment, const char *keystore,
                  char err[PLOW_ERR_LEN]);
/* The referee on an EVM chain (the agent's EVM key must be the
 * deployment's referee): rules every open challenge not ruled yet (a step
 * re-executed by job_referee from the node's blobs; a data challenge whose
 * blob the node has is attested) and submits the signed verdicts. *ruled:
 * how many this round. */
int agent_evm_referee_round(agent *a, int *ruled, char err[PLOW_ERR_LEN]);
/* The sealed commitment of a reveal for slot `slot`, in the settlement
 * backend's form (ledger_commitment on the embedded ledger). */
int agent_commitment(agent *a, const ledger_tx *reveal, uint32_t slot, uint8_t out[32]);
/* Where slot s's revealed leaves are published: 1 in its reveal transaction
 * (the embedded ledger); 0 in the node's blob store as the leaf blob whose
 * SHA-256 is *hash (the EVM backend; a verifier demands it with a data
 * challenge when the node lacks it); -1 with err. */
int agent_leaf_blob(agent *a, const ledger_task *t, int s, uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* "HH:MM:SS.mmm NAME: message" on stdout, flushed. */
void agent_log(const agent *a, const char *fmt, ...) PLOW_PRINTF(2, 3);

/* SIGINT and SIGTERM set a flag that the loops test (no SA_RESTART). */
void agent_signals_install(void);
bool agent_stop_requested(void);
/* Sleeps up to s seconds; returns early once a stop is requested. */
void agent_sleep(double s);

/* The node could not be reached or refused a read: logs it (once per outage)
 * and sleeps with a back-off doubling from 0.25 s to 8 s. agent_ok() notes a
 * successful round (resets the back-off, logs the reconnection). */
void agent_fail(agent *a, const char *err);
void agent_ok(agent *a);

/* Reads the chain's parameters (min fee, ...) once from GET /v1/genesis. */
int agent_load_params(agent *a, char err[PLOW_ERR_LEN]);

/* Fills sender and fee (min fee) and sends the transaction with the client
 * (nonce, signature, wait until in a block). A transaction included but
 * failed by the rules is -1 with the rule's message. */
int agent_send(agent *a, ledger_tx *tx, char err[PLOW_ERR_LEN]);
/* Registers the key as an agent named a->name with these capabilities (JSON
 * text) if the ledger has no profile for it yet (acct, read by the caller,
 * says), logs it and refreshes acct. Nothing to do: returns 0. */
int agent_ensure_registered(agent *a, const char *caps, ledger_account *acct, char err[PLOW_ERR_LEN]);
/* Whether a failed agent_send was refused by the ledger (failed in its block
 * or dropped) rather than lost on the way: retrying the same will not help. */
bool agent_refused(const char *err);
/* The same, also giving the transaction's hash (a task's or challenge's id)
 * and its block; either may be NULL. */
int agent_send_at(agent *a, ledger_tx *tx, uint8_t hash[32], uint64_t *height, char err[PLOW_ERR_LEN]);

/* A task's post in two halves (the requester records the id before the
 * chain can know it): prepare fills sender, fee, nonce or salt and the
 * signature of a POST_TASK and gives the task's id; submit sends it without
 * waiting; status waits up to wait_s for it (result: LEDGER_TX_OK or the
 * failure, msg its reason; an id the chain never received is -1 with an err
 * containing "does not know"). */
int agent_post_prepare(agent *a, ledger_tx *tx, uint8_t id[32], char err[PLOW_ERR_LEN]);
int agent_post_submit(agent *a, const ledger_tx *tx, char err[PLOW_ERR_LEN]);
int agent_post_status(agent *a, const uint8_t id[32], double wait_s, int *result, char msg[PLOW_ERR_LEN],
                      char err[PLOW_ERR_LEN]);

/* Ledger reads. */
int agent_height(agent *a, uint64_t *height, char err[PLOW_ERR_LEN]);
int agent_account(agent *a, const uint8_t pk[32], ledger_account *out, char err[PLOW_ERR_LEN]);
/* Every task matching query (GET /v1/tasks filters, docs/api.md: e.g.
 * "status=committed&deadline_from=12"; NULL: all), oldest first: pages
 * through the whole listing with its cursor, however many tasks there are
 * (up to AGENT_TASKS_MAX: beyond, an error). *out is malloc'd (caller frees). */
#define AGENT_TASKS_MAX 200000
int agent_list_tasks(agent *a, const char *query, ledger_task **out, size_t *n, char err[PLOW_ERR_LEN]);
/* One task and its challenges (*ch malloc'd, may be NULL when none). */
int agent_task(agent *a, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch,
               char err[PLOW_ERR_LEN]);
int agent_challenge(agent *a, const uint8_t id[32], ledger_challenge *out, char err[PLOW_ERR_LEN]);
/* The hash and time of block `height` (-1 if it does not exist yet). */
/* The REVEAL transaction that opened slot `slot` of t (its leaves: the
 * trace), read from the block at the slot's revealed_at. */
int agent_reveal_of(agent *a, const ledger_task *t, int slot, ledger_tx *out, char err[PLOW_ERR_LEN]);
/* Writes the leaves slot s revealed where the job functions working in dir
 * look for them first (job_leaves_path): a check or a divergence then needs
 * no trace.bin from that worker. Nothing for infer. */
int agent_put_leaves(agent *a, const ledger_task *t, int s, const char *dir, char err[PLOW_ERR_LEN]);
int agent_block_hash(agent *a, uint64_t height, uint8_t hash[32], uint64_t *time_ms, char err[PLOW_ERR_LEN]);
/* Milliseconds per block, measured over the last blocks (default 500). */
double agent_block_ms(agent *a);
/* Downloads and parses a task's spec: at most JOB_SPEC_MAX bytes, its size
 * asked first. 1 when the spec itself is unusable (absent, too large,
 * malformed: the poster's), -1 when it could not be fetched now. */
int agent_fetch_spec(agent *a, const ledger_task *t, job_spec *spec, char err[PLOW_ERR_LEN]);
/* Blob access for src/job through this agent's client. */
job_blobs agent_job_blobs(agent *a);

/* The limits a task must fit to be taken on this machine: the network's
 * (job_limits_network), memory capped at 3/4 of what this process may use
 * (physical memory, RLIMIT_AS, RLIMIT_DATA). */
void agent_limits(job_limits *l);
/* Probes task t's spec (job_probe) in WORK/probe/ID against l; same returns
 * (1: the spec cannot be run within l: err says why). */
int agent_probe(agent *a, const ledger_task *t, const job_spec *spec, const job_limits *l, bool whole_run,
                job_cost *cost, char err[PLOW_ERR_LEN]);
/* Tasks this agent has set aside for good (a spec it cannot run, a run that
 * kept failing), kept in WORK/refused/ID with the reason, so a restart
 * neither claims, fetches nor runs them again. */
bool agent_is_refused(const agent *a, const uint8_t id[32]);
void agent_refuse(agent *a, const uint8_t id[32], const char *why);

/* A slot's outputs manifest (docs/tasks.md), fetched and parsed. */
int agent_fetch_manifest(agent *a, const uint8_t hash[32], job_manifest *m, char err[PLOW_ERR_LEN]);
/* A manifest entry by its path, or else by its base name ("model.safetensors"). */
const uint8_t *agent_manifest_find(const job_manifest *m, const char *name);

/* Short forms for logs: the first 8 hex digits of a hash; an address's
 * "plow" + 8 hex digits. */
void agent_short(const uint8_t h[32], char out[12]);
void agent_short_addr(const uint8_t pk[32], char out[16]);
/* Money in base units with thousands separators ("1,250,000"). */
void agent_money(uint64_t v, char out[32]);

/* ---- the worker ------------------------------------------------------------ */

/* What a worker accepts (policy JSON, docs/agents.md). Amounts in base units
 * (numbers or decimal strings). */
typedef struct worker_policy {
    unsigned kinds;             /* bit (1 << kind) for each accepted ledger_task_kind */
    uint64_t min_price_per_step; /* reward / steps must be at least this */
    uint64_t max_stake_at_risk;  /* locked stake (all slots held) never above this */
    uint64_t stake;              /* keep this much stake; top up from the balance when short */
    double seconds_per_step;     /* first estimate of the time a step takes (then measured) */
    double safety;               /* claim only if estimate * safety fits the work window */
} worker_policy;
void worker_policy_default(worker_policy *p);
int worker_policy_parse(worker_policy *p, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);

typedef struct worker_options {
    const char *name, *key, *work, *node;
    worker_policy policy;
    const char *cheat;  /* NULL: honest; else a `plow train --cheat` string */
    double cheat_rate;  /* cheat on this fraction of tasks (decided by the task id) */
    int threads;        /* advertised in the capabilities */
    double poll_s;      /* seconds between looks at the ledger */
    bool once;          /* stop after one task is committed (tests) */
    agent_chain chain;  /* where it settles (default: the node) */
} worker_options;
void worker_options_default(worker_options *o);
/* Runs until a stop is requested. Returns -1 only for errors that waiting
 * cannot fix (a bad key, an unwritable work directory). */
int agent_worker_run(const worker_options *o, char err[PLOW_ERR_LEN]);

/* ---- the verifier -------------------------------------------------------- */

typedef struct verifier_options {
    const char *name, *key, *work, *node;
    int samples;    /* transitions re-executed per optimistic slot */
    uint64_t bond;  /* bond for a challenge (at least the task's min_bond) */
    double poll_s;
    /* tests: a hostile challenger that challenges every revealed optimistic
     * slot at this step without checking it (0: off) */
    uint64_t challenge_at;
    agent_chain chain;
} verifier_options;
void verifier_options_default(verifier_options *o);
int agent_verifier_run(const verifier_options *o, char err[PLOW_ERR_LEN]);

/* ---- TASKFILEs (docs/cli.md) ------------------------------------------------
 * The ledger parameters of a task and its job spec, in which "@PATH" strings
 * are local files (relative to the TASKFILE) to upload; "base"/"adapter" may
 * name a run directory. Used by `plow task post` and the requester:
 *     taskfile tf;
 *     taskfile_parse(&tf, path, err);            ledger half checked
 *     taskfile_expand(&tf, c, note, arg, err);   files uploaded, hashes in
 *     taskfile_set_run(&tf, "base", m, cfg);     (requester: workflow inputs)
 *     taskfile_finish(&tf, c, &spec, err);       spec checked, uploaded; p ready
 *     tx.u.post = tf.p; ...
 *     taskfile_release(&tf);                                                  */

#define TASKFILE_FORMAT "plow.taskfile.v1"
#define TASKFILE_CLAIM_BLOCKS 100
#define TASKFILE_WORK_BLOCKS 2000
#define TASKFILE_WINDOW_BLOCKS 40

typedef struct taskfile {
    ledger_task_params p;
    struct cJSON *root; /* the whole file (owned) */
    struct cJSON *spec; /* its "spec" object (inside root) */
    char dir[AGENT_PATH_MAX]; /* the TASKFILE's directory, with a trailing '/' (or "") */
} taskfile;
typedef void (*taskfile_note_fn)(void *arg, const char *line);

int taskfile_parse(taskfile *tf, const char *path, char err[PLOW_ERR_LEN]);
void taskfile_release(taskfile *tf);
/* Uploads every "@" file of the spec and replaces it by its hash ("@@x" is
 * the literal "@x"); note (may be NULL) hears "uploaded PATH -> HASH". */
int taskfile_expand(taskfile *tf, struct client *c, taskfile_note_fn note, void *arg, char err[PLOW_ERR_LEN]);
/* Sets spec[key] to a hash, or to {"model": HASH, "config": HASH}. */
int taskfile_set_hash(taskfile *tf, const char *key, const uint8_t h[32]);
int taskfile_set_run(taskfile *tf, const char *key, const uint8_t model[32], const uint8_t config[32]);
/* Checks the spec (job_spec_parse), uploads its canonical form and fills
 * p.spec, p.kind and p.steps (INFER: the tokens to generate). Returns -1
 * when the spec is invalid (err starts "spec: "), -2 when the upload failed
 * (err starts "uploading the spec: "). */
int taskfile_finish(taskfile *tf, struct client *c, job_spec *spec, char err[PLOW_ERR_LEN]);

/* ---- the requester ------------------------------------------------------- */

#define WORKFLOW_MAX_STEPS 16
#define WORKFLOW_MAX_REPOSTS 3

/* A workflow (plow.workflow.v1): steps in order, each a TASKFILE and inputs
 * naming earlier steps whose accepted outputs it uses. */
typedef struct workflow_step {
    char name[64];
    char task[AGENT_PATH_MAX]; /* the TASKFILE, relative to the workflow file */
    int base;                  /* index of the step giving the base model, or -1 */
    int adapter;               /* index of the step giving the adapter, or -1 */
} workflow_step;
typedef struct workflow {
    int n;
    workflow_step steps[WORKFLOW_MAX_STEPS];
} workflow;
int workflow_parse(workflow *w, const uint8_t *buf, size_t n, const char *dir, char err[PLOW_ERR_LEN]);
int workflow_load(workflow *w, const char *path, char err[PLOW_ERR_LEN]);

typedef struct requester_options {
    const char *name, *key, *work, *node;
    const char *task;     /* one TASKFILE, or */
    const char *workflow; /* a workflow file */
    double poll_s;
    const char *result;   /* where to write the result JSON (default WORK/result.json) */
    agent_chain chain;
} requester_options;
void requester_options_default(requester_options *o);
/* Runs the task or workflow to its end. 0: every step accepted and every
 * artifact and receipt verified; 1: finished but something failed (a step
 * never accepted, a hash or receipt that does not check); -1: could not run. */
int agent_requester_run(const requester_options *o, char err[PLOW_ERR_LEN]);

#endif /* PLOW_AGENT_H */
