/* consume_batch: a consumed batch, parsed, decided in memory and journaled
 * in the journal's two calls (docs/architecture.md, "The journal's
 * interface"). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consume_int.h"
#include "item.h"
#include "log.h"
#include "nik.h"

#define DLQ_HEADERS                                                                      \
        "reason%c%s%cdetail%c%s%csource_topic%c%s%csource_partition%c%d%csource_offset%" \
        "c%lld%c"

/* The dead-letter headers, name\0value\0 pairs, in the batch's pool at
 * their own length (the source topic's name is the configuration's, of any
 * length): the pool's copy, or NULL when out of memory. */
static const char *dlq_headers(struct textpool *texts, const struct event_error *err,
                               const rd_kafka_message_t *m, size_t *len)
{
        const char *reason = reason_name(err->reason),
                   *topic = rd_kafka_topic_name(m->rkt);
        int n = snprintf(NULL, 0, DLQ_HEADERS, 0, reason, 0, 0, err->field, 0, 0, topic,
                         0, 0, (int)m->partition, 0, 0, (long long)m->offset, 0);
        char *out = n > 0 ? textpool_alloc(texts, (size_t)n + 1) : NULL;

        if (!out)
                return NULL;
        snprintf(out, (size_t)n + 1, DLQ_HEADERS, 0, reason, 0, 0, err->field, 0, 0,
                 topic, 0, 0, (int)m->partition, 0, 0, (long long)m->offset, 0);
        *len = (size_t)n;
        return out;
}

/* Grows the batch's arrays to n messages (the workers' coverage arrays are
 * kept from one batch to the next: new slots start empty). */
static int batch_reserve(struct consume *cs, size_t n)
{
        struct journal_facts *f = &cs->facts;

        if (n <= cs->cap_batch)
                return 0;
        struct held *msgs = realloc(cs->msgs, n * sizeof(*msgs));
        if (msgs)
                cs->msgs = msgs;
        void *pos = realloc(f->positions, n * sizeof(*f->positions));
        if (pos)
                f->positions = pos;
        void *ids = realloc((void *)f->event_ids, n * sizeof(char *));
        if (ids)
                f->event_ids = ids;
        void *seen = realloc(f->seen, n * sizeof(bool));
        if (seen)
                f->seen = seen;
        void *recs = realloc(cs->recs, n * sizeof(*cs->recs));
        if (recs)
                cs->recs = recs;
        struct journal_worker_facts *w = realloc(f->workers, n * sizeof(*w));
        if (w) {
                memset(w + cs->cap_batch, 0, (n - cs->cap_batch) * sizeof(*w));
                f->workers = w;
        }
        if (!msgs || !pos || !ids || !seen || !recs || !w)
                return -ENOMEM;
        cs->cap_batch = n;
        return 0;
}

/* Parses every held message and names what deciding them needs. */
static int batch_ask(struct consume *cs)
{
        struct journal_facts *f = &cs->facts;
        int rc = batch_reserve(cs, cs->n_held);

        if (rc)
                return rc;
        if (cs->conf->n_programs > cs->cap_programs) {
                void *p =
                    realloc(f->programs, cs->conf->n_programs * sizeof(*f->programs));
                if (!p)
                        return -ENOMEM;
                f->programs = p;
                cs->cap_programs = cs->conf->n_programs;
        }
        f->n_programs = cs->conf->n_programs;
        for (size_t k = 0; k < f->n_programs; k++)
                f->programs[k] = (struct journal_program_use){
                    .program = cs->conf->programs[k].id,
                    .quota = cs->conf->programs[k].quota,
                    .monthly_premium = cs->conf->programs[k].monthly_premium,
                    .budget = cs->conf->programs[k].budget,
                };
        f->n_positions = f->n_event_ids = f->n_workers = 0;
        keyset_clear(&cs->ids);
        keyset_clear(&cs->niks);
        textpool_clear(&cs->texts);
        for (size_t i = 0; i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                struct held *h = &cs->msgs[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                long r;

                h->perr = (struct event_error){0};
                rc = event_parse(m->payload ? m->payload : "", m->payload ? m->len : 0,
                                 &h->ev, &cs->texts, &h->perr);
                if (rc < -1)
                        return rc; /* out of memory: nothing refused */
                h->bad = rc != 0;
                h->prog = h->bad ? NULL : conf_program_find(cs->conf, h->ev.program);
                h->id = h->worker = -1;
                h->value = h->item = NULL;
                h->taken = false;
                for (h->pos = 0; h->pos < (long)f->n_positions; h->pos++) {
                        const struct journal_position *p = &f->positions[h->pos];
                        if (p->partition == m->partition &&
                            (p->topic == topic || strcmp(p->topic, topic) == 0))
                                break;
                }
                if (h->pos == (long)f->n_positions)
                        f->positions[f->n_positions++] = (struct journal_position){
                            .topic = topic, .partition = m->partition, .next = -1};
                if (h->ev.event_id[0]) {
                        r = keyset_put(&cs->ids, h->ev.event_id,
                                       (uint32_t)f->n_event_ids);
                        if (r < 0)
                                return (int)r;
                        if (r == (long)f->n_event_ids)
                                f->event_ids[f->n_event_ids++] = h->ev.event_id;
                        h->id = r;
                }
                if (h->prog) {
                        r = keyset_put(&cs->niks, h->ev.nik, (uint32_t)f->n_workers);
                        if (r < 0)
                                return (int)r;
                        if (r == (long)f->n_workers)
                                f->workers[f->n_workers++].nik = h->ev.nik;
                        h->worker = r;
                }
        }
        return 0;
}

static void batch_free_records(struct consume *cs)
{
        for (size_t i = 0; i < cs->n_held; i++) {
                free(cs->msgs[i].value);
                free(cs->msgs[i].item);
                cs->msgs[i].value = cs->msgs[i].item = NULL;
        }
}

/* Decides one message with the batch's facts, carries its change into
 * them, and fills its record. */
static int decide_one(struct consume *cs, struct held *h, const rd_kafka_message_t *m,
                      int64_t now, struct journal_record *rec)
{
        static const struct decide_worker nobody;
        struct journal_facts *f = &cs->facts;
        const struct conf_program *prog = h->prog;
        struct decision d = {0};
        size_t len = 0;
        int rc;

        if (h->bad) {
                d.status = RESULT_REJECTED;
                d.reason = h->perr.reason;
                d.dead_letter = true;
        } else {
                struct decide_worker *w = prog ? &f->workers[h->worker].live : NULL;
                struct journal_program_use *pu =
                    prog ? &f->programs[prog - cs->conf->programs] : NULL;
                struct decide_use use = {pu ? pu->used : 0, pu ? pu->months : 0};

                decide(&h->ev, prog, w ? w : &nobody, &use, &d);
                if (d.reason == REASON_UNKNOWN_PROGRAM) {
                        h->perr.reason = REASON_UNKNOWN_PROGRAM;
                        snprintf(h->perr.field, sizeof(h->perr.field), "program");
                }
                /* the worker's view changes with later messages: keep a copy */
                snprintf(h->covered_by, sizeof(h->covered_by), "%s",
                         d.covered_by ? d.covered_by : "");
                d.covered_by = d.covered_by ? h->covered_by : NULL;
                if (prog && (rc = decide_apply(&d, prog, w, &use)))
                        return rc;
                if (pu) {
                        pu->used = use.used;
                        pu->months = use.months;
                }
        }
        /* decide registers only in a program it knows */
        assert(prog || d.action != DECIDE_REGISTER);
        h->d = d;

        struct result res = {
            .event_id = h->ev.event_id[0] ? h->ev.event_id : NULL,
            .program = h->ev.program[0] ? h->ev.program : NULL,
            .nik = h->ev.nik[0] ? h->ev.nik : NULL,
            .status = d.status,
            .reason = d.reason ? reason_name(d.reason) : NULL,
            /* decide's detail (a not_eligible criterion), else the field */
            .detail = d.detail                      ? d.detail
                      : d.status == RESULT_REJECTED ? h->perr.field
                                                    : NULL,
            .covered_by = d.covered_by                  ? d.covered_by
                          : d.action == DECIDE_REGISTER ? prog->id
                                                        : NULL,
            .at_ms = now,
            .source_topic = rd_kafka_topic_name(m->rkt),
            .source_partition = m->partition,
            .source_offset = m->offset,
        };
        h->value = result_encode(&res, &len);
        if (!h->value)
                return -ENOMEM;
        size_t item_len = 0;
        if (d.action != DECIDE_NOTHING) {
                rc = d.action == DECIDE_REGISTER
                         ? item_registration(&h->ev, prog, d.first_month, &h->item,
                                             &item_len)
                         : item_deactivation(&h->ev, &h->item, &item_len);
                if (rc)
                        return rc;
        }
        *rec = (struct journal_record){
            .event_id = res.event_id,
            .nik = h->ev.nik,
            .program = res.program,
            .type = h->ev.type,
            .status = d.status,
            .reason = res.reason,
            .covered_by = d.covered_by,
            .topic = rd_kafka_topic_name(m->rkt),
            .partition = m->partition,
            .offset = m->offset,
            .at_ms = now,
            .action = d.action,
            .start_month = prog ? prog->start_month : 0,
            .end_month = prog ? prog->end_month : 0,
            .first_month = d.first_month,
            .last_month = d.last_month,
            .item = h->item,
            .item_len = item_len,
        };
        rec->out[rec->n_out++] = (struct journal_out){
            .topic = cs->conf->kafka.results_topic,
            .key = h->ev.nik[0] ? h->ev.nik : m->key,
            .key_len = h->ev.nik[0] ? NIK_LEN : m->key_len,
            .value = h->value,
            .value_len = len,
        };
        if (d.dead_letter) {
                size_t headers_len;
                const char *headers = dlq_headers(&cs->texts, &h->perr, m, &headers_len);
                if (!headers)
                        return -ENOMEM;
                rec->out[rec->n_out++] = (struct journal_out){
                    .topic = cs->conf->kafka.dlq_topic,
                    .key = m->key,
                    .key_len = m->key_len,
                    .value = m->payload ? m->payload : "",
                    .value_len = m->payload ? m->len : 0,
                    .headers = headers,
                    .headers_len = headers_len,
                };
        }
        return 0;
}

/* Decides every held message, in order, from the facts begin read, and
 * moves the facts with each (a partition's position, the ids seen); fills
 * the outcome. */
static int decide_batch(struct consume *cs, int64_t now, struct journal_outcome *o)
{
        struct journal_facts *f = &cs->facts;
        size_t n_recs = 0;
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                struct held *h = &cs->msgs[i];
                struct journal_position *p = &f->positions[h->pos];

                if (m->offset < p->next)
                        continue; /* journaled before: Kafka redelivered it */
                p->next = m->offset + 1;
                if (h->id >= 0 && f->seen[h->id]) {
                        log_info("consume",
                                 "[%s/%d@%lld] event %s seen before: a redelivery, "
                                 "nothing to do",
                                 rd_kafka_topic_name(m->rkt), (int)m->partition,
                                 (long long)m->offset, h->ev.event_id);
                        continue;
                }
                rc = decide_one(cs, h, m, now, &cs->recs[n_recs]);
                if (rc == 0) {
                        h->taken = true;
                        n_recs++;
                        if (h->id >= 0)
                                f->seen[h->id] = true;
                }
        }
        /* every partition of the batch had a message: each position is now
         * where the batch leaves it, at or past where begin found it */
        *o = (struct journal_outcome){
            .records = cs->recs,
            .n_records = n_recs,
            .positions = f->positions,
            .n_positions = f->n_positions,
            .consumed = (int64_t)cs->n_held,
        };
        return rc;
}

/* After the commit: the decisions' log lines and counts. */
static void batch_said(struct consume *cs)
{
        char masked[NIK_MASKED_SIZE];

        memset(cs->decided, 0, sizeof(cs->decided));
        for (size_t i = 0; i < cs->n_held; i++) {
                const rd_kafka_message_t *m = cs->held[i];
                const struct held *h = &cs->msgs[i];
                const struct decision *d = &h->d;

                if (!h->taken)
                        continue;
                if (d->status < RESULT__COUNT && d->reason < REASON__COUNT)
                        cs->decided[d->status][d->reason]++;
                if (!log_enabled(LOG_LVL_INFO))
                        continue; /* no masking for a line nobody writes */
                const struct log_field fields[] = {
                    {"BPJS_PROGRAM", h->ev.program},
                    {"BPJS_NIK", h->ev.nik[0] ? nik_mask(h->ev.nik, masked) : ""},
                    {"BPJS_EVENT_ID", h->ev.event_id},
                    {"BPJS_STATUS", result_status_name(d->status)},
                    {"BPJS_REASON", d->reason ? reason_name(d->reason) : ""},
                };
                log_fields(
                    LOG_LVL_INFO, "consume", fields, 5, "[%s/%d@%lld] %s %s %s: %s%s%s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                    h->ev.event_id[0] ? h->ev.event_id : "(no id)",
                    nik_mask(h->ev.nik, masked), h->ev.program[0] ? h->ev.program : "-",
                    result_status_name(d->status), d->reason ? " " : "",
                    d->reason ? reason_name(d->reason) : "");
        }
}

int consume_batch_journal(struct consume *cs)
{
        struct journal_outcome o;
        int64_t now = clock_now_ms();
        int rc = batch_ask(cs);

        for (int attempt = 0; rc == 0 && attempt < 4; attempt++) {
                rc = journal_consume_begin(cs->journal, &cs->facts);
                if (rc)
                        break;
                rc = decide_batch(cs, now, &o);
                if (rc) {
                        journal_consume_abort(cs->journal);
                        break;
                }
                rc = journal_consume_commit(cs->journal, &o);
                if (rc != -EAGAIN)
                        break;
                batch_free_records(cs);
                for (size_t i = 0; i < cs->n_held; i++)
                        cs->msgs[i].taken = false;
        }
        if (rc == 0)
                batch_said(cs);
        batch_free_records(cs);
        return rc;
}

void consume_batch_release(struct consume *cs)
{
        for (size_t i = 0; i < cs->cap_batch; i++)
                decide_worker_release(&cs->facts.workers[i].live);
        free(cs->facts.workers);
        free(cs->facts.positions);
        free((void *)cs->facts.event_ids);
        free(cs->facts.seen);
        free(cs->facts.programs);
        free(cs->msgs);
        free(cs->recs);
        keyset_free(&cs->ids);
        keyset_free(&cs->niks);
        textpool_free(&cs->texts);
}
