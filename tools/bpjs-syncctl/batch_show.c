/* batch show: one batch, every item with its outcome (NIKs masked), and
 * what operators did to it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "nik.h"
#include "out.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: " CTL_PROG " batch show ID [--json]\n"
                "\n"
                "ID is the batch number (12) or its name (b-1a2b3c4d-000000000012).\n"
                "Shows its state, attempts, times and last error, every item with its\n"
                "result (NIKs masked), and the operator actions that concern it.\n");
}

struct show {
        struct ctl *c;
        char name[JOURNAL_CTL_NAME_SIZE];
        cJSON *batch, *items, *history; /* --json */
        struct out_table *t, *h;        /* human */
        struct journal_batch b;         /* human: copied, strings below */
        char last_error[512];
        int rc;
};

static const char *status_name(int status)
{
        return status ? result_status_name(status) : "pending";
}

static int on_batch(const struct journal_ctl_batch *b, void *opaque)
{
        struct show *s = opaque;

        if (s->c->json) {
                char t[CTL_TIME_SIZE];
                cJSON *o = s->batch;
                cJSON_AddStringToObject(o, "batch", s->name);
                cJSON_AddItemToObject(o, "id", out_json_int(b->b.id));
                cJSON_AddStringToObject(o, "kind", ctl_kind_name(b->b.kind));
                cJSON_AddStringToObject(o, "state", journal_batch_state_name(b->b.state));
                cJSON_AddItemToObject(o, "attempts", out_json_int(b->b.attempts));
                cJSON_AddStringToObject(o, "created_at", ctl_time(b->b.created_at, t));
                cJSON_AddStringToObject(o, "updated_at", ctl_time(b->b.updated_at, t));
                cJSON_AddItemToObject(o, "next_at",
                                      b->b.state == JOURNAL_BATCH_PENDING
                                          ? cJSON_CreateString(ctl_time(b->b.next_at, t))
                                          : cJSON_CreateNull());
                cJSON_AddItemToObject(o, "last_error", out_json_text(b->b.last_error));
                cJSON_AddItemToObject(o, "body_bytes",
                                      out_json_int((int64_t)b->b.body_len));
                return 0;
        }
        s->b = b->b;
        s->b.body = NULL;
        snprintf(s->last_error, sizeof(s->last_error), "%s",
                 b->b.last_error ? b->b.last_error : "-");
        s->b.last_error = s->last_error;
        return 0;
}

/* The record of a batch, printed once the read transaction is over. */
static void print_record(const struct show *s)
{
        const struct journal_batch *b = &s->b;
        char t[CTL_TIME_SIZE];
        const int w = 11;

        out_field(stdout, w, "batch", "%s (id %lld)", s->name, (long long)b->id);
        out_field(stdout, w, "kind", "%s", ctl_kind_name(b->kind));
        out_field(stdout, w, "state", "%s", journal_batch_state_name(b->state));
        out_field(stdout, w, "attempts", "%lld", (long long)b->attempts);
        out_field(stdout, w, "created", "%s", ctl_time(b->created_at, t));
        out_field(stdout, w, "updated", "%s", ctl_time(b->updated_at, t));
        if (b->state == JOURNAL_BATCH_PENDING)
                out_field(stdout, w, "next send", "%s", ctl_time(b->next_at, t));
        out_field(stdout, w, "last error", "%s", b->last_error);
        if (b->body_len == 0)
                out_field(stdout, w, "body",
                          "pruned (past the endpoint's 24 h "
                          "idempotency window; a replay rebuilds it)");
        else
                out_field(stdout, w, "body", "%zu bytes", b->body_len);
        out_field(stdout, w, "items", "%zu", out_table_rows(s->t));
}

static int on_item(const struct journal_ctl_item *it, void *opaque)
{
        struct show *s = opaque;
        char rid[JOURNAL_CTL_NAME_SIZE], masked[NIK_MASKED_SIZE], seq[24];
        const char *cov =
            it->coverage ? journal_ctl_coverage_state_name(it->coverage) : "replaced";

        journal_ctl_registration_id(s->c->jc, it->op.reg_seq, rid);
        nik_mask(it->op.nik, masked);
        if (s->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "seq", out_json_int(it->op.seq));
                cJSON_AddStringToObject(o, "registration_id", rid);
                cJSON_AddStringToObject(o, "nik", masked);
                cJSON_AddItemToObject(o, "program", out_json_text(it->op.program));
                cJSON_AddItemToObject(o, "event_id", out_json_text(it->op.event_id));
                cJSON_AddStringToObject(o, "status", status_name(it->status));
                cJSON_AddItemToObject(o, "kpj",
                                      out_json_text(it->kpj ? it->kpj : it->op.reg_kpj));
                cJSON_AddItemToObject(o, "reason", out_json_text(it->reason));
                cJSON_AddStringToObject(o, "coverage", cov);
                cJSON_AddItemToArray(s->items, o);
                return 0;
        }
        snprintf(seq, sizeof(seq), "%lld", (long long)it->op.seq);
        const char *row[] = {seq,
                             rid,
                             masked,
                             it->op.program,
                             it->op.event_id,
                             status_name(it->status),
                             it->kpj ? it->kpj : it->op.reg_kpj,
                             cov,
                             it->reason};
        return s->rc = out_table_add(s->t, row);
}

static int on_audit(const struct journal_ctl_audit *a, void *opaque)
{
        struct show *s = opaque;
        char t[CTL_TIME_SIZE];

        ctl_time(a->at, t);
        if (s->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "at", t);
                cJSON_AddItemToObject(o, "who", out_json_text(a->who));
                cJSON_AddItemToObject(o, "action", out_json_text(a->action));
                cJSON_AddItemToObject(o, "detail", out_json_text(a->detail));
                cJSON_AddItemToArray(s->history, o);
                return 0;
        }
        const char *row[] = {t, a->who, a->action, a->detail};
        return s->rc = out_table_add(s->h, row);
}

static int show(struct ctl *c, int64_t id)
{
        static const char *const item_headers[] = {"SEQ",       "REGISTRATION", "NIK",
                                                   "PROGRAMME", "EVENT",        "RESULT",
                                                   "KPJ",       "COVERAGE",     "REASON"};
        static const char *const audit_headers[] = {"AT", "WHO", "ACTION", "DETAIL"};
        struct show s = {.c = c};
        int rc = EX_OSERR;

        journal_ctl_batch_name(c->jc, id, s.name);
        if (c->json) {
                s.batch = cJSON_CreateObject();
                s.items = cJSON_AddArrayToObject(s.batch, "items");
                s.history = cJSON_AddArrayToObject(s.batch, "history");
                if (!s.items || !s.history)
                        goto out;
        } else {
                s.t = out_table_new(sizeof(item_headers) / sizeof(item_headers[0]),
                                    item_headers);
                s.h = out_table_new(4, audit_headers);
                if (!s.t || !s.h)
                        goto out;
        }
        rc = journal_ctl_batch_show(c->jc, id, on_batch, on_item, &s);
        if (rc >= 0 && s.rc < 0)
                rc = s.rc;
        if (rc >= 0)
                rc = journal_ctl_audit_list(c->jc, s.name, 0, on_audit, &s);
        if (rc >= 0 && s.rc < 0)
                rc = s.rc;
        if (rc == -ENOENT) {
                ctl_error("batch show", "no batch %s in journal %s", s.name,
                          journal_id(c->jc));
                rc = EX_DATAERR;
                goto out;
        }
        if (rc < 0) {
                rc = ctl_journal_error(c, "batch show", rc);
                goto out;
        }
        rc = EX_OK;
        if (c->json) {
                out_json(s.batch, false, stdout);
                s.batch = NULL;
                goto out;
        }
        print_record(&s);
        if (out_table_rows(s.t)) {
                fputc('\n', stdout);
                out_table_print(s.t, false, stdout);
        }
        if (out_table_rows(s.h)) {
                fprintf(stdout, "\nhistory\n");
                out_table_print(s.h, false, stdout);
        }
out:
        cJSON_Delete(s.batch);
        out_table_free(s.t);
        out_table_free(s.h);
        return rc;
}

int batch_show_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int64_t id;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (opt) {
                default:
                        if ((rc = ctl_common_option(c, opt, usage)) >= 0)
                                return rc;
                        break;
                }
        }
        if (argc - optind != 2 || strcmp(argv[optind], "show") != 0) {
                usage(stderr);
                return EX_USAGE;
        }
        rc = ctl_open(c, "batch show", false);
        if (rc != EX_OK)
                return rc;
        rc = journal_ctl_batch_parse(c->jc, argv[optind + 1], &id);
        if (rc == -EXDEV) {
                ctl_error("batch show",
                          "%s is a batch of another journal (this one is %s)",
                          argv[optind + 1], journal_id(c->jc));
                return EX_DATAERR;
        }
        if (rc < 0) {
                ctl_error("batch show",
                          "'%s' is not a batch id (12 or b-%s-000000000012)",
                          argv[optind + 1], journal_id(c->jc));
                return EX_DATAERR;
        }
        return show(c, id);
}
