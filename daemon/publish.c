#include "publish.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consume.h"
#include "log.h"
#include "metrics.h"

#define MAX_INFLIGHT 5000 /* messages handed to the producer; bounds its memory */

/* A message handed to the producer, in the order of the outbox. */
struct flight {
        int64_t pos;
        bool done;
};

struct publish {
        struct journal *journal;
        rd_kafka_t *rk;
        int64_t after; /* the highest outbox position handed to the producer */
        size_t inflight;
        /* what was handed over and is not yet behind `through`, in order: a
         * ring of MAX_INFLIGHT */
        struct flight ring[MAX_INFLIGHT];
        size_t head, n;
        int64_t through;     /* every message up to this position delivered */
        int64_t deleted;     /* ... and deleted from the outbox */
        int64_t delivered;   /* delivered since the last delete */
        int64_t retry_from;  /* lowest position not delivered, or 0 */
        int64_t refused_pos; /* the message the producer last refused, said once */
        struct metrics *metrics;
};

/* The ring's entry for pos (delivery reports come in order per partition,
 * not across them), or NULL. */
static struct flight *flight_find(struct publish *p, int64_t pos)
{
        size_t lo = 0, hi = p->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                struct flight *f = &p->ring[(p->head + mid) % MAX_INFLIGHT];
                if (f->pos == pos)
                        return f;
                if (f->pos < pos)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        struct publish *p = opaque;
        int64_t pos = (int64_t)(intptr_t)m->_private;
        struct flight *f;

        (void)rk;
        p->inflight--;
        if (m->err) {
                log_warning("publish",
                            "outbox message %lld to %s not delivered: %s; will retry",
                            (long long)pos, rd_kafka_topic_name(m->rkt),
                            rd_kafka_err2str(m->err));
                if (!p->retry_from || pos < p->retry_from)
                        p->retry_from = pos;
                return;
        }
        f = flight_find(p, pos);
        if (!f || f->done)
                return; /* from before a retry: sent again anyway */
        f->done = true;
        p->delivered++;
        /* the delivered prefix moves on: those may leave the outbox */
        while (p->n && p->ring[p->head].done) {
                p->through = p->ring[p->head].pos;
                p->head = (p->head + 1) % MAX_INFLIGHT;
                p->n--;
        }
}

int publish_open(const struct conf *c, struct journal *j, struct publish **out, char *err,
                 size_t errsize)
{
        struct publish *p = calloc(1, sizeof(*p));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char msg[256];
        int rc = -EINVAL;

        if (!p || !kc) {
                rc = -ENOMEM;
                goto out;
        }
        p->journal = j;
        if (rd_kafka_conf_set(kc, "bootstrap.servers", c->kafka.brokers, msg,
                              sizeof(msg))) {
                snprintf(err, errsize, "kafka producer: %s", msg);
                goto out;
        }
        rd_kafka_conf_set(kc, "linger.ms", "5", msg, sizeof(msg));
        rd_kafka_conf_set(kc, "message.max.bytes", "1100000", msg, sizeof(msg));
        rd_kafka_conf_set(kc, "client.id", "bpjs-syncd", msg, sizeof(msg));
        for (size_t i = 0; i < c->kafka.n_properties; i++) {
                /* consumer-only properties do not concern the producer */
                const char *k = c->kafka.properties[i].key;
                if (strncmp(k, "auto.", 5) && strncmp(k, "enable.auto", 11) &&
                    strncmp(k, "group.", 6) && strncmp(k, "session.", 8) &&
                    strncmp(k, "heartbeat.", 10) &&
                    strncmp(k, "partition.assignment", 20) && strncmp(k, "fetch.", 6) &&
                    strncmp(k, "max.poll", 8) && strncmp(k, "isolation", 9) &&
                    rd_kafka_conf_set(kc, k, c->kafka.properties[i].value, msg,
                                      sizeof(msg))) {
                        snprintf(err, errsize, "%s:%d:%d: kafka.properties.%s: %s",
                                 c->path, c->kafka.properties[i].mark.line,
                                 c->kafka.properties[i].mark.column, k, msg);
                        goto out;
                }
        }
        /* ordered, no duplicates from the producer's own retries */
        rd_kafka_conf_set(kc, "enable.idempotence", "true", msg, sizeof(msg));
        rd_kafka_conf_set(kc, "acks", "all", msg, sizeof(msg));
        rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
        consume_set_logger(kc);
        rd_kafka_conf_set_opaque(kc, p);
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, msg, sizeof(msg));
        if (!p->rk) {
                snprintf(err, errsize, "kafka producer: %s", msg);
                goto out;
        }
        kc = NULL;
        *out = p;
        p = NULL;
        rc = 0;
out:
        if (kc)
                rd_kafka_conf_destroy(kc);
        publish_close(p);
        return rc;
}

/* The largest value a record may carry: as large as any message the
 * consumer can receive from brokers with the default message.max.bytes
 * (1,048,588), so a dead letter is the original byte for byte; the producer
 * allows a little more for the headers. Anything larger (a broker configured
 * for bigger messages) is cut there, with a truncated_from header. */
#define MAX_VALUE 1048588

static int produce(int64_t pos, const struct journal_out *o, void *opaque)
{
        struct publish *p = opaque;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
        size_t len = o->value_len;
        rd_kafka_resp_err_t e;
        char size[24];

        if (o->headers_len) {
                const char *h = o->headers, *end = h + o->headers_len;
                while (h < end) {
                        const char *name = h, *val = name + strlen(name) + 1;
                        if (val >= end)
                                break;
                        rd_kafka_header_add(hdrs, name, -1, val, (ssize_t)strlen(val));
                        h = val + strlen(val) + 1;
                }
        }
        if (len > MAX_VALUE) {
                snprintf(size, sizeof(size), "%zu", len);
                rd_kafka_header_add(hdrs, "truncated_from", -1, size, -1);
                log_error(
                    "publish",
                    "outbox message %lld to %s: a %zu-byte value is larger than a "
                    "record may be; the first %d bytes are sent, with a truncated_from "
                    "header",
                    (long long)pos, o->topic, len, MAX_VALUE);
                len = MAX_VALUE;
        }
        e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(o->topic),
                              RD_KAFKA_V_KEY(o->key, o->key_len),
                              RD_KAFKA_V_VALUE((void *)o->value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE((void *)(intptr_t)pos),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (e) {
                rd_kafka_headers_destroy(hdrs);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL && pos != p->refused_pos) {
                        /* said once a message; it stays and is tried again */
                        log_error("publish",
                                  "outbox message %lld to %s refused by the producer: "
                                  "%s; results after it wait",
                                  (long long)pos, o->topic, rd_kafka_err2str(e));
                        p->refused_pos = pos;
                }
                return 1; /* stop here, try again next poll: order is kept */
        }
        p->ring[(p->head + p->n) % MAX_INFLIGHT] = (struct flight){pos, false};
        p->n++;
        p->inflight++;
        p->after = pos;
        return 0;
}

/* Every message up to `through` was delivered: out of the outbox, in one
 * range. On failure they stay and are published again: at-least-once. */
static int forget_delivered(struct publish *p)
{
        int64_t delivered = p->delivered;
        int rc;

        if (p->through <= p->deleted)
                return 0;
        rc = journal_outbox_delete_through(p->journal, p->through, delivered);
        if (rc)
                return rc;
        p->deleted = p->through;
        p->delivered = 0;
        metrics_add(p->metrics, METRIC_RESULTS_PUBLISHED, NULL, (double)delivered);
        return delivered > INT32_MAX ? INT32_MAX : (int)delivered;
}

int publish_poll(struct publish *p)
{
        int rc;

        rd_kafka_poll(p->rk, 0);
        if (p->retry_from && p->inflight == 0) {
                /* resend everything from the first failure: order is kept
                 * (what was delivered after it is sent again: at least once) */
                p->after = p->retry_from - 1;
                p->retry_from = 0;
                p->head = p->n = 0;
        }
        if (!p->retry_from && p->n < MAX_INFLIGHT) {
                rc = journal_outbox_fetch(p->journal, p->after, MAX_INFLIGHT - p->n,
                                          produce, p);
                if (rc < 0)
                        return rc;
        }
        return forget_delivered(p);
}

void publish_set_metrics(struct publish *p, struct metrics *m)
{
        p->metrics = m;
}

size_t publish_inflight(const struct publish *p)
{
        return p->inflight;
}

size_t publish_flush(struct publish *p, int timeout_ms)
{
        int64_t end = clock_mono_ms() + timeout_ms, left;

        while (clock_mono_ms() < end) {
                if (publish_poll(p) < 0)
                        break;
                rd_kafka_flush(p->rk, 50);
                if (p->inflight == 0 && journal_outbox_count(p->journal, &left) == 0 &&
                    left == 0)
                        return 0;
        }
        publish_poll(p);
        return journal_outbox_count(p->journal, &left) == 0 ? (size_t)left : p->inflight;
}

void publish_close(struct publish *p)
{
        if (!p)
                return;
        if (p->rk) {
                rd_kafka_flush(p->rk, 2000);
                rd_kafka_poll(p->rk, 0);
                (void)forget_delivered(p);
                rd_kafka_destroy(p->rk);
        }
        free(p);
}
