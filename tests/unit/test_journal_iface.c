/* The journal interface's promises, as any backend must keep them: written
 * against journal.h alone (no backend name, no query text, no look at
 * files), so that the same suite runs on SQLite now and on PostgreSQL next.
 *
 * One fixture opens the journal: BPJS_TEST_JOURNAL (a backend's URL or
 * path, with BPJS_TEST_JOURNAL_PASSWORD its password if it needs one) if
 * set, else a fresh file in a temporary directory, removed after
 * (BPJS_TEST_JOURNAL_MERGE_ROWS: how often SQLite merges its coverage log).
 * A shared journal may hold other tests' rows, so every test works in names
 * of its own (topics, event ids, NIKs, programmes) and reads the outbox,
 * the operations and the counters from where they stood when it began. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal.h"
#include "tmpdir.h"

/* ---- the fixture ---- */

struct fx {
        struct journal *j;
        char dir[64]; /* "" when the journal came from BPJS_TEST_JOURNAL */
        char path[96];
        unsigned tag; /* makes this test's names its own */
};

static int fx_open(void **state)
{
        static unsigned turn;
        struct fx *fx = calloc(1, sizeof(*fx));
        const char *env = getenv("BPJS_TEST_JOURNAL");
        char err[256];

        if (!fx)
                return -1;
        fx->tag =
            ((unsigned)time(NULL) * 31u + (unsigned)getpid() * 7u + ++turn * 1009u) %
            1000000u;
        if (env && *env) {
                snprintf(fx->path, sizeof(fx->path), "%s", env);
        } else {
                snprintf(fx->dir, sizeof(fx->dir), "/tmp/bpjs-journal-iface-XXXXXX");
                if (!mkdtemp(fx->dir)) {
                        free(fx);
                        return -1;
                }
                snprintf(fx->path, sizeof(fx->path), "%s/journal", fx->dir);
        }
        /* a backend's password comes beside its URL, never in it; a SQLite
         * journal merges its coverage log after BPJS_TEST_JOURNAL_MERGE_ROWS
         * changes (unit.journal_iface_merging: a few, so that every test
         * reads coverages across merges) */
        const char *merge = getenv("BPJS_TEST_JOURNAL_MERGE_ROWS");
        struct journal_open_opts o = {.password = getenv("BPJS_TEST_JOURNAL_PASSWORD"),
                                      .merge_rows = merge ? atoll(merge) : 0};
        if (journal_open_with(fx->path, &o, JOURNAL_RECOVER, &fx->j, err, sizeof(err))) {
                /* a backend URL may carry a password: never print it */
                fprintf(stderr, "journal_open %s: %s\n",
                        fx->dir[0] ? fx->path : "$BPJS_TEST_JOURNAL", err);
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int fx_close(void **state)
{
        struct fx *fx = *state;

        journal_close(fx->j);
        if (fx->dir[0])
                tmpdir_remove(fx->dir); /* whatever files the backend made there */
        free(fx);
        return 0;
}

/* ---- this test's names ---- */

#define NAME_SIZE 48
struct names {
        char topic[NAME_SIZE];
        char prog[8][NAME_SIZE];
};

static struct names names_of(const struct fx *fx)
{
        struct names n;

        snprintf(n.topic, sizeof(n.topic), "t%06u.events", fx->tag);
        for (int i = 0; i < 8; i++)
                snprintf(n.prog[i], sizeof(n.prog[i]), "P%06u-%d", fx->tag, i);
        return n;
}

/* A 16-digit NIK of this test's own (the journal does not check its form). */
static void nik_make(const struct fx *fx, unsigned i, char out[17])
{
        snprintf(out, 17, "%06u%010u", fx->tag, i);
}

static void id_make(const struct fx *fx, unsigned i, char out[NAME_SIZE])
{
        snprintf(out, NAME_SIZE, "ev-%06u-%u", fx->tag, i);
}

/* ---- records, as consume hands them over ---- */

struct rec {
        char event_id[NAME_SIZE];
        char nik[17];
        char item[96];
        char value[96];
        struct journal_record r;
};

/* One consumed message's record: action on program (period start..end),
 * with one result row for the outbox that names the event. */
static void rec_make(struct rec *x, const char *topic, int64_t offset,
                     const char *event_id, const char *nik, const char *program,
                     enum decide_action action, int64_t start, int64_t end)
{
        memset(x, 0, sizeof(*x));
        snprintf(x->event_id, sizeof(x->event_id), "%s", event_id ? event_id : "");
        snprintf(x->nik, sizeof(x->nik), "%s", nik);
        snprintf(x->item, sizeof(x->item), "{\"event\":\"%s\"}", x->event_id);
        snprintf(x->value, sizeof(x->value), "result of %s at %lld", x->event_id,
                 (long long)offset);
        x->r = (struct journal_record){
            .event_id = event_id ? x->event_id : NULL,
            .nik = x->nik,
            .program = program,
            .type = action == DECIDE_DEACTIVATE ? EVENT_WITHDRAWN : EVENT_SUBMITTED,
            .status = action == DECIDE_NOTHING ? RESULT_DUPLICATE : RESULT_CONFIRMED,
            .topic = topic,
            .partition = 0,
            .offset = offset,
            .at_ms = 1700000000000 + offset,
            .action = action,
            .start_month = action == DECIDE_REGISTER ? start : 0,
            .end_month = action == DECIDE_REGISTER ? end : 0,
            /* a registration's months are its period; a withdrawal here ends
             * the coverage before its first month, leaving it none (see
             * rec_withdraw_in for one that keeps months) */
            .first_month = action == DECIDE_REGISTER ? start : 0,
            .last_month = action == DECIDE_REGISTER ? end : -1,
            .item = action == DECIDE_NOTHING ? NULL : x->item,
            .item_len = action == DECIDE_NOTHING ? 0 : strlen(x->item),
            .out = {{.topic = "results",
                     .key = x->nik,
                     .key_len = strlen(x->nik),
                     .value = x->value,
                     .value_len = strlen(x->value)}},
            .n_out = 1,
        };
}

/* Begins a batch asking nothing, commits the records and the positions. */
static int commit_batch(struct journal *j, const struct rec *x, size_t n,
                        const struct journal_position *pos, size_t n_pos,
                        int64_t consumed)
{
        struct journal_facts f = {0};
        struct journal_record *r = calloc(n ? n : 1, sizeof(*r));
        int rc;

        assert_non_null(r);
        for (size_t i = 0; i < n; i++)
                r[i] = x[i].r;
        rc = journal_consume_begin(j, &f);
        if (rc == 0) {
                struct journal_outcome o = {r, n, pos, n_pos, consumed};
                rc = journal_consume_commit(j, &o);
        }
        free(r);
        return rc;
}

/* ---- reading facts back ---- */

static int64_t position_of(struct journal *j, const char *topic, int32_t partition)
{
        struct journal_position p = {topic, partition, 12345};
        struct journal_facts f = {.positions = &p, .n_positions = 1};

        assert_int_equal(journal_consume_begin(j, &f), 0);
        journal_consume_abort(j);
        return p.next;
}

static bool seen(struct journal *j, const char *event_id)
{
        bool s = true;
        struct journal_facts f = {.event_ids = &event_id, .seen = &s, .n_event_ids = 1};

        assert_int_equal(journal_consume_begin(j, &f), 0);
        journal_consume_abort(j);
        return s;
}

/* The worker's live coverages; w is the caller's (kept between calls). */
static size_t live(struct journal *j, const char *nik, struct decide_worker *w)
{
        struct journal_worker_facts wf = {.nik = nik, .live = *w};
        struct journal_facts f = {.workers = &wf, .n_workers = 1};

        assert_int_equal(journal_consume_begin(j, &f), 0);
        journal_consume_abort(j);
        *w = wf.live;
        return w->n;
}

/* A programme's use, read both ways (in a batch, and outside one): they
 * agree, slots and committed months alike. */
static struct journal_program_use use_of(struct journal *j, const char *program)
{
        struct journal_program_use in = {.program = program, .used = -7, .months = -7},
                                   out = {.program = program, .used = -7, .months = -7};
        struct journal_facts f = {.programs = &in, .n_programs = 1};

        assert_int_equal(journal_consume_begin(j, &f), 0);
        journal_consume_abort(j);
        assert_int_equal(journal_programs_use(j, &out, 1), 0);
        assert_int_equal(in.used, out.used);
        assert_int_equal(in.months, out.months);
        return in;
}

static int64_t slots(struct journal *j, const char *program)
{
        return use_of(j, program).used;
}

static int64_t months_of(struct journal *j, const char *program)
{
        return use_of(j, program).months;
}

static int64_t counter(struct journal *j, const char *name)
{
        int64_t v = -1;
        assert_int_equal(journal_counter_get(j, name, &v), 0);
        return v;
}

/* Operations, copied out of the callback. */
struct op_copy {
        int64_t seq, reg_seq, batch_id;
        int kind, reg_status;
        char nik[17], program[NAME_SIZE], event_id[NAME_SIZE], item[96], reg_kpj[32];
};
struct op_list {
        struct op_copy *op;
        size_t n, cap;
};

static int take_op(const struct journal_op *op, void *opaque)
{
        struct op_list *l = opaque;
        struct op_copy *c;

        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->op = realloc(l->op, l->cap * sizeof(*l->op));
                assert_non_null(l->op);
        }
        c = &l->op[l->n++];
        memset(c, 0, sizeof(*c));
        c->seq = op->seq;
        c->reg_seq = op->reg_seq;
        c->batch_id = op->batch_id;
        c->kind = op->kind;
        c->reg_status = op->reg_status;
        snprintf(c->nik, sizeof(c->nik), "%s", op->nik ? op->nik : "");
        snprintf(c->program, sizeof(c->program), "%s", op->program ? op->program : "");
        snprintf(c->event_id, sizeof(c->event_id), "%s",
                 op->event_id ? op->event_id : "");
        snprintf(c->item, sizeof(c->item), "%.*s", (int)op->item_len,
                 op->item ? op->item : "");
        snprintf(c->reg_kpj, sizeof(c->reg_kpj), "%s", op->reg_kpj ? op->reg_kpj : "");
        return 0;
}

/* Every unbatched operation after seq `after`, in order. */
static void ops_after(struct journal *j, int64_t after, struct op_list *l)
{
        l->n = 0;
        assert_true(journal_ops_unbatched(j, after, 1000000, take_op, l) >= 0);
}

/* The seq below which every operation now queued lies. */
static int64_t ops_last(struct journal *j)
{
        struct op_list l = {0};
        int64_t last = 0;

        ops_after(j, 0, &l);
        if (l.n)
                last = l.op[l.n - 1].seq;
        free(l.op);
        return last;
}

struct out_copy {
        int64_t seq;
        char topic[NAME_SIZE], key[32], value[96];
};
struct out_list {
        struct out_copy *o;
        size_t n, cap;
};

static int take_out(int64_t seq, const struct journal_out *o, void *opaque)
{
        struct out_list *l = opaque;
        struct out_copy *c;

        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 64;
                l->o = realloc(l->o, l->cap * sizeof(*l->o));
                assert_non_null(l->o);
        }
        c = &l->o[l->n++];
        c->seq = seq;
        snprintf(c->topic, sizeof(c->topic), "%s", o->topic);
        snprintf(c->key, sizeof(c->key), "%.*s", (int)o->key_len,
                 o->key ? (const char *)o->key : "");
        snprintf(c->value, sizeof(c->value), "%.*s", (int)o->value_len,
                 o->value ? (const char *)o->value : "");
        return 0;
}

static void outbox_after(struct journal *j, int64_t after, struct out_list *l)
{
        l->n = 0;
        assert_true(journal_outbox_fetch(j, after, 1000000, take_out, l) >= 0);
}

static int64_t outbox_last(struct journal *j)
{
        struct out_list l = {0};
        int64_t last = 0;

        outbox_after(j, 0, &l);
        if (l.n)
                last = l.o[l.n - 1].seq;
        free(l.o);
        return last;
}

/* ---- begin ---- */

static void test_begin_on_an_empty_journal_finds_nothing(void **state)
{
        struct fx *fx = *state;
        char nik[17], id[NAME_SIZE];
        const char *ids[1] = {id};
        bool s[1] = {true};
        struct journal_position pos[2];
        struct journal_worker_facts w = {.nik = nik};
        struct journal_program_use p = {0};
        struct journal_facts f = {0};

        struct names n = names_of(fx);
        nik_make(fx, 1, nik);
        id_make(fx, 1, id);
        pos[0] = (struct journal_position){n.topic, 0, 99};
        pos[1] = (struct journal_position){n.topic, 3, 99};
        p = (struct journal_program_use){.program = n.prog[0], .used = 99, .months = 99};
        /* a stale view left in the worker's array is emptied */
        assert_int_equal(decide_worker_add(&w.live, "STALE", 1, 2), 0);

        /* no facts asked: begin and commit an empty batch */
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        struct journal_outcome none = {0};
        assert_int_equal(journal_consume_commit(fx->j, &none), 0);

        f = (struct journal_facts){.positions = pos,
                                   .n_positions = 2,
                                   .event_ids = ids,
                                   .seen = s,
                                   .n_event_ids = 1,
                                   .workers = &w,
                                   .n_workers = 1,
                                   .programs = &p,
                                   .n_programs = 1};
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        journal_consume_abort(fx->j);
        assert_int_equal(pos[0].next, -1);
        assert_int_equal(pos[1].next, -1);
        assert_false(s[0]);
        assert_int_equal(w.live.n, 0);
        assert_int_equal(p.used, 0);
        decide_worker_release(&w.live);
}

/* ---- what one commit wrote, the next begin reads ---- */

static void test_a_commit_is_read_by_the_next_begin(void **state)
{
        struct fx *fx = *state;
        struct rec x[3];
        char nik[3][17], id[4][NAME_SIZE];
        struct decide_worker w = {0};
        int64_t consumed = counter(fx->j, "consumed");

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 3; i++)
                nik_make(fx, i, nik[i]);
        for (unsigned i = 0; i < 4; i++)
                id_make(fx, i, id[i]);
        rec_make(&x[0], n.topic, 10, id[0], nik[0], n.prog[0], DECIDE_REGISTER, 300, 311);
        rec_make(&x[1], n.topic, 11, id[1], nik[1], n.prog[0], DECIDE_NOTHING, 0, 0);
        rec_make(&x[2], n.topic, 5, id[2], nik[2], n.prog[1], DECIDE_REGISTER, 290, 295);
        x[2].r.partition = 2;
        struct journal_position pos[] = {{n.topic, 0, 12}, {n.topic, 2, 6}};
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 2, 4), 0);

        /* positions moved, and only where the outcome said */
        assert_int_equal(position_of(fx->j, n.topic, 0), 12);
        assert_int_equal(position_of(fx->j, n.topic, 2), 6);
        assert_int_equal(position_of(fx->j, n.topic, 1), -1);
        /* every journaled event id is seen, one never journaled is not */
        assert_true(seen(fx->j, id[0]));
        assert_true(seen(fx->j, id[1]));
        assert_true(seen(fx->j, id[2]));
        assert_false(seen(fx->j, id[3]));
        /* a registration is a live coverage with its period, and a slot */
        assert_int_equal(live(fx->j, nik[0], &w), 1);
        assert_string_equal(w.cov[0].program, n.prog[0]);
        assert_int_equal(w.cov[0].start_month, 300);
        assert_int_equal(w.cov[0].end_month, 311);
        assert_int_equal(live(fx->j, nik[1], &w), 0); /* a duplicate takes nothing */
        assert_int_equal(live(fx->j, nik[2], &w), 1);
        assert_string_equal(w.cov[0].program, n.prog[1]);
        assert_int_equal(w.cov[0].start_month, 290);
        assert_int_equal(w.cov[0].end_month, 295);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(slots(fx->j, n.prog[1]), 1);
        assert_int_equal(slots(fx->j, n.prog[2]), 0);
        /* "consumed" counts the messages taken, not the records */
        assert_int_equal(counter(fx->j, "consumed"), consumed + 4);

        /* a deactivation ends the coverage and frees the slot */
        rec_make(&x[0], n.topic, 12, id[3], nik[0], n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        struct journal_position pos2[] = {{n.topic, 0, 13}};
        assert_int_equal(commit_batch(fx->j, x, 1, pos2, 1, 1), 0);
        assert_int_equal(live(fx->j, nik[0], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 0);
        assert_int_equal(slots(fx->j, n.prog[1]), 1);
        assert_int_equal(position_of(fx->j, n.topic, 0), 13);
        assert_int_equal(position_of(fx->j, n.topic, 2), 6);
        decide_worker_release(&w);
}

static void test_a_worker_in_several_programmes(void **state)
{
        struct fx *fx = *state;
        struct rec x[4];
        char nik[17], id[NAME_SIZE];
        struct decide_worker w = {0};

        struct names n = names_of(fx);
        nik_make(fx, 7, nik);
        for (unsigned i = 0; i < 3; i++) {
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik, n.prog[i], DECIDE_REGISTER,
                         100 + 12 * i, 111 + 12 * i);
        }
        struct journal_position pos[] = {{n.topic, 0, 3}};
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 1, 3), 0);
        assert_int_equal(live(fx->j, nik, &w), 3);
        for (unsigned i = 0; i < 3; i++) {
                size_t k = 0;
                while (k < w.n && strcmp(w.cov[k].program, n.prog[i]))
                        k++;
                assert_true(k < w.n);
                assert_int_equal(w.cov[k].start_month, 100 + 12 * i);
                assert_int_equal(w.cov[k].end_month, 111 + 12 * i);
        }
        /* withdrawn from the middle one: the two others stay */
        id_make(fx, 3, id);
        rec_make(&x[0], n.topic, 3, id, nik, n.prog[1], DECIDE_DEACTIVATE, 0, 0);
        pos[0].next = 4;
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);
        assert_int_equal(live(fx->j, nik, &w), 2);
        for (size_t k = 0; k < w.n; k++)
                assert_string_not_equal(w.cov[k].program, n.prog[1]);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(slots(fx->j, n.prog[1]), 0);
        assert_int_equal(slots(fx->j, n.prog[2]), 1);
        decide_worker_release(&w);
}

static void test_a_registration_after_a_deactivation_in_one_batch(void **state)
{
        struct fx *fx = *state;
        struct rec x[3];
        char nik[17], id[3][NAME_SIZE];
        struct decide_worker w = {0};
        struct op_list ops = {0};
        int64_t after = ops_last(fx->j);

        struct names n = names_of(fx);
        nik_make(fx, 1, nik);
        for (unsigned i = 0; i < 3; i++)
                id_make(fx, i, id[i]);
        rec_make(&x[0], n.topic, 0, id[0], nik, n.prog[0], DECIDE_REGISTER, 300, 305);
        struct journal_position pos[] = {{n.topic, 0, 1}};
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);

        /* withdrawn and enrolled again, one batch: the new period holds */
        rec_make(&x[0], n.topic, 1, id[1], nik, n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        rec_make(&x[1], n.topic, 2, id[2], nik, n.prog[0], DECIDE_REGISTER, 306, 311);
        pos[0].next = 3;
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        assert_int_equal(live(fx->j, nik, &w), 1);
        assert_string_equal(w.cov[0].program, n.prog[0]);
        assert_int_equal(w.cov[0].start_month, 306);
        assert_int_equal(w.cov[0].end_month, 311);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);

        /* the deactivation ends the first registration, the second is its own */
        ops_after(fx->j, after, &ops);
        assert_int_equal(ops.n, 3);
        assert_int_equal(ops.op[0].kind, JOURNAL_OP_REGISTER);
        assert_int_equal(ops.op[0].reg_seq, ops.op[0].seq);
        assert_int_equal(ops.op[1].kind, JOURNAL_OP_DEACTIVATE);
        assert_int_equal(ops.op[1].reg_seq, ops.op[0].seq);
        assert_int_equal(ops.op[2].kind, JOURNAL_OP_REGISTER);
        assert_int_equal(ops.op[2].reg_seq, ops.op[2].seq);
        assert_string_equal(ops.op[1].event_id, id[1]);
        assert_string_equal(ops.op[2].event_id, id[2]);
        free(ops.op);
        decide_worker_release(&w);
}

static void test_many_records_for_one_worker_and_programme_in_one_batch(void **state)
{
        struct fx *fx = *state;
        struct rec x[6];
        char nik[17], id[NAME_SIZE];
        struct decide_worker w = {0};
        struct op_list ops = {0};
        int64_t after = ops_last(fx->j);
        static const enum decide_action acts[6] = {DECIDE_REGISTER,   DECIDE_DEACTIVATE,
                                                   DECIDE_REGISTER,   DECIDE_NOTHING,
                                                   DECIDE_DEACTIVATE, DECIDE_REGISTER};

        struct names n = names_of(fx);
        nik_make(fx, 2, nik);
        for (unsigned i = 0; i < 6; i++) {
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik, n.prog[3], acts[i], 400 + i,
                         410 + i);
        }
        struct journal_position pos[] = {{n.topic, 0, 6}};
        assert_int_equal(commit_batch(fx->j, x, 6, pos, 1, 6), 0);
        assert_int_equal(live(fx->j, nik, &w), 1);
        assert_int_equal(w.cov[0].start_month, 405); /* the last registration's */
        assert_int_equal(w.cov[0].end_month, 415);
        assert_int_equal(slots(fx->j, n.prog[3]), 1);

        /* the operations in decision order, each deactivation ending the
         * registration before it */
        ops_after(fx->j, after, &ops);
        assert_int_equal(ops.n, 5);
        int kinds[5] = {JOURNAL_OP_REGISTER, JOURNAL_OP_DEACTIVATE, JOURNAL_OP_REGISTER,
                        JOURNAL_OP_DEACTIVATE, JOURNAL_OP_REGISTER};
        unsigned from[5] = {0, 1, 2, 4, 5};
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(ops.op[i].kind, kinds[i]);
                id_make(fx, from[i], id);
                assert_string_equal(ops.op[i].event_id, id);
                assert_string_equal(ops.op[i].nik, nik);
                assert_string_equal(ops.op[i].program, n.prog[3]);
                assert_string_equal(ops.op[i].item, x[from[i]].item);
                if (i)
                        assert_true(ops.op[i].seq > ops.op[i - 1].seq);
        }
        assert_int_equal(ops.op[1].reg_seq, ops.op[0].seq);
        assert_int_equal(ops.op[3].reg_seq, ops.op[2].seq);
        free(ops.op);
        decide_worker_release(&w);
}

static void test_slot_counts_over_several_programmes_in_one_batch(void **state)
{
        struct fx *fx = *state;
        struct rec x[10];
        char nik[17], id[NAME_SIZE];
        size_t k = 0;

        struct names n = names_of(fx);
        /* P0: three in, one out; P1: two in; P2: one in, one out */
        struct {
                int prog;
                unsigned worker;
                enum decide_action a;
        } plan[] = {
            {0, 1, DECIDE_REGISTER}, {1, 1, DECIDE_REGISTER},   {0, 2, DECIDE_REGISTER},
            {2, 3, DECIDE_REGISTER}, {0, 3, DECIDE_REGISTER},   {0, 2, DECIDE_DEACTIVATE},
            {1, 4, DECIDE_REGISTER}, {2, 3, DECIDE_DEACTIVATE},
        };
        for (k = 0; k < sizeof(plan) / sizeof(plan[0]); k++) {
                nik_make(fx, plan[k].worker, nik);
                id_make(fx, (unsigned)k, id);
                rec_make(&x[k], n.topic, (int64_t)k, id, nik, n.prog[plan[k].prog],
                         plan[k].a, 500, 511);
        }
        struct journal_position pos[] = {{n.topic, 0, (int64_t)k}};
        assert_int_equal(commit_batch(fx->j, x, k, pos, 1, (int64_t)k), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 2);
        assert_int_equal(slots(fx->j, n.prog[1]), 2);
        assert_int_equal(slots(fx->j, n.prog[2]), 0);

        /* all three asked in one begin */
        struct journal_program_use p[3] = {
            {.program = n.prog[0], .used = -1, .months = -1},
            {.program = n.prog[1], .used = -1, .months = -1},
            {.program = n.prog[2], .used = -1, .months = -1}};
        struct journal_facts f = {.programs = p, .n_programs = 3};
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        journal_consume_abort(fx->j);
        assert_int_equal(p[0].used, 2);
        assert_int_equal(p[1].used, 2);
        assert_int_equal(p[2].used, 0);
}

/* ---- abort and failure write nothing ---- */

static void test_abort_writes_nothing(void **state)
{
        struct fx *fx = *state;
        struct rec x[1];
        char nik[17], id[NAME_SIZE];
        struct decide_worker w = {0};
        struct journal_position pos = {0};
        struct journal_facts f = {.positions = &pos, .n_positions = 1};
        int64_t consumed = counter(fx->j, "consumed"), outbox = -1, outbox2 = -1;

        struct names n = names_of(fx);
        nik_make(fx, 1, nik);
        id_make(fx, 1, id);
        pos = (struct journal_position){n.topic, 0, -1};
        assert_int_equal(journal_outbox_count(fx->j, &outbox), 0);
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        journal_consume_abort(fx->j);
        /* after an abort, the next batch runs as usual */
        rec_make(&x[0], n.topic, 0, id, nik, n.prog[0], DECIDE_REGISTER, 1, 2);
        pos.next = 1;
        assert_int_equal(commit_batch(fx->j, x, 1, &pos, 1, 1), 0);
        assert_int_equal(counter(fx->j, "consumed"), consumed + 1);
        assert_int_equal(journal_outbox_count(fx->j, &outbox2), 0);
        assert_int_equal(outbox2, outbox + 1);
        assert_int_equal(live(fx->j, nik, &w), 1);
        decide_worker_release(&w);
}

static void test_a_failed_commit_leaves_nothing_of_the_batch(void **state)
{
        struct fx *fx = *state;
        struct rec x[4];
        char nik[3][17], id[4][NAME_SIZE];
        struct decide_worker w = {0};
        struct op_list ops = {0};
        int64_t consumed, outbox, outbox2, after;

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 3; i++)
                nik_make(fx, i, nik[i]);
        for (unsigned i = 0; i < 4; i++)
                id_make(fx, i, id[i]);
        /* the journal before: worker 0 covered in P0, position 1 */
        rec_make(&x[0], n.topic, 0, id[0], nik[0], n.prog[0], DECIDE_REGISTER, 10, 20);
        struct journal_position pos[] = {{n.topic, 0, 1}};
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);
        consumed = counter(fx->j, "consumed");
        assert_int_equal(journal_outbox_count(fx->j, &outbox), 0);
        after = ops_last(fx->j);

        /* a batch whose last record deactivates a coverage nobody has */
        rec_make(&x[0], n.topic, 1, id[1], nik[1], n.prog[0], DECIDE_REGISTER, 10, 20);
        rec_make(&x[1], n.topic, 2, id[2], nik[0], n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        rec_make(&x[2], n.topic, 3, id[3], nik[2], n.prog[1], DECIDE_DEACTIVATE, 0, 0);
        pos[0].next = 4;
        int rc = commit_batch(fx->j, x, 3, pos, 1, 3);
        assert_true(rc < 0);
        /* the reason is said, and names no NIK */
        const char *why = journal_errmsg(fx->j);
        assert_non_null(why);
        if (!why[0])
                fail_msg("commit failed (%d) with no reason in journal_errmsg()", rc);
        assert_null(strstr(why, nik[2]));
        /* facts refused are not a journal that cannot write */
        assert_int_equal(journal_write_health(fx->j), 0);

        /* nothing of it: positions, ids, coverage, slots, ops, outbox, counter */
        assert_int_equal(position_of(fx->j, n.topic, 0), 1);
        assert_false(seen(fx->j, id[1]));
        assert_false(seen(fx->j, id[2]));
        assert_false(seen(fx->j, id[3]));
        assert_int_equal(live(fx->j, nik[0], &w), 1);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(slots(fx->j, n.prog[1]), 0);
        ops_after(fx->j, after, &ops);
        assert_int_equal(ops.n, 0);
        assert_int_equal(journal_outbox_count(fx->j, &outbox2), 0);
        assert_int_equal(outbox2, outbox);
        assert_int_equal(counter(fx->j, "consumed"), consumed);

        /* and the journal goes on: the batch without the bad record commits */
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        assert_int_equal(position_of(fx->j, n.topic, 0), 4);
        assert_int_equal(live(fx->j, nik[0], &w), 0);
        assert_int_equal(live(fx->j, nik[1], &w), 1);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        ops_after(fx->j, after, &ops);
        assert_int_equal(ops.n, 2);
        free(ops.op);
        decide_worker_release(&w);
}

static void test_one_event_is_never_journaled_twice(void **state)
{
        struct fx *fx = *state;
        struct rec x[2];
        char nik[2][17], id[2][NAME_SIZE];
        struct decide_worker w = {0};

        struct names n = names_of(fx);
        nik_make(fx, 0, nik[0]);
        nik_make(fx, 1, nik[1]);
        id_make(fx, 0, id[0]);
        id_make(fx, 1, id[1]);
        rec_make(&x[0], n.topic, 0, id[0], nik[0], n.prog[0], DECIDE_REGISTER, 10, 20);
        struct journal_position pos[] = {{n.topic, 0, 1}};
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);
        /* seen says so: consume skips the redelivery */
        assert_true(seen(fx->j, id[0]));

        /* and a record of it handed over again is refused, whole batch */
        rec_make(&x[0], n.topic, 1, id[1], nik[1], n.prog[0], DECIDE_REGISTER, 10, 20);
        rec_make(&x[1], n.topic, 2, id[0], nik[0], n.prog[1], DECIDE_REGISTER, 10, 20);
        pos[0].next = 3;
        assert_true(commit_batch(fx->j, x, 2, pos, 1, 2) < 0);
        assert_false(seen(fx->j, id[1]));
        assert_int_equal(live(fx->j, nik[0], &w), 1);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(slots(fx->j, n.prog[1]), 0);
        assert_int_equal(position_of(fx->j, n.topic, 0), 1);
        decide_worker_release(&w);
}

static void test_an_id_read_as_new_is_written_once_in_its_batch(void **state)
{
        struct fx *fx = *state;
        struct rec x[2];
        char nik[2][17], id[NAME_SIZE];
        struct decide_worker w = {0};

        struct names n = names_of(fx);
        nik_make(fx, 0, nik[0]);
        nik_make(fx, 1, nik[1]);
        id_make(fx, 0, id);
        rec_make(&x[0], n.topic, 0, id, nik[0], n.prog[0], DECIDE_REGISTER, 10, 20);
        rec_make(&x[1], n.topic, 1, id, nik[1], n.prog[0], DECIDE_REGISTER, 10, 20);
        struct journal_record r[2] = {x[0].r, x[1].r};
        struct journal_position pos[] = {{n.topic, 0, 2}};

        /* the batch's facts read the id as new, then it is written twice:
         * refused, whole batch */
        const char *ids[] = {id};
        bool s[] = {true};
        struct journal_facts f = {.event_ids = ids, .seen = s, .n_event_ids = 1};
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        assert_false(s[0]);
        struct journal_outcome twice = {r, 2, pos, 1, 2};
        assert_true(journal_consume_commit(fx->j, &twice) < 0);
        assert_false(seen(fx->j, id));
        assert_int_equal(live(fx->j, nik[0], &w), 0);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 0);

        /* once: journaled */
        s[0] = true;
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        assert_false(s[0]);
        struct journal_outcome once = {r, 1, pos, 1, 1};
        pos[0].next = 1;
        assert_int_equal(journal_consume_commit(fx->j, &once), 0);
        assert_true(seen(fx->j, id));
        assert_int_equal(live(fx->j, nik[0], &w), 1);

        /* a later batch whose facts read other ids only: the id is asked
         * for again where it is, and refused */
        char other[NAME_SIZE];
        id_make(fx, 1, other);
        ids[0] = other;
        s[0] = true;
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        assert_false(s[0]);
        struct journal_outcome again = {&r[1], 1, pos, 1, 1};
        pos[0].next = 2;
        assert_true(journal_consume_commit(fx->j, &again) < 0);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(position_of(fx->j, n.topic, 0), 1);
        decide_worker_release(&w);
}

/* ---- what a commit queues ---- */

static void test_a_commit_queues_outbox_rows_and_operations_in_order(void **state)
{
        struct fx *fx = *state;
        struct rec x[5];
        char nik[5][17], id[NAME_SIZE];
        struct out_list out = {0};
        struct op_list ops = {0};
        int64_t o_after = outbox_last(fx->j), op_after = ops_last(fx->j);
        static const enum decide_action acts[5] = {DECIDE_REGISTER, DECIDE_NOTHING,
                                                   DECIDE_REGISTER, DECIDE_DEACTIVATE,
                                                   DECIDE_NOTHING};

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 5; i++) {
                nik_make(fx, i, nik[i]);
                id_make(fx, i, id);
                /* the deactivation ends record 0's coverage */
                rec_make(&x[i], n.topic, i, id, nik[i == 3 ? 0 : i], n.prog[0], acts[i],
                         7, 8);
        }
        /* a rejected event without an id: its result and a dead letter */
        x[4].r.event_id = NULL;
        x[4].r.status = RESULT_REJECTED;
        x[4].r.out[1] = (struct journal_out){.topic = "dead",
                                             .key = "k",
                                             .key_len = 1,
                                             .value = "{bad",
                                             .value_len = 4,
                                             .headers = "why\0parse\0",
                                             .headers_len = 10};
        x[4].r.n_out = 2;
        struct journal_position pos[] = {{n.topic, 0, 5}};
        assert_int_equal(commit_batch(fx->j, x, 5, pos, 1, 5), 0);

        outbox_after(fx->j, o_after, &out);
        assert_int_equal(out.n, 6);
        for (size_t i = 0; i < 5; i++) {
                assert_string_equal(out.o[i].topic, "results");
                assert_string_equal(out.o[i].value, x[i].value);
                assert_string_equal(out.o[i].key, x[i].nik);
                if (i)
                        assert_true(out.o[i].seq > out.o[i - 1].seq);
        }
        assert_string_equal(out.o[5].topic, "dead");
        assert_string_equal(out.o[5].value, "{bad");

        ops_after(fx->j, op_after, &ops);
        assert_int_equal(ops.n, 3);
        assert_int_equal(ops.op[0].kind, JOURNAL_OP_REGISTER);
        assert_string_equal(ops.op[0].nik, nik[0]);
        assert_int_equal(ops.op[0].batch_id, 0);
        assert_int_equal(ops.op[1].kind, JOURNAL_OP_REGISTER);
        assert_string_equal(ops.op[1].nik, nik[2]);
        assert_int_equal(ops.op[2].kind, JOURNAL_OP_DEACTIVATE);
        assert_string_equal(ops.op[2].nik, nik[0]);
        assert_int_equal(ops.op[2].reg_seq, ops.op[0].seq);
        /* from a given seq on, and no more than asked */
        ops.n = 0;
        assert_int_equal(
            journal_ops_unbatched(fx->j, ops_last(fx->j) - 1, 10, take_op, &ops), 1);
        ops.n = 0;
        assert_int_equal(journal_ops_unbatched(fx->j, op_after, 2, take_op, &ops), 2);
        free(ops.op);
        free(out.o);
}

/* ---- the push and publish side ---- */

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        (void)opaque;
        *body = malloc(128);
        assert_non_null(*body);
        *len = (size_t)snprintf(*body, 128, "batch %lld of %zu from %lld", (long long)id,
                                n, (long long)ops[0].seq);
        return 0;
}

struct batch_copy {
        int64_t id, attempts, next_at;
        int state, kind;
        char body[128];
        bool found;
};

static int take_batch(const struct journal_batch *b, void *opaque)
{
        struct batch_copy *c = opaque;

        if (c->id && b->id != c->id)
                return 0; /* another test's */
        c->found = true;
        c->state = b->state;
        c->kind = b->kind;
        c->attempts = b->attempts;
        c->next_at = b->next_at;
        snprintf(c->body, sizeof(c->body), "%.*s", (int)b->body_len, b->body);
        return 0;
}

static struct batch_copy batch_read(struct journal *j, int64_t id)
{
        struct batch_copy c = {.id = id};
        assert_int_equal(journal_batch_get(j, id, take_batch, &c), 1);
        return c;
}

static bool batch_due(struct journal *j, int64_t id, int64_t now)
{
        struct batch_copy c = {.id = id};
        assert_true(journal_batches_due(j, now, 1000000, take_batch, &c) >= 0);
        return c.found;
}

/* Batch bid's answers res[0..n) are refused, and nothing changed: the
 * batch pending, no message queued, the programme's slots as they were. */
static void finish_refused(struct journal *j, int64_t bid,
                           const struct journal_item_result *res, size_t n,
                           int64_t o_after, const char *program, int64_t slots_before)
{
        struct out_list out = {0};

        assert_true(journal_batch_finish(j, bid, JOURNAL_BATCH_DONE, NULL, res, n) < 0);
        assert_int_equal(batch_read(j, bid).state, JOURNAL_BATCH_PENDING);
        outbox_after(j, o_after, &out);
        assert_int_equal(out.n, 0);
        assert_int_equal(slots(j, program), slots_before);
}

static void test_push_batches_and_their_results(void **state)
{
        struct fx *fx = *state;
        struct rec x[3];
        char nik[3][17], id[NAME_SIZE];
        struct op_list ops = {0}, in = {0};
        struct out_list out = {0};
        struct decide_worker w = {0};
        int64_t op_after = ops_last(fx->j), backlog0, backlog, bid, open0, open;

        struct names n = names_of(fx);
        assert_int_equal(journal_backlog(fx->j, &backlog0), 0);
        assert_int_equal(journal_batches_open(fx->j, &open0), 0);
        for (unsigned i = 0; i < 3; i++) {
                nik_make(fx, i, nik[i]);
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik[i], n.prog[0], DECIDE_REGISTER, 1,
                         12);
        }
        struct journal_position pos[] = {{n.topic, 0, 3}};
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 1, 3), 0);
        assert_int_equal(journal_backlog(fx->j, &backlog), 0);
        assert_int_equal(backlog, backlog0 + 3);

        /* batch create: the ops leave the queue and belong to the batch */
        ops_after(fx->j, op_after, &ops);
        assert_int_equal(ops.n, 3);
        struct journal_op jo[3];
        for (size_t i = 0; i < 3; i++)
                jo[i] = (struct journal_op){.seq = ops.op[i].seq,
                                            .kind = ops.op[i].kind,
                                            .nik = ops.op[i].nik,
                                            .program = ops.op[i].program,
                                            .event_id = ops.op[i].event_id,
                                            .reg_seq = ops.op[i].reg_seq};
        assert_int_equal(
            journal_batch_create(fx->j, JOURNAL_OP_REGISTER, jo, 3, compose, NULL, &bid),
            0);
        assert_true(bid > 0);
        ops_after(fx->j, op_after, &in);
        assert_int_equal(in.n, 0);
        in.n = 0;
        assert_int_equal(journal_batch_ops(fx->j, bid, take_op, &in), 3);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(in.op[i].seq, ops.op[i].seq);
                assert_int_equal(in.op[i].batch_id, bid);
        }
        /* its body is the one composed, and it is due, pending */
        struct batch_copy b = batch_read(fx->j, bid);
        char want[128];
        snprintf(want, sizeof(want), "batch %lld of 3 from %lld", (long long)bid,
                 (long long)ops.op[0].seq);
        assert_string_equal(b.body, want);
        assert_int_equal(b.state, JOURNAL_BATCH_PENDING);
        assert_int_equal(b.kind, JOURNAL_OP_REGISTER);
        assert_true(batch_due(fx->j, bid, INT64_MAX / 2));
        assert_int_equal(journal_batches_open(fx->j, &open), 0);
        assert_int_equal(open, open0 + 1);
        assert_int_equal(journal_backlog(fx->j, &backlog), 0);
        assert_int_equal(backlog, backlog0 + 3);
        /* an op goes into one batch only */
        assert_true(journal_batch_create(fx->j, JOURNAL_OP_REGISTER, jo, 1, compose, NULL,
                                         &bid) < 0 ||
                    !"an op was batched twice");

        /* in flight: not due; back to pending with a later attempt: due then */
        assert_int_equal(
            journal_batch_update(fx->j, bid, JOURNAL_BATCH_INFLIGHT, 1, 0, NULL), 0);
        assert_false(batch_due(fx->j, bid, INT64_MAX / 2));
        assert_int_equal(
            journal_batch_update(fx->j, bid, JOURNAL_BATCH_PENDING, 1, 5000, "HTTP 503"),
            0);
        assert_false(batch_due(fx->j, bid, 4999));
        assert_true(batch_due(fx->j, bid, 5000));
        b = batch_read(fx->j, bid);
        assert_int_equal(b.attempts, 1);
        assert_int_equal(b.next_at, 5000);

        /* a result for each item: one missing is refused, and changes nothing */
        struct journal_item_result res[3];
        for (size_t i = 0; i < 3; i++)
                res[i] = (struct journal_item_result){
                    .seq = ops.op[i].seq,
                    .status = i == 1 ? RESULT_FAILED : RESULT_REGISTERED,
                    .kpj = i == 1 ? NULL : (i == 0 ? "25000000001" : "25000000003"),
                    .reason = i == 1 ? "rejected by the endpoint" : NULL,
                    .out = {.topic = "results",
                            .key = x[i].nik,
                            .key_len = 16,
                            .value = x[i].event_id,
                            .value_len = strlen(x[i].event_id)}};
        int64_t o_after = outbox_last(fx->j);
        finish_refused(fx->j, bid, res, 2, o_after, n.prog[0], 3);
        /* as many results as items, but one item answered twice, or an
         * answer for an op that is not the batch's: refused, nothing
         * changes */
        struct journal_item_result twice[3] = {res[0], res[1], res[0]};
        struct journal_item_result stray[3] = {res[0], res[1], res[2]};
        stray[2].seq = ops.op[2].seq + 1000000;
        finish_refused(fx->j, bid, twice, 3, o_after, n.prog[0], 3);
        finish_refused(fx->j, bid, stray, 3, o_after, n.prog[0], 3);
        assert_int_equal(live(fx->j, nik[1], &w), 1);

        assert_int_equal(
            journal_batch_finish(fx->j, bid, JOURNAL_BATCH_DONE, NULL, res, 3), 0);
        assert_int_equal(batch_read(fx->j, bid).state, JOURNAL_BATCH_DONE);
        assert_false(batch_due(fx->j, bid, INT64_MAX / 2));
        /* an ended batch never changes again */
        assert_int_equal(
            journal_batch_update(fx->j, bid, JOURNAL_BATCH_PENDING, 2, 0, NULL), -ESTALE);
        assert_int_equal(batch_read(fx->j, bid).state, JOURNAL_BATCH_DONE);
        /* registered: still covered; failed: not covered, the slot released */
        assert_int_equal(live(fx->j, nik[0], &w), 1);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(live(fx->j, nik[2], &w), 1);
        assert_int_equal(slots(fx->j, n.prog[0]), 2);
        assert_int_equal(journal_backlog(fx->j, &backlog), 0);
        assert_int_equal(backlog, backlog0);
        assert_int_equal(journal_batches_open(fx->j, &open), 0);
        assert_int_equal(open, open0);
        /* the results queued, in item order */
        outbox_after(fx->j, o_after, &out);
        assert_int_equal(out.n, 3);
        for (size_t i = 0; i < 3; i++)
                assert_string_equal(out.o[i].value, x[i].event_id);

        /* a later deactivation knows the registration's kpj */
        id_make(fx, 3, id);
        rec_make(&x[0], n.topic, 3, id, nik[0], n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        pos[0].next = 4;
        op_after = ops_last(fx->j);
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);
        ops_after(fx->j, op_after, &in);
        assert_int_equal(in.n, 1);
        assert_int_equal(in.op[0].kind, JOURNAL_OP_DEACTIVATE);
        assert_int_equal(in.op[0].reg_seq, ops.op[0].seq);
        assert_string_equal(in.op[0].reg_kpj, "25000000001");
        assert_int_equal(slots(fx->j, n.prog[0]), 1);

        /* publish: delivered messages leave the outbox (in a range: every one
         * up to a position) and count as published */
        int64_t published = counter(fx->j, "published"), count0, count;
        assert_int_equal(journal_outbox_count(fx->j, &count0), 0);
        outbox_after(fx->j, o_after, &out);
        assert_int_equal(out.n, 4);
        int64_t del[4];
        for (size_t i = 0; i < 4; i++)
                del[i] = out.o[i].seq;
        assert_int_equal(journal_outbox_delete_through(fx->j, del[2], 3), 0);
        outbox_after(fx->j, o_after, &out);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.o[0].seq, del[3]);
        /* the range takes every message up to del[2], earlier tests' too */
        assert_int_equal(journal_outbox_count(fx->j, &count), 0);
        assert_true(count0 >= 4);
        assert_int_equal(count, 1);
        assert_int_equal(counter(fx->j, "published"), published + 3);
        /* a new row's seq never goes back below one deleted */
        id_make(fx, 4, id);
        rec_make(&x[0], n.topic, 4, id, nik[2], n.prog[0], DECIDE_NOTHING, 0, 0);
        pos[0].next = 5;
        assert_int_equal(commit_batch(fx->j, x, 1, pos, 1, 1), 0);
        outbox_after(fx->j, del[3], &out);
        assert_int_equal(out.n, 1);
        assert_true(out.o[0].seq > del[3]);
        free(out.o);
        free(ops.op);
        free(in.op);
        decide_worker_release(&w);
}

/* Queued registrations of n records, put in one batch; their ops in *ops. */
static int64_t batch_of(struct journal *j, int64_t op_after, size_t n,
                        struct op_list *ops)
{
        struct journal_op jo[8];
        int64_t bid = 0;

        ops_after(j, op_after, ops);
        assert_int_equal(ops->n, n);
        for (size_t i = 0; i < n; i++)
                jo[i] = (struct journal_op){.seq = ops->op[i].seq,
                                            .kind = ops->op[i].kind,
                                            .nik = ops->op[i].nik,
                                            .program = ops->op[i].program,
                                            .event_id = ops->op[i].event_id,
                                            .reg_seq = ops->op[i].reg_seq};
        assert_int_equal(journal_batch_create(j, jo[0].kind, jo, n, compose, NULL, &bid),
                         0);
        return bid;
}

static void test_an_answer_after_a_withdrawal_changes_nothing(void **state)
{
        struct fx *fx = *state;
        struct rec x[2];
        char nik[2][17], id[NAME_SIZE];
        struct op_list ops = {0};
        struct decide_worker w = {0};
        int64_t op_after = ops_last(fx->j);

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 2; i++) {
                nik_make(fx, i, nik[i]);
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik[i], n.prog[0], DECIDE_REGISTER, 1,
                         12);
        }
        struct journal_position pos[] = {{n.topic, 0, 2}};
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        int64_t bid = batch_of(fx->j, op_after, 2, &ops);
        assert_int_equal(slots(fx->j, n.prog[0]), 2);

        /* both withdrawn while their registrations are still unanswered */
        for (unsigned i = 0; i < 2; i++) {
                id_make(fx, 2 + i, id);
                rec_make(&x[i], n.topic, 2 + i, id, nik[i], n.prog[0], DECIDE_DEACTIVATE,
                         0, 0);
        }
        pos[0].next = 4;
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 0);

        /* then the answers: one registered, one failed; the coverage stays
         * ended and no slot is released twice */
        struct journal_item_result res[2] = {
            {.seq = ops.op[0].seq,
             .status = RESULT_REGISTERED,
             .kpj = "25000000009",
             .out = {.topic = "results", .value = "a", .value_len = 1}},
            {.seq = ops.op[1].seq,
             .status = RESULT_FAILED,
             .reason = "no",
             .out = {.topic = "results", .value = "b", .value_len = 1}},
        };
        assert_int_equal(
            journal_batch_finish(fx->j, bid, JOURNAL_BATCH_DONE, NULL, res, 2), 0);
        assert_int_equal(live(fx->j, nik[0], &w), 0);
        assert_int_equal(live(fx->j, nik[1], &w), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 0);
        free(ops.op);
        decide_worker_release(&w);
}

/* A deactivation learns its registration's final result; one whose
 * registration failed is settled without a batch (push's call): it leaves
 * the queue and the backlog, its result is queued, and an op batched or
 * settled already is never settled (again). */
static void test_a_deactivation_of_a_failed_registration_is_settled(void **state)
{
        struct fx *fx = *state;
        struct rec x[2];
        char nik[2][17], id[NAME_SIZE];
        struct op_list ops = {0}, left = {0};
        struct out_list out = {0};
        int64_t op_after = ops_last(fx->j), backlog = -1;

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 2; i++) {
                nik_make(fx, i, nik[i]);
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik[i], n.prog[0], DECIDE_REGISTER, 1,
                         12);
        }
        struct journal_position pos[] = {{n.topic, 0, 2}};
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        int64_t bid = batch_of(fx->j, op_after, 2, &ops);

        /* both withdrawn while their registrations are unanswered */
        op_after = ops.op[1].seq;
        for (unsigned i = 0; i < 2; i++) {
                id_make(fx, 2 + i, id);
                rec_make(&x[i], n.topic, 2 + i, id, nik[i], n.prog[0], DECIDE_DEACTIVATE,
                         0, 0);
        }
        pos[0].next = 4;
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        ops_after(fx->j, op_after, &left);
        assert_int_equal(left.n, 2);
        assert_int_equal(left.op[0].reg_status, 0); /* not answered yet */
        assert_int_equal(left.op[1].reg_status, 0);

        /* then the answers: one registered, one failed */
        struct journal_item_result res[2] = {
            {.seq = ops.op[0].seq,
             .status = RESULT_REGISTERED,
             .kpj = "25000000009",
             .out = {.topic = "results", .value = "a", .value_len = 1}},
            {.seq = ops.op[1].seq,
             .status = RESULT_FAILED,
             .reason = "name required",
             .out = {.topic = "results", .value = "b", .value_len = 1}},
        };
        assert_int_equal(
            journal_batch_finish(fx->j, bid, JOURNAL_BATCH_DONE, NULL, res, 2), 0);
        ops_after(fx->j, op_after, &ops);
        assert_int_equal(ops.n, 2);
        assert_int_equal(ops.op[0].kind, JOURNAL_OP_DEACTIVATE);
        assert_int_equal(ops.op[0].reg_status, RESULT_REGISTERED);
        assert_string_equal(ops.op[0].reg_kpj, "25000000009");
        assert_int_equal(ops.op[1].reg_status, RESULT_FAILED);
        assert_string_equal(ops.op[1].reg_kpj, "");

        /* (the backlog counts other tests' ops too, on a shared server) */
        int64_t out_after = outbox_last(fx->j), backlog_before = -1;
        assert_int_equal(journal_backlog(fx->j, &backlog_before), 0);
        struct journal_item_result settle = {
            .seq = ops.op[1].seq,
            .status = RESULT_DEACTIVATED,
            .reason = "not_registered",
            .out = {.topic = "results",
                    .key = nik[1],
                    .key_len = 16,
                    .value = "s",
                    .value_len = 1},
        };
        assert_int_equal(journal_ops_settle(fx->j, &settle, 1), 0);
        ops_after(fx->j, op_after, &left);
        assert_int_equal(left.n, 1);
        assert_int_equal(left.op[0].seq, ops.op[0].seq);
        assert_int_equal(journal_backlog(fx->j, &backlog), 0);
        assert_int_equal(backlog, backlog_before - 1);
        outbox_after(fx->j, out_after, &out);
        assert_int_equal(out.n, 1);
        assert_string_equal(out.o[0].key, nik[1]);
        assert_string_equal(out.o[0].value, "s");

        /* settled once only; a batched op is the push's, never settled */
        assert_int_equal(journal_ops_settle(fx->j, &settle, 1), -ESTALE);
        int64_t bid2 = batch_of(fx->j, op_after, 1, &left);
        assert_true(bid2 > bid);
        settle.seq = ops.op[0].seq;
        assert_int_equal(journal_ops_settle(fx->j, &settle, 1), -ESTALE);
        outbox_after(fx->j, out_after, &out);
        assert_int_equal(out.n, 1);
        free(ops.op);
        free(left.op);
        free(out.o);
}

/* Committed months (the budget's measure): a registration commits its own
 * months, a withdrawal releases those after its month and keeps the
 * coverage in the worker's view while it has months left, a failed
 * registration commits nothing (pending or ended meanwhile), a success
 * changes nothing. */
static void test_committed_months_follow_the_coverages(void **state)
{
        struct fx *fx = *state;
        struct rec x[3];
        char nik[3][17], id[NAME_SIZE];
        struct op_list ops = {0};
        struct decide_worker w = {0};
        int64_t op_after = ops_last(fx->j);
        struct names n = names_of(fx);

        for (unsigned i = 0; i < 3; i++) {
                nik_make(fx, i, nik[i]);
                id_make(fx, i, id);
                /* the period 1..12; the second worker's months from 10 on */
                rec_make(&x[i], n.topic, i, id, nik[i], n.prog[0], DECIDE_REGISTER, 1,
                         12);
        }
        x[1].r.first_month = 10;
        struct journal_position pos[] = {{n.topic, 0, 3}};
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 1, 3), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 3);
        assert_int_equal(months_of(fx->j, n.prog[0]), 12 + 3 + 12);
        int64_t bid = batch_of(fx->j, op_after, 3, &ops);

        /* the first withdrawn in month 3, the third in month 0 (before its
         * coverage starts): 9 and 12 months released */
        id_make(fx, 3, id);
        rec_make(&x[0], n.topic, 3, id, nik[0], n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        x[0].r.last_month = 3;
        id_make(fx, 4, id);
        rec_make(&x[1], n.topic, 4, id, nik[2], n.prog[0], DECIDE_DEACTIVATE, 0, 0);
        x[1].r.last_month = 0;
        pos[0].next = 5;
        assert_int_equal(commit_batch(fx->j, x, 2, pos, 1, 2), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 1);
        assert_int_equal(months_of(fx->j, n.prog[0]), 3 + 3);
        assert_int_equal(live(fx->j, nik[0], &w), 1);
        assert_false(w.cov[0].live);
        assert_string_equal(w.cov[0].program, n.prog[0]);
        assert_int_equal(w.cov[0].start_month, 1);
        assert_int_equal(w.cov[0].end_month, 12);
        assert_int_equal(w.cov[0].first_month, 1);
        assert_int_equal(w.cov[0].last_month, 3);
        assert_int_equal(live(fx->j, nik[1], &w), 1);
        assert_true(w.cov[0].live);
        assert_int_equal(w.cov[0].first_month, 10);
        assert_int_equal(w.cov[0].last_month, 12);
        assert_int_equal(live(fx->j, nik[2], &w), 0);

        /* the answers: the first's registration failed after its withdrawal
         * (its 3 months released), the second's failed while pending (its
         * slot and months), the third's registered (nothing changes) */
        struct journal_item_result res[3];
        for (size_t i = 0; i < 3; i++)
                res[i] = (struct journal_item_result){
                    .seq = ops.op[i].seq,
                    .status = i == 2 ? RESULT_REGISTERED : RESULT_FAILED,
                    .kpj = i == 2 ? "25000000009" : NULL,
                    .reason = i == 2 ? NULL : "no",
                    .out = {.topic = "results", .value = "r", .value_len = 1}};
        assert_int_equal(
            journal_batch_finish(fx->j, bid, JOURNAL_BATCH_DONE, NULL, res, 3), 0);
        assert_int_equal(slots(fx->j, n.prog[0]), 0);
        assert_int_equal(months_of(fx->j, n.prog[0]), 0);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(live(fx->j, nik[i], &w), 0);

        /* a worker's history: registered again, the view shows the new one
         * beside an ended one that kept months, in decision order */
        op_after = ops_last(fx->j);
        id_make(fx, 5, id);
        rec_make(&x[0], n.topic, 5, id, nik[1], n.prog[1], DECIDE_REGISTER, 1, 12);
        x[0].r.first_month = 4;
        id_make(fx, 6, id);
        rec_make(&x[1], n.topic, 6, id, nik[1], n.prog[1], DECIDE_DEACTIVATE, 0, 0);
        x[1].r.last_month = 6;
        id_make(fx, 7, id);
        rec_make(&x[2], n.topic, 7, id, nik[1], n.prog[2], DECIDE_REGISTER, 1, 12);
        x[2].r.first_month = 7;
        pos[0].next = 8;
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 1, 3), 0);
        assert_int_equal(months_of(fx->j, n.prog[1]), 3);
        assert_int_equal(months_of(fx->j, n.prog[2]), 6);
        assert_int_equal(live(fx->j, nik[1], &w), 2);
        assert_string_equal(w.cov[0].program, n.prog[1]);
        assert_false(w.cov[0].live);
        assert_int_equal(w.cov[0].first_month, 4);
        assert_int_equal(w.cov[0].last_month, 6);
        assert_string_equal(w.cov[1].program, n.prog[2]);
        assert_true(w.cov[1].live);
        assert_int_equal(w.cov[1].first_month, 7);
        assert_int_equal(w.cov[1].last_month, 12);
        (void)op_after;
        free(ops.op);
        decide_worker_release(&w);
}

/* ---- the premium report's facts ---- */

/* The endpoint answers nik's (unbatched) registration with status, in a
 * batch of its own. */
static void answer_alone(struct journal *j, const char *nik, enum result_status status)
{
        struct op_list l = {0};
        bool failed = status == RESULT_FAILED;
        int64_t id = 0;
        size_t i = 0;

        ops_after(j, 0, &l);
        while (i < l.n &&
               (l.op[i].kind != JOURNAL_OP_REGISTER || strcmp(l.op[i].nik, nik)))
                i++;
        assert_true(i < l.n);
        struct journal_op jo = {.seq = l.op[i].seq,
                                .kind = l.op[i].kind,
                                .nik = l.op[i].nik,
                                .program = l.op[i].program,
                                .event_id = l.op[i].event_id,
                                .reg_seq = l.op[i].reg_seq};
        assert_int_equal(journal_batch_create(j, jo.kind, &jo, 1, compose, NULL, &id), 0);
        struct journal_item_result res = {
            .seq = jo.seq,
            .status = status,
            .kpj = failed ? NULL : "25000000001",
            .reason = failed ? "NIK not found" : NULL,
            .out = {.topic = "results", .value = "x", .value_len = 1},
        };
        assert_int_equal(journal_batch_finish(
                             j, id, failed ? JOURNAL_BATCH_FAILED : JOURNAL_BATCH_DONE,
                             failed ? "NIK not found" : NULL, &res, 1),
                         0);
        free(l.op);
}

/* What the report callbacks saw of this test's two programmes, as text. */
struct seen_report {
        const struct names *n;
        char text[1024];
        size_t len;
};

static const char *prog_label(const struct names *n, const char *program)
{
        return strcmp(program, n->prog[0]) == 0   ? "P0"
               : strcmp(program, n->prog[1]) == 0 ? "P1"
                                                  : NULL;
}

static int see_group(const struct journal_ctl_report_group *g, void *opaque)
{
        struct seen_report *sr = opaque;
        const char *p = prog_label(sr->n, g->program);

        if (p)
                sr->len +=
                    (size_t)snprintf(sr->text + sr->len, sizeof(sr->text) - sr->len,
                                     "%s %s %lld..%lld x%lld\n", p,
                                     g->klass == JOURNAL_CTL_REPORT_WORKERS   ? "workers"
                                     : g->klass == JOURNAL_CTL_REPORT_PENDING ? "pending"
                                                                              : "?",
                                     (long long)g->first_month, (long long)g->last_month,
                                     (long long)g->count);
        return 0;
}

static int see_use(const char *program, int64_t used, int64_t months, void *opaque)
{
        struct seen_report *sr = opaque;
        const char *p = prog_label(sr->n, program);

        if (p)
                sr->len += (size_t)snprintf(
                    sr->text + sr->len, sizeof(sr->text) - sr->len,
                    "used %s %lld, %lld months\n", p, (long long)used, (long long)months);
        return 0;
}

/* One record in a consumed batch of its own, at the next offset: a
 * registration of the period 1..12 (4..15 in the second programme) with its
 * own months from `a` to `b`, or a withdrawal whose coverage's last month
 * becomes `b`. */
static void one_record(struct fx *fx, const struct names *n, int64_t *offset,
                       const char *nik, const char *program, enum decide_action action,
                       int64_t a, int64_t b)
{
        char id[NAME_SIZE];
        struct rec x;
        bool second = strcmp(program, n->prog[1]) == 0;

        id_make(fx, (unsigned)*offset, id);
        rec_make(&x, n->topic, *offset, id, nik, program, action, second ? 4 : 1,
                 second ? 15 : 12);
        x.r.first_month = action == DECIDE_REGISTER ? a : 0;
        x.r.last_month = b;
        struct journal_position pos = {n->topic, 0, ++*offset};
        assert_int_equal(commit_batch(fx->j, &x, 1, &pos, 1, 1), 0);
}

/* The premium report's facts: workers are coverages answered registered or
 * already_registered, ended ones too; pending are those not answered yet,
 * ended ones too; a failed registration counts nowhere, even when its
 * coverage had ended first; each group by the coverages' own months; then
 * each programme's slots and committed months, which status says too. */
static void test_the_premium_reports_facts(void **state)
{
        struct fx *fx = *state;
        struct names n = names_of(fx);
        struct seen_report sr = {.n = &n};
        struct journal_ctl_status st;
        char nik[9][17];
        int64_t offset = 0;

        for (unsigned i = 0; i < 9; i++)
                nik_make(fx, i, nik[i]);
        for (int i = 0; i < 7; i++)
                one_record(fx, &n, &offset, nik[i], n.prog[0], DECIDE_REGISTER, 1, 12);
        one_record(fx, &n, &offset, nik[7], n.prog[1], DECIDE_REGISTER, 4, 15);
        /* its own months from June, withdrawn in August: 3 of them */
        one_record(fx, &n, &offset, nik[8], n.prog[0], DECIDE_REGISTER, 6, 12);
        answer_alone(fx->j, nik[0], RESULT_REGISTERED);
        answer_alone(fx->j, nik[1], RESULT_ALREADY_REGISTERED);
        /* nik[2]: not answered */
        answer_alone(fx->j, nik[3], RESULT_FAILED);
        answer_alone(fx->j, nik[4], RESULT_REGISTERED);
        /* withdrawn in the last month: they keep every month */
        one_record(fx, &n, &offset, nik[4], n.prog[0], DECIDE_DEACTIVATE, 0, 12);
        one_record(fx, &n, &offset, nik[5], n.prog[0], DECIDE_DEACTIVATE, 0, 12);
        one_record(fx, &n, &offset, nik[6], n.prog[0], DECIDE_DEACTIVATE, 0, 12);
        /* nik[5]'s registration not answered */
        answer_alone(fx->j, nik[6], RESULT_FAILED);
        answer_alone(fx->j, nik[7], RESULT_REGISTERED);
        answer_alone(fx->j, nik[8], RESULT_REGISTERED);
        one_record(fx, &n, &offset, nik[8], n.prog[0], DECIDE_DEACTIVATE, 0, 8);

        assert_int_equal(journal_ctl_report(fx->j, see_group, see_use, &sr), 0);
        assert_string_equal(sr.text, "P0 workers 1..12 x3\n"
                                     "P0 workers 6..8 x1\n"
                                     "P0 pending 1..12 x2\n"
                                     "P1 workers 4..15 x1\n"
                                     "used P0 3, 63 months\n"
                                     "used P1 1, 12 months\n");
        sr.len = 0;
        sr.text[0] = '\0';
        assert_int_equal(journal_ctl_status(fx->j, see_use, &sr, &st), 0);
        assert_string_equal(sr.text, "used P0 3, 63 months\n"
                                     "used P1 1, 12 months\n");
}

static void test_a_split_batch_hands_its_items_to_two_new_ones(void **state)
{
        struct fx *fx = *state;
        struct rec x[3];
        char nik[17], id[NAME_SIZE];
        struct op_list ops = {0}, in = {0};
        int64_t op_after = ops_last(fx->j), ids[2] = {0, 0};
        struct journal_op jo[3];

        struct names n = names_of(fx);
        for (unsigned i = 0; i < 3; i++) {
                nik_make(fx, i, nik);
                id_make(fx, i, id);
                rec_make(&x[i], n.topic, i, id, nik, n.prog[0], DECIDE_REGISTER, 1, 12);
        }
        struct journal_position pos[] = {{n.topic, 0, 3}};
        assert_int_equal(commit_batch(fx->j, x, 3, pos, 1, 3), 0);
        int64_t bid = batch_of(fx->j, op_after, 3, &ops);
        for (size_t i = 0; i < 3; i++)
                jo[i] = (struct journal_op){.seq = ops.op[i].seq,
                                            .kind = ops.op[i].kind,
                                            .nik = ops.op[i].nik,
                                            .program = ops.op[i].program,
                                            .event_id = ops.op[i].event_id,
                                            .reg_seq = ops.op[i].reg_seq};
        /* a split needs two non-empty halves */
        assert_int_equal(journal_batch_split(fx->j, bid, jo, 3, 0, compose, NULL, ids),
                         -EINVAL);
        assert_int_equal(journal_batch_split(fx->j, bid, jo, 3, 3, compose, NULL, ids),
                         -EINVAL);
        assert_int_equal(journal_batch_split(fx->j, bid, jo, 3, 1, compose, NULL, ids),
                         0);
        assert_int_equal(batch_read(fx->j, bid).state, JOURNAL_BATCH_SPLIT);
        assert_false(batch_due(fx->j, bid, INT64_MAX / 2));
        assert_true(ids[0] != bid && ids[1] != bid && ids[0] != ids[1]);
        in.n = 0;
        assert_int_equal(journal_batch_ops(fx->j, ids[0], take_op, &in), 1);
        assert_int_equal(in.op[0].seq, ops.op[0].seq);
        in.n = 0;
        assert_int_equal(journal_batch_ops(fx->j, ids[1], take_op, &in), 2);
        assert_int_equal(in.op[0].seq, ops.op[1].seq);
        assert_int_equal(in.op[1].seq, ops.op[2].seq);
        in.n = 0;
        assert_int_equal(journal_batch_ops(fx->j, bid, take_op, &in), 0);
        assert_true(batch_due(fx->j, ids[0], INT64_MAX / 2));
        assert_true(batch_due(fx->j, ids[1], INT64_MAX / 2));
        struct batch_copy b = batch_read(fx->j, ids[1]);
        char want[128];
        snprintf(want, sizeof(want), "batch %lld of 2 from %lld", (long long)ids[1],
                 (long long)ops.op[1].seq);
        assert_string_equal(b.body, want);
        /* the slots are still taken: nothing was answered */
        assert_int_equal(slots(fx->j, n.prog[0]), 3);
        free(ops.op);
        free(in.op);
}

/* ---- a large batch against a model ---- */

/* A first batch of 250 records sets up a state, then one batch of 1,000
 * (many workers, programmes and partitions, and redeliveries of nothing
 * but the rules: registrations, deactivations, records that change
 * nothing) goes on from it; a plain array model says what the journal
 * must read back, fact by fact. */
#define BIG_FIRST   250
#define BIG_N       1000
#define BIG_ALL     (BIG_FIRST + BIG_N)
#define BIG_UNSEEN  50
#define BIG_WORKERS 120
#define BIG_PROGS   8
#define BIG_PARTS   4

struct model {
        bool live[BIG_WORKERS][BIG_PROGS];
        int64_t start[BIG_WORKERS][BIG_PROGS];
        long reg_op[BIG_WORKERS][BIG_PROGS]; /* the registration's op, by index */
        int64_t used[BIG_PROGS];
        int64_t next[BIG_PARTS]; /* -1: nothing journaled there */
};

static void test_a_large_batch_against_a_model(void **state)
{
        struct fx *fx = *state;
        static struct rec x[BIG_ALL];
        static struct model m;
        static char niks[BIG_WORKERS][17];
        static char ids[BIG_ALL + BIG_UNSEEN][NAME_SIZE];
        static const char *id_ptr[BIG_ALL + BIG_UNSEEN];
        static bool s[BIG_ALL + BIG_UNSEEN];
        static long op_of[BIG_ALL];   /* record -> its op's index, or -1 */
        static long ends_op[BIG_ALL]; /* deactivation -> the registration's op */
        static struct journal_worker_facts wf[BIG_WORKERS];
        struct journal_program_use pu[BIG_PROGS];
        struct journal_position pos[BIG_PARTS];
        struct op_list ops = {0};
        struct out_list out = {0};
        unsigned seed = 13;
        long n_ops = 0;
        int64_t op_after = ops_last(fx->j), o_after = outbox_last(fx->j);
        int64_t consumed = counter(fx->j, "consumed");

        memset(&m, 0, sizeof(m));
        struct names n = names_of(fx);
        for (unsigned i = 0; i < BIG_WORKERS; i++)
                nik_make(fx, i * 7919u, niks[i]);
        for (unsigned i = 0; i < BIG_ALL + BIG_UNSEEN; i++) {
                id_make(fx, 10000 + i, ids[i]);
                id_ptr[i] = ids[i];
        }
        for (int p = 0; p < BIG_PARTS; p++)
                m.next[p] = -1;

        for (int round = 0; round < 2; round++) {
                size_t from = round ? BIG_FIRST : 0, to = round ? BIG_ALL : BIG_FIRST;
                int64_t off[BIG_PARTS];
                size_t n_pos = 0;

                for (int p = 0; p < BIG_PARTS; p++)
                        off[p] = m.next[p] < 0 ? 100 * p : m.next[p];
                for (size_t e = from; e < to; e++) {
                        unsigned wk = (unsigned)rand_r(&seed) % BIG_WORKERS;
                        unsigned pg = (unsigned)rand_r(&seed) % BIG_PROGS;
                        int part = rand_r(&seed) % BIG_PARTS;
                        enum decide_action a = rand_r(&seed) % 10 < 2 ? DECIDE_NOTHING
                                               : m.live[wk][pg]       ? DECIDE_DEACTIVATE
                                                                      : DECIDE_REGISTER;
                        int64_t start = 1000 + (int64_t)e;

                        rec_make(&x[e], n.topic, off[part]++, ids[e], niks[wk],
                                 n.prog[pg], a, start, start + pg);
                        x[e].r.partition = part;
                        op_of[e] = ends_op[e] = -1;
                        if (a == DECIDE_REGISTER) {
                                m.live[wk][pg] = true;
                                m.start[wk][pg] = start;
                                m.reg_op[wk][pg] = n_ops;
                                m.used[pg]++;
                                op_of[e] = n_ops++;
                        } else if (a == DECIDE_DEACTIVATE) {
                                m.live[wk][pg] = false;
                                m.used[pg]--;
                                ends_op[e] = m.reg_op[wk][pg];
                                op_of[e] = n_ops++;
                        }
                }
                for (int p = 0; p < BIG_PARTS; p++)
                        if (off[p] != (m.next[p] < 0 ? 100 * p : m.next[p])) {
                                pos[n_pos++] =
                                    (struct journal_position){n.topic, p, off[p]};
                                m.next[p] = off[p];
                        }
                /* consumed counts redeliveries too: 3 more than the records */
                assert_int_equal(commit_batch(fx->j, x + from, to - from, pos, n_pos,
                                              (int64_t)(to - from) + 3),
                                 0);
        }

        /* every fact read back, in one begin */
        for (unsigned i = 0; i < BIG_WORKERS; i++)
                wf[i] = (struct journal_worker_facts){.nik = niks[i]};
        for (unsigned p = 0; p < BIG_PROGS; p++)
                pu[p] = (struct journal_program_use){
                    .program = n.prog[p], .used = -1, .months = -1};
        for (int p = 0; p < BIG_PARTS; p++)
                pos[p] = (struct journal_position){n.topic, p, -2};
        struct journal_facts f = {.positions = pos,
                                  .n_positions = BIG_PARTS,
                                  .event_ids = id_ptr,
                                  .seen = s,
                                  .n_event_ids = BIG_ALL + BIG_UNSEEN,
                                  .workers = wf,
                                  .n_workers = BIG_WORKERS,
                                  .programs = pu,
                                  .n_programs = BIG_PROGS};
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        journal_consume_abort(fx->j);
        for (int p = 0; p < BIG_PARTS; p++)
                if (pos[p].next != m.next[p])
                        fail_msg("partition %d: next %lld, model %lld", p,
                                 (long long)pos[p].next, (long long)m.next[p]);
        for (unsigned i = 0; i < BIG_ALL + BIG_UNSEEN; i++)
                if (s[i] != (i < BIG_ALL))
                        fail_msg("event %s: seen %d", ids[i], s[i]);
        for (unsigned p = 0; p < BIG_PROGS; p++)
                if (pu[p].used != m.used[p])
                        fail_msg("%s: %lld slots used, model %lld", n.prog[p],
                                 (long long)pu[p].used, (long long)m.used[p]);
        for (unsigned wk = 0; wk < BIG_WORKERS; wk++) {
                size_t want = 0;
                for (unsigned pg = 0; pg < BIG_PROGS; pg++)
                        want += m.live[wk][pg];
                if (wf[wk].live.n != want)
                        fail_msg("worker %u: %zu live coverages, model %zu", wk,
                                 wf[wk].live.n, want);
                for (size_t k = 0; k < wf[wk].live.n; k++) {
                        const struct decide_coverage *c = &wf[wk].live.cov[k];
                        unsigned pg = 0;
                        while (pg < BIG_PROGS && strcmp(c->program, n.prog[pg]))
                                pg++;
                        if (pg == BIG_PROGS || !m.live[wk][pg] ||
                            c->start_month != m.start[wk][pg] ||
                            c->end_month != m.start[wk][pg] + pg)
                                fail_msg("worker %u: coverage %s %lld..%lld is not the "
                                         "model's",
                                         wk, c->program, (long long)c->start_month,
                                         (long long)c->end_month);
                }
                decide_worker_release(&wf[wk].live);
        }

        /* every operation and outbox row, in decision order */
        ops_after(fx->j, op_after, &ops);
        assert_int_equal((long)ops.n, n_ops);
        for (size_t e = 0; e < BIG_ALL; e++) {
                const struct op_copy *o;
                int kind = x[e].r.action == DECIDE_REGISTER ? JOURNAL_OP_REGISTER
                                                            : JOURNAL_OP_DEACTIVATE;
                if (op_of[e] < 0)
                        continue;
                o = &ops.op[op_of[e]];
                if (strcmp(o->event_id, x[e].event_id) || strcmp(o->nik, x[e].nik) ||
                    strcmp(o->program, x[e].r.program) || o->kind != kind ||
                    strcmp(o->item, x[e].item))
                        fail_msg("record %zu: op %lld is %s %s kind %d", e,
                                 (long long)o->seq, o->event_id, o->program, o->kind);
                if (o->reg_seq !=
                    (kind == JOURNAL_OP_REGISTER ? o->seq : ops.op[ends_op[e]].seq))
                        fail_msg("record %zu: op %lld concerns registration %lld", e,
                                 (long long)o->seq, (long long)o->reg_seq);
        }
        outbox_after(fx->j, o_after, &out);
        assert_int_equal(out.n, BIG_ALL);
        for (size_t e = 0; e < BIG_ALL; e++)
                if (strcmp(out.o[e].value, x[e].value) || strcmp(out.o[e].key, x[e].nik))
                        fail_msg("outbox row %zu: %s", e, out.o[e].value);
        assert_int_equal(counter(fx->j, "consumed"), consumed + BIG_ALL + 6);
        free(ops.op);
        free(out.o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_begin_on_an_empty_journal_finds_nothing,
                                            fx_open, fx_close),
            cmocka_unit_test_setup_teardown(test_a_commit_is_read_by_the_next_begin,
                                            fx_open, fx_close),
            cmocka_unit_test_setup_teardown(test_a_worker_in_several_programmes, fx_open,
                                            fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_registration_after_a_deactivation_in_one_batch, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_many_records_for_one_worker_and_programme_in_one_batch, fx_open,
                fx_close),
            cmocka_unit_test_setup_teardown(
                test_slot_counts_over_several_programmes_in_one_batch, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(test_abort_writes_nothing, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_failed_commit_leaves_nothing_of_the_batch, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(test_one_event_is_never_journaled_twice,
                                            fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_an_id_read_as_new_is_written_once_in_its_batch, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_commit_queues_outbox_rows_and_operations_in_order, fx_open,
                fx_close),
            cmocka_unit_test_setup_teardown(test_push_batches_and_their_results, fx_open,
                                            fx_close),
            cmocka_unit_test_setup_teardown(
                test_an_answer_after_a_withdrawal_changes_nothing, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_split_batch_hands_its_items_to_two_new_ones, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_deactivation_of_a_failed_registration_is_settled, fx_open,
                fx_close),
            cmocka_unit_test_setup_teardown(test_committed_months_follow_the_coverages,
                                            fx_open, fx_close),
            cmocka_unit_test_setup_teardown(test_the_premium_reports_facts, fx_open,
                                            fx_close),
            cmocka_unit_test_setup_teardown(test_a_large_batch_against_a_model, fx_open,
                                            fx_close),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
