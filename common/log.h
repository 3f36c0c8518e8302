/* log: one line per happening, with its context, at syslog levels.
 *
 * Under systemd (stderr is the journal) lines carry a <N> priority prefix;
 * on a terminal they are plain. Every line, and every journald field, passes
 * a last guard (common/safetext.h): NIK-like text in any spelling is masked
 * on the whole formatted text, control characters and invalid UTF-8 are
 * escaped ("\n", "\x1b"), and only then is the line cut to 2,047 bytes
 * ("..." at the end). So a NIK cannot leak even by mistake, and no text from
 * outside can start a line of its own; callers still mask with nik_mask() so
 * that lines stay useful. */
#ifndef BPJS_LOG_H
#define BPJS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
        LOG_LVL_ERR = 3,
        LOG_LVL_WARNING = 4,
        LOG_LVL_NOTICE = 5,
        LOG_LVL_INFO = 6,
        LOG_LVL_DEBUG = 7,
};

/* A sink receives each finished line (tests use it to assert on logs). */
typedef void (*log_sink_fn)(int level, const char *line, void *opaque);

void log_set_level(enum log_level max);
enum log_level log_get_level(void);
/* Returns 0, or -EINVAL for an unknown name (err, warning, notice, info, debug). */
int log_level_parse(const char *name, enum log_level *out);
void log_set_sink(log_sink_fn sink, void *opaque);
bool log_enabled(int level);

void log_write(int level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A structured journald field that goes with a line: name is upper case
 * (BPJS_PROGRAM, BPJS_BATCH, BPJS_NIK, BPJS_EVENT_ID); a NIK is passed
 * masked. Values pass the same guard as the text. */
struct log_field {
        const char *name;
        const char *value;
};

/* As log_write, with fields: under systemd the line goes to journald with
 * PRIORITY, MESSAGE, SYSLOG_IDENTIFIER, BPJS_CONTEXT and these fields; on
 * a terminal it is the plain line. */
void log_fields(int level, const char *ctx, const struct log_field *fields, size_t n,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Tests: receive what would go to journald, one "NAME=value" a field. */
typedef void (*log_journal_fn)(const char *const *fields, size_t n, void *opaque);
void log_set_journal_writer(log_journal_fn fn, void *opaque);

#define LOG_FIELDS(level, ctx, fields, n, ...)                                           \
        do {                                                                             \
                if (log_enabled(level))                                                  \
                        log_fields(level, ctx, fields, n, __VA_ARGS__);                  \
        } while (0)

#define LOG_AT(level, ctx, ...)                                                          \
        do {                                                                             \
                if (log_enabled(level))                                                  \
                        log_write(level, ctx, __VA_ARGS__);                              \
        } while (0)
#define log_error(ctx, ...)   LOG_AT(LOG_LVL_ERR, ctx, __VA_ARGS__)
#define log_warning(ctx, ...) LOG_AT(LOG_LVL_WARNING, ctx, __VA_ARGS__)
#define log_notice(ctx, ...)  LOG_AT(LOG_LVL_NOTICE, ctx, __VA_ARGS__)
#define log_info(ctx, ...)    LOG_AT(LOG_LVL_INFO, ctx, __VA_ARGS__)
#define log_debug(ctx, ...)   LOG_AT(LOG_LVL_DEBUG, ctx, __VA_ARGS__)

#endif
