/* Replay of a failed batch on the PostgreSQL journal (journal.h, "Replay of
 * a failed batch"), as the SQLite backend's (journal_sqlite_ctl.c): the
 * facts are read, replay_judge (replay.h) decides, and the judgement and its
 * audit row are written, in one transaction. No replay rule is written here.
 *
 * Several daemons may consume meanwhile. The replay locks the batch row
 * (FOR UPDATE), then the batch's workers with the advisory locks the
 * consume side takes (Q_LOCK_WORKERS, in NIK order), then the quota rows of
 * the configured programmes (in the consume side's order), and only then
 * reads the facts: no daemon changes one of those workers or slot counts
 * until the replay commits, so what was judged is what is written. A dry
 * run reads one snapshot instead, takes no lock and changes nothing. */
#include "journal_ctl_int.h"
#include "journal_pg_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The batch (locked unless a dry run) and its ops. */
struct loaded {
        struct jpg *j;
        struct jctl_replay *r;
        struct journal_ctl_replay *out;
        int body_n;
};

static int loaded_batch(const struct journal_batch *b, void *opaque)
{
        struct loaded *l = opaque;

        l->out->kind = b->kind;
        l->out->state = b->state;
        snprintf(l->out->last_error, sizeof(l->out->last_error), "%s",
                 b->last_error ? b->last_error : "");
        l->r->last_error = b->last_error ? strdup(b->last_error) : NULL;
        l->body_n = jctl_body_items(b->body, b->body_len, b->kind);
        return b->last_error && !l->r->last_error ? -ENOMEM : 0;
}

static int load(struct jpg *j, int64_t id, bool lock, struct jctl_replay *r,
                struct journal_ctl_replay *out, int *body_n)
{
        struct loaded l = {j, r, out, -1};
        struct jpg_params p = {0};
        PGresult *res = NULL;
        int rc;

        jpg_p_i64(&p, id);
        if (lock) {
                rc = jpg_exec(j, Q_CTL_BATCH_LOCK, &p, "batch", &res);
                PQclear(res);
                if (rc)
                        return rc;
        }
        rc = jpg_batch_get((struct journal *)(void *)j, id, loaded_batch, &l);
        if (rc == 0) {
                snprintf(j->errmsg, sizeof(j->errmsg), "no batch %lld", (long long)id);
                return -ENOENT;
        }
        if (rc < 0)
                return rc;
        *body_n = l.body_n;
        rc = jpg_ctl_each_item(j, Q_CTL_BATCH_ITEMS, &p, jctl_collect_op, r, "items");
        if (rc >= 0 && r->rc)
                rc = r->rc;
        return rc < 0 ? rc : 0;
}

/* The advisory locks of the batch's workers (the consume side's), and the
 * configured programmes' quota rows. */
static int lock_workers_and_slots(struct jpg *j, const struct jctl_replay *r,
                                  const struct journal_ctl_replay_opts *o)
{
        struct jpg_buf niks = {0}, progs = {0};
        struct jpg_params pw = {0}, pq = {0};
        const char *a, *b;
        PGresult *res = NULL;
        int rc;

        for (size_t i = 0; i < r->n; i++)
                jpg_arr_text(&niks, r->ops[i].nik);
        for (size_t i = 0; i < o->n_quotas; i++)
                jpg_arr_text(&progs, o->quotas[i].program);
        a = jpg_arr_end(&niks);
        b = jpg_arr_end(&progs);
        if (!a || !b) {
                rc = jpg_fail_text(j, -ENOMEM, "replay", "out of memory");
                goto out;
        }
        jpg_p_text(&pw, a);
        rc = jpg_exec(j, Q_LOCK_WORKERS, &pw, "worker locks", &res);
        PQclear(res);
        res = NULL;
        if (rc)
                goto out;
        jpg_p_text(&pq, b);
        rc = jpg_exec(j, Q_CTL_QUOTAS_LOCK, &pq, "quota locks", &res);
        PQclear(res);
out:
        jpg_buf_free(&niks);
        jpg_buf_free(&progs);
        return rc;
}

/* decide's view of one worker (journal_sqlite.c's jsql_worker_live). */
static int worker_live(struct jpg *j, const char *nik, struct decide_worker *w)
{
        struct jpg_params p = {0};
        PGresult *res = NULL;
        int rc;

        w->n = 0;
        jpg_p_text(&p, nik);
        rc = jpg_exec(j, Q_CTL_WORKER_LIVE, &p, "worker lookup", &res);
        for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
                struct decide_coverage c = {
                    .start_month = jpg_col_i64(res, row, 1),
                    .end_month = jpg_col_i64(res, row, 2),
                    .first_month = jpg_col_i64(res, row, 3),
                    .last_month = jpg_col_i64(res, row, 4),
                    .live = jpg_col_i64(res, row, 5) != 0,
                };
                snprintf(c.program, sizeof(c.program), "%s", jpg_col_text(res, row, 0));
                if (decide_worker_put(w, &c))
                        rc = jpg_fail_text(j, -ENOMEM, "worker lookup", "out of memory");
        }
        PQclear(res);
        if (rc)
                w->n = 0;
        return rc;
}

/* What replay_judge needs to know of one op: its result, the latest
 * coverage row of its NIK and programme, the worker's coverages and its
 * first later operation. */
static int read_facts(struct jpg *j, const struct jctl_rop *o, struct replay_item *f,
                      struct decide_worker *w)
{
        struct jpg_params p = {0}, pl = {0};
        PGresult *res = NULL;
        int rc;

        *f = (struct replay_item){
            .kind = o->op.kind,
            .status = (enum result_status)o->status,
            .program = o->program,
            .worker = w,
        };
        jpg_p_text(&p, o->nik);
        jpg_p_text(&p, o->program);
        rc = jpg_exec(j, Q_CTL_COVERAGE_ROW, &p, "coverage", &res);
        if (rc == 0 && PQntuples(res) == 1) {
                f->coverage = (int)jpg_col_i64(res, 0, 0);
                f->coverage_own = jpg_col_i64(res, 0, 1) == o->op.seq;
                f->start_month = jpg_col_i64(res, 0, 2);
                f->end_month = jpg_col_i64(res, 0, 3);
                f->first_month = jpg_col_i64(res, 0, 4);
                f->last_month = jpg_col_i64(res, 0, 5);
        }
        PQclear(res);
        res = NULL;
        if (rc == 0)
                rc = worker_live(j, o->nik, w);
        if (rc)
                return rc;
        jpg_p_text(&pl, o->nik);
        jpg_p_i64(&pl, o->op.seq);
        rc = jpg_exec(j, Q_CTL_LATER_OP, &pl, "ops", &res);
        if (rc == 0 && PQntuples(res) == 1)
                f->later_seq = jpg_col_i64(res, 0, 0);
        PQclear(res);
        return rc;
}

/* The facts of every op, and the use of every configured programme. */
static int read_all_facts(struct jpg *j, struct jctl_replay *r,
                          const struct journal_ctl_replay_opts *o)
{
        struct journal_program_use *use = calloc(o->n_quotas + 1, sizeof(*use));
        int rc = use ? jctl_facts_alloc(r, o) : -ENOMEM;

        for (size_t i = 0; rc == 0 && i < r->n; i++)
                rc = read_facts(j, &r->ops[i], &r->facts[i], &r->workers[i]);
        for (size_t i = 0; rc == 0 && i < o->n_quotas; i++)
                use[i].program = r->quotas[i].program;
        /* in the open transaction: the consume side's slot counts */
        if (rc == 0 && o->n_quotas)
                rc = jpg_programs_use((struct journal *)(void *)j, use, o->n_quotas);
        for (size_t i = 0; rc == 0 && i < o->n_quotas; i++) {
                r->quotas[i].used = use[i].used;
                r->quotas[i].months = use[i].months;
        }
        if (rc == -ENOMEM)
                jpg_fail_text(j, rc, "replay", "out of memory");
        free(use);
        return rc;
}

static int run_changed(struct jpg *j, enum jpg_stmt s, const struct jpg_params *p,
                       const char *what, int64_t want)
{
        int64_t changed = 0;
        int rc = jpg_run(j, s, p, what, &changed);

        return rc ? rc : changed == want ? 0 : -ESTALE;
}

/* Puts a qualifying op of batch `in` back to work: no result, and for a
 * registration its coverage pending again, its slot taken and its months
 * committed. */
static int requeue_op(struct jpg *j, const struct jctl_rop *o,
                      const struct replay_item *f, int64_t in, int64_t now)
{
        struct jpg_params p = {0}, pc = {0}, pq = {0};
        int rc;

        jpg_p_i64(&p, o->op.seq);
        jpg_p_i64(&p, in);
        rc = run_changed(j, Q_CTL_OP_RESET, &p, "op", 1);
        if (rc || o->op.kind != JOURNAL_OP_REGISTER)
                return rc;
        jpg_p_text(&pc, o->nik);
        jpg_p_text(&pc, o->program);
        jpg_p_i64(&pc, o->op.seq);
        jpg_p_i64(&pc, now);
        rc = run_changed(j, Q_CTL_COVERAGE_RETAKE, &pc, "coverage", 1);
        if (rc)
                return rc;
        jpg_p_text(&pq, o->program);
        jpg_p_i64(&pq, 1);
        jpg_p_i64(&pq, decide_months(f->first_month, f->last_month));
        return jpg_run(j, Q_CTL_QUOTA_TAKE, &pq, "quota", NULL);
}

static int note_reason(struct jpg *j, int64_t seq, const char *why)
{
        struct jpg_params p = {0};
        char text[200];

        snprintf(text, sizeof(text), "not replayed: %s", why);
        jpg_p_i64(&p, seq);
        jpg_p_text(&p, text);
        return jpg_run(j, Q_CTL_OP_REASON, &p, "op", NULL);
}

/* The batch pending again from state `from` with the replay's note. */
static int requeue_batch(struct jpg *j, int64_t id, int from, const char *note,
                         int64_t now)
{
        struct jpg_params p = {0};

        jpg_p_i64(&p, id);
        jpg_p_i64(&p, now);
        jpg_p_text(&p, note);
        jpg_p_i64(&p, from);
        return run_changed(j, Q_CTL_BATCH_REQUEUE, &p, "batch", 1);
}

/* The qualifying ops move from the failed batch into a new one, made by the
 * push side's statements (a batch row, its body from compose, the ops moved
 * into it), pending with the replay's note. */
static int new_batch(struct jpg *j, const struct jctl_replay *r,
                     const struct journal_ctl_replay_opts *o,
                     const struct journal_ctl_replay *out, const char *note, int64_t now,
                     int64_t *new_id)
{
        struct journal_op *ops = calloc(r->n + 1, sizeof(*ops));
        struct jpg_params p = {0}, pb = {0}, po = {0};
        struct jpg_buf seqs = {0};
        PGresult *res = NULL;
        const char *arr;
        char *body = NULL;
        size_t n = 0, len = 0;
        int64_t id = 0, changed = 0;
        int rc;

        if (!ops)
                return jpg_fail_text(j, -ENOMEM, "batch", "out of memory");
        for (size_t i = 0; i < r->n; i++)
                if (out->items[i].ok) {
                        ops[n++] = r->ops[i].op;
                        jpg_arr_i64(&seqs, r->ops[i].op.seq);
                }
        arr = jpg_arr_end(&seqs);
        if (!arr) {
                rc = jpg_fail_text(j, -ENOMEM, "batch", "out of memory");
                goto out;
        }
        jpg_p_i64(&p, out->kind);
        jpg_p_i64(&p, now);
        rc = jpg_exec(j, Q_BATCH_INSERT, &p, "batch", &res);
        if (rc)
                goto out;
        id = jpg_col_i64(res, 0, 0);
        rc = o->compose(id, ops, n, o->opaque, &body, &len);
        if (rc) {
                snprintf(j->errmsg, sizeof(j->errmsg), "batch body: not composed");
                goto out;
        }
        jpg_p_i64(&pb, id);
        jpg_p_bytes(&pb, body ? body : "", len);
        rc = jpg_run(j, Q_BATCH_BODY, &pb, "batch body", NULL);
        if (rc)
                goto out;
        jpg_p_text(&po, arr);
        jpg_p_i64(&po, id);
        jpg_p_i64(&po, out->id);
        rc = jpg_run(j, Q_OPS_REBATCH, &po, "op batch", &changed);
        if (rc == 0 && changed != (int64_t)n)
                rc = -ESTALE; /* an op left the batch meanwhile */
        if (rc == 0)
                rc = requeue_batch(j, id, JOURNAL_BATCH_PENDING, note, now);
        if (rc == 0)
                *new_id = id;
out:
        PQclear(res);
        free(body);
        free(ops);
        jpg_buf_free(&seqs);
        return rc;
}

/* The failed batch ends: done when every item moved out, else failed with
 * its own error. */
static int end_batch(struct jpg *j, int64_t id, int state, const char *error, int64_t now)
{
        struct jpg_params p = {0};

        jpg_p_i64(&p, id);
        jpg_p_i64(&p, state);
        jpg_p_text(&p, error);
        jpg_p_i64(&p, now);
        return jpg_run(j, Q_CTL_BATCH_END, &p, "batch finish", NULL);
}

static int apply(struct jpg *j, const struct jctl_replay *r,
                 const struct journal_ctl_replay_opts *o, struct journal_ctl_replay *out)
{
        char note[160], name[JOURNAL_CTL_NAME_SIZE], detail[JCTL_DETAIL_SIZE];
        const struct journal *jj = (const struct journal *)(const void *)j;
        struct jpg_params pa = {0};
        int64_t now = clock_now_ms();
        int rc = 0;

        if (out->action == JOURNAL_CTL_REPLAY_RESEND) {
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        rc = requeue_op(j, &r->ops[i], &r->facts[i], out->id, now);
                snprintf(note, sizeof(note), "replayed by %s", o->who);
                if (rc == 0)
                        rc = requeue_batch(j, out->id, JOURNAL_BATCH_FAILED, note, now);
        } else if (out->action == JOURNAL_CTL_REPLAY_REBUILD) {
                journal_ctl_batch_name(jj, out->id, name);
                snprintf(note, sizeof(note), "replayed from %s by %s", name, o->who);
                rc = new_batch(j, r, o, out, note, now, &out->new_id);
                for (size_t i = 0; rc == 0 && i < r->n; i++)
                        if (out->items[i].ok)
                                rc = requeue_op(j, &r->ops[i], &r->facts[i], out->new_id,
                                                now);
                /* emptied, it has nothing left to answer; else it stays failed
                 * with its own error */
                journal_ctl_batch_name(jj, out->new_id, name);
                snprintf(note, sizeof(note), "every item replayed in %s", name);
                if (rc == 0)
                        rc = end_batch(j, out->id,
                                       out->n_ok == out->n ? JOURNAL_BATCH_DONE
                                                           : JOURNAL_BATCH_FAILED,
                                       out->n_ok == out->n ? note : r->last_error, now);
        }
        for (size_t i = 0; rc == 0 && i < r->n; i++)
                if (!out->items[i].ok)
                        rc = note_reason(j, out->items[i].seq, out->items[i].why);
        jctl_describe(jj, out, detail, sizeof(detail));
        jpg_p_i64(&pa, now);
        jpg_p_text(&pa, o->who);
        jpg_p_text(&pa, "replay");
        jpg_p_text(&pa, detail);
        if (rc == 0)
                rc = jpg_run(j, Q_CTL_AUDIT_ADD, &pa, "audit", NULL);
        return rc;
}

int jpg_ctl_replay(struct journal *jj, int64_t id,
                   const struct journal_ctl_replay_opts *o,
                   struct journal_ctl_replay *out)
{
        struct jpg *j = jpg_of(jj);
        struct journal_ctl_replay res = {.id = id};
        struct jctl_replay r = {0};
        int body_n = -1;
        int rc = o->dry_run ? jpg_begin_snapshot(j) : jpg_begin(j, true);

        if (rc)
                return rc;
        rc = load(j, id, !o->dry_run, &r, &res, &body_n);
        if (rc == 0 && !o->dry_run && res.state == JOURNAL_BATCH_FAILED)
                rc = lock_workers_and_slots(j, &r, o);
        if (rc == 0)
                rc = read_all_facts(j, &r, o);
        if (rc == 0)
                rc = jctl_judge(&r, o, res.state, body_n, &res);
        /* SKIP: the batch is not failed, nothing changes */
        if (rc == 0 && !o->dry_run && res.action != JOURNAL_CTL_REPLAY_SKIP) {
                rc = apply(j, &r, o, &res);
                if (rc == 0)
                        rc = jpg_commit(j);
        }
        jpg_rollback(j); /* a dry run's, a SKIP's, or after a failure */
        jctl_replay_release(&r);
        if (rc < 0) {
                if (rc == -ESTALE)
                        snprintf(j->errmsg, sizeof(j->errmsg),
                                 "batch %lld changed while it was replayed",
                                 (long long)id);
                free(res.items);
                return rc;
        }
        *out = res;
        return 0;
}
