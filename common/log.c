#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

void log_write(int level, const char *ctx, const char *fmt, ...)
{
        char line[2048];
        int n = 0;
        va_list ap;

        if (ctx)
                n = snprintf(line, sizeof(line), "%s: ", ctx);
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        log_scrub(line);

        if (sink) {
                sink(level, line, sink_opaque);
                return;
        }
        if (journal_mode < 0)
                journal_mode = stderr_is_journal();
        if (journal_mode)
                fprintf(stderr, "<%d>%s\n", level, line);
        else
                fprintf(stderr, "%s[%s] %s\n", "bpjs-sync", level_names[level], line);
}
