/*
 * cmd_train.c — `plow train` and `plow tokenizer train`.
 *
 * A run directory receives: the model (model.safetensors + config.json) or
 * the adapter (adapter_model.safetensors + adapter_config.json), tokenizer.bin,
 * states.txt (the state hash after every step, step 0 being the initial
 * state), train_log.csv (step, loss, gradient norm, learning rate, validation
 * loss), state.bin (the final canonical state) and run.json (how it was made).
 * The last line on stdout is `state <64 hex digits>`. With --dpo the run is
 * DPO (docs/dpo.md): pairs instead of text, the base as the reference, and
 * the log gains the preference metrics.
 *
 * `plow prefs generate` makes a preference set from a text (prefs.h);
 * `plow prefs eval` measures a model's preferences on one.
 */
#include "../base/plow.h"

#include <getopt.h>

#include "../data/prefs.h"
#include "../data/tokenizer.h"
#include "../data/problems.h"
#include "../job/rollout.h"
#include "../job/work.h"
#include "../train/rl.h"
#include "../model/modelio.h"
#include "../tensor/tensor.h"
#include "../train/dpo.h"
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
    "Text is first cut as GPT-2's pre-tokenizer cuts it (Unicode 14.0 letters,\n"
    "numbers and White_Space; an ill-formed UTF-8 byte counts as punctuation).\n"
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
    "       plow train --dpo PAIRS.jsonl --base DIR --out DIR [options]\n"
    "\n"
    "Trains a model from scratch, or a LoRA adapter on a frozen base model, with\n"
    "every step bit-identical across thread counts, SIMD paths and compilers.\n"
    "\n"
    "  --data FILE         training text (the last --val-frac of it is held out)\n"
    "  --out DIR           run directory (created)\n"
    "  --config NAME       tiny, small or base (default small)\n"
    "  --tied yes|no       the LM head tied to the embedding or its own matrix\n"
    "                      (default: the config's: tiny tied, small and base not)\n"
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
    "  --simd PATH         scalar, avx2, avx512, neon, simd128 or auto (default auto; PLOW_SIMD)\n"
    "  --no-hashes         skip per-step state hashes (faster, nothing to verify)\n"
    "  --commit            publish a verifiable run: task.json, trace.bin,\n"
    "                      checkpoints/ and commitment.bin (see plow verify)\n"
    "  --checkpoint-every C  full states every C steps with --commit (default 16)\n"
    "  --cheat KIND[@STEP] play a cheating worker (tests and demos): perturb,\n"
    "                      skip, seed, data, lowprec, swap, badckpt, init, config\n"
    "                      (a garbage config.json), truncate (a cut final\n"
    "                      checkpoint), bomb (a model header promising\n"
    "                      terabytes); from STEP (default: the middle of the run)\n"
    "  --cheat-rate F      with skip: skip each step with probability F instead\n"
    "\n";

/* the kinds that train on something else than text (one string each: C's 4,095-byte limit) */
static const char train_help_kinds[] =
    "DPO (preference training, docs/dpo.md): instead of --data,\n"
    "  --dpo PAIRS.jsonl   preference pairs {\"prompt\", \"chosen\", \"rejected\"} (see\n"
    "                      plow prefs generate); --batch counts pairs\n"
    "  --base DIR          the reference model (required); with --lora the\n"
    "                      adapter's base, else the weights DPO starts from\n"
    "  --beta B            the DPO temperature, (0, 100] (default 0.1)\n"
    "  --heldout FILE      held-out pairs: their preference metrics before and\n"
    "                      after training (default: the first 64 training pairs)\n"
    "  The log adds margin, accuracy and the implicit rewards of each step and\n"
    "  the evaluation's reward and policy accuracy and margins.\n"
    "\n"
    "RL with verifiable rewards (docs/rl.md): instead of --data,\n"
    "  --rl                a GRPO-style run on generated arithmetic problems (the\n"
    "                      training split; see plow rl problems); --batch counts\n"
    "                      problems a step\n"
    "  --base DIR          the policy to improve and the frozen KL reference\n"
    "                      (required); with --lora the adapter's base\n"
    "  --kinds LIST        add, sub, mul, cmp, lin, or all (default all)\n"
    "  --digits A[-B]      operand digits, 1..6 (default 1-2)\n"
    "  --problem-seed S    which problems (default 1)\n"
    "  --group G           completions sampled per problem, 2..64 (default 8)\n"
    "  --max-new M         tokens a completion may take, 1..32 (default 8)\n"
    "  --temperature T     sampling temperature, (0, 10] (default 1)\n"
    "  --top-k K           sample among the K likeliest tokens, 0 = all (default 0)\n"
    "  --kl X              the KL coefficient against the reference (default 0.02)\n"
    "  --format-reward X   reward for a well-formed answer, [0, 1] (default 0.1)\n"
    "  The log adds each step's mean reward and accuracy, and the held-out\n"
    "  accuracy before and after.\n"
    "  --rollout-keys K1,K2,...  distributed rollouts (docs/rl.md) by rollout\n"
    "                      workers in this process, one per key file: worker w of\n"
    "                      n makes rollouts i = w mod n as signed receipts, and the\n"
    "                      trainer checks each (one prefill) before stepping on it;\n"
    "                      the states are the in-step sampled run's. Refused\n"
    "                      receipts (fraud proofs) go to OUT/fraud/.\n"
    "  --rollout-cheat W:KIND  worker W (1-based) cheats on its first rollout of\n"
    "                      every step: fabricated, reward or prompt (tests)\n"
    "\n"
    "The last line printed is 'state <hash>': the SHA-256 of the final state.\n";

typedef struct train_args {
    job_train_opts o;
    const char *simd;
    long threads;
    bool init_seed_set;
    const char *dpo; /* --dpo PAIRS: the kind is DPO and the pairs its data */
    bool rl;         /* --rl: the kind is RL */
    const char *rl_opt; /* the last RL option given (refused without --rl) */
    const char *rollout_keys, *rollout_cheat;
} train_args;

enum {
    O_DATA = 256, O_OUT, O_CONFIG, O_STEPS, O_SEED, O_INIT_SEED, O_TOK, O_VOCAB, O_BATCH, O_SEQ, O_LR,
    O_MINLR, O_WARMUP, O_WD, O_CLIP, O_VALFRAC, O_EVERY, O_EVALB, O_LORA, O_BASE, O_RANK, O_ALPHA,
    O_TARGETS, O_THREADS, O_SIMD, O_NOHASH, O_COMMIT, O_EVERY_CK, O_CHEAT, O_CHEAT_RATE, O_HELP, O_DPO, O_BETA,
    O_HELDOUT, O_TIED, O_RL, O_KINDS, O_DIGITS, O_PSEED, O_GROUP, O_MAXNEW, O_TEMP, O_TOPK, O_KL, O_FMT,
    O_RO_KEYS, O_RO_CHEAT
};

/* cli_int and cli_float into the RL parameters' narrower types */
static int opt_u32(const char *opt, const char *s, long lo, long hi, uint32_t *out, char err[PLOW_ERR_LEN]) {
    long v;
    if (cli_int(opt, s, lo, hi, &v, err)) return -1;
    *out = (uint32_t)v;
    return 0;
}
static int opt_f32(const char *opt, const char *s, double lo, double hi, float *out, char err[PLOW_ERR_LEN]) {
    double v;
    if (cli_float(opt, s, lo, hi, &v, err)) return -1;
    *out = (float)v;
    return 0;
}

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
        {"cheat-rate", 1, 0, O_CHEAT_RATE}, {"dpo", 1, 0, O_DPO},     {"beta", 1, 0, O_BETA},
        {"heldout", 1, 0, O_HELDOUT}, {"tied", 1, 0, O_TIED},
        {"rl", 0, 0, O_RL},           {"kinds", 1, 0, O_KINDS},       {"digits", 1, 0, O_DIGITS},
        {"problem-seed", 1, 0, O_PSEED}, {"group", 1, 0, O_GROUP},   {"max-new", 1, 0, O_MAXNEW},
        {"temperature", 1, 0, O_TEMP}, {"top-k", 1, 0, O_TOPK},      {"kl", 1, 0, O_KL},
        {"format-reward", 1, 0, O_FMT}, {"rollout-keys", 1, 0, O_RO_KEYS}, {"rollout-cheat", 1, 0, O_RO_CHEAT},
        {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    job_train_opts *o = &a->o;
    job_train_opts_init(o);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *opt = optind > 0 ? argv[optind - 1] : "?";
        int rc = 0;
        switch (c) {
        case O_DATA: o->data = optarg; break;
        case O_OUT: o->out = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_TIED:
            if (strcmp(optarg, "yes") == 0) o->head = JOB_HEAD_TIED;
            else if (strcmp(optarg, "no") == 0) o->head = JOB_HEAD_UNTIED;
            else rc = plow_error(err, "--tied must be yes or no, not '%s'", optarg);
            break;
        case O_STEPS: rc = cli_int("--steps", optarg, 1, 10000000, &o->steps, err); break;
        case O_SEED: rc = cli_u64("--seed", optarg, &o->seed, err); break;
        case O_INIT_SEED: rc = cli_u64("--init-seed", optarg, &o->init_seed, err); a->init_seed_set = true; break;
        case O_TOK: o->tokenizer = optarg; break;
        case O_VOCAB: rc = cli_int("--vocab", optarg, 258, 65536, &o->vocab, err); break;
        case O_BATCH: rc = cli_int("--batch", optarg, 1, 4096, &o->batch, err); break;
        case O_SEQ: rc = cli_int("--seq", optarg, 1, 65536, &o->seq, err); o->seq_set = true; break;
        case O_LR: rc = cli_float("--lr", optarg, 1e-9, 10, &o->lr, err); o->lr_set = true; break;
        case O_MINLR: rc = cli_float("--min-lr", optarg, 0, 10, &o->min_lr, err); o->min_lr_set = true; break;
        case O_WARMUP: rc = cli_int("--warmup", optarg, 0, 10000000, &o->warmup, err); o->warmup_set = true; break;
        case O_WD: rc = cli_float("--wd", optarg, 0, 0.999, &o->wd, err); o->wd_set = true; break;
        case O_CLIP: rc = cli_float("--clip", optarg, 0, 1e9, &o->clip, err); break;
        case O_VALFRAC: rc = cli_float("--val-frac", optarg, 0.001, 0.5, &o->val_frac, err); break;
        case O_EVERY: rc = cli_int("--eval-every", optarg, 0, 10000000, &o->eval_every, err); break;
        case O_EVALB: rc = cli_int("--eval-batches", optarg, 1, 100000, &o->eval_batches, err); break;
        case O_LORA: o->lora = true; break;
        case O_BASE: o->base = optarg; break;
        case O_RANK: rc = cli_int("--rank", optarg, 1, 1024, &o->rank, err); break;
        case O_ALPHA: rc = cli_float("--alpha", optarg, 1e-6, 1e6, &o->alpha, err); break;
        case O_TARGETS: o->targets = optarg; break;
        case O_THREADS: rc = cli_int("--threads", optarg, 1, 256, &a->threads, err); break;
        case O_SIMD: a->simd = optarg; break;
        case O_NOHASH: o->no_hashes = true; break;
        case O_COMMIT: o->commit = true; break;
        case O_EVERY_CK: rc = cli_int("--checkpoint-every", optarg, 1, 100000000, &o->every, err); break;
        case O_CHEAT: o->cheat = optarg; break;
        case O_CHEAT_RATE: rc = cli_float("--cheat-rate", optarg, 0, 1, &o->cheat_rate, err); break;
        case O_DPO: a->dpo = optarg; break;
        case O_BETA: rc = cli_float("--beta", optarg, 1e-6, 100, &o->beta, err); break;
        case O_HELDOUT: o->heldout = optarg; break;
        case O_RL: a->rl = true; break;
        case O_KINDS: rc = problem_parse_kinds(optarg, &o->problems.kinds, err); a->rl_opt = opt; break;
        case O_DIGITS: rc = problem_parse_digits(optarg, &o->problems, err); a->rl_opt = opt; break;
        case O_PSEED: rc = cli_u64("--problem-seed", optarg, &o->problems.seed, err); a->rl_opt = opt; break;
        case O_GROUP: rc = opt_u32("--group", optarg, 2, RL_MAX_GROUP, &o->rl.group, err); a->rl_opt = opt; break;
        case O_MAXNEW: rc = opt_u32("--max-new", optarg, 1, RL_MAX_NEW, &o->rl.max_new, err); a->rl_opt = opt; break;
        case O_TEMP: rc = opt_f32("--temperature", optarg, 1e-3, 10, &o->rl.temperature, err); a->rl_opt = opt; break;
        case O_TOPK: rc = opt_u32("--top-k", optarg, 0, 1000000, &o->rl.top_k, err); a->rl_opt = opt; break;
        case O_KL: rc = opt_f32("--kl", optarg, 0, 10, &o->rl.kl, err); a->rl_opt = opt; break;
        case O_FMT: rc = opt_f32("--format-reward", optarg, 0, 1, &o->rl.format_reward, err); a->rl_opt = opt; break;
        case O_RO_KEYS: a->rollout_keys = optarg; a->rl_opt = opt; break;
        case O_RO_CHEAT: a->rollout_cheat = optarg; a->rl_opt = opt; break;
        case O_HELP: return 1;
        default: return plow_error(err, "unknown or incomplete option '%s'", opt);
        }
        if (rc) return -1;
    }
    if (optind < argc) return plow_error(err, "unexpected argument '%s'", argv[optind]);
    if (!a->init_seed_set) o->init_seed = o->seed;
    /* the kind from the flags: --dpo, --rl, else --lora, else full training */
    if (a->rl_opt && !a->rl) return plow_error(err, "%s is an RL option: it goes with --rl", a->rl_opt);
    if (a->rl) {
        if (a->dpo || o->data) return plow_error(err, "an RL run trains on generated problems, not --data or --dpo");
        o->kind = TASK_RL;
    } else if (a->dpo) {
        if (o->data) return plow_error(err, "a DPO run trains on --dpo PAIRS, not --data");
        o->kind = TASK_DPO;
        o->data = a->dpo;
    } else if (o->lora) {
        o->kind = TASK_LORA;
    }
    return job_train_opts_check(o, err);
}

/* Progress bars and lines of information on stderr, as `plow train` always printed them. */
typedef struct train_ui {
    cli_progress p;
    const char *phase;
    const char *prefix;
} train_ui;

static void ui_end(train_ui *u) {
    if (u->phase) cli_progress_end(&u->p);
    u->phase = NULL;
}

static void ui_note(void *arg, const char *line) {
    train_ui *u = arg;
    ui_end(u);
    fprintf(stderr, "%s%s\n", u->prefix, line);
}

static void ui_progress(void *arg, const char *phase, long done, long total, const char *extra) {
    train_ui *u = arg;
    if (!u->phase || strcmp(u->phase, phase) != 0) {
        ui_end(u);
        u->phase = phase;
        cli_progress_start(&u->p, phase, total);
    }
    if (u->p.total != total) u->p.total = total;
    if (done > 0) cli_progress_update(&u->p, done, extra ? extra : "");
}

/* The in-process rollout workers of --rollout-keys and --rollout-cheat. */
static int rollout_workers(const train_args *a, rollout_local **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    ledger_key keys[64];
    const char *cheats[64] = {0};
    int n = 0, rc = -1;
    char *list = plow_strdup(a->rollout_keys), *save = NULL;
    for (char *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (n == 64) {
            plow_error(err, "--rollout-keys: at most 64 rollout workers");
            goto out;
        }
        if (ledger_key_load(&keys[n], k, err)) goto out;
        n++;
    }
    if (n == 0) {
        plow_error(err, "--rollout-keys names no key file");
        goto out;
    }
    if (a->rollout_cheat) {
        const char *colon = strchr(a->rollout_cheat, ':');
        long w;
        char num[16];
        size_t nl = colon ? (size_t)(colon - a->rollout_cheat) : 0;
        if (!colon || nl == 0 || nl >= sizeof num) {
            plow_error(err, "--rollout-cheat takes W:KIND, not '%s'", a->rollout_cheat);
            goto out;
        }
        memcpy(num, a->rollout_cheat, nl);
        num[nl] = 0;
        if (cli_int("--rollout-cheat", num, 1, n, &w, err)) goto out;
        cheats[w - 1] = colon + 1;
    }
    rc = rollout_local_new(out, keys, cheats, n, err);
out:
    for (int i = 0; i < n; i++) ledger_key_wipe(&keys[i]);
    free(list);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_args a;
    char err[PLOW_ERR_LEN];
    int prc = parse_train_args(argc, argv, &a, err);
    if (prc == 1) {
        fputs(train_help, stdout);
        fputs(train_help_kinds, stdout);
        return 0;
    }
    if (prc) return cli_usage_error("train", "%s", err);
    if (a.rollout_cheat && !a.rollout_keys) return cli_usage_error("train", "--rollout-cheat goes with --rollout-keys");
    rollout_local *ro = NULL;
    rollout_source src;
    char *fraud = NULL;
    if (a.rollout_keys) {
        if (rollout_workers(&a, &ro, err)) return cli_usage_error("train", "%s", err);
        size_t fl = strlen(a.o.out) + 8;
        fraud = plow_alloc(fl);
        snprintf(fraud, fl, "%s/fraud", a.o.out);
        src = rollout_local_source(ro, fraud);
        a.o.rollouts = &src;
    }
    int rc = -1;
    if (cli_init_engine(a.simd, a.threads, err)) {
        rc = cli_fail("%s", err);
        goto out;
    }
    train_ui ui = {.prefix = "plow train: "};
    job_hooks h = {.arg = &ui, .note = ui_note, .progress = ui_progress};
    job_train_result res;
    rc = job_train(&a.o, &h, &res, err);
    ui_end(&ui);
    if (rc) {
        rc = cli_fail("%s", err);
        goto out;
    }
    if (ro) {
        double tk, sec;
        rollout_local_generated(ro, &tk, &sec);
        fprintf(stderr, "plow train: rollout workers: %.0f completion tokens in %.3f s (%.0f tokens/s)\n", tk, sec,
                sec > 0 ? tk / sec : 0.0);
    }
    char hex[65];
    plow_hex(res.state, PLOW_HASH_LEN, hex);
    printf("state %s\n", hex);
out:
    rollout_local_free(ro);
    free(fraud);
    return rc;
}

/* ---- plow prefs ----------------------------------------------------------- */

static const char prefs_help[] =
    "usage: plow prefs generate --text FILE --out DIR [--seed S] [--train N] [--val M]\n"
    "                           [--how shuffled|other|mixed] [--val-frac F]\n"
    "       plow prefs eval --base DIR [--model DIR | --lora DIR] --pairs FILE\n"
    "                       [--beta B] [--batch B] [--seq T] [--tokenizer FILE] [--max N]\n"
    "\n"
    "generate: preference pairs from a corpus (docs/dpo.md): consecutive lines\n"
    "(prompt, continuation); chosen = the true continuation, rejected = its words\n"
    "shuffled (shuffled), a line from far away (other) or alternately (mixed).\n"
    "Pairs from the first 1 - F of the text go to DIR/train.jsonl, those from\n"
    "the rest to DIR/val.jsonl (held out: never trained on). Deterministic.\n"
    "  --text FILE     the corpus\n"
    "  --out DIR       where train.jsonl and val.jsonl go (created)\n"
    "  --seed S        (default 1)\n"
    "  --train N       training pairs (default 2000)\n"
    "  --val M         held-out pairs (default 200)\n"
    "  --how KIND      shuffled (default), other or mixed\n"
    "  --val-frac F    the held-out share of the text, 0.01..0.5 (default 0.1)\n"
    "\n"
    "eval: a model's preferences on a pair set. The policy is --model (a full\n"
    "model, e.g. a DPO run's), --lora (an adapter on --base) or, with neither,\n"
    "the base itself; the reference is --base. Prints one line:\n"
    "  pairs=N policy_accuracy=X policy_margin=X reward_accuracy=X margin=X loss=X\n"
    "policy_accuracy: the share of pairs whose chosen response the policy finds\n"
    "more likely; reward_accuracy and margin: DPO's implicit reward beta*(policy -\n"
    "reference), 0 for the base itself.\n"
    "  --beta B        (default 0.1)   --batch B   pairs per pass (default 16)\n"
    "  --seq T         row length (default 64, at most the context)\n"
    "  --max N         the first N pairs only (default all)\n";

static int prefs_generate_cmd(int argc, char **argv) {
    const char *text = NULL, *out = NULL, *how_s = "shuffled";
    uint64_t seed = 1;
    long n_train = 2000, n_val = 200;
    double val_frac = 0.1;
    char err[PLOW_ERR_LEN];
    static const struct option opts[] = {{"text", 1, 0, 't'},  {"out", 1, 0, 'o'}, {"seed", 1, 0, 's'},
                                         {"train", 1, 0, 'n'}, {"val", 1, 0, 'v'}, {"how", 1, 0, 'w'},
                                         {"val-frac", 1, 0, 'f'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 't': text = optarg; break;
        case 'o': out = optarg; break;
        case 's': rc = cli_u64("--seed", optarg, &seed, err); break;
        case 'n': rc = cli_int("--train", optarg, 1, (long)PREFS_MAX_PAIRS, &n_train, err); break;
        case 'v': rc = cli_int("--val", optarg, 1, (long)PREFS_MAX_PAIRS, &n_val, err); break;
        case 'w': how_s = optarg; break;
        case 'f': rc = cli_float("--val-frac", optarg, 0.01, 0.5, &val_frac, err); break;
        case 'h': fputs(prefs_help, stdout); return 0;
        default: return cli_usage_error("prefs generate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return cli_usage_error("prefs generate", "%s", err);
    }
    if (optind < argc) return cli_usage_error("prefs generate", "unexpected argument '%s'", argv[optind]);
    if (!text || !out) return cli_usage_error("prefs generate", "--text and --out are required");
    prefs_corruption how;
    if (strcmp(how_s, "shuffled") == 0) how = PREFS_SHUFFLED;
    else if (strcmp(how_s, "other") == 0) how = PREFS_OTHER;
    else if (strcmp(how_s, "mixed") == 0) how = PREFS_MIXED;
    else return cli_usage_error("prefs generate", "--how must be shuffled, other or mixed, not '%s'", how_s);
    uint8_t *buf;
    size_t n;
    if (plow_read_file(text, (size_t)1 << 30, &buf, &n, err)) return cli_fail("%s", err);
    plow_buf tb = {0}, vb = {0};
    int rc = prefs_generate(buf, n, seed, how, val_frac, (size_t)n_train, (size_t)n_val, &tb, &vb, err);
    free(buf);
    char *tp = NULL, *vp = NULL;
    if (rc == 0) {
        size_t len = strlen(out) + 16;
        tp = plow_alloc(len);
        vp = plow_alloc(len);
        snprintf(tp, len, "%s/train.jsonl", out);
        snprintf(vp, len, "%s/val.jsonl", out);
        rc = plow_mkdir_p(out, err);
        if (rc == 0) rc = plow_write_file(tp, tb.data, tb.len, err);
        if (rc == 0) rc = plow_write_file(vp, vb.data, vb.len, err);
    }
    if (rc == 0) printf("%ld training pairs -> %s, %ld held-out pairs -> %s (%s)\n", n_train, tp, n_val, vp, how_s);
    free(tp);
    free(vp);
    plow_buf_release(&tb);
    plow_buf_release(&vb);
    return rc ? cli_fail("%s", err) : 0;
}

static int prefs_eval_cmd(int argc, char **argv) {
    const char *base_dir = NULL, *model_dir = NULL, *lora_dir = NULL, *pairs_path = NULL, *tok_path = NULL;
    double beta = 0.1;
    long batch = 16, seq = 64, max = 0;
    char err[PLOW_ERR_LEN];
    static const struct option opts[] = {{"base", 1, 0, 'b'},  {"model", 1, 0, 'm'}, {"lora", 1, 0, 'l'},
                                         {"pairs", 1, 0, 'p'}, {"beta", 1, 0, 'B'},  {"batch", 1, 0, 'n'},
                                         {"seq", 1, 0, 'T'},   {"tokenizer", 1, 0, 'k'}, {"max", 1, 0, 'x'},
                                         {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'b': base_dir = optarg; break;
        case 'm': model_dir = optarg; break;
        case 'l': lora_dir = optarg; break;
        case 'p': pairs_path = optarg; break;
        case 'k': tok_path = optarg; break;
        case 'B': rc = cli_float("--beta", optarg, 1e-6, 100, &beta, err); break;
        case 'n': rc = cli_int("--batch", optarg, 1, 2048, &batch, err); break;
        case 'T': rc = cli_int("--seq", optarg, 2, 65536, &seq, err); break;
        case 'x': rc = cli_int("--max", optarg, 1, (long)PREFS_MAX_PAIRS, &max, err); break;
        case 'h': fputs(prefs_help, stdout); return 0;
        default: return cli_usage_error("prefs eval", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return cli_usage_error("prefs eval", "%s", err);
    }
    if (optind < argc) return cli_usage_error("prefs eval", "unexpected argument '%s'", argv[optind]);
    if (!base_dir || !pairs_path) return cli_usage_error("prefs eval", "--base and --pairs are required");
    if (model_dir && lora_dir) return cli_usage_error("prefs eval", "--model and --lora exclude each other");
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    int rc = -1;
    model *base = NULL, *pol = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    prefs *pairs = NULL;
    train_state *s = NULL;
    char e2[PLOW_ERR_LEN];
    if (modelio_load_model(&base, base_dir, err)) goto out;
    if ((tok_path ? tokenizer_load(&tok, tok_path, e2) : modelio_load_tokenizer(&tok, base_dir, e2))) {
        plow_error(err, "%s (pass --tokenizer FILE)", e2);
        goto out;
    }
    if (tokenizer_vocab_size(tok) != base->cfg.vocab) {
        plow_error(err, "the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), base->cfg.vocab);
        goto out;
    }
    if (lora_dir && modelio_load_lora(&l, base, lora_dir, err)) goto out;
    if (model_dir) {
        if (modelio_load_model(&pol, model_dir, err)) goto out;
        if (pol->n_params != base->n_params || pol->cfg.vocab != base->cfg.vocab || pol->cfg.n_layer != base->cfg.n_layer ||
            pol->cfg.d_model != base->cfg.d_model) {
            plow_error(err, "'%s' is not a model of the base's configuration", model_dir);
            goto out;
        }
    }
    if (prefs_load(&pairs, pairs_path, tok, err)) goto out;
    train_hparams hp;
    train_hparams_default(&hp, l != NULL, 1, base->cfg.ctx);
    hp.batch = (int)batch;
    hp.seq = (int)(seq < base->cfg.ctx ? seq : base->cfg.ctx);
    /* the reference is the base as loaded; then the policy's weights */
    if (train_state_new_dpo(&s, base, l, &hp, (float)beta, pairs->hash, err)) goto out;
    if (pol) memcpy(base->params, pol->params, base->n_params * sizeof(float));
    dpo_eval_stats ev;
    dpo_eval(s, pairs, (size_t)max, &ev);
    printf("pairs=%zu policy_accuracy=%.6f policy_margin=%.6f reward_accuracy=%.6f margin=%.6f loss=%.6f\n", ev.pairs,
           ev.policy_accuracy, ev.policy_margin, ev.accuracy, ev.margin, ev.loss);
    rc = 0;
out:
    train_state_free(s);
    prefs_free(pairs);
    tokenizer_free(tok);
    lora_free(l);
    model_free(pol);
    model_free(base);
    return rc ? cli_fail("%s", err) : 0;
}

int cmd_prefs(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(prefs_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "generate") == 0) return prefs_generate_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0) return prefs_eval_cmd(argc - 1, argv + 1);
    return cli_usage_error("prefs", "unknown subcommand '%s' (generate or eval)", argv[1]);
}
