/*
 * labeler_files.c — the files a requester, a person and the labeler agent
 * keep for a label task (labeler.h): private files written atomically, the
 * requester's gold and its secret, a labeler's commitment state.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../client/client.h"
#include "../label/label.h"
#include "labeler.h"

_Static_assert(LEDGER_LABEL_ITEMS_MAX == LABEL_ITEMS_MAX, "a label task's items are what the label module parses");
_Static_assert(JOB_LABEL_NAME_MAX == LABEL_NAME_MAX, "class names are the label module's");

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

int labeler_class_index(const job_spec *s, const char *name) {
    for (uint32_t i = 0; i < s->n_classes && i < JOB_LABEL_CLASSES_MAX; i++)
        if (strcmp(s->classes[i], name) == 0) return (int)i;
    return -1;
}

int labeler_nb_map_spec(const label_nb *m, const job_spec *s, int *map, char err[PLOW_ERR_LEN]) {
    const char *names[JOB_LABEL_CLASSES_MAX];
    uint32_t n = s->n_classes < JOB_LABEL_CLASSES_MAX ? s->n_classes : JOB_LABEL_CLASSES_MAX;
    for (uint32_t c = 0; c < n; c++) names[c] = s->classes[c];
    return label_nb_map(m, names, n, map, err);
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
    label_jsonl r = {buf, n, 0, 0};
    const char *line;
    size_t len, m = 0;
    int rc = -1;
    while (label_jsonl_next(&r, &line, &len)) {
        if (m == LEDGER_GOLD_MAX) {
            plow_error(err, "%s has more than %d gold items (one gold reveal's most)", what, LEDGER_GOLD_MAX);
            goto out;
        }
        cJSON *j = label_jsonl_object(line, len, what, r.line, err);
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
