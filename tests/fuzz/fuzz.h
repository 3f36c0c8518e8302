/* What the fuzz targets share: a check that stops the run, so that a broken
 * invariant is a crash to libFuzzer and a failure to the replay program. */
#ifndef BPJS_FUZZ_H
#define BPJS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                 \
        do {                                                                             \
                if (!(cond)) {                                                           \
                        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,       \
                                __LINE__, #cond);                                        \
                        abort();                                                         \
                }                                                                        \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
