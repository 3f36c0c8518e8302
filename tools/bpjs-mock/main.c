/* bpjs-mock: the project's own implementation of the BPJS registration
 * endpoint contract (docs/bpjs-mock.md), for integration tests, the demo and
 * the benchmark.
 *
 * main: the command line, the secret file, and the life-cycle: faults ->
 * store -> http up, one URL line on stdout, wait for SIGTERM/SIGINT (or EOF on
 * stdin), then down in the reverse order. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "faults.h"
#include "http.h"
#include "log.h"
#include "store.h"

#define MAX_SECRET     4096
#define MAX_CONS_ID    32
#define MAX_THREADS    256
#define DEFAULT_LISTEN "127.0.0.1:0"
#define DEFAULT_TTL    86400
#define MAX_SKEW       300
#define KNOB_BASE      1000
#define MAX_PEM        (1024 * 1024)

enum {
        OPT_SECRET = 256,
        OPT_IDEMPOTENCY_TTL,
        OPT_EXIT_ON_STDIN_EOF,
        OPT_VERSION,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_TLS_CLIENT_CA,
};

struct options {
        const char *listen;
        const char *cons_id;
        const char *secret_file;
        const char *tls_cert, *tls_key, *tls_client_ca; /* file names */
        unsigned threads;
        unsigned ttl;
        bool exit_on_stdin_eof;
        bool verbose;
        struct faults_config faults;
};

static const struct option base_options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"cons-id", required_argument, NULL, 'c'},
    {"secret-file", required_argument, NULL, 's'},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"threads", required_argument, NULL, 't'},
    {"idempotency-ttl", required_argument, NULL, OPT_IDEMPOTENCY_TTL},
    {"exit-on-stdin-eof", no_argument, NULL, OPT_EXIT_ON_STDIN_EOF},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
};

#define N_BASE   (sizeof(base_options) / sizeof(base_options[0]))
#define MAX_OPTS (N_BASE + 32)

static void usage(FILE *f)
{
        fprintf(
            f,
            "Usage: bpjs-mock --cons-id ID --secret-file FILE [OPTION]...\n"
            "A faithful mock of the BPJS registration endpoint (HTTP or HTTPS, "
            "loopback).\n"
            "Prints one line, http://ADDR:PORT (https:// with --tls-cert), once it\n"
            "listens; runs until SIGTERM or SIGINT. See docs/bpjs-mock.md.\n"
            "\n"
            "  --listen ADDR:PORT     address to listen on (default " DEFAULT_LISTEN ",\n"
            "                         port 0 picks a free port; [::1]:PORT for IPv6)\n"
            "  --cons-id ID           the consumer id clients must send (digits)\n"
            "  --secret-file FILE     the HMAC secret: the file's content, one\n"
            "                         trailing newline stripped (never on argv)\n"
            "  --threads N            server threads (default 2)\n"
            "  --idempotency-ttl S    seconds an Idempotency-Key is remembered\n"
            "                         (default %d)\n"
            "  --exit-on-stdin-eof    also exit when stdin reaches end of file\n"
            "  --tls-cert FILE        serve HTTPS with this PEM certificate (chain)\n"
            "  --tls-key FILE         and this PEM private key (both required for TLS)\n"
            "  --tls-client-ca FILE   demand a client certificate signed by this PEM CA\n"
            "                         (mutual TLS; needs --tls-cert)\n"
            "  --verbose              log one line per batch (NIKs masked)\n"
            "  -h, --help, --version\n"
            "\n"
            "Faults (also at run time: POST /_mock/faults):\n",
            DEFAULT_TTL);
        faults_usage(f);
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static bool all_digits(const char *s, size_t max)
{
        size_t n = strspn(s, "0123456789");

        return n > 0 && n <= max && s[n] == '\0';
}

/* Builds the getopt table: the fixed options, then one per fault knob. */
static void build_options(struct option *opts, char names[][32])
{
        size_t n = 0, i = 0;
        const char *name;
        bool takes_value;

        memcpy(opts, base_options, sizeof(base_options));
        n = N_BASE;
        while ((name = faults_knob_name(i, &takes_value)) && n < MAX_OPTS - 1) {
                snprintf(names[i], 32, "%s", name);
                for (char *p = names[i]; *p; p++)
                        if (*p == '_')
                                *p = '-';
                opts[n].name = names[i];
                opts[n].has_arg = takes_value ? required_argument : no_argument;
                opts[n].flag = NULL;
                opts[n].val = KNOB_BASE + (int)i;
                n++;
                i++;
        }
        memset(&opts[n], 0, sizeof(opts[n]));
}

/* 0, 1 when --help or --version answered, or EX_USAGE (logged). */
static int parse_args(int argc, char **argv, struct options *o)
{
        struct option opts[MAX_OPTS];
        char names[MAX_OPTS][32];
        int c;

        o->listen = DEFAULT_LISTEN;
        o->threads = 2;
        o->ttl = DEFAULT_TTL;
        faults_config_default(&o->faults);
        build_options(opts, names);
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'l':
                        o->listen = optarg;
                        break;
                case 'c':
                        o->cons_id = optarg;
                        break;
                case 's':
                        o->secret_file = optarg;
                        break;
                case OPT_SECRET:
                        /* Scrub it from argv, which ps shows to everyone. */
                        explicit_bzero(optarg, strlen(optarg));
                        fprintf(stderr, "bpjs-mock: a secret is never accepted on the "
                                        "command line; use --secret-file\n");
                        return EX_USAGE;
                case 't':
                        if (parse_uint(optarg, 1, MAX_THREADS, &o->threads) < 0) {
                                fprintf(stderr, "bpjs-mock: --threads: must be 1 to %d\n",
                                        MAX_THREADS);
                                return EX_USAGE;
                        }
                        break;
                case OPT_IDEMPOTENCY_TTL:
                        if (parse_uint(optarg, 1, 10 * 365 * 86400, &o->ttl) < 0) {
                                fprintf(stderr, "bpjs-mock: --idempotency-ttl: must be a "
                                                "positive number of seconds\n");
                                return EX_USAGE;
                        }
                        break;
                case OPT_EXIT_ON_STDIN_EOF:
                        o->exit_on_stdin_eof = true;
                        break;
                case OPT_TLS_CERT:
                        o->tls_cert = optarg;
                        break;
                case OPT_TLS_KEY:
                        o->tls_key = optarg;
                        break;
                case OPT_TLS_CLIENT_CA:
                        o->tls_client_ca = optarg;
                        break;
                case 'v':
                        o->verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                case OPT_VERSION:
                        printf("bpjs-mock %s\n", BPJS_VERSION);
                        return 1;
                default:
                        if (c >= KNOB_BASE && c < KNOB_BASE + 32) {
                                const char *knob = names[c - KNOB_BASE];

                                if (faults_config_set(&o->faults, knob, optarg) == 0)
                                        break;
                                fprintf(stderr, "bpjs-mock: --%s: bad value \"%s\"\n",
                                        knob, optarg ? optarg : "");
                                return EX_USAGE;
                        }
                        fprintf(stderr, "Try 'bpjs-mock --help'.\n");
                        return EX_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bpjs-mock: unexpected argument \"%s\"\n", argv[optind]);
                return EX_USAGE;
        }
        if (!o->cons_id || !all_digits(o->cons_id, MAX_CONS_ID)) {
                fprintf(stderr, "bpjs-mock: --cons-id: required, 1 to %d digits\n",
                        MAX_CONS_ID);
                return EX_USAGE;
        }
        if (!o->secret_file) {
                fprintf(stderr, "bpjs-mock: --secret-file is required\n");
                return EX_USAGE;
        }
        if (!o->tls_cert != !o->tls_key) {
                fprintf(stderr, "bpjs-mock: --tls-cert and --tls-key go together\n");
                return EX_USAGE;
        }
        if (o->tls_client_ca && !o->tls_cert) {
                fprintf(stderr, "bpjs-mock: --tls-client-ca needs --tls-cert and "
                                "--tls-key\n");
                return EX_USAGE;
        }
        return 0;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into *ss. 0 or -EINVAL (logged). */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
        struct addrinfo hints = {0}, *res = NULL;
        const char *colon = strrchr(text, ':');
        char host[256];
        size_t n;
        int r;

        if (!colon || colon == text || !all_digits(colon + 1, 5))
                goto bad;
        n = (size_t)(colon - text);
        if (text[0] == '[' && text[n - 1] == ']') {
                text++;
                n -= 2;
        }
        if (n == 0 || n >= sizeof(host))
                goto bad;
        memcpy(host, text, n);
        host[n] = '\0';
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        r = getaddrinfo(host, colon + 1, &hints, &res);
        if (r != 0) {
                fprintf(stderr, "bpjs-mock: --listen %s: %s\n", host, gai_strerror(r));
                return -EINVAL;
        }
        memcpy(ss, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
bad:
        fprintf(stderr, "bpjs-mock: --listen: expected ADDR:PORT, got \"%s\"\n", text);
        return -EINVAL;
}

/* Reads the secret; one trailing newline is not part of it. 0 or negative
 * errno (logged). The caller wipes and frees *ret. */
static int read_secret(const char *path, unsigned char **ret, size_t *ret_len)
{
        unsigned char *buf = NULL;
        size_t len = 0;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                fprintf(stderr, "bpjs-mock: --secret-file %s: %s\n", path, strerror(-r));
                return r;
        }
        buf = malloc(MAX_SECRET + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, MAX_SECRET + 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        fprintf(stderr, "bpjs-mock: --secret-file %s: %s\n", path,
                                strerror(-r));
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > MAX_SECRET)
                        break;
        }
        if (len > MAX_SECRET) {
                r = -EFBIG;
                fprintf(stderr, "bpjs-mock: --secret-file %s: longer than %d bytes\n",
                        path, MAX_SECRET);
                goto out;
        }
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len == 0) {
                r = -EINVAL;
                fprintf(stderr, "bpjs-mock: --secret-file %s: the secret is empty\n",
                        path);
                goto out;
        }
out:
        close(fd);
        if (r < 0) {
                if (buf)
                        explicit_bzero(buf, MAX_SECRET + 1);
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* Reads a PEM file (a certificate, a key or a CA) into a NUL-terminated
 * string, as libmicrohttpd takes them. 0 or a negative errno (logged, naming
 * the option). The caller frees *ret (wiped first: it may be a key). */
static int read_pem(const char *option, const char *path, char **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;
        int r = 0;

        if (!f) {
                r = -errno;
                fprintf(stderr, "bpjs-mock: %s %s: %s\n", option, path, strerror(-r));
                return r;
        }
        buf = malloc(MAX_PEM + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        len = fread(buf, 1, MAX_PEM + 1, f);
        if (ferror(f)) {
                r = -EIO;
                fprintf(stderr, "bpjs-mock: %s %s: read error\n", option, path);
        } else if (len > MAX_PEM) {
                r = -EFBIG;
                fprintf(stderr, "bpjs-mock: %s %s: longer than %d bytes\n", option, path,
                        MAX_PEM);
        } else if (!memmem(buf, len, "-----BEGIN ", 11)) {
                r = -EINVAL;
                fprintf(stderr, "bpjs-mock: %s %s: not a PEM file\n", option, path);
        }
out:
        fclose(f);
        if (r < 0) {
                if (buf)
                        explicit_bzero(buf, MAX_PEM + 1);
                free(buf);
                return r;
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

static void free_pem(char *pem, size_t len)
{
        if (pem)
                explicit_bzero(pem, len);
        free(pem);
}

/* Blocks until SIGTERM/SIGINT, or EOF on stdin when asked to watch it. */
static int wait_for_exit(int sfd, bool watch_stdin)
{
        struct pollfd fds[2] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = watch_stdin ? STDIN_FILENO : -1, .events = POLLIN},
        };

        for (;;) {
                char buf[512];
                ssize_t n;

                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (fds[0].revents) {
                        struct signalfd_siginfo si;

                        if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                log_info("bpjs-mock", "%s, exiting",
                                         strsignal((int)si.ssi_signo));
                        return 0;
                }
                if (!fds[1].revents)
                        continue;
                n = read(STDIN_FILENO, buf, sizeof(buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        log_info("bpjs-mock", "end of stdin, exiting");
                        return 0;
                }
        }
}

int main(int argc, char **argv)
{
        struct options o = {0};
        struct sockaddr_storage addr;
        socklen_t addr_len = 0;
        unsigned char *secret = NULL;
        size_t secret_len = 0;
        struct faults *faults = NULL;
        struct store *store = NULL;
        struct http *http = NULL;
        struct http_config hc;
        char *pem[3] = {NULL, NULL, NULL}; /* certificate, key, client CA */
        size_t pem_len[3] = {0, 0, 0};
        sigset_t mask;
        int sfd = -1, r, ret = EX_OK;

        r = parse_args(argc, argv, &o);
        if (r != 0)
                return r == 1 ? EX_OK : r;
        if (parse_listen(o.listen, &addr, &addr_len) < 0)
                return EX_USAGE;
        if (o.verbose)
                log_set_level(LOG_LVL_DEBUG);
        if (read_secret(o.secret_file, &secret, &secret_len) < 0)
                return EX_NOINPUT;
        if ((o.tls_cert &&
             read_pem("--tls-cert", o.tls_cert, &pem[0], &pem_len[0]) < 0) ||
            (o.tls_key && read_pem("--tls-key", o.tls_key, &pem[1], &pem_len[1]) < 0) ||
            (o.tls_client_ca &&
             read_pem("--tls-client-ca", o.tls_client_ca, &pem[2], &pem_len[2]) < 0)) {
                ret = EX_NOINPUT;
                goto out;
        }

        /* Signals become events on a descriptor; every thread started from
         * here on inherits the blocked mask. */
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                log_error("bpjs-mock", "signalfd: %s", strerror(errno));
                ret = EX_OSERR;
                goto out;
        }

        r = faults_new(&o.faults, &faults);
        if (r == 0)
                r = store_new(o.ttl, &store);
        if (r < 0) {
                log_error("bpjs-mock", "%s", strerror(-r));
                ret = EX_OSERR;
                goto out;
        }
        hc = (struct http_config){
            .cons_id = o.cons_id,
            .secret = secret,
            .secret_len = secret_len,
            .threads = o.threads,
            .max_skew = MAX_SKEW,
            .addr = (const struct sockaddr *)&addr,
            .addr_len = addr_len,
            .tls_cert = pem[0],
            .tls_key = pem[1],
            .tls_client_ca = pem[2],
        };
        if (http_start(&hc, store, faults, &http) < 0) {
                ret = EX_UNAVAILABLE;
                goto out;
        }
        log_info("bpjs-mock", "listening on %s (cons-id %s, %u threads, seed %llu%s)",
                 http_url(http), o.cons_id, o.threads, (unsigned long long)o.faults.seed,
                 pem[2] ? ", client certificates required" : "");
        printf("%s\n", http_url(http));
        fflush(stdout);

        if (wait_for_exit(sfd, o.exit_on_stdin_eof) < 0)
                ret = EX_OSERR;
out:
        http_stop(http);
        store_free(store);
        faults_free(faults);
        if (sfd >= 0)
                close(sfd);
        if (secret)
                explicit_bzero(secret, secret_len);
        free(secret);
        for (int i = 0; i < 3; i++)
                free_pem(pem[i], pem_len[i]);
        return ret;
}
