/* store: everything the mock endpoint remembers, behind one mutex: the active
 * participants by NIK, the idempotency keys (24 h by default), which
 * registration_id was seen under which key, and the counters. */
#ifndef BPJS_MOCK_STORE_H
#define BPJS_MOCK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "batch.h"
#include "jbuf.h"

#define STORE_FIRST_KPJ    25000000001ULL
#define STORE_DIGEST_LEN   32
#define STORE_STATUS_FIRST 100
#define STORE_STATUS_SLOTS 500

struct store_stats {
        uint64_t by_status[STORE_STATUS_SLOTS]; /* index: HTTP status - 100 */
        uint64_t dropped;                       /* closed before processing */
        uint64_t dropped_after;                 /* processed, then closed */
        uint64_t batches_processed;
        uint64_t idempotent_replays;
        uint64_t conflicts_409;
        uint64_t registered;
        uint64_t already_registered;
        uint64_t rejected;
        uint64_t deactivated;
        uint64_t not_found;
        uint64_t registered_twice;
        uint64_t multi_key_registration_ids;
        uint64_t active;
        uint64_t idempotency_keys;
};

enum store_outcome {
        STORE_PROCESSED,
        STORE_REPLAYED,
        STORE_CONFLICT,
};

/* A response for the client; body is the caller's to free. */
struct store_reply {
        int status;
        char *body;
        size_t len;
};

struct store_cursor {
        uint64_t epoch;
        size_t next;
        bool first;
};

struct store;

int store_new(unsigned idempotency_ttl, struct store **ret);
void store_free(struct store *s);
/* Forgets every participant, key and counter. */
void store_reset(struct store *s);

/* Runs a parsed batch under its key: a key seen with the same body digest
 * replays the stored response (STORE_REPLAYED, reply filled), with another
 * digest is a conflict (STORE_CONFLICT, reply untouched), else the batch is
 * processed, its results written into b and the response remembered
 * (STORE_PROCESSED, reply filled). Negative errno on failure. */
int store_submit(struct store *s, struct batch *b, const unsigned char *digest,
                 time_t now, struct store_reply *reply);

void store_count_status(struct store *s, int status);
void store_count_drop(struct store *s, bool after_processing);
void store_get_stats(struct store *s, struct store_stats *out);

/* Admin: a participant who became active outside this endpoint (kpj 0 picks
 * the next number). 0, -EEXIST when the NIK is active, or -ENOMEM. */
int store_add_participant(struct store *s, uint64_t nik, uint64_t kpj,
                          const char *program, const char *registration_id);
/* Admin: the endpoint forgets an active participant without a DEACTIVATED.
 * 0 or -ENOENT. */
int store_forget_participant(struct store *s, uint64_t nik);

/* Streams the active participants as JSON objects separated by commas. */
void store_cursor_start(struct store *s, struct store_cursor *c);
/* Appends entries until out holds at least budget bytes. 1 when more follow,
 * 0 at the end, -ESTALE when the store was reset meanwhile. */
int store_dump(struct store *s, struct store_cursor *c, struct jbuf *out, size_t budget);
/* Appends the participant with this NIK if active; returns how many (0 or 1). */
int store_dump_nik(struct store *s, uint64_t nik, struct jbuf *out);

#endif
