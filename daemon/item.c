#include "item.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static int finish(struct jsonw *w, char **out, size_t *len)
{
        char *s = jsonw_finish(w, len);
        if (!s)
                return -ENOMEM;
        *out = s;
        return 0;
}

/* The members in the order cJSON printed them before (the journaled
 * items of earlier batches have these bytes; tests/unit/test_jsonw.c holds
 * the two side by side). */
int item_registration(const struct event *ev, const struct conf_program *prog,
                      int64_t first_month, char **out, size_t *len)
{
        struct jsonw w;
        char start[8], end[8];

        jsonw_init(&w, 512);
        conf_month_format(first_month, start);
        conf_month_format(prog->end_month, end);
        jsonw_lit(&w, "{\"nik\":");
        jsonw_str(&w, ev->nik);
        jsonw_lit(&w, ",\"name\":");
        assert(ev->name); /* a submitted event has one */
        jsonw_str(&w, ev->name);
        jsonw_lit(&w, ",\"birth_date\":");
        jsonw_str(&w, ev->birth_date);
        jsonw_lit(&w, ev->sex == 'F' ? ",\"sex\":\"F\"" : ",\"sex\":\"M\"");
        jsonw_lit(&w, ",\"program\":");
        jsonw_str(&w, prog->id);
        jsonw_lit(&w, ",\"payer\":{\"level\":");
        jsonw_str(&w, conf_payer_level_name(prog->payer_level));
        jsonw_lit(&w, ",\"region\":");
        jsonw_str(&w, prog->payer_region);
        jsonw_lit(&w, "},\"benefits\":[");
        if (prog->benefits & BENEFIT_JKK)
                jsonw_lit(&w, "\"JKK\"");
        if (prog->benefits & BENEFIT_JKM)
                jsonw_lit(&w, prog->benefits & BENEFIT_JKK ? ",\"JKM\"" : "\"JKM\"");
        jsonw_lit(&w, "],\"period\":{\"start\":");
        jsonw_str(&w, start);
        jsonw_lit(&w, ",\"end\":");
        jsonw_str(&w, end);
        jsonw_lit(&w, "},\"monthly_premium\":");
        jsonw_i64(&w, prog->monthly_premium);
        if (ev->occupation) {
                jsonw_lit(&w, ",\"occupation\":");
                jsonw_str(&w, ev->occupation);
        }
        if (ev->phone[0]) {
                jsonw_lit(&w, ",\"phone\":");
                jsonw_str(&w, ev->phone);
        }
        jsonw_lit(&w, "}");
        return finish(&w, out, len);
}

int item_deactivation(const struct event *ev, char **out, size_t *len)
{
        struct jsonw w;

        jsonw_init(&w, 128);
        jsonw_lit(&w, "{\"nik\":");
        jsonw_str(&w, ev->nik);
        jsonw_lit(&w, ",\"program\":");
        jsonw_str(&w, ev->program);
        jsonw_lit(&w, ",\"reason\":");
        jsonw_str(&w, ev->reason ? ev->reason : "withdrawn");
        jsonw_lit(&w, "}");
        return finish(&w, out, len);
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
 * already serialised (when their events were decided) and are spliced in
 * byte for byte: a reparse could change the bytes of a batch that must be
 * resent byte-identical. So the envelope is written here, every string in
 * it through jsonw_str (escaped as cJSON escapes, so that a value can never
 * end its string early or add a member). */
int item_batch_body(const char *journal_id, int64_t id, bool deactivations,
                    const struct item_part *parts, size_t n, char **body, size_t *len)
{
        char name[ITEM_NAME_SIZE], rid[ITEM_NAME_SIZE];
        size_t cap = 128;
        struct jsonw w;

        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                if (o->item_len < 2 || o->item[0] != '{' ||
                    o->item[o->item_len - 1] != '}')
                        return -EINVAL;
                /* most bodies need no growth: room for ids, an escaped kpj */
                cap += o->item_len + 128 + (o->kpj ? 6 * strlen(o->kpj) : 0);
        }
        jsonw_init(&w, cap);
        item_batch_name(journal_id, id, name);
        jsonw_lit(&w, "{\"batch_id\":");
        jsonw_str(&w, name);
        jsonw_lit(&w, deactivations ? ",\"deactivations\":[" : ",\"registrations\":[");
        for (size_t i = 0; i < n; i++) {
                const struct item_part *o = &parts[i];
                item_registration_id(journal_id, o->reg_seq, rid);
                jsonw_lit(&w, i ? ",{\"registration_id\":" : "{\"registration_id\":");
                jsonw_str(&w, rid);
                if (deactivations) {
                        jsonw_lit(&w, ",\"kpj\":");
                        if (o->kpj && o->kpj[0])
                                jsonw_str(&w, o->kpj);
                        else
                                jsonw_lit(&w, "null");
                }
                /* the item's members, after its '{' */
                if (o->item_len > 2)
                        jsonw_lit(&w, ",");
                jsonw_raw(&w, o->item + 1, o->item_len - 1);
        }
        jsonw_lit(&w, "]}");
        return finish(&w, body, len); /* NUL-terminated, as before */
}
