/* The SQLite backend's internals, shared by its two halves:
 * journal_sqlite.c (open, the daemon's side) and journal_sqlite_ctl.c (the
 * operator's side, bpjs-syncctl). One connection type, one set of helpers.
 * Private: only the SQLite backend's .c files include this header. */
#ifndef BPJS_JOURNAL_SQLITE_INT_H
#define BPJS_JOURNAL_SQLITE_INT_H

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"
#include "journal_backend.h"
#include "textpool.h"

/* What a write on a read-only open (JOURNAL_READONLY) is told. */
#define JOURNAL_SQLITE_READONLY_TEXT "the journal was opened read-only: no change is made"

/* One coverage as it stands (journal_sqlite_logs.c): its newest image in
 * the coverage log, else its row of the coverage table. */
struct jsql_cov {
        int64_t reg_seq;
        char program[EVENT_PROGRAM_MAX + 1];
        int state; /* enum journal_coverage_state, as stored (never "active") */
        int64_t start_month, end_month, first_month, last_month;
        char event_id[EVENT_ID_MAX + 1];
        int64_t updated_at;
        int64_t src; /* the log image it is, or 0: the table's row */
};
struct jsql_covs {
        struct jsql_cov *v;
        size_t n, cap;
};

/* An event's columns, as events and event_log both hold them. */
#define JSQL_EVENT_COLUMNS                                                               \
        "event_id, nik, program, type, status, reason, covered_by, topic, partition,"    \
        " offset, decided_at"

/* Rows the two logs hold together before a merge (the daemon's default). */
#define JSQL_LOGS_MERGE_ROWS 50000
/* and at the latest this long after the last merge (pruning's turn) */
#define JSQL_LOGS_MERGE_MS 60000

/* A handle's index of one log (journal_sqlite_logs.c): per row, its key's
 * hash, its seq and (coverages) its registration; per hash, its newest row
 * (a hash table of slots), each row linking to the one before of the same
 * hash. Two keys may share a hash: a row's key is checked when it is read. */
struct jsql_logidx {
        struct lg_ent {
                int64_t seq, key2;
                uint32_t h, prev;
        } * ent;
        size_t n, cap, n_committed;
        struct lg_slot {
                uint32_t h, head;
        } * slot;
        size_t n_keys, n_slots;
        int64_t last;  /* the highest seq indexed */
        int64_t floor; /* the seq merged through when the index was emptied */
};

/* Event ids the open transaction found in neither the event log nor
 * events (jsql_ev_absent): nothing but the transaction itself writes to
 * either until it ends (a merge has a transaction of its own), so writing
 * one of them asks the log's index only. Emptied when a transaction
 * begins, commits or rolls back. */
struct jsql_absent {
        uint32_t *slot; /* 0: empty, else 1 + the id's number */
        uint32_t n_slots, n, cap;
        const char **id; /* the ids, copied into texts */
        struct textpool texts;
};

/* The coverage log and the event log, as one handle knows them. */
struct jsql_logs {
        struct jsql_logidx cov, ev;
        struct jsql_absent absent;
        int64_t merges;     /* meta log_merges as last read; -1: read all again */
        int64_t merge_rows; /* merge once the logs hold this many rows */
        int64_t merged_at;  /* wall ms of this handle's last merge (or open) */
        sqlite3_stmt **st;
        struct jsql_covs rows; /* what jsql_cov_rows hands out */
};

struct journal {
        const struct journal_backend *be; /* first: journal.c dispatches on it */
        sqlite3 *db;
        sqlite3_stmt **st;     /* the daemon half's table (journal_sqlite.c) */
        sqlite3_stmt **ctl_st; /* the operator half's (journal_sqlite_ctl.c) */
        unsigned flags;        /* enum journal_open_flags, as opened */
        char id[JOURNAL_ID_LEN + 1];
        char errmsg[256];
        /* write health: 0, or the -errno of the first write that failed since
         * the last one that worked, with its text (the real cause) */
        int write_rc;
        char write_error[256];
        /* the open consumed batch's slot changes, one update each at commit */
        struct quota_delta {
                const char *program;
                int64_t delta, months;
        } * qd;
        size_t n_qd, cap_qd;
        /* the open transaction's messages for the outbox, framed, written as
         * one row when it commits (jsql_outbox_flush) */
        unsigned char *ob;
        size_t ob_len, ob_cap, ob_n;
        struct jsql_logs lg; /* the two logs' indexes */
        char topic[256];     /* the topic of the message fetch hands over */
        int64_t ob_through;  /* every message up to here delivered (meta) */
        bool ob_through_known;
};

/* Records "what: SQLite's message" in errmsg and returns the negative errno
 * for rc (the extended code: SQLITE_IOERR_WRITE says more than
 * SQLITE_IOERR). */
static inline int fail(struct journal *j, int rc, const char *what)
{
        int base = rc & 0xff;

        snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s", what, sqlite3_errmsg(j->db));
        return base == SQLITE_FULL                            ? -ENOSPC
               : base == SQLITE_BUSY || base == SQLITE_LOCKED ? -EBUSY
               : base == SQLITE_NOMEM                         ? -ENOMEM
               : base == SQLITE_READONLY                      ? -EROFS
                                                              : -EIO;
}

/* A write failed: the first failure's text is kept until writes work again. */
static inline void write_failed(struct journal *j, int err)
{
        if (j->write_rc)
                return;
        j->write_rc = err;
        snprintf(j->write_error, sizeof(j->write_error), "%s", j->errmsg);
}

/* Resets a statement for its next use and binds nothing. */
static inline sqlite3_stmt *stmt_fresh(sqlite3_stmt *s)
{
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return s;
}

/* Runs a statement that returns no rows. A write that leaves no
 * transaction open (a COMMIT, or a statement on its own) has reached the
 * file: the journal takes writes again. begin: s opens a transaction. */
static inline int stmt_run(struct journal *j, sqlite3_stmt *s, bool begin,
                           const char *what)
{
        int rc = sqlite3_step(s);
        int err;

        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
                if (!begin && sqlite3_get_autocommit(j->db))
                        j->write_rc = 0;
                return 0;
        }
        err = fail(j, rc, what);
        if (err == -EROFS && (j->flags & JOURNAL_READONLY)) {
                /* refused by the open's own choice, not a failing disk */
                snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s", what,
                         JOURNAL_SQLITE_READONLY_TEXT);
                return err;
        }
        write_failed(j, err);
        return err;
}

/* Column i of the row as text in out (cut to its size). */
static inline void column_copy(sqlite3_stmt *s, int i, char *out, size_t size)
{
        const unsigned char *t = sqlite3_column_text(s, i);
        size_t n = t ? (size_t)sqlite3_column_bytes(s, i) : 0;

        if (n >= size)
                n = size - 1;
        if (n)
                memcpy(out, t, n);
        out[n] = '\0';
}

static inline void bind_text(sqlite3_stmt *s, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(s, i);
}

static inline void bind_blob(sqlite3_stmt *s, int i, const void *v, size_t len)
{
        if (v)
                sqlite3_bind_blob64(s, i, v, len, SQLITE_STATIC);
        else
                sqlite3_bind_null(s, i);
}

/* Runs SQL text with no rows (a pragma, the schema). */
int jsql_exec(struct journal *j, const char *text);

/* Transactions (journal_sqlite.c): BEGIN IMMEDIATE (-EROFS on a read-only
 * open), COMMIT, and a ROLLBACK only if one is still open (SQLite rolls
 * back by itself after some errors; errmsg keeps the first cause). */
int jsql_begin(struct journal *j);
int jsql_commit(struct journal *j);
void jsql_rollback(struct journal *j);

/* Reads both halves make: a worker's coverages as decide sees them (out
 * emptied, then filled with the live ones and the ended ones that have
 * months, in decision order), a programme's slots in use and committed
 * months (months may be NULL). */
int jsql_worker_live(struct journal *j, const char *nik, struct decide_worker *out);
int jsql_quota_used(struct journal *j, const char *program, int64_t *used,
                    int64_t *months);

/* Writes of the daemon half that the operator half shares
 * (journal_sqlite.c), each in the open transaction. */
int jsql_quota_add(struct journal *j, const char *program, int64_t slots, int64_t months);
/* A message for the outbox, kept with the open transaction's others; they
 * become one row at jsql_outbox_flush, which the transaction's writer calls
 * before committing (and a rollback forgets them). */
int jsql_outbox_add(struct journal *j, const struct journal_out *o);
int jsql_outbox_flush(struct journal *j);
/* A new pending batch for ops, its body from compose, the ops moved into it
 * from batch `from` (0: from no batch); -EALREADY if an op was not there. */
int jsql_batch_insert(struct journal *j, int kind, const struct journal_op *ops, size_t n,
                      int64_t from, journal_compose_fn compose, void *opaque,
                      int64_t *out_id);
/* Ends a batch in state with error as its last error (NULL: none). */
int jsql_batch_end(struct journal *j, int64_t id, int state, const char *error);

/* The coverage and event logs (journal_sqlite_logs.c). Their statements,
 * prepared at open (an SQLite code, its text in errmsg), and freed with the
 * indexes. */
int jsql_logs_prepare(struct journal *j);
void jsql_logs_finalize(struct journal *j);
/* At the start of every transaction (jsql_begin, the operator's reads):
 * the indexes brought up to date with what others appended or merged. */
int jsql_logs_sync(struct journal *j);
/* After COMMIT / ROLLBACK: this transaction's rows kept / forgotten. */
void jsql_logs_committed(struct journal *j);
void jsql_logs_rollback(struct journal *j);
/* Every coverage of nik as it stands, in registration order (all states),
 * in *out: valid until the next call. */
int jsql_cov_rows(struct journal *j, const char *nik, const struct jsql_covs **out);
/* The coverage registration reg_seq takes, pending: record r's worker,
 * programme, period, months, event id and time. */
int jsql_cov_take(struct journal *j, const struct journal_record *r, int64_t reg_seq);
/* A change of a coverage as jsql_cov_rows gave it: its new state, last
 * month and time (-ESTALE if it has no row). */
int jsql_cov_change(struct journal *j, const char *nik, const struct jsql_cov *from,
                    int state, int64_t last_month, int64_t at);
/* Whether an event id was journaled (1, 0, -errno), and a decided event
 * journaled (-EIO if its id was already). */
int jsql_ev_seen(struct journal *j, const char *event_id);
void jsql_ev_absent(struct journal *j, const char *event_id);
int jsql_ev_add(struct journal *j, const struct journal_record *r);
/* Rows in the logs (the indexes'), and their merge into the coverage and
 * event tables in one transaction of its own. */
size_t jsql_logs_pending(const struct journal *j);
int jsql_logs_merge(struct journal *j);
/* Whether pruning should merge first (1, 0, -errno): a minute since the
 * last merge, or an event decided before events_before_ms in the log. */
int jsql_logs_merge_due(struct journal *j, int64_t events_before_ms);

/* The operator half's statements (journal_sqlite_ctl.c), prepared at open;
 * 0, or the SQLite code of the first that would not prepare, with its text
 * in errmsg. */
int jsql_ctl_prepare(struct journal *j);
/* The operator half's implementations of journal.h's journal_ctl_* calls
 * (journal_sqlite_ctl.c), for the backend table. */
int jsql_ctl_status(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                    struct journal_ctl_status *out);
int jsql_ctl_batches(struct journal *j, const struct journal_ctl_filter *f,
                     journal_ctl_batch_fn fn, void *opaque);
int jsql_ctl_batch_show(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                        journal_ctl_item_fn ifn, void *opaque);
int jsql_ctl_worker(struct journal *j, const char *nik,
                    const struct journal_ctl_worker_fns *fns, void *opaque);
int jsql_ctl_rejected(struct journal *j, const char *reason, int64_t since_ms,
                      journal_ctl_event_fn fn, void *opaque);
int jsql_ctl_audit_add(struct journal *j, const char *who, const char *action,
                       const char *detail);
int jsql_ctl_audit_list(struct journal *j, const char *contains, int64_t since_ms,
                        journal_ctl_audit_fn fn, void *opaque);
int jsql_ctl_replay(struct journal *j, int64_t id,
                    const struct journal_ctl_replay_opts *o,
                    struct journal_ctl_replay *out);
int jsql_ctl_report(struct journal *j, journal_ctl_report_fn fn, journal_ctl_quota_fn qfn,
                    void *opaque);
void jsql_ctl_finalize(struct journal *j);

#endif
