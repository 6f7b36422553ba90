/*
 * cmd_evm.c — plow deploy: plow's contracts onto an EVM chain (docs/evm.md).
 * The deployer's key signs every creation itself (EIP-1559, no unlocked
 * node account); the deployment file it writes (chain id, addresses, the
 * block, the parameters) is what agents and nodes are given with
 * --deployment.
 */
#include "../base/plow.h"

#include <inttypes.h>
#include <unistd.h>

#include "../agent/agent.h"
#include "../evm/chain.h"
#include "cli.h"
#include "cli_net.h"

static const char deploy_help[] =
    "usage: plow deploy --rpc URL --keystore FILE [--token ADDR] [--referee ADDR] [--out FILE] [options]\n"
    "\n"
    "Deploys plow's contracts on the EVM chain at URL, every transaction signed\n"
    "by the key in FILE: TestToken (unless --token names the ERC-20 the network\n"
    "settles in), RefereeJudge (the referee's key fixed in it), Plow (which\n"
    "creates PlowDisputes) and MerkleCheck. Writes the deployment file (JSON:\n"
    "chain id, the addresses, the block Plow was created in, the parameters)\n"
    "to --out (default deployment.json) and prints it.\n"
    "\n"
    "options:\n"
    "  --rpc URL               the chain's JSON-RPC endpoint (required)\n"
    "  --keystore FILE         the deployer's key: a keystore v3 file (password in\n"
    "                          $PLOW_KEY_PASSWORD) or 0x + 64 hex digits (required)\n"
    "  --token ADDR            settle in this ERC-20 (default: deploy a TestToken\n"
    "                          whose minter is the deployer)\n"
    "  --mint ADDR=AMOUNT      with a TestToken only: mint AMOUNT base units to ADDR\n"
    "                          (repeatable)\n"
    "  --referee ADDR          the referee's address (default: the deployer's)\n"
    "  --contracts DIR         the compiled contracts (default $PLOW_CONTRACTS, else\n"
    "                          the directory 'contracts' beside the plow binary)\n"
    "  --out FILE              where to write the deployment (default deployment.json)\n"
    "  --unbond-blocks N       unbonding delay (default 100)\n"
    "  --verdict-blocks N      the referee's time to rule, a data answer's deadline\n"
    "                          (default 50)\n"
    "  --bond-floor N          the least bond of any challenge (default 10)\n"
    "  --slash-pct N           a slash's share to the challenger, % (default 50)\n"
    "  --bond-pct N            a lost bond's share to the accused, % (default 50)\n"
    "\n"
    "example:\n"
    "  plow deploy --rpc http://127.0.0.1:8545 --keystore deployer.json --out net.json\n";

#define DEPLOY_MAX_MINTS 32

static int contracts_dir(const char *opt, char *out, size_t n, char err[PLOW_ERR_LEN]) {
    const char *env = getenv("PLOW_CONTRACTS");
    if (opt) return snprintf(out, n, "%s", opt) < (int)n ? 0 : plow_error(err, "--contracts: path too long");
    if (env && *env) return snprintf(out, n, "%s", env) < (int)n ? 0 : plow_error(err, "$PLOW_CONTRACTS: path too long");
    char exe[4096];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0) return plow_error(err, "cannot find the plow binary's directory: give --contracts DIR");
    exe[l] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    if (snprintf(out, n, "%s/contracts", exe) >= (int)n) return plow_error(err, "contracts path too long");
    return 0;
}

static int parse_u64_opt(const char *opt, const char *s, uint64_t max, uint64_t *v, char err[PLOW_ERR_LEN]) {
    if (!s) return 0;
    if (cli_u64(opt, s, v, err)) return -1;
    if (*v > max) return plow_error(err, "%s: at most %" PRIu64, opt, max);
    return 0;
}

int cmd_deploy(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(deploy_help, stdout);
        return 0;
    }
    const char *rpc_url = NULL, *keystore = NULL, *token = NULL, *referee = NULL, *cdir_opt = NULL,
               *out = "deployment.json", *unbond = NULL, *verdict = NULL, *floor = NULL, *slash = NULL, *bondp = NULL;
    const char *mints[DEPLOY_MAX_MINTS];
    int n_mints = 0;
    /* --mint repeats: take them out before the common parser */
    char **rest = plow_calloc((size_t)argc + 1, sizeof *rest);
    int nr = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--mint") == 0) {
            if (i + 1 >= argc) {
                free(rest);
                return cli_usage_error("deploy", "--mint needs ADDR=AMOUNT");
            }
            if (n_mints == DEPLOY_MAX_MINTS) {
                free(rest);
                return cli_usage_error("deploy", "at most %d --mint", DEPLOY_MAX_MINTS);
            }
            mints[n_mints++] = argv[++i];
            continue;
        }
        rest[nr++] = argv[i];
    }
    const cli_opt opts[] = {{"--rpc", &rpc_url, NULL},         {"--keystore", &keystore, NULL},
                            {"--token", &token, NULL},         {"--referee", &referee, NULL},
                            {"--contracts", &cdir_opt, NULL},  {"--out", &out, NULL},
                            {"--unbond-blocks", &unbond, NULL}, {"--verdict-blocks", &verdict, NULL},
                            {"--bond-floor", &floor, NULL},    {"--slash-pct", &slash, NULL},
                            {"--bond-pct", &bondp, NULL},      {NULL, NULL, NULL}};
    int n_pos = 0;
    int prc = cli_parse_opts("deploy", nr, rest, 1, opts, NULL, 0, &n_pos);
    free(rest);
    if (prc) return prc;
    if (!rpc_url) return cli_usage_error("deploy", "--rpc URL is required");
    if (!keystore) return cli_usage_error("deploy", "--keystore FILE is required");
    char err[PLOW_ERR_LEN], cdir[4096];
    evm_deploy_params dp = {.unbond_blocks = 100, .verdict_blocks = 50, .bond_floor = 10, .slash_challenger_pct = 50,
                            .bond_accused_pct = 50};
    uint64_t sp = dp.slash_challenger_pct, bp = dp.bond_accused_pct;
    if (parse_u64_opt("--unbond-blocks", unbond, 100000000, &dp.unbond_blocks, err) ||
        parse_u64_opt("--verdict-blocks", verdict, 100000000, &dp.verdict_blocks, err) ||
        parse_u64_opt("--bond-floor", floor, UINT64_MAX, &dp.bond_floor, err) ||
        parse_u64_opt("--slash-pct", slash, 100, &sp, err) || parse_u64_opt("--bond-pct", bondp, 100, &bp, err))
        return cli_usage_error("deploy", "%s", err);
    if (dp.verdict_blocks == 0 || dp.bond_floor == 0)
        return cli_usage_error("deploy", "--verdict-blocks and --bond-floor must be positive");
    dp.slash_challenger_pct = (uint32_t)sp;
    dp.bond_accused_pct = (uint32_t)bp;
    if (token) {
        if (eth_addr_parse(token, dp.token, err)) return cli_usage_error("deploy", "--token: %s", err);
        dp.has_token = true;
        if (n_mints) return cli_usage_error("deploy", "--mint needs a TestToken: not with --token");
    }
    uint8_t mint_to[DEPLOY_MAX_MINTS][ETH_ADDR_LEN];
    uint64_t mint_v[DEPLOY_MAX_MINTS];
    for (int i = 0; i < n_mints; i++) {
        char a[64];
        const char *eq = strchr(mints[i], '=');
        if (!eq || (size_t)(eq - mints[i]) >= sizeof a) return cli_usage_error("deploy", "--mint '%s': not ADDR=AMOUNT", mints[i]);
        memcpy(a, mints[i], (size_t)(eq - mints[i]));
        a[eq - mints[i]] = 0;
        if (eth_addr_parse(a, mint_to[i], err) || cli_amount("--mint", eq + 1, &mint_v[i], err))
            return cli_usage_error("deploy", "--mint '%s': %s", mints[i], err);
    }
    if (contracts_dir(cdir_opt, cdir, sizeof cdir, err)) return cli_fail("deploy: %s", err);
    eth_key k;
    if (eth_key_load(keystore, &k, err)) return cli_fail("deploy: %s: %s", keystore, err);
    if (referee) {
        if (eth_addr_parse(referee, dp.referee, err)) return cli_usage_error("deploy", "--referee: %s", err);
    } else {
        memcpy(dp.referee, k.addr, ETH_ADDR_LEN);
    }
    int rc = 1;
    eth_rpc *rpc = eth_rpc_new(rpc_url);
    eth_signer s;
    bool signer = false;
    char *json = NULL;
    if (!rpc) {
        cli_fail("deploy: cannot make an HTTP client for %s", rpc_url);
        goto out;
    }
    if (eth_signer_init(&s, rpc, &k, err)) {
        cli_fail("deploy: %s: %s", rpc_url, err);
        goto out;
    }
    signer = true;
    evm_deployment d;
    uint64_t gas[4];
    if (evm_deploy(&s, cdir, &dp, &d, gas, err)) {
        cli_fail("deploy: %s", err);
        goto out;
    }
    for (int i = 0; i < n_mints; i++)
        if (evm_token_mint(&s, &d, mint_to[i], mint_v[i], NULL, err)) {
            cli_fail("deploy: --mint %s: %s", mints[i], err);
            goto out;
        }
    json = evm_deployment_json(&d);
    if (!json) {
        cli_fail("deploy: cannot print the deployment");
        goto out;
    }
    size_t jl = strlen(json);
    json[jl] = 0;
    plow_buf b = {0};
    plow_buf_printf(&b, "%s\n", json);
    int wrc = plow_write_file(out, b.data, b.len, err);
    plow_buf_release(&b);
    if (wrc) {
        cli_fail("deploy: %s: %s", out, err);
        goto out;
    }
    printf("%s\n", json);
    fprintf(stderr, "deploy: wrote %s (gas: token %" PRIu64 ", judge %" PRIu64 ", plow %" PRIu64 ", merkle %" PRIu64 ")\n",
            out, gas[0], gas[1], gas[2], gas[3]);
    rc = 0;
out:
    free(json);
    if (signer) eth_signer_release(&s);
    eth_rpc_free(rpc);
    eth_key_wipe(&k);
    return rc;
}

static const char referee_help[] =
    "usage: plow referee --chain evm --deployment FILE --rpc URL --keystore FILE --key FILE --work DIR [options]\n"
    "\n"
    "The referee of a network that settles on an EVM chain (docs/evm.md): watches\n"
    "the contracts' open challenges, re-executes each disputed step from the\n"
    "blobs of the plow node (the same one-step referee as the node's), signs\n"
    "the verdict with the key the deployment names as the referee (RefereeJudge)\n"
    "and submits it, the evidence in it (state blob, recomputed leaf). A data\n"
    "challenge whose blob the node serves is attested available. Runs until\n"
    "stopped (SIGINT/SIGTERM).\n"
    "\n"
    "options:\n"
    "  --chain evm        (the only chain a referee runs on: the node referees its own)\n"
    "  --deployment FILE  the deployment file (plow deploy)\n"
    "  --rpc URL          the chain's JSON-RPC endpoint\n"
    "  --keystore FILE    the referee's EVM key (keystore v3 or 0x + 64 hex digits)\n"
    "  --key FILE         a plow key file (the agent's identity toward the node)\n"
    "  --work DIR         work directory (created: one directory per challenge)\n"
    "  --node URL         the node serving the blobs (default $PLOW_NODE or\n"
    "                     http://127.0.0.1:7545)\n"
    "  --name N           name for the logs (default referee)\n"
    "  --threads T        engine threads (default 1; PLOW_THREADS)\n"
    "  --poll S           seconds between looks at the chain (default 0.5)\n";

int cmd_referee(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(referee_help, stdout), 0;
    const char *chain = NULL, *dep = NULL, *rpc = NULL, *ks = NULL, *key = NULL, *work = NULL, *node_url = NULL,
               *name = NULL, *threads_s = NULL, *poll_s = NULL;
    const cli_opt opts[] = {{"--chain", &chain, NULL}, {"--deployment", &dep, NULL}, {"--rpc", &rpc, NULL},
                            {"--keystore", &ks, NULL}, {"--key", &key, NULL},        {"--work", &work, NULL},
                            {"--node", &node_url, NULL}, {"--name", &name, NULL},    {"--threads", &threads_s, NULL},
                            {"--poll", &poll_s, NULL}, {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("referee", argc, argv, 1, opts, NULL, 0, &n_pos);
    if (rc) return rc;
    if (!chain || strcmp(chain, "evm") != 0) return cli_usage_error("referee", "--chain evm is required");
    if (!dep || !rpc || !ks || !key || !work)
        return cli_usage_error("referee", "--deployment, --rpc, --keystore, --key and --work are required");
    char err[PLOW_ERR_LEN];
    long threads = 1;
    double poll = 0.5;
    const char *env = getenv("PLOW_THREADS");
    if (!threads_s && env && *env) threads_s = env;
    if (threads_s && cli_int("--threads", threads_s, 1, 1024, &threads, err)) return cli_usage_error("referee", "%s", err);
    if (poll_s && cli_float("--poll", poll_s, 0.01, 60, &poll, err)) return cli_usage_error("referee", "%s", err);
    if (cli_init_engine(NULL, threads, err)) return cli_fail("%s", err);
    agent a;
    agent_chain ch = {.rpc = rpc, .deployment = dep, .keystore = ks};
    if (agent_open_on(&a, name ? name : "referee", key, cli_node_url(node_url), work, &ch, err))
        return cli_fail("referee: %s", err);
    agent_signals_install();
    agent_log(&a, "referee starting: chain %s, deployment %s, blobs from %s", rpc, dep, a.node);
    int ruled = 0;
    /* a wrong key is not a wait: refuse it at once */
    if (agent_evm_referee_round(&a, &ruled, err) && strstr(err, "not the deployment's referee")) {
        agent_close(&a);
        return cli_fail("%s", err);
    }
    while (!agent_stop_requested()) {
        if (agent_evm_referee_round(&a, &ruled, err)) {
            agent_fail(&a, err);
            continue;
        }
        agent_ok(&a);
        agent_sleep(poll);
    }
    agent_log(&a, "referee stopping");
    agent_close(&a);
    return 0;
}
