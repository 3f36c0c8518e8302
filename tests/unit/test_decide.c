/* The deciding rules of docs/events.md, one row a rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "decide.h"

#define M(y, m) ((int64_t)(y)*12 + (m)-1)

static struct conf_program programs[] = {
    {.id = "BPP-DIFABEL-2025",
     .payer_level = PAYER_CITY,
     .quota = 10000,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    {.id = "KALTIM-RENTAN-2025",
     .payer_level = PAYER_PROVINCE,
     .quota = 10000,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    {.id = "SORONG-RENTAN-2024",
     .payer_level = PAYER_CITY,
     .quota = 19336,
     .start_month = M(2024, 1),
     .end_month = M(2024, 12)},
    {.id = "BPP-DIFABEL-2026H1",
     .payer_level = PAYER_CITY,
     .quota = 1,
     .start_month = M(2025, 12),
     .end_month = M(2026, 6)},
};

enum { BPP, KALTIM, SORONG, BPP2026, UNKNOWN };

struct row {
        const char *rule;
        enum event_type type;
        int program;    /* index into programs, or UNKNOWN */
        int covered[3]; /* the worker's live coverages (index+1; 0 ends) */
        int64_t quota_used;
        enum result_status want;
        enum reason reason;
        int covered_by; /* index+1 for duplicate */
        enum decide_action action;
        bool dead_letter;
};

static const struct row rows[] = {
    {"1: an unknown programme is rejected, with a dead letter",
     EVENT_SUBMITTED,
     UNKNOWN,
     {0},
     0,
     RESULT_REJECTED,
     REASON_UNKNOWN_PROGRAM,
     0,
     DECIDE_NOTHING,
     true},
    {"1: a withdrawal for an unknown programme likewise",
     EVENT_WITHDRAWN,
     UNKNOWN,
     {0},
     0,
     RESULT_REJECTED,
     REASON_UNKNOWN_PROGRAM,
     0,
     DECIDE_NOTHING,
     true},
    {"4: an uncovered worker is confirmed",
     EVENT_SUBMITTED,
     BPP,
     {0},
     0,
     RESULT_CONFIRMED,
     REASON_NONE,
     0,
     DECIDE_REGISTER,
     false},
    {"2: covered by the same programme is a duplicate of it",
     EVENT_SUBMITTED,
     BPP,
     {BPP + 1},
     1,
     RESULT_DUPLICATE,
     REASON_NONE,
     BPP + 1,
     DECIDE_NOTHING,
     false},
    {"2: city cover makes the province's submission a duplicate",
     EVENT_SUBMITTED,
     KALTIM,
     {BPP + 1},
     0,
     RESULT_DUPLICATE,
     REASON_NONE,
     BPP + 1,
     DECIDE_NOTHING,
     false},
    {"2: province cover makes the city's submission a duplicate",
     EVENT_SUBMITTED,
     BPP,
     {KALTIM + 1},
     0,
     RESULT_DUPLICATE,
     REASON_NONE,
     KALTIM + 1,
     DECIDE_NOTHING,
     false},
    {"2: a non-overlapping period is no duplicate",
     EVENT_SUBMITTED,
     BPP,
     {SORONG + 1},
     0,
     RESULT_CONFIRMED,
     REASON_NONE,
     0,
     DECIDE_REGISTER,
     false},
    {"2: one shared month is an overlap",
     EVENT_SUBMITTED,
     BPP2026,
     {BPP + 1},
     0,
     RESULT_DUPLICATE,
     REASON_NONE,
     BPP + 1,
     DECIDE_NOTHING,
     false},
    {"3: a full programme rejects with quota_exceeded",
     EVENT_SUBMITTED,
     BPP,
     {0},
     10000,
     RESULT_REJECTED,
     REASON_QUOTA_EXCEEDED,
     0,
     DECIDE_NOTHING,
     false},
    {"3: the last slot can be taken",
     EVENT_SUBMITTED,
     BPP,
     {0},
     9999,
     RESULT_CONFIRMED,
     REASON_NONE,
     0,
     DECIDE_REGISTER,
     false},
    {"2 before 3: a duplicate in a full programme is a duplicate",
     EVENT_SUBMITTED,
     BPP,
     {BPP + 1},
     10000,
     RESULT_DUPLICATE,
     REASON_NONE,
     BPP + 1,
     DECIDE_NOTHING,
     false},
    {"5: a withdrawal ends the covering programme's cover",
     EVENT_WITHDRAWN,
     BPP,
     {BPP + 1},
     1,
     RESULT_CONFIRMED,
     REASON_NONE,
     0,
     DECIDE_DEACTIVATE,
     false},
    {"5: a withdrawal for another programme is ignored",
     EVENT_WITHDRAWN,
     KALTIM,
     {BPP + 1},
     1,
     RESULT_IGNORED,
     REASON_NONE,
     0,
     DECIDE_NOTHING,
     false},
    {"5: a withdrawal for an uncovered worker is ignored",
     EVENT_WITHDRAWN,
     BPP,
     {0},
     0,
     RESULT_IGNORED,
     REASON_NONE,
     0,
     DECIDE_NOTHING,
     false},
    {"5: a withdrawal in a full programme still ends cover",
     EVENT_WITHDRAWN,
     BPP,
     {SORONG + 1, BPP + 1},
     10000,
     RESULT_CONFIRMED,
     REASON_NONE,
     0,
     DECIDE_DEACTIVATE,
     false},
};

static void test_rules(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const struct row *r = &rows[i];
                struct event ev = {.type = r->type};
                struct decide_worker w = {0};
                struct decision d;
                const struct conf_program *p =
                    r->program == UNKNOWN ? NULL : &programs[r->program];

                for (size_t k = 0; k < 3 && r->covered[k]; k++) {
                        const struct conf_program *c = &programs[r->covered[k] - 1];
                        assert_int_equal(
                            decide_worker_add(&w, c->id, c->start_month, c->end_month),
                            0);
                }
                decide(&ev, p, &w, &(struct decide_use){.used = r->quota_used}, &d);
                if (d.status != r->want || d.reason != r->reason ||
                    d.action != r->action || d.dead_letter != r->dead_letter)
                        fail_msg("%s: got %s/%s action %d dlq %d", r->rule,
                                 result_status_name(d.status), reason_name(d.reason),
                                 d.action, d.dead_letter);
                if (r->covered_by &&
                    (!d.covered_by ||
                     strcmp(d.covered_by, programs[r->covered_by - 1].id)))
                        fail_msg("%s: covered_by %s", r->rule,
                                 d.covered_by ? d.covered_by : "(none)");
                if (!r->covered_by && d.covered_by)
                        fail_msg("%s: unexpected covered_by %s", r->rule, d.covered_by);
                decide_worker_release(&w);
        }
}

/* Rule 2 on a long history: 40 live coverages, one a month from 2020 on
 * (none overlapping), and an enrolment whose period overlaps only the 17th
 * or a later one. Each is a duplicate, covered by exactly that one; decide
 * reads the whole history, not the first 16 rows. */
static void test_rule2_reads_the_whole_history(void **state)
{
        static const int overlapping[] = {16, 17, 31, 39};
        (void)state;
        for (size_t t = 0; t < sizeof(overlapping) / sizeof(overlapping[0]); t++) {
                struct decide_worker w = {0};
                struct event ev = {.type = EVENT_SUBMITTED};
                struct decision d;
                char want[16];
                int k = overlapping[t];
                struct conf_program late = {.id = "LATE-ONE-MONTH",
                                            .quota = 10,
                                            .start_month = M(2020, 1) + k,
                                            .end_month = M(2020, 1) + k};

                for (int i = 0; i < 40; i++) {
                        char id[16];
                        snprintf(id, sizeof(id), "MONTH-%02d", i);
                        assert_int_equal(
                            decide_worker_add(&w, id, M(2020, 1) + i, M(2020, 1) + i), 0);
                }
                assert_int_equal(w.n, 40);
                decide(&ev, &late, &w, &(struct decide_use){0}, &d);
                snprintf(want, sizeof(want), "MONTH-%02d", k);
                if (d.status != RESULT_DUPLICATE || !d.covered_by ||
                    strcmp(d.covered_by, want) || d.action != DECIDE_NOTHING)
                        fail_msg("overlap with coverage %d: got %s covered_by %s", k + 1,
                                 result_status_name(d.status),
                                 d.covered_by ? d.covered_by : "(none)");
                /* one month later than the last: nothing overlaps, confirmed */
                late.start_month = late.end_month = M(2020, 1) + 40;
                decide(&ev, &late, &w, &(struct decide_use){0}, &d);
                assert_int_equal(d.status, RESULT_CONFIRMED);
                assert_int_equal(d.action, DECIDE_REGISTER);
                decide_worker_release(&w);
        }
}

/* decide_apply, one row a change: what a decision does to the in-memory
 * view the batch's next message is decided with. The view is the worker's
 * live coverages (programme indices+1, 0 ends) and the programme's slots. */
struct apply_row {
        const char *what;
        enum decide_action action;
        int program;   /* the decision's programme */
        int before[4]; /* live coverages before */
        int64_t used;  /* the programme's slots before */
        int after[4];  /* live coverages after, in order */
        int64_t used_after;
};

static const struct apply_row apply_rows[] = {
    {"register: the worker gains the programme's period, the programme a slot",
     DECIDE_REGISTER,
     BPP,
     {0},
     4,
     {BPP + 1},
     5},
    {"register beside other coverages: appended, the others kept",
     DECIDE_REGISTER,
     BPP2026,
     {SORONG + 1},
     0,
     {SORONG + 1, BPP2026 + 1},
     1},
    {"deactivate: the programme's coverage goes, its slot is freed",
     DECIDE_DEACTIVATE,
     BPP,
     {BPP + 1},
     3,
     {0},
     2},
    {"deactivate the last of two: only that programme's goes",
     DECIDE_DEACTIVATE,
     BPP,
     {SORONG + 1, BPP + 1},
     7,
     {SORONG + 1},
     6},
    {"deactivate the first of two: the other stays, period and all",
     DECIDE_DEACTIVATE,
     SORONG,
     {SORONG + 1, BPP + 1},
     7,
     {BPP + 1},
     6},
    {"deactivate a programme the worker is not in: nothing changes",
     DECIDE_DEACTIVATE,
     KALTIM,
     {SORONG + 1},
     7,
     {SORONG + 1},
     7},
    {"nothing (duplicate, rejected, ignored): nothing changes",
     DECIDE_NOTHING,
     BPP,
     {BPP + 1},
     9,
     {BPP + 1},
     9},
    {"nothing for an uncovered worker: nothing changes",
     DECIDE_NOTHING,
     KALTIM,
     {0},
     0,
     {0},
     0},
};

static void test_apply_carries_each_change(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(apply_rows) / sizeof(apply_rows[0]); i++) {
                const struct apply_row *r = &apply_rows[i];
                const struct conf_program *p = &programs[r->program];
                struct decision d = {.status =
                                         r->action ? RESULT_CONFIRMED : RESULT_DUPLICATE,
                                     .action = r->action};
                struct decide_worker w = {0};
                struct decide_use use = {.used = r->used};
                size_t n = 0;

                for (size_t k = 0; k < 4 && r->before[k]; k++) {
                        const struct conf_program *c = &programs[r->before[k] - 1];
                        assert_int_equal(
                            decide_worker_add(&w, c->id, c->start_month, c->end_month),
                            0);
                }
                if (d.action == DECIDE_DEACTIVATE)
                        d.last_month = -1; /* ends before it starts: no months */
                assert_int_equal(decide_apply(&d, p, &w, &use), 0);
                while (n < 4 && r->after[n])
                        n++;
                if (w.n != n || use.used != r->used_after)
                        fail_msg("%s: %zu coverages and %lld slots, want %zu and %lld",
                                 r->what, w.n, (long long)use.used, n,
                                 (long long)r->used_after);
                for (size_t k = 0; k < n; k++) {
                        const struct conf_program *c = &programs[r->after[k] - 1];
                        if (strcmp(w.cov[k].program, c->id) ||
                            w.cov[k].start_month != c->start_month ||
                            w.cov[k].end_month != c->end_month)
                                fail_msg("%s: coverage %zu is %s %lld..%lld, want %s",
                                         r->what, k, w.cov[k].program,
                                         (long long)w.cov[k].start_month,
                                         (long long)w.cov[k].end_month, c->id);
                }
                decide_worker_release(&w);
        }
}

/* One worker's events, in order, decided with decide and carried with
 * decide_apply as consume does within a batch: every decision is the one
 * docs/events.md gives for the state the earlier ones left. */
static void test_a_sequence_for_one_worker(void **state)
{
        static const struct {
                const char *what;
                enum event_type type;
                int program;
                enum result_status want;
                enum reason reason;
                int covered_by; /* index+1 for duplicate */
                enum decide_action action;
        } steps[] = {
            {"enrolled in BPP", EVENT_SUBMITTED, BPP, RESULT_CONFIRMED, REASON_NONE, 0,
             DECIDE_REGISTER},
            {"the province's overlapping programme: a duplicate of BPP", EVENT_SUBMITTED,
             KALTIM, RESULT_DUPLICATE, REASON_NONE, BPP + 1, DECIDE_NOTHING},
            {"BPP again: a duplicate of itself", EVENT_SUBMITTED, BPP, RESULT_DUPLICATE,
             REASON_NONE, BPP + 1, DECIDE_NOTHING},
            {"2024, no overlap: confirmed beside BPP", EVENT_SUBMITTED, SORONG,
             RESULT_CONFIRMED, REASON_NONE, 0, DECIDE_REGISTER},
            {"withdrawn from a programme never joined: ignored", EVENT_WITHDRAWN, KALTIM,
             RESULT_IGNORED, REASON_NONE, 0, DECIDE_NOTHING},
            {"withdrawn from BPP", EVENT_WITHDRAWN, BPP, RESULT_CONFIRMED, REASON_NONE, 0,
             DECIDE_DEACTIVATE},
            {"withdrawn from BPP twice: ignored", EVENT_WITHDRAWN, BPP, RESULT_IGNORED,
             REASON_NONE, 0, DECIDE_NOTHING},
            {"now the province's is free", EVENT_SUBMITTED, KALTIM, RESULT_CONFIRMED,
             REASON_NONE, 0, DECIDE_REGISTER},
            {"and BPP a duplicate of it", EVENT_SUBMITTED, BPP, RESULT_DUPLICATE,
             REASON_NONE, KALTIM + 1, DECIDE_NOTHING},
            {"withdrawn from the province's", EVENT_WITHDRAWN, KALTIM, RESULT_CONFIRMED,
             REASON_NONE, 0, DECIDE_DEACTIVATE},
            {"re-enrolled in BPP", EVENT_SUBMITTED, BPP, RESULT_CONFIRMED, REASON_NONE, 0,
             DECIDE_REGISTER},
            {"withdrawn from BPP", EVENT_WITHDRAWN, BPP, RESULT_CONFIRMED, REASON_NONE, 0,
             DECIDE_DEACTIVATE},
            {"2026H1, its one slot held by another worker: quota full", EVENT_SUBMITTED,
             BPP2026, RESULT_REJECTED, REASON_QUOTA_EXCEEDED, 0, DECIDE_NOTHING},
        };
        /* slots of each programme; BPP2026's one is another worker's */
        struct decide_use used[4] = {{0}, {0}, {0}, {.used = 1}};
        struct decide_worker w = {0};
        (void)state;

        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                const struct conf_program *p = &programs[steps[i].program];
                struct event ev = {.type = steps[i].type};
                struct decision d;

                decide(&ev, p, &w, &used[steps[i].program], &d);
                if (d.status != steps[i].want || d.reason != steps[i].reason ||
                    d.action != steps[i].action)
                        fail_msg("step %zu, %s: got %s/%s action %d", i + 1,
                                 steps[i].what, result_status_name(d.status),
                                 reason_name(d.reason), d.action);
                if (steps[i].covered_by
                        ? !d.covered_by ||
                              strcmp(d.covered_by, programs[steps[i].covered_by - 1].id)
                        : d.covered_by != NULL)
                        fail_msg("step %zu, %s: covered_by %s", i + 1, steps[i].what,
                                 d.covered_by ? d.covered_by : "(none)");
                assert_int_equal(decide_apply(&d, p, &w, &used[steps[i].program]), 0);
        }
        /* what is left: SORONG alone, and the slots that says */
        assert_int_equal(w.n, 1);
        assert_string_equal(w.cov[0].program, programs[SORONG].id);
        assert_int_equal(used[BPP].used, 0);
        assert_int_equal(used[KALTIM].used, 0);
        assert_int_equal(used[SORONG].used, 1);
        assert_int_equal(used[BPP2026].used, 1);
        decide_worker_release(&w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_rule2_reads_the_whole_history),
            cmocka_unit_test(test_apply_carries_each_change),
            cmocka_unit_test(test_a_sequence_for_one_worker)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
