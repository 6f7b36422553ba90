/*
 * evm_bench.c — the gas of plow's contracts on a local anvil (gasUsed from
 * the receipts), as a markdown table (docs/BENCHMARKS.md, docs/evm.md):
 * each operation of an optimistic 200-step task's happy path and their sum
 * (issue 11's target: at most 400,000), a step challenge with its Merkle
 * proofs (target: at most 300,000), a verdict, a data challenge, a
 * badReveal (the deferred Merkle root check of a reveal), the
 * deployment; once per hardfork (cancun: calldata 16 gas a byte; anvil's
 * default, prague or later: EIP-7623's calldata floor), and the time from a
 * commit to its event seen by eth_getLogs.
 *
 * Usage: plow_evm_bench [--steps N]   (PLOW_ROOT: the repository, for
 * node_modules/ and build/contracts/)
 */
#include "../src/base/plow.h"

#include <sodium.h>
#include <unistd.h>

#include "../src/evm/chain.h"
#include "../src/merkle/merkle.h"

static uint64_t steps = 200;

typedef struct row {
    const char *what;
    uint64_t gas;
} row;

static char lab_root[120], lab_reveal[80], lab_happy[80], lab_bad[100], lab_answer[100];

static int die(const char *what, const char *err) {
    fprintf(stderr, "evm_bench: %s: %s\n", what, err);
    return -1;
}

/* One chain, one happy path and one dispute; rows filled in order. */
static int run(const char *hardfork, row *rows, int *nrows, double *event_ms, char err[PLOW_ERR_LEN]) {
    char dir[256], cdir[4096];
    snprintf(dir, sizeof dir, "/tmp/plow_evm_bench.%d", (int)getpid());
    const char *root = getenv("PLOW_ROOT");
    snprintf(cdir, sizeof cdir, "%s/build/contracts", root ? root : ".");
    eth_anvil a;
    if (eth_anvil_start(dir, hardfork, &a, err)) return -1;
    int rc = -1;
    eth_rpc *rpc = eth_rpc_new(a.url);
    eth_signer dep, req, wk, ch;
    eth_key k[4], referee;
    uint8_t *leaves = NULL;
    for (int i = 0; i < 4; i++)
        if (eth_key_from_secret(&k[i], a.keys[i], err)) goto out;
    if (eth_key_from_secret(&referee, a.keys[5], err) || eth_signer_init(&dep, rpc, &k[0], err) ||
        eth_signer_init(&req, rpc, &k[1], err) || eth_signer_init(&wk, rpc, &k[2], err) ||
        eth_signer_init(&ch, rpc, &k[3], err))
        goto out;
    evm_deploy_params dp = {.unbond_blocks = 5, .verdict_blocks = 5, .bond_floor = 10, .slash_challenger_pct = 50,
                            .bond_accused_pct = 50};
    memcpy(dp.referee, referee.addr, 20);
    evm_deployment d;
    uint64_t dg[4];
    if (evm_deploy(&dep, cdir, &dp, &d, dg, err)) goto out;
    rows[(*nrows)++] = (row){"deploy: Plow (with PlowDisputes)", dg[2]};
    rows[(*nrows)++] = (row){"deploy: RefereeJudge", dg[1]};
    eth_signer *all[3] = {&req, &wk, &ch};
    for (int i = 0; i < 3; i++)
        if (evm_token_mint(&dep, &d, all[i]->key.addr, 1000000, NULL, err) ||
            evm_token_approve(all[i], &d, 1000000, NULL, err) ||
            evm_account_op(all[i], &d, "deposit", 100000, NULL, err))
            goto out;
    if (evm_account_op(&wk, &d, "stake", 10000, NULL, err) ||
        evm_register(&wk, &d, 2, "https://agents.example/plow/worker.json", NULL, err))
        goto out;

    /* three tasks: the happy path, one to dispute, one whose revealed
     * leaves are not its trace root (badReveal) */
    for (int t = 0; t < 3; t++) {
        evm_params p = {.kind = 2, .mode = 2, .replicas = 1, .reward = 300, .worker_stake = 1000, .min_bond = 50,
                        .steps = steps, .claim_blocks = 20, .work_blocks = 20, .window_blocks = 10};
        memcpy(p.requester, req.key.addr, 20);
        randombytes_buf(p.spec, 32);
        randombytes_buf(p.salt, 32);
        size_t count = steps + 1;
        free(leaves);
        leaves = plow_alloc(count * 32);
        randombytes_buf(leaves, count * 32);
        evm_values v = {.n = steps, .checkpoint_every = 10};
        merkle_root(leaves, count, v.trace_root);
        memcpy(v.final_state, leaves + steps * 32, 32);
        randombytes_buf(v.artifact, 32);
        randombytes_buf(v.manifest, 32);
        uint8_t salt[32], id[32], c[32];
        randombytes_buf(salt, 32);
        evm_task_id(&p, id);
        evm_commitment(&d, id, 0, wk.key.addr, &v, salt, c);
        eth_receipt r[5];
        if (evm_post(&req, &d, &p, &r[0], err) || evm_claim(&wk, &d, &p, &r[1], err)) goto out;
        uint64_t from;
        if (eth_block_number(rpc, &from, err)) goto out;
        double t0 = plow_now();
        if (evm_commit(&wk, &d, &p, 0, c, &r[2], err)) goto out;
        if (t == 0) {
            /* commit -> its event, as an indexer sees it (eth_getLogs) */
            for (;;) {
                eth_log *logs;
                size_t nl;
                if (eth_get_logs(rpc, d.plow, from + 1, r[2].block, &logs, &nl, err)) goto out;
                bool seen = false;
                for (size_t i = 0; i < nl; i++) seen |= logs[i].ntopics > 1 && memcmp(logs[i].topics[1], id, 32) == 0;
                eth_logs_free(logs, nl);
                if (seen) break;
            }
            *event_ms = (plow_now() - t0) * 1000;
        }
        if (t == 2) leaves[32] ^= 1; /* leaf 1: the root no longer covers it */
        if (evm_reveal(&wk, &d, &p, 0, &v, salt, leaves, count, &r[3], err)) goto out;
        if (t == 0) {
            if (eth_mine(rpc, 2 * p.window_blocks, err)) goto out;
            evm_seal s = {{0}, {0}, {0}, {0}, {0}};
            memcpy(s.worker, wk.key.addr, 20);
            memcpy(s.commitment, c, 32);
            memcpy(s.final_state, v.final_state, 32);
            memcpy(s.artifact, v.artifact, 32);
            evm_leaves_hash(leaves, count, s.leaves);
            if (evm_finalize(&ch, &d, &p, &s, &r[4], err)) goto out;
            {
                /* MerkleCheck.root of the same leaves, estimated alone */
                abi_enc e;
                plow_buf b;
                abi_begin(&e, "root(bytes32[])", 1);
                abi_words(&e, leaves, count);
                abi_end(&e, &b);
                char *hx = eth_hex_new(b.data, b.len), ad[43];
                eth_addr_checksum(d.merkle, ad);
                plow_buf q = {0};
                plow_buf_printf(&q, "[{\"to\":\"%s\",\"data\":\"%s\"}]", ad, hx);
                plow_buf_append(&q, "", 1);
                uint64_t est = 0;
                if (eth_rpc_u64(rpc, "eth_estimateGas", (const char *)q.data, &est, err)) goto out;
                rows[(*nrows)++] = (row){lab_root, est};
                free(hx);
                plow_buf_release(&b);
                plow_buf_release(&q);
            }
            const char *const names[5] = {"post", "claim", "commit", lab_reveal, "finalize"};
            uint64_t sum = 0;
            for (int i = 0; i < 5; i++) {
                rows[(*nrows)++] = (row){names[i], r[i].gas_used};
                sum += r[i].gas_used;
            }
            rows[(*nrows)++] = (row){lab_happy, sum};
            continue;
        }
        evm_side sd = {.v = v};
        memcpy(sd.worker, wk.key.addr, 20);
        memcpy(sd.salt, salt, 32);
        evm_leaves_hash(leaves, count, sd.leaves);
        if (t == 2) {
            eth_receipt rb;
            if (evm_bad_reveal(&ch, &d, &p, 0, &sd, leaves, count * 32, &rb, err)) goto out;
            rows[(*nrows)++] = (row){lab_bad, rb.gas_used};
            continue;
        }
        {
            /* D3: the worker's unrunnable claim (its revealed slot's seal proves it holds it) */
            evm_seal us = {{0}, {0}, {0}, {0}, {0}};
            memcpy(us.worker, wk.key.addr, 20);
            memcpy(us.commitment, c, 32);
            memcpy(us.final_state, v.final_state, 32);
            memcpy(us.artifact, v.artifact, 32);
            memcpy(us.leaves, sd.leaves, 32);
            evm_dispute du;
            uint8_t cu[32];
            eth_receipt ru;
            if (evm_unrunnable_claim(&wk, &d, &p, 0, &us, 60, &du, cu, &ru, err)) goto out;
            rows[(*nrows)++] = (row){"unrunnable claim (D3, a revealed slot's seal)", ru.gas_used};
        }
        merkle_proof pp, pj;
        uint64_t j = steps / 2;
        if (merkle_prove(leaves, count, j - 1, &pp, err) || merkle_prove(leaves, count, j, &pj, err)) goto out;
        sd.proof_prev = &pp;
        sd.proof = &pj;
        memcpy(sd.leaf_prev, leaves + (j - 1) * 32, 32);
        memcpy(sd.leaf, leaves + j * 32, 32);
        evm_dispute dis, dda;
        uint8_t cid[32], cda[32], blob[32];
        eth_receipt rc1, rc2, rc3;
        randombytes_buf(blob, 32);
        if (evm_challenge(&ch, &d, &p, 0, &sd, NULL, 0, j, blob, 60, &dis, cid, &rc1, err)) goto out;
        rows[(*nrows)++] = (row){"**step challenge, 2 Merkle proofs of 8 (target ≤ 300,000)**", rc1.gas_used};
        if (evm_da_challenge(&req, &d, &p, 0, &sd, sd.leaves, 60, &dda, cda, &rc3, err)) goto out;
        rows[(*nrows)++] = (row){"data-availability challenge (of the leaf blob)", rc3.gas_used};
        uint8_t wrong[32];
        randombytes_buf(wrong, 32);
        if (evm_verdict(&ch, &d, &referee, cid, &dis, 1, wrong, blob, 32, &rc2, err)) goto out;
        rows[(*nrows)++] = (row){"verdict (referee-signed, slashes)", rc2.gas_used};
        eth_receipt rc4;
        if (evm_da_answer(&wk, &d, cda, &dda, leaves, count * 32, &rc4, err)) goto out;
        rows[(*nrows)++] = (row){lab_answer, rc4.gas_used};
    }
    rc = 0;
out:
    free(leaves);
    eth_rpc_free(rpc);
    eth_anvil_stop(&a);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "evm_bench: could not remove %s\n", dir);
    return rc;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = strtoull(argv[++i], NULL, 10);
            if (steps < 2 || steps > 1024) return die("--steps", "must be in 2..1024"), 2;
        } else {
            fprintf(stderr, "usage: plow_evm_bench [--steps N]\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    PLOW_ASSERT(sodium_init() >= 0);
    unsigned long long nl = (unsigned long long)steps + 1;
    snprintf(lab_root, sizeof lab_root, "MerkleCheck.root(%llu leaves) alone, a whole transaction (eth_estimateGas)", nl);
    snprintf(lab_reveal, sizeof lab_reveal, "reveal (names the leaf blob of %llu leaves)", nl);
    snprintf(lab_answer, sizeof lab_answer, "daAnswer (the leaf blob itself, %llu leaves in calldata)", nl);
    snprintf(lab_happy, sizeof lab_happy, "**happy path, %llu steps (target ≤ 400,000)**", nl - 1);
    snprintf(lab_bad, sizeof lab_bad, "badReveal (the leaf blob, %llu leaves, the root computed, slashes)", nl);
    static const char *const forks[2] = {"cancun", NULL};
    row rows[2][20];
    int n[2] = {0, 0};
    double ev[2] = {0, 0};
    char err[PLOW_ERR_LEN];
    for (int f = 0; f < 2; f++)
        if (run(forks[f], rows[f], &n[f], &ev[f], err)) return die(forks[f] ? forks[f] : "default hardfork", err), 1;
    printf("\n## EVM gas (anvil, gasUsed of each receipt; %llu-step optimistic task)\n\n",
           (unsigned long long)steps);
    printf("| operation | gas, cancun (calldata 16/byte) | gas, anvil default (EIP-7623 floor) |\n|---|---:|---:|\n");
    for (int i = 0; i < n[0]; i++)
        printf("| %s | %llu | %llu |\n", rows[0][i].what, (unsigned long long)rows[0][i].gas,
               (unsigned long long)rows[1][i].gas);
    printf("| commit → event seen by eth_getLogs | %.1f ms | %.1f ms |\n", ev[0], ev[1]);
    return 0;
}
