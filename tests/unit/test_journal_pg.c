/* What only the PostgreSQL journal has: the connection and its password,
 * the schema's creation under a lock and its version, operator and
 * read-only opens, a connection made again. Run by tests/journal_iface_pg.py
 * against a private server: BPJS_TEST_JOURNAL (a fresh database's URL),
 * BPJS_TEST_JOURNAL_PASSWORD, BPJS_TEST_JOURNAL_EMPTY (a database no daemon
 * opened). The first test must find its database fresh. */
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
#include <cmocka.h>

#include "journal.h"

static const char *url, *password, *empty_url;

static struct journal *open_ok(const char *where, unsigned flags)
{
        struct journal_open_opts o = {password};
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
        struct journal_open_opts opts = {password};

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
        assert_string_equal(v, "1");
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
        struct journal_open_opts o = {"wrong-password-4711-xyz"};
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
        struct journal_open_opts o = {password};
        struct journal *j = NULL;
        char err[512] = "";
        (void)state;

        free(sql_one(url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'"));
        int rc = journal_open_with(url, &o, JOURNAL_RECOVER, &j, err, sizeof(err));
        free(sql_one(url, "UPDATE meta SET value = '1' WHERE key = 'schema_version'"));
        assert_int_equal(rc, -EIO);
        assert_null(j);
        assert_non_null(strstr(err, "the journal's schema is version 99, newer than this "
                                    "daemon's (1): upgrade the daemon"));
        journal_close(open_ok(url, JOURNAL_RECOVER));
}

static void test_an_operator_open_creates_nothing(void **state)
{
        struct journal_open_opts o = {password};
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
