#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

enum {
        ACL_USER_OBJ = 0x01,
        ACL_USER = 0x02,
        ACL_GROUP_OBJ = 0x04,
        ACL_GROUP = 0x08,
        ACL_MASK = 0x10,
        ACL_OTHER = 0x20,
};

/* NULL when only the owner and uid may use the file, else why not. */
static const char *acl_problem(int fd, uid_t uid)
{
        unsigned char buf[4 + 8 * 64];
        ssize_t n = fgetxattr(fd, "system.posix_acl_access", buf, sizeof(buf));
        unsigned mask = 7;

        if (n < 0)
                return errno == ENODATA || errno == ENOTSUP ? ""
                                                            : "its ACL cannot be read";
        if (n < 4 || (n - 4) % 8 != 0)
                return "its ACL cannot be read";
        for (ssize_t i = 4; i < n; i += 8) {
                uint16_t tag, perm;
                memcpy(&tag, buf + i, 2);
                memcpy(&perm, buf + i + 2, 2);
                if (tag == ACL_MASK)
                        mask = perm;
        }
        for (ssize_t i = 4; i < n; i += 8) {
                uint16_t tag, perm;
                uint32_t id;
                memcpy(&tag, buf + i, 2);
                memcpy(&perm, buf + i + 2, 2);
                memcpy(&id, buf + i + 4, 4);
                if ((tag == ACL_USER && id != uid && (perm & mask)) ||
                    ((tag == ACL_GROUP_OBJ || tag == ACL_GROUP) && (perm & mask)) ||
                    (tag == ACL_OTHER && perm))
                        return "its ACL lets another user or a group read or write it";
        }
        return NULL;
}

/* 0 when the open file follows the rules, else -EINVAL with why. */
static int check_file(const char *path, int fd, char *why, size_t n)
{
        const char *acl;
        struct stat st;
        uid_t me = geteuid();

        if (fstat(fd, &st) != 0)
                snprintf(why, n, "%s: cannot stat: %s", path, strerror(errno));
        else if (!S_ISREG(st.st_mode))
                snprintf(why, n, "%s: is not a regular file", path);
        else if (st.st_uid != me && st.st_uid != 0)
                snprintf(why, n,
                         "%s: is owned by uid %u; it must belong to the daemon's user "
                         "(uid %u) or root",
                         path, (unsigned)st.st_uid, (unsigned)me);
        else if ((acl = acl_problem(fd, me)) && *acl)
                snprintf(why, n, "%s: %s; only its owner may read it", path, acl);
        else if (acl && (st.st_mode & 077))
                snprintf(why, n,
                         "%s: mode %04o lets group or others read or write it; it must "
                         "be 0600 or 0400 (chmod go= on it)",
                         path, (unsigned)(st.st_mode & 07777));
        else
                return 0;
        return -EINVAL;
}

/* NULL when the n bytes follow SECRET_RULE (n less its final newline). */
static const char *text_problem(const unsigned char *s, size_t *n)
{
        if (*n >= 2 && s[*n - 2] == '\r' && s[*n - 1] == '\n')
                *n -= 2;
        else if (*n >= 1 && s[*n - 1] == '\n')
                *n -= 1;
        if (*n == 0)
                return "the secret file is empty";
        if (*n < SECRET_MIN)
                return "the secret is shorter than 16 characters";
        if (*n > SECRET_MAX)
                return "the secret is longer than 4096 characters";
        for (size_t i = 0; i < *n; i++) {
                if (s[i] == ' ')
                        return "the secret contains a space";
                if (s[i] == '\n' || s[i] == '\r')
                        return "the secret contains a line break (only one final \\n "
                               "or \\r\\n is removed)";
                if (s[i] < 0x20 || s[i] == 0x7f)
                        return "the secret contains a control character (a tab?)";
                if (s[i] > 0x7f)
                        return "the secret contains a byte outside ASCII";
        }
        return NULL;
}

int secret_read(const char *path, unsigned char **out, size_t *len, char *why,
                size_t whysize)
{
        unsigned char buf[SECRET_MAX + 3];
        const char *problem;
        size_t n = 0;
        ssize_t got;
        int fd, r;

        /* O_NONBLOCK: a FIFO must not hang the start; it is refused below */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                snprintf(why, whysize, "cannot read %s: %s", path, strerror(-r));
                return r;
        }
        r = check_file(path, fd, why, whysize);
        while (r == 0 && n < sizeof(buf)) {
                got = read(fd, buf + n, sizeof(buf) - n);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got < 0) {
                        r = -errno;
                        snprintf(why, whysize, "%s: cannot read: %s", path, strerror(-r));
                }
                if (got <= 0)
                        break;
                n += (size_t)got;
        }
        close(fd);
        if (r == 0 && (problem = text_problem(buf, &n))) {
                snprintf(why, whysize, "%s: %s; %s", path, problem, SECRET_RULE);
                r = -EINVAL;
        }
        if (r == 0) {
                *out = malloc(n);
                if (*out) {
                        memcpy(*out, buf, n);
                        *len = n;
                } else {
                        r = -ENOMEM;
                        snprintf(why, whysize, "%s: out of memory", path);
                }
        }
        explicit_bzero(buf, sizeof(buf));
        return r;
}
