/* What a journal backend provides: one table of functions, the
 * implementation of journal.h's functions for that backend. journal.c
 * dispatches every call through it. Private: only journal.c and the
 * backends include this header.
 *
 * Every backend's struct journal (or the struct it hands out as one) begins
 * with a pointer to its table, so journal.c finds the table without knowing
 * the rest of the layout. */
#ifndef BPJS_JOURNAL_BACKEND_H
#define BPJS_JOURNAL_BACKEND_H

#include "journal.h"

struct journal_backend {
        const char *name; /* "sqlite", "postgresql" */
        void (*close)(struct journal *j);
        const char *(*id)(const struct journal *j);
        const char *(*errmsg)(const struct journal *j);
        int (*write_health)(const struct journal *j);
        const char *(*write_error)(const struct journal *j);

        /* NULL: the backend needs no fence (one instance) */
        int (*partitions_claim)(struct journal *j, const struct journal_position *p,
                                size_t n);
        int (*consume_begin)(struct journal *j, struct journal_facts *f);
        /* NULL: nothing to renew (one instance) */
        int (*batches_renew)(struct journal *j);
        /* the lease's length in ms (NULL with batches_renew) */
        int64_t (*lease_ms)(const struct journal *j);
        int (*consume_commit)(struct journal *j, const struct journal_outcome *o);
        void (*consume_abort)(struct journal *j);
        int (*programs_use)(struct journal *j, struct journal_program_use *p, size_t n);

        int (*ops_unbatched)(struct journal *j, int64_t after_seq, size_t limit,
                             journal_op_fn fn, void *opaque);
        int (*batch_create)(struct journal *j, int kind, const struct journal_op *ops,
                            size_t n, journal_compose_fn compose, void *opaque,
                            int64_t *out_id);
        int (*batches_due)(struct journal *j, int64_t now_ms, size_t limit,
                           journal_batch_fn fn, void *opaque);
        int (*batches_unfinished)(struct journal *j, journal_batch_fn fn, void *opaque);
        int (*batch_ops)(struct journal *j, int64_t batch_id, journal_op_fn fn,
                         void *opaque);
        int (*batch_get)(struct journal *j, int64_t batch_id, journal_batch_fn fn,
                         void *opaque);
        int (*batch_update)(struct journal *j, int64_t id, int state, int64_t attempts,
                            int64_t next_at, const char *error);
        int (*batch_split)(struct journal *j, int64_t id, const struct journal_op *ops,
                           size_t n, size_t n_first, journal_compose_fn compose,
                           void *opaque, int64_t out_ids[2]);
        int (*batch_finish)(struct journal *j, int64_t id, int state, const char *error,
                            const struct journal_item_result *items, size_t n);
        int (*ops_settle)(struct journal *j, const struct journal_item_result *items,
                          size_t n);

        int (*outbox_fetch)(struct journal *j, int64_t after, size_t limit,
                            journal_out_fn fn, void *opaque);
        int (*outbox_delete_through)(struct journal *j, int64_t through,
                                     int64_t delivered);
        int (*outbox_count)(struct journal *j, int64_t *out);
        int (*counter_add)(struct journal *j, const char *name, int64_t n);
        int (*counter_get)(struct journal *j, const char *name, int64_t *out);
        int (*batches_open)(struct journal *j, int64_t *out);
        int (*backlog)(struct journal *j, int64_t *out);
        int (*prune)(struct journal *j, int64_t bodies_before_ms,
                     int64_t events_before_ms, size_t max_bodies, size_t max_events,
                     int64_t pruned[2]);
        int (*space)(struct journal *j, int64_t *used, int64_t *file);
        int (*disk_bytes)(struct journal *j, int64_t *out);

        /* the operator side */
        int (*ctl_status)(struct journal *j, journal_ctl_quota_fn fn, void *opaque,
                          struct journal_ctl_status *out);
        int (*ctl_batches)(struct journal *j, const struct journal_ctl_filter *f,
                           journal_ctl_batch_fn fn, void *opaque);
        int (*ctl_batch_show)(struct journal *j, int64_t id, journal_ctl_batch_fn bfn,
                              journal_ctl_item_fn ifn, void *opaque);
        int (*ctl_worker)(struct journal *j, const char *nik,
                          const struct journal_ctl_worker_fns *fns, void *opaque);
        int (*ctl_rejected)(struct journal *j, const char *reason, int64_t since_ms,
                            journal_ctl_event_fn fn, void *opaque);
        int (*ctl_audit_add)(struct journal *j, const char *who, const char *action,
                             const char *detail);
        int (*ctl_audit_list)(struct journal *j, const char *contains, int64_t since_ms,
                              journal_ctl_audit_fn fn, void *opaque);
        int (*ctl_replay)(struct journal *j, int64_t id,
                          const struct journal_ctl_replay_opts *o,
                          struct journal_ctl_replay *out);
        int (*ctl_report)(struct journal *j, journal_ctl_report_fn fn,
                          journal_ctl_quota_fn qfn, void *opaque);
};

/* The backends' opens (journal_sqlite.c, journal_pg.c): as journal_open_with,
 * the URL or path already chosen for them. */
int jsql_open(const char *path, const struct journal_open_opts *o, unsigned flags,
              struct journal **out, char *err, size_t errsize);
int jpg_open(const char *url, const struct journal_open_opts *o, unsigned flags,
             struct journal **out, char *err, size_t errsize);

/* Whether where names a PostgreSQL journal (a postgresql:// or postgres://
 * URL). */
bool journal_is_url(const char *where);

#endif
