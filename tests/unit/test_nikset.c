/* The set of workers with an unfinished batch: checked against a plain
 * array model over many random adds and deletes (deletion in an open
 * addressing table is where such sets break). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "nikset.h"

#define UNIVERSE 3000

static void test_against_model(void **state)
{
        static int model[UNIVERSE];
        static char niks[UNIVERSE][17];
        struct nikset s = {0};
        unsigned seed = 1;
        (void)state;

        for (int i = 0; i < UNIVERSE; i++)
                snprintf(niks[i], sizeof(niks[i]), "64710%05d%06d", i * 7 % 100000, i);
        for (int step = 0; step < 200000; step++) {
                int k = rand_r(&seed) % UNIVERSE;
                if (rand_r(&seed) % 2 || model[k] == 0) {
                        assert_int_equal(nikset_add(&s, niks[k]), 0);
                        model[k]++;
                } else {
                        nikset_del(&s, niks[k]);
                        model[k]--;
                }
                if (step % 1000 == 0)
                        for (int i = 0; i < UNIVERSE; i++)
                                if (nikset_has(&s, niks[i]) != (model[i] > 0))
                                        fail_msg("step %d: %s has=%d model=%d", step,
                                                 niks[i], nikset_has(&s, niks[i]),
                                                 model[i]);
        }
        nikset_free(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_model)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
