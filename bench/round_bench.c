/*
 * round_bench.c — collaborative rounds (src/train/round.h) against training on
 * one machine, as a markdown table (the numbers in docs/rounds.md).
 *
 * The model is tiny, the data tinyshakespeare (tokenizer of 512 trained on
 * its first 200 KB, 10% held out). Every row starts from the same initial
 * weights and uses the same AdamW settings (batch B, sequence T, lr 3e-3
 * constant after a 2-step warm-up, clip 1):
 *   - one worker, H*R steps of batch B: what one participant reaches alone in
 *     the same number of sequential steps;
 *   - one worker, P*H*R steps of batch B: the same compute and tokens, done
 *     sequentially;
 *   - one worker, H*R steps of batch P*B: the same compute and tokens in the
 *     same sequential steps, i.e. synchronous data-parallel training that
 *     exchanges a full gradient at every step;
 *   - R rounds of P participants, H inner steps each, under each aggregation
 *     rule and encoding, with DiLoCo's outer optimiser (SGD with Nesterov
 *     momentum, lr 0.7, mu 0.9) and with plain averaging (lr 1, mu 0).
 * Columns: validation loss (8 batches), the sequential steps, the tokens
 * trained on, the bytes one participant uploads per round (data-parallel: one
 * float32 gradient per step, H steps), the int8 round-trip error, and time.
 *
 * Usage: plow_round_bench [--quick] [--P N] [--H N] [--R N] [--batch N]
 *                         [--seq N] [--threads N]
 */
#include "../src/base/plow.h"

#include <math.h>

#include "../src/data/dataset.h"
#include "../src/model/model.h"
#include "../src/tensor/tensor.h"
#include "../src/train/round.h"
#include "../src/train/train.h"

static int P = 4, H = 20, R = 5, B = 8, T = 64, threads = 0;
static const int EVAL_BATCHES = 8;

static tokenizer *tok;
static dataset *data;
static model *m0, *scratch;

static void die(const char *err) {
    fprintf(stderr, "plow_round_bench: %s\n", err);
    exit(1);
}

static void row(const char *what, float loss, long steps, double tokens, double up_bytes, const char *qerr,
                double secs) {
    char up[32];
    if (up_bytes > 0) snprintf(up, sizeof up, "%.2f MB", up_bytes / 1e6);
    else snprintf(up, sizeof up, "-");
    printf("| %-46s | %6.3f | %5ld | %7.0fk | %10s | %9s | %6.1f |\n", what, (double)loss, steps, tokens / 1e3, up,
           qerr, secs);
    fflush(stdout);
}

static void base_hp(train_hparams *hp, int steps, int batch) {
    round_config c;
    round_config_default(&c, 1, steps, T);
    *hp = c.inner;
    hp->batch = batch;
}

/* One worker: `steps` steps of `batch` on the whole training split. */
static void single(const char *what, int steps, int batch, double up_bytes) {
    char err[PLOW_ERR_LEN];
    double t0 = plow_now();
    train_hparams hp;
    base_hp(&hp, steps, batch);
    memcpy(scratch->params, m0->params, m0->n_params * sizeof(float));
    train_state *s;
    if (train_state_new(&s, scratch, NULL, &hp, data->hash, err)) die(err);
    for (int i = 0; i < steps; i++) train_step(s, data, NULL);
    float *w = plow_alloc(m0->n_params * sizeof(float));
    memcpy(w, scratch->params, m0->n_params * sizeof(float));
    train_state_free(s);
    double secs = plow_now() - t0;
    train_hparams ev;
    base_hp(&ev, 1, B);
    float loss;
    if (round_eval(scratch, w, m0->n_params, data, &ev, EVAL_BATCHES, &loss, err)) die(err);
    free(w);
    row(what, loss, steps, (double)steps * batch * T, up_bytes, "-", secs);
}

/* R rounds of P participants. */
static void rounds(const char *what, round_agg agg, round_enc enc, uint32_t block, float outer_lr, float mu) {
    char err[PLOW_ERR_LEN];
    double t0 = plow_now();
    round_config cfg;
    round_config_default(&cfg, (uint32_t)P, H, T);
    cfg.inner.batch = B;
    cfg.rule.agg = agg;
    cfg.rule.trim = 1;
    cfg.rule.lr = outer_lr;
    cfg.rule.momentum = mu;
    cfg.enc = enc;
    cfg.block = block;
    round_state *s;
    if (round_state_new(&s, m0->params, m0->n_params, err)) die(err);
    uint32_t ids[ROUND_MAX_PARTICIPANTS];
    for (int i = 0; i < P; i++) ids[i] = (uint32_t)i;
    double up = 0, qrel = 0;
    for (int r = 0; r < R; r++) {
        round_report rep;
        if (round_run(s, scratch, data, &cfg, ids, NULL, P, &rep, err)) die(err);
        up = (double)rep.bytes_sent / P;
        qrel += rep.quant_rel / R;
    }
    double secs = plow_now() - t0;
    train_hparams ev;
    base_hp(&ev, 1, B);
    float loss;
    if (round_eval(scratch, round_state_weights(s, NULL), m0->n_params, data, &ev, EVAL_BATCHES, &loss, err))
        die(err);
    round_state_free(s);
    char q[32];
    if (enc == ROUND_ENC_INT8) snprintf(q, sizeof q, "%.2f%%", 100 * qrel);
    else snprintf(q, sizeof q, "-");
    row(what, loss, (long)H * R, (double)P * H * R * B * T, up, q, secs);
}

static int arg_int(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) die("missing value");
    int v = atoi(argv[++*i]);
    if (v < 1 || v > 100000) die("value out of range");
    return v;
}

int main(int argc, char **argv) {
    char err[PLOW_ERR_LEN];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            H = 5;
            R = 3;
            B = 4;
            T = 32;
        } else if (strcmp(argv[i], "--P") == 0) P = arg_int(argc, argv, &i);
        else if (strcmp(argv[i], "--H") == 0) H = arg_int(argc, argv, &i);
        else if (strcmp(argv[i], "--R") == 0) R = arg_int(argc, argv, &i);
        else if (strcmp(argv[i], "--batch") == 0) B = arg_int(argc, argv, &i);
        else if (strcmp(argv[i], "--seq") == 0) T = arg_int(argc, argv, &i);
        else if (strcmp(argv[i], "--threads") == 0) threads = arg_int(argc, argv, &i);
        else die("usage: plow_round_bench [--quick] [--P N] [--H N] [--R N] [--batch N] [--seq N] [--threads N]");
    }
    if (P > ROUND_MAX_PARTICIPANTS) die("too many participants");
    if (tensor_init(NULL, threads, err)) die(err);
    const char *root = getenv("PLOW_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", root ? root : ".");
    uint8_t *buf;
    size_t n;
    if (plow_read_file(path, 1 << 24, &buf, &n, err)) die(err);
    if (tokenizer_train(&tok, buf, n < 200000 ? n : 200000, 512, NULL, NULL, err)) die(err);
    if (dataset_from_bytes(&data, buf, n, tok, 0.1, err)) die(err);
    free(buf);
    model_config c;
    if (model_config_named("tiny", tokenizer_vocab_size(tok), &c, err)) die(err);
    if (T > c.ctx) die("sequence longer than the model's context");
    if (model_new(&m0, &c, err) || model_new(&scratch, &c, err)) die(err);
    model_init_weights(m0, 1);
    size_t np = m0->n_params;
    float loss0;
    train_hparams ev;
    base_hp(&ev, 1, B);
    if (round_eval(scratch, m0->params, np, data, &ev, EVAL_BATCHES, &loss0, err)) die(err);

    printf("Collaborative rounds on tiny (%zu parameters), tinyshakespeare (%zu training tokens), %s path, "
           "%d threads.\n",
           np, data->n_train, tensor_path_name(tensor_path_get()), tensor_threads());
    printf("P = %d participants, H = %d inner steps, R = %d rounds; batch %d x %d tokens; inner AdamW lr 3e-3; "
           "outer SGD-Nesterov lr 0.7, momentum 0.9 unless said. Validation loss at start: %.3f.\n\n",
           P, H, R, B, T, (double)loss0);
    printf("| %-46s | %6s | %5s | %8s | %10s | %9s | %6s |\n", "run", "val", "steps", "tokens", "up/round",
           "int8 err", "s");
    printf("|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------", "--------", "-------",
           "----------", "------------", "-----------", "--------");
    char what[96];
    double grad = 4.0 * (double)np;
    snprintf(what, sizeof what, "one worker, %d steps, batch %d", H * R, B);
    single(what, H * R, B, 0);
    snprintf(what, sizeof what, "one worker, %d steps, batch %d (same compute)", P * H * R, B);
    single(what, P * H * R, B, 0);
    snprintf(what, sizeof what, "data-parallel: %d steps, batch %dx%d", H * R, P, B);
    single(what, H * R, P * B, H * grad);
    snprintf(what, sizeof what, "rounds: mean (Nesterov 0.7, 0.9), f32");
    rounds(what, ROUND_AGG_MEAN, ROUND_ENC_F32, 0, 0.7f, 0.9f);
    snprintf(what, sizeof what, "rounds: mean, int8 blocks of 64");
    rounds(what, ROUND_AGG_MEAN, ROUND_ENC_INT8, 64, 0.7f, 0.9f);
    snprintf(what, sizeof what, "rounds: mean, int8 blocks of 256");
    rounds(what, ROUND_AGG_MEAN, ROUND_ENC_INT8, 256, 0.7f, 0.9f);
    snprintf(what, sizeof what, "rounds: trimmed mean (1 each end), f32");
    rounds(what, ROUND_AGG_TRIMMED, ROUND_ENC_F32, 0, 0.7f, 0.9f);
    snprintf(what, sizeof what, "rounds: median, f32");
    rounds(what, ROUND_AGG_MEDIAN, ROUND_ENC_F32, 0, 0.7f, 0.9f);
    snprintf(what, sizeof what, "rounds: averaging (outer lr 1, mu 0), f32");
    rounds(what, ROUND_AGG_MEAN, ROUND_ENC_F32, 0, 1.0f, 0.0f);
    snprintf(what, sizeof what, "rounds: averaging, int8 blocks of 64");
    rounds(what, ROUND_AGG_MEAN, ROUND_ENC_INT8, 64, 1.0f, 0.0f);
    printf("\nBytes per participant per round: f32 %zu, int8/64 %zu, int8/256 %zu (data-parallel over the same %d "
           "steps: %.0f).\n",
           round_contrib_size(np, ROUND_ENC_F32, 0), round_contrib_size(np, ROUND_ENC_INT8, 64),
           round_contrib_size(np, ROUND_ENC_INT8, 256), H, H * grad);
    model_free(m0);
    model_free(scratch);
    dataset_free(data);
    tokenizer_free(tok);
    tensor_shutdown();
    return 0;
}
