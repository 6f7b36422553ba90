/*
 * cmd_label_data.c — plow label fortunes: rebuilds a labeling dataset
 * (items, the answer key, gold, training text, classes) from the fortunes
 * corpus, in a seeded order, for tests and demos (docs/labeling.md).
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <inttypes.h>

#include "../label/label.h"
#include "cli.h"
#include "cli_net.h"

typedef struct order_entry {
    uint64_t key;
    uint32_t i;
} order_entry;

static int cmp_order(const void *a, const void *b) {
    const order_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}


static int write_out(const char *dir, const char *name, const plow_buf *b, char err[PLOW_ERR_LEN]) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return plow_write_file(path, b->data ? (const char *)b->data : "", b->len, err);
}

int label_fortunes_cmd(int argc, char **argv) {
    const char *out = NULL, *items_s = NULL, *gold_s = NULL, *train_s = NULL, *seed_s = NULL, *cats_s = NULL,
               *dir = NULL, *pos[1];
    const cli_opt opts[] = {{"--out", &out, NULL},        {"--items", &items_s, NULL}, {"--gold-pct", &gold_s, NULL},
                            {"--train", &train_s, NULL},  {"--seed", &seed_s, NULL},   {"--categories", &cats_s, NULL},
                            {"--dir", &dir, NULL},        {NULL, NULL, NULL}};
    int n_pos, rc = cli_parse_opts("label", argc, argv, 2, opts, pos, 0, &n_pos);
    if (rc) return rc;
    if (!out) return cli_usage_error("label", "fortunes: --out DIR is required");
    char err[PLOW_ERR_LEN];
    long n_items = 600, gold_pct = 10, n_train = -1;
    uint64_t seed = 1;
    if ((items_s && cli_int("--items", items_s, 2, LEDGER_LABEL_ITEMS_MAX, &n_items, err)) ||
        (gold_s && cli_int("--gold-pct", gold_s, 0, 100, &gold_pct, err)) ||
        (train_s && cli_int("--train", train_s, 0, 10000000, &n_train, err)) ||
        (seed_s && cli_u64("--seed", seed_s, &seed, err)))
        return cli_usage_error("label", "%s", err);
    char *cats_buf = NULL;
    const char *cats[LEDGER_LABEL_CLASSES_MAX];
    size_t n_cats = 0;
    if (cats_s) {
        cats_buf = plow_strdup(cats_s);
        for (char *p = strtok(cats_buf, ","); p; p = strtok(NULL, ",")) {
            if (n_cats == LEDGER_LABEL_CLASSES_MAX) {
                free(cats_buf);
                return cli_usage_error("label", "--categories: at most %d", LEDGER_LABEL_CLASSES_MAX);
            }
            cats[n_cats++] = p;
        }
    }
    label_dataset ds;
    if (label_fortunes_load(&ds, dir, cats_s ? cats : NULL, n_cats, 0, err)) {
        free(cats_buf);
        return cli_fail("%s", err);
    }
    free(cats_buf);
    rc = 1;
    if ((size_t)n_items > ds.n_items) {
        cli_fail("--items %ld: the fortunes have only %zu items", n_items, ds.n_items);
        goto done;
    }
    if (ds.n_classes > LEDGER_LABEL_CLASSES_MAX) {
        cli_fail("%u categories: a label task has at most %d classes", ds.n_classes, LEDGER_LABEL_CLASSES_MAX);
        goto done;
    }
    size_t rest = ds.n_items - (size_t)n_items;
    if (n_train < 0 || (size_t)n_train > rest) n_train = (long)rest;
    order_entry *ord = plow_alloc(ds.n_items * sizeof *ord);
    for (size_t i = 0; i < ds.n_items; i++) ord[i] = (order_entry){label_hash64(seed, 7, i, 0), (uint32_t)i};
    qsort(ord, ds.n_items, sizeof *ord, cmp_order);
    /* the gold: a seeded choice of the task's items */
    long n_gold = n_items * gold_pct / 100;
    if (n_gold > LEDGER_GOLD_MAX) n_gold = LEDGER_GOLD_MAX;
    order_entry *gord = plow_alloc((size_t)n_items * sizeof *gord);
    for (long j = 0; j < n_items; j++) gord[j] = (order_entry){label_hash64(seed, 8, (uint64_t)j, 0), (uint32_t)j};
    qsort(gord, (size_t)n_items, sizeof *gord, cmp_order);
    bool *is_gold = plow_calloc((size_t)n_items, 1);
    for (long g = 0; g < n_gold; g++) is_gold[gord[g].i] = true;
    plow_buf items = {0}, truth = {0}, gold = {0}, train = {0}, classes = {0};
    uint32_t per[LABEL_MAX_CLASSES] = {0};
    for (long j = 0; j < n_items; j++) {
        const label_item *it = &ds.items[ord[j].i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", it->text);
        cli_json_line(&items, o);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", it->text);
        cJSON_AddStringToObject(o, "label", ds.classes[it->truth]);
        cli_json_line(&truth, o);
        per[it->truth]++;
        if (is_gold[j]) {
            o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "item", (double)j);
            cJSON_AddStringToObject(o, "label", ds.classes[it->truth]);
            cli_json_line(&gold, o);
        }
    }
    for (long j = 0; j < n_train; j++) {
        const label_item *it = &ds.items[ord[n_items + j].i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", it->text);
        cJSON_AddStringToObject(o, "label", ds.classes[it->truth]);
        cli_json_line(&train, o);
    }
    for (uint32_t k = 0; k < ds.n_classes; k++) plow_buf_printf(&classes, "%s%s", k ? "," : "", ds.classes[k]);
    plow_buf_printf(&classes, "\n");
    free(ord);
    free(gord);
    free(is_gold);
    if (plow_mkdir_p(out, err) || write_out(out, "items.jsonl", &items, err) || write_out(out, "truth.jsonl", &truth, err) ||
        write_out(out, "gold.jsonl", &gold, err) || write_out(out, "train.jsonl", &train, err) ||
        write_out(out, "classes.txt", &classes, err)) {
        cli_fail("%s", err);
    } else {
        printf("%ld items to label (", n_items);
        for (uint32_t k = 0; k < ds.n_classes; k++) printf("%s%s %u", k ? ", " : "", ds.classes[k], per[k]);
        printf("), %ld of them gold; %ld labeled texts to train on; classes %.*s\n", n_gold, n_train,
               (int)classes.len - 1, (const char *)classes.data);
        rc = 0;
    }
    plow_buf_release(&items);
    plow_buf_release(&truth);
    plow_buf_release(&gold);
    plow_buf_release(&train);
    plow_buf_release(&classes);
done:
    label_dataset_release(&ds);
    return rc;
}

/* ---- post --------------------------------------------------------------------------------------- */
