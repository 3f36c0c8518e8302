/* batch: a request body of the BPJS contract, parsed and checked, with room for
 * one result per item, and the 200 response rendered from those results. No
 * I/O, no clock, no shared state. */
#ifndef BPJS_MOCK_BATCH_H
#define BPJS_MOCK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "jbuf.h"

#define BATCH_MAX_ITEMS 500
#define BATCH_MAX_BODY  (1024 * 1024)
#define BATCH_KEY_MAX   128

enum batch_kind {
        BATCH_REGISTRATIONS,
        BATCH_DEACTIVATIONS,
};

enum batch_status {
        BATCH_REGISTERED,
        BATCH_ALREADY_REGISTERED,
        BATCH_REJECTED,
        BATCH_DEACTIVATED,
        BATCH_NOT_FOUND,
};

enum batch_reason {
        BATCH_OK,
        BATCH_NOT_OBJECT,
        BATCH_BAD_REGISTRATION_ID,
        BATCH_BAD_NIK,
        BATCH_BAD_NAME,
        BATCH_BAD_BIRTH_DATE,
        BATCH_BAD_SEX,
        BATCH_BAD_PROGRAM,
        BATCH_BAD_PAYER,
        BATCH_BAD_BENEFITS,
        BATCH_BAD_PERIOD,
        BATCH_BAD_PREMIUM,
        BATCH_BAD_OCCUPATION,
        BATCH_BAD_PHONE,
        BATCH_BAD_KPJ,
        BATCH_BAD_DEACTIVATION_REASON,
};

struct batch_item {
        const char *registration_id; /* NULL when missing or invalid */
        const char *nik_text;        /* as sent, NULL when not a string */
        const char *program;         /* NULL when missing */
        uint64_t nik;                /* valid when reason is BATCH_OK */
        enum batch_reason reason;    /* not BATCH_OK: REJECTED */
        enum batch_status status;    /* filled in by the store */
        uint64_t kpj;                /* filled in by the store */
        unsigned bad_kpj;            /* > 0: answer a malformed kpj (a fault) */
};

struct batch {
        enum batch_kind kind;
        const char *key; /* the batch_id, equal to the Idempotency-Key */
        size_t n;
        struct batch_item *items;
        cJSON *root; /* owns every string above */
};

/* 0, or -ENOENT when path is not an endpoint of the contract. */
int batch_kind_from_path(const char *path, enum batch_kind *ret);
bool batch_key_valid(const char *key);
/* Parses body sent under key. 0; -EBADMSG (answer 400) or -E2BIG (413) with
 * the reason in why; or -ENOMEM. */
int batch_parse(enum batch_kind kind, const char *key, const char *body, size_t len,
                struct batch **ret, char *why, size_t why_size);
void batch_free(struct batch *b);
/* The 200 response with every item's result. */
void batch_render(const struct batch *b, struct jbuf *out);
/* The error envelope {"metaData":{"code":"409","message":...},"response":null}. */
void batch_render_error(int status, const char *message, struct jbuf *out);
const char *batch_status_name(enum batch_status s);
const char *batch_reason_text(enum batch_reason r);
/* 0, or -EINVAL unless s is exactly 16 digits (for a NIK) or 11 (for a kpj). */
int batch_parse_digits(const char *s, size_t digits, uint64_t *ret);

#endif
