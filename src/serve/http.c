/*
 * http.c — plow serve on libmicrohttpd: one thread per connection (a
 * request waits for its generation, a stream for its next tokens, blocking
 * only its own thread), bodies bounded before they are buffered (413), and
 * the limits of the node's API: connections in all and per address, an
 * inactivity timeout for idle or trickling clients.
 */
#include "../base/plow.h"

#include <errno.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <time.h>

#include "../client/listen.h"
#include "serve_internal.h"

typedef struct sreq {
    plow_buf body;
    bool too_big;
} sreq;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    size_t n = api_stream_read(cls, buf, max);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) { api_stream_free(cls); }

static enum MHD_Result queue(struct MHD_Connection *conn, api_reply *rep) {
    struct MHD_Response *resp;
    if (rep->sse) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, rep->sse, stream_free);
        if (!resp) api_stream_free(rep->sse);
        rep->sse = NULL;
        if (resp) {
            MHD_add_response_header(resp, "Content-Type", "text/event-stream");
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
        }
    } else {
        resp = MHD_create_response_from_buffer(rep->body.len, rep->body.data ? rep->body.data : (void *)"",
                                               rep->body.data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (resp) rep->body = (plow_buf){0};
        if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
    }
    plow_buf_release(&rep->body);
    if (!resp) return MHD_NO;
    if (rep->allow) MHD_add_response_header(resp, "Allow", rep->allow);
    if (rep->hdr_name[0]) MHD_add_response_header(resp, rep->hdr_name, rep->hdr_value);
    enum MHD_Result ok = MHD_queue_response(conn, rep->status ? rep->status : 500, resp);
    MHD_destroy_response(resp);
    return ok;
}

static const char *mhd_hdr(void *ctx, const char *name) {
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    server *s = cls;
    sreq *r = *con_cls;
    if (!r) {
        r = plow_calloc(1, sizeof *r);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        uint64_t len;
        if (cl && plow_parse_u64(cl, &len) && len > SERVE_BODY_MAX) { /* refused before a byte is read */
            api_reply rep = {0};
            api_error(&rep, 413, "invalid_request_error", NULL, "request_too_large",
                      "a body of %llu bytes is larger than the limit (%u bytes)", (unsigned long long)len,
                      SERVE_BODY_MAX);
            return queue(conn, &rep);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->too_big && r->body.len + *upload_data_size > SERVE_BODY_MAX) {
            r->too_big = true;
            plow_buf_release(&r->body);
        }
        if (!r->too_big) plow_buf_append(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    api_reply rep = {0};
    if (r->too_big)
        api_error(&rep, 413, "invalid_request_error", NULL, "request_too_large",
                  "the body is larger than the limit (%u bytes)", SERVE_BODY_MAX);
    else api_handle(s, method, url, r->body.data, r->body.len, mhd_hdr, conn, &rep);
    return queue(conn, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    sreq *r = *con_cls;
    if (r) {
        plow_buf_release(&r->body);
        free(r);
    }
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    if (s->o.quiet) return;
    fputs("plow serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int serve_http_start(server *s, char err[PLOW_ERR_LEN]) {
    struct sockaddr_storage ss;
    bool v6 = false;
    if (listen_parse(s->o.listen, &ss, &v6, err)) return -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->httpd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.conns,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->o.conns_per_ip,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_CONN_IDLE_S,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
                                (unsigned)256, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20), MHD_OPTION_END);
    if (!s->httpd)
        return plow_error(err, "cannot listen on %s: %s", s->o.listen, errno ? strerror(errno) : "libmicrohttpd refused");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->httpd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return 0;
}

void serve_http_stop(server *s) {
    if (s->httpd) MHD_stop_daemon(s->httpd);
    s->httpd = NULL;
}
