/*
 * bench.c — `make bench`: the engine's speed, as a markdown table.
 *
 * Measures the machine's FP32 peak with an FMA loop, then training and
 * generation throughput as a fraction of it, the cost of the determinism
 * contract (canonical kernels against free-order variants of the same
 * kernels), and state hashing. Numbers live here, never in tests.
 *
 * Usage: plow_bench [--quick] [--threads N]
 */
#include "../src/base/plow.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "../src/data/dataset.h"
#include "../src/infer/infer.h"
#include "../src/model/model.h"
#include "../src/tensor/tensor.h"
#include "../src/train/train.h"
#include "bench_free.h"

static bool quick;

static void row(const char *what, const char *value, const char *note) {
    printf("| %-46s | %18s | %-44s |\n", what, value, note ? note : "");
    fflush(stdout);
}

/* ---- peak ---------------------------------------------------------------- */

typedef struct peak_arg {
    double seconds;
    double flops;
} peak_arg;

static void *peak_thread(void *p) {
    peak_arg *a = p;
    double t0 = plow_now();
    double flops = 0;
    while (plow_now() - t0 < a->seconds) flops += bench_fma_loop(1 << 20);
    a->flops = flops;
    return NULL;
}

static double measure_peak(int threads) {
    pthread_t th[64];
    peak_arg args[64];
    double t0 = plow_now();
    for (int i = 0; i < threads; i++) {
        args[i].seconds = quick ? 0.3 : 1.0;
        pthread_create(&th[i], NULL, peak_thread, &args[i]);
    }
    double total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += args[i].flops;
    }
    return total / (plow_now() - t0);
}

/* ---- GEMM: canonical vs free order ------------------------------------- */

static double time_best(void (*fn)(void *), void *ctx, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = plow_now();
        fn(ctx);
        double dt = plow_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

typedef struct gemm_case {
    int M, N, K;
    tensor_mat A, B;
    float *C;
} gemm_case;

static void run_gemm(void *p) {
    gemm_case *g = p;
    tensor_gemm(g->M, g->N, g->K, g->A, g->B, g->C, g->N, false);
}

static void run_gemm_splitk(void *p) {
    gemm_case *g = p;
    bench_gemm_split_k(g->M, g->N, g->K, g->A, g->B, g->C);
}

typedef struct vec_case {
    const float *x, *y;
    size_t n;
    int reps;
    float sink;
} vec_case;

static void run_dot(void *p) {
    vec_case *v = p;
    for (int r = 0; r < v->reps; r++) v->sink += tensor_dot_st(v->x, v->y, v->n);
}

static void run_dot_free(void *p) {
    vec_case *v = p;
    for (int r = 0; r < v->reps; r++) v->sink += bench_dot_free(v->x, v->y, v->n);
}

/* ---- training and generation ---------------------------------------------- */

static double model_flops_per_token(const model_config *c, int T) {
    /* 6 N for the matrices (embedding lookups excluded, LM head included)
     * plus 12 L C T for attention scores and values (PaLM's accounting). */
    double C = c->d_model, F = c->d_ff, KVD = (double)c->n_kv_head * (C / c->n_head);
    double per_layer = C * C * 2 + C * KVD * 2 + 3 * C * F;
    double n = c->n_layer * per_layer + (double)c->vocab * C;
    return 6 * n + 12.0 * c->n_layer * C * T;
}

static void bench_train(const char *cfgname, const model_config *cfg, int B, int T, int steps, const dataset *d,
                        double peak) {
    char err[PLOW_ERR_LEN], what[128], val[64], note[128];
    model_config c = *cfg;
    model *m;
    if (model_new(&m, &c, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return;
    }
    model_init_weights(m, 1);
    train_hparams hp;
    train_hparams_default(&hp, false, steps + 2, c.ctx);
    hp.batch = B;
    hp.seq = T;
    train_state *s;
    if (train_state_new(&s, m, NULL, &hp, d->hash, err)) {
        fprintf(stderr, "bench: %s\n", err);
        model_free(m);
        return;
    }
    train_step(s, d, NULL); /* warm-up: page faults, packing buffers */
    double best = 1e30, total = 0;
    for (int i = 0; i < steps; i++) {
        train_stats st;
        train_step(s, d, &st);
        total += st.seconds;
        if (st.seconds < best) best = st.seconds;
    }
    double tps = (double)B * T * steps / total;
    double mfu = tps * model_flops_per_token(&c, T) / peak;
    snprintf(what, sizeof what, "train %s (B=%d, T=%d), tokens/s", cfgname, B, T);
    snprintf(val, sizeof val, "%.0f", tps);
    snprintf(note, sizeof note, "%.1f%% of peak (MFU; %.0f%% of 410); best step %.2fs", 100 * mfu,
             100 * mfu * peak / 410e9, best);
    row(what, val, note);
    double t0 = plow_now();
    uint8_t h[PLOW_HASH_LEN];
    int hr = quick ? 2 : 5;
    for (int i = 0; i < hr; i++) train_state_hash(s, h);
    double th = (plow_now() - t0) / hr;
    snprintf(what, sizeof what, "state hash %s (weights + moments)", cfgname);
    snprintf(val, sizeof val, "%.1f ms", th * 1e3);
    snprintf(note, sizeof note, "%.1f%% of a mean step; %.2f GB/s", 100 * th / (total / steps),
             3.0 * (double)m->n_params * 4 / th / 1e9);
    row(what, val, note);
    /* a checkpoint: what the training loop waits for (the copy into the
     * background writer's buffer) and the write + fsync done behind it */
    char tmp[] = "/tmp/plow_bench_ckpt.XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        close(fd);
        plow_buf cb = {0};
        train_state_serialize(s, &cb); /* grow the buffer once, as the writer does */
        int cr = quick ? 1 : 3;
        double c0 = plow_now();
        for (int i = 0; i < cr; i++) {
            cb.len = 0;
            train_state_serialize(s, &cb);
        }
        double tcopy = (plow_now() - c0) / cr;
        c0 = plow_now();
        for (int i = 0; i < cr; i++) plow_write_file(tmp, cb.data, cb.len, err);
        double twrite = (plow_now() - c0) / cr;
        unlink(tmp);
        plow_buf_release(&cb);
        double mean = total / steps;
        snprintf(what, sizeof what, "checkpoint %s: copy / write+fsync", cfgname);
        snprintf(val, sizeof val, "%.0f / %.0f ms", tcopy * 1e3, twrite * 1e3);
        snprintf(note, sizeof note, "commitment overhead at c=16: %.1f%% (hash + copy/16)", 100 * (th + tcopy / 16) / mean);
        row(what, val, note);
    }
    train_state_free(s);
    model_free(m);
}

static void bench_generate(const char *label, const model_config *c, int prompt, int gen) {
    char err[PLOW_ERR_LEN], what[128], val[64], note[128];
    model *m;
    if (model_new(&m, c, err)) return;
    model_init_weights(m, 2);
    infer_session *s;
    if (infer_session_new(&s, m, NULL, c->ctx, err)) return;
    int32_t *toks = plow_alloc(sizeof(int32_t) * (size_t)c->ctx);
    for (int i = 0; i < c->ctx; i++) toks[i] = (int32_t)((i * 7919) % c->vocab);
    float *logits = plow_alloc(sizeof(float) * (size_t)c->vocab);
    double best_p = 1e30, best_g = 1e30;
    int reps = quick ? 2 : 4;
    for (int r = 0; r < reps; r++) {
        infer_reset(s);
        double t0 = plow_now();
        infer_feed(s, toks, prompt, NULL, logits, err);
        double t1 = plow_now();
        for (int i = 0; i < gen; i++) infer_feed(s, toks + prompt + i, 1, NULL, logits, err);
        double t2 = plow_now();
        if (t1 - t0 < best_p) best_p = t1 - t0;
        if (t2 - t1 < best_g) best_g = t2 - t1;
    }
    snprintf(what, sizeof what, "prompt processing %s, tokens/s", label);
    snprintf(val, sizeof val, "%.0f", prompt / best_p);
    snprintf(note, sizeof note, "%d-token prompt (llama.cpp f32 ~5,100 on 30M)", prompt);
    row(what, val, note);
    snprintf(what, sizeof what, "generation %s, tokens/s", label);
    snprintf(val, sizeof val, "%.0f", gen / best_g);
    snprintf(note, sizeof note, "%d tokens after it (llama.cpp f32 ~310 on 30M)", gen);
    row(what, val, note);
    free(toks);
    free(logits);
    infer_session_free(s);
    model_free(m);
}

int main(int argc, char **argv) {
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: plow_bench [--quick] [--threads N]\n");
            return 2;
        }
    }
    char err[PLOW_ERR_LEN];
    if (tensor_init(NULL, threads, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    threads = tensor_threads();
    char cpu[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) snprintf(cpu, sizeof cpu, "%s", p + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        fclose(f);
    }
    printf("plow bench — %s, %d threads, %s path\n\n", cpu, threads, tensor_path_name(tensor_path_get()));
    printf("| %-46s | %18s | %-44s |\n|%s|%s|%s|\n", "what", "value", "note",
           "------------------------------------------------", "--------------------",
           "----------------------------------------------");
    char val[64], note[160];

    double peak = measure_peak(threads);
    snprintf(val, sizeof val, "%.1f GFLOP/s", peak / 1e9);
    snprintf(note, sizeof note, "FMA loop on %d threads (%s)", threads, bench_fma_isa());
    row("peak FP32", val, note);

    /* GEMM shapes of small's training step (B*T = 4096 rows) */
    int rows = quick ? 2048 : 4096;
    size_t big = (size_t)rows * 1024;
    float *a = plow_alloc_aligned(big * 4), *b = plow_alloc_aligned(big * 4), *c = plow_alloc_aligned(big * 4);
    tensor_normal_fill(a, big, 1.0f, (tensor_rng_key){1, 1, 0});
    tensor_normal_fill(b, big, 1.0f, (tensor_rng_key){1, 2, 0});
    struct {
        const char *name;
        gemm_case g;
    } cases[] = {
        {"GEMM x·W^T (N x 384 -> 1024)", {rows, 1024, 384, {a, 384, 1}, {b, 1, 384}, c}},
        {"GEMM dY·W (N x 1024 -> 384)", {rows, 384, 1024, {a, 1024, 1}, {b, 384, 1}, c}},
        {"GEMM dW = dY^T·X (1024 x 384, K = N)", {1024, 384, rows, {a, 1, 1024}, {b, 384, 1}, c}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gemm_case *g = &cases[i].g;
        double t = time_best(run_gemm, g, quick ? 3 : 8);
        double gf = 2.0 * g->M * g->N * g->K / t;
        double tf = time_best(run_gemm_splitk, g, quick ? 3 : 8);
        double gff = 2.0 * g->M * g->N * g->K / tf;
        snprintf(val, sizeof val, "%.1f GFLOP/s", gf / 1e9);
        snprintf(note, sizeof note, "%.0f%% of peak; free order (split-K) %.1f: %+.0f%%", 100 * gf / peak, gff / 1e9,
                 100 * (gff / gf - 1));
        row(cases[i].name, val, note);
    }
    {
        vec_case v = {a, b, 384, 20000, 0};
        double t1 = time_best(run_dot, &v, 5), t2 = time_best(run_dot_free, &v, 5);
        snprintf(val, sizeof val, "%.1f GFLOP/s", 2.0 * 384 * v.reps / t1 / 1e9);
        snprintf(note, sizeof note, "free order (8 accumulators): %.1f, %+.0f%%", 2.0 * 384 * v.reps / t2 / 1e9,
                 100 * (t1 / t2 - 1));
        row("dot product, 384 floats, canonical 64 lanes", val, note);
    }
    free(a);
    free(b);
    free(c);

    /* training */
    const char *root = getenv("PLOW_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/tinyshakespeare.txt", root ? root : ".");
    uint8_t *text;
    size_t n;
    if (plow_read_file(path, 1 << 24, &text, &n, err)) {
        fprintf(stderr, "bench: %s (run from the repository root or set PLOW_ROOT)\n", err);
        return 1;
    }
    tokenizer *tok;
    dataset *d;
    double t0 = plow_now();
    if (tokenizer_train(&tok, text, n, 4096, NULL, NULL, err) || dataset_from_bytes(&d, text, n, tok, 0.1, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    snprintf(val, sizeof val, "%.2f s", plow_now() - t0);
    row("tokenizer: train 4096 + encode 1.1 MB", val, "Tiny Shakespeare");
    model_config tiny, s4, s50;
    model_config_named("tiny", 4096, &tiny, err);
    model_config_named("small", 4096, &s4, err);
    s50 = s4;
    s50.vocab = 50257; /* llama.cpp's comparison model: small's shape, GPT-2 vocabulary, tied */
    s50.tied = true;
    bench_train("tiny", &tiny, 8, 128, quick ? 3 : 10, d, peak);
    bench_train("small", &s4, 16, 256, quick ? 2 : 6, d, peak);
    bench_train("30M (vocab 50257)", &s50, 4, 256, quick ? 2 : 5, d, peak);

    /* generation */
    bench_generate("small (vocab 4096)", &s4, 128, 128);
    bench_generate("30M: small, vocab 50257 tied", &s50, 128, 128);
    printf("\n(plow bench %s, %s)\n", PLOW_VERSION, quick ? "quick" : "full");
    tokenizer_free(tok);
    dataset_free(d);
    free(text);
    tensor_shutdown();
    return 0;
}
