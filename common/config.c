#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "event.h"
#include "log.h"
#include "secret.h"
#include "url.h"

enum ktype {
        K_STR,
        K_INT,
        K_BOOL,
        K_STRLIST,
        K_MAP,
        K_MONTH,
        K_PAYER,
        K_BENEFITS,
        K_LOGLEVEL,
        K_PROGRAMS,
        K_TRUE,   /* a criterion that only narrows: true, never false */
        K_SEX,    /* F or M, stored as the letter */
        K_RUPIAH, /* a whole number of Rupiah, 0 or more */
};

enum kflags {
        KF_REQUIRED = 1 << 0,
        KF_RELOADABLE = 1 << 1,
};

/* One row a key: the same table parses, checks, frees, dumps and documents. */
struct conf_key {
        const char *path;
        enum ktype type;
        size_t off;
        size_t count_off; /* K_STRLIST, K_MAP, K_PROGRAMS: where the count lives */
        const char *def;
        int64_t min, max;
        unsigned flags;
        const char *doc;
};

#define C(m)  offsetof(struct conf, m)
#define P(m)  offsetof(struct conf_program, m)
#define NOLIM 0, 0

static const struct conf_key conf_keys[] = {
    {"kafka.brokers", K_STR, C(kafka.brokers), 0, NULL, NOLIM, KF_REQUIRED,
     "Kafka bootstrap servers, host:port[,host:port...]"},
    {"kafka.group_id", K_STR, C(kafka.group_id), 0, "bpjs-sync", NOLIM, 0,
     "consumer group shared by every instance"},
    {"kafka.topics", K_STRLIST, C(kafka.topics), C(kafka.n_topics), "enrollment.events",
     1, 64, 0, "topics the portals publish enrollment events to"},
    {"kafka.results_topic", K_STR, C(kafka.results_topic), 0, "enrollment.results", NOLIM,
     0, "topic every event's results are published to"},
    {"kafka.dlq_topic", K_STR, C(kafka.dlq_topic), 0, "enrollment.events.dlq", NOLIM, 0,
     "dead-letter topic for rejected events (original bytes, reason headers)"},
    {"kafka.properties", K_MAP, C(kafka.properties), C(kafka.n_properties), NULL, NOLIM,
     0, "librdkafka properties, passed as they are"},
    {"bpjs.base_url", K_STR, C(bpjs.base_url), 0, NULL, NOLIM, KF_REQUIRED,
     "endpoint base URL: https, or http to localhost, 127.0.0.0/8 or [::1]; no "
     "user:password@, query or fragment"},
    {"bpjs.cons_id", K_STR, C(bpjs.cons_id), 0, NULL, NOLIM, KF_REQUIRED,
     "consumer id issued to the payer (digits)"},
    {"bpjs.secret_file", K_STR, C(bpjs.secret_file), 0, "", NOLIM, KF_RELOADABLE,
     "file holding the signing secret; $CREDENTIALS_DIRECTORY/bpjs-secret wins"},
    {"bpjs.batch_size", K_INT, C(bpjs.batch_size), 0, "100", 1, 500, KF_RELOADABLE,
     "registrations per request"},
    {"bpjs.batch_linger_ms", K_INT, C(bpjs.batch_linger_ms), 0, "200", 0, 60000,
     KF_RELOADABLE, "wait at most this long to fill a batch"},
    {"bpjs.max_in_flight", K_INT, C(bpjs.max_in_flight), 0, "4", 1, 64, KF_RELOADABLE,
     "concurrent requests"},
    {"bpjs.timeout_ms", K_INT, C(bpjs.timeout_ms), 0, "10000", 100, 600000, KF_RELOADABLE,
     "total time one request may take"},
    {"bpjs.connect_timeout_ms", K_INT, C(bpjs.connect_timeout_ms), 0, "3000", 100, 600000,
     KF_RELOADABLE, "time to establish a connection"},
    {"bpjs.proxy", K_STR, C(bpjs.proxy), 0, "", NOLIM, 0,
     "proxy to reach the endpoint through, scheme://host:port (http, https, socks4, "
     "socks4a, socks5, socks5h), no user or password; \"\": none. http_proxy, "
     "https_proxy and ALL_PROXY are never used"},
    {"bpjs.retry.initial_ms", K_INT, C(bpjs.retry.initial_ms), 0, "500", 1, 3600000,
     KF_RELOADABLE, "first backoff step"},
    {"bpjs.retry.max_ms", K_INT, C(bpjs.retry.max_ms), 0, "60000", 1, 3600000,
     KF_RELOADABLE, "backoff cap"},
    {"bpjs.retry.max_attempts", K_INT, C(bpjs.retry.max_attempts), 0, "0", 0, 1000000,
     KF_RELOADABLE, "attempts before a transient failure is final; 0: for ever"},
    {"bpjs.tls.ca_file", K_STR, C(bpjs.tls.ca_file), 0, "", NOLIM, KF_RELOADABLE,
     "CA bundle to verify the endpoint with (system bundle if empty)"},
    {"bpjs.tls.client_cert", K_STR, C(bpjs.tls.client_cert), 0, "", NOLIM, KF_RELOADABLE,
     "client certificate for mutual TLS"},
    {"bpjs.tls.client_key", K_STR, C(bpjs.tls.client_key), 0, "", NOLIM, KF_RELOADABLE,
     "client private key for mutual TLS"},
    {"journal.path", K_STR, C(journal.path), 0, "/var/lib/bpjs-sync/journal.db", NOLIM, 0,
     "SQLite journal file (one instance); not with journal.url"},
    {"journal.url", K_STR, C(journal.url), 0, "", NOLIM, 0,
     "PostgreSQL journal shared by several instances: a libpq URI, postgresql://"
     "user@host:port/dbname?sslmode=verify-full, never with a password"},
    {"journal.password_file", K_STR, C(journal.password_file), 0, "", NOLIM, 0,
     "file holding journal.url's password; $CREDENTIALS_DIRECTORY/journal-password "
     "wins"},
    {"journal.lease_ms", K_INT, C(journal.lease_ms), 0, "30000", 1000, 3600000, 0,
     "PostgreSQL: how long a stopped instance's batches in flight and its "
     "publishing wait before another instance takes them over"},
    {"journal.max_pending", K_INT, C(journal.max_pending), 0, "100000", 1, 100000000,
     KF_RELOADABLE, "unsent registrations before consuming pauses"},
    {"journal.retention_days", K_INT, C(journal.retention_days), 0, "30", 1, 3650,
     KF_RELOADABLE, "how long event ids are kept for redelivery checks"},
    {"log.level", K_LOGLEVEL, C(log.level), 0, "info", NOLIM, KF_RELOADABLE,
     "err, warning, notice, info or debug"},
    {"metrics.listen", K_STR, C(metrics.listen), 0, "127.0.0.1:9464", NOLIM, 0,
     "address of /metrics, /healthz and /readyz (loopback by default; \"\" turns "
     "them off)"},
    {"programs", K_PROGRAMS, C(programs), C(n_programs), NULL, 1, 1000,
     KF_REQUIRED | KF_RELOADABLE, "the programmes this daemon enrols workers in"},
};

static const struct conf_key program_keys[] = {
    {"id", K_STR, P(id), 0, NULL, NOLIM, KF_REQUIRED,
     "programme id, as events name it (1..64 of [A-Za-z0-9._:-])"},
    {"name", K_STR, P(name), 0, "", NOLIM, 0, "human name"},
    {"payer.level", K_PAYER, P(payer_level), 0, NULL, NOLIM, KF_REQUIRED,
     "city or province"},
    {"payer.region", K_STR, P(payer_region), 0, NULL, NOLIM, KF_REQUIRED,
     "region code: 2 digits for a province, 4 for a city or regency"},
    {"benefits", K_BENEFITS, P(benefits), 0, NULL, NOLIM, KF_REQUIRED, "JKK and/or JKM"},
    {"monthly_premium", K_INT, P(monthly_premium), 0, NULL, 0, 100000000, KF_REQUIRED,
     "rupiah a worker a month"},
    {"quota", K_INT, P(quota), 0, NULL, 0, 100000000, KF_REQUIRED,
     "most workers covered at once"},
    {"period.start", K_MONTH, P(start_month), 0, NULL, NOLIM, KF_REQUIRED,
     "first month covered, YYYY-MM"},
    {"period.end", K_MONTH, P(end_month), 0, NULL, NOLIM, KF_REQUIRED,
     "last month covered, YYYY-MM"},
    {"budget", K_RUPIAH, P(budget), 0, NULL, NOLIM, KF_RELOADABLE,
     "Rupiah set aside for the premiums of the whole period; a submission whose "
     "premium would take the committed premium over it is budget_exceeded. Absent: "
     "no budget"},
    /* the criteria, in the order a not_eligible detail names the first failed */
    {"eligibility.disability", K_TRUE, P(eligibility.disability), 0, NULL, NOLIM,
     KF_RELOADABLE, "true: only workers whose worker.disability is true"},
    {"eligibility.sex", K_SEX, P(eligibility.sex), 0, NULL, NOLIM, KF_RELOADABLE,
     "F or M: only workers of that worker.sex"},
    {"eligibility.head_of_household", K_TRUE, P(eligibility.head_of_household), 0, NULL,
     NOLIM, KF_RELOADABLE, "true: only workers whose worker.head_of_household is true"},
    {"eligibility.min_age", K_INT, P(eligibility.min_age), 0, NULL, 0, 150, KF_RELOADABLE,
     "only workers at least this many whole years old on the date of occurred_at"},
    {"eligibility.max_age", K_INT, P(eligibility.max_age), 0, NULL, 0, 150, KF_RELOADABLE,
     "only workers at most this many whole years old on the date of occurred_at"},
    {"eligibility.occupations", K_STRLIST, P(eligibility.occupations),
     P(eligibility.n_occupations), NULL, 1, 1000, KF_RELOADABLE,
     "only workers whose worker.occupation is one of these, compared exactly"},
};

#define N_CONF_KEYS    (sizeof(conf_keys) / sizeof(conf_keys[0]))
#define N_PROGRAM_KEYS (sizeof(program_keys) / sizeof(program_keys[0]))

struct loader {
        const char *path;
        yaml_document_t doc;
        char *err;
};

static int failf(struct loader *L, const yaml_node_t *at, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int failf(struct loader *L, const yaml_node_t *at, const char *key,
                 const char *fmt, ...)
{
        int n;
        va_list ap;

        if (at)
                n = snprintf(L->err, CONF_ERR_SIZE, "%s:%zu:%zu: %s: ", L->path,
                             at->start_mark.line + 1, at->start_mark.column + 1, key);
        else
                n = snprintf(L->err, CONF_ERR_SIZE, "%s: %s: ", L->path, key);
        if (n < 0 || n >= CONF_ERR_SIZE)
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(L->err + n, CONF_ERR_SIZE - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                                : NULL;
}

static int parse_int(const char *s, int64_t *out)
{
        char *end;
        long long v;

        if (!s || !*s || isspace((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *out = v;
        return 0;
}

static int parse_bool(const char *s, bool *out)
{
        static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {
                                                                    "false", "no", "off"};
        for (size_t i = 0; i < 3; i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return *out = true, 0;
                if (strcasecmp(s, no[i]) == 0)
                        return *out = false, 0;
        }
        return -EINVAL;
}

static int parse_month(const char *s, int64_t *out)
{
        if (strlen(s) != 7 || s[4] != '-')
                return -EINVAL;
        for (int i = 0; i < 7; i++)
                if (i != 4 && !isdigit((unsigned char)s[i]))
                        return -EINVAL;
        int y = atoi(s), m = atoi(s + 5);
        if (y < 2000 || y > 2200 || m < 1 || m > 12)
                return -EINVAL;
        *out = (int64_t)y * 12 + m - 1;
        return 0;
}

void conf_month_format(int64_t month, char out[8])
{
        snprintf(out, 8, "%04u-%02u", (unsigned)(month / 12) % 10000u,
                 (unsigned)(month % 12) % 12u + 1u);
}

const char *conf_payer_level_name(int level)
{
        return level == PAYER_PROVINCE ? "province" : level == PAYER_CITY ? "city" : "?";
}

static void *field(void *base, size_t off)
{
        return (char *)base + off;
}

/* Sets one key from the text s: shared by the file and the defaults. */
static int set_text(struct loader *L, const struct conf_key *k, void *base,
                    const yaml_node_t *at, const char *name, const char *s)
{
        int64_t v;
        bool b;

        switch (k->type) {
        case K_STR: {
                char **dst = field(base, k->off);
                free(*dst);
                *dst = strdup(s);
                return *dst ? 0 : -ENOMEM;
        }
        case K_INT:
                if (parse_int(s, &v))
                        return failf(L, at, name, "expected a whole number (got \"%s\")",
                                     s);
                if ((k->min || k->max) && (v < k->min || v > k->max))
                        return failf(L, at, name,
                                     "must be between %lld and %lld (got %lld)",
                                     (long long)k->min, (long long)k->max, (long long)v);
                *(int64_t *)field(base, k->off) = v;
                return 0;
        case K_BOOL:
                if (parse_bool(s, &b))
                        return failf(L, at, name, "expected true or false (got \"%s\")",
                                     s);
                *(bool *)field(base, k->off) = b;
                return 0;
        case K_TRUE:
                if (parse_bool(s, &b))
                        return failf(L, at, name, "expected true (got \"%s\")", s);
                if (!b)
                        return failf(L, at, name,
                                     "false is not a criterion: only true narrows (leave "
                                     "the key out to take every worker)");
                *(bool *)field(base, k->off) = b;
                return 0;
        case K_SEX:
                if (strcmp(s, "F") && strcmp(s, "M"))
                        return failf(L, at, name, "expected F or M (got \"%s\")", s);
                *(int *)field(base, k->off) = s[0] == 'F' ? 'F' : 'M';
                return 0;
        case K_RUPIAH: {
                const char *d = s + (*s == '-' || *s == '+');
                if (!*d || strspn(d, "0123456789") != strlen(d))
                        return failf(L, at, name,
                                     "expected a whole number of Rupiah, digits only "
                                     "(got \"%s\")",
                                     s);
                if (*s == '-' && strspn(d, "0") != strlen(d))
                        return failf(L, at, name, "must not be negative (got %s)", s);
                if (parse_int(s, &v))
                        return failf(L, at, name, "is too large: at most %lld (got %s)",
                                     (long long)INT64_MAX, s);
                *(int64_t *)field(base, k->off) = v;
                return 0;
        }
        case K_MONTH:
                if (parse_month(s, &v))
                        return failf(L, at, name, "expected a month YYYY-MM (got \"%s\")",
                                     s);
                *(int64_t *)field(base, k->off) = v;
                return 0;
        case K_PAYER:
                if (strcmp(s, "city") == 0)
                        *(int *)field(base, k->off) = PAYER_CITY;
                else if (strcmp(s, "province") == 0)
                        *(int *)field(base, k->off) = PAYER_PROVINCE;
                else
                        return failf(L, at, name,
                                     "expected city or province (got \"%s\")", s);
                return 0;
        case K_LOGLEVEL: {
                enum log_level lvl;
                if (log_level_parse(s, &lvl))
                        return failf(L, at, name,
                                     "expected err, warning, notice, info or debug "
                                     "(got \"%s\")",
                                     s);
                *(int64_t *)field(base, k->off) = lvl;
                return 0;
        }
        case K_STRLIST: {
                char ***list = field(base, k->off);
                size_t *n = field(base, k->count_off);
                *list = calloc(1, sizeof(char *));
                if (!*list || !((*list)[0] = strdup(s)))
                        return -ENOMEM;
                *n = 1;
                return 0;
        }
        default:
                return failf(L, at, name, "has no default");
        }
}

static const char *type_word(enum ktype t)
{
        switch (t) {
        case K_STRLIST:
        case K_BENEFITS:
        case K_PROGRAMS:
                return "a list";
        case K_MAP:
                return "a mapping";
        default:
                return "a single value";
        }
}

static int set_list(struct loader *L, const struct conf_key *k, void *base,
                    const yaml_node_t *n, const char *name);
static int walk(struct loader *L, const struct conf_key *table, size_t nkeys, void *base,
                const yaml_node_t *map, const char *prefix, const char *rel,
                struct conf_mark *marks);

static int set_node(struct loader *L, const struct conf_key *k, void *base,
                    const yaml_node_t *n, const char *name)
{
        if (k->type == K_STRLIST || k->type == K_BENEFITS || k->type == K_PROGRAMS ||
            k->type == K_MAP) {
                if ((k->type == K_MAP) != (n->type == YAML_MAPPING_NODE) ||
                    (k->type != K_MAP && n->type != YAML_SEQUENCE_NODE))
                        return failf(L, n, name, "expected %s", type_word(k->type));
                return set_list(L, k, base, n, name);
        }
        if (n->type != YAML_SCALAR_NODE)
                return failf(L, n, name, "expected %s, not %s", type_word(k->type),
                             n->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        return set_text(L, k, base, n, name, scalar(n));
}

static int check_program(struct loader *L, struct conf *c, size_t i, const char *name,
                         const struct conf_mark *marks, const yaml_node_t *item);

static int set_list(struct loader *L, const struct conf_key *k, void *base,
                    const yaml_node_t *n, const char *name)
{
        size_t count;
        char sub[128];

        if (k->type == K_MAP) {
                yaml_node_pair_t *p = n->data.mapping.pairs.start;
                struct conf_kv **kv = field(base, k->off);
                size_t *nkv = field(base, k->count_off);
                count = (size_t)(n->data.mapping.pairs.top - p);
                *kv = calloc(count ? count : 1, sizeof(**kv));
                if (!*kv)
                        return -ENOMEM;
                for (size_t i = 0; i < count; i++, p++) {
                        yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
                        yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
                        snprintf(sub, sizeof(sub), "%s.%s", name,
                                 scalar(kn) ? scalar(kn) : "?");
                        if (!scalar(kn) || !scalar(vn))
                                return failf(L, vn, sub, "expected a single value");
                        for (size_t j = 0; j < i; j++)
                                if (strcmp((*kv)[j].key, scalar(kn)) == 0)
                                        return failf(L, kn, sub, "duplicate key");
                        (*kv)[i].key = strdup(scalar(kn));
                        (*kv)[i].value = strdup(scalar(vn));
                        (*kv)[i].mark.line = (int)vn->start_mark.line + 1;
                        (*kv)[i].mark.column = (int)vn->start_mark.column + 1;
                        *nkv = i + 1;
                        if (!(*kv)[i].key || !(*kv)[i].value)
                                return -ENOMEM;
                }
                return 0;
        }

        yaml_node_item_t *it = n->data.sequence.items.start;
        count = (size_t)(n->data.sequence.items.top - it);
        if ((k->min || k->max) && (count < (size_t)k->min || count > (size_t)k->max))
                return failf(L, n, name,
                             "must have between %lld and %lld entries (got %zu)",
                             (long long)k->min, (long long)k->max, count);

        if (k->type == K_BENEFITS) {
                int64_t bits = 0;
                if (count == 0)
                        return failf(L, n, name, "must name at least one benefit");
                for (size_t i = 0; i < count; i++) {
                        yaml_node_t *e = yaml_document_get_node(&L->doc, it[i]);
                        const char *s = scalar(e);
                        int64_t b = !s                      ? 0
                                    : strcmp(s, "JKK") == 0 ? BENEFIT_JKK
                                    : strcmp(s, "JKM") == 0 ? BENEFIT_JKM
                                                            : 0;
                        if (!b)
                                return failf(L, e, name,
                                             "expected JKK or JKM (got \"%s\")",
                                             s ? s : "a non-scalar");
                        if (bits & b)
                                return failf(L, e, name, "%s is listed twice", s);
                        bits |= b;
                }
                *(int64_t *)field(base, k->off) = bits;
                return 0;
        }

        if (k->type == K_STRLIST) {
                char ***list = field(base, k->off);
                size_t *nl = field(base, k->count_off);
                *list = calloc(count ? count : 1, sizeof(char *));
                if (!*list)
                        return -ENOMEM;
                for (size_t i = 0; i < count; i++) {
                        yaml_node_t *e = yaml_document_get_node(&L->doc, it[i]);
                        if (!scalar(e) || !*scalar(e))
                                return failf(L, e, name, "expected a non-empty string");
                        if (!((*list)[i] = strdup(scalar(e))))
                                return -ENOMEM;
                        *nl = i + 1;
                }
                return 0;
        }

        /* K_PROGRAMS */
        struct conf *c = base;
        c->programs = calloc(count, sizeof(*c->programs));
        if (!c->programs)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                struct conf_mark marks[N_PROGRAM_KEYS] = {{0, 0}};
                yaml_node_t *e = yaml_document_get_node(&L->doc, it[i]);
                struct conf_program *p = &c->programs[i];
                int r;

                c->n_programs = i + 1;
                snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
                if (e->type != YAML_MAPPING_NODE)
                        return failf(L, e, sub, "expected a mapping");
                p->mark.line = (int)e->start_mark.line + 1;
                p->mark.column = (int)e->start_mark.column + 1;
                r = walk(L, program_keys, N_PROGRAM_KEYS, p, e, sub, "", marks);
                if (r == 0)
                        r = check_program(L, c, i, sub, marks, e);
                if (r)
                        return r;
        }
        return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

        if (la >= 63 || lb >= 63)
                return 99;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        cur[j] =
                            sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                }
                memcpy(prev, cur, (lb + 1) * sizeof(size_t));
        }
        return prev[lb];
}

/* The key names one level below rel, for "did you mean". */
static const char *suggest(const struct conf_key *table, size_t nkeys, const char *rel,
                           const char *bad, char *buf, size_t size)
{
        size_t rl = strlen(rel), best = 3;
        const char *found = NULL;

        for (size_t i = 0; i < nkeys; i++) {
                const char *p = table[i].path;
                if (rl && (strncmp(p, rel, rl) != 0 || p[rl] != '.'))
                        continue;
                p += rl ? rl + 1 : 0;
                size_t len = strcspn(p, ".");
                if (len >= size)
                        continue;
                memcpy(buf, p, len);
                buf[len] = '\0';
                size_t d = edit_distance(buf, bad);
                if (d < best) {
                        best = d;
                        found = table[i].path + (p - table[i].path);
                }
        }
        if (!found)
                return NULL;
        size_t len = strcspn(found, ".");
        memcpy(buf, found, len);
        buf[len] = '\0';
        return buf;
}

/* An eligibility key the table does not know: named, with the known ones. */
static int unknown_criterion(struct loader *L, const yaml_node_t *at, const char *name,
                             const char *k)
{
        static const char sect[] = "eligibility.";
        char known[256] = "";
        size_t n = 0;

        for (size_t i = 0; i < N_PROGRAM_KEYS; i++) {
                const char *p = program_keys[i].path;
                if (strncmp(p, sect, sizeof(sect) - 1) == 0 && n < sizeof(known))
                        n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
                                              n ? ", " : "", p + sizeof(sect) - 1);
        }
        return failf(L, at, name, "unknown criterion '%s' (the criteria are %s)", k,
                     known);
}

static int walk(struct loader *L, const struct conf_key *table, size_t nkeys, void *base,
                const yaml_node_t *map, const char *prefix, const char *rel,
                struct conf_mark *marks)
{
        yaml_node_pair_t *p;
        char relpath[128], name[192], hint[64];

        for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(&L->doc, p->key);
                yaml_node_t *vn = yaml_document_get_node(&L->doc, p->value);
                const char *k = scalar(kn);
                const struct conf_key *key = NULL;
                bool section = false;
                int r;

                if (!k)
                        return failf(L, kn, *rel ? rel : "(top)",
                                     "keys must be plain words");
                snprintf(relpath, sizeof(relpath), "%s%s%s", rel, *rel ? "." : "", k);
                snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
                         relpath);
                for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
                        if (strcmp(scalar(yaml_document_get_node(&L->doc, q->key)), k) ==
                            0)
                                return failf(L, kn, name, "duplicate key");
                for (size_t i = 0; i < nkeys; i++) {
                        size_t rl = strlen(relpath);
                        if (strcmp(table[i].path, relpath) == 0) {
                                key = &table[i];
                                marks[i].line = (int)vn->start_mark.line + 1;
                                marks[i].column = (int)vn->start_mark.column + 1;
                        } else if (strncmp(table[i].path, relpath, rl) == 0 &&
                                   table[i].path[rl] == '.') {
                                section = true;
                        }
                }
                if (key)
                        r = set_node(L, key, base, vn, name);
                else if (section && vn->type == YAML_MAPPING_NODE)
                        r = walk(L, table, nkeys, base, vn, prefix, relpath, marks);
                else if (section)
                        r = failf(L, vn, name, "expected a mapping");
                else if (strstr(k, "secret") && strcmp(k, "secret_file") != 0)
                        r = failf(L, kn, name,
                                  "secrets are never read from the configuration file; "
                                  "use bpjs.secret_file or the bpjs-secret credential");
                else if (table == program_keys && strcmp(rel, "eligibility") == 0)
                        r = unknown_criterion(L, kn, name, k);
                else if (suggest(table, nkeys, rel, k, hint, sizeof(hint)))
                        r = failf(L, kn, name, "unknown key (did you mean '%s'?)", hint);
                else
                        r = failf(L, kn, name, "unknown key");
                if (r)
                        return r;
        }
        return 0;
}

/* Defaults for what the file did not set; a missing required key is an error
 * reported at the mapping that should have held it. */
static int fill_defaults(struct loader *L, const struct conf_key *table, size_t nkeys,
                         void *base, const struct conf_mark *marks,
                         const yaml_node_t *map, const char *prefix)
{
        char name[192];

        for (size_t i = 0; i < nkeys; i++) {
                if (marks[i].line)
                        continue;
                snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "",
                         table[i].path);
                if (table[i].flags & KF_REQUIRED)
                        return failf(L, map, name, "required key is missing");
                if (table[i].def) {
                        int r = set_text(L, &table[i], base, map, name, table[i].def);
                        if (r)
                                return r;
                }
        }
        return 0;
}

static int failm(struct loader *L, const struct conf_mark *m, const char *key,
                 const char *msg, const char *arg)
{
        snprintf(L->err, CONF_ERR_SIZE, "%s:%d:%d: %s: %s%s", L->path, m->line, m->column,
                 key, msg, arg ? arg : "");
        return -EINVAL;
}

static int mark_index(const struct conf_key *table, size_t nkeys, const char *path)
{
        for (size_t i = 0; i < nkeys; i++)
                if (strcmp(table[i].path, path) == 0)
                        return (int)i;
        return 0;
}

static int check_program(struct loader *L, struct conf *c, size_t i, const char *name,
                         const struct conf_mark *marks, const yaml_node_t *item)
{
        struct conf_program *p = &c->programs[i];
        char key[160];
        int r;

        r = fill_defaults(L, program_keys, N_PROGRAM_KEYS, p, marks, item, name);
        if (r)
                return r;
        snprintf(key, sizeof(key), "%s.id", name);
        if (!event_id_valid(p->id, strlen(p->id)) || strlen(p->id) > EVENT_PROGRAM_MAX)
                return failm(L, &marks[mark_index(program_keys, N_PROGRAM_KEYS, "id")],
                             key, "must be 1..64 characters of [A-Za-z0-9._:-]", NULL);
        for (size_t j = 0; j < i; j++)
                if (strcmp(c->programs[j].id, p->id) == 0)
                        return failm(
                            L, &marks[mark_index(program_keys, N_PROGRAM_KEYS, "id")],
                            key, "duplicate programme id ", p->id);

        snprintf(key, sizeof(key), "%s.payer.region", name);
        size_t want = p->payer_level == PAYER_PROVINCE ? 2 : 4,
               len = strlen(p->payer_region);
        bool ok = len == want;
        for (size_t k = 0; ok && k < len; k++)
                ok = isdigit((unsigned char)p->payer_region[k]);
        if (ok)
                ok = nik_province_valid((p->payer_region[0] - '0') * 10 +
                                        (p->payer_region[1] - '0'));
        if (!ok)
                return failm(
                    L, &marks[mark_index(program_keys, N_PROGRAM_KEYS, "payer.region")],
                    key,
                    p->payer_level == PAYER_PROVINCE
                        ? "a province is 2 digits, one of the province codes"
                        : "a city or regency is 4 digits starting with a "
                          "province code",
                    NULL);

        snprintf(key, sizeof(key), "%s.period.end", name);
        if (p->end_month < p->start_month)
                return failm(
                    L, &marks[mark_index(program_keys, N_PROGRAM_KEYS, "period.end")],
                    key, "ends before period.start", NULL);

        /* what the file left out: no budget, no age bound */
        if (!marks[mark_index(program_keys, N_PROGRAM_KEYS, "budget")].line)
                p->budget = -1;
        struct conf_eligibility *e = &p->eligibility;
        e->has_min_age =
            marks[mark_index(program_keys, N_PROGRAM_KEYS, "eligibility.min_age")].line;
        e->has_max_age =
            marks[mark_index(program_keys, N_PROGRAM_KEYS, "eligibility.max_age")].line;
        if (e->has_min_age && e->has_max_age && e->min_age > e->max_age) {
                char why[96];
                snprintf(key, sizeof(key), "%s.eligibility.min_age", name);
                snprintf(why, sizeof(why), "%lld is above eligibility.max_age %lld",
                         (long long)e->min_age, (long long)e->max_age);
                return failm(L,
                             &marks[mark_index(program_keys, N_PROGRAM_KEYS,
                                               "eligibility.min_age")],
                             key, why, NULL);
        }
        return 0;
}

static int check_url(struct loader *L, const struct conf_mark *m, const char *key,
                     const char *url, bool proxy)
{
        const char *detail, *problem = url_problem(url, proxy, &detail);

        return problem ? failm(L, m, key, problem, detail) : 0;
}

static int read_secret(struct loader *L, struct conf *c, const struct conf_mark *m)
{
        const char *cred = getenv("CREDENTIALS_DIRECTORY");
        char path[4096], why[CONF_ERR_SIZE];
        int r;

        if (cred && *cred)
                snprintf(path, sizeof(path), "%s/bpjs-secret", cred);
        else if (*c->bpjs.secret_file)
                snprintf(path, sizeof(path), "%s", c->bpjs.secret_file);
        else
                return failm(L, m, "bpjs.secret_file",
                             "required (or the systemd credential bpjs-secret)", NULL);
        r = secret_read(path, &c->bpjs.secret, &c->bpjs.secret_len, why, sizeof(why));
        if (r) {
                failm(L, m, "bpjs.secret_file", why, NULL);
                return r;
        }
        c->bpjs.secret_source = strdup(path);
        return c->bpjs.secret_source ? 0 : -ENOMEM;
}

/* Whether a libpq URI carries a password: user:password@ before the host,
 * or a password= parameter. */
static bool url_has_password(const char *url)
{
        const char *rest = strstr(url, "://"), *end, *at, *q;

        if (!rest)
                return false;
        rest += 3;
        end = rest + strcspn(rest, "/?");
        at = NULL;
        for (const char *p = rest; p < end; p++)
                if (*p == '@')
                        at = p;
        if (at && memchr(rest, ':', (size_t)(at - rest)))
                return true;
        q = strchr(url, '?');
        while (q) {
                q++;
                if (strncmp(q, "password=", 9) == 0)
                        return true;
                q = strchr(q, '&');
        }
        return false;
}

/* journal.path or journal.url, never both; a URL without its password. */
static int check_journal(struct loader *L, struct conf *c, const struct conf_mark *marks)
{
        const struct conf_mark *path =
            &marks[mark_index(conf_keys, N_CONF_KEYS, "journal.path")];
        const struct conf_mark *url =
            &marks[mark_index(conf_keys, N_CONF_KEYS, "journal.url")];
        const struct conf_mark *pw =
            &marks[mark_index(conf_keys, N_CONF_KEYS, "journal.password_file")];

        if (!*c->journal.url) {
                if (*c->journal.password_file)
                        return failm(L, pw, "journal.password_file",
                                     "is for journal.url, which is not set", NULL);
                if (!*c->journal.path)
                        return failm(L, path, "journal.path", "must not be empty", NULL);
                return 0;
        }
        if (path->line)
                return failm(L, path, "journal.path",
                             "set only one of journal.path and journal.url", NULL);
        if (strncmp(c->journal.url, "postgresql://", 13) != 0 &&
            strncmp(c->journal.url, "postgres://", 11) != 0)
                return failm(L, url, "journal.url",
                             "must start with postgresql:// or postgres://", NULL);
        if (url_has_password(c->journal.url))
                return failm(L, url, "journal.url",
                             "must not carry a password; put it in "
                             "journal.password_file or the journal-password credential",
                             NULL);
        return 0;
}

/* journal.url's password: $CREDENTIALS_DIRECTORY/journal-password, else
 * journal.password_file, else none (libpq's own sources, or an
 * authentication without one). Checked as the signing secret's file is. */
static int read_journal_password(struct loader *L, struct conf *c,
                                 const struct conf_mark *m)
{
        const char *cred = getenv("CREDENTIALS_DIRECTORY");
        char path[4096], why[CONF_ERR_SIZE];
        int r;

        path[0] = '\0';
        if (cred && *cred) {
                snprintf(path, sizeof(path), "%s/journal-password", cred);
                if (access(path, F_OK) != 0)
                        path[0] = '\0';
        }
        if (!path[0] && *c->journal.password_file)
                snprintf(path, sizeof(path), "%s", c->journal.password_file);
        if (!path[0])
                return 0;
        unsigned char *raw = NULL;
        size_t len = 0;
        r = secret_read(path, &raw, &len, why, sizeof(why));
        if (r) {
                failm(L, m, "journal.password_file", why, NULL);
                return r;
        }
        c->journal.password = malloc(len + 1); /* libpq takes a C string */
        if (c->journal.password) {
                memcpy(c->journal.password, raw, len);
                c->journal.password[len] = '\0';
                c->journal.password_len = len;
        }
        explicit_bzero(raw, len);
        free(raw);
        if (!c->journal.password)
                return -ENOMEM;
        c->journal.password_source = strdup(path);
        return c->journal.password_source ? 0 : -ENOMEM;
}

static int check_conf(struct loader *L, struct conf *c, const struct conf_mark *marks,
                      unsigned flags)
{
        const struct conf_mark *m;
        int r;

        /* required keys: fill_defaults failed if the file left one out */
        assert(c->bpjs.cons_id && c->bpjs.base_url);
        m = &marks[mark_index(conf_keys, N_CONF_KEYS, "bpjs.cons_id")];
        if (!*c->bpjs.cons_id ||
            strspn(c->bpjs.cons_id, "0123456789") != strlen(c->bpjs.cons_id) ||
            strlen(c->bpjs.cons_id) > 32)
                return failm(L, m, "bpjs.cons_id", "must be 1..32 digits", NULL);

        m = &marks[mark_index(conf_keys, N_CONF_KEYS, "bpjs.base_url")];
        r = check_url(L, m, "bpjs.base_url", c->bpjs.base_url, false);
        if (r)
                return r;
        m = &marks[mark_index(conf_keys, N_CONF_KEYS, "bpjs.proxy")];
        if (*c->bpjs.proxy && (r = check_url(L, m, "bpjs.proxy", c->bpjs.proxy, true)))
                return r;

        m = &marks[mark_index(conf_keys, N_CONF_KEYS, "bpjs.retry.max_ms")];
        if (c->bpjs.retry.max_ms < c->bpjs.retry.initial_ms)
                return failm(L, m, "bpjs.retry.max_ms",
                             "is less than bpjs.retry.initial_ms", NULL);

        if (!*c->bpjs.tls.client_cert != !*c->bpjs.tls.client_key) {
                m = &marks[mark_index(conf_keys, N_CONF_KEYS,
                                      *c->bpjs.tls.client_cert ? "bpjs.tls.client_cert"
                                                               : "bpjs.tls.client_key")];
                return failm(L, m, "bpjs.tls", "client_cert and client_key go together",
                             NULL);
        }
        static const char *const files[] = {"bpjs.tls.ca_file", "bpjs.tls.client_cert",
                                            "bpjs.tls.client_key"};
        for (size_t i = 0; i < 3; i++) {
                int k = mark_index(conf_keys, N_CONF_KEYS, files[i]);
                const char *f = *(char **)field(c, conf_keys[k].off);
                if (*f && access(f, R_OK) != 0)
                        return failm(L, &marks[k], files[i], "cannot read ", f);
        }
        r = check_journal(L, c, marks);
        if (r)
                return r;
        /* the operator CLI needs the journal's password, not the signing secret */
        m = &marks[mark_index(conf_keys, N_CONF_KEYS, "journal.password_file")];
        if (*c->journal.url && (r = read_journal_password(L, c, m)))
                return r;
        if (flags & CONF_NO_SECRET)
                return 0;
        return read_secret(
            L, c, &marks[mark_index(conf_keys, N_CONF_KEYS, "bpjs.secret_file")]);
}

static void syntax_error(const yaml_parser_t *parser, const char *path, char *err)
{
        int n = snprintf(err, CONF_ERR_SIZE, "%s:%zu:%zu: syntax error: %s", path,
                         parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                         parser->problem ? parser->problem : "cannot parse");
        if (parser->context && n > 0 && n < CONF_ERR_SIZE)
                snprintf(err + n, CONF_ERR_SIZE - (size_t)n, " (%s at %zu:%zu)",
                         parser->context, parser->context_mark.line + 1,
                         parser->context_mark.column + 1);
}

int conf_load(const char *path, unsigned flags, struct conf **out, char *err)
{
        struct loader L = {.path = path, .err = err};
        struct conf_mark marks[N_CONF_KEYS] = {{0, 0}};
        yaml_parser_t parser;
        yaml_node_t *root;
        struct conf *c = NULL;
        bool parser_ready = false, doc_ready = false;
        FILE *f;
        int r;

        err[0] = '\0';
        f = fopen(path, "re");
        if (!f) {
                r = -errno;
                snprintf(err, CONF_ERR_SIZE, "%s: cannot open: %s", path, strerror(-r));
                return r;
        }
        c = calloc(1, sizeof(*c));
        if (!c || !(c->path = strdup(path)) || !yaml_parser_initialize(&parser)) {
                r = -ENOMEM;
                goto out;
        }
        parser_ready = true;
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &L.doc)) {
                syntax_error(&parser, path, err);
                r = -EINVAL;
                goto out;
        }
        doc_ready = true;
        root = yaml_document_get_root_node(&L.doc);
        if (!root || root->type != YAML_MAPPING_NODE) {
                snprintf(err, CONF_ERR_SIZE,
                         "%s:1:1: (top): expected a mapping of sections", path);
                r = -EINVAL;
                goto out;
        }
        /* one document only: a second one would be silently ignored */
        yaml_document_t extra;
        if (yaml_parser_load(&parser, &extra)) {
                yaml_node_t *x = yaml_document_get_root_node(&extra);
                if (x) {
                        snprintf(
                            err, CONF_ERR_SIZE,
                            "%s:%zu:%zu: (top): a second YAML document; the file must "
                            "hold one",
                            path, x->start_mark.line + 1, x->start_mark.column + 1);
                        yaml_document_delete(&extra);
                        r = -EINVAL;
                        goto out;
                }
                yaml_document_delete(&extra);
        } else {
                syntax_error(&parser, path, err);
                r = -EINVAL;
                goto out;
        }
        r = walk(&L, conf_keys, N_CONF_KEYS, c, root, "", "", marks);
        if (r == 0)
                r = fill_defaults(&L, conf_keys, N_CONF_KEYS, c, marks, root, "");
        if (r == 0)
                r = check_conf(&L, c, marks, flags);
        if (r == 0) {
                *out = c;
                c = NULL;
        } else if (!err[0]) {
                snprintf(err, CONF_ERR_SIZE, "%s: %s", path, strerror(-r));
        }
out:
        if (doc_ready)
                yaml_document_delete(&L.doc);
        if (parser_ready)
                yaml_parser_delete(&parser);
        fclose(f);
        conf_free(c);
        return r;
}

static void free_table(const struct conf_key *table, size_t nkeys, void *base)
{
        for (size_t i = 0; i < nkeys; i++) {
                const struct conf_key *k = &table[i];
                if (k->type == K_STR) {
                        free(*(char **)field(base, k->off));
                } else if (k->type == K_STRLIST) {
                        char **list = *(char ***)field(base, k->off);
                        size_t n = *(size_t *)field(base, k->count_off);
                        for (size_t j = 0; list && j < n; j++)
                                free(list[j]);
                        free(list);
                } else if (k->type == K_MAP) {
                        struct conf_kv *kv = *(struct conf_kv **)field(base, k->off);
                        size_t n = *(size_t *)field(base, k->count_off);
                        for (size_t j = 0; kv && j < n; j++) {
                                free(kv[j].key);
                                free(kv[j].value);
                        }
                        free(kv);
                }
        }
}

void conf_free(struct conf *c)
{
        if (!c)
                return;
        for (size_t i = 0; c->programs && i < c->n_programs; i++)
                free_table(program_keys, N_PROGRAM_KEYS, &c->programs[i]);
        free(c->programs);
        free_table(conf_keys, N_CONF_KEYS, c);
        if (c->bpjs.secret)
                explicit_bzero(c->bpjs.secret, c->bpjs.secret_len);
        free(c->bpjs.secret);
        free(c->bpjs.secret_source);
        if (c->journal.password)
                explicit_bzero(c->journal.password, c->journal.password_len);
        free(c->journal.password);
        free(c->journal.password_source);
        free(c->path);
        free(c);
}

static bool same_value(const struct conf_key *k, const void *a, const void *b)
{
        switch (k->type) {
        case K_STR:
                return strcmp(*(char *const *)field((void *)a, k->off),
                              *(char *const *)field((void *)b, k->off)) == 0;
        case K_BOOL:
        case K_TRUE:
                return *(const bool *)field((void *)a, k->off) ==
                       *(const bool *)field((void *)b, k->off);
        case K_PAYER:
        case K_SEX:
                return *(const int *)field((void *)a, k->off) ==
                       *(const int *)field((void *)b, k->off);
        case K_INT:
        case K_MONTH:
        case K_LOGLEVEL:
        case K_BENEFITS:
        case K_RUPIAH:
                return *(const int64_t *)field((void *)a, k->off) ==
                       *(const int64_t *)field((void *)b, k->off);
        case K_STRLIST: {
                size_t n = *(const size_t *)field((void *)a, k->count_off);
                char **la = *(char ***)field((void *)a, k->off);
                char **lb = *(char ***)field((void *)b, k->off);
                if (n != *(const size_t *)field((void *)b, k->count_off))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(la[i], lb[i]))
                                return false;
                return true;
        }
        case K_MAP: {
                size_t n = *(const size_t *)field((void *)a, k->count_off);
                struct conf_kv *ka = *(struct conf_kv **)field((void *)a, k->off);
                struct conf_kv *kb = *(struct conf_kv **)field((void *)b, k->off);
                if (n != *(const size_t *)field((void *)b, k->count_off))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(ka[i].key, kb[i].key) ||
                            strcmp(ka[i].value, kb[i].value))
                                return false;
                return true;
        }
        default:
                return true;
        }
}

int conf_check_reload(const struct conf *cur, const struct conf *next, char *err)
{
        for (size_t i = 0; i < N_CONF_KEYS; i++) {
                const struct conf_key *k = &conf_keys[i];
                if (k->flags & KF_RELOADABLE || same_value(k, cur, next))
                        continue;
                snprintf(
                    err, CONF_ERR_SIZE,
                    "%s: %s: cannot change while the daemon runs (restart it to apply)",
                    next->path, k->path);
                return -EINVAL;
        }
        return 0;
}

const struct conf_program *conf_program_find(const struct conf *c, const char *id)
{
        for (size_t i = 0; i < c->n_programs; i++)
                if (strcmp(c->programs[i].id, id) == 0)
                        return &c->programs[i];
        return NULL;
}

static const char *type_name(enum ktype t)
{
        static const char *const names[] = {
            [K_STR] = "string",
            [K_INT] = "integer",
            [K_BOOL] = "boolean",
            [K_STRLIST] = "list of strings",
            [K_MAP] = "mapping",
            [K_MONTH] = "month (YYYY-MM)",
            [K_PAYER] = "city|province",
            [K_BENEFITS] = "list of JKK, JKM",
            [K_LOGLEVEL] = "log level",
            [K_PROGRAMS] = "list of programmes",
            [K_TRUE] = "true",
            [K_SEX] = "F or M",
            [K_RUPIAH] = "integer (Rupiah)",
        };
        return names[t];
}

static void print_rows(FILE *f, const struct conf_key *table, size_t n,
                       const char *prefix)
{
        for (size_t i = 0; i < n; i++) {
                const struct conf_key *k = &table[i];
                char range[64] = "";
                if ((k->min || k->max) && k->type == K_INT)
                        snprintf(range, sizeof(range), "%lld..%lld", (long long)k->min,
                                 (long long)k->max);
                else if (k->type == K_RUPIAH)
                        snprintf(range, sizeof(range), "0..");
                fprintf(f, "| `%s%s` | %s | %s | %s | %s%s |\n", prefix, k->path,
                        type_name(k->type),
                        k->flags & KF_REQUIRED ? "required"
                        : k->def               ? (*k->def ? k->def : "\"\"")
                                               : "",
                        range, k->doc, k->flags & KF_RELOADABLE ? " (reloadable)" : "");
        }
}

void conf_print_reference(FILE *f)
{
        fprintf(f, "| key | type | default | range | meaning |\n|---|---|---|---|---|\n");
        print_rows(f, conf_keys, N_CONF_KEYS, "");
        print_rows(f, program_keys, N_PROGRAM_KEYS, "programs[].");
}

void conf_dump(const struct conf *c, FILE *f)
{
        fprintf(f, "kafka: brokers=%s group_id=%s topics=", c->kafka.brokers,
                c->kafka.group_id);
        for (size_t i = 0; i < c->kafka.n_topics; i++)
                fprintf(f, "%s%s", i ? "," : "", c->kafka.topics[i]);
        fprintf(f, " results=%s dlq=%s\n", c->kafka.results_topic, c->kafka.dlq_topic);
        for (size_t i = 0; i < c->kafka.n_properties; i++) {
                const char *k = c->kafka.properties[i].key;
                bool secret =
                    strstr(k, "password") || strstr(k, "secret") || strstr(k, "key");
                fprintf(f, "kafka.properties.%s=%s\n", k,
                        secret ? "[redacted]" : c->kafka.properties[i].value);
        }
        fprintf(f,
                "bpjs: base_url=%s proxy=%s cons_id=%s secret=[redacted] "
                "batch_size=%lld linger_ms=%lld max_in_flight=%lld timeout_ms=%lld\n",
                c->bpjs.base_url, *c->bpjs.proxy ? c->bpjs.proxy : "none",
                c->bpjs.cons_id, (long long)c->bpjs.batch_size,
                (long long)c->bpjs.batch_linger_ms, (long long)c->bpjs.max_in_flight,
                (long long)c->bpjs.timeout_ms);
        if (*c->journal.url)
                fprintf(f, "journal: url=%s password=%s max_pending=%lld\n",
                        c->journal.url, c->journal.password ? "[redacted]" : "none",
                        (long long)c->journal.max_pending);
        else
                fprintf(f, "journal: path=%s max_pending=%lld\n", c->journal.path,
                        (long long)c->journal.max_pending);
        for (size_t i = 0; i < c->n_programs; i++) {
                const struct conf_program *p = &c->programs[i];
                char s[8], e[8];
                conf_month_format(p->start_month, s);
                conf_month_format(p->end_month, e);
                const struct conf_eligibility *el = &p->eligibility;
                fprintf(f,
                        "program %s: payer=%s/%s quota=%lld premium=%lld period=%s..%s "
                        "budget=",
                        p->id, conf_payer_level_name(p->payer_level), p->payer_region,
                        (long long)p->quota, (long long)p->monthly_premium, s, e);
                if (p->budget < 0)
                        fprintf(f, "none");
                else
                        fprintf(f, "%lld", (long long)p->budget);
                fprintf(f, " eligibility=");
                int n = 0;
                if (el->disability)
                        n += fprintf(f, "disability");
                if (el->sex)
                        n += fprintf(f, "%ssex=%c", n ? "," : "", el->sex);
                if (el->head_of_household)
                        n += fprintf(f, "%shead_of_household", n ? "," : "");
                if (el->has_min_age)
                        n += fprintf(f, "%smin_age=%lld", n ? "," : "",
                                     (long long)el->min_age);
                if (el->has_max_age)
                        n += fprintf(f, "%smax_age=%lld", n ? "," : "",
                                     (long long)el->max_age);
                for (size_t j = 0; j < el->n_occupations; j++)
                        n += fprintf(f, "%s%s%s", n ? "," : "",
                                     j ? "" : "occupations=", el->occupations[j]);
                fprintf(f, "%s\n", n ? "" : "any");
        }
}
