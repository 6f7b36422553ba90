/*
 * explorer_fill.c — plow_explorer_fill: the signed transactions that give a
 * benchmark node its tasks (bench/explorer_bench.sh): K POST_TASK
 * transactions from the first N senders of plow_loadgen's derived keys
 * (fund them with `plow_loadgen addrs`), written as POST /v1/txs bodies of at
 * most 1,000 each, one a line.
 *
 *   plow_explorer_fill --chain-id HEX --senders N --tasks K
 */
#include "../src/base/plow.h"

#include "../src/ledger/ledger.h"

static void derive_key(uint32_t i, ledger_key *k) { /* as plow_loadgen does */
    uint8_t pre[20] = "plow-loadgen/v1";
    plow_put_u32(pre + 16, i);
    uint8_t seed[32];
    plow_sha256_once(pre, sizeof pre, seed);
    ledger_key_from_seed(k, seed);
}

int main(int argc, char **argv) {
    const char *cid_hex = NULL;
    uint64_t senders = 0, tasks = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--chain-id") == 0) cid_hex = argv[i + 1];
        else if (strcmp(argv[i], "--senders") == 0) plow_parse_u64(argv[i + 1], &senders);
        else if (strcmp(argv[i], "--tasks") == 0) plow_parse_u64(argv[i + 1], &tasks);
    }
    uint8_t cid[32];
    if (!cid_hex || strlen(cid_hex) != 64 || plow_unhex(cid_hex, cid, 32) != 0 || senders == 0 || tasks == 0) {
        fprintf(stderr, "usage: plow_explorer_fill --chain-id HEX --senders N --tasks K\n");
        return 2;
    }
    ledger_key *keys = plow_calloc(senders, sizeof *keys);
    for (uint64_t s = 0; s < senders; s++) derive_key((uint32_t)s, &keys[s]);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    plow_buf b = {0};
    char *hex = plow_alloc(2 * LEDGER_TX_MAX + 1);
    for (uint64_t k = 0; k < tasks; k++) {
        uint64_t s = k % senders;
        memset(tx, 0, sizeof *tx);
        tx->type = LEDGER_TX_POST_TASK;
        memcpy(tx->sender, keys[s].pk, 32);
        tx->nonce = k / senders;
        tx->fee = 1;
        char name[48];
        int nl = snprintf(name, sizeof name, "explorer bench spec %llu", (unsigned long long)k);
        plow_sha256_once(name, (size_t)nl, tx->u.post.spec); /* never uploaded: nobody works on these */
        tx->u.post.kind = (uint8_t)(k % 3 == 0 ? LEDGER_KIND_LORA : LEDGER_KIND_TRAIN);
        tx->u.post.mode = LEDGER_MODE_OPTIMISTIC;
        tx->u.post.replicas = 1;
        tx->u.post.reward = 100 + k % 7;
        tx->u.post.worker_stake = 10;
        tx->u.post.min_bond = 5;
        tx->u.post.steps = 2;
        tx->u.post.claim_blocks = 20000;
        tx->u.post.work_blocks = tx->u.post.window_blocks = 1000;
        ledger_tx_sign(tx, &keys[s], cid);
        b.len = 0;
        ledger_tx_encode(tx, &b);
        plow_hex(b.data, b.len, hex);
        printf("%s\"%s\"%s", k % 1000 == 0 ? "{\"txs\":[" : ",", hex, k % 1000 == 999 || k + 1 == tasks ? "]}\n" : "");
    }
    plow_buf_release(&b);
    free(hex);
    free(tx);
    free(keys);
    return 0;
}
