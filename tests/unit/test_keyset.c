/* The consumed batch's key sets (event ids, NIKs): checked against a plain
 * array model. A key is found by its text, not its address (each message
 * holds its own copy), keeps the index of its first appearance, survives the
 * table's growth, and a clear empties the set but keeps its room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keyset.h"

#define UNIVERSE 5000
#define KEY_SIZE 24

static char keys[UNIVERSE][KEY_SIZE];
/* the same texts at other addresses, as a redelivered message holds them */
static char again[UNIVERSE][KEY_SIZE];

static void make_keys(void)
{
        for (int i = 0; i < UNIVERSE; i++) {
                /* NIK-like and event-id-like keys, many sharing long prefixes */
                if (i % 2)
                        snprintf(keys[i], KEY_SIZE, "64710%05d%06d", i * 7 % 100000, i);
                else
                        snprintf(keys[i], KEY_SIZE, "evt-%d", i);
                memcpy(again[i], keys[i], KEY_SIZE);
        }
}

static void check_all(const struct keyset *s, const long *model, const char *when)
{
        size_t n = 0;

        for (int i = 0; i < UNIVERSE; i++) {
                long got = keyset_get(s, i % 3 ? keys[i] : again[i]);
                if (got != model[i])
                        fail_msg("%s: %s has index %ld, model %ld", when, keys[i], got,
                                 model[i]);
                n += model[i] >= 0;
        }
        if (s->n != n)
                fail_msg("%s: %zu keys, model %zu", when, s->n, n);
}

static void test_an_empty_set_has_nothing(void **state)
{
        struct keyset s = {0};
        (void)state;

        make_keys();
        assert_int_equal(keyset_get(&s, keys[0]), -1);
        keyset_clear(&s); /* a set never used clears, and frees, fine */
        assert_int_equal(keyset_get(&s, keys[0]), -1);
        keyset_free(&s);
        keyset_free(&s);
}

static void test_put_and_get_against_a_model(void **state)
{
        static long model[UNIVERSE];
        struct keyset s = {0};
        unsigned seed = 7;
        uint32_t next = 0;
        (void)state;

        make_keys();
        for (int i = 0; i < UNIVERSE; i++)
                model[i] = -1;
        /* many puts, repeats among them, over a growing table */
        for (int step = 0; step < 20000; step++) {
                int k = rand_r(&seed) % UNIVERSE;
                const char *key = rand_r(&seed) % 2 ? keys[k] : again[k];
                long want = model[k] >= 0 ? model[k] : (long)next;
                long got = keyset_put(&s, key, next);

                if (got != want)
                        fail_msg("step %d: put %s gave %ld, model %ld", step, key, got,
                                 want);
                if (model[k] < 0)
                        model[k] = next;
                next++;
                if (step % 2000 == 0)
                        check_all(&s, model, "during the puts");
        }
        check_all(&s, model, "after the puts");
        /* the table grew past its first size and stays at most half full */
        assert_true(s.cap > 256);
        assert_true(s.n * 2 <= s.cap);
        keyset_free(&s);
        assert_null(s.keys);
        assert_int_equal(s.n, 0);
}

static void test_a_repeated_key_keeps_its_first_index(void **state)
{
        struct keyset s = {0};
        (void)state;

        make_keys();
        assert_int_equal(keyset_put(&s, keys[1], 0), 0);
        assert_int_equal(keyset_put(&s, keys[2], 1), 1);
        /* the same text again, from another message: the first index */
        assert_int_equal(keyset_put(&s, again[1], 2), 0);
        assert_int_equal(keyset_put(&s, keys[2], 3), 1);
        assert_int_equal(s.n, 2);
        /* and through the table's growth */
        for (uint32_t i = 10; i < 3000; i++)
                assert_int_equal(keyset_put(&s, keys[i], i), (long)i);
        assert_int_equal(keyset_get(&s, again[1]), 0);
        assert_int_equal(keyset_get(&s, again[2]), 1);
        assert_int_equal(keyset_put(&s, again[1], 9999), 0);
        /* an index beyond 2^31 comes back whole */
        assert_int_equal(keyset_put(&s, keys[4000], 0xfffffff0u), 0xfffffff0L);
        assert_int_equal(keyset_get(&s, again[4000]), 0xfffffff0L);
        keyset_free(&s);
}

static void test_clear_empties_and_keeps_the_room(void **state)
{
        static long model[UNIVERSE];
        struct keyset s = {0};
        size_t cap;
        (void)state;

        make_keys();
        for (uint32_t i = 0; i < 4000; i++)
                assert_int_equal(keyset_put(&s, keys[i], i), (long)i);
        cap = s.cap;
        keyset_clear(&s);
        assert_int_equal(s.n, 0);
        assert_int_equal(s.cap, cap);
        for (int i = 0; i < UNIVERSE; i++)
                model[i] = -1;
        check_all(&s, model, "after a clear");
        /* the next batch: other indices for the same keys */
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < UNIVERSE; i += 3 + round) {
                        uint32_t idx = (uint32_t)(i / (3 + round));
                        assert_int_equal(keyset_put(&s, again[i], idx), (long)idx);
                        model[i] = idx;
                }
                check_all(&s, model, "a batch after a clear");
                assert_int_equal(s.cap, cap); /* no growth needed: the room was kept */
                keyset_clear(&s);
                for (int i = 0; i < UNIVERSE; i++)
                        model[i] = -1;
                check_all(&s, model, "after another clear");
        }
        keyset_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_an_empty_set_has_nothing),
            cmocka_unit_test(test_put_and_get_against_a_model),
            cmocka_unit_test(test_a_repeated_key_keeps_its_first_index),
            cmocka_unit_test(test_clear_empties_and_keeps_the_room),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
