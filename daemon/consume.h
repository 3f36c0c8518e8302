/* consume: the Kafka consumer. Takes a batch of messages, parses and decides
 * each, writes them all to the journal in one transaction, and only then
 * stores their offsets for commit (at-least-once from Kafka; the journal's
 * partition positions and event ids make redelivery a no-op). */
#ifndef BPJS_CONSUME_H
#define BPJS_CONSUME_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "journal.h"

struct consume;

/* Every offset the daemon commits carries this and its journal's id as
 * metadata ("bpjs-sync journal=1a2b3c4d"); a partition last committed
 * under another journal is refused (consume_refused). */
#define CONSUME_OFFSET_META "bpjs-sync journal="
#define CONSUME_COMMIT_MS   1000 /* journaled positions committed this often */
#define CONSUME_VERIFY_MS   5000 /* committed offsets not read: tried again */
/* a claim of the assignment that failed (the journal unreachable), or a
 * commit fenced off while the group still gives us the partitions (a
 * claim of ours that lost a race with a departed owner's), is made again
 * this long after: longer than librdkafka's heartbeat and session, so a
 * member that really lost its partitions has been told so by then */
#define CONSUME_RECLAIM_MS 30000

int consume_open(const struct conf *c, struct journal *j, struct consume **out, char *err,
                 size_t errsize);
/* Consumes and journals up to max messages, waiting at most timeout_ms for
 * the first. Returns how many were journaled, or a negative errno (the
 * messages are kept and retried on the next call: nothing is lost). */
int consume_poll(struct consume *cs, size_t max, int timeout_ms);
/* True once the group has given this consumer its partitions. */
bool consume_joined(const struct consume *cs);
struct metrics;
/* Counts consumed messages and decisions into m (may be NULL). */
void consume_set_metrics(struct consume *cs, struct metrics *m);
/* Takes a reloaded configuration (the programmes); events consumed from now
 * on are decided with it. The old one may be freed after this returns. */
void consume_reconfigure(struct consume *cs, const struct conf *c);
/* Pauses or resumes fetching on every assigned partition (back-pressure);
 * partitions assigned later follow the same state. */
void consume_pause(struct consume *cs, bool paused);
bool consume_paused(const struct consume *cs);
/* Assigned partitions refused: last committed under another journal. */
int consume_refused(const struct consume *cs);
/* Messages on the assigned partitions not consumed yet (high watermark less
 * position, from librdkafka's cached watermarks); -1 when not known yet. */
int64_t consume_lag(struct consume *cs);
/* Stops consuming, commits stored offsets and leaves the group. */
void consume_close(struct consume *cs);

/* Applies librdkafka properties from the configuration to conf, reporting a
 * refused one at its FILE:LINE:COL. Shared with the publish stage. */
int consume_apply_properties(const struct conf *c, void *rd_conf, char *err,
                             size_t errsize);
/* Routes librdkafka's own log lines through our logger (levels, the NIK
 * guard, journald prefixes). Shared with the publish stage. */
void consume_set_logger(void *rd_conf);

#endif
