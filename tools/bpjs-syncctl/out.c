/* out: see out.h. */
#include "out.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "safetext.h"

struct out_table {
        size_t ncols;
        const char *const *headers;
        char **cells; /* nrows * ncols */
        size_t nrows, cap;
};

struct out_table *out_table_new(size_t ncols, const char *const *headers)
{
        struct out_table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->ncols = ncols;
        t->headers = headers;
        return t;
}

int out_table_add(struct out_table *t, const char *const *cells)
{
        if (t->nrows == t->cap) {
                size_t cap = t->cap ? 2 * t->cap : 32;
                char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->cap = cap;
        }
        char **row = t->cells + t->nrows * t->ncols;
        for (size_t i = 0; i < t->ncols; i++) {
                row[i] = strdup(cells[i] && *cells[i] ? cells[i] : "-");
                if (!row[i]) {
                        while (i--)
                                free(row[i]);
                        return -ENOMEM;
                }
        }
        t->nrows++;
        return 0;
}

size_t out_table_rows(const struct out_table *t)
{
        return t->nrows;
}

/* Replaces *cell by what a person may read: NIK-like text masked unless
 * reveal, control characters escaped (one cell, one line). */
static int safe(char **cell, bool reveal)
{
        size_t len = strlen(*cell), size = 4 * len + 4;
        char *out = malloc(size);

        if (!out)
                return -ENOMEM;
        if (!reveal)
                safetext_mask(*cell, len, false);
        safetext_escape(*cell, len, out, size);
        if (!reveal)
                safetext_mask(out, strlen(out), false);
        free(*cell);
        *cell = out;
        return 0;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                w += ((unsigned char)*s & 0xC0) != 0x80;
        return w;
}

static void cell(FILE *f, const char *s, size_t w, bool last)
{
        fputs(s, f);
        if (!last)
                for (size_t i = width(s); i < w + 2; i++)
                        fputc(' ', f);
}

void out_table_print(const struct out_table *t, bool reveal, FILE *f)
{
        size_t *w;

        if (!t->nrows)
                return;
        w = calloc(t->ncols, sizeof(*w));
        if (!w)
                return;
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                if (safe(&t->cells[i], reveal) < 0)
                        goto out;
        for (size_t c = 0; c < t->ncols; c++) {
                w[c] = width(t->headers[c]);
                for (size_t r = 0; r < t->nrows; r++) {
                        size_t cw = width(t->cells[r * t->ncols + c]);
                        if (cw > w[c])
                                w[c] = cw;
                }
        }
        for (size_t c = 0; c < t->ncols; c++)
                cell(f, t->headers[c], w[c], c + 1 == t->ncols);
        fputc('\n', f);
        for (size_t r = 0; r < t->nrows; r++) {
                for (size_t c = 0; c < t->ncols; c++)
                        cell(f, t->cells[r * t->ncols + c], w[c], c + 1 == t->ncols);
                fputc('\n', f);
        }
out:
        free(w);
}

void out_table_free(struct out_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
}

/* Every string escaped and, unless reveal, masked; then the printed line
 * masked too (a number of 16 digits or more). */
static int print_line(cJSON *o, bool reveal, FILE *f)
{
        char *s =
            o && safetext_json_tree(o, reveal) == 0 ? cJSON_PrintUnformatted(o) : NULL;

        if (!s)
                return -ENOMEM;
        if (!reveal)
                safetext_mask(s, strlen(s), false);
        fputs(s, f);
        fputc('\n', f);
        free(s);
        return 0;
}

int out_json(cJSON *o, bool reveal, FILE *f)
{
        int rc = print_line(o, reveal, f);

        cJSON_Delete(o);
        return rc;
}

int out_json_lines(cJSON *array, bool reveal, FILE *f)
{
        cJSON *it;
        int rc = array ? 0 : -ENOMEM;

        cJSON_ArrayForEach(it, array)
        {
                if (rc == 0)
                        rc = print_line(it, reveal, f);
        }
        cJSON_Delete(array);
        return rc;
}

cJSON *out_json_text(const char *s)
{
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *out_json_int(int64_t v)
{
        return cJSON_CreateNumber((double)v);
}

void out_field(FILE *f, int w, const char *key, const char *fmt, ...)
{
        char raw[4096], value[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        safetext_clean(raw, (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1,
                       (size_t)n >= sizeof(raw), value, sizeof(value));
        fprintf(f, "%-*s  %s\n", w, key, value);
}
