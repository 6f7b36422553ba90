/*
 * gguf.h — a deterministic GGUF v3 writer and a strict GGUF v2/v3 reader.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 KV
 * count; the KVs (string key, u32 value type, value); the tensor infos
 * (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset into
 * the data section); zero padding to the alignment; the data section.
 * Strings are u64 length + bytes, no NUL. docs/formats/gguf.md lists every
 * rule the reader enforces.
 *
 * Dimension order: GGUF stores dims in GGML order, ne[0] being the
 * innermost (contiguous) one. The writer takes the usual row-major shape
 * {rows, cols} and writes ne = {cols, rows}; the reader gives ne as stored.
 *
 * Invariants of a parsed gguf_file:
 *   - version is 2 or 3; keys are unique, non-empty and NUL-free;
 *   - every tensor has 1..GGUF_MAX_DIMS dims, each >= 1, a known type, an
 *     offset that is a multiple of the alignment, and nbytes inside the file
 *     computed without overflow; no two tensors share a byte; names are
 *     unique, 1..GGUF_MAX_NAME bytes and NUL-free;
 *   - strings and array contents point into the file buffer and are not
 *     NUL-terminated (keys and tensor names are NUL-terminated copies);
 *     tensor data is aligned within the file, not necessarily in memory.
 *
 * Ownership:
 *   - gguf_parse copies the caller's buffer; gguf_load reads the file into a
 *     buffer the gguf_file owns. Every pointer an accessor returns lives
 *     until gguf_free.
 *   - gguf_writer copies keys, values, names and shapes, but keeps only the
 *     tensor data pointers: tensor data must stay valid until the last
 *     gguf_writer_serialize/gguf_writer_save call.
 *   - gguf_free and gguf_writer_free accept NULL.
 *
 * Usage:
 *     gguf_writer *w = gguf_writer_new();
 *     gguf_writer_kv_str(w, "general.architecture", "llama");
 *     gguf_writer_kv_u32(w, "llama.block_count", L);
 *     int64_t shape[2] = {V, C};                     // row-major
 *     gguf_writer_tensor_f32(w, "token_embd.weight", 2, shape, wte);
 *     if (gguf_writer_save(w, "model.gguf", err) != 0) ...   // ne = {C, V}
 *     gguf_writer_free(w);
 *
 *     gguf_file *f;
 *     uint32_t L;
 *     if (gguf_load("model.gguf", &f, err) != 0 ||
 *         gguf_get_u32(f, "llama.block_count", &L, err) != 0) ...
 *     const gguf_tensor *t = gguf_tensor_find(f, "token_embd.weight");
 *     gguf_free(f);
 */
#ifndef PLOW_GGUF_H
#define PLOW_GGUF_H

#include "../base/plow.h"

#define GGUF_VERSION 3
#define GGUF_ALIGNMENT 32      /* what the writer uses; the reader's default */
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 63       /* longest tensor name, in bytes (ggml's limit) */
#define GGUF_MAX_KEY 65535     /* longest key, in bytes (the spec's limit) */
#define GGUF_MAX_NESTING 4     /* deepest array-of-array the reader accepts */
#define GGUF_MAX_FILE PLOW_SIZE_CAP((uint64_t)1 << 40)

typedef enum gguf_value_type {
    GGUF_VALUE_UINT8 = 0,
    GGUF_VALUE_INT8 = 1,
    GGUF_VALUE_UINT16 = 2,
    GGUF_VALUE_INT16 = 3,
    GGUF_VALUE_UINT32 = 4,
    GGUF_VALUE_INT32 = 5,
    GGUF_VALUE_FLOAT32 = 6,
    GGUF_VALUE_BOOL = 7,
    GGUF_VALUE_STRING = 8,
    GGUF_VALUE_ARRAY = 9,
    GGUF_VALUE_UINT64 = 10,
    GGUF_VALUE_INT64 = 11,
    GGUF_VALUE_FLOAT64 = 12,
    GGUF_VALUE_COUNT
} gguf_value_type;

/* ggml tensor types, numbered as in the GGUF spec. Gaps are types ggml
 * removed; the reader refuses them. The writer emits only F32 and F16. */
typedef enum gguf_tensor_type {
    GGUF_TENSOR_F32 = 0,
    GGUF_TENSOR_F16 = 1,
    GGUF_TENSOR_Q4_0 = 2,
    GGUF_TENSOR_Q4_1 = 3,
    GGUF_TENSOR_Q5_0 = 6,
    GGUF_TENSOR_Q5_1 = 7,
    GGUF_TENSOR_Q8_0 = 8,
    GGUF_TENSOR_Q8_1 = 9,
    GGUF_TENSOR_Q2_K = 10,
    GGUF_TENSOR_Q3_K = 11,
    GGUF_TENSOR_Q4_K = 12,
    GGUF_TENSOR_Q5_K = 13,
    GGUF_TENSOR_Q6_K = 14,
    GGUF_TENSOR_Q8_K = 15,
    GGUF_TENSOR_IQ2_XXS = 16,
    GGUF_TENSOR_IQ2_XS = 17,
    GGUF_TENSOR_IQ3_XXS = 18,
    GGUF_TENSOR_IQ1_S = 19,
    GGUF_TENSOR_IQ4_NL = 20,
    GGUF_TENSOR_IQ3_S = 21,
    GGUF_TENSOR_IQ2_S = 22,
    GGUF_TENSOR_IQ4_XS = 23,
    GGUF_TENSOR_I8 = 24,
    GGUF_TENSOR_I16 = 25,
    GGUF_TENSOR_I32 = 26,
    GGUF_TENSOR_I64 = 27,
    GGUF_TENSOR_F64 = 28,
    GGUF_TENSOR_IQ1_M = 29,
    GGUF_TENSOR_BF16 = 30,
    GGUF_TENSOR_TQ1_0 = 34,
    GGUF_TENSOR_TQ2_0 = 35,
    GGUF_TENSOR_MXFP4 = 39,
    GGUF_TENSOR_TYPE_COUNT = 40
} gguf_tensor_type;

/* "F32", "Q4_K" etc.; NULL for an unknown or removed type. */
const char *gguf_tensor_type_name(gguf_tensor_type t);

/* ---- reader -------------------------------------------------------------- */

typedef struct gguf_file gguf_file;

/* One tensor of a parsed file. A plain value: read the fields directly. */
typedef struct gguf_tensor {
    const char *name;              /* NUL-terminated copy */
    gguf_tensor_type type;
    uint32_t n_dims;               /* 1..GGUF_MAX_DIMS */
    int64_t ne[GGUF_MAX_DIMS];     /* GGML order: ne[0] innermost; unused = 1 */
    size_t numel;                  /* product of ne */
    size_t nbytes;
    uint64_t offset;               /* relative to the data section */
    const uint8_t *data;           /* nbytes bytes inside the file buffer */
} gguf_tensor;

/* Parses and validates a whole GGUF file held in memory; the gguf_file
 * keeps its own copy. On failure *out is NULL and err names the problem. */
int gguf_parse(const uint8_t *data, size_t size, gguf_file **out, char err[PLOW_ERR_LEN]);
/* Reads path (at most GGUF_MAX_FILE bytes) and parses it. */
int gguf_load(const char *path, gguf_file **out, char err[PLOW_ERR_LEN]);
void gguf_free(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
size_t gguf_alignment(const gguf_file *f);

/* KVs in file order; i < gguf_kv_count(f). */
size_t gguf_kv_count(const gguf_file *f);
const char *gguf_kv_key(const gguf_file *f, size_t i);
gguf_value_type gguf_kv_type(const gguf_file *f, size_t i);
/* The index of key, or -1. O(log n). */
int64_t gguf_kv_find(const gguf_file *f, const char *key);

/* Typed getters: fail if the key is missing or holds another type. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char err[PLOW_ERR_LEN]);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, char err[PLOW_ERR_LEN]);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, char err[PLOW_ERR_LEN]);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, char err[PLOW_ERR_LEN]);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char err[PLOW_ERR_LEN]);
/* *s points into the file and is NOT NUL-terminated; use *len. */
int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len,
                 char err[PLOW_ERR_LEN]);
/* Element type and count of an ARRAY value. */
int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_value_type *elem, size_t *n,
                      char err[PLOW_ERR_LEN]);
/* Element i of an array of strings (not NUL-terminated). O(1). */
int gguf_get_arr_str(const gguf_file *f, const char *key, size_t i, const char **s, size_t *len,
                     char err[PLOW_ERR_LEN]);
/* Copies a whole INT32 / FLOAT32 array; n must equal its length. */
int gguf_get_arr_i32(const gguf_file *f, const char *key, int32_t *out, size_t n,
                     char err[PLOW_ERR_LEN]);
int gguf_get_arr_f32(const gguf_file *f, const char *key, float *out, size_t n,
                     char err[PLOW_ERR_LEN]);

/* Tensors in file (tensor-info) order; i < gguf_tensor_count(f). */
size_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_get(const gguf_file *f, size_t i);
/* The tensor called name, or NULL. O(log n). */
const gguf_tensor *gguf_tensor_find(const gguf_file *f, const char *name);

/* ---- writer -------------------------------------------------------------- */

/* Adders never fail; problems in what was added (an empty, over-long or
 * duplicate key or name, the reserved key general.alignment, a bad shape, a
 * size overflow) are reported by gguf_writer_serialize/gguf_writer_save.
 * The file holds the KVs in the order added followed by general.alignment
 * = 32, then the tensors in the order added, each at an offset that is a
 * multiple of 32 with zero padding: the same calls give the same bytes. */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_kv_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_kv_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_kv_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_kv_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_kv_bool(gguf_writer *w, const char *key, bool v);
/* s is NUL-terminated; use gguf_writer_kv_strn for arbitrary bytes. */
void gguf_writer_kv_str(gguf_writer *w, const char *key, const char *s);
void gguf_writer_kv_strn(gguf_writer *w, const char *key, const char *s, size_t len);
/* strs[i] has lens[i] bytes (any bytes); lens NULL means NUL-terminated. */
void gguf_writer_kv_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, size_t n);
void gguf_writer_kv_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);
void gguf_writer_kv_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n);
/* shape_rowmajor has ndim (1..4) entries, outermost first; data holds the
 * elements in row-major order (F32: float, F16: uint16_t bit patterns). */
void gguf_writer_tensor(gguf_writer *w, const char *name, gguf_tensor_type type, int ndim,
                        const int64_t *shape_rowmajor, const void *data);
void gguf_writer_tensor_f32(gguf_writer *w, const char *name, int ndim,
                            const int64_t *shape_rowmajor, const float *data);
/* Appends the complete file to out (which the caller owns). */
int gguf_writer_serialize(const gguf_writer *w, plow_buf *out, char err[PLOW_ERR_LEN]);
/* Serializes and writes atomically with plow_write_file. */
int gguf_writer_save(const gguf_writer *w, const char *path, char err[PLOW_ERR_LEN]);
void gguf_writer_free(gguf_writer *w);

#endif /* PLOW_GGUF_H */
