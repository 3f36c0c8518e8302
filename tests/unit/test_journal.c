/* The journal's promises, on a real SQLite file: a redelivery is known, a
 * registration takes coverage and a quota slot, batches keep their exact
 * body, results settle coverage, the outbox never skips a row, a split
 * moves items into new batches, and only the daemon recovers batches that
 * were in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "journal.h"
#include "journal_tx.h"

static char path[64];

static struct journal *open_journal(unsigned flags)
{
        char err[256];
        struct journal *j = NULL;
        if (journal_open(path, flags, &j, err, sizeof(err)))
                fail_msg("%s", err);
        return j;
}

static void record(struct journal *j, const char *event_id, const char *nik,
                   enum decide_action action, int64_t offset)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .partition = 0,
            .offset = offset,
            .at_ms = 1,
            .action = action,
            .start_month = 24300,
            .end_month = 24311,
            .item = "{\"nik\":\"x\"}",
            .item_len = 11,
            .out = {{.topic = "results",
                     .key = nik,
                     .key_len = 16,
                     .value = event_id,
                     .value_len = strlen(event_id)}},
            .n_out = 1,
        };
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_offset_set(j, "events", 0, offset + 1), 0);
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

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        (void)ops;
        (void)opaque;
        *body = malloc(64);
        *len = (size_t)snprintf(*body, 64, "{\"batch\":%lld,\"items\":%zu}",
                                (long long)id, n);
        return 0;
}

static int body_of(const struct journal_batch *b, void *opaque)
{
        snprintf(opaque, 64, "%.*s|%s", (int)b->body_len, b->body,
                 journal_batch_state_name(b->state));
        return 0;
}

static int count_out(int64_t seq, const struct journal_out *o, void *opaque)
{
        (void)o;
        ((int64_t *)opaque)[0]++;
        ((int64_t *)opaque)[1] = seq;
        return 0;
}

static void test_promises(void **state)
{
        struct journal *j = open_journal(JOURNAL_RECOVER);
        struct decide_worker w = {0};
        struct ops ops = {0};
        int64_t used, next, id, ids[2], backlog, seen[2] = {0, 0};
        char text[64];
        (void)state;

        /* consume: one transaction, a redelivery known by id and position */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", "6471054506900002", DECIDE_REGISTER, 0);
        record(j, "e2", "6471051203850001", DECIDE_REGISTER, 1);
        record(j, "e3", "6471051203850003", DECIDE_REGISTER, 2);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(jt_event_seen(j, "e1"), 1);
        assert_int_equal(jt_event_seen(j, "e9"), 0);
        assert_int_equal(jt_offset_next(j, "events", 0, &next), 0);
        assert_int_equal(next, 3);
        assert_int_equal(jt_quota_used(j, "BPP", &used), 0);
        assert_int_equal(used, 3);
        assert_int_equal(jt_worker(j, "6471054506900002", &w), 0);
        assert_int_equal(w.n, 1);
        assert_string_equal(w.cov[0].program, "BPP");

        /* a batch keeps the body written before its first send */
        assert_int_equal(journal_ops_unbatched(j, 0, 10, take_op, &ops), 3);
        assert_int_equal(
            journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 3, compose, NULL, &id),
            0);
        assert_int_equal(journal_batch_get(j, id, body_of, text), 1);
        assert_non_null(strstr(text, "\"items\":3}|pending"));
        assert_int_equal(journal_backlog(j, &backlog), 0);
        assert_int_equal(backlog, 3);
        /* an op goes in one batch only */
        assert_int_equal(journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 1, compose,
                                              NULL, &ids[0]),
                         -EALREADY);

        /* 413: split into two new batches, the old one ends 'split' */
        assert_int_equal(journal_batch_split(j, id, ops.op, 3, 1, compose, NULL, ids), 0);
        assert_int_equal(journal_batch_get(j, id, body_of, text), 1);
        assert_non_null(strstr(text, "|split"));
        assert_int_equal(journal_batch_get(j, ids[1], body_of, text), 1);
        assert_non_null(strstr(text, "\"items\":2}|pending"));

        /* results: registered activates, failed releases the slot */
        struct journal_item_result res[2] = {
            {.seq = ops.op[1].seq,
             .status = RESULT_REGISTERED,
             .kpj = "25000000001",
             .out = {.topic = "results", .value = "r", .value_len = 1}},
            {.seq = ops.op[2].seq,
             .status = RESULT_FAILED,
             .reason = "bad",
             .out = {.topic = "results", .value = "r", .value_len = 1}},
        };
        assert_int_equal(
            journal_batch_finish(j, ids[1], JOURNAL_BATCH_DONE, NULL, res, 2), 0);
        assert_int_equal(jt_quota_used(j, "BPP", &used), 0);
        assert_int_equal(used, 2);
        assert_int_equal(jt_worker(j, "6471051203850003", &w), 0);
        assert_int_equal(w.n, 0);
        decide_worker_release(&w);
        /* every item needs its result */
        assert_int_equal(
            journal_batch_finish(j, ids[0], JOURNAL_BATCH_DONE, NULL, res, 0), -ENOENT);

        /* the outbox: deleted rows never make a new row's seq go back */
        assert_int_equal(journal_outbox_fetch(j, 0, 100, count_out, seen), 5);
        int64_t last = seen[1];
        assert_int_equal(journal_outbox_delete_through(j, last, 5), 0);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e4", "6471051203850004", DECIDE_NOTHING, 3);
        assert_int_equal(jt_commit(j), 0);
        seen[0] = 0;
        assert_int_equal(journal_outbox_fetch(j, 0, 100, count_out, seen), 1);
        assert_true(seen[1] > last);
        int64_t outbox;
        assert_int_equal(journal_outbox_count(j, &outbox), 0);
        assert_int_equal(outbox, 1);
        int64_t published;
        assert_int_equal(journal_counter_get(j, "published", &published), 0);
        assert_int_equal(published, 5);

        /* in flight at a crash: pending again only when the daemon opens it */
        assert_int_equal(
            journal_batch_update(j, ids[0], JOURNAL_BATCH_INFLIGHT, 1, 0, NULL), 0);
        journal_close(j);
        j = open_journal(0);
        assert_int_equal(journal_batch_get(j, ids[0], body_of, text), 1);
        assert_non_null(strstr(text, "|inflight"));
        journal_close(j);
        j = open_journal(JOURNAL_RECOVER);
        assert_int_equal(journal_batch_get(j, ids[0], body_of, text), 1);
        assert_non_null(strstr(text, "|pending"));
        int64_t open;
        assert_int_equal(journal_batches_open(j, &open), 0);
        assert_int_equal(open, 1);
        journal_close(j);
}

static int teardown_files(void);

static int64_t counter(struct journal *j, const char *name)
{
        int64_t v;
        assert_int_equal(journal_counter_get(j, name, &v), 0);
        return v;
}

static int64_t one_batch(struct journal *j, int64_t after_seq)
{
        struct ops ops = {0};
        int64_t id;
        assert_int_equal(journal_ops_unbatched(j, after_seq, 1, take_op, &ops), 1);
        assert_int_equal(
            journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 1, compose, NULL, &id),
            0);
        return id;
}

static void finish(struct journal *j, int64_t id, int state, int64_t at_ms)
{
        struct ops ops = {0};
        assert_int_equal(journal_batch_ops(j, id, take_op, &ops), 1);
        struct journal_item_result res = {
            .seq = ops.op[0].seq,
            .status = state == JOURNAL_BATCH_DONE ? RESULT_REGISTERED : RESULT_FAILED,
            .kpj = state == JOURNAL_BATCH_DONE ? "25000000001" : NULL,
            .reason = state == JOURNAL_BATCH_DONE ? NULL : "bad",
            .out = {.topic = "results", .value = "r", .value_len = 1}};
        clock_set_fake(at_ms);
        assert_int_equal(
            journal_batch_finish(j, id, state,
                                 state == JOURNAL_BATCH_DONE ? NULL : "400 bad request",
                                 &res, 1),
            0);
        clock_set_fake(0);
}

/* Issue 9: bodies go once the endpoint's idempotency window has passed, and
 * event ids after the retention; coverage, quota and batches stay. */
static void test_pruning(void **state)
{
        struct journal *j;
        struct decide_worker w = {0};
        int64_t id[4], used, pruned[2];
        char text[64];
        (void)state;

        teardown_files();
        j = open_journal(JOURNAL_RECOVER);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", "6471054506900002", DECIDE_REGISTER, 0); /* decided at 1 */
        record(j, "e2", "6471051203850001", DECIDE_REGISTER, 1);
        record(j, "e3", "6471051203850003", DECIDE_REGISTER, 2);
        assert_int_equal(jt_commit(j), 0);
        struct journal_record recent = {.event_id = "e4",
                                        .nik = "6471051203850004",
                                        .status = RESULT_REJECTED,
                                        .reason = "invalid_nik",
                                        .at_ms = 1000000,
                                        .action = DECIDE_NOTHING};
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &recent), 0);
        assert_int_equal(jt_commit(j), 0);
        for (int i = 0; i < 3; i++) {
                clock_set_fake(900);
                id[i] = one_batch(j, 0);
                clock_set_fake(0);
        }
        finish(j, id[0], JOURNAL_BATCH_DONE, 1000);   /* old: pruned */
        finish(j, id[1], JOURNAL_BATCH_FAILED, 1000); /* old: pruned */
        finish(j, id[2], JOURNAL_BATCH_DONE, 5000);   /* recent: kept */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e5", "6471051203850005", DECIDE_REGISTER, 3);
        assert_int_equal(jt_commit(j), 0);
        clock_set_fake(900);
        id[3] = one_batch(j, 0); /* old but still pending: kept */
        clock_set_fake(0);

        /* bodies ended before 2000, events decided before 100, two rows a turn */
        assert_int_equal(journal_prune(j, 2000, 100, 2, 2, pruned), 1);
        assert_int_equal(pruned[0], 2);
        assert_int_equal(pruned[1], 2);
        /* the limit filled again: one more turn finds nothing */
        assert_int_equal(journal_prune(j, 2000, 100, 2, 2, pruned), 1);
        assert_int_equal(pruned[0], 0);
        assert_int_equal(pruned[1], 2); /* e3 and e5 */
        assert_int_equal(journal_prune(j, 2000, 100, 2, 2, pruned), 0);
        assert_int_equal(pruned[0] + pruned[1], 0);
        assert_int_equal(counter(j, "pruned_bodies"), 2);
        assert_int_equal(counter(j, "pruned_events"), 4);

        assert_int_equal(journal_batch_get(j, id[0], body_of, text), 1);
        assert_string_equal(text, "|done");
        assert_int_equal(journal_batch_get(j, id[1], body_of, text), 1);
        assert_string_equal(text, "|failed");
        assert_int_equal(journal_batch_get(j, id[2], body_of, text), 1);
        assert_non_null(strstr(text, "\"items\":1}|done"));
        assert_int_equal(journal_batch_get(j, id[3], body_of, text), 1);
        assert_non_null(strstr(text, "\"items\":1}|pending"));
        for (const char *const *e = (const char *const[]){"e1", "e2", "e3", "e5", NULL};
             *e; e++)
                assert_int_equal(jt_event_seen(j, *e), 0);
        assert_int_equal(jt_event_seen(j, "e4"), 1);
        /* what was decided stays: coverage, quota (e2's failed slot released) */
        assert_int_equal(jt_worker(j, "6471054506900002", &w), 0);
        assert_int_equal(w.n, 1);
        assert_int_equal(jt_worker(j, "6471051203850005", &w), 0);
        assert_int_equal(w.n, 1);
        assert_int_equal(jt_quota_used(j, "BPP", &used), 0);
        assert_int_equal(used, 3);
        decide_worker_release(&w);
        journal_close(j);
}

/* A new journal holding one registration op, unbatched, taken into ops. */
static struct journal *journal_of_one_op(struct ops *ops)
{
        struct journal *j;

        teardown_files();
        j = open_journal(JOURNAL_RECOVER);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", "6471054506900002", DECIDE_REGISTER, 0);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(journal_ops_unbatched(j, 0, 10, take_op, ops), 1);
        return j;
}

/* A body of several pages, every one of them holding the marker. */
static int compose_big(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                       char **body, size_t *len)
{
        enum { SIZE = 5 * 4096 };
        (void)id;
        (void)ops;
        (void)n;
        *body = malloc(SIZE);
        for (size_t i = 0; i + 16 <= SIZE; i += 16)
                memcpy(*body + i, (const char *)opaque, 16);
        *len = SIZE;
        return 0;
}

static bool file_holds(const char *file, const char *needle)
{
        FILE *f = fopen(file, "rb");
        static char buf[1 << 20];
        size_t n, len = strlen(needle);
        bool found = false;

        assert_non_null(f);
        while (!found && (n = fread(buf, 1, sizeof(buf), f)) > 0)
                found = memmem(buf, n, needle, len) != NULL;
        fclose(f);
        return found;
}

static int outbox_last_pos(int64_t pos, const struct journal_out *o, void *opaque)
{
        (void)o;
        *(int64_t *)opaque = pos;
        return 0;
}

/* A pruned body leaves none of its bytes in the file, even after published
 * messages were deleted (whose freed pages are not zeroed). */
static void test_a_pruned_body_leaves_no_trace(void **state)
{
        struct ops ops = {0};
        struct journal *j;
        int64_t id, pos = -1, pruned[2];
        char msg[3 * 4096];
        (void)state;

        j = journal_of_one_op(&ops);
        assert_int_equal(journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 1,
                                              compose_big, "Siti Rahmawati #", &id),
                         0);
        memset(msg, 'm', sizeof(msg));
        struct journal_item_result res = {
            .seq = ops.op[0].seq,
            .status = RESULT_REGISTERED,
            .kpj = "25000000001",
            .out = {.topic = "results", .value = msg, .value_len = sizeof(msg)}};
        clock_set_fake(1000);
        assert_int_equal(journal_batch_finish(j, id, JOURNAL_BATCH_DONE, NULL, &res, 1),
                         0);
        clock_set_fake(0);
        assert_true(journal_outbox_fetch(j, -1, 100, outbox_last_pos, &pos) > 0);
        assert_int_equal(journal_outbox_delete_through(j, pos, 1), 0);
        assert_int_equal(journal_prune(j, 2000, 0, 4, 10, pruned), 0);
        assert_int_equal(pruned[0], 1);
        journal_close(j); /* the last close checkpoints the WAL into the file */
        assert_false(file_holds(path, "Siti Rahmawati"));
}

/* One programme a month, enrolled, withdrawn and enrolled again. */
static void cycle(struct journal *j, const char *nik, const char *program, int64_t month,
                  int64_t *offset)
{
        static const enum decide_action actions[] = {DECIDE_REGISTER, DECIDE_DEACTIVATE,
                                                     DECIDE_REGISTER};
        for (size_t k = 0; k < 3; k++) {
                char event_id[64];
                snprintf(event_id, sizeof(event_id), "%s-%zu", program, k);
                struct journal_record r = {
                    .event_id = event_id,
                    .nik = nik,
                    .program = program,
                    .type = actions[k] == DECIDE_DEACTIVATE ? EVENT_WITHDRAWN
                                                            : EVENT_SUBMITTED,
                    .status = RESULT_CONFIRMED,
                    .topic = "events",
                    .offset = *offset,
                    .at_ms = 1,
                    .action = actions[k],
                    .start_month = month,
                    .end_month = month,
                    /* each withdrawn before its month: it keeps none */
                    .first_month = month,
                    .last_month = actions[k] == DECIDE_DEACTIVATE ? month - 1 : month,
                    .item = "{}",
                    .item_len = 2,
                };
                assert_int_equal(jt_record(j, &r), 0);
                assert_int_equal(jt_offset_set(j, "events", 0, ++*offset), 0);
        }
}

/* Rule 2 on a long history: a worker who went through 20 programmes (one a
 * month, each enrolled, withdrawn and enrolled again) is still refused a
 * programme that overlaps the 20th month: the journal reads every live
 * coverage, not the first 16. */
static void test_long_history_still_refused(void **state)
{
        const char *nik = "6471054506900002";
        struct journal *j;
        struct decide_worker w = {0};
        struct decision d;
        struct conf_program late = {.id = "LATE",
                                    .quota = 100,
                                    .start_month = 24300 + 19,
                                    .end_month = 24300 + 30};
        struct event ev = {.type = EVENT_SUBMITTED,
                           .occurred_at = "2026-08-03T09:00:00+08:00"};
        int64_t offset = 0;
        (void)state;

        teardown_files();
        j = open_journal(JOURNAL_RECOVER);
        assert_int_equal(jt_begin(j), 0);
        for (int i = 0; i < 20; i++) {
                char program[16];
                snprintf(program, sizeof(program), "P%02d", i);
                cycle(j, nik, program, 24300 + i, &offset);
        }
        assert_int_equal(jt_commit(j), 0);

        assert_int_equal(jt_worker(j, nik, &w), 0);
        decide(&ev, &late, &w, &(struct decide_use){0}, &d);
        if (d.status != RESULT_DUPLICATE)
                fail_msg("an enrolment overlapping the 20th month: got %s, want "
                         "duplicate (the worker view has %zu coverages)",
                         result_status_name(d.status), w.n);
        assert_non_null(d.covered_by);
        assert_string_equal(d.covered_by, "P19");
        assert_int_equal(d.action, DECIDE_NOTHING);
        assert_int_equal(w.n, 20);
        decide_worker_release(&w);
        journal_close(j);
}

/* No file may grow (RLIMIT_FSIZE): every commit appends to the WAL, so
 * every write fails as on a full disk; limit -1 lifts it. */
static void files_frozen(bool frozen)
{
        char wal[80];
        struct stat st;
        struct rlimit rl;

        snprintf(wal, sizeof(wal), "%s-wal", path);
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
        rl.rlim_cur = frozen ? (rlim_t)st.st_size : rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static int out_count(struct journal *j)
{
        int64_t n;
        assert_int_equal(journal_outbox_count(j, &n), 0);
        return (int)n;
}

static bool names_the_cause(const char *msg)
{
        return strstr(msg, "database or disk is full") || strstr(msg, "disk I/O error");
}

/* Issue 10: a write the file system refuses (a full disk) leaves the journal
 * as it was, keeps the real cause (not "cannot rollback - no transaction is
 * active"), marks the journal's write health until a write works again, and
 * the very same writes succeed once there is room. */
static void test_refused_writes_then_room_again(void **state)
{
        struct journal *j;
        struct ops ops = {0};
        int64_t id, next, used;
        char text[64], first[256];
        (void)state;

        signal(SIGXFSZ, SIG_IGN); /* EFBIG instead */
        j = journal_of_one_op(&ops);
        assert_int_equal(
            journal_batch_create(j, JOURNAL_OP_REGISTER, ops.op, 1, compose, NULL, &id),
            0);
        assert_int_equal(journal_batch_update(j, id, JOURNAL_BATCH_INFLIGHT, 1, 0, NULL),
                         0);
        assert_int_equal(journal_write_health(j), 0);
        assert_string_equal(journal_write_error(j), "");

        files_frozen(true);
        /* consume: the transaction fails at its commit, and says why */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e2", "6471051203850001", DECIDE_REGISTER, 1);
        assert_true(jt_commit(j) < 0);
        jt_rollback(j);
        snprintf(first, sizeof(first), "%s", journal_errmsg(j));
        if (strstr(first, "no transaction") || !names_the_cause(first))
                fail_msg("the error names no cause: %s", first);
        assert_true(journal_write_health(j) < 0);
        assert_string_equal(journal_write_error(j), first);
        /* ... and nothing of it was kept */
        assert_int_equal(jt_event_seen(j, "e2"), 0);
        assert_int_equal(jt_offset_next(j, "events", 0, &next), 0);
        assert_int_equal(next, 1);
        assert_int_equal(jt_quota_used(j, "BPP", &used), 0);
        assert_int_equal(used, 1);

        /* push: the answer cannot be recorded; the batch stays in flight */
        struct journal_item_result res = {
            .seq = ops.op[0].seq,
            .status = RESULT_REGISTERED,
            .kpj = "25000000001",
            .out = {.topic = "results", .value = "r", .value_len = 1}};
        assert_true(journal_batch_finish(j, id, JOURNAL_BATCH_DONE, NULL, &res, 1) < 0);
        assert_null(strstr(journal_errmsg(j), "no transaction"));
        assert_int_equal(journal_batch_get(j, id, body_of, text), 1);
        assert_non_null(strstr(text, "|inflight"));
        assert_true(journal_batch_update(j, id, JOURNAL_BATCH_PENDING, 1, 0, "x") < 0);
        /* publish: delivered rows stay until they can be deleted */
        assert_int_equal(journal_outbox_fetch(j, 0, 10, count_out, (int64_t[2]){0, 0}),
                         1);
        assert_true(journal_outbox_delete_through(j, INT64_MAX / 2, 1) < 0);
        assert_int_equal(out_count(j), 1);
        /* the first failure's text stays while writes fail */
        assert_true(journal_write_health(j) < 0);
        assert_string_equal(journal_write_error(j), first);

        /* room again: the same writes work, and the health says so */
        files_frozen(false);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e2", "6471051203850001", DECIDE_REGISTER, 1);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(journal_write_health(j), 0);
        assert_string_equal(journal_write_error(j), "");
        assert_int_equal(jt_event_seen(j, "e2"), 1);
        assert_int_equal(journal_batch_finish(j, id, JOURNAL_BATCH_DONE, NULL, &res, 1),
                         0);
        assert_int_equal(journal_batch_get(j, id, body_of, text), 1);
        assert_non_null(strstr(text, "|done"));
        /* an ended batch is never put back to pending */
        assert_int_equal(journal_batch_update(j, id, JOURNAL_BATCH_PENDING, 2, 0, NULL),
                         -ESTALE);
        int64_t oldest[2] = {0, 0};
        assert_int_equal(journal_outbox_fetch(j, 0, 1, count_out, oldest), 1);
        assert_int_equal(journal_outbox_delete_through(j, oldest[1], 1), 0);
        assert_int_equal(out_count(j), 2); /* e2's result and the answer's */
        journal_close(j);
}

/* After the refused-writes test, even a failed one: files may grow again. */
static int unfreeze(void **state)
{
        struct rlimit rl;
        (void)state;
        if (getrlimit(RLIMIT_FSIZE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_FSIZE, &rl);
        }
        return 0;
}

/* What a portal sent about a worker, as item_registration writes it. */
#define FULL_ITEM(nik)                                                                   \
        "{\"nik\":\"" nik "\",\"name\":\"Siti Aminah\",\"birth_date\":\"1990-06-05\","   \
        "\"sex\":\"F\",\"program\":\"BPP\",\"payer\":{\"level\":\"city\","               \
        "\"region\":\"6471\"},\"benefits\":[\"JKK\",\"JKM\"],\"period\":{\"start\":"     \
        "\"2026-01\",\"end\":\"2026-12\"},\"monthly_premium\":16800,"                    \
        "\"occupation\":\"pedagang\",\"phone\":\"+6281234567890\"}"

static void record_item(struct journal *j, const char *event_id, const char *nik,
                        enum decide_action action, int64_t offset, const char *item)
{
        struct journal_record r = {
            .event_id = event_id,
            .nik = nik,
            .program = "BPP",
            .type = 1,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .partition = 0,
            .offset = offset,
            .at_ms = 1,
            .action = action,
            .start_month = 24312,
            .end_month = 24323,
            .item = item,
            .item_len = strlen(item),
        };
        assert_int_equal(jt_begin(j), 0);
        assert_int_equal(jt_record(j, &r), 0);
        assert_int_equal(jt_commit(j), 0);
}

/* Batches the next unbatched op after after_seq, of that kind. */
static int64_t batch_of(struct journal *j, int kind, int64_t after_seq)
{
        struct ops ops = {0};
        int64_t id;
        assert_int_equal(journal_ops_unbatched(j, after_seq, 1, take_op, &ops), 1);
        assert_int_equal(journal_batch_create(j, kind, ops.op, 1, compose, NULL, &id), 0);
        return id;
}

static void settle_one(struct journal *j, int64_t id, enum result_status status,
                       int64_t at_ms)
{
        struct ops ops = {0};
        int ok = status != RESULT_FAILED;
        assert_int_equal(journal_batch_ops(j, id, take_op, &ops), 1);
        struct journal_item_result res = {
            .seq = ops.op[0].seq,
            .status = status,
            .kpj = ok ? "25000000001" : NULL,
            .reason = ok ? NULL : "name required",
            .out = {.topic = "results", .value = "r", .value_len = 1}};
        clock_set_fake(at_ms);
        assert_int_equal(
            journal_batch_finish(j, id, ok ? JOURNAL_BATCH_DONE : JOURNAL_BATCH_FAILED,
                                 ok ? NULL : "rejected", &res, 1),
            0);
        clock_set_fake(0);
}

static int item_of(const struct journal_op *op, void *opaque)
{
        snprintf(opaque, 512, "%.*s", (int)op->item_len, op->item);
        return 0;
}

static const char *item(struct journal *j, int64_t batch, char out[512])
{
        assert_int_equal(journal_batch_ops(j, batch, item_of, out), 1);
        return out;
}

/* Issue 11: once a registration is final and past the idempotency window,
 * its item keeps the NIK, the programme and the period, nothing about the
 * person; what a replay could send again keeps everything. */
static void test_pruning_keeps_only_what_is_needed(void **state)
{
        struct journal *j;
        int64_t a, b, c, d, d2, e, pruned[2];
        char text[512];
        (void)state;

        teardown_files();
        j = open_journal(JOURNAL_RECOVER);
        record_item(j, "a", "6471054506900002", DECIDE_REGISTER, 0,
                    FULL_ITEM("6471054506900002"));
        record_item(j, "b", "6471051203850001", DECIDE_REGISTER, 1,
                    FULL_ITEM("6471051203850001"));
        record_item(j, "c", "6471051203850003", DECIDE_REGISTER, 2,
                    FULL_ITEM("6471051203850003"));
        record_item(j, "d", "6471051203850004", DECIDE_REGISTER, 3,
                    FULL_ITEM("6471051203850004"));
        clock_set_fake(900);
        a = batch_of(j, JOURNAL_OP_REGISTER, 0);
        b = batch_of(j, JOURNAL_OP_REGISTER, 0);
        c = batch_of(j, JOURNAL_OP_REGISTER, 0);
        d = batch_of(j, JOURNAL_OP_REGISTER, 0);
        clock_set_fake(0);
        settle_one(j, a, RESULT_REGISTERED, 1000); /* final: cut */
        settle_one(j, b, RESULT_FAILED, 1000);     /* replayable: kept whole */
        settle_one(j, c, RESULT_FAILED, 1000);     /* replaced below: cut */
        settle_one(j, d, RESULT_REGISTERED, 1000); /* final: cut */
        record_item(j, "c2", "6471051203850003", DECIDE_REGISTER, 4,
                    FULL_ITEM("6471051203850003")); /* seq 5, never batched */
        record_item(j, "d2", "6471051203850004", DECIDE_DEACTIVATE, 5,
                    "{\"nik\":\"6471051203850004\",\"program\":\"BPP\","
                    "\"reason\":\"pindah ke Jakarta, hp +6281234567890\"}");
        record_item(j, "e", "6471051203850005", DECIDE_REGISTER, 6,
                    FULL_ITEM("6471051203850005"));
        clock_set_fake(900);
        d2 = batch_of(j, JOURNAL_OP_DEACTIVATE, 5);
        e = batch_of(j, JOURNAL_OP_REGISTER, 6);
        clock_set_fake(0);
        settle_one(j, d2, RESULT_DEACTIVATED, 1000); /* final: cut */
        settle_one(j, e, RESULT_REGISTERED, 5000);   /* within the window: kept */

        assert_int_equal(journal_prune(j, 2000, 0, 10, 10, pruned), 0);
        assert_int_equal(pruned[0], 5);
        assert_int_equal(counter(j, "pruned_items"), 4);

        assert_string_equal(item(j, a, text),
                            "{\"nik\":\"6471054506900002\",\"program\":\"BPP\","
                            "\"period\":{\"start\":\"2026-01\",\"end\":\"2026-12\"}}");
        assert_string_equal(item(j, b, text), FULL_ITEM("6471051203850001"));
        assert_string_equal(item(j, c, text),
                            "{\"nik\":\"6471051203850003\",\"program\":\"BPP\","
                            "\"period\":{\"start\":\"2026-01\",\"end\":\"2026-12\"}}");
        assert_string_equal(item(j, d, text),
                            "{\"nik\":\"6471051203850004\",\"program\":\"BPP\","
                            "\"period\":{\"start\":\"2026-01\",\"end\":\"2026-12\"}}");
        assert_string_equal(item(j, d2, text),
                            "{\"nik\":\"6471051203850004\",\"program\":\"BPP\"}");
        assert_string_equal(item(j, e, text), FULL_ITEM("6471051203850005"));

        /* a second turn finds nothing more: the bodies are gone */
        assert_int_equal(journal_prune(j, 2000, 0, 10, 10, pruned), 0);
        assert_int_equal(counter(j, "pruned_items"), 4);

        /* b's worker registers again: b can no longer be replayed, and the
         * sweep, round the table, finds it after its body went */
        record_item(j, "b2", "6471051203850001", DECIDE_REGISTER, 7,
                    FULL_ITEM("6471051203850001"));
        assert_int_equal(journal_prune(j, 2000, 0, 10, 10, pruned), 0);
        assert_int_equal(journal_prune(j, 2000, 0, 10, 10, pruned), 0);
        assert_string_equal(item(j, b, text),
                            "{\"nik\":\"6471051203850001\",\"program\":\"BPP\","
                            "\"period\":{\"start\":\"2026-01\",\"end\":\"2026-12\"}}");
        assert_string_equal(item(j, e, text), FULL_ITEM("6471051203850005"));
        assert_int_equal(counter(j, "pruned_items"), 5);
        journal_close(j);
}

static int setup(void **state)
{
        (void)state;
        snprintf(path, sizeof(path), "/tmp/bpjs-journal-test-%d.db", (int)getpid());
        return 0;
}

static void exec_file(const char *sql)
{
        sqlite3 *db = NULL;
        char *msg = NULL;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
                fail_msg("%s", msg ? msg : "exec failed");
        sqlite3_close(db);
}

static int check_v0_out(int64_t pos, const struct journal_out *o, void *opaque)
{
        int64_t *seen = opaque;

        assert_true(pos > seen[1]);
        seen[1] = pos;
        if (seen[0]++ == 0) {
                assert_string_equal(o->topic, "results");
                assert_int_equal(o->key_len, 16);
                assert_memory_equal(o->key, "6471054506900002", 16);
                assert_int_equal(o->value_len, 3);
                assert_memory_equal(o->value, "one", 3);
                assert_null(o->headers);
        } else {
                assert_string_equal(o->topic, "dlq");
                assert_null(o->key);
                assert_int_equal(o->value_len, 0);
                assert_int_equal(o->headers_len, 15);
                assert_memory_equal(o->headers, "reason\0bad nik\0", 15);
        }
        return 0;
}

/* A journal made before layouts had versions (version 0): one coverage row
 * per worker and programme, without months, and slots alone in quota. The
 * daemon's open brings it to this layout: each row a coverage of the
 * history whose months are the programme's period (a failed one commits
 * none), each programme's committed months summed; the operator's open
 * reads it after that, and a second open changes nothing. Its outbox of
 * one row a message becomes framed rows, the messages byte for byte. */
static void test_a_journal_of_version_0_is_migrated(void **state)
{
        struct journal *j;
        struct decide_worker w = {0};
        struct journal_program_use u[2] = {
            {.program = "BPP", .used = -1, .months = -1},
            {.program = "KALTIM", .used = -1, .months = -1}};
        (void)state;

        teardown_files();
        exec_file("CREATE TABLE coverage(nik TEXT NOT NULL, program TEXT NOT NULL,"
                  "  state INTEGER NOT NULL, start_month INTEGER NOT NULL,"
                  "  end_month INTEGER NOT NULL, reg_seq INTEGER NOT NULL,"
                  "  event_id TEXT, updated_at INTEGER NOT NULL,"
                  "  PRIMARY KEY(nik, program)) WITHOUT ROWID;"
                  "CREATE TABLE quota(program TEXT PRIMARY KEY, used INTEGER NOT NULL)"
                  "  WITHOUT ROWID;"
                  "CREATE TABLE ops(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER"
                  "  NOT NULL, nik TEXT NOT NULL, program TEXT NOT NULL, event_id TEXT"
                  "  NOT NULL, item BLOB NOT NULL, reg_seq INTEGER, batch_id INTEGER,"
                  "  status INTEGER, kpj TEXT, reason TEXT);"
                  "CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT"
                  "  NOT NULL, key BLOB, value BLOB NOT NULL, headers BLOB);"
                  "INSERT INTO outbox VALUES(7, 'results', '6471054506900002', 'one',"
                  "  NULL), (9, 'dlq', NULL, '', x'726561736f6e00626164206e696b00');"
                  "CREATE VIEW coverage_now AS SELECT c.nik, c.program, c.state,"
                  "  c.start_month, c.end_month, c.reg_seq, c.event_id, c.updated_at"
                  "  FROM coverage c;"
                  /* pending, ended, failed in BPP (24300..24311); active in KALTIM */
                  "INSERT INTO coverage VALUES('6471054506900002', 'BPP', 1, 24300,"
                  "  24311, 1, 'e1', 5), ('6471051203850001', 'BPP', 3, 24300, 24311,"
                  "  2, 'e2', 5), ('6471051203850003', 'BPP', 4, 24300, 24311, 3,"
                  "  'e3', 5), ('6471054506900002', 'KALTIM', 2, 24300, 24305, 4,"
                  "  'e4', 5);"
                  "INSERT INTO quota VALUES('BPP', 1), ('KALTIM', 1);");

        for (int open = 0; open < 2; open++) {
                int64_t seen[2] = {0, 0};
                j = open_journal(JOURNAL_RECOVER);
                /* the outbox's two messages, as they were, in order */
                assert_int_equal(journal_outbox_fetch(j, -1, 10, check_v0_out, seen), 2);
                assert_int_equal(seen[0], 2);
                assert_int_equal(journal_programs_use(j, u, 2), 0);
                assert_int_equal(u[0].used, 1);
                assert_int_equal(u[0].months, 12 + 12); /* pending and ended */
                assert_int_equal(u[1].used, 1);
                assert_int_equal(u[1].months, 6);
                assert_int_equal(jt_worker(j, "6471054506900002", &w), 0);
                assert_int_equal(w.n, 2);
                assert_true(w.cov[0].live);
                assert_string_equal(w.cov[0].program, "BPP");
                assert_int_equal(w.cov[0].first_month, 24300);
                assert_int_equal(w.cov[0].last_month, 24311);
                assert_true(w.cov[1].live);
                assert_int_equal(w.cov[1].last_month, 24305);
                /* the ended one keeps its period: overstated, never under */
                assert_int_equal(jt_worker(j, "6471051203850001", &w), 0);
                assert_int_equal(w.n, 1);
                assert_false(w.cov[0].live);
                assert_int_equal(jt_worker(j, "6471051203850003", &w), 0);
                assert_int_equal(w.n, 0);
                journal_close(j);
        }
        j = open_journal(JOURNAL_OPERATOR | JOURNAL_READONLY);
        journal_close(j);
        decide_worker_release(&w);
}

/* Version 3 kept each op's item in its row: the upgrade moves the items to
 * their own table under the same seqs, and a new op never takes an old
 * one's seq. */
static int item_and_seq(const struct journal_op *op, void *opaque)
{
        char *out = opaque;
        size_t len = strlen(out);
        snprintf(out + len, 512 - len, "%lld:%.*s;", (long long)op->seq,
                 (int)op->item_len, op->item);
        return 0;
}

static void test_a_journal_of_version_3_keeps_its_items(void **state)
{
        char got[512] = "";
        struct journal *j;
        (void)state;

        teardown_files();
        exec_file("CREATE TABLE ops(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER"
                  "  NOT NULL, nik TEXT NOT NULL, program TEXT NOT NULL, event_id TEXT"
                  "  NOT NULL, item BLOB NOT NULL, reg_seq INTEGER, batch_id INTEGER,"
                  "  status INTEGER, kpj TEXT, reason TEXT);"
                  "INSERT INTO ops VALUES(4, 1, '6471054506900002', 'BPP', 'e4',"
                  "  '{\"nik\":\"a\"}', NULL, NULL, NULL, NULL, NULL),"
                  "  (5, 1, '6471051203850001', 'BPP', 'e5', '{\"nik\":\"b\"}', NULL, 2,"
                  "  5, '25000000005', NULL);"
                  "PRAGMA user_version = 3;");
        j = open_journal(JOURNAL_RECOVER);
        assert_int_equal(journal_ops_unbatched(j, 0, 10, item_and_seq, got), 1);
        assert_string_equal(got, "4:{\"nik\":\"a\"};");
        got[0] = '\0';
        assert_int_equal(journal_batch_ops(j, 2, item_and_seq, got), 1);
        assert_string_equal(got, "5:{\"nik\":\"b\"};");
        assert_int_equal(jt_begin(j), 0);
        record(j, "e6", "6471051203850003", DECIDE_REGISTER, 0);
        assert_int_equal(jt_commit(j), 0);
        got[0] = '\0';
        assert_int_equal(journal_ops_unbatched(j, 4, 10, item_and_seq, got), 1);
        assert_string_equal(got, "6:{\"nik\":\"x\"};");
        journal_close(j);
        /* opened again: nothing to upgrade, nothing changed */
        j = open_journal(JOURNAL_RECOVER);
        got[0] = '\0';
        assert_int_equal(journal_ops_unbatched(j, 0, 10, item_and_seq, got), 2);
        assert_string_equal(got, "4:{\"nik\":\"a\"};6:{\"nik\":\"x\"};");
        journal_close(j);
}

/* The first column of the first row of q, read from the file beside the
 * journal's own connection (WAL: it sees what was committed). */
static int64_t file_int(const char *q)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int64_t v = -1;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                         SQLITE_OK);
        if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
                fail_msg("%s: %s", q, sqlite3_errmsg(db));
        if (sqlite3_step(s) == SQLITE_ROW)
                v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

static struct journal *open_merging(unsigned flags, int64_t merge_rows)
{
        struct journal_open_opts o = {.merge_rows = merge_rows};
        char err[256];
        struct journal *j = NULL;
        if (journal_open_with(path, &o, flags, &j, err, sizeof(err)))
                fail_msg("%s", err);
        return j;
}

struct seen_cov {
        int state[4];
        size_t n, events;
};

static int note_event(const struct journal_ctl_event *e, void *opaque)
{
        (void)e;
        ((struct seen_cov *)opaque)->events++;
        return 0;
}

static int note_cov(const struct journal_ctl_coverage *c, void *opaque)
{
        struct seen_cov *sc = opaque;
        if (sc->n < 4)
                sc->state[sc->n] = c->state;
        sc->n++;
        return 0;
}

/* The coverages of nik as an operator reads them (a read-only handle). */
static struct seen_cov operator_sees(const char *nik)
{
        struct journal *ro = open_journal(JOURNAL_READONLY);
        struct journal_ctl_worker_fns fns = {.coverage = note_cov, .event = note_event};
        struct seen_cov sc = {{0}, 0, 0};

        assert_true(journal_ctl_worker(ro, nik, &fns, &sc) >= 0);
        journal_close(ro);
        return sc;
}

#define W1 "6471054506900002"
#define W2 "6471051203850001"
#define W3 "6471051203850003"
#define W4 "6471051203850004"
#define W5 "6471051203850005"
#define W6 "6471051203850006"
#define W7 "6471051203850007"

/* Coverage changes and decided events are appended to their logs and
 * merged into their tables once the logs hold enough rows (10 here): every
 * reader (deciding, the operator, another handle, a restart) sees each
 * coverage as its newest change left it and every event journaled, and a
 * batch that fails leaves nothing behind. */
static void test_coverage_changes_logged_then_merged(void **state)
{
        struct journal *j, *j2;
        struct decide_worker w = {0};
        struct seen_cov sc;
        (void)state;

        teardown_files();
        j = open_merging(JOURNAL_RECOVER, 10);

        /* three registrations: three images and three events in the logs,
         * none in the tables */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", W1, DECIDE_REGISTER, 0);
        record(j, "e2", W2, DECIDE_REGISTER, 1);
        record(j, "e3", W3, DECIDE_REGISTER, 2);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 3);
        assert_int_equal(file_int("SELECT count(*) FROM coverages"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM event_log"), 3);
        assert_int_equal(file_int("SELECT count(*) FROM events"), 0);
        sc = operator_sees(W1);
        assert_int_equal(sc.n, 1);
        assert_int_equal(sc.state[0], JOURNAL_COVERAGE_PENDING);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_now WHERE state = 1"),
                         3);

        /* a withdrawal (an image of an image) and a fourth registration: the
         * logs reach 10 rows and are merged, the newest image of each
         * coverage kept */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e4", W1, DECIDE_DEACTIVATE, 3);
        record(j, "e5", W4, DECIDE_REGISTER, 4);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM coverages"), 4);
        assert_int_equal(file_int("SELECT state FROM coverages WHERE nik = '" W1 "'"),
                         JOURNAL_COVERAGE_ENDED);
        assert_int_equal(file_int("SELECT CAST(value AS INTEGER) FROM meta"
                                  " WHERE key = 'log_merges'"),
                         1);
        assert_int_equal(file_int("SELECT count(*) FROM event_log"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM events"), 5);

        /* a withdrawal of a merged coverage: an image of the table's row */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e6", W2, DECIDE_DEACTIVATE, 5);
        assert_int_equal(jt_commit(j), 0);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 1);
        /* the merge emptied the log whole; its seqs go on from the last
         * merged, never from 1 again (the index reads rows after its last) */
        assert_true(file_int("SELECT min(seq) FROM coverage_log") > 4);
        assert_int_equal(file_int("SELECT state FROM coverages WHERE nik = '" W2 "'"),
                         JOURNAL_COVERAGE_PENDING);
        assert_int_equal(jt_worker(j, W2, &w), 0);
        assert_true(w.n == 0 || !w.cov[0].live);
        sc = operator_sees(W2);
        assert_int_equal(sc.n, 1);
        assert_int_equal(sc.state[0], JOURNAL_COVERAGE_ENDED);
        assert_int_equal(sc.events, 2); /* e2 from events, e6 from the log */
        assert_int_equal(jt_event_seen(j, "e6"), 1);
        assert_int_equal(jt_event_seen(j, "e1"), 1);

        /* a batch that fails after a registration keeps none of it */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e7", W5, DECIDE_REGISTER, 6);
        record(j, "e8", W6, DECIDE_DEACTIVATE, 7); /* W6 has no coverage */
        assert_int_equal(jt_commit(j), -ENOENT);
        assert_int_equal(jt_worker(j, W5, &w), 0);
        assert_int_equal(w.n, 0);
        assert_int_equal(jt_event_seen(j, "e7"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 1);
        assert_int_equal(file_int("SELECT count(*) FROM event_log"), 1);

        /* an id journaled already is refused, from the log or the table */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e6", W3, DECIDE_NOTHING, 6);
        assert_int_equal(jt_commit(j), -EIO);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", W3, DECIDE_NOTHING, 6);
        assert_int_equal(jt_commit(j), -EIO);

        /* another handle's change is seen at this one's next transaction;
         * its merge (after each change) makes this one read the log again */
        j2 = open_merging(JOURNAL_RECOVER, 1);
        assert_int_equal(jt_begin(j2), 0);
        record(j2, "e9", W7, DECIDE_REGISTER, 6);
        assert_int_equal(jt_commit(j2), 0);
        journal_close(j2);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM event_log"), 0);
        assert_int_equal(jt_event_seen(j, "e9"), 1);
        assert_int_equal(jt_worker(j, W7, &w), 0);
        assert_int_equal(w.n, 1);
        assert_true(w.cov[0].live);
        assert_int_equal(jt_worker(j, W2, &w), 0);
        assert_true(w.n == 0 || !w.cov[0].live);
        assert_int_equal(file_int("SELECT state FROM coverages WHERE nik = '" W2 "'"),
                         JOURNAL_COVERAGE_ENDED);

        /* after a restart the log left unmerged is read back */
        assert_int_equal(jt_begin(j), 0);
        record(j, "e10", W3, DECIDE_DEACTIVATE, 7);
        assert_int_equal(jt_commit(j), 0);
        journal_close(j);
        assert_int_equal(file_int("SELECT count(*) FROM coverage_log"), 1);
        j = open_merging(JOURNAL_RECOVER, 10);
        assert_int_equal(jt_worker(j, W3, &w), 0);
        assert_true(w.n == 0 || !w.cov[0].live);
        assert_int_equal(jt_event_seen(j, "e10"), 1);
        assert_int_equal(jt_worker(j, W4, &w), 0);
        assert_int_equal(w.n, 1);
        assert_true(w.cov[0].live);
        decide_worker_release(&w);
        journal_close(j);
}

/* An event still in the event log when its retention ends is pruned like
 * one in the table: pruning merges the logs first, even as the first call
 * after an open. */
static void test_an_old_event_in_the_log_is_pruned(void **state)
{
        struct journal *j;
        int64_t pruned[2];
        (void)state;

        teardown_files();
        j = open_merging(JOURNAL_RECOVER, 1000);
        assert_int_equal(jt_begin(j), 0);
        record(j, "e1", W1, DECIDE_REGISTER, 0); /* decided at 1 */
        assert_int_equal(jt_commit(j), 0);
        journal_close(j);
        assert_int_equal(file_int("SELECT count(*) FROM event_log"), 1);
        j = open_merging(JOURNAL_RECOVER, 1000);
        assert_int_equal(journal_prune(j, 0, 100, 4, 10, pruned), 0);
        assert_int_equal(pruned[1], 1);
        assert_int_equal(jt_event_seen(j, "e1"), 0);
        assert_int_equal(file_int("SELECT count(*) FROM events_cur"), 0);
        /* the coverage went into its table with the merge, and stays */
        assert_int_equal(file_int("SELECT count(*) FROM coverages"), 1);
        journal_close(j);
}

/* A journal of a newer layout than this daemon knows is refused at open,
 * unchanged, with the reason. */
static void test_a_newer_layout_is_refused(void **state)
{
        struct journal *j = NULL;
        char err[256];
        (void)state;

        teardown_files();
        journal_close(open_journal(JOURNAL_RECOVER));
        exec_file("PRAGMA user_version = 99");
        assert_int_equal(journal_open(path, JOURNAL_RECOVER, &j, err, sizeof(err)),
                         -EPROTO);
        assert_null(j);
        if (!strstr(err, "layout 99, made by a newer bpjs-sync"))
                fail_msg("the reason: %s", err);
}

static int teardown_files(void)
{
        char p[80];
        unlink(path);
        snprintf(p, sizeof(p), "%s-wal", path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", path);
        unlink(p);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return teardown_files();
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_promises),
            cmocka_unit_test(test_pruning),
            cmocka_unit_test(test_a_pruned_body_leaves_no_trace),
            cmocka_unit_test(test_long_history_still_refused),
            cmocka_unit_test_teardown(test_refused_writes_then_room_again, unfreeze),
            cmocka_unit_test(test_pruning_keeps_only_what_is_needed),
            cmocka_unit_test(test_a_journal_of_version_0_is_migrated),
            cmocka_unit_test(test_a_journal_of_version_3_keeps_its_items),
            cmocka_unit_test(test_a_newer_layout_is_refused),
            cmocka_unit_test(test_coverage_changes_logged_then_merged),
            cmocka_unit_test(test_an_old_event_in_the_log_is_pruned)};
        return cmocka_run_group_tests(tests, setup, teardown);
}
