#include "reason.h"

#include <string.h>

static const struct {
        const char *name;
        const char *describe;
} reasons[REASON__COUNT] = {
    [REASON_NONE] = {"", "no reason"},
    [REASON_MALFORMED_JSON] = {"malformed_json", "the value is not one JSON object"},
    [REASON_INVALID_UTF8] = {"invalid_utf8", "the value is not valid UTF-8"},
    [REASON_DUPLICATE_KEY] = {"duplicate_key", "a JSON object repeats a key"},
    [REASON_TOO_LARGE] = {"too_large", "the value is larger than 64 KiB"},
    [REASON_UNSUPPORTED_SCHEMA] = {"unsupported_schema", "schema is not enrollment/v1"},
    [REASON_INVALID_EVENT_ID] = {"invalid_event_id",
                                 "event_id is not 1..128 of [A-Za-z0-9._:-]"},
    [REASON_INVALID_TYPE] = {"invalid_type",
                             "type is not enrollment.submitted or enrollment.withdrawn"},
    [REASON_MISSING_FIELD] = {"missing_field", "a required field is absent"},
    [REASON_INVALID_FIELD] = {"invalid_field", "a field has the wrong type or form"},
    [REASON_INVALID_NIK] = {"invalid_nik",
                            "worker.nik is not 16 digits, a province code and a date"},
    [REASON_NIK_BIRTH_DATE_MISMATCH] = {"nik_birth_date_mismatch",
                                        "worker.nik disagrees with worker.birth_date"},
    [REASON_NIK_SEX_MISMATCH] = {"nik_sex_mismatch",
                                 "worker.nik disagrees with worker.sex"},
    [REASON_UNKNOWN_PROGRAM] = {"unknown_program", "program is not configured"},
    [REASON_QUOTA_EXCEEDED] = {"quota_exceeded", "the programme's quota is full"},
    [REASON_PROGRAM_CLOSED] = {"program_closed",
                               "the submission's month is after the programme's period, "
                               "or no month of it is left for the worker"},
    [REASON_NOT_ELIGIBLE] =
        {"not_eligible", "the worker fails the eligibility criterion named in detail"},
    [REASON_BUDGET_EXCEEDED] = {"budget_exceeded",
                                "the coverage's premium would take the programme over "
                                "its budget"},
};

const char *reason_name(enum reason r)
{
        if ((unsigned)r >= REASON__COUNT)
                return "unknown";
        return reasons[r].name;
}

const char *reason_describe(enum reason r)
{
        if ((unsigned)r >= REASON__COUNT)
                return "unknown";
        return reasons[r].describe;
}

enum reason reason_from_name(const char *s)
{
        for (int r = 1; r < REASON__COUNT; r++)
                if (strcmp(reasons[r].name, s) == 0)
                        return (enum reason)r;
        return REASON_NONE;
}
