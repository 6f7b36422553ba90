/*
 * gguf.c — the GGUF writer and reader declared in gguf.h.
 *
 * The reader treats every file as hostile: each count is bounded by the
 * bytes left before anything is allocated for it, each size goes through
 * checked arithmetic, and each tensor's bytes must lie inside the file
 * without touching another tensor's. Walking the KVs is linear in the file
 * size: every element consumes at least one byte.
 *
 * Non-goals: big-endian files, mmap, writing quantized types, decoding
 * tensor data.
 */
#include "../base/plow.h"

#include "gguf.h"

#include <assert.h>
#include <inttypes.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor data is little-endian and is copied as is");
static_assert(sizeof(float) == 4, "FLOAT32 values are copied through uint32_t");

static const char MAGIC[4] = {'G', 'G', 'U', 'F'};

/* ---- type tables ------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size; /* bytes of a scalar; 0 for STRING and ARRAY */
} value_types[] = {
    [GGUF_VALUE_UINT8] = {"UINT8", 1},     [GGUF_VALUE_INT8] = {"INT8", 1},
    [GGUF_VALUE_UINT16] = {"UINT16", 2},   [GGUF_VALUE_INT16] = {"INT16", 2},
    [GGUF_VALUE_UINT32] = {"UINT32", 4},   [GGUF_VALUE_INT32] = {"INT32", 4},
    [GGUF_VALUE_FLOAT32] = {"FLOAT32", 4}, [GGUF_VALUE_BOOL] = {"BOOL", 1},
    [GGUF_VALUE_STRING] = {"STRING", 0},   [GGUF_VALUE_ARRAY] = {"ARRAY", 0},
    [GGUF_VALUE_UINT64] = {"UINT64", 8},   [GGUF_VALUE_INT64] = {"INT64", 8},
    [GGUF_VALUE_FLOAT64] = {"FLOAT64", 8},
};
static_assert(sizeof value_types / sizeof value_types[0] == GGUF_VALUE_COUNT,
              "one entry per gguf_value_type");

/* Elements per block and bytes per block, from ggml's block layouts. */
static const struct {
    const char *name;
    size_t blck, size;
} tensor_types[] = {
    [GGUF_TENSOR_F32] = {"F32", 1, 4},           [GGUF_TENSOR_F16] = {"F16", 1, 2},
    [GGUF_TENSOR_Q4_0] = {"Q4_0", 32, 18},       [GGUF_TENSOR_Q4_1] = {"Q4_1", 32, 20},
    [GGUF_TENSOR_Q5_0] = {"Q5_0", 32, 22},       [GGUF_TENSOR_Q5_1] = {"Q5_1", 32, 24},
    [GGUF_TENSOR_Q8_0] = {"Q8_0", 32, 34},       [GGUF_TENSOR_Q8_1] = {"Q8_1", 32, 36},
    [GGUF_TENSOR_Q2_K] = {"Q2_K", 256, 84},      [GGUF_TENSOR_Q3_K] = {"Q3_K", 256, 110},
    [GGUF_TENSOR_Q4_K] = {"Q4_K", 256, 144},     [GGUF_TENSOR_Q5_K] = {"Q5_K", 256, 176},
    [GGUF_TENSOR_Q6_K] = {"Q6_K", 256, 210},     [GGUF_TENSOR_Q8_K] = {"Q8_K", 256, 292},
    [GGUF_TENSOR_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [GGUF_TENSOR_IQ2_XS] = {"IQ2_XS", 256, 74},
    [GGUF_TENSOR_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [GGUF_TENSOR_IQ1_S] = {"IQ1_S", 256, 50},
    [GGUF_TENSOR_IQ4_NL] = {"IQ4_NL", 32, 18},   [GGUF_TENSOR_IQ3_S] = {"IQ3_S", 256, 110},
    [GGUF_TENSOR_IQ2_S] = {"IQ2_S", 256, 82},    [GGUF_TENSOR_IQ4_XS] = {"IQ4_XS", 256, 136},
    [GGUF_TENSOR_I8] = {"I8", 1, 1},             [GGUF_TENSOR_I16] = {"I16", 1, 2},
    [GGUF_TENSOR_I32] = {"I32", 1, 4},           [GGUF_TENSOR_I64] = {"I64", 1, 8},
    [GGUF_TENSOR_F64] = {"F64", 1, 8},           [GGUF_TENSOR_IQ1_M] = {"IQ1_M", 256, 56},
    [GGUF_TENSOR_BF16] = {"BF16", 1, 2},         [GGUF_TENSOR_TQ1_0] = {"TQ1_0", 256, 54},
    [GGUF_TENSOR_TQ2_0] = {"TQ2_0", 256, 66},    [GGUF_TENSOR_MXFP4] = {"MXFP4", 32, 17},
};
static_assert(sizeof tensor_types / sizeof tensor_types[0] == GGUF_TENSOR_TYPE_COUNT,
              "one entry per ggml type number");

const char *gguf_tensor_type_name(gguf_tensor_type t) {
    return (unsigned)t < GGUF_TENSOR_TYPE_COUNT ? tensor_types[t].name : NULL;
}

static const char *vname(uint32_t t) {
    return t < GGUF_VALUE_COUNT ? value_types[t].name : "unknown";
}

/* ---- reader -------------------------------------------------------------- */

typedef struct gkv {
    char *key;
    gguf_value_type type;
    size_t pos;           /* of the value, just after the type field */
    gguf_value_type elem; /* ARRAY only */
    size_t n;             /* ARRAY only */
    size_t *str_pos;      /* ARRAY of STRING: where each element's length is */
} gkv;

struct gguf_file {
    uint8_t *buf; /* the whole file; owned */
    size_t size;
    uint32_t version;
    size_t alignment;
    gkv *kv;
    size_t n_kv;
    const gkv **kv_by_key;
    gguf_tensor *t;
    size_t n_t;
    const gguf_tensor **t_by_name;
};

void gguf_free(gguf_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].str_pos);
    }
    for (size_t i = 0; i < f->n_t; i++) free((char *)f->t[i].name);
    free(f->kv);
    free(f->kv_by_key);
    free(f->t);
    free(f->t_by_name);
    free(f->buf);
    free(f);
}

/* A bounds-checked read position in the file. */
typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static int truncated(const cursor *c, const char *what, char err[PLOW_ERR_LEN]) {
    return plow_error(err, "file ends at byte %zu while reading %s", c->size, what);
}

static int read_u32(cursor *c, uint32_t *v, const char *what, char err[PLOW_ERR_LEN]) {
    if (left(c) < 4) return truncated(c, what, err);
    *v = plow_get_u32(c->p + c->pos);
    c->pos += 4;
    return 0;
}

static int read_u64(cursor *c, uint64_t *v, const char *what, char err[PLOW_ERR_LEN]) {
    if (left(c) < 8) return truncated(c, what, err);
    *v = plow_get_u64(c->p + c->pos);
    c->pos += 8;
    return 0;
}

/* Reads a GGUF string; *s points into the file. */
static int read_str(cursor *c, const uint8_t **s, size_t *len, const char *what,
                    char err[PLOW_ERR_LEN]) {
    uint64_t n = 0;
    size_t at = c->pos;
    if (read_u64(c, &n, what, err) != 0) return -1;
    if (n > left(c))
        return plow_error(err, "%s at byte %zu has length %" PRIu64 ", past the %zu bytes left",
                          what, at, n, left(c));
    *s = c->p + c->pos;
    *len = (size_t)n;
    c->pos += (size_t)n;
    return 0;
}

static int skip_value(cursor *c, uint32_t type, int depth, const char *key, gkv *rec,
                      char err[PLOW_ERR_LEN]);

/* Reads an array value. rec (the top-level KV, or NULL inside nested
 * arrays) gets the element type and count, and for strings where each
 * element is. */
static int skip_array(cursor *c, int depth, const char *key, gkv *rec, char err[PLOW_ERR_LEN]) {
    if (depth >= GGUF_MAX_NESTING)
        return plow_error(err, "key '%s': arrays nested deeper than %d", key, GGUF_MAX_NESTING);
    uint32_t elem;
    uint64_t n;
    if (read_u32(c, &elem, "an array type", err) != 0 ||
        read_u64(c, &n, "an array length", err) != 0)
        return -1;
    if (elem >= GGUF_VALUE_COUNT)
        return plow_error(err, "key '%s': array of unknown value type %" PRIu32, key, elem);
    /* The fewest bytes one element can take: a bound on n before any loop
     * or allocation. */
    size_t min = elem == GGUF_VALUE_STRING ? 8 : elem == GGUF_VALUE_ARRAY ? 12 : value_types[elem].size;
    if (n > left(c) / min)
        return plow_error(err,
                          "key '%s': array of %" PRIu64 " %s elements cannot fit in the %zu bytes left",
                          key, n, value_types[elem].name, left(c));
    if (rec) {
        rec->elem = (gguf_value_type)elem;
        rec->n = (size_t)n;
        if (elem == GGUF_VALUE_STRING) rec->str_pos = plow_calloc((size_t)n, sizeof *rec->str_pos);
    }
    if (elem != GGUF_VALUE_STRING && elem != GGUF_VALUE_ARRAY && elem != GGUF_VALUE_BOOL) {
        c->pos += (size_t)n * min;
        return 0;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        if (rec && elem == GGUF_VALUE_STRING) rec->str_pos[i] = c->pos;
        if (skip_value(c, elem, depth + 1, key, NULL, err) != 0) return -1;
    }
    return 0;
}

static int skip_value(cursor *c, uint32_t type, int depth, const char *key, gkv *rec,
                      char err[PLOW_ERR_LEN]) {
    if (type >= GGUF_VALUE_COUNT)
        return plow_error(err, "key '%s': unknown value type %" PRIu32, key, type);
    if (type == GGUF_VALUE_ARRAY) return skip_array(c, depth, key, rec, err);
    if (type == GGUF_VALUE_STRING) {
        const uint8_t *s;
        size_t len;
        return read_str(c, &s, &len, "a string value", err);
    }
    size_t n = value_types[type].size;
    if (left(c) < n) return truncated(c, "a value", err);
    if (type == GGUF_VALUE_BOOL && c->p[c->pos] > 1)
        return plow_error(err, "key '%s': BOOL value %u at byte %zu is neither 0 nor 1", key,
                          c->p[c->pos], c->pos);
    c->pos += n;
    return 0;
}

static int cmp_kv_key(const void *a, const void *b) {
    return strcmp((*(const gkv *const *)a)->key, (*(const gkv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Reads a key or tensor name into a new NUL-terminated string. */
static int read_name(cursor *c, size_t max, const char *what, size_t index, char **out,
                     char err[PLOW_ERR_LEN]) {
    const uint8_t *s;
    size_t len;
    if (read_str(c, &s, &len, what, err) != 0) return -1;
    if (len == 0) return plow_error(err, "%s %zu is empty", what, index);
    if (len > max)
        return plow_error(err, "%s %zu is %zu bytes long, at most %zu allowed", what, index, len, max);
    if (memchr(s, 0, len))
        return plow_error(err, "%s %zu contains a NUL byte", what, index);
    char *p = plow_alloc(len + 1);
    memcpy(p, s, len);
    p[len] = 0;
    *out = p;
    return 0;
}

static int parse_kvs(gguf_file *f, cursor *c, uint64_t n_kv, char err[PLOW_ERR_LEN]) {
    f->kv = plow_calloc((size_t)n_kv, sizeof *f->kv);
    for (size_t i = 0; i < (size_t)n_kv; i++) {
        gkv *k = &f->kv[i];
        if (read_name(c, GGUF_MAX_KEY, "key", i, &k->key, err) != 0) return -1;
        f->n_kv++;
        uint32_t type;
        if (read_u32(c, &type, "a value type", err) != 0) return -1;
        k->type = (gguf_value_type)type;
        k->pos = c->pos;
        if (skip_value(c, type, 0, k->key, k, err) != 0) return -1;
    }
    f->kv_by_key = plow_calloc(f->n_kv, sizeof *f->kv_by_key);
    for (size_t i = 0; i < f->n_kv; i++) f->kv_by_key[i] = &f->kv[i];
    qsort(f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, cmp_kv_key);
    for (size_t i = 1; i < f->n_kv; i++) {
        if (strcmp(f->kv_by_key[i - 1]->key, f->kv_by_key[i]->key) == 0)
            return plow_error(err, "key '%s' appears twice", f->kv_by_key[i]->key);
    }
    f->alignment = GGUF_ALIGNMENT;
    int64_t ai = gguf_kv_find(f, "general.alignment");
    if (ai >= 0) {
        const gkv *k = &f->kv[ai];
        if (k->type != GGUF_VALUE_UINT32)
            return plow_error(err, "general.alignment has type %s, expected UINT32", vname(k->type));
        uint32_t a = plow_get_u32(f->buf + k->pos);
        if (a == 0 || (a & (a - 1)) != 0)
            return plow_error(err, "general.alignment %" PRIu32 " is not a power of two", a);
        f->alignment = a;
    }
    return 0;
}

static int parse_tensor_info(gguf_file *f, cursor *c, size_t i, char err[PLOW_ERR_LEN]) {
    gguf_tensor *t = &f->t[i];
    char *name;
    if (read_name(c, GGUF_MAX_NAME, "tensor name", i, &name, err) != 0) return -1;
    t->name = name;
    f->n_t++;
    uint32_t n_dims, type;
    if (read_u32(c, &n_dims, "a tensor's dim count", err) != 0) return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return plow_error(err, "tensor '%s': %" PRIu32 " dims, expected 1..%d", name, n_dims,
                          GGUF_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t numel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < n_dims) {
            if (read_u64(c, &ne, "a tensor dim", err) != 0) return -1;
            if (ne == 0 || ne > INT64_MAX)
                return plow_error(err, "tensor '%s': ne[%d] = %" PRIu64 " is out of range", name, d, ne);
        }
        t->ne[d] = (int64_t)ne;
        if (!plow_mul_u64(numel, ne, &numel) || numel > INT64_MAX || numel > SIZE_MAX)
            return plow_error(err, "tensor '%s': element count overflows", name);
    }
    if (read_u32(c, &type, "a tensor type", err) != 0) return -1;
    if (type >= GGUF_TENSOR_TYPE_COUNT || !tensor_types[type].name)
        return plow_error(err, "tensor '%s': unknown ggml type %" PRIu32, name, type);
    t->type = (gguf_tensor_type)type;
    size_t blck = tensor_types[type].blck;
    if ((uint64_t)t->ne[0] % blck != 0)
        return plow_error(err, "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %zu",
                          name, t->ne[0], tensor_types[type].name, blck);
    t->numel = (size_t)numel;
    if (!plow_mul_size(t->numel / blck, tensor_types[type].size, &t->nbytes))
        return plow_error(err, "tensor '%s': byte size overflows", name);
    if (read_u64(c, &t->offset, "a tensor offset", err) != 0) return -1;
    if (t->offset % f->alignment != 0)
        return plow_error(err, "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %zu",
                          name, t->offset, f->alignment);
    return 0;
}

/* Parses buf[0..size), taking ownership of buf whatever the outcome. */
static int parse_owned(uint8_t *buf, size_t size, gguf_file **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    int rc = -1;
    const gguf_tensor **by_off = NULL;
    gguf_file *f = plow_calloc(1, sizeof *f);
    f->buf = buf;
    f->size = size;
    cursor c = {buf, size, 0};

    if (size < 4 || memcmp(buf, MAGIC, 4) != 0) {
        plow_error(err, "not a GGUF file (bad magic)");
        goto out;
    }
    c.pos = 4;
    uint64_t n_t, n_kv;
    if (read_u32(&c, &f->version, "the version", err) != 0) goto out;
    if (f->version != 2 && f->version != 3) {
        if (f->version == 1)
            plow_error(err, "GGUF version 1 is not supported (it uses 32-bit counts)");
        else if ((f->version & 0xFFFF) == 0)
            plow_error(err, "GGUF version 0x%08" PRIx32 " looks byte-swapped: big-endian files are not supported",
                       f->version);
        else
            plow_error(err, "unsupported GGUF version %" PRIu32 " (expected 2 or 3)", f->version);
        goto out;
    }
    if (read_u64(&c, &n_t, "the tensor count", err) != 0 ||
        read_u64(&c, &n_kv, "the KV count", err) != 0)
        goto out;
    /* A KV takes at least 14 bytes (key length, a 1-byte key, type, a
     * 1-byte value) and a tensor info at least 33: bound both counts by
     * the bytes left before allocating for them. */
    if (n_kv > left(&c) / 14) {
        plow_error(err, "KV count %" PRIu64 " cannot fit in the %zu bytes left", n_kv, left(&c));
        goto out;
    }
    if (n_t > left(&c) / 33) {
        plow_error(err, "tensor count %" PRIu64 " cannot fit in the %zu bytes left", n_t, left(&c));
        goto out;
    }
    if (parse_kvs(f, &c, n_kv, err) != 0) goto out;

    f->t = plow_calloc((size_t)n_t, sizeof *f->t);
    for (size_t i = 0; i < (size_t)n_t; i++) {
        if (parse_tensor_info(f, &c, i, err) != 0) goto out;
    }

    /* The data section starts at the next multiple of the alignment. A file
     * without tensors may end before that. */
    size_t data_start = c.pos, data_size = 0;
    size_t rem = c.pos % f->alignment;
    if (rem && !plow_add_size(c.pos, f->alignment - rem, &data_start)) data_start = SIZE_MAX;
    if (data_start <= size) {
        data_size = size - data_start;
    } else if (f->n_t) {
        plow_error(err, "data section would start at byte %zu, past the end of the %zu-byte file",
                   data_start, size);
        goto out;
    }
    for (size_t i = 0; i < f->n_t; i++) {
        gguf_tensor *t = &f->t[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            plow_error(err,
                       "tensor '%s': data at offset %" PRIu64 " (%zu bytes) runs past the end of the "
                       "%zu-byte data section",
                       t->name, t->offset, t->nbytes, data_size);
            goto out;
        }
        t->data = buf + data_start + t->offset;
    }

    by_off = plow_calloc(f->n_t, sizeof *by_off);
    f->t_by_name = plow_calloc(f->n_t, sizeof *f->t_by_name);
    for (size_t i = 0; i < f->n_t; i++) by_off[i] = f->t_by_name[i] = &f->t[i];
    qsort(by_off, f->n_t, sizeof *by_off, cmp_tensor_offset);
    for (size_t i = 1; i < f->n_t; i++) {
        if (by_off[i]->offset < by_off[i - 1]->offset + by_off[i - 1]->nbytes) {
            plow_error(err, "tensors '%s' and '%s' overlap in the data section", by_off[i - 1]->name,
                       by_off[i]->name);
            goto out;
        }
    }
    qsort(f->t_by_name, f->n_t, sizeof *f->t_by_name, cmp_tensor_name);
    for (size_t i = 1; i < f->n_t; i++) {
        if (strcmp(f->t_by_name[i - 1]->name, f->t_by_name[i]->name) == 0) {
            plow_error(err, "tensor '%s' appears twice", f->t_by_name[i]->name);
            goto out;
        }
    }
    *out = f;
    f = NULL;
    rc = 0;
out:
    free(by_off);
    gguf_free(f);
    return rc;
}

int gguf_parse(const uint8_t *data, size_t size, gguf_file **out, char err[PLOW_ERR_LEN]) {
    uint8_t *copy = plow_alloc_aligned(size);
    if (size) memcpy(copy, data, size);
    return parse_owned(copy, size, out, err);
}

int gguf_load(const char *path, gguf_file **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint8_t *buf;
    size_t size;
    if (plow_read_file(path, GGUF_MAX_FILE, &buf, &size, err) != 0) return -1;
    if (parse_owned(buf, size, out, err) == 0) return 0;
    return plow_error_prefix(err, path);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
size_t gguf_alignment(const gguf_file *f) { return f->alignment; }
size_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }

const char *gguf_kv_key(const gguf_file *f, size_t i) {
    PLOW_ASSERT(i < f->n_kv);
    return f->kv[i].key;
}

gguf_value_type gguf_kv_type(const gguf_file *f, size_t i) {
    PLOW_ASSERT(i < f->n_kv);
    return f->kv[i].type;
}

int64_t gguf_kv_find(const gguf_file *f, const char *key) {
    size_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->kv_by_key[mid]->key, key);
        if (c == 0) return (int64_t)(f->kv_by_key[mid] - f->kv);
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* The KV for key if it has the given type (and, for arrays, element type). */
static const gkv *typed(const gguf_file *f, const char *key, gguf_value_type type,
                        gguf_value_type elem, char err[PLOW_ERR_LEN]) {
    int64_t i = gguf_kv_find(f, key);
    if (i < 0) {
        plow_error(err, "key '%s' not found", key);
        return NULL;
    }
    const gkv *k = &f->kv[i];
    if (k->type != type) {
        plow_error(err, "key '%s' has type %s, expected %s", key, vname(k->type), vname(type));
        return NULL;
    }
    if (type == GGUF_VALUE_ARRAY && k->elem != elem) {
        plow_error(err, "key '%s' is an array of %s, expected %s", key, vname(k->elem), vname(elem));
        return NULL;
    }
    return k;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_UINT32, 0, err);
    if (!k) return -1;
    *out = plow_get_u32(f->buf + k->pos);
    return 0;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_INT32, 0, err);
    if (!k) return -1;
    *out = (int32_t)plow_get_u32(f->buf + k->pos);
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_UINT64, 0, err);
    if (!k) return -1;
    *out = plow_get_u64(f->buf + k->pos);
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_FLOAT32, 0, err);
    if (!k) return -1;
    uint32_t bits = plow_get_u32(f->buf + k->pos);
    memcpy(out, &bits, 4);
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_BOOL, 0, err);
    if (!k) return -1;
    *out = f->buf[k->pos] != 0;
    return 0;
}

/* A string at pos, already validated by the parser. */
static void str_at(const gguf_file *f, size_t pos, const char **s, size_t *len) {
    *len = (size_t)plow_get_u64(f->buf + pos);
    *s = (const char *)f->buf + pos + 8;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len,
                 char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_STRING, 0, err);
    if (!k) return -1;
    str_at(f, k->pos, s, len);
    return 0;
}

int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_value_type *elem, size_t *n,
                      char err[PLOW_ERR_LEN]) {
    int64_t i = gguf_kv_find(f, key);
    if (i < 0) return plow_error(err, "key '%s' not found", key);
    const gkv *k = &f->kv[i];
    if (k->type != GGUF_VALUE_ARRAY)
        return plow_error(err, "key '%s' has type %s, expected ARRAY", key, vname(k->type));
    *elem = k->elem;
    *n = k->n;
    return 0;
}

int gguf_get_arr_str(const gguf_file *f, const char *key, size_t i, const char **s, size_t *len,
                     char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_ARRAY, GGUF_VALUE_STRING, err);
    if (!k) return -1;
    if (i >= k->n) return plow_error(err, "key '%s': index %zu is past the %zu elements", key, i, k->n);
    str_at(f, k->str_pos[i], s, len);
    return 0;
}

/* Copies a whole array of 4-byte elements. */
static int get_arr4(const gguf_file *f, const char *key, gguf_value_type elem, void *out, size_t n,
                    char err[PLOW_ERR_LEN]) {
    const gkv *k = typed(f, key, GGUF_VALUE_ARRAY, elem, err);
    if (!k) return -1;
    if (n != k->n)
        return plow_error(err, "key '%s' has %zu elements, caller expected %zu", key, k->n, n);
    const uint8_t *p = f->buf + k->pos + 12; /* after element type and count */
    for (size_t i = 0; i < n; i++) {
        uint32_t v = plow_get_u32(p + 4 * i);
        memcpy((uint8_t *)out + 4 * i, &v, 4);
    }
    return 0;
}

int gguf_get_arr_i32(const gguf_file *f, const char *key, int32_t *out, size_t n,
                     char err[PLOW_ERR_LEN]) {
    return get_arr4(f, key, GGUF_VALUE_INT32, out, n, err);
}

int gguf_get_arr_f32(const gguf_file *f, const char *key, float *out, size_t n,
                     char err[PLOW_ERR_LEN]) {
    return get_arr4(f, key, GGUF_VALUE_FLOAT32, out, n, err);
}

size_t gguf_tensor_count(const gguf_file *f) { return f->n_t; }

const gguf_tensor *gguf_tensor_get(const gguf_file *f, size_t i) {
    PLOW_ASSERT(i < f->n_t);
    return &f->t[i];
}

const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name) {
    size_t lo = 0, hi = f->n_t;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t_by_name[mid]->name, name);
        if (c == 0) return f->t_by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- writer -------------------------------------------------------------- */

typedef struct wkv {
    char *key;
    plow_buf val; /* the value type and the value, as written */
} wkv;

typedef struct wtensor {
    char *name;
    gguf_tensor_type type;
    int ndim;
    int64_t shape[GGUF_MAX_DIMS]; /* row-major */
    const void *data;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

gguf_writer *gguf_writer_new(void) { return plow_calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        plow_buf_release(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Starts a KV and returns the buffer its value goes into. */
static plow_buf *kv_begin(gguf_writer *w, const char *key, gguf_value_type type) {
    PLOW_ASSERT(w && key);
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
        w->kv = plow_realloc(w->kv, w->cap_kv * sizeof *w->kv);
    }
    wkv *k = &w->kv[w->n_kv++];
    k->key = plow_strdup(key);
    k->val = (plow_buf){0};
    plow_buf_u32(&k->val, type);
    return &k->val;
}

static void put_str(plow_buf *b, const void *s, size_t len) {
    plow_buf_u64(b, len);
    plow_buf_append(b, s, len);
}

static void put_f32(plow_buf *b, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    plow_buf_u32(b, bits);
}

void gguf_writer_kv_u32(gguf_writer *w, const char *key, uint32_t v) {
    plow_buf_u32(kv_begin(w, key, GGUF_VALUE_UINT32), v);
}

void gguf_writer_kv_i32(gguf_writer *w, const char *key, int32_t v) {
    plow_buf_u32(kv_begin(w, key, GGUF_VALUE_INT32), (uint32_t)v);
}

void gguf_writer_kv_u64(gguf_writer *w, const char *key, uint64_t v) {
    plow_buf_u64(kv_begin(w, key, GGUF_VALUE_UINT64), v);
}

void gguf_writer_kv_f32(gguf_writer *w, const char *key, float v) {
    put_f32(kv_begin(w, key, GGUF_VALUE_FLOAT32), v);
}

void gguf_writer_kv_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    plow_buf_append(kv_begin(w, key, GGUF_VALUE_BOOL), &b, 1);
}

void gguf_writer_kv_str(gguf_writer *w, const char *key, const char *s) {
    PLOW_ASSERT(s);
    gguf_writer_kv_strn(w, key, s, strlen(s));
}

void gguf_writer_kv_strn(gguf_writer *w, const char *key, const char *s, size_t len) {
    PLOW_ASSERT(s || len == 0);
    put_str(kv_begin(w, key, GGUF_VALUE_STRING), s, len);
}

static plow_buf *arr_begin(gguf_writer *w, const char *key, gguf_value_type elem, size_t n) {
    plow_buf *b = kv_begin(w, key, GGUF_VALUE_ARRAY);
    plow_buf_u32(b, elem);
    plow_buf_u64(b, n);
    return b;
}

void gguf_writer_kv_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, size_t n) {
    PLOW_ASSERT(strs || n == 0);
    plow_buf *b = arr_begin(w, key, GGUF_VALUE_STRING, n);
    for (size_t i = 0; i < n; i++) put_str(b, strs[i], lens ? lens[i] : strlen(strs[i]));
}

void gguf_writer_kv_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    PLOW_ASSERT(v || n == 0);
    plow_buf *b = arr_begin(w, key, GGUF_VALUE_INT32, n);
    for (size_t i = 0; i < n; i++) plow_buf_u32(b, (uint32_t)v[i]);
}

void gguf_writer_kv_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n) {
    PLOW_ASSERT(v || n == 0);
    plow_buf *b = arr_begin(w, key, GGUF_VALUE_FLOAT32, n);
    for (size_t i = 0; i < n; i++) put_f32(b, v[i]);
}

void gguf_writer_tensor(gguf_writer *w, const char *name, gguf_tensor_type type, int ndim,
                        const int64_t *shape_rowmajor, const void *data) {
    PLOW_ASSERT(w && name && data && (ndim <= 0 || shape_rowmajor));
    PLOW_ASSERT(type == GGUF_TENSOR_F32 || type == GGUF_TENSOR_F16);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 16;
        w->t = plow_realloc(w->t, w->cap_t * sizeof *w->t);
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = plow_strdup(name);
    t->type = type;
    t->ndim = ndim; /* checked by serialize */
    if (ndim > 0 && ndim <= GGUF_MAX_DIMS)
        memcpy(t->shape, shape_rowmajor, (size_t)ndim * sizeof *shape_rowmajor);
    t->data = data;
}

void gguf_writer_tensor_f32(gguf_writer *w, const char *name, int ndim,
                            const int64_t *shape_rowmajor, const float *data) {
    gguf_writer_tensor(w, name, GGUF_TENSOR_F32, ndim, shape_rowmajor, data);
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts names and returns one that occurs twice, or NULL. */
static const char *find_duplicate(const char **names, size_t n) {
    if (n < 2) return NULL;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    }
    return NULL;
}

static bool align_up(size_t x, size_t *out) {
    size_t rem = x % GGUF_ALIGNMENT;
    if (!rem) {
        *out = x;
        return true;
    }
    return plow_add_size(x, GGUF_ALIGNMENT - rem, out);
}

/* Checks what was added; fills each tensor's byte size and data offset and
 * the data section's total size. */
static int writer_check(const gguf_writer *w, size_t *sizes, size_t *offsets, size_t *total,
                        char err[PLOW_ERR_LEN]) {
    for (size_t i = 0; i < w->n_kv; i++) {
        const char *key = w->kv[i].key;
        size_t len = strlen(key);
        if (len == 0) return plow_error(err, "KV %zu has an empty key", i);
        if (len > GGUF_MAX_KEY) return plow_error(err, "key '%.64s...' is longer than %d bytes", key, GGUF_MAX_KEY);
        if (strcmp(key, "general.alignment") == 0)
            return plow_error(err, "key 'general.alignment' is reserved: the writer sets it");
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        if (len == 0) return plow_error(err, "tensor %zu has an empty name", i);
        if (len > GGUF_MAX_NAME)
            return plow_error(err, "tensor name '%s' is longer than %d bytes", t->name, GGUF_MAX_NAME);
        if (t->ndim < 1 || t->ndim > GGUF_MAX_DIMS)
            return plow_error(err, "tensor '%s': %d dims, expected 1..%d", t->name, t->ndim, GGUF_MAX_DIMS);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 1)
                return plow_error(err, "tensor '%s': shape[%d] = %" PRId64 ", expected >= 1", t->name,
                                  d, t->shape[d]);
            if (!plow_mul_size(numel, (size_t)t->shape[d], &numel) || numel > INT64_MAX)
                return plow_error(err, "tensor '%s': element count overflows", t->name);
        }
        offsets[i] = off;
        if (!plow_mul_size(numel, tensor_types[t->type].size, &sizes[i]) ||
            !plow_add_size(off, sizes[i], &off) || !align_up(off, &off))
            return plow_error(err, "tensor '%s': byte size overflows", t->name);
    }
    *total = off;

    size_t nmax = w->n_kv > w->n_t ? w->n_kv : w->n_t;
    const char **names = plow_calloc(nmax, sizeof *names);
    for (size_t i = 0; i < w->n_kv; i++) names[i] = w->kv[i].key;
    const char *dup = find_duplicate(names, w->n_kv);
    int rc = dup ? plow_error(err, "key '%s' was added twice", dup) : 0;
    if (rc == 0) {
        for (size_t i = 0; i < w->n_t; i++) names[i] = w->t[i].name;
        dup = find_duplicate(names, w->n_t);
        if (dup) rc = plow_error(err, "tensor '%s' was added twice", dup);
    }
    free(names);
    return rc;
}

static void pad_to_alignment(plow_buf *b, size_t start) {
    static const uint8_t zeros[GGUF_ALIGNMENT];
    size_t rem = (b->len - start) % GGUF_ALIGNMENT;
    if (rem) plow_buf_append(b, zeros, GGUF_ALIGNMENT - rem);
}

int gguf_writer_serialize(const gguf_writer *w, plow_buf *out, char err[PLOW_ERR_LEN]) {
    size_t *sizes = plow_calloc(w->n_t, sizeof *sizes);
    size_t *offsets = plow_calloc(w->n_t, sizeof *offsets);
    size_t total = 0;
    int rc = -1;
    if (writer_check(w, sizes, offsets, &total, err) != 0) goto out;

    size_t start = out->len;
    plow_buf_append(out, MAGIC, 4);
    plow_buf_u32(out, GGUF_VERSION);
    plow_buf_u64(out, w->n_t);
    plow_buf_u64(out, w->n_kv + 1);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(out, w->kv[i].key, strlen(w->kv[i].key));
        plow_buf_append(out, w->kv[i].val.data, w->kv[i].val.len);
    }
    put_str(out, "general.alignment", strlen("general.alignment"));
    plow_buf_u32(out, GGUF_VALUE_UINT32);
    plow_buf_u32(out, GGUF_ALIGNMENT);
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(out, t->name, strlen(t->name));
        plow_buf_u32(out, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) plow_buf_u64(out, (uint64_t)t->shape[d]);
        plow_buf_u32(out, t->type);
        plow_buf_u64(out, offsets[i]);
    }
    pad_to_alignment(out, start);
    size_t need;
    if (!plow_add_size(out->len, total, &need)) {
        plow_error(err, "file size overflows");
        goto out;
    }
    if (need > out->cap) {
        out->data = plow_realloc(out->data, need);
        out->cap = need;
    }
    for (size_t i = 0; i < w->n_t; i++) {
        plow_buf_append(out, w->t[i].data, sizes[i]);
        pad_to_alignment(out, start);
    }
    rc = 0;
out:
    free(sizes);
    free(offsets);
    return rc;
}

int gguf_writer_save(const gguf_writer *w, const char *path, char err[PLOW_ERR_LEN]) {
    plow_buf b = {0};
    int rc = gguf_writer_serialize(w, &b, err);
    if (rc == 0) rc = plow_write_file(path, b.data, b.len, err);
    plow_buf_release(&b);
    return rc;
}
