/* bpjs-syncctl: the operator's view of bpjs-syncd's journal: what the
 * daemon is doing, what failed and why, and replay of failed batches.
 * Safe while the daemon runs: short transactions, never a lock held. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

static const struct verb {
        const char *name;
        int (*run)(struct ctl *c, int argc, char **argv);
        const char *summary;
} verbs[] = {
    {"status", status_run, "backlog, last endpoint error, quota use, counters"},
    {"batches", batches_run, "list batches, by state, programme or time"},
    {"batch", batch_show_run, "batch show ID: one batch, its items and history"},
    {"replay", replay_run, "queue failed batches again (--dry-run says what)"},
    {"worker", worker_run, "one worker's events, coverage and operations"},
    {"dead-letters", dead_letters_run, "rejected events and why"},
    {"audit", audit_run, "what operators did, and who"},
    {"report", report_run, "premium report: workers, premium due, budget"},
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: " CTL_PROG " [--config FILE | --journal PATH] [--json] COMMAND "
                "[ARGS]\n"
                "\n"
                "  -c, --config FILE   the daemon's configuration "
                "(default " CTL_DEFAULT_CONFIG ")\n"
                "  -j, --journal PATH  the journal, instead of the configuration's\n"
                "      --json          one JSON object per line instead of tables\n"
                "  -h, --help          this text; COMMAND --help for a command's\n"
                "  -V, --version       print the version\n"
                "\n"
                "Commands:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(f, "  %-13s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(
            f,
            "\n"
            "Exit status: 0 ok, 64 usage, 65 bad data (unknown batch, worker or "
            "programme),\n"
            "69 no journal, 74 journal unreadable, 75 journal busy, 78 configuration.\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"journal", required_argument, NULL, 'j'},
            {"json", no_argument, NULL, 'J'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        struct ctl c = {0};
        int opt, rc;

        /* "+": stop at the command; its options are its own */
        while ((opt = getopt_long(argc, argv, "+c:j:hV", opts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        c.config_path = optarg;
                        break;
                case 'j':
                        c.journal_path = optarg;
                        break;
                case 'J':
                        c.json = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EX_OK;
                case 'V':
                        printf(CTL_PROG " %s\n", BPJS_VERSION);
                        return EX_OK;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return EX_USAGE;
        }
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(argv[optind], verbs[i].name) != 0)
                        continue;
                int vargc = argc - optind;
                char **vargv = argv + optind;
                optind = 0; /* getopt_long starts afresh on the command's arguments */
                rc = verbs[i].run(&c, vargc, vargv);
                ctl_close(&c);
                if (fflush(stdout) != 0 && rc == EX_OK) {
                        ctl_error(NULL, "cannot write the output");
                        rc = EX_IOERR;
                }
                return rc;
        }
        ctl_error(NULL, "unknown command '%s' (see --help)", argv[optind]);
        return EX_USAGE;
}
