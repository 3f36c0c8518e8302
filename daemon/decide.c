#include "decide.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int decide_worker_put(struct decide_worker *w, const struct decide_coverage *c)
{
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 8;
                struct decide_coverage *grown = realloc(w->cov, cap * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                w->cov = grown;
                w->cap = cap;
        }
        w->cov[w->n++] = *c;
        return 0;
}

int decide_worker_add(struct decide_worker *w, const char *program, int64_t start_month,
                      int64_t end_month)
{
        struct decide_coverage c = {.start_month = start_month,
                                    .end_month = end_month,
                                    .first_month = start_month,
                                    .last_month = end_month,
                                    .live = true};

        snprintf(c.program, sizeof(c.program), "%s", program ? program : "");
        return decide_worker_put(w, &c);
}

void decide_worker_release(struct decide_worker *w)
{
        free(w->cov);
        w->cov = NULL;
        w->n = w->cap = 0;
}

const struct decide_coverage *decide_overlap(const struct decide_worker *w,
                                             int64_t start_month, int64_t end_month)
{
        for (size_t i = 0; i < w->n; i++) {
                const struct decide_coverage *c = &w->cov[i];
                if (c->live && c->start_month <= end_month && start_month <= c->end_month)
                        return c;
        }
        return NULL;
}

/* The number of months first..last: 0 when last < first, never overflowing
 * whatever the view holds (a journal's values are not trusted blindly). */
int64_t decide_months(int64_t first, int64_t last)
{
        if (last < first)
                return 0;
        uint64_t n = (uint64_t)last - (uint64_t)first;
        return n >= (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(n + 1);
}

static bool leap(int y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Whole years from the birth date to the date y-m-d; a 29 February birthday
 * falls on 1 March in other years. False if birth is not a real date. */
static bool age_on(const char *birth, int y, int m, int d, int *age)
{
        int by, bm, bd;

        if (!event_date_valid(birth, &by, &bm, &bd))
                return false;
        if (bm == 2 && bd == 29 && !leap(y))
                bm = 3, bd = 1;
        *age = y - by - (m < bm || (m == bm && d < bd));
        return true;
}

/* The first of the programme's criteria the worker fails, in the order of
 * the key table (docs/events.md, "Eligibility"), or NULL. */
static const char *first_failed(const struct conf_eligibility *e, const struct event *ev,
                                int y, int m, int d)
{
        int age = 0;
        bool dated = age_on(ev->birth_date, y, m, d, &age);

        if (e->disability && ev->disability != 1)
                return "disability";
        if (e->sex && ev->sex != e->sex)
                return "sex";
        if (e->head_of_household && ev->head_of_household != 1)
                return "head_of_household";
        if (e->has_min_age && (!dated || age < e->min_age))
                return "min_age";
        if (e->has_max_age && (!dated || age > e->max_age))
                return "max_age";
        if (e->n_occupations) {
                for (size_t i = 0; i < e->n_occupations; i++)
                        if (ev->occupation &&
                            strcmp(ev->occupation, e->occupations[i]) == 0)
                                return NULL;
                return "occupations";
        }
        return NULL;
}

bool decide_premium(int64_t months, int64_t monthly_premium, int64_t *out)
{
        return !__builtin_mul_overflow(months, monthly_premium, out);
}

bool decide_budget_takes(int64_t budget, int64_t monthly_premium, int64_t committed,
                         int64_t months)
{
        int64_t total, premium;

        if (budget < 0)
                return true;
        if (__builtin_add_overflow(committed, months, &total) ||
            !decide_premium(total, monthly_premium, &premium))
                return false;
        return premium <= budget;
}

void decide(const struct event *ev, const struct conf_program *prog,
            const struct decide_worker *worker, const struct decide_use *use,
            struct decision *out)
{
        struct decision d = {.status = RESULT_REJECTED};
        const struct decide_coverage *c;
        int y, m, day;
        int64_t month, start;

        /* Rule 1: an unknown programme is a rejection with a dead letter. */
        if (!prog) {
                d.reason = REASON_UNKNOWN_PROGRAM;
                d.dead_letter = true;
                goto out;
        }
        /* The event's month and date, as written. The parser checked the
         * form; an event that got here without it is refused as rule 1
         * would have, never decided on a month it does not have. */
        if (!event_local_date(ev->occurred_at, &y, &m, &day)) {
                d.reason = REASON_INVALID_FIELD;
                d.detail = "occurred_at";
                d.dead_letter = true;
                goto out;
        }
        month = (int64_t)y * 12 + m - 1;

        /* Rule 7: a withdrawal ends the coverage of the programme it names,
         * at the withdrawal's month; the months after it are released. */
        if (ev->type == EVENT_WITHDRAWN) {
                d.status = RESULT_IGNORED;
                for (size_t i = 0; i < worker->n; i++) {
                        const struct decide_coverage *w = &worker->cov[i];
                        if (w->live && strcmp(w->program, prog->id) == 0) {
                                d.status = RESULT_CONFIRMED;
                                d.action = DECIDE_DEACTIVATE;
                                d.first_month = w->first_month;
                                d.last_month =
                                    month < w->last_month ? month : w->last_month;
                                d.months = decide_months(w->first_month, d.last_month) -
                                           decide_months(w->first_month, w->last_month);
                                break;
                        }
                }
                goto out;
        }

        /* Rule 2: a submission after the period is too late; one before
         * it starts with the period. */
        if (month > prog->end_month) {
                d.reason = REASON_PROGRAM_CLOSED;
                d.detail = "occurred_at";
                goto out;
        }

        /* Rule 3: every criterion must hold; detail names the first that
         * does not. */
        d.detail = first_failed(&prog->eligibility, ev, y, m, day);
        if (d.detail) {
                d.reason = REASON_NOT_ELIGIBLE;
                goto out;
        }

        /* Rule 4: at most one active coverage across overlapping periods. */
        c = decide_overlap(worker, prog->start_month, prog->end_month);
        if (c) {
                d.status = RESULT_DUPLICATE;
                d.covered_by = c->program;
                goto out;
        }

        /* The coverage's months: from the latest of the period start, the
         * event's month and the month after the worker's last paid month in
         * an overlapping programme, to the period end. When that earlier
         * coverage paid through the period end, no month is left: the
         * programme is closed to this worker. */
        start = month > prog->start_month ? month : prog->start_month;
        for (size_t i = 0; i < worker->n; i++) {
                const struct decide_coverage *w = &worker->cov[i];
                if (w->last_month < w->first_month || w->start_month > prog->end_month ||
                    prog->start_month > w->end_month)
                        continue;
                if (w->last_month >= prog->end_month) {
                        d.reason = REASON_PROGRAM_CLOSED;
                        d.detail = "period";
                        goto out;
                }
                if (w->last_month + 1 > start)
                        start = w->last_month + 1;
        }

        /* Rule 5: the quota is the most workers covered at once; the budget
         * the most premium committed over the period. */
        if (use->used >= prog->quota) {
                d.reason = REASON_QUOTA_EXCEEDED;
                goto out;
        }
        if (!decide_budget_takes(prog->budget, prog->monthly_premium, use->months,
                                 decide_months(start, prog->end_month))) {
                d.reason = REASON_BUDGET_EXCEEDED;
                goto out;
        }

        /* Rule 6. */
        d.status = RESULT_CONFIRMED;
        d.action = DECIDE_REGISTER;
        d.first_month = start;
        d.last_month = prog->end_month;
        d.months = decide_months(start, prog->end_month);
out:
        *out = d;
}

int decide_apply(const struct decision *d, const struct conf_program *prog,
                 struct decide_worker *worker, struct decide_use *use)
{
        size_t k = 0;

        if (d->action == DECIDE_REGISTER) {
                struct decide_coverage c = {.start_month = prog->start_month,
                                            .end_month = prog->end_month,
                                            .first_month = d->first_month,
                                            .last_month = d->last_month,
                                            .live = true};
                snprintf(c.program, sizeof(c.program), "%s", prog->id);
                int rc = decide_worker_put(worker, &c);
                if (rc == 0) {
                        use->used++;
                        if (__builtin_add_overflow(use->months, d->months, &use->months))
                                use->months = d->months < 0 ? INT64_MIN : INT64_MAX;
                }
                return rc;
        }
        if (d->action != DECIDE_DEACTIVATE)
                return 0;
        /* the programme's one live coverage ends: kept while it has months */
        for (size_t i = 0; i < worker->n; i++) {
                struct decide_coverage *c = &worker->cov[i];
                if (c->live && strcmp(c->program, prog->id) == 0) {
                        c->live = false;
                        c->last_month = d->last_month;
                        use->used--;
                        if (__builtin_add_overflow(use->months, d->months, &use->months))
                                use->months = d->months < 0 ? INT64_MIN : INT64_MAX;
                        if (c->last_month < c->first_month)
                                continue;
                }
                worker->cov[k++] = *c;
        }
        worker->n = k;
        return 0;
}
