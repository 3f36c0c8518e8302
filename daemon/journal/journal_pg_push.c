/* The PostgreSQL backend's push and publish sides, counters and pruning:
 * each call its own transaction, as journal.h says, with the semantics of
 * the SQLite backend's (journal_sqlite.c); many rows in one statement
 * (arrays) where SQLite steps one statement a row. */
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* ---- reading rows ---- */

void jpg_read_op(const PGresult *r, int row, struct journal_op *op)
{
        op->seq = jpg_col_i64(r, row, 0);
        op->kind = (int)jpg_col_i64(r, row, 1);
        op->nik = jpg_col_text(r, row, 2);
        op->program = jpg_col_text(r, row, 3);
        op->event_id = jpg_col_text(r, row, 4);
        op->item = jpg_col_blob(r, row, 5);
        op->item_len = jpg_col_len(r, row, 5);
        op->reg_seq = op->kind == JOURNAL_OP_REGISTER ? op->seq : jpg_col_i64(r, row, 6);
        op->reg_kpj = jpg_col_text(r, row, 7);
        op->batch_id = jpg_col_i64(r, row, 8);
}

static int each_op(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                   journal_op_fn fn, void *opaque)
{
        struct journal_op op;
        PGresult *r = NULL;
        int rc = jpg_exec(j, s, p, "ops", &r), n = 0, ret = 0;

        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                jpg_read_op(r, row, &op);
                op.reg_status = (int)jpg_col_i64(r, row, 9);
                n++;
                ret = fn(&op, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

int jpg_ops_unbatched(struct journal *jj, int64_t after_seq, size_t limit,
                      journal_op_fn fn, void *opaque)
{
        struct jpg_params p = {0};
        jpg_p_i64(&p, after_seq);
        jpg_p_i64(&p, (int64_t)limit);
        return each_op(jpg_of(jj), Q_OPS_UNBATCHED, &p, fn, opaque);
}

int jpg_batch_ops(struct journal *jj, int64_t batch_id, journal_op_fn fn, void *opaque)
{
        struct jpg_params p = {0};
        jpg_p_i64(&p, batch_id);
        return each_op(jpg_of(jj), Q_BATCH_OPS, &p, fn, opaque);
}

static int each_batch(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                      journal_batch_fn fn, void *opaque)
{
        struct journal_batch b;
        PGresult *r = NULL;
        int rc = jpg_exec(j, s, p, "batches", &r), n = 0, ret = 0;

        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                b.id = jpg_col_i64(r, row, 0);
                b.kind = (int)jpg_col_i64(r, row, 1);
                b.state = (int)jpg_col_i64(r, row, 2);
                b.body = jpg_col_blob(r, row, 3);
                b.body_len = jpg_col_len(r, row, 3);
                b.attempts = jpg_col_i64(r, row, 4);
                b.next_at = jpg_col_i64(r, row, 5);
                b.last_error = jpg_col_text(r, row, 6);
                b.created_at = jpg_col_i64(r, row, 7);
                b.updated_at = jpg_col_i64(r, row, 8);
                n++;
                ret = fn(&b, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

int jpg_batches_due(struct journal *jj, int64_t now_ms, size_t limit, journal_batch_fn fn,
                    void *opaque)
{
        struct jpg_params p = {0};
        jpg_p_i64(&p, now_ms);
        jpg_p_i64(&p, (int64_t)limit);
        jpg_p_i64(&p, clock_now_ms()); /* leases end by the clock */
        return each_batch(jpg_of(jj), Q_BATCHES_DUE, &p, fn, opaque);
}

int jpg_batches_unfinished(struct journal *jj, journal_batch_fn fn, void *opaque)
{
        return each_batch(jpg_of(jj), Q_BATCHES_OPEN, NULL, fn, opaque);
}

int jpg_batch_get(struct journal *jj, int64_t batch_id, journal_batch_fn fn, void *opaque)
{
        struct jpg_params p = {0};
        jpg_p_i64(&p, batch_id);
        return each_batch(jpg_of(jj), Q_BATCH_GET, &p, fn, opaque);
}

/* ---- batches ---- */

static const char *seqs_array(struct jpg_buf *b, const struct journal_op *ops, size_t n)
{
        for (size_t i = 0; i < n; i++)
                jpg_arr_i64(b, ops[i].seq);
        return jpg_arr_end(b);
}

/* One operation of a worker at the endpoint at a time, in decision order,
 * whichever instance forms the batch: with the workers locked, none of the
 * ops may have an earlier one of its worker unanswered (-EAGAIN: formed
 * later, once that one is answered). */
static int order_check(struct jpg *j, const struct journal_op *ops, size_t n)
{
        struct jpg_params p = {0};
        struct jpg_buf seqs = {0};
        PGresult *r = NULL;
        int rc;

        for (size_t i = 0; i < n; i++)
                jpg_arr_i64(&seqs, ops[i].seq);
        jpg_p_text(&p, jpg_arr_end(&seqs));
        jpg_p_i64(&p, 0);
        rc = seqs.oom ? jpg_fail_text(j, -ENOMEM, "op order", "out of memory")
                      : jpg_exec(j, Q_OPS_ORDER, &p, "op order", &r);
        if (rc == 0 && jpg_col_i64(r, 0, 1) > 0)
                rc = jpg_fail_text(j, -EAGAIN, "batch",
                                   "an earlier operation of one of its workers is not "
                                   "answered yet (another instance's batch)");
        PQclear(r);
        jpg_buf_free(&seqs);
        return rc;
}

/* Inserts a batch for ops (in the open transaction) and moves them into it
 * from batch `from` (0: from no batch). */
static int batch_insert(struct jpg *j, int kind, const struct journal_op *ops, size_t n,
                        int64_t from, journal_compose_fn compose, void *opaque,
                        int64_t *out_id)
{
        struct jpg_params p = {0}, pb = {0}, po = {0};
        struct jpg_buf seqs = {0};
        PGresult *r = NULL;
        char *body = NULL;
        size_t len = 0;
        int64_t id, changed = 0;
        int rc;

        if (!from) {
                rc = order_check(j, ops, n);
                if (rc)
                        return rc;
        }
        jpg_p_i64(&p, kind);
        jpg_p_i64(&p, clock_now_ms());
        rc = jpg_exec(j, Q_BATCH_INSERT, &p, "batch", &r);
        if (rc)
                return rc;
        id = jpg_col_i64(r, 0, 0);
        PQclear(r);
        rc = compose(id, ops, n, opaque, &body, &len);
        if (rc)
                return rc;
        jpg_p_i64(&pb, id);
        jpg_p_bytes(&pb, body ? body : "", len);
        rc = jpg_run(j, Q_BATCH_BODY, &pb, "batch body", NULL);
        free(body);
        if (rc)
                return rc;
        const char *arr = seqs_array(&seqs, ops, n);
        if (!arr) {
                jpg_buf_free(&seqs);
                return jpg_fail_text(j, -ENOMEM, "op batch", "out of memory");
        }
        jpg_p_text(&po, arr);
        jpg_p_i64(&po, id);
        if (from)
                jpg_p_i64(&po, from);
        rc = jpg_run(j, from ? Q_OPS_REBATCH : Q_OPS_BATCH, &po, "op batch", &changed);
        jpg_buf_free(&seqs);
        if (rc == 0 && changed != (int64_t)n)
                /* another instance batched one of them first */
                rc = jpg_fail_text(j, -EALREADY, "op batch",
                                   "an operation is in another batch already");
        if (rc == 0)
                *out_id = id;
        return rc;
}

int jpg_batch_create(struct journal *jj, int kind, const struct journal_op *ops, size_t n,
                     journal_compose_fn compose, void *opaque, int64_t *out_id)
{
        struct jpg *j = jpg_of(jj);
        int64_t id = 0;
        int rc = jpg_begin(j, true);

        if (rc == 0)
                rc = batch_insert(j, kind, ops, n, 0, compose, opaque, &id);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc) {
                jpg_rollback(j);
                return rc;
        }
        *out_id = id;
        return 0;
}

static int finish_state(struct jpg *j, int64_t id, int state, const char *error)
{
        struct jpg_params p = {0};
        int64_t changed = 0;
        int rc;

        jpg_p_i64(&p, id);
        jpg_p_i64(&p, state);
        jpg_p_text(&p, error);
        jpg_p_i64(&p, clock_now_ms());
        jpg_p_text(&p, j->instance);
        rc = jpg_run(j, Q_BATCH_FINISH, &p, "batch finish", &changed);
        if (rc == 0 && changed == 0) {
                char why[128];
                snprintf(why, sizeof(why),
                         "batch %lld ended, or is another instance's (it took it over "
                         "when this one's lease ended)",
                         (long long)id);
                rc = jpg_fail_text(j, -ESTALE, "batch finish", why);
        }
        return rc;
}

/* One write statement outside a transaction (a lease's): its failure is
 * a write failure, its success says the journal takes writes again. */
static int run_write(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                     const char *what, int64_t *changed)
{
        int rc;

        j->writing = true;
        rc = jpg_run(j, s, p, what, changed);
        j->writing = false;
        if (rc == 0)
                j->write_rc = 0;
        return rc;
}

int jpg_batches_renew(struct journal *jj)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};

        if (j->flags & JOURNAL_READONLY)
                return 0;
        jpg_p_text(&p, j->instance);
        jpg_p_i64(&p, clock_now_ms() + j->lease_ms);
        return run_write(j, Q_LEASE_RENEW, &p, "lease", NULL);
}

int64_t jpg_lease_ms(const struct journal *jj)
{
        return jpg_cof(jj)->lease_ms;
}

int jpg_batch_update(struct journal *jj, int64_t id, int state, int64_t attempts,
                     int64_t next_at, const char *error)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int64_t changed = 0;
        int rc;

        jpg_p_i64(&p, id);
        jpg_p_i64(&p, state);
        jpg_p_i64(&p, attempts);
        jpg_p_i64(&p, next_at);
        jpg_p_text(&p, error);
        jpg_p_i64(&p, clock_now_ms());
        jpg_p_text(&p, j->instance);
        jpg_p_i64(&p, clock_now_ms() + j->lease_ms);
        if (j->flags & JOURNAL_READONLY)
                return jpg_begin(j, true); /* -EROFS, said as such */
        rc = run_write(j, Q_BATCH_UPDATE, &p, "batch update", &changed);
        if (rc)
                return rc;
        if (changed == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "batch update: batch %lld is not pending or in flight, or "
                         "another instance sends it",
                         (long long)id);
                return -ESTALE;
        }
        return 0;
}

int jpg_batch_split(struct journal *jj, int64_t id, const struct journal_op *ops,
                    size_t n, size_t n_first, journal_compose_fn compose, void *opaque,
                    int64_t out_ids[2])
{
        struct jpg *j = jpg_of(jj);
        int64_t ids[2] = {0, 0};
        int rc;

        if (n < 2 || n_first == 0 || n_first >= n)
                return -EINVAL;
        rc = jpg_begin(j, true);
        if (rc == 0)
                rc = batch_insert(j, ops[0].kind, ops, n_first, id, compose, opaque,
                                  &ids[0]);
        if (rc == 0)
                rc = batch_insert(j, ops[0].kind, ops + n_first, n - n_first, id, compose,
                                  opaque, &ids[1]);
        if (rc == 0)
                rc = finish_state(j, id, JOURNAL_BATCH_SPLIT, "HTTP 413: split in two");
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc) {
                jpg_rollback(j);
                return rc;
        }
        out_ids[0] = ids[0];
        out_ids[1] = ids[1];
        return 0;
}

/* The arrays of a finish: the batch's ops in seq order, each with its item
 * result. */
struct finish_arrays {
        struct jpg_buf seq, status, kpj, reason, failed, ot, ok, ov, oh;
        size_t n_failed, n_out;
};

static void finish_arrays_free(struct finish_arrays *a)
{
        struct jpg_buf *all[9] = {&a->seq, &a->status, &a->kpj, &a->reason, &a->failed,
                                  &a->ot,  &a->ok,     &a->ov,  &a->oh};
        for (size_t i = 0; i < 9; i++)
                jpg_buf_free(all[i]);
}

/* Matches the batch's ops (rows of Q_BATCH_OPS) with the items: every op
 * exactly one result (-ENOENT for an op without one, -EINVAL when the
 * counts differ). */
static int finish_match(struct jpg *j, int64_t id, const PGresult *ops,
                        const struct journal_item_result *items, size_t n,
                        struct finish_arrays *a)
{
        int rows = PQntuples(ops);

        for (int row = 0; row < rows; row++) {
                int64_t seq = jpg_col_i64(ops, row, 0);
                int kind = (int)jpg_col_i64(ops, row, 1);
                const struct journal_item_result *r = NULL;
                for (size_t i = 0; i < n && !r; i++)
                        if (items[i].seq == seq)
                                r = &items[i];
                if (!r) {
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "batch finish: op %lld of batch %lld has no result",
                                 (long long)seq, (long long)id);
                        return -ENOENT;
                }
                jpg_arr_i64(&a->seq, seq);
                jpg_arr_i64(&a->status, r->status);
                jpg_arr_text(&a->kpj, r->kpj);
                jpg_arr_text(&a->reason, r->reason);
                if (kind == JOURNAL_OP_REGISTER && r->status != RESULT_REGISTERED &&
                    r->status != RESULT_ALREADY_REGISTERED) {
                        jpg_arr_i64(&a->failed, seq);
                        a->n_failed++;
                }
                if (r->out.topic) {
                        jpg_arr_text(&a->ot, r->out.topic);
                        jpg_arr_bytes(&a->ok, r->out.key, r->out.key_len);
                        jpg_arr_bytes(&a->ov, r->out.value ? r->out.value : "",
                                      r->out.value_len);
                        jpg_arr_bytes(&a->oh, r->out.headers, r->out.headers_len);
                        a->n_out++;
                }
        }
        if ((size_t)rows != n) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "batch finish: batch %lld has %d ops, %zu results given",
                         (long long)id, rows, n);
                return -EINVAL; /* every item must have exactly one result */
        }
        return 0;
}

int jpg_batch_finish(struct journal *jj, int64_t id, int state, const char *error,
                     const struct journal_item_result *items, size_t n)
{
        struct jpg *j = jpg_of(jj);
        struct finish_arrays a = {0};
        struct jpg_params pb = {0}, pr = {0}, pf = {0}, po = {0};
        PGresult *ops = NULL;
        int rc = jpg_begin(j, true);

        if (rc)
                return rc;
        jpg_p_i64(&pb, id);
        rc = jpg_run(j, Q_OUTBOX_LOCK, NULL, "outbox lock", NULL);
        if (rc == 0)
                rc = jpg_exec(j, Q_BATCH_OPS, &pb, "batch ops", &ops);
        if (rc == 0)
                rc = finish_match(j, id, ops, items, n, &a);
        if (rc == 0 && n) {
                jpg_p_text(&pr, jpg_arr_end(&a.seq));
                jpg_p_text(&pr, jpg_arr_end(&a.status));
                jpg_p_text(&pr, jpg_arr_end(&a.kpj));
                jpg_p_text(&pr, jpg_arr_end(&a.reason));
                rc = a.seq.oom || a.status.oom || a.kpj.oom || a.reason.oom
                         ? jpg_fail_text(j, -ENOMEM, "op result", "out of memory")
                         : jpg_run(j, Q_OP_RESULTS, &pr, "op result", NULL);
        }
        if (rc == 0 && a.n_failed) {
                jpg_p_text(&pf, jpg_arr_end(&a.failed));
                jpg_p_i64(&pf, clock_now_ms());
                rc = a.failed.oom
                         ? jpg_fail_text(j, -ENOMEM, "coverage", "out of memory")
                         : jpg_run(j, Q_COVERAGE_FAIL, &pf, "coverage settle", NULL);
        }
        if (rc == 0 && a.n_out) {
                jpg_p_text(&po, jpg_arr_end(&a.ot));
                jpg_p_text(&po, jpg_arr_end(&a.ok));
                jpg_p_text(&po, jpg_arr_end(&a.ov));
                jpg_p_text(&po, jpg_arr_end(&a.oh));
                rc = a.ot.oom || a.ok.oom || a.ov.oom || a.oh.oom
                         ? jpg_fail_text(j, -ENOMEM, "outbox", "out of memory")
                         : jpg_run(j, Q_OUTBOX_INSERT, &po, "outbox", NULL);
        }
        if (rc == 0)
                rc = finish_state(j, id, state, error);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc)
                jpg_rollback(j);
        PQclear(ops);
        finish_arrays_free(&a);
        return rc;
}

/* Unbatched ops settled without a request: all of them still unbatched
 * and unanswered, or nothing is written (-ESTALE). */
int jpg_ops_settle(struct journal *jj, const struct journal_item_result *items, size_t n)
{
        struct jpg *j = jpg_of(jj);
        struct finish_arrays a = {0};
        struct jpg_params pr = {0}, po = {0};
        int64_t changed = 0;
        int rc;

        if (!n)
                return 0;
        for (size_t i = 0; i < n; i++) {
                const struct journal_out *o = &items[i].out;
                jpg_arr_i64(&a.seq, items[i].seq);
                jpg_arr_i64(&a.status, items[i].status);
                jpg_arr_text(&a.reason, items[i].reason);
                jpg_arr_text(&a.ot, o->topic);
                jpg_arr_bytes(&a.ok, o->key, o->key_len);
                jpg_arr_bytes(&a.ov, o->value ? o->value : "", o->value_len);
                jpg_arr_bytes(&a.oh, o->headers, o->headers_len);
        }
        jpg_p_text(&pr, jpg_arr_end(&a.seq));
        jpg_p_text(&pr, jpg_arr_end(&a.status));
        jpg_p_text(&pr, jpg_arr_end(&a.reason));
        jpg_p_text(&po, jpg_arr_end(&a.ot));
        jpg_p_text(&po, jpg_arr_end(&a.ok));
        jpg_p_text(&po, jpg_arr_end(&a.ov));
        jpg_p_text(&po, jpg_arr_end(&a.oh));
        if (a.seq.oom || a.status.oom || a.reason.oom || a.ot.oom || a.ok.oom ||
            a.ov.oom || a.oh.oom) {
                finish_arrays_free(&a);
                return jpg_fail_text(j, -ENOMEM, "op settle", "out of memory");
        }
        rc = jpg_begin(j, true);
        /* outbox rows in commit order (jpg_batch_finish) */
        if (rc == 0)
                rc = jpg_run(j, Q_OUTBOX_LOCK, NULL, "outbox lock", NULL);
        if (rc == 0)
                rc = jpg_run(j, Q_OPS_SETTLE, &pr, "op settle", &changed);
        if (rc == 0 && changed != (int64_t)n) {
                snprintf(j->errmsg, sizeof(j->errmsg),
                         "op settle: %lld of %zu ops batched or answered meanwhile",
                         (long long)((int64_t)n - changed), n);
                rc = -ESTALE;
        }
        if (rc == 0)
                rc = jpg_run(j, Q_OUTBOX_INSERT, &po, "outbox", NULL);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc)
                jpg_rollback(j);
        finish_arrays_free(&a);
        return rc;
}

/* ---- the publish side, counters ---- */

/* Several instances publish one outbox one at a time, so that the results
 * keep the order in which they were journaled and each goes out once: the
 * holder of the publisher's lease. It is taken when free, held by this
 * handle, or ended (a holder that died), renewed every third of
 * lease_ms, and released at close, when another takes it over within
 * JPG_PUBLISHER_ASK_MS. 1 if this handle holds it, 0 if not, or a negative
 * errno. Two holders at once (a stalled one whose lease ended) publish some
 * messages twice, never none: each deletes only what it delivered. */
static int publisher_lease(struct jpg *j)
{
        int64_t now = clock_mono_ms(), wall = clock_now_ms(), taken = 0;
        struct jpg_params p = {0};
        int rc;

        if (now < j->publisher_at)
                return j->publishing;
        jpg_p_text(&p, j->instance);
        jpg_p_i64(&p, wall + j->lease_ms);
        jpg_p_i64(&p, wall);
        rc = run_write(j, Q_PUBLISHER_TAKE, &p, "publisher lease", &taken);
        if (rc) {
                j->publishing = false;
                j->publisher_at = now + JPG_PUBLISHER_ASK_MS;
                return rc;
        }
        j->publishing = taken == 1;
        j->publisher_at = now + (j->publishing ? j->lease_ms / 3 : JPG_PUBLISHER_ASK_MS);
        return j->publishing;
}

void jpg_publisher_release(struct jpg *j)
{
        struct jpg_params p = {0};

        if (!j->publishing)
                return;
        jpg_p_text(&p, j->instance);
        (void)run_write(j, Q_PUBLISHER_RELEASE, &p, "publisher lease", NULL);
        j->publishing = false;
}

int jpg_outbox_fetch(struct journal *jj, int64_t after, size_t limit, journal_out_fn fn,
                     void *opaque)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        struct journal_out o;
        PGresult *r = NULL;
        int rc, n = 0, ret = 0;

        rc = publisher_lease(j);
        if (rc <= 0)
                return rc; /* another instance publishes */
        jpg_p_i64(&p, after);
        jpg_p_i64(&p, (int64_t)limit);
        rc = jpg_exec(j, Q_OUTBOX_FETCH, &p, "outbox", &r);
        if (rc)
                return rc;
        for (int row = 0; row < PQntuples(r); row++) {
                int64_t seq = jpg_col_i64(r, row, 0);
                o.topic = jpg_col_text(r, row, 1);
                o.key = jpg_col_blob(r, row, 2);
                o.key_len = jpg_col_len(r, row, 2);
                o.value = jpg_col_blob(r, row, 3);
                o.value_len = jpg_col_len(r, row, 3);
                o.headers = jpg_col_blob(r, row, 4);
                o.headers_len = jpg_col_len(r, row, 4);
                n++;
                ret = fn(seq, &o, opaque);
                if (ret)
                        break;
        }
        PQclear(r);
        return ret < 0 ? ret : n;
}

static int counter_add(struct jpg *j, const char *name, int64_t n)
{
        struct jpg_params p = {0};
        jpg_p_text(&p, name);
        jpg_p_i64(&p, n);
        return jpg_run(j, Q_COUNTER_ADD, &p, "counter", NULL);
}

int jpg_outbox_delete_through(struct journal *jj, int64_t through, int64_t delivered)
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int rc = jpg_begin(j, true);

        jpg_p_i64(&p, through);
        if (rc == 0)
                rc = jpg_run(j, Q_OUTBOX_DELETE, &p, "outbox delete", NULL);
        if (rc == 0 && delivered)
                rc = counter_add(j, "published", delivered);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc)
                jpg_rollback(j);
        return rc;
}

int jpg_counter_add(struct journal *jj, const char *name, int64_t n)
{
        struct jpg *j = jpg_of(jj);
        bool own = !j->in_tx;
        int rc;

        if (j->flags & JOURNAL_READONLY)
                return jpg_begin(j, true); /* -EROFS, said as such */
        if (own)
                j->writing = true;
        rc = counter_add(j, name, n);
        if (own) {
                j->writing = false;
                if (rc == 0)
                        j->write_rc = 0;
        }
        return rc;
}

/* A statement that answers one integer row (0 if none). */
static int read_int(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                    const char *what, int64_t *out)
{
        PGresult *r = NULL;
        int rc = jpg_exec(j, s, p, what, &r);

        if (rc == 0)
                *out = PQntuples(r) > 0 ? jpg_col_i64(r, 0, 0) : 0;
        PQclear(r);
        return rc;
}

int jpg_counter_get(struct journal *jj, const char *name, int64_t *out)
{
        struct jpg_params p = {0};
        jpg_p_text(&p, name);
        return read_int(jpg_of(jj), Q_COUNTER_GET, &p, "counter", out);
}

int jpg_batches_open(struct journal *jj, int64_t *out)
{
        return read_int(jpg_of(jj), Q_OPEN_COUNT, NULL, "open batches", out);
}

int jpg_backlog(struct journal *jj, int64_t *out)
{
        return read_int(jpg_of(jj), Q_BACKLOG, NULL, "backlog", out);
}

int jpg_outbox_count(struct journal *jj, int64_t *out)
{
        return read_int(jpg_of(jj), Q_OUTBOX_COUNT, NULL, "outbox count", out);
}

/* ---- pruning, space ---- */

static int prune_step(struct jpg *j, enum jpg_stmt s, int64_t before_ms, size_t limit,
                      const char *counter, int64_t *pruned)
{
        struct jpg_params p = {0};
        int rc;

        jpg_p_i64(&p, before_ms);
        jpg_p_i64(&p, (int64_t)limit);
        *pruned = 0;
        rc = jpg_run(j, s, &p, counter, pruned);
        if (rc == 0 && *pruned)
                rc = counter_add(j, counter, *pruned);
        return rc;
}

/* The next span of the sweep (journal_sqlite.c's sweep_items). */
static int sweep_items(struct jpg *j, int64_t before_ms, size_t span, int64_t *n)
{
        struct jpg_params p = {0}, ps = {0};
        int64_t from = 0, last = 0, to;
        char num[24];
        int rc = read_int(j, Q_SWEEP_GET, NULL, "sweep cursor", &from);

        if (rc == 0)
                rc = read_int(j, Q_OPS_LAST, NULL, "last op", &last);
        if (rc)
                return rc;
        if (from >= last)
                from = 0;
        to = from + (int64_t)span < last ? from + (int64_t)span : last;
        jpg_p_i64(&p, from);
        jpg_p_i64(&p, to);
        jpg_p_i64(&p, before_ms);
        rc = jpg_run(j, Q_SWEEP_ITEMS, &p, "pruned_items", n);
        if (rc == 0) {
                snprintf(num, sizeof(num), "%lld", (long long)to);
                jpg_p_text(&ps, num);
                rc = jpg_run(j, Q_SWEEP_SET, &ps, "sweep cursor", NULL);
        }
        return rc;
}

int jpg_prune(struct journal *jj, int64_t bodies_before_ms, int64_t events_before_ms,
              size_t max_bodies, size_t max_events, int64_t pruned[2])
{
        struct jpg *j = jpg_of(jj);
        struct jpg_params p = {0};
        int64_t items[2] = {0, 0};
        int rc = jpg_begin(j, true);

        pruned[0] = pruned[1] = 0;
        jpg_p_i64(&p, bodies_before_ms);
        jpg_p_i64(&p, (int64_t)max_bodies);
        if (rc == 0)
                rc = jpg_run(j, Q_PRUNE_ITEMS, &p, "pruned_items", &items[0]);
        if (rc == 0)
                rc = sweep_items(j, bodies_before_ms, max_events, &items[1]);
        if (rc == 0 && items[0] + items[1])
                rc = counter_add(j, "pruned_items", items[0] + items[1]);
        if (rc == 0)
                rc = prune_step(j, Q_PRUNE_BODIES, bodies_before_ms, max_bodies,
                                "pruned_bodies", &pruned[0]);
        if (rc == 0)
                rc = prune_step(j, Q_PRUNE_EVENTS, events_before_ms, max_events,
                                "pruned_events", &pruned[1]);
        if (rc == 0)
                rc = jpg_commit(j);
        if (rc) {
                jpg_rollback(j);
                pruned[0] = pruned[1] = 0;
                return rc;
        }
        return pruned[0] == (int64_t)max_bodies || pruned[1] == (int64_t)max_events;
}

/* The journal's tables and indexes, and the whole database (the server's
 * files are its own: there is no file of ours to measure). */
int jpg_space(struct journal *jj, int64_t *used, int64_t *file)
{
        struct jpg *j = jpg_of(jj);
        PGresult *r = NULL;
        int rc = jpg_exec(j, Q_SPACE, NULL, "space", &r);

        if (rc == 0) {
                *used = jpg_col_i64(r, 0, 0);
                *file = jpg_col_i64(r, 0, 1);
        }
        PQclear(r);
        return rc;
}

int jpg_disk_bytes(struct journal *jj, int64_t *out)
{
        int64_t used = 0;
        return jpg_space(jj, &used, out);
}
