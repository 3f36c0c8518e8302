/* keyset: the distinct keys of one consumed batch (event ids, NIKs), each
 * with the index of its first appearance. Open addressing over FNV-1a,
 * linear probing; the keys are not copied (they live in the batch). Cleared,
 * not freed, from one batch to the next. */
#ifndef BPJS_KEYSET_H
#define BPJS_KEYSET_H

#include <stddef.h>
#include <stdint.h>

struct keyset {
        const char **keys; /* NULL: empty */
        uint32_t *idx;
        size_t cap, n;
};

/* Finds key, or adds it with index idx. Returns the index kept for the key
 * (idx if it was new), or -ENOMEM. */
long keyset_put(struct keyset *s, const char *key, uint32_t idx);
/* The index kept for key, or -1. */
long keyset_get(const struct keyset *s, const char *key);
void keyset_clear(struct keyset *s);
void keyset_free(struct keyset *s);

#endif
