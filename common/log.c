#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "safetext.h"

static enum log_level max_level = LOG_LVL_INFO;
static log_sink_fn sink;
static void *sink_opaque;
static int journal_mode = -1; /* -1 unknown, 0 terminal, 1 journal */

/* A line is formatted into LOG_RAW_MAX bytes, masked there, and escaped
 * into at most LOG_LINE_MAX: masking comes before the cut. */
#define LOG_RAW_MAX  8192
#define LOG_LINE_MAX 2048

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

static log_journal_fn journal_writer;
static void *journal_opaque;

void log_set_journal_writer(log_journal_fn fn, void *opaque)
{
        journal_writer = fn;
        journal_opaque = opaque;
        journal_mode = fn ? 1 : -1;
}

#define MAX_FIELDS 12

/* journald: one entry with its fields, every value masked and escaped like
 * the text, so that no field can carry a NIK or a forged line either. */
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
                int off;
                if (!fields[i].value || !*fields[i].value)
                        continue;
                off = snprintf(buf[k], sizeof(buf[0]), "%.64s=", fields[i].name);
                safetext_clean(fields[i].value, strlen(fields[i].value), false,
                               buf[k] + off, sizeof(buf[0]) - (size_t)off);
                k++;
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

__attribute__((format(printf, 5, 0))) static void emit(int level, const char *ctx,
                                                       const struct log_field *fields,
                                                       size_t n, const char *fmt,
                                                       va_list ap)
{
        char raw[LOG_RAW_MAX], line[LOG_LINE_MAX];
        size_t len = 0;
        int got;
        bool cut = false;

        if (ctx)
                len = (size_t)snprintf(raw, sizeof(raw), "%.64s: ", ctx);
        got = vsnprintf(raw + len, sizeof(raw) - len, fmt, ap);
        if (got < 0)
                raw[len] = '\0';
        else if ((size_t)got >= sizeof(raw) - len) {
                cut = true;
                len = sizeof(raw) - 1;
        } else
                len += (size_t)got;
        /* the last guard: masked whole, then escaped and cut to a line,
         * masked again for the digits an escape shows (safetext.h) */
        safetext_mask(raw, len, cut);
        safetext_escape(raw, len, line, sizeof(line));
        safetext_mask(line, strlen(line), false);

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
