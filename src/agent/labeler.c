/*
 * labeler.c — crowdsourced labeling on the network: the files a requester,
 * a person and an AI labeler keep (items, gold, secret, commitment state,
 * naive Bayes model), reading a label task and its reveals back from a node,
 * and the labeler agent (labeler.h).
 *
 * The agent follows the ledger's phases (docs/ledger.md, "Labeling"): it
 * claims a slot of an open label task it can label, labels the slot's items
 * (ledger_label_slot_items), writes its labels and a random salt to
 * WORK/tasks/ID.json (0600) BEFORE it commits, commits
 * ledger_label_commitment as the slot's trace_root, and reveals once the
 * rules allow (every slot committed, or nobody can commit any more) and
 * before window_end. After finalize it logs its pay or its slash. A restart
 * reads the ledger and its state file and carries on from there.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../label/label.h"
#include "../client/client.h"
#include "../tensor/tensor.h"
#include "agent.h"
#include "labeler.h"

/* ---- files ----------------------------------------------------------------------------- */

int labeler_write_private(const char *path, const void *data, size_t n, bool exclusive, char err[PLOW_ERR_LEN]) {
    if (exclusive && plow_file_exists(path)) return plow_error(err, "%s exists already: refusing to overwrite it", path);
    size_t pl = strlen(path) + 32;
    char *tmp = plow_alloc(pl);
    snprintf(tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return plow_error(err, "cannot create %s: %s", path, strerror(e));
    }
    const uint8_t *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return plow_error(err, "cannot write %s: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return plow_error(err, "cannot write %s: %s", path, strerror(e));
    }
    int rc = 0;
    if (exclusive) {
        if (link(tmp, path) != 0) rc = plow_error(err, "cannot create %s: %s", path, strerror(errno));
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        rc = plow_error(err, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* ---- JSONL ------------------------------------------------------------------------------ */

typedef struct jsonl {
    const uint8_t *buf;
    size_t n, pos;
    size_t line; /* 1-based number of the line last returned */
} jsonl;

/* The next line (without its '\n' and a trailing '\r'); false at the end.
 * A final newline does not start another line. */
static bool jsonl_next(jsonl *r, const char **s, size_t *len) {
    if (r->pos >= r->n) return false;
    const uint8_t *start = r->buf + r->pos, *nl = memchr(start, '\n', r->n - r->pos);
    size_t l = nl ? (size_t)(nl - start) : r->n - r->pos;
    r->pos += l + (nl ? 1 : 0);
    if (l > 0 && start[l - 1] == '\r') l--;
    r->line++;
    *s = (const char *)start;
    *len = l;
    return true;
}

/* Parses one line as a JSON object (nothing after it but blanks). */
static cJSON *line_object(const char *s, size_t len, const char *what, size_t line, char err[PLOW_ERR_LEN]) {
    size_t b = 0;
    while (b < len && (s[b] == ' ' || s[b] == '\t')) b++;
    if (b == len) return plow_error(err, "%s line %zu is empty", what, line), NULL;
    for (size_t i = 0; i + 6 <= len; i++)
        if (s[i] == '\\' && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
            return plow_error(err, "%s line %zu: strings may not contain \\u0000", what, line), NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (!j) return plow_error(err, "%s line %zu is not JSON", what, line), NULL;
    while (end && end < s + len && (*end == ' ' || *end == '\t')) end++;
    if (!cJSON_IsObject(j) || (end && end != s + len)) {
        cJSON_Delete(j);
        return plow_error(err, "%s line %zu is not one JSON object", what, line), NULL;
    }
    return j;
}

static bool name_ok(const char *c) {
    size_t n = strlen(c);
    return n >= 1 && n <= JOB_LABEL_NAME_MAX &&
           strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* ---- items ------------------------------------------------------------------------------- */

void labeler_items_release(labeler_items *it) {
    for (size_t i = 0; i < it->n; i++) free(it->text[i]);
    free(it->text);
    memset(it, 0, sizeof *it);
}

int labeler_items_parse(labeler_items *it, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]) {
    memset(it, 0, sizeof *it);
    if (memchr(buf, 0, n)) return plow_error(err, "%s contains a NUL byte", what);
    jsonl r = {buf, n, 0, 0};
    const char *s;
    size_t len, cap = 0;
    while (jsonl_next(&r, &s, &len)) {
        if (it->n == LEDGER_LABEL_ITEMS_MAX) {
            labeler_items_release(it);
            return plow_error(err, "%s has more than %d items (a label task's most)", what, LEDGER_LABEL_ITEMS_MAX);
        }
        cJSON *j = line_object(s, len, what, r.line, err);
        if (!j) goto fail;
        const cJSON *t = NULL;
        for (const cJSON *c = j->child; c; c = c->next) {
            if (strcmp(c->string, "text") != 0) {
                plow_error(err, "%s line %zu: unknown key '%.40s' (an item is {\"text\": ...} only: %s)", what, r.line,
                           c->string, strcmp(c->string, "label") == 0 ? "true labels stay private" : "nothing else");
                cJSON_Delete(j);
                goto fail;
            }
            if (t) {
                plow_error(err, "%s line %zu: 'text' appears twice", what, r.line);
                cJSON_Delete(j);
                goto fail;
            }
            t = c;
        }
        if (!t || !cJSON_IsString(t)) {
            plow_error(err, "%s line %zu: needs \"text\": a string", what, r.line);
            cJSON_Delete(j);
            goto fail;
        }
        size_t tl = strlen(t->valuestring);
        if (tl == 0 || tl > LABELER_TEXT_MAX) {
            plow_error(err, "%s line %zu: the text must have 1..%u bytes, not %zu", what, r.line, LABELER_TEXT_MAX, tl);
            cJSON_Delete(j);
            goto fail;
        }
        if (it->n == cap) {
            cap = cap ? cap * 2 : 64;
            it->text = plow_realloc(it->text, cap * sizeof *it->text);
        }
        it->text[it->n++] = plow_strdup(t->valuestring);
        cJSON_Delete(j);
    }
    if (it->n == 0) return plow_error(err, "%s has no items", what);
    return 0;
fail:
    labeler_items_release(it);
    return -1;
}

void labeler_items_write(const labeler_items *it, plow_buf *out) {
    for (size_t i = 0; i < it->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", it->text[i]);
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        PLOW_ASSERT(txt);
        plow_buf_append(out, txt, strlen(txt));
        plow_buf_append(out, "\n", 1);
        free(txt);
    }
}

/* ---- labeled text ------------------------------------------------------------------------ */

void labeler_labeled_release(labeler_labeled *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->text[i]);
        free(d->label[i]);
    }
    free(d->text);
    free(d->label);
    memset(d, 0, sizeof *d);
}

int labeler_labeled_parse(labeler_labeled *d, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]) {
    memset(d, 0, sizeof *d);
    if (memchr(buf, 0, n)) return plow_error(err, "%s contains a NUL byte", what);
    jsonl r = {buf, n, 0, 0};
    const char *s;
    size_t len, cap = 0;
    while (jsonl_next(&r, &s, &len)) {
        cJSON *j = line_object(s, len, what, r.line, err);
        if (!j) goto fail;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text"), *l = cJSON_GetObjectItemCaseSensitive(j, "label");
        if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) > LABELER_TEXT_MAX) {
            plow_error(err, "%s line %zu: needs \"text\": a string of 1..%u bytes", what, r.line, LABELER_TEXT_MAX);
            cJSON_Delete(j);
            goto fail;
        }
        if (!cJSON_IsString(l) || !name_ok(l->valuestring)) {
            plow_error(err, "%s line %zu: needs \"label\": a class name of 1..%d characters [A-Za-z0-9_.-]", what,
                       r.line, JOB_LABEL_NAME_MAX);
            cJSON_Delete(j);
            goto fail;
        }
        if (d->n == cap) {
            cap = cap ? cap * 2 : 64;
            d->text = plow_realloc(d->text, cap * sizeof *d->text);
            d->label = plow_realloc(d->label, cap * sizeof *d->label);
        }
        d->text[d->n] = plow_strdup(t->valuestring);
        d->label[d->n] = plow_strdup(l->valuestring);
        d->n++;
        cJSON_Delete(j);
    }
    if (d->n == 0) return plow_error(err, "%s has no labeled lines", what);
    return 0;
fail:
    labeler_labeled_release(d);
    return -1;
}

int labeler_labeled_load(labeler_labeled *d, const char *path, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    memset(d, 0, sizeof *d);
    if (plow_read_file(path, LABELER_FILE_MAX, &buf, &n, err)) return -1;
    int rc = labeler_labeled_parse(d, buf, n, path, err);
    free(buf);
    return rc;
}

static int cmp_truth(const void *a, const void *b) {
    return memcmp(((const labeler_truth_entry *)a)->id, ((const labeler_truth_entry *)b)->id, 32);
}

int labeler_truth_load(labeler_truth *t, const char *path, char err[PLOW_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    labeler_labeled d;
    if (labeler_labeled_load(&d, path, err)) return -1;
    t->e = plow_calloc(d.n, sizeof *t->e);
    for (size_t i = 0; i < d.n; i++) {
        plow_sha256_once(d.text[i], strlen(d.text[i]), t->e[i].id);
        snprintf(t->e[i].label, sizeof t->e[i].label, "%s", d.label[i]);
    }
    qsort(t->e, d.n, sizeof *t->e, cmp_truth);
    size_t o = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (o > 0 && memcmp(t->e[o - 1].id, t->e[i].id, 32) == 0) {
            if (strcmp(t->e[o - 1].label, t->e[i].label) != 0) {
                plow_error(err, "%s: one text is labeled both '%s' and '%s'", path, t->e[o - 1].label, t->e[i].label);
                labeler_labeled_release(&d);
                labeler_truth_release(t);
                return -1;
            }
            continue;
        }
        t->e[o++] = t->e[i];
    }
    t->n = o;
    labeler_labeled_release(&d);
    return 0;
}

const char *labeler_truth_find(const labeler_truth *t, const char *text) {
    labeler_truth_entry k;
    plow_sha256_once(text, strlen(text), k.id);
    const labeler_truth_entry *e = t->n ? bsearch(&k, t->e, t->n, sizeof *t->e, cmp_truth) : NULL;
    return e ? e->label : NULL;
}

void labeler_truth_release(labeler_truth *t) {
    free(t->e);
    memset(t, 0, sizeof *t);
}

int labeler_class_index(const job_spec *s, const char *name) {
    for (uint32_t i = 0; i < s->n_classes && i < JOB_LABEL_CLASSES_MAX; i++)
        if (strcmp(s->classes[i], name) == 0) return (int)i;
    return -1;
}

/* ---- gold and the secret ------------------------------------------------------------------- */

typedef struct gold_pair {
    uint32_t item;
    uint8_t label;
    size_t line;
} gold_pair;

static int cmp_gold(const void *a, const void *b) {
    uint32_t x = ((const gold_pair *)a)->item, y = ((const gold_pair *)b)->item;
    return x < y ? -1 : x > y;
}

int labeler_gold_parse(const uint8_t *buf, size_t n, const char *what, const job_spec *s, uint32_t *items,
                       uint8_t *labels, uint32_t *count, char err[PLOW_ERR_LEN]) {
    *count = 0;
    if (memchr(buf, 0, n)) return plow_error(err, "%s contains a NUL byte", what);
    gold_pair *g = plow_calloc(LEDGER_GOLD_MAX, sizeof *g);
    jsonl r = {buf, n, 0, 0};
    const char *line;
    size_t len, m = 0;
    int rc = -1;
    while (jsonl_next(&r, &line, &len)) {
        if (m == LEDGER_GOLD_MAX) {
            plow_error(err, "%s has more than %d gold items (one gold reveal's most)", what, LEDGER_GOLD_MAX);
            goto out;
        }
        cJSON *j = line_object(line, len, what, r.line, err);
        if (!j) goto out;
        for (const cJSON *c = j->child; c; c = c->next)
            if (strcmp(c->string, "item") != 0 && strcmp(c->string, "label") != 0) {
                plow_error(err, "%s line %zu: unknown key '%.40s' (a gold line is {\"item\": index, \"label\": name})",
                           what, r.line, c->string);
                cJSON_Delete(j);
                goto out;
            }
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "item"), *l = cJSON_GetObjectItemCaseSensitive(j, "label");
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble != floor(it->valuedouble) ||
            it->valuedouble >= (double)s->n_items) {
            plow_error(err, "%s line %zu: \"item\" must be an item index in 0..%u", what, r.line,
                       s->n_items ? s->n_items - 1 : 0);
            cJSON_Delete(j);
            goto out;
        }
        int k = cJSON_IsString(l) ? labeler_class_index(s, l->valuestring) : -1;
        if (k < 0) {
            plow_error(err, "%s line %zu: \"label\" must be one of the task's classes (%s, %s, ...)", what, r.line,
                       s->classes[0], s->classes[1]);
            cJSON_Delete(j);
            goto out;
        }
        g[m].item = (uint32_t)it->valuedouble;
        g[m].label = (uint8_t)k;
        g[m].line = r.line;
        m++;
        cJSON_Delete(j);
    }
    qsort(g, m, sizeof *g, cmp_gold);
    for (size_t i = 1; i < m; i++)
        if (g[i].item == g[i - 1].item) {
            plow_error(err, "%s: item %u is given twice", what, g[i].item);
            goto out;
        }
    for (size_t i = 0; i < m; i++) {
        items[i] = g[i].item;
        labels[i] = g[i].label;
    }
    *count = (uint32_t)m;
    rc = 0;
out:
    free(g);
    return rc;
}

int labeler_secret_write(const char *path, const labeler_secret *s, bool exclusive, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.label.secret.v1");
    if (s->has_task) json_add_hash(j, "task", s->task);
    else cJSON_AddNullToObject(j, "task");
    json_add_hash(j, "salt", s->salt);
    json_add_hash(j, "commitment", s->commitment);
    cJSON *g = cJSON_AddArrayToObject(j, "gold");
    for (uint32_t i = 0; i < s->count; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateNumber(s->items[i]));
        cJSON_AddItemToArray(p, cJSON_CreateNumber(s->labels[i]));
        cJSON_AddItemToArray(g, p);
    }
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    int rc = labeler_write_private(path, txt, strlen(txt), exclusive, err);
    sodium_memzero(txt, strlen(txt));
    free(txt);
    return rc;
}

/* Refuses a file that group or others may read: it holds secrets. */
static int private_read(const char *path, size_t max, uint8_t **buf, size_t *n, char err[PLOW_ERR_LEN]) {
    struct stat st;
    if (stat(path, &st) != 0) return plow_error(err, "cannot read %s: %s", path, strerror(errno));
    if (st.st_mode & 077) return plow_error(err, "%s is readable by others: it holds secrets (chmod 600 %s)", path, path);
    return plow_read_file(path, max, buf, n, err);
}

int labeler_secret_read(const char *path, labeler_secret *s, char err[PLOW_ERR_LEN]) {
    memset(s, 0, sizeof *s);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (private_read(path, 1 << 20, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    sodium_memzero(buf, n);
    free(buf);
    int rc = -1;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format"), *t = cJSON_GetObjectItemCaseSensitive(j, "task"),
                *g = cJSON_GetObjectItemCaseSensitive(j, "gold");
    char e[PLOW_ERR_LEN];
    if (!cJSON_IsObject(j) || !cJSON_IsString(f) || strcmp(f->valuestring, "plow.label.secret.v1") != 0) {
        plow_error(err, "%s is not a label secret (plow.label.secret.v1)", path);
        goto out;
    }
    if (json_get_hash(j, "salt", s->salt, e) || json_get_hash(j, "commitment", s->commitment, e)) {
        plow_error(err, "%s: %s", path, e);
        goto out;
    }
    if (t && !cJSON_IsNull(t)) {
        if (json_get_hash(j, "task", s->task, e)) {
            plow_error(err, "%s: %s", path, e);
            goto out;
        }
        s->has_task = true;
    }
    if (!cJSON_IsArray(g) || cJSON_GetArraySize(g) > LEDGER_GOLD_MAX) {
        plow_error(err, "%s: 'gold' must be an array of at most %d [item, label] pairs", path, LEDGER_GOLD_MAX);
        goto out;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, g) {
        const cJSON *a = cJSON_GetArrayItem(p, 0), *b = cJSON_GetArrayItem(p, 1);
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
            !(a->valuedouble >= 0 && a->valuedouble < 4294967296.0) || a->valuedouble != floor(a->valuedouble) ||
            !(b->valuedouble >= 0 && b->valuedouble < 256) || b->valuedouble != floor(b->valuedouble)) {
            plow_error(err, "%s: gold entry %u is not [item, label]", path, s->count);
            goto out;
        }
        s->items[s->count] = (uint32_t)a->valuedouble;
        s->labels[s->count] = (uint8_t)b->valuedouble;
        s->count++;
    }
    uint8_t c[32];
    ledger_gold_commitment(s->salt, s->count, s->items, s->labels, c);
    if (memcmp(c, s->commitment, 32) != 0) {
        plow_error(err, "%s: its gold and salt do not open its commitment (the file was changed)", path);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) sodium_memzero(s, sizeof *s);
    return rc;
}

/* ---- commitment state ----------------------------------------------------------------------- */

void labeler_state_seal(labeler_state *s) {
    randombytes_buf(s->salt, sizeof s->salt);
    ledger_label_commitment(s->task, s->labeler, s->labels, s->count, s->salt, s->commitment);
}

int labeler_state_write(const char *path, const labeler_state *s, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.label.state.v1");
    json_add_hash(j, "task", s->task);
    json_add_addr(j, "labeler", s->labeler);
    cJSON_AddNumberToObject(j, "slot", s->slot);
    cJSON *l = cJSON_AddArrayToObject(j, "labels");
    for (uint32_t i = 0; i < s->count; i++) cJSON_AddItemToArray(l, cJSON_CreateNumber(s->labels[i]));
    json_add_hash(j, "salt", s->salt);
    json_add_hash(j, "commitment", s->commitment);
    cJSON_AddBoolToObject(j, "copied", s->copied);
    cJSON_AddBoolToObject(j, "settled", s->settled);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    int rc = labeler_write_private(path, txt, strlen(txt), false, err);
    free(txt);
    return rc;
}

int labeler_state_read(const char *path, labeler_state *s, char err[PLOW_ERR_LEN]) {
    memset(s, 0, sizeof *s);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (private_read(path, 1 << 20, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    int rc = -1;
    char e[PLOW_ERR_LEN];
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format"), *sl = cJSON_GetObjectItemCaseSensitive(j, "slot"),
                *l = cJSON_GetObjectItemCaseSensitive(j, "labels"), *cp = cJSON_GetObjectItemCaseSensitive(j, "copied"),
                *st = cJSON_GetObjectItemCaseSensitive(j, "settled");
    if (!cJSON_IsObject(j) || !cJSON_IsString(f) || strcmp(f->valuestring, "plow.label.state.v1") != 0) {
        plow_error(err, "%s is not a label state (plow.label.state.v1)", path);
        goto out;
    }
    if (json_get_hash(j, "task", s->task, e) || json_get_addr(j, "labeler", s->labeler, e) ||
        json_get_hash(j, "salt", s->salt, e) || json_get_hash(j, "commitment", s->commitment, e)) {
        plow_error(err, "%s: %s", path, e);
        goto out;
    }
    if (!cJSON_IsNumber(sl) || !(sl->valuedouble >= 0 && sl->valuedouble < LEDGER_MAX_REPLICAS) ||
        sl->valuedouble != floor(sl->valuedouble)) {
        plow_error(err, "%s: 'slot' must be 0..%d", path, LEDGER_MAX_REPLICAS - 1);
        goto out;
    }
    s->slot = (uint32_t)sl->valuedouble;
    if (!cJSON_IsArray(l) || cJSON_GetArraySize(l) > LEDGER_LABELS_MAX) {
        plow_error(err, "%s: 'labels' must be an array of at most %d labels", path, LEDGER_LABELS_MAX);
        goto out;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, l) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble < 256) || x->valuedouble != floor(x->valuedouble)) {
            plow_error(err, "%s: labels[%u] must be a label number 0..255", path, s->count);
            goto out;
        }
        s->labels[s->count++] = (uint8_t)x->valuedouble;
    }
    s->copied = cJSON_IsTrue(cp);
    s->settled = cJSON_IsTrue(st);
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

/* ---- naive Bayes ------------------------------------------------------------------------------ */

#define NB_WORD_MAX 64

struct labeler_nb {
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

static int64_t nb_find(const labeler_nb *m, const char *w) {
    if (!m->hcap) return -1;
    for (size_t i = nb_hash(w) & (m->hcap - 1);; i = (i + 1) & (m->hcap - 1)) {
        if (m->table[i] < 0) return -1;
        if (strcmp(m->vocab[m->table[i]], w) == 0) return m->table[i];
    }
}

static void nb_rehash(labeler_nb *m, size_t hcap) {
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

static size_t nb_add(labeler_nb *m, const char *w) {
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

void labeler_nb_free(labeler_nb *m) {
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

uint32_t labeler_nb_n_classes(const labeler_nb *m) { return m->k; }
size_t labeler_nb_vocab(const labeler_nb *m) { return m->v; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int nb_class(const labeler_nb *m, const char *name) {
    char *const *f = bsearch(&name, m->classes, m->k, sizeof *m->classes, cmp_str);
    return f ? (int)(f - m->classes) : -1;
}

typedef struct nb_train_arg {
    labeler_nb *m;
    uint32_t c;
} nb_train_arg;

static void nb_count(void *arg, const char *w) {
    nb_train_arg *a = arg;
    size_t i = nb_add(a->m, w);
    a->m->counts[i * a->m->k + a->c]++;
    a->m->words[a->c]++;
}

int labeler_nb_train(labeler_nb **out, const labeler_labeled *d, double smoothing, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (!(smoothing >= 1e-6 && smoothing <= 100)) return plow_error(err, "smoothing must be in [1e-6, 100]");
    labeler_nb *m = plow_calloc(1, sizeof *m);
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
                labeler_nb_free(m);
                return plow_error(err, "training data: more than %d classes", LABEL_MAX_CLASSES);
            }
            m->classes[m->k++] = plow_strdup(names[i]);
        }
    free(names);
    if (m->k < 2) {
        labeler_nb_free(m);
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

int labeler_nb_save(const labeler_nb *m, const char *path, char err[PLOW_ERR_LEN]) {
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

int labeler_nb_load(labeler_nb **out, const char *path, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (plow_read_file(path, LABELER_FILE_MAX, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    labeler_nb *m = plow_calloc(1, sizeof *m);
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
        if (!cJSON_IsString(nm) || !name_ok(nm->valuestring) || (c > 0 && strcmp(m->classes[c - 1], nm->valuestring) >= 0)) {
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
    if (rc) labeler_nb_free(m);
    else *out = m;
    return rc;
}

int labeler_nb_map(const labeler_nb *m, const job_spec *s, int *map, char err[PLOW_ERR_LEN]) {
    for (uint32_t c = 0; c < s->n_classes; c++) {
        map[c] = nb_class(m, s->classes[c]);
        if (map[c] < 0) return plow_error(err, "my model knows no class '%s'", s->classes[c]);
    }
    return 0;
}

typedef struct nb_score_arg {
    const labeler_nb *m;
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

uint32_t labeler_nb_classify(const labeler_nb *m, const int *map, uint32_t n_classes, const char *text) {
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

/* ---- simulated labelers ------------------------------------------------------------------------ */

uint32_t labeler_sim_label(labeler_mode mode, double p, uint64_t seed, const char *text, uint32_t truth,
                           uint32_t n_classes) {
    uint8_t h[32];
    plow_sha256_once(text, strlen(text), h);
    uint64_t id = plow_get_u64(h);
    if (mode != LABELER_ACCURACY || truth >= n_classes) return (uint32_t)(label_hash64(seed, 3, id, 0) % n_classes);
    if ((double)(label_hash64(seed, 1, id, 0) >> 11) < p * 9007199254740992.0) return truth;
    uint32_t o = (uint32_t)(label_hash64(seed, 2, id, 0) % (n_classes - 1));
    return o >= truth ? o + 1 : o;
}

/* ---- reading the node ------------------------------------------------------------------------------ */

int labeler_slot_of(const ledger_task *t, const uint8_t pk[LEDGER_PK_LEN]) {
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].status != LEDGER_SLOT_EMPTY && memcmp(t->slots[s].worker, pk, LEDGER_PK_LEN) == 0) return s;
    return -1;
}

int labeler_fetch_task(client *c, const ledger_task *t, job_spec *spec, labeler_items *items, char err[PLOW_ERR_LEN]) {
    char id[17];
    plow_hex(t->id, 8, id);
    if (items) memset(items, 0, sizeof *items);
    if (t->p.kind != LEDGER_KIND_LABEL)
        return plow_error(err, "task %s is a %s task, not a label task", id, ledger_kind_name(t->p.kind));
    uint8_t *buf = NULL;
    size_t n = 0;
    if (client_blob_get(c, t->p.spec, &buf, &n, err)) return plow_error_prefix(err, "the task's spec"), -2;
    int rc = job_spec_parse(spec, buf, n, err);
    free(buf);
    if (rc) return plow_error_prefix(err, "the task's spec");
    if (spec->kind != TASK_LABEL) return plow_error(err, "task %s: its spec is not a label spec", id);
    if (spec->n_items != t->p.steps)
        return plow_error(err, "task %s: its spec has %u items, the task %" PRIu64, id, spec->n_items, t->p.steps);
    if (spec->n_classes != t->p.n_classes)
        return plow_error(err, "task %s: its spec has %u classes, the task %u", id, spec->n_classes, t->p.n_classes);
    if (!items) return 0;
    if (client_blob_get(c, spec->items, &buf, &n, err)) return plow_error_prefix(err, "the task's items"), -2;
    rc = labeler_items_parse(items, buf, n, "the task's items", err);
    free(buf);
    if (rc) return -1;
    if (items->n != spec->n_items) {
        size_t got = items->n;
        labeler_items_release(items);
        return plow_error(err, "task %s: its items blob has %zu items, its spec says %u", id, got, spec->n_items);
    }
    return 0;
}

void labeler_reveals_release(labeler_reveals *r) {
    for (int s = 0; s < LEDGER_MAX_REPLICAS; s++) free(r->slot[s]);
    free(r->gold);
    memset(r, 0, sizeof *r);
}

static void take_tx(const ledger_task *t, const ledger_tx *tx, labeler_reveals *r) {
    if (tx->type == LEDGER_TX_LABEL_REVEAL && memcmp(tx->u.reveal.task, t->id, 32) == 0) {
        int s = labeler_slot_of(t, tx->sender);
        if (s < 0 || r->slot[s] || tx->u.reveal.count > LEDGER_LABELS_MAX) return;
        ledger_labels *l = plow_calloc(1, sizeof *l);
        memcpy(l->task, t->id, 32);
        l->slot = (uint8_t)s;
        l->count = tx->u.reveal.count;
        memcpy(l->labels, tx->u.reveal.labels, l->count);
        memcpy(r->salt[s], tx->u.reveal.salt, 32);
        r->slot[s] = l;
    } else if (tx->type == LEDGER_TX_GOLD_REVEAL && memcmp(tx->u.gold.task, t->id, 32) == 0 &&
               memcmp(tx->sender, t->requester, 32) == 0 && !r->gold && tx->u.gold.count <= LEDGER_GOLD_MAX) {
        ledger_gold *g = plow_calloc(1, sizeof *g);
        memcpy(g->task, t->id, 32);
        g->count = tx->u.gold.count;
        memcpy(g->items, tx->u.gold.items, g->count * sizeof *g->items);
        memcpy(g->labels, tx->u.gold.labels, g->count);
        r->gold = g;
    }
}

int labeler_fetch_reveals(client *c, const ledger_task *t, labeler_reveals *r, char err[PLOW_ERR_LEN]) {
    memset(r, 0, sizeof *r);
    uint64_t height;
    if (client_height(c, &height, err)) return -1;
    r->scanned_to = height;
    if (t->p.kind != LEDGER_KIND_LABEL || t->window_end == 0) return 0; /* nothing committed: nothing revealed */
    /* no reveal comes before the first commit (the slots' committed_at stay
     * through finalize, when ledger_label_reveal_from no longer applies) */
    uint64_t from = UINT64_MAX, to = t->window_end + t->p.window_blocks;
    for (int s = 0; s < t->p.replicas && s < LEDGER_MAX_REPLICAS; s++)
        if (t->slots[s].committed_at && t->slots[s].committed_at < from) from = t->slots[s].committed_at;
    if (to < t->window_end) to = UINT64_MAX;
    if (from == UINT64_MAX || from <= t->posted_at) from = t->posted_at + 1;
    if (to > height) to = height;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    int rc = -1;
    for (uint64_t h = from; h <= to;) {
        uint64_t lim = to - h + 1 < 100 ? to - h + 1 : 100;
        char path[96];
        snprintf(path, sizeof path, "/v1/blocks?from=%" PRIu64 "&limit=%" PRIu64, h, lim);
        cJSON *j = NULL;
        if (client_get_json(c, path, &j, err)) goto out;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "blocks"), *bj;
        uint64_t last = 0;
        int got = 0;
        cJSON_ArrayForEach(bj, arr) {
            ledger_block b;
            if (json_block_from(bj, &b, err)) {
                cJSON_Delete(j);
                plow_error_prefix(err, "a block from the node");
                goto out;
            }
            last = b.h.height;
            got++;
            for (uint32_t i = 0; i < b.n_txs && b.h.height <= to; i++) {
                if (b.results[i] != LEDGER_TX_OK) continue;
                char e[PLOW_ERR_LEN];
                if (ledger_tx_decode(tx, b.txs[i].data, b.txs[i].len, e) == 0) take_tx(t, tx, r);
            }
            ledger_block_release(&b);
        }
        cJSON_Delete(j);
        if (!got || last < h) {
            plow_error(err, "the node returned no block %" PRIu64 " (its height is %" PRIu64 ")", h, height);
            goto out;
        }
        h = last + 1;
    }
    r->scanned_to = to;
    rc = 0;
out:
    free(tx);
    if (rc) labeler_reveals_release(r);
    return rc;
}

/* ---- the agent ---------------------------------------------------------------------------------------- */

void labeler_options_default(labeler_options *o) {
    memset(o, 0, sizeof *o);
    o->name = "labeler";
    o->node = AGENT_DEFAULT_NODE;
    o->mode = LABELER_MODEL;
    o->smoothing = 1;
    o->seed = 1;
    o->max_stake = UINT64_MAX;
    o->poll_s = 0.5;
}

#define LB_SEEN_MAX 256
#define LB_CACHE 4

typedef struct lb_seen {
    uint8_t id[32];
    bool done;      /* nothing more to do until it settles */
    bool mine;      /* this key holds (or held) a slot: report the settlement */
    bool settled;   /* reported */
    uint8_t why[32];
} lb_seen;

typedef struct lb_cache {
    uint8_t id[32];
    job_spec spec;
    labeler_items items;
    bool has_items;
    bool bad;       /* the spec or items do not check out */
    char why[PLOW_ERR_LEN];
} lb_cache;

typedef struct labeler {
    agent a;
    const labeler_options *o;
    labeler_nb *nb;
    labeler_truth truth;
    bool registered;
    lb_seen seen[LB_SEEN_MAX];
    int n_seen;
    lb_cache cache[LB_CACHE];
    int n_cache, next_cache;
    int settled;
} labeler;

static lb_seen *seen_get(labeler *L, const uint8_t id[32], bool create) {
    for (int i = 0; i < L->n_seen; i++)
        if (memcmp(L->seen[i].id, id, 32) == 0) return &L->seen[i];
    if (!create) return NULL;
    if (L->n_seen == LB_SEEN_MAX) {
        /* forget the oldest settled or foreign task first */
        int k = 0;
        while (k < L->n_seen && L->seen[k].mine && !L->seen[k].settled) k++;
        if (k == L->n_seen) k = 0;
        memmove(&L->seen[k], &L->seen[k + 1], (size_t)(LB_SEEN_MAX - 1 - k) * sizeof L->seen[0]);
        L->n_seen--;
    }
    lb_seen *s = &L->seen[L->n_seen++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, 32);
    return s;
}

/* Logs why (once per task and reason). */
static void note(labeler *L, const uint8_t id[32], const char *fmt, ...) PLOW_PRINTF(3, 4);
static void note(labeler *L, const uint8_t id[32], const char *fmt, ...) {
    char line[PLOW_ERR_LEN * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lb_seen *s = seen_get(L, id, true);
    uint8_t h[32];
    plow_sha256_once(line, strlen(line), h);
    if (memcmp(h, s->why, 32) == 0) return;
    memcpy(s->why, h, 32);
    agent_log(&L->a, "%s", line);
}

static void state_path(const labeler *L, const uint8_t id[32], char *out, size_t n) {
    char hex[65];
    plow_hex(id, 32, hex);
    snprintf(out, n, "%s/tasks/%s.json", L->a.work, hex);
}

static const char *mode_name(const labeler_options *o) {
    switch (o->mode) {
    case LABELER_MODEL: return "model";
    case LABELER_ACCURACY: return "accuracy";
    case LABELER_SPAM: return "spam";
    case LABELER_COPY: return "copy";
    }
    return "?";
}

/* The spec and items of t (cached); NULL with err if they do not check out. */
static lb_cache *task_data(labeler *L, const ledger_task *t, bool need_items, char err[PLOW_ERR_LEN]) {
    lb_cache *e = NULL;
    for (int i = 0; i < L->n_cache; i++)
        if (memcmp(L->cache[i].id, t->id, 32) == 0) e = &L->cache[i];
    if (e && e->bad) return plow_error(err, "%s", e->why), NULL;
    if (e && (e->has_items || !need_items)) return e;
    if (!e) {
        if (L->n_cache < LB_CACHE) e = &L->cache[L->n_cache++];
        else {
            e = &L->cache[L->next_cache];
            L->next_cache = (L->next_cache + 1) % LB_CACHE;
            labeler_items_release(&e->items);
        }
        memset(e, 0, sizeof *e);
        memcpy(e->id, t->id, 32);
    }
    char e2[PLOW_ERR_LEN];
    int rc = labeler_fetch_task(L->a.c, t, &e->spec, need_items ? &e->items : NULL, e2);
    if (rc) {
        /* a spec that does not check out stays bad; a node that did not answer is asked again */
        if (rc == -1) {
            e->bad = true;
            snprintf(e->why, sizeof e->why, "%s", e2);
        } else {
            memset(e->id, 0, 32);
        }
        return plow_error(err, "%s", e2), NULL;
    }
    e->has_items = need_items;
    return e;
}

/* This labeler's answers to the items of slot s. */
static int label_items(labeler *L, const ledger_task *t, const lb_cache *d, uint32_t s, labeler_state *st,
                       char err[PLOW_ERR_LEN]) {
    uint32_t *idx = plow_alloc(LEDGER_LABELS_MAX * sizeof *idx);
    uint64_t cnt = ledger_label_slot_items(t->p.steps, t->p.replicas, t->p.redundancy, s, idx, LEDGER_LABELS_MAX);
    if (cnt > LEDGER_LABELS_MAX) {
        free(idx);
        return plow_error(err, "slot %u has %" PRIu64 " items, more than one reveal carries", s, cnt);
    }
    int map[LEDGER_LABEL_CLASSES_MAX];
    if (L->o->mode == LABELER_MODEL && labeler_nb_map(L->nb, &d->spec, map, err)) {
        free(idx);
        return -1;
    }
    uint32_t unknown = 0;
    for (uint64_t j = 0; j < cnt; j++) {
        const char *text = d->items.text[idx[j]];
        uint32_t y;
        if (L->o->mode == LABELER_MODEL) y = labeler_nb_classify(L->nb, map, d->spec.n_classes, text);
        else {
            uint32_t truth = UINT32_MAX;
            if (L->o->mode == LABELER_ACCURACY) {
                const char *name = labeler_truth_find(&L->truth, text);
                int k = name ? labeler_class_index(&d->spec, name) : -1;
                if (k >= 0) truth = (uint32_t)k;
                else unknown++;
            }
            y = labeler_sim_label(L->o->mode, L->o->accuracy, L->o->seed, text, truth, d->spec.n_classes);
        }
        st->labels[j] = (uint8_t)y;
    }
    st->count = (uint32_t)cnt;
    free(idx);
    if (unknown) {
        char id[12];
        agent_short(t->id, id);
        agent_log(&L->a, "task %s: %u of my %u items are not in my truth file: answered at random", id, unknown,
                  st->count);
    }
    return 0;
}

/* Sends tx; a refusal by the ledger is logged and ends this task for us (1). */
static int send_or_refused(labeler *L, ledger_tx *tx, const uint8_t id[32], const char *what, uint64_t *height,
                           char err[PLOW_ERR_LEN]) {
    char e[PLOW_ERR_LEN], sid[12];
    agent_short(id, sid);
    if (agent_send_at(&L->a, tx, NULL, height, e)) {
        if (agent_refused(e)) {
            agent_log(&L->a, "task %s: %s refused: %s", sid, what, e);
            return 1;
        }
        return plow_error(err, "%s: %s", what, e);
    }
    return 0;
}

static int do_commit(labeler *L, const ledger_task *t, uint32_t s, uint64_t height, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 128], id[12];
    state_path(L, t->id, path, sizeof path);
    agent_short(t->id, id);
    const ledger_slot *sl = &t->slots[s];
    uint64_t deadline = sl->claimed_at + t->p.work_blocks;
    if (height + 1 > deadline) {
        agent_log(&L->a, "task %s: the commit deadline (block %" PRIu64 ") has passed; the rules forfeit slot %u", id,
                  deadline, s);
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    labeler_state *st = plow_calloc(1, sizeof *st);
    char e[PLOW_ERR_LEN];
    int rc = -1;
    bool have = plow_file_exists(path) && labeler_state_read(path, st, e) == 0 && memcmp(st->task, t->id, 32) == 0 &&
                memcmp(st->labeler, L->a.key.pk, 32) == 0 && st->slot == s;
    if (have) {
        agent_log(&L->a, "task %s: labels kept from before a restart; committing them", id);
    } else {
        memset(st, 0, sizeof *st);
        memcpy(st->task, t->id, 32);
        memcpy(st->labeler, L->a.key.pk, 32);
        st->slot = s;
        if (L->o->mode == LABELER_COPY) {
            int ts = labeler_slot_of(t, L->o->copy_of);
            char who[16];
            agent_short_addr(L->o->copy_of, who);
            if (ts < 0 || t->slots[ts].status != LEDGER_SLOT_COMMITTED) {
                if (height + 3 < deadline) {
                    note(L, t->id, "task %s: waiting for %s's commitment to copy (I must commit by block %" PRIu64 ")",
                         id, who, deadline);
                    rc = 0;
                    goto out;
                }
                agent_log(&L->a, "task %s: %s has not committed and my deadline is near: random labels it is", id,
                          who);
                if (ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s) > LEDGER_LABELS_MAX) {
                    plow_error(err, "slot %u has too many items", s);
                    goto out;
                }
                st->count = (uint32_t)ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s);
                for (uint32_t j = 0; j < st->count; j++)
                    st->labels[j] = (uint8_t)(randombytes_uniform(t->p.n_classes));
                labeler_state_seal(st);
            } else {
                /* all it can see is a hash: the answers stay hidden until the reveal */
                st->count = (uint32_t)ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s);
                memcpy(st->commitment, t->slots[ts].trace_root, 32);
                st->copied = true;
                agent_log(&L->a, "task %s: %s's answers are hidden behind its commitment; committing a copy of "
                                 "that commitment and hoping to reuse its reveal",
                          id, who);
            }
        } else {
            lb_cache *d = task_data(L, t, true, err);
            if (!d) goto out;
            if (label_items(L, t, d, s, st, err)) goto out;
            labeler_state_seal(st);
        }
        /* on disk before the commit: a restart must be able to reveal */
        if (labeler_state_write(path, st, err)) goto out;
    }
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    tx->type = LEDGER_TX_COMMIT;
    memcpy(tx->u.commit.task, t->id, 32);
    memcpy(tx->u.commit.trace_root, st->commitment, 32);
    tx->u.commit.n = st->count;
    uint64_t at = 0;
    int r = send_or_refused(L, tx, t->id, "commit", &at, err);
    free(tx);
    if (r < 0) goto out;
    if (r > 0) seen_get(L, t->id, true)->done = true;
    else {
        uint32_t hist[LEDGER_LABEL_CLASSES_MAX] = {0};
        for (uint32_t j = 0; j < st->count; j++) hist[st->labels[j] % LEDGER_LABEL_CLASSES_MAX]++;
        char hs[256] = "";
        if (!st->copied)
            for (uint32_t k = 0; k < t->p.n_classes && strlen(hs) < 200; k++)
                snprintf(hs + strlen(hs), sizeof hs - strlen(hs), "%s%u", k ? "/" : " (per class ", hist[k]);
        agent_log(&L->a, "task %s: committed %u labels for slot %u in block %" PRIu64 "%s%s", id, st->count, s, at, hs,
                  st->copied ? "" : ")");
    }
    rc = 0;
out:
    free(st);
    return rc;
}

static int do_reveal(labeler *L, const ledger_task *t, uint32_t s, uint64_t height, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 128], id[12];
    state_path(L, t->id, path, sizeof path);
    agent_short(t->id, id);
    uint64_t from = ledger_label_reveal_from(t);
    if (height + 1 < from) {
        note(L, t->id, "task %s: committed; waiting for the reveal window (it opens when every slot has committed, "
                       "or at block %" PRIu64 ")",
             id, from);
        return 0;
    }
    if (height + 1 > t->window_end) {
        agent_log(&L->a, "task %s: the reveal window closed at block %" PRIu64 " before I revealed; the rules "
                         "forfeit slot %u",
                  id, t->window_end, s);
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    labeler_state *st = plow_calloc(1, sizeof *st);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    labeler_reveals rv;
    memset(&rv, 0, sizeof rv);
    int rc = -1;
    char e[PLOW_ERR_LEN];
    if (labeler_state_read(path, st, e)) {
        agent_log(&L->a, "task %s: cannot reveal: %s; the rules forfeit slot %u", id, e, s);
        seen_get(L, t->id, true)->done = true;
        rc = 0;
        goto out;
    }
    tx->type = LEDGER_TX_LABEL_REVEAL;
    memcpy(tx->u.reveal.task, t->id, 32);
    tx->u.reveal.count = st->count;
    if (st->copied) {
        int ts = labeler_slot_of(t, L->o->copy_of);
        char who[16];
        agent_short_addr(L->o->copy_of, who);
        if (ts < 0) {
            agent_log(&L->a, "task %s: %s holds no slot: nothing to copy, nothing to open; slot %u forfeits", id, who,
                      s);
            seen_get(L, t->id, true)->done = true;
            rc = 0;
            goto out;
        }
        if (labeler_fetch_reveals(L->a.c, t, &rv, err)) goto out;
        if (!rv.slot[ts]) {
            if (height + 2 < t->window_end) {
                note(L, t->id, "task %s: waiting for %s's reveal to copy it (window ends at block %" PRIu64 ")", id,
                     who, t->window_end);
                rc = 0;
                goto out;
            }
            agent_log(&L->a, "task %s: %s never revealed: nothing to copy, nothing to open; slot %u forfeits", id, who,
                      s);
            seen_get(L, t->id, true)->done = true;
            rc = 0;
            goto out;
        }
        /* its labels and salt, now public: try them as my own opening */
        const ledger_labels *src = rv.slot[ts];
        for (uint32_t j = 0; j < st->count; j++) tx->u.reveal.labels[j] = j < src->count ? src->labels[j] : 0;
        memcpy(tx->u.reveal.salt, rv.salt[ts], 32);
        agent_log(&L->a, "task %s: %s revealed; sending its labels and salt as my reveal", id, who);
    } else {
        memcpy(tx->u.reveal.labels, st->labels, st->count);
        memcpy(tx->u.reveal.salt, st->salt, 32);
    }
    uint64_t at = 0;
    int r = send_or_refused(L, tx, t->id, "reveal", &at, err);
    if (r < 0) goto out;
    if (r > 0) {
        if (st->copied)
            agent_log(&L->a, "task %s: a copied commitment opens for nobody but its author: slot %u gains nothing "
                             "and forfeits its stake",
                      id, s);
        seen_get(L, t->id, true)->done = true;
    } else {
        agent_log(&L->a, "task %s: revealed %u labels in block %" PRIu64 " (window open until block %" PRIu64 ")", id,
                  st->count, at, t->window_end);
    }
    rc = 0;
out:
    labeler_reveals_release(&rv);
    free(st);
    free(tx);
    return rc;
}

/* Logs what the ledger settled for this labeler's slot of a finished task. */
static int report(labeler *L, const ledger_task *t, char err[PLOW_ERR_LEN]) {
    char id[12], m[32], stk[32];
    agent_short(t->id, id);
    int s = labeler_slot_of(t, L->a.key.pk);
    lb_seen *sn = seen_get(L, t->id, true);
    if (t->status == LEDGER_TASK_EXPIRED || s < 0) {
        agent_log(&L->a, "task %s: %s%s", id, ledger_task_status_name(t->status),
                  s < 0 ? " without a slot of mine" : ": nothing was committed; my stake is unlocked");
    } else {
        const ledger_slot *sl = &t->slots[s];
        agent_money(t->p.worker_stake, stk);
        agent_money(t->paid[s], m);
        char extra[160] = "";
        labeler_reveals rv;
        ledger_label_outcome o;
        memset(&o, 0, sizeof o);
        if (labeler_fetch_reveals(L->a.c, t, &rv, err)) return -1;
        char e[PLOW_ERR_LEN];
        if (ledger_label_aggregate(t, (const ledger_labels *const *)rv.slot, rv.gold, &o, e) == 0) {
            if (o.gold_answered[s])
                snprintf(extra, sizeof extra, ": gold %u/%u right", o.gold_correct[s], o.gold_answered[s]);
            if (o.accuracy_ppm[s])
                snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "%sestimated accuracy %.3f",
                         extra[0] ? ", " : ": ", o.accuracy_ppm[s] / 1e6);
        }
        ledger_label_outcome_release(&o);
        labeler_reveals_release(&rv);
        switch (sl->status) {
        case LEDGER_SLOT_PAID:
            agent_log(&L->a, "task %s: finalized: slot %d PAID %s (at most %" PRIu64 ")%s; stake unlocked", id, s, m,
                      t->p.reward, extra);
            break;
        case LEDGER_SLOT_UNPAID:
            agent_log(&L->a, "task %s: finalized: slot %d UNPAID (no better than chance)%s; stake unlocked", id, s,
                      extra);
            break;
        case LEDGER_SLOT_SLASHED:
            agent_log(&L->a, "task %s: finalized: slot %d SLASHED: lost %s of stake (under the %u%% gold threshold)%s",
                      id, s, stk, t->p.min_gold_pct, extra);
            break;
        case LEDGER_SLOT_FORFEITED:
            agent_log(&L->a, "task %s: finalized: slot %d FORFEITED: lost %s of stake (%s)", id, s, stk,
                      (t->revealed >> s) & 1 ? "?" : sl->committed_at ? "committed but never revealed" : "never committed");
            break;
        default:
            agent_log(&L->a, "task %s: finalized: slot %d is %s", id, s, ledger_slot_status_name(sl->status));
        }
    }
    sn->settled = true;
    sn->done = true;
    L->settled++;
    char path[AGENT_PATH_MAX + 128];
    state_path(L, t->id, path, sizeof path);
    labeler_state *st = plow_calloc(1, sizeof *st);
    char e[PLOW_ERR_LEN];
    if (plow_file_exists(path) && labeler_state_read(path, st, e) == 0 && !st->settled) {
        st->settled = true;
        if (labeler_state_write(path, st, e)) agent_log(&L->a, "cannot note the settlement: %s", e);
    }
    free(st);
    return 0;
}

/* Why this labeler will not claim t (NULL: it will). */
static const char *judge(labeler *L, const ledger_task *t, const ledger_account *acct, uint64_t height,
                         char why[PLOW_ERR_LEN]) {
    if (t->p.kind != LEDGER_KIND_LABEL) return snprintf(why, PLOW_ERR_LEN, "not a label task"), why;
    if (height + 1 > t->posted_at + t->p.claim_blocks) return snprintf(why, PLOW_ERR_LEN, "claim deadline passed"), why;
    if (memcmp(t->requester, L->a.key.pk, 32) == 0) return snprintf(why, PLOW_ERR_LEN, "it is my own task"), why;
    if (L->o->mode == LABELER_COPY && labeler_slot_of(t, L->o->copy_of) < 0) {
        char who[16];
        agent_short_addr(L->o->copy_of, who);
        return snprintf(why, PLOW_ERR_LEN, "%s, whom I copy, holds no slot of it", who), why;
    }
    char e[PLOW_ERR_LEN];
    lb_cache *d = task_data(L, t, false, e);
    if (!d) return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
    int map[LEDGER_LABEL_CLASSES_MAX];
    if (L->o->mode == LABELER_MODEL && labeler_nb_map(L->nb, &d->spec, map, e))
        return snprintf(why, PLOW_ERR_LEN, "%s", e), why;
    uint64_t free_stake = acct->stake > acct->locked ? acct->stake - acct->locked : 0, need = 0, total;
    if (t->p.worker_stake > free_stake) need = t->p.worker_stake - free_stake;
    if (!plow_add_u64(acct->stake, need, &total) || total > L->o->max_stake)
        return snprintf(why, PLOW_ERR_LEN, "it needs %" PRIu64 " more stake than my limit allows", need), why;
    if (need && acct->balance < need + L->a.min_fee * 2)
        return snprintf(why, PLOW_ERR_LEN, "its stake %" PRIu64 " is more than I can bond (balance %" PRIu64 ")",
                        t->p.worker_stake, acct->balance),
               why;
    return NULL;
}

static int try_claim(labeler *L, const ledger_task *t, ledger_account *acct, uint64_t height, bool *claimed,
                     char err[PLOW_ERR_LEN]) {
    *claimed = false;
    char why[PLOW_ERR_LEN], id[12];
    agent_short(t->id, id);
    if (judge(L, t, acct, height, why)) {
        note(L, t->id, "task %s: not claiming: %s", id, why);
        return 0;
    }
    uint64_t free_stake = acct->stake > acct->locked ? acct->stake - acct->locked : 0;
    if (t->p.worker_stake > free_stake) {
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_STAKE;
        tx.u.stake.amount = t->p.worker_stake - free_stake;
        if (agent_send(&L->a, &tx, err)) return plow_error_prefix(err, "stake");
        char m[32];
        agent_money(tx.u.stake.amount, m);
        agent_log(&L->a, "staked %s for task %s", m, id);
        if (agent_account(&L->a, L->a.key.pk, acct, err)) return -1;
    }
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, t->id, 32);
    int r = send_or_refused(L, &tx, t->id, "claim", NULL, err);
    if (r < 0) return -1;
    if (r > 0) {
        seen_get(L, t->id, true)->done = true;
        return 0;
    }
    lb_seen *sn = seen_get(L, t->id, true);
    sn->mine = true;
    *claimed = true;
    return 0;
}

static int labeler_round(labeler *L, char err[PLOW_ERR_LEN]) {
    agent *a = &L->a;
    ledger_account acct;
    if (agent_account(a, a->key.pk, &acct, err)) return -1;
    if (!L->registered) {
        char caps[LEDGER_CAPS_MAX + 1];
        snprintf(caps, sizeof caps, "{\"kinds\":[\"label\"],\"labeler\":\"%s\"}", mode_name(L->o));
        if (agent_ensure_registered(a, caps, &acct, err)) return -1;
        L->registered = true;
    }
    uint64_t height;
    if (agent_height(a, &height, err)) return -1;
    static const int statuses[] = {LEDGER_TASK_OPEN, LEDGER_TASK_CLAIMED, LEDGER_TASK_COMMITTED};
    for (size_t si = 0; si < sizeof statuses / sizeof statuses[0] && !agent_stop_requested(); si++) {
        ledger_task *ts = NULL;
        size_t nt = 0;
        char q[64];
        snprintf(q, sizeof q, "status=%s&kind=label", ledger_task_status_name(statuses[si]));
        if (agent_list_tasks(a, q, &ts, &nt, err)) return -1;
        for (size_t i = 0; i < nt && !agent_stop_requested(); i++) {
            ledger_task *t = &ts[i];
            if (t->p.kind != LEDGER_KIND_LABEL) continue;
            lb_seen *sn = seen_get(L, t->id, false);
            if (sn && sn->done) continue;
            int s = labeler_slot_of(t, a->key.pk);
            if (s < 0 && statuses[si] == LEDGER_TASK_OPEN) {
                bool claimed;
                if (try_claim(L, t, &acct, height, &claimed, err)) {
                    free(ts);
                    return -1;
                }
                if (!claimed) continue;
                if (agent_task(a, t->id, t, NULL, NULL, err) || agent_height(a, &height, err)) {
                    free(ts);
                    return -1;
                }
                s = labeler_slot_of(t, a->key.pk);
                if (s < 0) continue;
                char id[12];
                agent_short(t->id, id);
                agent_log(a, "task %s: claimed slot %d of %u (%" PRIu64 " items, r = %u, reward up to %" PRIu64
                             ", stake %" PRIu64 " locked)",
                          id, s, t->p.replicas,
                          ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)s),
                          t->p.redundancy, t->p.reward, t->p.worker_stake);
            }
            if (s < 0) continue;
            seen_get(L, t->id, true)->mine = true;
            int rc = 0;
            if (t->slots[s].status == LEDGER_SLOT_CLAIMED) rc = do_commit(L, t, (uint32_t)s, height, err);
            else if (t->slots[s].status == LEDGER_SLOT_COMMITTED && !((t->revealed >> s) & 1))
                rc = do_reveal(L, t, (uint32_t)s, height, err);
            if (rc) {
                free(ts);
                return -1;
            }
        }
        free(ts);
    }
    /* settlements of the tasks this labeler took part in */
    for (int i = 0; i < L->n_seen && !agent_stop_requested(); i++) {
        lb_seen *sn = &L->seen[i];
        if (!sn->mine || sn->settled) continue;
        ledger_task t;
        if (agent_task(a, sn->id, &t, NULL, NULL, err)) return -1;
        if (t.status == LEDGER_TASK_FINALIZED || t.status == LEDGER_TASK_EXPIRED) {
            if (report(L, &t, err)) return -1;
        }
    }
    return 0;
}

/* Tasks from an earlier run whose settlement was not reported yet. */
static void load_mine(labeler *L) {
    char dir[AGENT_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tasks", L->a.work);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    labeler_state *st = plow_calloc(1, sizeof *st);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        uint8_t id[32];
        if (n != 69 || strcmp(de->d_name + 64, ".json") != 0) continue;
        char hex[65];
        memcpy(hex, de->d_name, 64);
        hex[64] = 0;
        if (plow_unhex(hex, id, 32)) continue;
        char path[AGENT_PATH_MAX + 128], e[PLOW_ERR_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (labeler_state_read(path, st, e) || st->settled) continue;
        seen_get(L, id, true)->mine = true;
    }
    free(st);
    closedir(d);
}

int agent_labeler_run(const labeler_options *o, char err[PLOW_ERR_LEN]) {
    labeler *L = plow_calloc(1, sizeof *L);
    L->o = o;
    int rc = -1;
    if (o->mode == LABELER_MODEL) {
        if (o->model) {
            if (labeler_nb_load(&L->nb, o->model, err)) goto fail;
        } else if (o->train) {
            labeler_labeled d;
            if (labeler_labeled_load(&d, o->train, err)) goto fail;
            int r = labeler_nb_train(&L->nb, &d, o->smoothing, err);
            labeler_labeled_release(&d);
            if (r) goto fail;
        } else {
            plow_error(err, "a model labeler needs --model FILE or --train FILE");
            goto fail;
        }
    }
    if (o->mode == LABELER_ACCURACY && labeler_truth_load(&L->truth, o->truth, err)) goto fail;
    if (agent_open(&L->a, o->name, o->key, o->node, o->work, err)) goto fail;
    char dir[AGENT_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/tasks", L->a.work);
    if (plow_mkdir_p(dir, err)) {
        agent_close(&L->a);
        goto fail;
    }
    agent *a = &L->a;
    char what[160];
    switch (o->mode) {
    case LABELER_MODEL:
        snprintf(what, sizeof what, "naive Bayes model (%u classes, %zu words)", labeler_nb_n_classes(L->nb),
                 labeler_nb_vocab(L->nb));
        break;
    case LABELER_ACCURACY:
        snprintf(what, sizeof what, "simulated, right with probability %.2f (truth: %zu texts, seed %" PRIu64 ")",
                 o->accuracy, L->truth.n, o->seed);
        break;
    case LABELER_SPAM: snprintf(what, sizeof what, "simulated spammer (uniform labels, seed %" PRIu64 ")", o->seed); break;
    case LABELER_COPY: {
        char who[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(o->copy_of, who);
        snprintf(what, sizeof what, "copier of %.16s...", who);
        break;
    }
    }
    agent_log(a, "labeler %s starting: node %s, work dir %s, labels with: %s", a->addr, a->node, a->work, what);
    load_mine(L);
    while (!agent_stop_requested()) {
        char e[PLOW_ERR_LEN];
        if (labeler_round(L, e)) {
            if (agent_stop_requested()) break;
            agent_fail(a, e);
            continue;
        }
        agent_ok(a);
        if (o->max_tasks > 0 && L->settled >= o->max_tasks) break;
        agent_sleep(o->poll_s);
    }
    agent_log(a, "stopped (%d task%s settled)", L->settled, L->settled == 1 ? "" : "s");
    agent_close(a);
    rc = 0;
fail:
    for (int i = 0; i < L->n_cache; i++) labeler_items_release(&L->cache[i].items);
    labeler_nb_free(L->nb);
    labeler_truth_release(&L->truth);
    free(L);
    return rc;
}
