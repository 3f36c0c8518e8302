/* ctl: see ctl.h. */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "safetext.h"

void ctl_error(const char *verb, const char *fmt, ...)
{
        char raw[2048], text[2048];
        va_list ap;
        int n;

        fprintf(stderr, "%s: ", CTL_PROG);
        if (verb)
                fprintf(stderr, "%s: ", verb);
        va_start(ap, fmt);
        n = vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        /* errors can quote the journal and the endpoint: made safe too */
        safetext_clean(raw, (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1,
                       (size_t)n >= sizeof(raw), text, sizeof(text));
        fputs(text, stderr);
        fputc('\n', stderr);
}

int ctl_config(struct ctl *c, const char *verb, bool required)
{
        char err[CONF_ERR_SIZE];
        const char *path = c->config_path;

        if (c->conf)
                return EX_OK;
        if (!path && c->journal_path && !required)
                return EX_OK; /* the journal alone is enough */
        if (!path)
                path = CTL_DEFAULT_CONFIG;
        if (conf_load(path, CONF_NO_SECRET, &c->conf, err) < 0) {
                ctl_error(verb, "%s", err);
                if (required && c->journal_path && !c->config_path)
                        ctl_error(verb,
                                  "this command needs the programmes' configuration: "
                                  "give --config FILE");
                return EX_CONFIG;
        }
        return EX_OK;
}

int ctl_common_option(struct ctl *c, int opt, void (*usage)(FILE *))
{
        switch (opt) {
        case 'J':
                c->json = true;
                return -1;
        case 'h':
                usage(stdout);
                return EX_OK;
        default:
                usage(stderr);
                return EX_USAGE;
        }
}

int ctl_exit_code(int err)
{
        switch (err) {
        case -ENOENT:
                return EX_UNAVAILABLE;
        case -EBUSY:
                return EX_TEMPFAIL;
        case -ENOMEM:
                return EX_OSERR;
        default:
                return EX_IOERR;
        }
}

int ctl_open(struct ctl *c, const char *verb, bool write)
{
        char err[512];
        int rc = ctl_config(c, verb, false);

        if (rc != EX_OK)
                return rc;
        if (c->jc)
                return EX_OK;
        struct journal_open_opts jo = {
            .password = c->journal_path ? NULL : (const char *)c->conf->journal.password};
        rc = journal_open_with(c->journal_path         ? c->journal_path
                               : *c->conf->journal.url ? c->conf->journal.url
                                                       : c->conf->journal.path,
                               &jo, JOURNAL_OPERATOR | (write ? 0 : JOURNAL_READONLY),
                               &c->jc, err, sizeof(err));
        if (rc < 0) {
                ctl_error(verb, "%s%s", err,
                          rc == -ENOENT ? " (has the daemon ever run with this journal?)"
                                        : "");
                return ctl_exit_code(rc);
        }
        return EX_OK;
}

void ctl_close(struct ctl *c)
{
        journal_close(c->jc);
        c->jc = NULL;
        conf_free(c->conf);
        c->conf = NULL;
}

int ctl_journal_error(struct ctl *c, const char *verb, int err)
{
        if (err == -EBUSY)
                ctl_error(verb, "the journal stayed busy: %s; try again",
                          journal_errmsg(c->jc));
        else if (err == -ENOMEM)
                ctl_error(verb, "out of memory");
        else
                ctl_error(verb, "journal: %s", journal_errmsg(c->jc));
        return ctl_exit_code(err);
}

static int parse_duration(const char *s, int64_t *out)
{
        char *end;
        long long v;
        int64_t unit;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || end[0] == '\0' || end[1] != '\0')
                return -EINVAL;
        switch (*end) {
        case 's':
                unit = 1000;
                break;
        case 'm':
                unit = 60 * 1000;
                break;
        case 'h':
                unit = 3600 * 1000;
                break;
        case 'd':
                unit = 86400 * 1000;
                break;
        default:
                return -EINVAL;
        }
        if (v > INT64_MAX / unit / 2)
                return -EINVAL;
        *out = v * unit;
        return 0;
}

int ctl_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
        struct tm tm = {0};
        int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, off = 0;
        bool local = true;
        int64_t ago;
        time_t t;

        if (parse_duration(s, &ago) == 0) {
                *out = now_ms - ago;
                return 0;
        }
        if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
                return -EINVAL;
        s += n;
        if (*s == 'T' || *s == ' ') {
                if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
                        return -EINVAL;
                s += 1 + n;
                if (*s == ':') {
                        if (sscanf(s + 1, "%2d%n", &sec, &n) != 1 || n != 2)
                                return -EINVAL;
                        s += 1 + n;
                }
                if (*s == 'Z') {
                        local = false;
                        s++;
                } else if (*s == '+' || *s == '-') {
                        int oh, om;
                        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 ||
                            oh > 23 || om > 59)
                                return -EINVAL;
                        off = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
                        local = false;
                        s += 1 + n;
                }
        }
        if (*s || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
            sec > 60)
                return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        tm.tm_isdst = -1;
        t = local ? mktime(&tm) : timegm(&tm) - off;
        if (t == (time_t)-1)
                return -EINVAL;
        *out = (int64_t)t * 1000;
        return 0;
}

const char *ctl_time(int64_t ms, char out[CTL_TIME_SIZE])
{
        if (ms <= 0)
                snprintf(out, CTL_TIME_SIZE, "-");
        else
                clock_format_rfc3339(ms, out, CTL_TIME_SIZE);
        return out;
}

const char *ctl_age(int64_t ms, char out[CTL_TIME_SIZE])
{
        long long s = ms < 0 ? 0 : (long long)(ms / 1000);

        if (s >= 86400)
                snprintf(out, CTL_TIME_SIZE, "%lldd%lldh", s / 86400, s % 86400 / 3600);
        else if (s >= 3600)
                snprintf(out, CTL_TIME_SIZE, "%lldh%lldm", s / 3600, s % 3600 / 60);
        else if (s >= 60)
                snprintf(out, CTL_TIME_SIZE, "%lldm%llds", s / 60, s % 60);
        else
                snprintf(out, CTL_TIME_SIZE, "%llds", s);
        return out;
}

/* Who runs this, for the audit: the real uid's name, never $USER or
 * $SUDO_USER (anyone can set them). Only when the real uid is root, as under
 * sudo, does SUDO_UID name the operator (root could write any name anyway),
 * with SUDO_USER as the name of a uid the passwd database lacks. */
const char *ctl_who(char out[CTL_WHO_SIZE])
{
        const char *sudo_uid = getenv("SUDO_UID"), *name = NULL, *fallback = NULL;
        struct passwd pw, *found = NULL;
        uid_t uid = getuid();
        char buf[4096], *end;
        size_t i = 0;

        if (uid == 0 && sudo_uid && isdigit((unsigned char)sudo_uid[0])) {
                errno = 0;
                unsigned long long v = strtoull(sudo_uid, &end, 10);
                if (!errno && !*end && v < (uid_t)-1) {
                        uid = (uid_t)v;
                        fallback = getenv("SUDO_USER");
                }
        }
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found &&
            found->pw_name && *found->pw_name)
                name = found->pw_name;
        else if (fallback && *fallback)
                name = fallback;
        if (!name) {
                snprintf(out, CTL_WHO_SIZE, "uid %u", (unsigned)uid);
                return out;
        }
        /* printable, bounded */
        for (; name[i] && i + 1 < CTL_WHO_SIZE; i++)
                out[i] = isgraph((unsigned char)name[i]) ? name[i] : '?';
        out[i] = '\0';
        return out;
}

int ctl_batch_state(const char *name)
{
        for (int s = 1; s < 8; s++)
                if (name[0] != '?' && strcmp(journal_batch_state_name(s), name) == 0)
                        return s;
        return 0;
}

const char *ctl_kind_name(int kind)
{
        return kind == JOURNAL_OP_DEACTIVATE ? "deactivations"
               : kind == JOURNAL_OP_REGISTER ? "registrations"
                                             : "?";
}
