/* jbuf: a growable byte buffer for writing JSON. Appends never fail on the
 * spot: an allocation failure is remembered and reported by jbuf_take() or
 * jbuf_error(), so writers can append without checking every call. */
#ifndef BPJS_MOCK_JBUF_H
#define BPJS_MOCK_JBUF_H

#include <stddef.h>
#include <stdint.h>

struct jbuf {
        char *data;
        size_t len;
        size_t cap;
        int err;
};

void jbuf_init(struct jbuf *b);
void jbuf_free(struct jbuf *b);
/* Forgets the content and any error; keeps the allocation. */
void jbuf_reset(struct jbuf *b);
void jbuf_put(struct jbuf *b, const char *s, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);
void jbuf_printf(struct jbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void jbuf_u64(struct jbuf *b, uint64_t v);
/* A JSON string literal with its quotes; NULL writes null. */
void jbuf_str(struct jbuf *b, const char *s);
/* 0 or the remembered negative errno. */
int jbuf_error(const struct jbuf *b);
/* Hands the NUL-terminated content to the caller; the buffer is left empty.
 * 0, or the remembered error (then the content is freed). */
int jbuf_take(struct jbuf *b, char **ret, size_t *ret_len);

#endif
