/*
 * market.h — agents that find and talk to each other (docs/market.md):
 *
 *   - cards: an agent's signed registration file (ERC-8004's shape: name,
 *     endpoints, services, prices; plow's fields under "plow"), served at
 *     CARD_PATH, uploaded as a blob and referenced from the agent's ledger
 *     profile (caps {"card": HASH, "card_url": URL}); the node's directory
 *     (GET /v1/directory) lists the cards whose blob it holds, signature
 *     checked, with a reputation it computes from the ledger;
 *   - mail: signed envelopes (sender, recipient, sequence, expiry, type,
 *     body), optionally sealed to the recipient (crypto_box_seal with the
 *     X25519 form of its Ed25519 key), stored and forwarded by the node's
 *     mailbox (POST /v1/mail, GET /v1/mail/ADDR);
 *   - the exchange before a channel opens: rfq -> offer -> accept.
 *
 * Shared by the node (which checks cards and envelopes), plow serve (which
 * publishes its card and answers requests for quotes) and the agents.
 */
#ifndef PLOW_MARKET_H
#define PLOW_MARKET_H

#include "../base/plow.h"

#include "../ledger/ledger.h"

struct cJSON;
struct client;

/* ---- cards ---------------------------------------------------------------------- */

#define CARD_MAX_BYTES 16384 /* a card's text */
#define CARD_PATH "/.well-known/agent-registration.json"
#define CARD_TYPE "https://eips.ethereum.org/EIPS/eip-8004#registration-v1"
#define CARD_URL_MAX 300

/* A new card (no signature yet): type, name, description, endpoints [],
 * "plow": {version, key, role, services []}. */
struct cJSON *card_new(const char *name, const uint8_t pk[LEDGER_PK_LEN], const char *role);
void card_add_endpoint(struct cJSON *card, const char *name, const char *url);
/* A service: kind ("completions"), the model's and tokenizer's hashes, the
 * model id clients name, the price in base units per token. */
void card_add_service(struct cJSON *card, const char *kind, const uint8_t model[32], const uint8_t tokenizer[32],
                      const char *model_id, uint64_t price);
/* Signs the card with k (its "plow.key" must be k's): adds "signature"
 * (Ed25519 over SHA-256("plow-card/v1" 0x00 || the card printed without
 * it, cJSON unformatted)) and returns the text (malloc'd) and its hash. */
char *card_sign(struct cJSON *card, const ledger_key *k, uint8_t hash[32]);
/* Checks a card's bytes: at most CARD_MAX_BYTES, a JSON object of the shape
 * above, signed by its plow.key — and that key must be want (when not NULL).
 * 0 with *out (caller deletes; may be NULL) and key, else -1 with err. */
int card_check(const uint8_t *data, size_t n, const uint8_t *want, struct cJSON **out, uint8_t key[LEDGER_PK_LEN],
               char err[PLOW_ERR_LEN]);
/* The profile's reference: caps {"card": HASH, "card_url": URL, ...}.
 * card_caps writes it (base: other capabilities kept, or NULL) into out. */
int card_caps(const char *base, const uint8_t hash[32], const char *url, char out[LEDGER_CAPS_MAX + 1],
              char err[PLOW_ERR_LEN]);
int card_ref(const char *caps, uint8_t hash[32], char url[CARD_URL_MAX + 1], char err[PLOW_ERR_LEN]);
/* Uploads the card's text as a blob and registers k's profile (name, agent)
 * referencing it (url: where the card is served, may be ""). */
int card_publish(struct client *c, const ledger_key *k, const char *name, const char *text, const char *url,
                 char err[PLOW_ERR_LEN]);
/* Fetches the card at url (CARD_MAX_BYTES at most) and checks it: its hash
 * must be want_hash, its signature want's key. *out: caller deletes. */
int card_fetch(const char *url, const uint8_t want_hash[32], const uint8_t want[LEDGER_PK_LEN], struct cJSON **out,
               char err[PLOW_ERR_LEN]);

/* ---- mail ----------------------------------------------------------------------- */

#define MAIL_TYPE_MAX 32            /* [a-z0-9_-], 1..32 bytes */
#define MAIL_BODY_MAX 8192          /* bytes of a body (before sealing) */
#define MAIL_SEAL_OVERHEAD 48       /* crypto_box_SEALBYTES */
#define MAIL_TEXT_MAX 32768         /* an envelope's JSON text (the node's POST limit) */
#define MAIL_TTL_MAX_MS 3600000ull  /* expiry at most an hour ahead */

typedef struct mail_msg {
    uint8_t from[LEDGER_PK_LEN], to[LEDGER_PK_LEN];
    uint64_t seq;        /* strictly increasing per (from, to): the node refuses a replay */
    uint64_t expires_ms; /* unix ms: refused (and dropped) from then on */
    char type[MAIL_TYPE_MAX + 1];
    bool sealed;         /* payload is crypto_box_seal ciphertext to `to` */
    uint8_t *payload;    /* the body's bytes, or the ciphertext (owned) */
    size_t len;
    uint8_t sig[LEDGER_SIG_LEN];
    uint64_t id;         /* the mailbox's id (a fetched message), else 0 */
} mail_msg;

void mail_release(mail_msg *m);
/* What `from` signs: SHA-256("plow-mail/v1" 0x00 || chain id || from || to ||
 * seq u64 LE || expires u64 LE || sealed u8 || u32 LE type length || type ||
 * u32 LE payload length || payload). The chain id keeps a message on its chain. */
void mail_digest(const uint8_t chain_id[32], const mail_msg *m, uint8_t out[32]);
void mail_sign(mail_msg *m, const uint8_t chain_id[32], const ledger_key *k);
bool mail_sig_ok(const mail_msg *m, const uint8_t chain_id[32]);
/* Sets the payload: plain, or sealed to m->to (whose Ed25519 key converts). */
int mail_set_body(mail_msg *m, const uint8_t *body, size_t n, bool seal, char err[PLOW_ERR_LEN]);
/* The body (opened with k when sealed): malloc'd, NUL-terminated. */
int mail_body(const mail_msg *m, const ledger_key *k, char **out, size_t *n, char err[PLOW_ERR_LEN]);
/* {"from", "to", "seq", "expires_ms", "type", "body" | "sealed" (hex), "sig", "id"?} */
struct cJSON *mail_to_json(const mail_msg *m);
int mail_from_json(const struct cJSON *j, mail_msg *m, char err[PLOW_ERR_LEN]);
/* The mailbox read's signature: ("plow-mail-get/v1" 0x00 || chain id || addr ||
 * after u64 LE || time_ms u64 LE) by addr's key. */
#define MAIL_GET_AUTH_LEN (17 + 32 + 32 + 8 + 8)
void mail_get_auth(const uint8_t chain_id[32], const uint8_t addr[32], uint64_t after, uint64_t time_ms,
                   uint8_t out[MAIL_GET_AUTH_LEN]);

/* A sender's next sequence number: microseconds of the clock, always above
 * the last one this process used (so a restart needs no state). */
uint64_t mail_next_seq(void);
uint64_t mail_now_ms(void);

/* Client side: build, sign and post one message (ttl_ms: expiry from now). */
int mail_send(struct client *c, const ledger_key *k, const uint8_t to[LEDGER_PK_LEN], const char *type,
              const char *body, bool seal, uint64_t ttl_ms, char err[PLOW_ERR_LEN]);
/* Posts an already built message's JSON; *status is the node's answer (0 if unreachable). */
int mail_post(struct client *c, const mail_msg *m, long *status, char err[PLOW_ERR_LEN]);

/* A recipient's inbox: fetches k's messages after the last one seen (which
 * acknowledges, and so removes, the earlier ones on the node), and keeps
 * only those signed by their sender for this chain with a sequence above the
 * last seen from that sender (a node replaying mail gains nothing). */
typedef struct mail_inbox {
    uint64_t after;
    struct { uint8_t from[LEDGER_PK_LEN]; uint64_t seq; } *seen;
    size_t n_seen, cap_seen;
    size_t dropped; /* refused: bad signature, replayed, malformed */
} mail_inbox;
void mail_inbox_release(mail_inbox *b);
/* Up to what the node returns: *out (caller frees each with mail_release, then free). */
int mail_fetch(struct client *c, const ledger_key *k, mail_inbox *b, mail_msg **out, size_t *n,
               char err[PLOW_ERR_LEN]);

/* ---- the buyer (buyer.c): `plow buyer` --------------------------------------------- */

typedef struct buyer_options {
    const char *key, *node, *work, *name;
    const char *model;   /* the model it wants (a directory): its hash picks the workers, its weights check receipts */
    const char *prompts; /* a file, one prompt a line */
    uint64_t max_price;  /* per token, at most */
    uint64_t deposit;    /* each channel's */
    uint32_t dispute_blocks;
    int max_tokens;      /* per completion */
    uint64_t seed;       /* completion i uses seed + i */
    double check;        /* the share of receipts checked (1: all) */
    uint64_t bond;       /* a fraud claim's */
    double offer_timeout; /* seconds to wait for an offer */
} buyer_options;
void buyer_options_default(buyer_options *o);
/* Buys every prompt's completion (docs/market.md, "The buyer"); writes
 * WORK/results.jsonl, WORK/receipt-I.json and WORK/summary.json. */
int agent_buyer_run(const buyer_options *o, char err[PLOW_ERR_LEN]);

/* A fraud claim's blobs: uploads the receipt (its file at receipt_path), the
 * model's safetensors file and the tokenizer's bytes, and fills tx's
 * receipt_fraud fields but the bond (plow fraud and the buyer share it). */
struct receipt;
struct tokenizer;
int receipt_fraud_blobs(struct client *c, const struct receipt *r, const char *receipt_path, const char *model_file,
                        const struct tokenizer *tok, ledger_tx *tx, char err[PLOW_ERR_LEN]);

#endif
