/*
 * cost.c — what running a spec takes (memory, arithmetic, downloads),
 * computed once here from the spec and its inputs' sizes for every party:
 * the node's referee refuses to rule a step above the network's limits (a
 * bomb is a ruling, not a crash), workers and verifiers compare it with
 * their own machine before they claim or check (job.h, job_probe). Each
 * kind's estimate is its row's `cost` (kinds.c).
 *
 * Estimates are upper bounds in doubles (no size a spec can name wraps
 * them); the allocations they stand for are the model, the training state
 * (weights, gradient, two moments, one serialised state), the activations
 * (model_ws_bytes, exact), the tokenised data and, for inference, the KV
 * cache and the prefill's logits (fed x V floats).
 *
 * Non-goals: seconds (the caller's FLOP/s) and the page cache.
 */
#include "../base/plow.h"

#include <sys/stat.h>

#include "../data/tokenizer.h"
#include "../model/model.h"
#include "../model/modelio.h"
#include "job_internal.h"

void job_limits_network(job_limits *l) {
    l->mem_bytes = JOB_LIMIT_MEM_BYTES;
    l->input_bytes = JOB_LIMIT_INPUT_BYTES;
    l->step_flops = JOB_LIMIT_STEP_FLOPS;
    l->run_flops = JOB_LIMIT_RUN_FLOPS;
}

static uint64_t bytes_of(double b) { return b >= 1.8e19 ? UINT64_MAX : (uint64_t)b; }

static void gib(double b, char out[32]) { snprintf(out, 32, "%.2f GiB", b / (double)(1u << 30)); }

int job_cost_check(const job_cost *c, const job_limits *l, bool whole_run, char err[PLOW_ERR_LEN]) {
    char a[32], b[32];
    uint64_t mem = whole_run ? c->mem_bytes : c->step_bytes;
    if (mem > l->mem_bytes) {
        gib((double)mem, a);
        gib((double)l->mem_bytes, b);
        return plow_error(err, "the task needs %s of memory, the limit is %s", a, b);
    }
    if (c->input_bytes > l->input_bytes) {
        gib((double)c->input_bytes, a);
        gib((double)l->input_bytes, b);
        return plow_error(err, "the task's inputs are %s, the limit is %s", a, b);
    }
    if (c->step_flops > l->step_flops)
        return plow_error(err, "one step of the task is %.3g FLOP, the limit is %.3g", c->step_flops, l->step_flops);
    if (whole_run && c->run_flops > l->run_flops)
        return plow_error(err, "the task is %.3g FLOP, the limit is %.3g", c->run_flops, l->run_flops);
    return 0;
}

/* Matrix arithmetic of one forward pass over `rows` sequences of T tokens:
 * 2 x weights per token, and attention's two T x T products per layer. */
static double forward_flops(const model_config *c, double rows, double T) {
    double P = (double)model_config_params(c);
    return 2.0 * P * rows * T + 4.0 * (double)c->n_layer * rows * T * T * (double)c->d_model;
}

/* The model's weights and its RoPE tables, bytes. */
static double model_bytes(const model_config *c) {
    return 4.0 * (double)model_config_params(c) + 4.0 * (double)c->ctx * (double)(c->d_model / c->n_head);
}

int job_cost_training(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]) {
    model_config c;
    if (s->kind == TASK_TRAIN) {
        if (model_config_named(s->config, in->vocab, &c, err)) return -1;
    } else {
        if (!in->has_cfg) return plow_error(err, "cost: the base model's config is unknown");
        c = in->cfg;
    }
    if (model_config_check(&c, err)) return -1;
    int T = s->seq > 0 ? s->seq : c.ctx;
    if (T > c.ctx) return plow_error(err, "'seq' %d is longer than the model's context %d", T, c.ctx);
    bool adapter = job_spec_adapter(s);
    unsigned targets = 0;
    if (adapter && lora_parse_targets(s->targets, &targets, err)) return -1;
    double rows = s->batch;
    if (s->kind == TASK_DPO) rows = 2.0 * s->batch; /* chosen and rejected */
    if (s->kind == TASK_RL) rows = (double)s->batch * s->rl.group;
    if (rows < 1 || rows > 65536)
        return plow_error(err, "a batch of %.0f sequences is out of range (1..65536)", rows);
    uint64_t ws = model_ws_bytes(&c, adapter ? s->rank : 0, targets, (int)rows, T);
    if (ws == UINT64_MAX) return plow_error(err, "a batch of %.0f x %d is out of range for this model", rows, T);
    double P = (double)model_config_params(&c), mb = model_bytes(&c);
    double trained = adapter ? (double)lora_config_params(&c, s->rank, targets) : P;
    /* beside the model and activations: the trained weights' gradient, two
     * moments and one serialised state (a checkpoint written or a state blob
     * read: weights and moments), the adapter itself */
    double m = mb + 4.0 * trained * (adapter ? 6.0 : 5.0) + (double)ws;
    if (s->kind == TASK_DPO || s->kind == TASK_RL) m += adapter ? 0 : mb;  /* the frozen reference */
    if (s->kind == TASK_RL) m += 4.0 * rows * T * 4.0;                 /* log-probs, rewards */
    if (s->kind == TASK_ROUND) m += 3.0 * 4.0 * P;                     /* W_t and the outer state */
    if (s->kind != TASK_TRAIN) m += (double)in->base_bytes;            /* the file while it is parsed */
    m += 6.0 * (double)in->data_bytes;                                 /* bytes, tokens, the split */
    out->mem_bytes = out->step_bytes = bytes_of(m);
    /* forward + backward ~ 3 forwards; DPO and RL also run the reference,
     * RL samples its rollouts token by token (one forward of the group) */
    double f = 3.0 * forward_flops(&c, rows, T);
    if (s->kind == TASK_DPO || s->kind == TASK_RL) f += forward_flops(&c, rows, T);
    if (s->kind == TASK_RL) f += forward_flops(&c, rows, T);
    out->step_flops = f;
    out->run_flops = (double)s->steps * f;
    out->params = (uint64_t)trained;
    return 0;
}

int job_cost_infer(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]) {
    if (!in->has_cfg) return plow_error(err, "cost: the base model's config is unknown");
    const model_config *c = &in->cfg;
    if (model_config_check(c, err)) return -1;
    /* a prompt token is at least one byte (and the BOS) */
    double T = (double)s->tokens + (double)strlen(s->prompt) + 1;
    if (T > c->ctx) T = c->ctx;
    double HD = (double)(c->d_model / c->n_head), KVD = (double)c->n_kv_head * HD;
    double kv = 2.0 * c->n_layer * T * KVD * 4.0;
    double logits = T * (double)c->vocab * 4.0; /* the one prefill keeps every row */
    double acts = T * (3.0 * c->d_model + 2.0 * c->d_ff + 2.0 * (double)c->vocab) * 4.0;
    acts += (double)c->n_head * T * T * 4.0; /* the prefill's attention scores */
    double m = model_bytes(c) + kv + logits + acts + (double)in->base_bytes + 2.0 * (double)in->adapter_bytes;
    out->mem_bytes = out->step_bytes = bytes_of(m);
    out->step_flops = out->run_flops = 2.0 * forward_flops(c, 1, T); /* generation and its check */
    out->params = model_config_params(c);
    return 0;
}

int job_cost_label(const job_spec *s, const job_inputs *in, job_cost *out, char err[PLOW_ERR_LEN]) {
    (void)err;
    /* a labeler holds the items, their parse and a label each */
    out->mem_bytes = out->step_bytes = bytes_of(3.0 * (double)in->items_bytes + 64.0 * s->n_items);
    return 0;
}

/* ---- job_probe ------------------------------------------------------------------- */

typedef struct probe_input {
    const uint8_t *hash;
    const char *what;
    char *path;        /* fetched here, or NULL: only sized */
    uint64_t *bytes;   /* where its size counts */
} probe_input;

int job_probe(const job_spec *spec, const job_blobs *b, const char *workdir, const job_limits *l, bool whole_run,
              job_cost *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    if (!spec || !b || !b->get_file || !l || !workdir) return plow_error(err, "job: missing argument");
    if ((unsigned)spec->kind >= TASK_KIND_COUNT) return plow_error(err, "job: unknown task kind");
    const job_kind *k = job_kind_of(spec->kind);
    job_inputs in = {.vocab = TOKENIZER_MAX_VOCAB};
    uint64_t tok_bytes = 0, cfg_bytes = 0;
    jctx x;
    bool runs = k->run != NULL;
    if (runs && job_ctx_init(&x, spec, b, workdir, err)) return -1;
    char model_path[JOB_DIR_MAX + 64], adapter_path[JOB_DIR_MAX + 64];
    probe_input ins[8];
    int n = 0;
    if (runs) {
        snprintf(model_path, sizeof model_path, "%s/model.safetensors", x.base);
        snprintf(adapter_path, sizeof adapter_path, "%s/adapter_model.safetensors", x.adapter);
        ins[n++] = (probe_input){spec->tokenizer, "tokenizer", x.tok, &tok_bytes};
        if (k->data_file) ins[n++] = (probe_input){spec->data, "data", NULL, &in.data_bytes};
        if (spec->has_heldout) ins[n++] = (probe_input){spec->heldout, "held-out set", NULL, &in.data_bytes};
        if (spec->has_base) {
            ins[n++] = (probe_input){spec->base_model, "base model", model_path, &in.base_bytes};
            ins[n++] = (probe_input){spec->base_config, "base config", NULL, &cfg_bytes};
        }
        if (spec->has_adapter) {
            ins[n++] = (probe_input){spec->adapter_model, "adapter", adapter_path, &in.adapter_bytes};
            ins[n++] = (probe_input){spec->adapter_config, "adapter config", NULL, &cfg_bytes};
        }
    } else if (spec->kind == TASK_LABEL) {
        ins[n++] = (probe_input){spec->items, "items", NULL, &in.items_bytes};
    }
    /* sizes first, before a byte is fetched */
    uint64_t total = 0;
    char hex[65], e2[PLOW_ERR_LEN];
    for (int i = 0; i < n && b->size; i++) {
        uint64_t sz = 0;
        plow_hex(ins[i].hash, 32, hex);
        int rc = b->size(b->ctx, ins[i].hash, &sz, e2);
        if (rc < 0) return plow_error(err, "the task's %s (blob %.16s…): %s", ins[i].what, hex, e2);
        if (rc > 0) return plow_error(err, "the task's %s (blob %.16s…) is not available", ins[i].what, hex), 1;
        *ins[i].bytes += sz;
        total = total + sz < total ? UINT64_MAX : total + sz;
        if (total > l->input_bytes) {
            char a[32], c[32];
            gib((double)total, a);
            gib((double)l->input_bytes, c);
            return plow_error(err, "the task's inputs are at least %s, the limit is %s", a, c), 1;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!ins[i].path) continue;
        if (job_fetch(b, ins[i].hash, ins[i].path, err)) {
            plow_error_prefix(err, ins[i].what);
            return -1;
        }
        if (!b->size) { /* sized by what arrived */
            struct stat sb;
            if (stat(ins[i].path, &sb) == 0) {
                *ins[i].bytes += (uint64_t)sb.st_size;
                total += (uint64_t)sb.st_size;
            }
        }
    }
    out->input_bytes = total;
    if (runs) {
        tokenizer *tok = NULL;
        if (tokenizer_load(&tok, x.tok, err)) return plow_error_prefix(err, "the task's tokenizer"), 1;
        in.vocab = tokenizer_vocab_size(tok);
        tokenizer_free(tok);
        if (spec->has_base) {
            if (modelio_peek_config(model_path, &in.cfg, NULL, err)) return plow_error_prefix(err, "the task's base model"), 1;
            in.has_cfg = true;
        }
    }
    if (!k->cost) return plow_error(err, "job: task kind %s has no cost estimate", task_kind_name(spec->kind)), 1;
    uint64_t inputs = out->input_bytes;
    if (k->cost(spec, &in, out, err)) return 1;
    out->input_bytes = inputs;
    return job_cost_check(out, l, whole_run, err) ? 1 : 0;
}
