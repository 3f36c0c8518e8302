/* push: the stage's API (push.h): opening on the journal's unfinished
 * batches, the loop's step, reload, drain, close and the state queries.
 * What each step does lives beside it in daemon/push/ (see push_int.h). */
#include "push.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "nikset.h"
#include "push_int.h"

#define JOURNAL_RETRY_MS 1000

/* A journal write failed. While the journal refuses writes (a full disk),
 * main says so once when that starts and once when it ends: here only at
 * debug level, not once a retry. Any other journal error is said here. */
void push_journal_failed(struct push *p, const char *name, const char *what)
{
        p->journal_retry_at = clock_mono_ms() + JOURNAL_RETRY_MS;
        if (journal_write_health(p->journal))
                log_debug("push", "[batch %s] %s: %s", name, what,
                          journal_errmsg(p->journal));
        else
                log_error("push", "[batch %s] %s: %s", name, what,
                          journal_errmsg(p->journal));
}

static int load_unfinished(const struct journal_batch *b, void *opaque)
{
        struct push *p = opaque;
        struct oplist ops = {0};
        int rc = journal_batch_ops(p->journal, b->id, push_form_collect, &ops);

        for (size_t i = 0; rc >= 0 && i < ops.n; i++)
                nikset_add(&p->blocked, ops.ops[i].nik);
        push_form_oplist_free(&ops);
        p->open_batches++;
        return rc < 0 ? rc : 0;
}

int push_open(const struct conf *c, struct journal *j, struct push **out, char *err,
              size_t errsize)
{
        struct push *p = calloc(1, sizeof(*p));
        const char *base = c->bpjs.base_url;
        size_t bl = strlen(base);
        int rc;

        if (!p)
                return -ENOMEM;
        p->conf = c;
        p->journal = j;
        p->seed = (unsigned)clock_mono_ms() ^ (unsigned)getpid();
        p->dirty = true;
        while (bl && base[bl - 1] == '/')
                bl--;
        snprintf(p->url[0], sizeof(p->url[0]), "%.*s/v1/registrations", (int)bl, base);
        snprintf(p->url[1], sizeof(p->url[1]), "%.*s/v1/deactivations", (int)bl, base);
        p->n_slots = (int)c->bpjs.max_in_flight;
        p->slots = calloc(MAX_SLOTS, sizeof(*p->slots));
        p->multi = curl_multi_init();
        if (!p->slots || !p->multi) {
                push_close(p);
                return -ENOMEM;
        }
        curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_SLOTS);
        curl_multi_setopt(p->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        rc = journal_batches_unfinished(j, load_unfinished, p);
        if (rc < 0) {
                snprintf(err, errsize, "journal: %s", journal_errmsg(j));
                push_close(p);
                return rc;
        }
        *out = p;
        return 0;
}

void push_reconfigure(struct push *p, const struct conf *c)
{
        p->conf = c;
        p->n_slots = (int)c->bpjs.max_in_flight;
        p->dirty = true;
        /* a reload may carry the fix (bpjs.tls.*): probe at once */
        if (p->tls_code)
                p->tls_until = 0;
}

void push_notify(struct push *p)
{
        p->dirty = true;
}

/* An operator's replay (bpjs-syncctl) puts batches back in the journal
 * behind the daemon's back: when the journal holds more or fewer open
 * batches than this pusher knows of, it re-reads which workers they hold,
 * so that one worker's operations still go one at a time. */
static void reconcile(struct push *p)
{
        int64_t open, now = clock_mono_ms();

        if (now < p->next_reconcile && !p->reconcile_now)
                return;
        p->next_reconcile = now + 1000;
        if (journal_batches_open(p->journal, &open) ||
            (open == p->open_batches && !p->reconcile_now))
                return;
        /* another instance's batches, on a shared journal, come and go */
        LOG_AT(p->reconcile_now ? LOG_LVL_DEBUG : LOG_LVL_NOTICE, "push",
               "%lld open batches in the journal, %lld known: re-reading them "
               "(an operator's replay, or another instance's batches)",
               (long long)open, (long long)p->open_batches);
        p->reconcile_now = false;
        push_form_restart(p);
        nikset_clear(&p->blocked);
        p->open_batches = 0;
        if (journal_batches_unfinished(p->journal, load_unfinished, p) < 0)
                log_error("push", "cannot read open batches: %s",
                          journal_errmsg(p->journal));
        p->dirty = true;
}

int push_run(struct push *p, int timeout_ms)
{
        int running, rc = 0;

        if (!p->draining) {
                int64_t now = clock_mono_ms();
                /* an open circuit lets one probe through once it has cooled */
                int slots = p->breaker_open ? (now >= p->breaker_until && !p->inflight)
                                            : p->n_slots - p->inflight;
                reconcile(p);
                /* the leases of our batches in flight (a shared journal) */
                if (p->inflight && now >= p->renew_at) {
                        if (journal_batches_renew(p->journal))
                                log_warning("push",
                                            "cannot renew the leases of batches "
                                            "in flight: %s",
                                            journal_errmsg(p->journal));
                        p->renew_at = now + journal_renew_ms(p->journal);
                }
                /* after a failed journal write, writes are tried again once a
                 * second (answers that arrive are still recorded at once) */
                if (now >= p->journal_retry_at) {
                        push_outcome_requeue_run(p);
                        rc = push_form_batches(p);
                        if (rc == 0 && slots > 0 && now >= p->auth_until &&
                            now >= p->tls_until)
                                rc = push_http_start_due(p, (size_t)slots);
                }
        }
        curl_multi_perform(p->multi, &running);
        push_outcome_reap(p);
        if (p->inflight && timeout_ms > 0) {
                curl_multi_poll(p->multi, NULL, 0, timeout_ms, NULL);
                curl_multi_perform(p->multi, &running);
                push_outcome_reap(p);
        }
        return rc;
}

void push_set_metrics(struct push *p, struct metrics *m)
{
        p->metrics = m;
}

bool push_breaker_open(const struct push *p)
{
        return p->breaker_open;
}

bool push_auth_refused(const struct push *p)
{
        return clock_mono_ms() < p->auth_until;
}

bool push_tls_refused(const struct push *p)
{
        return p->tls_code != 0;
}

int push_tls_error(const struct push *p)
{
        return p->tls_code;
}

int push_inflight(const struct push *p)
{
        return p->inflight;
}

bool push_idle(struct push *p)
{
        return p->inflight == 0 && p->open_batches == 0 && !p->dirty && !p->linger_start;
}

void push_drain(struct push *p, int timeout_ms)
{
        int64_t end = clock_mono_ms() + timeout_ms;

        p->draining = true;
        while (p->inflight && clock_mono_ms() < end)
                push_run(p, 50);
        if (p->inflight)
                log_warning("push",
                            "abandoning %d request(s) under way; they are resent "
                            "under the same key after a restart",
                            p->inflight);
}

void push_close(struct push *p)
{
        if (!p)
                return;
        for (int i = 0; p->slots && i < MAX_SLOTS; i++) {
                if (p->slots[i].used)
                        push_http_release(p, &p->slots[i]);
                if (p->slots[i].easy)
                        curl_easy_cleanup(p->slots[i].easy);
                free(p->slots[i].resp);
        }
        free(p->slots);
        if (p->multi)
                curl_multi_cleanup(p->multi);
        push_form_oplist_free(&p->queue);
        push_form_formed_free(p);
        nikset_free(&p->blocked);
        nikset_free(&p->seen);
        free(p->requeue);
        free(p);
}
