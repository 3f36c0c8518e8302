/* The batch's text pool: every copy keeps its bytes while later copies
 * fill blocks and open new ones (a long text gets a block of its own), and
 * a clear lets go of them all while the pool stays usable. AddressSanitizer
 * catches a copy written past its block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "textpool.h"

#define N 20000

/* The i-th text: lengths from 0 to 800 bytes, and now and then one longer
 * than a quarter of a block. */
static size_t text_of(int i, char *buf, size_t size)
{
        size_t len = i % 97 == 0 ? 40000 : (size_t)(i * 37 % 801);

        if (len >= size)
                len = size - 1;
        for (size_t k = 0; k < len; k++)
                buf[k] = (char)('a' + (i + (int)k) % 26);
        buf[len] = '\0';
        return len;
}

static void fill_and_check(struct textpool *p, int salt)
{
        static const char *got[N];
        static char want[40001];

        for (int i = 0; i < N; i++) {
                size_t len = text_of(i + salt, want, sizeof(want));
                got[i] = textpool_copy(p, want, len);
                assert_non_null(got[i]);
        }
        for (int i = 0; i < N; i++) {
                text_of(i + salt, want, sizeof(want));
                if (strcmp(got[i], want) != 0)
                        fail_msg("copy %d (%zu bytes) changed", i, strlen(want));
        }
}

static void test_copies_stay_put(void **state)
{
        struct textpool p = {0};
        (void)state;

        fill_and_check(&p, 0);
        textpool_clear(&p);
        fill_and_check(&p, 5); /* after a clear, other texts in reused room */
        textpool_clear(&p);
        textpool_clear(&p); /* twice is fine */
        const char *s = textpool_copy(&p, "Siti\0rest", 9);
        assert_non_null(s);
        assert_memory_equal(s, "Siti\0rest", 10); /* bytes as given, NUL added */
        textpool_free(&p);
        textpool_free(&p); /* an emptied pool may be freed again */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_copies_stay_put),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
