/*
 * modelio.c — model and adapter files: safetensors with Hugging Face / PEFT
 * names, the JSON configs beside them, and GGUF export for llama.cpp-style
 * runtimes. The generic format code lives in safetensors.c and gguf.c; this
 * file only maps plow's parameters onto names and checks what it reads.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <errno.h>
#include <sys/stat.h>

#include "gguf.h"
#include "modelio.h"
#include "safetensors.h"

#define MODEL_FILE "model.safetensors"
#define ADAPTER_FILE "adapter_model.safetensors"

static char *join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static void meta_int(st_writer *w, const char *key, long v) {
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    st_writer_meta(w, key, b);
}

static void meta_float(st_writer *w, const char *key, float v) {
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)v);
    st_writer_meta(w, key, b);
}

/* A file's __metadata__ as a lookup: an st_file's, or a bare header's
 * (modelio_peek_config reads only the header). */
typedef const char *(*meta_get_fn)(const void *ctx, const char *key);

static int get_int(meta_get_fn get, const void *ctx, const char *key, long lo, long hi, long *out,
                   char err[PLOW_ERR_LEN]) {
    const char *s = get(ctx, key);
    if (!s) return plow_error(err, "metadata key '%s' missing (not a plow file?)", key);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return plow_error(err, "metadata '%s' = '%.40s' is not an integer in %ld..%ld", key, s, lo, hi);
    *out = v;
    return 0;
}

static int get_float(meta_get_fn get, const void *ctx, const char *key, float *out, char err[PLOW_ERR_LEN]) {
    const char *s = get(ctx, key);
    if (!s) return plow_error(err, "metadata key '%s' missing (not a plow file?)", key);
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) return plow_error(err, "metadata '%s' = '%.40s' is not a number", key, s);
    *out = v;
    return 0;
}

static const char *st_meta_of(const void *ctx, const char *key) { return st_meta_get(ctx, key); }

/* The model config a plow model file's metadata gives (checked). */
static int config_from_meta(meta_get_fn get, const void *ctx, model_config *out, char err[PLOW_ERR_LEN]) {
    const char *kind = get(ctx, "plow.kind");
    if (!kind) return plow_error(err, "no plow metadata: not a model written by plow");
    if (strcmp(kind, "model") != 0) return plow_error(err, "file holds a '%.20s', not a model", kind);
    model_config c = {0};
    long v[8];
    static const char *const keys[8] = {"plow.n_layer", "plow.d_model", "plow.n_head", "plow.n_kv_head",
                                        "plow.d_ff",    "plow.ctx",     "plow.vocab",  "plow.tied"};
    for (int i = 0; i < 8; i++)
        if (get_int(get, ctx, keys[i], 0, 1 << 20, &v[i], err)) return -1;
    c.n_layer = (int)v[0];
    c.d_model = (int)v[1];
    c.n_head = (int)v[2];
    c.n_kv_head = (int)v[3];
    c.d_ff = (int)v[4];
    c.ctx = (int)v[5];
    c.vocab = (int)v[6];
    if (v[7] > 1) return plow_error(err, "metadata 'plow.tied' must be 0 or 1");
    c.tied = v[7] == 1;
    if (get_float(get, ctx, "plow.norm_eps", &c.norm_eps, err) || get_float(get, ctx, "plow.rope_theta", &c.rope_theta, err))
        return -1;
    const char *name = get(ctx, "plow.name");
    snprintf(c.name, sizeof c.name, "%s", name ? name : "custom");
    if (model_config_check(&c, err)) return -1;
    *out = c;
    return 0;
}

/* Checks that a file tensor has the expected dtype and shape. */
static int expect_tensor(const st_file *f, const model_tensor *t, const st_tensor **out, char err[PLOW_ERR_LEN]) {
    const st_tensor *x = st_find(f, t->name);
    if (!x) return plow_error(err, "tensor '%s' missing from the file", t->name);
    if (x->dtype != ST_F32)
        return plow_error(err, "tensor '%s' has dtype %s, expected F32", t->name, st_dtype_name(x->dtype));
    if (x->ndim != t->ndim || x->shape[0] != t->shape[0] || (t->ndim == 2 && x->shape[1] != t->shape[1]))
        return plow_error(err, "tensor '%s' has the wrong shape for this config", t->name);
    *out = x;
    return 0;
}

/* ---- models ---------------------------------------------------------------- */

static int write_hf_config(const model *m, const char *dir, char err[PLOW_ERR_LEN]) {
    const model_config *c = &m->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(j, "intermediate_size", c->d_ff);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_head);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->ctx);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
    cJSON_AddNumberToObject(j, "rms_norm_eps", (double)c->norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", (double)c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    cJSON_AddNumberToObject(j, "bos_token_id", c->vocab - 1);
    cJSON_AddNumberToObject(j, "eos_token_id", c->vocab - 1);
    cJSON_AddStringToObject(j, "plow_config", c->name);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    char *path = join(dir, "config.json");
    int rc = plow_write_file(path, s, strlen(s), err);
    free(path);
    free(s);
    return rc;
}

int modelio_save_model(const model *m, const char *dir, char err[PLOW_ERR_LEN]) {
    if (plow_mkdir_p(dir, err)) return -1;
    const model_config *c = &m->cfg;
    st_writer *w = st_writer_new();
    st_writer_meta(w, "format", "pt");
    st_writer_meta(w, "plow.kind", "model");
    st_writer_meta(w, "plow.name", c->name);
    meta_int(w, "plow.n_layer", c->n_layer);
    meta_int(w, "plow.d_model", c->d_model);
    meta_int(w, "plow.n_head", c->n_head);
    meta_int(w, "plow.n_kv_head", c->n_kv_head);
    meta_int(w, "plow.d_ff", c->d_ff);
    meta_int(w, "plow.ctx", c->ctx);
    meta_int(w, "plow.vocab", c->vocab);
    meta_int(w, "plow.tied", c->tied);
    meta_float(w, "plow.norm_eps", c->norm_eps);
    meta_float(w, "plow.rope_theta", c->rope_theta);
    for (int i = 0; i < m->n_tensors; i++) {
        const model_tensor *t = &m->tensors[i];
        st_writer_add(w, t->name, ST_F32, t->ndim, t->shape, m->params + t->offset);
    }
    char *path = join(dir, MODEL_FILE);
    int rc = st_writer_save(w, path, err);
    free(path);
    st_writer_free(w);
    if (rc == 0) rc = write_hf_config(m, dir, err);
    return rc;
}

static int model_from_st(model **out, const st_file *f, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    model_config c;
    if (config_from_meta(st_meta_of, f, &c, err)) return -1;
    /* The metadata is a promise: before allocating the model it describes,
     * the file must hold that many tensors and exactly that many float32
     * values (st_parse has checked every tensor lies inside the file), so a
     * few hundred bytes of header cannot make us allocate terabytes. */
    size_t want_tensors = (size_t)c.n_layer * 9 + 2 + (c.tied ? 0 : 1);
    if (st_count(f) != want_tensors)
        return plow_error(err, "file has %zu tensors, this config has %zu", st_count(f), want_tensors);
    uint64_t have = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *x = st_get(f, i);
        if (x->dtype != ST_F32)
            return plow_error(err, "tensor '%s' has dtype %s, expected F32", x->name, st_dtype_name(x->dtype));
        have += x->numel;
    }
    if (have != model_config_params(&c))
        return plow_error(err, "file holds %llu weights, its config needs %llu", (unsigned long long)have,
                          (unsigned long long)model_config_params(&c));
    /* every tensor must be there, and nothing else */
    model *m;
    if (model_new(&m, &c, err)) return -1;
    for (int i = 0; i < m->n_tensors; i++) {
        const st_tensor *x;
        if (expect_tensor(f, &m->tensors[i], &x, err)) {
            model_free(m);
            return -1;
        }
        memcpy(m->params + m->tensors[i].offset, x->data, x->nbytes);
    }
    *out = m;
    return 0;
}

int modelio_parse_model(model **out, const uint8_t *buf, size_t n, char err[PLOW_ERR_LEN]) {
    st_file *f;
    *out = NULL;
    if (st_parse(buf, n, &f, err)) return -1;
    int rc = model_from_st(out, f, err);
    st_free(f);
    return rc;
}

static char *model_file_path(const char *path, const char *file) {
    return plow_is_dir(path) ? join(path, file) : plow_strdup(path);
}

/* A model directory's config.json (written by write_hf_config for other
 * tools) must describe the model its safetensors metadata describes: a
 * conflict is named, key by key, rather than one of the two silently
 * winning. A directory without config.json is fine. */
static int check_hf_config(const char *dir, const model_config *c, char err[PLOW_ERR_LEN]) {
    char *path = join(dir, "config.json");
    if (!plow_file_exists(path)) return free(path), 0;
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = plow_read_file(path, 1u << 20, &buf, &n, err);
    free(path);
    if (rc) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return plow_error(err, "config.json is not a JSON object");
    }
    static const struct {
        const char *key, *meta;
        size_t off;
    } ints[] = {
        {"num_hidden_layers", "plow.n_layer", offsetof(model_config, n_layer)},
        {"hidden_size", "plow.d_model", offsetof(model_config, d_model)},
        {"num_attention_heads", "plow.n_head", offsetof(model_config, n_head)},
        {"num_key_value_heads", "plow.n_kv_head", offsetof(model_config, n_kv_head)},
        {"intermediate_size", "plow.d_ff", offsetof(model_config, d_ff)},
        {"max_position_embeddings", "plow.ctx", offsetof(model_config, ctx)},
        {"vocab_size", "plow.vocab", offsetof(model_config, vocab)},
    };
    rc = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == 0; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, ints[i].key);
        int want;
        memcpy(&want, (const char *)c + ints[i].off, sizeof want);
        if (!cJSON_IsNumber(x))
            rc = plow_error(err, "config.json has no number '%s'", ints[i].key);
        else if (x->valuedouble != (double)want)
            rc = plow_error(err, "config.json and %s disagree: config.json says %s %.17g, the weights' metadata "
                                 "%s %d",
                            MODEL_FILE, ints[i].key, x->valuedouble, ints[i].meta, want);
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    if (rc == 0 && !cJSON_IsBool(t)) rc = plow_error(err, "config.json has no true/false 'tie_word_embeddings'");
    if (rc == 0 && cJSON_IsTrue(t) != c->tied)
        rc = plow_error(err, "config.json and %s disagree: config.json says tie_word_embeddings %s (%s), the "
                             "weights' metadata plow.tied %d (%s); re-export the model or correct config.json",
                        MODEL_FILE, c->tied ? "false" : "true",
                        c->tied ? "a head of its own" : "the head tied to the embedding", c->tied,
                        c->tied ? "the head is the embedding, no lm_head.weight" : "an lm_head.weight of its own");
    cJSON_Delete(j);
    return rc;
}

int modelio_load_model(model **out, const char *path, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    char *p = model_file_path(path, MODEL_FILE);
    st_file *f;
    int rc = st_load(p, &f, err); /* its errors name the file already */
    if (rc == 0) {
        rc = model_from_st(out, f, err);
        st_free(f);
        if (rc) plow_error_prefix(err, p);
    }
    if (rc == 0 && plow_is_dir(path) && check_hf_config(path, &(*out)->cfg, err)) {
        plow_error_prefix(err, path);
        model_free(*out);
        *out = NULL;
        rc = -1;
    }
    free(p);
    return rc;
}

static const char *json_meta_of(const void *ctx, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive((const cJSON *)ctx, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int modelio_peek_config(const char *path, model_config *out, uint64_t *file_bytes, char err[PLOW_ERR_LEN]) {
    char *p = model_file_path(path, MODEL_FILE);
    FILE *f = fopen(p, "rb");
    char *hdr = NULL;
    cJSON *j = NULL;
    int rc = -1;
    struct stat sb;
    uint8_t lb[8];
    if (!f) {
        plow_error(err, "cannot open: %s", strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || fread(lb, 1, 8, f) != 8) {
        plow_error(err, "not a safetensors file (too short)");
        goto out;
    }
    uint64_t hl = 0, size = (uint64_t)sb.st_size;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | lb[i];
    if (hl < 2 || hl > MODELIO_PEEK_HEADER_MAX || hl > size - 8) {
        plow_error(err, "a header of %llu bytes in a file of %llu", (unsigned long long)hl, (unsigned long long)size);
        goto out;
    }
    hdr = plow_alloc((size_t)hl);
    if (fread(hdr, 1, (size_t)hl, f) != hl) {
        plow_error(err, "cannot read the header");
        goto out;
    }
    j = cJSON_ParseWithLength(hdr, (size_t)hl);
    const cJSON *meta = j ? cJSON_GetObjectItemCaseSensitive(j, "__metadata__") : NULL;
    if (!cJSON_IsObject(meta)) {
        plow_error(err, "no __metadata__ in the header: not a model written by plow");
        goto out;
    }
    if (config_from_meta(json_meta_of, meta, out, err)) goto out;
    /* the weights the config promises must be in the file (as model_from_st checks) */
    uint64_t need = 8 + hl + 4 * model_config_params(out);
    if (size < need) {
        plow_error(err, "its config needs %llu bytes of weights, the file has %llu", (unsigned long long)need,
                   (unsigned long long)size);
        goto out;
    }
    if (file_bytes) *file_bytes = size;
    rc = 0;
out:
    if (rc) plow_error_prefix(err, p);
    cJSON_Delete(j);
    free(hdr);
    if (f) fclose(f);
    free(p);
    return rc;
}

int modelio_load_tokenizer(tokenizer **out, const char *model_path, char err[PLOW_ERR_LEN]) {
    char *p;
    if (plow_is_dir(model_path)) {
        p = join(model_path, "tokenizer.bin");
    } else {
        const char *slash = strrchr(model_path, '/');
        char *dir = slash ? strndup(model_path, (size_t)(slash - model_path)) : plow_strdup(".");
        p = join(dir, "tokenizer.bin");
        free(dir);
    }
    int rc = tokenizer_load(out, p, err);
    free(p);
    return rc;
}

/* ---- adapters -------------------------------------------------------------- */

int modelio_save_lora(const lora *l, const model *base, const char *dir, char err[PLOW_ERR_LEN]) {
    if (plow_mkdir_p(dir, err)) return -1;
    uint8_t bh[PLOW_HASH_LEN];
    char hex[2 * PLOW_HASH_LEN + 1];
    model_hash(base, bh);
    plow_hex(bh, PLOW_HASH_LEN, hex);
    st_writer *w = st_writer_new();
    st_writer_meta(w, "format", "pt");
    st_writer_meta(w, "plow.kind", "lora");
    st_writer_meta(w, "plow.base_model_hash", hex);
    meta_int(w, "plow.rank", l->rank);
    meta_float(w, "plow.alpha", l->alpha);
    meta_int(w, "plow.targets", (long)l->targets);
    for (int i = 0; i < l->n_tensors; i++) {
        const model_tensor *t = &l->tensors[i];
        st_writer_add(w, t->name, ST_F32, t->ndim, t->shape, l->params + t->offset);
    }
    char *path = join(dir, ADAPTER_FILE);
    int rc = st_writer_save(w, path, err);
    free(path);
    st_writer_free(w);
    if (rc) return rc;
    /* adapter_config.json with PEFT's keys */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    cJSON_AddNumberToObject(j, "r", l->rank);
    cJSON_AddNumberToObject(j, "lora_alpha", (double)l->alpha);
    cJSON_AddNumberToObject(j, "lora_dropout", 0.0);
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddBoolToObject(j, "fan_in_fan_out", false);
    cJSON *tm = cJSON_AddArrayToObject(j, "target_modules");
    for (int t = 0; t < LORA_TARGET_COUNT; t++)
        if (l->targets & (1u << t)) cJSON_AddItemToArray(tm, cJSON_CreateString(lora_target_name(t)));
    cJSON_AddStringToObject(j, "base_model_name_or_path", "");
    cJSON_AddStringToObject(j, "plow_base_model_hash", hex);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    char *cp = join(dir, "adapter_config.json");
    rc = plow_write_file(cp, s, strlen(s), err);
    free(cp);
    free(s);
    return rc;
}

int modelio_load_lora(lora **out, const model *base, const char *path, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    char *p = model_file_path(path, ADAPTER_FILE);
    st_file *f = NULL;
    lora *l = NULL;
    int rc = -1;
    if (st_load(p, &f, err)) goto out;
    const char *kind = st_meta_get(f, "plow.kind");
    if (!kind || strcmp(kind, "lora") != 0) {
        plow_error(err, "%s: not a LoRA adapter written by plow", p);
        goto out;
    }
    long rank, targets;
    float alpha = 0;
    if (get_int(st_meta_of, f, "plow.rank", 1, 1024, &rank, err) || get_int(st_meta_of, f, "plow.targets", 1, (1 << LORA_TARGET_COUNT) - 1, &targets, err) ||
        get_float(st_meta_of, f, "plow.alpha", &alpha, err))
        goto out;
    const char *hex = st_meta_get(f, "plow.base_model_hash");
    uint8_t want[PLOW_HASH_LEN], have[PLOW_HASH_LEN];
    if (!hex || plow_unhex(hex, want, PLOW_HASH_LEN)) {
        plow_error(err, "%s: missing or malformed base model hash", p);
        goto out;
    }
    model_hash(base, have);
    if (memcmp(want, have, PLOW_HASH_LEN) != 0) {
        plow_error(err, "%s: adapter was trained on another base model (hash %.16s...)", p, hex);
        goto out;
    }
    /* as for models: the file must hold what the metadata promises before
     * the adapter it describes is allocated */
    uint64_t have_w = 0, want_w = lora_config_params(&base->cfg, (int)rank, (unsigned)targets);
    for (size_t i = 0; i < st_count(f); i++) have_w += st_get(f, i)->numel;
    if (have_w != want_w) {
        plow_error(err, "%s: adapter holds %llu weights, rank %ld on these targets needs %llu", p,
                   (unsigned long long)have_w, rank, (unsigned long long)want_w);
        goto out;
    }
    if (lora_new(&l, &base->cfg, (int)rank, alpha, (unsigned)targets, err)) goto out;
    if (st_count(f) != (size_t)l->n_tensors) {
        plow_error(err, "%s: adapter has %zu tensors, expected %d", p, st_count(f), l->n_tensors);
        goto out;
    }
    for (int i = 0; i < l->n_tensors; i++) {
        const st_tensor *x;
        if (expect_tensor(f, &l->tensors[i], &x, err)) goto out;
        memcpy(l->params + l->tensors[i].offset, x->data, x->nbytes);
    }
    *out = l;
    l = NULL;
    rc = 0;
out:
    lora_free(l);
    st_free(f);
    free(p);
    return rc;
}

/* ---- GGUF ------------------------------------------------------------------- */

void modelio_permute_rope_rows(float *dst, const float *src, int heads, int HD, int cols) {
    int H2 = HD / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < H2; i++)
            for (int s = 0; s < 2; s++)
                memcpy(dst + ((size_t)h * HD + 2 * i + s) * cols, src + ((size_t)h * HD + s * H2 + i) * cols,
                       sizeof(float) * (size_t)cols);
}

size_t modelio_gpt2_bytes_to_unicode(const uint8_t *in, size_t n, char *out) {
    /* GPT-2's table: printable bytes map to themselves, the other 68 bytes to
     * U+0100.. in byte order. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b = in[i], cp;
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) {
            cp = b;
        } else {
            unsigned k = 0;
            for (unsigned x = 0; x < b; x++)
                if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174))) k++;
            cp = 256 + k;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = 0;
    return o;
}

int modelio_export_gguf(const model *m, const lora *l, const tokenizer *tok, const char *path,
                        char err[PLOW_ERR_LEN]) {
    const model_config *c = &m->cfg;
    if (tokenizer_vocab_size(tok) != c->vocab)
        return plow_error(err, "tokenizer has %d tokens but the model expects %d", tokenizer_vocab_size(tok), c->vocab);
    int HD = c->d_model / c->n_head;
    /* weights to write: a copy, with a LoRA update merged if given */
    float *w = plow_alloc_aligned(m->n_params * sizeof(float));
    memcpy(w, m->params, m->n_params * sizeof(float));
    model_view v;
    model_view_at(m, w, &v);
    if (l) {
        for (int layer = 0; layer < c->n_layer; layer++)
            for (int t = 0; t < LORA_TARGET_COUNT; t++) {
                if (!(l->targets & (1u << t))) continue;
                float *W = t == 0 ? v.layer[layer].wq : t == 1 ? v.layer[layer].wk : t == 2 ? v.layer[layer].wv
                         : t == 3 ? v.layer[layer].wo : t == 4 ? v.layer[layer].w_gate : t == 5 ? v.layer[layer].w_up
                         : v.layer[layer].w_down;
                const lora_pair *p = &l->pair[layer][t];
                int KVD = c->n_kv_head * HD;
                int out_d = (t == 1 || t == 2) ? KVD : (t == 4 || t == 5) ? c->d_ff : c->d_model;
                int in_d = t == 6 ? c->d_ff : c->d_model;
                float s = l->alpha / (float)l->rank;
                for (int o = 0; o < out_d; o++)
                    for (int i = 0; i < in_d; i++) {
                        float acc = 0.0f;
                        for (int r = 0; r < l->rank; r++) acc = acc + p->b[(size_t)o * l->rank + r] * p->a[(size_t)r * in_d + i];
                        W[(size_t)o * in_d + i] = W[(size_t)o * in_d + i] + s * acc;
                    }
            }
    }
    gguf_writer *g = gguf_writer_new();
    gguf_writer_kv_str(g, "general.architecture", "llama");
    gguf_writer_kv_str(g, "general.name", c->name);
    gguf_writer_kv_u32(g, "general.file_type", 0); /* all F32 */
    gguf_writer_kv_u32(g, "llama.vocab_size", (uint32_t)c->vocab);
    gguf_writer_kv_u32(g, "llama.context_length", (uint32_t)c->ctx);
    gguf_writer_kv_u32(g, "llama.embedding_length", (uint32_t)c->d_model);
    gguf_writer_kv_u32(g, "llama.block_count", (uint32_t)c->n_layer);
    gguf_writer_kv_u32(g, "llama.feed_forward_length", (uint32_t)c->d_ff);
    gguf_writer_kv_u32(g, "llama.rope.dimension_count", (uint32_t)HD);
    gguf_writer_kv_u32(g, "llama.attention.head_count", (uint32_t)c->n_head);
    gguf_writer_kv_u32(g, "llama.attention.head_count_kv", (uint32_t)c->n_kv_head);
    gguf_writer_kv_f32(g, "llama.attention.layer_norm_rms_epsilon", c->norm_eps);
    gguf_writer_kv_f32(g, "llama.rope.freq_base", c->rope_theta);
    /* tokenizer: GPT-2 style byte-level BPE */
    int V = c->vocab, eot = tokenizer_eot(tok);
    char **strs = plow_calloc((size_t)V, sizeof *strs);
    size_t *lens = plow_calloc((size_t)V, sizeof *lens);
    int32_t *types = plow_calloc((size_t)V, sizeof *types);
    int nmerge = 0;
    char **mstr = plow_calloc((size_t)V, sizeof *mstr);
    size_t *mlen = plow_calloc((size_t)V, sizeof *mlen);
    for (int id = 0; id < V; id++) {
        const uint8_t *b;
        size_t n;
        tokenizer_token_bytes(tok, id, &b, &n);
        strs[id] = plow_alloc(2 * n + 1);
        if (id == eot) {
            memcpy(strs[id], b, n);
            lens[id] = n;
            types[id] = 3; /* control */
        } else {
            lens[id] = modelio_gpt2_bytes_to_unicode(b, n, strs[id]);
            types[id] = 1; /* normal */
        }
        int left, right;
        if (id >= 256 && id != eot && tokenizer_merge_pair(tok, id, &left, &right) == 0) {
            const uint8_t *lb, *rb;
            size_t ln, rn;
            tokenizer_token_bytes(tok, left, &lb, &ln);
            tokenizer_token_bytes(tok, right, &rb, &rn);
            mstr[nmerge] = plow_alloc(2 * (ln + rn) + 2);
            size_t o = modelio_gpt2_bytes_to_unicode(lb, ln, mstr[nmerge]);
            mstr[nmerge][o++] = ' ';
            o += modelio_gpt2_bytes_to_unicode(rb, rn, mstr[nmerge] + o);
            mlen[nmerge++] = o;
        }
    }
    gguf_writer_kv_str(g, "tokenizer.ggml.model", "gpt2");
    gguf_writer_kv_str(g, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_kv_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)strs, lens, (size_t)V);
    gguf_writer_kv_arr_i32(g, "tokenizer.ggml.token_type", types, (size_t)V);
    gguf_writer_kv_arr_str(g, "tokenizer.ggml.merges", (const char *const *)mstr, mlen, (size_t)nmerge);
    gguf_writer_kv_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)eot);
    gguf_writer_kv_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    gguf_writer_kv_bool(g, "tokenizer.ggml.add_bos_token", false);
    /* tensors */
    int KVD = c->n_kv_head * HD;
    float **perm = plow_calloc((size_t)c->n_layer * 2, sizeof *perm);
    int64_t sh[2];
    char name[64];
    sh[0] = V;
    sh[1] = c->d_model;
    gguf_writer_tensor_f32(g, "token_embd.weight", 2, sh, v.tok_emb);
    for (int layer = 0; layer < c->n_layer; layer++) {
        const model_layer_view *L = &v.layer[layer];
        int64_t s1[1] = {c->d_model};
#define T2(nm, r, cc, p)                                          \
    do {                                                          \
        snprintf(name, sizeof name, "blk.%d." nm ".weight", layer); \
        sh[0] = (r);                                              \
        sh[1] = (cc);                                             \
        gguf_writer_tensor_f32(g, name, 2, sh, (p));              \
    } while (0)
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", layer);
        gguf_writer_tensor_f32(g, name, 1, s1, L->attn_norm);
        perm[2 * layer] = plow_alloc_aligned(sizeof(float) * (size_t)c->d_model * c->d_model);
        perm[2 * layer + 1] = plow_alloc_aligned(sizeof(float) * (size_t)KVD * c->d_model);
        modelio_permute_rope_rows(perm[2 * layer], L->wq, c->n_head, HD, c->d_model);
        modelio_permute_rope_rows(perm[2 * layer + 1], L->wk, c->n_kv_head, HD, c->d_model);
        T2("attn_q", c->d_model, c->d_model, perm[2 * layer]);
        T2("attn_k", KVD, c->d_model, perm[2 * layer + 1]);
        T2("attn_v", KVD, c->d_model, L->wv);
        T2("attn_output", c->d_model, c->d_model, L->wo);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", layer);
        gguf_writer_tensor_f32(g, name, 1, s1, L->ffn_norm);
        T2("ffn_gate", c->d_ff, c->d_model, L->w_gate);
        T2("ffn_up", c->d_ff, c->d_model, L->w_up);
        T2("ffn_down", c->d_model, c->d_ff, L->w_down);
#undef T2
    }
    int64_t s1[1] = {c->d_model};
    gguf_writer_tensor_f32(g, "output_norm.weight", 1, s1, v.final_norm);
    if (!c->tied) {
        sh[0] = V;
        sh[1] = c->d_model;
        gguf_writer_tensor_f32(g, "output.weight", 2, sh, v.lm_head);
    }
    int rc = gguf_writer_save(g, path, err);
    gguf_writer_free(g);
    for (int i = 0; i < 2 * c->n_layer; i++) free(perm[i]);
    free(perm);
    for (int i = 0; i < V; i++) free(strs[i]);
    for (int i = 0; i < nmerge; i++) free(mstr[i]);
    free(strs);
    free(lens);
    free(types);
    free(mstr);
    free(mlen);
    free(w);
    return rc;
}
