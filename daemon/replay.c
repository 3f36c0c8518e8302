#include "replay.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* The rules that never change their answer once it is no: a result that is
 * not failed, and a registration whose coverage went (replaced by a later
 * registration, or no longer failed). why may be NULL. */
static bool final(const struct replay_item *it, char *why, size_t size)
{
        char text[REPLAY_WHY_SIZE];

        if (it->status != RESULT_FAILED)
                snprintf(text, sizeof(text), "its result is %s, not failed",
                         it->status ? result_status_name(it->status) : "pending");
        else if (it->kind != JOURNAL_OP_REGISTER)
                // NOLINTNEXTLINE(bugprone-branch-clone): a rule a branch, as listed
                return false;
        else if (!it->coverage)
                snprintf(text, sizeof(text), "no coverage row");
        else if (!it->coverage_own)
                snprintf(text, sizeof(text),
                         "a later registration for this programme replaced it");
        else if (it->coverage != JOURNAL_COVERAGE_FAILED)
                snprintf(text, sizeof(text), "its coverage is %s, not failed",
                         journal_ctl_coverage_state_name(it->coverage));
        else
                return false;
        if (why)
                snprintf(why, size, "%s", text);
        return true;
}

bool replay_may_resend(const struct replay_item *it)
{
        return !final(it, NULL, 0);
}

static const struct replay_quota *find_quota(const struct replay_batch *b,
                                             const char *program, size_t *index)
{
        for (size_t i = 0; i < b->n_quotas; i++) {
                if (strcmp(b->quotas[i].program, program) == 0) {
                        *index = i;
                        return &b->quotas[i];
                }
        }
        return NULL;
}

/* The first ended coverage of the worker, of a programme whose period
 * overlaps it's, that holds one of it's own months: those months are paid. */
static const struct decide_coverage *months_paid(const struct replay_item *it)
{
        for (size_t i = 0; it->worker && i < it->worker->n; i++) {
                const struct decide_coverage *c = &it->worker->cov[i];
                if (!c->live && c->start_month <= it->end_month &&
                    it->start_month <= c->end_month && c->first_month <= c->last_month &&
                    c->first_month <= it->last_month && it->first_month <= c->last_month)
                        return c;
        }
        return NULL;
}

/* months * premium, for messages; INT64_MAX when it would not fit. */
static long long rupiah(int64_t months, int64_t premium)
{
        int64_t r;
        return decide_premium(months, premium, &r) ? r : INT64_MAX;
}

/* A registration whose coverage is still its own and failed. */
static void judge_registration(const struct replay_batch *b, const struct replay_item *it,
                               int64_t *taken, int64_t *taken_months,
                               struct replay_verdict *v)
{
        const struct decide_coverage *clash =
            it->worker ? decide_overlap(it->worker, it->start_month, it->end_month)
                       : NULL;
        const struct decide_coverage *paid = clash ? NULL : months_paid(it);
        const struct replay_quota *q;
        int64_t own = decide_months(it->first_month, it->last_month);
        size_t qi = 0;
        int64_t used, months;

        if (clash) {
                snprintf(v->why, sizeof(v->why), "covered by %s", clash->program);
                return;
        }
        if (paid) {
                char first[8], last[8];
                conf_month_format(paid->first_month, first);
                conf_month_format(paid->last_month, last);
                snprintf(v->why, sizeof(v->why), "months %s..%s already paid by %s",
                         first, last, paid->program);
                return;
        }
        q = find_quota(b, it->program, &qi);
        if (!q) {
                snprintf(v->why, sizeof(v->why), "programme not in the configuration");
                return;
        }
        used = q->used + taken[qi] + q->reserved;
        if (used >= q->quota) {
                snprintf(v->why, sizeof(v->why), "quota full (%lld/%lld)",
                         (long long)used, (long long)q->quota);
                return;
        }
        if (__builtin_add_overflow(q->months, taken_months[qi], &months) ||
            __builtin_add_overflow(months, q->reserved_months, &months) ||
            !decide_budget_takes(q->budget, q->monthly_premium, months, own)) {
                snprintf(v->why, sizeof(v->why),
                         "budget exceeded (Rp%lld committed, Rp%lld more, budget Rp%lld)",
                         rupiah(months, q->monthly_premium),
                         rupiah(own, q->monthly_premium), (long long)q->budget);
                return;
        }
        taken[qi]++;
        taken_months[qi] += own;
        v->ok = true;
}

/* A deactivation sent after a later operation of the same worker would
 * undo that operation at the endpoint. */
static void judge_deactivation(const struct replay_item *it, struct replay_verdict *v)
{
        if (it->later_seq) {
                snprintf(v->why, sizeof(v->why),
                         "the worker has a later operation (seq %lld)",
                         (long long)it->later_seq);
                return;
        }
        v->ok = true;
}

void replay_judge(const struct replay_batch *b, struct replay_judgement *out)
{
        out->action = JOURNAL_CTL_REPLAY_SKIP;
        out->why[0] = '\0';
        out->n_ok = 0;
        for (size_t i = 0; i < b->n_quotas; i++)
                out->taken[i] = out->taken_months[i] = 0;
        if (b->state != JOURNAL_BATCH_FAILED) {
                snprintf(out->why, sizeof(out->why), "the batch is %s, not failed",
                         journal_batch_state_name(b->state));
                return;
        }
        if (b->n == 0) {
                snprintf(out->why, sizeof(out->why), "the batch has no items left");
                return;
        }
        for (size_t i = 0; i < b->n; i++) {
                const struct replay_item *it = &b->items[i];
                struct replay_verdict *v = &out->items[i];

                *v = (struct replay_verdict){0};
                if (final(it, v->why, sizeof(v->why)))
                        continue;
                if (it->kind == JOURNAL_OP_REGISTER)
                        judge_registration(b, it, out->taken, out->taken_months, v);
                else
                        judge_deactivation(it, v);
                if (v->ok)
                        out->n_ok++;
        }
        /* a body that carries more items than the batch still has ops lost
         * some to an earlier replay, and one emptied by pruning carries
         * none: neither is sent again */
        out->action =
            out->n_ok == 0 ? JOURNAL_CTL_REPLAY_NONE
            : out->n_ok == b->n && b->body_items >= 0 && (size_t)b->body_items == b->n
                ? JOURNAL_CTL_REPLAY_RESEND
                : JOURNAL_CTL_REPLAY_REBUILD;
}
