/*
 * job.c — a ledger task's real work: running it (worker), checking a
 * committed slot (verifier), locating where two slots part ways (replicated
 * mode), and the referee's single step. See job.h and docs/tasks.md.
 *
 * Every function rebuilds the task from the spec alone — never from a file
 * a worker published — and treats everything fetched from a slot (manifest,
 * trace, checkpoints, models, receipts, states) as hostile: paths are
 * checked before anything is written, fetched bytes are hashed before they
 * are used, and whatever cannot be parsed is a verdict, not a crash.
 *
 * Work directory layout:
 *   in/        the spec's inputs: data.txt, tokenizer.bin, base/, adapter/
 *   out/       job_run: the run's outputs (what the manifest lists)
 *   w_<hash>/  job_verify / job_diverge: a slot's fetched outputs, by manifest
 *   evidence/  states uploaded as challenge evidence
 *   referee/   job_referee: the challenge's state blob
 */
#include "../base/plow.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/dataset.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "../proof/run.h"
#include "../train/round.h"
#include "job_internal.h"
#define CKPT_FMT "checkpoints/%08" PRIu64 ".state"

/* ---- files ---------------------------------------------------------------------- */

static char *pathf(const char *fmt, ...) PLOW_PRINTF(1, 2);
static char *pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    PLOW_ASSERT(n >= 0);
    char *p = plow_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int file_sha256(const char *path, uint8_t out[32], char err[PLOW_ERR_LEN]) {
    FILE *f = fopen(path, "rb");
    if (!f) return plow_error(err, "cannot open '%s': %s", path, strerror(errno));
    plow_sha256 *h = plow_sha256_new();
    uint8_t *buf = plow_alloc(1 << 20);
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) plow_sha256_update(h, buf, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    free(buf);
    plow_sha256_final(h, out);
    if (bad) return plow_error(err, "cannot read '%s'", path);
    return 0;
}

static int mkdir_parent(const char *path, char err[PLOW_ERR_LEN]) {
    char *d = plow_strdup(path);
    char *slash = strrchr(d, '/');
    int rc = 0;
    if (slash && slash != d) {
        *slash = 0;
        rc = plow_mkdir_p(d, err);
    }
    free(d);
    return rc;
}

/* Fetches blob `hash` to path unless a file with exactly those bytes is
 * already there, and checks what arrived. */
static int fetch(const job_blobs *b, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    uint8_t h[32];
    char e2[PLOW_ERR_LEN];
    if (plow_file_exists(path) && file_sha256(path, h, e2) == 0 && memcmp(h, hash, 32) == 0) return 0;
    if (mkdir_parent(path, err)) return -1;
    char hex[65];
    plow_hex(hash, 32, hex);
    if (b->get_file(b->ctx, hash, path, e2)) return plow_error(err, "cannot fetch blob %.16s... to '%s': %s", hex, path, e2);
    if (file_sha256(path, h, err)) return -1;
    if (memcmp(h, hash, 32) != 0) return plow_error(err, "blob %.16s... fetched to '%s' has other bytes", hex, path);
    return 0;
}

int job_fetch(const job_blobs *b, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    return fetch(b, hash, path, err);
}

char *job_leaves_path(const char *workdir, const uint8_t trace_root[32]) {
    char hex[65];
    plow_hex(trace_root, 32, hex);
    return pathf("%s/leaves_%s.bin", workdir, hex);
}

int job_file_sha256(const char *path, uint8_t out[32], char err[PLOW_ERR_LEN]) { return file_sha256(path, out, err); }

char *job_published_file(const char *workdir, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    char hex[65];
    plow_hex(hash, 32, hex);
    if (strlen(workdir) > JOB_DIR_MAX) return plow_error(err, "job: directory path too long"), NULL;
    char *mp = pathf("%s/manifest.json", workdir), *found = NULL;
    uint8_t *buf = NULL, h[32];
    size_t n;
    job_manifest m = {0};
    if (file_sha256(mp, h, err) != 0) goto out;
    if (memcmp(h, hash, 32) == 0) {
        found = mp;
        mp = NULL;
        goto out;
    }
    if (plow_read_file(mp, JOB_MANIFEST_MAX, &buf, &n, err) || job_manifest_parse(&m, buf, n, err)) goto out;
    for (size_t i = 0; i < m.n && !found; i++) {
        if (memcmp(m.files[i].hash, hash, 32) != 0) continue;
        char *p = pathf("%s/out/%s", workdir, m.files[i].path);
        if (file_sha256(p, h, err) == 0 && memcmp(h, hash, 32) == 0) found = p;
        else free(p);
    }
    if (!found) plow_error(err, "no file of the run in '%s' is blob %.16s...", workdir, hex);
out:
    job_manifest_release(&m);
    free(buf);
    free(mp);
    return found;
}

static int upload(const job_blobs *b, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    char e2[PLOW_ERR_LEN];
    if (b->put_file(b->ctx, path, hash, e2)) return plow_error(err, "cannot upload '%s': %s", path, e2);
    return 0;
}

static int upload_bytes(const job_blobs *b, const char *path, const void *data, size_t n, uint8_t hash[32],
                        char err[PLOW_ERR_LEN]) {
    if (mkdir_parent(path, err) || plow_write_file(path, data, n, err)) return -1;
    return upload(b, path, hash, err);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

/* Removes a directory tree (not following links). Absent is fine. */
static int rm_tree(const char *dir, char err[PLOW_ERR_LEN]) {
    struct stat st;
    if (lstat(dir, &st) != 0) return 0;
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) return plow_error(err, "cannot remove '%s'", dir);
    return 0;
}

/* Every regular file under root/rel, as paths relative to root. */
static int list_files(const char *root, const char *rel, char ***out, size_t *n, char err[PLOW_ERR_LEN]) {
    char *d = rel[0] ? pathf("%s/%s", root, rel) : plow_strdup(root);
    DIR *dh = opendir(d);
    if (!dh) {
        plow_error(err, "cannot list '%s': %s", d, strerror(errno));
        free(d);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *r = rel[0] ? pathf("%s/%s", rel, e->d_name) : plow_strdup(e->d_name);
        char *full = pathf("%s/%s", root, r);
        struct stat st;
        if (lstat(full, &st) != 0) {
            rc = plow_error(err, "cannot stat '%s'", full);
        } else if (S_ISDIR(st.st_mode)) {
            rc = list_files(root, r, out, n, err);
        } else if (S_ISREG(st.st_mode)) {
            if (!job_path_ok(r)) {
                rc = plow_error(err, "output '%s' has a name a manifest cannot carry", r);
            } else {
                *out = plow_realloc(*out, sizeof **out * (*n + 1));
                (*out)[(*n)++] = r;
                r = NULL;
            }
        }
        free(r);
        free(full);
    }
    closedir(dh);
    free(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* ---- the spec's inputs ------------------------------------------------------------ */

/* ROUND: the participant a spec and a slot stand for: the spec's own, else
 * the slot index the caller gave; -1 when neither is known. */
static int round_participant(const job_spec *s) {
    if (s->participant >= 0) return s->participant;
    return s->slot >= 0 && (uint32_t)s->slot < s->participants ? s->slot : -1;
}

static int ctx_init(jctx *x, const job_spec *spec, const job_blobs *b, const char *workdir, char err[PLOW_ERR_LEN]) {
    memset(x, 0, sizeof *x);
    x->spec = spec;
    x->b = b;
    x->slot = -1;
    if (!spec || !b || !b->get_file || !b->put_file || !workdir) return plow_error(err, "job: missing argument");
    if ((unsigned)spec->kind >= TASK_KIND_COUNT || !job_kind_of(spec->kind)->run)
        return plow_error(err, "job: task kind %s has no work to run here", task_kind_name(spec->kind));
    if (strlen(workdir) > JOB_DIR_MAX) return plow_error(err, "job: work directory path too long");
    const job_kind *k = job_kind_of(spec->kind);
    snprintf(x->dir, sizeof x->dir, "%s", workdir);
    snprintf(x->data, sizeof x->data, "%s/in/%s", workdir, k->data_file ? k->data_file : "data.txt");
    snprintf(x->heldout, sizeof x->heldout, "%s/in/heldout.jsonl", workdir);
    snprintf(x->tok, sizeof x->tok, "%s/in/tokenizer.bin", workdir);
    snprintf(x->base, sizeof x->base, "%s/in/base", workdir);
    snprintf(x->adapter, sizeof x->adapter, "%s/in/adapter", workdir);
    return plow_mkdir_p(workdir, err);
}

int job_ctx_init(jctx *x, const job_spec *spec, const job_blobs *b, const char *workdir, char err[PLOW_ERR_LEN]) {
    return ctx_init(x, spec, b, workdir, err);
}

/* Fetches what the spec names into in/. */
static int fetch_inputs(const jctx *x, char err[PLOW_ERR_LEN]) {
    const job_spec *s = x->spec;
    int rc = fetch(x->b, s->tokenizer, x->tok, err);
    if (rc == 0 && job_kind_of(s->kind)->data_file) rc = fetch(x->b, s->data, x->data, err);
    if (rc == 0 && s->has_heldout) rc = fetch(x->b, s->heldout, x->heldout, err);
    if (rc == 0 && s->has_base) {
        char *m = pathf("%s/model.safetensors", x->base), *c = pathf("%s/config.json", x->base),
             *t = pathf("%s/tokenizer.bin", x->base);
        rc = fetch(x->b, s->base_model, m, err);
        if (rc == 0) rc = fetch(x->b, s->base_config, c, err);
        if (rc == 0) rc = fetch(x->b, s->tokenizer, t, err); /* the base's tokenizer is the spec's */
        free(m);
        free(c);
        free(t);
    }
    if (rc == 0 && s->has_adapter) {
        char *m = pathf("%s/adapter_model.safetensors", x->adapter), *c = pathf("%s/adapter_config.json", x->adapter);
        rc = fetch(x->b, s->adapter_model, m, err);
        if (rc == 0) rc = fetch(x->b, s->adapter_config, c, err);
        free(m);
        free(c);
    }
    return rc;
}

/* The training options a spec stands for: the same as the `plow train`
 * command line docs/tasks.md gives for it. */
static void spec_train_opts(const jctx *x, job_train_opts *o) {
    const job_spec *s = x->spec;
    job_train_opts_init(o);
    o->kind = s->kind;
    o->data = job_kind_of(s->kind)->data_file ? x->data : NULL; /* rl: generated problems */
    o->tokenizer = x->tok;
    job_kind_of(s->kind)->spec_opts(x, o);
    o->steps = s->steps;
    o->batch = s->batch;
    o->seq_set = s->seq > 0;
    o->seq = s->seq;
    o->warmup_set = s->warmup >= 0;
    o->warmup = s->warmup;
    o->lr_set = s->lr > 0;
    o->lr = s->lr;
    o->val_frac = s->val_frac;
    o->seed = s->seed;
    o->init_seed = s->init_seed;
    o->commit = true;
    o->every = s->checkpoint_every;
}

/* A re-executor for the spec's task, built from the spec and the fetched
 * inputs alone; writes the task it rebuilt to workdir/task.json. ROUND: for
 * participant x->slot (0 when unknown). */
static int open_replay(const jctx *x, proof_replay **r, char err[PLOW_ERR_LEN]) {
    *r = NULL;
    job_train_opts o;
    spec_train_opts(x, &o);
    tokenizer *tok = NULL;
    proof_inputs in = {0};
    model *base = NULL;
    proof_task t;
    if (tokenizer_load(&tok, x->tok, err)) return -1;
    /* the task's kind and data path first (the inputs' reader), then all of it */
    proof_task kt = {.kind = o.kind, .val_frac = o.val_frac};
    snprintf(kt.data, sizeof kt.data, "%s", x->data);
    int rc = proof_inputs_load(&kt, tok, &in, err);
    if (rc == 0 && o.base) rc = modelio_load_model(&base, x->base, err);
    if (rc == 0) rc = job_train_task(&o, tok, &in, base, &t, err);
    if (rc) {
        model_free(base);
        proof_inputs_release(&in);
        tokenizer_free(tok);
        return -1;
    }
    if (proof_replay_adopt(r, &t, tok, &in, base, err)) return -1;
    if (proof_task_save(&t, x->dir, err)) {
        proof_replay_free(*r);
        *r = NULL;
        return -1;
    }
    return 0;
}

/* ROUND with the participant unknown (a caller that did not give the slot):
 * the participant whose state 0 hashes to leaf0, or -1 if none does. Each
 * participant's state 0 is W_t under its own header (shard hash, seed). */
static int round_slot_of_leaf0(const job_spec *spec, const jctx *x0, const uint8_t leaf0[32], char err[PLOW_ERR_LEN]) {
    for (uint32_t p = 0; p < spec->participants; p++) {
        jctx x = *x0;
        x.slot = (int)p;
        proof_replay *r;
        if (open_replay(&x, &r, err)) return -2;
        proof_replay_reinit(r);
        uint8_t h[32];
        proof_replay_hash(r, h);
        proof_replay_free(r);
        if (memcmp(h, leaf0, 32) == 0) return (int)p;
    }
    return -1;
}

/* Inference: the base model, the adapter and the tokenizer. */
static int open_infer(const jctx *x, model **m, lora **l, tokenizer **tok, char err[PLOW_ERR_LEN]) {
    *m = NULL;
    *l = NULL;
    *tok = NULL;
    if (modelio_load_model(m, x->base, err) || (x->spec->has_adapter && modelio_load_lora(l, *m, x->adapter, err)) ||
        tokenizer_load(tok, x->tok, err))
        goto fail;
    if (tokenizer_vocab_size(*tok) != (*m)->cfg.vocab) {
        plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(*tok), (*m)->cfg.vocab);
        goto fail;
    }
    return 0;
fail:
    lora_free(*l);
    model_free(*m);
    tokenizer_free(*tok);
    *m = NULL;
    *l = NULL;
    *tok = NULL;
    return -1;
}

/* The honest output of an inference spec (hint: a claimed output, or NULL). */
static int infer_honest(const jctx *x, const model *m, const lora *l, const tokenizer *tok, const int32_t *hint,
                        size_t n_hint, int32_t **out, size_t *n_out, size_t *agree, char err[PLOW_ERR_LEN]) {
    const job_spec *s = x->spec;
    int32_t *ids = NULL;
    size_t nids = 0;
    if (tokenizer_encode(tok, (const uint8_t *)s->prompt, strlen(s->prompt), &ids, &nids, err)) return -1;
    infer_sampling sp = {(float)s->temperature, s->top_k, (float)s->top_p, s->sample_seed};
    int rc = receipt_derive(m, l, &sp, ids, nids, s->tokens, tokenizer_eot(tok), hint, n_hint, out, n_out, agree, err);
    free(ids);
    return rc;
}

/* ---- manifests --------------------------------------------------------------------- */

int job_fetch_outputs(const job_blobs *b, const uint8_t manifest[32], const char *dir, char err[PLOW_ERR_LEN]) {
    if (strlen(dir) > JOB_DIR_MAX) return plow_error(err, "job: directory path too long");
    char *mp = pathf("%s/manifest.json", dir);
    uint8_t *buf = NULL;
    size_t n;
    job_manifest m = {0};
    int rc = -1;
    if (plow_mkdir_p(dir, err) || fetch(b, manifest, mp, err) || plow_read_file(mp, JOB_MANIFEST_MAX, &buf, &n, err) ||
        job_manifest_parse(&m, buf, n, err))
        goto out;
    for (size_t i = 0; i < m.n; i++) {
        char *p = pathf("%s/%s", dir, m.files[i].path);
        int frc = fetch(b, m.files[i].hash, p, err);
        free(p);
        if (frc) goto out;
    }
    rc = 0;
out:
    job_manifest_release(&m);
    free(buf);
    free(mp);
    return rc;
}

/* A slot's outputs as a verifier sees them: its manifest, and files fetched
 * on demand into w_<manifest hash>/. */
typedef struct slot_files {
    char dir[JOB_DIR_MAX + 80];
    job_manifest man;
    trace *t;
    uint64_t *ck; /* checkpoint steps the manifest lists, ascending */
    size_t nck;
    signed char *ck_ok; /* per checkpoint: 0 untried, 1 hashes to its leaf, -1 does not */
} slot_files;

static void slot_files_release(slot_files *f) {
    job_manifest_release(&f->man);
    trace_free(f->t);
    free(f->ck);
    free(f->ck_ok);
    memset(f, 0, sizeof *f);
}

/* Reads the manifest of a slot. Returns -1 if it cannot be fetched; a
 * manifest that does not parse is a defect (*why). */
static int slot_open(const jctx *x, const uint8_t manifest[32], slot_files *f, char why[PLOW_ERR_LEN],
                     char err[PLOW_ERR_LEN]) {
    memset(f, 0, sizeof *f);
    why[0] = 0;
    char hex[65];
    plow_hex(manifest, 32, hex);
    snprintf(f->dir, sizeof f->dir, "%s/w_%s", x->dir, hex);
    char *mp = pathf("%s/manifest.json", f->dir);
    uint8_t *buf = NULL;
    size_t n;
    int rc = -1;
    if (plow_mkdir_p(f->dir, err) || fetch(x->b, manifest, mp, err)) goto out;
    rc = 0;
    if (plow_read_file(mp, JOB_MANIFEST_MAX, &buf, &n, why) || job_manifest_parse(&f->man, buf, n, why)) goto out;
    for (size_t i = 0; i < f->man.n; i++) {
        const char *p = f->man.files[i].path;
        uint64_t step;
        char tail[16];
        if (sscanf(p, "checkpoints/%" SCNu64 ".%15s", &step, tail) != 2 || strcmp(tail, "state") != 0) continue;
        char canon[64];
        snprintf(canon, sizeof canon, CKPT_FMT, step);
        if (strcmp(canon, p) != 0) continue; /* only the canonical name of a step */
        f->ck = plow_realloc(f->ck, sizeof *f->ck * (f->nck + 1));
        f->ck[f->nck++] = step; /* the manifest is sorted by path, so by step */
    }
    f->ck_ok = plow_calloc(f->nck ? f->nck : 1, 1);
out:
    free(buf);
    free(mp);
    return rc;
}

/* slot_open for a dispute between replicas: when the slot's manifest
 * cannot be fetched or does not parse (a griefer withholds it) but its
 * revealed leaves are in the work directory (job_leaves_path), the slot is
 * opened with no files at all: the leaves locate the divergence, and the
 * agreed state comes from the other side's checkpoints or from state 0. */
static int slot_open_or_leaves(const jctx *x, const ledger_slot *sl, slot_files *f, char why[PLOW_ERR_LEN],
                               char err[PLOW_ERR_LEN]) {
    char e2[PLOW_ERR_LEN];
    int rc = slot_open(x, sl->manifest, f, why, e2);
    if (rc == 0 && !why[0]) return 0;
    char *lp = job_leaves_path(x->dir, sl->trace_root);
    bool leaves = plow_file_exists(lp);
    free(lp);
    if (!leaves) {
        if (rc) snprintf(err, PLOW_ERR_LEN, "%s", e2);
        return rc;
    }
    slot_files_release(f);
    char hex[65];
    plow_hex(sl->manifest, 32, hex);
    snprintf(f->dir, sizeof f->dir, "%s/w_%s", x->dir, hex);
    f->ck_ok = plow_calloc(1, 1);
    why[0] = 0;
    return 0;
}

/* Fetches a listed file; *path (caller frees) is where it is. */
static int slot_get(const jctx *x, slot_files *f, const char *name, char **path, char err[PLOW_ERR_LEN]) {
    *path = NULL;
    const uint8_t *h = job_manifest_find(&f->man, name);
    if (!h) return plow_error(err, "the manifest has no '%s'", name);
    char *p = pathf("%s/%s", f->dir, name);
    if (fetch(x->b, h, p, err)) {
        free(p);
        return -1;
    }
    *path = p;
    return 0;
}

/* Loads the slot's trace and checks it is the committed one (n, root, leaf
 * n). Fetch failures are errors; anything else is a defect (*why). */
static int slot_trace(const jctx *x, slot_files *f, const ledger_slot *slot, char why[PLOW_ERR_LEN],
                      char err[PLOW_ERR_LEN]) {
    why[0] = 0;
    char *p = NULL;
    char e2[PLOW_ERR_LEN];
    /* the leaves the slot revealed on the ledger (job_leaves_path), when the
     * caller has them: no trace.bin to fetch, and withholding it hides nothing */
    char *lp = job_leaves_path(x->dir, slot->trace_root);
    uint8_t *lv = NULL;
    size_t ln = 0;
    bool have = plow_file_exists(lp) && slot->n <= TRACE_MAX_STEPS &&
                plow_read_file(lp, (size_t)(slot->n + 1) * MERKLE_HASH_LEN, &lv, &ln, e2) == 0;
    free(lp);
    if (have) {
        static const uint8_t no_task[32];
        uint8_t root[32];
        int trc = ln == (slot->n + 1) * MERKLE_HASH_LEN ? trace_new(no_task, lv, slot->n, &f->t, e2) : -1;
        free(lv);
        if (trc == 0) {
            trace_root(f->t, root);
            if (memcmp(root, slot->trace_root, 32) == 0 && memcmp(trace_leaf(f->t, slot->n), slot->final_state, 32) == 0)
                return 0;
            trace_free(f->t);
            f->t = NULL;
        }
        /* not the committed leaves: fall back on the published trace */
    }
    if (!job_manifest_find(&f->man, "trace.bin")) {
        snprintf(why, PLOW_ERR_LEN, "the manifest has no trace.bin");
        return 0;
    }
    if (slot_get(x, f, "trace.bin", &p, err)) return -1;
    struct stat st;
    if (slot->n > TRACE_MAX_STEPS || stat(p, &st) != 0 ||
        (uint64_t)st.st_size != TRACE_HEADER_LEN + (slot->n + 1) * MERKLE_HASH_LEN) { /* before reading it */
        snprintf(why, PLOW_ERR_LEN, "the published trace does not have the committed %" PRIu64 " steps", slot->n);
        free(p);
        return 0;
    }
    int rc = trace_load(p, &f->t, e2);
    free(p);
    if (rc) {
        snprintf(why, PLOW_ERR_LEN, "trace.bin: %.200s", e2);
        return 0;
    }
    uint8_t root[32];
    trace_root(f->t, root);
    if (trace_steps(f->t) != slot->n)
        snprintf(why, PLOW_ERR_LEN, "the published trace has %" PRIu64 " steps, the commitment %" PRIu64,
                 trace_steps(f->t), slot->n);
    else if (memcmp(root, slot->trace_root, 32) != 0)
        snprintf(why, PLOW_ERR_LEN, "the published trace's Merkle root is not the committed one");
    else if (memcmp(trace_leaf(f->t, slot->n), slot->final_state, 32) != 0)
        snprintf(why, PLOW_ERR_LEN, "the published trace's last leaf is not the committed final state");
    if (why[0]) {
        trace_free(f->t);
        f->t = NULL;
    }
    return 0;
}

/* Loads checkpoint index i into the replay and checks it against its leaf.
 * Returns 0 if it is good; -1 with why if not (the replay may then hold
 * anything); fetch failures are errors (-2). */
static int slot_load_ck(const jctx *x, slot_files *f, size_t i, proof_replay *r, char why[PLOW_ERR_LEN],
                        char err[PLOW_ERR_LEN]) {
    uint64_t c = f->ck[i];
    char name[64], e2[PLOW_ERR_LEN];
    snprintf(name, sizeof name, CKPT_FMT, c);
    char *p;
    if (slot_get(x, f, name, &p, err)) return -2;
    free(p);
    int rc = proof_replay_load_checkpoint(r, f->dir, c, e2); /* f->dir/checkpoints/NNNNNNNN.state */
    if (rc) {
        snprintf(why, PLOW_ERR_LEN, "checkpoint %" PRIu64 " is unusable: %.200s", c, e2);
        f->ck_ok[i] = -1;
        return -1;
    }
    uint8_t h[32];
    proof_replay_hash(r, h);
    if (memcmp(h, trace_leaf(f->t, c), 32) != 0) {
        snprintf(why, PLOW_ERR_LEN, "checkpoint %" PRIu64 " does not hash to the committed leaf %" PRIu64, c, c);
        f->ck_ok[i] = -1;
        return -1;
    }
    f->ck_ok[i] = 1;
    return 0;
}

/* ---- evidence ---------------------------------------------------------------------- */

static int prove_leaves(const trace *t, uint64_t j, ledger_evidence *ev, char err[PLOW_ERR_LEN]) {
    memset(ev, 0, sizeof *ev);
    memcpy(ev->leaf_prev, trace_leaf(t, j - 1), 32);
    memcpy(ev->leaf, trace_leaf(t, j), 32);
    if (trace_prove(t, j - 1, &ev->proof_prev, err) || trace_prove(t, j, &ev->proof, err)) return -1;
    return 0;
}

static void artifact_evidence(const ledger_slot *slot, ledger_evidence *ev) {
    memset(ev, 0, sizeof *ev); /* the artifact step: leaves from the commitment, empty proofs */
    memcpy(ev->leaf_prev, slot->final_state, 32);
    memcpy(ev->leaf, slot->artifact, 32);
}

/* Serialises the replay's state and uploads it. */
static int upload_state(const jctx *x, proof_replay *r, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    plow_buf sb = {0};
    train_state_serialize(proof_replay_state(r), &sb);
    char *p = pathf("%s/evidence/state_%08" PRIu64 ".state", x->dir, proof_replay_at(r));
    int rc = upload_bytes(x->b, p, sb.data, sb.len, hash, err);
    free(p);
    plow_buf_release(&sb);
    return rc;
}

/* Brings the replay to state `want` from the largest checkpoint of f at or
 * below it that hashes to its leaf, or from the task's initial state, and
 * checks the result against `leaf` (NULL: no check). The checkpoints of
 * both slots of a dispute may be offered (g may be NULL). Returns 0, -1
 * with why when no start gives `leaf`, -2 on fetch errors. */
static int produce_state(const jctx *x, slot_files *f, slot_files *g, proof_replay *r, uint64_t want,
                         const uint8_t *leaf, char why[PLOW_ERR_LEN], char err[PLOW_ERR_LEN]) {
    slot_files *src[2] = {f, g};
    uint8_t h[32];
    why[0] = 0;
    for (;;) {
        /* the best untried-or-good checkpoint at or below want, from either slot */
        slot_files *best = NULL;
        size_t bi = 0;
        for (int s = 0; s < 2; s++) {
            slot_files *sf = src[s];
            if (!sf || !sf->t) continue;
            for (size_t i = 0; i < sf->nck; i++)
                if (sf->ck[i] <= want && sf->ck_ok[i] >= 0 && (!best || sf->ck[i] > best->ck[bi])) {
                    best = sf;
                    bi = i;
                }
        }
        char w2[PLOW_ERR_LEN];
        if (best) {
            int lrc = slot_load_ck(x, best, bi, r, w2, err);
            if (lrc == -2) return -2;
            if (lrc == -1) {
                if (!why[0]) snprintf(why, PLOW_ERR_LEN, "%s", w2);
                continue;
            }
        } else {
            proof_replay_reinit(r);
        }
        while (proof_replay_at(r) < want) proof_replay_step(r);
        proof_replay_hash(r, h);
        if (!leaf || memcmp(h, leaf, 32) == 0) return 0;
        if (!best) {
            snprintf(why, PLOW_ERR_LEN, "no checkpoint nor the initial state leads to the agreed state %" PRIu64, want);
            return -1;
        }
        best->ck_ok[bi] = -1; /* a good checkpoint that still does not lead there: try below it */
    }
}

/* ---- promised outputs ----------------------------------------------------------------- */

/* Whether the manifest of f lists every checkpoint (0, C, 2C, ... and n) and
 * the artifact's files a run of the spec publishes; why otherwise. */
static void manifest_promise(const jctx *x, const slot_files *f, const ledger_slot *slot, proof_replay *r,
                             char why[PLOW_ERR_LEN]) {
    why[0] = 0;
    uint64_t n = slot->n, every = x->spec->checkpoint_every ? x->spec->checkpoint_every : n;
    for (uint64_t c = 0;;) {
        char name[64];
        snprintf(name, sizeof name, CKPT_FMT, c);
        if (!job_manifest_find(&f->man, name)) {
            snprintf(why, PLOW_ERR_LEN, "the manifest lacks checkpoint %" PRIu64, c);
            return;
        }
        if (c >= n) break;
        c = c + every > n ? n : c + every;
    }
    const char *mf[2];
    proof_artifact_files(proof_replay_task(r), mf);
    for (int k = 0; k < 2; k++)
        if (mf[k] && !job_manifest_find(&f->man, mf[k])) {
            snprintf(why, PLOW_ERR_LEN, "the manifest has no %s", mf[k]);
            return;
        }
}

/* Whether the artifact's files of f, together, are the committed artifact.
 * 0: why empty if they are, else why and *blame (the file at fault: the
 * second one when the first alone is the artifact, as a model without its
 * config.json is); -1 on fetch errors. */
static int artifact_promise(const jctx *x, slot_files *f, const ledger_slot *slot, proof_replay *r,
                            char why[PLOW_ERR_LEN], const char **blame, char err[PLOW_ERR_LEN]) {
    const char *mf[2];
    proof_artifact_files(proof_replay_task(r), mf);
    why[0] = 0;
    *blame = mf[0];
    for (int k = 0; k < 2; k++) {
        char *p = NULL;
        if (mf[k] && slot_get(x, f, mf[k], &p, err)) return -1;
        free(p);
    }
    uint8_t h[32];
    char e2[PLOW_ERR_LEN], e3[PLOW_ERR_LEN];
    int rc = proof_artifact_hash(r, f->dir, h, e2);
    if (rc == 0 && memcmp(h, slot->artifact, 32) == 0) return 0;
    if (rc == 0) snprintf(why, PLOW_ERR_LEN, "the published %s is not the committed artifact", mf[0]);
    else snprintf(why, PLOW_ERR_LEN, "the published %s is unreadable: %.150s", mf[0], e2);
    if (!mf[1]) return 0;
    char *p = pathf("%s/%s", f->dir, mf[1]), *q = pathf("%s/%s.aside", f->dir, mf[1]);
    if (rename(p, q) == 0) {
        if (proof_artifact_hash(r, f->dir, h, e3) == 0 && memcmp(h, slot->artifact, 32) == 0) {
            const char *tail = strrchr(e2, ':'); /* the loader's reason, without the directory it names */
            *blame = mf[1];
            snprintf(why, PLOW_ERR_LEN, "the published %s does not go with the committed artifact (%.150s)", mf[1],
                     tail && tail[1] ? tail + 2 : e2);
        }
        if (rename(q, p) != 0) remove(q); /* fetched again when next needed */
    }
    free(p);
    free(q);
    return 0;
}

/* Opens every output the commitment promises, not only the ones a sampled
 * replay happened to load: the manifest's list, every checkpoint against
 * its leaf, the artifact's files against the committed artifact. The first
 * broken promise goes to out (has_bad) and, if none yet, to first_defect.
 * Moves the replay. 0; -1 on fetch errors. */
static int open_outputs(const jctx *x, slot_files *f, const ledger_slot *slot, proof_replay *r, job_check *out,
                        char first_defect[PLOW_ERR_LEN], char err[PLOW_ERR_LEN]) {
    char why[PLOW_ERR_LEN];
    const uint8_t *bad = NULL;
    const char *bad_name = "manifest.json";
    manifest_promise(x, f, slot, r, why);
    if (why[0]) bad = slot->manifest;
    if (!bad) {
        const char *blame;
        if (artifact_promise(x, f, slot, r, why, &blame, err)) return -1;
        if (why[0]) bad = job_manifest_find(&f->man, blame), bad_name = blame;
    }
    for (size_t i = 0; i < f->nck && !bad; i++) {
        if (f->ck_ok[i] == 1) continue;
        f->ck_ok[i] = 0; /* a checkpoint set aside for the replay's sake is judged on its own leaf */
        int lrc = slot_load_ck(x, f, i, r, why, err);
        if (lrc == -2) return -1;
        if (lrc == 0) continue;
        char name[64];
        snprintf(name, sizeof name, CKPT_FMT, f->ck[i]);
        for (size_t k = 0; k < f->man.n && !bad; k++)
            if (strcmp(f->man.files[k].path, name) == 0) bad = f->man.files[k].hash, bad_name = f->man.files[k].path;
    }
    if (!bad) return 0;
    out->has_bad = true;
    memcpy(out->bad_blob, bad, 32);
    snprintf(out->bad_file, sizeof out->bad_file, "%s", bad_name);
    if (!first_defect[0]) snprintf(first_defect, PLOW_ERR_LEN, "%s", why);
    return 0;
}

/* ---- job_run ------------------------------------------------------------------------ */

typedef struct run_hooks {
    job_progress_fn fn;
    void *arg;
} run_hooks;

static void run_progress(void *arg, const char *phase, long done, long total, const char *extra) {
    (void)extra;
    const run_hooks *rh = arg;
    if (rh->fn) rh->fn(rh->arg, done, total, phase);
}

/* Uploads every file under dir and the manifest that lists them. */
static int publish(const jctx *x, const char *dir, job_progress_fn progress, void *parg, uint8_t manifest[32],
                   char err[PLOW_ERR_LEN]) {
    char **files = NULL;
    size_t n = 0;
    job_manifest m = {0};
    plow_buf mb = {0};
    int rc = list_files(dir, "", &files, &n, err);
    if (rc == 0) qsort(files, n, sizeof *files, cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *p = pathf("%s/%s", dir, files[i]);
        uint8_t h[32];
        if (progress) progress(parg, (long)i, (long)n, "upload");
        rc = upload(x->b, p, h, err);
        if (rc == 0) job_manifest_add(&m, files[i], h);
        free(p);
    }
    if (rc == 0) {
        if (progress) progress(parg, (long)n, (long)n, "upload");
        job_manifest_write(&m, &mb);
        char *mp = pathf("%s/manifest.json", x->dir);
        rc = upload_bytes(x->b, mp, mb.data, mb.len, manifest, err);
        free(mp);
    }
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    job_manifest_release(&m);
    plow_buf_release(&mb);
    return rc;
}

int job_run_infer(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                  job_output *out, char err[PLOW_ERR_LEN]) {
    const job_spec *s = x->spec;
    char *rp = pathf("%s/receipt.json", outdir);
    job_gen_opts o = {
        .model = x->base,
        .lora = s->has_adapter ? x->adapter : NULL,
        .tokenizer = x->tok,
        .prompt = s->prompt,
        .tokens = s->tokens,
        .sampling = {(float)s->temperature, s->top_k, (float)s->top_p, s->sample_seed},
        .receipt = rp,
        .cheat = cheat,
    };
    job_gen_result res;
    int rc = plow_mkdir_p(outdir, err);
    if (rc == 0) {
        if (progress) progress(parg, 0, s->tokens, "generate");
        rc = job_generate(&o, NULL, &res, err);
    }
    if (rc == 0) {
        if (progress) progress(parg, (long)res.n, (long)res.n, "generate");
        rc = upload(x->b, rp, out->trace_root, err);
        if (rc == 0) rc = publish(x, outdir, progress, parg, out->manifest, err);
        memcpy(out->final_state, res.tokens_hash, 32);
        memcpy(out->artifact, res.model_hash, 32);
        out->n = res.n;
        out->checkpoint_every = 0;
        job_gen_result_release(&res);
    }
    free(rp);
    return rc;
}

int job_run_training(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                     job_output *out, char err[PLOW_ERR_LEN]) {
    job_train_opts o;
    spec_train_opts(x, &o);
    o.out = outdir;
    o.cheat = cheat;
    o.eval_batches = 2; /* the validation loss is informative only */
    run_hooks rh = {progress, parg};
    job_hooks h = {.arg = &rh, .progress = run_progress};
    job_train_result res;
    int rc = job_train_opts_check(&o, err);
    if (rc == 0) rc = job_train(&o, &h, &res, err);
    if (rc == 0) rc = publish(x, outdir, progress, parg, out->manifest, err);
    if (rc == 0) {
        memcpy(out->trace_root, res.trace_root, 32);
        memcpy(out->final_state, res.state, 32);
        memcpy(out->artifact, res.artifact, 32);
        out->n = res.n;
        out->checkpoint_every = (uint32_t)o.every;
    }
    return rc;
}

/* A round participant's run: the spec's participant, else the caller's slot. */
int job_run_round(const jctx *x, const char *outdir, const char *cheat, job_progress_fn progress, void *parg,
                  job_output *out, char err[PLOW_ERR_LEN]) {
    jctx y = *x;
    if (job_run_check_round(x->spec, err)) return -1;
    y.slot = round_participant(x->spec);
    return job_run_training(&y, outdir, cheat, progress, parg, out, err);
}

int job_run_check_round(const job_spec *s, char err[PLOW_ERR_LEN]) {
    if (round_participant(s) < 0)
        return plow_error(err, "a round task without a 'participant' needs the slot the run is for (job_spec.slot)");
    return 0;
}

int job_run(const job_spec *spec, const job_blobs *b, const char *workdir, const char *cheat,
            job_progress_fn progress, void *parg, job_output *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    const job_kind *k = job_kind_of(spec->kind);
    if (k->run_check && k->run_check(spec, err)) return -1; /* before fetching anything */
    if (progress) progress(parg, 0, 1, "fetch");
    if (fetch_inputs(&x, err)) return -1;
    if (progress) progress(parg, 1, 1, "fetch");
    char *outdir = pathf("%s/out", workdir);
    int rc = rm_tree(outdir, err); /* a previous attempt's files must not reach the manifest */
    if (rc == 0) rc = k->run(&x, outdir, cheat, progress, parg, out, err);
    free(outdir);
    return rc;
}

/* ---- job_verify --------------------------------------------------------------------- */

/* Records the first defect (unprovable fault) seen. */
static void defect(job_check *out, const char *why) {
    if (out->reason[0] == 0) snprintf(out->reason, sizeof out->reason, "%s", why);
}

int job_verify_infer(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                     char err[PLOW_ERR_LEN]) {
    (void)samples, (void)seed; /* the whole output is re-derived */
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    receipt rc_ = {0};
    int32_t *honest = NULL;
    size_t n_honest = 0, agree = 0;
    bool have_receipt = false;
    int rc = -1;
    char why[PLOW_ERR_LEN];
    char hex[65];
    plow_hex(slot->trace_root, 32, hex);
    char *rp = pathf("%s/receipt_%s.json", x->dir, hex);
    if (open_infer(x, &m, &l, &tok, err)) goto out;
    if (fetch(x->b, slot->trace_root, rp, err)) goto out; /* the receipt is the blob the commitment names */
    if (receipt_load(&rc_, rp, why)) defect(out, "the committed receipt does not parse");
    else have_receipt = true;
    if (infer_honest(x, m, l, tok, have_receipt ? rc_.output : NULL, have_receipt ? rc_.n_output : 0, &honest,
                     &n_honest, &agree, err))
        goto out;
    out->steps_run = n_honest;
    uint8_t h[32];
    receipt_tokens_hash(honest, n_honest, h);
    rc = 0;
    if (memcmp(h, slot->final_state, 32) != 0) { /* provable: the referee derives the same tokens */
        out->valid = false;
        out->step = 1;
        memset(&out->ev, 0, sizeof out->ev);
        memcpy(out->ev.leaf_prev, slot->trace_root, 32);
        memcpy(out->ev.leaf, slot->final_state, 32);
        memcpy(out->state_blob, slot->trace_root, 32);
        if (have_receipt && agree < rc_.n_output)
            snprintf(out->reason, sizeof out->reason,
                     "output token %zu does not follow from the model, prompt, parameters and seed", agree);
        else
            snprintf(out->reason, sizeof out->reason,
                     "the committed tokens are not what the model generates for this spec");
        goto out;
    }
    /* the tokens are right; the rest is bookkeeping no challenge can settle */
    uint8_t mh[32];
    model_hash(m, mh);
    if (have_receipt) {
        const job_spec *s = x->spec;
        uint8_t th[32], lh[32];
        int32_t *ids = NULL;
        size_t nids = 0;
        tokenizer_hash(tok, th);
        if (l) lora_hash(l, lh);
        bool prompt_ok = tokenizer_encode(tok, (const uint8_t *)s->prompt, strlen(s->prompt), &ids, &nids, why) == 0 &&
                         nids == rc_.n_prompt && memcmp(ids, rc_.prompt, sizeof(int32_t) * nids) == 0;
        free(ids);
        if (memcmp(rc_.model_hash, mh, 32) != 0) defect(out, "the receipt names another model");
        else if (memcmp(rc_.tokenizer_hash, th, 32) != 0) defect(out, "the receipt names another tokenizer");
        else if (rc_.has_lora != (l != NULL) || (l && memcmp(rc_.lora_hash, lh, 32) != 0))
            defect(out, "the receipt names another adapter");
        else if (rc_.sampling.seed != s->sample_seed || rc_.sampling.top_k != s->top_k ||
                 rc_.sampling.temperature != (float)s->temperature || rc_.sampling.top_p != (float)s->top_p)
            defect(out, "the receipt's sampling parameters are not the spec's");
        else if (!prompt_ok) defect(out, "the receipt's prompt is not the spec's");
        else if (rc_.n_output != n_honest || agree != n_honest) defect(out, "the receipt's output is not the committed one");
    }
    if (slot->n != n_honest) defect(out, "the committed token count is wrong");
    if (memcmp(mh, slot->artifact, 32) != 0) defect(out, "the committed artifact is not the spec's model");
    out->valid = out->reason[0] == 0;
    out->step = 0;
    if (out->valid) snprintf(out->reason, sizeof out->reason, "valid");
out:
    free(rp);
    free(honest);
    receipt_release(&rc_);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}

#define FRAUD(j, ...)                                                 \
    do {                                                              \
        out->valid = false;                                           \
        out->step = (j);                                              \
        snprintf(out->reason, sizeof out->reason, __VA_ARGS__);       \
    } while (0)

/* ROUND, participant unknown: the participant whose state 0 is the slot's
 * leaf 0; -1 if none is (or the trace is unusable: verify_training reports
 * it), -2 on errors. */
static int round_find_slot(const jctx *x, const ledger_slot *slot, char err[PLOW_ERR_LEN]) {
    slot_files f = {0};
    char why[PLOW_ERR_LEN];
    int p = -2;
    if (slot_open(x, slot->manifest, &f, why, err)) goto out;
    if (!why[0] && slot_trace(x, &f, slot, why, err)) goto out;
    p = why[0] ? -1 : round_slot_of_leaf0(x->spec, x, trace_leaf(f.t, 0), err);
out:
    slot_files_release(&f);
    return p;
}

int job_verify_training(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                        char err[PLOW_ERR_LEN]) {
    proof_replay *r = NULL;
    slot_files f = {0};
    char why[PLOW_ERR_LEN], first_defect[PLOW_ERR_LEN] = "";
    int rc = -1;
    uint8_t h[32];
    const job_spec *s = x->spec;
    if (open_replay(x, &r, err)) goto out;
    if (slot->n != (uint64_t)s->steps) {
        snprintf(out->reason, sizeof out->reason, "the slot commits to %" PRIu64 " steps, the task has %d", slot->n,
                 s->steps);
        rc = 0;
        goto out;
    }
    if (slot_open(x, slot->manifest, &f, why, err)) goto out;
    if (!why[0] && slot_trace(x, &f, slot, why, err)) goto out;
    if (why[0]) { /* no trace to prove anything against */
        snprintf(out->reason, sizeof out->reason, "%s", why);
        rc = 0;
        goto out;
    }
    if (slot->checkpoint_every != s->checkpoint_every)
        snprintf(first_defect, sizeof first_defect, "the slot commits to checkpoints every %u steps, the task every %u",
                 slot->checkpoint_every, s->checkpoint_every);
    uint64_t n = slot->n;
    /* leaf 0 must be the task's initial state; if it is not, the referee
     * settles step 1 from the initial state it rebuilds itself */
    train_state *st = proof_replay_state(r);
    proof_replay_reinit(r);
    proof_replay_hash(r, h);
    if (memcmp(h, trace_leaf(f.t, 0), 32) != 0) {
        plow_buf sb = {0};
        train_state_serialize(st, &sb);
        proof_replay_step(r);
        out->steps_run++;
        proof_replay_hash(r, h);
        if (memcmp(h, trace_leaf(f.t, 1), 32) != 0) {
            FRAUD(1, "the run does not start from the task's initial state (leaf 0), and step 1 does not follow from it");
            char *p = pathf("%s/evidence/state_00000000.state", x->dir);
            int urc = prove_leaves(f.t, 1, &out->ev, err) || upload_bytes(x->b, p, sb.data, sb.len, out->state_blob, err);
            free(p);
            plow_buf_release(&sb);
            rc = urc ? -1 : 0;
            goto out;
        }
        plow_buf_release(&sb);
        if (!first_defect[0]) snprintf(first_defect, sizeof first_defect, "leaf 0 is not the task's initial state");
        /* a checkpoint 0 that matches that leaf is not the task's start: replay from the true state 0 */
        for (size_t c = 0; c < f.nck; c++)
            if (f.ck[c] == 0) f.ck_ok[c] = -1;
    }
    /* the sampled transitions, each re-executed from the nearest good
     * checkpoint (or from where the previous one left the replay), checking
     * every leaf on the way: the first that differs is the wrong step */
    uint64_t js[64];
    int ns = proof_sample_steps(n, samples, seed, js);
    bool have = false; /* the replay holds a verified state of this run */
    for (int i = 0; i < ns; i++) {
        uint64_t j = js[i], want = j - 1;
        bool restart = !have || proof_replay_at(r) > want;
        for (size_t c = 0; c < f.nck && !restart; c++)
            restart = f.ck[c] <= want && f.ck[c] > proof_replay_at(r) && f.ck_ok[c] >= 0;
        while (restart) {
            size_t best = f.nck;
            for (size_t c = 0; c < f.nck; c++)
                if (f.ck[c] <= want && f.ck_ok[c] >= 0) best = c;
            if (best == f.nck) { /* no usable checkpoint: from the task's initial state */
                proof_replay_reinit(r);
                break;
            }
            int lrc = slot_load_ck(x, &f, best, r, why, err);
            if (lrc == -2) goto out;
            if (lrc == 0) break;
            if (!first_defect[0]) snprintf(first_defect, sizeof first_defect, "%s", why);
        }
        have = true;
        while (proof_replay_at(r) < j) {
            proof_replay_step(r);
            out->steps_run++;
            uint64_t at = proof_replay_at(r);
            proof_replay_hash(r, h);
            if (memcmp(h, trace_leaf(f.t, at), 32) == 0) continue;
            FRAUD(at, "step %" PRIu64 ": re-executing it from the committed state %" PRIu64
                      " does not give the committed leaf", at, at - 1);
            int prc = produce_state(x, &f, NULL, r, at - 1, trace_leaf(f.t, at - 1), why, err);
            if (prc == -1) plow_error(err, "cannot rebuild state %" PRIu64 " for the evidence: %.200s", at - 1, why);
            if (prc || prove_leaves(f.t, at, &out->ev, err) || upload_state(x, r, out->state_blob, err)) goto out;
            rc = 0;
            goto out;
        }
    }
    /* the replay is at state n, which matched leaf n: its weights must be the artifact */
    proof_replay_artifact_hash(r, h);
    if (memcmp(h, slot->artifact, 32) != 0) {
        FRAUD(n + 1, "the committed artifact is not the weights of the final state");
        artifact_evidence(slot, &out->ev);
        if (upload_state(x, r, out->state_blob, err)) goto out;
        rc = 0;
        goto out;
    }
    /* the published files: every checkpoint, the model, adapter or (ROUND)
     * contribution and its config, each what the commitment promises */
    if (open_outputs(x, &f, slot, r, out, first_defect, err)) goto out;
    out->valid = first_defect[0] == 0;
    snprintf(out->reason, sizeof out->reason, "%s", out->valid ? "valid" : first_defect);
    rc = 0;
out:
    slot_files_release(&f);
    proof_replay_free(r);
    return rc;
}

/* A round participant's slot: the spec's participant, else the caller's
 * slot, else the participant whose state 0 is the slot's leaf 0. */
int job_verify_round(jctx *x, const ledger_slot *slot, int samples, uint64_t seed, job_check *out,
                     char err[PLOW_ERR_LEN]) {
    x->slot = round_participant(x->spec);
    if (x->slot < 0) {
        int p = round_find_slot(x, slot, err);
        if (p == -2) return -1;
        x->slot = p >= 0 ? p : 0;
    }
    return job_verify_training(x, slot, samples, seed, out, err);
}

int job_verify(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir, int samples,
               uint64_t seed, job_check *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    double t0 = plow_now();
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    if (!slot) return plow_error(err, "job: missing slot");
    if (samples < 0 || samples > 63) return plow_error(err, "samples must be in 0..63");
    if (fetch_inputs(&x, err)) return -1;
    int rc = job_kind_of(spec->kind)->verify(&x, slot, samples, seed, out, err);
    out->seconds = plow_now() - t0;
    return rc;
}

int job_check_outputs(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir,
                      job_check *out, char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    out->valid = true;
    double t0 = plow_now();
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    if (!slot) return plow_error(err, "job: missing slot");
    const job_kind *k = job_kind_of(spec->kind);
    if (k->verify != job_verify_training && k->verify != job_verify_round) return 0;
    x.slot = round_participant(spec);
    if (x.slot < 0) x.slot = 0;
    proof_replay *r = NULL;
    slot_files f = {0};
    char why[PLOW_ERR_LEN], first_defect[PLOW_ERR_LEN] = "";
    int rc = -1;
    if (fetch_inputs(&x, err) || open_replay(&x, &r, err) || slot_open(&x, slot->manifest, &f, why, err)) goto out;
    if (why[0]) { /* a manifest that does not parse promises nothing: it is the broken promise */
        out->has_bad = true;
        memcpy(out->bad_blob, slot->manifest, 32);
        snprintf(out->bad_file, sizeof out->bad_file, "manifest.json");
        snprintf(first_defect, sizeof first_defect, "%s", why);
    } else if (slot_trace(&x, &f, slot, why, err)) {
        goto out;
    } else if (why[0]) {
        snprintf(first_defect, sizeof first_defect, "%s", why);
    } else if (open_outputs(&x, &f, slot, r, out, first_defect, err)) {
        goto out;
    }
    out->valid = first_defect[0] == 0;
    snprintf(out->reason, sizeof out->reason, "%s", out->valid ? "valid" : first_defect);
    rc = 0;
out:
    out->seconds = plow_now() - t0;
    slot_files_release(&f);
    proof_replay_free(r);
    return rc;
}

int job_promised(const job_spec *spec, const job_blobs *b, const ledger_slot *slot, const char *workdir,
                 const uint8_t want[32], bool *kept, char why[PLOW_ERR_LEN], char err[PLOW_ERR_LEN]) {
    *kept = true;
    why[0] = 0;
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    if (!slot) return plow_error(err, "job: missing slot");
    const job_kind *k = job_kind_of(spec->kind);
    if (k->verify != job_verify_training && k->verify != job_verify_round) return 0; /* its bytes are all */
    x.slot = round_participant(spec);
    if (x.slot < 0) x.slot = 0;
    proof_replay *r = NULL;
    slot_files f = {0};
    int rc = -1;
    if (fetch_inputs(&x, err) || open_replay(&x, &r, err) || slot_open(&x, slot->manifest, &f, why, err)) goto out;
    bool is_manifest = memcmp(want, slot->manifest, 32) == 0;
    rc = 0;
    if (why[0]) { /* the manifest does not parse: it promises nothing, and is itself no manifest */
        *kept = !is_manifest;
        goto out;
    }
    if (is_manifest) {
        manifest_promise(&x, &f, slot, r, why);
        *kept = !why[0];
        goto out;
    }
    const char *mf[2];
    proof_artifact_files(proof_replay_task(r), mf);
    for (size_t i = 0; i < f.man.n && *kept; i++) { /* every path the blob stands for */
        const char *p = f.man.files[i].path;
        if (memcmp(f.man.files[i].hash, want, 32) != 0) continue;
        if ((mf[0] && strcmp(p, mf[0]) == 0) || (mf[1] && strcmp(p, mf[1]) == 0)) {
            const char *blame;
            if (artifact_promise(&x, &f, slot, r, why, &blame, err)) goto fail;
            *kept = !why[0];
            continue;
        }
        char name[64];
        size_t c;
        for (c = 0; c < f.nck; c++) {
            snprintf(name, sizeof name, CKPT_FMT, f.ck[c]);
            if (strcmp(name, p) == 0) break;
        }
        if (c == f.nck) continue; /* not a checkpoint: its bytes are what it promises */
        if (!f.t) {
            char w2[PLOW_ERR_LEN];
            if (slot_trace(&x, &f, slot, w2, err)) goto fail;
            if (w2[0]) continue; /* no leaf to judge it by (the leaves are on the ledger: the caller's to give) */
        }
        int lrc = slot_load_ck(&x, &f, c, r, why, err);
        if (lrc == -2) goto fail;
        *kept = lrc == 0;
    }
    goto out;
fail:
    rc = -1;
out:
    slot_files_release(&f);
    proof_replay_free(r);
    return rc;
}

/* ---- job_diverge --------------------------------------------------------------------- */

int job_diverge_round(const jctx *x, const ledger_slot *a, const ledger_slot *b, uint64_t *step,
                      ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]) {
    (void)x, (void)a, (void)b, (void)step, (void)ev_a, (void)ev_b, (void)state_blob;
    return plow_error(err, "a round task is optimistic: its slots train different shards; verify each alone");
}

/* The referee derives the honest tokens from the spec alone; the receipt of
 * slot a (state_blob) is its hint and a's leaf_prev. */
int job_diverge_infer(const jctx *x, const ledger_slot *a, const ledger_slot *bslot, uint64_t *step,
                      ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]) {
    (void)x, (void)err;
    if (memcmp(a->final_state, bslot->final_state, 32) == 0) return 0;
    *step = 1;
    memcpy(ev_a->leaf_prev, a->trace_root, 32);
    memcpy(ev_a->leaf, a->final_state, 32);
    memcpy(ev_b->leaf_prev, bslot->trace_root, 32);
    memcpy(ev_b->leaf, bslot->final_state, 32);
    memcpy(state_blob, a->trace_root, 32);
    return 0;
}

int job_diverge(const job_spec *spec, const job_blobs *b, const ledger_slot *a, const ledger_slot *bslot,
                const char *workdir, uint64_t *step, ledger_evidence *ev_a, ledger_evidence *ev_b,
                uint8_t state_blob[32], char err[PLOW_ERR_LEN]) {
    *step = 0;
    memset(ev_a, 0, sizeof *ev_a);
    memset(ev_b, 0, sizeof *ev_b);
    memset(state_blob, 0, 32);
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    if (!a || !bslot) return plow_error(err, "job: missing slot");
    return job_kind_of(spec->kind)->diverge(&x, a, bslot, step, ev_a, ev_b, state_blob, err);
}

int job_diverge_training(const jctx *x, const ledger_slot *a, const ledger_slot *bslot, uint64_t *step,
                         ledger_evidence *ev_a, ledger_evidence *ev_b, uint8_t state_blob[32], char err[PLOW_ERR_LEN]) {
    const job_spec *spec = x->spec;
    proof_replay *r = NULL;
    slot_files fa = {0}, fb = {0};
    char why[PLOW_ERR_LEN];
    int rc = -1;
    uint64_t n = a->n;
    if (a->n != bslot->n || a->n != (uint64_t)spec->steps) {
        plow_error(err, "the slots commit to %" PRIu64 " and %" PRIu64 " steps, the task has %d", a->n, bslot->n,
                   spec->steps);
        goto out;
    }
    if (fetch_inputs(x, err) || open_replay(x, &r, err)) goto out;
    for (int s = 0; s < 2; s++) {
        slot_files *f = s ? &fb : &fa;
        const ledger_slot *sl = s ? bslot : a;
        if (slot_open_or_leaves(x, sl, f, why, err)) goto out;
        if (!why[0] && slot_trace(x, f, sl, why, err)) goto out;
        if (why[0]) {
            plow_error(err, "slot %c: %.200s", s ? 'B' : 'A', why);
            goto out;
        }
    }
    uint64_t j = 1;
    while (j <= n && memcmp(trace_leaf(fa.t, j), trace_leaf(fb.t, j), 32) == 0) j++;
    if (j > n && memcmp(a->artifact, bslot->artifact, 32) == 0) { /* they agree */
        rc = 0;
        goto out;
    }
    if (j <= n) {
        if (prove_leaves(fa.t, j, ev_a, err) || prove_leaves(fb.t, j, ev_b, err)) goto out;
    } else {
        artifact_evidence(a, ev_a);
        artifact_evidence(bslot, ev_b);
    }
    if (j == 1) { /* the referee rebuilds state 0 itself; publish it anyway */
        proof_replay_reinit(r);
    } else {
        int prc = produce_state(x, &fa, &fb, r, j - 1, trace_leaf(fa.t, j - 1), why, err);
        if (prc == -1) plow_error(err, "cannot produce the agreed state %" PRIu64 ": %.200s", j - 1, why);
        if (prc) goto out;
    }
    if (upload_state(x, r, state_blob, err)) goto out;
    *step = j;
    rc = 0;
out:
    slot_files_release(&fa);
    slot_files_release(&fb);
    proof_replay_free(r);
    return rc;
}

/* ---- job_referee -------------------------------------------------------------------- */

int job_referee_infer(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]) {
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    receipt hint = {0};
    bool have_hint = false;
    int32_t *honest = NULL, *ids = NULL;
    size_t n_honest = 0, agree, nids = 0;
    uint8_t *buf = NULL;
    size_t n;
    char hex[65], why[PLOW_ERR_LEN];
    int rc = -1;
    if (c->step != 1) return plow_error(err, "an inference challenge is over step 1, not %" PRIu64, c->step);
    plow_hex(c->state_blob, 32, hex);
    char *p = pathf("%s/referee/receipt_%s.json", x->dir, hex);
    if (open_infer(x, &m, &l, &tok, err)) goto out;
    /* the receipt the challenge names must be the accused's committed one */
    if (fetch(x->b, c->state_blob, p, why) == 0 && plow_read_file(p, 64 << 20, &buf, &n, why) == 0) {
        uint8_t h[32];
        plow_sha256_once(buf, n, h);
        *prev_ok = memcmp(h, c->leaf_prev, 32) == 0;
    }
    if (!*prev_ok) {
        rc = 0;
        goto out;
    }
    /* its output is only a hint: the tokens are derived from the spec */
    if (receipt_parse(&hint, (const char *)buf, n, why) == 0 &&
        tokenizer_encode(tok, (const uint8_t *)x->spec->prompt, strlen(x->spec->prompt), &ids, &nids, why) == 0 &&
        nids == hint.n_prompt && memcmp(ids, hint.prompt, sizeof(int32_t) * nids) == 0)
        have_hint = true;
    if (infer_honest(x, m, l, tok, have_hint ? hint.output : NULL, have_hint ? hint.n_output : 0, &honest, &n_honest,
                     &agree, err))
        goto out;
    receipt_tokens_hash(honest, n_honest, computed);
    rc = 0;
out:
    free(p);
    free(buf);
    free(ids);
    free(honest);
    receipt_release(&hint);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}

/* Puts the replay at the challenge's state j-1: the task's state 0 for
 * j = 1, else the state blob, which must be a state of this task at step
 * j-1 hashing to c->leaf_prev (*prev_ok). */
static void referee_load(const jctx *x, proof_replay *r, const ledger_challenge *c, bool *prev_ok) {
    *prev_ok = false;
    if (c->step == 1) { /* state 0 is the task's: rebuilt here, whatever the blob */
        proof_replay_reinit(r);
        *prev_ok = true;
        return;
    }
    train_state *st = proof_replay_state(r);
    uint8_t *buf = NULL, h[32];
    char hex[65], why[PLOW_ERR_LEN];
    size_t len;
    plow_hex(c->state_blob, 32, hex);
    char *p = pathf("%s/referee/state_%s.state", x->dir, hex);
    if (fetch(x->b, c->state_blob, p, why) == 0 && plow_read_file(p, proof_replay_state_max(r), &buf, &len, why) == 0 &&
        train_state_restore(st, buf, len, why) == 0 && train_state_step(st) == c->step - 1) {
        proof_replay_hash(r, h);
        *prev_ok = memcmp(h, c->leaf_prev, 32) == 0;
    }
    free(buf);
    free(p);
}

/* The participant unknown (the caller did not give the slot): the one whose
 * state 0 is the agreed leaf 0 (j = 1), or whose state the blob is (j > 1);
 * a run of some participant is judged as that run. */
/* The referee's one step from the loaded state j-1 (j = n+1: the artifact). */
static void referee_step(proof_replay *r, const ledger_challenge *c, uint64_t n, bool prev_ok, uint8_t computed[32]) {
    if (!prev_ok) return;
    if (c->step <= n) {
        proof_replay_step(r);
        proof_replay_hash(r, computed);
    } else {
        proof_replay_artifact_hash(r, computed);
    }
}

int job_referee_round(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]) {
    const job_spec *spec = x->spec;
    uint64_t n = (uint64_t)spec->steps, j = c->step;
    x->slot = round_participant(spec);
    if (x->slot >= 0 || j < 1 || j > n + 1) return job_referee_training(x, c, computed, prev_ok, err);
    if (j == 1) {
        int p = round_slot_of_leaf0(spec, x, c->leaf_prev, err);
        if (p == -2) return -1;
        x->slot = p >= 0 ? p : 0;
        return job_referee_training(x, c, computed, prev_ok, err);
    }
    proof_replay *r = NULL;
    for (uint32_t p = 0; p < spec->participants && !*prev_ok; p++) {
        proof_replay_free(r);
        x->slot = (int)p;
        if (open_replay(x, &r, err)) return -1;
        referee_load(x, r, c, prev_ok);
    }
    if (!r) return job_referee_training(x, c, computed, prev_ok, err); /* no participants */
    referee_step(r, c, n, *prev_ok, computed);
    proof_replay_free(r);
    return 0;
}

int job_referee_training(jctx *x, const ledger_challenge *c, uint8_t computed[32], bool *prev_ok,
                         char err[PLOW_ERR_LEN]) {
    uint64_t n = (uint64_t)x->spec->steps, j = c->step;
    if (j < 1 || j > n + 1) return plow_error(err, "challenge step %" PRIu64 " is outside 1..%" PRIu64, j, n + 1);
    proof_replay *r = NULL;
    if (open_replay(x, &r, err)) return -1;
    referee_load(x, r, c, prev_ok);
    referee_step(r, c, n, *prev_ok, computed);
    proof_replay_free(r);
    return 0;
}

int job_referee(const job_spec *spec, const job_blobs *b, const ledger_challenge *c, const char *workdir,
                uint8_t computed[32], bool *prev_ok, char err[PLOW_ERR_LEN]) {
    memset(computed, 0, 32);
    *prev_ok = false;
    jctx x;
    if (ctx_init(&x, spec, b, workdir, err)) return -1;
    if (!c) return plow_error(err, "job: missing challenge");
    /* a bomb is a ruling: nothing the spec sized is built above the limits */
    job_limits l;
    job_cost cost;
    job_limits_network(&l);
    int prc = job_probe(spec, b, workdir, &l, false, &cost, err);
    if (prc != 0) return prc;
    if (fetch_inputs(&x, err)) return -1;
    return job_kind_of(spec->kind)->referee(&x, c, computed, prev_ok, err);
}
