#include "nikset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t key_of(const char *nik)
{
        uint64_t k = 0;
        for (size_t i = 0; i < 19 && nik[i]; i++)
                k = k * 10 + (uint64_t)(nik[i] - '0');
        return k + 1;
}

static size_t slot_of(uint64_t k, size_t cap)
{
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        return (size_t)k & (cap - 1);
}

static size_t find(const struct nikset *s, uint64_t k)
{
        size_t i = slot_of(k, s->cap);
        while (s->keys[i] && s->keys[i] != k)
                i = (i + 1) & (s->cap - 1);
        return i;
}

static int grow(struct nikset *s)
{
        struct nikset bigger = {0};
        bigger.cap = s->cap ? s->cap * 2 : 64;
        bigger.keys = calloc(bigger.cap, sizeof(*bigger.keys));
        bigger.counts = calloc(bigger.cap, sizeof(*bigger.counts));
        if (!bigger.keys || !bigger.counts) {
                nikset_free(&bigger);
                return -ENOMEM;
        }
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->keys[i])
                        continue;
                size_t j = find(&bigger, s->keys[i]);
                bigger.keys[j] = s->keys[i];
                bigger.counts[j] = s->counts[i];
        }
        free(s->keys);
        free(s->counts);
        s->keys = bigger.keys;
        s->counts = bigger.counts;
        s->cap = bigger.cap;
        return 0;
}

int nikset_add(struct nikset *s, const char *nik)
{
        uint64_t k = key_of(nik);
        size_t i;

        if ((s->n + 1) * 2 > s->cap && grow(s))
                return -ENOMEM;
        i = find(s, k);
        if (!s->keys[i]) {
                s->keys[i] = k;
                s->counts[i] = 0;
                s->n++;
        }
        s->counts[i]++;
        return 0;
}

bool nikset_has(const struct nikset *s, const char *nik)
{
        return s->cap && s->keys[find(s, key_of(nik))];
}

void nikset_del(struct nikset *s, const char *nik)
{
        size_t i, j;

        if (!s->cap)
                return;
        i = find(s, key_of(nik));
        if (!s->keys[i] || --s->counts[i] > 0)
                return;
        /* backward-shift deletion keeps every probe chain whole */
        s->keys[i] = 0;
        s->counts[i] = 0;
        s->n--;
        for (j = (i + 1) & (s->cap - 1); s->keys[j]; j = (j + 1) & (s->cap - 1)) {
                size_t home = slot_of(s->keys[j], s->cap);
                if ((j > i && (home <= i || home > j)) ||
                    (j < i && home <= i && home > j)) {
                        s->keys[i] = s->keys[j];
                        s->counts[i] = s->counts[j];
                        s->keys[j] = 0;
                        s->counts[j] = 0;
                        i = j;
                }
        }
}

void nikset_clear(struct nikset *s)
{
        if (s->cap) {
                memset(s->keys, 0, s->cap * sizeof(*s->keys));
                memset(s->counts, 0, s->cap * sizeof(*s->counts));
        }
        s->n = 0;
}

void nikset_free(struct nikset *s)
{
        free(s->keys);
        free(s->counts);
        s->keys = NULL;
        s->counts = NULL;
        s->cap = s->n = 0;
}
