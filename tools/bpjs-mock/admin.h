/* admin: the unauthenticated /_mock/ endpoints that tests and demos use to
 * look inside the mock and to steer it. */
#ifndef BPJS_MOCK_ADMIN_H
#define BPJS_MOCK_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "faults.h"
#include "store.h"

#define ADMIN_PREFIX "/_mock/"

/* Answers one admin request whose body (NUL-terminated) has been read. */
enum MHD_Result admin_handle(struct MHD_Connection *c, const char *method,
                             const char *url, const char *body, size_t len,
                             bool too_large, struct store *s, struct faults *f);

#endif
