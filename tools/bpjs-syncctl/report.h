/* report: the premium report (docs/finance.md): per programme, what its
 * coverages commit against its budget and what its payer owes month by
 * month. report_build is pure: the configured programmes and the journal's
 * facts (groups of coverages with the same months, and slots in use) in, the
 * report out; no I/O, no clock. report_print_* format it. */
#ifndef BPJS_SYNCCTL_REPORT_H
#define BPJS_SYNCCTL_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum report_class {
        REPORT_WORKERS = 1, /* registration answered registered or already_registered */
        REPORT_PENDING,     /* not answered yet */
};

/* Coverages of one programme and class with the same months (month numbers:
 * year * 12 + month - 1). */
struct report_group {
        const char *program;
        int klass; /* enum report_class */
        int64_t first_month, last_month;
        int64_t count;
};

/* A programme's slots in use (pending or active coverages). */
struct report_use {
        const char *program;
        int64_t used;
};

struct report_month {
        int64_t month;
        int64_t workers, pending, premium;
};

struct report_program {
        const struct conf_program *conf; /* budget < 0: none */
        int64_t used;
        int64_t committed;
        int64_t remaining; /* budget - committed; 0 without a budget */
        size_t n_months;   /* every month of the period, in order */
        struct report_month *months;
        int64_t premium_total;
};

/* A programme the journal has coverages or slots of but the configuration
 * no longer names: no premium can be computed for it (its monthly premium
 * and period are gone), so it is counted, not priced. */
struct report_unconfigured {
        char *program;
        int64_t used;
        int64_t workers, pending; /* coverages, by class */
};

struct report {
        struct report_program *programs; /* in the configuration's order */
        size_t n_programs;
        struct report_unconfigured *unconfigured; /* by first appearance */
        size_t n_unconfigured;
};

#define REPORT_ERR_SIZE 256

/* Builds the report of programs[] from the groups and uses. A group's months
 * outside its programme's period are not counted (and commit nothing); a
 * group with no month in the period counts nowhere. Returns 0 and *out
 * (release with report_free), -ENOMEM, or -EOVERFLOW with the programme
 * named in err (REPORT_ERR_SIZE bytes) when an amount does not fit in 64
 * bits; *out untouched on failure. */
int report_build(const struct conf_program *programs, size_t n_programs,
                 const struct report_group *groups, size_t n_groups,
                 const struct report_use *uses, size_t n_uses, struct report *out,
                 char *err);
void report_free(struct report *r);

/* --json: one premium-report/v1 object on one line; "unconfigured" only
 * when there is one. */
int report_print_json(const struct report *r, FILE *f);
/* --csv: the header program,month,workers,pending,premium, then one row per
 * programme and month (RFC 4180: CRLF, fields quoted when they must be). */
int report_print_csv(const struct report *r, FILE *f);
/* A table for people: amounts in Rupiah with thousands separators. */
int report_print_table(const struct report *r, FILE *f);
/* "1,900,000,000", "-50,400", "0". */
const char *report_amount(int64_t v, char out[32]);

#endif
