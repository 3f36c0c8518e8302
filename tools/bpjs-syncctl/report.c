/* report: see report.h. Each programme's months are counted with two
 * difference arrays (a group adds its count at its first month and takes it
 * off after its last), so the work is one pass over the groups and one over
 * the months, whatever the number of workers. Every sum and product is
 * checked: an amount that does not fit is an error, never a wrong figure. */
#include "report.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool add(int64_t *acc, int64_t v)
{
        return !__builtin_add_overflow(*acc, v, acc);
}

static bool mul3(int64_t a, int64_t b, int64_t c, int64_t *out)
{
        int64_t ab;
        return !__builtin_mul_overflow(a, b, &ab) && !__builtin_mul_overflow(ab, c, out);
}

static const struct conf_program *find(const struct conf_program *programs, size_t n,
                                       const char *id, size_t *index)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(programs[i].id, id) == 0) {
                        *index = i;
                        return &programs[i];
                }
        return NULL;
}

static struct report_unconfigured *unconfigured(struct report *r, const char *id)
{
        struct report_unconfigured *u;

        for (size_t i = 0; i < r->n_unconfigured; i++)
                if (strcmp(r->unconfigured[i].program, id) == 0)
                        return &r->unconfigured[i];
        u = realloc(r->unconfigured, (r->n_unconfigured + 1) * sizeof(*u));
        if (!u)
                return NULL;
        r->unconfigured = u;
        u = &u[r->n_unconfigured];
        memset(u, 0, sizeof(*u));
        u->program = strdup(id);
        if (!u->program)
                return NULL;
        r->n_unconfigured++;
        return u;
}

/* Per programme while building: the two difference arrays (n_months + 1). */
struct diff {
        int64_t *workers, *pending;
};

static int overflow(const struct conf_program *p, const char *what, char *err)
{
        snprintf(err, REPORT_ERR_SIZE, "programme %s: the %s does not fit in 64 bits",
                 p->id, what);
        return -EOVERFLOW;
}

static int take_group(struct report *r, struct diff *d,
                      const struct conf_program *programs, size_t n_programs,
                      const struct report_group *g, char *err)
{
        size_t i;
        const struct conf_program *p = find(programs, n_programs, g->program, &i);
        struct report_program *rp;
        int64_t first, last, premium, *arr;

        if (!p) {
                struct report_unconfigured *u = unconfigured(r, g->program);
                if (!u)
                        return -ENOMEM;
                if (!add(g->klass == REPORT_WORKERS ? &u->workers : &u->pending,
                         g->count))
                        return -EOVERFLOW;
                return 0;
        }
        rp = &r->programs[i];
        first = g->first_month > p->start_month ? g->first_month : p->start_month;
        last = g->last_month < p->end_month ? g->last_month : p->end_month;
        if (first > last || g->count <= 0 || rp->n_months == 0)
                return 0; /* no month of the period */
        if (!mul3(g->count, last - first + 1, p->monthly_premium, &premium) ||
            !add(&rp->committed, premium))
                return overflow(p, "committed premium", err);
        arr = g->klass == REPORT_WORKERS ? d[i].workers : d[i].pending;
        if (!add(&arr[first - p->start_month], g->count) ||
            !add(&arr[last - p->start_month + 1], -g->count))
                return overflow(p, "number of coverages", err);
        return 0;
}

/* Runs the difference arrays into the months. */
static int settle(struct report_program *rp, const struct diff *d, char *err)
{
        const struct conf_program *p = rp->conf;
        int64_t workers = 0, pending = 0;

        for (size_t m = 0; m < rp->n_months; m++) {
                struct report_month *rm = &rp->months[m];
                if (!add(&workers, d->workers[m]) || !add(&pending, d->pending[m]))
                        return overflow(p, "number of coverages", err);
                rm->month = p->start_month + (int64_t)m;
                rm->workers = workers;
                rm->pending = pending;
                if (__builtin_mul_overflow(workers, p->monthly_premium, &rm->premium) ||
                    !add(&rp->premium_total, rm->premium))
                        return overflow(p, "premium", err);
        }
        if (p->budget >= 0 &&
            __builtin_sub_overflow(p->budget, rp->committed, &rp->remaining))
                return overflow(p, "remaining budget", err);
        return 0;
}

int report_build(const struct conf_program *programs, size_t n_programs,
                 const struct report_group *groups, size_t n_groups,
                 const struct report_use *uses, size_t n_uses, struct report *out,
                 char *err)
{
        struct report r = {0};
        struct diff *d = calloc(n_programs ? n_programs : 1, sizeof(*d));
        int rc = d ? 0 : -ENOMEM;

        err[0] = '\0';
        if (rc == 0 && n_programs) {
                r.programs = calloc(n_programs, sizeof(*r.programs));
                rc = r.programs ? 0 : -ENOMEM;
        }
        for (size_t i = 0; rc == 0 && i < n_programs; i++) {
                const struct conf_program *p = &programs[i];
                struct report_program *rp = &r.programs[i];
                r.n_programs = i + 1;
                rp->conf = p;
                rp->n_months = p->end_month >= p->start_month
                                   ? (size_t)(p->end_month - p->start_month + 1)
                                   : 0;
                rp->months = calloc(rp->n_months ? rp->n_months : 1, sizeof(*rp->months));
                d[i].workers = calloc(rp->n_months + 1, sizeof(int64_t));
                d[i].pending = calloc(rp->n_months + 1, sizeof(int64_t));
                if (!rp->months || !d[i].workers || !d[i].pending)
                        rc = -ENOMEM;
        }
        for (size_t g = 0; rc == 0 && g < n_groups; g++)
                rc = take_group(&r, d, programs, n_programs, &groups[g], err);
        for (size_t i = 0; rc == 0 && i < n_programs; i++)
                rc = settle(&r.programs[i], &d[i], err);
        for (size_t u = 0; rc == 0 && u < n_uses; u++) {
                size_t i;
                if (find(programs, n_programs, uses[u].program, &i)) {
                        r.programs[i].used = uses[u].used;
                } else if (uses[u].used) {
                        struct report_unconfigured *un =
                            unconfigured(&r, uses[u].program);
                        if (!un)
                                rc = -ENOMEM;
                        else
                                un->used = uses[u].used;
                }
        }
        if (rc == -ENOMEM)
                snprintf(err, REPORT_ERR_SIZE, "out of memory");
        else if (rc == -EOVERFLOW && !*err)
                snprintf(err, REPORT_ERR_SIZE, "a count does not fit in 64 bits");
        for (size_t i = 0; d && i < n_programs; i++) {
                free(d[i].workers);
                free(d[i].pending);
        }
        free(d);
        if (rc < 0) {
                report_free(&r);
                return rc;
        }
        *out = r;
        return 0;
}

void report_free(struct report *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n_programs; i++)
                free(r->programs[i].months);
        free(r->programs);
        for (size_t i = 0; i < r->n_unconfigured; i++)
                free(r->unconfigured[i].program);
        free(r->unconfigured);
        memset(r, 0, sizeof(*r));
}
