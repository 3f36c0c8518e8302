/* Fuzz target: common/safetext.c, what makes text from outside safe to read.
 * The first byte picks the output size (and whether the input counts as
 * cut); the rest is the text. Checks that masking keeps the length and
 * changes only digits, that no 16 digits joined by single ASCII separators
 * survive it (the project's ids aside), that the cleaned text holds no
 * control character and only valid UTF-8 without C1 controls, that it fits
 * its buffer, and that cleaning it again changes nothing. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "safetext.h"

static bool digit(unsigned char c)
{
        return c >= '0' && c <= '9';
}

static bool sep(unsigned char c)
{
        return c && strchr(" \t-./_", c);
}

static bool hexdigit(unsigned char c)
{
        return digit(c) || (c >= 'a' && c <= 'f');
}

/* "b-" or "r-", 8 hex, '-', 12 digits, not glued to a letter or digit. */
static size_t id_at(const unsigned char *s, size_t i, size_t len)
{
        const unsigned char *p = s + i;

        if (len - i < 23 || (p[0] != 'b' && p[0] != 'r') || p[1] != '-' || p[10] != '-')
                return 0;
        if (i > 0 && (digit(s[i - 1]) || (unsigned)((s[i - 1] | 0x20) - 'a') < 26u))
                return 0;
        for (size_t k = 2; k < 10; k++)
                if (!hexdigit(p[k]))
                        return 0;
        for (size_t k = 11; k < 23; k++)
                if (!digit(p[k]))
                        return 0;
        return len - i > 23 && digit(p[23]) ? 0 : 23;
}

/* The most digits in one run joined by single ASCII separators. */
static size_t longest_run(const unsigned char *s, size_t len)
{
        size_t best = 0, i = 0;

        while (i < len) {
                size_t skip = id_at(s, i, len), n = 0;
                if (skip) {
                        i += skip;
                        continue;
                }
                if (!digit(s[i])) {
                        i++;
                        continue;
                }
                while (i < len) {
                        while (i < len && digit(s[i]))
                                i++, n++;
                        if (i + 1 < len && sep(s[i]) && digit(s[i + 1]) &&
                            !id_at(s, i + 1, len))
                                i++;
                        else
                                break;
                }
                if (n > best)
                        best = n;
        }
        return best;
}

static void check_readable(const unsigned char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                unsigned char c = s[i];
                size_t n = c < 0x80                 ? 1
                           : c >= 0xC2 && c <= 0xDF ? 2
                           : c >= 0xE0 && c <= 0xEF ? 3
                           : c >= 0xF0 && c <= 0xF4 ? 4
                                                    : 0;
                FUZZ_CHECK(n && i + n <= len);
                FUZZ_CHECK(c >= 0x20 && c != 0x7F);
                for (size_t k = 1; k < n; k++)
                        FUZZ_CHECK((s[i + k] & 0xC0) == 0x80);
                FUZZ_CHECK(!(c == 0xC2 && s[i + 1] < 0xA0)); /* C1 */
                i += n;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        size_t out_size = 4 + data[0] % 252 * 4;
        bool cut = data[0] & 1;
        const char *text = (const char *)data + 1;
        size_t len = size - 1;
        char *copy = malloc(len + 1), *out = malloc(out_size), *again = malloc(out_size);

        FUZZ_CHECK(copy && out && again);
        memcpy(copy, text, len);
        copy[len] = '\0';
        safetext_mask(copy, len, cut);
        for (size_t i = 0; i < len; i++)
                FUZZ_CHECK(copy[i] == text[i] ||
                           (digit((unsigned char)text[i]) && copy[i] == '*'));
        FUZZ_CHECK(longest_run((const unsigned char *)copy, len) < SAFETEXT_NIK_DIGITS);

        safetext_clean(text, len, cut, out, out_size);
        size_t n = strlen(out);
        FUZZ_CHECK(n < out_size);
        check_readable((const unsigned char *)out, n);
        FUZZ_CHECK(longest_run((const unsigned char *)out, n) < SAFETEXT_NIK_DIGITS);
        safetext_clean(out, n, false, again, out_size);
        FUZZ_CHECK(strcmp(out, again) == 0);
        free(copy);
        free(out);
        free(again);
        return 0;
}
