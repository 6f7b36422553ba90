/*
 * ref_model.c — the double-precision reference decoder (ref_model.h).
 */
#include "ref_model.h"

#include <math.h>

static double *to_double(const float *p, size_t n) {
    double *d = plow_alloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

void ref_model_init(ref_model *r, const model *m, const lora *l) {
    r->m = m;
    r->w = to_double(m->params, m->n_params);
    r->l = l;
    r->lw = l ? to_double(l->params, l->n_params) : NULL;
}

void ref_model_release(ref_model *r) {
    free(r->w);
    free(r->lw);
    memset(r, 0, sizeof *r);
}

/* The double weights behind a float tensor of the model. */
static const double *W(const ref_model *r, const float *p) { return r->w + (p - r->m->params); }

/* y[o] = sum_i W[o][i] x[i] (+ the adapter's (alpha/rank) B A x on its targets) */
static void linear(const ref_model *r, int layer, int target, const float *wf, const double *x, int in, int out,
                   double *y) {
    const double *w = W(r, wf);
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int i = 0; i < in; i++) s += w[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
    if (!r->l || !(r->l->targets & (1u << target))) return;
    int rank = r->l->rank;
    const double *A = r->lw + (r->l->pair[layer][target].a - r->l->params);
    const double *Bm = r->lw + (r->l->pair[layer][target].b - r->l->params);
    double *xa = plow_alloc((size_t)rank * sizeof(double));
    for (int k = 0; k < rank; k++) {
        double s = 0;
        for (int i = 0; i < in; i++) s += A[(size_t)k * in + i] * x[i];
        xa[k] = s * ((double)r->l->alpha / rank);
    }
    for (int o = 0; o < out; o++)
        for (int k = 0; k < rank; k++) y[o] += Bm[(size_t)o * rank + k] * xa[k];
    free(xa);
}

static void rms(const double *x, const double *g, int C, double eps, double *y) {
    double ss = 0;
    for (int i = 0; i < C; i++) ss += x[i] * x[i];
    double rs = 1.0 / sqrt(ss / C + eps);
    for (int i = 0; i < C; i++) y[i] = x[i] * rs * g[i];
}

static void rope(const model *m, double *v, int heads, int HD, int pos) {
    int H2 = HD / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < H2; i++) {
            double c = m->rope_cos[pos * H2 + i], s = m->rope_sin[pos * H2 + i];
            double a = v[h * HD + i], b = v[h * HD + i + H2];
            v[h * HD + i] = a * c - b * s;
            v[h * HD + i + H2] = b * c + a * s;
        }
}

void ref_logits(const ref_model *r, const int32_t *tok, int T, double *logits) {
    const model_config *c = &r->m->cfg;
    const model_view *w = &r->m->w;
    int C = c->d_model, F = c->d_ff, V = c->vocab, HD = C / c->n_head, KVD = c->n_kv_head * HD;
    int G = c->n_head / c->n_kv_head;
    double *x = plow_calloc((size_t)T * C, sizeof(double)), *xn = plow_calloc((size_t)C, sizeof(double));
    double *q = plow_calloc((size_t)T * C, sizeof(double)), *k = plow_calloc((size_t)T * KVD, sizeof(double));
    double *v = plow_calloc((size_t)T * KVD, sizeof(double)), *ao = plow_calloc((size_t)C, sizeof(double));
    double *o = plow_calloc((size_t)T * C, sizeof(double)), *ga = plow_calloc((size_t)F, sizeof(double));
    double *up = plow_calloc((size_t)F, sizeof(double)), *s = plow_calloc((size_t)T, sizeof(double));
    for (int t = 0; t < T; t++)
        for (int i = 0; i < C; i++) x[t * C + i] = W(r, w->tok_emb)[(size_t)tok[t] * C + i];
    for (int l = 0; l < c->n_layer; l++) {
        const model_layer_view *lv = &w->layer[l];
        for (int t = 0; t < T; t++) {
            rms(x + t * C, W(r, lv->attn_norm), C, c->norm_eps, xn);
            linear(r, l, 0, lv->wq, xn, C, C, q + t * C);
            linear(r, l, 1, lv->wk, xn, C, KVD, k + t * KVD);
            linear(r, l, 2, lv->wv, xn, C, KVD, v + t * KVD);
            rope(r->m, q + t * C, c->n_head, HD, t);
            rope(r->m, k + t * KVD, c->n_kv_head, HD, t);
        }
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < c->n_head; h++) {
                int kv = h / G;
                double mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++) d += q[t * C + h * HD + i] * k[u * KVD + kv * HD + i];
                    s[u] = d / sqrt((double)HD);
                    if (s[u] > mx) mx = s[u];
                }
                for (int u = 0; u <= t; u++) sum += (s[u] = exp(s[u] - mx));
                for (int i = 0; i < HD; i++) {
                    double a = 0;
                    for (int u = 0; u <= t; u++) a += s[u] / sum * v[u * KVD + kv * HD + i];
                    ao[h * HD + i] = a;
                }
            }
            linear(r, l, 3, lv->wo, ao, C, C, o + t * C);
        }
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < C; i++) x[t * C + i] += o[t * C + i];
            rms(x + t * C, W(r, lv->ffn_norm), C, c->norm_eps, xn);
            linear(r, l, 4, lv->w_gate, xn, C, F, ga);
            linear(r, l, 5, lv->w_up, xn, C, F, up);
            for (int i = 0; i < F; i++) ga[i] = ga[i] / (1 + exp(-ga[i])) * up[i];
            linear(r, l, 6, lv->w_down, ga, F, C, o + t * C);
            for (int i = 0; i < C; i++) x[t * C + i] += o[t * C + i];
        }
    }
    for (int t = 0; t < T; t++) {
        rms(x + t * C, W(r, w->final_norm), C, c->norm_eps, xn);
        for (int vv = 0; vv < V; vv++) {
            double d = 0;
            for (int i = 0; i < C; i++) d += W(r, w->lm_head)[(size_t)vv * C + i] * xn[i];
            logits[(size_t)t * V + vv] = d;
        }
    }
    free(x), free(xn), free(q), free(k), free(v), free(ao), free(o), free(ga), free(up), free(s);
}

/* log-sum-exp of one row of logits, and the row's maximum */
static double lse(const double *lg, int V) {
    double mx = -1e300, sum = 0;
    for (int i = 0; i < V; i++)
        if (lg[i] > mx) mx = lg[i];
    for (int i = 0; i < V; i++) sum += exp(lg[i] - mx);
    return mx + log(sum);
}

double ref_loss(const ref_model *r, const int32_t *tok, const int32_t *tgt, int B, int T, double *logits_out) {
    int V = r->m->cfg.vocab;
    double *lg = plow_alloc((size_t)T * V * sizeof(double)), total = 0;
    for (int b = 0; b < B; b++) {
        ref_logits(r, tok + (size_t)b * T, T, lg);
        for (int t = 0; t < T; t++) total += lse(lg + (size_t)t * V, V) - lg[(size_t)t * V + tgt[b * T + t]];
        if (logits_out) memcpy(logits_out + (size_t)b * T * V, lg, (size_t)T * V * sizeof(double));
    }
    free(lg);
    return total / (B * T);
}

void ref_logp(const ref_model *r, const int32_t *tok, const int32_t *tgt, int T, double *logp) {
    int V = r->m->cfg.vocab;
    double *lg = plow_alloc((size_t)T * V * sizeof(double));
    ref_logits(r, tok, T, lg);
    for (int t = 0; t < T; t++) logp[t] = lg[(size_t)t * V + tgt[t]] - lse(lg + (size_t)t * V, V);
    free(lg);
}
