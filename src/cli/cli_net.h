/*
 * cli_net.h — what the commands that talk to a node share (wallet, task,
 * block; agents too): where the node and the key are, option parsing,
 * amounts, and sending a transaction with a one-line report.
 *
 *   node URL   --node URL, else $PLOW_NODE, else http://127.0.0.1:7545
 *   key file   --key FILE, else $PLOW_KEY, else ~/.plow/key.json
 *
 * Implemented in cmd_wallet.c.
 */
#ifndef PLOW_CLI_NET_H
#define PLOW_CLI_NET_H

#include "../base/plow.h"

#include "../ledger/ledger.h"
#include "../client/client.h"

#define CLI_DEFAULT_NODE "http://127.0.0.1:7545"
#define CLI_DEFAULT_FEE 1
#define CLI_DEFAULT_TIMEOUT 60.0

/* One option of a subcommand: "--name VALUE" (or --name=VALUE) stores VALUE
 * in *val; a flag (val NULL) sets *flag. */
typedef struct cli_opt {
    const char *name;
    const char **val;
    bool *flag;
} cli_opt;

/* Splits argv[first..] into options (opts, NULL-terminated by name) and up
 * to max_pos positional arguments. Returns 0, or 2 after printing a usage
 * error for `cmd` (unknown option, missing value, too many arguments).
 * "--" ends the options. */
int cli_parse_opts(const char *cmd, int argc, char **argv, int first, const cli_opt *opts, const char **pos,
                   int max_pos, int *n_pos);
/* True if argv holds --help or -h. */
bool cli_wants_help(int argc, char **argv);

/* The node URL (see above). */
const char *cli_node_url(const char *opt);
/* The key file path (see above) into out. */
int cli_key_path(const char *opt, char *out, size_t n, char err[PLOW_ERR_LEN]);
int cli_load_key(const char *opt, ledger_key *k, char err[PLOW_ERR_LEN]);
/* The key (cli_load_key) and a client of the node (cli_node_url) that signs
 * with it (the uploads); *out is NULL on error. */
int cli_signed_client(const char *key_opt, const char *node_opt, ledger_key *k, client **out,
                      char err[PLOW_ERR_LEN]);

/* An amount in base units: decimal digits only (no sign, point or spaces),
 * at most 2^64-1. `what` names it in the error. */
int cli_amount(const char *what, const char *s, uint64_t *out, char err[PLOW_ERR_LEN]);
/* --timeout SECONDS (NULL: the default). */
int cli_timeout(const char *s, double *out, char err[PLOW_ERR_LEN]);

/* client_send_at, then prints "tx HASH included in block H" on stdout. */
int cli_send_tx(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, uint8_t hash[32],
                char err[PLOW_ERR_LEN]);

#endif
