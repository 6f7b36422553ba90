/*
 * listen.h — what the servers (plow node, plow serve) share about their
 * listen address: parsing it and the URL clients and tests read back.
 */
#ifndef PLOW_LISTEN_H
#define PLOW_LISTEN_H

#include "../base/plow.h"

#include <sys/socket.h>

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (port 0: any free one) -> a socket
 * address; *v6 when it is IPv6. Errors name the --listen value. */
int listen_parse(const char *listen, struct sockaddr_storage *ss, bool *v6, char err[PLOW_ERR_LEN]);
/* "http://HOST:PORT" for a listen address and the port actually bound; an
 * empty host or 0.0.0.0 becomes 127.0.0.1. */
void listen_url(const char *listen, unsigned port, char *out, size_t n);

#endif
