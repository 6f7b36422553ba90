/*
 * cmd_channel.c — `plow channel`: payment channels from the command line
 * (docs/ledger.md, "Payment channels"; docs/serve.md, "Paying"), and
 * `plow fraud`: a served receipt with a wrong token posted as proof.
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "../agent/market.h"
#include "../model/modelio.h"
#include "../proof/receipt.h"
#include "cli.h"
#include "cli_net.h"

static const char channel_help[] =
    "usage: plow channel open --worker ADDR --deposit N [--dispute-blocks B] [--key FILE] [--node URL]\n"
    "       plow channel voucher CHANNEL AMOUNT [--key FILE] [--node URL]\n"
    "       plow channel redeem VOUCHER [--key FILE] [--node URL]\n"
    "       plow channel close CHANNEL [--key FILE] [--node URL]\n"
    "       plow channel show CHANNEL [--node URL]\n"
    "\n"
    "A client deposits N into a channel to a worker (open prints its id), then\n"
    "pays per request with vouchers: 'voucher' signs the CUMULATIVE amount owed\n"
    "so far and prints it as text (plowv1.CHANNEL.AMOUNT.SIGNATURE: plow serve's\n"
    "X-PAYMENT header). The worker redeems the latest voucher it holds ('redeem',\n"
    "with its key); each redeem pays what the voucher adds. 'close' by the worker\n"
    "settles at once; by the client it starts the dispute window (B blocks,\n"
    "default 20) in which the worker may still redeem, and a second close after\n"
    "it returns the rest of the deposit.\n"
    "\n"
    "  --fee F         transaction fee (default 1)\n"
    "  --timeout S     seconds to wait for inclusion (default 60)\n";

typedef struct chan_args {
    const char *key, *node, *worker, *deposit, *blocks, *fee, *timeout;
    const char *pos[3];
    int n_pos;
} chan_args;

static int parse(int argc, char **argv, chan_args *a) {
    memset(a, 0, sizeof *a);
    const cli_opt opts[] = {{"--key", &a->key, NULL},         {"--node", &a->node, NULL},
                            {"--worker", &a->worker, NULL},   {"--deposit", &a->deposit, NULL},
                            {"--dispute-blocks", &a->blocks, NULL}, {"--fee", &a->fee, NULL},
                            {"--timeout", &a->timeout, NULL}, {NULL, NULL, NULL}};
    return cli_parse_opts("channel", argc, argv, 2, opts, a->pos, 3, &a->n_pos);
}

static int channel_id(const char *s, uint8_t id[32]) {
    return s && strlen(s) == 64 && plow_unhex(s, id, 32) == 0 ? 0 : -1;
}

/* Sends tx with the key; prints the transaction's line. */
static int send(const chan_args *a, ledger_tx *tx, uint8_t hash[32]) {
    char err[PLOW_ERR_LEN];
    ledger_key k;
    double timeout = CLI_DEFAULT_TIMEOUT;
    tx->fee = CLI_DEFAULT_FEE;
    if (a->fee && cli_amount("--fee", a->fee, &tx->fee, err)) return cli_usage_error("channel", "%s", err);
    if (cli_timeout(a->timeout, &timeout, err)) return cli_usage_error("channel", "%s", err);
    if (cli_load_key(a->key, &k, err)) return cli_fail("%s", err);
    client *c = client_new(cli_node_url(a->node));
    int rc = c && cli_send_tx(c, &k, tx, timeout, hash, err) == 0 ? 0 : 1;
    if (rc) cli_fail("%s", c ? err : "cannot start libcurl");
    client_free(c);
    ledger_key_wipe(&k);
    return rc;
}

int cmd_channel(int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(channel_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    chan_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    uint8_t id[32], hash[32];
    if (strcmp(sub, "open") == 0) {
        if (a.n_pos || !a.worker || !a.deposit) return cli_usage_error("channel", "open needs --worker ADDR --deposit N");
        tx.type = LEDGER_TX_CHANNEL_OPEN;
        uint64_t blocks = 20;
        if (ledger_addr_parse(a.worker, tx.u.chan_open.worker, err) ||
            cli_amount("--deposit", a.deposit, &tx.u.chan_open.deposit, err) ||
            (a.blocks && cli_amount("--dispute-blocks", a.blocks, &blocks, err)))
            return cli_usage_error("channel", "%s", err);
        if (blocks < 1 || blocks > 1000000) return cli_usage_error("channel", "--dispute-blocks must be in 1..1000000");
        tx.u.chan_open.dispute_blocks = (uint32_t)blocks;
        if ((rc = send(&a, &tx, hash))) return rc;
        char hx[65];
        plow_hex(hash, 32, hx);
        printf("channel %s\n", hx);
        return 0;
    }
    if (strcmp(sub, "voucher") == 0) {
        uint64_t amount;
        if (a.n_pos != 2 || channel_id(a.pos[0], id)) return cli_usage_error("channel", "voucher needs CHANNEL (64 hex) AMOUNT");
        if (cli_amount("AMOUNT", a.pos[1], &amount, err)) return cli_usage_error("channel", "%s", err);
        ledger_key k;
        if (cli_load_key(a.key, &k, err)) return cli_fail("%s", err);
        client *c = client_new(cli_node_url(a.node));
        uint8_t chain[32];
        rc = c && client_chain_id(c, chain, err) == 0 ? 0 : 1;
        client_free(c);
        if (rc) {
            ledger_key_wipe(&k);
            return cli_fail("%s", err);
        }
        uint8_t sig[LEDGER_SIG_LEN];
        ledger_voucher_sign(&k, chain, id, amount, sig);
        ledger_key_wipe(&k);
        char v[LEDGER_VOUCHER_STR_LEN];
        ledger_voucher_format(id, amount, sig, v);
        printf("%s\n", v);
        return 0;
    }
    if (strcmp(sub, "redeem") == 0) {
        if (a.n_pos != 1) return cli_usage_error("channel", "redeem needs VOUCHER");
        tx.type = LEDGER_TX_CHANNEL_REDEEM;
        if (ledger_voucher_parse(a.pos[0], tx.u.chan_redeem.channel, &tx.u.chan_redeem.amount, tx.u.chan_redeem.sig, err))
            return cli_usage_error("channel", "%s", err);
        return send(&a, &tx, hash);
    }
    if (strcmp(sub, "close") == 0) {
        if (a.n_pos != 1 || channel_id(a.pos[0], id)) return cli_usage_error("channel", "close needs CHANNEL (64 hex)");
        tx.type = LEDGER_TX_CHANNEL_CLOSE;
        memcpy(tx.u.chan_close.channel, id, 32);
        return send(&a, &tx, hash);
    }
    if (strcmp(sub, "show") == 0) {
        if (a.n_pos != 1 || channel_id(a.pos[0], id)) return cli_usage_error("channel", "show needs CHANNEL (64 hex)");
        client *c = client_new(cli_node_url(a.node));
        ledger_channel h;
        rc = c && client_channel(c, id, &h, err) == 0 ? 0 : 1;
        client_free(c);
        if (rc) return cli_fail("%s", err);
        char cl[LEDGER_ADDR_STR_LEN], wk[LEDGER_ADDR_STR_LEN];
        ledger_addr_format(h.client, cl);
        ledger_addr_format(h.worker, wk);
        printf("channel %s\nstatus %s\nclient %s\nworker %s\ndeposit %" PRIu64 "\nredeemed %" PRIu64
               "\ndispute_blocks %" PRIu32 "\nclose_at %" PRIu64 "\n",
               a.pos[0], ledger_channel_status_name(h.status), cl, wk, h.deposit, h.redeemed, h.dispute_blocks,
               h.close_at);
        return 0;
    }
    return cli_usage_error("channel", "unknown subcommand '%s' (open, voucher, redeem, close, show)", sub);
}

/* ---- plow fraud: a served receipt with a wrong token, posted as proof ---- */

static const char fraud_help[] =
    "usage: plow fraud RECEIPT.json --model DIR [--tokenizer FILE] --bond B [--key FILE] [--node URL] [--force]\n"
    "\n"
    "Posts a receipt that plow serve signed as proof of fraud (receipt_fraud,\n"
    "docs/ledger.md): the receipt, the model's model.safetensors and its\n"
    "tokenizer go to the node's blob store, the transaction names them with a\n"
    "bond, and the node's referee re-runs one prefill. A token the model does\n"
    "not give slashes the worker's free stake to you (the network's slash share,\n"
    "the rest burned) and returns the bond; otherwise the bond is lost. The\n"
    "receipt is checked here first: an honest one is not posted (exit 1) unless\n"
    "--force. Prints the claim's id (a challenge: GET /v1/challenge/ID).\n"
    "\n"
    "  --fee F         transaction fee (default 1)\n"
    "  --timeout S     seconds to wait for inclusion (default 60)\n";

int cmd_fraud(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(fraud_help, stdout);
        return 0;
    }
    const char *key = NULL, *node = NULL, *mpath = NULL, *tpath = NULL, *bond = NULL, *fee = NULL, *timeout = NULL;
    bool force = false;
    const cli_opt opts[] = {{"--key", &key, NULL},        {"--node", &node, NULL}, {"--model", &mpath, NULL},
                            {"--tokenizer", &tpath, NULL}, {"--bond", &bond, NULL}, {"--fee", &fee, NULL},
                            {"--timeout", &timeout, NULL}, {"--force", NULL, &force}, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("fraud", argc, argv, 1, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1 || !mpath || !bond) return cli_usage_error("fraud", "RECEIPT.json, --model DIR and --bond B are required");
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_RECEIPT_FRAUD;
    tx.fee = CLI_DEFAULT_FEE;
    double tmo = CLI_DEFAULT_TIMEOUT;
    if (cli_amount("--bond", bond, &tx.u.fraud.bond, err) || (fee && cli_amount("--fee", fee, &tx.fee, err)) ||
        cli_timeout(timeout, &tmo, err))
        return cli_usage_error("fraud", "%s", err);
    if (cli_init_engine(NULL, 0, err)) return cli_fail("%s", err);
    receipt r = {0};
    model *m = NULL;
    tokenizer *tok = NULL;
    client *c = NULL;
    ledger_key k;
    bool have_key = false;
    rc = 1;
    char *mfile = NULL;
    if (receipt_load(&r, pos[0], err) || modelio_load_model(&m, mpath, err) ||
        (tpath ? tokenizer_load(&tok, tpath, err) : modelio_load_tokenizer(&tok, mpath, err))) {
        cli_fail("%s", err);
        goto out;
    }
    if (!r.has_sig || !receipt_sig_ok(&r)) {
        cli_fail("%s carries no valid worker signature: nothing binds a worker to it", pos[0]);
        goto out;
    }
    if (r.has_lora) {
        cli_fail("a receipt served with a LoRA adapter cannot be claimed yet (docs/serve.md)");
        goto out;
    }
    receipt_check ck;
    if (receipt_verify(&r, m, NULL, tok, &ck, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if ((ck.valid || ck.bad_position < 0) && !force) {
        printf("%s: %s: not fraud, not posted (--force posts it anyway and loses the bond)\n", pos[0], ck.reason);
        goto out;
    }
    if (!ck.valid) printf("%s: %s\n", pos[0], ck.reason);
    /* the files the referee loads: the model's safetensors and the tokenizer's bytes */
    size_t ml = strlen(mpath) + 32;
    mfile = plow_alloc(ml);
    if (plow_is_dir(mpath)) snprintf(mfile, ml, "%s/model.safetensors", mpath);
    else snprintf(mfile, ml, "%s", mpath);
    if (cli_signed_client(key, node, &k, &c, err)) {
        cli_fail("%s", err);
        goto out;
    }
    have_key = true;
    uint8_t hash[32];
    if (receipt_fraud_blobs(c, &r, pos[0], mfile, tok, &tx, err) || cli_send_tx(c, &k, &tx, tmo, hash, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char hx[65];
    plow_hex(hash, 32, hx);
    printf("claim %s\n", hx);
    rc = 0;
out:
    free(mfile);
    client_free(c);
    if (have_key) ledger_key_wipe(&k);
    receipt_release(&r);
    tokenizer_free(tok);
    model_free(m);
    return rc;
}
