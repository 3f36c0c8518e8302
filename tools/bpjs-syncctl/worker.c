/* worker: one worker's history across programmes: the events decided, the
 * coverage rows, the operations pushed and their batches, the kpj. The NIK
 * is masked unless --reveal, and a reveal is itself journaled first. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "event.h"
#include "nik.h"
#include "out.h"
#include "safetext.h"

static void usage(FILE *f)
{
        fprintf(
            f, "Usage: " CTL_PROG " worker NIK [--reveal] [--json]\n"
               "\n"
               "The worker's events (id, type, result, reason, when), coverage per\n"
               "programme, registrations and deactivations with their batches, and kpj.\n"
               "The NIK is shown masked; --reveal shows it whole and records in the\n"
               "journal's audit table who revealed it (so it needs write access).\n");
}

struct history {
        struct ctl *c;
        bool reveal;
        const char *nik; /* as shown */
        char kpj[32];
        cJSON *events, *coverage, *ops;
        struct out_table *te, *tc, *to;
        int rc;
};

static int on_event(const struct journal_ctl_event *e, void *opaque)
{
        struct history *h = opaque;
        char t[CTL_TIME_SIZE];
        const char *type = e->type ? event_type_name(e->type) : NULL;
        const char *status = result_status_name(e->status);
        const char *why = e->covered_by ? e->covered_by : e->reason;

        ctl_time(e->at, t);
        if (h->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "event_id", out_json_text(e->event_id));
                cJSON_AddItemToObject(o, "type", out_json_text(type));
                cJSON_AddItemToObject(o, "program", out_json_text(e->program));
                cJSON_AddStringToObject(o, "status", status);
                cJSON_AddItemToObject(o, "reason", out_json_text(e->reason));
                cJSON_AddItemToObject(o, "covered_by", out_json_text(e->covered_by));
                cJSON_AddStringToObject(o, "at", t);
                cJSON_AddItemToArray(h->events, o);
                return 0;
        }
        const char *row[] = {t, e->event_id, type, e->program, status, why};
        return h->rc = out_table_add(h->te, row);
}

static int on_coverage(const struct journal_ctl_coverage *cov, void *opaque)
{
        struct history *h = opaque;
        char t[CTL_TIME_SIZE], start[8], end[8], period[20], rid[JOURNAL_CTL_NAME_SIZE];
        char first[8], last[8], months[20] = "none";
        const char *state = journal_ctl_coverage_state_name(cov->state);
        /* a failed coverage commits nothing, whatever months it had */
        bool has_months =
            cov->last_month >= cov->first_month && cov->state != JOURNAL_COVERAGE_FAILED;

        ctl_time(cov->updated_at, t);
        conf_month_format(cov->start_month, start);
        conf_month_format(cov->end_month, end);
        conf_month_format(cov->first_month, first);
        conf_month_format(cov->last_month, last);
        snprintf(period, sizeof(period), "%s..%s", start, end);
        if (has_months)
                snprintf(months, sizeof(months), "%s..%s", first, last);
        journal_ctl_registration_id(h->c->jc, cov->reg_seq, rid);
        if (h->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "program", out_json_text(cov->program));
                cJSON_AddStringToObject(o, "state", state);
                cJSON_AddStringToObject(o, "start", start);
                cJSON_AddStringToObject(o, "end", end);
                if (has_months) {
                        cJSON *m = cJSON_AddObjectToObject(o, "months");
                        cJSON_AddStringToObject(m, "first", first);
                        cJSON_AddStringToObject(m, "last", last);
                } else {
                        cJSON_AddNullToObject(o, "months");
                }
                cJSON_AddStringToObject(o, "registration_id", rid);
                cJSON_AddItemToObject(o, "event_id", out_json_text(cov->event_id));
                cJSON_AddStringToObject(o, "updated_at", t);
                cJSON_AddItemToArray(h->coverage, o);
                return 0;
        }
        const char *row[] = {cov->program, state, period, months, rid, cov->event_id, t};
        return h->rc = out_table_add(h->tc, row);
}

static int on_op(const struct journal_ctl_item *it, void *opaque)
{
        struct history *h = opaque;
        char rid[JOURNAL_CTL_NAME_SIZE], batch[JOURNAL_CTL_NAME_SIZE] = "", seq[24];
        const char *kind =
            it->op.kind == JOURNAL_OP_DEACTIVATE ? "deactivation" : "registration";
        const char *status = it->status ? result_status_name(it->status) : "pending";
        const char *bstate =
            it->batch_state ? journal_batch_state_name(it->batch_state) : NULL;

        if (it->kpj && *it->kpj)
                snprintf(h->kpj, sizeof(h->kpj), "%s", it->kpj);
        journal_ctl_registration_id(h->c->jc, it->op.reg_seq, rid);
        if (it->op.batch_id)
                journal_ctl_batch_name(h->c->jc, it->op.batch_id, batch);
        if (h->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "seq", out_json_int(it->op.seq));
                cJSON_AddStringToObject(o, "kind", kind);
                cJSON_AddStringToObject(o, "registration_id", rid);
                cJSON_AddItemToObject(o, "program", out_json_text(it->op.program));
                cJSON_AddItemToObject(o, "event_id", out_json_text(it->op.event_id));
                cJSON_AddItemToObject(o, "batch", out_json_text(batch[0] ? batch : NULL));
                cJSON_AddItemToObject(o, "batch_state", out_json_text(bstate));
                cJSON_AddStringToObject(o, "status", status);
                cJSON_AddItemToObject(o, "kpj", out_json_text(it->kpj));
                cJSON_AddItemToObject(o, "reason", out_json_text(it->reason));
                cJSON_AddItemToArray(h->ops, o);
                return 0;
        }
        snprintf(seq, sizeof(seq), "%lld", (long long)it->op.seq);
        const char *row[] = {seq,    kind,   rid,     it->op.program, batch,
                             bstate, status, it->kpj, it->reason};
        return h->rc = out_table_add(h->to, row);
}

static void print_human(const struct history *h)
{
        char nik[4 * NIK_LEN + 4], kpj[128];

        safetext_escape(h->nik, strlen(h->nik), nik, sizeof(nik));
        safetext_escape(h->kpj, strlen(h->kpj), kpj, sizeof(kpj));
        printf("worker  %s%s%s\n", nik, kpj[0] ? "  kpj " : "", kpj);
        printf("\nevents\n");
        out_table_print(h->te, h->reveal, stdout);
        if (out_table_rows(h->tc)) {
                printf("\ncoverage\n");
                out_table_print(h->tc, h->reveal, stdout);
        }
        if (out_table_rows(h->to)) {
                printf("\noperations\n");
                out_table_print(h->to, h->reveal, stdout);
        }
}

static int show(struct ctl *c, const char *nik, bool reveal)
{
        static const char *const he[] = {"AT",        "EVENT",  "TYPE",
                                         "PROGRAMME", "RESULT", "REASON / COVERED BY"};
        static const char *const hc[] = {"PROGRAMME",    "STATE", "PERIOD", "MONTHS",
                                         "REGISTRATION", "EVENT", "UPDATED"};
        static const char *const ho[] = {"SEQ",       "KIND",  "REGISTRATION",
                                         "PROGRAMME", "BATCH", "BATCH STATE",
                                         "RESULT",    "KPJ",   "REASON"};
        char masked[NIK_MASKED_SIZE];
        struct history h = {.c = c, .reveal = reveal};
        struct journal_ctl_worker_fns fns = {on_event, on_coverage, on_op};
        cJSON *o = NULL;
        int rc;

        h.nik = reveal ? nik : nik_mask(nik, masked);
        if (c->json) {
                o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "nik", h.nik);
                h.events = cJSON_AddArrayToObject(o, "events");
                h.coverage = cJSON_AddArrayToObject(o, "coverage");
                h.ops = cJSON_AddArrayToObject(o, "operations");
                if (!h.events || !h.coverage || !h.ops) {
                        cJSON_Delete(o);
                        return EX_OSERR;
                }
        } else {
                h.te = out_table_new(6, he);
                h.tc = out_table_new(7, hc);
                h.to = out_table_new(9, ho);
                if (!h.te || !h.tc || !h.to) {
                        rc = EX_OSERR;
                        goto out;
                }
        }
        rc = journal_ctl_worker(c->jc, nik, &fns, &h);
        if (rc >= 0 && h.rc < 0)
                rc = h.rc;
        if (rc < 0) {
                rc = ctl_journal_error(c, "worker", rc);
                goto out;
        }
        if (rc == 0) {
                ctl_error("worker", "no record of worker %s in this journal", h.nik);
                rc = EX_DATAERR;
                goto out;
        }
        rc = EX_OK;
        if (c->json) {
                cJSON_AddItemToObject(o, "kpj", out_json_text(h.kpj[0] ? h.kpj : NULL));
                out_json(o, reveal, stdout);
                o = NULL;
        } else {
                print_human(&h);
        }
out:
        cJSON_Delete(o);
        out_table_free(h.te);
        out_table_free(h.tc);
        out_table_free(h.to);
        return rc;
}

int worker_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"reveal", no_argument, NULL, 'r'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        bool reveal = false;
        const char *nik;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "rh", opts, NULL)) != -1) {
                switch (opt) {
                case 'r':
                        reveal = true;
                        break;
                default:
                        if ((rc = ctl_common_option(c, opt, usage)) >= 0)
                                return rc;
                        break;
                }
        }
        if (argc - optind != 1) {
                usage(stderr);
                return EX_USAGE;
        }
        nik = argv[optind];
        if (strlen(nik) != NIK_LEN || strspn(nik, "0123456789") != NIK_LEN) {
                ctl_error("worker", "a NIK is 16 digits (got %zu characters)",
                          strlen(nik));
                return EX_DATAERR;
        }
        rc = ctl_open(c, "worker", reveal);
        if (rc != EX_OK)
                return rc;
        if (reveal) {
                char who[CTL_WHO_SIZE], masked[NIK_MASKED_SIZE], detail[64];
                snprintf(detail, sizeof(detail), "worker %s", nik_mask(nik, masked));
                rc = journal_ctl_audit_add(c->jc, ctl_who(who), "reveal", detail);
                if (rc < 0) {
                        ctl_error("worker",
                                  "cannot record the reveal in the audit table, so "
                                  "the NIK stays masked");
                        return ctl_journal_error(c, "worker", rc);
                }
        }
        return show(c, nik, reveal);
}
