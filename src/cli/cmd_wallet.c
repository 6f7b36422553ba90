/*
 * cmd_wallet.c — plow wallet: keys, balances, transfers, stake, profiles;
 * and the helpers of cli_net.h that every node-facing command shares.
 *
 * Everything a user typed is checked before anything is sent: an address's
 * checksum, an amount's digits, the fee, the capabilities' JSON.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_net.h"

/* ---- shared helpers (cli_net.h) ----------------------------------------------- */

bool cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    }
    return false;
}

int cli_parse_opts(const char *cmd, int argc, char **argv, int first, const cli_opt *opts, const char **pos,
                   int max_pos, int *n_pos) {
    *n_pos = 0;
    bool only_pos = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "-q") == 0) a = "--quiet"; /* the one short option */
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = opts;
            while (o->name && !(strlen(o->name) == nl && strncmp(o->name, a, nl) == 0)) o++;
            if (!o->name) return cli_usage_error(cmd, "unknown option '%.*s'", (int)nl, a);
            if (o->val) {
                if (eq) *o->val = eq + 1;
                else if (i + 1 < argc) *o->val = argv[++i];
                else return cli_usage_error(cmd, "%s needs a value", o->name);
            } else {
                if (eq) return cli_usage_error(cmd, "%s takes no value", o->name);
                *o->flag = true;
            }
            continue;
        }
        if (*n_pos >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", a);
        pos[(*n_pos)++] = a;
    }
    return 0;
}

const char *cli_node_url(const char *opt) {
    if (opt && *opt) return opt;
    const char *e = getenv("PLOW_NODE");
    return e && *e ? e : CLI_DEFAULT_NODE;
}

int cli_key_path(const char *opt, char *out, size_t n, char err[PLOW_ERR_LEN]) {
    const char *e = getenv("PLOW_KEY");
    if (opt && *opt) snprintf(out, n, "%s", opt);
    else if (e && *e) snprintf(out, n, "%s", e);
    else {
        const char *home = getenv("HOME");
        if (!home || !*home) return plow_error(err, "no key file: pass --key FILE or set PLOW_KEY (HOME is not set)");
        snprintf(out, n, "%s/.plow/key.json", home);
    }
    return 0;
}

int cli_load_key(const char *opt, ledger_key *k, char err[PLOW_ERR_LEN]) {
    char path[4096];
    if (cli_key_path(opt, path, sizeof path, err)) return -1;
    if (!plow_file_exists(path))
        return plow_error(err, "no key at '%s': create one with 'plow wallet new%s%s'", path, opt ? " --key " : "",
                          opt ? opt : "");
    return ledger_key_load(k, path, err);
}

int cli_signed_client(const char *key_opt, const char *node_opt, ledger_key *k, client **out,
                      char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (cli_load_key(key_opt, k, err)) return -1;
    if (!(*out = client_new(cli_node_url(node_opt)))) {
        ledger_key_wipe(k);
        return plow_error(err, "cannot start the HTTP client");
    }
    client_set_key(*out, k);
    return 0;
}

int cli_amount(const char *what, const char *s, uint64_t *out, char err[PLOW_ERR_LEN]) {
    size_t n = strlen(s);
    if (n == 0) return plow_error(err, "%s: empty amount", what);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return plow_error(err, "%s: '%s' is not an amount: a whole number of base units, digits only", what, s);
        if (!plow_mul_u64(x, 10, &x) || !plow_add_u64(x, (uint64_t)(s[i] - '0'), &x))
            return plow_error(err, "%s: '%s' is larger than 2^64-1 base units", what, s);
    }
    *out = x;
    return 0;
}

int cli_timeout(const char *s, double *out, char err[PLOW_ERR_LEN]) {
    if (!s) {
        *out = CLI_DEFAULT_TIMEOUT;
        return 0;
    }
    return cli_float("--timeout", s, 0, 1e6, out, err);
}

int cli_send_tx(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, uint8_t hash[32],
                char err[PLOW_ERR_LEN]) {
    uint8_t h[32];
    uint64_t height;
    if (client_send_at(c, k, tx, timeout_s, h, &height, err)) return -1;
    char hex[65];
    plow_hex(h, 32, hex);
    printf("tx %s included in block %" PRIu64 "\n", hex, height);
    if (hash) memcpy(hash, h, 32);
    return 0;
}

/* ---- plow wallet -------------------------------------------------------------- */

static const char wallet_help[] =
    "usage: plow wallet <command> [arguments] [options]\n"
    "\n"
    "Keys, balances, transfers, stake and profiles on a plow node.\n"
    "\n"
    "commands:\n"
    "  new                      create a key (file mode 0600; an existing file is\n"
    "                           never overwritten) and print its address\n"
    "  show                     print the key's address\n"
    "  balance [ADDR]           balance, stake, locked stake, unbonding and nonce\n"
    "                           of ADDR (default: the key's account)\n"
    "  transfer TO AMOUNT       send AMOUNT to the address TO (its checksum is\n"
    "                           checked before anything is sent)\n"
    "  stake AMOUNT             move AMOUNT of the balance into stake\n"
    "  unstake AMOUNT           unbond AMOUNT of free stake (back in the balance\n"
    "                           after the chain's unbonding delay)\n"
    "  register --kind person|agent --name NAME [--caps JSON]\n"
    "                           publish the account's profile (NAME up to 64\n"
    "                           bytes, capabilities a JSON text up to 512 bytes)\n"
    "\n"
    "options:\n"
    "  --key FILE     the key (default $PLOW_KEY, else ~/.plow/key.json)\n"
    "  --node URL     the node (default $PLOW_NODE, else http://127.0.0.1:7545)\n"
    "  --fee N        a transaction's fee in base units (default 1)\n"
    "  --timeout S    seconds to wait for the transaction's block (default 60)\n"
    "  --json         balance: print the node's account record as JSON\n"
    "  -q, --quiet    new, show: print the address only (show always does)\n"
    "\n"
    "Amounts are whole numbers of base units (no sign, no decimal point). A\n"
    "transaction prints 'tx HASH included in block H'; one that fails in its\n"
    "block exits 1 with the reason. Errors print 'plow: ...' and exit 1; bad\n"
    "usage exits 2.\n";

typedef struct wallet_args {
    const char *key, *node, *fee, *timeout, *kind, *name, *caps;
    bool json, quiet;
    const char *pos[2];
    int n_pos;
} wallet_args;

static int parse_wallet(int argc, char **argv, int max_pos, bool tx_opts, wallet_args *a) {
    memset(a, 0, sizeof *a);
    const cli_opt key_only[] = {{"--key", &a->key, NULL}, {"--quiet", NULL, &a->quiet}, {NULL, NULL, NULL}};
    const cli_opt balance[] = {
        {"--key", &a->key, NULL}, {"--node", &a->node, NULL}, {"--json", NULL, &a->json}, {NULL, NULL, NULL}};
    const cli_opt txo[] = {{"--key", &a->key, NULL},         {"--node", &a->node, NULL},
                           {"--fee", &a->fee, NULL},         {"--timeout", &a->timeout, NULL},
                           {"--kind", &a->kind, NULL},       {"--name", &a->name, NULL},
                           {"--caps", &a->caps, NULL},       {NULL, NULL, NULL}};
    const char *sub = argv[1];
    const cli_opt *opts = tx_opts ? txo : strcmp(sub, "balance") == 0 ? balance : key_only;
    return cli_parse_opts("wallet", argc, argv, 2, opts, a->pos, max_pos, &a->n_pos);
}

static int wallet_new(int argc, char **argv) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 0, false, &a);
    if (rc) return rc;
    char err[PLOW_ERR_LEN], path[4096];
    if (cli_key_path(a.key, path, sizeof path, err)) return cli_fail("%s", err);
    if (!a.key && !getenv("PLOW_KEY")) {
        /* The default place: ~/.plow, private to the user. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) return cli_fail("cannot create '%s': %s", dir, strerror(errno));
    }
    if (ledger_crypto_init(err)) return cli_fail("%s", err);
    ledger_key k;
    ledger_key_generate(&k);
    rc = ledger_key_save(&k, path, err);
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(k.pk, addr);
    ledger_key_wipe(&k);
    if (rc) return cli_fail("%s", err);
    printf("%s\n", addr);
    if (!a.quiet) fprintf(stderr, "key saved to %s (keep it private: it controls the account)\n", path);
    return 0;
}

static int wallet_show(int argc, char **argv) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 0, false, &a);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    ledger_key k;
    if (cli_load_key(a.key, &k, err)) return cli_fail("%s", err);
    char addr[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(k.pk, addr);
    ledger_key_wipe(&k);
    printf("%s\n", addr);
    return 0;
}

static int wallet_balance(int argc, char **argv) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 1, false, &a);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    uint8_t pk[32];
    if (a.n_pos == 1) {
        if (ledger_addr_parse(a.pos[0], pk, err)) return cli_usage_error("wallet", "%s", err);
    } else {
        ledger_key k;
        if (cli_load_key(a.key, &k, err)) return cli_fail("%s", err);
        memcpy(pk, k.pk, 32);
        ledger_key_wipe(&k);
    }
    client *c = client_new(cli_node_url(a.node));
    if (!c) return cli_fail("cannot start the HTTP client");
    rc = 1;
    if (a.json) {
        char addr[LEDGER_ADDR_STR_LEN], path[128];
        ledger_addr_format(pk, addr);
        snprintf(path, sizeof path, "/v1/account/%s", addr);
        cJSON *j;
        if (client_get_json(c, path, &j, err)) {
            cli_fail("%s", err);
        } else {
            char *s = cJSON_Print(j);
            printf("%s\n", s ? s : "null");
            free(s);
            cJSON_Delete(j);
            rc = 0;
        }
    } else {
        ledger_account acc;
        uint64_t next;
        if (client_account(c, pk, &acc, &next, err)) {
            cli_fail("%s", err);
        } else {
            char addr[LEDGER_ADDR_STR_LEN];
            ledger_addr_format(pk, addr);
            printf("address    %s\n", addr);
            printf("balance    %" PRIu64 "\n", acc.balance);
            printf("stake      %" PRIu64 "\n", acc.stake);
            printf("locked     %" PRIu64 "\n", acc.locked);
            if (acc.unbonding)
                printf("unbonding  %" PRIu64 " (free at block %" PRIu64 ")\n", acc.unbonding, acc.unbond_at);
            else printf("unbonding  0\n");
            if (next != acc.nonce) printf("nonce      %" PRIu64 " (%" PRIu64 " pending)\n", acc.nonce, next - acc.nonce);
            else printf("nonce      %" PRIu64 "\n", acc.nonce);
            if (acc.profile)
                printf("profile    %s \"%s\"%s%s\n", acc.profile == LEDGER_PERSON ? "person" : "agent", acc.name,
                       acc.caps[0] ? " caps " : "", acc.caps);
            rc = 0;
        }
    }
    client_free(c);
    return rc;
}

/* Loads the key, sends tx (type and body set by the caller), reports. */
static int send_simple(const wallet_args *a, ledger_tx *tx) {
    char err[PLOW_ERR_LEN];
    uint64_t fee = CLI_DEFAULT_FEE;
    double timeout;
    if (a->fee && cli_amount("--fee", a->fee, &fee, err)) return cli_usage_error("wallet", "%s", err);
    if (cli_timeout(a->timeout, &timeout, err)) return cli_usage_error("wallet", "%s", err);
    tx->fee = fee;
    ledger_key k;
    if (cli_load_key(a->key, &k, err)) return cli_fail("%s", err);
    client *c = client_new(cli_node_url(a->node));
    int rc = 1;
    if (!c) cli_fail("cannot start the HTTP client");
    else if (cli_send_tx(c, &k, tx, timeout, NULL, err)) cli_fail("%s", err);
    else rc = 0;
    ledger_key_wipe(&k);
    client_free(c);
    return rc;
}

static int no_register_opts(const wallet_args *a) {
    if (a->kind || a->name || a->caps)
        return cli_usage_error("wallet", "--kind, --name and --caps belong to 'plow wallet register'");
    return 0;
}

static int wallet_transfer(int argc, char **argv) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 2, true, &a);
    if (rc || (rc = no_register_opts(&a))) return rc;
    if (a.n_pos != 2) return cli_usage_error("wallet", "expected: plow wallet transfer TO AMOUNT");
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    if (ledger_addr_parse(a.pos[0], tx.u.transfer.to, err)) return cli_usage_error("wallet", "recipient: %s", err);
    if (cli_amount("amount", a.pos[1], &tx.u.transfer.amount, err)) return cli_usage_error("wallet", "%s", err);
    return send_simple(&a, &tx);
}

static int wallet_stake_common(int argc, char **argv, uint8_t type) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 1, true, &a);
    if (rc || (rc = no_register_opts(&a))) return rc;
    if (a.n_pos != 1) return cli_usage_error("wallet", "expected: plow wallet %s AMOUNT", argv[1]);
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = type;
    if (cli_amount("amount", a.pos[0], &tx.u.stake.amount, err)) return cli_usage_error("wallet", "%s", err);
    return send_simple(&a, &tx);
}

static int wallet_stake(int argc, char **argv) { return wallet_stake_common(argc, argv, LEDGER_TX_STAKE); }
static int wallet_unstake(int argc, char **argv) { return wallet_stake_common(argc, argv, LEDGER_TX_UNSTAKE); }

static int wallet_register(int argc, char **argv) {
    wallet_args a;
    int rc = parse_wallet(argc, argv, 0, true, &a);
    if (rc) return rc;
    if (!a.kind || !a.name) return cli_usage_error("wallet", "register needs --kind person|agent and --name NAME");
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_REGISTER;
    if (strcmp(a.kind, "person") == 0) tx.u.reg.kind = LEDGER_PERSON;
    else if (strcmp(a.kind, "agent") == 0) tx.u.reg.kind = LEDGER_AGENT;
    else return cli_usage_error("wallet", "--kind must be 'person' or 'agent', got '%s'", a.kind);
    size_t nl = strlen(a.name);
    if (nl == 0 || nl > LEDGER_NAME_MAX)
        return cli_usage_error("wallet", "--name must have 1..%d bytes, it has %zu", LEDGER_NAME_MAX, nl);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)a.name[i] < 0x20 || a.name[i] == 0x7f)
            return cli_usage_error("wallet", "--name must be printable (no control characters)");
    memcpy(tx.u.reg.name, a.name, nl + 1);
    if (a.caps) {
        size_t cl = strlen(a.caps);
        if (cl > LEDGER_CAPS_MAX)
            return cli_usage_error("wallet", "--caps must have at most %d bytes, it has %zu", LEDGER_CAPS_MAX, cl);
        cJSON *j = cJSON_ParseWithOpts(a.caps, NULL, true);
        if (!j) return cli_usage_error("wallet", "--caps must be a JSON text, e.g. '{\"gpu\":false,\"ram_gb\":16}'");
        cJSON_Delete(j);
        memcpy(tx.u.reg.caps, a.caps, cl + 1);
    }
    return send_simple(&a, &tx);
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} wallet_commands[] = {
    {"new", wallet_new},         {"show", wallet_show},       {"balance", wallet_balance},
    {"transfer", wallet_transfer}, {"stake", wallet_stake},   {"unstake", wallet_unstake},
    {"register", wallet_register},
};
enum { N_WALLET = sizeof wallet_commands / sizeof wallet_commands[0] };
_Static_assert(N_WALLET == 7, "update the wallet table and its help together");

int cmd_wallet(int argc, char **argv) {
    if (argc < 2) {
        fputs(wallet_help, stderr);
        return 2;
    }
    if (cli_wants_help(argc, argv)) {
        fputs(wallet_help, stdout);
        return 0;
    }
    for (int i = 0; i < N_WALLET; i++)
        if (strcmp(argv[1], wallet_commands[i].name) == 0) return wallet_commands[i].run(argc, argv);
    return cli_usage_error("wallet", "unknown command '%s'", argv[1]);
}
