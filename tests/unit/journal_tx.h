/* The tests' shorthand for the journal's consume interface: records are
 * gathered (copied) between jt_begin and jt_commit and go to the journal as
 * one consumed batch (journal_consume_begin with no facts asked, then
 * journal_consume_commit); the reads ask begin for one fact and abort.
 * For tests that set up a journal's state; the interface itself is tested
 * by test_journal_iface.c. */
#ifndef BPJS_TEST_JOURNAL_TX_H
#define BPJS_TEST_JOURNAL_TX_H

#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define JT_MAX 256

static struct {
        struct journal_record r[JT_MAX];
        size_t n;
        struct journal_position pos[8];
        size_t n_pos;
        char *copies[JT_MAX * 8];
        size_t n_copies;
} jt;

static const char *jt_copy(const void *p, size_t len)
{
        char *c;

        if (!p)
                return NULL;
        c = malloc(len + 1);
        memcpy(c, p, len);
        c[len] = 0;
        jt.copies[jt.n_copies++] = c;
        return c;
}

static void jt_forget(void)
{
        for (size_t i = 0; i < jt.n_copies; i++)
                free(jt.copies[i]);
        jt.n = jt.n_pos = jt.n_copies = 0;
}

static inline int jt_begin(struct journal *j)
{
        (void)j;
        jt_forget();
        return 0;
}

#define JT_STR(s) ((s) ? jt_copy((s), strlen(s)) : NULL)

static inline int jt_record(struct journal *j, const struct journal_record *r)
{
        struct journal_record *c = &jt.r[jt.n++];

        (void)j;
        *c = *r;
        c->event_id = JT_STR(r->event_id);
        c->nik = JT_STR(r->nik);
        c->program = JT_STR(r->program);
        c->reason = JT_STR(r->reason);
        c->covered_by = JT_STR(r->covered_by);
        c->topic = JT_STR(r->topic);
        c->item = r->item ? jt_copy(r->item, r->item_len) : NULL;
        for (size_t i = 0; i < r->n_out; i++) {
                c->out[i].topic = JT_STR(r->out[i].topic);
                c->out[i].key = jt_copy(r->out[i].key, r->out[i].key_len);
                c->out[i].value = jt_copy(r->out[i].value, r->out[i].value_len);
                c->out[i].headers = jt_copy(r->out[i].headers, r->out[i].headers_len);
        }
        return 0;
}

static inline int jt_offset_set(struct journal *j, const char *topic, int32_t partition,
                                int64_t next)
{
        (void)j;
        for (size_t i = 0; i < jt.n_pos; i++)
                if (jt.pos[i].partition == partition && !strcmp(jt.pos[i].topic, topic)) {
                        jt.pos[i].next = next;
                        return 0;
                }
        jt.pos[jt.n_pos++] = (struct journal_position){JT_STR(topic), partition, next};
        return 0;
}

static inline int jt_commit(struct journal *j)
{
        struct journal_facts f = {0};
        int rc = journal_consume_begin(j, &f);

        if (rc == 0) {
                struct journal_outcome o = {jt.r, jt.n, jt.pos, jt.n_pos, 0};
                rc = journal_consume_commit(j, &o);
        }
        jt_forget();
        return rc;
}

/* The transaction is gone after a failed commit: nothing to roll back. */
static inline void jt_rollback(struct journal *j)
{
        (void)j;
        jt_forget();
}

static inline int jt_event_seen(struct journal *j, const char *event_id)
{
        bool seen = false;
        struct journal_facts f = {
            .event_ids = &event_id, .seen = &seen, .n_event_ids = 1};
        int rc = journal_consume_begin(j, &f);

        if (rc)
                return rc;
        journal_consume_abort(j);
        return seen;
}

static inline int jt_offset_next(struct journal *j, const char *topic, int32_t partition,
                                 int64_t *out)
{
        struct journal_position p = {topic, partition, -1};
        struct journal_facts f = {.positions = &p, .n_positions = 1};
        int rc = journal_consume_begin(j, &f);

        if (rc)
                return rc;
        journal_consume_abort(j);
        *out = p.next;
        return 0;
}

static inline int jt_worker(struct journal *j, const char *nik, struct decide_worker *w)
{
        struct journal_worker_facts wf = {.nik = nik, .live = *w};
        struct journal_facts f = {.workers = &wf, .n_workers = 1};
        int rc = journal_consume_begin(j, &f);

        *w = wf.live;
        if (rc)
                return rc;
        journal_consume_abort(j);
        return 0;
}

static inline int jt_quota_used(struct journal *j, const char *program, int64_t *out)
{
        struct journal_program_use u = {.program = program};
        int rc = journal_programs_use(j, &u, 1);

        *out = u.used;
        return rc;
}

#endif
