/*
 * kinds.c — the proof layer's table of task kinds (kind.h): for each kind
 * that commits a trace of training states, its task.json fields, what its
 * steps draw from, its state 0, its step and its artifact. run.c holds no
 * kind-specific code; it calls these rows.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "../model/modelio.h"
#include "../train/round.h"
#include "proof_internal.h"

/* ---- shared by several rows ---------------------------------------------------- */

/* A text: the steps draw from the dataset itself. */
static int inputs_text(proof_replay *r, const uint8_t **hash, char err[PLOW_ERR_LEN]) {
    (void)err;
    r->on = r->data;
    *hash = r->data->hash;
    return 0;
}

static int check_seq(const proof_replay *r, char err[PLOW_ERR_LEN]) {
    const proof_task *t = &r->task;
    if (t->hp.seq >= 1 && r->on->n_train <= (size_t)t->hp.seq)
        return plow_error(err, "the data has %zu training tokens, need more than %d", r->on->n_train, t->hp.seq);
    return 0;
}

static int state_text(proof_replay *r, char err[PLOW_ERR_LEN]) {
    if (check_seq(r, err)) return -1;
    return train_state_new(&r->s, r->m, r->l, &r->task.hp, r->task.data_hash, err);
}

static void step_text(proof_replay *r, train_stats *st, dpo_stats *ds) {
    if (ds) memset(ds, 0, sizeof *ds);
    train_step(r->s, r->on, st);
}

/* The trainable's weights: lora_hash of the adapter, else model_hash. */
static void artifact_weights(proof_replay *r, uint8_t out[PLOW_HASH_LEN]) {
    if (r->l) lora_hash(r->l, out);
    else model_hash(r->m, out);
}

/* Writes the trainable: the adapter files, else the model files. */
static int publish_weights(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], size_t *bytes,
                           char err[PLOW_ERR_LEN]) {
    (void)bytes;
    if (r->l ? modelio_save_lora(r->l, r->m, dir, err) : modelio_save_model(r->m, dir, err)) return -1;
    artifact_weights(r, out);
    return 0;
}

/* A published model directory's model_hash, or (base given) its adapter's lora_hash. */
static int published_weights(const model *base, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    if (base) {
        lora *l;
        if (modelio_load_lora(&l, base, dir, err)) return -1;
        lora_hash(l, out);
        lora_free(l);
        return 0;
    }
    model *m;
    if (modelio_load_model(&m, dir, err)) return -1;
    model_hash(m, out);
    model_free(m);
    return 0;
}

/* The same of a published model (or, with an adapter, adapter) directory. */
static int artifact_weight_files(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    return published_weights(r->task.lora ? r->m : NULL, dir, out, err);
}

/* ---- dpo --------------------------------------------------------------------------- */

static void dpo_task_write(const proof_task *t, cJSON *j) {
    cJSON *d = cJSON_AddObjectToObject(j, "dpo");
    cJSON_AddNumberToObject(d, "beta", (double)t->beta);
}

static int dpo_task_read(proof_task *t, const cJSON *j, char err[PLOW_ERR_LEN]) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dpo");
    double beta;
    if (!cJSON_IsObject(d)) return plow_error(err, "task.json: a dpo task needs a 'dpo' object");
    if (proof_jnum(d, "beta", 1e-30, 100, &beta, err)) return -1;
    t->beta = (float)beta;
    return 0;
}

static int dpo_inputs(proof_replay *r, const uint8_t **hash, char err[PLOW_ERR_LEN]) {
    (void)err;
    *hash = r->pairs->hash;
    return 0;
}

static int dpo_state(proof_replay *r, char err[PLOW_ERR_LEN]) {
    return train_state_new_dpo(&r->s, r->m, r->l, &r->task.hp, r->task.beta, r->task.data_hash, err);
}

static void dpo_step_(proof_replay *r, train_stats *st, dpo_stats *ds) { dpo_step(r->s, r->pairs, st, ds); }

/* ---- round ------------------------------------------------------------------------- */

static void round_task_write(const proof_task *t, cJSON *j) {
    char num[32];
    cJSON *r = cJSON_AddObjectToObject(j, "round");
    cJSON_AddNumberToObject(r, "shards", t->shards);
    cJSON_AddNumberToObject(r, "shard", t->shard);
    snprintf(num, sizeof num, "%" PRIu64, t->round);
    cJSON_AddStringToObject(r, "round", num);
    cJSON_AddStringToObject(r, "encoding", t->enc < ROUND_ENC_COUNT ? round_enc_name((round_enc)t->enc) : "?");
    cJSON_AddNumberToObject(r, "block", t->block);
    proof_jadd_hex(r, "outer_hash", t->outer_hash);
}

static int round_task_read(proof_task *t, const cJSON *j, char err[PLOW_ERR_LEN]) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "round");
    int shards, shard, block;
    char enc[16], rnd[32];
    if (!cJSON_IsObject(r)) return plow_error(err, "task.json: a round task needs a 'round' object");
    if (proof_jint(r, "shards", 1, ROUND_MAX_SHARDS, &shards, err) || proof_jint(r, "shard", 0, shards - 1, &shard, err) ||
        proof_jstr(r, "round", rnd, sizeof rnd, err) || proof_jstr(r, "encoding", enc, sizeof enc, err) ||
        proof_jint(r, "block", 0, ROUND_BLOCK_MAX, &block, err) || proof_jhash(r, "outer_hash", t->outer_hash, err))
        return -1;
    if (proof_ju64(rnd, &t->round)) return plow_error(err, "task.json: round.round is not a whole number");
    t->shards = (uint32_t)shards;
    t->shard = (uint32_t)shard;
    t->block = (uint32_t)block;
    t->enc = ROUND_ENC_COUNT;
    for (int e = 0; e < ROUND_ENC_COUNT; e++)
        if (strcmp(enc, round_enc_name((round_enc)e)) == 0) t->enc = (uint32_t)e;
    if (t->enc == ROUND_ENC_COUNT || (t->enc == ROUND_ENC_INT8) != (block > 0))
        return plow_error(err, "task.json: round.encoding must be f32 (block 0) or int8 (block 1..%d)", ROUND_BLOCK_MAX);
    return 0;
}

/* The participant's shard: its own hash, so its own batches and task id. */
static int round_inputs(proof_replay *r, const uint8_t **hash, char err[PLOW_ERR_LEN]) {
    const proof_task *t = &r->task;
    if (round_shard(r->data, t->shards, t->shard, 1, &r->shard, err)) return -1;
    r->on = &r->shard;
    *hash = r->shard.hash;
    return 0;
}

static int round_new_state(proof_replay *r, char err[PLOW_ERR_LEN]) {
    const proof_task *t = &r->task;
    if (check_seq(r, err)) return -1;
    if (t->enc >= ROUND_ENC_COUNT || (t->enc == ROUND_ENC_INT8 && (t->block < 1 || t->block > ROUND_BLOCK_MAX)))
        return plow_error(err, "round task: unknown encoding or block");
    r->w0 = plow_alloc(r->m->n_params * sizeof(float));
    memcpy(r->w0, r->m->params, r->m->n_params * sizeof(float));
    return train_state_new(&r->s, r->m, r->l, &t->hp, t->data_hash, err);
}

/* State 0 holds W_t (train_state_reinit alone would draw from init_seed). */
static void round_reinit(proof_replay *r) {
    size_t n;
    float *w = train_state_weights(r->s, &n);
    memcpy(w, r->w0, n * sizeof(float));
}

/* The contribution the state makes (W_t - its weights), as the task encodes it. */
static int replay_contrib(proof_replay *r, round_contrib *c, char err[PLOW_ERR_LEN]) {
    size_t n;
    const float *w = train_state_weights(r->s, &n);
    float *delta = plow_alloc(n * sizeof(float));
    for (size_t j = 0; j < n; j++) delta[j] = r->w0[j] - w[j];
    int rc = round_contrib_make(c, r->task.round, r->task.shard, r->task.outer_hash, delta, n, (round_enc)r->task.enc,
                                r->task.block, err);
    free(delta);
    return rc;
}

/* dir/contribution.bin: the contribution the state makes. */
static int round_publish(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], size_t *bytes,
                         char err[PLOW_ERR_LEN]) {
    round_contrib c = {0};
    plow_buf b = {0};
    int rc = modelio_save_model(r->m, dir, err); /* the participant's model too, for a reader */
    if (rc == 0) rc = replay_contrib(r, &c, err);
    if (rc == 0) {
        round_contrib_serialize(&c, &b);
        round_contrib_hash(&c, out);
        *bytes = b.len;
        char *p = proof_path2(dir, "contribution.bin");
        rc = plow_write_file(p, b.data, b.len, err);
        free(p);
    }
    plow_buf_release(&b);
    round_contrib_release(&c);
    return rc;
}

static void round_artifact(proof_replay *r, uint8_t out[PLOW_HASH_LEN]) {
    round_contrib c = {0};
    char err[PLOW_ERR_LEN];
    if (replay_contrib(r, &c, err) == 0) round_contrib_hash(&c, out);
    else plow_sha256_once("plow.round.invalid", 18, out);
    round_contrib_release(&c);
}

/* dir/contribution.bin, which must be a contribution of this task. */
static int round_artifact_file(proof_replay *r, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    char *p = proof_path2(dir, "contribution.bin");
    uint8_t *buf = NULL;
    size_t n = 0;
    round_contrib c = {0};
    const proof_task *t = &r->task;
    int rc = plow_read_file(p, round_contrib_size(r->m->n_params, ROUND_ENC_F32, 0) + 64, &buf, &n, err);
    if (rc == 0) rc = round_contrib_parse(&c, buf, n, r->m->n_params, err);
    if (rc == 0 && (c.round != t->round || c.participant != t->shard || c.enc != (round_enc)t->enc ||
                    c.block != (t->enc == ROUND_ENC_INT8 ? t->block : 0) ||
                    memcmp(c.base, t->outer_hash, PLOW_HASH_LEN) != 0))
        rc = plow_error(err, "'%s' is not a contribution of this task (round, participant, encoding or base)", p);
    if (rc == 0) plow_sha256_once(buf, n, out);
    round_contrib_release(&c);
    free(buf);
    free(p);
    return rc;
}

static int round_published(const model *base, const char *dir, uint8_t out[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    (void)base;
    char *p = proof_path2(dir, "contribution.bin");
    uint8_t *buf;
    size_t n;
    int rc = plow_read_file(p, PLOW_SIZE_CAP((uint64_t)1 << 34), &buf, &n, err);
    free(p);
    if (rc) return -1;
    plow_sha256_once(buf, n, out);
    free(buf);
    return 0;
}

/* ---- rl ---------------------------------------------------------------------------- */

static void rl_task_write(const proof_task *t, cJSON *j) {
    char num[32];
    const problem_set *ps = &t->problems;
    const rl_params *p = &t->rl;
    cJSON *r = cJSON_AddObjectToObject(j, "rl");
    cJSON *q = cJSON_AddObjectToObject(r, "problems");
    cJSON_AddNumberToObject(q, "kinds", ps->kinds);
    cJSON_AddNumberToObject(q, "min_digits", ps->min_digits);
    cJSON_AddNumberToObject(q, "max_digits", ps->max_digits);
    cJSON_AddNumberToObject(q, "split", ps->split);
    snprintf(num, sizeof num, "%" PRIu64, ps->seed);
    cJSON_AddStringToObject(q, "seed", num);
    cJSON_AddNumberToObject(r, "group", p->group);
    cJSON_AddNumberToObject(r, "max_new", p->max_new);
    cJSON_AddNumberToObject(r, "temperature", (double)p->temperature);
    cJSON_AddNumberToObject(r, "top_k", p->top_k);
    cJSON_AddNumberToObject(r, "kl", (double)p->kl);
    cJSON_AddNumberToObject(r, "clip", (double)p->clip);
    cJSON_AddNumberToObject(r, "format_reward", (double)p->format_reward);
}

static int rl_task_read(proof_task *t, const cJSON *j, char err[PLOW_ERR_LEN]) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rl");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(r, "problems");
    int kinds, lo, hi, split, group, max_new, top_k;
    double temp, kl, clip, fmt;
    char seed[32];
    if (!cJSON_IsObject(r) || !cJSON_IsObject(q))
        return plow_error(err, "task.json: an rl task needs an 'rl' object with 'problems'");
    if (proof_jint(q, "kinds", 1, (1 << PROBLEM_KIND_COUNT) - 1, &kinds, err) ||
        proof_jint(q, "min_digits", 1, PROBLEM_MAX_DIGITS, &lo, err) ||
        proof_jint(q, "max_digits", 1, PROBLEM_MAX_DIGITS, &hi, err) || proof_jint(q, "split", 0, 1, &split, err) ||
        proof_jstr(q, "seed", seed, sizeof seed, err) || proof_jint(r, "group", 2, RL_MAX_GROUP, &group, err) ||
        proof_jint(r, "max_new", 1, RL_MAX_NEW, &max_new, err) || proof_jnum(r, "temperature", 1e-6, 10, &temp, err) ||
        proof_jint(r, "top_k", 0, 1 << 20, &top_k, err) || proof_jnum(r, "kl", 0, 10, &kl, err) ||
        proof_jnum(r, "clip", 1e-6, 0.999999, &clip, err) || proof_jnum(r, "format_reward", 0, 1, &fmt, err))
        return -1;
    problem_set *ps = &t->problems;
    *ps = (problem_set){(uint32_t)kinds, (uint32_t)lo, (uint32_t)hi, (uint32_t)split, 0};
    if (proof_ju64(seed, &ps->seed)) return plow_error(err, "task.json: rl.problems.seed is not a whole number");
    t->rl = (rl_params){(uint32_t)group, (uint32_t)max_new, (float)temp, (uint32_t)top_k, (float)kl, (float)clip,
                        (float)fmt};
    if (problem_set_check(ps, err) || rl_params_check(&t->rl, err)) return -1;
    return 0;
}

/* The problems come from the task: their hash with the tokenizer's. */
static int rl_inputs(proof_replay *r, const uint8_t **hash, char err[PLOW_ERR_LEN]) {
    if (problem_set_check(&r->task.problems, err) || rl_params_check(&r->task.rl, err)) return -1;
    if (!r->tok) return plow_error(err, "an rl task's inputs need its tokenizer");
    rl_data_hash(&r->task.problems, r->tok, r->rl_hash);
    *hash = r->rl_hash;
    return 0;
}

static int rl_state(proof_replay *r, char err[PLOW_ERR_LEN]) {
    return train_state_new_rl(&r->s, r->m, r->l, &r->task.hp, &r->task.rl, &r->task.problems, r->tok, err);
}

/* The rollouts are sampled inside the step from what the state holds: a
 * failure there is a bug, never input (the prompts are generated, the
 * session sized when the state was made). */
static void rl_step_(proof_replay *r, train_stats *st, dpo_stats *ds) {
    char err[PLOW_ERR_LEN];
    if (ds) memset(ds, 0, sizeof *ds);
    if (rl_step(r->s, st, NULL, err)) plow_bug(__FILE__, __LINE__, err);
}

/* ---- the table ------------------------------------------------------------------- */

static const proof_kind_ops kinds[] = {
    [TASK_TRAIN] = {.name = "train", .label = "full training", .replays = true, .adapter = PROOF_ADAPTER_NEVER,
                    .needs_base = false, .data = PROOF_DATA_TEXT, .inputs = inputs_text, .state_new = state_text,
                    .step = step_text, .artifact_hash = artifact_weights, .publish = publish_weights, .artifact_file_hash = artifact_weight_files,
                    .published_hash = published_weights},
    [TASK_LORA] = {.name = "lora", .label = "LoRA", .replays = true, .adapter = PROOF_ADAPTER_ALWAYS,
                   .needs_base = true, .data = PROOF_DATA_TEXT, .inputs = inputs_text, .state_new = state_text,
                   .step = step_text, .artifact_hash = artifact_weights, .publish = publish_weights, .artifact_file_hash = artifact_weight_files,
                   .published_hash = published_weights},
    [TASK_DPO] = {.name = "dpo", .label = "DPO", .replays = true, .adapter = PROOF_ADAPTER_OPTIONAL,
                  .needs_base = true, .data = PROOF_DATA_PAIRS, .task_write = dpo_task_write,
                  .task_read = dpo_task_read, .inputs = dpo_inputs, .state_new = dpo_state, .step = dpo_step_,
                  .artifact_hash = artifact_weights, .publish = publish_weights, .artifact_file_hash = artifact_weight_files,
                  .published_hash = published_weights},
    [TASK_ROUND] = {.name = "round", .label = "round", .replays = true, .adapter = PROOF_ADAPTER_NEVER,
                    .needs_base = true, .data = PROOF_DATA_TEXT, .task_write = round_task_write,
                    .task_read = round_task_read, .inputs = round_inputs, .state_new = round_new_state,
                    .step = step_text, .reinit = round_reinit, .artifact_hash = round_artifact, .publish = round_publish,
                    .artifact_file_hash = round_artifact_file, .published_hash = round_published, .artifact_files = {"contribution.bin", NULL}},
    [TASK_INFER] = {.name = "infer", .label = "inference"},
    [TASK_LABEL] = {.name = "label", .label = "labeling"},
    [TASK_RL] = {.name = "rl", .label = "RL", .replays = true, .adapter = PROOF_ADAPTER_OPTIONAL, .needs_base = true,
                 .data = PROOF_DATA_PROBLEMS, .task_write = rl_task_write, .task_read = rl_task_read,
                 .inputs = rl_inputs, .state_new = rl_state, .step = rl_step_, .artifact_hash = artifact_weights,
                 .publish = publish_weights, .artifact_file_hash = artifact_weight_files,
                 .published_hash = published_weights},
};
_Static_assert(sizeof kinds / sizeof kinds[0] == TASK_KIND_COUNT, "a proof row for every task kind");

const proof_kind_ops *proof_kind_ops_of(task_kind kind) {
    PLOW_ASSERT((unsigned)kind < TASK_KIND_COUNT);
    return &kinds[kind];
}

const char *task_kind_name(int kind) { return kind >= 0 && kind < TASK_KIND_COUNT ? kinds[kind].name : "?"; }

int task_kind_parse(const char *name, task_kind *out) {
    for (int k = 0; k < TASK_KIND_COUNT; k++)
        if (strcmp(name, kinds[k].name) == 0) {
            *out = (task_kind)k;
            return 0;
        }
    return -1;
}

bool task_kind_replays(int kind) { return kind >= 0 && kind < TASK_KIND_COUNT && kinds[kind].replays; }

const char *task_kind_label(int kind) { return kind >= 0 && kind < TASK_KIND_COUNT ? kinds[kind].label : "?"; }

bool task_kind_needs_base(int kind) { return kind >= 0 && kind < TASK_KIND_COUNT && kinds[kind].needs_base; }

bool proof_inputs_present(const proof_kind_ops *k, const dataset *text, const prefs *pairs) {
    switch (k->data) {
    case PROOF_DATA_TEXT: return text != NULL;
    case PROOF_DATA_PAIRS: return pairs != NULL;
    case PROOF_DATA_PROBLEMS: return true;
    }
    return false;
}

const char *proof_inputs_name(const proof_kind_ops *k) {
    static const char *const names[] = {[PROOF_DATA_TEXT] = "a text", [PROOF_DATA_PAIRS] = "pairs",
                                        [PROOF_DATA_PROBLEMS] = "generated problems"};
    return names[k->data];
}

int proof_inputs_steps(const proof_task *t, const proof_inputs *in, const tokenizer *tok, dataset *view,
                       const dataset **text, uint8_t hash[PLOW_HASH_LEN], char err[PLOW_ERR_LEN]) {
    const proof_kind_ops *k = proof_kind_ops_of(t->kind);
    *text = NULL;
    if (!k->replays) return plow_error(err, "a %s task has no training inputs", k->name);
    if (!proof_inputs_present(k, in->text, in->pairs))
        return plow_error(err, "a %s task draws its steps from %s", k->label, proof_inputs_name(k));
    proof_replay r;
    memset(&r, 0, sizeof r);
    r.task = *t;
    r.tok = (tokenizer *)tok; /* read only: the inputs' hash */
    r.data = in->text;
    r.pairs = in->pairs;
    const uint8_t *h = NULL;
    if (k->inputs(&r, &h, err)) return -1;
    memcpy(hash, h, PLOW_HASH_LEN);
    if (r.on == &r.shard) {
        *view = r.shard;
        *text = view;
    } else {
        *text = r.on;
    }
    return 0;
}

int proof_published_artifact(task_kind kind, const model *base, const char *dir, uint8_t out[PLOW_HASH_LEN],
                             char err[PLOW_ERR_LEN]) {
    const proof_kind_ops *k = proof_kind_ops_of(kind);
    if (!k->replays) return plow_error(err, "a %s task publishes no trained artifact", k->name);
    return k->published_hash(base, dir, out, err);
}
