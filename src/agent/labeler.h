/*
 * labeler.h — crowdsourced labeling on the network (docs/labeling.md, "On
 * the network"): what `plow label` (the requester's and a person's commands)
 * and `plow labeler` (the AI labeler agent) share.
 *
 *   items      the task's items: a blob of JSONL, one {"text": ...} per line
 *              (nothing else: true labels never travel with the items);
 *   gold       the requester's hidden answers: JSONL {"item": i, "label": name},
 *              kept with the gold commitment's salt in a 0600 secret file;
 *   state      a labeler's commitment (labels of its slot's items and the
 *              salt), kept in a 0600 file from before the COMMIT until the
 *              reveal, so a restart or a later `plow label reveal` can open it;
 *   model      the label module's naive Bayes classifier (label_nb), which
 *              the agent labels with;
 *   reveals    what a task's labelers and requester revealed, read back from
 *              the blocks' LABEL_REVEAL and GOLD_REVEAL transactions (the API
 *              has no endpoint for the labels records), so anyone can rebuild
 *              the aggregated dataset and check it against the task's result.
 *
 * Input from files and peers never asserts: every parser names the file, the
 * line and what is wrong.
 */
#ifndef PLOW_LABELER_H
#define PLOW_LABELER_H

#include "../base/plow.h"

#include "../job/job.h"
#include "../label/label.h"
#include "../ledger/ledger.h"

struct client;


/* ---- files -------------------------------------------------------------------------- */

/* Writes a private file (mode 0600) atomically: a temporary file beside it,
 * fsync, then rename — or, when exclusive, a hard link that fails if path
 * exists ("refusing to overwrite"). */
int labeler_write_private(const char *path, const void *data, size_t n, bool exclusive, char err[PLOW_ERR_LEN]);

/* The index of a class name in the spec, or -1. */
int labeler_class_index(const job_spec *s, const char *name);
/* map[k] = the classifier's class for the spec's class k (label_nb_map over
 * the spec's class names). */
int labeler_nb_map_spec(const label_nb *m, const job_spec *s, int *map, char err[PLOW_ERR_LEN]);

/* ---- gold and the requester's secret ---------------------------------------------------- */

/* Parses gold JSONL {"item": index, "label": name} against the spec:
 * indices < n_items and distinct, labels among its classes, at most
 * LEDGER_GOLD_MAX lines. Out: items in increasing order with their labels. */
int labeler_gold_parse(const uint8_t *buf, size_t n, const char *what, const job_spec *s, uint32_t *items,
                       uint8_t *labels, uint32_t *count, char err[PLOW_ERR_LEN]);

typedef struct labeler_secret {
    bool has_task;
    uint8_t task[32];  /* set once the task is posted */
    uint8_t salt[32];
    uint8_t commitment[32]; /* ledger_gold_commitment(salt, gold) = the task's gold_commit */
    uint32_t count;
    uint32_t items[LEDGER_GOLD_MAX];
    uint8_t labels[LEDGER_GOLD_MAX];
} labeler_secret;

/* JSON {"format": "plow.label.secret.v1", "task", "salt", "commitment",
 * "gold": [[item, label], ...]} in a 0600 file. read refuses a file others
 * can read, a malformed one, and one whose gold does not open its
 * commitment. */
int labeler_secret_write(const char *path, const labeler_secret *s, bool exclusive, char err[PLOW_ERR_LEN]);
int labeler_secret_read(const char *path, labeler_secret *s, char err[PLOW_ERR_LEN]);

/* ---- a labeler's commitment state ------------------------------------------------------- */

typedef struct labeler_state {
    uint8_t task[32];
    uint8_t labeler[LEDGER_PK_LEN];
    uint32_t slot;
    uint32_t count;                      /* the slot's item count */
    uint8_t labels[LEDGER_LABELS_MAX];   /* (count) in the slot's item order */
    uint8_t salt[32];
    uint8_t commitment[32];              /* what was (or will be) committed as trace_root */
    bool copied;    /* a copier's commitment: someone else's root, nothing of its own to open */
    bool settled;   /* the agent reported the task's settlement */
} labeler_state;

/* JSON {"format": "plow.label.state.v1", "task", "labeler", "slot",
 * "labels": [...], "salt", "commitment", "copied", "settled"}, 0600. read
 * checks the format, not that the labels open the commitment: a reveal sends
 * what the file holds and the ledger decides. */
int labeler_state_write(const char *path, const labeler_state *s, char err[PLOW_ERR_LEN]);
int labeler_state_read(const char *path, labeler_state *s, char err[PLOW_ERR_LEN]);
/* New state: random salt (libsodium), commitment = ledger_label_commitment. */
void labeler_state_seal(labeler_state *s);

/* ---- reading a label task from the node ------------------------------------------------- */

/* The slot pk holds in t (any status but EMPTY), or -1. */
int labeler_slot_of(const ledger_task *t, const uint8_t pk[LEDGER_PK_LEN]);

/* A label task's spec and items, checked against the task: kind label on
 * both sides, n_items = steps, n_classes equal, the items blob has n_items
 * lines. items may be NULL (spec only). -1: they do not check out (asking
 * again will not help); -2: a blob could not be fetched (try again). */
int labeler_fetch_task(struct client *c, const ledger_task *t, job_spec *spec, label_items *items,
                       char err[PLOW_ERR_LEN]);
/* The same with the items blob refused above max_items bytes (and above what
 * the spec's n_items lines can take), sized before it is fetched; the spec
 * above JOB_SPEC_MAX. labeler_fetch_task: max_items LABEL_FILE_MAX. A blob
 * the node does not have does not check out (-1). */
int labeler_fetch_task_max(struct client *c, const ledger_task *t, job_spec *spec, label_items *items,
                           uint64_t max_items, char err[PLOW_ERR_LEN]);

typedef struct labeler_reveals {
    ledger_labels *slot[LEDGER_MAX_REPLICAS]; /* NULL: slot s did not reveal (owned) */
    uint8_t salt[LEDGER_MAX_REPLICAS][32];     /* the salt each reveal opened its commitment with */
    ledger_gold *gold;                         /* NULL: the gold is not revealed (owned) */
    uint64_t scanned_to;                       /* the last block read */
} labeler_reveals;

/* Reads the task's accepted LABEL_REVEAL and GOLD_REVEAL transactions from
 * the blocks in which the rules allow them (from the first reveal height to
 * the gold deadline, or the current height). */
int labeler_fetch_reveals(struct client *c, const ledger_task *t, labeler_reveals *r, char err[PLOW_ERR_LEN]);
void labeler_reveals_release(labeler_reveals *r);

/* ---- the labeler agent ------------------------------------------------------------------- */

typedef enum labeler_mode {
    LABELER_MODEL = 1, /* labels with a naive Bayes model */
    LABELER_ACCURACY,  /* simulated: the true label with probability p (needs the truth file) */
    LABELER_SPAM,      /* simulated: a uniformly random label */
    LABELER_COPY,      /* tries to reuse another labeler's answers (it cannot) */
} labeler_mode;

typedef struct labeler_options {
    const char *name, *key, *work, *node;
    labeler_mode mode;
    const char *model;    /* MODEL: a model file, or */
    const char *train;    /* MODEL: labeled JSONL to train one from at start */
    double smoothing;     /* MODEL with train: the additive smoothing (default 1) */
    double accuracy;      /* ACCURACY: p */
    const char *truth;    /* ACCURACY: the answer key (JSONL {"text", "label"}) */
    uint8_t copy_of[LEDGER_PK_LEN]; /* COPY: whose answers */
    uint64_t seed;        /* the simulated labelers' draws */
    uint64_t max_stake;   /* stake at most this much in all (UINT64_MAX: no limit) */
    double poll_s;
    int max_tasks;        /* stop once this many tasks settled (0: never) */
    uint64_t item_budget; /* bytes of items held at once, all tasks (0: LABEL_FILE_MAX); a task whose
                             items are larger is refused before a claim */
} labeler_options;
void labeler_options_default(labeler_options *o);
/* The label this labeler gives an item (ACCURACY, SPAM): a pure function of
 * (seed, text, truth). truth LABEL_NONE-like (UINT32_MAX): unknown. */
uint32_t labeler_sim_label(labeler_mode mode, double p, uint64_t seed, const char *text, uint32_t truth,
                           uint32_t n_classes);
/* Runs until a stop is requested (or max_tasks settled). -1 only for what
 * waiting cannot fix (bad key, model, truth file, work directory). */
int agent_labeler_run(const labeler_options *o, char err[PLOW_ERR_LEN]);

#endif /* PLOW_LABELER_H */
