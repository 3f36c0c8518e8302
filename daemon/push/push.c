#include "push.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "item.h"
#include "log.h"
#include "metrics.h"
#include "answer.h"
#include "nikset.h"
#include "result.h"
#include "safetext.h"
#include "sign.h"

#define MAX_RESPONSE  (2 * 1024 * 1024)
#define AUTH_PROBE_MS 30000
#define NAME_SIZE     40
#define MAX_SLOTS     64 /* bpjs.max_in_flight's upper bound: a reload may raise it */

/* An operation copied out of the journal. */
struct op {
        int64_t seq, reg_seq;
        int kind;
        char nik[17];
        char program[65];
        char event_id[129];
        char *item;
        size_t item_len;
        char *kpj; /* NULL: none; never cut short */
};

struct slot {
        CURL *easy;
        struct curl_slist *headers;
        int64_t batch_id;
        int kind;
        int64_t attempts;
        char name[NAME_SIZE];
        char *body;
        size_t body_len;
        char *resp;
        size_t resp_len;
        int64_t retry_after_ms;  /* -1: none; else at most retry_cap_ms */
        int64_t retry_cap_ms;    /* bpjs.retry.max_ms when the request started */
        bool retry_after_capped; /* the endpoint asked for longer than that */
        bool used;
        char curl_error[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
};

struct push {
        const struct conf *conf;
        struct journal *journal;
        CURLM *multi;
        struct slot *slots;
        int n_slots, inflight;
        struct nikset blocked; /* workers with an unfinished batch */
        struct nikset seen;    /* scratch, while forming */
        int64_t open_batches;
        bool dirty, draining;
        int64_t linger_start, auth_until;
        int failures;          /* consecutive transient failures */
        int64_t breaker_until; /* circuit open: no request before this */
        bool breaker_open;
        int64_t next_reconcile;
        struct metrics *metrics;
        bool auth_alerted;
        int64_t tls_until; /* TLS refused: no request before this */
        int tls_code;      /* the curl code of the refusal; 0 while TLS works */
        int tls_alerted;   /* the curl code last alerted; 0: none */
        unsigned seed;
        char url[2][1024];
        /* batches sent whose outcome the journal could not take (a full
         * disk): still in flight there, put back to pending once it writes
         * again, and so resent under the same Idempotency-Key */
        struct requeue *requeue;
        size_t n_requeue, cap_requeue;
        int64_t journal_retry_at; /* after a failed write: the next try */
};

struct requeue {
        int64_t batch_id, attempts, next_at;
        char name[NAME_SIZE];
        char error[200];
};

#define JOURNAL_RETRY_MS 1000

/* A journal write failed. While the journal refuses writes (a full disk),
 * main says so once when that starts and once when it ends: here only at
 * debug level, not once a retry. Any other journal error is said here. */
static void journal_failed(struct push *p, const char *name, const char *what)
{
        p->journal_retry_at = clock_mono_ms() + JOURNAL_RETRY_MS;
        if (journal_write_health(p->journal))
                log_debug("push", "[batch %s] %s: %s", name, what,
                          journal_errmsg(p->journal));
        else
                log_error("push", "[batch %s] %s: %s", name, what,
                          journal_errmsg(p->journal));
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
static void requeue_run(struct push *p)
{
        size_t done = 0;

        while (done < p->n_requeue) {
                const struct requeue *r = &p->requeue[done];
                int rc =
                    journal_batch_update(p->journal, r->batch_id, JOURNAL_BATCH_PENDING,
                                         r->attempts, r->next_at, r->error);
                if (rc && rc != -ESTALE) {
                        journal_failed(p, r->name,
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


/* What curl's OpenSSL backend says when the endpoint's TLS stack refuses our
 * certificate with an alert (RFC 8446 6.2), in the handshake or, under TLS
 * 1.3, on the first read after it. Other alerts and resets stay transient. */
static const char *const tls_alerts[] = {
    "alert certificate required",
    "alert bad certificate",
    "alert unknown ca",
    "alert certificate unknown",
    "alert certificate expired",
    "alert certificate revoked",
    "alert unsupported certificate",
    "alert access denied",
};

enum push_outcome push_classify_detail(long status, int curl_code, const char *detail)
{
        switch (curl_code) {
        case CURLE_OK:
                break;
        case CURLE_PEER_FAILED_VERIFICATION: /* unknown CA, host name, expired */
        case CURLE_SSL_CACERT_BADFILE:       /* bpjs.tls.ca_file */
        case CURLE_SSL_CERTPROBLEM:          /* bpjs.tls.client_cert or client_key */
        case CURLE_SSL_CLIENTCERT:           /* the endpoint wants a certificate */
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
                return PUSH_TLS;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                for (size_t i = 0; detail && i < sizeof(tls_alerts) / sizeof(*tls_alerts);
                     i++)
                        if (strstr(detail, tls_alerts[i]))
                                return PUSH_TLS;
                return PUSH_RETRY;
        default:
                return PUSH_RETRY; /* timeout, refused, reset: transient */
        }
        switch (status) {
        case 200:
                return PUSH_OK;
        case 401:
                return PUSH_AUTH;
        case 413:
                return PUSH_SPLIT;
        case 429:
                return PUSH_THROTTLED;
        case 500:
        case 502:
        case 503:
        case 504:
                return PUSH_RETRY;
        default:
                return status >= 500 ? PUSH_RETRY : PUSH_PERMANENT;
        }
}

enum push_outcome push_classify(long status, int curl_code)
{
        return push_classify_detail(status, curl_code, NULL);
}

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

static void batch_name(const struct push *p, int64_t id, char out[NAME_SIZE])
{
        item_batch_name(journal_id(p->journal), id, out);
}

static void registration_id(const struct push *p, int64_t seq, char out[NAME_SIZE])
{
        item_registration_id(journal_id(p->journal), seq, out);
}

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

struct oplist {
        struct op *ops;
        size_t n, cap;
};

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

static void oplist_free(struct oplist *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->ops[i].item);
                free(l->ops[i].kpj);
        }
        free(l->ops);
        memset(l, 0, sizeof(*l));
}

static int collect(const struct journal_op *op, void *opaque)
{
        return oplist_add(opaque, op);
}

/* ---- forming batches ---- */

struct form {
        struct push *p;
        struct oplist list[2]; /* registrations, deactivations */
        size_t limit;
        int rc;
};

static int form_pick(const struct journal_op *op, void *opaque)
{
        struct form *f = opaque;
        struct oplist *l = &f->list[op->kind == JOURNAL_OP_DEACTIVATE];

        /* one operation per worker at a time, in decision order */
        if (nikset_has(&f->p->blocked, op->nik) || nikset_has(&f->p->seen, op->nik))
                return nikset_add(&f->p->seen, op->nik) ? (f->rc = -ENOMEM) : 0;
        if (nikset_add(&f->p->seen, op->nik))
                return f->rc = -ENOMEM;
        if (l->n < f->limit && (f->rc = oplist_add(l, op)))
                return f->rc;
        return f->list[0].n >= f->limit && f->list[1].n >= f->limit;
}

/* What compose needs: the op copies parallel to the journal_op array the
 * journal hands back (a split hands a part of it). */
struct compose_ctx {
        const struct push *p;
        const struct op *copies;
        const struct journal_op *base;
};

static int compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
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
        rc = journal_batch_create(p->journal, l->ops[0].kind, ops, l->n, compose, &ctx,
                                  &id);
        free(ops);
        if (rc) {
                journal_failed(p, "(new)", "cannot journal a batch");
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

static int form_batches(struct push *p)
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
                if (rc < 0) {
                        oplist_free(&f.list[0]);
                        oplist_free(&f.list[1]);
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
                } else {
                        p->dirty = false;
                }
                oplist_free(&f.list[0]);
                oplist_free(&f.list[1]);
                if (rc || !p->dirty)
                        break;
        }
        return rc < 0 ? rc : 0;
}

/* ---- Retry-After ---- */

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_day_names[7] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Exactly n digits at *s (advanced past them) into *v. */
static bool digits(const char **s, int n, int *v)
{
        *v = 0;
        for (int i = 0; i < n; i++, (*s)++) {
                if (**s < '0' || **s > '9')
                        return false;
                *v = *v * 10 + (**s - '0');
        }
        return true;
}

/* One of the names (matched case-sensitively, as RFC 9110 spells them). */
static bool word(const char **s, const char *const *names, int n, int *index)
{
        for (int i = 0; i < n; i++) {
                size_t len = strlen(names[i]);
                if (strncmp(*s, names[i], len) == 0) {
                        *s += len;
                        *index = i;
                        return true;
                }
        }
        return false;
}

static bool lit(const char **s, const char *text)
{
        size_t len = strlen(text);
        if (strncmp(*s, text, len) != 0)
                return false;
        *s += len;
        return true;
}

/* "HH:MM:SS" */
static bool clock_time(const char **s, int *h, int *m, int *sec)
{
        return digits(s, 2, h) && lit(s, ":") && digits(s, 2, m) && lit(s, ":") &&
               digits(s, 2, sec) && *h < 24 && *m < 60 && *sec < 61;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static bool valid_date(int y, int m, int d)
{
        static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] &&
               (m != 2 || d <= 28 || leap);
}

/* An HTTP-date, the whole of s, into seconds since the epoch. */
static bool http_date(const char *value, int64_t now_ms, int64_t *out)
{
        int wd, d, mon, y, h, mi, sec;
        const char *s;

        /* each form from the start of value, a day name first */
        if ((s = value, word(&s, long_day_names, 7, &wd) && lit(&s, ", "))) {
                /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; a two-digit year
                 * more than 50 years ahead is the century before */
                int64_t now_year = 1970 + now_ms / 1000 / 31556952;
                if (!(digits(&s, 2, &d) && lit(&s, "-") &&
                      word(&s, month_names, 12, &mon) && lit(&s, "-") &&
                      digits(&s, 2, &y) && lit(&s, " ") &&
                      clock_time(&s, &h, &mi, &sec) && lit(&s, " GMT")))
                        return false;
                int64_t full = now_year - now_year % 100 + y;
                if (full > now_year + 50)
                        full -= 100;
                y = (int)full;
        } else if ((s = value, word(&s, day_names, 7, &wd) && lit(&s, ", "))) {
                /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
                if (!(digits(&s, 2, &d) && lit(&s, " ") &&
                      word(&s, month_names, 12, &mon) && lit(&s, " ") &&
                      digits(&s, 4, &y) && lit(&s, " ") &&
                      clock_time(&s, &h, &mi, &sec) && lit(&s, " GMT")))
                        return false;
        } else if ((s = value, word(&s, day_names, 7, &wd) && lit(&s, " "))) {
                /* asctime: Sun Nov  6 08:49:37 1994 (day padded with a space) */
                if (!word(&s, month_names, 12, &mon) || !lit(&s, " "))
                        return false;
                if (*s == ' ') {
                        s++;
                        if (!digits(&s, 1, &d))
                                return false;
                } else if (!digits(&s, 2, &d)) {
                        return false;
                }
                if (!(lit(&s, " ") && clock_time(&s, &h, &mi, &sec) && lit(&s, " ") &&
                      digits(&s, 4, &y)))
                        return false;
        } else {
                return false;
        }
        if (*s || !valid_date(y, mon + 1, d))
                return false;
        *out = days_from_civil(y, mon + 1, d) * 86400 + h * 3600 + mi * 60 + sec;
        return true;
}

int64_t push_retry_after_ms(const char *value, int64_t now_ms, int64_t cap_ms)
{
        const char *s = value, *end;
        int64_t ms = 0, when;

        if (!s || cap_ms < 0)
                return -1;
        s += strspn(s, " \t");
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if (end == s)
                return -1;
        if (strspn(s, "0123456789") == (size_t)(end - s)) {
                /* delta-seconds: saturate once past the cap, never overflow */
                for (const char *c = s; c < end && ms <= cap_ms; c++) {
                        int64_t d = (*c - '0') * 1000;
                        if (ms > (INT64_MAX - d) / 10)
                                return cap_ms;
                        ms = ms * 10 + d;
                }
                return ms < cap_ms ? ms : cap_ms;
        }
        char date[64];
        if ((size_t)(end - s) >= sizeof(date))
                return -1;
        memcpy(date, s, (size_t)(end - s));
        date[end - s] = '\0';
        if (!http_date(date, now_ms, &when))
                return -1;
        /* years have 4 digits: when * 1000 is far from overflowing */
        if (__builtin_sub_overflow(when * 1000, now_ms, &ms))
                return now_ms < 0 ? cap_ms : 0;
        if (ms < 0)
                return 0;
        return ms < cap_ms ? ms : cap_ms;
}

/* ---- sending ---- */

/* Forgets whatever an earlier request or an earlier response of this one
 * (a 1xx, a proxy's answer to CONNECT) left: every response is read into an
 * empty buffer (NULL, or NUL-terminated at resp_len 0: release() frees it
 * after each request), with no Retry-After yet. */
static void response_reset(struct slot *s)
{
        s->resp_len = 0;
        if (s->resp)
                s->resp[0] = '\0';
        s->retry_after_ms = -1;
        s->retry_after_capped = false;
}

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
        struct slot *s = opaque;
        size_t len = size * n;
        char *r;

        if (s->resp_len + len > MAX_RESPONSE)
                return 0; /* abort: a response this large is not the contract's */
        r = realloc(s->resp, s->resp_len + len + 1);
        if (!r)
                return 0;
        memcpy(r + s->resp_len, data, len);
        s->resp = r;
        s->resp_len += len;
        s->resp[s->resp_len] = '\0';
        return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *opaque)
{
        struct slot *s = opaque;
        size_t len = size * n;

        /* a status line starts a response: nothing of an earlier one counts */
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                response_reset(s);
                return len;
        }
        if (len < 12 || strncasecmp(data, "Retry-After:", 12) != 0)
                return len;
        char *v = strndup(data + 12, len - 12);
        if (!v)
                return 0;
        v[strcspn(v, "\r\n")] = '\0';
        /* garbage is no Retry-After: the backoff alone decides */
        int64_t now = clock_now_ms(), cap = s->retry_cap_ms;
        s->retry_after_ms = push_retry_after_ms(v, now, cap);
        s->retry_after_capped = s->retry_after_ms == cap && cap < INT64_MAX &&
                                push_retry_after_ms(v, now, cap + 1) > cap;
        free(v);
        return len;
}

static int start(const struct journal_batch *b, void *opaque)
{
        struct push *p = opaque;
        const struct conf *c = p->conf;
        struct slot *s = NULL;
        char ts[24], sig[SIGN_SIZE], h[256];

        for (int i = 0; i < MAX_SLOTS; i++) {
                if (p->slots[i].used && p->slots[i].batch_id == b->id)
                        return 0; /* already under way */
                if (!p->slots[i].used && !s)
                        s = &p->slots[i];
        }
        if (!s)
                return 1;
        s->body = malloc(b->body_len ? b->body_len : 1);
        if (!s->body)
                return -ENOMEM;
        memcpy(s->body, b->body, b->body_len);
        s->body_len = b->body_len;
        s->batch_id = b->id;
        s->kind = b->kind;
        s->attempts = b->attempts + 1;
        response_reset(s);
        s->retry_cap_ms = c->bpjs.retry.max_ms;
        batch_name(p, b->id, s->name);

        snprintf(ts, sizeof(ts), "%lld", (long long)(clock_now_ms() / 1000));
        if (sign_compute(c->bpjs.cons_id, ts, c->bpjs.secret, c->bpjs.secret_len, sig,
                         sizeof(sig))) {
                free(s->body);
                return -EIO;
        }
        s->headers =
            curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
        snprintf(h, sizeof(h), "X-Cons-Id: %s", c->bpjs.cons_id);
        s->headers = curl_slist_append(s->headers, h);
        snprintf(h, sizeof(h), "X-Timestamp: %s", ts);
        s->headers = curl_slist_append(s->headers, h);
        snprintf(h, sizeof(h), "X-Signature: %s", sig);
        s->headers = curl_slist_append(s->headers, h);
        snprintf(h, sizeof(h), "Idempotency-Key: %s", s->name);
        s->headers = curl_slist_append(s->headers, h);
        s->headers = curl_slist_append(s->headers, "Expect:");
        explicit_bzero(sig, sizeof(sig));

        if (!s->easy)
                s->easy = curl_easy_init();
        else
                curl_easy_reset(s->easy);
        CURL *e = s->easy;
        s->curl_error[0] = '\0';
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_error);
        curl_easy_setopt(e, CURLOPT_URL, p->url[b->kind == JOURNAL_OP_DEACTIVATE]);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(e, CURLOPT_PRIVATE, s);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->bpjs.timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->bpjs.connect_timeout_ms);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        /* no CA store kept across connections: a reload, or a CA file fixed
         * in place, takes effect with the next connection */
        curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
        /* a proxy only from bpjs.proxy: "" turns http_proxy, https_proxy and
         * ALL_PROXY off, and NOPROXY "" makes NO_PROXY exempt no host */
        curl_easy_setopt(e, CURLOPT_PROXY, c->bpjs.proxy);
        curl_easy_setopt(e, CURLOPT_NOPROXY, "");
        if (*c->bpjs.tls.ca_file)
                curl_easy_setopt(e, CURLOPT_CAINFO, c->bpjs.tls.ca_file);
        if (*c->bpjs.tls.client_cert) {
                curl_easy_setopt(e, CURLOPT_SSLCERT, c->bpjs.tls.client_cert);
                curl_easy_setopt(e, CURLOPT_SSLKEY, c->bpjs.tls.client_key);
        }
        if (journal_batch_update(p->journal, b->id, JOURNAL_BATCH_INFLIGHT, s->attempts,
                                 b->next_at, b->last_error)) {
                /* not sent: it stays pending, and is tried again */
                journal_failed(p, s->name, "cannot mark in flight");
                curl_slist_free_all(s->headers);
                s->headers = NULL;
                free(s->body);
                return -EIO;
        }
        curl_multi_add_handle(p->multi, e);
        s->used = true;
        p->inflight++;
        log_debug("push", "[batch %s attempt %lld] sending %zu bytes", s->name,
                  (long long)s->attempts, s->body_len);
        return 0;
}

/* Copies of due batches: start() writes to the journal, which must not
 * happen while the SELECT that finds them is still stepping (another
 * connection's commit in that moment makes the write fail at once). */
struct due {
        struct journal_batch b[MAX_SLOTS];
        size_t n;
};

static int copy_due(const struct journal_batch *b, void *opaque)
{
        struct due *d = opaque;
        struct journal_batch *c = &d->b[d->n];
        char *body = malloc(b->body_len ? b->body_len : 1);
        char *err = b->last_error ? strdup(b->last_error) : NULL;

        if (!body || (b->last_error && !err)) {
                free(body);
                free(err);
                return -ENOMEM;
        }
        memcpy(body, b->body, b->body_len);
        *c = *b;
        c->body = body;
        c->last_error = err;
        return ++d->n == MAX_SLOTS;
}

static int start_due(struct push *p, size_t slots)
{
        struct due d = {.n = 0};
        int rc = journal_batches_due(p->journal, clock_now_ms(), slots, copy_due, &d);

        for (size_t i = 0; i < d.n; i++) {
                if (rc >= 0 && start(&d.b[i], p) < 0)
                        rc = -EIO;
                free((char *)d.b[i].body);
                free((char *)d.b[i].last_error);
        }
        return rc < 0 ? rc : 0;
}

/* ---- answers ---- */

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
        int rc = journal_batch_ops(p->journal, s->batch_id, collect, &ops);

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
                struct result r = {.event_id = o->event_id,
                                   .program = o->program,
                                   .nik = o->nik,
                                   .batch_id = s->name,
                                   .at_ms = clock_now_ms()};
                const char *reason = NULL;
                size_t len = 0;

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
                values[i] = result_encode(&r, &len);
                if (!values[i]) {
                        rc = -ENOMEM;
                        goto out;
                }
                res[i] = (struct journal_item_result){
                    .seq = o->seq,
                    .status = r.status,
                    .kpj = r.kpj,
                    .reason = reason,
                    .out = {.topic = p->conf->kafka.results_topic,
                            .key = o->nik,
                            .key_len = strlen(o->nik),
                            .value = values[i],
                            .value_len = len},
                };
        }
        rc = journal_batch_finish(p->journal, s->batch_id, state, error, res, ops.n);
        if (rc == 0) {
                for (size_t i = 0; i < ops.n; i++) {
                        const char *outcome[] = {result_status_name(res[i].status)};
                        metrics_add(p->metrics, METRIC_REGISTRATIONS_PUSHED, outcome, 1);
                }
                for (size_t i = 0; i < ops.n; i++)
                        nikset_del(&p->blocked, ops.ops[i].nik);
                p->open_batches--;
                p->dirty = true;
        }
out:
        for (size_t i = 0; values && i < ops.n; i++)
                free(values[i]);
        free(values);
        free(res);
        oplist_free(&ops);
        return rc;
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
                        journal_failed(p, s->name, "cannot record failure");
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
                journal_failed(p, s->name, "cannot record retry");
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
        int rc = journal_batch_ops(p->journal, s->batch_id, collect, &ops);

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
                                         compose, &ctx, ids);
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
                journal_failed(p, s->name, "cannot split");
        }
        free(jops);
        oplist_free(&ops);
        return rc;
}

/* "curl's text: the error buffer's detail", printable ASCII only and with
 * digit runs as long as a NIK masked: the detail quotes the endpoint's
 * certificate (names), which is outside input. */
static void tls_error_text(CURLcode cc, const char *detail, char *out, size_t n)
{
        size_t len;

        if (*detail)
                snprintf(out, n, "%s: %s", curl_easy_strerror(cc), detail);
        else
                snprintf(out, n, "%s", curl_easy_strerror(cc));
        len = strlen(out);
        while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
                out[--len] = '\0';
        for (char *c = out; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        *c = '?';
        log_scrub(out);
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
                tls_error_text(cc, s->curl_error, error, sizeof(error));
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
                        journal_failed(p, s->name, "cannot record results");
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
                        journal_failed(p, s->name, "cannot record failure");
                        requeue_add(p, s, requeue_due(p, s), why);
                }
                break;
        }
        }
        answers_free(&answers);
}

static void release(struct push *p, struct slot *s)
{
        curl_multi_remove_handle(p->multi, s->easy);
        curl_slist_free_all(s->headers);
        s->headers = NULL;
        free(s->body);
        s->body = NULL;
        /* nothing of this answer outlives it */
        free(s->resp);
        s->resp = NULL;
        s->resp_len = 0;
        s->used = false;
        p->inflight--;
}

static void reap(struct push *p)
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
                release(p, s);
        }
}

static int load_unfinished(const struct journal_batch *b, void *opaque)
{
        struct push *p = opaque;
        struct oplist ops = {0};
        int rc = journal_batch_ops(p->journal, b->id, collect, &ops);

        for (size_t i = 0; rc >= 0 && i < ops.n; i++)
                nikset_add(&p->blocked, ops.ops[i].nik);
        oplist_free(&ops);
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

        if (now < p->next_reconcile)
                return;
        p->next_reconcile = now + 1000;
        if (journal_batches_open(p->journal, &open) || open == p->open_batches)
                return;
        log_notice("push",
                   "%lld open batches in the journal, %lld known: re-reading them "
                   "(an operator's replay)",
                   (long long)open, (long long)p->open_batches);
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
                /* after a failed journal write, writes are tried again once a
                 * second (answers that arrive are still recorded at once) */
                if (now >= p->journal_retry_at) {
                        requeue_run(p);
                        rc = form_batches(p);
                        if (rc == 0 && slots > 0 && now >= p->auth_until &&
                            now >= p->tls_until)
                                rc = start_due(p, (size_t)slots);
                }
        }
        curl_multi_perform(p->multi, &running);
        reap(p);
        if (p->inflight && timeout_ms > 0) {
                curl_multi_poll(p->multi, NULL, 0, timeout_ms, NULL);
                curl_multi_perform(p->multi, &running);
                reap(p);
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
                        release(p, &p->slots[i]);
                if (p->slots[i].easy)
                        curl_easy_cleanup(p->slots[i].easy);
                free(p->slots[i].resp);
        }
        free(p->slots);
        if (p->multi)
                curl_multi_cleanup(p->multi);
        nikset_free(&p->blocked);
        nikset_free(&p->seen);
        free(p->requeue);
        free(p);
}
