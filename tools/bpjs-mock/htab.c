/* htab: see htab.h. */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 64

/* The finaliser of MurmurHash3: spreads every input bit over the word. */
static uint64_t mix(uint64_t h)
{
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

uint64_t htab_hash_str(const char *s)
{
        uint64_t h = 0xcbf29ce484222325ULL;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 0x100000001b3ULL;
        }
        return mix(h);
}

uint64_t htab_hash_u64(uint64_t v)
{
        return mix(v ^ 0x9e3779b97f4a7c15ULL);
}

int htab_init(struct htab *t)
{
        t->slots = calloc(MIN_SLOTS, sizeof(*t->slots));
        if (!t->slots)
                return -ENOMEM;
        t->mask = MIN_SLOTS - 1;
        t->count = 0;
        return 0;
}

void htab_fini(struct htab *t)
{
        free(t->slots);
        t->slots = NULL;
        t->mask = 0;
        t->count = 0;
}

void htab_clear(struct htab *t)
{
        memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
        t->count = 0;
}

static void place(struct htab_slot *slots, size_t mask, uint64_t hash, void *item)
{
        size_t i = hash & mask;

        while (slots[i].item)
                i = (i + 1) & mask;
        slots[i].hash = hash;
        slots[i].item = item;
}

int htab_reserve(struct htab *t, size_t n)
{
        size_t want = t->count + n;
        size_t cap = t->mask + 1;
        struct htab_slot *slots;

        /* Keep the load factor at or under 0.7. */
        if (want * 10 <= cap * 7)
                return 0;
        while (want * 10 > cap * 7) {
                if (cap > SIZE_MAX / 2 / sizeof(*slots))
                        return -ENOMEM;
                cap *= 2;
        }
        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i <= t->mask; i++)
                if (t->slots[i].item)
                        place(slots, cap - 1, t->slots[i].hash, t->slots[i].item);
        free(t->slots);
        t->slots = slots;
        t->mask = cap - 1;
        return 0;
}

static size_t lookup(const struct htab *t, uint64_t hash, const void *key,
                     htab_match_fn match)
{
        size_t i = hash & t->mask;

        while (t->slots[i].item) {
                if (t->slots[i].hash == hash && match(t->slots[i].item, key))
                        return i;
                i = (i + 1) & t->mask;
        }
        return SIZE_MAX;
}

void *htab_find(const struct htab *t, uint64_t hash, const void *key, htab_match_fn match)
{
        size_t i = lookup(t, hash, key, match);

        return i == SIZE_MAX ? NULL : t->slots[i].item;
}

int htab_add(struct htab *t, uint64_t hash, void *item)
{
        int r = htab_reserve(t, 1);

        if (r < 0)
                return r;
        place(t->slots, t->mask, hash, item);
        t->count++;
        return 0;
}

void *htab_del(struct htab *t, uint64_t hash, const void *key, htab_match_fn match)
{
        size_t i = lookup(t, hash, key, match);
        size_t j;
        void *item;

        if (i == SIZE_MAX)
                return NULL;
        item = t->slots[i].item;
        /* Backward-shift: move later members of the probe run into the hole
         * unless that would put them before their home slot. */
        j = i;
        for (;;) {
                size_t home;

                j = (j + 1) & t->mask;
                if (!t->slots[j].item)
                        break;
                home = t->slots[j].hash & t->mask;
                if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
                        t->slots[i] = t->slots[j];
                        i = j;
                }
        }
        t->slots[i].item = NULL;
        t->slots[i].hash = 0;
        t->count--;
        return item;
}
