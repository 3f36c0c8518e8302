/* journal: the daemon's durable memory, and the only place SQL is written.
 *
 * It holds every accepted event (event_id unique, so a redelivery is a
 * no-op), the consumed position of every partition, each worker's coverage,
 * quota use, the queue of operations to push, batches with their exact
 * request bodies, and the outbox of results and dead letters to publish.
 *
 * The header names no backend: SQLite (journal_sqlite.c) is the embedded
 * default; a PostgreSQL backend (journal_pg.c) for several instances in one
 * consumer group implements the same functions; journal.c hands each call
 * to the backend that opened the journal. Functions return 0 (or a count) on success
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
        JOURNAL_BATCH_SPLIT,       /* answered 413: its items went into two new batches */
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
        int reg_status;      /* that registration's final result (enum
                                result_status), 0 while it has none */
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

typedef int (*journal_op_fn)(const struct journal_op *op, void *opaque);
typedef int (*journal_batch_fn)(const struct journal_batch *b, void *opaque);
typedef int (*journal_out_fn)(int64_t pos, const struct journal_out *o, void *opaque);
/* Writes the request body of batch id into *body (malloc'd) and *len. */
typedef int (*journal_compose_fn)(int64_t id, const struct journal_op *ops, size_t n,
                                  void *opaque, char **body, size_t *len);

enum journal_open_flags {
        /* The daemon: batches left in flight by a crash become pending (they
         * are resent under the same key). An operator tool never does this. */
        JOURNAL_RECOVER = 1 << 0,
        /* An operator tool (bpjs-syncctl): the journal as it is; never
         * created, migrated or recovered: -ENOENT when there is no file,
         * -EIO when it is not a journal, with the reason in err. A longer
         * busy timeout; reads in short read transactions, writes in short
         * BEGIN IMMEDIATE ones, so the daemon may run meanwhile. */
        JOURNAL_OPERATOR = 1 << 1,
        /* A read-only connection (implies JOURNAL_OPERATOR): every write is
         * refused with -EROFS before it starts. */
        JOURNAL_READONLY = 1 << 2,
};

/* Opens the journal `where` names: a postgresql:// or postgres:// URL (a
 * libpq connection URI) opens the PostgreSQL backend, anything else is the
 * path of a SQLite file. The URL never carries the password (a URL that
 * does is refused, -EINVAL): it comes in o->password, handed to libpq
 * beside the URL and never logged or kept; NULL leaves it to libpq's own
 * sources (a password file, or none with peer or certificate
 * authentication). A SQLite path reads only o->merge_rows. On failure err says why,
 * naming no password. */
struct journal_open_opts {
        const char *password; /* PostgreSQL: the role's password, or NULL */
        /* PostgreSQL: how long a batch in flight and the publishing stay
         * this instance's after it last renewed them, before another
         * instance may take them over (journal.lease_ms); 0 for
         * JOURNAL_LEASE_MS */
        int64_t lease_ms;
        /* SQLite: how many rows its coverage and event logs hold before they
         * are merged into their tables in one sorted pass; 0 for the
         * default (tests set a few, to merge often) */
        int64_t merge_rows;
};
#define JOURNAL_LEASE_MS 30000
int journal_open_with(const char *where, const struct journal_open_opts *o,
                      unsigned flags, struct journal **out, char *err, size_t errsize);
/* journal_open_with(where, NULL, ...). */
int journal_open(const char *where, unsigned flags, struct journal **out, char *err,
                 size_t errsize);
void journal_close(struct journal *j);
const char *journal_id(const struct journal *j);
const char *journal_errmsg(const struct journal *j);
/* Whether the journal takes writes: 0, or the negative errno (-ENOSPC for a
 * full disk, -EIO, -EBUSY, -EROFS, -ENOTCONN for a database server that
 * cannot be reached...) of the first write that failed since
 * the last one that reached the file; journal_write_error() keeps that
 * first failure's text ("commit: database or disk is full") meanwhile. */
int journal_write_health(const struct journal *j);
const char *journal_write_error(const struct journal *j);

/* ---- Consume side: a consumed batch of messages in two calls ----
 *
 * journal_consume_begin opens the batch's transaction and reads, for all of
 * its messages at once, what deciding them needs: the partitions'
 * positions, whether each event id was journaled before, every live
 * coverage of each worker, and each programme's slots in use. The caller
 * decides the messages in memory, in order (decide_apply carries each
 * decision's change to the next message), and hands every outcome to
 * journal_consume_commit, which writes them (events, coverage changes,
 * operations, outbox rows, positions, the "consumed" counter) in the same
 * transaction and commits it. A backend costs a few round trips a batch,
 * not a few an event.
 *
 * Between the two calls the facts stay true for this journal: SQLite holds
 * its write lock from begin to commit. A backend shared by several
 * instances (PostgreSQL) locks the batch's workers in NIK order and guards
 * the slot counts and committed months at commit (the limits in
 * journal_program_use); where a guard finds the facts changed under it,
 * commit rolls back and returns -EAGAIN, and the caller decides the batch
 * again from a new begin. A commit fenced off (journal_partitions_claim)
 * returns -ESTALE. After any other failure, of either call,
 * the transaction is gone (nothing of the batch was written) and the
 * reason is in journal_errmsg(); journal_consume_abort ends a batch the
 * caller gives up on between the two calls. A begin that fails may have
 * filled some of the facts: they mean nothing until a begin succeeds.
 * Deciding may move the facts it was given (consume_batch.c moves the
 * positions and the ids seen with each message); commit writes the
 * outcome's positions as they are. */

/* One partition's position: the next offset to journal there. */
struct journal_position {
        const char *topic;
        int32_t partition;
        int64_t next; /* begin: filled in, -1 if nothing was journaled there */
};

struct journal_worker_facts {
        const char *nik;           /* asked */
        struct decide_worker live; /* filled: emptied, then every live coverage
                                      and every ended one that has months, in
                                      decision order (the array grows as
                                      needed and is kept) */
};

struct journal_program_use {
        const char *program; /* asked */
        int64_t used;        /* filled: workers covered now (slots taken) */
        int64_t months;      /* filled: committed months (decide_use) */
        /* asked by begin (the programme's configuration), for the guard at
         * commit of a journal shared by several instances: a commit that
         * would take the programme past its quota (used > quota) or its
         * budget (months * monthly_premium > budget) is refused with
         * -EAGAIN. quota 0: no guard (a caller that names no limits);
         * budget -1: no budget. SQLite holds its write lock from begin to
         * commit and needs no guard. */
        int64_t quota;
        int64_t monthly_premium;
        int64_t budget;
};

/* What begin is asked and fills in; the caller owns every array. */
struct journal_facts {
        struct journal_position *positions;
        size_t n_positions;
        const char **event_ids; /* asked */
        bool *seen;             /* filled: journaled before */
        size_t n_event_ids;
        struct journal_worker_facts *workers;
        size_t n_workers;
        struct journal_program_use *programs;
        size_t n_programs;
};

/* What one consumed message did. */
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
        /* REGISTER: the coverage's own months; DEACTIVATE: last_month is the
         * ended coverage's new last month (the journal releases the months
         * after it) */
        int64_t first_month, last_month;
        const char *item; /* the operation's payload (JSON object) */
        size_t item_len;
        struct journal_out out[2];
        size_t n_out;
};

/* A consumed batch's outcome: the records in consumed order, and each
 * partition's new position. */
struct journal_outcome {
        const struct journal_record *records;
        size_t n_records;
        const struct journal_position *positions;
        size_t n_positions;
        int64_t consumed; /* messages taken from Kafka, redeliveries included */
};

/* The position fence (several instances on one journal). When the group
 * assigns partitions, the consumer claims them: each one's epoch in the
 * journal goes up by one and this journal handle remembers the new one
 * (n 0: the handle holds none, after a revocation). From the first claim
 * on, a commit whose positions name a partition this handle does not hold
 * at its current epoch (another instance claimed it since) is refused:
 * the transaction rolled back, -ESTALE, nothing of the batch written; the
 * messages belong to the partition's new owner. SQLite (one instance)
 * does nothing and returns 0. */
int journal_partitions_claim(struct journal *j, const struct journal_position *parts,
                             size_t n);

int journal_consume_begin(struct journal *j, struct journal_facts *f);
int journal_consume_commit(struct journal *j, const struct journal_outcome *o);
void journal_consume_abort(struct journal *j);

/* Slots in use of each programme asked, outside a batch (the gauges). */
int journal_programs_use(struct journal *j, struct journal_program_use *p, size_t n);

/* Push side; each call is its own transaction. An operation is unbatched
 * while it has neither a batch nor a final result. ops_unbatched and
 * batch_ops hand operations over in seq order. */
int journal_ops_unbatched(struct journal *j, int64_t after_seq, size_t limit,
                          journal_op_fn fn, void *opaque);
int journal_batch_create(struct journal *j, int kind, const struct journal_op *ops,
                         size_t n, journal_compose_fn compose, void *opaque,
                         int64_t *out_id);
/* Batches in state pending whose next attempt is due, oldest first; on a
 * journal shared by several instances also those in flight whose lease
 * ended (by the clock) unrenewed: their instance died. */
int journal_batches_due(struct journal *j, int64_t now_ms, size_t limit,
                        journal_batch_fn fn, void *opaque);
int journal_batches_unfinished(struct journal *j, journal_batch_fn fn, void *opaque);
int journal_batch_ops(struct journal *j, int64_t batch_id, journal_op_fn fn,
                      void *opaque);
int journal_batch_get(struct journal *j, int64_t batch_id, journal_batch_fn fn,
                      void *opaque);
/* Only a batch still pending or in flight changes; -ESTALE for one that
 * ended. */
int journal_batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                         int64_t next_at, const char *error);
/* Several instances on one journal (PostgreSQL): marking a batch in
 * flight is a claim that holds it for this instance under a lease, and
 * only the holder changes or finishes it (-ESTALE for anyone else, as for
 * a batch that ended); a batch whose lease ended is due again
 * (journal_batches_due) and is taken over, same body, same key. The
 * holder renews the leases of its batches in flight with
 * journal_batches_renew every journal_renew_ms (a third of the lease
 * journal_open_opts set; SQLite has none: renewing is 0 at once). Batch
 * creation refuses, with -EAGAIN, ops of a worker that has an earlier op
 * unanswered, and with -EALREADY ops another instance batched first. */
int journal_batches_renew(struct journal *j);
/* How often journal_batches_renew is due, in ms: a third of the lease. */
int64_t journal_renew_ms(const struct journal *j);
/* A batch the endpoint found too large (413) is replaced by new batches:
 * ops[0..n_first) and ops[n_first..n) each go into a new batch with a body
 * from compose, and the old one becomes JOURNAL_BATCH_SPLIT; one transaction.
 * Its key was never answered with success, so new keys are safe. */
int journal_batch_split(struct journal *j, int64_t id, const struct journal_op *ops,
                        size_t n, size_t n_first, journal_compose_fn compose,
                        void *opaque, int64_t out_ids[2]);
/* Records every item's final result, ends the batch in state (done or failed)
 * and queues the results, in one transaction. */
int journal_batch_finish(struct journal *j, int64_t id, int state, const char *error,
                         const struct journal_item_result *items, size_t n);
/* Records the final result of unbatched operations that need no request
 * (a deactivation whose registration failed: the endpoint holds nothing to
 * end) and queues their results, in one transaction. Only operations still
 * unbatched and without a result change: -ESTALE (nothing written) if one
 * of them was batched or answered meanwhile. */
int journal_ops_settle(struct journal *j, const struct journal_item_result *items,
                       size_t n);

/* Publish side. Every message the outbox holds has a position: strictly
 * increasing in the order the messages were written, otherwise the
 * backend's (SQLite keeps a transaction's messages in one row). fetch hands
 * at most limit messages after position `after` to fn, in order (o and its
 * strings are valid during the call; fn returns 0 to go on, > 0 to stop,
 * < 0 for an error) and returns how many it handed over. delete_through
 * says that every message up to and including position `through` was
 * delivered, `delivered` of them since the last call (added to the counter
 * "published"): they leave the outbox. One statement a call, however many
 * messages: the outbox is deleted in ranges. On a journal shared by
 * several instances one of them publishes at a time (PostgreSQL: the holder
 * of the publisher's lease): fetch hands the others nothing. */
int journal_outbox_fetch(struct journal *j, int64_t after, size_t limit,
                         journal_out_fn fn, void *opaque);
int journal_outbox_delete_through(struct journal *j, int64_t through, int64_t delivered);

/* Messages in the outbox: results and dead letters not yet delivered (a
 * backend may count delivered ones with the rest of their row until the
 * whole row is). */
int journal_outbox_count(struct journal *j, int64_t *out);
/* Adds n to a named counter ("consumed", "published"), in its own or the
 * open transaction. */
int journal_counter_add(struct journal *j, const char *name, int64_t n);
int journal_counter_get(struct journal *j, const char *name, int64_t *out);
/* Batches pending or in flight. */
int journal_batches_open(struct journal *j, int64_t *out);
/* Operations not yet answered: queued, or in a pending or in-flight batch. */
int journal_backlog(struct journal *j, int64_t *out);
/* Background pruning, in one short transaction of at most max_bodies
 * bodies and max_events events, so the pipeline never waits long for it
 * (SQLite overwrites what it frees: a 500-item body is some 60 pages to
 * write again, so keep max_bodies small):
 *   - request bodies of batches that ended (done, failed or split) before
 *     bodies_before_ms are emptied: past the endpoint's idempotency window a
 *     body can no longer be resent under its key (a replay rebuilds it);
 *   - in the same turn, the items of those batches' ops that are final and
 *     that no replay can send again are cut to the NIK, the programme and
 *     the period (outcome and kpj are kept beside them): a failed
 *     deactivation, and a failed registration whose coverage is still its
 *     own and failed, keep their whole item (counter "pruned_items");
 *   - events decided before events_before_ms are forgotten: their ids can no
 *     longer be redelivered once Kafka's retention is shorter.
 * A backend may do its own upkeep in the same turn (SQLite: its logs
 * merged into their tables a minute after the last merge at the latest,
 * and before it prunes an event still in them).
 * Coverage, quota, ops (their outcomes, and items as above), batches and
 * the audit stay. pruned[0] and pruned[1] say how many bodies and events went (also
 * added to the counters "pruned_bodies" and "pruned_events"). Returns 1 when
 * a kind filled its limit (call again), 0 when nothing is left, or -errno. */
int journal_prune(struct journal *j, int64_t bodies_before_ms, int64_t events_before_ms,
                  size_t max_bodies, size_t max_events, int64_t pruned[2]);
/* Bytes the journal's live pages take, and the file's size (freed pages are
 * reused, so the file does not shrink after pruning). */
int journal_space(struct journal *j, int64_t *used, int64_t *file);
/* Bytes the journal takes on disk, every file of it (a gauge). */
int journal_disk_bytes(struct journal *j, int64_t *out);

/* ---- Operator side (bpjs-syncctl): below; the SQLite backend has it in
 * journal_sqlite_ctl.c ---- */
/* @@ journal-ctl-begin */
/* The operator's view of the journal (bpjs-syncctl): functions of the same
 * journal, opened with JOURNAL_OPERATOR (and JOURNAL_READONLY unless it
 * replays or audits). Each call is its own short transaction. Callbacks run
 * inside the transaction: copy what they need and return quickly (0 goes
 * on, > 0 stops, < 0 is an error). Errors in journal_errmsg(). */
#define JOURNAL_CTL_NAME_SIZE 40

/* Coverage states, as stored. */
enum journal_coverage_state {
        JOURNAL_COVERAGE_PENDING = 1, /* confirmed, registration not answered yet */
        JOURNAL_COVERAGE_ACTIVE,
        JOURNAL_COVERAGE_ENDED,
        JOURNAL_COVERAGE_FAILED, /* the registration failed; the slot was released */
};
const char *journal_ctl_coverage_state_name(int state);

/* b-<journal_id>-<id %012lld> and r-<journal_id>-<seq %012lld>, as pushed. */
void journal_ctl_batch_name(const struct journal *j, int64_t id,
                            char out[JOURNAL_CTL_NAME_SIZE]);
void journal_ctl_registration_id(const struct journal *j, int64_t seq,
                                 char out[JOURNAL_CTL_NAME_SIZE]);
/* A batch number or its full name. 0, -EINVAL if malformed, -EXDEV if the
 * name is another journal's. */
int journal_ctl_batch_parse(const struct journal *j, const char *s, int64_t *out);

struct journal_ctl_status {
        int64_t ops_unbatched;
        int64_t batches[8]; /* by enum journal_batch_state; [0] unused */
        int64_t items_failed;
        int64_t oldest_unsent_at; /* decision time (ms) of the oldest operation
                                     queued or in a pending/in-flight batch; 0 none */
        int64_t last_error_batch; /* the latest batch with an endpoint error; 0 none */
        int64_t last_error_at;
        char last_error[256];
        int64_t consumed, published, outbox;
};
/* A programme's slots in use and committed months (decide_use). */
typedef int (*journal_ctl_quota_fn)(const char *program, int64_t used, int64_t months,
                                    void *opaque);
/* One snapshot: the counts, and every programme's use through fn. */
int journal_ctl_status(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                       struct journal_ctl_status *out);

struct journal_ctl_filter {
        int state;           /* 0: any */
        const char *program; /* NULL: any; a batch matches if one of its items does */
        int64_t since_ms;    /* 0: any; the batch's last change at or after */
};
struct journal_ctl_batch {
        struct journal_batch b; /* body NULL in listings */
        int64_t items;
        const char *programs; /* comma-separated */
};
typedef int (*journal_ctl_batch_fn)(const struct journal_ctl_batch *b, void *opaque);
int journal_ctl_batches(struct journal *j, const struct journal_ctl_filter *f,
                        journal_ctl_batch_fn fn, void *opaque);

/* An operation with its outcome. */
struct journal_ctl_item {
        struct journal_op op;
        int status; /* enum result_status; 0: no final result yet */
        const char *kpj, *reason;
        int coverage;    /* the state of the coverage this op starts or ends; 0 if
                            a later registration replaced it */
        int batch_state; /* 0 if not batched */
};
typedef int (*journal_ctl_item_fn)(const struct journal_ctl_item *it, void *opaque);
/* The batch (body included), then its items; returns the number of items,
 * or -ENOENT if there is no such batch. */
int journal_ctl_batch_show(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                           journal_ctl_item_fn ifn, void *opaque);

struct journal_ctl_event {
        const char *event_id, *nik, *program;
        int type;   /* enum event_type, or 0 */
        int status; /* enum result_status (the first result) */
        const char *reason, *covered_by, *topic;
        int32_t partition;
        int64_t offset, at;
};
struct journal_ctl_coverage {
        const char *program;
        int state;
        int64_t start_month, end_month, reg_seq; /* the programme's period */
        const char *event_id;
        int64_t updated_at;
        int64_t first_month, last_month; /* its own months; none if last < first */
};
typedef int (*journal_ctl_event_fn)(const struct journal_ctl_event *e, void *opaque);
typedef int (*journal_ctl_coverage_fn)(const struct journal_ctl_coverage *cov,
                                       void *opaque);
struct journal_ctl_worker_fns {
        journal_ctl_event_fn event;
        journal_ctl_coverage_fn coverage;
        journal_ctl_item_fn op;
};
/* One worker's events, coverages (in decision order, ended ones kept) and
 * operations, in one snapshot. */
int journal_ctl_worker(struct journal *j, const char *nik,
                       const struct journal_ctl_worker_fns *fns, void *opaque);
/* Rejected events (only those with a valid event_id are journaled). */
int journal_ctl_rejected(struct journal *j, const char *reason, int64_t since_ms,
                         journal_ctl_event_fn fn, void *opaque);

struct journal_ctl_audit {
        int64_t id, at;
        const char *who, *action, *detail;
};
typedef int (*journal_ctl_audit_fn)(const struct journal_ctl_audit *a, void *opaque);
/* Records an operator action in its own transaction. */
int journal_ctl_audit_add(struct journal *j, const char *who, const char *action,
                          const char *detail);
/* contains: NULL, or text the detail must contain. */
int journal_ctl_audit_list(struct journal *j, const char *contains, int64_t since_ms,
                           journal_ctl_audit_fn fn, void *opaque);

/* Replay of a failed batch. A registration qualifies when its coverage is
 * still failed and still its own, the worker has no live coverage over an
 * overlapping period and no ended one holding one of its months, and the
 * programme has a free slot and the budget for its months; a deactivation
 * when the worker has no later operation. All qualify (and none left
 * before): the batch is pending again with the same body under the same
 * key. Some: they move to a new batch (a body from compose), the others stay
 * failed with the reason. None: the reasons are recorded. Every change and
 * its audit row are one transaction. The rules are replay_judge's (replay.h,
 * pure, beside decide); a backend reads the facts and applies the judgement. */
struct journal_ctl_quota {
        const char *program;
        int64_t quota;
        int64_t reserved; /* dry runs: slots earlier replays of this run would take */
        int64_t monthly_premium, budget; /* budget -1: none */
        int64_t reserved_months;         /* dry runs: months they would commit */
};
struct journal_ctl_replay_opts {
        const char *who;
        bool dry_run; /* decide and report, change nothing */
        struct journal_ctl_quota *quotas;
        size_t n_quotas;
        journal_compose_fn compose;
        void *opaque;
};
enum journal_ctl_replay_action {
        JOURNAL_CTL_REPLAY_SKIP = 0, /* the batch is not failed: nothing done */
        JOURNAL_CTL_REPLAY_NONE,     /* no item qualifies: left failed */
        JOURNAL_CTL_REPLAY_RESEND,   /* pending again: same body, same key */
        JOURNAL_CTL_REPLAY_REBUILD,  /* the qualifying items are in a new batch */
};
const char *journal_ctl_replay_action_name(int action);
struct journal_ctl_replay_item {
        int64_t seq, reg_seq;
        int kind;
        char nik[NIK_LEN + 1];
        char program[EVENT_PROGRAM_MAX + 1];
        bool ok;
        char why[160];
};
struct journal_ctl_replay {
        int64_t id;
        int kind, state; /* as found */
        int action;      /* enum journal_ctl_replay_action */
        int64_t new_id;  /* REBUILD, 0 in a dry run */
        char why[160];   /* SKIP */
        char last_error[256];
        size_t n, n_ok;
        struct journal_ctl_replay_item *items;
};
/* Returns 0 and *out (release with journal_ctl_replay_free), -ENOENT for an
 * unknown batch, or a negative errno. */
int journal_ctl_replay(struct journal *j, int64_t id,
                       const struct journal_ctl_replay_opts *o,
                       struct journal_ctl_replay *out);
void journal_ctl_replay_free(struct journal_ctl_replay *r);

/* The premium report's facts: coverages grouped by programme, class and
 * months. */
enum journal_ctl_report_class {
        JOURNAL_CTL_REPORT_WORKERS = 1, /* registration answered registered or
                                            already_registered */
        JOURNAL_CTL_REPORT_PENDING,     /* not answered yet */
};
struct journal_ctl_report_group {
        const char *program;
        int klass;                       /* enum journal_ctl_report_class */
        int64_t first_month, last_month; /* the coverages' own months */
        int64_t count;
};
typedef int (*journal_ctl_report_fn)(const struct journal_ctl_report_group *g,
                                     void *opaque);
/* One snapshot: every group of coverages that have months (failed ones
 * never), and each programme's slots in use through qfn. */
int journal_ctl_report(struct journal *j, journal_ctl_report_fn fn,
                       journal_ctl_quota_fn qfn, void *opaque);
/* @@ journal-ctl-end */

#endif
