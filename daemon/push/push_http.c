/* push: requests and responses. Classifies what curl and the endpoint
 * said (push_classify), starts due batches on curl's multi interface (a
 * slot each: the body, the signed headers, the TLS and proxy options),
 * reads each response into its slot's buffer with its Retry-After, and
 * releases the slot after. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "item.h"
#include "journal.h"
#include "log.h"
#include "push_int.h"
#include "safetext.h"
#include "sign.h"

#define MAX_RESPONSE (2 * 1024 * 1024)

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

static void batch_name(const struct push *p, int64_t id, char out[NAME_SIZE])
{
        item_batch_name(journal_id(p->journal), id, out);
}

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
        int urc = journal_batch_update(p->journal, b->id, JOURNAL_BATCH_INFLIGHT,
                                       s->attempts, b->next_at, b->last_error);
        if (urc) {
                if (urc == -ESTALE) /* another instance claimed it first */
                        log_debug("push", "[batch %s] %s", s->name,
                                  journal_errmsg(p->journal));
                else /* not sent: it stays pending, and is tried again */
                        push_journal_failed(p, s->name, "cannot mark in flight");
                curl_slist_free_all(s->headers);
                s->headers = NULL;
                free(s->body);
                s->body = NULL;
                return urc == -ESTALE ? 0 : -EIO;
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

int push_http_start_due(struct push *p, size_t slots)
{
        struct due d = {.n = 0};
        int rc = journal_batches_due(p->journal, clock_now_ms(), slots, copy_due, &d);

        for (size_t i = 0; i < d.n; i++) {
                /* one whose lease ran out while our request is still under
                 * way (the journal was unreachable) is ours already */
                bool ours = false;
                for (int k = 0; k < MAX_SLOTS && !ours; k++)
                        ours = p->slots[k].used && p->slots[k].batch_id == d.b[i].id;
                if (rc >= 0 && !ours && start(&d.b[i], p) < 0)
                        rc = -EIO;
                free((char *)d.b[i].body);
                free((char *)d.b[i].last_error);
        }
        return rc < 0 ? rc : 0;
}

/* "curl's text: the error buffer's detail", printable ASCII only and with
 * digit runs as long as a NIK masked: the detail quotes the endpoint's
 * certificate (names), which is outside input. */
void push_http_error_text(CURLcode cc, const char *detail, char *out, size_t n)
{
        char raw[512];
        size_t len;

        if (*detail)
                snprintf(raw, sizeof(raw), "%s: %s", curl_easy_strerror(cc), detail);
        else
                snprintf(raw, sizeof(raw), "%s", curl_easy_strerror(cc));
        len = strlen(raw);
        while (len && (raw[len - 1] == '\n' || raw[len - 1] == ' '))
                len--;
        /* curl's error buffer may quote the peer's certificate: text from
         * outside, made safe by the one rule for it */
        safetext_clean(raw, len, false, out, n);
}

void push_http_release(struct push *p, struct slot *s)
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
