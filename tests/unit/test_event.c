/* Every reason code of docs/events.md, one row a rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "event.h"

/* the parsed events' free text, freed once the group has run */
static struct textpool texts;

/* The spec's example, with one member replaced. */
struct fields {
        const char *schema, *event_id, *type, *occurred_at, *program;
        const char *nik, *name, *birth_date, *sex, *extra;
};

static const struct fields base = {
    "\"enrollment/v1\"",
    "\"bpp-portal:2025-01-06:000123\"",
    "\"enrollment.submitted\"",
    "\"2025-01-06T08:15:00+08:00\"",
    "\"BPP-DIFABEL-2025\"",
    "\"6471054506900002\"",
    "\"Siti Aminah\"",
    "\"1990-06-05\"",
    "\"F\"",
    "",
};

static size_t build(const struct fields *f, char *buf, size_t size)
{
        int n =
            snprintf(buf, size,
                     "{\"schema\":%s,\"event_id\":%s,\"type\":%s,\"occurred_at\":%s,"
                     "\"portal\":\"bpp-portal\",\"program\":%s,\"worker\":{\"nik\":%s,"
                     "\"name\":%s,\"birth_date\":%s,\"sex\":%s,"
                     "\"phone\":\"+6281234567890\",\"occupation\":\"penjahit\","
                     "\"disability\":true}%s}",
                     f->schema, f->event_id, f->type, f->occurred_at, f->program, f->nik,
                     f->name, f->birth_date, f->sex, f->extra);
        return (size_t)n;
}

#define ROW(rule, member, value, reason, field)                                          \
        {                                                                                \
                rule, offsetof(struct fields, member), value, reason, field              \
        }

static const struct {
        const char *rule;
        size_t member;
        const char *value;
        enum reason want;
        const char *field;
} cases[] = {
    ROW("the spec's example is valid", schema, "\"enrollment/v1\"", REASON_NONE, ""),
    ROW("schema other than enrollment/v1", schema, "\"enrollment/v2\"",
        REASON_UNSUPPORTED_SCHEMA, "schema"),
    ROW("schema missing", schema, "null", REASON_UNSUPPORTED_SCHEMA, "schema"),
    ROW("event_id empty", event_id, "\"\"", REASON_INVALID_EVENT_ID, "event_id"),
    ROW("event_id with a space", event_id, "\"a b\"", REASON_INVALID_EVENT_ID,
        "event_id"),
    ROW("event_id with a slash", event_id, "\"a/b\"", REASON_INVALID_EVENT_ID,
        "event_id"),
    ROW("event_id a number", event_id, "123", REASON_INVALID_EVENT_ID, "event_id"),
    ROW("event_id 128 chars is fine", event_id,
        "\""
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "\"",
        REASON_NONE, ""),
    ROW("event_id 129 chars", event_id,
        "\""
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "\"",
        REASON_INVALID_EVENT_ID, "event_id"),
    ROW("type unknown", type, "\"enrollment.updated\"", REASON_INVALID_TYPE, "type"),
    ROW("type a number", type, "1", REASON_INVALID_TYPE, "type"),
    ROW("occurred_at not RFC 3339", occurred_at, "\"06/01/2025 08:15\"",
        REASON_INVALID_FIELD, "occurred_at"),
    ROW("occurred_at without offset", occurred_at, "\"2025-01-06T08:15:00\"",
        REASON_INVALID_FIELD, "occurred_at"),
    ROW("occurred_at in UTC with fraction", occurred_at, "\"2025-01-06T00:15:00.250Z\"",
        REASON_NONE, ""),
    ROW("occurred_at missing", occurred_at, "null", REASON_MISSING_FIELD, "occurred_at"),
    ROW("program missing", program, "null", REASON_MISSING_FIELD, "program"),
    ROW("program a number", program, "7", REASON_INVALID_FIELD, "program"),
    ROW("nik missing", nik, "null", REASON_MISSING_FIELD, "worker.nik"),
    ROW("nik 15 digits", nik, "\"647105450690000\"", REASON_INVALID_NIK, "worker.nik"),
    ROW("nik as a JSON number", nik, "6471054506900002", REASON_INVALID_NIK,
        "worker.nik"),
    ROW("nik province 99", nik, "\"9971054506900002\"", REASON_INVALID_NIK, "worker.nik"),
    ROW("nik birth day 32", nik, "\"6471057206900002\"", REASON_INVALID_NIK,
        "worker.nik"),
    ROW("nik day disagrees with birth_date", birth_date, "\"1990-06-06\"",
        REASON_NIK_BIRTH_DATE_MISMATCH, "worker.nik"),
    ROW("nik month disagrees with birth_date", birth_date, "\"1990-07-05\"",
        REASON_NIK_BIRTH_DATE_MISMATCH, "worker.nik"),
    ROW("nik year disagrees with birth_date", birth_date, "\"1991-06-05\"",
        REASON_NIK_BIRTH_DATE_MISMATCH, "worker.nik"),
    ROW("a woman's NIK with sex M", sex, "\"M\"", REASON_NIK_SEX_MISMATCH, "worker.nik"),
    ROW("a man's NIK with sex F", nik, "\"6471050506900002\"", REASON_NIK_SEX_MISMATCH,
        "worker.nik"),
    ROW("name missing for submitted", name, "null", REASON_MISSING_FIELD, "worker.name"),
    ROW("name empty", name, "\"\"", REASON_INVALID_FIELD, "worker.name"),
    ROW("name 100 characters (multibyte) is fine", name,
        "\""
        "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ"
        "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ"
        "\"",
        REASON_NONE, ""),
    ROW("name 101 characters", name,
        "\""
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "\"",
        REASON_INVALID_FIELD, "worker.name"),
    ROW("name a number", name, "42", REASON_INVALID_FIELD, "worker.name"),
    ROW("birth_date missing for submitted", birth_date, "null", REASON_MISSING_FIELD,
        "worker.birth_date"),
    ROW("birth_date not a date", birth_date, "\"1990-02-30\"", REASON_INVALID_FIELD,
        "worker.birth_date"),
    ROW("birth_date in another format", birth_date, "\"05-06-1990\"",
        REASON_INVALID_FIELD, "worker.birth_date"),
    ROW("sex missing for submitted", sex, "null", REASON_MISSING_FIELD, "worker.sex"),
    ROW("sex other than M or F", sex, "\"X\"", REASON_INVALID_FIELD, "worker.sex"),
    ROW("withdrawn needs no name, birth date or sex", type, "\"enrollment.withdrawn\"",
        REASON_NONE, ""),
    ROW("a repeated key", extra, ",\"program\":\"KALTIM-RENTAN-2025\"",
        REASON_DUPLICATE_KEY, ""),
    ROW("reason a number", extra, ",\"reason\":5", REASON_INVALID_FIELD, "reason"),
    ROW("an unknown top-level member is ignored", extra, ",\"trace\":{\"a\":[1,2]}",
        REASON_NONE, ""),
};

static void test_rules(void **state)
{
        static char buf[8192];
        (void)state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct fields f = base;
                struct event ev;
                struct event_error err;

                *(const char **)((char *)&f + cases[i].member) = cases[i].value;
                if (strcmp(cases[i].rule, "withdrawn needs no name, birth date or sex") ==
                    0)
                        f.name = f.birth_date = f.sex = "null";
                size_t len = build(&f, buf, sizeof(buf));
                int r = event_parse(buf, len, &ev, &texts, &err);
                enum reason got = r == 0 ? REASON_NONE : err.reason;
                if (got != cases[i].want || (r && strcmp(err.field, cases[i].field) != 0))
                        fail_msg("%s: got %s(%s), want %s(%s)", cases[i].rule,
                                 reason_name(got), r ? err.field : "",
                                 reason_name(cases[i].want), cases[i].field);
        }
}

static void expect_raw(const char *rule, const char *buf, size_t len, enum reason want)
{
        struct event ev;
        struct event_error err;
        int r = event_parse(buf, len, &ev, &texts, &err);
        if (r == 0 || err.reason != want)
                fail_msg("%s: got %s, want %s", rule,
                         r ? reason_name(err.reason) : "valid", reason_name(want));
}

static void test_malformed(void **state)
{
        (void)state;
        expect_raw("not JSON", "hello", 5, REASON_MALFORMED_JSON);
        expect_raw("empty value", "", 0, REASON_MALFORMED_JSON);
        expect_raw("a JSON array", "[1,2]", 5, REASON_MALFORMED_JSON);
        expect_raw("a JSON string", "\"x\"", 3, REASON_MALFORMED_JSON);
        expect_raw("truncated object", "{\"schema\":", 10, REASON_MALFORMED_JSON);
        expect_raw("invalid UTF-8", "{\"a\":\"\xff\"}", 9, REASON_INVALID_UTF8);
        expect_raw("overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", 10, REASON_INVALID_UTF8);
        expect_raw("UTF-16 surrogate in UTF-8", "{\"a\":\"\xed\xa0\x80\"}", 11,
                   REASON_INVALID_UTF8);
        expect_raw("a NUL byte", "{\"a\":1}\0", 8, REASON_MALFORMED_JSON);
        expect_raw("an escaped NUL", "{\"a\":\"x\\u0000\"}", 15, REASON_MALFORMED_JSON);
        expect_raw("a byte order mark before the object", "\xef\xbb\xbf{\"a\":1}", 10,
                   REASON_MALFORMED_JSON);
        expect_raw("data after the object", "{\"a\":1} x", 9, REASON_MALFORMED_JSON);
        expect_raw("two objects in one message", "{\"a\":1}{\"a\":1}", 14,
                   REASON_MALFORMED_JSON);
        expect_raw("a raw control character in a string", "{\"a\":\"x\x01y\"}", 11,
                   REASON_MALFORMED_JSON);
        expect_raw("a nested repeated key", "{\"w\":{\"a\":1,\"a\":2}}", 19,
                   REASON_DUPLICATE_KEY);

        size_t big = EVENT_MAX_BYTES + 1;
        char *b = malloc(big);
        assert_non_null(b);
        memset(b, ' ', big);
        b[0] = '{';
        b[big - 1] = '}';
        expect_raw("over 64 KiB", b, big, REASON_TOO_LARGE);

        /* 64 KiB of nesting: refused as malformed, without a crash. */
        size_t depth = 30000;
        for (size_t i = 0; i < depth; i++) {
                b[i] = '[';
                b[2 * depth - 1 - i] = ']';
        }
        expect_raw("deeply nested", b, 2 * depth, REASON_MALFORMED_JSON);
        free(b);
}

/* Space after the object is fine, and so is the text \\u0000 (an escaped
 * backslash): only the schema rules may refuse these. */
static void test_json_edges_accepted(void **state)
{
        static const char *const ok[] = {
            "{\"schema\":\"v0\"}  \n",
            "{\"schema\":\"v0\",\"x\":\"a\\\\u0000\"}",
        };
        (void)state;
        for (size_t i = 0; i < 2; i++)
                expect_raw(ok[i], ok[i], strlen(ok[i]), REASON_UNSUPPORTED_SCHEMA);
}

static void test_many_keys_is_fast(void **state)
{
        /* 5,000 distinct keys (under 64 KiB): quadratic comparison was slow */
        size_t cap = 5000 * 16 + 64, n = 0;
        char *b = malloc(cap);
        (void)state;
        assert_non_null(b);
        n += (size_t)snprintf(b + n, cap - n, "{\"schema\":\"v0\"");
        for (int i = 0; i < 5000; i++)
                n += (size_t)snprintf(b + n, cap - n, ",\"k%d\":1", i);
        n += (size_t)snprintf(b + n, cap - n, "}");
        expect_raw("5000 distinct keys", b, n, REASON_UNSUPPORTED_SCHEMA);
        b[n - 1] = ',';
        n += (size_t)snprintf(b + n, cap - n, "\"k7\":2}") - 0;
        expect_raw("5000 keys and one repeated", b, n, REASON_DUPLICATE_KEY);
        free(b);
}

static void test_fields_taken(void **state)
{
        char buf[4096];
        struct event ev;
        struct event_error err;
        (void)state;

        size_t len = build(&base, buf, sizeof(buf));
        assert_int_equal(event_parse(buf, len, &ev, &texts, &err), 0);
        assert_string_equal(ev.event_id, "bpp-portal:2025-01-06:000123");
        assert_int_equal(ev.type, EVENT_SUBMITTED);
        assert_string_equal(ev.program, "BPP-DIFABEL-2025");
        assert_string_equal(ev.nik, "6471054506900002");
        assert_string_equal(ev.name, "Siti Aminah");
        assert_string_equal(ev.birth_date, "1990-06-05");
        assert_int_equal(ev.sex, 'F');
        assert_string_equal(ev.phone, "+6281234567890");
        assert_string_equal(ev.occupation, "penjahit");
        assert_int_equal(ev.disability, 1);
        assert_null(ev.reason); /* absent */
}

/* The free-text fields live in the pool at their own length, each parse
 * its own copy: an earlier event's text is not overwritten by a later
 * one's, and an absent field is NULL, not the previous event's. */
static void test_texts_kept_per_event(void **state)
{
        char buf[4096], name[64], extra[64];
        struct event ev[50];
        struct event_error err;
        (void)state;

        textpool_clear(&texts);
        for (int i = 0; i < 50; i++) {
                struct fields f = base;
                snprintf(name, sizeof(name), "\"Pekerja %d\"", i);
                f.name = name;
                f.type = i % 2 ? "\"enrollment.withdrawn\"" : base.type;
                snprintf(extra, sizeof(extra), ",\"reason\":\"pindah %d\"", i);
                f.extra = i % 2 ? extra : "";
                size_t len = build(&f, buf, sizeof(buf));
                assert_int_equal(event_parse(buf, len, &ev[i], &texts, &err), 0);
        }
        for (int i = 0; i < 50; i++) {
                snprintf(name, sizeof(name), "Pekerja %d", i);
                assert_string_equal(ev[i].name, name);
                assert_string_equal(ev[i].occupation, "penjahit");
                if (i % 2) {
                        snprintf(extra, sizeof(extra), "pindah %d", i);
                        assert_string_equal(ev[i].reason, extra);
                } else {
                        assert_null(ev[i].reason);
                }
        }
}

/* worker.head_of_household: an optional boolean (the women heads of
 * household programme's criterion); anything but true, false or null is
 * invalid_field naming it. */
static void test_head_of_household(void **state)
{
        static const struct {
                const char *value; /* NULL: the key is absent */
                int want;          /* -1 absent, 0, 1; 2: refused */
        } hoh[] = {
            {NULL, -1}, {"true", 1},     {"false", 0},   {"null", -1},  {"1", 2},
            {"0", 2},   {"\"true\"", 2}, {"\"yes\"", 2}, {"[true]", 2}, {"{}", 2},
        };
        (void)state;
        for (size_t i = 0; i < sizeof(hoh) / sizeof(hoh[0]); i++) {
                char buf[4096], sex[64];
                struct event ev;
                struct event_error err;
                struct fields f = base;

                if (hoh[i].value) {
                        snprintf(sex, sizeof(sex), "\"F\",\"head_of_household\":%s",
                                 hoh[i].value);
                        f.sex = sex;
                }
                size_t len = build(&f, buf, sizeof(buf));
                int rc = event_parse(buf, len, &ev, &texts, &err);
                if (hoh[i].want == 2) {
                        if (rc != -1 || err.reason != REASON_INVALID_FIELD ||
                            strcmp(err.field, "worker.head_of_household"))
                                fail_msg("head_of_household %s: got %d %s %s",
                                         hoh[i].value, rc, reason_name(err.reason),
                                         err.field);
                } else if (rc != 0 || ev.head_of_household != hoh[i].want) {
                        fail_msg("head_of_household %s: got %d, value %d",
                                 hoh[i].value ? hoh[i].value : "(absent)", rc,
                                 ev.head_of_household);
                }
        }
}

/* The month and the date an event is decided with are those of occurred_at
 * as written, in the offset it carries. */
static void test_local_date(void **state)
{
        int y, m, d;
        (void)state;
        assert_true(event_local_date("2025-01-31T23:30:00+08:00", &y, &m, &d));
        assert_int_equal(y, 2025);
        assert_int_equal(m, 1);
        assert_int_equal(d, 31);
        assert_true(event_local_date("2024-02-29T00:00:00-05:00", &y, &m, &d));
        assert_int_equal(m, 2);
        assert_int_equal(d, 29);
        assert_false(event_local_date("2025-02-29T00:00:00Z", &y, &m, &d));
        assert_false(event_local_date("2025-01", &y, &m, &d));
        assert_false(event_local_date("", &y, &m, &d));
}

static void test_id_kept_on_failure(void **state)
{
        char buf[4096];
        struct event ev;
        struct event_error err;
        struct fields f = base;
        (void)state;

        f.sex = "\"M\"";
        size_t len = build(&f, buf, sizeof(buf));
        assert_int_equal(event_parse(buf, len, &ev, &texts, &err), -1);
        assert_string_equal(ev.event_id, "bpp-portal:2025-01-06:000123");
        assert_string_equal(ev.program, "BPP-DIFABEL-2025");
        assert_string_equal(ev.nik, "6471054506900002");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rules),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_json_edges_accepted),
            cmocka_unit_test(test_many_keys_is_fast),
            cmocka_unit_test(test_fields_taken),
            cmocka_unit_test(test_texts_kept_per_event),
            cmocka_unit_test(test_head_of_household),
            cmocka_unit_test(test_local_date),
            cmocka_unit_test(test_id_kept_on_failure),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        textpool_free(&texts);
        return failed;
}
