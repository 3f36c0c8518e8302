/* batches: the batches, filtered by state, programme and time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "ctl.h"
#include "out.h"

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: " CTL_PROG " batches [--state STATE] [--program P] [--since T] "
            "[--json]\n"
            "\n"
            "  -s, --state STATE   pending, inflight, done, failed (or split)\n"
            "  -p, --program P     batches with at least one item of programme P\n"
            "  -S, --since T       changed at or after T: 2025-01-06, 2025-01-06T08:00,\n"
            "                      2025-01-06T08:00+08:00, or ago: 90s, 15m, 2h, 7d\n"
            "      --json          one object per batch and line\n");
}

struct list {
        struct ctl *c;
        struct out_table *t; /* human */
        cJSON *lines;        /* --json */
        int rc;
};

static int on_batch(const struct journal_ctl_batch *b, void *opaque)
{
        struct list *l = opaque;
        char name[JOURNAL_CTL_NAME_SIZE], items[24], attempts[24];
        char created[CTL_TIME_SIZE], updated[CTL_TIME_SIZE];

        journal_ctl_batch_name(l->c->jc, b->b.id, name);
        ctl_time(b->b.created_at, created);
        ctl_time(b->b.updated_at, updated);
        if (l->c->json) {
                char next[CTL_TIME_SIZE];
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "batch", name);
                cJSON_AddItemToObject(o, "id", out_json_int(b->b.id));
                cJSON_AddStringToObject(o, "kind", ctl_kind_name(b->b.kind));
                cJSON_AddStringToObject(o, "state", journal_batch_state_name(b->b.state));
                cJSON_AddItemToObject(o, "items", out_json_int(b->items));
                cJSON_AddItemToObject(o, "attempts", out_json_int(b->b.attempts));
                cJSON_AddStringToObject(o, "programs", b->programs);
                cJSON_AddStringToObject(o, "created_at", created);
                cJSON_AddStringToObject(o, "updated_at", updated);
                cJSON_AddItemToObject(
                    o, "next_at",
                    b->b.state == JOURNAL_BATCH_PENDING
                        ? cJSON_CreateString(ctl_time(b->b.next_at, next))
                        : cJSON_CreateNull());
                cJSON_AddItemToObject(o, "last_error", out_json_text(b->b.last_error));
                cJSON_AddItemToArray(l->lines, o);
                return 0;
        }
        snprintf(items, sizeof(items), "%lld", (long long)b->items);
        snprintf(attempts, sizeof(attempts), "%lld", (long long)b->b.attempts);
        const char *row[] = {name,
                             ctl_kind_name(b->b.kind),
                             journal_batch_state_name(b->b.state),
                             items,
                             attempts,
                             b->programs,
                             created,
                             updated,
                             b->b.last_error};
        return l->rc = out_table_add(l->t, row);
}

int batches_run(struct ctl *c, int argc, char **argv)
{
        static const struct option opts[] = {
            {"state", required_argument, NULL, 's'},
            {"program", required_argument, NULL, 'p'},
            {"since", required_argument, NULL, 'S'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        static const char *const headers[] = {"BATCH",   "KIND",     "STATE",
                                              "ITEMS",   "ATTEMPTS", "PROGRAMMES",
                                              "CREATED", "UPDATED",  "LAST ERROR"};
        struct journal_ctl_filter f = {0};
        struct list l = {.c = c};
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "s:p:S:h", opts, NULL)) != -1) {
                switch (opt) {
                case 's':
                        f.state = ctl_batch_state(optarg);
                        if (!f.state) {
                                ctl_error("batches", "unknown state '%s'", optarg);
                                usage(stderr);
                                return EX_USAGE;
                        }
                        break;
                case 'p':
                        f.program = optarg;
                        break;
                case 'S':
                        if (ctl_parse_time(optarg, clock_now_ms(), &f.since_ms) < 0) {
                                ctl_error("batches", "--since: cannot read '%s'", optarg);
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
        rc = ctl_open(c, "batches", false);
        if (rc != EX_OK)
                return rc;
        if (c->json)
                l.lines = cJSON_CreateArray();
        else
                l.t = out_table_new(sizeof(headers) / sizeof(headers[0]), headers);
        if (!l.t && !l.lines)
                return EX_OSERR;
        rc = journal_ctl_batches(c->jc, &f, on_batch, &l);
        if (rc >= 0 && l.rc < 0)
                rc = l.rc;
        if (rc < 0) {
                out_table_free(l.t);
                cJSON_Delete(l.lines);
                return ctl_journal_error(c, "batches", rc);
        }
        if (l.lines)
                out_json_lines(l.lines, false, stdout);
        if (l.t) {
                if (out_table_rows(l.t))
                        out_table_print(l.t, false, stdout);
                else
                        fprintf(stderr, "no batches\n");
        }
        out_table_free(l.t);
        return EX_OK;
}
