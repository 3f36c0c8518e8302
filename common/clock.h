/* clock: the one place time is read, so tests can run on a fake clock. */
#ifndef BPJS_CLOCK_H
#define BPJS_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the epoch. */
int64_t clock_now_ms(void);
/* Monotonic milliseconds, for timers and backoff. */
int64_t clock_mono_ms(void);
/* Tests: freeze both clocks at ms (0 returns to the real clocks). */
void clock_set_fake(int64_t ms);

/* RFC 3339 local time with offset, e.g. 2025-01-06T08:15:02+08:00. */
void clock_format_rfc3339(int64_t ms, char *out, size_t size);

#endif
