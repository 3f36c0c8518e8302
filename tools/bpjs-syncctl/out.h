/* out: how bpjs-syncctl prints data. Human tables (columns sized to their
 * contents, buffered so that no journal transaction waits on a slow
 * terminal), or with --json one JSON object per line. Everything printed
 * passes common/safetext.h on the way out: control characters and invalid
 * UTF-8 are escaped ("\n", "\x1b"), in --json strings too (so a line stays
 * one valid JSON object), and unless a NIK is to be revealed, NIK-like text
 * in any spelling is masked, so a NIK cannot leak even by mistake. */
#ifndef BPJS_SYNCCTL_OUT_H
#define BPJS_SYNCCTL_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

struct out_table;

/* A table with ncols columns named by headers (static strings). */
struct out_table *out_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols cells (copied; NULL prints "-"). 0 or -ENOMEM. */
int out_table_add(struct out_table *t, const char *const *cells);
size_t out_table_rows(const struct out_table *t);
/* Prints the header and rows (nothing when there are no rows); escapes
 * every cell, and masks NIK-like text unless reveal. */
void out_table_print(const struct out_table *t, bool reveal, FILE *f);
void out_table_free(struct out_table *t);

/* Prints o on one line (strings escaped, masked unless reveal) and deletes
 * it. 0 or -ENOMEM. */
int out_json(cJSON *o, bool reveal, FILE *f);
/* Prints each element of array on its own line and deletes the array:
 * rows are gathered during the journal transaction and printed after it. */
int out_json_lines(cJSON *array, bool reveal, FILE *f);
/* A JSON string, or null for NULL. */
cJSON *out_json_text(const char *s);
/* A JSON number for an integer (exact up to 2^53). */
cJSON *out_json_int(int64_t v);

/* A "key  value" line of a record, the key padded to width; the value
 * masked, escaped and cut at 1,023 bytes. */
void out_field(FILE *f, int width, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
