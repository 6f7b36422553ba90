/*
 * test_job.c — task specs, output manifests, and the job layer end to end:
 * a worker runs a task, a verifier checks the committed slot, evidence is
 * checked against the slot's root the way the ledger does (merkle_verify),
 * and the referee's single step settles it. Every cheat a worker can play
 * through job_run is caught at its step; honest work and a wrong challenger
 * are never upheld; hostile manifests and state blobs never escape the work
 * directory or crash anything.
 *
 * Blobs live in a plain directory (no node): put copies a file in under its
 * SHA-256, get copies it out. Tiny model, 12 steps of 2 x 32 tokens, a
 * 60 KB slice of the corpus: the whole table runs in seconds.
 */
#include "../src/base/plow.h"

#include <inttypes.h>
#include <sys/stat.h>

#include "../src/data/tokenizer.h"
#include "../src/job/job.h"
#include "../src/job/work.h"
#include "../src/model/modelio.h"
#include "../src/model/safetensors.h"
#include "../src/proof/receipt.h"
#include "../src/proof/run.h"
#include "../src/tensor/tensor.h"
#include "../src/train/round.h"
#include "test.h"

#define STEPS 12
#define EVERY 4

/* ---- a blob store in a directory ----------------------------------------------- */

/* Plain writes: the store need not survive a crash, and fsync would dominate the run time. */
static int write_plain(const char *path, const void *data, size_t n, char err[PLOW_ERR_LEN]) {
    FILE *f = fopen(path, "wb");
    if (!f) return plow_error(err, "cannot create '%s'", path);
    bool ok = fwrite(data, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? 0 : plow_error(err, "cannot write '%s'", path);
}

static int dir_get(void *ctx, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    char hex[65], src[1200];
    plow_hex(hash, 32, hex);
    snprintf(src, sizeof src, "%s/%s", (const char *)ctx, hex);
    uint8_t *buf;
    size_t n;
    if (plow_read_file(src, (size_t)1 << 32, &buf, &n, err)) return plow_error(err, "no blob %s", hex);
    int rc = write_plain(path, buf, n, err);
    free(buf);
    return rc;
}

static int dir_put(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    uint8_t *buf;
    size_t n;
    if (plow_read_file(path, (size_t)1 << 32, &buf, &n, err)) return -1;
    plow_sha256_once(buf, n, hash);
    char hex[65], dst[1200];
    plow_hex(hash, 32, hex);
    snprintf(dst, sizeof dst, "%s/%s", (const char *)ctx, hex);
    int rc = plow_file_exists(dst) ? 0 : write_plain(dst, buf, n, err);
    free(buf);
    return rc;
}

static int put_bytes(const job_blobs *b, const char *name, const void *data, size_t n, uint8_t hash[32]) {
    char p[1200], err[PLOW_ERR_LEN];
    snprintf(p, sizeof p, "%s/upload_%s", test_tmpdir(), name);
    if (plow_write_file(p, data, n, err) || b->put_file(b->ctx, p, hash, err)) {
        CHECKF(0, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- the fixture: blobs, inputs, an honest run ---------------------------------- */

static struct {
    bool ready, ok;
    char root[1024], blobdir[1100];
    job_blobs b;
    uint8_t data[32], tok[32];
    job_spec train;     /* the honest training spec */
    job_output honest;  /* its honest run */
    ledger_slot hslot;
    char hdir[1100];    /* the honest run's work directory */
} F;

static void dirpath(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", F.root, name); }

static void slot_of(const job_output *o, ledger_slot *s) {
    memset(s, 0, sizeof *s);
    s->status = LEDGER_SLOT_COMMITTED;
    memcpy(s->trace_root, o->trace_root, 32);
    memcpy(s->final_state, o->final_state, 32);
    memcpy(s->artifact, o->artifact, 32);
    memcpy(s->manifest, o->manifest, 32);
    s->n = o->n;
    s->checkpoint_every = o->checkpoint_every;
}

static void train_spec(job_spec *s) {
    memset(s, 0, sizeof *s);
    s->kind = TASK_TRAIN;
    snprintf(s->config, sizeof s->config, "tiny");
    memcpy(s->data, F.data, 32);
    memcpy(s->tokenizer, F.tok, 32);
    s->val_frac = 0.1;
    s->steps = STEPS;
    s->batch = 2;
    s->seq = 32;
    s->lr = 0.002;
    s->warmup = -1;
    s->seed = 1;
    s->init_seed = 1;
    s->checkpoint_every = EVERY;
}

static bool run(const job_spec *spec, const char *name, const char *cheat, job_output *out) {
    char dir[1100], err[PLOW_ERR_LEN] = "";
    dirpath(dir, sizeof dir, name);
    int rc = job_run(spec, &F.b, dir, cheat, NULL, NULL, out, err);
    CHECKF(rc == 0, "job_run %s: %s", name, err);
    return rc == 0;
}

static bool fixture(void) {
    if (F.ready) return F.ok;
    F.ready = true;
    char err[PLOW_ERR_LEN] = "";
    tensor_init("auto", 1, NULL); /* one thread: no pool spinning on a shared machine */
    snprintf(F.root, sizeof F.root, "%s/job", test_tmpdir());
    snprintf(F.blobdir, sizeof F.blobdir, "%s/blobs", F.root);
    if (plow_mkdir_p(F.blobdir, err)) {
        CHECKF(0, "%s", err);
        return false;
    }
    F.b = (job_blobs){.ctx = F.blobdir, .get_file = dir_get, .put_file = dir_put};
    uint8_t *buf;
    size_t n;
    if (plow_read_file(test_corpus_path(), 1 << 24, &buf, &n, err)) {
        CHECKF(0, "%s", err);
        return false;
    }
    size_t use = n < 60000 ? n : 60000;
    tokenizer *tok = NULL;
    plow_buf tb = {0};
    bool ok = tokenizer_train(&tok, buf, use, 300, NULL, NULL, err) == 0;
    CHECKF(ok, "%s", err);
    if (ok) {
        tokenizer_serialize(tok, &tb);
        ok = put_bytes(&F.b, "data.txt", buf, use, F.data) == 0 && put_bytes(&F.b, "tok.bin", tb.data, tb.len, F.tok) == 0;
    }
    free(buf);
    plow_buf_release(&tb);
    tokenizer_free(tok);
    if (!ok) return false;
    train_spec(&F.train);
    if (!run(&F.train, "honest", NULL, &F.honest)) return false;
    slot_of(&F.honest, &F.hslot);
    dirpath(F.hdir, sizeof F.hdir, "honest");
    F.ok = true;
    return true;
}

/* ---- specs ------------------------------------------------------------------------ */

static const char H1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char H2[] = "2222222222222222222222222222222222222222222222222222222222222222";

static int parse_str(job_spec *s, const char *txt, char err[PLOW_ERR_LEN]) {
    return job_spec_parse(s, (const uint8_t *)txt, strlen(txt), err);
}

/* parse(write(s)) writes the same bytes again, for a spec given as text. */
static void roundtrip(const char *txt) {
    job_spec s, s2;
    char err[PLOW_ERR_LEN] = "";
    CHECKF(parse_str(&s, txt, err) == 0, "%s: %s", txt, err);
    plow_buf a = {0}, b = {0};
    job_spec_write(&s, &a);
    CHECKF(job_spec_parse(&s2, a.data, a.len, err) == 0, "%.*s: %s", (int)a.len, (const char *)a.data, err);
    job_spec_write(&s2, &b);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK(s2.kind == s.kind && s2.steps == s.steps && s2.lr == s.lr && s2.seed == s.seed &&
          s2.init_seed == s.init_seed && s2.val_frac == s.val_frac && s2.temperature == s.temperature &&
          s2.top_p == s.top_p && s2.sample_seed == s.sample_seed && s2.tokens == s.tokens && s2.alpha == s.alpha &&
          strcmp(s2.prompt, s.prompt) == 0 && strcmp(s2.targets, s.targets) == 0 &&
          memcmp(s2.data, s.data, 32) == 0 && memcmp(s2.base_model, s.base_model, 32) == 0);
    plow_buf_release(&a);
    plow_buf_release(&b);
}

static void test_spec_roundtrip(void) {
    char txt[4096], err[PLOW_ERR_LEN] = "";
    job_spec s;
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"val_frac\":0.1,\"steps\":40,\"batch\":4,\"seq\":64,\"lr\":0.002,\"warmup\":-1,\"seed\":\"1\","
             "\"init_seed\":\"18446744073709551615\",\"checkpoint_every\":8}", H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.kind == TASK_TRAIN && s.steps == 40 && s.batch == 4 &&
          s.seq == 64 && s.lr == 0.002 && s.warmup == -1 && s.seed == 1 && s.init_seed == UINT64_MAX &&
          s.checkpoint_every == 8 && strcmp(s.config, "tiny") == 0 && s.data[0] == 0x11 && s.tokenizer[0] == 0x22);
    /* defaults: batch 16, seq 0 (the context), lr 0 (default), warmup -1, seed 1, init_seed = seed,
     * checkpoint_every min(16, steps), val_frac 0.1 */
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"steps\":10,\"seed\":\"7\"}", H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.batch == 16 && s.seq == 0 && s.lr == 0 && s.warmup == -1 &&
          s.seed == 7 && s.init_seed == 7 && s.checkpoint_every == 10 && s.val_frac == 0.1);
    CHECK(s.head == JOB_HEAD_CONFIG);
    /* the LM head chosen against the config's (tiny is tied) */
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"train\",\"config\":\"tiny\",\"tied\":false,\"data\":\"%s\","
             "\"tokenizer\":\"%s\",\"val_frac\":0.1,\"steps\":10,\"batch\":16,\"seq\":0,\"lr\":0,\"warmup\":-1,"
             "\"seed\":\"7\",\"init_seed\":\"7\",\"checkpoint_every\":10}", H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.head == JOB_HEAD_UNTIED);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"lora\",\"data\":\"%s\",\"tokenizer\":\"%s\",\"steps\":20,"
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"},\"lora\":{\"rank\":4,\"alpha\":8.5,\"targets\":\"all\"}}",
             H1, H2, H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.kind == TASK_LORA && s.has_base && s.rank == 4 && s.alpha == 8.5 &&
          strcmp(s.targets, "all") == 0 && s.base_config[0] == 0x22);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"lora\",\"data\":\"%s\",\"tokenizer\":\"%s\",\"steps\":20,"
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"}}", H1, H2, H1, H2);
    CHECK(parse_str(&s, txt, err) == 0 && s.rank == 8 && s.alpha == 16 && strcmp(s.targets, "q,k,v,o") == 0);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"infer\",\"tokenizer\":\"%s\",\"base\":{\"model\":\"%s\","
             "\"config\":\"%s\"},\"adapter\":{\"model\":\"%s\",\"config\":\"%s\"},\"infer\":{\"prompt\":\"ROMEO:\\n\\u00e9\","
             "\"tokens\":100,\"temperature\":0.8,\"top_k\":40,\"top_p\":1.0,\"seed\":\"7\"}}", H1, H2, H1, H2, H1);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.kind == TASK_INFER && s.has_adapter && s.tokens == 100 &&
          s.top_k == 40 && s.top_p == 1.0 && s.sample_seed == 7 && strcmp(s.prompt, "ROMEO:\n\xc3\xa9") == 0);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"infer\",\"tokenizer\":\"%s\",\"base\":{\"model\":\"%s\","
             "\"config\":\"%s\"},\"infer\":{\"prompt\":\"a\"}}", H1, H2, H1);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && !s.has_adapter && s.tokens == 200 && s.temperature == 0.8 &&
          s.top_k == 40 && s.top_p == 0.95 && s.sample_seed == 1);
    /* dpo: full (no "lora") with held-out pairs, and LoRA with defaults */
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"dpo\",\"data\":\"%s\",\"heldout\":\"%s\",\"tokenizer\":\"%s\","
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"},\"beta\":0.5,\"steps\":30,\"batch\":4,\"seq\":40}",
             H1, H2, H2, H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.kind == TASK_DPO && s.has_base && s.has_heldout && !s.has_lora &&
          s.beta == 0.5 && s.steps == 30 && s.batch == 4 && s.seq == 40 && s.val_frac == 0 && s.heldout[0] == 0x22);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"dpo\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"},\"steps\":3,\"lora\":{}}", H1, H2, H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.has_lora && s.rank == 8 && s.alpha == 16 && s.beta == 0.1 &&
          !s.has_heldout && strcmp(s.targets, "q,k,v,o") == 0);
    /* round: a participant's task, int8, robust rule; and one without a participant (the slot says) */
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"round\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"},\"participants\":3,\"participant\":2,\"round\":7,"
             "\"outer\":{\"state\":\"%s\",\"hash\":\"%s\"},\"steps\":20,\"encoding\":\"int8\",\"block\":128,"
             "\"rule\":{\"agg\":\"trimmed\",\"trim\":2,\"lr\":1,\"momentum\":0}}", H1, H2, H1, H2, H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.kind == TASK_ROUND && s.participants == 3 && s.participant == 2 &&
          s.round == 7 && s.enc == ROUND_ENC_INT8 && s.block == 128 && s.agg == ROUND_AGG_TRIMMED && s.trim == 2 &&
          s.outer_lr == 1 && s.momentum == 0 && s.outer_state[0] == 0x11 && s.outer_hash[0] == 0x22 && s.slot == -1);
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"round\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"base\":{\"model\":\"%s\",\"config\":\"%s\"},\"participants\":2,\"round\":0,"
             "\"outer\":{\"state\":\"%s\",\"hash\":\"%s\"},\"steps\":5}", H1, H2, H1, H2, H1, H2);
    roundtrip(txt);
    CHECK(parse_str(&s, txt, err) == 0 && s.participant == -1 && s.enc == ROUND_ENC_F32 && s.block == 0 &&
          s.agg == ROUND_AGG_MEAN && s.trim == 1 && s.outer_lr == (double)0.7f && s.momentum == (double)0.9f);
    /* the canonical form is fixed: key order and number forms do not depend on the input's */
    plow_buf a = {0};
    snprintf(txt, sizeof txt,
             "{\"steps\":10,\"kind\":\"train\",\"tokenizer\":\"%s\",\"data\":\"%s\",\"config\":\"tiny\","
             "\"format\":\"plow.spec.v1\",\"lr\":2e-3}", H2, H1);
    CHECK(parse_str(&s, txt, err) == 0);
    job_spec_write(&s, &a);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"%s\",\"tokenizer\":\"%s\","
             "\"val_frac\":0.1,\"steps\":10,\"batch\":16,\"seq\":0,\"lr\":0.002,\"warmup\":-1,\"seed\":\"1\","
             "\"init_seed\":\"1\",\"checkpoint_every\":10}", H1, H2);
    CHECKF(a.len == strlen(want) && memcmp(a.data, want, a.len) == 0, "%.*s", (int)a.len, (const char *)a.data);
    plow_buf_release(&a);
}

static void test_spec_malformed(void) {
    static const struct {
        const char *body; /* spliced after {"format":"plow.spec.v1", */
        const char *why;
    } bad[] = {
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\"}", "'steps' is required"},
        {"\"kind\":\"dpox\",\"steps\":3}", "unknown kind"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3}", "'base'"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"beta\":0}", "out of range"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"beta\":101}", "out of range"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"beta\":\"1\"}", "number"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"val_frac\":0.1}", "'val_frac' is not a field"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"heldout\":\"xyz\"}", "'heldout'"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"seq\":1}", "at least 2"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"lora\":{\"rank\":0}}", "out of range"},
        {"\"kind\":\"dpo\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"config\":\"tiny\"}", "'config' is not a field"},
        {"\"kind\":\"dpo\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3}", "'data' is required"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"}}", "'participants' is required"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":0,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"}}", "out of range"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"participant\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"}}", "below 'participants'"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"}}", "'round' is required"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":1.5,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"}}", "whole number"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0}", "'outer' must be an object"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\"}}", "outer: 'hash' is required"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\",\"v\":1}}", "outer.'v'"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"encoding\":\"int4\"}", "'encoding'"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"block\":64}", "out of range"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"encoding\":\"int8\",\"block\":0}", "out of range"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"rule\":{\"agg\":\"mode\"}}", "rule.agg"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"rule\":{\"momentum\":1}}", "rule: 'momentum'"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"rule\":{\"lr\":0}}", "rule: 'lr'"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"rule\":7}", "'rule' must be an object"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"init_seed\":\"3\"}", "'init_seed' is not a field"},
        {"\"kind\":\"round\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"steps\":3,\"participants\":2,\"round\":0,\"outer\":{\"state\":\"H1\",\"hash\":\"H2\"},\"lora\":{}}", "'lora' is not a field"},
        {"\"steps\":3}", "'kind' is required"},
        {"\"kind\":\"train\",\"config\":\"huge\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3}", "unknown model config"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"steps\":3}", "'tokenizer' is required"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"xyz\",\"steps\":3}", "64 hex"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":0}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":2.5}", "whole number"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":\"3\"}", "must be a number"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"batch\":5000}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seq\":100000}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seq\":4096}", "context"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"lr\":-1}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"lr\":1e-12}", "'lr'"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"val_frac\":0.9}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"warmup\":-2}", "out of range"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seed\":1}", "string"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seed\":\"-1\"}", "decimal"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seed\":\"01\"}", "leading zeros"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"seed\":\"18446744073709551616\"}", "2^64"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"checkpoint_every\":4}", "at most 'steps'"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"stepz\":4}", "'stepz' is not a field"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"lora\":{}}", "'lora' is not a field"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"steps\":4}", "twice"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":1e400}", "number"},
        {"\"kind\":\"train\",\"config\":\"tiny\",\"tied\":\"yes\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3}", "'tied' must be true or false"},
        {"\"kind\":\"lora\",\"tied\":true,\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\",\"config\":\"H2\"}}", "'tied' is not a field"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3}", "'base'"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\"}}", "'config' is required"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\",\"config\":\"H2\",\"x\":1}}", "base.'x'"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"lora\":{\"rank\":0}}", "out of range"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"lora\":{\"targets\":\"q,zz\"}}", "lora.targets"},
        {"\"kind\":\"lora\",\"data\":\"H1\",\"tokenizer\":\"H2\",\"steps\":3,\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"config\":\"tiny\"}", "'config' is not a field"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"}}", "'infer' must be an object"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{}}", "'prompt' is required"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"\"}}", "empty"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\",\"tokens\":0}}", "out of range"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\",\"top_p\":0}}", "out of range"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\",\"temperature\":-1}}", "out of range"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\",\"seed\":7}}", "string"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\",\"top\":7}}", "infer.'top'"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\"},\"steps\":3}", "'steps' is not a field"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":\"H1\",\"infer\":{\"prompt\":\"a\"}}", "'base' must be an object"},
        {"\"kind\":\"infer\",\"tokenizer\":\"H2\",\"base\":{\"model\":\"H1\",\"config\":\"H2\"},\"infer\":{\"prompt\":\"a\\u0000b\"}}", "u0000"},
    };
    char err[PLOW_ERR_LEN];
    job_spec s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[2048], txt[2200];
        /* H1/H2 placeholders become hashes */
        size_t o = 0;
        for (const char *p = bad[i].body; *p && o < sizeof body - 70;) {
            if (p[0] == 'H' && (p[1] == '1' || p[1] == '2') && p[2] == '"') {
                o += (size_t)snprintf(body + o, sizeof body - o, "%s", p[1] == '1' ? H1 : H2);
                p += 2;
            } else {
                body[o++] = *p++;
            }
        }
        body[o] = 0;
        snprintf(txt, sizeof txt, "{\"format\":\"plow.spec.v1\",%s", body);
        err[0] = 0;
        CHECKF(parse_str(&s, txt, err) == -1 && strstr(err, bad[i].why), "%s -> '%s' (want '%s')", txt, err, bad[i].why);
    }
    static const char *const junk[] = {"", "null", "[]", "{", "{\"format\":\"plow.spec.v2\",\"kind\":\"train\"}",
                                       "{\"format\":1}", "\"plow.spec.v1\""};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECKF(parse_str(&s, junk[i], err) == -1, "accepted '%s'", junk[i]);
    /* every truncation of a good spec is refused, and never crashes */
    char txt[1024];
    snprintf(txt, sizeof txt,
             "{\"format\":\"plow.spec.v1\",\"kind\":\"infer\",\"tokenizer\":\"%s\",\"base\":{\"model\":\"%s\","
             "\"config\":\"%s\"},\"infer\":{\"prompt\":\"a\",\"tokens\":5}}", H1, H2, H1);
    for (size_t k = 0; k < strlen(txt); k++)
        CHECKF(job_spec_parse(&s, (const uint8_t *)txt, k, err) == -1, "accepted a truncation at %zu", k);
    CHECK(job_spec_parse(&s, (const uint8_t *)txt, strlen(txt), err) == 0);
    char withnul[1100];
    memcpy(withnul, txt, strlen(txt) + 1);
    withnul[strlen(txt)] = ' ';
    withnul[strlen(txt) + 1] = 0; /* a NUL byte after the object */
    CHECK(job_spec_parse(&s, (const uint8_t *)withnul, strlen(txt) + 2, err) == -1 && strstr(err, "NUL"));
}

/* ---- manifests --------------------------------------------------------------------- */

static void test_manifest_paths(void) {
    static const char *const good[] = {"trace.bin", "checkpoints/00000004.state", "a/b/c-d_e.f", ".hidden", "a..b"};
    static const char *const bad[] = {"", "/etc/passwd", "../x", "a/../b", "a/..", "..", ".", "./a", "a/./b",
                                      "a//b", "a/", "a b", "a\\b", "caf\xc3\xa9", "a\nb", "~/x", "a:b"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) CHECKF(job_path_ok(good[i]), "refused '%s'", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECKF(!job_path_ok(bad[i]), "accepted '%s'", bad[i]);
    char longp[JOB_PATH_MAX + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    CHECK(!job_path_ok(longp));
    longp[JOB_PATH_MAX] = 0;
    CHECK(job_path_ok(longp));

    /* write -> parse -> write, sorted */
    job_manifest m = {0}, m2;
    uint8_t h[32];
    memset(h, 0xab, 32);
    job_manifest_add(&m, "trace.bin", h);
    h[0] = 1;
    job_manifest_add(&m, "checkpoints/00000000.state", h);
    plow_buf a = {0}, b = {0};
    job_manifest_write(&m, &a);
    char err[PLOW_ERR_LEN] = "";
    CHECKF(job_manifest_parse(&m2, a.data, a.len, err) == 0, "%s", err);
    CHECK(m2.n == 2 && strcmp(m2.files[0].path, "checkpoints/00000000.state") == 0 && m2.files[0].hash[0] == 1);
    CHECK(job_manifest_find(&m2, "trace.bin") && job_manifest_find(&m2, "trace.bin")[0] == 0xab);
    CHECK(!job_manifest_find(&m2, "nope"));
    job_manifest_write(&m2, &b);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    CHECK(strncmp((const char *)a.data, "{\"format\":\"plow.outputs.v1\",\"files\":{\"checkpoints/", 48) == 0);
    job_manifest_release(&m);
    job_manifest_release(&m2);
    plow_buf_release(&a);
    plow_buf_release(&b);

    static const char *const hostile[] = {
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"../escape\":\"H\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"/tmp/escape\":\"H\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"a/../../escape\":\"H\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"a\":\"xyz\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"a\":\"H\",\"a\":\"H\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"a\":\"H\",\"a/b\":\"H\"}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{\"a\":7}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":[\"a\"]}",
        "{\"format\":\"plow.outputs.v2\",\"files\":{}}",
        "{\"format\":\"plow.outputs.v1\",\"files\":{},\"extra\":1}",
        "{\"format\":\"plow.outputs.v1\"}",
        "[]",
        "not json",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char txt[512];
        size_t o = 0;
        for (const char *p = hostile[i]; *p;) {
            if (p[0] == 'H' && p[1] == '"') {
                o += (size_t)snprintf(txt + o, sizeof txt - o, "%s", H1);
                p++;
            } else {
                txt[o++] = *p++;
            }
        }
        txt[o] = 0;
        err[0] = 0;
        CHECKF(job_manifest_parse(&m, (const uint8_t *)txt, o, err) == -1, "accepted %s", txt);
        CHECK(m.n == 0 && m.files == NULL);
    }
}

/* A hostile manifest uploaded as a blob: fetching it writes nothing outside
 * the directory, and a verifier calls the slot defective (step 0). */
static void test_manifest_hostile_fetch(void) {
    if (!fixture()) return;
    char txt[512], dir[1200], escape[1200], err[PLOW_ERR_LEN] = "";
    uint8_t fh[32], mh[32];
    CHECK(put_bytes(&F.b, "payload", "pwned", 5, fh) == 0);
    char hex[65];
    plow_hex(fh, 32, hex);
    snprintf(txt, sizeof txt, "{\"format\":\"plow.outputs.v1\",\"files\":{\"../escaped.txt\":\"%s\",\"trace.bin\":\"%s\"}}",
             hex, hex);
    CHECK(put_bytes(&F.b, "hostile.json", txt, strlen(txt), mh) == 0);
    snprintf(dir, sizeof dir, "%s/fetch/inner", F.root);
    snprintf(escape, sizeof escape, "%s/fetch/escaped.txt", F.root);
    CHECK(job_fetch_outputs(&F.b, mh, dir, err) == -1 && strstr(err, "unsafe"));
    CHECK(!plow_file_exists(escape));
    /* the honest outputs fetch whole */
    char hd[1200], tp[1300];
    snprintf(hd, sizeof hd, "%s/fetch/honest", F.root);
    CHECKF(job_fetch_outputs(&F.b, F.honest.manifest, hd, err) == 0, "%s", err);
    snprintf(tp, sizeof tp, "%s/trace.bin", hd);
    trace *t = NULL;
    CHECKF(trace_load(tp, &t, err) == 0, "%s", err);
    if (t) {
        uint8_t root[32];
        trace_root(t, root);
        CHECK(memcmp(root, F.honest.trace_root, 32) == 0);
    }
    trace_free(t);
    /* a verifier given that manifest for a slot */
    ledger_slot s = F.hslot;
    memcpy(s.manifest, mh, 32);
    job_check c;
    char vd[1200];
    snprintf(vd, sizeof vd, "%s/v_hostile", F.root);
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 2, 1, &c, err) == 0, "%s", err);
    CHECKF(!c.valid && c.step == 0 && strstr(c.reason, "unsafe"), "%s", c.reason);
    snprintf(escape, sizeof escape, "%s/escaped.txt", F.root);
    CHECK(!plow_file_exists(escape));
}

/* ---- training: run, verify, challenge, referee ---------------------------------------- */

/* The ledger's check of one side's evidence: both leaves proved against the slot's root. */
static bool evidence_verifies(const ledger_slot *s, uint64_t j, const ledger_evidence *ev) {
    if (j == s->n + 1) /* the artifact step: leaves from the commitment, no proofs */
        return memcmp(ev->leaf_prev, s->final_state, 32) == 0 && memcmp(ev->leaf, s->artifact, 32) == 0 &&
               ev->proof.depth == 0 && ev->proof_prev.depth == 0;
    return merkle_verify(s->trace_root, s->n + 1, j - 1, ev->leaf_prev, &ev->proof_prev) &&
           merkle_verify(s->trace_root, s->n + 1, j, ev->leaf, &ev->proof);
}

static void challenge_of(uint64_t step, const ledger_evidence *ev, const uint8_t blob[32], ledger_challenge *c) {
    memset(c, 0, sizeof *c);
    c->step = step;
    memcpy(c->state_blob, blob, 32);
    memcpy(c->leaf_prev, ev->leaf_prev, 32);
    memcpy(c->accused_leaf, ev->leaf, 32);
    c->status = LEDGER_CH_OPEN;
}

static bool referee(const job_spec *spec, const ledger_challenge *c, const char *name, uint8_t computed[32],
                    bool *prev_ok) {
    char dir[1200], err[PLOW_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "%s/ref_%s", F.root, name);
    int rc = job_referee(spec, &F.b, c, dir, computed, prev_ok, err);
    CHECKF(rc == 0, "referee %s: %s", name, err);
    return rc == 0;
}

static void test_honest_valid(void) {
    if (!fixture()) return;
    CHECK(F.honest.n == STEPS && F.honest.checkpoint_every == EVERY);
    char vd[1200], err[PLOW_ERR_LEN] = "";
    snprintf(vd, sizeof vd, "%s/v_honest", F.root);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        job_check c;
        CHECKF(job_verify(&F.train, &F.b, &F.hslot, vd, 4, seed, &c, err) == 0, "%s", err);
        CHECKF(c.valid && c.step == 0 && c.steps_run >= 1, "seed %" PRIu64 ": %s", seed, c.reason);
    }
    /* every transition */
    job_check c;
    CHECKF(job_verify(&F.train, &F.b, &F.hslot, vd, 63, 9, &c, err) == 0, "%s", err);
    CHECKF(c.valid && c.steps_run == STEPS, "%s (%" PRIu64 " steps)", c.reason, c.steps_run);
    /* a slot whose commitment does not match the published trace */
    ledger_slot s = F.hslot;
    s.final_state[0] ^= 1;
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 2, 1, &c, err) == 0, "%s", err);
    CHECKF(!c.valid && c.step == 0 && strstr(c.reason, "final state"), "%s", c.reason);
    s = F.hslot;
    s.n = STEPS + 1;
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 2, 1, &c, err) == 0 && !c.valid && c.step == 0, "%s", c.reason);
    /* a manifest that is not there is an error (try later), not a verdict */
    s = F.hslot;
    memset(s.manifest, 0x5a, 32);
    CHECK(job_verify(&F.train, &F.b, &s, vd, 2, 1, &c, err) == -1);
    CHECK(job_verify(&F.train, &F.b, &F.hslot, vd, 64, 1, &c, err) == -1);
}

/* A spec and the equivalent `plow train` options give the same task and hashes. */
static void test_spec_matches_cli(void) {
    if (!fixture()) return;
    char dir[1200], in[1300], tok[1300], out[1300], err[PLOW_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "%s/cli", F.root);
    snprintf(in, sizeof in, "%s/honest/in/data.txt", F.root);
    snprintf(tok, sizeof tok, "%s/honest/in/tokenizer.bin", F.root);
    snprintf(out, sizeof out, "%s/run", dir);
    /* plow train --data D --tokenizer T --config tiny --steps 12 --batch 2 --seq 32 --lr 0.002
     *            --commit --checkpoint-every 4 */
    job_train_opts o;
    job_train_opts_init(&o);
    o.data = in;
    o.tokenizer = tok;
    o.out = out;
    o.config = "tiny";
    o.steps = STEPS;
    o.batch = 2;
    o.seq = 32;
    o.seq_set = true;
    o.lr = 0.002;
    o.lr_set = true;
    o.commit = true;
    o.every = EVERY;
    job_train_result res;
    CHECKF(job_train_opts_check(&o, err) == 0 && job_train(&o, NULL, &res, err) == 0, "%s", err);
    CHECK(memcmp(res.state, F.honest.final_state, 32) == 0);
    CHECK(memcmp(res.trace_root, F.honest.trace_root, 32) == 0);
    CHECK(memcmp(res.artifact, F.honest.artifact, 32) == 0);
    proof_task a, b;
    char hout[1300];
    snprintf(hout, sizeof hout, "%s/out", F.hdir);
    CHECKF(proof_task_load(&a, out, err) == 0 && proof_task_load(&b, hout, err) == 0, "%s", err);
    CHECK(memcmp(&a.hp, &b.hp, sizeof a.hp) == 0 && memcmp(&a.cfg, &b.cfg, sizeof a.cfg) == 0 &&
          memcmp(a.data_hash, b.data_hash, 32) == 0 && a.checkpoint_every == b.checkpoint_every &&
          a.val_frac == b.val_frac && a.kind == b.kind && a.lora == b.lora);
    /* and the verifier rebuilds the same task from the spec (its own task.json) */
    proof_task v;
    char vd[1200];
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_cli", F.root);
    CHECKF(job_verify(&F.train, &F.b, &F.hslot, vd, 1, 1, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    CHECKF(proof_task_load(&v, vd, err) == 0, "%s", err);
    CHECK(memcmp(&v.hp, &b.hp, sizeof v.hp) == 0 && memcmp(v.data_hash, b.data_hash, 32) == 0);
    /* the run's `plow verify` agrees */
    proof_verify_report rep;
    CHECKF(proof_verify_run(out, 4, 1, PROOF_VERIFY_REPLAY, &rep, err) == 0 && rep.valid, "%s %s", err, rep.reason);
}

typedef struct cheat_case {
    const char *cheat;
    uint64_t step; /* the step verify must name */
} cheat_case;

static void check_cheat(const cheat_case *k, job_output *o) {
    char name[64], vd[1200], err[PLOW_ERR_LEN] = "";
    snprintf(name, sizeof name, "c_%s", k->cheat);
    for (char *p = name; *p; p++)
        if (*p == '@') *p = '_';
    if (!run(&F.train, name, k->cheat, o)) return;
    ledger_slot s;
    slot_of(o, &s);
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_%s", F.root, name);
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 63, 1, &c, err) == 0, "%s: %s", k->cheat, err);
    CHECKF(!c.valid && c.step == k->step, "%s: valid %d step %" PRIu64 " (want %" PRIu64 "): %s", k->cheat, c.valid,
           c.step, k->step, c.reason);
    if (c.valid || c.step == 0) return;
    CHECKF(evidence_verifies(&s, c.step, &c.ev), "%s: evidence does not verify against the slot's root", k->cheat);
    ledger_challenge ch;
    challenge_of(c.step, &c.ev, c.state_blob, &ch);
    uint8_t computed[32];
    bool prev_ok;
    if (!referee(&F.train, &ch, name, computed, &prev_ok)) return;
    CHECKF(prev_ok, "%s: the referee refused the verifier's state %" PRIu64, k->cheat, c.step - 1);
    CHECKF(memcmp(computed, c.ev.leaf, 32) != 0, "%s: the referee agrees with the cheater", k->cheat);
    /* the referee's leaf is the honest one (every cheat here diverges from the honest run at step) */
    if (c.step <= STEPS && strncmp(k->cheat, "init", 4) != 0) {
        char hp[1300];
        snprintf(hp, sizeof hp, "%s/out/trace.bin", F.hdir);
        trace *t = NULL;
        CHECKF(trace_load(hp, &t, err) == 0, "%s", err);
        if (t) CHECK(memcmp(computed, trace_leaf(t, c.step), 32) == 0);
        trace_free(t);
    }
}

static void test_cheats_caught(void) {
    if (!fixture()) return;
    static const cheat_case cases[] = {
        {"perturb@5", 5}, {"skip@7", 7}, {"seed@3", 3}, {"data@9", 9}, {"lowprec@2", 2},
        {"swap", STEPS + 1}, {"init", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job_output o;
        check_cheat(&cases[i], &o);
    }
    /* a few samples still find the last step (always checked) for a late cheat, with a sound replay */
    job_output o;
    if (!run(&F.train, "c_late", "perturb@12", &o)) return;
    ledger_slot s;
    slot_of(&o, &s);
    job_check c;
    char vd[1200], err[PLOW_ERR_LEN] = "";
    snprintf(vd, sizeof vd, "%s/v_late", F.root);
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 0, 1, &c, err) == 0 && !c.valid && c.step == STEPS, "%s", c.reason);
    CHECK(c.steps_run <= EVERY); /* from checkpoint 8: steps 9..12 */
}

/* Bad checkpoints are not fraud the referee can see (every step is right):
 * verify replays from a good checkpoint or state 0, reports the defect
 * without a challengeable step, and a challenge against it loses. */
static void test_bad_checkpoints(void) {
    if (!fixture()) return;
    job_output o;
    if (!run(&F.train, "c_badckpt", "badckpt@8", &o)) return;
    CHECK(memcmp(o.trace_root, F.honest.trace_root, 32) == 0);
    ledger_slot s;
    slot_of(&o, &s);
    job_check c;
    char vd[1200], err[PLOW_ERR_LEN] = "";
    snprintf(vd, sizeof vd, "%s/v_badckpt", F.root);
    /* the last step: checkpoint 8 is needed, refused, and the replay starts from 4 */
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 0, 1, &c, err) == 0, "%s", err);
    CHECKF(!c.valid && c.step == 0 && strstr(c.reason, "checkpoint 8 does not hash"), "%s", c.reason);
    CHECKF(c.steps_run == STEPS - 4, "%" PRIu64, c.steps_run);
    CHECK(c.has_bad && strcmp(c.bad_file, "checkpoints/00000008.state") == 0);
    /* every step: the replay never needs a checkpoint past 0, every step is right, and the checkpoints are
     * opened all the same: the first that is not its leaf's state is the blob to demand */
    CHECKF(job_verify(&F.train, &F.b, &s, vd, 63, 1, &c, err) == 0 && !c.valid && c.step == 0 && c.steps_run == STEPS,
           "%s", c.reason);
    CHECKF(c.has_bad && strcmp(c.bad_file, "checkpoints/00000008.state") == 0, "%s", c.bad_file);
}

/* Honest work, outputs that are not what the commitment promises (issue 17,
 * finding 7): a garbage config.json (cheat config) and a final checkpoint
 * cut in half (cheat truncate). No step is wrong; before, both passed as
 * valid (only sampled checkpoints and the model file were opened). Now the
 * broken file is named for a data challenge, and job_promised (the
 * referee's look at a demanded blob) says it is not what was promised,
 * while every honest file is. */
static void test_broken_promises(void) {
    if (!fixture()) return;
    static const struct {
        const char *cheat, *file, *why;
    } cases[] = {
        {"config", "config.json", "config.json"},
        {"truncate", "checkpoints/00000012.state", "checkpoint 12"},
    };
    char vd[1200], err[PLOW_ERR_LEN] = "", why[PLOW_ERR_LEN];
    bool kept;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job_output o;
        char name[64];
        snprintf(name, sizeof name, "c_%s", cases[i].cheat);
        if (!run(&F.train, name, cases[i].cheat, &o)) return;
        CHECK(memcmp(o.trace_root, F.honest.trace_root, 32) == 0 && memcmp(o.artifact, F.honest.artifact, 32) == 0);
        ledger_slot s;
        slot_of(&o, &s);
        job_check c;
        snprintf(vd, sizeof vd, "%s/v_%s", F.root, cases[i].cheat);
        CHECKF(job_verify(&F.train, &F.b, &s, vd, 2, 1, &c, err) == 0, "%s", err);
        CHECKF(!c.valid && c.step == 0 && c.has_bad && strcmp(c.bad_file, cases[i].file) == 0, "%s: %s (%s)",
               cases[i].cheat, c.reason, c.bad_file);
        CHECKF(strstr(c.reason, cases[i].why), "%s", c.reason);
        CHECKF(job_check_outputs(&F.train, &F.b, &s, vd, &c, err) == 0, "%s", err);
        CHECKF(!c.valid && c.has_bad && strcmp(c.bad_file, cases[i].file) == 0, "%s", c.reason);
        snprintf(vd, sizeof vd, "%s/r_%s", F.root, cases[i].cheat);
        CHECKF(job_promised(&F.train, &F.b, &s, vd, c.bad_blob, &kept, why, err) == 0, "%s", err);
        CHECKF(!kept && why[0], "%s: the broken %s was judged kept", cases[i].cheat, cases[i].file);
        CHECKF(job_promised(&F.train, &F.b, &s, vd, s.manifest, &kept, why, err) == 0 && kept, "%s", why);
    }
    /* the honest slot: valid, every output (the manifest, each file) kept */
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_honest_outputs", F.root);
    CHECKF(job_check_outputs(&F.train, &F.b, &F.hslot, vd, &c, err) == 0 && c.valid && !c.has_bad, "%s", c.reason);
    snprintf(vd, sizeof vd, "%s/r_honest", F.root);
    job_manifest m = {0};
    uint8_t *buf = NULL;
    size_t n = 0;
    char mp[1300];
    snprintf(mp, sizeof mp, "%s/manifest.json", F.hdir);
    CHECKF(plow_read_file(mp, JOB_MANIFEST_MAX, &buf, &n, err) == 0 && job_manifest_parse(&m, buf, n, err) == 0, "%s",
           err);
    free(buf);
    CHECK(m.n > 4);
    for (size_t i = 0; i < m.n; i++) {
        CHECKF(job_promised(&F.train, &F.b, &F.hslot, vd, m.files[i].hash, &kept, why, err) == 0, "%s", err);
        CHECKF(kept, "honest %s judged broken: %s", m.files[i].path, why);
    }
    job_manifest_release(&m);
}

/* A worker whose leaf 0 (and checkpoint 0) is another state but whose
 * leaves 1..n are right: nothing the referee would uphold (it rebuilds
 * state 0 for step 1), so a defect, not a challenge at step 1. */
static void test_wrong_leaf0_only(void) {
    if (!fixture()) return;
    job_output io;
    if (!run(&F.train, "forge_init", "init", &io)) return;
    char p[1300], err[PLOW_ERR_LEN] = "";
    trace *th = NULL, *ti = NULL;
    snprintf(p, sizeof p, "%s/out/trace.bin", F.hdir);
    CHECKF(trace_load(p, &th, err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/forge_init/out/trace.bin", F.root);
    CHECKF(trace_load(p, &ti, err) == 0, "%s", err);
    uint8_t *buf = NULL;
    size_t n;
    job_manifest m = {0};
    snprintf(p, sizeof p, "%s/manifest.json", F.hdir);
    CHECKF(plow_read_file(p, 1 << 20, &buf, &n, err) == 0 && job_manifest_parse(&m, buf, n, err) == 0, "%s", err);
    if (th && ti && m.n) {
        uint8_t *leaves = plow_alloc((STEPS + 1) * 32);
        for (uint64_t i = 0; i <= STEPS; i++) memcpy(leaves + 32 * i, trace_leaf(i ? th : ti, i), 32);
        trace *tf = NULL;
        CHECK(trace_new(trace_task(th), leaves, STEPS, &tf, err) == 0);
        snprintf(p, sizeof p, "%s/forged_trace.bin", F.root);
        CHECK(trace_save(tf, p, err) == 0);
        uint8_t h_trace[32], h_ck0[32], mh[32];
        CHECK(F.b.put_file(F.b.ctx, p, h_trace, err) == 0);
        snprintf(p, sizeof p, "%s/forge_init/out/checkpoints/00000000.state", F.root);
        CHECK(F.b.put_file(F.b.ctx, p, h_ck0, err) == 0);
        for (size_t i = 0; i < m.n; i++) {
            if (strcmp(m.files[i].path, "trace.bin") == 0) memcpy(m.files[i].hash, h_trace, 32);
            if (strcmp(m.files[i].path, "checkpoints/00000000.state") == 0) memcpy(m.files[i].hash, h_ck0, 32);
        }
        plow_buf mb = {0};
        job_manifest_write(&m, &mb);
        CHECK(put_bytes(&F.b, "forged_manifest", mb.data, mb.len, mh) == 0);
        plow_buf_release(&mb);
        ledger_slot s = F.hslot;
        trace_root(tf, s.trace_root);
        memcpy(s.manifest, mh, 32);
        char vd[1200];
        snprintf(vd, sizeof vd, "%s/v_leaf0", F.root);
        for (int k = 0; k <= 63; k += 63) {
            job_check c;
            CHECKF(job_verify(&F.train, &F.b, &s, vd, k, 5, &c, err) == 0, "%s", err);
            CHECKF(!c.valid && c.step == 0 && strstr(c.reason, "leaf 0"), "samples %d: step %" PRIu64 ": %s", k,
                   c.step, c.reason);
        }
        trace_free(tf);
        free(leaves);
    }
    job_manifest_release(&m);
    free(buf);
    trace_free(th);
    trace_free(ti);
}

/* Challenges against honest work lose: the referee's leaf is the worker's. */
static void test_wrong_challenger_loses(void) {
    if (!fixture()) return;
    char hout[1300], err[PLOW_ERR_LEN] = "";
    snprintf(hout, sizeof hout, "%s/out", F.hdir);
    proof_replay *r = NULL;
    CHECKF(proof_replay_open(&r, hout, err) == 0, "%s", err);
    if (!r) return;
    trace *t = NULL;
    char tp[1400];
    snprintf(tp, sizeof tp, "%s/trace.bin", hout);
    CHECKF(trace_load(tp, &t, err) == 0, "%s", err);
    if (!t) {
        proof_replay_free(r);
        return;
    }
    /* state 5 from checkpoint 4, as an honest challenger would send it */
    CHECKF(proof_replay_load_checkpoint(r, hout, 4, err) == 0, "%s", err);
    proof_replay_step(r);
    plow_buf sb = {0};
    train_state_serialize(proof_replay_state(r), &sb);
    uint8_t blob[32], computed[32];
    bool prev_ok;
    CHECK(put_bytes(&F.b, "state5", sb.data, sb.len, blob) == 0);
    for (uint64_t j = 6; j <= 6; j++) {
        ledger_evidence ev;
        CHECK(trace_prove(t, j - 1, &ev.proof_prev, err) == 0 && trace_prove(t, j, &ev.proof, err) == 0);
        memcpy(ev.leaf_prev, trace_leaf(t, j - 1), 32);
        memcpy(ev.leaf, trace_leaf(t, j), 32);
        CHECK(evidence_verifies(&F.hslot, j, &ev));
        ledger_challenge ch;
        challenge_of(j, &ev, blob, &ch);
        if (referee(&F.train, &ch, "honest6", computed, &prev_ok))
            CHECK(prev_ok && memcmp(computed, trace_leaf(t, j), 32) == 0);
    }
    /* step 1 (the referee rebuilds state 0) and the artifact step */
    ledger_evidence ev1;
    memcpy(ev1.leaf_prev, trace_leaf(t, 0), 32);
    memcpy(ev1.leaf, trace_leaf(t, 1), 32);
    ledger_challenge ch;
    challenge_of(1, &ev1, blob, &ch);
    if (referee(&F.train, &ch, "honest1", computed, &prev_ok)) CHECK(prev_ok && memcmp(computed, trace_leaf(t, 1), 32) == 0);
    CHECKF(proof_replay_load_checkpoint(r, hout, STEPS, err) == 0, "%s", err);
    sb.len = 0;
    train_state_serialize(proof_replay_state(r), &sb);
    uint8_t blob_n[32];
    CHECK(put_bytes(&F.b, "stateN", sb.data, sb.len, blob_n) == 0);
    ledger_evidence eva;
    memset(&eva, 0, sizeof eva);
    memcpy(eva.leaf_prev, F.hslot.final_state, 32);
    memcpy(eva.leaf, F.hslot.artifact, 32);
    challenge_of(STEPS + 1, &eva, blob_n, &ch);
    if (referee(&F.train, &ch, "honestA", computed, &prev_ok))
        CHECK(prev_ok && memcmp(computed, F.hslot.artifact, 32) == 0);
    /* out of range steps are refused */
    challenge_of(STEPS + 2, &eva, blob_n, &ch);
    CHECK(job_referee(&F.train, &F.b, &ch, F.root, computed, &prev_ok, err) == -1);
    challenge_of(0, &eva, blob_n, &ch);
    CHECK(job_referee(&F.train, &F.b, &ch, F.root, computed, &prev_ok, err) == -1);

    /* hostile state blobs: prev_ok false, no crash */
    challenge_of(6, &ev1, blob, &ch);
    memcpy(ch.leaf_prev, trace_leaf(t, 5), 32);
    struct {
        const char *name;
        size_t len;
        int how; /* 0 random, 1 truncated state, 2 one weight flipped, 3 one byte more, 4 another step's state */
    } cases[] = {{"rand", 4096, 0}, {"trunc", sb.len / 2, 1}, {"flip", sb.len, 2}, {"long", sb.len + 1, 3},
                 {"step12", sb.len, 4}, {"empty", 0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *g = plow_calloc(cases[i].len + 1, 1);
        if (cases[i].how == 0) {
            uint64_t x = 88172645463325252ULL;
            for (size_t k = 0; k < cases[i].len; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                g[k] = (uint8_t)x;
            }
        } else if (cases[i].how == 4) {
            memcpy(g, sb.data, sb.len); /* state 12 presented as state 5 */
        } else {
            plow_buf s5 = {0};
            CHECK(proof_replay_load_checkpoint(r, hout, 4, err) == 0);
            proof_replay_step(r);
            train_state_serialize(proof_replay_state(r), &s5);
            memcpy(g, s5.data, cases[i].len < s5.len ? cases[i].len : s5.len);
            if (cases[i].how == 2) g[s5.len - 5] ^= 0x40;
            plow_buf_release(&s5);
        }
        uint8_t gb[32];
        CHECK(put_bytes(&F.b, cases[i].name, g, cases[i].len, gb) == 0);
        memcpy(ch.state_blob, gb, 32);
        char nm[64];
        snprintf(nm, sizeof nm, "hostile_%s", cases[i].name);
        memset(computed, 0x77, 32);
        prev_ok = true;
        if (referee(&F.train, &ch, nm, computed, &prev_ok)) CHECKF(!prev_ok, "%s accepted", cases[i].name);
        free(g);
    }
    memset(ch.state_blob, 0x42, 32); /* a blob nobody uploaded */
    if (referee(&F.train, &ch, "missing", computed, &prev_ok)) CHECK(!prev_ok);
    plow_buf_release(&sb);
    trace_free(t);
    proof_replay_free(r);
}

static void check_diverge(const job_output *oa, const job_output *ob, uint64_t want, const char *name) {
    ledger_slot a, b;
    slot_of(oa, &a);
    slot_of(ob, &b);
    uint64_t step = 99;
    ledger_evidence ea, eb;
    uint8_t blob[32];
    char dir[1200], err[PLOW_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "%s/d_%s", F.root, name);
    CHECKF(job_diverge(&F.train, &F.b, &a, &b, dir, &step, &ea, &eb, blob, err) == 0, "%s: %s", name, err);
    CHECKF(step == want, "%s: step %" PRIu64 ", want %" PRIu64, name, step, want);
    if (step == 0 || step != want) return;
    CHECK(evidence_verifies(&a, step, &ea) && evidence_verifies(&b, step, &eb));
    if (step > 1) CHECK(memcmp(ea.leaf_prev, eb.leaf_prev, 32) == 0);
    CHECK(memcmp(ea.leaf, eb.leaf, 32) != 0);
    /* the referee sides with a (honest) */
    ledger_challenge ch;
    challenge_of(step, &eb, blob, &ch);
    ch.has_other = true;
    memcpy(ch.other_leaf, ea.leaf, 32);
    uint8_t computed[32];
    bool prev_ok;
    if (referee(&F.train, &ch, name, computed, &prev_ok))
        CHECKF(prev_ok && memcmp(computed, ea.leaf, 32) == 0 && memcmp(computed, eb.leaf, 32) != 0, "%s", name);
}

static void test_diverge(void) {
    if (!fixture()) return;
    job_output again, pert, swap, init;
    if (!run(&F.train, "again", NULL, &again) || !run(&F.train, "d_pert", "perturb@6", &pert) ||
        !run(&F.train, "d_swap", "swap", &swap) || !run(&F.train, "d_init", "init", &init))
        return;
    CHECK(memcmp(again.trace_root, F.honest.trace_root, 32) == 0);
    check_diverge(&F.honest, &again, 0, "same");
    check_diverge(&F.honest, &pert, 6, "pert");
    check_diverge(&F.honest, &swap, STEPS + 1, "swap");
    check_diverge(&F.honest, &init, 1, "init");
}

/* ---- LoRA ----------------------------------------------------------------------------- */

static void test_lora(void) {
    if (!fixture()) return;
    char mp[1300], cp[1300], err[PLOW_ERR_LEN] = "";
    snprintf(mp, sizeof mp, "%s/out/model.safetensors", F.hdir);
    snprintf(cp, sizeof cp, "%s/out/config.json", F.hdir);
    job_spec s = F.train;
    s.kind = TASK_LORA;
    s.config[0] = 0;
    s.has_base = true;
    s.steps = 6;
    s.checkpoint_every = 3;
    s.rank = 4;
    s.alpha = 8;
    snprintf(s.targets, sizeof s.targets, "q,v");
    CHECKF(F.b.put_file(F.b.ctx, mp, s.base_model, err) == 0 && F.b.put_file(F.b.ctx, cp, s.base_config, err) == 0,
           "%s", err);
    plow_buf w = {0};
    job_spec s2;
    job_spec_write(&s, &w);
    CHECKF(job_spec_parse(&s2, w.data, w.len, err) == 0, "%s", err);
    plow_buf_release(&w);
    job_output ok, bad;
    if (!run(&s, "lora_ok", NULL, &ok) || !run(&s, "lora_bad", "perturb@4", &bad)) return;
    ledger_slot a, b;
    slot_of(&ok, &a);
    slot_of(&bad, &b);
    job_check c;
    char vd[1200];
    snprintf(vd, sizeof vd, "%s/v_lora", F.root);
    CHECKF(job_verify(&s, &F.b, &a, vd, 63, 3, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    CHECKF(job_verify(&s, &F.b, &b, vd, 63, 3, &c, err) == 0 && !c.valid && c.step == 4, "%s %s", err, c.reason);
    if (c.step != 4) return;
    CHECK(evidence_verifies(&b, 4, &c.ev));
    ledger_challenge ch;
    challenge_of(4, &c.ev, c.state_blob, &ch);
    uint8_t computed[32];
    bool prev_ok;
    if (referee(&s, &ch, "lora", computed, &prev_ok)) CHECK(prev_ok && memcmp(computed, c.ev.leaf, 32) != 0);
}

/* ---- inference ------------------------------------------------------------------------ */

static void test_infer(void) {
    if (!fixture()) return;
    char mp[1300], cp[1300], err[PLOW_ERR_LEN] = "";
    snprintf(mp, sizeof mp, "%s/out/model.safetensors", F.hdir);
    snprintf(cp, sizeof cp, "%s/out/config.json", F.hdir);
    job_spec s;
    memset(&s, 0, sizeof s);
    s.kind = TASK_INFER;
    memcpy(s.tokenizer, F.tok, 32);
    s.has_base = true;
    CHECKF(F.b.put_file(F.b.ctx, mp, s.base_model, err) == 0 && F.b.put_file(F.b.ctx, cp, s.base_config, err) == 0,
           "%s", err);
    snprintf(s.prompt, sizeof s.prompt, "ROMEO:");
    s.tokens = 24;
    s.temperature = 0.8;
    s.top_k = 40;
    s.top_p = 0.95;
    s.sample_seed = 7;
    job_output ok, bad;
    if (!run(&s, "inf_ok", NULL, &ok) || !run(&s, "inf_bad", "perturb@5", &bad)) return;
    CHECK(ok.n >= 1 && ok.n <= 24 && ok.checkpoint_every == 0 && memcmp(ok.trace_root, bad.trace_root, 32) != 0);
    /* the receipt is the blob the commitment names, and its tokens hash to the final state */
    char rp[1300];
    snprintf(rp, sizeof rp, "%s/inf_ok/out/receipt.json", F.root);
    receipt r;
    uint8_t h[32];
    CHECKF(receipt_load(&r, rp, err) == 0, "%s", err);
    receipt_tokens_hash(r.output, r.n_output, h);
    CHECK(memcmp(h, ok.final_state, 32) == 0 && r.n_output == ok.n && r.sampling.seed == 7);
    receipt_release(&r);
    ledger_slot a, b;
    slot_of(&ok, &a);
    slot_of(&bad, &b);
    job_check c;
    char vd[1200];
    snprintf(vd, sizeof vd, "%s/v_inf", F.root);
    CHECKF(job_verify(&s, &F.b, &a, vd, 0, 0, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    CHECKF(job_verify(&s, &F.b, &b, vd, 0, 0, &c, err) == 0 && !c.valid && c.step == 1 && strstr(c.reason, "token 4"),
           "%s %s", err, c.reason);
    CHECK(memcmp(c.ev.leaf_prev, b.trace_root, 32) == 0 && memcmp(c.ev.leaf, b.final_state, 32) == 0 &&
          memcmp(c.state_blob, b.trace_root, 32) == 0);
    uint8_t computed[32];
    bool prev_ok;
    ledger_challenge ch;
    challenge_of(1, &c.ev, c.state_blob, &ch);
    if (referee(&s, &ch, "inf_bad", computed, &prev_ok))
        CHECK(prev_ok && memcmp(computed, b.final_state, 32) != 0 && memcmp(computed, ok.final_state, 32) == 0);
    /* the honest slot challenged: the referee's tokens are the worker's */
    ledger_evidence ev;
    memset(&ev, 0, sizeof ev);
    memcpy(ev.leaf_prev, a.trace_root, 32);
    memcpy(ev.leaf, a.final_state, 32);
    challenge_of(1, &ev, a.trace_root, &ch);
    if (referee(&s, &ch, "inf_ok", computed, &prev_ok)) CHECK(prev_ok && memcmp(computed, a.final_state, 32) == 0);
    /* a receipt blob that is not the accused's, or garbage: prev_ok false */
    challenge_of(1, &ev, b.trace_root, &ch);
    if (referee(&s, &ch, "inf_other", computed, &prev_ok)) CHECK(!prev_ok);
    uint8_t junk[32];
    CHECK(put_bytes(&F.b, "junk.json", "{\"format\":", 10, junk) == 0);
    memcpy(ev.leaf_prev, junk, 32);
    challenge_of(1, &ev, junk, &ch);
    if (referee(&s, &ch, "inf_junk", computed, &prev_ok)) /* a worker that committed garbage is still judged */
        CHECK(prev_ok && memcmp(computed, a.final_state, 32) == 0);
    /* a worker that commits fewer tokens than it should (its receipt cut short) */
    ledger_slot t = a;
    receipt_load(&r, rp, err);
    if (r.n_output > 3 && r.output[r.n_output - 1] != 299) {
        r.n_output -= 3;
        char tp[1300];
        snprintf(tp, sizeof tp, "%s/short.json", F.root);
        CHECK(receipt_save(&r, tp, err) == 0);
        CHECK(F.b.put_file(F.b.ctx, tp, t.trace_root, err) == 0);
        receipt_tokens_hash(r.output, r.n_output, t.final_state);
        t.n = r.n_output;
        CHECKF(job_verify(&s, &F.b, &t, vd, 0, 0, &c, err) == 0 && !c.valid && c.step == 1, "%s %s", err, c.reason);
        challenge_of(1, &c.ev, c.state_blob, &ch);
        if (referee(&s, &ch, "inf_short", computed, &prev_ok))
            CHECK(prev_ok && memcmp(computed, a.final_state, 32) == 0);
    }
    receipt_release(&r);
    /* right tokens, wrong bookkeeping: defects (step 0), not challengeable */
    t = a;
    memcpy(t.trace_root, junk, 32); /* a receipt that does not parse */
    CHECKF(job_verify(&s, &F.b, &t, vd, 0, 0, &c, err) == 0 && !c.valid && c.step == 0 && strstr(c.reason, "parse"),
           "%s %s", err, c.reason);
    CHECK(receipt_load(&r, rp, err) == 0);
    if (r.n_prompt > 0) {
        r.prompt[0] = (r.prompt[0] + 1) % 300;
        char tp[1300];
        snprintf(tp, sizeof tp, "%s/prompt.json", F.root);
        CHECK(receipt_save(&r, tp, err) == 0 && F.b.put_file(F.b.ctx, tp, t.trace_root, err) == 0);
        CHECKF(job_verify(&s, &F.b, &t, vd, 0, 0, &c, err) == 0 && !c.valid && c.step == 0 && strstr(c.reason, "prompt"),
               "%s %s", err, c.reason);
    }
    receipt_release(&r);
    t = a;
    t.artifact[0] ^= 1;
    CHECKF(job_verify(&s, &F.b, &t, vd, 0, 0, &c, err) == 0 && !c.valid && c.step == 0 && strstr(c.reason, "artifact"),
           "%s %s", err, c.reason);
    /* diverge between the two inference slots: step 1, the referee decides */
    uint64_t step = 0;
    ledger_evidence ea, eb;
    uint8_t blob[32];
    CHECKF(job_diverge(&s, &F.b, &b, &a, vd, &step, &ea, &eb, blob, err) == 0 && step == 1, "%s", err);
    CHECK(memcmp(blob, b.trace_root, 32) == 0 && memcmp(ea.leaf, b.final_state, 32) == 0);
}

/* ---- DPO and collaborative rounds ------------------------------------------------------ */

/* A cheat played through job_run on `spec` is named at `want` by job_verify
 * (all transitions), its evidence verifies against the slot, and the
 * referee's step disagrees with the cheater (and agrees with `honest`'s
 * trace when given). */
static void caught(const job_spec *spec, const char *tag, const char *cheat, uint64_t want, const char *honest_dir) {
    char name[96], vd[1300], err[PLOW_ERR_LEN] = "";
    snprintf(name, sizeof name, "%s_%s", tag, cheat);
    for (char *p = name; *p; p++)
        if (*p == '@') *p = '_';
    job_output o;
    if (!run(spec, name, cheat, &o)) return;
    ledger_slot s;
    slot_of(&o, &s);
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_%s", F.root, name);
    CHECKF(job_verify(spec, &F.b, &s, vd, 63, 1, &c, err) == 0, "%s: %s", name, err);
    CHECKF(!c.valid && c.step == want, "%s: valid %d step %" PRIu64 " (want %" PRIu64 "): %s", name, c.valid, c.step,
           want, c.reason);
    if (c.valid || c.step == 0) return;
    CHECKF(evidence_verifies(&s, c.step, &c.ev), "%s: evidence does not verify", name);
    ledger_challenge ch;
    challenge_of(c.step, &c.ev, c.state_blob, &ch);
    uint8_t computed[32];
    bool prev_ok;
    if (!referee(spec, &ch, name, computed, &prev_ok)) return;
    CHECKF(prev_ok && memcmp(computed, c.ev.leaf, 32) != 0, "%s: the referee agrees with the cheater", name);
    if (honest_dir && c.step <= (uint64_t)spec->steps) {
        char hp[1400];
        snprintf(hp, sizeof hp, "%s/%s/out/trace.bin", F.root, honest_dir);
        trace *t = NULL;
        CHECKF(trace_load(hp, &t, err) == 0, "%s", err);
        if (t) CHECKF(memcmp(computed, trace_leaf(t, c.step), 32) == 0, "%s: the referee's leaf is not honest", name);
        trace_free(t);
    }
}

/* The base model of the DPO and round tasks: the honest training run's. */
static bool put_base(job_spec *s) {
    char mp[1300], cp[1300], err[PLOW_ERR_LEN] = "";
    snprintf(mp, sizeof mp, "%s/out/model.safetensors", F.hdir);
    snprintf(cp, sizeof cp, "%s/out/config.json", F.hdir);
    s->has_base = true;
    bool ok = F.b.put_file(F.b.ctx, mp, s->base_model, err) == 0 && F.b.put_file(F.b.ctx, cp, s->base_config, err) == 0;
    CHECKF(ok, "%s", err);
    return ok;
}

static bool dpo_spec(job_spec *s) {
    memset(s, 0, sizeof *s);
    s->kind = TASK_DPO;
    memcpy(s->tokenizer, F.tok, 32);
    s->steps = 8;
    s->batch = 2;
    s->seq = 24;
    s->lr = 1e-3;
    s->warmup = -1;
    s->seed = 1;
    s->init_seed = 1;
    s->checkpoint_every = 4;
    s->beta = 0.5;
    s->slot = -1;
    s->participant = -1;
    uint8_t *buf;
    size_t n;
    char err[PLOW_ERR_LEN] = "";
    if (plow_read_file(test_corpus_path(), 1 << 24, &buf, &n, err)) {
        CHECKF(0, "%s", err);
        return false;
    }
    plow_buf tr = {0}, va = {0};
    bool ok = prefs_generate(buf, n < 200000 ? n : 200000, 1, PREFS_SHUFFLED, 0.1, 200, 40, &tr, &va, err) == 0;
    CHECKF(ok, "%s", err);
    ok = ok && put_bytes(&F.b, "pairs.jsonl", tr.data, tr.len, s->data) == 0 &&
         put_bytes(&F.b, "heldout.jsonl", va.data, va.len, s->heldout) == 0;
    s->has_heldout = ok;
    free(buf);
    plow_buf_release(&tr);
    plow_buf_release(&va);
    return ok && put_base(s);
}

/* DPO tasks run, verify and settle exactly like training: full and LoRA. */
static void test_dpo(void) {
    if (!fixture()) return;
    job_spec s, lo;
    char err[PLOW_ERR_LEN] = "", vd[1300];
    if (!dpo_spec(&s)) return;
    plow_buf w = {0};
    job_spec s2;
    job_spec_write(&s, &w);
    CHECKF(job_spec_parse(&s2, w.data, w.len, err) == 0 && s2.kind == TASK_DPO && s2.beta == 0.5 &&
               s2.has_heldout && !s2.has_lora && memcmp(s2.heldout, s.heldout, 32) == 0,
           "%s", err);
    plow_buf_release(&w);
    job_output ok, ok2;
    if (!run(&s, "dpo_ok", NULL, &ok) || !run(&s, "dpo_ok2", NULL, &ok2)) return;
    CHECK(ok.n == 8 && ok.checkpoint_every == 4 && memcmp(ok.final_state, ok2.final_state, 32) == 0 &&
          memcmp(ok.artifact, ok2.artifact, 32) == 0 && memcmp(ok.trace_root, ok2.trace_root, 32) == 0);
    ledger_slot a;
    slot_of(&ok, &a);
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_dpo", F.root);
    CHECKF(job_verify(&s, &F.b, &a, vd, 63, 2, &c, err) == 0 && c.valid && c.steps_run == 8, "%s %s", err, c.reason);
    /* the task the verifier rebuilt from the spec is a DPO task */
    char tp[1400];
    uint8_t *buf = NULL;
    size_t n;
    snprintf(tp, sizeof tp, "%s/task.json", vd);
    CHECK(plow_read_file(tp, 1 << 20, &buf, &n, err) == 0 && memmem(buf, n, "\"dpo\"", 5) && memmem(buf, n, "beta", 4));
    free(buf);
    /* the held-out metrics in the worker's run.json: the step moved the policy */
    snprintf(tp, sizeof tp, "%s/dpo_ok/out/run.json", F.root);
    CHECK(plow_read_file(tp, 1 << 20, &buf, &n, err) == 0 && memmem(buf, n, "eval_after", 10));
    free(buf);
    /* an honest slot challenged at any step: the referee's leaf is the worker's */
    ledger_evidence ev;
    trace *t = NULL;
    snprintf(tp, sizeof tp, "%s/dpo_ok/out/trace.bin", F.root);
    CHECKF(trace_load(tp, &t, err) == 0, "%s", err);
    for (uint64_t j = 1; t && j <= 5; j += 4) { /* state 0 rebuilt; state 4 from its checkpoint */
        memset(&ev, 0, sizeof ev);
        memcpy(ev.leaf_prev, trace_leaf(t, j - 1), 32);
        memcpy(ev.leaf, trace_leaf(t, j), 32);
        char sp[1400];
        snprintf(sp, sizeof sp, "%s/dpo_ok/out/checkpoints/%08" PRIu64 ".state", F.root, j - 1);
        uint8_t blob[32] = {0};
        if (j > 1) CHECK(F.b.put_file(F.b.ctx, sp, blob, err) == 0);
        ledger_challenge ch;
        challenge_of(j, &ev, blob, &ch);
        uint8_t computed[32];
        bool prev_ok;
        char nm[32];
        snprintf(nm, sizeof nm, "dpo_h%" PRIu64, j);
        if (referee(&s, &ch, nm, computed, &prev_ok)) CHECK(prev_ok && memcmp(computed, ev.leaf, 32) == 0);
    }
    trace_free(t);
    /* every cheat, caught at its step (data: chosen and rejected swapped) */
    static const cheat_case cheats[] = {{"perturb@3", 3}, {"data@5", 5}, {"seed@2", 2},
                                        {"skip@6", 6},    {"swap", 9},   {"init", 1}};
    for (size_t i = 0; i < sizeof cheats / sizeof cheats[0]; i++)
        caught(&s, "dpo", cheats[i].cheat, cheats[i].step, strcmp(cheats[i].cheat, "init") ? "dpo_ok" : NULL);
    /* DPO-LoRA */
    lo = s;
    lo.has_lora = true;
    lo.rank = 4;
    lo.alpha = 8;
    lo.lr = 1e-2;
    snprintf(lo.targets, sizeof lo.targets, "q,v");
    job_output lok;
    if (!run(&lo, "dpo_lora", NULL, &lok)) return;
    CHECK(memcmp(lok.final_state, ok.final_state, 32) != 0);
    slot_of(&lok, &a);
    CHECKF(job_verify(&lo, &F.b, &a, vd, 63, 2, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    caught(&lo, "dpol", "perturb@4", 4, "dpo_lora");
    /* a full-DPO slot checked against the LoRA spec (another task): not valid */
    slot_of(&ok, &a);
    CHECKF(job_verify(&lo, &F.b, &a, vd, 2, 2, &c, err) == 0 && !c.valid, "%s %s", err, c.reason);
    /* a spec whose held-out pairs are not on the node: the run cannot start */
    job_spec m = s;
    memset(m.heldout, 0x5a, 32);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/dpo_missing", F.root);
    job_output o;
    CHECK(job_run(&m, &F.b, dir, NULL, NULL, NULL, &o, err) == -1 && strstr(err, "fetch"));
}

static bool round_spec_of(job_spec *s, round_enc enc, int participant, uint8_t outer_hash[32]) {
    memset(s, 0, sizeof *s);
    s->kind = TASK_ROUND;
    memcpy(s->data, F.data, 32);
    memcpy(s->tokenizer, F.tok, 32);
    s->val_frac = 0.1;
    s->participants = 2;
    s->participant = participant;
    s->slot = -1;
    s->round = 3;
    s->steps = 6;
    s->batch = 2;
    s->seq = 32;
    s->lr = 3e-3;
    s->warmup = 1;
    s->seed = 1;
    s->init_seed = 1;
    s->checkpoint_every = 3;
    s->enc = enc;
    s->block = enc == ROUND_ENC_INT8 ? 64 : 0;
    s->agg = ROUND_AGG_MEAN;
    s->trim = 1;
    s->outer_lr = 0.7;
    s->momentum = 0.9;
    if (!put_base(s)) return false;
    /* the outer state (W_t = the base, zero momentum), advanced to round 3 by empty rounds */
    char mp[1300], err[PLOW_ERR_LEN] = "";
    snprintf(mp, sizeof mp, "%s/out", F.hdir);
    model *m = NULL;
    round_state *st = NULL;
    bool ok = modelio_load_model(&m, mp, err) == 0 && round_state_new(&st, m->params, m->n_params, err) == 0;
    CHECKF(ok, "%s", err);
    round_rule rule;
    round_rule_default(&rule);
    for (int r = 0; ok && r < 3; r++) {
        ok = round_apply(st, NULL, 0, &rule, err) == 0;
        CHECKF(ok, "%s", err);
    }
    if (ok) {
        plow_buf b = {0};
        round_state_serialize(st, &b);
        ok = put_bytes(&F.b, "outer.bin", b.data, b.len, s->outer_state) == 0;
        round_state_hash(st, s->outer_hash);
        if (outer_hash) memcpy(outer_hash, s->outer_hash, 32);
        plow_buf_release(&b);
    }
    round_state_free(st);
    model_free(m);
    return ok;
}

/* Leaf j of the run in F.root/name/out. */
static bool leaf_is(const char *name, uint64_t j, const uint8_t want[32]) {
    char p[1300], err[PLOW_ERR_LEN] = "";
    snprintf(p, sizeof p, "%s/%s/out/trace.bin", F.root, name);
    trace *t = NULL;
    bool ok = trace_load(p, &t, err) == 0 && j <= trace_steps(t) && memcmp(trace_leaf(t, j), want, 32) == 0;
    trace_free(t);
    return ok;
}

/* Reads a slot's contribution the way an aggregator does: the blob its artifact names. */
static bool contribution_of(const job_output *o, size_t n, round_contrib *c) {
    char p[1300], err[PLOW_ERR_LEN] = "";
    snprintf(p, sizeof p, "%s/contrib.bin", F.root);
    uint8_t *buf = NULL;
    size_t len = 0;
    bool ok = F.b.get_file(F.b.ctx, o->artifact, p, err) == 0 && plow_read_file(p, 1 << 26, &buf, &len, err) == 0 &&
              round_contrib_parse(c, buf, len, n, err) == 0;
    CHECKF(ok, "%s", err);
    free(buf);
    return ok;
}

/* A round participant's inner run is a verifiable training run from W_t on
 * its shard; its artifact is its contribution; a copied run is caught. */
static void test_round(void) {
    if (!fixture()) return;
    job_spec s0, s1, sf, any;
    uint8_t oh[32];
    char err[PLOW_ERR_LEN] = "", vd[1300];
    if (!round_spec_of(&s0, ROUND_ENC_INT8, 0, oh) || !round_spec_of(&s1, ROUND_ENC_INT8, 1, NULL) ||
        !round_spec_of(&sf, ROUND_ENC_F32, 0, NULL) || !round_spec_of(&any, ROUND_ENC_INT8, -1, NULL))
        return;
    plow_buf w = {0};
    job_spec s2;
    job_spec_write(&s1, &w);
    CHECKF(job_spec_parse(&s2, w.data, w.len, err) == 0 && s2.kind == TASK_ROUND && s2.participant == 1 &&
               s2.participants == 2 && s2.round == 3 && s2.enc == ROUND_ENC_INT8 && s2.block == 64 &&
               memcmp(s2.outer_hash, oh, 32) == 0 && s2.outer_lr == 0.7,
           "%s", err);
    plow_buf_release(&w);
    job_output o0, o1, of;
    if (!run(&s0, "rnd_p0", NULL, &o0) || !run(&s1, "rnd_p1", NULL, &o1) || !run(&sf, "rnd_f32", NULL, &of)) return;
    CHECK(memcmp(o0.final_state, o1.final_state, 32) != 0 && memcmp(o0.trace_root, of.trace_root, 32) == 0);
    /* the artifact is the contribution: this round, this participant, this outer state */
    char mp[1300];
    snprintf(mp, sizeof mp, "%s/out", F.hdir);
    model *base = NULL, *wp = NULL;
    CHECKF(modelio_load_model(&base, mp, err) == 0, "%s", err);
    if (!base) return;
    size_t n = base->n_params;
    round_contrib c0 = {0}, c1 = {0}, cf = {0};
    if (contribution_of(&o0, n, &c0) && contribution_of(&o1, n, &c1) && contribution_of(&of, n, &cf)) {
        CHECK(c0.round == 3 && c0.participant == 0 && c1.participant == 1 && c0.enc == ROUND_ENC_INT8 &&
              cf.enc == ROUND_ENC_F32 && memcmp(c0.base, oh, 32) == 0);
        /* float32: exactly W_t minus the published W_p */
        snprintf(mp, sizeof mp, "%s/rnd_f32/out", F.root);
        CHECKF(modelio_load_model(&wp, mp, err) == 0, "%s", err);
        size_t bad = 0;
        for (size_t j = 0; wp && j < n; j++) bad += cf.f[j] != base->params[j] - wp->params[j];
        CHECK(wp && bad == 0);
        /* the two contributions aggregate into the next outer state */
        round_state *st = NULL;
        uint8_t *buf = NULL;
        size_t len;
        char op[1300];
        snprintf(op, sizeof op, "%s/outer_back.bin", F.root);
        CHECK(F.b.get_file(F.b.ctx, s0.outer_state, op, err) == 0 && plow_read_file(op, 1 << 26, &buf, &len, err) == 0 &&
              round_state_parse(&st, buf, len, n, err) == 0);
        const round_contrib *cs[2] = {&c1, &c0};
        round_rule rule;
        round_rule_default(&rule);
        CHECKF(st && round_apply(st, cs, 2, &rule, err) == 0 && round_state_round(st) == 4, "%s", err);
        round_state_free(st);
        free(buf);
    }
    round_contrib_release(&c0);
    round_contrib_release(&c1);
    round_contrib_release(&cf);
    model_free(wp);
    model_free(base);
    ledger_slot a0, a1;
    slot_of(&o0, &a0);
    slot_of(&o1, &a1);
    job_check c;
    snprintf(vd, sizeof vd, "%s/v_rnd", F.root);
    CHECKF(job_verify(&s0, &F.b, &a0, vd, 63, 1, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    CHECKF(job_verify(&s1, &F.b, &a1, vd, 63, 1, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    /* a participant that copies another's work: its run does not start from its own state 0 */
    CHECKF(job_verify(&s1, &F.b, &a0, vd, 2, 1, &c, err) == 0 && !c.valid && c.step == 1, "%s %s", err, c.reason);
    if (c.step == 1) {
        ledger_challenge ch;
        challenge_of(1, &c.ev, c.state_blob, &ch);
        uint8_t computed[32];
        bool prev_ok;
        if (referee(&s1, &ch, "rnd_copy", computed, &prev_ok))
            CHECK(prev_ok && memcmp(computed, c.ev.leaf, 32) != 0 && leaf_is("rnd_p1", 1, computed));
    }
    /* cheats, caught at their step (the contribution of another state: the artifact step) */
    caught(&s0, "rnd", "perturb@4", 4, "rnd_p0");
    caught(&s1, "rnd", "swap", 7, NULL);
    caught(&s1, "rnd", "init", 1, NULL);
    /* without a participant in the spec: the slot says which */
    job_output oa;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/rnd_noslot", F.root);
    CHECK(job_run(&any, &F.b, dir, NULL, NULL, NULL, &oa, err) == -1 && strstr(err, "slot"));
    any.slot = 1;
    if (run(&any, "rnd_slot1", NULL, &oa)) CHECK(memcmp(oa.final_state, o1.final_state, 32) == 0);
    any.slot = -1; /* a verifier that does not know the slot finds it from leaf 0 */
    CHECKF(job_verify(&any, &F.b, &a1, vd, 63, 1, &c, err) == 0 && c.valid, "%s %s", err, c.reason);
    /* and a referee that does not know it, from the evidence state */
    any.slot = 1;
    job_output ob;
    if (!run(&any, "rnd_slot1_bad", "perturb@5", &ob)) return;
    ledger_slot b1;
    slot_of(&ob, &b1);
    CHECKF(job_verify(&any, &F.b, &b1, vd, 63, 1, &c, err) == 0 && !c.valid && c.step == 5, "%s %s", err, c.reason);
    any.slot = -1;
    if (c.step == 5) {
        ledger_challenge ch;
        challenge_of(5, &c.ev, c.state_blob, &ch);
        uint8_t computed[32];
        bool prev_ok;
        if (referee(&any, &ch, "rnd_noslot", computed, &prev_ok))
            CHECK(prev_ok && memcmp(computed, c.ev.leaf, 32) != 0 && leaf_is("rnd_p1", 5, computed));
    }
    /* a round task has no replicated dispute */
    uint64_t step;
    ledger_evidence ea, eb;
    uint8_t blob[32];
    CHECK(job_diverge(&s0, &F.b, &a0, &a1, vd, &step, &ea, &eb, blob, err) == -1 && strstr(err, "optimistic"));
}

/* ---- cost ------------------------------------------------------------------------ */

static int dir_size(void *ctx, const uint8_t hash[32], uint64_t *n, char err[PLOW_ERR_LEN]) {
    (void)err;
    char hex[65], p[1200];
    plow_hex(hash, 32, hex);
    snprintf(p, sizeof p, "%s/%s", (const char *)ctx, hex);
    struct stat sb;
    if (stat(p, &sb) != 0) return 1;
    *n = (uint64_t)sb.st_size;
    return 0;
}

/* A model file whose 300-byte header promises a model it does not hold. */
static void lying_model(const char *path, int d_model, int n_layer) {
    st_writer *w = st_writer_new();
    char b[32], err[PLOW_ERR_LEN] = "";
    st_writer_meta(w, "format", "pt");
    st_writer_meta(w, "plow.kind", "model");
    static const char *const keys[] = {"plow.n_layer", "plow.d_model", "plow.n_head", "plow.n_kv_head",
                                       "plow.d_ff", "plow.ctx", "plow.vocab", "plow.tied"};
    long v[] = {n_layer, d_model, 16, 16, 4 * d_model, 8192, 300, 1};
    for (int i = 0; i < 8; i++) {
        snprintf(b, sizeof b, "%ld", v[i]);
        st_writer_meta(w, keys[i], b);
    }
    st_writer_meta(w, "plow.norm_eps", "1e-5");
    st_writer_meta(w, "plow.rope_theta", "10000");
    int64_t shape[1] = {4};
    float x[4] = {0};
    st_writer_add(w, "model.norm.weight", ST_F32, 1, shape, x);
    CHECKF(st_writer_save(w, path, err) == 0, "%s", err);
    st_writer_free(w);
}

/* The cost of a spec, from the spec and its inputs' sizes: honest tasks fit
 * the network's limits; a bomb (config base, batch 4096), a model header
 * promising terabytes, an input that is not there, inputs above the limit
 * and a run too long are each "unrunnable" (1) before anything is built, and
 * the referee rules them so instead of building the model. */
static void test_cost(void) {
    if (!fixture()) return;
    char dir[1200], err[PLOW_ERR_LEN] = "";
    snprintf(dir, sizeof dir, "%s/cost", F.root);
    job_blobs sb = F.b;
    sb.size = dir_size;
    job_limits net;
    job_limits_network(&net);
    job_cost c;
    /* the honest task: within the limits, and no smaller than what it builds */
    CHECKF(job_probe(&F.train, &sb, dir, &net, true, &c, err) == 0, "%s", err);
    model_config tiny;
    CHECK(model_config_named("tiny", 300, &tiny, err) == 0);
    uint64_t ws = model_ws_bytes(&tiny, 0, 0, 2, 32);
    CHECKF(c.mem_bytes >= 4 * model_config_params(&tiny) * 6 + ws && c.mem_bytes < (64u << 20), "%" PRIu64,
           c.mem_bytes);
    CHECK(c.params == model_config_params(&tiny) && c.step_flops > 6.0 * (double)c.params * 64);
    CHECK(c.run_flops == c.step_flops * STEPS && c.input_bytes > 60000);
    /* without a size callback the same estimate (what arrived is sized) */
    job_cost c2;
    CHECKF(job_probe(&F.train, &F.b, dir, &net, true, &c2, err) == 0, "%s", err);
    CHECK(c2.step_flops == c.step_flops);

    /* the bomb of issue 17: a base config, batch 4096 (terabytes of activations) */
    job_spec bomb = F.train;
    snprintf(bomb.config, sizeof bomb.config, "base");
    bomb.batch = 4096;
    bomb.seq = 0; /* the whole context */
    CHECKF(job_probe(&bomb, &sb, dir, &net, false, &c, err) == 1 && strstr(err, "memory"), "%s", err);
    CHECK(c.step_bytes > ((uint64_t)1 << 40)); /* > 1 TiB */
    /* the referee rules it unrunnable at step 1 instead of building it */
    ledger_challenge ch;
    ledger_evidence ev;
    memset(&ev, 0, sizeof ev);
    challenge_of(1, &ev, F.tok, &ch);
    uint8_t computed[32];
    bool prev_ok = true;
    snprintf(dir, sizeof dir, "%s/cost_ref", F.root);
    CHECKF(job_referee(&bomb, &sb, &ch, dir, computed, &prev_ok, err) == 1 && strstr(err, "memory") && !prev_ok,
           "%s", err);
    /* a long run: one step fits, the whole run does not */
    job_spec longrun = F.train;
    longrun.steps = 10000000;
    longrun.batch = 64;
    CHECKF(job_probe(&longrun, &sb, dir, &net, false, &c, err) == 0, "%s", err);
    CHECKF(job_probe(&longrun, &sb, dir, &net, true, &c, err) == 1 && strstr(err, "FLOP"), "%s", err);
    /* a data blob that is not there; inputs above the limit */
    job_spec gone = F.train;
    memset(gone.data, 0x77, 32);
    CHECKF(job_probe(&gone, &sb, dir, &net, true, &c, err) == 1 && strstr(err, "not available"), "%s", err);
    job_limits small = net;
    small.input_bytes = 1000;
    CHECKF(job_probe(&F.train, &sb, dir, &small, true, &c, err) == 1 && strstr(err, "inputs"), "%s", err);

    /* inference on a base whose header promises what the file does not hold */
    char mp[1300], cp[1300];
    snprintf(mp, sizeof mp, "%s/lying.safetensors", F.root);
    snprintf(cp, sizeof cp, "%s/out/config.json", F.hdir);
    job_spec inf;
    memset(&inf, 0, sizeof inf);
    inf.kind = TASK_INFER;
    memcpy(inf.tokenizer, F.tok, 32);
    inf.has_base = true;
    snprintf(inf.prompt, sizeof inf.prompt, "ROMEO:");
    inf.tokens = 8;
    inf.temperature = 0.8;
    inf.top_p = 1;
    CHECK(F.b.put_file(F.b.ctx, cp, inf.base_config, err) == 0);
    lying_model(mp, 1024, 48); /* 3 GiB of weights promised */
    CHECK(F.b.put_file(F.b.ctx, mp, inf.base_model, err) == 0);
    CHECKF(job_probe(&inf, &sb, dir, &net, true, &c, err) == 1 && strstr(err, "file has"), "%s", err);
    memset(&ch, 0, sizeof ch);
    ch.step = 1;
    CHECKF(job_referee(&inf, &sb, &ch, dir, computed, &prev_ok, err) == 1, "%s", err);
    /* the honest model: fits, and a generation of 2^20 tokens is bounded by its context */
    snprintf(mp, sizeof mp, "%s/out/model.safetensors", F.hdir);
    CHECK(F.b.put_file(F.b.ctx, mp, inf.base_model, err) == 0);
    inf.tokens = 1 << 20;
    CHECKF(job_probe(&inf, &sb, dir, &net, true, &c, err) == 0, "%s", err);
    CHECK(c.params == model_config_params(&tiny) && c.mem_bytes > 4 * c.params && c.mem_bytes < (64u << 20));

    /* a label task is its items */
    job_spec lab;
    memset(&lab, 0, sizeof lab);
    lab.kind = TASK_LABEL;
    memcpy(lab.items, F.data, 32);
    lab.n_items = 10;
    CHECKF(job_probe(&lab, &sb, dir, &net, true, &c, err) == 0 && c.input_bytes == 60000 &&
           c.mem_bytes >= 3 * c.input_bytes, "%s %" PRIu64 " %" PRIu64, err, c.input_bytes, c.mem_bytes);
    memset(lab.items, 0x66, 32);
    CHECKF(job_probe(&lab, &sb, dir, &net, true, &c, err) == 1 && strstr(err, "items"), "%s", err);
}

const test_case job_tests[] = {
    {"job_spec_roundtrip", test_spec_roundtrip},
    {"job_spec_malformed", test_spec_malformed},
    {"job_manifest_paths", test_manifest_paths},
    {"job_manifest_hostile_fetch", test_manifest_hostile_fetch},
    {"job_honest_valid", test_honest_valid},
    {"job_spec_matches_cli", test_spec_matches_cli},
    {"job_cheats_caught", test_cheats_caught},
    {"job_bad_checkpoints", test_bad_checkpoints},
    {"job_broken_promises", test_broken_promises},
    {"job_wrong_leaf0_only", test_wrong_leaf0_only},
    {"job_wrong_challenger_loses", test_wrong_challenger_loses},
    {"job_diverge", test_diverge},
    {"job_lora", test_lora},
    {"job_infer", test_infer},
    {"job_dpo", test_dpo},
    {"job_round", test_round},
    {"job_cost", test_cost},
    {NULL, NULL},
};
