/* bpjs-kafka-mock: a Kafka cluster for tests and demos, with no broker.
 *
 * librdkafka's mock cluster speaks the real Kafka protocol on loopback. This
 * tool creates one, creates the topics it is asked for, prints the bootstrap
 * servers as its first stdout line, then serves a line-oriented control
 * channel on stdin (see control.h) until SIGTERM, SIGINT or "quit". */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "control.h"

#define PROG         "bpjs-kafka-mock"
#define LINE_MAX_LEN 4096
#define MAX_TOPICS   64
#define LOOPBACK     "127.0.0.1:"

struct topic_opt {
        const char *spec; /* as given: NAME or NAME:PARTITIONS */
        char name[256];
        int partitions;
};

struct options {
        int brokers;
        int default_partitions;
        bool exit_on_stdin_eof;
        const char *debug;
        struct topic_opt topics[MAX_TOPICS];
        int topic_cnt;
};

struct linebuf {
        char buf[LINE_MAX_LEN + 1];
        size_t len;
        bool discarding; /* inside an over-long line: drop up to its newline */
};

static const char usage_text[] =
    "Usage: " PROG " [OPTION]...\n"
    "Run librdkafka's mock Kafka cluster on 127.0.0.1 for tests and demos.\n"
    "\n"
    "  -b, --brokers N            number of brokers, ids 1..N (default 1, max 32)\n"
    "  -t, --topic NAME[:PARTS]   create a topic (repeatable); PARTS defaults to\n"
    "                             --partitions\n"
    "  -p, --partitions N         default partition count for --topic and the\n"
    "                             'topic' command (default 4, max 1000)\n"
    "  -e, --exit-on-stdin-eof    exit 0 when stdin reaches end of file\n"
    "  -d, --debug LIST           librdkafka debug contexts (e.g. mock,protocol)\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "The first stdout line is the bootstrap servers (host:port,...). Then each\n"
    "line on stdin is a command, answered by one stdout line, 'ok' or\n"
    "'error: ...':\n"
    "  topic NAME [PARTITIONS]            create a topic (replication 1)\n"
    "  broker-down ID|all                 close connections, refuse new ones\n"
    "  broker-up ID|all                   accept connections again\n"
    "  push-errors APIKEY COUNT ERRCODE   fail the next COUNT requests of APIKEY\n"
    "                                     (0 Produce, 1 Fetch, 3 Metadata,\n"
    "                                     8 OffsetCommit, 12 Heartbeat, ...);\n"
    "                                     ERRCODE is a number or a name such as\n"
    "                                     NOT_LEADER_FOR_PARTITION; _TRANSPORT\n"
    "                                     makes the broker drop the connection\n"
    "  clear-errors APIKEY                forget pushed errors for APIKEY\n"
    "  rtt ID|all MS                      delay responses by MS milliseconds\n"
    "  leader TOPIC PARTITION ID|-1       move a partition's leader\n"
    "  ping | help | quit\n"
    "It exits 0 on SIGTERM, SIGINT or 'quit'.\n"
    "\n"
    "Retention: the mock keeps at most 5 MiB (and 100000 produce batches) per\n"
    "partition and silently drops the oldest messages beyond that: a consumer\n"
    "that starts from the beginning then misses them. Spread large test runs\n"
    "over enough partitions. Topics that clients auto-create get 4 partitions.\n";

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        (void)rk;
        fprintf(stderr, PROG ": librdkafka[%d] %s: %s\n", level, fac, buf);
}

static int parse_int(const char *s, int min, int max, int *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (!*s || *end || errno == ERANGE || v < min || v > max)
                return -EINVAL;
        *out = (int)v;
        return 0;
}

/* Returns 0 to run, 1 when --help or --version was served, or -EINVAL. */
static int parse_options(int argc, char **argv, struct options *opts)
{
        static const struct option longopts[] = {
            {"brokers", required_argument, NULL, 'b'},
            {"topic", required_argument, NULL, 't'},
            {"partitions", required_argument, NULL, 'p'},
            {"exit-on-stdin-eof", no_argument, NULL, 'e'},
            {"debug", required_argument, NULL, 'd'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        int c;

        while ((c = getopt_long(argc, argv, "b:t:p:ed:hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'b':
                        if (parse_int(optarg, 1, CONTROL_MAX_BROKERS, &opts->brokers) <
                            0) {
                                fprintf(stderr, PROG ": --brokers must be 1..%d\n",
                                        CONTROL_MAX_BROKERS);
                                return -EINVAL;
                        }
                        break;
                case 't':
                        if (opts->topic_cnt == MAX_TOPICS) {
                                fprintf(stderr, PROG ": at most %d --topic options\n",
                                        MAX_TOPICS);
                                return -EINVAL;
                        }
                        opts->topics[opts->topic_cnt++].spec = optarg;
                        break;
                case 'p':
                        if (parse_int(optarg, 1, CONTROL_MAX_PARTITIONS,
                                      &opts->default_partitions) < 0) {
                                fprintf(stderr, PROG ": --partitions must be 1..%d\n",
                                        CONTROL_MAX_PARTITIONS);
                                return -EINVAL;
                        }
                        break;
                case 'e':
                        opts->exit_on_stdin_eof = true;
                        break;
                case 'd':
                        opts->debug = optarg;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 1;
                case 'V':
                        printf("%s %s (librdkafka %s)\n", PROG, BPJS_VERSION,
                               rd_kafka_version_str());
                        return 1;
                default:
                        fprintf(stderr, "Try '" PROG " --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        /* After the loop: --partitions may follow the --topic it applies to. */
        for (int i = 0; i < opts->topic_cnt; i++) {
                struct topic_opt *t = &opts->topics[i];

                if (control_topic_spec_parse(t->spec, opts->default_partitions, t->name,
                                             sizeof(t->name), &t->partitions) < 0) {
                        fprintf(stderr,
                                PROG ": --topic '%s': expected NAME or "
                                     "NAME:PARTITIONS (1..%d), NAME of [A-Za-z0-9._-]\n",
                                t->spec, CONTROL_MAX_PARTITIONS);
                        return -EINVAL;
                }
        }
        return 0;
}

/* Every listener must be on 127.0.0.1: a test tool never listens elsewhere. */
static bool bootstraps_loopback(const char *bootstraps)
{
        const char *p = bootstraps;

        while (*p) {
                if (strncmp(p, LOOPBACK, strlen(LOOPBACK)) != 0)
                        return false;
                p = strchr(p, ',');
                if (!p)
                        return true;
                p++;
        }
        return false;
}

static int answer(const char *line)
{
        if (fprintf(stdout, "%s\n", line) < 0 || fflush(stdout) == EOF)
                return -EIO;
        return 0;
}

static void run_line(struct control *ctl, char *line, bool *quit)
{
        char shown[128];
        char reply[1024];
        int r;

        snprintf(shown, sizeof(shown), "%s", line);
        r = control_exec(ctl, line, reply, sizeof(reply));
        fprintf(stderr, PROG ": command '%s': %s\n", shown, reply);
        if (answer(reply) < 0)
                fprintf(stderr, PROG ": cannot write to stdout: %s\n", strerror(errno));
        if (r == CONTROL_QUIT)
                *quit = true;
}

/* Reads what stdin has and runs each complete line. Sets *eof at end of file
 * (a last line without a newline still runs) and *quit on "quit". */
static int serve_stdin(struct control *ctl, struct linebuf *lb, bool *eof, bool *quit)
{
        ssize_t n;
        char *nl;

        n = read(STDIN_FILENO, lb->buf + lb->len, LINE_MAX_LEN - lb->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (n == 0) {
                *eof = true;
                if (lb->len > 0 && !lb->discarding) {
                        lb->buf[lb->len] = '\0';
                        run_line(ctl, lb->buf, quit);
                }
                lb->len = 0;
                return 0;
        }
        lb->len += (size_t)n;

        while (!*quit && (nl = memchr(lb->buf, '\n', lb->len))) {
                size_t used = (size_t)(nl - lb->buf) + 1;

                *nl = '\0';
                if (lb->discarding)
                        lb->discarding = false;
                else
                        run_line(ctl, lb->buf, quit);
                lb->len -= used;
                memmove(lb->buf, lb->buf + used, lb->len);
        }
        if (lb->len == LINE_MAX_LEN) {
                if (!lb->discarding && answer("error: line too long") < 0)
                        fprintf(stderr, PROG ": cannot write to stdout\n");
                lb->discarding = true;
                lb->len = 0;
        }
        return 0;
}

static int create_topics(struct control *ctl, const struct options *opts)
{
        char errbuf[512];

        for (int i = 0; i < opts->topic_cnt; i++) {
                const struct topic_opt *t = &opts->topics[i];

                if (control_topic_create(ctl, t->name, t->partitions, errbuf,
                                         sizeof(errbuf)) < 0) {
                        fprintf(stderr, PROG ": --topic '%s': %s\n", t->spec, errbuf);
                        return -EINVAL;
                }
        }
        return 0;
}

int main(int argc, char **argv)
{
        static struct options opts = {.brokers = 1, .default_partitions = 4};
        struct control ctl = {0};
        static struct linebuf lb;
        rd_kafka_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[512];
        sigset_t mask;
        int sfd = -1;
        bool eof = false, quit = false;
        int ret = EX_SOFTWARE;
        int r;

        r = parse_options(argc, argv, &opts);
        if (r != 0) {
                ret = r > 0 ? 0 : EX_USAGE;
                goto out;
        }

        /* Signals are loop events; block them before librdkafka starts
         * threads so that every thread inherits the mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
                fprintf(stderr, PROG ": signalfd: %s\n", strerror(errno));
                ret = EX_OSERR;
                goto out;
        }
        signal(SIGPIPE, SIG_IGN);

        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        if (rd_kafka_conf_set(conf, "log_level", opts.debug ? "7" : "4", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (opts.debug && rd_kafka_conf_set(conf, "debug", opts.debug, errstr,
                                             sizeof(errstr)) != RD_KAFKA_CONF_OK)) {
                fprintf(stderr, PROG ": %s\n", errstr);
                ret = EX_USAGE;
                goto out;
        }
        /* The throwaway handle only hosts the mock cluster; it has no brokers
         * of its own and produces nothing. */
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, PROG ": cannot create the librdkafka handle: %s\n",
                        errstr);
                ret = EX_SOFTWARE;
                goto out;
        }
        conf = NULL; /* owned by rk now */

        ctl.broker_cnt = opts.brokers;
        ctl.default_partitions = opts.default_partitions;
        ctl.mcluster = rd_kafka_mock_cluster_new(rk, opts.brokers);
        if (!ctl.mcluster) {
                fprintf(stderr, PROG ": cannot create the mock cluster\n");
                ret = EX_UNAVAILABLE;
                goto out;
        }
        if (!bootstraps_loopback(rd_kafka_mock_cluster_bootstraps(ctl.mcluster))) {
                fprintf(stderr, PROG ": mock listeners are not on 127.0.0.1: %s\n",
                        rd_kafka_mock_cluster_bootstraps(ctl.mcluster));
                ret = EX_SOFTWARE;
                goto out;
        }
        if (create_topics(&ctl, &opts) < 0) {
                ret = EX_USAGE;
                goto out;
        }
        if (answer(rd_kafka_mock_cluster_bootstraps(ctl.mcluster)) < 0) {
                fprintf(stderr, PROG ": cannot write to stdout\n");
                ret = EX_IOERR;
                goto out;
        }
        fprintf(stderr, PROG ": %d broker(s) at %s\n", opts.brokers,
                rd_kafka_mock_cluster_bootstraps(ctl.mcluster));

        while (!quit) {
                struct pollfd fds[2] = {
                    {.fd = sfd, .events = POLLIN},
                    {.fd = eof ? -1 : STDIN_FILENO, .events = POLLIN},
                };

                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
                        ret = EX_OSERR;
                        goto out;
                }
                if (fds[0].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                fprintf(stderr, PROG ": %s, exiting\n",
                                        strsignal((int)si.ssi_signo));
                        break;
                }
                if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = serve_stdin(&ctl, &lb, &eof, &quit);
                        if (r < 0) {
                                fprintf(stderr, PROG ": reading stdin: %s\n",
                                        strerror(-r));
                                eof = true;
                        }
                        if (eof && opts.exit_on_stdin_eof) {
                                fprintf(stderr, PROG ": end of stdin, exiting\n");
                                break;
                        }
                }
        }
        ret = 0;
out:
        if (ctl.mcluster)
                rd_kafka_mock_cluster_destroy(ctl.mcluster);
        if (rk)
                rd_kafka_destroy(rk);
        if (conf)
                rd_kafka_conf_destroy(conf);
        if (sfd >= 0)
                close(sfd);
        return ret;
}
