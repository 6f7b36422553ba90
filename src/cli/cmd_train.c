/*
 * cmd_train.c — `plow train` and `plow tokenizer train`.
 *
 * A run directory receives: the model (model.safetensors + config.json) or
 * the adapter (adapter_model.safetensors + adapter_config.json), tokenizer.bin,
 * states.txt (the state hash after every step, step 0 being the initial
 * state), train_log.csv (step, loss, gradient norm, learning rate, validation
 * loss), state.bin (the final canonical state) and run.json (how it was made).
 * The last line on stdout is `state <64 hex digits>`.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>

#include "../data/dataset.h"
#include "../data/tokenizer.h"
#include "../proof/run.h"
#include "../model/modelio.h"
#include "../tensor/tensor.h"
#include "../train/train.h"
#include "cli.h"

/* ---- plow tokenizer train ------------------------------------------------- */

static void tok_progress(void *ctx, int done, int total) {
    cli_progress *p = ctx;
    if (p->total != total) p->total = total;
    cli_progress_update(p, done, "");
}

static const char tokenizer_help[] =
    "usage: plow tokenizer train --data FILE --vocab N --out FILE\n"
    "\n"
    "Trains a byte-level BPE tokenizer (docs/formats/tokenizer.md) on a text file.\n"
    "The result depends only on the file and N: the same bytes everywhere.\n"
    "\n"
    "  --data FILE   training text\n"
    "  --vocab N     vocabulary size, 258..65536 (256 bytes + merges + <|endoftext|>)\n"
    "  --out FILE    where to write the tokenizer\n";

int cmd_tokenizer(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(tokenizer_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "train") != 0) return cli_usage_error("tokenizer", "unknown subcommand '%s'", argv[1]);
    argc--;
    argv++;
    const char *data = NULL, *out = NULL;
    long vocab = 4096;
    char err[PLOW_ERR_LEN];
    static const struct option opts[] = {{"data", 1, 0, 'd'}, {"vocab", 1, 0, 'v'}, {"out", 1, 0, 'o'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'v':
            if (cli_int("--vocab", optarg, 258, 65536, &vocab, err)) return cli_usage_error("tokenizer train", "%s", err);
            break;
        case 'h': fputs(tokenizer_help, stdout); return 0;
        default: return cli_usage_error("tokenizer train", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!data || !out) return cli_usage_error("tokenizer train", "--data and --out are required");
    uint8_t *buf;
    size_t n;
    if (plow_read_file(data, TOKENIZER_MAX_TRAIN_BYTES, &buf, &n, err)) return cli_fail("%s", err);
    cli_progress p;
    cli_progress_start(&p, "merges", vocab - 257);
    tokenizer *tok;
    int rc = tokenizer_train(&tok, buf, n, (int)vocab, tok_progress, &p, err);
    cli_progress_end(&p);
    free(buf);
    if (rc) return cli_fail("cannot train tokenizer on '%s': %s", data, err);
    rc = tokenizer_save(tok, out, err);
    uint8_t h[PLOW_HASH_LEN];
    char hex[65];
    tokenizer_hash(tok, h);
    plow_hex(h, PLOW_HASH_LEN, hex);
    tokenizer_free(tok);
    if (rc) return cli_fail("%s", err);
    printf("tokenizer %s (%ld tokens) written to %s\n", hex, vocab, out);
    return 0;
}

/* ---- plow train --------------------------------------------------------- */

static const char train_help[] =
    "usage: plow train --data FILE --out DIR [options]\n"
    "\n"
    "Trains a model from scratch, or a LoRA adapter on a frozen base model, with\n"
    "every step bit-identical across thread counts, SIMD paths and compilers.\n"
    "\n"
    "  --data FILE         training text (the last --val-frac of it is held out)\n"
    "  --out DIR           run directory (created)\n"
    "  --config NAME       tiny, small or base (default small)\n"
    "  --steps N           optimizer steps (default 200)\n"
    "  --seed S            batch-sampling seed (default 1); also the init seed\n"
    "  --init-seed S       weight-initialisation seed (default: --seed)\n"
    "  --tokenizer FILE    use this tokenizer (default: train one on --data, or\n"
    "                      the base model's with --lora)\n"
    "  --vocab N           vocabulary size when training a tokenizer (default 4096)\n"
    "  --batch B           sequences per step (default 16)\n"
    "  --seq T             tokens per sequence (default: the model's context)\n"
    "  --lr X              peak learning rate (default 1e-3, LoRA 2e-3)\n"
    "  --min-lr X          final learning rate (default lr/10)\n"
    "  --warmup N          warm-up steps (default steps/20)\n"
    "  --wd X              weight decay (default 0.1, LoRA 0)\n"
    "  --clip X            gradient-norm clip, 0 = off (default 1)\n"
    "  --val-frac F        held-out fraction of the data (default 0.1)\n"
    "  --eval-every N      validation loss before training and every N steps\n"
    "                      (default: only at the end)\n"
    "  --eval-batches N    batches per validation (default 8)\n"
    "  --lora              train a LoRA adapter (needs --base)\n"
    "  --base DIR          the base model for --lora\n"
    "  --rank R            LoRA rank (default 8)\n"
    "  --alpha A           LoRA alpha (default 16)\n"
    "  --targets LIST      LoRA targets: q,k,v,o,gate,up,down or all (default q,k,v,o)\n"
    "  --threads T         worker threads (default: all CPUs; PLOW_THREADS)\n"
    "  --simd PATH         scalar, avx2, avx512 or auto (default auto; PLOW_SIMD)\n"
    "  --no-hashes         skip per-step state hashes (faster, nothing to verify)\n"
    "  --commit            publish a verifiable run: task.json, trace.bin,\n"
    "                      checkpoints/ and commitment.bin (see plow verify)\n"
    "  --checkpoint-every C  full states every C steps with --commit (default 16)\n"
    "  --cheat KIND[@STEP] play a cheating worker (tests and demos): perturb,\n"
    "                      skip, seed, data, lowprec, swap, badckpt, init; from STEP\n"
    "                      (default: the middle of the run)\n"
    "  --cheat-rate F      with skip: skip each step with probability F instead\n"
    "\n"
    "The last line printed is 'state <hash>': the SHA-256 of the final state.\n";

typedef struct train_args {
    const char *data, *out, *config, *tokenizer, *base, *targets, *simd;
    long steps, vocab, batch, seq, warmup, eval_every, eval_batches, rank, threads;
    uint64_t seed, init_seed;
    bool init_seed_set, lora, no_hashes, commit;
    long every, cheat_step;
    const char *cheat;
    double cheat_rate;
    double lr, min_lr, wd, clip, val_frac, alpha;
    bool lr_set, min_lr_set, wd_set, warmup_set, seq_set;
} train_args;

enum {
    O_DATA = 256, O_OUT, O_CONFIG, O_STEPS, O_SEED, O_INIT_SEED, O_TOK, O_VOCAB, O_BATCH, O_SEQ, O_LR,
    O_MINLR, O_WARMUP, O_WD, O_CLIP, O_VALFRAC, O_EVERY, O_EVALB, O_LORA, O_BASE, O_RANK, O_ALPHA,
    O_TARGETS, O_THREADS, O_SIMD, O_NOHASH, O_COMMIT, O_EVERY_CK, O_CHEAT, O_CHEAT_RATE, O_HELP
};

static int parse_train_args(int argc, char **argv, train_args *a, char err[PLOW_ERR_LEN]) {
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA},       {"out", 1, 0, O_OUT},           {"config", 1, 0, O_CONFIG},
        {"steps", 1, 0, O_STEPS},     {"seed", 1, 0, O_SEED},         {"init-seed", 1, 0, O_INIT_SEED},
        {"tokenizer", 1, 0, O_TOK},   {"vocab", 1, 0, O_VOCAB},       {"batch", 1, 0, O_BATCH},
        {"seq", 1, 0, O_SEQ},         {"lr", 1, 0, O_LR},             {"min-lr", 1, 0, O_MINLR},
        {"warmup", 1, 0, O_WARMUP},   {"wd", 1, 0, O_WD},             {"clip", 1, 0, O_CLIP},
        {"val-frac", 1, 0, O_VALFRAC}, {"eval-every", 1, 0, O_EVERY}, {"eval-batches", 1, 0, O_EVALB},
        {"lora", 0, 0, O_LORA},       {"base", 1, 0, O_BASE},         {"rank", 1, 0, O_RANK},
        {"alpha", 1, 0, O_ALPHA},     {"targets", 1, 0, O_TARGETS},   {"threads", 1, 0, O_THREADS},
        {"simd", 1, 0, O_SIMD},       {"no-hashes", 0, 0, O_NOHASH},  {"help", 0, 0, O_HELP},
        {"commit", 0, 0, O_COMMIT},   {"checkpoint-every", 1, 0, O_EVERY_CK}, {"cheat", 1, 0, O_CHEAT},
        {"cheat-rate", 1, 0, O_CHEAT_RATE},
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->config = "small";
    a->targets = "q,k,v,o";
    a->steps = 200;
    a->seed = 1;
    a->vocab = 4096;
    a->batch = 16;
    a->eval_batches = 8;
    a->rank = 8;
    a->alpha = 16;
    a->clip = 1.0;
    a->val_frac = 0.1;
    a->every = 16;
    a->cheat_step = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *o = optind > 0 ? argv[optind - 1] : "?";
        int rc = 0;
        switch (c) {
        case O_DATA: a->data = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_CONFIG: a->config = optarg; break;
        case O_STEPS: rc = cli_int("--steps", optarg, 1, 10000000, &a->steps, err); break;
        case O_SEED: rc = cli_u64("--seed", optarg, &a->seed, err); break;
        case O_INIT_SEED: rc = cli_u64("--init-seed", optarg, &a->init_seed, err); a->init_seed_set = true; break;
        case O_TOK: a->tokenizer = optarg; break;
        case O_VOCAB: rc = cli_int("--vocab", optarg, 258, 65536, &a->vocab, err); break;
        case O_BATCH: rc = cli_int("--batch", optarg, 1, 4096, &a->batch, err); break;
        case O_SEQ: rc = cli_int("--seq", optarg, 1, 65536, &a->seq, err); a->seq_set = true; break;
        case O_LR: rc = cli_float("--lr", optarg, 1e-9, 10, &a->lr, err); a->lr_set = true; break;
        case O_MINLR: rc = cli_float("--min-lr", optarg, 0, 10, &a->min_lr, err); a->min_lr_set = true; break;
        case O_WARMUP: rc = cli_int("--warmup", optarg, 0, 10000000, &a->warmup, err); a->warmup_set = true; break;
        case O_WD: rc = cli_float("--wd", optarg, 0, 0.999, &a->wd, err); a->wd_set = true; break;
        case O_CLIP: rc = cli_float("--clip", optarg, 0, 1e9, &a->clip, err); break;
        case O_VALFRAC: rc = cli_float("--val-frac", optarg, 0.001, 0.5, &a->val_frac, err); break;
        case O_EVERY: rc = cli_int("--eval-every", optarg, 0, 10000000, &a->eval_every, err); break;
        case O_EVALB: rc = cli_int("--eval-batches", optarg, 1, 100000, &a->eval_batches, err); break;
        case O_LORA: a->lora = true; break;
        case O_BASE: a->base = optarg; break;
        case O_RANK: rc = cli_int("--rank", optarg, 1, 1024, &a->rank, err); break;
        case O_ALPHA: rc = cli_float("--alpha", optarg, 1e-6, 1e6, &a->alpha, err); break;
        case O_TARGETS: a->targets = optarg; break;
        case O_THREADS: rc = cli_int("--threads", optarg, 1, 256, &a->threads, err); break;
        case O_SIMD: a->simd = optarg; break;
        case O_NOHASH: a->no_hashes = true; break;
        case O_COMMIT: a->commit = true; break;
        case O_EVERY_CK: rc = cli_int("--checkpoint-every", optarg, 1, 100000000, &a->every, err); break;
        case O_CHEAT: a->cheat = optarg; break;
        case O_CHEAT_RATE: rc = cli_float("--cheat-rate", optarg, 0, 1, &a->cheat_rate, err); break;
        case O_HELP: return 1;
        default: return plow_error(err, "unknown or incomplete option '%s'", o);
        }
        if (rc) return -1;
    }
    if (optind < argc) return plow_error(err, "unexpected argument '%s'", argv[optind]);
    if (!a->data) return plow_error(err, "--data FILE is required");
    if (!a->out) return plow_error(err, "--out DIR is required");
    if (a->lora && !a->base) return plow_error(err, "--lora needs --base DIR (the model to adapt)");
    if (!a->lora && a->base) return plow_error(err, "--base is only used with --lora");
    if (!a->init_seed_set) a->init_seed = a->seed;
    if (a->commit && a->no_hashes) return plow_error(err, "--commit needs the per-step hashes (drop --no-hashes)");
    if (a->cheat) {
        static const char *const kinds[] = {"perturb", "skip", "seed", "data", "lowprec", "swap", "badckpt", "init"};
        const char *at = strchr(a->cheat, '@');
        size_t len = at ? (size_t)(at - a->cheat) : strlen(a->cheat);
        bool known = false;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            known |= strlen(kinds[i]) == len && strncmp(kinds[i], a->cheat, len) == 0;
        if (!known) return plow_error(err, "unknown cheat '%.*s' (perturb, skip, seed, data, lowprec, swap, badckpt, init)", (int)len, a->cheat);
        if (at && cli_int("--cheat STEP", at + 1, 1, a->steps, &a->cheat_step, err)) return -1;
        if (a->cheat_step < 0) a->cheat_step = a->steps / 2 > 0 ? a->steps / 2 : 1;
    }
    return 0;
}

static int write_text(const char *dir, const char *file, const char *text, char err[PLOW_ERR_LEN]) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    int rc = plow_write_file(p, text, strlen(text), err);
    free(p);
    return rc;
}

static FILE *open_in(const char *dir, const char *file, char err[PLOW_ERR_LEN]) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = plow_alloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    if (!f) plow_error(err, "cannot create '%s'", p);
    free(p);
    return f;
}

/* The absolute form of a path (so a verifier can run from anywhere). */
static void abs_path(const char *p, char *out, size_t cap) {
    char *r = realpath(p, NULL);
    snprintf(out, cap, "%s", r && strlen(r) < cap ? r : p);
    free(r);
}

static bool cheat_is(const train_args *a, const char *kind) {
    return a->cheat && strncmp(a->cheat, kind, strlen(kind)) == 0 &&
           (a->cheat[strlen(kind)] == 0 || a->cheat[strlen(kind)] == '@');
}

/* One training step, or what a cheating worker does instead (step = the
 * index of the step being taken, 1-based). */
static void run_step(train_state *s, const dataset *data, const train_args *a, long step, train_stats *st,
                     int32_t *bx, int32_t *by) {
    const train_hparams *hp = train_state_hparams(s);
    bool active = a->cheat && step >= a->cheat_step;
    if (cheat_is(a, "skip")) {
        bool skip = a->cheat_rate > 0
                        ? tensor_uniform((tensor_rng_key){a->seed ^ 0x5EED, 77, 0}, (uint64_t)step) < (float)a->cheat_rate &&
                              step < a->steps
                        : step == a->cheat_step;
        if (skip) { /* copy the state forward: no work, just the counter */
            train_state_set_step(s, train_state_step(s) + 1);
            memset(st, 0, sizeof *st);
            return;
        }
    }
    if (active && (cheat_is(a, "seed") || cheat_is(a, "data"))) {
        bool other_data = cheat_is(a, "data");
        const int32_t *src = other_data ? data->val : data->train;
        size_t n = other_data ? data->n_val : data->n_train;
        dataset_batch(src, n, data->hash, hp->seed + (other_data ? 0 : 1), DATASET_PURPOSE_TRAIN,
                      (uint32_t)train_state_step(s), hp->batch, hp->seq, bx, by);
        train_step_batch(s, bx, by, st);
    } else {
        train_step(s, data, st);
    }
    size_t n;
    float *w = train_state_weights(s, &n);
    if (cheat_is(a, "perturb") && step == a->cheat_step) w[0] += 1e-3f;
    if (active && cheat_is(a, "lowprec")) /* bfloat16 weights: keep the top 16 bits */
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &w[i], 4);
            u &= 0xFFFF0000u;
            memcpy(&w[i], &u, 4);
        }
}

int cmd_train(int argc, char **argv) {
    train_args a;
    char err[PLOW_ERR_LEN];
    int prc = parse_train_args(argc, argv, &a, err);
    if (prc == 1) {
        fputs(train_help, stdout);
        return 0;
    }
    if (prc) return cli_usage_error("train", "%s", err);

    int rc = 1;
    tokenizer *tok = NULL;
    dataset *data = NULL;
    model *m = NULL;
    lora *l = NULL;
    train_state *s = NULL;
    FILE *states = NULL, *log = NULL;
    uint8_t *leaves = NULL;
    proof_ckpt_writer *ckw = NULL;
    int32_t *bx = NULL, *by = NULL;
    plow_buf sb = {0};

    if (cli_init_engine(a.simd, a.threads, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (plow_mkdir_p(a.out, err)) {
        cli_fail("%s", err);
        goto out;
    }
    /* tokenizer */
    if (a.tokenizer) {
        if (tokenizer_load(&tok, a.tokenizer, err)) {
            cli_fail("%s", err);
            goto out;
        }
    } else if (a.lora) {
        if (modelio_load_tokenizer(&tok, a.base, err)) {
            cli_fail("%s (pass --tokenizer FILE)", err);
            goto out;
        }
    } else {
        uint8_t *buf;
        size_t n;
        if (plow_read_file(a.data, TOKENIZER_MAX_TRAIN_BYTES, &buf, &n, err)) {
            cli_fail("%s", err);
            goto out;
        }
        cli_progress p;
        cli_progress_start(&p, "tokenizer", a.vocab - 257);
        int trc = tokenizer_train(&tok, buf, n, (int)a.vocab, tok_progress, &p, err);
        cli_progress_end(&p);
        free(buf);
        if (trc) {
            cli_fail("cannot train a tokenizer on '%s': %s", a.data, err);
            goto out;
        }
    }
    {
        size_t n = strlen(a.out) + 16;
        char *tp = plow_alloc(n);
        snprintf(tp, n, "%s/tokenizer.bin", a.out);
        int trc = tokenizer_save(tok, tp, err);
        free(tp);
        if (trc) {
            cli_fail("%s", err);
            goto out;
        }
    }
    /* data */
    if (dataset_load_text(&data, a.data, tok, a.val_frac, err)) {
        cli_fail("%s", err);
        goto out;
    }
    /* model */
    if (a.lora) {
        if (modelio_load_model(&m, a.base, err)) {
            cli_fail("cannot load the base model: %s", err);
            goto out;
        }
        unsigned mask;
        if (lora_parse_targets(a.targets, &mask, err) || lora_new(&l, &m->cfg, (int)a.rank, (float)a.alpha, mask, err)) {
            cli_fail("%s", err);
            goto out;
        }
        lora_init_weights(l, a.init_seed + (cheat_is(&a, "init") ? 1 : 0));
    } else {
        model_config cfg;
        if (model_config_named(a.config, tokenizer_vocab_size(tok), &cfg, err) || model_new(&m, &cfg, err)) {
            cli_fail("%s", err);
            goto out;
        }
        model_init_weights(m, a.init_seed + (cheat_is(&a, "init") ? 1 : 0)); /* init: not the task's start */
    }
    if (m->cfg.vocab != tokenizer_vocab_size(tok)) {
        cli_fail("the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), m->cfg.vocab);
        goto out;
    }
    train_hparams hp;
    train_hparams_default(&hp, a.lora, (int)a.steps, m->cfg.ctx);
    hp.batch = (int)a.batch;
    if (a.seq_set) hp.seq = (int)a.seq;
    if (a.lr_set) {
        hp.lr = (float)a.lr;
        hp.min_lr = hp.lr * 0.1f;
    }
    if (a.min_lr_set) hp.min_lr = (float)a.min_lr;
    if (a.warmup_set) hp.warmup = (int)a.warmup;
    if (a.wd_set) hp.wd = (float)a.wd;
    hp.clip = (float)a.clip;
    hp.seed = a.seed;
    hp.init_seed = a.init_seed;
    if (data->n_train <= (size_t)hp.seq || data->n_val <= (size_t)hp.seq) {
        cli_fail("'%s' is too short: %zu training and %zu validation tokens, need more than %d each (lower --seq)",
                 a.data, data->n_train, data->n_val, hp.seq);
        goto out;
    }
    if (train_state_new(&s, m, l, &hp, data->hash, err)) {
        cli_fail("%s", err);
        goto out;
    }
    size_t trainable = a.lora ? l->n_params : m->n_params;
    fprintf(stderr, "plow train: %s%s, %zu trainable parameters, %zu train / %zu val tokens, %d x %d tokens per step, %s x %d threads\n",
            m->cfg.name, a.lora ? " + LoRA" : "", trainable, data->n_train, data->n_val, hp.batch, hp.seq,
            tensor_path_name(tensor_path_get()), tensor_threads());

    if (!(states = open_in(a.out, "states.txt", err)) || !(log = open_in(a.out, "train_log.csv", err))) {
        cli_fail("%s", err);
        goto out;
    }
    fprintf(log, "step,loss,grad_norm,lr,val_loss,seconds\n");
    uint8_t h[PLOW_HASH_LEN];
    char hex[65];
    leaves = a.commit ? plow_alloc((size_t)(a.steps + 1) * PLOW_HASH_LEN) : NULL;
    bx = plow_alloc(sizeof(int32_t) * (size_t)hp.batch * hp.seq);
    by = plow_alloc(sizeof(int32_t) * (size_t)hp.batch * hp.seq);
    if (!a.no_hashes) {
        train_state_hash(s, h);
        plow_hex(h, PLOW_HASH_LEN, hex);
        fprintf(states, "0 %s\n", hex);
        if (leaves) memcpy(leaves, h, PLOW_HASH_LEN);
    }
    if (a.commit) ckw = proof_ckpt_writer_new(a.out);
    if (ckw && proof_ckpt_writer_submit(ckw, s, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (a.eval_every > 0) { /* the loss before any training, as step 0 */
        float v0 = train_eval(s, data->val, data->n_val, (int)a.eval_batches);
        fprintf(log, "0,,,,%.6f,\n", (double)v0);
        fprintf(stderr, "plow train: validation loss before training %.4f\n", (double)v0);
    }
    cli_progress p;
    cli_progress_start(&p, "train", a.steps);
    double tokens = 0, train_secs = 0;
    float val = NAN;
    for (long i = 0; i < a.steps; i++) {
        train_stats st;
        run_step(s, data, &a, i + 1, &st, bx, by);
        tokens += (double)hp.batch * hp.seq;
        train_secs += st.seconds;
        if (!a.no_hashes) {
            train_state_hash(s, h);
            plow_hex(h, PLOW_HASH_LEN, hex);
            fprintf(states, "%ld %s\n", i + 1, hex);
            if (leaves) memcpy(leaves + (size_t)(i + 1) * PLOW_HASH_LEN, h, PLOW_HASH_LEN);
        }
        if (a.commit && ((i + 1) % a.every == 0 || i + 1 == a.steps)) {
            size_t wn;
            float *w = train_state_weights(s, &wn), keep = w[0];
            bool lie = cheat_is(&a, "badckpt") && i + 1 >= a.cheat_step;
            if (lie) w[0] += 1e-3f; /* a checkpoint that is not the state the leaf hashes */
            int crc = proof_ckpt_writer_submit(ckw, s, err);
            w[0] = keep;
            if (crc) {
                cli_fail("%s", err);
                goto out;
            }
        }
        bool eval = (a.eval_every > 0 && (i + 1) % a.eval_every == 0) || i + 1 == a.steps;
        if (eval) val = train_eval(s, data->val, data->n_val, (int)a.eval_batches);
        fprintf(log, "%ld,%.6f,%.6f,%.6g,", i + 1, (double)st.loss, (double)st.gnorm, (double)st.lr);
        if (eval) fprintf(log, "%.6f", (double)val);
        fprintf(log, ",%.4f\n", st.seconds);
        char extra[128];
        if (!eval)
            snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s", (double)st.loss, (double)st.lr,
                     tokens / train_secs);
        else
            snprintf(extra, sizeof extra, "loss %.4f val %.4f lr %.2e %.0f tok/s", (double)st.loss,
                           (double)val, (double)st.lr, tokens / train_secs);
        cli_progress_update(&p, i + 1, extra);
    }
    cli_progress_end(&p);
    fflush(states);
    fflush(log);
    /* artifacts */
    size_t wn;
    float *wts = train_state_weights(s, &wn), wkeep = wts[0];
    if (cheat_is(&a, "swap")) wts[0] += 1.0f; /* publish a model that is not the final state */
    int src = a.lora ? modelio_save_lora(l, m, a.out, err) : modelio_save_model(m, a.out, err);
    uint8_t art[PLOW_HASH_LEN];
    if (a.lora) lora_hash(l, art);
    else model_hash(m, art);
    wts[0] = wkeep;
    if (src) {
        cli_fail("%s", err);
        goto out;
    }
    if (ckw) {
        int frc = proof_ckpt_writer_finish(ckw, err);
        ckw = NULL;
        if (frc) {
            cli_fail("%s", err);
            goto out;
        }
    }
    if (a.commit) {
        proof_task task = {0};
        task.is_lora = a.lora;
        task.cfg = m->cfg;
        abs_path(a.data, task.data, sizeof task.data);
        task.val_frac = a.val_frac;
        memcpy(task.data_hash, data->hash, PLOW_HASH_LEN);
        task.hp = hp;
        if (a.lora) {
            task.rank = l->rank;
            task.alpha = l->alpha;
            task.targets = l->targets;
            abs_path(a.base, task.base, sizeof task.base);
            model_hash(m, task.base_hash);
        }
        task.checkpoint_every = (uint32_t)a.every;
        uint8_t tid[PLOW_HASH_LEN];
        train_state_task_id(s, tid);
        if (proof_task_save(&task, a.out, err) ||
            proof_write_commitment(a.out, tid, leaves, (uint64_t)a.steps, art, (uint32_t)a.every, err)) {
            cli_fail("%s", err);
            goto out;
        }
    }
    train_state_serialize(s, &sb);
    {
        size_t n = strlen(a.out) + 16;
        char *sp = plow_alloc(n);
        snprintf(sp, n, "%s/state.bin", a.out);
        int wrc = plow_write_file(sp, sb.data, sb.len, err);
        free(sp);
        if (wrc) {
            cli_fail("%s", err);
            goto out;
        }
    }
    train_state_hash(s, h);
    plow_hex(h, PLOW_HASH_LEN, hex);
    {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "kind", a.lora ? "lora" : "model");
        cJSON_AddStringToObject(j, "config", m->cfg.name);
        cJSON_AddStringToObject(j, "data", a.data);
        char dh[65];
        plow_hex(data->hash, PLOW_HASH_LEN, dh);
        cJSON_AddStringToObject(j, "data_hash", dh);
        cJSON_AddNumberToObject(j, "steps", (double)a.steps);
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)a.seed);
        cJSON_AddStringToObject(j, "seed", seed);
        cJSON_AddNumberToObject(j, "batch", hp.batch);
        cJSON_AddNumberToObject(j, "seq", hp.seq);
        cJSON_AddNumberToObject(j, "final_val_loss", (double)val);
        cJSON_AddNumberToObject(j, "tokens_per_second", tokens / train_secs);
        cJSON_AddStringToObject(j, "state", hex);
        char *js = cJSON_Print(j);
        cJSON_Delete(j);
        int wrc = write_text(a.out, "run.json", js, err);
        free(js);
        if (wrc) {
            cli_fail("%s", err);
            goto out;
        }
    }
    fprintf(stderr, "plow train: validation loss %.4f, %.0f tokens/s, wrote %s\n", (double)val, tokens / train_secs, a.out);
    printf("state %s\n", hex);
    rc = 0;
out:
    proof_ckpt_writer_finish(ckw, NULL);
    free(leaves);
    free(bx);
    free(by);
    if (states) fclose(states);
    if (log) fclose(log);
    plow_buf_release(&sb);
    train_state_free(s);
    lora_free(l);
    model_free(m);
    dataset_free(data);
    tokenizer_free(tok);
    return rc;
}
