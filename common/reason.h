/* reason: why an event was rejected. One table maps each code to the string
 * used in results, dead-letter headers, logs and metrics. */
#ifndef BPJS_REASON_H
#define BPJS_REASON_H

enum reason {
        REASON_NONE = 0,
        REASON_MALFORMED_JSON,
        REASON_INVALID_UTF8,
        REASON_DUPLICATE_KEY,
        REASON_TOO_LARGE,
        REASON_UNSUPPORTED_SCHEMA,
        REASON_INVALID_EVENT_ID,
        REASON_INVALID_TYPE,
        REASON_MISSING_FIELD,
        REASON_INVALID_FIELD,
        REASON_INVALID_NIK,
        REASON_NIK_BIRTH_DATE_MISMATCH,
        REASON_NIK_SEX_MISMATCH,
        REASON_UNKNOWN_PROGRAM,
        REASON_QUOTA_EXCEEDED,
        REASON_PROGRAM_CLOSED,
        REASON_NOT_ELIGIBLE,
        REASON_BUDGET_EXCEEDED,
        REASON__COUNT
};

const char *reason_name(enum reason r);
/* Returns the reason named s, or REASON_NONE. */
enum reason reason_from_name(const char *s);
/* One line for portal developers: what the code means. */
const char *reason_describe(enum reason r);

#endif
