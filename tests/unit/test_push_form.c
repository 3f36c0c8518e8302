/* Forming batches from the journal's queue (daemon/push/push_form.c), on a
 * real SQLite journal: one operation per worker at a time, in decision
 * order; a withdrawal waits for its registration's answer and then carries
 * its kpj; the queue kept in memory between passes never sends an
 * operation twice nor forgets one that another hand changed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "journal.h"
#include "tmpdir.h"
#include "push/push_int.h"

#define NIK_A "6471010101900001"
#define NIK_B "6471010101900002"
#define NIK_C "6471010101900003"
#define PROG  "BPP-DIFABEL-2025"

struct fx {
        char dir[64], path[96];
        struct journal *j;
        struct conf conf;
        struct push p;
        int64_t offset;
};

static int fx_open(void **state)
{
        struct fx *fx = calloc(1, sizeof(*fx));
        char err[256];

        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/bpjs-push-form-XXXXXX");
        if (!mkdtemp(fx->dir)) {
                free(fx);
                return -1;
        }
        snprintf(fx->path, sizeof(fx->path), "%s/journal", fx->dir);
        if (journal_open(fx->path, JOURNAL_RECOVER, &fx->j, err, sizeof(err))) {
                fprintf(stderr, "journal_open: %s\n", err);
                rmdir(fx->dir);
                free(fx);
                return -1;
        }
        fx->conf.bpjs.batch_size = 500;
        fx->conf.bpjs.batch_linger_ms = 0;
        fx->conf.bpjs.max_in_flight = 4;
        fx->conf.kafka.results_topic = "results";
        fx->p.conf = &fx->conf;
        fx->p.journal = fx->j;
        *state = fx;
        return 0;
}

static int fx_close(void **state)
{
        struct fx *fx = *state;

        push_form_oplist_free(&fx->p.queue);
        push_form_formed_free(&fx->p);
        nikset_free(&fx->p.blocked);
        nikset_free(&fx->p.seen);
        journal_close(fx->j);
        tmpdir_remove(fx->dir);
        free(fx);
        return 0;
}

/* One consumed message deciding action for nik, journaled alone. */
static void decided(struct fx *fx, const char *nik, enum decide_action action)
{
        char id[32], item[64];
        struct journal_facts f = {0};

        snprintf(id, sizeof(id), "ev-%lld", (long long)fx->offset);
        snprintf(item, sizeof(item), "{\"nik\":\"%s\"}", nik);
        struct journal_record r = {
            .event_id = id,
            .nik = nik,
            .program = PROG,
            .type = action == DECIDE_DEACTIVATE ? EVENT_WITHDRAWN : EVENT_SUBMITTED,
            .status = RESULT_CONFIRMED,
            .topic = "events",
            .offset = fx->offset++,
            .at_ms = 1700000000000,
            .action = action,
            .start_month = 2025 * 12,
            .end_month = 2025 * 12 + 11,
            .first_month = 2025 * 12,
            .last_month = action == DECIDE_REGISTER ? 2025 * 12 + 11 : 2025 * 12 + 5,
            .item = item,
            .item_len = strlen(item),
        };
        struct journal_outcome o = {&r, 1, NULL, 0, 1};
        assert_int_equal(journal_consume_begin(fx->j, &f), 0);
        assert_int_equal(journal_consume_commit(fx->j, &o), 0);
        fx->p.dirty = true; /* push_notify */
}

struct batch {
        int64_t id;
        int kind;
        char *body;
};
struct batches {
        struct batch b[16];
        size_t n;
};

static int take_batch(const struct journal_batch *b, void *opaque)
{
        struct batches *l = opaque;
        assert_true(l->n < 16);
        l->b[l->n++] = (struct batch){b->id, b->kind, strndup(b->body, b->body_len)};
        return 0;
}

static void batches_free(struct batches *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->b[i].body);
        l->n = 0;
}

/* The NIKs of a batch's operations, in order, space-separated. */
static void batch_niks(struct fx *fx, int64_t id, char *out, size_t size)
{
        struct oplist ops = {0};

        assert_true(journal_batch_ops(fx->j, id, push_form_collect, &ops) >= 0);
        *out = 0;
        for (size_t i = 0; i < ops.n; i++)
                snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "",
                         ops.ops[i].nik);
        push_form_oplist_free(&ops);
}

/* The batch's answers recorded as push_outcome records them: every
 * registration registered with kpj 2500000000N (N its position). */
static void answered(struct fx *fx, int64_t id, bool tell_push)
{
        struct oplist ops = {0};
        struct journal_item_result res[8];
        char kpj[8][16];

        assert_true(journal_batch_ops(fx->j, id, push_form_collect, &ops) >= 0);
        assert_true(ops.n <= 8);
        for (size_t i = 0; i < ops.n; i++) {
                snprintf(kpj[i], sizeof(kpj[i]), "2500000000%zu", i + 1);
                res[i] = (struct journal_item_result){
                    .seq = ops.ops[i].seq,
                    .status = ops.ops[i].kind == JOURNAL_OP_REGISTER ? RESULT_REGISTERED
                                                                     : RESULT_DEACTIVATED,
                    .kpj = ops.ops[i].kind == JOURNAL_OP_REGISTER ? kpj[i] : NULL,
                    .out = {.topic = "results", .value = "r", .value_len = 1},
                };
        }
        assert_int_equal(
            journal_batch_finish(fx->j, id, JOURNAL_BATCH_DONE, NULL, res, ops.n), 0);
        if (tell_push)
                push_form_finished(&fx->p, &ops, res);
        push_form_oplist_free(&ops);
}

/* Two turns of push_run's forming step: with batch_linger_ms 0 the first
 * starts the linger of a batch that is not full, the second ends it. */
static void form(struct fx *fx)
{
        assert_int_equal(push_form_batches(&fx->p), 0);
        assert_int_equal(push_form_batches(&fx->p), 0);
}

static void unfinished(struct fx *fx, struct batches *l)
{
        batches_free(l);
        assert_true(journal_batches_unfinished(fx->j, take_batch, l) >= 0);
}

/* A withdrawal waits for its registration's answer, in the queue, and
 * goes in the next pass once this instance records that answer, with the
 * kpj it must carry; no second batch holds any operation. */
static void test_a_withdrawal_goes_once_its_registration_is_answered(void **state)
{
        struct fx *fx = *state;
        struct batches l = {0};
        char niks[128];

        decided(fx, NIK_A, DECIDE_REGISTER);
        decided(fx, NIK_B, DECIDE_REGISTER);
        decided(fx, NIK_A, DECIDE_DEACTIVATE);
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1); /* A's withdrawal waits for A's answer */
        assert_int_equal(l.b[0].kind, JOURNAL_OP_REGISTER);
        batch_niks(fx, l.b[0].id, niks, sizeof(niks));
        assert_string_equal(niks, NIK_A " " NIK_B);

        /* nothing new: a pass forms nothing, A is still blocked */
        fx->p.dirty = true;
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1);

        answered(fx, l.b[0].id, true);
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.b[0].kind, JOURNAL_OP_DEACTIVATE);
        batch_niks(fx, l.b[0].id, niks, sizeof(niks));
        assert_string_equal(niks, NIK_A);
        assert_non_null(strstr(l.b[0].body, "\"kpj\":\"25000000001\""));
        batches_free(&l);
}

/* An answer recorded behind push's back (another instance's, on a shared
 * journal) is found when the queue is read again from the start: not at
 * once, but at the next reread, never lost. */
static void test_an_answer_recorded_elsewhere_is_found_at_the_reread(void **state)
{
        struct fx *fx = *state;
        struct batches l = {0};
        char niks[128];

        decided(fx, NIK_C, DECIDE_REGISTER);
        decided(fx, NIK_C, DECIDE_DEACTIVATE);
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1);
        answered(fx, l.b[0].id, false); /* push is not told */
        /* what push_form_finished would have done but the answer */
        nikset_del(&fx->p.blocked, NIK_C);
        fx->p.open_batches--;
        fx->p.dirty = true;
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 0); /* its queue still says: no answer */

        fx->p.queue_reread_at = 0; /* PUSH_QUEUE_REREAD_MS later */
        fx->p.dirty = true;
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1);
        batch_niks(fx, l.b[0].id, niks, sizeof(niks));
        assert_string_equal(niks, NIK_C);
        assert_non_null(strstr(l.b[0].body, "\"kpj\":\"25000000001\""));
        batches_free(&l);
}

static int compose_empty(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                         char **body, size_t *len)
{
        (void)id, (void)ops, (void)n, (void)opaque;
        *body = strdup("{}");
        *len = 2;
        return *body ? 0 : -ENOMEM;
}

/* An operation the queue holds but another hand batched meanwhile (an
 * instance sharing the journal) makes the batch fail to form; the queue is
 * read again and the rest goes, each operation in exactly one batch. */
static void test_an_operation_batched_elsewhere_is_not_sent_twice(void **state)
{
        struct fx *fx = *state;
        struct batches l = {0};
        struct oplist q = {0};
        char niks[128];

        fx->conf.bpjs.batch_linger_ms = 60000; /* the first pass lingers */
        decided(fx, NIK_A, DECIDE_REGISTER);
        decided(fx, NIK_B, DECIDE_REGISTER);
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 0);
        assert_int_equal(fx->p.queue.n, 2); /* both in memory */

        /* another hand takes A's registration */
        assert_true(journal_ops_unbatched(fx->j, 0, 1, push_form_collect, &q) == 1);
        struct journal_op taken = {.seq = q.ops[0].seq, .kind = q.ops[0].kind};
        int64_t other;
        assert_int_equal(journal_batch_create(fx->j, JOURNAL_OP_REGISTER, &taken, 1,
                                              compose_empty, NULL, &other),
                         0);
        push_form_oplist_free(&q);

        fx->conf.bpjs.batch_linger_ms = 0; /* the linger ends */
        form(fx);
        fx->p.dirty = true;
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 2);
        batch_niks(fx, l.b[0].id, niks, sizeof(niks));
        assert_string_equal(niks, NIK_A);
        assert_int_equal(l.b[0].id, other);
        batch_niks(fx, l.b[1].id, niks, sizeof(niks));
        assert_string_equal(niks, NIK_B);
        batches_free(&l);
}

/* What push keeps of a batch it formed, to record its answers from, is
 * what the journal holds of it, field for field; it is handed over once. */
static void test_a_formed_batch_is_kept_as_the_journal_holds_it(void **state)
{
        struct fx *fx = *state;
        struct batches l = {0};
        struct oplist kept = {0}, read = {0};

        decided(fx, NIK_A, DECIDE_REGISTER);
        decided(fx, NIK_B, DECIDE_REGISTER);
        decided(fx, NIK_C, DECIDE_REGISTER);
        form(fx);
        unfinished(fx, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(push_form_formed_take(&fx->p, l.b[0].id, &kept), 1);
        assert_true(journal_batch_ops(fx->j, l.b[0].id, push_form_collect, &read) >= 0);
        assert_int_equal(kept.n, 3);
        assert_int_equal(kept.n, read.n);
        for (size_t i = 0; i < read.n; i++) {
                const struct op *k = &kept.ops[i], *r = &read.ops[i];
                assert_int_equal(k->seq, r->seq);
                assert_int_equal(k->reg_seq, r->reg_seq);
                assert_int_equal(k->kind, r->kind);
                assert_string_equal(k->nik, r->nik);
                assert_string_equal(k->program, r->program);
                assert_string_equal(k->event_id, r->event_id);
                assert_int_equal(k->item_len, r->item_len);
                assert_memory_equal(k->item, r->item, r->item_len);
                assert_true(k->kpj == NULL && r->kpj == NULL);
        }
        push_form_oplist_free(&kept);
        push_form_oplist_free(&read);
        assert_int_equal(push_form_formed_take(&fx->p, l.b[0].id, &kept), 0);
        batches_free(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(
                test_a_withdrawal_goes_once_its_registration_is_answered, fx_open,
                fx_close),
            cmocka_unit_test_setup_teardown(
                test_an_answer_recorded_elsewhere_is_found_at_the_reread, fx_open,
                fx_close),
            cmocka_unit_test_setup_teardown(
                test_an_operation_batched_elsewhere_is_not_sent_twice, fx_open, fx_close),
            cmocka_unit_test_setup_teardown(
                test_a_formed_batch_is_kept_as_the_journal_holds_it, fx_open, fx_close),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
