/*
 * cmd_demo.c — plow demo: a whole local network in one command.
 *
 * It makes keys and a genesis (operator, requester, honest workers, one
 * cheating worker, a verifier), writes the data (Tiny Shakespeare without The
 * Tempest for the base model, The Tempest alone for the LoRA), trains a
 * tokenizer, writes the TASKFILEs and the workflow, then starts `plow node`
 * and every agent as SEPARATE PROCESSES (this binary, re-executed) with their
 * logs in DIR/logs/. While the workflow runs it prints what the ledger shows:
 * tasks, claims, commits, challenges, verdicts, payments, and the workers'
 * step counts. At the end it prints every account's balance and stake change,
 * the artifacts and their checks, the generated text, who was slashed and who
 * was paid, and checks the outcome against the ledger: exit 0 only if the
 * cheater was slashed, the honest workers were paid exactly their rewards,
 * the supply is conserved, and every artifact and the receipt verified.
 *
 * Every process it started is stopped before it returns (also on Ctrl-C);
 * the node's data stays in DIR for inspection.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "../data/tokenizer.h"
#include "../ledger/ledger.h"
#include "../client/client.h"
#include "../evm/chain.h"
#include "cli.h"
#include "cli_net.h"

static const char demo_help[] =
    "usage: plow demo [--dir DIR] [options]\n"
    "\n"
    "Starts a local plow network -- a node, a requester, honest workers, a\n"
    "cheating worker and a verifier, each its own process -- and runs a workflow\n"
    "on Tiny Shakespeare end to end: a base model trained under REPLICATED\n"
    "verification (the cheater holds a replica and is caught by the divergence\n"
    "dispute), a LoRA fine-tune on The Tempest under OPTIMISTIC verification,\n"
    "and a generation with a verified receipt. Prints the network's progress,\n"
    "then every account's balance and stake change, the artifacts, the text,\n"
    "who was slashed and who was paid. Exits 0 only if the outcome is right.\n"
    "\n"
    "  --dir DIR          data directory (default plow-demo; must not exist or be empty)\n"
    "  --config NAME      base model config: tiny or small (default tiny)\n"
    "  --steps N          base model training steps (default 200)\n"
    "  --lora-steps N     LoRA steps (default: half of --steps)\n"
    "  --tokens N         tokens to generate (default: 100 tiny, 228 small)\n"
    "  --workers N        honest workers (default 2; the base task has N+1 replicas)\n"
    "  --port P           the node's port (default 0: any free port)\n"
    "  --block-ms N       block interval (default 250)\n"
    "  --data FILE        the corpus (default data/tinyshakespeare.txt)\n"
    "  --timeout S        give up after S seconds (default 900)\n"
    "  --keep-running     leave the network running at the end, until Ctrl-C\n"
    "  --chain evm        settle on plow's contracts on a local EVM chain instead: starts\n"
    "                     anvil (node_modules, by its pid; a block every --block-ms), deploys the\n"
    "                     contracts (plow deploy's code), gives every agent an EVM key and\n"
    "                     its tokens, runs the node as the chain's indexer (--chain) and a\n"
    "                     referee (plow referee --chain evm); the table is read from the\n"
    "                     chain through the node (docs/evm.md)\n"
    "\n"
    "Logs: DIR/logs/*.log. The node's data: DIR/node. Result: DIR/result.json.\n";

#define PATHN 4096
#define DIRN 1024
#define MAX_PROCS 16
#define MAX_ACCOUNTS 16
#define CHEATER_NAME "cheater"

/* the corpus slice held out for the LoRA (1-based, inclusive) */
#define TEMPEST_FIRST 38582
#define TEMPEST_LAST 40000

static volatile sig_atomic_t demo_stop;
static void demo_on_signal(int sig) {
    (void)sig;
    demo_stop = 1;
}

static double t_start;

static void say(const char *fmt, ...) PLOW_PRINTF(1, 2);
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("[%6.1fs] ", plow_now() - t_start);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

/* ---- the cast --------------------------------------------------------------------- */

typedef enum role { ROLE_OPERATOR, ROLE_REQUESTER, ROLE_HONEST, ROLE_CHEATER, ROLE_VERIFIER } role;

typedef struct member {
    char name[32];
    role r;
    char key[PATHN];
    uint8_t pk[32];
    uint64_t balance0, stake0;
    ledger_account now;
    char evm_key[PATHN]; /* --chain evm: its EVM key file (0x + 64 hex digits) */
} member;

typedef struct proc {
    char name[32];
    pid_t pid;
    bool running;
    int status;
    char log[PATHN];
    long log_off;
    char progress[64]; /* the last "what done/total" seen in its log */
    bool agent;
    bool reported; /* its unexpected exit was shown */
} proc;

typedef struct demo {
    char dir[DIRN], self[PATHN], corpus[PATHN];
    const char *config;
    long steps, lora_steps, tokens, workers, port, block_ms, timeout;
    bool keep;
    member *m; /* MAX_ACCOUNTS (separate blocks: paths are built from dir) */
    int n_m;
    proc *p;   /* MAX_PROCS */
    int n_p;
    char url[256];
    client *c;
    ledger_params params;
    uint64_t supply;
    /* --chain evm */
    bool evm;
    eth_anvil anvil;
    evm_deployment dep;
    char dep_path[PATHN + 32];
} demo;

static const char *name_of(const demo *d, const uint8_t pk[32], char buf[16]) {
    for (int i = 0; i < d->n_m; i++)
        if (memcmp(d->m[i].pk, pk, 32) == 0) return d->m[i].name;
    char a[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(pk, a);
    memcpy(buf, a, 12);
    buf[12] = 0;
    return buf;
}

static void money(uint64_t v, char out[32]) {
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

static void smoney(int64_t v, char out[40]) {
    char m[32];
    money((uint64_t)(v < 0 ? -v : v), m);
    snprintf(out, 40, "%s%s", v < 0 ? "-" : v > 0 ? "+" : "", m);
}

static void shorthex(const uint8_t h[32], char out[12]) { plow_hex(h, 4, out); }

/* ---- set-up ----------------------------------------------------------------------- */

static int write_text(const char *path, const char *text, char err[PLOW_ERR_LEN]) {
    return plow_write_file(path, text, strlen(text), err);
}

static int find_corpus(demo *d, const char *given, char err[PLOW_ERR_LEN]) {
    if (given) {
        if (!plow_file_exists(given)) return plow_error(err, "--data %s: no such file", given);
        snprintf(d->corpus, sizeof d->corpus, "%s", given);
        return 0;
    }
    char cand[4][PATHN];
    int n = 0;
    const char *root = getenv("PLOW_ROOT");
    if (root && *root) snprintf(cand[n++], PATHN, "%s/data/tinyshakespeare.txt", root);
    char exe[PATHN];
    memcpy(exe, d->self, sizeof exe);
    char *s = strrchr(exe, '/');
    if (s) {
        *s = 0;
        snprintf(cand[n++], PATHN, "%.3000s/../data/tinyshakespeare.txt", exe);
        snprintf(cand[n++], PATHN, "%.3000s/../../data/tinyshakespeare.txt", exe);
    }
    snprintf(cand[n++], PATHN, "data/tinyshakespeare.txt");
    for (int i = 0; i < n; i++)
        if (plow_file_exists(cand[i])) {
            memcpy(d->corpus, cand[i], sizeof d->corpus);
            return 0;
        }
    return plow_error(err, "cannot find data/tinyshakespeare.txt (pass --data FILE or set PLOW_ROOT)");
}

/* base.txt: the corpus without The Tempest; tempest.txt: The Tempest. */
static int write_data(demo *d, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    if (plow_read_file(d->corpus, 64u << 20, &buf, &n, err)) return -1;
    plow_buf base = {0}, temp = {0};
    long line = 1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n' && i + 1 < n) continue;
        size_t end = i + 1;
        if (line >= TEMPEST_FIRST && line <= TEMPEST_LAST) plow_buf_append(&temp, buf + start, end - start);
        else plow_buf_append(&base, buf + start, end - start);
        start = end;
        line++;
    }
    free(buf);
    int rc = -1;
    char path[PATHN + 64];
    if (temp.len < 10000) {
        plow_error(err, "%s: lines %d..%d (The Tempest) are missing: not Tiny Shakespeare?", d->corpus, TEMPEST_FIRST,
                   TEMPEST_LAST);
        goto out;
    }
    snprintf(path, sizeof path, "%s/data/base.txt", d->dir);
    if (plow_write_file(path, base.data, base.len, err)) goto out;
    snprintf(path, sizeof path, "%s/data/tempest.txt", d->dir);
    if (plow_write_file(path, temp.data, temp.len, err)) goto out;
    /* the tokenizer: byte-level BPE, 512 tokens, learned on the first 300 kB of the base text */
    tokenizer *tok = NULL;
    if (tokenizer_train(&tok, base.data, base.len < 300000 ? base.len : 300000, 512, NULL, NULL, err)) goto out;
    snprintf(path, sizeof path, "%s/data/tokenizer.bin", d->dir);
    rc = tokenizer_save(tok, path, err);
    tokenizer_free(tok);
    say("data: %zu bytes for the base model, %zu bytes of The Tempest for the LoRA (held out); tokenizer: 512 tokens",
        base.len, temp.len);
out:
    plow_buf_release(&base);
    plow_buf_release(&temp);
    return rc;
}

static int add_member(demo *d, const char *name, role r, uint64_t balance, uint64_t stake, char err[PLOW_ERR_LEN]) {
    member *m = &d->m[d->n_m++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->r = r;
    m->balance0 = balance;
    m->stake0 = stake;
    if (r == ROLE_OPERATOR) snprintf(m->key, sizeof m->key, "%s/node/operator.key", d->dir);
    else snprintf(m->key, sizeof m->key, "%s/keys/%s.key", d->dir, name);
    ledger_key k;
    ledger_key_generate(&k);
    memcpy(m->pk, k.pk, 32);
    int rc = ledger_key_save(&k, m->key, err);
    ledger_key_wipe(&k);
    return rc;
}

static void add_amount(cJSON *o, const char *k, uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    cJSON_AddStringToObject(o, k, b);
}

static int write_genesis(demo *d, char err[PLOW_ERR_LEN]) {
    d->params.unbond_blocks = 20;
    /* the referee re-executes one step: two minutes is plenty even on a busy machine */
    d->params.verdict_blocks = (uint64_t)(120000 / d->block_ms);
    d->params.min_fee = 1;
    d->params.slash_challenger_pct = 50;
    d->params.bond_accused_pct = 50;
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "chain", "plow-demo");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    add_amount(g, "time_ms", (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000);
    char a[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(d->m[0].pk, a);
    cJSON_AddStringToObject(g, "operator", a);
    cJSON *p = cJSON_AddObjectToObject(g, "params");
    add_amount(p, "unbond_blocks", d->params.unbond_blocks);
    add_amount(p, "verdict_blocks", d->params.verdict_blocks);
    add_amount(p, "min_fee", d->params.min_fee);
    cJSON_AddNumberToObject(p, "slash_challenger_pct", d->params.slash_challenger_pct);
    cJSON_AddNumberToObject(p, "bond_accused_pct", d->params.bond_accused_pct);
    cJSON *acc = cJSON_AddArrayToObject(g, "accounts");
    d->supply = 0;
    for (int i = 0; i < d->n_m; i++) {
        cJSON *o = cJSON_CreateObject();
        ledger_addr_format(d->m[i].pk, a);
        cJSON_AddStringToObject(o, "address", a);
        add_amount(o, "balance", d->m[i].balance0);
        add_amount(o, "stake", d->m[i].stake0);
        cJSON_AddItemToArray(acc, o);
        d->supply += d->m[i].balance0 + d->m[i].stake0;
    }
    char *txt = cJSON_Print(g);
    cJSON_Delete(g);
    char path[PATHN + 32];
    snprintf(path, sizeof path, "%s/genesis.json", d->dir);
    int rc = write_text(path, txt, err);
    free(txt);
    return rc;
}

/* Amounts (base units). A worker locks WORKER_STAKE per slot; the cheater
 * has exactly that much stake and nothing to top it up with. */
#define REWARD_BASE 2000
#define REWARD_LORA 1000
#define REWARD_INFER 500
#define WORKER_STAKE 5000
#define MIN_BOND 100

/* Writes tasks/NAME.task.json: the terms every demo task shares, then the
 * lines of its spec after "format" (spec, ending in a newline). */
static int write_task(const demo *d, const char *name, const char *mode, int reward, const char *spec,
                      char err[PLOW_ERR_LEN]) {
    char path[PATHN + 64], txt[4096], replicas[64] = "";
    /* deadlines in blocks: generous for the work, short windows */
    long blocks_per_s = 1000 / d->block_ms > 0 ? 1000 / d->block_ms : 1;
    long window = 15 * blocks_per_s, claim = 60 * blocks_per_s, work = 600 * blocks_per_s;
    if (strcmp(mode, "replicated") == 0) snprintf(replicas, sizeof replicas, "  \"replicas\": %ld,\n", d->workers + 1);
    snprintf(path, sizeof path, "%s/tasks/%s.task.json", d->dir, name);
    snprintf(txt, sizeof txt,
             "{\n"
             "  \"format\": \"plow.taskfile.v1\",\n"
             "  \"mode\": \"%s\",\n"
             "%s"
             "  \"reward\": \"%d\",\n"
             "  \"worker_stake\": \"%d\",\n"
             "  \"min_bond\": \"%d\",\n"
             "  \"claim_blocks\": %ld,\n"
             "  \"work_blocks\": %ld,\n"
             "  \"window_blocks\": %ld,\n"
             "  \"spec\": {\n"
             "    \"format\": \"plow.spec.v1\",\n"
             "%s"
             "  }\n"
             "}\n",
             mode, replicas, reward, WORKER_STAKE, MIN_BOND, claim, work, window, spec);
    return write_text(path, txt, err);
}

static int write_tasks(demo *d, char err[PLOW_ERR_LEN]) {
    char path[PATHN + 64], txt[4096], spec[2048];
    long every = d->steps >= 40 ? d->steps / 8 : 5;
    long lora_every = d->lora_steps >= 20 ? d->lora_steps / 5 : 4;
    snprintf(spec, sizeof spec,
             "    \"kind\": \"train\",\n"
             "    \"config\": \"%s\",\n"
             "    \"data\": \"@../data/base.txt\",\n"
             "    \"tokenizer\": \"@../data/tokenizer.bin\",\n"
             "    \"steps\": %ld,\n"
             "    \"batch\": 8,\n"
             "    \"seq\": 128,\n"
             "    \"lr\": 0.003,\n"
             "    \"seed\": \"1\",\n"
             "    \"checkpoint_every\": %ld\n",
             d->config, d->steps, every);
    if (write_task(d, "base", "replicated", REWARD_BASE, spec, err)) return -1;
    snprintf(spec, sizeof spec,
             "    \"kind\": \"lora\",\n"
             "    \"data\": \"@../data/tempest.txt\",\n"
             "    \"tokenizer\": \"@../data/tokenizer.bin\",\n"
             "    \"steps\": %ld,\n"
             "    \"batch\": 8,\n"
             "    \"seq\": 128,\n"
             "    \"lr\": 0.004,\n"
             "    \"seed\": \"2\",\n"
             "    \"checkpoint_every\": %ld,\n"
             "    \"lora\": {\"rank\": 8, \"alpha\": 16, \"targets\": \"q,k,v,o\"}\n",
             d->lora_steps, lora_every);
    if (write_task(d, "lora", "optimistic", REWARD_LORA, spec, err)) return -1;
    snprintf(spec, sizeof spec,
             "    \"kind\": \"infer\",\n"
             "    \"tokenizer\": \"@../data/tokenizer.bin\",\n"
             "    \"infer\": {\"prompt\": \"PROSPERO:\\n\", \"tokens\": %ld, \"temperature\": 0.8, \"top_k\": 40,"
             " \"seed\": \"7\"}\n",
             d->tokens);
    if (write_task(d, "sample", "optimistic", REWARD_INFER, spec, err)) return -1;
    snprintf(path, sizeof path, "%s/tasks/workflow.json", d->dir);
    if (write_text(path,
                   "{\n"
                   "  \"format\": \"plow.workflow.v1\",\n"
                   "  \"steps\": [\n"
                   "    {\"name\": \"base\", \"task\": \"base.task.json\"},\n"
                   "    {\"name\": \"lora\", \"task\": \"lora.task.json\", \"inputs\": {\"base\": \"base\"}},\n"
                   "    {\"name\": \"sample\", \"task\": \"sample.task.json\",\n"
                   "     \"inputs\": {\"base\": \"base\", \"adapter\": \"lora\"}}\n"
                   "  ]\n"
                   "}\n",
                   err))
        return -1;
    /* the workers' policy: what they accept, what they keep staked */
    snprintf(path, sizeof path, "%s/policy.json", d->dir);
    snprintf(txt, sizeof txt,
             "{\n"
             "  \"kinds\": [\"train\", \"lora\", \"infer\"],\n"
             "  \"min_price_per_step\": \"1\",\n"
             "  \"max_stake_at_risk\": \"%d\",\n"
             "  \"stake\": \"%d\",\n"
             "  \"seconds_per_step\": %s\n"
             "}\n",
             WORKER_STAKE, WORKER_STAKE, strcmp(d->config, "tiny") == 0 ? "0.3" : "3");
    return write_text(path, txt, err);
}

/* ---- processes ------------------------------------------------------------------- */

/* Starts this binary with argv in its own process group, stdout and stderr
 * to log; it gets SIGTERM if the demo dies. */
static int spawn(demo *d, const char *name, bool agent, char *const argv[], char err[PLOW_ERR_LEN]) {
    if (d->n_p == MAX_PROCS) return plow_error(err, "too many processes");
    proc *p = &d->p[d->n_p];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%s/logs/%s.log", d->dir, name);
    p->agent = agent;
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return plow_error(err, "cannot create %s: %s", p->log, strerror(errno));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return plow_error(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        dup2(fd, 1);
        dup2(fd, 2);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        execv("/proc/self/exe", argv); /* this very binary, even if its file was replaced since */
        fprintf(stderr, "plow demo: cannot run %s: %s\n", d->self, strerror(errno));
        _exit(127);
    }
    close(fd);
    setpgid(pid, pid);
    p->pid = pid;
    p->running = true;
    d->n_p++;
    return 0;
}

/* Notes children that have exited. */
static void reap(demo *d) {
    for (int i = 0; i < d->n_p; i++) {
        proc *p = &d->p[i];
        if (!p->running) continue;
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->running = false;
            p->status = st;
        }
    }
}

static proc *proc_named(demo *d, const char *name) {
    for (int i = 0; i < d->n_p; i++)
        if (strcmp(d->p[i].name, name) == 0) return &d->p[i];
    return NULL;
}

/* SIGTERM, then up to `grace` seconds, then SIGKILL. */
static void stop_proc(proc *p, double grace) {
    if (!p->running) return;
    kill(p->pid, SIGTERM);
    double end = plow_now() + grace;
    while (plow_now() < end) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->running = false;
            p->status = st;
            return;
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    int st;
    waitpid(p->pid, &st, 0);
    p->running = false;
    p->status = st;
}

/* Agents first (they talk to the node), the node last. */
static void stop_all(demo *d) {
    for (int i = 0; i < d->n_p; i++)
        if (d->p[i].agent && d->p[i].running) kill(d->p[i].pid, SIGTERM);
    for (int i = 0; i < d->n_p; i++)
        if (d->p[i].agent) stop_proc(&d->p[i], 10);
    for (int i = 0; i < d->n_p; i++) stop_proc(&d->p[i], 15);
}

static int start_node(demo *d, char err[PLOW_ERR_LEN]) {
    char data[PATHN + 16], genesis[PATHN + 32], listen[64], bms[32];
    snprintf(data, sizeof data, "%s/node", d->dir);
    snprintf(genesis, sizeof genesis, "%s/genesis.json", d->dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%ld", d->port);
    snprintf(bms, sizeof bms, "%ld", d->block_ms);
    char *argv[] = {"plow", "node", "--data", data, "--genesis", genesis, "--listen", listen, "--block-ms", bms,
                    /* --chain evm: the chain's indexer; a referee process rules (start_agents) */
                    "--chain", d->anvil.url, "--deployment", d->dep_path, "--confirmations", "0",
                    "--chain-poll-ms", "200", "--no-referee", NULL};
    if (!d->evm) argv[10] = NULL;
    if (spawn(d, "node", false, argv, err)) return -1;
    /* the URL: the port given, or the one the node picked (DIR/node/node.url) */
    char urlfile[PATHN + 32];
    snprintf(urlfile, sizeof urlfile, "%s/node.url", data);
    double end = plow_now() + 30;
    while (plow_now() < end && !demo_stop) {
        reap(d);
        if (!d->p[0].running) return plow_error(err, "the node exited at start: see %s", d->p[0].log);
        if (d->port != 0) {
            snprintf(d->url, sizeof d->url, "http://127.0.0.1:%ld", d->port);
        } else if (plow_file_exists(urlfile)) {
            uint8_t *b = NULL;
            size_t n = 0;
            if (plow_read_file(urlfile, 255, &b, &n, err) == 0) {
                while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == ' ')) n--;
                snprintf(d->url, sizeof d->url, "%.*s", (int)n, (const char *)b);
                free(b);
            }
        }
        if (d->url[0]) {
            if (!d->c) d->c = client_new(d->url);
            uint64_t h;
            if (d->c && client_height(d->c, &h, err) == 0) return 0;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return plow_error(err, "the node did not answer within 30 s: see %s", d->p[0].log);
}

/* argv (NULL-terminated, with room for 8 more) with chain[] appended when the demo settles on the EVM. */
static char **with_chain(const demo *d, char **argv, char **chain) {
    if (!d->evm) return argv;
    int k = 0;
    while (argv[k]) k++;
    for (int i = 0; chain[i]; i++) argv[k++] = chain[i];
    argv[k] = NULL;
    return argv;
}

/* --chain evm: anvil (a block a second), the contracts, every member's EVM
 * key (anvil's dev accounts, in the order of the cast; the referee the
 * last) holding its genesis balance and stake in the contract. */
static int start_chain(demo *d, char err[PLOW_ERR_LEN]) {
    char adir[PATHN + 16], cdir[PATHN], path[PATHN + 64];
    snprintf(adir, sizeof adir, "%s/anvil", d->dir);
    if (eth_anvil_start_blocks(adir, NULL, (unsigned)d->block_ms, &d->anvil, err)) return -1;
    if (d->anvil.nkeys < d->n_m + 1) return plow_error(err, "anvil has %d keys, the demo needs %d", d->anvil.nkeys, d->n_m + 1);
    /* the contracts next to the anvil the binary uses: $PLOW_ROOT (or .)/build/contracts */
    const char *root = getenv("PLOW_ROOT");
    snprintf(cdir, sizeof cdir, "%s/build/contracts", root && *root ? root : ".");
    eth_rpc *rpc = eth_rpc_new(d->anvil.url);
    eth_signer s[MAX_ACCOUNTS];
    int n_s = 0, rc = -1;
    eth_key k, ref;
    memset(&ref, 0, sizeof ref);
    for (int i = 0; i < d->n_m; i++) {
        if (eth_key_from_secret(&k, d->anvil.keys[i], err) || eth_signer_init(&s[i], rpc, &k, err)) goto out;
        eth_key_wipe(&k);
        n_s++;
    }
    if (eth_key_from_secret(&ref, d->anvil.keys[d->anvil.nkeys - 1], err)) goto out;
    evm_deploy_params dp = {.unbond_blocks = d->params.unbond_blocks, .verdict_blocks = d->params.verdict_blocks,
                            .bond_floor = 10, .slash_challenger_pct = d->params.slash_challenger_pct,
                            .bond_accused_pct = d->params.bond_accused_pct};
    memcpy(dp.referee, ref.addr, ETH_ADDR_LEN);
    if (evm_deploy(&s[0], cdir, &dp, &d->dep, NULL, err)) {
        plow_error_prefix(err, "deploying the contracts (make contracts builds them)");
        goto out;
    }
    char *dj = evm_deployment_json(&d->dep);
    snprintf(d->dep_path, sizeof d->dep_path, "%s/deployment.json", d->dir);
    int wr = write_text(d->dep_path, dj, err);
    free(dj);
    if (wr) goto out;
    char hex[67];
    hex[0] = '0', hex[1] = 'x';
    plow_hex(d->anvil.keys[d->anvil.nkeys - 1], 32, hex + 2);
    snprintf(path, sizeof path, "%s/keys/referee.evm.hex", d->dir);
    if (plow_write_file(path, hex, 66, err)) goto out;
    chmod(path, 0600);
    d->supply = 0;
    for (int i = 0; i < d->n_m; i++) {
        member *m = &d->m[i];
        uint64_t all = m->balance0 + m->stake0;
        snprintf(m->evm_key, sizeof m->evm_key, "%s/keys/%s.evm.hex", d->dir, m->name);
        plow_hex(d->anvil.keys[i], 32, hex + 2);
        if (plow_write_file(m->evm_key, hex, 66, err)) goto out;
        chmod(m->evm_key, 0600);
        if (evm_token_mint(&s[0], &d->dep, s[i].key.addr, all, NULL, err) ||
            evm_token_approve(&s[i], &d->dep, all, NULL, err) ||
            evm_account_op(&s[i], &d->dep, "deposit", all, NULL, err) ||
            (m->stake0 && evm_account_op(&s[i], &d->dep, "stake", m->stake0, NULL, err))) {
            plow_error_prefix(err, m->name);
            goto out;
        }
        d->supply += all;
        /* from now on the member is its EVM account (20 bytes + 12 zeros): what the chain's index reports */
        memset(m->pk, 0, 32);
        memcpy(m->pk, s[i].key.addr, ETH_ADDR_LEN);
    }
    rc = 0;
out:
    for (int i = 0; i < n_s; i++) eth_signer_release(&s[i]);
    eth_key_wipe(&ref);
    eth_rpc_free(rpc);
    return rc;
}

static int start_agents(demo *d, char err[PLOW_ERR_LEN]) {
    char policy[PATHN + 32], wf[PATHN + 32];
    snprintf(policy, sizeof policy, "%s/policy.json", d->dir);
    snprintf(wf, sizeof wf, "%s/tasks/workflow.json", d->dir);
    /* the verifier first, then the workers, then the requester */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < d->n_m; i++) {
            member *m = &d->m[i];
            char work[PATHN + 64];
            snprintf(work, sizeof work, "%s/work/%s", d->dir, m->name);
            /* --chain evm: each agent settles on the contracts with its own EVM key */
            char *chain[] = {"--chain", "evm", "--deployment", d->dep_path, "--rpc", d->anvil.url, "--keystore",
                             m->evm_key, NULL};
            if (pass == 0 && m->r == ROLE_VERIFIER) {
                char *argv[] = {"plow",      "verifier", "--key",  m->key,    "--work", work, "--node", d->url,
                                "--name",    m->name,    "--threads", "1",    "--samples", "4", NULL, NULL, NULL,
                                NULL, NULL, NULL, NULL, NULL, NULL};
                if (spawn(d, m->name, true, with_chain(d, argv, chain), err)) return -1;
            } else if (pass == 1 && (m->r == ROLE_HONEST || m->r == ROLE_CHEATER)) {
                char *argv[] = {"plow",    "worker", "--key",   m->key,   "--work", work,
                                "--node",  d->url,   "--name",  m->name,  "--policy", policy,
                                "--threads", "1",    "--cheat", "perturb", NULL, NULL, NULL, NULL, NULL, NULL,
                                NULL, NULL, NULL};
                if (m->r == ROLE_HONEST) argv[12] = NULL;
                if (spawn(d, m->name, true, with_chain(d, argv, chain), err)) return -1;
            } else if (pass == 2 && m->r == ROLE_REQUESTER) {
                char result[PATHN + 32];
                snprintf(result, sizeof result, "%s/result.json", d->dir);
                char *argv[] = {"plow",   "requester", "--key",   m->key,  "--work",   work,   "--node", d->url,
                                "--name", m->name,     "--workflow", wf,   "--result", result, NULL, NULL, NULL,
                                NULL, NULL, NULL, NULL, NULL, NULL};
                if (spawn(d, m->name, true, with_chain(d, argv, chain), err)) return -1;
            } else if (pass == 0 && m->r == ROLE_OPERATOR && d->evm) {
                /* the referee: the deployment's referee key (anvil's last), blobs from the node */
                char rkey[PATHN + 32];
                snprintf(rkey, sizeof rkey, "%s/keys/referee.evm.hex", d->dir);
                snprintf(work, sizeof work, "%s/work/referee", d->dir);
                char *argv[] = {"plow",  "referee", "--chain", "evm",  "--deployment", d->dep_path, "--rpc",
                                d->anvil.url, "--keystore", rkey, "--key", m->key, "--work", work, "--node", d->url,
                                NULL};
                if (spawn(d, "referee", true, argv, err)) return -1;
            }
        }
    return 0;
}

/* ---- watching the network -------------------------------------------------------- */

#define MAX_TASKS 64
#define MAX_CH 64

typedef struct watch {
    int n_tasks;
    ledger_task tasks[MAX_TASKS];
    int n_ch;
    ledger_challenge ch[MAX_CH];
    double last_progress;
    char last_line[512];
} watch;

static const char *kind_label(const ledger_task *t) {
    return ledger_kind_name(t->p.kind);
}

static void task_event(demo *d, const ledger_task *old, const ledger_task *t) {
    char id[12], nb[16];
    shorthex(t->id, id);
    if (!old) {
        char r[32];
        money(t->p.reward, r);
        char stk[32];
        money(t->p.worker_stake, stk);
        say("task %s posted by %s: %s, %s x%u, %" PRIu64 " %s, reward %s a worker, stake %s", id,
            name_of(d, t->requester, nb), kind_label(t), ledger_mode_name(t->p.mode), t->p.replicas, t->p.steps,
            t->p.kind == LEDGER_KIND_INFER ? "tokens" : "steps", r, stk);
    }
    for (int k = 0; k < t->p.replicas && k < LEDGER_MAX_REPLICAS; k++) {
        const ledger_slot *o = old ? &old->slots[k] : NULL, *s = &t->slots[k];
        if ((o && o->status == s->status) || s->status == LEDGER_SLOT_EMPTY) continue;
        char fs[12], r[32];
        shorthex(s->final_state, fs);
        money(t->p.reward, r);
        switch (s->status) {
        case LEDGER_SLOT_CLAIMED: say("task %s: slot %d claimed by %s", id, k, name_of(d, s->worker, nb)); break;
        case LEDGER_SLOT_COMMITTED:
            say("task %s: slot %d committed by %s (final state %s)", id, k, name_of(d, s->worker, nb), fs);
            break;
        case LEDGER_SLOT_SLASHED: say("task %s: slot %d of %s SLASHED", id, k, name_of(d, s->worker, nb)); break;
        case LEDGER_SLOT_FORFEITED: say("task %s: slot %d of %s forfeited", id, k, name_of(d, s->worker, nb)); break;
        case LEDGER_SLOT_PAID: say("task %s: %s paid %s", id, name_of(d, s->worker, nb), r); break;
        case LEDGER_SLOT_UNPAID: say("task %s: %s not paid", id, name_of(d, s->worker, nb)); break;
        }
    }
    if (old && old->status != t->status) {
        if (t->status == LEDGER_TASK_COMMITTED)
            say("task %s: every slot committed; challenge window until block %" PRIu64, id, t->window_end);
        else say("task %s: %s", id, ledger_task_status_name(t->status));
    }
}

static void challenge_event(demo *d, const ledger_challenge *old, const ledger_challenge *c, uint64_t stake) {
    char id[12], tid[12], nb[16], nb2[16], nb3[16];
    shorthex(c->id, id);
    shorthex(c->task, tid);
    if (!old)
        say("challenge %s on task %s: %s accuses %s%s%s at step %" PRIu64 " (bond %" PRIu64 ")", id, tid,
            name_of(d, c->challenger, nb), name_of(d, c->accused, nb2), c->has_other ? " against " : "",
            c->has_other ? name_of(d, c->other, nb3) : "", c->step, c->bond);
    if ((!old || old->status != c->status) && c->status != LEDGER_CH_OPEN) {
        char s[32], sh[32];
        money(stake, s);
        money((stake / 100) * d->params.slash_challenger_pct + (stake % 100) * d->params.slash_challenger_pct / 100, sh);
        if (c->status == LEDGER_CH_UPHELD)
            say("verdict on %s: UPHELD by the referee's one step -- %s loses its stake %s (%s to %s, the rest burned)",
                id, name_of(d, c->accused, nb), s, sh, name_of(d, c->challenger, nb2));
        else say("verdict on %s: %s", id, ledger_challenge_status_name(c->status));
    }
}

static int fetch_all_tasks(demo *d, ledger_task *out, int max, int *n, char err[PLOW_ERR_LEN]) {
    cJSON *j = NULL;
    if (client_get_json(d->c, "/v1/tasks?limit=100", &j, err)) return -1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "tasks"), *it;
    int cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0, i = 0;
    if (cnt > max) cnt = max;
    cJSON_ArrayForEach(it, arr) {
        if (i >= cnt) break;
        if (json_task_from(it, &out[cnt - 1 - i], err)) {
            cJSON_Delete(j);
            return -1;
        }
        i++;
    }
    cJSON_Delete(j);
    *n = cnt;
    return 0;
}

static int fetch_challenges(demo *d, const uint8_t task[32], ledger_challenge *out, int max, int *n,
                            char err[PLOW_ERR_LEN]) {
    char hex[65], path[128];
    plow_hex(task, 32, hex);
    snprintf(path, sizeof path, "/v1/task/%s", hex);
    cJSON *j = NULL;
    if (client_get_json(d->c, path, &j, err)) return -1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "challenges"), *it;
    *n = 0;
    cJSON_ArrayForEach(it, arr) {
        if (*n >= max) break;
        if (json_challenge_from(it, &out[*n], err)) {
            cJSON_Delete(j);
            return -1;
        }
        (*n)++;
    }
    cJSON_Delete(j);
    return 0;
}

/* Reads what the agents logged since last time; keeps each one's last step count. */
static void scan_logs(demo *d) {
    for (int i = 0; i < d->n_p; i++) {
        proc *p = &d->p[i];
        if (!p->agent) continue;
        FILE *f = fopen(p->log, "r");
        if (!f) continue;
        if (fseek(f, p->log_off, SEEK_SET) == 0) {
            char line[1024];
            while (fgets(line, sizeof line, f)) {
                size_t l = strlen(line);
                if (l == 0 || line[l - 1] != '\n') break; /* a partial line: read it next time */
                p->log_off += (long)l;
                char *t = strstr(line, ": task ");
                char tid[16], what[32];
                long done, total;
                if (t && sscanf(t, ": task %15[0-9a-f]: %31s %ld/%ld", tid, what, &done, &total) == 4)
                    snprintf(p->progress, sizeof p->progress, "%s %s %ld/%ld", tid, what, done, total);
                if (strstr(line, "committed (artifact")) p->progress[0] = 0;
                /* the verifier's verdicts on honest work (nothing reaches the ledger then) */
                char *v = strstr(line, "verifier: ");
                if (v && (strstr(v, "): valid (") || strstr(v, "replicas agree") || strstr(v, "INVALID") ||
                          strstr(v, "first divergent step"))) {
                    line[l - 1] = 0;
                    say("%s", v);
                }
            }
        }
        fclose(f);
    }
}

static void show_progress(demo *d, watch *w) {
    double now = plow_now();
    if (now - w->last_progress < 4) return;
    char line[512] = "";
    for (int i = 0; i < d->n_p; i++)
        if (d->p[i].progress[0])
            snprintf(line + strlen(line), sizeof line - strlen(line), "  %s: %s", d->p[i].name, d->p[i].progress);
    if (line[0] && strcmp(line, w->last_line) != 0) {
        say("work:%s", line);
        snprintf(w->last_line, sizeof w->last_line, "%s", line);
    }
    w->last_progress = now;
}

/* One look at the ledger: prints what changed. */
static int observe(demo *d, watch *w, char err[PLOW_ERR_LEN]) {
    ledger_task *now = plow_calloc(MAX_TASKS, sizeof *now);
    int n = 0;
    if (fetch_all_tasks(d, now, MAX_TASKS, &n, err)) {
        free(now);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const ledger_task *old = NULL;
        for (int k = 0; k < w->n_tasks; k++)
            if (memcmp(w->tasks[k].id, now[i].id, 32) == 0) old = &w->tasks[k];
        bool changed = !old || memcmp(old, &now[i], sizeof *old) != 0;
        if (changed) task_event(d, old, &now[i]);
        if (changed || now[i].open_challenges) {
            ledger_challenge ch[8];
            int nc = 0;
            if (now[i].status >= LEDGER_TASK_CHALLENGED && fetch_challenges(d, now[i].id, ch, 8, &nc, err) == 0) {
                for (int c = 0; c < nc; c++) {
                    ledger_challenge *oc = NULL;
                    for (int k = 0; k < w->n_ch; k++)
                        if (memcmp(w->ch[k].id, ch[c].id, 32) == 0) oc = &w->ch[k];
                    if (!oc || oc->status != ch[c].status) challenge_event(d, oc, &ch[c], now[i].p.worker_stake);
                    if (oc) *oc = ch[c];
                    else if (w->n_ch < MAX_CH) w->ch[w->n_ch++] = ch[c];
                }
            }
        }
    }
    memcpy(w->tasks, now, (size_t)n * sizeof *now);
    w->n_tasks = n;
    free(now);
    return 0;
}

/* ---- the outcome ---------------------------------------------------------------- */

typedef struct outcome {
    bool ok;
    int fails;
} outcome;

static void check(outcome *o, bool cond, const char *fmt, ...) PLOW_PRINTF(3, 4);
static void check(outcome *o, bool cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  [%s] ", cond ? "ok" : "FAIL");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (!cond) o->fails++;
}

static uint64_t pct_of(uint64_t x, uint32_t pct) { return (x / 100) * pct + (x % 100) * pct / 100; }

/* The accounts table, genesis against now; returns what they hold. */
static uint64_t report_accounts(const demo *d, uint64_t height) {
    printf("\n== accounts (genesis -> now, from the ledger at block %" PRIu64 ")\n", height);
    printf("  %-10s %-14s %25s %20s %10s\n", "account", "address", "balance", "stake", "change");
    uint64_t holdings = 0;
    for (int i = 0; i < d->n_m; i++) {
        const member *m = &d->m[i];
        char a[LEDGER_ADDR_STR_LEN], b0[32], b1[32], s0[32], s1[32], ch[40], col1[80], col2[80];
        ledger_addr_format(m->pk, a);
        money(m->balance0, b0);
        money(m->now.balance, b1);
        money(m->stake0, s0);
        money(m->now.stake, s1);
        int64_t delta = (int64_t)(m->now.balance + m->now.stake + m->now.unbonding) - (int64_t)(m->balance0 + m->stake0);
        smoney(delta, ch);
        snprintf(col1, sizeof col1, "%s -> %s", b0, b1);
        snprintf(col2, sizeof col2, "%s -> %s", s0, s1);
        printf("  %-10s %-14.14s %25s %20s %10s\n", m->name, a, col1, col2, ch);
        holdings += m->now.balance + m->now.stake + m->now.unbonding;
    }
    return holdings;
}

static void report_tasks(const demo *d, const watch *w) {
    printf("\n== tasks\n");
    for (int i = 0; i < w->n_tasks; i++) {
        const ledger_task *t = &w->tasks[i];
        char id[12];
        shorthex(t->id, id);
        printf("  %s %-5s %-10s %-9s", id, kind_label(t), ledger_mode_name(t->p.mode), ledger_task_status_name(t->status));
        for (int k = 0; k < t->p.replicas; k++) {
            char nb[16];
            printf("  %s:%s", name_of(d, t->slots[k].worker, nb), ledger_slot_status_name(t->slots[k].status));
        }
        putchar('\n');
    }
    for (int i = 0; i < w->n_ch; i++) {
        char id[12], tid[12], nb[16], nb2[16];
        shorthex(w->ch[i].id, id);
        shorthex(w->ch[i].task, tid);
        printf("  challenge %s on %s by %s against %s at step %" PRIu64 ": %s\n", id, tid,
               name_of(d, w->ch[i].challenger, nb), name_of(d, w->ch[i].accused, nb2), w->ch[i].step,
               ledger_challenge_status_name(w->ch[i].status));
    }
}

/* What the requester checked (its result.json): the steps verified, the receipt. */
typedef struct artifacts {
    bool result_ok, receipt_ok;
    int verified, n_steps;
} artifacts;

static artifacts report_artifacts(const demo *d, char err[PLOW_ERR_LEN]) {
    artifacts ar = {0};
    /* the requester's checks of what it paid for */
    char rpath[PATHN + 32];
    snprintf(rpath, sizeof rpath, "%s/result.json", d->dir);
    uint8_t *rb = NULL;
    size_t rn = 0;
    cJSON *res = NULL;
    if (plow_file_exists(rpath) && plow_read_file(rpath, 1 << 22, &rb, &rn, err) == 0) {
        res = cJSON_ParseWithLength((const char *)rb, rn);
        free(rb);
    }
    ar.result_ok = res && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok"));
    const char *text = NULL;
    printf("\n== artifacts (downloaded by the requester and checked against the commitments)\n");
    const cJSON *steps = res ? cJSON_GetObjectItemCaseSensitive(res, "steps") : NULL, *s;
    cJSON_ArrayForEach(s, steps) {
        ar.n_steps++;
        const char *nm = json_get_str(s, "name"), *kind = json_get_str(s, "kind"), *art = json_get_str(s, "artifact"),
                   *chk = json_get_str(s, "check");
        bool v = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "verified"));
        ar.verified += v;
        if (kind && strcmp(kind, "infer") == 0) {
            ar.receipt_ok = v;
            text = json_get_str(s, "text");
        }
        printf("  %-7s %-6s %s  %s: %s\n", nm ? nm : "?", kind ? kind : "?", art ? art : "(none)",
               v ? "verified" : "NOT VERIFIED", chk ? chk : "");
    }
    if (text) printf("\n== generated by the fine-tuned model (receipt verified by one prefill)\n%s\n", text);
    cJSON_Delete(res);
    return ar;
}

/* Who was slashed, who was paid, and whether the ledger adds up: true when
 * every check holds. */
static bool report_outcome(const demo *d, const watch *w, const artifacts *ar, int requester_rc, uint64_t holdings,
                           uint64_t supply, uint64_t burned) {
    char sb[32];
    printf("\n== outcome\n");
    outcome o = {0};
    uint64_t paid[MAX_ACCOUNTS] = {0}, slashed[MAX_ACCOUNTS] = {0}, share[MAX_ACCOUNTS] = {0}, rewards_out = 0;
    int bad_slots[MAX_ACCOUNTS] = {0}, n_paid[MAX_ACCOUNTS] = {0}, n_slashed[MAX_ACCOUNTS] = {0};
    for (int i = 0; i < w->n_tasks; i++) {
        const ledger_task *t = &w->tasks[i];
        for (int k = 0; k < t->p.replicas; k++) {
            const ledger_slot *sl = &t->slots[k];
            for (int m = 0; m < d->n_m; m++) {
                if (memcmp(d->m[m].pk, sl->worker, 32) != 0) continue;
                if (sl->status == LEDGER_SLOT_PAID) paid[m] += t->p.reward, n_paid[m]++, rewards_out += t->p.reward;
                if (sl->status == LEDGER_SLOT_SLASHED) slashed[m] += t->p.worker_stake, n_slashed[m]++;
                if (sl->status == LEDGER_SLOT_SLASHED || sl->status == LEDGER_SLOT_FORFEITED) bad_slots[m]++;
            }
        }
    }
    for (int i = 0; i < w->n_ch; i++) {
        if (w->ch[i].status != LEDGER_CH_UPHELD) continue;
        uint64_t stake = 0;
        for (int k = 0; k < w->n_tasks; k++)
            if (memcmp(w->tasks[k].id, w->ch[i].task, 32) == 0) stake = w->tasks[k].p.worker_stake;
        for (int m = 0; m < d->n_m; m++)
            if (memcmp(d->m[m].pk, w->ch[i].challenger, 32) == 0) share[m] += pct_of(stake, d->params.slash_challenger_pct);
    }
    uint64_t fees_total = 0;
    for (int m = 0; m < d->n_m; m++)
        if (d->m[m].r != ROLE_OPERATOR) fees_total += d->m[m].now.nonce * d->params.min_fee;
    for (int m = 0; m < d->n_m; m++) {
        const member *mb = &d->m[m];
        char p1[32], p2[32];
        int64_t delta = (int64_t)(mb->now.balance + mb->now.stake + mb->now.unbonding) - (int64_t)(mb->balance0 + mb->stake0);
        int64_t fees = (int64_t)(mb->now.nonce * d->params.min_fee);
        switch (mb->r) {
        case ROLE_HONEST:
            money(paid[m], p1);
            check(&o, n_paid[m] > 0 && bad_slots[m] == 0 && delta == (int64_t)paid[m] - fees,
                  "%s (honest) paid %s for %d slot%s, never slashed: change %+" PRId64 " = rewards - %" PRId64 " fees",
                  mb->name, p1, n_paid[m], n_paid[m] == 1 ? "" : "s", delta, fees);
            break;
        case ROLE_CHEATER:
            money(slashed[m], p1);
            check(&o, n_slashed[m] > 0 && n_paid[m] == 0 && delta == -(int64_t)slashed[m] - fees,
                  "%s slashed %s on %d slot%s, paid nothing: change %+" PRId64, mb->name, p1, n_slashed[m],
                  n_slashed[m] == 1 ? "" : "s", delta);
            break;
        case ROLE_VERIFIER:
            money(share[m], p1);
            check(&o, share[m] > 0 && delta == (int64_t)share[m] - fees,
                  "%s earned %s (its share of the slashed stake): change %+" PRId64 " = share - %" PRId64 " fees",
                  mb->name, p1, delta, fees);
            break;
        case ROLE_REQUESTER:
            money(rewards_out, p2);
            check(&o, delta == -(int64_t)rewards_out - fees,
                  "%s paid %s in rewards: change %+" PRId64 " = -rewards - %" PRId64 " fees", mb->name, p2, delta, fees);
            break;
        case ROLE_OPERATOR:
            check(&o, delta == (int64_t)fees_total, "%s earned the fees: change %+" PRId64 " (fees %" PRIu64 ")", mb->name,
                  delta, fees_total);
            break;
        }
    }
    money(holdings, sb);
    check(&o, holdings == supply - burned, "supply conserved: holdings %s == supply - burned", sb);
    check(&o, requester_rc == 0 && ar->result_ok && ar->n_steps == 3 && ar->verified == 3,
          "the requester's workflow: %d of 3 steps accepted and verified (requester exit %d)", ar->verified, requester_rc);
    check(&o, ar->receipt_ok, "the inference receipt re-derived by one prefill");
    return o.fails == 0;
}

static int report(demo *d, watch *w, int requester_rc, char err[PLOW_ERR_LEN]) {
    /* the final ledger */
    if (observe(d, w, err)) return -1;
    cJSON *st = NULL;
    if (client_get_json(d->c, "/v1/status", &st, err)) return -1;
    uint64_t supply = 0, burned = 0, height = 0;
    int rc = json_get_u64(st, "supply", &supply, err) || json_get_u64(st, "burned", &burned, err) ||
             json_get_u64(st, "height", &height, err);
    cJSON_Delete(st);
    if (rc) return -1;
    for (int i = 0; i < d->n_m; i++) {
        uint64_t nn;
        if (client_account(d->c, d->m[i].pk, &d->m[i].now, &nn, err)) return -1;
    }
    uint64_t holdings = report_accounts(d, height);
    uint64_t escrow = 0, bonds = 0;
    for (int i = 0; i < w->n_tasks; i++) escrow += w->tasks[i].escrow;
    for (int i = 0; i < w->n_ch; i++)
        if (w->ch[i].status == LEDGER_CH_OPEN) bonds += w->ch[i].bond;
    holdings += escrow + bonds;
    char sb[32], bb[32];
    money(supply, sb);
    money(burned, bb);
    printf("  supply %s, burned %s (the slashed stake not paid to the challenger)\n", sb, bb);

    report_tasks(d, w);
    artifacts ar = report_artifacts(d, err);
    return report_outcome(d, w, &ar, requester_rc, holdings, supply, burned) ? 0 : 1;
}

/* ---- the command ----------------------------------------------------------------- */

/* A directory that does not exist yet, or is empty. */
static bool dir_usable(const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0) return errno == ENOENT;
    if (!S_ISDIR(st.st_mode)) return false;
    DIR *dh = opendir(dir);
    if (!dh) return false;
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(dh)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
    closedir(dh);
    return empty;
}

static int run_demo(demo *d, char err[PLOW_ERR_LEN]) {
    static const char *const sub[] = {"keys", "logs", "data", "tasks", "work", "node"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char p[PATHN + 16];
        snprintf(p, sizeof p, "%s/%s", d->dir, sub[i]);
        if (plow_mkdir_p(p, err)) return -1;
    }
    if (ledger_crypto_init(err)) return -1;
    /* the cast: funded at genesis; the cheater holds exactly one slot's stake */
    if (add_member(d, "operator", ROLE_OPERATOR, 1000000, 0, err) ||
        add_member(d, "requester", ROLE_REQUESTER, 1000000, 0, err))
        return -1;
    for (long i = 1; i <= d->workers; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "honest-%ld", i);
        if (add_member(d, nm, ROLE_HONEST, 20000, 0, err)) return -1;
    }
    if (add_member(d, CHEATER_NAME, ROLE_CHEATER, 100, WORKER_STAKE, err) ||
        add_member(d, "verifier", ROLE_VERIFIER, 20000, 0, err))
        return -1;
    if (write_genesis(d, err) || write_data(d, err) || write_tasks(d, err)) return -1;
    say("genesis: %d accounts (operator, requester, %ld honest workers, a cheating worker, a verifier)", d->n_m,
        d->workers);
    if (d->evm) {
        if (start_chain(d, err)) return -1;
        char a[43];
        eth_addr_checksum(d->dep.plow, a);
        say("EVM chain: anvil at %s (pid %d, a block every %ld ms), plow's contracts deployed (Plow %s), every "
            "member's tokens deposited",
            d->anvil.url, (int)d->anvil.pid, d->block_ms, a);
    }
    if (start_node(d, err)) return -1;
    say("node up at %s (blocks every %ld ms; log %s/logs/node.log)%s", d->url, d->block_ms, d->dir,
        d->evm ? "; it indexes the chain and serves the blobs" : "");
    if (start_agents(d, err)) return -1;
    say("agents started: verifier, %ld honest workers, %s (--cheat perturb), requester; logs in %s/logs/", d->workers,
        CHEATER_NAME, d->dir);
    say("workflow: base model (%s, %ld steps, replicated x%ld) -> LoRA on The Tempest (%ld steps, optimistic) -> "
        "generation with a receipt (%ld tokens)",
        d->config, d->steps, d->workers + 1, d->lora_steps, d->tokens);
    watch *w = plow_calloc(1, sizeof *w);
    proc *req = proc_named(d, "requester");
    int rc = -1;
    double deadline = plow_now() + (double)d->timeout;
    int failures = 0;
    while (!demo_stop) {
        reap(d);
        scan_logs(d);
        char e[PLOW_ERR_LEN];
        if (observe(d, w, e)) {
            if (++failures == 20) say("cannot read the ledger: %s", e);
        } else {
            failures = 0;
        }
        show_progress(d, w);
        if (!req->running) break;
        for (int i = 0; i < d->n_p; i++) {
            proc *p = &d->p[i];
            if (p->running) continue;
            if (!p->agent) {
                plow_error(err, "the node stopped unexpectedly: see %s", p->log);
                goto out;
            }
            if (!p->reported) {
                say("%s exited unexpectedly (status %d): see %s", p->name, p->status, p->log);
                p->reported = true;
            }
        }
        if (plow_now() > deadline) {
            plow_error(err, "the workflow did not finish within %ld s (see %s/logs/)", d->timeout, d->dir);
            goto out;
        }
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
    }
    if (demo_stop) {
        plow_error(err, "interrupted");
        goto out;
    }
    int req_rc = WIFEXITED(req->status) ? WEXITSTATUS(req->status) : 128 + WTERMSIG(req->status);
    say("the requester finished (exit %d)", req_rc);
    /* the last blocks: nothing more is coming, but let the node settle the last one */
    struct timespec ts = {0, (long)d->block_ms * 2000000L};
    nanosleep(&ts, NULL);
    scan_logs(d);
    rc = report(d, w, req_rc, err);
    if (rc < 0) goto out;
    if (rc == 0) printf("\nOUTCOME: RIGHT -- the cheater was caught and slashed, the honest workers were paid.\n");
    else printf("\nOUTCOME: WRONG -- see the FAIL lines above and the logs in %s/logs/\n", d->dir);
out:
    if (rc >= 0 && !demo_stop) { /* the explorer (docs/explorer.md): the same node serves it */
        if (d->keep) printf("\nExplorer: %s/\n", d->url);
        else printf("\nExplorer: %s/ while it runs (--keep-running keeps the network up; later: plow node --data %s/node)\n",
                    d->url, d->dir);
    }
    if (d->keep && rc >= 0 && !demo_stop) {
        printf("Still running at %s (--keep-running); Ctrl-C stops it.\n", d->url);
        fflush(stdout);
        while (!demo_stop) {
            reap(d);
            struct timespec one = {0, 200000000};
            nanosleep(&one, NULL);
        }
    }
    free(w);
    return rc;
}

int cmd_demo(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(demo_help, stdout), 0;
    const char *dir = NULL, *config = NULL, *steps_s = NULL, *lora_s = NULL, *tokens_s = NULL, *workers_s = NULL,
               *port_s = NULL, *bms_s = NULL, *data = NULL, *timeout_s = NULL;
    bool keep = false;
    const char *chain = NULL;
    const cli_opt opts[] = {{"--chain", &chain, NULL},{"--dir", &dir, NULL},         {"--config", &config, NULL},   {"--steps", &steps_s, NULL},
                            {"--lora-steps", &lora_s, NULL}, {"--tokens", &tokens_s, NULL}, {"--workers", &workers_s, NULL},
                            {"--port", &port_s, NULL},     {"--block-ms", &bms_s, NULL},  {"--data", &data, NULL},
                            {"--timeout", &timeout_s, NULL}, {"--keep-running", NULL, &keep}, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("demo", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    demo *d = plow_calloc(1, sizeof *d);
    d->m = plow_calloc(MAX_ACCOUNTS, sizeof *d->m);
    d->p = plow_calloc(MAX_PROCS, sizeof *d->p);
    char err[PLOW_ERR_LEN];
    d->config = config ? config : "tiny";
    d->steps = 200;
    d->tokens = 0; /* the config's context less room for the prompt */
    d->workers = 2;
    d->port = 0;
    d->block_ms = 250;
    d->timeout = 900;
    d->keep = keep;
    rc = 2;
    if (chain && strcmp(chain, "evm") != 0) {
        cli_usage_error("demo", "--chain takes evm (plow's contracts on a local anvil), got '%s'", chain);
        goto done;
    }
    d->evm = chain != NULL;
    d->anvil.pid = -1;
    if (strcmp(d->config, "tiny") != 0 && strcmp(d->config, "small") != 0) {
        cli_usage_error("demo", "--config must be tiny or small, got '%s'", d->config);
        goto done;
    }
    if ((steps_s && cli_int("--steps", steps_s, 4, 1000000, &d->steps, err)) ||
        (tokens_s && cli_int("--tokens", tokens_s, 1, 2000, &d->tokens, err)) ||
        (workers_s && cli_int("--workers", workers_s, 1, LEDGER_MAX_REPLICAS - 1, &d->workers, err)) ||
        (port_s && cli_int("--port", port_s, 0, 65535, &d->port, err)) ||
        (bms_s && cli_int("--block-ms", bms_s, 20, 10000, &d->block_ms, err)) ||
        (timeout_s && cli_int("--timeout", timeout_s, 10, 86400, &d->timeout, err))) {
        cli_usage_error("demo", "%s", err);
        goto done;
    }
    long ctx = strcmp(d->config, "tiny") == 0 ? 128 : 256;
    if (d->tokens == 0) d->tokens = ctx - 28;
    if (d->tokens > ctx - 16) {
        cli_usage_error("demo", "--tokens %ld does not fit the %s model's context of %ld tokens with the prompt "
                                "(at most %ld)", d->tokens, d->config, ctx, ctx - 16);
        goto done;
    }
    d->lora_steps = d->steps / 2 >= 2 ? d->steps / 2 : 2;
    if (lora_s && cli_int("--lora-steps", lora_s, 2, 1000000, &d->lora_steps, err)) {
        cli_usage_error("demo", "%s", err);
        goto done;
    }
    rc = 1;
    if (strlen(dir ? dir : "plow-demo") >= sizeof d->dir - 64) {
        cli_fail("demo: --dir path too long");
        goto done;
    }
    snprintf(d->dir, sizeof d->dir, "%s", dir ? dir : "plow-demo");
    if (!dir_usable(d->dir)) {
        cli_fail("demo: %s exists and is not empty: remove it or pass another --dir", d->dir);
        goto done;
    }
    ssize_t n = readlink("/proc/self/exe", d->self, sizeof d->self - 1);
    if (n <= 0) {
        cli_fail("demo: cannot find this program (/proc/self/exe): %s", strerror(errno));
        goto done;
    }
    d->self[n] = 0;
    if (find_corpus(d, data, err)) {
        cli_fail("demo: %s", err);
        goto done;
    }
    t_start = plow_now();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = demo_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("plow demo: a local network in %s\n", d->dir);
    fflush(stdout);
    int r = run_demo(d, err);
    if (d->n_p) {
        say("stopping the %d processes it started (agents first, then the node)", d->n_p);
        stop_all(d);
    }
    if (d->evm && d->anvil.pid > 0) {
        say("stopping anvil (pid %d)", (int)d->anvil.pid);
        eth_anvil_stop(&d->anvil);
    }
    printf("\nThe network's data: %s (node: %s/node, logs: %s/logs, result: %s/result.json). Took %.0fs.\n", d->dir,
           d->dir, d->dir, d->dir, plow_now() - t_start);
    fflush(stdout);
    client_free(d->c);
    if (r < 0) rc = cli_fail("demo: %s", err);
    else rc = r == 0 ? 0 : 1;
done:
    free(d->m);
    free(d->p);
    free(d);
    return rc;
}
