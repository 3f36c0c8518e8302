/* faults: the mock's fault switches, one table of knobs shared by the command
 * line, GET/POST /_mock/faults and --help, and a seeded PRNG that decides per
 * request which faults fire. Thread-safe. */
#ifndef BPJS_MOCK_FAULTS_H
#define BPJS_MOCK_FAULTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "jbuf.h"

struct faults_config {
        double fail_5xx;       /* percent answered 503 before processing */
        double fail_429;       /* percent answered 429 + Retry-After */
        double drop;           /* percent closed without an answer, not processed */
        double drop_after;     /* percent processed and remembered, then closed */
        double slow;           /* percent delayed by slow_ms, then answered */
        double fail_400;       /* percent answered 400 before processing */
        uint64_t retry_after;  /* seconds, up to 2^53-1: a hostile server */
        bool retry_after_date; /* send it as an IMF-fixdate instead */
        unsigned slow_ms;
        unsigned max_items; /* 413 above this many items (a stricter server) */
        /* Counts, not percentages (no PRNG draw): the next N requests. */
        unsigned fail_302;      /* 302 Found with an empty body */
        unsigned fail_400_echo; /* 400 whose message names the first item */
        /* Every Nth item of the batches the mock parses is marked: if its
         * result carries a kpj, the kpj is malformed (batch.c); 0: off. */
        unsigned bad_kpj_every;
        bool down;      /* every request 503 */
        bool auth_fail; /* every request 401 */
        uint64_t seed;
};

enum faults_action {
        FAULTS_NONE,
        FAULTS_DOWN,
        FAULTS_AUTH_FAIL,
        FAULTS_DROP,
        FAULTS_FAIL_5XX,
        FAULTS_FAIL_429,
        FAULTS_FAIL_400,
        FAULTS_FAIL_302,
        FAULTS_FAIL_400_ECHO,
};

/* What happens to one request. */
struct faults_roll {
        enum faults_action action;
        uint64_t retry_after; /* for FAULTS_FAIL_429 */
        bool retry_after_date;
        unsigned slow_ms; /* > 0: delay before answering normally */
        bool drop_after;  /* process, then close without answering */
};

struct faults;

/* Defaults: every fault off, retry_after 1, slow_ms 200, seed from the clock. */
void faults_config_default(struct faults_config *c);
/* Sets the knob called name (fail_5xx, ... ; '-' and '_' are the same) from
 * text. 0, -ENOENT for an unknown knob, -EINVAL for a bad value. */
int faults_config_set(struct faults_config *c, const char *name, const char *value);
/* Applies a JSON object of knobs; all or nothing. 0 or -EINVAL with a message
 * in err. */
int faults_config_apply_json(struct faults_config *c, const cJSON *obj, char *err,
                             size_t err_size);
void faults_config_json(const struct faults_config *c, struct jbuf *out);
/* One help line per knob: "  --fail-5xx PCT    ...". */
void faults_usage(FILE *f);
/* Each command-line knob name, '_' spelled '-', for getopt tables; NULL ends. */
const char *faults_knob_name(size_t i, bool *takes_value);

int faults_new(const struct faults_config *c, struct faults **ret);
void faults_free(struct faults *f);
void faults_get(struct faults *f, struct faults_config *out);
/* Replaces the configuration; reseeds the PRNG when the seed changes. */
void faults_set(struct faults *f, const struct faults_config *c);
void faults_decide(struct faults *f, struct faults_roll *out);
/* For each item of a parsed batch, in order: 0, or (every bad_kpj_every-th
 * item) 1, 2, 3, ... counting the items marked so far. */
unsigned faults_bad_kpj(struct faults *f);

#endif
