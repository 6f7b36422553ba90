/*
 * nb.c — a multinomial naive Bayes text classifier (label.h): integer
 * counts, logs through the engine's tensor_log_d, so the same model gives the
 * same labels on every machine. The labeler agent labels with it.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>

#include "../tensor/tensor.h"
#include "label.h"

/* ---- naive Bayes ------------------------------------------------------------------------------ */

#define NB_WORD_MAX 64

struct label_nb {
    uint32_t k;
    char **classes;    /* (k) sorted by strcmp */
    uint64_t *docs;    /* (k) training texts per class */
    uint64_t *words;   /* (k) words per class */
    size_t v, cap;
    char **vocab;      /* (v) */
    uint32_t *counts;  /* (v, k) */
    size_t hcap;       /* power of two */
    int64_t *table;    /* word -> index, -1 empty */
    double alpha;      /* additive smoothing (1: Laplace) */
};

static uint64_t nb_hash(const char *w) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)w; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

static int64_t nb_find(const label_nb *m, const char *w) {
    if (!m->hcap) return -1;
    for (size_t i = nb_hash(w) & (m->hcap - 1);; i = (i + 1) & (m->hcap - 1)) {
        if (m->table[i] < 0) return -1;
        if (strcmp(m->vocab[m->table[i]], w) == 0) return m->table[i];
    }
}

static void nb_rehash(label_nb *m, size_t hcap) {
    free(m->table);
    m->hcap = hcap;
    m->table = plow_alloc(hcap * sizeof *m->table);
    for (size_t i = 0; i < hcap; i++) m->table[i] = -1;
    for (size_t w = 0; w < m->v; w++) {
        size_t i = nb_hash(m->vocab[w]) & (hcap - 1);
        while (m->table[i] >= 0) i = (i + 1) & (hcap - 1);
        m->table[i] = (int64_t)w;
    }
}

static size_t nb_add(label_nb *m, const char *w) {
    int64_t f = nb_find(m, w);
    if (f >= 0) return (size_t)f;
    if (m->v == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->vocab = plow_realloc(m->vocab, m->cap * sizeof *m->vocab);
        m->counts = plow_realloc(m->counts, m->cap * m->k * sizeof *m->counts);
    }
    m->vocab[m->v] = plow_strdup(w);
    memset(m->counts + m->v * m->k, 0, m->k * sizeof *m->counts);
    m->v++;
    if (m->v * 2 > m->hcap) nb_rehash(m, m->hcap ? m->hcap * 2 : 4096);
    else {
        size_t i = nb_hash(w) & (m->hcap - 1);
        while (m->table[i] >= 0) i = (i + 1) & (m->hcap - 1);
        m->table[i] = (int64_t)(m->v - 1);
    }
    return m->v - 1;
}

static bool word_byte(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80; }

/* Calls fn on each lowercase word of text (longer words cut to NB_WORD_MAX bytes). */
static void nb_words(const char *text, void (*fn)(void *arg, const char *w), void *arg) {
    char w[NB_WORD_MAX + 1];
    size_t l = 0;
    for (const unsigned char *p = (const unsigned char *)text;; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        if (c && word_byte(c)) {
            if (l < NB_WORD_MAX) w[l++] = (char)c;
            continue;
        }
        if (l) {
            w[l] = 0;
            fn(arg, w);
            l = 0;
        }
        if (!c) break;
    }
}

void label_nb_free(label_nb *m) {
    if (!m) return;
    for (uint32_t c = 0; c < m->k; c++) free(m->classes[c]);
    for (size_t w = 0; w < m->v; w++) free(m->vocab[w]);
    free(m->classes);
    free(m->docs);
    free(m->words);
    free(m->vocab);
    free(m->counts);
    free(m->table);
    free(m);
}

uint32_t label_nb_n_classes(const label_nb *m) { return m->k; }
size_t label_nb_vocab(const label_nb *m) { return m->v; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int nb_class(const label_nb *m, const char *name) {
    char *const *f = bsearch(&name, m->classes, m->k, sizeof *m->classes, cmp_str);
    return f ? (int)(f - m->classes) : -1;
}

typedef struct nb_train_arg {
    label_nb *m;
    uint32_t c;
} nb_train_arg;

static void nb_count(void *arg, const char *w) {
    nb_train_arg *a = arg;
    size_t i = nb_add(a->m, w);
    a->m->counts[i * a->m->k + a->c]++;
    a->m->words[a->c]++;
}

int label_nb_train(label_nb **out, const label_labeled *d, double smoothing, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (!(smoothing >= 1e-6 && smoothing <= 100)) return plow_error(err, "smoothing must be in [1e-6, 100]");
    label_nb *m = plow_calloc(1, sizeof *m);
    m->alpha = smoothing;
    /* the classes: the distinct labels, sorted */
    char **names = plow_alloc(d->n * sizeof *names);
    for (size_t i = 0; i < d->n; i++) names[i] = d->label[i];
    qsort(names, d->n, sizeof *names, cmp_str);
    m->classes = plow_alloc((d->n ? d->n : 1) * sizeof *m->classes);
    for (size_t i = 0; i < d->n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) {
            if (m->k == LABEL_MAX_CLASSES) {
                free(names);
                label_nb_free(m);
                return plow_error(err, "training data: more than %d classes", LABEL_MAX_CLASSES);
            }
            m->classes[m->k++] = plow_strdup(names[i]);
        }
    free(names);
    if (m->k < 2) {
        label_nb_free(m);
        return plow_error(err, "training data: it has one class only: a classifier needs two or more");
    }
    m->docs = plow_calloc(m->k, sizeof *m->docs);
    m->words = plow_calloc(m->k, sizeof *m->words);
    for (size_t i = 0; i < d->n; i++) {
        nb_train_arg a = {m, (uint32_t)nb_class(m, d->label[i])};
        m->docs[a.c]++;
        nb_words(d->text[i], nb_count, &a);
    }
    *out = m;
    return 0;
}

int label_nb_save(const label_nb *m, const char *path, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.nb.v1");
    cJSON_AddNumberToObject(j, "smoothing", m->alpha);
    cJSON *cl = cJSON_AddArrayToObject(j, "classes"), *dc = cJSON_AddArrayToObject(j, "docs"),
          *wc = cJSON_AddArrayToObject(j, "words");
    for (uint32_t c = 0; c < m->k; c++) {
        cJSON_AddItemToArray(cl, cJSON_CreateString(m->classes[c]));
        cJSON_AddItemToArray(dc, cJSON_CreateNumber((double)m->docs[c]));
        cJSON_AddItemToArray(wc, cJSON_CreateNumber((double)m->words[c]));
    }
    /* the vocabulary in byte order: one model, one file */
    char **sorted = plow_alloc((m->v ? m->v : 1) * sizeof *sorted);
    for (size_t w = 0; w < m->v; w++) sorted[w] = m->vocab[w];
    qsort(sorted, m->v, sizeof *sorted, cmp_str);
    cJSON *voc = cJSON_AddObjectToObject(j, "vocab");
    for (size_t i = 0; i < m->v; i++) {
        size_t w = (size_t)nb_find(m, sorted[i]);
        cJSON *a = cJSON_CreateArray();
        for (uint32_t c = 0; c < m->k; c++) cJSON_AddItemToArray(a, cJSON_CreateNumber(m->counts[w * m->k + c]));
        cJSON_AddItemToObject(voc, sorted[i], a);
    }
    free(sorted);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    int rc = plow_write_file(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

static bool count_ok(const cJSON *x) {
    return cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= 4294967295.0 &&
           x->valuedouble == floor(x->valuedouble);
}

int label_nb_load(label_nb **out, const char *path, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (plow_read_file(path, LABEL_FILE_MAX, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    label_nb *m = plow_calloc(1, sizeof *m);
    uint64_t *sum = NULL;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format"), *cl = cJSON_GetObjectItemCaseSensitive(j, "classes"),
                *dc = cJSON_GetObjectItemCaseSensitive(j, "docs"), *wc = cJSON_GetObjectItemCaseSensitive(j, "words"),
                *voc = cJSON_GetObjectItemCaseSensitive(j, "vocab"),
                *al = cJSON_GetObjectItemCaseSensitive(j, "smoothing");
    int rc = -1;
    if (!cJSON_IsObject(j) || !cJSON_IsString(f) || strcmp(f->valuestring, "plow.nb.v1") != 0) {
        plow_error(err, "%s is not a labeler model (plow.nb.v1): train one with 'plow labeler train'", path);
        goto out;
    }
    if (!cJSON_IsNumber(al) || !(al->valuedouble >= 1e-6 && al->valuedouble <= 100)) {
        plow_error(err, "%s: 'smoothing' must be a number in [1e-6, 100]", path);
        goto out;
    }
    m->alpha = al->valuedouble;
    int k = cJSON_IsArray(cl) ? cJSON_GetArraySize(cl) : 0;
    if (k < 2 || k > LABEL_MAX_CLASSES || !cJSON_IsArray(dc) || !cJSON_IsArray(wc) || cJSON_GetArraySize(dc) != k ||
        cJSON_GetArraySize(wc) != k || !cJSON_IsObject(voc)) {
        plow_error(err, "%s: 'classes' (2..%d names), 'docs' and 'words' (one count each) and 'vocab' are required",
                   path, LABEL_MAX_CLASSES);
        goto out;
    }
    m->classes = plow_calloc((size_t)k, sizeof *m->classes);
    m->docs = plow_calloc((size_t)k, sizeof *m->docs);
    m->words = plow_calloc((size_t)k, sizeof *m->words);
    for (int c = 0; c < k; c++) {
        const cJSON *nm = cJSON_GetArrayItem(cl, c), *d = cJSON_GetArrayItem(dc, c), *w = cJSON_GetArrayItem(wc, c);
        if (!cJSON_IsString(nm) || !label_class_name_ok(nm->valuestring) || (c > 0 && strcmp(m->classes[c - 1], nm->valuestring) >= 0)) {
            plow_error(err, "%s: classes must be distinct names [A-Za-z0-9_.-] in sorted order", path);
            goto out;
        }
        if (!count_ok(d) || !count_ok(w)) {
            plow_error(err, "%s: 'docs' and 'words' must be whole numbers", path);
            goto out;
        }
        m->classes[c] = plow_strdup(nm->valuestring);
        m->k = (uint32_t)c + 1;
        m->docs[c] = (uint64_t)d->valuedouble;
        m->words[c] = (uint64_t)w->valuedouble;
    }
    sum = plow_calloc((size_t)k, sizeof *sum);
    for (const cJSON *e = voc->child; e; e = e->next) {
        size_t wl = strlen(e->string);
        bool ok = wl >= 1 && wl <= NB_WORD_MAX && cJSON_IsArray(e) && cJSON_GetArraySize(e) == k;
        for (size_t i = 0; ok && i < wl; i++) ok = word_byte((unsigned char)e->string[i]);
        if (ok && nb_find(m, e->string) >= 0) ok = false;
        if (!ok) {
            plow_error(err, "%s: vocab entry '%.40s' is not a lowercase word with %d counts (or is repeated)", path,
                       e->string, k);
            goto out;
        }
        size_t w = nb_add(m, e->string);
        for (int c = 0; c < k; c++) {
            const cJSON *x = cJSON_GetArrayItem(e, c);
            if (!count_ok(x)) {
                    plow_error(err, "%s: vocab entry '%.40s' has a count that is not a whole number", path, e->string);
                goto out;
            }
            m->counts[w * m->k + (size_t)c] = (uint32_t)x->valuedouble;
            sum[c] += (uint64_t)x->valuedouble;
        }
    }
    for (int c = 0; c < k; c++)
        if (sum[c] != m->words[c]) {
            plow_error(err, "%s: class '%s' counts %" PRIu64 " words in 'words' but %" PRIu64 " in 'vocab'", path,
                       m->classes[c], m->words[c], sum[c]);
            goto out;
        }
    rc = 0;
out:
    free(sum);
    cJSON_Delete(j);
    if (rc) label_nb_free(m);
    else *out = m;
    return rc;
}

int label_nb_map(const label_nb *m, const char *const *names, uint32_t n, int *map, char err[PLOW_ERR_LEN]) {
    for (uint32_t c = 0; c < n; c++) {
        map[c] = nb_class(m, names[c]);
        if (map[c] < 0) return plow_error(err, "my model knows no class '%s'", names[c]);
    }
    return 0;
}

typedef struct nb_score_arg {
    const label_nb *m;
    const int *map;
    uint32_t n;
    double *score, *den;
} nb_score_arg;

static void nb_score(void *arg, const char *w) {
    nb_score_arg *a = arg;
    int64_t i = nb_find(a->m, w);
    if (i < 0) return;
    for (uint32_t c = 0; c < a->n; c++)
        a->score[c] += tensor_log_d((double)a->m->counts[(size_t)i * a->m->k + (size_t)a->map[c]] + a->m->alpha) - a->den[c];
}

uint32_t label_nb_classify(const label_nb *m, const int *map, uint32_t n_classes, const char *text) {
    double score[LABEL_MAX_CLASSES], den[LABEL_MAX_CLASSES];
    for (uint32_t c = 0; c < n_classes; c++) {
        score[c] = tensor_log_d((double)m->docs[map[c]] + 1.0);
        den[c] = tensor_log_d((double)m->words[map[c]] + m->alpha * (double)m->v);
    }
    nb_score_arg a = {m, map, n_classes, score, den};
    nb_words(text, nb_score, &a);
    uint32_t best = 0;
    for (uint32_t c = 1; c < n_classes; c++)
        if (score[c] > score[best]) best = c;
    return best;
}
