/* bpjs-journal-fill: writes a journal as the daemon would leave it after
 * enrolling N workers, for the restart and memory figures of the bench
 * (issue 9) without consuming N events first.
 *
 *   bpjs-journal-fill CONFIG N [--age-days D] [--prune]
 *
 * For each worker: an accepted enrollment.submitted event (its events row
 * and offset), the coverage it takes, the quota slot and a registration op
 * whose item is built by item_registration from the event, as consume does;
 * then batches of 500 made by item_batch_body, as push does, each answered
 * "registered" with a kpj, and the outbox emptied as publish would. Only the
 * journal's own functions write, so the file has the daemon's schema,
 * indexes and row sizes; NIKs and event ids are written in ascending order,
 * which makes filling fast (the daemon writes them in arrival order); the
 * NIKs are of region 6409 and the offsets of a topic "bench.fill", which the
 * bench's own events never use.
 * --age-days D writes everything as if it had happened D days ago (the
 * pruning test starts the daemon on such a journal). --prune then prunes as
 * if the 24 h and retention windows had passed, and prints the live bytes
 * per worker. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "item.h"
#include "journal.h"

#define TXN_EVENTS 10000
#define BATCH      500

struct fill {
        struct journal *j;
        struct journal_op ops[BATCH];
        char *items[BATCH];
        size_t n;
        int64_t after;
};

static int take(const struct journal_op *op, void *opaque)
{
        struct fill *f = opaque;
        f->ops[f->n] = *op;
        f->items[f->n] = strndup(op->item, op->item_len);
        f->ops[f->n].item = f->items[f->n];
        f->ops[f->n].nik = f->ops[f->n].program = f->ops[f->n].event_id = NULL;
        f->after = op->seq;
        f->n++;
        return 0;
}

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                   char **body, size_t *len)
{
        struct item_part parts[BATCH];
        struct fill *f = opaque;
        for (size_t i = 0; i < n; i++)
                parts[i] = (struct item_part){ops[i].reg_seq, NULL, ops[i].item,
                                              ops[i].item_len};
        return item_batch_body(journal_id(f->j), id, false, parts, n, body, len);
}

/* seen[0] counts the messages, seen[1] is the last one's position. */
static int drop_out(int64_t pos, const struct journal_out *o, void *opaque)
{
        int64_t *seen = opaque;
        (void)o;
        seen[0]++;
        seen[1] = pos;
        return 0;
}

/* Batches, answers and publishes every queued op. */
static int push_all(struct fill *f)
{
        struct journal_item_result res[BATCH];
        char kpj[BATCH][16];
        int64_t seen[2];
        int64_t id;
        int rc;

        for (;;) {
                f->n = 0;
                rc = journal_ops_unbatched(f->j, f->after, BATCH, take, f);
                if (rc <= 0)
                        return rc;
                rc = journal_batch_create(f->j, JOURNAL_OP_REGISTER, f->ops, f->n,
                                          compose, f, &id);
                for (size_t i = 0; rc == 0 && i < f->n; i++) {
                        snprintf(kpj[i], sizeof(kpj[i]), "%011lld",
                                 (long long)(25000000000LL + f->ops[i].seq));
                        res[i] = (struct journal_item_result){
                            .seq = f->ops[i].seq,
                            .status = RESULT_REGISTERED,
                            .kpj = kpj[i],
                            .out = {.topic = "enrollment.results",
                                    .value = "{}",
                                    .value_len = 2}};
                }
                if (rc == 0)
                        rc = journal_batch_finish(f->j, id, JOURNAL_BATCH_DONE, NULL, res,
                                                  f->n);
                for (size_t i = 0; i < f->n; i++)
                        free(f->items[i]);
                seen[0] = seen[1] = 0;
                if (rc == 0)
                        rc = journal_outbox_fetch(f->j, 0, 2 * BATCH, drop_out, seen);
                if (rc > 0)
                        rc = journal_outbox_delete_through(f->j, seen[1], seen[0]);
                if (rc < 0)
                        return rc;
        }
}

static void worker(struct event *ev, char *name, size_t name_size,
                   const struct conf_program *p, long long i)
{
        int days = (int)(i / 9999), serial = (int)(i % 9999) + 1;
        int dd = days % 28 + 1, mm = days / 28 % 12 + 1, yy = 60 + days / 336 % 40;

        memset(ev, 0, sizeof(*ev));
        snprintf(ev->event_id, sizeof(ev->event_id), "fill:2025-01-06:%010lld", i);
        ev->type = EVENT_SUBMITTED;
        snprintf(ev->occurred_at, sizeof(ev->occurred_at), "2025-01-06T08:15:00+08:00");
        snprintf(ev->portal, sizeof(ev->portal), "fill");
        snprintf(ev->program, sizeof(ev->program), "%s", p->id);
        /* region 6409, which the bench's events never use: no overlap */
        snprintf(ev->nik, sizeof(ev->nik), "6409%02d%02d%02d%02d%04d", (int)(i % 7) + 1,
                 dd, mm, yy, serial);
        snprintf(name, name_size, "Pekerja Nomor %lld", i);
        ev->name = name;
        snprintf(ev->birth_date, sizeof(ev->birth_date), "19%02d-%02d-%02d", yy, mm, dd);
        ev->sex = 'M';
        snprintf(ev->phone, sizeof(ev->phone), "+628123456789");
        ev->occupation = "penjahit";
        ev->disability = 1;
}

int main(int argc, char **argv)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;
        struct fill f = {0};
        struct event ev;
        char name[64];
        long long n;
        int rc;

        bool prune = false, bad = argc < 3;
        long long age_days = 0;
        for (int i = 3; i < argc; i++) {
                if (strcmp(argv[i], "--prune") == 0)
                        prune = true;
                else if (strcmp(argv[i], "--age-days") == 0 && i + 1 < argc)
                        age_days = atoll(argv[++i]);
                else
                        bad = true;
        }
        if (bad || (n = atoll(argv[2])) < 0 || age_days < 0) {
                fprintf(stderr,
                        "usage: bpjs-journal-fill CONFIG N [--age-days D] [--prune]\n");
                return 2;
        }
        if (age_days)
                clock_set_fake(clock_now_ms() - age_days * 86400000LL);
        if (conf_load(argv[1], 0, &c, err) < 0 || c->n_programs == 0) {
                fprintf(stderr, "%s\n", c ? "no programmes" : err);
                return 2;
        }
        if (journal_open(c->journal.path, JOURNAL_RECOVER, &f.j, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        const struct conf_program *p = &c->programs[0];
        int64_t now = clock_now_ms();
        rc = 0;
        /* one consumed batch of TXN_EVENTS records at a time, each with its
         * own copies (the event is made anew for every worker) */
        struct filled {
                char event_id[EVENT_ID_MAX + 1], nik[NIK_LEN + 1];
                char *item;
        } *kept = calloc(TXN_EVENTS, sizeof(*kept));
        struct journal_record *recs = calloc(TXN_EVENTS, sizeof(*recs));
        size_t n_recs = 0;
        if (!kept || !recs)
                rc = -ENOMEM;
        for (long long i = 0; rc == 0 && i < n; i++) {
                struct filled *k = &kept[n_recs];
                size_t len = 0;
                worker(&ev, name, sizeof(name), p, i);
                snprintf(k->event_id, sizeof(k->event_id), "%s", ev.event_id);
                snprintf(k->nik, sizeof(k->nik), "%s", ev.nik);
                rc = item_registration(&ev, p, p->start_month, &k->item, &len);
                recs[n_recs++] = (struct journal_record){
                    .event_id = k->event_id,
                    .nik = k->nik,
                    .program = p->id,
                    .type = EVENT_SUBMITTED,
                    .status = RESULT_CONFIRMED,
                    .covered_by = p->id,
                    .topic = "bench.fill", /* not a topic the daemon reads */
                    .partition = 0,
                    .offset = i,
                    .at_ms = now,
                    .action = DECIDE_REGISTER,
                    .start_month = p->start_month,
                    .end_month = p->end_month,
                    .item = k->item,
                    .item_len = len,
                };
                if (rc == 0 && (i + 1 == n || n_recs == TXN_EVENTS)) {
                        struct journal_facts none = {0};
                        struct journal_outcome o = {recs, n_recs, NULL, 0, 0};
                        rc = journal_consume_begin(f.j, &none);
                        if (rc == 0)
                                rc = journal_consume_commit(f.j, &o);
                        for (size_t r = 0; r < n_recs; r++) {
                                free(kept[r].item);
                                kept[r].item = NULL;
                        }
                        n_recs = 0;
                        if (rc == 0)
                                rc = push_all(&f);
                        if (rc == 0 && (i + 1) % 1000000 == 0)
                                fprintf(stderr, "%lld workers\n", i + 1);
                }
        }
        for (size_t r = 0; r < n_recs; r++)
                free(kept[r].item);
        free(kept);
        free(recs);
        clock_set_fake(0);
        if (rc == 0 && prune) {
                int64_t pruned[2], total[2] = {0, 0}, later = clock_now_ms() + 1;
                while ((rc = journal_prune(f.j, later, later, 4, 1000, pruned)) >= 0) {
                        total[0] += pruned[0];
                        total[1] += pruned[1];
                        if (rc == 0)
                                break;
                }
                if (rc > 0)
                        rc = 0;
                fprintf(stderr, "pruned %lld bodies, %lld events\n", (long long)total[0],
                        (long long)total[1]);
        }
        int64_t used = 0, file = 0;
        if (rc >= 0)
                rc = journal_space(f.j, &used, &file);
        if (rc < 0)
                fprintf(stderr, "%s\n", journal_errmsg(f.j));
        else
                printf("workers %lld used_bytes %lld file_bytes %lld\n", n,
                       (long long)used, (long long)file);
        journal_close(f.j);
        conf_free(c);
        return rc < 0 ? 1 : 0;
}
