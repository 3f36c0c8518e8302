/* The operator's half of the journal that no backend owns (see
 * journal_ctl_int.h): names of batches and registrations, state names, and
 * the backend-free parts of a replay. The names take the journal's id
 * through journal_id(), so they hold on every backend. */
#include "journal_ctl_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "item.h"

const char *journal_ctl_coverage_state_name(int state)
{
        static const char *const names[] = {"?", "pending", "active", "ended", "failed"};
        return state >= 1 && state <= 4 ? names[state] : "?";
}

const char *journal_ctl_replay_action_name(int action)
{
        static const char *const names[] = {"skip", "none", "resend", "rebuild"};
        return action >= 0 && action <= 3 ? names[action] : "?";
}

void journal_ctl_batch_name(const struct journal *j, int64_t id,
                            char out[JOURNAL_CTL_NAME_SIZE])
{
        item_batch_name(journal_id(j), id, out);
}

void journal_ctl_registration_id(const struct journal *j, int64_t seq,
                                 char out[JOURNAL_CTL_NAME_SIZE])
{
        item_registration_id(journal_id(j), seq, out);
}

static int parse_number(const char *s, int64_t *out)
{
        int64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
                        return -EINVAL;
                v = v * 10 + (*s - '0');
        }
        if (v < 1)
                return -EINVAL;
        *out = v;
        return 0;
}

int journal_ctl_batch_parse(const struct journal *j, const char *s, int64_t *out)
{
        const char *dash;

        if (s[0] != 'b' || s[1] != '-')
                return parse_number(s, out);
        dash = strchr(s + 2, '-');
        if (!dash || dash - (s + 2) != JOURNAL_ID_LEN || strlen(dash + 1) != 12)
                return -EINVAL;
        if (strncmp(s + 2, journal_id(j), JOURNAL_ID_LEN) != 0)
                return -EXDEV;
        return parse_number(dash + 1, out);
}

/* ---- replay ---- */

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

int jctl_collect_op(const struct journal_ctl_item *it, void *opaque)
{
        struct jctl_replay *r = opaque;
        struct jctl_rop *o;

        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;
                struct jctl_rop *ops = realloc(r->ops, cap * sizeof(*ops));
                if (!ops)
                        return r->rc = -ENOMEM;
                r->ops = ops;
                r->cap = cap;
        }
        o = &r->ops[r->n];
        memset(o, 0, sizeof(*o));
        o->op = it->op;
        o->status = it->status;
        o->nik = strdup(it->op.nik ? it->op.nik : "");
        o->program = strdup(it->op.program ? it->op.program : "");
        o->event_id = strdup(it->op.event_id ? it->op.event_id : "");
        o->item = malloc(it->op.item_len + 1);
        o->kpj = dup_or_null(it->op.reg_kpj);
        r->n++;
        if (!o->nik || !o->program || !o->event_id || !o->item ||
            (it->op.reg_kpj && !o->kpj))
                return r->rc = -ENOMEM;
        memcpy(o->item, it->op.item, it->op.item_len);
        o->item[it->op.item_len] = '\0';
        o->op.nik = o->nik;
        o->op.program = o->program;
        o->op.event_id = o->event_id;
        o->op.item = o->item;
        o->op.reg_kpj = o->kpj;
        return 0;
}

void jctl_replay_release(struct jctl_replay *r)
{
        for (size_t i = 0; i < r->n; i++) {
                free(r->ops[i].nik);
                free(r->ops[i].program);
                free(r->ops[i].event_id);
                free(r->ops[i].item);
                free(r->ops[i].kpj);
        }
        free(r->ops);
        for (size_t i = 0; r->workers && i < r->n; i++)
                decide_worker_release(&r->workers[i]);
        free(r->workers);
        free(r->facts);
        free(r->quotas);
        free(r->last_error);
}

/* How many items the body carries: fewer ops than that means some were
 * moved out by an earlier replay, and the body must not be sent again. */
int jctl_body_items(const void *body, size_t len, int kind)
{
        cJSON *root = cJSON_ParseWithLength(body, len);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(
            root, kind == JOURNAL_OP_DEACTIVATE ? "deactivations" : "registrations");
        int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;

        cJSON_Delete(root);
        return n;
}

int jctl_facts_alloc(struct jctl_replay *r, const struct journal_ctl_replay_opts *opts)
{
        r->facts = calloc(r->n + 1, sizeof(*r->facts));
        r->workers = calloc(r->n + 1, sizeof(*r->workers));
        r->quotas = calloc(opts->n_quotas + 1, sizeof(*r->quotas));
        if (!r->facts || !r->workers || !r->quotas)
                return -ENOMEM;
        for (size_t i = 0; i < opts->n_quotas; i++) {
                struct replay_quota *q = &r->quotas[i];

                q->program = opts->quotas[i].program;
                q->quota = opts->quotas[i].quota;
                q->reserved = opts->quotas[i].reserved;
                q->monthly_premium = opts->quotas[i].monthly_premium;
                q->budget = opts->quotas[i].budget;
                q->reserved_months = opts->quotas[i].reserved_months;
        }
        return 0;
}

int jctl_judge(const struct jctl_replay *r, const struct journal_ctl_replay_opts *opts,
               int state, int body_n, struct journal_ctl_replay *out)
{
        const struct replay_batch b = {
            .state = state,
            .body_items = body_n,
            .items = r->facts,
            .n = r->n,
            .quotas = r->quotas,
            .n_quotas = opts->n_quotas,
        };
        struct replay_judgement j = {
            .items = calloc(r->n + 1, sizeof(*j.items)),
            .taken = calloc(opts->n_quotas + 1, sizeof(*j.taken)),
            .taken_months = calloc(opts->n_quotas + 1, sizeof(*j.taken_months)),
        };
        int rc = 0;

        if (!j.items || !j.taken || !j.taken_months) {
                rc = -ENOMEM;
                goto out;
        }
        replay_judge(&b, &j);
        out->action = j.action;
        if (j.action == JOURNAL_CTL_REPLAY_SKIP) {
                snprintf(out->why, sizeof(out->why), "%s", j.why);
                goto out;
        }
        out->items = calloc(r->n + 1, sizeof(*out->items)); /* + 1: never calloc(0) */
        if (!out->items) {
                rc = -ENOMEM;
                goto out;
        }
        out->n = r->n;
        out->n_ok = j.n_ok;
        for (size_t i = 0; i < r->n; i++) {
                const struct jctl_rop *o = &r->ops[i];
                struct journal_ctl_replay_item *it = &out->items[i];

                it->seq = o->op.seq;
                it->reg_seq = o->op.reg_seq;
                it->kind = o->op.kind;
                snprintf(it->nik, sizeof(it->nik), "%s", o->nik);
                snprintf(it->program, sizeof(it->program), "%s", o->program);
                it->ok = j.items[i].ok;
                snprintf(it->why, sizeof(it->why), "%s", j.items[i].why);
        }
        /* a dry run changes nothing, so later batches of the run must know
         * which slots this one would take */
        for (size_t i = 0; opts->dry_run && i < opts->n_quotas; i++) {
                opts->quotas[i].reserved += j.taken[i];
                opts->quotas[i].reserved_months += j.taken_months[i];
        }
out:
        free(j.items);
        free(j.taken);
        free(j.taken_months);
        return rc;
}

/* Appends to a bounded text; a cut text ends with "...". */
static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
        size_t used = strlen(buf);
        va_list ap;
        int n;

        if (used + 4 >= size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + used, size - used - 3, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size - used - 3)
                snprintf(buf + size - 4, 4, "...");
}

/* The audit row: what was done, and why each item left behind was. No NIK:
 * items are named by their registration id. */
void jctl_describe(const struct journal *j, const struct journal_ctl_replay *r,
                   char *detail, size_t size)
{
        char name[JOURNAL_CTL_NAME_SIZE], other[JOURNAL_CTL_NAME_SIZE];
        bool first = true;

        journal_ctl_batch_name(j, r->id, name);
        detail[0] = '\0';
        if (r->action == JOURNAL_CTL_REPLAY_RESEND) {
                append(detail, size,
                       "%s: resent as it was (same body, same key), %zu items", name,
                       r->n);
        } else if (r->action == JOURNAL_CTL_REPLAY_REBUILD) {
                journal_ctl_batch_name(j, r->new_id, other);
                append(detail, size, "%s: %zu of %zu items moved to %s", name, r->n_ok,
                       r->n, other);
        } else {
                append(detail, size, "%s: nothing replayed", name);
        }
        for (size_t i = 0; i < r->n; i++) {
                if (r->items[i].ok)
                        continue;
                journal_ctl_registration_id(j, r->items[i].reg_seq, other);
                append(detail, size, "%s%s (%s)", first ? "; not replayed: " : ", ",
                       other, r->items[i].why);
                first = false;
        }
        if (r->last_error[0])
                append(detail, size, "; was: %s", r->last_error);
}
