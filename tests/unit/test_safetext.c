/* Text from outside made safe (common/safetext.h), one row a rule: NIK-like
 * text in any spelling is masked, what operators need is not, a cut masks
 * the start of a NIK, control characters are escaped, masking comes before
 * cutting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "safetext.h"

static const struct {
        const char *rule;
        const char *in;
        bool cut;
        const char *want;
} masks[] = {
    {"a NIK of 16 digits", "NIK 6471012712828100 ada", false, "NIK 6471********8100 ada"},
    {"spaces, in fours", "NIK 6471 0127 1282 8100 atas nama", false,
     "NIK 6471 **** **** 8100 atas nama"},
    {"dashes", "6471-0127-1282-8100", false, "6471-****-****-8100"},
    {"dots, as on the card", "64.71.01.271282.8100", false, "64.71.**.******.8100"},
    {"mixed separators", "6471.0127-1282 8100", false, "6471.****-**** 8100"},
    {"slash and underscore", "6471/0127_1282/8100", false, "6471/****_****/8100"},
    {"NBSP (U+00A0)",
     "6471\xc2\xa0"
     "0127\xc2\xa0"
     "1282\xc2\xa0"
     "8100",
     false,
     "6471\xc2\xa0****\xc2\xa0****\xc2\xa0"
     "8100"},
    {"an en dash (U+2013)",
     "6471\xe2\x80\x93"
     "012712828100",
     false, "6471\xe2\x80\x93********8100"},
    {"a tab", "6471\t0127\t1282\t8100", false, "6471\t****\t****\t8100"},
    {"glued to letters", "NIK6471012712828100x", false, "NIK6471********8100x"},
    {"17 digits: the middle goes", "64710127128281001", false, "6471*********1001"},
    {"17 digits with spaces", "6471 0127 1282 81001", false, "6471 **** **** *1001"},
    {"15 digits are not a NIK", "647101271282810", false, "647101271282810"},
    {"15 digits with spaces are not a NIK", "6471 0127 1282 810", false,
     "6471 0127 1282 810"},
    {"two separators end a run", "6471 0127  1282 8100", false, "6471 0127  1282 8100"},
    {"UTF-8 around it",
     "\xc3\xa9\xe2\x82\xac"
     "6471012712828100\xf0\x9f\x98\x80",
     false,
     "\xc3\xa9\xe2\x82\xac"
     "6471********8100\xf0\x9f\x98\x80"},
    {"a kpj next to a NIK", "NIK 6471012712828100, kpj 12345678901", false,
     "NIK 6471********8100, kpj 12345678901"},
    {"a kpj at the end of a whole text", "terdaftar kpj 12345678901", false,
     "terdaftar kpj 12345678901"},
    {"a batch id", "[batch b-0badcafe-000000000123 attempt 3]", false,
     "[batch b-0badcafe-000000000123 attempt 3]"},
    {"a batch id whose journal id is all digits", "b-12345678-000000000123", false,
     "b-12345678-000000000123"},
    {"a registration id ending in digits", "r-1a2b3456-000000000007 REJECTED", false,
     "r-1a2b3456-000000000007 REJECTED"},
    {"an id-like run glued to letters is not an id", "xb-12345678-000000000123", false,
     "xb-1234****-********0123"},
    {"a date and a time", "2026-12-01 19:12:00", false, "2026-12-01 19:12:00"},
    {"counts", "500 items, 3 attempts, 1764616320000 ms", false,
     "500 items, 3 attempts, 1764616320000 ms"},
    {"cut: 15 digits at the cut", "NIK 647101271282810", true, "NIK 6471***********"},
    {"cut: 8 digits at the cut", "NIK 6471 0127", true, "NIK 6471 ****"},
    {"cut: a separator at the cut", "NIK 6471 0127 ", true, "NIK 6471 **** "},
    {"cut: 7 digits stay", "NIK 6471012", true, "NIK 6471012"},
    {"cut: a kpj at the cut is cut too", "kpj 12345678901", true, "kpj 1234*******"},
    {"cut: only the run at the cut", "kpj 12345678901 then 6471012", true,
     "kpj 12345678901 then 6471012"},
    {"masked text stays as it is", "6471 **** **** 8100", false, "6471 **** **** 8100"},
};

static void test_mask(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
                char buf[256];
                size_t len = strlen(masks[i].in);
                memcpy(buf, masks[i].in, len + 1);
                safetext_mask(buf, len, masks[i].cut);
                if (strcmp(buf, masks[i].want) != 0)
                        fail_msg("%s: got \"%s\", want \"%s\"", masks[i].rule, buf,
                                 masks[i].want);
        }
}

static const struct {
        const char *rule;
        const char *in;
        size_t len; /* 0: strlen */
        const char *want;
} escapes[] = {
    {"printable ASCII as it is", "name: Siti Aminah (ok) \\ 100%", 0,
     "name: Siti Aminah (ok) \\ 100%"},
    {"a newline cannot start a line", "ok\nbpjs-sync[err] forged", 0,
     "ok\\nbpjs-sync[err] forged"},
    {"CR and tab", "a\rb\tc", 0, "a\\rb\\tc"},
    {"ESC and BEL", "\x1b[31mred\x07", 0, "\\x1b[31mred\\x07"},
    {"DEL", "a\x7f", 0, "a\\x7f"},
    {"NUL inside the text", "a\0b", 3, "a\\x00b"},
    {"C1 CSI (U+009B)",
     "a\xc2\x9b"
     "31m",
     0, "a\\xc2\\x9b31m"},
    {"a raw C1 byte is invalid UTF-8",
     "a\x9b"
     "b",
     0, "a\\x9bb"},
    {"overlong encoding", "\xc0\xaf", 0, "\\xc0\\xaf"},
    {"a surrogate", "\xed\xa0\x80", 0, "\\xed\\xa0\\x80"},
    {"truncated sequence at the end", "ab\xe2\x82", 0, "ab\\xe2\\x82"},
    {"line separator U+2028",
     "a\xe2\x80\xa8"
     "b",
     0, "a\\xe2\\x80\\xa8b"},
    {"right-to-left override U+202E",
     "\xe2\x80\xae"
     "abc",
     0, "\\xe2\\x80\\xaeabc"},
    {"valid UTF-8 as it is", "Bul\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0,
     "Bul\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
    {"escaped text stays as it is", "\\x1b[31m\\n", 0, "\\x1b[31m\\n"},
};

static void test_escape(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
                char out[256];
                size_t len = escapes[i].len ? escapes[i].len : strlen(escapes[i].in);
                assert_true(safetext_escape(escapes[i].in, len, out, sizeof(out)));
                if (strcmp(out, escapes[i].want) != 0)
                        fail_msg("%s: got \"%s\", want \"%s\"", escapes[i].rule, out,
                                 escapes[i].want);
        }
}

static void test_escape_cuts_at_a_boundary(void **state)
{
        char out[12];
        (void)state;
        /* "abcdef" then ESC: "\x1b" does not fit whole, so "..." ends it */
        assert_false(safetext_escape("abcdef\x1bxyz", 10, out, sizeof(out)));
        assert_string_equal(out, "abcdef...");
        /* a two-byte character is never split */
        assert_false(safetext_escape("abcdefg\xc3\xa9xyz", 12, out, sizeof(out)));
        assert_string_equal(out, "abcdefg...");
        /* exactly full: no "..." */
        assert_true(safetext_escape("abcdefghijk", 11, out, sizeof(out)));
        assert_string_equal(out, "abcdefghijk");
}

static void test_clean_masks_before_cutting(void **state)
{
        char out[24];
        const char *in = "NIK 6471 0127 1282 8100 atas nama Siti";
        (void)state;
        /* cut to 15 visible digits by a later limit, the NIK was masked whole */
        safetext_clean(in, strlen(in), false, out, sizeof(out));
        assert_string_equal(out, "NIK 6471 **** **** 8...");
}

static void test_clean_a_cut_input(void **state)
{
        char out[64];
        const char *in = "NIK 6471 0127 1282 810";
        (void)state;
        safetext_clean(in, strlen(in), true, out, sizeof(out));
        assert_string_equal(out, "NIK 6471 **** **** ***");
        safetext_clean(in, strlen(in), false, out, sizeof(out));
        assert_string_equal(out, "NIK 6471 0127 1282 810");
}

/* The digits of an escape do not join real digits into a NIK-like run, and
 * the rule applied twice changes nothing. */
static void test_clean_masks_after_escaping_and_is_idempotent(void **state)
{
        char once[128], twice[128];
        const char *in = "\x01"
                         "234567890123456 and \x1b[2J 6471 0127 1282 8100";
        (void)state;
        safetext_clean(in, strlen(in), false, once, sizeof(once));
        assert_string_equal(once,
                            "\\x0123*********3456 and \\x1b[2J 6471 **** **** 8100");
        safetext_clean(once, strlen(once), false, twice, sizeof(twice));
        assert_string_equal(twice, once);
}

static void test_json_text_made_safe_where_it_enters(void **state)
{
        cJSON *o = cJSON_Parse("{\"reason\":\"NIK 6471-0127-1282-8100\\u001b[2J\\nline\","
                               "\"n\":1}");
        (void)state;
        assert_non_null(o);
        assert_string_equal(safetext_json_text(o, "reason"),
                            "NIK 6471-****-****-8100\\x1b[2J\\nline");
        assert_null(safetext_json_text(o, "n"));
        assert_null(safetext_json_text(o, "absent"));
        cJSON_Delete(o);

        /* bounded: at most SAFETEXT_REASON_MAX bytes */
        char *long_reason = malloc(4000);
        assert_non_null(long_reason);
        memset(long_reason, 'x', 3999);
        long_reason[3999] = '\0';
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "reason", long_reason);
        const char *got = safetext_json_text(o, "reason");
        assert_int_equal(strlen(got), SAFETEXT_REASON_MAX);
        assert_string_equal(got + SAFETEXT_REASON_MAX - 3, "...");
        cJSON_Delete(o);
        free(long_reason);
}

static void test_json_tree(void **state)
{
        cJSON *o = cJSON_CreateObject();
        char *s;
        (void)state;
        cJSON_AddStringToObject(o, "nik", "6471012712828100");
        cJSON_AddStringToObject(o, "name", "Siti\x1b]0;owned\x07\xff");
        cJSON *a = cJSON_AddArrayToObject(o, "reasons");
        cJSON_AddItemToArray(a, cJSON_CreateString("6471 0127 1282 8100"));
        assert_int_equal(safetext_json_tree(o, false), 0);
        s = cJSON_PrintUnformatted(o);
        assert_string_equal(s, "{\"nik\":\"6471********8100\",\"name\":"
                               "\"Siti\\\\x1b]0;owned\\\\x07\\\\xff\","
                               "\"reasons\":[\"6471 **** **** 8100\"]}");
        free(s);
        cJSON_Delete(o);

        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "nik", "6471012712828100");
        cJSON_AddStringToObject(o, "name", "a\nb");
        assert_int_equal(safetext_json_tree(o, true), 0);
        s = cJSON_PrintUnformatted(o);
        assert_string_equal(s, "{\"nik\":\"6471012712828100\",\"name\":\"a\\\\nb\"}");
        free(s);
        cJSON_Delete(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mask),
            cmocka_unit_test(test_escape),
            cmocka_unit_test(test_escape_cuts_at_a_boundary),
            cmocka_unit_test(test_clean_masks_before_cutting),
            cmocka_unit_test(test_clean_a_cut_input),
            cmocka_unit_test(test_clean_masks_after_escaping_and_is_idempotent),
            cmocka_unit_test(test_json_text_made_safe_where_it_enters),
            cmocka_unit_test(test_json_tree),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
