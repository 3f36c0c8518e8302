#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS       8
#define TOPIC_NAME_MAX 249
#define ERR_PREFIX     "RD_KAFKA_RESP_ERR_"

struct command {
        const char *name;
        const char *usage;
        int min_args; /* not counting the command word */
        int max_args;
        int (*run)(struct control *ctl, char **argv, char *reply, size_t reply_size);
};

static int reply_error(char *reply, size_t reply_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reply_error(char *reply, size_t reply_size, int err, const char *fmt, ...)
{
        va_list ap;
        int n;

        n = snprintf(reply, reply_size, "error: ");
        if (n < 0 || (size_t)n >= reply_size)
                return err;
        va_start(ap, fmt);
        vsnprintf(reply + n, reply_size - (size_t)n, fmt, ap);
        va_end(ap);
        return err;
}

static int parse_long(const char *s, long min, long max, long *out)
{
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (*end != '\0')
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *out = v;
        return 0;
}

/* Kafka's rule: 1..249 characters of [A-Za-z0-9._-], and not "." or "..". */
static bool topic_name_valid(const char *name)
{
        size_t len = strlen(name);

        if (len == 0 || len > TOPIC_NAME_MAX)
                return false;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                if (!ok)
                        return false;
        }
        return true;
}

/* A broker id 1..broker_cnt, or "all" / -1 for every broker. */
static int parse_broker(const struct control *ctl, const char *s, bool allow_all,
                        int32_t *out)
{
        long v;

        if (allow_all && strcmp(s, "all") == 0) {
                *out = -1;
                return 0;
        }
        if (parse_long(s, allow_all ? -1 : 1, ctl->broker_cnt, &v) < 0 || v == 0)
                return -EINVAL;
        *out = (int32_t)v;
        return 0;
}

int control_topic_spec_parse(const char *spec, int default_partitions, char *name,
                             size_t name_size, int *partitions)
{
        const char *colon = strrchr(spec, ':');
        size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
        long count = default_partitions;

        if (len == 0 || len >= name_size)
                return -EINVAL;
        if (colon && parse_long(colon + 1, 1, CONTROL_MAX_PARTITIONS, &count) < 0)
                return -EINVAL;
        memcpy(name, spec, len);
        name[len] = '\0';
        if (!topic_name_valid(name))
                return -EINVAL;
        *partitions = (int)count;
        return 0;
}

int control_topic_create(struct control *ctl, const char *name, int partitions,
                         char *errbuf, size_t errbuf_size)
{
        rd_kafka_resp_err_t err;

        if (!topic_name_valid(name)) {
                snprintf(errbuf, errbuf_size,
                         "invalid topic name '%s' (1-249 of [A-Za-z0-9._-])", name);
                return -EINVAL;
        }
        if (partitions < 1 || partitions > CONTROL_MAX_PARTITIONS) {
                snprintf(errbuf, errbuf_size, "partitions must be 1..%d (got %d)",
                         CONTROL_MAX_PARTITIONS, partitions);
                return -EINVAL;
        }
        err = rd_kafka_mock_topic_create(ctl->mcluster, name, partitions, 1);
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errbuf, errbuf_size, "topic '%s' already exists", name);
                return -EEXIST;
        }
        if (err) {
                snprintf(errbuf, errbuf_size, "cannot create topic '%s': %s", name,
                         rd_kafka_err2str(err));
                return -EIO;
        }
        return 0;
}

int control_errcode_parse(const char *s, rd_kafka_resp_err_t *out)
{
        const struct rd_kafka_err_desc *descs;
        size_t cnt;
        long v;

        if (parse_long(s, INT16_MIN, INT16_MAX, &v) == 0) {
                *out = (rd_kafka_resp_err_t)v;
                return 0;
        }
        if (strncasecmp(s, ERR_PREFIX, strlen(ERR_PREFIX)) == 0)
                s += strlen(ERR_PREFIX);
        if (!*s)
                return -EINVAL;
        rd_kafka_get_err_descs(&descs, &cnt);
        for (size_t i = 0; i < cnt; i++) {
                if (descs[i].name && strcasecmp(descs[i].name, s) == 0) {
                        *out = descs[i].code;
                        return 0;
                }
        }
        return -EINVAL;
}

static int cmd_topic(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        char errbuf[512];
        long partitions = ctl->default_partitions;
        int r;

        if (argv[1] && parse_long(argv[1], 1, CONTROL_MAX_PARTITIONS, &partitions) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "partitions must be 1..%d (got '%s')",
                                   CONTROL_MAX_PARTITIONS, argv[1]);
        r = control_topic_create(ctl, argv[0], (int)partitions, errbuf, sizeof(errbuf));
        if (r < 0)
                return reply_error(reply, reply_size, r, "%s", errbuf);
        return 0;
}

static int broker_updown(struct control *ctl, char **argv, char *reply, size_t reply_size,
                         bool up)
{
        rd_kafka_resp_err_t err;
        int32_t id;

        if (parse_broker(ctl, argv[0], true, &id) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "no broker '%s' (brokers are 1..%d, or all)", argv[0],
                                   ctl->broker_cnt);
        err = up ? rd_kafka_mock_broker_set_up(ctl->mcluster, id)
                 : rd_kafka_mock_broker_set_down(ctl->mcluster, id);
        if (err)
                return reply_error(reply, reply_size, -EIO, "%s", rd_kafka_err2str(err));
        return 0;
}

static int cmd_broker_down(struct control *ctl, char **argv, char *reply,
                           size_t reply_size)
{
        return broker_updown(ctl, argv, reply, reply_size, false);
}

static int cmd_broker_up(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        return broker_updown(ctl, argv, reply, reply_size, true);
}

static int cmd_push_errors(struct control *ctl, char **argv, char *reply,
                           size_t reply_size)
{
        rd_kafka_resp_err_t code;
        rd_kafka_resp_err_t *errs = NULL;
        long apikey, count;
        int r = 0;

        if (parse_long(argv[0], 0, INT16_MAX, &apikey) < 0) {
                r = reply_error(reply, reply_size, -EINVAL,
                                "APIKEY must be a number 0..%d (got '%s')", INT16_MAX,
                                argv[0]);
                goto out;
        }
        if (parse_long(argv[1], 1, CONTROL_MAX_ERRORS, &count) < 0) {
                r = reply_error(reply, reply_size, -EINVAL,
                                "COUNT must be 1..%d (got '%s')", CONTROL_MAX_ERRORS,
                                argv[1]);
                goto out;
        }
        if (control_errcode_parse(argv[2], &code) < 0) {
                r = reply_error(reply, reply_size, -EINVAL,
                                "unknown error code '%s' (a number or a name such as "
                                "NOT_LEADER_FOR_PARTITION)",
                                argv[2]);
                goto out;
        }
        errs = calloc((size_t)count, sizeof(*errs));
        if (!errs) {
                r = reply_error(reply, reply_size, -ENOMEM, "out of memory");
                goto out;
        }
        for (long i = 0; i < count; i++)
                errs[i] = code;
        rd_kafka_mock_push_request_errors_array(ctl->mcluster, (int16_t)apikey,
                                                (size_t)count, errs);
out:
        free(errs);
        return r;
}

static int cmd_clear_errors(struct control *ctl, char **argv, char *reply,
                            size_t reply_size)
{
        long apikey;

        if (parse_long(argv[0], 0, INT16_MAX, &apikey) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "APIKEY must be a number 0..%d (got '%s')", INT16_MAX,
                                   argv[0]);
        rd_kafka_mock_clear_request_errors(ctl->mcluster, (int16_t)apikey);
        return 0;
}

static int cmd_rtt(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        rd_kafka_resp_err_t err;
        int32_t id;
        long ms;

        if (parse_broker(ctl, argv[0], true, &id) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "no broker '%s' (brokers are 1..%d, or all)", argv[0],
                                   ctl->broker_cnt);
        if (parse_long(argv[1], 0, CONTROL_MAX_RTT_MS, &ms) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "MS must be 0..%d (got '%s')", CONTROL_MAX_RTT_MS,
                                   argv[1]);
        err = rd_kafka_mock_broker_set_rtt(ctl->mcluster, id, (int)ms);
        if (err)
                return reply_error(reply, reply_size, -EIO, "%s", rd_kafka_err2str(err));
        return 0;
}

static int cmd_leader(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        rd_kafka_resp_err_t err;
        long partition;
        int32_t id;

        if (!topic_name_valid(argv[0]))
                return reply_error(reply, reply_size, -EINVAL, "invalid topic name '%s'",
                                   argv[0]);
        if (parse_long(argv[1], 0, CONTROL_MAX_PARTITIONS - 1, &partition) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "PARTITION must be 0..%d (got '%s')",
                                   CONTROL_MAX_PARTITIONS - 1, argv[1]);
        if (parse_broker(ctl, argv[2], true, &id) < 0)
                return reply_error(reply, reply_size, -EINVAL,
                                   "no broker '%s' (brokers are 1..%d, or -1 for none)",
                                   argv[2], ctl->broker_cnt);
        err = rd_kafka_mock_partition_set_leader(ctl->mcluster, argv[0],
                                                 (int32_t)partition, id);
        if (err)
                return reply_error(reply, reply_size, -EIO, "%s", rd_kafka_err2str(err));
        return 0;
}

static int cmd_ping(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        (void)ctl;
        (void)argv;
        (void)reply;
        (void)reply_size;
        return 0;
}

static int cmd_quit(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        (void)ctl;
        (void)argv;
        (void)reply;
        (void)reply_size;
        return CONTROL_QUIT;
}

static int cmd_help(struct control *ctl, char **argv, char *reply, size_t reply_size);

static const struct command commands[] = {
    {"topic", "topic NAME [PARTITIONS]", 1, 2, cmd_topic},
    {"broker-down", "broker-down ID|all", 1, 1, cmd_broker_down},
    {"broker-up", "broker-up ID|all", 1, 1, cmd_broker_up},
    {"push-errors", "push-errors APIKEY COUNT ERRCODE", 3, 3, cmd_push_errors},
    {"clear-errors", "clear-errors APIKEY", 1, 1, cmd_clear_errors},
    {"rtt", "rtt ID|all MS", 2, 2, cmd_rtt},
    {"leader", "leader TOPIC PARTITION ID|-1", 3, 3, cmd_leader},
    {"ping", "ping", 0, 0, cmd_ping},
    {"help", "help", 0, 0, cmd_help},
    {"quit", "quit", 0, 0, cmd_quit},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(struct control *ctl, char **argv, char *reply, size_t reply_size)
{
        size_t of;

        (void)ctl;
        (void)argv;
        of = (size_t)snprintf(reply, reply_size, "ok");
        for (size_t i = 0; i < N_COMMANDS && of < reply_size; i++)
                of += (size_t)snprintf(reply + of, reply_size - of, "%s%s",
                                       i ? ", " : " commands: ", commands[i].usage);
        return 0;
}

int control_exec(struct control *ctl, char *line, char *reply, size_t reply_size)
{
        char *argv[MAX_ARGS + 1] = {0};
        char *save = NULL;
        char *word;
        int argc = 0;

        snprintf(reply, reply_size, "ok");
        word = strtok_r(line, " \t\r\n", &save);
        if (!word)
                return reply_error(reply, reply_size, -EINVAL,
                                   "empty command (try: help)");
        while (argc < MAX_ARGS && (argv[argc] = strtok_r(NULL, " \t\r\n", &save)))
                argc++;
        if (argc == MAX_ARGS && strtok_r(NULL, " \t\r\n", &save))
                argc++;

        for (size_t i = 0; i < N_COMMANDS; i++) {
                const struct command *c = &commands[i];

                if (strcmp(word, c->name) != 0)
                        continue;
                if (argc < c->min_args || argc > c->max_args)
                        return reply_error(reply, reply_size, -EINVAL, "usage: %s",
                                           c->usage);
                return c->run(ctl, argv, reply, reply_size);
        }
        return reply_error(reply, reply_size, -EINVAL,
                           "unknown command '%.64s' (try: help)", word);
}
