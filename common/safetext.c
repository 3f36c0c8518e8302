/* safetext: see safetext.h for the rules. */
#include "safetext.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ID_LEN 23 /* "b-" 8 hex '-' 12 digits */

static bool digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool alnum(char c)
{
        return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The length of the separator at s[i], or 0. */
static size_t separator(const char *s, size_t i, size_t len)
{
        const unsigned char *u = (const unsigned char *)s + i;
        size_t left = len - i;

        if (s[i] && strchr(" \t-./_", s[i]))
                return 1;
        if (left >= 2 && u[0] == 0xC2 && u[1] == 0xA0) /* NBSP */
                return 2;
        if (left >= 3 && u[0] == 0xE2 && u[1] == 0x80 &&
            (u[2] == 0x89 || u[2] == 0xAF || (u[2] >= 0x90 && u[2] <= 0x95)))
                return 3; /* thin space, narrow NBSP, hyphens and dashes */
        return 0;
}

/* A batch or registration id of ours starts at s[i]. */
static bool our_id(const char *s, size_t i, size_t len)
{
        const char *p = s + i;

        if (len - i < ID_LEN || (p[0] != 'b' && p[0] != 'r') || p[1] != '-' ||
            p[10] != '-' || (i > 0 && alnum(s[i - 1])))
                return false;
        for (size_t k = 2; k < 10; k++)
                if (!digit(p[k]) && !(p[k] >= 'a' && p[k] <= 'f'))
                        return false;
        for (size_t k = 11; k < ID_LEN; k++)
                if (!digit(p[k]))
                        return false;
        return len - i == ID_LEN || !digit(p[ID_LEN]);
}

/* Replaces the digits of s[from, to) with '*', except the first `keep_head`
 * and the last `keep_tail` of them. */
static void star(char *s, size_t from, size_t to, size_t digits, size_t keep_head,
                 size_t keep_tail)
{
        size_t seen = 0;

        for (size_t i = from; i < to; i++) {
                if (!digit(s[i]))
                        continue;
                if (seen >= keep_head && seen < digits - keep_tail)
                        s[i] = '*';
                seen++;
        }
}

void safetext_mask(char *s, size_t len, bool cut)
{
        size_t i = 0;

        while (i < len) {
                if (our_id(s, i, len)) {
                        i += ID_LEN;
                        continue;
                }
                if (!digit(s[i])) {
                        i++;
                        continue;
                }
                size_t start = i, end, digits = 0;
                for (;;) {
                        while (i < len && digit(s[i])) {
                                i++;
                                digits++;
                        }
                        end = i;
                        size_t sl = i < len ? separator(s, i, len) : 0;
                        if (!sl || i + sl >= len || !digit(s[i + sl]))
                                break;
                        i += sl;
                }
                bool at_cut = cut && (end == len || end + separator(s, end, len) == len);
                if (digits >= SAFETEXT_NIK_DIGITS)
                        star(s, start, end, digits, 4, 4);
                else if (at_cut && digits >= SAFETEXT_CUT_DIGITS)
                        star(s, start, end, digits, 4, 0);
                i = end;
        }
}

/* The length of the valid UTF-8 sequence at u (1 for ASCII), or 0; its code
 * point in *cp. */
static size_t utf8(const unsigned char *u, size_t left, uint32_t *cp)
{
        size_t n;
        uint32_t c, min;

        if (u[0] < 0x80) {
                *cp = u[0];
                return 1;
        }
        if (u[0] >= 0xC2 && u[0] <= 0xDF)
                n = 2, c = u[0] & 0x1F, min = 0x80;
        else if (u[0] >= 0xE0 && u[0] <= 0xEF)
                n = 3, c = u[0] & 0x0F, min = 0x800;
        else if (u[0] >= 0xF0 && u[0] <= 0xF4)
                n = 4, c = u[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (left < n)
                return 0;
        for (size_t k = 1; k < n; k++) {
                if ((u[k] & 0xC0) != 0x80)
                        return 0;
                c = (c << 6) | (u[k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        *cp = c;
        return n;
}

/* Code points shown as their bytes: C1 controls, line and paragraph
 * separators, bidirectional overrides and isolates. */
static bool unsafe(uint32_t cp)
{
        return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
               (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static size_t hex(unsigned char b, char *out)
{
        static const char digits[] = "0123456789abcdef";

        out[0] = '\\';
        out[1] = 'x';
        out[2] = digits[b >> 4];
        out[3] = digits[b & 15];
        return 4;
}

bool safetext_escape(const char *src, size_t len, char *dst, size_t size)
{
        const unsigned char *u = (const unsigned char *)src;
        size_t used = 0, last_ok = 0, i = 0;

        if (size < 4) {
                if (size)
                        dst[0] = '\0';
                return len == 0;
        }
        while (i < len) {
                char piece[16];
                size_t n = 0, adv;
                uint32_t cp = 0;

                adv = utf8(u + i, len - i, &cp);
                if (adv == 1 && cp >= 0x20 && cp < 0x7F) {
                        piece[n++] = (char)cp;
                } else if (adv == 1 && (cp == '\n' || cp == '\r' || cp == '\t')) {
                        piece[n++] = '\\';
                        piece[n++] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
                } else if (adv == 0 || adv == 1 || unsafe(cp)) {
                        if (!adv)
                                adv = 1;
                        for (size_t k = 0; k < adv; k++)
                                n += hex(u[i + k], piece + n);
                } else {
                        memcpy(piece, u + i, adv);
                        n = adv;
                }
                if (used + n > size - 1) {
                        memcpy(dst + last_ok, "...", 4);
                        return false;
                }
                memcpy(dst + used, piece, n);
                used += n;
                if (used <= size - 4)
                        last_ok = used;
                i += adv;
        }
        dst[used] = '\0';
        return true;
}

const char *safetext_clean(const char *src, size_t len, bool cut, char *dst, size_t size)
{
        char stack[2048];
        char *copy = len <= sizeof(stack) ? stack : malloc(len);

        if (!copy) {
                safetext_escape("[text dropped: out of memory]", 29, dst, size);
                return dst;
        }
        memcpy(copy, src, len);
        safetext_mask(copy, len, cut);
        safetext_escape(copy, len, dst, size);
        safetext_mask(dst, strlen(dst), false);
        if (copy != stack)
                free(copy);
        return dst;
}

static int clean_string(cJSON *item, bool mask, size_t max)
{
        const char *v = cJSON_GetStringValue(item);
        size_t len = v ? strlen(v) : 0;
        size_t size = max ? max + 1 : 4 * len + 4;
        char *copy, *out;
        int rc = -ENOMEM;

        if (!v)
                return 0;
        copy = malloc(len + 1);
        out = calloc(1, size); /* zeroed: the analyser cannot follow strlen(out) below */
        if (!copy || !out)
                goto out;
        memcpy(copy, v, len + 1);
        if (mask)
                safetext_mask(copy, len, false);
        safetext_escape(copy, len, out, size);
        if (mask)
                safetext_mask(out, strlen(out), false);
        if (strcmp(out, v) == 0 || cJSON_SetValuestring(item, out))
                rc = 0;
out:
        free(copy);
        free(out);
        return rc;
}

const char *safetext_json_text(cJSON *obj, const char *name)
{
        cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

        if (!cJSON_IsString(item) || !item->valuestring)
                return NULL;
        if (clean_string(item, true, SAFETEXT_REASON_MAX) < 0)
                return NULL;
        return item->valuestring;
}

int safetext_json_tree(cJSON *tree, bool reveal)
{
        cJSON *it;
        int rc = 0;

        if (!tree)
                return 0;
        if (cJSON_IsString(tree))
                return clean_string(tree, !reveal, 0);
        for (it = tree->child; it && rc == 0; it = it->next)
                rc = safetext_json_tree(it, reveal);
        return rc;
}
