/* push: what an answer does. Records each item's result (settle), backs
 * off and retries (Retry-After a floor, the circuit breaker after
 * BREAKER_FAILURES transient failures in a row), splits a batch on 413,
 * stops and probes on 401 or a TLS refusal, fails a batch for good, and
 * requeues a batch whose outcome the journal could not take. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "clock.h"
#include "item.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "nikset.h"
#include "push_int.h"
#include "result.h"
#include "safetext.h"

#define AUTH_PROBE_MS 30000

const char *push_outcome_name(enum push_outcome o)
{
        static const char *const names[] = {"ok",    "retry",     "throttled", "auth",
                                            "split", "permanent", "tls"};
        return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

int64_t push_backoff_ms(int64_t base, int64_t cap, int64_t attempt, unsigned *seed)
{
        int64_t ceiling = base;

        for (int64_t i = 0; i < attempt && ceiling < cap; i++)
                ceiling *= 2;
        if (ceiling > cap)
                ceiling = cap;
        int64_t v =
            (int64_t)((double)rand_r(seed) / ((double)RAND_MAX + 1) * (double)ceiling);
        return v < 1 ? 1 : v;
}

/* The batch was sent but its outcome could not be journaled: it stays in
 * flight in the journal and goes back to pending (next_at, with error) as
 * soon as the journal writes again; its resend, same body under the same
 * key, is answered by the endpoint from its memory. */
static void requeue_add(struct push *p, const struct slot *s, int64_t next_at,
                        const char *error)
{
        if (p->n_requeue == p->cap_requeue) {
                size_t cap = p->cap_requeue ? p->cap_requeue * 2 : 16;
                struct requeue *r = realloc(p->requeue, cap * sizeof(*r));
                if (!r) {
                        log_error("push",
                                  "[batch %s] out of memory: the batch stays in flight "
                                  "until a restart resends it",
                                  s->name);
                        return;
                }
                p->requeue = r;
                p->cap_requeue = cap;
        }
        struct requeue *r = &p->requeue[p->n_requeue++];
        r->batch_id = s->batch_id;
        r->attempts = s->attempts;
        r->next_at = next_at;
        snprintf(r->name, sizeof(r->name), "%s", s->name);
        snprintf(r->error, sizeof(r->error), "%s", error);
}

/* When a requeued batch is due again: at once after a refused write (the
 * disk was full), with the backoff after anything else, so that a fault
 * that repeats is not a loop. */
static int64_t requeue_due(struct push *p, const struct slot *s)
{
        const struct conf *c = p->conf;

        if (journal_write_health(p->journal))
                return clock_now_ms();
        return clock_now_ms() + push_backoff_ms(c->bpjs.retry.initial_ms,
                                                c->bpjs.retry.max_ms, s->attempts - 1,
                                                &p->seed);
}

/* Puts requeued batches back to pending, oldest first, until a write fails. */
void push_outcome_requeue_run(struct push *p)
{
        size_t done = 0;

        while (done < p->n_requeue) {
                const struct requeue *r = &p->requeue[done];
                int rc =
                    journal_batch_update(p->journal, r->batch_id, JOURNAL_BATCH_PENDING,
                                         r->attempts, r->next_at, r->error);
                if (rc && rc != -ESTALE) {
                        push_journal_failed(p, r->name,
                                            "cannot put the batch back to pending");
                        break;
                }
                log_info("push",
                         "[batch %s] %s: its answer is asked for again under the same "
                         "key",
                         r->name, rc ? "ended meanwhile" : "pending again");
                done++;
        }
        if (!done)
                return;
        memmove(p->requeue, p->requeue + done,
                (p->n_requeue - done) * sizeof(*p->requeue));
        p->n_requeue -= done;
}

static void registration_id(const struct push *p, int64_t seq, char out[NAME_SIZE])
{
        item_registration_id(journal_id(p->journal), seq, out);
}

static enum result_status map_status(int kind, const char *s, const char **reason)
{
        if (kind == JOURNAL_OP_DEACTIVATE) {
                if (strcmp(s, "NOT_FOUND") == 0) {
                        *reason = "not_found";
                        return RESULT_DEACTIVATED;
                }
                return strcmp(s, "DEACTIVATED") == 0 ? RESULT_DEACTIVATED : 0;
        }
        if (strcmp(s, "REGISTERED") == 0)
                return RESULT_REGISTERED;
        if (strcmp(s, "ALREADY_REGISTERED") == 0)
                return RESULT_ALREADY_REGISTERED;
        if (strcmp(s, "REJECTED") == 0)
                return RESULT_FAILED;
        return 0;
}

/* Records the final result of every item; answers NULL means every item
 * failed with `error`. Returns 0, -EPROTO when the answer is not whole. */
static int settle(struct push *p, struct slot *s, const struct answers *answers,
                  int state, const char *error)
{
        struct oplist ops = {0};
        struct journal_item_result *res = NULL;
        char **values = NULL;
        char rid[NAME_SIZE];
        int rc = push_form_batch_ops(p, s->batch_id, &ops);

        if (rc < 0)
                goto out;
        res = calloc(ops.n ? ops.n : 1, sizeof(*res));
        values = calloc(ops.n ? ops.n : 1, sizeof(*values));
        if (!res || !values) {
                rc = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < ops.n; i++) {
                const struct op *o = &ops.ops[i];
                struct result r = {.batch_id = s->name};
                const char *reason = NULL;

                if (answers) {
                        registration_id(p, o->reg_seq, rid);
                        const struct answer *a = answer_find(answers, rid);
                        if (!a || !a->status ||
                            !(r.status = map_status(o->kind, a->status, &reason))) {
                                rc = -EPROTO;
                                goto out;
                        }
                        r.kpj = a->kpj;
                        if (a->error) {
                                /* this item's answer breaks the contract */
                                r.status = RESULT_FAILED;
                                reason = a->error;
                        } else if (r.status == RESULT_FAILED) {
                                reason = a->reason ? a->reason : "rejected";
                        }
                } else {
                        r.status = RESULT_FAILED;
                        reason = error;
                }
                if (r.status == RESULT_REGISTERED ||
                    r.status == RESULT_ALREADY_REGISTERED)
                        r.covered_by = o->program;
                r.reason = reason;
                if ((rc = push_final_result(p, o, &r, &values[i], &res[i])))
                        goto out;
        }
        rc = journal_batch_finish(p->journal, s->batch_id, state, error, res, ops.n);
        if (rc == 0) {
                for (size_t i = 0; i < ops.n; i++) {
                        const char *outcome[] = {result_status_name(res[i].status)};
                        metrics_add(p->metrics, METRIC_REGISTRATIONS_PUSHED, outcome, 1);
                }
                push_form_finished(p, &ops, res);
        }
out:
        for (size_t i = 0; values && i < ops.n; i++)
                free(values[i]);
        free(values);
        free(res);
        push_form_oplist_free(&ops);
        return rc;
}

int push_final_result(const struct push *p, const struct op *o, struct result *r,
                      char **value, struct journal_item_result *res)
{
        size_t len = 0;

        r->event_id = o->event_id;
        r->program = o->program;
        r->nik = o->nik;
        r->at_ms = clock_now_ms();
        *value = result_encode(r, &len);
        if (!*value)
                return -ENOMEM;
        *res = (struct journal_item_result){
            .seq = o->seq,
            .status = r->status,
            .kpj = r->kpj,
            .reason = r->reason,
            .out = {.topic = p->conf->kafka.results_topic,
                    .key = o->nik,
                    .key_len = strlen(o->nik),
                    .value = *value,
                    .value_len = len},
        };
        return 0;
}

#define BREAKER_FAILURES 5

/* The circuit breaker: after BREAKER_FAILURES transient failures in a row the
 * endpoint is left alone for retry.max_ms, then probed with one request. */
static void breaker_record(struct push *p, bool ok)
{
        if (ok) {
                if (p->breaker_open)
                        log_notice("push", "the endpoint answers again: circuit closed");
                p->failures = 0;
                p->breaker_open = false;
                return;
        }
        if (++p->failures < BREAKER_FAILURES)
                return;
        p->breaker_until = clock_mono_ms() + p->conf->bpjs.retry.max_ms;
        if (!p->breaker_open)
                log_warning("push",
                            "%d failures in a row: circuit open, the endpoint is probed "
                            "every %lld ms; events are still consumed and journaled",
                            p->failures, (long long)p->conf->bpjs.retry.max_ms);
        p->breaker_open = true;
}

static void retry_later(struct push *p, struct slot *s, enum push_outcome o,
                        const char *error)
{
        const struct conf *c = p->conf;
        int64_t delay = push_backoff_ms(c->bpjs.retry.initial_ms, c->bpjs.retry.max_ms,
                                        s->attempts - 1, &p->seed);

        if (o == PUSH_THROTTLED && s->retry_after_ms > delay)
                delay = s->retry_after_ms; /* Retry-After is a floor */
        if (o == PUSH_AUTH)
                delay = p->auth_until - clock_mono_ms();
        else if (o == PUSH_TLS)
                delay = p->tls_until - clock_mono_ms();
        else
                breaker_record(p, false);
        if (o != PUSH_AUTH && o != PUSH_TLS && c->bpjs.retry.max_attempts &&
            s->attempts >= c->bpjs.retry.max_attempts) {
                char why[256];
                snprintf(why, sizeof(why), "gave up after %lld attempts: %s",
                         (long long)s->attempts, error);
                log_error("push", "[batch %s attempt %lld] %s", s->name,
                          (long long)s->attempts, why);
                if (settle(p, s, NULL, JOURNAL_BATCH_FAILED, why)) {
                        push_journal_failed(p, s->name, "cannot record failure");
                        requeue_add(p, s, requeue_due(p, s), error);
                }
                return;
        }
        metrics_add(p->metrics, METRIC_RETRIES, NULL, 1);
        {
                const struct log_field batch_field[] = {{"BPJS_BATCH", s->name}};
                LOG_FIELDS(LOG_LVL_WARNING, "push", batch_field, 1,
                           "[batch %s attempt %lld] %s; next attempt in %lld ms", s->name,
                           (long long)s->attempts, error, (long long)delay);
        }
        /* after a TLS refusal the batch is due at once and held back by
         * tls_until instead, so that a reload (push_reconfigure) can probe
         * without waiting for the slow interval */
        if (journal_batch_update(p->journal, s->batch_id, JOURNAL_BATCH_PENDING,
                                 s->attempts,
                                 clock_now_ms() + (o == PUSH_TLS ? 0 : delay), error)) {
                push_journal_failed(p, s->name, "cannot record retry");
                requeue_add(p, s, clock_now_ms() + (o == PUSH_TLS ? 0 : delay), error);
        }
}

/* 413: the batch's items go into two new batches (new keys: the old one was
 * never answered with success). Returns 0, or -E2BIG for a single item. */
static int split(struct push *p, struct slot *s)
{
        struct oplist ops = {0};
        struct journal_op *jops = NULL;
        int64_t ids[2];
        int rc = push_form_batch_ops(p, s->batch_id, &ops);

        if (rc >= 0 && ops.n < 2)
                rc = -E2BIG;
        if (rc >= 0) {
                jops = calloc(ops.n, sizeof(*jops));
                rc = jops ? 0 : -ENOMEM;
        }
        for (size_t i = 0; rc == 0 && i < ops.n; i++) {
                jops[i].seq = ops.ops[i].seq;
                jops[i].kind = ops.ops[i].kind;
        }
        if (rc == 0) {
                struct compose_ctx ctx = {p, ops.ops, jops};
                rc = journal_batch_split(p->journal, s->batch_id, jops, ops.n, ops.n / 2,
                                         push_form_compose, &ctx, ids);
        }
        if (rc == 0) {
                p->open_batches++; /* two new, one ended */
                log_warning(
                    "push",
                    "[batch %s attempt %lld] the endpoint found %zu items too many "
                    "(HTTP 413): split into batches %lld and %lld",
                    s->name, (long long)s->attempts, ops.n, (long long)ids[0],
                    (long long)ids[1]);
        } else if (rc != -E2BIG) {
                push_journal_failed(p, s->name, "cannot split");
        }
        free(jops);
        push_form_oplist_free(&ops);
        return rc;
}

static void finished(struct push *p, struct slot *s, CURLcode cc)
{
        long status = 0;
        char error[384];
        struct answers answers = {0};
        size_t n = 0;
        enum push_outcome o;
        int rc;

        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        o = push_classify_detail(status, cc, s->curl_error);
        double secs = 0;
        const char *outcome[] = {push_outcome_name(o)};
        curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME, &secs);
        metrics_add(p->metrics, METRIC_REQUESTS, outcome, 1);
        metrics_observe(p->metrics, METRIC_ENDPOINT_LATENCY, NULL, secs);
        if (o == PUSH_TLS)
                push_http_error_text(cc, s->curl_error, error, sizeof(error));
        else if (cc != CURLE_OK)
                snprintf(error, sizeof(error), "%s", curl_easy_strerror(cc));
        else
                snprintf(error, sizeof(error), "endpoint answered HTTP %ld", status);
        if (cc == CURLE_OK && p->tls_code) {
                log_notice("push", "TLS to the endpoint works again: pushing resumes");
                p->tls_code = 0;
                p->tls_alerted = 0;
        }

        switch (o) {
        case PUSH_OK:
                rc = answer_parse(s->resp ? s->resp : "", s->resp_len, &answers);
                n = answers.n;
                if (rc == 0)
                        rc = settle(p, s, &answers, JOURNAL_BATCH_DONE, NULL);
                if (rc == -EPROTO) {
                        snprintf(error, sizeof(error),
                                 "HTTP 200 without a result for every item");
                        retry_later(p, s, PUSH_RETRY, error);
                } else if (rc) {
                        /* the endpoint answered; the journal could not take it.
                         * Not the endpoint's failure: no backoff, no breaker */
                        push_journal_failed(p, s->name, "cannot record results");
                        requeue_add(p, s, requeue_due(p, s),
                                    "answered, but the journal could not record it");
                } else {
                        p->auth_alerted = false;
                        breaker_record(p, true);
                        {
                                const struct log_field batch_field[] = {
                                    {"BPJS_BATCH", s->name}};
                                LOG_FIELDS(LOG_LVL_INFO, "push", batch_field, 1,
                                           "[batch %s attempt %lld] %zu results recorded",
                                           s->name, (long long)s->attempts, n);
                        }
                }
                break;
        case PUSH_AUTH:
                p->auth_until = clock_mono_ms() + AUTH_PROBE_MS;
                if (!p->auth_alerted)
                        log_error(
                            "push",
                            "[batch %s] ALERT: the endpoint refuses our signature "
                            "(HTTP 401): check bpjs.cons_id, the secret and the clock; "
                            "pushing stops and is probed every %d s",
                            s->name, AUTH_PROBE_MS / 1000);
                p->auth_alerted = true;
                retry_later(p, s, o, error);
                break;
        case PUSH_TLS:
                p->tls_until = clock_mono_ms() + AUTH_PROBE_MS;
                p->tls_code = (int)cc;
                /* once per cause: requests under way at the same moment, and
                 * every probe after, fail the same way */
                if (p->tls_alerted != (int)cc)
                        log_error("push",
                                  "[batch %s] ALERT: TLS to the endpoint is refused: %s; "
                                  "check bpjs.tls.ca_file, bpjs.tls.client_cert and "
                                  "client_key, and the endpoint's certificate (its CA, "
                                  "host name and dates); pushing stops and is probed "
                                  "every %d s or at once after a reload",
                                  s->name, error, AUTH_PROBE_MS / 1000);
                p->tls_alerted = (int)cc;
                retry_later(p, s, o, error);
                break;
        case PUSH_RETRY:
        case PUSH_THROTTLED:
                if (o == PUSH_THROTTLED && s->retry_after_capped)
                        snprintf(error, sizeof(error),
                                 "endpoint answered HTTP %ld with a Retry-After beyond "
                                 "bpjs.retry.max_ms (%lld ms), which caps it",
                                 status, (long long)s->retry_cap_ms);
                retry_later(p, s, o, error);
                break;
        case PUSH_SPLIT:
                rc = split(p, s);
                if (rc == 0)
                        break;
                if (rc != -E2BIG) {
                        requeue_add(p, s, requeue_due(p, s), "cannot split the batch");
                        break;
                }
                /* a single item too large for the endpoint fails */
                /* fall through */
        case PUSH_PERMANENT: {
                cJSON *r =
                    s->resp_len ? cJSON_ParseWithLength(s->resp, s->resp_len) : NULL;
                /* the endpoint's text, masked and escaped where it enters */
                const char *msg = safetext_json_text(
                    cJSON_GetObjectItemCaseSensitive(r, "metaData"), "message");
                char why[300];
                snprintf(why, sizeof(why), "%s%s%s", error, msg ? ": " : "",
                         msg ? msg : "");
                cJSON_Delete(r);
                log_error("push",
                          "[batch %s attempt %lld] permanent failure: %s; the batch "
                          "is kept for replay",
                          s->name, (long long)s->attempts, why);
                if (settle(p, s, NULL, JOURNAL_BATCH_FAILED, why)) {
                        push_journal_failed(p, s->name, "cannot record failure");
                        requeue_add(p, s, requeue_due(p, s), why);
                }
                break;
        }
        }
        answers_free(&answers);
}

void push_outcome_reap(struct push *p)
{
        CURLMsg *m;
        int left;

        while ((m = curl_multi_info_read(p->multi, &left))) {
                struct slot *s = NULL;
                if (m->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
                CURLcode cc = m->data.result;
                finished(p, s, cc);
                push_http_release(p, s);
        }
}
