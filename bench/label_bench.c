/*
 * label_bench.c — crowdsourced labeling on Debian's fortunes: majority vote
 * against Dawid–Skene for several labeler mixes and redundancies, as a
 * markdown table (the numbers in docs/labeling.md).
 *
 * Items are the fortunes of six category files (the true label is the file).
 * Simulated labelers answer them (src/label's label_sim_answers); 10% of the
 * items, chosen by hash, are gold. For each (mix, r) the table gives the
 * accuracy on the non-gold items (an item left without a label counts as
 * wrong) of the majority vote, of Dawid–Skene, of Dawid–Skene with the gold
 * items clamped, and of the full protocol (labelers under 40% on gold
 * flagged, their answers dropped, Dawid–Skene with gold on the rest); the
 * Spearman correlation between the estimated (plain Dawid–Skene) and the true
 * per-labeler accuracy; the share of the pay reaching dishonest labelers
 * (spammers, constant, colluders) under plain Dawid–Skene and under the full
 * protocol; the EM iterations and time of plain Dawid–Skene. Each row
 * averages SEEDS seeds. A last table times EM on large synthetic problems.
 *
 * Usage: plow_label_bench [--quick]
 */
#include "../src/base/plow.h"

#include <inttypes.h>

#include "../src/label/label.h"

#define SEEDS 5
#define MAX_L 16

typedef struct mix {
    const char *name;
    uint32_t n;
    label_sim_labeler l[MAX_L];
} mix;

static const mix mixes[] = {
    {"mixed: 3 good, 3 mediocre, 2 spam, 1 const, 2 colluders",
     11,
     {{LABEL_SIM_NOISY, 0.90, 0, 0},
      {LABEL_SIM_NOISY, 0.85, 0, 0},
      {LABEL_SIM_NOISY, 0.80, 0, 0},
      {LABEL_SIM_NOISY, 0.65, 0, 0},
      {LABEL_SIM_NOISY, 0.60, 0, 0},
      {LABEL_SIM_NOISY, 0.55, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_CONSTANT, 0, 1, 0},
      {LABEL_SIM_COLLUDER, 0.20, 0, 1},
      {LABEL_SIM_COLLUDER, 0.20, 0, 1}}},
    {"honest: 7 labelers, p = 0.55 .. 0.90",
     7,
     {{LABEL_SIM_NOISY, 0.90, 0, 0},
      {LABEL_SIM_NOISY, 0.85, 0, 0},
      {LABEL_SIM_NOISY, 0.80, 0, 0},
      {LABEL_SIM_NOISY, 0.70, 0, 0},
      {LABEL_SIM_NOISY, 0.65, 0, 0},
      {LABEL_SIM_NOISY, 0.60, 0, 0},
      {LABEL_SIM_NOISY, 0.55, 0, 0}}},
    {"hostile: 3 good, 4 spam, 2 const, 3 colluders",
     12,
     {{LABEL_SIM_NOISY, 0.90, 0, 0},
      {LABEL_SIM_NOISY, 0.85, 0, 0},
      {LABEL_SIM_NOISY, 0.80, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_SPAMMER, 0, 0, 0},
      {LABEL_SIM_CONSTANT, 0, 0, 0},
      {LABEL_SIM_CONSTANT, 0, 3, 0},
      {LABEL_SIM_COLLUDER, 0.20, 0, 1},
      {LABEL_SIM_COLLUDER, 0.20, 0, 1},
      {LABEL_SIM_COLLUDER, 0.20, 0, 1}}},
};

static void die(const char *err) {
    fprintf(stderr, "plow_label_bench: %s\n", err);
    exit(1);
}

static bool dishonest(const label_sim_labeler *l) { return l->kind != LABEL_SIM_NOISY; }

typedef struct row {
    double mv, ds, dsg, dsf, rho, bad_pay, bad_pay_gold, iters, secs;
} row;

static void run_one(const label_dataset *ds, const mix *m, uint32_t r, uint64_t seed, row *out) {
    char err[PLOW_ERR_LEN];
    uint32_t N = (uint32_t)ds->n_items, K = ds->n_classes, L = m->n;
    uint32_t *truth = plow_calloc(N, sizeof *truth);
    bool *is_gold = plow_calloc(N, sizeof *is_gold);
    label_gold *gold = plow_calloc(N, sizeof *gold);
    size_t n_gold = 0;
    for (uint32_t i = 0; i < N; i++) {
        truth[i] = ds->items[i].truth;
        if (label_hash64(seed, 99, i, 0) % 10 == 0) {
            is_gold[i] = true;
            gold[n_gold++] = (label_gold){i, truth[i]};
        }
    }
    label_answer *a;
    size_t na;
    if (label_sim_answers(m->l, L, truth, N, K, r, seed, &a, &na, err)) die(err);
    label_problem p = {N, L, K, a, na};

    double true_acc[MAX_L] = {0};
    uint32_t given[MAX_L] = {0};
    for (size_t j = 0; j < na; j++) {
        given[a[j].labeler]++;
        true_acc[a[j].labeler] += a[j].label == truth[a[j].item];
    }
    for (uint32_t l = 0; l < L; l++) true_acc[l] = given[l] ? true_acc[l] / given[l] : 0;

    uint32_t *mv = plow_calloc(N, sizeof *mv);
    if (label_majority(&p, mv, err)) die(err);
    label_ds_result d, dg;
    double t0 = plow_now();
    if (label_ds_run(&p, NULL, 0, NULL, &d, err)) die(err);
    double t1 = plow_now();
    if (label_ds_run(&p, gold, n_gold, NULL, &dg, err)) die(err);

    out->mv += label_accuracy(mv, truth, N, is_gold);
    out->ds += label_accuracy(d.map, truth, N, is_gold);
    out->dsg += label_accuracy(dg.map, truth, N, is_gold);
    out->rho += label_spearman(d.accuracy, true_acc, L);
    out->iters += d.iterations;
    out->secs += t1 - t0;

    /* The protocol: flag on gold, drop the flagged labelers' answers,
     * aggregate the rest with gold clamped, pay the unflagged. */
    label_gold_score gs[MAX_L];
    bool excl[MAX_L];
    if (label_gold_scores(&p, gold, n_gold, 400000, 20, gs, err)) die(err);
    for (uint32_t l = 0; l < L; l++) excl[l] = gs[l].flagged;
    label_answer *kept;
    size_t nk;
    if (label_answers_filter(&p, excl, &kept, &nk, err)) die(err);
    label_problem pk = {N, L, K, kept, nk};
    label_ds_result df;
    if (label_ds_run(&pk, gold, n_gold, NULL, &df, err)) die(err);
    out->dsf += label_accuracy(df.map, truth, N, is_gold);
    for (int with_gold = 0; with_gold < 2; with_gold++) {
        uint64_t w[MAX_L], pay[MAX_L], rem, budget = 1000000000;
        if (with_gold ? label_pay_weights(&df, excl, w, err) : label_pay_weights(&d, NULL, w, err)) die(err);
        if (label_pay_split(w, L, budget, pay, &rem, err)) die(err);
        uint64_t bad = 0;
        for (uint32_t l = 0; l < L; l++)
            if (dishonest(&m->l[l])) bad += pay[l];
        *(with_gold ? &out->bad_pay_gold : &out->bad_pay) += (double)bad / (double)budget;
    }

    label_ds_result_release(&d);
    label_ds_result_release(&dg);
    label_ds_result_release(&df);
    free(kept);
    free(mv);
    free(a);
    free(gold);
    free(is_gold);
    free(truth);
}

/* EM time on a synthetic problem of n items, L labelers, K classes, r answers each. */
static void time_large(uint32_t N, uint32_t L, uint32_t K, uint32_t r) {
    char err[PLOW_ERR_LEN];
    label_sim_labeler *lab = plow_calloc(L, sizeof *lab);
    for (uint32_t l = 0; l < L; l++) {
        if (l % 10 == 9) lab[l] = (label_sim_labeler){LABEL_SIM_SPAMMER, 0, 0, 0};
        else lab[l] = (label_sim_labeler){LABEL_SIM_NOISY, 0.5 + 0.4 * (double)(l % 10) / 9.0, 0, 0};
    }
    uint32_t *truth = plow_calloc(N, sizeof *truth);
    for (uint32_t i = 0; i < N; i++) truth[i] = (uint32_t)(label_hash64(1, 0, i, 0) % K);
    label_answer *a;
    size_t na;
    if (label_sim_answers(lab, L, truth, N, K, r, 1, &a, &na, err)) die(err);
    label_problem p = {N, L, K, a, na};
    label_ds_result d;
    double t0 = plow_now();
    if (label_ds_run(&p, NULL, 0, NULL, &d, err)) die(err);
    double secs = plow_now() - t0;
    printf("| %7" PRIu32 " | %4" PRIu32 " | %2" PRIu32 " | %" PRIu32 " | %9zu | %5" PRIu32 " | %8.3f | %8.1f |\n", N, L, K,
           r, na, d.iterations, secs, secs * 1e9 / ((double)na * d.iterations));
    label_ds_result_release(&d);
    free(a);
    free(truth);
    free(lab);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    char err[PLOW_ERR_LEN];
    label_dataset ds;
    if (label_fortunes_load(&ds, NULL, NULL, 0, 0, err)) die(err);
    printf("Items: %zu fortunes in %" PRIu32 " classes (", ds.n_items, ds.n_classes);
    for (uint32_t c = 0; c < ds.n_classes; c++) {
        size_t n = 0;
        for (size_t i = 0; i < ds.n_items; i++) n += ds.items[i].truth == c;
        printf("%s%s %zu", c ? ", " : "", ds.classes[c], n);
    }
    printf("); 10%% gold; %d seeds a row; accuracy on the non-gold items.\n\n", quick ? 1 : SEEDS);
    printf("| labelers | r | majority | Dawid-Skene | DS + gold | DS, flagged dropped | Spearman | bad pay | bad pay, gold | EM iters | EM ms |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    const uint32_t rs[3] = {3, 5, 7};
    int seeds = quick ? 1 : SEEDS;
    for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++)
        for (int k = 0; k < 3; k++) {
            row acc = {0};
            for (int s = 0; s < seeds; s++) run_one(&ds, &mixes[m], rs[k], 1000 + (uint64_t)s, &acc);
            double n = seeds;
            printf("| %s | %" PRIu32 " | %.4f | %.4f | %.4f | %.4f | %.3f | %.2f%% | %.2f%% | %.0f | %.1f |\n", mixes[m].name,
                   rs[k], acc.mv / n, acc.ds / n, acc.dsg / n, acc.dsf / n, acc.rho / n, 100 * acc.bad_pay / n, 100 * acc.bad_pay_gold / n,
                   acc.iters / n, 1e3 * acc.secs / n);
            fflush(stdout);
        }
    label_dataset_release(&ds);

    printf("\nEM time, synthetic (90%% noisy labelers p = 0.5 .. 0.9, 10%% spammers):\n\n");
    printf("| items | labelers | K | r | answers | iters | seconds | ns/answer/iter |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    time_large(10000, 50, 6, 5);
    if (!quick) time_large(100000, 200, 6, 5);
    return 0;
}
