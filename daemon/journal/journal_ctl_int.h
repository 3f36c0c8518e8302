/* What the operator's half of every journal backend shares
 * (journal_ctl.c): the names of batches and registrations, and the parts of
 * a replay that do not depend on where the facts are kept (the ops copied
 * out of their rows, the facts' arrays, replay_judge's call, the audit
 * row's text), so that a replay reads and writes alike on SQLite and on
 * PostgreSQL. A backend reads the facts and applies the judgement.
 * Private: only the journal's .c files include this header. */
#ifndef BPJS_JOURNAL_CTL_INT_H
#define BPJS_JOURNAL_CTL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "replay.h"

/* The audit row of a replay: at most this long. */
#define JCTL_DETAIL_SIZE 2048

/* An operation of the batch being replayed, copied out of its row. */
struct jctl_rop {
        struct journal_op op;
        int status;
        char *nik, *program, *event_id, *item, *kpj;
};

/* One replay's ops and facts. */
struct jctl_replay {
        struct jctl_rop *ops;
        size_t n, cap;
        int rc;
        /* the facts, one per op, and one quota per configured programme */
        struct replay_item *facts;
        struct decide_worker *workers;
        struct replay_quota *quotas;
        char *last_error; /* the batch's, whole */
};

/* A journal_ctl_item_fn: copies the op into r (opaque); r->rc says why
 * it could not. */
int jctl_collect_op(const struct journal_ctl_item *it, void *opaque);
void jctl_replay_release(struct jctl_replay *r);
/* How many items the body carries (-1: none, or not a body). */
int jctl_body_items(const void *body, size_t len, int kind);
/* The facts' arrays for r's ops, each emptied, and the configured
 * programmes' quotas and budgets (their use left for the backend). */
int jctl_facts_alloc(struct jctl_replay *r, const struct journal_ctl_replay_opts *opts);
/* replay_judge on r's facts, its verdicts in out; a dry run reserves in
 * opts->quotas what the batch would take. */
int jctl_judge(const struct jctl_replay *r, const struct journal_ctl_replay_opts *opts,
               int state, int body_n, struct journal_ctl_replay *out);
/* The audit row of a replay that was carried out: no NIK, items are named
 * by their registration id. */
void jctl_describe(const struct journal *j, const struct journal_ctl_replay *r,
                   char *detail, size_t size);

#endif
