/* replay: whether the items of a failed batch may be sent again, as one pure
 * function beside decide. No I/O, no clock, no globals: the journal reads
 * the facts of one batch in one snapshot (journal_ctl_replay), replay_judge
 * decides, and the journal applies the judgement in the same transaction.
 *
 * The rules (journal.h, "Replay of a failed batch"):
 *   - an item whose result is not failed is not replayed;
 *   - a registration qualifies when its coverage is still failed and still
 *     its own, the worker has no live coverage over an overlapping period
 *     (decide's rule 4, decide_overlap), no ended coverage of an
 *     overlapping programme holds one of its months (no month is paid
 *     twice), the programme has a free slot and its budget, if it has one,
 *     takes the coverage's months (counting what earlier items of the same
 *     replay take, and in a dry run what earlier replays of the run would
 *     take);
 *   - a deactivation qualifies when the worker has no later operation;
 *   - all qualify and the body still carries them all: resend the same body
 *     under the same key; some: rebuild a batch of those; none: nothing. */
#ifndef BPJS_REPLAY_H
#define BPJS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "journal.h"
#include "result.h"

#define REPLAY_WHY_SIZE 160

/* One operation of the batch, as the journal found it. */
struct replay_item {
        int kind;                  /* enum journal_op_kind */
        enum result_status status; /* its result; 0 while unanswered */
        const char *program;
        /* the coverage row of (NIK, programme) */
        int coverage;      /* enum journal_coverage_state; 0: there is none */
        bool coverage_own; /* it is still the one this registration started */
        int64_t start_month, end_month;     /* its period */
        int64_t first_month, last_month;    /* its own months */
        const struct decide_worker *worker; /* the worker's coverages (decide's view) */
        int64_t later_seq; /* the worker's first later operation; 0: none */
};

/* A configured programme's slots and budget. */
struct replay_quota {
        const char *program;
        int64_t quota;    /* the configuration's: most workers covered at once */
        int64_t used;     /* the journal's count (pending + active) */
        int64_t reserved; /* dry runs: slots earlier replays of the run would take */
        int64_t monthly_premium, budget; /* the configuration's; budget -1: none */
        int64_t months;                  /* the journal's committed months */
        int64_t reserved_months;         /* dry runs, as reserved */
};

struct replay_batch {
        int state;      /* enum journal_batch_state */
        int body_items; /* the items its body carries; -1 if it carries none */
        const struct replay_item *items;
        size_t n;
        const struct replay_quota *quotas;
        size_t n_quotas;
};

struct replay_verdict {
        bool ok;
        char why[REPLAY_WHY_SIZE]; /* when not ok */
};

/* The caller provides items (one per batch item) and taken (one per quota). */
struct replay_judgement {
        int action;                /* enum journal_ctl_replay_action */
        char why[REPLAY_WHY_SIZE]; /* for SKIP */
        size_t n_ok;
        struct replay_verdict *items;
        int64_t *taken;        /* the slots the qualifying registrations take */
        int64_t *taken_months; /* and the months they commit */
};

void replay_judge(const struct replay_batch *b, struct replay_judgement *out);

/* Whether an answered op could ever be sent again by a replay: its result
 * is failed and it is a deactivation, or a registration whose coverage is
 * still its own and failed. Every other op is final. The journal's
 * pruning (journal_prune: in the SQLite backend, FINAL_OP, the same rule in
 * SQL, negated) cuts the items of final ops only; keep the two in step. */
bool replay_may_resend(const struct replay_item *it);

#endif
