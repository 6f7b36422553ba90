/*
 * safetensors.c — the safetensors reader and writer declared in
 * safetensors.h.
 *
 * The reader treats every file as hostile: each number in the header is
 * checked before it is used, sizes go through checked multiplication, and
 * the byte ranges must tile the data section, which also defuses the
 * duplicate-key tricks JSON parsers allow. JSON syntax is cJSON's job; the
 * two things cJSON accepts but would read wrongly for us (non-integer number
 * literals and \u0000 escapes) are caught by a scan of the raw header.
 *
 * Non-goals: mmap, lazy loading, dtypes outside the list in the header,
 * big-endian hosts.
 */
#include "../base/plow.h"

#include "safetensors.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <inttypes.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian and is copied as is");

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},
    [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1}, [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};
static_assert(sizeof dtypes / sizeof dtypes[0] == ST_DTYPE_COUNT, "one entry per st_dtype");

const char *st_dtype_name(st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : NULL;
}

size_t st_dtype_size(st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

static bool dtype_parse(const char *s, st_dtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return true;
        }
    }
    return false;
}

/* ---- shared helpers ------------------------------------------------------ */

/* Returns the offset of the first byte that is not part of valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF are invalid),
 * or n if all of s[0..n) is valid. */
static size_t utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts names (an array of n string pointers) and returns the first name
 * that occurs twice, or NULL. */
static const char *find_duplicate(const char **names, size_t n) {
    if (n < 2) return NULL;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    }
    return NULL;
}

/* ---- reader -------------------------------------------------------------- */

struct st_file {
    uint8_t *buf;             /* the whole file; owned */
    size_t size;
    st_tensor *tensors;       /* n, in data-offset order; names owned */
    size_t n;
    const st_tensor **by_name; /* n, sorted by name, for st_find */
    char **meta_keys, **meta_values;
    size_t n_meta;
};

void st_free(st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->buf);
    free(f);
}

size_t st_count(const st_file *f) { return f->n; }

const st_tensor *st_get(const st_file *f, size_t i) {
    PLOW_ASSERT(i < f->n);
    return &f->tensors[i];
}

const st_tensor *st_find(const st_file *f, const char *name) {
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t st_meta_count(const st_file *f) { return f->n_meta; }

const char *st_meta_key(const st_file *f, size_t i) {
    PLOW_ASSERT(i < f->n_meta);
    return f->meta_keys[i];
}

const char *st_meta_value(const st_file *f, size_t i) {
    PLOW_ASSERT(i < f->n_meta);
    return f->meta_values[i];
}

const char *st_meta_get(const st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++) {
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    }
    return NULL;
}

/* cJSON stores numbers as doubles and strings as C strings. A valid header
 * may still hold "1.0" or "1e3" where an integer is required (cJSON would
 * read them as 1 and 1000), or a \u0000 escape (which would cut a name
 * short), so scan the raw text for both. The JSON already parsed, so
 * strings and number tokens are well formed. */
static int scan_header(const char *h, size_t n, char err[PLOW_ERR_LEN]) {
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '"') {
            for (i++; i < n && h[i] != '"'; i++) {
                if (h[i] != '\\') continue;
                if (n - i > 5 && memcmp(h + i + 1, "u0000", 5) == 0)
                    return plow_error(err, "header has a \\u0000 escape in a string at byte %zu", i);
                i++;
            }
        } else if (h[i] == '-' || (h[i] >= '0' && h[i] <= '9')) {
            size_t j = i;
            bool integer = true;
            while (j < n && h[j] && strchr("+-.0123456789eE", h[j])) {
                if (h[j] == '.' || h[j] == 'e' || h[j] == 'E') integer = false;
                j++;
            }
            if (!integer)
                return plow_error(err,
                                  "header has the non-integer number '%.*s' at byte %zu; shapes and "
                                  "offsets must be integers",
                                  (int)(j - i < 32 ? j - i : 32), h + i, i);
            i = j - 1;
        }
    }
    return 0;
}

/* Largest integer a double holds exactly: bigger values in the header are
 * refused rather than rounded. */
#define JSON_INT_MAX 9007199254740991.0

static int json_uint(const cJSON *item, const char *name, const char *what, uint64_t *out,
                     char err[PLOW_ERR_LEN]) {
    if (!cJSON_IsNumber(item))
        return plow_error(err, "tensor '%s': %s is not a number", name, what);
    double v = item->valuedouble;
    if (!(v >= 0)) return plow_error(err, "tensor '%s': %s is negative", name, what);
    if (v > JSON_INT_MAX) return plow_error(err, "tensor '%s': %s is too large", name, what);
    if ((double)(uint64_t)v != v)
        return plow_error(err, "tensor '%s': %s is not an integer", name, what);
    *out = (uint64_t)v;
    return 0;
}

/* A tensor as parsed, with its position in the header for stable sorting. */
typedef struct parsed {
    st_tensor t;
    size_t order;
} parsed;

static int parse_tensor(const cJSON *entry, parsed *p, size_t data_size, char err[PLOW_ERR_LEN]) {
    const char *name = entry->string;
    if (!cJSON_IsObject(entry)) return plow_error(err, "tensor '%s': entry is not a JSON object", name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = entry->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0          ? &dtype
                             : strcmp(c->string, "shape") == 0        ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
        if (!slot) return plow_error(err, "tensor '%s': unknown field '%s'", name, c->string);
        if (*slot) return plow_error(err, "tensor '%s': field '%s' appears twice", name, c->string);
        *slot = c;
    }
    if (!dtype) return plow_error(err, "tensor '%s': missing dtype", name);
    if (!shape) return plow_error(err, "tensor '%s': missing shape", name);
    if (!offsets) return plow_error(err, "tensor '%s': missing data_offsets", name);

    if (!cJSON_IsString(dtype)) return plow_error(err, "tensor '%s': dtype is not a string", name);
    if (!dtype_parse(dtype->valuestring, &p->t.dtype))
        return plow_error(err, "tensor '%s': unknown dtype '%s'", name, dtype->valuestring);

    if (!cJSON_IsArray(shape)) return plow_error(err, "tensor '%s': shape is not an array", name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return plow_error(err, "tensor '%s': shape has %d dims, at most %d allowed", name, ndim,
                          ST_MAX_DIMS);
    p->t.ndim = ndim;
    size_t numel = 1;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        uint64_t v;
        char what[32];
        snprintf(what, sizeof what, "shape[%d]", d);
        if (json_uint(c, name, what, &v, err) != 0) return -1;
        p->t.shape[d] = (int64_t)v;
        if (!plow_mul_size(numel, (size_t)v, &numel))
            return plow_error(err, "tensor '%s': element count overflows", name);
    }
    size_t nbytes;
    if (!plow_mul_size(numel, st_dtype_size(p->t.dtype), &nbytes))
        return plow_error(err, "tensor '%s': byte size overflows", name);
    p->t.numel = numel;
    p->t.nbytes = nbytes;

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return plow_error(err, "tensor '%s': data_offsets is not an array of two integers", name);
    uint64_t begin, end;
    if (json_uint(offsets->child, name, "data_offsets[0]", &begin, err) != 0 ||
        json_uint(offsets->child->next, name, "data_offsets[1]", &end, err) != 0)
        return -1;
    if (begin > end)
        return plow_error(err, "tensor '%s': data_offsets begin %" PRIu64 " is after end %" PRIu64,
                          name, begin, end);
    if (end > data_size)
        return plow_error(err,
                          "tensor '%s': data_offsets end %" PRIu64
                          " is past the end of the %zu-byte data section",
                          name, end, data_size);
    if (end - begin != nbytes)
        return plow_error(err,
                          "tensor '%s': data_offsets span %" PRIu64
                          " bytes but shape and dtype %s need %zu",
                          name, end - begin, dtypes[p->t.dtype].name, nbytes);
    p->t.offset = (size_t)begin;
    return 0;
}

static int parse_metadata(st_file *f, const cJSON *meta, char err[PLOW_ERR_LEN]) {
    if (!cJSON_IsObject(meta)) return plow_error(err, "__metadata__ is not a JSON object");
    size_t n = 0;
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return plow_error(err, "__metadata__ value for '%s' is not a string", c->string);
        n++;
    }
    f->meta_keys = plow_calloc(n, sizeof *f->meta_keys);
    f->meta_values = plow_calloc(n, sizeof *f->meta_values);
    for (const cJSON *c = meta->child; c; c = c->next) {
        f->meta_keys[f->n_meta] = plow_strdup(c->string);
        f->meta_values[f->n_meta] = plow_strdup(c->valuestring);
        f->n_meta++;
    }
    const char **keys = plow_calloc(n, sizeof *keys);
    memcpy(keys, f->meta_keys, n * sizeof *keys);
    const char *dup = find_duplicate(keys, n);
    int rc = dup ? plow_error(err, "__metadata__ has the key '%s' twice", dup) : 0;
    free(keys);
    return rc;
}

static int cmp_parsed(const void *a, const void *b) {
    const parsed *x = a, *y = b;
    if (x->t.offset != y->t.offset) return x->t.offset < y->t.offset ? -1 : 1;
    if (x->t.nbytes != y->t.nbytes) return x->t.nbytes < y->t.nbytes ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

/* The header of buf[0..size): its length (8 bytes, bounded by the limit and
 * the file) and its JSON object, into *hlen and *root. */
static int parse_header(const uint8_t *buf, size_t size, uint64_t *hlen, cJSON **root, char err[PLOW_ERR_LEN]) {
    if (size < 8) return plow_error(err, "file is %zu bytes, too short for the 8-byte header length", size);
    *hlen = plow_get_u64(buf);
    if (*hlen > ST_MAX_HEADER)
        return plow_error(err, "header length %" PRIu64 " exceeds the limit of %zu bytes", *hlen, ST_MAX_HEADER);
    if (*hlen > size - 8)
        return plow_error(err, "header length %" PRIu64 " is larger than the %zu bytes after it", *hlen, size - 8);
    const char *header = (const char *)buf + 8;
    size_t n = (size_t)*hlen;
    size_t bad = utf8_invalid_at((const uint8_t *)header, n);
    if (bad != n) return plow_error(err, "header is not valid UTF-8 (byte %zu)", bad);
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(header, n, &end, false);
    if (!*root) {
        size_t at = end && end >= header && end <= header + n ? (size_t)(end - header) : 0;
        return plow_error(err, "header is not valid JSON (near byte %zu)", at);
    }
    /* The spec allows trailing spaces as padding; anything else after the
     * object means the header is not one JSON value. */
    for (const char *p = end; p < header + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return plow_error(err, "header has unexpected bytes after the JSON value (byte %zu)", (size_t)(p - header));
    }
    if (!cJSON_IsObject(*root)) return plow_error(err, "header is not a JSON object");
    return 0;
}

/* The header's entries into ps[] (*np of them: their names are the caller's
 * to free), the metadata into f. */
static int parse_entries(st_file *f, const cJSON *root, size_t data_size, parsed *ps, size_t *np,
                         char err[PLOW_ERR_LEN]) {
    bool have_meta = false;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (have_meta) return plow_error(err, "header has __metadata__ twice");
            have_meta = true;
            if (parse_metadata(f, c, err) != 0) return -1;
            continue;
        }
        if (c->string[0] == 0) return plow_error(err, "header has a tensor with an empty name");
        parsed *p = &ps[*np];
        p->order = *np;
        p->t.name = plow_strdup(c->string);
        (*np)++;
        if (parse_tensor(c, p, data_size, err) != 0) return -1;
    }
    return 0;
}

/* The ranges must tile the data section: sorted by offset, each tensor starts
 * where the previous one ended, and the last ends at EOF. */
static int check_tiling(parsed *ps, size_t np, size_t data_size, char err[PLOW_ERR_LEN]) {
    qsort(ps, np, sizeof *ps, cmp_parsed);
    size_t expect = 0;
    for (size_t i = 0; i < np; i++) {
        const st_tensor *t = &ps[i].t;
        if (t->offset < expect)
            return plow_error(err, "tensors '%s' and '%s' overlap in the data section", ps[i - 1].t.name, t->name);
        if (t->offset > expect)
            return plow_error(err, "data section has a hole of %zu bytes at offset %zu, before tensor '%s'",
                              t->offset - expect, expect, t->name);
        expect = t->offset + t->nbytes;
    }
    if (expect != data_size)
        return plow_error(err, "data section has %zu unused bytes after the last tensor", data_size - expect);
    return 0;
}

/* Parses buf[0..size), taking ownership of buf whatever the outcome. */
static int parse_owned(uint8_t *buf, size_t size, st_file **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    int rc = -1;
    cJSON *root = NULL;
    parsed *ps = NULL;
    size_t np = 0;
    uint64_t hlen = 0;
    st_file *f = plow_calloc(1, sizeof *f);
    f->buf = buf;
    f->size = size;
    if (parse_header(buf, size, &hlen, &root, err) != 0) goto out;
    const uint8_t *data = buf + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    size_t n_entries = 0;
    for (const cJSON *c = root->child; c; c = c->next) n_entries++;
    ps = plow_calloc(n_entries, sizeof *ps);
    if (parse_entries(f, root, data_size, ps, &np, err) != 0 ||
        scan_header((const char *)buf + 8, (size_t)hlen, err) != 0 || check_tiling(ps, np, data_size, err) != 0)
        goto out;

    f->tensors = plow_calloc(np, sizeof *f->tensors);
    f->by_name = plow_calloc(np, sizeof *f->by_name);
    for (size_t i = 0; i < np; i++) {
        f->tensors[i] = ps[i].t;
        f->tensors[i].data = data + f->tensors[i].offset;
        f->by_name[i] = &f->tensors[i];
    }
    f->n = np;
    np = 0; /* the names now belong to f */
    if (f->n > 1) {
        qsort(f->by_name, f->n, sizeof *f->by_name, cmp_tensor_name);
        for (size_t i = 1; i < f->n; i++) {
            if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
                plow_error(err, "header has the tensor '%s' twice", f->by_name[i]->name);
                goto out;
            }
        }
    }
    *out = f;
    f = NULL;
    rc = 0;
out:
    for (size_t i = 0; i < np; i++) free((char *)ps[i].t.name);
    free(ps);
    cJSON_Delete(root);
    st_free(f);
    return rc;
}

int st_parse(const uint8_t *data, size_t size, st_file **out, char err[PLOW_ERR_LEN]) {
    uint8_t *copy = plow_alloc_aligned(size);
    if (size) memcpy(copy, data, size);
    return parse_owned(copy, size, out, err);
}

int st_load(const char *path, st_file **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint8_t *buf;
    size_t size;
    if (plow_read_file(path, ST_MAX_FILE, &buf, &size, err) != 0) return -1;
    if (parse_owned(buf, size, out, err) == 0) return 0;
    return plow_error_prefix(err, path);
}

/* ---- writer -------------------------------------------------------------- */

typedef struct wtensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} wtensor;

struct st_writer {
    wtensor *t;
    size_t n, cap;
    char **meta_keys, **meta_values;
    size_t n_meta, cap_meta;
};

st_writer *st_writer_new(void) { return plow_calloc(1, sizeof(st_writer)); }

void st_writer_free(st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->t);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

void st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                   const void *data) {
    PLOW_ASSERT(w && name && (unsigned)dtype < ST_DTYPE_COUNT && (ndim <= 0 || shape));
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->t = plow_realloc(w->t, w->cap * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = plow_strdup(name);
    t->dtype = dtype;
    t->ndim = ndim; /* checked by serialize */
    if (ndim > 0 && ndim <= ST_MAX_DIMS) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = data;
}

void st_writer_meta(st_writer *w, const char *key, const char *value) {
    PLOW_ASSERT(w && key && value);
    if (w->n_meta == w->cap_meta) {
        w->cap_meta = w->cap_meta ? 2 * w->cap_meta : 8;
        w->meta_keys = plow_realloc(w->meta_keys, w->cap_meta * sizeof *w->meta_keys);
        w->meta_values = plow_realloc(w->meta_values, w->cap_meta * sizeof *w->meta_values);
    }
    w->meta_keys[w->n_meta] = plow_strdup(key);
    w->meta_values[w->n_meta] = plow_strdup(value);
    w->n_meta++;
}

static bool utf8_ok(const char *s) {
    size_t n = strlen(s);
    return utf8_invalid_at((const uint8_t *)s, n) == n;
}

/* Writes s as a JSON string. Control characters become \u00XX; everything
 * else is copied, so valid UTF-8 stays as it is. */
static void json_string(plow_buf *b, const char *s) {
    plow_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            plow_buf_append(b, esc, 2);
        } else if (*p < 0x20) {
            plow_buf_printf(b, "\\u%04x", *p);
        } else {
            plow_buf_append(b, p, 1);
        }
    }
    plow_buf_append(b, "\"", 1);
}

static void buf_reserve(plow_buf *b, size_t extra) {
    size_t need;
    PLOW_ASSERT(plow_add_size(b->len, extra, &need));
    if (need > b->cap) {
        b->data = plow_realloc(b->data, need);
        b->cap = need;
    }
}

/* Checks what was added and computes each tensor's size into sizes[]. */
static int writer_check(const st_writer *w, size_t *sizes, size_t *total, char err[PLOW_ERR_LEN]) {
    size_t sum = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        if (!t->name[0]) return plow_error(err, "tensor %zu has an empty name", i);
        if (strcmp(t->name, "__metadata__") == 0)
            return plow_error(err, "'__metadata__' is reserved and cannot name a tensor");
        if (!utf8_ok(t->name)) return plow_error(err, "tensor name '%s' is not valid UTF-8", t->name);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return plow_error(err, "tensor '%s': %d dims, expected 0..%d", t->name, t->ndim,
                              ST_MAX_DIMS);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                return plow_error(err, "tensor '%s': shape[%d] is negative", t->name, d);
            if ((uint64_t)t->shape[d] > (uint64_t)JSON_INT_MAX ||
                !plow_mul_size(numel, (size_t)t->shape[d], &numel))
                return plow_error(err, "tensor '%s': element count overflows", t->name);
        }
        if (!plow_mul_size(numel, st_dtype_size(t->dtype), &sizes[i]) ||
            !plow_add_size(sum, sizes[i], &sum) || (double)sum > JSON_INT_MAX)
            return plow_error(err, "tensor '%s': byte size overflows", t->name);
        if (sizes[i] && !t->data) return plow_error(err, "tensor '%s': data is NULL", t->name);
    }
    for (size_t i = 0; i < w->n_meta; i++) {
        if (!utf8_ok(w->meta_keys[i]) || !utf8_ok(w->meta_values[i]))
            return plow_error(err, "metadata entry '%s' is not valid UTF-8", w->meta_keys[i]);
    }
    size_t nmax = w->n > w->n_meta ? w->n : w->n_meta;
    const char **names = plow_calloc(nmax, sizeof *names);
    for (size_t i = 0; i < w->n; i++) names[i] = w->t[i].name;
    const char *dup = find_duplicate(names, w->n);
    int rc = dup ? plow_error(err, "tensor '%s' was added twice", dup) : 0;
    if (rc == 0) {
        for (size_t i = 0; i < w->n_meta; i++) names[i] = w->meta_keys[i];
        dup = find_duplicate(names, w->n_meta);
        if (dup) rc = plow_error(err, "metadata key '%s' was added twice", dup);
    }
    free(names);
    *total = sum;
    return rc;
}

int st_writer_serialize(const st_writer *w, plow_buf *out, char err[PLOW_ERR_LEN]) {
    size_t *sizes = plow_calloc(w->n, sizeof *sizes);
    size_t total = 0;
    plow_buf h = {0};
    int rc = -1;
    if (writer_check(w, sizes, &total, err) != 0) goto out;

    plow_buf_append(&h, "{", 1);
    if (w->n_meta) {
        plow_buf_printf(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) plow_buf_append(&h, ",", 1);
            json_string(&h, w->meta_keys[i]);
            plow_buf_append(&h, ":", 1);
            json_string(&h, w->meta_values[i]);
        }
        plow_buf_append(&h, "}", 1);
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = &w->t[i];
        if (i || w->n_meta) plow_buf_append(&h, ",", 1);
        json_string(&h, t->name);
        plow_buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtypes[t->dtype].name);
        for (int d = 0; d < t->ndim; d++) plow_buf_printf(&h, "%s%" PRId64, d ? "," : "", t->shape[d]);
        plow_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + sizes[i]);
        off += sizes[i];
    }
    plow_buf_append(&h, "}", 1);
    while (h.len % 8) plow_buf_append(&h, " ", 1);
    if (h.len > ST_MAX_HEADER) {
        plow_error(err, "header would be %zu bytes, over the %zu-byte limit readers accept", h.len,
                   ST_MAX_HEADER);
        goto out;
    }
    size_t size;
    if (!plow_add_size(8 + h.len, total, &size)) {
        plow_error(err, "file size overflows");
        goto out;
    }
    buf_reserve(out, size);
    plow_buf_u64(out, h.len);
    plow_buf_append(out, h.data, h.len);
    for (size_t i = 0; i < w->n; i++) plow_buf_append(out, w->t[i].data, sizes[i]);
    rc = 0;
out:
    plow_buf_release(&h);
    free(sizes);
    return rc;
}

int st_writer_save(const st_writer *w, const char *path, char err[PLOW_ERR_LEN]) {
    plow_buf b = {0};
    int rc = st_writer_serialize(w, &b, err);
    if (rc == 0) rc = plow_write_file(path, b.data, b.len, err);
    plow_buf_release(&b);
    return rc;
}
