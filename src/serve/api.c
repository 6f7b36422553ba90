/*
 * api.c — the OpenAI-compatible API of plow serve (docs/serve.md).
 *
 * Every field a client sends is checked before anything runs: its type, its
 * range, the prompt against the context (prompt + max_tokens <= ctx), the
 * number of stop strings and messages; the body itself is bounded by the
 * HTTP glue. Whatever is wrong is an OpenAI-shaped error naming the field
 * (`param`), with the status OpenAI uses (400, 404, 405, 413, 503). Fields
 * plow does not implement (n > 1, logprobs, penalties, tools, ...) are
 * refused by name rather than silently ignored.
 */
#include "../base/plow.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <time.h>

#include "../data/unicode.h"
#include "../proof/receipt.h"
#include "../market/market.h"
#include "serve_internal.h"

/* ---- replies ---------------------------------------------------------------------- */

static void reply_json(api_reply *out, unsigned status, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    PLOW_ASSERT(s);
    plow_buf_release(&out->body);
    out->status = status;
    plow_buf_append(&out->body, s, strlen(s));
    free(s);
}

static cJSON *error_object(const char *type, const char *param, const char *code, const char *msg) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "error", e);
    return j;
}

void api_error(api_reply *out, unsigned status, const char *type, const char *param, const char *code,
               const char *fmt, ...) {
    char msg[PLOW_ERR_LEN + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(out, status, error_object(type, param, code, msg));
}

#define BAD(out, param, ...) api_error(out, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* ---- text ----------------------------------------------------------------------- */

/* Appends s[0..n) as valid UTF-8: each byte that starts no well-formed
 * sequence becomes U+FFFD (a model may emit any bytes; JSON carries text). */
static void append_utf8(plow_buf *b, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = unicode_utf8_decode(s + i, n - i, &cp);
        if (l == 0) {
            plow_buf_append(b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            plow_buf_append(b, s + i, l);
            i += l;
        }
    }
}

/* The length of s[0..n) without a UTF-8 sequence cut short at its end (held
 * back until the next token completes it). */
static size_t utf8_whole(const uint8_t *s, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = s[n - back];
        if ((c & 0xC0) == 0x80) continue;
        if (c < 0xC0) return n;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        return back < need ? n - back : n;
    }
    return n;
}

static char *json_text(const uint8_t *s, size_t n) {
    plow_buf b = {0};
    append_utf8(&b, s, n);
    plow_buf_append(&b, "", 1);
    return (char *)b.data;
}

/* ---- requests ------------------------------------------------------------------- */

typedef struct req {
    bool chat, stream, include_usage;
    serve_job *j;
} req;

static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNull(x) ? NULL : x; /* null is "not given" (clients send it for defaults) */
}

/* A number in [lo, hi] (def when absent); false with the error written. */
static bool get_number(const cJSON *o, const char *k, double lo, double hi, double def, double *v, api_reply *out) {
    const cJSON *x = field(o, k);
    if (!x) {
        *v = def;
        return true;
    }
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi)) {
        BAD(out, k, "'%s' must be a number in [%g, %g]", k, lo, hi);
        return false;
    }
    *v = x->valuedouble;
    return true;
}

static bool get_int(const cJSON *o, const char *k, double lo, double hi, double def, double *v, api_reply *out) {
    if (!get_number(o, k, lo, hi, def, v, out)) return false;
    if (*v != floor(*v)) {
        BAD(out, k, "'%s' must be a whole number", k);
        return false;
    }
    return true;
}

/* Fields plow does not implement: refused unless absent or at their neutral value. */
static bool refuse_unsupported(const cJSON *o, api_reply *out) {
    static const char *const zero[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        const cJSON *x = field(o, zero[i]);
        if (x && !(cJSON_IsNumber(x) && x->valuedouble == 0)) {
            BAD(out, zero[i], "'%s' is not supported by plow serve (only 0)", zero[i]);
            return false;
        }
    }
    static const char *const one[] = {"n", "best_of"};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        const cJSON *x = field(o, one[i]);
        if (x && !(cJSON_IsNumber(x) && x->valuedouble == 1)) {
            BAD(out, one[i], "'%s' must be 1: plow serve returns one choice (with one receipt) per request", one[i]);
            return false;
        }
    }
    static const char *const absent[] = {"logit_bias", "suffix", "tools", "functions", "tool_choice", "function_call",
                                         "response_format", "audio", "prediction"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (field(o, absent[i])) {
            BAD(out, absent[i], "'%s' is not supported by plow serve", absent[i]);
            return false;
        }
    const cJSON *lp = field(o, "logprobs"), *echo = field(o, "echo");
    if (lp && !cJSON_IsFalse(lp)) {
        BAD(out, "logprobs", "'logprobs' is not supported by plow serve");
        return false;
    }
    if (echo && !cJSON_IsFalse(echo)) {
        BAD(out, "echo", "'echo' is not supported by plow serve");
        return false;
    }
    return true;
}

static bool get_stops(const cJSON *o, serve_job *j, api_reply *out) {
    const cJSON *x = field(o, "stop");
    if (!x) return true;
    const cJSON *one[1] = {x};
    int n = 1;
    if (cJSON_IsArray(x)) {
        n = cJSON_GetArraySize(x);
        if (n > SERVE_MAX_STOPS) {
            BAD(out, "stop", "'stop' holds at most %d strings", SERVE_MAX_STOPS);
            return false;
        }
    } else if (!cJSON_IsString(x)) {
        BAD(out, "stop", "'stop' must be a string or an array of strings");
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsArray(x) ? cJSON_GetArrayItem(x, i) : one[0];
        size_t len = cJSON_IsString(s) ? strlen(s->valuestring) : 0;
        if (!cJSON_IsString(s) || len == 0 || len > SERVE_STOP_MAX_BYTES) {
            BAD(out, "stop", "every stop string must be 1..%d bytes", SERVE_STOP_MAX_BYTES);
            return false;
        }
        j->stops[j->n_stops] = plow_strdup(s->valuestring);
        j->stop_len[j->n_stops++] = len;
    }
    return true;
}

/* The chat template (docs/serve.md): each message as "ROLE:\n" content
 * "\n\n", ROLE one of SYSTEM, USER, ASSISTANT; then "ASSISTANT:\n". */
static bool chat_prompt(const cJSON *o, plow_buf *text, api_reply *out) {
    const cJSON *ms = field(o, "messages");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0) {
        BAD(out, "messages", "'messages' must be a non-empty array of {role, content}");
        return false;
    }
    if (cJSON_GetArraySize(ms) > SERVE_MAX_MESSAGES) {
        BAD(out, "messages", "at most %d messages", SERVE_MAX_MESSAGES);
        return false;
    }
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, ms) {
        char param[48];
        snprintf(param, sizeof param, "messages[%d]", i++);
        const cJSON *role = cJSON_IsObject(m) ? field(m, "role") : NULL, *content = cJSON_IsObject(m) ? field(m, "content") : NULL;
        const char *R = NULL;
        if (cJSON_IsString(role)) {
            const char *r = role->valuestring;
            R = strcmp(r, "system") == 0 || strcmp(r, "developer") == 0 ? "SYSTEM"
              : strcmp(r, "user") == 0                                  ? "USER"
              : strcmp(r, "assistant") == 0                             ? "ASSISTANT"
                                                                        : NULL;
        }
        if (!R) {
            BAD(out, param, "%s: 'role' must be system, developer, user or assistant", param);
            return false;
        }
        plow_buf_printf(text, "%s:\n", R);
        if (cJSON_IsString(content)) {
            plow_buf_append(text, content->valuestring, strlen(content->valuestring));
        } else if (cJSON_IsArray(content)) { /* content parts: text only */
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *type = cJSON_IsObject(part) ? field(part, "type") : NULL, *t = cJSON_IsObject(part) ? field(part, "text") : NULL;
                if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(t)) {
                    BAD(out, param, "%s: only text content parts are supported", param);
                    return false;
                }
                plow_buf_append(text, t->valuestring, strlen(t->valuestring));
            }
        } else if (content) {
            BAD(out, param, "%s: 'content' must be a string or an array of text parts", param);
            return false;
        }
        plow_buf_append(text, "\n\n", 2);
    }
    plow_buf_printf(text, "ASSISTANT:\n");
    return true;
}

/* The prompt of /v1/completions: a string, an array of one string, or an
 * array of token ids. */
static bool completion_prompt(server *s, const cJSON *o, serve_job *j, plow_buf *text, bool *tokens, api_reply *out) {
    const cJSON *p = field(o, "prompt");
    *tokens = false;
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) {
        plow_buf_append(text, p->valuestring, strlen(p->valuestring));
        return true;
    }
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0 && cJSON_IsNumber(cJSON_GetArrayItem(p, 0))) {
        int n = cJSON_GetArraySize(p), V = s->e.m->cfg.vocab;
        if (n > s->ctx) {
            api_error(out, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                      "This model's maximum context length is %d tokens; the prompt has %d", s->ctx, n);
            return false;
        }
        j->prompt = plow_alloc(sizeof(int32_t) * (size_t)n);
        const cJSON *x;
        cJSON_ArrayForEach(x, p) {
            if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 0 || x->valuedouble >= V) {
                BAD(out, "prompt", "prompt token %d is not a token id in 0..%d", j->n_prompt, V - 1);
                return false;
            }
            j->prompt[j->n_prompt++] = (int32_t)x->valuedouble;
        }
        *tokens = true;
        return true;
    }
    if (cJSON_IsArray(p)) BAD(out, "prompt", "one prompt per request (a string, or an array of token ids)");
    else BAD(out, "prompt", "'prompt' must be a string or an array of token ids");
    return false;
}

/* Everything of a request but the payment; *rq filled, or the error in out. */
static bool parse_request(server *s, bool chat, const uint8_t *body, size_t n, req *rq, api_reply *out) {
    memset(rq, 0, sizeof *rq);
    rq->chat = chat;
    cJSON *o = cJSON_ParseWithLength((const char *)body, n);
    bool ok = false;
    plow_buf text = {0};
    serve_job *j = job_new();
    if (!cJSON_IsObject(o)) {
        BAD(out, NULL, "the body must be a JSON object (%s)", n ? "could not parse it" : "it is empty");
        goto out;
    }
    const cJSON *mdl = field(o, "model");
    if (!cJSON_IsString(mdl)) {
        BAD(out, "model", "'model' must be a string (GET /v1/models lists this server's)");
        goto out;
    }
    if (strcmp(mdl->valuestring, s->id) != 0) {
        api_error(out, 404, "invalid_request_error", "model", "model_not_found",
                  "The model '%.100s' does not exist here: this server serves '%s'", mdl->valuestring, s->id);
        goto out;
    }
    if (!refuse_unsupported(o, out)) goto out;
    const cJSON *st = field(o, "stream");
    if (st && !cJSON_IsBool(st)) {
        BAD(out, "stream", "'stream' must be true or false");
        goto out;
    }
    rq->stream = cJSON_IsTrue(st);
    const cJSON *so = field(o, "stream_options");
    if (so) {
        const cJSON *iu = cJSON_IsObject(so) ? field(so, "include_usage") : NULL;
        if (!cJSON_IsObject(so) || (iu && !cJSON_IsBool(iu))) {
            BAD(out, "stream_options", "'stream_options' must be {\"include_usage\": true|false}");
            goto out;
        }
        rq->include_usage = cJSON_IsTrue(iu);
    }
    double temp, top_p, top_k, seed, max_tokens;
    if (!get_number(o, "temperature", 0, 2, 1, &temp, out) || !get_number(o, "top_p", 0, 1, 1, &top_p, out) ||
        !get_int(o, "top_k", 0, 1 << 24, 0, &top_k, out) || !get_int(o, "seed", 0, 9007199254740992.0, -1, &seed, out))
        goto out;
    if (top_p == 0) {
        BAD(out, "top_p", "'top_p' must be above 0");
        goto out;
    }
    const char *mt = chat && field(o, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (!get_int(o, mt, 1, s->o.max_tokens, -1, &max_tokens, out)) goto out;
    if (!get_stops(o, j, out)) goto out;
    bool tokens = false;
    if (chat ? !chat_prompt(o, &text, out) : !completion_prompt(s, o, j, &text, &tokens, out)) goto out;
    if (!tokens) {
        char err[PLOW_ERR_LEN];
        int32_t *ids;
        size_t nids;
        if (tokenizer_encode(s->e.tok, text.data ? text.data : (const uint8_t *)"", text.len, &ids, &nids, err)) {
            BAD(out, chat ? "messages" : "prompt", "%s", err);
            goto out;
        }
        if (nids == 0) { /* an empty prompt starts from <|endoftext|>, as GPT-2's did */
            ids[0] = tokenizer_eot(s->e.tok);
            nids = 1;
        }
        if (nids > (size_t)s->ctx) {
            free(ids);
            api_error(out, 400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                      "This model's maximum context length is %d tokens; the prompt has %zu", s->ctx, nids);
            goto out;
        }
        j->prompt = ids;
        j->n_prompt = (int)nids;
    }
    int room = s->ctx - j->n_prompt;
    if (max_tokens < 0) { /* OpenAI's defaults: 16 for completions, the rest of the context for chat */
        max_tokens = chat ? room : 16;
        if (max_tokens > s->o.max_tokens) max_tokens = s->o.max_tokens;
        if (max_tokens > room) max_tokens = room;
    }
    if (room < 1 || max_tokens > room) {
        api_error(out, 400, "invalid_request_error", mt, "context_length_exceeded",
                  "This model's maximum context length is %d tokens; you requested %d (%d in the prompt, %d to "
                  "generate)",
                  s->ctx, j->n_prompt + (int)max_tokens, j->n_prompt, (int)max_tokens);
        goto out;
    }
    j->max_new = (int)max_tokens;
    if (chat) { /* an assistant's turn ends with its speech (one more slot than a client may fill) */
        bool have = false;
        for (int i = 0; i < j->n_stops; i++) have |= strcmp(j->stops[i], "\n\n") == 0;
        if (!have) {
            j->stops[j->n_stops] = plow_strdup("\n\n");
            j->stop_len[j->n_stops++] = 2;
        }
    }
    j->sp.temperature = (float)temp;
    j->sp.top_p = (float)top_p;
    j->sp.top_k = (int)top_k;
    if (seed >= 0) {
        j->sp.seed = (uint64_t)seed;
    } else { /* no seed: one drawn here, named in the receipt */
        uint8_t r[8];
        randombytes_buf(r, sizeof r);
        j->sp.seed = plow_get_u64(r) >> 11; /* a whole number a JSON client can send back exactly */
    }
    char err[PLOW_ERR_LEN];
    if (infer_sampling_check(&j->sp, err)) {
        BAD(out, NULL, "%s", err);
        goto out;
    }
    rq->j = j;
    j = NULL;
    ok = true;
out:
    cJSON_Delete(o);
    plow_buf_release(&text);
    if (j) job_release(&s->e, j);
    return ok;
}

/* ---- answers -------------------------------------------------------------------- */

static const char *finish_name(job_finish f) { return f == FINISH_LENGTH ? "length" : "stop"; }

static cJSON *usage_object(const serve_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_out);
    cJSON_AddNumberToObject(u, "total_tokens", j->n_prompt + j->n_out);
    return u;
}

char *serve_receipt_json(server *s, const serve_job *j) {
    receipt r; /* receipt_make's fields, without hashing the model per answer; borrows the job's tokens */
    memset(&r, 0, sizeof r);
    memcpy(r.model_hash, s->model_hash, PLOW_HASH_LEN);
    memcpy(r.tokenizer_hash, s->tokenizer_hash, PLOW_HASH_LEN);
    if (s->e.l) {
        r.has_lora = true;
        memcpy(r.lora_hash, s->lora_hash, PLOW_HASH_LEN);
    }
    r.sampling = j->sp;
    r.prompt = j->prompt;
    r.n_prompt = (size_t)j->n_prompt;
    r.output = j->out;
    r.n_output = (size_t)j->n_out;
    receipt_sign(&r, &s->key);
    return receipt_json(&r);
}

/* The signed receipt of a finished job, as a JSON object. */
static cJSON *receipt_object(server *s, const serve_job *j) {
    char *txt = serve_receipt_json(s, j);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    PLOW_ASSERT(o);
    return o;
}

static void make_id(char *id, size_t n, bool chat) {
    uint8_t r[12];
    char hx[25];
    randombytes_buf(r, sizeof r);
    plow_hex(r, sizeof r, hx);
    snprintf(id, n, "%s-%s", chat ? "chatcmpl" : "cmpl", hx);
}

static cJSON *envelope(server *s, const char *id, bool chat, bool chunk, uint64_t created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", s->id);
    cJSON_AddStringToObject(o, "system_fingerprint", s->fingerprint);
    return o;
}

/* Waits (under e->mu) until the job has more than `have` text bytes or ended. */
static void wait_job(serve_engine *e, serve_job *j, size_t have) {
    while (j->state != JOB_DONE && j->state != JOB_FAILED && j->text.len <= have)
        pthread_cond_wait(&e->progress, &e->mu);
}

static void answer_whole(server *s, req *rq, api_reply *out) {
    serve_job *j = rq->j;
    serve_engine *e = &s->e;
    pthread_mutex_lock(&e->mu);
    while (j->state != JOB_DONE && j->state != JOB_FAILED) pthread_cond_wait(&e->progress, &e->mu);
    pthread_mutex_unlock(&e->mu);
    if (j->state == JOB_FAILED) {
        api_error(out, 500, "server_error", NULL, NULL, "generation failed: %s", j->err);
        return;
    }
    char id[48];
    make_id(id, sizeof id, rq->chat);
    cJSON *o = envelope(s, id, rq->chat, false, (uint64_t)time(NULL));
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    char *text = json_text(j->text.data, j->text.len);
    if (rq->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text);
    }
    free(text);
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_name(j->finish));
    cJSON_AddItemToArray(choices, c);
    cJSON_AddItemToObject(o, "usage", usage_object(j));
    cJSON_AddItemToObject(o, "receipt", receipt_object(s, j));
    reply_json(out, 200, o);
}

/* ---- streams (server-sent events) --------------------------------------------------- */

struct api_stream {
    server *s;
    serve_job *j;
    pay_ticket pay;
    bool chat, include_usage, role_sent, ended;
    char id[48];
    uint64_t created;
    size_t sent; /* raw text bytes sent */
    plow_buf out;
    size_t off;
};

static void sse_data(plow_buf *b, cJSON *o) {
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    PLOW_ASSERT(txt);
    plow_buf_printf(b, "data: %s\n\n", txt);
    free(txt);
}

/* One chunk carrying text (may be empty) and a finish reason (NULL: none). */
static cJSON *stream_chunk(api_stream *st, const char *text, const char *finish) {
    cJSON *o = envelope(st->s, st->id, st->chat, true, st->created);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (st->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (!st->role_sent) cJSON_AddStringToObject(d, "role", "assistant");
        if (text) cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
        cJSON_AddNullToObject(c, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    st->role_sent = true;
    return o;
}

/* The next events: new text, or the end (the last text, the finish reason
 * with the receipt, the usage if asked, [DONE]). */
static void stream_more(api_stream *st) {
    serve_engine *e = &st->s->e;
    serve_job *j = st->j;
    pthread_mutex_lock(&e->mu);
    size_t hold = 0;
    for (int i = 0; i < j->n_stops; i++)
        if (j->stop_len[i] - 1 > hold) hold = j->stop_len[i] - 1;
    for (;;) {
        wait_job(e, j, st->sent + hold);
        if (j->state == JOB_DONE || j->state == JOB_FAILED) break;
        size_t safe = utf8_whole(j->text.data, j->text.len > hold ? j->text.len - hold : 0);
        if (safe > st->sent) break;
        pthread_cond_wait(&e->progress, &e->mu); /* only a cut sequence: wait for the next token */
    }
    bool done = j->state == JOB_DONE || j->state == JOB_FAILED;
    size_t upto = done ? j->text.len : utf8_whole(j->text.data, j->text.len > hold ? j->text.len - hold : 0);
    char *text = upto > st->sent ? json_text(j->text.data + st->sent, upto - st->sent) : NULL;
    st->sent = upto > st->sent ? upto : st->sent;
    pthread_mutex_unlock(&e->mu);
    if (text || !st->role_sent) sse_data(&st->out, stream_chunk(st, text ? text : "", NULL));
    free(text);
    if (!done) return;
    if (j->state == JOB_FAILED) {
        char msg[PLOW_ERR_LEN + 32];
        snprintf(msg, sizeof msg, "generation failed: %s", j->err);
        sse_data(&st->out, error_object("server_error", NULL, NULL, msg));
    } else {
        cJSON *last = stream_chunk(st, NULL, finish_name(j->finish));
        cJSON_AddItemToObject(last, "receipt", receipt_object(st->s, j));
        sse_data(&st->out, last);
        if (st->include_usage) {
            cJSON *u = envelope(st->s, st->id, st->chat, true, st->created);
            cJSON_AddArrayToObject(u, "choices");
            cJSON_AddItemToObject(u, "usage", usage_object(j));
            sse_data(&st->out, u);
        }
    }
    plow_buf_printf(&st->out, "data: [DONE]\n\n");
    st->ended = true;
}

size_t api_stream_read(api_stream *st, char *buf, size_t max) {
    if (st->off == st->out.len) {
        st->out.len = st->off = 0;
        if (st->ended) return 0;
        stream_more(st);
    }
    size_t k = st->out.len - st->off;
    if (k > max) k = max;
    memcpy(buf, st->out.data + st->off, k);
    st->off += k;
    return k;
}

void api_stream_free(api_stream *st) {
    if (!st) return;
    job_cancel(&st->s->e, st->j); /* a client that left mid-stream stops its generation */
    pthread_mutex_lock(&st->s->e.mu);
    int n_out = st->j->n_out;
    pthread_mutex_unlock(&st->s->e.mu);
    pay_settle(st->s, &st->pay, st->j->n_prompt, n_out); /* what it was served, even if it left */
    job_release(&st->s->e, st->j);
    plow_buf_release(&st->out);
    free(st);
}

/* ---- routes ----------------------------------------------------------------------- */

static cJSON *model_object(server *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "plow");
    char hx[2 * PLOW_HASH_LEN + 1], addr[LEDGER_ADDR_STR_LEN];
    plow_hex(s->model_hash, PLOW_HASH_LEN, hx);
    ledger_addr_format(s->key.pk, addr);
    cJSON_AddStringToObject(m, "model_hash", hx);
    cJSON_AddNumberToObject(m, "context_length", s->ctx);
    cJSON_AddStringToObject(m, "worker", addr);
    cJSON_AddNumberToObject(m, "price_per_token", (double)s->o.price);
    return m;
}

static void generate(server *s, bool chat, const char *path, const uint8_t *body, size_t n, const char *voucher,
                     api_reply *out) {
    req rq;
    if (!parse_request(s, chat, body, n, &rq, out)) return;
    pay_ticket pay;
    if (pay_admit(s, path, voucher, rq.j->n_prompt, rq.j->max_new, &pay, out)) {
        job_release(&s->e, rq.j);
        return;
    }
    char err[PLOW_ERR_LEN];
    if (engine_submit(&s->e, rq.j, err)) {
        pay_settle(s, &pay, 0, 0); /* nothing served */
        api_error(out, 503, "server_error", NULL, "server_overloaded", "%s", err);
        job_release(&s->e, rq.j);
        return;
    }
    if (!rq.stream) {
        answer_whole(s, &rq, out);
        pay_settle(s, &pay, rq.j->n_prompt, rq.j->n_out);
        job_release(&s->e, rq.j);
        return;
    }
    api_stream *st = plow_calloc(1, sizeof *st);
    st->s = s;
    st->j = rq.j;
    st->pay = pay;
    st->chat = chat;
    st->include_usage = rq.include_usage;
    st->created = (uint64_t)time(NULL);
    make_id(st->id, sizeof st->id, chat);
    out->status = 200;
    out->sse = st;
}

void api_handle(server *s, const char *method, const char *path, const uint8_t *body, size_t n,
                const char *(*hdr)(void *ctx, const char *name), void *hdr_ctx, api_reply *out) {
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/v1/models") == 0) {
        if (!get) goto not_allowed_get;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_object(s));
        reply_json(out, 200, o);
        return;
    }
    if (strncmp(path, "/v1/models/", 11) == 0) {
        if (!get) goto not_allowed_get;
        if (strcmp(path + 11, s->id) != 0) {
            api_error(out, 404, "invalid_request_error", "model", "model_not_found",
                      "The model '%.100s' does not exist here: this server serves '%s'", path + 11, s->id);
            return;
        }
        reply_json(out, 200, model_object(s));
        return;
    }
    if (strcmp(path, CARD_PATH) == 0) { /* the signed card (docs/market.md), byte for byte */
        if (!get) goto not_allowed_get;
        const char *card = atomic_load(&s->card);
        if (!card) {
            api_error(out, 503, "server_error", NULL, NULL, "the card is not ready yet");
            return;
        }
        out->status = 200;
        plow_buf_append(&out->body, card, strlen(card));
        return;
    }
    if (strcmp(path, "/plow/stats") == 0) { /* the engine's counters (docs/serve.md) */
        if (!get) goto not_allowed_get;
        cJSON *o = cJSON_CreateObject();
        pthread_mutex_lock(&s->e.mu);
        cJSON_AddNumberToObject(o, "requests", (double)s->e.requests);
        cJSON_AddNumberToObject(o, "steps", (double)s->e.steps);
        cJSON_AddNumberToObject(o, "rows", (double)s->e.rows);
        cJSON_AddNumberToObject(o, "max_rows", s->e.max_rows_seen);
        cJSON_AddNumberToObject(o, "admitted", s->e.n_admitted);
        pthread_mutex_unlock(&s->e.mu);
        reply_json(out, 200, o);
        return;
    }
    bool chat = strcmp(path, "/v1/chat/completions") == 0;
    if (chat || strcmp(path, "/v1/completions") == 0) {
        if (!post) {
            out->allow = "POST";
            api_error(out, 405, "invalid_request_error", NULL, "method_not_allowed", "%.16s is not allowed on %s (POST)",
                      method, path);
            return;
        }
        generate(s, chat, path, body, n, hdr ? hdr(hdr_ctx, "X-PAYMENT") : NULL, out);
        return;
    }
    api_error(out, 404, "invalid_request_error", NULL, "not_found",
              "no such endpoint: %.100s (this server has /v1/models, /v1/completions, /v1/chat/completions)", path);
    return;
not_allowed_get:
    out->allow = "GET";
    api_error(out, 405, "invalid_request_error", NULL, "method_not_allowed", "%.16s is not allowed on %.100s (GET)",
              method, path);
}
