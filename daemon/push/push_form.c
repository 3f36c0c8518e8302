/* push: forming batches. Copies operations out of the journal's queue, one
 * operation per worker at a time and in decision order, into batches of at
 * most bpjs.batch_size registrations or deactivations, lingering up to
 * bpjs.batch_linger_ms for a batch to fill, and composes each batch's
 * request body, which the journal keeps with the batch before its first
 * send. A deactivation whose registration failed is settled here without
 * a request: the endpoint holds nothing to end (and the contract has no
 * deactivation without a kpj). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "journal.h"
#include "log.h"
#include "nikset.h"
#include "push_int.h"
#include "result.h"

static void op_copy(struct op *dst, const struct journal_op *src)
{
        memset(dst, 0, sizeof(*dst));
        dst->seq = src->seq;
        dst->reg_seq = src->reg_seq;
        dst->kind = src->kind;
        snprintf(dst->nik, sizeof(dst->nik), "%s", src->nik);
        snprintf(dst->program, sizeof(dst->program), "%s", src->program);
        snprintf(dst->event_id, sizeof(dst->event_id), "%s", src->event_id);
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

struct form {
        struct push *p;
        struct oplist list[2]; /* registrations, deactivations */
        struct oplist settle;  /* deactivations that need no request */
        size_t limit;
        int rc;
};

static int form_pick(const struct journal_op *op, void *opaque)
{
        struct form *f = opaque;
        struct oplist *l = &f->list[op->kind == JOURNAL_OP_DEACTIVATE];

        /* one operation per worker at a time, in decision order; a
         * deactivation only once its registration has its answer, read in
         * this same row with the kpj it must carry (another instance may be
         * sending the registration: it is not in blocked) */
        if (nikset_has(&f->p->blocked, op->nik) || nikset_has(&f->p->seen, op->nik) ||
            (op->kind == JOURNAL_OP_DEACTIVATE && !op->reg_status))
                return nikset_add(&f->p->seen, op->nik) ? (f->rc = -ENOMEM) : 0;
        if (nikset_add(&f->p->seen, op->nik))
                return f->rc = -ENOMEM;
        if (op->kind == JOURNAL_OP_DEACTIVATE && op->reg_status == RESULT_FAILED)
                return (f->rc = oplist_add(&f->settle, op));
        if (l->n < f->limit && (f->rc = oplist_add(l, op)))
                return f->rc;
        return f->list[0].n >= f->limit && f->list[1].n >= f->limit;
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
                nikset_clear(&p->seen);
                rc = journal_ops_unbatched(p->journal, 0, 8 * size, form_pick, &f);
                if (rc >= 0)
                        rc = f.rc;
                bool settled = rc >= 0 && f.settle.n;
                if (settled)
                        rc = settle_unsent(p, &f.settle);
                push_form_oplist_free(&f.settle);
                if (rc < 0) {
                        push_form_oplist_free(&f.list[0]);
                        push_form_oplist_free(&f.list[1]);
                        break;
                }
                bool full = f.list[0].n >= size || f.list[1].n >= size;
                bool any = f.list[0].n || f.list[1].n;
                if (!any) {
                        p->dirty = false;
                        p->linger_start = 0;
                } else if (!full && !p->linger_start) {
                        p->linger_start = now;
                        p->dirty = false;
                } else if (full ||
                           now - p->linger_start >= p->conf->bpjs.batch_linger_ms) {
                        rc = create_batch(p, &f.list[0]);
                        if (rc == 0)
                                rc = create_batch(p, &f.list[1]);
                        p->linger_start = 0;
                        p->dirty = true; /* there may be more */
                        if (rc > 0) {
                                /* formed again after the open batches are read */
                                push_form_oplist_free(&f.list[0]);
                                push_form_oplist_free(&f.list[1]);
                                rc = 0;
                                break;
                        }
                } else {
                        p->dirty = false;
                }
                push_form_oplist_free(&f.list[0]);
                push_form_oplist_free(&f.list[1]);
                if (settled)
                        p->dirty = true; /* those workers' later operations may follow */
                if (rc || !p->dirty)
                        break;
        }
        return rc < 0 ? rc : 0;
}
