/*
 * engine.c — the scheduler of plow serve: continuous batching.
 *
 * One thread owns the tensor pool and runs steps. A step
 *   1. drops the jobs that finished or whose client left, and admits waiting
 *      ones up to max_batch running;
 *   2. feeds the token each running job sampled last, all of them in one
 *      forward (infer_feed_rows: the rows of every matrix product are the
 *      jobs), and samples each job's next token from its own row;
 *   3. prefills the jobs admitted in this step, one by one, and samples their
 *      first token;
 *   4. publishes the new tokens (text, stop strings, limits) and wakes the
 *      waiters.
 * A job's logits are the same bits in any batch, so its tokens are the ones
 * it would get alone (tests/cli/serve.sh compares concurrent requests with
 * the same requests one at a time); the sampler is keyed by (seed, position)
 * only.
 */
#include "../base/plow.h"

#include "../tensor/tensor.h"
#include "serve_internal.h"

serve_job *job_new(void) {
    serve_job *j = plow_calloc(1, sizeof *j);
    j->refs = 1;
    return j;
}

static void job_free(serve_job *j) {
    infer_session_free(j->sess);
    free(j->prompt);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    free(j->out);
    plow_buf_release(&j->text);
    free(j);
}

void job_release(serve_engine *e, serve_job *j) {
    if (!j) return;
    pthread_mutex_lock(&e->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (last) job_free(j);
}

void job_cancel(serve_engine *e, serve_job *j) {
    pthread_mutex_lock(&e->mu);
    j->cancelled = true;
    pthread_mutex_unlock(&e->mu);
}

int engine_submit(serve_engine *e, serve_job *j, char err[PLOW_ERR_LEN]) {
    PLOW_ASSERT(j->n_prompt >= 1 && j->max_new >= 1);
    j->out = plow_alloc(sizeof(int32_t) * (size_t)(j->max_new + 1));
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    if (e->stop) {
        rc = plow_error(err, "the server is shutting down");
    } else if (e->n_admitted >= e->max_queue) {
        rc = plow_error(err, "the server has %d requests running or waiting: retry later", e->n_admitted);
    } else {
        j->refs++;
        j->state = JOB_QUEUED;
        j->qnext = NULL;
        if (e->queue_tail) e->queue_tail->qnext = j;
        else e->queue = j;
        e->queue_tail = j;
        e->n_admitted++;
        e->requests++;
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* The first match of any stop string in text[from..len), or len. */
static size_t find_stop(const serve_job *j, size_t from) {
    const uint8_t *t = j->text.data;
    size_t n = j->text.len, best = n;
    for (int k = 0; k < j->n_stops; k++) {
        size_t L = j->stop_len[k];
        size_t start = from + 1 >= L ? from + 1 - L : 0; /* a match may begin before the new bytes */
        for (size_t p = start; p + L <= n && p < best; p++)
            if (memcmp(t + p, j->stops[k], L) == 0) {
                best = p;
                break;
            }
    }
    return best;
}

/* A new token of job j (under e->mu). */
static void job_append(serve_engine *e, serve_job *j, int32_t t) {
    if (j->n_out == e->cheat_at) t = (t + 1) % tokenizer_eot(e->tok); /* the dishonest server of the tests */
    j->out[j->n_out++] = t;
    j->next = t;
    if (t == tokenizer_eot(e->tok)) {
        j->finish = FINISH_STOP;
    } else {
        const uint8_t *b;
        size_t len;
        if (tokenizer_token_bytes(e->tok, t, &b, &len) == 0) plow_buf_append(&j->text, b, len);
        size_t at = find_stop(j, j->scanned);
        if (at < j->text.len) {
            j->text.len = at;
            j->finish = FINISH_STOP;
        }
        j->scanned = j->text.len;
    }
    if (j->finish == FINISH_NONE && j->n_out >= j->max_new) j->finish = FINISH_LENGTH;
    if (j->finish != FINISH_NONE) j->state = JOB_DONE;
}

static void job_fail(serve_job *j, const char *msg) {
    snprintf(j->err, sizeof j->err, "%s", msg);
    j->state = JOB_FAILED;
}

/* The session and prompt of a job just admitted: its first token (or an error). */
static int prefill(serve_engine *e, serve_job *j, float *logits, int32_t *tok, char err[PLOW_ERR_LEN]) {
    int ctx = j->n_prompt + j->max_new - 1; /* the last token sampled is never fed */
    if (ctx < j->n_prompt) ctx = j->n_prompt;
    if (infer_session_new_shared(&j->sess, e->base, ctx, err)) return -1;
    if (infer_feed(j->sess, j->prompt, j->n_prompt, NULL, logits, err)) return -1;
    *tok = infer_sample(logits, e->m->cfg.vocab, &j->sp, (uint64_t)j->n_prompt);
    return 0;
}

static void *engine_main(void *arg) {
    serve_engine *e = arg;
    int V = e->m->cfg.vocab, B = e->max_batch;
    serve_job **act = plow_calloc((size_t)B, sizeof *act), **fresh = plow_calloc((size_t)B, sizeof *fresh);
    serve_job **drop = plow_calloc((size_t)B + (size_t)e->max_queue, sizeof *drop); /* every admitted job at most */
    infer_session **rows = plow_calloc((size_t)B, sizeof *rows);
    int32_t *toks = plow_calloc((size_t)B, sizeof *toks), *fresh_tok = plow_calloc((size_t)B, sizeof *fresh_tok);
    int *fresh_rc = plow_calloc((size_t)B, sizeof *fresh_rc);
    char (*fresh_err)[PLOW_ERR_LEN] = plow_calloc((size_t)B, PLOW_ERR_LEN);
    float *logits = plow_alloc(sizeof(float) * (size_t)B * (size_t)V);
    char err[PLOW_ERR_LEN];
    int n_act = 0;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        int k = 0, n_drop = 0;
        for (int i = 0; e->stop && i < n_act; i++)
            if (act[i]->state == JOB_RUNNING) job_fail(act[i], "the server is shutting down");
        for (int i = 0; i < n_act; i++) {
            serve_job *j = act[i];
            if (j->state == JOB_DONE || j->state == JOB_FAILED || j->cancelled) drop[n_drop++] = j;
            else act[k++] = j;
        }
        n_act = k;
        e->n_admitted -= n_drop;
        int n_fresh = 0;
        while (e->queue && n_act + n_fresh < B && !e->stop) {
            serve_job *j = e->queue;
            e->queue = j->qnext;
            if (!e->queue) e->queue_tail = NULL;
            if (j->cancelled) { /* left before it started */
                drop[n_drop++] = j;
                e->n_admitted--;
                continue;
            }
            j->state = JOB_RUNNING;
            fresh[n_fresh++] = j;
        }
        bool idle = n_act == 0 && n_fresh == 0;
        if (idle && e->stop && n_drop == 0) break;
        pthread_mutex_unlock(&e->mu);
        for (int i = 0; i < n_drop; i++) { /* the engine's part: its session and its reference */
            infer_session_free(drop[i]->sess);
            drop[i]->sess = NULL;
            job_release(e, drop[i]);
        }
        if (idle) {
            pthread_mutex_lock(&e->mu);
            pthread_cond_broadcast(&e->progress);
            while (!e->stop && !e->queue) pthread_cond_wait(&e->work, &e->mu);
            continue;
        }
        int rc = 0;
        if (n_act) {
            for (int i = 0; i < n_act; i++) rows[i] = act[i]->sess, toks[i] = act[i]->next;
            rc = infer_feed_rows(e->base, rows, toks, n_act, logits, err);
            if (rc == 0)
                for (int i = 0; i < n_act; i++) /* position: the prompt and every token before it */
                    toks[i] = infer_sample(logits + (size_t)i * V, V, &act[i]->sp,
                                           (uint64_t)(act[i]->n_prompt + act[i]->n_out));
        }
        for (int i = 0; i < n_fresh; i++) fresh_rc[i] = prefill(e, fresh[i], logits, &fresh_tok[i], fresh_err[i]);
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < n_act; i++) {
            if (rc) job_fail(act[i], err);
            else job_append(e, act[i], toks[i]);
        }
        for (int i = 0; i < n_fresh; i++) {
            if (fresh_rc[i]) job_fail(fresh[i], fresh_err[i]);
            else job_append(e, fresh[i], fresh_tok[i]);
            act[n_act++] = fresh[i];
        }
        e->steps++;
        e->rows += (uint64_t)n_act;
        if (n_act > e->max_rows_seen) e->max_rows_seen = n_act;
        pthread_cond_broadcast(&e->progress);
    }
    /* stopping: whatever still waits fails */
    for (serve_job *j = e->queue; j; j = j->qnext) job_fail(j, "the server is shutting down");
    serve_job *q = e->queue;
    e->queue = e->queue_tail = NULL;
    pthread_cond_broadcast(&e->progress);
    pthread_mutex_unlock(&e->mu);
    while (q) {
        serve_job *nx = q->qnext;
        job_release(e, q);
        q = nx;
    }
    tensor_scratch_release();
    free(act);
    free(fresh);
    free(drop);
    free(rows);
    free(toks);
    free(fresh_tok);
    free(fresh_rc);
    free(fresh_err);
    free(logits);
    return NULL;
}

int engine_start(serve_engine *e, char err[PLOW_ERR_LEN]) {
    if (infer_session_new(&e->base, e->m, e->l, e->m->cfg.ctx, err)) return -1;
    infer_reserve(e->base, e->max_batch);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->progress, NULL);
    if (pthread_create(&e->th, NULL, engine_main, e) != 0) return plow_error(err, "cannot start the engine thread");
    e->th_on = true;
    return 0;
}

void engine_stop(serve_engine *e) {
    if (!e->th_on) return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->th, NULL);
    e->th_on = false;
}

void engine_free(serve_engine *e) {
    engine_stop(e);
    if (e->base) {
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->work);
        pthread_cond_destroy(&e->progress);
    }
    infer_session_free(e->base);
    e->base = NULL;
}
