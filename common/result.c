#include "result.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "clock.h"

static const char *const status_names[RESULT__COUNT] = {
    [RESULT_CONFIRMED] = "confirmed",
    [RESULT_DUPLICATE] = "duplicate",
    [RESULT_REJECTED] = "rejected",
    [RESULT_IGNORED] = "ignored",
    [RESULT_REGISTERED] = "registered",
    [RESULT_ALREADY_REGISTERED] = "already_registered",
    [RESULT_FAILED] = "failed",
    [RESULT_DEACTIVATED] = "deactivated",
};

const char *result_status_name(enum result_status s)
{
        if ((unsigned)s >= RESULT__COUNT || !status_names[s])
                return "unknown";
        return status_names[s];
}

static cJSON *text_or_null(const char *s)
{
        return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

char *result_encode(const struct result *r, size_t *len)
{
        char at[40];
        char *out = NULL;
        cJSON *o = cJSON_CreateObject();

        if (!o)
                return NULL;
        clock_format_rfc3339(r->at_ms, at, sizeof(at));
        cJSON_AddStringToObject(o, "schema", "enrollment-result/v1");
        cJSON_AddItemToObject(o, "event_id", text_or_null(r->event_id));
        cJSON_AddItemToObject(o, "program", text_or_null(r->program));
        cJSON_AddItemToObject(o, "nik", text_or_null(r->nik));
        cJSON_AddStringToObject(o, "status", result_status_name(r->status));
        cJSON_AddItemToObject(o, "reason", text_or_null(r->reason));
        if (r->detail && *r->detail)
                cJSON_AddStringToObject(o, "detail", r->detail);
        cJSON_AddItemToObject(o, "covered_by", text_or_null(r->covered_by));
        cJSON_AddItemToObject(o, "kpj", text_or_null(r->kpj));
        cJSON_AddItemToObject(o, "batch_id", text_or_null(r->batch_id));
        cJSON_AddStringToObject(o, "at", at);
        if (r->source_topic) {
                cJSON *src = cJSON_AddObjectToObject(o, "source");
                cJSON_AddStringToObject(src, "topic", r->source_topic);
                cJSON_AddNumberToObject(src, "partition", r->source_partition);
                cJSON_AddNumberToObject(src, "offset", (double)r->source_offset);
        }
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (out)
                *len = strlen(out);
        return out;
}
