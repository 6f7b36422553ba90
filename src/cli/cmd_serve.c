/*
 * cmd_serve.c — `plow serve`: the OpenAI-compatible inference server
 * (docs/serve.md).
 */
#include "../base/plow.h"

#include <getopt.h>
#include <signal.h>

#include "../serve/serve.h"
#include "cli.h"

static const char serve_help[] =
    "usage: plow serve --model DIR --key FILE [options]\n"
    "\n"
    "Serves the model over HTTP with the OpenAI API: GET /v1/models,\n"
    "POST /v1/completions and /v1/chat/completions (stream: true for server-sent\n"
    "events). Every answer carries a receipt signed with the worker's key that\n"
    "'plow verify-receipt' checks with one prefill; with a seed the answer is the\n"
    "same bits on every machine. Concurrent requests are batched (their decode\n"
    "steps share one forward) without changing a single token. docs/serve.md.\n"
    "\n"
    "  --model PATH        a model directory or its model.safetensors\n"
    "  --lora DIR          serve the model with this LoRA adapter\n"
    "  --tokenizer FILE    tokenizer (default: tokenizer.bin beside the model)\n"
    "  --key FILE          the worker's key (plow wallet new): signs every receipt\n"
    "  --listen ADDR       HOST:PORT (default 127.0.0.1:8080; port 0: any free one)\n"
    "  --url-file FILE     write the server's URL there once it listens\n"
    "  --name ID           the model id clients name (default: the model's directory)\n"
    "  --price P           base units per token, prompt and output (default 0: free);\n"
    "                      requests then pay with a voucher (X-PAYMENT), or get 402\n"
    "  --node URL          the ledger node holding the payment channels (with --price)\n"
    "  --vouchers FILE     append each new latest voucher there (for plow channel redeem)\n"
    "  --max-batch N       requests decoded together at most (default 16)\n"
    "  --max-queue N       requests running or waiting at most; more get 503 (default 64)\n"
    "  --max-tokens N      output tokens per request at most (default 1024, at most the context)\n"
    "  --conns N           connections at most (default 256)\n"
    "  --conns-per-ip N    connections from one address at most (default 32)\n"
    "  --threads T         compute threads (default: all CPUs)\n"
    "  --simd PATH         scalar, avx2, avx512, neon or auto\n"
    "  --publish           (with --node) upload the card (GET /.well-known/agent-registration.json),\n"
    "                      name it in the worker's ledger profile (the node's directory lists\n"
    "                      it) and answer requests for quotes from the worker's mailbox\n"
    "  --agent-name N      the card's and profile's name (default \"plow serve\")\n"
    "  --quiet             no log lines\n"
    "  --cheat-at K        (tests) serve a wrong output token K, signed as if right\n"
    "\n"
    "Stops cleanly on SIGINT or SIGTERM (exit 0).\n";

static volatile int g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

enum {
    S_MODEL = 256, S_LORA, S_TOK, S_KEY, S_LISTEN, S_URL, S_NAME, S_PRICE, S_BATCH, S_QUEUE, S_TOKENS, S_CONNS,
    S_CONNS_IP, S_THREADS, S_SIMD, S_QUIET, S_CHEAT, S_NODE, S_VOUCHERS, S_PUBLISH, S_AGENT, S_HELP
};

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", 1, 0, S_MODEL},       {"lora", 1, 0, S_LORA},          {"tokenizer", 1, 0, S_TOK},
        {"key", 1, 0, S_KEY},           {"listen", 1, 0, S_LISTEN},      {"url-file", 1, 0, S_URL},
        {"name", 1, 0, S_NAME},         {"price", 1, 0, S_PRICE},        {"max-batch", 1, 0, S_BATCH},
        {"max-queue", 1, 0, S_QUEUE},   {"max-tokens", 1, 0, S_TOKENS},  {"conns", 1, 0, S_CONNS},
        {"conns-per-ip", 1, 0, S_CONNS_IP}, {"threads", 1, 0, S_THREADS}, {"simd", 1, 0, S_SIMD},
        {"quiet", 0, 0, S_QUIET},       {"help", 0, 0, S_HELP},          {"cheat-at", 1, 0, S_CHEAT},
        {"node", 1, 0, S_NODE},         {"vouchers", 1, 0, S_VOUCHERS},  {"publish", 0, 0, S_PUBLISH},
        {"agent-name", 1, 0, S_AGENT},
        {0, 0, 0, 0}};
    serve_opts o;
    serve_opts_default(&o);
    const char *simd = NULL;
    long threads = 0, v = 0;
    char err[PLOW_ERR_LEN];
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case S_MODEL: o.model = optarg; break;
        case S_LORA: o.lora = optarg; break;
        case S_TOK: o.tokenizer = optarg; break;
        case S_KEY: o.key = optarg; break;
        case S_LISTEN: o.listen = optarg; break;
        case S_URL: o.url_file = optarg; break;
        case S_NAME:
            if (!*optarg || strlen(optarg) > 100) return cli_usage_error("serve", "--name must be 1..100 bytes");
            o.name = optarg;
            break;
        case S_PRICE: rc = cli_u64("--price", optarg, &o.price, err); break;
        case S_BATCH: rc = cli_int("--max-batch", optarg, 1, 256, &v, err), o.max_batch = (int)v; break;
        case S_QUEUE: rc = cli_int("--max-queue", optarg, 1, 4096, &v, err), o.max_queue = (int)v; break;
        case S_TOKENS: rc = cli_int("--max-tokens", optarg, 1, 1 << 20, &v, err), o.max_tokens = (int)v; break;
        case S_CONNS: rc = cli_int("--conns", optarg, 1, 65536, &v, err), o.conns = (int)v; break;
        case S_CONNS_IP: rc = cli_int("--conns-per-ip", optarg, 1, 65536, &v, err), o.conns_per_ip = (int)v; break;
        case S_THREADS: rc = cli_int("--threads", optarg, 1, 256, &threads, err); break;
        case S_SIMD: simd = optarg; break;
        case S_QUIET: o.quiet = true; break;
        case S_NODE: o.node = optarg; break;
        case S_VOUCHERS: o.vouchers = optarg; break;
        case S_PUBLISH: o.publish = true; break;
        case S_AGENT:
            if (!*optarg || strlen(optarg) > 64) return cli_usage_error("serve", "--agent-name must be 1..64 bytes");
            o.agent_name = optarg;
            break;
        case S_CHEAT: rc = cli_int("--cheat-at", optarg, 0, 1 << 20, &v, err), o.cheat_at = (int)v; break;
        case S_HELP: fputs(serve_help, stdout); return 0;
        default: return cli_usage_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc) return cli_usage_error("serve", "%s", err);
    }
    if (optind < argc) return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!o.model || !o.key) return cli_usage_error("serve", "--model and --key are required");
    if (cli_init_engine(simd, threads, err)) return cli_fail("%s", err);
    server *s;
    if (serve_open(&s, &o, err)) return cli_fail("%s", err);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = serve_run(s, &g_stop, err);
    serve_close(s);
    if (rc) return cli_fail("%s", err);
    return 0;
}
