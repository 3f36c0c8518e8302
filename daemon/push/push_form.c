/* push: forming batches. Copies operations out of the journal's queue, one
 * operation per worker at a time and in decision order, into batches of at
 * most bpjs.batch_size registrations or deactivations, lingering up to
 * bpjs.batch_linger_ms for a batch to fill, and composes each batch's
 * request body, which the journal keeps with the batch before its first
 * send. A deactivation whose registration failed is settled here without
 * a request: the endpoint holds nothing to end (and the contract has no
 * deactivation without a kpj).
 *
 * The queue's head is kept in memory between passes (p->queue): a pass
 * reads only the operations queued after the last one it holds, and the
 * answers this instance records update its waiting deactivations. What it
 * cannot see from here (an operator's replay, another instance's batches,
 * answers or late commits on a shared journal) is caught by reading it
 * again from the start: when a batch cannot be formed or the open batches
 * change behind our back, and every PUSH_QUEUE_REREAD_MS. The journal
 * still checks every batch it is asked to form. The operations of each
 * batch formed here are kept until its answers are recorded from them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "clock.h"
#include "item.h"
#include "journal.h"
#include "log.h"
#include "nikset.h"
#include "push_int.h"
#include "result.h"

#define PUSH_QUEUE_REREAD_MS 1000

static void op_copy(struct op *dst, const struct journal_op *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->seq = src->seq;
        dst->reg_seq = src->reg_seq;
        dst->kind = src->kind;
        snprintf(dst->nik, sizeof(dst->nik), "%s", src->nik);
        snprintf(dst->program, sizeof(dst->program), "%s", src->program);
        snprintf(dst->event_id, sizeof(dst->event_id), "%s", src->event_id);
        dst->reg_status = src->reg_status;
        dst->kpj = src->reg_kpj && *src->reg_kpj ? strdup(src->reg_kpj) : NULL;
        dst->item = malloc(src->item_len + 1);
        if (dst->item && src->reg_kpj && *src->reg_kpj && !dst->kpj) {
                free(dst->item);
                dst->item = NULL;
        }
        if (dst->item) {
                memcpy(dst->item, src->item, src->item_len);
                dst->item[src->item_len] = '\0';
                dst->item_len = src->item_len;
        }
}

static int oplist_add(struct oplist *l, const struct journal_op *op)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                struct op *o = realloc(l->ops, cap * sizeof(*o));
                if (!o)
                        return -ENOMEM;
                l->ops = o;
                l->cap = cap;
        }
        op_copy(&l->ops[l->n], op);
        if (!l->ops[l->n].item) {
                free(l->ops[l->n].kpj);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

void push_form_oplist_free(struct oplist *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->ops[i].item);
                free(l->ops[i].kpj);
        }
        free(l->ops);
        memset(l, 0, sizeof(*l));
}

int push_form_collect(const struct journal_op *op, void *opaque)
{
        return oplist_add(opaque, op);
}

/* Picked operations: indices into p->queue. */
struct pick {
        size_t *at;
        size_t n, cap;
};

struct form {
        struct push *p;
        struct pick list[2]; /* registrations, deactivations */
        struct pick settle;  /* deactivations that need no request */
        size_t limit;
};

static int pick_add(struct pick *k, size_t at)
{
        if (k->n == k->cap) {
                size_t cap = k->cap ? k->cap * 2 : 64;
                size_t *a = realloc(k->at, cap * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                k->at = a;
                k->cap = cap;
        }
        k->at[k->n++] = at;
        return 0;
}

static void form_free(struct form *f)
{
        for (int i = 0; i < 2; i++)
                free(f->list[i].at);
        free(f->settle.at);
}

/* Picks from the queue: one operation per worker at a time, in decision
 * order; a deactivation only once its registration has its answer, read
 * with the kpj it must carry (another instance may be sending the
 * registration: it is not in blocked). */
static int form_scan(struct form *f)
{
        struct push *p = f->p;

        nikset_clear(&p->seen);
        for (size_t i = 0; i < p->queue.n; i++) {
                const struct op *op = &p->queue.ops[i];
                struct pick *l = &f->list[op->kind == JOURNAL_OP_DEACTIVATE];
                bool waits = op->kind == JOURNAL_OP_DEACTIVATE && !op->reg_status;

                if (nikset_has(&p->blocked, op->nik) || nikset_has(&p->seen, op->nik) ||
                    waits) {
                        if (nikset_add(&p->seen, op->nik))
                                return -ENOMEM;
                        continue;
                }
                if (nikset_add(&p->seen, op->nik))
                        return -ENOMEM;
                if (op->kind == JOURNAL_OP_DEACTIVATE &&
                    op->reg_status == RESULT_FAILED) {
                        if (pick_add(&f->settle, i))
                                return -ENOMEM;
                        continue;
                }
                if (l->n < f->limit && pick_add(l, i))
                        return -ENOMEM;
                if (f->list[0].n >= f->limit && f->list[1].n >= f->limit)
                        break;
        }
        return 0;
}

/* Moves the picked operations out of the queue into l (empty), which then
 * owns them; their places are left empty (seq 0) until queue_compact. */
static int pick_take(struct push *p, const struct pick *k, struct oplist *l)
{
        if (!k->n)
                return 0;
        l->ops = calloc(k->n, sizeof(*l->ops));
        if (!l->ops)
                return -ENOMEM;
        for (size_t i = 0; i < k->n; i++) {
                struct op *q = &p->queue.ops[k->at[i]];
                l->ops[i] = *q;
                memset(q, 0, sizeof(*q));
        }
        l->n = l->cap = k->n;
        return 0;
}

static void queue_compact(struct push *p)
{
        size_t k = 0;

        for (size_t i = 0; i < p->queue.n; i++)
                if (p->queue.ops[i].seq)
                        p->queue.ops[k++] = p->queue.ops[i];
        p->queue.n = k;
}

void push_form_restart(struct push *p)
{
        p->queue_stale = true;
}

/* Brings the queue up to date: from the start if stale or due, else only
 * what was queued after the last operation it holds, up to cap. */
static int queue_refresh(struct push *p, size_t cap)
{
        int64_t now = clock_mono_ms();
        size_t before;
        int rc;

        if (p->queue_stale || now >= p->queue_reread_at) {
                push_form_oplist_free(&p->queue);
                p->queue_after = 0;
                p->queue_stale = false;
                p->queue_reread_at = now + PUSH_QUEUE_REREAD_MS;
        }
        if (p->queue.n >= cap)
                return 0;
        before = p->queue.n;
        rc = journal_ops_unbatched(p->journal, p->queue_after, cap - p->queue.n,
                                   push_form_collect, &p->queue);
        if (rc < 0) {
                p->queue_stale = true; /* it may hold part of the read */
                return rc;
        }
        if (p->queue.n > before)
                p->queue_after = p->queue.ops[p->queue.n - 1].seq;
        return 0;
}

/* The registration at seq among a batch's ops (in seq order), or -1. */
static ssize_t find_seq(const struct oplist *ops, int64_t seq)
{
        size_t lo = 0, hi = ops->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (ops->ops[mid].seq < seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < ops->n && ops->ops[lo].seq == seq ? (ssize_t)lo : -1;
}

/* Out of memory, the queue is read again instead. */
static void answered(struct push *p, const struct oplist *ops,
                     const struct journal_item_result *res)
{
        if (!ops->n || ops->ops[0].kind != JOURNAL_OP_REGISTER)
                return; /* a batch holds one kind */
        for (size_t i = 0; i < p->queue.n; i++) {
                struct op *q = &p->queue.ops[i];
                ssize_t k;

                if (q->kind != JOURNAL_OP_DEACTIVATE || q->reg_status ||
                    (k = find_seq(ops, q->reg_seq)) < 0)
                        continue;
                char *kpj = res[k].kpj && *res[k].kpj ? strdup(res[k].kpj) : NULL;
                if (res[k].kpj && *res[k].kpj && !kpj) {
                        p->queue_stale = true;
                        return;
                }
                free(q->kpj);
                q->kpj = kpj;
                q->reg_status = (int)res[k].status;
        }
}

void push_form_finished(struct push *p, const struct oplist *ops,
                        const struct journal_item_result *res)
{
        for (size_t i = 0; i < ops->n; i++)
                nikset_del(&p->blocked, ops->ops[i].nik);
        answered(p, ops, res);
        p->open_batches--;
        p->dirty = true;
}

int push_form_compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                      char **body, size_t *len)
{
        const struct compose_ctx *ctx = opaque;
        const struct op *first = ctx->copies + (ops - ctx->base);
        struct item_part *parts = calloc(n ? n : 1, sizeof(*parts));
        int rc;

        if (!parts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                parts[i] = (struct item_part){first[i].reg_seq, first[i].kpj,
                                              first[i].item, first[i].item_len};
        rc = item_batch_body(journal_id(ctx->p->journal), id,
                             n && first->kind == JOURNAL_OP_DEACTIVATE, parts, n, body,
                             len);
        free(parts);
        return rc;
}

/* Keeps a batch's operations (moved out of l) for its answers. The
 * oldest goes when push holds FORMED_MAX: a batch another instance took
 * over and finished is never answered here. */
static void formed_keep(struct push *p, int64_t id, struct oplist *l)
{
        if (!p->formed && !(p->formed = calloc(FORMED_MAX, sizeof(*p->formed))))
                return; /* its answers read them from the journal */
        if (p->n_formed == FORMED_MAX) {
                push_form_oplist_free(&p->formed[0].ops);
                memmove(p->formed, p->formed + 1, --p->n_formed * sizeof(*p->formed));
        }
        p->formed[p->n_formed++] = (struct formed){id, *l};
        memset(l, 0, sizeof(*l));
}

int push_form_formed_take(struct push *p, int64_t batch_id, struct oplist *ops)
{
        for (size_t i = 0; i < p->n_formed; i++) {
                if (p->formed[i].batch_id != batch_id)
                        continue;
                *ops = p->formed[i].ops;
                memmove(p->formed + i, p->formed + i + 1,
                        (--p->n_formed - i) * sizeof(*p->formed));
                return 1;
        }
        return 0;
}

int push_form_batch_ops(struct push *p, int64_t batch_id, struct oplist *ops)
{
        return push_form_formed_take(p, batch_id, ops)
                   ? 0
                   : journal_batch_ops(p->journal, batch_id, push_form_collect, ops);
}

void push_form_formed_free(struct push *p)
{
        for (size_t i = 0; i < p->n_formed; i++)
                push_form_oplist_free(&p->formed[i].ops);
        free(p->formed);
        p->formed = NULL;
        p->n_formed = 0;
}

static int create_batch(struct push *p, struct oplist *l)
{
        int64_t id;
        int rc;

        if (!l->n)
                return 0;
        struct journal_op *ops = calloc(l->n, sizeof(*ops));
        if (!ops)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                ops[i].seq = l->ops[i].seq;
                ops[i].kind = l->ops[i].kind;
        }
        struct compose_ctx ctx = {p, l->ops, ops};
        rc = journal_batch_create(p->journal, l->ops[0].kind, ops, l->n,
                                  push_form_compose, &ctx, &id);
        free(ops);
        if (rc == -EAGAIN || rc == -EALREADY) {
                /* another instance holds an earlier op of a worker, or took
                 * an op first: not formed; the open batches are read again
                 * (their workers blocked) before the next try */
                log_debug("push", "batch not formed: %s", journal_errmsg(p->journal));
                p->reconcile_now = true;
                return 1;
        }
        if (rc) {
                push_journal_failed(p, "(new)", "cannot journal a batch");
                return rc;
        }
        for (size_t i = 0; i < l->n; i++)
                nikset_add(&p->blocked, l->ops[i].nik);
        p->open_batches++;
        log_debug("push", "batch %lld formed with %zu %s", (long long)id, l->n,
                  l->ops[0].kind == JOURNAL_OP_DEACTIVATE ? "deactivations"
                                                          : "registrations");
        formed_keep(p, id, l);
        return 0;
}

#define NOT_REGISTERED "not_registered"

/* The deactivations of registrations that failed: final at once,
 * "deactivated" with reason not_registered and no batch, their results
 * queued with them in one transaction. */
static int settle_unsent(struct push *p, const struct oplist *l)
{
        struct journal_item_result *res = calloc(l->n, sizeof(*res));
        char **values = calloc(l->n, sizeof(*values));
        int rc = 0;

        if (!res || !values) {
                rc = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < l->n; i++) {
                struct result r = {.status = RESULT_DEACTIVATED,
                                   .reason = NOT_REGISTERED};
                if ((rc = push_final_result(p, &l->ops[i], &r, &values[i], &res[i])))
                        goto out;
        }
        rc = journal_ops_settle(p->journal, res, l->n);
        if (rc == -ESTALE) {
                /* batched or answered by another hand meanwhile: look again */
                log_debug("push", "settling deactivations: %s",
                          journal_errmsg(p->journal));
                p->queue_stale = true;
                rc = 0;
        } else if (rc) {
                push_journal_failed(p, "(none)", "cannot settle deactivations");
        } else {
                log_info("push",
                         "%zu deactivation(s) settled without a request: the "
                         "registration each would end had failed",
                         l->n);
        }
out:
        if (rc)
                p->queue_stale = true; /* not settled: they are read again */
        for (size_t i = 0; values && i < l->n; i++)
                free(values[i]);
        free(values);
        free(res);
        return rc;
}

int push_form_batches(struct push *p)
{
        int64_t now = clock_mono_ms();
        size_t size = (size_t)p->conf->bpjs.batch_size;
        int rc = 0;

        while ((p->dirty || p->linger_start) && !p->draining &&
               p->open_batches < 2 * p->conf->bpjs.max_in_flight + 2) {
                struct form f = {.p = p, .limit = size};
                struct oplist regs = {0}, deacts = {0}, settle = {0};
                bool settled = false, later = false;

                rc = queue_refresh(p, 8 * size);
                if (rc == 0)
                        rc = form_scan(&f);
                /* what is taken leaves an empty place in the queue until
                 * queue_compact at the end of the pass: the picks' indices
                 * hold until then */
                if (rc == 0 && f.settle.n) {
                        settled = true;
                        if ((rc = pick_take(p, &f.settle, &settle)) == 0)
                                rc = settle_unsent(p, &settle);
                }
                bool full = f.list[0].n >= size || f.list[1].n >= size;
                bool any = f.list[0].n || f.list[1].n;
                if (rc < 0) {
                        /* nothing formed this turn */
                } else if (!any) {
                        p->dirty = false;
                        p->linger_start = 0;
                } else if (!full && !p->linger_start) {
                        p->linger_start = now;
                        p->dirty = false;
                } else if (full ||
                           now - p->linger_start >= p->conf->bpjs.batch_linger_ms) {
                        rc = pick_take(p, &f.list[0], &regs);
                        if (rc == 0)
                                rc = pick_take(p, &f.list[1], &deacts);
                        if (rc == 0)
                                rc = create_batch(p, &regs);
                        if (rc == 0)
                                rc = create_batch(p, &deacts);
                        p->linger_start = 0;
                        p->dirty = true; /* there may be more */
                        /* what was taken and not formed is read again: from
                         * the journal, where it still is */
                        if (rc)
                                p->queue_stale = true;
                        if (rc > 0) {
                                /* formed again after the open batches are read */
                                rc = 0;
                                later = true;
                        }
                } else {
                        p->dirty = false;
                }
                queue_compact(p);
                push_form_oplist_free(&settle);
                push_form_oplist_free(&regs);
                push_form_oplist_free(&deacts);
                form_free(&f);
                if (settled && rc == 0)
                        p->dirty = true; /* those workers' later operations may follow */
                if (rc || later || !p->dirty)
                        break;
        }
        return rc < 0 ? rc : 0;
}
