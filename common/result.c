#include "result.h"

#include <string.h>

#include "clock.h"
#include "jsonw.h"

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

/* The members in the order the topic has always had them (the bytes
 * cJSON printed; tests/unit/test_jsonw.c holds the two side by side). */
char *result_encode(const struct result *r, size_t *len)
{
        char at[40];
        struct jsonw w;

        jsonw_init(&w, 384);
        clock_format_rfc3339(r->at_ms, at, sizeof(at));
        jsonw_lit(&w, "{\"schema\":\"enrollment-result/v1\",\"event_id\":");
        jsonw_str_or_null(&w, r->event_id);
        jsonw_lit(&w, ",\"program\":");
        jsonw_str_or_null(&w, r->program);
        jsonw_lit(&w, ",\"nik\":");
        jsonw_str_or_null(&w, r->nik);
        jsonw_lit(&w, ",\"status\":");
        jsonw_str(&w, result_status_name(r->status));
        jsonw_lit(&w, ",\"reason\":");
        jsonw_str_or_null(&w, r->reason);
        if (r->detail && *r->detail) {
                jsonw_lit(&w, ",\"detail\":");
                jsonw_str(&w, r->detail);
        }
        jsonw_lit(&w, ",\"covered_by\":");
        jsonw_str_or_null(&w, r->covered_by);
        jsonw_lit(&w, ",\"kpj\":");
        jsonw_str_or_null(&w, r->kpj);
        jsonw_lit(&w, ",\"batch_id\":");
        jsonw_str_or_null(&w, r->batch_id);
        jsonw_lit(&w, ",\"at\":");
        jsonw_str(&w, at);
        if (r->source_topic) {
                jsonw_lit(&w, ",\"source\":{\"topic\":");
                jsonw_str(&w, r->source_topic);
                jsonw_lit(&w, ",\"partition\":");
                jsonw_i64(&w, r->source_partition);
                jsonw_lit(&w, ",\"offset\":");
                jsonw_i64(&w, r->source_offset);
                jsonw_lit(&w, "}");
        }
        jsonw_lit(&w, "}");
        return jsonw_finish(&w, len);
}
