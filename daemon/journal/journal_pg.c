/* The PostgreSQL backend of the journal: not built yet. */
#include "journal_backend.h"

#include <errno.h>
#include <stdio.h>

int jpg_open(const char *url, const char *password, unsigned flags, struct journal **out,
             char *err, size_t errsize)
{
        (void)url, (void)password, (void)flags, (void)out;
        snprintf(err, errsize, "journal.url: the PostgreSQL backend is not built yet");
        return -ENOTSUP;
}
