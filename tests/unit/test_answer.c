/* docs/endpoint.md, "Answers": the endpoint's answer to a batch, parsed one
 * entry a per-item result. A kpj, the participant number, is 11 digits: any
 * other kpj is a protocol error of that item alone, and its text never
 * reaches the journal, a result or a later request body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "answer.h"

#define NOT_11_DIGITS "protocol error: the endpoint's kpj is not 11 digits"
#define NO_KPJ        "protocol error: the endpoint answered a registration without a kpj"

static const struct {
        const char *rule;
        const char *status;
        const char *kpj_json; /* the member's value as JSON; NULL: absent */
        const char *want_kpj; /* NULL: none */
        const char *want_error;
} kpj_rows[] = {
    {"11 digits", "REGISTERED", "\"25000000001\"", "25000000001", NULL},
    {"11 digits, already registered", "ALREADY_REGISTERED", "\"11000000007\"",
     "11000000007", NULL},
    {"11 digits, deactivated", "DEACTIVATED", "\"25000000001\"", "25000000001", NULL},
    {"a quote that would add a member", "REGISTERED", "\"1\\\",\\\"nik\\\":\\\"x\"", NULL,
     NOT_11_DIGITS},
    {"12 digits", "REGISTERED", "\"250000000011\"", NULL, NOT_11_DIGITS},
    {"10 digits", "REGISTERED", "\"2500000000\"", NULL, NOT_11_DIGITS},
    {"40 digits", "REGISTERED", "\"2500000000125000000001250000000012500000\"", NULL,
     NOT_11_DIGITS},
    {"a letter among digits", "REGISTERED", "\"2500000000a\"", NULL, NOT_11_DIGITS},
    {"spaces", "REGISTERED", "\"2500000 0001\"", NULL, NOT_11_DIGITS},
    {"a trailing newline", "REGISTERED", "\"25000000001\\n\"", NULL, NOT_11_DIGITS},
    {"non-ASCII digits", "REGISTERED",
     "\"\xd9\xa2\xd9\xa5"
     "000000001\"",
     NULL, NOT_11_DIGITS},
    {"empty", "REGISTERED", "\"\"", NULL, NOT_11_DIGITS},
    {"a number, not a string", "REGISTERED", "25000000001", NULL, NOT_11_DIGITS},
    {"an object", "REGISTERED", "{\"kpj\":\"25000000001\"}", NULL, NOT_11_DIGITS},
    {"a bad kpj on a deactivation too", "DEACTIVATED", "\"123\"", NULL, NOT_11_DIGITS},
    {"null where a registration needs one", "REGISTERED", "null", NULL, NO_KPJ},
    {"absent where a registration needs one", "REGISTERED", NULL, NULL, NO_KPJ},
    {"null on already registered", "ALREADY_REGISTERED", "null", NULL, NO_KPJ},
    {"absent on a rejection: fine", "REJECTED", NULL, NULL, NULL},
    {"null on a rejection: fine", "REJECTED", "null", NULL, NULL},
    {"absent on not found: fine", "NOT_FOUND", NULL, NULL, NULL},
};

static void test_kpj(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(kpj_rows) / sizeof(kpj_rows[0]); i++) {
                char body[512], member[256] = "";
                struct answers a = {0};

                if (kpj_rows[i].kpj_json)
                        snprintf(member, sizeof(member), ",\"kpj\":%s",
                                 kpj_rows[i].kpj_json);
                /* the item under test between two good ones */
                snprintf(body, sizeof(body),
                         "{\"metaData\":{\"code\":\"200\",\"message\":\"OK\"},"
                         "\"response\":{\"batch_id\":\"b-1\",\"results\":["
                         "{\"registration_id\":\"r-1\",\"status\":\"REGISTERED\","
                         "\"kpj\":\"25000000001\"},"
                         "{\"registration_id\":\"r-2\",\"status\":\"%s\"%s},"
                         "{\"registration_id\":\"r-3\",\"status\":\"ALREADY_REGISTERED\","
                         "\"kpj\":\"25000000003\"}]}}",
                         kpj_rows[i].status, member);
                if (answer_parse(body, strlen(body), &a) != 0)
                        fail_msg("%s: not parsed: %s", kpj_rows[i].rule, body);
                assert_int_equal(a.n, 3);
                const struct answer *got = answer_find(&a, "r-2");
                assert_non_null(got);
                if ((got->kpj == NULL) != (kpj_rows[i].want_kpj == NULL) ||
                    (got->kpj && strcmp(got->kpj, kpj_rows[i].want_kpj)))
                        fail_msg("%s: kpj %s, want %s", kpj_rows[i].rule,
                                 got->kpj ? got->kpj : "NULL",
                                 kpj_rows[i].want_kpj ? kpj_rows[i].want_kpj : "NULL");
                if ((got->error == NULL) != (kpj_rows[i].want_error == NULL) ||
                    (got->error && strcmp(got->error, kpj_rows[i].want_error)))
                        fail_msg("%s: error \"%s\", want \"%s\"", kpj_rows[i].rule,
                                 got->error ? got->error : "NULL",
                                 kpj_rows[i].want_error ? kpj_rows[i].want_error
                                                        : "NULL");
                assert_string_equal(got->status, kpj_rows[i].status);
                /* the batch's other items are unaffected */
                assert_string_equal(answer_find(&a, "r-1")->kpj, "25000000001");
                assert_null(answer_find(&a, "r-1")->error);
                assert_string_equal(answer_find(&a, "r-3")->kpj, "25000000003");
                assert_null(answer_find(&a, "r-3")->error);
                answers_free(&a);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_kpj),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
