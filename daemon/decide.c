#include "decide.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int decide_worker_add(struct decide_worker *w, const char *program, int64_t start_month,
                      int64_t end_month)
{
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 8;
                struct decide_coverage *c = realloc(w->cov, cap * sizeof(*c));
                if (!c)
                        return -ENOMEM;
                w->cov = c;
                w->cap = cap;
        }
        struct decide_coverage *c = &w->cov[w->n++];
        snprintf(c->program, sizeof(c->program), "%s", program ? program : "");
        c->start_month = start_month;
        c->end_month = end_month;
        return 0;
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
                if (c->start_month <= end_month && start_month <= c->end_month)
                        return c;
        }
        return NULL;
}

void decide(const struct event *ev, const struct conf_program *prog,
            const struct decide_worker *worker, int64_t quota_used, struct decision *out)
{
        struct decision d = {.status = RESULT_REJECTED};
        const struct decide_coverage *c;

        /* Rule 1: an unknown programme is a rejection with a dead letter. */
        if (!prog) {
                d.reason = REASON_UNKNOWN_PROGRAM;
                d.dead_letter = true;
                goto out;
        }

        /* Rule 5: a withdrawal ends the coverage of the programme it names. */
        if (ev->type == EVENT_WITHDRAWN) {
                d.status = RESULT_IGNORED;
                for (size_t i = 0; i < worker->n; i++) {
                        if (strcmp(worker->cov[i].program, prog->id) == 0) {
                                d.status = RESULT_CONFIRMED;
                                d.action = DECIDE_DEACTIVATE;
                                break;
                        }
                }
                goto out;
        }

        /* Rule 2: at most one active coverage across overlapping periods. */
        c = decide_overlap(worker, prog->start_month, prog->end_month);
        if (c) {
                d.status = RESULT_DUPLICATE;
                d.covered_by = c->program;
                goto out;
        }

        /* Rule 3: the quota is the most workers covered at once. */
        if (quota_used >= prog->quota) {
                d.reason = REASON_QUOTA_EXCEEDED;
                goto out;
        }

        /* Rule 4. */
        d.status = RESULT_CONFIRMED;
        d.action = DECIDE_REGISTER;
out:
        *out = d;
}

int decide_apply(const struct decision *d, const struct conf_program *prog,
                 struct decide_worker *worker, int64_t *quota_used)
{
        size_t k = 0;

        if (d->action == DECIDE_REGISTER) {
                int rc = decide_worker_add(worker, prog->id, prog->start_month,
                                           prog->end_month);
                if (rc == 0)
                        (*quota_used)++;
                return rc;
        }
        if (d->action != DECIDE_DEACTIVATE)
                return 0;
        /* the journal keeps one coverage per worker and programme */
        for (size_t i = 0; i < worker->n; i++)
                if (strcmp(worker->cov[i].program, prog->id) != 0)
                        worker->cov[k++] = worker->cov[i];
        if (k < worker->n)
                (*quota_used)--;
        worker->n = k;
        return 0;
}
