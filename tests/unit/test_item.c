/* docs/endpoint.md, "POST /v1/registrations" and "POST /v1/deactivations":
 * the request bodies. Bodies already journaled are resent byte-identical, so
 * the bytes for ordinary items never change; and no value, whatever it
 * holds, can end its string early or add a member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "item.h"

#define ITEM "{\"nik\":\"6471054506900002\",\"program\":\"P\",\"reason\":\"withdrawn\"}"

static char *body_of(bool deactivations, const struct item_part *parts, size_t n,
                     size_t *len)
{
        char *body = NULL;

        assert_int_equal(
            item_batch_body("4f4993a2", 1234, deactivations, parts, n, &body, len), 0);
        assert_non_null(body);
        assert_int_equal(strlen(body), *len);
        return body;
}

/* The bytes every journaled body of the earlier writer has. */
static void test_bodies_keep_their_bytes(void **state)
{
        const struct item_part reg[] = {
            {7, NULL, "{\"nik\":\"6471054506900002\",\"name\":\"Siti\"}", 40},
            {8, NULL, "{}", 2},
        };
        const struct item_part deact[] = {
            {7, "25000000001", ITEM, strlen(ITEM)},
            {9, NULL, ITEM, strlen(ITEM)},
        };
        size_t len;
        char *b;

        (void)state;
        b = body_of(false, reg, 2, &len);
        assert_string_equal(
            b, "{\"batch_id\":\"b-4f4993a2-000000001234\",\"registrations\":["
               "{\"registration_id\":\"r-4f4993a2-000000000007\","
               "\"nik\":\"6471054506900002\",\"name\":\"Siti\"},"
               "{\"registration_id\":\"r-4f4993a2-000000000008\"}]}");
        free(b);
        b = body_of(true, deact, 2, &len);
        assert_string_equal(
            b, "{\"batch_id\":\"b-4f4993a2-000000001234\",\"deactivations\":["
               "{\"registration_id\":\"r-4f4993a2-000000000007\","
               "\"kpj\":\"25000000001\",\"nik\":\"6471054506900002\","
               "\"program\":\"P\",\"reason\":\"withdrawn\"},"
               "{\"registration_id\":\"r-4f4993a2-000000000009\","
               "\"kpj\":null,\"nik\":\"6471054506900002\","
               "\"program\":\"P\",\"reason\":\"withdrawn\"}]}");
        free(b);
}

/* A kpj journaled before kpjs were checked: escaped, whole, one member. */
static void test_kpj_is_escaped_never_cut(void **state)
{
        static const char *const kpjs[] = {
            "1\",\"nik\":\"x",
            "2500000000125000000001250000000012500000", /* 40 digits */
            "a\\b\"c\n\t\x01\x1f\xc3\xa9",
        };

        (void)state;
        for (size_t i = 0; i < sizeof(kpjs) / sizeof(kpjs[0]); i++) {
                const struct item_part part = {7, kpjs[i], ITEM, strlen(ITEM)};
                size_t len;
                char *b = body_of(true, &part, 1, &len);
                cJSON *doc = cJSON_ParseWithLength(b, len);

                if (!doc)
                        fail_msg("kpj %zu: not JSON: %s", i, b);
                cJSON *item = cJSON_GetArrayItem(
                    cJSON_GetObjectItemCaseSensitive(doc, "deactivations"), 0);
                /* the value comes back whole, and the item has its 5 members */
                assert_string_equal(
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "kpj")),
                    kpjs[i]);
                assert_int_equal(cJSON_GetArraySize(item), 5);
                int niks = 0;
                for (cJSON *m = item->child; m; m = m->next)
                        niks += strcmp(m->string, "nik") == 0;
                assert_int_equal(niks, 1);
                cJSON_Delete(doc);
                free(b);
        }
}

/* The escaping is cJSON's, byte for byte. */
static void test_escaping_matches_cjson(void **state)
{
        char all[256];
        size_t len;

        (void)state;
        for (int c = 1; c < 256; c++)
                all[c - 1] = (char)c;
        all[255] = '\0';
        const struct item_part part = {7, all, "{}", 2};
        char *b = body_of(true, &part, 1, &len);
        cJSON *s = cJSON_CreateString(all);
        char *want = cJSON_PrintUnformatted(s);
        const char *at = strstr(b, "\"kpj\":");

        assert_non_null(at);
        assert_memory_equal(at + 6, want, strlen(want));
        free(b);
        free(want);
        cJSON_Delete(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bodies_keep_their_bytes),
            cmocka_unit_test(test_kpj_is_escaped_never_cut),
            cmocka_unit_test(test_escaping_matches_cjson),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
