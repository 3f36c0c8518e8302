/* http: see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "admin.h"
#include "batch.h"
#include "clock.h"
#include "delay.h"
#include "log.h"
#include "nik.h"
#include "respond.h"
#include "sign.h"

#define URL_SIZE 80

struct http {
        struct http_config config;
        struct store *store;
        struct faults *faults;
        struct delay *delay;
        struct MHD_Daemon *daemon;
        char url[URL_SIZE];
};

/* One request being read and answered. */
struct request {
        char *body;
        size_t len;
        size_t cap;
        bool too_large;
        bool parked; /* the slow fault suspended it; serve when called again */
        struct faults_roll roll;
};

/* What the endpoint answers, before the drop_after fault decides whether the
 * client gets it. */
struct answer {
        unsigned status;
        char *body;
        size_t len;
        const char *header;
        const char *value;
};

/* Wall-clock seconds, from the project's one clock. */
static time_t now_s(void)
{
        return (time_t)(clock_now_ms() / 1000);
}

static int append(struct request *rq, const char *data, size_t n)
{
        assert(rq->len <= BATCH_MAX_BODY);
        assert(rq->body || rq->cap == 0); /* no body yet: nothing allocated */
        if (rq->too_large || n > BATCH_MAX_BODY - rq->len) {
                /* Keep reading, and forget, so that the client gets its 413. */
                rq->too_large = true;
                return 0;
        }
        if (rq->len + n + 1 > rq->cap) {
                size_t cap = rq->cap ? rq->cap : 16384;
                char *body;

                while (cap < rq->len + n + 1)
                        cap *= 2;
                body = realloc(rq->body, cap);
                if (!body)
                        return -ENOMEM;
                rq->body = body;
                rq->cap = cap;
        }
        memcpy(rq->body + rq->len, data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return 0;
}

static void set_error(struct answer *a, unsigned status, const char *message,
                      const char *header, const char *value)
{
        struct jbuf b;

        jbuf_init(&b);
        batch_render_error((int)status, message, &b);
        a->status = status;
        a->header = header;
        a->value = value;
        if (jbuf_take(&b, &a->body, &a->len) < 0) {
                a->body = NULL;
                a->len = 0;
        }
}

/* Sends the answer (or, for drop, nothing) and counts it. */
static enum MHD_Result finish(struct http *h, struct MHD_Connection *c, struct answer *a,
                              bool drop)
{
        if (drop || !a->body) {
                free(a->body);
                store_count_drop(h->store, true);
                return MHD_NO;
        }
        store_count_status(h->store, (int)a->status);
        return respond_json(c, a->status, a->body, a->len, a->header, a->value);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
        return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* NULL when the request is authentic, else why not. */
static size_t max_items(struct http *h)
{
        struct faults_config c;

        faults_get(h->faults, &c);
        return c.max_items;
}

static const char *check_auth(const struct http *h, struct MHD_Connection *c)
{
        const char *cons_id = header(c, "X-Cons-Id");
        const char *timestamp = header(c, "X-Timestamp");
        const char *signature = header(c, "X-Signature");
        long long ts, skew;
        char *end;

        if (!cons_id || strcmp(cons_id, h->config.cons_id))
                return "unknown cons id";
        if (!timestamp || *timestamp < '0' || *timestamp > '9')
                return "X-Timestamp must be seconds since the epoch";
        errno = 0;
        ts = strtoll(timestamp, &end, 10);
        if (errno || *end)
                return "X-Timestamp must be seconds since the epoch";
        skew = (long long)now_s() - ts;
        if (skew > (long long)h->config.max_skew || skew < -(long long)h->config.max_skew)
                return "X-Timestamp is too far from the server clock";
        if (!signature || sign_verify(cons_id, timestamp, h->config.secret,
                                      h->config.secret_len, signature) != 0)
                return "invalid signature";
        return NULL;
}

static void log_batch(const struct batch *b, const char *path, int outcome,
                      const struct answer *a)
{
        static const char *const outcomes[] = {
            [STORE_PROCESSED] = "processed",
            [STORE_REPLAYED] = "replayed",
            [STORE_CONFLICT] = "conflict",
        };
        size_t counts[BATCH_NOT_FOUND + 1] = {0};
        char ctx[BATCH_KEY_MAX + 32];

        snprintf(ctx, sizeof(ctx), "bpjs-mock[batch %s]", b->key);
        for (size_t i = 0; i < b->n && outcome == STORE_PROCESSED; i++) {
                const struct batch_item *it = &b->items[i];

                counts[it->status]++;
                if (it->status == BATCH_REJECTED) {
                        /* cppcheck-suppress variableScope */
                        char masked[NIK_MASKED_SIZE];

                        log_debug(ctx, "%s nik %s REJECTED: %s",
                                  it->registration_id ? it->registration_id : "(none)",
                                  nik_mask(it->nik_text, masked),
                                  batch_reason_text(it->reason));
                }
        }
        log_debug(ctx,
                  "POST %s -> %u %s, %zu items (%zu registered, %zu already, %zu "
                  "rejected, %zu deactivated, %zu not found)",
                  path, a->status, outcome >= 0 ? outcomes[outcome] : "failed", b->n,
                  counts[BATCH_REGISTERED], counts[BATCH_ALREADY_REGISTERED],
                  counts[BATCH_REJECTED], counts[BATCH_DEACTIVATED],
                  counts[BATCH_NOT_FOUND]);
}

/* The endpoint proper, once the injected faults have had their say. */
static void serve(struct http *h, struct MHD_Connection *c, struct request *rq,
                  const char *url, const char *method, struct answer *a)
{
        unsigned char digest[STORE_DIGEST_LEN];
        struct store_reply reply;
        enum batch_kind kind;
        struct batch *b = NULL;
        const char *why, *key;
        char reason[160];
        int r;

        if (batch_kind_from_path(url, &kind) < 0) {
                set_error(a, 404, "not found", NULL, NULL);
                return;
        }
        if (strcmp(method, "POST")) {
                set_error(a, 405, "method not allowed", "Allow", "POST");
                return;
        }
        why = check_auth(h, c);
        if (why) {
                set_error(a, 401, why, NULL, NULL);
                return;
        }
        key = header(c, "Idempotency-Key");
        if (!batch_key_valid(key)) {
                set_error(a, 400, "Idempotency-Key must be 1 to 128 of [A-Za-z0-9._:-]",
                          NULL, NULL);
                return;
        }
        if (rq->too_large) {
                set_error(a, 413, "body larger than 1 MiB", NULL, NULL);
                return;
        }
        r = batch_parse(kind, key, rq->body, rq->len, &b, reason, sizeof(reason));
        assert(r <= 0); /* so reply is filled below whenever r >= 0 */
        if (r == -EBADMSG || r == -E2BIG) {
                set_error(a, r == -E2BIG ? 413 : 400, reason, NULL, NULL);
                return;
        }
        if (r == 0 && b->n > max_items(h)) {
                batch_free(b);
                set_error(a, 413, "more items than this server takes", NULL, NULL);
                return;
        }
        for (size_t i = 0; r == 0 && i < b->n; i++)
                b->items[i].bad_kpj = faults_bad_kpj(h->faults);
        if (r == 0 &&
            EVP_Digest(rq->body, rq->len, digest, NULL, EVP_sha256(), NULL) != 1)
                r = -EIO;
        if (r == 0)
                r = store_submit(h->store, b, digest, now_s(), &reply);
        if (r < 0) {
                char ctx[BATCH_KEY_MAX + 32];

                snprintf(ctx, sizeof(ctx), "bpjs-mock[batch %s]", key);
                log_error(ctx, "%s", strerror(-r));
                set_error(a, 500, "internal error", NULL, NULL);
        } else if (r == STORE_CONFLICT) {
                set_error(a, 409, "Idempotency-Key was used before with a different body",
                          NULL, NULL);
        } else {
                a->status = (unsigned)reply.status;
                a->body = reply.body;
                a->len = reply.len;
        }
        if (log_enabled(LOG_LVL_DEBUG) && b)
                log_batch(b, url, r, a);
        batch_free(b);
}

/* The 429's Retry-After: delta-seconds, or (retry_after_date) the
 * IMF-fixdate that many seconds from now, at most the last second of 9999. */
static void retry_after_text(const struct faults_roll *roll, char *out, size_t size)
{
        static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
                                           "Thu", "Fri", "Sat"};
        static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        const uint64_t last = 253402300799ULL; /* 9999-12-31T23:59:59Z */
        uint64_t when;
        time_t t;
        struct tm tm;

        if (!roll->retry_after_date) {
                snprintf(out, size, "%llu", (unsigned long long)roll->retry_after);
                return;
        }
        when = (uint64_t)now_s() + roll->retry_after;
        t = (time_t)(when > last ? last : when);
        gmtime_r(&t, &tm);
        snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
}

/* The fail_400_echo fault's message: it names the batch's first item (its
 * registration_id and name), as a server that quotes what it refuses does. */
static void echo_first_item(const struct request *rq, char *out, size_t size)
{
        cJSON *doc = rq->body ? cJSON_ParseWithLength(rq->body, rq->len) : NULL;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "registrations");
        const cJSON *first;
        const char *rid, *name;

        if (!list)
                list = cJSON_GetObjectItemCaseSensitive(doc, "deactivations");
        first = cJSON_GetArrayItem(list, 0);
        rid = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(first, "registration_id"));
        name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "name"));
        snprintf(out, size, "malformed item %.128s (name %.128s) (injected)",
                 rid ? rid : "(none)", name ? name : "(none)");
        cJSON_Delete(doc);
}

static enum MHD_Result api(struct http *h, struct MHD_Connection *c, struct request *rq,
                           const char *url, const char *method)
{
        struct answer a = {0};

        if (!rq->parked) {
                faults_decide(h->faults, &rq->roll);
                switch (rq->roll.action) {
                case FAULTS_NONE:
                        break;
                case FAULTS_DOWN:
                        set_error(&a, 503, "service unavailable (down)", NULL, NULL);
                        return finish(h, c, &a, false);
                case FAULTS_AUTH_FAIL:
                        set_error(&a, 401, "authentication failed (injected)", NULL,
                                  NULL);
                        return finish(h, c, &a, false);
                case FAULTS_DROP:
                        store_count_drop(h->store, false);
                        return MHD_NO;
                case FAULTS_FAIL_5XX:
                        set_error(&a, 503, "service unavailable (injected)", NULL, NULL);
                        return finish(h, c, &a, false);
                case FAULTS_FAIL_429: {
                        char retry_after[64];

                        retry_after_text(&rq->roll, retry_after, sizeof(retry_after));
                        set_error(&a, 429, "too many requests (injected)",
                                  MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
                        return finish(h, c, &a, false);
                }
                case FAULTS_FAIL_400:
                        set_error(&a, 400, "malformed batch (injected)", NULL, NULL);
                        return finish(h, c, &a, false);
                case FAULTS_FAIL_400_ECHO: {
                        char message[512];

                        echo_first_item(rq, message, sizeof(message));
                        set_error(&a, 400, message, NULL, NULL);
                        return finish(h, c, &a, false);
                }
                case FAULTS_FAIL_302:
                        /* a redirect the contract does not have, with no body */
                        a = (struct answer){302, malloc(1), 0, MHD_HTTP_HEADER_LOCATION,
                                            "/v1/elsewhere"};
                        return finish(h, c, &a, false);
                }
                if (rq->roll.slow_ms > 0 &&
                    delay_park(h->delay, c, rq->roll.slow_ms) == 0) {
                        rq->parked = true;
                        return MHD_YES;
                }
        }
        serve(h, c, rq, url, method, &a);
        return finish(h, c, &a, rq->roll.drop_after);
}

/* Mutual TLS. libmicrohttpd only requests a client certificate and lets a
 * client without one in; an endpoint that demands mutual TLS refuses it. So
 * every request on such a connection is checked here: no certificate, or one
 * that does not verify against --tls-client-ca, gets the fatal alert a TLS
 * 1.3 server sends (certificate_required, or bad_certificate) and the
 * connection is closed. A client sees what it sees from a real server:
 * OpenSSL reports "tlsv13 alert certificate required" on its first read. */
static bool client_refused(const struct http *h, struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *info;
        gnutls_session_t session;
        unsigned peers = 0, status = 0;
        gnutls_alert_description_t alert;

        if (!h->config.tls_client_ca)
                return false;
        info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!info || !info->tls_session)
                return true;
        session = (gnutls_session_t)info->tls_session;
        if (!gnutls_certificate_get_peers(session, &peers) || !peers)
                alert = GNUTLS_A_CERTIFICATE_REQUIRED;
        else if (gnutls_certificate_verify_peers2(session, &status) < 0 || status)
                alert = GNUTLS_A_BAD_CERTIFICATE;
        else
                return false;
        log_info("bpjs-mock", "refusing a client %s",
                 alert == GNUTLS_A_CERTIFICATE_REQUIRED
                     ? "without a certificate"
                     : "whose certificate does not verify against --tls-client-ca");
        gnutls_alert_send(session, GNUTLS_AL_FATAL, alert);
        return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
        struct http *h = cls;
        struct request *rq = *req_cls;

        (void)version;
        if (!rq) {
                if (client_refused(h, c))
                        return MHD_NO;
                rq = calloc(1, sizeof(*rq));
                if (!rq)
                        return MHD_NO;
                *req_cls = rq;
                return MHD_YES;
        }
        if (*upload_data_size) {
                if (append(rq, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (!rq->body && append(rq, "", 0) < 0)
                return MHD_NO;
        if (!strncmp(url, ADMIN_PREFIX, strlen(ADMIN_PREFIX)))
                return admin_handle(c, method, url, rq->body, rq->len, rq->too_large,
                                    h->store, h->faults);
        return api(h, c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct request *rq = *req_cls;

        (void)cls;
        (void)c;
        (void)toe;
        if (!rq)
                return;
        free(rq->body);
        free(rq);
        *req_cls = NULL;
}

/* libmicrohttpd's own messages, into the project's log. Closing a connection
 * on purpose (the drop faults) is routine, not a warning. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
        char line[512];
        size_t n;

        (void)cls;
        vsnprintf(line, sizeof(line), fmt, ap);
        n = strlen(line);
        while (n > 0 && line[n - 1] == '\n')
                line[--n] = '\0';
        if (strstr(line, "Application reported internal error"))
                log_debug("bpjs-mock[mhd]", "%s", line);
        else
                log_warning("bpjs-mock[mhd]", "%s", line);
}

/* HTTPS: the server's certificate and key, and with a client CA the demand
 * for a client certificate. 0, or -ENOTSUP (logged) when libmicrohttpd was
 * built without TLS. */
static int tls_options(struct http *h, struct MHD_OptionItem *opts, size_t *n)
{
        const struct http_config *c = &h->config;

        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
                log_error("bpjs-mock", "--tls-cert: this libmicrohttpd has no TLS");
                return -ENOTSUP;
        }
        opts[(*n)++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)c->tls_cert};
        opts[(*n)++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)c->tls_key};
        /* with a trust list libmicrohttpd asks for a client certificate;
         * client_refused() demands it */
        if (c->tls_client_ca)
                opts[(*n)++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                       (void *)c->tls_client_ca};
        return 0;
}

static int make_url(struct http *h)
{
        const union MHD_DaemonInfo *info;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN];
        const char *scheme = h->config.tls_cert ? "https" : "http";
        unsigned port;

        memset(&ss, 0, sizeof(ss));

        info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        if (!info)
                return -EIO;
        if (getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                port = ntohs(in6->sin6_port);
                snprintf(h->url, sizeof(h->url), "%s://[%s]:%u", scheme, host, port);
        } else {
                const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

                inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                port = ntohs(in->sin_port);
                snprintf(h->url, sizeof(h->url), "%s://%s:%u", scheme, host, port);
        }
        return 0;
}

int http_start(const struct http_config *c, struct store *s, struct faults *f,
               struct http **ret)
{
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        struct MHD_OptionItem opts[5];
        size_t n = 0;
        struct http *h;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->config = *c;
        h->store = s;
        h->faults = f;
        r = delay_start(&h->delay);
        if (r < 0) {
                log_error("bpjs-mock", "cannot start the delay thread: %s", strerror(-r));
                goto out;
        }
        if (c->addr->sa_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        /* A pool of one is no pool: libmicrohttpd wants the option left out. */
        if (c->threads > 1)
                opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                                    (intptr_t)c->threads, NULL};
        if (c->tls_cert) {
                r = tls_options(h, opts, &n);
                if (r < 0)
                        goto out;
                flags |= MHD_USE_TLS;
        }
        opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        /* clang-format off */
        h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                MHD_OPTION_SOCK_ADDR, c->addr,
                MHD_OPTION_ARRAY, opts,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
                MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                MHD_OPTION_END);
        /* clang-format on */
        if (!h->daemon) {
                r = -EADDRNOTAVAIL;
                log_error("bpjs-mock", "cannot listen (address in use or invalid%s?)",
                          c->tls_cert ? ", or a certificate or key libmicrohttpd refused"
                                      : "");
                goto out;
        }
        r = make_url(h);
        if (r < 0)
                log_error("bpjs-mock", "cannot read the bound address: %s", strerror(-r));
out:
        if (r < 0) {
                http_stop(h);
                return r;
        }
        *ret = h;
        return 0;
}

const char *http_url(const struct http *h)
{
        return h->url;
}

void http_stop(struct http *h)
{
        if (!h)
                return;
        /* Nothing may stay suspended when the daemon stops. */
        delay_stop(h->delay);
        if (h->daemon)
                MHD_stop_daemon(h->daemon);
        free(h);
}
