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
} receipt;

/* Fills the hashes from the objects; copies prompt and output. */
void receipt_make(receipt *r, const model *m, const lora *l, const tokenizer *tok, const infer_sampling *sp,
                  const int32_t *prompt, size_t n_prompt, const int32_t *output, size_t n_output);
void receipt_release(receipt *r);
int receipt_save(const receipt *r, const char *path, char err[PLOW_ERR_LEN]);
int receipt_load(receipt *r, const char *path, char err[PLOW_ERR_LEN]);
int receipt_parse(receipt *r, const char *json, size_t n, char err[PLOW_ERR_LEN]);

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

#endif
