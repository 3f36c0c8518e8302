/* faults: see faults.h. */
#include "faults.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum knob_type {
        KNOB_PERCENT,
        KNOB_UINT,
        KNOB_BOOL,
        KNOB_SEED,
        KNOB_U64,
};

struct knob {
        const char *name;
        enum knob_type type;
        size_t offset;
        uint64_t max; /* for KNOB_UINT, KNOB_U64 */
        const char *help;
};

#define KNOB(n, t, m, h)                                                                 \
        {                                                                                \
#n, t, offsetof(struct faults_config, n), m, h                           \
        }

static const struct knob knobs[] = {
    KNOB(fail_5xx, KNOB_PERCENT, 0, "percent of requests answered 503 before processing"),
    KNOB(fail_429, KNOB_PERCENT, 0, "percent answered 429 with Retry-After"),
    KNOB(retry_after, KNOB_U64, (1ULL << 53) - 1,
         "seconds in Retry-After of a 429 (default 1; any size, to be hostile)"),
    KNOB(retry_after_date, KNOB_BOOL, 0,
         "send that Retry-After as an HTTP-date (IMF-fixdate, at most year 9999)"),
    KNOB(drop, KNOB_PERCENT, 0, "percent closed without an answer, not processed"),
    KNOB(drop_after, KNOB_PERCENT, 0,
         "percent processed and remembered, then closed without an answer"),
    KNOB(slow, KNOB_PERCENT, 0, "percent delayed by slow_ms, then answered normally"),
    KNOB(slow_ms, KNOB_UINT, 600000, "delay of a slow answer in ms (default 200)"),
    KNOB(fail_400, KNOB_PERCENT, 0, "percent answered 400 before processing"),
    KNOB(max_items, KNOB_UINT, 500, "answer 413 to a batch of more items (default 500)"),
    KNOB(down, KNOB_BOOL, 0, "every request is answered 503"),
    KNOB(auth_fail, KNOB_BOOL, 0, "every request is answered 401"),
    KNOB(fail_302, KNOB_UINT, 1000000,
         "the next N requests are answered 302, empty body"),
    KNOB(fail_400_echo, KNOB_UINT, 1000000,
         "the next N requests are answered 400 naming the first item"),
    KNOB(bad_kpj_every, KNOB_UINT, 1000000,
         "every Nth item parsed gets a malformed kpj in its result (0: off)"),
    KNOB(seed, KNOB_SEED, 0, "PRNG seed for the percentages (default from the clock)"),
};

#define N_KNOBS (sizeof(knobs) / sizeof(knobs[0]))

struct faults {
        pthread_mutex_t lock;
        struct faults_config config;
        uint64_t state;
        uint64_t kpj_items, bad_kpjs; /* for bad_kpj_every */
};

void faults_config_default(struct faults_config *c)
{
        struct timespec ts;

        memset(c, 0, sizeof(*c));
        c->retry_after = 1;
        c->slow_ms = 200;
        c->max_items = 500;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->seed = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
                  ((uint64_t)getpid() << 32);
        /* Seeds travel through JSON numbers: keep them exact as doubles, and
         * short enough that the log's NIK guard leaves them readable. */
        c->seed &= (1ULL << 48) - 1;
}

/* Compares knob names treating '-' and '_' alike. */
static int same_name(const char *a, const char *b)
{
        for (; *a && *b; a++, b++) {
                char x = *a == '-' ? '_' : *a;
                char y = *b == '-' ? '_' : *b;

                if (x != y)
                        return 0;
        }
        return *a == *b;
}

static const struct knob *find_knob(const char *name)
{
        for (size_t i = 0; i < N_KNOBS; i++)
                if (same_name(knobs[i].name, name))
                        return &knobs[i];
        return NULL;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int store_value(struct faults_config *c, const struct knob *k, double num,
                       bool flag)
{
        char *field = (char *)c + k->offset;

        switch (k->type) {
        case KNOB_PERCENT:
                if (!(num >= 0 && num <= 100))
                        return -EINVAL;
                memcpy(field, &num, sizeof(num));
                return 0;
        case KNOB_UINT: {
                unsigned v = (unsigned)num;

                if (!(num >= 0 && num <= k->max) || v != num)
                        return -EINVAL;
                memcpy(field, &v, sizeof(v));
                return 0;
        }
        case KNOB_U64:
        case KNOB_SEED: {
                uint64_t v = (uint64_t)num;
                double max = k->type == KNOB_SEED ? 9007199254740991.0 : (double)k->max;

                if (!(num >= 0 && num <= max) || (double)v != num)
                        return -EINVAL;
                memcpy(field, &v, sizeof(v));
                return 0;
        }
        case KNOB_BOOL:
                memcpy(field, &flag, sizeof(flag));
                return 0;
        }
        return -EINVAL;
}

int faults_config_set(struct faults_config *c, const char *name, const char *value)
{
        const struct knob *k = find_knob(name);
        char *end;
        double num = 0;
        bool flag = false;
        uint64_t u;

        if (!k)
                return -ENOENT;
        switch (k->type) {
        case KNOB_BOOL:
                if (!value || !strcmp(value, "true") || !strcmp(value, "1"))
                        flag = true;
                else if (strcmp(value, "false") && strcmp(value, "0"))
                        return -EINVAL;
                break;
        case KNOB_SEED:
        case KNOB_U64:
        case KNOB_UINT:
                if (!value || parse_u64(value, (1ULL << 53) - 1, &u) < 0)
                        return -EINVAL;
                num = (double)u;
                break;
        case KNOB_PERCENT:
                if (!value || !*value)
                        return -EINVAL;
                errno = 0;
                num = strtod(value, &end);
                if (errno || *end || !isfinite(num))
                        return -EINVAL;
                break;
        }
        return store_value(c, k, num, flag);
}

int faults_config_apply_json(struct faults_config *c, const cJSON *obj, char *err,
                             size_t err_size)
{
        struct faults_config next = *c;
        const cJSON *item;

        if (!cJSON_IsObject(obj)) {
                snprintf(err, err_size, "faults must be a JSON object");
                return -EINVAL;
        }
        cJSON_ArrayForEach(item, obj)
        {
                const struct knob *k = find_knob(item->string);
                bool ok;

                if (!k) {
                        snprintf(err, err_size, "unknown fault \"%.64s\"", item->string);
                        return -EINVAL;
                }
                if (k->type == KNOB_BOOL)
                        ok = cJSON_IsBool(item) &&
                             store_value(&next, k, 0, cJSON_IsTrue(item)) == 0;
                else
                        ok = cJSON_IsNumber(item) &&
                             store_value(&next, k, item->valuedouble, false) == 0;
                if (!ok) {
                        snprintf(err, err_size, "%s: %s", k->name,
                                 k->type == KNOB_BOOL ? "must be true or false"
                                 : k->type == KNOB_PERCENT
                                     ? "must be a number from 0 to 100"
                                     : "must be a non-negative integer "
                                       "in range");
                        return -EINVAL;
                }
        }
        *c = next;
        return 0;
}

void faults_config_json(const struct faults_config *c, struct jbuf *out)
{
        jbuf_puts(out, "{");
        for (size_t i = 0; i < N_KNOBS; i++) {
                const struct knob *k = &knobs[i];
                const char *field = (const char *)c + k->offset;

                jbuf_printf(out, "%s\"%s\":", i ? "," : "", k->name);
                switch (k->type) {
                case KNOB_PERCENT: {
                        double v;

                        memcpy(&v, field, sizeof(v));
                        jbuf_printf(out, "%.17g", v);
                        break;
                }
                case KNOB_UINT: {
                        unsigned v;

                        memcpy(&v, field, sizeof(v));
                        jbuf_printf(out, "%u", v);
                        break;
                }
                case KNOB_U64:
                case KNOB_SEED: {
                        uint64_t v;

                        memcpy(&v, field, sizeof(v));
                        jbuf_u64(out, v);
                        break;
                }
                case KNOB_BOOL: {
                        bool v;

                        memcpy(&v, field, sizeof(v));
                        jbuf_puts(out, v ? "true" : "false");
                        break;
                }
                }
        }
        jbuf_puts(out, "}");
}

const char *faults_knob_name(size_t i, bool *takes_value)
{
        if (i >= N_KNOBS)
                return NULL;
        *takes_value = knobs[i].type != KNOB_BOOL;
        return knobs[i].name;
}

void faults_usage(FILE *f)
{
        static const char *const arg[] = {
            [KNOB_PERCENT] = "PCT", [KNOB_UINT] = "N", [KNOB_BOOL] = "",
            [KNOB_SEED] = "N",      [KNOB_U64] = "N",
        };

        for (size_t i = 0; i < N_KNOBS; i++) {
                char opt[40];
                size_t j;

                snprintf(opt, sizeof(opt), "--%s %s", knobs[i].name, arg[knobs[i].type]);
                for (j = 2; opt[j] && opt[j] != ' '; j++)
                        if (opt[j] == '_')
                                opt[j] = '-';
                fprintf(f, "  %-22s %s\n", opt, knobs[i].help);
        }
}

int faults_new(const struct faults_config *c, struct faults **ret)
{
        struct faults *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        pthread_mutex_init(&f->lock, NULL);
        f->config = *c;
        f->state = c->seed;
        *ret = f;
        return 0;
}

void faults_free(struct faults *f)
{
        if (!f)
                return;
        pthread_mutex_destroy(&f->lock);
        free(f);
}

void faults_get(struct faults *f, struct faults_config *out)
{
        pthread_mutex_lock(&f->lock);
        *out = f->config;
        pthread_mutex_unlock(&f->lock);
}

void faults_set(struct faults *f, const struct faults_config *c)
{
        pthread_mutex_lock(&f->lock);
        if (c->seed != f->config.seed)
                f->state = c->seed;
        f->config = *c;
        pthread_mutex_unlock(&f->lock);
}

/* splitmix64: small, fast and good enough for fault dice. */
static uint64_t next_random(uint64_t *state)
{
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* True with probability pct percent. */
static bool chance(uint64_t *state, double pct)
{
        double u = (double)(next_random(state) >> 11) * (1.0 / 9007199254740992.0);

        return u * 100.0 < pct;
}

void faults_decide(struct faults *f, struct faults_roll *out)
{
        bool drop, fail_5xx, fail_429, fail_400, slow, drop_after;
        struct faults_config c;

        pthread_mutex_lock(&f->lock);
        c = f->config;
        /* Always the same number of draws per request, so a seed replays. */
        drop = chance(&f->state, c.drop);
        fail_5xx = chance(&f->state, c.fail_5xx);
        fail_429 = chance(&f->state, c.fail_429);
        fail_400 = chance(&f->state, c.fail_400);
        slow = chance(&f->state, c.slow);
        drop_after = chance(&f->state, c.drop_after);
        memset(out, 0, sizeof(*out));
        /* the counted faults take their request and count down */
        if (!c.down && !c.auth_fail && f->config.fail_302) {
                f->config.fail_302--;
                out->action = FAULTS_FAIL_302;
        } else if (!c.down && !c.auth_fail && f->config.fail_400_echo) {
                f->config.fail_400_echo--;
                out->action = FAULTS_FAIL_400_ECHO;
        }
        pthread_mutex_unlock(&f->lock);

        if (out->action == FAULTS_NONE) {
                if (c.down)
                        out->action = FAULTS_DOWN;
                else if (c.auth_fail)
                        out->action = FAULTS_AUTH_FAIL;
                else if (drop)
                        out->action = FAULTS_DROP;
                else if (fail_5xx)
                        out->action = FAULTS_FAIL_5XX;
                else if (fail_429)
                        out->action = FAULTS_FAIL_429;
                else if (fail_400)
                        out->action = FAULTS_FAIL_400;
        }
        out->retry_after = c.retry_after;
        out->retry_after_date = c.retry_after_date;
        if (out->action == FAULTS_NONE) {
                out->slow_ms = slow ? c.slow_ms : 0;
                out->drop_after = drop_after;
        }
}

unsigned faults_bad_kpj(struct faults *f)
{
        unsigned r = 0;

        pthread_mutex_lock(&f->lock);
        if (f->config.bad_kpj_every && ++f->kpj_items % f->config.bad_kpj_every == 0)
                r = (unsigned)++f->bad_kpjs;
        pthread_mutex_unlock(&f->lock);
        return r;
}
