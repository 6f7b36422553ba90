/*
 * rollout.c — distributed rollouts: claims made, checked and stepped on
 * (rollout.h).
 */
#include "rollout.h"

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

int rollout_step(train_state *s, const rollout_claim *const *claims, rollout_report *rep, train_stats *st,
                 rl_stats *rs, char err[PLOW_ERR_LEN]) {
    memset(rep, 0, sizeof *rep);
    double t0 = plow_now();
    int n = rl_rollout_count(s);
    rl_rollout *want = plow_calloc((size_t)n, sizeof *want), *got = plow_calloc((size_t)n, sizeof *got);
    bool *ok = plow_calloc((size_t)n, sizeof *ok);
    int rc = -1;
    if (rl_rollouts_expected(s, want, err)) goto out;
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
    }
    double t1 = plow_now();
    rep->check_seconds = t1 - t0;
    for (int i = 0; i < n; i++) {
        if (ok[i]) continue;
        got[i] = want[i];
        if (rl_rollout_generate(s, &got[i], err)) goto out;
        rep->sampled++;
    }
    rep->sample_seconds = plow_now() - t1;
    if (rl_step_with(s, got, st, rs, err)) goto out;
    rep->step_seconds = plow_now() - t0;
    rc = 0;
out:
    free(want);
    free(got);
    free(ok);
    return rc;
}
