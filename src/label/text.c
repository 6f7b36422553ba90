/*
 * text.c — labeling's text files: JSONL lines, a task's items, labeled text
 * (training data) and the answer key looked up by text (label.h). Every
 * parser names the input, the line and what is wrong.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>

#include "label.h"

/* ---- JSONL ------------------------------------------------------------------------------ */


/* The next line (without its '\n' and a trailing '\r'); false at the end.
 * A final newline does not start another line. */
bool label_jsonl_next(label_jsonl *r, const char **s, size_t *len) {
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
cJSON *label_jsonl_object(const char *s, size_t len, const char *what, size_t line, char err[PLOW_ERR_LEN]) {
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

bool label_class_name_ok(const char *c) {
    size_t n = strlen(c);
    return n >= 1 && n <= LABEL_NAME_MAX &&
           strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* ---- items ------------------------------------------------------------------------------- */

void label_items_release(label_items *it) {
    for (size_t i = 0; i < it->n; i++) free(it->text[i]);
    free(it->text);
    memset(it, 0, sizeof *it);
}

int label_items_parse(label_items *it, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]) {
    memset(it, 0, sizeof *it);
    if (memchr(buf, 0, n)) return plow_error(err, "%s contains a NUL byte", what);
    label_jsonl r = {buf, n, 0, 0};
    const char *s;
    size_t len, cap = 0;
    while (label_jsonl_next(&r, &s, &len)) {
        if (it->n == LABEL_ITEMS_MAX) {
            label_items_release(it);
            return plow_error(err, "%s has more than %d items (a label task's most)", what, LABEL_ITEMS_MAX);
        }
        cJSON *j = label_jsonl_object(s, len, what, r.line, err);
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
        if (tl == 0 || tl > LABEL_TEXT_MAX) {
            plow_error(err, "%s line %zu: the text must have 1..%u bytes, not %zu", what, r.line, LABEL_TEXT_MAX, tl);
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
    label_items_release(it);
    return -1;
}

void label_items_write(const label_items *it, plow_buf *out) {
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

void label_labeled_release(label_labeled *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->text[i]);
        free(d->label[i]);
    }
    free(d->text);
    free(d->label);
    memset(d, 0, sizeof *d);
}

int label_labeled_parse(label_labeled *d, const uint8_t *buf, size_t n, const char *what, char err[PLOW_ERR_LEN]) {
    memset(d, 0, sizeof *d);
    if (memchr(buf, 0, n)) return plow_error(err, "%s contains a NUL byte", what);
    label_jsonl r = {buf, n, 0, 0};
    const char *s;
    size_t len, cap = 0;
    while (label_jsonl_next(&r, &s, &len)) {
        cJSON *j = label_jsonl_object(s, len, what, r.line, err);
        if (!j) goto fail;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text"), *l = cJSON_GetObjectItemCaseSensitive(j, "label");
        if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) > LABEL_TEXT_MAX) {
            plow_error(err, "%s line %zu: needs \"text\": a string of 1..%u bytes", what, r.line, LABEL_TEXT_MAX);
            cJSON_Delete(j);
            goto fail;
        }
        if (!cJSON_IsString(l) || !label_class_name_ok(l->valuestring)) {
            plow_error(err, "%s line %zu: needs \"label\": a class name of 1..%d characters [A-Za-z0-9_.-]", what,
                       r.line, LABEL_NAME_MAX);
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
    label_labeled_release(d);
    return -1;
}

int label_labeled_load(label_labeled *d, const char *path, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    memset(d, 0, sizeof *d);
    if (plow_read_file(path, LABEL_FILE_MAX, &buf, &n, err)) return -1;
    int rc = label_labeled_parse(d, buf, n, path, err);
    free(buf);
    return rc;
}

static int cmp_truth(const void *a, const void *b) {
    return memcmp(((const label_truth_entry *)a)->id, ((const label_truth_entry *)b)->id, 32);
}

int label_truth_load(label_truth *t, const char *path, char err[PLOW_ERR_LEN]) {
    memset(t, 0, sizeof *t);
    label_labeled d;
    if (label_labeled_load(&d, path, err)) return -1;
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
                label_labeled_release(&d);
                label_truth_release(t);
                return -1;
            }
            continue;
        }
        t->e[o++] = t->e[i];
    }
    t->n = o;
    label_labeled_release(&d);
    return 0;
}

const char *label_truth_find(const label_truth *t, const char *text) {
    label_truth_entry k;
    plow_sha256_once(text, strlen(text), k.id);
    const label_truth_entry *e = t->n ? bsearch(&k, t->e, t->n, sizeof *t->e, cmp_truth) : NULL;
    return e ? e->label : NULL;
}

void label_truth_release(label_truth *t) {
    free(t->e);
    memset(t, 0, sizeof *t);
}
