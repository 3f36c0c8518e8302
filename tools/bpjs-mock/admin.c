/* admin: see admin.h. */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "respond.h"

/* Bytes of state rendered per lock hold while streaming. */
#define DUMP_CHUNK (64 * 1024)

enum dump_stage {
        DUMP_HEAD,
        DUMP_ROWS,
        DUMP_TAIL,
        DUMP_DONE,
};

struct dump {
        struct store *s;
        struct store_cursor cursor;
        struct jbuf buf;
        size_t off;
        enum dump_stage stage;
};

static void stats_json(const struct store_stats *st, struct jbuf *out)
{
        const struct {
                const char *name;
                uint64_t value;
        } counters[] = {
            {"dropped", st->dropped},
            {"dropped_after", st->dropped_after},
            {"batches_processed", st->batches_processed},
            {"idempotent_replays", st->idempotent_replays},
            {"conflicts_409", st->conflicts_409},
            {"registered", st->registered},
            {"already_registered", st->already_registered},
            {"rejected", st->rejected},
            {"deactivated", st->deactivated},
            {"not_found", st->not_found},
            {"registered_twice", st->registered_twice},
            {"multi_key_registration_ids", st->multi_key_registration_ids},
            {"active", st->active},
            {"idempotency_keys", st->idempotency_keys},
        };
        bool first = true;

        jbuf_puts(out, "{\"requests\":{");
        for (int i = 0; i < STORE_STATUS_SLOTS; i++) {
                if (!st->by_status[i])
                        continue;
                jbuf_printf(out, "%s\"%d\":", first ? "" : ",", i + STORE_STATUS_FIRST);
                jbuf_u64(out, st->by_status[i]);
                first = false;
        }
        jbuf_puts(out, "}");
        for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
                jbuf_printf(out, ",\"%s\":", counters[i].name);
                jbuf_u64(out, counters[i].value);
        }
        jbuf_puts(out, "}");
}

static void stats_into(struct store *s, struct jbuf *out)
{
        struct store_stats *st = malloc(sizeof(*st));

        if (!st) {
                out->err = -ENOMEM;
                return;
        }
        store_get_stats(s, st);
        stats_json(st, out);
        free(st);
}

static ssize_t read_dump(void *cls, uint64_t pos, char *out, size_t max)
{
        struct dump *d = cls;
        size_t n;

        (void)pos;
        if (d->off == d->buf.len) {
                jbuf_reset(&d->buf);
                d->off = 0;
        }
        while (d->buf.len - d->off < max && d->stage != DUMP_DONE) {
                switch (d->stage) {
                case DUMP_HEAD:
                        jbuf_puts(&d->buf, "{\"active\":[");
                        d->stage = DUMP_ROWS;
                        break;
                case DUMP_ROWS: {
                        int r = store_dump(d->s, &d->cursor, &d->buf,
                                           d->buf.len + DUMP_CHUNK);

                        /* A reset while streaming: the list would be a lie. */
                        if (r < 0)
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        if (r == 0)
                                d->stage = DUMP_TAIL;
                        break;
                }
                case DUMP_TAIL:
                        jbuf_puts(&d->buf, "],\"stats\":");
                        stats_into(d->s, &d->buf);
                        jbuf_puts(&d->buf, "}\n");
                        d->stage = DUMP_DONE;
                        break;
                case DUMP_DONE:
                        break;
                }
        }
        if (jbuf_error(&d->buf) < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        n = d->buf.len - d->off;
        if (n == 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (n > max)
                n = max;
        memcpy(out, d->buf.data + d->off, n);
        d->off += n;
        return (ssize_t)n;
}

static void free_dump(void *cls)
{
        struct dump *d = cls;

        jbuf_free(&d->buf);
        free(d);
}

static enum MHD_Result get_state(struct MHD_Connection *c, struct store *s)
{
        const char *nik = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "nik");
        struct MHD_Response *resp;
        struct dump *d;
        enum MHD_Result r;

        if (nik) {
                struct jbuf b;
                uint64_t v;

                if (batch_parse_digits(nik, 16, &v) < 0)
                        return respond_error(c, 400, "nik must be 16 digits", NULL, NULL);
                jbuf_init(&b);
                jbuf_puts(&b, "{\"active\":[");
                store_dump_nik(s, v, &b);
                jbuf_puts(&b, "],\"stats\":");
                stats_into(s, &b);
                jbuf_puts(&b, "}\n");
                return respond_jbuf(c, 200, &b);
        }
        d = calloc(1, sizeof(*d));
        if (!d)
                return MHD_NO;
        d->s = s;
        jbuf_init(&d->buf);
        store_cursor_start(s, &d->cursor);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, DUMP_CHUNK, read_dump,
                                                 d, free_dump);
        if (!resp) {
                free_dump(d);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8");
        r = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return r;
}

static enum MHD_Result get_stats(struct MHD_Connection *c, struct store *s)
{
        struct jbuf b;

        jbuf_init(&b);
        stats_into(s, &b);
        jbuf_puts(&b, "\n");
        return respond_jbuf(c, 200, &b);
}

static enum MHD_Result faults_reply(struct MHD_Connection *c, struct faults *f)
{
        struct faults_config cfg;
        struct jbuf b;

        faults_get(f, &cfg);
        jbuf_init(&b);
        faults_config_json(&cfg, &b);
        jbuf_puts(&b, "\n");
        return respond_jbuf(c, 200, &b);
}

static enum MHD_Result post_faults(struct MHD_Connection *c, struct faults *f,
                                   const char *body, size_t len)
{
        struct faults_config cfg;
        char err[160];
        cJSON *root;
        int r;

        root = cJSON_ParseWithLength(body, len);
        if (!root)
                return respond_error(c, 400, "body is not valid JSON", NULL, NULL);
        faults_get(f, &cfg);
        r = faults_config_apply_json(&cfg, root, err, sizeof(err));
        cJSON_Delete(root);
        if (r < 0)
                return respond_error(c, 400, err, NULL, NULL);
        faults_set(f, &cfg);
        log_notice("bpjs-mock", "faults changed: %s", body);
        return faults_reply(c, f);
}

struct seed {
        uint64_t nik;
        uint64_t kpj;
        const char *program;
        const char *registration_id;
};

static const char *string_of(const cJSON *obj, const char *name)
{
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

        return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Checks an "add" entry; returns a message for a 400, or NULL. */
static const char *parse_seed(const cJSON *item, struct seed *out)
{
        const char *kpj = string_of(item, "kpj");

        if (!cJSON_IsObject(item))
                return "add: entries must be objects";
        if (batch_parse_digits(string_of(item, "nik"), 16, &out->nik) < 0)
                return "add: nik must be 16 digits";
        out->kpj = 0;
        if (kpj && (batch_parse_digits(kpj, 11, &out->kpj) < 0 || out->kpj == 0))
                return "add: kpj must be 11 digits";
        out->program = string_of(item, "program");
        out->registration_id = string_of(item, "registration_id");
        return NULL;
}

/* {"add":[{"nik","kpj"?,"program"?,"registration_id"?}],"remove":["nik"]} */
static enum MHD_Result post_participants(struct MHD_Connection *c, struct store *s,
                                         const char *body, size_t len)
{
        unsigned long added = 0, already = 0, removed = 0, missing = 0;
        const cJSON *add, *remove, *item;
        const char *why = NULL;
        struct seed seed;
        enum MHD_Result ret;
        struct jbuf b;
        cJSON *root;
        uint64_t nik;

        root = cJSON_ParseWithLength(body, len);
        if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                return respond_error(c, 400, "body must be a JSON object", NULL, NULL);
        }
        add = cJSON_GetObjectItemCaseSensitive(root, "add");
        remove = cJSON_GetObjectItemCaseSensitive(root, "remove");
        if ((add && !cJSON_IsArray(add)) || (remove && !cJSON_IsArray(remove)))
                why = "add and remove must be arrays";
        /* Check everything before changing anything. */
        cJSON_ArrayForEach(item, add)
        {
                if (!why)
                        why = parse_seed(item, &seed);
        }
        cJSON_ArrayForEach(item, remove)
        {
                if (!why && batch_parse_digits(cJSON_GetStringValue(item), 16, &nik) < 0)
                        why = "remove: entries must be 16-digit NIKs";
        }
        if (why) {
                ret = respond_error(c, 400, why, NULL, NULL);
                goto out;
        }
        cJSON_ArrayForEach(item, add)
        {
                int r;

                parse_seed(item, &seed);
                r = store_add_participant(s, seed.nik, seed.kpj, seed.program,
                                          seed.registration_id);
                if (r == -EEXIST)
                        already++;
                else if (r == 0)
                        added++;
        }
        cJSON_ArrayForEach(item, remove)
        {
                batch_parse_digits(cJSON_GetStringValue(item), 16, &nik);
                if (store_forget_participant(s, nik) == 0)
                        removed++;
                else
                        missing++;
        }
        jbuf_init(&b);
        jbuf_printf(&b,
                    "{\"added\":%lu,\"already_active\":%lu,\"removed\":%lu,"
                    "\"not_found\":%lu}\n",
                    added, already, removed, missing);
        ret = respond_jbuf(c, 200, &b);
out:
        cJSON_Delete(root);
        return ret;
}

static enum MHD_Result post_reset(struct MHD_Connection *c, struct store *s)
{
        struct jbuf b;

        store_reset(s);
        log_notice("bpjs-mock", "state reset");
        jbuf_init(&b);
        jbuf_puts(&b, "{\"reset\":true}\n");
        return respond_jbuf(c, 200, &b);
}

enum MHD_Result admin_handle(struct MHD_Connection *c, const char *method,
                             const char *url, const char *body, size_t len,
                             bool too_large, struct store *s, struct faults *f)
{
        const char *what = url + strlen(ADMIN_PREFIX);
        bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");

        if (too_large)
                return respond_error(c, 413, "body larger than 1 MiB", NULL, NULL);
        if (!strcmp(what, "state"))
                return get ? get_state(c, s)
                           : respond_error(c, 405, "method not allowed", "Allow", "GET");
        if (!strcmp(what, "stats"))
                return get ? get_stats(c, s)
                           : respond_error(c, 405, "method not allowed", "Allow", "GET");
        if (!strcmp(what, "faults")) {
                if (get)
                        return faults_reply(c, f);
                if (post)
                        return post_faults(c, f, body, len);
                return respond_error(c, 405, "method not allowed", "Allow", "GET, POST");
        }
        if (!strcmp(what, "reset"))
                return post
                           ? post_reset(c, s)
                           : respond_error(c, 405, "method not allowed", "Allow", "POST");
        if (!strcmp(what, "participants"))
                return post
                           ? post_participants(c, s, body, len)
                           : respond_error(c, 405, "method not allowed", "Allow", "POST");
        return respond_error(c, 404, "no such admin endpoint", NULL, NULL);
}
