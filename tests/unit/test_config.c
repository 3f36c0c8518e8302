/* Every class of configuration error, each with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char dir[64], secret[128], file[128];

static const char base[] =
    "kafka:\n"                                              /* 1 */
    "  brokers: \"127.0.0.1:9092\"\n"                       /* 2 */
    "  topics: [\"enrollment.events\"]\n"                   /* 3 */
    "bpjs:\n"                                               /* 4 */
    "  base_url: \"http://127.0.0.1:8080\"\n"               /* 5 */
    "  cons_id: \"1001\"\n"                                 /* 6 */
    "  secret_file: \"@SECRET@\"\n"                         /* 7 */
    "  batch_size: 100\n"                                   /* 8 */
    "  retry:\n"                                            /* 9 */
    "    initial_ms: 500\n"                                 /* 10 */
    "    max_ms: 60000\n"                                   /* 11 */
    "journal:\n"                                            /* 12 */
    "  path: \"/tmp/j.db\"\n"                               /* 13 */
    "programs:\n"                                           /* 14 */
    "  - id: \"BPP-DIFABEL-2025\"\n"                        /* 15 */
    "    payer: {level: city, region: \"6471\"}\n"          /* 16 */
    "    benefits: [JKK, JKM]\n"                            /* 17 */
    "    monthly_premium: 16800\n"                          /* 18 */
    "    quota: 10000\n"                                    /* 19 */
    "    period: {start: \"2025-01\", end: \"2025-12\"}\n"  /* 20 */
    "  - id: \"KALTIM-RENTAN-2025\"\n"                      /* 21 */
    "    payer: {level: province, region: \"64\"}\n"        /* 22 */
    "    benefits: [JKK, JKM]\n"                            /* 23 */
    "    monthly_premium: 16800\n"                          /* 24 */
    "    quota: 10000\n"                                    /* 25 */
    "    period: {start: \"2025-01\", end: \"2025-12\"}\n"; /* 26 */

/* Writes the base file with the line containing `find` replaced. */
static void write_config(const char *find, const char *replace)
{
        char text[4096], *p, *out = text;
        const char *src = base;
        FILE *f;

        while (*src) {
                const char *eol = strchr(src, '\n');
                size_t len = (size_t)(eol - src) + 1;
                if (find && *find && memmem(src, len, find, strlen(find))) {
                        out += sprintf(out, "%s", replace);
                } else {
                        memcpy(out, src, len);
                        out += len;
                }
                src += len;
        }
        *out = '\0';
        f = fopen(file, "w");
        assert_non_null(f);
        p = strstr(text, "@SECRET@");
        if (p) {
                fwrite(text, 1, (size_t)(p - text), f);
                fputs(secret, f);
                fputs(p + 8, f);
        } else {
                fputs(text, f);
        }
        fclose(f);
}

static const struct {
        const char *class;
        const char *find, *replace;
        const char *want; /* after "FILE:" */
} cases[] = {
    {"out of range", "batch_size", "  batch_size: 900\n",
     "8:15: bpjs.batch_size: must be between 1 and 500 (got 900)"},
    {"zero batch", "batch_size", "  batch_size: 0\n",
     "8:15: bpjs.batch_size: must be between 1 and 500 (got 0)"},
    {"not a number", "batch_size", "  batch_size: lots\n",
     "8:15: bpjs.batch_size: expected a whole number (got \"lots\")"},
    {"wrong type: a list for a number", "batch_size", "  batch_size: [1]\n",
     "8:15: bpjs.batch_size: expected a single value, not a list"},
    {"wrong type: a value for a list", "topics", "  topics: \"enrollment.events\"\n",
     "3:11: kafka.topics: expected a list"},
    {"unknown key with a suggestion", "batch_size", "  batch_sise: 100\n",
     "8:3: bpjs.batch_sise: unknown key (did you mean 'batch_size'?)"},
    {"unknown key", "batch_size", "  colour: blue\n", "8:3: bpjs.colour: unknown key"},
    {"unknown section", "journal:", "jurnal:\n",
     "12:1: jurnal: unknown key (did you mean 'journal'?)"},
    {"duplicate key", "batch_size", "  batch_size: 100\n  batch_size: 200\n",
     "9:3: bpjs.batch_size: duplicate key"},
    {"secret in the YAML", "batch_size", "  secret: \"hunter2\"\n",
     "8:3: bpjs.secret: secrets are never read from the configuration file; use "
     "bpjs.secret_file or the bpjs-secret credential"},
    {"missing required key", "cons_id", "", "1:1: bpjs.cons_id: required key is missing"},
    {"empty programme list", "programs:", "programs: []\nx:\n",
     "14:11: programs: must have between 1 and 1000 entries (got 0)"},
    {"cons_id not digits", "cons_id", "  cons_id: \"abc\"\n",
     "6:12: bpjs.cons_id: must be 1..32 digits"},
    {"plain http to a remote host", "base_url",
     "  base_url: \"http://api.example.go.id/bpjs\"\n",
     "5:13: bpjs.base_url: plain http is refused except on loopback "
     "(bpjs.allow_insecure: true overrides, never in production)"},
    {"not a URL", "base_url", "  base_url: \"ftp://x\"\n",
     "5:13: bpjs.base_url: must start with https:// or http://"},
    {"retry cap below start", "max_ms", "    max_ms: 100\n",
     "11:13: bpjs.retry.max_ms: is less than bpjs.retry.initial_ms"},
    {"unreadable secret file", "secret_file", "  secret_file: \"/nonexistent/secret\"\n",
     "7:16: bpjs.secret_file: cannot read /nonexistent/secret: No such file or "
     "directory"},
    {"duplicate programme id", "KALTIM-RENTAN-2025\"", "  - id: \"BPP-DIFABEL-2025\"\n",
     "21:9: programs[1].id: duplicate programme id BPP-DIFABEL-2025"},
    {"bad programme id", "BPP-DIFABEL-2025\"", "  - id: \"BPP DIFABEL\"\n",
     "15:9: programs[0].id: must be 1..64 characters of [A-Za-z0-9._:-]"},
    {"payer level unknown", "level: city",
     "    payer: {level: village, region: \"6471\"}\n",
     "16:20: programs[0].payer.level: expected city or province (got \"village\")"},
    {"city region of 2 digits", "level: city",
     "    payer: {level: city, region: \"64\"}\n",
     "16:34: programs[0].payer.region: a city or regency is 4 digits starting with a "
     "province code"},
    {"province region not a province", "level: province",
     "    payer: {level: province, region: \"99\"}\n",
     "22:38: programs[1].payer.region: a province is 2 digits, one of the province "
     "codes"},
    {"unknown benefit", "benefits: [JKK, JKM]", "    benefits: [JKK, JKX]\n",
     "17:21: programs[0].benefits: expected JKK or JKM (got \"JKX\")"},
    {"benefit twice", "benefits: [JKK, JKM]", "    benefits: [JKK, JKK]\n",
     "17:21: programs[0].benefits: JKK is listed twice"},
    {"negative quota", "quota: 10000", "    quota: -1\n",
     "19:12: programs[0].quota: must be between 0 and 100000000 (got -1)"},
    {"missing programme key", "monthly_premium", "",
     "15:5: programs[0].monthly_premium: required key is missing"},
    {"syntax error", "batch_size", "  batch_size: [100\n",
     "9:8: syntax error: did not find expected ',' or ']' "
     "(while parsing a flow sequence at 8:15)"},
    {"a second YAML document", "journal:", "---\nbogus: [\n",
     "15:1: syntax error: did not find expected ',' or ']' "
     "(while parsing a flow sequence at 13:8)"},
    {"log level", "journal:", "log: {level: loud}\njournal:\n",
     "12:14: log.level: expected err, warning, notice, info or debug (got \"loud\")"},
};

static void test_error_classes(void **state)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE];
        (void)state;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct conf *c = NULL;
                write_config(cases[i].find, cases[i].replace);
                int r = conf_load(file, 0, &c, err);
                snprintf(want, sizeof(want), "%s:%s", file, cases[i].want);
                if (r == 0 || strcmp(err, want) != 0)
                        fail_msg("%s:\n got: %s\nwant: %s", cases[i].class,
                                 r ? err : "(loaded)", want);
                assert_null(c);
        }
}

static void test_periods(void **state)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE];
        struct conf *c = NULL;
        (void)state;

        write_config("    period: {start: \"2025-01\", end: \"2025-12\"}",
                     "    period: {start: \"2025-06\", end: \"2025-01\"}\n");
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        snprintf(want, sizeof(want),
                 "%s:20:37: programs[0].period.end: ends before period.start", file);
        assert_string_equal(err, want);

        write_config("    period: {start: \"2025-01\", end: \"2025-12\"}",
                     "    period: {start: \"2025-13\", end: \"2025-12\"}\n");
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        snprintf(want, sizeof(want),
                 "%s:20:21: programs[0].period.start: expected a month YYYY-MM (got "
                 "\"2025-13\")",
                 file);
        assert_string_equal(err, want);
}

static void test_one_document_only(void **state)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE];
        struct conf *c = NULL;
        FILE *f = fopen(file, "w");
        (void)state;

        assert_non_null(f);
        fputs("kafka: {brokers: \"x:1\"}\n---\nbogus: 1\n", f);
        fclose(f);
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        snprintf(want, sizeof(want),
                 "%s:3:1: (top): a second YAML document; the file must hold one", file);
        assert_string_equal(err, want);
}

static void test_valid_and_defaults(void **state)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;
        (void)state;

        write_config(NULL, NULL);
        assert_int_equal(conf_load(file, 0, &c, err), 0);
        assert_string_equal(c->kafka.group_id, "bpjs-sync");
        assert_string_equal(c->kafka.results_topic, "enrollment.results");
        assert_string_equal(c->kafka.dlq_topic, "enrollment.events.dlq");
        assert_int_equal(c->bpjs.batch_linger_ms, 200);
        assert_int_equal(c->bpjs.max_in_flight, 4);
        assert_int_equal(c->bpjs.retry.max_attempts, 0);
        assert_int_equal(c->n_programs, 2);
        assert_int_equal(c->programs[1].payer_level, PAYER_PROVINCE);
        assert_int_equal(c->programs[0].benefits, BENEFIT_JKK | BENEFIT_JKM);
        assert_int_equal(c->programs[0].start_month, 2025 * 12);
        assert_int_equal(c->programs[0].end_month, 2025 * 12 + 11);
        assert_int_equal(c->bpjs.secret_len, 7);
        assert_memory_equal(c->bpjs.secret, "s3cr3t!", 7);
        conf_free(c);
}

static void test_credentials_directory_wins(void **state)
{
        char err[CONF_ERR_SIZE], path[192];
        struct conf *c = NULL;
        FILE *f;
        (void)state;

        snprintf(path, sizeof(path), "%s/bpjs-secret", dir);
        f = fopen(path, "w");
        fputs("from-systemd\n", f);
        fclose(f);
        setenv("CREDENTIALS_DIRECTORY", dir, 1);
        write_config("secret_file", "  secret_file: \"/nonexistent\"\n");
        assert_int_equal(conf_load(file, 0, &c, err), 0);
        assert_memory_equal(c->bpjs.secret, "from-systemd", 12);
        conf_free(c);
        unsetenv("CREDENTIALS_DIRECTORY");
        unlink(path);
}

/* The spec's example keeps working as written (it names a secret file that
 * exists only on a real installation, so the secret is not read). */
static void test_spec_example(void **state)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;
        (void)state;

        if (conf_load(SOURCE_DIR "/config/example.yaml", CONF_NO_SECRET, &c, err))
                fail_msg("%s", err);
        assert_int_equal(c->n_programs, 3);
        assert_string_equal(c->programs[2].id, "SORONG-RENTAN-2024");
        assert_int_equal(c->programs[2].quota, 19336);
        assert_int_equal(c->kafka.n_properties, 1);
        assert_string_equal(c->kafka.properties[0].key, "security.protocol");
        conf_free(c);
}

static int setup(void **state)
{
        FILE *f;
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/bpjs-conf-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(secret, sizeof(secret), "%s/secret", dir);
        snprintf(file, sizeof(file), "%s/config.yaml", dir);
        f = fopen(secret, "w");
        fputs("s3cr3t!\n", f);
        fclose(f);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        unlink(secret);
        unlink(file);
        rmdir(dir);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_error_classes),
            cmocka_unit_test(test_periods),
            cmocka_unit_test(test_one_document_only),
            cmocka_unit_test(test_valid_and_defaults),
            cmocka_unit_test(test_credentials_directory_wins),
            cmocka_unit_test(test_spec_example),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
