/*
 * cmd_block.c — plow block show: one block of a node, its header fields and
 * its transactions. The block is checked on the way in (json_block_from:
 * the header hashes to the hash shown, every transaction decodes and hashes
 * to its hash), so what is printed is what the header commits to.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <time.h>

#include "cli.h"
#include "cli_net.h"

static const char block_help[] =
    "usage: plow block show [H|latest] [--json] [--node URL]\n"
    "\n"
    "Prints block H of the node (default: the latest): its height, hash, time,\n"
    "previous hash, transaction root, results hash, state root and every\n"
    "transaction (hash, type, sender, result and the reason of a failure).\n"
    "\n"
    "options:\n"
    "  --json         print the node's block record as JSON instead\n"
    "  --node URL     the node (default $PLOW_NODE, else http://127.0.0.1:7545)\n";

static void fmt_time(uint64_t ms, char *out, size_t n) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms / 1000 > (uint64_t)INT32_MAX * 64 || !gmtime_r(&t, &tm)) {
        snprintf(out, n, "?");
        return;
    }
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
    size_t l = strlen(out);
    snprintf(out + l, n - l, ".%03u UTC", (unsigned)(ms % 1000));
}

static void print_block(const ledger_block *b) {
    char hex[65], t[64];
    plow_hex(b->hash, 32, hex);
    printf("height      %" PRIu64 "\n", b->h.height);
    printf("hash        %s\n", hex);
    fmt_time(b->h.time_ms, t, sizeof t);
    printf("time        %s (%" PRIu64 " ms)\n", t, b->h.time_ms);
    plow_hex(b->h.prev, 32, hex);
    printf("prev        %s\n", hex);
    plow_hex(b->h.tx_root, 32, hex);
    printf("tx_root     %s\n", hex);
    plow_hex(b->h.results, 32, hex);
    printf("results     %s\n", hex);
    plow_hex(b->h.state_root, 32, hex);
    printf("state_root  %s\n", hex);
    printf("txs         %u\n", b->h.n_txs);
    for (uint32_t i = 0; i < b->n_txs; i++) {
        ledger_tx tx;
        char err[PLOW_ERR_LEN], addr[LEDGER_ADDR_STR_LEN];
        uint8_t h[32];
        if (ledger_tx_decode(&tx, b->txs[i].data, b->txs[i].len, err)) continue; /* checked by json_block_from */
        ledger_tx_hash(&tx, h);
        plow_hex(h, 32, hex);
        ledger_addr_format(tx.sender, addr);
        printf("  %4u  %s  %-10s %s  %s%s%s\n", i, hex, ledger_tx_type_name(tx.type), addr,
               b->results[i] == LEDGER_TX_OK ? "ok" : "failed", b->errors[i] ? ": " : "",
               b->errors[i] ? b->errors[i] : "");
    }
}

static int block_show(int argc, char **argv) {
    const char *node_url = NULL, *pos[1];
    bool json = false;
    int n_pos;
    const cli_opt opts[] = {{"--node", &node_url, NULL}, {"--json", NULL, &json}, {NULL, NULL, NULL}};
    int rc = cli_parse_opts("block", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    char err[PLOW_ERR_LEN], path[64];
    const char *which = n_pos ? pos[0] : "latest";
    if (strcmp(which, "latest") == 0) {
        snprintf(path, sizeof path, "/v1/block/latest");
    } else {
        uint64_t h;
        if (cli_amount("height", which, &h, err)) return cli_usage_error("block", "H must be a height or 'latest'");
        snprintf(path, sizeof path, "/v1/block/%" PRIu64, h);
    }
    client *c = client_new(cli_node_url(node_url));
    if (!c) return cli_fail("cannot start the HTTP client");
    cJSON *j = NULL;
    rc = 1;
    if (client_get_json(c, path, &j, err)) {
        cli_fail("%s", err);
    } else if (json) {
        char *s = cJSON_Print(j);
        printf("%s\n", s ? s : "null");
        free(s);
        rc = 0;
    } else {
        ledger_block b;
        if (json_block_from(j, &b, err)) {
            cli_fail("the node sent a malformed block: %s", err);
        } else {
            print_block(&b);
            ledger_block_release(&b);
            rc = 0;
        }
    }
    cJSON_Delete(j);
    client_free(c);
    return rc;
}

int cmd_block(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(block_help, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(block_help, stderr);
        return 2;
    }
    if (strcmp(argv[1], "show") == 0) return block_show(argc, argv);
    return cli_usage_error("block", "unknown command '%s'", argv[1]);
}
