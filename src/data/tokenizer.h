/*
 * tokenizer.h — a deterministic byte-level BPE tokenizer.
 *
 * Vocabulary (V = vocab size, TOKENIZER_MIN_VOCAB <= V <= TOKENIZER_MAX_VOCAB):
 *   ids 0..255      the raw bytes;
 *   ids 256..V-2    merges, in the order they were learned: id 256+k joins the
 *                   pair (left, right) of merge k, with left, right < 256+k;
 *   id  V-1         the end-of-text token "<|endoftext|>". Encoding text never
 *                   produces it; decoding it yields no bytes.
 *
 * Invariants:
 *   - decode(encode(s)) == s for every byte string s (any bytes, NUL, invalid
 *     UTF-8, the empty string);
 *   - text is first cut into chunks (tokenizer_chunk_end) and merges never
 *     cross a chunk boundary;
 *   - training is a pure function of (data, V): integer counts only, ties
 *     broken by the smallest (left, right) pair, so the same input gives the
 *     same merges, the same file bytes and the same tokenizer_hash everywhere;
 *   - a tokenizer is immutable once built; every function taking a
 *     `const tokenizer *` is safe to call from several threads at once.
 *
 * Ownership: tokenizer_train/parse/load return a new tokenizer the caller
 * frees with tokenizer_free (which accepts NULL). tokenizer_encode/decode
 * return a malloc'd array the caller frees with free(); on failure the
 * out-pointers are set to NULL/0. Pointers from tokenizer_token_bytes live as
 * long as the tokenizer.
 *
 * The file format and the algorithm are specified in docs/formats/tokenizer.md.
 *
 * Usage:
 *     tokenizer *tok = NULL;
 *     char err[PLOW_ERR_LEN];
 *     if (tokenizer_train(&tok, text, n, 4096, NULL, NULL, err) != 0) die(err);
 *     int32_t *ids; size_t nids;
 *     if (tokenizer_encode(tok, text, n, &ids, &nids, err) != 0) die(err);
 *     uint8_t *back; size_t nback;
 *     if (tokenizer_decode(tok, ids, nids, &back, &nback, err) != 0) die(err);
 *     // nback == n && memcmp(back, text, n) == 0
 *     if (tokenizer_save(tok, "tok.bin", err) != 0) die(err);
 *     free(back); free(ids); tokenizer_free(tok);
 */
#ifndef PLOW_TOKENIZER_H
#define PLOW_TOKENIZER_H

#include "../base/plow.h"

#define TOKENIZER_MIN_VOCAB 258
#define TOKENIZER_MAX_VOCAB 65536
#define TOKENIZER_EOT_TEXT "<|endoftext|>"

/* File format constants (docs/formats/tokenizer.md). */
#define TOKENIZER_MAGIC "PLOWBPE" /* 8 bytes on disk with its NUL */
#define TOKENIZER_MAGIC_LEN 8
#define TOKENIZER_VERSION 1u
#define TOKENIZER_HEADER_LEN 20u /* magic, u32 version, u32 vocab, u32 merges */

/* Limits: the bytes of all tokens together (a sum that doubles per merge in
 * a hostile file) and the training input, whose positions fit an int32. */
#define TOKENIZER_MAX_TOTAL_TOKEN_BYTES ((size_t)1 << 28)
#define TOKENIZER_MAX_TRAIN_BYTES ((size_t)INT32_MAX)

typedef struct tokenizer tokenizer;

/* Called once per learned merge with done = 1..total. */
typedef void (*tokenizer_progress_fn)(void *ctx, int done, int total);

/* Pre-tokenization: returns the end (exclusive) of the chunk that starts at
 * `start` (start < n); the chunks of s are [0, e1), [e1, e2), ... up to n. The
 * rules (a byte-level version of GPT-2's split) are in the format doc. */
size_t tokenizer_chunk_end(const uint8_t *s, size_t n, size_t start);

/* Learns V-257 merges from data[0..n). Fails on a bad vocab size, on input
 * over TOKENIZER_MAX_TRAIN_BYTES, or when the data has fewer distinct
 * adjacent pairs than merges are needed. progress may be NULL. */
int tokenizer_train(tokenizer **out, const uint8_t *data, size_t n, int vocab_size,
                    tokenizer_progress_fn progress, void *ctx, char err[PLOW_ERR_LEN]);

/* Encodes s[0..n) into *ids (malloc'd, caller frees; never NULL on success,
 * even for n == 0). Every id is in 0..V-2; *nids <= n. */
int tokenizer_encode(const tokenizer *t, const uint8_t *s, size_t n, int32_t **ids,
                     size_t *nids, char err[PLOW_ERR_LEN]);

/* Decodes ids into *out (malloc'd, caller frees; never NULL on success).
 * Fails on any id outside 0..V-1. The EOT id yields no bytes. */
int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, uint8_t **out,
                     size_t *nout, char err[PLOW_ERR_LEN]);

int tokenizer_vocab_size(const tokenizer *t); /* V */
int tokenizer_eot(const tokenizer *t);        /* V-1, the id of <|endoftext|> */

/* The bytes of token `id` (for GGUF export and debugging). The EOT token
 * returns its literal text TOKENIZER_EOT_TEXT. Returns -1 if id is out of range. */
int tokenizer_token_bytes(const tokenizer *t, int id, const uint8_t **bytes, size_t *len);

/* The pair merged into `id`; returns -1 unless 256 <= id <= V-2. */
int tokenizer_merge_pair(const tokenizer *t, int id, int *left, int *right);

/* Appends the canonical file bytes to out (cannot fail). */
void tokenizer_serialize(const tokenizer *t, plow_buf *out);

/* Parses and fully validates file bytes; every malformed input is an error. */
int tokenizer_parse(tokenizer **out, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);

int tokenizer_save(const tokenizer *t, const char *path, char err[PLOW_ERR_LEN]);
int tokenizer_load(tokenizer **out, const char *path, char err[PLOW_ERR_LEN]);

/* SHA-256 of the serialized bytes: the tokenizer's identity. */
void tokenizer_hash(const tokenizer *t, uint8_t out[PLOW_HASH_LEN]);

void tokenizer_free(tokenizer *t);

#endif /* PLOW_TOKENIZER_H */
