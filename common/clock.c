#include "clock.h"

#include <stdio.h>
#include <time.h>

static int64_t fake_ms;

int64_t clock_now_ms(void)
{
        struct timespec ts;

        if (fake_ms)
                return fake_ms;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
        struct timespec ts;

        if (fake_ms)
                return fake_ms;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_set_fake(int64_t ms)
{
        fake_ms = ms;
}

/* One conversion per second and thread: a batch's results share their
 * second, and localtime_r takes a lock and reads the zone each time. */
void clock_format_rfc3339(int64_t ms, char *out, size_t size)
{
        static _Thread_local time_t last_t = -1;
        static _Thread_local char last[40];
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        long off;

        if (t == last_t) {
                snprintf(out, size, "%s", last);
                return;
        }
        localtime_r(&t, &tm);
        off = tm.tm_gmtoff / 60;
        if (off == 0) {
                strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%SZ", &tm);
        } else {
                char base[32];
                strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
                snprintf(last, sizeof(last), "%s%c%02ld:%02ld", base, off < 0 ? '-' : '+',
                         (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
        }
        last_t = t;
        snprintf(out, size, "%s", last);
}
