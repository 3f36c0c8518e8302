/* The NIK rules of docs/events.md, "The NIK", one row a rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nik.h"

static const struct {
        const char *rule;
        const char *nik;
        int want;
        int day, month, year2;
        bool female;
} cases[] = {
    {"a man: day as written", "6471051203850001", NIK_OK, 12, 3, 85, false},
    {"a woman: day plus 40", "6471054506900002", NIK_OK, 5, 6, 90, true},
    {"Papua Barat Daya code 92 (2022 province)", "9271011507880003", NIK_OK, 15, 7, 88,
     false},
    {"Aceh 11, the lowest code", "1101010101000001", NIK_OK, 1, 1, 0, false},
    {"Papua Pegunungan 95", "9501017112990001", NIK_OK, 31, 12, 99, true},
    {"29 February in a leap year", "6471052902000001", NIK_OK, 29, 2, 0, false},
    {"15 digits", "647105120385000", NIK_ERR_FORMAT, 0, 0, 0, false},
    {"17 digits", "64710512038500011", NIK_ERR_FORMAT, 0, 0, 0, false},
    {"a letter", "64710512038500A1", NIK_ERR_FORMAT, 0, 0, 0, false},
    {"a space", "6471 51203850001", NIK_ERR_FORMAT, 0, 0, 0, false},
    {"province 10 does not exist", "1071051203850001", NIK_ERR_PROVINCE, 0, 0, 0, false},
    {"province 20 does not exist", "2071051203850001", NIK_ERR_PROVINCE, 0, 0, 0, false},
    {"province 97 does not exist", "9771051203850001", NIK_ERR_PROVINCE, 0, 0, 0, false},
    {"day 00", "6471050003850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"day 32", "6471053203850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"day 40: neither man nor woman", "6471054003850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"day 72: a woman's 32nd", "6471057203850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"month 00", "6471051200850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"month 13", "6471051213850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"31 April", "6471053104850001", NIK_ERR_DATE, 0, 0, 0, false},
    {"29 February in a common year", "6471052902850001", NIK_ERR_DATE, 0, 0, 0, false},
};

static void test_rules(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct nik_info info = {0};
                int r = nik_parse(cases[i].nik, strlen(cases[i].nik), &info);
                if (r != cases[i].want)
                        fail_msg("%s: got %d, want %d", cases[i].rule, r, cases[i].want);
                if (r == NIK_OK &&
                    (info.day != cases[i].day || info.month != cases[i].month ||
                     info.year2 != cases[i].year2 || info.female != cases[i].female))
                        fail_msg("%s: decoded %d-%d-%d female=%d", cases[i].rule,
                                 info.day, info.month, info.year2, info.female);
        }
}

static void test_all_38_provinces(void **state)
{
        int n = 0;
        (void)state;
        for (int p = 0; p < 100; p++)
                n += nik_province_valid(p);
        assert_int_equal(n, 38);
}

static void test_mask(void **state)
{
        char out[NIK_MASKED_SIZE];
        (void)state;
        assert_string_equal(nik_mask("6471054506900002", out), "6471********0002");
        assert_string_equal(nik_mask("123", out), "****************");
        assert_string_equal(nik_mask(NULL, out), "****************");
        assert_string_equal(nik_mask("64710545069000021", out), "****************");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_all_38_provinces),
            cmocka_unit_test(test_mask),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
