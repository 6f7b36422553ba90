/*
 * modelio.h — models and LoRA adapters on disk, and export to GGUF.
 *
 * A model directory holds:
 *   model.safetensors   float32 weights under Hugging Face Llama names
 *                       (model.layers.0.self_attn.q_proj.weight, ...); the
 *                       plow config travels in its __metadata__ ("plow.*"
 *                       keys), so the file alone is self-describing;
 *   config.json         the same config as transformers' LlamaConfig reads it;
 *   tokenizer.bin       the BPE tokenizer (docs/formats/tokenizer.md).
 * An adapter directory holds adapter_model.safetensors (PEFT names,
 * base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight, ...),
 * adapter_config.json (PEFT's keys) and tokenizer.bin; its metadata records
 * the hash of the base model it was trained on, and loading checks it.
 *
 * Loading validates everything a file claims (names, dtypes, shapes, config)
 * and reports the first problem; it never trusts a size it has not checked.
 */
#ifndef PLOW_MODELIO_H
#define PLOW_MODELIO_H

#include "../base/plow.h"
#include "../data/tokenizer.h"
#include "model.h"

int modelio_save_model(const model *m, const char *dir, char err[PLOW_ERR_LEN]);
/* path: a model directory or a .safetensors file. */
int modelio_load_model(model **out, const char *path, char err[PLOW_ERR_LEN]);
/* Parses model weights from a safetensors image in memory (tests, fuzzing). */
int modelio_parse_model(model **out, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]);

/* The config of a model file (directory or .safetensors) from its header
 * alone (at most MODELIO_PEEK_HEADER_MAX bytes), checked as loading checks it,
 * and the file's size, which must hold the weights the config promises;
 * nothing of the size of the weights is allocated. For a cost estimate
 * before a load (src/job cost.c). */
#define MODELIO_PEEK_HEADER_MAX ((uint64_t)16 << 20)
int modelio_peek_config(const char *path, model_config *out, uint64_t *file_bytes, char err[PLOW_ERR_LEN]);

int modelio_save_lora(const lora *l, const model *base, const char *dir, char err[PLOW_ERR_LEN]);
/* path: an adapter directory or its .safetensors file; checks it fits base. */
int modelio_load_lora(lora **out, const model *base, const char *path, char err[PLOW_ERR_LEN]);

/* Finds the tokenizer for a model path: DIR/tokenizer.bin, or tokenizer.bin
 * beside a .safetensors file. */
int modelio_load_tokenizer(tokenizer **out, const char *model_path, char err[PLOW_ERR_LEN]);

/* Writes a GGUF v3 file, architecture "llama", float32, with the tokenizer as
 * a GPT-2 style BPE vocabulary. Q and K rows are permuted to the interleaved
 * RoPE layout llama.cpp expects (the inverse of the permutation Hugging
 * Face's conversion applies). If l is not NULL its update is merged first. */
int modelio_export_gguf(const model *m, const lora *l, const tokenizer *tok, const char *path,
                        char err[PLOW_ERR_LEN]);

/* The row permutation used for GGUF's attn_q/attn_k: dst row h*HD + 2i + s
 * takes src row h*HD + s*HD/2 + i. */
void modelio_permute_rope_rows(float *dst, const float *src, int heads, int HD, int cols);

/* Maps bytes to GPT-2's printable unicode alphabet (UTF-8 out; out needs 2*n+1). */
size_t modelio_gpt2_bytes_to_unicode(const uint8_t *in, size_t n, char *out);

#endif
