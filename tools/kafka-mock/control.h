/* control: the line-oriented control channel of bpjs-kafka-mock.
 *
 * A test writes one command per line on the tool's stdin; every line gets
 * exactly one answer line, "ok" or "error: <why>", written by the caller.
 * The mock cluster's control calls are synchronous, so "ok" means the change
 * is already in effect for the next request a client sends. */
#ifndef BPJS_KAFKA_MOCK_CONTROL_H
#define BPJS_KAFKA_MOCK_CONTROL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define CONTROL_MAX_BROKERS    32
#define CONTROL_MAX_PARTITIONS 1000
#define CONTROL_MAX_ERRORS     100000
#define CONTROL_MAX_RTT_MS     600000

/* control_exec() returns this (positive) when the command was "quit". */
#define CONTROL_QUIT 1

struct control {
        rd_kafka_mock_cluster_t *mcluster;
        int broker_cnt;
        int default_partitions;
};

/* Parses "NAME" or "NAME:PARTITIONS" (an argument of --topic). Writes the
 * name (NUL-terminated, at most name_size - 1 bytes) and the partition count
 * (default_partitions when none is given). Returns 0 or -EINVAL. */
int control_topic_spec_parse(const char *spec, int default_partitions, char *name,
                             size_t name_size, int *partitions);

/* Creates a topic with a replication factor of 1. Returns 0, or -EINVAL (bad
 * name or count) or -EEXIST or -EIO with the reason in errbuf. */
int control_topic_create(struct control *ctl, const char *name, int partitions,
                         char *errbuf, size_t errbuf_size);

/* Parses an error code given as a number ("6", "-195") or as a name, with or
 * without the RD_KAFKA_RESP_ERR_ prefix, in any case ("NOT_LEADER_FOR_PARTITION",
 * "_TRANSPORT"). Returns 0 or -EINVAL. */
int control_errcode_parse(const char *s, rd_kafka_resp_err_t *out);

/* Runs one command line (modified in place). Returns 0 or CONTROL_QUIT with
 * reply set to "ok", or a negative errno with reply set to "error: ...". */
int control_exec(struct control *ctl, char *line, char *reply, size_t reply_size);

#endif
