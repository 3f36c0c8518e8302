/* batch: see batch.h. */
#include "batch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT 256

static const char *const status_names[] = {
    [BATCH_REGISTERED] = "REGISTERED", [BATCH_ALREADY_REGISTERED] = "ALREADY_REGISTERED",
    [BATCH_REJECTED] = "REJECTED",     [BATCH_DEACTIVATED] = "DEACTIVATED",
    [BATCH_NOT_FOUND] = "NOT_FOUND",
};

static const char *const reason_texts[] = {
    [BATCH_OK] = "ok",
    [BATCH_NOT_OBJECT] = "item must be an object",
    [BATCH_BAD_REGISTRATION_ID] = "registration_id required (1 to 128 characters)",
    [BATCH_BAD_NIK] = "nik must be 16 digits",
    [BATCH_BAD_NAME] = "name required",
    [BATCH_BAD_BIRTH_DATE] = "birth_date must be a date YYYY-MM-DD",
    [BATCH_BAD_SEX] = "sex must be M or F",
    [BATCH_BAD_PROGRAM] = "program required",
    [BATCH_BAD_PAYER] = "payer must be an object with level and region",
    [BATCH_BAD_BENEFITS] = "benefits must be a non-empty array of strings",
    [BATCH_BAD_PERIOD] = "period must have start and end YYYY-MM, start <= end",
    [BATCH_BAD_PREMIUM] = "monthly_premium must be a non-negative integer",
    [BATCH_BAD_OCCUPATION] = "occupation must be a string",
    [BATCH_BAD_PHONE] = "phone must be a string",
    [BATCH_BAD_KPJ] = "kpj must be 11 digits",
    [BATCH_BAD_DEACTIVATION_REASON] = "reason required",
};

const char *batch_status_name(enum batch_status s)
{
        return status_names[s];
}

const char *batch_reason_text(enum batch_reason r)
{
        return reason_texts[r];
}

int batch_kind_from_path(const char *path, enum batch_kind *ret)
{
        if (!strcmp(path, "/v1/registrations"))
                *ret = BATCH_REGISTRATIONS;
        else if (!strcmp(path, "/v1/deactivations"))
                *ret = BATCH_DEACTIVATIONS;
        else
                return -ENOENT;
        return 0;
}

bool batch_key_valid(const char *key)
{
        size_t n = 0;

        if (!key)
                return false;
        for (; key[n]; n++) {
                char c = key[n];

                if (n >= BATCH_KEY_MAX)
                        return false;
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
                      c == '-'))
                        return false;
        }
        return n > 0;
}

int batch_parse_digits(const char *s, size_t digits, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i;

        if (!s)
                return -EINVAL;
        for (i = 0; i < digits; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (s[i])
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A non-empty string of at most MAX_TEXT bytes, or NULL. */
static const char *text(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        size_t n;

        if (!cJSON_IsString(v))
                return NULL;
        n = strnlen(v->valuestring, MAX_TEXT + 1);
        return n == 0 || n > MAX_TEXT ? NULL : v->valuestring;
}

static int number(const char *s, size_t n)
{
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* "YYYY-MM" at the start of s (at least 7 bytes), as year * 12 + month - 1,
 * or -1. */
static int year_month_at(const char *s)
{
        int y, m;

        if (s[4] != '-')
                return -1;
        y = number(s, 4);
        m = number(s + 5, 2);
        if (y < 1900 || y > 2199 || m < 1 || m > 12)
                return -1;
        return y * 12 + m - 1;
}

static int year_month(const char *s)
{
        return s && strlen(s) == 7 ? year_month_at(s) : -1;
}

static bool valid_date(const char *s)
{
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int ym, y, m, d, max;

        if (!s || strlen(s) != 10 || s[7] != '-')
                return false;
        ym = year_month_at(s);
        d = number(s + 8, 2);
        if (ym < 0 || d < 1)
                return false;
        y = ym / 12;
        m = ym % 12;
        max = days[m];
        if (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                max = 29;
        return d <= max;
}

static bool valid_period(const cJSON *period)
{
        int start, end;

        if (!cJSON_IsObject(period))
                return false;
        start = year_month(text(period, "start"));
        end = year_month(text(period, "end"));
        return start >= 0 && end >= 0 && start <= end;
}

static bool valid_benefits(const cJSON *benefits)
{
        const cJSON *b;

        if (!cJSON_IsArray(benefits) || cJSON_GetArraySize(benefits) == 0)
                return false;
        cJSON_ArrayForEach(b, benefits)
        {
                if (!cJSON_IsString(b) || !b->valuestring[0])
                        return false;
        }
        return true;
}

static bool valid_premium(const cJSON *p)
{
        return cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble <= 1e12 &&
               floor(p->valuedouble) == p->valuedouble;
}

static bool optional_string(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

        return !v || cJSON_IsNull(v) || cJSON_IsString(v);
}

static const char *registration_id(const cJSON *obj)
{
        const char *id = text(obj, "registration_id");

        return id && strlen(id) <= BATCH_KEY_MAX ? id : NULL;
}

/* The first rule a registration breaks, or BATCH_OK. */
static enum batch_reason check_registration(const cJSON *obj, struct batch_item *it)
{
        const cJSON *payer, *sex, *nik;

        if (!cJSON_IsObject(obj))
                return BATCH_NOT_OBJECT;
        it->registration_id = registration_id(obj);
        nik = cJSON_GetObjectItemCaseSensitive(obj, "nik");
        it->nik_text = cJSON_IsString(nik) ? nik->valuestring : NULL;
        it->program = text(obj, "program");
        if (!it->registration_id)
                return BATCH_BAD_REGISTRATION_ID;
        if (batch_parse_digits(it->nik_text, 16, &it->nik) < 0)
                return BATCH_BAD_NIK;
        if (!text(obj, "name"))
                return BATCH_BAD_NAME;
        if (!valid_date(text(obj, "birth_date")))
                return BATCH_BAD_BIRTH_DATE;
        sex = cJSON_GetObjectItemCaseSensitive(obj, "sex");
        if (!cJSON_IsString(sex) ||
            (strcmp(sex->valuestring, "M") && strcmp(sex->valuestring, "F")))
                return BATCH_BAD_SEX;
        if (!it->program)
                return BATCH_BAD_PROGRAM;
        payer = cJSON_GetObjectItemCaseSensitive(obj, "payer");
        if (!cJSON_IsObject(payer) || !text(payer, "level") || !text(payer, "region"))
                return BATCH_BAD_PAYER;
        if (!valid_benefits(cJSON_GetObjectItemCaseSensitive(obj, "benefits")))
                return BATCH_BAD_BENEFITS;
        if (!valid_period(cJSON_GetObjectItemCaseSensitive(obj, "period")))
                return BATCH_BAD_PERIOD;
        if (!valid_premium(cJSON_GetObjectItemCaseSensitive(obj, "monthly_premium")))
                return BATCH_BAD_PREMIUM;
        if (!optional_string(obj, "occupation"))
                return BATCH_BAD_OCCUPATION;
        if (!optional_string(obj, "phone"))
                return BATCH_BAD_PHONE;
        return BATCH_OK;
}

/* A deactivation that breaks a rule makes the whole batch malformed: the
 * contract has no per-item rejection for deactivations. */
static enum batch_reason check_deactivation(const cJSON *obj, struct batch_item *it)
{
        uint64_t kpj;

        if (!cJSON_IsObject(obj))
                return BATCH_NOT_OBJECT;
        it->registration_id = registration_id(obj);
        it->nik_text = text(obj, "nik");
        it->program = text(obj, "program");
        if (!it->registration_id)
                return BATCH_BAD_REGISTRATION_ID;
        if (batch_parse_digits(it->nik_text, 16, &it->nik) < 0)
                return BATCH_BAD_NIK;
        if (batch_parse_digits(text(obj, "kpj"), 11, &kpj) < 0)
                return BATCH_BAD_KPJ;
        if (!it->program)
                return BATCH_BAD_PROGRAM;
        if (!text(obj, "reason"))
                return BATCH_BAD_DEACTIVATION_REASON;
        return BATCH_OK;
}

static const char *items_name(enum batch_kind kind)
{
        return kind == BATCH_REGISTRATIONS ? "registrations" : "deactivations";
}

int batch_parse(enum batch_kind kind, const char *key, const char *body, size_t len,
                struct batch **ret, char *why, size_t why_size)
{
        struct batch *b = NULL;
        const cJSON *batch_id, *items, *item;
        const char *end = NULL;
        size_t i = 0;
        int r = -EBADMSG;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->kind = kind;
        /* cJSON would take a NUL byte for white space; JSON does not. body is
         * NUL-terminated, so the parse must end exactly there. */
        if (memchr(body, '\0', len)) {
                snprintf(why, why_size, "body is not valid JSON");
                goto out;
        }
        b->root = cJSON_ParseWithLengthOpts(body, len + 1, &end, 1);
        if (!b->root || end != body + len) {
                snprintf(why, why_size, "body is not valid JSON");
                goto out;
        }
        if (!cJSON_IsObject(b->root)) {
                snprintf(why, why_size, "body must be a JSON object");
                goto out;
        }
        batch_id = cJSON_GetObjectItemCaseSensitive(b->root, "batch_id");
        if (!cJSON_IsString(batch_id) || strcmp(batch_id->valuestring, key)) {
                snprintf(why, why_size, "batch_id must equal the Idempotency-Key");
                goto out;
        }
        b->key = batch_id->valuestring;
        items = cJSON_GetObjectItemCaseSensitive(b->root, items_name(kind));
        if (!cJSON_IsArray(items)) {
                snprintf(why, why_size, "%s must be an array", items_name(kind));
                goto out;
        }
        b->n = (size_t)cJSON_GetArraySize(items);
        if (b->n == 0) {
                snprintf(why, why_size, "%s is empty", items_name(kind));
                goto out;
        }
        if (b->n > BATCH_MAX_ITEMS) {
                snprintf(why, why_size, "more than %d %s in one batch", BATCH_MAX_ITEMS,
                         items_name(kind));
                r = -E2BIG;
                goto out;
        }
        b->items = calloc(b->n, sizeof(*b->items));
        if (!b->items) {
                r = -ENOMEM;
                goto out;
        }
        cJSON_ArrayForEach(item, items)
        {
                struct batch_item *it = &b->items[i];

                if (kind == BATCH_REGISTRATIONS) {
                        it->reason = check_registration(item, it);
                } else {
                        it->reason = check_deactivation(item, it);
                        if (it->reason != BATCH_OK) {
                                snprintf(why, why_size, "deactivations[%zu]: %s", i,
                                         reason_texts[it->reason]);
                                goto out;
                        }
                }
                i++;
        }
        r = 0;
out:
        if (r < 0) {
                batch_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

void batch_free(struct batch *b)
{
        if (!b)
                return;
        cJSON_Delete(b->root);
        free(b->items);
        free(b);
}

/* The bad_kpj_every fault's kpjs, in turn: each breaks "kpj is the
 * participant number (11 digits)" another way. NULL: the member is left out. */
static const char *const bad_kpjs[] = {
    ",\"kpj\":\"1\\\",\\\"nik\\\":\\\"x\"",                  /* 1","nik":"x */
    ",\"kpj\":\"250000000011\"",                             /* 12 digits */
    ",\"kpj\":\"2500000000\"",                               /* 10 digits */
    ",\"kpj\":\"2500000000125000000001250000000012500000\"", /* 40 digits */
    ",\"kpj\":\"2500000000a\"",
    ",\"kpj\":null",
    ",\"kpj\":25000000001", /* a number */
    NULL,
};

#define N_BAD_KPJS (sizeof(bad_kpjs) / sizeof(bad_kpjs[0]))

static void render_kpj(struct jbuf *out, const struct batch_item *it)
{
        char text_kpj[24];

        if (it->bad_kpj) {
                const char *bad = bad_kpjs[(it->bad_kpj - 1) % N_BAD_KPJS];
                if (bad)
                        jbuf_puts(out, bad);
                return;
        }
        snprintf(text_kpj, sizeof(text_kpj), "%011llu", (unsigned long long)it->kpj);
        jbuf_puts(out, ",\"kpj\":");
        jbuf_str(out, text_kpj);
}

void batch_render(const struct batch *b, struct jbuf *out)
{
        jbuf_puts(out, "{\"metaData\":{\"code\":\"200\",\"message\":\"OK\"},"
                       "\"response\":{\"batch_id\":");
        jbuf_str(out, b->key);
        jbuf_puts(out, ",\"results\":[");
        for (size_t i = 0; i < b->n; i++) {
                const struct batch_item *it = &b->items[i];

                jbuf_puts(out, i ? ",{\"registration_id\":" : "{\"registration_id\":");
                jbuf_str(out, it->registration_id);
                jbuf_puts(out, ",\"status\":");
                jbuf_str(out, status_names[it->status]);
                if (it->status == BATCH_REJECTED) {
                        jbuf_puts(out, ",\"reason\":");
                        jbuf_str(out, reason_texts[it->reason]);
                } else if (it->status != BATCH_NOT_FOUND) {
                        render_kpj(out, it);
                }
                jbuf_puts(out, "}");
        }
        jbuf_puts(out, "]}}");
}

void batch_render_error(int status, const char *message, struct jbuf *out)
{
        jbuf_printf(out, "{\"metaData\":{\"code\":\"%d\",\"message\":", status);
        jbuf_str(out, message);
        jbuf_puts(out, "},\"response\":null}");
}
