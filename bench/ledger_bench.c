/*
 * ledger_bench.c — plow_ledger_bench: signed transfers through the state
 * machine and the SQLite store, without HTTP: what one sequencer can settle.
 *
 *   plow_ledger_bench [--senders N] [--txs M] [--block B] [--batch G]
 *
 * M transfers from N senders (pre-signed; sender i pays sender i+1) go
 * through the node's path in blocks of B:
 *   mempool   store_mempool_add in group-commit batches of G (one fsync each)
 *   verify    ledger_tx_verify on two threads (what admission does on every core)
 *   apply     decode + ledger_apply_tx(sig_checked) + tx root + results hash
 *   root      ledger_end_block (the state root)
 *   commit    store_commit_block: header, txs, dirty records, mempool removal, one fsync
 * and prints one table row per stage plus the totals: state+storage tx/s
 * (apply + root + commit), and with signatures and the mempool as well.
 */
#include "../src/base/plow.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/ledger/ledger.h"
#include "../src/node/node.h"

static void derive_key(uint32_t i, ledger_key *k) {
    uint8_t pre[20] = "plow-bench/v1";
    plow_put_u32(pre + 16, i);
    uint8_t seed[32];
    plow_sha256_once(pre, sizeof pre, seed);
    ledger_key_from_seed(k, seed);
}

typedef struct vjob {
    const plow_buf *txs;
    const uint8_t *chain_id;
    size_t from, to, bad;
} vjob;

static void *verify_main(void *arg) {
    vjob *j = arg;
    ledger_tx *tx = plow_alloc(sizeof *tx);
    char err[PLOW_ERR_LEN];
    for (size_t i = j->from; i < j->to; i++)
        if (ledger_tx_decode(tx, j->txs[i].data, j->txs[i].len, err) != 0 || !ledger_tx_verify(tx, j->chain_id))
            j->bad++;
    free(tx);
    return NULL;
}

static bool count_cb(uint64_t seq, const uint8_t *tx, size_t len, void *arg) {
    (void)tx;
    (void)len;
    *(uint64_t *)arg = seq;
    return true;
}

static void row(const char *what, double n, double s, const char *unit) {
    printf("| ledger | %-34s | %9.0f | %8.3f s | %10.0f %s |\n", what, n, s, n / s, unit);
}

static int fail(const char *msg) {
    fprintf(stderr, "plow_ledger_bench: %s\n", msg);
    return 1;
}

int main(int argc, char **argv) {
    uint64_t senders = 1000, m = 60000, block = 5000, batch = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t v = strtoull(argv[i + 1], NULL, 10);
        if (!v) return fail("values must be whole numbers > 0");
        if (strcmp(argv[i], "--senders") == 0) senders = v;
        else if (strcmp(argv[i], "--txs") == 0) m = v;
        else if (strcmp(argv[i], "--block") == 0) block = v;
        else if (strcmp(argv[i], "--batch") == 0) batch = v;
        else return fail("options: --senders N --txs M --block B --batch G");
    }
    char err[PLOW_ERR_LEN];
    if (ledger_crypto_init(err) != 0) return fail(err);

    /* a genesis funding every sender */
    ledger_key *keys = plow_alloc(senders * sizeof *keys);
    ledger_key op;
    derive_key(UINT32_MAX, &op);
    plow_buf g = {0};
    char a[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(op.pk, a);
    plow_buf_printf(&g,
                    "{\"chain\":\"bench\",\"time_ms\":\"1\",\"operator\":\"%s\",\"params\":{\"unbond_blocks\":\"20\","
                    "\"verdict_blocks\":\"50\",\"min_fee\":\"1\",\"slash_challenger_pct\":50,\"bond_accused_pct\":50},"
                    "\"accounts\":[",
                    a);
    for (uint32_t i = 0; i < senders; i++) {
        derive_key(i, &keys[i]);
        ledger_addr_format(keys[i].pk, a);
        plow_buf_printf(&g, "%s{\"address\":\"%s\",\"balance\":\"1000000000000\"}", i ? "," : "", a);
    }
    plow_buf_printf(&g, "]}");
    ledger_genesis gen;
    if (ledger_genesis_parse(&gen, g.data, g.len, err) != 0) return fail(err);

    /* pre-signed transfers, round-robin over senders so nonces stay in order */
    plow_buf *txs = plow_calloc(m, sizeof *txs);
    uint8_t *hashes = plow_alloc(m * 32);
    ledger_tx tx;
    for (uint64_t i = 0; i < m; i++) {
        uint64_t s = i % senders;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_TRANSFER;
        memcpy(tx.sender, keys[s].pk, 32);
        tx.nonce = i / senders;
        tx.fee = 1;
        memcpy(tx.u.transfer.to, keys[(s + 1) % senders].pk, 32);
        tx.u.transfer.amount = 1 + i % 7;
        ledger_tx_sign(&tx, &keys[s], gen.chain_id);
        ledger_tx_encode(&tx, &txs[i]);
        ledger_tx_hash(&tx, hashes + 32 * i);
    }

    char dir[] = "/tmp/plow_ledger_bench.XXXXXX";
    if (!mkdtemp(dir)) return fail("mkdtemp");
    char db[256];
    snprintf(db, sizeof db, "%s/ledger.db", dir);
    store *st;
    if (store_open(&st, db, gen.chain_id, err) != 0) return fail(err);
    ledger_state *s = ledger_state_new(&gen);
    ledger_clear_dirty(s);

    double t_mem = 0, t_ver = 0, t_apply = 0, t_root = 0, t_commit = 0, worst_commit = 0;
    uint64_t n_blocks = 0, failed = 0;
    uint8_t prev[32];
    memcpy(prev, gen.chain_id, 32);
    ledger_tx *dtx = plow_alloc(sizeof *dtx);
    for (uint64_t first = 0; first < m; first += block) {
        uint64_t nb = m - first < block ? m - first : block;
        /* admission: verify on two threads, then the group commit */
        double t = plow_now();
        vjob vj[2] = {{txs, gen.chain_id, first, first + nb / 2, 0}, {txs, gen.chain_id, first + nb / 2, first + nb, 0}};
        pthread_t th;
        pthread_create(&th, NULL, verify_main, &vj[0]);
        verify_main(&vj[1]);
        pthread_join(th, NULL);
        t_ver += plow_now() - t;
        if (vj[0].bad + vj[1].bad) return fail("a signature did not verify");
        t = plow_now();
        for (uint64_t i = 0; i < nb; i += batch)
            if (store_mempool_add(st, txs + first + i, nb - i < batch ? nb - i : batch, err) != 0) return fail(err);
        t_mem += plow_now() - t;
        uint64_t last_seq = 0;
        if (store_mempool_each(st, count_cb, &last_seq, err) != 0) return fail(err);

        /* the block */
        t = plow_now();
        ledger_block b = {0};
        b.h.version = 1;
        b.h.height = n_blocks + 1;
        b.h.time_ms = 1000 + n_blocks;
        memcpy(b.h.prev, prev, 32);
        if (ledger_begin_block(s, b.h.height, b.h.time_ms, err) != 0) return fail(err);
        b.txs = plow_alloc(nb * sizeof *b.txs);
        b.results = plow_alloc(nb);
        b.errors = plow_calloc(nb, sizeof *b.errors);
        for (uint64_t i = 0; i < nb; i++) {
            if (ledger_tx_decode(dtx, txs[first + i].data, txs[first + i].len, err) != 0) return fail(err);
            ledger_tx_result r = ledger_apply_tx(s, dtx, true, err);
            if (r == LEDGER_TX_INVALID) return fail(err);
            failed += r == LEDGER_TX_FAILED;
            b.txs[i] = txs[first + i];
            b.results[i] = (int8_t)r;
        }
        b.n_txs = b.h.n_txs = (uint32_t)nb;
        merkle_root(hashes + 32 * first, nb, b.h.tx_root);
        plow_sha256_once(b.results, nb, b.h.results);
        t_apply += plow_now() - t;
        t = plow_now();
        ledger_end_block(s, b.h.state_root);
        t_root += plow_now() - t;
        ledger_block_hash(&b.h, b.hash);
        ledger_sign(&op, b.hash, 32, b.sig);
        t = plow_now();
        if (store_commit_block(st, &b, s, NULL, 0, last_seq, err) != 0) return fail(err);
        double c = plow_now() - t;
        t_commit += c;
        if (c > worst_commit) worst_commit = c;
        ledger_clear_dirty(s);
        memcpy(prev, b.hash, 32);
        free(b.txs); /* the buffers belong to txs[] */
        free(b.results);
        free(b.errors);
        n_blocks++;
    }
    if (failed) return fail("transfers failed: the bench's balances are wrong");
    char b1[64];
    snprintf(b1, sizeof b1, "%llu senders, blocks of %llu", (unsigned long long)senders, (unsigned long long)block);
    printf("| ledger | %-34s | %9s | %10s | %15s |\n", b1, "txs", "time", "rate");
    row("verify signatures (2 threads)", (double)m, t_ver, "tx/s");
    row("mempool add (group commit)", (double)m, t_mem, "tx/s");
    row("apply + tx root", (double)m, t_apply, "tx/s");
    row("state root (end block)", (double)m, t_root, "tx/s");
    row("block commit (SQLite, fsync)", (double)m, t_commit, "tx/s");
    row("state+storage (apply, root, commit)", (double)m, t_apply + t_root + t_commit, "tx/s");
    row("all of it (+ verify, mempool)", (double)m, t_ver + t_mem + t_apply + t_root + t_commit, "tx/s");
    printf("| ledger | block commit: mean %.1f ms, worst %.1f ms over %llu blocks of %llu txs |\n",
           t_commit / (double)n_blocks * 1e3, worst_commit * 1e3, (unsigned long long)n_blocks,
           (unsigned long long)block);

    free(dtx);
    ledger_state_free(s);
    store_close(st);
    for (uint64_t i = 0; i < m; i++) plow_buf_release(&txs[i]);
    free(txs);
    free(hashes);
    free(keys);
    ledger_genesis_release(&gen);
    plow_buf_release(&g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "plow_ledger_bench: could not remove %s\n", dir);
    return 0;
}
