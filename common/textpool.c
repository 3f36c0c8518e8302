/* textpool: a chain of blocks, each filled from its start, copies always
 * going to the last one (cur); a long string gets a block of its own. */
#include <stdlib.h>
#include <string.h>

#include "textpool.h"

#define BLOCK_SIZE (64 * 1024)

struct textpool_block {
        struct textpool_block *next;
        size_t size, used;
        char data[];
};

static struct textpool_block *block_new(size_t size)
{
        struct textpool_block *b = malloc(sizeof(*b) + size);

        if (b)
                *b = (struct textpool_block){.size = size};
        return b;
}

char *textpool_alloc(struct textpool *p, size_t size)
{
        struct textpool_block *b = p->cur;

        if (!b || b->size - b->used < size) {
                /* a new last block; a long string gets one of its own
                 * size */
                struct textpool_block *n =
                    block_new(size <= BLOCK_SIZE / 4 ? BLOCK_SIZE : size);
                if (!n)
                        return NULL;
                if (b)
                        b->next = n;
                else
                        p->first = n;
                b = p->cur = n;
        }
        char *out = b->data + b->used;
        b->used += size;
        return out;
}

const char *textpool_copy(struct textpool *p, const char *s, size_t len)
{
        char *out = textpool_alloc(p, len + 1);

        if (out) {
                memcpy(out, s, len);
                out[len] = '\0';
        }
        return out;
}

void textpool_clear(struct textpool *p)
{
        struct textpool_block *b = p->first, *next;

        if (!b)
                return;
        for (struct textpool_block *k = b->next; k; k = next) {
                next = k->next;
                free(k);
        }
        b->next = NULL;
        b->used = 0;
        p->cur = b;
}

void textpool_free(struct textpool *p)
{
        textpool_clear(p);
        free(p->first);
        *p = (struct textpool){0};
}
