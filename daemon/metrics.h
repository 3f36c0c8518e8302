/* metrics: the daemon's Prometheus metrics and its HTTP listener.
 *
 * One static table (metrics.c) declares every metric: name, type, help text
 * and label names. The daemon updates them from its main thread with
 * metrics_add(), metrics_set() and metrics_observe(); libmicrohttpd answers
 * scrapes on its own thread. One mutex guards the registry, so every function
 * here may be called from any thread.
 *
 * The listener (metrics.listen, loopback by default) serves:
 *   /metrics  the Prometheus text exposition format 0.0.4
 *   /healthz  200 "ok" while the process answers
 *   /readyz   200 "ready" when the health callback says so, else 503 with
 *             the callback's reason
 *
 * metrics_open() with an empty address turns all of it off: it returns 0 and
 * a NULL handle, which every function accepts and ignores. */
#ifndef BPJS_METRICS_H
#define BPJS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* Every metric, in exposition order. Names are prefixed bpjs_sync_. */
enum metric {
        METRIC_EVENTS_CONSUMED,      /* counter */
        METRIC_DECISIONS,            /* counter {status, reason} */
        METRIC_REGISTRATIONS_PUSHED, /* counter {outcome} */
        METRIC_REQUESTS,             /* counter {outcome} */
        METRIC_RETRIES,              /* counter */
        METRIC_BACKLOG,              /* gauge */
        METRIC_INFLIGHT_REQUESTS,    /* gauge */
        METRIC_ENDPOINT_LATENCY,     /* histogram, seconds */
        METRIC_CONSUMER_LAG,         /* gauge, messages */
        METRIC_JOURNAL_BYTES,        /* gauge */
        METRIC_QUOTA_USED,           /* gauge {program} */
        METRIC_QUOTA_LIMIT,          /* gauge {program} */
        METRIC_PREMIUM_COMMITTED,    /* gauge {program}, Rupiah */
        METRIC_BUDGET,               /* gauge {program}, Rupiah; programmes with one */
        METRIC_RESULTS_PUBLISHED,    /* counter */
        METRIC_CIRCUIT_OPEN,         /* gauge 0/1 */
        METRIC_CONSUMING_PAUSED,     /* gauge 0/1 */
        METRIC_TLS_REFUSED,          /* gauge 0/1 */
        METRIC_PARTITIONS_REFUSED,   /* gauge */
        METRIC_BUILD_INFO,           /* gauge {version}, always 1 (set at open) */
        METRIC__COUNT
};

enum metric_type {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_HISTOGRAM,
};

/* At most this many labels per metric, and series per metric (more are
 * dropped: a label must never carry an unbounded value). */
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_SERIES 4096

/* What /readyz asks. ready() runs on the listener's thread, not the
 * daemon's: it must read only what is safe to read from another thread
 * (C11 atomics, or state under the caller's own lock), and must not call
 * metrics_*(). On false it writes a one-line reason into why (n bytes).
 * A NULL health (or ready) means ready whenever the process answers. */
struct metrics_health {
        bool (*ready)(void *opaque, char *why, size_t n);
        void *opaque;
};

struct metrics;

/* Starts the listener on listen ("host:port"; host an IPv4 address, a
 * bracketed IPv6 address or a name; port 0 picks a free one). "" (or NULL)
 * means off: returns 0 with *out NULL. Returns 0, or a negative errno with a
 * message in err; *out is written only on success. */
int metrics_open(const char *listen, const struct metrics_health *health,
                 struct metrics **out, char *err, size_t errsize);

/* Stops the listener and frees everything. Accepts NULL. */
void metrics_close(struct metrics *m);

/* "http://127.0.0.1:9464" (the bound address, so port 0 shows the port it
 * got), or NULL when m is NULL. */
const char *metrics_url(const struct metrics *m);

/* label_values holds one string per label name of the metric, in the
 * table's order (NULL for a metric without labels; a NULL string is "").
 *
 * metrics_add: counters and gauges; a counter ignores v < 0 and NaN.
 * metrics_set: gauges.
 * metrics_observe: histograms (seconds). */
void metrics_add(struct metrics *m, enum metric id, const char *label_values[], double v);
void metrics_set(struct metrics *m, enum metric id, const char *label_values[], double v);
void metrics_observe(struct metrics *m, enum metric id, const char *label_values[],
                     double seconds);

/* The exposition text of every metric (what /metrics serves): a malloc'd,
 * NUL-terminated string in *out and its length in *len. Returns 0, or
 * -ENOMEM (or -EINVAL for a NULL m). */
int metrics_render(struct metrics *m, char **out, size_t *len);

/* The table, for documentation and tests: name (with the prefix), type,
 * help, and label names (NULL-terminated). NULL for an unknown id. */
const char *metric_name(enum metric id);
enum metric_type metric_type(enum metric id);
const char *metric_help(enum metric id);
const char *const *metric_labels(enum metric id);

#endif
