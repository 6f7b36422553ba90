/*
 * test_rl.c — problems with checkable answers and the RL (GRPO-style) step:
 * answers recomputed independently from the prompt text, disjoint splits,
 * the checker on malformed completions, the gradient against finite
 * differences of a double-precision forward, bit-identical states across thread
 * counts and SIMD paths, one-step replay (rollouts included), the header's
 * commitments, and the cheats a worker could try on a step.
 */
#include "../src/base/plow.h"

#include <math.h>

#include "../src/data/problems.h"
#include "../src/data/tokenizer.h"
#include "../src/job/rollout.h"
#include "../src/tensor/tensor.h"
#include "../src/train/rl.h"
#include "../src/train/train_impl.h" /* train_apply_gradient: a cheat steps by hand */
#include "fixture.h"
#include "ref_model.h"
#include "test.h"

/* problems 0..2 of {all kinds, 1-3 digits, train, seed 1}: `plow rl problems --kinds all
 * --digits 1-3 --seed 1 --n 3 --answers` at the generator's first version */
#define PIN_PROBLEMS "Q: 2?9 A: <|Q: 4x+575=1231 x= A: 164|Q: 16?16 A: =|"

/* ---- problems ---------------------------------------------------------------------- */

static uint64_t digits_of(uint64_t v) {
    uint64_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Recompute the answer from the prompt's text alone. */
static void test_problem_answers(void) {
    problem_set ps = {PROBLEM_ALL_KINDS, 1, 4, PROBLEM_TRAIN, 3};
    char err[PLOW_ERR_LEN];
    CHECKF(problem_set_check(&ps, err) == 0, "%s", err);
    int seen[PROBLEM_KIND_COUNT] = {0};
    for (uint64_t i = 0; i < 3000; i++) {
        problem p;
        problem_get(&ps, i, &p);
        seen[p.kind]++;
        unsigned long long a, b, c, x;
        char op, want[PROBLEM_TEXT_MAX];
        CHECKF(p.digits >= 1 && p.digits <= 4, "digits %u", p.digits);
        if (p.kind == PROBLEM_LIN) {
            CHECKF(sscanf(p.prompt, "Q: %llux+%llu=%llu x= A:", &a, &b, &c) == 3, "'%s'", p.prompt);
            CHECKF(a >= 2 && a <= 9 && c >= b && (c - b) % a == 0, "'%s'", p.prompt);
            x = (c - b) / a;
            snprintf(want, sizeof want, " %llu", x);
            CHECKF(digits_of(x) <= p.digits, "'%s' unknown has more than %u digits", p.prompt, p.digits);
        } else {
            CHECKF(sscanf(p.prompt, "Q: %llu%c%llu", &a, &op, &b) == 3, "'%s'", p.prompt);
            switch (p.kind) {
            case PROBLEM_ADD: CHECK(op == '+'); snprintf(want, sizeof want, " %llu", a + b); break;
            case PROBLEM_SUB: CHECK(op == '-' && a >= b); snprintf(want, sizeof want, " %llu", a - b); break;
            case PROBLEM_MUL: CHECK(op == '*' && b < 10); snprintf(want, sizeof want, " %llu", a * b); break;
            case PROBLEM_CMP:
                CHECK(op == '?');
                snprintf(want, sizeof want, " %c", a < b ? '<' : a > b ? '>' : '=');
                break;
            default: CHECK(0);
            }
            CHECKF(digits_of(a) == p.digits || (p.digits == 1 && a < 10), "'%s' operand digits", p.prompt);
        }
        CHECKF(strcmp(p.answer, want) == 0, "'%s': answer '%s', recomputed '%s'", p.prompt, p.answer, want);
        /* the checker accepts the answer and refuses a neighbour */
        char text[64];
        snprintf(text, sizeof text, "%s\n", p.answer);
        CHECK(problem_check(&p, (const uint8_t *)text, strlen(text)) == PROBLEM_RIGHT);
    }
    for (int k = 0; k < PROBLEM_KIND_COUNT; k++) CHECKF(seen[k] > 400, "kind %s drawn %d times", problem_kind_name(k), seen[k]);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void test_problem_splits_and_seeds(void) {
    enum { N = 1500 };
    char (*tr)[PROBLEM_TEXT_MAX] = calloc(3 * N, PROBLEM_TEXT_MAX), (*ho)[PROBLEM_TEXT_MAX] = calloc(N, PROBLEM_TEXT_MAX);
    for (int s = 0; s < 3; s++) {
        problem_set ps = {1u << PROBLEM_ADD, 1, 2, PROBLEM_TRAIN, (uint64_t)s + 1};
        for (int i = 0; i < N; i++) {
            problem p;
            problem_get(&ps, (uint64_t)i, &p);
            memcpy(tr[s * N + i], p.prompt, PROBLEM_TEXT_MAX);
        }
    }
    problem_set hs = {1u << PROBLEM_ADD, 1, 2, PROBLEM_HELDOUT, 1};
    for (int i = 0; i < N; i++) {
        problem p;
        problem_get(&hs, (uint64_t)i, &p);
        memcpy(ho[i], p.prompt, PROBLEM_TEXT_MAX);
    }
    qsort(tr, 3 * N, PROBLEM_TEXT_MAX, cmp_str);
    int overlap = 0;
    for (int i = 0; i < N; i++) overlap += bsearch(ho[i], tr, 3 * N, PROBLEM_TEXT_MAX, cmp_str) != NULL;
    CHECKF(overlap == 0, "%d held-out problems appear in training sets", overlap);
    /* the same set gives the same problems; another seed, others */
    problem a, b, c;
    problem_set s1 = {PROBLEM_ALL_KINDS, 1, 3, PROBLEM_TRAIN, 9}, s2 = s1;
    s2.seed = 10;
    int same = 0;
    for (uint64_t i = 0; i < 200; i++) {
        problem_get(&s1, i, &a);
        problem_get(&s1, i, &b);
        problem_get(&s2, i, &c);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        same += strcmp(a.prompt, c.prompt) == 0;
    }
    CHECKF(same < 20, "seeds 9 and 10 share %d of 200 problems", same);
    /* pinned: problem 0..2 of a set never change (a changed generator changes every task) */
    problem_set pin = {PROBLEM_ALL_KINDS, 1, 3, PROBLEM_TRAIN, 1};
    plow_buf all = {0};
    for (uint64_t i = 0; i < 3; i++) {
        problem_get(&pin, i, &a);
        plow_buf_printf(&all, "%s%s|", a.prompt, a.answer);
    }
    CHECKF(all.len == strlen(PIN_PROBLEMS) && memcmp(all.data, PIN_PROBLEMS, all.len) == 0, "pinned problems: '%.*s'", (int)all.len,
           (char *)all.data);
    plow_buf_release(&all);
    free(tr);
    free(ho);
}

static void test_problem_checker_malformed(void) {
    problem add = {PROBLEM_ADD, 2, "Q: 37+85= A:", " 122"}, cmp = {PROBLEM_CMP, 2, "Q: 37?85 A:", " <"};
    struct {
        const problem *p;
        const char *text;
        size_t n; /* 0: strlen */
        problem_grade want;
    } cases[] = {
        {&add, " 122\n", 0, PROBLEM_RIGHT},
        {&add, " 122\nQ: 1+1= A: 2\n", 0, PROBLEM_RIGHT}, /* text after the line is ignored */
        {&add, " 123\n", 0, PROBLEM_WRONG},
        {&add, " -122\n", 0, PROBLEM_WRONG},
        {&add, " 122", 0, PROBLEM_WRONG_FORMAT},  /* never ends */
        {&add, "122\n", 0, PROBLEM_WRONG_FORMAT}, /* no space */
        {&add, "  122\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " 0122\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " -0\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " -\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " 12 2\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " 122 \n", 0, PROBLEM_WRONG_FORMAT},
        {&add, " \n", 0, PROBLEM_WRONG_FORMAT},
        {&add, "\n", 0, PROBLEM_WRONG_FORMAT},
        {&add, "", 0, PROBLEM_WRONG_FORMAT},
        {&add, " 1\0002\n", 5, PROBLEM_WRONG_FORMAT},
        {&add, " 123456789012345678901\n", 0, PROBLEM_WRONG_FORMAT}, /* over 20 digits */
        {&add, " 12345678901234567890\n", 0, PROBLEM_WRONG},
        {&add, " <\n", 0, PROBLEM_WRONG_FORMAT},
        {&cmp, " <\n", 0, PROBLEM_RIGHT},
        {&cmp, " >\n", 0, PROBLEM_WRONG},
        {&cmp, " =\n", 0, PROBLEM_WRONG},
        {&cmp, " 1\n", 0, PROBLEM_WRONG_FORMAT},
        {&cmp, " <<\n", 0, PROBLEM_WRONG_FORMAT},
        {&cmp, "<\n", 0, PROBLEM_WRONG_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].text);
        problem_grade g = problem_check(cases[i].p, (const uint8_t *)cases[i].text, n);
        CHECKF(g == cases[i].want, "case %zu ('%s'): grade %d, want %d", i, cases[i].text, g, cases[i].want);
    }
    char err[PLOW_ERR_LEN];
    uint32_t mask;
    CHECK(problem_parse_kinds("add,cmp", &mask, err) == 0 && mask == ((1u << PROBLEM_ADD) | (1u << PROBLEM_CMP)));
    CHECK(problem_parse_kinds("all", &mask, err) == 0 && mask == PROBLEM_ALL_KINDS);
    CHECK(problem_parse_kinds("add,div", &mask, err) != 0 && strstr(err, "div"));
    CHECK(problem_parse_kinds("", &mask, err) != 0);
    CHECK(problem_parse_kinds(",", &mask, err) != 0);
    problem_set bad[] = {{0, 1, 2, 0, 1}, {1u << 7, 1, 2, 0, 1}, {1, 0, 2, 0, 1}, {1, 3, 2, 0, 1}, {1, 1, 7, 0, 1}, {1, 1, 2, 2, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECKF(problem_set_check(&bad[i], err) != 0, "bad set %zu", i);
}

/* ---- the RL step ------------------------------------------------------------------------ */

static tokenizer *g_tok;

static void setup(void) {
    if (g_tok) return;
    char err[PLOW_ERR_LEN];
    problem_set ps = {PROBLEM_ALL_KINDS, 1, 2, PROBLEM_TRAIN, 1};
    plow_buf b = {0};
    for (uint64_t i = 0; i < 3000; i++) {
        problem p;
        problem_get(&ps, i, &p);
        plow_buf_printf(&b, "%s%s\n", p.prompt, p.answer);
    }
    CHECKF(tokenizer_train(&g_tok, b.data, b.len, 300, NULL, NULL, err) == 0, "%s", err);
    plow_buf_release(&b);
}

/* 2 layers, d 32: small enough for many RL steps in a unit test. */
static model *pico_model(uint64_t seed) {
    model_config c = fixture_config("pico", 2, 32, 4, 2, 64, 48, tokenizer_vocab_size(g_tok), true);
    return fixture_model(&c, seed);
}

static const problem_set g_set = {(1u << PROBLEM_ADD) | (1u << PROBLEM_CMP), 1, 2, PROBLEM_TRAIN, 4};

static void rl_hp(train_hparams *hp, bool is_lora, int steps) {
    train_hparams_default(hp, is_lora, steps, 32);
    hp->batch = 2;
    hp->seq = 26; /* 2*2 + 14 prompt tokens at most, + 8 new - 1 */
    hp->lr = is_lora ? 5e-3f : 2e-3f;
    hp->min_lr = hp->lr * 0.1f;
    hp->wd = 0.0f;
    hp->seed = 11;
    hp->clip = 0.05f; /* small: the clipping path runs too */
}

static void rl_rp(rl_params *rp) {
    rl_params_default(rp);
    rp->group = 4;
    rp->max_new = 8;
    rp->top_k = 40;
    rp->kl = 0.1f;
}

static int new_rl(train_state **s, model *m, lora *l, int steps) {
    char err[PLOW_ERR_LEN];
    train_hparams hp;
    rl_hp(&hp, l != NULL, steps);
    rl_params rp;
    rl_rp(&rp);
    int rc = train_state_new_rl(s, m, l, &hp, &rp, &g_set, g_tok, err);
    CHECKF(rc == 0, "%s", err);
    return rc;
}

static void run_rl(const char *path, int threads, bool with_lora, int steps, uint8_t out[PLOW_HASH_LEN]) {
    char err[PLOW_ERR_LEN];
    CHECKF(tensor_init(path, threads, err) == 0, "%s", err);
    model *m = pico_model(31);
    lora *l = NULL;
    if (with_lora) {
        CHECK(lora_new(&l, &m->cfg, 4, 8.0f, LORA_Q | LORA_V | LORA_UP, err) == 0);
        lora_init_weights(l, 6);
    }
    train_state *s;
    if (new_rl(&s, m, l, steps) == 0) {
        for (int i = 0; i < steps; i++) CHECKF(rl_step(s, NULL, NULL, err) == 0, "%s", err);
        train_state_hash(s, out);
        train_state_free(s);
    }
    lora_free(l);
    model_free(m);
}

static void test_rl_identical_across_threads_and_paths(void) {
    setup();
    fixture_paths_agree("RL", getenv("PLOW_TEST_QUICK") ? 2 : 3, run_rl, false);
}

/* A verifier holding state j-1 replays step j exactly, rollouts included;
 * the header commits to the RL parameters. */
static void test_rl_replay_and_header(void) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL);
    for (int with_lora = 0; with_lora < 2; with_lora++) {
        model *m1 = pico_model(32), *m2 = pico_model(32);
        lora *l1 = NULL, *l2 = NULL;
        if (with_lora) {
            CHECK(lora_new(&l1, &m1->cfg, 4, 8.0f, LORA_Q | LORA_V, err) == 0);
            CHECK(lora_new(&l2, &m2->cfg, 4, 8.0f, LORA_Q | LORA_V, err) == 0);
            lora_init_weights(l1, 1);
            lora_init_weights(l2, 1);
        }
        train_state *a = NULL, *b = NULL;
        if (new_rl(&a, m1, l1, 10) || new_rl(&b, m2, l2, 10)) goto next;
        uint8_t h2[PLOW_HASH_LEN], h3[PLOW_HASH_LEN], hb[PLOW_HASH_LEN];
        for (int i = 0; i < 2; i++) CHECK(rl_step(a, NULL, NULL, err) == 0);
        train_state_hash(a, h2);
        plow_buf st2 = {0};
        train_state_serialize(a, &st2);
        CHECK(rl_step(a, NULL, NULL, err) == 0);
        train_state_hash(a, h3);
        int na, nb;
        const rl_rollout *ra = train_state_rl_rollouts(a, &na);
        rl_rollout *keep = malloc(sizeof *keep * (size_t)na);
        memcpy(keep, ra, sizeof *keep * (size_t)na);
        /* b restores state 2 (from a fresh state on a model in another place) and replays step 3 */
        CHECKF(train_state_restore(b, st2.data, st2.len, err) == 0, "%s", err);
        train_state_hash(b, hb);
        CHECK(memcmp(hb, h2, sizeof hb) == 0);
        CHECK(rl_sample(b, err) == 0);
        const rl_rollout *rb = train_state_rl_rollouts(b, &nb);
        CHECKF(nb == na && memcmp(rb, keep, sizeof *keep * (size_t)na) == 0, "rollouts of the replayed step differ");
        CHECK(rl_step(b, NULL, NULL, err) == 0);
        train_state_hash(b, hb);
        CHECKF(memcmp(hb, h3, sizeof hb) == 0, "%s: replayed step 3 differs", with_lora ? "LoRA" : "full");
        /* every rollout is a pure function of (problem, seed): the groups hold
         * different samples of one problem, rewarded by the checker */
        for (int i = 0; i < na; i++) {
            CHECK(keep[i].n >= 1 && keep[i].n <= 8 && keep[i].problem == keep[i - i % 4].problem);
            CHECK(i % 4 == 0 || keep[i].seed != keep[i - 1].seed);
        }
        free(keep);
        /* another RL parameter: another header, the restore is refused */
        {
            train_hparams hp;
            rl_hp(&hp, with_lora, 10);
            rl_params rp;
            rl_rp(&rp);
            rp.kl = 0.2f;
            train_state *c = NULL;
            if (train_state_new_rl(&c, m2, l2, &hp, &rp, &g_set, g_tok, err) == 0) {
                CHECKF(train_state_restore(c, st2.data, st2.len, err) != 0, "a state with another KL was restored");
                train_state_free(c);
            }
            rp.kl = 0.1f;
            problem_set other = g_set;
            other.seed++;
            if (train_state_new_rl(&c, m2, l2, &hp, &rp, &other, g_tok, err) == 0) {
                CHECKF(train_state_restore(c, st2.data, st2.len, err) != 0, "a state of another problem set was restored");
                train_state_free(c);
            }
        }
        plow_buf_release(&st2);
    next:
        train_state_free(a);
        train_state_free(b);
        lora_free(l1);
        lora_free(l2);
        model_free(m1);
        model_free(m2);
    }
    tensor_init("auto", 2, NULL);
}

/* ---- cheats on a step's rollouts --------------------------------------------------- */

enum { CHEAT_FABRICATE, CHEAT_REWARD, CHEAT_CHERRY, CHEAT_N };

/* What a worker who makes the step's rollouts itself could change before the
 * update: a completion replaced by the right answer (fabricated rollout), a
 * wrong completion's reward reported as right, a group whose worst sample is
 * replaced by a copy of its best (cherry-picked samples). */
static void cheat_rollouts(int kind, rl_rollout *ro, int rows, int G, float right_reward) {
    char err[PLOW_ERR_LEN];
    if (kind == CHEAT_FABRICATE) {
        problem p;
        problem_get(&g_set, ro[0].problem, &p);
        char text[PROBLEM_TEXT_MAX + 2];
        snprintf(text, sizeof text, "%s\n", p.answer);
        int32_t *ids = NULL;
        size_t n = 0;
        CHECKF(tokenizer_encode(g_tok, (const uint8_t *)text, strlen(text), &ids, &n, err) == 0, "%s", err);
        CHECK(n >= 1 && n <= RL_MAX_NEW);
        for (size_t i = 0; i < n; i++) ro[0].tok[ro[0].n_prompt + (int)i] = ids[i];
        ro[0].n = (int)n;
        ro[0].grade = problem_check(&p, (const uint8_t *)text, strlen(text));
        CHECK(ro[0].grade == PROBLEM_RIGHT); /* the fabricated answer is right: the cheat is worth trying */
        ro[0].reward = right_reward;
        free(ids);
    } else if (kind == CHEAT_REWARD) {
        int w = 0;
        while (w < G && ro[w].grade == PROBLEM_RIGHT) w++;
        CHECK(w < G);
        ro[w].reward = right_reward;
    } else {
        /* a sample replaced by a copy of its group's best, reward included,
         * where the two completions differ */
        for (int b = 0; b < rows / G; b++) {
            rl_rollout *gr = ro + b * G;
            int best = 0;
            for (int g = 1; g < G; g++)
                if (gr[g].reward > gr[best].reward) best = g;
            for (int g = 0; g < G; g++)
                if (gr[g].n != gr[best].n ||
                    memcmp(gr[g].tok, gr[best].tok, sizeof gr[g].tok[0] * (size_t)(gr[g].n_prompt + gr[g].n)) != 0) {
                    gr[g] = gr[best];
                    return;
                }
        }
        CHECKF(0, "every group's completions are equal: nothing to cherry-pick");
    }
}

/* Every cheat on step j's rollouts gives a state other than the honest
 * replay of step j from state j-1: a verifier catches it at that step. */
static void test_rl_cheats_caught(void) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL);
    static const char *const names[CHEAT_N] = {"fabricated rollout", "misreported reward", "cherry-picked samples"};
    model *m = pico_model(33);
    train_state *s = NULL;
    plow_buf st = {0};
    if (new_rl(&s, m, NULL, 10)) goto out;
    /* the policy away from its reference: an untrained policy is never right
     * and, equal to its reference, would get a zero gradient whatever its
     * rollouts (then a cheat changes nothing, and gains nothing) */
    fixture_move_policy(m, NULL, 9);
    for (int i = 0; i < 2; i++) CHECK(rl_step(s, NULL, NULL, err) == 0);
    train_state_serialize(s, &st);
    uint8_t honest[PLOW_HASH_LEN], again[PLOW_HASH_LEN];
    CHECK(rl_step(s, NULL, NULL, err) == 0);
    train_state_hash(s, honest);
    const rl_params *rp = train_state_rl_params(s);
    float right = 1.0f + rp->format_reward;
    for (int kind = 0; kind < CHEAT_N; kind++) {
        CHECKF(train_state_restore(s, st.data, st.len, err) == 0, "%s", err);
        CHECKF(rl_sample(s, err) == 0, "%s", err);
        int rows;
        rl_rollout *ro = (rl_rollout *)train_state_rl_rollouts(s, &rows);
        cheat_rollouts(kind, ro, rows, (int)rp->group, right);
        float loss = rl_gradient(s, NULL);
        train_apply_gradient(s, loss, plow_now(), NULL);
        uint8_t h[PLOW_HASH_LEN];
        train_state_hash(s, h);
        CHECKF(memcmp(h, honest, sizeof h) != 0, "%s: the state equals the honest step's", names[kind]);
    }
    /* and the honest replay from the same state is the honest step, bit for bit */
    CHECKF(train_state_restore(s, st.data, st.len, err) == 0, "%s", err);
    CHECK(rl_step(s, NULL, NULL, err) == 0);
    train_state_hash(s, again);
    CHECK(memcmp(again, honest, sizeof again) == 0);
out:
    plow_buf_release(&st);
    train_state_free(s);
    model_free(m);
    tensor_init("auto", 2, NULL);
}

/* ---- distributed rollouts ----------------------------------------------------------- */

enum { DR_HONEST, DR_FABRICATED, DR_REWARD, DR_PROMPT, DR_EARLY, DR_SEED, DR_N };

/* Two rollout workers, A (honest) on the even rollouts and B on the odd ones,
 * each holding its own copy of state j-1. The trainer's step on their claims
 * is rl_step's state, bit for bit. B's cheats (a fabricated completion, a
 * misreported reward, a cherry-picked prompt, a completion cut short, another
 * seed) are each refused with B named, the rollout sampled by the trainer,
 * and the step still the honest bits; the fabricated receipt, checked alone
 * by one prefill (the referee's receipt_fraud ruling), names the wrong token. */
static int given_claims(void *arg, train_state *s, const rollout_claim **claims, char err[PLOW_ERR_LEN]) {
    (void)err;
    memcpy(claims, arg, sizeof *claims * (size_t)rl_rollout_count(s));
    return 0;
}

static void test_rl_distributed_rollouts(void) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL);
    static const char *const names[DR_N] = {"honest", "fabricated", "misreported reward", "cherry-picked prompt",
                                            "cut short", "another seed"};
    static const rollout_verdict want_v[DR_N] = {ROLLOUT_ACCEPTED, ROLLOUT_FABRICATED, ROLLOUT_WRONG_REWARD,
                                                 ROLLOUT_WRONG_PROMPT, ROLLOUT_BAD_END, ROLLOUT_WRONG_SAMPLING};
    model *m = pico_model(33), *m2 = pico_model(33);
    train_state *s = NULL, *w = NULL;
    plow_buf st = {0};
    rl_rollout *ro = NULL;
    rollout_claim *cl = NULL;
    const rollout_claim **cp = NULL;
    int n = 0;
    if (new_rl(&s, m, NULL, 10) || new_rl(&w, m2, NULL, 10)) goto out;
    fixture_move_policy(m, NULL, 9);
    for (int i = 0; i < 2; i++) CHECK(rl_step(s, NULL, NULL, err) == 0);
    train_state_serialize(s, &st);
    uint8_t honest[PLOW_HASH_LEN];
    CHECK(rl_step(s, NULL, NULL, err) == 0);
    train_state_hash(s, honest);
    ledger_key ka, kb;
    uint8_t seed[32] = {1};
    ledger_key_from_seed(&ka, seed);
    seed[0] = 2;
    ledger_key_from_seed(&kb, seed);
    n = rl_rollout_count(s);
    ro = plow_calloc((size_t)n, sizeof *ro);
    cl = plow_calloc((size_t)n, sizeof *cl);
    cp = plow_calloc((size_t)n, sizeof *cp);
    for (int kind = 0; kind < DR_N; kind++) {
        /* the workers' side: state j-1, the step's rollouts generated and signed */
        CHECKF(train_state_restore(w, st.data, st.len, err) == 0, "%s", err);
        CHECKF(rl_rollouts_expected(w, ro, err) == 0, "%s", err);
        for (int i = 0; i < n; i++) {
            CHECKF(rl_rollout_generate(w, &ro[i], err) == 0, "%s", err);
            rollout_claim_make(w, &ro[i], i % 2 ? &kb : &ka, &cl[i]);
            cp[i] = &cl[i];
        }
        int bad = 1; /* B's first rollout; a cut needs two tokens */
        if (kind == DR_EARLY || kind == DR_FABRICATED)
            for (int i = 1; i < n; i += 2)
                if (ro[i].n >= 2) {
                    bad = i;
                    break;
                }
        receipt *r = &cl[bad].rc;
        switch (kind) {
        case DR_FABRICATED: { /* its first token replaced by another that ends nothing */
            int32_t t = r->output[0];
            const uint8_t *tb;
            size_t tn;
            do t = (t + 1) % tokenizer_vocab_size(g_tok);
            while (tokenizer_token_bytes(g_tok, t, &tb, &tn) != 0 || memchr(tb, '\n', tn));
            r->output[0] = t;
            rl_rollout x = ro[bad];
            x.tok[x.n_prompt] = t;
            rl_rollout_grade(w, &x);
            cl[bad].reward = x.reward; /* the reward of what it claims: only the token is false */
            break;
        }
        case DR_REWARD: cl[bad].reward += 1.0f; break;
        case DR_PROMPT: { /* the prompt of another problem of the step */
            int other = -1;
            for (int i = 0; i < n && other < 0; i++)
                if (ro[i].n_prompt != ro[bad].n_prompt ||
                    memcmp(ro[i].tok, ro[bad].tok, sizeof(int32_t) * (size_t)ro[i].n_prompt))
                    other = i;
            CHECK(other >= 0);
            if (other < 0) break;
            rollout_claim_release(&cl[bad]);
            rl_rollout x = ro[other];
            x.seed = ro[bad].seed;
            CHECK(rl_rollout_generate(w, &x, err) == 0);
            rollout_claim_make(w, &x, &kb, &cl[bad]);
            break;
        }
        case DR_EARLY: r->n_output--; break;
        case DR_SEED: r->sampling.seed ^= 1; break;
        default: break;
        }
        if (kind != DR_HONEST && kind != DR_PROMPT) receipt_sign(r, &kb); /* B signs what it sends */
        /* the trainer's side */
        CHECKF(train_state_restore(s, st.data, st.len, err) == 0, "%s", err);
        rollout_report rep;
        rollout_source src = {cp, given_claims, NULL};
        CHECKF(rollout_step(s, &src, &rep, NULL, NULL, err) == 0, "%s: %s", names[kind], err);
        uint8_t h[PLOW_HASH_LEN];
        train_state_hash(s, h);
        CHECKF(memcmp(h, honest, sizeof h) == 0, "%s: the step is not the in-step sampled step's bits", names[kind]);
        if (kind == DR_HONEST) {
            CHECKF(rep.accepted == n && rep.refused == 0 && rep.sampled == 0, "honest: %d accepted, %d refused",
                   rep.accepted, rep.refused);
        } else {
            CHECKF(rep.refused == 1 && rep.accepted == n - 1 && rep.sampled == 1, "%s: %d refused, %d accepted",
                   names[kind], rep.refused, rep.accepted);
            if (rep.refused == 1) {
                char addr[LEDGER_ADDR_STR_LEN];
                ledger_addr_format(kb.pk, addr);
                CHECKF(rep.refusals[0].index == bad && rep.refusals[0].verdict == want_v[kind] &&
                           memcmp(rep.refusals[0].worker, kb.pk, 32) == 0 && strstr(rep.refusals[0].why, addr),
                       "%s: refused rollout %d as %s: %s", names[kind], rep.refusals[0].index,
                       rollout_verdict_name(rep.refusals[0].verdict), rep.refusals[0].why);
            }
        }
        if (kind == DR_FABRICATED) { /* the receipt alone proves it: what the referee rules on */
            CHECKF(train_state_restore(w, st.data, st.len, err) == 0, "%s", err);
            receipt_check ck;
            CHECK(receipt_verify(r, m2, NULL, g_tok, &ck, err) == 0 && !ck.valid && ck.bad_position == 0);
            CHECK(receipt_sig_ok(r) && memcmp(r->worker, kb.pk, 32) == 0);
        }
        rollout_report_release(&rep);
        for (int i = 0; i < n; i++) rollout_claim_release(&cl[i]);
    }
out:
    free(ro);
    free(cl);
    free(cp);
    plow_buf_release(&st);
    train_state_free(s);
    train_state_free(w);
    model_free(m);
    model_free(m2);
    tensor_init("auto", 2, NULL);
}

/* ---- the gradient against finite differences of a double forward ----------------- */

/* The RL objective of the rollouts held, in double, as a function of the
 * policy pol: with pi0 the policy's log-probabilities at the sampled weights
 * (fixed), rho_t = exp(pi_t - pi0_t), and
 *     L = mean_i (1/n_i) sum_t [ -rho_t A_i + kl (exp(ref_t - pi_t) - (ref_t - pi_t) - 1) ]
 * (the clip does not bind near rho = 1), whose value and gradient at the
 * sampled weights are the engine's. pi0 holds NAN until the first call fills it. */
static double d_rl_loss(const ref_model *pol, const ref_model *ref, const rl_rollout *ro, int rows, const double *adv,
                        double kl, double *pi0) {
    double total = 0;
    for (int r = 0; r < rows; r++) {
        int T = ro[r].n_prompt + ro[r].n - 1, a = ro[r].n_prompt - 1;
        double lp[PROBLEM_TEXT_MAX + RL_MAX_NEW], lq[PROBLEM_TEXT_MAX + RL_MAX_NEW], sum = 0;
        ref_logp(pol, ro[r].tok, ro[r].tok + 1, T, lp);
        ref_logp(ref, ro[r].tok, ro[r].tok + 1, T, lq);
        for (int t = a; t < T; t++) {
            double *p0 = pi0 + r * (PROBLEM_TEXT_MAX + RL_MAX_NEW) + t;
            if (isnan(*p0)) *p0 = lp[t];
            double d = lq[t] - lp[t];
            sum += -exp(lp[t] - *p0) * adv[r] + kl * (exp(d) - d - 1.0);
        }
        total += sum / ro[r].n;
    }
    return total / rows;
}

struct rl_fd {
    const ref_model *pol, *ref;
    const rl_rollout *ro;
    int rows;
    const double *adv;
    double kl;
    double *pi0;
};
static double rl_fd_loss(void *ctx) {
    const struct rl_fd *x = ctx;
    return d_rl_loss(x->pol, x->ref, x->ro, x->rows, x->adv, x->kl, x->pi0);
}

static void rl_grads_for(bool with_lora) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL);
    model *m = pico_model(41);
    lora *l = NULL;
    if (with_lora) {
        CHECK(lora_new(&l, &m->cfg, 4, 8.0f, (1u << LORA_TARGET_COUNT) - 1, err) == 0);
        lora_init_weights(l, 5);
    }
    train_state *s = NULL;
    if (new_rl(&s, m, l, 10)) goto out;
    /* the reference is the weights as given (LoRA: the base without the
     * adapter); move the policy away from it */
    ref_model ref;
    ref_model_init(&ref, m, NULL);
    fixture_move_policy(m, l, 8);
    CHECKF(rl_sample(s, err) == 0, "%s", err);
    int rows;
    rl_rollout *ro = (rl_rollout *)train_state_rl_rollouts(s, &rows); /* the rollouts held: the test sets their rewards */
    int G = (int)train_state_rl_params(s)->group;
    double kl = train_state_rl_params(s)->kl;
    /* an untrained model is rarely right: rewards chosen so every group has
     * an advantage, of both signs and uneven sizes */
    for (int r = 0; r < rows; r++) ro[r].reward = (float)((r * 5 + r / G) % 3) * 0.5f;
    double *adv = plow_alloc(sizeof(double) * (size_t)rows);
    for (int b = 0; b < rows / G; b++) {
        double mean = 0, var = 0;
        for (int g = 0; g < G; g++) mean += ro[b * G + g].reward;
        mean /= G;
        for (int g = 0; g < G; g++) var += (ro[b * G + g].reward - mean) * (ro[b * G + g].reward - mean);
        double sd = sqrt(var / G);
        CHECK(sd > 0);
        for (int g = 0; g < G; g++) adv[b * G + g] = (ro[b * G + g].reward - mean) / (sd + 1e-4);
    }
    rl_stats rs;
    float loss = rl_gradient(s, &rs);
    const float *g = train_state_grad(s);
    ref_model pol;
    ref_model_init(&pol, m, l);
    size_t npi = (size_t)rows * (PROBLEM_TEXT_MAX + RL_MAX_NEW);
    double *pi0 = plow_alloc(sizeof(double) * npi);
    for (size_t i = 0; i < npi; i++) pi0[i] = NAN;
    double dl = d_rl_loss(&pol, &ref, ro, rows, adv, kl, pi0);
    CHECKF(fabs(dl - loss) < 2e-4 * fabs(dl) + 1e-5, "RL loss %.7g vs double reference %.7g", (double)loss, dl);
    CHECKF(rs.kl > 1e-4, "the policy should differ from the reference (KL %g)", (double)rs.kl);
    /* central differences on a few entries of every trainable tensor */
    struct rl_fd ctx = {&pol, &ref, ro, rows, adv, kl, pi0};
    fixture_grads_agree(m, l, g, l ? pol.lw : pol.w, rl_fd_loss, &ctx, 78, "RL");
    free(pi0);
    free(adv);
    ref_model_release(&ref);
    ref_model_release(&pol);
out:
    train_state_free(s);
    lora_free(l);
    model_free(m);
    tensor_init("auto", 2, NULL);
}

static void test_rl_grads_full(void) { rl_grads_for(false); }
static void test_rl_grads_lora(void) { rl_grads_for(true); }

static void test_rl_params_refused(void) {
    setup();
    char err[PLOW_ERR_LEN];
    model *m = pico_model(33);
    train_hparams hp;
    rl_hp(&hp, false, 5);
    rl_params rp;
    rl_rp(&rp);
    train_state *s = NULL;
    rl_params bad = rp;
    bad.group = 1;
    CHECK(train_state_new_rl(&s, m, NULL, &hp, &bad, &g_set, g_tok, err) != 0 && strstr(err, "group"));
    bad = rp;
    bad.max_new = 0;
    CHECK(train_state_new_rl(&s, m, NULL, &hp, &bad, &g_set, g_tok, err) != 0);
    bad = rp;
    bad.temperature = 0;
    CHECK(train_state_new_rl(&s, m, NULL, &hp, &bad, &g_set, g_tok, err) != 0);
    bad = rp;
    bad.kl = -1;
    CHECK(train_state_new_rl(&s, m, NULL, &hp, &bad, &g_set, g_tok, err) != 0);
    train_hparams short_hp = hp;
    short_hp.seq = 10;
    CHECK(train_state_new_rl(&s, m, NULL, &short_hp, &rp, &g_set, g_tok, err) != 0 && strstr(err, "sequence length"));
    problem_set big = g_set;
    big.max_digits = 6; /* prompts of 26 tokens + 8 new do not fit a 48-token context... they do: 33 */
    big.max_digits = 9;
    CHECK(train_state_new_rl(&s, m, NULL, &hp, &rp, &big, g_tok, err) != 0);
    CHECK(s == NULL);
    model_free(m);
}

const test_case rl_tests[] = {
    {"problems_answers_recomputed_from_the_text", test_problem_answers},
    {"problems_splits_disjoint_seeds_pinned", test_problem_splits_and_seeds},
    {"problems_checker_refuses_malformed_completions", test_problem_checker_malformed},
    {"rl_params_refused", test_rl_params_refused},
    {"rl_state_identical_across_threads_and_paths", test_rl_identical_across_threads_and_paths},
    {"rl_one_step_replay_with_rollouts_and_header", test_rl_replay_and_header},
    {"rl_cheats_on_rollouts_caught_at_their_step", test_rl_cheats_caught},
    {"rl_distributed_rollouts_same_bits_cheats_refused", test_rl_distributed_rollouts},
    {"rl_gradient_full_matches_finite_differences", test_rl_grads_full},
    {"rl_gradient_lora_matches_finite_differences", test_rl_grads_lora},
    {NULL, NULL},
};
