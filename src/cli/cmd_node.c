/*
 * cmd_node.c — plow node: run a ledger node (sequencer, or follower with
 * --follow URL), and plow node init: an operator key and a genesis file for a
 * new chain (demos, tests, a first local network).
 *
 * Exit codes: 0 clean stop (SIGINT/SIGTERM), 1 error, 2 usage, 3 a follower
 * found the sequencer's chain wrong (state root mismatch and the like).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../ledger/ledger.h"
#include "../node/node.h"
#include "cli.h"

static const char node_help[] =
    "usage: plow node --data DIR [options]            run a node\n"
    "       plow node init --data DIR --out-genesis FILE [options]\n"
    "\n"
    "Runs the ledger node: the HTTP API of docs/api.md, the mempool, a block\n"
    "every interval (signed with the operator key) and the referee. With\n"
    "--follow URL it is a follower instead: it replays the sequencer's blocks,\n"
    "checks every signature, result and state root, and serves the same API\n"
    "read-only. A transaction is acknowledged (202) only once it is on disk;\n"
    "a node killed at any moment restarts where it was.\n"
    "\n"
    "options:\n"
    "  --data DIR            data directory: ledger.db, blobs/, genesis.json, operator.key\n"
    "  --listen ADDR         HOST:PORT to serve (default 127.0.0.1:7545; port 0 picks one,\n"
    "                        written to DIR/node.url)\n"
    "  --genesis FILE        the chain's genesis (first start only; later starts read DIR)\n"
    "  --follow URL          follow the sequencer at URL (fetches its genesis on first start)\n"
    "  --block-ms N          block interval in ms (default 500; blocks are made even when empty)\n"
    "  --max-block-txs N     transactions per block at most (default 20000)\n"
    "  --max-blob BYTES      largest blob accepted (default 1073741824)\n"
    "  --max-conns-per-ip N  HTTP connections from one address at once (default 128)\n"
    "  --sse-max-s N         an event stream ends after N s (default 600; clients resume\n"
    "                        with Last-Event-ID)\n"
    "  --blob-per-unit BYTES upload quota per unit of an account's balance + stake\n"
    "                        (default 65536)\n"
    "  --disk-reserve BYTES  refuse uploads that would leave less free disk (default 1073741824)\n"
    "  --blob-retention-s N  a blob no live task references is kept N s (default 604800)\n"
    "  --blob-gc-s N         scrub (re-hash) every blob and collect, every N s (default 3600)\n"
    "  --operator-key FILE   the sequencer's key (default DIR/operator.key); it must be the\n"
    "                        genesis operator\n"
    "  --no-referee          do not rule on challenges (another process does, or nobody)\n"
    "  --quiet               no log line per block\n"
    "  --wasm FILE           plow.wasm to serve at /plow.wasm for the explorer's \"verify in\n"
    "                        your browser\" (default: wasm/plow.wasm next to this binary,\n"
    "                        `make wasm`'s output, when it exists)\n"
    "  --chain URL           also index plow's contracts on the EVM chain at URL (JSON-RPC)\n"
    "                        into DIR/chain.db and serve them: /v1/status, /v1/tasks,\n"
    "                        /v1/task/ID, /v1/account/ADDR (or 0x...), /v1/challenge/ID answer\n"
    "                        from the chain; blobs stay here, an EVM task's are kept while\n"
    "                        it is live (docs/evm.md)\n"
    "  --deployment FILE     with --chain: the deployment file plow deploy wrote\n"
    "  --confirmations N     with --chain: index blocks N below the head (default 2); a\n"
    "                        reorg of what was indexed is rolled back\n"
    "  --chain-poll-ms N     with --chain: how often to look for new blocks (default 500)\n"
    "\n"
    "plow node init: creates DIR/operator.key (or reuses it) and writes a genesis\n"
    "whose operator is that key:\n"
    "  --out-genesis FILE    where to write the genesis (refuses to overwrite)\n"
    "  --chain NAME          chain name (default plow-local)\n"
    "  --fund ADDR=AMOUNT[:STAKE]   an account at genesis (repeatable)\n"
    "  --fund-file FILE      one ADDR=AMOUNT[:STAKE] per line\n"
    "  --operator-fund N     the operator's own balance (default 1000000: it pays verdict fees)\n"
    "  --min-fee N           (default 1)   --unbond-blocks N (default 20)\n"
    "  --verdict-blocks N    (default 50)  --slash-pct N (default 50)  --bond-pct N (default 50)\n"
    "\n"
    "exit status: 0 stopped cleanly (SIGINT/SIGTERM), 1 error, 2 bad usage,\n"
    "3 a follower found the sequencer's chain wrong.\n"
    "\n"
    "example:\n"
    "  plow node init --data n1 --out-genesis genesis.json --fund $(plow wallet show -q)=1000000\n"
    "  plow node --data n1 --genesis genesis.json &\n"
    "  plow node --data n2 --listen 127.0.0.1:7546 --follow http://127.0.0.1:7545\n";

static node *g_node;

static void on_signal(int sig) {
    (void)sig;
    node_stop(g_node);
}

/* ---- plow node init ---------------------------------------------------------------- */

typedef struct fund {
    uint8_t pk[32];
    uint64_t balance, stake;
} fund;

static int parse_amount(const char *what, const char *s, size_t len, uint64_t *out, char err[PLOW_ERR_LEN]) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return plow_error(err, "%s: expected an amount, got '%.*s'", what, (int)len, s);
    memcpy(buf, s, len);
    buf[len] = 0;
    return cli_u64(what, buf, out, err);
}

/* "ADDR=AMOUNT[:STAKE]" */
static int parse_fund(const char *s, fund *f, char err[PLOW_ERR_LEN]) {
    const char *eq = strchr(s, '=');
    if (!eq) return plow_error(err, "--fund '%s': expected ADDR=AMOUNT[:STAKE]", s);
    char addr[LEDGER_ADDR_STR_LEN + 8];
    size_t al = (size_t)(eq - s);
    if (al >= sizeof addr) return plow_error(err, "--fund '%.40s…': not an address", s);
    memcpy(addr, s, al);
    addr[al] = 0;
    if (ledger_addr_parse(addr, f->pk, err) != 0) return plow_error_prefix(err, "--fund");
    const char *colon = strchr(eq + 1, ':');
    size_t bl = colon ? (size_t)(colon - eq - 1) : strlen(eq + 1);
    if (parse_amount("--fund balance", eq + 1, bl, &f->balance, err) != 0) return -1;
    f->stake = 0;
    if (colon && parse_amount("--fund stake", colon + 1, strlen(colon + 1), &f->stake, err) != 0) return -1;
    return 0;
}

static void add_fund(fund **fs, size_t *n, const fund *f) {
    for (size_t i = 0; i < *n; i++)
        if (memcmp((*fs)[i].pk, f->pk, 32) == 0) { /* the same account twice: add up */
            (*fs)[i].balance += f->balance;
            (*fs)[i].stake += f->stake;
            return;
        }
    *fs = plow_realloc(*fs, (*n + 1) * sizeof **fs);
    (*fs)[(*n)++] = *f;
}

static void add_amount(cJSON *o, const char *k, uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    cJSON_AddStringToObject(o, k, b);
}

/* The accounts a --fund-file names, one `ADDR=AMOUNT[:STAKE]` a line
 * ('#' comments and blank lines skipped), appended to *fs. */
static int read_fund_file(const char *path, fund **fs, size_t *nf) {
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t len;
    if (plow_read_file(path, (size_t)64 << 20, &buf, &len, err) != 0) return cli_fail("%s", err);
    char *text = plow_alloc(len + 1);
    memcpy(text, buf, len);
    text[len] = 0;
    free(buf);
    int line = 0, rc = 0;
    for (char *l = text, *next; l; l = next) { /* not strtok: blank lines count */
        next = strchr(l, '\n');
        if (next) *next++ = 0;
        line++;
        size_t ll = strlen(l);
        while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ')) l[--ll] = 0;
        if (!ll || l[0] == '#') continue;
        fund f;
        if (parse_fund(l, &f, err) != 0) {
            rc = cli_fail("%s line %d: %s", path, line, err);
            break;
        }
        add_fund(fs, nf, &f);
    }
    free(text);
    return rc;
}

/* The terms `plow node init` was given. */
typedef struct init_opts {
    const char *data, *out, *chain;
    uint64_t op_fund, min_fee, unbond, verdict, slash, bond;
    fund *fs;
    size_t nf;
} init_opts;

static int init_parse(int argc, char **argv, init_opts *o) {
    char err[PLOW_ERR_LEN];
    for (int i = 2; i < argc; i += 2) { /* every option of init takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t *num = NULL;
        if (strcmp(a, "--operator-fund") == 0) num = &o->op_fund;
        else if (strcmp(a, "--min-fee") == 0) num = &o->min_fee;
        else if (strcmp(a, "--unbond-blocks") == 0) num = &o->unbond;
        else if (strcmp(a, "--verdict-blocks") == 0) num = &o->verdict;
        else if (strcmp(a, "--slash-pct") == 0) num = &o->slash;
        else if (strcmp(a, "--bond-pct") == 0) num = &o->bond;
        if (!v && (num || !strcmp(a, "--data") || !strcmp(a, "--out-genesis") || !strcmp(a, "--chain") ||
                   !strcmp(a, "--fund") || !strcmp(a, "--fund-file")))
            return cli_usage_error("node init", "%s needs a value", a);
        if (num) {
            if (cli_u64(a, v, num, err) != 0) return cli_usage_error("node init", "%s", err);
        } else if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--out-genesis") == 0) {
            o->out = v;
        } else if (strcmp(a, "--chain") == 0) {
            o->chain = v;
        } else if (strcmp(a, "--fund") == 0) {
            fund f;
            if (parse_fund(v, &f, err) != 0) return cli_usage_error("node init", "%s", err);
            add_fund(&o->fs, &o->nf, &f);
        } else if (strcmp(a, "--fund-file") == 0) {
            int rc = read_fund_file(v, &o->fs, &o->nf);
            if (rc) return rc;
        } else {
            return cli_usage_error("node init", "unknown option '%s'", a);
        }
    }
    if (!o->data || !o->out) return cli_usage_error("node init", "--data DIR and --out-genesis FILE are required");
    if (o->slash > 100 || o->bond > 100)
        return cli_usage_error("node init", "--slash-pct and --bond-pct are percentages (0..100)");
    return 0;
}

/* DATA/operator.key: the one there, or a new one. */
static int operator_key(const char *data, ledger_key *k, bool *reused, char kpath[4096]) {
    char err[PLOW_ERR_LEN];
    if (ledger_crypto_init(err) != 0 || plow_mkdir_p(data, err) != 0) return cli_fail("%s", err);
    snprintf(kpath, 4096, "%s/operator.key", data);
    *reused = plow_file_exists(kpath);
    if (*reused) {
        if (ledger_key_load(k, kpath, err) != 0) return cli_fail("%s: %s", kpath, err);
        return 0;
    }
    ledger_key_generate(k);
    if (ledger_key_save(k, kpath, err) != 0) {
        ledger_key_wipe(k);
        return cli_fail("%s", err);
    }
    return 0;
}

/* The genesis file's text (docs/formats/genesis.md). */
static void genesis_text(const init_opts *o, const char *op, plow_buf *b) {
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "chain", o->chain);
    add_amount(g, "time_ms", (uint64_t)time(NULL) * 1000u);
    cJSON_AddStringToObject(g, "operator", op);
    cJSON *p = cJSON_AddObjectToObject(g, "params");
    add_amount(p, "unbond_blocks", o->unbond);
    add_amount(p, "verdict_blocks", o->verdict);
    add_amount(p, "min_fee", o->min_fee);
    cJSON_AddNumberToObject(p, "slash_challenger_pct", (double)o->slash);
    cJSON_AddNumberToObject(p, "bond_accused_pct", (double)o->bond);
    cJSON *accs = cJSON_AddArrayToObject(g, "accounts");
    for (size_t i = 0; i < o->nf; i++) {
        cJSON *a = cJSON_CreateObject();
        char addr[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(o->fs[i].pk, addr);
        cJSON_AddStringToObject(a, "address", addr);
        add_amount(a, "balance", o->fs[i].balance);
        add_amount(a, "stake", o->fs[i].stake);
        cJSON_AddItemToArray(accs, a);
    }
    char *text = cJSON_Print(g);
    cJSON_Delete(g);
    plow_buf_printf(b, "%s\n", text);
    free(text);
}

static int cmd_node_init(int argc, char **argv) {
    init_opts o = {.chain = "plow-local", .op_fund = 1000000, .min_fee = 1, .unbond = 20, .verdict = 50, .slash = 50,
                   .bond = 50};
    char err[PLOW_ERR_LEN], kpath[4096];
    ledger_key k;
    bool reused = false, have_key = false;
    plow_buf b = {0};
    ledger_genesis gen;
    memset(&gen, 0, sizeof gen);
    int rc = init_parse(argc, argv, &o);
    if (rc) goto out;
    rc = 1;
    if (plow_file_exists(o.out)) {
        cli_fail("%s exists: a genesis is never overwritten (remove it first, or pick another name)", o.out);
        goto out;
    }
    if (operator_key(o.data, &k, &reused, kpath)) goto out;
    have_key = true;
    if (o.op_fund) {
        fund f = {.balance = o.op_fund};
        memcpy(f.pk, k.pk, 32);
        add_fund(&o.fs, &o.nf, &f);
    }
    char op[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(k.pk, op);
    genesis_text(&o, op, &b);
    if (ledger_genesis_parse(&gen, b.data, b.len, err) != 0) { /* e.g. a total above 2^64-1 */
        cli_fail("the genesis would be refused: %s", err);
        goto out;
    }
    if (plow_write_file(o.out, b.data, b.len, err) != 0) {
        cli_fail("%s", err);
        goto out;
    }
    char cid[65];
    plow_hex(gen.chain_id, 32, cid);
    printf("operator key %s (%s%s)\n", kpath, op, reused ? ", reused" : "");
    printf("genesis %s: chain '%s', id %s, %zu accounts, supply %llu\n", o.out, o.chain, cid, o.nf,
           (unsigned long long)gen.supply);
    rc = 0;
out:
    ledger_genesis_release(&gen);
    plow_buf_release(&b);
    if (have_key) ledger_key_wipe(&k);
    free(o.fs);
    return rc;
}

/* ---- plow node ------------------------------------------------------------------------ */

int cmd_node(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(node_help, stdout);
            return 0;
        }
    if (argc >= 2 && strcmp(argv[1], "init") == 0) return cmd_node_init(argc, argv);
    int first = argc >= 2 && strcmp(argv[1], "run") == 0 ? 2 : 1;

    node_options o = {.block_ms = 500, .max_block_txs = 20000, .max_blob = BLOB_MAX_DEFAULT, .referee = true,
                      .chain_confirmations = 2, .chain_poll_ms = 500};
    char err[PLOW_ERR_LEN];
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-referee") == 0) {
            o.referee = false;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
            continue;
        }
        const char **sval = NULL;
        if (strcmp(a, "--data") == 0) sval = &o.data_dir;
        else if (strcmp(a, "--listen") == 0) sval = &o.listen;
        else if (strcmp(a, "--genesis") == 0) sval = &o.genesis;
        else if (strcmp(a, "--follow") == 0) sval = &o.follow;
        else if (strcmp(a, "--operator-key") == 0) sval = &o.operator_key;
        else if (strcmp(a, "--chain") == 0) sval = &o.chain_rpc;
        else if (strcmp(a, "--deployment") == 0) sval = &o.chain_deployment;
        else if (strcmp(a, "--wasm") == 0) sval = &o.wasm;
        bool num = !sval && (strcmp(a, "--block-ms") == 0 || strcmp(a, "--max-block-txs") == 0 ||
                             strcmp(a, "--max-blob") == 0 || strcmp(a, "--max-conns-per-ip") == 0 ||
                             strcmp(a, "--sse-max-s") == 0 || strcmp(a, "--blob-per-unit") == 0 ||
                             strcmp(a, "--disk-reserve") == 0 || strcmp(a, "--blob-retention-s") == 0 ||
                             strcmp(a, "--blob-gc-s") == 0 || strcmp(a, "--confirmations") == 0 ||
                             strcmp(a, "--chain-poll-ms") == 0);
        if (!sval && !num) return cli_usage_error("node", "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("node", "%s needs a value", a);
        const char *v = argv[++i];
        if (sval) {
            *sval = v;
            continue;
        }
        long lv;
        uint64_t uv;
        if (strcmp(a, "--block-ms") == 0) {
            if (cli_int(a, v, 10, 600000, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.block_ms = (uint32_t)lv;
        } else if (strcmp(a, "--max-block-txs") == 0) {
            if (cli_int(a, v, 1, 1000000, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.max_block_txs = (uint32_t)lv;
        } else if (strcmp(a, "--max-conns-per-ip") == 0) {
            if (cli_int(a, v, 1, 65536, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.max_conns_per_ip = (uint32_t)lv;
        } else if (strcmp(a, "--blob-per-unit") == 0 || strcmp(a, "--disk-reserve") == 0 ||
                   strcmp(a, "--blob-retention-s") == 0) {
            if (cli_u64(a, v, &uv, err) != 0 || uv == 0) return cli_usage_error("node", "%s expects a number > 0", a);
            if (strcmp(a, "--blob-per-unit") == 0) o.blob_per_unit = uv;
            else if (strcmp(a, "--disk-reserve") == 0) o.disk_reserve = uv;
            else o.blob_retention_s = uv;
        } else if (strcmp(a, "--blob-gc-s") == 0) {
            if (cli_int(a, v, 1, 86400 * 30, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.blob_gc_s = (uint32_t)lv;
        } else if (strcmp(a, "--confirmations") == 0) {
            if (cli_int(a, v, 0, 1000, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.chain_confirmations = (uint32_t)lv;
        } else if (strcmp(a, "--chain-poll-ms") == 0) {
            if (cli_int(a, v, 10, 600000, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.chain_poll_ms = (uint32_t)lv;
        } else if (strcmp(a, "--sse-max-s") == 0) {
            if (cli_int(a, v, 1, 86400, &lv, err) != 0) return cli_usage_error("node", "%s", err);
            o.sse_max_s = (uint32_t)lv;
        } else {
            if (cli_u64(a, v, &uv, err) != 0 || uv == 0) return cli_usage_error("node", "--max-blob expects bytes > 0");
            o.max_blob = uv;
        }
    }
    if (!o.data_dir) return cli_usage_error("node", "--data DIR is required");
    if (o.follow && o.operator_key) return cli_usage_error("node", "a follower (--follow) signs nothing: drop --operator-key");
    if (!o.chain_rpc != !o.chain_deployment) return cli_usage_error("node", "--chain URL and --deployment FILE go together");
    if (o.chain_rpc && o.follow) return cli_usage_error("node", "--chain indexes an EVM chain: not with --follow");

    char wasm_default[4096 + 32];
    if (o.wasm) {
        o.wasm_required = true;
    } else { /* BUILD/plow serves BUILD/wasm/plow.wasm when `make wasm` made it */
        ssize_t l = readlink("/proc/self/exe", wasm_default, 4096);
        if (l > 0) wasm_default[l] = 0;
        char *slash = l > 0 ? strrchr(wasm_default, '/') : NULL;
        if (slash) {
            snprintf(slash, sizeof wasm_default - (size_t)(slash - wasm_default), "/wasm/plow.wasm");
            o.wasm = wasm_default;
        }
    }
    node *n;
    /* the referee re-executes steps: the best SIMD path and every core */
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    if (node_open(&n, &o, err) != 0) return cli_fail("%s", err);
    g_node = n;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = node_run(n, err);
    bool diverged = node_diverged(n);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    g_node = NULL;
    node_close(n);
    if (rc != 0) {
        cli_fail("%s", err);
        return diverged ? 3 : 1;
    }
    return 0;
}
