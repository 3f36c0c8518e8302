/* push's private side: the state the files of daemon/push/ share, and the
 * functions one of them calls in another. Included only by the .c files of
 * daemon/push/; the stage's API is push.h.
 *
 *   push.c              the API: open, run, reconfigure, drain, close, state
 *   push_form.c         forming batches from the journal's queue
 *   push_http.c         requests and responses: slots, curl, headers, signing
 *   push_outcome.c      what an answer does: settle, retry, split, breaker,
 *                       requeue after a refused journal write
 *   push_retry_after.c  the Retry-After parser (pure) */
#ifndef BPJS_PUSH_INT_H
#define BPJS_PUSH_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "nikset.h"
#include "push.h"
#include "result.h"

#define NAME_SIZE 40
#define MAX_SLOTS 64 /* bpjs.max_in_flight's upper bound: a reload may raise it */

/* An operation copied out of the journal. */
struct op {
        int64_t seq, reg_seq;
        int kind;
        char nik[17];
        char program[65];
        char event_id[129];
        char *item;
        size_t item_len;
        char *kpj;      /* NULL: none; never cut short */
        int reg_status; /* a deactivation's registration's result, 0: none yet */
};

struct oplist {
        struct op *ops;
        size_t n, cap;
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
        /* the journal's unbatched operations, copied in seq order up to
         * queue_after and kept between passes, so that a pass reads only
         * what was queued since (push_form.c); read again from the start
         * when stale and every PUSH_QUEUE_REREAD_MS */
        struct oplist queue;
        int64_t queue_after, queue_reread_at;
        bool queue_stale;
        /* the operations of the batches this instance formed, until their
         * answers are recorded from them (push_form_formed_take); a batch
         * formed elsewhere, split or replayed is read from the journal */
        struct formed *formed;
        size_t n_formed;
        int64_t open_batches;
        bool dirty, draining;
        int64_t linger_start, auth_until;
        int failures;          /* consecutive transient failures */
        int64_t breaker_until; /* circuit open: no request before this */
        bool breaker_open;
        int64_t next_reconcile;
        /* another instance holds a worker's earlier op, or batched an op
         * first: the open batches are read again at the next step */
        bool reconcile_now;
        int64_t renew_at; /* leases of batches in flight renewed then */
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

struct formed {
        int64_t batch_id;
        struct oplist ops;
};
#define FORMED_MAX (2 * MAX_SLOTS + 2) /* the open batches push forms at most */

struct requeue {
        int64_t batch_id, attempts, next_at;
        char name[NAME_SIZE];
        char error[200];
};

/* What push_form_compose needs: the op copies parallel to the journal_op
 * array the journal hands back (a split hands a part of it). */
struct compose_ctx {
        const struct push *p;
        const struct op *copies;
        const struct journal_op *base;
};

/* push.c */
/* A journal write failed: logs it (at debug level while the journal refuses
 * writes, which main reports) and holds writes back for a second. */
void push_journal_failed(struct push *p, const char *name, const char *what);

/* push_form.c */
/* Forms the due batches from the journal's queue. Returns 0 or a negative
 * errno. */
int push_form_batches(struct push *p);
/* A journal_op_fn: copies each operation into the oplist at opaque. */
int push_form_collect(const struct journal_op *op, void *opaque);
/* A batch's answers (res, parallel to its ops) were recorded: its workers
 * are free again, and the queued deactivations of its registrations may go
 * now, with the kpj each must carry. */
void push_form_finished(struct push *p, const struct oplist *ops,
                        const struct journal_item_result *res);
/* The queue is read again from the start at the next pass (an operator's
 * replay, another instance's batches). */
void push_form_restart(struct push *p);
/* Moves the operations of batch_id, as this instance formed it, into ops
 * (empty): 1, or 0 when it holds none (then read them from the journal). */
int push_form_formed_take(struct push *p, int64_t batch_id, struct oplist *ops);
/* A batch's operations, in seq order, for its answers or its split: those
 * push kept when it formed it, else the journal's. 0 or more, or a negative
 * errno. */
int push_form_batch_ops(struct push *p, int64_t batch_id, struct oplist *ops);
void push_form_formed_free(struct push *p);
void push_form_oplist_free(struct oplist *l);
/* A journal_compose_fn: the request body of ops, opaque a compose_ctx. */
int push_form_compose(int64_t id, const struct journal_op *ops, size_t n, void *opaque,
                      char **body, size_t *len);

/* push_http.c */
/* Starts up to slots due batches. Returns 0 or a negative errno. */
int push_http_start_due(struct push *p, size_t slots);
/* Frees what a request held and gives its slot back. */
void push_http_release(struct push *p, struct slot *s);
/* curl's text for a TLS refusal, with its error buffer's detail, cleaned. */
void push_http_error_text(CURLcode cc, const char *detail, char *out, size_t n);

/* push_outcome.c */
/* Hands every finished request to its outcome and releases its slot. */
void push_outcome_reap(struct push *p);
/* The final result of op o: r's status, reason, kpj, covered_by and
 * batch_id as given, the rest from o; its encoding in *value (to free) and
 * the journal's item result in *res. 0 or -ENOMEM. */
int push_final_result(const struct push *p, const struct op *o, struct result *r,
                      char **value, struct journal_item_result *res);
/* Puts batches back to pending whose outcome the journal could not take. */
void push_outcome_requeue_run(struct push *p);

#endif
