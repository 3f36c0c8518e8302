#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w, size_t hint)
{
        w->cap = hint ? hint : 256;
        w->used = 0;
        w->b = malloc(w->cap);
        w->failed = !w->b;
        if (w->failed)
                w->cap = 0;
}

static bool grow(struct jsonw *w, size_t n)
{
        size_t cap = w->cap ? w->cap : 256;

        while (n > cap - w->used) {
                if (cap > SIZE_MAX / 2)
                        return false;
                cap *= 2;
        }
        char *b = realloc(w->b, cap);
        if (!b)
                return false;
        w->b = b;
        w->cap = cap;
        return true;
}

void jsonw_raw(struct jsonw *w, const char *s, size_t n)
{
        if (w->failed || !n)
                return;
        if (n > w->cap - w->used && !grow(w, n)) {
                w->failed = true;
                return;
        }
        memcpy(w->b + w->used, s, n);
        w->used += n;
}

void jsonw_lit(struct jsonw *w, const char *s)
{
        jsonw_raw(w, s, strlen(s));
}

void jsonw_str(struct jsonw *w, const char *s)
{
        const unsigned char *c = (const unsigned char *)s, *run = c;

        jsonw_raw(w, "\"", 1);
        for (; *c; c++) {
                const char *esc;
                char u[8];

                if (*c >= 0x20 && *c != '"' && *c != '\\')
                        continue;
                switch (*c) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                default:
                        snprintf(u, sizeof(u), "\\u%04x", *c);
                        esc = u;
                }
                jsonw_raw(w, (const char *)run, (size_t)(c - run));
                jsonw_lit(w, esc);
                run = c + 1;
        }
        jsonw_raw(w, (const char *)run, (size_t)(c - run));
        jsonw_raw(w, "\"", 1);
}

void jsonw_str_or_null(struct jsonw *w, const char *s)
{
        if (s && *s)
                jsonw_str(w, s);
        else
                jsonw_raw(w, "null", 4);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
        char n[24];
        int len = snprintf(n, sizeof(n), "%lld", (long long)v);

        jsonw_raw(w, n, (size_t)len);
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
        char *out;

        jsonw_raw(w, "", 1);
        if (w->failed) {
                free(w->b);
                *w = (struct jsonw){0};
                return NULL;
        }
        out = w->b;
        *len = w->used - 1;
        *w = (struct jsonw){0};
        return out;
}
