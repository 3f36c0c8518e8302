#include "keyset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
        return (size_t)(h ^ (h >> 29));
}

static size_t probe(const char *const *keys, size_t cap, const char *key)
{
        size_t i = hash(key) & (cap - 1);
        while (keys[i] && strcmp(keys[i], key) != 0)
                i = (i + 1) & (cap - 1);
        return i;
}

static int grow(struct keyset *s)
{
        size_t cap = s->cap ? s->cap * 2 : 256;
        const char **keys = calloc(cap, sizeof(*keys));
        uint32_t *idx = calloc(cap, sizeof(*idx));

        if (!keys || !idx) {
                free(keys);
                free(idx);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->keys[i])
                        continue;
                size_t k = probe(keys, cap, s->keys[i]);
                keys[k] = s->keys[i];
                idx[k] = s->idx[i];
        }
        free(s->keys);
        free(s->idx);
        s->keys = keys;
        s->idx = idx;
        s->cap = cap;
        return 0;
}

long keyset_put(struct keyset *s, const char *key, uint32_t idx)
{
        size_t i;

        /* at most half full */
        if ((s->n + 1) * 2 > s->cap && grow(s))
                return -ENOMEM;
        i = probe(s->keys, s->cap, key);
        if (s->keys[i])
                return s->idx[i];
        s->keys[i] = key;
        s->idx[i] = idx;
        s->n++;
        return idx;
}

long keyset_get(const struct keyset *s, const char *key)
{
        if (!s->cap)
                return -1;
        size_t i = probe(s->keys, s->cap, key);
        return s->keys[i] ? (long)s->idx[i] : -1;
}

void keyset_clear(struct keyset *s)
{
        if (s->n)
                memset(s->keys, 0, s->cap * sizeof(*s->keys));
        s->n = 0;
}

void keyset_free(struct keyset *s)
{
        free(s->keys);
        free(s->idx);
        *s = (struct keyset){0};
}
