/* The JSON the daemon writes at a high rate (results, request items) is
 * written by jsonw, not by cJSON trees; the bytes must be those cJSON
 * printed before, which portals have read and journaled items hold. Each
 * test keeps the earlier cJSON encoder as the oracle and compares bytes,
 * over every byte value in every string and the members that come and go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "item.h"
#include "jsonw.h"
#include "result.h"

static char all_bytes[256]; /* 1..255, NUL-terminated */

static int setup(void **state)
{
        (void)state;
        for (int c = 1; c < 256; c++)
                all_bytes[c - 1] = (char)c;
        all_bytes[255] = '\0';
        return 0;
}

static void equal_to_cjson(cJSON *o, char *got, size_t got_len)
{
        char *want = cJSON_PrintUnformatted(o);

        assert_non_null(want);
        assert_non_null(got);
        assert_int_equal(got_len, strlen(got));
        if (strcmp(got, want) != 0) {
                size_t i = 0;
                while (got[i] && got[i] == want[i])
                        i++;
                /* neither text is printed: both hold a NIK */
                fail_msg(
                    "the text differs from cJSON's from byte %zu (%zu bytes, cJSON's "
                    "%zu)",
                    i, got_len, strlen(want));
        }
        free(want);
        free(got);
        cJSON_Delete(o);
}

static void test_strings_are_escaped_as_cjson_escapes(void **state)
{
        const char *cases[] = {"",
                               "plain",
                               "\"quoted\"",
                               "back\\slash",
                               "\b\f\n\r\t",
                               "\x01\x1f\x7f",
                               "Jl. Sudirman No. 5, RT 01/02",
                               "\xc3\xa9\xe2\x82\xac",
                               "\xff\xfe half",
                               all_bytes};
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct jsonw w;
                size_t len = 0;
                jsonw_init(&w, 4); /* small: growth on the way */
                jsonw_str(&w, cases[i]);
                char *got = jsonw_finish(&w, &len);
                equal_to_cjson(cJSON_CreateString(cases[i]), got, len);
        }
}

/* ---- the earlier encoders, kept as the oracles ---- */

static cJSON *text_or_null(const char *s)
{
        return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *result_oracle(const struct result *r)
{
        char at[40];
        cJSON *o = cJSON_CreateObject();

        clock_format_rfc3339(r->at_ms, at, sizeof(at));
        cJSON_AddStringToObject(o, "schema", "enrollment-result/v1");
        cJSON_AddItemToObject(o, "event_id", text_or_null(r->event_id));
        cJSON_AddItemToObject(o, "program", text_or_null(r->program));
        cJSON_AddItemToObject(o, "nik", text_or_null(r->nik));
        cJSON_AddStringToObject(o, "status", result_status_name(r->status));
        cJSON_AddItemToObject(o, "reason", text_or_null(r->reason));
        if (r->detail && *r->detail)
                cJSON_AddStringToObject(o, "detail", r->detail);
        cJSON_AddItemToObject(o, "covered_by", text_or_null(r->covered_by));
        cJSON_AddItemToObject(o, "kpj", text_or_null(r->kpj));
        cJSON_AddItemToObject(o, "batch_id", text_or_null(r->batch_id));
        cJSON_AddStringToObject(o, "at", at);
        if (r->source_topic) {
                cJSON *src = cJSON_AddObjectToObject(o, "source");
                cJSON_AddStringToObject(src, "topic", r->source_topic);
                cJSON_AddNumberToObject(src, "partition", r->source_partition);
                cJSON_AddNumberToObject(src, "offset", (double)r->source_offset);
        }
        return o;
}

static void test_results_have_the_bytes_they_had(void **state)
{
        const struct result cases[] = {
            {.event_id = "bpp-portal:2025-01-06:000123",
             .program = "BPP-DIFABEL-2025",
             .nik = "6471054506900002",
             .status = RESULT_CONFIRMED,
             .covered_by = "BPP-DIFABEL-2025",
             .at_ms = 1736150102000,
             .source_topic = "enrollment.events",
             .source_partition = 3,
             .source_offset = 4294967296LL * 1000},
            {.status = RESULT_REJECTED,
             .reason = "invalid_field",
             .detail = "worker.nik",
             .at_ms = 0,
             .source_topic = "t",
             .source_partition = 0,
             .source_offset = 0},
            {.event_id = "e",
             .program = "P",
             .nik = "6471054506900002",
             .status = RESULT_REGISTERED,
             .covered_by = "P",
             .kpj = "25000000001",
             .batch_id = "b-4f4993a2-000000001234",
             .at_ms = 1736150102123},
            {.event_id = "e",
             .program = "",
             .nik = "",
             .status = RESULT_FAILED,
             .reason = all_bytes,
             .batch_id = "",
             .detail = "",
             .at_ms = 1},
            {.event_id = "e",
             .program = "P",
             .nik = "6471054506900002",
             .status = RESULT_DEACTIVATED,
             .reason = "not_registered",
             .at_ms = 86400000},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len = 0;
                char *got = result_encode(&cases[i], &len);
                equal_to_cjson(result_oracle(&cases[i]), got, len);
        }
}

static cJSON *registration_oracle(const struct event *ev, const struct conf_program *prog,
                                  int64_t first_month)
{
        cJSON *o = cJSON_CreateObject(), *payer, *benefits, *period;
        char start[8], end[8];

        conf_month_format(first_month, start);
        conf_month_format(prog->end_month, end);
        cJSON_AddStringToObject(o, "nik", ev->nik);
        cJSON_AddStringToObject(o, "name", ev->name);
        cJSON_AddStringToObject(o, "birth_date", ev->birth_date);
        cJSON_AddStringToObject(o, "sex", ev->sex == 'F' ? "F" : "M");
        cJSON_AddStringToObject(o, "program", prog->id);
        payer = cJSON_AddObjectToObject(o, "payer");
        cJSON_AddStringToObject(payer, "level", conf_payer_level_name(prog->payer_level));
        cJSON_AddStringToObject(payer, "region", prog->payer_region);
        benefits = cJSON_AddArrayToObject(o, "benefits");
        if (prog->benefits & BENEFIT_JKK)
                cJSON_AddItemToArray(benefits, cJSON_CreateString("JKK"));
        if (prog->benefits & BENEFIT_JKM)
                cJSON_AddItemToArray(benefits, cJSON_CreateString("JKM"));
        period = cJSON_AddObjectToObject(o, "period");
        cJSON_AddStringToObject(period, "start", start);
        cJSON_AddStringToObject(period, "end", end);
        cJSON_AddNumberToObject(o, "monthly_premium", (double)prog->monthly_premium);
        if (ev->occupation)
                cJSON_AddStringToObject(o, "occupation", ev->occupation);
        if (ev->phone[0])
                cJSON_AddStringToObject(o, "phone", ev->phone);
        return o;
}

static void test_items_have_the_bytes_they_had(void **state)
{
        struct conf_program progs[] = {
            {.id = "BPP-DIFABEL-2025",
             .payer_level = PAYER_CITY,
             .payer_region = "6471",
             .benefits = BENEFIT_JKK | BENEFIT_JKM,
             .monthly_premium = 16800,
             .end_month = 2025 * 12 + 11},
            {.id = "P",
             .payer_level = PAYER_PROVINCE,
             .payer_region = "64",
             .benefits = BENEFIT_JKM,
             .monthly_premium = 0,
             .end_month = 2024 * 12},
            {.id = "Q",
             .payer_level = PAYER_CITY,
             .payer_region = "9271",
             .benefits = BENEFIT_JKK,
             .monthly_premium = 123456789012LL,
             .end_month = 2030 * 12 + 5},
            {.id = "R",
             .payer_level = PAYER_CITY,
             .payer_region = "",
             .benefits = 0,
             .monthly_premium = 1,
             .end_month = 1},
        };
        struct event evs[3];

        (void)state;
        memset(evs, 0, sizeof(evs));
        snprintf(evs[0].nik, sizeof(evs[0].nik), "6471054506900002");
        evs[0].name = "Siti \"Ani\" Rahayu";
        snprintf(evs[0].birth_date, sizeof(evs[0].birth_date), "1990-06-05");
        evs[0].sex = 'F';
        snprintf(evs[0].phone, sizeof(evs[0].phone), "+628123456789");
        evs[0].occupation = "penjahit";
        snprintf(evs[0].program, sizeof(evs[0].program), "BPP-DIFABEL-2025");
        snprintf(evs[1].nik, sizeof(evs[1].nik), "9271051203850001");
        evs[1].name = all_bytes;
        snprintf(evs[1].birth_date, sizeof(evs[1].birth_date), "1985-03-12");
        evs[1].sex = 'M';
        evs[1].occupation = all_bytes;
        evs[1].reason = all_bytes;
        snprintf(evs[1].program, sizeof(evs[1].program), "P");
        snprintf(evs[2].nik, sizeof(evs[2].nik), "6471051203850001");
        evs[2].name = "x";
        snprintf(evs[2].program, sizeof(evs[2].program), "Q");
        snprintf(evs[2].phone, sizeof(evs[2].phone), "\\\n");

        for (size_t e = 0; e < 3; e++) {
                for (size_t p = 0; p < sizeof(progs) / sizeof(progs[0]); p++) {
                        char *got = NULL;
                        size_t len = 0;
                        int64_t first = progs[p].end_month - (int64_t)p;
                        assert_int_equal(
                            item_registration(&evs[e], &progs[p], first, &got, &len), 0);
                        equal_to_cjson(registration_oracle(&evs[e], &progs[p], first),
                                       got, len);
                }
                char *got = NULL;
                size_t len = 0;
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "nik", evs[e].nik);
                cJSON_AddStringToObject(o, "program", evs[e].program);
                cJSON_AddStringToObject(o, "reason",
                                        evs[e].reason ? evs[e].reason : "withdrawn");
                assert_int_equal(item_deactivation(&evs[e], &got, &len), 0);
                equal_to_cjson(o, got, len);
        }
}

/* A result's time, in the local zone: the same within a second, another
 * the next second, and the earlier one again after it (one conversion is
 * kept per second). */
static void test_the_time_of_a_result(void **state)
{
        const int64_t ms[] = {
            1736150102000, 1736150102999, 1736150103000, 1736150102500, 0,
            951782400000 /* 29 Feb 2000 */};
        (void)state;
        for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
                char got[40], want[40], base[32];
                time_t t = (time_t)(ms[i] / 1000);
                struct tm tm;
                localtime_r(&t, &tm);
                long off = tm.tm_gmtoff / 60;
                strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
                if (off == 0)
                        snprintf(want, sizeof(want), "%sZ", base);
                else
                        snprintf(want, sizeof(want), "%s%c%02ld:%02ld", base,
                                 off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
                clock_format_rfc3339(ms[i], got, sizeof(got));
                assert_string_equal(got, want);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_strings_are_escaped_as_cjson_escapes),
            cmocka_unit_test(test_results_have_the_bytes_they_had),
            cmocka_unit_test(test_items_have_the_bytes_they_had),
            cmocka_unit_test(test_the_time_of_a_result),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
