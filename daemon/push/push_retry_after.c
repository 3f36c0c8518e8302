/* push: the Retry-After header's value (RFC 9110 section 10.2.3) as a wait:
 * delta-seconds or an HTTP-date in its three forms (IMF-fixdate, RFC 850,
 * asctime). Pure: no I/O, no clock of its own, no state. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "push.h"

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_day_names[7] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Exactly n digits at *s (advanced past them) into *v. */
static bool digits(const char **s, int n, int *v)
{
        *v = 0;
        for (int i = 0; i < n; i++, (*s)++) {
                if (**s < '0' || **s > '9')
                        return false;
                *v = *v * 10 + (**s - '0');
        }
        return true;
}

/* One of the names (matched case-sensitively, as RFC 9110 spells them). */
static bool word(const char **s, const char *const *names, int n, int *index)
{
        for (int i = 0; i < n; i++) {
                size_t len = strlen(names[i]);
                if (strncmp(*s, names[i], len) == 0) {
                        *s += len;
                        *index = i;
                        return true;
                }
        }
        return false;
}

static bool lit(const char **s, const char *text)
{
        size_t len = strlen(text);
        if (strncmp(*s, text, len) != 0)
                return false;
        *s += len;
        return true;
}

/* "HH:MM:SS" */
static bool clock_time(const char **s, int *h, int *m, int *sec)
{
        return digits(s, 2, h) && lit(s, ":") && digits(s, 2, m) && lit(s, ":") &&
               digits(s, 2, sec) && *h < 24 && *m < 60 && *sec < 61;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static bool valid_date(int y, int m, int d)
{
        static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] &&
               (m != 2 || d <= 28 || leap);
}

/* An HTTP-date, the whole of s, into seconds since the epoch. */
static bool http_date(const char *value, int64_t now_ms, int64_t *out)
{
        int wd, d, mon, y, h, mi, sec;
        const char *s;

        /* each form from the start of value, a day name first */
        if ((s = value, word(&s, long_day_names, 7, &wd) && lit(&s, ", "))) {
                /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; a two-digit year
                 * more than 50 years ahead is the century before */
                int64_t now_year = 1970 + now_ms / 1000 / 31556952;
                if (!(digits(&s, 2, &d) && lit(&s, "-") &&
                      word(&s, month_names, 12, &mon) && lit(&s, "-") &&
                      digits(&s, 2, &y) && lit(&s, " ") &&
                      clock_time(&s, &h, &mi, &sec) && lit(&s, " GMT")))
                        return false;
                int64_t full = now_year - now_year % 100 + y;
                if (full > now_year + 50)
                        full -= 100;
                y = (int)full;
        } else if ((s = value, word(&s, day_names, 7, &wd) && lit(&s, ", "))) {
                /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
                if (!(digits(&s, 2, &d) && lit(&s, " ") &&
                      word(&s, month_names, 12, &mon) && lit(&s, " ") &&
                      digits(&s, 4, &y) && lit(&s, " ") &&
                      clock_time(&s, &h, &mi, &sec) && lit(&s, " GMT")))
                        return false;
        } else if ((s = value, word(&s, day_names, 7, &wd) && lit(&s, " "))) {
                /* asctime: Sun Nov  6 08:49:37 1994 (day padded with a space) */
                if (!word(&s, month_names, 12, &mon) || !lit(&s, " "))
                        return false;
                if (*s == ' ') {
                        s++;
                        if (!digits(&s, 1, &d))
                                return false;
                } else if (!digits(&s, 2, &d)) {
                        return false;
                }
                if (!(lit(&s, " ") && clock_time(&s, &h, &mi, &sec) && lit(&s, " ") &&
                      digits(&s, 4, &y)))
                        return false;
        } else {
                return false;
        }
        if (*s || !valid_date(y, mon + 1, d))
                return false;
        *out = days_from_civil(y, mon + 1, d) * 86400 + h * 3600 + mi * 60 + sec;
        return true;
}

int64_t push_retry_after_ms(const char *value, int64_t now_ms, int64_t cap_ms)
{
        const char *s = value, *end;
        int64_t ms = 0, when;

        if (!s || cap_ms < 0)
                return -1;
        s += strspn(s, " \t");
        end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        if (end == s)
                return -1;
        if (strspn(s, "0123456789") == (size_t)(end - s)) {
                /* delta-seconds: saturate once past the cap, never overflow */
                for (const char *c = s; c < end && ms <= cap_ms; c++) {
                        int64_t d = (*c - '0') * 1000;
                        if (ms > (INT64_MAX - d) / 10)
                                return cap_ms;
                        ms = ms * 10 + d;
                }
                return ms < cap_ms ? ms : cap_ms;
        }
        char date[64];
        if ((size_t)(end - s) >= sizeof(date))
                return -1;
        memcpy(date, s, (size_t)(end - s));
        date[end - s] = '\0';
        if (!http_date(date, now_ms, &when))
                return -1;
        /* years have 4 digits: when * 1000 is far from overflowing */
        if (__builtin_sub_overflow(when * 1000, now_ms, &ms))
                return now_ms < 0 ? cap_ms : 0;
        if (ms < 0)
                return 0;
        return ms < cap_ms ? ms : cap_ms;
}
