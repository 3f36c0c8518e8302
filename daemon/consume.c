#include "consume.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consume_int.h"
#include "log.h"
#include "metrics.h"

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

/* Claims the accepted partitions in the journal: from now on, an instance
 * that held them before can no longer commit for them (journal.h, the
 * position fence). A claim that fails is made again later; meanwhile
 * nothing is assigned (a commit for them would be refused). */
static void claim_accepted(struct consume *cs)
{
        struct journal_position *p =
            calloc(cs->accepted->cnt ? (size_t)cs->accepted->cnt : 1, sizeof(*p));
        int rc = p ? 0 : -ENOMEM;

        for (int i = 0; p && i < cs->accepted->cnt; i++)
                p[i] = (struct journal_position){cs->accepted->elems[i].topic,
                                                 cs->accepted->elems[i].partition, -1};
        if (rc == 0)
                rc = journal_partitions_claim(cs->journal, p, (size_t)cs->accepted->cnt);
        free(p);
        if (rc == 0) {
                cs->claim_at = 0;
                return;
        }
        log_warning("consume",
                    "cannot claim %d assigned partition(s) in the journal (%s): not "
                    "consumed until the claim succeeds",
                    cs->accepted->cnt,
                    rc == -ENOMEM ? "out of memory" : journal_errmsg(cs->journal));
        cs->claim_at = clock_mono_ms() + CONSUME_RECLAIM_MS / 10;
}

/* Makes the accepted partitions the assignment once they are claimed
 * (paused if consuming is); until then nothing is assigned, so nothing of
 * them is fetched. An assignment starts from the committed offsets: what
 * was fetched and not journaled is fetched again. */
static void assign_claimed(struct consume *cs)
{
        if (cs->claim_at) {
                rd_kafka_assign(cs->rk, NULL);
                return;
        }
        rd_kafka_assign(cs->rk, cs->accepted);
        if (cs->paused && cs->accepted->cnt)
                rd_kafka_pause_partitions(cs->rk, cs->accepted);
}

static void assign_accepted(struct consume *cs)
{
        claim_accepted(cs);
        assign_claimed(cs);
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
        (void)journal_partitions_claim(cs->journal, NULL, 0); /* we hold none */
        cs->claim_at = 0;
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
            /* the prefetch. librdkafka 2.0 (Debian 12's) stops fetching
             * once either cap is reached and looks again only after up to a
             * second, whatever the application consumed meanwhile (2.2's
             * fetch.queue.backoff.ms makes that pause shorter): a cap that
             * holds less than a second of what the daemon decides starves it.
             * 4 MiB held 0.7 s and halved the rate (docs/performance.md,
             * "The prefetch"); 10 MiB hold about a second at the flood's rate,
             * instead of librdkafka's 64 MiB (memory, issue 9) */
            {"queued.max.messages.kbytes", "10240"},
            {"queued.min.messages", "100000"},
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

/* A batch refused by the position fence: another instance claimed its
 * partitions, so the group gave them away (we stalled past the session
 * timeout) and the rebalance is on its way. Nothing of it was journaled;
 * the messages are dropped and nothing is assigned (what librdkafka
 * fetched of them goes too) until the rebalance, or until a claim made
 * again later succeeds (the group still gives them to us: our claim lost
 * a race with a departed owner's), when they are fetched again from the
 * committed offsets. */
static int drop_fenced(struct consume *cs)
{
        log_warning("consume",
                    "%s: %zu message(s) not journaled here, their partitions are "
                    "another instance's now",
                    journal_errmsg(cs->journal), cs->n_held);
        for (size_t i = 0; i < cs->n_held; i++)
                rd_kafka_message_destroy(cs->held[i]);
        cs->n_held = 0;
        commit_positions(cs, false); /* what was journaled before */
        (void)journal_partitions_claim(cs->journal, NULL, 0);
        cs->claim_at = clock_mono_ms() + CONSUME_RECLAIM_MS;
        assign_claimed(cs);
        return 0;
}

/* Journals the held messages as one consumed batch (consume_batch.c), then
 * notes their positions for the next commit and counts them. */
static int journal_held(struct consume *cs)
{
        int rc = consume_batch_journal(cs);

        if (rc == -ESTALE)
                return drop_fenced(cs);
        if (rc)
                return rc;
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
        if (cs->claim_at && now >= cs->claim_at) {
                /* still ours after all that time: claim them again */
                claim_accepted(cs);
                if (!cs->claim_at) {
                        commit_positions(cs, false);
                        assign_claimed(cs);
                }
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
        consume_batch_release(cs);
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
