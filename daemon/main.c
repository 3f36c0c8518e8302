/* bpjs-syncd: consumes enrollment events, decides, journals, pushes
 * registrations to the BPJS endpoint and publishes every result. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "consume.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "publish.h"
#include "push/push.h"

#define CONSUME_BATCH 1000
#define DRAIN_MS      5000
#define FLUSH_MS      5000
/* docs/endpoint.md, "Idempotency": an Idempotency-Key is remembered 24 hours */
#define BODY_KEEP_MS   (24LL * 3600 * 1000)
#define PRUNE_BODIES   4 /* about 1 MiB of pages to overwrite */
#define PRUNE_EVENTS   1000
#define PRUNE_EVERY_MS 60000

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: bpjs-syncd --config FILE\n"
                "       bpjs-syncd --check-config FILE\n"
                "\n"
                "  -c, --config FILE        run the daemon with this configuration\n"
                "  -t, --check-config FILE  check the configuration and exit (0, or 78)\n"
                "      --config-reference   print the configuration keys (Markdown)\n"
                "  -h, --help               this text\n"
                "  -V, --version            print the version\n"
                "\n"
                "The signing secret is read from $CREDENTIALS_DIRECTORY/bpjs-secret or\n"
                "bpjs.secret_file, never from the command line.\n");
}

static int check_config(const char *path)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;

        if (conf_load(path, 0, &c, err) < 0) {
                fprintf(stderr, "%s\n", err);
                sd_notify(0, "STOPPING=1"); /* on every exit path */
                return EX_CONFIG;
        }
        printf("%s: ok: %zu programmes (", path, c->n_programs);
        for (size_t i = 0; i < c->n_programs; i++)
                printf("%s%s", i ? ", " : "", c->programs[i].id);
        printf("), topics ");
        for (size_t i = 0; i < c->kafka.n_topics; i++)
                printf("%s%s", i ? "," : "", c->kafka.topics[i]);
        printf(" -> %s, dead letters %s, endpoint %s\n", c->kafka.results_topic,
               c->kafka.dlq_topic, c->bpjs.base_url);
        conf_free(c);
        return EX_OK;
}

static int open_signals(void)
{
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Returns the signal waiting on fd, or 0. */
static int next_signal(int fd)
{
        struct signalfd_siginfo si;
        return read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si) ? (int)si.ssi_signo : 0;
}

/* Consuming pauses when journal.max_pending operations wait for the endpoint
 * and resumes below 90% of it: a dead endpoint never fills the disk. */
static int64_t backpressure(const struct conf *c, struct journal *j, struct consume *cs)
{
        int64_t backlog;

        if (journal_backlog(j, &backlog))
                return -1;
        if (!consume_paused(cs) && backlog >= c->journal.max_pending) {
                log_warning("main",
                            "%lld operations wait for the endpoint (journal.max_pending "
                            "%lld): consuming pauses until the backlog drains",
                            (long long)backlog, (long long)c->journal.max_pending);
                consume_pause(cs, true);
        } else if (consume_paused(cs) && backlog <= c->journal.max_pending * 9 / 10) {
                log_notice("main", "backlog down to %lld: consuming resumes",
                           (long long)backlog);
                consume_pause(cs, false);
        }
        return backlog;
}

/* What /readyz answers, from the metrics listener's thread. */
static struct {
        atomic_bool joined, auth_ok;
        atomic_int journal_rc; /* journal_write_health: 0 or -errno */
        atomic_int tls_error;  /* the curl code of a TLS refusal, 0: none */
        atomic_int refused;    /* partitions committed under another journal */
} health;

/* What a full disk and its kin mean to an operator reading /readyz. */
static const char *journal_cause(int rc)
{
        switch (rc) {
        case -ENOSPC:
                return "the disk is full";
        case -EBUSY:
                return "the file is locked by another process";
        case -EROFS:
                return "the file or its file system is read-only";
        case -ENOMEM:
                return "out of memory";
        default:
                return "an I/O error";
        }
}

static bool ready(void *opaque, char *why, size_t n)
{
        (void)opaque;
        if (!atomic_load(&health.joined))
                snprintf(why, n, "the consumer has no partitions yet");
        else if (atomic_load(&health.refused))
                snprintf(why, n,
                         "%d assigned partition(s) were last committed under another "
                         "journal and are not consumed (see the log)",
                         atomic_load(&health.refused));
        else if (atomic_load(&health.journal_rc) == -ENOTCONN)
                snprintf(why, n,
                         "journal unreachable (its database server does not answer; "
                         "consuming waits and nothing is lost)");
        else if (atomic_load(&health.journal_rc))
                snprintf(why, n, "the journal refuses writes (%s)",
                         journal_cause(atomic_load(&health.journal_rc)));
        else if (!atomic_load(&health.auth_ok))
                snprintf(why, n, "the endpoint refuses our signature (401)");
        else if (atomic_load(&health.tls_error))
                snprintf(why, n, "TLS to the endpoint is refused: %s",
                         curl_easy_strerror((CURLcode)atomic_load(&health.tls_error)));
        else
                return true;
        return false;
}

static void gauges(struct metrics *m, const struct conf *c, struct journal *j,
                   struct consume *cs, struct push *p, int64_t backlog)
{
        if (!m)
                return;
        if (backlog >= 0)
                metrics_set(m, METRIC_BACKLOG, NULL, (double)backlog);
        metrics_set(m, METRIC_CONSUMING_PAUSED, NULL, consume_paused(cs));
        int64_t lag = consume_lag(cs);
        if (lag >= 0)
                metrics_set(m, METRIC_CONSUMER_LAG, NULL, (double)lag);
        metrics_set(m, METRIC_INFLIGHT_REQUESTS, NULL, push_inflight(p));
        metrics_set(m, METRIC_CIRCUIT_OPEN, NULL, push_breaker_open(p));
        metrics_set(m, METRIC_TLS_REFUSED, NULL, push_tls_refused(p));
        metrics_set(m, METRIC_PARTITIONS_REFUSED, NULL, consume_refused(cs));
        int64_t bytes = 0;
        if (journal_disk_bytes(j, &bytes) == 0)
                metrics_set(m, METRIC_JOURNAL_BYTES, NULL, (double)bytes);
        for (size_t i = 0; i < c->n_programs; i++) {
                const char *label[] = {c->programs[i].id};
                struct journal_program_use use = {.program = c->programs[i].id};
                if (journal_programs_use(j, &use, 1) == 0) {
                        metrics_set(m, METRIC_QUOTA_USED, label, (double)use.used);
                        metrics_set(m, METRIC_PREMIUM_COMMITTED, label,
                                    (double)use.months *
                                        (double)c->programs[i].monthly_premium);
                }
                metrics_set(m, METRIC_QUOTA_LIMIT, label, (double)c->programs[i].quota);
                if (c->programs[i].budget >= 0)
                        metrics_set(m, METRIC_BUDGET, label,
                                    (double)c->programs[i].budget);
        }
}

/* A budget below what a programme has committed (lowered by a reload, or
 * by an edit before a restart) refuses new enrolments and undoes nothing:
 * said once each time the configuration is taken, a line a programme. */
static void budgets_say(const struct conf *c, struct journal *j)
{
        for (size_t i = 0; i < c->n_programs; i++) {
                const struct conf_program *pr = &c->programs[i];
                struct journal_program_use use = {.program = pr->id};
                int64_t committed;

                if (pr->budget < 0 || journal_programs_use(j, &use, 1) != 0 ||
                    !decide_premium(use.months, pr->monthly_premium, &committed) ||
                    committed <= pr->budget)
                        continue;
                log_warning("main",
                            "programme %s: committed premium Rp%lld is above its budget "
                            "Rp%lld: new enrolments are rejected (budget_exceeded); "
                            "what was confirmed stays (%lld workers covered now)",
                            pr->id, (long long)committed, (long long)pr->budget,
                            (long long)use.used);
        }
}

/* SIGHUP: parse and check the whole file again; apply it only if every
 * changed key may change at run time, else keep the old configuration. The
 * programmes, quotas, batch and retry settings, the log level, the secret
 * (rotation) and the TLS files (bpjs.tls.*: a reload after a TLS refusal
 * probes at once) reload; Kafka, the endpoint URL and the journal need a
 * restart. */
static void reload(struct conf **cur, struct journal *j, struct consume *cs,
                   struct push *p)
{
        char err[CONF_ERR_SIZE];
        struct conf *next = NULL;
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ULL +
                       (unsigned long long)ts.tv_nsec / 1000);
        if (conf_load((*cur)->path, 0, &next, err) < 0 ||
            conf_check_reload(*cur, next, err) < 0) {
                log_error("main", "reload refused, keeping the old configuration: %s",
                          err);
                conf_free(next);
                sd_notify(0, "READY=1");
                return;
        }
        consume_reconfigure(cs, next);
        push_reconfigure(p, next);
        log_set_level((enum log_level)next->log.level);
        conf_free(*cur);
        *cur = next;
        log_notice("main", "configuration reloaded: %zu programmes", next->n_programs);
        budgets_say(next, j);
        sd_notify(0, "READY=1");
}

/* One short turn of pruning; when the next one is due. While there is more
 * to prune, a turn runs on every loop, between the stages' own steps. */
static int64_t prune(const struct conf *c, struct journal *j, int64_t now)
{
        int64_t wall = clock_now_ms(), pruned[2];
        int rc = journal_prune(j, wall - BODY_KEEP_MS,
                               wall - c->journal.retention_days * 86400000LL,
                               PRUNE_BODIES, PRUNE_EVENTS, pruned);

        if (rc < 0) {
                /* a refused write is said once, by journal_health */
                if (!journal_write_health(j))
                        log_warning("journal", "pruning: %s (tried again in a minute)",
                                    journal_errmsg(j));
                return now + PRUNE_EVERY_MS;
        }
        if (pruned[0] || pruned[1])
                log_debug("journal", "pruned %lld request bodies and %lld event ids",
                          (long long)pruned[0], (long long)pruned[1]);
        return rc == 1 ? now : now + PRUNE_EVERY_MS;
}

/* A full disk (or an I/O error, a lock held too long): every stage keeps
 * what it could not write and tries again by itself; here it is said once
 * when writes start failing and once when they work again, and /readyz
 * says not ready meanwhile. *down_since is 0 while writes work. */
static void journal_health(struct journal *j, int64_t now, bool consume_failing,
                           int64_t *down_since)
{
        int rc = journal_write_health(j);

        /* consumed events that cannot be journaled for another reason keep
         * /readyz not ready too, as before */
        atomic_store(&health.journal_rc, rc ? rc : consume_failing ? -EIO : 0);
        if (rc && !*down_since) {
                log_error("journal",
                          "writes fail (%s): consuming, pushing and publishing wait and "
                          "try again every second; nothing is lost or sent twice, and "
                          "/readyz says not ready until writes work again",
                          journal_write_error(j));
                *down_since = now ? now : 1;
        } else if (!rc && *down_since) {
                log_notice("journal",
                           "writes work again after %.1f s: consuming, pushing and "
                           "publishing resume",
                           (double)(now - *down_since) / 1000.0);
                *down_since = 0;
        }
}

/* The main loop: consume -> decide -> journal, push, publish, until a
 * stop signal. Every stage is driven from here, one step at a time. */
static int loop(struct conf **c, struct journal *j, struct consume *cs, struct push *p,
                struct publish *pub, struct metrics *m, int sigfd)
{
        bool ready = false, failing = false, said = false;
        int64_t next_status = 0, retry_at = 0, next_backlog = 0, next_prune = 0;
        int64_t journal_down = 0;
        uint64_t watchdog_usec = 0;
        int sig;

        sd_watchdog_enabled(0, &watchdog_usec);
        while ((sig = next_signal(sigfd)) != SIGTERM && sig != SIGINT) {
                int64_t now = clock_mono_ms();
                bool polled = false;
                int n = 0;

                if (sig == SIGHUP)
                        reload(c, j, cs, p);
                if (now >= retry_at) {
                        polled = true;
                        n = consume_poll(cs, CONSUME_BATCH, push_inflight(p) ? 0 : 20);
                        if (n == -EAGAIN) {
                                /* several instances: others kept changing the
                                 * batch's facts (a programme's slots) while it
                                 * was decided; the journal works, so this is
                                 * no refused write: the held messages are
                                 * decided again shortly */
                                log_notice("consume",
                                           "a consumed batch was decided again while "
                                           "other instances changed its facts (%s); "
                                           "trying again",
                                           journal_errmsg(j));
                                retry_at = now + 50;
                        } else if (n < 0) {
                                /* the held messages are journaled on the next try;
                                 * no offset moves meanwhile. A refused write is
                                 * said by journal_health, anything else here */
                                if (!failing && !journal_write_health(j)) {
                                        log_error("consume",
                                                  "cannot journal consumed events (%s): "
                                                  "consuming stops until the journal "
                                                  "accepts writes again; nothing is lost",
                                                  journal_errmsg(j));
                                        said = true;
                                }
                                failing = true;
                                retry_at = now + 1000;
                        } else if (failing) {
                                if (said)
                                        log_notice("consume",
                                                   "the journal accepts writes again");
                                failing = said = false;
                        }
                }
                if (n > 0)
                        push_notify(p);
                if (push_run(p, n > 0 ? 0 : 10) < 0 && !journal_write_health(j))
                        log_warning("push", "%s", journal_errmsg(j));
                if (publish_poll(pub) < 0 && !journal_write_health(j))
                        log_warning("publish", "%s", journal_errmsg(j));
                journal_health(j, now, failing, &journal_down);
                /* consuming waits for its retry: no busy loop meanwhile */
                if (!polled && !push_inflight(p))
                        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000L}, NULL);
                if (!ready && consume_joined(cs)) {
                        sd_notify(0, "READY=1\nSTATUS=consuming");
                        ready = true;
                }
                if (watchdog_usec)
                        sd_notify(0, "WATCHDOG=1");
                if (now >= next_backlog) {
                        gauges(m, *c, j, cs, p, backpressure(*c, j, cs));
                        atomic_store(&health.joined, consume_joined(cs));
                        atomic_store(&health.refused, consume_refused(cs));
                        atomic_store(&health.auth_ok, !push_auth_refused(p));
                        atomic_store(&health.tls_error, push_tls_error(p));
                        next_backlog = now + 500;
                }
                if (now >= next_prune)
                        next_prune = prune(*c, j, now);
                if (now >= next_status) {
                        sd_notifyf(0, "STATUS=in flight %d, outbox in flight %zu",
                                   push_inflight(p), publish_inflight(pub));
                        next_status = now + 5000;
                }
        }
        log_notice("main", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return EX_OK;
}

static int run(const char *path)
{
        char err[CONF_ERR_SIZE];
        struct conf *c = NULL;
        struct journal *j = NULL;
        struct publish *pub = NULL;
        struct push *p = NULL;
        struct consume *cs = NULL;
        struct metrics *m = NULL;
        int sigfd = -1, rc;

        if (conf_load(path, 0, &c, err) < 0) {
                fprintf(stderr, "%s\n", err);
                sd_notify(0, "STOPPING=1"); /* on every exit path */
                return EX_CONFIG;
        }
        log_set_level((enum log_level)c->log.level);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = EX_IOERR;
        sigfd = open_signals();
        if (sigfd < 0) {
                log_error("main", "signalfd: %s", strerror(errno));
                goto out;
        }
        struct journal_open_opts jo = {.password = (const char *)c->journal.password,
                                       .lease_ms = c->journal.lease_ms};
        if (journal_open_with(*c->journal.url ? c->journal.url : c->journal.path, &jo,
                              JOURNAL_RECOVER, &j, err, sizeof(err)) < 0) {
                log_error("journal", "%s", err);
                rc = EX_CANTCREAT;
                goto out;
        }
        budgets_say(c, j);
        rc = EX_CONFIG;
        if (publish_open(c, j, &pub, err, sizeof(err)) < 0 ||
            push_open(c, j, &p, err, sizeof(err)) < 0 ||
            consume_open(c, j, &cs, err, sizeof(err)) < 0) {
                log_error("main", "%s", err);
                goto out;
        }
        struct metrics_health mh = {ready, NULL};
        if (metrics_open(c->metrics.listen, &mh, &m, err, sizeof(err)) < 0) {
                log_error("main", "%s: metrics.listen: %s", c->path, err);
                goto out;
        }
        consume_set_metrics(cs, m);
        push_set_metrics(p, m);
        publish_set_metrics(pub, m);
        if (m)
                log_notice("main", "metrics at %s/metrics", metrics_url(m));
        log_notice("main",
                   "bpjs-syncd %s: journal %s (id %s), %zu programmes, endpoint %s",
                   BPJS_VERSION, *c->journal.url ? c->journal.url : c->journal.path,
                   journal_id(j), c->n_programs, c->bpjs.base_url);
        rc = loop(&c, j, cs, p, pub, m, sigfd);
out:
        sd_notify(0, "STOPPING=1");
        /* teardown in the reverse order of set-up */
        consume_close(cs); /* commits the offsets of what is journaled */
        if (p)
                push_drain(p, DRAIN_MS);
        if (pub && publish_flush(pub, FLUSH_MS))
                log_warning("publish",
                            "results left in the outbox; they are published after "
                            "a restart");
        push_close(p);
        publish_close(pub);
        /* last of the stages: push and publish count into it while they drain;
         * its HTTP thread reads only the metrics and the health atomics */
        metrics_close(m);
        journal_close(j);
        if (sigfd >= 0)
                close(sigfd);
        curl_global_cleanup();
        conf_free(c);
        return rc;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"check-config", required_argument, NULL, 't'},
            {"config-reference", no_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        const char *config = NULL;
        int c;

        /* first of all, before the secret is read: no core dump and no
         * ptrace or /proc/PID/mem by the same user can show it (the unit adds
         * LimitCORE=0; docs/operations.md, "The signing secret") */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
                fprintf(stderr, "bpjs-syncd: cannot turn core dumps off: %s\n",
                        strerror(errno));

        /* memory (issue 9): glibc gives each of librdkafka's and
         * libmicrohttpd's threads an arena of its own; two keep the peak
         * resident size down at no measurable cost in speed */
        mallopt(M_ARENA_MAX, 2);
        /* and blocks of 256 KiB and more (librdkafka's fetch responses,
         * up to fetch.max.bytes) mapped and given back when freed: a fixed
         * threshold, not glibc's, which rises with the first such block
         * freed and then keeps them in the heap, where the prefetch's churn
         * leaves them scattered (docs/performance.md, "The prefetch") */
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);

        while ((c = getopt_long(argc, argv, "c:t:hV", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        config = optarg;
                        break;
                case 't':
                        return check_config(optarg);
                case 'R':
                        conf_print_reference(stdout);
                        return EX_OK;
                case 'h':
                        usage(stdout);
                        return EX_OK;
                case 'V':
                        printf("bpjs-syncd %s\n", BPJS_VERSION);
                        return EX_OK;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (!config || optind != argc) {
                usage(stderr);
                return EX_USAGE;
        }
        return run(config);
}
