/*
 * rollout.c — distributed rollouts: claims made, checked and stepped on
 * (rollout.h).
 */
#include "rollout.h"

#include <inttypes.h>

#include "../model/modelio.h"

static const char *const verdict_names[ROLLOUT_VERDICT_COUNT] = {
    [ROLLOUT_ACCEPTED] = "accepted",
    [ROLLOUT_UNSIGNED] = "unsigned",
    [ROLLOUT_WRONG_PROMPT] = "wrong prompt",
    [ROLLOUT_WRONG_SAMPLING] = "wrong sampling",
    [ROLLOUT_BAD_END] = "bad end",
    [ROLLOUT_WRONG_REWARD] = "misreported reward",
    [ROLLOUT_WRONG_POLICY] = "wrong policy",
    [ROLLOUT_FABRICATED] = "fabricated completion",
};

const char *rollout_verdict_name(rollout_verdict v) {
    return (unsigned)v < ROLLOUT_VERDICT_COUNT ? verdict_names[v] : "unknown";
}

void rollout_claim_make(const train_state *s, const rl_rollout *r, const ledger_key *k, rollout_claim *out) {
    const model *m;
    const lora *l;
    const tokenizer *tok;
    infer_sampling sp;
    rl_policy(s, &m, &l, &tok);
    rl_rollout_sampling(s, r, &sp);
    receipt_make(&out->rc, m, l, tok, &sp, r->tok, (size_t)r->n_prompt, r->tok + r->n_prompt, (size_t)r->n);
    receipt_sign(&out->rc, k);
    out->reward = r->reward;
}

void rollout_claim_release(rollout_claim *c) {
    receipt_release(&c->rc);
    c->reward = 0;
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static rollout_verdict refuse(char why[256], const char *who, rollout_verdict v, const char *detail) {
    snprintf(why, 256, "rollout worker %s: %s (%.160s)", who, rollout_verdict_name(v), detail);
    return v;
}

int rollout_check(train_state *s, const rl_rollout *want, const rollout_claim *c, rl_rollout *out,
                  rollout_verdict *v, char why[256], char err[PLOW_ERR_LEN]) {
    const receipt *r = &c->rc;
    char who[LEDGER_ADDR_STR_LEN] = "(unsigned)";
    if (r->has_sig) ledger_addr_format(r->worker, who);
    why[0] = 0;
    /* the cheap checks first: signature, prompt, sampling, end, reward */
    if (!receipt_sig_ok(r)) {
        *v = refuse(why, who, ROLLOUT_UNSIGNED, "no signature of its worker over the receipt");
        return 0;
    }
    if (r->n_prompt != (size_t)want->n_prompt ||
        memcmp(r->prompt, want->tok, sizeof(int32_t) * (size_t)want->n_prompt) != 0) {
        *v = refuse(why, who, ROLLOUT_WRONG_PROMPT, "the prompt is not the one the task seed and the step give");
        return 0;
    }
    infer_sampling sp;
    rl_rollout_sampling(s, want, &sp);
    if (fbits(r->sampling.temperature) != fbits(sp.temperature) || r->sampling.top_k != sp.top_k ||
        fbits(r->sampling.top_p) != fbits(sp.top_p) || r->sampling.seed != sp.seed) {
        *v = refuse(why, who, ROLLOUT_WRONG_SAMPLING, "the sampling parameters or seed are not the step's");
        return 0;
    }
    rl_rollout ro = *want;
    if (r->n_output < 1 || r->n_output > RL_MAX_NEW) {
        *v = refuse(why, who, ROLLOUT_BAD_END, "no completion, or one longer than any the sampler makes");
        return 0;
    }
    ro.n = (int)r->n_output;
    memcpy(ro.tok + ro.n_prompt, r->output, sizeof(int32_t) * r->n_output);
    if (!rl_rollout_ends_well(s, &ro)) {
        *v = refuse(why, who, ROLLOUT_BAD_END, "the completion does not end where the sampler ends one");
        return 0;
    }
    rl_rollout_grade(s, &ro);
    if (fbits(ro.reward) != fbits(c->reward)) {
        char d[96];
        snprintf(d, sizeof d, "reported %g, the checker gives %g", (double)c->reward, (double)ro.reward);
        *v = refuse(why, who, ROLLOUT_WRONG_REWARD, d);
        return 0;
    }
    /* then the one prefill: every token re-derives from the policy at j-1 */
    const model *m;
    const lora *l;
    const tokenizer *tok;
    rl_policy(s, &m, &l, &tok);
    receipt_check ck;
    if (receipt_verify(r, m, l, tok, &ck, err)) return -1;
    if (!ck.valid) {
        *v = refuse(why, who, ck.bad_position >= 0 ? ROLLOUT_FABRICATED : ROLLOUT_WRONG_POLICY, ck.reason);
        return 0;
    }
    *out = ro;
    *v = ROLLOUT_ACCEPTED;
    return 0;
}

void rollout_report_release(rollout_report *r) {
    free(r->refusals);
    memset(r, 0, sizeof *r);
}

int rollout_step(train_state *s, const rollout_source *src, rollout_report *rep, train_stats *st, rl_stats *rs,
                 char err[PLOW_ERR_LEN]) {
    memset(rep, 0, sizeof *rep);
    int n = rl_rollout_count(s);
    rl_rollout *want = plow_calloc((size_t)n, sizeof *want), *got = plow_calloc((size_t)n, sizeof *got);
    bool *ok = plow_calloc((size_t)n, sizeof *ok);
    const rollout_claim **claims = plow_calloc((size_t)n, sizeof *claims);
    int rc = -1;
    if (rl_rollouts_expected(s, want, err) || src->claims(src->arg, s, claims, err)) goto out;
    double t1 = plow_now();
    for (int i = 0; i < n; i++) {
        if (!claims[i]) continue;
        rollout_verdict v;
        char why[256];
        if (rollout_check(s, &want[i], claims[i], &got[i], &v, why, err)) goto out;
        if (v == ROLLOUT_ACCEPTED) {
            ok[i] = true;
            rep->accepted++;
            continue;
        }
        rep->refusals = plow_realloc(rep->refusals, sizeof *rep->refusals * (size_t)(rep->refused + 1));
        rollout_refusal *f = &rep->refusals[rep->refused++];
        memset(f, 0, sizeof *f);
        f->index = i;
        if (claims[i]->rc.has_sig) memcpy(f->worker, claims[i]->rc.worker, LEDGER_PK_LEN);
        f->verdict = v;
        snprintf(f->why, sizeof f->why, "%s", why);
        if (src->refused) src->refused(src->arg, s, f, claims[i]);
    }
    double t2 = plow_now();
    rep->check_seconds = t2 - t1;
    for (int i = 0; i < n; i++) {
        if (ok[i]) continue;
        got[i] = want[i];
        if (rl_rollout_generate(s, &got[i], err)) goto out;
        rep->sampled++;
    }
    double t3 = plow_now();
    rep->sample_seconds = t3 - t2;
    if (rl_step_with(s, got, st, rs, err)) goto out;
    rep->step_seconds = plow_now() - t1; /* the trainer's own work: checks, sampling, the update */
    rc = 0;
out:
    free(want);
    free(got);
    free(ok);
    free(claims);
    return rc;
}

/* ---- rollout workers in this process ----------------------------------------------- */

struct rollout_local {
    int n;
    ledger_key *keys;
    char **cheats;
    int *accepted;
    rollout_claim *claims; /* the step's, rl_rollout_count */
    int n_claims;
    const char *fraud_dir;
    double gen_seconds, gen_tokens; /* what the workers generated, and how long it took */
};

bool rollout_cheat_known(const char *c) {
    return strcmp(c, "fabricated") == 0 || strcmp(c, "reward") == 0 || strcmp(c, "prompt") == 0;
}

int rollout_local_new(rollout_local **out, const ledger_key *keys, const char *const *cheats, int n,
                      char err[PLOW_ERR_LEN]) {
    *out = NULL;
    if (n < 1 || n > 64) return plow_error(err, "1..64 rollout workers, not %d", n);
    for (int i = 0; i < n; i++)
        if (cheats && cheats[i] && !rollout_cheat_known(cheats[i]))
            return plow_error(err, "unknown rollout cheat '%s' (fabricated, reward or prompt)", cheats[i]);
    rollout_local *w = plow_calloc(1, sizeof *w);
    w->n = n;
    w->keys = plow_calloc((size_t)n, sizeof *w->keys);
    memcpy(w->keys, keys, sizeof *keys * (size_t)n);
    w->cheats = plow_calloc((size_t)n, sizeof *w->cheats);
    for (int i = 0; i < n; i++)
        if (cheats && cheats[i]) w->cheats[i] = plow_strdup(cheats[i]);
    w->accepted = plow_calloc((size_t)n, sizeof *w->accepted);
    *out = w;
    return 0;
}

static void release_claims(rollout_local *w) {
    for (int i = 0; i < w->n_claims; i++) rollout_claim_release(&w->claims[i]);
    free(w->claims);
    w->claims = NULL;
    w->n_claims = 0;
}

void rollout_local_free(rollout_local *w) {
    if (!w) return;
    release_claims(w);
    for (int i = 0; i < w->n; i++) {
        free(w->cheats[i]);
        ledger_key_wipe(&w->keys[i]);
    }
    free(w->cheats);
    free(w->keys);
    free(w->accepted);
    free(w);
}

const int *rollout_local_accepted(const rollout_local *w) { return w->accepted; }

void rollout_local_generated(const rollout_local *w, double *tokens, double *seconds) {
    *tokens = w->gen_tokens;
    *seconds = w->gen_seconds;
}

/* the worker's cheat on rollout r (i its index, ro the step's) */
static int cheat_on(train_state *s, const char *cheat, int i, rl_rollout *ro, int n,
                    char err[PLOW_ERR_LEN]) {
    rl_rollout *r = &ro[i];
    if (strcmp(cheat, "prompt") == 0) { /* the prompt of another problem of the step, sampled with r's seed */
        for (int k = 0; k < n; k++)
            if (ro[k].problem != r->problem) {
                uint64_t seed = r->seed;
                *r = ro[k];
                r->seed = seed;
                return rl_rollout_generate(s, r, err);
            }
        return 0; /* one problem only: nothing to pick */
    }
    if (strcmp(cheat, "reward") == 0) {
        r->reward += 1.0f;
        return 0;
    }
    /* fabricated: the first token replaced by the next id that holds no '\n' */
    const model *m;
    const lora *l;
    const tokenizer *tok;
    rl_policy(s, &m, &l, &tok);
    int V = tokenizer_vocab_size(tok);
    int32_t *t = &r->tok[r->n_prompt];
    for (int k = 1; k < V; k++) { /* r has two tokens or more: its first holds no '\n' either way */
        int32_t c = (int32_t)((*t + k) % V);
        const uint8_t *b;
        size_t bn;
        if (tokenizer_token_bytes(tok, c, &b, &bn) == 0 && !memchr(b, '\n', bn)) {
            *t = c;
            break;
        }
    }
    rl_rollout_grade(s, r); /* the reward of what it claims: only the token is false */
    return 0;
}

static int local_claims(void *arg, train_state *s, const rollout_claim **claims, char err[PLOW_ERR_LEN]) {
    rollout_local *w = arg;
    release_claims(w);
    int n = rl_rollout_count(s);
    rl_rollout *ro = plow_calloc((size_t)n, sizeof *ro);
    int rc = -1;
    if (rl_rollouts_expected(s, ro, err)) goto out;
    double t0 = plow_now();
    for (int i = 0; i < n; i++) {
        if (rl_rollout_generate(s, &ro[i], err)) goto out;
        w->gen_tokens += ro[i].n;
    }
    w->gen_seconds += plow_now() - t0;
    bool *cheated = plow_calloc((size_t)w->n, sizeof *cheated);
    for (int i = 0; i < n; i++) {
        int k = i % w->n;
        if (w->cheats[k] && !cheated[k] && (strcmp(w->cheats[k], "fabricated") != 0 || ro[i].n > 1)) {
            cheated[k] = true;
            if (cheat_on(s, w->cheats[k], i, ro, n, err)) {
                free(cheated);
                goto out;
            }
        }
    }
    free(cheated);
    w->claims = plow_calloc((size_t)n, sizeof *w->claims);
    w->n_claims = n;
    for (int i = 0; i < n; i++) {
        rollout_claim_make(s, &ro[i], &w->keys[i % w->n], &w->claims[i]);
        claims[i] = &w->claims[i];
        w->accepted[i % w->n]++; /* taken back below if refused */
    }
    rc = 0;
out:
    free(ro);
    return rc;
}

static void local_refused(void *arg, train_state *s, const rollout_refusal *f, const rollout_claim *c) {
    rollout_local *w = arg;
    for (int k = 0; k < w->n; k++)
        if (memcmp(w->keys[k].pk, f->worker, LEDGER_PK_LEN) == 0) w->accepted[k]--;
    if (!w->fraud_dir) return;
    char err[PLOW_ERR_LEN], *path = NULL;
    size_t pl = strlen(w->fraud_dir) + 64;
    path = plow_alloc(pl);
    uint64_t step = train_state_step(s) + 1;
    if (plow_mkdir_p(w->fraud_dir, err) == 0) {
        snprintf(path, pl, "%s/step-%" PRIu64 "-rollout-%d.json", w->fraud_dir, step, f->index);
        if (receipt_save(&c->rc, path, err)) fprintf(stderr, "rollouts: %s\n", err);
    }
    const model *m;
    const lora *l;
    const tokenizer *tok;
    rl_policy(s, &m, &l, &tok);
    if (f->verdict == ROLLOUT_FABRICATED && !l) { /* receipt_fraud rules on a model without adapter */
        snprintf(path, pl, "%s/policy-%" PRIu64, w->fraud_dir, step);
        char *tp = plow_alloc(pl + 16);
        snprintf(tp, pl + 16, "%s/tokenizer.bin", path);
        if (modelio_save_model(m, path, err) || tokenizer_save(tok, tp, err)) fprintf(stderr, "rollouts: %s\n", err);
        free(tp);
    }
    free(path);
}

rollout_source rollout_local_source(rollout_local *w, const char *fraud_dir) {
    w->fraud_dir = fraud_dir;
    return (rollout_source){w, local_claims, local_refused};
}
