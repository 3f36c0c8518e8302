/* respond: see respond.h. */
#include "respond.h"

#include <stdlib.h>

#include "batch.h"

#define CONTENT_TYPE "application/json; charset=utf-8"

enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, char *body,
                             size_t len, const char *name, const char *value)
{
        struct MHD_Response *resp;
        enum MHD_Result r;

        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
        if (name)
                MHD_add_response_header(resp, name, value);
        r = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return r;
}

enum MHD_Result respond_jbuf(struct MHD_Connection *c, unsigned status, struct jbuf *b)
{
        char *body;
        size_t len;

        /* Out of memory: closing the connection is all that is left. */
        if (jbuf_take(b, &body, &len) < 0)
                return MHD_NO;
        return respond_json(c, status, body, len, NULL, NULL);
}

enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status,
                              const char *message, const char *name, const char *value)
{
        struct jbuf b;
        char *body;
        size_t len;

        jbuf_init(&b);
        batch_render_error((int)status, message, &b);
        if (jbuf_take(&b, &body, &len) < 0)
                return MHD_NO;
        return respond_json(c, status, body, len, name, value);
}
