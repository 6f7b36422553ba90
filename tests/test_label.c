/*
 * test_label.c — crowdsourced labeling: the fortunes loader, commit–reveal,
 * majority vote, Dawid–Skene, gold scoring, pay and the simulated labelers.
 *
 * References are independent of src/label where they can be: the commitment
 * against a vector computed with Python's hashlib and against a hand-built
 * preimage; majority vote on cases worked by hand; Dawid–Skene against
 * confusion matrices planted by a generator written here. The corpus test
 * runs the library on real data nobody here wrote (Debian's fortunes, a file
 * per category) with simulated labelers of known accuracy, spammers, a
 * constant labeler and a colluding pair.
 */
#include "../src/base/plow.h"

#include <inttypes.h>
#include <math.h>

#include "../src/label/label.h"
#include "test.h"

static bool has(const char *err, const char *what) { return strstr(err, what) != NULL; }

/* ---- majority vote ------------------------------------------------------------ */

static void test_majority(void) {
    char err[PLOW_ERR_LEN];
    /* 5 items, 4 labelers, 3 classes. */
    const label_answer a[] = {
        /* item 0: 2,2,1 -> 2 */
        {0, 0, 2}, {0, 1, 2}, {0, 2, 1},
        /* item 1: 1,0 -> tie -> 0 */
        {1, 0, 1}, {1, 3, 0},
        /* item 2: 2,1,1,2 -> tie -> 1 */
        {2, 0, 2}, {2, 1, 1}, {2, 2, 1}, {2, 3, 2},
        /* item 3: nobody */
        /* item 4: one answer */
        {4, 2, 2},
    };
    label_problem p = {5, 4, 3, a, sizeof a / sizeof a[0]};
    uint32_t out[5];
    CHECK(label_majority(&p, out, err) == 0);
    CHECK(out[0] == 2);
    CHECK(out[1] == 0);
    CHECK(out[2] == 1);
    CHECK(out[3] == LABEL_NONE);
    CHECK(out[4] == 2);

    /* The order answers arrive in does not matter. */
    label_answer r[sizeof a / sizeof a[0]];
    size_t n = sizeof a / sizeof a[0];
    for (size_t i = 0; i < n; i++) r[i] = a[n - 1 - i];
    uint32_t out2[5];
    label_problem q = {5, 4, 3, r, n};
    CHECK(label_majority(&q, out2, err) == 0);
    CHECK(memcmp(out, out2, sizeof out) == 0);

    /* Dawid–Skene on the same problem: the unanswered item has no label, its
     * posterior is the prior. */
    label_ds_result d;
    CHECK(label_ds_run(&p, NULL, 0, NULL, &d, err) == 0);
    CHECK(d.map[3] == LABEL_NONE);
    CHECK(memcmp(d.posterior + 3 * 3, d.prior, 3 * sizeof(double)) == 0);
    CHECK(d.n_answers[0] == 3 && d.n_answers[1] == 2 && d.n_answers[2] == 3 && d.n_answers[3] == 2);
    label_ds_result_release(&d);
    label_ds_result_release(&d); /* twice is harmless */
}

/* ---- malformed inputs ---------------------------------------------------------- */

static void test_malformed(void) {
    char err[PLOW_ERR_LEN];
    const label_answer ok[] = {{0, 0, 1}, {1, 1, 0}};
    uint32_t out[4];

#define REFUSED(prob, what)                                                                                    \
    do {                                                                                                       \
        label_problem pp_ = prob;                                                                              \
        err[0] = 0;                                                                                            \
        CHECKF(label_problem_check(&pp_, err) == -1 && has(err, what), "check: want '%s', got '%s'", what, err); \
        err[0] = 0;                                                                                            \
        CHECKF(label_majority(&pp_, out, err) == -1 && has(err, what), "majority: want '%s', got '%s'", what,   \
               err);                                                                                           \
        label_ds_result d_;                                                                                    \
        err[0] = 0;                                                                                            \
        CHECKF(label_ds_run(&pp_, NULL, 0, NULL, &d_, err) == -1 && has(err, what), "ds: want '%s', got '%s'", \
               what, err);                                                                                     \
        label_ds_result_release(&d_);                                                                          \
    } while (0)

    REFUSED(((label_problem){0, 2, 2, ok, 2}), "no items");
    REFUSED(((label_problem){2, 0, 2, ok, 2}), "no labelers");
    REFUSED(((label_problem){2, 2, 1, ok, 2}), "1 classes");
    REFUSED(((label_problem){2, 2, 257, ok, 2}), "257 classes");
    REFUSED(((label_problem){2, 2, 2, ok, 0}), "no answers");
    REFUSED(((label_problem){2, 2, 2, NULL, 2}), "no answers");
    const label_answer bad_item[] = {{0, 0, 1}, {2, 1, 0}};
    REFUSED(((label_problem){2, 2, 2, bad_item, 2}), "answer 1: item 2 out of range (2 items)");
    const label_answer bad_labeler[] = {{0, 5, 1}};
    REFUSED(((label_problem){2, 2, 2, bad_labeler, 1}), "labeler 5 out of range");
    const label_answer bad_label[] = {{0, 0, 1}, {1, 1, 2}};
    REFUSED(((label_problem){2, 2, 2, bad_label, 2}), "answer 1: label 2 out of range (2 classes)");
    const label_answer huge_label[] = {{0, 0, UINT32_MAX}};
    REFUSED(((label_problem){2, 2, 2, huge_label, 1}), "out of range");
    const label_answer twice[] = {{1, 1, 0}, {0, 0, 1}, {1, 1, 1}};
    REFUSED(((label_problem){2, 2, 2, twice, 3}), "labeler 1 answered item 1 twice");
#undef REFUSED

    /* Gold. */
    label_problem p2 = {2, 2, 2, ok, 2};
    label_gold_score gs[2];
    label_ds_result d;
    const label_gold g_item[] = {{7, 0}};
    CHECK(label_gold_scores(&p2, g_item, 1, 500000, 1, gs, err) == -1 && has(err, "item out of range"));
    CHECK(label_ds_run(&p2, g_item, 1, NULL, &d, err) == -1 && has(err, "item out of range"));
    const label_gold g_label[] = {{0, 2}};
    CHECK(label_gold_scores(&p2, g_label, 1, 500000, 1, gs, err) == -1 && has(err, "label out of range"));
    const label_gold g_twice[] = {{0, 1}, {0, 1}};
    CHECK(label_gold_scores(&p2, g_twice, 2, 500000, 1, gs, err) == -1 && has(err, "listed twice"));
    CHECK(label_gold_scores(&p2, g_item, 0, 500000, 1, gs, err) == -1 && has(err, "no gold"));
    CHECK(label_gold_scores(&p2, NULL, 1, 500000, 1, gs, err) == -1 && has(err, "no array"));
    const label_gold g_ok[] = {{0, 1}};
    CHECK(label_gold_scores(&p2, g_ok, 1, 1000001, 1, gs, err) == -1 && has(err, "threshold"));
    CHECK(label_gold_scores(&p2, g_ok, 1, 500000, 0, gs, err) == -1 && has(err, "min_answered"));

    /* EM parameters. */
    label_ds_params prm = label_ds_defaults();
    prm.max_iter = 0;
    CHECK(label_ds_run(&p2, NULL, 0, &prm, &d, err) == -1 && has(err, "max_iter"));
    prm = label_ds_defaults();
    prm.smoothing = 0;
    CHECK(label_ds_run(&p2, NULL, 0, &prm, &d, err) == -1 && has(err, "smoothing"));
    prm.smoothing = 0.0 / 0.0;
    CHECK(label_ds_run(&p2, NULL, 0, &prm, &d, err) == -1 && has(err, "smoothing"));
    prm = label_ds_defaults();
    prm.tol = -1;
    CHECK(label_ds_run(&p2, NULL, 0, &prm, &d, err) == -1 && has(err, "tol"));
    label_ds_result_release(&d);

    /* Simulation. */
    label_sim_labeler sl[2] = {{LABEL_SIM_NOISY, 0.8, 0, 0}, {LABEL_SIM_SPAMMER, 0, 0, 0}};
    uint32_t truth[3] = {0, 1, 1};
    label_answer *a;
    size_t na;
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 3, 1, &a, &na, err) == -1 && has(err, "redundancy 3"));
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 0, 1, &a, &na, err) == -1 && has(err, "redundancy 0"));
    CHECK(label_sim_answers(sl, 0, truth, 3, 2, 1, 1, &a, &na, err) == -1 && has(err, "no labelers"));
    CHECK(label_sim_answers(sl, 2, truth, 0, 2, 1, 1, &a, &na, err) == -1 && has(err, "no items"));
    CHECK(label_sim_answers(sl, 2, truth, 3, 1, 1, 1, &a, &na, err) == -1 && has(err, "classes"));
    truth[2] = 2;
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 1, 1, &a, &na, err) == -1 && has(err, "true label 2"));
    truth[2] = 1;
    sl[0].p = 1.5;
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 1, 1, &a, &na, err) == -1 && has(err, "p outside"));
    sl[0] = (label_sim_labeler){LABEL_SIM_CONSTANT, 0, 2, 0};
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 1, 1, &a, &na, err) == -1 && has(err, "constant label 2"));
    sl[0] = (label_sim_labeler){LABEL_SIM_KIND_COUNT, 0, 0, 0};
    CHECK(label_sim_answers(sl, 2, truth, 3, 2, 1, 1, &a, &na, err) == -1 && has(err, "unknown kind"));
    CHECK(a == NULL && na == 0);

    /* Pay with a result that was never filled. */
    label_ds_result empty = {0};
    uint64_t w[2];
    CHECK(label_pay_weights(&empty, NULL, w, err) == -1 && has(err, "no Dawid-Skene result"));
}

/* ---- Dawid–Skene recovers planted confusion matrices ------------------------- */

static void test_ds_planted(void) {
    enum { N = 3000, L = 8, K = 3, R = 5 };
    char err[PLOW_ERR_LEN];
    static double planted[L][K][K];
    const double prior[K] = {0.5, 0.3, 0.2};
    /* Labeler l: diagonal d_l, the rest of each row split unevenly (so the
     * off-diagonal structure is something to recover too). */
    for (int l = 0; l < L; l++) {
        double dgn = 0.45 + 0.06 * l; /* 0.45 .. 0.87 */
        for (int t = 0; t < K; t++) {
            double rest = 1 - dgn;
            int o1 = (t + 1) % K, o2 = (t + 2) % K;
            planted[l][t][t] = dgn;
            planted[l][t][o1] = rest * (l % 2 ? 0.75 : 0.25);
            planted[l][t][o2] = rest - planted[l][t][o1];
        }
    }
    uint32_t *truth = plow_calloc(N, sizeof *truth);
    label_answer *a = plow_calloc((size_t)N * R, sizeof *a);
    size_t n = 0;
    for (uint32_t i = 0; i < N; i++) {
        double u = (double)(label_hash64(7, 1, i, 0) >> 11) / 9007199254740992.0;
        truth[i] = u < prior[0] ? 0 : u < prior[0] + prior[1] ? 1 : 2;
        /* R distinct labelers: a rotation starting at a random offset. */
        uint32_t start = (uint32_t)(label_hash64(7, 2, i, 0) % L);
        for (uint32_t j = 0; j < R; j++) {
            uint32_t l = (start + j * 3) % L; /* 3 is coprime with 8: distinct */
            double v = (double)(label_hash64(7, 3, i, l) >> 11) / 9007199254740992.0;
            const double *row = planted[l][truth[i]];
            uint32_t ans = v < row[0] ? 0 : v < row[0] + row[1] ? 1 : 2;
            a[n++] = (label_answer){i, l, ans};
        }
    }
    label_problem p = {N, L, K, a, n};
    label_ds_result d;
    CHECK(label_ds_run(&p, NULL, 0, NULL, &d, err) == 0);
    double worst = 0;
    for (int l = 0; l < L; l++)
        for (int t = 0; t < K; t++)
            for (int c = 0; c < K; c++) {
                double e = d.confusion[((size_t)l * K + t) * K + c] - planted[l][t][c];
                if (e < 0) e = -e;
                if (e > worst) worst = e;
            }
    CHECKF(worst < 0.08, "largest confusion error %.3f", worst);
    for (int k = 0; k < K; k++) CHECKF(d.prior[k] > prior[k] - 0.03 && d.prior[k] < prior[k] + 0.03, "prior %d %.3f", k, d.prior[k]);
    CHECKF(d.converged, "EM did not converge in %" PRIu32 " iterations", d.iterations);
    /* Posteriors are distributions. */
    for (uint32_t i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += d.posterior[(size_t)i * K + k];
        if (!(s > 1 - 1e-9 && s < 1 + 1e-9)) {
            CHECKF(0, "item %" PRIu32 " posterior sums to %.12f", i, s);
            break;
        }
    }
    /* Estimated accuracy follows the planted diagonal. */
    for (int l = 1; l < L; l++) CHECKF(d.accuracy[l] > d.accuracy[l - 1], "accuracy order at %d", l);
    uint32_t *mv = plow_calloc(N, sizeof *mv);
    CHECK(label_majority(&p, mv, err) == 0);
    double acc_mv = label_accuracy(mv, truth, N, NULL), acc_ds = label_accuracy(d.map, truth, N, NULL);
    CHECKF(acc_ds > acc_mv, "ds %.4f mv %.4f", acc_ds, acc_mv);
    free(mv);
    label_ds_result_release(&d);
    free(a);
    free(truth);
}

/* ---- gold and pay, by hand ----------------------------------------------------- */

static void test_gold_and_pay(void) {
    char err[PLOW_ERR_LEN];
    /* 10 gold items, labeler 0 gets 5 right (exactly at a 50% threshold: not
     * flagged), labeler 1 gets 4 right (flagged), labeler 2 answers 1 gold item
     * wrongly (below min_answered 2: not flagged), labeler 3 answers none. */
    label_answer a[32];
    size_t n = 0;
    label_gold g[10];
    for (uint32_t i = 0; i < 10; i++) {
        g[i] = (label_gold){i, i % 2};
        a[n++] = (label_answer){i, 0, i < 5 ? i % 2 : 1 - i % 2};
        a[n++] = (label_answer){i, 1, i < 4 ? i % 2 : 1 - i % 2};
    }
    a[n++] = (label_answer){0, 2, 1};
    a[n++] = (label_answer){10, 3, 0};
    label_problem p = {11, 4, 2, a, n};
    label_gold_score s[4];
    CHECK(label_gold_scores(&p, g, 10, 500000, 2, s, err) == 0);
    CHECK(s[0].answered == 10 && s[0].correct == 5 && s[0].accuracy_ppm == 500000 && !s[0].flagged);
    CHECK(s[1].answered == 10 && s[1].correct == 4 && s[1].accuracy_ppm == 400000 && s[1].flagged);
    CHECK(s[2].answered == 1 && s[2].correct == 0 && !s[2].flagged);
    CHECK(s[3].answered == 0 && !s[3].flagged);
    CHECK(label_gold_scores(&p, g, 10, 500000, 1, s, err) == 0 && s[2].flagged);
    CHECK(label_gold_scores(&p, g, 10, 0, 1, s, err) == 0 && !s[0].flagged && !s[1].flagged && !s[2].flagged);

    /* Splits. */
    uint64_t w[4] = {0, 1, 2, 3}, pay[4], rem;
    CHECK(label_pay_split(w, 4, 100, pay, &rem, err) == 0);
    CHECK(pay[0] == 0 && pay[1] == 16 && pay[2] == 33 && pay[3] == 50 && rem == 1);
    uint64_t zero[3] = {0, 0, 0};
    CHECK(label_pay_split(zero, 3, 77, pay, &rem, err) == 0 && pay[0] == 0 && pay[2] == 0 && rem == 77);
    /* Products beyond 64 bits are exact. */
    uint64_t big[3] = {UINT64_MAX / 4, UINT64_MAX / 4, UINT64_MAX / 4};
    CHECK(label_pay_split(big, 3, UINT64_MAX, pay, &rem, err) == 0);
    CHECK(pay[0] == UINT64_MAX / 3 && pay[1] == pay[0] && pay[2] == pay[0]);
    CHECK(pay[0] + pay[1] + pay[2] + rem == UINT64_MAX);
    uint64_t over[2] = {UINT64_MAX, 1};
    CHECK(label_pay_split(over, 2, 10, pay, &rem, err) == -1 && has(err, "overflow"));
    /* Any weights: the pay never exceeds the budget and the remainder is
     * below the number of paid labelers. */
    for (uint64_t t = 0; t < 200; t++) {
        uint64_t ww[7], pp[7], budget = label_hash64(3, t, 99, 0) >> (t % 64);
        uint32_t positive = 0;
        for (int l = 0; l < 7; l++) {
            ww[l] = label_hash64(3, t, (uint64_t)l, 0) >> (3 + (t + (uint64_t)l) % 61);
            if (l == (int)(t % 7)) ww[l] = 0;
            positive += ww[l] > 0;
        }
        CHECK(label_pay_split(ww, 7, budget, pp, &rem, err) == 0);
        uint64_t sum = rem;
        for (int l = 0; l < 7; l++) CHECK(plow_add_u64(sum, pp[l], &sum));
        CHECK(sum == budget);
        CHECK(rem < positive || positive == 0);
    }
}

/* ---- the fortunes corpus ------------------------------------------------------- */

static int load_fortunes(label_dataset *ds) {
    char err[PLOW_ERR_LEN];
    if (label_fortunes_load(ds, NULL, NULL, 0, 0, err)) {
        CHECKF(0, "%s", err);
        return -1;
    }
    return 0;
}

static void test_fortunes_load(void) {
    label_dataset ds;
    if (load_fortunes(&ds)) return;
    CHECK(ds.n_classes == 6);
    for (uint32_t c = 1; c < ds.n_classes; c++) CHECK(strcmp(ds.classes[c - 1], ds.classes[c]) < 0);
    CHECK(strcmp(ds.classes[0], "computers") == 0 && strcmp(ds.classes[5], "sports") == 0);
    size_t per[6] = {0};
    bool sorted = true, hashed = true, nonempty = true;
    for (size_t i = 0; i < ds.n_items; i++) {
        const label_item *it = &ds.items[i];
        uint8_t h[32];
        plow_sha256_once(it->text, strlen(it->text), h);
        hashed &= memcmp(h, it->id, 32) == 0;
        nonempty &= it->text[0] != 0 && it->text[strlen(it->text) - 1] != '\n';
        if (i) sorted &= memcmp(ds.items[i - 1].id, it->id, 32) < 0; /* strictly: no duplicates */
        CHECK(it->truth < 6);
        if (it->truth < 6) per[it->truth]++;
    }
    CHECK(sorted && hashed && nonempty);
    for (int c = 0; c < 6; c++) CHECKF(per[c] >= 100, "class %s: %zu items", ds.classes[c], per[c]);
    CHECKF(ds.n_items > 2500, "%zu items", ds.n_items);

    /* A cap per class keeps the first items by id. */
    label_dataset small;
    char err[PLOW_ERR_LEN];
    const char *cats[] = {"science", "food"};
    CHECK(label_fortunes_load(&small, NULL, cats, 2, 50, err) == 0);
    CHECK(small.n_classes == 2 && small.n_items == 100 && strcmp(small.classes[0], "food") == 0);
    size_t in_full = 0;
    for (size_t i = 0; i < small.n_items; i++)
        for (size_t j = 0; j < ds.n_items; j++)
            if (memcmp(small.items[i].id, ds.items[j].id, 32) == 0) {
                in_full++;
                break;
            }
    CHECK(in_full == 100);
    label_dataset_release(&small);
    label_dataset_release(&ds);
    label_dataset_release(&ds);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1024], err[PLOW_ERR_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECKF(plow_write_file(path, text, strlen(text), err) == 0, "%s", err);
}

static void test_fortunes_parse(void) {
    char dir[512], err[PLOW_ERR_LEN];
    snprintf(dir, sizeof dir, "%s/fortunes", test_tmpdir());
    CHECK(plow_mkdir_p(dir, err) == 0);
    /* Blank and whitespace-only items, CRLF separators, a repeat within a
     * file (kept once), a text in both files (dropped), no final newline. */
    write_text(dir, "b", "one\n%\n\n%\n  \n\t\n%\r\n\n\ntwo\nlines  \n\n%\none\n%\nshared\n%\nthree");
    write_text(dir, "a", "%\nshared\n%\nalpha\n%\n");
    const char *cats[] = {"b", "a"};
    label_dataset ds;
    CHECKF(label_fortunes_load(&ds, dir, cats, 2, 0, err) == 0, "%s", err);
    CHECK(ds.n_classes == 2 && strcmp(ds.classes[0], "a") == 0 && strcmp(ds.classes[1], "b") == 0);
    CHECKF(ds.n_items == 4, "%zu items", ds.n_items);
    const char *want[4] = {"one", "two\nlines", "three", "alpha"};
    const uint32_t want_class[4] = {1, 1, 1, 0};
    for (int w = 0; w < 4; w++) {
        bool found = false;
        for (size_t i = 0; i < ds.n_items; i++)
            if (strcmp(ds.items[i].text, want[w]) == 0) found = ds.items[i].truth == want_class[w];
        CHECKF(found, "missing '%s'", want[w]);
    }
    label_dataset_release(&ds);

    /* Refusals. */
    const char *missing[] = {"a", "nosuch"};
    CHECK(label_fortunes_load(&ds, dir, missing, 2, 0, err) == -1 && has(err, "install Debian's 'fortunes' package"));
    CHECK(label_fortunes_load(&ds, "/nonexistent/fortunes", NULL, 0, 0, err) == -1 &&
          has(err, "install Debian's 'fortunes' package"));
    const char *one[] = {"a"};
    CHECK(label_fortunes_load(&ds, dir, one, 1, 0, err) == -1 && has(err, "at least 2"));
    const char *dup[] = {"a", "a"};
    CHECK(label_fortunes_load(&ds, dir, dup, 2, 0, err) == -1 && has(err, "given twice"));
    const char *slash[] = {"a", "../b"};
    CHECK(label_fortunes_load(&ds, dir, slash, 2, 0, err) == -1 && has(err, "bad category name"));
    const char *empty_name[] = {"a", ""};
    CHECK(label_fortunes_load(&ds, dir, empty_name, 2, 0, err) == -1 && has(err, "empty name"));
    write_text(dir, "c", "%\n\n%\nshared\n");
    const char *no_items[] = {"a", "c"};
    CHECK(label_fortunes_load(&ds, dir, no_items, 2, 0, err) == -1 && has(err, "'c' has no fortunes"));
    CHECK(ds.n_items == 0 && ds.items == NULL);
}

/* The labeler mix of the corpus test and the benchmark. */
enum { MIX_L = 11 };
static const label_sim_labeler mix[MIX_L] = {
    {LABEL_SIM_NOISY, 0.90, 0, 0},    {LABEL_SIM_NOISY, 0.85, 0, 0},    {LABEL_SIM_NOISY, 0.80, 0, 0},
    {LABEL_SIM_NOISY, 0.65, 0, 0},    {LABEL_SIM_NOISY, 0.60, 0, 0},    {LABEL_SIM_NOISY, 0.55, 0, 0},
    {LABEL_SIM_SPAMMER, 0, 0, 0},     {LABEL_SIM_SPAMMER, 0, 0, 0},     {LABEL_SIM_CONSTANT, 0, 1, 0},
    {LABEL_SIM_COLLUDER, 0.20, 0, 1}, {LABEL_SIM_COLLUDER, 0.20, 0, 1},
};

static void test_fortunes_mix(void) {
    char err[PLOW_ERR_LEN];
    label_dataset ds;
    if (load_fortunes(&ds)) return;
    uint32_t N = (uint32_t)ds.n_items, K = ds.n_classes;
    uint32_t *truth = plow_calloc(N, sizeof *truth);
    for (uint32_t i = 0; i < N; i++) truth[i] = ds.items[i].truth;
    /* 10% gold, chosen by hash. */
    bool *is_gold = plow_calloc(N, sizeof *is_gold);
    label_gold *gold = plow_calloc(N, sizeof *gold);
    size_t n_gold = 0;
    for (uint32_t i = 0; i < N; i++)
        if (label_hash64(42, 99, i, 0) % 10 == 0) {
            is_gold[i] = true;
            gold[n_gold++] = (label_gold){i, truth[i]};
        }

    label_answer *a;
    size_t na;
    CHECK(label_sim_answers(mix, MIX_L, truth, N, K, 5, 42, &a, &na, err) == 0);
    CHECK(na == (size_t)N * 5);
    label_problem p = {N, MIX_L, K, a, na};

    /* Each labeler's true accuracy on what it answered. */
    double true_acc[MIX_L] = {0};
    uint32_t given[MIX_L] = {0};
    for (size_t j = 0; j < na; j++) {
        given[a[j].labeler]++;
        true_acc[a[j].labeler] += a[j].label == truth[a[j].item];
    }
    for (int l = 0; l < MIX_L; l++) true_acc[l] /= given[l];
    /* The simulation does what it says. */
    for (int l = 0; l < 6; l++) CHECKF(true_acc[l] > mix[l].p - 0.05 && true_acc[l] < mix[l].p + 0.05, "labeler %d", l);
    CHECK(true_acc[6] < 0.25 && true_acc[7] < 0.25 && true_acc[9] < 0.3);

    uint32_t *mv = plow_calloc(N, sizeof *mv);
    CHECK(label_majority(&p, mv, err) == 0);
    label_ds_result d, dg;
    CHECK(label_ds_run(&p, NULL, 0, NULL, &d, err) == 0);
    CHECK(label_ds_run(&p, gold, n_gold, NULL, &dg, err) == 0);
    double acc_mv = label_accuracy(mv, truth, N, is_gold);
    double acc_ds = label_accuracy(d.map, truth, N, is_gold);
    double acc_dg = label_accuracy(dg.map, truth, N, is_gold);
    CHECKF(acc_ds > acc_mv + 0.03, "Dawid-Skene %.4f vs majority %.4f", acc_ds, acc_mv);
    CHECKF(acc_dg >= acc_ds - 0.005, "with gold %.4f vs without %.4f", acc_dg, acc_ds);

    /* Ranking: Spearman, and every clearly separated pair in order. */
    double rho = label_spearman(d.accuracy, true_acc, MIX_L);
    CHECKF(rho > 0.9, "Spearman %.3f", rho);
    for (int x = 0; x < MIX_L; x++)
        for (int y = 0; y < MIX_L; y++)
            if (true_acc[x] > true_acc[y] + 0.1)
                CHECKF(d.accuracy[x] > d.accuracy[y], "labeler %d (true %.3f, est %.3f) vs %d (true %.3f, est %.3f)", x,
                       true_acc[x], d.accuracy[x], y, true_acc[y], d.accuracy[y]);
    for (int l = 0; l < 6; l++)
        CHECKF(d.accuracy[l] > true_acc[l] - 0.05 && d.accuracy[l] < true_acc[l] + 0.05, "labeler %d est %.3f true %.3f",
               l, d.accuracy[l], true_acc[l]);

    /* Gold flags the spammers, the constant labeler and the ring, nobody else. */
    label_gold_score gs[MIX_L];
    CHECK(label_gold_scores(&p, gold, n_gold, 400000, 20, gs, err) == 0);
    bool exclude[MIX_L];
    for (int l = 0; l < MIX_L; l++) {
        CHECKF(gs[l].answered >= 60, "labeler %d saw %" PRIu32 " gold items", l, gs[l].answered);
        CHECKF(gs[l].flagged == (l >= 6), "labeler %d gold %" PRIu32 " ppm flagged %d", l, gs[l].accuracy_ppm,
               gs[l].flagged);
        exclude[l] = gs[l].flagged;
    }

    /* Pay: within budget; spammers nothing once flagged, and next to nothing
     * even before (their accuracy is their chance). */
    uint64_t w[MIX_L], pay[MIX_L], rem, budget = 1000000000;
    CHECK(label_pay_weights(&d, exclude, w, err) == 0);
    CHECK(label_pay_split(w, MIX_L, budget, pay, &rem, err) == 0);
    uint64_t total = rem;
    for (int l = 0; l < MIX_L; l++) total += pay[l];
    CHECK(total == budget && rem < MIX_L);
    for (int l = 6; l < MIX_L; l++) CHECK(pay[l] == 0);
    for (int l = 1; l < 6; l++) CHECKF(pay[l] < pay[l - 1], "pay order at %d", l);
    CHECK(label_pay_weights(&d, NULL, w, err) == 0);
    CHECK(label_pay_split(w, MIX_L, budget, pay, &rem, err) == 0);
    for (int l = 6; l <= 8; l++) CHECKF(pay[l] < budget / 100, "labeler %d paid %" PRIu64, l, pay[l]);
    CHECKF(d.chance[8] > d.accuracy[8] - 0.01, "constant labeler: accuracy %.3f chance %.3f", d.accuracy[8],
           d.chance[8]);

    free(mv);
    label_ds_result_release(&d);
    label_ds_result_release(&dg);
    free(a);
    free(gold);
    free(is_gold);
    free(truth);
    label_dataset_release(&ds);
}

/* A dishonest majority: 3 good labelers against 4 spammers, 2 constant
 * labelers and a ring of 3 colluders who give the same mostly-wrong answers.
 * Dawid-Skene alone takes the ring's agreement for competence (it assumes
 * independent errors); gold exposes every dishonest labeler, and
 * aggregating without the answers of those flagged recovers the labels
 * wherever a good labeler answered. */
static void test_fortunes_hostile(void) {
    char err[PLOW_ERR_LEN];
    enum { HL = 12 };
    const label_sim_labeler hostile[HL] = {
        {LABEL_SIM_NOISY, 0.90, 0, 0},    {LABEL_SIM_NOISY, 0.85, 0, 0},    {LABEL_SIM_NOISY, 0.80, 0, 0},
        {LABEL_SIM_SPAMMER, 0, 0, 0},     {LABEL_SIM_SPAMMER, 0, 0, 0},     {LABEL_SIM_SPAMMER, 0, 0, 0},
        {LABEL_SIM_SPAMMER, 0, 0, 0},     {LABEL_SIM_CONSTANT, 0, 0, 0},    {LABEL_SIM_CONSTANT, 0, 3, 0},
        {LABEL_SIM_COLLUDER, 0.20, 0, 1}, {LABEL_SIM_COLLUDER, 0.20, 0, 1}, {LABEL_SIM_COLLUDER, 0.20, 0, 1},
    };
    label_dataset ds;
    if (load_fortunes(&ds)) return;
    uint32_t N = (uint32_t)ds.n_items, K = ds.n_classes;
    uint32_t *truth = plow_calloc(N, sizeof *truth);
    bool *is_gold = plow_calloc(N, sizeof *is_gold);
    label_gold *gold = plow_calloc(N, sizeof *gold);
    size_t n_gold = 0;
    for (uint32_t i = 0; i < N; i++) {
        truth[i] = ds.items[i].truth;
        if (label_hash64(43, 99, i, 0) % 10 == 0) {
            is_gold[i] = true;
            gold[n_gold++] = (label_gold){i, truth[i]};
        }
    }
    label_answer *a;
    size_t na;
    CHECK(label_sim_answers(hostile, HL, truth, N, K, 5, 43, &a, &na, err) == 0);
    label_problem p = {N, HL, K, a, na};
    uint32_t *mv = plow_calloc(N, sizeof *mv);
    CHECK(label_majority(&p, mv, err) == 0);
    double acc_mv = label_accuracy(mv, truth, N, is_gold);

    label_gold_score gs[HL];
    bool exclude[HL];
    CHECK(label_gold_scores(&p, gold, n_gold, 400000, 20, gs, err) == 0);
    for (int l = 0; l < HL; l++) {
        CHECKF(gs[l].flagged == (l >= 3), "labeler %d gold %" PRIu32 " ppm flagged %d", l, gs[l].accuracy_ppm,
               gs[l].flagged);
        exclude[l] = gs[l].flagged;
    }
    label_answer *kept;
    size_t nk;
    CHECK(label_answers_filter(&p, exclude, &kept, &nk, err) == 0);
    size_t want = 0;
    for (size_t j = 0; j < na; j++) want += a[j].labeler < 3;
    CHECK(nk == want);
    for (size_t j = 0; j < nk; j++) CHECK(kept[j].labeler < 3);
    label_problem pk = {N, HL, K, kept, nk};
    label_ds_result d;
    CHECK(label_ds_run(&pk, gold, n_gold, NULL, &d, err) == 0);
    double acc_f = label_accuracy(d.map, truth, N, is_gold);
    /* Items no good labeler saw have no label and count as wrong here. */
    size_t covered = 0, right = 0;
    for (uint32_t i = 0; i < N; i++)
        if (!is_gold[i] && d.map[i] != LABEL_NONE) {
            covered++;
            right += d.map[i] == truth[i];
        }
    CHECKF(acc_f > acc_mv + 0.15, "flagged dropped %.4f vs majority %.4f", acc_f, acc_mv);
    CHECKF((double)right / (double)covered > 0.85, "accuracy where covered %.4f", (double)right / (double)covered);
    /* Pay: the flagged get nothing. */
    uint64_t w[HL], pay[HL], rem;
    CHECK(label_pay_weights(&d, exclude, w, err) == 0);
    CHECK(label_pay_split(w, HL, 5000, pay, &rem, err) == 0);
    for (int l = 3; l < HL; l++) CHECK(pay[l] == 0);
    for (int l = 0; l < 3; l++) CHECK(pay[l] > 1000);

    /* Everyone excluded: nothing left, and aggregation says so. */
    bool all[HL];
    for (int l = 0; l < HL; l++) all[l] = true;
    label_answer *none;
    size_t nn;
    CHECK(label_answers_filter(&p, all, &none, &nn, err) == 0 && nn == 0 && none == NULL);
    label_problem pn = {N, HL, K, none, nn};
    label_ds_result dn;
    CHECK(label_ds_run(&pn, NULL, 0, NULL, &dn, err) == -1 && has(err, "no answers"));
    CHECK(label_answers_filter(&p, NULL, &none, &nn, err) == -1 && has(err, "no exclusion list"));

    label_ds_result_release(&d);
    free(kept);
    free(mv);
    free(a);
    free(gold);
    free(is_gold);
    free(truth);
    label_dataset_release(&ds);
}

/* ---- determinism ------------------------------------------------------------- */

static void test_determinism(void) {
    char err[PLOW_ERR_LEN];
    enum { N = 600, K = 4 };
    uint32_t truth[N];
    for (uint32_t i = 0; i < N; i++) truth[i] = (uint32_t)(label_hash64(5, 0, i, 0) % K);
    label_answer *a, *b;
    size_t na, nb;
    CHECK(label_sim_answers(mix, MIX_L, truth, N, K, 4, 9, &a, &na, err) == 0);
    CHECK(label_sim_answers(mix, MIX_L, truth, N, K, 4, 9, &b, &nb, err) == 0);
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
    /* b: the same answers in another order (a seeded shuffle). */
    for (size_t j = nb - 1; j > 0; j--) {
        size_t k = label_hash64(11, j, 0, 0) % (j + 1);
        label_answer t = b[j];
        b[j] = b[k];
        b[k] = t;
    }
    CHECK(memcmp(a, b, na * sizeof *a) != 0);
    const label_gold gold[3] = {{0, truth[0]}, {17, truth[17]}, {300, truth[300]}};
    label_problem pa = {N, MIX_L, K, a, na}, pb = {N, MIX_L, K, b, nb};
    label_ds_result r1, r2, r3;
    CHECK(label_ds_run(&pa, gold, 3, NULL, &r1, err) == 0);
    CHECK(label_ds_run(&pa, gold, 3, NULL, &r2, err) == 0);
    CHECK(label_ds_run(&pb, gold, 3, NULL, &r3, err) == 0);
    uint8_t h1[32], h2[32], h3[32];
    label_ds_digest(&r1, h1);
    label_ds_digest(&r2, h2);
    label_ds_digest(&r3, h3);
    CHECK(memcmp(h1, h2, 32) == 0);
    CHECK(memcmp(h1, h3, 32) == 0);
    CHECK(memcmp(r1.posterior, r3.posterior, (size_t)N * K * sizeof(double)) == 0);
    CHECK(memcmp(r1.confusion, r3.confusion, (size_t)MIX_L * K * K * sizeof(double)) == 0);
    /* Pinned: the same bits from gcc and clang at any -O (the suite runs both
     * builds), and on any IEEE-754 machine. A change here changes what the
     * ledger computes: bump the commitment tag's version with it. */
    char hex[65];
    plow_hex(h1, 32, hex);
    CHECKF(strcmp(hex, "00ee0716225bb80dffbedea33f046e8b81b803a9a0badc3c533a32fb7cbc2716") == 0, "Dawid-Skene digest %s (%" PRIu32 " iterations)", hex, r1.iterations);
    /* The digest sees a one-bit change. */
    r2.posterior[5] = nextafter(r2.posterior[5], 2.0);
    label_ds_digest(&r2, h2);
    CHECK(memcmp(h1, h2, 32) != 0);
    /* Gold items are clamped to their label. */
    CHECK(r1.map[17] == truth[17] && r1.posterior[17 * K + truth[17]] == 1.0);

    uint32_t m1[N], m2[N];
    CHECK(label_majority(&pa, m1, err) == 0 && label_majority(&pb, m2, err) == 0);
    CHECK(memcmp(m1, m2, sizeof m1) == 0);
    uint64_t w1[MIX_L], w2[MIX_L];
    CHECK(label_pay_weights(&r1, NULL, w1, err) == 0 && label_pay_weights(&r3, NULL, w2, err) == 0);
    CHECK(memcmp(w1, w2, sizeof w1) == 0);
    label_ds_result_release(&r1);
    label_ds_result_release(&r2);
    label_ds_result_release(&r3);
    free(a);
    free(b);
}

const test_case label_tests[] = {
    {"label_majority", test_majority},
    {"label_malformed", test_malformed},
    {"label_ds_planted", test_ds_planted},
    {"label_gold_and_pay", test_gold_and_pay},
    {"label_fortunes_load", test_fortunes_load},
    {"label_fortunes_parse", test_fortunes_parse},
    {"label_fortunes_mix", test_fortunes_mix},
    {"label_fortunes_hostile", test_fortunes_hostile},
    {"label_determinism", test_determinism},
    {NULL, NULL},
};
