/*
 * evindex.h — an index of plow's contract events (contracts/PlowBase.sol:
 * TaskPosted, Claimed, Committed, Revealed, ChallengeOpened,
 * ChallengeClosed) and its translation into the embedded ledger's records
 * (ledger_task, ledger_challenge), so that the agents' EVM backend
 * (src/agent/backend_evm.c) and the node's chain indexer
 * (src/node/chain_index.c) read the chain the same way.
 *
 * What the events give (static: a task's params, its slots' workers,
 * commitments and revealed values, the challenges and their rulings) is
 * kept here; what changes without naming itself in an event's data (the
 * task word: status, window, slot statuses) is read from the contract
 * (evm_get_task) by the caller and passed to evm_ix_task_record.
 *
 * Addresses become the ledger's 32-byte account keys through pk_of (NULL:
 * the 20 bytes followed by 12 zeros, evm_addr_pk).
 */
#ifndef PLOW_EVM_EVINDEX_H
#define PLOW_EVM_EVINDEX_H

#include "../ledger/ledger.h"
#include "chain.h"

typedef struct evm_ix_slot {
    bool claimed, committed, revealed;
    uint8_t worker[ETH_ADDR_LEN];
    uint64_t claimed_at, committed_at, revealed_at;
    uint8_t commitment[32];
    evm_values v;
    uint8_t salt[32];
    uint8_t reveal_tx[32];
    uint8_t leaves_hash[32]; /* the reveal's leaf blob (its SHA-256; zeros for inference) */
} evm_ix_slot;

typedef struct evm_ix_task {
    uint8_t id[32];
    evm_params p;
    uint64_t posted_at;
    evm_ix_slot slots[LEDGER_MAX_REPLICAS];
} evm_ix_task;

typedef struct evm_ix_challenge {
    uint8_t cid[32];
    evm_dispute d;
    uint64_t opened_at, deadline, void_at, resolved_at;
    uint8_t status; /* EVM_C_* */
    uint8_t computed[32];
} evm_ix_challenge;

typedef struct evm_index {
    uint8_t plow[ETH_ADDR_LEN];
    evm_ix_task *tasks; /* in the order posted */
    size_t n, cap;
    evm_ix_challenge *chs;
    size_t n_ch, cap_ch;
    uint8_t t_posted[32], t_claimed[32], t_committed[32], t_revealed[32], t_opened[32], t_closed[32];
    uint8_t t_slot_settled[32], t_task_settled[32]; /* not indexed: they only say a task word changed */
} evm_index;

void evm_index_init(evm_index *x, const uint8_t plow[ETH_ADDR_LEN]);
void evm_index_clear(evm_index *x); /* empty again, same contract */
void evm_index_release(evm_index *x);
/* One log of the contract (others are ignored): 0, or -1 with err for a
 * malformed event or one naming a task or challenge the index lacks. */
int evm_index_apply(evm_index *x, const eth_log *l, char err[PLOW_ERR_LEN]);
/* The task an event names whose task word it changed (0 and *task
 * filled: the six above, SlotSettled, TaskSettled), or -1. */
int evm_index_log_task(const evm_index *x, const eth_log *l, uint8_t task[32]);
evm_ix_task *evm_index_task(evm_index *x, const uint8_t id[32]);
evm_ix_challenge *evm_index_challenge(evm_index *x, const uint8_t cid[32]);

/* ABI words: the value of the last 8 bytes; whether only the last `bytes` may be non-zero. */
uint64_t evm_word_u64(const uint8_t *w);
bool evm_word_fits(const uint8_t *w, int bytes);

typedef void (*evm_pk_of_fn)(const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32], void *ctx);
void evm_addr_pk(const uint8_t addr[ETH_ADDR_LEN], uint8_t pk[32]);
/* The ledger's task record of it at state st (the contract's task word). */
int evm_ix_task_record(const evm_ix_task *it, const evm_task_state *st, evm_pk_of_fn pk_of, void *ctx,
                       ledger_task *t, char err[PLOW_ERR_LEN]);
/* Plow.accounts and profiles of addr as the ledger's account record of pk. */
int evm_ledger_account(eth_rpc *c, const evm_deployment *d, const uint8_t addr[ETH_ADDR_LEN], const uint8_t pk[32],
                       ledger_account *out, char err[PLOW_ERR_LEN]);
/* A REVEAL's opening (tx->u.open) from the contract's values, salt and count leaves. */
void evm_reveal_fill(ledger_tx *tx, const uint8_t task[32], const evm_values *v, const uint8_t salt[32],
                     const uint8_t *leaves, size_t count);
/* The ledger's slot status of a contract's (EVM_S_*; revealed is committed). */
uint8_t evm_ledger_slot_status(uint8_t evm_status);
void evm_ix_challenge_record(const evm_ix_challenge *c, evm_pk_of_fn pk_of, void *ctx, ledger_challenge *o);

#endif
