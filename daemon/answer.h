/* answer: the endpoint's answer to a batch (docs/endpoint.md, "Answers"),
 * parsed into one entry a per-item result. The push stage reads it; it is a
 * module of its own so that the parser can be fuzzed on its own
 * (tests/fuzz/fuzz_answer.c). */
#ifndef BPJS_ANSWER_H
#define BPJS_ANSWER_H

#include <stddef.h>

/* One element of response.results. A member that is absent or not a JSON
 * string is NULL; the strings live in the parsed document (struct answers). */
struct answer {
        const char *rid;    /* registration_id */
        const char *status; /* REGISTERED, ALREADY_REGISTERED, REJECTED, ... */
        const char *kpj;    /* exactly 11 ASCII digits, or NULL */
        const char *reason;
        /* NULL, or why this entry breaks the contract (a static text that
         * quotes nothing of the answer): a kpj that is not a string of 11
         * digits, or a REGISTERED / ALREADY_REGISTERED without one. The
         * entry's kpj is then NULL; the other entries are unaffected. */
        const char *error;
};

struct answers {
        struct answer *items; /* n entries, in the order of the array */
        size_t n;
        void *doc; /* the parsed document the strings point into */
};

/* Parses the body of a 200 answer: len bytes, which end at the first NUL if
 * there is one (the body is read as a C string would be). Returns 0 with *out
 * filled (release it with answers_free), -EPROTO when the body has no
 * response.results array, or -ENOMEM; *out is untouched on failure. Each
 * element of the array gets an entry, whatever its shape: whether the answer
 * covers every item of the batch is for the caller to check. */
#define ANSWER_KPJ_LEN 11
int answer_parse(const char *body, size_t len, struct answers *out);

/* The first entry whose registration_id is rid, or NULL. */
const struct answer *answer_find(const struct answers *a, const char *rid);

/* Releases what answer_parse filled; accepts a zeroed struct. */
void answers_free(struct answers *a);

#endif
