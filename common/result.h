/* result: what became of an event, as the results topic says it
 * (docs/events.md, "Results topic"). */
#ifndef BPJS_RESULT_H
#define BPJS_RESULT_H

#include <stddef.h>
#include <stdint.h>

enum result_status {
        RESULT_CONFIRMED = 1, /* first results */
        RESULT_DUPLICATE,
        RESULT_REJECTED,
        RESULT_IGNORED,
        RESULT_REGISTERED, /* final results, after the push */
        RESULT_ALREADY_REGISTERED,
        RESULT_FAILED,
        RESULT_DEACTIVATED,
        RESULT__COUNT
};

const char *result_status_name(enum result_status s);

struct result {
        const char *event_id; /* NULL: unknown (the event had no valid id) */
        const char *program;
        const char *nik;
        enum result_status status;
        const char *reason; /* NULL */
        const char *detail; /* NULL; which field a rejection concerns */
        const char *covered_by;
        const char *kpj;
        const char *batch_id;
        int64_t at_ms;
        /* The consumed message a first result answers (topic NULL for final
         * results): lets a portal match a rejection of a message that had no
         * valid event_id. An addition to the spec's fields. */
        const char *source_topic;
        int32_t source_partition;
        int64_t source_offset;
};

/* Encodes one result as the topic's JSON value. Returns a malloc'd,
 * NUL-terminated string (length in *len), or NULL when out of memory. */
char *result_encode(const struct result *r, size_t *len);

#endif
