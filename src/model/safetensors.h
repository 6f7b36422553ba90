/*
 * safetensors.h — a strict reader and a deterministic writer for the
 * safetensors format (named tensors + string metadata).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the
 * data section. The JSON maps each tensor name to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the data section) and
 * may hold "__metadata__": {string: string}. docs/formats/safetensors.md
 * lists every rule the reader enforces.
 *
 * Invariants of a parsed st_file:
 *   - every tensor has a known dtype, 0..ST_MAX_DIMS non-negative dims, and
 *     nbytes == numel * st_dtype_size(dtype) with no overflow;
 *   - names are non-empty, unique, and NUL-free;
 *   - the tensors' byte ranges tile the data section exactly (no overlap, no
 *     hole, nothing after the last tensor);
 *   - tensors are listed in data-offset order (ties: header order);
 *   - data pointers point into the file's own buffer and are NOT aligned to
 *     the element size in general: memcpy before reading as float.
 *   Values are little-endian, as on every host plow supports.
 *
 * Ownership:
 *   - st_parse copies the caller's buffer (the caller keeps its own);
 *     st_load reads the file into a buffer the st_file owns. Either way,
 *     every pointer an accessor returns lives until st_free.
 *   - st_writer copies names, shapes and metadata but only keeps the tensor
 *     data pointers: the data must stay valid until the last
 *     st_writer_serialize/st_writer_save call.
 *   - st_free and st_writer_free accept NULL.
 *
 * Usage:
 *     st_writer *w = st_writer_new();
 *     int64_t shape[2] = {R, C};
 *     st_writer_add(w, "wte", ST_F32, 2, shape, wte);   // wte: float[R*C]
 *     st_writer_meta(w, "format", "plow");
 *     if (st_writer_save(w, "model.safetensors", err) != 0) ...
 *     st_writer_free(w);
 *
 *     st_file *f;
 *     if (st_load("model.safetensors", &f, err) != 0) ...
 *     const st_tensor *t = st_find(f, "wte");
 *     if (t && t->dtype == ST_F32) memcpy(dst, t->data, t->nbytes);
 *     st_free(f);
 */
#ifndef PLOW_SAFETENSORS_H
#define PLOW_SAFETENSORS_H

#include "../base/plow.h"

#define ST_MAX_DIMS 8
/* The reader refuses headers larger than this (as the reference does). */
#define ST_MAX_HEADER ((size_t)100 << 20)
/* st_load refuses files larger than this. */
#define ST_MAX_FILE PLOW_SIZE_CAP((uint64_t)1 << 40)

typedef enum st_dtype {
    ST_F64,
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_DTYPE_COUNT
} st_dtype;

/* "F32" etc.; NULL for an out-of-range value. */
const char *st_dtype_name(st_dtype t);
/* Bytes per element; 0 for an out-of-range value. */
size_t st_dtype_size(st_dtype t);

/* One tensor of a parsed file. A plain value: read the fields directly. */
typedef struct st_tensor {
    const char *name;             /* NUL-terminated */
    st_dtype dtype;
    int ndim;                     /* 0..ST_MAX_DIMS; 0 is a scalar */
    int64_t shape[ST_MAX_DIMS];   /* row-major, outermost first; unused = 0 */
    size_t numel;                 /* product of shape (1 for a scalar) */
    size_t nbytes;                /* numel * st_dtype_size(dtype) */
    size_t offset;                /* begin, relative to the data section */
    const uint8_t *data;          /* nbytes bytes inside the file buffer */
} st_tensor;

typedef struct st_file st_file;

/* Parses and validates a whole safetensors file held in memory. The st_file
 * keeps its own copy of data[0..size). On success *out is a new st_file
 * (free with st_free); on failure *out is NULL and err names the problem. */
int st_parse(const uint8_t *data, size_t size, st_file **out, char err[PLOW_ERR_LEN]);
/* Reads path (at most ST_MAX_FILE bytes) and parses it as st_parse does. */
int st_load(const char *path, st_file **out, char err[PLOW_ERR_LEN]);
void st_free(st_file *f);

size_t st_count(const st_file *f);
/* The i-th tensor in data-offset order; i < st_count(f). */
const st_tensor *st_get(const st_file *f, size_t i);
/* The tensor called name, or NULL. O(log n). */
const st_tensor *st_find(const st_file *f, const char *name);

/* __metadata__ entries, in header order. */
size_t st_meta_count(const st_file *f);
const char *st_meta_key(const st_file *f, size_t i);
const char *st_meta_value(const st_file *f, size_t i);
/* The value for key, or NULL if absent. */
const char *st_meta_get(const st_file *f, const char *key);

/* Writer. Adders never fail; problems in what was added (an empty,
 * duplicate, reserved or non-UTF-8 name, a negative dim, too many dims, a
 * size overflow) are reported by st_writer_serialize/st_writer_save.
 * The file lays tensors out in the order added, writes the metadata first
 * (keys in the order added), and pads the header JSON with spaces to a
 * multiple of 8 bytes: the same calls always give the same bytes. */
typedef struct st_writer st_writer;

st_writer *st_writer_new(void);
/* shape has ndim entries (row-major); data holds numel*dtype_size bytes and
 * may be NULL only when that is 0. */
void st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                   const void *data);
void st_writer_meta(st_writer *w, const char *key, const char *value);
/* Appends the complete file to out (which the caller owns). */
int st_writer_serialize(const st_writer *w, plow_buf *out, char err[PLOW_ERR_LEN]);
/* Serializes and writes atomically with plow_write_file. */
int st_writer_save(const st_writer *w, const char *path, char err[PLOW_ERR_LEN]);
void st_writer_free(st_writer *w);

#endif /* PLOW_SAFETENSORS_H */
