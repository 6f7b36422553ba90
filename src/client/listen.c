/*
 * listen.c — listen addresses of plow's servers (listen.h).
 */
#include "../base/plow.h"

#include <netdb.h>

#include "listen.h"

int listen_parse(const char *listen, struct sockaddr_storage *ss, bool *v6, char err[PLOW_ERR_LEN]) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon) return plow_error(err, "--listen '%s': expected HOST:PORT", listen);
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host) return plow_error(err, "--listen '%s': host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    uint64_t port;
    if (!plow_parse_u64(colon + 1, &port) || port > 65535) return plow_error(err, "--listen '%s': bad port", listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int g = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (g != 0) return plow_error(err, "--listen '%s': %s", listen, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

void listen_url(const char *listen, unsigned port, char *out, size_t n) {
    const char *host = listen, *colon = strrchr(listen, ':');
    int hl = colon ? (int)(colon - host) : (int)strlen(host);
    if (hl == 0 || (hl == 7 && memcmp(host, "0.0.0.0", 7) == 0)) host = "127.0.0.1", hl = 9;
    snprintf(out, n, "http://%.*s:%u", hl, host, port);
}
