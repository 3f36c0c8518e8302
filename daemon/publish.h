/* publish: results and dead letters, produced from the journal's outbox by
 * an idempotent producer; a row leaves the outbox only on its successful
 * delivery report, so a crash loses none (it may publish one twice). */
#ifndef BPJS_PUBLISH_H
#define BPJS_PUBLISH_H

#include <stddef.h>

#include "config.h"
#include "journal.h"

struct publish;

int publish_open(const struct conf *c, struct journal *j, struct publish **out, char *err,
                 size_t errsize);
struct metrics;
void publish_set_metrics(struct publish *p, struct metrics *m);
/* Produces what the outbox holds and records delivery reports. Returns how
 * many rows were delivered, or a negative errno. */
int publish_poll(struct publish *p);
/* Rows handed to the producer and not yet reported. */
size_t publish_inflight(const struct publish *p);
/* Waits up to timeout_ms for the outbox to empty. Returns rows left. */
size_t publish_flush(struct publish *p, int timeout_ms);
void publish_close(struct publish *p);

#endif
