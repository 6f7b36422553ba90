/*
 * cmd_task.c — plow task post|list|show.
 *
 * post reads a TASKFILE (docs/cli.md): the ledger parameters of a task and
 * its job spec, in which "@PATH" strings are local files to upload. The spec
 * is checked with job_spec_parse and what is uploaded (and named by the task)
 * is job_spec_write's canonical form, so every worker reads the same bytes.
 * Nothing is posted until every file is uploaded and the spec is valid.
 * The TASKFILE code is src/agent/taskfile.c, which the requester agent uses
 * too.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>

#include "../agent/agent.h"
#include "../job/job.h"
#include "../job/kind.h"
#include "cli.h"
#include "cli_net.h"


static const char task_help[] =
    "usage: plow task post TASKFILE [--key FILE] [--fee N] [--timeout S]\n"
    "       plow task list [--status S] [--limit N] [--json]\n"
    "       plow task show ID [--json]\n"
    "\n"
    "  post   uploads the files a TASKFILE names, checks its job spec, uploads\n"
    "         the spec and posts the task (escrowing reward x replicas); prints\n"
    "         the task id. TASKFILE format: docs/cli.md.\n"
    "  list   tasks, newest first: id (short), kind, mode, status, reward and\n"
    "         slots taken; --status open|claimed|committed|challenged|resolved|\n"
    "         finalized|expired keeps one status; --limit N (default 50)\n"
    "  show   one task (ID: its 64 hex digits, or a unique prefix of them): its\n"
    "         parameters, deadlines, slots and challenges\n"
    "\n"
    "options:\n"
    "  --key FILE     the key (default $PLOW_KEY, else ~/.plow/key.json)\n"
    "  --node URL     the node (default $PLOW_NODE, else http://127.0.0.1:7545)\n"
    "  --fee N        the post transaction's fee in base units (default 1)\n"
    "  --timeout S    seconds to wait for the transaction's block (default 60)\n"
    "  --json         list, show: print the node's JSON\n";

/* ---- TASKFILE: src/agent/taskfile.c (shared with the requester agent) -------- */

static void note_upload(void *arg, const char *line) {
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

static int task_post(int argc, char **argv) {
    const char *key = NULL, *node_url = NULL, *fee_s = NULL, *timeout_s = NULL, *pos[1];
    int n_pos;
    const cli_opt opts[] = {{"--key", &key, NULL},
                            {"--node", &node_url, NULL},
                            {"--fee", &fee_s, NULL},
                            {"--timeout", &timeout_s, NULL},
                            {NULL, NULL, NULL}};
    int rc = cli_parse_opts("task", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("task", "expected: plow task post TASKFILE");
    char err[PLOW_ERR_LEN];
    uint64_t fee = CLI_DEFAULT_FEE;
    double timeout;
    if (fee_s && cli_amount("--fee", fee_s, &fee, err)) return cli_usage_error("task", "%s", err);
    if (cli_timeout(timeout_s, &timeout, err)) return cli_usage_error("task", "%s", err);

    taskfile tf;
    ledger_key k;
    client *c = NULL;
    rc = 1;
    bool have_key = false;
    if (taskfile_parse(&tf, pos[0], err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (cli_signed_client(key, node_url, &k, &c, err)) { /* it signs the uploads */
        cli_fail("%s", err);
        goto out;
    }
    have_key = true;
    if (taskfile_expand(&tf, c, note_upload, NULL, err)) {
        cli_fail("%s: spec: %s", pos[0], err);
        goto out;
    }
    job_spec spec;
    int fin = taskfile_finish(&tf, c, &spec, err);
    if (fin == -1) {
        cli_fail("%s: %s", pos[0], err);
        goto out;
    }
    if (fin) {
        cli_fail("%s", err);
        goto out;
    }

    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_POST_TASK;
    tx.fee = fee;
    tx.u.post = tf.p;
    uint8_t id[32];
    uint64_t height;
    char hex[65];
    if (client_send_at(c, &k, &tx, timeout, id, &height, err)) {
        cli_fail("%s", err);
        goto out;
    }
    plow_hex(id, 32, hex);
    fprintf(stderr, "task posted in block %" PRIu64 ": %s %s, %u %s, reward %" PRIu64 ", %" PRIu64 " %s\n", height,
            task_kind_name(spec.kind), ledger_mode_name(tf.p.mode), tf.p.replicas,
            tf.p.replicas == 1 ? "worker" : "workers", tf.p.reward, tf.p.steps,
            job_kind_facts_of(spec.kind)->steps_unit);
    printf("%s\n", hex);
    rc = 0;
out:
    if (have_key) ledger_key_wipe(&k);
    taskfile_release(&tf);
    client_free(c);
    return rc;
}

/* ---- list and show ------------------------------------------------------------ */

static bool valid_status(const char *s) {
    for (int i = 1; i < LEDGER_TASK_STATUS_END; i++)
        if (strcmp(s, ledger_task_status_name(i)) == 0) return true;
    return false;
}

static int print_json(const cJSON *j) {
    char *s = cJSON_Print(j);
    printf("%s\n", s ? s : "null");
    free(s);
    return 0;
}

static int fetch_tasks(client *c, const char *status, long limit, cJSON **out, const cJSON **arr,
                       char err[PLOW_ERR_LEN]) {
    char path[128];
    if (status) snprintf(path, sizeof path, "/v1/tasks?status=%s&limit=%ld", status, limit);
    else snprintf(path, sizeof path, "/v1/tasks?limit=%ld", limit);
    if (client_get_json(c, path, out, err)) return -1;
    *arr = cJSON_GetObjectItemCaseSensitive(*out, "tasks");
    if (!cJSON_IsArray(*arr)) {
        cJSON_Delete(*out);
        *out = NULL;
        return plow_error(err, "GET %s: 'tasks' must be an array", path);
    }
    return 0;
}

static int task_list(int argc, char **argv) {
    const char *node_url = NULL, *status = NULL, *limit_s = NULL, *pos[1];
    bool json = false;
    int n_pos;
    const cli_opt opts[] = {{"--node", &node_url, NULL},
                            {"--status", &status, NULL},
                            {"--limit", &limit_s, NULL},
                            {"--json", NULL, &json},
                            {NULL, NULL, NULL}};
    int rc = cli_parse_opts("task", argc, argv, 2, opts, pos, 0, &n_pos);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    long limit = 50;
    if (limit_s && cli_int("--limit", limit_s, 1, 1000, &limit, err)) return cli_usage_error("task", "%s", err);
    if (status && !valid_status(status))
        return cli_usage_error("task", "--status must be open, claimed, committed, challenged, resolved, finalized or "
                                       "expired, got '%s'",
                               status);
    client *c = client_new(cli_node_url(node_url));
    if (!c) return cli_fail("cannot start the HTTP client");
    cJSON *j = NULL;
    const cJSON *arr;
    rc = 1;
    if (fetch_tasks(c, status, limit, &j, &arr, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (json) {
        rc = print_json(j);
        goto out;
    }
    /* Parse everything first: a malformed answer prints nothing half-way. */
    int n = cJSON_GetArraySize(arr), i = 0;
    ledger_task *ts = plow_calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    const cJSON *t;
    cJSON_ArrayForEach(t, arr) {
        if (json_task_from(t, &ts[i], err)) {
            cli_fail("the node sent a malformed task: %s", err);
            free(ts);
            goto out;
        }
        i++;
    }
    if (n == 0) {
        fprintf(stderr, "no tasks%s%s\n", status ? " with status " : "", status ? status : "");
    } else {
        printf("%-12s  %-5s  %-10s  %-10s  %12s  %s\n", "ID", "KIND", "MODE", "STATUS", "REWARD", "SLOTS");
        for (i = 0; i < n; i++) {
            char hex[65];
            int taken = 0;
            plow_hex(ts[i].id, 32, hex);
            for (int s = 0; s < ts[i].p.replicas; s++) taken += ts[i].slots[s].status != LEDGER_SLOT_EMPTY;
            printf("%.12s  %-5s  %-10s  %-10s  %12" PRIu64 "  %d/%u\n", hex, ledger_kind_name(ts[i].p.kind),
                   ledger_mode_name(ts[i].p.mode), ledger_task_status_name(ts[i].status), ts[i].p.reward, taken,
                   ts[i].p.replicas);
        }
    }
    free(ts);
    rc = 0;
out:
    cJSON_Delete(j);
    client_free(c);
    return rc;
}

/* ID: 64 hex digits, or a unique prefix among the newest 1000 tasks. */
static int resolve_id(client *c, const char *s, char hex[65], char err[PLOW_ERR_LEN]) {
    size_t n = strlen(s);
    if (n < 4 || n > 64) return plow_error(err, "a task id has 64 hex digits (a prefix needs at least 4), got '%.70s'", s);
    char low[65];
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) return plow_error(err, "a task id is hex digits, got '%.70s'", s);
        low[i] = (char)tolower((unsigned char)s[i]);
    }
    low[n] = 0;
    if (n == 64) {
        memcpy(hex, low, 65);
        return 0;
    }
    cJSON *j;
    const cJSON *arr, *t;
    if (fetch_tasks(c, NULL, 1000, &j, &arr, err)) return -1;
    int found = 0;
    cJSON_ArrayForEach(t, arr) {
        const char *id = json_get_str(t, "id");
        if (id && strlen(id) == 64 && strncmp(id, low, n) == 0) {
            if (found++ == 0) memcpy(hex, id, 65);
        }
    }
    cJSON_Delete(j);
    if (found == 0) return plow_error(err, "no task id starts with '%s'", low);
    if (found > 1) return plow_error(err, "'%s' is the start of %d task ids: give more digits", low, found);
    return 0;
}

static void deadline(uint64_t at, uint64_t now, char *out, size_t n) {
    if (at > now) snprintf(out, n, "block %" PRIu64 " (in %" PRIu64 " blocks)", at, at - now);
    else snprintf(out, n, "block %" PRIu64 " (passed)", at);
}

static void print_task(const ledger_task *t, const ledger_challenge *chs, int n_ch, uint64_t now) {
    char hex[65], addr[LEDGER_ADDR_STR_LEN], d[96];
    plow_hex(t->id, 32, hex);
    printf("task          %s\n", hex);
    ledger_addr_format(t->requester, addr);
    printf("requester     %s\n", addr);
    printf("kind          %s\n", ledger_kind_name(t->p.kind));
    printf("mode          %s, %u %s\n", ledger_mode_name(t->p.mode), t->p.replicas,
           t->p.replicas == 1 ? "worker" : "workers");
    printf("status        %s\n", ledger_task_status_name(t->status));
    plow_hex(t->p.spec, 32, hex);
    printf("spec          %s\n", hex);
    const job_kind_facts *kf = job_kind_facts_ledger(t->p.kind);
    printf("%-13s %" PRIu64 "\n", kf ? kf->steps_unit : "steps", t->p.steps);
    printf("reward        %" PRIu64 " per worker (escrow %" PRIu64 ")\n", t->p.reward, t->escrow);
    printf("worker_stake  %" PRIu64 "\n", t->p.worker_stake);
    printf("min_bond      %" PRIu64 "\n", t->p.min_bond);
    printf("posted        block %" PRIu64 " (now %" PRIu64 ")\n", t->posted_at, now);
    deadline(t->posted_at + t->p.claim_blocks, now, d, sizeof d);
    printf("claim until   %s\n", d);
    printf("work          %u blocks per slot; challenge window %u blocks\n", t->p.work_blocks, t->p.window_blocks);
    if (t->window_end) {
        deadline(t->window_end, now, d, sizeof d);
        printf("window until  %s\n", d);
    }
    if (t->open_challenges) printf("challenges    %u open\n", t->open_challenges);
    for (int i = 0; i < t->p.replicas; i++) {
        const ledger_slot *s = &t->slots[i];
        printf("slot %d        %s", i, ledger_slot_status_name(s->status));
        if (s->status == LEDGER_SLOT_EMPTY) {
            printf("\n");
            continue;
        }
        ledger_addr_format(s->worker, addr);
        printf(" by %s, claimed at block %" PRIu64 "\n", addr, s->claimed_at);
        if (s->status == LEDGER_SLOT_CLAIMED) {
            deadline(s->claimed_at + t->p.work_blocks, now, d, sizeof d);
            printf("              commit by %s\n", d);
        }
        if (s->committed_at) {
            printf("              committed at block %" PRIu64 ": n %" PRIu64 ", checkpoint every %u\n",
                   s->committed_at, s->n, s->checkpoint_every);
            plow_hex(s->trace_root, 32, hex);
            printf("              trace_root  %s\n", hex);
            plow_hex(s->final_state, 32, hex);
            printf("              final_state %s\n", hex);
            plow_hex(s->artifact, 32, hex);
            printf("              artifact    %s\n", hex);
            plow_hex(s->manifest, 32, hex);
            printf("              manifest    %s\n", hex);
        }
    }
    for (int i = 0; i < n_ch; i++) {
        const ledger_challenge *c = &chs[i];
        plow_hex(c->id, 32, hex);
        printf("challenge     %s: %s, step %" PRIu64 ", bond %" PRIu64 ", opened at block %" PRIu64 "\n", hex,
               ledger_challenge_status_name(c->status), c->step, c->bond, c->opened_at);
        ledger_addr_format(c->challenger, addr);
        printf("              challenger %s\n", addr);
        ledger_addr_format(c->accused, addr);
        printf("              accused    %s\n", addr);
        if (c->has_other) {
            ledger_addr_format(c->other, addr);
            printf("              other      %s\n", addr);
        }
        if (c->status == LEDGER_CH_OPEN) {
            deadline(c->deadline, now, d, sizeof d);
            printf("              verdict by %s\n", d);
        } else {
            printf("              resolved at block %" PRIu64 "\n", c->resolved_at);
        }
    }
}

static int task_show(int argc, char **argv) {
    const char *node_url = NULL, *pos[1];
    bool json = false;
    int n_pos;
    const cli_opt opts[] = {{"--node", &node_url, NULL}, {"--json", NULL, &json}, {NULL, NULL, NULL}};
    int rc = cli_parse_opts("task", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("task", "expected: plow task show ID");
    char err[PLOW_ERR_LEN], hex[65], path[96];
    client *c = client_new(cli_node_url(node_url));
    if (!c) return cli_fail("cannot start the HTTP client");
    cJSON *j = NULL;
    ledger_challenge *chs = NULL;
    rc = 1;
    if (resolve_id(c, pos[0], hex, err)) {
        cli_fail("%s", err);
        goto out;
    }
    snprintf(path, sizeof path, "/v1/task/%s", hex);
    if (client_get_json(c, path, &j, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (json) {
        rc = print_json(j);
        goto out;
    }
    ledger_task t;
    if (json_task_from(j, &t, err)) {
        cli_fail("the node sent a malformed task: %s", err);
        goto out;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "challenges"), *ch;
    int n_ch = 0;
    if (arr && !cJSON_IsArray(arr)) {
        cli_fail("the node sent a malformed task: 'challenges' must be an array");
        goto out;
    }
    if (arr) {
        chs = plow_calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *chs);
        cJSON_ArrayForEach(ch, arr) {
            if (json_challenge_from(ch, &chs[n_ch], err)) {
                cli_fail("the node sent a malformed challenge: %s", err);
                goto out;
            }
            n_ch++;
        }
    }
    uint64_t now;
    if (client_height(c, &now, err)) {
        cli_fail("%s", err);
        goto out;
    }
    print_task(&t, chs, n_ch, now);
    rc = 0;
out:
    free(chs);
    cJSON_Delete(j);
    client_free(c);
    return rc;
}

int cmd_task(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(task_help, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(task_help, stderr);
        return 2;
    }
    if (strcmp(argv[1], "post") == 0) return task_post(argc, argv);
    if (strcmp(argv[1], "list") == 0) return task_list(argc, argv);
    if (strcmp(argv[1], "show") == 0) return task_show(argc, argv);
    return cli_usage_error("task", "unknown command '%s'", argv[1]);
}
