/* The operator's side of the SQLite journal (bpjs-syncctl): its own
 * connection, statements prepared once at open from one table, short
 * transactions. See journal.h, "Operator side". */
#include "item.h"
#include "journal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "replay.h"

/* Long enough to ride out any transaction of the daemon's (a consumed batch
 * of up to 1000 events), short enough that a stuck lock is reported. */
#define BUSY_TIMEOUT_MS 15000
#define DETAIL_SIZE     2048

enum stmt {
        C_BEGIN,
        C_BEGIN_WRITE,
        C_COMMIT,
        C_ROLLBACK,
        C_JOURNAL_ID,
        C_COUNT_UNBATCHED,
        C_COUNT_BATCHES,
        C_COUNT_FAILED_ITEMS,
        C_OLDEST_QUEUED,
        C_OLDEST_OPEN,
        C_LAST_ERROR,
        C_COUNTER,
        C_COUNT_OUTBOX,
        C_QUOTAS,
        C_BATCHES,
        C_BATCH_GET,
        C_BATCH_ITEMS,
        C_WORKER_OPS,
        C_WORKER_EVENTS,
        C_WORKER_COVERAGE,
        C_REJECTED,
        C_AUDIT_ADD,
        C_AUDIT_LIST,
        C_COVERAGE_ROW,
        C_WORKER_LIVE,
        C_LATER_OP,
        C_QUOTA_USED,
        C_QUOTA_ADD,
        C_COVERAGE_RETAKE,
        C_OP_RESET,
        C_OP_REASON,
        C_BATCH_REQUEUE,
        C_BATCH_INSERT,
        C_BATCH_BODY,
        C_BATCH_SETTLE,
        C__COUNT
};

#define BATCH_COLUMNS                                                                    \
        "b.id, b.kind, b.state, b.attempts, b.next_at, b.last_error, b.created_at, "     \
        "b.updated_at "
/* An op, its registration's kpj, its outcome, the coverage it starts or ends
 * (only while that coverage is still the op's own) and its batch's state. */
#define ITEM_COLUMNS                                                                     \
        "o.seq, o.kind, o.nik, o.program, o.event_id, o.item, o.reg_seq, r.kpj, "        \
        "o.batch_id, o.status, o.kpj, o.reason, c.state, b.state "                       \
        "FROM ops o LEFT JOIN ops r ON r.seq = o.reg_seq "                               \
        "LEFT JOIN coverage_now c ON c.nik = o.nik AND c.program = o.program "               \
        "  AND c.reg_seq = (CASE WHEN o.kind = 1 THEN o.seq ELSE o.reg_seq END) "        \
        "LEFT JOIN batches b ON b.id = o.batch_id "
#define EVENT_COLUMNS                                                                    \
        "event_id, nik, program, type, status, reason, covered_by, topic, partition, "   \
        "offset, decided_at FROM events "

static const char *const sql[C__COUNT] = {
    [C_BEGIN] = "BEGIN",
    [C_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [C_COMMIT] = "COMMIT",
    [C_ROLLBACK] = "ROLLBACK",
    [C_JOURNAL_ID] = "SELECT value FROM meta WHERE key = 'journal_id'",
    [C_COUNT_UNBATCHED] = "SELECT count(*) FROM ops WHERE batch_id IS NULL",
    [C_COUNT_BATCHES] = "SELECT state, count(*) FROM batches GROUP BY state",
    [C_COUNT_FAILED_ITEMS] =
        "SELECT count(*) FROM batches b JOIN ops o ON o.batch_id = b.id"
        " WHERE b.state = 4",
    [C_OLDEST_QUEUED] = "SELECT e.decided_at FROM ops o JOIN events e"
                        " ON e.event_id = o.event_id WHERE o.batch_id IS NULL"
                        " ORDER BY o.seq LIMIT 1",
    [C_OLDEST_OPEN] = "SELECT min(e.decided_at) FROM batches b JOIN ops o"
                      " ON o.batch_id = b.id JOIN events e ON e.event_id = o.event_id"
                      " WHERE b.state IN (1, 2)",
    /* a replay's own note is not an endpoint error */
    [C_LAST_ERROR] = "SELECT id, last_error, updated_at FROM batches"
                     " WHERE last_error IS NOT NULL AND last_error NOT LIKE 'replayed %'"
                     " ORDER BY updated_at DESC, id DESC LIMIT 1",
    [C_COUNTER] = "SELECT value FROM counters WHERE name = ?1",
    [C_COUNT_OUTBOX] = "SELECT count(*) FROM outbox",
    [C_QUOTAS] = "SELECT program, used FROM quota ORDER BY program",
    [C_BATCHES] =
        "SELECT " BATCH_COLUMNS ", (SELECT count(*) FROM ops o WHERE o.batch_id = b.id),"
        " (SELECT group_concat(program, ',') FROM (SELECT DISTINCT o.program FROM ops o"
        "   WHERE o.batch_id = b.id ORDER BY o.program))"
        " FROM batches b WHERE (?1 IS NULL OR b.state = ?1)"
        " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM ops o WHERE o.batch_id = b.id"
        "      AND o.program = ?2))"
        " AND (?3 IS NULL OR b.updated_at >= ?3) ORDER BY b.id",
    [C_BATCH_GET] = "SELECT " BATCH_COLUMNS ", b.body FROM batches b WHERE b.id = ?1",
    [C_BATCH_ITEMS] = "SELECT " ITEM_COLUMNS "WHERE o.batch_id = ?1 ORDER BY o.seq",
    [C_WORKER_OPS] = "SELECT " ITEM_COLUMNS "WHERE o.nik = ?1 ORDER BY o.seq",
    [C_WORKER_EVENTS] =
        "SELECT " EVENT_COLUMNS "WHERE nik = ?1 ORDER BY decided_at, event_id",
    [C_WORKER_COVERAGE] =
        "SELECT program, state, start_month, end_month, reg_seq, event_id,"
        " updated_at FROM coverage_now WHERE nik = ?1 ORDER BY program",
    [C_REJECTED] =
        "SELECT " EVENT_COLUMNS "WHERE status = ?3 AND (?1 IS NULL OR reason = ?1)"
        " AND (?2 IS NULL OR decided_at >= ?2) ORDER BY decided_at, event_id",
    [C_AUDIT_ADD] = "INSERT INTO audit(at, who, action, detail) VALUES(?1, ?2, ?3, ?4)",
    [C_AUDIT_LIST] = "SELECT id, at, who, action, detail FROM audit"
                     " WHERE (?1 IS NULL OR instr(detail, ?1) > 0)"
                     " AND (?2 IS NULL OR at >= ?2) ORDER BY id",
    [C_COVERAGE_ROW] = "SELECT state, reg_seq, start_month, end_month FROM coverage_now"
                       " WHERE nik = ?1 AND program = ?2",
    /* the worker's live coverages, as decide sees them (S_WORKER) */
    [C_WORKER_LIVE] = "SELECT program, start_month, end_month FROM coverage"
                      " WHERE nik = ?1 AND state IN (1, 2) ORDER BY program",
    [C_LATER_OP] = "SELECT seq FROM ops WHERE seq > ?2 AND nik = ?1 ORDER BY seq LIMIT 1",
    [C_QUOTA_USED] = "SELECT used FROM quota WHERE program = ?1",
    [C_QUOTA_ADD] = "INSERT INTO quota(program, used) VALUES(?1, ?2)"
                    " ON CONFLICT(program) DO UPDATE SET used = used + ?2",
    [C_COVERAGE_RETAKE] =
        "UPDATE coverage SET state = 1, updated_at = ?4"
        " WHERE nik = ?1 AND program = ?2 AND reg_seq = ?3 AND state = 4",
    [C_OP_RESET] =
        "UPDATE ops SET batch_id = ?2, status = NULL, kpj = NULL, reason = NULL"
        " WHERE seq = ?1 AND batch_id = ?3",
    [C_OP_REASON] = "UPDATE ops SET reason = ?2 WHERE seq = ?1",
    [C_BATCH_REQUEUE] = "UPDATE batches SET state = 1, attempts = 0, next_at = ?2,"
                        " last_error = ?3, updated_at = ?2 WHERE id = ?1 AND state = 4",
    [C_BATCH_INSERT] =
        "INSERT INTO batches(kind, state, body, attempts, next_at, last_error,"
        " created_at, updated_at) VALUES(?1, 1, x'', 0, ?2, ?3, ?2, ?2)",
    [C_BATCH_BODY] = "UPDATE batches SET body = ?2 WHERE id = ?1",
    [C_BATCH_SETTLE] =
        "UPDATE batches SET state = ?2, last_error = coalesce(?3, last_error),"
        " updated_at = ?4 WHERE id = ?1",
};

struct journal_ctl {
        sqlite3 *db;
        sqlite3_stmt *st[C__COUNT];
        char id[JOURNAL_ID_LEN + 1];
        bool in_txn;
        char errmsg[256];
};

static int fail(struct journal_ctl *c, int rc, const char *what)
{
        snprintf(c->errmsg, sizeof(c->errmsg), "%s: %s", what, sqlite3_errmsg(c->db));
        return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY
               : rc == SQLITE_NOMEM                     ? -ENOMEM
               : rc == SQLITE_READONLY                  ? -EROFS
               : rc == SQLITE_FULL                      ? -ENOSPC
                                                        : -EIO;
}

const char *journal_ctl_errmsg(const struct journal_ctl *c)
{
        return c->errmsg;
}

const char *journal_ctl_id(const struct journal_ctl *c)
{
        return c->id;
}

const char *journal_ctl_coverage_state_name(int state)
{
        static const char *const names[] = {"?", "pending", "active", "ended", "failed"};
        return state >= 1 && state <= 4 ? names[state] : "?";
}

const char *journal_ctl_replay_action_name(int action)
{
        static const char *const names[] = {"skip", "none", "resend", "rebuild"};
        return action >= 0 && action <= 3 ? names[action] : "?";
}

void journal_ctl_batch_name(const struct journal_ctl *c, int64_t id,
                            char out[JOURNAL_CTL_NAME_SIZE])
{
        item_batch_name(c->id, id, out);
}

void journal_ctl_registration_id(const struct journal_ctl *c, int64_t seq,
                                 char out[JOURNAL_CTL_NAME_SIZE])
{
        item_registration_id(c->id, seq, out);
}

static int parse_number(const char *s, int64_t *out)
{
        int64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (*s - '0');
        }
        if (v < 1)
                return -EINVAL;
        *out = v;
        return 0;
}

int journal_ctl_batch_parse(const struct journal_ctl *c, const char *s, int64_t *out)
{
        const char *dash;

        if (s[0] != 'b' || s[1] != '-')
                return parse_number(s, out);
        dash = strchr(s + 2, '-');
        if (!dash || dash - (s + 2) != JOURNAL_ID_LEN || strlen(dash + 1) != 12)
                return -EINVAL;
        if (strncmp(s + 2, c->id, JOURNAL_ID_LEN) != 0)
                return -EXDEV;
        return parse_number(dash + 1, out);
}

static sqlite3_stmt *use(struct journal_ctl *c, enum stmt s)
{
        sqlite3_reset(c->st[s]);
        sqlite3_clear_bindings(c->st[s]);
        return c->st[s];
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
        if (v)
                sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(s, i);
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
static int run(struct journal_ctl *c, enum stmt s, const char *what)
{
        int rc = sqlite3_step(c->st[s]);
        sqlite3_reset(c->st[s]);
        return rc == SQLITE_DONE ? 0 : fail(c, rc, what);
}

/* Runs a statement returning one integer; *out is 0 when there is no row
 * or the value is NULL. */
static int run_int(struct journal_ctl *c, enum stmt s, const char *what, int64_t *out)
{
        int rc = sqlite3_step(c->st[s]);

        *out = rc == SQLITE_ROW ? sqlite3_column_int64(c->st[s], 0) : 0;
        sqlite3_reset(c->st[s]);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(c, rc, what);
}

static int begin(struct journal_ctl *c, bool write)
{
        int rc = run(c, write ? C_BEGIN_WRITE : C_BEGIN, "begin");
        if (rc == 0)
                c->in_txn = true;
        return rc;
}

static int commit(struct journal_ctl *c)
{
        int rc = run(c, C_COMMIT, "commit");
        if (rc == 0)
                c->in_txn = false;
        return rc;
}

static void rollback(struct journal_ctl *c)
{
        if (c->in_txn)
                run(c, C_ROLLBACK, "rollback");
        c->in_txn = false;
}

/* Ends a read transaction: rc is the caller's result, kept unless the end
 * itself fails. */
static int end_read(struct journal_ctl *c, int rc)
{
        int e = commit(c);
        if (e)
                rollback(c);
        return rc < 0 ? rc : e ? e : rc;
}

typedef int (*row_fn)(sqlite3_stmt *s, void *ctx);

/* Steps s to its end, handing each row to fn. Returns the number of rows,
 * or fn's negative result, or an error. */
static int each(struct journal_ctl *c, sqlite3_stmt *s, row_fn fn, void *ctx,
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
                return fail(c, rc, what);
        return r < 0 ? r : n;
}

int journal_ctl_open(const char *path, unsigned flags, struct journal_ctl **out,
                     char *err, size_t errsize)
{
        struct journal_ctl *c;
        int rc;

        if (access(path, F_OK) != 0) {
                rc = -errno;
                snprintf(err, errsize, "%s: %s", path, strerror(errno));
                return rc == -ENOENT ? -ENOENT : -EIO;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        rc = sqlite3_open_v2(
            path, &c->db,
            ((flags & JOURNAL_CTL_WRITE) ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
                SQLITE_OPEN_NOMUTEX,
            NULL);
        if (rc != SQLITE_OK) {
                snprintf(err, errsize, "%s: cannot open: %s", path,
                         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                rc = -EIO;
                goto out;
        }
        sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
        if ((flags & JOURNAL_CTL_WRITE) && sqlite3_exec(c->db, "PRAGMA synchronous=FULL",
                                                        NULL, NULL, NULL) != SQLITE_OK) {
                rc = fail(c, SQLITE_ERROR, "pragma");
                snprintf(err, errsize, "%s: %s", path, c->errmsg);
                goto out;
        }
        /* A statement that does not prepare names a table this journal lacks:
         * not a journal, or one the daemon has not opened since an upgrade. */
        for (int i = 0; i < C__COUNT; i++) {
                if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                       &c->st[i], NULL) != SQLITE_OK) {
                        snprintf(err, errsize,
                                 "%s: not a bpjs-sync journal, or one the daemon has not "
                                 "opened since an upgrade (%s)",
                                 path, sqlite3_errmsg(c->db));
                        rc = sqlite3_errcode(c->db) == SQLITE_BUSY ? -EBUSY : -EIO;
                        goto out;
                }
        }
        rc = begin(c, false);
        if (rc == 0) {
                sqlite3_stmt *s = use(c, C_JOURNAL_ID);
                int r = sqlite3_step(s);
                if (r == SQLITE_ROW)
                        snprintf(c->id, sizeof(c->id), "%s", col_text(s, 0));
                sqlite3_reset(s);
                rc = r == SQLITE_ROW    ? 0
                     : r == SQLITE_DONE ? (snprintf(c->errmsg, sizeof(c->errmsg),
                                                    "no journal id in its meta table"),
                                           -EIO)
                                        : fail(c, r, "journal id");
                rc = end_read(c, rc);
        }
        if (rc) {
                snprintf(err, errsize, "%s: %s", path, c->errmsg);
                goto out;
        }
        *out = c;
        return 0;
out:
        journal_ctl_close(c);
        return rc;
}

void journal_ctl_close(struct journal_ctl *c)
{
        if (!c)
                return;
        rollback(c);
        for (int i = 0; i < C__COUNT; i++)
                sqlite3_finalize(c->st[i]);
        sqlite3_close(c->db);
        free(c);
}

/* ---- status ---- */

struct quota_ctx {
        journal_ctl_quota_fn fn;
        void *opaque;
};

static int quota_row(sqlite3_stmt *s, void *ctx)
{
        struct quota_ctx *q = ctx;
        return q->fn(col_text(s, 0), sqlite3_column_int64(s, 1), q->opaque);
}

static int batch_counts(sqlite3_stmt *s, void *ctx)
{
        struct journal_ctl_status *st = ctx;
        int state = sqlite3_column_int(s, 0);

        if (state >= 1 && state < (int)(sizeof(st->batches) / sizeof(st->batches[0])))
                st->batches[state] = sqlite3_column_int64(s, 1);
        return 0;
}

static int last_error(struct journal_ctl *c, struct journal_ctl_status *st)
{
        sqlite3_stmt *s = use(c, C_LAST_ERROR);
        int rc = sqlite3_step(s);

        if (rc == SQLITE_ROW) {
                st->last_error_batch = sqlite3_column_int64(s, 0);
                snprintf(st->last_error, sizeof(st->last_error), "%s", col_text(s, 1));
                st->last_error_at = sqlite3_column_int64(s, 2);
        }
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(c, rc, "last error");
}

int journal_ctl_status(struct journal_ctl *c, journal_ctl_quota_fn fn, void *opaque,
                       struct journal_ctl_status *out)
{
        struct journal_ctl_status st = {0};
        struct quota_ctx q = {fn, opaque};
        int64_t queued = 0, open = 0;
        int rc = begin(c, false);

        if (rc)
                return rc;
        rc = run_int(c, C_COUNT_UNBATCHED, "ops", &st.ops_unbatched);
        if (rc == 0)
                rc = each(c, use(c, C_COUNT_BATCHES), batch_counts, &st, "batches");
        if (rc >= 0)
                rc = run_int(c, C_COUNT_FAILED_ITEMS, "failed items", &st.items_failed);
        if (rc == 0)
                rc = run_int(c, C_OLDEST_QUEUED, "oldest", &queued);
        if (rc == 0)
                rc = run_int(c, C_OLDEST_OPEN, "oldest", &open);
        if (rc == 0)
                rc = last_error(c, &st);
        if (rc == 0) {
                bind_text(use(c, C_COUNTER), 1, "consumed");
                rc = run_int(c, C_COUNTER, "counter", &st.consumed);
        }
        if (rc == 0) {
                bind_text(use(c, C_COUNTER), 1, "published");
                rc = run_int(c, C_COUNTER, "counter", &st.published);
        }
        if (rc == 0)
                rc = run_int(c, C_COUNT_OUTBOX, "outbox", &st.outbox);
        if (rc == 0 && fn)
                rc = each(c, use(c, C_QUOTAS), quota_row, &q, "quota");
        rc = end_read(c, rc);
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

int journal_ctl_batches(struct journal_ctl *c, const struct journal_ctl_filter *f,
                        journal_ctl_batch_fn fn, void *opaque)
{
        struct batch_ctx bc = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(c, false);

        if (rc)
                return rc;
        s = use(c, C_BATCHES);
        bind_opt_int(s, 1, f->state);
        bind_text(s, 2, f->program);
        bind_opt_int(s, 3, f->since_ms);
        return end_read(c, each(c, s, batch_row, &bc, "batches"));
}

static void read_item(sqlite3_stmt *s, struct journal_ctl_item *it)
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
        it->coverage = sqlite3_column_int(s, 12);
        it->batch_state = sqlite3_column_int(s, 13);
}

struct item_ctx {
        journal_ctl_item_fn fn;
        void *opaque;
};

static int item_row(sqlite3_stmt *s, void *ctx)
{
        struct item_ctx *ic = ctx;
        struct journal_ctl_item it;

        read_item(s, &it);
        return ic->fn(&it, ic->opaque);
}

int journal_ctl_batch_show(struct journal_ctl *c, int64_t id, journal_ctl_batch_fn bfn,
                           journal_ctl_item_fn ifn, void *opaque)
{
        struct item_ctx ic = {ifn, opaque};
        struct journal_ctl_batch b = {0};
        sqlite3_stmt *s;
        int rc = begin(c, false);

        if (rc)
                return rc;
        s = use(c, C_BATCH_GET);
        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                read_batch(s, &b.b);
                b.b.body = sqlite3_column_blob(s, 8);
                b.b.body_len = (size_t)sqlite3_column_bytes(s, 8);
                b.programs = "";
                rc = bfn(&b, opaque);
        } else if (rc == SQLITE_DONE) {
                snprintf(c->errmsg, sizeof(c->errmsg), "no batch %lld", (long long)id);
                rc = -ENOENT;
        } else {
                rc = fail(c, rc, "batch");
        }
        sqlite3_reset(s);
        if (rc == 0) {
                s = use(c, C_BATCH_ITEMS);
                sqlite3_bind_int64(s, 1, id);
                rc = each(c, s, item_row, &ic, "items");
        }
        return end_read(c, rc);
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

struct coverage_ctx {
        journal_ctl_coverage_fn fn;
        void *opaque;
};

static int coverage_row(sqlite3_stmt *s, void *ctx)
{
        struct coverage_ctx *cc = ctx;
        struct journal_ctl_coverage cov = {
            .program = col_text(s, 0),
            .state = sqlite3_column_int(s, 1),
            .start_month = sqlite3_column_int64(s, 2),
            .end_month = sqlite3_column_int64(s, 3),
            .reg_seq = sqlite3_column_int64(s, 4),
            .event_id = col_text(s, 5),
            .updated_at = sqlite3_column_int64(s, 6),
        };
        return cc->fn(&cov, cc->opaque);
}

int journal_ctl_worker(struct journal_ctl *c, const char *nik,
                       const struct journal_ctl_worker_fns *fns, void *opaque)
{
        struct event_ctx ec = {fns->event, opaque};
        struct coverage_ctx cc = {fns->coverage, opaque};
        struct item_ctx ic = {fns->op, opaque};
        int rc = begin(c, false), n = 0;

        if (rc)
                return rc;
        if (fns->event) {
                bind_text(use(c, C_WORKER_EVENTS), 1, nik);
                rc = each(c, c->st[C_WORKER_EVENTS], event_row, &ec, "events");
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->coverage) {
                bind_text(use(c, C_WORKER_COVERAGE), 1, nik);
                rc = each(c, c->st[C_WORKER_COVERAGE], coverage_row, &cc, "coverage");
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->op) {
                bind_text(use(c, C_WORKER_OPS), 1, nik);
                rc = each(c, c->st[C_WORKER_OPS], item_row, &ic, "ops");
                n += rc > 0 ? rc : 0;
        }
        rc = end_read(c, rc);
        return rc < 0 ? rc : n;
}

int journal_ctl_rejected(struct journal_ctl *c, const char *reason, int64_t since_ms,
                         journal_ctl_event_fn fn, void *opaque)
{
        struct event_ctx ec = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(c, false);

        if (rc)
                return rc;
        s = use(c, C_REJECTED);
        bind_text(s, 1, reason);
        bind_opt_int(s, 2, since_ms);
        sqlite3_bind_int(s, 3, RESULT_REJECTED);
        return end_read(c, each(c, s, event_row, &ec, "events"));
}

/* ---- audit ---- */

static int audit_insert(struct journal_ctl *c, int64_t at, const char *who,
                        const char *action, const char *detail)
{
        sqlite3_stmt *s = use(c, C_AUDIT_ADD);
        sqlite3_bind_int64(s, 1, at);
        bind_text(s, 2, who);
        bind_text(s, 3, action);
        bind_text(s, 4, detail);
        return run(c, C_AUDIT_ADD, "audit");
}

int journal_ctl_audit_add(struct journal_ctl *c, const char *who, const char *action,
                          const char *detail)
{
        int rc = begin(c, true);

        if (rc == 0)
                rc = audit_insert(c, clock_now_ms(), who, action, detail);
        if (rc == 0)
                rc = commit(c);
        if (rc)
                rollback(c);
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

int journal_ctl_audit_list(struct journal_ctl *c, const char *contains, int64_t since_ms,
                           journal_ctl_audit_fn fn, void *opaque)
{
        struct audit_ctx ac = {fn, opaque};
        sqlite3_stmt *s;
        int rc = begin(c, false);

        if (rc)
                return rc;
        s = use(c, C_AUDIT_LIST);
        bind_text(s, 1, contains);
        bind_opt_int(s, 2, since_ms);
        return end_read(c, each(c, s, audit_row, &ac, "audit"));
}

/* ---- replay ---- */

/* The journal reads the facts of the batch (plain SELECTs, in the replay's
 * one transaction), replay_judge (replay.c) decides, and apply() carries the
 * judgement out. No replay rule is written here. */

/* An operation of the batch being replayed, copied out of its row. */
struct rop {
        struct journal_op op;
        int status;
        char *nik, *program, *event_id, *item, *kpj;
};

struct replay_ctx {
        struct rop *ops;
        size_t n, cap;
        int rc;
        /* the facts, one per op, and one quota per configured programme */
        struct replay_item *facts;
        struct decide_worker *workers;
        struct replay_quota *quotas;
};

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static int collect_op(const struct journal_ctl_item *it, void *opaque)
{
        struct replay_ctx *r = opaque;
        struct rop *o;

        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;
                struct rop *ops = realloc(r->ops, cap * sizeof(*ops));
                if (!ops)
                        return r->rc = -ENOMEM;
                r->ops = ops;
                r->cap = cap;
        }
        o = &r->ops[r->n];
        memset(o, 0, sizeof(*o));
        o->op = it->op;
        o->status = it->status;
        o->nik = strdup(it->op.nik ? it->op.nik : "");
        o->program = strdup(it->op.program ? it->op.program : "");
        o->event_id = strdup(it->op.event_id ? it->op.event_id : "");
        o->item = malloc(it->op.item_len + 1);
        o->kpj = dup_or_null(it->op.reg_kpj);
        r->n++;
        if (!o->nik || !o->program || !o->event_id || !o->item ||
            (it->op.reg_kpj && !o->kpj))
                return r->rc = -ENOMEM;
        memcpy(o->item, it->op.item, it->op.item_len);
        o->item[it->op.item_len] = '\0';
        o->op.nik = o->nik;
        o->op.program = o->program;
        o->op.event_id = o->event_id;
        o->op.item = o->item;
        o->op.reg_kpj = o->kpj;
        return 0;
}

static void rops_free(struct replay_ctx *r)
{
        for (size_t i = 0; i < r->n; i++) {
                free(r->ops[i].nik);
                free(r->ops[i].program);
                free(r->ops[i].event_id);
                free(r->ops[i].item);
                free(r->ops[i].kpj);
        }
        free(r->ops);
        for (size_t i = 0; r->workers && i < r->n; i++)
                decide_worker_release(&r->workers[i]);
        free(r->workers);
        free(r->facts);
        free(r->quotas);
}

/* How many items the body carries: fewer ops than that means some were
 * moved out by an earlier replay, and the body must not be sent again. */
static int body_items(const void *body, size_t len, int kind)
{
        cJSON *root = cJSON_ParseWithLength(body, len);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
            root, kind == JOURNAL_OP_DEACTIVATE ? "deactivations" : "registrations");
        int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;

        cJSON_Delete(root);
        return n;
}

/* The worker's live coverages. */
static int read_worker(struct journal_ctl *c, const char *nik, struct decide_worker *w)
{
        sqlite3_stmt *s = use(c, C_WORKER_LIVE);
        int rc, e = 0;

        bind_text(s, 1, nik);
        while (e == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW)
                e = decide_worker_add(w, col_text(s, 0), sqlite3_column_int64(s, 1),
                                      sqlite3_column_int64(s, 2));
        sqlite3_reset(s);
        if (e)
                return e;
        return rc == SQLITE_DONE ? 0 : fail(c, rc, "coverage");
}

/* What replay_judge needs to know of one op: its result, the coverage row of
 * its NIK and programme, the worker's live coverages and later operation. */
static int read_facts(struct journal_ctl *c, const struct rop *o, struct replay_item *f,
                      struct decide_worker *w)
{
        sqlite3_stmt *s = use(c, C_COVERAGE_ROW);
        int rc;

        *f = (struct replay_item){
            .kind = o->op.kind,
            .status = (enum result_status)o->status,
            .program = o->program,
            .worker = w,
        };
        bind_text(s, 1, o->nik);
        bind_text(s, 2, o->program);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                f->coverage = sqlite3_column_int(s, 0);
                f->coverage_own = sqlite3_column_int64(s, 1) == o->op.seq;
                f->start_month = sqlite3_column_int64(s, 2);
                f->end_month = sqlite3_column_int64(s, 3);
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(c, rc, "coverage");
        rc = read_worker(c, o->nik, w);
        if (rc)
                return rc;
        s = use(c, C_LATER_OP);
        bind_text(s, 1, o->nik);
        sqlite3_bind_int64(s, 2, o->op.seq);
        return run_int(c, C_LATER_OP, "ops", &f->later_seq);
}

/* The facts of every op, and the slots of every configured programme. */
static int read_all_facts(struct journal_ctl *c, struct replay_ctx *r,
                          const struct journal_ctl_replay_opts *opts)
{
        int rc = 0;

        r->facts = calloc(r->n + 1, sizeof(*r->facts));
        r->workers = calloc(r->n + 1, sizeof(*r->workers));
        r->quotas = calloc(opts->n_quotas + 1, sizeof(*r->quotas));
        if (!r->facts || !r->workers || !r->quotas)
                return -ENOMEM;
        for (size_t i = 0; rc == 0 && i < r->n; i++)
                rc = read_facts(c, &r->ops[i], &r->facts[i], &r->workers[i]);
        for (size_t i = 0; rc == 0 && i < opts->n_quotas; i++) {
                struct replay_quota *q = &r->quotas[i];

                q->program = opts->quotas[i].program;
                q->quota = opts->quotas[i].quota;
                q->reserved = opts->quotas[i].reserved;
                bind_text(use(c, C_QUOTA_USED), 1, q->program);
                rc = run_int(c, C_QUOTA_USED, "quota", &q->used);
        }
        return rc;
}

static int judge(const struct replay_ctx *r, const struct journal_ctl_replay_opts *opts,
                 int state, int body_n, struct journal_ctl_replay *out)
{
        const struct replay_batch b = {
            .state = state,
            .body_items = body_n,
            .items = r->facts,
            .n = r->n,
            .quotas = r->quotas,
            .n_quotas = opts->n_quotas,
        };
        struct replay_judgement j = {
            .items = calloc(r->n + 1, sizeof(*j.items)),
            .taken = calloc(opts->n_quotas + 1, sizeof(*j.taken)),
        };
        int rc = 0;

        if (!j.items || !j.taken) {
                rc = -ENOMEM;
                goto out;
        }
        replay_judge(&b, &j);
        out->action = j.action;
        if (j.action == JOURNAL_CTL_REPLAY_SKIP) {
                snprintf(out->why, sizeof(out->why), "%s", j.why);
                goto out;
        }
        out->items = calloc(r->n + 1, sizeof(*out->items)); /* + 1: never calloc(0) */
        if (!out->items) {
                rc = -ENOMEM;
                goto out;
        }
        out->n = r->n;
        out->n_ok = j.n_ok;
        for (size_t i = 0; i < r->n; i++) {
                const struct rop *o = &r->ops[i];
                struct journal_ctl_replay_item *it = &out->items[i];

                it->seq = o->op.seq;
                it->reg_seq = o->op.reg_seq;
                it->kind = o->op.kind;
                snprintf(it->nik, sizeof(it->nik), "%s", o->nik);
                snprintf(it->program, sizeof(it->program), "%s", o->program);
                it->ok = j.items[i].ok;
                snprintf(it->why, sizeof(it->why), "%s", j.items[i].why);
        }
        /* a dry run changes nothing, so later batches of the run must know
         * which slots this one would take */
        for (size_t i = 0; opts->dry_run && i < opts->n_quotas; i++)
                opts->quotas[i].reserved += j.taken[i];
out:
        free(j.items);
        free(j.taken);
        return rc;
}

/* Puts a qualifying op back to work in batch `to`: no result, and for a
 * registration its coverage pending again and its slot taken. */
static int requeue_op(struct journal_ctl *c, const struct rop *o, int64_t from,
                      int64_t to, int64_t now)
{
        sqlite3_stmt *s = use(c, C_OP_RESET);
        int rc;

        sqlite3_bind_int64(s, 1, o->op.seq);
        sqlite3_bind_int64(s, 2, to);
        sqlite3_bind_int64(s, 3, from);
        rc = run(c, C_OP_RESET, "op");
        if (rc == 0 && sqlite3_changes(c->db) != 1)
                rc = -ESTALE;
        if (rc || o->op.kind != JOURNAL_OP_REGISTER)
                return rc;
        s = use(c, C_COVERAGE_RETAKE);
        bind_text(s, 1, o->nik);
        bind_text(s, 2, o->program);
        sqlite3_bind_int64(s, 3, o->op.seq);
        sqlite3_bind_int64(s, 4, now);
        rc = run(c, C_COVERAGE_RETAKE, "coverage");
        if (rc == 0 && sqlite3_changes(c->db) != 1)
                rc = -ESTALE;
        if (rc)
                return rc;
        s = use(c, C_QUOTA_ADD);
        bind_text(s, 1, o->program);
        sqlite3_bind_int(s, 2, 1);
        return run(c, C_QUOTA_ADD, "quota");
}

static int note_reason(struct journal_ctl *c, int64_t seq, const char *why)
{
        char text[200];
        sqlite3_stmt *s = use(c, C_OP_REASON);

        snprintf(text, sizeof(text), "not replayed: %s", why);
        sqlite3_bind_int64(s, 1, seq);
        bind_text(s, 2, text);
        return run(c, C_OP_REASON, "op");
}

static int new_batch(struct journal_ctl *c, const struct replay_ctx *r,
                     const struct journal_ctl_replay_item *items,
                     const struct journal_ctl_replay_opts *opts, int kind,
                     const char *note, int64_t now, int64_t *out)
{
        struct journal_op *ops = calloc(r->n, sizeof(*ops));
        sqlite3_stmt *s = use(c, C_BATCH_INSERT);
        char *body = NULL;
        size_t n = 0, len = 0;
        int64_t id;
        int rc;

        if (!ops)
                return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
                if (items[i].ok)
                        ops[n++] = r->ops[i].op;
        sqlite3_bind_int(s, 1, kind);
        sqlite3_bind_int64(s, 2, now);
        bind_text(s, 3, note);
        rc = run(c, C_BATCH_INSERT, "batch");
        if (rc)
                goto out;
        id = sqlite3_last_insert_rowid(c->db);
        rc = opts->compose(id, ops, n, opts->opaque, &body, &len);
        if (rc)
                goto out;
        s = use(c, C_BATCH_BODY);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_blob64(s, 2, body, len, SQLITE_STATIC);
        rc = run(c, C_BATCH_BODY, "batch body");
        if (rc == 0)
                *out = id;
out:
        free(body);
        free(ops);
        return rc;
}

/* Appends to a bounded text; a cut text ends with "...". */
static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
        size_t used = strlen(buf);
        va_list ap;
        int n;

        if (used + 4 >= size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + used, size - used - 3, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size - used - 3)
                snprintf(buf + size - 4, 4, "...");
}

/* The audit row: what was done, and why each item left behind was. No NIK:
 * items are named by their registration id. */
static void describe(struct journal_ctl *c, const struct journal_ctl_replay *r,
                     char *detail, size_t size)
{
        char name[JOURNAL_CTL_NAME_SIZE], other[JOURNAL_CTL_NAME_SIZE];
        bool first = true;

        journal_ctl_batch_name(c, r->id, name);
        detail[0] = '\0';
        if (r->action == JOURNAL_CTL_REPLAY_RESEND) {
                append(detail, size,
                       "%s: resent as it was (same body, same key), %zu items", name,
                       r->n);
        } else if (r->action == JOURNAL_CTL_REPLAY_REBUILD) {
                journal_ctl_batch_name(c, r->new_id, other);
                append(detail, size, "%s: %zu of %zu items moved to %s", name, r->n_ok,
                       r->n, other);
        } else {
                append(detail, size, "%s: nothing replayed", name);
        }
        for (size_t i = 0; i < r->n; i++) {
                if (r->items[i].ok)
                        continue;
                journal_ctl_registration_id(c, r->items[i].reg_seq, other);
                append(detail, size, "%s%s (%s)", first ? "; not replayed: " : ", ",
                       other, r->items[i].why);
                first = false;
        }
        if (r->last_error[0])
                append(detail, size, "; was: %s", r->last_error);
}

static int apply(struct journal_ctl *c, const struct replay_ctx *r,
                 const struct journal_ctl_replay_opts *opts,
                 struct journal_ctl_replay *out)
{
        char note[160], name[JOURNAL_CTL_NAME_SIZE], detail[DETAIL_SIZE];
        int64_t now = clock_now_ms();
        sqlite3_stmt *s;
        int rc = 0;

        if (out->action == JOURNAL_CTL_REPLAY_RESEND) {
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        rc = requeue_op(c, &r->ops[i], out->id, out->id, now);
                snprintf(note, sizeof(note), "replayed by %s", opts->who);
                s = use(c, C_BATCH_REQUEUE);
                sqlite3_bind_int64(s, 1, out->id);
                sqlite3_bind_int64(s, 2, now);
                bind_text(s, 3, note);
                if (rc == 0)
                        rc = run(c, C_BATCH_REQUEUE, "batch");
                if (rc == 0 && sqlite3_changes(c->db) != 1)
                        rc = -ESTALE;
        } else if (out->action == JOURNAL_CTL_REPLAY_REBUILD) {
                journal_ctl_batch_name(c, out->id, name);
                snprintf(note, sizeof(note), "replayed from %s by %s", name, opts->who);
                rc =
                    new_batch(c, r, out->items, opts, out->kind, note, now, &out->new_id);
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        if (out->items[i].ok)
                                rc = requeue_op(c, &r->ops[i], out->id, out->new_id, now);
                /* emptied, it has nothing left to answer */
                journal_ctl_batch_name(c, out->new_id, name);
                snprintf(note, sizeof(note), "every item replayed in %s", name);
                s = use(c, C_BATCH_SETTLE);
                sqlite3_bind_int64(s, 1, out->id);
                sqlite3_bind_int(s, 2,
                                 out->n_ok == out->n ? JOURNAL_BATCH_DONE
                                                     : JOURNAL_BATCH_FAILED);
                bind_text(s, 3, out->n_ok == out->n ? note : NULL);
                sqlite3_bind_int64(s, 4, now);
                if (rc == 0)
                        rc = run(c, C_BATCH_SETTLE, "batch");
        }
        for (size_t i = 0; rc == 0 && i < r->n; i++)
                if (!out->items[i].ok)
                        rc = note_reason(c, out->items[i].seq, out->items[i].why);
        describe(c, out, detail, sizeof(detail));
        if (rc == 0)
                rc = audit_insert(c, now, opts->who, "replay", detail);
        return rc;
}

/* Reads the batch and its ops in the open transaction. */
static int load(struct journal_ctl *c, int64_t id, struct replay_ctx *r,
                struct journal_ctl_replay *out, int *body_n)
{
        sqlite3_stmt *s = use(c, C_BATCH_GET);
        struct item_ctx ic = {collect_op, r};
        int rc;

        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                out->kind = sqlite3_column_int(s, 1);
                out->state = sqlite3_column_int(s, 2);
                snprintf(out->last_error, sizeof(out->last_error), "%s",
                         col_text(s, 5) ? col_text(s, 5) : "");
                *body_n = body_items(sqlite3_column_blob(s, 8),
                                     (size_t)sqlite3_column_bytes(s, 8), out->kind);
        }
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
                snprintf(c->errmsg, sizeof(c->errmsg), "no batch %lld", (long long)id);
                return -ENOENT;
        }
        if (rc != SQLITE_ROW)
                return fail(c, rc, "batch");
        s = use(c, C_BATCH_ITEMS);
        sqlite3_bind_int64(s, 1, id);
        rc = each(c, s, item_row, &ic, "items");
        if (rc >= 0 && r->rc)
                rc = r->rc;
        return rc < 0 ? rc : 0;
}

int journal_ctl_replay(struct journal_ctl *c, int64_t id,
                       const struct journal_ctl_replay_opts *o,
                       struct journal_ctl_replay *out)
{
        struct journal_ctl_replay res = {.id = id};
        struct replay_ctx r = {0};
        int body_n = -1;
        int rc = begin(c, !o->dry_run);

        if (rc)
                return rc;
        rc = load(c, id, &r, &res, &body_n);
        if (rc == 0)
                rc = read_all_facts(c, &r, o);
        if (rc == 0)
                rc = judge(&r, o, res.state, body_n, &res);
        /* SKIP: the batch is not failed, nothing changes */
        if (rc == 0 && !o->dry_run && res.action != JOURNAL_CTL_REPLAY_SKIP) {
                rc = apply(c, &r, o, &res);
                if (rc == 0)
                        rc = commit(c);
        }
        rollback(c); /* a dry run's, a SKIP's, or after a failure */
        rops_free(&r);
        if (rc < 0) {
                if (rc == -ESTALE)
                        snprintf(c->errmsg, sizeof(c->errmsg),
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
