/* journal: the one interface, two backends. journal_open_with chooses the
 * backend from what it is given (a postgresql:// or postgres:// URL: the
 * PostgreSQL backend, journal_pg.c; anything else: a SQLite file,
 * journal_sqlite.c), and every other call goes through the table of the
 * backend that opened the journal (journal_backend.h). */
#include "journal.h"
#include "journal_backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct journal_backend *be(const struct journal *j)
{
        return *(const struct journal_backend *const *)j;
}

bool journal_is_url(const char *where)
{
        return where && (strncmp(where, "postgresql://", 13) == 0 ||
                         strncmp(where, "postgres://", 11) == 0);
}

int journal_open_with(const char *where, const struct journal_open_opts *o,
                      unsigned flags, struct journal **out, char *err, size_t errsize)
{
        if (!where || !*where) {
                snprintf(err, errsize, "no journal: neither a path nor a URL");
                return -EINVAL;
        }
        if (journal_is_url(where))
                return jpg_open(where, o, flags, out, err, errsize);
        return jsql_open(where, o, flags, out, err, errsize);
}

int journal_open(const char *where, unsigned flags, struct journal **out, char *err,
                 size_t errsize)
{
        return journal_open_with(where, NULL, flags, out, err, errsize);
}

void journal_close(struct journal *j)
{
        if (j)
                be(j)->close(j);
}

const char *journal_id(const struct journal *j)
{
        return be(j)->id(j);
}

const char *journal_errmsg(const struct journal *j)
{
        return be(j)->errmsg(j);
}

int journal_write_health(const struct journal *j)
{
        return be(j)->write_health(j);
}

const char *journal_write_error(const struct journal *j)
{
        return be(j)->write_error(j);
}

int journal_consume_begin(struct journal *j, struct journal_facts *f)
{
        return be(j)->consume_begin(j, f);
}

int journal_consume_commit(struct journal *j, const struct journal_outcome *o)
{
        return be(j)->consume_commit(j, o);
}

int journal_partitions_claim(struct journal *j, const struct journal_position *parts,
                             size_t n)
{
        return be(j)->partitions_claim ? be(j)->partitions_claim(j, parts, n) : 0;
}

int journal_batches_renew(struct journal *j)
{
        return be(j)->batches_renew ? be(j)->batches_renew(j) : 0;
}

int64_t journal_renew_ms(const struct journal *j)
{
        return (be(j)->lease_ms ? be(j)->lease_ms(j) : JOURNAL_LEASE_MS) / 3;
}

void journal_consume_abort(struct journal *j)
{
        be(j)->consume_abort(j);
}

int journal_programs_use(struct journal *j, struct journal_program_use *p, size_t n)
{
        return be(j)->programs_use(j, p, n);
}

int journal_ops_unbatched(struct journal *j, int64_t after_seq, size_t limit,
                          journal_op_fn fn, void *opaque)
{
        return be(j)->ops_unbatched(j, after_seq, limit, fn, opaque);
}

int journal_batch_create(struct journal *j, int kind, const struct journal_op *ops,
                         size_t n, journal_compose_fn compose, void *opaque,
                         int64_t *out_id)
{
        return be(j)->batch_create(j, kind, ops, n, compose, opaque, out_id);
}

int journal_batches_due(struct journal *j, int64_t now_ms, size_t limit,
                        journal_batch_fn fn, void *opaque)
{
        return be(j)->batches_due(j, now_ms, limit, fn, opaque);
}

int journal_batches_unfinished(struct journal *j, journal_batch_fn fn, void *opaque)
{
        return be(j)->batches_unfinished(j, fn, opaque);
}

int journal_batch_ops(struct journal *j, int64_t batch_id, journal_op_fn fn, void *opaque)
{
        return be(j)->batch_ops(j, batch_id, fn, opaque);
}

int journal_batch_get(struct journal *j, int64_t batch_id, journal_batch_fn fn,
                      void *opaque)
{
        return be(j)->batch_get(j, batch_id, fn, opaque);
}

int journal_batch_update(struct journal *j, int64_t id, int state, int64_t attempts,
                         int64_t next_at, const char *error)
{
        return be(j)->batch_update(j, id, state, attempts, next_at, error);
}

int journal_batch_split(struct journal *j, int64_t id, const struct journal_op *ops,
                        size_t n, size_t n_first, journal_compose_fn compose,
                        void *opaque, int64_t out_ids[2])
{
        return be(j)->batch_split(j, id, ops, n, n_first, compose, opaque, out_ids);
}

int journal_batch_finish(struct journal *j, int64_t id, int state, const char *error,
                         const struct journal_item_result *items, size_t n)
{
        return be(j)->batch_finish(j, id, state, error, items, n);
}

int journal_ops_settle(struct journal *j, const struct journal_item_result *items,
                       size_t n)
{
        return be(j)->ops_settle(j, items, n);
}

int journal_outbox_fetch(struct journal *j, int64_t after, size_t limit,
                         journal_out_fn fn, void *opaque)
{
        return be(j)->outbox_fetch(j, after, limit, fn, opaque);
}

int journal_outbox_delete_through(struct journal *j, int64_t through, int64_t delivered)
{
        return be(j)->outbox_delete_through(j, through, delivered);
}

int journal_outbox_count(struct journal *j, int64_t *out)
{
        return be(j)->outbox_count(j, out);
}

int journal_counter_add(struct journal *j, const char *name, int64_t n)
{
        return be(j)->counter_add(j, name, n);
}

int journal_counter_get(struct journal *j, const char *name, int64_t *out)
{
        return be(j)->counter_get(j, name, out);
}

int journal_batches_open(struct journal *j, int64_t *out)
{
        return be(j)->batches_open(j, out);
}

int journal_backlog(struct journal *j, int64_t *out)
{
        return be(j)->backlog(j, out);
}

int journal_prune(struct journal *j, int64_t bodies_before_ms, int64_t events_before_ms,
                  size_t max_bodies, size_t max_events, int64_t pruned[2])
{
        return be(j)->prune(j, bodies_before_ms, events_before_ms, max_bodies, max_events,
                            pruned);
}

int journal_space(struct journal *j, int64_t *used, int64_t *file)
{
        return be(j)->space(j, used, file);
}

int journal_disk_bytes(struct journal *j, int64_t *out)
{
        return be(j)->disk_bytes(j, out);
}

int journal_ctl_status(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                       struct journal_ctl_status *out)
{
        return be(j)->ctl_status(j, fn, opaque, out);
}

int journal_ctl_batches(struct journal *j, const struct journal_ctl_filter *f,
                        journal_ctl_batch_fn fn, void *opaque)
{
        return be(j)->ctl_batches(j, f, fn, opaque);
}

int journal_ctl_batch_show(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                           journal_ctl_item_fn ifn, void *opaque)
{
        return be(j)->ctl_batch_show(j, id, bfn, ifn, opaque);
}

int journal_ctl_worker(struct journal *j, const char *nik,
                       const struct journal_ctl_worker_fns *fns, void *opaque)
{
        return be(j)->ctl_worker(j, nik, fns, opaque);
}

int journal_ctl_rejected(struct journal *j, const char *reason, int64_t since_ms,
                         journal_ctl_event_fn fn, void *opaque)
{
        return be(j)->ctl_rejected(j, reason, since_ms, fn, opaque);
}

int journal_ctl_audit_add(struct journal *j, const char *who, const char *action,
                          const char *detail)
{
        return be(j)->ctl_audit_add(j, who, action, detail);
}

int journal_ctl_audit_list(struct journal *j, const char *contains, int64_t since_ms,
                           journal_ctl_audit_fn fn, void *opaque)
{
        return be(j)->ctl_audit_list(j, contains, since_ms, fn, opaque);
}

int journal_ctl_replay(struct journal *j, int64_t id,
                       const struct journal_ctl_replay_opts *o,
                       struct journal_ctl_replay *out)
{
        return be(j)->ctl_replay(j, id, o, out);
}

int journal_ctl_report(struct journal *j, journal_ctl_report_fn fn,
                       journal_ctl_quota_fn qfn, void *opaque)
{
        return be(j)->ctl_report(j, fn, qfn, opaque);
}
