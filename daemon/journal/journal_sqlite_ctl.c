/* The operator's half of the SQLite backend (bpjs-syncctl): the same
 * connection as the daemon's half (journal_sqlite.c, opened with
 * JOURNAL_OPERATOR), its own statements prepared at open from one table,
 * short transactions. What the daemon's half already writes (quota, batches,
 * batch ends, counters, the outbox count) is called there, never copied.
 * See journal.h, "Operator side". */
#include "journal.h"
#include "journal_ctl_int.h"
#include "journal_sqlite_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "replay.h"

enum stmt {
        C_BEGIN,
        C_COUNT_UNBATCHED,
        C_COUNT_BATCHES,
        C_COUNT_FAILED_ITEMS,
        C_OLDEST_QUEUED,
        C_OLDEST_OPEN,
        C_LAST_ERROR,
        C_QUOTAS,
        C_BATCHES,
        C_BATCH_ITEMS,
        C_WORKER_OPS,
        C_WORKER_EVENTS,
        C_OP_STATUS,
        C_REJECTED,
        C_AUDIT_ADD,
        C_AUDIT_LIST,
        C_LATER_OP,
        C_OP_RESET,
        C_OP_REASON,
        C_BATCH_REQUEUE,
        C_REPORT,
        C__COUNT
};

#define BATCH_COLUMNS                                                                    \
        "b.id, b.kind, b.state, b.attempts, b.next_at, b.last_error, b.created_at, "     \
        "b.updated_at "
/* An op, its registration's kpj and outcome, its own outcome and its
 * batch's state (the coverage it starts or ends is read apart: item_coverage). */
#define ITEM_COLUMNS                                                                     \
        "o.seq, o.kind, o.nik, o.program, o.event_id, i.item, o.reg_seq, r.kpj, "        \
        "o.batch_id, o.status, o.kpj, o.reason, r.status, b.state "                      \
        "FROM ops o JOIN items i ON i.seq = o.seq LEFT JOIN ops r ON r.seq = o.reg_seq " \
        "LEFT JOIN batches b ON b.id = o.batch_id "
/* When op o's event was decided (in events or the event log). */
#define DECIDED_AT    "(SELECT e.decided_at FROM events_cur e WHERE e.event_id = o.event_id)"
#define EVENT_COLUMNS JSQL_EVENT_COLUMNS " FROM events_cur "

static const char *const sql[C__COUNT] = {
    [C_BEGIN] = "BEGIN",
    [C_COUNT_UNBATCHED] = "SELECT count(*) FROM ops WHERE batch_id IS NULL"
                          " AND status IS NULL",
    [C_COUNT_BATCHES] = "SELECT state, count(*) FROM batches GROUP BY state",
    [C_COUNT_FAILED_ITEMS] =
        "SELECT count(*) FROM batches b JOIN ops o ON o.batch_id = b.id"
        " WHERE b.state = 4",
    [C_OLDEST_QUEUED] = "SELECT " DECIDED_AT " AS at FROM ops o WHERE o.batch_id IS NULL"
                        " AND o.status IS NULL AND at IS NOT NULL ORDER BY o.seq LIMIT 1",
    [C_OLDEST_OPEN] = "SELECT min(" DECIDED_AT ") FROM batches b JOIN ops o"
                      " ON o.batch_id = b.id WHERE b.state IN (1, 2)",
    /* a replay's own note is not an endpoint error */
    [C_LAST_ERROR] = "SELECT id, last_error, updated_at FROM batches"
                     " WHERE last_error IS NOT NULL AND last_error NOT LIKE 'replayed %'"
                     " ORDER BY updated_at DESC, id DESC LIMIT 1",
    [C_QUOTAS] = "SELECT program, used, months FROM quota ORDER BY program",
    [C_BATCHES] =
        "SELECT " BATCH_COLUMNS ", (SELECT count(*) FROM ops o WHERE o.batch_id = b.id),"
        " (SELECT group_concat(program, ',') FROM (SELECT DISTINCT o.program FROM ops o"
        "   WHERE o.batch_id = b.id ORDER BY o.program))"
        " FROM batches b WHERE (?1 IS NULL OR b.state = ?1)"
        " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM ops o WHERE o.batch_id = b.id"
        "      AND o.program = ?2))"
        " AND (?3 IS NULL OR b.updated_at >= ?3) ORDER BY b.id",
    [C_BATCH_ITEMS] = "SELECT " ITEM_COLUMNS "WHERE o.batch_id = ?1 ORDER BY o.seq",
    [C_WORKER_OPS] = "SELECT " ITEM_COLUMNS "WHERE o.nik = ?1 ORDER BY o.seq",
    [C_WORKER_EVENTS] =
        "SELECT " EVENT_COLUMNS "WHERE nik = ?1 ORDER BY decided_at, event_id",
    [C_OP_STATUS] = "SELECT status FROM ops WHERE seq = ?1",
    [C_REJECTED] =
        "SELECT " EVENT_COLUMNS "WHERE status = ?3 AND (?1 IS NULL OR reason = ?1)"
        " AND (?2 IS NULL OR decided_at >= ?2) ORDER BY decided_at, event_id",
    [C_AUDIT_ADD] = "INSERT INTO audit(at, who, action, detail) VALUES(?1, ?2, ?3, ?4)",
    [C_AUDIT_LIST] = "SELECT id, at, who, action, detail FROM audit"
                     " WHERE (?1 IS NULL OR instr(detail, ?1) > 0)"
                     " AND (?2 IS NULL OR at >= ?2) ORDER BY id",
    [C_LATER_OP] = "SELECT seq FROM ops WHERE seq > ?2 AND nik = ?1 ORDER BY seq LIMIT 1",
    [C_OP_RESET] = "UPDATE ops SET status = NULL, kpj = NULL, reason = NULL"
                   " WHERE seq = ?1 AND batch_id = ?2",
    [C_OP_REASON] = "UPDATE ops SET reason = ?2 WHERE seq = ?1",
    [C_BATCH_REQUEUE] = "UPDATE batches SET state = 1, attempts = 0, next_at = ?2,"
                        " last_error = ?3, updated_at = ?2 WHERE id = ?1 AND state = 4",
    /* The premium report's groups, in one statement: workers (1) are active
     * coverages, and ended ones whose registration was answered registered
     * or already_registered (5, 6); pending (2) are those whose
     * registration has no answer yet; failed ones, and ended ones whose
     * registration failed, commit nothing and are left out. A coverage's
     * months are its own, first_month..last_month. */
    [C_REPORT] = "SELECT c.program, CASE"
                 "   WHEN c.state = 2 OR (c.state = 3 AND r.status IN (5, 6)) THEN 1"
                 "   WHEN c.state IN (1, 3) AND r.status IS NULL THEN 2 END AS klass,"
                 " c.first_month AS first, c.last_month AS last, count(*)"
                 " FROM coverage_now c LEFT JOIN ops r ON r.seq = c.reg_seq"
                 " WHERE c.first_month <= c.last_month"
                 " GROUP BY c.program, klass, first, last HAVING klass IS NOT NULL"
                 " ORDER BY c.program, klass, first, last",
};
_Static_assert(RESULT_REGISTERED == 5 && RESULT_ALREADY_REGISTERED == 6 &&
                   JOURNAL_CTL_REPORT_WORKERS == 1 && JOURNAL_CTL_REPORT_PENDING == 2,
               "C_REPORT names these by number");

int jsql_ctl_prepare(struct journal *j)
{
        int rc = SQLITE_OK;

        j->ctl_st = calloc(C__COUNT, sizeof(sqlite3_stmt *));
        if (!j->ctl_st)
                return SQLITE_NOMEM;
        for (int i = 0; rc == SQLITE_OK && i < C__COUNT; i++)
                rc = sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &j->ctl_st[i], NULL);
        return rc;
}

void jsql_ctl_finalize(struct journal *j)
{
        for (int i = 0; j->ctl_st && i < C__COUNT; i++)
                sqlite3_finalize(j->ctl_st[i]);
        free(j->ctl_st);
        j->ctl_st = NULL;
}

static sqlite3_stmt *use(struct journal *j, enum stmt s)
{
        return stmt_fresh(j->ctl_st[s]);
}

/* Binds v, or NULL when v is 0 (an absent filter). */
static void bind_opt_int(sqlite3_stmt *s, int i, int64_t v)
{
        if (v)
                sqlite3_bind_int64(s, i, v);
        else
                sqlite3_bind_null(s, i);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
        return (const char *)sqlite3_column_text(s, i);
}

/* Runs a statement that returns no rows. */
static int run(struct journal *j, enum stmt s, const char *what)
{
        return stmt_run(j, j->ctl_st[s], s == C_BEGIN, what);
}

/* Runs a statement returning one integer; *out is 0 when there is no row
 * or the value is NULL. */
static int run_int(struct journal *j, enum stmt s, const char *what, int64_t *out)
{
        int rc = sqlite3_step(j->ctl_st[s]);

        *out = rc == SQLITE_ROW ? sqlite3_column_int64(j->ctl_st[s], 0) : 0;
        sqlite3_reset(j->ctl_st[s]);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, what);
}

/* A short read transaction (WAL: it never blocks the daemon), or a write
 * one (BEGIN IMMEDIATE, the daemon half's journal_begin). */
static int begin(struct journal *j, bool write)
{
        int rc;

        if (write)
                return jsql_begin(j);
        rc = run(j, C_BEGIN, "begin");
        if (rc == 0 && (rc = jsql_logs_sync(j)))
                jsql_rollback(j);
        return rc;
}

static int commit(struct journal *j)
{
        return jsql_commit(j);
}

static void rollback(struct journal *j)
{
        jsql_rollback(j);
}

/* Ends a read transaction: rc is the caller's result, kept unless the end
 * itself fails. */
static int end_read(struct journal *j, int rc)
{
        int e = commit(j);
        if (e)
                rollback(j);
        return rc < 0 ? rc : e ? e : rc;
}

typedef int (*row_fn)(sqlite3_stmt *s, void *ctx);

/* Steps s to its end, handing each row to fn. Returns the number of rows,
 * or fn's negative result, or an error. */
static int each(struct journal *j, sqlite3_stmt *s, row_fn fn, void *ctx,
                const char *what)
{
        int rc, n = 0, r = 0;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                n++;
                r = fn(s, ctx);
                if (r)
                        break;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, what);
        return r < 0 ? r : n;
}

/* ---- status ---- */

struct quota_ctx {
        journal_ctl_quota_fn fn;
        void *opaque;
};

static int quota_row(sqlite3_stmt *s, void *ctx)
{
        struct quota_ctx *q = ctx;
        return q->fn(col_text(s, 0), sqlite3_column_int64(s, 1),
                     sqlite3_column_int64(s, 2), q->opaque);
}

static int batch_counts(sqlite3_stmt *s, void *ctx)
{
        struct journal_ctl_status *st = ctx;
        int state = sqlite3_column_int(s, 0);

        if (state >= 1 && state < (int)(sizeof(st->batches) / sizeof(st->batches[0])))
                st->batches[state] = sqlite3_column_int64(s, 1);
        return 0;
}

static int last_error(struct journal *j, struct journal_ctl_status *st)
{
        sqlite3_stmt *s = use(j, C_LAST_ERROR);
        int rc = sqlite3_step(s);

        if (rc == SQLITE_ROW) {
                st->last_error_batch = sqlite3_column_int64(s, 0);
                snprintf(st->last_error, sizeof(st->last_error), "%s", col_text(s, 1));
                st->last_error_at = sqlite3_column_int64(s, 2);
        }
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, "last error");
}

int jsql_ctl_status(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                    struct journal_ctl_status *out)
{
        struct journal_ctl_status st = {0};
        struct quota_ctx q = {fn, opaque};
        int64_t queued = 0, open = 0;
        int rc = begin(j, false);

        if (rc)
                return rc;
        rc = run_int(j, C_COUNT_UNBATCHED, "ops", &st.ops_unbatched);
        if (rc == 0)
                rc = each(j, use(j, C_COUNT_BATCHES), batch_counts, &st, "batches");
        if (rc >= 0)
                rc = run_int(j, C_COUNT_FAILED_ITEMS, "failed items", &st.items_failed);
        if (rc == 0)
                rc = run_int(j, C_OLDEST_QUEUED, "oldest", &queued);
        if (rc == 0)
                rc = run_int(j, C_OLDEST_OPEN, "oldest", &open);
        if (rc == 0)
                rc = last_error(j, &st);
        if (rc == 0)
                rc = journal_counter_get(j, "consumed", &st.consumed);
        if (rc == 0)
                rc = journal_counter_get(j, "published", &st.published);
        if (rc == 0)
                rc = journal_outbox_count(j, &st.outbox);
        if (rc == 0 && fn)
                rc = each(j, use(j, C_QUOTAS), quota_row, &q, "quota");
        rc = end_read(j, rc);
        if (rc < 0)
                return rc;
        st.oldest_unsent_at = queued && open ? (queued < open ? queued : open)
                              : queued       ? queued
                                             : open;
        *out = st;
        return 0;
}

/* ---- batches ---- */

static void read_batch(sqlite3_stmt *s, struct journal_batch *b)
{
        memset(b, 0, sizeof(*b));
        b->id = sqlite3_column_int64(s, 0);
        b->kind = sqlite3_column_int(s, 1);
        b->state = sqlite3_column_int(s, 2);
        b->attempts = sqlite3_column_int64(s, 3);
        b->next_at = sqlite3_column_int64(s, 4);
        b->last_error = col_text(s, 5);
        b->created_at = sqlite3_column_int64(s, 6);
        b->updated_at = sqlite3_column_int64(s, 7);
}

struct batch_ctx {
        journal_ctl_batch_fn fn;
        void *opaque;
};

static int batch_row(sqlite3_stmt *s, void *ctx)
{
        struct batch_ctx *bc = ctx;
        struct journal_ctl_batch b;

        read_batch(s, &b.b);
        b.items = sqlite3_column_int64(s, 8);
        b.programs = col_text(s, 9);
        if (!b.programs)
                b.programs = "";
        return bc->fn(&b, bc->opaque);
}

int jsql_ctl_batches(struct journal *j, const struct journal_ctl_filter *f,
                     journal_ctl_batch_fn fn, void *opaque)
{
        struct batch_ctx bc = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(j, false);

        if (rc)
                return rc;
        s = use(j, C_BATCHES);
        bind_opt_int(s, 1, f->state);
        bind_text(s, 2, f->program);
        bind_opt_int(s, 3, f->since_ms);
        return end_read(j, each(j, s, batch_row, &bc, "batches"));
}

/* A coverage's state as the operator reads it: a pending one whose
 * registration was answered registered or already_registered is active. */
static int state_now(const struct jsql_cov *c, int reg_status)
{
        return c->state == JOURNAL_COVERAGE_PENDING &&
                       (reg_status == RESULT_REGISTERED ||
                        reg_status == RESULT_ALREADY_REGISTERED)
                   ? JOURNAL_COVERAGE_ACTIVE
                   : c->state;
}

/* The state of the coverage op starts (a registration) or ends (a
 * deactivation) while it is still the op's own (no later registration of
 * the worker in that programme), or 0. */
static int item_coverage(struct journal *j, const struct journal_op *op, int reg_status,
                         int *out)
{
        const struct jsql_covs *covs;
        const struct jsql_cov *own = NULL;
        bool later = false;
        int rc = jsql_cov_rows(j, op->nik, &covs);

        for (size_t i = 0; rc == 0 && i < covs->n; i++) {
                if (strcmp(covs->v[i].program, op->program) != 0)
                        continue;
                if (covs->v[i].reg_seq == op->reg_seq)
                        own = &covs->v[i];
                else if (covs->v[i].reg_seq > op->reg_seq)
                        later = true;
        }
        *out = rc == 0 && own && !later ? state_now(own, reg_status) : 0;
        return rc;
}

static int read_item(struct journal *j, sqlite3_stmt *s, struct journal_ctl_item *it)
{
        struct journal_op *op = &it->op;

        memset(it, 0, sizeof(*it));
        op->seq = sqlite3_column_int64(s, 0);
        op->kind = sqlite3_column_int(s, 1);
        op->nik = col_text(s, 2);
        op->program = col_text(s, 3);
        op->event_id = col_text(s, 4);
        op->item = sqlite3_column_blob(s, 5);
        op->item_len = (size_t)sqlite3_column_bytes(s, 5);
        op->reg_seq =
            op->kind == JOURNAL_OP_REGISTER ? op->seq : sqlite3_column_int64(s, 6);
        op->reg_kpj = col_text(s, 7);
        op->batch_id = sqlite3_column_int64(s, 8);
        it->status = sqlite3_column_int(s, 9);
        it->kpj = col_text(s, 10);
        it->reason = col_text(s, 11);
        it->batch_state = sqlite3_column_int(s, 13);
        return item_coverage(j, op,
                             op->kind == JOURNAL_OP_REGISTER ? it->status
                                                             : sqlite3_column_int(s, 12),
                             &it->coverage);
}

struct item_ctx {
        journal_ctl_item_fn fn;
        void *opaque;
        struct journal *j;
};

static int item_row(sqlite3_stmt *s, void *ctx)
{
        struct item_ctx *ic = ctx;
        struct journal_ctl_item it;
        int rc = read_item(ic->j, s, &it);

        return rc ? rc : ic->fn(&it, ic->opaque);
}

/* The batch as the daemon half reads it (journal_batch_get), handed on. */
struct shown_ctx {
        journal_ctl_batch_fn fn;
        void *opaque;
        int rc;
};

static int shown_batch(const struct journal_batch *jb, void *opaque)
{
        struct shown_ctx *sc = opaque;
        struct journal_ctl_batch b = {.b = *jb, .programs = ""};

        return sc->rc = sc->fn(&b, sc->opaque);
}

int jsql_ctl_batch_show(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                        journal_ctl_item_fn ifn, void *opaque)
{
        struct item_ctx ic = {ifn, opaque, j};
        struct shown_ctx sc = {bfn, opaque, 0};
        sqlite3_stmt *s;
        int rc = begin(j, false);

        if (rc)
                return rc;
        rc = journal_batch_get(j, id, shown_batch, &sc);
        if (rc == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg), "no batch %lld", (long long)id);
                rc = -ENOENT;
        } else if (rc > 0) {
                rc = sc.rc;
        }
        if (rc == 0) {
                s = use(j, C_BATCH_ITEMS);
                sqlite3_bind_int64(s, 1, id);
                rc = each(j, s, item_row, &ic, "items");
        }
        return end_read(j, rc);
}

/* ---- workers, rejected events ---- */

struct event_ctx {
        journal_ctl_event_fn fn;
        void *opaque;
};

static int event_row(sqlite3_stmt *s, void *ctx)
{
        struct event_ctx *ec = ctx;
        struct journal_ctl_event e = {
            .event_id = col_text(s, 0),
            .nik = col_text(s, 1),
            .program = col_text(s, 2),
            .type = sqlite3_column_int(s, 3),
            .status = sqlite3_column_int(s, 4),
            .reason = col_text(s, 5),
            .covered_by = col_text(s, 6),
            .topic = col_text(s, 7),
            .partition = sqlite3_column_int(s, 8),
            .offset = sqlite3_column_int64(s, 9),
            .at = sqlite3_column_int64(s, 10),
        };
        return ec->fn(&e, ec->opaque);
}

/* The worker's coverages as they stand, in decision order, each with its
 * state as the operator reads it. */
static int worker_coverages(struct journal *j, const char *nik,
                            journal_ctl_coverage_fn fn, void *opaque)
{
        const struct jsql_covs *covs;
        int rc = jsql_cov_rows(j, nik, &covs), n = 0;

        for (size_t i = 0; rc == 0 && i < covs->n; i++) {
                const struct jsql_cov *c = &covs->v[i];
                sqlite3_stmt *s = use(j, C_OP_STATUS);
                int64_t status;
                sqlite3_bind_int64(s, 1, c->reg_seq);
                rc = run_int(j, C_OP_STATUS, "coverage", &status);
                if (rc)
                        break;
                struct journal_ctl_coverage cov = {
                    .program = c->program,
                    .state = state_now(c, (int)status),
                    .start_month = c->start_month,
                    .end_month = c->end_month,
                    .reg_seq = c->reg_seq,
                    .event_id = c->event_id[0] ? c->event_id : NULL,
                    .updated_at = c->updated_at,
                    .first_month = c->first_month,
                    .last_month = c->last_month,
                };
                n++;
                rc = fn(&cov, opaque);
        }
        return rc < 0 ? rc : n;
}

int jsql_ctl_worker(struct journal *j, const char *nik,
                    const struct journal_ctl_worker_fns *fns, void *opaque)
{
        struct event_ctx ec = {fns->event, opaque};
        struct item_ctx ic = {fns->op, opaque, j};
        int rc = begin(j, false), n = 0;

        if (rc)
                return rc;
        if (fns->event) {
                bind_text(use(j, C_WORKER_EVENTS), 1, nik);
                rc = each(j, j->ctl_st[C_WORKER_EVENTS], event_row, &ec, "events");
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->coverage) {
                rc = worker_coverages(j, nik, fns->coverage, opaque);
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->op) {
                bind_text(use(j, C_WORKER_OPS), 1, nik);
                rc = each(j, j->ctl_st[C_WORKER_OPS], item_row, &ic, "ops");
                n += rc > 0 ? rc : 0;
        }
        rc = end_read(j, rc);
        return rc < 0 ? rc : n;
}

int jsql_ctl_rejected(struct journal *j, const char *reason, int64_t since_ms,
                      journal_ctl_event_fn fn, void *opaque)
{
        struct event_ctx ec = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(j, false);

        if (rc)
                return rc;
        s = use(j, C_REJECTED);
        bind_text(s, 1, reason);
        bind_opt_int(s, 2, since_ms);
        sqlite3_bind_int(s, 3, RESULT_REJECTED);
        return end_read(j, each(j, s, event_row, &ec, "events"));
}

/* ---- audit ---- */

static int audit_insert(struct journal *j, int64_t at, const char *who,
                        const char *action, const char *detail)
{
        sqlite3_stmt *s = use(j, C_AUDIT_ADD);
        sqlite3_bind_int64(s, 1, at);
        bind_text(s, 2, who);
        bind_text(s, 3, action);
        bind_text(s, 4, detail);
        return run(j, C_AUDIT_ADD, "audit");
}

int jsql_ctl_audit_add(struct journal *j, const char *who, const char *action,
                       const char *detail)
{
        int rc = begin(j, true);

        if (rc == 0)
                rc = audit_insert(j, clock_now_ms(), who, action, detail);
        if (rc == 0)
                rc = commit(j);
        if (rc)
                rollback(j);
        return rc;
}

struct audit_ctx {
        journal_ctl_audit_fn fn;
        void *opaque;
};

static int audit_row(sqlite3_stmt *s, void *ctx)
{
        struct audit_ctx *ac = ctx;
        struct journal_ctl_audit a = {
            .id = sqlite3_column_int64(s, 0),
            .at = sqlite3_column_int64(s, 1),
            .who = col_text(s, 2),
            .action = col_text(s, 3),
            .detail = col_text(s, 4),
        };
        return ac->fn(&a, ac->opaque);
}

int jsql_ctl_audit_list(struct journal *j, const char *contains, int64_t since_ms,
                        journal_ctl_audit_fn fn, void *opaque)
{
        struct audit_ctx ac = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(j, false);

        if (rc)
                return rc;
        s = use(j, C_AUDIT_LIST);
        bind_text(s, 1, contains);
        bind_opt_int(s, 2, since_ms);
        return end_read(j, each(j, s, audit_row, &ac, "audit"));
}

/* ---- replay ---- */

/* The journal reads the facts of the batch (plain SELECTs, in the replay's
 * one transaction), replay_judge (replay.j) decides, and apply() carries the
 * judgement out. No replay rule is written here. */

/* What replay_judge needs to know of one op: its result, the coverage row of
 * its NIK and programme, the worker's live coverages and later operation. */
static int read_facts(struct journal *j, const struct jctl_rop *o, struct replay_item *f,
                      struct decide_worker *w)
{
        const struct jsql_covs *covs;
        const struct jsql_cov *latest = NULL;
        sqlite3_stmt *s;
        int rc = jsql_cov_rows(j, o->nik, &covs);

        *f = (struct replay_item){
            .kind = o->op.kind,
            .status = (enum result_status)o->status,
            .program = o->program,
            .worker = w,
        };
        if (rc)
                return rc;
        /* the latest coverage of (NIK, programme): the op's own, or a later one */
        for (size_t i = 0; i < covs->n; i++)
                if (strcmp(covs->v[i].program, o->program) == 0)
                        latest = &covs->v[i];
        if (latest) {
                int64_t status = 0;
                s = use(j, C_OP_STATUS);
                sqlite3_bind_int64(s, 1, latest->reg_seq);
                rc = run_int(j, C_OP_STATUS, "coverage", &status);
                if (rc)
                        return rc;
                f->coverage = state_now(latest, (int)status);
                f->coverage_own = latest->reg_seq == o->op.seq;
                f->start_month = latest->start_month;
                f->end_month = latest->end_month;
                f->first_month = latest->first_month;
                f->last_month = latest->last_month;
        }
        rc = jsql_worker_live(j, o->nik, w);
        if (rc)
                return rc;
        s = use(j, C_LATER_OP);
        bind_text(s, 1, o->nik);
        sqlite3_bind_int64(s, 2, o->op.seq);
        return run_int(j, C_LATER_OP, "ops", &f->later_seq);
}

/* The facts of every op, and the slots of every configured programme. */
static int read_all_facts(struct journal *j, struct jctl_replay *r,
                          const struct journal_ctl_replay_opts *opts)
{
        int rc = jctl_facts_alloc(r, opts);

        for (size_t i = 0; rc == 0 && i < r->n; i++)
                rc = read_facts(j, &r->ops[i], &r->facts[i], &r->workers[i]);
        for (size_t i = 0; rc == 0 && i < opts->n_quotas; i++)
                rc = jsql_quota_used(j, r->quotas[i].program, &r->quotas[i].used,
                                     &r->quotas[i].months);
        return rc;
}

/* Puts a qualifying op of batch `in` back to work: no result, and for a
 * registration its coverage pending again, its slot taken and its months
 * committed. */
static int requeue_op(struct journal *j, const struct jctl_rop *o,
                      const struct replay_item *f, int64_t in, int64_t now)
{
        sqlite3_stmt *s = use(j, C_OP_RESET);
        const struct jsql_covs *covs;
        const struct jsql_cov *c = NULL;
        int rc;

        sqlite3_bind_int64(s, 1, o->op.seq);
        sqlite3_bind_int64(s, 2, in);
        rc = run(j, C_OP_RESET, "op");
        if (rc == 0 && sqlite3_changes(j->db) != 1)
                rc = -ESTALE;
        if (rc || o->op.kind != JOURNAL_OP_REGISTER)
                return rc;
        rc = jsql_cov_rows(j, o->nik, &covs);
        for (size_t i = 0; rc == 0 && i < covs->n && !c; i++)
                if (covs->v[i].reg_seq == o->op.seq &&
                    covs->v[i].state == JOURNAL_COVERAGE_FAILED &&
                    strcmp(covs->v[i].program, o->program) == 0)
                        c = &covs->v[i];
        if (rc == 0 && !c)
                rc = -ESTALE;
        if (rc == 0)
                rc = jsql_cov_change(j, o->nik, c, JOURNAL_COVERAGE_PENDING,
                                     c->last_month, now);
        if (rc)
                return rc;
        return jsql_quota_add(j, o->program, 1,
                              decide_months(f->first_month, f->last_month));
}

static int note_reason(struct journal *j, int64_t seq, const char *why)
{
        char text[200];
        sqlite3_stmt *s = use(j, C_OP_REASON);

        snprintf(text, sizeof(text), "not replayed: %s", why);
        sqlite3_bind_int64(s, 1, seq);
        bind_text(s, 2, text);
        return run(j, C_OP_REASON, "op");
}

/* The qualifying ops move from the failed batch into a new one (the daemon
 * half's batch insert, its body from compose), with the replay's note. */
static int new_batch(struct journal *j, const struct jctl_replay *r,
                     const struct journal_ctl_replay_item *items,
                     const struct journal_ctl_replay_opts *opts, int64_t from, int kind,
                     const char *note, int64_t now, int64_t *out)
{
        struct journal_op *ops = calloc(r->n, sizeof(*ops));
        size_t n = 0;
        int rc;

        if (!ops)
                return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
                if (items[i].ok)
                        ops[n++] = r->ops[i].op;
        rc = jsql_batch_insert(j, kind, ops, n, from, opts->compose, opts->opaque, out);
        if (rc == -EALREADY)
                rc = -ESTALE; /* an op left the batch meanwhile */
        if (rc == 0)
                rc = journal_batch_update(j, *out, JOURNAL_BATCH_PENDING, 0, now, note);
        free(ops);
        return rc;
}

static int apply(struct journal *j, const struct jctl_replay *r,
                 const struct journal_ctl_replay_opts *opts,
                 struct journal_ctl_replay *out)
{
        char note[160], name[JOURNAL_CTL_NAME_SIZE], detail[JCTL_DETAIL_SIZE];
        int64_t now = clock_now_ms();
        sqlite3_stmt *s;
        int rc = 0;

        if (out->action == JOURNAL_CTL_REPLAY_RESEND) {
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        rc = requeue_op(j, &r->ops[i], &r->facts[i], out->id, now);
                snprintf(note, sizeof(note), "replayed by %s", opts->who);
                s = use(j, C_BATCH_REQUEUE);
                sqlite3_bind_int64(s, 1, out->id);
                sqlite3_bind_int64(s, 2, now);
                bind_text(s, 3, note);
                if (rc == 0)
                        rc = run(j, C_BATCH_REQUEUE, "batch");
                if (rc == 0 && sqlite3_changes(j->db) != 1)
                        rc = -ESTALE;
        } else if (out->action == JOURNAL_CTL_REPLAY_REBUILD) {
                journal_ctl_batch_name(j, out->id, name);
                snprintf(note, sizeof(note), "replayed from %s by %s", name, opts->who);
                rc = new_batch(j, r, out->items, opts, out->id, out->kind, note, now,
                               &out->new_id);
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        if (out->items[i].ok)
                                rc = requeue_op(j, &r->ops[i], &r->facts[i], out->new_id,
                                                now);
                /* emptied, it has nothing left to answer; else it stays failed
                 * with its own error */
                journal_ctl_batch_name(j, out->new_id, name);
                snprintf(note, sizeof(note), "every item replayed in %s", name);
                if (rc == 0)
                        rc = jsql_batch_end(j, out->id,
                                            out->n_ok == out->n ? JOURNAL_BATCH_DONE
                                                                : JOURNAL_BATCH_FAILED,
                                            out->n_ok == out->n ? note : r->last_error);
        }
        for (size_t i = 0; rc == 0 && i < r->n; i++)
                if (!out->items[i].ok)
                        rc = note_reason(j, out->items[i].seq, out->items[i].why);
        jctl_describe(j, out, detail, sizeof(detail));
        if (rc == 0)
                rc = audit_insert(j, now, opts->who, "replay", detail);
        return rc;
}

struct loaded_ctx {
        struct jctl_replay *r;
        struct journal_ctl_replay *out;
        int body_n;
};

static int loaded_batch(const struct journal_batch *b, void *opaque)
{
        struct loaded_ctx *lc = opaque;

        lc->out->kind = b->kind;
        lc->out->state = b->state;
        snprintf(lc->out->last_error, sizeof(lc->out->last_error), "%s",
                 b->last_error ? b->last_error : "");
        lc->r->last_error = b->last_error ? strdup(b->last_error) : NULL;
        lc->body_n = jctl_body_items(b->body, b->body_len, b->kind);
        return b->last_error && !lc->r->last_error ? -ENOMEM : 0;
}

/* Reads the batch (the daemon half's journal_batch_get) and its ops in the
 * open transaction. */
static int load(struct journal *j, int64_t id, struct jctl_replay *r,
                struct journal_ctl_replay *out, int *body_n)
{
        struct loaded_ctx lc = {r, out, -1};
        struct item_ctx ic = {jctl_collect_op, r, j};
        sqlite3_stmt *s;
        int rc = journal_batch_get(j, id, loaded_batch, &lc);

        if (rc == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg), "no batch %lld", (long long)id);
                return -ENOENT;
        }
        if (rc < 0)
                return rc;
        *body_n = lc.body_n;
        s = use(j, C_BATCH_ITEMS);
        sqlite3_bind_int64(s, 1, id);
        rc = each(j, s, item_row, &ic, "items");
        if (rc >= 0 && r->rc)
                rc = r->rc;
        return rc < 0 ? rc : 0;
}

int jsql_ctl_replay(struct journal *j, int64_t id,
                    const struct journal_ctl_replay_opts *o,
                    struct journal_ctl_replay *out)
{
        struct journal_ctl_replay res = {.id = id};
        struct jctl_replay r = {0};
        int body_n = -1;
        int rc = begin(j, !o->dry_run);

        if (rc)
                return rc;
        rc = load(j, id, &r, &res, &body_n);
        if (rc == 0)
                rc = read_all_facts(j, &r, o);
        if (rc == 0)
                rc = jctl_judge(&r, o, res.state, body_n, &res);
        /* SKIP: the batch is not failed, nothing changes */
        if (rc == 0 && !o->dry_run && res.action != JOURNAL_CTL_REPLAY_SKIP) {
                rc = apply(j, &r, o, &res);
                if (rc == 0)
                        rc = commit(j);
        }
        rollback(j); /* a dry run's, a SKIP's, or after a failure */
        jctl_replay_release(&r);
        if (rc < 0) {
                if (rc == -ESTALE)
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "batch %lld changed while it was replayed",
                                 (long long)id);
                free(res.items);
                return rc;
        }
        *out = res;
        return 0;
}

void journal_ctl_replay_free(struct journal_ctl_replay *r)
{
        if (!r)
                return;
        free(r->items);
        r->items = NULL;
}

/* ---- the premium report ---- */

struct report_ctx {
        journal_ctl_report_fn fn;
        void *opaque;
};

static int report_row(sqlite3_stmt *s, void *ctx)
{
        struct report_ctx *r = ctx;
        struct journal_ctl_report_group g = {
            .program = col_text(s, 0),
            .klass = sqlite3_column_int(s, 1),
            .first_month = sqlite3_column_int64(s, 2),
            .last_month = sqlite3_column_int64(s, 3),
            .count = sqlite3_column_int64(s, 4),
        };
        return g.program ? r->fn(&g, r->opaque) : 0;
}

int jsql_ctl_report(struct journal *j, journal_ctl_report_fn fn, journal_ctl_quota_fn qfn,
                    void *opaque)
{
        struct report_ctx r = {fn, opaque};
        struct quota_ctx q = {qfn, opaque};
        int rc = begin(j, false);

        if (rc)
                return rc;
        rc = each(j, use(j, C_REPORT), report_row, &r, "report");
        if (rc >= 0 && qfn)
                rc = each(j, use(j, C_QUOTAS), quota_row, &q, "quota");
        rc = end_read(j, rc);
        return rc < 0 ? rc : 0;
}
