/* Fuzz target: answer_parse (daemon/answer.c), the parser of the endpoint's
 * answers. Checks that every element of response.results gets one entry,
 * that every string an entry points to is readable, and that answer_find
 * finds the first entry of each registration_id. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "answer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct answers a = {0};
        int rc = answer_parse((const char *)data, size, &a);

        FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
        if (rc != 0) {
                FUZZ_CHECK(a.items == NULL && a.n == 0 && a.doc == NULL);
                return 0;
        }
        FUZZ_CHECK(a.items && a.doc);
        const cJSON *results = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(a.doc, "response"), "results");
        FUZZ_CHECK(cJSON_IsArray(results));
        FUZZ_CHECK(a.n == (size_t)cJSON_GetArraySize(results));
        for (size_t i = 0; i < a.n; i++) {
                const struct answer *it = &a.items[i];
                size_t total = 0;
                if (it->rid) {
                        const struct answer *first = answer_find(&a, it->rid);
                        FUZZ_CHECK(first && first <= it &&
                                   strcmp(first->rid, it->rid) == 0);
                        total += strlen(it->rid);
                }
                total += it->status ? strlen(it->status) : 0;
                total += it->kpj ? strlen(it->kpj) : 0;
                /* a kpj is 11 digits or none; an entry in error has none */
                FUZZ_CHECK(!it->kpj || (strlen(it->kpj) == ANSWER_KPJ_LEN &&
                                        strspn(it->kpj, "0123456789") == ANSWER_KPJ_LEN));
                FUZZ_CHECK(!it->error || !it->kpj);
                total += it->reason ? strlen(it->reason) : 0;
                FUZZ_CHECK(total <= 4 * size + 16); /* strings come from the body */
        }
        answers_free(&a);
        FUZZ_CHECK(a.items == NULL && a.doc == NULL);
        answers_free(&a);
        return 0;
}
