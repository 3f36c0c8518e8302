#include "publish.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consume.h"
#include "log.h"
#include "metrics.h"

#define MAX_INFLIGHT 5000 /* messages handed to the producer; bounds its memory */
#define FETCH_ROWS   2000

struct publish {
        struct journal *journal;
        rd_kafka_t *rk;
        int64_t after_seq; /* highest outbox seq handed to the producer */
        size_t inflight;
        int64_t *done; /* delivered, to delete */
        size_t n_done, cap_done;
        int64_t retry_from; /* lowest failed seq, or 0 */
        int64_t refused_seq;
        struct metrics *metrics; /* the row the producer last refused, said once */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        struct publish *p = opaque;
        int64_t seq = (int64_t)(intptr_t)m->_private;

        (void)rk;
        p->inflight--;
        if (m->err) {
                log_warning("publish",
                            "outbox row %lld to %s not delivered: %s; will retry",
                            (long long)seq, rd_kafka_topic_name(m->rkt),
                            rd_kafka_err2str(m->err));
                if (!p->retry_from || seq < p->retry_from)
                        p->retry_from = seq;
                return;
        }
        if (p->n_done == p->cap_done) {
                size_t cap = p->cap_done ? p->cap_done * 2 : 1024;
                int64_t *d = realloc(p->done, cap * sizeof(*d));
                if (!d)
                        return; /* kept in the outbox; published again later */
                p->done = d;
                p->cap_done = cap;
        }
        p->done[p->n_done++] = seq;
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

static int produce(int64_t seq, const struct journal_out *o, void *opaque)
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
                    "outbox row %lld to %s: a %zu-byte value is larger than a record "
                    "may be; the first %d bytes are sent, with a truncated_from header",
                    (long long)seq, o->topic, len, MAX_VALUE);
                len = MAX_VALUE;
        }
        e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(o->topic),
                              RD_KAFKA_V_KEY(o->key, o->key_len),
                              RD_KAFKA_V_VALUE((void *)o->value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE((void *)(intptr_t)seq),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (e) {
                rd_kafka_headers_destroy(hdrs);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL && seq != p->refused_seq) {
                        /* said once a row; the row stays and is tried again */
                        log_error("publish",
                                  "outbox row %lld to %s refused by the producer: "
                                  "%s; results after it wait",
                                  (long long)seq, o->topic, rd_kafka_err2str(e));
                        p->refused_seq = seq;
                }
                return 1; /* stop here, try again next poll: order is kept */
        }
        p->inflight++;
        p->after_seq = seq;
        return 0;
}

int publish_poll(struct publish *p)
{
        int delivered, rc;

        rd_kafka_poll(p->rk, 0);
        if (p->retry_from && p->inflight == 0) {
                /* resend everything from the first failure: order is kept */
                p->after_seq = p->retry_from - 1;
                p->retry_from = 0;
        }
        if (!p->retry_from && p->inflight < MAX_INFLIGHT) {
                rc = journal_outbox_fetch(p->journal, p->after_seq, FETCH_ROWS, produce,
                                          p);
                if (rc < 0)
                        return rc;
        }
        if (p->n_done == 0)
                return 0;
        rc = journal_outbox_delete(p->journal, p->done, p->n_done);
        if (rc)
                return rc; /* rows stay and are published again: at-least-once */
        delivered = (int)p->n_done;
        metrics_add(p->metrics, METRIC_RESULTS_PUBLISHED, NULL, delivered);
        p->n_done = 0;
        return delivered;
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
                if (p->n_done)
                        journal_outbox_delete(p->journal, p->done, p->n_done);
                rd_kafka_destroy(p->rk);
        }
        free(p->done);
        free(p);
}
