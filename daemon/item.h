/* item: the endpoint's request items (spec/bpjs-api.md), built when an event
 * is decided and kept in the journal until a batch carries them. */
#ifndef BPJS_ITEM_H
#define BPJS_ITEM_H

#include <stddef.h>

#include "config.h"
#include "event.h"

/* A registration item without its registration_id (added when batched).
 * Returns 0 with a malloc'd JSON object, or -ENOMEM. */
int item_registration(const struct event *ev, const struct conf_program *prog, char **out,
                      size_t *len);
/* A deactivation item without registration_id and kpj. */
int item_deactivation(const struct event *ev, char **out, size_t *len);

#endif
