/* textpool: strings copied into large blocks that never move, all let go
 * of at once. A consumed batch keeps its events' free-text fields here, at
 * their own length, instead of in buffers sized for the longest UTF-8 a
 * field allows. Cleared, not freed, from one batch to the next. */
#ifndef BPJS_TEXTPOOL_H
#define BPJS_TEXTPOOL_H

#include <stddef.h>

struct textpool_block;

struct textpool {
        struct textpool_block *first, *cur; /* NULL: empty */
};

/* Room for size bytes, valid until the pool is cleared or freed; NULL when
 * out of memory. */
char *textpool_alloc(struct textpool *p, size_t size);
/* A copy of len bytes of s, NUL-terminated, valid until the pool is
 * cleared or freed; NULL when out of memory. */
const char *textpool_copy(struct textpool *p, const char *s, size_t len);
/* Lets go of every copy; keeps the first block for the next use. */
void textpool_clear(struct textpool *p);
void textpool_free(struct textpool *p);

#endif
