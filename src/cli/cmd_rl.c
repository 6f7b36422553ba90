/*
 * cmd_rl.c — `plow rl`: problems with checkable answers (generate, eval).
 * Training with the RL step is `plow train --rl` (docs/rl.md).
 */
#include "../base/plow.h"

#include <getopt.h>

#include "../data/problems.h"
#include "../model/modelio.h"
#include "../train/rl.h"
#include "cli.h"

static const char rl_help[] =
    "usage: plow rl problems [--kinds LIST] [--digits A[-B]] [--split train|heldout]\n"
    "                        [--seed S] [--n N] [--start I] [--answers] [--out FILE]\n"
    "       plow rl eval --model DIR [--lora DIR] [--kinds LIST] [--digits A[-B]]\n"
    "                    [--split heldout|train] [--seed S] [--n N] [--max-new M]\n"
    "\n"
    "Arithmetic problems whose answers can be checked exactly (docs/rl.md), drawn\n"
    "from a seed so nobody picks easy ones: 'Q: 37+85= A:' answered ' 122'.\n"
    "Every problem belongs to one split (train or held-out) by the hash of its\n"
    "text, so held-out problems never appear in any training set.\n"
    "\n"
    "problems: prints problems I..I+N-1 of the set, one a line: the prompt, or\n"
    "with --answers the worked example 'prompt answer' (a corpus for the\n"
    "supervised stage: plow train --data FILE).\n"
    "eval: greedy exact-match accuracy of a model (or a LoRA adapter on it) on\n"
    "problems 0..N-1, overall and per difficulty. Prints\n"
    "  accuracy=X n=N d1=X d2=X ...\n"
    "\n"
    "  --kinds LIST    add, sub, mul, cmp, lin, comma-separated, or all (default add)\n"
    "  --digits A[-B]  operand digits, 1..6 (default 1-2)\n"
    "  --split NAME    train or heldout (default: train for problems, heldout for eval)\n"
    "  --seed S        which problems (default 1)\n"
    "  --n N           how many (default 1000; eval 200)\n"
    "  --start I       first index (problems; default 0)\n"
    "  --answers       print worked examples (prompt and answer)\n"
    "  --out FILE      write there instead of standard output\n"
    "  --max-new M     tokens a completion may take (eval; default 8)\n"
    "  --threads T, --simd PATH   as plow train\n";

typedef struct rl_args {
    problem_set ps;
    bool split_set, answers;
    long n, max_new, threads;
    uint64_t start;
    const char *out, *model, *lora, *simd;
} rl_args;

static int parse_rl_args(int argc, char **argv, bool eval, rl_args *a, char err[PLOW_ERR_LEN]) {
    static const struct option opts[] = {
        {"kinds", 1, 0, 'k'}, {"digits", 1, 0, 'd'}, {"split", 1, 0, 'p'}, {"seed", 1, 0, 's'},
        {"n", 1, 0, 'n'},     {"start", 1, 0, 'i'},  {"answers", 0, 0, 'a'}, {"out", 1, 0, 'o'},
        {"model", 1, 0, 'm'}, {"lora", 1, 0, 'l'},   {"max-new", 1, 0, 'x'}, {"threads", 1, 0, 't'},
        {"simd", 1, 0, 'S'},  {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->ps = (problem_set){1u << PROBLEM_ADD, 1, 2, eval ? PROBLEM_HELDOUT : PROBLEM_TRAIN, 1};
    a->n = eval ? 200 : 1000;
    a->max_new = 8;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'k': rc = problem_parse_kinds(optarg, &a->ps.kinds, err); break;
        case 'd': rc = problem_parse_digits(optarg, &a->ps, err); break;
        case 'p':
            if (strcmp(optarg, "train") == 0) a->ps.split = PROBLEM_TRAIN;
            else if (strcmp(optarg, "heldout") == 0) a->ps.split = PROBLEM_HELDOUT;
            else rc = plow_error(err, "--split must be train or heldout, not '%s'", optarg);
            break;
        case 's': rc = cli_u64("--seed", optarg, &a->ps.seed, err); break;
        case 'n': rc = cli_int("--n", optarg, 1, 100000000, &a->n, err); break;
        case 'i': rc = cli_u64("--start", optarg, &a->start, err); break;
        case 'a': a->answers = true; break;
        case 'o': a->out = optarg; break;
        case 'm': a->model = optarg; break;
        case 'l': a->lora = optarg; break;
        case 'x': rc = cli_int("--max-new", optarg, 1, RL_MAX_NEW, &a->max_new, err); break;
        case 't': rc = cli_int("--threads", optarg, 1, 256, &a->threads, err); break;
        case 'S': a->simd = optarg; break;
        case 'h': return 1;
        default: return plow_error(err, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return -1;
    }
    if (optind < argc) return plow_error(err, "unexpected argument '%s'", argv[optind]);
    if (eval && !a->model) return plow_error(err, "--model DIR is required");
    return problem_set_check(&a->ps, err);
}

static int problems_cmd(int argc, char **argv) {
    rl_args a;
    char err[PLOW_ERR_LEN];
    int prc = parse_rl_args(argc, argv, false, &a, err);
    if (prc == 1) {
        fputs(rl_help, stdout);
        return 0;
    }
    if (prc) return cli_usage_error("rl problems", "%s", err);
    plow_buf b = {0};
    for (long i = 0; i < a.n; i++) {
        problem p;
        problem_get(&a.ps, a.start + (uint64_t)i, &p);
        plow_buf_append(&b, p.prompt, strlen(p.prompt));
        if (a.answers) plow_buf_append(&b, p.answer, strlen(p.answer));
        plow_buf_append(&b, "\n", 1);
    }
    int rc = 0;
    if (a.out) {
        if (plow_write_file(a.out, b.data, b.len, err)) rc = cli_fail("%s", err);
    } else if (fwrite(b.data, 1, b.len, stdout) != b.len) {
        rc = cli_fail("cannot write to standard output");
    }
    plow_buf_release(&b);
    return rc;
}

static int eval_cmd(int argc, char **argv) {
    rl_args a;
    char err[PLOW_ERR_LEN];
    int prc = parse_rl_args(argc, argv, true, &a, err);
    if (prc == 1) {
        fputs(rl_help, stdout);
        return 0;
    }
    if (prc) return cli_usage_error("rl eval", "%s", err);
    if (cli_init_engine(a.simd, a.threads, err)) return cli_fail("%s", err);
    model *m = NULL;
    lora *l = NULL;
    tokenizer *tok = NULL;
    int rc = 1;
    if (modelio_load_model(&m, a.model, err) || modelio_load_tokenizer(&tok, a.model, err) ||
        (a.lora && modelio_load_lora(&l, m, a.lora, err))) {
        cli_fail("%s", err);
        goto out;
    }
    double acc, per[PROBLEM_MAX_DIGITS];
    if (rl_eval(m, l, tok, &a.ps, (size_t)a.n, (int)a.max_new, &acc, per, err)) {
        cli_fail("%s", err);
        goto out;
    }
    printf("accuracy=%.4f n=%ld", acc, a.n);
    for (int d = 0; d < PROBLEM_MAX_DIGITS; d++)
        if (per[d] >= 0) printf(" d%d=%.4f", d + 1, per[d]);
    printf("\n");
    rc = 0;
out:
    lora_free(l);
    tokenizer_free(tok);
    model_free(m);
    return rc;
}

int cmd_rl(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(rl_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "problems") == 0) return problems_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0) return eval_cmd(argc - 1, argv + 1);
    return cli_usage_error("rl", "unknown subcommand '%s' (problems, eval)", argv[1]);
}
