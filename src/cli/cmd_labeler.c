/*
 * cmd_labeler.c — plow labeler: the AI labeler agent (src/agent/labeler.c)
 * and `plow labeler train`, which trains and evaluates its naive Bayes
 * classifier (src/label/nb.c).
 */
#include "../base/plow.h"

#include <string.h>

#include "../agent/agent.h"
#include "../agent/labeler.h"
#include "../label/label.h"
#include "cli.h"
#include "cli_net.h"

static const char labeler_help[] =
    "usage: plow labeler --key FILE --work DIR (--model FILE | --train FILE |\n"
    "                    --accuracy P --truth FILE | --spam | --copy-of ADDR) [options]\n"
    "       plow labeler train --data FILE --out MODEL [--eval FILE] [--smoothing A]\n"
    "\n"
    "An AI labeler agent: registers, claims slots of open label tasks whose classes\n"
    "it knows, stakes what a slot needs, labels the slot's items, commits (labels\n"
    "and salt kept in WORK/tasks/ID.json first, so a restart can reveal), reveals\n"
    "in the window and logs its pay or slash after finalize.\n"
    "\n"
    "  --model FILE       label with this naive Bayes model ('plow labeler train')\n"
    "  --train FILE       ... or train one at start from JSONL {\"text\", \"label\"}\n"
    "                     (--smoothing A as in 'train')\n"
    "  --accuracy P       simulated labeler: the true label with probability P\n"
    "                     (from --truth FILE, JSONL {\"text\", \"label\"}), else\n"
    "                     another one at random (tests and demos)\n"
    "  --spam             simulated spammer: uniformly random labels\n"
    "  --copy-of ADDR     a copier: tries to reuse ADDR's answers. It only ever sees\n"
    "                     a commitment before the reveal, commits a copy of it, and\n"
    "                     cannot open it: it gains nothing and forfeits its stake\n"
    "  --seed S           the simulated labelers' draws (default: from --name)\n"
    "  --name N           name for the profile and logs (default labeler)\n"
    "  --node URL         the node (default $PLOW_NODE or http://127.0.0.1:7545)\n"
    "  --max-stake N      never have more than N staked in all (default: no limit)\n"
    "  --max-tasks N      exit once N tasks settled (default: run until stopped)\n"
    "  --poll S           seconds between looks at the ledger (default 0.5)\n"
    "  --item-budget N    bytes of task items held in memory at once (default 256 MiB);\n"
    "                     a task whose items are larger is refused before a claim\n"
    "\n"
    "train: a multinomial naive Bayes classifier (lowercase words, additive\n"
    "smoothing, integer counts, the engine's deterministic log) from JSONL\n"
    "{\"text\", \"label\"}; --eval FILE prints its accuracy on another such file;\n"
    "--smoothing A: add A to every word count (default 1, Laplace; 0.1 does better\n"
    "on the fortunes).\n";

/* ---- plow labeler --------------------------------------------------------------------------------------------- */

static int labeler_train(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *eval = NULL, *sm_s = NULL, *pos[1];
    const cli_opt opts[] = {{"--data", &data, NULL},
                            {"--out", &out, NULL},
                            {"--eval", &eval, NULL},
                            {"--smoothing", &sm_s, NULL},
                            {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("labeler", argc, argv, 2, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!data || !out) return cli_usage_error("labeler", "train needs --data FILE and --out MODEL");
    char err[PLOW_ERR_LEN];
    double sm = 1;
    if (sm_s && cli_float("--smoothing", sm_s, 1e-6, 100, &sm, err)) return cli_usage_error("labeler", "%s", err);
    label_labeled d, ev;
    memset(&ev, 0, sizeof ev);
    label_nb *m = NULL, *m2 = NULL;
    if (label_labeled_load(&d, data, err)) return cli_fail("%s", err);
    rc = 1;
    if (label_nb_train(&m, &d, sm, err) || label_nb_save(m, out, err) || label_nb_load(&m2, out, err)) {
        cli_fail("%s", err);
        goto out;
    }
    printf("model %s: %u classes, %zu words, from %zu labeled texts\n", out, label_nb_n_classes(m2),
           label_nb_vocab(m2), d.n);
    if (eval) {
        if (label_labeled_load(&ev, eval, err)) {
            cli_fail("%s", err);
            goto out;
        }
        /* the classes the evaluation set names, in order of appearance */
        const char *names[LABEL_MAX_CLASSES];
        int map[LABEL_MAX_CLASSES];
        uint32_t k = 0;
        size_t right = 0, cnt = 0;
        for (size_t i = 0; i < ev.n; i++) {
            bool seen = false;
            for (uint32_t c = 0; c < k; c++) seen |= strcmp(names[c], ev.label[i]) == 0;
            if (!seen && k < LABEL_MAX_CLASSES) names[k++] = ev.label[i];
        }
        if (k < 2 || label_nb_map(m2, names, k, map, err)) {
            cli_fail("%s: %s", eval, k < 2 ? "needs two classes or more" : err);
            goto out;
        }
        for (size_t i = 0; i < ev.n; i++) {
            uint32_t y = label_nb_classify(m2, map, k, ev.text[i]);
            cnt++;
            right += strcmp(names[y], ev.label[i]) == 0;
        }
        printf("accuracy on %s: %.4f (%zu of %zu)\n", eval, (double)right / (double)cnt, right, cnt);
    }
    rc = 0;
out:
    label_nb_free(m);
    label_nb_free(m2);
    label_labeled_release(&d);
    label_labeled_release(&ev);
    return rc;
}

int cmd_labeler(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return fputs(labeler_help, stdout), 0;
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return labeler_train(argc, argv);
    const char *key = NULL, *work = NULL, *node_url = NULL, *model_f = NULL, *train = NULL, *acc_s = NULL,
               *truth = NULL, *copy = NULL, *seed_s = NULL, *name = NULL, *max_stake_s = NULL, *max_tasks_s = NULL,
               *poll_s = NULL, *sm_s = NULL, *budget_s = NULL, *pos[1];
    bool spam = false;
    const cli_opt opts[] = {{"--key", &key, NULL},           {"--work", &work, NULL},
                            {"--node", &node_url, NULL},     {"--model", &model_f, NULL},
                            {"--train", &train, NULL},       {"--accuracy", &acc_s, NULL},
                            {"--truth", &truth, NULL},       {"--spam", NULL, &spam},
                            {"--copy-of", &copy, NULL},      {"--seed", &seed_s, NULL},
                            {"--name", &name, NULL},         {"--max-stake", &max_stake_s, NULL},
                            {"--max-tasks", &max_tasks_s, NULL}, {"--poll", &poll_s, NULL},
                            {"--smoothing", &sm_s, NULL},    {"--item-budget", &budget_s, NULL},
                            {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("labeler", argc, argv, 1, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!key || !work) return cli_usage_error("labeler", "--key FILE and --work DIR are required");
    int modes = (model_f != NULL) + (train != NULL) + (acc_s != NULL) + spam + (copy != NULL);
    if (modes != 1)
        return cli_usage_error("labeler", "give exactly one of --model FILE, --train FILE, --accuracy P, --spam and "
                                          "--copy-of ADDR");
    labeler_options o;
    labeler_options_default(&o);
    char err[PLOW_ERR_LEN];
    long max_tasks = 0;
    o.name = name ? name : "labeler";
    uint8_t h[32];
    plow_sha256_once(o.name, strlen(o.name), h);
    o.seed = plow_get_u64(h);
    if ((seed_s && cli_u64("--seed", seed_s, &o.seed, err)) ||
        (max_stake_s && cli_amount("--max-stake", max_stake_s, &o.max_stake, err)) ||
        (max_tasks_s && cli_int("--max-tasks", max_tasks_s, 1, 1000000, &max_tasks, err)) ||
        (poll_s && cli_float("--poll", poll_s, 0.01, 60, &o.poll_s, err)) ||
        (budget_s && cli_u64("--item-budget", budget_s, &o.item_budget, err)) ||
        (acc_s && cli_float("--accuracy", acc_s, 0, 1, &o.accuracy, err)) ||
        (sm_s && cli_float("--smoothing", sm_s, 1e-6, 100, &o.smoothing, err)) ||
        (copy && ledger_addr_parse(copy, o.copy_of, err)))
        return cli_usage_error("labeler", "%s", err);
    if (acc_s && !truth) return cli_usage_error("labeler", "--accuracy needs --truth FILE (the answer key)");
    if (truth && !acc_s) return cli_usage_error("labeler", "--truth goes with --accuracy P");
    if (sm_s && !train) return cli_usage_error("labeler", "--smoothing goes with --train FILE");
    o.mode = model_f || train ? LABELER_MODEL : acc_s ? LABELER_ACCURACY : spam ? LABELER_SPAM : LABELER_COPY;
    o.model = model_f;
    o.train = train;
    o.truth = truth;
    o.key = key;
    o.work = work;
    o.node = cli_node_url(node_url);
    o.max_tasks = (int)max_tasks;
    agent_signals_install();
    if (agent_labeler_run(&o, err)) return cli_fail("%s", err);
    return 0;
}
