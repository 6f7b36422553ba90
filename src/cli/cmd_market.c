/*
 * cmd_market.c — `plow card` (an agent's signed card: make, publish, check)
 * and `plow mail` (signed, optionally sealed messages through a node's
 * mailbox): docs/market.md.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

#include "../agent/agent.h"
#include "../agent/market.h"
#include "cli.h"
#include "cli_net.h"

static const char card_help[] =
    "usage: plow card make --key FILE --name N [--role R] [--endpoint NAME=URL]\n"
    "                      [--service KIND:MODEL_HASH:TOKENIZER_HASH:MODEL_ID:PRICE] [--out FILE]\n"
    "       plow card sign FILE --key FILE [--out FILE]\n"
    "       plow card publish FILE --key FILE [--node URL] [--url URL] [--no-check]\n"
    "       plow card check FILE [--addr ADDR]\n"
    "       plow card check --addr ADDR [--node URL]\n"
    "\n"
    "An agent's card: its name, key, endpoints, services and prices as an\n"
    "ERC-8004-shaped registration file, signed by its key (docs/market.md).\n"
    "  make     builds and signs one (stdout, or --out FILE), and prints 'card HASH'\n"
    "           on stderr\n"
    "  sign     signs a card edited by hand (any JSON object: plow.key set to the key's)\n"
    "  publish  uploads it as a blob and registers the key's profile with\n"
    "           caps {\"card\": HASH, \"card_url\": URL}: the node's directory\n"
    "           (GET /v1/directory) lists it from then on\n"
    "  check    checks a card file's signature (and that it is ADDR's); with\n"
    "           --addr alone, fetches the card the profile names from its URL and\n"
    "           checks its hash against the profile's and its signature\n"
    "  --no-check  (tests) publish a card without checking it first: the\n"
    "           directory must refuse what is wrong with it\n";

static int card_make(const char *key, const char *name, const char *role, const char *endpoint, const char *service,
                     const char *out) {
    char err[PLOW_ERR_LEN];
    if (!name || !*name || strlen(name) > 64) return cli_usage_error("card", "make needs --name N (1..64 bytes)");
    ledger_key k;
    if (cli_load_key(key, &k, err)) return cli_fail("%s", err);
    cJSON *c = card_new(name, k.pk, role ? role : "agent");
    int rc = 1;
    if (endpoint) {
        const char *eq = strchr(endpoint, '=');
        if (!eq || eq == endpoint || !eq[1]) {
            cli_usage_error("card", "--endpoint NAME=URL");
            goto out;
        }
        char nm[33];
        snprintf(nm, sizeof nm, "%.*s", (int)(eq - endpoint) < 32 ? (int)(eq - endpoint) : 32, endpoint);
        card_add_endpoint(c, nm, eq + 1);
    }
    if (service) {
        char kind[33], mh[65], th[65], id[101];
        uint64_t price;
        uint8_t m[32], t[32];
        char tail[32];
        if (sscanf(service, "%32[^:]:%64[0-9a-f]:%64[0-9a-f]:%100[^:]:%31s", kind, mh, th, id, tail) != 5 ||
            plow_unhex(mh, m, 32) || plow_unhex(th, t, 32) || !plow_parse_u64(tail, &price)) {
            cli_usage_error("card", "--service KIND:MODEL_HASH:TOKENIZER_HASH:MODEL_ID:PRICE");
            goto out;
        }
        card_add_service(c, kind, m, t, id, price);
    }
    uint8_t h[32];
    char *text = card_sign(c, &k, h);
    char hx[65];
    plow_hex(h, 32, hx);
    if (out) {
        if (plow_write_file(out, text, strlen(text), err)) {
            free(text);
            cli_fail("%s", err);
            goto out;
        }
    } else {
        fputs(text, stdout);
        fputc('\n', stdout);
    }
    free(text);
    fprintf(stderr, "card %s\n", hx);
    rc = 0;
out:
    cJSON_Delete(c);
    ledger_key_wipe(&k);
    return rc;
}

static int card_sign_cmd(const char *file, const char *key, const char *out) {
    char err[PLOW_ERR_LEN];
    uint8_t *data = NULL;
    size_t n = 0;
    if (plow_read_file(file, 1 << 20, &data, &n, err)) return cli_fail("%s", err);
    cJSON *c = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return cli_fail("%s is not a JSON object", file);
    }
    ledger_key k;
    if (cli_load_key(key, &k, err)) {
        cJSON_Delete(c);
        return cli_fail("%s", err);
    }
    cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "plow");
    if (!cJSON_IsObject(p)) p = cJSON_AddObjectToObject(c, "plow");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "key");
    json_add_addr(p, "key", k.pk);
    uint8_t h[32];
    char *text = card_sign(c, &k, h);
    ledger_key_wipe(&k);
    cJSON_Delete(c);
    int rc = 0;
    if (out) rc = plow_write_file(out, text, strlen(text), err) ? cli_fail("%s", err) : 0;
    else puts(text);
    free(text);
    return rc;
}

static int card_publish_cmd(const char *file, const char *key, const char *node, const char *url, bool nocheck) {
    char err[PLOW_ERR_LEN];
    uint8_t *data = NULL;
    size_t n = 0;
    if (plow_read_file(file, nocheck ? 1 << 20 : CARD_MAX_BYTES, &data, &n, err)) return cli_fail("%s", err);
    ledger_key k;
    client *c = NULL;
    cJSON *card = NULL;
    int rc = 1;
    char *text = plow_alloc(n + 1);
    memcpy(text, data, n);
    text[n] = 0;
    if (cli_signed_client(key, node, &k, &c, err)) {
        free(text);
        free(data);
        return cli_fail("%s", err);
    }
    /* publishing is the key's own act: the card must be its */
    const char *name = "unchecked";
    if (!nocheck && card_check(data, n, k.pk, &card, NULL, err) == 0) name = json_get_str(card, "name");
    if ((!nocheck && !card) || card_publish(c, &k, name, text, url ? url : "", err)) {
        cli_fail("%s", err);
        goto out;
    }
    uint8_t h[32];
    char hx[65];
    plow_sha256_once(data, n, h);
    plow_hex(h, 32, hx);
    printf("published card %s\n", hx);
    rc = 0;
out:
    cJSON_Delete(card);
    client_free(c);
    ledger_key_wipe(&k);
    free(text);
    free(data);
    return rc;
}

static void print_card(const cJSON *card) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(card, "plow");
    printf("card of %s (%s), key %s\n", json_get_str(card, "name"), json_get_str(p, "role") ? json_get_str(p, "role") : "?",
           json_get_str(p, "key"));
}

static int card_check_cmd(const char *file, const char *addr, const char *node) {
    char err[PLOW_ERR_LEN];
    uint8_t want[32];
    if (addr && ledger_addr_parse(addr, want, err)) return cli_usage_error("card", "%s", err);
    cJSON *card = NULL;
    if (file) {
        uint8_t *data = NULL;
        size_t n = 0;
        if (plow_read_file(file, 1 << 20, &data, &n, err)) return cli_fail("%s", err);
        int rc = card_check(data, n, addr ? want : NULL, &card, NULL, err);
        free(data);
        if (rc) return cli_fail("%s: %s", file, err);
    } else {
        if (!addr) return cli_usage_error("card", "check needs FILE or --addr ADDR");
        client *c = client_new(cli_node_url(node));
        ledger_account a;
        int rc = c ? client_account(c, want, &a, NULL, err) : plow_error(err, "cannot start libcurl");
        client_free(c);
        if (rc) return cli_fail("%s", err);
        uint8_t h[32];
        char url[CARD_URL_MAX + 1];
        if (!a.profile || card_ref(a.caps, h, url, err)) return cli_fail("%s has no card in its profile", addr);
        if (!url[0]) return cli_fail("%s's profile names a card but no URL", addr);
        if (card_fetch(url, h, want, &card, err)) return cli_fail("%s", err);
    }
    print_card(card);
    cJSON_Delete(card);
    return 0;
}

int cmd_card(int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(card_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *key = NULL, *node = NULL, *name = NULL, *role = NULL, *endpoint = NULL, *service = NULL, *out = NULL,
               *url = NULL, *addr = NULL;
    bool nocheck = false;
    const cli_opt opts[] = {{"--key", &key, NULL},       {"--node", &node, NULL},         {"--name", &name, NULL},
                            {"--role", &role, NULL},     {"--endpoint", &endpoint, NULL}, {"--service", &service, NULL},
                            {"--out", &out, NULL},       {"--url", &url, NULL},           {"--addr", &addr, NULL},
                            {"--no-check", NULL, &nocheck}, {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("card", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    const char *sub = argv[1];
    if (strcmp(sub, "make") == 0) {
        if (n_pos) return cli_usage_error("card", "make takes no argument");
        return card_make(key, name, role, endpoint, service, out);
    }
    if (strcmp(sub, "publish") == 0) {
        if (n_pos != 1) return cli_usage_error("card", "publish needs the card FILE");
        if (url && strlen(url) > CARD_URL_MAX) return cli_usage_error("card", "--url is longer than %d bytes", CARD_URL_MAX);
        return card_publish_cmd(pos[0], key, node, url, nocheck);
    }
    if (strcmp(sub, "sign") == 0) {
        if (n_pos != 1) return cli_usage_error("card", "sign needs the card FILE");
        return card_sign_cmd(pos[0], key, out);
    }
    if (strcmp(sub, "check") == 0) return card_check_cmd(n_pos ? pos[0] : NULL, addr, node);
    return cli_usage_error("card", "unknown subcommand '%s' (make, sign, publish, check)", sub);
}

/* ---- plow mail ---------------------------------------------------------------------- */

static const char mail_help[] =
    "usage: plow mail send --key FILE --to ADDR --type T --body TEXT [--seal] [--ttl S] [--node URL]\n"
    "                      [--out FILE] [--expires-ms MS]\n"
    "       plow mail recv --key FILE [--after ID] [--raw] [--node URL]\n"
    "\n"
    "Signed messages between agents through the node's mailbox (docs/market.md):\n"
    "  send  signs (sender, recipient, sequence, expiry, type, body) with the key;\n"
    "        --seal encrypts the body to the recipient (a sealed box to the X25519\n"
    "        form of its key); --ttl: seconds until it expires (default 600, at\n"
    "        most 3600). Prints 'sent'. --out FILE writes the signed envelope there\n"
    "        instead of posting it; --expires-ms sets its expiry (unix ms) as given\n"
    "        (both for tests that post envelopes by hand).\n"
    "  recv  fetches the key's messages after ID (acknowledging, so removing, the\n"
    "        earlier ones), checks each signature, opens sealed ones; prints one\n"
    "        JSON line each: {id, from, type, body, sealed} (--raw: the envelopes\n"
    "        as the node returned them, checked the same way).\n";

/* --out / --expires-ms: the signed envelope, posted or written to FILE. */
static int mail_make(client *c, const ledger_key *k, const uint8_t to[32], const char *type, const char *body,
                     bool seal, uint64_t expires_ms, const char *outf) {
    char err[PLOW_ERR_LEN];
    uint8_t chain[32];
    if (client_chain_id(c, chain, err)) return cli_fail("%s", err);
    mail_msg m;
    memset(&m, 0, sizeof m);
    memcpy(m.to, to, 32);
    m.seq = mail_next_seq();
    m.expires_ms = expires_ms;
    if (strlen(type) > MAIL_TYPE_MAX) return cli_usage_error("mail", "--type is at most %d bytes", MAIL_TYPE_MAX);
    snprintf(m.type, sizeof m.type, "%s", type);
    if (mail_set_body(&m, (const uint8_t *)body, strlen(body), seal, err)) return cli_fail("%s", err);
    mail_sign(&m, chain, k);
    int rc = 0;
    long st;
    if (outf) {
        cJSON *j = mail_to_json(&m);
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (plow_write_file(outf, s, strlen(s), err)) rc = cli_fail("%s", err);
        free(s);
    } else if (mail_post(c, &m, &st, err)) {
        rc = cli_fail("%s", err);
    } else {
        puts("sent");
    }
    mail_release(&m);
    return rc;
}

int cmd_mail(int argc, char **argv) {
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(mail_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *key = NULL, *node = NULL, *to = NULL, *type = NULL, *body = NULL, *ttl = NULL, *after = NULL;
    const char *outf = NULL, *exp = NULL;
    bool seal = false, raw = false;
    const cli_opt opts[] = {{"--key", &key, NULL},   {"--node", &node, NULL}, {"--to", &to, NULL},
                            {"--type", &type, NULL}, {"--body", &body, NULL}, {"--ttl", &ttl, NULL},
                            {"--after", &after, NULL}, {"--seal", NULL, &seal},
                            {"--out", &outf, NULL},  {"--expires-ms", &exp, NULL}, {"--raw", NULL, &raw},
                            {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("mail", argc, argv, 2, opts, pos, 0, &n_pos);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    const char *sub = argv[1];
    bool send = strcmp(sub, "send") == 0;
    if (!send && strcmp(sub, "recv") != 0) return cli_usage_error("mail", "unknown subcommand '%s' (send, recv)", sub);
    uint8_t to_pk[32];
    uint64_t ttl_s = 600, after_id = 0, exp_ms = 0;
    if (send) {
        if (!to || !type || !body) return cli_usage_error("mail", "send needs --to ADDR --type T --body TEXT");
        if (ledger_addr_parse(to, to_pk, err)) return cli_usage_error("mail", "--to: %s", err);
        if (ttl && (cli_u64("--ttl", ttl, &ttl_s, err) || ttl_s < 1 || ttl_s > MAIL_TTL_MAX_MS / 1000))
            return cli_usage_error("mail", "--ttl must be 1..%llu seconds", (unsigned long long)(MAIL_TTL_MAX_MS / 1000));
        if (exp && cli_u64("--expires-ms", exp, &exp_ms, err)) return cli_usage_error("mail", "%s", err);
    } else if (after && cli_u64("--after", after, &after_id, err)) {
        return cli_usage_error("mail", "%s", err);
    }
    ledger_key k;
    client *c;
    if (cli_signed_client(key, node, &k, &c, err)) return cli_fail("%s", err);
    rc = 1;
    if (send) {
        if (outf || exp) rc = mail_make(c, &k, to_pk, type, body, seal, exp ? exp_ms : mail_now_ms() + ttl_s * 1000, outf);
        else if (mail_send(c, &k, to_pk, type, body, seal, ttl_s * 1000, err)) cli_fail("%s", err);
        else rc = 0, puts("sent");
    } else {
        mail_inbox b = {.after = after_id};
        mail_msg *ms;
        size_t n;
        if (mail_fetch(c, &k, &b, &ms, &n, err)) {
            cli_fail("%s", err);
        } else {
            for (size_t i = 0; i < n; i++) {
                char *text;
                size_t tl;
                if (raw) {
                    cJSON *e = mail_to_json(&ms[i]);
                    char *s = cJSON_PrintUnformatted(e);
                    puts(s);
                    free(s);
                    cJSON_Delete(e);
                    mail_release(&ms[i]);
                    continue;
                }
                cJSON *o = cJSON_CreateObject();
                json_add_u64(o, "id", ms[i].id);
                json_add_addr(o, "from", ms[i].from);
                cJSON_AddStringToObject(o, "type", ms[i].type);
                if (mail_body(&ms[i], &k, &text, &tl, err) == 0) {
                    cJSON_AddStringToObject(o, "body", text);
                    free(text);
                } else {
                    cJSON_AddStringToObject(o, "error", err);
                }
                cJSON_AddBoolToObject(o, "sealed", ms[i].sealed);
                char *s = cJSON_PrintUnformatted(o);
                puts(s);
                free(s);
                cJSON_Delete(o);
                mail_release(&ms[i]);
            }
            free(ms);
            if (b.dropped) fprintf(stderr, "plow: %zu message(s) refused (bad signature, replayed or malformed)\n",
                                   b.dropped);
            rc = 0;
        }
        mail_inbox_release(&b);
    }
    client_free(c);
    ledger_key_wipe(&k);
    return rc;
}

/* ---- plow buyer ---------------------------------------------------------------------- */

static const char buyer_help[] =
    "usage: plow buyer --key FILE --work DIR --model DIR --prompts FILE [--node URL] [--name N]\n"
    "                  [--max-price P] [--deposit D] [--dispute-blocks B] [--max-tokens N] [--seed S]\n"
    "                  [--check F] [--bond B] [--offer-timeout S] [--threads T]\n"
    "\n"
    "An agent that buys completions (docs/market.md, \"The buyer\"): finds the best\n"
    "worker for the model in the node's directory (price at most P, best\n"
    "reputation first), asks it for a quote by mail (rfq, sealed), opens a\n"
    "payment channel of D on its offer and sends accept, then buys each prompt of\n"
    "FILE (one a line) with cumulative vouchers, never more than the offer's price\n"
    "allows. It checks every receipt (--check 1, the default) or a share F of them\n"
    "the worker cannot predict; a wrong token is posted as a fraud claim with bond\n"
    "B (the worker's stake is slashed to the buyer), the channel is closed and the\n"
    "buyer moves on to the next worker. Writes DIR/results.jsonl ({i, worker,\n"
    "text, checked}), DIR/receipt-I.json and DIR/summary.json. Exits 0 when every\n"
    "prompt was bought, 1 when no worker is left.\n"
    "Defaults: --max-price 10, --deposit 10000, --dispute-blocks 20, --max-tokens 16,\n"
    "--seed 0, --bond 100, --offer-timeout 30.\n";

int cmd_buyer(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(buyer_help, stdout);
        return 0;
    }
    buyer_options o;
    buyer_options_default(&o);
    const char *node = NULL, *mp = NULL, *dep = NULL, *db = NULL, *mt = NULL, *seed = NULL, *check = NULL,
               *bond = NULL, *ot = NULL, *threads = NULL;
    const cli_opt opts[] = {{"--key", &o.key, NULL},          {"--node", &node, NULL},
                            {"--work", &o.work, NULL},        {"--name", &o.name, NULL},
                            {"--model", &o.model, NULL},      {"--prompts", &o.prompts, NULL},
                            {"--max-price", &mp, NULL},       {"--deposit", &dep, NULL},
                            {"--dispute-blocks", &db, NULL},  {"--max-tokens", &mt, NULL},
                            {"--seed", &seed, NULL},          {"--check", &check, NULL},
                            {"--bond", &bond, NULL},          {"--offer-timeout", &ot, NULL},
                            {"--threads", &threads, NULL},    {NULL, NULL, NULL}};
    const char *pos[1];
    int n_pos, rc = cli_parse_opts("buyer", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    uint64_t v;
    long t = 0;
    if ((mp && cli_amount("--max-price", mp, &o.max_price, err)) || (dep && cli_amount("--deposit", dep, &o.deposit, err)) ||
        (seed && cli_amount("--seed", seed, &o.seed, err)) || (bond && cli_amount("--bond", bond, &o.bond, err)))
        return cli_usage_error("buyer", "%s", err);
    if (db) {
        if (cli_amount("--dispute-blocks", db, &v, err) || v < 1 || v > 1000000)
            return cli_usage_error("buyer", "--dispute-blocks must be 1..1000000");
        o.dispute_blocks = (uint32_t)v;
    }
    if (mt) {
        if (cli_amount("--max-tokens", mt, &v, err) || v < 1 || v > 4096)
            return cli_usage_error("buyer", "--max-tokens must be 1..4096");
        o.max_tokens = (int)v;
    }
    if (check) {
        char *end;
        o.check = strtod(check, &end);
        if (*end || end == check || !(o.check >= 0 && o.check <= 1)) return cli_usage_error("buyer", "--check must be 0..1");
    }
    if (ot) {
        char *end;
        o.offer_timeout = strtod(ot, &end);
        if (*end || end == ot || !(o.offer_timeout > 0 && o.offer_timeout <= 3600))
            return cli_usage_error("buyer", "--offer-timeout must be 0..3600 seconds");
    }
    if (threads && cli_int("--threads", threads, 1, 256, &t, err)) return cli_usage_error("buyer", "%s", err);
    if (!o.key || !o.work || !o.model || !o.prompts)
        return cli_usage_error("buyer", "--key, --work, --model and --prompts are required");
    o.node = cli_node_url(node);
    if (cli_init_engine(NULL, t, err)) return cli_fail("%s", err);
    agent_signals_install();
    if (agent_buyer_run(&o, err)) return cli_fail("%s", err);
    return 0;
}
