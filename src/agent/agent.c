/*
 * agent.c — what every agent shares: the key and client, one-line logs,
 * signals, the back-off while the node is away, and ledger reads through the
 * node's JSON API. Nothing here decides anything; worker.c, verifier.c and
 * requester.c do.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../client/client.h"
#include "agent.h"
#include "backend.h"

/* ---- signals ---------------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

void agent_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a sleep or a poll wakes up */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool agent_stop_requested(void) { return stop_flag != 0; }

void agent_sleep(double s) {
    double end = plow_now() + s;
    while (!stop_flag) {
        double left = end - plow_now();
        if (left <= 0) break;
        if (left > 0.05) left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- logs ------------------------------------------------------------------- */

void agent_log(const agent *a, const char *fmt, ...) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%02d:%02d:%02d.%03d %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), a->name,
           line);
    fflush(stdout);
}

void agent_short(const uint8_t h[32], char out[12]) { plow_hex(h, 4, out); }

void agent_short_addr(const uint8_t pk[32], char out[16]) {
    char full[LEDGER_ADDR_STR_LEN];
    ledger_addr_format(pk, full);
    memcpy(out, full, 12);
    out[12] = 0;
}

void agent_money(uint64_t v, char out[32]) {
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    int o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

/* ---- lifecycle ---------------------------------------------------------------- */

int agent_open(agent *a, const char *name, const char *key_path, const char *node_url, const char *work_dir,
               char err[PLOW_ERR_LEN]) {
    memset(a, 0, sizeof *a);
    if (!name || !*name || strlen(name) > LEDGER_NAME_MAX) return plow_error(err, "an agent name needs 1..%d bytes", LEDGER_NAME_MAX);
    snprintf(a->name, sizeof a->name, "%s", name);
    if (strlen(work_dir) >= sizeof a->work - 64) return plow_error(err, "work directory path too long");
    snprintf(a->work, sizeof a->work, "%s", work_dir);
    snprintf(a->node, sizeof a->node, "%s", node_url ? node_url : AGENT_DEFAULT_NODE);
    if (ledger_crypto_init(err)) return -1;
    if (ledger_key_load(&a->key, key_path, err)) return plow_error_prefix(err, key_path);
    ledger_addr_format(a->key.pk, a->addr);
    if (plow_mkdir_p(a->work, err)) return -1;
    a->c = client_new(a->node);
    if (!a->c) return plow_error(err, "cannot make an HTTP client for '%s'", a->node);
    client_set_key(a->c, &a->key); /* it signs the agent's blob uploads */
    a->be = &agent_backend_node;
    a->connected = true;
    a->backoff = 0.25;
    return 0;
}

int agent_open_on(agent *a, const char *name, const char *key_path, const char *node_url, const char *work_dir,
                  const agent_chain *c, char err[PLOW_ERR_LEN]) {
    if (agent_open(a, name, key_path, node_url, work_dir, err)) return -1;
    if (c && c->rpc && agent_use_evm(a, c->rpc, c->deployment, c->keystore, err)) {
        agent_close(a);
        return -1;
    }
    return 0;
}

void agent_close(agent *a) {
    if (!a) return;
    if (a->be && a->be->close) a->be->close(a);
    a->be_ctx = NULL;
    client_free(a->c);
    a->c = NULL;
    ledger_key_wipe(&a->key);
}

void agent_fail(agent *a, const char *err) {
    if (a->connected) agent_log(a, "waiting for the node: %s", err);
    a->connected = false;
    agent_sleep(a->backoff);
    a->backoff *= 2;
    if (a->backoff > 8) a->backoff = 8;
}

void agent_ok(agent *a) {
    if (!a->connected) agent_log(a, "node reachable again at %s", a->node);
    a->connected = true;
    a->backoff = 0.25;
}

/* ---- reads -------------------------------------------------------------------- */

int agent_load_params(agent *a, char err[PLOW_ERR_LEN]) { return a->be->load_params(a, err); }

int agent_send_at(agent *a, ledger_tx *tx, uint8_t hash[32], uint64_t *height, char err[PLOW_ERR_LEN]) {
    return a->be->send_at(a, tx, hash, height, err);
}

bool agent_refused(const char *err) {
    /* client_send_at's wording for a transaction the ledger refused */
    return strstr(err, "failed in block") != NULL || strstr(err, "was dropped") != NULL;
}

int agent_send(agent *a, ledger_tx *tx, char err[PLOW_ERR_LEN]) { return agent_send_at(a, tx, NULL, NULL, err); }

int agent_post_prepare(agent *a, ledger_tx *tx, uint8_t id[32], char err[PLOW_ERR_LEN]) {
    return a->be->post_prepare(a, tx, id, err);
}

int agent_post_submit(agent *a, const ledger_tx *tx, char err[PLOW_ERR_LEN]) { return a->be->post_submit(a, tx, err); }

int agent_post_status(agent *a, const uint8_t id[32], double wait_s, int *result, char msg[PLOW_ERR_LEN],
                      char err[PLOW_ERR_LEN]) {
    return a->be->post_status(a, id, wait_s, result, msg, err);
}

int agent_ensure_registered(agent *a, const char *caps, ledger_account *acct, char err[PLOW_ERR_LEN]) {
    if (acct->profile != 0) return 0;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_REGISTER;
    tx.u.reg.kind = LEDGER_AGENT;
    snprintf(tx.u.reg.name, sizeof tx.u.reg.name, "%s", a->name);
    snprintf(tx.u.reg.caps, sizeof tx.u.reg.caps, "%s", caps);
    if (agent_send(a, &tx, err)) return plow_error_prefix(err, "register");
    agent_log(a, "registered as agent '%s' %s", a->name, tx.u.reg.caps);
    return agent_account(a, a->key.pk, acct, err);
}

int agent_height(agent *a, uint64_t *height, char err[PLOW_ERR_LEN]) { return a->be->height(a, height, err); }

int agent_account(agent *a, const uint8_t pk[32], ledger_account *out, char err[PLOW_ERR_LEN]) {
    return a->be->account(a, pk, out, err);
}

int agent_list_tasks(agent *a, const char *query, ledger_task **out, size_t *n, char err[PLOW_ERR_LEN]) {
    return a->be->list_tasks(a, query, out, n, err);
}

int agent_task(agent *a, const uint8_t id[32], ledger_task *t, ledger_challenge **ch, size_t *n_ch,
               char err[PLOW_ERR_LEN]) {
    return a->be->task(a, id, t, ch, n_ch, err);
}

int agent_challenge(agent *a, const uint8_t id[32], ledger_challenge *out, char err[PLOW_ERR_LEN]) {
    return a->be->challenge(a, id, out, err);
}

int agent_reveal_of(agent *a, const ledger_task *t, int slot, ledger_tx *out, char err[PLOW_ERR_LEN]) {
    return a->be->reveal_of(a, t, slot, out, err);
}

int agent_put_leaves(agent *a, const ledger_task *t, int s, const char *dir, char err[PLOW_ERR_LEN]) {
    if (t->p.kind == LEDGER_KIND_INFER) return 0;
    ledger_tx *rv = plow_calloc(1, sizeof *rv);
    char *p = NULL;
    int rc = -1;
    if (agent_reveal_of(a, t, s, rv, err)) goto out;
    p = job_leaves_path(dir, t->slots[s].trace_root);
    rc = plow_write_file(p, rv->u.open.leaves, (size_t)rv->u.open.count * 32, err);
out:
    free(p);
    free(rv);
    return rc;
}

int agent_block_hash(agent *a, uint64_t height, uint8_t hash[32], uint64_t *time_ms, char err[PLOW_ERR_LEN]) {
    return a->be->block_hash(a, height, hash, time_ms, err);
}

double agent_block_ms(agent *a) {
    char err[PLOW_ERR_LEN];
    uint64_t h, t1, t0;
    uint8_t hash[32];
    if (agent_height(a, &h, err) || h < 2) return 500;
    uint64_t back = h > 20 ? 20 : h - 1;
    if (agent_block_hash(a, h, hash, &t1, err) || agent_block_hash(a, h - back, hash, &t0, err) || t1 <= t0)
        return 500;
    return (double)(t1 - t0) / (double)back;
}

int agent_fetch_spec(agent *a, const ledger_task *t, job_spec *spec, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    bool has;
    uint64_t size;
    if (client_blob_size(a->c, t->p.spec, &has, &size, err)) return plow_error_prefix(err, "the task's spec");
    if (!has) return plow_error(err, "the task's spec is not on the node"), 1;
    if (size > JOB_SPEC_MAX)
        return plow_error(err, "the task's spec is %" PRIu64 " bytes, more than a spec may be (%d)", size, JOB_SPEC_MAX), 1;
    /* a spec is small (JOB_SPEC_MAX): a larger blob is refused as it arrives */
    if (client_blob_get_max(a->c, t->p.spec, JOB_SPEC_MAX, &buf, &n, err)) return plow_error_prefix(err, "the task's spec");
    int rc = job_spec_parse(spec, buf, n, err);
    free(buf);
    if (rc) return plow_error_prefix(err, "the task's spec"), 1;
    return 0;
}

static int blobs_get_file(void *ctx, const uint8_t hash[32], const char *path, char err[PLOW_ERR_LEN]) {
    return client_blob_get_file((client *)ctx, hash, path, err);
}

static int blobs_put_file(void *ctx, const char *path, uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    return client_blob_put_file((client *)ctx, path, hash, err);
}

static int blobs_size(void *ctx, const uint8_t hash[32], uint64_t *n, char err[PLOW_ERR_LEN]) {
    bool has;
    if (client_blob_size((client *)ctx, hash, &has, n, err)) return -1;
    return has ? 0 : 1;
}

job_blobs agent_job_blobs(agent *a) {
    job_blobs b = {a->c, blobs_get_file, blobs_put_file, blobs_size};
    return b;
}

/* ---- limits, probes and refusals ---------------------------------------------- */

void agent_limits(job_limits *l) {
    job_limits_network(l);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double mem = pages > 0 && psz > 0 ? (double)pages * (double)psz : 0;
    static const int res[] = {RLIMIT_AS, RLIMIT_DATA};
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
        struct rlimit rl;
        if (getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (mem == 0 || (double)rl.rlim_cur < mem))
            mem = (double)rl.rlim_cur;
    }
    if (mem > 0 && mem * 0.75 < (double)l->mem_bytes) l->mem_bytes = (uint64_t)(mem * 0.75);
}

int agent_probe(agent *a, const ledger_task *t, const job_spec *spec, const job_limits *l, bool whole_run,
                job_cost *cost, char err[PLOW_ERR_LEN]) {
    char hex[65], dir[AGENT_PATH_MAX + 100];
    plow_hex(t->id, 32, hex);
    snprintf(dir, sizeof dir, "%s/probe/%s", a->work, hex);
    job_blobs b = agent_job_blobs(a);
    return job_probe(spec, &b, dir, l, whole_run, cost, err);
}

static void refused_path(const agent *a, const uint8_t id[32], char *out, size_t n) {
    char hex[65];
    plow_hex(id, 32, hex);
    snprintf(out, n, "%s/refused/%s", a->work, hex);
}

bool agent_is_refused(const agent *a, const uint8_t id[32]) {
    char p[AGENT_PATH_MAX + 100];
    refused_path(a, id, p, sizeof p);
    return plow_file_exists(p);
}

void agent_refuse(agent *a, const uint8_t id[32], const char *why) {
    char p[AGENT_PATH_MAX + 100], err[PLOW_ERR_LEN];
    snprintf(p, sizeof p, "%s/refused", a->work);
    if (plow_mkdir_p(p, err) == 0) {
        refused_path(a, id, p, sizeof p);
        char line[PLOW_ERR_LEN + 2];
        snprintf(line, sizeof line, "%s\n", why);
        if (plow_write_file(p, line, strlen(line), err) == 0) return;
    }
    agent_log(a, "cannot keep a refusal: %s", err);
}

/* ---- manifests ---------------------------------------------------------------- */

const uint8_t *agent_manifest_find(const job_manifest *m, const char *name) {
    const uint8_t *h = job_manifest_find(m, name);
    if (h) return h;
    for (size_t i = 0; i < m->n; i++) {
        const char *base = strrchr(m->files[i].path, '/');
        if (base && strcmp(base + 1, name) == 0) return m->files[i].hash;
    }
    return NULL;
}

int agent_fetch_manifest(agent *a, const uint8_t hash[32], job_manifest *m, char err[PLOW_ERR_LEN]) {
    memset(m, 0, sizeof *m);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (client_blob_get_max(a->c, hash, JOB_MANIFEST_MAX, &buf, &n, err)) return plow_error_prefix(err, "the outputs manifest");
    int rc = job_manifest_parse(m, buf, n, err);
    free(buf);
    return rc;
}
