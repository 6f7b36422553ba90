/*
 * chain.h — plow's contracts on an EVM chain, from C: deploying them,
 * every call of the settlement contract (contracts/Plow.sol,
 * PlowDisputes.sol), the referee's signed verdicts (RefereeJudge.sol), the
 * Merkle check (MerkleCheck) and a local anvil to run them on.
 *
 * Every transaction is signed here by the actor's own key (eth_signer);
 * amounts are uint64 base units of the deployment's ERC-20, as on the
 * embedded ledger. The encodings (task id, commitment, seal, dispute) are
 * the contracts' own, computed locally and cross-checked against the
 * contracts' view functions in tests/test_evm.c.
 *
 * Errors: 0 / -1 with a message in err; a reverted call's message carries
 * the contract's reason ("execution reverted: claim: ...").
 */
#ifndef PLOW_EVM_CHAIN_H
#define PLOW_EVM_CHAIN_H

#include "../base/plow.h"
#include "../merkle/merkle.h"
#include "evm.h"

#include <sys/types.h>

/* ---- a local anvil ---- */
#define ETH_ANVIL_KEYS 10
typedef struct eth_anvil {
    pid_t pid;                         /* ours to stop */
    char url[80];                      /* http://127.0.0.1:PORT */
    uint8_t keys[ETH_ANVIL_KEYS][32];  /* the dev accounts' secrets (from --config-out) */
    int nkeys;
} eth_anvil;
/* The binary: $PLOW_ANVIL, else $PLOW_ROOT (or .)/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil. */
int eth_anvil_bin(char *out, size_t cap, char err[PLOW_ERR_LEN]);
/* Starts anvil on a port it picks, logging to dir/anvil.log; hardfork NULL: anvil's default. */
int eth_anvil_start(const char *dir, const char *hardfork, eth_anvil *a, char err[PLOW_ERR_LEN]);
/* The same with a block every block_ms milliseconds (0: a block per transaction), so deadlines pass. */
int eth_anvil_start_blocks(const char *dir, const char *hardfork, unsigned block_ms, eth_anvil *a,
                           char err[PLOW_ERR_LEN]);
void eth_anvil_stop(eth_anvil *a);
/* anvil_mine: n empty blocks. */
int eth_mine(eth_rpc *c, uint64_t blocks, char err[PLOW_ERR_LEN]);

/* ---- the contracts' values (contracts/PlowTypes.sol) ---- */
typedef struct evm_params {
    uint8_t requester[ETH_ADDR_LEN];
    uint8_t kind, mode, replicas;
    uint64_t reward, worker_stake, min_bond, steps;
    uint32_t claim_blocks, work_blocks, window_blocks;
    uint8_t spec[32], salt[32];
} evm_params;
#define EVM_PARAMS_WORDS 13

typedef struct evm_values {
    uint8_t trace_root[32], final_state[32], artifact[32], manifest[32];
    uint64_t n;
    uint32_t checkpoint_every;
} evm_values;
#define EVM_VALUES_WORDS 6

/* leaves: SHA-256 of the revealed leaf blob (evm_leaves_hash; zeros for inference). */
typedef struct evm_seal {
    uint8_t worker[ETH_ADDR_LEN];
    uint8_t commitment[32], final_state[32], artifact[32], leaves[32]; /* the last three zeros until revealed */
} evm_seal;
#define EVM_SEAL_WORDS 5

typedef struct evm_dispute {
    uint8_t task[32];
    uint64_t worker_stake;
    uint8_t kind, accused_slot, other_slot;
    bool has_other;
    uint8_t challenger[ETH_ADDR_LEN], accused[ETH_ADDR_LEN], other[ETH_ADDR_LEN];
    uint64_t step, bond;
    uint8_t state_blob[32], leaf_prev[32], accused_leaf[32], other_leaf[32];
} evm_dispute;
#define EVM_DISPUTE_WORDS 15

/* One side of a step challenge: the revealed opening and leaves j-1, j
 * with their proofs (NULL proofs: the artifact or inference step). */
typedef struct evm_side {
    uint8_t worker[ETH_ADDR_LEN];
    evm_values v;
    uint8_t salt[32];
    uint8_t leaves[32];                /* the seal's SHA-256 of the leaf blob */
    uint8_t leaf_prev[32], leaf[32];
    const merkle_proof *proof_prev, *proof;
} evm_side;

/* Task, slot and challenge status numbers (the contracts' constants). */
enum { EVM_T_OPEN = 1, EVM_T_CLAIMED, EVM_T_COMMITTED, EVM_T_CHALLENGED, EVM_T_RESOLVED, EVM_T_FINALIZED, EVM_T_EXPIRED };
enum { EVM_S_EMPTY = 0, EVM_S_CLAIMED, EVM_S_COMMITTED, EVM_S_REVEALED, EVM_S_PAID, EVM_S_UNPAID, EVM_S_SLASHED,
       EVM_S_FORFEITED, EVM_S_VOID };
enum { EVM_C_OPEN = 1, EVM_C_UPHELD, EVM_C_REJECTED, EVM_C_EXPIRED };

/* The task word (Plow.tasks(id)) unpacked. */
typedef struct evm_task_state {
    uint8_t status, open_challenges;
    bool unrunnable; /* the judge ruled it unrunnable (ruling 2): expire settles it at once */
    uint64_t posted_at, window_end;
    uint8_t slot[8];
} evm_task_state;

typedef struct evm_account {
    uint64_t balance, stake, locked, unbonding;
} evm_account;

/* ---- a deployment ---- */
typedef struct evm_deploy_params {
    uint64_t unbond_blocks, verdict_blocks, bond_floor;
    uint32_t slash_challenger_pct, bond_accused_pct;
    uint8_t referee[ETH_ADDR_LEN];
    bool has_token;                    /* false: deploy a TestToken */
    uint8_t token[ETH_ADDR_LEN];
} evm_deploy_params;

typedef struct evm_deployment {
    uint64_t chain_id, block;          /* the block Plow was created in */
    uint8_t token[ETH_ADDR_LEN], judge[ETH_ADDR_LEN], plow[ETH_ADDR_LEN], merkle[ETH_ADDR_LEN];
    evm_deploy_params params;
} evm_deployment;

/* Deploys (TestToken), RefereeJudge, Plow (which deploys PlowDisputes) and
 * MerkleCheck from dir/NAME.bin (build/contracts). gas[4] (may be NULL):
 * each creation's gasUsed, in that order. */
int evm_deploy(eth_signer *s, const char *dir, const evm_deploy_params *dp, evm_deployment *out, uint64_t gas[4],
               char err[PLOW_ERR_LEN]);
/* The deployment file: JSON naming the chain, the addresses and parameters. */
char *evm_deployment_json(const evm_deployment *d);
int evm_deployment_parse(const char *json, size_t len, evm_deployment *d, char err[PLOW_ERR_LEN]);

/* The ABI signatures of the contracts' tuples (event topics are keccak256
 * of "Name(types)"). */
#define EVM_PARAMS_SIG "(address,uint8,uint8,uint8,uint64,uint64,uint64,uint64,uint32,uint32,uint32,bytes32,bytes32)"
#define EVM_VALUES_SIG "(bytes32,bytes32,bytes32,bytes32,uint64,uint32)"

/* ---- encodings, computed locally ---- */
void evm_task_id(const evm_params *p, uint8_t id[32]);
void evm_commitment(const evm_deployment *d, const uint8_t task[32], uint8_t slot, const uint8_t worker[ETH_ADDR_LEN],
                    const evm_values *v, const uint8_t salt[32], uint8_t out[32]);
/* keccak256 of count leaves (32 bytes each): what a revealed seal keeps. */
void evm_leaves_hash(const uint8_t *leaves, size_t count, uint8_t out[32]);
/* The challenge id of d opened in block `block`. */
void evm_challenge_id(const evm_dispute *d, uint64_t block, uint8_t cid[32]);
/* The digest the referee signs for a verdict. */
void evm_verdict_digest(const evm_deployment *d, const uint8_t cid[32], uint8_t ruling, const uint8_t computed[32],
                        const uint8_t *evidence, size_t evidence_len, uint8_t out[32]);

/* ---- transactions (r may be NULL: the receipt, for gas) ---- */
int evm_token_mint(eth_signer *s, const evm_deployment *d, const uint8_t to[ETH_ADDR_LEN], uint64_t amount,
                   eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_token_approve(eth_signer *s, const evm_deployment *d, uint64_t amount, eth_receipt *r, char err[PLOW_ERR_LEN]);
/* Plow.deposit / withdraw / stake / unstake / release / transfer. */
int evm_account_op(eth_signer *s, const evm_deployment *d, const char *op, uint64_t amount, eth_receipt *r,
                   char err[PLOW_ERR_LEN]);
int evm_transfer(eth_signer *s, const evm_deployment *d, const uint8_t to[ETH_ADDR_LEN], uint64_t amount,
                 eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_register(eth_signer *s, const evm_deployment *d, uint8_t profile, const char *uri, eth_receipt *r,
                 char err[PLOW_ERR_LEN]);
int evm_post(eth_signer *s, const evm_deployment *d, const evm_params *p, eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_claim(eth_signer *s, const evm_deployment *d, const evm_params *p, eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_commit(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const uint8_t commitment[32],
               eth_receipt *r, char err[PLOW_ERR_LEN]);
/* leaves: count x 32 bytes (count 0 for inference): only their leaf blob's
 * SHA-256 (evm_leaves_hash) goes on chain; publishing the blob itself (the
 * node's blob store) is the caller's. */
int evm_reveal(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_values *v,
               const uint8_t salt[32], const uint8_t *leaves, size_t count, eth_receipt *r, char err[PLOW_ERR_LEN]);
/* A step challenge; the dispute it opened (for the verdict) and its id into
 * *out and cid. o NULL: no other worker. */
int evm_challenge(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t accused_slot,
                  const evm_side *a, const evm_side *o, uint8_t other_slot, uint64_t j, const uint8_t state_blob[32],
                  uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_da_challenge(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_side *a,
                     const uint8_t want[32], uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r,
                     char err[PLOW_ERR_LEN]);
/* D3, the unrunnable claim: s holds slot `slot` (seal: that slot's seal when
 * it is past CLAIMED, else NULL) and says the requester's task cannot be
 * run; a dispute of kind 2 against the requester, ruled by the judge. */
int evm_unrunnable_claim(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot,
                         const evm_seal *seal, uint64_t bond, evm_dispute *out, uint8_t cid[32], eth_receipt *r,
                         char err[PLOW_ERR_LEN]);
/* badReveal: slot's published leaf blob (n bytes, its SHA-256 the seal's) is
 * not its trace (not n+1 leaves, leaf n not the final state, or another
 * Merkle root); the contract checks and slashes at once. */
int evm_bad_reveal(eth_signer *s, const evm_deployment *d, const evm_params *p, uint8_t slot, const evm_side *a,
                   const uint8_t *blob, size_t n, eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_da_answer(eth_signer *s, const evm_deployment *d, const uint8_t cid[32], const evm_dispute *dis,
                  const uint8_t *blob, size_t n, eth_receipt *r, char err[PLOW_ERR_LEN]);
int evm_lapse(eth_signer *s, const evm_deployment *d, const uint8_t cid[32], const evm_dispute *dis, eth_receipt *r,
              char err[PLOW_ERR_LEN]);
/* The referee's verdict: signed with referee (its key), carried by s
 * (anyone's signer, the referee's own included). */
int evm_verdict(eth_signer *s, const evm_deployment *d, const eth_key *referee, const uint8_t cid[32],
                const evm_dispute *dis, uint8_t ruling, const uint8_t computed[32], const uint8_t *evidence,
                size_t evidence_len, eth_receipt *r, char err[PLOW_ERR_LEN]);
/* seals: one per slot (p->replicas). */
int evm_finalize(eth_signer *s, const evm_deployment *d, const evm_params *p, const evm_seal *seals, eth_receipt *r,
                 char err[PLOW_ERR_LEN]);
int evm_expire(eth_signer *s, const evm_deployment *d, const evm_params *p, const evm_seal *seals, eth_receipt *r,
               char err[PLOW_ERR_LEN]);

/* ---- reads (eth_call at the latest block) ---- */
int evm_get_account(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], evm_account *a,
                    char err[PLOW_ERR_LEN]);
int evm_get_task(eth_rpc *c, const evm_deployment *d, const uint8_t id[32], evm_task_state *t, char err[PLOW_ERR_LEN]);
/* The task word itself (zero: no such task), and its unpacking. */
int evm_get_task_word(eth_rpc *c, const evm_deployment *d, const uint8_t id[32], uint8_t w[32], char err[PLOW_ERR_LEN]);
void evm_task_word_decode(const uint8_t w[32], evm_task_state *t);
int evm_get_challenge_status(eth_rpc *c, const evm_deployment *d, const uint8_t cid[32], uint8_t *status,
                             char err[PLOW_ERR_LEN]);
/* Plow.profiles(who): 0 unregistered, 1 person, 2 agent; its ERC-8004-style agent id. */
int evm_get_profile(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], uint8_t *profile,
                    uint64_t *agent_id, char err[PLOW_ERR_LEN]);
int evm_get_burned(eth_rpc *c, const evm_deployment *d, uint64_t *burned, char err[PLOW_ERR_LEN]);
int evm_token_balance(eth_rpc *c, const evm_deployment *d, const uint8_t who[ETH_ADDR_LEN], uint64_t *v,
                      char err[PLOW_ERR_LEN]);
/* One 32-byte word returned by an eth_call of calldata on `to`. */
int evm_call_word(eth_rpc *c, const uint8_t to[ETH_ADDR_LEN], const plow_buf *calldata, uint8_t w[32],
                  char err[PLOW_ERR_LEN]);

/* MerkleCheck.root(leaves) and .verify(root, n, index, leaf, proof) by eth_call. */
int evm_merkle_root(eth_rpc *c, const evm_deployment *d, const uint8_t *leaves, size_t n, uint8_t root[32],
                    char err[PLOW_ERR_LEN]);
int evm_merkle_verify(eth_rpc *c, const evm_deployment *d, const uint8_t root[32], uint64_t n, uint64_t index,
                      const uint8_t leaf[32], const merkle_proof *p, bool *ok, char err[PLOW_ERR_LEN]);

#endif
