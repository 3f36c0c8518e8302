#include "item.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
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

int item_registration(const struct event *ev, const struct conf_program *prog,
                      int64_t first_month, char **out, size_t *len)
{
        cJSON *o = cJSON_CreateObject(), *payer, *benefits, *period;
        char start[8], end[8];

        if (!o)
                return -ENOMEM;
        conf_month_format(first_month, start);
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

/* The writer of request bodies. A body is an envelope around items that were
 * already serialised (by cJSON, when their events were decided) and are
 * spliced in byte for byte: cJSON cannot splice text into a tree without
 * reparsing it, and a reparse could change the bytes of a batch that must be
 * resent byte-identical. So the envelope is written here, and every string
 * in it goes through str(), which escapes exactly as cJSON does (the
 * quotation mark, the reverse solidus, \b \f \n \r \t, \u00XX for the
 * other controls, every other byte as it is), so that a value can never end
 * its string early or add a member. */
struct writer {
        char *b;
        size_t used, cap;
        bool failed;
};

static void put(struct writer *w, const char *s, size_t n)
{
        if (w->failed)
                return;
        if (n > w->cap - w->used) {
                size_t cap = w->cap ? w->cap : 256;
                while (n > cap - w->used) {
                        if (cap > SIZE_MAX / 2) {
                                w->failed = true;
                                return;
                        }
                        cap *= 2;
                }
                char *b = realloc(w->b, cap);
                if (!b) {
                        w->failed = true;
                        return;
                }
                w->b = b;
                w->cap = cap;
        }
        memcpy(w->b + w->used, s, n);
        w->used += n;
}

static void raw(struct writer *w, const char *s)
{
        put(w, s, strlen(s));
}

static void str(struct writer *w, const char *s)
{
        raw(w, "\"");
        for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
                const char *esc = NULL;
                char u[8];
                switch (*c) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                default:
                        if (*c < 0x20) {
                                snprintf(u, sizeof(u), "\\u%04x", *c);
                                esc = u;
                        }
                }
                if (esc)
                        raw(w, esc);
                else
                        put(w, (const char *)c, 1);
        }
        raw(w, "\"");
}

int item_batch_body(const char *journal_id, int64_t id, bool deactivations,
                    const struct item_part *parts, size_t n, char **body, size_t *len)
{
        char name[ITEM_NAME_SIZE], rid[ITEM_NAME_SIZE];
        struct writer w = {.cap = 128};

        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                if (o->item_len < 2 || o->item[0] != '{' ||
                    o->item[o->item_len - 1] != '}')
                        return -EINVAL;
                /* most bodies need no growth: room for ids, an escaped kpj */
                w.cap += o->item_len + 128 + (o->kpj ? 6 * strlen(o->kpj) : 0);
        }
        w.b = malloc(w.cap);
        if (!w.b)
                return -ENOMEM;
        item_batch_name(journal_id, id, name);
        raw(&w, "{\"batch_id\":");
        str(&w, name);
        raw(&w, deactivations ? ",\"deactivations\":[" : ",\"registrations\":[");
        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                item_registration_id(journal_id, o->reg_seq, rid);
                raw(&w, i ? ",{\"registration_id\":" : "{\"registration_id\":");
                str(&w, rid);
                if (deactivations) {
                        raw(&w, ",\"kpj\":");
                        if (o->kpj && o->kpj[0])
                                str(&w, o->kpj);
                        else
                                raw(&w, "null");
                }
                /* the item's members, after its '{' */
                if (o->item_len > 2)
                        raw(&w, ",");
                put(&w, o->item + 1, o->item_len - 1);
        }
        raw(&w, "]}");
        put(&w, "", 1); /* NUL-terminated, as before */
        if (w.failed) {
                free(w.b);
                return -ENOMEM;
        }
        *body = w.b;
        *len = w.used - 1;
        return 0;
}
