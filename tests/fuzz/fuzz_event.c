/* Fuzz target: event_parse (common/event.c), the parser every Kafka message
 * goes through. Beyond "no crash, no leak, no undefined behaviour" it checks
 * what the consume stage relies on: a rejection carries a parser reason, a
 * parsed event is complete and valid, the fields that a result names are
 * valid or empty, and every string is valid UTF-8 (results are JSON). */
#include <string.h>

#include "event.h"
#include "fuzz.h"

static bool text_ok(const char *s, size_t size)
{
        size_t len = strnlen(s, size);
        return len < size && utf8_length(s, len) >= 0;
}

/* A free-text field: absent, or 1 to max_chars characters of UTF-8. */
static bool pooled_ok(const char *s, long max_chars)
{
        if (!s)
                return true;
        long chars = utf8_length(s, strlen(s));
        return chars >= 1 && chars <= max_chars;
}

static bool same_text(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* The fields one by one: the free-text ones are copies at other addresses. */
static bool same_event(const struct event *a, const struct event *b)
{
        return strcmp(a->event_id, b->event_id) == 0 && a->type == b->type &&
               strcmp(a->occurred_at, b->occurred_at) == 0 &&
               strcmp(a->portal, b->portal) == 0 && strcmp(a->program, b->program) == 0 &&
               strcmp(a->nik, b->nik) == 0 && same_text(a->name, b->name) &&
               strcmp(a->birth_date, b->birth_date) == 0 && a->sex == b->sex &&
               strcmp(a->phone, b->phone) == 0 &&
               same_text(a->occupation, b->occupation) &&
               a->disability == b->disability &&
               a->head_of_household == b->head_of_household &&
               same_text(a->reason, b->reason);
}

static void check_strings(const struct event *ev)
{
        FUZZ_CHECK(text_ok(ev->event_id, sizeof(ev->event_id)));
        FUZZ_CHECK(text_ok(ev->occurred_at, sizeof(ev->occurred_at)));
        FUZZ_CHECK(text_ok(ev->portal, sizeof(ev->portal)));
        FUZZ_CHECK(text_ok(ev->program, sizeof(ev->program)));
        FUZZ_CHECK(text_ok(ev->nik, sizeof(ev->nik)));
        FUZZ_CHECK(pooled_ok(ev->name, EVENT_NAME_MAX));
        FUZZ_CHECK(text_ok(ev->birth_date, sizeof(ev->birth_date)));
        FUZZ_CHECK(text_ok(ev->phone, sizeof(ev->phone)));
        FUZZ_CHECK(pooled_ok(ev->occupation, EVENT_TEXT_MAX));
        FUZZ_CHECK(pooled_ok(ev->reason, EVENT_TEXT_MAX));
        /* what a result or a log line may name */
        FUZZ_CHECK(!ev->event_id[0] ||
                   event_id_valid(ev->event_id, strlen(ev->event_id)));
        FUZZ_CHECK(!ev->nik[0] || strlen(ev->nik) == NIK_LEN);
        FUZZ_CHECK(!ev->program[0] || strlen(ev->program) <= EVENT_PROGRAM_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct event ev, again;
        static struct textpool texts;
        struct event_error err, err2;
        struct nik_info info;
        int y, m, d;

        textpool_clear(&texts);
        int rc = event_parse((const char *)data, size, &ev, &texts, &err);

        check_strings(&ev);
        if (rc != 0) {
                FUZZ_CHECK(rc == -1);
                FUZZ_CHECK(err.reason > REASON_NONE && err.reason < REASON__COUNT);
                /* decide's reasons are not the parser's */
                FUZZ_CHECK(err.reason != REASON_UNKNOWN_PROGRAM &&
                           err.reason != REASON_QUOTA_EXCEEDED);
                FUZZ_CHECK(strnlen(err.field, sizeof(err.field)) < sizeof(err.field));
                FUZZ_CHECK(reason_from_name(reason_name(err.reason)) == err.reason);
        } else {
                FUZZ_CHECK(err.reason == REASON_NONE);
                FUZZ_CHECK(size <= EVENT_MAX_BYTES);
                FUZZ_CHECK(ev.event_id[0]);
                FUZZ_CHECK(ev.type == EVENT_SUBMITTED || ev.type == EVENT_WITHDRAWN);
                FUZZ_CHECK(event_rfc3339_valid(ev.occurred_at));
                FUZZ_CHECK(ev.program[0]);
                FUZZ_CHECK(nik_parse(ev.nik, strlen(ev.nik), &info) == NIK_OK);
                FUZZ_CHECK(ev.disability >= -1 && ev.disability <= 1);
                if (ev.type == EVENT_SUBMITTED) {
                        FUZZ_CHECK(ev.name);
                        FUZZ_CHECK(event_date_valid(ev.birth_date, &y, &m, &d));
                        FUZZ_CHECK(ev.sex == 'M' || ev.sex == 'F');
                        FUZZ_CHECK(info.female == (ev.sex == 'F'));
                        FUZZ_CHECK(info.day == d && info.month == m &&
                                   info.year2 == y % 100);
                }
        }
        /* the same bytes, the same answer */
        FUZZ_CHECK(event_parse((const char *)data, size, &again, &texts, &err2) == rc);
        FUZZ_CHECK(err2.reason == err.reason && strcmp(err2.field, err.field) == 0);
        FUZZ_CHECK(same_event(&ev, &again));
        return 0;
}
