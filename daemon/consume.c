#include "consume.h"

#include <assert.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decide.h"
#include "event.h"
#include "item.h"
#include "log.h"
#include "metrics.h"
#include "nik.h"
#include "result.h"

struct consume {
        const struct conf *conf;
        struct journal *journal;
        rd_kafka_t *rk;
        rd_kafka_queue_t *queue;
        rd_kafka_message_t **held; /* consumed, not yet journaled */
        size_t n_held, cap_held;
        bool joined;
        bool paused;
        struct metrics *metrics;
        struct decide_worker worker; /* reused from one event to the next */
        /* decisions of the open transaction, counted once it commits: a
         * transaction that fails (a full disk) is decided again */
        unsigned decided[RESULT__COUNT][REASON__COUNT];
};

int consume_apply_properties(const struct conf *c, void *rd_conf, char *err,
                             size_t errsize)
{
        char msg[256];

        for (size_t i = 0; i < c->kafka.n_properties; i++) {
                const struct conf_kv *kv = &c->kafka.properties[i];
                if (rd_kafka_conf_set(rd_conf, kv->key, kv->value, msg, sizeof(msg)) !=
                    RD_KAFKA_CONF_OK) {
                        snprintf(err, errsize, "%s:%d:%d: kafka.properties.%s: %s",
                                 c->path, kv->mark.line, kv->mark.column, kv->key, msg);
                        return -EINVAL;
                }
        }
        return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        char ctx[64];

        snprintf(ctx, sizeof(ctx), "kafka[%s %s]", rd_kafka_name(rk), fac);
        /* librdkafka uses syslog levels too */
        LOG_AT(level < LOG_LVL_ERR ? LOG_LVL_ERR : level, ctx, "%s", buf);
}

void consume_set_logger(void *rd_conf)
{
        rd_kafka_conf_set_log_cb(rd_conf, on_log);
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct consume *cs = opaque;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                log_notice("consume", "assigned %d partition(s)", parts->cnt);
                rd_kafka_assign(rk, parts);
                if (cs->paused)
                        rd_kafka_pause_partitions(rk, parts);
                cs->joined = true;
                return;
        }
        /* Everything consumed so far is journaled (the loop journals before it
         * polls again), so the stored offsets can be committed now. */
        log_notice("consume", "revoking %d partition(s)", parts->cnt);
        rd_kafka_commit(rk, NULL, 0);
        rd_kafka_assign(rk, NULL);
}

int consume_open(const struct conf *c, struct journal *j, struct consume **out, char *err,
                 size_t errsize)
{
        struct consume *cs = calloc(1, sizeof(*cs));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *topics = NULL;
        char msg[256];
        int rc = -EINVAL;

        if (!cs || !kc) {
                rc = -ENOMEM;
                goto out;
        }
        cs->conf = c;
        cs->journal = j;
        static const char *const defaults[][2] = {
            {"enable.auto.offset.store", "false"},
            {"enable.auto.commit", "true"},
            {"auto.commit.interval.ms", "1000"},
            {"auto.offset.reset", "earliest"},
            {"enable.partition.eof", "false"},
            {"client.id", "bpjs-syncd"},
            /* memory (issue 9): librdkafka prefetches up to 64 MiB by default;
             * a few MiB keep a 1,000-event journal transaction fed */
            {"queued.max.messages.kbytes", "4096"},
            {"queued.min.messages", "20000"},
            {"fetch.max.bytes", "4194304"},
            /* latency: a fetch that finds nothing waits at most this long;
             * librdkafka's 500 ms made a quiet daemon's p50 265 ms where the
             * broker (the mock at least) does not answer early */
            {"fetch.wait.max.ms", "100"},
        };
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
                rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], msg, sizeof(msg));
        if (rd_kafka_conf_set(kc, "bootstrap.servers", c->kafka.brokers, msg,
                              sizeof(msg)) ||
            rd_kafka_conf_set(kc, "group.id", c->kafka.group_id, msg, sizeof(msg))) {
                snprintf(err, errsize, "%s: kafka: %s", c->path, msg);
                goto out;
        }
        rc = consume_apply_properties(c, kc, err, errsize);
        if (rc)
                goto out;
        /* at-least-once depends on these two; the operator may not undo them */
        rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", msg, sizeof(msg));
        rd_kafka_conf_set_rebalance_cb(kc, rebalance);
        consume_set_logger(kc);
        rd_kafka_conf_set_opaque(kc, cs);
        cs->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, msg, sizeof(msg));
        if (!cs->rk) {
                snprintf(err, errsize, "kafka consumer: %s", msg);
                rc = -EINVAL;
                goto out;
        }
        kc = NULL;
        rd_kafka_poll_set_consumer(cs->rk);
        cs->queue = rd_kafka_queue_get_consumer(cs->rk);
        topics = rd_kafka_topic_partition_list_new((int)c->kafka.n_topics);
        for (size_t i = 0; i < c->kafka.n_topics; i++)
                rd_kafka_topic_partition_list_add(topics, c->kafka.topics[i],
                                                  RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(cs->rk, topics);
        if (e) {
                snprintf(err, errsize, "kafka subscribe: %s", rd_kafka_err2str(e));
                rc = -EINVAL;
                goto out;
        }
        *out = cs;
        cs = NULL;
        rc = 0;
out:
        if (topics)
                rd_kafka_topic_partition_list_destroy(topics);
        if (kc)
                rd_kafka_conf_destroy(kc);
        consume_close(cs);
        return rc;
}

bool consume_joined(const struct consume *cs)
{
        return cs->joined;
}

/* The dead-letter headers: name\0value\0 pairs. */
static size_t dlq_headers(char *buf, size_t size, const struct event_error *err,
                          const rd_kafka_message_t *m)
{
        return (size_t)snprintf(buf, size,
                                "reason%c%s%cdetail%c%s%csource_topic%c%s%c"
                                "source_partition%c%d%csource_offset%c%lld%c",
                                0, reason_name(err->reason), 0, 0, err->field, 0, 0,
                                rd_kafka_topic_name(m->rkt), 0, 0, (int)m->partition, 0,
                                0, (long long)m->offset, 0);
}

/* Parses, decides and journals one message (in the open transaction). */
static int take(struct consume *cs, const rd_kafka_message_t *m, int64_t now)
{
        static struct event ev; /* large; the loop is single-threaded */
        struct event_error perr = {0};
        struct decision d = {0};
        struct journal_record rec = {0};
        struct result res = {0};
        const struct conf_program *prog = NULL;
        char headers[512], masked[NIK_MASKED_SIZE];
        char *value = NULL, *item = NULL;
        size_t len = 0, item_len = 0;
        int64_t used = 0;
        int rc;

        int bad = event_parse(m->payload ? m->payload : "", m->payload ? m->len : 0, &ev,
                              &perr);

        if (ev.event_id[0]) {
                rc = journal_event_seen(cs->journal, ev.event_id);
                if (rc < 0)
                        return rc;
                if (rc == 1) {
                        log_info(
                            "consume",
                            "[%s/%d@%lld] event %s seen before: a redelivery, nothing "
                            "to do",
                            rd_kafka_topic_name(m->rkt), (int)m->partition,
                            (long long)m->offset, ev.event_id);
                        return 0;
                }
        }
        if (bad) {
                d.status = RESULT_REJECTED;
                d.reason = perr.reason;
                d.dead_letter = true;
        } else {
                prog = conf_program_find(cs->conf, ev.program);
                if (prog && ((rc = journal_worker(cs->journal, ev.nik, &cs->worker)) ||
                             (rc = journal_quota_used(cs->journal, prog->id, &used))))
                        return rc;
                if (!prog)
                        cs->worker.n = 0;
                decide(&ev, prog, &cs->worker, used, &d);
                if (d.reason == REASON_UNKNOWN_PROGRAM) {
                        perr.reason = REASON_UNKNOWN_PROGRAM;
                        snprintf(perr.field, sizeof(perr.field), "program");
                }
        }
        /* decide registers only in a program it knows */
        assert(prog || d.action != DECIDE_REGISTER);

        res = (struct result){
            .event_id = ev.event_id[0] ? ev.event_id : NULL,
            .program = ev.program[0] ? ev.program : NULL,
            .nik = ev.nik[0] ? ev.nik : NULL,
            .status = d.status,
            .reason = d.reason ? reason_name(d.reason) : NULL,
            .detail = d.status == RESULT_REJECTED ? perr.field : NULL,
            .covered_by = d.covered_by                  ? d.covered_by
                          : d.action == DECIDE_REGISTER ? prog->id
                                                        : NULL,
            .at_ms = now,
            .source_topic = rd_kafka_topic_name(m->rkt),
            .source_partition = m->partition,
            .source_offset = m->offset,
        };
        value = result_encode(&res, &len);
        if (!value)
                return -ENOMEM;
        if (d.action != DECIDE_NOTHING) {
                rc = d.action == DECIDE_REGISTER
                         ? item_registration(&ev, prog, &item, &item_len)
                         : item_deactivation(&ev, &item, &item_len);
                if (rc) {
                        free(value);
                        return rc;
                }
        }
        rec = (struct journal_record){
            .event_id = res.event_id,
            .nik = ev.nik,
            .program = res.program,
            .type = ev.type,
            .status = d.status,
            .reason = res.reason,
            .covered_by = d.covered_by,
            .topic = rd_kafka_topic_name(m->rkt),
            .partition = m->partition,
            .offset = m->offset,
            .at_ms = now,
            .action = d.action,
            .start_month = prog ? prog->start_month : 0,
            .end_month = prog ? prog->end_month : 0,
            .item = item,
            .item_len = item_len,
        };
        rec.out[rec.n_out++] = (struct journal_out){
            .topic = cs->conf->kafka.results_topic,
            .key = ev.nik[0] ? ev.nik : m->key,
            .key_len = ev.nik[0] ? NIK_LEN : m->key_len,
            .value = value,
            .value_len = len,
        };
        if (d.dead_letter)
                rec.out[rec.n_out++] = (struct journal_out){
                    .topic = cs->conf->kafka.dlq_topic,
                    .key = m->key,
                    .key_len = m->key_len,
                    .value = m->payload ? m->payload : "",
                    .value_len = m->payload ? m->len : 0,
                    .headers = headers,
                    .headers_len = dlq_headers(headers, sizeof(headers), &perr, m),
                };
        rc = journal_record(cs->journal, &rec);
        if (rc == 0 && d.status < RESULT__COUNT && d.reason < REASON__COUNT)
                cs->decided[d.status][d.reason]++;
        if (rc == 0) {
                const struct log_field fields[] = {
                    {"BPJS_PROGRAM", ev.program},
                    {"BPJS_NIK", ev.nik[0] ? nik_mask(ev.nik, masked) : ""},
                    {"BPJS_EVENT_ID", ev.event_id},
                    {"BPJS_STATUS", result_status_name(d.status)},
                    {"BPJS_REASON", d.reason ? reason_name(d.reason) : ""},
                };
                LOG_FIELDS(
                    LOG_LVL_INFO, "consume", fields, 5, "[%s/%d@%lld] %s %s %s: %s%s%s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                    ev.event_id[0] ? ev.event_id : "(no id)", nik_mask(ev.nik, masked),
                    ev.program[0] ? ev.program : "-", result_status_name(d.status),
                    d.reason ? " " : "", d.reason ? reason_name(d.reason) : "");
        }
        free(value);
        free(item);
        return rc;
}

/* Journals every held message in one transaction; then stores offsets. */
static int journal_held(struct consume *cs)
{
        rd_kafka_topic_partition_list_t *offs;
        int64_t now = clock_now_ms();
        int rc = journal_begin(cs->journal);

        memset(cs->decided, 0, sizeof(cs->decided));

        for (size_t i = 0; rc == 0 && i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                int64_t next;

                rc = journal_offset_next(cs->journal, topic, m->partition, &next);
                if (rc == 0 && m->offset >= next)
                        rc = take(cs, m, now);
                if (rc == 0 && m->offset >= next)
                        rc = journal_offset_set(cs->journal, topic, m->partition,
                                                m->offset + 1);
        }
        if (rc == 0)
                rc = journal_counter_add(cs->journal, "consumed", (int64_t)cs->n_held);
        if (rc == 0)
                rc = journal_commit(cs->journal);
        if (rc) {
                journal_rollback(cs->journal);
                return rc;
        }
        offs = rd_kafka_topic_partition_list_new((int)cs->n_held);
        for (size_t i = 0; i < cs->n_held; i++) {
                rd_kafka_message_t *m = cs->held[i];
                rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
                    offs, rd_kafka_topic_name(m->rkt), m->partition);
                if (!p)
                        p = rd_kafka_topic_partition_list_add(
                            offs, rd_kafka_topic_name(m->rkt), m->partition);
                if (m->offset + 1 > p->offset)
                        p->offset = m->offset + 1;
        }
        metrics_add(cs->metrics, METRIC_EVENTS_CONSUMED, NULL, (double)cs->n_held);
        for (int st = 0; st < RESULT__COUNT; st++)
                for (int r = 0; r < REASON__COUNT; r++) {
                        const char *labels[] = {result_status_name(st),
                                                r ? reason_name(r) : "none"};
                        if (cs->decided[st][r])
                                metrics_add(cs->metrics, METRIC_DECISIONS, labels,
                                            cs->decided[st][r]);
                }
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(cs->rk, offs);
        if (e)
                log_warning("consume",
                            "storing offsets: %s (they will be redelivered and "
                            "skipped)",
                            rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(offs);
        rc = (int)cs->n_held;
        for (size_t i = 0; i < cs->n_held; i++)
                rd_kafka_message_destroy(cs->held[i]);
        cs->n_held = 0;
        return rc;
}

int consume_poll(struct consume *cs, size_t max, int timeout_ms)
{
        ssize_t n;

        if (cs->n_held == 0) {
                if (cs->cap_held < max) {
                        // NOLINTNEXTLINE(bugprone-sizeof-expression): array of pointers
                        void *p = realloc(cs->held, max * sizeof(*cs->held));
                        if (!p)
                                return -ENOMEM;
                        cs->held = p;
                        cs->cap_held = max;
                }
                n = rd_kafka_consume_batch_queue(cs->queue, timeout_ms, cs->held, max);
                if (n < 0)
                        return -EIO;
                /* errors are reported in-band; keep only messages */
                size_t k = 0;
                for (ssize_t i = 0; i < n; i++) {
                        rd_kafka_message_t *m = cs->held[i];
                        if (m->err) {
                                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                        log_warning("consume", "%s",
                                                    rd_kafka_message_errstr(m));
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        cs->held[k++] = m;
                }
                cs->n_held = k;
                if (k == 0)
                        return 0;
        }
        return journal_held(cs);
}

void consume_pause(struct consume *cs, bool paused)
{
        rd_kafka_topic_partition_list_t *parts = NULL;

        if (cs->paused == paused)
                return;
        cs->paused = paused;
        if (rd_kafka_assignment(cs->rk, &parts) || !parts)
                return;
        if (paused)
                rd_kafka_pause_partitions(cs->rk, parts);
        else
                rd_kafka_resume_partitions(cs->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
}

void consume_set_metrics(struct consume *cs, struct metrics *m)
{
        cs->metrics = m;
}

void consume_reconfigure(struct consume *cs, const struct conf *c)
{
        cs->conf = c;
}

bool consume_paused(const struct consume *cs)
{
        return cs->paused;
}

int64_t consume_lag(struct consume *cs)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        int64_t lag = -1;

        if (rd_kafka_assignment(cs->rk, &parts) || !parts)
                return -1;
        if (parts->cnt &&
            rd_kafka_position(cs->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                lag = 0;
                for (int i = 0; i < parts->cnt; i++) {
                        const rd_kafka_topic_partition_t *p = &parts->elems[i];
                        int64_t lo, hi;
                        if (rd_kafka_get_watermark_offsets(cs->rk, p->topic, p->partition,
                                                           &lo, &hi) ||
                            hi < 0)
                                continue;
                        lag += p->offset >= 0 ? hi - p->offset : hi - lo;
                }
        }
        rd_kafka_topic_partition_list_destroy(parts);
        return lag;
}

void consume_close(struct consume *cs)
{
        if (!cs)
                return;
        for (size_t i = 0; i < cs->n_held; i++)
                rd_kafka_message_destroy(cs->held[i]);
        free(cs->held);
        decide_worker_release(&cs->worker);
        if (cs->queue)
                rd_kafka_queue_destroy(cs->queue);
        if (cs->rk) {
                rd_kafka_consumer_close(cs->rk);
                rd_kafka_destroy(cs->rk);
        }
        free(cs);
}
