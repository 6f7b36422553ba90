/*
 * label.h — crowdsourced labeling: items, answers, and deterministic
 * aggregation (majority vote, Dawid–Skene EM), gold-item
 * scoring and pay.
 *
 * Labeling has no re-execution (docs/design.md §4): quality comes from redundancy
 * (each item labeled by r labelers), hidden gold items with known answers,
 * commit-then-reveal submissions (nobody can copy another's answers before the
 * reveal phase) and an aggregation that estimates every labeler's confusion
 * matrix. This module is the library; the ledger's label task, its commit and
 * reveal transactions (the commitment is ledger_label_commitment) and its
 * slashing are wired on top of it (docs/labeling.md).
 *
 * Invariants
 *   - Everything the ledger may depend on is a pure function of its inputs:
 *     answers are put in a canonical order (item, then labeler) before any
 *     arithmetic, loops run in index order, EM uses only + - * / on doubles
 *     (built with -ffp-contract=off, no libm), so the same answer set gives
 *     bit-identical posteriors, estimates and pay on every machine and
 *     compiler, whatever order the answers arrived in.
 *   - Slashing and pay decisions are made in integers: gold accuracy against
 *     a threshold in parts per million, pay from accuracies rounded down to
 *     parts per million and split with exact 128-bit products.
 *   - Input from users or peers (labels out of range, unknown items or
 *     labelers, an answer given twice, empty sets) is an error, never an
 *     assertion.
 *
 * Ownership: `_load`/`_run`/`_answers` fill caller-provided structs whose
 * arrays the callee allocates; release them with the matching `_release`
 * (which accepts a zeroed or already-released struct). Input arrays are
 * borrowed and never kept.
 *
 * Usage:
 *     label_dataset ds;
 *     if (label_fortunes_load(&ds, NULL, NULL, 0, 0, err)) die(err);
 *     label_problem p = {ds.n_items, n_labelers, ds.n_classes, answers, n_answers};
 *     label_ds_result r;
 *     if (label_ds_run(&p, gold, n_gold, NULL, &r, err)) die(err);
 *     ... r.map[i] is item i's label, r.accuracy[l] labeler l's estimate ...
 *     label_ds_result_release(&r);
 *     label_dataset_release(&ds);
 */
#ifndef PLOW_LABEL_H
#define PLOW_LABEL_H

#include "../base/plow.h"

#define LABEL_MAX_CLASSES 256
#define LABEL_NONE UINT32_MAX /* "no label": an item nobody answered */
#define LABEL_PPM 1000000u    /* parts per million: accuracies and thresholds */

/* ---- items: the fortunes corpus --------------------------------------------- */

typedef struct label_item {
    uint8_t id[PLOW_HASH_LEN]; /* SHA-256 of text */
    char *text;                /* the fortune, trailing newlines removed */
    uint32_t truth;            /* index into label_dataset.classes: the file it came from */
} label_item;

typedef struct label_dataset {
    uint32_t n_classes;
    char **classes;    /* (n_classes) category names, sorted by strcmp: class id = rank */
    size_t n_items;
    label_item *items; /* (n_items) sorted by id */
} label_dataset;

/* The directory Debian's `fortunes` package installs, and the categories the
 * tests and the benchmark use (six files with 147..1050 fortunes each). */
#define LABEL_FORTUNES_DIR "/usr/share/games/fortunes"
extern const char *const label_fortunes_default[];
#define LABEL_FORTUNES_DEFAULT_COUNT 6

/* Loads the fortunes of the given category files of dir (NULL: LABEL_FORTUNES_DIR;
 * categories NULL: label_fortunes_default) as a labeled dataset: each
 * fortune (text between lines holding only "%") is an item whose true label
 * is its file. Deterministic: classes sorted by name, items sorted by id =
 * SHA-256(text). Items empty after trimming trailing blank lines are skipped;
 * a text repeated in one file is kept once; a text found in two different
 * files (its label is ambiguous) is dropped. max_per_class > 0 keeps only the
 * first max_per_class items of each class in id order (a deterministic
 * sample). Fails, saying to install Debian's 'fortunes' package, if a file is
 * missing; fails on fewer than two or duplicated categories, a name with a
 * '/', or a category with no items. */
int label_fortunes_load(label_dataset *ds, const char *dir, const char *const *categories, size_t n_categories,
                        size_t max_per_class, char err[PLOW_ERR_LEN]);
void label_dataset_release(label_dataset *ds);

/* ---- answers ----------------------------------------------------------------- */

typedef struct label_answer {
    uint32_t item;    /* [0, n_items) */
    uint32_t labeler; /* [0, n_labelers) */
    uint32_t label;   /* [0, n_classes) */
} label_answer;

/* A labeling problem as aggregation sees it: revealed answers by index. At
 * most one answer per (item, labeler); items nobody answered are allowed
 * (their label is LABEL_NONE). */
typedef struct label_problem {
    uint32_t n_items, n_labelers, n_classes; /* n_items, n_labelers >= 1; 2 <= n_classes <= LABEL_MAX_CLASSES */
    const label_answer *answers;
    size_t n_answers; /* >= 1 */
} label_problem;

/* A gold item: an item whose answer the requester knows (hidden among the others). */
typedef struct label_gold {
    uint32_t item;
    uint32_t label;
} label_gold;

/* Checks a problem: sizes, every index in range, no (item, labeler) answered
 * twice. 0 or -1 with the first problem found. Every function below runs it. */
int label_problem_check(const label_problem *p, char err[PLOW_ERR_LEN]);

/* The answers of p less those of the labelers marked in exclude
 * (n_labelers entries), in p's order: *out (caller frees; NULL when empty),
 * *n_out (may be 0). Aggregation after slashing runs on these: a labeler
 * flagged on gold has its answers discarded, which is what stops a colluding
 * ring that Dawid-Skene alone would take for experts (docs/labeling.md). */
int label_answers_filter(const label_problem *p, const bool *exclude, label_answer **out, size_t *n_out,
                         char err[PLOW_ERR_LEN]);

/* ---- majority vote --------------------------------------------------------------- */

/* out[i] (n_items) = the label most answers gave item i; ties go to the lowest
 * label id; LABEL_NONE for an item with no answers. */
int label_majority(const label_problem *p, uint32_t *out, char err[PLOW_ERR_LEN]);

/* ---- Dawid–Skene ------------------------------------------------------------------- */

typedef struct label_ds_params {
    uint32_t max_iter; /* EM iterations at most (default 200) */
    double tol;        /* stop once no posterior moves more than tol in an iteration (default 1e-7) */
    double smoothing;  /* Laplace pseudo-count added to every confusion and prior count (default 1) */
} label_ds_params;

/* The defaults above. */
label_ds_params label_ds_defaults(void);

typedef struct label_ds_result {
    uint32_t n_items, n_labelers, n_classes;
    double *prior;     /* (K) class priors */
    double *confusion; /* (L, K, K): confusion[(l*K + t)*K + a] = P(labeler l answers a | true class t) */
    double *posterior; /* (N, K) P(item i is class k | answers); the prior for an unanswered item */
    uint32_t *map;     /* (N) argmax of posterior (ties: lowest id); LABEL_NONE if no answers */
    double *accuracy;  /* (L) estimated share of labeler l's answers that are right:
                          sum over its answers of posterior[item][answer], / n_answers[l] (0 if none) */
    double *chance;    /* (L) the accuracy labeler l would get answering at random with its own
                          answer frequencies: sum_k freq_l[k] * prior[k] (1/K for a uniform guesser,
                          prior[c] for one who always answers c) */
    uint32_t *n_answers; /* (L) answers given */
    uint32_t iterations; /* EM iterations run */
    bool converged;      /* stopped on tol rather than max_iter */
} label_ds_result;

/* Dawid–Skene EM. Starts from the soft majority vote (each item's vote
 * shares), then alternates the M-step (priors and each labeler's confusion
 * matrix from the posteriors, Laplace-smoothed) and the E-step (posteriors
 * from priors × the confusion entries of the item's answers, normalised per
 * item after every factor so nothing underflows). Gold items (may be NULL/0)
 * are clamped to their known label throughout. params NULL: the defaults.
 * Deterministic (see the header's invariants). out must be released. */
int label_ds_run(const label_problem *p, const label_gold *gold, size_t n_gold, const label_ds_params *params,
                 label_ds_result *out, char err[PLOW_ERR_LEN]);
void label_ds_result_release(label_ds_result *r);

/* SHA-256 over every output of r (sizes, then the arrays' IEEE bits as little
 * endian, then iterations and converged): one value to compare across
 * machines. */
void label_ds_digest(const label_ds_result *r, uint8_t out[PLOW_HASH_LEN]);

/* ---- gold and slashing ---------------------------------------------------------------- */

typedef struct label_gold_score {
    uint32_t answered; /* gold items this labeler answered */
    uint32_t correct;  /* of which right */
    uint32_t accuracy_ppm; /* correct/answered in ppm, rounded down (0 if none answered) */
    bool flagged;      /* answered >= min_answered and correct/answered < threshold: slash */
} label_gold_score;

/* Scores every labeler on the gold items: out (n_labelers). A labeler is
 * flagged when it answered at least min_answered gold items (>= 1) and
 * correct * 1e6 < threshold_ppm * answered (exact integers). Gold entries must
 * name distinct items with labels in range. */
int label_gold_scores(const label_problem *p, const label_gold *gold, size_t n_gold, uint32_t threshold_ppm,
                      uint32_t min_answered, label_gold_score *out, char err[PLOW_ERR_LEN]);

/* ---- pay ------------------------------------------------------------------------------ */

/* Each labeler's pay weight: (accuracy - chance)+ in ppm (each rounded down to
 * ppm first) × answers given; 0 for labelers in exclude (may be NULL: e.g.
 * those flagged on gold). out (n_labelers). Fails on overflow. */
int label_pay_weights(const label_ds_result *r, const bool *exclude, uint64_t *out, char err[PLOW_ERR_LEN]);

/* Splits budget in proportion to weights: pay[l] = floor(budget * w[l] / W),
 * W = sum of weights, computed exactly (128-bit product). The sum of pay is at
 * most budget; *remainder = budget - sum (less than the number of labelers
 * with a positive weight, or all of budget when W = 0) goes back to the
 * requester. Fails if W overflows 64 bits. */
int label_pay_split(const uint64_t *weights, uint32_t n, uint64_t budget, uint64_t *pay, uint64_t *remainder,
                    char err[PLOW_ERR_LEN]);

/* ---- simulated labelers ---------------------------------------------------------------- */

typedef enum label_sim_kind {
    LABEL_SIM_NOISY,    /* the true label with probability p, else a uniformly random other label */
    LABEL_SIM_SPAMMER,  /* a uniformly random label */
    LABEL_SIM_CONSTANT, /* always `constant` */
    LABEL_SIM_COLLUDER, /* members of one `group` give the same answer to an item: the true label
                           with probability p (low: mostly wrong), else one shared random other label */
    LABEL_SIM_KIND_COUNT
} label_sim_kind;

typedef struct label_sim_labeler {
    label_sim_kind kind;
    double p;          /* NOISY, COLLUDER: probability of the true label, in [0, 1] */
    uint32_t constant; /* CONSTANT: the label */
    uint32_t group;    /* COLLUDER: the ring (members with the same group copy each other) */
} label_sim_labeler;

/* Simulates a labeling round: every item gets `redundancy` distinct labelers
 * drawn uniformly (a seeded partial Fisher–Yates), each answering as its kind
 * says. Every draw comes from a counter-based hash of (seed, purpose, item,
 * labeler), so the answers are a pure function of the arguments. *answers
 * (caller frees, *n_answers = n_items * redundancy) is in item order.
 * Fails on redundancy outside [1, n_labelers], truth or constant labels out of
 * range, p outside [0, 1]. */
int label_sim_answers(const label_sim_labeler *labelers, uint32_t n_labelers, const uint32_t *truth,
                      uint32_t n_items, uint32_t n_classes, uint32_t redundancy, uint64_t seed,
                      label_answer **answers, size_t *n_answers, char err[PLOW_ERR_LEN]);

/* A counter-based hash: 64 well-mixed bits from (seed, a, b, c). */
uint64_t label_hash64(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/* ---- evaluation ---------------------------------------------------------------------- */

/* Share of items with labels[i] == truth[i] among items with skip NULL or
 * !skip[i] (LABEL_NONE counts as wrong); 0 for no items. */
double label_accuracy(const uint32_t *labels, const uint32_t *truth, size_t n, const bool *skip);

/* Spearman rank correlation of a and b (ties get average ranks); 0 if either
 * is constant or n < 2. For evaluation only (uses sqrt). */
double label_spearman(const double *a, const double *b, size_t n);

/* ---- text files (text.c) -------------------------------------------------------------- */

#define LABEL_TEXT_MAX (64u << 10)   /* bytes of one item's text */
#define LABEL_FILE_MAX (256u << 20)  /* largest JSONL file read */
#define LABEL_ITEMS_MAX 65536        /* items of a task (the ledger's LEDGER_LABEL_ITEMS_MAX) */
#define LABEL_NAME_MAX 32            /* bytes of a class name */

/* A class name: 1..LABEL_NAME_MAX bytes of [A-Za-z0-9_.-]. */
bool label_class_name_ok(const char *name);

/* Reading JSONL: lines without their '\n' (and a trailing '\r'); a final
 * newline does not start another line. */
typedef struct label_jsonl {
    const uint8_t *buf;
    size_t n, pos;
    size_t line; /* 1-based number of the line last returned */
} label_jsonl;
bool label_jsonl_next(label_jsonl *r, const char **s, size_t *len);
/* The line as one JSON object (no \u0000 in strings), or NULL with
 * "WHAT line N: ..." in err. The caller deletes it. */
struct cJSON *label_jsonl_object(const char *s, size_t len, const char *what, size_t line, char err[PLOW_ERR_LEN]);

/* ---- items ---------------------------------------------------------------------------- */

typedef struct label_items {
    size_t n;
    char **text; /* (n) owned */
} label_items;

/* Parses JSONL items: one object {"text": "..."} per line (1..64 KiB of
 * text, no NUL), at most LABEL_ITEMS_MAX lines, a final newline
 * optional, "\r\n" accepted. Any other key is refused (a "label" would
 * publish the answers). `what` names the input in errors ("items.jsonl line
 * 3: ..."). */
int label_items_parse(label_items *it, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]);
/* The canonical form that is uploaded: {"text":"..."} per line, '\n' after each. */
void label_items_write(const label_items *it, plow_buf *out);
void label_items_release(label_items *it);

/* ---- labeled text: {"text", "label"} per line (training data, true labels) -------------- */

typedef struct label_labeled {
    size_t n;
    char **text;  /* (n) owned */
    char **label; /* (n) owned: a class name */
} label_labeled;

/* Parses JSONL {"text": ..., "label": name} (other keys are ignored: an
 * aggregated dataset may carry more). Label names follow the spec's rules. */
int label_labeled_parse(label_labeled *d, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]);
int label_labeled_load(label_labeled *d, const char *path, char err[PLOW_ERR_LEN]);
void label_labeled_release(label_labeled *d);

/* True labels looked up by text (SHA-256 of it): the tests' and demos'
 * answer key. Texts given twice must agree. */
typedef struct label_truth_entry {
    uint8_t id[32];
    char label[LABEL_NAME_MAX + 1];
} label_truth_entry;
typedef struct label_truth {
    size_t n;
    label_truth_entry *e; /* sorted by id */
} label_truth;
int label_truth_load(label_truth *t, const char *path, char err[PLOW_ERR_LEN]);
/* The true label of text, or NULL. */
const char *label_truth_find(const label_truth *t, const char *text);
void label_truth_release(label_truth *t);

/* ---- naive Bayes ------------------------------------------------------------------------ */

/* Multinomial naive Bayes over lowercase words (runs of ASCII letters and
 * digits, and bytes >= 0x80), additive smoothing a (1: Laplace), integer
 * counts. Class c's score is log(docs_c + 1) + sum over the text's known
 * words (with repeats) of log(count_cw + a) - log(words_c + a V), logs by
 * tensor_log_d (the same bits on every machine); the highest score wins,
 * ties to the lowest task class id. */
typedef struct label_nb label_nb;
int label_nb_train(label_nb **out, const label_labeled *d, double smoothing, char err[PLOW_ERR_LEN]);
/* JSON {"format": "plow.nb.v1", "smoothing", "classes", "docs", "words",
 * "vocab": {word: [counts]}}; load refuses counts that do not add up. */
int label_nb_save(const label_nb *m, const char *path, char err[PLOW_ERR_LEN]);
int label_nb_load(label_nb **out, const char *path, char err[PLOW_ERR_LEN]);
void label_nb_free(label_nb *m);
uint32_t label_nb_n_classes(const label_nb *m);
size_t label_nb_vocab(const label_nb *m);
/* map[k] = the model's class for the task's class k (names[k], k < n); -1 with the name of a
 * task class the model does not know. */
int label_nb_map(const label_nb *m, const char *const *names, uint32_t n, int *map, char err[PLOW_ERR_LEN]);
/* The task class (0..n_classes-1) the model gives text. */
uint32_t label_nb_classify(const label_nb *m, const int *map, uint32_t n_classes, const char *text);

#endif
