/* dead-letters: the events the daemon rejected, and why. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "ctl.h"
#include "nik.h"
#include "out.h"
#include "reason.h"

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: " CTL_PROG " dead-letters [--reason R] [--since T] [--json]\n"
            "\n"
            "Rejected events with their reason, NIKs masked.\n"
            "\n"
            "  -r, --reason R   only this reason (e.g. invalid_nik, unknown_program,\n"
            "                   quota_exceeded)\n"
            "  -S, --since T    decided at or after T (2025-01-06, 2025-01-06T08:00, "
            "2h)\n"
            "      --json       one object per event and line\n"
            "\n"
            "A message without a valid event_id (malformed JSON, invalid UTF-8, a bad\n"
            "or missing event_id, ...) is not journaled by id, so it is not listed\n"
            "here: its original bytes are on the dead-letter topic, with the reason\n"
            "and source partition and offset in its headers.\n");
}

struct list {
        struct ctl *c;
        struct out_table *t;
        cJSON *lines;
        int rc;
};

static int on_event(const struct journal_ctl_event *e, void *opaque)
{
        struct list *l = opaque;
        char t[CTL_TIME_SIZE], masked[NIK_MASKED_SIZE], src[160];

        ctl_time(e->at, t);
        nik_mask(e->nik, masked);
        snprintf(src, sizeof(src), "%s/%d@%lld", e->topic ? e->topic : "?",
                 (int)e->partition, (long long)e->offset);
        if (l->c->json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "event_id", out_json_text(e->event_id));
                cJSON_AddStringToObject(o, "nik", masked);
                cJSON_AddItemToObject(o, "program", out_json_text(e->program));
                cJSON_AddItemToObject(o, "reason", out_json_text(e->reason));
                cJSON_AddStringToObject(o, "at", t);
                cJSON_AddItemToObject(o, "topic", out_json_text(e->topic));
                cJSON_AddItemToObject(o, "partition", out_json_int(e->partition));
                cJSON_AddItemToObject(o, "offset", out_json_int(e->offset));
                cJSON_AddItemToArray(l->lines, o);
                return 0;
        }
        const char *row[] = {t, e->event_id, masked, e->program, e->reason, src};
        return l->rc = out_table_add(l->t, row);
}

int dead_letters_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"reason", required_argument, NULL, 'r'},
            {"since", required_argument, NULL, 'S'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        static const char *const headers[] = {"AT",        "EVENT",  "NIK",
                                              "PROGRAMME", "REASON", "SOURCE"};
        struct list l = {.c = c};
        const char *reason = NULL;
        int64_t since = 0;
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "r:S:h", opts, NULL)) != -1) {
                switch (opt) {
                case 'r':
                        if (reason_from_name(optarg) == REASON_NONE) {
                                ctl_error("dead-letters", "unknown reason '%s'", optarg);
                                return EX_USAGE;
                        }
                        reason = optarg;
                        break;
                case 'S':
                        if (ctl_parse_time(optarg, clock_now_ms(), &since) < 0) {
                                ctl_error("dead-letters", "--since: cannot read '%s'",
                                          optarg);
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
        rc = ctl_open(c, "dead-letters", false);
        if (rc != EX_OK)
                return rc;
        if (c->json)
                l.lines = cJSON_CreateArray();
        else
                l.t = out_table_new(sizeof(headers) / sizeof(headers[0]), headers);
        if (!l.t && !l.lines)
                return EX_OSERR;
        rc = journal_ctl_rejected(c->jc, reason, since, on_event, &l);
        if (rc >= 0 && l.rc < 0)
                rc = l.rc;
        if (rc < 0) {
                out_table_free(l.t);
                cJSON_Delete(l.lines);
                return ctl_journal_error(c, "dead-letters", rc);
        }
        if (l.lines) {
                out_json_lines(l.lines, false, stdout);
                return EX_OK;
        }
        out_table_print(l.t, false, stdout);
        printf(
            "%s%zu rejected event(s). Messages without a valid event_id are not listed: "
            "see the dead-letter topic%s%s.\n",
            out_table_rows(l.t) ? "\n" : "", out_table_rows(l.t), c->conf ? " " : "",
            c->conf ? c->conf->kafka.dlq_topic : "");
        out_table_free(l.t);
        return EX_OK;
}
