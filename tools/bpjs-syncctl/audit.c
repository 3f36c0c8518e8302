/* audit: what operators did to the journal, who and when. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <sysexits.h>

#include "clock.h"
#include "ctl.h"
#include "out.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: " CTL_PROG " audit [--since T] [--json]\n"
                "\n"
                "Operator actions recorded in the journal (replays, reveals): when, who\n"
                "(the user of the real uid; as root, the user sudo names in $SUDO_UID),\n"
                "what, and the details.\n");
}

struct list {
        struct ctl *c;
        struct out_table *t;
        cJSON *lines;
        int rc;
};

static int on_audit(const struct journal_ctl_audit *a, void *opaque)
{
        struct list *l = opaque;
        char t[CTL_TIME_SIZE];

        ctl_time(a->at, t);
        if (l->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "id", out_json_int(a->id));
                cJSON_AddStringToObject(o, "at", t);
                cJSON_AddItemToObject(o, "who", out_json_text(a->who));
                cJSON_AddItemToObject(o, "action", out_json_text(a->action));
                cJSON_AddItemToObject(o, "detail", out_json_text(a->detail));
                cJSON_AddItemToArray(l->lines, o);
                return 0;
        }
        const char *row[] = {t, a->who, a->action, a->detail};
        return l->rc = out_table_add(l->t, row);
}

int audit_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"since", required_argument, NULL, 'S'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        static const char *const headers[] = {"AT", "WHO", "ACTION", "DETAIL"};
        struct list l = {.c = c};
        int64_t since = 0;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "S:h", opts, NULL)) != -1) {
                switch (opt) {
                case 'S':
                        if (ctl_parse_time(optarg, clock_now_ms(), &since) < 0) {
                                ctl_error("audit", "--since: cannot read '%s'", optarg);
                                return EX_USAGE;
                        }
                        break;
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
        rc = ctl_open(c, "audit", false);
        if (rc != EX_OK)
                return rc;
        if (c->json)
                l.lines = cJSON_CreateArray();
        else
                l.t = out_table_new(4, headers);
        if (!l.t && !l.lines)
                return EX_OSERR;
        rc = journal_ctl_audit_list(c->jc, NULL, since, on_audit, &l);
        if (rc >= 0 && l.rc < 0)
                rc = l.rc;
        if (rc < 0) {
                out_table_free(l.t);
                cJSON_Delete(l.lines);
                return ctl_journal_error(c, "audit", rc);
        }
        if (l.lines)
                return out_json_lines(l.lines, false, stdout) ? EX_OSERR : EX_OK;
        if (out_table_rows(l.t))
                out_table_print(l.t, false, stdout);
        else
                fprintf(stderr, "no operator actions recorded\n");
        out_table_free(l.t);
        return EX_OK;
}
