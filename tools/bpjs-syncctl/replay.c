/* replay: failed batches queued again for the daemon, never a double
 * registration. The journal decides per item, in one transaction per batch
 * (journal_ctl_replay): the same body under the same key when every item
 * still qualifies, otherwise a new batch of the items that do, its body
 * built here exactly as the daemon builds one (push_form.c, push_form_compose). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "item.h"
#include "nik.h"
#include "out.h"

#define PROGRESS_MIN 5 /* batches, before a progress bar is worth drawing */
#define PROGRESS_BAR 30

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: " CTL_PROG " replay [--dry-run] [--json] ID...\n"
            "       " CTL_PROG " replay --failed [--program P] [--since T] [--dry-run] "
            "[--json]\n"
            "\n"
            "Queues failed batches again; the daemon sends them when it next looks.\n"
            "A batch whose every item still qualifies goes again as it was: the same\n"
            "body under the same Idempotency-Key. Otherwise the items that qualify move\n"
            "to a new batch and the others stay failed, each with the reason. A\n"
            "registration qualifies when its coverage is still the failed one, the\n"
            "worker has no live coverage over an overlapping period, and the programme\n"
            "has a free slot; a deactivation when the worker has no later operation.\n"
            "\n"
            "  -f, --failed      every failed batch (with --program, --since)\n"
            "  -p, --program P   failed batches with an item of programme P\n"
            "  -S, --since T     failed at or after T (2025-01-06, 2025-01-06T08:00, "
            "2h)\n"
            "  -n, --dry-run     say what would happen; change nothing\n"
            "      --json        one object per batch and line\n"
            "\n"
            "Each replay is recorded in the journal's audit table (who, when, what).\n"
            "Exit status 65 when a named batch is unknown or not failed.\n");
}

/* ---- the request body of a new batch: item_batch_body, as the daemon ---- */

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        const struct journal *jc = opaque;
        struct item_part *parts = calloc(n ? n : 1, sizeof(*parts));
        int rc;

        if (!parts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                parts[i] = (struct item_part){ops[i].reg_seq, ops[i].reg_kpj, ops[i].item,
                                              ops[i].item_len};
        rc =
            item_batch_body(journal_id(jc), id, n && ops[0].kind == JOURNAL_OP_DEACTIVATE,
                            parts, n, body, len);
        free(parts);
        return rc;
}

/* ---- which batches ---- */

struct ids {
        int64_t *v;
        size_t n, cap;
};

static int ids_add(struct ids *l, int64_t id)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                int64_t *v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = id;
        return 0;
}

static int on_failed(const struct journal_ctl_batch *b, void *opaque)
{
        return ids_add(opaque, b->b.id);
}

/* ---- reporting ---- */

struct report {
        struct ctl *c;
        bool dry_run;
        cJSON *lines;               /* --json */
        struct out_table *t, *left; /* human */
        size_t resent, rebuilt, none, skipped, moved, left_failed;
};

static void progress(size_t done, size_t total)
{
        size_t fill = total ? done * PROGRESS_BAR / total : PROGRESS_BAR;

        fprintf(stderr, "\rreplay [");
        for (size_t i = 0; i < PROGRESS_BAR; i++)
                fputc(i < fill ? '#' : '.', stderr);
        fprintf(stderr, "] %zu/%zu", done, total);
        if (done == total)
                fprintf(stderr, "\r\033[K");
        fflush(stderr);
}

static int report(struct report *r, const struct journal_ctl_replay *res)
{
        char name[JOURNAL_CTL_NAME_SIZE], other[JOURNAL_CTL_NAME_SIZE] = "";
        char rid[JOURNAL_CTL_NAME_SIZE], masked[NIK_MASKED_SIZE], n[24], ok[24];
        char note[200];
        const char *action = journal_ctl_replay_action_name(res->action);
        int rc = 0;

        journal_ctl_batch_name(r->c->jc, res->id, name);
        if (res->new_id)
                journal_ctl_batch_name(r->c->jc, res->new_id, other);
        switch (res->action) {
        case JOURNAL_CTL_REPLAY_RESEND:
                r->resent++;
                snprintf(note, sizeof(note), "same body, same key");
                break;
        case JOURNAL_CTL_REPLAY_REBUILD:
                r->rebuilt++;
                r->moved += res->n_ok;
                snprintf(note, sizeof(note),
                         "%zu item(s) %s a new batch, %zu left failed", res->n_ok,
                         r->dry_run ? "would go into" : "moved to", res->n - res->n_ok);
                break;
        case JOURNAL_CTL_REPLAY_NONE:
                r->none++;
                snprintf(note, sizeof(note), "no item qualifies; left failed");
                break;
        default:
                r->skipped++;
                snprintf(note, sizeof(note), "%s", res->why);
                break;
        }
        r->left_failed += res->action == JOURNAL_CTL_REPLAY_SKIP ? 0 : res->n - res->n_ok;

        if (r->c->json) {
                cJSON *o = cJSON_CreateObject(), *left;
                cJSON_AddStringToObject(o, "batch", name);
                cJSON_AddItemToObject(o, "id", out_json_int(res->id));
                cJSON_AddStringToObject(o, "kind", ctl_kind_name(res->kind));
                cJSON_AddStringToObject(o, "action", action);
                cJSON_AddBoolToObject(o, "dry_run", r->dry_run);
                cJSON_AddItemToObject(o, "items", out_json_int((int64_t)res->n));
                cJSON_AddItemToObject(o, "replayed", out_json_int((int64_t)res->n_ok));
                cJSON_AddItemToObject(o, "new_batch",
                                      out_json_text(res->new_id ? other : NULL));
                cJSON_AddItemToObject(o, "why",
                                      out_json_text(res->action == JOURNAL_CTL_REPLAY_SKIP
                                                        ? res->why
                                                        : NULL));
                left = cJSON_AddArrayToObject(o, "not_replayed");
                for (size_t i = 0; i < res->n; i++) {
                        if (res->items[i].ok)
                                continue;
                        cJSON *it = cJSON_CreateObject();
                        journal_ctl_registration_id(r->c->jc, res->items[i].reg_seq, rid);
                        cJSON_AddStringToObject(it, "registration_id", rid);
                        cJSON_AddStringToObject(it, "nik",
                                                nik_mask(res->items[i].nik, masked));
                        cJSON_AddStringToObject(it, "program", res->items[i].program);
                        cJSON_AddStringToObject(it, "why", res->items[i].why);
                        cJSON_AddItemToArray(left, it);
                }
                cJSON_AddItemToArray(r->lines, o);
                return 0;
        }
        snprintf(n, sizeof(n), "%zu", res->n);
        snprintf(ok, sizeof(ok), "%zu", res->n_ok);
        const char *row[] = {name, ctl_kind_name(res->kind), action, n, ok, other, note};
        rc = out_table_add(r->t, row);
        for (size_t i = 0; rc == 0 && i < res->n; i++) {
                if (res->items[i].ok)
                        continue;
                journal_ctl_registration_id(r->c->jc, res->items[i].reg_seq, rid);
                const char *lrow[] = {name, rid, nik_mask(res->items[i].nik, masked),
                                      res->items[i].program, res->items[i].why};
                rc = out_table_add(r->left, lrow);
        }
        return rc;
}

static void summary(const struct report *r)
{
        if (out_table_rows(r->t))
                out_table_print(r->t, false, stdout);
        if (out_table_rows(r->left)) {
                fprintf(stdout, "\nnot replayed\n");
                out_table_print(r->left, false, stdout);
        }
        fprintf(stdout,
                "\n%s%zu resent as they were, %zu rebuilt (%zu items into new batches), "
                "%zu with nothing to replay, %zu skipped; %zu item(s) left failed\n",
                r->dry_run ? "dry run, nothing changed: would be " : "", r->resent,
                r->rebuilt, r->moved, r->none, r->skipped, r->left_failed);
}

/* ---- the verb ---- */

struct args {
        bool failed, dry_run;
        struct journal_ctl_filter filter;
};

static int parse(struct ctl *c, int argc, char **argv, struct args *a)
{
        static const struct option opts[] = {
            {"failed", no_argument, NULL, 'f'},
            {"program", required_argument, NULL, 'p'},
            {"since", required_argument, NULL, 'S'},
            {"dry-run", no_argument, NULL, 'n'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int opt, rc;

        while ((opt = getopt_long(argc, argv, "fp:S:nh", opts, NULL)) != -1) {
                switch (opt) {
                case 'f':
                        a->failed = true;
                        break;
                case 'p':
                        a->filter.program = optarg;
                        break;
                case 'S':
                        if (ctl_parse_time(optarg, clock_now_ms(), &a->filter.since_ms) <
                            0) {
                                ctl_error("replay", "--since: cannot read '%s'", optarg);
                                return EX_USAGE;
                        }
                        break;
                case 'n':
                        a->dry_run = true;
                        break;
                default:
                        rc = ctl_common_option(c, opt, usage);
                        if (rc == EX_OK)
                                return -1;
                        if (rc > 0)
                                return rc;
                        break;
                }
        }
        if (a->failed == (optind < argc) ||
            (!a->failed && (a->filter.program || a->filter.since_ms))) {
                ctl_error("replay",
                          "give batch ids, or --failed [--program P] [--since T]");
                usage(stderr);
                return EX_USAGE;
        }
        return EX_OK;
}

/* The batches named on the command line; all must be well-formed before
 * anything is replayed. */
static int named(struct ctl *c, int argc, char **argv, struct ids *ids)
{
        for (int i = optind; i < argc; i++) {
                int64_t id;
                int rc = journal_ctl_batch_parse(c->jc, argv[i], &id);
                if (rc == -EXDEV) {
                        ctl_error("replay",
                                  "%s is a batch of another journal (this one is %s)",
                                  argv[i], journal_id(c->jc));
                        return EX_DATAERR;
                }
                if (rc < 0) {
                        ctl_error("replay",
                                  "'%s' is not a batch id (12 or b-%s-000000000012)",
                                  argv[i], journal_id(c->jc));
                        return EX_DATAERR;
                }
                if (ids_add(ids, id) < 0)
                        return EX_OSERR;
        }
        return EX_OK;
}

static int replay_all(struct ctl *c, const struct args *a, const struct ids *ids,
                      struct report *r)
{
        struct journal_ctl_quota *quotas =
            calloc(c->conf->n_programs + 1, sizeof(*quotas));
        char who[CTL_WHO_SIZE], name[JOURNAL_CTL_NAME_SIZE];
        bool bar = isatty(STDERR_FILENO) && ids->n > PROGRESS_MIN;
        int rc = EX_OK;

        if (!quotas)
                return EX_OSERR;
        for (size_t i = 0; i < c->conf->n_programs; i++) {
                quotas[i].program = c->conf->programs[i].id;
                quotas[i].quota = c->conf->programs[i].quota;
                quotas[i].monthly_premium = c->conf->programs[i].monthly_premium;
                quotas[i].budget = c->conf->programs[i].budget;
        }
        struct journal_ctl_replay_opts opts = {
            .who = ctl_who(who),
            .dry_run = a->dry_run,
            .quotas = quotas,
            .n_quotas = c->conf->n_programs,
            .compose = compose,
            .opaque = c->jc,
        };
        for (size_t i = 0; i < ids->n; i++) {
                struct journal_ctl_replay res;
                int err = journal_ctl_replay(c->jc, ids->v[i], &opts, &res);

                if (bar)
                        progress(i + 1, ids->n);
                if (err == -ENOENT) {
                        journal_ctl_batch_name(c->jc, ids->v[i], name);
                        ctl_error("replay", "no batch %s", name);
                        rc = EX_DATAERR;
                        continue;
                }
                if (err < 0) {
                        if (bar)
                                progress(ids->n, ids->n);
                        rc = ctl_journal_error(c, "replay", err);
                        break; /* the journal itself is in trouble: stop here */
                }
                if (report(r, &res) < 0)
                        rc = EX_OSERR;
                /* a batch named by the operator that cannot be replayed */
                if (res.action == JOURNAL_CTL_REPLAY_SKIP && !a->failed && rc == EX_OK)
                        rc = EX_DATAERR;
                journal_ctl_replay_free(&res);
        }
        free(quotas);
        return rc;
}

int replay_run(struct ctl *c, int argc, char **argv)
{
        static const char *const headers[] = {"BATCH",    "KIND",      "ACTION", "ITEMS",
                                              "REPLAYED", "NEW BATCH", "NOTE"};
        static const char *const left_headers[] = {"BATCH", "REGISTRATION", "NIK",
                                                   "PROGRAMME", "WHY"};
        struct args a = {.filter.state = JOURNAL_BATCH_FAILED};
        struct report r = {.c = c};
        struct ids ids = {0};
        int rc = parse(c, argc, argv, &a);

        if (rc)
                return rc < 0 ? EX_OK : rc;
        /* the quotas are the configuration's, so it is needed even with --journal */
        rc = ctl_config(c, "replay", true);
        if (rc == EX_OK)
                rc = ctl_open(c, "replay", !a.dry_run);
        if (rc != EX_OK)
                return rc;
        rc = a.failed ? EX_OK : named(c, argc, argv, &ids);
        if (rc == EX_OK && a.failed) {
                int err = journal_ctl_batches(c->jc, &a.filter, on_failed, &ids);
                if (err < 0)
                        rc = ctl_journal_error(c, "replay", err);
        }
        if (rc != EX_OK)
                goto out;
        r.dry_run = a.dry_run;
        if (c->json)
                r.lines = cJSON_CreateArray();
        r.t = out_table_new(sizeof(headers) / sizeof(headers[0]), headers);
        r.left =
            out_table_new(sizeof(left_headers) / sizeof(left_headers[0]), left_headers);
        if (!r.t || !r.left || (c->json && !r.lines)) {
                rc = EX_OSERR;
                goto out;
        }
        if (ids.n == 0) {
                if (!c->json)
                        fprintf(stdout, "no failed batches to replay\n");
                goto out;
        }
        rc = replay_all(c, &a, &ids, &r);
        if (c->json) {
                out_json_lines(r.lines, false, stdout);
                r.lines = NULL;
        } else {
                summary(&r);
        }
out:
        cJSON_Delete(r.lines);
        out_table_free(r.t);
        out_table_free(r.left);
        free(ids.v);
        return rc;
}
