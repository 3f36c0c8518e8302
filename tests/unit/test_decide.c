/* The deciding rules of docs/events.md, one row a rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "decide.h"

#define M(y, m)  ((int64_t)(y)*12 + (m)-1)
#define JAN_2025 "2025-01-06T08:15:00+08:00"

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
                struct event ev = {.type = r->type, .occurred_at = JAN_2025};
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
                struct event ev = {.type = EVENT_SUBMITTED,
                                   .occurred_at = "2020-01-15T10:00:00+07:00"};
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

                /* each in a month of its programme's period */
                snprintf(ev.occurred_at, sizeof(ev.occurred_at), "%s",
                         steps[i].program == SORONG ? "2024-05-02T09:00:00+09:00"
                                                    : JAN_2025);

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
        /* what is left: SORONG live, and the first BPP coverage, ended in
         * its first month (January paid: a later coverage starts after it);
         * the later ones, withdrawn before they started, had no months */
        assert_int_equal(w.n, 2);
        assert_string_equal(w.cov[0].program, programs[BPP].id);
        assert_false(w.cov[0].live);
        assert_int_equal(w.cov[0].first_month, M(2025, 1));
        assert_int_equal(w.cov[0].last_month, M(2025, 1));
        assert_string_equal(w.cov[1].program, programs[SORONG].id);
        assert_true(w.cov[1].live);
        assert_int_equal(used[BPP].used, 0);
        assert_int_equal(used[KALTIM].used, 0);
        assert_int_equal(used[SORONG].used, 1);
        assert_int_equal(used[BPP2026].used, 1);
        decide_worker_release(&w);
}

/* --- periods, eligibility, budgets: docs/events.md, "Eligibility" and
 * "Budget and committed premium" --- */

static char penjahit[] = "penjahit", nelayan[] = "nelayan";
static char *occupations[] = {penjahit, nelayan};

/* The programmes of config/example.yaml, and some made for a boundary. */
static struct conf_program rules_programs[] = {
    {.id = "BPP-DIFABEL-2025",
     .monthly_premium = 16800,
     .quota = 10000,
     .budget = 1900000000,
     .eligibility = {.disability = true},
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    {.id = "KALTIM-RENTAN-2025",
     .monthly_premium = 16800,
     .quota = 10000,
     .budget = -1,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    {.id = "BPP-PEREMPUAN-KK-2026",
     .monthly_premium = 16800,
     .quota = 5000,
     .budget = -1,
     .eligibility =
         {.sex = 'F', .head_of_household = true, .has_min_age = true, .min_age = 18},
     .start_month = M(2026, 1),
     .end_month = M(2026, 12)},
    /* a leap year, two age bounds and occupations */
    {.id = "AGES-2028",
     .monthly_premium = 16800,
     .quota = 10,
     .budget = -1,
     .eligibility = {.has_min_age = true,
                     .min_age = 20,
                     .has_max_age = true,
                     .max_age = 60,
                     .occupations = occupations,
                     .n_occupations = 2},
     .start_month = M(2028, 1),
     .end_month = M(2028, 12)},
    /* every criterion, for their order */
    {.id = "ALL-2025",
     .monthly_premium = 16800,
     .quota = 10,
     .budget = -1,
     .eligibility = {.disability = true,
                     .sex = 'M',
                     .head_of_household = true,
                     .has_min_age = true,
                     .min_age = 18,
                     .has_max_age = true,
                     .max_age = 60,
                     .occupations = occupations,
                     .n_occupations = 2},
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    /* Rp10,000 a month, Rp1,200,000: 120 months exactly */
    {.id = "BUDGET-120",
     .monthly_premium = 10000,
     .quota = 1000,
     .budget = 1200000,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    /* one Rupiah less: 119 months and Rp9,999 */
    {.id = "BUDGET-119",
     .monthly_premium = 10000,
     .quota = 1000,
     .budget = 1199999,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    /* a budget of nothing */
    {.id = "BUDGET-0",
     .monthly_premium = 16800,
     .quota = 1000,
     .budget = 0,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
};

enum { R_BPP, R_KALTIM, R_KK, R_AGES, R_ALL, R_B120, R_B119, R_B0, R_NONE };

/* The worker a row sends: a woman with a disability, born 5 June 1990,
 * head of household, a tailor; a row changes what it needs. */
struct worker_fields {
        const char *birth_date; /* NULL: 1990-06-05 */
        char sex;               /* 0: 'F'; 'X': none */
        int disability;         /* 0: true; else the value - 10 (-1, 0, 1) */
        int head_of_household;  /* likewise */
        const char *occupation; /* NULL: penjahit; "": none given */
};

/* One of the worker's coverages before the event. */
struct view_cov {
        int program; /* index into rules_programs; R_NONE ends the list */
        int64_t first, last;
        bool live;
};

struct rule_row {
        const char *rule;
        enum event_type type;
        int program;
        const char *at; /* occurred_at */
        struct worker_fields worker;
        struct view_cov view[3];
        struct decide_use use;
        enum result_status want;
        enum reason reason;
        const char *detail;
        int64_t first, last, months; /* of a register or deactivate */
};

#define VIEW_NONE                                                                        \
        {                                                                                \
                {                                                                        \
                        R_NONE, 0, 0, false                                              \
                }                                                                        \
        }
#define LIVE(p, f, l)                                                                    \
        {                                                                                \
                p, f, l, true                                                            \
        }
#define ENDED(p, f, l)                                                                   \
        {                                                                                \
                p, f, l, false                                                           \
        }
#define V(a)                                                                             \
        {                                                                                \
                a,                                                                       \
                {                                                                        \
                        R_NONE, 0, 0, false                                              \
                }                                                                        \
        }
#define V2(a, b)                                                                         \
        {                                                                                \
                a, b,                                                                    \
                {                                                                        \
                        R_NONE, 0, 0, false                                              \
                }                                                                        \
        }

static const struct rule_row rule_rows[] = {
    /* rule 2: the month of occurred_at as written, against the period */
    {"2: January, the whole year: 12 months (Rp201,600)",
     EVENT_SUBMITTED,
     R_BPP,
     "2025-01-06T08:15:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"2: October: 3 months (Rp50,400)",
     EVENT_SUBMITTED,
     R_BPP,
     "2025-10-20T10:00:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 10),
     M(2025, 12),
     3},
    {"2: the period's last month is taken: 1 month",
     EVENT_SUBMITTED,
     R_BPP,
     "2025-12-31T23:59:59+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 12),
     M(2025, 12),
     1},
    {"2: the first month after the period is program_closed",
     EVENT_SUBMITTED,
     R_BPP,
     "2026-01-01T00:00:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "occurred_at",
     0,
     0,
     0},
    {"2: 00:30 on 1 January at +08:00 is January as written (December in UTC)",
     EVENT_SUBMITTED,
     R_BPP,
     "2026-01-01T00:30:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "occurred_at",
     0,
     0,
     0},
    {"2: 23:30 on 31 December at -05:00 is December as written (January in UTC)",
     EVENT_SUBMITTED,
     R_BPP,
     "2025-12-31T23:30:00-05:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 12),
     M(2025, 12),
     1},
    {"2: a month before the start is taken, its coverage starts with the period",
     EVENT_SUBMITTED,
     R_BPP,
     "2024-11-20T10:00:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"2: years before the start likewise",
     EVENT_SUBMITTED,
     R_BPP,
     "1970-01-01T00:00:00Z",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"2: far after the end: program_closed",
     EVENT_SUBMITTED,
     R_BPP,
     "9999-12-31T23:59:59Z",
     {0},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "occurred_at",
     0,
     0,
     0},
    {"2 before 3: a closed programme's ineligible worker is program_closed",
     EVENT_SUBMITTED,
     R_BPP,
     "2026-02-01T00:00:00+08:00",
     {.disability = 10},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "occurred_at",
     0,
     0,
     0},
    {"2: a withdrawal after the period still ends the coverage, releasing nothing",
     EVENT_WITHDRAWN,
     R_BPP,
     "2026-03-01T00:00:00+08:00",
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1, .months = 12},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     0},

    /* rule 3: each criterion failing alone */
    {"3: disability false",
     EVENT_SUBMITTED,
     R_BPP,
     JAN_2025,
     {.disability = 10},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "disability",
     0,
     0,
     0},
    {"3: disability absent",
     EVENT_SUBMITTED,
     R_BPP,
     JAN_2025,
     {.disability = 9},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "disability",
     0,
     0,
     0},
    {"3: a programme without criteria takes a worker without a disability",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {.disability = 10},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"3: sex M for a women's programme",
     EVENT_SUBMITTED,
     R_KK,
     "2026-01-10T09:00:00+08:00",
     {.sex = 'M'},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "sex",
     0,
     0,
     0},
    {"3: head_of_household false",
     EVENT_SUBMITTED,
     R_KK,
     "2026-01-10T09:00:00+08:00",
     {.head_of_household = 10},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "head_of_household",
     0,
     0,
     0},
    {"3: head_of_household absent",
     EVENT_SUBMITTED,
     R_KK,
     "2026-01-10T09:00:00+08:00",
     {.head_of_household = 9},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "head_of_household",
     0,
     0,
     0},
    {"3: a woman head of household, 35: taken",
     EVENT_SUBMITTED,
     R_KK,
     "2026-01-10T09:00:00+08:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2026, 1),
     M(2026, 12),
     12},
    {"3: min_age 18, the day before the 18th birthday",
     EVENT_SUBMITTED,
     R_KK,
     "2026-03-14T23:59:59+08:00",
     {.birth_date = "2008-03-15"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "min_age",
     0,
     0,
     0},
    {"3: min_age 18, on the 18th birthday",
     EVENT_SUBMITTED,
     R_KK,
     "2026-03-15T00:00:00+08:00",
     {.birth_date = "2008-03-15"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2026, 3),
     M(2026, 12),
     10},
    {"3: the birthday as written: 15 March at +08:00, 14 March in UTC",
     EVENT_SUBMITTED,
     R_KK,
     "2026-03-15T01:00:00+08:00",
     {.birth_date = "2008-03-15"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2026, 3),
     M(2026, 12),
     10},
    {"3: born 29 February, non-leap year: 17 on 28 February",
     EVENT_SUBMITTED,
     R_KK,
     "2026-02-28T12:00:00+08:00",
     {.birth_date = "2008-02-29"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "min_age",
     0,
     0,
     0},
    {"3: born 29 February, non-leap year: 18 on 1 March",
     EVENT_SUBMITTED,
     R_KK,
     "2026-03-01T00:00:00+08:00",
     {.birth_date = "2008-02-29"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2026, 3),
     M(2026, 12),
     10},
    {"3: born 29 February, leap year: 19 on 28 February",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-02-28T12:00:00+08:00",
     {.birth_date = "2008-02-29"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "min_age",
     0,
     0,
     0},
    {"3: born 29 February, leap year: 20 on 29 February",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-02-29T00:00:00+08:00",
     {.birth_date = "2008-02-29"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2028, 2),
     M(2028, 12),
     11},
    {"3: max_age 60, the day before the 61st birthday",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-06-30T12:00:00+08:00",
     {.birth_date = "1967-07-01"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2028, 6),
     M(2028, 12),
     7},
    {"3: max_age 60, on the 61st birthday",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-07-01T00:00:00+08:00",
     {.birth_date = "1967-07-01"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "max_age",
     0,
     0,
     0},
    {"3: born after the event's date: under any min_age",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-07-01T00:00:00+08:00",
     {.birth_date = "2030-01-01"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "min_age",
     0,
     0,
     0},
    {"3: an occupation listed",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-01-03T08:00:00+08:00",
     {.occupation = "nelayan"},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2028, 1),
     M(2028, 12),
     12},
    {"3: occupations compared exactly",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-01-03T08:00:00+08:00",
     {.occupation = "Penjahit"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "occupations",
     0,
     0,
     0},
    {"3: no occupation given",
     EVENT_SUBMITTED,
     R_AGES,
     "2028-01-03T08:00:00+08:00",
     {.occupation = ""},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "occupations",
     0,
     0,
     0},
    /* rule 3's order: the first failed criterion of the table is named */
    {"3: failing every criterion names disability",
     EVENT_SUBMITTED,
     R_ALL,
     JAN_2025,
     {.birth_date = "1950-01-01",
      .sex = 'F',
      .disability = 10,
      .head_of_household = 10,
      .occupation = "petani"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "disability",
     0,
     0,
     0},
    {"3: all but disability names sex",
     EVENT_SUBMITTED,
     R_ALL,
     JAN_2025,
     {.birth_date = "2010-01-01",
      .sex = 'F',
      .head_of_household = 10,
      .occupation = "petani"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "sex",
     0,
     0,
     0},
    {"3: head_of_household, min_age and occupations: head_of_household",
     EVENT_SUBMITTED,
     R_ALL,
     JAN_2025,
     {.birth_date = "2010-01-01",
      .sex = 'M',
      .head_of_household = 9,
      .occupation = "petani"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "head_of_household",
     0,
     0,
     0},
    {"3: max_age and occupations: max_age",
     EVENT_SUBMITTED,
     R_ALL,
     JAN_2025,
     {.birth_date = "1950-01-01", .sex = 'M', .occupation = "petani"},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "max_age",
     0,
     0,
     0},
    {"3: every criterion holds",
     EVENT_SUBMITTED,
     R_ALL,
     JAN_2025,
     {.sex = 'M'},
     VIEW_NONE,
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"3 before 4: an ineligible worker already covered is not_eligible",
     EVENT_SUBMITTED,
     R_BPP,
     JAN_2025,
     {.disability = 10},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1},
     RESULT_REJECTED,
     REASON_NOT_ELIGIBLE,
     "disability",
     0,
     0,
     0},

    /* rule 4: only live coverages make a duplicate */
    {"4: a live coverage makes a duplicate",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {0},
     RESULT_DUPLICATE,
     REASON_NONE,
     NULL,
     0,
     0,
     0},
    {"4: an ended one does not; the new coverage starts after its months",
     EVENT_SUBMITTED,
     R_BPP,
     "2025-06-02T08:00:00+08:00",
     {0},
     V(ENDED(R_BPP, M(2025, 1), M(2025, 3))),
     {.months = 3},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 6),
     M(2025, 12),
     7},
    {"4: the province takes over in the month of the city's withdrawal: from the "
     "month after (Rp151,200)",
     EVENT_SUBMITTED,
     R_KALTIM,
     "2025-03-20T08:00:00+08:00",
     {0},
     V(ENDED(R_BPP, M(2025, 1), M(2025, 3))),
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 4),
     M(2025, 12),
     9},
    {"4: the latest of several paid coverages decides the start",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     V2(ENDED(R_BPP, M(2025, 1), M(2025, 5)), ENDED(R_ALL, M(2025, 1), M(2025, 2))),
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 6),
     M(2025, 12),
     7},
    {"4: an ended coverage without months does not push the start",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     V(ENDED(R_BPP, M(2025, 4), M(2025, 3))),
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"4: a coverage of a period that does not overlap does not push the start",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     V(ENDED(R_KK, M(2026, 1), M(2026, 12))),
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"4: earlier coverage paid through the period's end: no month left, "
     "program_closed",
     EVENT_SUBMITTED,
     R_KALTIM,
     "2025-12-05T08:00:00+08:00",
     {0},
     V(ENDED(R_BPP, M(2025, 1), M(2025, 12))),
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "period",
     0,
     0,
     0},
    {"4: paid through the period's last month but one: that month is left",
     EVENT_SUBMITTED,
     R_KALTIM,
     "2025-03-05T08:00:00+08:00",
     {0},
     V(ENDED(R_BPP, M(2025, 1), M(2025, 11))),
     {0},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 12),
     M(2025, 12),
     1},
    {"4: an absurd last month from the journal: no month left, no overflow",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     V(ENDED(R_BPP, INT64_MIN, INT64_MAX)),
     {0},
     RESULT_REJECTED,
     REASON_PROGRAM_CLOSED,
     "period",
     0,
     0,
     0},

    /* rule 5: quota, then budget */
    {"5: quota before budget",
     EVENT_SUBMITTED,
     R_B120,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.used = 1000, .months = 1000},
     RESULT_REJECTED,
     REASON_QUOTA_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: the budget's last Rupiah is spendable (120 months of 120)",
     EVENT_SUBMITTED,
     R_B120,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.used = 9, .months = 108},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},
    {"5: one month over: budget_exceeded",
     EVENT_SUBMITTED,
     R_B120,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.used = 9, .months = 109},
     RESULT_REJECTED,
     REASON_BUDGET_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: one Rupiah over: budget_exceeded",
     EVENT_SUBMITTED,
     R_B119,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.used = 9, .months = 108},
     RESULT_REJECTED,
     REASON_BUDGET_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: a later month costs less and fits",
     EVENT_SUBMITTED,
     R_B119,
     "2025-02-01T00:00:00+07:00",
     {0},
     VIEW_NONE,
     {.used = 9, .months = 108},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 2),
     M(2025, 12),
     11},
    {"5: a budget of 0",
     EVENT_SUBMITTED,
     R_B0,
     "2025-12-01T00:00:00+07:00",
     {0},
     VIEW_NONE,
     {0},
     RESULT_REJECTED,
     REASON_BUDGET_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: committed months near 64 bits: over any budget, no overflow",
     EVENT_SUBMITTED,
     R_BPP,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.months = INT64_MAX - 5},
     RESULT_REJECTED,
     REASON_BUDGET_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: a product past 64 bits likewise",
     EVENT_SUBMITTED,
     R_BPP,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.months = INT64_MAX / 16800 + 1},
     RESULT_REJECTED,
     REASON_BUDGET_EXCEEDED,
     NULL,
     0,
     0,
     0},
    {"5: without a budget, committed months do not matter",
     EVENT_SUBMITTED,
     R_KALTIM,
     JAN_2025,
     {0},
     VIEW_NONE,
     {.months = INT64_MAX},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     12},

    /* rule 7: a withdrawal ends at its month, releasing the months after */
    {"7: withdrawn in March: January to March kept, 9 months released",
     EVENT_WITHDRAWN,
     R_BPP,
     "2025-03-15T08:00:00+08:00",
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1, .months = 12},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 3),
     -9},
    {"7: withdrawn in its start month: that month kept",
     EVENT_WITHDRAWN,
     R_BPP,
     JAN_2025,
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1, .months = 12},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 1),
     -11},
    {"7: withdrawn in its last month: nothing released",
     EVENT_WITHDRAWN,
     R_BPP,
     "2025-12-01T00:00:00+08:00",
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1, .months = 12},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2025, 12),
     0},
    {"7: withdrawn before the coverage starts: no months left, all released",
     EVENT_WITHDRAWN,
     R_BPP,
     "2025-02-10T08:00:00+08:00",
     {0},
     V(LIVE(R_BPP, M(2025, 4), M(2025, 12))),
     {.used = 1, .months = 9},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 4),
     M(2025, 2),
     -9},
    {"7: withdrawn before the period: likewise",
     EVENT_WITHDRAWN,
     R_BPP,
     "2024-12-31T23:00:00+08:00",
     {0},
     V(LIVE(R_BPP, M(2025, 1), M(2025, 12))),
     {.used = 1, .months = 12},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 1),
     M(2024, 12),
     -12},
    {"7: only the programme's live coverage ends, not an ended one",
     EVENT_WITHDRAWN,
     R_BPP,
     "2025-06-01T00:00:00+08:00",
     {0},
     V2(ENDED(R_BPP, M(2025, 1), M(2025, 2)), LIVE(R_BPP, M(2025, 5), M(2025, 12))),
     {.used = 1, .months = 10},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     M(2025, 5),
     M(2025, 6),
     -6},
    {"7: an ended coverage alone: ignored",
     EVENT_WITHDRAWN,
     R_BPP,
     "2025-06-01T00:00:00+08:00",
     {0},
     V(ENDED(R_BPP, M(2025, 1), M(2025, 2))),
     {0},
     RESULT_IGNORED,
     REASON_NONE,
     NULL,
     0,
     0,
     0},
    {"7: absurd months from the journal: no overflow",
     EVENT_WITHDRAWN,
     R_BPP,
     JAN_2025,
     {0},
     V(LIVE(R_BPP, INT64_MIN, INT64_MAX)),
     {.used = 1},
     RESULT_CONFIRMED,
     REASON_NONE,
     NULL,
     INT64_MIN,
     M(2025, 1),
     INT64_MAX - INT64_MAX},
};

static void fill_event(struct event *ev, const struct rule_row *r)
{
        const struct worker_fields *w = &r->worker;

        memset(ev, 0, sizeof(*ev));
        ev->type = r->type;
        snprintf(ev->occurred_at, sizeof(ev->occurred_at), "%s", r->at);
        snprintf(ev->program, sizeof(ev->program), "%s", rules_programs[r->program].id);
        snprintf(ev->birth_date, sizeof(ev->birth_date), "%s",
                 w->birth_date ? w->birth_date : "1990-06-05");
        ev->sex = w->sex == 'X' ? 0 : w->sex ? w->sex : 'F';
        ev->disability = w->disability ? w->disability - 10 : 1;
        ev->head_of_household = w->head_of_household ? w->head_of_household - 10 : 1;
        /* "" stands for an event without one */
        ev->occupation = !w->occupation     ? "penjahit"
                         : w->occupation[0] ? w->occupation
                                            : NULL;
}

/* Every row is checked, and each one that fails is printed: the test
 * fails at the end with their number. */
#define ROW_FAIL(...)                                                                    \
        do {                                                                             \
                print_error(__VA_ARGS__);                                                \
                print_error("\n");                                                       \
                bad++;                                                                   \
        } while (0)

static void test_periods_eligibility_budgets(void **state)
{
        size_t bad = 0;
        (void)state;
        for (size_t i = 0; i < sizeof(rule_rows) / sizeof(rule_rows[0]); i++) {
                const struct rule_row *r = &rule_rows[i];
                const struct conf_program *p = &rules_programs[r->program];
                struct decide_worker w = {0};
                struct event ev;
                struct decision d;

                fill_event(&ev, r);
                for (size_t k = 0; k < 3 && r->view[k].program != R_NONE; k++) {
                        const struct conf_program *c =
                            &rules_programs[r->view[k].program];
                        struct decide_coverage cov = {.start_month = c->start_month,
                                                      .end_month = c->end_month,
                                                      .first_month = r->view[k].first,
                                                      .last_month = r->view[k].last,
                                                      .live = r->view[k].live};
                        snprintf(cov.program, sizeof(cov.program), "%s", c->id);
                        assert_int_equal(decide_worker_put(&w, &cov), 0);
                }
                decide(&ev, p, &w, &r->use, &d);
                if (d.status != r->want || d.reason != r->reason)
                        ROW_FAIL("%s: got %s/%s (%s), want %s/%s", r->rule,
                                 result_status_name(d.status), reason_name(d.reason),
                                 d.detail ? d.detail : "-", result_status_name(r->want),
                                 reason_name(r->reason));
                if (r->detail ? !d.detail || strcmp(d.detail, r->detail)
                              : d.detail != NULL)
                        ROW_FAIL("%s: detail %s, want %s", r->rule,
                                 d.detail ? d.detail : "(none)",
                                 r->detail ? r->detail : "(none)");
                enum decide_action want_action =
                    r->want != RESULT_CONFIRMED  ? DECIDE_NOTHING
                    : r->type == EVENT_SUBMITTED ? DECIDE_REGISTER
                                                 : DECIDE_DEACTIVATE;
                if (d.action != want_action || d.dead_letter)
                        ROW_FAIL("%s: action %d dead letter %d", r->rule, d.action,
                                 d.dead_letter);
                if (want_action != DECIDE_NOTHING &&
                    (d.first_month != r->first || d.last_month != r->last ||
                     d.months != r->months))
                        ROW_FAIL("%s: months %lld..%lld (%lld), want %lld..%lld (%lld)",
                                 r->rule, (long long)d.first_month,
                                 (long long)d.last_month, (long long)d.months,
                                 (long long)r->first, (long long)r->last,
                                 (long long)r->months);
                decide_worker_release(&w);
        }
        if (bad)
                fail_msg("%zu of %zu rows decided otherwise", bad,
                         sizeof(rule_rows) / sizeof(rule_rows[0]));
}

/* An event that reached decide without a month (the parser lets none
 * through) is refused as rule 1 would, never decided on a made-up month. */
static void test_no_month_is_no_decision(void **state)
{
        static const char *const bad[] = {"", "2025-13-01T00:00:00Z", "2025-02-30T00:00Z",
                                          "2025"};
        struct decide_worker w = {0};
        (void)state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct event ev = {.type = EVENT_SUBMITTED};
                struct decision d;
                snprintf(ev.occurred_at, sizeof(ev.occurred_at), "%s", bad[i]);
                decide(&ev, &rules_programs[R_KALTIM], &w, &(struct decide_use){0}, &d);
                assert_int_equal(d.status, RESULT_REJECTED);
                assert_int_equal(d.reason, REASON_INVALID_FIELD);
                assert_string_equal(d.detail, "occurred_at");
                assert_true(d.dead_letter);
                assert_int_equal(d.action, DECIDE_NOTHING);
        }
}

static int64_t rupiah(const struct decide_use *u, const struct conf_program *p)
{
        return u->months * p->monthly_premium;
}

/* The spec's worked example at Rp16,800 a month, through decide and
 * decide_apply as a batch carries it. */
static void test_the_worked_example(void **state)
{
        const struct conf_program *bpp = &rules_programs[R_BPP];
        const struct conf_program *kaltim = &rules_programs[R_KALTIM];
        struct decide_worker siti = {0}, budi = {0};
        struct decide_use bpp_use = {0}, kaltim_use = {0};
        struct rule_row r = {.program = R_BPP};
        struct event ev;
        struct decision d;
        (void)state;

        /* Siti, submitted in January: Rp201,600 */
        r.type = EVENT_SUBMITTED;
        r.at = "2025-01-06T08:15:00+08:00";
        fill_event(&ev, &r);
        decide(&ev, bpp, &siti, &bpp_use, &d);
        assert_int_equal(d.status, RESULT_CONFIRMED);
        assert_int_equal(decide_apply(&d, bpp, &siti, &bpp_use), 0);
        assert_int_equal(rupiah(&bpp_use, bpp), 201600);

        /* Budi, submitted in October: Rp50,400 */
        r.at = "2025-10-01T08:00:00+08:00";
        fill_event(&ev, &r);
        decide(&ev, bpp, &budi, &bpp_use, &d);
        assert_int_equal(d.status, RESULT_CONFIRMED);
        assert_int_equal(decide_apply(&d, bpp, &budi, &bpp_use), 0);
        assert_int_equal(rupiah(&bpp_use, bpp), 201600 + 50400);

        /* Siti withdrawn in March: her coverage commits Rp50,400 from then on */
        r.type = EVENT_WITHDRAWN;
        r.at = "2025-03-31T23:30:00+08:00";
        fill_event(&ev, &r);
        decide(&ev, bpp, &siti, &bpp_use, &d);
        assert_int_equal(d.action, DECIDE_DEACTIVATE);
        assert_int_equal(decide_apply(&d, bpp, &siti, &bpp_use), 0);
        assert_int_equal(rupiah(&bpp_use, bpp), 50400 + 50400);
        assert_int_equal(bpp_use.used, 1);
        assert_int_equal(siti.n, 1);
        assert_false(siti.cov[0].live);
        assert_int_equal(siti.cov[0].last_month, M(2025, 3));

        /* the province takes her over with an event dated in March: from
         * April, Rp151,200 to December */
        r.type = EVENT_SUBMITTED;
        r.program = R_KALTIM;
        r.at = "2025-03-31T23:45:00+08:00";
        fill_event(&ev, &r);
        decide(&ev, kaltim, &siti, &kaltim_use, &d);
        assert_int_equal(d.status, RESULT_CONFIRMED);
        assert_int_equal(d.first_month, M(2025, 4));
        assert_int_equal(decide_apply(&d, kaltim, &siti, &kaltim_use), 0);
        assert_int_equal(rupiah(&kaltim_use, kaltim), 151200);
        assert_int_equal(siti.n, 2);

        /* withdrawn from the province before April: nothing of it is paid,
         * and it leaves the view; the city's March stays */
        r.type = EVENT_WITHDRAWN;
        fill_event(&ev, &r);
        decide(&ev, kaltim, &siti, &kaltim_use, &d);
        assert_int_equal(d.months, -9);
        assert_int_equal(decide_apply(&d, kaltim, &siti, &kaltim_use), 0);
        assert_int_equal(kaltim_use.months, 0);
        assert_int_equal(kaltim_use.used, 0);
        assert_int_equal(siti.n, 1);
        assert_string_equal(siti.cov[0].program, bpp->id);

        decide_worker_release(&siti);
        decide_worker_release(&budi);
}

/* Ten thousand January submissions would commit Rp2,016,000,000, more than
 * Balikpapan's Rp1.9 billion: the 9,425th is the first budget_exceeded, and
 * every one after it too (each would cost a whole year again). */
static void test_ten_thousand_januaries(void **state)
{
        const struct conf_program *bpp = &rules_programs[R_BPP];
        struct decide_use use = {0};
        struct rule_row r = {
            .type = EVENT_SUBMITTED, .program = R_BPP, .at = "2025-01-02T07:00:00+08:00"};
        int64_t first_over = 0, confirmed = 0;
        (void)state;

        for (int64_t i = 1; i <= 10000; i++) {
                struct decide_worker w = {0};
                struct event ev;
                struct decision d;

                fill_event(&ev, &r);
                decide(&ev, bpp, &w, &use, &d);
                if (d.status == RESULT_CONFIRMED) {
                        confirmed++;
                        if (first_over)
                                fail_msg("submission %lld confirmed after %lld was over",
                                         (long long)i, (long long)first_over);
                } else if (d.reason == REASON_BUDGET_EXCEEDED) {
                        if (!first_over)
                                first_over = i;
                } else {
                        fail_msg("submission %lld: %s/%s", (long long)i,
                                 result_status_name(d.status), reason_name(d.reason));
                }
                assert_int_equal(decide_apply(&d, bpp, &w, &use), 0);
                decide_worker_release(&w);
        }
        assert_int_equal(first_over, 9425);
        assert_int_equal(confirmed, 9424);
        assert_int_equal(use.used, 9424);
        assert_int_equal(rupiah(&use, bpp), 9424LL * 201600);
        assert_true(rupiah(&use, bpp) <= bpp->budget);
}

/* decide_apply and a coverage's months: a registration adds its months, a
 * deactivation keeps the coverage (ended) while it has months and changes
 * the committed months by the decision's. */
static void test_apply_moves_months(void **state)
{
        const struct conf_program *bpp = &rules_programs[R_BPP];
        struct decide_worker w = {0};
        struct decide_use use = {.used = 4, .months = 40};
        struct decision reg = {.status = RESULT_CONFIRMED,
                               .action = DECIDE_REGISTER,
                               .first_month = M(2025, 6),
                               .last_month = M(2025, 12),
                               .months = 7};
        struct decision end = {.status = RESULT_CONFIRMED,
                               .action = DECIDE_DEACTIVATE,
                               .first_month = M(2025, 6),
                               .last_month = M(2025, 8),
                               .months = -4};
        (void)state;

        assert_int_equal(decide_apply(&reg, bpp, &w, &use), 0);
        assert_int_equal(w.n, 1);
        assert_true(w.cov[0].live);
        assert_int_equal(w.cov[0].first_month, M(2025, 6));
        assert_int_equal(w.cov[0].last_month, M(2025, 12));
        assert_int_equal(w.cov[0].start_month, bpp->start_month);
        assert_int_equal(use.used, 5);
        assert_int_equal(use.months, 47);

        assert_int_equal(decide_apply(&end, bpp, &w, &use), 0);
        assert_int_equal(w.n, 1);
        assert_false(w.cov[0].live);
        assert_int_equal(w.cov[0].last_month, M(2025, 8));
        assert_int_equal(use.used, 4);
        assert_int_equal(use.months, 43);

        /* committed months saturate rather than wrap */
        struct decide_use full = {.months = INT64_MAX - 1};
        assert_int_equal(decide_apply(&reg, bpp, &w, &full), 0);
        assert_int_equal(full.months, INT64_MAX);
        decide_worker_release(&w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_rule2_reads_the_whole_history),
            cmocka_unit_test(test_apply_carries_each_change),
            cmocka_unit_test(test_a_sequence_for_one_worker),
            cmocka_unit_test(test_periods_eligibility_budgets),
            cmocka_unit_test(test_no_month_is_no_decision),
            cmocka_unit_test(test_the_worked_example),
            cmocka_unit_test(test_ten_thousand_januaries),
            cmocka_unit_test(test_apply_moves_months)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
