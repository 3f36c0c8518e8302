/* spec/bpjs-api.md, "Responses": what each answer means, one row a status;
 * and the backoff: capped full jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <cmocka.h>

#include "push.h"

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

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_classify),
            cmocka_unit_test(test_backoff_full_jitter_capped),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
