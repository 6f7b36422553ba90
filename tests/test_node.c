/*
 * test_node.c — the node's pieces that need no socket: the task index behind
 * GET /v1/tasks (pagination cursors, filters, malformed queries and limits).
 */
#include "../src/base/plow.h"

#include "../src/node/node_internal.h"
#include "test.h"

/* Query arguments from a NULL-terminated list of key, value pairs. */
static const char *kv_arg(void *ctx, const char *key) {
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0) return kv[1];
    return NULL;
}

static int parse(taskq *q, const char *const *kv) {
    char err[PLOW_ERR_LEN];
    return taskq_parse(q, kv_arg, (void *)kv, err);
}

static void mk_task(ledger_task *t, uint64_t posted_at, uint8_t tag, int status, int kind, uint64_t reward) {
    memset(t, 0, sizeof *t);
    t->id[0] = tag;
    t->id[31] = (uint8_t)posted_at;
    t->posted_at = posted_at;
    t->status = (uint8_t)status;
    t->p.kind = (uint8_t)kind;
    t->p.reward = reward;
    t->p.replicas = 1;
    t->p.claim_blocks = 10;
    t->requester[0] = 0xaa;
}

static void test_taskq_parse(void) {
    taskq q;
    CHECK(parse(&q, (const char *const[]){NULL}) == 0 && q.limit == 100 && !q.statuses && !q.has_cursor);
    CHECK(parse(&q, (const char *const[]){"status", "open,committed", "limit", "1000", NULL}) == 0);
    CHECK(q.statuses == ((1u << LEDGER_TASK_OPEN) | (1u << LEDGER_TASK_COMMITTED)) && q.limit == 1000);
    /* malformed filters and limits */
    static const char *const bad[][3] = {
        {"status", "bogus", NULL}, {"status", "open,", NULL},     {"status", ",open", NULL},
        {"status", "", NULL},      {"limit", "0", NULL},          {"limit", "1001", NULL},
        {"limit", "-1", NULL},     {"limit", "10x", NULL},        {"limit", "99999999999999999999999", NULL},
        {"kind", "nope", NULL},    {"min_reward", "1e3", NULL},   {"deadline_from", "", NULL},
        {"addr", "xyz", NULL},     {"cursor", "", NULL},          {"cursor", "12", NULL},
        {"cursor", "-00", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(parse(&q, bad[i]) != 0, "accepted %s=%s", bad[i][0], bad[i][1]);
    /* cursors: only the exact spelling the node hands out */
    uint8_t id[32], id2[32];
    for (int i = 0; i < 32; i++) id[i] = (uint8_t)(i * 7 + 1);
    char c[TASKQ_CURSOR_LEN];
    taskq_cursor_format(1234, id, c);
    uint64_t h;
    CHECK(taskq_cursor_parse(c, &h, id2) == 0 && h == 1234 && memcmp(id, id2, 32) == 0);
    char up[TASKQ_CURSOR_LEN];
    snprintf(up, sizeof up, "%s", c);
    for (char *p = up; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
    CHECK(strcmp(up, c) == 0 || taskq_cursor_parse(up, &h, id2) != 0); /* uppercase refused */
    char s[160];
    snprintf(s, sizeof s, "%s0", c); /* 65 hex digits */
    CHECK(taskq_cursor_parse(s, &h, id2) != 0);
    c[strlen(c) - 1] = 'g';
    CHECK(taskq_cursor_parse(c, &h, id2) != 0);
    snprintf(s, sizeof s, "123456789012345678901-%064d", 0); /* 21 digits */
    CHECK(taskq_cursor_parse(s, &h, id2) != 0);
    snprintf(s, sizeof s, "18446744073709551616-%064d", 0); /* 2^64 */
    CHECK(taskq_cursor_parse(s, &h, id2) != 0);
    snprintf(s, sizeof s, "x1-%064d", 0);
    CHECK(taskq_cursor_parse(s, &h, id2) != 0);
}

/* Pages through everything matching q, `limit` at a time: every task exactly
 * once, newest first. Returns how many, and checks the order. */
static size_t walk(taskidx *x, taskq q, size_t scan_max, uint8_t *seen, size_t n_all, size_t *pages) {
    size_t total = 0;
    *pages = 0;
    uint64_t prev_h = UINT64_MAX;
    uint8_t prev_id[32];
    memset(prev_id, 0xff, 32);
    for (;;) {
        ledger_task *ts;
        bool more;
        char next[TASKQ_CURSOR_LEN];
        size_t got = taskidx_page(x, &q, scan_max, &ts, &more, next);
        (*pages)++;
        CHECK(got <= q.limit);
        for (size_t i = 0; i < got; i++) {
            size_t k = (size_t)ts[i].id[31] * 4 + (ts[i].id[0] & 3); /* the fixture's numbering */
            CHECK(k < n_all && !seen[k]);
            if (k < n_all) seen[k] = 1;
            bool newer = ts[i].posted_at < prev_h || (ts[i].posted_at == prev_h && memcmp(ts[i].id, prev_id, 32) < 0);
            CHECK(newer);
            prev_h = ts[i].posted_at;
            memcpy(prev_id, ts[i].id, 32);
        }
        total += got;
        free(ts);
        if (!more) break;
        CHECK(taskq_cursor_parse(next, &q.cur_posted, q.cur_id) == 0);
        q.has_cursor = true;
        if (*pages > 10000) break;
    }
    return total;
}

static void test_taskidx_pages(void) {
    taskidx x;
    taskidx_init(&x);
    /* 200 heights x 4 tasks: 800 tasks, every 4th one open, LORA on odd heights */
    enum { H = 200, PER = 4, N = H * PER };
    ledger_task *ts = plow_alloc(N * sizeof *ts);
    for (int h = 0; h < H; h++)
        for (int k = 0; k < PER; k++)
            mk_task(&ts[h * PER + k], (uint64_t)h, (uint8_t)(0x10 * k + k), k == 0 ? LEDGER_TASK_OPEN : LEDGER_TASK_FINALIZED,
                    h % 2 ? LEDGER_KIND_LORA : LEDGER_KIND_TRAIN, (uint64_t)h);
    /* insert out of order, in two batches (the load at start, then blocks) */
    taskidx_put_many(&x, ts + N / 2, N / 2);
    taskidx_put_many(&x, ts, N / 2);
    CHECK(x.n == N);

    uint8_t seen[N];
    size_t pages;
    taskq q;
    CHECK(parse(&q, (const char *const[]){"limit", "7", NULL}) == 0);
    memset(seen, 0, sizeof seen);
    CHECK(walk(&x, q, TASKIDX_SCAN_MAX, seen, N, &pages) == N);
    CHECKF(pages == (N + 6) / 7 || pages == (N + 6) / 7 + 1, "%zu pages", pages);

    /* status filter: the 200 open ones, even with a tiny scan budget per request */
    CHECK(parse(&q, (const char *const[]){"status", "open", "limit", "1", NULL}) == 0);
    memset(seen, 0, sizeof seen);
    CHECK(walk(&x, q, 3, seen, N, &pages) == H);
    for (int i = 0; i < N; i++) CHECK(seen[i] == (i % PER == 0));

    /* kind + reward range + a changed task (an update keeps its place) */
    ts[5].status = LEDGER_TASK_OPEN; /* height 1, LORA */
    taskidx_put_many(&x, &ts[5], 1);
    CHECK(x.n == N);
    CHECK(parse(&q, (const char *const[]){"status", "open", "kind", "lora", "min_reward", "1", "max_reward", "9", NULL}) ==
          0);
    memset(seen, 0, sizeof seen);
    /* LORA on odd heights 1..9: 5 heights, one open each, plus task 5 */
    CHECK(walk(&x, q, TASKIDX_SCAN_MAX, seen, N, &pages) == 6);
    CHECK(seen[4] && seen[5]);

    /* deadline: open tasks' claim window ends at posted_at + 10 */
    CHECK(parse(&q, (const char *const[]){"status", "open", "deadline_from", "200", NULL}) == 0);
    memset(seen, 0, sizeof seen);
    CHECK(walk(&x, q, TASKIDX_SCAN_MAX, seen, N, &pages) == 10); /* heights 190..199 */

    /* concerns me: a worker's address on one slot */
    ts[9].slots[0].status = LEDGER_SLOT_CLAIMED;
    ts[9].slots[0].worker[0] = 0x42;
    taskidx_put_many(&x, &ts[9], 1);
    q.has_addr = true;
    memset(q.addr, 0, 32);
    q.addr[0] = 0x42;
    q.statuses = 0;
    q.has_deadline = false;
    memset(seen, 0, sizeof seen);
    CHECK(walk(&x, q, TASKIDX_SCAN_MAX, seen, N, &pages) == 1 && seen[9]);

    /* a cursor past the end, or before the start */
    CHECK(parse(&q, (const char *const[]){NULL}) == 0);
    q.has_cursor = true;
    q.cur_posted = 0;
    memset(q.cur_id, 0, 32);
    ledger_task *out;
    bool more;
    char next[TASKQ_CURSOR_LEN];
    CHECK(taskidx_page(&x, &q, TASKIDX_SCAN_MAX, &out, &more, next) == 0 && !more);
    free(out);
    q.cur_posted = UINT64_MAX;
    CHECK(taskidx_page(&x, &q, TASKIDX_SCAN_MAX, &out, &more, next) == 100 && more && out[0].posted_at == H - 1);
    free(out);
    free(ts);
    taskidx_release(&x);
}

/* Admission's reservation (node_spend): a sender's pending transactions may
 * together never spend more than its balance, fees first, so each admitted
 * fee is paid when its block runs; and a sender's pending count is bounded. */
static void test_node_spend(void) {
    char err[PLOW_ERR_LEN];
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_TRANSFER;
    tx.fee = 1;
    tx.u.transfer.amount = 1;
    uint64_t spend = 0, reserved = 0;
    uint32_t pending = 0;
    /* one unit: one transaction (its fee), then nothing however many are sent */
    CHECK(node_spend(&tx, 1, 0, 0, &spend, err) == 0 && spend == 1);
    CHECK(node_spend(&tx, 1, 1, 1, &spend, err) == 400 && strstr(err, "already spend 1"));
    /* balance 10, transfers of 3 with fee 1: 4 + 4 + (1 + 1 capped) = 10, then refused */
    tx.u.transfer.amount = 3;
    int admitted = 0;
    for (int i = 0; i < 100; i++) {
        if (node_spend(&tx, 10, reserved, pending, &spend, err) != 0) break;
        reserved += spend;
        pending++;
        admitted++;
    }
    CHECK(admitted == 3 && reserved == 10);
    /* an amount larger than the balance is admitted (its body fails, its fee is paid) but reserves everything */
    tx.u.transfer.amount = 1000;
    CHECK(node_spend(&tx, 10, 0, 0, &spend, err) == 0 && spend == 10);
    /* every outlay counts: stake, escrow (reward x replicas), bonds; others only their fee */
    ledger_tx t2 = tx;
    t2.type = LEDGER_TX_STAKE;
    t2.u.stake.amount = 7;
    CHECK(node_tx_outlay(&t2) == 7);
    memset(&t2.u, 0, sizeof t2.u);
    t2.type = LEDGER_TX_POST_TASK;
    t2.u.post.reward = 5;
    t2.u.post.replicas = 3;
    CHECK(node_tx_outlay(&t2) == 15);
    t2.u.post.reward = UINT64_MAX;
    CHECK(node_tx_outlay(&t2) == UINT64_MAX);
    CHECK(node_spend(&t2, 100, 0, 0, &spend, err) == 0 && spend == 100);
    memset(&t2.u, 0, sizeof t2.u);
    t2.type = LEDGER_TX_CHALLENGE;
    t2.u.challenge.bond = 40;
    CHECK(node_tx_outlay(&t2) == 40);
    t2.type = LEDGER_TX_DA_CHALLENGE;
    memset(&t2.u, 0, sizeof t2.u);
    t2.u.da.bond = 41;
    CHECK(node_tx_outlay(&t2) == 41);
    t2.type = LEDGER_TX_CLAIM;
    CHECK(node_tx_outlay(&t2) == 0);
    /* a reservation above the balance (credits came later, or a restart) refuses, never wraps */
    CHECK(node_spend(&tx, 5, UINT64_MAX, 3, &spend, err) == 400);
    /* the pending bound, whatever the balance */
    tx.u.transfer.amount = 1;
    CHECK(node_spend(&tx, UINT64_MAX, 0, NODE_SENDER_PENDING_MAX - 1, &spend, err) == 0);
    CHECK(node_spend(&tx, UINT64_MAX, 0, NODE_SENDER_PENDING_MAX, &spend, err) == 429 && strstr(err, "pending"));
}

const test_case node_tests[] = {
    {"node_taskq_parse", test_taskq_parse},
    {"node_taskidx_pages", test_taskidx_pages},
    {"node_spend", test_node_spend},
    {NULL, NULL},
};
