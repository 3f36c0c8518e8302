/* The PostgreSQL backend's internals, shared by its files: journal_pg.c
 * (connection, schema, the consume side) and journal_pg_push.c (the push
 * and publish sides, counters, pruning). Private: only the PostgreSQL
 * backend's .c files include this header. */
#ifndef BPJS_JOURNAL_PG_INT_H
#define BPJS_JOURNAL_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "journal_backend.h"

/* A batch in flight is this instance's for lease_ms (journal_open_opts)
 * after its claim or its last renewal (journal_batches_renew, every third
 * of it): then another instance may take it over. The publisher's lease
 * (one instance publishes at a time) lasts as long and is renewed as
 * often; a handle without it asks again this often. */
#define JPG_PUBLISHER_ASK_MS 1000
/* the longest wait between two attempts to reach a server that is down */
#define JPG_RECONNECT_MAX_MS 5000

/* What a write on a read-only open (JOURNAL_READONLY) is told. */
#define JPG_READONLY_TEXT "the journal was opened read-only: no change is made"

/* The named statements, prepared once at open (journal_pg.c's table). */
enum jpg_stmt {
        Q_LOCK_WORKERS,
        Q_POSITIONS,
        Q_SEEN,
        Q_WORKERS,
        Q_QUOTAS,
        Q_EVENTS_INSERT,
        Q_REGISTER,
        Q_DEACTIVATE,
        Q_OUTBOX_INSERT,
        Q_QUOTA_ADD,
        Q_FENCE,
        Q_CLAIM,
        Q_OFFSETS_SET,
        Q_COUNTER_ADD,
        Q_COUNTER_GET,
        Q_OPS_UNBATCHED,
        Q_BATCH_OPS,
        Q_BATCH_INSERT,
        Q_BATCH_BODY,
        Q_OPS_BATCH,
        Q_OPS_REBATCH,
        Q_BATCHES_DUE,
        Q_BATCHES_OPEN,
        Q_BATCH_GET,
        Q_BATCH_UPDATE,
        Q_BATCH_FINISH,
        Q_LEASE_RENEW,
        Q_OPS_ORDER,
        Q_OUTBOX_LOCK,
        Q_OP_RESULTS,
        Q_OPS_SETTLE,
        Q_COVERAGE_FAIL,
        Q_PUBLISHER_TAKE,
        Q_PUBLISHER_RELEASE,
        Q_OUTBOX_FETCH,
        Q_OUTBOX_DELETE,
        Q_OPEN_COUNT,
        Q_OUTBOX_COUNT,
        Q_BACKLOG,
        Q_PRUNE_ITEMS,
        Q_SWEEP_ITEMS,
        Q_SWEEP_GET,
        Q_SWEEP_SET,
        Q_OPS_LAST,
        Q_PRUNE_BODIES,
        Q_PRUNE_EVENTS,
        Q_SPACE,
        Q_CTL_STATUS,
        Q_CTL_BATCH_COUNTS,
        Q_CTL_LAST_ERROR,
        Q_CTL_QUOTAS,
        Q_CTL_REPORT,
        /* the operator's other verbs and replay (journal_pg_ctl*.c) */
        Q_CTL_BATCHES,
        Q_CTL_BATCH_ITEMS,
        Q_CTL_WORKER_EVENTS,
        Q_CTL_WORKER_COVERAGES,
        Q_CTL_WORKER_OPS,
        Q_CTL_REJECTED,
        Q_CTL_AUDIT_ADD,
        Q_CTL_AUDIT_LIST,
        Q_CTL_BATCH_LOCK,
        Q_CTL_QUOTAS_LOCK,
        Q_CTL_COVERAGE_ROW,
        Q_CTL_WORKER_LIVE,
        Q_CTL_LATER_OP,
        Q_CTL_COVERAGE_RETAKE,
        Q_CTL_QUOTA_TAKE,
        Q_CTL_OP_RESET,
        Q_CTL_OP_REASON,
        Q_CTL_BATCH_REQUEUE,
        Q_CTL_BATCH_END,
        Q__COUNT
};

/* The PostgreSQL journal: what journal.h's struct journal is for this
 * backend (the table pointer first, as journal.c expects). */
struct jpg {
        const struct journal_backend *be;
        PGconn *conn;
        unsigned flags;
        bool in_tx;   /* a transaction of ours is open */
        bool writing; /* the open transaction writes: its failures are write failures */
        bool pipe_broken; /* a statement of the open pipeline could not be sent */
        char id[JOURNAL_ID_LEN + 1];
        char errmsg[256];
        int write_rc;
        char write_error[256];
        /* the open consumed batch's changes of slots and committed months,
         * one upsert at commit */
        struct jpg_delta {
                const char *program;
                int64_t delta;
                int64_t months;
                /* the programme's limits, from begin's facts (quota 0:
                 * no guard) */
                int64_t quota, monthly_premium, budget;
        } * qd;
        size_t n_qd, cap_qd;
        /* this process among the instances sharing the journal:
         * host:pid:random, made at open */
        char instance[96];
        /* whether this handle holds the publisher's lease, and when (mono
         * ms) it is renewed or asked for again */
        bool publishing;
        int64_t publisher_at;
        int64_t lease_ms; /* the leases' length (journal_open_opts) */
        /* the partitions this handle holds (journal_partitions_claim) at
         * their epochs; from the first claim on, commits are fenced */
        struct jpg_claim {
                char *topic;
                int32_t partition;
                int64_t epoch;
        } * claims;
        size_t n_claims;
        bool fencing;
        /* a lost connection: made again from reconnect_at on, the wait
         * doubling from 250 ms to JPG_RECONNECT_MAX_MS while it fails */
        int64_t reconnect_at, reconnect_ms;
        char reconnect_error[200];
};

static inline struct jpg *jpg_of(struct journal *j)
{
        return (struct jpg *)(void *)j;
}

static inline const struct jpg *jpg_cof(const struct journal *j)
{
        return (const struct jpg *)(const void *)j;
}

/* Parameters of one statement: text, or binary for bytea. */
#define JPG_MAX_PARAMS 12
struct jpg_params {
        int n;
        const char *v[JPG_MAX_PARAMS];
        int len[JPG_MAX_PARAMS];
        int fmt[JPG_MAX_PARAMS];
        char num[JPG_MAX_PARAMS][24];
};
void jpg_p_text(struct jpg_params *p, const char *s);
void jpg_p_i64(struct jpg_params *p, int64_t v);
void jpg_p_bytes(struct jpg_params *p, const void *b, size_t len);

/* A growing text buffer, for array literals ({"a","b"}, {"\\x00ff"}). */
struct jpg_buf {
        char *p;
        size_t n, cap;
        bool oom;
};
void jpg_arr_text(struct jpg_buf *b, const char *s); /* NULL: NULL */
void jpg_arr_i64(struct jpg_buf *b, int64_t v);
void jpg_arr_bytes(struct jpg_buf *b, const void *v, size_t len);
const char *jpg_arr_end(struct jpg_buf *b); /* "{...}", or NULL out of memory */
void jpg_buf_free(struct jpg_buf *b);

/* Runs a prepared statement (binary results). 0 and *out (PQclear it), or
 * the negative errno with "what: the server's message" in errmsg. */
int jpg_exec(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p, const char *what,
             PGresult **out);
/* Runs a prepared statement and keeps only its row count (UPDATE, DELETE). */
int jpg_run(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p, const char *what,
            int64_t *changed);
/* Transactions: BEGIN (write: -EROFS on a read-only open), COMMIT, and a
 * ROLLBACK of whatever is open (errmsg keeps the first cause). */
int jpg_begin(struct jpg *j, bool write);
int jpg_commit(struct jpg *j);
/* A read-only transaction that sees one snapshot (the operator's reads). */
int jpg_begin_snapshot(struct jpg *j);
void jpg_rollback(struct jpg *j);
int jpg_fail_text(struct jpg *j, int err, const char *what, const char *text);

/* Shared by the backend's files (journal_pg.c): the statements' names, a
 * failed result's text in errmsg (the server's primary message only: its
 * detail may quote a row, so a NIK), the connection made again if the
 * server dropped it. */
extern char jpg_stmt_name[Q__COUNT][8];
int jpg_fail_res(struct jpg *j, const PGresult *r, const char *what);
bool jpg_result_ok(const PGresult *r);
int jpg_ensure_conn(struct jpg *j);

/* journal_pg_consume.c's functions, for the table in journal_pg.c. */
int jpg_consume_begin(struct journal *j, struct journal_facts *f);
int jpg_partitions_claim(struct journal *j, const struct journal_position *p, size_t n);
void jpg_claims_free(struct jpg *j);
int jpg_consume_commit(struct journal *j, const struct journal_outcome *o);
void jpg_consume_abort(struct journal *j);
int jpg_programs_use(struct journal *j, struct journal_program_use *u, size_t n);

/* Binary result columns. */
int64_t jpg_col_i64(const PGresult *r, int row, int col);
const char *jpg_col_text(const PGresult *r, int row, int col); /* NULL if null */
const void *jpg_col_blob(const PGresult *r, int row, int col); /* NULL if none */
size_t jpg_col_len(const PGresult *r, int row, int col);

/* journal_pg_push.c's functions, for the table in journal_pg.c. */
int jpg_ops_unbatched(struct journal *j, int64_t after_seq, size_t limit,
                      journal_op_fn fn, void *opaque);
int jpg_batch_ops(struct journal *j, int64_t batch_id, journal_op_fn fn, void *opaque);
int jpg_batch_create(struct journal *j, int kind, const struct journal_op *ops, size_t n,
                     journal_compose_fn compose, void *opaque, int64_t *out_id);
int jpg_batches_due(struct journal *j, int64_t now_ms, size_t limit, journal_batch_fn fn,
                    void *opaque);
int jpg_batches_unfinished(struct journal *j, journal_batch_fn fn, void *opaque);
int jpg_batch_get(struct journal *j, int64_t batch_id, journal_batch_fn fn, void *opaque);
int jpg_batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                     int64_t next_at, const char *error);
int jpg_batch_split(struct journal *j, int64_t id, const struct journal_op *ops, size_t n,
                    size_t n_first, journal_compose_fn compose, void *opaque,
                    int64_t out_ids[2]);
int jpg_batch_finish(struct journal *j, int64_t id, int state, const char *error,
                     const struct journal_item_result *items, size_t n);
/* An op from the first nine columns of OP_COLUMNS or CTL_ITEM_COLUMNS
 * (journal_pg.c). */
void jpg_read_op(const PGresult *r, int row, struct journal_op *op);
int jpg_ops_settle(struct journal *j, const struct journal_item_result *items, size_t n);
int jpg_batches_renew(struct journal *j);
int64_t jpg_lease_ms(const struct journal *j);
int jpg_outbox_fetch(struct journal *j, int64_t after, size_t limit, journal_out_fn fn,
                     void *opaque);
void jpg_publisher_release(struct jpg *j);
int jpg_outbox_delete_through(struct journal *j, int64_t through, int64_t delivered);
int jpg_outbox_count(struct journal *j, int64_t *out);
int jpg_counter_add(struct journal *j, const char *name, int64_t n);
int jpg_counter_get(struct journal *j, const char *name, int64_t *out);
int jpg_batches_open(struct journal *j, int64_t *out);
int jpg_backlog(struct journal *j, int64_t *out);
int jpg_prune(struct journal *j, int64_t bodies_before_ms, int64_t events_before_ms,
              size_t max_bodies, size_t max_events, int64_t pruned[2]);
int jpg_space(struct journal *j, int64_t *used, int64_t *file);
int jpg_disk_bytes(struct journal *j, int64_t *out);

/* journal_pg_ctl.c's, likewise. */
int jpg_ctl_status(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                   struct journal_ctl_status *out);
int jpg_ctl_report(struct journal *j, journal_ctl_report_fn fn, journal_ctl_quota_fn qfn,
                   void *opaque);
int jpg_ctl_batches(struct journal *j, const struct journal_ctl_filter *f,
                    journal_ctl_batch_fn fn, void *opaque);
int jpg_ctl_batch_show(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                       journal_ctl_item_fn ifn, void *opaque);
int jpg_ctl_worker(struct journal *j, const char *nik,
                   const struct journal_ctl_worker_fns *fns, void *opaque);
int jpg_ctl_rejected(struct journal *j, const char *reason, int64_t since_ms,
                     journal_ctl_event_fn fn, void *opaque);
int jpg_ctl_audit_add(struct journal *j, const char *who, const char *action,
                      const char *detail);
int jpg_ctl_audit_list(struct journal *j, const char *contains, int64_t since_ms,
                       journal_ctl_audit_fn fn, void *opaque);
/* journal_pg_ctl.c's, for journal_pg_ctl_replay.c: an op row of
 * Q_CTL_BATCH_ITEMS or Q_CTL_WORKER_OPS read, and a statement's rows handed
 * to an item callback (the number of rows, or fn's negative result). */
void jpg_ctl_read_item(const PGresult *r, int row, struct journal_ctl_item *it);
int jpg_ctl_each_item(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                      journal_ctl_item_fn fn, void *opaque, const char *what);
/* journal_pg_ctl_replay.c's, likewise. */
int jpg_ctl_replay(struct journal *j, int64_t id, const struct journal_ctl_replay_opts *o,
                   struct journal_ctl_replay *out);

#endif
