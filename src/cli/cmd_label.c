/*
 * cmd_label.c — plow label: crowdsourced labeling on a node, the
 * requester's and a person's commands (the dataset rebuild, `plow label
 * fortunes`, is cmd_label_data.c; the AI labeler agent, `plow labeler`, is
 * cmd_labeler.c). The shared code is src/agent/labeler.h;
 * the rules are the ledger's (docs/ledger.md, "Labeling"); the walk-through
 * is docs/labeling.md, "On the network".
 *
 * Everything a user typed is checked before anything is sent or uploaded;
 * a transaction the ledger refuses exits 1 with the rule's message.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../agent/agent.h"
#include "../agent/labeler.h"
#include "../label/label.h"
#include "../client/client.h"
#include "cli.h"
#include "cli_net.h"

static const char label_help[] =
    "usage: plow label <command> [arguments] [options]\n"
    "\n"
    "Crowdsourced labeling on a plow node: a requester posts items and a label set\n"
    "with hidden gold items; labelers (people here, AI agents with 'plow labeler')\n"
    "commit to their answers, reveal them once nobody can commit any more, and are\n"
    "paid by Dawid-Skene's estimate of their accuracy; a labeler under the gold\n"
    "threshold is slashed. docs/labeling.md walks through it.\n"
    "\n"
    "requester:\n"
    "  post --items FILE --classes a,b,... --labelers R --redundancy r --reward N\n"
    "       --worker-stake N --min-gold-pct P --secret FILE [--gold FILE]\n"
    "       [--claim-blocks N] [--work-blocks N] [--window-blocks N]\n"
    "                    uploads the items (JSONL {\"text\": ...} per line) and the\n"
    "                    spec, commits to the gold (JSONL {\"item\": i, \"label\": name})\n"
    "                    with a random salt, keeps gold and salt in the secret FILE\n"
    "                    (0600, never overwritten) and posts the task; prints its id.\n"
    "                    reward: each labeler's most pay (escrow reward x R)\n"
    "  gold TASK --secret FILE [--wait]\n"
    "                    reveals the gold once the labelers' window closed\n"
    "  finalize TASK [--wait]   settles the task (pay, slash, result); a task nobody\n"
    "                    committed to by the end of its work phase is expired\n"
    "  result TASK --out FILE [--text-out FILE] [--truth FILE] [--upload]\n"
    "                    rebuilds the aggregated dataset from the revealed labels\n"
    "                    (read from the blocks), checks it against the task's\n"
    "                    result, writes JSONL {\"text\", \"label\"} (and 'label: text'\n"
    "                    lines: training data for 'plow train --data'); --truth\n"
    "                    FILE (JSONL {\"text\", \"label\"}) also scores it against the\n"
    "                    majority vote of the same answers; --upload puts the text\n"
    "                    file on the node and prints its blob hash\n"
    "  fortunes --out DIR [--items N] [--gold-pct P] [--train N] [--seed S]\n"
    "           [--categories a,b,...] [--dir D]\n"
    "                    a labeling job from Debian's fortunes (each file a class):\n"
    "                    DIR/items.jsonl, gold.jsonl, truth.jsonl, train.jsonl,\n"
    "                    classes.txt\n"
    "\n"
    "labeler (a person):\n"
    "  show TASK         the task: items, classes, phases, slots, pay\n"
    "  claim TASK [--name N]   takes a slot (registers as a person and stakes if needed)\n"
    "  items TASK [--slot S]   the items of your slot (or of slot S) as JSONL\n"
    "                    {\"item\": index, \"text\": ...}\n"
    "  answer TASK [--answers FILE] [--state FILE] [--wait] [--name N]\n"
    "                    claims if needed, then labels your items: FILE has one\n"
    "                    class name per item, in the order 'items' prints ('-':\n"
    "                    stdin); without it, asks at the terminal. Commits with a\n"
    "                    random salt kept in the state FILE (default\n"
    "                    ~/.plow/labels/TASK.json, 0600); --wait then reveals\n"
    "  reveal TASK [--state FILE] [--wait]\n"
    "                    opens the commitment; the ledger accepts it once every\n"
    "                    slot committed (or nobody can commit any more) and until\n"
    "                    the window ends; --wait waits for that\n"
    "\n"
    "options:\n"
    "  --key FILE     the key (default $PLOW_KEY, else ~/.plow/key.json)\n"
    "  --node URL     the node (default $PLOW_NODE, else http://127.0.0.1:7545)\n"
    "  --fee N        each transaction's fee (default 1)\n"
    "  --timeout S    seconds to wait for a transaction's block (default 60)\n"
    "TASK is a task id (64 hex digits, or a unique prefix of at least 8).\n";

/* ---- shared ------------------------------------------------------------------------------------- */

typedef struct net {
    const char *key, *node, *fee_s, *timeout_s;
    client *c;
    ledger_key k;
    bool have_key;
    uint64_t fee;
    double timeout;
} net;

/* Options every node-facing subcommand takes, to be appended to its own. */
#define NET_OPTS(n)                                                                                                    \
    {"--key", &(n).key, NULL}, {"--node", &(n).node, NULL}, {"--fee", &(n).fee_s, NULL},                               \
        {"--timeout", &(n).timeout_s, NULL}

static int net_open(net *n, bool need_key, char err[PLOW_ERR_LEN]) {
    n->fee = CLI_DEFAULT_FEE;
    if (n->fee_s && cli_amount("--fee", n->fee_s, &n->fee, err)) return -1;
    if (cli_timeout(n->timeout_s, &n->timeout, err)) return -1;
    if (need_key) {
        if (cli_load_key(n->key, &n->k, err)) return -1;
        n->have_key = true;
    }
    n->c = client_new(cli_node_url(n->node));
    if (!n->c) return plow_error(err, "cannot start the HTTP client");
    if (n->have_key) client_set_key(n->c, &n->k); /* it signs the uploads */
    return 0;
}

static void net_close(net *n) {
    if (n->have_key) ledger_key_wipe(&n->k);
    client_free(n->c);
}

/* Sends tx; -1 with the ledger's message when it was refused. */
static int send(net *n, ledger_tx *tx, uint64_t *height, char err[PLOW_ERR_LEN]) {
    tx->fee = n->fee;
    return client_send_at(n->c, &n->k, tx, n->timeout, NULL, height, err);
}

/* TASK: 64 hex digits or a unique prefix (>= 8) among the newest 1000 tasks. */
static int resolve_task(client *c, const char *s, ledger_task *t, char err[PLOW_ERR_LEN]) {
    size_t n = strlen(s);
    if (n < 8 || n > 64 || strspn(s, "0123456789abcdefABCDEF") != n)
        return plow_error(err, "a task id is 64 hex digits (or a prefix of at least 8), got '%.70s'", s);
    uint8_t id[32];
    if (n == 64) {
        if (plow_unhex(s, id, 32)) return plow_error(err, "bad task id '%s'", s);
        return client_task(c, id, t, err);
    }
    cJSON *j = NULL;
    if (client_get_json(c, "/v1/tasks?limit=1000", &j, err)) return -1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "tasks"), *it;
    int found = 0;
    char low[65], want[65];
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)s[i]);
    cJSON_ArrayForEach(it, arr) {
        const char *x = json_get_str(it, "id");
        if (x && strlen(x) == 64 && strncmp(x, low, n) == 0 && found++ == 0) memcpy(want, x, 65);
    }
    cJSON_Delete(j);
    if (found == 0) return plow_error(err, "no task id starts with '%s'", low);
    if (found > 1) return plow_error(err, "'%s' is the start of %d task ids: give more digits", low, found);
    if (plow_unhex(want, id, 32)) return plow_error(err, "bad task id from the node");
    return client_task(c, id, t, err);
}

static int label_task(client *c, const char *s, ledger_task *t, char err[PLOW_ERR_LEN]) {
    if (resolve_task(c, s, t, err)) return -1;
    if (t->p.kind != LEDGER_KIND_LABEL) {
        char id[17];
        plow_hex(t->id, 8, id);
        return plow_error(err, "task %s is a %s task, not a label task", id, ledger_kind_name(t->p.kind));
    }
    return 0;
}

static void short_id(const uint8_t id[32], char out[17]) { plow_hex(id, 8, out); }

/* ~/.plow/labels/TASK.json, the directory created 0700. */
static int default_state_path(const uint8_t task[32], char *out, size_t n, char err[PLOW_ERR_LEN]) {
    const char *home = getenv("HOME");
    if (!home || !*home) return plow_error(err, "HOME is not set: pass --state FILE");
    char dir[3000];
    if (strlen(home) > 2900) return plow_error(err, "HOME is too long: pass --state FILE");
    snprintf(dir, sizeof dir, "%s/.plow/labels", home);
    if (plow_mkdir_p(dir, err)) return -1;
    chmod(dir, 0700);
    char hex[65];
    plow_hex(task, 32, hex);
    snprintf(out, n, "%s/%s.json", dir, hex);
    return 0;
}

/* Waits (printing what for, once) until ready(t, height) or the task cannot
 * get there any more (stop(t) returns the reason). */
typedef const char *(*wait_fn)(const ledger_task *t, uint64_t height, uint64_t *at);
static int wait_until(net *n, ledger_task *t, wait_fn ready, const char *what, char err[PLOW_ERR_LEN]) {
    bool said = false;
    for (;;) {
        uint64_t h, at = 0;
        if (client_height(n->c, &h, err) || client_task(n->c, t->id, t, err)) return -1;
        const char *r = ready(t, h, &at);
        if (!r) return 0;
        if (strcmp(r, "wait") != 0) return plow_error(err, "%s", r);
        if (!said) {
            if (at) fprintf(stderr, "waiting for %s (block %" PRIu64 ", now %" PRIu64 ")\n", what, at, h);
            else fprintf(stderr, "waiting for %s (now block %" PRIu64 ")\n", what, h);
            said = true;
        }
        usleep(200000);
    }
}

/* registers pk as a person (if it has no profile) and bonds what t's slot needs */
static int ready_to_claim(net *n, const ledger_task *t, const char *name, char err[PLOW_ERR_LEN]) {
    ledger_account a;
    uint64_t next;
    if (client_account(n->c, n->k.pk, &a, &next, err)) return -1;
    if (a.profile == 0) {
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_REGISTER;
        tx.u.reg.kind = LEDGER_PERSON;
        snprintf(tx.u.reg.name, sizeof tx.u.reg.name, "%s", name);
        snprintf(tx.u.reg.caps, sizeof tx.u.reg.caps, "{\"kinds\":[\"label\"]}");
        if (send(n, &tx, NULL, err)) return plow_error_prefix(err, "register");
        fprintf(stderr, "registered as person '%s'\n", name);
    }
    uint64_t free_stake = a.stake > a.locked ? a.stake - a.locked : 0;
    if (t->p.worker_stake > free_stake) {
        ledger_tx tx;
        memset(&tx, 0, sizeof tx);
        tx.type = LEDGER_TX_STAKE;
        tx.u.stake.amount = t->p.worker_stake - free_stake;
        if (send(n, &tx, NULL, err)) return plow_error_prefix(err, "stake");
        fprintf(stderr, "staked %" PRIu64 " (the task's stake per labeler is %" PRIu64 ")\n", tx.u.stake.amount,
                t->p.worker_stake);
    }
    return 0;
}

/* Claims a slot of t for n's key (if it holds none); *slot its index. */
static int claim_slot(net *n, ledger_task *t, const char *name, int *slot, char err[PLOW_ERR_LEN]) {
    *slot = labeler_slot_of(t, n->k.pk);
    if (*slot >= 0) return 0;
    if (ready_to_claim(n, t, name, err)) return -1;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_CLAIM;
    memcpy(tx.u.ref.task, t->id, 32);
    uint64_t h;
    if (send(n, &tx, &h, err) || client_task(n->c, t->id, t, err)) return -1;
    *slot = labeler_slot_of(t, n->k.pk);
    if (*slot < 0) return plow_error(err, "the claim went through but the ledger shows no slot of ours");
    char id[17];
    short_id(t->id, id);
    fprintf(stderr, "claimed slot %d of task %s in block %" PRIu64 ": %" PRIu64 " items to label by block %" PRIu64 "\n",
            *slot, id, h, ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)*slot),
            t->slots[*slot].claimed_at + t->p.work_blocks);
    return 0;
}

/* The item indices of slot s (caller frees). */
static uint32_t *slot_items(const ledger_task *t, uint32_t s, uint32_t *count, char err[PLOW_ERR_LEN]) {
    uint64_t cnt = ledger_label_slot_count(t->p.steps, t->p.replicas, t->p.redundancy, s);
    if (cnt > LEDGER_LABELS_MAX) return plow_error(err, "slot %u has %" PRIu64 " items", s, cnt), NULL;
    uint32_t *idx = plow_alloc((cnt ? cnt : 1) * sizeof *idx);
    ledger_label_slot_items(t->p.steps, t->p.replicas, t->p.redundancy, s, idx, cnt);
    *count = (uint32_t)cnt;
    return idx;
}

static void class_list(const job_spec *s, char *out, size_t n) {
    out[0] = 0;
    for (uint32_t k = 0; k < s->n_classes && strlen(out) + 40 < n; k++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", k ? ", " : "", s->classes[k]);
}

/* ---- fortunes ------------------------------------------------------------------------------------- */

static int parse_classes(const char *csv, job_spec *s, char err[PLOW_ERR_LEN]) {
    s->n_classes = 0;
    const char *p = csv;
    for (;;) {
        size_t l = strcspn(p, ",");
        if (s->n_classes == JOB_LABEL_CLASSES_MAX)
            return plow_error(err, "--classes: more than %d classes", JOB_LABEL_CLASSES_MAX);
        char name[JOB_LABEL_NAME_MAX + 2];
        if (l > JOB_LABEL_NAME_MAX) return plow_error(err, "--classes: '%.*s' is longer than %d characters", (int)l, p, JOB_LABEL_NAME_MAX);
        memcpy(name, p, l);
        name[l] = 0;
        if (!label_class_name_ok(name))
            return plow_error(err, "--classes: '%s' is not a class name (1..%d characters [A-Za-z0-9_.-])", name,
                              JOB_LABEL_NAME_MAX);
        for (uint32_t k = 0; k < s->n_classes; k++)
            if (strcmp(s->classes[k], name) == 0) return plow_error(err, "--classes: '%s' appears twice", name);
        memcpy(s->classes[s->n_classes++], name, l + 1);
        if (!p[l]) break;
        p += l + 1;
    }
    if (s->n_classes < 2) return plow_error(err, "--classes: a label task needs 2..%d classes", JOB_LABEL_CLASSES_MAX);
    return 0;
}

/* A label task's items (parsed, in the canonical form that is uploaded) and
 * gold, refused here if the ledger would refuse them after the uploads. */
static int post_inputs(const char *items_f, const char *gold_f, uint32_t labelers, uint32_t red, job_spec *spec,
                       label_items *items, plow_buf *blob, labeler_secret *sec, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = plow_read_file(items_f, LABEL_FILE_MAX, &buf, &len, err) || label_items_parse(items, buf, len, items_f, err);
    free(buf);
    if (rc) return -1;
    label_items_write(items, blob);
    plow_sha256_once(blob->data, blob->len, spec->items);
    spec->n_items = (uint32_t)items->n;
    for (uint32_t s = 0; s < labelers; s++) {
        uint64_t c = ledger_label_slot_count(items->n, labelers, red, s);
        if (c > LEDGER_LABELS_MAX)
            return plow_error(err, "a labeler would get %" PRIu64 " items, more than one reveal carries (%d): use more "
                                   "labelers or a smaller redundancy",
                              c, LEDGER_LABELS_MAX);
    }
    if ((uint64_t)items->n * labelers * spec->n_classes > LEDGER_LABEL_CELLS_MAX)
        return plow_error(err, "%zu items x %u labelers x %u classes is more than %u to aggregate: split the items "
                               "into smaller tasks",
                          items->n, labelers, spec->n_classes, LEDGER_LABEL_CELLS_MAX);
    if (!gold_f) return 0;
    if (plow_read_file(gold_f, LABEL_FILE_MAX, &buf, &len, err)) return -1;
    rc = labeler_gold_parse(buf, len, gold_f, spec, sec->items, sec->labels, &sec->count, err);
    free(buf);
    return rc;
}

/* What `plow label post` was asked for. */
typedef struct label_post {
    const char *items_f, *classes_s, *gold_f, *secret_f;
    long labelers, red, pct, claim_b, work_b, window_b;
    uint64_t reward, stake;
} label_post;

static int post_parse(int argc, char **argv, net *n, label_post *lp) {
    const char *labelers_s = NULL, *red_s = NULL, *reward_s = NULL, *stake_s = NULL, *pct_s = NULL, *claim_s = NULL,
               *work_s = NULL, *window_s = NULL, *pos[1];
    const cli_opt opts[] = {{"--items", &lp->items_f, NULL},
                            {"--classes", &lp->classes_s, NULL},
                            {"--gold", &lp->gold_f, NULL},
                            {"--labelers", &labelers_s, NULL},
                            {"--redundancy", &red_s, NULL},
                            {"--reward", &reward_s, NULL},
                            {"--worker-stake", &stake_s, NULL},
                            {"--min-gold-pct", &pct_s, NULL},
                            {"--claim-blocks", &claim_s, NULL},
                            {"--work-blocks", &work_s, NULL},
                            {"--window-blocks", &window_s, NULL},
                            {"--secret", &lp->secret_f, NULL},
                            NET_OPTS(*n),
                            {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!lp->items_f || !lp->classes_s || !labelers_s || !red_s || !reward_s || !stake_s || !pct_s || !lp->secret_f)
        return cli_usage_error("label", "post needs --items, --classes, --labelers, --redundancy, --reward, "
                                        "--worker-stake, --min-gold-pct and --secret");
    char err[PLOW_ERR_LEN];
    lp->claim_b = 100, lp->work_b = 200, lp->window_b = 40;
    if (cli_int("--labelers", labelers_s, 2, LEDGER_MAX_REPLICAS, &lp->labelers, err) ||
        cli_int("--redundancy", red_s, 1, lp->labelers, &lp->red, err) ||
        cli_amount("--reward", reward_s, &lp->reward, err) || cli_amount("--worker-stake", stake_s, &lp->stake, err) ||
        cli_int("--min-gold-pct", pct_s, 0, 100, &lp->pct, err) ||
        (claim_s && cli_int("--claim-blocks", claim_s, 1, 1000000, &lp->claim_b, err)) ||
        (work_s && cli_int("--work-blocks", work_s, 1, 1000000, &lp->work_b, err)) ||
        (window_s && cli_int("--window-blocks", window_s, 1, 1000000, &lp->window_b, err)))
        return cli_usage_error("label", "%s", err);
    if (lp->reward == 0) return cli_usage_error("label", "--reward must be positive");
    return 0;
}

/* The post_task transaction of a label task over n_items items. */
static void post_fill(ledger_tx *tx, const label_post *lp, const job_spec *spec, size_t n_items,
                      const labeler_secret *sec) {
    ledger_task_params *p = &tx->u.post;
    tx->type = LEDGER_TX_POST_TASK;
    p->kind = LEDGER_KIND_LABEL;
    p->mode = LEDGER_MODE_REPLICATED;
    p->reward = lp->reward;
    p->worker_stake = lp->stake;
    p->replicas = (uint8_t)lp->labelers;
    p->steps = n_items;
    p->claim_blocks = (uint32_t)lp->claim_b;
    p->work_blocks = (uint32_t)lp->work_b;
    p->window_blocks = (uint32_t)lp->window_b;
    p->n_classes = spec->n_classes;
    p->redundancy = (uint32_t)lp->red;
    memcpy(p->gold_commit, sec->commitment, 32);
    p->min_gold_pct = (uint32_t)lp->pct;
}

static int sub_post(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    label_post lp = {0};
    int rc = post_parse(argc, argv, &n, &lp);
    if (rc) return rc;
    char err[PLOW_ERR_LEN];
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    job_spec *spec = plow_calloc(1, sizeof *spec);
    label_items items;
    memset(&items, 0, sizeof items);
    labeler_secret *sec = plow_calloc(1, sizeof *sec);
    plow_buf blob = {0}, sb = {0};
    rc = 1;
    spec->kind = TASK_LABEL;
    if (parse_classes(lp.classes_s, spec, err)) {
        rc = cli_usage_error("label", "%s", err);
        goto out;
    }
    if (post_inputs(lp.items_f, lp.gold_f, (uint32_t)lp.labelers, (uint32_t)lp.red, spec, &items, &blob, sec, err)) {
        cli_fail("%s", err);
        goto out;
    }
    /* the gold commitment: a secret random salt (the task id does not exist yet) */
    randombytes_buf(sec->salt, sizeof sec->salt);
    ledger_gold_commitment(sec->salt, sec->count, sec->items, sec->labels, sec->commitment);
    if (net_open(&n, true, err)) {
        cli_fail("%s", err);
        goto out;
    }
    /* kept before anything is posted: losing it would lose the gold reveal */
    if (labeler_secret_write(lp.secret_f, sec, true, err)) {
        cli_fail("%s", err);
        goto out;
    }
    uint8_t h[32];
    if (client_blob_put(n.c, blob.data, blob.len, h, err)) {
        cli_fail("uploading the items: %s", err);
        goto out;
    }
    job_spec_write(spec, &sb);
    if (client_blob_put(n.c, sb.data, sb.len, tx->u.post.spec, err)) {
        cli_fail("uploading the spec: %s", err);
        goto out;
    }
    post_fill(tx, &lp, spec, items.n, sec);
    tx->fee = n.fee;
    uint64_t height;
    if (client_send_at(n.c, &n.k, tx, n.timeout, sec->task, &height, err)) {
        cli_fail("%s", err);
        goto out;
    }
    sec->has_task = true;
    if (labeler_secret_write(lp.secret_f, sec, false, err)) {
        fprintf(stderr, "plow: warning: the task is posted but the secret could not be updated: %s\n", err);
    }
    char hex[65], cls[512];
    plow_hex(sec->task, 32, hex);
    class_list(spec, cls, sizeof cls);
    fprintf(stderr,
            "label task posted in block %" PRIu64 ": %zu items, classes %s; %ld labelers, each item labeled by %ld; "
            "reward up to %" PRIu64 " per labeler (escrow %" PRIu64 "), stake %" PRIu64 "; %u gold items hidden, "
            "threshold %ld%%\n",
            height, items.n, cls, lp.labelers, lp.red, lp.reward, lp.reward * (uint64_t)lp.labelers, lp.stake,
            sec->count, lp.pct);
    fprintf(stderr, "gold and salt kept in %s (reveal them with 'plow label gold %.16s --secret %s')\n", lp.secret_f,
            hex, lp.secret_f);
    printf("%s\n", hex);
    rc = 0;
out:
    plow_buf_release(&blob);
    plow_buf_release(&sb);
    label_items_release(&items);
    sodium_memzero(sec, sizeof *sec);
    free(sec);
    free(spec);
    free(tx);
    net_close(&n);
    return rc;
}

/* ---- show --------------------------------------------------------------------------------------- */

static int sub_show(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *pos[1];
    const cli_opt opts[] = {NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label show TASK");
    char err[PLOW_ERR_LEN];
    ledger_task t;
    job_spec *spec = plow_calloc(1, sizeof *spec);
    uint64_t h;
    rc = 1;
    if (net_open(&n, false, err) || label_task(n.c, pos[0], &t, err) || labeler_fetch_task(n.c, &t, spec, NULL, err) ||
        client_height(n.c, &h, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char hex[65], cls[1024], addr[LEDGER_ADDR_STR_LEN];
    plow_hex(t.id, 32, hex);
    class_list(spec, cls, sizeof cls);
    printf("task          %s\n", hex);
    printf("items         %" PRIu64 ", each labeled by %u of %u labelers\n", t.p.steps, t.p.redundancy, t.p.replicas);
    printf("classes       %s\n", cls);
    printf("status        %s (block %" PRIu64 " now)\n", ledger_task_status_name(t.status), h);
    printf("reward        up to %" PRIu64 " per labeler (escrow %" PRIu64 ")\n", t.p.reward, t.escrow);
    printf("stake         %" PRIu64 " per labeler\n", t.p.worker_stake);
    printf("gold          %s, threshold %u%%\n", t.gold_revealed ? "revealed" : "hidden", t.p.min_gold_pct);
    printf("claims until  block %" PRIu64 "\n", t.posted_at + t.p.claim_blocks);
    if (t.window_end) {
        printf("reveals       from block %" PRIu64 " until block %" PRIu64 "\n", ledger_label_reveal_from(&t), t.window_end);
        printf("gold until    block %" PRIu64 "\n", t.window_end + t.p.window_blocks);
    }
    for (int s = 0; s < t.p.replicas; s++) {
        const ledger_slot *sl = &t.slots[s];
        if (sl->status == LEDGER_SLOT_EMPTY) {
            printf("slot %d        empty\n", s);
            continue;
        }
        ledger_addr_format(sl->worker, addr);
        printf("slot %d        %s%s %s", s, ledger_slot_status_name(sl->status), (t.revealed >> s) & 1 ? " revealed" : "",
               addr);
        if (t.status == LEDGER_TASK_FINALIZED) printf(" paid %" PRIu64, t.paid[s]);
        printf("\n");
    }
    if (t.status == LEDGER_TASK_FINALIZED) {
        plow_hex(t.result, 32, hex);
        printf("result        %s\n", hex);
    }
    rc = 0;
out:
    free(spec);
    net_close(&n);
    return rc;
}

/* ---- claim, items ---------------------------------------------------------------------------------- */

static int sub_claim(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *name = NULL, *pos[1];
    const cli_opt opts[] = {{"--name", &name, NULL}, NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label claim TASK");
    char err[PLOW_ERR_LEN];
    ledger_task t;
    int slot;
    rc = 1;
    if (net_open(&n, true, err) || label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (labeler_slot_of(&t, n.k.pk) >= 0) {
        fprintf(stderr, "you hold slot %d of this task already\n", labeler_slot_of(&t, n.k.pk));
    } else if (claim_slot(&n, &t, name ? name : "person", &slot, err)) {
        cli_fail("%s", err);
        goto out;
    }
    rc = 0;
out:
    net_close(&n);
    return rc;
}

static int sub_items(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *slot_s = NULL, *pos[1];
    const cli_opt opts[] = {{"--slot", &slot_s, NULL}, NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label items TASK [--slot S]");
    char err[PLOW_ERR_LEN];
    long slot = -1;
    if (slot_s && cli_int("--slot", slot_s, 0, LEDGER_MAX_REPLICAS - 1, &slot, err))
        return cli_usage_error("label", "%s", err);
    ledger_task t;
    job_spec *spec = plow_calloc(1, sizeof *spec);
    label_items items;
    memset(&items, 0, sizeof items);
    uint32_t *idx = NULL, cnt = 0;
    rc = 1;
    if (net_open(&n, slot < 0, err) || label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char id[17];
    short_id(t.id, id);
    if (slot < 0) {
        slot = labeler_slot_of(&t, n.k.pk);
        if (slot < 0) {
            cli_fail("you hold no slot of task %s: claim one with 'plow label claim %s' (or see any slot's items with "
                     "--slot S)",
                     id, id);
            goto out;
        }
    } else if (slot >= t.p.replicas) {
        cli_fail("task %s has %u slots (0..%u)", id, t.p.replicas, t.p.replicas - 1);
        goto out;
    }
    if (labeler_fetch_task(n.c, &t, spec, &items, err) || !(idx = slot_items(&t, (uint32_t)slot, &cnt, err))) {
        cli_fail("%s", err);
        goto out;
    }
    for (uint32_t j = 0; j < cnt; j++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "item", idx[j]);
        cJSON_AddStringToObject(o, "text", items.text[idx[j]]);
        char *txt = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        printf("%s\n", txt);
        free(txt);
    }
    char cls[1024];
    class_list(spec, cls, sizeof cls);
    fprintf(stderr, "%u items of slot %ld; classes: %s\n", cnt, slot, cls);
    rc = 0;
out:
    free(idx);
    label_items_release(&items);
    free(spec);
    net_close(&n);
    return rc;
}

/* ---- answer, reveal ----------------------------------------------------------------------------------- */

static void trim(char *s) {
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1])) s[--l] = 0;
    size_t b = 0;
    while (s[b] && isspace((unsigned char)s[b])) b++;
    if (b) memmove(s, s + b, l - b + 1);
}

/* One class name per line, count lines (count UINT32_MAX: any number, only
 * the names are checked; *got says how many). */
static int read_answers(const char *path, const job_spec *spec, uint32_t count, uint8_t *labels, uint32_t *n_got,
                        char err[PLOW_ERR_LEN]) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) return plow_error(err, "cannot read %s: %s", path, strerror(errno));
    const char *what = strcmp(path, "-") == 0 ? "stdin" : path;
    char line[4096], cls[1024];
    uint32_t got = 0, ln = 0;
    int rc = -1;
    class_list(spec, cls, sizeof cls);
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f)) {
            plow_error(err, "%s line %u is too long", what, ln);
            goto out;
        }
        trim(line);
        if (!line[0]) {
            plow_error(err, "%s line %u is empty: one class name per line, one line per item", what, ln);
            goto out;
        }
        int k = labeler_class_index(spec, line);
        if (k < 0) {
            plow_error(err, "%s line %u: '%.40s' is not a class (%.120s)", what, ln, line, cls);
            goto out;
        }
        if (got == count) {
            plow_error(err, "%s has more than %u answers: your slot has %u items", what, count, count);
            goto out;
        }
        if (got == LEDGER_LABELS_MAX) {
            plow_error(err, "%s has more than %d answers, more than any slot has items", what, LEDGER_LABELS_MAX);
            goto out;
        }
        labels[got++] = (uint8_t)k;
    }
    *n_got = got;
    if (count != UINT32_MAX && got != count) {
        plow_error(err, "%s has %u answers, your slot has %u items (see 'plow label items')", what, got, count);
        goto out;
    }
    rc = 0;
out:
    if (f != stdin) fclose(f);
    return rc;
}

/* Asks at the terminal: the item, then a class name or number. */
static int ask_answers(const job_spec *spec, const label_items *items, const uint32_t *idx, uint32_t count,
                       uint8_t *labels, char err[PLOW_ERR_LEN]) {
    char line[256];
    for (uint32_t j = 0; j < count; j++) {
        printf("\n[%u/%u] item %u:\n%s\n", j + 1, count, idx[j], items->text[idx[j]]);
        for (uint32_t k = 0; k < spec->n_classes; k++) printf("  %u) %s", k + 1, spec->classes[k]);
        printf("\n");
        for (;;) {
            printf("label> ");
            fflush(stdout);
            if (!fgets(line, sizeof line, stdin))
                return plow_error(err, "stopped at item %u of %u: nothing committed (the slot stays yours until its "
                                       "commit deadline: run 'plow label answer' again)",
                                  j + 1, count);
            trim(line);
            int k = labeler_class_index(spec, line);
            char *end;
            long v = strtol(line, &end, 10);
            if (k < 0 && line[0] && !*end && v >= 1 && v <= (long)spec->n_classes) k = (int)v - 1;
            if (k >= 0) {
                labels[j] = (uint8_t)k;
                break;
            }
            printf("'%s' is not a class: type its name or number\n", line);
        }
    }
    return 0;
}

static const char *reveal_ready(const ledger_task *t, uint64_t h, uint64_t *at) {
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED) return "the task is settled already";
    if (t->window_end == 0) return "wait";
    *at = ledger_label_reveal_from(t);
    if (h + 1 < *at) return "wait";
    if (h + 1 > t->window_end) return "the reveal window has closed";
    return NULL;
}

/* Sends the LABEL_REVEAL of state st; the ledger checks it. */
static int reveal_state(net *n, ledger_task *t, const labeler_state *st, bool wait, char err[PLOW_ERR_LEN]) {
    char id[17];
    short_id(t->id, id);
    if (st->copied) return plow_error(err, "this state holds someone else's commitment: there is nothing to open");
    if (memcmp(st->task, t->id, 32) != 0) return plow_error(err, "the state file is for another task");
    if (memcmp(st->labeler, n->k.pk, 32) != 0) return plow_error(err, "the state file is another key's");
    int s = labeler_slot_of(t, n->k.pk);
    if (s < 0) return plow_error(err, "you hold no slot of task %s", id);
    if ((t->revealed >> s) & 1) {
        fprintf(stderr, "slot %d of task %s revealed already\n", s, id);
        return 0;
    }
    if (t->slots[s].status != LEDGER_SLOT_COMMITTED)
        return plow_error(err, "your slot of task %s is %s, not committed", id, ledger_slot_status_name(t->slots[s].status));
    if (wait && wait_until(n, t, reveal_ready, "the reveal window", err)) return -1;
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    tx->type = LEDGER_TX_LABEL_REVEAL;
    memcpy(tx->u.reveal.task, t->id, 32);
    memcpy(tx->u.reveal.salt, st->salt, 32);
    tx->u.reveal.count = st->count;
    memcpy(tx->u.reveal.labels, st->labels, st->count);
    uint64_t h;
    int rc = send(n, tx, &h, err);
    free(tx);
    if (rc) return -1;
    fprintf(stderr, "revealed %u labels for slot %d of task %s in block %" PRIu64 "\n", st->count, s, id, h);
    return 0;
}

/* The answers' state goes to path before the commit is sent (the salt and
 * labels are needed to reveal). A state already there may be for a commit
 * still on its way: it is kept, salt included, if it says the same. */
static int keep_state(const char *path, labeler_state *st, char err[PLOW_ERR_LEN]) {
    if (!plow_file_exists(path)) {
        labeler_state_seal(st);
        return labeler_state_write(path, st, err);
    }
    char e[PLOW_ERR_LEN];
    labeler_state *old = plow_calloc(1, sizeof *old);
    int rc = -1;
    if (labeler_state_read(path, old, e) != 0 || memcmp(old->task, st->task, 32) != 0 ||
        memcmp(old->labeler, st->labeler, 32) != 0)
        plow_error(err, "%s exists and is not this task's state: pass another --state FILE", path);
    else if (old->count != st->count || memcmp(old->labels, st->labels, st->count) != 0)
        plow_error(err,
                   "%s holds other answers for this task, perhaps a commit on its way: reveal it, or remove the file "
                   "to answer again",
                   path);
    else {
        memcpy(st, old, sizeof *st);
        rc = 0;
    }
    free(old);
    return rc;
}

/* Sends the COMMIT of state st and reads the task back into t. */
static int commit_state(net *n, ledger_task *t, const labeler_state *st, const char *path, char err[PLOW_ERR_LEN]) {
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_COMMIT;
    memcpy(tx.u.commit.task, t->id, 32);
    memcpy(tx.u.commit.trace_root, st->commitment, 32);
    tx.u.commit.n = st->count;
    uint64_t h;
    if (send(n, &tx, &h, err) || client_task(n->c, t->id, t, err)) return -1;
    char id[17];
    short_id(t->id, id);
    fprintf(stderr, "committed %u labels for slot %u of task %s in block %" PRIu64 "; salt and labels kept in %s\n",
            st->count, st->slot, id, h, path);
    return 0;
}

static int sub_answer(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *answers = NULL, *state_f = NULL, *name = NULL, *pos[1];
    bool wait = false;
    const cli_opt opts[] = {{"--answers", &answers, NULL}, {"--state", &state_f, NULL}, {"--name", &name, NULL},
                            {"--wait", NULL, &wait},       NET_OPTS(n),                 {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label answer TASK [--answers FILE]");
    if (!answers && !isatty(0))
        return cli_usage_error("label", "answer: give --answers FILE (one class name per item), or run it at a terminal");
    char err[PLOW_ERR_LEN], path[4096];
    ledger_task t;
    job_spec *spec = plow_calloc(1, sizeof *spec);
    label_items items;
    memset(&items, 0, sizeof items);
    labeler_state *st = plow_calloc(1, sizeof *st);
    uint32_t *idx = NULL, cnt = 0;
    int slot;
    rc = 1;
    if (net_open(&n, true, err) || label_task(n.c, pos[0], &t, err) || labeler_fetch_task(n.c, &t, spec, &items, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (state_f) snprintf(path, sizeof path, "%s", state_f);
    else if (default_state_path(t.id, path, sizeof path, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char id[17];
    short_id(t.id, id);
    slot = labeler_slot_of(&t, n.k.pk);
    if (slot >= 0 && t.slots[slot].status != LEDGER_SLOT_CLAIMED) {
        if (t.slots[slot].status == LEDGER_SLOT_COMMITTED && wait) {
            if (labeler_state_read(path, st, err) || reveal_state(&n, &t, st, true, err)) {
                cli_fail("%s", err);
                goto out;
            }
            rc = 0;
            goto out;
        }
        cli_fail("your slot %d of task %s is %s: %s", slot, id, ledger_slot_status_name(t.slots[slot].status),
                 t.slots[slot].status == LEDGER_SLOT_COMMITTED ? "reveal with 'plow label reveal'" : "nothing to answer");
        goto out;
    }
    /* the answers are checked before anything is sent */
    uint32_t got = 0;
    if (slot < 0) {
        /* the slot, and so its item count, is known once claimed: the names are checked before the claim */
        if (answers && strcmp(answers, "-") != 0 && read_answers(answers, spec, UINT32_MAX, st->labels, &got, err)) {
            cli_fail("%s", err);
            goto out;
        }
        if (claim_slot(&n, &t, name ? name : "person", &slot, err)) {
            cli_fail("%s", err);
            goto out;
        }
    }
    if (!(idx = slot_items(&t, (uint32_t)slot, &cnt, err)) ||
        (answers ? read_answers(answers, spec, cnt, st->labels, &got, err)
                 : ask_answers(spec, &items, idx, cnt, st->labels, err))) {
        cli_fail("%s", err);
        goto out;
    }
    memcpy(st->task, t.id, 32);
    memcpy(st->labeler, n.k.pk, 32);
    st->slot = (uint32_t)slot;
    st->count = cnt;
    if (keep_state(path, st, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (commit_state(&n, &t, st, path, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (wait) {
        if (reveal_state(&n, &t, st, true, err)) {
            cli_fail("%s", err);
            goto out;
        }
    } else {
        fprintf(stderr, "reveal with 'plow label reveal %s' once every slot has committed (or after block %" PRIu64
                        "), before the window closes\n",
                id, t.posted_at + t.p.claim_blocks + t.p.work_blocks);
    }
    rc = 0;
out:
    free(idx);
    label_items_release(&items);
    free(spec);
    free(st);
    net_close(&n);
    return rc;
}

static int sub_reveal(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *state_f = NULL, *pos[1];
    bool wait = false;
    const cli_opt opts[] = {{"--state", &state_f, NULL}, {"--wait", NULL, &wait}, NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label reveal TASK [--state FILE] [--wait]");
    char err[PLOW_ERR_LEN], path[4096];
    ledger_task t;
    labeler_state *st = plow_calloc(1, sizeof *st);
    rc = 1;
    if (net_open(&n, true, err) || label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (state_f) snprintf(path, sizeof path, "%s", state_f);
    else if (default_state_path(t.id, path, sizeof path, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (!plow_file_exists(path)) {
        cli_fail("no state at %s: answer with 'plow label answer' first (or pass --state FILE)", path);
        goto out;
    }
    if (labeler_state_read(path, st, err) || reveal_state(&n, &t, st, wait, err)) {
        cli_fail("%s", err);
        goto out;
    }
    rc = 0;
out:
    free(st);
    net_close(&n);
    return rc;
}

/* ---- gold, finalize ----------------------------------------------------------------------------------- */

static const char *gold_ready(const ledger_task *t, uint64_t h, uint64_t *at) {
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED) return "the task is settled already";
    if (t->window_end == 0) {
        *at = t->posted_at + t->p.claim_blocks + t->p.work_blocks + 1;
        return h + 1 >= *at ? "nobody committed to the task: there is nothing to reveal the gold for" : "wait";
    }
    *at = t->window_end + 1;
    if (h + 1 <= t->window_end) return "wait";
    return NULL;
}

static int sub_gold(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *secret_f = NULL, *pos[1];
    bool wait = false;
    const cli_opt opts[] = {{"--secret", &secret_f, NULL}, {"--wait", NULL, &wait}, NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1 || !secret_f) return cli_usage_error("label", "expected: plow label gold TASK --secret FILE [--wait]");
    char err[PLOW_ERR_LEN];
    ledger_task t;
    labeler_secret *sec = plow_calloc(1, sizeof *sec);
    ledger_tx *tx = plow_calloc(1, sizeof *tx);
    rc = 1;
    if (labeler_secret_read(secret_f, sec, err) || net_open(&n, true, err) || label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char id[17];
    short_id(t.id, id);
    if ((sec->has_task && memcmp(sec->task, t.id, 32) != 0) || memcmp(sec->commitment, t.p.gold_commit, 32) != 0) {
        cli_fail("%s is not the secret of task %s (its gold commitment differs)", secret_f, id);
        goto out;
    }
    if (t.gold_revealed) {
        fprintf(stderr, "the gold of task %s is revealed already\n", id);
        rc = 0;
        goto out;
    }
    if (wait && wait_until(&n, &t, gold_ready, "the labelers' window to close", err)) {
        cli_fail("%s", err);
        goto out;
    }
    tx->type = LEDGER_TX_GOLD_REVEAL;
    memcpy(tx->u.gold.task, t.id, 32);
    memcpy(tx->u.gold.salt, sec->salt, 32);
    tx->u.gold.count = sec->count;
    memcpy(tx->u.gold.items, sec->items, sec->count * sizeof *sec->items);
    memcpy(tx->u.gold.labels, sec->labels, sec->count);
    uint64_t h;
    if (send(&n, tx, &h, err)) {
        cli_fail("%s", err);
        goto out;
    }
    fprintf(stderr, "revealed %u gold items of task %s in block %" PRIu64 "\n", sec->count, id, h);
    rc = 0;
out:
    sodium_memzero(sec, sizeof *sec);
    free(sec);
    free(tx);
    net_close(&n);
    return rc;
}

static const char *finalize_ready(const ledger_task *t, uint64_t h, uint64_t *at) {
    if (t->status == LEDGER_TASK_FINALIZED || t->status == LEDGER_TASK_EXPIRED) return "the task is settled already";
    if (t->window_end == 0) {
        *at = t->posted_at + t->p.claim_blocks + t->p.work_blocks + 1;
        return h + 1 >= *at ? NULL : "wait"; /* nobody committed: it is expired instead */
    }
    *at = t->gold_revealed ? t->window_end + 1 : t->window_end + t->p.window_blocks + 1;
    return h + 1 >= *at ? NULL : "wait";
}

static int sub_finalize(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *pos[1];
    bool wait = false;
    const cli_opt opts[] = {{"--wait", NULL, &wait}, NET_OPTS(n), {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1) return cli_usage_error("label", "expected: plow label finalize TASK [--wait]");
    char err[PLOW_ERR_LEN];
    ledger_task t;
    rc = 1;
    if (net_open(&n, true, err) || label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (wait && wait_until(&n, &t, finalize_ready, "the gold (or its deadline)", err)) {
        cli_fail("%s", err);
        goto out;
    }
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    uint64_t h, at = 0;
    if (client_height(n.c, &h, err)) {
        cli_fail("%s", err);
        goto out;
    }
    /* nobody committed by the end of the work phase: the task is expired (stakes of empty claims forfeit, the
     * escrow back to the requester), which anyone may do */
    bool expire = t.window_end == 0 && finalize_ready(&t, h, &at) == NULL;
    tx.type = expire ? LEDGER_TX_EXPIRE : LEDGER_TX_FINALIZE;
    memcpy(tx.u.ref.task, t.id, 32);
    if (send(&n, &tx, &h, err) || client_task(n.c, t.id, &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    char id[17], res[65], addr[LEDGER_ADDR_STR_LEN];
    short_id(t.id, id);
    plow_hex(t.result, 32, res);
    if (expire) fprintf(stderr, "task %s expired in block %" PRIu64 " (nobody committed to it)\n", id, h);
    else fprintf(stderr, "task %s finalized in block %" PRIu64 "; result %s\n", id, h, res);
    for (int s = 0; s < t.p.replicas; s++) {
        ledger_addr_format(t.slots[s].worker, addr);
        fprintf(stderr, "  slot %d  %-9s %8" PRIu64 "  %s\n", s, ledger_slot_status_name(t.slots[s].status),
                t.paid[s], t.slots[s].status == LEDGER_SLOT_EMPTY ? "" : addr);
    }
    rc = 0;
out:
    net_close(&n);
    return rc;
}

/* ---- result --------------------------------------------------------------------------------------------- */

/* "label: text" with every run of whitespace in text made one space. */
static void text_line(plow_buf *b, const char *label, const char *text) {
    plow_buf_printf(b, "%s: ", label);
    bool space = false, started = false;
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p)) {
            space = started;
            continue;
        }
        if (space) plow_buf_append(b, " ", 1);
        plow_buf_append(b, p, 1);
        space = false;
        started = true;
    }
    plow_buf_append(b, "\n", 1);
}

static double accuracy_on(const uint32_t *labels, const uint32_t *truth, size_t n, const bool *skip, size_t *count) {
    size_t right = 0, cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if ((skip && skip[i]) || truth[i] == LABEL_NONE) continue;
        cnt++;
        right += labels[i] == truth[i];
    }
    *count = cnt;
    return cnt ? (double)right / (double)cnt : 0;
}

/* The revealed labels, aggregated again, must give the task's result and pay. */
static int result_check(const ledger_task *t, const labeler_reveals *rv, ledger_label_outcome *o, char *got,
                        char err[PLOW_ERR_LEN]) {
    if (ledger_label_aggregate(t, (const ledger_labels *const *)rv->slot, rv->gold, o, err))
        return plow_error_prefix(err, "rebuilding the aggregation"), -1;
    char want[65];
    plow_hex(t->result, 32, want);
    plow_hex(o->result, 32, got);
    if (memcmp(o->result, t->result, 32) != 0)
        return plow_error(err, "the revealed labels aggregate to %s, but the task's result is %s: this node's "
                               "blocks do not explain its state",
                          got, want);
    for (int s = 0; s < t->p.replicas; s++)
        if (rv->slot[s] && t->slots[s].status != LEDGER_SLOT_SLASHED && t->slots[s].status != LEDGER_SLOT_FORFEITED &&
            o->pay[s] != t->paid[s])
            return plow_error(err, "slot %d: the aggregation pays %" PRIu64 ", the ledger paid %" PRIu64, s, o->pay[s],
                              t->paid[s]);
    return 0;
}

/* The labeled dataset as JSONL (and as "label: text" lines); *labeled counts its items. */
static int result_write(const ledger_task *t, const job_spec *spec, const label_items *items,
                        const ledger_label_outcome *o, const char *out_f, const char *text_f, size_t *labeled,
                        char err[PLOW_ERR_LEN]) {
    plow_buf jl = {0}, tl = {0};
    *labeled = 0;
    for (uint64_t i = 0; i < t->p.steps; i++) {
        if (o->map[i] == LEDGER_LABEL_NONE || o->map[i] >= spec->n_classes) continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "text", items->text[i]);
        cJSON_AddStringToObject(x, "label", spec->classes[o->map[i]]);
        cli_json_line(&jl, x);
        text_line(&tl, spec->classes[o->map[i]], items->text[i]);
        (*labeled)++;
    }
    int rc = plow_write_file(out_f, jl.data ? (const char *)jl.data : "", jl.len, err) ||
             (text_f && plow_write_file(text_f, tl.data ? (const char *)tl.data : "", tl.len, err));
    plow_buf_release(&jl);
    plow_buf_release(&tl);
    return rc ? -1 : 0;
}

/* Accuracy against an answer key: the task's result, majority vote and
 * Dawid-Skene without gold over the same revealed answers, and each slot's. */
static void result_against_truth(const ledger_task *t, const job_spec *spec, const label_items *items,
                                 const labeler_reveals *rv, const ledger_label_outcome *o, const label_truth *truth,
                                 const char *truth_f) {
    char err[PLOW_ERR_LEN];
    size_t N = (size_t)t->p.steps, na = 0, unknown = 0;
    uint32_t *tr = plow_alloc(N * sizeof *tr), *agg = plow_alloc(N * sizeof *agg), *maj = plow_alloc(N * sizeof *maj);
    bool *skip = plow_calloc(N, 1);
    for (size_t i = 0; i < N; i++) {
        const char *name = label_truth_find(truth, items->text[i]);
        int k = name ? labeler_class_index(spec, name) : -1;
        tr[i] = k >= 0 ? (uint32_t)k : LABEL_NONE;
        unknown += k < 0;
        agg[i] = o->map[i] == LEDGER_LABEL_NONE ? LABEL_NONE : o->map[i];
    }
    if (rv->gold)
        for (uint32_t g = 0; g < rv->gold->count; g++) skip[rv->gold->items[g]] = true;
    for (int s = 0; s < t->p.replicas; s++)
        if (rv->slot[s]) na += rv->slot[s]->count;
    label_answer *ans = plow_alloc((na ? na : 1) * sizeof *ans);
    na = 0;
    uint32_t *idx = plow_alloc(LEDGER_LABELS_MAX * sizeof *idx);
    for (int s = 0; s < t->p.replicas; s++) {
        if (!rv->slot[s]) continue;
        uint64_t c =
            ledger_label_slot_items(t->p.steps, t->p.replicas, t->p.redundancy, (uint32_t)s, idx, LEDGER_LABELS_MAX);
        for (uint64_t j = 0; j < c && j < rv->slot[s]->count; j++)
            ans[na++] = (label_answer){idx[j], (uint32_t)s, rv->slot[s]->labels[j]};
    }
    free(idx);
    size_t cnt;
    double a_agg = accuracy_on(agg, tr, N, skip, &cnt);
    printf("accuracy against %s on the %zu non-gold items%s:\n", truth_f, cnt,
           unknown ? " (items not in the truth file skipped)" : "");
    printf("  the task's result (gold-filtered Dawid-Skene)  %.4f\n", a_agg);
    label_problem p = {(uint32_t)N, t->p.replicas, spec->n_classes, ans, na};
    label_ds_result dsr;
    memset(&dsr, 0, sizeof dsr);
    if (na && label_majority(&p, maj, err) == 0) {
        printf("  majority vote of the same answers             %.4f\n", accuracy_on(maj, tr, N, skip, &cnt));
        label_ds_params prm = label_ds_defaults();
        prm.max_iter = LEDGER_LABEL_ITERS;
        if (label_ds_run(&p, NULL, 0, &prm, &dsr, err) == 0)
            printf("  Dawid-Skene on them without gold              %.4f\n", accuracy_on(dsr.map, tr, N, skip, &cnt));
    }
    for (int s = 0; s < t->p.replicas; s++) {
        size_t right = 0, tot = 0;
        for (size_t a = 0; a < na; a++)
            if (ans[a].labeler == (uint32_t)s && tr[ans[a].item] != LABEL_NONE) {
                tot++;
                right += ans[a].label == tr[ans[a].item];
            }
        if (tot)
            printf("  slot %d's true accuracy                        %.4f (%zu answers)\n", s,
                   (double)right / (double)tot, tot);
    }
    label_ds_result_release(&dsr);
    free(ans);
    free(tr);
    free(agg);
    free(maj);
    free(skip);
}

static int sub_result(int argc, char **argv) {
    net n;
    memset(&n, 0, sizeof n);
    const char *out_f = NULL, *text_f = NULL, *truth_f = NULL, *pos[1];
    bool upload = false;
    const cli_opt opts[] = {{"--out", &out_f, NULL},     {"--text-out", &text_f, NULL}, {"--truth", &truth_f, NULL},
                            {"--upload", NULL, &upload}, NET_OPTS(n),                   {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 1, &n_pos);
    if (rc) return rc;
    if (n_pos != 1 || !out_f)
        return cli_usage_error("label", "expected: plow label result TASK --out FILE [--text-out FILE] [--truth FILE]");
    char err[PLOW_ERR_LEN], id[17], got[65];
    ledger_task t;
    job_spec *spec = plow_calloc(1, sizeof *spec);
    label_items items;
    memset(&items, 0, sizeof items);
    label_truth truth;
    memset(&truth, 0, sizeof truth);
    labeler_reveals rv;
    memset(&rv, 0, sizeof rv);
    ledger_label_outcome o;
    memset(&o, 0, sizeof o);
    size_t labeled;
    rc = 1;
    if ((truth_f && label_truth_load(&truth, truth_f, err)) || net_open(&n, upload, err) ||
        label_task(n.c, pos[0], &t, err)) {
        cli_fail("%s", err);
        goto out;
    }
    short_id(t.id, id);
    if (t.status != LEDGER_TASK_FINALIZED) {
        cli_fail("task %s is %s: its result exists once it is finalized ('plow label finalize')", id,
                 ledger_task_status_name(t.status));
        goto out;
    }
    if (labeler_fetch_task(n.c, &t, spec, &items, err) || labeler_fetch_reveals(n.c, &t, &rv, err) ||
        result_check(&t, &rv, &o, got, err) || result_write(&t, spec, &items, &o, out_f, text_f, &labeled, err)) {
        cli_fail("%s", err);
        goto out;
    }
    printf("result %s matches task %s: %zu of %" PRIu64 " items labeled (%" PRIu64 " left without a label), "
           "%u EM iterations\n",
           got, id, labeled, t.p.steps, t.p.steps - labeled, o.iterations);
    for (int s = 0; s < t.p.replicas; s++) {
        printf("  slot %d  %-9s %-12s pay %6" PRIu64, s, ledger_slot_status_name(t.slots[s].status),
               rv.slot[s] ? "revealed" : "not revealed", t.paid[s]);
        if (rv.gold && rv.slot[s]) printf("  gold %3u/%-3u", o.gold_correct[s], o.gold_answered[s]);
        if (o.accuracy_ppm[s]) printf("  estimated accuracy %.3f", o.accuracy_ppm[s] / 1e6);
        if (o.flagged[s]) printf("  (under %u%% on gold: slashed)", t.p.min_gold_pct);
        printf("\n");
    }
    if (truth_f) result_against_truth(&t, spec, &items, &rv, &o, &truth, truth_f);
    if (upload) {
        const char *f = text_f ? text_f : out_f;
        uint8_t h[32];
        char hex[65];
        if (client_blob_put_file(n.c, f, h, err)) {
            cli_fail("uploading %s: %s", f, err);
            goto out;
        }
        plow_hex(h, 32, hex);
        printf("uploaded %s -> %s (a training task's \"data\")\n", f, hex);
    }
    rc = 0;
out:
    ledger_label_outcome_release(&o);
    labeler_reveals_release(&rv);
    label_truth_release(&truth);
    label_items_release(&items);
    free(spec);
    net_close(&n);
    return rc;
}

/* ---- plow label ----------------------------------------------------------------------------------------------- */

int cmd_label(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(label_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cli_wants_help(argc, argv)) return fputs(label_help, stdout), 0;
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"post", sub_post},   {"show", sub_show},         {"claim", sub_claim},
                {"items", sub_items}, {"answer", sub_answer},     {"reveal", sub_reveal},
                {"gold", sub_gold},   {"finalize", sub_finalize}, {"result", sub_result},
                {"fortunes", label_fortunes_cmd}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].run(argc, argv);
    return cli_usage_error("label", "unknown command '%s'", argv[1]);
}
