/* Every class of configuration error, each with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
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
     "5:13: bpjs.base_url: plain http is refused except to localhost, 127.0.0.0/8 or "
     "[::1]: use https://"},
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
    {"a budget in exponent form", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    budget: 1.9e9\n",
     "17:13: programs[0].budget: expected a whole number of Rupiah, digits only (got "
     "\"1.9e9\")"},
    {"a budget in words", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    budget: \"lots\"\n",
     "17:13: programs[0].budget: expected a whole number of Rupiah, digits only (got "
     "\"lots\")"},
    {"a negative budget", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    budget: -5\n",
     "17:13: programs[0].budget: must not be negative (got -5)"},
    {"a budget past 64 bits", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    budget: 9223372036854775808\n",
     "17:13: programs[0].budget: is too large: at most 9223372036854775807 (got "
     "9223372036854775808)"},
    {"an unknown criterion", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {disability: true, income_below: 5000000}\n",
     "17:37: programs[0].eligibility.income_below: unknown criterion 'income_below' (the "
     "criteria are disability, sex, head_of_household, min_age, max_age, occupations)"},
    {"min_age above max_age", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {min_age: 60, max_age: 18}\n",
     "17:28: programs[0].eligibility.min_age: 60 is above eligibility.max_age 18"},
    {"an empty occupation list", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {occupations: []}\n",
     "17:32: programs[0].eligibility.occupations: must have between 1 and 1000 entries "
     "(got 0)"},
    {"an occupation list of one text", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {occupations: penjahit}\n",
     "17:32: programs[0].eligibility.occupations: expected a list"},
    {"a criterion of the wrong type", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {disability: yes-please}\n",
     "17:31: programs[0].eligibility.disability: expected true (got \"yes-please\")"},
    {"disability: false is no criterion", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {disability: false}\n",
     "17:31: programs[0].eligibility.disability: false is not a criterion: only true "
     "narrows (leave the key out to take every worker)"},
    {"head_of_household: false is no criterion", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {head_of_household: false}\n",
     "17:38: programs[0].eligibility.head_of_household: false is not a criterion: only "
     "true narrows (leave the key out to take every worker)"},
    {"sex other than F or M", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {sex: W}\n",
     "17:24: programs[0].eligibility.sex: expected F or M (got \"W\")"},
    {"an age above 150", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {max_age: 151}\n",
     "17:28: programs[0].eligibility.max_age: must be between 0 and 150 (got 151)"},
    {"a negative age", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {min_age: -1}\n",
     "17:28: programs[0].eligibility.min_age: must be between 0 and 150 (got -1)"},
    {"an age that is not whole", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: {min_age: 17.5}\n",
     "17:28: programs[0].eligibility.min_age: expected a whole number (got \"17.5\")"},
    {"eligibility not a mapping", "level: city",
     "    payer: {level: city, region: \"6471\"}\n"
     "    eligibility: [disability]\n",
     "17:18: programs[0].eligibility: expected a mapping"},
    {"log level", "journal:", "log: {level: loud}\njournal:\n",
     "12:14: log.level: expected err, warning, notice, info or debug (got \"loud\")"},
    /* the journal: a SQLite path or a PostgreSQL URL, one of them; a URL's
     * password is refused, and never echoed */
    {"journal url with user:password@",
     "path:", "  url: \"postgresql://bpjs:hunter2@db.internal:5432/bpjs\"\n",
     "13:8: journal.url: must not carry a password; put it in journal.password_file "
     "or the journal-password credential"},
    {"journal url with password=", "path:",
     "  url: \"postgresql://bpjs@db/bpjs?sslmode=verify-full&password=hunter2\"\n",
     "13:8: journal.url: must not carry a password; put it in journal.password_file "
     "or the journal-password credential"},
    {"journal path and url both",
     "path:", "  path: \"/tmp/j.db\"\n  url: \"postgresql://bpjs@db/bpjs\"\n",
     "13:9: journal.path: set only one of journal.path and journal.url"},
    {"journal url of another database", "path:", "  url: \"mysql://bpjs@db/bpjs\"\n",
     "13:8: journal.url: must start with postgresql:// or postgres://"},
    {"journal password file without a url",
     "path:", "  path: \"/tmp/j.db\"\n  password_file: \"/tmp/pw\"\n",
     "14:18: journal.password_file: is for journal.url, which is not set"},
    {"unreadable journal password file", "path:",
     "  url: \"postgres://bpjs@db/bpjs\"\n  password_file: \"/nonexistent/pw\"\n",
     "14:18: journal.password_file: cannot read /nonexistent/pw: No such file or "
     "directory"},
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
        assert_int_equal(c->bpjs.secret_len, 21);
        assert_memory_equal(c->bpjs.secret, "s3cr3t-for-unit-tests", 21);
        assert_string_equal(c->bpjs.proxy, "");
        conf_free(c);
}

/* A programme's budget and eligibility, as read and as conf_dump shows
 * them; without them, no budget and every worker. */
static void test_programme_rules(void **state)
{
        char err[CONF_ERR_SIZE], *dump = NULL;
        size_t dump_len = 0;
        struct conf *c = NULL;
        FILE *f;
        (void)state;

        write_config("level: city", "    payer: {level: city, region: \"6471\"}\n"
                                    "    budget: 0\n"
                                    "    eligibility:\n"
                                    "      disability: true\n"
                                    "      sex: F\n"
                                    "      head_of_household: true\n"
                                    "      min_age: 18\n"
                                    "      max_age: 18\n"
                                    "      occupations: [penjahit, \"nelayan\"]\n");
        if (conf_load(file, 0, &c, err))
                fail_msg("%s", err);
        const struct conf_program *p = &c->programs[0];
        assert_int_equal(p->budget, 0);
        assert_true(p->eligibility.disability);
        assert_int_equal(p->eligibility.sex, 'F');
        assert_true(p->eligibility.head_of_household);
        assert_true(p->eligibility.has_min_age && p->eligibility.has_max_age);
        assert_int_equal(p->eligibility.min_age, 18);
        assert_int_equal(p->eligibility.max_age, 18);
        assert_int_equal(p->eligibility.n_occupations, 2);
        assert_string_equal(p->eligibility.occupations[0], "penjahit");
        assert_string_equal(p->eligibility.occupations[1], "nelayan");
        assert_int_equal(c->programs[1].budget, -1);
        assert_false(c->programs[1].eligibility.has_max_age);

        f = open_memstream(&dump, &dump_len);
        assert_non_null(f);
        conf_dump(c, f);
        fclose(f);
        if (!strstr(dump, "period=2025-01..2025-12 budget=0 eligibility=disability,sex=F,"
                          "head_of_household,min_age=18,max_age=18,occupations=penjahit,"
                          "nelayan\n") ||
            !strstr(dump, "program KALTIM-RENTAN-2025: payer=province/64 quota=10000 "
                          "premium=16800 period=2025-01..2025-12 budget=none "
                          "eligibility=any\n"))
                fail_msg("conf_dump:\n%s", dump);
        free(dump);

        /* budget and eligibility change with a reload */
        struct conf *next = NULL;
        write_config("level: city", "    payer: {level: city, region: \"6471\"}\n"
                                    "    budget: 5000000\n");
        if (conf_load(file, 0, &next, err))
                fail_msg("%s", err);
        assert_int_equal(conf_check_reload(c, next, err), 0);
        conf_free(next);
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
        fputs("from-systemd-credential\n", f);
        fclose(f);
        /* systemd's layout: 0400, owned by root or the service's user */
        chmod(path, 0400);
        setenv("CREDENTIALS_DIRECTORY", dir, 1);
        write_config("secret_file", "  secret_file: \"/nonexistent\"\n");
        if (conf_load(file, 0, &c, err))
                fail_msg("%s", err);
        assert_memory_equal(c->bpjs.secret, "from-systemd-credential", 23);
        conf_free(c);
        c = NULL;

        /* the credential follows the same rules, and the message names it */
        chmod(path, 0644);
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        assert_null(c);
        char want[CONF_ERR_SIZE];
        snprintf(want, sizeof(want),
                 "%s:7:16: bpjs.secret_file: %s: mode 0644 lets group or others read or "
                 "write it; it must be 0600 or 0400 (chmod go= on it)",
                 file, path);
        assert_string_equal(err, want);
}

/* journal.url's password: from journal.password_file, or from the
 * credential journal-password first; kept as a C string, redacted in the
 * dump; a URL without one needs none. */
static void test_journal_password(void **state)
{
        char pw[160], cred[192], err[CONF_ERR_SIZE], line[300], *dump = NULL;
        size_t dump_len = 0;
        struct conf *c = NULL;
        FILE *f;
        (void)state;

        snprintf(pw, sizeof(pw), "%s/journal-pw", dir);
        f = fopen(pw, "w");
        fputs("pg-password-from-file\n", f);
        fclose(f);
        chmod(pw, 0600);
        snprintf(line, sizeof(line),
                 "  url: \"postgresql://bpjs@127.0.0.1:5432/bpjs?sslmode=verify-full\"\n"
                 "  password_file: \"%s\"\n",
                 pw);
        write_config("path:", line);
        if (conf_load(file, 0, &c, err))
                fail_msg("%s", err);
        assert_string_equal(c->journal.url,
                            "postgresql://bpjs@127.0.0.1:5432/bpjs?sslmode=verify-full");
        assert_string_equal((const char *)c->journal.password, "pg-password-from-file");
        assert_string_equal(c->journal.password_source, pw);
        f = open_memstream(&dump, &dump_len);
        conf_dump(c, f);
        fclose(f);
        assert_null(strstr(dump, "pg-password-from-file"));
        assert_non_null(strstr(dump, "journal: url=postgresql://bpjs@127.0.0.1:5432/bpjs"
                                     "?sslmode=verify-full password=[redacted]"));
        free(dump);
        conf_free(c);
        c = NULL;

        /* the credential wins over the file (the signing secret is one too) */
        snprintf(cred, sizeof(cred), "%s/bpjs-secret", dir);
        f = fopen(cred, "w");
        fputs("from-systemd-credential\n", f);
        fclose(f);
        chmod(cred, 0400);
        snprintf(cred, sizeof(cred), "%s/journal-password", dir);
        f = fopen(cred, "w");
        fputs("pg-password-from-systemd\n", f);
        fclose(f);
        chmod(cred, 0400);
        setenv("CREDENTIALS_DIRECTORY", dir, 1);
        if (conf_load(file, 0, &c, err))
                fail_msg("%s", err);
        assert_string_equal((const char *)c->journal.password,
                            "pg-password-from-systemd");
        conf_free(c);
        c = NULL;
        unsetenv("CREDENTIALS_DIRECTORY");
        unlink(cred);

        /* the file is checked as the signing secret's is */
        chmod(pw, 0644);
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        assert_null(c);
        char want[CONF_ERR_SIZE];
        snprintf(want, sizeof(want),
                 "%s:14:18: journal.password_file: %s: mode 0644 lets group or others "
                 "read or write it; it must be 0600 or 0400 (chmod go= on it)",
                 file, pw);
        assert_string_equal(err, want);
        unlink(pw);

        /* no password at all: libpq's own sources, or none needed */
        write_config("path:", "  url: \"postgres:///bpjs?host=/run/postgresql\"\n");
        if (conf_load(file, 0, &c, err))
                fail_msg("%s", err);
        assert_null(c->journal.password);
        conf_free(c);
}

/* Even when a test above fails: the next tests read bpjs.secret_file. */
static int forget_credentials(void **state)
{
        char path[192];
        (void)state;

        snprintf(path, sizeof(path), "%s/bpjs-secret", dir);
        unsetenv("CREDENTIALS_DIRECTORY");
        unlink(path);
        return 0;
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
        assert_int_equal(c->n_programs, 4);
        assert_string_equal(c->programs[2].id, "SORONG-RENTAN-2024");
        assert_int_equal(c->programs[2].quota, 19336);
        /* budgets: Balikpapan's Rp1.9 billion, Sorong's 2.2; the province none */
        assert_int_equal(c->programs[0].budget, 1900000000);
        assert_int_equal(c->programs[1].budget, -1);
        assert_int_equal(c->programs[2].budget, 2200000000);
        assert_int_equal(c->programs[3].budget, -1);
        /* the disability programme takes only workers with a disability */
        assert_true(c->programs[0].eligibility.disability);
        assert_int_equal(c->programs[0].eligibility.sex, 0);
        assert_false(c->programs[0].eligibility.has_min_age);
        /* the province's takes everyone */
        assert_false(c->programs[1].eligibility.disability);
        assert_false(c->programs[1].eligibility.has_min_age);
        assert_false(c->programs[1].eligibility.has_max_age);
        assert_int_equal(c->programs[1].eligibility.n_occupations, 0);
        /* women heads of household, 18 or older, any occupation */
        const struct conf_eligibility *kk = &c->programs[3].eligibility;
        assert_string_equal(c->programs[3].id, "BPP-PEREMPUAN-KK-2026");
        assert_int_equal(kk->sex, 'F');
        assert_true(kk->head_of_household);
        assert_true(kk->has_min_age);
        assert_int_equal(kk->min_age, 18);
        assert_false(kk->has_max_age);
        assert_false(kk->disability);
        assert_int_equal(kk->n_occupations, 0);
        assert_int_equal(c->programs[3].start_month, 2026 * 12);
        assert_int_equal(c->kafka.n_properties, 1);
        assert_string_equal(c->kafka.properties[0].key, "security.protocol");
        conf_free(c);
}

/* bpjs.base_url as libcurl reads it: https anywhere; http only when the
 * host libcurl connects to is localhost or a loopback literal; never
 * user:password@ (printed in logs), a query or a fragment (paths are
 * appended). NULL: accepted. */
static const struct {
        const char *class;
        const char *url;
        const char *want; /* after "FILE:5:13: bpjs.base_url: " */
} url_cases[] = {
    {"https", "https://api.example.go.id/bpjs", NULL},
    {"upper-case https", "HTTPS://api.example.go.id/bpjs", NULL},
    {"http to 127.0.0.1 with a port", "http://127.0.0.1:8080/", NULL},
    {"http to ::1", "http://[::1]:1/", NULL},
    {"http to localhost", "http://localhost/", NULL},
    {"upper-case http to localhost", "HTTP://LOCALHOST:8080/", NULL},
    {"http to the top of 127.0.0.0/8", "http://127.255.255.254/", NULL},
    {"http to 127.1, which libcurl reads as 127.0.0.1", "http://127.1/", NULL},
    {"a host name that starts like 127.", "http://127.attacker.example/",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"a host name that ends like nip.io", "http://127.0.0.1.nip.io/",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"localhost as a user name in front of the real host",
     "http://localhost:80@bpjs.example.go.id/",
     "must not hold a user name or password (user:password@host): they would be "
     "shown in logs and --check-config"},
    {"an empty user name", "http://@127.0.0.1/",
     "must not hold a user name or password (user:password@host): they would be "
     "shown in logs and --check-config"},
    {"a password", "https://user:hunter2pw@api.example.go.id/",
     "must not hold a user name or password (user:password@host): they would be "
     "shown in logs and --check-config"},
    {"an address next to loopback", "http://128.0.0.1/",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"an IPv4-mapped loopback address", "http://[::ffff:127.0.0.1]/",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"localhost with a trailing dot", "http://localhost./",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"upper-case plain http to a remote host", "HTTP://api.example.go.id/",
     "plain http is refused except to localhost, 127.0.0.0/8 or [::1]"
     ": use https://"},
    {"a query", "https://api.example.go.id/bpjs?env=prod",
     "must not have a query or fragment (the API paths /v1/... are appended to it)"},
    {"a fragment", "https://api.example.go.id/bpjs#x",
     "must not have a query or fragment (the API paths /v1/... are appended to it)"},
    {"another scheme", "ftp://api.example.go.id/", "must start with https:// or http://"},
    {"no scheme", "api.example.go.id/bpjs", "must start with https:// or http://"},
    {"a scheme of one slash", "https:/api.example.go.id/",
     "must start with https:// or http://"},
    {"no host", "http://", "is not a URL libcurl accepts: No host part in the URL"},
};

static void test_base_url(void **state)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE], line[256];
        int wrong = 0;
        (void)state;

        /* every row is tried, and every wrong one reported */
        for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
                struct conf *c = NULL;
                snprintf(line, sizeof(line), "  base_url: \"%s\"\n", url_cases[i].url);
                write_config("base_url", line);
                int r = conf_load(file, 0, &c, err);
                conf_free(c);
                if (url_cases[i].want)
                        snprintf(want, sizeof(want), "%s:5:13: bpjs.base_url: %s", file,
                                 url_cases[i].want);
                if (url_cases[i].want ? r == 0 || strcmp(err, want) != 0 : r != 0) {
                        print_error("%s (%s):\n got: %s\nwant: %s\n", url_cases[i].class,
                                    url_cases[i].url, r ? err : "(accepted)",
                                    url_cases[i].want ? want : "(accepted)");
                        wrong++;
                }
                if (r && strstr(err, "hunter2")) {
                        print_error("%s: the message shows the password: %s\n",
                                    url_cases[i].class, err);
                        wrong++;
                }
        }
        assert_int_equal(wrong, 0);
}

/* Plain http goes only to loopback: no key overrides it (an earlier
 * bpjs.allow_insecure did, and is now an unknown key), and a password in
 * the URL is refused without being echoed. */
static void test_no_insecure_override(void **state)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;
        (void)state;

        write_config("base_url", "  base_url: \"http://bpjs.test.example/\"\n"
                                 "  allow_insecure: true\n");
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        assert_null(c);
        assert_non_null(strstr(err, "bpjs.allow_insecure: unknown key"));
        write_config("base_url", "  base_url: \"http://bpjs.test.example/\"\n");
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        assert_non_null(strstr(err, "bpjs.base_url: plain http is refused except to "
                                    "localhost, 127.0.0.0/8 or [::1]: use https://"));
        write_config("base_url", "  base_url: \"http://u:hunter2@bpjs.test.example/\"\n");
        assert_int_not_equal(conf_load(file, 0, &c, err), 0);
        assert_non_null(strstr(err, "bpjs.base_url: must not hold a user name"));
        assert_null(strstr(err, "hunter2"));
}

/* bpjs.proxy: "" (none), or scheme://host:port without userinfo or path. */
static const struct {
        const char *class;
        const char *proxy;
        const char *want; /* after "FILE:6:10: bpjs.proxy: " */
} proxy_cases[] = {
    {"an http proxy", "http://127.0.0.1:3128", NULL},
    {"a socks proxy that resolves names", "socks5h://proxy.example:1080", NULL},
    {"an https proxy with a slash", "https://proxy.example:3129/", NULL},
    {"credentials in the proxy URL", "http://u:hunter2@proxy.example:3128",
     "must not hold a user name or password (user:password@host): they would be "
     "shown in logs and --check-config"},
    {"a scheme no proxy speaks", "ftp://proxy.example:21",
     "must be an http, https, socks4, socks4a, socks5 or socks5h URL"},
    {"no scheme", "proxy.example:3128",
     "must start with its scheme (http://, https://, socks5h://...)"},
    {"a path", "http://proxy.example:3128/x",
     "must not have a path (scheme://host:port)"},
};

static void test_proxy(void **state)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE], lines[256];
        (void)state;

        for (size_t i = 0; i < sizeof(proxy_cases) / sizeof(proxy_cases[0]); i++) {
                struct conf *c = NULL;
                snprintf(lines, sizeof(lines),
                         "  base_url: \"http://127.0.0.1:8080\"\n  proxy: \"%s\"\n",
                         proxy_cases[i].proxy);
                write_config("base_url", lines);
                int r = conf_load(file, 0, &c, err);
                if (!proxy_cases[i].want) {
                        if (r)
                                fail_msg("%s: refused: %s", proxy_cases[i].class, err);
                        assert_string_equal(c->bpjs.proxy, proxy_cases[i].proxy);
                        conf_free(c);
                        continue;
                }
                snprintf(want, sizeof(want), "%s:6:10: bpjs.proxy: %s", file,
                         proxy_cases[i].want);
                if (r == 0 || strcmp(err, want) != 0)
                        fail_msg("%s:\n got: %s\nwant: %s", proxy_cases[i].class,
                                 r ? err : "(loaded)", want);
                assert_null(strstr(err, "hunter2"));
                assert_null(c);
        }
}

static void write_secret(const void *bytes, size_t len, mode_t mode)
{
        FILE *f;

        unlink(secret);
        f = fopen(secret, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, len, f), len);
        fclose(f);
        assert_int_equal(chmod(secret, mode), 0);
}

/* Rows that went wrong in the current test: each is reported, then the test
 * fails, so one run shows every broken rule. */
static int wrong_rows;

static void expect_secret_error(const char *class, const char *why)
{
        char err[CONF_ERR_SIZE], want[CONF_ERR_SIZE];
        struct conf *c = NULL;

        snprintf(want, sizeof(want), "%s:7:16: bpjs.secret_file: %s: %s", file, secret,
                 why);
        write_config(NULL, NULL);
        int r = conf_load(file, 0, &c, err);
        conf_free(c);
        if (r == 0 || strcmp(err, want) != 0) {
                print_error("%s:\n got: %s\nwant: %s\n", class, r ? err : "(loaded)",
                            want);
                wrong_rows++;
        }
}

static void expect_secret(const char *class, const char *text)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;

        write_config(NULL, NULL);
        if (conf_load(file, 0, &c, err)) {
                print_error("%s: refused: %s\n", class, err);
                wrong_rows++;
                return;
        }
        if (c->bpjs.secret_len != strlen(text) ||
            memcmp(c->bpjs.secret, text, strlen(text)) != 0) {
                print_error("%s: read a secret of %zu bytes, not the %zu expected\n",
                            class, c->bpjs.secret_len, strlen(text));
                wrong_rows++;
        }
        conf_free(c);
}

#define GOOD "s3cr3t-for-unit-tests"
#define MODE_WHY(m)                                                                      \
        "mode " m " lets group or others read or write it; it must be 0600 or 0400 "     \
        "(chmod go= on it)"

/* The secret file's mode and owner, as ssh treats a private key. */
static void test_secret_file_mode_and_owner(void **state)
{
        static const struct {
                const char *class;
                mode_t mode;
                const char *want; /* NULL: accepted */
        } modes[] = {
            {"owner read-write", 0600, NULL},
            {"owner read only", 0400, NULL},
            {"group may read", 0640, MODE_WHY("0640")},
            {"group may write", 0620, MODE_WHY("0620")},
            {"others may read", 0604, MODE_WHY("0604")},
            {"anyone may read and write", 0666, MODE_WHY("0666")},
        };
        (void)state;
        wrong_rows = 0;

        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                write_secret(GOOD "\n", strlen(GOOD) + 1, modes[i].mode);
                if (modes[i].want)
                        expect_secret_error(modes[i].class, modes[i].want);
                else
                        expect_secret(modes[i].class, GOOD);
        }

        /* owned by someone else (as root: chown to nobody) */
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0600);
        if (geteuid() == 0) {
                char why[128];
                assert_int_equal(chown(secret, 65534, 65534), 0);
                snprintf(why, sizeof(why),
                         "is owned by uid 65534; it must belong to the daemon's user "
                         "(uid 0) or root");
                expect_secret_error("owned by nobody", why);
        }

        /* not a regular file: a directory, a FIFO (which must not hang) */
        unlink(secret);
        assert_int_equal(mkdir(secret, 0700), 0);
        expect_secret_error("a directory", "is not a regular file");
        rmdir(secret);
        assert_int_equal(mkfifo(secret, 0600), 0);
        expect_secret_error("a FIFO", "is not a regular file");
        unlink(secret);
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0600);
        assert_int_equal(wrong_rows, 0);
}

/* A POSIX ACL (setfacl, or systemd's credentials on tmpfs) puts its mask in
 * the mode's group bits: then the entries decide. */
static void set_acl(uint32_t user, uint16_t group_perm)
{
        struct __attribute__((packed)) {
                uint32_t version;
                struct __attribute__((packed)) {
                        uint16_t tag, perm;
                        uint32_t id;
                } e[5];
        } acl = {2,
                 {{0x01, 4, UINT32_MAX},
                  {0x02, 4, user},
                  {0x04, group_perm, UINT32_MAX},
                  {0x10, 4, UINT32_MAX},
                  {0x20, 0, UINT32_MAX}}};

        if (setxattr(secret, "system.posix_acl_access", &acl, sizeof(acl), 0) != 0)
                skip();
}

static void test_secret_file_acl(void **state)
{
        struct stat st;
        (void)state;
        wrong_rows = 0;

        /* systemd's layout: 0440 shown, the ACL names the daemon's user only */
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0400);
        set_acl((uint32_t)geteuid(), 0);
        assert_int_equal(stat(secret, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0440);
        expect_secret("an ACL for the daemon's user", GOOD);

        /* the ACL lets another user read it */
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0400);
        set_acl((uint32_t)geteuid() + 1, 0);
        expect_secret_error("an ACL for another user",
                            "its ACL lets another user or a group read or write it; only "
                            "its owner may read it");

        /* the ACL lets the owning group read it */
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0400);
        set_acl((uint32_t)geteuid(), 4);
        expect_secret_error("an ACL for the group",
                            "its ACL lets another user or a group read or write it; only "
                            "its owner may read it");
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0600);
        assert_int_equal(wrong_rows, 0);
}

#define RULE                                                                             \
        "; the secret is the file's bytes less one final \\n or \\r\\n, and must be "    \
        "16 to 4096 printable ASCII characters without spaces"

/* The secret's text: one final \n or \r\n is removed; what is left is 16 to
 * 4096 printable ASCII characters without spaces. Messages never show it. */
static void test_secret_text(void **state)
{
        static const struct {
                const char *class;
                const char *bytes;
                size_t len;
                const char *want; /* the problem, or NULL: accepted as secret */
                const char *secret;
        } texts[] = {
            {"16 characters", "0123456789abcdef", 16, NULL, "0123456789abcdef"},
            {"a final \\n", "0123456789abcdef\n", 17, NULL, "0123456789abcdef"},
            {"a final \\r\\n", "0123456789abcdef\r\n", 18, NULL, "0123456789abcdef"},
            {"all of printable ASCII", "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", 32, NULL,
             "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"},
            {"empty", "", 0, "the secret file is empty", NULL},
            {"only a newline", "\n", 1, "the secret file is empty", NULL},
            {"15 characters", "0123456789abcde\n", 16,
             "the secret is shorter than 16 characters", NULL},
            {"two final newlines", "0123456789abcdef\n\n", 18,
             "the secret contains a line break (only one final \\n or \\r\\n is removed)",
             NULL},
            {"a final \\r alone", "0123456789abcdef\r", 17,
             "the secret contains a line break (only one final \\n or \\r\\n is removed)",
             NULL},
            {"two lines", "0123456789\nabcdef\n", 18,
             "the secret contains a line break (only one final \\n or \\r\\n is removed)",
             NULL},
            {"a space", "0123456789 abcdef", 17, "the secret contains a space", NULL},
            {"a trailing space", "0123456789abcdef \n", 18, "the secret contains a space",
             NULL},
            {"a tab", "0123456789\tabcdef", 17,
             "the secret contains a control character (a tab?)", NULL},
            {"a NUL byte", "0123456789\0abcdef", 17,
             "the secret contains a control character (a tab?)", NULL},
            {"UTF-8",
             "0123456789abcd\xc3\xa9"
             "f",
             17, "the secret contains a byte outside ASCII", NULL},
        };
        static char big[4097], longer[4098];
        (void)state;
        wrong_rows = 0;

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                char why[CONF_ERR_SIZE];
                write_secret(texts[i].bytes, texts[i].len, 0600);
                if (!texts[i].want) {
                        expect_secret(texts[i].class, texts[i].secret);
                        continue;
                }
                snprintf(why, sizeof(why), "%s%s", texts[i].want, RULE);
                expect_secret_error(texts[i].class, why);
        }

        memset(big, 'a', 4096);
        big[4096] = '\0';
        write_secret(big, 4096, 0600);
        expect_secret("4096 characters", big);
        memcpy(longer, big, 4096);
        memcpy(longer + 4096, "\r\n", 2);
        write_secret(longer, 4098, 0600);
        expect_secret("4096 characters and \\r\\n", big);
        memset(longer, 'a', 4097);
        write_secret(longer, 4097, 0600);
        expect_secret_error("4097 characters",
                            "the secret is longer than 4096 characters" RULE);
        write_secret(GOOD "\n", strlen(GOOD) + 1, 0600);
        assert_int_equal(wrong_rows, 0);
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
        fputs("s3cr3t-for-unit-tests\n", f);
        fclose(f);
        chmod(secret, 0600);
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
            cmocka_unit_test_teardown(test_credentials_directory_wins,
                                      forget_credentials),
            cmocka_unit_test_teardown(test_journal_password, forget_credentials),
            cmocka_unit_test(test_spec_example),
            cmocka_unit_test(test_programme_rules),
            cmocka_unit_test(test_base_url),
            cmocka_unit_test(test_no_insecure_override),
            cmocka_unit_test(test_proxy),
            cmocka_unit_test(test_secret_file_mode_and_owner),
            cmocka_unit_test(test_secret_file_acl),
            cmocka_unit_test(test_secret_text),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
