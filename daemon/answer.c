#include "answer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "safetext.h"

static const char *text(const cJSON *obj, const char *name)
{
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* docs/endpoint.md, "Answers": a kpj, the participant number, is 11 digits. */
static bool kpj_valid(const char *s)
{
        size_t i = 0;

        while (i < ANSWER_KPJ_LEN && s[i] >= '0' && s[i] <= '9')
                i++;
        return i == ANSWER_KPJ_LEN && s[i] == '\0';
}

static bool needs_kpj(const char *status)
{
        return status && (strcmp(status, "REGISTERED") == 0 ||
                          strcmp(status, "ALREADY_REGISTERED") == 0);
}

/* Fills a's kpj and error from the element's "kpj" member. */
static void read_kpj(const cJSON *it, struct answer *a)
{
        const cJSON *kpj = cJSON_GetObjectItemCaseSensitive(it, "kpj");

        a->kpj = NULL;
        if (!kpj || cJSON_IsNull(kpj)) {
                if (needs_kpj(a->status))
                        a->error = "protocol error: the endpoint answered a registration "
                                   "without a kpj";
        } else if (!cJSON_IsString(kpj) || !kpj_valid(kpj->valuestring)) {
                a->error = "protocol error: the endpoint's kpj is not 11 digits";
        } else {
                a->kpj = kpj->valuestring;
        }
}

int answer_parse(const char *body, size_t len, struct answers *out)
{
        cJSON *doc = NULL, *results, *it;
        struct answer *items = NULL;
        size_t n = 0;
        int rc = -EPROTO;

        /* cJSON_ParseWithLength reads past a NUL; a C string ends there. */
        len = body ? strnlen(body, len) : 0;
        if (len)
                doc = cJSON_ParseWithLength(body, len);
        results = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(doc, "response"), "results");
        if (!cJSON_IsArray(results))
                goto out;
        items = calloc((size_t)cJSON_GetArraySize(results) + 1, sizeof(*items));
        if (!items) {
                rc = -ENOMEM;
                goto out;
        }
        cJSON_ArrayForEach(it, results)
        {
                items[n] = (struct answer){
                    .rid = text(it, "registration_id"),
                    .status = text(it, "status"),
                    .reason = safetext_json_text(it, "reason"), /* masked, escaped */
                };
                read_kpj(it, &items[n]);
                n++;
        }
        *out = (struct answers){.items = items, .n = n, .doc = doc};
        items = NULL;
        doc = NULL;
        rc = 0;
out:
        free(items);
        cJSON_Delete(doc);
        return rc;
}

const struct answer *answer_find(const struct answers *a, const char *rid)
{
        for (size_t i = 0; i < a->n; i++)
                if (a->items[i].rid && strcmp(a->items[i].rid, rid) == 0)
                        return &a->items[i];
        return NULL;
}

void answers_free(struct answers *a)
{
        if (!a)
                return;
        free(a->items);
        cJSON_Delete(a->doc);
        *a = (struct answers){0};
}
