/*
 * test_dpo.c — preference pairs and the DPO step: the JSONL parser on
 * malformed input, the pair encoding and the corpus generator; the DPO loss
 * and gradient against finite differences of an independent double-precision
 * forward written here; bit-identical states over threads and SIMD paths; a
 * one-step replay from a serialised state; and the held-out preference
 * metrics rising when a small pretrained model is trained with DPO.
 */
#include "../src/base/plow.h"

#include <math.h>
#include <stdio.h>

#include "../src/data/dataset.h"
#include "../src/data/prefs.h"
#include "../src/tensor/tensor.h"
#include "../src/train/dpo.h"
#include "../src/train/train.h"
#include "fixture.h"
#include "ref_model.h"
#include "test.h"

/* ---- shared: a small tokenizer, a dataset and generated pairs ---------------- */

static tokenizer *g_tok;
static dataset *g_data;
static prefs *g_train, *g_val;

static void setup(void) {
    if (g_tok) return;
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t n;
    fixture_corpus(60000, 384, 200000, 0.05, &g_tok, &g_data, &buf, &n);
    if (!buf || !g_data) return;
    plow_buf tr = {0}, va = {0};
    CHECKF(prefs_generate(buf, n, 1, PREFS_SHUFFLED, 0.1, 2000, 200, &tr, &va, err) == 0, "%s", err);
    CHECKF(prefs_parse(&g_train, tr.data, tr.len, g_tok, err) == 0, "%s", err);
    CHECKF(prefs_parse(&g_val, va.data, va.len, g_tok, err) == 0, "%s", err);
    plow_buf_release(&tr);
    plow_buf_release(&va);
    free(buf);
}

/* 2 layers, d 64, GQA, tied: ~120k parameters with the 384-token vocabulary. */
static model *nano_model(uint64_t seed) {
    model_config c = fixture_config("nano", 2, 64, 4, 2, 192, 64, tokenizer_vocab_size(g_tok), true);
    return fixture_model(&c, seed);
}

static void dpo_hp(train_hparams *hp, bool is_lora, int steps, int pairs, int seq, float lr) {
    train_hparams_default(hp, is_lora, steps, seq);
    hp->batch = pairs;
    hp->seq = seq;
    hp->lr = lr;
    hp->min_lr = lr * 0.1f;
    hp->wd = 0.0f;
    hp->seed = 5;
}

/* ---- the parser --------------------------------------------------------------- */

static bool parse_fails(const char *text, const char *want, size_t line) {
    char err[PLOW_ERR_LEN], tag[32];
    prefs *p = NULL;
    err[0] = 0;
    int rc = prefs_parse(&p, (const uint8_t *)text, strlen(text), g_tok, err);
    prefs_free(p);
    snprintf(tag, sizeof tag, "line %zu:", line);
    bool ok = rc == -1 && p == NULL && strstr(err, want) && (line == 0 || strstr(err, tag));
    if (!ok) fprintf(stderr, "    input %s -> rc %d, '%s' (wanted '%s', line %zu)\n", text, rc, err, want, line);
    return ok;
}

static void decoded(const prefs *p, size_t i, int field, plow_buf *out) {
    const prefs_pair *pp = &p->pairs[i];
    size_t off = field == 0 ? pp->prompt : field == 1 ? pp->chosen : pp->rejected;
    size_t n = field == 0 ? pp->n_prompt : field == 1 ? pp->n_chosen : pp->n_rejected;
    uint8_t *b;
    size_t nb;
    char err[PLOW_ERR_LEN];
    out->len = 0;
    if (tokenizer_decode(g_tok, p->tokens + off, n, &b, &nb, err) == 0) {
        plow_buf_append(out, b, nb);
        free(b);
    }
}

static void test_parser(void) {
    setup();
    char err[PLOW_ERR_LEN];
    static const char good[] =
        "{\"prompt\": \"Say hi\\n\", \"chosen\": \"hello\", \"rejected\": \"go away\"}\n"
        " { \"rejected\":\"caf\\u00e9 \\ud83d\\ude00\" ,\"chosen\":\"a\\\"b\\\\c\\/d\\te\",\"prompt\":\"x\"}\r\n"
        "{\"prompt\":\"nul\\u0000inside\",\"chosen\":\"\xc3\xa9t\xc3\xa9\",\"rejected\":\"winter\"}";
    prefs *p = NULL;
    CHECKF(prefs_parse(&p, (const uint8_t *)good, strlen(good), g_tok, err) == 0, "%s", err);
    if (!p) return;
    CHECK(p->n == 3);
    plow_buf b = {0};
    decoded(p, 0, 0, &b);
    CHECK(b.len == 7 && memcmp(b.data, "Say hi\n", 7) == 0);
    decoded(p, 1, 1, &b);
    CHECK(b.len == 9 && memcmp(b.data, "a\"b\\c/d\te", 9) == 0);
    decoded(p, 1, 2, &b);
    CHECK(b.len == 10 && memcmp(b.data, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10) == 0);
    decoded(p, 2, 0, &b); /* \u0000 is kept, not a cut */
    CHECK(b.len == 10 && memcmp(b.data, "nul\0inside", 10) == 0);
    /* the hash commits to the bytes and to the tokenizer */
    prefs *q = NULL;
    static const char good2[] = "{\"prompt\": \"Say hi\\n\", \"chosen\": \"hello\", \"rejected\": \"go away!\"}\n";
    CHECK(prefs_parse(&q, (const uint8_t *)good2, strlen(good2), g_tok, err) == 0);
    CHECK(q && memcmp(q->hash, p->hash, PLOW_HASH_LEN) != 0);
    prefs_free(q);
    tokenizer *t2;
    CHECK(tokenizer_train(&t2, (const uint8_t *)good, strlen(good), 260, NULL, NULL, err) == 0);
    CHECK(prefs_parse(&q, (const uint8_t *)good, strlen(good), t2, err) == 0);
    CHECK(q && memcmp(q->hash, p->hash, PLOW_HASH_LEN) != 0);
    prefs_free(q);
    tokenizer_free(t2);

    const char *ok1 = "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n";
    CHECK(prefs_parse(&q, (const uint8_t *)ok1, strlen(ok1), g_tok, err) == 0 && q->n == 1);
    prefs_free(q);
    CHECK(parse_fails("", "no pairs", 0));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n\n", "empty line", 2));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n   \n{}", "empty line", 2));
    CHECK(parse_fails("[\"a\",\"b\",\"c\"]", "not a JSON object", 1));
    CHECK(parse_fails("{}", "missing member 'prompt'", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\"}", "missing member 'rejected'", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\",\"score\":\"1\"}", "unknown member", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}", "duplicate member", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":1,\"chosen\":\"b\",\"rejected\":\"c\"}",
                      "'prompt' must be a string", 2));
    CHECK(parse_fails("{\"prompt\":null,\"chosen\":\"b\",\"rejected\":\"c\"}", "must be a string", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c", "unterminated string", 1));
    CHECK(parse_fails("{\"prompt\":\"a\\q\",\"chosen\":\"b\",\"rejected\":\"c\"}", "bad escape", 1));
    CHECK(parse_fails("{\"prompt\":\"a\\u12g4\",\"chosen\":\"b\",\"rejected\":\"c\"}", "bad \\u escape", 1));
    CHECK(parse_fails("{\"prompt\":\"a\\ud800\",\"chosen\":\"b\",\"rejected\":\"c\"}", "surrogate", 1));
    CHECK(parse_fails("{\"prompt\":\"a\\udc00\",\"chosen\":\"b\",\"rejected\":\"c\"}", "surrogate", 1));
    CHECK(parse_fails("{\"prompt\":\"a\tb\",\"chosen\":\"b\",\"rejected\":\"c\"}", "control character", 1));
    CHECK(parse_fails("{\"prompt\":\"a\xff\",\"chosen\":\"b\",\"rejected\":\"c\"}", "invalid UTF-8", 1));
    CHECK(parse_fails("{\"prompt\":\"a\xc0\xaf\",\"chosen\":\"b\",\"rejected\":\"c\"}", "invalid UTF-8", 1));
    CHECK(parse_fails("{\"prompt\":\"\xed\xa0\x80\",\"chosen\":\"b\",\"rejected\":\"c\"}", "invalid UTF-8", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"} x", "characters after", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}}", "characters after", 1));
    CHECK(parse_fails("{\"prompt\":\"a\" \"chosen\":\"b\",\"rejected\":\"c\"}", "expected ',' or '}'", 1));
    CHECK(parse_fails("{\"prompt\" \"a\",\"chosen\":\"b\",\"rejected\":\"c\"}", "expected ':'", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",,\"chosen\":\"b\",\"rejected\":\"c\"}", "expected a member name", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\",}", "expected a member name", 1));
    CHECK(parse_fails("{\"prompt\":\"\",\"chosen\":\"b\",\"rejected\":\"c\"}", "'prompt' is empty", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"\",\"rejected\":\"c\"}", "'chosen' is empty", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"same\",\"rejected\":\"same\"}", "the same text", 1));
    CHECK(parse_fails("{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"", "line 2", 2));
    /* every cut of the good file either parses (cut at a line end) or names a line */
    size_t len = strlen(good);
    for (size_t cut = 0; cut < len; cut++) {
        err[0] = 0;
        int rc = prefs_parse(&q, (const uint8_t *)good, cut, g_tok, err);
        size_t e = cut;
        while (e > 0 && (good[e - 1] == '\n' || good[e - 1] == '\r')) e--;
        bool at_end = e > 0 && good[e - 1] == '}';
        if (rc == 0) {
            CHECKF(at_end, "cut at %zu parsed", cut);
            prefs_free(q);
        } else {
            CHECKF(cut == 0 ? strstr(err, "no pairs") != NULL : strstr(err, "line ") != NULL, "cut %zu: '%s'", cut,
                   err);
        }
    }
    plow_buf_release(&b);
    prefs_free(p);
}

/* ---- the encoding --------------------------------------------------------------- */

static void test_encoding(void) {
    setup();
    char err[PLOW_ERR_LEN];
    /* token ids of single bytes are the bytes: a prompt of 12, responses 4 and 9 */
    const char *text = "{\"prompt\":\"abcdefghijkl\",\"chosen\":\"WXYZ\",\"rejected\":\"123456789\"}";
    tokenizer *bt;
    CHECK(tokenizer_train(&bt, (const uint8_t *)"qq", 2, 258, NULL, NULL, err) == 0); /* bytes only */
    prefs *p = NULL;
    CHECKF(prefs_parse(&p, (const uint8_t *)text, strlen(text), bt, err) == 0, "%s", err);
    if (!p) return;
    CHECK(p->pairs[0].n_prompt == 12 && p->pairs[0].n_chosen == 4 && p->pairs[0].n_rejected == 9);
    int32_t x[2 * 40], y[2 * 40], span[4];
    /* T = 30: everything fits (12 + 9 <= 31) */
    prefs_encode(p, 0, 30, x, y, span);
    CHECK(span[0] == 11 && span[1] == 15 && span[2] == 11 && span[3] == 20);
    CHECK(x[0] == 'a' && y[0] == 'b' && x[11] == 'l' && y[11] == 'W' && y[14] == 'Z' && x[15] == 'Z' && y[15] == 0);
    CHECK(x[16] == 0 && y[29] == 0 && x[30 + 11] == 'l' && y[30 + 11] == '1' && y[30 + 19] == '9');
    /* T = 15: L = 16, R = 9: keep_p = max(8, 7) = 8 (the prompt's end), chosen 4, rejected 8 */
    prefs_encode(p, 0, 15, x, y, span);
    CHECK(x[0] == 'e' && x[7] == 'l' && y[7] == 'W' && span[0] == 7 && span[1] == 11);
    CHECK(x[15] == 'e' && span[2] == 7 && span[3] == 15 && y[15 + 14] == '8');
    /* T = 1: L = 2: one prompt token, one response token */
    prefs_encode(p, 0, 1, x, y, span);
    CHECK(x[0] == 'l' && y[0] == 'W' && span[0] == 0 && span[1] == 1 && x[1] == 'l' && y[1] == '1');
    prefs_free(p);
    tokenizer_free(bt);

    /* on the generated set: inputs are targets shifted, spans inside the row */
    int T = 40, B = 6;
    int32_t *bx = plow_alloc(sizeof(int32_t) * 2 * B * T), *by = plow_alloc(sizeof(int32_t) * 2 * B * T);
    int32_t *sp = plow_alloc(sizeof(int32_t) * 4 * B), *sp2 = plow_alloc(sizeof(int32_t) * 4 * B);
    prefs_batch(g_train, 9, PREFS_PURPOSE_TRAIN, 3, B, T, bx, by, sp);
    for (int r = 0; r < 2 * B; r++) {
        CHECK(sp[2 * r] >= 0 && sp[2 * r + 1] > sp[2 * r] && sp[2 * r + 1] <= T);
        for (int t = 0; t + 1 < sp[2 * r + 1]; t++) CHECK(by[r * T + t] == bx[r * T + t + 1]);
    }
    /* the same draw again, and another step draws other pairs */
    int32_t *cx = plow_alloc(sizeof(int32_t) * 2 * B * T), *cy = plow_alloc(sizeof(int32_t) * 2 * B * T);
    prefs_batch(g_train, 9, PREFS_PURPOSE_TRAIN, 3, B, T, cx, cy, sp2);
    CHECK(memcmp(bx, cx, sizeof(int32_t) * 2 * B * T) == 0 && memcmp(sp, sp2, sizeof(int32_t) * 4 * B) == 0);
    prefs_batch(g_train, 9, PREFS_PURPOSE_TRAIN, 4, B, T, cx, cy, sp2);
    CHECK(memcmp(bx, cx, sizeof(int32_t) * 2 * B * T) != 0);
    free(bx);
    free(by);
    free(cx);
    free(cy);
    free(sp);
    free(sp2);
}

/* ---- the generator ------------------------------------------------------------------ */

static void sorted_words(const uint8_t *s, size_t n, plow_buf *out) {
    /* the words of s sorted (insertion sort on a copy), joined by '\n' */
    char *copy = plow_alloc(n + 1), *words[256];
    memcpy(copy, s, n);
    copy[n] = 0;
    int k = 0;
    for (char *w = strtok(copy, " \n"); w && k < 256; w = strtok(NULL, " \n")) words[k++] = w;
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && strcmp(words[j - 1], words[j]) > 0; j--) {
            char *t = words[j];
            words[j] = words[j - 1];
            words[j - 1] = t;
        }
    out->len = 0;
    for (int i = 0; i < k; i++) plow_buf_printf(out, "%s\n", words[i]);
    free(copy);
}

static void test_generator(void) {
    setup();
    char err[PLOW_ERR_LEN];
    uint8_t *buf;
    size_t n;
    CHECK(plow_read_file(test_corpus_path(), 1 << 24, &buf, &n, err) == 0);
    plow_buf a = {0}, b = {0}, c = {0}, d = {0};
    CHECK(prefs_generate(buf, n, 3, PREFS_MIXED, 0.1, 50, 20, &a, &b, err) == 0);
    CHECK(prefs_generate(buf, n, 3, PREFS_MIXED, 0.1, 50, 20, &c, &d, err) == 0);
    CHECK(a.len == c.len && memcmp(a.data, c.data, a.len) == 0 && b.len == d.len && memcmp(b.data, d.data, b.len) == 0);
    c.len = d.len = 0;
    CHECK(prefs_generate(buf, n, 4, PREFS_MIXED, 0.1, 50, 20, &c, &d, err) == 0);
    CHECK(a.len != c.len || memcmp(a.data, c.data, a.len) != 0);
    /* the output is valid JSONL for the strict parser */
    prefs *p = NULL, *v = NULL;
    CHECKF(prefs_parse(&p, a.data, a.len, g_tok, err) == 0, "%s", err);
    CHECKF(prefs_parse(&v, b.data, b.len, g_tok, err) == 0, "%s", err);
    CHECK(p && p->n == 50 && v && v->n == 20);
    /* shuffled pairs (even lines): same words as chosen, other order; held-out
     * prompts come from the last 10% of the text, train ones never do */
    size_t cut = n - (size_t)((double)n * 0.1);
    for (int set = 0; set < 2 && p && v; set++) {
        const prefs *q = set ? v : p;
        plow_buf f0 = {0}, f1 = {0}, f2 = {0}, s1 = {0}, s2 = {0};
        for (size_t i = 0; i < q->n; i++) {
            decoded(q, i, 0, &f0);
            decoded(q, i, 1, &f1);
            decoded(q, i, 2, &f2);
            CHECK(f1.len != f2.len || memcmp(f1.data, f2.data, f1.len) != 0);
            if (i % 2 == 0) {
                sorted_words(f1.data, f1.len, &s1);
                sorted_words(f2.data, f2.len, &s2);
                CHECKF(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0, "pair %zu: not the same words", i);
            }
            /* locate the prompt + chosen lines in the corpus (chosen is the normalised line) */
            uint8_t *at = memmem(buf, n, f0.data, f0.len);
            CHECKF(at != NULL, "pair %zu: prompt not in the text", i);
            if (at) {
                size_t pos = (size_t)(at - buf);
                /* the first occurrence may be elsewhere; only check the split where it is unique */
                if (!memmem(at + 1, n - pos - 1, f0.data, f0.len)) CHECK(set ? pos >= cut : pos < cut);
            }
        }
        plow_buf_release(&f0);
        plow_buf_release(&f1);
        plow_buf_release(&f2);
        plow_buf_release(&s1);
        plow_buf_release(&s2);
    }
    prefs_free(p);
    prefs_free(v);
    /* errors: too many pairs asked, a bad fraction, non-UTF-8 text */
    CHECK(prefs_generate(buf, 20000, 1, PREFS_SHUFFLED, 0.1, 100000, 10, &c, &d, err) == -1 && strstr(err, "candidates"));
    CHECK(prefs_generate(buf, n, 1, PREFS_SHUFFLED, 0.0, 1, 1, &c, &d, err) == -1);
    CHECK(prefs_generate((const uint8_t *)"a\nb c d e\n\xff\n", 11, 1, PREFS_SHUFFLED, 0.5, 1, 0, &c, &d, err) == -1 &&
          strstr(err, "UTF-8"));
    CHECK(prefs_generate(buf, 20000, 1, PREFS_OTHER, 0.1, 5, 1, &c, &d, err) == -1 && strstr(err, "lines away"));
    plow_buf_release(&a);
    plow_buf_release(&b);
    plow_buf_release(&c);
    plow_buf_release(&d);
    free(buf);
}

/* ---- the gradient against finite differences of a double forward ----------------- */

static model_config micro_config(void) { return fixture_config("micro", 2, 16, 4, 2, 24, 8, 13, false); }

/* The DPO loss of a batch in double: policy (pol) against reference (ref). */
static double d_dpo_loss(const ref_model *pol, const ref_model *ref, const dpo_batch *b, double beta) {
    double total = 0;
    for (int p = 0; p < b->pairs; p++) {
        double lr[2];
        for (int k = 0; k < 2; k++) {
            int row = 2 * p + k;
            double lp[8], lq[8], s = 0;
            ref_logp(pol, b->x + row * b->T, b->y + row * b->T, b->T, lp);
            ref_logp(ref, b->x + row * b->T, b->y + row * b->T, b->T, lq);
            for (int t = b->span[2 * row]; t < b->span[2 * row + 1]; t++) s += lp[t] - lq[t];
            lr[k] = s;
        }
        double z = beta * (lr[0] - lr[1]);
        total += log1p(exp(-z));
    }
    return total / b->pairs;
}

struct dpo_fd {
    const ref_model *pol, *ref;
    const dpo_batch *b;
    double beta;
};
static double dpo_fd_loss(void *ctx) {
    const struct dpo_fd *x = ctx;
    return d_dpo_loss(x->pol, x->ref, x->b, x->beta);
}

static void grads_for(bool with_lora) {
    char err[PLOW_ERR_LEN];
    model_config c = micro_config();
    model *m;
    CHECKF(model_new(&m, &c, err) == 0, "%s", err);
    model_init_weights(m, 3);
    for (size_t i = 0; i < m->n_params; i++) m->params[i] *= 10.0f; /* signal through every path */
    lora *l = NULL;
    if (with_lora) {
        CHECKF(lora_new(&l, &c, 3, 6.0f, (1u << LORA_TARGET_COUNT) - 1, err) == 0, "%s", err);
        lora_init_weights(l, 4);
    }
    const float beta = 0.7f;
    train_hparams hp;
    dpo_hp(&hp, with_lora, 10, 2, 6, 1e-3f);
    uint8_t ph[PLOW_HASH_LEN] = {1};
    train_state *s;
    CHECKF(train_state_new_dpo(&s, m, l, &hp, beta, ph, err) == 0, "%s", err);
    /* the reference is the weights as given (LoRA: the base without the
     * adapter); move the policy away from it */
    ref_model ref;
    ref_model_init(&ref, m, NULL);
    fixture_move_policy(m, l, 8);
    /* 2 pairs x 6 positions; spans of different lengths */
    int32_t x[24], y[24], span[8] = {2, 6, 2, 5, 1, 6, 1, 4};
    for (int i = 0; i < 24; i++) {
        x[i] = (int32_t)(tensor_uniform((tensor_rng_key){1, 5, 0}, (uint64_t)i) * 13.0f);
        y[i] = (int32_t)(tensor_uniform((tensor_rng_key){2, 5, 0}, (uint64_t)i) * 13.0f);
    }
    dpo_batch b = {2, 6, x, y, span};
    dpo_stats ds;
    float loss = dpo_gradient(s, &b, &ds);
    const float *g = train_state_grad(s);
    ref_model pol;
    ref_model_init(&pol, m, l);
    double dl = d_dpo_loss(&pol, &ref, &b, beta);
    CHECKF(fabs(dl - loss) < 2e-4 * fabs(dl) + 1e-6, "DPO loss %.7g vs double reference %.7g", (double)loss, dl);
    CHECKF(fabs(dl - log(2.0)) > 0.01, "the policy should differ from the reference (loss %g)", dl);
    CHECK(ds.loss == loss && isfinite(ds.margin));
    /* central differences on a few entries of every trainable tensor */
    struct dpo_fd ctx = {&pol, &ref, &b, beta};
    fixture_grads_agree(m, l, g, l ? pol.lw : pol.w, dpo_fd_loss, &ctx, 77, "DPO");
    ref_model_release(&ref);
    ref_model_release(&pol);
    train_state_free(s);
    lora_free(l);
    model_free(m);
}

static void test_grads_full(void) { grads_for(false); }
static void test_grads_lora(void) { grads_for(true); }

/* ---- determinism ------------------------------------------------------------------ */

/* `steps` DPO steps from a fixed nano model; the final state hash. */
static void run_dpo(const char *path, int threads, bool with_lora, int steps, uint8_t out[PLOW_HASH_LEN]) {
    char err[PLOW_ERR_LEN];
    CHECKF(tensor_init(path, threads, err) == 0, "%s", err);
    model *m = nano_model(21);
    lora *l = NULL;
    if (with_lora) {
        CHECK(lora_new(&l, &m->cfg, 4, 8.0f, LORA_Q | LORA_V | LORA_UP, err) == 0);
        lora_init_weights(l, 6);
    }
    train_hparams hp;
    dpo_hp(&hp, with_lora, steps, 2, 32, with_lora ? 5e-3f : 1e-3f);
    hp.clip = 0.05f; /* small: the clipping path runs too */
    train_state *s;
    CHECK(train_state_new_dpo(&s, m, l, &hp, 0.5f, g_train->hash, err) == 0);
    for (int i = 0; i < steps; i++) dpo_step(s, g_train, NULL, NULL);
    train_state_hash(s, out);
    train_state_free(s);
    lora_free(l);
    model_free(m);
}

static void test_identical_across_threads_and_paths(void) {
    setup();
    fixture_paths_agree("DPO", getenv("PLOW_TEST_QUICK") ? 2 : 3, run_dpo, true);
}

/* ---- the state: replay, header commitments, reinit ------------------------------------ */

static void test_replay_and_header(void) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL); /* one thread: cheap on a loaded machine (threads are tested above) */
    for (int with_lora = 0; with_lora < 2; with_lora++) {
        model *m1 = nano_model(22), *m2 = nano_model(22);
        lora *l1 = NULL, *l2 = NULL;
        if (with_lora) {
            CHECK(lora_new(&l1, &m1->cfg, 4, 8.0f, LORA_Q | LORA_V, err) == 0);
            CHECK(lora_new(&l2, &m2->cfg, 4, 8.0f, LORA_Q | LORA_V, err) == 0);
            lora_init_weights(l1, 1); /* hp.init_seed: what reinit restores */
            lora_init_weights(l2, 1);
        }
        train_hparams hp;
        dpo_hp(&hp, with_lora, 10, 2, 32, with_lora ? 5e-3f : 1e-3f);
        train_state *a, *b;
        CHECK(train_state_new_dpo(&a, m1, l1, &hp, 0.5f, g_train->hash, err) == 0);
        uint8_t h0[PLOW_HASH_LEN], ha[PLOW_HASH_LEN], hb[PLOW_HASH_LEN], tid[PLOW_HASH_LEN];
        train_state_hash(a, h0);
        train_state_task_id(a, tid);
        for (int i = 0; i < 3; i++) dpo_step(a, g_train, NULL, NULL);
        plow_buf st3 = {0};
        train_state_serialize(a, &st3);
        dpo_step(a, g_train, NULL, NULL);
        train_state_hash(a, ha);
        /* a verifier: the base model and adapter layout as given, state 3 restored, one step */
        CHECK(train_state_new_dpo(&b, m2, l2, &hp, 0.5f, g_train->hash, err) == 0);
        CHECKF(train_state_restore(b, st3.data, st3.len, err) == 0, "%s", err);
        CHECK(train_state_step(b) == 3);
        dpo_step(b, g_train, NULL, NULL);
        train_state_hash(b, hb);
        CHECKF(memcmp(ha, hb, sizeof ha) == 0, "%s: replay of step 4 from state 3 differs", with_lora ? "LoRA" : "full");
        /* reinit: back to state 0 (full: the reference weights) */
        train_state_reinit(b);
        train_state_hash(b, hb);
        CHECK(memcmp(h0, hb, sizeof h0) == 0);
        /* the header commits to the mode, beta and the pair set */
        train_state *c;
        uint8_t t2[PLOW_HASH_LEN];
        CHECK(train_state_new_dpo(&c, m2, l2, &hp, 0.25f, g_train->hash, err) == 0);
        train_state_task_id(c, t2);
        CHECK(memcmp(tid, t2, sizeof t2) != 0);
        CHECK(train_state_restore(c, st3.data, st3.len, err) == -1 && strstr(err, "beta"));
        train_state_free(c);
        CHECK(train_state_new_dpo(&c, m2, l2, &hp, 0.5f, g_val->hash, err) == 0);
        train_state_task_id(c, t2);
        CHECK(memcmp(tid, t2, sizeof t2) != 0);
        CHECK(train_state_restore(c, st3.data, st3.len, err) == -1);
        train_state_free(c);
        train_hparams thp = hp;
        thp.batch = 2;
        CHECK(train_state_new(&c, m2, l2, &thp, g_train->hash, err) == 0);
        train_state_task_id(c, t2);
        CHECK(memcmp(tid, t2, sizeof t2) != 0);
        CHECK(train_state_restore(c, st3.data, st3.len, err) == -1 && strstr(err, "DPO run"));
        plow_buf tb = {0};
        train_state_serialize(c, &tb);
        CHECK(train_state_restore(b, tb.data, tb.len, err) == -1 && strstr(err, "training run"));
        plow_buf_release(&tb);
        train_state_free(c);
        /* full DPO: the reference is committed — another starting model, another task */
        if (!with_lora) {
            model *m3 = nano_model(23);
            CHECK(train_state_new_dpo(&c, m3, NULL, &hp, 0.5f, g_train->hash, err) == 0);
            train_state_task_id(c, t2);
            CHECK(memcmp(tid, t2, sizeof t2) != 0);
            CHECK(train_state_restore(c, st3.data, st3.len, err) == -1 && strstr(err, "base model"));
            train_state_free(c);
            model_free(m3);
        }
        /* bad parameters */
        CHECK(train_state_new_dpo(&c, m2, l2, &hp, 0.0f, g_train->hash, err) == -1 && strstr(err, "beta"));
        CHECK(train_state_new_dpo(&c, m2, l2, &hp, NAN, g_train->hash, err) == -1);
        train_hparams bad = hp;
        bad.seq = 1;
        CHECK(train_state_new_dpo(&c, m2, l2, &bad, 0.5f, g_train->hash, err) == -1);
        plow_buf_release(&st3);
        train_state_free(a);
        train_state_free(b);
        lora_free(l1);
        lora_free(l2);
        model_free(m1);
        model_free(m2);
    }
    tensor_init("auto", 2, NULL);
}

/* ---- the effect: held-out preferences rise ------------------------------------------- */

/* Metrics before and after `steps` DPO steps from the base weights in m. */
static void dpo_effect(model *m, bool with_lora, int steps, size_t n_eval, dpo_eval_stats *e0, dpo_eval_stats *e1) {
    char err[PLOW_ERR_LEN];
    lora *l = NULL;
    if (with_lora) {
        CHECK(lora_new(&l, &m->cfg, 8, 16.0f, (1u << LORA_TARGET_COUNT) - 1, err) == 0);
        lora_init_weights(l, 1);
    }
    train_hparams hp;
    dpo_hp(&hp, with_lora, steps, 4, 40, with_lora ? 1e-2f : 1e-3f);
    train_state *s;
    CHECK(train_state_new_dpo(&s, m, l, &hp, 0.5f, g_train->hash, err) == 0);
    dpo_eval(s, g_val, n_eval, e0);
    CHECK(e0->pairs == n_eval && e0->accuracy == 0.0 && e0->margin == 0.0 && fabs(e0->loss - log(2.0)) < 1e-6);
    for (int i = 0; i < steps; i++) {
        train_stats st;
        dpo_stats ds;
        dpo_step(s, g_train, &st, &ds);
        CHECK(isfinite(st.loss) && st.loss == ds.loss && st.gnorm > 0);
    }
    dpo_eval(s, g_val, n_eval, e1);
    fprintf(stderr,
            "    %s DPO, %d steps, held-out (%zu pairs): policy accuracy %.3f -> %.3f, policy margin %.2f -> %.2f "
            "nats; reward accuracy %.3f -> %.3f, margin %.3f -> %.3f, loss %.4f -> %.4f\n",
            with_lora ? "LoRA" : "full", steps, e1->pairs, e0->policy_accuracy, e1->policy_accuracy,
            e0->policy_margin, e1->policy_margin, e0->accuracy, e1->accuracy, e0->margin, e1->margin, e0->loss,
            e1->loss);
    train_state_reinit(s); /* full: the base weights back in m for the next run */
    train_state_free(s);
    lora_free(l);
}

static void test_dpo_raises_heldout_preference(void) {
    setup();
    char err[PLOW_ERR_LEN];
    tensor_init("auto", 1, NULL);
    bool quick = getenv("PLOW_TEST_QUICK") != NULL;
    int base_steps = quick ? 20 : 150, dpo_steps = quick ? 8 : 60;
    size_t n_eval = quick ? 24 : g_val->n;
    /* a base model: next-token training on the first 200 KB of the corpus */
    model *m = nano_model(1);
    train_hparams hp;
    train_hparams_default(&hp, false, base_steps, 48);
    hp.batch = 4;
    hp.seq = 48;
    hp.lr = 1e-2f;
    hp.min_lr = 1e-3f;
    train_state *s;
    CHECK(train_state_new(&s, m, NULL, &hp, g_data->hash, err) == 0);
    for (int i = 0; i < base_steps; i++) train_step(s, g_data, NULL);
    train_state_free(s);
    /* DPO against the base as reference, on train pairs; metrics on held-out pairs */
    for (int with_lora = 0; with_lora < 2; with_lora++) {
        dpo_eval_stats e0, e1;
        dpo_effect(m, with_lora, dpo_steps, n_eval, &e0, &e1);
        const char *what = with_lora ? "LoRA" : "full";
        if (quick) { /* sanitizer builds: too few steps to generalise; the implicit reward moved */
            CHECKF(e1.margin > 0 && isfinite(e1.loss), "%s: margin %.3f, loss %.4f", what, e1.margin, e1.loss);
            continue;
        }
        CHECKF(e1.policy_accuracy >= e0.policy_accuracy + 0.04, "%s: policy accuracy %.3f -> %.3f", what,
               e0.policy_accuracy, e1.policy_accuracy);
        CHECKF(e1.policy_margin > e0.policy_margin + 3.0, "%s: policy margin %.3f -> %.3f", what, e0.policy_margin,
               e1.policy_margin);
        CHECKF(e1.accuracy >= 0.8, "%s: reward accuracy %.3f", what, e1.accuracy);
        CHECKF(e1.margin > 1.0, "%s: mean margin %.3f", what, e1.margin);
        CHECKF(e1.loss < e0.loss - 0.3, "%s: held-out DPO loss %.4f -> %.4f", what, e0.loss, e1.loss);
    }
    model_free(m);
    tensor_init("auto", 2, NULL);
}

const test_case dpo_tests[] = {
    {"dpo_prefs_parser_and_malformed", test_parser},
    {"dpo_prefs_encoding_and_batches", test_encoding},
    {"dpo_prefs_generator", test_generator},
    {"dpo_gradient_full_matches_finite_differences", test_grads_full},
    {"dpo_gradient_lora_matches_finite_differences", test_grads_lora},
    {"dpo_state_identical_across_threads_and_paths", test_identical_across_threads_and_paths},
    {"dpo_replay_one_step_and_header_commitments", test_replay_and_header},
    {"dpo_raises_heldout_preference", test_dpo_raises_heldout_preference},
    {NULL, NULL},
};
