/*
 * cmd_generate.c — `plow generate`: text from a model (and adapter), streamed
 * to stdout as it is sampled.
 */
#include "../base/plow.h"

#include <getopt.h>

#include "../infer/infer.h"
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
    "  --simd PATH         scalar, avx2, avx512 or auto\n"
    "  --receipt FILE      write an inference receipt that 'plow verify-receipt'\n"
    "                      checks with one prefill\n";

typedef struct gen_out {
    const tokenizer *tok;
} gen_out;

static void print_token(void *ctx, int32_t t) {
    const gen_out *g = ctx;
    if (t == tokenizer_eot(g->tok)) return;
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
    const char *mpath = NULL, *lpath = NULL, *tpath = NULL, *prompt = NULL, *simd = NULL, *rpath = NULL;
    long ntok = 200, topk = 40, threads = 0;
    double temp = 0.8, topp = 0.95;
    uint64_t seed = 1;
    char err[PLOW_ERR_LEN];
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case G_MODEL: mpath = optarg; break;
        case G_LORA: lpath = optarg; break;
        case G_TOK: tpath = optarg; break;
        case G_PROMPT: prompt = optarg; break;
        case G_TOKENS: rc = cli_int("--tokens", optarg, 0, 1 << 20, &ntok, err); break;
        case G_SEED: rc = cli_u64("--seed", optarg, &seed, err); break;
        case G_TEMP: rc = cli_float("--temperature", optarg, 0, 100, &temp, err); break;
        case G_TOPK: rc = cli_int("--top-k", optarg, 0, 1 << 20, &topk, err); break;
        case G_TOPP: rc = cli_float("--top-p", optarg, 1e-6, 1, &topp, err); break;
        case G_THREADS: rc = cli_int("--threads", optarg, 1, 256, &threads, err); break;
        case G_SIMD: simd = optarg; break;
        case G_RECEIPT: rpath = optarg; break;
        case G_HELP: fputs(generate_help, stdout); return 0;
        default: return cli_usage_error("generate", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return cli_usage_error("generate", "%s", err);
    }
    if (optind < argc) return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    if (!mpath || !prompt) return cli_usage_error("generate", "--model and --prompt are required");
    if (cli_init_engine(simd, threads, err)) return cli_fail("%s", err);

    int rc = 1;
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    infer_session *s = NULL;
    int32_t *ids = NULL, *out = NULL;
    size_t nids = 0;
    if (modelio_load_model(&m, mpath, err)) {
        cli_fail("%s", err);
        goto done;
    }
    if (lpath && modelio_load_lora(&l, m, lpath, err)) {
        cli_fail("%s", err);
        goto done;
    }
    if ((tpath ? tokenizer_load(&tok, tpath, err) : modelio_load_tokenizer(&tok, mpath, err))) {
        cli_fail("%s (pass --tokenizer FILE)", err);
        goto done;
    }
    if (tokenizer_vocab_size(tok) != m->cfg.vocab) {
        cli_fail("the tokenizer has %d tokens but the model has %d", tokenizer_vocab_size(tok), m->cfg.vocab);
        goto done;
    }
    if (tokenizer_encode(tok, (const uint8_t *)prompt, strlen(prompt), &ids, &nids, err)) {
        cli_fail("%s", err);
        goto done;
    }
    if (nids == 0) {
        cli_fail("the prompt is empty: give at least one character");
        goto done;
    }
    if (nids >= (size_t)m->cfg.ctx) {
        cli_fail("the prompt has %zu tokens; the model's context is %d", nids, m->cfg.ctx);
        goto done;
    }
    if ((size_t)ntok > (size_t)m->cfg.ctx - nids) {
        fprintf(stderr, "plow: only %zu tokens fit in the context after the prompt; generating that many\n",
                (size_t)m->cfg.ctx - nids);
        ntok = (long)((size_t)m->cfg.ctx - nids);
    }
    if (infer_session_new(&s, m, l, m->cfg.ctx, err)) {
        cli_fail("%s", err);
        goto done;
    }
    infer_sampling sp = {(float)temp, (int)topk, (float)topp, seed};
    out = plow_alloc(sizeof(int32_t) * (size_t)(ntok + 1));
    gen_out g = {tok};
    fputs(prompt, stdout);
    double t0 = plow_now();
    int n = infer_generate(s, ids, (int)nids, (int)ntok, &sp, tokenizer_eot(tok), out, print_token, &g, err);
    double dt = plow_now() - t0;
    fputc('\n', stdout);
    if (n < 0) {
        cli_fail("%s", err);
        goto done;
    }
    fprintf(stderr, "plow generate: %d tokens in %.2fs (%.1f tokens/s, prompt %zu tokens)\n", n, dt,
            dt > 0 ? n / dt : 0.0, nids);
    if (rpath) {
        receipt r;
        receipt_make(&r, m, l, tok, &sp, ids, nids, out, (size_t)n);
        int wrc = receipt_save(&r, rpath, err);
        receipt_release(&r);
        if (wrc) {
            cli_fail("%s", err);
            goto done;
        }
        fprintf(stderr, "plow generate: receipt written to %s\n", rpath);
    }
    rc = 0;
done:
    free(ids);
    free(out);
    infer_session_free(s);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}

static const char verify_receipt_help[] =
    "usage: plow verify-receipt FILE --model DIR [--lora DIR] [--tokenizer FILE]\n"
    "\n"
    "Checks an inference receipt with one teacher-forced prefill over prompt +\n"
    "output, re-deriving every sampled token. Exits 0 if every token follows from\n"
    "the model, prompt, parameters and seed; 1 naming the first position that does\n"
    "not (or the model, adapter or tokenizer that does not match); 2 on errors.\n";

int cmd_verify_receipt(int argc, char **argv) {
    const char *rpath = NULL, *mpath = NULL, *lpath = NULL, *tpath = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(verify_receipt_help, stdout);
            return 0;
        }
        const char **dst = strcmp(argv[i], "--model") == 0 ? &mpath : strcmp(argv[i], "--lora") == 0 ? &lpath
                         : strcmp(argv[i], "--tokenizer") == 0 ? &tpath : NULL;
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
    receipt_check c;
    if (receipt_verify(&r, m, l, tok, &c, err)) {
        fprintf(stderr, "plow: %s\n", err);
        goto done;
    }
    printf("%s: %s (checked %zu output tokens in %.3fs: prefill and re-derivation %.3fs)\n", rpath, c.reason,
           r.n_output, c.seconds, c.derive_seconds);
    if (!c.valid && c.bad_position >= 0) printf("first bad position: %ld\n", c.bad_position);
    rc = c.valid ? 0 : 1;
done:
    receipt_release(&r);
    tokenizer_free(tok);
    lora_free(l);
    model_free(m);
    return rc;
}
