/* respond: queues JSON responses on a libmicrohttpd connection. */
#ifndef BPJS_MOCK_RESPOND_H
#define BPJS_MOCK_RESPOND_H

#include <stddef.h>

#include <microhttpd.h>

#include "jbuf.h"

/* Queues body, which it takes over (malloc'd), with an optional extra header
 * (name NULL for none). */
enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, char *body,
                             size_t len, const char *name, const char *value);
/* Queues what b holds and empties b; MHD_NO when b failed to grow. */
enum MHD_Result respond_jbuf(struct MHD_Connection *c, unsigned status, struct jbuf *b);
/* Queues the error envelope of the contract. */
enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status,
                              const char *message, const char *name, const char *value);

#endif
