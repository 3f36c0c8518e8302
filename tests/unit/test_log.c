/* Logging: what journald receives under systemd, and that a NIK never
 * leaks, in the text or in a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static char got[16][512];
static size_t n_got;

static void writer(const char *const *fields, size_t n, void *opaque)
{
        (void)opaque;
        n_got = n;
        for (size_t i = 0; i < n && i < 16; i++)
                snprintf(got[i], sizeof(got[i]), "%s", fields[i]);
}

static bool has(const char *field)
{
        for (size_t i = 0; i < n_got; i++)
                if (strcmp(got[i], field) == 0)
                        return true;
        return false;
}

static void test_journald_fields(void **state)
{
        const struct log_field fields[] = {
            {"BPJS_PROGRAM", "BPP-DIFABEL-2025"},
            {"BPJS_NIK", "6471********0002"},
            {"BPJS_BATCH", "b-0badcafe-000000000012"},
            {"BPJS_EMPTY", ""},
        };
        (void)state;
        log_set_journal_writer(writer, NULL);
        log_fields(LOG_LVL_WARNING, "push", fields, 4, "batch %s slow", "b-12");
        assert_true(has("PRIORITY=4"));
        assert_true(has("MESSAGE=push: batch b-12 slow"));
        assert_true(has("SYSLOG_IDENTIFIER=bpjs-syncd"));
        assert_true(has("BPJS_CONTEXT=push"));
        assert_true(has("BPJS_PROGRAM=BPP-DIFABEL-2025"));
        assert_true(has("BPJS_NIK=6471********0002"));
        assert_true(has("BPJS_BATCH=b-0badcafe-000000000012"));
        assert_int_equal(n_got, 7); /* an empty field is left out */

        log_write(LOG_LVL_ERR, "main", "plain");
        assert_true(has("PRIORITY=3"));
        assert_true(has("MESSAGE=main: plain"));
        log_set_journal_writer(NULL, NULL);
}

static void test_a_nik_never_leaks(void **state)
{
        const struct log_field fields[] = {{"BPJS_NIK", "6471054506900002"}};
        (void)state;
        log_set_journal_writer(writer, NULL);
        log_fields(LOG_LVL_ERR, "consume", fields, 1, "worker %s", "6471054506900002");
        assert_true(has("MESSAGE=consume: worker 6471********0002"));
        assert_true(has("BPJS_NIK=6471********0002"));
        log_set_journal_writer(NULL, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_journald_fields),
            cmocka_unit_test(test_a_nik_never_leaks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
