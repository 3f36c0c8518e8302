/* report: the three formats of the premium report (see report.h). What is
 * printed passes common/safetext.h like every other output of bpjs-syncctl:
 * a programme id is masked should it ever look like a NIK. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "out.h"
#include "report.h"
#include "safetext.h"

#define TEXT_SIZE 512

/* Configuration text as it may be printed: masked, escaped, bounded. */
static const char *safe(const char *s, char out[TEXT_SIZE])
{
        return safetext_clean(s ? s : "", s ? strlen(s) : 0, false, out, TEXT_SIZE);
}

const char *report_amount(int64_t v, char out[32])
{
        char digits[24];
        /* the magnitude as unsigned: INT64_MIN has no positive int64 */
        uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;
        int n = snprintf(digits, sizeof(digits), "%" PRIu64, m), o = 0;

        if (v < 0)
                out[o++] = '-';
        for (int i = 0; i < n; i++) {
                if (i && (n - i) % 3 == 0)
                        out[o++] = ',';
                out[o++] = digits[i];
        }
        out[o] = '\0';
        return out;
}

/* ---- --json ---- */

/* An integer exactly as written (cJSON's numbers are doubles). */
static cJSON *integer(int64_t v)
{
        char s[24];
        snprintf(s, sizeof(s), "%" PRId64, v);
        return cJSON_CreateRaw(s);
}

static cJSON *month_json(const struct report_month *m)
{
        cJSON *o = cJSON_CreateObject();
        char month[8];

        conf_month_format(m->month, month);
        cJSON_AddStringToObject(o, "month", month);
        cJSON_AddItemToObject(o, "workers", integer(m->workers));
        cJSON_AddItemToObject(o, "pending", integer(m->pending));
        cJSON_AddItemToObject(o, "premium", integer(m->premium));
        return o;
}

static cJSON *program_json(const struct report_program *rp)
{
        const struct conf_program *p = rp->conf;
        cJSON *o = cJSON_CreateObject(), *payer, *months;

        cJSON_AddStringToObject(o, "program", p->id);
        payer = cJSON_AddObjectToObject(o, "payer");
        cJSON_AddStringToObject(payer, "level", conf_payer_level_name(p->payer_level));
        cJSON_AddStringToObject(payer, "region", p->payer_region);
        cJSON_AddItemToObject(o, "monthly_premium", integer(p->monthly_premium));
        cJSON_AddItemToObject(o, "quota", integer(p->quota));
        cJSON_AddItemToObject(o, "used", integer(rp->used));
        cJSON_AddItemToObject(o, "budget",
                              p->budget < 0 ? cJSON_CreateNull() : integer(p->budget));
        cJSON_AddItemToObject(o, "committed", integer(rp->committed));
        cJSON_AddItemToObject(
            o, "remaining", p->budget < 0 ? cJSON_CreateNull() : integer(rp->remaining));
        months = cJSON_AddArrayToObject(o, "months");
        for (size_t m = 0; m < rp->n_months; m++)
                cJSON_AddItemToArray(months, month_json(&rp->months[m]));
        cJSON_AddItemToObject(o, "premium_total", integer(rp->premium_total));
        return o;
}

int report_print_json(const struct report *r, FILE *f)
{
        cJSON *o = cJSON_CreateObject(), *programs, *un;

        cJSON_AddStringToObject(o, "schema", "premium-report/v1");
        programs = cJSON_AddArrayToObject(o, "programs");
        for (size_t i = 0; i < r->n_programs; i++)
                cJSON_AddItemToArray(programs, program_json(&r->programs[i]));
        /* only when there is one: a complete report is the spec's object */
        un = r->n_unconfigured ? cJSON_AddArrayToObject(o, "unconfigured") : NULL;
        for (size_t i = 0; i < r->n_unconfigured; i++) {
                const struct report_unconfigured *u = &r->unconfigured[i];
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "program", u->program);
                cJSON_AddItemToObject(e, "used", integer(u->used));
                cJSON_AddItemToObject(e, "workers", integer(u->workers));
                cJSON_AddItemToObject(e, "pending", integer(u->pending));
                cJSON_AddItemToArray(un, e);
        }
        return out_json(o, false, f);
}

/* ---- --csv ---- */

/* One field, quoted when it holds a comma, a quote, CR or LF (RFC 4180). */
static void csv_field(const char *s, FILE *f)
{
        if (!strpbrk(s, ",\"\r\n")) {
                fputs(s, f);
                return;
        }
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"')
                        fputc('"', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

int report_print_csv(const struct report *r, FILE *f)
{
        fputs("program,month,workers,pending,premium\r\n", f);
        for (size_t i = 0; i < r->n_programs; i++) {
                const struct report_program *rp = &r->programs[i];
                char id[TEXT_SIZE];
                safe(rp->conf->id, id);
                for (size_t m = 0; m < rp->n_months; m++) {
                        const struct report_month *rm = &rp->months[m];
                        char month[8];
                        conf_month_format(rm->month, month);
                        csv_field(id, f);
                        fprintf(f, ",%s,%" PRId64 ",%" PRId64 ",%" PRId64 "\r\n", month,
                                rm->workers, rm->pending, rm->premium);
                }
        }
        return 0;
}

/* ---- the table ---- */

static int digits_width(int64_t v)
{
        char s[32];
        return (int)strlen(report_amount(v, s));
}

static void program_table(const struct report_program *rp, FILE *f)
{
        const struct conf_program *p = rp->conf;
        char id[TEXT_SIZE], region[TEXT_SIZE], a[32], b[32];
        int ww = (int)strlen("workers"), pw = (int)strlen("pending"),
            mw = (int)strlen("premium (Rp)");

        fprintf(f, "%s (%s %s)\n", safe(p->id, id), conf_payer_level_name(p->payer_level),
                safe(p->payer_region, region));
        fprintf(f, "  monthly premium  Rp%s\n", report_amount(p->monthly_premium, a));
        fprintf(f, "  quota            %s (%s in use)\n", report_amount(p->quota, a),
                report_amount(rp->used, b));
        if (p->budget < 0) {
                fputs("  budget           none\n", f);
                fprintf(f, "  committed        Rp%s\n", report_amount(rp->committed, a));
                fputs("  remaining        -\n", f);
        } else {
                fprintf(f, "  budget           Rp%s\n", report_amount(p->budget, a));
                fprintf(f, "  committed        Rp%s\n", report_amount(rp->committed, a));
                fprintf(f, "  remaining        Rp%s\n", report_amount(rp->remaining, a));
        }
        for (size_t m = 0; m < rp->n_months; m++) {
                const struct report_month *rm = &rp->months[m];
                if (digits_width(rm->workers) > ww)
                        ww = digits_width(rm->workers);
                if (digits_width(rm->pending) > pw)
                        pw = digits_width(rm->pending);
                if (digits_width(rm->premium) > mw)
                        mw = digits_width(rm->premium);
        }
        if (digits_width(rp->premium_total) > mw)
                mw = digits_width(rp->premium_total);
        fprintf(f, "  month    %*s  %*s  %*s\n", ww, "workers", pw, "pending", mw,
                "premium (Rp)");
        for (size_t m = 0; m < rp->n_months; m++) {
                const struct report_month *rm = &rp->months[m];
                char month[8], c[32];
                conf_month_format(rm->month, month);
                fprintf(f, "  %-7s  %*s  %*s  %*s\n", month, ww,
                        report_amount(rm->workers, a), pw, report_amount(rm->pending, b),
                        mw, report_amount(rm->premium, c));
        }
        fprintf(f, "  %-7s  %*s  %*s  %*s\n", "total", ww, "", pw, "", mw,
                report_amount(rp->premium_total, a));
}

int report_print_table(const struct report *r, FILE *f)
{
        for (size_t i = 0; i < r->n_programs; i++) {
                if (i)
                        fputc('\n', f);
                program_table(&r->programs[i], f);
        }
        if (r->n_unconfigured) {
                if (r->n_programs)
                        fputc('\n', f);
                fputs("In the journal but not in the configuration (not priced):\n", f);
                for (size_t i = 0; i < r->n_unconfigured; i++) {
                        const struct report_unconfigured *u = &r->unconfigured[i];
                        char id[TEXT_SIZE], a[32], b[32], c[32];
                        fprintf(f,
                                "  %s: %s slots in use; coverages: %s answered, %s "
                                "pending\n",
                                safe(u->program, id), report_amount(u->used, a),
                                report_amount(u->workers, b),
                                report_amount(u->pending, c));
                }
        }
        return 0;
}
