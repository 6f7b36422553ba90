/*
 * spec.c — task specs and output manifests (docs/tasks.md): strict parsing,
 * canonical writing, and the path rules that keep a hostile manifest inside
 * its work directory.
 *
 * A spec is hashed into the ledger, so it has one canonical form: the fields
 * of its kind in a fixed order, cJSON's shortest round-tripping numbers,
 * seeds as decimal strings. Unknown keys and keys of another kind are
 * refused rather than ignored: two specs that read the same must be the same
 * bytes.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "../infer/infer.h"
#include "../model/model.h"
#include "../train/round.h"
#include "job_internal.h"

#define SPEC_FORMAT "plow.spec.v1"
#define MANIFEST_FORMAT "plow.outputs.v1"

/* defaults (also `plow train` / `plow generate`'s) */
#define DEF_VAL_FRAC 0.1
#define DEF_BATCH 16
#define DEF_EVERY 16
#define DEF_RANK 8
#define DEF_ALPHA 16.0
#define DEF_TARGETS "q,k,v,o"
#define DEF_TOKENS 200
#define DEF_TEMPERATURE 0.8
#define DEF_TOP_K 40
#define DEF_TOP_P 0.95
#define DEF_BETA 0.1

/* ---- small JSON readers: each names the key it refuses ---------------------------- */

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static int keys_known(const cJSON *o, const char *where, const char *const *known, char err[PLOW_ERR_LEN]) {
    for (const cJSON *c = o->child; c; c = c->next) {
        int i = 0;
        while (known[i] && strcmp(known[i], c->string) != 0) i++;
        if (!known[i]) return plow_error(err, "spec: %s'%.40s' is not a field of this kind of task", where, c->string);
        for (const cJSON *d = o->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0) return plow_error(err, "spec: %s'%.40s' appears twice", where, c->string);
    }
    return 0;
}

static int num(const cJSON *o, const char *k, bool need, double def, double lo, double hi, double *out,
               char err[PLOW_ERR_LEN]) {
    const cJSON *x = get(o, k);
    if (!x) {
        if (need) return plow_error(err, "spec: '%s' is required", k);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return plow_error(err, "spec: '%s' must be a number", k);
    if (!(x->valuedouble >= lo && x->valuedouble <= hi))
        return plow_error(err, "spec: '%s' = %g is out of range [%g, %g]", k, x->valuedouble, lo, hi);
    *out = x->valuedouble;
    return 0;
}

static int whole(const cJSON *o, const char *k, bool need, long def, long lo, long hi, long *out,
                 char err[PLOW_ERR_LEN]) {
    double d;
    if (num(o, k, need, (double)def, (double)lo, (double)hi, &d, err)) return -1;
    if (d != floor(d)) return plow_error(err, "spec: '%s' must be a whole number", k);
    *out = (long)d;
    return 0;
}

static int seed(const cJSON *o, const char *k, bool need, uint64_t def, uint64_t *out, char err[PLOW_ERR_LEN]) {
    const cJSON *x = get(o, k);
    if (!x) {
        if (need) return plow_error(err, "spec: '%s' is required", k);
        *out = def;
        return 0;
    }
    if (!cJSON_IsString(x)) return plow_error(err, "spec: '%s' must be a string of decimal digits (a seed)", k);
    const char *s = x->valuestring;
    size_t len = strlen(s);
    if (len == 0 || len > 20 || strspn(s, "0123456789") != len || (len > 1 && s[0] == '0'))
        return plow_error(err, "spec: '%s' must be a decimal number without leading zeros", k);
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return plow_error(err, "spec: '%s' is larger than 2^64-1", k);
    *out = (uint64_t)v;
    return 0;
}

static int str(const cJSON *o, const char *k, bool need, const char *def, char *out, size_t cap,
               char err[PLOW_ERR_LEN]) {
    const cJSON *x = get(o, k);
    if (!x) {
        if (need) return plow_error(err, "spec: '%s' is required", k);
        snprintf(out, cap, "%s", def);
        return 0;
    }
    if (!cJSON_IsString(x)) return plow_error(err, "spec: '%s' must be a string", k);
    if (strlen(x->valuestring) >= cap) return plow_error(err, "spec: '%s' is longer than %zu bytes", k, cap - 1);
    snprintf(out, cap, "%s", x->valuestring);
    return 0;
}

static int hash(const cJSON *o, const char *k, uint8_t out[32], char err[PLOW_ERR_LEN]) {
    const cJSON *x = get(o, k);
    if (!x) return plow_error(err, "spec: '%s' is required (a blob hash)", k);
    if (!cJSON_IsString(x) || strlen(x->valuestring) != 64 || plow_unhex(x->valuestring, out, 32))
        return plow_error(err, "spec: '%s' must be a blob hash (64 hex digits)", k);
    return 0;
}

/* "base" / "adapter": {"model": HASH, "config": HASH} */
static int run_pair(const cJSON *o, const char *k, uint8_t model_h[32], uint8_t config_h[32], char err[PLOW_ERR_LEN]) {
    const cJSON *x = get(o, k);
    if (!cJSON_IsObject(x)) return plow_error(err, "spec: '%s' must be an object {\"model\": HASH, \"config\": HASH}", k);
    static const char *const known[] = {"model", "config", NULL};
    char where[32];
    snprintf(where, sizeof where, "%s.", k);
    if (keys_known(x, where, known, err) || hash(x, "model", model_h, err) || hash(x, "config", config_h, err)) {
        if (strncmp(err, "spec: ", 6) == 0) { /* name the object the field is in */
            char e2[PLOW_ERR_LEN];
            snprintf(e2, sizeof e2, "%s", err + 6);
            plow_error(err, "spec: %s: %s", k, e2);
        }
        return -1;
    }
    return 0;
}

/* ---- spec -------------------------------------------------------------------------- */

static int parse_steps(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]);

static int parse_training(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    if (hash(j, "data", s->data, err) || num(j, "val_frac", false, DEF_VAL_FRAC, 0.001, 0.5, &s->val_frac, err))
        return -1;
    return parse_steps(s, j, err);
}

/* steps, batch, seq, warmup, lr, seed, init_seed, checkpoint_every */
static int parse_steps(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    long v;
    if (whole(j, "steps", true, 0, 1, 10000000, &v, err)) return -1;
    s->steps = (int)v;
    if (whole(j, "batch", false, DEF_BATCH, 1, 4096, &v, err)) return -1;
    s->batch = (int)v;
    if (whole(j, "seq", false, 0, 0, 65536, &v, err)) return -1;
    s->seq = (int)v;
    if (whole(j, "warmup", false, -1, -1, 10000000, &v, err)) return -1;
    s->warmup = (int)v;
    if (num(j, "lr", false, 0, 0, 10, &s->lr, err)) return -1;
    if (s->lr != 0 && s->lr < 1e-9) return plow_error(err, "spec: 'lr' must be 0 (the default) or in [1e-09, 10]");
    if (seed(j, "seed", false, 1, &s->seed, err) || seed(j, "init_seed", false, s->seed, &s->init_seed, err)) return -1;
    if (whole(j, "checkpoint_every", false, DEF_EVERY < s->steps ? DEF_EVERY : s->steps, 1, 100000000, &v, err))
        return -1;
    if (v > s->steps) return plow_error(err, "spec: 'checkpoint_every' (%ld) must be at most 'steps' (%d)", v, s->steps);
    s->checkpoint_every = (uint32_t)v;
    return 0;
}

static int parse_lora(job_spec *s, const cJSON *l, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"rank", "alpha", "targets", NULL};
    long v;
    unsigned mask;
    char e2[PLOW_ERR_LEN];
    if (!cJSON_IsObject(l)) return plow_error(err, "spec: 'lora' must be an object {rank, alpha, targets}");
    if (keys_known(l, "lora.", known, err) || whole(l, "rank", false, DEF_RANK, 1, 1024, &v, err)) return -1;
    s->rank = (int)v;
    if (num(l, "alpha", false, DEF_ALPHA, 1e-6, 1e6, &s->alpha, err) ||
        str(l, "targets", false, DEF_TARGETS, s->targets, sizeof s->targets, err))
        return -1;
    if (lora_parse_targets(s->targets, &mask, e2)) return plow_error(err, "spec: lora.targets: %s", e2);
    return 0;
}

/* kind "label": items (blob), n_items, classes (names, distinct). Nothing
 * secret is in a spec: the gold stays with the requester. */
int spec_parse_label(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "items", "n_items", "classes", NULL};
    long v;
    if (keys_known(j, "", known, err) || hash(j, "items", s->items, err) ||
        whole(j, "n_items", true, 0, 1, LEDGER_LABEL_ITEMS_MAX, &v, err))
        return -1;
    s->n_items = (uint32_t)v;
    const cJSON *cl = get(j, "classes");
    if (!cl) return plow_error(err, "spec: 'classes' is required (an array of class names)");
    if (!cJSON_IsArray(cl)) return plow_error(err, "spec: 'classes' must be an array of class names");
    int nc = cJSON_GetArraySize(cl);
    if (nc < 2 || nc > JOB_LABEL_CLASSES_MAX)
        return plow_error(err, "spec: 'classes' has %d names (2..%d allowed)", nc, JOB_LABEL_CLASSES_MAX);
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cl) {
        if (!cJSON_IsString(c) || !label_class_name_ok(c->valuestring))
            return plow_error(err, "spec: classes[%d] must be a name of 1..%d characters [A-Za-z0-9_.-]", i,
                              JOB_LABEL_NAME_MAX);
        for (int k = 0; k < i; k++)
            if (strcmp(s->classes[k], c->valuestring) == 0)
                return plow_error(err, "spec: class '%s' appears twice in 'classes'", c->valuestring);
        snprintf(s->classes[i], sizeof s->classes[i], "%s", c->valuestring);
        i++;
    }
    s->n_classes = (uint32_t)nc;
    return 0;
}

/* Names the object a field is in ("spec: x" -> "spec: obj: x"). */
static int in_object(const char *obj, char err[PLOW_ERR_LEN]) {
    if (strncmp(err, "spec: ", 6) == 0) {
        char e2[PLOW_ERR_LEN];
        snprintf(e2, sizeof e2, "%s", err + 6);
        plow_error(err, "spec: %s: %s", obj, e2);
    }
    return -1;
}

/* kind "dpo" (docs/dpo.md): pairs as data, the base as reference, beta,
 * LoRA or full, optional held-out pairs; the training fields but val_frac. */
int spec_parse_dpo(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "data", "heldout", "tokenizer", "base", "beta", "steps",
                                        "batch", "seq", "lr", "warmup", "seed", "init_seed", "checkpoint_every",
                                        "lora", NULL};
    if (keys_known(j, "", known, err) || hash(j, "tokenizer", s->tokenizer, err) ||
        run_pair(j, "base", s->base_model, s->base_config, err) || parse_training(s, j, err))
        return -1;
    s->val_frac = 0; /* pairs have no held-out fraction: `heldout` is a set of its own */
    s->has_base = true;
    if (get(j, "heldout")) {
        if (hash(j, "heldout", s->heldout, err)) return -1;
        s->has_heldout = true;
    }
    if (num(j, "beta", false, DEF_BETA, 1e-6, 100, &s->beta, err)) return -1;
    if (s->seq == 1) return plow_error(err, "spec: 'seq' must be at least 2 for DPO (a prompt and a response)");
    const cJSON *l = get(j, "lora");
    if (l) {
        if (parse_lora(s, l, err)) return -1;
        s->has_lora = true;
    }
    return 0;
}

/* kind "rl" (docs/rl.md): GRPO-style steps on generated problems from a base. */
int spec_parse_rl(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "tokenizer", "base", "problems", "group", "max_new",
                                        "temperature", "top_k", "kl", "format_reward", "steps", "batch", "seq", "lr",
                                        "warmup", "seed", "init_seed", "checkpoint_every", "lora", NULL};
    static const char *const pknown[] = {"kinds", "min_digits", "max_digits", "seed", NULL};
    rl_params d;
    long v;
    double x;
    char kinds[64], e2[PLOW_ERR_LEN];
    rl_params_default(&d);
    if (keys_known(j, "", known, err) || hash(j, "tokenizer", s->tokenizer, err) ||
        run_pair(j, "base", s->base_model, s->base_config, err) || parse_steps(s, j, err))
        return -1;
    s->has_base = true;
    const cJSON *p = get(j, "problems");
    if (!cJSON_IsObject(p)) return plow_error(err, "spec: an rl task needs 'problems' {kinds, min_digits, max_digits, seed}");
    problem_set *ps = &s->problems;
    if (keys_known(p, "problems.", pknown, err) || str(p, "kinds", false, "all", kinds, sizeof kinds, err)) return -1;
    if (problem_parse_kinds(kinds, &ps->kinds, e2)) return plow_error(err, "spec: problems.kinds: %s", e2);
    if (whole(p, "min_digits", false, 1, 1, PROBLEM_MAX_DIGITS, &v, err)) return -1;
    ps->min_digits = (uint32_t)v;
    if (whole(p, "max_digits", false, ps->min_digits, ps->min_digits, PROBLEM_MAX_DIGITS, &v, err)) return -1;
    ps->max_digits = (uint32_t)v;
    if (seed(p, "seed", false, 1, &ps->seed, err)) return -1;
    ps->split = PROBLEM_TRAIN;
    rl_params *r = &s->rl;
    *r = d;
    if (whole(j, "group", false, d.group, 2, RL_MAX_GROUP, &v, err)) return -1;
    r->group = (uint32_t)v;
    if (whole(j, "max_new", false, d.max_new, 1, RL_MAX_NEW, &v, err)) return -1;
    r->max_new = (uint32_t)v;
    if (num(j, "temperature", false, d.temperature, 1e-3, 10, &x, err)) return -1;
    r->temperature = (float)x;
    if (whole(j, "top_k", false, d.top_k, 0, 1 << 20, &v, err)) return -1;
    r->top_k = (uint32_t)v;
    if (num(j, "kl", false, d.kl, 0, 10, &x, err)) return -1;
    r->kl = (float)x;
    if (num(j, "format_reward", false, d.format_reward, 0, 1, &x, err)) return -1;
    r->format_reward = (float)x;
    if (rl_params_check(r, e2)) return plow_error(err, "spec: %s", e2);
    const cJSON *l = get(j, "lora");
    if (l) {
        if (parse_lora(s, l, err)) return -1;
        s->has_lora = true;
    }
    return 0;
}

/* kind "round" (docs/rounds.md): a participant's inner run from the shared
 * weights W_t (base) on its shard of the text, and how the round's
 * contributions are encoded and aggregated. */
int spec_parse_round(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "data", "tokenizer", "base", "val_frac", "participants",
                                        "participant", "round", "outer", "steps", "batch", "seq", "lr", "warmup",
                                        "seed", "checkpoint_every", "encoding", "block", "rule", NULL};
    static const char *const oknown[] = {"state", "hash", NULL};
    static const char *const rknown[] = {"agg", "trim", "lr", "momentum", NULL};
    long v;
    char e2[PLOW_ERR_LEN], name[16];
    if (keys_known(j, "", known, err) || hash(j, "tokenizer", s->tokenizer, err) ||
        run_pair(j, "base", s->base_model, s->base_config, err) || parse_training(s, j, err))
        return -1;
    s->has_base = true;
    if (whole(j, "participants", true, 0, 1, ROUND_MAX_PARTICIPANTS, &v, err)) return -1;
    s->participants = (uint32_t)v;
    if (whole(j, "participant", false, -1, 0, ROUND_MAX_PARTICIPANTS - 1, &v, err)) return -1;
    if (v >= (long)s->participants)
        return plow_error(err, "spec: 'participant' (%ld) must be below 'participants' (%u)", v, s->participants);
    s->participant = (int32_t)v;
    double r;
    if (num(j, "round", true, 0, 0, 1e15, &r, err)) return -1;
    if (r != floor(r)) return plow_error(err, "spec: 'round' must be a whole number");
    s->round = (uint64_t)r;
    const cJSON *o = get(j, "outer");
    if (!cJSON_IsObject(o)) return plow_error(err, "spec: 'outer' must be an object {\"state\": HASH, \"hash\": HASH}");
    if (keys_known(o, "outer.", oknown, err) || hash(o, "state", s->outer_state, err) ||
        hash(o, "hash", s->outer_hash, err))
        return in_object("outer", err);
    if (str(j, "encoding", false, "f32", name, sizeof name, err)) return -1;
    s->enc = -1;
    for (int e = 0; e < ROUND_ENC_COUNT; e++)
        if (strcmp(name, round_enc_name((round_enc)e)) == 0) s->enc = e;
    if (s->enc < 0) return plow_error(err, "spec: 'encoding' must be \"f32\" or \"int8\"");
    bool int8 = s->enc == ROUND_ENC_INT8;
    if (whole(j, "block", false, int8 ? ROUND_BLOCK_DEFAULT : 0, int8 ? 1 : 0, int8 ? ROUND_BLOCK_MAX : 0, &v, err))
        return -1;
    s->block = (uint32_t)v;
    const cJSON *rl = get(j, "rule");
    cJSON *empty = rl ? NULL : cJSON_CreateObject();
    round_rule rule;
    round_rule_default(&rule);
    double lr, mu;
    int rrc = -1;
    if (rl && !cJSON_IsObject(rl)) {
        plow_error(err, "spec: 'rule' must be an object {agg, trim, lr, momentum}");
        goto rule_out;
    }
    rl = rl ? rl : empty;
    if (keys_known(rl, "rule.", rknown, err) ||
        str(rl, "agg", false, round_agg_name(rule.agg), name, sizeof name, err) ||
        whole(rl, "trim", false, rule.trim, 0, ROUND_MAX_PARTICIPANTS / 2, &v, err) ||
        num(rl, "lr", false, (double)rule.lr, 1e-6, 10, &lr, err) ||
        num(rl, "momentum", false, (double)rule.momentum, 0, 0.999999, &mu, err)) {
        in_object("rule", err);
        goto rule_out;
    }
    round_agg agg;
    if (round_agg_parse(name, &agg, e2)) {
        plow_error(err, "spec: rule.agg: %s", e2);
        goto rule_out;
    }
    s->agg = (int)agg;
    s->trim = (int)v;
    s->outer_lr = lr;
    s->momentum = mu;
    rrc = 0;
rule_out:
    cJSON_Delete(empty);
    return rrc;
}

/* kind "train": a model config trained from init_seed on a text. */
int spec_parse_train(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "config", "data", "tokenizer", "val_frac", "steps",
                                        "batch", "seq", "lr", "warmup", "seed", "init_seed",
                                        "checkpoint_every", "tied", NULL};
    model_config cfg;
    char e2[PLOW_ERR_LEN];
    if (keys_known(j, "", known, err) || str(j, "config", true, "", s->config, sizeof s->config, err) ||
        hash(j, "tokenizer", s->tokenizer, err) || parse_training(s, j, err))
        return -1;
    if (model_config_named(s->config, 512, &cfg, e2)) return plow_error(err, "spec: %s", e2);
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(j, "tied");
    if (tied) {
        if (!cJSON_IsBool(tied)) return plow_error(err, "spec: 'tied' must be true or false");
        s->head = cJSON_IsTrue(tied) ? JOB_HEAD_TIED : JOB_HEAD_UNTIED;
    }
    if (s->seq > cfg.ctx)
        return plow_error(err, "spec: 'seq' (%d) is longer than the %s model's context (%d)", s->seq, s->config, cfg.ctx);
    return 0;
}

/* kind "lora": an adapter on the base, on a text. */
int spec_parse_lora(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "data", "tokenizer", "base", "val_frac", "steps",
                                        "batch", "seq", "lr", "warmup", "seed", "init_seed",
                                        "checkpoint_every", "lora", NULL};
    if (keys_known(j, "", known, err) || hash(j, "tokenizer", s->tokenizer, err) ||
        run_pair(j, "base", s->base_model, s->base_config, err) || parse_training(s, j, err))
        return -1;
    s->has_base = true;
    const cJSON *l = get(j, "lora");
    cJSON *empty = l ? NULL : cJSON_CreateObject();
    int lrc = parse_lora(s, l ? l : empty, err);
    cJSON_Delete(empty);
    return lrc;
}

/* kind "infer": a prompt, sampling parameters, the base and maybe an adapter. */
int spec_parse_infer(job_spec *s, const cJSON *j, char err[PLOW_ERR_LEN]) {
    static const char *const known[] = {"format", "kind", "tokenizer", "base", "adapter", "infer", NULL};
    static const char *const iknown[] = {"prompt", "tokens", "temperature", "top_k", "top_p", "seed", NULL};
    if (keys_known(j, "", known, err) || hash(j, "tokenizer", s->tokenizer, err) ||
        run_pair(j, "base", s->base_model, s->base_config, err))
        return -1;
    s->has_base = true;
    if (get(j, "adapter")) {
        if (run_pair(j, "adapter", s->adapter_model, s->adapter_config, err)) return -1;
        s->has_adapter = true;
    }
    const cJSON *in = get(j, "infer");
    long v;
    if (!cJSON_IsObject(in))
        return plow_error(err, "spec: 'infer' must be an object {prompt, tokens, temperature, top_k, top_p, seed}");
    if (keys_known(in, "infer.", iknown, err) || str(in, "prompt", true, "", s->prompt, sizeof s->prompt, err))
        return -1;
    if (s->prompt[0] == 0) return plow_error(err, "spec: 'prompt' is empty");
    if (whole(in, "tokens", false, DEF_TOKENS, 1, 1 << 20, &v, err)) return -1;
    s->tokens = (int)v;
    if (num(in, "temperature", false, DEF_TEMPERATURE, 0, 100, &s->temperature, err) ||
        whole(in, "top_k", false, DEF_TOP_K, 0, 1 << 20, &v, err))
        return -1;
    s->top_k = (int)v;
    if (num(in, "top_p", false, DEF_TOP_P, 1e-6, 1, &s->top_p, err) || seed(in, "seed", false, 1, &s->sample_seed, err))
        return -1;
    infer_sampling sp = {(float)s->temperature, s->top_k, (float)s->top_p, s->sample_seed};
    char e2[PLOW_ERR_LEN];
    if (infer_sampling_check(&sp, e2)) return plow_error(err, "spec: infer: %s", e2);
    return 0;
}

int job_spec_parse(job_spec *s, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    memset(s, 0, sizeof *s);
    if (n > JOB_SPEC_MAX) return plow_error(err, "spec: larger than %d bytes", JOB_SPEC_MAX);
    /* a NUL inside a string would be cut off silently: two texts, one spec */
    for (size_t i = 0; i + 6 <= n; i++)
        if (buf[i] == '\\' && buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0)
            return plow_error(err, "spec: strings may not contain \\u0000");
    if (memchr(buf, 0, n)) return plow_error(err, "spec: contains a NUL byte");
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return plow_error(err, "spec: not a JSON object");
    }
    int rc = -1;
    char fmt[32], kind[16];
    task_kind k;
    if (str(j, "format", true, "", fmt, sizeof fmt, err) || str(j, "kind", true, "", kind, sizeof kind, err)) goto out;
    if (strcmp(fmt, SPEC_FORMAT) != 0) {
        plow_error(err, "spec: 'format' must be \"" SPEC_FORMAT "\"");
        goto out;
    }
    if (task_kind_parse(kind, &k)) {
        plow_error(err, "spec: unknown kind '%.40s' (train, lora, infer, label, dpo, round or rl)", kind);
        goto out;
    }
    s->kind = k;
    s->slot = -1;
    s->participant = -1;
    if (job_kind_of(k)->spec_parse(s, j, err)) goto out;
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) memset(s, 0, sizeof *s);
    return rc;
}

static void put_hex(cJSON *o, const char *k, const uint8_t h[32]) {
    char hex[65];
    plow_hex(h, 32, hex);
    cJSON_AddStringToObject(o, k, hex);
}

static void put_seed(cJSON *o, const char *k, uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, v);
    cJSON_AddStringToObject(o, k, s);
}

static void put_pair(cJSON *o, const char *k, const uint8_t m[32], const uint8_t c[32]) {
    cJSON *x = cJSON_AddObjectToObject(o, k);
    put_hex(x, "model", m);
    put_hex(x, "config", c);
}

/* The step fields of the training kinds, in their canonical order. */
static void put_steps(cJSON *j, const job_spec *s, bool init_seed) {
    cJSON_AddNumberToObject(j, "steps", s->steps);
    cJSON_AddNumberToObject(j, "batch", s->batch);
    cJSON_AddNumberToObject(j, "seq", s->seq);
    cJSON_AddNumberToObject(j, "lr", s->lr);
    cJSON_AddNumberToObject(j, "warmup", s->warmup);
    put_seed(j, "seed", s->seed);
    if (init_seed) put_seed(j, "init_seed", s->init_seed);
    cJSON_AddNumberToObject(j, "checkpoint_every", s->checkpoint_every);
}

static void put_lora(cJSON *j, const job_spec *s) {
    cJSON *l = cJSON_AddObjectToObject(j, "lora");
    cJSON_AddNumberToObject(l, "rank", s->rank);
    cJSON_AddNumberToObject(l, "alpha", s->alpha);
    cJSON_AddStringToObject(l, "targets", s->targets);
}

void spec_write_train(const job_spec *s, cJSON *j) {
    cJSON_AddStringToObject(j, "config", s->config);
    if (s->head != JOB_HEAD_CONFIG) cJSON_AddBoolToObject(j, "tied", s->head == JOB_HEAD_TIED);
    put_hex(j, "data", s->data);
    put_hex(j, "tokenizer", s->tokenizer);
    cJSON_AddNumberToObject(j, "val_frac", s->val_frac);
    put_steps(j, s, true);
}

void spec_write_lora(const job_spec *s, cJSON *j) {
    put_hex(j, "data", s->data);
    put_hex(j, "tokenizer", s->tokenizer);
    put_pair(j, "base", s->base_model, s->base_config);
    cJSON_AddNumberToObject(j, "val_frac", s->val_frac);
    put_steps(j, s, true);
    put_lora(j, s);
}

void spec_write_dpo(const job_spec *s, cJSON *j) {
    put_hex(j, "data", s->data);
    if (s->has_heldout) put_hex(j, "heldout", s->heldout);
    put_hex(j, "tokenizer", s->tokenizer);
    put_pair(j, "base", s->base_model, s->base_config);
    cJSON_AddNumberToObject(j, "beta", s->beta);
    put_steps(j, s, true);
    if (s->has_lora) put_lora(j, s);
}

void spec_write_rl(const job_spec *s, cJSON *j) {
    char kinds[64] = "";
    const problem_set *ps = &s->problems;
    put_hex(j, "tokenizer", s->tokenizer);
    put_pair(j, "base", s->base_model, s->base_config);
    cJSON *p = cJSON_AddObjectToObject(j, "problems");
    for (int k = 0; k < PROBLEM_KIND_COUNT; k++)
        if (ps->kinds & (1u << k))
            snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", kinds[0] ? "," : "",
                     problem_kind_name((problem_kind)k));
    cJSON_AddStringToObject(p, "kinds", kinds);
    cJSON_AddNumberToObject(p, "min_digits", ps->min_digits);
    cJSON_AddNumberToObject(p, "max_digits", ps->max_digits);
    put_seed(p, "seed", ps->seed);
    cJSON_AddNumberToObject(j, "group", s->rl.group);
    cJSON_AddNumberToObject(j, "max_new", s->rl.max_new);
    cJSON_AddNumberToObject(j, "temperature", (double)s->rl.temperature);
    cJSON_AddNumberToObject(j, "top_k", s->rl.top_k);
    cJSON_AddNumberToObject(j, "kl", (double)s->rl.kl);
    cJSON_AddNumberToObject(j, "format_reward", (double)s->rl.format_reward);
    put_steps(j, s, true);
    if (s->has_lora) put_lora(j, s);
}

void spec_write_round(const job_spec *s, cJSON *j) {
    put_hex(j, "data", s->data);
    put_hex(j, "tokenizer", s->tokenizer);
    put_pair(j, "base", s->base_model, s->base_config);
    cJSON_AddNumberToObject(j, "val_frac", s->val_frac);
    cJSON_AddNumberToObject(j, "participants", s->participants);
    if (s->participant >= 0) cJSON_AddNumberToObject(j, "participant", s->participant);
    cJSON_AddNumberToObject(j, "round", (double)s->round);
    cJSON *o = cJSON_AddObjectToObject(j, "outer");
    put_hex(o, "state", s->outer_state);
    put_hex(o, "hash", s->outer_hash);
    put_steps(j, s, false);
    cJSON_AddStringToObject(j, "encoding", s->enc >= 0 && s->enc < ROUND_ENC_COUNT ? round_enc_name((round_enc)s->enc) : "?");
    cJSON_AddNumberToObject(j, "block", s->block);
    cJSON *r = cJSON_AddObjectToObject(j, "rule");
    cJSON_AddStringToObject(r, "agg", s->agg >= 0 && s->agg < ROUND_AGG_COUNT ? round_agg_name((round_agg)s->agg) : "?");
    cJSON_AddNumberToObject(r, "trim", s->trim);
    cJSON_AddNumberToObject(r, "lr", s->outer_lr);
    cJSON_AddNumberToObject(r, "momentum", s->momentum);
}

void spec_write_label(const job_spec *s, cJSON *j) {
    put_hex(j, "items", s->items);
    cJSON_AddNumberToObject(j, "n_items", s->n_items);
    cJSON *cl = cJSON_AddArrayToObject(j, "classes");
    for (uint32_t i = 0; i < s->n_classes && i < JOB_LABEL_CLASSES_MAX; i++)
        cJSON_AddItemToArray(cl, cJSON_CreateString(s->classes[i]));
}

void spec_write_infer(const job_spec *s, cJSON *j) {
    put_hex(j, "tokenizer", s->tokenizer);
    put_pair(j, "base", s->base_model, s->base_config);
    if (s->has_adapter) put_pair(j, "adapter", s->adapter_model, s->adapter_config);
    cJSON *in = cJSON_AddObjectToObject(j, "infer");
    cJSON_AddStringToObject(in, "prompt", s->prompt);
    cJSON_AddNumberToObject(in, "tokens", s->tokens);
    cJSON_AddNumberToObject(in, "temperature", s->temperature);
    cJSON_AddNumberToObject(in, "top_k", s->top_k);
    cJSON_AddNumberToObject(in, "top_p", s->top_p);
    put_seed(in, "seed", s->sample_seed);
}

void job_spec_write(const job_spec *s, plow_buf *out) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", SPEC_FORMAT);
    cJSON_AddStringToObject(j, "kind", task_kind_name(s->kind));
    job_kind_of(s->kind)->spec_write(s, j);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(txt);
    plow_buf_append(out, txt, strlen(txt));
    free(txt);
}

/* ---- manifests --------------------------------------------------------------------- */

bool job_path_ok(const char *p) {
    size_t n = strlen(p);
    if (n == 0 || n > JOB_PATH_MAX || p[0] == '/' || p[n - 1] == '/') return false;
    if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-") != n) return false;
    const char *c = p;
    while (*c) { /* every component non-empty and neither "." nor ".." */
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return false;
        c += len;
        if (*c == '/') c++;
    }
    return true;
}

void job_manifest_release(job_manifest *m) {
    free(m->files);
    memset(m, 0, sizeof *m);
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const job_manifest_file *)a)->path, ((const job_manifest_file *)b)->path);
}

void job_manifest_add(job_manifest *m, const char *path, const uint8_t hash_[32]) {
    PLOW_ASSERT(job_path_ok(path));
    m->files = plow_realloc(m->files, sizeof *m->files * (m->n + 1));
    job_manifest_file *f = &m->files[m->n++];
    snprintf(f->path, sizeof f->path, "%s", path);
    memcpy(f->hash, hash_, 32);
}

int job_manifest_parse(job_manifest *m, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    memset(m, 0, sizeof *m);
    if (n > JOB_MANIFEST_MAX) return plow_error(err, "manifest: larger than %d bytes", JOB_MANIFEST_MAX);
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        plow_error(err, "manifest: not a JSON object");
        goto out;
    }
    const cJSON *f = get(j, "format"), *files = get(j, "files");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, MANIFEST_FORMAT) != 0) {
        plow_error(err, "manifest: 'format' must be \"" MANIFEST_FORMAT "\"");
        goto out;
    }
    for (const cJSON *c = j->child; c; c = c->next)
        if (strcmp(c->string, "format") != 0 && strcmp(c->string, "files") != 0) {
            plow_error(err, "manifest: unknown key '%.40s'", c->string);
            goto out;
        }
    if (!cJSON_IsObject(files)) {
        plow_error(err, "manifest: 'files' must be an object {path: blob hash}");
        goto out;
    }
    int count = cJSON_GetArraySize(files);
    if (count > JOB_MANIFEST_FILES) {
        plow_error(err, "manifest: more than %d files", JOB_MANIFEST_FILES);
        goto out;
    }
    m->files = plow_calloc((size_t)(count ? count : 1), sizeof *m->files);
    for (const cJSON *c = files->child; c; c = c->next) {
        if (!job_path_ok(c->string)) {
            plow_error(err, "manifest: unsafe or malformed path '%.80s' (relative, [A-Za-z0-9._/-], no '.' or '..')",
                       c->string);
            goto out;
        }
        job_manifest_file *mf = &m->files[m->n];
        if (!cJSON_IsString(c) || strlen(c->valuestring) != 64 || plow_unhex(c->valuestring, mf->hash, 32)) {
            plow_error(err, "manifest: '%.80s' must map to a blob hash (64 hex digits)", c->string);
            goto out;
        }
        snprintf(mf->path, sizeof mf->path, "%s", c->string);
        m->n++;
    }
    qsort(m->files, m->n, sizeof *m->files, cmp_file);
    for (size_t i = 1; i < m->n; i++) {
        if (strcmp(m->files[i - 1].path, m->files[i].path) == 0) {
            plow_error(err, "manifest: '%.80s' appears twice", m->files[i].path);
            goto out;
        }
        /* "a" and "a/b" cannot both be files */
        size_t len = strlen(m->files[i - 1].path);
        if (strncmp(m->files[i - 1].path, m->files[i].path, len) == 0 && m->files[i].path[len] == '/') {
            plow_error(err, "manifest: '%.80s' is both a file and a directory", m->files[i - 1].path);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc) job_manifest_release(m);
    return rc;
}

void job_manifest_write(const job_manifest *m, plow_buf *out) {
    job_manifest_file *sorted = plow_alloc(sizeof *sorted * (m->n ? m->n : 1));
    if (m->n) memcpy(sorted, m->files, sizeof *sorted * m->n);
    qsort(sorted, m->n, sizeof *sorted, cmp_file);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", MANIFEST_FORMAT);
    cJSON *files = cJSON_AddObjectToObject(j, "files");
    for (size_t i = 0; i < m->n; i++) put_hex(files, sorted[i].path, sorted[i].hash);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    free(sorted);
    PLOW_ASSERT(txt);
    plow_buf_append(out, txt, strlen(txt));
    free(txt);
}

const uint8_t *job_manifest_find(const job_manifest *m, const char *path) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->files[i].path, path) == 0) return m->files[i].hash;
    return NULL;
}
