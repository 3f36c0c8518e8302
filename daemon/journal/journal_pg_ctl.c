/* The operator's half of the PostgreSQL backend (bpjs-syncctl): status and
 * the premium report, each in one snapshot (a repeatable-read, read-only
 * transaction, so the daemon runs meanwhile). The other journal_ctl_* calls
 * answer -ENOTSUP with a clear message for now (journal_pg.c): a later step
 * of issue 16. */
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Each programme's slots in use and committed months, to fn (> 0 stops). */
static int quotas(struct jpg *j, journal_ctl_quota_fn fn, void *opaque)
{
        PGresult *r = NULL;
        int rc = jpg_exec(j, Q_CTL_QUOTAS, NULL, "quota", &r);

        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
                int ret = fn(jpg_col_text(r, row, 0), jpg_col_i64(r, row, 1),
                             jpg_col_i64(r, row, 2), opaque);
                if (ret) {
                        rc = ret < 0 ? ret : 0;
                        break;
                }
        }
        PQclear(r);
        return rc;
}

int jpg_ctl_status(struct journal *jj, journal_ctl_quota_fn fn, void *opaque,
                   struct journal_ctl_status *out)
{
        struct jpg *j = jpg_of(jj);
        struct journal_ctl_status st = {0};
        PGresult *r = NULL;
        int64_t queued = 0, open = 0;
        int rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        rc = jpg_exec(j, Q_CTL_STATUS, NULL, "status", &r);
        if (rc == 0) {
                st.ops_unbatched = jpg_col_i64(r, 0, 0);
                st.items_failed = jpg_col_i64(r, 0, 1);
                queued = jpg_col_i64(r, 0, 2);
                open = jpg_col_i64(r, 0, 3);
                st.consumed = jpg_col_i64(r, 0, 4);
                st.published = jpg_col_i64(r, 0, 5);
                st.outbox = jpg_col_i64(r, 0, 6);
        }
        PQclear(r);
        r = NULL;
        if (rc == 0)
                rc = jpg_exec(j, Q_CTL_BATCH_COUNTS, NULL, "batches", &r);
        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
                int64_t state = jpg_col_i64(r, row, 0);
                if (state >= 1 && state < (int64_t)(sizeof(st.batches) / sizeof(int64_t)))
                        st.batches[state] = jpg_col_i64(r, row, 1);
        }
        PQclear(r);
        r = NULL;
        if (rc == 0)
                rc = jpg_exec(j, Q_CTL_LAST_ERROR, NULL, "last error", &r);
        if (rc == 0 && PQntuples(r) == 1) {
                st.last_error_batch = jpg_col_i64(r, 0, 0);
                snprintf(st.last_error, sizeof(st.last_error), "%s",
                         jpg_col_text(r, 0, 1) ? jpg_col_text(r, 0, 1) : "");
                st.last_error_at = jpg_col_i64(r, 0, 2);
        }
        PQclear(r);
        r = NULL;
        if (rc == 0 && fn)
                rc = quotas(j, fn, opaque);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc) {
                jpg_rollback(j);
                return rc;
        }
        st.oldest_unsent_at = queued && open ? (queued < open ? queued : open)
                              : queued       ? queued
                                             : open;
        *out = st;
        return 0;
}

/* The premium report's facts (journal_pg.c's Q_CTL_REPORT): the groups of
 * coverages that have months, then each programme's slots and months. */
int jpg_ctl_report(struct journal *jj, journal_ctl_report_fn fn, journal_ctl_quota_fn qfn,
                   void *opaque)
{
        struct jpg *j = jpg_of(jj);
        PGresult *r = NULL;
        int rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        rc = jpg_exec(j, Q_CTL_REPORT, NULL, "report", &r);
        for (int row = 0; rc == 0 && fn && row < PQntuples(r); row++) {
                struct journal_ctl_report_group g = {
                    .program = jpg_col_text(r, row, 0),
                    .klass = (int)jpg_col_i64(r, row, 1),
                    .first_month = jpg_col_i64(r, row, 2),
                    .last_month = jpg_col_i64(r, row, 3),
                    .count = jpg_col_i64(r, row, 4),
                };
                int ret = g.program ? fn(&g, opaque) : 0;
                if (ret) {
                        rc = ret < 0 ? ret : 0;
                        break;
                }
        }
        PQclear(r);
        if (rc == 0 && qfn)
                rc = quotas(j, qfn, opaque);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc)
                jpg_rollback(j);
        return rc;
}
