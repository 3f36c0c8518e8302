/* conf: the daemon's configuration, loaded from YAML through one key table.
 *
 * Every error reads like a compiler's: `FILE:LINE:COL: key.path: what is
 * wrong`. The BPJS secret is never read from the YAML: it comes from
 * $CREDENTIALS_DIRECTORY/bpjs-secret (systemd LoadCredential=) or from the
 * file named by bpjs.secret_file, which must be a regular file only its owner
 * (the daemon's user or root) may read, holding 16..4096 printable ASCII
 * characters without spaces and at most one final newline. */
#ifndef BPJS_CONFIG_H
#define BPJS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_ERR_SIZE 512

enum conf_payer_level {
        PAYER_CITY = 1,
        PAYER_PROVINCE = 2,
};

enum conf_benefit {
        BENEFIT_JKK = 1 << 0,
        BENEFIT_JKM = 1 << 1,
};

struct conf_mark {
        int line; /* 1-based; 0 when the key was not in the file */
        int column;
};

struct conf_kv {
        char *key;
        char *value;
        struct conf_mark mark;
};

/* A programme's eligibility criteria (docs/events.md, "Eligibility"): each
 * one set must hold; a programme without any (all zero) takes every valid
 * worker. */
struct conf_eligibility {
        bool disability;               /* worker.disability must be true */
        int sex;                       /* 'F' or 'M'; 0: any */
        bool head_of_household;        /* worker.head_of_household must be true */
        bool has_min_age, has_max_age; /* so that a zeroed struct has none */
        int64_t min_age, max_age;      /* whole years on the event's date */
        char **occupations;            /* worker.occupation is one of them; */
        size_t n_occupations;          /* 0: any */
};

struct conf_program {
        char *id;
        char *name;
        int payer_level; /* enum conf_payer_level */
        char *payer_region;
        int64_t benefits; /* enum conf_benefit bits */
        int64_t monthly_premium;
        int64_t quota;
        int64_t start_month; /* year * 12 + month - 1 */
        int64_t end_month;
        int64_t budget; /* Rupiah for the whole period; -1: no budget */
        struct conf_eligibility eligibility;
        struct conf_mark mark; /* of the list item */
};

struct conf {
        char *path;
        struct {
                char *brokers;
                char *group_id;
                char **topics;
                size_t n_topics;
                char *results_topic;
                char *dlq_topic;
                struct conf_kv *properties;
                size_t n_properties;
        } kafka;
        struct {
                char *base_url;
                char *cons_id;
                char *secret_file;
                int64_t batch_size;
                int64_t batch_linger_ms;
                int64_t max_in_flight;
                int64_t timeout_ms;
                int64_t connect_timeout_ms;
                char *proxy; /* "" none; never from the environment */
                struct {
                        int64_t initial_ms;
                        int64_t max_ms;
                        int64_t max_attempts;
                } retry;
                struct {
                        char *ca_file;
                        char *client_cert;
                        char *client_key;
                } tls;
                unsigned char *secret; /* wiped on free */
                size_t secret_len;
                char *secret_source; /* where it was read from, for messages */
        } bpjs;
        struct {
                char *path;
                char *url;           /* "" for the SQLite file at path */
                char *password_file; /* "" none */
                int64_t max_pending;
                int64_t retention_days;
                int64_t lease_ms; /* journal_open_opts.lease_ms */
                /* journal.url's password (NUL-terminated, wiped on free), or
                 * NULL; where it was read from, for messages */
                unsigned char *password;
                size_t password_len;
                char *password_source;
        } journal;
        struct {
                int64_t level; /* enum log_level */
        } log;
        struct {
                char *listen; /* host:port of /metrics, /healthz, /readyz; "" off */
        } metrics;
        struct conf_program *programs;
        size_t n_programs;
};

enum conf_flags {
        /* do not read the signing secret (documentation checks, bpjs-syncctl);
         * journal.url's password is read all the same */
        CONF_NO_SECRET = 1 << 0,
};

/* Loads and checks the whole file. Returns 0 and *out, or a negative errno
 * with a complete message in err (CONF_ERR_SIZE bytes); *out untouched. */
int conf_load(const char *path, unsigned flags, struct conf **out, char *err);
void conf_free(struct conf *c);
/* Checks that next differs from cur only in keys that may change while the
 * daemon runs (the table's reloadable flag). Returns 0, or -EINVAL with
 * `FILE: key: ...` in err. */
int conf_check_reload(const struct conf *cur, const struct conf *next, char *err);

const struct conf_program *conf_program_find(const struct conf *c, const char *id);
const char *conf_payer_level_name(int level);
/* "2025-01" for a month number. */
void conf_month_format(int64_t month, char out[8]);

/* Prints every key of the table with its type, default and description, as
 * a Markdown table (the configuration reference in docs/). */
void conf_print_reference(FILE *f);
/* Prints the effective configuration, secrets redacted. */
void conf_dump(const struct conf *c, FILE *f);

#endif
