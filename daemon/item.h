/* item: the endpoint's request items (docs/endpoint.md), built when an event
 * is decided and kept in the journal until a batch carries them. */
#ifndef BPJS_ITEM_H
#define BPJS_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

/* A registration item without its registration_id (added when batched):
 * its period runs from the coverage's first month (decide: no month of a
 * worker is paid twice) to the programme's end.
 * Returns 0 with a malloc'd JSON object, or -ENOMEM. */
int item_registration(const struct event *ev, const struct conf_program *prog,
                      int64_t first_month, char **out, size_t *len);
/* A deactivation item without registration_id and kpj. */
int item_deactivation(const struct event *ev, char **out, size_t *len);

#define ITEM_NAME_SIZE 40

/* The batch id (also the Idempotency-Key) and a registration id, as the
 * endpoint sees them: b-<journal id>-<12 digits>, r-<journal id>-<12 digits>. */
void item_batch_name(const char *journal_id, int64_t id, char out[ITEM_NAME_SIZE]);
void item_registration_id(const char *journal_id, int64_t seq, char out[ITEM_NAME_SIZE]);

/* One item of a batch: the registration it concerns, the kpj (deactivations)
 * and the item journaled when its event was decided (a JSON object). */
struct item_part {
        int64_t reg_seq;
        const char *kpj;
        const char *item;
        size_t item_len;
};

/* The request body of batch id: the only writer of bodies, so the daemon
 * and an operator's replay build the same bytes from the same items.
 * Returns 0 with a malloc'd body, -EINVAL for an item that is not an
 * object, or -ENOMEM. */
int item_batch_body(const char *journal_id, int64_t id, bool deactivations,
                    const struct item_part *parts, size_t n, char **body, size_t *len);

#endif
