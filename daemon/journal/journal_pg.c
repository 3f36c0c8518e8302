/* The PostgreSQL backend of the journal, for several instances sharing one
 * journal: the connection (libpq; the password handed beside the URL,
 * never logged), the schema (created and upgraded at the daemon's open
 * under an advisory lock, its version in meta), the statements (prepared
 * once at open from one table), the helpers the backend's files share, and
 * the backend's table. The consume side is journal_pg_consume.c, the push
 * and publish sides journal_pg_push.c, the operator's journal_pg_ctl.c and
 * journal_pg_ctl_replay.c.
 *
 * The schema mirrors the SQLite backend's (journal_sqlite.c): the same
 * tables, columns and states, so the two read alike; seqs and batch ids
 * come from identity columns and are never reused. */
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"

/* The schema's version: a journal of a newer one is refused. 1 kept one
 * coverage row a worker and programme (overwritten by a new registration)
 * and no committed months; 2 keeps the coverages' history and the months;
 * 3 indexes events and ops by NIK (bpjs-syncctl worker); 4 is for several
 * instances: the partitions' owners and epochs (the position fence), the
 * guards' errors and the batches' leases. */
#define SCHEMA_VERSION 5
/* pg_advisory_xact_lock(SCHEMA_LOCK, 1): the schema's creation and
 * upgrades, one instance at a time ('bpjs'). The one-key form, used for
 * the workers, is another key space. */
#define SCHEMA_LOCK 1651534451

_Static_assert(RESULT_REGISTERED == 5 && RESULT_ALREADY_REGISTERED == 6 &&
                   RESULT_FAILED == 7 && JOURNAL_OP_REGISTER == 1 &&
                   JOURNAL_OP_DEACTIVATE == 2 && JOURNAL_CTL_REPORT_WORKERS == 1 &&
                   JOURNAL_CTL_REPORT_PENDING == 2,
               "the statements name these numbers");

/* The schema as version 1 made it; a new journal is made by it and then
 * upgraded as an old one is (upgrade_v2), so both roads meet. */
static const char schema_v1[] =
    "CREATE TABLE offsets(topic text NOT NULL, partition integer NOT NULL,"
    "  next_offset bigint NOT NULL, PRIMARY KEY(topic, partition));"
    "CREATE TABLE events(event_id text PRIMARY KEY, nik text NOT NULL,"
    "  program text, type integer, status integer NOT NULL, reason text,"
    "  covered_by text, topic text, partition integer, \"offset\" bigint,"
    "  decided_at bigint NOT NULL);"
    "CREATE TABLE coverage(nik text NOT NULL, program text NOT NULL,"
    "  state integer NOT NULL, start_month bigint NOT NULL, end_month bigint NOT NULL,"
    "  reg_seq bigint NOT NULL, event_id text, updated_at bigint NOT NULL,"
    "  PRIMARY KEY(nik, program));"
    "CREATE TABLE quota(program text PRIMARY KEY, used bigint NOT NULL);"
    "CREATE TABLE ops(seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  kind integer NOT NULL, nik text NOT NULL, program text NOT NULL,"
    "  event_id text NOT NULL, item bytea NOT NULL, reg_seq bigint, batch_id bigint,"
    "  status integer, kpj text, reason text);"
    "CREATE INDEX ops_unbatched ON ops(seq) WHERE batch_id IS NULL;"
    "CREATE INDEX ops_batch ON ops(batch_id) WHERE batch_id IS NOT NULL;"
    /* as SQLite's view: active is derived from the registration's outcome */
    "CREATE VIEW coverage_now AS SELECT c.nik, c.program,"
    "  CASE WHEN c.state = 1 AND EXISTS (SELECT 1 FROM ops r WHERE r.seq = c.reg_seq"
    "   AND r.status IN (5, 6)) THEN 2 ELSE c.state END AS state,"
    "  c.start_month, c.end_month, c.reg_seq, c.event_id, c.updated_at FROM coverage c;"
    "CREATE TABLE batches(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  kind integer NOT NULL, state integer NOT NULL, body bytea NOT NULL,"
    "  attempts bigint NOT NULL DEFAULT 0, next_at bigint NOT NULL, last_error text,"
    "  created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE INDEX batches_open ON batches(state, next_at) WHERE state IN (1, 2);"
    "CREATE INDEX batches_bodies ON batches(updated_at)"
    "  WHERE state IN (3, 4, 5) AND length(body) > 0;"
    "CREATE INDEX events_decided ON events(decided_at);"
    "CREATE TABLE outbox(seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  topic text NOT NULL, key bytea, value bytea NOT NULL, headers bytea);"
    "CREATE TABLE counters(name text PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE audit(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  at bigint NOT NULL, who text NOT NULL, action text NOT NULL, detail text);"
    /* a deactivation of a coverage nobody has fails the batch, inside the
     * pipeline, with a message that names no NIK */
    "CREATE FUNCTION bpjs_no_coverage(event_id text, program text) RETURNS bigint"
    "  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
    "  'deactivation (event %): the worker has no live coverage in %',"
    "  coalesce(event_id, 'without an id'), coalesce(program, '(none)')"
    "  USING ERRCODE = 'P0002'; END $$;"
    /* an item's period, or NULL when it is not JSON (pruning) */
    "CREATE FUNCTION bpjs_item_period(item bytea) RETURNS jsonb LANGUAGE plpgsql"
    "  IMMUTABLE AS $$ BEGIN RETURN convert_from(item, 'UTF8')::jsonb -> 'period';"
    "  EXCEPTION WHEN others THEN RETURN NULL; END $$;";

/* Version 2, as journal_sqlite.c's layout: coverages, one row a
 * registration keyed (nik, reg_seq), its history kept (the premium report
 * counts the months of ended ones); state 1 pending, 3 ended, 4 failed
 * ("active", 2, derived by the view from the registration op's outcome 5
 * or 6; rows marked 2 stay so); start/end_month the programme's period,
 * first/last_month the coverage's own months (none when last < first:
 * greatest(last - first + 1, 0) in the statements).
 * quota.months: the months of the programme's pending, active and ended
 * coverages. Version 1's rows each become a coverage whose months are its
 * period (the withdrawal month of an ended one was never kept: committed
 * months overstate, never understate, what it spent), as SQLite's
 * migrate_v0. */
static const char upgrade_v2[] =
    "CREATE TABLE coverages(nik text NOT NULL, reg_seq bigint NOT NULL,"
    "  program text NOT NULL, state integer NOT NULL, start_month bigint NOT NULL,"
    "  end_month bigint NOT NULL, first_month bigint NOT NULL,"
    "  last_month bigint NOT NULL, event_id text, updated_at bigint NOT NULL,"
    "  PRIMARY KEY(nik, reg_seq));"
    "INSERT INTO coverages(nik, reg_seq, program, state, start_month, end_month,"
    "  first_month, last_month, event_id, updated_at)"
    " SELECT nik, reg_seq, program, state, start_month, end_month, start_month,"
    "  end_month, event_id, updated_at FROM coverage;"
    "DROP VIEW coverage_now;"
    "DROP TABLE coverage;"
    "CREATE VIEW coverage_now AS SELECT c.nik, c.program,"
    "  CASE WHEN c.state = 1 AND EXISTS (SELECT 1 FROM ops r WHERE r.seq = c.reg_seq"
    "   AND r.status IN (5, 6)) THEN 2 ELSE c.state END AS state,"
    "  c.start_month, c.end_month, c.first_month, c.last_month, c.reg_seq, c.event_id,"
    "  c.updated_at FROM coverages c;"
    "ALTER TABLE quota ADD COLUMN months bigint NOT NULL DEFAULT 0;"
    "UPDATE quota SET months = coalesce((SELECT"
    "  sum(greatest(c.last_month - c.first_month + 1, 0)) FROM coverages c"
    "  WHERE c.program = quota.program AND c.state <> 4), 0);";

/* Version 3: a worker's events and operations found by the NIK, without a
 * scan of either table (bpjs-syncctl worker on a big journal). */
static const char upgrade_v3[] = "CREATE INDEX events_nik ON events(nik);"
                                 "CREATE INDEX ops_nik ON ops(nik, seq);";

/* Version 4, several instances on one journal: owners holds each
 * partition's epoch, bumped by the instance the group assigns it to
 * (journal_partitions_claim); a commit checks that its partitions still
 * have the epochs its instance claimed (bpjs_fenced, SQLSTATE P0004:
 * -ESTALE). bpjs_over_limit (P0003: -EAGAIN) refuses a commit that would
 * take a programme past its quota or budget. A batch in flight names the
 * instance sending it (claimed_by) and when its lease ends (lease_until,
 * wall-clock ms): another instance takes it over only after that. */
static const char upgrade_v4[] =
    "CREATE TABLE owners(topic text NOT NULL, partition integer NOT NULL,"
    "  owner text NOT NULL, epoch bigint NOT NULL, claimed_at bigint NOT NULL,"
    "  PRIMARY KEY(topic, partition));"
    "CREATE FUNCTION bpjs_over_limit(program text, what text) RETURNS bigint"
    "  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
    "  'programme % would go over its %: another instance took from it since"
    " begin', program, what USING ERRCODE = 'P0003'; END $$;"
    "CREATE FUNCTION bpjs_fenced(topic text, part integer) RETURNS bigint"
    "  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
    "  '%[%] is claimed by another instance: this one no longer commits for it',"
    "  topic, part USING ERRCODE = 'P0004'; END $$;"
    /* a batch in flight is held by one instance until its lease ends */
    "ALTER TABLE batches ADD COLUMN claimed_by text,"
    "  ADD COLUMN lease_until bigint;";

/* Version 5: one instance at a time publishes the outbox, in position
 * order: the holder of the publisher's lease (holder, lease_until in
 * wall-clock ms, one row), taken when free or ended, renewed while held and
 * released at close (jpg_outbox_fetch). */
static const char upgrade_v5[] =
    "CREATE TABLE publisher(id integer PRIMARY KEY CHECK (id = 1), holder text,"
    "  lease_until bigint);"
    "INSERT INTO publisher(id) VALUES(1);";

#define OP_COLUMNS                                                                       \
        "o.seq, o.kind::bigint, o.nik, o.program, o.event_id, o.item, o.reg_seq, "       \
        "r.kpj, o.batch_id, r.status::bigint FROM ops o LEFT JOIN ops r"                 \
        " ON r.seq = o.reg_seq "
#define BATCH_COLUMNS                                                                    \
        "id, kind::bigint, state::bigint, body, attempts, next_at, last_error, "         \
        "created_at, updated_at FROM batches "
#define PRUNE_BATCHES                                                                    \
        "SELECT id FROM batches WHERE state IN (3, 4, 5) AND length(body) > 0"           \
        " AND updated_at < $1::bigint ORDER BY updated_at, id LIMIT $2::bigint"
/* journal_sqlite.c's MINIMAL_ITEM and FINAL_OP, in PostgreSQL's words */
#define MINIMAL_ITEM                                                                     \
        "convert_to((CASE kind WHEN 1 THEN jsonb_build_object('nik', nik, 'program',"    \
        " program, 'period', bpjs_item_period(item)) ELSE jsonb_build_object('nik',"     \
        " nik, 'program', program) END)::text, 'UTF8')"
/* a failed registration is replayable only while its coverage is failed
 * and no later coverage of the same worker and programme exists */
#define FINAL_OP                                                                         \
        "status IS NOT NULL AND (status <> 7 OR (kind = 1 AND NOT EXISTS ("              \
        "SELECT 1 FROM coverages c WHERE c.nik = ops.nik AND c.reg_seq = ops.seq"        \
        " AND c.state = 4 AND NOT EXISTS (SELECT 1 FROM coverages l"                     \
        "  WHERE l.nik = c.nik AND l.program = c.program AND l.reg_seq > c.reg_seq))))"

/* An op, its registration's kpj, its outcome, the coverage it starts or
 * ends (only while that coverage is still the op's own) and its batch's
 * state (journal_sqlite_ctl.c's ITEM_COLUMNS) */
#define CTL_ITEM_COLUMNS                                                                 \
        "o.seq, o.kind, o.nik, o.program, o.event_id, o.item, o.reg_seq, r.kpj, "        \
        "o.batch_id, o.status, o.kpj, o.reason, c.state, b.state "                       \
        "FROM ops o LEFT JOIN ops r ON r.seq = o.reg_seq "                               \
        "LEFT JOIN coverage_now c ON c.nik = o.nik AND c.program = o.program "           \
        " AND c.reg_seq = (CASE WHEN o.kind = 1 THEN o.seq ELSE o.reg_seq END) "         \
        " AND NOT EXISTS (SELECT 1 FROM coverages l WHERE l.nik = o.nik "                \
        "  AND l.program = o.program AND l.reg_seq > c.reg_seq) "                        \
        "LEFT JOIN batches b ON b.id = o.batch_id "
#define CTL_EVENT_COLUMNS                                                                \
        "event_id, nik, program, type, status, reason, covered_by, topic, partition, "   \
        "\"offset\", decided_at FROM events "

static const char *const sql[Q__COUNT] = {
    /* the batch's workers, locked in NIK order until its commit: two
     * instances deciding one worker take turns */
    [Q_LOCK_WORKERS] = "SELECT count(pg_advisory_xact_lock(hashtextextended(n, 0)))"
                       " FROM (SELECT DISTINCT n COLLATE \"C\" AS n"
                       " FROM unnest($1::text[]) n ORDER BY 1) w",
    [Q_POSITIONS] = "SELECT p.i, o.next_offset FROM unnest($1::text[], $2::int[])"
                    " WITH ORDINALITY AS p(topic, part, i) JOIN offsets o"
                    " ON o.topic = p.topic AND o.partition = p.part",
    [Q_SEEN] = "SELECT e.i FROM unnest($1::text[]) WITH ORDINALITY AS e(id, i)"
               " WHERE EXISTS (SELECT 1 FROM events v WHERE v.event_id = e.id)",
    /* live coverages, and ended ones that have months (decide_coverage),
     * in decision order */
    [Q_WORKERS] = "SELECT w.i, c.program, c.start_month, c.end_month, c.first_month,"
                  " c.last_month, (c.state IN (1, 2))::int"
                  " FROM unnest($1::text[]) WITH ORDINALITY AS w(nik, i)"
                  " JOIN coverages c ON c.nik = w.nik AND (c.state IN (1, 2)"
                  " OR (c.state = 3 AND c.last_month >= c.first_month))"
                  " ORDER BY w.i, c.reg_seq",
    [Q_QUOTAS] = "SELECT p.i, q.used, q.months FROM unnest($1::text[]) WITH ORDINALITY"
                 " AS p(program, i) JOIN quota q ON q.program = p.program",
    [Q_EVENTS_INSERT] =
        "INSERT INTO events(event_id, nik, program, type, status, reason, covered_by,"
        " topic, partition, \"offset\", decided_at) SELECT * FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[],"
        " $8::text[], $9::int[], $10::bigint[], $11::bigint[])",
    [Q_REGISTER] =
        "WITH op AS (INSERT INTO ops(kind, nik, program, event_id, item)"
        " VALUES(1, $1::text, $2::text, $3::text, $4::bytea) RETURNING seq)"
        " INSERT INTO coverages(nik, reg_seq, program, state, start_month, end_month,"
        " first_month, last_month, event_id, updated_at) SELECT $1::text, seq,"
        " $2::text, 1, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $3::text,"
        " $9::bigint FROM op",
    /* the live coverage of the worker and programme ends at the
     * withdrawal's month ($5), never later than it would have: the months
     * it loses are returned, released at commit (journal_pg_consume.c) */
    [Q_DEACTIVATE] =
        "WITH cur AS (SELECT reg_seq, first_month, last_month FROM coverages"
        " WHERE nik = $1::text AND program = $2::text AND state IN (1, 2)"
        " ORDER BY reg_seq LIMIT 1 FOR UPDATE),"
        " ended AS (UPDATE coverages c SET state = 3,"
        " last_month = least(cur.last_month, $5::bigint), updated_at = $6::bigint"
        " FROM cur WHERE c.nik = $1::text AND c.reg_seq = cur.reg_seq"
        " RETURNING c.reg_seq, greatest(cur.last_month - cur.first_month + 1, 0)"
        " - greatest(c.last_month - c.first_month + 1, 0) AS released),"
        " op AS (INSERT INTO ops(kind, nik, program, event_id, item, reg_seq)"
        " SELECT 2, $1::text, $2::text, $3::text, $4::bytea,"
        " coalesce((SELECT reg_seq FROM ended), bpjs_no_coverage($3::text, $2::text)))"
        " SELECT released FROM ended",
    [Q_OUTBOX_INSERT] = "INSERT INTO outbox(topic, key, value, headers) SELECT t, k, v, h"
                        " FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[])"
                        " WITH ORDINALITY AS o(t, k, v, h, i) ORDER BY i",
    /* in the programmes' order: two instances committing take the rows'
     * locks alike. The guard: a programme with limits ($4 quota > 0) that
     * this batch takes slots or months from must stay within its quota
     * and its budget ($6, -1 none) once the rows, as other instances left
     * them, are added to: else the whole commit fails (-EAGAIN) and the
     * batch is decided again */
    [Q_QUOTA_ADD] =
        "WITH d AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
        " $4::bigint[], $5::bigint[], $6::bigint[]) AS d(p, u, m, q, mp, b)),"
        " up AS (INSERT INTO quota(program, used, months) SELECT p, u, m FROM d"
        " ORDER BY p COLLATE \"C\" ON CONFLICT (program) DO UPDATE"
        " SET used = quota.used + EXCLUDED.used,"
        " months = quota.months + EXCLUDED.months RETURNING program, used, months)"
        " SELECT bpjs_over_limit(up.program, CASE WHEN d.u > 0 AND up.used > d.q"
        " THEN 'quota' ELSE 'budget' END) FROM up JOIN d ON d.p = up.program"
        " WHERE d.q > 0 AND ((d.u > 0 AND up.used > d.q) OR (d.m > 0 AND d.b >= 0"
        " AND up.months::numeric * d.mp > d.b))",
    /* the fence: each partition of the batch still at the epoch this
     * instance claimed, its owner row share-locked until COMMIT so that a
     * claim by another instance waits for this batch (and its begin then
     * reads this batch's positions) */
    [Q_FENCE] = "SELECT bpjs_fenced(c.t, c.p) FROM unnest($1::text[], $2::int[],"
                " $3::bigint[]) AS c(t, p, e) LEFT JOIN (SELECT topic, partition, epoch"
                " FROM owners WHERE (topic, partition) IN (SELECT * FROM"
                " unnest($1::text[], $2::int[])) ORDER BY topic COLLATE \"C\","
                " partition FOR SHARE) o ON o.topic = c.t AND o.partition = c.p"
                " WHERE o.epoch IS DISTINCT FROM c.e",
    /* the partitions the group assigned to this instance ($3): each one's
     * epoch up by one, in one order (two claims never deadlock) */
    [Q_CLAIM] = "INSERT INTO owners(topic, partition, owner, epoch, claimed_at)"
                " SELECT t, p, $3::text, 1, $4::bigint FROM unnest($1::text[],"
                " $2::int[]) AS c(t, p) ORDER BY t COLLATE \"C\", p"
                " ON CONFLICT (topic, partition) DO UPDATE SET owner = EXCLUDED.owner,"
                " epoch = owners.epoch + 1, claimed_at = EXCLUDED.claimed_at"
                " RETURNING topic, partition, epoch",
    [Q_OFFSETS_SET] = "INSERT INTO offsets(topic, partition, next_offset) SELECT * FROM"
                      " unnest($1::text[], $2::int[], $3::bigint[])"
                      " ON CONFLICT (topic, partition) DO UPDATE"
                      " SET next_offset = EXCLUDED.next_offset",
    [Q_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES($1::text, $2::bigint)"
                      " ON CONFLICT (name) DO UPDATE SET value = counters.value"
                      " + EXCLUDED.value",
    [Q_COUNTER_GET] = "SELECT value FROM counters WHERE name = $1::text",
    [Q_OPS_UNBATCHED] =
        "SELECT " OP_COLUMNS "WHERE o.batch_id IS NULL"
        " AND o.status IS NULL AND o.seq > $1::bigint ORDER BY o.seq LIMIT $2::bigint",
    [Q_BATCH_OPS] = "SELECT " OP_COLUMNS "WHERE o.batch_id = $1::bigint ORDER BY o.seq",
    [Q_BATCH_INSERT] =
        "INSERT INTO batches(kind, state, body, next_at, created_at, updated_at)"
        " VALUES($1::int, 1, ''::bytea, $2::bigint, $2::bigint, $2::bigint) RETURNING id",
    [Q_BATCH_BODY] = "UPDATE batches SET body = $2::bytea WHERE id = $1::bigint",
    [Q_OPS_BATCH] = "UPDATE ops SET batch_id = $2::bigint WHERE seq = ANY($1::bigint[])"
                    " AND batch_id IS NULL",
    [Q_OPS_REBATCH] = "UPDATE ops SET batch_id = $2::bigint WHERE seq = ANY($1::bigint[])"
                      " AND batch_id = $3::bigint",
    /* pending and due, or in flight under a lease that ended by the
     * clock ($3: the caller's now is for next attempts) (its instance
     * died): taken over, same body, same key */
    [Q_BATCHES_DUE] =
        "SELECT " BATCH_COLUMNS "WHERE (state = 1 AND next_at <= $1::bigint)"
        " OR (state = 2 AND lease_until < $3::bigint)"
        " ORDER BY next_at, id LIMIT $2::bigint",
    [Q_BATCHES_OPEN] = "SELECT " BATCH_COLUMNS "WHERE state IN (1, 2) ORDER BY id",
    [Q_BATCH_GET] = "SELECT " BATCH_COLUMNS "WHERE id = $1::bigint",
    /* only an open batch: one that ended is never sent again */
    /* only an open batch: one that ended is never sent again. In flight
     * ($2 = 2) is a claim: of a pending batch, or of one in flight whose
     * lease ended, or renewed by its holder ($7), with a lease to $8; any
     * other change only by the holder, or of a batch nobody holds */
    [Q_BATCH_UPDATE] =
        "UPDATE batches SET state = $2::int, attempts = $3::bigint,"
        " next_at = $4::bigint, last_error = $5::text, updated_at = $6::bigint,"
        " claimed_by = CASE WHEN $2::int = 2 THEN $7::text END,"
        " lease_until = CASE WHEN $2::int = 2 THEN $8::bigint END"
        " WHERE id = $1::bigint AND (state = 1 OR (state = 2 AND (claimed_by IS NULL"
        " OR claimed_by = $7::text OR ($2::int = 2 AND lease_until < $6::bigint))))",
    /* the holder's answer (or nobody's batch): one another instance took
     * over or ended is left alone (-ESTALE) */
    [Q_BATCH_FINISH] = "UPDATE batches SET state = $2::int, last_error = $3::text,"
                       " updated_at = $4::bigint, claimed_by = NULL, lease_until = NULL"
                       " WHERE id = $1::bigint AND (state = 1 OR (state = 2 AND"
                       " (claimed_by IS NULL OR claimed_by = $5::text)))",
    [Q_LEASE_RENEW] = "UPDATE batches SET lease_until = $2::bigint WHERE state = 2"
                      " AND claimed_by = $1::text",
    /* the batch's workers, locked as consume locks them, then whether an
     * earlier operation of one of them is not answered yet (queued before,
     * or in an open batch): then the batch is not formed (-EAGAIN) */
    [Q_OPS_ORDER] =
        "SELECT (SELECT count(pg_advisory_xact_lock(hashtextextended(n, 0))) FROM"
        " (SELECT DISTINCT nik COLLATE \"C\" AS n FROM ops WHERE seq = ANY($1::bigint[])"
        " ORDER BY 1) w), (SELECT count(*) FROM ops x JOIN ops y ON y.nik = x.nik"
        " AND y.seq <> x.seq AND y.status IS NULL AND (y.batch_id IS NOT NULL"
        " OR y.seq < x.seq) WHERE x.seq = ANY($1::bigint[])"
        " AND NOT (y.batch_id IS NOT NULL AND y.batch_id = $2::bigint))",
    /* outbox rows take their seqs in commit order: a commit that writes
     * some holds this lock from its first statement to its end, so a
     * reader that saw seq n saw every row below it that will ever be */
    [Q_OUTBOX_LOCK] = "SELECT pg_advisory_xact_lock(1651534451, 2)",
    [Q_OP_RESULTS] = "UPDATE ops SET status = u.status, kpj = u.kpj, reason = u.reason"
                     " FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[])"
                     " AS u(seq, status, kpj, reason) WHERE ops.seq = u.seq",
    /* unbatched ops settled without a request (jpg_ops_settle checks the
     * count) */
    [Q_OPS_SETTLE] = "UPDATE ops SET status = u.status, reason = u.reason"
                     " FROM unnest($1::bigint[], $2::int[], $3::text[])"
                     " AS u(seq, status, reason) WHERE ops.seq = u.seq"
                     " AND ops.batch_id IS NULL AND ops.status IS NULL",
    /* failed registrations commit nothing (journal_sqlite.c's
     * coverage_settle): a pending coverage becomes failed and releases its
     * slot and its months (its first/last kept, for a replay); one that
     * ended meanwhile stays ended without months and releases those it kept
     * (its slot it released when it ended) */
    [Q_COVERAGE_FAIL] =
        "WITH was AS (SELECT c.nik, c.reg_seq, c.program, c.state,"
        " greatest(c.last_month - c.first_month + 1, 0) AS months"
        " FROM ops o JOIN coverages c ON c.nik = o.nik AND c.reg_seq = o.seq"
        " WHERE o.seq = ANY($1::bigint[]) AND (c.state = 1"
        " OR (c.state = 3 AND c.last_month >= c.first_month)) FOR UPDATE OF c),"
        " settled AS (UPDATE coverages c SET state = CASE was.state WHEN 1 THEN 4"
        " ELSE 3 END, last_month = CASE was.state WHEN 1 THEN c.last_month"
        " ELSE c.first_month - 1 END, updated_at = $2::bigint FROM was"
        " WHERE c.nik = was.nik AND c.reg_seq = was.reg_seq"
        " RETURNING was.program, was.state, was.months)"
        " INSERT INTO quota(program, used, months) SELECT program,"
        " -count(*) FILTER (WHERE state = 1), -sum(months) FROM settled"
        " GROUP BY program ORDER BY program COLLATE \"C\""
        " ON CONFLICT (program) DO UPDATE SET used = quota.used + EXCLUDED.used,"
        " months = quota.months + EXCLUDED.months",
    /* taken by $1 until $2 if free, its own, or ended by $3; released */
    [Q_PUBLISHER_TAKE] =
        "UPDATE publisher SET holder = $1::text, lease_until = $2::bigint"
        " WHERE id = 1 AND (holder IS NULL OR holder = $1::text"
        " OR lease_until < $3::bigint)",
    [Q_PUBLISHER_RELEASE] = "UPDATE publisher SET holder = NULL, lease_until = NULL"
                            " WHERE id = 1 AND holder = $1::text",
    [Q_OUTBOX_FETCH] = "SELECT seq, topic, key, value, headers FROM outbox"
                       " WHERE seq > $1::bigint ORDER BY seq LIMIT $2::bigint",
    /* one row a message here: a message's position is its seq */
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE seq <= $1::bigint",
    [Q_OPEN_COUNT] = "SELECT count(*) FROM batches WHERE state IN (1, 2)",
    [Q_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
    [Q_BACKLOG] = "SELECT (SELECT count(*) FROM ops WHERE batch_id IS NULL"
                  "  AND status IS NULL) +"
                  " (SELECT count(*) FROM batches b JOIN ops o ON o.batch_id = b.id"
                  "  WHERE b.state IN (1, 2))",
    [Q_PRUNE_ITEMS] = "UPDATE ops SET item = " MINIMAL_ITEM " WHERE batch_id IN"
                      " (" PRUNE_BATCHES ") AND " FINAL_OP,
    [Q_SWEEP_ITEMS] = "UPDATE ops SET item = " MINIMAL_ITEM " WHERE seq > $1::bigint"
                      " AND seq <= $2::bigint AND " FINAL_OP " AND EXISTS (SELECT 1"
                      " FROM batches b WHERE b.id = ops.batch_id AND b.state IN (3, 4, 5)"
                      " AND length(b.body) = 0 AND b.updated_at < $3::bigint)"
                      " AND length(item) > length(" MINIMAL_ITEM ")",
    [Q_SWEEP_GET] = "SELECT value::bigint FROM meta WHERE key = 'items_swept_to'",
    [Q_SWEEP_SET] = "INSERT INTO meta(key, value) VALUES('items_swept_to', $1::text)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    [Q_OPS_LAST] = "SELECT coalesce(max(seq), 0) FROM ops",
    [Q_PRUNE_BODIES] =
        "UPDATE batches SET body = ''::bytea WHERE id IN (" PRUNE_BATCHES ")",
    [Q_PRUNE_EVENTS] = "DELETE FROM events WHERE event_id IN (SELECT event_id FROM events"
                       " WHERE decided_at < $1::bigint ORDER BY decided_at"
                       " LIMIT $2::bigint)",
    [Q_SPACE] = "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,"
                " pg_database_size(current_database()) FROM pg_class c JOIN pg_namespace"
                " s ON s.oid = c.relnamespace WHERE s.nspname = current_schema()"
                " AND c.relkind IN ('r', 'm')",
    /* the operator's status (journal_pg_ctl.c); a replay's own note is not
     * an endpoint error */
    [Q_CTL_STATUS] =
        "SELECT (SELECT count(*) FROM ops WHERE batch_id IS NULL AND status IS NULL),"
        " (SELECT count(*) FROM batches b JOIN ops o ON o.batch_id = b.id"
        "  WHERE b.state = 4),"
        " (SELECT e.decided_at FROM ops o JOIN events e ON e.event_id = o.event_id"
        "  WHERE o.batch_id IS NULL AND o.status IS NULL ORDER BY o.seq LIMIT 1),"
        " (SELECT min(e.decided_at) FROM batches b JOIN ops o ON o.batch_id = b.id"
        "  JOIN events e ON e.event_id = o.event_id WHERE b.state IN (1, 2)),"
        " (SELECT value FROM counters WHERE name = 'consumed'),"
        " (SELECT value FROM counters WHERE name = 'published'),"
        " (SELECT count(*) FROM outbox)",
    [Q_CTL_BATCH_COUNTS] = "SELECT state::bigint, count(*) FROM batches GROUP BY state",
    [Q_CTL_LAST_ERROR] = "SELECT id, last_error, updated_at FROM batches"
                         " WHERE last_error IS NOT NULL AND last_error NOT LIKE"
                         " 'replayed %' ORDER BY updated_at DESC, id DESC LIMIT 1",
    [Q_CTL_QUOTAS] =
        "SELECT program, used, months FROM quota ORDER BY program COLLATE \"C\"",
    /* the premium report (journal_sqlite_ctl.c's C_REPORT): class 1 workers
     * (active, or ended after a registered answer), 2 pending (pending, or
     * ended before any answer); failed ones and those without months never */
    [Q_CTL_REPORT] = "SELECT program, klass, first_month, last_month, count(*) FROM"
                     " (SELECT c.program, CASE"
                     "   WHEN c.state = 2 OR (c.state = 3 AND r.status IN (5, 6)) THEN 1"
                     "   WHEN c.state IN (1, 3) AND r.status IS NULL THEN 2 END AS klass,"
                     "  c.first_month, c.last_month"
                     "  FROM coverage_now c LEFT JOIN ops r ON r.seq = c.reg_seq"
                     "  WHERE c.first_month <= c.last_month) g WHERE klass IS NOT NULL"
                     " GROUP BY program, klass, first_month, last_month"
                     " ORDER BY program COLLATE \"C\", klass, first_month, last_month",
    /* the operator's verbs (journal_pg_ctl.c), as journal_sqlite_ctl.c's:
     * absent filters are NULL; text ordered as SQLite orders it (bytes) */
    [Q_CTL_BATCHES] =
        "SELECT b.id, b.kind, b.state, b.attempts, b.next_at, b.last_error,"
        " b.created_at, b.updated_at,"
        " (SELECT count(*) FROM ops o WHERE o.batch_id = b.id),"
        " (SELECT string_agg(d.program, ',' ORDER BY d.program COLLATE \"C\") FROM"
        "  (SELECT DISTINCT o.program FROM ops o WHERE o.batch_id = b.id) d)"
        " FROM batches b WHERE ($1::int IS NULL OR b.state = $1::int)"
        " AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM ops o"
        "  WHERE o.batch_id = b.id AND o.program = $2::text))"
        " AND ($3::bigint IS NULL OR b.updated_at >= $3::bigint) ORDER BY b.id",
    [Q_CTL_BATCH_ITEMS] = "SELECT " CTL_ITEM_COLUMNS "WHERE o.batch_id = $1::bigint"
                          " ORDER BY o.seq",
    /* a worker's rows by the NIK's indexes (events_nik, ops_nik) */
    [Q_CTL_WORKER_EVENTS] = "SELECT " CTL_EVENT_COLUMNS "WHERE nik = $1::text"
                            " ORDER BY decided_at, event_id COLLATE \"C\"",
    [Q_CTL_WORKER_COVERAGES] =
        "SELECT program, state, start_month, end_month, reg_seq, event_id,"
        " updated_at, first_month, last_month FROM coverage_now WHERE nik = $1::text"
        " ORDER BY reg_seq",
    [Q_CTL_WORKER_OPS] = "SELECT " CTL_ITEM_COLUMNS "WHERE o.nik = $1::text"
                         " ORDER BY o.seq",
    [Q_CTL_REJECTED] = "SELECT " CTL_EVENT_COLUMNS "WHERE status = $3::int"
                       " AND ($1::text IS NULL OR reason = $1::text)"
                       " AND ($2::bigint IS NULL OR decided_at >= $2::bigint)"
                       " ORDER BY decided_at, event_id COLLATE \"C\"",
    [Q_CTL_AUDIT_ADD] = "INSERT INTO audit(at, who, action, detail)"
                        " VALUES($1::bigint, $2::text, $3::text, $4::text)",
    [Q_CTL_AUDIT_LIST] = "SELECT id, at, who, action, detail FROM audit"
                         " WHERE ($1::text IS NULL OR strpos(detail, $1::text) > 0)"
                         " AND ($2::bigint IS NULL OR at >= $2::bigint) ORDER BY id",
    /* replay (journal_pg_ctl_replay.c): the batch row locked for the
     * replay's transaction, then its workers (Q_LOCK_WORKERS), then the
     * slots of the programmes it may take, in the consume side's order */
    [Q_CTL_BATCH_LOCK] = "SELECT id FROM batches WHERE id = $1::bigint FOR UPDATE",
    [Q_CTL_QUOTAS_LOCK] =
        "SELECT program, used, months FROM quota WHERE program = ANY($1::text[])"
        " ORDER BY program COLLATE \"C\" FOR UPDATE",
    /* the latest coverage of (NIK, programme): the op's own, or a later one */
    [Q_CTL_COVERAGE_ROW] = "SELECT state, reg_seq, start_month, end_month, first_month,"
                           " last_month FROM coverage_now WHERE nik = $1::text"
                           " AND program = $2::text ORDER BY reg_seq DESC LIMIT 1",
    /* decide's view of the worker (journal_sqlite.c's S_WORKER) */
    [Q_CTL_WORKER_LIVE] =
        "SELECT program, start_month, end_month, first_month, last_month,"
        " (state IN (1, 2))::int FROM coverages WHERE nik = $1::text"
        " AND (state IN (1, 2) OR (state = 3 AND last_month >= first_month))"
        " ORDER BY reg_seq",
    [Q_CTL_LATER_OP] = "SELECT seq FROM ops WHERE nik = $1::text AND seq > $2::bigint"
                       " ORDER BY seq LIMIT 1",
    [Q_CTL_COVERAGE_RETAKE] =
        "UPDATE coverages SET state = 1, updated_at = $4::bigint WHERE nik = $1::text"
        " AND program = $2::text AND reg_seq = $3::bigint AND state = 4",
    [Q_CTL_QUOTA_TAKE] =
        "INSERT INTO quota(program, used, months) VALUES($1::text, $2::bigint,"
        " $3::bigint) ON CONFLICT (program) DO UPDATE SET used = quota.used"
        " + EXCLUDED.used, months = quota.months + EXCLUDED.months",
    [Q_CTL_OP_RESET] = "UPDATE ops SET status = NULL, kpj = NULL, reason = NULL"
                       " WHERE seq = $1::bigint AND batch_id = $2::bigint",
    [Q_CTL_OP_REASON] = "UPDATE ops SET reason = $2::text WHERE seq = $1::bigint",
    /* pending again from state $4: the failed batch (4), or the new one (1) */
    [Q_CTL_BATCH_REQUEUE] =
        "UPDATE batches SET state = 1, attempts = 0, next_at = $2::bigint,"
        " last_error = $3::text, updated_at = $2::bigint WHERE id = $1::bigint"
        " AND state = $4::int",
    /* a replayed batch ends: only the failed batch the replay locked (the
     * push side's Q_BATCH_FINISH changes only open batches) */
    [Q_CTL_BATCH_END] = "UPDATE batches SET state = $2::int, last_error = $3::text,"
                        " updated_at = $4::bigint WHERE id = $1::bigint AND state = 4",
};

static const struct journal_backend jpg_backend;

/* ---- errors ---- */

static int errno_of(const char *state)
{
        if (!state)
                return -EIO;
        if (strcmp(state, "53100") == 0) /* disk_full */
                return -ENOSPC;
        if (strcmp(state, "53200") == 0) /* out_of_memory */
                return -ENOMEM;
        if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
                return -EAGAIN; /* serialization failure, deadlock: decide again */
        if (strcmp(state, "55P03") == 0 || strcmp(state, "53300") == 0)
                return -EBUSY;
        /* the server shutting down (57P01 "terminating connection due to
         * administrator command", 57P02, 57P03) or the connection lost
         * (class 08), even before libpq marks the connection bad */
        if (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0)
                return -ENOTCONN;
        if (strcmp(state, "25006") == 0) /* read_only_sql_transaction */
                return -EROFS;
        if (strcmp(state, "P0002") == 0) /* bpjs_no_coverage */
                return -ENOENT;
        if (strcmp(state, "P0003") == 0) /* bpjs_over_limit: decide again */
                return -EAGAIN;
        if (strcmp(state, "P0004") == 0) /* bpjs_fenced */
                return -ESTALE;
        return -EIO;
}

static void write_failed(struct jpg *j, int err)
{
        if (j->write_rc)
                return;
        j->write_rc = err;
        snprintf(j->write_error, sizeof(j->write_error), "%s", j->errmsg);
}

int jpg_fail_text(struct jpg *j, int err, const char *what, const char *text)
{
        size_t len;

        snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s", what, text);
        len = strlen(j->errmsg);
        while (len && (j->errmsg[len - 1] == '\n' || j->errmsg[len - 1] == ' '))
                j->errmsg[--len] = '\0';
        if (err == -EROFS && (j->flags & JOURNAL_READONLY))
                snprintf(j->errmsg, sizeof(j->errmsg), "%s: %s", what, JPG_READONLY_TEXT);
        else if (err == -ENOTCONN || (j->writing && err != -ENOENT && err != -EAGAIN &&
                                      err != -ESTALE && err != -EALREADY))
                write_failed(j, err); /* not the facts refused, nor a retry asked,
                                         nor a partition another instance took */
        return err;
}

/* The server's primary message only: its detail may quote a row (a NIK). */
int jpg_fail_res(struct jpg *j, const PGresult *r, const char *what)
{
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        int err = r ? errno_of(PQresultErrorField(r, PG_DIAG_SQLSTATE)) : -EIO;

        if (!msg)
                msg = PQerrorMessage(j->conn);
        if (PQstatus(j->conn) == CONNECTION_BAD)
                err = -ENOTCONN; /* the server went away: made again later */
        return jpg_fail_text(j, err, what,
                             msg && *msg ? msg : "no answer from the server");
}

bool jpg_result_ok(const PGresult *r)
{
        ExecStatusType st = PQresultStatus(r);
        return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* ---- parameters, arrays, columns ---- */

void jpg_p_text(struct jpg_params *p, const char *s)
{
        p->v[p->n] = s;
        p->len[p->n] = 0;
        p->fmt[p->n] = 0;
        p->n++;
}

void jpg_p_i64(struct jpg_params *p, int64_t v)
{
        snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
        jpg_p_text(p, p->num[p->n]);
}

void jpg_p_bytes(struct jpg_params *p, const void *b, size_t len)
{
        p->v[p->n] = b;
        p->len[p->n] = (int)len;
        p->fmt[p->n] = 1;
        p->n++;
}

static void buf_put(struct jpg_buf *b, const char *s, size_t len)
{
        if (b->oom)
                return;
        if (b->n + len + 2 > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->n + len + 2)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, len);
        b->n += len;
        b->p[b->n] = '\0';
}

static void arr_sep(struct jpg_buf *b)
{
        buf_put(b, b->n ? "," : "{", 1);
}

void jpg_arr_text(struct jpg_buf *b, const char *s)
{
        arr_sep(b);
        if (!s) {
                buf_put(b, "NULL", 4);
                return;
        }
        buf_put(b, "\"", 1);
        for (const char *c = s; *c; c++) {
                if (*c == '"' || *c == '\\')
                        buf_put(b, "\\", 1);
                buf_put(b, c, 1);
        }
        buf_put(b, "\"", 1);
}

void jpg_arr_i64(struct jpg_buf *b, int64_t v)
{
        char num[24];
        int n = snprintf(num, sizeof(num), "%lld", (long long)v);
        arr_sep(b);
        buf_put(b, num, (size_t)n);
}

void jpg_arr_bytes(struct jpg_buf *b, const void *v, size_t len)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = v;
        char two[2];

        arr_sep(b);
        if (!v) {
                buf_put(b, "NULL", 4);
                return;
        }
        buf_put(b, "\"\\\\x", 4); /* "\\x...": the array's escape, then bytea's */
        for (size_t i = 0; i < len; i++) {
                two[0] = hex[p[i] >> 4];
                two[1] = hex[p[i] & 15];
                buf_put(b, two, 2);
        }
        buf_put(b, "\"", 1);
}

const char *jpg_arr_end(struct jpg_buf *b)
{
        buf_put(b, b->n ? "}" : "{}", b->n ? 1 : 2);
        return b->oom ? NULL : b->p;
}

void jpg_buf_free(struct jpg_buf *b)
{
        free(b->p);
        *b = (struct jpg_buf){0};
}

int64_t jpg_col_i64(const PGresult *r, int row, int col)
{
        const unsigned char *p;
        uint64_t v = 0;
        int len;

        if (PQgetisnull(r, row, col))
                return 0;
        p = (const unsigned char *)PQgetvalue(r, row, col);
        len = PQgetlength(r, row, col);
        for (int i = 0; i < len && i < 8; i++)
                v = v << 8 | p[i];
        if (len == 4)
                return (int32_t)(uint32_t)v;
        if (len == 2)
                return (int16_t)(uint16_t)v;
        return (int64_t)v;
}

const void *jpg_col_blob(const PGresult *r, int row, int col)
{
        /* as SQLite's column_blob: NULL for NULL and for no bytes */
        return PQgetisnull(r, row, col) || PQgetlength(r, row, col) == 0
                   ? NULL
                   : PQgetvalue(r, row, col);
}

const char *jpg_col_text(const PGresult *r, int row, int col)
{
        return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

size_t jpg_col_len(const PGresult *r, int row, int col)
{
        return PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
}

/* ---- statements and transactions ---- */

char jpg_stmt_name[Q__COUNT][8];

static int prepare_all(struct jpg *j)
{
        for (int i = 0; i < Q__COUNT; i++) {
                snprintf(jpg_stmt_name[i], sizeof(jpg_stmt_name[i]), "q%d", i);
                PGresult *r = PQprepare(j->conn, jpg_stmt_name[i], sql[i], 0, NULL);
                int rc = jpg_result_ok(r) ? 0 : jpg_fail_res(j, r, "prepare");
                PQclear(r);
                if (rc)
                        return rc;
        }
        return 0;
}

static int simple(struct jpg *j, const char *text, const char *what)
{
        PGresult *r = PQexec(j->conn, text);
        int rc = jpg_result_ok(r) ? 0 : jpg_fail_res(j, r, what);
        PQclear(r);
        return rc;
}

/* A connection the server dropped is made again (and its statements
 * prepared again) before the next transaction. */
int jpg_ensure_conn(struct jpg *j)
{
        int64_t now;

        if (PQstatus(j->conn) == CONNECTION_OK)
                return 0;
        /* a server that is down is asked again with a capped backoff, not
         * on every call (each attempt may wait up to connect_timeout) */
        j->in_tx = false;
        now = clock_mono_ms();
        if (now < j->reconnect_at)
                return jpg_fail_text(j, -ENOTCONN, "journal unreachable",
                                     j->reconnect_error);
        PQreset(j->conn);
        if (PQstatus(j->conn) != CONNECTION_OK) {
                j->reconnect_ms = j->reconnect_ms ? j->reconnect_ms * 2 : 250;
                if (j->reconnect_ms > JPG_RECONNECT_MAX_MS)
                        j->reconnect_ms = JPG_RECONNECT_MAX_MS;
                j->reconnect_at = clock_mono_ms() + j->reconnect_ms;
                /* libpq's text names the host and the port, never the
                 * password */
                snprintf(j->reconnect_error, sizeof(j->reconnect_error), "%s",
                         PQerrorMessage(j->conn));
                return jpg_fail_text(j, -ENOTCONN, "journal unreachable",
                                     j->reconnect_error);
        }
        j->reconnect_ms = 0;
        j->reconnect_at = 0;
        if ((j->flags & JOURNAL_READONLY) &&
            simple(j, "SET default_transaction_read_only = on", "read-only"))
                return -EIO;
        return prepare_all(j);
}

int jpg_exec(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p, const char *what,
             PGresult **out)
{
        PGresult *r;

        if (!j->in_tx) {
                int rc = jpg_ensure_conn(j);
                if (rc)
                        return rc;
        }
        r = PQexecPrepared(j->conn, jpg_stmt_name[s], p ? p->n : 0, p ? p->v : NULL,
                           p ? p->len : NULL, p ? p->fmt : NULL, 1);
        if (!jpg_result_ok(r)) {
                int rc = jpg_fail_res(j, r, what);
                PQclear(r);
                return rc;
        }
        *out = r;
        return 0;
}

int jpg_run(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p, const char *what,
            int64_t *changed)
{
        PGresult *r = NULL;
        int rc = jpg_exec(j, s, p, what, &r);

        if (rc == 0 && changed)
                *changed = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        return rc;
}

int jpg_begin(struct jpg *j, bool write)
{
        int rc;

        if (write && (j->flags & JOURNAL_READONLY)) {
                snprintf(j->errmsg, sizeof(j->errmsg), "begin: %s", JPG_READONLY_TEXT);
                return -EROFS;
        }
        rc = jpg_ensure_conn(j);
        if (rc)
                return rc;
        j->writing = write;
        rc = simple(j, "BEGIN", "begin");
        j->in_tx = rc == 0;
        if (rc)
                j->writing = false;
        return rc;
}

int jpg_begin_snapshot(struct jpg *j)
{
        int rc = jpg_ensure_conn(j);

        if (rc)
                return rc;
        j->writing = false;
        rc = simple(j, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
        j->in_tx = rc == 0;
        return rc;
}

int jpg_commit(struct jpg *j)
{
        int rc = simple(j, "COMMIT", "commit");

        if (rc == 0 && j->writing)
                j->write_rc = 0;
        j->in_tx = false;
        j->writing = false;
        return rc;
}

void jpg_rollback(struct jpg *j)
{
        if (j->conn && PQstatus(j->conn) == CONNECTION_OK &&
            PQtransactionStatus(j->conn) != PQTRANS_IDLE) {
                PGresult *r = PQexec(j->conn, "ROLLBACK");
                PQclear(r);
        }
        j->in_tx = false;
        j->writing = false;
}

/* ---- open, schema, close ---- */

static int jpg_write_health(const struct journal *j)
{
        return jpg_cof(j)->write_rc;
}

static const char *jpg_write_error(const struct journal *j)
{
        return jpg_cof(j)->write_rc ? jpg_cof(j)->write_error : "";
}

static const char *jpg_errmsg(const struct journal *j)
{
        return jpg_cof(j)->errmsg;
}

static const char *jpg_id(const struct journal *j)
{
        return jpg_cof(j)->id;
}

/* The schema, created or upgraded under the advisory lock, and the
 * journal's id: two daemons starting at once take turns here. */
static int schema_ensure(struct jpg *j)
{
        unsigned char raw[JOURNAL_ID_LEN / 2];
        char fresh[JOURNAL_ID_LEN + 1], q[160];
        PGresult *r;
        int rc, version = 0;

        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                return jpg_fail_text(j, -EIO, "journal id", "no random bytes");
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(fresh + 2 * i, 3, "%02x", raw[i]);
        j->writing = true;
        rc = simple(j, "BEGIN", "schema");
        if (rc == 0) {
                snprintf(q, sizeof(q), "SELECT pg_advisory_xact_lock(%d, 1)",
                         SCHEMA_LOCK);
                rc = simple(j, q, "schema lock");
        }
        if (rc == 0)
                rc = simple(j,
                            "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY,"
                            " value text NOT NULL)",
                            "schema");
        if (rc == 0) {
                r = PQexec(j->conn,
                           "SELECT value FROM meta WHERE key = 'schema_version'");
                if (!jpg_result_ok(r))
                        rc = jpg_fail_res(j, r, "schema version");
                else if (PQntuples(r) == 1)
                        version = atoi(PQgetvalue(r, 0, 0));
                PQclear(r);
        }
        if (rc == 0 && version > SCHEMA_VERSION) {
                snprintf(q, sizeof(q),
                         "the journal's schema is version %d, newer than this "
                         "daemon's (%d): upgrade the daemon",
                         version, SCHEMA_VERSION);
                rc = jpg_fail_text(j, -EIO, "schema", q);
        }
        if (rc == 0 && version < 1)
                rc = simple(j, schema_v1, "schema");
        /* the upgrades, each under the same lock and in the same transaction */
        if (rc == 0 && version < 2)
                rc = simple(j, upgrade_v2, "schema upgrade to version 2");
        if (rc == 0 && version < 3)
                rc = simple(j, upgrade_v3, "schema upgrade to version 3");
        if (rc == 0 && version < 4)
                rc = simple(j, upgrade_v4, "schema upgrade to version 4");
        if (rc == 0 && version < 5)
                rc = simple(j, upgrade_v5, "schema upgrade to version 5");
        if (rc == 0 && version < SCHEMA_VERSION) {
                snprintf(q, sizeof(q),
                         "INSERT INTO meta(key, value) VALUES('schema_version', '%d')"
                         " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         SCHEMA_VERSION);
                rc = simple(j, q, "schema version");
        }
        if (rc == 0) {
                snprintf(q, sizeof(q),
                         "INSERT INTO meta(key, value) VALUES('journal_id', '%s')"
                         " ON CONFLICT (key) DO NOTHING",
                         fresh);
                rc = simple(j, q, "journal id");
        }
        if (rc == 0)
                rc = simple(j, "COMMIT", "schema");
        if (rc)
                jpg_rollback(j);
        j->writing = false;
        return rc;
}

static int load_id(struct jpg *j)
{
        PGresult *r = PQexec(j->conn, "SELECT value FROM meta WHERE key = 'journal_id'");
        int rc = 0;

        if (!jpg_result_ok(r))
                rc = jpg_fail_res(j, r, "journal id");
        else if (PQntuples(r) != 1)
                rc = jpg_fail_text(j, -EIO, "journal id",
                                   "no journal id in its meta table");
        else
                snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        return rc;
}

static void notice_quiet(void *arg, const char *message)
{
        (void)arg, (void)message; /* "no transaction in progress" and the like */
}

static int connect_db(struct jpg *j, const char *url, const char *password, char *err,
                      size_t errsize)
{
        /* the URL's own settings win over these defaults; the password is
         * the last word */
        const char *keys[] = {"application_name", "connect_timeout", "dbname", "password",
                              NULL};
        const char *values[] = {"bpjs-sync", "10", url, password, NULL};
        PQconninfoOption *opts;
        char *why = NULL;

        /* a URL with a password in it is refused: it would end up in logs */
        opts = PQconninfoParse(url, &why);
        if (!opts) {
                snprintf(err, errsize, "journal.url: not a libpq connection URI (%s)",
                         why ? why : "out of memory");
                PQfreemem(why);
                return -EINVAL;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
                        PQconninfoFree(opts);
                        snprintf(err, errsize,
                                 "journal.url: must not carry a password; it is given "
                                 "beside it");
                        return -EINVAL;
                }
        PQconninfoFree(opts);
        if (!password)
                keys[3] = NULL; /* libpq's own sources, or none */
        j->conn = PQconnectdbParams(keys, values, 1);
        if (!j->conn) {
                snprintf(err, errsize, "%s: out of memory", url);
                return -ENOMEM;
        }
        if (PQstatus(j->conn) != CONNECTION_OK) {
                /* libpq's text names the host and the role, never the password */
                snprintf(err, errsize, "%s: cannot connect: %s", url,
                         PQerrorMessage(j->conn));
                size_t len = strlen(err);
                while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
                        err[--len] = '\0';
                return -EIO;
        }
        PQsetNoticeProcessor(j->conn, notice_quiet, NULL);
        return 0;
}

/* The batches whose instance is gone become pending: those in flight
 * under a lease that ended (a live instance renews its own), and those
 * nobody holds (a journal before schema version 4). A restarted daemon is a
 * new instance: what it sent before its restart waits out the lease. */
static int recover(struct jpg *j)
{
        char q[200];

        snprintf(q, sizeof(q),
                 "UPDATE batches SET state = 1, claimed_by = NULL, lease_until = NULL"
                 " WHERE state = 2 AND (claimed_by IS NULL OR lease_until < %lld)",
                 (long long)clock_now_ms());
        return simple(j, q, "recover");
}

/* host:pid:random, so that an instance's rows name the machine and the
 * process, and a restarted process is another instance. */
static void instance_name(struct jpg *j)
{
        unsigned char raw[4] = {0};
        char host[64] = "";

        if (gethostname(host, sizeof(host) - 1))
                snprintf(host, sizeof(host), "host");
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
                raw[0] = (unsigned char)clock_now_ms();
        snprintf(j->instance, sizeof(j->instance), "%s:%ld:%02x%02x%02x%02x", host,
                 (long)getpid(), raw[0], raw[1], raw[2], raw[3]);
}

int jpg_open(const char *url, const struct journal_open_opts *o, unsigned flags,
             struct journal **out, char *err, size_t errsize)
{
        const char *password = o ? o->password : NULL;
        struct jpg *j;
        int rc;

        if (flags & JOURNAL_READONLY)
                flags |= JOURNAL_OPERATOR;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->be = &jpg_backend;
        j->flags = flags;
        j->lease_ms = o && o->lease_ms > 0 ? o->lease_ms : JOURNAL_LEASE_MS;
        instance_name(j);
        rc = connect_db(j, url, password, err, errsize);
        if (rc)
                goto out;
        if (flags & JOURNAL_READONLY)
                rc = simple(j, "SET default_transaction_read_only = on", "read-only");
        if (rc == 0 && !(flags & JOURNAL_OPERATOR))
                rc = schema_ensure(j);
        if (rc == 0)
                rc = load_id(j);
        if (rc == 0)
                rc = prepare_all(j);
        if (rc && (flags & JOURNAL_OPERATOR)) {
                snprintf(err, errsize,
                         "%s: not a bpjs-sync journal, or one the daemon has not "
                         "opened since an upgrade (%s)",
                         url, j->errmsg);
                rc = -EIO;
                goto out;
        }
        /* A batch in flight when its instance stopped is resent (same
         * body, same key) once its lease ended. */
        if (rc == 0 && (flags & JOURNAL_RECOVER))
                rc = recover(j);
        if (rc) {
                snprintf(err, errsize, "%s: %s", url, j->errmsg);
                goto out;
        }
        *out = (struct journal *)(void *)j;
        return 0;
out:
        jpg_backend.close((struct journal *)(void *)j);
        return rc;
}

static void jpg_close(struct journal *jj)
{
        struct jpg *j = jpg_of(jj);

        if (!j)
                return;
        if (j->conn) {
                jpg_rollback(j);
                jpg_publisher_release(j);
                PQfinish(j->conn);
        }
        free(j->qd);
        jpg_claims_free(j);
        free(j);
}

/* ---- the backend's table; the operator side is journal_pg_ctl*.c ---- */

static const struct journal_backend jpg_backend = {
    .name = "postgresql",
    .close = jpg_close,
    .id = jpg_id,
    .errmsg = jpg_errmsg,
    .write_health = jpg_write_health,
    .write_error = jpg_write_error,
    .partitions_claim = jpg_partitions_claim,
    .consume_begin = jpg_consume_begin,
    .batches_renew = jpg_batches_renew,
    .lease_ms = jpg_lease_ms,
    .consume_commit = jpg_consume_commit,
    .consume_abort = jpg_consume_abort,
    .programs_use = jpg_programs_use,
    .ops_unbatched = jpg_ops_unbatched,
    .batch_create = jpg_batch_create,
    .batches_due = jpg_batches_due,
    .batches_unfinished = jpg_batches_unfinished,
    .batch_ops = jpg_batch_ops,
    .batch_get = jpg_batch_get,
    .batch_update = jpg_batch_update,
    .batch_split = jpg_batch_split,
    .batch_finish = jpg_batch_finish,
    .ops_settle = jpg_ops_settle,
    .outbox_fetch = jpg_outbox_fetch,
    .outbox_delete_through = jpg_outbox_delete_through,
    .outbox_count = jpg_outbox_count,
    .counter_add = jpg_counter_add,
    .counter_get = jpg_counter_get,
    .batches_open = jpg_batches_open,
    .backlog = jpg_backlog,
    .prune = jpg_prune,
    .space = jpg_space,
    .disk_bytes = jpg_disk_bytes,
    .ctl_status = jpg_ctl_status,
    .ctl_batches = jpg_ctl_batches,
    .ctl_batch_show = jpg_ctl_batch_show,
    .ctl_worker = jpg_ctl_worker,
    .ctl_rejected = jpg_ctl_rejected,
    .ctl_audit_add = jpg_ctl_audit_add,
    .ctl_audit_list = jpg_ctl_audit_list,
    .ctl_replay = jpg_ctl_replay,
    .ctl_report = jpg_ctl_report,
};
