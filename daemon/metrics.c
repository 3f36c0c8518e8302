/* metrics: see metrics.h. */
#include "metrics.h"

#include <assert.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define URL_SIZE     80
#define WHY_SIZE     256

/* The listener's limits (issue 12). Health probes must answer however
 * many idle connections a scraper, a port scanner or a broken client
 * leaves open: one thread serves every connection (epoll), so an idle one
 * costs a descriptor, never a turn; what runs out is connections. So:
 *   - a connection idle for CONN_TIMEOUT_S (no request, or half of one) is
 *     closed: a probe's is answered in milliseconds, a scrape's in well
 *     under a second;
 *   - one address holds at most PER_ADDRESS_LIMIT, the next is refused at
 *     once: it cannot take the slots another address's probe needs;
 *   - CONN_LIMIT in all, well inside the descriptors systemd gives a service
 *     (1,024 soft) next to Kafka's, curl's and SQLite's; above it new
 *     connections wait in the listen queue, for CONN_TIMEOUT_S at most.
 * 200 idle connections from 127.0.0.1 leave a probe from 127.0.0.1 room.
 * A request's body is never read: every answer is queued on the first call,
 * before any upload. */
#define CONN_TIMEOUT_S    3u
#define PER_ADDRESS_LIMIT 256u
#define CONN_LIMIT        600u

static const char *const l_none[] = {NULL};
static const char *const l_status_reason[] = {"status", "reason", NULL};
static const char *const l_outcome[] = {"outcome", NULL};
static const char *const l_program[] = {"program", NULL};
static const char *const l_version[] = {"version", NULL};

/* Label values that exist from the start (at 0), for one-label metrics. */
static const char *const pushed_outcomes[] = {"registered", "already_registered",
                                              "failed", "deactivated", NULL};
/* push_outcome_name()'s strings. */
static const char *const request_outcomes[] = {"ok",    "retry",     "throttled", "auth",
                                               "split", "permanent", "tls",       NULL};

static const struct {
        const char *name;
        enum metric_type type;
        const char *help;
        const char *const *labels;
        const char *const *initial; /* values of the only label, created at 0 */
} table[METRIC__COUNT] = {
    [METRIC_EVENTS_CONSUMED] = {"bpjs_sync_events_consumed_total", METRIC_COUNTER,
                                "Kafka messages consumed from the events topics.", l_none,
                                NULL},
    [METRIC_DECISIONS] = {"bpjs_sync_decisions_total", METRIC_COUNTER,
                          "Events decided, by first-result status and reason code "
                          "(reason \"none\" unless rejected).",
                          l_status_reason, NULL},
    [METRIC_REGISTRATIONS_PUSHED] =
        {"bpjs_sync_registrations_pushed_total", METRIC_COUNTER,
         "Operations the endpoint answered, by final outcome.", l_outcome,
         pushed_outcomes},
    [METRIC_REQUESTS] = {"bpjs_sync_requests_total", METRIC_COUNTER,
                         "Requests to the endpoint, by how their answer was classified.",
                         l_outcome, request_outcomes},
    [METRIC_RETRIES] = {"bpjs_sync_retries_total", METRIC_COUNTER,
                        "Requests scheduled again after a transient failure.", l_none,
                        NULL},
    [METRIC_BACKLOG] = {"bpjs_sync_backlog", METRIC_GAUGE,
                        "Operations journaled and waiting for the endpoint.", l_none,
                        NULL},
    [METRIC_INFLIGHT_REQUESTS] = {"bpjs_sync_inflight_requests", METRIC_GAUGE,
                                  "Requests to the endpoint under way.", l_none, NULL},
    [METRIC_ENDPOINT_LATENCY] = {"bpjs_sync_endpoint_latency_seconds", METRIC_HISTOGRAM,
                                 "Time from sending a request to its answer.", l_none,
                                 NULL},
    [METRIC_CONSUMER_LAG] = {"bpjs_sync_consumer_lag", METRIC_GAUGE,
                             "Messages on the assigned partitions not consumed yet.",
                             l_none, NULL},
    [METRIC_JOURNAL_BYTES] = {"bpjs_sync_journal_bytes", METRIC_GAUGE,
                              "Size of the journal database file.", l_none, NULL},
    [METRIC_QUOTA_USED] = {"bpjs_sync_quota_used", METRIC_GAUGE,
                           "Workers covered by a programme now (pending and active).",
                           l_program, NULL},
    [METRIC_QUOTA_LIMIT] = {"bpjs_sync_quota_limit", METRIC_GAUGE,
                            "A programme's quota: workers it may cover at once.",
                            l_program, NULL},
    [METRIC_PREMIUM_COMMITTED] = {"bpjs_sync_premium_committed_rupiah", METRIC_GAUGE,
                                  "A programme's committed premium: the months of its "
                                  "pending, active and ended coverages times its monthly "
                                  "premium.",
                                  l_program, NULL},
    [METRIC_BUDGET] = {"bpjs_sync_budget_rupiah", METRIC_GAUGE,
                       "A programme's budget for its whole period (only programmes "
                       "that have one).",
                       l_program, NULL},
    [METRIC_RESULTS_PUBLISHED] = {"bpjs_sync_results_published_total", METRIC_COUNTER,
                                  "Results and dead letters delivered to Kafka.", l_none,
                                  NULL},
    [METRIC_CIRCUIT_OPEN] = {"bpjs_sync_circuit_open", METRIC_GAUGE,
                             "1 while the circuit breaker keeps requests from the "
                             "endpoint, else 0.",
                             l_none, NULL},
    [METRIC_CONSUMING_PAUSED] = {"bpjs_sync_consuming_paused", METRIC_GAUGE,
                                 "1 while consuming is paused by back-pressure "
                                 "(journal.max_pending), else 0.",
                                 l_none, NULL},
    [METRIC_TLS_REFUSED] = {"bpjs_sync_endpoint_tls_refused", METRIC_GAUGE,
                            "1 while TLS to the endpoint is refused (certificate, CA "
                            "file, client certificate) and pushing waits, else 0.",
                            l_none, NULL},
    [METRIC_PARTITIONS_REFUSED] = {"bpjs_sync_partitions_refused", METRIC_GAUGE,
                                   "Assigned partitions not consumed because their "
                                   "offsets were last committed under another "
                                   "journal.",
                                   l_none, NULL},
    [METRIC_BUILD_INFO] = {"bpjs_sync_build_info", METRIC_GAUGE,
                           "Always 1; the version label says which bpjs-syncd runs.",
                           l_version, NULL},
};

/* Upper bounds of the latency histogram's buckets, in seconds (+Inf is
 * implied). */
static const double bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct series {
        char **values; /* one string per label; one allocation with them */
        double value;  /* counter, gauge */
        double sum;    /* histogram */
        uint64_t count;
        uint64_t buckets[N_BOUNDS]; /* per bucket, not cumulative */
};

struct family {
        struct series *v;
        size_t n, cap;
};

struct metrics {
        pthread_mutex_t lock;
        struct family fam[METRIC__COUNT];
        struct metrics_health health;
        struct MHD_Daemon *daemon;
        char url[URL_SIZE];
};

static size_t n_labels(enum metric id)
{
        size_t n = 0;

        while (table[id].labels[n])
                n++;
        return n;
}

static bool known(enum metric id)
{
        return (unsigned)id < METRIC__COUNT;
}

const char *metric_name(enum metric id)
{
        return known(id) ? table[id].name : NULL;
}

enum metric_type metric_type(enum metric id)
{
        return known(id) ? table[id].type : METRIC_GAUGE;
}

const char *metric_help(enum metric id)
{
        return known(id) ? table[id].help : NULL;
}

const char *const *metric_labels(enum metric id)
{
        return known(id) ? table[id].labels : NULL;
}

/* Registry ------------------------------------------------------------- */

static const char *label_at(const char *values[], size_t i)
{
        return values && values[i] ? values[i] : "";
}

static bool same(const struct series *s, size_t n, const char *values[])
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(s->values[i], label_at(values, i)) != 0)
                        return false;
        return true;
}

/* The series of these label values, created at 0 if new; NULL when out of
 * memory or at METRICS_MAX_SERIES. Called with the lock held. */
static struct series *series(struct metrics *m, enum metric id, const char *values[])
{
        struct family *f = &m->fam[id];
        size_t n = n_labels(id), size = n * sizeof(char *);
        struct series *s;
        char *p;

        for (size_t i = 0; i < f->n; i++)
                if (same(&f->v[i], n, values))
                        return &f->v[i];
        if (f->n >= METRICS_MAX_SERIES)
                return NULL;
        if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 8;
                struct series *v = realloc(f->v, cap * sizeof(*v));
                if (!v)
                        return NULL;
                f->v = v;
                f->cap = cap;
        }
        for (size_t i = 0; i < n; i++)
                size += strlen(label_at(values, i)) + 1;
        s = &f->v[f->n];
        memset(s, 0, sizeof(*s));
        s->values = malloc(size ? size : 1);
        if (!s->values)
                return NULL;
        p = (char *)(s->values + n);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(label_at(values, i)) + 1;
                memcpy(p, label_at(values, i), len);
                s->values[i] = p;
                p += len;
        }
        f->n++;
        return s;
}

void metrics_add(struct metrics *m, enum metric id, const char *label_values[], double v)
{
        struct series *s;

        if (!m || !known(id) || table[id].type == METRIC_HISTOGRAM)
                return;
        if (table[id].type == METRIC_COUNTER && !(v >= 0))
                return; /* counters only go up; this also drops NaN */
        pthread_mutex_lock(&m->lock);
        s = series(m, id, label_values);
        if (s)
                s->value += v;
        pthread_mutex_unlock(&m->lock);
}

void metrics_set(struct metrics *m, enum metric id, const char *label_values[], double v)
{
        struct series *s;

        if (!m || !known(id) || table[id].type != METRIC_GAUGE)
                return;
        pthread_mutex_lock(&m->lock);
        s = series(m, id, label_values);
        if (s)
                s->value = v;
        pthread_mutex_unlock(&m->lock);
}

void metrics_observe(struct metrics *m, enum metric id, const char *label_values[],
                     double seconds)
{
        struct series *s;
        size_t b = 0;

        if (!m || !known(id) || table[id].type != METRIC_HISTOGRAM || !(seconds >= 0))
                return;
        while (b < N_BOUNDS && seconds > bounds[b])
                b++;
        pthread_mutex_lock(&m->lock);
        s = series(m, id, label_values);
        if (s) {
                if (b < N_BOUNDS)
                        s->buckets[b]++;
                s->sum += seconds;
                s->count++;
        }
        pthread_mutex_unlock(&m->lock);
}

/* Exposition ----------------------------------------------------------- */

struct buf {
        char *p;
        size_t len, cap;
        bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *p;

                while (cap < b->len + n + 1)
                        cap *= 2;
                p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
        put(b, s, strlen(s));
}

/* Escapes backslash and newline (HELP text), and the double quote too in
 * label values. */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
        for (; *s; s++) {
                if (*s == '\\')
                        puts_(b, "\\\\");
                else if (*s == '\n')
                        puts_(b, "\\n");
                else if (*s == '"' && quote)
                        puts_(b, "\\\"");
                else
                        put(b, s, 1);
        }
}

/* A sample value as Prometheus parses it: integers without a fraction,
 * others with as few digits as read back exactly. */
static void format_value(char *out, size_t n, double v)
{
        if (v != v)
                snprintf(out, n, "NaN");
        else if (v > 1.7976931348623157e308)
                snprintf(out, n, "+Inf");
        else if (v < -1.7976931348623157e308)
                snprintf(out, n, "-Inf");
        else if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
                snprintf(out, n, "%lld", (long long)v);
        else {
                snprintf(out, n, "%.15g", v);
                if (strtod(out, NULL) != v)
                        snprintf(out, n, "%.17g", v);
        }
}

/* name{l1="v1",l2="v2"[,le="x"]} value\n */
static void put_sample(struct buf *b, const char *name, const char *suffix,
                       enum metric id, const struct series *s, const char *le, double v)
{
        const char *const *labels = table[id].labels;
        char num[40];
        bool any = false;

        puts_(b, name);
        puts_(b, suffix);
        for (size_t i = 0; labels[i]; i++) {
                puts_(b, any ? "," : "{");
                puts_(b, labels[i]);
                puts_(b, "=\"");
                put_escaped(b, s->values[i], true);
                puts_(b, "\"");
                any = true;
        }
        if (le) {
                puts_(b, any ? ",le=\"" : "{le=\"");
                puts_(b, le);
                puts_(b, "\"");
                any = true;
        }
        if (any)
                puts_(b, "}");
        format_value(num, sizeof(num), v);
        puts_(b, " ");
        puts_(b, num);
        puts_(b, "\n");
}

static void put_family(struct buf *b, const struct family *f, enum metric id)
{
        static const char *const types[] = {
            [METRIC_COUNTER] = "counter",
            [METRIC_GAUGE] = "gauge",
            [METRIC_HISTOGRAM] = "histogram",
        };
        const char *name = table[id].name;

        puts_(b, "# HELP ");
        puts_(b, name);
        puts_(b, " ");
        put_escaped(b, table[id].help, false);
        puts_(b, "\n# TYPE ");
        puts_(b, name);
        puts_(b, " ");
        puts_(b, types[table[id].type]);
        puts_(b, "\n");
        for (size_t i = 0; i < f->n; i++) {
                const struct series *s = &f->v[i];
                uint64_t cumulative = 0;
                char le[40];

                if (table[id].type != METRIC_HISTOGRAM) {
                        put_sample(b, name, "", id, s, NULL, s->value);
                        continue;
                }
                for (size_t k = 0; k < N_BOUNDS; k++) {
                        cumulative += s->buckets[k];
                        format_value(le, sizeof(le), bounds[k]);
                        put_sample(b, name, "_bucket", id, s, le, (double)cumulative);
                }
                put_sample(b, name, "_bucket", id, s, "+Inf", (double)s->count);
                put_sample(b, name, "_sum", id, s, NULL, s->sum);
                put_sample(b, name, "_count", id, s, NULL, (double)s->count);
        }
}

int metrics_render(struct metrics *m, char **out, size_t *len)
{
        struct buf b = {0};

        if (!m)
                return -EINVAL;
        pthread_mutex_lock(&m->lock);
        for (int id = 0; id < METRIC__COUNT; id++)
                put_family(&b, &m->fam[id], (enum metric)id);
        pthread_mutex_unlock(&m->lock);
        if (b.oom || !b.p) {
                free(b.p);
                return -ENOMEM;
        }
        *out = b.p;
        *len = b.len;
        return 0;
}

/* HTTP ----------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
        struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
        enum MHD_Result ret;

        if (!r) {
                if (mode == MHD_RESPMEM_MUST_FREE)
                        free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *s)
{
        return reply(c, status, "text/plain; charset=utf-8", (void *)s, strlen(s),
                     MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result readyz(struct metrics *m, struct MHD_Connection *c)
{
        char why[WHY_SIZE] = "", body[WHY_SIZE + 16];

        if (!m->health.ready || m->health.ready(m->health.opaque, why, sizeof(why)))
                return text(c, MHD_HTTP_OK, "ready\n");
        why[sizeof(why) - 1] = '\0';
        for (char *p = why; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        snprintf(body, sizeof(body), "not ready: %s\n", *why ? why : "(no reason given)");
        return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
        struct metrics *m = cls;
        char *body;
        size_t len;

        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)req_cls;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
            strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
        if (strcmp(url, "/metrics") == 0) {
                if (metrics_render(m, &body, &len) < 0)
                        return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
                return reply(c, MHD_HTTP_OK, CONTENT_TYPE, body, len,
                             MHD_RESPMEM_MUST_FREE);
        }
        if (strcmp(url, "/healthz") == 0)
                return text(c, MHD_HTTP_OK, "ok\n");
        if (strcmp(url, "/readyz") == 0)
                return readyz(m, c);
        return text(c, MHD_HTTP_NOT_FOUND,
                    "not found: try /metrics, /healthz or /readyz\n");
}

/* Listening ------------------------------------------------------------ */

/* Splits "host:port" or "[v6]:port" into host and port. */
static int split_listen(const char *spec, char *host, size_t hsize, char *port,
                        size_t psize)
{
        const char *colon, *h = spec, *end;

        if (*spec == '[') {
                end = strchr(spec, ']');
                if (!end || end[1] != ':')
                        return -EINVAL;
                h = spec + 1;
                colon = end + 1;
        } else {
                colon = strrchr(spec, ':');
                if (!colon || memchr(spec, ':', (size_t)(colon - spec)))
                        return -EINVAL; /* none, or an IPv6 address without [] */
                end = colon;
        }
        if (end == h || (size_t)(end - h) >= hsize || !colon[1] ||
            strlen(colon + 1) >= psize ||
            strspn(colon + 1, "0123456789") != strlen(colon + 1))
                return -EINVAL;
        if (strtol(colon + 1, NULL, 10) > 65535)
                return -EINVAL;
        memcpy(host, h, (size_t)(end - h));
        host[end - h] = '\0';
        snprintf(port, psize, "%s", colon + 1);
        return 0;
}

/* A listening socket on the first address of spec that takes one. */
static int bind_listen(const char *spec, int *family, char *err, size_t errsize)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        char host[256], port[8];
        int fd = -1, e = 0, r;

        if (split_listen(spec, host, sizeof(host), port, sizeof(port)) < 0) {
                snprintf(err, errsize,
                         "metrics.listen: expected HOST:PORT (an IPv6 address in []), "
                         "got \"%s\"",
                         spec);
                return -EINVAL;
        }
        r = getaddrinfo(host, port, &hints, &res);
        if (r) {
                snprintf(err, errsize, "metrics.listen %s: %s", spec, gai_strerror(r));
                return -EADDRNOTAVAIL;
        }
        for (struct addrinfo *a = res; a; a = a->ai_next) {
                const int one = 1;

                fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0) {
                        e = errno;
                        continue;
                }
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (a->ai_family == AF_INET6)
                        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
                if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
                        *family = a->ai_family;
                        break;
                }
                e = errno;
                close(fd);
                fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0) {
                snprintf(err, errsize, "metrics.listen %s: cannot listen: %s", spec,
                         strerror(e ? e : EADDRNOTAVAIL));
                return -(e ? e : EADDRNOTAVAIL);
        }
        return fd;
}

static void make_url(struct metrics *m, int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;

        memset(&ss, 0, sizeof(ss)); /* AF_UNSPEC if getsockname fails */
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
                if (ss.ss_family == AF_INET6) {
                        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
                        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                        port = ntohs(in6->sin6_port);
                } else {
                        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
                        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                        port = ntohs(in->sin_port);
                }
        }
        snprintf(m->url, sizeof(m->url),
                 ss.ss_family == AF_INET6 ? "http://[%s]:%u" : "http://%s:%u", host,
                 port);
}

/* The series that exist from the start: one for each metric without labels,
 * the known values of one-label metrics, and build_info. */
static int initial_series(struct metrics *m)
{
        for (int id = 0; id < METRIC__COUNT; id++) {
                const char *const *v = table[id].initial;

                /* values[] below holds one value: only one-label metrics
                 * may have initial values */
                assert(!v || n_labels((enum metric)id) == 1);
                if (n_labels((enum metric)id) == 0 && !series(m, (enum metric)id, NULL))
                        return -ENOMEM;
                for (; v && *v; v++) {
                        const char *values[] = {*v};
                        if (!series(m, (enum metric)id, values))
                                return -ENOMEM;
                }
        }
        const char *ver[] = {BPJS_VERSION};
        struct series *s = series(m, METRIC_BUILD_INFO, ver);
        if (!s)
                return -ENOMEM;
        s->value = 1;
        return 0;
}

int metrics_open(const char *listen, const struct metrics_health *health,
                 struct metrics **out, char *err, size_t errsize)
{
        struct metrics *m = NULL;
        sigset_t all, old;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
        int fd = -1, family = AF_INET, r;

        if (!listen || !*listen) {
                *out = NULL;
                return 0;
        }
        m = calloc(1, sizeof(*m));
        if (!m) {
                snprintf(err, errsize, "metrics: out of memory");
                return -ENOMEM;
        }
        pthread_mutex_init(&m->lock, NULL);
        if (health)
                m->health = *health;
        r = initial_series(m);
        if (r < 0) {
                snprintf(err, errsize, "metrics: out of memory");
                goto out;
        }
        fd = bind_listen(listen, &family, err, errsize);
        if (fd < 0) {
                r = fd;
                goto out;
        }
        make_url(m, fd);
        if (family == AF_INET6)
                flags |= MHD_USE_IPv6;
        /* The listener's thread takes no signals: they are the main loop's
         * (signalfd), whatever the order the daemon opens things in. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        /* clang-format off */
        m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
                MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, PER_ADDRESS_LIMIT,
                MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                MHD_OPTION_END);
        /* clang-format on */
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        fd = -1; /* libmicrohttpd's now: it closes it on failure and on stop */
        if (!m->daemon) {
                snprintf(err, errsize,
                         "metrics.listen %s: cannot start the HTTP listener", listen);
                r = -EIO;
                goto out;
        }
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        if (r < 0) {
                metrics_close(m);
                return r;
        }
        *out = m;
        return 0;
}

void metrics_close(struct metrics *m)
{
        if (!m)
                return;
        if (m->daemon)
                MHD_stop_daemon(m->daemon);
        for (int id = 0; id < METRIC__COUNT; id++) {
                for (size_t i = 0; i < m->fam[id].n; i++)
                        free(m->fam[id].v[i].values);
                free(m->fam[id].v);
        }
        pthread_mutex_destroy(&m->lock);
        free(m);
}

const char *metrics_url(const struct metrics *m)
{
        return m ? m->url : NULL;
}
