/* http: the BPJS endpoint over libmicrohttpd: authentication, routing, body
 * limits, the fault switches, and the hand-over to batch and store. */
#ifndef BPJS_MOCK_HTTP_H
#define BPJS_MOCK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "faults.h"
#include "store.h"

struct http_config {
        const char *cons_id;
        const unsigned char *secret;
        size_t secret_len;
        unsigned threads;
        unsigned max_skew; /* seconds a timestamp may be off the clock */
        const struct sockaddr *addr;
        socklen_t addr_len;
        /* HTTPS when tls_cert is set: PEM text of the certificate (chain) and
         * its key; with tls_client_ca, every connection must present a client
         * certificate signed by it, or the handshake fails. */
        const char *tls_cert;
        const char *tls_key;
        const char *tls_client_ca;
};

struct http;

/* Starts listening and serving; the config's strings must outlive the server.
 * Negative errno on failure, logged here. */
int http_start(const struct http_config *c, struct store *s, struct faults *f,
               struct http **ret);
/* "http://ADDR:PORT" (https:// when serving TLS) with the port actually bound. */
const char *http_url(const struct http *h);
void http_stop(struct http *h);

#endif
