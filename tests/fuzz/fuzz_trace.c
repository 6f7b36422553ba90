/*
 * fuzz_trace.c — libFuzzer target for the proof layer's decoders: the trace
 * file, states.txt, the Merkle proof and the commitment record.
 *
 *   clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined \
 *       src/base/plow.c src/merkle/merkle.c src/proof/trace.c tests/fuzz/fuzz_trace.c \
 *       -o fuzz_trace -lcrypto && ./fuzz_trace -max_total_time=60 CORPUS_DIR
 *
 * The first byte picks the decoder, the rest is its input. Any input may be
 * rejected; none may crash. Every format is canonical, so an accepted input
 * must encode back to exactly its own bytes; an accepted trace must also
 * prove its leaves and locate a planted divergence.
 */
#include "../../src/base/plow.h"

#include "../../src/merkle/merkle.h"
#include "../../src/proof/trace.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_bytes(const plow_buf *b, const uint8_t *data, size_t size) {
    FUZZ_CHECK(b->len == size && memcmp(b->data, data, size) == 0);
}

/* Checks an accepted trace: round trip, proofs of the ends, and a bisection
 * against a copy whose last leaf differs. */
static void check_trace(const trace *t) {
    char err[PLOW_ERR_LEN];
    uint64_t n = trace_steps(t);
    uint8_t root[32];
    trace_root(t, root);
    merkle_proof p;
    FUZZ_CHECK(trace_prove(t, 0, &p, err) == 0 && merkle_verify(root, n + 1, 0, trace_leaf(t, 0), &p));
    FUZZ_CHECK(trace_prove(t, n, &p, err) == 0 && merkle_verify(root, n + 1, n, trace_leaf(t, n), &p));
    FUZZ_CHECK(trace_prove(t, n + 1, &p, err) == -1);
    bool div;
    uint64_t j;
    FUZZ_CHECK(trace_first_divergence(t, t, &div, &j, err) == 0 && !div);
    if (n > 4096) return;
    uint8_t *leaves = plow_alloc((size_t)(n + 1) * 32);
    for (uint64_t i = 0; i <= n; i++) memcpy(leaves + 32 * i, trace_leaf(t, i), 32);
    leaves[32 * n] ^= 1;
    trace *u = NULL;
    FUZZ_CHECK(trace_new(trace_task(t), leaves, n, &u, err) == 0);
    trace_party a, b;
    trace_party_local(t, &a);
    trace_party_local(u, &b);
    trace_bisection r;
    FUZZ_CHECK(trace_bisect(n, &a, &b, &r, err) == 0 && r.verdict == TRACE_DIVERGES && r.step == n);
    trace_free(u);
    free(leaves);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char err[PLOW_ERR_LEN];
    uint8_t which = data[0] % 4;
    data++, size--;
    plow_buf b = {0};
    if (which == 0) {
        trace *t = NULL;
        if (trace_parse(data, size, &t, err) != 0) {
            FUZZ_CHECK(t == NULL && err[0]);
            return 0;
        }
        trace_serialize(t, &b);
        same_bytes(&b, data, size);
        check_trace(t);
        trace_free(t);
    } else if (which == 1) {
        merkle_proof p;
        if (merkle_proof_decode(&p, data, size, err) != 0) {
            FUZZ_CHECK(err[0]);
            return 0;
        }
        merkle_proof_encode(&p, &b);
        same_bytes(&b, data, size);
        uint8_t zero[32] = {0};
        (void)merkle_verify(zero, p.n, p.index, zero, &p);
    } else if (which == 2) {
        trace_commitment c;
        if (trace_commitment_decode(&c, data, size, err) != 0) {
            FUZZ_CHECK(err[0]);
            return 0;
        }
        uint8_t out[TRACE_COMMITMENT_LEN];
        FUZZ_CHECK(trace_commitment_encode(&c, out, err) == 0);
        FUZZ_CHECK(size == TRACE_COMMITMENT_LEN && memcmp(out, data, size) == 0);
    } else {
        uint8_t task[32] = {0};
        trace *t = NULL;
        if (trace_from_states(task, (const char *)data, size, &t, err) != 0) {
            FUZZ_CHECK(t == NULL && err[0]);
            return 0;
        }
        /* Accepted text is exactly what `plow train` would write. */
        char hex[65];
        for (uint64_t i = 0; i <= trace_steps(t); i++) {
            plow_hex(trace_leaf(t, i), 32, hex);
            plow_buf_printf(&b, "%llu %s\n", (unsigned long long)i, hex);
        }
        same_bytes(&b, data, size);
        check_trace(t);
        trace_free(t);
    }
    plow_buf_release(&b);
    return 0;
}
