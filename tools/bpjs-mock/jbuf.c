/* jbuf: see jbuf.h. */
#include "jbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_init(struct jbuf *b)
{
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        b->err = 0;
}

void jbuf_free(struct jbuf *b)
{
        free(b->data);
        jbuf_init(b);
}

void jbuf_reset(struct jbuf *b)
{
        b->len = 0;
        b->err = 0;
}

/* Makes room for n more bytes and the NUL. */
static int grow(struct jbuf *b, size_t n)
{
        size_t cap = b->cap ? b->cap : 256;
        char *data;

        if (b->err)
                return b->err;
        if (n < b->cap - b->len)
                return 0;
        if (n > SIZE_MAX / 2 - b->len) {
                b->err = -ENOMEM;
                return b->err;
        }
        while (cap - b->len <= n)
                cap *= 2;
        data = realloc(b->data, cap);
        if (!data) {
                b->err = -ENOMEM;
                return b->err;
        }
        b->data = data;
        b->cap = cap;
        return 0;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n)
{
        if (grow(b, n) < 0)
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s)
{
        jbuf_put(b, s, strlen(s));
}

void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (grow(b, 64) < 0)
                return;
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->err = -EINVAL;
                return;
        }
        if ((size_t)n >= b->cap - b->len) {
                if (grow(b, (size_t)n) < 0)
                        return;
                va_start(ap, fmt);
                vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
        }
        b->len += (size_t)n;
}

void jbuf_u64(struct jbuf *b, uint64_t v)
{
        char tmp[24];
        size_t i = sizeof(tmp);

        do {
                tmp[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        jbuf_put(b, tmp + i, sizeof(tmp) - i);
}

void jbuf_str(struct jbuf *b, const char *s)
{
        static const char hex[] = "0123456789abcdef";
        const char *run;

        if (!s) {
                jbuf_put(b, "null", 4);
                return;
        }
        jbuf_put(b, "\"", 1);
        run = s;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                jbuf_put(b, run, (size_t)(s - run));
                run = s + 1;
                if (c == '"' || c == '\\') {
                        esc[1] = (char)c;
                        jbuf_put(b, esc, 2);
                } else {
                        jbuf_put(b, esc, sizeof(esc));
                }
        }
        jbuf_put(b, run, (size_t)(s - run));
        jbuf_put(b, "\"", 1);
}

int jbuf_error(const struct jbuf *b)
{
        return b->err;
}

int jbuf_take(struct jbuf *b, char **ret, size_t *ret_len)
{
        int r = b->err;

        if (r == 0 && !b->data)
                r = grow(b, 0);
        if (r < 0) {
                jbuf_free(b);
                return r;
        }
        *ret = b->data;
        *ret_len = b->len;
        jbuf_init(b);
        return 0;
}
