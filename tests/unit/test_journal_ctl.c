/* The operator's journal (journal_ctl_*): the replay rules, one row a rule
 * (two workers' registrations fail together in one batch, something
 * happens meanwhile, and the replay must resend the same body, rebuild a
 * batch of what still qualifies, or do nothing, with the exact reason),
 * and what every other verb answers.
 *
 * On either backend: BPJS_TEST_JOURNAL (a PostgreSQL URL, with
 * BPJS_TEST_JOURNAL_PASSWORD its password; tests/journal_iface_pg.py starts
 * a private server) if set, else a SQLite file in /tmp. Each test begins
 * on an empty journal: a new file, or the database's schema dropped and
 * made again. What only a SQLite file has (its files) is skipped on
 * PostgreSQL, saying so. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>

#include "clock.h"
#include "journal.h"
#include "journal_tx.h"

#define NIK1 "6471054506900002"
#define NIK2 "6471051203850001"
#define Y25  (2025 * 12) /* January 2025 */
#define Y24  (2024 * 12)

static char path[512];
static const char *pg_url, *pg_password; /* set: the PostgreSQL backend */

/* Skips a test about what only a SQLite file has. */
#define SQLITE_ONLY()                                                                    \
        do {                                                                             \
                if (pg_url) {                                                            \
                        fprintf(stderr, "[ skipped  ] %s: about the SQLite file only\n", \
                                __func__);                                               \
                        skip();                                                          \
                }                                                                        \
        } while (0)

/* ---- building a journal as the daemon would ---- */

static struct journal *open_as(unsigned flags)
{
        /* unit.journal_ctl_merging: a SQLite coverage log merged often */
        const char *merge = getenv("BPJS_TEST_JOURNAL_MERGE_ROWS");
        struct journal_open_opts o = {.password = pg_password,
                                      .merge_rows = merge ? atoll(merge) : 0};
        char err[512];
        struct journal *j = NULL;
        if (journal_open_with(path, &o, flags, &j, err, sizeof(err)))
                fail_msg("%s", err);
        return j;
}

static struct journal *open_journal(void)
{
        return open_as(JOURNAL_RECOVER);
}

static int64_t next_offset;

static void record(struct journal *j, const char *event_id, const char *nik,
                   const char *program, int64_t start, enum decide_action action)
{
        int64_t offset = next_offset++;
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = program,
            .type = action == DECIDE_DEACTIVATE ? 2 : 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .offset = offset,
            .at_ms = 1000,
            .action = action,
            .start_month = start,
            .end_month = start + 11,
            /* the period; a withdrawal in its last month keeps them all */
            .first_month = start,
            .last_month = start + 11,
            .item = "{\"nik\":\"x\"}",
            .item_len = 11,
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_commit(j), 0);
}

struct ops {
        struct journal_op op[8];
        size_t n;
};

static int take_op(const struct journal_op *op, void *opaque)
{
        struct ops *o = opaque;
        o->op[o->n] = *op;
        o->op[o->n].nik = o->op[o->n].program = o->op[o->n].event_id = NULL;
        o->op[o->n].item = NULL;
        o->op[o->n].reg_kpj = NULL;
        o->n++;
        return 0;
}

/* A body shaped like push_form.c's, so that its items can be counted. */
static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        size_t used;

        (void)opaque;
        *body = malloc(64 + 16 * n);
        used =
            (size_t)sprintf(*body, "{\"batch_id\":\"%lld\",\"%s\":[", (long long)id,
                            n && ops[0].kind == JOURNAL_OP_DEACTIVATE ? "deactivations"
                                                                      : "registrations");
        for (size_t i = 0; i < n; i++)
                used += (size_t)sprintf(*body + used, "%s{\"s\":%lld}", i ? "," : "",
                                        (long long)ops[i].seq);
        used += (size_t)sprintf(*body + used, "]}");
        *len = used;
        return 0;
}

/* Batches every unbatched op of kind into one batch, and answers each of
 * its items with status: registered (a kpj each, the batch done) or failed
 * (the batch failed, as a 400 leaves it). */
static int64_t batch_and_answer(struct journal *j, int kind, enum result_status status)
{
        struct ops ops = {0}, pick = {0};
        struct journal_item_result res[8];
        char kpj[8][12];
        bool failed = status == RESULT_FAILED;
        int64_t id;

        assert_true(journal_ops_unbatched(j, 0, 8, take_op, &ops) >= 0);
        for (size_t i = 0; i < ops.n; i++)
                if (ops.op[i].kind == kind)
                        pick.op[pick.n++] = ops.op[i];
        assert_int_equal(
            journal_batch_create(j, kind, pick.op, pick.n, compose, NULL, &id), 0);
        for (size_t i = 0; i < pick.n; i++) {
                snprintf(kpj[i], sizeof(kpj[i]), "250000000%02zu", i + 1);
                res[i] = (struct journal_item_result){
                    .seq = pick.op[i].seq,
                    .status = status,
                    .kpj = failed ? NULL : kpj[i],
                    .reason = failed ? "endpoint answered HTTP 400" : NULL,
                    .out = {.topic = "results", .value = "x", .value_len = 1},
                };
        }
        assert_int_equal(journal_batch_finish(
                             j, id, failed ? JOURNAL_BATCH_FAILED : JOURNAL_BATCH_DONE,
                             failed ? "endpoint answered HTTP 400" : NULL, res, pick.n),
                         0);
        return id;
}

static int64_t batch_and_fail(struct journal *j, int kind)
{
        return batch_and_answer(j, kind, RESULT_FAILED);
}

/* ---- what happens between the failure and the replay ---- */

static void nothing(struct journal *j)
{
        (void)j;
}

static void worker1_covered_by_province(struct journal *j)
{
        record(j, "k1", NIK1, "KALTIM", Y25, DECIDE_REGISTER);
}

static void worker1_covered_in_2024(struct journal *j)
{
        record(j, "s1", NIK1, "SORONG", Y24, DECIDE_REGISTER);
}

static void worker1_enrolled_again(struct journal *j)
{
        record(j, "b9", NIK1, "BPP", Y25, DECIDE_REGISTER);
}

static void slot_taken(struct journal *j)
{
        record(j, "b3", "6471051203850003", "BPP", Y25, DECIDE_REGISTER);
}

struct item_want {
        bool ok;
        const char *why;
};

static const struct rule {
        const char *name;
        void (*meanwhile)(struct journal *j);
        int64_t bpp_quota; /* 0: BPP not configured */
        int action;
        struct item_want items[2];
        int64_t bpp_used_after;
} rules[] = {
    {"every item qualifies: the same body under the same key",
     nothing,
     10,
     JOURNAL_CTL_REPLAY_RESEND,
     {{true, ""}, {true, ""}},
     2},
    {"a live coverage over an overlapping period: covered by it",
     worker1_covered_by_province,
     10,
     JOURNAL_CTL_REPLAY_REBUILD,
     {{false, "covered by KALTIM"}, {true, ""}},
     1},
    {"a coverage over a period that does not overlap is no obstacle",
     worker1_covered_in_2024,
     10,
     JOURNAL_CTL_REPLAY_RESEND,
     {{true, ""}, {true, ""}},
     2},
    {"a later registration in the programme replaced the coverage",
     worker1_enrolled_again,
     10,
     JOURNAL_CTL_REPLAY_REBUILD,
     {{false, "a later registration for this programme replaced it"}, {true, ""}},
     2},
    {"slots are taken in order until the quota is full",
     slot_taken,
     2,
     JOURNAL_CTL_REPLAY_REBUILD,
     {{true, ""}, {false, "quota full (2/2)"}},
     2},
    {"a programme no longer configured: nothing to replay",
     nothing,
     0,
     JOURNAL_CTL_REPLAY_NONE,
     {{false, "programme not in the configuration"},
      {false, "programme not in the configuration"}},
     0},
};

struct seen {
        int state;
        int64_t attempts, items;
        char body[256];
        char last_error[128];
};

static int see_batch(const struct journal_ctl_batch *b, void *opaque)
{
        struct seen *s = opaque;
        s->state = b->b.state;
        s->attempts = b->b.attempts;
        snprintf(s->body, sizeof(s->body), "%.*s", (int)b->b.body_len, b->b.body);
        snprintf(s->last_error, sizeof(s->last_error), "%s",
                 b->b.last_error ? b->b.last_error : "");
        return 0;
}

static int count_item(const struct journal_ctl_item *it, void *opaque)
{
        (void)it;
        ((struct seen *)opaque)->items++;
        return 0;
}

static struct seen batch(struct journal *c, int64_t id)
{
        struct seen s = {0};
        int n = journal_ctl_batch_show(c, id, see_batch, count_item, &s);
        assert_int_equal(n, s.items);
        return s;
}

static int64_t bpp_used;

static int see_quota(const char *program, int64_t used, int64_t months, void *opaque)
{
        (void)opaque;
        (void)months;
        if (strcmp(program, "BPP") == 0)
                bpp_used = used;
        return 0;
}

/* bpjs-syncctl's open: the operator's, read-only unless it writes. */
static struct journal *open_ctl(bool write)
{
        return open_as(JOURNAL_OPERATOR | (write ? 0 : JOURNAL_READONLY));
}

/* SQL beside the journal (PostgreSQL), on a connection of the test's own. */
static void pg_sql(const char *q)
{
        const char *keys[] = {"dbname", "password", NULL};
        const char *values[] = {pg_url, pg_password, NULL};
        PGconn *c = PQconnectdbParams(keys, values, 1);
        PGresult *r;

        if (PQstatus(c) != CONNECTION_OK)
                fail_msg("connect: %s", PQerrorMessage(c));
        r = PQexec(c, q);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
                fail_msg("%s: %s", q, PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
}

static void fresh(void)
{
        int fd;

        next_offset = 0;
        if (pg_url) {
                /* an empty database: the next daemon's open makes the journal */
                snprintf(path, sizeof(path), "%s", pg_url);
                pg_sql("SET client_min_messages = warning;"
                       " DROP SCHEMA public CASCADE; CREATE SCHEMA public");
                return;
        }
        snprintf(path, sizeof(path), "/tmp/test_journal_ctl.XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        unlink(path);
}

static void cleanup(void)
{
        char more[600];
        if (pg_url)
                return; /* the next fresh() empties the database */
        unlink(path);
        snprintf(more, sizeof(more), "%s-wal", path);
        unlink(more);
        snprintf(more, sizeof(more), "%s-shm", path);
        unlink(more);
}

/* A programme's slots for replay, without a budget. */
#define Q(id, n)                                                                         \
        {                                                                                \
                .program = (id), .quota = (n), .monthly_premium = 16800, .budget = -1    \
        }

static void test_rules(void **state)
{
        (void)state;
        for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
                const struct rule *rule = &rules[r];
                struct journal_ctl_quota quotas[] = {Q("BPP", rule->bpp_quota),
                                                     Q("KALTIM", 10), Q("SORONG", 10)};
                struct journal_ctl_replay_opts opts = {
                    .who = "tester",
                    .quotas = rule->bpp_quota ? quotas : quotas + 1,
                    .n_quotas = rule->bpp_quota ? 3 : 2,
                    .compose = compose,
                };
                struct journal_ctl_replay plan, res;
                struct journal_ctl_status st;
                struct seen before, after;
                struct journal *j;
                struct journal *c;
                int64_t id;

                fprintf(stderr, "[ rule     ] %s\n", rule->name);
                fresh();
                j = open_journal();
                record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
                record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);
                id = batch_and_fail(j, JOURNAL_OP_REGISTER);
                rule->meanwhile(j);
                c = open_ctl(true);
                before = batch(c, id);
                assert_int_equal(before.state, JOURNAL_BATCH_FAILED);

                /* a dry run decides the same and changes nothing */
                opts.dry_run = true;
                assert_int_equal(journal_ctl_replay(c, id, &opts, &plan), 0);
                after = batch(c, id);
                assert_memory_equal(&before, &after, sizeof(before));
                for (size_t i = 0; i < opts.n_quotas; i++)
                        opts.quotas[i].reserved = 0;

                opts.dry_run = false;
                assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
                assert_int_equal(res.action, rule->action);
                assert_int_equal(plan.action, res.action);
                assert_int_equal(res.n, 2);
                for (size_t i = 0; i < 2; i++) {
                        assert_int_equal(res.items[i].ok, rule->items[i].ok);
                        assert_string_equal(res.items[i].why, rule->items[i].why);
                        assert_int_equal(plan.items[i].ok, res.items[i].ok);
                }
                after = batch(c, id);
                switch (rule->action) {
                case JOURNAL_CTL_REPLAY_RESEND:
                        assert_int_equal(after.state, JOURNAL_BATCH_PENDING);
                        assert_int_equal(after.attempts, 0);
                        assert_string_equal(after.body, before.body);
                        assert_string_equal(after.last_error, "replayed by tester");
                        break;
                case JOURNAL_CTL_REPLAY_REBUILD: {
                        struct seen nb = batch(c, res.new_id);
                        assert_true(res.new_id > id);
                        assert_int_equal(nb.state, JOURNAL_BATCH_PENDING);
                        assert_int_equal(nb.items, 1);
                        assert_int_equal(after.state, JOURNAL_BATCH_FAILED);
                        assert_int_equal(after.items, 1);
                        assert_string_equal(after.body, before.body);
                        break;
                }
                default:
                        assert_int_equal(after.state, JOURNAL_BATCH_FAILED);
                        assert_int_equal(after.items, 2);
                }
                bpp_used = -1;
                assert_int_equal(journal_ctl_status(c, see_quota, NULL, &st), 0);
                assert_int_equal(bpp_used, rule->bpp_used_after);

                /* replaying again: the batch is no longer failed, or nothing
                 * left in it qualifies */
                journal_ctl_replay_free(&res);
                assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
                assert_true(res.action == JOURNAL_CTL_REPLAY_SKIP ||
                            res.action == JOURNAL_CTL_REPLAY_NONE);
                journal_ctl_replay_free(&res);
                journal_ctl_replay_free(&plan);
                journal_close(c);
                journal_close(j);
                cleanup();
        }
}

/* What was left behind goes later, once it qualifies, in a new batch: the
 * old body still holds the items moved out, so it is never resent. */
static void test_left_behind_later(void **state)
{
        struct journal_ctl_quota quotas[] = {Q("BPP", 1)};
        struct journal_ctl_replay_opts opts = {
            .who = "tester", .quotas = quotas, .n_quotas = 1, .compose = compose};
        struct journal_ctl_replay res;
        struct journal *j;
        struct journal *c;
        int64_t id, first;
        (void)state;

        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);
        id = batch_and_fail(j, JOURNAL_OP_REGISTER);
        c = open_ctl(true);
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_REBUILD);
        first = res.new_id;
        journal_ctl_replay_free(&res);

        opts.quotas[0].quota = 2;
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_REBUILD);
        assert_true(res.new_id > first);
        assert_int_equal(res.n, 1);
        assert_int_equal(batch(c, id).state, JOURNAL_BATCH_DONE); /* emptied */
        assert_int_equal(batch(c, id).items, 0);
        journal_ctl_replay_free(&res);

        /* an unknown batch; a batch that is not failed */
        assert_int_equal(journal_ctl_replay(c, 999, &opts, &res), -ENOENT);
        assert_int_equal(journal_ctl_replay(c, first, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_SKIP);
        assert_string_equal(res.why, "the batch is pending, not failed");
        journal_ctl_replay_free(&res);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* A withdrawal of BPP's coverage of nik in month `last` (before its first:
 * it keeps no month). */
static void withdraw_in(struct journal *j, const char *event_id, const char *nik,
                        int64_t last)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 2,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .offset = next_offset++,
            .at_ms = 1000,
            .action = DECIDE_DEACTIVATE,
            .last_month = last,
            .item = "{\"nik\":\"x\"}",
            .item_len = 11,
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_commit(j), 0);
}

/* BPP's slots and committed months. */
static struct journal_program_use bpp_use(struct journal *j)
{
        struct journal_program_use u = {.program = "BPP", .used = -1, .months = -1};
        assert_int_equal(journal_programs_use(j, &u, 1), 0);
        return u;
}

/* Replay keeps the budget: a failed registration's months went back to the
 * programme, another worker took them, and the replay is refused while the
 * budget has no room for them; once a withdrawal freed them, the same body
 * goes again under the same key and its months are committed once more. */
static void test_replay_keeps_the_budget(void **state)
{
        struct journal_ctl_quota quotas[] = {Q("BPP", 10)};
        struct journal_ctl_replay_opts opts = {
            .who = "tester", .quotas = quotas, .n_quotas = 1, .compose = compose};
        struct journal_ctl_replay res;
        struct journal *j, *c;
        int64_t id;
        (void)state;

        quotas[0].budget = 12 * 16800; /* one worker's year */
        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        assert_int_equal(bpp_use(j).months, 12);
        id = batch_and_fail(j, JOURNAL_OP_REGISTER);
        assert_int_equal(bpp_use(j).months, 0);
        record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);
        assert_int_equal(bpp_use(j).months, 12);

        c = open_ctl(true);
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_NONE);
        assert_int_equal(res.n_ok, 0);
        assert_string_equal(res.items[0].why, "budget exceeded (Rp201600 committed, "
                                              "Rp201600 more, budget Rp201600)");
        journal_ctl_replay_free(&res);
        assert_int_equal(bpp_use(j).months, 12);

        /* the other worker withdrawn before the coverage starts: no month */
        withdraw_in(j, "w2", NIK2, Y25 - 1);
        assert_int_equal(bpp_use(j).months, 0);
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_RESEND);
        journal_ctl_replay_free(&res);
        assert_int_equal(bpp_use(j).months, 12);
        assert_int_equal(bpp_use(j).used, 1);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* A deactivation is not sent after a later operation of the same worker:
 * it would end that newer registration at the endpoint. */
static void test_deactivation_after_later_op(void **state)
{
        struct journal_ctl_quota quotas[] = {Q("BPP", 10)};
        struct journal_ctl_replay_opts opts = {
            .who = "tester", .quotas = quotas, .n_quotas = 1, .compose = compose};
        struct journal_ctl_replay res;
        struct journal *j;
        struct journal *c;
        int64_t id;
        (void)state;

        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);
        /* registered first: one worker's operations go one at a time */
        batch_and_answer(j, JOURNAL_OP_REGISTER, RESULT_REGISTERED);
        record(j, "w1", NIK1, "BPP", Y25, DECIDE_DEACTIVATE);
        record(j, "w2", NIK2, "BPP", Y25, DECIDE_DEACTIVATE);
        id = batch_and_fail(j, JOURNAL_OP_DEACTIVATE);
        record(j, "b3", NIK2, "BPP", Y25, DECIDE_REGISTER);
        c = open_ctl(true);
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_REBUILD);
        assert_true(res.items[0].ok);
        assert_false(res.items[1].ok);
        assert_string_equal(res.items[1].why, "the worker has a later operation (seq 5)");
        journal_ctl_replay_free(&res);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* The operator's open never makes a journal: no file, -ENOENT with the
 * reason, and still no file afterwards (nor its -wal or -shm). */
static void test_operator_open_creates_nothing(void **state)
{
        static const unsigned modes[] = {
            JOURNAL_OPERATOR, JOURNAL_OPERATOR | JOURNAL_READONLY, JOURNAL_READONLY};
        struct journal *c = NULL;
        char err[256], more[600];
        (void)state;

        SQLITE_ONLY();
        for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
                fresh();
                err[0] = '\0';
                assert_int_equal(journal_open(path, modes[i], &c, err, sizeof(err)),
                                 -ENOENT);
                assert_null(c);
                assert_non_null(strstr(err, path));
                assert_non_null(strstr(err, "No such file or directory"));
                assert_int_equal(access(path, F_OK), -1);
                snprintf(more, sizeof(more), "%s-wal", path);
                assert_int_equal(access(more, F_OK), -1);
                snprintf(more, sizeof(more), "%s-shm", path);
                assert_int_equal(access(more, F_OK), -1);
        }
}

/* A file that is not a journal is not made one: the operator is told, and
 * the file is left as it was (no schema written into it). */
static void test_operator_open_changes_nothing(void **state)
{
        struct journal *c = NULL;
        char err[512];
        struct stat before, after;
        FILE *f;
        (void)state;

        SQLITE_ONLY();
        fresh();
        f = fopen(path, "w");
        assert_non_null(f);
        fclose(f); /* empty: SQLite would take it for a new database */
        assert_int_equal(stat(path, &before), 0);
        assert_int_equal(journal_open(path, JOURNAL_OPERATOR, &c, err, sizeof(err)),
                         -EIO);
        assert_null(c);
        assert_non_null(strstr(err, "not a bpjs-sync journal"));
        assert_int_equal(stat(path, &after), 0);
        assert_int_equal(after.st_size, before.st_size);
        cleanup();
}

/* A read-only open refuses every write before it starts, and says so. */
static void test_readonly_refuses_writes(void **state)
{
        struct journal *j, *c;
        int64_t n = -1;
        (void)state;

        fresh();
        j = open_journal();
        c = open_ctl(false);
        assert_int_equal(journal_ctl_audit_add(c, "tester", "x", "y"), -EROFS);
        assert_string_equal(journal_errmsg(c),
                            "begin: the journal was opened read-only: no change is made");
        /* a write outside a transaction too, and the journal stays healthy */
        assert_int_equal(journal_counter_add(c, "consumed", 1), -EROFS);
        /* SQLite names the write refused, PostgreSQL its begin */
        assert_string_equal(
            journal_errmsg(c),
            pg_url ? "begin: the journal was opened read-only: no change is made"
                   : "counter: the journal was opened read-only: no change is made");
        assert_int_equal(journal_write_health(c), 0);
        struct journal_facts none = {0};
        assert_int_equal(journal_consume_begin(c, &none), -EROFS);
        /* and nothing reached the journal */
        assert_int_equal(journal_counter_get(j, "consumed", &n), 0);
        assert_int_equal(n, 0);
        journal_close(c);
        journal_close(j);
        cleanup();
}

static void test_names(void **state)
{
        struct journal *j;
        struct journal *c;
        char name[JOURNAL_CTL_NAME_SIZE], other[JOURNAL_CTL_NAME_SIZE];
        int64_t id = 0;
        (void)state;

        fresh();
        j = open_journal();
        c = open_ctl(false);
        assert_string_equal(journal_id(c), journal_id(j));
        journal_ctl_batch_name(c, 12, name);
        assert_int_equal(strlen(name), 23);
        assert_int_equal(journal_ctl_batch_parse(c, name, &id), 0);
        assert_int_equal(id, 12);
        assert_int_equal(journal_ctl_batch_parse(c, "12", &id), 0);
        snprintf(other, sizeof(other), "b-%s-000000000012",
                 strcmp(journal_id(j), "00000000") ? "00000000" : "11111111");
        assert_int_equal(journal_ctl_batch_parse(c, other, &id), -EXDEV);
        assert_int_equal(journal_ctl_batch_parse(c, "b-12", &id), -EINVAL);
        assert_int_equal(journal_ctl_batch_parse(c, "0", &id), -EINVAL);
        assert_int_equal(journal_ctl_batch_parse(c, "12x", &id), -EINVAL);
        /* read-only: the operator's writes are refused */
        assert_int_equal(journal_ctl_audit_add(c, "tester", "x", "y"), -EROFS);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* ---- replay after pruning (issue 11) ---- */

#define FULL_ITEM(nik)                                                                   \
        "{\"nik\":\"" nik "\",\"name\":\"Siti Aminah\",\"birth_date\":\"1990-06-05\","   \
        "\"sex\":\"F\",\"program\":\"BPP\",\"period\":{\"start\":\"2025-01\","           \
        "\"end\":\"2025-12\"},\"phone\":\"+6281234567890\"}"

static char composed[1024];

/* As compose, and notes the items it was given. */
static int compose_noting(int64_t id, const struct journal_op *ops, size_t n,
                          void *opaque, char **body, size_t *len)
{
        size_t used = 0;

        composed[0] = '\0';
        for (size_t i = 0; i < n; i++)
                used +=
                    (size_t)snprintf(composed + used, sizeof(composed) - used, "%s%.*s",
                                     i ? "|" : "", (int)ops[i].item_len, ops[i].item);
        return compose(id, ops, n, opaque, body, len);
}

static void record_full(struct journal *j, const char *event_id, const char *nik,
                        const char *item)
{
        static int64_t next_full = 1000;
        int64_t offset = next_full++;
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .offset = offset,
            .at_ms = 1000,
            .action = DECIDE_REGISTER,
            .start_month = Y25,
            .end_month = Y25 + 11,
            .item = item,
            .item_len = strlen(item),
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_commit(j), 0);
}

static void json_equal(const char *got, const char *want)
{
        cJSON *a = cJSON_Parse(got), *b = cJSON_Parse(want);
        bool same = a && b && cJSON_Compare(a, b, true);

        cJSON_Delete(a);
        cJSON_Delete(b);
        if (!same)
                fail_msg("%s is not the JSON %s", got, want);
}

static int item_of(const struct journal_op *op, void *opaque)
{
        snprintf(opaque, 512, "%.*s", (int)op->item_len, op->item);
        return 0;
}

/* Past the idempotency window the body is gone and the items of what cannot
 * be replayed are cut; a replay still rebuilds what it may send again from
 * the whole item, exactly as the portal sent it. */
static void test_replay_after_pruning(void **state)
{
        struct journal_ctl_quota quotas[] = {Q("BPP", 10)};
        struct journal_ctl_replay_opts opts = {
            .who = "tester", .quotas = quotas, .n_quotas = 1, .compose = compose_noting};
        struct journal_ctl_replay res;
        struct journal *c;
        struct journal *j;
        int64_t id, pruned[2];
        char item[512];
        (void)state;

        fresh();
        j = open_journal();
        record_full(j, "f1", NIK1, FULL_ITEM(NIK1));
        record_full(j, "f2", NIK2, FULL_ITEM(NIK2));
        id = batch_and_fail(j, JOURNAL_OP_REGISTER);
        worker1_enrolled_again(j); /* f1 can no longer be replayed */
        assert_int_equal(journal_prune(j, clock_now_ms() + 60000, 0, 10, 10, pruned), 0);
        assert_int_equal(pruned[0], 1);
        journal_close(j);

        c = open_ctl(true);
        assert_int_equal(journal_ctl_replay(c, id, &opts, &res), 0);
        assert_int_equal(res.action, JOURNAL_CTL_REPLAY_REBUILD);
        assert_int_equal(res.n, 2);
        assert_false(res.items[0].ok);
        assert_string_equal(res.items[0].why,
                            "a later registration for this programme replaced it");
        assert_true(res.items[1].ok);
        assert_string_equal(composed, FULL_ITEM(NIK2));
        journal_ctl_replay_free(&res);
        journal_close(c);

        j = open_journal();
        assert_int_equal(journal_batch_ops(j, id, item_of, item), 1);
        /* the same JSON (each backend writes it in its own spacing) */
        json_equal(item, "{\"nik\":\"" NIK1 "\",\"program\":\"BPP\","
                         "\"period\":{\"start\":\"2025-01\",\"end\":\"2025-12\"}}");
        journal_close(j);
        cleanup();
}

/* ---- the other verbs: what each answers, on either backend ---- */

#define NIK3 "6471051203850003"

/* A rejected event of nik, decided at `at`. */
static void reject(struct journal *j, const char *event_id, const char *nik,
                   const char *reason, int64_t at)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 1,
            .status = RESULT_REJECTED,
            .reason = reason,
            .topic = "events",
            .partition = 2,
            .offset = next_offset++,
            .at_ms = at,
            .action = DECIDE_NOTHING,
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_commit(j), 0);
}

/* A listing's rows, as text a test can compare. */
struct rows {
        char row[8][200];
        size_t n;
};

static int list_batch(const struct journal_ctl_batch *b, void *opaque)
{
        struct rows *r = opaque;
        snprintf(r->row[r->n++], sizeof(r->row[0]), "%lld k%d %s items=%lld [%s] body=%s",
                 (long long)b->b.id, b->b.kind, journal_batch_state_name(b->b.state),
                 (long long)b->items, b->programs, b->b.body ? "yes" : "none");
        return 0;
}

static struct rows batches_where(struct journal *c, int state, const char *program,
                                 int64_t since)
{
        struct journal_ctl_filter f = {state, program, since};
        struct rows r = {0};
        int n = journal_ctl_batches(c, &f, list_batch, &r);
        assert_int_equal(n, (int)r.n);
        return r;
}

/* Registrations of NIK1 (BPP) and NIK2 (KALTIM) fail in one batch; NIK3's
 * (SORONG) waits in another. */
static void two_batches(struct journal *j, int64_t *failed, int64_t *pending)
{
        struct ops ops = {0};

        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        record(j, "k2", NIK2, "KALTIM", Y25, DECIDE_REGISTER);
        *failed = batch_and_fail(j, JOURNAL_OP_REGISTER);
        record(j, "s3", NIK3, "SORONG", Y25, DECIDE_REGISTER);
        assert_int_equal(journal_ops_unbatched(j, 0, 8, take_op, &ops), 1);
        assert_int_equal(journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 1, compose,
                                              NULL, pending),
                         0);
}

/* Batches, oldest first, with their items and programmes; each filter
 * alone (state, a programme one of its items has, a change since). */
static void test_batches_and_their_filters(void **state)
{
        struct journal *j, *c;
        int64_t failed, pending;
        char want[2][200];
        struct rows r;
        (void)state;

        fresh();
        j = open_journal();
        two_batches(j, &failed, &pending);
        c = open_ctl(false);
        snprintf(want[0], sizeof(want[0]),
                 "%lld k1 failed items=2 [BPP,KALTIM] body=none", (long long)failed);
        snprintf(want[1], sizeof(want[1]), "%lld k1 pending items=1 [SORONG] body=none",
                 (long long)pending);

        r = batches_where(c, 0, NULL, 0);
        assert_int_equal(r.n, 2);
        assert_string_equal(r.row[0], want[0]);
        assert_string_equal(r.row[1], want[1]);
        r = batches_where(c, JOURNAL_BATCH_FAILED, NULL, 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.row[0], want[0]);
        r = batches_where(c, JOURNAL_BATCH_DONE, NULL, 0);
        assert_int_equal(r.n, 0);
        r = batches_where(c, 0, "KALTIM", 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.row[0], want[0]);
        r = batches_where(c, 0, "SORONG", 0);
        assert_int_equal(r.n, 1);
        assert_string_equal(r.row[0], want[1]);
        r = batches_where(c, 0, "NOWHERE", 0);
        assert_int_equal(r.n, 0);
        r = batches_where(c, 0, NULL, clock_now_ms() - 600000);
        assert_int_equal(r.n, 2);
        r = batches_where(c, 0, NULL, clock_now_ms() + 600000);
        assert_int_equal(r.n, 0);
        r = batches_where(c, JOURNAL_BATCH_PENDING, "BPP", 0); /* both must hold */
        assert_int_equal(r.n, 0);
        journal_close(c);
        journal_close(j);
        cleanup();
}

struct shown {
        struct seen batch;
        struct rows items;
};

static int show_batch(const struct journal_ctl_batch *b, void *opaque)
{
        return see_batch(b, &((struct shown *)opaque)->batch);
}

static int show_item(const struct journal_ctl_item *it, void *opaque)
{
        struct rows *r = &((struct shown *)opaque)->items;
        snprintf(r->row[r->n++], sizeof(r->row[0]),
                 "seq=%lld k%d %s %s %s batch=%lld %s kpj=%s reason=%s coverage=%s "
                 "batch_state=%s",
                 (long long)it->op.seq, it->op.kind, it->op.nik, it->op.program,
                 it->op.event_id, (long long)it->op.batch_id,
                 it->status ? result_status_name(it->status) : "-",
                 it->kpj ? it->kpj : "-", it->reason ? it->reason : "-",
                 it->coverage ? journal_ctl_coverage_state_name(it->coverage) : "-",
                 it->batch_state ? journal_batch_state_name(it->batch_state) : "-");
        return 0;
}

/* A batch with its body, then its items with their outcome, the state of
 * the coverage each starts and the batch's; an unknown batch is said. */
static void test_batch_show(void **state)
{
        struct journal_item_result res = {
            .status = RESULT_REGISTERED,
            .kpj = "KPJ-000003",
            .out = {.topic = "results", .value = "x", .value_len = 1},
        };
        struct journal *j, *c;
        int64_t failed, pending;
        struct shown sh = {0};
        char want[200];
        (void)state;

        fresh();
        j = open_journal();
        two_batches(j, &failed, &pending);
        c = open_ctl(false);
        assert_int_equal(journal_ctl_batch_show(c, failed, show_batch, show_item, &sh),
                         2);
        assert_int_equal(sh.batch.state, JOURNAL_BATCH_FAILED);
        snprintf(want, sizeof(want),
                 "{\"batch_id\":\"%lld\",\"registrations\":[{\"s\":1},{\"s\":2}]}",
                 (long long)failed);
        assert_string_equal(sh.batch.body, want);
        assert_string_equal(sh.batch.last_error, "endpoint answered HTTP 400");
        snprintf(want, sizeof(want),
                 "seq=1 k1 " NIK1
                 " BPP b1 batch=%lld failed kpj=- reason=endpoint answered "
                 "HTTP 400 coverage=failed batch_state=failed",
                 (long long)failed);
        assert_string_equal(sh.items.row[0], want);
        snprintf(want, sizeof(want),
                 "seq=2 k1 " NIK2 " KALTIM k2 batch=%lld failed kpj=- reason=endpoint "
                 "answered HTTP 400 coverage=failed batch_state=failed",
                 (long long)failed);
        assert_string_equal(sh.items.row[1], want);

        /* before and after its answer */
        memset(&sh, 0, sizeof(sh));
        assert_int_equal(journal_ctl_batch_show(c, pending, show_batch, show_item, &sh),
                         1);
        snprintf(want, sizeof(want),
                 "seq=3 k1 " NIK3
                 " SORONG s3 batch=%lld - kpj=- reason=- coverage=pending "
                 "batch_state=pending",
                 (long long)pending);
        assert_string_equal(sh.items.row[0], want);
        res.seq = 3;
        assert_int_equal(
            journal_batch_finish(j, pending, JOURNAL_BATCH_DONE, NULL, &res, 1), 0);
        memset(&sh, 0, sizeof(sh));
        assert_int_equal(journal_ctl_batch_show(c, pending, show_batch, show_item, &sh),
                         1);
        assert_int_equal(sh.batch.state, JOURNAL_BATCH_DONE);
        snprintf(want, sizeof(want),
                 "seq=3 k1 " NIK3 " SORONG s3 batch=%lld registered kpj=KPJ-000003 "
                 "reason=- coverage=active batch_state=done",
                 (long long)pending);
        assert_string_equal(sh.items.row[0], want);

        assert_int_equal(journal_ctl_batch_show(c, 999, show_batch, show_item, &sh),
                         -ENOENT);
        assert_string_equal(journal_errmsg(c), "no batch 999");
        journal_close(c);
        journal_close(j);
        cleanup();
}

static int list_event(const struct journal_ctl_event *e, void *opaque)
{
        struct rows *r = opaque;
        snprintf(r->row[r->n++], sizeof(r->row[0]),
                 "%s %s %s t%d %s reason=%s %s/%d@%lld at=%lld", e->event_id, e->nik,
                 e->program ? e->program : "-", e->type, result_status_name(e->status),
                 e->reason ? e->reason : "-", e->topic ? e->topic : "-",
                 (int)e->partition, (long long)e->offset, (long long)e->at);
        return 0;
}

struct worker_rows {
        struct rows events, coverages, ops;
};

static int worker_event(const struct journal_ctl_event *e, void *opaque)
{
        return list_event(e, &((struct worker_rows *)opaque)->events);
}

static int worker_coverage(const struct journal_ctl_coverage *cov, void *opaque)
{
        struct rows *r = &((struct worker_rows *)opaque)->coverages;
        snprintf(r->row[r->n++], sizeof(r->row[0]),
                 "%s %s reg=%lld by %s period=%lld..%lld months=%lld..%lld", cov->program,
                 journal_ctl_coverage_state_name(cov->state), (long long)cov->reg_seq,
                 cov->event_id ? cov->event_id : "-", (long long)(cov->start_month - Y25),
                 (long long)(cov->end_month - Y25), (long long)(cov->first_month - Y25),
                 (long long)(cov->last_month - Y25));
        return 0;
}

static int worker_op(const struct journal_ctl_item *it, void *opaque)
{
        struct rows *r = &((struct worker_rows *)opaque)->ops;
        snprintf(r->row[r->n++], sizeof(r->row[0]),
                 "seq=%lld k%d %s reg=%lld %s batch=%lld", (long long)it->op.seq,
                 it->op.kind, it->op.program, (long long)it->op.reg_seq, it->op.event_id,
                 (long long)it->op.batch_id);
        return 0;
}

/* One worker: its events, its coverages in decision order (the ended one
 * kept, with the months it holds) and its operations; nobody else's. */
static void test_worker(void **state)
{
        const struct journal_ctl_worker_fns fns = {worker_event, worker_coverage,
                                                   worker_op};
        struct worker_rows w = {0};
        struct journal *j, *c;
        (void)state;

        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);        /* seq 1 */
        record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);        /* seq 2 */
        withdraw_in(j, "w1", NIK1, Y25 + 2);                       /* seq 3 */
        record(j, "k1", NIK1, "KALTIM", Y25 + 3, DECIDE_REGISTER); /* seq 4 */
        reject(j, "r1", NIK1, "bad_period", 1000);
        reject(j, "r2", NIK2, "bad_period", 1000);
        c = open_ctl(false);
        assert_int_equal(journal_ctl_worker(c, NIK1, &fns, &w), 4 + 2 + 3);
        assert_int_equal(w.events.n, 4);
        assert_string_equal(w.events.row[0],
                            "b1 " NIK1 " BPP t1 confirmed reason=- events/0@0 at=1000");
        assert_string_equal(w.events.row[1],
                            "k1 " NIK1
                            " KALTIM t1 confirmed reason=- events/0@3 at=1000");
        assert_string_equal(w.events.row[2],
                            "r1 " NIK1
                            " BPP t1 rejected reason=bad_period events/2@4 at=1000");
        assert_string_equal(w.events.row[3],
                            "w1 " NIK1 " BPP t2 confirmed reason=- events/0@2 at=1000");
        assert_int_equal(w.coverages.n, 2);
        assert_string_equal(w.coverages.row[0],
                            "BPP ended reg=1 by b1 period=0..11 months=0..2");
        assert_string_equal(w.coverages.row[1],
                            "KALTIM pending reg=4 by k1 period=3..14 months=3..14");
        assert_int_equal(w.ops.n, 3);
        assert_string_equal(w.ops.row[0], "seq=1 k1 BPP reg=1 b1 batch=0");
        assert_string_equal(w.ops.row[1], "seq=3 k2 BPP reg=1 w1 batch=0");
        assert_string_equal(w.ops.row[2], "seq=4 k1 KALTIM reg=4 k1 batch=0");

        /* only the callbacks asked; a worker the journal never saw */
        struct journal_ctl_worker_fns only_ops = {NULL, NULL, worker_op};
        memset(&w, 0, sizeof(w));
        assert_int_equal(journal_ctl_worker(c, NIK2, &only_ops, &w), 1);
        assert_string_equal(w.ops.row[0], "seq=2 k1 BPP reg=2 b2 batch=0");
        memset(&w, 0, sizeof(w));
        assert_int_equal(journal_ctl_worker(c, NIK3, &fns, &w), 0);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* Rejected events only, in decision order; by reason, and since a time. */
static void test_rejected(void **state)
{
        struct journal *j, *c;
        struct rows r = {0};
        (void)state;

        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        reject(j, "r2", NIK2, "unknown_program", 3000);
        reject(j, "r1", NIK1, "bad_period", 2000);
        c = open_ctl(false);
        assert_int_equal(journal_ctl_rejected(c, NULL, 0, list_event, &r), 2);
        assert_string_equal(
            r.row[0], "r1 " NIK1 " BPP t1 rejected reason=bad_period events/2@2 at=2000");
        assert_string_equal(r.row[1],
                            "r2 " NIK2
                            " BPP t1 rejected reason=unknown_program events/2@1 at=3000");
        memset(&r, 0, sizeof(r));
        assert_int_equal(journal_ctl_rejected(c, "unknown_program", 0, list_event, &r),
                         1);
        assert_true(strncmp(r.row[0], "r2 ", 3) == 0);
        memset(&r, 0, sizeof(r));
        assert_int_equal(journal_ctl_rejected(c, NULL, 2500, list_event, &r), 1);
        assert_true(strncmp(r.row[0], "r2 ", 3) == 0);
        memset(&r, 0, sizeof(r));
        assert_int_equal(journal_ctl_rejected(c, "bad_period", 2500, list_event, &r), 0);
        journal_close(c);
        journal_close(j);
        cleanup();
}

static int list_audit(const struct journal_ctl_audit *a, void *opaque)
{
        struct rows *r = opaque;
        snprintf(r->row[r->n++], sizeof(r->row[0]), "%lld %s %s %s", (long long)a->id,
                 a->who, a->action, a->detail ? a->detail : "-");
        return 0;
}

/* Operator actions are recorded in order, and listed by what their detail
 * contains and since a time. */
static void test_audit(void **state)
{
        struct journal *j, *c;
        struct rows r = {0};
        int64_t before;
        (void)state;

        fresh();
        j = open_journal();
        c = open_ctl(true);
        before = clock_now_ms();
        assert_int_equal(journal_ctl_audit_add(c, "siti", "replay", "b-1: resent"), 0);
        assert_int_equal(journal_ctl_audit_add(c, "budi", "note", "checked b-2"), 0);
        assert_int_equal(journal_ctl_audit_add(c, "budi", "note", NULL), 0);
        assert_int_equal(journal_ctl_audit_list(c, NULL, 0, list_audit, &r), 3);
        assert_string_equal(r.row[0], "1 siti replay b-1: resent");
        assert_string_equal(r.row[1], "2 budi note checked b-2");
        assert_string_equal(r.row[2], "3 budi note -");
        memset(&r, 0, sizeof(r));
        assert_int_equal(journal_ctl_audit_list(c, "b-2", 0, list_audit, &r), 1);
        assert_string_equal(r.row[0], "2 budi note checked b-2");
        memset(&r, 0, sizeof(r));
        assert_int_equal(journal_ctl_audit_list(c, NULL, before, list_audit, &r), 3);
        memset(&r, 0, sizeof(r));
        assert_int_equal(
            journal_ctl_audit_list(c, NULL, clock_now_ms() + 600000, list_audit, &r), 0);
        journal_close(c);
        journal_close(j);
        cleanup();
}

/* ---- replay beside daemons (PostgreSQL) ---- */

struct replay_run {
        int64_t id;
        struct journal_ctl_replay_opts *opts;
        struct journal_ctl_replay res;
        int rc;
        atomic_bool done;
};

static void *replay_thread(void *arg)
{
        struct replay_run *run = arg;
        struct journal *c = open_ctl(true);

        run->rc = journal_ctl_replay(c, run->id, run->opts, &run->res);
        atomic_store(&run->done, true);
        journal_close(c);
        return NULL;
}

/* A replay waits for a worker that a daemon is deciding: the advisory lock
 * the consume side holds from its begin to its commit (one key a NIK) holds
 * the replay before it reads a fact, and it goes on, judging what is true
 * then, once the lock is gone. */
static void test_replay_waits_for_a_worker_being_decided(void **state)
{
        struct journal_ctl_quota quotas[] = {Q("BPP", 10)};
        struct journal_ctl_replay_opts opts = {
            .who = "tester", .quotas = quotas, .n_quotas = 1, .compose = compose};
        struct replay_run run = {.opts = &opts};
        const char *keys[] = {"dbname", "password", NULL};
        const char *values[] = {pg_url, pg_password, NULL};
        struct journal *j;
        pthread_t t;
        PGconn *daemon;
        PGresult *r;
        (void)state;

        if (!pg_url) {
                fprintf(stderr, "[ skipped  ] %s: the advisory locks are PostgreSQL's\n",
                        __func__);
                skip();
        }
        fresh();
        j = open_journal();
        record(j, "b1", NIK1, "BPP", Y25, DECIDE_REGISTER);
        record(j, "b2", NIK2, "BPP", Y25, DECIDE_REGISTER);
        run.id = batch_and_fail(j, JOURNAL_OP_REGISTER);

        /* a daemon between its begin and its commit for NIK2 */
        daemon = PQconnectdbParams(keys, values, 1);
        assert_int_equal(PQstatus(daemon), CONNECTION_OK);
        r = PQexec(daemon, "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('" NIK2
                           "', 0))");
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);

        assert_int_equal(pthread_create(&t, NULL, replay_thread, &run), 0);
        usleep(1500 * 1000);
        assert_false(atomic_load(&run.done));
        assert_int_equal(batch(j, run.id).state, JOURNAL_BATCH_FAILED);

        r = PQexec(daemon, "COMMIT");
        PQclear(r);
        PQfinish(daemon);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(run.rc, 0);
        assert_int_equal(run.res.action, JOURNAL_CTL_REPLAY_RESEND);
        assert_int_equal(batch(j, run.id).state, JOURNAL_BATCH_PENDING);
        journal_ctl_replay_free(&run.res);
        journal_close(j);
        cleanup();
}

int main(void)
{
        const char *url = getenv("BPJS_TEST_JOURNAL");
        if (url && *url) {
                pg_url = url;
                pg_password = getenv("BPJS_TEST_JOURNAL_PASSWORD");
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_left_behind_later),
            cmocka_unit_test(test_replay_keeps_the_budget),
            cmocka_unit_test(test_deactivation_after_later_op),
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_operator_open_creates_nothing),
            cmocka_unit_test(test_operator_open_changes_nothing),
            cmocka_unit_test(test_readonly_refuses_writes),
            cmocka_unit_test(test_replay_after_pruning),
            cmocka_unit_test(test_batches_and_their_filters),
            cmocka_unit_test(test_batch_show),
            cmocka_unit_test(test_worker),
            cmocka_unit_test(test_rejected),
            cmocka_unit_test(test_audit),
            cmocka_unit_test(test_replay_waits_for_a_worker_being_decided),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
