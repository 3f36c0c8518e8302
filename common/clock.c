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

void clock_format_rfc3339(int64_t ms, char *out, size_t size)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        long off;

        localtime_r(&t, &tm);
        off = tm.tm_gmtoff / 60;
        if (off == 0) {
                strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
                return;
        }
        char base[32];
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, size, "%s%c%02ld:%02ld", base, off < 0 ? '-' : '+',
                 (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}
