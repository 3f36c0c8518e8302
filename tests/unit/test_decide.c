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
                decide(&ev, p, &w, r->quota_used, &d);
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
                decide(&ev, &late, &w, 0, &d);
                snprintf(want, sizeof(want), "MONTH-%02d", k);
                if (d.status != RESULT_DUPLICATE || !d.covered_by ||
                    strcmp(d.covered_by, want) || d.action != DECIDE_NOTHING)
                        fail_msg("overlap with coverage %d: got %s covered_by %s", k + 1,
                                 result_status_name(d.status),
                                 d.covered_by ? d.covered_by : "(none)");
                /* one month later than the last: nothing overlaps, confirmed */
                late.start_month = late.end_month = M(2020, 1) + 40;
                decide(&ev, &late, &w, 0, &d);
                assert_int_equal(d.status, RESULT_CONFIRMED);
                assert_int_equal(d.action, DECIDE_REGISTER);
                decide_worker_release(&w);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_rule2_reads_the_whole_history)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
