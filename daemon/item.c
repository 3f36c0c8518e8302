#include "item.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int finish(cJSON *o, char **out, size_t *len)
{
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!s)
                return -ENOMEM;
        *out = s;
        *len = strlen(s);
        return 0;
}

int item_registration(const struct event *ev, const struct conf_program *prog, char **out,
                      size_t *len)
{
        cJSON *o = cJSON_CreateObject(), *payer, *benefits, *period;
        char start[8], end[8];

        if (!o)
                return -ENOMEM;
        conf_month_format(prog->start_month, start);
        conf_month_format(prog->end_month, end);
        cJSON_AddStringToObject(o, "nik", ev->nik);
        cJSON_AddStringToObject(o, "name", ev->name);
        cJSON_AddStringToObject(o, "birth_date", ev->birth_date);
        cJSON_AddStringToObject(o, "sex", ev->sex == 'F' ? "F" : "M");
        cJSON_AddStringToObject(o, "program", prog->id);
        payer = cJSON_AddObjectToObject(o, "payer");
        cJSON_AddStringToObject(payer, "level", conf_payer_level_name(prog->payer_level));
        cJSON_AddStringToObject(payer, "region", prog->payer_region);
        benefits = cJSON_AddArrayToObject(o, "benefits");
        if (prog->benefits & BENEFIT_JKK)
                cJSON_AddItemToArray(benefits, cJSON_CreateString("JKK"));
        if (prog->benefits & BENEFIT_JKM)
                cJSON_AddItemToArray(benefits, cJSON_CreateString("JKM"));
        period = cJSON_AddObjectToObject(o, "period");
        cJSON_AddStringToObject(period, "start", start);
        cJSON_AddStringToObject(period, "end", end);
        cJSON_AddNumberToObject(o, "monthly_premium", (double)prog->monthly_premium);
        if (ev->occupation[0])
                cJSON_AddStringToObject(o, "occupation", ev->occupation);
        if (ev->phone[0])
                cJSON_AddStringToObject(o, "phone", ev->phone);
        return finish(o, out, len);
}

int item_deactivation(const struct event *ev, char **out, size_t *len)
{
        cJSON *o = cJSON_CreateObject();

        if (!o)
                return -ENOMEM;
        cJSON_AddStringToObject(o, "nik", ev->nik);
        cJSON_AddStringToObject(o, "program", ev->program);
        cJSON_AddStringToObject(o, "reason", ev->reason[0] ? ev->reason : "withdrawn");
        return finish(o, out, len);
}

void item_batch_name(const char *journal_id, int64_t id, char out[ITEM_NAME_SIZE])
{
        snprintf(out, ITEM_NAME_SIZE, "b-%s-%012lld", journal_id, (long long)id);
}

void item_registration_id(const char *journal_id, int64_t seq, char out[ITEM_NAME_SIZE])
{
        snprintf(out, ITEM_NAME_SIZE, "r-%s-%012lld", journal_id, (long long)seq);
}

int item_batch_body(const char *journal_id, int64_t id, bool deactivations,
                    const struct item_part *parts, size_t n, char **body, size_t *len)
{
        char name[ITEM_NAME_SIZE], rid[ITEM_NAME_SIZE];
        size_t cap = 128, used;
        char *b;

        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                if (o->item_len < 2 || o->item[0] != '{' ||
                    o->item[o->item_len - 1] != '}')
                        return -EINVAL;
                cap += o->item_len + 128 + (o->kpj ? strlen(o->kpj) : 0);
        }
        b = malloc(cap);
        if (!b)
                return -ENOMEM;
        item_batch_name(journal_id, id, name);
        used = (size_t)snprintf(b, cap, "{\"batch_id\":\"%s\",\"%s\":[", name,
                                deactivations ? "deactivations" : "registrations");
        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                const char *kpj = o->kpj ? o->kpj : "";
                item_registration_id(journal_id, o->reg_seq, rid);
                used +=
                    (size_t)snprintf(b + used, cap - used,
                                     "%s{\"registration_id\":\"%s\"", i ? "," : "", rid);
                if (deactivations)
                        used += (size_t)snprintf(
                            b + used, cap - used,
                            kpj[0] ? ",\"kpj\":\"%s\"" : ",\"kpj\":null", kpj);
                /* the item's members, after its '{' */
                if (o->item_len > 2)
                        b[used++] = ',';
                memcpy(b + used, o->item + 1, o->item_len - 1);
                used += o->item_len - 1;
        }
        used += (size_t)snprintf(b + used, cap - used, "]}");
        *body = b;
        *len = used;
        return 0;
}
