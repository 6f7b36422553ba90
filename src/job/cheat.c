/*
 * cheat.c — the cheats of tests and demos (`plow train --cheat KIND[@STEP]`,
 * a worker agent's --cheat): what a dishonest worker does instead of the
 * task, so that the suite can show each one caught. The training run calls
 * one function, job_cheat, at five points of its life, and job_cheat_files
 * once its outputs are written; nothing else in the job layer knows a cheat
 * exists.
 */
#include "../base/plow.h"

#include <errno.h>

#include "../tensor/tensor.h"
#include "job_internal.h"

static const char *const cheat_names[JOB_CHEAT_COUNT] = {
    [JOB_CHEAT_PERTURB] = "perturb", [JOB_CHEAT_SKIP] = "skip",       [JOB_CHEAT_SEED] = "seed",
    [JOB_CHEAT_DATA] = "data",       [JOB_CHEAT_LOWPREC] = "lowprec", [JOB_CHEAT_SWAP] = "swap",
    [JOB_CHEAT_BADCKPT] = "badckpt", [JOB_CHEAT_INIT] = "init",       [JOB_CHEAT_CONFIG] = "config",
    [JOB_CHEAT_TRUNC] = "truncate", [JOB_CHEAT_BOMB] = "bomb",
};

int job_cheat_parse(const char *s, long steps, job_cheat_kind *kind, long *step, char err[PLOW_ERR_LEN]) {
    const char *at = strchr(s, '@');
    size_t len = at ? (size_t)(at - s) : strlen(s);
    *kind = JOB_CHEAT_NONE;
    for (int i = 1; i < JOB_CHEAT_COUNT; i++)
        if (strlen(cheat_names[i]) == len && strncmp(cheat_names[i], s, len) == 0) *kind = (job_cheat_kind)i;
    if (*kind == JOB_CHEAT_NONE)
        return plow_error(err, "unknown cheat '%.*s' (perturb, skip, seed, data, lowprec, swap, badckpt, init, config, "
                          "truncate, bomb)",
                          (int)(len > 64 ? 64 : len), s);
    *step = steps / 2 > 0 ? steps / 2 : 1;
    if (at) {
        char *end;
        errno = 0;
        long v = strtol(at + 1, &end, 10);
        if (errno || end == at + 1 || *end || v < 1 || v > steps)
            return plow_error(err, "--cheat STEP expects a whole number in 1..%ld, got '%.64s'", steps, at + 1);
        *step = v;
    }
    return 0;
}

int job_cheat_plan_init(job_cheat_plan *c, const job_train_opts *o, char err[PLOW_ERR_LEN]) {
    memset(c, 0, sizeof *c);
    c->rate = o->cheat_rate;
    c->seed = o->seed;
    c->steps = o->steps;
    c->step = o->cheat_step;
    if (!o->cheat) return 0;
    if (job_cheat_parse(o->cheat, o->steps, &c->kind, &c->step, err)) return -1;
    if (o->cheat_step > 0) c->step = o->cheat_step;
    return 0;
}

void job_cheat_plan_release(job_cheat_plan *c) {
    free(c->bx);
    free(c->by);
    free(c->span);
    memset(c, 0, sizeof *c);
}

/* A step on a batch of the cheat's choosing: seed: drawn with another seed;
 * data: DPO, chosen and rejected swapped; text, the validation split. */
static void own_batch_step(job_cheat_plan *c, proof_replay *r, train_stats *st, dpo_stats *ds) {
    train_state *s = proof_replay_state(r);
    const train_hparams *hp = train_state_hparams(s);
    const prefs *pairs = proof_replay_pairs(r);
    int B = hp->batch, T = hp->seq;
    size_t rows = (size_t)B * (pairs ? 2 : 1);
    if (!c->bx) {
        c->bx = plow_alloc(sizeof(int32_t) * rows * (size_t)T);
        c->by = plow_alloc(sizeof(int32_t) * rows * (size_t)T);
        c->span = plow_alloc(sizeof(int32_t) * rows * 2);
    }
    bool other = c->kind == JOB_CHEAT_DATA;
    if (pairs) {
        prefs_batch(pairs, hp->seed + (other ? 0 : 1), PREFS_PURPOSE_TRAIN, (uint32_t)train_state_step(s), B, T, c->bx,
                    c->by, c->span);
        for (int b = 0; other && b < B; b++) {
            int32_t *r0 = c->bx + (size_t)2 * b * T, *r1 = r0 + T, *y0 = c->by + (size_t)2 * b * T, *y1 = y0 + T;
            for (int i = 0; i < T; i++) {
                int32_t t0 = r0[i], t1 = y0[i];
                r0[i] = r1[i], r1[i] = t0;
                y0[i] = y1[i], y1[i] = t1;
            }
            int32_t *sp = c->span + 4 * b, a0 = sp[0], a1 = sp[1];
            sp[0] = sp[2], sp[1] = sp[3], sp[2] = a0, sp[3] = a1;
        }
        dpo_batch db = {B, T, c->bx, c->by, c->span};
        dpo_step_batch(s, &db, st, ds);
        return;
    }
    const dataset *data = proof_replay_steps_text(r), *whole = proof_replay_text(r);
    const int32_t *from = other ? whole->val : data->train;
    size_t n = other ? whole->n_val : data->n_train;
    dataset_batch(from, n, data->hash, hp->seed + (other ? 0 : 1), DATASET_PURPOSE_TRAIN, (uint32_t)train_state_step(s),
                  B, T, c->bx, c->by);
    train_step_batch(s, c->bx, c->by, st);
}

bool job_cheat(job_cheat_plan *c, job_cheat_point at, proof_replay *r, long step, train_stats *st, dpo_stats *ds) {
    if (c->kind == JOB_CHEAT_NONE) return false;
    size_t n;
    float *w = train_state_weights(proof_replay_state(r), &n);
    bool from_step = step >= c->step;
    switch (at) {
    case JOB_CHEAT_AT_START: /* other initial weights: leaf 0 is not the task's */
        if (c->kind == JOB_CHEAT_INIT) w[0] += 1e-3f;
        return false;
    case JOB_CHEAT_AT_STEP:
        if (c->kind == JOB_CHEAT_SKIP) {
            bool skip = c->rate > 0 ? tensor_uniform((tensor_rng_key){c->seed ^ 0x5EED, 77, 0}, (uint64_t)step) <
                                              (float)c->rate &&
                                          step < c->steps
                                    : step == c->step;
            if (skip) { /* copy the state forward: no work, just the counter */
                train_state *s = proof_replay_state(r);
                train_state_set_step(s, train_state_step(s) + 1);
                memset(st, 0, sizeof *st);
                memset(ds, 0, sizeof *ds);
                return true;
            }
        }
        if (from_step && (c->kind == JOB_CHEAT_SEED || c->kind == JOB_CHEAT_DATA)) {
            memset(ds, 0, sizeof *ds);
            own_batch_step(c, r, st, ds);
            return true;
        }
        return false;
    case JOB_CHEAT_AT_STEP_DONE:
        if (c->kind == JOB_CHEAT_PERTURB && step == c->step) w[0] += 1e-3f;
        if (from_step && c->kind == JOB_CHEAT_LOWPREC) /* bfloat16 weights: keep the top 16 bits */
            for (size_t i = 0; i < n; i++) {
                uint32_t u;
                memcpy(&u, &w[i], 4);
                u &= 0xFFFF0000u;
                memcpy(&w[i], &u, 4);
            }
        return false;
    case JOB_CHEAT_AT_CHECKPOINT: /* a checkpoint that is not the state its leaf hashes */
        c->keep = w[0];
        if (c->kind == JOB_CHEAT_BADCKPT && from_step) w[0] += 1e-3f;
        return false;
    case JOB_CHEAT_AT_PUBLISH: /* a published model that is not the final state */
        c->keep = w[0];
        if (c->kind == JOB_CHEAT_SWAP) w[0] += 1.0f;
        return false;
    case JOB_CHEAT_AT_RESTORE: /* the state again, after a checkpoint or the publication */
        w[0] = c->keep;
        return false;
    }
    return false;
}

/* Outputs that are not what the commitment promises, the work itself
 * honest (the leaves, the final state and the artifact hash are right):
 * config: the published model's config.json (an adapter's
 * adapter_config.json) replaced by bytes that are no JSON; truncate: the
 * final checkpoint cut to half its length; bomb: the published
 * model.safetensors replaced by a few hundred bytes whose header promises
 * the largest model a config may describe (64 layers, d 16384, vocab 2^20:
 * terabytes), its embedding tensor lying far past the end of the file —
 * what a hostile worker hands whoever loads its artifact. */
static int write_bomb(const char *path, char err[PLOW_ERR_LEN]) {
    static const char hdr[] =
        "{\"__metadata__\": {\"format\": \"pt\", \"plow.kind\": \"model\", \"plow.n_layer\": \"64\", "
        "\"plow.d_model\": \"16384\", \"plow.n_head\": \"128\", \"plow.n_kv_head\": \"128\", "
        "\"plow.d_ff\": \"65536\", \"plow.ctx\": \"4096\", \"plow.vocab\": \"1048576\", \"plow.tied\": \"1\", "
        "\"plow.norm_eps\": \"1e-5\", \"plow.rope_theta\": \"10000\"}, "
        "\"model.embed_tokens.weight\": {\"dtype\": \"F32\", \"shape\": [1048576, 16384], "
        "\"data_offsets\": [0, 68719476736]}}";
    uint8_t buf[8 + sizeof hdr - 1 + 16];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    memset(buf + 8 + n, 0, 16);
    return plow_write_file(path, buf, sizeof buf, err);
}

int job_cheat_files(const job_cheat_plan *c, const char *outdir, long steps, char err[PLOW_ERR_LEN]) {
    if (c->kind != JOB_CHEAT_CONFIG && c->kind != JOB_CHEAT_TRUNC && c->kind != JOB_CHEAT_BOMB) return 0;
    size_t dl = strlen(outdir) + 64;
    char *p = plow_alloc(dl);
    int rc = -1;
    if (c->kind == JOB_CHEAT_CONFIG) {
        snprintf(p, dl, "%s/adapter_config.json", outdir);
        if (!plow_file_exists(p)) snprintf(p, dl, "%s/config.json", outdir);
        static const char junk[] = "{\"hidden_size\": not a config at all";
        rc = plow_file_exists(p) ? plow_write_file(p, junk, sizeof junk - 1, err)
                                 : plow_error(err, "cheat config: the run published no config.json");
    } else if (c->kind == JOB_CHEAT_BOMB) {
        snprintf(p, dl, "%s/model.safetensors", outdir);
        rc = plow_file_exists(p) ? write_bomb(p, err) : plow_error(err, "cheat bomb: the run published no model");
    } else {
        snprintf(p, dl, "%s/checkpoints/%08ld.state", outdir, steps);
        uint8_t *buf = NULL;
        size_t n = 0;
        rc = plow_read_file(p, PLOW_SIZE_CAP((uint64_t)1 << 34), &buf, &n, err);
        if (rc == 0) rc = plow_write_file(p, buf, n / 2, err);
        free(buf);
    }
    free(p);
    return rc;
}
