/* consume's private parts, shared by consume.c (the Kafka consumer:
 * assignment, the journal's id in committed offsets, polling, pausing) and
 * consume_batch.c (a consumed batch: parsed, decided in memory, journaled
 * in the journal's two calls). */
#ifndef BPJS_CONSUME_INT_H
#define BPJS_CONSUME_INT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "decide.h"
#include "event.h"
#include "journal.h"
#include "keyset.h"
#include "result.h"
#include "textpool.h"

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
        /* the accepted partitions are claimed in the journal (the position
         * fence); 0, or when a claim is to be made again (clock_mono_ms) */
        int64_t claim_at;
        char meta[64];
        struct metrics *metrics;
        /* the batch being decided (arrays of cap_batch, reused); deciding
         * moves facts.positions and facts.seen along with the batch */
        struct held *msgs;
        struct journal_facts facts;
        size_t cap_batch, cap_programs;
        struct journal_record *recs;
        struct keyset ids, niks;
        /* the held events' free-text fields and dead-letter headers,
         * cleared with each parse of the batch */
        struct textpool texts;
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
        char *value, *item;
};

/* Parses, decides and journals the held messages as one consumed batch:
 * one read of the facts, every decision in memory, one write. A backend
 * that finds the facts changed under it (-EAGAIN) gets the batch decided
 * again from new facts, a few times. 0 with the decisions logged and
 * counted in cs->decided, or a negative errno with nothing journaled (the
 * messages stay held). */
int consume_batch_journal(struct consume *cs);
/* Frees the batch's arrays (consume_close). */
void consume_batch_release(struct consume *cs);

#endif
