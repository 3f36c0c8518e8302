/* The SQLite backend of the journal: WAL, full sync, statements prepared
 * once at open from one table. */
#include "journal.h"
#include "journal_sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

/* AUTOINCREMENT: a seq is never reused, even after its row is deleted, so
 * the publisher's and the pusher's cursors never skip a row, and a batch id
 * (part of its Idempotency-Key) is never issued twice. */
#define COVERAGES_TABLE                                                                  \
        "CREATE TABLE IF NOT EXISTS coverages(nik TEXT NOT NULL, reg_seq INTEGER NOT "   \
        "NULL,"                                                                          \
        "  program TEXT NOT NULL, state INTEGER NOT NULL, start_month INTEGER NOT NULL," \
        "  end_month INTEGER NOT NULL, first_month INTEGER NOT NULL,"                    \
        "  last_month INTEGER NOT NULL, event_id TEXT, updated_at INTEGER NOT NULL,"     \
        "  PRIMARY KEY(nik, reg_seq)) WITHOUT ROWID;"

/* The layout's version, in PRAGMA user_version: 0 is a new file or one made
 * before versions (then it has the table "coverage", one row a worker and
 * programme, migrated below), 2 kept one outbox row per message, 3 kept
 * each op's item in its row, 4 wrote coverage changes into coverages
 * themselves, 5 is this layout. */
#define SCHEMA_VERSION 5
/* An outbox message's position: its row's seq * OUTBOX_ROW_MAX + its index
 * in the row. */
#define OUTBOX_ROW_MAX 4096
/* A row holds at most this many messages, and is closed once it has this
 * many bytes (a larger message, a dead letter of up to 1 MiB, has a row of
 * its own) */
#define OUTBOX_ROW_MSGS  128
#define OUTBOX_ROW_BYTES (64 * 1024)
_Static_assert(OUTBOX_ROW_MSGS < OUTBOX_ROW_MAX, "a row's messages fit its positions");
#define STR_(x) #x
#define STR(x)  STR_(x)

/* Version 0 kept one coverage row per worker and programme, without months:
 * each becomes a row of the history with the programme's period as its
 * months. The withdrawal month of an ended coverage was
 * never kept, so it keeps its whole period: committed premium overstates,
 * never understates, what a journal upgraded mid-period has spent. */
static const char migrate_v0[] = COVERAGES_TABLE
    "INSERT INTO coverages(nik, reg_seq, program, state, start_month, end_month,"
    "  first_month, last_month, event_id, updated_at)"
    " SELECT nik, reg_seq, program, state, start_month, end_month, start_month,"
    "  end_month, event_id, updated_at FROM coverage;"
    "DROP VIEW IF EXISTS coverage_now;"
    "DROP TABLE coverage;"
    "ALTER TABLE quota ADD COLUMN months INTEGER NOT NULL DEFAULT 0;"
    "UPDATE quota SET months = coalesce((SELECT sum(c.last_month - c.first_month + 1)"
    "  FROM coverages c WHERE c.program = quota.program AND c.state <> 4"
    "  AND c.last_month >= c.first_month), 0);";

/* An outbox message is framed as its topic, key, value and headers, each as
 * its length in 8 hex digits ("ffffffff" for none) and its bytes, so that
 * SQL can write one (the migration below) and C reads it back. */
#define OUTBOX_FIELD(x)                                                                  \
        "(CASE WHEN " x " IS NULL THEN CAST('ffffffff' AS BLOB) ELSE"                    \
        " CAST(printf('%08x', length(CAST(" x " AS BLOB))) AS BLOB) || CAST(" x          \
        " AS BLOB) END)"

/* Versions 0 and 2 kept one outbox row per message: each becomes a row of
 * one framed message at the same seq, so positions only grow. */
static const char migrate_outbox[] =
    "ALTER TABLE outbox RENAME TO outbox_v2;"
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY "
    "AUTOINCREMENT, n INTEGER NOT NULL,"
    "  msgs BLOB NOT NULL);"
    "INSERT INTO outbox(seq, n, msgs) SELECT seq, "
    "1, " OUTBOX_FIELD("topic") " || " OUTBOX_FIELD(
        "ke"
        "y") " || " OUTBOX_FIELD("value") " || " OUTBOX_FIELD("headers") " FROM "
                                                                         "outbox_"
                                                                         "v2 "
                                                                         "ORDER "
                                                                         "BY seq;"
                                                                         "DROP "
                                                                         "TABLE "
                                                                         "outbox_"
                                                                         "v2;";

/* Versions 0 to 3 kept each op's item in the op's row, so that every
 * change of the op (batched, answered) rewrote the item too: the items
 * move to a table of their own, written once. */
static const char migrate_items[] =
    "CREATE TABLE items(seq INTEGER PRIMARY KEY, item BLOB NOT NULL);"
    "INSERT INTO items(seq, item) SELECT seq, item FROM ops ORDER BY seq;"
    "ALTER TABLE ops DROP COLUMN item;";

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS offsets(topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL, PRIMARY KEY(topic, partition)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events(event_id TEXT PRIMARY KEY, nik TEXT NOT NULL,"
    "  program TEXT, type INTEGER, status INTEGER NOT NULL, reason TEXT,"
    "  covered_by TEXT, topic TEXT, partition INTEGER, offset INTEGER,"
    "  decided_at INTEGER NOT NULL) WITHOUT ROWID;" COVERAGES_TABLE
    /* coverages: one row a registration, its history kept (the premium
     * report counts the months of ended ones), written once per change of
     * its state: taken (pending), ended (last_month moves to the
     * withdrawal's month), failed. A registration's success changes no row
     * of it (that would be a second random page a registration): the view
     * derives "active" from the registration op's outcome (5, 6: registered,
     * already_registered); rows an older version marked active (2) stay so.
     * start/end_month are the programme's period, first/last_month the
     * coverage's own months (none when last < first) */
    /* coverage_log: a coverage's changes since the last merge, each as
     * the coverage's whole row after it (journal_sqlite_logs.c); the newest
     * image of a coverage is its state. Appended, merged into coverages in
     * their order, deleted in one range. AUTOINCREMENT: a seq is never
     * reused once the log is emptied, so an index of it is never fooled */
    "CREATE TABLE IF NOT EXISTS coverage_log(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  nik TEXT NOT NULL, reg_seq INTEGER NOT NULL, program TEXT NOT NULL,"
    "  state INTEGER NOT NULL, start_month INTEGER NOT NULL, end_month INTEGER NOT NULL,"
    "  first_month INTEGER NOT NULL, last_month INTEGER NOT NULL, event_id TEXT,"
    "  updated_at INTEGER NOT NULL);"
    /* event_log: decided events since the last merge, as events holds
     * them; merged into events in id order. An id is in one of the two */
    "CREATE TABLE IF NOT EXISTS event_log(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id TEXT NOT NULL, nik TEXT NOT NULL, program TEXT, type INTEGER,"
    "  status INTEGER NOT NULL, reason TEXT, covered_by TEXT, topic TEXT,"
    "  partition INTEGER, offset INTEGER, decided_at INTEGER NOT NULL);"
    "CREATE VIEW IF NOT EXISTS events_cur AS SELECT " JSQL_EVENT_COLUMNS " FROM events"
    " UNION ALL SELECT " JSQL_EVENT_COLUMNS " FROM event_log;"
    /* every coverage as it stands, for the queries that read them in SQL
     * (the report, pruning): the table's rows no image replaces, and the
     * newest image of each coverage in the log (the log has no index: SQLite
     * builds one for the statement) */
    "CREATE VIEW IF NOT EXISTS coverages_cur AS SELECT nik, reg_seq, program, state,"
    "  start_month, end_month, first_month, last_month, event_id, updated_at"
    "  FROM coverages c WHERE NOT EXISTS (SELECT 1 FROM coverage_log l"
    "   WHERE l.nik = c.nik AND l.reg_seq = c.reg_seq)"
    " UNION ALL SELECT nik, reg_seq, program, state, start_month, end_month,"
    "  first_month, last_month, event_id, updated_at FROM coverage_log l"
    "  WHERE NOT EXISTS (SELECT 1 FROM coverage_log n WHERE n.nik = l.nik"
    "   AND n.reg_seq = l.reg_seq AND n.seq > l.seq);"
    "CREATE VIEW IF NOT EXISTS coverage_now AS SELECT c.nik, c.program,"
    "  CASE WHEN c.state = 1 AND EXISTS (SELECT 1 FROM ops r WHERE r.seq = c.reg_seq"
    "   AND r.status IN (5, 6)) THEN 2 ELSE c.state END AS state,"
    "  c.start_month, c.end_month, c.first_month, c.last_month, c.reg_seq, c.event_id,"
    "  c.updated_at FROM coverages_cur c;"
    /* a programme's slots in use and committed months (decide_use) */
    "CREATE TABLE IF NOT EXISTS quota(program TEXT PRIMARY KEY, used INTEGER NOT NULL,"
    "  months INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ops(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER "
    "NOT NULL,"
    "  nik TEXT NOT NULL, program TEXT NOT NULL, event_id TEXT NOT NULL,"
    "  reg_seq INTEGER, batch_id INTEGER, status INTEGER, kpj TEXT, reason TEXT);"
    /* an op's item (what its batch's body is made from), by the op's seq:
     * appended once, cut to its minimum by pruning, never rewritten when
     * the op is batched or answered (ops rows are a fifth of its size) */
    "CREATE TABLE IF NOT EXISTS items(seq INTEGER PRIMARY KEY, item BLOB NOT NULL);"
    /* the queue: operations with neither a batch nor a final result, which
     * forming, the backlog and the operator's counts read. The two columns
     * of its condition are in it too, so that a count reads the index
     * alone: ops_unbatched, its predecessor (batch_id IS NULL, seq only),
     * made the backlog gauge read every queued row, 5% of a flood */
    "DROP INDEX IF EXISTS ops_unbatched;"
    "CREATE INDEX IF NOT EXISTS ops_queued ON ops(seq, batch_id, status)"
    "  WHERE batch_id IS NULL AND status IS NULL;"
    "CREATE INDEX IF NOT EXISTS ops_batch ON ops(batch_id) WHERE batch_id IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS batches(id INTEGER PRIMARY KEY AUTOINCREMENT, kind "
    "INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, body BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS batches_open ON batches(state, next_at)"
    "  WHERE state IN (1, 2);"
    /* pruning: finished batches that still hold a body, events by age */
    "CREATE INDEX IF NOT EXISTS batches_bodies ON batches(updated_at)"
    "  WHERE state IN (3, 4, 5) AND length(body) > 0;"
    "CREATE INDEX IF NOT EXISTS events_decided ON events(decided_at);"
    /* the outbox: one row per transaction that wrote messages (a consumed
     * batch's results and dead letters, a batch's answers), n of them
     * framed in msgs (OUTBOX_FIELD); published by position, deleted in
     * ranges */
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  n INTEGER NOT NULL, msgs BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, detail TEXT);";

/* Coverage states. */
enum { COV_PENDING = 1, COV_ACTIVE = 2, COV_ENDED = 3, COV_FAILED = 4 };
_Static_assert(RESULT_REGISTERED == 5 && RESULT_ALREADY_REGISTERED == 6,
               "the coverage_now view names these outcomes by number");

enum stmt {
        S_BEGIN,
        S_COMMIT,
        S_ROLLBACK,
        S_OFFSET_GET,
        S_OFFSET_SET,
        S_QUOTA_GET,
        S_QUOTA_ADD,
        S_OP_INSERT,
        S_ITEM_INSERT,
        S_OUTBOX_INSERT,
        S_OPS_UNBATCHED,
        S_BATCH_INSERT,
        S_BATCH_BODY,
        S_OP_BATCH,
        S_OP_REBATCH,
        S_BATCHES_DUE,
        S_BATCHES_OPEN,
        S_BATCH_GET,
        S_BATCH_OPS,
        S_BATCH_UPDATE,
        S_BATCH_FINISH,
        S_OP_RESULT,
        S_BATCH_NOPS,
        S_OP_SETTLE,
        S_OUTBOX_FETCH,
        S_OUTBOX_DELETE,
        S_COUNTER_ADD,
        S_COUNTER_GET,
        S_BACKLOG,
        S_OPEN_COUNT,
        S_OUTBOX_COUNT,
        S_OUTBOX_THROUGH_GET,
        S_OUTBOX_THROUGH_SET,
        S_PRUNE_ITEMS,
        S_SWEEP_ITEMS,
        S_SWEEP_GET,
        S_SWEEP_SET,
        S_OPS_LAST,
        S_PRUNE_BODIES,
        S_PRUNE_EVENTS,
        S__COUNT
};

#define OP_COLUMNS                                                                       \
        "o.seq, o.kind, o.nik, o.program, o.event_id, i.item, o.reg_seq, r.kpj, "        \
        "o.batch_id, r.status FROM ops o JOIN items i ON i.seq = o.seq "                 \
        "LEFT JOIN ops r ON r.seq = o.reg_seq "
#define BATCH_COLUMNS                                                                    \
        "id, kind, state, body, attempts, next_at, last_error, created_at, updated_at "  \
        "FROM batches "

/* The batches whose bodies go in this turn (the same rows for both
 * statements of the turn: one transaction, a total order). */
#define PRUNE_BATCHES                                                                    \
        "SELECT id FROM batches WHERE state IN (3, 4, 5) AND length(body) > 0"           \
        " AND updated_at < ?1 ORDER BY updated_at, id LIMIT ?2"

/* What an op's item keeps once it is final: the NIK, the programme and, for
 * a registration, the period (?4 is JOURNAL_OP_REGISTER); the outcome and
 * the kpj are columns of their own. */
#define MINIMAL_ITEM                                                                     \
        "(SELECT CASE o.kind WHEN ?4 THEN json_object('nik', o.nik, 'program',"          \
        " o.program, 'period', CASE WHEN json_valid(CAST(items.item AS TEXT))"           \
        " THEN json_extract(CAST(items.item AS TEXT), '$.period') END)"                  \
        " ELSE json_object('nik', o.nik, 'program', o.program) END"                      \
        " FROM ops o WHERE o.seq = items.seq)"
/* Answered, and nothing a replay could send again: not a failed
 * deactivation, not a failed registration whose coverage is still its own
 * and failed (?3 is RESULT_FAILED). The negation of replay_may_resend
 * (replay.c), the replay's own judgement of what could come back: keep the
 * two in step. */
#define FINAL_OP                                                                         \
        "status IS NOT NULL AND (status <> ?3 OR (kind = ?4 AND NOT EXISTS ("            \
        "SELECT 1 FROM coverages_cur c WHERE c.nik = ops.nik AND c.reg_seq = ops.seq"    \
        " AND c.state = 4 AND NOT EXISTS (SELECT 1 FROM coverages_cur l"                 \
        "  WHERE l.nik = c.nik AND l.program = c.program AND l.reg_seq > c.reg_seq))))"

static const struct journal_backend jsql_backend;

static const char *const sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_OFFSET_GET] =
        "SELECT next_offset FROM offsets WHERE topic = ?1 AND partition = ?2",
    [S_OFFSET_SET] =
        "INSERT INTO offsets(topic, partition, next_offset) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(topic, partition) DO UPDATE SET next_offset = ?3",
    [S_QUOTA_GET] = "SELECT used, months FROM quota WHERE program = ?1",
    [S_QUOTA_ADD] = "INSERT INTO quota(program, used, months) VALUES(?1, ?2, ?3)"
                    " ON CONFLICT(program) DO UPDATE SET used = used + ?2,"
                    " months = months + ?3",
    [S_OP_INSERT] = "INSERT INTO ops(kind, nik, program, event_id, reg_seq)"
                    " VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_ITEM_INSERT] = "INSERT INTO items(seq, item) VALUES(?1, ?2)",
    [S_OUTBOX_INSERT] = "INSERT INTO outbox(n, msgs) VALUES(?1, ?2)",
    [S_OPS_UNBATCHED] = "SELECT " OP_COLUMNS
                        "WHERE o.batch_id IS NULL AND o.status IS NULL AND o.seq > ?1"
                        " ORDER BY o.seq LIMIT ?2",
    [S_BATCH_INSERT] =
        "INSERT INTO batches(kind, state, body, next_at, created_at, updated_at)"
        " VALUES(?1, 1, x'', ?2, ?2, ?2)",
    [S_BATCH_BODY] = "UPDATE batches SET body = ?2 WHERE id = ?1",
    [S_OP_BATCH] = "UPDATE ops SET batch_id = ?2 WHERE seq = ?1 AND batch_id IS NULL",
    [S_OP_REBATCH] = "UPDATE ops SET batch_id = ?2 WHERE seq = ?1 AND batch_id = ?3",
    /* "state IN (1, 2)" lets SQLite use the partial index batches_open:
     * without it, every turn of the push loop scanned the whole table */
    [S_BATCHES_DUE] = "SELECT " BATCH_COLUMNS "WHERE state IN (1, 2) AND state = 1"
                      " AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2",
    [S_BATCHES_OPEN] = "SELECT " BATCH_COLUMNS "WHERE state IN (1, 2) ORDER BY id",
    [S_BATCH_GET] = "SELECT " BATCH_COLUMNS "WHERE id = ?1",
    [S_BATCH_OPS] = "SELECT " OP_COLUMNS "WHERE o.batch_id = ?1 ORDER BY o.seq",
    /* only an open batch: one that ended (its answer recorded by a commit
     * that reported an error, say) is never sent again */
    [S_BATCH_UPDATE] = "UPDATE batches SET state = ?2, attempts = ?3, next_at = ?4,"
                       " last_error = ?5, updated_at = ?6 WHERE id = ?1"
                       " AND state IN (1, 2)",
    [S_BATCH_FINISH] = "UPDATE batches SET state = ?2, last_error = ?3, updated_at = ?4"
                       " WHERE id = ?1",
    /* an answer, only for an unanswered op of the batch answered: what
     * settling its coverage needs comes back, so finishing reads no op */
    [S_OP_RESULT] = "UPDATE ops SET status = ?2, kpj = ?3, reason = ?4 WHERE seq = ?1"
                    " AND batch_id = ?5 AND status IS NULL RETURNING kind, nik, program",
    [S_BATCH_NOPS] = "SELECT count(*) FROM ops WHERE batch_id = ?1",
    [S_OP_SETTLE] = "UPDATE ops SET status = ?2, reason = ?3 WHERE seq = ?1"
                    " AND batch_id IS NULL AND status IS NULL",
    [S_OUTBOX_FETCH] = "SELECT seq, n, msgs FROM outbox WHERE seq >= ?1 ORDER BY seq",
    /* the rows wholly at or before a position: a range, one statement */
    [S_OUTBOX_DELETE] = "DELETE FROM outbox WHERE seq < ?1 OR (seq = ?1 AND n <= ?2 + 1)",
    [S_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES(?1, ?2)"
                      " ON CONFLICT(name) DO UPDATE SET value = value + ?2",
    [S_COUNTER_GET] = "SELECT value FROM counters WHERE name = ?1",
    [S_OPEN_COUNT] = "SELECT count(*) FROM batches WHERE state IN (1, 2)",
    /* what is left: a row's messages at or before the delivered position
     * (meta outbox_through) are not */
    [S_OUTBOX_COUNT] =
        "WITH t(p) AS (SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"
        "  WHERE key = 'outbox_through'), -1))"
        " SELECT coalesce((SELECT sum(n) FROM outbox), 0) - coalesce((SELECT t.p "
        "% " STR(OUTBOX_ROW_MAX) " + 1 FROM outbox o, t WHERE o.seq = t.p / " STR(
            OUTBOX_ROW_MAX) "), 0) FROM t",
    [S_OUTBOX_THROUGH_GET] =
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'outbox_through'",
    [S_OUTBOX_THROUGH_SET] = "INSERT INTO meta(key, value) VALUES('outbox_through', ?1)"
                             " ON CONFLICT(key) DO UPDATE SET value = ?1",
    /* data minimisation: the final ops of those batches keep the NIK, the
     * programme and the period (their outcome and kpj are columns); an op a
     * replay could still send again (a failed deactivation, or a failed
     * registration whose coverage is still its own and failed) keeps it all */
    [S_PRUNE_ITEMS] =
        "UPDATE items SET item = " MINIMAL_ITEM
        " WHERE seq IN (SELECT seq FROM ops WHERE batch_id IN (" PRUNE_BATCHES
        ") AND " FINAL_OP ")",
    /* the sweep: a span of seqs a turn, round and round the table, for what
     * the turn above cannot see (bodies emptied by an older version, a failed
     * registration replaced after its body went) */
    [S_SWEEP_ITEMS] =
        "UPDATE items SET item = " MINIMAL_ITEM " WHERE seq > ?1 AND seq <= ?2"
        " AND seq IN (SELECT seq FROM ops WHERE seq > ?1 AND seq <= ?2"
        " AND " FINAL_OP " AND EXISTS (SELECT 1 FROM batches b"
        "  WHERE b.id = ops.batch_id AND b.state IN (3, 4, 5)"
        "  AND length(b.body) = 0 AND b.updated_at < ?5))"
        " AND length(item) > length(" MINIMAL_ITEM ")",
    [S_SWEEP_GET] =
        "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'items_swept_to'",
    [S_SWEEP_SET] = "INSERT INTO meta(key, value) VALUES('items_swept_to', ?1)"
                    " ON CONFLICT(key) DO UPDATE SET value = ?1",
    [S_OPS_LAST] = "SELECT coalesce(max(seq), 0) FROM ops",
    [S_PRUNE_BODIES] = "UPDATE batches SET body = x'' WHERE id IN (" PRUNE_BATCHES ")",
    [S_PRUNE_EVENTS] = "DELETE FROM events WHERE event_id IN (SELECT event_id FROM events"
                       " WHERE decided_at < ?1 ORDER BY decided_at LIMIT ?2)",
    [S_BACKLOG] = "SELECT (SELECT count(*) FROM ops WHERE batch_id IS NULL"
                  "  AND status IS NULL) +"
                  " (SELECT count(*) FROM batches b JOIN ops o ON o.batch_id = b.id"
                  "  WHERE b.state IN (1, 2))",
};

static int jsql_write_health(const struct journal *j)
{
        return j->write_rc;
}

static const char *jsql_write_error(const struct journal *j)
{
        return j->write_rc ? j->write_error : "";
}

static const char *jsql_errmsg(const struct journal *j)
{
        return j->errmsg;
}

static const char *jsql_id(const struct journal *j)
{
        return j->id;
}

const char *journal_batch_state_name(int state)
{
        static const char *const names[] = {"?",    "pending", "inflight",
                                            "done", "failed",  "split"};
        return state >= 1 && state <= 5 ? names[state] : "?";
}

static sqlite3_stmt *use(struct journal *j, enum stmt s)
{
        return stmt_fresh(j->st[s]);
}

/* Runs a statement that returns no rows (they all write). */
static int run(struct journal *j, enum stmt s, const char *what)
{
        return stmt_run(j, j->st[s], s == S_BEGIN, what);
}

int jsql_exec(struct journal *j, const char *text)
{
        char *msg = NULL;
        int rc = sqlite3_exec(j->db, text, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                int err = fail(j, rc, "exec");
                snprintf(j->errmsg, sizeof(j->errmsg), "%s", msg ? msg : "error");
                sqlite3_free(msg);
                return err;
        }
        return 0;
}

/* The journal's id: made once, at the first open; an operator's open only
 * reads it. */
static int load_id(struct journal *j, bool create)
{
        sqlite3_stmt *s = NULL;
        unsigned char raw[JOURNAL_ID_LEN / 2];
        char fresh[JOURNAL_ID_LEN + 1];
        int rc = SQLITE_OK;

        if (create) {
                if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                        return -EIO;
                for (size_t i = 0; i < sizeof(raw); i++)
                        snprintf(fresh + 2 * i, 3, "%02x", raw[i]);
                rc = sqlite3_prepare_v2(
                    j->db,
                    "INSERT INTO meta(key, value) VALUES('journal_id', ?1)"
                    " ON CONFLICT(key) DO NOTHING",
                    -1, &s, NULL);
                if (rc == SQLITE_OK) {
                        sqlite3_bind_text(s, 1, fresh, -1, SQLITE_STATIC);
                        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
                }
                sqlite3_finalize(s);
                s = NULL;
        }
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(j->db,
                                        "SELECT value FROM meta WHERE key = 'journal_id'",
                                        -1, &s, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                snprintf(j->id, sizeof(j->id), "%s", sqlite3_column_text(s, 0));
                rc = 0;
        } else if (rc == SQLITE_DONE) {
                snprintf(j->errmsg, sizeof(j->errmsg), "no journal id in its meta table");
                rc = -EIO;
        } else {
                rc = fail(j, rc, "journal id");
                rc = rc == -EBUSY ? rc : -EIO;
        }
        sqlite3_finalize(s);
        return rc;
}

/* An existing journal file that group or others may use (made by hand, or
 * by a version before 0600) loses those bits; errors are ignored: a file we
 * may not change (bpjs-syncctl run by another user) stays as it is. */
static void tighten(const char *path)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

        if (fd < 0)
                return;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
                (void)fchmod(fd, st.st_mode & 0600);
        close(fd);
}

/* The journal holds NIKs: a new database file is made 0600 whatever the
 * umask, and SQLite gives the -wal, -shm and -journal files it makes the
 * database file's mode (and, as root, its owner). Existing files are
 * tightened to 0600 at every open. Other failures are left to
 * sqlite3_open_v2 to report. */
static int create_private(const char *path, char *err, size_t errsize)
{
        static const char *const companions[] = {"", "-wal", "-shm", "-journal"};
        char name[4096];
        int fd, rc = 0;

        if (!*path || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
                return 0;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                for (size_t i = 0; i < sizeof(companions) / sizeof(*companions); i++)
                        if ((size_t)snprintf(name, sizeof(name), "%s%s", path,
                                             companions[i]) < sizeof(name))
                                tighten(name);
                return 0;
        }
        if (fchmod(fd, 0600) != 0) { /* a umask may have taken more than 077 */
                rc = -errno;
                snprintf(err, errsize, "%s: cannot make it 0600: %s", path,
                         strerror(-rc));
                unlink(path);
        }
        close(fd);
        return rc;
}

/* Prepares both halves' statements. One that does not prepare on an
 * operator's open names a table this journal lacks: not a journal, or one
 * the daemon has not opened since an upgrade. */
static int prepare(struct journal *j, const char *path, char *err, size_t errsize)
{
        int rc = SQLITE_OK;

        for (int i = 0; rc == SQLITE_OK && i < S__COUNT; i++)
                rc = sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &j->st[i], NULL);
        if (rc == SQLITE_OK)
                rc = jsql_logs_prepare(j);
        if (rc == SQLITE_OK)
                rc = jsql_ctl_prepare(j);
        if (rc == SQLITE_OK)
                return 0;
        if (j->flags & JOURNAL_OPERATOR) {
                snprintf(err, errsize,
                         "%s: not a bpjs-sync journal, or one the daemon has not "
                         "opened since an upgrade (%s)",
                         path, sqlite3_errmsg(j->db));
                return (sqlite3_errcode(j->db) & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
        }
        rc = fail(j, SQLITE_ERROR, "prepare");
        snprintf(err, errsize, "%s: %s", path, j->errmsg);
        return rc;
}

static int user_version(struct journal *j, int *out)
{
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &s, NULL);

        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
                *out = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        return rc == SQLITE_ROW ? 0 : fail(j, rc, "schema version");
}

/* Brings an older layout to this one, in one transaction; refuses a newer
 * one (a downgrade would misread it). */
static int migrate(struct journal *j)
{
        sqlite3_stmt *s = NULL;
        int version = 0, rc = user_version(j, &version);
        bool v0 = false;

        if (rc)
                return rc;
        if (version > SCHEMA_VERSION) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "the journal has layout %d, made by a newer bpjs-sync; this one "
                         "knows layouts up to %d",
                         version, SCHEMA_VERSION);
                return -EPROTO;
        }
        if (version == 0) {
                rc = sqlite3_prepare_v2(j->db,
                                        "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                                        " AND name = 'coverage'",
                                        -1, &s, NULL);
                if (rc == SQLITE_OK)
                        rc = sqlite3_step(s);
                v0 = rc == SQLITE_ROW;
                sqlite3_finalize(s);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return fail(j, rc, "schema version");
        }
        rc = jsql_exec(j, "BEGIN IMMEDIATE");
        if (rc == 0 && v0)
                rc = jsql_exec(j, migrate_v0);
        if (rc == 0 && (v0 || version == 2))
                rc = jsql_exec(j, migrate_outbox);
        if (rc == 0 && (v0 || version == 2 || version == 3))
                rc = jsql_exec(j, migrate_items);
        /* coverage_now reads coverages_cur from layout 5 on */
        if (rc == 0 && version < 5)
                rc = jsql_exec(j, "DROP VIEW IF EXISTS coverage_now");
        if (rc == 0)
                rc = jsql_exec(j, schema);
        if (rc == 0 && version != SCHEMA_VERSION)
                rc = jsql_exec(j, "PRAGMA user_version = " STR(SCHEMA_VERSION));
        if (rc == 0)
                rc = jsql_exec(j, "COMMIT");
        if (rc)
                (void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
}

/* The daemon's open: WAL, the schema, the id, the statements. */
static int open_daemon(struct journal *j, const char *path, char *err, size_t errsize)
{
        int rc = jsql_exec(j, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              " PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;"
                              " PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=10000;"
                              " PRAGMA secure_delete=ON;");
        if (rc == 0)
                rc = migrate(j);
        if (rc == 0)
                rc = load_id(j, true);
        if (rc) {
                snprintf(err, errsize, "%s: %s", path, j->errmsg);
                return rc;
        }
        rc = prepare(j, path, err, errsize);
        /* A batch in flight when the daemon stopped is resent (same body, same
         * key): the endpoint's idempotency makes that safe. */
        if (rc == 0 && (j->flags & JOURNAL_RECOVER)) {
                rc = jsql_exec(j, "UPDATE batches SET state = 1"
                                  " WHERE state IN (1, 2) AND state = 2");
                if (rc)
                        snprintf(err, errsize, "%s: %s", path, j->errmsg);
        }
        return rc;
}

/* An operator's open: the file as it is, nothing created or changed. */
static int open_operator(struct journal *j, const char *path, char *err, size_t errsize)
{
        int rc = 0;

        if (!(j->flags & JOURNAL_READONLY))
                rc = jsql_exec(j, "PRAGMA synchronous=FULL");
        if (rc) {
                snprintf(err, errsize, "%s: %s", path, j->errmsg);
                return rc;
        }
        rc = prepare(j, path, err, errsize);
        if (rc == 0) {
                rc = load_id(j, false);
                if (rc)
                        snprintf(err, errsize, "%s: %s", path, j->errmsg);
        }
        return rc;
}

int jsql_open(const char *path, const struct journal_open_opts *o, unsigned flags,
              struct journal **out, char *err, size_t errsize)
{
        struct journal *j;
        int rc, mode;

        if (flags & JOURNAL_READONLY)
                flags |= JOURNAL_OPERATOR;
        if ((flags & JOURNAL_OPERATOR) && access(path, F_OK) != 0) {
                rc = errno;
                snprintf(err, errsize, "%s: %s", path, strerror(rc));
                return rc == ENOENT ? -ENOENT : -EIO;
        }
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->be = &jsql_backend;
        j->flags = flags;
        j->lg.merge_rows = o ? o->merge_rows : 0;
        j->st = calloc(S__COUNT, sizeof(sqlite3_stmt *));
        if (!j->st) {
                snprintf(err, errsize, "%s: out of memory", path);
                rc = -ENOMEM;
                goto out;
        }
        if (!(flags & JOURNAL_OPERATOR)) {
                rc = create_private(path, err, errsize);
                if (rc < 0)
                        goto out;
        }
        mode = (flags & JOURNAL_READONLY)   ? SQLITE_OPEN_READONLY
               : (flags & JOURNAL_OPERATOR) ? SQLITE_OPEN_READWRITE
                                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        rc = sqlite3_open_v2(path, &j->db, mode | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                snprintf(err, errsize, "%s: cannot open: %s", path,
                         j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
                rc = -EIO;
                goto out;
        }
        /* an operator waits out any of the daemon's transactions (a consumed
         * batch of up to 1000 events), yet a stuck lock is reported */
        sqlite3_busy_timeout(j->db, (flags & JOURNAL_OPERATOR) ? 15000 : 5000);
        rc = (flags & JOURNAL_OPERATOR) ? open_operator(j, path, err, errsize)
                                        : open_daemon(j, path, err, errsize);
        if (rc)
                goto out;
        *out = j;
        return 0;
out:
        journal_close(j);
        return rc;
}

static void jsql_close(struct journal *j)
{
        if (!j)
                return;
        if (j->db && j->st && j->st[S_ROLLBACK])
                jsql_rollback(j);
        for (int i = 0; j->st && i < S__COUNT; i++)
                sqlite3_finalize(j->st[i]);
        jsql_ctl_finalize(j);
        jsql_logs_finalize(j);
        sqlite3_close(j->db);
        free(j->qd);
        free(j->ob);
        free(j->st);
        free(j);
}

int jsql_begin(struct journal *j)
{
        if (j->flags & JOURNAL_READONLY) {
                snprintf(j->errmsg, sizeof(j->errmsg), "begin: %s",
                         JOURNAL_SQLITE_READONLY_TEXT);
                return -EROFS;
        }
        int rc = run(j, S_BEGIN, "begin");
        if (rc == 0 && (rc = jsql_logs_sync(j)))
                jsql_rollback(j);
        return rc;
}

int jsql_commit(struct journal *j)
{
        int rc = run(j, S_COMMIT, "commit");
        if (rc == 0)
                jsql_logs_committed(j);
        return rc;
}

/* After a failed statement or COMMIT: SQLite has itself rolled the
 * transaction back after some errors (SQLITE_FULL, SQLITE_IOERR,
 * SQLITE_NOMEM, some SQLITE_BUSY), so a ROLLBACK runs only if one is still
 * open, and the first error's text (the real cause) stays in errmsg. */
void jsql_rollback(struct journal *j)
{
        j->ob_n = j->ob_len = 0;
        jsql_logs_rollback(j);
        if (sqlite3_get_autocommit(j->db))
                return;
        int rc = sqlite3_step(use(j, S_ROLLBACK));
        sqlite3_reset(j->st[S_ROLLBACK]);
        if (rc != SQLITE_DONE && sqlite3_get_autocommit(j->db) == 0) {
                /* cannot happen short of a broken connection; say both */
                size_t len = strlen(j->errmsg);
                snprintf(j->errmsg + len, sizeof(j->errmsg) - len, " (and rollback: %s)",
                         sqlite3_errmsg(j->db));
        }
}

static int offset_next(struct journal *j, const char *topic, int32_t partition,
                       int64_t *out)
{
        sqlite3_stmt *s = use(j, S_OFFSET_GET);
        int rc;

        bind_text(s, 1, topic);
        sqlite3_bind_int(s, 2, partition);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
                *out = sqlite3_column_int64(s, 0);
        else if (rc == SQLITE_DONE)
                *out = -1;
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, "offset");
}

static int offset_set(struct journal *j, const char *topic, int32_t partition,
                      int64_t next)
{
        sqlite3_stmt *s = use(j, S_OFFSET_SET);
        bind_text(s, 1, topic);
        sqlite3_bind_int(s, 2, partition);
        sqlite3_bind_int64(s, 3, next);
        return run(j, S_OFFSET_SET, "offset");
}

int jsql_worker_live(struct journal *j, const char *nik, struct decide_worker *out)
{
        const struct jsql_covs *covs;
        int rc = jsql_cov_rows(j, nik, &covs);

        /* every coverage decide needs, however many: no cap on a history.
         * Live ones, and ended ones that have months (decide_coverage) */
        out->n = 0;
        for (size_t i = 0; rc == 0 && i < covs->n; i++) {
                const struct jsql_cov *v = &covs->v[i];
                bool live = v->state == COV_PENDING || v->state == COV_ACTIVE;
                if (!live && !(v->state == COV_ENDED && v->last_month >= v->first_month))
                        continue;
                struct decide_coverage c = {
                    .start_month = v->start_month,
                    .end_month = v->end_month,
                    .first_month = v->first_month,
                    .last_month = v->last_month,
                    .live = live,
                };
                memcpy(c.program, v->program, sizeof(c.program));
                if (decide_worker_put(out, &c)) {
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "worker lookup: out of memory");
                        rc = -ENOMEM;
                }
        }
        if (rc)
                out->n = 0;
        return rc;
}

int jsql_quota_used(struct journal *j, const char *program, int64_t *used,
                    int64_t *months)
{
        sqlite3_stmt *s = use(j, S_QUOTA_GET);
        int rc;

        bind_text(s, 1, program);
        rc = sqlite3_step(s);
        *used = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        if (months)
                *months = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, "quota");
}

static int quota_add(struct journal *j, const char *program, int64_t slots,
                     int64_t months)
{
        sqlite3_stmt *s = use(j, S_QUOTA_ADD);
        bind_text(s, 1, program);
        sqlite3_bind_int64(s, 2, slots);
        sqlite3_bind_int64(s, 3, months);
        return run(j, S_QUOTA_ADD, "quota");
}

/* A change of slots and committed months of the open batch, written once
 * per programme at commit. */
static int quota_note(struct journal *j, const char *program, int delta, int64_t months)
{
        for (size_t i = 0; i < j->n_qd; i++)
                if (strcmp(j->qd[i].program, program) == 0) {
                        j->qd[i].delta += delta;
                        j->qd[i].months += months;
                        return 0;
                }
        if (j->n_qd == j->cap_qd) {
                size_t cap = j->cap_qd ? j->cap_qd * 2 : 8;
                struct quota_delta *q = realloc(j->qd, cap * sizeof(*q));
                if (!q) {
                        snprintf(j->errmsg, sizeof(j->errmsg), "quota: out of memory");
                        return -ENOMEM;
                }
                j->qd = q;
                j->cap_qd = cap;
        }
        j->qd[j->n_qd++] = (struct quota_delta){program, delta, months};
        return 0;
}

static int64_t outbox_pos(int64_t seq, size_t i)
{
        return seq * OUTBOX_ROW_MAX + (int64_t)i;
}

/* v as 8 lowercase hex digits, as printf's "%08x" writes it. */
static void hex8(char out[8], uint32_t v)
{
        static const char digits[] = "0123456789abcdef";
        for (int i = 7; i >= 0; i--, v >>= 4)
                out[i] = digits[v & 15];
}

static int outbox_field(struct journal *j, const void *p, size_t len, bool present)
{
        char head[8];

        if (len > 0xfffffffeu) {
                snprintf(j->errmsg, sizeof(j->errmsg), "outbox: a %zu-byte field", len);
                return -EMSGSIZE;
        }
        if (j->ob_cap - j->ob_len < len + 8) {
                size_t cap = j->ob_cap ? j->ob_cap : 64 * 1024;
                unsigned char *b;
                while (cap - j->ob_len < len + 8)
                        cap *= 2;
                b = realloc(j->ob, cap);
                if (!b) {
                        snprintf(j->errmsg, sizeof(j->errmsg), "outbox: out of memory");
                        return -ENOMEM;
                }
                j->ob = b;
                j->ob_cap = cap;
        }
        hex8(head, present ? (uint32_t)len : 0xffffffffu);
        memcpy(j->ob + j->ob_len, head, 8);
        if (len)
                memcpy(j->ob + j->ob_len + 8, p, len);
        j->ob_len += 8 + len;
        return 0;
}

int jsql_outbox_flush(struct journal *j)
{
        sqlite3_stmt *s;
        int rc;

        if (j->ob_n == 0)
                return 0;
        s = use(j, S_OUTBOX_INSERT);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)j->ob_n);
        sqlite3_bind_blob64(s, 2, j->ob, j->ob_len, SQLITE_STATIC);
        rc = run(j, S_OUTBOX_INSERT, "outbox");
        j->ob_n = j->ob_len = 0;
        return rc;
}

int jsql_outbox_add(struct journal *j, const struct journal_out *o)
{
        const char *topic = o->topic ? o->topic : "";
        size_t len = j->ob_len;
        int rc;

        /* rows of a few dozen KiB: fetched whole, they stay below malloc's
         * mmap threshold and keep the publisher's memory flat */
        if ((j->ob_n == OUTBOX_ROW_MSGS || j->ob_len >= OUTBOX_ROW_BYTES) &&
            (rc = jsql_outbox_flush(j)))
                return rc;
        rc = outbox_field(j, topic, strlen(topic), true);
        if (rc == 0)
                rc = outbox_field(j, o->key, o->key ? o->key_len : 0, o->key != NULL);
        if (rc == 0)
                rc = outbox_field(j, o->value ? o->value : "",
                                  o->value ? o->value_len : 0, true);
        if (rc == 0)
                rc = outbox_field(j, o->headers, o->headers ? o->headers_len : 0,
                                  o->headers != NULL);
        if (rc) {
                j->ob_len = len;
                return rc;
        }
        j->ob_n++;
        return 0;
}

/* Reads one field back; NULL at the end of a damaged row. */
static const unsigned char *outbox_unfield(const unsigned char *p,
                                           const unsigned char *end, const void **out,
                                           size_t *len)
{
        char head[9];
        unsigned long v;
        char *stop;

        if (end - p < 8)
                return NULL;
        memcpy(head, p, 8);
        head[8] = '\0';
        v = strtoul(head, &stop, 16);
        if (*stop)
                return NULL;
        p += 8;
        if (v == 0xfffffffful) {
                *out = NULL;
                *len = 0;
                return p;
        }
        if ((unsigned long)(end - p) < v)
                return NULL;
        *out = p;
        *len = v;
        return p + v;
}

static int op_add(struct journal *j, int kind, const struct journal_record *r,
                  int64_t reg_seq, int64_t *seq)
{
        sqlite3_stmt *s = use(j, S_OP_INSERT);
        int rc;

        sqlite3_bind_int(s, 1, kind);
        bind_text(s, 2, r->nik);
        bind_text(s, 3, r->program);
        bind_text(s, 4, r->event_id);
        if (reg_seq)
                sqlite3_bind_int64(s, 5, reg_seq);
        rc = run(j, S_OP_INSERT, "op");
        if (rc)
                return rc;
        *seq = sqlite3_last_insert_rowid(j->db);
        s = use(j, S_ITEM_INSERT);
        sqlite3_bind_int64(s, 1, *seq);
        bind_blob(s, 2, r->item ? r->item : "{}", r->item ? r->item_len : 2);
        return run(j, S_ITEM_INSERT, "op item");
}

static int coverage_change(struct journal *j, const struct journal_record *r)
{
        const struct jsql_covs *covs;
        const struct jsql_cov *live = NULL;
        int64_t seq = 0, last, released;
        int rc;

        if (r->action == DECIDE_REGISTER) {
                rc = op_add(j, JOURNAL_OP_REGISTER, r, 0, &seq);
                if (rc == 0)
                        rc = jsql_cov_take(j, r, seq);
                return rc ? rc
                          : quota_note(j, r->program, 1,
                                       decide_months(r->first_month, r->last_month));
        }
        if (r->action != DECIDE_DEACTIVATE)
                return 0;
        rc = jsql_cov_rows(j, r->nik, &covs);
        if (rc)
                return rc;
        for (size_t i = 0; i < covs->n && !live; i++)
                if ((covs->v[i].state == COV_PENDING || covs->v[i].state == COV_ACTIVE) &&
                    strcmp(covs->v[i].program, r->program) == 0)
                        live = &covs->v[i];
        if (!live) {
                /* the caller's facts were wrong: say so (never the NIK) */
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "deactivation (event %s): the worker has no live coverage in %s",
                         r->event_id ? r->event_id : "without an id",
                         r->program ? r->program : "(none)");
                return -ENOENT;
        }
        /* it ends at the withdrawal's month, never later than it would have:
         * the months after are released */
        last = live->last_month;
        released = decide_months(live->first_month, last);
        if (r->last_month < last)
                last = r->last_month;
        released -= decide_months(live->first_month, last);
        rc = jsql_cov_change(j, r->nik, live, COV_ENDED, last, r->at_ms);
        if (rc == 0)
                rc = quota_note(j, r->program, -1, -released);
        return rc ? rc : op_add(j, JOURNAL_OP_DEACTIVATE, r, live->reg_seq, &seq);
}

static int record(struct journal *j, const struct journal_record *r)
{
        int rc = r->event_id ? jsql_ev_add(j, r) : 0;

        if (rc == 0)
                rc = coverage_change(j, r);
        for (size_t i = 0; rc == 0 && i < r->n_out; i++)
                rc = jsql_outbox_add(j, &r->out[i]);
        return rc;
}

static int jsql_consume_begin(struct journal *j, struct journal_facts *f)
{
        int rc = jsql_begin(j);

        j->n_qd = 0;
        for (size_t i = 0; rc == 0 && i < f->n_positions; i++)
                rc = offset_next(j, f->positions[i].topic, f->positions[i].partition,
                                 &f->positions[i].next);
        for (size_t i = 0; rc == 0 && i < f->n_event_ids; i++) {
                rc = jsql_ev_seen(j, f->event_ids[i]);
                if (rc == 0)
                        jsql_ev_absent(j, f->event_ids[i]);
                if (rc >= 0) {
                        f->seen[i] = rc == 1;
                        rc = 0;
                }
        }
        for (size_t i = 0; rc == 0 && i < f->n_workers; i++)
                rc = jsql_worker_live(j, f->workers[i].nik, &f->workers[i].live);
        for (size_t i = 0; rc == 0 && i < f->n_programs; i++)
                rc = jsql_quota_used(j, f->programs[i].program, &f->programs[i].used,
                                     &f->programs[i].months);
        if (rc)
                jsql_rollback(j);
        return rc;
}

static int jsql_consume_commit(struct journal *j, const struct journal_outcome *o)
{
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < o->n_records; i++)
                rc = record(j, &o->records[i]);
        for (size_t i = 0; rc == 0 && i < j->n_qd; i++)
                if (j->qd[i].delta || j->qd[i].months)
                        rc = quota_add(j, j->qd[i].program, j->qd[i].delta,
                                       j->qd[i].months);
        for (size_t i = 0; rc == 0 && i < o->n_positions; i++)
                rc = offset_set(j, o->positions[i].topic, o->positions[i].partition,
                                o->positions[i].next);
        if (rc == 0 && o->consumed)
                rc = journal_counter_add(j, "consumed", o->consumed);
        if (rc == 0)
                rc = jsql_outbox_flush(j);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc)
                jsql_rollback(j);
        j->n_qd = 0;
        /* the batch is journaled whatever the merge does: a merge that
         * fails leaves the log as it was (write health says why) and is
         * tried again after the next batch */
        if (rc == 0 && jsql_logs_pending(j) >= (size_t)j->lg.merge_rows)
                (void)jsql_logs_merge(j);
        return rc;
}

static void jsql_consume_abort(struct journal *j)
{
        jsql_rollback(j);
        j->n_qd = 0;
}

static int jsql_programs_use(struct journal *j, struct journal_program_use *p, size_t n)
{
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < n; i++)
                rc = jsql_quota_used(j, p[i].program, &p[i].used, &p[i].months);
        return rc;
}

static void read_op(sqlite3_stmt *s, struct journal_op *op)
{
        op->seq = sqlite3_column_int64(s, 0);
        op->kind = sqlite3_column_int(s, 1);
        op->nik = (const char *)sqlite3_column_text(s, 2);
        op->program = (const char *)sqlite3_column_text(s, 3);
        op->event_id = (const char *)sqlite3_column_text(s, 4);
        op->item = sqlite3_column_blob(s, 5);
        op->item_len = (size_t)sqlite3_column_bytes(s, 5);
        op->reg_seq =
            op->kind == JOURNAL_OP_REGISTER ? op->seq : sqlite3_column_int64(s, 6);
        op->reg_kpj = (const char *)sqlite3_column_text(s, 7);
        op->batch_id = sqlite3_column_int64(s, 8);
        op->reg_status = sqlite3_column_int(s, 9);
}

static int each_op(struct journal *j, sqlite3_stmt *s, journal_op_fn fn, void *opaque)
{
        struct journal_op op;
        int rc, n = 0, r = 0;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                read_op(s, &op);
                n++;
                r = fn(&op, opaque);
                if (r)
                        break;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, "ops");
        return r < 0 ? r : n;
}

static int jsql_ops_unbatched(struct journal *j, int64_t after_seq, size_t limit,
                              journal_op_fn fn, void *opaque)
{
        sqlite3_stmt *s = use(j, S_OPS_UNBATCHED);
        sqlite3_bind_int64(s, 1, after_seq);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
        return each_op(j, s, fn, opaque);
}

static int jsql_batch_ops(struct journal *j, int64_t batch_id, journal_op_fn fn,
                          void *opaque)
{
        sqlite3_stmt *s = use(j, S_BATCH_OPS);
        sqlite3_bind_int64(s, 1, batch_id);
        return each_op(j, s, fn, opaque);
}

/* Inserts a batch for ops (in the open transaction) and moves them into it
 * from batch `from` (0: from no batch). */
static int batch_insert(struct journal *j, int kind, const struct journal_op *ops,
                        size_t n, int64_t from, journal_compose_fn compose, void *opaque,
                        int64_t *out_id)
{
        sqlite3_stmt *s;
        char *body = NULL;
        size_t len = 0;
        int64_t id;
        int rc;

        s = use(j, S_BATCH_INSERT);
        sqlite3_bind_int(s, 1, kind);
        sqlite3_bind_int64(s, 2, clock_now_ms());
        rc = run(j, S_BATCH_INSERT, "batch");
        if (rc)
                return rc;
        id = sqlite3_last_insert_rowid(j->db);
        rc = compose(id, ops, n, opaque, &body, &len);
        if (rc)
                return rc;
        s = use(j, S_BATCH_BODY);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_blob64(s, 2, body, len, SQLITE_STATIC);
        rc = run(j, S_BATCH_BODY, "batch body");
        for (size_t i = 0; rc == 0 && i < n; i++) {
                enum stmt st = from ? S_OP_REBATCH : S_OP_BATCH;
                s = use(j, st);
                sqlite3_bind_int64(s, 1, ops[i].seq);
                sqlite3_bind_int64(s, 2, id);
                if (from)
                        sqlite3_bind_int64(s, 3, from);
                rc = run(j, st, "op batch");
                if (rc == 0 && sqlite3_changes(j->db) != 1)
                        rc = -EALREADY; /* batched twice: a programming error */
        }
        free(body);
        if (rc == 0)
                *out_id = id;
        return rc;
}

static int jsql_batch_create(struct journal *j, int kind, const struct journal_op *ops,
                             size_t n, journal_compose_fn compose, void *opaque,
                             int64_t *out_id)
{
        int64_t id = 0;
        int rc = jsql_begin(j);

        if (rc == 0)
                rc = batch_insert(j, kind, ops, n, 0, compose, opaque, &id);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc) {
                jsql_rollback(j);
                return rc;
        }
        *out_id = id;
        return 0;
}

static int finish_state(struct journal *j, int64_t id, int state, const char *error);

int jsql_batch_end(struct journal *j, int64_t id, int state, const char *error)
{
        return finish_state(j, id, state, error);
}

int jsql_batch_insert(struct journal *j, int kind, const struct journal_op *ops, size_t n,
                      int64_t from, journal_compose_fn compose, void *opaque,
                      int64_t *out_id)
{
        return batch_insert(j, kind, ops, n, from, compose, opaque, out_id);
}

int jsql_quota_add(struct journal *j, const char *program, int64_t slots, int64_t months)
{
        return quota_add(j, program, slots, months);
}

static int jsql_batch_split(struct journal *j, int64_t id, const struct journal_op *ops,
                            size_t n, size_t n_first, journal_compose_fn compose,
                            void *opaque, int64_t out_ids[2])
{
        int64_t ids[2] = {0, 0};
        int rc;

        if (n < 2 || n_first == 0 || n_first >= n)
                return -EINVAL;
        rc = jsql_begin(j);
        if (rc == 0)
                rc = batch_insert(j, ops[0].kind, ops, n_first, id, compose, opaque,
                                  &ids[0]);
        if (rc == 0)
                rc = batch_insert(j, ops[0].kind, ops + n_first, n - n_first, id, compose,
                                  opaque, &ids[1]);
        if (rc == 0)
                rc = finish_state(j, id, JOURNAL_BATCH_SPLIT, "HTTP 413: split in two");
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc) {
                jsql_rollback(j);
                return rc;
        }
        out_ids[0] = ids[0];
        out_ids[1] = ids[1];
        return 0;
}

static int each_batch(struct journal *j, sqlite3_stmt *s, journal_batch_fn fn,
                      void *opaque)
{
        struct journal_batch b;
        int rc, n = 0, r = 0;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                b.id = sqlite3_column_int64(s, 0);
                b.kind = sqlite3_column_int(s, 1);
                b.state = sqlite3_column_int(s, 2);
                b.body = sqlite3_column_blob(s, 3);
                b.body_len = (size_t)sqlite3_column_bytes(s, 3);
                b.attempts = sqlite3_column_int64(s, 4);
                b.next_at = sqlite3_column_int64(s, 5);
                b.last_error = (const char *)sqlite3_column_text(s, 6);
                b.created_at = sqlite3_column_int64(s, 7);
                b.updated_at = sqlite3_column_int64(s, 8);
                n++;
                r = fn(&b, opaque);
                if (r)
                        break;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, "batches");
        return r < 0 ? r : n;
}

static int jsql_batches_due(struct journal *j, int64_t now_ms, size_t limit,
                            journal_batch_fn fn, void *opaque)
{
        sqlite3_stmt *s = use(j, S_BATCHES_DUE);
        sqlite3_bind_int64(s, 1, now_ms);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
        return each_batch(j, s, fn, opaque);
}

static int jsql_batches_unfinished(struct journal *j, journal_batch_fn fn, void *opaque)
{
        return each_batch(j, use(j, S_BATCHES_OPEN), fn, opaque);
}

static int jsql_batch_get(struct journal *j, int64_t batch_id, journal_batch_fn fn,
                          void *opaque)
{
        sqlite3_stmt *s = use(j, S_BATCH_GET);
        sqlite3_bind_int64(s, 1, batch_id);
        return each_batch(j, s, fn, opaque);
}

static int batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                        int64_t next_at, const char *error)
{
        sqlite3_stmt *s = use(j, S_BATCH_UPDATE);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, state);
        sqlite3_bind_int64(s, 3, attempts);
        sqlite3_bind_int64(s, 4, next_at);
        bind_text(s, 5, error);
        sqlite3_bind_int64(s, 6, clock_now_ms());
        return run(j, S_BATCH_UPDATE, "batch update");
}

static int jsql_batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                             int64_t next_at, const char *error)
{
        int rc = batch_update(j, id, state, attempts, next_at, error);

        if (rc == 0 && sqlite3_changes(j->db) == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "batch update: batch %lld is not pending or in flight",
                         (long long)id);
                return -ESTALE;
        }
        return rc;
}

/* Settles the coverage a registration started. Success writes nothing
 * here: the op's outcome makes it active (the coverage_now view). Failure
 * commits nothing: a pending coverage becomes failed and releases its slot
 * and its months; one ended meanwhile (its slot already released) stays
 * ended and releases the months it kept. */
static int coverage_settle(struct journal *j, const struct journal_op *op,
                           enum result_status status)
{
        const struct jsql_covs *covs;
        const struct jsql_cov *c = NULL;
        int64_t months;
        int rc;

        if (status == RESULT_REGISTERED || status == RESULT_ALREADY_REGISTERED)
                return 0;
        rc = jsql_cov_rows(j, op->nik, &covs);
        if (rc)
                return rc;
        for (size_t i = 0; i < covs->n && !c; i++)
                if (covs->v[i].reg_seq == op->seq)
                        c = &covs->v[i];
        if (!c)
                return 0;
        months = decide_months(c->first_month, c->last_month);
        if (c->state != COV_PENDING && (c->state != COV_ENDED || months == 0))
                return 0; /* failed already, or nothing left to release */
        /* a failed registration commits nothing: a pending coverage becomes
         * failed (its months kept for a replay; a failed one counts none),
         * one ended meanwhile stays ended without months */
        bool pending = c->state == COV_PENDING;
        rc =
            jsql_cov_change(j, op->nik, c, pending ? COV_FAILED : COV_ENDED,
                            pending ? c->last_month : c->first_month - 1, clock_now_ms());
        if (rc == 0)
                rc = quota_add(j, op->program, pending ? -1 : 0, -months);
        return rc;
}

/* One item's answer: its op must be an unanswered one of batch id. */
static int finish_item(struct journal *j, int64_t id, const struct journal_item_result *r)
{
        sqlite3_stmt *s = use(j, S_OP_RESULT);
        struct journal_op op = {.seq = r->seq};
        char nik[NIK_LEN + 1] = "", program[EVENT_PROGRAM_MAX + 1] = "";
        int rc, kind = 0;

        sqlite3_bind_int64(s, 1, r->seq);
        sqlite3_bind_int(s, 2, r->status);
        bind_text(s, 3, r->kpj);
        bind_text(s, 4, r->reason);
        sqlite3_bind_int64(s, 5, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                kind = sqlite3_column_int(s, 0);
                column_copy(s, 1, nik, sizeof(nik));
                column_copy(s, 2, program, sizeof(program));
                rc = sqlite3_step(s); /* one row: this step ends the statement */
        } else if (rc == SQLITE_DONE) {
                sqlite3_reset(s);
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "batch finish: op %lld is not an unanswered op of batch %lld",
                         (long long)r->seq, (long long)id);
                return -EINVAL;
        }
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
                return fail(j, rc, "op result");
        op.nik = nik;
        op.program = program;
        rc = kind == JOURNAL_OP_REGISTER ? coverage_settle(j, &op, r->status) : 0;
        if (rc == 0)
                rc = jsql_outbox_add(j, &r->out);
        return rc;
}

static int finish_state(struct journal *j, int64_t id, int state, const char *error)
{
        sqlite3_stmt *s = use(j, S_BATCH_FINISH);
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int(s, 2, state);
        bind_text(s, 3, error);
        sqlite3_bind_int64(s, 4, clock_now_ms());
        return run(j, S_BATCH_FINISH, "batch finish");
}

/* Every op of batch id answered, once each: n items, all of them its. */
static int finish_complete(struct journal *j, int64_t id, size_t n)
{
        sqlite3_stmt *s = use(j, S_BATCH_NOPS);
        int64_t ops;
        int rc;

        sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        ops = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW)
                return fail(j, rc, "batch ops");
        if (ops != (int64_t)n) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "batch finish: batch %lld has %lld ops, %zu results given",
                         (long long)id, (long long)ops, n);
                return -ENOENT; /* every item must have its result */
        }
        return 0;
}

static int jsql_batch_finish(struct journal *j, int64_t id, int state, const char *error,
                             const struct journal_item_result *items, size_t n)
{
        int rc = jsql_begin(j);

        if (rc)
                return rc;
        for (size_t i = 0; rc == 0 && i < n; i++)
                rc = finish_item(j, id, &items[i]);
        if (rc == 0)
                rc = finish_complete(j, id, n);
        if (rc == 0)
                rc = finish_state(j, id, state, error);
        if (rc == 0)
                rc = jsql_outbox_flush(j);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc)
                jsql_rollback(j);
        return rc;
}

/* Unbatched operations settled without a request: each must still be
 * unbatched and unanswered, or nothing is written. */
static int jsql_ops_settle(struct journal *j, const struct journal_item_result *items,
                           size_t n)
{
        int rc = jsql_begin(j);

        for (size_t i = 0; rc == 0 && i < n; i++) {
                sqlite3_stmt *s = use(j, S_OP_SETTLE);
                sqlite3_bind_int64(s, 1, items[i].seq);
                sqlite3_bind_int(s, 2, items[i].status);
                bind_text(s, 3, items[i].reason);
                rc = run(j, S_OP_SETTLE, "op settle");
                if (rc == 0 && sqlite3_changes(j->db) != 1) {
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "op %lld: batched or answered meanwhile",
                                 (long long)items[i].seq);
                        rc = -ESTALE;
                }
                if (rc == 0)
                        rc = jsql_outbox_add(j, &items[i].out);
        }
        if (rc == 0)
                rc = jsql_outbox_flush(j);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc)
                jsql_rollback(j);
        return rc;
}

static int jsql_outbox_fetch(struct journal *j, int64_t after, size_t limit,
                             journal_out_fn fn, void *opaque)
{
        sqlite3_stmt *s;
        size_t n = 0;
        int rc = SQLITE_DONE, r = 0;

        /* what was delivered never comes back, after a restart either */
        if (!j->ob_through_known) {
                sqlite3_stmt *t = use(j, S_OUTBOX_THROUGH_GET);
                rc = sqlite3_step(t);
                j->ob_through = rc == SQLITE_ROW ? sqlite3_column_int64(t, 0) : -1;
                sqlite3_reset(t);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return fail(j, rc, "outbox");
                j->ob_through_known = true;
                rc = SQLITE_DONE;
        }
        if (after < j->ob_through)
                after = j->ob_through;
        s = use(j, S_OUTBOX_FETCH);
        sqlite3_bind_int64(s, 1, after < 0 ? 0 : after / OUTBOX_ROW_MAX);
        while (r == 0 && n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
                int64_t seq = sqlite3_column_int64(s, 0);
                int64_t count = sqlite3_column_int64(s, 1);
                const unsigned char *p = sqlite3_column_blob(s, 2);
                size_t bytes = (size_t)sqlite3_column_bytes(s, 2);
                const unsigned char *end = p ? p + bytes : NULL;

                for (int64_t i = 0; r == 0 && n < limit && i < count; i++) {
                        struct journal_out o;
                        const void *topic = NULL;
                        size_t topic_len = 0;

                        p = p ? outbox_unfield(p, end, &topic, &topic_len) : NULL;
                        p = p ? outbox_unfield(p, end, &o.key, &o.key_len) : NULL;
                        p = p ? outbox_unfield(p, end, &o.value, &o.value_len) : NULL;
                        p = p ? outbox_unfield(p, end, &o.headers, &o.headers_len) : NULL;
                        if (!p || !topic || topic_len >= sizeof(j->topic)) {
                                snprintf(
                                    j->errmsg, sizeof(j->errmsg),
                                    "outbox row %lld: message %lld of %lld is damaged",
                                    (long long)seq, (long long)i + 1, (long long)count);
                                r = -EIO;
                                break;
                        }
                        if (outbox_pos(seq, (size_t)i) <= after)
                                continue;
                        memcpy(j->topic, topic, topic_len);
                        j->topic[topic_len] = '\0';
                        o.topic = j->topic;
                        if (!o.value)
                                o.value = "";
                        n++;
                        r = fn(outbox_pos(seq, (size_t)i), &o, opaque);
                }
        }
        sqlite3_reset(s);
        if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
                return fail(j, rc, "outbox");
        return r < 0 ? r : (int)n;
}

static int outbox_delete(struct journal *j, int64_t through, int64_t delivered)
{
        sqlite3_stmt *s;
        int rc = jsql_begin(j);

        if (rc)
                return rc;
        s = use(j, S_OUTBOX_DELETE);
        sqlite3_bind_int64(s, 1, through / OUTBOX_ROW_MAX);
        sqlite3_bind_int64(s, 2, through % OUTBOX_ROW_MAX);
        rc = run(j, S_OUTBOX_DELETE, "outbox delete");
        if (rc == 0) {
                s = use(j, S_OUTBOX_THROUGH_SET);
                sqlite3_bind_int64(s, 1, through);
                rc = run(j, S_OUTBOX_THROUGH_SET, "outbox delete");
        }
        if (rc == 0 && delivered)
                rc = journal_counter_add(j, "published", delivered);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc)
                jsql_rollback(j);
        else if (through > j->ob_through)
                j->ob_through = through;
        return rc;
}

/* Everything else the journal deletes or cuts is overwritten with zeros
 * (secure_delete, set at open), so that no pruned personal data lingers in
 * the file; published messages are not: their rows' freed pages are left
 * as they are until the next writes take them, since zeroing them would
 * write every message a second time (a fifth of all the journal wrote). */
static int jsql_outbox_delete_through(struct journal *j, int64_t through,
                                      int64_t delivered)
{
        int rc = jsql_exec(j, "PRAGMA secure_delete=FAST"), back;

        if (rc == 0)
                rc = outbox_delete(j, through, delivered);
        back = jsql_exec(j, "PRAGMA secure_delete=ON");

        return rc ? rc : back;
}

static int jsql_counter_add(struct journal *j, const char *name, int64_t n)
{
        sqlite3_stmt *s = use(j, S_COUNTER_ADD);
        bind_text(s, 1, name);
        sqlite3_bind_int64(s, 2, n);
        return run(j, S_COUNTER_ADD, "counter");
}

static int jsql_counter_get(struct journal *j, const char *name, int64_t *out)
{
        sqlite3_stmt *s = use(j, S_COUNTER_GET);
        int rc;

        bind_text(s, 1, name);
        rc = sqlite3_step(s);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, "counter");
}

/* A statement without parameters that answers one integer row. */
static int count(struct journal *j, enum stmt st, const char *what, int64_t *out)
{
        sqlite3_stmt *s = use(j, st);
        int rc = sqlite3_step(s);

        if (rc == SQLITE_ROW)
                *out = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return rc == SQLITE_ROW ? 0 : fail(j, rc, what);
}

static int jsql_batches_open(struct journal *j, int64_t *out)
{
        return count(j, S_OPEN_COUNT, "open batches", out);
}

static int jsql_backlog(struct journal *j, int64_t *out)
{
        return count(j, S_BACKLOG, "backlog", out);
}

static int jsql_outbox_count(struct journal *j, int64_t *out)
{
        return count(j, S_OUTBOX_COUNT, "outbox count", out);
}

static int prune_step(struct journal *j, enum stmt st, int64_t before_ms, size_t limit,
                      const char *counter, int64_t *pruned)
{
        sqlite3_stmt *s = use(j, st);
        int rc;

        sqlite3_bind_int64(s, 1, before_ms);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
        rc = run(j, st, counter);
        *pruned = rc ? 0 : sqlite3_changes64(j->db);
        if (rc == 0 && *pruned)
                rc = journal_counter_add(j, counter, *pruned);
        return rc;
}

/* The items of the ops in the batches whose bodies go next, cut to what the
 * operators and the finance office need (S_PRUNE_ITEMS). */
static int prune_items(struct journal *j, int64_t before_ms, size_t limit, int64_t *n)
{
        sqlite3_stmt *s = use(j, S_PRUNE_ITEMS);
        int rc;

        sqlite3_bind_int64(s, 1, before_ms);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
        sqlite3_bind_int(s, 3, RESULT_FAILED);
        sqlite3_bind_int(s, 4, JOURNAL_OP_REGISTER);
        rc = run(j, S_PRUNE_ITEMS, "pruned_items");
        *n = rc ? 0 : sqlite3_changes64(j->db);
        return rc;
}

static int read_int(struct journal *j, enum stmt st, const char *what, int64_t *out)
{
        sqlite3_stmt *s = use(j, st);
        int rc = sqlite3_step(s);

        *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, rc, what);
}

/* The next span of the sweep (S_SWEEP_ITEMS): seqs after the cursor, back to
 * the start past the last op. */
static int sweep_items(struct journal *j, int64_t before_ms, size_t span, int64_t *n)
{
        int64_t from = 0, last = 0, to;
        sqlite3_stmt *s;
        int rc = read_int(j, S_SWEEP_GET, "sweep cursor", &from);

        if (rc == 0)
                rc = read_int(j, S_OPS_LAST, "last op", &last);
        if (rc)
                return rc;
        if (from >= last)
                from = 0;
        to = from + (int64_t)span < last ? from + (int64_t)span : last;
        s = use(j, S_SWEEP_ITEMS);
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, to);
        sqlite3_bind_int(s, 3, RESULT_FAILED);
        sqlite3_bind_int(s, 4, JOURNAL_OP_REGISTER);
        sqlite3_bind_int64(s, 5, before_ms);
        rc = run(j, S_SWEEP_ITEMS, "pruned_items");
        *n = rc ? 0 : sqlite3_changes64(j->db);
        if (rc == 0) {
                s = use(j, S_SWEEP_SET);
                sqlite3_bind_int64(s, 1, to);
                rc = run(j, S_SWEEP_SET, "sweep cursor");
        }
        return rc;
}

static int jsql_prune(struct journal *j, int64_t bodies_before_ms,
                      int64_t events_before_ms, size_t max_bodies, size_t max_events,
                      int64_t pruned[2])
{
        int64_t items[2] = {0, 0};
        /* the logs merged a minute after the last merge at the latest, and
         * before old events are pruned: a trickle's rows reach their tables
         * (and pruning) too. The begin brings the logs' index up to date */
        int rc = jsql_begin(j);

        pruned[0] = pruned[1] = 0;
        if (rc == 0 && (rc = jsql_logs_merge_due(j, events_before_ms)) == 1) {
                rc = jsql_commit(j); /* nothing written yet */
                if (rc == 0)
                        rc = jsql_logs_merge(j);
                if (rc == 0)
                        rc = jsql_begin(j);
        }
        if (rc) {
                jsql_rollback(j);
                return rc;
        }
        rc = prune_items(j, bodies_before_ms, max_bodies, &items[0]);
        if (rc == 0)
                rc = sweep_items(j, bodies_before_ms, max_events, &items[1]);
        if (rc == 0 && items[0] + items[1])
                rc = journal_counter_add(j, "pruned_items", items[0] + items[1]);
        if (rc == 0)
                rc = prune_step(j, S_PRUNE_BODIES, bodies_before_ms, max_bodies,
                                "pruned_bodies", &pruned[0]);
        if (rc == 0)
                rc = prune_step(j, S_PRUNE_EVENTS, events_before_ms, max_events,
                                "pruned_events", &pruned[1]);
        if (rc == 0)
                rc = jsql_commit(j);
        if (rc) {
                jsql_rollback(j);
                pruned[0] = pruned[1] = 0;
                return rc;
        }
        return pruned[0] == (int64_t)max_bodies || pruned[1] == (int64_t)max_events;
}

static int pragma_int(struct journal *j, const char *name, int64_t *out)
{
        char text[64];
        sqlite3_stmt *s = NULL;
        int rc;

        snprintf(text, sizeof(text), "PRAGMA %s", name);
        rc = sqlite3_prepare_v2(j->db, text, -1, &s, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
                *out = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return rc == SQLITE_ROW ? 0 : fail(j, rc, name);
}

static int jsql_space(struct journal *j, int64_t *used, int64_t *file)
{
        int64_t pages = 0, free_pages = 0, page_size = 0;
        int rc = pragma_int(j, "page_count", &pages);

        if (rc == 0)
                rc = pragma_int(j, "freelist_count", &free_pages);
        if (rc == 0)
                rc = pragma_int(j, "page_size", &page_size);
        if (rc)
                return rc;
        *used = (pages - free_pages) * page_size;
        *file = pages * page_size;
        return 0;
}

static int jsql_disk_bytes(struct journal *j, int64_t *out)
{
        const char *path = sqlite3_db_filename(j->db, "main");
        char wal[4096];
        struct stat st;

        *out = 0;
        if (!path || !*path)
                return 0;
        if (stat(path, &st) == 0)
                *out += st.st_size;
        snprintf(wal, sizeof(wal), "%s-wal", path);
        if (stat(wal, &st) == 0)
                *out += st.st_size;
        return 0;
}

static const struct journal_backend jsql_backend = {
    .name = "sqlite",
    .close = jsql_close,
    .id = jsql_id,
    .errmsg = jsql_errmsg,
    .write_health = jsql_write_health,
    .write_error = jsql_write_error,
    .consume_begin = jsql_consume_begin,
    .consume_commit = jsql_consume_commit,
    .consume_abort = jsql_consume_abort,
    .programs_use = jsql_programs_use,
    .ops_unbatched = jsql_ops_unbatched,
    .batch_create = jsql_batch_create,
    .batches_due = jsql_batches_due,
    .batches_unfinished = jsql_batches_unfinished,
    .batch_ops = jsql_batch_ops,
    .batch_get = jsql_batch_get,
    .batch_update = jsql_batch_update,
    .batch_split = jsql_batch_split,
    .batch_finish = jsql_batch_finish,
    .ops_settle = jsql_ops_settle,
    .outbox_fetch = jsql_outbox_fetch,
    .outbox_delete_through = jsql_outbox_delete_through,
    .outbox_count = jsql_outbox_count,
    .counter_add = jsql_counter_add,
    .counter_get = jsql_counter_get,
    .batches_open = jsql_batches_open,
    .backlog = jsql_backlog,
    .prune = jsql_prune,
    .space = jsql_space,
    .disk_bytes = jsql_disk_bytes,
    .ctl_status = jsql_ctl_status,
    .ctl_batches = jsql_ctl_batches,
    .ctl_batch_show = jsql_ctl_batch_show,
    .ctl_worker = jsql_ctl_worker,
    .ctl_rejected = jsql_ctl_rejected,
    .ctl_audit_add = jsql_ctl_audit_add,
    .ctl_audit_list = jsql_ctl_audit_list,
    .ctl_replay = jsql_ctl_replay,
    .ctl_report = jsql_ctl_report,
};
