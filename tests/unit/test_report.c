/* The premium report (docs/finance.md): the pure report_build, one row a
 * rule, with the worked examples of the budget rules (Rp16,800 a month, a
 * 2025 programme); then its three formats, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "report.h"

#define M(y, m) ((int64_t)(y)*12 + (m)-1)
#define W       REPORT_WORKERS
#define P       REPORT_PENDING

static const struct conf_program programs[] = {
    {.id = "BPP-DIFABEL-2025",
     .payer_level = PAYER_CITY,
     .payer_region = "6471",
     .monthly_premium = 16800,
     .quota = 10000,
     .budget = 1900000000,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
    {.id = "KALTIM-RENTAN-2025",
     .payer_level = PAYER_PROVINCE,
     .payer_region = "64",
     .monthly_premium = 16800,
     .quota = 10000,
     .budget = -1,
     .start_month = M(2025, 1),
     .end_month = M(2025, 12)},
};
#define BPP    "BPP-DIFABEL-2025"
#define KALTIM "KALTIM-RENTAN-2025"

#define MAX_GROUPS 4

/* One row: groups of coverages in, one programme's figures out. */
static const struct row {
        const char *rule;
        struct report_group groups[MAX_GROUPS];
        const char *program; /* the programme whose figures are checked */
        int64_t committed, premium_total;
        int64_t remaining; /* -1: none (no budget) */
        int64_t workers[12], pending[12];
} rows[] = {
    {"a January coverage commits Rp201,600 and owes it month by month",
     {{BPP, W, M(2025, 1), M(2025, 12), 1}},
     BPP,
     201600,
     201600,
     1900000000 - 201600,
     {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
     {0}},
    {"one submitted in October commits Rp50,400",
     {{BPP, W, M(2025, 10), M(2025, 12), 1}},
     BPP,
     50400,
     50400,
     1900000000 - 50400,
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1},
     {0}},
    {"withdrawn in March, the January one commits Rp50,400",
     {{BPP, W, M(2025, 1), M(2025, 3), 1}},
     BPP,
     50400,
     50400,
     1900000000 - 50400,
     {1, 1, 1},
     {0}},
    {"a pending coverage commits its premium but owes nothing yet",
     {{BPP, P, M(2025, 1), M(2025, 12), 1}},
     BPP,
     201600,
     0,
     1900000000 - 201600,
     {0},
     {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"without a budget nothing remains, the rest is the same",
     {{KALTIM, W, M(2025, 4), M(2025, 12), 1}},
     KALTIM,
     151200,
     151200,
     -1,
     {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
     {0}},
    {"all answered: premium_total equals committed",
     {{BPP, W, M(2025, 1), M(2025, 12), 7000},
      {BPP, W, M(2025, 1), M(2025, 3), 100},
      {BPP, W, M(2025, 10), M(2025, 12), 40}},
     BPP,
     7000 * 201600 + 100 * 50400 + 40 * 50400,
     7000 * 201600 + 100 * 50400 + 40 * 50400,
     1900000000 - (7000 * 201600 + 100 * 50400 + 40 * 50400),
     {7100, 7100, 7100, 7000, 7000, 7000, 7000, 7000, 7000, 7040, 7040, 7040},
     {0}},
    {"9,424 January coverages leave Rp121,600 of Rp1.9 billion",
     {{BPP, W, M(2025, 1), M(2025, 12), 9424}},
     BPP,
     1899878400,
     1899878400,
     121600,
     {9424, 9424, 9424, 9424, 9424, 9424, 9424, 9424, 9424, 9424, 9424, 9424},
     {0}},
    {"months outside the period are ignored, and commit nothing",
     {{BPP, W, M(2024, 11), M(2025, 2), 1},
      {BPP, P, M(2025, 12), M(2026, 3), 2},
      {BPP, W, M(2026, 1), M(2026, 12), 5},
      {BPP, W, M(2024, 1), M(2024, 12), 5}},
     BPP,
     2 * 16800 + 2 * 16800,
     2 * 16800,
     1900000000 - 4 * 16800,
     {1, 1},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}},
    {"another programme's coverages count only there",
     {{KALTIM, W, M(2025, 1), M(2025, 12), 3}},
     BPP,
     0,
     0,
     1900000000,
     {0},
     {0}},
    {"an empty journal: every month, with zeros", {{0}}, BPP, 0, 0, 1900000000, {0}, {0}},
};

static size_t n_groups(const struct row *r)
{
        size_t n = 0;
        while (n < MAX_GROUPS && r->groups[n].program)
                n++;
        return n;
}

static void test_rules(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const struct row *row = &rows[i];
                struct report r;
                char err[REPORT_ERR_SIZE];
                const struct report_program *rp = NULL;

                print_message("rule: %s\n", row->rule);
                assert_int_equal(report_build(programs, 2, row->groups, n_groups(row),
                                              NULL, 0, &r, err),
                                 0);
                assert_int_equal(r.n_programs, 2);
                assert_int_equal(r.n_unconfigured, 0);
                for (size_t p = 0; p < r.n_programs; p++)
                        if (strcmp(r.programs[p].conf->id, row->program) == 0)
                                rp = &r.programs[p];
                assert_non_null(rp);
                assert_int_equal(rp->committed, row->committed);
                assert_int_equal(rp->premium_total, row->premium_total);
                if (row->remaining >= 0)
                        assert_int_equal(rp->remaining, row->remaining);
                else
                        assert_true(rp->conf->budget < 0);
                assert_int_equal(rp->n_months, 12);
                for (size_t m = 0; m < 12; m++) {
                        assert_int_equal(rp->months[m].month, M(2025, 1) + (int64_t)m);
                        assert_int_equal(rp->months[m].workers, row->workers[m]);
                        assert_int_equal(rp->months[m].pending, row->pending[m]);
                        assert_int_equal(rp->months[m].premium, row->workers[m] * 16800);
                }
                report_free(&r);
        }
}

/* Slots in use come from the journal's quota, for each configured programme. */
static void test_used(void **state)
{
        const struct report_use uses[] = {{KALTIM, 3}, {BPP, 7140}};
        struct report r;
        char err[REPORT_ERR_SIZE];

        (void)state;
        assert_int_equal(report_build(programs, 2, NULL, 0, uses, 2, &r, err), 0);
        assert_int_equal(r.programs[0].used, 7140);
        assert_int_equal(r.programs[1].used, 3);
        report_free(&r);
}

/* A programme the configuration no longer has: its coverages are counted
 * (so the finance office sees that they exist), never priced. */
static void test_unconfigured_counted_not_priced(void **state)
{
        const struct report_group groups[] = {
            {"SORONG-RENTAN-2024", W, M(2024, 1), M(2024, 12), 10},
            {BPP, W, M(2025, 1), M(2025, 12), 1},
            {"SORONG-RENTAN-2024", P, M(2024, 3), M(2024, 12), 2},
        };
        const struct report_use uses[] = {{"SORONG-RENTAN-2024", 12}, {"GONE", 0}};
        struct report r;
        char err[REPORT_ERR_SIZE];

        (void)state;
        assert_int_equal(report_build(programs, 2, groups, 3, uses, 2, &r, err), 0);
        assert_int_equal(r.n_unconfigured, 1);
        assert_string_equal(r.unconfigured[0].program, "SORONG-RENTAN-2024");
        assert_int_equal(r.unconfigured[0].workers, 10);
        assert_int_equal(r.unconfigured[0].pending, 2);
        assert_int_equal(r.unconfigured[0].used, 12);
        assert_int_equal(r.programs[0].committed, 201600);
        assert_int_equal(r.programs[1].committed, 0);
        report_free(&r);
}

/* An amount that does not fit in 64 bits is an error naming the programme,
 * never a wrapped figure. */
static void test_overflow(void **state)
{
        const struct report_group huge[] = {
            {BPP, W, M(2025, 1), M(2025, 12), INT64_MAX / 12}};
        const struct report_group sum[] = {{BPP, P, M(2025, 1), M(2025, 1), INT64_MAX},
                                           {BPP, P, M(2025, 1), M(2025, 1), 1}};
        struct report r = {0};
        char err[REPORT_ERR_SIZE];

        (void)state;
        assert_int_equal(report_build(programs, 2, huge, 1, NULL, 0, &r, err),
                         -EOVERFLOW);
        assert_string_equal(err, "programme BPP-DIFABEL-2025: the committed premium does "
                                 "not fit in 64 bits");
        assert_null(r.programs);
        assert_int_equal(report_build(programs, 2, sum, 2, NULL, 0, &r, err), -EOVERFLOW);
        assert_non_null(strstr(err, "BPP-DIFABEL-2025"));
}

static void test_amount(void **state)
{
        static const struct {
                int64_t v;
                const char *text;
        } cases[] = {
            {0, "0"},
            {999, "999"},
            {1000, "1,000"},
            {16800, "16,800"},
            {1900000000, "1,900,000,000"},
            {-50400, "-50,400"},
            {INT64_MAX, "9,223,372,036,854,775,807"},
            {INT64_MIN, "-9,223,372,036,854,775,808"},
        };
        char out[32];

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_string_equal(report_amount(cases[i].v, out), cases[i].text);
}

/* ---- the formats ---- */

static const struct conf_program small[] = {
    {.id = "BPP-DIFABEL-2025",
     .payer_level = PAYER_CITY,
     .payer_region = "6471",
     .monthly_premium = 16800,
     .quota = 10000,
     .budget = 1900000000,
     .start_month = M(2025, 11),
     .end_month = M(2025, 12)},
    {.id = "KALTIM,\"RENTAN\"",
     .payer_level = PAYER_PROVINCE,
     .payer_region = "64",
     .monthly_premium = 16800,
     .quota = 5,
     .budget = -1,
     .start_month = M(2025, 12),
     .end_month = M(2025, 12)},
};

static char *print(int (*fn)(const struct report *, FILE *), bool unconfigured)
{
        const struct report_group groups[] = {
            {"BPP-DIFABEL-2025", W, M(2025, 1), M(2025, 12), 7000},
            {"BPP-DIFABEL-2025", P, M(2025, 12), M(2025, 12), 140},
            {"OLD-2024", W, M(2024, 1), M(2024, 12), 3},
        };
        const struct report_use uses[] = {{"BPP-DIFABEL-2025", 7140}};
        struct report r;
        char err[REPORT_ERR_SIZE], *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        assert_int_equal(
            report_build(small, 2, groups, unconfigured ? 3 : 2, uses, 1, &r, err), 0);
        assert_int_equal(fn(&r, f), 0);
        fclose(f);
        report_free(&r);
        return buf;
}

static void test_json(void **state)
{
        char *s = print(report_print_json, true);

        (void)state;
        assert_string_equal(
            s, "{\"schema\":\"premium-report/v1\",\"programs\":["
               "{\"program\":\"BPP-DIFABEL-2025\",\"payer\":{\"level\":\"city\","
               "\"region\":\"6471\"},\"monthly_premium\":16800,\"quota\":10000,"
               "\"used\":7140,\"budget\":1900000000,\"committed\":237552000,"
               "\"remaining\":1662448000,\"months\":["
               "{\"month\":\"2025-11\",\"workers\":7000,\"pending\":0,\"premium\":"
               "117600000},"
               "{\"month\":\"2025-12\",\"workers\":7000,\"pending\":140,"
               "\"premium\":117600000}],\"premium_total\":235200000},"
               "{\"program\":\"KALTIM,\\\"RENTAN\\\"\",\"payer\":{\"level\":\"province\","
               "\"region\":\"64\"},\"monthly_premium\":16800,\"quota\":5,\"used\":0,"
               "\"budget\":null,\"committed\":0,\"remaining\":null,\"months\":["
               "{\"month\":\"2025-12\",\"workers\":0,\"pending\":0,\"premium\":0}],"
               "\"premium_total\":0}],"
               "\"unconfigured\":[{\"program\":\"OLD-2024\",\"used\":0,\"workers\":3,"
               "\"pending\":0}]}\n");
        free(s);
}

static void test_csv(void **state)
{
        char *s = print(report_print_csv, true);

        (void)state;
        assert_string_equal(s, "program,month,workers,pending,premium\r\n"
                               "BPP-DIFABEL-2025,2025-11,7000,0,117600000\r\n"
                               "BPP-DIFABEL-2025,2025-12,7000,140,117600000\r\n"
                               "\"KALTIM,\"\"RENTAN\"\"\",2025-12,0,0,0\r\n");
        free(s);
}

static void test_table(void **state)
{
        char *s = print(report_print_table, true);

        (void)state;
        assert_string_equal(
            s, "BPP-DIFABEL-2025 (city 6471)\n"
               "  monthly premium  Rp16,800\n"
               "  quota            10,000 (7,140 in use)\n"
               "  budget           Rp1,900,000,000\n"
               "  committed        Rp237,552,000\n"
               "  remaining        Rp1,662,448,000\n"
               "  month    workers  pending  premium (Rp)\n"
               "  2025-11    7,000        0   117,600,000\n"
               "  2025-12    7,000      140   117,600,000\n"
               "  total                       235,200,000\n"
               "\n"
               "KALTIM,\"RENTAN\" (province 64)\n"
               "  monthly premium  Rp16,800\n"
               "  quota            5 (0 in use)\n"
               "  budget           none\n"
               "  committed        Rp0\n"
               "  remaining        -\n"
               "  month    workers  pending  premium (Rp)\n"
               "  2025-12        0        0             0\n"
               "  total                                 0\n"
               "\n"
               "In the journal but not in the configuration (not priced):\n"
               "  OLD-2024: 0 slots in use; coverages: 3 answered, 0 pending\n");
        free(s);
}

/* docs/finance.md's worked example is what the report prints: 7,000
 * January registrations answered, 100 of them withdrawn in March, 140
 * October ones pending, against Rp1.9 billion. */
static char *doc_block(const char *doc, const char *after, const char *fence)
{
        const char *start = strstr(doc, after), *end;

        assert_non_null(start);
        start = strstr(start, fence);
        assert_non_null(start);
        start += strlen(fence);
        end = strstr(start, "```");
        assert_non_null(end);
        return strndup(start, (size_t)(end - start));
}

static void test_finance_doc_example(void **state)
{
        const struct report_group groups[] = {
            {BPP, W, M(2025, 1), M(2025, 3), 100},
            {BPP, W, M(2025, 1), M(2025, 12), 6900},
            {BPP, P, M(2025, 10), M(2025, 12), 140},
        };
        const struct report_use uses[] = {{BPP, 7040}};
        char *doc = NULL, *table = NULL, *json = NULL, *want_table, *want_json;
        size_t len = 0, tlen = 0, jlen = 0;
        FILE *f = fopen(SOURCE_DIR "/docs/finance.md", "r"), *t, *j;
        struct report r;
        char err[REPORT_ERR_SIZE];
        cJSON *a, *b;

        (void)state;
        assert_non_null(f);
        assert_true(getdelim(&doc, &len, '\0', f) > 0);
        fclose(f);
        want_table =
            doc_block(doc, "report --program BPP-DIFABEL-2025` prints:", "```text\n");
        want_json = doc_block(doc, "## The JSON", "```json\n");

        assert_int_equal(report_build(programs, 1, groups, 3, uses, 1, &r, err), 0);
        t = open_memstream(&table, &tlen);
        j = open_memstream(&json, &jlen);
        assert_int_equal(report_print_table(&r, t), 0);
        assert_int_equal(report_print_json(&r, j), 0);
        fclose(t);
        fclose(j);
        assert_string_equal(table, want_table);
        a = cJSON_Parse(json);
        b = cJSON_Parse(want_json);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(cJSON_Compare(a, b, true));
        cJSON_Delete(a);
        cJSON_Delete(b);
        report_free(&r);
        free(doc);
        free(table);
        free(json);
        free(want_table);
        free(want_json);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_used),
            cmocka_unit_test(test_unconfigured_counted_not_priced),
            cmocka_unit_test(test_overflow),
            cmocka_unit_test(test_amount),
            cmocka_unit_test(test_json),
            cmocka_unit_test(test_csv),
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_finance_doc_example),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
