/* docs/endpoint.md, "Answers": what each answer means, one row a status;
 * and the backoff: capped full jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <cmocka.h>

#include "push/push.h"

static const struct {
        const char *meaning;
        long status;
        int curl_code;
        enum push_outcome want;
} rows[] = {
    {"200: record each item's result", 200, CURLE_OK, PUSH_OK},
    {"400 malformed batch: permanent", 400, CURLE_OK, PUSH_PERMANENT},
    {"401 signature, cons id or clock: stop and probe", 401, CURLE_OK, PUSH_AUTH},
    {"409 key reused with another body: permanent", 409, CURLE_OK, PUSH_PERMANENT},
    {"413 batch too large: split", 413, CURLE_OK, PUSH_SPLIT},
    {"429 throttled: wait Retry-After", 429, CURLE_OK, PUSH_THROTTLED},
    {"500: transient", 500, CURLE_OK, PUSH_RETRY},
    {"502: transient", 502, CURLE_OK, PUSH_RETRY},
    {"503: transient", 503, CURLE_OK, PUSH_RETRY},
    {"504: transient", 504, CURLE_OK, PUSH_RETRY},
    {"timeout: transient", 0, CURLE_OPERATION_TIMEDOUT, PUSH_RETRY},
    {"connection refused: transient", 0, CURLE_COULDNT_CONNECT, PUSH_RETRY},
    {"connection reset: transient", 0, CURLE_RECV_ERROR, PUSH_RETRY},
    {"empty reply: transient", 0, CURLE_GOT_NOTHING, PUSH_RETRY},
    {"404 not the contract's: permanent", 404, CURLE_OK, PUSH_PERMANENT},
};

static void test_classify(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                enum push_outcome got = push_classify(rows[i].status, rows[i].curl_code);
                if (got != rows[i].want)
                        fail_msg("%s: got %s, want %s", rows[i].meaning,
                                 push_outcome_name(got), push_outcome_name(rows[i].want));
        }
}

static void test_backoff_full_jitter_capped(void **state)
{
        unsigned seed = 42;
        (void)state;
        for (int64_t attempt = 0; attempt < 40; attempt++) {
                int64_t ceiling = 500;
                for (int64_t k = 0; k < attempt && ceiling < 60000; k++)
                        ceiling *= 2;
                if (ceiling > 60000)
                        ceiling = 60000;
                int64_t max = 0;
                for (int i = 0; i < 2000; i++) {
                        int64_t d = push_backoff_ms(500, 60000, attempt, &seed);
                        assert_true(d >= 1 && d <= ceiling);
                        if (d > max)
                                max = d;
                }
                /* spread over the whole range, not clustered at the bottom */
                assert_true(max > ceiling * 9 / 10);
        }
}

/* RFC 9110 section 10.2.3: Retry-After = HTTP-date / delay-seconds. Now is
 * 2026-12-01T19:00:00Z; the cap (bpjs.retry.max_ms) is 60 s. */
#define NOW_MS (1796151600LL * 1000)
#define CAP_MS 60000

static const struct {
        const char *rule;
        const char *value;
        int64_t want; /* -1: not a Retry-After, the backoff alone decides */
} retry_after_rows[] = {
    {"delta-seconds", "5", 5000},
    {"zero seconds", "0", 0},
    {"spaces around the value are allowed", " \t7 \t", 7000},
    {"leading zeros", "0000000000000000000000000000009", 9000},
    {"at the cap", "60", CAP_MS},
    {"above the cap: capped", "61", CAP_MS},
    {"99999999999 seconds (year 5195): capped", "99999999999", CAP_MS},
    {"more digits than int64 holds: capped, no overflow",
     "99999999999999999999999999999999999999999999999999", CAP_MS},
    {"INT64_MAX seconds: capped", "9223372036854775807", CAP_MS},
    {"negative: garbage", "-5", -1},
    {"a sign: garbage", "+5", -1},
    {"a fraction: garbage", "1.5", -1},
    {"trailing text: garbage", "5 seconds", -1},
    {"hex: garbage", "0x10", -1},
    {"empty: garbage", "", -1},
    {"only spaces: garbage", "   ", -1},
    {"IMF-fixdate 30 s ahead", "Tue, 01 Dec 2026 19:00:30 GMT", 30000},
    {"IMF-fixdate in the past: 0", "Tue, 01 Dec 2026 18:59:00 GMT", 0},
    {"IMF-fixdate long ago: 0", "Sun, 06 Nov 1994 08:49:37 GMT", 0},
    {"IMF-fixdate far ahead: capped", "Fri, 31 Dec 9999 23:59:59 GMT", CAP_MS},
    {"IMF-fixdate a day ahead: capped", "Wed, 02 Dec 2026 19:00:00 GMT", CAP_MS},
    {"IMF-fixdate in a leap year", "Thu, 29 Feb 2024 00:00:00 GMT", 0},
    {"IMF-fixdate of a day that does not exist", "Thu, 29 Feb 2027 00:00:00 GMT", -1},
    {"IMF-fixdate with month 13", "Tue, 01 Foo 2026 19:00:30 GMT", -1},
    {"IMF-fixdate with hour 24", "Tue, 01 Dec 2026 24:00:30 GMT", -1},
    {"IMF-fixdate without GMT", "Tue, 01 Dec 2026 19:00:30", -1},
    {"IMF-fixdate in another zone", "Tue, 01 Dec 2026 19:00:30 PST", -1},
    {"IMF-fixdate with trailing text", "Tue, 01 Dec 2026 19:00:30 GMT x", -1},
    {"IMF-fixdate with a one-digit day", "Tue, 1 Dec 2026 19:00:30 GMT", -1},
    {"RFC 850 date 30 s ahead", "Tuesday, 01-Dec-26 19:00:30 GMT", 30000},
    {"RFC 850 two-digit year more than 50 years ahead is last century",
     "Sunday, 06-Nov-94 08:49:37 GMT", 0},
    {"asctime 30 s ahead", "Tue Dec  1 19:00:30 2026", 30000},
    {"asctime with a two-digit day", "Tue Dec 11 19:00:00 2026", CAP_MS},
    {"asctime long ago", "Sun Nov  6 08:49:37 1994", 0},
    {"asctime with the day unpadded", "Tue Dec 1 19:00:30 2026", -1},
    {"a date in words: garbage", "tomorrow", -1},
    {"a NIK-length digit run is just seconds: capped", "3201010101900001", CAP_MS},
};

static void test_retry_after(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(retry_after_rows) / sizeof(retry_after_rows[0]);
             i++) {
                int64_t got =
                    push_retry_after_ms(retry_after_rows[i].value, NOW_MS, CAP_MS);
                if (got != retry_after_rows[i].want)
                        fail_msg("%s (\"%s\"): got %lld, want %lld",
                                 retry_after_rows[i].rule, retry_after_rows[i].value,
                                 (long long)got, (long long)retry_after_rows[i].want);
        }
}

static void test_retry_after_extremes(void **state)
{
        (void)state;
        /* the cap is the caller's: any cap, any clock, no overflow */
        assert_int_equal(push_retry_after_ms("99999999999999999999", NOW_MS, INT64_MAX),
                         INT64_MAX);
        assert_int_equal(push_retry_after_ms("9223372036854775", NOW_MS, INT64_MAX),
                         9223372036854775000LL);
        assert_int_equal(
            push_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN, CAP_MS),
            CAP_MS);
        assert_int_equal(
            push_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", INT64_MAX, CAP_MS), 0);
        assert_int_equal(push_retry_after_ms("5", NOW_MS, 0), 0);
        assert_int_equal(push_retry_after_ms(NULL, NOW_MS, CAP_MS), -1);
        assert_int_equal(push_retry_after_ms("5", NOW_MS, -1), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_classify),
            cmocka_unit_test(test_backoff_full_jitter_capped),
            cmocka_unit_test(test_retry_after),
            cmocka_unit_test(test_retry_after_extremes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
