/*
 * backend.h — the one settlement interface the agents use (agent.h's
 * agent_send, agent_task, agent_list_tasks, ...): every transaction (post,
 * claim, commit, reveal, challenge, data challenge and answer, finalize,
 * expire, register, stake) and every read of task, slot, challenge and
 * account state goes through an agent's backend. Two exist:
 *
 *   agent_backend_node  the embedded ledger, through a plow node's HTTP API
 *                       (src/client): the node orders the transactions;
 *   agent_backend_evm   plow's contracts on an EVM chain (src/evm/chain.h,
 *                       backend_evm.c): the agent signs its own EIP-1559
 *                       transactions and reads the contracts' events.
 *
 * Blobs (specs, checkpoints, artifacts) always go to a plow node through
 * a->c, whichever backend settles (docs/evm.md: the trust that remains).
 *
 * The agents never call a backend's functions directly: agent.c's
 * agent_* functions dispatch to a->be. Errors: 0 / -1 with err, as agent.h.
 */
#ifndef PLOW_AGENT_BACKEND_H
#define PLOW_AGENT_BACKEND_H

#include "agent.h"

typedef struct agent_backend {
    const char *name; /* "node", "evm" */
    int (*load_params)(agent *a, char err[PLOW_ERR_LEN]);
    int (*send_at)(agent *a, ledger_tx *tx, uint8_t hash[32], uint64_t *height, char err[PLOW_ERR_LEN]);
    /* A post in two halves, so that the requester records the task's id
     * before anyone can know it: prepare fills the transaction (sender,
     * fee, nonce or salt, signature) and gives the id; submit sends it
     * without waiting; status waits up to wait_s for its inclusion
     * (result LEDGER_TX_OK or a failure with msg; an id the chain never
     * received: -1 with an err containing "does not know"). */
    int (*post_prepare)(agent *a, ledger_tx *tx, uint8_t id[32], char err[PLOW_ERR_LEN]);
    int (*post_submit)(agent *a, const ledger_tx *tx, char err[PLOW_ERR_LEN]);
    int (*post_status)(agent *a, const uint8_t id[32], double wait_s, int *result, char msg[PLOW_ERR_LEN],
                       char err[PLOW_ERR_LEN]);
    int (*height)(agent *a, uint64_t *height, char err[PLOW_ERR_LEN]);
    int (*account)(agent *a, const uint8_t pk[32], ledger_account *out, char err[PLOW_ERR_LEN]);
    int (*list_tasks)(agent *a, const char *query, ledger_task **out, size_t *n, char err[PLOW_ERR_LEN]);
    int (*task)(agent *a, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch,
                char err[PLOW_ERR_LEN]);
    int (*challenge)(agent *a, const uint8_t id[32], ledger_challenge *out, char err[PLOW_ERR_LEN]);
    int (*reveal_of)(agent *a, const ledger_task *t, int slot, ledger_tx *out, char err[PLOW_ERR_LEN]);
    int (*block_hash)(agent *a, uint64_t height, uint8_t hash[32], uint64_t *time_ms, char err[PLOW_ERR_LEN]);
    void (*close)(agent *a); /* frees a->be_ctx (may be NULL) */
} agent_backend;

extern const agent_backend agent_backend_node;
extern const agent_backend agent_backend_evm;

#endif /* PLOW_AGENT_BACKEND_H */
