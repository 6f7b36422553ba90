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

/* The files `plow label fortunes` writes. */
typedef struct fortunes_files {
    plow_buf items, truth, gold, train, classes;
    uint32_t per[LABEL_MAX_CLASSES]; /* the task's items of each class */
    long n_gold;
} fortunes_files;

static void fortunes_files_release(fortunes_files *f) {
    plow_buf_release(&f->items);
    plow_buf_release(&f->truth);
    plow_buf_release(&f->gold);
    plow_buf_release(&f->train);
    plow_buf_release(&f->classes);
}

/* A seeded order of the dataset: the first n_items are the task's (gold_pct of
 * them, chosen by the seed too, are gold), the next n_train the training texts. */
static void fortunes_split(const label_dataset *ds, uint64_t seed, long n_items, long gold_pct, long n_train,
                           fortunes_files *f) {
    order_entry *ord = plow_alloc(ds->n_items * sizeof *ord);
    for (size_t i = 0; i < ds->n_items; i++) ord[i] = (order_entry){label_hash64(seed, 7, i, 0), (uint32_t)i};
    qsort(ord, ds->n_items, sizeof *ord, cmp_order);
    f->n_gold = n_items * gold_pct / 100;
    if (f->n_gold > LEDGER_GOLD_MAX) f->n_gold = LEDGER_GOLD_MAX;
    order_entry *gord = plow_alloc((size_t)n_items * sizeof *gord);
    for (long j = 0; j < n_items; j++) gord[j] = (order_entry){label_hash64(seed, 8, (uint64_t)j, 0), (uint32_t)j};
    qsort(gord, (size_t)n_items, sizeof *gord, cmp_order);
    bool *is_gold = plow_calloc((size_t)n_items, 1);
    for (long g = 0; g < f->n_gold; g++) is_gold[gord[g].i] = true;
    for (long j = 0; j < n_items + n_train; j++) {
        const label_item *it = &ds->items[ord[j].i];
        cJSON *o;
        if (j < n_items) {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", it->text);
            cli_json_line(&f->items, o);
            f->per[it->truth]++;
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", it->text);
        cJSON_AddStringToObject(o, "label", ds->classes[it->truth]);
        cli_json_line(j < n_items ? &f->truth : &f->train, o);
        if (j < n_items && is_gold[j]) {
            o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "item", (double)j);
            cJSON_AddStringToObject(o, "label", ds->classes[it->truth]);
            cli_json_line(&f->gold, o);
        }
    }
    for (uint32_t k = 0; k < ds->n_classes; k++) plow_buf_printf(&f->classes, "%s%s", k ? "," : "", ds->classes[k]);
    plow_buf_printf(&f->classes, "\n");
    free(ord);
    free(gord);
    free(is_gold);
}

/* The dataset, restricted to the comma-separated categories cats_s if given. */
static int fortunes_load(label_dataset *ds, const char *dir, const char *cats_s) {
    char err[PLOW_ERR_LEN];
    char *cats_buf = cats_s ? plow_strdup(cats_s) : NULL;
    const char *cats[LEDGER_LABEL_CLASSES_MAX];
    size_t n_cats = 0;
    int rc = 0;
    for (char *p = cats_buf ? strtok(cats_buf, ",") : NULL; p; p = strtok(NULL, ",")) {
        if (n_cats == LEDGER_LABEL_CLASSES_MAX) {
            rc = cli_usage_error("label", "--categories: at most %d", LEDGER_LABEL_CLASSES_MAX);
            goto out;
        }
        cats[n_cats++] = p;
    }
    if (label_fortunes_load(ds, dir, cats_s ? cats : NULL, n_cats, 0, err)) rc = cli_fail("%s", err);
out:
    free(cats_buf);
    return rc;
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
    label_dataset ds;
    if ((rc = fortunes_load(&ds, dir, cats_s)) != 0) return rc;
    rc = 1;
    fortunes_files f = {0};
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
    fortunes_split(&ds, seed, n_items, gold_pct, n_train, &f);
    if (plow_mkdir_p(out, err) || write_out(out, "items.jsonl", &f.items, err) ||
        write_out(out, "truth.jsonl", &f.truth, err) || write_out(out, "gold.jsonl", &f.gold, err) ||
        write_out(out, "train.jsonl", &f.train, err) || write_out(out, "classes.txt", &f.classes, err)) {
        cli_fail("%s", err);
        goto done;
    }
    printf("%ld items to label (", n_items);
    for (uint32_t k = 0; k < ds.n_classes; k++) printf("%s%s %u", k ? ", " : "", ds.classes[k], f.per[k]);
    printf("), %ld of them gold; %ld labeled texts to train on; classes %.*s\n", f.n_gold, n_train,
           (int)f.classes.len - 1, (const char *)f.classes.data);
    rc = 0;
done:
    fortunes_files_release(&f);
    label_dataset_release(&ds);
    return rc;
}

/* ---- post --------------------------------------------------------------------------------------- */
