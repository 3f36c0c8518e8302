#include "event.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *event_type_name(enum event_type t)
{
        return t == EVENT_WITHDRAWN ? "enrollment.withdrawn" : "enrollment.submitted";
}

long utf8_length(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s, *end = p + len;
        long n = 0;

        while (p < end) {
                unsigned c = *p, need, min;
                unsigned long cp;

                if (c < 0x80) {
                        p++;
                        n++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        need = 1, min = 0x80, cp = c & 0x1f;
                else if ((c & 0xf0) == 0xe0)
                        need = 2, min = 0x800, cp = c & 0x0f;
                else if ((c & 0xf8) == 0xf0)
                        need = 3, min = 0x10000, cp = c & 0x07;
                else
                        return -1;
                if ((size_t)(end - p) <= need)
                        return -1;
                for (unsigned i = 1; i <= need; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return -1;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return -1;
                p += need + 1;
                n++;
        }
        return n;
}

bool event_id_valid(const char *s, size_t len)
{
        if (len < 1 || len > EVENT_ID_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
                      c == '-'))
                        return false;
        }
        return true;
}

static bool digits(const char *s, int n)
{
        for (int i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int num(const char *s, int n)
{
        int v = 0;
        for (int i = 0; i < n; i++)
                v = v * 10 + (s[i] - '0');
        return v;
}

static bool real_date(int y, int m, int d)
{
        static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        if (m < 1 || m > 12 || d < 1)
                return false;
        return d <= days[m - 1] + (m == 2 && leap);
}

bool event_date_valid(const char *s, int *year, int *month, int *day)
{
        if (strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
            s[7] != '-' || !digits(s + 8, 2))
                return false;
        if (!real_date(num(s, 4), num(s + 5, 2), num(s + 8, 2)))
                return false;
        *year = num(s, 4);
        *month = num(s + 5, 2);
        *day = num(s + 8, 2);
        return true;
}

bool event_rfc3339_valid(const char *s)
{
        int y, m, d;
        char date[11];
        const char *t;

        if (strlen(s) < 20)
                return false;
        memcpy(date, s, 10);
        date[10] = '\0';
        if (!event_date_valid(date, &y, &m, &d))
                return false;
        t = s + 10;
        if ((*t != 'T' && *t != 't' && *t != ' ') || !digits(t + 1, 2) || t[3] != ':' ||
            !digits(t + 4, 2) || t[6] != ':' || !digits(t + 7, 2))
                return false;
        if (num(t + 1, 2) > 23 || num(t + 4, 2) > 59 || num(t + 7, 2) > 60)
                return false;
        t += 9;
        if (*t == '.') {
                if (!digits(++t, 1))
                        return false;
                while (*t >= '0' && *t <= '9')
                        t++;
        }
        if ((*t == 'Z' || *t == 'z') && t[1] == '\0')
                return true;
        return (*t == '+' || *t == '-') && digits(t + 1, 2) && t[3] == ':' &&
               digits(t + 4, 2) && t[6] == '\0' && num(t + 1, 2) <= 23 &&
               num(t + 4, 2) <= 59;
}

bool event_local_date(const char *s, int *year, int *month, int *day)
{
        char date[11];

        if (strnlen(s, 10) < 10)
                return false;
        memcpy(date, s, 10);
        date[10] = '\0';
        return event_date_valid(date, year, month, day);
}

static int by_name(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON object with a repeated key anywhere inside is refused: which of
 * the two values a reader takes is undefined across parsers. Sorting the
 * names keeps this O(n log n) however many keys an object has. */
static int has_duplicate_key(const cJSON *node)
{
        size_t n = 0;
        int dup = 0;

        for (const cJSON *c = node ? node->child : NULL; c && !dup; c = c->next) {
                n++;
                dup = has_duplicate_key(c);
        }
        if (dup || !cJSON_IsObject(node) || n < 2)
                return dup;
        const char **names = malloc(n * sizeof(*names));
        if (!names)
                return -1;
        n = 0;
        for (const cJSON *c = node->child; c; c = c->next)
                names[n++] = c->string;
        qsort(names, n, sizeof(*names), by_name);
        for (size_t i = 1; i < n && !dup; i++)
                dup = strcmp(names[i - 1], names[i]) == 0;
        free(names);
        return dup;
}

/* JSON forbids raw control characters inside strings; cJSON accepts them. */
static bool has_raw_control_in_string(const char *buf, size_t len)
{
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)buf[i];
                if (in_string && ch == '\\') {
                        i++;
                        continue;
                }
                if (ch == '"')
                        in_string = !in_string;
                else if (in_string && ch < 0x20)
                        return true;
        }
        return false;
}

static int fail(struct event_error *err, enum reason r, const char *field)
{
        err->reason = r;
        snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
        return -1;
}

enum text_rule { OPTIONAL, REQUIRED };

/* The string member `name` of obj, if it holds 1..max_chars characters:
 * 0 with *text and *len (*text NULL when the member is absent or null), or
 * the failure for `field`. */
static int text_member(const cJSON *obj, const char *name, const char *field,
                       enum text_rule rule, long max_chars, const char **text,
                       size_t *len, struct event_error *err)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
        long chars;

        *text = NULL;
        *len = 0;
        if (!v || cJSON_IsNull(v))
                return rule == REQUIRED ? fail(err, REASON_MISSING_FIELD, field) : 0;
        if (!cJSON_IsString(v))
                return fail(err, REASON_INVALID_FIELD, field);
        *len = strlen(v->valuestring);
        chars = utf8_length(v->valuestring, *len);
        if (chars < 1 || chars > max_chars)
                return fail(err, REASON_INVALID_FIELD, field);
        *text = v->valuestring;
        return 0;
}

/* Copies the member into out (size bytes); "" when absent. */
static int take_text(const cJSON *obj, const char *name, const char *field,
                     enum text_rule rule, long max_chars, char *out, size_t size,
                     struct event_error *err)
{
        const char *text;
        size_t len;
        int rc = text_member(obj, name, field, rule, max_chars, &text, &len, err);

        if (rc || !text)
                return rc;
        if (len >= size)
                return fail(err, REASON_INVALID_FIELD, field);
        memcpy(out, text, len + 1);
        return 0;
}

/* Copies a free-text member into the pool at its own length: 0 (*out NULL
 * when absent), the failure, or -ENOMEM. */
static int take_pooled(const cJSON *obj, const char *name, const char *field,
                       enum text_rule rule, long max_chars, struct textpool *texts,
                       const char **out, struct event_error *err)
{
        const char *text;
        size_t len;
        int rc = text_member(obj, name, field, rule, max_chars, &text, &len, err);

        if (rc || !text)
                return rc;
        *out = textpool_copy(texts, text, len);
        return *out ? 0 : -ENOMEM;
}

static int check_worker(const cJSON *w, struct event *ev, struct textpool *texts,
                        struct event_error *err)
{
        enum text_rule need = ev->type == EVENT_SUBMITTED ? REQUIRED : OPTIONAL;
        const cJSON *nik = cJSON_GetObjectItemCaseSensitive(w, "nik");
        const cJSON *dis = cJSON_GetObjectItemCaseSensitive(w, "disability");
        const cJSON *hoh = cJSON_GetObjectItemCaseSensitive(w, "head_of_household");
        char sex[2] = "";
        struct nik_info info;
        bool dated;
        int y, m, d;

        if (!nik || cJSON_IsNull(nik))
                return fail(err, REASON_MISSING_FIELD, "worker.nik");
        if (!cJSON_IsString(nik) ||
            nik_parse(nik->valuestring, strlen(nik->valuestring), &info) != NIK_OK)
                return fail(err, REASON_INVALID_NIK, "worker.nik");
        memcpy(ev->nik, nik->valuestring, NIK_LEN + 1);

        int rc = take_pooled(w, "name", "worker.name", need, EVENT_NAME_MAX, texts,
                             &ev->name, err);
        if (rc)
                return rc;
        if (take_text(w, "birth_date", "worker.birth_date", need, 10, ev->birth_date,
                      sizeof(ev->birth_date), err))
                return -1;
        dated = ev->birth_date[0] != '\0'; /* and then y, m, d are set */
        if (dated && !event_date_valid(ev->birth_date, &y, &m, &d))
                return fail(err, REASON_INVALID_FIELD, "worker.birth_date");
        if (take_text(w, "sex", "worker.sex", need, 1, sex, sizeof(sex), err))
                return -1;
        if (sex[0] && sex[0] != 'M' && sex[0] != 'F')
                return fail(err, REASON_INVALID_FIELD, "worker.sex");
        ev->sex = sex[0];
        if (take_text(w, "phone", "worker.phone", OPTIONAL, 32, ev->phone,
                      sizeof(ev->phone), err))
                return -1;
        rc = take_pooled(w, "occupation", "worker.occupation", OPTIONAL, EVENT_TEXT_MAX,
                         texts, &ev->occupation, err);
        if (rc)
                return rc;
        ev->disability = -1;
        if (dis && !cJSON_IsNull(dis)) {
                if (!cJSON_IsBool(dis))
                        return fail(err, REASON_INVALID_FIELD, "worker.disability");
                ev->disability = cJSON_IsTrue(dis);
        }
        ev->head_of_household = -1;
        if (hoh && !cJSON_IsNull(hoh)) {
                if (!cJSON_IsBool(hoh))
                        return fail(err, REASON_INVALID_FIELD,
                                    "worker.head_of_household");
                ev->head_of_household = cJSON_IsTrue(hoh);
        }

        if (dated && (info.day != d || info.month != m || info.year2 != y % 100))
                return fail(err, REASON_NIK_BIRTH_DATE_MISMATCH, "worker.nik");
        if (ev->sex && info.female != (ev->sex == 'F'))
                return fail(err, REASON_NIK_SEX_MISMATCH, "worker.nik");
        return 0;
}

/* \u0000 is valid JSON, but cJSON would cut the string there. An escaped
 * backslash followed by "u0000" is text, not a NUL: count the backslashes. */
static bool has_escaped_nul(const char *buf, size_t len)
{
        for (size_t i = 0; i + 6 <= len; i++) {
                if (buf[i] != '\\') {
                        continue;
                }
                if (buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0)
                        return true;
                i++; /* skip the escaped character, whatever it is */
        }
        return false;
}

int event_parse(const char *buf, size_t len, struct event *ev, struct textpool *texts,
                struct event_error *err)
{
        const cJSON *v, *w;
        cJSON *root = NULL;
        int rc = -1;

        *ev = (struct event){.disability = -1, .head_of_household = -1};
        memset(err, 0, sizeof(*err));

        if (len > EVENT_MAX_BYTES)
                return fail(err, REASON_TOO_LARGE, NULL);
        if (utf8_length(buf, len) < 0)
                return fail(err, REASON_INVALID_UTF8, NULL);
        if (memchr(buf, '\0', len) || has_escaped_nul(buf, len))
                return fail(err, REASON_MALFORMED_JSON, NULL);
        /* cJSON skips a byte order mark and stops after the first value;
         * JSON allows neither a mark nor anything but space after it */
        if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
                fail(err, REASON_MALFORMED_JSON, NULL);
                goto out;
        }
        if (has_raw_control_in_string(buf, len)) {
                fail(err, REASON_MALFORMED_JSON, NULL);
                goto out;
        }
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
        if (!root || !cJSON_IsObject(root)) {
                fail(err, REASON_MALFORMED_JSON, NULL);
                goto out;
        }
        for (; end && end < buf + len; end++) {
                if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
                        fail(err, REASON_MALFORMED_JSON, NULL);
                        goto out;
                }
        }
        if (has_duplicate_key(root)) {
                fail(err, REASON_DUPLICATE_KEY, NULL);
                goto out;
        }

        /* Keep a valid event_id even if a later rule fails, for the result. */
        v = cJSON_GetObjectItemCaseSensitive(root, "event_id");
        if (cJSON_IsString(v) && event_id_valid(v->valuestring, strlen(v->valuestring)))
                memcpy(ev->event_id, v->valuestring, strlen(v->valuestring) + 1);

        v = cJSON_GetObjectItemCaseSensitive(root, "schema");
        if (!cJSON_IsString(v) || strcmp(v->valuestring, "enrollment/v1") != 0) {
                fail(err, REASON_UNSUPPORTED_SCHEMA, "schema");
                goto out;
        }
        if (!ev->event_id[0]) {
                v = cJSON_GetObjectItemCaseSensitive(root, "event_id");
                fail(err, v ? REASON_INVALID_EVENT_ID : REASON_MISSING_FIELD, "event_id");
                goto out;
        }
        v = cJSON_GetObjectItemCaseSensitive(root, "type");
        if (!v) {
                fail(err, REASON_MISSING_FIELD, "type");
                goto out;
        }
        if (cJSON_IsString(v) && strcmp(v->valuestring, "enrollment.submitted") == 0)
                ev->type = EVENT_SUBMITTED;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "enrollment.withdrawn") == 0)
                ev->type = EVENT_WITHDRAWN;
        else {
                fail(err, REASON_INVALID_TYPE, "type");
                goto out;
        }
        if (take_text(root, "occurred_at", "occurred_at", REQUIRED, 39, ev->occurred_at,
                      sizeof(ev->occurred_at), err))
                goto out;
        if (!event_rfc3339_valid(ev->occurred_at)) {
                fail(err, REASON_INVALID_FIELD, "occurred_at");
                goto out;
        }
        if (take_text(root, "portal", "portal", OPTIONAL, EVENT_ID_MAX, ev->portal,
                      sizeof(ev->portal), err) ||
            take_text(root, "program", "program", REQUIRED, EVENT_PROGRAM_MAX,
                      ev->program, sizeof(ev->program), err))
                goto out;
        w = cJSON_GetObjectItemCaseSensitive(root, "worker");
        if (!w || cJSON_IsNull(w)) {
                fail(err, REASON_MISSING_FIELD, "worker");
                goto out;
        }
        if (!cJSON_IsObject(w)) {
                fail(err, REASON_INVALID_FIELD, "worker");
                goto out;
        }
        rc = check_worker(w, ev, texts, err);
        if (rc == 0)
                rc = take_pooled(root, "reason", "reason", OPTIONAL, EVENT_TEXT_MAX,
                                 texts, &ev->reason, err);
out:
        cJSON_Delete(root);
        return rc;
}
