/* ctl: what every bpjs-syncctl verb shares: the command-line context, the
 * configuration and journal it opens, exit codes, times and the operator's
 * name. Data goes to stdout, diagnostics to stderr; exit codes are
 * sysexits(3). */
#ifndef BPJS_SYNCCTL_CTL_H
#define BPJS_SYNCCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "journal.h"

#define CTL_PROG           "bpjs-syncctl"
#define CTL_DEFAULT_CONFIG "/etc/bpjs-sync/config.yaml"
#define CTL_TIME_SIZE      40
#define CTL_WHO_SIZE       72

struct ctl {
        const char *config_path;  /* --config; NULL: the default, unless --journal */
        const char *journal_path; /* --journal; NULL: the configuration's */
        bool json;
        struct conf *conf; /* NULL when only --journal was given */
        struct journal *jc;
};

/* The options every verb shares, for the default case of its getopt loop:
 * --json sets c->json and returns -1 (parsing goes on); --help prints the
 * verb's usage on stdout and returns EX_OK; anything else prints it on
 * stderr and returns EX_USAGE. */
int ctl_common_option(struct ctl *c, int opt, void (*usage)(FILE *));

/* Prints "bpjs-syncctl: <verb>: <message>" on stderr. */
void ctl_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Loads the configuration (if one is named, or required, or no journal was
 * named). Returns EX_OK, or an exit code with the message printed. */
int ctl_config(struct ctl *c, const char *verb, bool required);
/* Loads what is needed and opens the journal as an operator: read-only,
 * or read-write for a verb that writes (replay, an audited reveal).
 * Returns EX_OK, or an exit code with the message printed. */
int ctl_open(struct ctl *c, const char *verb, bool write);
void ctl_close(struct ctl *c);
/* The sysexits code for a negative errno from the journal. */
int ctl_exit_code(int err);
/* Reports a journal failure and returns its exit code. */
int ctl_journal_error(struct ctl *c, const char *verb, int err);

/* Parses --since: a duration ago (90s, 15m, 2h, 7d), a date (2025-01-06,
 * local midnight) or a date and time (2025-01-06T08:15[:02], local, or with
 * Z or +07:00). 0 and *out (ms), or -EINVAL. */
int ctl_parse_time(const char *s, int64_t now_ms, int64_t *out);
/* RFC 3339 local time, or "-" for 0. */
const char *ctl_time(int64_t ms, char out[CTL_TIME_SIZE]);
/* "3d4h", "2h5m", "4m12s", "9s". */
const char *ctl_age(int64_t ms, char out[CTL_TIME_SIZE]);
/* The operator: $SUDO_USER, else $USER, else "uid N". */
const char *ctl_who(char out[CTL_WHO_SIZE]);
/* A batch state's number from its name, or 0. */
int ctl_batch_state(const char *name);
const char *ctl_kind_name(int kind);
/* The verbs: each parses its own options (argv[0] is the verb) and returns
 * an exit code. */
int status_run(struct ctl *c, int argc, char **argv);
int batches_run(struct ctl *c, int argc, char **argv);
int batch_show_run(struct ctl *c, int argc, char **argv);
int replay_run(struct ctl *c, int argc, char **argv);
int worker_run(struct ctl *c, int argc, char **argv);
int dead_letters_run(struct ctl *c, int argc, char **argv);
int audit_run(struct ctl *c, int argc, char **argv);
int report_run(struct ctl *c, int argc, char **argv);

#endif
