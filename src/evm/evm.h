/*
 * evm.h — plow's side of an EVM chain: Keccak-256, secp256k1 keys and
 * Ethereum addresses, RLP, EIP-1559 transactions, keystore v3 files, the
 * contract ABI's word encoding and a JSON-RPC client.
 *
 * Everything is signed here, with the caller's key: no unlocked node account,
 * no relayer. Amounts that fit the protocol (stakes, rewards, fees in wei per
 * gas) are uint64_t; the ABI carries them as 256-bit words.
 *
 * Ownership: functions named _new return memory the caller frees; buffers
 * passed in are the caller's. Errors: 0 / -1 with a message in err.
 *
 *     eth_key k; eth_key_from_secret(&k, secret, err);
 *     eth_tx tx = {.chain_id = 31337, .nonce = n, .gas = 21000, ...};
 *     plow_buf raw = {0}; eth_tx_sign(&tx, &k, &raw, hash, err);
 */
#ifndef PLOW_EVM_H
#define PLOW_EVM_H

#include "../base/plow.h"

/* Big-endian 64-bit words (plow_put_u64 is little-endian; Ethereum is not). */
static inline void eth_put_be64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint64_t eth_get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* ---- Keccak-256 (the pre-standard padding Ethereum uses, not SHA3-256) ---- */
typedef struct keccak256_ctx {
    uint64_t s[25];
    uint8_t buf[136];
    size_t fill;
} keccak256_ctx;
void keccak256_init(keccak256_ctx *c);
void keccak256_update(keccak256_ctx *c, const void *data, size_t n);
void keccak256_final(keccak256_ctx *c, uint8_t out[32]);
void keccak256(const void *data, size_t n, uint8_t out[32]);

/* ---- keys and addresses ---- */
#define ETH_ADDR_LEN 20
typedef struct eth_key {
    uint8_t secret[32];
    uint8_t pub[64];               /* uncompressed X || Y, no 0x04 prefix */
    uint8_t addr[ETH_ADDR_LEN];
} eth_key;

/* A key from 32 secret bytes; refuses zero and values ≥ the group order. */
int eth_key_from_secret(eth_key *k, const uint8_t secret[32], char err[PLOW_ERR_LEN]);
int eth_key_generate(eth_key *k, char err[PLOW_ERR_LEN]);
void eth_key_wipe(eth_key *k);
void eth_addr_from_pub(const uint8_t pub[64], uint8_t addr[ETH_ADDR_LEN]);
/* "0x" + 40 hex digits in the EIP-55 mixed-case checksum (43 bytes with NUL). */
void eth_addr_checksum(const uint8_t addr[ETH_ADDR_LEN], char out[43]);
/* Parses 0x + 40 hex; all-lower or all-upper pass, mixed case must match EIP-55. */
int eth_addr_parse(const char *s, uint8_t addr[ETH_ADDR_LEN], char err[PLOW_ERR_LEN]);

/* Recoverable signature of a 32-byte hash: r, s (low-s), v ∈ {0,1}. */
int eth_sign_hash(const eth_key *k, const uint8_t hash[32], uint8_t r[32], uint8_t s[32], int *v,
                  char err[PLOW_ERR_LEN]);
/* The address that signed hash, or -1 for an invalid signature. */
int eth_recover(const uint8_t hash[32], const uint8_t r[32], const uint8_t s[32], int v,
                uint8_t addr[ETH_ADDR_LEN], char err[PLOW_ERR_LEN]);

/* ---- RLP ---- */
void rlp_put_bytes(plow_buf *b, const uint8_t *p, size_t n);
void rlp_put_u64(plow_buf *b, uint64_t v);
void rlp_put_u256(plow_buf *b, const uint8_t be[32]); /* big-endian, leading zeros dropped */
/* Wraps the payload b[start..] in a list header (moves it right). */
void rlp_wrap_list(plow_buf *b, size_t start);

/* One decoded item: a string (is_list false) or a list whose payload is
 * [data, data+len). Canonical encodings only: a one-byte string < 0x80
 * must be itself, lengths without leading zeros, long form only ≥ 56. */
typedef struct rlp_item {
    bool is_list;
    const uint8_t *data;
    size_t len;
} rlp_item;
/* Reads the item at p (n bytes available); *used = bytes the item spans. */
int rlp_next(const uint8_t *p, size_t n, rlp_item *it, size_t *used, char err[PLOW_ERR_LEN]);
/* A canonical unsigned integer (no leading zero byte) of at most 8 bytes. */
int rlp_item_u64(const rlp_item *it, uint64_t *v, char err[PLOW_ERR_LEN]);

/* ---- EIP-1559 transactions (type 2, empty access list) ---- */
typedef struct eth_tx {
    uint64_t chain_id, nonce, max_priority_fee, max_fee, gas;
    bool has_to;                   /* false: contract creation */
    uint8_t to[ETH_ADDR_LEN];
    uint8_t value[32];             /* wei, big-endian */
    const uint8_t *data;
    size_t data_len;
} eth_tx;
/* keccak(0x02 || rlp([chainId .. accessList])): the hash that is signed. */
void eth_tx_signing_hash(const eth_tx *tx, uint8_t out[32]);
/* raw = 0x02 || rlp([..., yParity, r, s]); hash = keccak(raw), the tx hash. */
int eth_tx_sign(const eth_tx *tx, const eth_key *k, plow_buf *raw, uint8_t hash[32],
                char err[PLOW_ERR_LEN]);
/* Decodes a signed type-2 transaction and recovers its sender (tests, tools). */
int eth_tx_decode(const uint8_t *raw, size_t n, eth_tx *tx, uint8_t from[ETH_ADDR_LEN],
                  char err[PLOW_ERR_LEN]);

/* ---- keystore v3 (scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR, Keccak MAC) ---- */
typedef enum eth_kdf { ETH_KDF_SCRYPT, ETH_KDF_PBKDF2 } eth_kdf;
typedef struct eth_kdf_params {
    eth_kdf kdf;
    uint64_t n;                    /* scrypt N (power of two) or PBKDF2 count */
    uint32_t r, p;                 /* scrypt only */
} eth_kdf_params;
extern const eth_kdf_params ETH_KDF_STANDARD; /* scrypt N=2^18 r=8 p=1, as geth writes */
extern const eth_kdf_params ETH_KDF_LIGHT;    /* scrypt N=2^12 r=8 p=6 (geth --lightkdf) */
/* The JSON text of a keystore holding k (caller frees). */
char *eth_keystore_new(const eth_key *k, const char *password, const eth_kdf_params *kp,
                       char err[PLOW_ERR_LEN]);
int eth_keystore_open(const char *json, size_t len, const char *password, eth_key *k,
                      char err[PLOW_ERR_LEN]);
/* Reads a key file: a keystore v3 JSON (password from PLOW_KEY_PASSWORD, empty if
 * unset) or a text file holding 0x + 64 hex digits (a test key, like anvil's). */
int eth_key_load(const char *path, eth_key *k, char err[PLOW_ERR_LEN]);

/* ---- ABI words ---- */
/* Builds calldata: selector = keccak(signature)[0:4], then 32-byte words. */
typedef struct abi_enc {
    plow_buf head;                 /* selector + static words */
    plow_buf tail;                 /* dynamic parts */
    size_t nhead;                  /* planned head words (for offsets) */
    size_t sel;                    /* 4 with a selector, 0 without */
} abi_enc;
void abi_selector(const char *signature, uint8_t out[4]);
/* signature NULL: no selector (constructor arguments, a tuple, abi.encode). */
void abi_begin(abi_enc *e, const char *signature, size_t head_words);
void abi_u64(abi_enc *e, uint64_t v);
void abi_word(abi_enc *e, const uint8_t w[32]);
void abi_addr(abi_enc *e, const uint8_t a[ETH_ADDR_LEN]);
void abi_bytes(abi_enc *e, const uint8_t *p, size_t n);            /* bytes */
void abi_words(abi_enc *e, const uint8_t *w, size_t nwords);       /* bytes32[] */
void abi_u64s(abi_enc *e, const uint64_t *v, size_t n);            /* uint256[] */
/* A dynamic tuple encoded by sub (begun with no signature); sub is released. */
void abi_tuple(abi_enc *e, abi_enc *sub);
/* An array of count static tuples of words_each words each (w: count x words_each x 32 bytes). */
void abi_tuples(abi_enc *e, const uint8_t *w, size_t count, size_t words_each);
/* Moves the calldata into out (released by the caller with plow_buf_release). */
void abi_end(abi_enc *e, plow_buf *out);
void abi_release(abi_enc *e);
/* Reads word i of returned data as a u64 (error if it does not fit). */
int abi_get_u64(const uint8_t *data, size_t n, size_t i, uint64_t *v, char err[PLOW_ERR_LEN]);
int abi_get_word(const uint8_t *data, size_t n, size_t i, uint8_t w[32], char err[PLOW_ERR_LEN]);

/* ---- JSON-RPC ---- */
typedef struct eth_rpc eth_rpc;
eth_rpc *eth_rpc_new(const char *url);
void eth_rpc_free(eth_rpc *c);
/* Calls method with params (a JSON array text); *result_out is the cJSON text
 * of "result" (caller frees). An RPC error object becomes err. */
int eth_rpc_call(eth_rpc *c, const char *method, const char *params, char **result_out,
                 char err[PLOW_ERR_LEN]);
int eth_rpc_u64(eth_rpc *c, const char *method, const char *params, uint64_t *v,
                char err[PLOW_ERR_LEN]);
/* eth_call (and every read built on it) at block `block` from now on; 0:
 * the latest block again. An indexer reads the state of the block it
 * indexed, not a later one. */
void eth_rpc_pin_block(eth_rpc *c, uint64_t block);
int eth_chain_id(eth_rpc *c, uint64_t *id, char err[PLOW_ERR_LEN]);
int eth_block_number(eth_rpc *c, uint64_t *n, char err[PLOW_ERR_LEN]);
/* The next nonce, counting the sender's pending transactions. */
int eth_nonce(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint64_t *nonce, char err[PLOW_ERR_LEN]);
int eth_balance(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint8_t wei[32], char err[PLOW_ERR_LEN]);

typedef struct eth_receipt {
    bool ok;                       /* status 1 */
    uint64_t gas_used, block;
    uint8_t tx_hash[32], block_hash[32];
    bool has_contract;
    uint8_t contract[ETH_ADDR_LEN];
} eth_receipt;

/* A signer bound to one chain: the key, a cached chain id and nonce. */
typedef struct eth_signer {
    eth_rpc *rpc;
    eth_key key;
    uint64_t chain_id, nonce;
    bool nonce_known;
} eth_signer;
int eth_signer_init(eth_signer *s, eth_rpc *rpc, const eth_key *k, char err[PLOW_ERR_LEN]);
void eth_signer_release(eth_signer *s);
/* eth_call of data on to, from the signer's address; out = returned bytes. */
int eth_call(eth_rpc *c, const uint8_t from[ETH_ADDR_LEN], const uint8_t to[ETH_ADDR_LEN],
             const uint8_t *data, size_t n, plow_buf *out, char err[PLOW_ERR_LEN]);
/* Estimates gas (plus a margin), sets fee caps from the base fee, signs, sends
 * and waits for the receipt. to NULL creates a contract. A reverted call is
 * an error carrying the revert reason when the node gives one; r (may be NULL)
 * gets the receipt of a mined transaction, reverted or not. */
int eth_transact(eth_signer *s, const uint8_t *to, const uint8_t *data, size_t n, eth_receipt *r,
                 char err[PLOW_ERR_LEN]);
int eth_wait_receipt(eth_rpc *c, const uint8_t hash[32], eth_receipt *r, char err[PLOW_ERR_LEN]);

/* One log entry of eth_getLogs. */
typedef struct eth_log {
    uint8_t address[ETH_ADDR_LEN];
    uint8_t topics[4][32];
    int ntopics;
    uint8_t *data;                 /* owned */
    size_t data_len;
    uint64_t block, log_index;
    uint8_t block_hash[32], tx_hash[32];
} eth_log;
/* Logs of addr in [from, to] (inclusive); *logs owned by the caller
 * (eth_logs_free). */
int eth_get_logs(eth_rpc *c, const uint8_t addr[ETH_ADDR_LEN], uint64_t from, uint64_t to,
                 eth_log **logs, size_t *nlogs, char err[PLOW_ERR_LEN]);
void eth_logs_free(eth_log *logs, size_t n);
/* Hash of block n (for reorg detection). */
int eth_block_hash(eth_rpc *c, uint64_t n, uint8_t hash[32], char err[PLOW_ERR_LEN]);
/* Hash and timestamp (seconds; time_s may be NULL) of block n. */
int eth_block_info(eth_rpc *c, uint64_t n, uint8_t hash[32], uint64_t *time_s, char err[PLOW_ERR_LEN]);
/* The calldata of transaction `hash` (eth_getTransactionByHash "input"); *data owned by the caller. */
int eth_tx_input(eth_rpc *c, const uint8_t hash[32], uint8_t **data, size_t *n, char err[PLOW_ERR_LEN]);

/* ---- hex helpers ---- */
/* "0x" + hex of n bytes into a fresh string (caller frees). */
char *eth_hex_new(const uint8_t *p, size_t n);
/* Parses "0x..." of any even length into a fresh buffer. */
int eth_unhex_new(const char *s, uint8_t **out, size_t *n, char err[PLOW_ERR_LEN]);
/* Parses a JSON quantity "0x1f" into u64. */
int eth_quantity(const char *s, uint64_t *v, char err[PLOW_ERR_LEN]);

#endif
