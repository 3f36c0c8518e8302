/* push: the BPJS endpoint client. Forms batches from the journal's queue of
 * operations (each batch's body is journaled before its first send and
 * resent byte-identical under the same Idempotency-Key), sends at most
 * max_in_flight at once on libcurl's multi interface, and records every
 * per-item result. Operations for one worker reach the endpoint in the
 * order they were decided: a worker with an unfinished batch waits. */
#ifndef BPJS_PUSH_H
#define BPJS_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "journal.h"

/* What an answer means for the batch (docs/endpoint.md, "Answers"). */
enum push_outcome {
        PUSH_OK = 0,    /* 200: record each item's result */
        PUSH_RETRY,     /* 5xx, timeout, reset or refused connection: back off */
        PUSH_THROTTLED, /* 429: wait at least Retry-After */
        PUSH_AUTH,      /* 401: stop, alert, probe again slowly */
        PUSH_SPLIT,     /* 413: too large */
        PUSH_PERMANENT, /* 400, 409 and anything unexpected: the batch fails */
        PUSH_TLS,       /* TLS refused: the endpoint's certificate does not verify
                           (unknown CA, host name, expired), our CA file, client
                           certificate or key is bad, or the endpoint refuses our
                           client certificate: stop, alert, probe again slowly */
};

enum push_outcome push_classify(long http_status, int curl_code);
/* The same, with curl's CURLOPT_ERRORBUFFER text (NULL: none): a handshake
 * or read error (CURLE_SSL_CONNECT_ERROR, CURLE_RECV_ERROR, CURLE_SEND_ERROR)
 * is a TLS refusal when the detail names a certificate alert from the
 * endpoint (certificate required, bad, unknown CA, expired, ...), and
 * transient otherwise. */
enum push_outcome push_classify_detail(long http_status, int curl_code,
                                       const char *detail);
const char *push_outcome_name(enum push_outcome o);
/* Capped full jitter: uniform(0, min(cap, base * 2^attempt)), at least 1 ms. */
int64_t push_backoff_ms(int64_t base, int64_t cap, int64_t attempt, unsigned *seed);
/* A Retry-After header's value (RFC 9110 section 10.2.3) as milliseconds to
 * wait from now_ms (wall clock, ms since the epoch), at most cap_ms: either
 * delta-seconds (digits only; any number of them saturates at the cap
 * without overflowing) or an HTTP-date in any of the three forms a
 * recipient must accept (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", the
 * obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
 * "Sun Nov  6 08:49:37 1994"). A date in the past is 0. Surrounding spaces
 * and tabs are allowed. Returns -1 for anything else (a sign, a fraction,
 * trailing text, an impossible date): no Retry-After at all. */
int64_t push_retry_after_ms(const char *value, int64_t now_ms, int64_t cap_ms);

struct push;

int push_open(const struct conf *c, struct journal *j, struct push **out, char *err,
              size_t errsize);
/* Takes a reloaded configuration (batch, retry and timeout settings, the
 * secret); the old one may be freed after this returns. */
void push_reconfigure(struct push *p, const struct conf *c);
/* Tells the pusher that new operations were journaled. */
void push_notify(struct push *p);
/* Forms due batches, starts due requests and handles finished ones, waiting
 * at most timeout_ms for network activity. Returns 0 or a negative errno. */
int push_run(struct push *p, int timeout_ms);
struct metrics;
/* Counts requests, outcomes, retries and latency into m (may be NULL). */
void push_set_metrics(struct push *p, struct metrics *m);
/* True while the circuit breaker holds requests back, or the endpoint
 * refuses our signature (401). */
bool push_breaker_open(const struct push *p);
bool push_auth_refused(const struct push *p);
/* True from a TLS refusal until a request gets through TLS again; the curl
 * code of the refusal (0 when none), for /readyz. */
bool push_tls_refused(const struct push *p);
int push_tls_error(const struct push *p);
/* Requests under way. */
int push_inflight(const struct push *p);
/* Nothing queued, nothing unfinished. */
bool push_idle(struct push *p);
/* Waits up to timeout_ms for requests under way to finish, then abandons
 * the rest: they stay in the journal and are resent after a restart. */
void push_drain(struct push *p, int timeout_ms);
void push_close(struct push *p);

#endif
