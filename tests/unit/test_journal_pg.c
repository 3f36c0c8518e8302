/* What only the PostgreSQL journal has: the connection and its password,
 * the schema's creation under a lock and its version, the upgrade of a
 * version 1 journal, operator and read-only opens, a connection made again,
 * and pruning on the coverages' history (the premium report's facts and
 * status are the interface suite's, run on both backends). Run by
 * tests/journal_iface_pg.py against a private server: BPJS_TEST_JOURNAL (a fresh
 * database's URL), BPJS_TEST_JOURNAL_PASSWORD, BPJS_TEST_JOURNAL_EMPTY (a database no
 * daemon opened). The first test must find its database fresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal.h"
#include "journal_tx.h"

#define Y25 (2025 * 12) /* January 2025 */

static const char *url, *password, *empty_url;

static struct journal *open_ok(const char *where, unsigned flags)
{
        struct journal_open_opts o = {.password = password};
        struct journal *j = NULL;
        char err[512];

        if (journal_open_with(where, &o, flags, &j, err, sizeof(err)))
                fail_msg("journal_open: %s", err);
        return j;
}

/* SQL beside the journal, on a connection of the test's own. */
static char *sql_one(const char *where, const char *q)
{
        const char *keys[] = {"dbname", "password", NULL};
        const char *values[] = {where, password, NULL};
        PGconn *c = PQconnectdbParams(keys, values, 1);
        char *out = NULL;

        if (PQstatus(c) != CONNECTION_OK)
                fail_msg("connect: %s", PQerrorMessage(c));
        PGresult *r = PQexec(c, q);
        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
                fail_msg("%s: %s", q, PQresultErrorMessage(r));
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
                out = strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
        return out;
}

#define OPENERS 6
static pthread_barrier_t barrier;

struct opener {
        struct journal *j;
        int rc;
        char err[512];
};

static void *open_at_once(void *arg)
{
        struct opener *o = arg;
        struct journal_open_opts opts = {.password = password};

        pthread_barrier_wait(&barrier);
        o->rc =
            journal_open_with(url, &opts, JOURNAL_RECOVER, &o->j, o->err, sizeof(o->err));
        return NULL;
}

/* Several daemons starting at once on a fresh database: one creates the
 * schema, the others wait for it, and all find the same journal. */
static void test_daemons_opening_a_fresh_journal_at_once(void **state)
{
        pthread_t t[OPENERS];
        struct opener o[OPENERS];
        (void)state;

        char *before = sql_one(url, "SELECT to_regclass('meta')::text");
        assert_string_equal(before, "(null)"); /* fresh, as the runner made it */
        free(before);
        memset(o, 0, sizeof(o));
        pthread_barrier_init(&barrier, NULL, OPENERS);
        for (int i = 0; i < OPENERS; i++)
                pthread_create(&t[i], NULL, open_at_once, &o[i]);
        for (int i = 0; i < OPENERS; i++)
                pthread_join(t[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < OPENERS; i++)
                if (o[i].rc)
                        fail_msg("opener %d: %d %s", i, o[i].rc, o[i].err);
        for (int i = 1; i < OPENERS; i++)
                assert_string_equal(journal_id(o[i].j), journal_id(o[0].j));
        for (int i = 0; i < OPENERS; i++)
                journal_close(o[i].j);
        char *v = sql_one(url, "SELECT value FROM meta WHERE key = 'schema_version'");
        assert_string_equal(v, "5");
        free(v);
        v = sql_one(url, "SELECT count(*)::text FROM meta WHERE key = 'journal_id'");
        assert_string_equal(v, "1");
        free(v);
}

static void test_a_url_with_a_password_is_refused_without_echoing_it(void **state)
{
        static const char *const urls[] = {
            "postgresql://bpjs:hunter2-pw@127.0.0.1:1/bpjs",
            "postgres://bpjs@127.0.0.1:1/bpjs?sslmode=require&password=hunter2-pw",
        };
        (void)state;

        for (size_t i = 0; i < 2; i++) {
                struct journal *j = NULL;
                char err[512] = "";
                int rc = journal_open(urls[i], JOURNAL_RECOVER, &j, err, sizeof(err));
                assert_int_equal(rc, -EINVAL);
                assert_null(j);
                assert_non_null(strstr(err, "must not carry a password"));
                assert_null(strstr(err, "hunter2"));
        }
}

static void test_a_wrong_password_is_said_without_it(void **state)
{
        struct journal_open_opts o = {.password = "wrong-password-4711-xyz"};
        struct journal *j = NULL;
        char err[512] = "";
        (void)state;

        assert_int_equal(
            journal_open_with(url, &o, JOURNAL_RECOVER, &j, err, sizeof(err)), -EIO);
        assert_null(j);
        assert_non_null(strstr(err, "password authentication failed"));
        assert_non_null(strstr(err, url)); /* which journal: the URL, no password in it */
        assert_null(strstr(err, "wrong-password-4711"));
        assert_null(strstr(err, password));
}

static void test_a_newer_schema_is_refused(void **state)
{
        struct journal_open_opts o = {.password = password};
        struct journal *j = NULL;
        char err[512] = "";
        (void)state;

        free(sql_one(url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'"));
        int rc = journal_open_with(url, &o, JOURNAL_RECOVER, &j, err, sizeof(err));
        free(sql_one(url, "UPDATE meta SET value = '5' WHERE key = 'schema_version'"));
        assert_int_equal(rc, -EIO);
        assert_null(j);
        assert_non_null(strstr(err, "the journal's schema is version 99, newer than this "
                                    "daemon's (5): upgrade the daemon"));
        journal_close(open_ok(url, JOURNAL_RECOVER));
}

static void test_an_operator_open_creates_nothing(void **state)
{
        struct journal_open_opts o = {.password = password};
        struct journal *j = NULL;
        char err[512] = "";
        (void)state;

        assert_int_equal(
            journal_open_with(empty_url, &o, JOURNAL_OPERATOR, &j, err, sizeof(err)),
            -EIO);
        assert_null(j);
        assert_non_null(strstr(err, "not a bpjs-sync journal"));
        char *t = sql_one(empty_url, "SELECT to_regclass('meta')::text");
        assert_string_equal(t, "(null)");
        free(t);
}

static void test_a_read_only_open_refuses_writes(void **state)
{
        struct journal *j = open_ok(url, JOURNAL_READONLY);
        struct journal_facts f = {0};
        int64_t v = -1;
        (void)state;

        assert_int_equal(journal_counter_get(j, "consumed", &v), 0);
        assert_true(v >= 0);
        assert_int_equal(journal_counter_add(j, "consumed", 1), -EROFS);
        assert_non_null(strstr(journal_errmsg(j), "opened read-only"));
        assert_int_equal(journal_consume_begin(j, &f), -EROFS);
        assert_int_equal(journal_batch_update(j, 1, JOURNAL_BATCH_PENDING, 0, 0, NULL),
                         -EROFS);
        assert_int_equal(journal_write_health(j), 0); /* its own choice, not a failure */
        journal_close(j);
}

/* A connection the server dropped costs the call that finds it (an error,
 * said), and the next call connects again. */
static void test_a_dropped_connection_is_made_again(void **state)
{
        struct journal *j = open_ok(url, JOURNAL_RECOVER);
        int64_t before = 0, after = 0;
        int rc;
        (void)state;

        assert_int_equal(journal_counter_add(j, "pg-test", 1), 0);
        assert_int_equal(journal_counter_get(j, "pg-test", &before), 0);
        free(sql_one(url, "SELECT count(pg_terminate_backend(pid))::text FROM"
                          " pg_stat_activity WHERE application_name = 'bpjs-sync'"));
        rc = journal_counter_add(j, "pg-test", 1);
        if (rc) {
                assert_true(journal_errmsg(j)[0] != '\0');
                rc = journal_counter_add(j, "pg-test", 1);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(journal_counter_get(j, "pg-test", &after), 0);
        assert_int_equal(after, before + 1);
        assert_int_equal(journal_write_health(j), 0);
        journal_close(j);
}

/* A database of the test's own on the same server, and its URL. */
static const char *fresh_database(const char *name)
{
        static char out[4][256];
        static int next;
        char q[128];
        char *where = out[next++ % 4];
        const char *slash = strrchr(url, '/');

        snprintf(q, sizeof(q), "CREATE DATABASE %s", name);
        free(sql_one(url, q));
        snprintf(where, 256, "%.*s/%s", (int)(slash - url), url, name);
        return where;
}

/* Undoes versions 5 and 4 of the schema (journal_pg.c's upgrade_v5 and
 * upgrade_v4). */
#define UNDO_V5_V4                                                                       \
        "DROP TABLE publisher;"                                                          \
        "DROP TABLE owners; DROP FUNCTION bpjs_over_limit; DROP FUNCTION bpjs_fenced;"   \
        "ALTER TABLE batches DROP COLUMN claimed_by, DROP COLUMN lease_until;"
/* Undoes versions 5, 4 and 3 (upgrade_v3): what is left is version 2. */
static const char back_to_v2[] =
    UNDO_V5_V4 "DROP INDEX events_nik; DROP INDEX ops_nik;"
               "UPDATE meta SET value = '2' WHERE key = 'schema_version';";

/* Undoes versions 5, 4, 3 and 2 of the schema (upgrade_v5 to upgrade_v2):
 * what is left is version 1 as schema_v1 made it. */
static const char back_to_v1[] = UNDO_V5_V4
    "DROP INDEX events_nik; DROP INDEX ops_nik;"
    "DROP VIEW coverage_now; DROP TABLE coverages;"
    "ALTER TABLE quota DROP COLUMN months;"
    "CREATE TABLE coverage(nik text NOT NULL, program text NOT NULL,"
    "  state integer NOT NULL, start_month bigint NOT NULL, end_month bigint NOT NULL,"
    "  reg_seq bigint NOT NULL, event_id text, updated_at bigint NOT NULL,"
    "  PRIMARY KEY(nik, program));"
    "CREATE VIEW coverage_now AS SELECT c.nik, c.program,"
    "  CASE WHEN c.state = 1 AND EXISTS (SELECT 1 FROM ops r WHERE r.seq = c.reg_seq"
    "   AND r.status IN (5, 6)) THEN 2 ELSE c.state END AS state,"
    "  c.start_month, c.end_month, c.reg_seq, c.event_id, c.updated_at FROM coverage c;"
    "UPDATE meta SET value = '1' WHERE key = 'schema_version';";

/* What a version 1 journal held, one worker a row: BPP's period is
 * 2025-01..12, KALTIM's 2025-04..2026-03. */
#define NIK_A "6471054506900011"
#define NIK_B "6471054506900012"
#define NIK_C "6471054506900013"
#define NIK_D "6471054506900014"
static const char v1_rows[] =
    "INSERT INTO ops(seq, kind, nik, program, event_id, item, status)"
    " OVERRIDING SYSTEM VALUE VALUES"
    "  (101, 1, '6471054506900011', 'BPP', 'e101', '\\x7b7d', NULL),"
    "  (102, 1, '6471054506900012', 'BPP', 'e102', '\\x7b7d', 5),"
    "  (103, 1, '6471054506900013', 'BPP', 'e103', '\\x7b7d', 5),"
    "  (104, 1, '6471054506900014', 'BPP', 'e104', '\\x7b7d', 7),"
    "  (105, 1, '6471054506900011', 'KALTIM', 'e105', '\\x7b7d', NULL);"
    "SELECT setval(pg_get_serial_sequence('ops', 'seq'), 200);"
    /* pending, active (registered), ended, failed; A also in KALTIM */
    "INSERT INTO coverage(nik, program, state, start_month, end_month, reg_seq,"
    " event_id, updated_at) VALUES"
    "  ('6471054506900011', 'BPP', 1, 24300, 24311, 101, 'e101', 1000),"
    "  ('6471054506900012', 'BPP', 1, 24300, 24311, 102, 'e102', 1000),"
    "  ('6471054506900013', 'BPP', 3, 24300, 24311, 103, 'e103', 1000),"
    "  ('6471054506900014', 'BPP', 4, 24300, 24311, 104, 'e104', 1000),"
    "  ('6471054506900011', 'KALTIM', 1, 24303, 24314, 105, 'e105', 1000);"
    "INSERT INTO quota(program, used) VALUES ('BPP', 2), ('KALTIM', 1);";
_Static_assert(Y25 == 24300, "v1_rows names January 2025 by number");

static void use_of(struct journal *j, const char *program, int64_t *used, int64_t *months)
{
        struct journal_program_use u = {.program = program, .used = -1, .months = -1};
        assert_int_equal(journal_programs_use(j, &u, 1), 0);
        *used = u.used;
        *months = u.months;
}

static void expect_coverage(const struct decide_coverage *c, const char *program,
                            int64_t first, int64_t last, bool live)
{
        assert_string_equal(c->program, program);
        assert_int_equal(c->first_month, first);
        assert_int_equal(c->last_month, last);
        assert_int_equal(c->live, live);
}

static void record(struct journal *j, const char *event_id, const char *nik,
                   const char *program, int64_t start, int64_t first, int64_t last,
                   enum decide_action action)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = program,
            .type = action == DECIDE_DEACTIVATE ? 2 : 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .at_ms = 1000,
            .action = action,
            .start_month = start,
            .end_month = start + 11,
            .first_month = first,
            .last_month = last,
            .item = "{}",
            .item_len = 2,
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        if (jt_commit(j))
                fail_msg("commit: %s", journal_errmsg(j));
}

/* A journal of schema version 1 (one coverage row a worker and programme,
 * no months) opened by this daemon: each row becomes a coverage whose
 * months are its period, quota.months their sum but the failed one's, and
 * the daemon decides on the history from then on. */
static void test_a_version_1_journal_is_upgraded(void **state)
{
        const char *v1 = fresh_database("bpjs_v1");
        struct decide_worker w = {0};
        int64_t used, months;
        (void)state;

        journal_close(open_ok(v1, JOURNAL_RECOVER));
        free(sql_one(v1, back_to_v1));
        free(sql_one(v1, v1_rows));

        struct journal *j = open_ok(v1, JOURNAL_RECOVER);
        char *t =
            sql_one(v1, "SELECT value || ' ' || coalesce(to_regclass('coverage')::text,"
                        " 'gone') FROM meta WHERE key = 'schema_version'");
        assert_string_equal(t, "5 gone");
        free(t);
        t = sql_one(v1,
                    "SELECT string_agg(format('%s/%s/%s:%s-%s', reg_seq, program, state,"
                    " first_month - 24300, last_month - 24300), ' ' ORDER BY reg_seq)"
                    " FROM coverages");
        assert_string_equal(t, "101/BPP/1:0-11 102/BPP/1:0-11 103/BPP/3:0-11 "
                               "104/BPP/4:0-11 105/KALTIM/1:3-14");
        free(t);
        use_of(j, "BPP", &used, &months);
        assert_int_equal(used, 2);
        assert_int_equal(months, 36); /* pending, active, ended: not the failed one */
        use_of(j, "KALTIM", &used, &months);
        assert_int_equal(used, 1);
        assert_int_equal(months, 12);

        /* the facts decide reads: live ones and the ended one (its months
         * kept), in decision order; never the failed one */
        assert_int_equal(jt_worker(j, NIK_A, &w), 0);
        assert_int_equal(w.n, 2);
        expect_coverage(&w.cov[0], "BPP", Y25, Y25 + 11, true);
        expect_coverage(&w.cov[1], "KALTIM", Y25 + 3, Y25 + 14, true);
        assert_int_equal(jt_worker(j, NIK_C, &w), 0);
        assert_int_equal(w.n, 1);
        expect_coverage(&w.cov[0], "BPP", Y25, Y25 + 11, false);
        assert_int_equal(jt_worker(j, NIK_D, &w), 0);
        assert_int_equal(w.n, 0);

        /* the failed worker registered again beside its failed coverage (a
         * history now), the active one withdrawn in March: 9 months back */
        record(j, "e201", NIK_D, "BPP", Y25, Y25 + 4, Y25 + 11, DECIDE_REGISTER);
        record(j, "e202", NIK_B, "BPP", Y25, 0, Y25 + 2, DECIDE_DEACTIVATE);
        use_of(j, "BPP", &used, &months);
        assert_int_equal(used, 2);
        assert_int_equal(months, 36 + 8 - 9);
        assert_int_equal(jt_worker(j, NIK_B, &w), 0);
        assert_int_equal(w.n, 1);
        expect_coverage(&w.cov[0], "BPP", Y25, Y25 + 2, false);
        t = sql_one(v1, "SELECT count(*)::text FROM coverages WHERE nik = '" NIK_D "'");
        assert_string_equal(t, "2");
        free(t);
        journal_close(j);

        /* opened again: nothing upgraded twice */
        j = open_ok(v1, JOURNAL_RECOVER);
        use_of(j, "BPP", &used, &months);
        assert_int_equal(months, 35);
        journal_close(j);
        decide_worker_release(&w);
}

/* A journal of schema version 2 (no index on the NIK) opened by this
 * daemon: version 3's indexes (and version 4's tables) are made, and a worker's events
 * and operations are found through them, not by reading either table whole. */
static void test_a_version_2_journal_is_upgraded(void **state)
{
        const char *v2 = fresh_database("bpjs_v2");
        char *t;
        (void)state;

        journal_close(open_ok(v2, JOURNAL_RECOVER));
        free(sql_one(v2, back_to_v2));
        t = sql_one(v2, "SELECT count(*)::text FROM pg_indexes"
                        " WHERE indexname IN ('events_nik', 'ops_nik')");
        assert_string_equal(t, "0");
        free(t);

        journal_close(open_ok(v2, JOURNAL_RECOVER));
        t = sql_one(v2, "SELECT value FROM meta WHERE key = 'schema_version'");
        assert_string_equal(t, "5");
        free(t);
        t = sql_one(v2, "SELECT count(*)::text || ' ' || count(holder)::text"
                        " FROM publisher");
        assert_string_equal(t, "1 0"); /* one row, nobody publishing */
        free(t);
        t = sql_one(v2, "SELECT string_agg(indexdef, '; ' ORDER BY indexname)"
                        " FROM pg_indexes WHERE indexname IN ('events_nik', 'ops_nik')");
        assert_string_equal(t,
                            "CREATE INDEX events_nik ON public.events USING btree (nik); "
                            "CREATE INDEX ops_nik ON public.ops USING btree (nik, seq)");
        free(t);
        /* the plans of bpjs-syncctl worker's reads, sequential scans off */
        t = sql_one(v2,
                    "SET enable_seqscan = off; EXPLAIN (FORMAT JSON) SELECT * FROM events"
                    " WHERE nik = '6471054506900011'");
        assert_non_null(strstr(t, "events_nik"));
        free(t);
        t = sql_one(v2,
                    "SET enable_seqscan = off; EXPLAIN (FORMAT JSON) SELECT * FROM ops"
                    " WHERE nik = '6471054506900011' ORDER BY seq");
        assert_non_null(strstr(t, "ops_nik"));
        free(t);
        /* opened again: nothing upgraded twice */
        journal_close(open_ok(v2, JOURNAL_RECOVER));
}

/* ---- registrations answered, for the tests below ---- */

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        (void)ops, (void)n, (void)opaque;
        *body = malloc(32);
        *len = (size_t)snprintf(*body, 32, "{\"batch_id\":\"%lld\"}", (long long)id);
        return 0;
}

struct pick {
        const char *nik;
        struct journal_op op;
        bool found;
};

static int pick_registration(const struct journal_op *op, void *opaque)
{
        struct pick *p = opaque;
        if (!p->found && op->kind == JOURNAL_OP_REGISTER &&
            strcmp(op->nik, p->nik) == 0) {
                p->op = *op;
                p->op.nik = p->op.program = p->op.event_id = NULL;
                p->op.item = NULL;
                p->op.reg_kpj = NULL;
                p->found = true;
        }
        return 0;
}

/* The endpoint answers nik's registration with status, in a batch of its own. */
static void answer(struct journal *j, const char *nik, enum result_status status)
{
        struct pick p = {.nik = nik};
        struct journal_item_result res;
        bool failed = status == RESULT_FAILED;
        int64_t id;

        assert_true(journal_ops_unbatched(j, 0, 64, pick_registration, &p) >= 0);
        assert_true(p.found);
        assert_int_equal(
            journal_batch_create(j, JOURNAL_OP_REGISTER, &p.op, 1, compose, NULL, &id),
            0);
        res = (struct journal_item_result){
            .seq = p.op.seq,
            .status = status,
            .kpj = failed ? NULL : "25000000001",
            .reason = failed ? "NIK not found" : NULL,
            .out = {.topic = "results", .value = "x", .value_len = 1},
        };
        assert_int_equal(journal_batch_finish(
                             j, id, failed ? JOURNAL_BATCH_FAILED : JOURNAL_BATCH_DONE,
                             failed ? "NIK not found" : NULL, &res, 1),
                         0);
}

/* ---- pruning on the history ---- */

static void register_with_item(struct journal *j, const char *event_id, const char *nik)
{
        char item[160];
        int len = snprintf(item, sizeof(item),
                           "{\"nik\":\"%s\",\"program\":\"BPP\",\"period\":{\"start\":"
                           "\"2025-01\",\"end\":\"2025-12\"},\"extra\":\"x\"}",
                           nik);
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .at_ms = 1000,
            .action = DECIDE_REGISTER,
            .start_month = Y25,
            .end_month = Y25 + 11,
            .first_month = Y25,
            .last_month = Y25 + 11,
            .item = item,
            .item_len = (size_t)len,
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        if (jt_commit(j))
                fail_msg("commit: %s", journal_errmsg(j));
}

/* A final registration's item keeps only the NIK, the programme and the
 * period once its batch's body goes; a failed one keeps it all while a
 * replay could send it again: while its coverage is failed and no later
 * coverage of the worker and programme exists. */
static void test_pruning_follows_the_history(void **state)
{
        static const char *const nik[] = {"6471054506900021", "6471054506900022",
                                          "6471054506900023"};
        const char *where = fresh_database("bpjs_prune");
        int64_t pruned[2] = {0, 0};
        struct journal *j;
        (void)state;

        j = open_ok(where, JOURNAL_RECOVER);
        register_with_item(j, "p0", nik[0]);
        register_with_item(j, "p1", nik[1]);
        register_with_item(j, "p2", nik[2]);
        answer(j, nik[0], RESULT_FAILED);
        answer(j, nik[1], RESULT_FAILED);
        answer(j, nik[2], RESULT_REGISTERED);
        register_with_item(j, "p3", nik[1]); /* the second: a later coverage */
        assert_true(journal_prune(j, 4102444800000, 0, 10, 10, pruned) >= 0);
        assert_int_equal(pruned[0], 3);
        char *t = sql_one(where, "SELECT string_agg(right(nik, 1) || ':' ||"
                                 " coalesce(status::text, '-') || ':' ||"
                                 " (convert_from(item, 'UTF8')::jsonb ? 'extra')::text"
                                 " || ':' || (convert_from(item, 'UTF8')::jsonb"
                                 " -> 'period' ->> 'end'), ' ' ORDER BY seq)"
                                 " FROM ops WHERE kind = 1");
        assert_string_equal(t, "1:7:true:2025-12 2:7:false:2025-12 3:5:false:2025-12 "
                               "2:-:true:2025-12");
        free(t);
        journal_close(j);
}

/* ---- several instances on one journal: two handles, interleaved ---- */

/* One instance's consumed batch in the making: begin has read the facts
 * of one worker and one programme (whose limits it was told), and one
 * message at (topic "events", partition, offset). */
struct batch {
        const char *nik;
        struct journal_worker_facts w;
        struct journal_program_use u;
        struct journal_position pos;
        struct journal_facts f;
};

static int batch_begin(struct journal *j, struct batch *b, const char *nik,
                       const struct journal_program_use *limits, int32_t partition)
{
        decide_worker_release(&b->w.live);
        b->nik = nik;
        b->w = (struct journal_worker_facts){.nik = nik};
        b->u = *limits;
        b->pos = (struct journal_position){"events", partition, -1};
        b->f = (struct journal_facts){.positions = &b->pos,
                                      .n_positions = 1,
                                      .workers = &b->w,
                                      .n_workers = 1,
                                      .programs = &b->u,
                                      .n_programs = 1};
        return journal_consume_begin(j, &b->f);
}

/* Commits the batch's one message as a registration of `months` months
 * from January 2025 (decided on the facts begin read). */
static int batch_register(struct journal *j, struct batch *b, const char *event_id,
                          int64_t offset, int64_t months)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = b->nik,
            .program = b->u.program,
            .type = 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .partition = b->pos.partition,
            .offset = offset,
            .at_ms = 1000,
            .action = DECIDE_REGISTER,
            .start_month = Y25,
            .end_month = Y25 + 11,
            .first_month = Y25,
            .last_month = Y25 + months - 1,
            .item = "{}",
            .item_len = 2,
        };
        struct journal_position next = {"events", b->pos.partition, offset + 1};
        struct journal_outcome o = {&r, 1, &next, 1, 1};
        int rc = journal_consume_commit(j, &o);

        decide_worker_release(&b->w.live);
        b->w.live = (struct decide_worker){0};
        return rc;
}

static char *one_text(const char *where, const char *q)
{
        char *t = sql_one(where, q);
        assert_non_null(t);
        return t;
}

#define NIK_Q1 "6471054506900031"
#define NIK_Q2 "6471054506900032"

/* Two instances decide two workers for the last slot of a programme at
 * once: each read one slot free. The second commit finds the slot taken
 * by the first and is refused (-EAGAIN, nothing of it written, not a
 * write failure); decided again, the programme is full. */
static void test_two_instances_never_take_a_programme_over_its_quota(void **state)
{
        const char *where = fresh_database("bpjs_quota2");
        const struct journal_program_use lim = {
            .program = "BPP", .quota = 1, .monthly_premium = 10, .budget = -1};
        struct batch a = {0}, b = {0};
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        assert_int_equal(batch_begin(ja, &a, NIK_Q1, &lim, 0), 0);
        assert_int_equal(batch_begin(jb, &b, NIK_Q2, &lim, 1), 0);
        assert_int_equal(a.u.used, 0);
        assert_int_equal(b.u.used, 0); /* both saw the slot free */
        assert_int_equal(batch_register(ja, &a, "qa", 0, 12), 0);
        assert_int_equal(batch_register(jb, &b, "qb", 0, 12), -EAGAIN);
        assert_non_null(strstr(journal_errmsg(jb), "BPP would go over its quota"));
        assert_int_equal(journal_write_health(jb), 0);
        char *t = one_text(where, "SELECT (SELECT used || '/' || months FROM quota"
                                  " WHERE program = 'BPP') || ' ' || (SELECT"
                                  " string_agg(event_id, ',' ORDER BY event_id)"
                                  " FROM events) || ' ' || (SELECT count(*) FROM"
                                  " coverages) || ' ' || (SELECT count(*) FROM offsets)");
        assert_string_equal(t, "1/12 qa 1 1");
        free(t);
        /* decided again from a fresh begin: the programme is full */
        assert_int_equal(batch_begin(jb, &b, NIK_Q2, &lim, 1), 0);
        assert_int_equal(b.u.used, 1);
        journal_consume_abort(jb);
        decide_worker_release(&a.w.live);
        decide_worker_release(&b.w.live);
        journal_close(ja);
        journal_close(jb);
}

/* Likewise the budget: 120 at 10 a month is 12 months; each instance read
 * none committed and decided 12; the second commit would make 24. */
static void test_two_instances_never_take_a_programme_over_its_budget(void **state)
{
        const char *where = fresh_database("bpjs_budget2");
        const struct journal_program_use lim = {
            .program = "BPP", .quota = 100, .monthly_premium = 10, .budget = 120};
        struct batch a = {0}, b = {0};
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        assert_int_equal(batch_begin(ja, &a, NIK_Q1, &lim, 0), 0);
        assert_int_equal(batch_begin(jb, &b, NIK_Q2, &lim, 1), 0);
        assert_int_equal(b.u.months, 0);
        assert_int_equal(batch_register(ja, &a, "ba", 0, 12), 0);
        assert_int_equal(batch_register(jb, &b, "bb", 0, 12), -EAGAIN);
        assert_non_null(strstr(journal_errmsg(jb), "BPP would go over its budget"));
        assert_int_equal(journal_write_health(jb), 0);
        char *t = one_text(where, "SELECT (SELECT used || '/' || months FROM quota"
                                  " WHERE program = 'BPP') || ' ' || (SELECT"
                                  " string_agg(event_id, ',') FROM events)");
        assert_string_equal(t, "1/12 ba");
        free(t);
        /* what fits is still taken: 0 more months is within the budget */
        assert_int_equal(batch_begin(jb, &b, NIK_Q2, &lim, 1), 0);
        assert_int_equal(b.u.months, 12);
        assert_int_equal(batch_register(jb, &b, "bb", 0, 0), 0);
        decide_worker_release(&a.w.live);
        decide_worker_release(&b.w.live);
        journal_close(ja);
        journal_close(jb);
}

/* An instance whose partition the group gave to another (which claimed
 * it) can no longer commit for it, even for a batch it began before the
 * claim: -ESTALE, nothing written, not a write failure. The new owner
 * commits; the old one, should it be given the partition again and claim
 * it, commits again. */
static void test_an_instance_that_lost_its_partition_cannot_commit_for_it(void **state)
{
        const char *where = fresh_database("bpjs_fence");
        const struct journal_program_use lim = {.program = "BPP", .budget = -1};
        const struct journal_position p0 = {"events", 0, -1};
        struct batch a = {0}, b = {0};
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        assert_int_equal(journal_partitions_claim(ja, &p0, 1), 0);
        assert_int_equal(batch_begin(ja, &a, NIK_Q1, &lim, 0), 0);
        /* the group moves partition 0 to B while A is stalled mid-batch */
        assert_int_equal(journal_partitions_claim(jb, &p0, 1), 0);
        assert_int_equal(batch_register(ja, &a, "fa", 0, 12), -ESTALE);
        assert_non_null(strstr(journal_errmsg(ja), "events[0] is claimed by another "
                                                   "instance"));
        assert_int_equal(journal_write_health(ja), 0);
        /* and a batch begun after the claim, too */
        assert_int_equal(batch_begin(ja, &a, NIK_Q1, &lim, 0), 0);
        assert_int_equal(batch_register(ja, &a, "fa", 0, 12), -ESTALE);
        char *t = one_text(where, "SELECT (SELECT count(*) FROM events) || ' ' ||"
                                  " (SELECT count(*) FROM offsets) || ' ' ||"
                                  " (SELECT count(*) FROM ops)");
        assert_string_equal(t, "0 0 0");
        free(t);
        /* the new owner decides the message */
        assert_int_equal(batch_begin(jb, &b, NIK_Q1, &lim, 0), 0);
        assert_int_equal(batch_register(jb, &b, "fa", 0, 12), 0);
        /* a handle that holds nothing after a revocation commits nothing */
        assert_int_equal(journal_partitions_claim(jb, NULL, 0), 0);
        assert_int_equal(batch_begin(jb, &b, NIK_Q2, &lim, 0), 0);
        assert_int_equal(batch_register(jb, &b, "fb", 1, 12), -ESTALE);
        /* given back to A and claimed: A commits again */
        assert_int_equal(journal_partitions_claim(ja, &p0, 1), 0);
        assert_int_equal(batch_begin(ja, &a, NIK_Q2, &lim, 0), 0);
        assert_int_equal(a.pos.next, 1);
        assert_int_equal(batch_register(ja, &a, "fb", 1, 12), 0);
        t = one_text(where, "SELECT (SELECT string_agg(event_id, ',' ORDER BY event_id)"
                            " FROM events) || ' ' || (SELECT next_offset FROM offsets)"
                            " || ' ' || (SELECT epoch FROM owners)");
        assert_string_equal(t, "fa,fb 2 3");
        free(t);
        decide_worker_release(&a.w.live);
        decide_worker_release(&b.w.live);
        journal_close(ja);
        journal_close(jb);
}

/* ---- the push side across instances ---- */

struct pick_kind {
        const char *nik;
        int kind;
        int64_t seq;
};

static int pick_op(const struct journal_op *op, void *opaque)
{
        struct pick_kind *p = opaque;
        if (!p->seq && op->kind == p->kind && strcmp(op->nik, p->nik) == 0)
                p->seq = op->seq;
        return 0;
}

/* The unbatched op of nik of that kind, or 0. */
static int64_t unbatched(struct journal *j, const char *nik, int kind)
{
        struct pick_kind p = {nik, kind, 0};
        assert_true(journal_ops_unbatched(j, 0, 64, pick_op, &p) >= 0);
        return p.seq;
}

static int form(struct journal *j, int kind, int64_t seq, int64_t *id)
{
        struct journal_op op = {.seq = seq, .kind = kind};
        return journal_batch_create(j, kind, &op, 1, compose, NULL, id);
}

static int count_batch(const struct journal_batch *b, void *opaque)
{
        (void)b, (void)opaque;
        return 0;
}

/* Batches due for j now (in flight under an ended lease too). */
static int due_count(struct journal *j)
{
        return journal_batches_due(j, ((int64_t)time(NULL) + 2) * 1000, 16, count_batch,
                                   NULL);
}

static void item_ok(struct journal_item_result *r, int64_t seq)
{
        *r = (struct journal_item_result){
            .seq = seq,
            .status = RESULT_REGISTERED,
            .kpj = "25000000001",
            .out = {.topic = "results", .value = "x", .value_len = 1},
        };
}

#define NIK_P1 "6471054506900041"

/* A due batch goes to one instance: the second claim is refused. When the
 * claimer dies (its lease ends unrenewed), another takes it over, the same
 * body under the same key; the dead one's late answer is refused, the new
 * holder's recorded. */
static void
test_a_batch_is_sent_by_one_instance_and_taken_over_after_its_lease(void **state)
{
        const char *where = fresh_database("bpjs_lease");
        struct journal_item_result res;
        int64_t id = 0;
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        record(ja, "l1", NIK_P1, "BPP", Y25, Y25, Y25 + 11, DECIDE_REGISTER);
        int64_t seq = unbatched(ja, NIK_P1, JOURNAL_OP_REGISTER);
        assert_int_equal(form(ja, JOURNAL_OP_REGISTER, seq, &id), 0);
        assert_int_equal(due_count(ja), 1);
        assert_int_equal(due_count(jb), 1);
        assert_int_equal(journal_batch_update(ja, id, JOURNAL_BATCH_INFLIGHT, 1, 0, NULL),
                         0);
        assert_int_equal(journal_batch_update(jb, id, JOURNAL_BATCH_INFLIGHT, 1, 0, NULL),
                         -ESTALE);
        assert_int_equal(due_count(jb), 0); /* held under a lease */
        assert_int_equal(journal_batches_renew(ja), 0);
        /* a third instance starting now leaves a live instance's batch alone */
        struct journal *jc = open_ok(where, JOURNAL_RECOVER);
        journal_close(jc);
        char *t = one_text(where, "SELECT state || ' ' || (lease_until > 0)::text"
                                  " FROM batches");
        assert_string_equal(t, "2 true");
        free(t);
        /* A dies: its lease runs out */
        free(sql_one(where, "UPDATE batches SET lease_until = 1"));
        assert_int_equal(due_count(jb), 1);
        assert_int_equal(journal_batch_update(jb, id, JOURNAL_BATCH_INFLIGHT, 2, 0, NULL),
                         0);
        item_ok(&res, seq);
        assert_int_equal(journal_batch_finish(ja, id, JOURNAL_BATCH_DONE, NULL, &res, 1),
                         -ESTALE);
        assert_int_equal(journal_write_health(ja), 0);
        assert_int_equal(journal_batch_finish(jb, id, JOURNAL_BATCH_DONE, NULL, &res, 1),
                         0);
        t = one_text(where, "SELECT b.state || ' ' || b.attempts || ' ' ||"
                            " convert_from(b.body, 'UTF8') || ' ' || o.status ||"
                            " ' ' || (SELECT count(*) FROM outbox)"
                            " FROM batches b JOIN ops o ON o.batch_id = b.id");
        char want[128];
        snprintf(want, sizeof(want), "3 2 {\"batch_id\":\"%lld\"} 5 1", (long long)id);
        assert_string_equal(t, want);
        free(t);
        journal_close(ja);
        journal_close(jb);
}

/* A restarted daemon is a new instance: at its open, a batch in flight
 * whose lease ended becomes pending; one under a live lease stays. */
static void test_recovery_at_open_takes_only_batches_whose_lease_ended(void **state)
{
        const char *where = fresh_database("bpjs_recover");
        int64_t id[2] = {0, 0};
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        record(ja, "r1", NIK_Q1, "BPP", Y25, Y25, Y25 + 11, DECIDE_REGISTER);
        record(ja, "r2", NIK_Q2, "BPP", Y25, Y25, Y25 + 11, DECIDE_REGISTER);
        for (int i = 0; i < 2; i++) {
                int64_t seq = unbatched(ja, i ? NIK_Q2 : NIK_Q1, JOURNAL_OP_REGISTER);
                assert_int_equal(form(ja, JOURNAL_OP_REGISTER, seq, &id[i]), 0);
                assert_int_equal(
                    journal_batch_update(ja, id[i], JOURNAL_BATCH_INFLIGHT, 1, 0, NULL),
                    0);
        }
        char q[128];
        snprintf(q, sizeof(q), "UPDATE batches SET lease_until = 1 WHERE id = %lld",
                 (long long)id[0]);
        free(sql_one(where, q));
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        char *t = one_text(where, "SELECT string_agg(state::text || ':' ||"
                                  " coalesce(claimed_by, '-'), ' ' ORDER BY id)"
                                  " FROM batches");
        assert_non_null(strstr(t, "1:- 2:"));
        free(t);
        journal_close(ja);
        journal_close(jb);
}

/* An op is batched once, and a worker's ops reach the endpoint one at a
 * time in decision order, whichever instance forms the batches: while the
 * registration is in a batch not answered yet, the withdrawal that follows
 * is not batched by another instance; once answered, it is. */
static void
test_a_workers_ops_are_batched_once_and_in_order_across_instances(void **state)
{
        const char *where = fresh_database("bpjs_order");
        struct journal_item_result res;
        int64_t id = 0, id2 = 0;
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        record(ja, "o1", NIK_P1, "BPP", Y25, Y25, Y25 + 11, DECIDE_REGISTER);
        int64_t reg = unbatched(jb, NIK_P1, JOURNAL_OP_REGISTER);
        assert_int_equal(form(ja, JOURNAL_OP_REGISTER, reg, &id), 0);
        /* B read the same op before A batched it */
        assert_int_equal(form(jb, JOURNAL_OP_REGISTER, reg, &id2), -EALREADY);
        record(ja, "o2", NIK_P1, "BPP", Y25, Y25, Y25 + 5, DECIDE_DEACTIVATE);
        int64_t dea = unbatched(jb, NIK_P1, JOURNAL_OP_DEACTIVATE);
        assert_true(dea > reg);
        assert_int_equal(form(jb, JOURNAL_OP_DEACTIVATE, dea, &id2), -EAGAIN);
        assert_non_null(strstr(journal_errmsg(jb), "not answered yet"));
        assert_int_equal(journal_write_health(jb), 0);
        char *t = one_text(where, "SELECT count(*) FROM batches");
        assert_string_equal(t, "1");
        free(t);
        item_ok(&res, reg);
        assert_int_equal(journal_batch_update(ja, id, JOURNAL_BATCH_INFLIGHT, 1, 0, NULL),
                         0);
        assert_int_equal(journal_batch_finish(ja, id, JOURNAL_BATCH_DONE, NULL, &res, 1),
                         0);
        assert_int_equal(form(jb, JOURNAL_OP_DEACTIVATE, dea, &id2), 0);
        journal_close(ja);
        journal_close(jb);
}

/* ---- the outbox across instances ---- */

struct committer {
        struct journal *j;
        int rc;
        volatile int done;
};

static void *commit_one_result(void *arg)
{
        struct committer *c = arg;
        struct journal_record r = {
            .event_id = "x2",
            .nik = "",
            .status = RESULT_REJECTED,
            .topic = "events",
            .at_ms = 1000,
            .out = {{.topic = "results", .value = "second", .value_len = 6}},
            .n_out = 1,
        };
        struct journal_facts f = {0};
        c->rc = journal_consume_begin(c->j, &f);
        if (c->rc == 0) {
                struct journal_outcome o = {&r, 1, NULL, 0, 1};
                c->rc = journal_consume_commit(c->j, &o);
        }
        c->done = 1;
        return NULL;
}

static int collect_value(int64_t pos, const struct journal_out *o, void *opaque)
{
        char *acc = opaque;
        (void)pos;
        snprintf(acc + strlen(acc), 64 - strlen(acc), "%s%.*s", *acc ? "," : "",
                 (int)o->value_len, (const char *)o->value);
        return 0;
}

/* Two instances writing results at once: the outbox's positions follow the
 * commits. An instance whose outbox row took its position first but has
 * not committed holds the next writer back until it commits, so a
 * publisher that read past a position never misses a row below it. */
static void test_outbox_positions_follow_the_commits_of_two_instances(void **state)
{
        const char *where = fresh_database("bpjs_outbox2");
        const char *keys[] = {"dbname", "password", NULL};
        const char *values[] = {where, password, NULL};
        struct committer c = {0};
        pthread_t t;
        char got[64] = "";
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        c.j = open_ok(where, JOURNAL_RECOVER);
        /* A, mid-commit: its outbox row written, not committed yet, as the
         * backend writes one (the lock, then the row) */
        PGconn *a = PQconnectdbParams(keys, values, 1);
        assert_int_equal(PQstatus(a), CONNECTION_OK);
        PGresult *r = PQexec(a, "BEGIN; SELECT pg_advisory_xact_lock(1651534451, 2);"
                                " INSERT INTO outbox(topic, value) VALUES ('results',"
                                " 'first')");
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        pthread_create(&t, NULL, commit_one_result, &c);
        usleep(700 * 1000);
        /* B waits for A: what a publisher reads now is no row at all */
        assert_int_equal(c.done, 0);
        assert_int_equal(journal_outbox_fetch(ja, 0, 16, collect_value, got), 0);
        r = PQexec(a, "COMMIT");
        PQclear(r);
        pthread_join(t, NULL);
        assert_int_equal(c.rc, 0);
        assert_int_equal(journal_outbox_fetch(ja, 0, 16, collect_value, got), 2);
        assert_string_equal(got, "first,second");
        PQfinish(a);
        journal_close(c.j);
        journal_close(ja);
}

/* Two instances, one outbox: the first to fetch holds the publisher's
 * lease and gets the messages; the other gets none while it holds it,
 * even with the lease asked for again; closing gives the lease up, and the
 * other takes it over at its next ask (a second later) and gets what the
 * first did not delete. A lease that ended (its holder died) is taken over
 * likewise. */
static void test_one_instance_publishes_at_a_time(void **state)
{
        const char *where = fresh_database("bpjs_publisher");
        struct committer c = {0};
        char got[64] = "";
        (void)state;

        struct journal *ja = open_ok(where, JOURNAL_RECOVER);
        struct journal *jb = open_ok(where, JOURNAL_RECOVER);
        c.j = jb;
        commit_one_result(&c);
        assert_int_equal(c.rc, 0);
        assert_int_equal(journal_outbox_fetch(ja, 0, 16, collect_value, got), 1);
        assert_string_equal(got, "second");
        *got = 0;
        assert_int_equal(journal_outbox_fetch(jb, 0, 16, collect_value, got), 0);
        usleep(1100 * 1000); /* b asks again: a still holds it */
        assert_int_equal(journal_outbox_fetch(jb, 0, 16, collect_value, got), 0);
        char *holder = sql_one(where, "SELECT count(*)::text FROM publisher"
                                      " WHERE holder IS NOT NULL");
        assert_string_equal(holder, "1");
        free(holder);

        journal_close(ja); /* gives the lease up, nothing deleted */
        usleep(1100 * 1000);
        assert_int_equal(journal_outbox_fetch(jb, 0, 16, collect_value, got), 1);
        assert_string_equal(got, "second");

        /* b "dies" holding it: its lease ended, a new instance takes over */
        free(sql_one(where, "UPDATE publisher SET lease_until = 1"));
        struct journal *jc = open_ok(where, JOURNAL_RECOVER);
        *got = 0;
        assert_int_equal(journal_outbox_fetch(jc, 0, 16, collect_value, got), 1);
        assert_string_equal(got, "second");
        journal_close(jc);
        journal_close(jb);
}

/* ---- a dead database ---- */

/* The server stops taking this journal's connections: every call fails at
 * once with -ENOTCONN ("journal unreachable", no password), the write
 * health says so, and once the server is back the connection is made
 * again (after a short backoff) and the journal works, nothing lost. */
static void test_an_unreachable_server_is_said_and_the_journal_comes_back(void **state)
{
        const char *where = fresh_database("bpjs_dead");
        char q[160];
        int64_t v = 0;
        int rc = 0;
        (void)state;

        struct journal *j = open_ok(where, JOURNAL_RECOVER);
        assert_int_equal(journal_counter_add(j, "dead-test", 1), 0);
        free(sql_one(url, "ALTER DATABASE bpjs_dead ALLOW_CONNECTIONS false"));
        free(sql_one(url, "SELECT count(pg_terminate_backend(pid))::text FROM"
                          " pg_stat_activity WHERE datname = 'bpjs_dead'"));
        /* the first call may find the connection gone, the next cannot
         * make it again */
        for (int i = 0; i < 3 && rc != -ENOTCONN; i++)
                rc = journal_counter_add(j, "dead-test", 1);
        assert_int_equal(rc, -ENOTCONN);
        assert_int_equal(journal_counter_add(j, "dead-test", 1), -ENOTCONN);
        assert_int_equal(journal_write_health(j), -ENOTCONN);
        assert_non_null(strstr(journal_errmsg(j), "journal unreachable"));
        assert_null(strstr(journal_errmsg(j), password));
        struct journal_facts f = {0};
        assert_int_equal(journal_consume_begin(j, &f), -ENOTCONN);
        free(sql_one(url, "ALTER DATABASE bpjs_dead ALLOW_CONNECTIONS true"));
        for (int i = 0; i < 100; i++) {
                rc = journal_counter_add(j, "dead-test", 1);
                if (rc == 0)
                        break;
                usleep(100 * 1000);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(journal_write_health(j), 0);
        assert_int_equal(journal_counter_get(j, "dead-test", &v), 0);
        assert_int_equal(v, 2); /* the failed adds added nothing */
        snprintf(q, sizeof(q),
                 "SELECT value::text FROM counters WHERE name ="
                 " 'dead-test'");
        char *t = one_text(where, q);
        assert_string_equal(t, "2");
        free(t);
        journal_close(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_daemons_opening_a_fresh_journal_at_once),
            cmocka_unit_test(test_a_url_with_a_password_is_refused_without_echoing_it),
            cmocka_unit_test(test_a_wrong_password_is_said_without_it),
            cmocka_unit_test(test_a_newer_schema_is_refused),
            cmocka_unit_test(test_an_operator_open_creates_nothing),
            cmocka_unit_test(test_a_read_only_open_refuses_writes),
            cmocka_unit_test(test_a_dropped_connection_is_made_again),
            cmocka_unit_test(test_a_version_1_journal_is_upgraded),
            cmocka_unit_test(test_a_version_2_journal_is_upgraded),
            cmocka_unit_test(test_pruning_follows_the_history),
            cmocka_unit_test(test_two_instances_never_take_a_programme_over_its_quota),
            cmocka_unit_test(test_two_instances_never_take_a_programme_over_its_budget),
            cmocka_unit_test(
                test_an_instance_that_lost_its_partition_cannot_commit_for_it),
            cmocka_unit_test(
                test_a_batch_is_sent_by_one_instance_and_taken_over_after_its_lease),
            cmocka_unit_test(test_recovery_at_open_takes_only_batches_whose_lease_ended),
            cmocka_unit_test(
                test_a_workers_ops_are_batched_once_and_in_order_across_instances),
            cmocka_unit_test(test_outbox_positions_follow_the_commits_of_two_instances),
            cmocka_unit_test(test_one_instance_publishes_at_a_time),
            cmocka_unit_test(
                test_an_unreachable_server_is_said_and_the_journal_comes_back),
        };

        url = getenv("BPJS_TEST_JOURNAL");
        password = getenv("BPJS_TEST_JOURNAL_PASSWORD");
        empty_url = getenv("BPJS_TEST_JOURNAL_EMPTY");
        if (!url || !password || !empty_url) {
                fprintf(stderr,
                        "test_journal_pg: run it with tests/journal_iface_pg.py\n");
                return 1;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
