/*
 * client.h — the node's HTTP API from the other side: a libcurl client, and
 * the JSON codec of ledger records that both sides share (docs/api.md).
 *
 * Sits above the ledger and below the node: the node's server writes records
 * with json_*_to, clients (the CLI, agents, a follower) read them back with
 * json_*_from. Nothing here links the server (libmicrohttpd, SQLite).
 */
#ifndef PLOW_CLIENT_H
#define PLOW_CLIENT_H

#include "../base/plow.h"

#include "../ledger/ledger.h"

/* ---- client ------------------------------------------------------------------ */

/* A connection to a node's API (keep-alive reused). Errors carry the node's
 * JSON "error" message when it sent one, else what failed (connection
 * refused: "cannot reach the node at URL: is 'plow node' running?
 * (connection refused)"), else the HTTP status.
 * Timeouts: 5 s to connect, 60 s a request; blob transfers have no total
 * limit but fail below 1 KiB/s for 30 s.
 * A client is NOT thread-safe: use one client per thread.
 *
 *   client *c = client_new("http://127.0.0.1:7545");   (NULL url: that default;
 *   ...                                                  "host:port" gets http://)
 *   client_free(c); */
typedef struct client client;
client *client_new(const char *url); /* NULL only if libcurl cannot start */
void client_free(client *c);
const char *client_url(const client *c);
/* GET/POST returning the parsed JSON body (cJSON *, caller deletes) on 2xx. */
struct cJSON;
int client_get_json(client *c, const char *path, struct cJSON **out, char err[PLOW_ERR_LEN]);
int client_post_json(client *c, const char *path, const char *body, struct cJSON **out, char err[PLOW_ERR_LEN]);
/* Any request with extra headers ("Name: value", NULL-terminated list, may be
 * NULL) and an optional JSON body: 0 whenever the server answered, whatever
 * the status (*status); the answer's body (at most max bytes; an error body
 * at most 64 KiB) in out, which must be empty on entry. -1 with err when it could not be reached.
 * For servers other than a node too (plow serve: agents buying completions). */
int client_request(client *c, const char *method, const char *path, const char *const *headers, const char *body,
                   long *status, plow_buf *out, size_t max, char err[PLOW_ERR_LEN]);
/* Submits a signed transaction; fills its hash. */
int client_submit_tx(client *c, const ledger_tx *tx, uint8_t hash[32], char err[PLOW_ERR_LEN]);
/* Waits until the transaction is in a block (or dropped): result and error. */
int client_wait_tx(client *c, const uint8_t hash[32], double timeout_s, int *result, char msg[PLOW_ERR_LEN],
                   char err[PLOW_ERR_LEN]);
/* result: LEDGER_TX_OK (included), LEDGER_TX_FAILED (included, msg says why)
 * or LEDGER_TX_INVALID (dropped, msg says why); returns 0 in all three and -1
 * on a transport error, an unknown hash or timeout_s passing while pending.
 * Polls every 100 ms. _at also gives the block height (0 if dropped). */
int client_wait_tx_at(client *c, const uint8_t hash[32], double timeout_s, int *result, char msg[PLOW_ERR_LEN],
                      uint64_t *height, char err[PLOW_ERR_LEN]);
/* Builds, signs, submits and waits: fills sender (k's), nonce (the node's
 * next_nonce for it, retried if another sender with the key raced us) and
 * signs for the node's chain id (cached). The caller sets type, fee and body.
 * Returns -1 with the failure message when the transaction failed in its
 * block or was dropped. _at also gives its hash and block height (either
 * may be NULL; filled even when it failed). */
int client_send(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, char err[PLOW_ERR_LEN]);
int client_send_at(client *c, const ledger_key *k, ledger_tx *tx, double timeout_s, uint8_t hash[32],
                   uint64_t *height, char err[PLOW_ERR_LEN]);
int client_chain_id(client *c, uint8_t chain_id[32], char err[PLOW_ERR_LEN]);
int client_account(client *c, const uint8_t pk[32], ledger_account *out, uint64_t *next_nonce,
                   char err[PLOW_ERR_LEN]);
int client_task(client *c, const uint8_t id[32], ledger_task *out, char err[PLOW_ERR_LEN]);
int client_height(client *c, uint64_t *height, char err[PLOW_ERR_LEN]);
/* GET /v1/channel/ID: a payment channel (404: an error naming it). */
int client_channel(client *c, const uint8_t id[32], ledger_channel *out, char err[PLOW_ERR_LEN]);
/* Uploads are signed (docs/api.md, "Blob uploads"): the key set here signs
 * (chain id, blob hash, size, time) and the node charges the blob to that
 * account's quota. A client without a key cannot upload. */
void client_set_key(client *c, const ledger_key *k);
#define CLIENT_BLOB_AUTH_LEN (16 + 32 + 32 + 8 + 8)
#define CLIENT_BLOB_AUTH_WINDOW_MS 300000 /* the node takes a signature this close to its clock */
/* The bytes an upload's signature covers: "plow-blob-put/v1", chain id,
 * hash, size (u64 LE), time in ms (u64 LE). */
void client_blob_auth_msg(const uint8_t chain_id[32], const uint8_t hash[32], uint64_t size, uint64_t time_ms,
                          uint8_t out[CLIENT_BLOB_AUTH_LEN]);
/* Blobs. Uploads hash the bytes first (filling hash), skip the upload when
 * the node already has them (HEAD), and stream files. Downloads hash what
 * arrives and refuse bytes that do not hash to `hash`; get_file writes a
 * temporary file beside path and renames it into place only then. */
int client_blob_has(client *c, const uint8_t hash[32], bool *has, char err[PLOW_ERR_LEN]);
int client_blob_put(client *c, const void *data, size_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]);
int client_blob_put_file(client *c, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]);
int client_blob_get_file(client *c, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]);
int client_blob_get(client *c, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]);
/* The same, refusing (while it arrives) a blob of more than max bytes. */
int client_blob_get_max(client *c, const uint8_t hash[32], uint64_t max, uint8_t **data, size_t *n,
                        char err[PLOW_ERR_LEN]);
/* HEAD: whether the node has the blob and its size in bytes (0 when absent). */
int client_blob_size(client *c, const uint8_t hash[32], bool *has, uint64_t *size, char err[PLOW_ERR_LEN]);

/* ---- JSON forms of ledger records (docs/api.md) ---------------------------------
 * One codec for both sides: the server writes records with json_*_to, the
 * client reads them back with json_*_from (which refuse malformed input).
 * 64-bit numbers travel as decimal strings, hashes as 64 lowercase hex,
 * accounts as addresses. */
struct cJSON *json_account_to(const ledger_account *a, uint64_t next_nonce);
struct cJSON *json_task_to(const ledger_task *t);
struct cJSON *json_challenge_to(const ledger_challenge *c);
struct cJSON *json_block_to(const ledger_block *b, bool with_txs);
int json_account_from(const struct cJSON *j, ledger_account *a, uint64_t *next_nonce, char err[PLOW_ERR_LEN]);
int json_task_from(const struct cJSON *j, ledger_task *t, char err[PLOW_ERR_LEN]);
int json_challenge_from(const struct cJSON *j, ledger_challenge *c, char err[PLOW_ERR_LEN]);
/* A block with its transactions (a follower's input): decodes "header",
 * checks that "hash" is its hash, "height" agrees, and every tx decodes and
 * hashes to its "hash". The signature is copied, not checked. On success the
 * caller releases *b with ledger_block_release. */
int json_block_from(const struct cJSON *j, ledger_block *b, char err[PLOW_ERR_LEN]);
/* Helpers: u64 as string, hash as hex. get_* return -1 with err naming the key. */
void json_add_u64(struct cJSON *o, const char *key, uint64_t v);
void json_add_hash(struct cJSON *o, const char *key, const uint8_t h[32]);
void json_add_addr(struct cJSON *o, const char *key, const uint8_t pk[32]);
int json_get_u64(const struct cJSON *o, const char *key, uint64_t *v, char err[PLOW_ERR_LEN]);
int json_get_hash(const struct cJSON *o, const char *key, uint8_t h[32], char err[PLOW_ERR_LEN]);
int json_get_addr(const struct cJSON *o, const char *key, uint8_t pk[32], char err[PLOW_ERR_LEN]);
const char *json_get_str(const struct cJSON *o, const char *key); /* NULL if absent or not a string */

#endif /* PLOW_CLIENT_H */
