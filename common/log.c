#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

static enum log_level max_level = LOG_LVL_INFO;
static log_sink_fn sink;
static void *sink_opaque;
static int journal_mode = -1; /* -1 unknown, 0 terminal, 1 journal */

static const char *const level_names[] = {
    [LOG_LVL_ERR] = "err",   [LOG_LVL_WARNING] = "warning", [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level max)
{
        max_level = max;
}

enum log_level log_get_level(void)
{
        return max_level;
}

int log_level_parse(const char *name, enum log_level *out)
{
        for (int l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++) {
                if (strcmp(level_names[l], name) == 0) {
                        *out = (enum log_level)l;
                        return 0;
                }
        }
        return -EINVAL;
}

void log_set_sink(log_sink_fn fn, void *opaque)
{
        sink = fn;
        sink_opaque = opaque;
}

bool log_enabled(int level)
{
        return level <= (int)max_level;
}

/* systemd sets JOURNAL_STREAM=dev:ino when stderr is connected to journald. */
static int stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2 || fstat(2, &st) < 0)
                return 0;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_scrub(char *s)
{
        char *run = NULL;

        for (char *p = s;; p++) {
                if (*p >= '0' && *p <= '9') {
                        if (!run)
                                run = p;
                        continue;
                }
                if (run && p - run >= 16)
                        memset(run + 4, '*', (size_t)(p - run) - 8);
                run = NULL;
                if (!*p)
                        break;
        }
}

static log_journal_fn journal_writer;
static void *journal_opaque;

void log_set_journal_writer(log_journal_fn fn, void *opaque)
{
        journal_writer = fn;
        journal_opaque = opaque;
        journal_mode = fn ? 1 : -1;
}

#define MAX_FIELDS 12

/* journald: one entry with its fields, every value scrubbed like the text. */
static void to_journal(int level, const char *ctx, const char *line,
                       const struct log_field *fields, size_t n)
{
        char buf[MAX_FIELDS][2304];
        const char *fv[MAX_FIELDS];
        struct iovec iov[MAX_FIELDS];
        size_t k = 0;

        snprintf(buf[k++], sizeof(buf[0]), "PRIORITY=%d", level);
        snprintf(buf[k++], sizeof(buf[0]), "MESSAGE=%s", line);
        snprintf(buf[k++], sizeof(buf[0]), "SYSLOG_IDENTIFIER=bpjs-syncd");
        if (ctx)
                snprintf(buf[k++], sizeof(buf[0]), "BPJS_CONTEXT=%s", ctx);
        for (size_t i = 0; i < n && k < MAX_FIELDS; i++) {
                if (!fields[i].value || !*fields[i].value)
                        continue;
                snprintf(buf[k], sizeof(buf[0]), "%s=%s", fields[i].name,
                         fields[i].value);
                log_scrub(buf[k++]);
        }
        for (size_t i = 0; i < k; i++) {
                fv[i] = buf[i];
                iov[i].iov_base = buf[i];
                iov[i].iov_len = strlen(buf[i]);
        }
        if (journal_writer)
                journal_writer(fv, k, journal_opaque);
        else if (sd_journal_sendv(iov, (int)k) < 0)
                fprintf(stderr, "<%d>%s\n", level, line);
}

static void emit(int level, const char *ctx, const struct log_field *fields, size_t n,
                 const char *fmt, va_list ap)
{
        char line[2048];
        int len = 0;

        if (ctx)
                len = snprintf(line, sizeof(line), "%s: ", ctx);
        vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
        log_scrub(line);

        if (sink) {
                sink(level, line, sink_opaque);
                return;
        }
        if (journal_mode < 0)
                journal_mode = stderr_is_journal();
        if (journal_mode)
                to_journal(level, ctx, line, fields, n);
        else
                fprintf(stderr, "%s[%s] %s\n", "bpjs-sync", level_names[level], line);
}

void log_write(int level, const char *ctx, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        emit(level, ctx, NULL, 0, fmt, ap);
        va_end(ap);
}

void log_fields(int level, const char *ctx, const struct log_field *fields, size_t n,
                const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        emit(level, ctx, fields, n, fmt, ap);
        va_end(ap);
}
