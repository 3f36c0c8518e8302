/* secret: the BPJS signing secret's file, as ssh treats a private key: a
 * regular file, owned by the daemon's user or root, that nobody else may
 * read or write (under a POSIX ACL the entries are read instead of the
 * mode's group bits, so systemd's credentials pass: 0440 on tmpfs, owned by
 * root, with an ACL entry for the service's user only). Its text is the
 * file's bytes less one final \n or \r\n, and must be SECRET_MIN to
 * SECRET_MAX printable ASCII characters without spaces. */
#ifndef BPJS_SECRET_H
#define BPJS_SECRET_H

#include <stddef.h>

#define SECRET_MIN 16
#define SECRET_MAX 4096
#define SECRET_RULE                                                                      \
        "the secret is the file's bytes less one final \\n or \\r\\n, and must be "      \
        "16 to 4096 printable ASCII characters without spaces"

/* Reads the secret of the file at path into *out (malloc'd, *len bytes;
 * the caller wipes and frees it). Returns 0, or a negative errno with why
 * saying what is wrong ("PATH: mode 0644 lets group or others ...",
 * "cannot read PATH: ..."), never any byte of the secret. */
int secret_read(const char *path, unsigned char **out, size_t *len, char *why,
                size_t whysize);

#endif
