/*
 * trace.c — trace files, states.txt, divergence search and commitments.
 *
 * Everything read here comes from a peer or a user: every length is checked
 * against the bytes actually present before anything is allocated, and no
 * input can reach an assertion.
 *
 * Non-goals: streaming traces larger than memory (a 2^30-step trace is
 * 32 GiB of leaves; runs that long would commit per segment), and the
 * network side of bisection (the callbacks hide it).
 */
#include "../base/plow.h"

#include "trace.h"

#include <assert.h>
#include <inttypes.h>

struct trace {
    uint8_t task[32];
    uint64_t n;        /* steps; n+1 leaves */
    uint8_t *leaves;   /* (n+1, 32) */
    merkle_tree *tree; /* over leaves */
};

static int check_steps(uint64_t n, char err[PLOW_ERR_LEN]) {
    if (n == 0) return plow_error(err, "trace: no steps (a trace needs states 0 and 1 at least)");
    if (n > TRACE_MAX_STEPS)
        return plow_error(err, "trace: %" PRIu64 " steps, more than the limit of %" PRIu64, n,
                          (uint64_t)TRACE_MAX_STEPS);
    return 0;
}

/* Takes ownership of leaves ((n+1)*32 bytes, n already checked). */
static trace *trace_adopt(const uint8_t task[32], uint8_t *leaves, uint64_t n) {
    trace *t = plow_calloc(1, sizeof *t);
    memcpy(t->task, task, 32);
    t->n = n;
    t->leaves = leaves;
    t->tree = merkle_tree_new(leaves, (size_t)n + 1);
    return t;
}

int trace_new(const uint8_t task[32], const uint8_t *leaves, uint64_t n, trace **out,
              char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (check_steps(n, err)) return -1;
    size_t bytes = ((size_t)n + 1) * 32; /* n <= 2^30: no overflow */
    uint8_t *copy = plow_alloc(bytes);
    memcpy(copy, leaves, bytes);
    *out = trace_adopt(task, copy, n);
    return 0;
}

void trace_free(trace *t) {
    if (!t) return;
    merkle_tree_free(t->tree);
    free(t->leaves);
    free(t);
}

const uint8_t *trace_task(const trace *t) { return t->task; }
uint64_t trace_steps(const trace *t) { return t->n; }

const uint8_t *trace_leaf(const trace *t, uint64_t step) {
    PLOW_ASSERT(step <= t->n);
    return t->leaves + step * 32;
}

void trace_root(const trace *t, uint8_t root[MERKLE_HASH_LEN]) { merkle_tree_root(t->tree, root); }

int trace_prove(const trace *t, uint64_t step, merkle_proof *out, char err[PLOW_ERR_LEN]) {
    if (step > t->n)
        return plow_error(err, "trace: step %" PRIu64 " is past the last step %" PRIu64, step, t->n);
    return merkle_tree_prove(t->tree, step, out, err);
}

/* ---- states.txt --------------------------------------------------------- */

/* Parses one line "i <64 hex>" (without its "\n") for the expected step. */
static int states_line(const char *s, size_t len, uint64_t line, uint8_t leaf[32], char err[PLOW_ERR_LEN]) {
    size_t sp = 0;
    while (sp < len && s[sp] >= '0' && s[sp] <= '9') sp++;
    if (sp == 0 || sp >= len || s[sp] != ' ')
        return plow_error(err, "states.txt line %" PRIu64 ": expected \"STEP HASH\"", line + 1);
    if (sp > 1 && s[0] == '0')
        return plow_error(err, "states.txt line %" PRIu64 ": step number with a leading zero", line + 1);
    uint64_t step = 0;
    for (size_t i = 0; i < sp; i++)
        if (!plow_mul_u64(step, 10, &step) || !plow_add_u64(step, (uint64_t)(s[i] - '0'), &step))
            return plow_error(err, "states.txt line %" PRIu64 ": step number too large", line + 1);
    if (step != line)
        return plow_error(err, "states.txt line %" PRIu64 ": step %" PRIu64 ", expected %" PRIu64
                               " (steps must run 0, 1, 2, ... with none missing)",
                          line + 1, step, line);
    const char *hex = s + sp + 1;
    size_t hlen = len - sp - 1;
    if (hlen != 64)
        return plow_error(err, "states.txt line %" PRIu64 ": hash of %zu characters, expected 64 hex digits%s",
                          line + 1, hlen, memchr(hex, ' ', hlen) ? " (extra field?)" : "");
    for (size_t i = 0; i < 64; i++) {
        char c = hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return plow_error(err, "states.txt line %" PRIu64 ": '%c' in the hash is not a lowercase hex digit",
                              line + 1, c >= 0x20 && c < 0x7f ? c : '?');
        leaf[i / 2] = (uint8_t)(leaf[i / 2] << 4 | (c <= '9' ? c - '0' : c - 'a' + 10));
    }
    return 0;
}

int trace_from_states(const uint8_t task[32], const char *text, size_t len, trace **out,
                      char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint64_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len > 0 && text[len - 1] != '\n')
        return plow_error(err, "states.txt line %" PRIu64 ": no newline at the end (truncated?)", lines + 1);
    if (lines < 2)
        return plow_error(err, "states.txt: %" PRIu64 " line%s, need the states of steps 0 and 1 at least",
                          lines, lines == 1 ? "" : "s");
    if (check_steps(lines - 1, err)) return -1;
    uint8_t *leaves = plow_calloc((size_t)lines, 32);
    const char *p = text;
    for (uint64_t i = 0; i < lines; i++) {
        const char *nl = memchr(p, '\n', len - (size_t)(p - text));
        if (states_line(p, (size_t)(nl - p), i, leaves + i * 32, err)) {
            free(leaves);
            return -1;
        }
        p = nl + 1;
    }
    *out = trace_adopt(task, leaves, lines - 1);
    return 0;
}

int trace_load_states(const uint8_t task[32], const char *path, trace **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    /* A line is at most 10 digits (steps <= 2^30), a space, 64 hex and "\n". */
    uint8_t *data = NULL;
    size_t size = 0;
    if (plow_read_file(path, PLOW_SIZE_CAP((TRACE_MAX_STEPS + 1) * 76), &data, &size, err)) return -1;
    int rc = trace_from_states(task, (const char *)data, size, out, err);
    if (rc) plow_error_prefix(err, path);
    free(data);
    return rc;
}

/* ---- trace file --------------------------------------------------------- */

void trace_serialize(const trace *t, plow_buf *out) {
    uint8_t head[TRACE_HEADER_LEN];
    memcpy(head, TRACE_MAGIC, 8);
    plow_put_u32(head + 8, TRACE_VERSION);
    memcpy(head + 12, t->task, 32);
    plow_put_u64(head + 44, t->n);
    plow_buf_append(out, head, sizeof head);
    plow_buf_append(out, t->leaves, ((size_t)t->n + 1) * 32);
}

int trace_parse(const uint8_t *data, size_t size, trace **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (size < TRACE_HEADER_LEN)
        return plow_error(err, "trace: %zu bytes, shorter than the %d-byte header", size, TRACE_HEADER_LEN);
    if (memcmp(data, TRACE_MAGIC, 8) != 0) return plow_error(err, "trace: bad magic (not a plow trace file)");
    uint32_t version = plow_get_u32(data + 8);
    if (version != TRACE_VERSION)
        return plow_error(err, "trace: version %" PRIu32 ", this build reads version %d", version, TRACE_VERSION);
    uint64_t n = plow_get_u64(data + 44);
    if (check_steps(n, err)) return -1;
    /* n <= 2^30, so the product fits; compare before allocating. */
    uint64_t want = (n + 1) * 32, have = size - TRACE_HEADER_LEN;
    if (have != want)
        return plow_error(err, "trace: %" PRIu64 " steps need %" PRIu64 " bytes of leaves, the file has %" PRIu64 " (%s)",
                          n, want, have, have < want ? "truncated" : "trailing bytes");
    uint8_t *leaves = plow_alloc((size_t)want);
    memcpy(leaves, data + TRACE_HEADER_LEN, (size_t)want);
    *out = trace_adopt(data + 12, leaves, n);
    return 0;
}

int trace_load(const char *path, trace **out, char err[PLOW_ERR_LEN]) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    if (plow_read_file(path, PLOW_SIZE_CAP(TRACE_MAX_FILE), &data, &size, err)) return -1;
    int rc = trace_parse(data, size, out, err);
    if (rc) plow_error_prefix(err, path);
    free(data);
    return rc;
}

int trace_save(const trace *t, const char *path, char err[PLOW_ERR_LEN]) {
    plow_buf b = {0};
    trace_serialize(t, &b);
    int rc = plow_write_file(path, b.data, b.len, err);
    plow_buf_release(&b);
    return rc;
}

/* ---- divergence --------------------------------------------------------- */

int trace_first_divergence(const trace *a, const trace *b, bool *diverges, uint64_t *step,
                           char err[PLOW_ERR_LEN]) {
    *diverges = false;
    *step = 0;
    if (memcmp(a->task, b->task, 32) != 0) return plow_error(err, "trace: the traces are for different tasks");
    if (a->n != b->n)
        return plow_error(err, "trace: the traces have %" PRIu64 " and %" PRIu64 " steps", a->n, b->n);
    for (uint64_t i = 0; i <= a->n; i++) {
        if (memcmp(a->leaves + i * 32, b->leaves + i * 32, 32) != 0) {
            *diverges = true;
            *step = i;
            return 0;
        }
    }
    return 0;
}

static const char *const verdict_names[] = {
    [TRACE_SAME] = "same",           [TRACE_DIVERGES] = "diverges", [TRACE_ENDS_AGREE] = "ends agree",
    [TRACE_FAULT_A] = "fault a",     [TRACE_FAULT_B] = "fault b",   [TRACE_FAULT_BOTH] = "fault both",
};
static_assert(sizeof verdict_names / sizeof verdict_names[0] == TRACE_VERDICT_COUNT, "verdict_names");

const char *trace_verdict_name(trace_verdict v) {
    return (unsigned)v < TRACE_VERDICT_COUNT ? verdict_names[v] : "?";
}

static int local_answer(void *ctx, uint64_t step, uint8_t leaf[MERKLE_HASH_LEN], merkle_proof *proof) {
    const trace *t = ctx;
    if (trace_prove(t, step, proof, NULL)) return -1;
    memcpy(leaf, trace_leaf(t, step), 32);
    return 0;
}

void trace_party_local(const trace *t, trace_party *out) {
    trace_root(t, out->root);
    out->answer = local_answer;
    out->ctx = (void *)(uintptr_t)t; /* local_answer only reads it */
}

/* Asks one party for leaf `step` and checks the answer against its root. */
static bool ask(const trace_party *p, uint64_t n, uint64_t step, uint8_t leaf[32], merkle_proof *proof) {
    memset(proof, 0, sizeof *proof);
    if (p->answer(p->ctx, step, leaf, proof) != 0) return false;
    return merkle_verify(p->root, n + 1, step, leaf, proof);
}

/* Asks both; on a failed answer fills the verdict and returns false. */
static bool ask_both(const trace_party *a, const trace_party *b, uint64_t n, uint64_t step, trace_bisection *out,
                     uint8_t la[32], merkle_proof *pa, uint8_t lb[32], merkle_proof *pb) {
    out->queries++;
    bool ok_a = ask(a, n, step, la, pa), ok_b = ask(b, n, step, lb, pb);
    if (ok_a && ok_b) return true;
    out->verdict = !ok_a && !ok_b ? TRACE_FAULT_BOTH : !ok_a ? TRACE_FAULT_A : TRACE_FAULT_B;
    out->step = step;
    return false;
}

int trace_bisect(uint64_t n, const trace_party *a, const trace_party *b, trace_bisection *out,
                 char err[PLOW_ERR_LEN]) {
    memset(out, 0, sizeof *out);
    if (check_steps(n, err)) return -1;
    if (memcmp(a->root, b->root, 32) == 0) {
        out->verdict = TRACE_SAME;
        return 0;
    }
    /* Invariant once leaf 0 agrees: leaf lo is proved equal (kept in
     * out->agreed*), leaf hi is proved different (kept in out->leaf_*). */
    uint8_t la[32], lb[32];
    merkle_proof *pa = plow_alloc(sizeof *pa), *pb = plow_alloc(sizeof *pb);
    uint64_t lo = 0, hi = n;
    if (!ask_both(a, b, n, 0, out, la, pa, lb, pb)) goto out;
    if (memcmp(la, lb, 32) != 0) {
        hi = 0;
        goto found;
    }
    memcpy(out->agreed, la, 32);
    out->agreed_proof_a = *pa;
    out->agreed_proof_b = *pb;
    if (!ask_both(a, b, n, n, out, la, pa, lb, pb)) goto out;
    if (memcmp(la, lb, 32) == 0) {
        out->verdict = TRACE_ENDS_AGREE;
        out->step = n;
        memset(out->agreed, 0, 32);
        memset(&out->agreed_proof_a, 0, sizeof out->agreed_proof_a);
        memset(&out->agreed_proof_b, 0, sizeof out->agreed_proof_b);
        goto out;
    }
    memcpy(out->leaf_a, la, 32);
    memcpy(out->leaf_b, lb, 32);
    out->proof_a = *pa;
    out->proof_b = *pb;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (!ask_both(a, b, n, mid, out, la, pa, lb, pb)) goto out;
        if (memcmp(la, lb, 32) == 0) {
            lo = mid;
            memcpy(out->agreed, la, 32);
            out->agreed_proof_a = *pa;
            out->agreed_proof_b = *pb;
        } else {
            hi = mid;
            memcpy(out->leaf_a, la, 32);
            memcpy(out->leaf_b, lb, 32);
            out->proof_a = *pa;
            out->proof_b = *pb;
        }
    }
found:
    if (hi == 0) { /* leaf 0 differs: nothing is agreed */
        memcpy(out->leaf_a, la, 32);
        memcpy(out->leaf_b, lb, 32);
        out->proof_a = *pa;
        out->proof_b = *pb;
    }
    out->verdict = TRACE_DIVERGES;
    out->step = hi;
out:
    if (out->verdict >= TRACE_FAULT_A) { /* keep nothing half-proved */
        uint32_t q = out->queries;
        uint64_t s = out->step;
        trace_verdict v = out->verdict;
        memset(out, 0, sizeof *out);
        out->verdict = v;
        out->step = s;
        out->queries = q;
    }
    free(pa);
    free(pb);
    return 0;
}

/* ---- commitment --------------------------------------------------------- */

static int commitment_check_ranges(uint64_t n, uint32_t c, char err[PLOW_ERR_LEN]) {
    if (n == 0 || n > TRACE_MAX_STEPS)
        return plow_error(err, "commitment: %" PRIu64 " steps, expected 1 to %" PRIu64, n, (uint64_t)TRACE_MAX_STEPS);
    if (c == 0 || c > n)
        return plow_error(err, "commitment: checkpoint interval %" PRIu32 ", expected 1 to n = %" PRIu64, c, n);
    return 0;
}

void trace_commit(const trace *t, const uint8_t artifact[32], uint32_t checkpoint_every,
                  trace_commitment *c) {
    memset(c, 0, sizeof *c);
    memcpy(c->task, t->task, 32);
    trace_root(t, c->root);
    memcpy(c->final_state, trace_leaf(t, t->n), 32);
    memcpy(c->artifact, artifact, 32);
    c->n = t->n;
    c->checkpoint_every = checkpoint_every;
}

int trace_commitment_encode(const trace_commitment *c, uint8_t out[TRACE_COMMITMENT_LEN],
                            char err[PLOW_ERR_LEN]) {
    if (commitment_check_ranges(c->n, c->checkpoint_every, err)) return -1;
    out[0] = TRACE_COMMITMENT_VERSION;
    memcpy(out + 1, c->task, 32);
    memcpy(out + 33, c->root, 32);
    memcpy(out + 65, c->final_state, 32);
    memcpy(out + 97, c->artifact, 32);
    plow_put_u64(out + 129, c->n);
    plow_put_u32(out + 137, c->checkpoint_every);
    return 0;
}

int trace_commitment_decode(trace_commitment *c, const uint8_t *buf, size_t len, char err[PLOW_ERR_LEN]) {
    if (len != TRACE_COMMITMENT_LEN)
        return plow_error(err, "commitment: %zu bytes, expected %d", len, TRACE_COMMITMENT_LEN);
    if (buf[0] != TRACE_COMMITMENT_VERSION)
        return plow_error(err, "commitment: version %u, this build reads version %d", buf[0],
                          TRACE_COMMITMENT_VERSION);
    uint64_t n = plow_get_u64(buf + 129);
    uint32_t every = plow_get_u32(buf + 137);
    if (commitment_check_ranges(n, every, err)) return -1;
    memset(c, 0, sizeof *c);
    memcpy(c->task, buf + 1, 32);
    memcpy(c->root, buf + 33, 32);
    memcpy(c->final_state, buf + 65, 32);
    memcpy(c->artifact, buf + 97, 32);
    c->n = n;
    c->checkpoint_every = every;
    return 0;
}

int trace_commitment_check(const trace_commitment *c, const trace *t, char err[PLOW_ERR_LEN]) {
    uint8_t root[32];
    trace_root(t, root);
    if (memcmp(c->task, t->task, 32) != 0) return plow_error(err, "commitment: the trace is for another task");
    if (c->n != t->n)
        return plow_error(err, "commitment: %" PRIu64 " steps committed, the trace has %" PRIu64, c->n, t->n);
    if (memcmp(c->root, root, 32) != 0) return plow_error(err, "commitment: the trace's root is not the committed root");
    if (memcmp(c->final_state, trace_leaf(t, t->n), 32) != 0)
        return plow_error(err, "commitment: the trace's final state is not the committed final state");
    return 0;
}
