/*
 * requester.c — the requester agent: posts a task or each step of a
 * workflow, follows it on the ledger, finalizes it (or expires it) when the
 * rules allow, reposts a step that ended without a paid slot, feeds each
 * accepted step's outputs to the steps that name it as an input, and at the
 * end checks everything it paid for: every artifact downloaded and hashed
 * against the commitment, the inference receipt re-derived by one prefill.
 *
 * Its memory is WORK/requester.json: for each step, the ids of the tasks
 * posted for it. An id is written there BEFORE the post is submitted (the id
 * is the transaction's hash), so a requester killed at any moment never posts
 * a step twice: on restart a recorded id the node has never heard of is
 * dropped and posted again. Everything else comes from the ledger.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>

#include "../data/tokenizer.h"
#include "../model/modelio.h"
#include "../client/client.h"
#include "../job/kind.h"
#include "../proof/receipt.h"
#include "../proof/run.h"
#include "agent.h"

void requester_options_default(requester_options *o) {
    memset(o, 0, sizeof *o);
    o->name = "requester";
    o->node = AGENT_DEFAULT_NODE;
    o->poll_s = 0.5;
}

/* ---- workflows ---------------------------------------------------------------- */

static bool good_name(const char *s) {
    if (!*s || strlen(s) >= 64) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
    return true;
}

int workflow_parse(workflow *w, const uint8_t *buf, size_t n, const char *dir, char err[PLOW_ERR_LEN]) {
    memset(w, 0, sizeof *w);
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    int rc = -1;
    if (!j || !cJSON_IsObject(j)) {
        plow_error(err, "workflow: not a JSON object");
        goto out;
    }
    for (const cJSON *c = j->child; c; c = c->next)
        if (strcmp(c->string, "format") != 0 && strcmp(c->string, "steps") != 0) {
            plow_error(err, "workflow: unknown key '%.40s'", c->string);
            goto out;
        }
    const char *fmt = json_get_str(j, "format");
    if (!fmt || strcmp(fmt, "plow.workflow.v1") != 0) {
        plow_error(err, "workflow: 'format' must be \"plow.workflow.v1\"");
        goto out;
    }
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(j, "steps");
    if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) < 1 || cJSON_GetArraySize(steps) > WORKFLOW_MAX_STEPS) {
        plow_error(err, "workflow: 'steps' must be an array of 1..%d steps", WORKFLOW_MAX_STEPS);
        goto out;
    }
    const cJSON *st;
    cJSON_ArrayForEach(st, steps) {
        workflow_step *s = &w->steps[w->n];
        s->base = s->adapter = -1;
        if (!cJSON_IsObject(st)) {
            plow_error(err, "workflow: step %d is not an object", w->n + 1);
            goto out;
        }
        for (const cJSON *c = st->child; c; c = c->next)
            if (strcmp(c->string, "name") && strcmp(c->string, "task") && strcmp(c->string, "inputs")) {
                plow_error(err, "workflow: step %d: unknown key '%.40s'", w->n + 1, c->string);
                goto out;
            }
        const char *name = json_get_str(st, "name"), *task = json_get_str(st, "task");
        if (!name || !good_name(name)) {
            plow_error(err, "workflow: step %d needs a 'name' of 1..63 letters, digits, '-', '_' or '.'", w->n + 1);
            goto out;
        }
        for (int i = 0; i < w->n; i++)
            if (strcmp(w->steps[i].name, name) == 0) {
                plow_error(err, "workflow: two steps are named '%s'", name);
                goto out;
            }
        if (!task || !*task) {
            plow_error(err, "workflow: step '%s' needs a 'task' (a TASKFILE)", name);
            goto out;
        }
        snprintf(s->name, sizeof s->name, "%s", name);
        if (task[0] == '/' || !dir || !*dir) snprintf(s->task, sizeof s->task, "%s", task);
        else snprintf(s->task, sizeof s->task, "%s/%s", dir, task);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(st, "inputs");
        if (in) {
            if (!cJSON_IsObject(in)) {
                plow_error(err, "workflow: step '%s': 'inputs' must be an object", name);
                goto out;
            }
            for (const cJSON *c = in->child; c; c = c->next) {
                int *slot = strcmp(c->string, "base") == 0      ? &s->base
                            : strcmp(c->string, "adapter") == 0 ? &s->adapter
                                                                : NULL;
                if (!slot) {
                    plow_error(err, "workflow: step '%s': unknown input '%.40s' (base, adapter)", name, c->string);
                    goto out;
                }
                int found = -1;
                for (int i = 0; i < w->n; i++)
                    if (cJSON_IsString(c) && strcmp(w->steps[i].name, c->valuestring) == 0) found = i;
                if (found < 0) {
                    plow_error(err, "workflow: step '%s': input '%s' must name an earlier step", name, c->string);
                    goto out;
                }
                *slot = found;
            }
        }
        w->n++;
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

int workflow_load(workflow *w, const char *path, char err[PLOW_ERR_LEN]) {
    uint8_t *buf = NULL;
    size_t n = 0;
    if (plow_read_file(path, 1 << 20, &buf, &n, err)) return -1;
    char dir[AGENT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    int rc = workflow_parse(w, buf, n, dir, err);
    free(buf);
    if (rc) return plow_error_prefix(err, path);
    return 0;
}

/* ---- the requester's memory ------------------------------------------------------- */

#define MAX_TRIES (1 + WORKFLOW_MAX_REPOSTS)

typedef struct step_state {
    int n_tasks;
    uint8_t tasks[MAX_TRIES + 4][32]; /* ids posted for this step, in order */
    /* derived from the ledger */
    bool accepted;
    int slot;                         /* the paid slot of the last task */
    ledger_task task;                 /* the last task as last seen */
    bool seen;                        /* task holds something */
    bool failed;
    bool finalize_sent;
} step_state;

typedef struct requester {
    agent a;
    const requester_options *o;
    workflow wf;
    step_state st[WORKFLOW_MAX_STEPS];
    char state_path[AGENT_PATH_MAX + 32];
    /* account names for logs */
    int n_names;
    uint8_t name_pk[32][32];
    char names[32][LEDGER_NAME_MAX + 1];
} requester;

static int state_save(requester *r, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.requester.v1");
    cJSON *steps = cJSON_AddArrayToObject(j, "steps");
    for (int i = 0; i < r->wf.n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", r->wf.steps[i].name);
        cJSON *ts = cJSON_AddArrayToObject(s, "tasks");
        for (int k = 0; k < r->st[i].n_tasks; k++) {
            char hex[65];
            plow_hex(r->st[i].tasks[k], 32, hex);
            cJSON_AddItemToArray(ts, cJSON_CreateString(hex));
        }
        cJSON_AddItemToArray(steps, s);
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    int rc = plow_write_file(r->state_path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

static int state_load(requester *r, char err[PLOW_ERR_LEN]) {
    if (!plow_file_exists(r->state_path)) return 0;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (plow_read_file(r->state_path, 1 << 20, &buf, &n, err)) return -1;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    int rc = -1;
    const cJSON *steps = j ? cJSON_GetObjectItemCaseSensitive(j, "steps") : NULL;
    if (!cJSON_IsArray(steps)) {
        plow_error(err, "%s: not a requester state file", r->state_path);
        goto out;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, steps) {
        const char *name = json_get_str(s, "name");
        int i = 0;
        while (i < r->wf.n && !(name && strcmp(r->wf.steps[i].name, name) == 0)) i++;
        if (i == r->wf.n) {
            plow_error(err, "%s: step '%s' is not in this workflow (another run's work dir?)", r->state_path,
                       name ? name : "?");
            goto out;
        }
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(s, "tasks"), *t;
        cJSON_ArrayForEach(t, ts) {
            if (r->st[i].n_tasks >= MAX_TRIES + 4 || !cJSON_IsString(t) || strlen(t->valuestring) != 64 ||
                plow_unhex(t->valuestring, r->st[i].tasks[r->st[i].n_tasks], 32)) {
                plow_error(err, "%s: bad task id in step '%s'", r->state_path, name);
                goto out;
            }
            r->st[i].n_tasks++;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

static const char *who(requester *r, const uint8_t pk[32]) {
    for (int i = 0; i < r->n_names; i++)
        if (memcmp(r->name_pk[i], pk, 32) == 0) return r->names[i];
    int i = r->n_names < 32 ? r->n_names++ : 31;
    memcpy(r->name_pk[i], pk, 32);
    ledger_account acct;
    char err[PLOW_ERR_LEN];
    if (agent_account(&r->a, pk, &acct, err) == 0 && acct.profile && acct.name[0])
        snprintf(r->names[i], sizeof r->names[i], "%s", acct.name);
    else agent_short_addr(pk, r->names[i]);
    return r->names[i];
}

/* ---- posting -------------------------------------------------------------------------- */

static void note_upload(void *arg, const char *line) {
    requester *r = arg;
    agent_log(&r->a, "%s", line);
}

/* The accepted outputs of step i: its paid slot's manifest. */
static int step_manifest(requester *r, int i, job_manifest *m, char err[PLOW_ERR_LEN]) {
    const step_state *s = &r->st[i];
    if (!s->accepted) return plow_error(err, "step '%s' has no accepted result yet", r->wf.steps[i].name);
    return agent_fetch_manifest(&r->a, s->task.slots[s->slot].manifest, m, err);
}

/* Sets the spec's inputs from the accepted outputs of earlier steps. */
static int set_inputs(requester *r, int i, taskfile *tf, char err[PLOW_ERR_LEN]) {
    const workflow_step *ws = &r->wf.steps[i];
    if (ws->base >= 0) {
        job_manifest m;
        if (step_manifest(r, ws->base, &m, err)) return -1;
        const uint8_t *mh = agent_manifest_find(&m, "model.safetensors"), *cfg = agent_manifest_find(&m, "config.json"),
                      *tok = agent_manifest_find(&m, "tokenizer.bin");
        int rc = 0;
        if (!mh || !cfg) rc = plow_error(err, "step '%s' gave no model.safetensors and config.json", r->wf.steps[ws->base].name);
        else if (taskfile_set_run(tf, "base", mh, cfg) || (tok && taskfile_set_hash(tf, "tokenizer", tok)))
            rc = plow_error(err, "cannot set the base of step '%s'", ws->name);
        job_manifest_release(&m);
        if (rc) return -1;
    }
    if (ws->adapter >= 0) {
        job_manifest m;
        if (step_manifest(r, ws->adapter, &m, err)) return -1;
        const uint8_t *mh = agent_manifest_find(&m, "adapter_model.safetensors"),
                      *cfg = agent_manifest_find(&m, "adapter_config.json");
        int rc = 0;
        if (!mh || !cfg)
            rc = plow_error(err, "step '%s' gave no adapter_model.safetensors and adapter_config.json",
                            r->wf.steps[ws->adapter].name);
        else if (taskfile_set_run(tf, "adapter", mh, cfg)) rc = plow_error(err, "cannot set the adapter of step '%s'", ws->name);
        job_manifest_release(&m);
        if (rc) return -1;
    }
    return 0;
}

/* Posts step i: uploads, records the id, submits, waits for the block. */
static int post_step(requester *r, int i, char err[PLOW_ERR_LEN]) {
    agent *a = &r->a;
    step_state *s = &r->st[i];
    const workflow_step *ws = &r->wf.steps[i];
    taskfile tf;
    job_spec spec;
    int rc = -1;
    if (taskfile_parse(&tf, ws->task, err)) goto fatal;
    if (taskfile_expand(&tf, a->c, note_upload, r, err)) goto out; /* may be the node: retry */
    if (set_inputs(r, i, &tf, err)) goto out;
    int fin = taskfile_finish(&tf, a->c, &spec, err);
    if (fin == -1) goto fatal; /* a bad spec will not get better */
    if (fin) goto out;
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = LEDGER_TX_POST_TASK;
    tx.u.post = tf.p;
    uint8_t id[32];
    if (agent_post_prepare(a, &tx, id, err)) goto out;
    /* remember the id before the node can know it */
    memcpy(s->tasks[s->n_tasks++], id, 32);
    if (state_save(r, err)) goto out;
    char tid[12], rew[32];
    agent_short(id, tid);
    agent_money(tf.p.reward, rew);
    if (agent_post_submit(a, &tx, err)) {
        agent_log(a, "step '%s': posting task %s failed: %s", ws->name, tid, err);
        goto out; /* next round: the node does not know it -> posted again */
    }
    agent_log(a, "step '%s': posted task %s (try %d): %s, %s x%u, %" PRIu64 " %s, reward %s each", ws->name, tid,
              s->n_tasks, task_kind_name(spec.kind), ledger_mode_name(tf.p.mode), tf.p.replicas, tf.p.steps,
              job_kind_facts_of(spec.kind)->steps_unit, rew);
    s->seen = false;
    s->finalize_sent = false;
    rc = 0;
out:
    taskfile_release(&tf);
    return rc;
fatal:
    taskfile_release(&tf);
    agent_log(a, "step '%s': cannot post %s: %s", ws->name, ws->task, err);
    s->failed = true;
    return 0;
}

/* ---- following a task ------------------------------------------------------------------ */

static void log_changes(requester *r, int i, const ledger_task *old, const ledger_task *t) {
    agent *a = &r->a;
    char tid[12];
    agent_short(t->id, tid);
    const char *name = r->wf.steps[i].name;
    for (int k = 0; k < t->p.replicas && k < LEDGER_MAX_REPLICAS; k++) {
        const ledger_slot *o = old ? &old->slots[k] : NULL, *n = &t->slots[k];
        if (o && o->status == n->status) continue;
        if (n->status == LEDGER_SLOT_EMPTY) continue;
        agent_log(a, "step '%s': task %s slot %d %s by %s", name, tid, k, ledger_slot_status_name(n->status),
                  who(r, n->worker));
    }
    if (!old || old->status != t->status) {
        if (t->status == LEDGER_TASK_COMMITTED || t->status == LEDGER_TASK_RESOLVED)
            agent_log(a, "step '%s': task %s %s; challenge window until block %" PRIu64, name, tid,
                      ledger_task_status_name(t->status), t->window_end);
        else
            agent_log(a, "step '%s': task %s %s", name, tid, ledger_task_status_name(t->status));
    }
}

/* Where the last posted task of a step stands when the node does not know
 * it as a task: still pending, lost (post again) or refused (fatal). */
static int resolve_missing(requester *r, int i, char err[PLOW_ERR_LEN]) {
    step_state *s = &r->st[i];
    int result;
    char msg[PLOW_ERR_LEN];
    if (agent_post_status(&r->a, s->tasks[s->n_tasks - 1], 2.0, &result, msg, err)) {
        if (strstr(err, "does not know")) {
            agent_log(&r->a, "step '%s': the node never received the last post; posting again", r->wf.steps[i].name);
            s->n_tasks--;
            return state_save(r, err);
        }
        return -1;
    }
    if (result == LEDGER_TX_OK) return 0; /* just included: next round sees it */
    agent_log(&r->a, "step '%s': the post was refused: %s", r->wf.steps[i].name, msg);
    s->n_tasks--;
    if (state_save(r, err)) return -1;
    s->failed = true;
    return 0;
}

/* One look at step i's last task; acts when the rules let it. */
static int follow_step(requester *r, int i, uint64_t height, char err[PLOW_ERR_LEN]) {
    agent *a = &r->a;
    step_state *s = &r->st[i];
    const char *name = r->wf.steps[i].name;
    ledger_task t;
    ledger_challenge *ch = NULL;
    size_t n_ch = 0;
    if (agent_task(a, s->tasks[s->n_tasks - 1], &t, &ch, &n_ch, err)) {
        char e2[PLOW_ERR_LEN];
        uint64_t hh;
        if (agent_height(a, &hh, e2)) return -1; /* the node is away */
        return resolve_missing(r, i, err);
    }
    log_changes(r, i, s->seen ? &s->task : NULL, &t);
    s->task = t;
    s->seen = true;
    char tid[12];
    agent_short(t.id, tid);
    ledger_tx tx;
    memset(&tx, 0, sizeof tx);
    memcpy(tx.u.ref.task, t.id, 32);
    int rc = 0;
    switch (t.status) {
    case LEDGER_TASK_OPEN:
    case LEDGER_TASK_CLAIMED: {
        uint64_t until = t.posted_at + t.p.claim_blocks + t.p.work_blocks;
        if (height > until) {
            tx.type = LEDGER_TX_EXPIRE;
            if (agent_send(a, &tx, err)) {
                if (!agent_refused(err)) rc = -1;
                else agent_log(a, "step '%s': expire of task %s refused: %s", name, tid, err);
            } else {
                agent_log(a, "step '%s': task %s expired (not every slot committed by block %" PRIu64 ")", name, tid,
                          until);
            }
        }
        break;
    }
    case LEDGER_TASK_CHALLENGED:
    case LEDGER_TASK_COMMITTED:
    case LEDGER_TASK_RESOLVED: {
        /* challenged: finalize lapses every open challenge that can no longer
         * be ruled (a data challenge unanswered by its deadline slashes the
         * accused), so it is sent once all of them are past that height */
        bool lapsed = true;
        if (t.status == LEDGER_TASK_CHALLENGED) {
            if (agent_load_params(a, err)) {
                rc = -1;
                break;
            }
            for (size_t k = 0; k < n_ch; k++)
                if (ch[k].status == LEDGER_CH_OPEN && height <= ledger_challenge_void_at(&a->params, &ch[k]))
                    lapsed = false;
        }
        if (lapsed && height > t.window_end) {
            tx.type = LEDGER_TX_FINALIZE;
            if (agent_send(a, &tx, err)) {
                if (!agent_refused(err)) rc = -1;
                else if (!s->finalize_sent) agent_log(a, "step '%s': finalize of task %s refused: %s", name, tid, err);
                s->finalize_sent = s->finalize_sent || agent_refused(err);
            } else {
                agent_log(a, "step '%s': finalized task %s", name, tid);
            }
        }
        break;
    }
    case LEDGER_TASK_FINALIZED:
    case LEDGER_TASK_EXPIRED: {
        int paid = -1;
        for (int k = 0; k < t.p.replicas && k < LEDGER_MAX_REPLICAS; k++)
            if (t.slots[k].status == LEDGER_SLOT_PAID && paid < 0) paid = k;
        if (paid >= 0) {
            char art[12], rew[32];
            agent_short(t.slots[paid].artifact, art);
            agent_money(t.p.reward, rew);
            int n_paid = 0;
            for (int k = 0; k < t.p.replicas; k++) n_paid += t.slots[k].status == LEDGER_SLOT_PAID;
            agent_log(a, "step '%s': accepted: task %s, artifact %s, %d worker%s paid %s each", name, tid, art, n_paid,
                      n_paid == 1 ? "" : "s", rew);
            s->accepted = true;
            s->slot = paid;
        } else if (s->n_tasks < MAX_TRIES) {
            agent_log(a, "step '%s': task %s ended %s without a paid slot; posting it again (%d of %d reposts)", name,
                      tid, ledger_task_status_name(t.status), s->n_tasks, WORKFLOW_MAX_REPOSTS);
            rc = post_step(r, i, err);
        } else {
            agent_log(a, "step '%s': task %s ended without a paid slot after %d tries; giving up", name, tid,
                      s->n_tasks);
            s->failed = true;
        }
        break;
    }
    }
    free(ch);
    return rc;
}

/* ---- the final checks -------------------------------------------------------------- */

typedef struct check_out {
    bool ok;
    char detail[512];
    bool has_text;
    char *text; /* infer: prompt + generated text (malloc'd) */
} check_out;

static int fetch_to(requester *r, const uint8_t h[32], const char *dir, const char *name, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (plow_mkdir_p(dir, err)) return -1;
    if (client_blob_get_file(r->a.c, h, path, err)) return plow_error_prefix(err, name);
    return 0;
}

/* What checking an inference step loads: the model (and adapter) the spec
 * names, the tokenizer and the committed receipt. */
typedef struct infer_check {
    model *base;
    lora *l;
    tokenizer *tok;
    receipt rc;
    bool have_receipt;
} infer_check;

static void infer_check_release(infer_check *ic) {
    if (ic->have_receipt) receipt_release(&ic->rc);
    tokenizer_free(ic->tok);
    lora_free(ic->l);
    model_free(ic->base);
}

/* Fetches and loads what an inference step's check needs: the receipt is the
 * committed trace root's blob. */
static int infer_fetch(requester *r, const job_spec *spec, const ledger_slot *sl, const char *dir, const char *in,
                       infer_check *ic, char err[PLOW_ERR_LEN]) {
    char path[AGENT_PATH_MAX + 200];
    if (!spec->has_base) return plow_error(err, "the inference spec names no model");
    if (fetch_to(r, sl->trace_root, dir, "receipt.committed.json", err) ||
        fetch_to(r, spec->base_model, in, "model.safetensors", err) ||
        fetch_to(r, spec->base_config, in, "config.json", err) || fetch_to(r, spec->tokenizer, in, "tokenizer.bin", err))
        return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", in);
    if (modelio_load_model(&ic->base, path, err)) return -1;
    if (spec->has_adapter) {
        char ad[AGENT_PATH_MAX + 140];
        snprintf(ad, sizeof ad, "%s/adapter", in);
        if (fetch_to(r, spec->adapter_model, ad, "adapter_model.safetensors", err) ||
            fetch_to(r, spec->adapter_config, ad, "adapter_config.json", err))
            return -1;
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", ad);
        if (modelio_load_lora(&ic->l, ic->base, path, err)) return -1;
    }
    snprintf(path, sizeof path, "%s/tokenizer.bin", in);
    if (tokenizer_load(&ic->tok, path, err)) return -1;
    snprintf(path, sizeof path, "%s/receipt.committed.json", dir);
    if (receipt_load(&ic->rc, path, err)) return -1;
    ic->have_receipt = true;
    return 0;
}

/* The receipt re-derived by the model, its output the committed one; the
 * prompt and output decoded into co->text. */
static int infer_judge(infer_check *ic, const ledger_slot *sl, const char *got_hex, check_out *co,
                       char err[PLOW_ERR_LEN]) {
    uint8_t out_hash[32];
    receipt_tokens_hash(ic->rc.output, ic->rc.n_output, out_hash);
    receipt_check chk;
    if (receipt_verify(&ic->rc, ic->base, ic->l, ic->tok, &chk, err)) return -1;
    if (!chk.valid) {
        snprintf(co->detail, sizeof co->detail, "receipt INVALID: %s", chk.reason);
        return 0;
    }
    if (memcmp(out_hash, sl->final_state, 32) != 0) {
        snprintf(co->detail, sizeof co->detail, "the receipt's output tokens are not the committed output");
        return 0;
    }
    uint8_t *txt = NULL, *ptxt = NULL;
    size_t tn = 0, pn = 0;
    if (tokenizer_decode(ic->tok, ic->rc.prompt, ic->rc.n_prompt, &ptxt, &pn, err) ||
        tokenizer_decode(ic->tok, ic->rc.output, ic->rc.n_output, &txt, &tn, err)) {
        free(ptxt);
        return -1;
    }
    co->text = plow_alloc(pn + tn + 1);
    memcpy(co->text, ptxt, pn);
    memcpy(co->text + pn, txt, tn);
    co->text[pn + tn] = 0;
    co->has_text = true;
    free(ptxt);
    free(txt);
    snprintf(co->detail, sizeof co->detail,
             "model %.16s… is the committed one; receipt valid: %zu tokens re-derived by one prefill in %.2fs", got_hex,
             ic->rc.n_output, chk.seconds);
    co->ok = true;
    return 0;
}

/* Downloads step i's outputs and checks them against its paid commitment. */
static int check_step(requester *r, int i, check_out *co, char err[PLOW_ERR_LEN]) {
    memset(co, 0, sizeof *co);
    const step_state *s = &r->st[i];
    const ledger_slot *sl = &s->task.slots[s->slot];
    job_spec spec;
    if (agent_fetch_spec(&r->a, &s->task, &spec, err)) return -1;
    char dir[AGENT_PATH_MAX + 100], in[AGENT_PATH_MAX + 120], path[AGENT_PATH_MAX + 200];
    snprintf(dir, sizeof dir, "%s/artifacts/%s", r->a.work, r->wf.steps[i].name);
    snprintf(in, sizeof in, "%s/inputs", dir);
    job_manifest m;
    if (agent_fetch_manifest(&r->a, sl->manifest, &m, err)) return -1;
    int rc = -1;
    infer_check ic = {0};
    /* every output file the worker published */
    for (size_t k = 0; k < m.n; k++) {
        const char *nm = m.files[k].path;
        if (strchr(nm, '/') || strcmp(nm, "trace.bin") == 0) continue; /* checkpoints/: the verifiers' business */
        if (fetch_to(r, m.files[k].hash, dir, nm, err)) goto out;
    }
    uint8_t got[32];
    char want_hex[65], got_hex[65];
    plow_hex(sl->artifact, 32, want_hex);
    bool adapter = job_spec_adapter(&spec);
    if (task_kind_replays(spec.kind)) { /* the artifact the published files make, as the kind hashes it */
        if (adapter && !spec.has_base) {
            plow_error(err, "the LoRA spec names no base model");
            goto out;
        }
        if (adapter && (fetch_to(r, spec.base_model, in, "model.safetensors", err) ||
                        fetch_to(r, spec.base_config, in, "config.json", err)))
            goto out;
        snprintf(path, sizeof path, "%s/model.safetensors", in);
        if (adapter && modelio_load_model(&ic.base, path, err)) goto out;
        /* what the worker published is downloaded: a file that does not load
         * (a header promising terabytes, garbage) is the worker's, a verdict
         * on this step, not a failure to retry */
        if (proof_published_artifact(spec.kind, ic.base, dir, got, err)) {
            snprintf(co->detail, sizeof co->detail, "the published artifact is refused: %.400s", err);
            rc = 0;
            goto out;
        }
    } else {
        if (infer_fetch(r, &spec, sl, dir, in, &ic, err)) goto out;
        model_hash(ic.base, got);
    }
    plow_hex(got, 32, got_hex);
    if (memcmp(got, sl->artifact, 32) != 0) {
        snprintf(co->detail, sizeof co->detail, "artifact hash %s is not the committed %s", got_hex, want_hex);
        rc = 0;
        goto out;
    }
    if (ic.have_receipt) {
        rc = infer_judge(&ic, sl, got_hex, co, err);
        goto out;
    }
    snprintf(co->detail, sizeof co->detail, "%s hash %.16s… matches the commitment", adapter ? "adapter" : "model",
             got_hex);
    co->ok = true;
    rc = 0;
out:
    infer_check_release(&ic);
    job_manifest_release(&m);
    return rc;
}

static int write_result(requester *r, bool ok, check_out *co, char err[PLOW_ERR_LEN]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "plow.result.v1");
    cJSON_AddBoolToObject(j, "ok", ok);
    cJSON *steps = cJSON_AddArrayToObject(j, "steps");
    for (int i = 0; i < r->wf.n; i++) {
        const step_state *s = &r->st[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->wf.steps[i].name);
        cJSON_AddNumberToObject(o, "tries", s->n_tasks);
        cJSON_AddBoolToObject(o, "accepted", s->accepted);
        if (s->n_tasks > 0) json_add_hash(o, "task", s->tasks[s->n_tasks - 1]);
        if (s->accepted) {
            const ledger_slot *sl = &s->task.slots[s->slot];
            cJSON_AddStringToObject(o, "kind", ledger_kind_name(s->task.p.kind));
            json_add_addr(o, "worker", sl->worker);
            json_add_hash(o, "artifact", sl->artifact);
            json_add_hash(o, "manifest", sl->manifest);
            cJSON_AddBoolToObject(o, "verified", co[i].ok);
            cJSON_AddStringToObject(o, "check", co[i].detail);
            if (co[i].has_text) cJSON_AddStringToObject(o, "text", co[i].text);
        }
        cJSON_AddItemToArray(steps, o);
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    char path[AGENT_PATH_MAX + 32];
    if (r->o->result) snprintf(path, sizeof path, "%s", r->o->result);
    else snprintf(path, sizeof path, "%s/result.json", r->a.work);
    int rc = plow_write_file(path, txt, strlen(txt), err);
    free(txt);
    if (rc == 0) agent_log(&r->a, "result written to %s", path);
    return rc;
}

/* ---- the loop ------------------------------------------------------------------------ */

int agent_requester_run(const requester_options *o, char err[PLOW_ERR_LEN]) {
    requester *r = plow_calloc(1, sizeof *r);
    r->o = o;
    int rc = -1;
    if (o->workflow) {
        if (workflow_load(&r->wf, o->workflow, err)) goto done_free;
    } else {
        r->wf.n = 1;
        const char *base = strrchr(o->task, '/');
        base = base ? base + 1 : o->task;
        snprintf(r->wf.steps[0].name, sizeof r->wf.steps[0].name, "%.*s", (int)strcspn(base, "."), base);
        if (!r->wf.steps[0].name[0]) snprintf(r->wf.steps[0].name, sizeof r->wf.steps[0].name, "task");
        snprintf(r->wf.steps[0].task, sizeof r->wf.steps[0].task, "%s", o->task);
        r->wf.steps[0].base = r->wf.steps[0].adapter = -1;
    }
    /* every TASKFILE must parse before anything is posted */
    for (int i = 0; i < r->wf.n; i++) {
        taskfile tf;
        int e = taskfile_parse(&tf, r->wf.steps[i].task, err);
        taskfile_release(&tf);
        if (e) goto done_free;
    }
    if (agent_open_on(&r->a, o->name, o->key, o->node, o->work, &o->chain, err)) goto done_free;
    agent *a = &r->a;
    snprintf(r->state_path, sizeof r->state_path, "%s/requester.json", a->work);
    if (state_load(r, err)) goto done;
    agent_log(a, "requester %s starting: node %s, %d step%s (%s)", a->addr, a->node, r->wf.n, r->wf.n == 1 ? "" : "s",
              o->workflow ? o->workflow : o->task);
    int current = -1;
    bool failed = false;
    while (!agent_stop_requested()) {
        char e[PLOW_ERR_LEN];
        uint64_t height;
        if (agent_height(a, &height, e)) {
            agent_fail(a, e);
            continue;
        }
        int i = 0;
        while (i < r->wf.n && r->st[i].accepted) i++;
        if (i == r->wf.n) break;
        if (i != current) {
            agent_log(a, "step '%s' (%d of %d): %s", r->wf.steps[i].name, i + 1, r->wf.n, r->wf.steps[i].task);
            current = i;
        }
        int x = r->st[i].n_tasks == 0 ? post_step(r, i, e) : follow_step(r, i, height, e);
        if (r->st[i].failed) {
            failed = true;
            break;
        }
        if (x) {
            if (agent_stop_requested()) break;
            agent_fail(a, e);
            continue;
        }
        agent_ok(a);
        if (!r->st[i].accepted) agent_sleep(o->poll_s);
    }
    if (agent_stop_requested() && !failed) {
        agent_log(a, "stopped; a restart with the same work dir continues the run");
        rc = 1;
        plow_error(err, "stopped before the end");
        goto done;
    }
    /* the checks: everything that was paid for */
    check_out co[WORKFLOW_MAX_STEPS];
    memset(co, 0, sizeof co);
    bool all = !failed;
    for (int i = 0; i < r->wf.n; i++) {
        if (!r->st[i].accepted) {
            all = false;
            continue;
        }
        char e[PLOW_ERR_LEN];
        int tries = 0;
        while (check_step(r, i, &co[i], e) && ++tries < 5 && !agent_stop_requested()) agent_fail(a, e);
        if (tries >= 5 || agent_stop_requested()) snprintf(co[i].detail, sizeof co[i].detail, "could not check: %s", e);
        agent_log(a, "step '%s': %s: %s", r->wf.steps[i].name, co[i].ok ? "VERIFIED" : "FAILED", co[i].detail);
        if (co[i].has_text) agent_log(a, "step '%s': generated text:\n%s", r->wf.steps[i].name, co[i].text);
        all &= co[i].ok;
    }
    if (write_result(r, all, co, err)) all = false;
    for (int i = 0; i < r->wf.n; i++) free(co[i].text);
    if (all) {
        agent_log(a, "done: every step accepted, every artifact and receipt verified");
        rc = 0;
    } else {
        agent_log(a, "done, with failures");
        plow_error(err, "the %s did not complete with every result verified", o->workflow ? "workflow" : "task");
        rc = 1;
    }
done:
    agent_close(&r->a);
done_free:
    free(r);
    return rc;
}
