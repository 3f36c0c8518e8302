#include "answer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "safetext.h"

static const char *text(const cJSON *obj, const char *name)
{
        return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
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
                    .kpj = text(it, "kpj"),
                    .reason = safetext_json_text(it, "reason"), /* masked, escaped */
                };
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
