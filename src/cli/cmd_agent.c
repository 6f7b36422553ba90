/*
 * cmd_agent.c — plow worker, plow verifier, plow requester: the agents of
 * src/agent as commands. Each parses its options, applies the engine's
 * thread count and runs until done or stopped (SIGINT/SIGTERM).
 */
#include "../base/plow.h"

#include "../agent/agent.h"
#include "cli.h"
#include "cli_net.h"

/* The --chain options every agent takes (chain_opts). */
#define CHAIN_HELP                                                                      \
    "  --chain evm        settle on plow's contracts on an EVM chain instead of the\n"   \
    "                     node's ledger (the node then serves blobs only), with:\n"      \
    "  --deployment FILE  the deployment file (plow deploy)\n"                          \
    "  --rpc URL          the chain's JSON-RPC endpoint\n"                              \
    "  --keystore FILE    the agent's EVM key (keystore v3, password in\n"              \
    "                     $PLOW_KEY_PASSWORD, or 0x + 64 hex digits)\n"

static const char worker_help[] =
    "usage: plow worker --key FILE --work DIR [options]\n"
    "\n"
    "A worker agent: registers its key as an agent, keeps its stake topped up,\n"
    "claims open tasks its policy accepts and its machine can finish before the\n"
    "commit deadline, runs them deterministically and commits the results.\n"
    "Before a claim it sizes the task's inputs and estimates its memory and\n"
    "arithmetic (job_probe); a task this machine or the network's limits cannot\n"
    "run is set aside for good (WORK/refused/), and a held slot of one is\n"
    "claimed unrunnable against its poster instead of run.\n"
    "Restart it at any time: it picks up the slot the ledger says it holds.\n"
    "\n"
    "  --key FILE         the worker's key file\n"
    "  --work DIR         work directory (created; keeps runs across restarts)\n"
    "  --node URL         the node (default $PLOW_NODE or http://127.0.0.1:7545)\n"
    "  --policy FILE      JSON: kinds, min_price_per_step, max_stake_at_risk,\n"
    "                     stake, seconds_per_step, safety (docs/agents.md)\n"
    "  --name N           name for the profile and the logs (default worker)\n"
    "  --threads T        engine threads (default 1; PLOW_THREADS)\n"
    "  --poll S           seconds between looks at the ledger (default 0.5)\n"
    "  --once             exit after committing (and revealing) one task\n"
    "  --cheat KIND[@STEP]  play a cheating worker (demos, tests): perturb,\n"
    "                     skip, seed, data, lowprec, swap, badckpt, init, config,\n"
    "                     truncate, bomb (a model header promising terabytes); or the\n"
    "                     protocol cheats copy (commit another replica's\n"
    "                     commitment), garbage (commit values nothing computed)\n"
    "                     and withhold (work and reveal honestly, upload no output,\n"
    "                     answer no data challenge)\n"
    "  --cheat-rate F     cheat on this fraction of tasks (default 1)\n"
    CHAIN_HELP;

static const char verifier_help[] =
    "usage: plow verifier --key FILE --work DIR [options]\n"
    "\n"
    "A verifier agent: checks committed tasks during their challenge window and\n"
    "challenges fraud. Optimistic tasks: re-executes sampled steps chosen by a\n"
    "block hash the worker could not know when it committed. Replicated tasks:\n"
    "compares the replicas and takes a disagreement to the referee. Honest work\n"
    "is never challenged.\n"
    "\n"
    "  --key FILE         the verifier's key file (pays the bonds)\n"
    "  --work DIR         work directory (created)\n"
    "  --node URL         the node (default $PLOW_NODE or http://127.0.0.1:7545)\n"
    "  --samples K        steps re-executed per optimistic slot (default 4, 1..63)\n"
    "  --bond N           bond posted with a challenge (default: the task's min_bond)\n"
    "  --name N           name for the logs (default verifier)\n"
    "  --threads T        engine threads (default 1; PLOW_THREADS)\n"
    "  --poll S           seconds between looks at the ledger (default 0.5)\n"
    "  --challenge-at J   tests: play a hostile challenger that challenges every\n"
    "                     revealed optimistic slot at step J without checking it\n"
    CHAIN_HELP;

static const char requester_help[] =
    "usage: plow requester --key FILE --work DIR (--task TASKFILE | --workflow FILE) [options]\n"
    "\n"
    "A requester agent: posts a task (or each step of a workflow, feeding an\n"
    "accepted step's outputs to the next), waits for it, finalizes it once its\n"
    "challenge window has passed, reposts a step nobody was paid for (up to 3\n"
    "times), then downloads every artifact, checks its hash against the\n"
    "commitment, verifies the inference receipt with one prefill and prints\n"
    "the generated text. Exits 0 when everything checked, 1 otherwise.\n"
    "\n"
    "  --key FILE         the requester's key file (pays the rewards)\n"
    "  --work DIR         work directory (created; a restart continues the run)\n"
    "  --node URL         the node (default $PLOW_NODE or http://127.0.0.1:7545)\n"
    "  --task FILE        one TASKFILE (docs/cli.md)\n"
    "  --workflow FILE    a workflow: {\"format\": \"plow.workflow.v1\", \"steps\": [...]}\n"
    "  --result FILE      where to write the result JSON (default WORK/result.json)\n"
    "  --name N           name for the logs (default requester)\n"
    "  --threads T        engine threads for the final checks (default 1)\n"
    "  --poll S           seconds between looks at the ledger (default 0.5)\n"
    CHAIN_HELP;

static int common_numbers(const char *cmd, const char *threads_s, const char *poll_s, long *threads, double *poll,
                          char err[PLOW_ERR_LEN]) {
    *threads = 1;
    const char *env = getenv("PLOW_THREADS");
    if (!threads_s && env && *env) threads_s = env;
    if (threads_s && cli_int("--threads", threads_s, 1, 1024, threads, err)) return cli_usage_error(cmd, "%s", err);
    if (poll_s && cli_float("--poll", poll_s, 0.01, 60, poll, err)) return cli_usage_error(cmd, "%s", err);
    return 0;
}

/* --chain [node|evm] with --deployment, --rpc, --keystore (evm only). */
static int chain_opts(const char *cmd, const char *chain, const char *dep, const char *rpc, const char *ks,
                      agent_chain *out) {
    memset(out, 0, sizeof *out);
    if (!chain || strcmp(chain, "node") == 0) {
        if (dep || rpc || ks) return cli_usage_error(cmd, "--deployment, --rpc and --keystore go with --chain evm");
        return 0;
    }
    if (strcmp(chain, "evm") != 0) return cli_usage_error(cmd, "--chain: 'node' or 'evm', not '%s'", chain);
    if (!dep || !rpc || !ks) return cli_usage_error(cmd, "--chain evm needs --deployment FILE, --rpc URL and --keystore FILE");
    out->rpc = rpc;
    out->deployment = dep;
    out->keystore = ks;
    return 0;
}

#define CHAIN_OPTS \
    {"--chain", &chain, NULL}, {"--deployment", &dep, NULL}, {"--rpc", &rpc, NULL}, {"--keystore", &ks, NULL}

int cmd_worker(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(worker_help, stdout), 0;
    const char *key = NULL, *work = NULL, *node_url = NULL, *policy = NULL, *name = NULL, *threads_s = NULL,
               *poll_s = NULL, *cheat = NULL, *rate_s = NULL;
    bool once = false;
    const char *chain = NULL, *dep = NULL, *rpc = NULL, *ks = NULL;
    const cli_opt opts[] = {{"--key", &key, NULL},       {"--work", &work, NULL},       {"--node", &node_url, NULL},
                            {"--policy", &policy, NULL}, {"--name", &name, NULL},       {"--threads", &threads_s, NULL},
                            {"--poll", &poll_s, NULL},   {"--cheat", &cheat, NULL},     {"--cheat-rate", &rate_s, NULL},
                            {"--once", NULL, &once},     CHAIN_OPTS, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("worker", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!key || !work) return cli_usage_error("worker", "--key FILE and --work DIR are required");
    worker_options o;
    worker_options_default(&o);
    if ((rc = chain_opts("worker", chain, dep, rpc, ks, &o.chain))) return rc;
    char err[PLOW_ERR_LEN];
    long threads;
    if ((rc = common_numbers("worker", threads_s, poll_s, &threads, &o.poll_s, err))) return rc;
    if (rate_s && cli_float("--cheat-rate", rate_s, 0, 1, &o.cheat_rate, err))
        return cli_usage_error("worker", "%s", err);
    if (rate_s && !cheat) return cli_usage_error("worker", "--cheat-rate needs --cheat");
    if (policy) {
        uint8_t *buf = NULL;
        size_t n = 0;
        if (plow_read_file(policy, 1 << 20, &buf, &n, err)) return cli_fail("%s", err);
        rc = worker_policy_parse(&o.policy, buf, n, err);
        free(buf);
        if (rc) return cli_fail("%s: %s", policy, err);
    }
    o.key = key;
    o.work = work;
    o.node = cli_node_url(node_url);
    o.name = name ? name : "worker";
    o.cheat = cheat;
    o.threads = (int)threads;
    o.once = once;
    if (cli_init_engine(NULL, threads, err)) return cli_fail("%s", err);
    agent_signals_install();
    if (agent_worker_run(&o, err)) return cli_fail("%s", err);
    return 0;
}

int cmd_verifier(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(verifier_help, stdout), 0;
    const char *key = NULL, *work = NULL, *node_url = NULL, *name = NULL, *threads_s = NULL, *poll_s = NULL,
               *samples_s = NULL, *bond_s = NULL, *hostile_s = NULL;
    const char *chain = NULL, *dep = NULL, *rpc = NULL, *ks = NULL;
    const cli_opt opts[] = {{"--key", &key, NULL},         {"--work", &work, NULL},
                            {"--node", &node_url, NULL},       {"--name", &name, NULL},
                            {"--threads", &threads_s, NULL}, {"--poll", &poll_s, NULL},
                            {"--samples", &samples_s, NULL}, {"--bond", &bond_s, NULL},
                            {"--challenge-at", &hostile_s, NULL}, CHAIN_OPTS, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("verifier", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!key || !work) return cli_usage_error("verifier", "--key FILE and --work DIR are required");
    verifier_options o;
    verifier_options_default(&o);
    if ((rc = chain_opts("verifier", chain, dep, rpc, ks, &o.chain))) return rc;
    char err[PLOW_ERR_LEN];
    long threads, samples = o.samples;
    if ((rc = common_numbers("verifier", threads_s, poll_s, &threads, &o.poll_s, err))) return rc;
    if (samples_s && cli_int("--samples", samples_s, 1, 63, &samples, err)) return cli_usage_error("verifier", "%s", err);
    if (bond_s && cli_amount("--bond", bond_s, &o.bond, err)) return cli_usage_error("verifier", "%s", err);
    long hostile = 0;
    if (hostile_s && cli_int("--challenge-at", hostile_s, 1, LEDGER_LEAVES_MAX, &hostile, err))
        return cli_usage_error("verifier", "%s", err);
    o.challenge_at = (uint64_t)hostile;
    o.samples = (int)samples;
    o.key = key;
    o.work = work;
    o.node = cli_node_url(node_url);
    o.name = name ? name : "verifier";
    if (cli_init_engine(NULL, threads, err)) return cli_fail("%s", err);
    agent_signals_install();
    if (agent_verifier_run(&o, err)) return cli_fail("%s", err);
    return 0;
}

int cmd_requester(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(requester_help, stdout), 0;
    const char *key = NULL, *work = NULL, *node_url = NULL, *name = NULL, *threads_s = NULL, *poll_s = NULL,
               *task = NULL, *wf = NULL, *result = NULL;
    const char *chain = NULL, *dep = NULL, *rpc = NULL, *ks = NULL;
    const cli_opt opts[] = {{"--key", &key, NULL},     {"--work", &work, NULL},         {"--node", &node_url, NULL},
                            {"--name", &name, NULL},   {"--threads", &threads_s, NULL}, {"--poll", &poll_s, NULL},
                            {"--task", &task, NULL},   {"--workflow", &wf, NULL},       {"--result", &result, NULL},
                            CHAIN_OPTS, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("requester", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!key || !work) return cli_usage_error("requester", "--key FILE and --work DIR are required");
    if (!task == !wf) return cli_usage_error("requester", "give exactly one of --task TASKFILE and --workflow FILE");
    requester_options o;
    requester_options_default(&o);
    if ((rc = chain_opts("requester", chain, dep, rpc, ks, &o.chain))) return rc;
    char err[PLOW_ERR_LEN];
    long threads;
    if ((rc = common_numbers("requester", threads_s, poll_s, &threads, &o.poll_s, err))) return rc;
    o.key = key;
    o.work = work;
    o.node = cli_node_url(node_url);
    o.name = name ? name : "requester";
    o.task = task;
    o.workflow = wf;
    o.result = result;
    if (cli_init_engine(NULL, threads, err)) return cli_fail("%s", err);
    agent_signals_install();
    rc = agent_requester_run(&o, err);
    if (rc < 0) return cli_fail("%s", err);
    if (rc > 0) return cli_fail("%s", err);
    return 0;
}
