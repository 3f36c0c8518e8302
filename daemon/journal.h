/* journal: the daemon's durable memory, and the only place SQL is written.
 *
 * It holds every accepted event (event_id unique, so a redelivery is a
 * no-op), the consumed position of every partition, each worker's coverage,
 * quota use, the queue of operations to push, batches with their exact
 * request bodies, and the outbox of results and dead letters to publish.
 *
 * The header names no backend: SQLite (journal_sqlite.c) is the embedded
 * default; a PostgreSQL backend for several instances in one consumer group
 * implements the same functions. Functions return 0 (or a count) on success
 * and a negative errno on failure, with the reason in journal_errmsg(). */
#ifndef BPJS_JOURNAL_H
#define BPJS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "result.h"

#define JOURNAL_ID_LEN 8

struct journal;

enum journal_op_kind {
        JOURNAL_OP_REGISTER = 1,
        JOURNAL_OP_DEACTIVATE = 2,
};

enum journal_batch_state {
        JOURNAL_BATCH_PENDING = 1, /* journaled, waiting for its (next) send */
        JOURNAL_BATCH_INFLIGHT,    /* being sent; after a crash, pending again */
        JOURNAL_BATCH_DONE,        /* every item has its final result */
        JOURNAL_BATCH_FAILED,      /* permanent failure; an operator may replay it */
};

const char *journal_batch_state_name(int state);

/* A message to publish, kept in the outbox until its delivery report. */
struct journal_out {
        const char *topic;
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        const void *headers; /* name\0value\0 pairs */
        size_t headers_len;
};

/* What one consumed message did, written in the open transaction. */
struct journal_record {
        const char *event_id; /* NULL if the event had no valid id */
        const char *nik;      /* "" if unknown */
        const char *program;
        int type; /* enum event_type, or 0 */
        enum result_status status;
        const char *reason;
        const char *covered_by;
        const char *topic; /* the message's source */
        int32_t partition;
        int64_t offset;
        int64_t at_ms;
        enum decide_action action;
        int64_t start_month, end_month; /* the programme's period, for REGISTER */
        const char *item;               /* the operation's payload (JSON object) */
        size_t item_len;
        struct journal_out out[2];
        size_t n_out;
};

/* An operation to push, as the push stage sees it. */
struct journal_op {
        int64_t seq;
        int kind;
        const char *nik;
        const char *program;
        const char *event_id;
        const char *item;
        size_t item_len;
        int64_t reg_seq;     /* the registration this op concerns (itself, or the one
                                a deactivation ends) */
        const char *reg_kpj; /* that registration's kpj, if known */
        int64_t batch_id;    /* 0 if not batched yet */
};

struct journal_batch {
        int64_t id;
        int kind;
        int state;
        const char *body;
        size_t body_len;
        int64_t attempts;
        int64_t next_at; /* wall-clock ms */
        const char *last_error;
        int64_t created_at, updated_at;
};

/* The final result of one item of a batch. */
struct journal_item_result {
        int64_t seq;
        enum result_status
            status; /* registered, already_registered, failed, deactivated */
        const char *kpj;
        const char *reason;
        struct journal_out out;
};

struct journal_stats {
        int64_t ops_unbatched;
        int64_t batches_pending, batches_inflight, batches_failed, batches_done;
        int64_t outbox;
        int64_t events;
};

typedef int (*journal_op_fn)(const struct journal_op *op, void *opaque);
typedef int (*journal_batch_fn)(const struct journal_batch *b, void *opaque);
typedef int (*journal_out_fn)(int64_t seq, const struct journal_out *o, void *opaque);
/* Writes the request body of batch id into *body (malloc'd) and *len. */
typedef int (*journal_compose_fn)(int64_t id, const struct journal_op *ops, size_t n,
                                  void *opaque, char **body, size_t *len);

enum journal_open_flags {
        /* The daemon: batches left in flight by a crash become pending (they
         * are resent under the same key). An operator tool never does this. */
        JOURNAL_RECOVER = 1 << 0,
};

int journal_open(const char *path, unsigned flags, struct journal **out, char *err,
                 size_t errsize);
void journal_close(struct journal *j);
const char *journal_id(const struct journal *j);
const char *journal_errmsg(const struct journal *j);

/* Consume side: one transaction per consumed batch of messages. */
int journal_begin(struct journal *j);
int journal_commit(struct journal *j);
void journal_rollback(struct journal *j);
/* The next offset to process on a partition, or -1 if none was journaled. */
int journal_offset_next(struct journal *j, const char *topic, int32_t partition,
                        int64_t *out);
int journal_offset_set(struct journal *j, const char *topic, int32_t partition,
                       int64_t next);
/* Returns 1 if event_id was journaled before, 0 if not. */
int journal_event_seen(struct journal *j, const char *event_id);
int journal_worker(struct journal *j, const char *nik, struct decide_worker *out);
int journal_quota_used(struct journal *j, const char *program, int64_t *out);
int journal_record(struct journal *j, const struct journal_record *rec);

/* Push side; each call is its own transaction. */
int journal_ops_unbatched(struct journal *j, int64_t after_seq, size_t limit,
                          journal_op_fn fn, void *opaque);
int journal_batch_create(struct journal *j, int kind, const struct journal_op *ops,
                         size_t n, journal_compose_fn compose, void *opaque,
                         int64_t *out_id);
/* Batches in state pending whose next attempt is due, oldest first. */
int journal_batches_due(struct journal *j, int64_t now_ms, size_t limit,
                        journal_batch_fn fn, void *opaque);
int journal_batches_unfinished(struct journal *j, journal_batch_fn fn, void *opaque);
int journal_batch_ops(struct journal *j, int64_t batch_id, journal_op_fn fn,
                      void *opaque);
int journal_batch_get(struct journal *j, int64_t batch_id, journal_batch_fn fn,
                      void *opaque);
int journal_batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                         int64_t next_at, const char *error);
/* Records every item's final result, ends the batch in state (done or failed)
 * and queues the results, in one transaction. */
int journal_batch_finish(struct journal *j, int64_t id, int state, const char *error,
                         const struct journal_item_result *items, size_t n);

/* Publish side. */
int journal_outbox_fetch(struct journal *j, int64_t after_seq, size_t limit,
                         journal_out_fn fn, void *opaque);
int journal_outbox_delete(struct journal *j, const int64_t *seqs, size_t n);

int journal_stats(struct journal *j, struct journal_stats *out);
/* Adds n to a named counter ("consumed", "published"), in its own or the
 * open transaction. */
int journal_counter_add(struct journal *j, const char *name, int64_t n);
int journal_counter_get(struct journal *j, const char *name, int64_t *out);

/* ---- Operator side (bpjs-syncctl): declared below, in journal_ctl.c ---- */
/* @@ journal-ctl-begin */
/* @@ journal-ctl-end */

#endif
