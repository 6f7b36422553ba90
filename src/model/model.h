/*
 * model.h — the llama-style decoder: configs, parameters, LoRA adapters, and
 * the forward and backward passes used for training.
 *
 * Architecture (docs/model.md has the equations): token embedding; per layer
 *   x += Wo · attn(rope(Wq · rms(x)), rope(Wk · rms(x)), Wv · rms(x))   (causal, GQA)
 *   x += Wdown · (silu(Wgate · rms(x)) * Wup · rms(x))
 * then a final RMSNorm and the LM head (optionally tied to the embedding).
 * RoPE uses the "rotate half" pairing (i, i + HD/2), as Hugging Face's Llama
 * does, so safetensors files load in transformers unchanged.
 *
 * Dimension letters used everywhere: B batch, T time, N = B*T rows, C model
 * width, NH query heads, NKV key/value heads, HD = C/NH head width,
 * KVD = NKV*HD, F feed-forward width, V vocabulary, L layers.
 *
 * Memory: all parameters of a model live in ONE aligned block (model.params),
 * laid out in the canonical order of model.tensors; gradients and optimizer
 * moments use blocks of the same layout. A LoRA adapter is a second block with
 * its own table. Weight matrices are stored (out, in), row-major, as PyTorch
 * stores nn.Linear weights.
 *
 * Every result is deterministic in the sense of tensor.h.
 */
#ifndef PLOW_MODEL_H
#define PLOW_MODEL_H

#include "../base/plow.h"

#define MODEL_NAME_LEN 96
#define MODEL_MAX_LAYERS 64
/* The largest config model_config_check accepts: a few times the "base"
 * config in every dimension, and at most MODEL_MAX_PARAMS parameters (4 GiB
 * of float32). A file or spec may ask for no more; the network's own limits
 * (src/job, job_cost) are tighter still. */
#define MODEL_MAX_D_MODEL 8192
#define MODEL_MAX_D_FF 32768
#define MODEL_MAX_CTX 16384
#define MODEL_MAX_VOCAB 262144
#define MODEL_MAX_PARAMS ((uint64_t)1 << 30)

typedef struct model_config {
    char name[32];
    int n_layer;   /* L */
    int d_model;   /* C */
    int n_head;    /* NH */
    int n_kv_head; /* NKV (divides NH) */
    int d_ff;      /* F */
    int ctx;       /* maximum T */
    int vocab;     /* V */
    bool tied;     /* LM head shares the embedding matrix */
    float norm_eps;
    float rope_theta;
} model_config;

/* The named configurations (tiny, small, base), vocab filled in by the caller.
 * Returns -1 with a message listing the names if name is unknown. */
int model_config_named(const char *name, int vocab, model_config *out, char err[PLOW_ERR_LEN]);
/* Checks that a config (e.g. read from a file) is sane and its sizes fit. */
int model_config_check(const model_config *c, char err[PLOW_ERR_LEN]);
const char *model_config_names(void); /* "tiny, small, base" */
/* The parameter count of a config (model.n_params without the alignment
 * padding), computed without allocating anything. */
uint64_t model_config_params(const model_config *c);

/* One named tensor inside a parameter block. */
typedef struct model_tensor {
    char name[MODEL_NAME_LEN];
    int ndim;
    int64_t shape[2];
    size_t offset; /* in floats, from the start of the block */
    size_t numel;
    bool decay;    /* weight decay applies (matrices yes, norm gains no) */
} model_tensor;

/* Pointers to each parameter inside one block (params, grads, moments...). */
typedef struct model_layer_view {
    float *attn_norm; /* (C) */
    float *wq;        /* (C, C) */
    float *wk;        /* (KVD, C) */
    float *wv;        /* (KVD, C) */
    float *wo;        /* (C, C) */
    float *ffn_norm;  /* (C) */
    float *w_gate;    /* (F, C) */
    float *w_up;      /* (F, C) */
    float *w_down;    /* (C, F) */
} model_layer_view;

typedef struct model_view {
    float *tok_emb;    /* (V, C) */
    float *final_norm; /* (C) */
    float *lm_head;    /* (V, C); == tok_emb when tied */
    model_layer_view layer[MODEL_MAX_LAYERS];
} model_view;

typedef struct model {
    model_config cfg;
    size_t n_params;
    float *params;          /* one aligned block of n_params floats */
    int n_tensors;
    model_tensor *tensors;  /* canonical order = memory order */
    model_view w;           /* views into params */
    float *rope_cos, *rope_sin; /* (ctx, HD/2), from plow's own cos/sin */
} model;

/* Allocates a model with zeroed parameters. */
int model_new(model **out, const model_config *cfg, char err[PLOW_ERR_LEN]);
/* Initialises parameters from the counter-based RNG: N(0, 0.02) for matrices
 * and the embedding, N(0, 0.02/sqrt(2L)) for Wo and Wdown, ones for norms. */
void model_init_weights(model *m, uint64_t seed);
void model_free(model *m);
/* Views of any block with this model's layout. */
void model_view_at(const model *m, float *block, model_view *out);
/* SHA-256 over the config and the weights in canonical order. */
void model_hash(const model *m, uint8_t out[PLOW_HASH_LEN]);

/* ---- LoRA adapters ----------------------------------------------------------
 * W' = W + (alpha/rank) * B A with A (rank, in) and B (out, rank), on the
 * target matrices of every layer. The base model is never written. */
enum {
    LORA_Q = 1 << 0,
    LORA_K = 1 << 1,
    LORA_V = 1 << 2,
    LORA_O = 1 << 3,
    LORA_GATE = 1 << 4,
    LORA_UP = 1 << 5,
    LORA_DOWN = 1 << 6,
    LORA_TARGET_COUNT = 7
};
/* Parses "q,v" / "q_proj,v_proj" / "all" into a mask. */
int lora_parse_targets(const char *s, unsigned *mask, char err[PLOW_ERR_LEN]);
const char *lora_target_name(int bit); /* "q_proj", ... by bit index */

typedef struct lora_pair {
    float *a; /* (rank, in) */
    float *b; /* (out, rank) */
} lora_pair;

typedef struct lora {
    int rank;
    float alpha;
    unsigned targets;
    int n_layer;
    size_t n_params;
    float *params;
    int n_tensors;
    model_tensor *tensors; /* PEFT names: base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight */
    lora_pair pair[MODEL_MAX_LAYERS][LORA_TARGET_COUNT];
} lora;

/* The parameter count of such an adapter (without padding), allocating nothing. */
uint64_t lora_config_params(const model_config *c, int rank, unsigned targets);
int lora_new(lora **out, const model_config *cfg, int rank, float alpha, unsigned targets,
             char err[PLOW_ERR_LEN]);
/* A ~ U(-1/sqrt(in), 1/sqrt(in)) from the RNG, B = 0 (the adapter starts as a no-op). */
void lora_init_weights(lora *l, uint64_t seed);
void lora_free(lora *l);
/* SHA-256 over rank, alpha, targets and the adapter weights in canonical order. */
void lora_hash(const lora *l, uint8_t out[PLOW_HASH_LEN]);
void lora_view_at(const lora *l, float *block, lora_pair out[MODEL_MAX_LAYERS][LORA_TARGET_COUNT]);

/* ---- forward / backward for training ------------------------------------ */
typedef struct model_ws model_ws; /* activations for a (B, T) batch */

/* The bytes model_ws_create allocates for (B, T) with a LoRA adapter of
 * rank (0: none) on targets; saturates at UINT64_MAX, allocates nothing. */
uint64_t model_ws_bytes(const model_config *c, int rank, unsigned targets, int B, int T);
/* The workspace for a (B, T) batch; out of memory is an error (sizes from a
 * spec). model_ws_new is the same for sizes plow chose itself: it aborts. */
int model_ws_create(model_ws **out, const model *m, const lora *l, int B, int T, char err[PLOW_ERR_LEN]);
model_ws *model_ws_new(const model *m, const lora *l, int B, int T);
void model_ws_free(model_ws *ws);

/* Runs the forward pass on tokens (B*T) and computes, for each position, the
 * log-probability of targets (B*T) into logp (B*T). Keeps what backward needs. */
void model_forward(const model *m, const lora *l, model_ws *ws, const int32_t *tokens,
                   const int32_t *targets, float *logp);
/* The logits of the last forward pass (N, V), valid only until backward
 * (backward overwrites them). */
const float *model_ws_logits(const model_ws *ws);

/* Mean cross-entropy of the last forward pass: -(canonical sum of logp)/N. */
float model_mean_loss(const float *logp, size_t n);

/* Backward pass from dL/dlogp (B*T). Writes the full gradient into grads
 * (a block of m->n_params floats) if grads is not NULL; with a LoRA adapter,
 * writes its gradient into lora_grads (l->n_params floats) and never touches
 * the base weights. Overwritten, not accumulated. */
void model_backward(const model *m, const lora *l, model_ws *ws, const float *dlogp,
                    float *grads, float *lora_grads);

#endif /* PLOW_MODEL_H */
