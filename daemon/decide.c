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

void decide(const struct event *ev, const struct conf_program *prog,
            const struct decide_worker *worker, const struct decide_use *use,
            struct decision *out)
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
                        const struct decide_coverage *w = &worker->cov[i];
                        if (w->live && strcmp(w->program, prog->id) == 0) {
                                d.status = RESULT_CONFIRMED;
                                d.action = DECIDE_DEACTIVATE;
                                d.first_month = w->first_month;
                                d.last_month = w->first_month - 1;
                                d.months = -(w->last_month - w->first_month + 1);
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
        if (use->used >= prog->quota) {
                d.reason = REASON_QUOTA_EXCEEDED;
                goto out;
        }

        /* Rule 4. */
        d.status = RESULT_CONFIRMED;
        d.action = DECIDE_REGISTER;
        d.first_month = prog->start_month;
        d.last_month = prog->end_month;
        d.months = prog->end_month - prog->start_month + 1;
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
                        use->months += d->months;
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
                        use->months += d->months;
                        if (c->last_month < c->first_month)
                                continue;
                }
                worker->cov[k++] = *c;
        }
        worker->n = k;
        return 0;
}
