/*
 * receipt.h — inference receipts: what a model generated, checkable by one
 * teacher-forced prefill.
 *
 * A receipt binds (model hash, adapter hash, tokenizer hash, prompt tokens,
 * sampling parameters, seed, output tokens). Verification feeds prompt +
 * output in a single prefill, which — by the determinism contract — yields
 * the very logits the generator saw at every position, re-derives every
 * sampled token with infer_sample, and reports the first position that does
 * not match: that position is the proof of fraud. Cost: one prefill of
 * prompt + output, against a prefill plus one decode step per output token.
 *
 * File: JSON (docs/formats/receipt.md), "format": "plow.receipt.v1".
 */
#ifndef PLOW_RECEIPT_H
#define PLOW_RECEIPT_H

#include "../base/plow.h"
#include "../data/tokenizer.h"
#include "../infer/infer.h"
#include "../ledger/ledger.h"
#include "../model/model.h"

typedef struct receipt {
    uint8_t model_hash[PLOW_HASH_LEN];
    uint8_t tokenizer_hash[PLOW_HASH_LEN];
    bool has_lora;
    uint8_t lora_hash[PLOW_HASH_LEN];
    infer_sampling sampling;
    int32_t *prompt;
    size_t n_prompt;
    int32_t *output;
    size_t n_output;
    /* a served receipt (plow serve) is signed by the worker that served it */
    bool has_sig;
    uint8_t worker[LEDGER_PK_LEN];
    uint8_t sig[LEDGER_SIG_LEN];
} receipt;

/* Fills the hashes from the objects; copies prompt and output. */
void receipt_make(receipt *r, const model *m, const lora *l, const tokenizer *tok, const infer_sampling *sp,
                  const int32_t *prompt, size_t n_prompt, const int32_t *output, size_t n_output);
void receipt_release(receipt *r);
int receipt_save(const receipt *r, const char *path, char err[PLOW_ERR_LEN]);
int receipt_load(receipt *r, const char *path, char err[PLOW_ERR_LEN]);
int receipt_parse(receipt *r, const char *json, size_t n, char err[PLOW_ERR_LEN]);
/* The receipt as one line of JSON (malloc'd, caller frees): what
 * receipt_save writes and plow serve returns. */
char *receipt_json(const receipt *r);

/* SHA-256 of the canonical bytes of everything the receipt binds
 * (docs/formats/receipt.md): "plow/receipt/v1" 0x00, the hashes, the
 * sampling parameters as IEEE bits, the prompt and the output (signature
 * and worker excluded). */
void receipt_digest(const receipt *r, uint8_t out[PLOW_HASH_LEN]);
/* Signs the digest with the worker's key (sets worker, sig, has_sig). */
void receipt_sign(receipt *r, const ledger_key *k);
/* True if the receipt is signed and the signature is its worker's over its
 * digest (any change to a bound field breaks it). */
bool receipt_sig_ok(const receipt *r);

typedef struct receipt_check {
    bool valid;
    long bad_position; /* index into output of the first token that does not re-derive; -1 if none */
    char reason[256];
    double seconds;        /* everything: hash checks, loading the session, the prefill */
    double derive_seconds; /* the prefill and the re-derivation alone (what generation is compared with) */
} receipt_check;

/* Returns -1 if the check could not run (bad sizes); otherwise 0 with the
 * verdict in out. A model, adapter or tokenizer whose hash differs from the
 * receipt's is a verdict (invalid), not an error. */
int receipt_verify(const receipt *r, const model *m, const lora *l, const tokenizer *tok, receipt_check *out,
                   char err[PLOW_ERR_LEN]);

/* SHA-256 of token ids as little-endian u32s: what an inference task commits
 * to as its final state. */
void receipt_tokens_hash(const int32_t *tokens, size_t n, uint8_t out[PLOW_HASH_LEN]);

/* The exact tokens an honest generator emits for (model, adapter, prompt,
 * sampling), n_new at most and stopping after `stop` (>= 0) — what
 * infer_generate gives in a session of the model's context — computed
 * cheaply when a claimed output is at hand: one teacher-forced prefill over
 * prompt + hint re-derives the hint's tokens, and decoding goes on only from
 * the first one that does not follow (or where the hint stops short). hint
 * may be NULL; nothing in it is trusted (ids out of range end it). *out
 * (caller frees) receives *n_out tokens; *agree how many leading hint tokens
 * were right. Fails if the prompt is empty, out of range or does not leave
 * room for a token in the context. */
int receipt_derive(const model *m, const lora *l, const infer_sampling *sp, const int32_t *prompt, size_t n_prompt,
                   int n_new, int32_t stop, const int32_t *hint, size_t n_hint, int32_t **out, size_t *n_out,
                   size_t *agree, char err[PLOW_ERR_LEN]);

#endif
