/* event: the enrollment/v1 event that portals publish, parsed and checked
 * exactly as docs/events.md says. */
#ifndef BPJS_EVENT_H
#define BPJS_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "nik.h"
#include "reason.h"
#include "textpool.h"

#define EVENT_MAX_BYTES   (64 * 1024)
#define EVENT_ID_MAX      128
#define EVENT_PROGRAM_MAX 64
#define EVENT_NAME_MAX    100 /* characters */
#define EVENT_TEXT_MAX    200 /* characters, optional free-text fields */

enum event_type {
        EVENT_SUBMITTED = 1,
        EVENT_WITHDRAWN = 2,
};

struct event {
        char event_id[EVENT_ID_MAX + 1]; /* "" until known valid */
        enum event_type type;
        char occurred_at[40];
        char portal[EVENT_ID_MAX + 1];
        char program[EVENT_PROGRAM_MAX + 1];
        char nik[NIK_LEN + 1]; /* "" until known valid */
        /* the free-text fields, in the parser's pool at their own length:
         * NULL when absent */
        const char *name;
        char birth_date[11];
        char sex; /* 'M', 'F', or 0 */
        char phone[33];
        const char *occupation;
        int disability;        /* -1 absent, 0, 1 */
        int head_of_household; /* -1 absent, 0, 1 */
        const char *reason;
};

/* Why an event was refused: the code, and the field it concerns. */
struct event_error {
        enum reason reason;
        char field[32];
};

/* Parses len bytes; the free-text fields (name, occupation, reason) are
 * copied into texts, and live as long as its copies. Returns 0 with *ev
 * complete, or -1 with *err set; *ev then holds whatever was valid before
 * the failure (event_id, program and nik are "" unless they were valid), so
 * a result can still name them. -ENOMEM when texts could not grow: nothing
 * was refused, the same bytes may be parsed again. */
int event_parse(const char *buf, size_t len, struct event *ev, struct textpool *texts,
                struct event_error *err);

const char *event_type_name(enum event_type t);

/* Validators shared with the configuration and the mock endpoint. */
bool event_id_valid(const char *s, size_t len);
bool event_date_valid(const char *s, int *year, int *month, int *day);
bool event_rfc3339_valid(const char *s);
/* The calendar date of an RFC 3339 date-time as written, in the offset it
 * carries ("2025-01-31T23:30:00+08:00" is 31 January): its YYYY-MM-DD
 * part. False when s does not start with a real date. */
bool event_local_date(const char *s, int *year, int *month, int *day);
/* Returns the number of code points, or -1 if s is not valid UTF-8. */
long utf8_length(const char *s, size_t len);

#endif
