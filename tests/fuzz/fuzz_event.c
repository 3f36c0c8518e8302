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

static void check_strings(const struct event *ev)
{
        FUZZ_CHECK(text_ok(ev->event_id, sizeof(ev->event_id)));
        FUZZ_CHECK(text_ok(ev->occurred_at, sizeof(ev->occurred_at)));
        FUZZ_CHECK(text_ok(ev->portal, sizeof(ev->portal)));
        FUZZ_CHECK(text_ok(ev->program, sizeof(ev->program)));
        FUZZ_CHECK(text_ok(ev->nik, sizeof(ev->nik)));
        FUZZ_CHECK(text_ok(ev->name, sizeof(ev->name)));
        FUZZ_CHECK(text_ok(ev->birth_date, sizeof(ev->birth_date)));
        FUZZ_CHECK(text_ok(ev->phone, sizeof(ev->phone)));
        FUZZ_CHECK(text_ok(ev->occupation, sizeof(ev->occupation)));
        FUZZ_CHECK(text_ok(ev->reason, sizeof(ev->reason)));
        /* what a result or a log line may name */
        FUZZ_CHECK(!ev->event_id[0] ||
                   event_id_valid(ev->event_id, strlen(ev->event_id)));
        FUZZ_CHECK(!ev->nik[0] || strlen(ev->nik) == NIK_LEN);
        FUZZ_CHECK(!ev->program[0] || strlen(ev->program) <= EVENT_PROGRAM_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct event ev, again;
        struct event_error err, err2;
        struct nik_info info;
        int y, m, d;
        int rc = event_parse((const char *)data, size, &ev, &err);

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
                        FUZZ_CHECK(ev.name[0]);
                        FUZZ_CHECK(event_date_valid(ev.birth_date, &y, &m, &d));
                        FUZZ_CHECK(ev.sex == 'M' || ev.sex == 'F');
                        FUZZ_CHECK(info.female == (ev.sex == 'F'));
                        FUZZ_CHECK(info.day == d && info.month == m &&
                                   info.year2 == y % 100);
                }
        }
        /* the same bytes, the same answer */
        FUZZ_CHECK(event_parse((const char *)data, size, &again, &err2) == rc);
        FUZZ_CHECK(err2.reason == err.reason && strcmp(err2.field, err.field) == 0);
        FUZZ_CHECK(memcmp(&ev, &again, sizeof(ev)) == 0);
        return 0;
}
