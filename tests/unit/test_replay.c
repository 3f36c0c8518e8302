/* The replay rules (journal.h, "Replay of a failed batch"), one row a rule
 * and a boundary: what the journal found of one failed batch, and whether
 * each item may be sent again, why not, and what becomes of the batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "replay.h"

#define M(y, m) ((int64_t)(y)*12 + (m)-1)

enum { BPP, KALTIM, SORONG, BPP2026, GONE, N_PROG };

static const struct {
        const char *id;
        int64_t start_month, end_month;
        int64_t quota; /* 0: not in the configuration */
} programs[N_PROG] = {
    [BPP] = {"BPP-DIFABEL-2025", M(2025, 1), M(2025, 12), 10},
    [KALTIM] = {"KALTIM-RENTAN-2025", M(2025, 1), M(2025, 12), 10},
    [SORONG] = {"SORONG-RENTAN-2024", M(2024, 1), M(2024, 12), 10},
    [BPP2026] = {"BPP-DIFABEL-2026H1", M(2025, 12), M(2026, 6), 10},
    [GONE] = {"GONE-2025", M(2025, 1), M(2025, 12), 0},
};

/* One op of the batch: its result, the coverage row of its NIK and
 * programme (over the programme's period), the worker's live coverages and
 * later operation; want is NULL when it qualifies, else the reason. */
struct item_row {
        int kind;
        enum result_status status; /* 0: unanswered */
        int program;
        int coverage;        /* the row's state; 0: no row */
        bool replaced;       /* a later registration owns the row */
        int live[3];         /* programmes + 1 of the worker's live coverages; 0 ends */
        int64_t first, last; /* the coverage's own months; 0: its period */
        struct {
                int program; /* + 1; 0 ends */
                int64_t first, last;
        } ended[2]; /* the worker's ended coverages that have months */
        int64_t later_seq;
        const char *want;
};

#define PREMIUM 16800 /* a month, every programme */

/* a registration that failed, its coverage still its own and failed */
#define REG(p)                                                                           \
        .kind = JOURNAL_OP_REGISTER, .status = RESULT_FAILED, .program = p,              \
        .coverage = JOURNAL_COVERAGE_FAILED
/* a deactivation that failed */
#define DEACT(p) .kind = JOURNAL_OP_DEACTIVATE, .status = RESULT_FAILED, .program = p
/* as the journal hands them to replay_judge */
#define FAILED_REGISTRATION                                                              \
        .kind = JOURNAL_OP_REGISTER, .status = RESULT_FAILED,                            \
        .coverage = JOURNAL_COVERAGE_FAILED, .coverage_own = true
#define FAILED_DEACTIVATION .kind = JOURNAL_OP_DEACTIVATE, .status = RESULT_FAILED

struct row {
        const char *rule;
        int state; /* the batch's; 0: failed */
        struct item_row items[3];
        int body_items; /* 0: one per item */
        int64_t used[N_PROG], reserved[N_PROG];
        int64_t months[N_PROG], reserved_months[N_PROG]; /* committed */
        int64_t budget[N_PROG];                          /* 0: none */
        int action;
        int64_t taken[N_PROG], taken_months[N_PROG];
};

static const struct row rows[] = {
    /* the batch */
    {"a batch that is done is not replayed", .state = JOURNAL_BATCH_DONE,
     .items = {{REG(BPP)}}, .action = JOURNAL_CTL_REPLAY_SKIP},
    {"a batch that is pending is not replayed", .state = JOURNAL_BATCH_PENDING,
     .items = {{REG(BPP)}}, .action = JOURNAL_CTL_REPLAY_SKIP},
    {"a failed batch with no items left is not replayed",
     .action = JOURNAL_CTL_REPLAY_SKIP},

    /* an item's result */
    {"a failed registration, alone and free to go, is resent", .items = {{REG(BPP)}},
     .action = JOURNAL_CTL_REPLAY_RESEND, .taken = {[BPP] = 1}},
    {"an item answered registered is not failed",
     .items = {{.kind = JOURNAL_OP_REGISTER,
                .status = RESULT_REGISTERED,
                .program = BPP,
                .coverage = JOURNAL_COVERAGE_ACTIVE,
                .want = "its result is registered, not failed"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"an item not answered yet is not failed",
     .items = {{.kind = JOURNAL_OP_REGISTER,
                .program = BPP,
                .coverage = JOURNAL_COVERAGE_PENDING,
                .want = "its result is pending, not failed"}},
     .action = JOURNAL_CTL_REPLAY_NONE},

    /* a registration's coverage */
    {"coverage replaced by a later registration of the programme",
     .items = {{.kind = JOURNAL_OP_REGISTER,
                .status = RESULT_FAILED,
                .program = BPP,
                .coverage = JOURNAL_COVERAGE_ACTIVE,
                .replaced = true,
                .want = "a later registration for this programme replaced it"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"coverage replaced, and the new one failed too: still not its own",
     .items = {{REG(BPP), .replaced = true,
                .want = "a later registration for this programme replaced it"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"no coverage row",
     .items = {{.kind = JOURNAL_OP_REGISTER,
                .status = RESULT_FAILED,
                .program = BPP,
                .want = "no coverage row"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"its own coverage, but ended",
     .items = {{.kind = JOURNAL_OP_REGISTER,
                .status = RESULT_FAILED,
                .program = BPP,
                .coverage = JOURNAL_COVERAGE_ENDED,
                .want = "its coverage is ended, not failed"}},
     .action = JOURNAL_CTL_REPLAY_NONE},

    /* the duplicate rule (decide's rule 2) */
    {"a live coverage in another programme over the same period",
     .items = {{REG(KALTIM), .live = {BPP + 1}, .want = "covered by BPP-DIFABEL-2025"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"one shared month is an overlap",
     .items = {{REG(BPP2026), .live = {BPP + 1}, .want = "covered by BPP-DIFABEL-2025"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"a live coverage whose period does not overlap is no clash",
     .items = {{REG(BPP), .live = {SORONG + 1}}}, .action = JOURNAL_CTL_REPLAY_RESEND,
     .taken = {[BPP] = 1}},
    {"of several live coverages, the one that overlaps is named",
     .items = {{REG(BPP2026), .live = {SORONG + 1, KALTIM + 1},
                .want = "covered by KALTIM-RENTAN-2025"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"the duplicate rule before the quota: a clash in a full programme",
     .items = {{REG(KALTIM), .live = {BPP + 1}, .want = "covered by BPP-DIFABEL-2025"}},
     .used = {[KALTIM] = 10}, .action = JOURNAL_CTL_REPLAY_NONE},

    /* the quota */
    {"the last free slot can be taken", .items = {{REG(BPP)}}, .used = {[BPP] = 9},
     .action = JOURNAL_CTL_REPLAY_RESEND, .taken = {[BPP] = 1}},
    {"a full programme has no slot", .items = {{REG(BPP), .want = "quota full (10/10)"}},
     .used = {[BPP] = 10}, .action = JOURNAL_CTL_REPLAY_NONE},
    {"slots an earlier replay of a dry run would take count",
     .items = {{REG(BPP), .want = "quota full (10/10)"}}, .used = {[BPP] = 8},
     .reserved = {[BPP] = 2}, .action = JOURNAL_CTL_REPLAY_NONE},
    {"the slot an earlier item of the same replay takes counts",
     .items = {{REG(BPP)}, {REG(BPP), .want = "quota full (10/10)"}, {REG(KALTIM)}},
     .used = {[BPP] = 9, [KALTIM] = 9}, .action = JOURNAL_CTL_REPLAY_REBUILD,
     .taken = {[BPP] = 1, [KALTIM] = 1}},
    {"a programme no longer in the configuration",
     .items = {{REG(GONE), .want = "programme not in the configuration"}},
     .action = JOURNAL_CTL_REPLAY_NONE},

    /* the budget: committed months * 16,800 may not pass it */
    {"the last Rupiah of the budget: nine workers' year and this one's",
     .items = {{REG(BPP)}}, .used = {[BPP] = 9}, .months = {[BPP] = 108},
     .budget = {[BPP] = 120 * PREMIUM}, .action = JOURNAL_CTL_REPLAY_RESEND,
     .taken = {[BPP] = 1}, .taken_months = {[BPP] = 12}},
    {"one Rupiah short of it",
     .items = {{REG(BPP), .want = "budget exceeded (Rp1814400 committed, Rp201600 "
                                  "more, budget Rp2015999)"}},
     .used = {[BPP] = 9}, .months = {[BPP] = 108}, .budget = {[BPP] = 120 * PREMIUM - 1},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"a coverage commits its own months, not its programme's period",
     .items = {{REG(BPP), .first = M(2025, 10), .last = M(2025, 12)}},
     .months = {[BPP] = 100}, .budget = {[BPP] = 103 * PREMIUM},
     .action = JOURNAL_CTL_REPLAY_RESEND, .taken = {[BPP] = 1},
     .taken_months = {[BPP] = 3}},
    {"the months an earlier item of the same replay commits count",
     .items = {{REG(BPP)},
               {REG(BPP), .want = "budget exceeded (Rp201600 committed, "
                                  "Rp201600 more, budget Rp201600)"}},
     .budget = {[BPP] = 12 * PREMIUM}, .action = JOURNAL_CTL_REPLAY_REBUILD,
     .taken = {[BPP] = 1}, .taken_months = {[BPP] = 12}},
    {"months an earlier replay of a dry run would commit count",
     .items = {{REG(BPP), .want = "budget exceeded (Rp201600 committed, Rp201600 "
                                  "more, budget Rp201600)"}},
     .reserved_months = {[BPP] = 12}, .budget = {[BPP] = 12 * PREMIUM},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"the quota before the budget", .items = {{REG(BPP), .want = "quota full (10/10)"}},
     .used = {[BPP] = 10}, .budget = {[BPP] = 1}, .action = JOURNAL_CTL_REPLAY_NONE},

    /* no month of a worker paid twice */
    {"an ended coverage of an overlapping programme holds some of its months",
     .items = {{REG(BPP), .ended = {{KALTIM + 1, M(2025, 1), M(2025, 3)}},
                .want = "months 2025-01..2025-03 already paid by KALTIM-RENTAN-2025"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"one that ended the month before this one's first holds none of them",
     .items = {{REG(BPP), .first = M(2025, 4), .last = M(2025, 12),
                .ended = {{KALTIM + 1, M(2025, 1), M(2025, 3)}}}},
     .action = JOURNAL_CTL_REPLAY_RESEND, .taken = {[BPP] = 1},
     .taken_months = {[BPP] = 9}},
    {"one of a programme whose period does not overlap is no clash",
     .items = {{REG(BPP), .ended = {{SORONG + 1, M(2024, 1), M(2024, 12)}}}},
     .action = JOURNAL_CTL_REPLAY_RESEND, .taken = {[BPP] = 1},
     .taken_months = {[BPP] = 12}},

    /* deactivations */
    {"a deactivation without a later operation is resent", .items = {{DEACT(BPP)}},
     .action = JOURNAL_CTL_REPLAY_RESEND},
    {"a deactivation after which the worker has a later operation",
     .items = {{DEACT(BPP), .later_seq = 42,
                .want = "the worker has a later operation (seq 42)"}},
     .action = JOURNAL_CTL_REPLAY_NONE},
    {"a deactivation takes no slot, even in a full programme", .items = {{DEACT(BPP)}},
     .used = {[BPP] = 10}, .action = JOURNAL_CTL_REPLAY_RESEND},

    /* all, some, none */
    {"all qualify: the same body under the same key",
     .items = {{REG(BPP)}, {REG(KALTIM)}, {REG(BPP2026)}},
     .action = JOURNAL_CTL_REPLAY_RESEND,
     .taken = {[BPP] = 1, [KALTIM] = 1, [BPP2026] = 1}},
    {"all qualify, but an earlier replay moved items out of the body",
     .items = {{REG(BPP)}, {REG(KALTIM)}}, .body_items = 3,
     .action = JOURNAL_CTL_REPLAY_REBUILD, .taken = {[BPP] = 1, [KALTIM] = 1}},
    {"all qualify, but pruning emptied the body", .items = {{REG(BPP)}, {REG(KALTIM)}},
     .body_items = -1, .action = JOURNAL_CTL_REPLAY_REBUILD,
     .taken = {[BPP] = 1, [KALTIM] = 1}},
    {"some qualify: a new batch of those",
     .items = {{REG(BPP)},
               {REG(KALTIM), .live = {BPP + 1}, .want = "covered by BPP-DIFABEL-2025"}},
     .action = JOURNAL_CTL_REPLAY_REBUILD, .taken = {[BPP] = 1}},
    {"none qualify: left failed with the reasons",
     .items = {{REG(KALTIM), .live = {BPP + 1}, .want = "covered by BPP-DIFABEL-2025"},
               {REG(BPP), .want = "quota full (10/10)"}},
     .used = {[BPP] = 10}, .action = JOURNAL_CTL_REPLAY_NONE},
};

static size_t count_items(const struct row *r)
{
        size_t n = 0;
        while (n < 3 && r->items[n].kind)
                n++;
        return n;
}

static bool months_named(const struct row *r)
{
        for (size_t k = 0; k < N_PROG; k++)
                if (r->taken_months[k])
                        return true;
        return false;
}

static void test_rules(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const struct row *r = &rows[i];
                struct decide_worker w[3] = {{0}};
                struct replay_item items[3];
                struct replay_quota quotas[N_PROG];
                struct replay_verdict v[3];
                int64_t taken[N_PROG], taken_months[N_PROG];
                struct replay_judgement j = {
                    .items = v, .taken = taken, .taken_months = taken_months};
                size_t n = count_items(r), nq = 0, n_ok = 0;
                struct replay_batch b = {
                    .state = r->state ? r->state : JOURNAL_BATCH_FAILED,
                    .body_items = r->body_items ? r->body_items : (int)n,
                    .items = items,
                    .n = n,
                    .quotas = quotas,
                };

                for (size_t k = 0; k < N_PROG; k++)
                        if (programs[k].quota)
                                quotas[nq++] = (struct replay_quota){
                                    .program = programs[k].id,
                                    .quota = programs[k].quota,
                                    .used = r->used[k],
                                    .reserved = r->reserved[k],
                                    .monthly_premium = PREMIUM,
                                    .budget = r->budget[k] ? r->budget[k] : -1,
                                    .months = r->months[k],
                                    .reserved_months = r->reserved_months[k],
                                };
                b.n_quotas = nq;
                for (size_t k = 0; k < n; k++) {
                        const struct item_row *ir = &r->items[k];
                        for (size_t l = 0; l < 3 && ir->live[l]; l++) {
                                int p = ir->live[l] - 1;
                                assert_int_equal(
                                    decide_worker_add(&w[k], programs[p].id,
                                                      programs[p].start_month,
                                                      programs[p].end_month),
                                    0);
                        }
                        for (size_t l = 0; l < 2 && ir->ended[l].program; l++) {
                                int p = ir->ended[l].program - 1;
                                struct decide_coverage c = {
                                    .start_month = programs[p].start_month,
                                    .end_month = programs[p].end_month,
                                    .first_month = ir->ended[l].first,
                                    .last_month = ir->ended[l].last,
                                };
                                snprintf(c.program, sizeof(c.program), "%s",
                                         programs[p].id);
                                assert_int_equal(decide_worker_put(&w[k], &c), 0);
                        }
                        items[k] = (struct replay_item){
                            .kind = ir->kind,
                            .status = ir->status,
                            .program = programs[ir->program].id,
                            .coverage = ir->coverage,
                            .coverage_own = !ir->replaced,
                            .start_month = programs[ir->program].start_month,
                            .end_month = programs[ir->program].end_month,
                            .first_month =
                                ir->first ? ir->first : programs[ir->program].start_month,
                            .last_month =
                                ir->first ? ir->last : programs[ir->program].end_month,
                            .worker = &w[k],
                            .later_seq = ir->later_seq,
                        };
                }

                replay_judge(&b, &j);

                if (j.action != r->action)
                        fail_msg("%s: action %s, want %s", r->rule,
                                 journal_ctl_replay_action_name(j.action),
                                 journal_ctl_replay_action_name(r->action));
                if (r->action == JOURNAL_CTL_REPLAY_SKIP) {
                        if (!j.why[0])
                                fail_msg("%s: skipped without a reason", r->rule);
                        goto next;
                }
                for (size_t k = 0; k < n; k++) {
                        const char *want = r->items[k].want;
                        if (want && (v[k].ok || strcmp(v[k].why, want)))
                                fail_msg("%s: item %zu %s \"%s\", want \"%s\"", r->rule,
                                         k + 1, v[k].ok ? "qualifies" : "not:", v[k].why,
                                         want);
                        if (!want && !v[k].ok)
                                fail_msg("%s: item %zu not: \"%s\", want it to qualify",
                                         r->rule, k + 1, v[k].why);
                        /* what could never be sent again never qualifies */
                        if (v[k].ok && !replay_may_resend(&items[k]))
                                fail_msg("%s: item %zu qualifies but is final", r->rule,
                                         k + 1);
                        n_ok += v[k].ok;
                }
                if (j.n_ok != n_ok)
                        fail_msg("%s: n_ok %zu, want %zu", r->rule, j.n_ok, n_ok);
                for (size_t k = 0, q = 0; k < N_PROG; k++) {
                        if (!programs[k].quota)
                                continue;
                        if (taken[q] != r->taken[k])
                                fail_msg("%s: %s takes %lld slots, want %lld", r->rule,
                                         programs[k].id, (long long)taken[q],
                                         (long long)r->taken[k]);
                        /* rows that name no months commit each item's period */
                        int64_t want_months =
                            months_named(r) ? r->taken_months[k]
                                            : r->taken[k] * (programs[k].end_month -
                                                             programs[k].start_month + 1);
                        if (taken_months[q] != want_months)
                                fail_msg("%s: %s commits %lld months, want %lld", r->rule,
                                         programs[k].id, (long long)taken_months[q],
                                         (long long)want_months);
                        q++;
                }
        next:
                for (size_t k = 0; k < 3; k++)
                        decide_worker_release(&w[k]);
        }
}

/* The reasons a batch is skipped, word for word (the CLI prints them). */
static void test_skip_reasons(void **state)
{
        struct replay_item it = {FAILED_REGISTRATION, .program = "BPP-DIFABEL-2025"};
        struct replay_verdict v[1];
        int64_t taken[1];
        struct replay_judgement j = {.items = v, .taken = taken};
        struct replay_batch b = {.state = JOURNAL_BATCH_SPLIT, .items = &it, .n = 1};

        (void)state;
        replay_judge(&b, &j);
        assert_int_equal(j.action, JOURNAL_CTL_REPLAY_SKIP);
        assert_string_equal(j.why, "the batch is split, not failed");
        b.state = JOURNAL_BATCH_FAILED;
        b.n = 0;
        replay_judge(&b, &j);
        assert_int_equal(j.action, JOURNAL_CTL_REPLAY_SKIP);
        assert_string_equal(j.why, "the batch has no items left");
}

/* What pruning may cut (journal_prune's FINAL_OP): an op no replay could
 * ever send again. A clash or a full programme may pass; a result that is
 * not failed, or a coverage that went, does not come back. */
static void test_what_a_replay_could_still_send(void **state)
{
        static const struct {
                const char *rule;
                struct replay_item it;
                bool may;
        } cases[] = {
            {"a failed registration, its coverage its own and failed",
             {FAILED_REGISTRATION},
             true},
            {"the same, whatever the worker did later",
             {FAILED_REGISTRATION, .later_seq = 9},
             true},
            {"a registration answered registered",
             {.kind = JOURNAL_OP_REGISTER,
              .status = RESULT_REGISTERED,
              .coverage = JOURNAL_COVERAGE_ACTIVE,
              .coverage_own = true},
             false},
            {"a registration not answered yet",
             {.kind = JOURNAL_OP_REGISTER,
              .coverage = JOURNAL_COVERAGE_PENDING,
              .coverage_own = true},
             false},
            {"a failed registration whose coverage a later one replaced",
             {.kind = JOURNAL_OP_REGISTER,
              .status = RESULT_FAILED,
              .coverage = JOURNAL_COVERAGE_FAILED},
             false},
            {"a failed registration with no coverage row",
             {.kind = JOURNAL_OP_REGISTER, .status = RESULT_FAILED},
             false},
            {"a failed deactivation", {FAILED_DEACTIVATION}, true},
            /* final in truth, but FINAL_OP keeps it: the two agree */
            {"a failed deactivation after which the worker has a later operation",
             {FAILED_DEACTIVATION, .later_seq = 9},
             true},
            {"a deactivation answered deactivated",
             {.kind = JOURNAL_OP_DEACTIVATE, .status = RESULT_DEACTIVATED},
             false},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (replay_may_resend(&cases[i].it) != cases[i].may)
                        fail_msg("%s: may resend %d, want %d", cases[i].rule,
                                 !cases[i].may, cases[i].may);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_skip_reasons),
            cmocka_unit_test(test_what_a_replay_could_still_send),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
