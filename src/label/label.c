/*
 * label.c — the fortunes loader, majority vote, Dawid–Skene
 * EM, gold scoring, pay and the simulated labelers behind label.h.
 *
 * Why the arithmetic looks the way it does: the ledger will recompute the
 * aggregation on every follower, so it must give the same bits everywhere.
 * Answers are sorted into (item, labeler) order before any sum; EM works in
 * probabilities (no log/exp, whose libm results differ between C libraries)
 * and renormalises an item's vector after each factor instead of taking logs;
 * decisions that move money (slashing, pay) are taken in integers.
 *
 * Non-goals: parsing item files or transactions (the ledger wiring does
 * that), labeler models that account for correlated errors (Dawid–Skene
 * assumes labelers err independently; the colluding pair in the tests shows
 * what that costs), and speed beyond what millions of answers need.
 */
#include "../base/plow.h"

#include <inttypes.h>
#include <math.h>

#include "label.h"

const char *const label_fortunes_default[LABEL_FORTUNES_DEFAULT_COUNT] = {
    "computers", "food", "law", "politics", "science", "sports",
};

#define FORTUNES_FILE_MAX (64u << 20) /* refuse a fortunes file larger than this */
#define FORTUNES_NAME_MAX 128

/* ---- the fortunes loader ------------------------------------------------------- */

typedef struct raw_item {
    uint8_t id[PLOW_HASH_LEN];
    char *text;
    uint32_t truth;
} raw_item;

typedef struct raw_items {
    raw_item *v;
    size_t n, cap;
} raw_items;

static void raw_push(raw_items *r, const char *text, size_t len, uint32_t truth) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        size_t bytes;
        PLOW_ASSERT(plow_mul_size(r->cap, sizeof *r->v, &bytes));
        r->v = plow_realloc(r->v, bytes);
    }
    raw_item *it = &r->v[r->n++];
    it->text = plow_alloc(len + 1);
    memcpy(it->text, text, len);
    it->text[len] = 0;
    plow_sha256_once(text, len, it->id);
    it->truth = truth;
}

/* Appends the fortunes of one file: blocks of lines separated by lines that
 * hold only "%" (a '\r' before the newline tolerated). A block is trimmed of
 * leading blank lines and trailing whitespace; empty blocks and blocks with a
 * NUL byte (not text) are skipped. */
static void parse_fortunes(const uint8_t *data, size_t size, uint32_t truth, raw_items *out) {
    size_t start = 0; /* start of the current block */
    size_t pos = 0;
    while (pos <= size) {
        size_t eol = pos;
        while (eol < size && data[eol] != '\n') eol++;
        size_t len = eol - pos;
        bool sep = (len == 1 && data[pos] == '%') || (len == 2 && data[pos] == '%' && data[pos + 1] == '\r');
        if (sep || eol >= size) {
            size_t end = sep ? pos : size;
            size_t b = start, e = end;
            /* leading blank lines */
            for (;;) {
                size_t q = b;
                while (q < e && (data[q] == ' ' || data[q] == '\t' || data[q] == '\r')) q++;
                if (q < e && data[q] == '\n') b = q + 1;
                else break;
            }
            while (e > b && (data[e - 1] == '\n' || data[e - 1] == '\r' || data[e - 1] == ' ' || data[e - 1] == '\t'))
                e--;
            if (e > b && !memchr(data + b, 0, e - b)) raw_push(out, (const char *)data + b, e - b, truth);
            start = eol + 1;
        }
        pos = eol + 1;
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_raw(const void *a, const void *b) {
    const raw_item *x = a, *y = b;
    int c = memcmp(x->id, y->id, PLOW_HASH_LEN);
    if (c) return c;
    return (x->truth > y->truth) - (x->truth < y->truth);
}

int label_fortunes_load(label_dataset *ds, const char *dir, const char *const *categories, size_t n_categories,
                        size_t max_per_class, char err[PLOW_ERR_LEN]) {
    memset(ds, 0, sizeof *ds);
    if (!dir) dir = LABEL_FORTUNES_DIR;
    if (!categories) {
        categories = label_fortunes_default;
        n_categories = LABEL_FORTUNES_DEFAULT_COUNT;
    }
    if (n_categories < 2) return plow_error(err, "fortunes: need at least 2 categories, got %zu", n_categories);
    if (n_categories > LABEL_MAX_CLASSES)
        return plow_error(err, "fortunes: %zu categories, at most %d", n_categories, LABEL_MAX_CLASSES);
    for (size_t c = 0; c < n_categories; c++) {
        const char *name = categories[c];
        if (!name || !name[0]) return plow_error(err, "fortunes: category %zu has an empty name", c);
        if (strlen(name) >= FORTUNES_NAME_MAX || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            return plow_error(err, "fortunes: bad category name '%.40s'", name);
    }

    int rc = -1;
    raw_items raw = {0};
    uint8_t *data = NULL;
    size_t *kept = NULL;
    const char **names = plow_calloc(n_categories, sizeof *names);
    memcpy(names, categories, n_categories * sizeof *names);
    qsort(names, n_categories, sizeof *names, cmp_str);
    for (size_t c = 1; c < n_categories; c++)
        if (strcmp(names[c - 1], names[c]) == 0) {
            plow_error(err, "fortunes: category '%s' given twice", names[c]);
            goto out;
        }

    for (size_t c = 0; c < n_categories; c++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[c]) >= sizeof path) {
            plow_error(err, "fortunes: path too long");
            goto out;
        }
        if (!plow_file_exists(path)) {
            plow_error(err, "fortunes file '%s' not found: install Debian's 'fortunes' package (apt-get install fortunes)",
                       path);
            goto out;
        }
        size_t size = 0;
        if (plow_read_file(path, FORTUNES_FILE_MAX, &data, &size, err)) goto out;
        parse_fortunes(data, size, (uint32_t)c, &raw);
        free(data);
        data = NULL;
    }

    if (raw.n) qsort(raw.v, raw.n, sizeof *raw.v, cmp_raw);
    /* Keep one copy of a text repeated within a class; drop a text that two
     * classes share (its true label is ambiguous). */
    size_t n_out = 0;
    kept = plow_calloc(n_categories, sizeof *kept);
    for (size_t i = 0; i < raw.n;) {
        size_t j = i + 1;
        bool mixed = false;
        while (j < raw.n && memcmp(raw.v[j].id, raw.v[i].id, PLOW_HASH_LEN) == 0) {
            if (raw.v[j].truth != raw.v[i].truth) mixed = true;
            j++;
        }
        uint32_t t = raw.v[i].truth;
        bool keep = !mixed && (max_per_class == 0 || kept[t] < max_per_class);
        for (size_t k = i; k < j; k++) {
            if (k == i && keep) raw.v[n_out++] = raw.v[k];
            else free(raw.v[k].text);
        }
        if (keep) kept[t]++;
        i = j;
    }
    raw.n = n_out;
    for (size_t c = 0; c < n_categories; c++)
        if (kept[c] == 0) {
            plow_error(err, "fortunes: category '%s' has no fortunes", names[c]);
            goto out;
        }

    ds->n_classes = (uint32_t)n_categories;
    ds->classes = plow_calloc(n_categories, sizeof *ds->classes);
    for (size_t c = 0; c < n_categories; c++) ds->classes[c] = plow_strdup(names[c]);
    ds->n_items = raw.n;
    ds->items = plow_calloc(raw.n, sizeof *ds->items);
    for (size_t i = 0; i < raw.n; i++) {
        memcpy(ds->items[i].id, raw.v[i].id, PLOW_HASH_LEN);
        ds->items[i].text = raw.v[i].text;
        ds->items[i].truth = raw.v[i].truth;
    }
    raw.n = 0; /* texts now belong to ds */
    rc = 0;
out:
    for (size_t i = 0; i < raw.n; i++) free(raw.v[i].text);
    free(raw.v);
    free(data);
    free(kept);
    free(names);
    return rc;
}

void label_dataset_release(label_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n_items; i++) free(ds->items[i].text);
    free(ds->items);
    if (ds->classes)
        for (uint32_t c = 0; c < ds->n_classes; c++) free(ds->classes[c]);
    free(ds->classes);
    memset(ds, 0, sizeof *ds);
}

/* ---- problems ------------------------------------------------------------------ */

static int cmp_answer(const void *a, const void *b) {
    const label_answer *x = a, *y = b;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    if (x->labeler != y->labeler) return x->labeler < y->labeler ? -1 : 1;
    return (x->label > y->label) - (x->label < y->label);
}

/* The answers in canonical order, checked; with off (n_items + 1) the CSR
 * offsets of each item's answers. Caller frees both. */
static int problem_canon(const label_problem *p, label_answer **sorted, size_t **off, char err[PLOW_ERR_LEN]) {
    *sorted = NULL;
    if (off) *off = NULL;
    if (!p) return plow_error(err, "no labeling problem");
    if (p->n_items == 0) return plow_error(err, "no items");
    if (p->n_labelers == 0) return plow_error(err, "no labelers");
    if (p->n_classes < 2 || p->n_classes > LABEL_MAX_CLASSES)
        return plow_error(err, "%" PRIu32 " classes: need 2 to %d", p->n_classes, LABEL_MAX_CLASSES);
    if (p->n_answers == 0 || !p->answers) return plow_error(err, "no answers");
    size_t bytes;
    if (!plow_mul_size(p->n_answers, sizeof(label_answer), &bytes)) return plow_error(err, "too many answers");
    for (size_t j = 0; j < p->n_answers; j++) {
        const label_answer *a = &p->answers[j];
        if (a->item >= p->n_items)
            return plow_error(err, "answer %zu: item %" PRIu32 " out of range (%" PRIu32 " items)", j, a->item,
                              p->n_items);
        if (a->labeler >= p->n_labelers)
            return plow_error(err, "answer %zu: labeler %" PRIu32 " out of range (%" PRIu32 " labelers)", j,
                              a->labeler, p->n_labelers);
        if (a->label >= p->n_classes)
            return plow_error(err, "answer %zu: label %" PRIu32 " out of range (%" PRIu32 " classes)", j, a->label,
                              p->n_classes);
    }
    label_answer *s = plow_alloc(bytes);
    memcpy(s, p->answers, bytes);
    qsort(s, p->n_answers, sizeof *s, cmp_answer);
    for (size_t j = 1; j < p->n_answers; j++)
        if (s[j].item == s[j - 1].item && s[j].labeler == s[j - 1].labeler) {
            plow_error(err, "labeler %" PRIu32 " answered item %" PRIu32 " twice", s[j].labeler, s[j].item);
            free(s);
            return -1;
        }
    if (off) {
        size_t *o = plow_calloc((size_t)p->n_items + 1, sizeof *o);
        for (size_t j = 0; j < p->n_answers; j++) o[s[j].item + 1]++;
        for (uint32_t i = 0; i < p->n_items; i++) o[i + 1] += o[i];
        *off = o;
    }
    *sorted = s;
    return 0;
}

int label_problem_check(const label_problem *p, char err[PLOW_ERR_LEN]) {
    label_answer *s;
    if (problem_canon(p, &s, NULL, err)) return -1;
    free(s);
    return 0;
}

int label_answers_filter(const label_problem *p, const bool *exclude, label_answer **out, size_t *n_out,
                         char err[PLOW_ERR_LEN]) {
    *out = NULL;
    *n_out = 0;
    if (label_problem_check(p, err)) return -1;
    if (!exclude) return plow_error(err, "filter: no exclusion list");
    size_t keep = 0;
    for (size_t j = 0; j < p->n_answers; j++) keep += !exclude[p->answers[j].labeler];
    if (keep == 0) return 0;
    label_answer *a = plow_calloc(keep, sizeof *a);
    size_t w = 0;
    for (size_t j = 0; j < p->n_answers; j++)
        if (!exclude[p->answers[j].labeler]) a[w++] = p->answers[j];
    *out = a;
    *n_out = w;
    return 0;
}

/* Gold as a per-item table: gold_label[i] = the known label or LABEL_NONE.
 * NULL when n_gold == 0. */
static int gold_table(const label_problem *p, const label_gold *gold, size_t n_gold, uint32_t **table,
                      char err[PLOW_ERR_LEN]) {
    *table = NULL;
    if (n_gold == 0) return 0;
    if (!gold) return plow_error(err, "gold: %zu items but no array", n_gold);
    uint32_t *t = plow_calloc(p->n_items, sizeof *t);
    for (uint32_t i = 0; i < p->n_items; i++) t[i] = LABEL_NONE;
    for (size_t g = 0; g < n_gold; g++) {
        const char *bad = NULL;
        if (gold[g].item >= p->n_items) bad = "item out of range";
        else if (gold[g].label >= p->n_classes) bad = "label out of range";
        else if (t[gold[g].item] != LABEL_NONE) bad = "item listed twice";
        if (bad) {
            plow_error(err, "gold %zu (item %" PRIu32 ", label %" PRIu32 "): %s", g, gold[g].item, gold[g].label, bad);
            free(t);
            return -1;
        }
        t[gold[g].item] = gold[g].label;
    }
    *table = t;
    return 0;
}

/* ---- majority vote ----------------------------------------------------------- */

int label_majority(const label_problem *p, uint32_t *out, char err[PLOW_ERR_LEN]) {
    label_answer *s;
    size_t *off;
    if (problem_canon(p, &s, &off, err)) return -1;
    uint32_t *votes = plow_calloc(p->n_classes, sizeof *votes);
    for (uint32_t i = 0; i < p->n_items; i++) {
        memset(votes, 0, p->n_classes * sizeof *votes);
        for (size_t j = off[i]; j < off[i + 1]; j++) votes[s[j].label]++;
        uint32_t best = LABEL_NONE, most = 0;
        for (uint32_t k = 0; k < p->n_classes; k++)
            if (votes[k] > most) {
                most = votes[k];
                best = k;
            }
        out[i] = best;
    }
    free(votes);
    free(off);
    free(s);
    return 0;
}

/* ---- Dawid–Skene ------------------------------------------------------------- */

label_ds_params label_ds_defaults(void) {
    return (label_ds_params){.max_iter = 200, .tol = 1e-7, .smoothing = 1.0};
}

void label_ds_result_release(label_ds_result *r) {
    if (!r) return;
    free(r->prior);
    free(r->confusion);
    free(r->posterior);
    free(r->map);
    free(r->accuracy);
    free(r->chance);
    free(r->n_answers);
    memset(r, 0, sizeof *r);
}

/* The M-step: priors from answered items, confusion matrices from every
 * answer, both smoothed by alpha. counts is scratch of (L, K, K). */
static void ds_mstep(const label_problem *p, const label_answer *s, const size_t *off, const double *post,
                     double alpha, double *prior, double *conf, double *counts) {
    uint32_t K = p->n_classes, L = p->n_labelers, N = p->n_items;
    double n_answered = 0;
    for (uint32_t k = 0; k < K; k++) prior[k] = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (off[i] == off[i + 1]) continue;
        n_answered += 1;
        for (uint32_t k = 0; k < K; k++) prior[k] += post[(size_t)i * K + k];
    }
    double pden = n_answered + alpha * (double)K;
    for (uint32_t k = 0; k < K; k++) prior[k] = (prior[k] + alpha) / pden;

    size_t lkk = (size_t)L * K * K;
    memset(counts, 0, lkk * sizeof *counts);
    for (size_t j = 0; j < off[N]; j++) {
        const double *pi = post + (size_t)s[j].item * K;
        double *c = counts + (size_t)s[j].labeler * K * K + s[j].label;
        for (uint32_t t = 0; t < K; t++) c[(size_t)t * K] += pi[t];
    }
    for (size_t row = 0; row < (size_t)L * K; row++) {
        const double *c = counts + row * K;
        double sum = 0;
        for (uint32_t a = 0; a < K; a++) sum += c[a];
        double den = sum + alpha * (double)K;
        for (uint32_t a = 0; a < K; a++) conf[row * K + a] = (c[a] + alpha) / den;
    }
}

int label_ds_run(const label_problem *p, const label_gold *gold, size_t n_gold, const label_ds_params *params,
                 label_ds_result *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    label_ds_params prm = params ? *params : label_ds_defaults();
    if (prm.max_iter < 1 || prm.max_iter > 100000)
        return plow_error(err, "Dawid-Skene: max_iter %" PRIu32 " outside [1, 100000]", prm.max_iter);
    if (!(prm.tol >= 0 && prm.tol <= 1)) return plow_error(err, "Dawid-Skene: tol must be in [0, 1]");
    if (!(prm.smoothing > 0 && prm.smoothing <= 1e6))
        return plow_error(err, "Dawid-Skene: smoothing must be in (0, 1e6]");

    label_answer *s;
    size_t *off;
    if (problem_canon(p, &s, &off, err)) return -1;
    uint32_t *gt;
    if (gold_table(p, gold, n_gold, &gt, err)) {
        free(s);
        free(off);
        return -1;
    }
    uint32_t K = p->n_classes, L = p->n_labelers, N = p->n_items;
    size_t nk, lkk;
    /* K <= 256, so these only overflow for absurd N or L. */
    if (!plow_mul_size(N, K, &nk) || !plow_mul_size((size_t)L * K, K, &lkk) || nk > SIZE_MAX / 8 ||
        lkk > SIZE_MAX / 8) {
        free(s);
        free(off);
        free(gt);
        return plow_error(err, "Dawid-Skene: problem too large");
    }
    out->n_items = N;
    out->n_labelers = L;
    out->n_classes = K;
    out->prior = plow_calloc(K, sizeof(double));
    out->confusion = plow_calloc(lkk, sizeof(double));
    out->posterior = plow_calloc(nk, sizeof(double));
    out->map = plow_calloc(N, sizeof(uint32_t));
    out->accuracy = plow_calloc(L, sizeof(double));
    out->chance = plow_calloc(L, sizeof(double));
    out->n_answers = plow_calloc(L, sizeof(uint32_t));
    double *counts = plow_calloc(lkk, sizeof(double));
    double *v = plow_calloc(K, sizeof(double));
    double *post = out->posterior;

    /* Start: each item's vote shares (the soft majority vote); gold clamped. */
    for (uint32_t i = 0; i < N; i++) {
        double *pi = post + (size_t)i * K;
        size_t n = off[i + 1] - off[i];
        if (gt && gt[i] != LABEL_NONE) {
            pi[gt[i]] = 1;
        } else if (n) {
            double w = 1.0 / (double)n;
            for (size_t j = off[i]; j < off[i + 1]; j++) pi[s[j].label] += w;
        }
    }

    uint32_t it = 0;
    bool converged = false;
    while (it < prm.max_iter) {
        ds_mstep(p, s, off, post, prm.smoothing, out->prior, out->confusion, counts);
        double delta = 0;
        for (uint32_t i = 0; i < N; i++) {
            if (off[i] == off[i + 1] || (gt && gt[i] != LABEL_NONE)) continue;
            for (uint32_t k = 0; k < K; k++) v[k] = out->prior[k];
            for (size_t j = off[i]; j < off[i + 1]; j++) {
                const double *c = out->confusion + (size_t)s[j].labeler * K * K + s[j].label;
                double sum = 0;
                for (uint32_t k = 0; k < K; k++) {
                    v[k] *= c[(size_t)k * K];
                    sum += v[k];
                }
                /* sum > 0: every confusion entry is >= alpha / (n + K alpha) > 0
                 * and v was normalised, so its largest entry is >= 1/K. */
                double inv = 1.0 / sum;
                for (uint32_t k = 0; k < K; k++) v[k] *= inv;
            }
            double *pi = post + (size_t)i * K;
            for (uint32_t k = 0; k < K; k++) {
                double d = v[k] > pi[k] ? v[k] - pi[k] : pi[k] - v[k];
                if (d > delta) delta = d;
                pi[k] = v[k];
            }
        }
        it++;
        if (delta <= prm.tol) {
            converged = true;
            break;
        }
    }
    /* A last M-step, so priors and confusion matrices match the posteriors
     * reported. */
    ds_mstep(p, s, off, post, prm.smoothing, out->prior, out->confusion, counts);
    out->iterations = it;
    out->converged = converged;

    for (uint32_t i = 0; i < N; i++) {
        double *pi = post + (size_t)i * K;
        bool gold_item = gt && gt[i] != LABEL_NONE;
        if (off[i] == off[i + 1] && !gold_item) {
            for (uint32_t k = 0; k < K; k++) pi[k] = out->prior[k];
            out->map[i] = LABEL_NONE;
            continue;
        }
        uint32_t best = 0;
        for (uint32_t k = 1; k < K; k++)
            if (pi[k] > pi[best]) best = k;
        out->map[i] = best;
    }

    /* Per labeler: answers given, expected answers right, answer frequencies
     * (in counts, reused as (L, K)). */
    memset(counts, 0, (size_t)L * K * sizeof *counts);
    for (size_t j = 0; j < off[N]; j++) {
        uint32_t l = s[j].labeler;
        out->n_answers[l]++;
        out->accuracy[l] += post[(size_t)s[j].item * K + s[j].label];
        counts[(size_t)l * K + s[j].label] += 1;
    }
    for (uint32_t l = 0; l < L; l++) {
        if (out->n_answers[l] == 0) continue;
        double n = (double)out->n_answers[l];
        out->accuracy[l] /= n;
        double ch = 0;
        for (uint32_t k = 0; k < K; k++) ch += counts[(size_t)l * K + k] / n * out->prior[k];
        out->chance[l] = ch;
    }

    free(v);
    free(counts);
    free(gt);
    free(off);
    free(s);
    return 0;
}

static void digest_doubles(plow_sha256 *h, const double *x, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], 8);
        plow_put_u64(b, u);
        plow_sha256_update(h, b, 8);
    }
}

static void digest_u32s(plow_sha256 *h, const uint32_t *x, size_t n) {
    uint8_t b[4];
    for (size_t i = 0; i < n; i++) {
        plow_put_u32(b, x[i]);
        plow_sha256_update(h, b, 4);
    }
}

void label_ds_digest(const label_ds_result *r, uint8_t out[PLOW_HASH_LEN]) {
    plow_sha256 *h = plow_sha256_new();
    uint32_t dims[3] = {r->n_items, r->n_labelers, r->n_classes};
    size_t K = r->n_classes, L = r->n_labelers, N = r->n_items;
    digest_u32s(h, dims, 3);
    digest_doubles(h, r->prior, K);
    digest_doubles(h, r->confusion, L * K * K);
    digest_doubles(h, r->posterior, N * K);
    digest_u32s(h, r->map, N);
    digest_doubles(h, r->accuracy, L);
    digest_doubles(h, r->chance, L);
    digest_u32s(h, r->n_answers, L);
    uint32_t tail[2] = {r->iterations, r->converged ? 1u : 0u};
    digest_u32s(h, tail, 2);
    plow_sha256_final(h, out);
}

/* ---- gold and slashing ------------------------------------------------------ */

int label_gold_scores(const label_problem *p, const label_gold *gold, size_t n_gold, uint32_t threshold_ppm,
                      uint32_t min_answered, label_gold_score *out, char err[PLOW_ERR_LEN]) {
    if (threshold_ppm > LABEL_PPM) return plow_error(err, "gold threshold %" PRIu32 " ppm above 1000000", threshold_ppm);
    if (min_answered < 1) return plow_error(err, "gold: min_answered must be at least 1");
    if (n_gold == 0) return plow_error(err, "no gold items");
    label_answer *s;
    if (problem_canon(p, &s, NULL, err)) return -1;
    uint32_t *gt;
    if (gold_table(p, gold, n_gold, &gt, err)) {
        free(s);
        return -1;
    }
    memset(out, 0, (size_t)p->n_labelers * sizeof *out);
    for (size_t j = 0; j < p->n_answers; j++) {
        uint32_t g = gt[s[j].item];
        if (g == LABEL_NONE) continue;
        label_gold_score *o = &out[s[j].labeler];
        o->answered++;
        if (s[j].label == g) o->correct++;
    }
    for (uint32_t l = 0; l < p->n_labelers; l++) {
        label_gold_score *o = &out[l];
        if (o->answered == 0) continue;
        o->accuracy_ppm = (uint32_t)((uint64_t)o->correct * LABEL_PPM / o->answered);
        o->flagged = o->answered >= min_answered &&
                     (uint64_t)o->correct * LABEL_PPM < (uint64_t)threshold_ppm * o->answered;
    }
    free(gt);
    free(s);
    return 0;
}

/* ---- pay ---------------------------------------------------------------------- */

/* x in [0, 1] as ppm rounded down; anything else (NaN included) clamped. */
static uint64_t to_ppm(double x) {
    if (!(x > 0)) return 0;
    if (x >= 1) return LABEL_PPM;
    return (uint64_t)(x * (double)LABEL_PPM);
}

int label_pay_weights(const label_ds_result *r, const bool *exclude, uint64_t *out, char err[PLOW_ERR_LEN]) {
    if (!r || !r->accuracy || !r->chance || !r->n_answers) return plow_error(err, "pay: no Dawid-Skene result");
    for (uint32_t l = 0; l < r->n_labelers; l++) {
        uint64_t acc = to_ppm(r->accuracy[l]), ch = to_ppm(r->chance[l]);
        uint64_t margin = acc > ch ? acc - ch : 0;
        if (exclude && exclude[l]) margin = 0;
        if (!plow_mul_u64(margin, r->n_answers[l], &out[l]))
            return plow_error(err, "pay: weight of labeler %" PRIu32 " overflows", l);
    }
    return 0;
}

int label_pay_split(const uint64_t *weights, uint32_t n, uint64_t budget, uint64_t *pay, uint64_t *remainder,
                    char err[PLOW_ERR_LEN]) {
    uint64_t total = 0;
    for (uint32_t l = 0; l < n; l++)
        if (!plow_add_u64(total, weights[l], &total)) return plow_error(err, "pay: total weight overflows");
    uint64_t paid = 0;
    for (uint32_t l = 0; l < n; l++) {
        if (total == 0) {
            pay[l] = 0;
            continue;
        }
        __extension__ typedef unsigned __int128 u128;
        pay[l] = (uint64_t)((u128)budget * weights[l] / total); /* <= budget since weights[l] <= total */
        PLOW_ASSERT(plow_add_u64(paid, pay[l], &paid));       /* sum of floors <= budget */
    }
    PLOW_ASSERT(paid <= budget);
    *remainder = budget - paid;
    return 0;
}

/* ---- simulated labelers -------------------------------------------------------- */

static uint64_t splitmix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t label_hash64(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = splitmix(seed);
    h = splitmix(h ^ a);
    h = splitmix(h ^ b);
    return splitmix(h ^ c);
}

enum { SIM_PICK = 1, SIM_RIGHT, SIM_OTHER, SIM_SPAM, SIM_RING_RIGHT, SIM_RING_OTHER };

/* True with probability p, from 53 bits of h. */
static bool sim_bernoulli(uint64_t h, double p) {
    return (double)(h >> 11) < p * 9007199254740992.0; /* 2^53 */
}

/* A uniformly random label other than truth. */
static uint32_t sim_other(uint64_t h, uint32_t truth, uint32_t K) {
    return (truth + 1 + (uint32_t)(h % (K - 1))) % K;
}

int label_sim_answers(const label_sim_labeler *labelers, uint32_t n_labelers, const uint32_t *truth,
                      uint32_t n_items, uint32_t n_classes, uint32_t redundancy, uint64_t seed,
                      label_answer **answers, size_t *n_answers, char err[PLOW_ERR_LEN]) {
    *answers = NULL;
    *n_answers = 0;
    if (n_labelers == 0 || !labelers) return plow_error(err, "simulation: no labelers");
    if (n_items == 0 || !truth) return plow_error(err, "simulation: no items");
    if (n_classes < 2 || n_classes > LABEL_MAX_CLASSES)
        return plow_error(err, "simulation: %" PRIu32 " classes: need 2 to %d", n_classes, LABEL_MAX_CLASSES);
    if (redundancy < 1 || redundancy > n_labelers)
        return plow_error(err, "simulation: redundancy %" PRIu32 " outside [1, %" PRIu32 "]", redundancy, n_labelers);
    for (uint32_t l = 0; l < n_labelers; l++) {
        const label_sim_labeler *b = &labelers[l];
        if ((unsigned)b->kind >= LABEL_SIM_KIND_COUNT)
            return plow_error(err, "simulation: labeler %" PRIu32 ": unknown kind %d", l, (int)b->kind);
        if ((b->kind == LABEL_SIM_NOISY || b->kind == LABEL_SIM_COLLUDER) && !(b->p >= 0 && b->p <= 1))
            return plow_error(err, "simulation: labeler %" PRIu32 ": p outside [0, 1]", l);
        if (b->kind == LABEL_SIM_CONSTANT && b->constant >= n_classes)
            return plow_error(err, "simulation: labeler %" PRIu32 ": constant label %" PRIu32 " out of range", l,
                              b->constant);
    }
    for (uint32_t i = 0; i < n_items; i++)
        if (truth[i] >= n_classes)
            return plow_error(err, "simulation: item %" PRIu32 ": true label %" PRIu32 " out of range", i, truth[i]);
    size_t n, bytes;
    if (!plow_mul_size(n_items, redundancy, &n) || !plow_mul_size(n, sizeof(label_answer), &bytes))
        return plow_error(err, "simulation: too many answers");

    label_answer *a = plow_alloc(bytes);
    uint32_t *perm = plow_calloc(n_labelers, sizeof *perm);
    size_t w = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        for (uint32_t l = 0; l < n_labelers; l++) perm[l] = l;
        for (uint32_t j = 0; j < redundancy; j++) {
            uint32_t k = j + (uint32_t)(label_hash64(seed, SIM_PICK, i, j) % (n_labelers - j));
            uint32_t t = perm[j];
            perm[j] = perm[k];
            perm[k] = t;
            uint32_t l = perm[j];
            const label_sim_labeler *b = &labelers[l];
            uint32_t y = truth[i], ans = 0;
            switch (b->kind) {
            case LABEL_SIM_NOISY:
                ans = sim_bernoulli(label_hash64(seed, SIM_RIGHT, i, l), b->p)
                          ? y
                          : sim_other(label_hash64(seed, SIM_OTHER, i, l), y, n_classes);
                break;
            case LABEL_SIM_SPAMMER:
                ans = (uint32_t)(label_hash64(seed, SIM_SPAM, i, l) % n_classes);
                break;
            case LABEL_SIM_CONSTANT:
                ans = b->constant;
                break;
            case LABEL_SIM_COLLUDER:
                /* Keyed by the ring, not the member: every member gives the
                 * same answer, so their errors coincide. */
                ans = sim_bernoulli(label_hash64(seed, SIM_RING_RIGHT, i, b->group), b->p)
                          ? y
                          : sim_other(label_hash64(seed, SIM_RING_OTHER, i, b->group), y, n_classes);
                break;
            case LABEL_SIM_KIND_COUNT:
                PLOW_ASSERT(0);
            }
            a[w++] = (label_answer){.item = i, .labeler = l, .label = ans};
        }
    }
    free(perm);
    *answers = a;
    *n_answers = w;
    return 0;
}

/* ---- evaluation ---------------------------------------------------------------- */

double label_accuracy(const uint32_t *labels, const uint32_t *truth, size_t n, const bool *skip) {
    size_t right = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        total++;
        if (labels[i] != LABEL_NONE && labels[i] == truth[i]) right++;
    }
    return total ? (double)right / (double)total : 0;
}

typedef struct rank_entry {
    double v;
    size_t i;
} rank_entry;

static int cmp_rank(const void *a, const void *b) {
    const rank_entry *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* ranks (1-based, ties averaged) of x. */
static void ranks_of(const double *x, size_t n, double *ranks) {
    rank_entry *e = plow_calloc(n, sizeof *e);
    for (size_t i = 0; i < n; i++) e[i] = (rank_entry){x[i], i};
    qsort(e, n, sizeof *e, cmp_rank);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && e[j].v == e[i].v) j++;
        double r = (double)(i + 1 + j) / 2.0; /* mean of ranks i+1 .. j */
        for (size_t k = i; k < j; k++) ranks[e[k].i] = r;
        i = j;
    }
    free(e);
}

double label_spearman(const double *a, const double *b, size_t n) {
    if (n < 2) return 0;
    double *ra = plow_calloc(n, sizeof *ra), *rb = plow_calloc(n, sizeof *rb);
    ranks_of(a, n, ra);
    ranks_of(b, n, rb);
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += ra[i];
        mb += rb[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    if (saa == 0 || sbb == 0) return 0;
    return sab / sqrt(saa * sbb);
}
