/* htab: an open-addressing hash table (linear probing, backward-shift
 * deletion) of opaque non-NULL items. The caller hashes keys and says how an
 * item matches a key, so one table type serves string and integer keys. */
#ifndef BPJS_MOCK_HTAB_H
#define BPJS_MOCK_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct htab_slot {
        uint64_t hash;
        void *item;
};

struct htab {
        struct htab_slot *slots;
        size_t mask;
        size_t count;
};

/* Returns nonzero when item has the key. */
typedef int (*htab_match_fn)(const void *item, const void *key);

uint64_t htab_hash_str(const char *s);
uint64_t htab_hash_u64(uint64_t v);

int htab_init(struct htab *t);
void htab_fini(struct htab *t);
/* Drops every item (the caller frees them) and keeps the allocation. */
void htab_clear(struct htab *t);
/* Makes room for n more items without reallocating. 0 or -ENOMEM. */
int htab_reserve(struct htab *t, size_t n);
void *htab_find(const struct htab *t, uint64_t hash, const void *key,
                htab_match_fn match);
/* Adds an item whose key is not in the table yet. 0 or -ENOMEM. */
int htab_add(struct htab *t, uint64_t hash, void *item);
/* Removes and returns the item with the key, or NULL. */
void *htab_del(struct htab *t, uint64_t hash, const void *key, htab_match_fn match);

#endif
