/*
 * fixture.h — what several unit tests build the same way: a tokenizer and a
 * dataset from the test corpus, small model configs, and models initialised
 * from a seed. Failures are reported through CHECK (test.h) and leave the
 * outputs NULL.
 */
#ifndef PLOW_TEST_FIXTURE_H
#define PLOW_TEST_FIXTURE_H

#include "../src/base/plow.h"

#include "../src/data/dataset.h"
#include "../src/data/tokenizer.h"
#include "../src/model/model.h"

/* Reads the test corpus (test_corpus_path), trains a tokenizer of `vocab`
 * tokens on its first tok_bytes and makes a dataset of its first data_bytes
 * (val_frac held out). corpus/n: the whole corpus, which the caller frees
 * (NULL: not wanted). */
void fixture_corpus(size_t tok_bytes, int vocab, size_t data_bytes, double val_frac, tokenizer **tok,
                    dataset **data, uint8_t **corpus, size_t *n);

/* A config by its shape (norm_eps 1e-5, rope_theta 10000). */
model_config fixture_config(const char *name, int n_layer, int d_model, int n_head, int n_kv_head, int d_ff, int ctx,
                            int vocab, bool tied);
/* A model of config c with model_init_weights(seed). */
model *fixture_model(const model_config *c, uint64_t seed);
/* The named config ("tiny", ...) for tok's vocabulary, initialised from seed. */
model *fixture_named_model(const char *name, const tokenizer *tok, uint64_t seed);

/* Runs `run` for the full and the LoRA trainable on the scalar path with one
 * thread, prints the state hash after `steps`, and checks that every other
 * supported SIMD path with 1 and 2 threads gives the same bits (LoRA with two
 * threads on the widest path only when lora_widest). Ends on tensor_init("auto"). */
typedef void (*fixture_run_fn)(const char *path, int threads, bool with_lora, int steps, uint8_t out[PLOW_HASH_LEN]);
void fixture_paths_agree(const char *what, int steps, fixture_run_fn run, bool lora_widest);

/* Central differences on 3 entries (chosen by key) of every trainable tensor
 * of m (l's when l is given): the analytic gradient g against
 * (loss(w + h) - loss(w - h)) / 2h, the weight perturbed in blk (the
 * trainable block of a double reference model, ref_model.h), within 2%
 * of the larger of |fd| and 10^-3 of the tensor's largest gradient. */
typedef double (*fixture_loss_fn)(void *ctx);
void fixture_grads_agree(const model *m, const lora *l, const float *g, double *blk, fixture_loss_fn loss, void *ctx,
                         uint32_t key, const char *what);

/* Moves a policy away from its reference (the weights as given; LoRA: the
 * base without the adapter): l's lora_B tensors drawn N(0, 0.3), or with no
 * adapter N(0, 0.05) noise (Philox key {8, key, 0}) added to m's weights. */
void fixture_move_policy(model *m, lora *l, uint32_t key);

#endif
