/* nikset: a counted set of NIKs (16 digits fit in 64 bits), for the workers
 * that have an unfinished batch. Open addressing, linear probing. */
#ifndef BPJS_NIKSET_H
#define BPJS_NIKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nikset {
        uint64_t *keys; /* 0: empty; NIK + 1 otherwise */
        uint32_t *counts;
        size_t cap, n;
};

int nikset_add(struct nikset *s, const char *nik);
void nikset_del(struct nikset *s, const char *nik);
bool nikset_has(const struct nikset *s, const char *nik);
void nikset_clear(struct nikset *s);
void nikset_free(struct nikset *s);

#endif
