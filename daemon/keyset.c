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

static size_t find(const struct keyset *s, const char *key)
{
        size_t i = hash(key) & (s->cap - 1);
        while (s->keys[i] && strcmp(s->keys[i], key) != 0)
                i = (i + 1) & (s->cap - 1);
        return i;
}

static int grow(struct keyset *s)
{
        struct keyset bigger = {.cap = s->cap ? s->cap * 2 : 256};

        bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
        bigger.idx = calloc(bigger.cap, sizeof(*bigger.idx));
        if (!bigger.keys || !bigger.idx) {
                keyset_free(&bigger);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->keys[i])
                        continue;
                size_t k = find(&bigger, s->keys[i]);
                bigger.keys[k] = s->keys[i];
                bigger.idx[k] = s->idx[i];
        }
        bigger.n = s->n;
        keyset_free(s);
        *s = bigger;
        return 0;
}

long keyset_put(struct keyset *s, const char *key, uint32_t idx)
{
        size_t i;

        /* at most half full */
        if ((s->n + 1) * 2 > s->cap && grow(s))
                return -ENOMEM;
        i = find(s, key);
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
        size_t i = find(s, key);
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
