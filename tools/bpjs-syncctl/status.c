/* status: what the daemon has to do, what failed, and how full each
 * programme is, from one snapshot of the journal. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "ctl.h"
#include "out.h"
#include "report.h"

#define MAX_PROGRAMS 256

struct quota_use {
        char program[EVENT_PROGRAM_MAX + 1];
        int64_t used;
        int64_t months;                  /* committed */
        int64_t quota;                   /* -1: not in the configuration */
        int64_t monthly_premium, budget; /* the configuration's; budget -1: none */
};

struct quotas {
        struct quota_use q[MAX_PROGRAMS];
        size_t n;
};

static struct quota_use *quota_slot(struct quotas *qs, const char *program)
{
        for (size_t i = 0; i < qs->n; i++)
                if (strcmp(qs->q[i].program, program) == 0)
                        return &qs->q[i];
        if (qs->n == MAX_PROGRAMS)
                return NULL;
        struct quota_use *u = &qs->q[qs->n++];
        snprintf(u->program, sizeof(u->program), "%s", program);
        u->used = 0;
        u->months = 0;
        u->quota = -1;
        u->monthly_premium = 0;
        u->budget = -1;
        return u;
}

static int on_quota(const char *program, int64_t used, int64_t months, void *opaque)
{
        struct quota_use *u = quota_slot(opaque, program ? program : "?");

        if (u) {
                u->used = used;
                u->months = months;
        }
        return 0;
}

/* The committed premium in Rupiah; false when it does not fit. */
static bool committed_of(const struct quota_use *u, int64_t *out)
{
        return decide_premium(u->months, u->monthly_premium, out);
}

static void usage(FILE *f)
{
        fprintf(
            f, "Usage: " CTL_PROG " status [--json]\n"
               "\n"
               "The backlog (operations not batched yet, batches pending, in flight and\n"
               "failed), the age of the oldest unanswered operation, the last endpoint\n"
               "error, each programme's quota use and committed premium against its\n"
               "budget, and events consumed and results published.\n");
}

static void print_json(struct ctl *c, const struct journal_ctl_status *st,
                       const struct quotas *qs, int64_t now)
{
        cJSON *o = cJSON_CreateObject(), *b, *q;
        char t[CTL_TIME_SIZE];

        cJSON_AddStringToObject(o, "journal_id", journal_id(c->jc));
        cJSON_AddItemToObject(o, "unbatched", out_json_int(st->ops_unbatched));
        b = cJSON_AddObjectToObject(o, "batches");
        for (int s = 1; s < 8; s++) {
                const char *n = journal_batch_state_name(s);
                if (strcmp(n, "?") != 0)
                        cJSON_AddItemToObject(b, n, out_json_int(st->batches[s]));
        }
        cJSON_AddItemToObject(o, "failed_items", out_json_int(st->items_failed));
        if (st->oldest_unsent_at) {
                cJSON_AddStringToObject(o, "oldest_unsent_at",
                                        ctl_time(st->oldest_unsent_at, t));
                cJSON_AddItemToObject(o, "oldest_unsent_age_s",
                                      out_json_int((now - st->oldest_unsent_at) / 1000));
        } else {
                cJSON_AddNullToObject(o, "oldest_unsent_at");
                cJSON_AddNullToObject(o, "oldest_unsent_age_s");
        }
        if (st->last_error_batch) {
                char name[JOURNAL_CTL_NAME_SIZE];
                cJSON *e = cJSON_AddObjectToObject(o, "last_error");
                journal_ctl_batch_name(c->jc, st->last_error_batch, name);
                cJSON_AddStringToObject(e, "batch", name);
                cJSON_AddStringToObject(e, "at", ctl_time(st->last_error_at, t));
                cJSON_AddStringToObject(e, "error", st->last_error);
        } else {
                cJSON_AddNullToObject(o, "last_error");
        }
        cJSON_AddItemToObject(o, "consumed", out_json_int(st->consumed));
        cJSON_AddItemToObject(o, "published", out_json_int(st->published));
        cJSON_AddItemToObject(o, "outbox", out_json_int(st->outbox));
        q = cJSON_AddArrayToObject(o, "quota");
        for (size_t i = 0; i < qs->n; i++) {
                cJSON *p = cJSON_CreateObject();
                cJSON_AddStringToObject(p, "program", qs->q[i].program);
                cJSON_AddItemToObject(p, "used", out_json_int(qs->q[i].used));
                cJSON_AddItemToObject(p, "quota",
                                      qs->q[i].quota < 0 ? cJSON_CreateNull()
                                                         : out_json_int(qs->q[i].quota));
                int64_t committed = 0;
                bool known = qs->q[i].quota >= 0 && committed_of(&qs->q[i], &committed);
                bool budget = known && qs->q[i].budget >= 0;
                cJSON_AddItemToObject(
                    p, "committed", known ? out_json_int(committed) : cJSON_CreateNull());
                cJSON_AddItemToObject(p, "budget",
                                      budget ? out_json_int(qs->q[i].budget)
                                             : cJSON_CreateNull());
                cJSON_AddItemToObject(p, "remaining",
                                      budget ? out_json_int(qs->q[i].budget - committed)
                                             : cJSON_CreateNull());
                cJSON_AddBoolToObject(p, "over_budget",
                                      budget && committed > qs->q[i].budget);
                cJSON_AddItemToArray(q, p);
        }
        out_json(o, false, stdout);
}

static void print_human(struct ctl *c, const struct journal_ctl_status *st,
                        const struct quotas *qs, int64_t now)
{
        char t[CTL_TIME_SIZE];
        const int w = 14;

        assert(c->journal_path || c->conf); /* ctl_open opened the journal of one */
        out_field(stdout, w, "journal", "%s (id %s)",
                  c->journal_path         ? c->journal_path
                  : *c->conf->journal.url ? c->conf->journal.url
                                          : c->conf->journal.path,
                  journal_id(c->jc));
        out_field(
            stdout, w, "backlog",
            "%lld not batched yet; batches: %lld pending, %lld in flight, "
            "%lld failed (%lld items)",
            (long long)st->ops_unbatched, (long long)st->batches[JOURNAL_BATCH_PENDING],
            (long long)st->batches[JOURNAL_BATCH_INFLIGHT],
            (long long)st->batches[JOURNAL_BATCH_FAILED], (long long)st->items_failed);
        out_field(stdout, w, "done", "%lld batches",
                  (long long)st->batches[JOURNAL_BATCH_DONE]);
        if (st->oldest_unsent_at) {
                char age[CTL_TIME_SIZE];
                out_field(stdout, w, "oldest unsent", "%s (decided %s)",
                          ctl_age(now - st->oldest_unsent_at, age),
                          ctl_time(st->oldest_unsent_at, t));
        } else {
                out_field(stdout, w, "oldest unsent", "-");
        }
        if (st->last_error_batch) {
                char name[JOURNAL_CTL_NAME_SIZE];
                journal_ctl_batch_name(c->jc, st->last_error_batch, name);
                out_field(stdout, w, "last error", "%s at %s: %s", name,
                          ctl_time(st->last_error_at, t), st->last_error);
        } else {
                out_field(stdout, w, "last error", "-");
        }
        out_field(stdout, w, "events",
                  "%lld consumed, %lld results published, %lld in the outbox",
                  (long long)st->consumed, (long long)st->published,
                  (long long)st->outbox);
        for (size_t i = 0; i < qs->n; i++) {
                char total[24];
                if (qs->q[i].quota < 0)
                        snprintf(total, sizeof(total), "? (not configured)");
                else
                        snprintf(total, sizeof(total), "%lld", (long long)qs->q[i].quota);
                out_field(stdout, w, i ? "" : "quota", "%-*s %lld/%s",
                          EVENT_PROGRAM_MAX / 2, qs->q[i].program,
                          (long long)qs->q[i].used, total);
        }
        const char *label = "premium";
        for (size_t i = 0; i < qs->n; i++) {
                const struct quota_use *u = &qs->q[i];
                char committed[32], budget[32], remaining[32];
                int64_t rp = 0;

                if (u->quota < 0 || !committed_of(u, &rp))
                        continue; /* not configured: no premium to price it by */
                report_amount(rp, committed);
                if (u->budget < 0) {
                        out_field(stdout, w, label, "%-*s Rp%s committed, no budget",
                                  EVENT_PROGRAM_MAX / 2, u->program, committed);
                        label = "";
                        continue;
                }
                report_amount(u->budget, budget);
                report_amount(u->budget - rp, remaining);
                out_field(stdout, w, label, "%-*s Rp%s committed of Rp%s, Rp%s left%s",
                          EVENT_PROGRAM_MAX / 2, u->program, committed, budget, remaining,
                          rp > u->budget ? " (OVER BUDGET: new enrolments are rejected; "
                                           "nothing confirmed is undone)"
                                         : "");
                label = "";
        }
}

int status_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct journal_ctl_status st;
        struct quotas *qs;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (opt) {
                default:
                        if ((rc = ctl_common_option(c, opt, usage)) >= 0)
                                return rc;
                        break;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return EX_USAGE;
        }
        rc = ctl_open(c, "status", false);
        if (rc != EX_OK)
                return rc;
        qs = calloc(1, sizeof(*qs));
        if (!qs)
                return EX_OSERR;
        /* configured programmes first, in the configuration's order */
        for (size_t i = 0; c->conf && i < c->conf->n_programs; i++) {
                struct quota_use *u = quota_slot(qs, c->conf->programs[i].id);
                if (u) {
                        u->quota = c->conf->programs[i].quota;
                        u->monthly_premium = c->conf->programs[i].monthly_premium;
                        u->budget = c->conf->programs[i].budget;
                }
        }
        rc = journal_ctl_status(c->jc, on_quota, qs, &st);
        if (rc < 0) {
                free(qs);
                return ctl_journal_error(c, "status", rc);
        }
        if (c->json)
                print_json(c, &st, qs, clock_now_ms());
        else
                print_human(c, &st, qs, clock_now_ms());
        free(qs);
        return EX_OK;
}
