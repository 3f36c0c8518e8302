/* bpjs-syncd: consumes enrollment events, decides, journals, pushes
 * registrations to the BPJS endpoint and publishes every result. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "config.h"
#include "log.h"

static void usage(FILE *f)
{
        fprintf(f, "Usage: bpjs-syncd --config FILE\n"
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
        fprintf(stderr, "bpjs-syncd: the pipeline is not built yet\n");
        return EX_SOFTWARE;
}
