/* jsonw: a writer of JSON text, for what the daemon writes at a high rate
 * (results, operations' items, request bodies) without building a cJSON
 * tree for each. Strings are escaped exactly as cJSON escapes them (the
 * quotation mark, the reverse solidus, \b \f \n \r \t, \u00xx for the other
 * controls, every other byte as it is), so the bytes are those cJSON would
 * print, and a value can never end its string early or add a member.
 *
 * A failed allocation is remembered: every later call does nothing, and
 * jsonw_finish returns NULL. */
#ifndef BPJS_JSONW_H
#define BPJS_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
        char *b;
        size_t used, cap;
        bool failed;
};

/* Starts with room for about hint bytes (0: a default). */
void jsonw_init(struct jsonw *w, size_t hint);
/* Bytes as they are (JSON text the caller vouches for). */
void jsonw_raw(struct jsonw *w, const char *s, size_t n);
void jsonw_lit(struct jsonw *w, const char *s);
/* A string value, quoted and escaped. */
void jsonw_str(struct jsonw *w, const char *s);
/* A string value, or null for NULL and "". */
void jsonw_str_or_null(struct jsonw *w, const char *s);
void jsonw_i64(struct jsonw *w, int64_t v);
/* The text, NUL-terminated (length without the NUL in *len), to free();
 * NULL (and nothing to free) if an allocation failed. */
char *jsonw_finish(struct jsonw *w, size_t *len);

#endif
