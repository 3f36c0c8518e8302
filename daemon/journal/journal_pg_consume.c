/* The PostgreSQL backend's consume side: a consumed batch's begin and
 * commit, one pipeline (libpq pipeline mode) each, so a batch costs two
 * round trips whatever its size: begin reads every fact with one statement
 * over arrays (unnest ... WITH ORDINALITY), commit writes the events, the
 * outbox rows, the changes of slots and committed months and the positions
 * with one statement each and one a coverage change, then COMMIT. A batch
 * that ends coverages costs a third: the months a withdrawal releases are
 * the journal's (what the ended coverage kept), so the slots and months
 * are written, once per programme, after the coverage changes answered.
 * See journal_pg.c for the statements. */
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* ---- pipelines: a batch's statements in one round trip ---- */

static void pipe_send(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p)
{
        if (!PQsendQueryPrepared(j->conn, jpg_stmt_name[s], p ? p->n : 0, p ? p->v : NULL,
                                 p ? p->len : NULL, p ? p->fmt : NULL, 1))
                j->pipe_broken = true;
}

/* BEGIN and COMMIT, in the pipeline. */
static void pipe_send_text(struct jpg *j, const char *text)
{
        if (!PQsendQueryParams(j->conn, text, 0, NULL, NULL, NULL, NULL, 1))
                j->pipe_broken = true;
}

static int enter_pipeline(struct jpg *j)
{
        j->pipe_broken = false;
        return PQenterPipelineMode(j->conn);
}

/* Ends the pipeline: its n statements' results, in order, in res (each
 * NULL or to PQclear); the first failure's text in errmsg. */
static int pipe_finish(struct jpg *j, PGresult **res, size_t n, const char *what)
{
        size_t k = 0, nulls = 0;
        bool synced = false;
        int rc = 0;

        for (size_t i = 0; i < n; i++)
                res[i] = NULL;
        if (!PQpipelineSync(j->conn))
                rc = jpg_fail_res(j, NULL, what);
        while (rc == 0 || PQstatus(j->conn) == CONNECTION_OK) {
                PGresult *r = PQgetResult(j->conn);
                if (!r) {
                        /* one NULL ends each statement's results */
                        if (PQstatus(j->conn) == CONNECTION_BAD || ++nulls > n + 1)
                                break;
                        continue;
                }
                ExecStatusType st = PQresultStatus(r);
                if (st == PGRES_PIPELINE_SYNC) {
                        PQclear(r);
                        synced = true;
                        break;
                }
                if (rc == 0 && st != PGRES_PIPELINE_ABORTED && !jpg_result_ok(r))
                        rc = jpg_fail_res(j, r, what);
                if (k < n)
                        res[k++] = r;
                else
                        PQclear(r);
        }
        if ((!synced || j->pipe_broken || k < n) && rc == 0)
                rc = jpg_fail_res(j, NULL, what); /* a statement never sent or answered */
        j->pipe_broken = false;
        if (synced)
                (void)PQexitPipelineMode(j->conn);
        return rc;
}

static void pipe_clear(PGresult **res, size_t n)
{
        for (size_t i = 0; res && i < n; i++)
                PQclear(res[i]);
}

/* ---- the consume side ---- */

/* The open batch's entry for a programme (made if new, without limits). */
static struct jpg_delta *quota_entry(struct jpg *j, const char *program)
{
        for (size_t i = 0; i < j->n_qd; i++)
                if (strcmp(j->qd[i].program, program) == 0)
                        return &j->qd[i];
        if (j->n_qd == j->cap_qd) {
                size_t cap = j->cap_qd ? j->cap_qd * 2 : 8;
                struct jpg_delta *q = realloc(j->qd, cap * sizeof(*q));
                if (!q)
                        return NULL;
                j->qd = q;
                j->cap_qd = cap;
        }
        j->qd[j->n_qd] = (struct jpg_delta){.program = program, .budget = -1};
        return &j->qd[j->n_qd++];
}

static int quota_limits(struct jpg *j, const struct journal_program_use *u)
{
        struct jpg_delta *d = quota_entry(j, u->program);

        if (!d)
                return jpg_fail_text(j, -ENOMEM, "begin", "out of memory");
        d->quota = u->quota;
        d->monthly_premium = u->monthly_premium;
        d->budget = u->budget;
        return 0;
}

int jpg_consume_begin(struct journal *jj, struct journal_facts *f)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_buf topics = {0}, parts = {0}, ids = {0}, niks = {0}, progs = {0};
        struct jpg_params pp = {0}, pi = {0}, pw = {0}, pq = {0};
        PGresult *res[6];
        int rc;

        j->n_qd = 0;
        if (j->flags & JOURNAL_READONLY) {
                snprintf(j->errmsg, sizeof(j->errmsg), "begin: %s", JPG_READONLY_TEXT);
                return -EROFS;
        }
        for (size_t i = 0; i < f->n_positions; i++) {
                jpg_arr_text(&topics, f->positions[i].topic);
                jpg_arr_i64(&parts, f->positions[i].partition);
                f->positions[i].next = -1;
        }
        for (size_t i = 0; i < f->n_event_ids; i++) {
                jpg_arr_text(&ids, f->event_ids[i]);
                f->seen[i] = false;
        }
        for (size_t i = 0; i < f->n_workers; i++) {
                jpg_arr_text(&niks, f->workers[i].nik);
                f->workers[i].live.n = 0;
        }
        for (size_t i = 0; i < f->n_programs; i++) {
                jpg_arr_text(&progs, f->programs[i].program);
                f->programs[i].used = 0;
                f->programs[i].months = 0;
        }
        /* the limits the guard holds the commit to */
        for (size_t i = 0; i < f->n_programs; i++)
                if (f->programs[i].quota > 0 &&
                    (rc = quota_limits(j, &f->programs[i])) != 0)
                        goto out;
        jpg_p_text(&pp, jpg_arr_end(&topics));
        jpg_p_text(&pp, jpg_arr_end(&parts));
        jpg_p_text(&pi, jpg_arr_end(&ids));
        jpg_p_text(&pw, jpg_arr_end(&niks));
        jpg_p_text(&pq, jpg_arr_end(&progs));
        if (topics.oom || parts.oom || ids.oom || niks.oom || progs.oom) {
                rc = jpg_fail_text(j, -ENOMEM, "begin", "out of memory");
                goto out;
        }
        rc = jpg_ensure_conn(j);
        if (rc)
                goto out;
        if (!enter_pipeline(j)) {
                rc = jpg_fail_res(j, NULL, "begin");
                goto out;
        }
        j->writing = true;
        pipe_send_text(j, "BEGIN");
        pipe_send(j, Q_LOCK_WORKERS, &pw);
        pipe_send(j, Q_POSITIONS, &pp);
        pipe_send(j, Q_SEEN, &pi);
        pipe_send(j, Q_WORKERS, &pw);
        pipe_send(j, Q_QUOTAS, &pq);
        rc = pipe_finish(j, res, 6, "begin");
        j->in_tx = true;
        for (int r = 0; rc == 0 && r < PQntuples(res[2]); r++) {
                int64_t i = jpg_col_i64(res[2], r, 0) - 1;
                if (i >= 0 && (size_t)i < f->n_positions)
                        f->positions[i].next = jpg_col_i64(res[2], r, 1);
        }
        for (int r = 0; rc == 0 && r < PQntuples(res[3]); r++) {
                int64_t i = jpg_col_i64(res[3], r, 0) - 1;
                if (i >= 0 && (size_t)i < f->n_event_ids)
                        f->seen[i] = true;
        }
        /* every coverage decide needs, however many: no cap on a history */
        for (int r = 0; rc == 0 && r < PQntuples(res[4]); r++) {
                int64_t i = jpg_col_i64(res[4], r, 0) - 1;
                if (i < 0 || (size_t)i >= f->n_workers)
                        continue;
                struct decide_coverage c = {
                    .start_month = jpg_col_i64(res[4], r, 2),
                    .end_month = jpg_col_i64(res[4], r, 3),
                    .first_month = jpg_col_i64(res[4], r, 4),
                    .last_month = jpg_col_i64(res[4], r, 5),
                    .live = jpg_col_i64(res[4], r, 6) != 0,
                };
                snprintf(c.program, sizeof(c.program), "%s",
                         jpg_col_text(res[4], r, 1) ? jpg_col_text(res[4], r, 1) : "");
                if (decide_worker_put(&f->workers[i].live, &c))
                        rc = jpg_fail_text(j, -ENOMEM, "worker lookup", "out of memory");
        }
        for (int r = 0; rc == 0 && r < PQntuples(res[5]); r++) {
                int64_t i = jpg_col_i64(res[5], r, 0) - 1;
                if (i >= 0 && (size_t)i < f->n_programs) {
                        f->programs[i].used = jpg_col_i64(res[5], r, 1);
                        f->programs[i].months = jpg_col_i64(res[5], r, 2);
                }
        }
        /* a failed read leaves no half-filled facts */
        for (size_t i = 0; rc && i < f->n_workers; i++)
                f->workers[i].live.n = 0;
        pipe_clear(res, 6);
        if (rc)
                jpg_rollback(j);
out:
        jpg_buf_free(&topics);
        jpg_buf_free(&parts);
        jpg_buf_free(&ids);
        jpg_buf_free(&niks);
        jpg_buf_free(&progs);
        return rc;
}

/* A change of slots and committed months of the open batch, written once
 * per programme at commit. */
static int quota_note(struct jpg *j, const char *program, int64_t delta, int64_t months)
{
        struct jpg_delta *d = quota_entry(j, program);

        if (!d)
                return jpg_fail_text(j, -ENOMEM, "quota", "out of memory");
        d->delta += delta;
        d->months += months;
        return 0;
}

/* The arrays of a commit's multi-row statements. */
struct commit_arrays {
        struct jpg_buf ev[11], out[4], qp, qd, qm, ql[3], ot, op, on, fe;
        size_t n_events, n_out, n_quota, n_ended;
};

static void commit_arrays_free(struct commit_arrays *a)
{
        for (int i = 0; i < 11; i++)
                jpg_buf_free(&a->ev[i]);
        for (int i = 0; i < 4; i++)
                jpg_buf_free(&a->out[i]);
        jpg_buf_free(&a->qp);
        jpg_buf_free(&a->qd);
        jpg_buf_free(&a->qm);
        for (int i = 0; i < 3; i++)
                jpg_buf_free(&a->ql[i]);
        jpg_buf_free(&a->fe);
        jpg_buf_free(&a->ot);
        jpg_buf_free(&a->op);
        jpg_buf_free(&a->on);
}

static bool commit_arrays_oom(const struct commit_arrays *a)
{
        bool oom = a->qp.oom || a->qd.oom || a->qm.oom || a->ot.oom || a->op.oom ||
                   a->on.oom || a->fe.oom;
        for (int i = 0; i < 11; i++)
                oom |= a->ev[i].oom;
        for (int i = 0; i < 4; i++)
                oom |= a->out[i].oom;
        return oom;
}

/* The epoch this handle claimed a partition at, -1 if it holds none. */
static int64_t claimed_epoch(const struct jpg *j, const struct journal_position *p)
{
        for (size_t i = 0; i < j->n_claims; i++)
                if (j->claims[i].partition == p->partition &&
                    strcmp(j->claims[i].topic, p->topic) == 0)
                        return j->claims[i].epoch;
        return -1;
}

/* The events, the outbox rows and the positions; the registrations' slots
 * and months noted (a withdrawal's are known once its change answered). */
static int commit_arrays_fill(struct jpg *j, const struct journal_outcome *o,
                              struct commit_arrays *a)
{
        for (size_t i = 0; i < o->n_records; i++) {
                const struct journal_record *r = &o->records[i];
                if (r->event_id) {
                        jpg_arr_text(&a->ev[0], r->event_id);
                        jpg_arr_text(&a->ev[1], r->nik ? r->nik : "");
                        jpg_arr_text(&a->ev[2], r->program);
                        jpg_arr_i64(&a->ev[3], r->type);
                        jpg_arr_i64(&a->ev[4], r->status);
                        jpg_arr_text(&a->ev[5], r->reason);
                        jpg_arr_text(&a->ev[6], r->covered_by);
                        jpg_arr_text(&a->ev[7], r->topic);
                        jpg_arr_i64(&a->ev[8], r->partition);
                        jpg_arr_i64(&a->ev[9], r->offset);
                        jpg_arr_i64(&a->ev[10], r->at_ms);
                        a->n_events++;
                }
                for (size_t k = 0; k < r->n_out; k++) {
                        const struct journal_out *x = &r->out[k];
                        jpg_arr_text(&a->out[0], x->topic);
                        jpg_arr_bytes(&a->out[1], x->key, x->key_len);
                        jpg_arr_bytes(&a->out[2], x->value ? x->value : "", x->value_len);
                        jpg_arr_bytes(&a->out[3], x->headers, x->headers_len);
                        a->n_out++;
                }
                if (r->action == DECIDE_DEACTIVATE)
                        a->n_ended++;
                if (r->action == DECIDE_REGISTER &&
                    quota_note(j, r->program ? r->program : "", 1,
                               decide_months(r->first_month, r->last_month)))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < o->n_positions; i++) {
                jpg_arr_text(&a->ot, o->positions[i].topic);
                jpg_arr_i64(&a->op, o->positions[i].partition);
                jpg_arr_i64(&a->on, o->positions[i].next);
                jpg_arr_i64(&a->fe, claimed_epoch(j, &o->positions[i]));
        }
        return commit_arrays_oom(a) ? jpg_fail_text(j, -ENOMEM, "commit", "out of memory")
                                    : 0;
}

/* The noted changes of slots and months, one row a programme that changed. */
static int quota_arrays(struct jpg *j, struct commit_arrays *a, struct jpg_params *p)
{
        for (size_t i = 0; i < j->n_qd; i++)
                if (j->qd[i].delta || j->qd[i].months) {
                        jpg_arr_text(&a->qp, j->qd[i].program);
                        jpg_arr_i64(&a->qd, j->qd[i].delta);
                        jpg_arr_i64(&a->qm, j->qd[i].months);
                        jpg_arr_i64(&a->ql[0], j->qd[i].quota);
                        jpg_arr_i64(&a->ql[1], j->qd[i].monthly_premium);
                        jpg_arr_i64(&a->ql[2], j->qd[i].budget);
                        a->n_quota++;
                }
        if (a->n_quota) {
                jpg_p_text(p, jpg_arr_end(&a->qp));
                jpg_p_text(p, jpg_arr_end(&a->qd));
                jpg_p_text(p, jpg_arr_end(&a->qm));
                for (int i = 0; i < 3; i++)
                        jpg_p_text(p, jpg_arr_end(&a->ql[i]));
        }
        /* an array that did not fit in memory would be a NULL: no rows */
        return a->qp.oom || a->qd.oom || a->qm.oom || a->ql[0].oom || a->ql[1].oom ||
                       a->ql[2].oom
                   ? jpg_fail_text(j, -ENOMEM, "commit", "out of memory")
                   : 0;
}

/* Sends one record's coverage change (none for most). */
static size_t send_change(struct jpg *j, const struct journal_record *r)
{
        struct jpg_params p = {0};

        if (r->action != DECIDE_REGISTER && r->action != DECIDE_DEACTIVATE)
                return 0;
        jpg_p_text(&p, r->nik);
        jpg_p_text(&p, r->program);
        jpg_p_text(&p, r->event_id);
        jpg_p_bytes(&p, r->item ? r->item : "{}", r->item ? r->item_len : 2);
        if (r->action == DECIDE_REGISTER) {
                jpg_p_i64(&p, r->start_month);
                jpg_p_i64(&p, r->end_month);
                jpg_p_i64(&p, r->first_month);
        }
        jpg_p_i64(&p, r->last_month);
        jpg_p_i64(&p, r->at_ms);
        pipe_send(j, r->action == DECIDE_REGISTER ? Q_REGISTER : Q_DEACTIVATE, &p);
        return 1;
}

/* The withdrawals' released months, from their changes' answers (res[at]
 * is the first change's): each frees its slot and the months its coverage
 * lost. */
static int note_released(struct jpg *j, const struct journal_outcome *o, PGresult **res,
                         size_t at)
{
        for (size_t i = 0; i < o->n_records; i++) {
                const struct journal_record *r = &o->records[i];
                if (r->action != DECIDE_REGISTER && r->action != DECIDE_DEACTIVATE)
                        continue;
                if (r->action == DECIDE_DEACTIVATE) {
                        if (!res[at] || PQntuples(res[at]) != 1) {
                                char why[160];
                                snprintf(why, sizeof(why), "event %s: no coverage ended",
                                         r->event_id ? r->event_id : "without an id");
                                return jpg_fail_text(j, -EIO, "deactivation", why);
                        }
                        int rc = quota_note(j, r->program ? r->program : "", -1,
                                            -jpg_col_i64(res[at], 0, 0));
                        if (rc)
                                return rc;
                }
                at++;
        }
        return 0;
}

/* The slots and months (if any changed), then COMMIT; how many statements. */
static size_t send_quota_commit(struct jpg *j, const struct commit_arrays *a,
                                const struct jpg_params *pq)
{
        size_t n = 1;

        if (a->n_quota) {
                pipe_send(j, Q_QUOTA_ADD, pq);
                n++;
        }
        pipe_send_text(j, "COMMIT");
        return n;
}

int jpg_consume_commit(struct journal *jj, const struct journal_outcome *o)
{
        struct jpg *j = jpg_of(jj);
        struct commit_arrays a = {0};
        struct jpg_params pe = {0}, po = {0}, pq = {0}, pp = {0}, pc = {0}, pf = {0};
        size_t first_change;
        PGresult **res = NULL;
        size_t n = 0;
        int rc;

        if (!j->in_tx) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "commit: no consumed batch is open (begin first)");
                return -EINVAL;
        }
        rc = commit_arrays_fill(j, o, &a);
        if (rc == 0 && a.n_ended == 0)
                rc = quota_arrays(j, &a, &pq);
        if (rc == 0) {
                res = calloc(o->n_records + 8, sizeof(PGresult *));
                if (!res) {
                        (void)jpg_fail_text(j, -ENOMEM, "commit", "out of memory");
                        rc = -ENOMEM;
                }
        }
        if (rc)
                goto out;
        for (int i = 0; a.n_events && i < 11; i++)
                jpg_p_text(&pe, jpg_arr_end(&a.ev[i]));
        for (int i = 0; a.n_out && i < 4; i++)
                jpg_p_text(&po, jpg_arr_end(&a.out[i]));
        if (o->n_positions) {
                jpg_p_text(&pp, jpg_arr_end(&a.ot));
                jpg_p_text(&pp, jpg_arr_end(&a.op));
                jpg_p_text(&pp, jpg_arr_end(&a.on));
                jpg_p_text(&pf, pp.v[0]);
                jpg_p_text(&pf, pp.v[1]);
                jpg_p_text(&pf, jpg_arr_end(&a.fe));
        }
        /* an array that did not fit in memory would be a NULL: no rows */
        if (commit_arrays_oom(&a)) {
                rc = jpg_fail_text(j, -ENOMEM, "commit", "out of memory");
                goto out;
        }
        if (!enter_pipeline(j)) {
                rc = jpg_fail_res(j, NULL, "commit");
                goto out;
        }
        /* the fence first: a batch for partitions another instance
         * claimed writes nothing */
        if (j->fencing && o->n_positions) {
                pipe_send(j, Q_FENCE, &pf);
                n++;
        }
        /* the outbox's seqs in commit order (journal_pg.c) */
        if (a.n_out) {
                pipe_send(j, Q_OUTBOX_LOCK, NULL);
                n++;
        }
        if (a.n_events) {
                pipe_send(j, Q_EVENTS_INSERT, &pe);
                n++;
        }
        first_change = n;
        for (size_t i = 0; i < o->n_records; i++)
                n += send_change(j, &o->records[i]);
        if (a.n_out) {
                pipe_send(j, Q_OUTBOX_INSERT, &po);
                n++;
        }
        if (o->n_positions) {
                pipe_send(j, Q_OFFSETS_SET, &pp);
                n++;
        }
        if (o->consumed) {
                jpg_p_text(&pc, "consumed");
                jpg_p_i64(&pc, o->consumed);
                pipe_send(j, Q_COUNTER_ADD, &pc);
                n++;
        }
        if (a.n_ended == 0)
                n += send_quota_commit(j, &a, &pq);
        rc = pipe_finish(j, res, n, "commit");
        /* withdrawals: what they released, then the slots, months, COMMIT */
        if (rc == 0 && a.n_ended) {
                rc = note_released(j, o, res, first_change);
                if (rc == 0)
                        rc = quota_arrays(j, &a, &pq);
                pipe_clear(res, n);
                n = 0;
                if (rc == 0 && !enter_pipeline(j))
                        rc = jpg_fail_res(j, NULL, "commit");
                if (rc == 0) {
                        n = send_quota_commit(j, &a, &pq);
                        rc = pipe_finish(j, res, n, "commit");
                }
        }
        /* a failed statement aborted the rest, COMMIT included */
        if (rc == 0 && PQtransactionStatus(j->conn) != PQTRANS_IDLE)
                rc = jpg_fail_text(j, -EIO, "commit", "the transaction did not end");
        pipe_clear(res, n);
out:
        if (rc)
                jpg_rollback(j);
        else
                j->write_rc = 0;
        j->in_tx = false;
        j->writing = false;
        j->n_qd = 0;
        free(res);
        commit_arrays_free(&a);
        return rc;
}

/* ---- the position fence ---- */

void jpg_claims_free(struct jpg *j)
{
        for (size_t i = 0; i < j->n_claims; i++)
                free(j->claims[i].topic);
        free(j->claims);
        j->claims = NULL;
        j->n_claims = 0;
}

int jpg_partitions_claim(struct journal *jj, const struct journal_position *p, size_t n)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_buf topics = {0}, parts = {0};
        struct jpg_params q = {0};
        struct jpg_claim *c = NULL;
        PGresult *r = NULL;
        int rc = 0, rows = 0;

        /* what the handle held is gone, whatever the claim's outcome: a
         * commit for it is refused until the claim succeeds */
        jpg_claims_free(j);
        j->fencing = true;
        if (n == 0)
                return 0;
        if (j->flags & JOURNAL_READONLY)
                return jpg_begin(j, true); /* -EROFS, said as such */
        for (size_t i = 0; i < n; i++) {
                jpg_arr_text(&topics, p[i].topic);
                jpg_arr_i64(&parts, p[i].partition);
        }
        jpg_p_text(&q, jpg_arr_end(&topics));
        jpg_p_text(&q, jpg_arr_end(&parts));
        jpg_p_text(&q, j->instance);
        jpg_p_i64(&q, clock_now_ms());
        if (topics.oom || parts.oom) {
                rc = jpg_fail_text(j, -ENOMEM, "claim", "out of memory");
                goto out;
        }
        j->writing = true;
        rc = jpg_exec(j, Q_CLAIM, &q, "claim", &r);
        j->writing = false;
        if (rc)
                goto out;
        j->write_rc = 0;
        rows = PQntuples(r);
        c = calloc(rows ? (size_t)rows : 1, sizeof(*c));
        if (!c) {
                rc = jpg_fail_text(j, -ENOMEM, "claim", "out of memory");
                goto out;
        }
        for (int row = 0; row < rows; row++) {
                c[row].topic =
                    strdup(jpg_col_text(r, row, 0) ? jpg_col_text(r, row, 0) : "");
                c[row].partition = (int32_t)jpg_col_i64(r, row, 1);
                c[row].epoch = jpg_col_i64(r, row, 2);
                if (!c[row].topic) {
                        for (int k = 0; k < row; k++)
                                free(c[k].topic);
                        free(c);
                        c = NULL;
                        rc = jpg_fail_text(j, -ENOMEM, "claim", "out of memory");
                        goto out;
                }
        }
        j->claims = c;
        j->n_claims = (size_t)rows;
out:
        PQclear(r);
        jpg_buf_free(&topics);
        jpg_buf_free(&parts);
        return rc;
}

void jpg_consume_abort(struct journal *jj)
{
        struct jpg *j = jpg_of(jj);
        jpg_rollback(j);
        j->n_qd = 0;
}

int jpg_programs_use(struct journal *jj, struct journal_program_use *u, size_t n)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_buf progs = {0};
        struct jpg_params p = {0};
        PGresult *r = NULL;
        int rc;

        for (size_t i = 0; i < n; i++) {
                jpg_arr_text(&progs, u[i].program);
                u[i].used = 0;
                u[i].months = 0;
        }
        jpg_p_text(&p, jpg_arr_end(&progs));
        rc = progs.oom ? jpg_fail_text(j, -ENOMEM, "quota", "out of memory")
                       : jpg_exec(j, Q_QUOTAS, &p, "quota", &r);
        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
                int64_t i = jpg_col_i64(r, row, 0) - 1;
                if (i >= 0 && (size_t)i < n) {
                        u[i].used = jpg_col_i64(r, row, 1);
                        u[i].months = jpg_col_i64(r, row, 2);
                }
        }
        PQclear(r);
        jpg_buf_free(&progs);
        return rc;
}
