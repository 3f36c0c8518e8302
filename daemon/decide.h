/* decide: the deciding rules of docs/events.md, as one pure
 * function. No I/O, no clock, no globals: it takes a valid event, the
 * programme it names, the journal's view of the worker and the programme's
 * quota use, and returns the decision. Invalid events never reach it: the
 * consume stage rejects them with the parser's reason (rule 1). */
#ifndef BPJS_DECIDE_H
#define BPJS_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "reason.h"
#include "result.h"

/* One of the worker's coverages: a live one (confirmed, not ended or
 * failed), or an ended one that has months (it pushes a later coverage's
 * start, so that no month of a worker is paid twice). Failed coverages and
 * ended ones without months are never in the view. */
struct decide_coverage {
        char program[EVENT_PROGRAM_MAX + 1];
        int64_t start_month; /* the programme's period, for rule 4's overlap */
        int64_t end_month;
        int64_t first_month; /* the coverage's own months (budget); */
        int64_t last_month;  /* none when last_month < first_month */
        bool live;           /* pending or active; else ended */
};

/* The worker's whole history that deciding needs, of any length: the journal fills it
 * (growing cov as needed, and reusing it from one call to the next), and
 * decide_worker_release frees it. A worker in many programmes with periods
 * that do not overlap may hold any number of live coverages. */
struct decide_worker {
        size_t n, cap;
        struct decide_coverage *cov;
};

enum decide_action {
        DECIDE_NOTHING = 0,
        DECIDE_REGISTER,   /* take a slot, start coverage, push a registration */
        DECIDE_DEACTIVATE, /* end coverage, release the slot, push a deactivation */
};

struct decision {
        enum result_status status; /* confirmed, duplicate, rejected or ignored */
        enum reason reason;        /* for rejected */
        bool dead_letter;       /* rule 1: the original goes to the dead-letter topic */
        const char *covered_by; /* for duplicate: points into the worker view */
        const char *detail;     /* for not_eligible: the criterion that failed */
        enum decide_action action;
        /* REGISTER: the new coverage's months; DEACTIVATE: the ended
         * coverage's first month and its new last month */
        int64_t first_month, last_month;
        int64_t months; /* the change to the programme's committed months */
};

/* What a programme has taken: slots (workers covered now) and committed
 * months (the months of its pending, active and ended coverages; its
 * committed premium is months * monthly_premium). */
struct decide_use {
        int64_t used;
        int64_t months;
};

/* Appends one coverage; 0, or -ENOMEM (the view is left as it was). */
int decide_worker_put(struct decide_worker *w, const struct decide_coverage *c);
/* Appends a live coverage whose months are its programme's period. */
int decide_worker_add(struct decide_worker *w, const char *program, int64_t start_month,
                      int64_t end_month);
void decide_worker_release(struct decide_worker *w);

/* Rule 4's overlap, shared with replay: the first of the worker's live
 * coverages whose period shares a month with start_month..end_month, or
 * NULL. */
const struct decide_coverage *decide_overlap(const struct decide_worker *w,
                                             int64_t start_month, int64_t end_month);

/* The months from first to last, both counted: 0 when last < first (a
 * coverage that kept none), at most INT64_MAX. */
int64_t decide_months(int64_t first, int64_t last);

/* The premium of `months` months at `monthly_premium`; false when it does
 * not fit in 64 bits. */
bool decide_premium(int64_t months, int64_t monthly_premium, int64_t *out);

/* Rule 10's budget, shared with replay: whether a programme with `budget`
 * (-1: none) and `committed` months committed takes `months` more, the last
 * Rupiah spendable; a sum or product past 64 bits is over any budget. */
bool decide_budget_takes(int64_t budget, int64_t monthly_premium, int64_t committed,
                         int64_t months);

/* prog is the configured programme the event names, or NULL if none is. */
void decide(const struct event *ev, const struct conf_program *prog,
            const struct decide_worker *worker, const struct decide_use *use,
            struct decision *out);

/* A decision's change to the state deciding reads, carried into the
 * in-memory view of a consumed batch so that its next message is decided
 * with it (the journal writes the same change when the batch commits): a
 * registration adds a live coverage of the decision's months, takes a slot
 * and adds its months; a deactivation ends the programme's live coverage at
 * the decision's last month (kept in the view while it has months), frees
 * its slot and releases the months after it. Anything else changes nothing. 0, or -ENOMEM
 * (nothing changed). */
int decide_apply(const struct decision *d, const struct conf_program *prog,
                 struct decide_worker *worker, struct decide_use *use);

#endif
