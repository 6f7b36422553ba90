/*
 * serve_internal.h — what the engine, the API and the HTTP glue of plow serve
 * share. Not for other modules.
 */
#ifndef PLOW_SERVE_INTERNAL_H
#define PLOW_SERVE_INTERNAL_H

#include "../base/plow.h"

#include <pthread.h>
#include <stdatomic.h>

#include "../data/tokenizer.h"
#include "../infer/infer.h"
#include "../ledger/ledger.h"
#include "../model/model.h"
#include "serve.h"

#define SERVE_MAX_STOPS 4
#define SERVE_STOP_MAX_BYTES 64
#define SERVE_BODY_MAX (1u << 20)  /* a request body */
#define SERVE_MAX_MESSAGES 256     /* chat messages per request */
#define SERVE_CONN_IDLE_S 30       /* libmicrohttpd's inactivity timeout */

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;
typedef enum job_finish { FINISH_NONE, FINISH_STOP, FINISH_LENGTH } job_finish;

/* One generation. The HTTP side creates it, the engine runs it; both hold a
 * reference (job_release). Everything below `state` is guarded by the
 * engine's mutex. */
typedef struct serve_job {
    /* inputs, fixed once submitted */
    int32_t *prompt;
    int n_prompt;
    int max_new;
    infer_sampling sp;
    char *stops[SERVE_MAX_STOPS + 1]; /* the client's, and chat's "\n\n" */
    size_t stop_len[SERVE_MAX_STOPS + 1];
    int n_stops;
    /* engine side (the engine thread only) */
    infer_session *sess;
    int32_t next; /* sampled, not yet fed */
    size_t scanned; /* text bytes already searched for stops */
    /* shared */
    job_state state;
    job_finish finish;
    bool cancelled; /* the client went away */
    int32_t *out;   /* max_new + 1 */
    int n_out;
    plow_buf text;  /* decoded output, cut at a stop string */
    char err[PLOW_ERR_LEN];
    int refs;
    struct serve_job *qnext;
} serve_job;

typedef struct serve_engine {
    model *m;
    lora *l;
    tokenizer *tok;
    infer_session *base; /* the packed weights every session shares, and the batch's buffers */
    int max_batch, max_queue;
    int cheat_at; /* serve_opts.cheat_at */
    pthread_mutex_t mu;
    pthread_cond_t work; /* the engine waits for jobs */
    pthread_cond_t progress; /* waiters: some job moved */
    serve_job *queue, *queue_tail;
    int n_admitted; /* queued + running */
    bool stop;
    pthread_t th;
    bool th_on;
    /* counters (under mu) */
    uint64_t steps, rows, requests;
    int max_rows_seen;
} serve_engine;

int engine_start(serve_engine *e, char err[PLOW_ERR_LEN]);
/* Stops the engine thread: every job still queued or running fails (its
 * waiters wake). engine_free then frees it; streams must be gone by then. */
void engine_stop(serve_engine *e);
void engine_free(serve_engine *e);
/* Takes a new reference for the engine. Fails (503 from the caller) when
 * max_queue requests are admitted already. */
int engine_submit(serve_engine *e, serve_job *j, char err[PLOW_ERR_LEN]);
serve_job *job_new(void);
void job_release(serve_engine *e, serve_job *j);
/* Marks the job abandoned by its client: the engine drops it at its next step. */
void job_cancel(serve_engine *e, serve_job *j);

/* Paying (pay.c). A request's reservation on its channel. */
typedef struct serve_pay serve_pay;
typedef struct serve_market serve_market;
typedef struct pay_ticket {
    bool on;
    size_t idx;
    uint64_t reserved;
} pay_ticket;

struct server {
    serve_opts o;
    serve_pay *pay; /* NULL when free */
    serve_engine e;
    ledger_key key;
    char id[128];              /* the model id */
    char fingerprint[32];      /* system_fingerprint: plow- + model hash prefix */
    uint8_t model_hash[PLOW_HASH_LEN], tokenizer_hash[PLOW_HASH_LEN], lora_hash[PLOW_HASH_LEN]; /* once, at start */
    int ctx;
    struct MHD_Daemon *httpd;
    unsigned port;
    uint64_t created;          /* unix seconds, for /v1/models */
    _Atomic(char *) card;      /* the signed card (market.c), NULL until listening */
    serve_market *market;      /* --publish: the node's client and the mailbox */
};

/* The card and the mailbox (market.c): open once listening (builds and signs
 * the card; --publish uploads it and registers the profile), poll between
 * requests from serve_run's thread (answers rfqs), close at the end. */
int serve_market_open(server *s, char err[PLOW_ERR_LEN]);
void serve_market_poll(server *s);
void serve_market_close(server *s);

/* ---- the API (api.c) ---- */

/* An HTTP answer. A stream (sse != NULL) is read chunk by chunk with
 * api_stream_read, then freed with api_stream_free. */
typedef struct api_stream api_stream;
typedef struct api_reply {
    unsigned status;
    plow_buf body;
    api_stream *sse;
    const char *allow; /* for 405 */
    char hdr_name[48], hdr_value[512]; /* one extra header (402's quote), if hdr_name[0] */
} api_reply;

/* Requests in: GET /v1/models, POST /v1/completions, /v1/chat/completions. */
void api_handle(server *s, const char *method, const char *path, const uint8_t *body, size_t n,
                const char *(*hdr)(void *ctx, const char *name), void *hdr_ctx, api_reply *out);
/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}. */
void api_error(api_reply *out, unsigned status, const char *type, const char *param, const char *code,
               const char *fmt, ...) PLOW_PRINTF(6, 7);
/* Fills buf with the next bytes of the stream (blocking until the engine
 * produced some); 0 at its end. */
size_t api_stream_read(api_stream *st, char *buf, size_t max);
void api_stream_free(api_stream *st);

/* Paying: connects to the node (a price needs one); NULL pay when free. */
int pay_open(server *s, char err[PLOW_ERR_LEN]);
void pay_close(server *s);
/* Checks the request's voucher (X-PAYMENT, may be NULL) and reserves the
 * request's largest cost on its channel; 0, or -1 with the 402/400 reply
 * written. Free servers admit everything. */
int pay_admit(server *s, const char *path, const char *voucher, int n_prompt, int max_new, pay_ticket *t,
              api_reply *out);
/* The request ended after n_out output tokens: the reservation shrinks to
 * what was served. */
void pay_settle(server *s, pay_ticket *t, int n_prompt, int n_out);

/* The signed receipt of a finished job as one line of JSON (malloc'd):
 * the hashes computed once at start, then the digest and one signature. */
char *serve_receipt_json(server *s, const serve_job *j);

/* The listen address (http.c, shared with nothing else). */
int serve_http_start(server *s, char err[PLOW_ERR_LEN]);
void serve_http_stop(server *s);

#endif
