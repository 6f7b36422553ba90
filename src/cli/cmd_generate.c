/*
 * cmd_generate.c — `plow generate`: text from a model (and adapter), streamed
 * to stdout as it is sampled.
 */
#include "../base/plow.h"

#include <getopt.h>

#include "../infer/infer.h"
#include "../job/work.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "../tensor/tensor.h"
#include "cli.h"

static const char generate_help[] =
    "usage: plow generate --model DIR|FILE.safetensors --prompt TEXT [options]\n"
    "\n"
    "Generates text. Sampling is seeded and deterministic: the same model, prompt,\n"
    "parameters and seed give the same tokens on every machine.\n"
    "\n"
    "  --model PATH        a model directory or its model.safetensors\n"
    "  --lora DIR          apply a LoRA adapter trained on that model\n"
    "  --tokenizer FILE    tokenizer (default: tokenizer.bin beside the model)\n"
    "  --prompt TEXT       the prompt (at least one token)\n"
    "  --tokens N          tokens to generate (default 200)\n"
    "  --seed S            sampling seed (default 1)\n"
    "  --temperature X     0 = greedy (default 0.8)\n"
    "  --top-k K           keep the K most likely tokens, 0 = all (default 40)\n"
    "  --top-p P           nucleus sampling mass, 1 = off (default 0.95)\n"
    "  --threads T         worker threads (default: all CPUs)\n"
    "  --simd PATH         scalar, avx2, avx512, neon, simd128 or auto\n"
    "  --receipt FILE      write an inference receipt that 'plow verify-receipt'\n"
    "                      checks with one prefill\n";

typedef struct gen_out {
    tokenizer *tok; /* for printing tokens; loaded lazily */
    const char *prompt;
    bool started;
} gen_out;

static void gen_note(void *arg, const char *line) {
    (void)arg;
    fprintf(stderr, "plow: %s\n", line);
}

static void gen_start(void *arg) {
    gen_out *g = arg;
    g->started = true;
    fputs(g->prompt, stdout);
}

static void print_token(void *arg, int32_t t) {
    const gen_out *g = arg;
    if (!g->tok || t == tokenizer_eot(g->tok)) return;
    const uint8_t *b;
    size_t n;
    if (tokenizer_token_bytes(g->tok, t, &b, &n) == 0) fwrite(b, 1, n, stdout);
    fflush(stdout);
}

enum { G_MODEL = 256, G_LORA, G_TOK, G_PROMPT, G_TOKENS, G_SEED, G_TEMP, G_TOPK, G_TOPP, G_THREADS, G_SIMD, G_RECEIPT, G_HELP };

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", 1, 0, G_MODEL},     {"lora", 1, 0, G_LORA},   {"tokenizer", 1, 0, G_TOK},
        {"prompt", 1, 0, G_PROMPT},   {"tokens", 1, 0, G_TOKENS}, {"seed", 1, 0, G_SEED},
        {"temperature", 1, 0, G_TEMP}, {"top-k", 1, 0, G_TOPK}, {"top-p", 1, 0, G_TOPP},
        {"threads", 1, 0, G_THREADS}, {"simd", 1, 0, G_SIMD},   {"help", 0, 0, G_HELP},
        {"receipt", 1, 0, G_RECEIPT},
        {0, 0, 0, 0}};
    job_gen_opts o = {.tokens = 200, .sampling = {0.8f, 40, 0.95f, 1}};
    const char *simd = NULL;
    long topk = 40, threads = 0;
    double temp = 0.8, topp = 0.95;
    char err[PLOW_ERR_LEN];
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case G_MODEL: o.model = optarg; break;
        case G_LORA: o.lora = optarg; break;
        case G_TOK: o.tokenizer = optarg; break;
        case G_PROMPT: o.prompt = optarg; break;
        case G_TOKENS: rc = cli_int("--tokens", optarg, 0, 1 << 20, &o.tokens, err); break;
        case G_SEED: rc = cli_u64("--seed", optarg, &o.sampling.seed, err); break;
        case G_TEMP: rc = cli_float("--temperature", optarg, 0, 100, &temp, err); break;
        case G_TOPK: rc = cli_int("--top-k", optarg, 0, 1 << 20, &topk, err); break;
        case G_TOPP: rc = cli_float("--top-p", optarg, 1e-6, 1, &topp, err); break;
        case G_THREADS: rc = cli_int("--threads", optarg, 1, 256, &threads, err); break;
        case G_SIMD: simd = optarg; break;
        case G_RECEIPT: o.receipt = optarg; break;
        case G_HELP: fputs(generate_help, stdout); return 0;
        default: return cli_usage_error("generate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return cli_usage_error("generate", "%s", err);
    }
    if (optind < argc) return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if (!o.model || !o.prompt) return cli_usage_error("generate", "--model and --prompt are required");
    if (cli_init_engine(simd, threads, err)) return cli_fail("%s", err);
    o.sampling.temperature = (float)temp;
    o.sampling.top_k = (int)topk;
    o.sampling.top_p = (float)topp;

    gen_out g = {.prompt = o.prompt};
    /* the tokenizer for printing (job_generate loads its own and reports a missing one) */
    if (o.tokenizer ? tokenizer_load(&g.tok, o.tokenizer, err) : modelio_load_tokenizer(&g.tok, o.model, err)) g.tok = NULL;
    job_hooks h = {.arg = &g, .note = gen_note, .start = gen_start, .token = print_token};
    job_gen_result res;
    int rc = job_generate(&o, &h, &res, err);
    if (g.started) fputc('\n', stdout);
    tokenizer_free(g.tok);
    if (rc) return cli_fail("%s", err);
    double dt = res.seconds;
    fprintf(stderr, "plow generate: %zu tokens in %.2fs (%.1f tokens/s, prompt %zu tokens)\n", res.n, dt,
            dt > 0 ? (double)res.n / dt : 0.0, res.n_prompt);
    if (o.receipt) fprintf(stderr, "plow generate: receipt written to %s\n", o.receipt);
    job_gen_result_release(&res);
    return 0;
}

static const char verify_receipt_help[] =
    "usage: plow verify-receipt FILE --model DIR [--lora DIR] [--tokenizer FILE] [--worker ADDR]\n"
    "\n"
    "Checks an inference receipt with one teacher-forced prefill over prompt +\n"
    "output, re-deriving every sampled token. Exits 0 if every token follows from\n"
    "the model, prompt, parameters and seed; 1 naming the first position that does\n"
    "not (or the model, adapter or tokenizer that does not match); 2 on errors.\n"
    "A signed receipt (plow serve) must carry its worker's signature over\n"
    "everything it binds (exit 1 if not); --worker ADDR requires a receipt\n"
    "signed by that worker.\n";

int cmd_verify_receipt(int argc, char **argv) {
    const char *rpath = NULL, *mpath = NULL, *lpath = NULL, *tpath = NULL, *wpath = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(verify_receipt_help, stdout);
            return 0;
        }
        const char **dst = strcmp(argv[i], "--model") == 0 ? &mpath : strcmp(argv[i], "--lora") == 0 ? &lpath
                         : strcmp(argv[i], "--tokenizer") == 0 ? &tpath
                         : strcmp(argv[i], "--worker") == 0    ? &wpath
                                                               : NULL;
        if (dst && i + 1 < argc) *dst = argv[++i];
        else if (argv[i][0] != '-' && !rpath) rpath = argv[i];
        else return cli_usage_error("verify-receipt", "unexpected argument '%s'", argv[i]);
    }
    if (!rpath || !mpath) return cli_usage_error("verify-receipt", "FILE and --model DIR are required");
    char err[PLOW_ERR_LEN];
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    receipt r = {0};
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    int rc = 2;
    if (receipt_load(&r, rpath, err) || modelio_load_model(&m, mpath, err) ||
        (lpath && modelio_load_lora(&l, m, lpath, err)) ||
        (tpath ? tokenizer_load(&tok, tpath, err) : modelio_load_tokenizer(&tok, mpath, err))) {
        fprintf(stderr, "plow: %s\n", err);
        goto done;
    }
    uint8_t want[LEDGER_PK_LEN];
    if (wpath && ledger_addr_parse(wpath, want, err)) {
        fprintf(stderr, "plow: --worker: %s\n", err);
        goto done;
    }
    if (r.has_sig && !receipt_sig_ok(&r)) {
        printf("%s: invalid: the signature is not its worker's over what the receipt binds\n", rpath);
        rc = 1;
        goto done;
    }
    if (wpath && (!r.has_sig || memcmp(want, r.worker, LEDGER_PK_LEN) != 0)) {
        printf("%s: invalid: the receipt is not signed by %s\n", rpath, wpath);
        rc = 1;
        goto done;
    }
    receipt_check c;
    if (receipt_verify(&r, m, l, tok, &c, err)) {
        fprintf(stderr, "plow: %s\n", err);
        goto done;
    }
    printf("%s: %s (checked %zu output tokens in %.3fs: prefill and re-derivation %.3fs)\n", rpath, c.reason,
           r.n_output, c.seconds, c.derive_seconds);
    if (!c.valid && c.bad_position >= 0) printf("first bad position: %ld\n", c.bad_position);
    if (r.has_sig) {
        char addr[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(r.worker, addr);
        printf("signed by %s\n", addr);
    }
    rc = c.valid ? 0 : 1;
done:
    receipt_release(&r);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}
