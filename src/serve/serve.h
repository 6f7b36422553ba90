/*
 * serve.h — `plow serve`: a worker serves its model over the OpenAI-compatible
 * HTTP API (docs/serve.md), every answer with a signed inference receipt.
 *
 * Three parts:
 *   - the engine (engine.c): the model, one packed copy of its weights, and a
 *     scheduler thread that batches the decode steps of every running
 *     request into one forward (infer_feed_rows): continuous batching, each
 *     request's tokens the same bits as when it runs alone;
 *   - the API (api.c): OpenAI requests in (bounded, validated), responses,
 *     server-sent-event chunks and OpenAI-shaped errors out; the chat
 *     template;
 *   - the HTTP glue (http.c): libmicrohttpd, connection limits, the listen
 *     URL file.
 */
#ifndef PLOW_SERVE_H
#define PLOW_SERVE_H

#include "../base/plow.h"

typedef struct serve_opts {
    const char *model, *lora, *tokenizer, *key; /* paths */
    const char *listen;                          /* HOST:PORT (port 0: any) */
    const char *url_file;                        /* the URL is written there once listening (may be NULL) */
    const char *name;                            /* the model id (default: the model directory's name) */
    uint64_t price;                              /* base units per token (prompt + output); 0: free */
    const char *node;                            /* the ledger node holding the channels (needed with a price) */
    const char *vouchers;                        /* the latest vouchers are appended there (may be NULL) */
    int max_batch;                               /* decode rows at once */
    int max_queue;                               /* requests admitted (running + waiting) */
    int max_tokens;                              /* output tokens per request at most */
    int conns_per_ip, conns;                     /* connection limits */
    bool publish;                                /* upload the card, name it in the profile, answer rfqs (--node) */
    const char *agent_name;                      /* the card's and profile's name (default "plow serve") */
    bool quiet;
    int cheat_at; /* tests: a dishonest server changes output token cheat_at (-1: honest) */
} serve_opts;

void serve_opts_default(serve_opts *o);

typedef struct server server;

/* Loads the model, adapter, tokenizer and key, and starts the engine thread. */
int serve_open(server **out, const serve_opts *o, char err[PLOW_ERR_LEN]);
/* Listens, writes the URL file, and serves until *stop becomes non-zero. */
int serve_run(server *s, volatile int *stop, char err[PLOW_ERR_LEN]);
void serve_close(server *s);

#endif
