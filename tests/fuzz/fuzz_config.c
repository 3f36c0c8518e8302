/* Fuzz target: conf_load (common/config.c) with CONF_NO_SECRET, on a YAML
 * file holding the input (a memfd, read back through /proc/self/fd). Checks
 * that a failure leaves *out alone and says something, and that a loaded
 * configuration is whole: it can be dumped, and every programme is found by
 * its id. */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int input_fd = -1;
static char input_path[64];
static FILE *null_out;

static bool setup(void)
{
        if (input_fd >= 0)
                return true;
        input_fd = memfd_create("fuzz-config.yaml", MFD_CLOEXEC);
        if (input_fd < 0) {
                char tmpl[] = "/tmp/fuzz-config-XXXXXX";
                input_fd = mkstemp(tmpl);
                if (input_fd < 0)
                        return false;
                unlink(tmpl);
        }
        snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd);
        null_out = fopen("/dev/null", "we");
        return null_out != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct conf *c = NULL;
        char err[CONF_ERR_SIZE];

        FUZZ_CHECK(setup());
        FUZZ_CHECK(ftruncate(input_fd, 0) == 0);
        FUZZ_CHECK(pwrite(input_fd, data, size, 0) == (ssize_t)size);

        int rc = conf_load(input_path, CONF_NO_SECRET, &c, err);
        FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
        if (rc < 0) {
                FUZZ_CHECK(c == NULL);
                FUZZ_CHECK(err[0] != '\0');
                return 0;
        }
        FUZZ_CHECK(rc == 0 && c);
        FUZZ_CHECK(c->n_programs >= 1 && c->kafka.n_topics >= 1);
        FUZZ_CHECK(c->bpjs.secret == NULL);
        for (size_t i = 0; i < c->n_programs; i++) {
                FUZZ_CHECK(conf_program_find(c, c->programs[i].id) == &c->programs[i]);
                FUZZ_CHECK(c->programs[i].start_month <= c->programs[i].end_month);
        }
        conf_dump(c, null_out);
        conf_free(c);
        return 0;
}
