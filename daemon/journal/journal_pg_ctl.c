/* The operator's half of the PostgreSQL backend (bpjs-syncctl): status,
 * batches, a batch, a worker, rejected events, the audit and the premium
 * report, each read in one snapshot (a repeatable-read, read-only
 * transaction, so the daemon runs meanwhile), with the SQLite backend's
 * answers (journal_sqlite_ctl.c). Replay is journal_pg_ctl_replay.c. */
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

/* An absent filter (0) is NULL. */
static void p_opt_i64(struct jpg_params *p, int64_t v)
{
        if (v)
                jpg_p_i64(p, v);
        else
                jpg_p_text(p, NULL);
}

/* Ends a snapshot: rc is the caller's result (a count, or an error), kept
 * unless the end itself fails. */
static int end_read(struct jpg *j, int rc)
{
        int e = rc < 0 ? 0 : jpg_commit(j);

        if (rc < 0 || e)
                jpg_rollback(j);
        return rc < 0 ? rc : e ? e : rc;
}

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

/* ---- batches ---- */

int jpg_ctl_batches(struct journal *jj, const struct journal_ctl_filter *f,
                    journal_ctl_batch_fn fn, void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        PGresult *r = NULL;
        int n = 0, rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        p_opt_i64(&p, f->state);
        jpg_p_text(&p, f->program);
        p_opt_i64(&p, f->since_ms);
        rc = jpg_exec(j, Q_CTL_BATCHES, &p, "batches", &r);
        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
                const char *programs = jpg_col_text(r, row, 9);
                struct journal_ctl_batch b = {
                    .b = {.id = jpg_col_i64(r, row, 0),
                          .kind = (int)jpg_col_i64(r, row, 1),
                          .state = (int)jpg_col_i64(r, row, 2),
                          .attempts = jpg_col_i64(r, row, 3),
                          .next_at = jpg_col_i64(r, row, 4),
                          .last_error = jpg_col_text(r, row, 5),
                          .created_at = jpg_col_i64(r, row, 6),
                          .updated_at = jpg_col_i64(r, row, 7)},
                    .items = jpg_col_i64(r, row, 8),
                    .programs = programs ? programs : "",
                };
                int ret = fn(&b, opaque);
                n++;
                if (ret) {
                        rc = ret < 0 ? ret : 0;
                        break;
                }
        }
        PQclear(r);
        return end_read(j, rc < 0 ? rc : n);
}

void jpg_ctl_read_item(const PGresult *r, int row, struct journal_ctl_item *it)
{
        struct journal_op *op = &it->op;

        memset(it, 0, sizeof(*it));
        jpg_read_op(r, row, op);
        it->status = (int)jpg_col_i64(r, row, 9);
        it->kpj = jpg_col_text(r, row, 10);
        it->reason = jpg_col_text(r, row, 11);
        it->coverage = (int)jpg_col_i64(r, row, 12);
        it->batch_state = (int)jpg_col_i64(r, row, 13);
}

int jpg_ctl_each_item(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                      journal_ctl_item_fn fn, void *opaque, const char *what)
{
        struct journal_ctl_item it;
        PGresult *r = NULL;
        int n = 0, ret = 0, rc = jpg_exec(j, s, p, what, &r);

        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                jpg_ctl_read_item(r, row, &it);
                n++;
                ret = fn(&it, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

/* The batch as the push side reads it (journal_batch_get), handed on. */
struct shown_ctx {
        journal_ctl_batch_fn fn;
        void *opaque;
        int rc;
};

static int shown_batch(const struct journal_batch *jb, void *opaque)
{
        struct shown_ctx *sc = opaque;
        struct journal_ctl_batch b = {.b = *jb, .programs = ""};

        return sc->rc = sc->fn(&b, sc->opaque);
}

int jpg_ctl_batch_show(struct journal *jj, int64_t id, journal_ctl_batch_fn bfn,
                       journal_ctl_item_fn ifn, void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct shown_ctx sc = {bfn, opaque, 0};
        struct jpg_params p = {0};
        int rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        rc = jpg_batch_get(jj, id, shown_batch, &sc);
        if (rc == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg), "no batch %lld", (long long)id);
                rc = -ENOENT;
        } else if (rc > 0) {
                rc = sc.rc;
        }
        if (rc == 0) {
                jpg_p_i64(&p, id);
                rc = jpg_ctl_each_item(j, Q_CTL_BATCH_ITEMS, &p, ifn, opaque, "items");
        }
        return end_read(j, rc);
}

/* ---- workers, rejected events ---- */

static int each_event(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                      journal_ctl_event_fn fn, void *opaque, const char *what)
{
        PGresult *r = NULL;
        int n = 0, ret = 0, rc = jpg_exec(j, s, p, what, &r);

        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                struct journal_ctl_event e = {
                    .event_id = jpg_col_text(r, row, 0),
                    .nik = jpg_col_text(r, row, 1),
                    .program = jpg_col_text(r, row, 2),
                    .type = (int)jpg_col_i64(r, row, 3),
                    .status = (int)jpg_col_i64(r, row, 4),
                    .reason = jpg_col_text(r, row, 5),
                    .covered_by = jpg_col_text(r, row, 6),
                    .topic = jpg_col_text(r, row, 7),
                    .partition = (int32_t)jpg_col_i64(r, row, 8),
                    .offset = jpg_col_i64(r, row, 9),
                    .at = jpg_col_i64(r, row, 10),
                };
                n++;
                ret = fn(&e, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

static int each_coverage(struct jpg *j, const struct jpg_params *p,
                         journal_ctl_coverage_fn fn, void *opaque)
{
        PGresult *r = NULL;
        int n = 0, ret = 0, rc = jpg_exec(j, Q_CTL_WORKER_COVERAGES, p, "coverage", &r);

        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                struct journal_ctl_coverage cov = {
                    .program = jpg_col_text(r, row, 0),
                    .state = (int)jpg_col_i64(r, row, 1),
                    .start_month = jpg_col_i64(r, row, 2),
                    .end_month = jpg_col_i64(r, row, 3),
                    .reg_seq = jpg_col_i64(r, row, 4),
                    .event_id = jpg_col_text(r, row, 5),
                    .updated_at = jpg_col_i64(r, row, 6),
                    .first_month = jpg_col_i64(r, row, 7),
                    .last_month = jpg_col_i64(r, row, 8),
                };
                n++;
                ret = fn(&cov, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

int jpg_ctl_worker(struct journal *jj, const char *nik,
                   const struct journal_ctl_worker_fns *fns, void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int n = 0, rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        jpg_p_text(&p, nik);
        if (fns->event) {
                rc = each_event(j, Q_CTL_WORKER_EVENTS, &p, fns->event, opaque, "events");
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->coverage) {
                rc = each_coverage(j, &p, fns->coverage, opaque);
                n += rc > 0 ? rc : 0;
        }
        if (rc >= 0 && fns->op) {
                rc = jpg_ctl_each_item(j, Q_CTL_WORKER_OPS, &p, fns->op, opaque, "ops");
                n += rc > 0 ? rc : 0;
        }
        rc = end_read(j, rc);
        return rc < 0 ? rc : n;
}

int jpg_ctl_rejected(struct journal *jj, const char *reason, int64_t since_ms,
                     journal_ctl_event_fn fn, void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        jpg_p_text(&p, reason);
        p_opt_i64(&p, since_ms);
        jpg_p_i64(&p, RESULT_REJECTED);
        return end_read(j, each_event(j, Q_CTL_REJECTED, &p, fn, opaque, "events"));
}

/* ---- audit ---- */

int jpg_ctl_audit_add(struct journal *jj, const char *who, const char *action,
                      const char *detail)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int rc = jpg_begin(j, true);

        if (rc)
                return rc;
        jpg_p_i64(&p, clock_now_ms());
        jpg_p_text(&p, who);
        jpg_p_text(&p, action);
        jpg_p_text(&p, detail);
        rc = jpg_run(j, Q_CTL_AUDIT_ADD, &p, "audit", NULL);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc)
                jpg_rollback(j);
        return rc;
}

int jpg_ctl_audit_list(struct journal *jj, const char *contains, int64_t since_ms,
                       journal_ctl_audit_fn fn, void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        PGresult *r = NULL;
        int n = 0, rc = jpg_begin_snapshot(j);

        if (rc)
                return rc;
        jpg_p_text(&p, contains);
        p_opt_i64(&p, since_ms);
        rc = jpg_exec(j, Q_CTL_AUDIT_LIST, &p, "audit", &r);
        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
                struct journal_ctl_audit a = {
                    .id = jpg_col_i64(r, row, 0),
                    .at = jpg_col_i64(r, row, 1),
                    .who = jpg_col_text(r, row, 2),
                    .action = jpg_col_text(r, row, 3),
                    .detail = jpg_col_text(r, row, 4),
                };
                int ret = fn(&a, opaque);
                n++;
                if (ret) {
                        rc = ret < 0 ? ret : 0;
                        break;
                }
        }
        PQclear(r);
        return end_read(j, rc < 0 ? rc : n);
}
