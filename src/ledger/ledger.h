/*
 * ledger.h — plow's settlement layer as a pure, deterministic state machine:
 * keys and addresses, signed transactions and their canonical encoding, the
 * ledger state (accounts, stake, escrowed tasks, challenges), blocks, and the
 * state root that commits to all of it.
 *
 * Nothing here does I/O beyond key files: storage (SQLite), transport (HTTP)
 * and the referee's re-execution live in src/node. An EVM backend can replace
 * this module behind the node's interface. The rules every transaction
 * follows are the table in docs/ledger.md; the code follows the table.
 *
 * Conventions:
 *   - an account is its 32-byte ed25519 public key; its printed form is an
 *     address with a checksum (ledger_addr_format / ledger_addr_parse);
 *   - money is uint64_t base units; every addition and multiplication is
 *     overflow-checked (plow_add_u64 / plow_mul_u64) and refused on overflow;
 *   - heights count blocks from 1 (genesis is height 0); deadlines are
 *     heights; "within" means height <= deadline;
 *   - a transaction's hash is SHA-256 of its unsigned encoding; its signature
 *     is ed25519 over SHA-256("plow/tx/v1" 0x00 || chain_id || tx hash), so a
 *     transaction cannot be replayed on another chain (docs/formats/tx.md).
 */
#ifndef PLOW_LEDGER_H
#define PLOW_LEDGER_H

#include "../base/plow.h"

#include "../merkle/merkle.h"

/* ---- keys and addresses --------------------------------------------------- */

#define LEDGER_PK_LEN 32
#define LEDGER_SK_LEN 64
#define LEDGER_SIG_LEN 64
/* "plow" + 64 hex (public key) + 8 hex (checksum) + NUL */
#define LEDGER_ADDR_STR_LEN 77

typedef struct ledger_key {
    uint8_t pk[LEDGER_PK_LEN];
    uint8_t sk[LEDGER_SK_LEN]; /* libsodium's secret key (seed || pk) */
} ledger_key;

/* Initialises libsodium once (thread-safe); every function below calls it. */
int ledger_crypto_init(char err[PLOW_ERR_LEN]);
void ledger_key_generate(ledger_key *k);
void ledger_key_from_seed(ledger_key *k, const uint8_t seed[32]);
/* Writes a key file (JSON: format, address, seed hex) created with mode 0600,
 * refusing to overwrite an existing file. */
int ledger_key_save(const ledger_key *k, const char *path, char err[PLOW_ERR_LEN]);
/* Reads a key file; refuses one readable by group or others ("chmod 600"). */
int ledger_key_load(ledger_key *k, const char *path, char err[PLOW_ERR_LEN]);
void ledger_key_wipe(ledger_key *k); /* sodium_memzero */

/* "plow" || hex(pk) || hex(first 4 bytes of SHA-256("plow/address" 0x00 || pk)) */
void ledger_addr_format(const uint8_t pk[LEDGER_PK_LEN], char out[LEDGER_ADDR_STR_LEN]);
/* Accepts exactly that form (hex in either case); a wrong checksum, length,
 * prefix or digit is an error naming what is wrong. */
int ledger_addr_parse(const char *s, uint8_t pk[LEDGER_PK_LEN], char err[PLOW_ERR_LEN]);

void ledger_sign(const ledger_key *k, const uint8_t *msg, size_t n, uint8_t sig[LEDGER_SIG_LEN]);
bool ledger_verify_sig(const uint8_t pk[LEDGER_PK_LEN], const uint8_t *msg, size_t n,
                       const uint8_t sig[LEDGER_SIG_LEN]) PLOW_MUST_CHECK;

/* ---- transactions ---------------------------------------------------------- */

typedef enum ledger_tx_type {
    LEDGER_TX_TRANSFER = 1, /* balance -> another account */
    LEDGER_TX_STAKE,        /* balance -> stake */
    LEDGER_TX_UNSTAKE,      /* free stake -> unbonding, released after unbond_blocks */
    LEDGER_TX_REGISTER,     /* profile: person or agent, name, capabilities */
    LEDGER_TX_POST_TASK,    /* a task and its escrowed reward */
    LEDGER_TX_CLAIM,        /* a worker takes a slot, locking worker_stake */
    LEDGER_TX_COMMIT,       /* a worker's commitment for its slot */
    LEDGER_TX_CHALLENGE,    /* a disputed step, with Merkle proofs and a bond */
    LEDGER_TX_VERDICT,      /* the referee's one-step result (referee key only) */
    LEDGER_TX_FINALIZE,     /* settle a task: pay, refund, unlock */
    LEDGER_TX_EXPIRE,       /* end a task nobody committed to */
    LEDGER_TX_LABEL_REVEAL, /* a labeler opens its label commitment (LABEL tasks) */
    LEDGER_TX_GOLD_REVEAL,  /* the requester opens its gold commitment (LABEL tasks) */
    LEDGER_TX_DA_CHALLENGE, /* data availability: a worker must make a promised blob fetchable, or
                               a requester's task is claimed unrunnable (docs/ledger.md) */
    LEDGER_TX_REVEAL,       /* a worker opens its sealed commitment: values, salt and every trace leaf */
    LEDGER_TX_CHANNEL_OPEN,   /* a client deposits into a payment channel to one worker */
    LEDGER_TX_CHANNEL_REDEEM, /* the worker redeems the client's latest cumulative voucher */
    LEDGER_TX_CHANNEL_CLOSE,  /* the worker closes at once; the client starts the dispute window, then settles */
    LEDGER_TX_RECEIPT_FRAUD,  /* a served receipt the worker signed, claimed wrong: the referee re-runs one prefill */
    LEDGER_TX_TYPE_END
} ledger_tx_type;
#define LEDGER_TX_TYPE_COUNT (LEDGER_TX_TYPE_END - 1)
const char *ledger_tx_type_name(int type); /* "transfer", ...; "?" if unknown */

typedef enum ledger_task_kind {
    LEDGER_KIND_TRAIN = 1, /* full training: leaves are state hashes */
    LEDGER_KIND_LORA,      /* LoRA fine-tune on a frozen base: same proof */
    LEDGER_KIND_INFER,     /* generation with a receipt (one-prefill check) */
    LEDGER_KIND_DPO,       /* DPO alignment: training-like, leaves are state hashes */
    LEDGER_KIND_ROUND,     /* a collaborative round: each slot an independent training run */
    LEDGER_KIND_LABEL,     /* crowdsourced labeling: commit-reveal, gold, Dawid-Skene pay */
    LEDGER_KIND_RL,        /* reinforcement learning: training-like, rollouts inside the step */
    LEDGER_KIND_END
} ledger_task_kind;
const char *ledger_kind_name(int kind);

typedef enum ledger_verify_mode {
    LEDGER_MODE_REPLICATED = 1, /* r >= 2 workers; equal results accepted */
    LEDGER_MODE_OPTIMISTIC,     /* one worker; a challenge window */
    LEDGER_MODE_END
} ledger_verify_mode;
const char *ledger_mode_name(int mode);

#define LEDGER_MAX_REPLICAS 8
#define LEDGER_NAME_MAX 64   /* register: bytes of name */
#define LEDGER_CAPS_MAX 512  /* register: bytes of capabilities (JSON text) */
/* A REVEAL carries every leaf of its trace (n+1 of them): a training-like
 * task has at most LEDGER_LEAVES_MAX - 1 steps (post_task refuses more). */
#define LEDGER_LEAVES_MAX 1025
#define LEDGER_TX_MAX 36864  /* largest encoded transaction (a full REVEAL: 33,121 bytes) */

/* Challenges (docs/ledger.md, "Challenges and the referee"). Every challenge
 * costs the referee work: its bond is at least LEDGER_BOND_FLOOR_FEES x
 * min_fee whatever the task says (no bond 0), a challenger holds at most
 * LEDGER_OPEN_PER_CHALLENGER open challenges, and a step challenge the
 * referee did not rule by its deadline may still be ruled for
 * LEDGER_VOID_FACTOR x verdict_blocks more blocks (finalize waits); past
 * that its slots are voided: nobody paid, nobody slashed. */
#define LEDGER_BOND_FLOOR_FEES 10
#define LEDGER_OPEN_PER_CHALLENGER 4
#define LEDGER_VOID_FACTOR 2

/* LABEL tasks (docs/ledger.md, "Labeling"). */
#define LEDGER_LABEL_ITEMS_MAX 65536  /* items N of a task (post_task steps) */
#define LEDGER_LABEL_CLASSES_MAX 64   /* classes (labels 0..n_classes-1, one byte each) */
#define LEDGER_LABELS_MAX 8000        /* labels in one reveal: a slot's item count at most */
#define LEDGER_GOLD_MAX 1600          /* gold items in one gold reveal */
#define LEDGER_LABEL_NONE 0xff        /* aggregated label of an item nobody labeled */
#define LEDGER_LABEL_ITERS 100        /* Dawid-Skene EM iterations at most, at finalize */
/* The cost bound of a finalize: N x replicas x n_classes <= this (post_task
 * refuses more); EM then costs at most LEDGER_LABEL_ITERS passes over as many
 * cells (about 0.5 s on one core). */
#define LEDGER_LABEL_CELLS_MAX (1u << 19)

typedef enum ledger_profile_kind { LEDGER_PERSON = 1, LEDGER_AGENT = 2 } ledger_profile_kind;

typedef struct ledger_task_params {
    uint8_t spec[32];       /* blob hash of the task spec (JSON, docs/tasks.md) */
    uint8_t kind;           /* ledger_task_kind */
    uint8_t mode;           /* ledger_verify_mode */
    uint8_t replicas;       /* 1 for optimistic, 2..LEDGER_MAX_REPLICAS for replicated */
    uint64_t reward;        /* paid to each accepted worker */
    uint64_t worker_stake;  /* each worker locks this much stake while it holds a slot */
    uint64_t min_bond;      /* a challenger posts at least this */
    uint64_t steps;         /* n: the committed trace has n+1 leaves (INFER: tokens) */
    uint32_t claim_blocks;  /* slots claimable until posted_at + claim_blocks */
    uint32_t work_blocks;   /* a slot must commit by claimed_at + work_blocks */
    uint32_t window_blocks; /* challenges until last commit + window_blocks */
    /* LABEL only (encoded only for that kind; zero for every other kind).
     * steps is the number of items N, replicas the number of labelers. */
    uint32_t n_classes;      /* 2..LEDGER_LABEL_CLASSES_MAX */
    uint32_t redundancy;     /* r: labelers per item, 1..replicas */
    uint8_t gold_commit[32]; /* ledger_gold_commitment of the hidden gold list */
    uint32_t min_gold_pct;   /* a labeler under this accuracy on gold is slashed, 0..100 */
} ledger_task_params;

/* One side of a challenge: the accused's leaves j-1 and j, each with its
 * inclusion proof against that worker's committed trace root (n+1 leaves).
 * For the artifact step (j = n+1) and for INFER tasks the proofs are empty
 * (depth 0, n 0) and the leaves are taken from the commitment itself. */
typedef struct ledger_evidence {
    uint8_t leaf_prev[32];
    uint8_t leaf[32];
    merkle_proof proof_prev;
    merkle_proof proof;
} ledger_evidence;

typedef struct ledger_tx {
    uint8_t type;                 /* ledger_tx_type */
    uint8_t sender[LEDGER_PK_LEN];
    uint64_t nonce;               /* the sender's next nonce (0 for its first tx) */
    uint64_t fee;                 /* paid to the operator, >= params.min_fee */
    union {
        struct { uint8_t to[LEDGER_PK_LEN]; uint64_t amount; } transfer;
        struct { uint64_t amount; } stake;   /* STAKE and UNSTAKE */
        struct {
            uint8_t kind;                    /* ledger_profile_kind */
            char name[LEDGER_NAME_MAX + 1];  /* printable UTF-8, NUL-terminated */
            char caps[LEDGER_CAPS_MAX + 1];  /* capabilities, JSON text */
        } reg;
        ledger_task_params post;
        struct { uint8_t task[32]; } ref;    /* CLAIM, FINALIZE, EXPIRE */
        struct {
            uint8_t task[32];
            uint8_t trace_root[32];  /* Merkle root of leaves 0..n (INFER: receipt blob hash) */
            uint8_t final_state[32]; /* leaf n (INFER: SHA-256 of the output tokens) */
            uint8_t artifact[32];    /* model/adapter hash (INFER: model hash) */
            uint8_t manifest[32];    /* blob hash of the outputs manifest (docs/tasks.md) */
            uint64_t n;
            uint32_t checkpoint_every;
        } commit; /* every kind but LABEL: trace_root is the sealed ledger_commitment,
                     n = steps, the other fields zero (docs/ledger.md, "Commit and reveal") */
        struct {
            uint8_t task[32];
            uint8_t accused[LEDGER_PK_LEN];
            uint8_t other[LEDGER_PK_LEN]; /* replicated: a second committed worker, or zeros */
            uint64_t step;                /* j in 1..n, or n+1 for the artifact */
            uint64_t bond;
            uint8_t state_blob[32];       /* blob hash of state j-1 (INFER: the receipt) */
            ledger_evidence ev;           /* against accused */
            ledger_evidence ev_other;     /* against other, when other is not zeros */
        } challenge;
        struct {
            uint8_t task[32];
            uint8_t accused[LEDGER_PK_LEN]; /* a committed worker, or the requester (unrunnable) */
            uint8_t want[32];               /* the blob demanded; zeros: the task is unrunnable */
            uint64_t bond;
        } da;                               /* DA_CHALLENGE */
        struct {
            uint8_t challenge[32]; /* the challenge's id (its tx hash) */
            uint8_t computed[32];  /* the referee's leaf j (artifact hash for j = n+1) */
            /* step challenge: 1 if state_blob existed and hashed to leaf j-1, 0 if not,
             * LEDGER_RULING_UNRUNNABLE if the task cannot be run within the network's
             * limits (poster fault). data challenge: 1 the blob is available (attested),
             * 0 it is not one the commitment promises. unrunnable claim: 1 runnable,
             * LEDGER_RULING_UNRUNNABLE unrunnable. */
            uint8_t prev_ok;
        } verdict;
        struct {
            uint8_t task[32];
            uint8_t salt[32];
            uint32_t count;                     /* the slot's item count */
            uint8_t labels[LEDGER_LABELS_MAX];  /* (count) one per item of the slot, in item order */
        } reveal;                               /* LABEL_REVEAL */
        struct {
            uint8_t task[32];
            uint8_t salt[32];
            uint32_t count;                     /* 0..LEDGER_GOLD_MAX */
            uint32_t items[LEDGER_GOLD_MAX];    /* (count) strictly increasing item indices */
            uint8_t labels[LEDGER_GOLD_MAX];    /* (count) their known labels */
        } gold;                                 /* GOLD_REVEAL */
        struct {
            uint8_t task[32];
            uint8_t trace_root[32];  /* Merkle root of leaves 0..n (INFER: receipt blob hash) */
            uint8_t final_state[32]; /* leaf n (INFER: SHA-256 of the output tokens) */
            uint8_t artifact[32];    /* model/adapter hash (INFER: model hash) */
            uint8_t manifest[32];    /* blob hash of the outputs manifest (docs/tasks.md) */
            uint64_t n;
            uint32_t checkpoint_every;
            uint8_t salt[32];
            uint32_t count;                          /* n+1 leaves (INFER: 0) */
            uint8_t leaves[LEDGER_LEAVES_MAX * 32];  /* (count x 32) leaf 0..n */
        } open;                                      /* REVEAL */
        struct {
            uint8_t worker[LEDGER_PK_LEN];
            uint64_t deposit;
            uint32_t dispute_blocks; /* the client's close waits this long for the worker's last redeem */
        } chan_open;                 /* CHANNEL_OPEN: the channel's id is this transaction's hash */
        struct {
            uint8_t channel[32];
            uint64_t amount;            /* cumulative: everything the client owes the worker so far */
            uint8_t sig[LEDGER_SIG_LEN]; /* the client's voucher signature (ledger_voucher_digest) */
        } chan_redeem;                  /* CHANNEL_REDEEM */
        struct { uint8_t channel[32]; } chan_close; /* CHANNEL_CLOSE */
        struct {
            uint8_t worker[LEDGER_PK_LEN];
            uint8_t digest[32];          /* receipt_digest of the served receipt */
            uint8_t sig[LEDGER_SIG_LEN]; /* the worker's signature over digest (the receipt's) */
            uint8_t receipt_blob[32];    /* blob: the receipt JSON */
            uint8_t model_blob[32];      /* blob: the model's model.safetensors */
            uint8_t tokenizer_blob[32];  /* blob: its tokenizer.bin */
            uint64_t bond;
        } fraud;                         /* RECEIPT_FRAUD */
    } u;
    uint8_t sig[LEDGER_SIG_LEN];
} ledger_tx;

/* Canonical encoding (docs/formats/tx.md). encode appends the full signed
 * transaction; encode_unsigned everything but the signature. decode parses
 * exactly len bytes and refuses anything that is not the canonical encoding
 * of some transaction (unknown type, trailing bytes, bad lengths, non-
 * canonical proofs, unterminated strings...). Signatures are not checked. */
void ledger_tx_encode(const ledger_tx *tx, plow_buf *out);
void ledger_tx_encode_unsigned(const ledger_tx *tx, plow_buf *out);
int ledger_tx_decode(ledger_tx *tx, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]);
void ledger_tx_hash(const ledger_tx *tx, uint8_t out[32]);
/* Sets tx->sender = k->pk, then signs. */
void ledger_tx_sign(ledger_tx *tx, const ledger_key *k, const uint8_t chain_id[32]);
bool ledger_tx_verify(const ledger_tx *tx, const uint8_t chain_id[32]) PLOW_MUST_CHECK;

/* ---- genesis --------------------------------------------------------------- */

#define LEDGER_RULING_UNRUNNABLE 2 /* a verdict's prev_ok: the poster's task cannot be run */

typedef struct ledger_params {
    uint64_t unbond_blocks;        /* unstaked funds are free after this many blocks */
    uint64_t verdict_blocks;       /* the referee must rule within this many blocks */
    uint64_t min_fee;
    uint32_t slash_challenger_pct; /* share of a slashed stake paid to whoever proved it; rest burned */
    uint32_t bond_accused_pct;     /* share of a lost bond paid to the wrongly accused; rest burned */
} ledger_params;

typedef struct ledger_genesis_account {
    uint8_t pk[LEDGER_PK_LEN];
    uint64_t balance;
    uint64_t stake;
} ledger_genesis_account;

typedef struct ledger_genesis {
    char chain[64];           /* a name, e.g. "plow-local" */
    uint64_t time_ms;         /* genesis time */
    uint8_t operator_pk[LEDGER_PK_LEN]; /* sequencer and referee: signs blocks and verdicts, earns fees */
    ledger_params params;
    size_t n_accounts;
    ledger_genesis_account *accounts; /* owned */
    uint8_t chain_id[32];     /* SHA-256 of the genesis file's bytes */
    uint64_t supply;          /* sum of balances and stakes (checked) */
} ledger_genesis;

/* Parses a genesis JSON file (docs/ledger.md): chain, time_ms, operator,
 * params, accounts [{address, balance, stake}] with amounts as strings.
 * Refuses duplicates, bad addresses, overflowing totals. */
int ledger_genesis_parse(ledger_genesis *g, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]);
void ledger_genesis_release(ledger_genesis *g);

/* ---- state ----------------------------------------------------------------- */

typedef enum ledger_task_status {
    LEDGER_TASK_OPEN = 1,    /* slots free, claim deadline not passed */
    LEDGER_TASK_CLAIMED,     /* every slot claimed, not all committed */
    LEDGER_TASK_COMMITTED,   /* every claimed slot committed; window running */
    LEDGER_TASK_CHALLENGED,  /* a challenge awaits its verdict */
    LEDGER_TASK_RESOLVED,    /* verdicts in, window running */
    LEDGER_TASK_FINALIZED,
    LEDGER_TASK_EXPIRED,
    LEDGER_TASK_STATUS_END
} ledger_task_status;
const char *ledger_task_status_name(int status);

typedef enum ledger_slot_status {
    LEDGER_SLOT_EMPTY = 0,
    LEDGER_SLOT_CLAIMED,
    LEDGER_SLOT_COMMITTED,
    LEDGER_SLOT_SLASHED,    /* a verdict found it wrong */
    LEDGER_SLOT_FORFEITED,  /* missed its commit deadline */
    LEDGER_SLOT_PAID,
    LEDGER_SLOT_UNPAID,     /* finalized without reward (replicas disagreed, no proof) */
    LEDGER_SLOT_VOID,       /* settled without pay or slash: a challenge never ruled, or the poster's fault */
    LEDGER_SLOT_STATUS_END
} ledger_slot_status;
const char *ledger_slot_status_name(int status);

typedef struct ledger_slot {
    uint8_t status;
    uint8_t worker[LEDGER_PK_LEN];
    uint64_t claimed_at, committed_at;
    /* The values below are the revealed ones (zero until the REVEAL; LABEL:
     * trace_root is the label commitment from the commit on). */
    uint8_t trace_root[32], final_state[32], artifact[32], manifest[32];
    uint64_t n;
    uint32_t checkpoint_every;
    uint8_t commitment[32]; /* the sealed ledger_commitment of the COMMIT (zero for LABEL) */
    uint64_t revealed_at;   /* the height of its REVEAL (0: not revealed); the leaves are in that block */
} ledger_slot;

typedef struct ledger_task {
    uint8_t id[32];  /* the post transaction's hash */
    uint8_t requester[LEDGER_PK_LEN];
    ledger_task_params p;
    uint8_t status;
    uint64_t posted_at;
    uint64_t escrow;       /* reward still held */
    uint64_t window_end;   /* challenges allowed while height <= window_end (0: not yet) */
    uint32_t open_challenges;
    ledger_slot slots[LEDGER_MAX_REPLICAS]; /* p.replicas of them */
    /* LABEL only (zero for every other kind) */
    uint8_t revealed;      /* bit s set: slot s revealed its labels (a ledger_labels record) */
    uint8_t gold_revealed; /* 1 once the requester revealed its gold (a ledger_gold record) */
    uint8_t result[32];    /* at finalize: SHA-256 of the aggregated labels (ledger_label_outcome.map) */
    uint64_t paid[LEDGER_MAX_REPLICAS]; /* at finalize: each slot's pay */
} ledger_task;

/* The height task t waits for next (the API's deadline_from filter): open,
 * until its claim window closes; claimed, the last commit deadline of its
 * claimed slots; committed, challenged, resolved: the end of its window;
 * settled: none (0). */
uint64_t ledger_task_deadline(const ledger_task *t);

/* A LABEL slot's revealed labels: one byte per item of the slot, in item
 * order (ledger_label_slot_items). */
typedef struct ledger_labels {
    uint8_t task[32];
    uint8_t slot;   /* the slot index, < replicas */
    uint32_t count; /* = the slot's item count */
    uint8_t labels[LEDGER_LABELS_MAX];
} ledger_labels;

/* A LABEL task's revealed gold: items whose answer the requester knew. */
typedef struct ledger_gold {
    uint8_t task[32];
    uint32_t count;
    uint32_t items[LEDGER_GOLD_MAX]; /* (count) strictly increasing, < N */
    uint8_t labels[LEDGER_GOLD_MAX]; /* (count) < n_classes */
} ledger_gold;

typedef enum ledger_challenge_status {
    LEDGER_CH_OPEN = 1,
    LEDGER_CH_UPHELD,    /* someone accused was wrong: slashed */
    LEDGER_CH_REJECTED,  /* the accused was right (or the evidence state was bad): bond lost */
    LEDGER_CH_EXPIRED,   /* never ruled (void cap passed): bond returned, the accused voided */
    LEDGER_CH_STATUS_END
} ledger_challenge_status;
const char *ledger_challenge_status_name(int status);

typedef enum ledger_challenge_kind {
    LEDGER_CHK_STEP = 0,   /* CHALLENGE: one disputed step, re-executed by the referee */
    LEDGER_CHK_DATA,       /* DA_CHALLENGE: the accused must make state_blob fetchable by the deadline */
    LEDGER_CHK_UNRUNNABLE, /* DA_CHALLENGE against the requester: its task cannot be run */
    LEDGER_CHK_RECEIPT,    /* RECEIPT_FRAUD: a served receipt with a wrong token. No task: `task` holds the
                              receipt's digest, state_blob the receipt, leaf_prev the model blob,
                              accused_leaf the tokenizer blob */
    LEDGER_CHK_END
} ledger_challenge_kind;
const char *ledger_challenge_kind_name(int kind);

typedef struct ledger_challenge {
    uint8_t id[32];  /* the challenge transaction's hash */
    uint8_t kind;    /* ledger_challenge_kind */
    uint8_t task[32];
    uint8_t challenger[LEDGER_PK_LEN];
    uint8_t accused[LEDGER_PK_LEN];
    uint8_t other[LEDGER_PK_LEN];
    bool has_other;
    uint64_t step, bond, opened_at, deadline;
    uint8_t state_blob[32];    /* DATA: the blob demanded */
    uint8_t leaf_prev[32];     /* agreed leaf j-1 */
    uint8_t accused_leaf[32];  /* accused's leaf j */
    uint8_t other_leaf[32];    /* other's leaf j */
    uint8_t status;
    uint8_t computed[32];      /* the verdict's leaf j */
    uint64_t resolved_at;
} ledger_challenge;

/* The last height a verdict on c is admitted: a step or unrunnable
 * challenge's deadline plus LEDGER_VOID_FACTOR x verdict_blocks, a data
 * challenge's deadline (the referee rules in deadline order, and not past this). */
uint64_t ledger_challenge_void_at(const ledger_params *p, const ledger_challenge *c);

/* A payment channel (docs/ledger.md, "Payment channels"). Its escrow is
 * deposit - redeemed until it is closed. */
typedef enum ledger_channel_status {
    LEDGER_CHAN_OPEN = 1,
    LEDGER_CHAN_CLOSING, /* the client asked to close: the worker may redeem until close_at */
    LEDGER_CHAN_CLOSED,  /* settled: the rest went back to the client */
    LEDGER_CHAN_STATUS_END
} ledger_channel_status;
const char *ledger_channel_status_name(int status);

typedef struct ledger_channel {
    uint8_t id[32]; /* the CHANNEL_OPEN transaction's hash */
    uint8_t client[LEDGER_PK_LEN];
    uint8_t worker[LEDGER_PK_LEN];
    uint64_t deposit, redeemed;
    uint32_t dispute_blocks;
    uint8_t status;
    uint64_t opened_at, close_at; /* close_at: the last height a redeem is admitted while CLOSING */
} ledger_channel;

/* What a client signs for a voucher: SHA-256("plow/voucher/v1" 0x00 ||
 * chain_id || channel id || amount as u64 little-endian). The amount is
 * cumulative, so only the latest voucher matters and none can be spent twice. */
void ledger_voucher_digest(const uint8_t chain_id[32], const uint8_t channel[32], uint64_t amount, uint8_t out[32]);
void ledger_voucher_sign(const ledger_key *client, const uint8_t chain_id[32], const uint8_t channel[32],
                         uint64_t amount, uint8_t sig[LEDGER_SIG_LEN]);
/* A voucher as text (the X-PAYMENT header of plow serve, docs/serve.md):
 * "plowv1." channel hex "." amount (decimal) "." signature hex. */
#define LEDGER_VOUCHER_STR_LEN (7 + 64 + 1 + 20 + 1 + 128 + 1)
void ledger_voucher_format(const uint8_t channel[32], uint64_t amount, const uint8_t sig[LEDGER_SIG_LEN],
                           char out[LEDGER_VOUCHER_STR_LEN]);
int ledger_voucher_parse(const char *s, uint8_t channel[32], uint64_t *amount, uint8_t sig[LEDGER_SIG_LEN],
                         char err[PLOW_ERR_LEN]);
bool ledger_voucher_ok(const uint8_t client[LEDGER_PK_LEN], const uint8_t chain_id[32], const uint8_t channel[32],
                       uint64_t amount, const uint8_t sig[LEDGER_SIG_LEN]) PLOW_MUST_CHECK;

typedef struct ledger_account {
    uint8_t pk[LEDGER_PK_LEN];
    uint64_t balance, nonce, stake, locked, unbonding, unbond_at;
    uint8_t profile;  /* 0 unregistered, else ledger_profile_kind */
    char name[LEDGER_NAME_MAX + 1];
    char caps[LEDGER_CAPS_MAX + 1];
} ledger_account;

typedef struct ledger_state ledger_state;

/* A state at genesis (height 0). */
ledger_state *ledger_state_new(const ledger_genesis *g);
void ledger_state_free(ledger_state *s);
const ledger_genesis *ledger_state_genesis(const ledger_state *s);
uint64_t ledger_state_height(const ledger_state *s);
uint64_t ledger_state_time(const ledger_state *s);
uint64_t ledger_state_burned(const ledger_state *s);
/* Sum of every balance, stake, unbonding amount, escrow and open bond: always
 * genesis supply - burned (a test invariant). */
uint64_t ledger_state_holdings(const ledger_state *s);

/* Results of one transaction in a block. */
typedef enum ledger_tx_result {
    LEDGER_TX_OK = 0,      /* applied */
    LEDGER_TX_FAILED = 1,  /* included: fee paid, nonce used, nothing else changed; err says why */
    LEDGER_TX_INVALID = -1 /* cannot be included (bad signature, nonce, fee): state unchanged */
} ledger_tx_result;

/* Starts block `height` (= current + 1) at time_ms (>= the previous block's). */
int ledger_begin_block(ledger_state *s, uint64_t height, uint64_t time_ms, char err[PLOW_ERR_LEN]);
/* Applies one transaction of the current block; checks its signature unless
 * sig_checked (the node verifies signatures on admission, in parallel).
 * A transaction either applies entirely or changes nothing but fee and nonce. */
ledger_tx_result ledger_apply_tx(ledger_state *s, const ledger_tx *tx, bool sig_checked, char err[PLOW_ERR_LEN]);
/* Ends the block: the state root after it. */
void ledger_end_block(ledger_state *s, uint8_t state_root[32]);
/* The root of the current state (cached between changes). */
void ledger_state_root(ledger_state *s, uint8_t root[32]);

/* What admission checks before a transaction enters the mempool: decodes,
 * signature, fee >= min_fee, nonce == expected (the caller passes the next
 * nonce it expects for the sender, counting its pending transactions), and
 * that the sender can pay the fee. */
int ledger_check_tx(const ledger_state *s, const ledger_tx *tx, uint64_t expected_nonce, bool check_sig,
                    char err[PLOW_ERR_LEN]);

/* Lookups (copies). Return false when absent. */
bool ledger_get_account(const ledger_state *s, const uint8_t pk[LEDGER_PK_LEN], ledger_account *out);
bool ledger_get_task(const ledger_state *s, const uint8_t id[32], ledger_task *out);
bool ledger_get_challenge(const ledger_state *s, const uint8_t id[32], ledger_challenge *out);
/* A LABEL task's revealed labels of one slot / its revealed gold. */
bool ledger_get_labels(const ledger_state *s, const uint8_t task[32], uint32_t slot, ledger_labels *out);
bool ledger_get_gold(const ledger_state *s, const uint8_t task[32], ledger_gold *out);
bool ledger_get_channel(const ledger_state *s, const uint8_t id[32], ledger_channel *out);
/* Iteration in key order; the callback returns false to stop. */
void ledger_each_task(const ledger_state *s, bool (*fn)(const ledger_task *t, void *arg), void *arg);
void ledger_each_challenge(const ledger_state *s, bool (*fn)(const ledger_challenge *c, void *arg), void *arg);
void ledger_each_account(const ledger_state *s, bool (*fn)(const ledger_account *a, void *arg), void *arg);

/* Persistence support. Every record is (key, value) bytes: key = one tag
 * byte ('a' account, 't' task, 'c' challenge, 'g' gold, 'l' labels (id =
 * task id + slot byte), 'm' meta) + id; value its
 * canonical encoding. ledger_each_dirty visits the records changed since the
 * last ledger_clear_dirty (the node writes them with the block, in one
 * SQLite transaction); ledger_load_record rebuilds a state from stored
 * records (after ledger_state_new from the same genesis); the caller then
 * compares ledger_state_root with the last block's root. */
void ledger_each_dirty(const ledger_state *s, void (*fn)(const uint8_t *key, size_t klen, const uint8_t *val,
                                                          size_t vlen, void *arg), void *arg);
void ledger_clear_dirty(ledger_state *s);
int ledger_load_record(ledger_state *s, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       char err[PLOW_ERR_LEN]);

/* ---- labeling (LABEL tasks; docs/ledger.md, "Labeling") ---------------------- */

/* Assignment: slot s labels item i iff ((i + s) mod replicas) < redundancy,
 * so every item gets exactly `redundancy` labelers (and the slots' loads
 * differ by at most min(r, replicas - r) items). Pure functions of the task's parameters,
 * shared by the state machine and the agents. Out-of-range arguments
 * (replicas 0, redundancy > replicas, slot >= replicas) give false / 0. */
bool ledger_label_assigned(uint64_t item, uint32_t slot, uint32_t replicas, uint32_t redundancy);
/* How many of the n_items items slot `slot` labels (O(1)). */
uint64_t ledger_label_slot_count(uint64_t n_items, uint32_t replicas, uint32_t redundancy, uint32_t slot);
/* Writes the slot's item indices in increasing order into items (at most
 * cap of them); returns the slot's item count (which may exceed cap). */
uint64_t ledger_label_slot_items(uint64_t n_items, uint32_t replicas, uint32_t redundancy, uint32_t slot,
                                 uint32_t *items, size_t cap);

/* A labeler's commitment (its COMMIT's trace_root):
 * SHA-256("plow/labels/v1" 0x00 || task || labeler pk || labels (one byte
 * each, the slot's items in order) || salt). The labeler's key inside it
 * makes a copied commitment useless to the copier. */
void ledger_label_commitment(const uint8_t task[32], const uint8_t labeler[LEDGER_PK_LEN], const uint8_t *labels,
                             size_t count, const uint8_t salt[32], uint8_t out[32]);
/* The requester's gold commitment (post_task gold_commit):
 * SHA-256("plow/gold/v1" 0x00 || salt || u32 count || count x (u32 item, u8
 * label)), integers little-endian: the GOLD_REVEAL body after its salt. The
 * salt must be secret and random (the task id does not exist yet). */
void ledger_gold_commitment(const uint8_t salt[32], uint32_t count, const uint32_t *items, const uint8_t *labels,
                            uint8_t out[32]);
/* The first height at which the task's labelers may reveal: the height of
 * the last commit once every slot committed, otherwise the first height
 * after posted_at + claim_blocks + work_blocks (when no slot can commit any
 * more). Reveals are accepted from there until window_end. */
uint64_t ledger_label_reveal_from(const ledger_task *t);

/* What a LABEL task's finalize computes, from the task's parameters, the
 * revealed labels and the gold (ledger_label_aggregate). */
typedef struct ledger_label_outcome {
    uint64_t n_items;
    uint8_t *map;        /* (n_items) aggregated label of each item, LEDGER_LABEL_NONE where none; owned */
    uint8_t result[32];  /* SHA-256(map): the task's result */
    bool flagged[LEDGER_MAX_REPLICAS];      /* under min_gold_pct on the gold: slashed, answers dropped */
    uint32_t gold_answered[LEDGER_MAX_REPLICAS]; /* gold items the slot labeled */
    uint32_t gold_correct[LEDGER_MAX_REPLICAS];  /* of which right */
    uint32_t accuracy_ppm[LEDGER_MAX_REPLICAS];  /* Dawid-Skene estimate (0: none or flagged) */
    uint64_t pay[LEDGER_MAX_REPLICAS];     /* from the escrow, <= reward each */
    uint32_t iterations;                   /* EM iterations run (0: no answers left) */
} ledger_label_outcome;

/* The deterministic settlement of a LABEL task, as the ledger's finalize
 * runs it (and anyone can re-run it from the records to check the result):
 *   1. answers: revealed[s] (NULL: slot s did not reveal) gives slot s's
 *      labels of its items, as (item, labeler s, label);
 *   2. gold (NULL: not revealed; count 0: none): a slot whose share of
 *      right gold answers is under min_gold_pct is flagged
 *      (label_gold_scores, threshold min_gold_pct x 10^4 ppm, from one gold
 *      answer on) and its answers are dropped (label_answers_filter);
 *   3. Dawid-Skene (label_ds_run: majority start, gold clamped,
 *      LEDGER_LABEL_ITERS iterations at most, tol 1e-7, smoothing 1) on the
 *      rest; map = the MAP labels (gold items: their gold label);
 *   4. pay: label_pay_weights (estimated accuracy above chance x labels
 *      given, flagged excluded) splits reward x (revealed, unflagged slots)
 *      by label_pay_split; each share is capped at reward.
 * Refuses (with a message) inputs that do not fit the task: not a LABEL task,
 * counts or labels out of range, gold items not increasing. out is zeroed
 * on failure; release it with ledger_label_outcome_release. */
int ledger_label_aggregate(const ledger_task *t, const ledger_labels *const revealed[LEDGER_MAX_REPLICAS],
                           const ledger_gold *gold, ledger_label_outcome *out, char err[PLOW_ERR_LEN]);
void ledger_label_outcome_release(ledger_label_outcome *o);

/* ---- commit and reveal (every kind but LABEL; docs/ledger.md) --------------- */

/* Whether t's slots commit sealed (commit-reveal): every kind but LABEL
 * (labels have their own commitment, ledger_label_commitment). */
bool ledger_sealed(const ledger_task *t);
/* The sealed commitment a REVEAL opens (the COMMIT's trace_root):
 * SHA-256("plow/commit/v2" 0x00 || task || u32 slot || worker pk ||
 * trace_root || final_state || artifact || manifest || u64 n ||
 * u32 checkpoint_every || salt), integers little-endian; task, values and
 * salt are the reveal's, the worker its sender. The worker's key inside it
 * makes a copied commitment open for nobody but its author. */
void ledger_commitment(const ledger_tx *reveal, uint32_t slot, uint8_t out[32]);
/* Reveals of t are accepted from ledger_reveal_from to ledger_reveal_until
 * (inclusive); challenges until window_end = reveal_until + window_blocks.
 * A replicated (not ROUND) task opens when its last slot commits; a ROUND
 * task when every slot committed, or else the block after the last height a
 * slot could commit (posted_at + claim_blocks + work_blocks). UINT64_MAX
 * while that is not known yet. A committed slot not revealed by
 * reveal_until forfeits its stake at finalize. */
uint64_t ledger_reveal_from(const ledger_task *t);
uint64_t ledger_reveal_until(const ledger_task *t);

/* ---- blocks ---------------------------------------------------------------- */

#define LEDGER_BLOCK_HEADER_LEN 152 /* 4+8+8+32*4+4 */
typedef struct ledger_block_header {
    uint32_t version;      /* 1 */
    uint64_t height;
    uint64_t time_ms;
    uint8_t prev[32];      /* hash of the previous header (genesis: the chain id) */
    uint8_t tx_root[32];   /* Merkle root of the included tx hashes (zeros if none) */
    uint8_t results[32];   /* SHA-256 of one result byte per included tx */
    uint8_t state_root[32];
    uint32_t n_txs;
} ledger_block_header;

void ledger_block_encode(const ledger_block_header *h, uint8_t out[LEDGER_BLOCK_HEADER_LEN]);
int ledger_block_decode(ledger_block_header *h, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]);
void ledger_block_hash(const ledger_block_header *h, uint8_t out[32]);

/* One whole block, as the node stores and serves it: its header, the
 * operator's signature over its hash, and its transactions (encoded) with
 * one result each. */
typedef struct ledger_block {
    ledger_block_header h;
    uint8_t hash[32];
    uint8_t sig[LEDGER_SIG_LEN];
    uint32_t n_txs;
    plow_buf *txs;        /* n_txs encoded transactions (owned) */
    int8_t *results;      /* n_txs ledger_tx_result values (owned) */
    char **errors;        /* n_txs messages, NULL when OK (owned) */
} ledger_block;
/* Frees what b owns and zeroes it; accepts NULL. */
void ledger_block_release(ledger_block *b);

#endif /* PLOW_LEDGER_H */
