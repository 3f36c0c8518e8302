/* report: the premium report verb: per programme and month, workers
 * covered, pending and premium due, and the budget committed and remaining
 * (docs/finance.md), from one snapshot of the journal and the
 * configuration's programmes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "report.h"

/* The journal's facts, copied out of its transaction. */
struct facts {
        const char *only; /* --program, or NULL */
        struct report_group *groups;
        size_t n_groups, cap_groups;
        struct report_use *uses;
        size_t n_uses, cap_uses;
        int rc;
};

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
        if (n < *cap)
                return 0;
        size_t c = *cap ? 2 * *cap : 64;
        void *a = realloc(*arr, c * size);
        if (!a)
                return -ENOMEM;
        *arr = a;
        *cap = c;
        return 0;
}

static int on_group(const struct journal_ctl_report_group *g, void *opaque)
{
        struct facts *f = opaque;
        struct report_group *rg;

        if (f->only && strcmp(g->program, f->only) != 0)
                return 0;
        if (grow((void **)&f->groups, &f->cap_groups, f->n_groups, sizeof(*f->groups)))
                return -ENOMEM;
        rg = &f->groups[f->n_groups];
        *rg = (struct report_group){
            .program = strdup(g->program),
            .klass =
                g->klass == JOURNAL_CTL_REPORT_WORKERS ? REPORT_WORKERS : REPORT_PENDING,
            .first_month = g->first_month,
            .last_month = g->last_month,
            .count = g->count,
        };
        if (!rg->program)
                return -ENOMEM;
        f->n_groups++;
        return 0;
}

static int on_quota(const char *program, int64_t used, int64_t months, void *opaque)
{
        struct facts *f = opaque;

        (void)months; /* the report sums its own, from the groups */

        if (!program || (f->only && strcmp(program, f->only) != 0))
                return 0;
        if (grow((void **)&f->uses, &f->cap_uses, f->n_uses, sizeof(*f->uses)))
                return -ENOMEM;
        f->uses[f->n_uses].program = strdup(program);
        if (!f->uses[f->n_uses].program)
                return -ENOMEM;
        f->uses[f->n_uses++].used = used;
        return 0;
}

static void facts_free(struct facts *f)
{
        for (size_t i = 0; i < f->n_groups; i++)
                free((char *)f->groups[i].program);
        for (size_t i = 0; i < f->n_uses; i++)
                free((char *)f->uses[i].program);
        free(f->groups);
        free(f->uses);
}

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: " CTL_PROG " report [--program ID] [--json | --csv]\n"
                "\n"
                "The premium report: for each configured programme, the budget, the\n"
                "premium committed and the budget remaining, and for every month of its\n"
                "period the workers covered, those pending and the premium due.\n"
                "\n"
                "      --program ID  only this programme\n"
                "      --json        one premium-report/v1 object\n"
                "      --csv         program,month,workers,pending,premium rows\n");
}

static void unknown_program(const struct conf *conf, const char *id)
{
        char list[1024];
        size_t n = 0;

        list[0] = '\0';
        for (size_t i = 0; i < conf->n_programs && n < sizeof(list); i++)
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
                                      conf->programs[i].id);
        ctl_error("report", "no programme '%s' in the configuration (it has: %s)", id,
                  list);
}

int report_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"program", required_argument, NULL, 'p'},
            {"csv", no_argument, NULL, 'C'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const struct conf_program *programs;
        struct facts f = {0};
        struct report r = {0};
        char err[REPORT_ERR_SIZE];
        size_t n_programs;
        bool csv = false;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (opt) {
                case 'p':
                        f.only = optarg;
                        break;
                case 'C':
                        csv = true;
                        break;
                default:
                        if ((rc = ctl_common_option(c, opt, usage)) >= 0)
                                return rc;
                        break;
                }
        }
        if (optind != argc || (csv && c->json)) {
                if (csv && c->json)
                        ctl_error("report", "--json and --csv are exclusive");
                usage(stderr);
                return EX_USAGE;
        }
        /* the programmes' premiums, budgets and periods are the configuration's */
        rc = ctl_config(c, "report", true);
        if (rc != EX_OK)
                return rc;
        programs = c->conf->programs;
        n_programs = c->conf->n_programs;
        if (f.only) {
                programs = conf_program_find(c->conf, f.only);
                if (!programs) {
                        unknown_program(c->conf, f.only);
                        return EX_DATAERR;
                }
                n_programs = 1;
        }
        rc = ctl_open(c, "report", false);
        if (rc != EX_OK)
                return rc;
        rc = journal_ctl_report(c->jc, on_group, on_quota, &f);
        if (rc < 0) {
                rc = ctl_journal_error(c, "report", rc);
                goto out;
        }
        if (report_build(programs, n_programs, f.groups, f.n_groups, f.uses, f.n_uses, &r,
                         err) < 0) {
                ctl_error("report", "%s", err);
                rc = EX_DATAERR;
                goto out;
        }
        for (size_t i = 0; i < r.n_unconfigured; i++)
                ctl_error("report",
                          "programme %s is in the journal but not in the configuration: "
                          "its premium cannot be computed, so it is counted, not priced",
                          r.unconfigured[i].program);
        if (c->json)
                rc = report_print_json(&r, stdout);
        else if (csv)
                rc = report_print_csv(&r, stdout);
        else
                rc = report_print_table(&r, stdout);
        rc = rc < 0 ? EX_OSERR : EX_OK;
out:
        report_free(&r);
        facts_free(&f);
        return rc;
}
