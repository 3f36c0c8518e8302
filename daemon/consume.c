#include "consume.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decide.h"
#include "event.h"
#include "item.h"
#include "keyset.h"
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
        /* The partitions the group gave us, sorted by the journal their
         * offsets were last committed under: ours or none (accepted: the
         * assignment), another journal's (refused: never consumed here), or
         * not read yet (unverified: checked again every VERIFY_MS). */
        rd_kafka_topic_partition_list_t *accepted, *refused, *unverified;
        /* journaled positions not committed yet, with our journal's id */
        rd_kafka_topic_partition_list_t *to_commit;
        int64_t commit_at, verify_at;
        char meta[64];
        struct metrics *metrics;
        /* the batch being decided (arrays of cap_held, reused) */
        struct held *msgs;
        struct journal_facts facts;
        struct journal_position *moved; /* the new positions */
        size_t cap_batch, cap_workers, cap_programs;
        bool *seen_now; /* facts.seen, and the ids decided so far */
        int64_t *next;  /* facts.positions' next, as the batch moves it */
        struct journal_record *recs;
        struct keyset ids, niks;
        /* decisions of the open transaction, counted once it commits: a
         * transaction that fails (a full disk) is decided again */
        unsigned decided[RESULT__COUNT][REASON__COUNT];
};

/* One held message, parsed, and what deciding it made. */
struct held {
        struct event ev;
        struct event_error perr;
        bool bad;
        const struct conf_program *prog;
        long pos;    /* in facts.positions */
        long id;     /* in facts.event_ids, or -1 */
        long worker; /* in facts.workers, or -1 */
        bool taken;  /* decided and recorded in this batch */
        struct decision d;
        char covered_by[EVENT_PROGRAM_MAX + 1];
        char headers[512];
        char *value, *item;
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

/* The journal a committed offset's metadata names, "" if none does. */
static void committed_by(const rd_kafka_topic_partition_t *p,
                         char out[JOURNAL_ID_LEN + 1])
{
        const size_t plen = sizeof(CONSUME_OFFSET_META) - 1;
        const char *m = p->metadata;

        out[0] = 0;
        if (!m || p->metadata_size != plen + JOURNAL_ID_LEN ||
            memcmp(m, CONSUME_OFFSET_META, plen) != 0)
                return;
        for (size_t i = 0; i < JOURNAL_ID_LEN; i++)
                if (!isxdigit((unsigned char)m[plen + i]))
                        return;
        memcpy(out, m + plen, JOURNAL_ID_LEN);
        out[JOURNAL_ID_LEN] = 0;
}

static void parts_add(rd_kafka_topic_partition_list_t *l,
                      const rd_kafka_topic_partition_t *p)
{
        if (!rd_kafka_topic_partition_list_find(l, p->topic, p->partition))
                rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
}

/* Reads the committed offsets of parts and sorts each partition into
 * accepted, refused or unverified. A partition last committed under
 * another journal would have its events decided here without their
 * history (a worker covered there confirmed again): it is refused, and
 * said once, as an error. */
static void verify(struct consume *cs, const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_resp_err_t e = rd_kafka_committed(cs->rk, c, 10000);
        const char *ours = journal_id(cs->journal);
        char owner[JOURNAL_ID_LEN + 1];

        for (int i = 0; i < c->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &c->elems[i];
                rd_kafka_resp_err_t pe = e ? e : p->err;

                rd_kafka_topic_partition_list_del(cs->unverified, p->topic, p->partition);
                if (pe) {
                        log_warning("consume",
                                    "%s[%d]: cannot read its committed offset (%s): not "
                                    "consumed until it can be read",
                                    p->topic, (int)p->partition, rd_kafka_err2str(pe));
                        parts_add(cs->unverified, p);
                        continue;
                }
                committed_by(p, owner);
                if (owner[0] && strcmp(owner, ours) != 0) {
                        log_error(
                            "consume",
                            "%s[%d] was last committed under journal %s, not this "
                            "daemon's journal %s: another bpjs-syncd with a journal "
                            "of its own consumes in group %s. Its events are not "
                            "decided here (they would be decided without their "
                            "history); stop the daemon that should not be in the "
                            "group (docs/operations.md, \"Two journals in one "
                            "group\")",
                            p->topic, (int)p->partition, owner, ours,
                            cs->conf->kafka.group_id);
                        parts_add(cs->refused, p);
                        continue;
                }
                parts_add(cs->accepted, p);
        }
        rd_kafka_topic_partition_list_destroy(c);
}

/* Makes the accepted partitions the assignment (paused if consuming is). */
static void assign_accepted(struct consume *cs)
{
        rd_kafka_assign(cs->rk, cs->accepted);
        if (cs->paused && cs->accepted->cnt)
                rd_kafka_pause_partitions(cs->rk, cs->accepted);
}

static void parts_reset(rd_kafka_topic_partition_list_t **l)
{
        if (*l)
                rd_kafka_topic_partition_list_destroy(*l);
        *l = rd_kafka_topic_partition_list_new(8);
}

/* Commits the journaled positions not committed yet, each with this
 * journal's id in its metadata. */
static void commit_positions(struct consume *cs, bool async)
{
        if (!cs->to_commit || cs->to_commit->cnt == 0)
                return;
        rd_kafka_resp_err_t e = rd_kafka_commit(cs->rk, cs->to_commit, async);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_warning("consume",
                            "committing offsets: %s (the journal has them; Kafka may "
                            "redeliver some, which the journal skips)",
                            rd_kafka_err2str(e));
        parts_reset(&cs->to_commit);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
        (void)rk;
        (void)opaque;
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_warning("consume",
                            "committing offsets of %d partition(s): %s (the journal has "
                            "them; Kafka may redeliver some, which the journal skips)",
                            offsets ? offsets->cnt : 0, rd_kafka_err2str(err));
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct consume *cs = opaque;

        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                parts_reset(&cs->accepted);
                parts_reset(&cs->refused);
                parts_reset(&cs->unverified);
                verify(cs, parts);
                log_notice("consume",
                           "assigned %d partition(s), %d refused, %d not read yet",
                           parts->cnt, cs->refused->cnt, cs->unverified->cnt);
                assign_accepted(cs);
                cs->verify_at = clock_mono_ms() + CONSUME_VERIFY_MS;
                cs->joined = true;
                return;
        }
        /* Everything consumed so far is journaled (the loop journals before it
         * polls again), so its positions can be committed now. */
        log_notice("consume", "revoking %d partition(s)", parts->cnt);
        commit_positions(cs, false);
        rd_kafka_assign(cs->rk, NULL);
        parts_reset(&cs->accepted);
        parts_reset(&cs->refused);
        parts_reset(&cs->unverified);
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
            {"enable.auto.commit", "false"},
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
        /* at-least-once and the journal's id in every commit depend on these;
         * the operator may not undo them (librdkafka 2.0 would not send a
         * stored offset's metadata: the consume stage commits itself) */
        rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", msg, sizeof(msg));
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", msg, sizeof(msg));
        rd_kafka_conf_set_rebalance_cb(kc, rebalance);
        rd_kafka_conf_set_offset_commit_cb(kc, on_commit);
        snprintf(cs->meta, sizeof(cs->meta), "%s%s", CONSUME_OFFSET_META, journal_id(j));
        parts_reset(&cs->accepted);
        parts_reset(&cs->refused);
        parts_reset(&cs->unverified);
        parts_reset(&cs->to_commit);
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

/* Grows the batch's arrays to n messages. */
static int batch_reserve(struct consume *cs, size_t n)
{
        if (n <= cs->cap_batch)
                return 0;
        struct held *msgs = realloc(cs->msgs, n * sizeof(*msgs));
        if (msgs)
                cs->msgs = msgs;
        void *pos = realloc(cs->facts.positions, n * sizeof(*cs->facts.positions));
        if (pos)
                cs->facts.positions = pos;
        void *moved = realloc(cs->moved, n * sizeof(*cs->moved));
        if (moved)
                cs->moved = moved;
        void *ids = realloc((void *)cs->facts.event_ids, n * sizeof(char *));
        if (ids)
                cs->facts.event_ids = ids;
        void *seen = realloc(cs->facts.seen, n * sizeof(bool));
        if (seen)
                cs->facts.seen = seen;
        void *now = realloc(cs->seen_now, n * sizeof(bool));
        if (now)
                cs->seen_now = now;
        void *next = realloc(cs->next, n * sizeof(int64_t));
        if (next)
                cs->next = next;
        void *recs = realloc(cs->recs, n * sizeof(*cs->recs));
        if (recs)
                cs->recs = recs;
        if (!msgs || !pos || !moved || !ids || !seen || !now || !next || !recs)
                return -ENOMEM;
        if (n > cs->cap_workers) {
                struct journal_worker_facts *w =
                    realloc(cs->facts.workers, n * sizeof(*w));
                if (!w)
                        return -ENOMEM;
                memset(w + cs->cap_workers, 0, (n - cs->cap_workers) * sizeof(*w));
                cs->facts.workers = w;
                cs->cap_workers = n;
        }
        cs->cap_batch = n;
        return 0;
}

/* Parses every held message and names what deciding them needs. */
static int batch_ask(struct consume *cs)
{
        struct journal_facts *f = &cs->facts;
        int rc = batch_reserve(cs, cs->n_held);

        if (rc)
                return rc;
        if (cs->conf->n_programs > cs->cap_programs) {
                void *p =
                    realloc(f->programs, cs->conf->n_programs * sizeof(*f->programs));
                if (!p)
                        return -ENOMEM;
                f->programs = p;
                cs->cap_programs = cs->conf->n_programs;
        }
        f->n_programs = cs->conf->n_programs;
        for (size_t k = 0; k < f->n_programs; k++)
                f->programs[k] =
                    (struct journal_program_use){cs->conf->programs[k].id, 0};
        f->n_positions = f->n_event_ids = f->n_workers = 0;
        keyset_clear(&cs->ids);
        keyset_clear(&cs->niks);
        for (size_t i = 0; i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                struct held *h = &cs->msgs[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                long r;

                h->perr = (struct event_error){0};
                h->bad = event_parse(m->payload ? m->payload : "",
                                     m->payload ? m->len : 0, &h->ev, &h->perr) != 0;
                h->prog = h->bad ? NULL : conf_program_find(cs->conf, h->ev.program);
                h->id = h->worker = -1;
                h->value = h->item = NULL;
                h->taken = false;
                for (h->pos = 0; h->pos < (long)f->n_positions; h->pos++) {
                        const struct journal_position *p = &f->positions[h->pos];
                        if (p->partition == m->partition &&
                            (p->topic == topic || strcmp(p->topic, topic) == 0))
                                break;
                }
                if (h->pos == (long)f->n_positions)
                        f->positions[f->n_positions++] = (struct journal_position){
                            .topic = topic, .partition = m->partition, .next = -1};
                if (h->ev.event_id[0]) {
                        r = keyset_put(&cs->ids, h->ev.event_id,
                                       (uint32_t)f->n_event_ids);
                        if (r < 0)
                                return (int)r;
                        if (r == (long)f->n_event_ids)
                                f->event_ids[f->n_event_ids++] = h->ev.event_id;
                        h->id = r;
                }
                if (h->prog) {
                        r = keyset_put(&cs->niks, h->ev.nik, (uint32_t)f->n_workers);
                        if (r < 0)
                                return (int)r;
                        if (r == (long)f->n_workers)
                                f->workers[f->n_workers++].nik = h->ev.nik;
                        h->worker = r;
                }
        }
        return 0;
}

static void batch_free_records(struct consume *cs)
{
        for (size_t i = 0; i < cs->n_held; i++) {
                free(cs->msgs[i].value);
                free(cs->msgs[i].item);
                cs->msgs[i].value = cs->msgs[i].item = NULL;
        }
}

/* Decides one message with the batch's facts, carries its change into
 * them, and fills its record. */
static int decide_one(struct consume *cs, struct held *h, const rd_kafka_message_t *m,
                      int64_t now, struct journal_record *rec)
{
        static const struct decide_worker nobody;
        struct journal_facts *f = &cs->facts;
        const struct conf_program *prog = h->prog;
        struct decision d = {0};
        size_t len = 0;
        int rc;

        if (h->bad) {
                d.status = RESULT_REJECTED;
                d.reason = h->perr.reason;
                d.dead_letter = true;
        } else {
                struct decide_worker *w = prog ? &f->workers[h->worker].live : NULL;
                int64_t *used =
                    prog ? &f->programs[prog - cs->conf->programs].used : NULL;

                decide(&h->ev, prog, w ? w : &nobody, used ? *used : 0, &d);
                if (d.reason == REASON_UNKNOWN_PROGRAM) {
                        h->perr.reason = REASON_UNKNOWN_PROGRAM;
                        snprintf(h->perr.field, sizeof(h->perr.field), "program");
                }
                /* the worker's view changes with later messages: keep a copy */
                snprintf(h->covered_by, sizeof(h->covered_by), "%s",
                         d.covered_by ? d.covered_by : "");
                d.covered_by = d.covered_by ? h->covered_by : NULL;
                if (prog && (rc = decide_apply(&d, prog, w, used)))
                        return rc;
        }
        /* decide registers only in a program it knows */
        assert(prog || d.action != DECIDE_REGISTER);
        h->d = d;

        struct result res = {
            .event_id = h->ev.event_id[0] ? h->ev.event_id : NULL,
            .program = h->ev.program[0] ? h->ev.program : NULL,
            .nik = h->ev.nik[0] ? h->ev.nik : NULL,
            .status = d.status,
            .reason = d.reason ? reason_name(d.reason) : NULL,
            .detail = d.status == RESULT_REJECTED ? h->perr.field : NULL,
            .covered_by = d.covered_by                  ? d.covered_by
                          : d.action == DECIDE_REGISTER ? prog->id
                                                        : NULL,
            .at_ms = now,
            .source_topic = rd_kafka_topic_name(m->rkt),
            .source_partition = m->partition,
            .source_offset = m->offset,
        };
        h->value = result_encode(&res, &len);
        if (!h->value)
                return -ENOMEM;
        size_t item_len = 0;
        if (d.action != DECIDE_NOTHING) {
                rc = d.action == DECIDE_REGISTER
                         ? item_registration(&h->ev, prog, &h->item, &item_len)
                         : item_deactivation(&h->ev, &h->item, &item_len);
                if (rc)
                        return rc;
        }
        *rec = (struct journal_record){
            .event_id = res.event_id,
            .nik = h->ev.nik,
            .program = res.program,
            .type = h->ev.type,
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
            .item = h->item,
            .item_len = item_len,
        };
        rec->out[rec->n_out++] = (struct journal_out){
            .topic = cs->conf->kafka.results_topic,
            .key = h->ev.nik[0] ? h->ev.nik : m->key,
            .key_len = h->ev.nik[0] ? NIK_LEN : m->key_len,
            .value = h->value,
            .value_len = len,
        };
        if (d.dead_letter)
                rec->out[rec->n_out++] = (struct journal_out){
                    .topic = cs->conf->kafka.dlq_topic,
                    .key = m->key,
                    .key_len = m->key_len,
                    .value = m->payload ? m->payload : "",
                    .value_len = m->payload ? m->len : 0,
                    .headers = h->headers,
                    .headers_len =
                        dlq_headers(h->headers, sizeof(h->headers), &h->perr, m),
                };
        return 0;
}

/* Decides every held message, in order, from the facts begin read; fills
 * the outcome. */
static int decide_batch(struct consume *cs, int64_t now, struct journal_outcome *o)
{
        struct journal_facts *f = &cs->facts;
        size_t n_recs = 0, n_moved = 0;
        int rc = 0;

        memcpy(cs->seen_now, f->seen, f->n_event_ids * sizeof(bool));
        for (size_t k = 0; k < f->n_positions; k++)
                cs->next[k] = f->positions[k].next;
        for (size_t i = 0; rc == 0 && i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                struct held *h = &cs->msgs[i];

                if (m->offset < cs->next[h->pos])
                        continue; /* journaled before: Kafka redelivered it */
                cs->next[h->pos] = m->offset + 1;
                if (h->id >= 0 && cs->seen_now[h->id]) {
                        log_info("consume",
                                 "[%s/%d@%lld] event %s seen before: a redelivery, "
                                 "nothing to do",
                                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                                 (long long)m->offset, h->ev.event_id);
                        continue;
                }
                rc = decide_one(cs, h, m, now, &cs->recs[n_recs]);
                if (rc == 0) {
                        h->taken = true;
                        n_recs++;
                        if (h->id >= 0)
                                cs->seen_now[h->id] = true;
                }
        }
        for (size_t k = 0; k < f->n_positions; k++)
                if (cs->next[k] > f->positions[k].next)
                        cs->moved[n_moved++] = (struct journal_position){
                            f->positions[k].topic, f->positions[k].partition,
                            cs->next[k]};
        *o = (struct journal_outcome){
            .records = cs->recs,
            .n_records = n_recs,
            .positions = cs->moved,
            .n_positions = n_moved,
            .consumed = (int64_t)cs->n_held,
        };
        return rc;
}

/* After the commit: the decisions' log lines and counts. */
static void batch_said(struct consume *cs)
{
        char masked[NIK_MASKED_SIZE];

        memset(cs->decided, 0, sizeof(cs->decided));
        for (size_t i = 0; i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                const struct held *h = &cs->msgs[i];
                const struct decision *d = &h->d;

                if (!h->taken)
                        continue;
                if (d->status < RESULT__COUNT && d->reason < REASON__COUNT)
                        cs->decided[d->status][d->reason]++;
                const struct log_field fields[] = {
                    {"BPJS_PROGRAM", h->ev.program},
                    {"BPJS_NIK", h->ev.nik[0] ? nik_mask(h->ev.nik, masked) : ""},
                    {"BPJS_EVENT_ID", h->ev.event_id},
                    {"BPJS_STATUS", result_status_name(d->status)},
                    {"BPJS_REASON", d->reason ? reason_name(d->reason) : ""},
                };
                LOG_FIELDS(
                    LOG_LVL_INFO, "consume", fields, 5, "[%s/%d@%lld] %s %s %s: %s%s%s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                    h->ev.event_id[0] ? h->ev.event_id : "(no id)",
                    nik_mask(h->ev.nik, masked), h->ev.program[0] ? h->ev.program : "-",
                    result_status_name(d->status), d->reason ? " " : "",
                    d->reason ? reason_name(d->reason) : "");
        }
}

/* Journals the held messages as one consumed batch: one read of the facts,
 * every decision in memory, one write. Then stores their offsets. A
 * backend that finds the facts changed under it (-EAGAIN) gets the batch
 * decided again from new facts, a few times. */
static int journal_held(struct consume *cs)
{
        struct journal_outcome o;
        int64_t now = clock_now_ms();
        int rc = batch_ask(cs);

        for (int attempt = 0; rc == 0 && attempt < 4; attempt++) {
                rc = journal_consume_begin(cs->journal, &cs->facts);
                if (rc)
                        break;
                rc = decide_batch(cs, now, &o);
                if (rc) {
                        journal_consume_abort(cs->journal);
                        break;
                }
                rc = journal_consume_commit(cs->journal, &o);
                if (rc != -EAGAIN)
                        break;
                batch_free_records(cs);
                for (size_t i = 0; i < cs->n_held; i++)
                        cs->msgs[i].taken = false;
        }
        if (rc) {
                batch_free_records(cs);
                return rc;
        }
        batch_said(cs);
        batch_free_records(cs);
        for (size_t i = 0; i < cs->n_held; i++) {
                rd_kafka_message_t *m = cs->held[i];
                rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
                    cs->to_commit, rd_kafka_topic_name(m->rkt), m->partition);
                if (!p) {
                        p = rd_kafka_topic_partition_list_add(
                            cs->to_commit, rd_kafka_topic_name(m->rkt), m->partition);
                        p->metadata = strdup(cs->meta);
                        p->metadata_size = p->metadata ? strlen(cs->meta) : 0;
                }
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
        rc = (int)cs->n_held;
        for (size_t i = 0; i < cs->n_held; i++)
                rd_kafka_message_destroy(cs->held[i]);
        cs->n_held = 0;
        return rc;
}

/* Between batches: partitions whose committed offsets could not be read
 * are read again, and the journaled positions are committed. */
static void between_batches(struct consume *cs)
{
        int64_t now = clock_mono_ms();

        if (cs->unverified->cnt && now >= cs->verify_at) {
                rd_kafka_topic_partition_list_t *u =
                    rd_kafka_topic_partition_list_copy(cs->unverified);
                int before = cs->accepted->cnt;
                verify(cs, u);
                rd_kafka_topic_partition_list_destroy(u);
                if (cs->accepted->cnt > before)
                        assign_accepted(cs);
                cs->verify_at = now + CONSUME_VERIFY_MS;
        }
        if (now >= cs->commit_at) {
                commit_positions(cs, true);
                cs->commit_at = now + CONSUME_COMMIT_MS;
        }
}

int consume_poll(struct consume *cs, size_t max, int timeout_ms)
{
        ssize_t n;

        if (cs->n_held == 0) {
                between_batches(cs);
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

int consume_refused(const struct consume *cs)
{
        return cs->refused ? cs->refused->cnt : 0;
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
        for (size_t i = 0; i < cs->cap_workers; i++)
                decide_worker_release(&cs->facts.workers[i].live);
        free(cs->facts.workers);
        free(cs->facts.positions);
        free((void *)cs->facts.event_ids);
        free(cs->facts.seen);
        free(cs->facts.programs);
        free(cs->msgs);
        free(cs->moved);
        free(cs->seen_now);
        free(cs->next);
        free(cs->recs);
        keyset_free(&cs->ids);
        keyset_free(&cs->niks);
        if (cs->queue)
                rd_kafka_queue_destroy(cs->queue);
        rd_kafka_topic_partition_list_t **lists[] = {&cs->accepted, &cs->refused,
                                                     &cs->unverified, &cs->to_commit};
        if (cs->rk) {
                commit_positions(cs, false);
                rd_kafka_consumer_close(cs->rk);
                rd_kafka_destroy(cs->rk);
        }
        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
                if (*lists[i])
                        rd_kafka_topic_partition_list_destroy(*lists[i]);
        free(cs);
}
